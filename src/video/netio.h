/* netio.h: inputs named by URL (http://, https://, and whatever protocols
 * the linked libavformat has): the options every open of such an input gets:
 * a read/write timeout and a bounded number of reconnects. The setting is
 * process-wide (set once before a run, e.g. by `ovx extract --io-timeout`).
 * Every input (file or URL) is opened with an interrupt callback that ends
 * any blocked read at once when the stop hook says so (SIGTERM), and ends a
 * URL input that, once its first timeout period is over, has averaged fewer
 * than OVX_NETIO_MIN_RATE bytes/s since it was opened (a server that
 * trickles a byte at a time never trips the read timeout). */
#ifndef OVX_VIDEO_NETIO_H
#define OVX_VIDEO_NETIO_H

#include <libavformat/avformat.h>
#include <libavutil/dict.h>

/* Default seconds a network read or write may stall before the input fails. */
#define OVX_NETIO_DEFAULT_TIMEOUT 30.0

/* 1 when path looks like a URL: "scheme://" with scheme = a letter then
 * letters, digits, '+', '-' or '.'. */
int ovx_is_url(const char *path);
/* Sets the timeout (seconds, > 0) for every later network open. */
void ovx_netio_set_timeout(double seconds);
double ovx_netio_timeout(void);

/* The slowest average a URL input may read at (bytes/s), see above. */
#define OVX_NETIO_MIN_RATE 256.0

/* Process-wide stop hook (NULL: none), polled by every open input's
 * interrupt callback. */
void ovx_netio_set_stop(int (*stop)(void *ctx), void *ctx);
/* avformat_alloc_context with the interrupt callback set (path: what will
 * be opened). Returns 0 or a negative AVERROR. */
int ovx_netio_context(const char *path, AVFormatContext **fmt);
/* Why the callback last ended an operation of this thread (and clears it):
 * 0 never, OVX_NETIO_STOPPED, OVX_NETIO_TOO_SLOW. */
enum { OVX_NETIO_STOPPED = 1, OVX_NETIO_TOO_SLOW = 2 };
int ovx_netio_take_abort(void);
/* For a URL: adds rw_timeout/timeout, and reconnects after network errors
 * (HTTP: at most 2, after 0 and 1 s) to *opts; nothing for a file path. */
void ovx_netio_options(const char *path, AVDictionary **opts);

#endif
