/* gpu.c: opening and closing an ovx_gpu: the host emulation always, a CUDA
 * device when built with OVX_HAVE_CUDA (cuda_ops.c), otherwise a clear
 * "built without CUDA" error. */
#include <stdlib.h>

#include "cuda/ovx_cuda.h"

#ifdef OVX_HAVE_CUDA
void ovx_gpu_close_cuda(ovx_gpu *g); /* cuda_ops.c */
#endif

int ovx_cuda_compiled(void)
{
#ifdef OVX_HAVE_CUDA
    return 1;
#else
    return 0;
#endif
}

int ovx_gpu_open_emu(ovx_gpu **out, ovx_error *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    (*out)->ops = &ovx_gpu_emu_ops;
    (*out)->device = -1;
    return OVX_OK;
}

void ovx_gpu_close(ovx_gpu *g)
{
    if (!g)
        return;
#ifdef OVX_HAVE_CUDA
    if (g->device >= 0)
        ovx_gpu_close_cuda(g);
#endif
    free(g);
}

#ifndef OVX_HAVE_CUDA
#define NO_CUDA "CUDA unavailable: this ovx was built without the CUDA backend (meson -Dcuda=enabled)"

int ovx_cuda_device_count(int *count, ovx_error *err)
{
    *count = 0;
    return ovx_error_set(err, OVX_EDEVICE, NO_CUDA);
}

int ovx_cuda_device_name(int device, char *name, size_t len, ovx_error *err)
{
    (void)device;
    if (len)
        name[0] = '\0';
    return ovx_error_set(err, OVX_EDEVICE, NO_CUDA);
}

int ovx_gpu_open_cuda(int device, ovx_gpu **out, ovx_error *err)
{
    (void)device;
    *out = NULL;
    return ovx_error_set(err, OVX_EDEVICE, NO_CUDA);
}
#endif
