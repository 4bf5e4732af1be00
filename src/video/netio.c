/* netio.c: libavformat options for URL inputs (timeout, bounded reconnects). */
#include "video/netio.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

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
