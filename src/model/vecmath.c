/* vecmath.c: exp and erf on 8- and 16-float vectors (see vecmath.h). exp: range
 * reduction x = n ln2 + r (ln2 split in two) and a degree-6 polynomial in r,
 * about 1 ulp on the softmax range x <= 0; 2^z (the bf16 softmax) with the
 * same polynomial. erf: erfc(z) = t exp(-z^2 + P(t))
 * with t = 1 / (1 + z/2) and the classic 10-term Chebyshev fit P (relative
 * error below 1.2e-7), erf = 1 - erfc; GELU's relative error stays ~1e-7. */
#include "model/vecmath.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "io/half.h"

/* The v8f helpers below are static and inlined, so no AVX value crosses an
 * external ABI boundary; the baseline clone simply uses two SSE registers. */
#pragma GCC diagnostic ignored "-Wpsabi"

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef uint32_t v8u __attribute__((vector_size(32)));
typedef uint16_t v8h __attribute__((vector_size(16)));
typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef uint32_t v16u __attribute__((vector_size(64)));
typedef uint16_t v16h __attribute__((vector_size(32)));

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define OVX_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define OVX_CLONES
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) /* clang: ABI errors on mixed-target v8f helpers */
#define OVX_HAVE_512 1
#define OVX_TARGET_512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#include <immintrin.h>
#else
#define OVX_HAVE_512 0
#define OVX_TARGET_512
#endif

/* The kernels below are written once for any width: V is the float vector
 * type, I the int vector of the same width (GCC vector extensions broadcast
 * scalars). -std=c17 keeps a*b+c unfused, so every width computes the same
 * bits per element. */
#define VMAX(a, b) ((__typeof__(a))(((__typeof__((a) > (b)))(a) & ((a) > (b))) | \
                                     ((__typeof__((a) > (b)))(b) & ~((a) > (b)))))

/* log2(e): exp's range reduction, and the bf16 softmax's base 2 (as the CUDA
 * path's, cuda/numerics.h) */
#define LOG2E 1.44269504088896341f

/* exp(r) for |r| <= ln2 / 2: a degree-6 polynomial (both exps below). */
#define VEXP_POLY(V, r_)                                                          \
    __extension__({                                                               \
        V p_ = (V){0} + 1.9875691500e-4f;                                         \
        p_ = p_ * (r_) + 1.3981999507e-3f;                                        \
        p_ = p_ * (r_) + 8.3334519073e-3f;                                        \
        p_ = p_ * (r_) + 4.1665795894e-2f;                                        \
        p_ = p_ * (r_) + 1.6666665459e-1f;                                        \
        p_ = p_ * (r_) + 5.0000001201e-1f;                                        \
        p_ * (r_) * (r_) + (r_) + 1.0f;                                           \
    })

/* exp for x in [-87, 88]; clamps below (exp(-87) ~ 1.6e-38 stands in for 0). */
#define VEXP(V, I, x_in)                                                          \
    __extension__({                                                               \
        V x_ = (x_in), lo_ = (V){0} - 87.0f;                                      \
        x_ = VMAX(x_, lo_);                                                       \
        V t_ = x_ * LOG2E;                                         \
        V n_ = (t_ + 12582912.0f) - 12582912.0f; /* round to nearest */           \
        V r_ = x_ - n_ * 0.693359375f;                                            \
        r_ = r_ - n_ * -2.12194440e-4f;                                           \
        V p_ = VEXP_POLY(V, r_);                                                  \
        I e_ = (__builtin_convertvector(n_, I) + 127) << 23;                      \
        p_ *(V)e_;                                                                \
    })

/* 2^z for -125 <= z <= 0 (callers clamp at EXP2_LO: 2^-125 stands in for
 * anything smaller; no denormals, so the AVX512_BF16 conversion, which
 * reads denormals as 0, rounds the same): z = n + f with n = round(z) and
 * f = z - n (exact), 2^f = exp(f ln2) by the polynomial above. */
#define EXP2_LO -125.0f
#define VEXP2(V, I, z_in)                                                         \
    __extension__({                                                               \
        V z_ = (z_in);                                                            \
        V n_ = (z_ + 12582912.0f) - 12582912.0f; /* round to nearest */           \
        V r_ = (z_ - n_) * 0.693147180559945309f;                                 \
        V p_ = VEXP_POLY(V, r_);                                                  \
        I e_ = (__builtin_convertvector(n_, I) + 127) << 23;                      \
        p_ *(V)e_;                                                                \
    })

/* bf16 round-to-nearest-even of a vector, as ovx_f32_to_bf16 (quiet NaN). */
#define VBF16(U, H, a)                                                            \
    __extension__({                                                               \
        U u_ = (U)(a);                                                            \
        U nan_ = (U)((u_ & 0x7fffffffu) > 0x7f800000u);                           \
        U r_ = (u_ + 0x7fffu + ((u_ >> 16) & 1u)) >> 16;                          \
        __builtin_convertvector((r_ & ~nan_) | (((u_ >> 16) | 0x40u) & nan_), H); \
    })

static inline __attribute__((always_inline)) v8f splat(float a)
{
    return (v8f){a, a, a, a, a, a, a, a};
}

static inline __attribute__((always_inline)) v8f vexp(v8f x)
{
    return VEXP(v8f, v8i, x);
}

float ovx_expf_approx(float x)
{
    v8f v = vexp(splat(x));
    return v[0];
}

/* Tail of a softmax row (n - n8 < 8 elements from n8): exp, store (to s or
 * as bf16 to p), add into acc's lanes. */
static inline __attribute__((always_inline)) v8f softmax_tail(float *s, uint16_t *p, int n8, int n, float mx,
                                                              v8f acc)
{
    if (n8 == n)
        return acc;
    float tail[8] = {0};
    for (int j = n8; j < n; j++)
        tail[j - n8] = p ? s[j] * LOG2E - mx : s[j] - mx;
    v8f a;
    memcpy(&a, tail, sizeof a);
    a = p ? VEXP2(v8f, v8i, VMAX(a, splat(EXP2_LO))) : vexp(a);
    for (int j = n8; j < n; j++) {
        if (p) {
            p[j] = ovx_f32_to_bf16(a[j - n8]);
            acc[j - n8] += ovx_bf16_to_f32(p[j]);
        } else {
            s[j] = a[j - n8];
            acc[j - n8] += a[j - n8];
        }
    }
    return acc;
}

static inline __attribute__((always_inline)) float sum8(v8f acc)
{
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* Row max: exact, so the lane layout does not matter. */
static inline __attribute__((always_inline)) float row_max(const float *s, int n8, int n, v8f m8)
{
    float mx = -INFINITY;
    for (int l = 0; l < 8; l++)
        mx = m8[l] > mx ? m8[l] : mx;
    for (int j = n8; j < n; j++)
        mx = s[j] > mx ? s[j] : mx;
    return mx;
}

/* One block of 8: exp(s[j..j+8) - mx) stored to s, or (p set, mx the
 * base-2 offset M) bf16(2^(s log2(e) - M)) stored to p; what was stored is
 * added into acc. */
static inline __attribute__((always_inline)) v8f softmax_block8(float *s, uint16_t *p, int j, v8f vm, v8f acc)
{
    v8f a;
    memcpy(&a, s + j, sizeof a);
    if (p) {
        a = VEXP2(v8f, v8i, VMAX(a * LOG2E - vm, splat(EXP2_LO)));
        v8h h = VBF16(v8u, v8h, a);
        memcpy(p + j, &h, sizeof h);
        a = (v8f)(__builtin_convertvector(h, v8u) << 16); /* the rounded values */
    } else {
        a = vexp(a - vm);
        memcpy(s + j, &a, sizeof a);
    }
    return acc + a;
}

/* out = lane-wise max of s[0..end) in vectors of W floats (type V), two
 * independent chains; the max is exact, so the split changes nothing. */
#define MAX_PASS(V, W, s, end, out)                           \
    do {                                                      \
        V m0_ = (V){0} - INFINITY, m1_ = m0_, a_, b_;         \
        int j_ = 0;                                           \
        for (; j_ + 2 * (W) <= (end); j_ += 2 * (W)) {        \
            memcpy(&a_, (s) + j_, sizeof a_);                 \
            memcpy(&b_, (s) + j_ + (W), sizeof b_);           \
            m0_ = VMAX(a_, m0_);                              \
            m1_ = VMAX(b_, m1_);                              \
        }                                                     \
        if (j_ < (end)) {                                     \
            memcpy(&a_, (s) + j_, sizeof a_);                 \
            m0_ = VMAX(a_, m0_);                              \
        }                                                     \
        (out) = VMAX(m0_, m1_);                               \
    } while (0)

/* The sum of a row's exps: 8-float block b goes to accumulator b & 1 (two
 * independent dependency chains), the scalar tail to the one of its block
 * index; then the two are added and the lanes summed. softmax16 keeps this
 * order exactly. */
static inline __attribute__((always_inline)) float exp_sum(float *s, uint16_t *p, int n8, int n, float mx, v8f acc0,
                                                         v8f acc1)
{
    if ((n8 / 8) & 1)
        acc1 = softmax_tail(s, p, n8, n, mx, acc1);
    else
        acc0 = softmax_tail(s, p, n8, n, mx, acc0);
    return sum8(acc0 + acc1);
}

OVX_CLONES
static float softmax8(float *s, uint16_t *p, int n)
{
    int n8 = n & ~7, j;
    v8f m8;
    MAX_PASS(v8f, 8, s, n8, m8);
    float mx = row_max(s, n8, n, m8);
    if (p)
        mx = ceilf(mx * LOG2E);
    v8f acc0 = splat(0.0f), acc1 = acc0, vm = splat(mx);
    for (j = 0; j + 16 <= n8; j += 16) {
        acc0 = softmax_block8(s, p, j, vm, acc0);
        acc1 = softmax_block8(s, p, j + 8, vm, acc1);
    }
    if (j < n8)
        acc0 = softmax_block8(s, p, j, vm, acc0);
    return 1.0f / exp_sum(s, p, n8, n, mx, acc0, acc1);
}

#if OVX_HAVE_512
/* Halves of a 16-float vector, in registers (a store and two half loads
 * stall store forwarding). */
#define LO8(v) __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7)
#define HI8(v) __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15)

/* The same row on 16-float vectors: per element the same exp; the low and
 * high 8 lanes of each 16 are the even and odd 8-blocks of softmax8, so
 * both return the same bits. */
OVX_TARGET_512
static float softmax16(float *s, uint16_t *p, int n)
{
    int n16 = n & ~15, n8 = n & ~7, j;
    v16f m16;
    MAX_PASS(v16f, 16, s, n16, m16);
    v8f m8 = VMAX(LO8(m16), HI8(m16));
    if (n8 > n16) {
        v8f a;
        memcpy(&a, s + n16, sizeof a);
        m8 = VMAX(a, m8);
    }
    float mx = row_max(s, n8, n, m8);
    if (p)
        mx = ceilf(mx * LOG2E);
    v16f vm = (v16f){0} + mx;
    v8f acc0 = splat(0.0f), acc1 = acc0;
    for (j = 0; j < n16; j += 16) {
        v16f a;
        memcpy(&a, s + j, sizeof a);
        if (p) {
            /* the max is VMAX's for these finite values */
            a = (v16f)_mm512_max_ps((__m512)(a * LOG2E - vm), _mm512_set1_ps(EXP2_LO));
            a = VEXP2(v16f, v16i, a);
            /* The instruction rounds to nearest even like VBF16; it reads
             * denormal inputs as 0, but VEXP2 gives normal values. */
            __m256bh h = _mm512_cvtneps_pbh((__m512)a);
            memcpy(p + j, &h, sizeof h);
            /* the rounded values */
            a = (v16f)_mm512_slli_epi32(_mm512_cvtepu16_epi32((__m256i)h), 16);
        } else {
            a = VEXP(v16f, v16i, a - vm);
            memcpy(s + j, &a, sizeof a);
        }
        acc0 += LO8(a);
        acc1 += HI8(a);
    }
    if (n8 > n16)
        acc0 = softmax_block8(s, p, n16, splat(mx), acc0);
    return 1.0f / exp_sum(s, p, n8, n, mx, acc0, acc1);
}
#endif

static int cpu_has_512(void)
{
#if OVX_HAVE_512
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

static atomic_int cached512 = -1;

void ovx_vecmath_force_width(int floats)
{
    cached512 = floats == 16 ? cpu_has_512() : floats == 8 ? 0 : -1;
}

static __attribute__((unused)) int use512(void)
{
    if (cached512 < 0) {
        const char *e = getenv("OVX_NO_AVX512");
        cached512 = cpu_has_512() && !(e && *e && strcmp(e, "0"));
    }
    return cached512;
}

/* dst[0..end) = VBF16(src[0..end)) in vectors of type V (end a multiple of
 * their length). */
#define BF16_LOOP(V, U, H, dst, src, end)                 \
    for (int64_t i_ = 0; i_ < (end); i_ += (int64_t)(sizeof(V) / 4)) { \
        V a_;                                             \
        memcpy(&a_, (src) + i_, sizeof a_);               \
        H h_ = VBF16(U, H, a_);                           \
        memcpy((dst) + i_, &h_, sizeof h_);               \
    }

OVX_CLONES
static void bf16_8(uint16_t *dst, const float *src, int64_t n)
{
    int64_t n8 = n & ~(int64_t)7;
    BF16_LOOP(v8f, v8u, v8h, dst, src, n8);
    for (int64_t i = n8; i < n; i++)
        dst[i] = ovx_f32_to_bf16(src[i]);
}

#if OVX_HAVE_512
/* VBF16 on 16 floats (not vcvtneps2bf16: activations may be denormal). */
OVX_TARGET_512
static void bf16_16(uint16_t *dst, const float *src, int64_t n)
{
    int64_t n16 = n & ~(int64_t)15;
    BF16_LOOP(v16f, v16u, v16h, dst, src, n16);
    bf16_8(dst + n16, src + n16, n - n16);
}
#endif

void ovx_f32_to_bf16_vec(uint16_t *dst, const float *src, int64_t n)
{
#if OVX_HAVE_512
    if (use512()) {
        bf16_16(dst, src, n);
        return;
    }
#endif
    bf16_8(dst, src, n);
}

float ovx_softmax_row_unnormalised(float *s, int n)
{
#if OVX_HAVE_512
    if (use512())
        return softmax16(s, NULL, n);
#endif
    return softmax8(s, NULL, n);
}

float ovx_softmax_row_bf16(const float *s, uint16_t *p, int n)
{
#if OVX_HAVE_512
    if (use512())
        return softmax16((float *)s, p, n);
#endif
    return softmax8((float *)s, p, n);
}

/* GELU from the erfc fit: 0.5 x (1 + erf(x / sqrt 2)), any width. */
#define VGELU(V, I, x_in)                                                               \
    __extension__({                                                                     \
        V x_ = (x_in), z_ = x_ * 0.70710678118654752f, zero_ = (V){0};                  \
        I neg_ = z_ < zero_;                                                            \
        V az_ = (V)((I)z_ & 0x7fffffff);                                               \
        V t_ = (zero_ + 1.0f) / ((zero_ + 1.0f) + az_ * 0.5f);                          \
        V p_ = zero_ + 0.17087277f;                                                     \
        p_ = p_ * t_ + -0.82215223f;                                                    \
        p_ = p_ * t_ + 1.48851587f;                                                     \
        p_ = p_ * t_ + -1.13520398f;                                                    \
        p_ = p_ * t_ + 0.27886807f;                                                     \
        p_ = p_ * t_ + -0.18628806f;                                                    \
        p_ = p_ * t_ + 0.09678418f;                                                     \
        p_ = p_ * t_ + 0.37409196f;                                                     \
        p_ = p_ * t_ + 1.00002368f;                                                     \
        p_ = p_ * t_ + -1.26551223f;                                                    \
        V e_ = p_ - az_ * az_, lo_ = zero_ - 87.0f;                                     \
        V erfc_ = t_ * VEXP(V, I, VMAX(e_, lo_));                                       \
        /* 1 + erf(z) = 2 - erfc(|z|) for z >= 0 and erfc(|z|) for z < 0 (no           \
         * cancellation in the negative tail). */                                       \
        V ope_ = (V)(((I)((zero_ + 2.0f) - erfc_) & ~neg_) | ((I)erfc_ & neg_));        \
        (zero_ + 0.5f) * x_ * ope_;                                                     \
    })

/* x[i0..n) in place, tail of fewer than 8 included. */
static inline __attribute__((always_inline)) void gelu_tail(float *x, int64_t n8, int64_t n)
{
    if (n8 < n) {
        float tail[8] = {0};
        memcpy(tail, x + n8, (size_t)(n - n8) * sizeof(float));
        v8f a;
        memcpy(&a, tail, sizeof a);
        a = VGELU(v8f, v8i, a);
        memcpy(x + n8, &a, (size_t)(n - n8) * sizeof(float));
    }
}

OVX_CLONES
static void gelu8(float *x, int64_t n)
{
    int64_t n8 = n & ~(int64_t)7;
    for (int64_t i = 0; i < n8; i += 8) {
        v8f a;
        memcpy(&a, x + i, sizeof a);
        a = VGELU(v8f, v8i, a);
        memcpy(x + i, &a, sizeof a);
    }
    gelu_tail(x, n8, n);
}

#if OVX_HAVE_512
OVX_TARGET_512
static void gelu16(float *x, int64_t n)
{
    int64_t n16 = n & ~(int64_t)15, n8 = n & ~(int64_t)7;
    for (int64_t i = 0; i < n16; i += 16) {
        v16f a;
        memcpy(&a, x + i, sizeof a);
        a = VGELU(v16f, v16i, a);
        memcpy(x + i, &a, sizeof a);
    }
    if (n8 > n16) {
        v8f a;
        memcpy(&a, x + n16, sizeof a);
        a = VGELU(v8f, v8i, a);
        memcpy(x + n16, &a, sizeof a);
    }
    gelu_tail(x, n8, n);
}
#endif

void ovx_gelu_erf_vec(float *x, int64_t n)
{
#if OVX_HAVE_512
    if (use512()) {
        gelu16(x, n);
        return;
    }
#endif
    gelu8(x, n);
}

/* Sums of one row in double over 8 accumulators (a fixed order). */
static inline __attribute__((always_inline)) double sum_row(const float *x, int n, double mean, int squares)
{
    double a[8] = {0};
    int n8 = n & ~7;
    for (int i = 0; i < n8; i += 8)
        for (int j = 0; j < 8; j++) {
            double d = (double)x[i + j] - mean;
            a[j] += squares ? d * d : d;
        }
    double s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    for (int i = n8; i < n; i++) {
        double d = (double)x[i] - mean;
        s += squares ? d * d : d;
    }
    return s;
}

OVX_CLONES
static void layernorm_row8(float *y, const float *x, const float *w, const float *b, int n, float eps)
{
    double mean = sum_row(x, n, 0.0, 0) / n, var = sum_row(x, n, mean, 1);
    float inv = (float)(1.0 / sqrt(var / n + (double)eps)), mf = (float)mean;
    for (int i = 0; i < n; i++)
        y[i] = (x[i] - mf) * inv * w[i] + b[i];
}

void ovx_layernorm_row(float *y, const float *x, const float *w, const float *b, int n, float eps)
{
    layernorm_row8(y, x, w, b, n, eps);
}
