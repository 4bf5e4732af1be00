/* error.c: filling and prefixing ovx_error values. */
#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void ovx_error_clear(ovx_error *e)
{
    if (!e)
        return;
    e->code = OVX_OK;
    e->msg[0] = '\0';
}

int ovx_error_set(ovx_error *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->code = code;
    }
    return code;
}

void ovx_error_prefix(ovx_error *e, const char *fmt, ...)
{
    if (!e)
        return;
    char pre[512], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    size_t np = strnlen(pre, sizeof e->msg - 3);
    memcpy(e->msg, pre, np);
    e->msg[np] = ':';
    e->msg[np + 1] = ' ';
    size_t room = sizeof e->msg - np - 3;
    size_t no = strnlen(old, room);
    memcpy(e->msg + np + 2, old, no);
    e->msg[np + 2 + no] = '\0';
}

const char *ovx_status_name(int code)
{
    switch (code) {
    case OVX_OK: return "ok";
    case OVX_EINPUT: return "input";
    case OVX_EIO: return "io";
    case OVX_ENOMEM: return "memory";
    case OVX_EUSAGE: return "usage";
    case OVX_EUNSUPPORTED: return "unsupported";
    case OVX_EDEVICE: return "device";
    case OVX_EINTERNAL: return "internal";
    case OVX_EINTERRUPTED: return "interrupted";
    default: return "unknown";
    }
}
