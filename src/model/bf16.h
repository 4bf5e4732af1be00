/* bf16.h: the matrix products of the CPU forward at `--precision bf16`:
 * inputs rounded to bf16 (round to nearest even), fp32 accumulation and
 * fp32 outputs, the numerics the CUDA path documents. Runs on oneDNN's
 * bf16 matmul (AVX512_BF16 / AMX when the CPU has them); a build without
 * oneDNN (-Ddnnl=disabled) reports bf16 as unavailable.
 *
 * Determinism: like the fp32 ops, rows are cut into fixed chunks (linear:
 * OVX_LINEAR_ROWS per sample; attention: OVX_ATTN_TILE queries per head),
 * each computed by one single-threaded oneDNN call, so results do not
 * depend on the thread count or on the other samples of a batch. */
#ifndef OVX_MODEL_BF16_H
#define OVX_MODEL_BF16_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct ovx_bf16_ctx ovx_bf16_ctx;
typedef struct ovx_bf16_weight ovx_bf16_weight;

/* 1 when this build and CPU can run the bf16 path; otherwise 0 with the
 * reason in why. */
int ovx_bf16_available(char *why, size_t why_len);

/* A context for up to `threads` threads (engine, streams, matmul plans,
 * bf16 scratch). */
int ovx_bf16_ctx_create(int threads, ovx_bf16_ctx **out, ovx_error *err);
void ovx_bf16_ctx_free(ovx_bf16_ctx *c);

/* w[O, In] float32 -> bf16 in the matmul's preferred layout. */
int ovx_bf16_weight_create(ovx_bf16_ctx *c, const float *w, int O, int In, ovx_bf16_weight **out, ovx_error *err);
void ovx_bf16_weight_free(ovx_bf16_weight *w);
/* Bytes held by a prepared weight. */
size_t ovx_bf16_weight_bytes(const ovx_bf16_weight *w);

/* out[groups*rows, O] = bf16(x) bf16(w)^T + b (b may be NULL), fp32
 * accumulation; chunks of OVX_LINEAR_ROWS rows restarting at each group. */
int ovx_bf16_linear_grouped(ovx_bf16_ctx *c, float *out, const float *x, const ovx_bf16_weight *w, const float *b,
                            int64_t groups, int64_t rows, int In, int O, int threads, ovx_error *err);

/* Attention of one sample, no mask, as ovx_op_attention with bf16 q, k, v
 * and bf16 probabilities in P.V: scores = scale * bf16(q) bf16(k)^T in fp32,
 * softmax in fp32, out = (bf16(exp(s - max)) bf16(v)) / rowsum in fp32. */
int ovx_bf16_attention(ovx_bf16_ctx *c, float *out, const float *q, const float *k, const float *v, int N, int H,
                       float scale, int threads, ovx_error *err);

/* dst[n] = bf16 bits of src[n], round to nearest even. */
void ovx_bf16_round_array(uint16_t *dst, const float *src, int64_t n);

#endif
