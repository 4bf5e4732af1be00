/* error.h: the error value every ovx library function reports through.
 * Library code never prints or exits; it fills an ovx_error and returns a
 * negative code. The CLI decides what to print and which exit status to use. */
#ifndef OVX_COMMON_ERROR_H
#define OVX_COMMON_ERROR_H

#include <stddef.h>

#include "common/api.h"

enum ovx_status {
    OVX_OK = 0,
    OVX_EINPUT = -1,       /* bad or unsupported input data (video, model file, npy) */
    OVX_EIO = -2,          /* filesystem error */
    OVX_ENOMEM = -3,       /* allocation failed */
    OVX_EUSAGE = -4,       /* invalid arguments or options */
    OVX_EUNSUPPORTED = -5, /* valid but not supported (config value, dtype) */
    OVX_EDEVICE = -6,      /* GPU / driver unavailable or failing */
    OVX_EINTERNAL = -7,    /* a bug: an invariant did not hold */
    OVX_EINTERRUPTED = -8  /* stopped by a signal */
};

typedef struct ovx_error {
    int code;        /* one of enum ovx_status, OVX_OK when clear */
    char msg[1024];  /* one line, no trailing newline */
} ovx_error;

/* Clears e (may be NULL). */
OVX_API void ovx_error_clear(ovx_error *e);

/* Sets e (may be NULL) to code and a printf-style message; returns code so
 * callers can write `return ovx_error_set(err, OVX_EINPUT, "...")`. */
int ovx_error_set(ovx_error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with "prefix: " (e.g. a file name). */
void ovx_error_prefix(ovx_error *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

OVX_API const char *ovx_status_name(int code);

#endif
