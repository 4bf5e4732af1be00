/* attn_ref.h: what the attention unit tests share: a seeded random source,
 * random q, k, v for a shape, and a double-precision attention, fp32 or
 * with the bf16 path's roundings and softmax. Header-only, for tests. */
#ifndef OVX_TESTS_ATTN_REF_H
#define OVX_TESTS_ATTN_REF_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static uint64_t rng_state = 42;

static inline float frand(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* q [NQ, H*64] in [-3, 3), k and v [NK, H*64] in [-1, 1). */
static inline void random_qkv(int NQ, int NK, int H, float **q, float **k, float **v)
{
    size_t D = (size_t)H * 64;
    *q = malloc(sizeof(float) * NQ * D);
    *k = malloc(sizeof(float) * NK * D);
    *v = malloc(sizeof(float) * NK * D);
    for (size_t i = 0; i < NQ * D; i++)
        (*q)[i] = 3.0f * frand();
    for (size_t i = 0; i < NK * D; i++) {
        (*k)[i] = frand();
        (*v)[i] = frand();
    }
}

static inline double ref_exact(double x)
{
    return x;
}

/* ref[NQ, H*64]: scores in double from in(q), in(k). fp32 (bf16 = 0):
 * p = exp(s - max s), divided by the sum of p. bf16 (bf16 = 1), the CUDA
 * path's softmax (cuda/README.md): x = s log2(e), p = 2^(x - ceil(max x))
 * rounded by in(), divided by the sum of the rounded p. Then p times in(v). */
static inline void attention_ref(double *ref, const float *q, const float *k, const float *v, int NQ, int NK, int H,
                                 float scale, double (*in)(double), int bf16)
{
    int D = H * 64;
    double *s = malloc(sizeof(double) * NK);
    for (int h = 0; h < H; h++)
        for (int i = 0; i < NQ; i++) {
            double mx = -1e300, sum = 0.0;
            for (int j = 0; j < NK; j++) {
                double d = 0.0;
                for (int e = 0; e < 64; e++)
                    d += in(q[(size_t)i * D + h * 64 + e]) * in(k[(size_t)j * D + h * 64 + e]);
                s[j] = d * scale * (bf16 ? 1.4426950408889634 : 1.0);
                mx = s[j] > mx ? s[j] : mx;
            }
            if (bf16)
                mx = ceil(mx);
            double *r = ref + (size_t)i * D + h * 64;
            for (int e = 0; e < 64; e++)
                r[e] = 0.0;
            for (int j = 0; j < NK; j++) {
                double p = bf16 ? in(exp2(s[j] - mx)) : exp(s[j] - mx);
                sum += p;
                for (int e = 0; e < 64; e++)
                    r[e] += p * in(v[(size_t)j * D + h * 64 + e]);
            }
            for (int e = 0; e < 64; e++)
                r[e] /= sum;
        }
    free(s);
}

#endif
