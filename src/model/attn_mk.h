/* attn_mk.h: the one micro-kernel body of the fused attentions (attn512.c,
 * attn_bf16.c), for R <= 6 rows x 64 columns in 24 zmm accumulators (the
 * contract is ovx_attn_kernel.mk, attn_tiles.h). A kernel file defines
 *   MK_TARGET          the function attribute of its ISA
 *   MK_WORD            its word type (float, or uint32_t for a bf16 pair)
 *   MK_W               the vector type of 16 words of w
 *   MK_LOADW(p)        16 words of w at p (64-byte aligned)
 *   MK_BCAST(p)        the word at p in every lane
 *   MK_MAC(acc, b, w)  acc + the products of b and w, lane by lane
 * and then includes this header once, which defines mk_rows and mk. */
#ifndef OVX_MODEL_ATTN_MK_H
#define OVX_MODEL_ATTN_MK_H

#include <immintrin.h>
#include <stddef.h>

#include "model/attn_tiles.h"

/* acc[i][.] = (in ? in[i][.] : 0) + sum_{t0 <= t < t1} a[i][t] w[t][.]
 * (rows of a at stride sa words, of w at 64 words, of in at 64 floats), one
 * chain per output in t order; then o[i][.] = acc[i][.] * mul[i] (rows at
 * stride so). */
static inline __attribute__((always_inline)) MK_TARGET void mk_rows(int R, const MK_WORD *a, size_t sa,
                                                                    const MK_WORD *w, int t0, int t1,
                                                                    const float *in, float *o, size_t so,
                                                                    const float *mul)
{
    __m512 acc[OVX_ATTN_R][4];
#pragma GCC unroll 6
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            acc[i][c] = in ? _mm512_load_ps(in + i * OVX_ATTN_DH + 16 * c) : _mm512_setzero_ps();
    for (int t = t0; t < t1; t++) {
        const MK_WORD *wr = w + (size_t)t * 64;
        MK_W w0 = MK_LOADW(wr), w1 = MK_LOADW(wr + 16), w2 = MK_LOADW(wr + 32), w3 = MK_LOADW(wr + 48);
#pragma GCC unroll 6
        for (int i = 0; i < R; i++) {
            MK_W b = MK_BCAST(a + i * sa + t);
            acc[i][0] = MK_MAC(acc[i][0], b, w0);
            acc[i][1] = MK_MAC(acc[i][1], b, w1);
            acc[i][2] = MK_MAC(acc[i][2], b, w2);
            acc[i][3] = MK_MAC(acc[i][3], b, w3);
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

/* ovx_attn_kernel.mk: mk_rows for r rows, with r a compile-time constant in
 * each case. */
MK_TARGET static void mk(int r, const void *av, size_t sa, const void *wv, int t0, int t1, const float *in, float *o,
                         size_t so, const float *mul)
{
    const MK_WORD *a = av, *w = wv;
#define MK_ROWS(R) mk_rows(R, a, sa, w, t0, t1, in, o, so, mul)
    switch (r) {
    case 6: MK_ROWS(6); break;
    case 5: MK_ROWS(5); break;
    case 4: MK_ROWS(4); break;
    case 3: MK_ROWS(3); break;
    case 2: MK_ROWS(2); break;
    default: MK_ROWS(1); break;
    }
#undef MK_ROWS
}

#endif
