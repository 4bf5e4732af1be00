/* attn_bf16.c: the fused AVX512_BF16 attention (see attn_bf16.h), on the
 * shared item loop of attn_tiles.c (attn512.c's design, with vdpbf16ps:
 * each 32-bit word holds a pair of bf16 values, and one instruction adds
 * both products of a pair into the fp32 lane). This file's steps:
 *   pack   when an item's head differs from the thread's last one, the
 *          head's K and V are rounded to bf16 (ovx_f32_to_bf16_vec) and
 *          packed as bf16 pairs: K in blocks of KB = 64 keys with the pairs
 *          along head_dim adjacent per key, kp[block][d/2][64 keys][2] (the
 *          last block zero-padded), V in key pairs, vp[key/2][64 d][2] (an
 *          odd last key paired with zero). Loads in the kernels are
 *          contiguous; a K block is 8 KB.
 *   scores the item's q rows rounded to bf16 into the thread's own q pairs
 *          (pairs along head_dim); for each K block, for each group of
 *          R = 6 query rows: 6 x 64 scores in 24 zmm accumulators, d pairs
 *          0..31 in order, q's pair broadcast, then times scale.
 *   softmax ovx_softmax_row_bf16 on each row: bf16 P [TQ][lds] in the
 *          thread's own scratch (an odd row's pad key set to 0) and 1 / the
 *          sum of those bf16 values.
 *   P v    for each block of VB = 256 keys (128 key pairs), for each group of
 *          6 rows: 6 x 64 outputs in 24 zmm, key pairs in order, P's key
 *          pair broadcast. */
#include "model/attn_bf16.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/attn_tiles.h"
#include "model/kernel_pick.h"
#include "model/ops.h"
#include "model/vecmath.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define B_HAVE 1
#include <immintrin.h>
#define B_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16")))
#else
#define B_HAVE 0
#endif

#define B_KB OVX_ATTN_KB
#define B_TQ OVX_ATTN_TQ
#ifndef B_VB
#define B_VB 256 /* keys per P v block (V block: 32 KB) */
#endif
#define B_DH OVX_ATTN_DH
#define B_DP (B_DH / 2) /* bf16 pairs per q / k row */
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

/* The micro-kernel (attn_mk.h) on words that are bf16 pairs, vdpbf16ps
 * adding both products of a pair. Scores: a = q pairs, w = a K block, mul =
 * scale. P v: a = P key pairs, w = V key pairs, in = the partial-sum tile,
 * mul = 1, or 1/rowsum for the last block, which stores into the output
 * rows. */
/* a word of P or of the q pairs (memcpy: they were stored as uint16_t) */
static inline uint32_t load_word(const uint32_t *p)
{
    uint32_t x;
    memcpy(&x, p, sizeof x);
    return x;
}

#define MK_TARGET B_TARGET
#define MK_WORD uint32_t
#define MK_W __m512bh
#define MK_LOADW(p) ((__m512bh)_mm512_load_si512(p))
#define MK_BCAST(p) ((__m512bh)_mm512_set1_epi32((int)load_word(p)))
#define MK_MAC(acc, b, w) _mm512_dpbf16_ps(acc, b, w)
#include "model/attn_mk.h"

static inline uint32_t pair(uint16_t lo, uint16_t hi)
{
    return (uint32_t)lo | (uint32_t)hi << 16;
}

/* Head h's K blocks and V key pairs into kp, vp (see the top comment). */
static void pack_head(const ovx_attn_job *c, int h, void *kpv, void *vpv)
{
    uint32_t *kp = kpv, *vp = vpv;
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
    for (int p = 0; p < c->nkw; p++) {
        ovx_f32_to_bf16_vec(r0, c->v + (size_t)(2 * p) * ld + (size_t)h * B_DH, B_DH);
        if (2 * p + 1 < c->Nk)
            ovx_f32_to_bf16_vec(r1, c->v + (size_t)(2 * p + 1) * ld + (size_t)h * B_DH, B_DH);
        else
            memset(r1, 0, sizeof r1);
        for (int d = 0; d < B_DH; d++)
            vp[(size_t)p * B_DH + d] = pair(r0[d], r1[d]);
    }
}

/* The thread's own scratch: the P tile [TQ][lds] bf16, then the q pairs
 * [TQ][32] (each a multiple of 64 bytes: lds is a multiple of 64). */
static size_t own_bytes(int lds)
{
    return (size_t)B_TQ * lds * 2 + (size_t)B_TQ * B_DP * 4;
}

/* The item's q rows rounded to bf16: a row's 64 bf16 are its 32 pairs in
 * order. */
static const void *q_rows(const ovx_attn_job *c, int h, int q0, int tq, void *own, size_t *sa)
{
    int ld = c->H * B_DH;
    uint32_t *qp = (uint32_t *)((uint16_t *)own + (size_t)B_TQ * c->lds);
    for (int i = 0; i < tq; i++)
        ovx_f32_to_bf16_vec((uint16_t *)(qp + (size_t)i * B_DP), c->q + (size_t)(q0 + i) * ld + (size_t)h * B_DH,
                            B_DH);
    *sa = B_DP;
    return qp;
}

/* bf16 P rows (key pairs, lds / 2 per row) and 1 / their sums. */
static const void *softmax(const ovx_attn_job *c, float *S, int tq, void *own, float *inv_sum, size_t *sp)
{
    uint16_t *P = own;
    for (int i = 0; i < tq; i++) {
        inv_sum[i] = ovx_softmax_row_bf16(S + (size_t)i * c->lds, P + (size_t)i * c->lds, c->Nk);
        if (c->Nk & 1)
            P[(size_t)i * c->lds + c->Nk] = 0;
    }
    *sp = (size_t)c->lds / 2;
    return P;
}

static const ovx_attn_kernel kernel = {2, B_VB / 2, mk, pack_head, q_rows, softmax, own_bytes};

int ovx_attn_bf16(float *out, const float *q, const float *k, const float *v, int Nq, int Nk, int H, float scale,
                  int threads)
{
    return ovx_attn_run(&kernel, out, q, k, v, Nq, Nk, H, scale, threads);
}

#else

int ovx_attn_bf16(float *out, const float *q, const float *k, const float *v, int Nq, int Nk, int H, float scale,
                  int threads)
{
    (void)out, (void)q, (void)k, (void)v, (void)Nq, (void)Nk, (void)H, (void)scale, (void)threads;
    return -1;
}

#endif
