/* progress.c: progress bar (tty) or periodic plain lines on stderr. */
#include "cli/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/timer.h"

static void format_eta(char *buf, size_t cap, double seconds)
{
    if (seconds < 0 || seconds > 1e8) {
        snprintf(buf, cap, "--:--:--");
        return;
    }
    long s = (long)(seconds + 0.5);
    snprintf(buf, cap, "%02ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
}

static void draw(ovx_progress *p, double now)
{
    size_t n = p->done + p->failed;
    double elapsed = (now - p->t0_ms) / 1000.0;
    double rate = elapsed > 0 ? n / elapsed : 0; /* items per second */
    char eta[32];
    format_eta(eta, sizeof eta, rate > 0 ? (double)(p->total - n) / rate : -1);
    if (p->tty) {
        char bar[31];
        int fill = p->total ? (int)(30.0 * n / p->total) : 30;
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r\033[K[%s] %zu/%zu  %.1f/min  ETA %s%s", bar, n, p->total, rate * 60, eta,
                p->failed ? "  (some failed)" : "");
        p->drawn = 1;
    } else {
        fprintf(stderr, "ovx extract: %zu/%zu items (%zu failed), %.1f/min, ETA %s\n", n, p->total,
                p->failed, rate * 60, eta);
    }
    fflush(stderr);
}

void ovx_progress_init(ovx_progress *p, size_t total, int quiet)
{
    p->total = total;
    p->done = p->failed = 0;
    p->t0_ms = p->last_ms = ovx_now_ms();
    p->tty = isatty(STDERR_FILENO);
    p->quiet = quiet;
    p->drawn = 0;
    const char *s = getenv("OVX_PROGRESS_SECONDS");
    double secs = s ? atof(s) : 10.0;
    p->interval_ms = (secs > 0 ? secs : 10.0) * 1000.0;
    if (p->tty && !quiet && total)
        draw(p, p->t0_ms); /* the empty bar, before the first item ends */
}

void ovx_progress_step(ovx_progress *p, int failed)
{
    if (failed)
        p->failed++;
    else
        p->done++;
    if (p->quiet)
        return;
    double now = ovx_now_ms();
    if (p->tty || now - p->last_ms >= p->interval_ms) {
        p->last_ms = now;
        draw(p, now);
    }
}

void ovx_progress_clear(ovx_progress *p)
{
    if (p->drawn) {
        fprintf(stderr, "\r\033[K");
        p->drawn = 0;
    }
}

void ovx_progress_end(ovx_progress *p)
{
    if (p->drawn) {
        fputc('\n', stderr);
        p->drawn = 0;
    }
}
