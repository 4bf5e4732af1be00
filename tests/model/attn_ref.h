/* attn_ref.h: what the model unit tests share: a seeded random source and
 * random fills, and for the attention tests a case (random q, k, v for a
 * shape, a double-precision attention, fp32 or with the bf16 path's
 * roundings and softmax, and the outputs of two paths at two thread counts).
 * Header-only, for tests. */
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

/* x[0..n) = scale * frand(), in order */
static inline void fill_rand(float *x, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = scale * frand();
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

/* One attention case: q [NQ, H*64] in [-3, 3), k and v [NK, H*64] in
 * [-1, 1), ref = attention_ref(in, bf16) at scale 0.125, and o[path][t]
 * the outputs of up to two paths at two thread counts (the test allocates
 * the ones it runs; NULL otherwise). */
typedef struct attn_case {
    int NQ, NK, H;
    size_t n; /* NQ * H * 64: the floats of q, of ref and of each output */
    float scale;
    float *q, *k, *v, *o[2][2];
    double *ref;
} attn_case;

static inline void attn_case_make(attn_case *c, int NQ, int NK, int H, double (*in)(double), int bf16)
{
    size_t D = (size_t)H * 64;
    *c = (attn_case){NQ, NK, H, NQ * D, 0.125f, NULL, NULL, NULL, {{NULL, NULL}, {NULL, NULL}}, NULL};
    c->q = malloc(sizeof(float) * NQ * D);
    c->k = malloc(sizeof(float) * NK * D);
    c->v = malloc(sizeof(float) * NK * D);
    fill_rand(c->q, NQ * D, 3.0f);
    for (size_t i = 0; i < NK * D; i++) {
        c->k[i] = frand();
        c->v[i] = frand();
    }
    c->ref = malloc(sizeof(double) * c->n);
    attention_ref(c->ref, c->q, c->k, c->v, NQ, NK, H, c->scale, in, bf16);
}

static inline void attn_case_free(attn_case *c)
{
    for (int path = 0; path < 2; path++)
        for (int t = 0; t < 2; t++)
            free(c->o[path][t]);
    free(c->ref);
    free(c->q);
    free(c->k);
    free(c->v);
}

#endif
