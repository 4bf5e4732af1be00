/* vecmath.h: vectorised element-wise kernels of the forward (softmax rows,
 * exact-erf GELU, layernorm rows). Built with GCC vector extensions, for AVX-512 with AVX512_BF16 (16 floats),
 * AVX2 and baseline x86-64 (picked at run time; OVX_NO_AVX512=1 skips the
 * first); every variant gives the same bits, and each result depends only on
 * its inputs, never on the thread count. */
#ifndef OVX_MODEL_VECMATH_H
#define OVX_MODEL_VECMATH_H

#include <stdint.h>

/* s[n] <- exp(s - max(s)); returns 1 / sum of the new s (n >= 1). */
float ovx_softmax_row_unnormalised(float *s, int n);

/* The CUDA path's bf16 softmax (cuda/numerics.h, cuda/README.md), in base 2
 * with an integer offset: x = s log2(e), M = ceil(max x),
 * p[n] <- bf16(2^(x - M)) (round to nearest even, as ovx_f32_to_bf16;
 * 2^-125 for anything smaller), s untouched; returns 1 / the fp32 sum of the rounded p (the
 * weights the P v product uses). */
float ovx_softmax_row_bf16(const float *s, uint16_t *p, int n);

/* dst[n] = ovx_f32_to_bf16(src[n]) (io/half.h), vectorised. */
void ovx_f32_to_bf16_vec(uint16_t *dst, const float *src, int64_t n);

/* x[n] <- 0.5 x (1 + erf(x / sqrt 2)). */
void ovx_gelu_erf_vec(float *x, int64_t n);

/* y[n] = (x - mean) / sqrt(var + eps) * w + b (biased variance; mean and
 * variance summed in double over 8 lanes in a fixed order). y may equal x. */
void ovx_layernorm_row(float *y, const float *x, const float *w, const float *b, int n, float eps);

/* Tests: 16 or 8 forces that vector width (16 only where the CPU has
 * AVX-512), anything else goes back to the run-time choice. */
void ovx_vecmath_force_width(int floats);

/* exp(x) for one float, same algorithm as the vector kernel (tests). */
float ovx_expf_approx(float x);

#endif
