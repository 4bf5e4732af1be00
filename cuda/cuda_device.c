/* cuda_device.c: what the CUDA driver says about this machine, as one-line
 * reasons: is there a driver at all (libcuda.so.1), is it the toolkit's stub,
 * is it new enough for the CUDA this ovx was built with, how many devices are
 * visible; each device's name, compute capability, SMs, clock and memory;
 * and hints for the errors of a first use (busy GPU, no kernel image, PTX
 * the driver cannot JIT). Built only with OVX_HAVE_CUDA. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cuda_runtime_api.h>

#include "cuda/gpu_open.h"

/* the oldest Linux driver branch of each CUDA major version */
static const char *min_driver(int cuda_version)
{
    switch (cuda_version / 1000) {
    case 13: return "580";
    case 12: return "525";
    case 11: return "450";
    default: return "?";
    }
}

static const char *ver(int v, char *buf, size_t len)
{
    snprintf(buf, len, "%d.%d", v / 1000, v % 1000 / 10);
    return buf;
}

int ovx_cuda_runtime_version(void)
{
    return CUDART_VERSION;
}

int ovx_cuda_real_driver_absent(void)
{
    /* the "no NVIDIA driver" case of ovx_cuda_real_count: no driver version and
     * an insufficient driver (the toolkit's stub gives cudaErrorStubLibrary) */
    int drv = 0, n = 0;
    if (cudaDriverGetVersion(&drv) != cudaSuccess || drv != 0)
        return 0;
    return cudaGetDeviceCount(&n) == cudaErrorInsufficientDriver;
}

int ovx_cuda_real_count(int *count, ovx_error *err)
{
    char rt[16], dv[16];
    int drv = 0, n = 0;
    *count = 0;
    if (cudaDriverGetVersion(&drv) != cudaSuccess)
        drv = 0;
    ver(CUDART_VERSION, rt, sizeof rt);
    ver(drv, dv, sizeof dv);
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaSuccess && n > 0) {
        *count = n;
        return OVX_OK;
    }
    const char *vis = getenv("CUDA_VISIBLE_DEVICES");
    switch (e) {
    case cudaSuccess: /* a driver that reports 0 devices without an error */
    case cudaErrorNoDevice:
        return ovx_error_set(err, OVX_EDEVICE,
                             "CUDA unavailable: no CUDA device found (NVIDIA driver for CUDA %s "
                             "present%s%s%s%s)", dv,
                             access("/dev/nvidiactl", F_OK) ? "; no /dev/nvidiactl: kernel module "
                                                              "not loaded or not visible here" : "",
                             vis ? "; CUDA_VISIBLE_DEVICES='" : "", vis ? vis : "", vis ? "'" : "");
    case cudaErrorStubLibrary:
        return ovx_error_set(err, OVX_EDEVICE,
                             "CUDA unavailable: libcuda.so.1 is the CUDA toolkit's stub, not an "
                             "NVIDIA driver (a .../lib64/stubs directory on LD_LIBRARY_PATH?)");
    case cudaErrorInsufficientDriver:
        if (drv == 0)
            return ovx_error_set(err, OVX_EDEVICE,
                                 "CUDA unavailable: no NVIDIA driver (libcuda.so.1 not found); "
                                 "this CUDA %s build needs driver >= %s", rt, min_driver(CUDART_VERSION));
        return ovx_error_set(err, OVX_EDEVICE,
                             "CUDA unavailable: NVIDIA driver too old: it supports CUDA %s, this ovx "
                             "was built with CUDA %s (needs driver >= %s, or build ovx with a CUDA "
                             "%s toolkit)", dv, rt, min_driver(CUDART_VERSION), dv);
    case cudaErrorSystemDriverMismatch:
        return ovx_error_set(err, OVX_EDEVICE,
                             "CUDA unavailable: the NVIDIA kernel module and libcuda.so.1 are "
                             "different versions (driver updated without a reboot?)");
    default:
        return ovx_error_set(err, OVX_EDEVICE, "CUDA unavailable: %s (%s, driver for CUDA %s)",
                             cudaGetErrorString(e), cudaGetErrorName(e), dv);
    }
}

int ovx_cuda_real_info(int device, ovx_gpu_info *info, ovx_error *err)
{
    memset(info, 0, sizeof *info);
    struct cudaDeviceProp p;
    cudaError_t e = cudaGetDeviceProperties(&p, device);
    if (e != cudaSuccess)
        return ovx_error_set(err, OVX_EDEVICE, "CUDA device %d: %s", device, cudaGetErrorString(e));
    info->device = device;
    snprintf(info->name, sizeof info->name, "%.127s", p.name);
    info->major = p.major;
    info->minor = p.minor;
    info->sms = p.multiProcessorCount;
    info->total_mem = p.totalGlobalMem;
    int khz = 0;
    if (cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, device) == cudaSuccess && khz > 0)
        info->clock_mhz = khz / 1000;
    if (cudaDriverGetVersion(&info->driver_version) != cudaSuccess)
        info->driver_version = 0;
    info->runtime_version = CUDART_VERSION;
    return OVX_OK;
}

int ovx_cuda_real_mem(size_t *free_b, size_t *total_b)
{
    return cudaMemGetInfo(free_b, total_b) == cudaSuccess ? 0 : -1;
}

const char *ovx_cuda_hint(const char *msg)
{
    static const struct { cudaError_t e; const char *hint; } hints[] = {
        {cudaErrorDevicesUnavailable, "the GPU is busy or unavailable: exclusive-process compute mode "
                                      "with another process on it, or compute prohibited"},
        {cudaErrorMemoryAllocation, "out of memory: other processes on this GPU?"},
        {cudaErrorNoKernelImageForDevice, "this ovx has no kernel image for this GPU (rebuild with "
                                          "-Dcuda-arch=XY for compute capability X.Y)"},
        {cudaErrorUnsupportedPtxVersion, "the driver is older than the CUDA toolkit that built "
                                         "this ovx and cannot JIT its PTX"},
        {cudaErrorInvalidPtx, "the driver cannot JIT this ovx's PTX"},
        {cudaErrorECCUncorrectable, "uncorrectable ECC error: the GPU needs a reset"},
    };
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++)
        if (msg && strstr(msg, cudaGetErrorString(hints[i].e)))
            return hints[i].hint;
    return NULL;
}
