/* cuda_compat.h: what a kernel source (the .cu files of cuda/) includes instead of
 * cuda_runtime.h, so the same source builds twice: by nvcc for the GPU, and
 * by the host C++ compiler against the CUDA-on-host shim (host/cuda_host.h)
 * for the tests and `ovx selftest --device cpu`. Kernels are launched only
 * through OVX_LAUNCH (the `<<< >>>` syntax exists only in nvcc), and the C
 * entry points are named through OVX_KFN: ovx_cuda_k_* in the nvcc build,
 * ovx_host_k_* in the host build (both are linked into one ovx). */
#ifndef OVX_CUDA_CUDA_COMPAT_H
#define OVX_CUDA_CUDA_COMPAT_H

#ifdef __CUDACC__
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <mma.h>
#define OVX_LAUNCH(kernel, grid, block, stream, ...) \
    kernel<<<(grid), (block), 0, (stream)>>>(__VA_ARGS__)
#define OVX_KFN(name) ovx_cuda_k_##name
#define OVX_UNROLL _Pragma("unroll")
#else
#include "cuda/host/cuda_host.h"
#define OVX_LAUNCH(kernel, grid, block, stream, ...) \
    ovx_host::launch(kernel, (grid), (block), (stream), __VA_ARGS__)
#define OVX_KFN(name) ovx_host_k_##name
#define OVX_UNROLL
#endif

#include <stdio.h>

#include "gpu.h"

/* 0 after a good launch, else -1 with "CUDA kernel WHAT: reason" in g->msg */
static inline int ovx_check_launch(ovx_gpu *g, const char *what)
{
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) {
        snprintf(g->msg, sizeof g->msg, "CUDA kernel %s: %s", what, cudaGetErrorString(e));
        return -1;
    }
    return 0;
}

#endif
