/* vecmath.h: vectorised element-wise kernels of the forward (softmax rows,
 * exact-erf GELU). Built with GCC vector extensions and compiled for AVX2+FMA
 * and baseline x86-64 (picked at load time); each result depends only on its
 * inputs, never on the thread count. */
#ifndef OVX_MODEL_VECMATH_H
#define OVX_MODEL_VECMATH_H

#include <stdint.h>

/* s[n] <- exp(s - max(s)); returns 1 / sum of the new s (n >= 1). */
float ovx_softmax_row_unnormalised(float *s, int n);

/* x[n] <- 0.5 x (1 + erf(x / sqrt 2)). */
void ovx_gelu_erf_vec(float *x, int64_t n);

/* exp(x) for one float, same algorithm as the vector kernel (tests). */
float ovx_expf_approx(float x);

#endif
