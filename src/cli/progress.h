/* progress.h: run progress on stderr. On a terminal: one redrawn line with a
 * bar, items done/total, rate and ETA. Otherwise: a plain line at most every
 * OVX_PROGRESS_SECONDS (default 10) seconds. Nothing with --quiet. */
#ifndef OVX_CLI_PROGRESS_H
#define OVX_CLI_PROGRESS_H

#include <stddef.h>

typedef struct ovx_progress {
    size_t total;       /* items to extract */
    size_t done, failed;
    double t0_ms, last_ms, interval_ms;
    int tty, quiet, drawn;
} ovx_progress;

void ovx_progress_init(ovx_progress *p, size_t total, int quiet);
/* Records one finished item (ok or failed) and redraws when due. */
void ovx_progress_step(ovx_progress *p, int failed);
/* Clears the bar line before other stderr output (log lines). */
void ovx_progress_clear(ovx_progress *p);
void ovx_progress_end(ovx_progress *p);

#endif
