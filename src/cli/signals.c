/* signals.c: SIGINT/SIGTERM/SIGPIPE set a flag; a second signal is fatal.
 * SIGINT and SIGTERM are handled on a thread of their own: every other
 * thread (the forward and its workers inherit the mask) blocks them. Some
 * JIT matmul kernels of the oneDNN we link (2.x) point the stack pointer
 * into the heap while they run, so a handler that ran on such a thread
 * would write its frame into the heap (uxlfoundation/oneDNN issue 4845,
 * fixed upstream in 2026). SIGPIPE stays a normal handler: it is raised
 * by a write(), in the writing thread, never inside a kernel. */
#include "cli/signals.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

static atomic_int got_signal = 0;

static void on_signal(int sig)
{
    int none = 0;
    atomic_compare_exchange_strong(&got_signal, &none, sig);
    signal(sig, SIG_DFL);
}

/* The one thread with SIGINT and SIGTERM unblocked: it only waits. */
static void *signal_thread(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
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

    /* Threads started later inherit the calling thread's mask. Without the
     * signal thread the signals stay unblocked (the old behaviour). */
    pthread_attr_t attr;
    pthread_t tid;
    if (pthread_attr_init(&attr))
        return;
    /* (default stack size: the libraries' static TLS lives there too) */
    int ok = !pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) &&
             !pthread_create(&tid, &attr, signal_thread, NULL);
    pthread_attr_destroy(&attr);
    if (ok) {
        sigset_t stop;
        sigemptyset(&stop);
        sigaddset(&stop, SIGINT);
        sigaddset(&stop, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &stop, NULL);
    }
}

int ovx_signal_received(void)
{
    return atomic_load(&got_signal);
}

int ovx_signal_exit_status(int sig)
{
    return 128 + sig;
}
