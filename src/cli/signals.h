/* signals.h: graceful stop on SIGINT/SIGTERM (and SIGPIPE: 141). The first signal only sets a
 * flag (the run finishes or drops its current item, writes its summary and
 * exits 130/143); the handler then reverts to the default, so a second
 * signal stops the process at once (temp files it leaves are cleaned by the
 * next run). */
#ifndef OVX_CLI_SIGNALS_H
#define OVX_CLI_SIGNALS_H

void ovx_signals_install(void);
/* 0, or the number of the first signal received. */
int ovx_signal_received(void);
/* Exit status for a signal: 130 for SIGINT, 143 for SIGTERM, 141 for
 * SIGPIPE (128 + n). */
int ovx_signal_exit_status(int sig);

#endif
