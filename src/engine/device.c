/* device.c: parsing and resolving --device (see device.h); resolving
 * opens the device through its backend (backend.h). */
#include "engine/device.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"

int ovx_device_parse(const char *s, ovx_device *d, ovx_error *err)
{
    d->kind = OVX_DEVICE_AUTO;
    d->index = 0;
    d->attention = 0;
    if (!s || !strcmp(s, "auto"))
        return OVX_OK;
    if (!strcmp(s, "cpu")) {
        d->kind = OVX_DEVICE_CPU;
        return OVX_OK;
    }
    if (!strcmp(s, "cuda")) {
        d->kind = OVX_DEVICE_CUDA;
        return OVX_OK;
    }
    if (!strncmp(s, "cuda:", 5) && s[5] >= '0' && s[5] <= '9') {
        char *end;
        errno = 0;
        long v = strtol(s + 5, &end, 10);
        if (!*end && !errno && v >= 0 && v < 1024) {
            d->kind = OVX_DEVICE_CUDA;
            d->index = (int)v;
            return OVX_OK;
        }
    }
    return ovx_error_set(err, OVX_EUSAGE, "invalid device '%s' (expected auto, cpu, cuda or cuda:N)", s);
}

const char *ovx_device_str(const ovx_device *d, char *buf, size_t len)
{
    if (d->kind == OVX_DEVICE_CUDA)
        snprintf(buf, len, "cuda:%d", d->index);
    else
        snprintf(buf, len, "%s", d->kind == OVX_DEVICE_CPU ? "cpu" : "auto");
    return buf;
}

int ovx_device_resolve(const ovx_device *want, ovx_device *got, char *note, size_t note_len,
                       ovx_error *err)
{
    if (note_len)
        note[0] = '\0';
    *got = *want;
    if (want->kind == OVX_DEVICE_CPU)
        return OVX_OK;
    /* the whole open (driver, device, architecture, cuBLAS, context, a test
     * kernel), so an unusable device is known before any work starts */
    ovx_error why;
    ovx_error_clear(&why);
    int rc = ovx_backend_cuda_probe(want->index, &why);
    if (!rc) {
        got->kind = OVX_DEVICE_CUDA;
        return OVX_OK;
    }
    if (want->kind == OVX_DEVICE_CUDA || rc == OVX_EUSAGE) /* EUSAGE: a bad test-hook variable */
        return ovx_error_set(err, rc, "%s", why.msg);
    got->kind = OVX_DEVICE_CPU;
    got->index = 0;
    if (ovx_backend_cuda_possible() && note_len)
        snprintf(note, note_len, "%s; using the CPU", why.msg);
    return OVX_OK;
}
