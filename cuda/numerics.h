/* numerics.h: the per-element arithmetic of the CUDA kernels, shared word for
 * word by kernels.cu (device) and emu_ops.c (host emulation), so the rounding
 * points cannot drift apart: bf16 round-to-nearest-even, the GEMM epilogues
 * (bias, tanh GELU), the 3D RoPE rotation with its interleaved partner, the base-2 softmax offset. */
#ifndef OVX_CUDA_NUMERICS_H
#define OVX_CUDA_NUMERICS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define OVX_HD __host__ __device__ __forceinline__
#else
#define OVX_HD static inline
#endif

/* float32 -> bf16 bits, round to nearest even (NaN kept quiet) */
OVX_HD uint16_t ovx_nx_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

OVX_HD float ovx_nx_from_bf16(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), what
 * cuBLASLt's GELU epilogue computes (the CPU uses the exact erf form; the
 * two differ by < 5e-4 absolute, below one bf16 step of the output) */
OVX_HD float ovx_nx_gelu_tanh(float x)
{
    return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}

/* GEMM epilogues (cuBLASLt's semantics, in float32 on the accumulator):
 * NONE, BIAS (+ b[col]), GELU_BIAS (gelu_tanh(acc + b[col])), and
 * BIAS_RESIDUAL: y += acc + b[col], the residual add of out_proj and fc2
 * (float32 y only; cuBLASLt: BIAS with beta = 1 and C = D = y, in place) */
#define OVX_EPI_NONE 0
#define OVX_EPI_BIAS 1
#define OVX_EPI_GELU_BIAS 2
#define OVX_EPI_BIAS_RESIDUAL 3

OVX_HD float ovx_nx_epilogue(float acc, const float *b, int col, int epi)
{
    float v = epi != OVX_EPI_NONE && b ? acc + b[col] : acc;
    return epi == OVX_EPI_GELU_BIAS ? ovx_nx_gelu_tanh(v) : v;
}

/* the epilogue's float32 value to store at *y (read only by
 * BIAS_RESIDUAL: *y + (acc + b), the order of the unfused residual add
 * after a BIAS epilogue) */
OVX_HD float ovx_nx_epilogue_into(const float *y, float acc, const float *b, int col, int epi)
{
    float v = ovx_nx_epilogue(acc, b, col, epi);
    return epi == OVX_EPI_BIAS_RESIDUAL ? *y + v : v;
}

/* RoPE of element k of one head (64 values), interleaved partner:
 * r[2i] = -x[2i+1], r[2i+1] = x[2i]; y[k] = x[k] cos[k] + r[k] sin[k] */
OVX_HD float ovx_nx_rope(const float *x, const float *c, const float *s, int k)
{
    float r = (k & 1) ? x[k - 1] : -x[k + 1];
    return x[k] * c[k] + r * s[k];
}

/* angle of slot j (0..31) of a token at (t, h, w): 8 t, 12 h, 12 w slots;
 * in double, like the CPU's ovx_op_rope3d_tables (cos/sin then rounded to
 * float) */
OVX_HD double ovx_nx_rope_angle(const int32_t *pos3, const double *inv, int j)
{
    int32_t p = j < 8 ? pos3[0] : (j < 20 ? pos3[1] : pos3[2]);
    return (double)p * inv[j];
}

/* Softmax in base 2 with an integer offset: x = s * log2(e), P = 2^(x - M)
 * with M = ceil(max x) of the row (or of the keys seen so far, in the fused
 * kernel's online softmax). When M grows, the earlier terms are rescaled by
 * 2^(M_old - M_new), a power of two: exact in float, and bf16 rounding
 * commutes with it, so the fused kernel's bf16 P values are the chunked
 * path's whatever the key tiling (mathematically the same softmax). */
#define OVX_NX_LOG2E 1.44269504088896341f

OVX_HD float ovx_nx_softmax_offset(float xmax)
{
    return ceilf(xmax);
}

/* 2^d for an integer-valued d <= 0 (or -inf): exact */
OVX_HD float ovx_nx_exp2i(float d)
{
    return d < -149.0f ? 0.0f : ldexpf(1.0f, (int)d);
}

/* 1 / sqrt(mean_sq + eps), the norm scale */
OVX_HD float ovx_nx_rstd(float sum_sq, int n, float eps)
{
    return 1.0f / sqrtf(sum_sq / (float)n + eps);
}

#endif
