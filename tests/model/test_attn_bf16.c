/* test_attn_bf16.c: the bf16 attention (--precision bf16): the fused
 * AVX512_BF16 kernel (attn_bf16.c) and the oneDNN fallback of
 * ovx_mm_attention, on awkward shapes (odd key counts, tails of the 6-row
 * groups, 48-query tiles, 64-key blocks and 256-key P v blocks, Nq != Nk,
 * 1-4 heads), each against a double-precision attention of the same
 * bf16-rounded q, k, v with the probabilities rounded to bf16 at the same
 * point; 1 and 3 threads byte-identical; fused and fallback within the
 * summation-order difference of each other. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "attn_ref.h"
#include "io/half.h"
#include "model/attn_bf16.h"
#include "model/mm.h"

/* bf16 rounding (RNE), as the kernels round q, k, v and the probabilities */
static double bf(double x)
{
    return ovx_bf16_to_f32(ovx_f32_to_bf16((float)x));
}

static double max_diff(const float *a, const double *ref, size_t n)
{
    double w = 0.0;
    for (size_t i = 0; i < n; i++)
        w = fmax(w, fabs((double)a[i] - ref[i]));
    return w;
}

int main(void)
{
    static const int shapes[][3] = {{1, 1, 1},     {37, 37, 3},     {100, 100, 1}, {257, 257, 2},
                                    {1025, 1025, 1}, {49, 49, 4},   {150, 97, 2},  {1, 1025, 4}};
    rng_state = 7;
    ovx_attn_bf16_force(1);
    int fused = ovx_attn_bf16_available();
    if (!fused)
        printf("attention bf16: this CPU has no AVX512_BF16, the fused kernel is not tested\n");
    char why[200];
    ovx_mm *mm = NULL;
    ovx_error err = {0};
    if (!ovx_mm_bf16_available(why, sizeof why))
        printf("attention bf16: no oneDNN bf16 path here (%s)\n", why);
    else
        CHECK(ovx_mm_create(3, &mm, &err) == 0);
    if (!fused && !mm) { /* no bf16 attention in this build on this CPU */
        printf("attention bf16: SKIPPED, neither the fused kernel nor oneDNN bf16 runs here\n");
        return 77;
    }
    double worst_fused = 0.0, worst_dnnl = 0.0, apart = 0.0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        attn_case c;
        attn_case_make(&c, shapes[si][0], shapes[si][1], shapes[si][2], bf, 1);
        int NQ = c.NQ, NK = c.NK, H = c.H;
        size_t nq = c.n;
        for (int t = 0; t < 2; t++) {
            if (fused) { /* path 0: the fused kernel */
                c.o[0][t] = malloc(sizeof(float) * nq);
                CHECK(ovx_attn_bf16(c.o[0][t], c.q, c.k, c.v, NQ, NK, H, c.scale, t ? 3 : 1) == 0);
            }
            if (mm && NQ == NK) { /* path 1: ovx_mm_attention with the kernel off (oneDNN) */
                ovx_attn_bf16_force(0);
                c.o[1][t] = malloc(sizeof(float) * nq);
                CHECK(ovx_mm_attention(mm, 1, c.o[1][t], c.q, c.k, c.v, NQ, H, c.scale, t ? 3 : 1, &err) == 0);
                ovx_attn_bf16_force(1);
            }
        }
        if (fused && mm && NQ == NK) { /* ovx_mm_attention picks the fused kernel: the same bits */
            float *x = malloc(sizeof(float) * nq);
            CHECK(ovx_mm_attention(mm, 1, x, c.q, c.k, c.v, NQ, H, c.scale, 2, &err) == 0);
            CHECK(memcmp(x, c.o[0][0], sizeof(float) * nq) == 0);
            free(x);
        }
        for (int path = 0; path < 2; path++)
            if (c.o[path][0]) {
                CHECK(memcmp(c.o[path][0], c.o[path][1], sizeof(float) * nq) == 0);
                double d = max_diff(c.o[path][0], c.ref, nq);
                if (path == 0)
                    worst_fused = fmax(worst_fused, d);
                else
                    worst_dnnl = fmax(worst_dnnl, d);
            }
        if (c.o[0][0] && c.o[1][0])
            for (size_t i = 0; i < nq; i++)
                apart = fmax(apart, fabs((double)c.o[0][0][i] - c.o[1][0][i]));
        attn_case_free(&c);
    }
    ovx_attn_bf16_force(-1);
    ovx_mm_free(mm);
    printf("attention bf16 vs double reference: max abs diff fused %.3g, oneDNN %.3g; fused vs oneDNN %.3g\n",
           worst_fused, worst_dnnl, apart);
    /* Measured here (AMD EPYC, AVX512_BF16): 1.8e-5 for both paths (a bf16
     * rounding of a probability whose fp32 and double values straddle a
     * rounding boundary), 3e-8 between the paths. */
    CHECK(worst_fused < 2e-4);
    CHECK(worst_dnnl < 2e-4);
    CHECK(apart < 1e-5);
    return CHECK_RESULT();
}
