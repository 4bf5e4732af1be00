/* attn512.c: the fused AVX-512 fp32 attention (see attn512.h).
 *
 * Design. Work item = (head h, tile of TQ queries); items are independent
 * and each one's arithmetic is fixed, so outputs do not depend on the thread
 * count or on which thread runs an item. Per thread:
 *   pack   when an item's head differs from the thread's last one, the
 *          head's K is copied transposed into blocks of KB = 64 keys,
 *          kt[block][d][64] (the last block zero-padded), and V into
 *          contiguous rows v[key][64]: loads in the kernels are contiguous
 *          and a K block (16 KB) stays in L1. A copy, no arithmetic.
 *   scores for each K block, for each group of R = 6 query rows: 6 x 64
 *          scores in 24 zmm accumulators, sum over d = 0..63 in order with
 *          FMA (q broadcast from the input rows, K^T rows loaded), then
 *          times scale (sgemm's alpha). S tile [TQ][lds], lds = keys rounded
 *          up to 64.
 *   softmax ovx_softmax_row_unnormalised on each row (vecmath's exp, the
 *          same function of the scores as the sgemm path).
 *   P v    for each block of VB keys, for each group of 6 rows: 6 x 64
 *          outputs in 24 zmm, keys in order with FMA; the partial sums are
 *          kept in an fp32 tile between key blocks (an exact store/reload,
 *          so the sum is one FMA chain over keys 0..Nk-1); the last key
 *          block's results times 1/rowsum go straight into out.
 * The scores of an item (TQ x lds floats) are its only score storage. */
#include "model/attn512.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/attn_tiles.h"
#include "model/kernel_pick.h"
#include "model/ops.h"
#include "model/parallel.h"
#include "model/vecmath.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define A_HAVE_512 1
#include <immintrin.h>
#define A_TARGET __attribute__((target("avx512f")))
#else
#define A_HAVE_512 0
#endif

#ifndef A_TQ
#define A_TQ 48  /* queries per work item */
#endif
#define A_R 6    /* query rows per micro-kernel call */
#define A_KB 64  /* keys per packed K^T block (score kernel width) */
#ifndef A_VB
#define A_VB 128 /* keys per P v block (V block: 32 KB) */
#endif
#define A_DH OVX_HEAD_DIM
_Static_assert(A_KB == 64 && A_DH == 64, "mk_rows reads w rows of 64 floats");

static int cpu_has_512f(void)
{
#if A_HAVE_512
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

static ovx_kernel_pick pick = OVX_KERNEL_PICK_INIT(cpu_has_512f);

void ovx_attn512_force(int on)
{
    ovx_kernel_pick_force(&pick, on);
}

int ovx_attn512_available(void)
{
    return ovx_kernel_pick_on(&pick);
}

#if A_HAVE_512

typedef struct a_ctx {
    float *out;
    const float *q, *k, *v;
    int Nq, Nk, H, nkb, lds;
    float scale;
    ovx_attn_tiles t; /* items, per-thread scratch and packed head */
} a_ctx;

/* The one micro-kernel of both products, for R rows (R <= 6) x 64 columns:
 * acc[i][.] = (in ? in[i][.] : 0) + sum_{t0 <= t < t1} a[i][t] w[t][.]
 * (rows of a at stride sa, of w at stride 64, of in at stride 64), one FMA
 * chain per output in t order, in 24 zmm accumulators; then
 * o[i][.] = acc[i][.] * mul[i] (rows at stride so). Scores: a = q rows,
 * w = a K^T block, mul = scale. P v: a = P rows, w = V rows, in = the
 * partial-sum tile (exact fp32 store and reload between key blocks), mul = 1,
 * or 1/rowsum for the last block, which stores into the output rows. */
static inline __attribute__((always_inline)) A_TARGET void mk_rows(int R, const float *a, size_t sa, const float *w,
                                                                   int t0, int t1, const float *in, float *o,
                                                                   size_t so, const float *mul)
{
    __m512 acc[A_R][4];
#pragma GCC unroll 6
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            acc[i][c] = in ? _mm512_load_ps(in + i * A_DH + 16 * c) : _mm512_setzero_ps();
    for (int t = t0; t < t1; t++) {
        const float *wr = w + (size_t)t * 64;
        __m512 w0 = _mm512_load_ps(wr), w1 = _mm512_load_ps(wr + 16);
        __m512 w2 = _mm512_load_ps(wr + 32), w3 = _mm512_load_ps(wr + 48);
#pragma GCC unroll 6
        for (int i = 0; i < R; i++) {
            __m512 b = _mm512_set1_ps(a[i * sa + t]);
            acc[i][0] = _mm512_fmadd_ps(b, w0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(b, w1, acc[i][1]);
            acc[i][2] = _mm512_fmadd_ps(b, w2, acc[i][2]);
            acc[i][3] = _mm512_fmadd_ps(b, w3, acc[i][3]);
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < R; i++) {
        __m512 m = _mm512_set1_ps(mul[i]);
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            _mm512_storeu_ps(o + i * so + 16 * c, _mm512_mul_ps(acc[i][c], m));
    }
}

/* mk_rows for r rows, with r a compile-time constant in each case. */
A_TARGET static void mk(int r, const float *a, size_t sa, const float *w, int t0, int t1, const float *in, float *o,
                        size_t so, const float *mul)
{
#define A_MK(R) mk_rows(R, a, sa, w, t0, t1, in, o, so, mul)
    switch (r) {
    case 6: A_MK(6); break;
    case 5: A_MK(5); break;
    case 4: A_MK(4); break;
    case 3: A_MK(3); break;
    case 2: A_MK(2); break;
    default: A_MK(1); break;
    }
#undef A_MK
}

/* Head h's K^T blocks and V rows into kt, vp (see the top comment). */
static void pack_head(const a_ctx *c, int h, float *kt, float *vp)
{
    int ld = c->H * A_DH;
    for (int b = 0; b < c->nkb; b++) {
        float *blk = kt + (size_t)b * A_DH * A_KB;
        int n = c->Nk - b * A_KB < A_KB ? c->Nk - b * A_KB : A_KB;
        if (n < A_KB)
            memset(blk, 0, (size_t)A_DH * A_KB * sizeof(float));
        for (int j = 0; j < n; j++) {
            const float *kr = c->k + (size_t)(b * A_KB + j) * ld + (size_t)h * A_DH;
            for (int d = 0; d < A_DH; d++)
                blk[d * A_KB + j] = kr[d];
        }
    }
    for (int j = 0; j < c->Nk; j++)
        memcpy(vp + (size_t)j * A_DH, c->v + (size_t)j * ld + (size_t)h * A_DH, A_DH * sizeof(float));
}

A_TARGET static void a_items(void *p, int64_t i0, int64_t i1, int thread)
{
    const a_ctx *c = p;
    int ld = c->H * A_DH, lds = c->lds, Nk = c->Nk;
    float *kt = ovx_attn_tiles_scratch(&c->t, thread);
    float *vp = kt + (size_t)c->nkb * A_DH * A_KB;
    float *S = vp + (size_t)Nk * A_DH;
    float *O = S + (size_t)A_TQ * lds;
    float scale[A_R], one[A_R], inv_sum[A_TQ];
    for (int i = 0; i < A_R; i++) {
        scale[i] = c->scale;
        one[i] = 1.0f;
    }
    for (int64_t it = i0; it < i1; it++) {
        int h = (int)(it / c->t.tiles), q0 = (int)(it % c->t.tiles) * A_TQ;
        int tq = c->Nq - q0 < A_TQ ? c->Nq - q0 : A_TQ;
        if (c->t.head[thread] != h) {
            pack_head(c, h, kt, vp);
            c->t.head[thread] = h;
        }
        const float *qh = c->q + (size_t)q0 * ld + (size_t)h * A_DH;
        for (int b = 0; b < c->nkb; b++)
            for (int g = 0; g < tq; g += A_R)
                mk(tq - g < A_R ? tq - g : A_R, qh + (size_t)g * ld, (size_t)ld, kt + (size_t)b * A_DH * A_KB, 0,
                   A_DH, NULL, S + (size_t)g * lds + (size_t)b * A_KB, (size_t)lds, scale);
        for (int i = 0; i < tq; i++)
            inv_sum[i] = ovx_softmax_row_unnormalised(S + (size_t)i * lds, Nk);
        float *oh = c->out + (size_t)q0 * ld + (size_t)h * A_DH;
        for (int j0 = 0; j0 < Nk; j0 += A_VB) {
            int last = Nk - j0 <= A_VB, j1 = last ? Nk : j0 + A_VB;
            for (int g = 0; g < tq; g += A_R) {
                float *og = O + (size_t)g * A_DH;
                mk(tq - g < A_R ? tq - g : A_R, S + (size_t)g * lds, (size_t)lds, vp, j0, j1, j0 ? og : NULL,
                   last ? oh + (size_t)g * ld : og, last ? (size_t)ld : A_DH, last ? inv_sum + g : one);
            }
        }
    }
}

int ovx_attn512(float *out, const float *q, const float *k, const float *v, int Nq, int Nk, int H, float scale,
                int threads)
{
    if (Nq <= 0 || Nk <= 0)
        return 0;
    int nkb = (Nk + A_KB - 1) / A_KB;
    a_ctx c = {out, q, k, v, Nq, Nk, H, nkb, nkb * A_KB, scale, {0}};
    /* kt, v rows, S tile, O tile: each a multiple of 16 floats (64 bytes). */
    size_t per_thread = (size_t)nkb * A_DH * A_KB + (size_t)Nk * A_DH + (size_t)A_TQ * c.lds + (size_t)A_TQ * A_DH;
    return ovx_attn_tiles_run(&c.t, Nq, A_TQ, H, threads, per_thread * sizeof(float), a_items, &c);
}

#else

int ovx_attn512(float *out, const float *q, const float *k, const float *v, int Nq, int Nk, int H, float scale,
                int threads)
{
    (void)out, (void)q, (void)k, (void)v, (void)Nq, (void)Nk, (void)H, (void)scale, (void)threads;
    return -1;
}

#endif
