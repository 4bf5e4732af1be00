/* vecmath.c: exp and erf on 8-float vectors (see vecmath.h). exp: range
 * reduction x = n ln2 + r (ln2 split in two) and a degree-6 polynomial in r,
 * about 1 ulp on the softmax range x <= 0. erf: erfc(z) = t exp(-z^2 + P(t))
 * with t = 1 / (1 + z/2) and the classic 10-term Chebyshev fit P (relative
 * error below 1.2e-7), erf = 1 - erfc; GELU's relative error stays ~1e-7. */
#include "model/vecmath.h"

#include <math.h>
#include <string.h>

/* The v8f helpers below are static and inlined, so no AVX value crosses an
 * external ABI boundary; the baseline clone simply uses two SSE registers. */
#pragma GCC diagnostic ignored "-Wpsabi"

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define OVX_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define OVX_CLONES
#endif

static inline __attribute__((always_inline)) v8f splat(float a)
{
    return (v8f){a, a, a, a, a, a, a, a};
}

static inline __attribute__((always_inline)) v8f vmax(v8f a, v8f b)
{
    v8i m = a > b;
    return (v8f)(((v8i)a & m) | ((v8i)b & ~m));
}

/* exp for x in [-87, 88]; clamps below (exp(-87) ~ 1.6e-38 stands in for 0). */
static inline __attribute__((always_inline)) v8f vexp(v8f x)
{
    x = vmax(x, splat(-87.0f));
    v8f t = x * splat(1.44269504088896341f);
    v8f n = (t + splat(12582912.0f)) - splat(12582912.0f); /* round to nearest */
    v8f r = x - n * splat(0.693359375f);
    r = r - n * splat(-2.12194440e-4f);
    v8f p = splat(1.9875691500e-4f);
    p = p * r + splat(1.3981999507e-3f);
    p = p * r + splat(8.3334519073e-3f);
    p = p * r + splat(4.1665795894e-2f);
    p = p * r + splat(1.6666665459e-1f);
    p = p * r + splat(5.0000001201e-1f);
    p = p * r * r + r + splat(1.0f);
    v8i e = (__builtin_convertvector(n, v8i) + 127) << 23;
    return p * (v8f)e;
}

float ovx_expf_approx(float x)
{
    v8f v = vexp(splat(x));
    return v[0];
}

OVX_CLONES
float ovx_softmax_row_unnormalised(float *s, int n)
{
    int n8 = n & ~7;
    v8f m8 = splat(-INFINITY);
    for (int j = 0; j < n8; j += 8) {
        v8f a;
        memcpy(&a, s + j, sizeof a);
        m8 = vmax(a, m8);
    }
    float mx = -INFINITY;
    for (int l = 0; l < 8; l++)
        mx = m8[l] > mx ? m8[l] : mx;
    for (int j = n8; j < n; j++)
        mx = s[j] > mx ? s[j] : mx;
    v8f acc = splat(0.0f), vm = splat(mx);
    for (int j = 0; j < n8; j += 8) {
        v8f a;
        memcpy(&a, s + j, sizeof a);
        a = vexp(a - vm);
        memcpy(s + j, &a, sizeof a);
        acc += a;
    }
    float tail[8] = {0};
    for (int j = n8; j < n; j++)
        tail[j - n8] = s[j] - mx;
    if (n8 < n) {
        v8f a;
        memcpy(&a, tail, sizeof a);
        a = vexp(a);
        for (int j = n8; j < n; j++)
            acc[j - n8] += (s[j] = a[j - n8]);
    }
    float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    return 1.0f / sum;
}

/* GELU from the erfc fit: 0.5 x (1 + erf(x / sqrt 2)). */
static inline __attribute__((always_inline)) v8f vgelu(v8f x)
{
    v8f z = x * splat(0.70710678118654752f);
    v8i neg = z < splat(0.0f);
    v8f az = (v8f)((v8i)z & ~(v8i)splat(-0.0f));
    v8f t = splat(1.0f) / (splat(1.0f) + splat(0.5f) * az);
    v8f p = splat(0.17087277f);
    p = p * t + splat(-0.82215223f);
    p = p * t + splat(1.48851587f);
    p = p * t + splat(-1.13520398f);
    p = p * t + splat(0.27886807f);
    p = p * t + splat(-0.18628806f);
    p = p * t + splat(0.09678418f);
    p = p * t + splat(0.37409196f);
    p = p * t + splat(1.00002368f);
    p = p * t + splat(-1.26551223f);
    v8f erfc = t * vexp(vmax(p - az * az, splat(-87.0f)));
    /* 1 + erf(z) = 2 - erfc(|z|) for z >= 0 and erfc(|z|) for z < 0 (no
     * cancellation in the negative tail). */
    v8f one_plus_erf = (v8f)(((v8i)(splat(2.0f) - erfc) & ~neg) | ((v8i)erfc & neg));
    return splat(0.5f) * x * one_plus_erf;
}

OVX_CLONES
void ovx_gelu_erf_vec(float *x, int64_t n)
{
    int64_t n8 = n & ~(int64_t)7;
    for (int64_t i = 0; i < n8; i += 8) {
        v8f a;
        memcpy(&a, x + i, sizeof a);
        a = vgelu(a);
        memcpy(x + i, &a, sizeof a);
    }
    if (n8 < n) {
        float tail[8] = {0};
        memcpy(tail, x + n8, (size_t)(n - n8) * sizeof(float));
        v8f a;
        memcpy(&a, tail, sizeof a);
        a = vgelu(a);
        memcpy(x + n8, &a, (size_t)(n - n8) * sizeof(float));
    }
}
