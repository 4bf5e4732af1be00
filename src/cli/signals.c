/* signals.c: SIGINT/SIGTERM/SIGPIPE set a flag; a second signal is fatal. */
#include "cli/signals.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t got_signal = 0;

static void on_signal(int sig)
{
    if (!got_signal)
        got_signal = sig;
    signal(sig, SIG_DFL);
}

void ovx_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL); /* stdout closed (| head): stop like an interrupt */
}

int ovx_signal_received(void)
{
    return got_signal;
}

int ovx_signal_exit_status(int sig)
{
    return 128 + sig;
}
