/* netio.c: libavformat options for URL inputs (timeout, bounded reconnects)
 * and the interrupt callback (stop hook, minimum rate). */
#include "video/netio.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include <libavformat/avformat.h>

static _Atomic long long timeout_us = (long long)(OVX_NETIO_DEFAULT_TIMEOUT * 1e6);
static pthread_once_t net_once = PTHREAD_ONCE_INIT;

static void net_init(void)
{
    avformat_network_init();
}

int ovx_is_url(const char *path)
{
    const char *p = path;
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
        return 0;
    for (p++; (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '+' ||
              *p == '-' || *p == '.';
         p++) {
    }
    return p[0] == ':' && p[1] == '/' && p[2] == '/';
}

void ovx_netio_set_timeout(double seconds)
{
    if (seconds > 0 && seconds < 1e6)
        timeout_us = (long long)(seconds * 1e6);
}

double ovx_netio_timeout(void)
{
    return (double)timeout_us / 1e6;
}

void ovx_netio_options(const char *path, AVDictionary **opts)
{
    if (!ovx_is_url(path))
        return;
    pthread_once(&net_once, net_init);
    char us[32];
    snprintf(us, sizeof us, "%lld", (long long)timeout_us);
    av_dict_set(opts, "rw_timeout", us, 0);      /* any protocol: a stalled read or write fails */
    av_dict_set(opts, "timeout", us, 0);         /* tcp/http: connect and socket I/O */
    av_dict_set(opts, "reconnect", "1", 0);      /* http: reconnect (with Range) after a dropped read */
    av_dict_set(opts, "reconnect_on_network_error", "1", 0);
    av_dict_set(opts, "reconnect_delay_max", "2", 0); /* delays 0, 1 s, then give up: 2 reconnects */
}

static int (*_Atomic stop_fn)(void *);
static void *_Atomic stop_ctx;

void ovx_netio_set_stop(int (*stop)(void *ctx), void *ctx)
{
    stop_ctx = ctx;
    stop_fn = stop;
}

/* The URL inputs this thread opened lately: when (the callback gets only the
 * context; a thread has at most a few inputs open at once). */
static _Thread_local struct {
    const AVFormatContext *fmt;
    double t0;
} recent[8];
static _Thread_local unsigned n_recent;
static _Thread_local int abort_why;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int interrupt_cb(void *opaque)
{
    int (*fn)(void *) = stop_fn;
    if (fn && fn(stop_ctx)) {
        abort_why = OVX_NETIO_STOPPED;
        return 1;
    }
    const AVFormatContext *fmt = opaque;
    for (unsigned i = 0; i < sizeof recent / sizeof recent[0]; i++) {
        if (recent[i].fmt != fmt)
            continue;
        double el = now_s() - recent[i].t0, limit = (double)timeout_us / 1e6;
        int64_t got = fmt->pb ? fmt->pb->bytes_read : 0;
        if (el > limit && (double)got < OVX_NETIO_MIN_RATE * el) {
            abort_why = OVX_NETIO_TOO_SLOW;
            return 1;
        }
        break;
    }
    return 0;
}

int ovx_netio_context(const char *path, AVFormatContext **fmt)
{
    *fmt = avformat_alloc_context();
    if (!*fmt)
        return AVERROR(ENOMEM);
    (*fmt)->interrupt_callback.callback = interrupt_cb;
    (*fmt)->interrupt_callback.opaque = *fmt;
    abort_why = 0;
    if (ovx_is_url(path)) {
        unsigned slot = n_recent++ % (sizeof recent / sizeof recent[0]);
        for (unsigned i = 0; i < sizeof recent / sizeof recent[0]; i++)
            if (recent[i].fmt == *fmt) /* a freed context's address again */
                slot = i;
        recent[slot].fmt = *fmt;
        recent[slot].t0 = now_s();
    }
    return 0;
}

int ovx_netio_take_abort(void)
{
    int why = abort_why;
    abort_why = 0;
    return why;
}
