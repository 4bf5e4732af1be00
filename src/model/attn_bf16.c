/* attn_bf16.c: the fused AVX512_BF16 attention (see attn_bf16.h).
 *
 * Design (attn512.c's, with vdpbf16ps: each 32-bit lane holds a pair of
 * bf16 values, and one instruction adds both products of a pair into the
 * fp32 lane). Work item = (head h, tile of TQ queries); items are
 * independent and each one's arithmetic is fixed, so outputs do not depend
 * on the thread count or on which thread runs an item. Per thread:
 *   pack   when an item's head differs from the thread's last one, the
 *          head's K and V are rounded to bf16 (ovx_f32_to_bf16_vec) and
 *          packed as bf16 pairs: K in blocks of KB = 64 keys with the pairs
 *          along head_dim adjacent per key, kp[block][d/2][64 keys][2] (the
 *          last block zero-padded), V in key pairs, vp[key/2][64 d][2] (an
 *          odd last key paired with zero). Loads in the kernels are
 *          contiguous; a K block is 8 KB.
 *   scores the item's q rows rounded to bf16 (pairs along head_dim); for
 *          each K block, for each group of R = 6 query rows: 6 x 64 scores
 *          in 24 zmm accumulators, d pairs 0..31 in order, q's pair
 *          broadcast, then times scale. S tile [TQ][lds] fp32, lds = keys
 *          rounded up to 64.
 *   softmax ovx_softmax_row_bf16 on each row: bf16 P [TQ][lds] (an odd
 *          row's pad key set to 0) and 1 / the sum of those bf16 values.
 *   P v    for each block of VB keys, for each group of 6 rows: 6 x 64
 *          outputs in 24 zmm, key pairs in order, P's key pair broadcast;
 *          partial sums kept in an fp32 tile between key blocks (an exact
 *          store and reload, so each output is one chain over the key pairs
 *          0..Nk/2); the last block's results times 1/rowsum go straight
 *          into out. */
#include "model/attn_bf16.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/attn_tiles.h"
#include "model/kernel_pick.h"
#include "model/ops.h"
#include "model/parallel.h"
#include "model/vecmath.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define B_HAVE 1
#include <immintrin.h>
#define B_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16")))
#else
#define B_HAVE 0
#endif

#ifndef B_TQ
#define B_TQ 48  /* queries per work item */
#endif
#define B_R 6    /* query rows per micro-kernel call */
#define B_KB 64  /* keys per packed K block (score kernel width) */
#ifndef B_VB
#define B_VB 256 /* keys per P v block (V block: 32 KB) */
#endif
#define B_DH OVX_HEAD_DIM
#define B_DP (B_DH / 2) /* bf16 pairs per q / k row */
_Static_assert(B_KB == 64 && B_DH == 64, "mk_rows reads w rows of 64 lanes");
_Static_assert(B_VB % 64 == 0, "P v blocks end on whole key pairs of the S tile");

static int cpu_has_bf16(void)
{
#if B_HAVE
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

static ovx_kernel_pick pick = OVX_KERNEL_PICK_INIT(cpu_has_bf16);

void ovx_attn_bf16_force(int on)
{
    ovx_kernel_pick_force(&pick, on);
}

int ovx_attn_bf16_available(void)
{
    return ovx_kernel_pick_on(&pick);
}

#if B_HAVE

typedef struct b_ctx {
    float *out;
    const float *q, *k, *v;
    int Nq, Nk, H, nkb, lds, npairs;
    float scale;
    ovx_attn_tiles t; /* items, per-thread scratch and packed head */
} b_ctx;

/* The one micro-kernel of both products, for R rows (R <= 6) x 64 columns:
 * acc[i][.] = (in ? in[i][.] : 0) + sum_{t0 <= t < t1} a[i][t] . w[t][.]
 * where a[i][t] and w[t][c] are bf16 pairs (32-bit words; rows of a at
 * stride sa words, of w at 64 words, of in at 64 floats) and "." adds both
 * products of a pair (vdpbf16ps), one chain per output in t order, in 24 zmm
 * accumulators; then o[i][.] = acc[i][.] * mul[i] (rows at stride so).
 * Scores: a = q pairs, w = a K block, mul = scale. P v: a = P key pairs,
 * w = V key pairs, in = the partial-sum tile, mul = 1, or 1/rowsum for the
 * last block, which stores into the output rows. */
static inline __attribute__((always_inline)) B_TARGET void mk_rows(int R, const uint32_t *a, size_t sa,
                                                                   const uint32_t *w, int t0, int t1,
                                                                   const float *in, float *o, size_t so,
                                                                   const float *mul)
{
    __m512 acc[B_R][4];
#pragma GCC unroll 6
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            acc[i][c] = in ? _mm512_load_ps(in + i * B_DH + 16 * c) : _mm512_setzero_ps();
    for (int t = t0; t < t1; t++) {
        const uint32_t *wr = w + (size_t)t * 64;
        __m512bh w0 = (__m512bh)_mm512_load_si512(wr), w1 = (__m512bh)_mm512_load_si512(wr + 16);
        __m512bh w2 = (__m512bh)_mm512_load_si512(wr + 32), w3 = (__m512bh)_mm512_load_si512(wr + 48);
#pragma GCC unroll 6
        for (int i = 0; i < R; i++) {
            uint32_t ab; /* memcpy: P and q were stored as uint16_t */
            memcpy(&ab, a + i * sa + t, sizeof ab);
            __m512bh b = (__m512bh)_mm512_set1_epi32((int)ab);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], b, w0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], b, w1);
            acc[i][2] = _mm512_dpbf16_ps(acc[i][2], b, w2);
            acc[i][3] = _mm512_dpbf16_ps(acc[i][3], b, w3);
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
B_TARGET static void mk(int r, const uint32_t *a, size_t sa, const uint32_t *w, int t0, int t1, const float *in,
                        float *o, size_t so, const float *mul)
{
#define B_MK(R) mk_rows(R, a, sa, w, t0, t1, in, o, so, mul)
    switch (r) {
    case 6: B_MK(6); break;
    case 5: B_MK(5); break;
    case 4: B_MK(4); break;
    case 3: B_MK(3); break;
    case 2: B_MK(2); break;
    default: B_MK(1); break;
    }
#undef B_MK
}

static inline uint32_t pair(uint16_t lo, uint16_t hi)
{
    return (uint32_t)lo | (uint32_t)hi << 16;
}

/* Head h's K blocks and V key pairs into kp, vp (see the top comment). */
static void pack_head(const b_ctx *c, int h, uint32_t *kp, uint32_t *vp)
{
    int ld = c->H * B_DH;
    uint16_t r0[B_DH], r1[B_DH];
    for (int b = 0; b < c->nkb; b++) {
        uint32_t *blk = kp + (size_t)b * B_DP * B_KB;
        int n = c->Nk - b * B_KB < B_KB ? c->Nk - b * B_KB : B_KB;
        if (n < B_KB)
            memset(blk, 0, (size_t)B_DP * B_KB * sizeof *blk);
        for (int j = 0; j < n; j++) {
            ovx_f32_to_bf16_vec(r0, c->k + (size_t)(b * B_KB + j) * ld + (size_t)h * B_DH, B_DH);
            for (int d = 0; d < B_DP; d++)
                blk[d * B_KB + j] = pair(r0[2 * d], r0[2 * d + 1]);
        }
    }
    for (int p = 0; p < c->npairs; p++) {
        ovx_f32_to_bf16_vec(r0, c->v + (size_t)(2 * p) * ld + (size_t)h * B_DH, B_DH);
        if (2 * p + 1 < c->Nk)
            ovx_f32_to_bf16_vec(r1, c->v + (size_t)(2 * p + 1) * ld + (size_t)h * B_DH, B_DH);
        else
            memset(r1, 0, sizeof r1);
        for (int d = 0; d < B_DH; d++)
            vp[(size_t)p * B_DH + d] = pair(r0[d], r1[d]);
    }
}

B_TARGET static void b_items(void *p, int64_t i0, int64_t i1, int thread)
{
    const b_ctx *c = p;
    int ld = c->H * B_DH, lds = c->lds, Nk = c->Nk;
    /* kp, vp, S, P, O, q pairs: each a multiple of 64 bytes (a V pair row is
     * 256 bytes, lds a multiple of 64). */
    uint32_t *kp = ovx_attn_tiles_scratch(&c->t, thread);
    uint32_t *vp = kp + (size_t)c->nkb * B_DP * B_KB;
    float *S = (float *)(vp + (size_t)c->npairs * B_DH);
    uint16_t *P = (uint16_t *)(S + (size_t)B_TQ * lds);
    float *O = (float *)(P + (size_t)B_TQ * lds);
    uint32_t *qp = (uint32_t *)(O + (size_t)B_TQ * B_DH);
    float scale[B_R], one[B_R], inv_sum[B_TQ];
    for (int i = 0; i < B_R; i++) {
        scale[i] = c->scale;
        one[i] = 1.0f;
    }
    for (int64_t it = i0; it < i1; it++) {
        int h = (int)(it / c->t.tiles), q0 = (int)(it % c->t.tiles) * B_TQ;
        int tq = c->Nq - q0 < B_TQ ? c->Nq - q0 : B_TQ;
        if (c->t.head[thread] != h) {
            pack_head(c, h, kp, vp);
            c->t.head[thread] = h;
        }
        for (int i = 0; i < tq; i++) /* a row's 64 bf16 are its 32 pairs in order */
            ovx_f32_to_bf16_vec((uint16_t *)(qp + (size_t)i * B_DP),
                                c->q + (size_t)(q0 + i) * ld + (size_t)h * B_DH, B_DH);
        for (int b = 0; b < c->nkb; b++)
            for (int g = 0; g < tq; g += B_R)
                mk(tq - g < B_R ? tq - g : B_R, qp + (size_t)g * B_DP, B_DP, kp + (size_t)b * B_DP * B_KB, 0,
                   B_DP, NULL, S + (size_t)g * lds + (size_t)b * B_KB, (size_t)lds, scale);
        for (int i = 0; i < tq; i++) {
            inv_sum[i] = ovx_softmax_row_bf16(S + (size_t)i * lds, P + (size_t)i * lds, Nk);
            if (Nk & 1)
                P[(size_t)i * lds + Nk] = 0;
        }
        const uint32_t *Pp = (const uint32_t *)P; /* key pairs, lds / 2 per row */
        float *oh = c->out + (size_t)q0 * ld + (size_t)h * B_DH;
        for (int j0 = 0; j0 < c->npairs; j0 += B_VB / 2) {
            int last = c->npairs - j0 <= B_VB / 2, j1 = last ? c->npairs : j0 + B_VB / 2;
            for (int g = 0; g < tq; g += B_R) {
                float *og = O + (size_t)g * B_DH;
                mk(tq - g < B_R ? tq - g : B_R, Pp + (size_t)g * (lds / 2), (size_t)lds / 2, vp, j0, j1,
                   j0 ? og : NULL, last ? oh + (size_t)g * ld : og, last ? (size_t)ld : B_DH,
                   last ? inv_sum + g : one);
            }
        }
    }
}

int ovx_attn_bf16(float *out, const float *q, const float *k, const float *v, int Nq, int Nk, int H, float scale,
                  int threads)
{
    if (Nq <= 0 || Nk <= 0)
        return 0;
    int nkb = (Nk + B_KB - 1) / B_KB;
    b_ctx c = {out, q, k, v, Nq, Nk, H, nkb, nkb * B_KB, (Nk + 1) / 2, scale, {0}};
    size_t per_thread = (size_t)nkb * B_DP * B_KB * 4 + (size_t)c.npairs * B_DH * 4 + (size_t)B_TQ * c.lds * (4 + 2) +
                        (size_t)B_TQ * B_DH * 4 + (size_t)B_TQ * B_DP * 4;
    return ovx_attn_tiles_run(&c.t, Nq, B_TQ, H, threads, per_thread, b_items, &c);
}

#else

int ovx_attn_bf16(float *out, const float *q, const float *k, const float *v, int Nq, int Nk, int H, float scale,
                  int threads)
{
    (void)out, (void)q, (void)k, (void)v, (void)Nq, (void)Nk, (void)H, (void)scale, (void)threads;
    return -1;
}

#endif
