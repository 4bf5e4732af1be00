/* attn512.c: the fused AVX-512 fp32 attention (see attn512.h), on the
 * shared item loop of attn_tiles.c. Work item = (head h, tile of TQ
 * queries); items are independent and each one's arithmetic is fixed, so
 * outputs do not depend on the thread count or on which thread runs an
 * item. This file's steps:
 *   pack   when an item's head differs from the thread's last one, the
 *          head's K is copied transposed into blocks of KB = 64 keys,
 *          kt[block][d][64] (the last block zero-padded), and V into
 *          contiguous rows v[key][64]: loads in the kernels are contiguous
 *          and a K block (16 KB) stays in L1. A copy, no arithmetic.
 *   scores for each K block, for each group of R = 6 query rows (read from
 *          the input rows): 6 x 64 scores in 24 zmm accumulators, sum over
 *          d = 0..63 in order with FMA, then times scale (sgemm's alpha).
 *   softmax ovx_softmax_row_unnormalised on each row of the S tile
 *          (vecmath's exp, the same function of the scores as the sgemm
 *          path); P is S itself.
 *   P v    for each block of VB = 128 keys, for each group of 6 rows: 6 x 64
 *          outputs in 24 zmm, keys in order with FMA. */
#include "model/attn512.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/attn_tiles.h"
#include "model/kernel_pick.h"
#include "model/ops.h"
#include "model/vecmath.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define A_HAVE_512 1
#include <immintrin.h>
#define A_TARGET __attribute__((target("avx512f")))
#else
#define A_HAVE_512 0
#endif

#define A_KB OVX_ATTN_KB
#define A_DH OVX_ATTN_DH
#ifndef A_VB
#define A_VB 128 /* keys per P v block (V block: 32 KB) */
#endif

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

/* The micro-kernel (attn_mk.h) on fp32 words with FMA. Scores: a = q rows,
 * w = a K^T block, mul = scale. P v: a = P rows, w = V rows, in = the
 * partial-sum tile, mul = 1, or 1/rowsum for the last block, which stores
 * into the output rows. */
#define MK_TARGET A_TARGET
#define MK_WORD float
#define MK_W __m512
#define MK_LOADW(p) _mm512_load_ps(p)
#define MK_BCAST(p) _mm512_set1_ps(*(p))
#define MK_MAC(acc, b, w) _mm512_fmadd_ps(b, w, acc)
#include "model/attn_mk.h"

/* Head h's K^T blocks and V rows into kt, vp (see the top comment). */
static void pack_head(const ovx_attn_job *c, int h, void *ktv, void *vpv)
{
    float *kt = ktv, *vp = vpv;
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

/* The q rows of the item straight from the input. */
static const void *q_rows(const ovx_attn_job *c, int h, int q0, int tq, void *own, size_t *sa)
{
    (void)tq, (void)own;
    *sa = (size_t)c->H * A_DH;
    return c->q + (size_t)q0 * *sa + (size_t)h * A_DH;
}

/* Each row's exp in place, P = S. */
static const void *softmax(const ovx_attn_job *c, float *S, int tq, void *own, float *inv_sum, size_t *sp)
{
    (void)own;
    for (int i = 0; i < tq; i++)
        inv_sum[i] = ovx_softmax_row_unnormalised(S + (size_t)i * c->lds, c->Nk);
    *sp = (size_t)c->lds;
    return S;
}

static const ovx_attn_kernel kernel = {1, A_VB, mk, pack_head, q_rows, softmax, NULL};

int ovx_attn512(float *out, const float *q, const float *k, const float *v, int Nq, int Nk, int H, float scale,
                int threads)
{
    return ovx_attn_run(&kernel, out, q, k, v, Nq, Nk, H, scale, threads);
}

#else

int ovx_attn512(float *out, const float *q, const float *k, const float *v, int Nq, int Nk, int H, float scale,
                int threads)
{
    (void)out, (void)q, (void)k, (void)v, (void)Nq, (void)Nk, (void)H, (void)scale, (void)threads;
    return -1;
}

#endif
