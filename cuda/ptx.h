/* ptx.h: the PTX instructions of the mma attention (attention_mma.cu), each
 * behind a small device function: inline PTX in the nvcc device pass, the
 * host twin of the CUDA-on-host shim (host/ptx_host.cc, host/cuda_host.cc)
 * in the host build, so the shim runs the kernel that the GPU runs.
 * Operand layouts: the PTX ISA's (see host/cuda_host.h and cuda/README.md). */
#ifndef OVX_CUDA_PTX_H
#define OVX_CUDA_PTX_H

#include <stdint.h>
#include <string.h>

#include "cuda_compat.h"
#include "numerics.h"

/* ldmatrix.sync.aligned.m8n8.x4{,.trans}.shared.b16: four 8 x 8 bf16
 * matrices, lane 8 i + j giving the address of row j of matrix i (16 bytes,
 * 16-byte aligned); r[i]: this lane's pair of matrix i, elements (l / 4,
 * 2 (l % 4) + {0, 1}), or with trans (2 (l % 4) + {0, 1}, l / 4) */
__device__ __forceinline__ void ovx_ldsm_x4(uint32_t r[4], const void *row, bool trans = false)
{
#if defined(__CUDA_ARCH__)
    unsigned a = (unsigned)__cvta_generic_to_shared(row);
    if (trans)
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                     : "r"(a));
    else
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                     : "r"(a));
#elif !defined(__CUDACC__)
    ovx_host::ldmatrix(r, 4, trans, row);
#else
    (void)r, (void)row, (void)trans;
#endif
}

/* d [16 x 8] += a [16 x 16] b [16 x 8]: mma.sync.aligned.m16n8k16.row.col.
 * f32.bf16.bf16.f32 (fp32 accumulation) */
__device__ __forceinline__ void ovx_mma_bf16(float d[4], const uint32_t a[4], uint32_t b0,
                                             uint32_t b1)
{
#if defined(__CUDA_ARCH__)
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
                 "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#elif !defined(__CUDACC__)
    const uint32_t b[2] = {b0, b1};
    ovx_host::mma_m16n8k16_bf16(d, a, b);
#else
    (void)d, (void)a, (void)b0, (void)b1;
#endif
}

/* cp.async.cg.shared.global: 16 bytes from global src to shared dst, of
 * which src_bytes (0 or 16) are read and the rest zero-filled; completes
 * at a later ovx_cp_async_wait */
__device__ __forceinline__ void ovx_cp_async16(void *dst, const void *src, int src_bytes)
{
#if defined(__CUDA_ARCH__)
    unsigned d = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d),
                 "l"(__cvta_generic_to_global(src)), "r"(src_bytes));
#elif !defined(__CUDACC__)
    ovx_host::cp_async(dst, src, src_bytes, 16);
#else
    (void)dst, (void)src, (void)src_bytes;
#endif
}

/* cp.async.commit_group: the copies issued since the last commit form a group */
__device__ __forceinline__ void ovx_cp_async_commit(void)
{
#if defined(__CUDA_ARCH__)
    asm volatile("cp.async.commit_group;\n" ::);
#elif !defined(__CUDACC__)
    ovx_host::cp_async_commit();
#endif
}

/* cp.async.wait_group N: all but the newest N groups of this thread are
 * complete (a __syncthreads is still needed before other threads read them) */
template <int N>
__device__ __forceinline__ void ovx_cp_async_wait(void)
{
#if defined(__CUDA_ARCH__)
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#elif !defined(__CUDACC__)
    ovx_host::cp_async_wait(N);
#endif
}

/* ex2.approx.ftz.f32: 2^x (MUFU.EX2; max relative error 2^-22, subnormal
 * inputs and results flushed to zero); the twin: exp2f, flushed the same way */
__device__ __forceinline__ float ovx_ex2(float x)
{
#if defined(__CUDA_ARCH__)
    float r;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(r) : "f"(x));
    return r;
#else
    const float r = exp2f(fabsf(x) < 1.17549435e-38f ? 0.0f : x);
    return r < 1.17549435e-38f ? 0.0f : r;
#endif
}

/* cvt.rn.bf16x2.f32: (lo, hi) rounded to nearest even, lo in the low half */
__device__ __forceinline__ uint32_t ovx_cvt_bf16x2(float lo, float hi)
{
#if defined(__CUDA_ARCH__)
    uint32_t r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
#else
    return (uint32_t)ovx_nx_to_bf16(lo) | (uint32_t)ovx_nx_to_bf16(hi) << 16;
#endif
}

/* the two bf16 of a packed pair as float */
__device__ __forceinline__ float ovx_bf16x2_lo(uint32_t r)
{
    return ovx_nx_from_bf16((uint16_t)(r & 0xffffu));
}

__device__ __forceinline__ float ovx_bf16x2_hi(uint32_t r)
{
    return ovx_nx_from_bf16((uint16_t)(r >> 16));
}

/* a 4-byte store of a packed pair (p 4-byte aligned) */
__device__ __forceinline__ void ovx_st_b32(void *p, uint32_t v)
{
#if defined(__CUDA_ARCH__)
    *(uint32_t *)p = v;
#else
    memcpy(p, &v, 4);
#endif
}

#endif
