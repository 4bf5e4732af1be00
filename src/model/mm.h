/* mm.h: the CPU forward's matrix products on oneDNN (its AVX-512 / AVX512_BF16
 * / AMX matmul kernels), in two precisions:
 *   fp32  x and w as they are, fp32 accumulation (the default forward);
 *   bf16  inputs rounded to bf16 (round to nearest even), fp32 accumulation
 *         and fp32 outputs: the numerics the CUDA path documents.
 * A build without oneDNN (-Ddnnl=disabled) reports it unavailable and the
 * forward uses OpenBLAS sgemm instead.
 *
 * Determinism: rows are cut into fixed chunks (linear: OVX_LINEAR_ROWS per
 * sample; attention: OVX_ATTN_TILE queries per head), each computed by one
 * single-threaded oneDNN call, so results do not depend on the thread count
 * or on the other samples of a batch. */
#ifndef OVX_MODEL_MM_H
#define OVX_MODEL_MM_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct ovx_mm ovx_mm;
typedef struct ovx_mm_weight ovx_mm_weight;

/* 1 when this build has oneDNN (fp32 matmuls); otherwise 0 and why. */
int ovx_mm_available(char *why, size_t why_len);
/* 1 when the bf16 path can run too (a CPU with AVX512_BF16 or AMX-BF16). */
int ovx_mm_bf16_available(char *why, size_t why_len);

/* A context for up to `threads` threads (engine, streams, matmul plans,
 * scratch). */
int ovx_mm_create(int threads, ovx_mm **out, ovx_error *err);
void ovx_mm_free(ovx_mm *c);

/* w[O, In] float32 -> bf16 (RNE) in the matmul's preferred layout. */
int ovx_mm_weight_create(ovx_mm *c, const float *w, int O, int In, ovx_mm_weight **out, ovx_error *err);
void ovx_mm_weight_free(ovx_mm_weight *w);
size_t ovx_mm_weight_bytes(const ovx_mm_weight *w);

/* What a linear layer does with x w^T + b (its epilogue), applied to each
 * chunk's rows as soon as they are computed, while they are in cache. */
typedef enum ovx_lin_epi_kind {
    OVX_LIN_PLAIN, /* out = x w^T + b */
    OVX_LIN_GELU, /* out = gelu_erf(x w^T + b) */
    OVX_LIN_ADD,  /* out = out + (x w^T + b): a residual add */
} ovx_lin_epi_kind;

typedef struct ovx_epilogue {
    ovx_lin_epi_kind kind;
    /* then, when set, fn(ctx, y, rows) on the chunk's output rows y[rows, O]
     * (same thread; RoPE on q and k) */
    void (*fn)(void *ctx, float *y, int64_t rows);
    void *ctx;
} ovx_epilogue;

/* out[groups*rows, O] = x w^T + b (b may be NULL), then epi (NULL: none),
 * chunks of OVX_LINEAR_ROWS rows restarting at each group: fp32 from w[O, In]
 * when wb is NULL, else bf16(x) wb^T with fp32 accumulation. GELU and the
 * residual add are oneDNN post-ops (in registers). */
int ovx_mm_linear(ovx_mm *c, float *out, const float *x, const float *w, const ovx_mm_weight *wb, const float *b,
                  const ovx_epilogue *epi, int64_t groups, int64_t rows, int In, int O, int threads, ovx_error *err);

/* Attention of one sample, no mask, as ovx_op_attention: scores = scale *
 * q k^T, softmax in fp32, out = (exp(s - max) v) / rowsum. bf16: q, k, v
 * and the probabilities rounded to bf16 before their products, the softmax
 * the CUDA path's (ovx_softmax_row_bf16). Runs the
 * fused kernels where the CPU has them (fp32: attn512.h on AVX-512F; bf16:
 * attn_bf16.h on AVX512_BF16; OVX_NO_AVX512=1 turns both off), else oneDNN
 * matmuls on OVX_ATTN_TILE-query tiles; the two differ only in the order of
 * the fp32 sums. */
int ovx_mm_attention(ovx_mm *c, int bf16, float *out, const float *q, const float *k, const float *v, int N, int H,
                     float scale, int threads, ovx_error *err);

#endif
