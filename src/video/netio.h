/* netio.h: inputs named by URL (http://, https://, and whatever protocols
 * the linked libavformat has): the options every open of such an input gets:
 * a read/write timeout and a bounded number of reconnects. The setting is
 * process-wide (set once before a run, e.g. by `ovx extract --io-timeout`). */
#ifndef OVX_VIDEO_NETIO_H
#define OVX_VIDEO_NETIO_H

#include <libavutil/dict.h>

/* Default seconds a network read or write may stall before the input fails. */
#define OVX_NETIO_DEFAULT_TIMEOUT 30.0

/* 1 when path looks like a URL: "scheme://" with scheme = a letter then
 * letters, digits, '+', '-' or '.'. */
int ovx_is_url(const char *path);
/* Sets the timeout (seconds, > 0) for every later network open. */
void ovx_netio_set_timeout(double seconds);
double ovx_netio_timeout(void);
/* For a URL: adds rw_timeout/timeout, and reconnects after network errors
 * (HTTP: at most 2, after 0 and 1 s) to *opts; nothing for a file path. */
void ovx_netio_options(const char *path, AVDictionary **opts);

#endif
