/* ops.h: the operators of the OneVision Encoder forward on the CPU, one
 * function per op, float32, row-major. Shapes use T = tokens (rows), D =
 * hidden, F = intermediate, H = heads, Dh = head_dim = 64, K = C*P*P.
 * The CUDA backend (cuda/) mirrors these names and semantics op for op. */
#ifndef OVX_MODEL_OPS_H
#define OVX_MODEL_OPS_H

#include <stdint.h>

#include "model/weights.h"

#define OVX_HEAD_DIM 64
#define OVX_ROPE_HALF 32
/* Query rows per attention tile (scratch per thread: tile x keys floats). */
#define OVX_ATTN_TILE 256

/* Rows per sgemm call in ovx_op_linear (fixed, so results do not depend on
 * the thread count; OpenBLAS itself runs single-threaded in the forward). */
#define OVX_LINEAR_ROWS 256

/* ovx_op_linear on groups x rows rows (B samples of N tokens), with chunks
 * restarting at each group so a sample's result does not depend on the
 * batch it is in. */
void ovx_op_linear_grouped(float *out, const float *x, const float *w, const float *b, int64_t groups,
                           int64_t rows, int In, int O, int threads);

/* out[B*N,D] = patches[B*N,K] @ w[D,K]^T (the 14x14 stride-14 conv, no bias). */
void ovx_op_patch_embed(float *out, const float *patches, const float *w, int B, int N, int D, int K, int threads);

/* out[T,O] = x[T,In] @ w[O,In]^T + b[O] (b may be NULL). out != x.
 * Rows are cut into OVX_LINEAR_ROWS chunks spread over the threads. */
void ovx_op_linear(float *out, const float *x, const float *w, const float *b, int64_t T, int In, int O,
                   int threads);

/* out[T,O] += x[T,In] @ w[O,In]^T + b[O] (b may be NULL; a residual add
 * fused into the linear layer): b is added to out, then one single-threaded
 * sgemm with beta = 1. */
void ovx_op_linear_add(float *out, const float *x, const float *w, const float *b, int64_t T, int In, int O);

/* out[T,D] = (x - mean) / sqrt(var + eps) * w + b per row (biased variance).
 * out may equal x. */
void ovx_op_layernorm(float *out, const float *x, const float *w, const float *b, int64_t T, int D, float eps,
                      int threads);

/* out[T,D] = x / sqrt(mean(x^2) + eps) * w per row. out may equal x. */
void ovx_op_rmsnorm(float *out, const float *x, const float *w, int64_t T, int D, float eps);

/* x[n] = 0.5 x (1 + erf(x / sqrt 2)), in place. */
void ovx_op_gelu_erf(float *x, int64_t n, int threads);

/* x[n] += y[n]. */
void ovx_op_residual_add(float *x, const float *y, int64_t n, int threads);

/* cos_t[T,64], sin_t[T,64] from pos[T,3] = (t,h,w): freq[32] =
 * [t*theta^(-j/8) j<8, h*theta^(-j/12) j<12, w*theta^(-j/12) j<12],
 * angle = concat(freq, freq). Angles, cos and sin are computed in double and
 * rounded to float (a GPU backend can build the tables on the host once per
 * forward and upload them). */
void ovx_op_rope3d_tables(float *cos_t, float *sin_t, const int32_t *pos, int64_t T, double theta);

/* x[T, H*64] per head: x'[k] = x[k] cos[k] + r[k] sin[k] with the interleaved
 * partner r[2i] = -x[2i+1], r[2i+1] = x[2i]. In place. */
void ovx_op_rope3d_apply(float *x, const float *cos_t, const float *sin_t, int64_t T, int H, int threads);
/* The same on `rows` rows in the calling thread (cos_t, sin_t at those
 * rows' entries): the epilogue of the q and k projections. */
void ovx_op_rope3d_rows(float *x, const float *cos_t, const float *sin_t, int64_t rows, int H);

/* Multi-head attention of one sample, no mask:
 * out[Nq, H*64] = softmax(q k^T * scale) v per head, q[Nq, H*64],
 * k[Nk, H*64], v[Nk, H*64]. Tiled over OVX_ATTN_TILE queries: a tile's
 * scores [tile, Nk] are the only score storage (per thread); the fused
 * AVX-512 kernel (attn512.h) where the CPU has it. fp32 only: the bf16
 * attention is ovx_mm_attention's (mm.h). Returns 0, or -1 when the scratch
 * cannot be allocated. */
int ovx_op_attention(float *out, const float *q, const float *k, const float *v, int Nq, int Nk, int H,
                     float scale, int threads);

/* Attention-pooling head of one sample: x[N,D] (post-norm tokens) ->
 * out[D]: a = MHA(probe, x, x) (in_proj q,k,v; out_proj; no RoPE),
 * out = a + fc2(gelu(fc1(rmsnorm(a)))) (forward passes eps = 1e-6 as the
 * spec fixes it). scratch: 2*N*D + 3*D + F floats.
 * Returns 0, or -1 when out of memory. */
int ovx_op_attention_pool(float *out, const float *x, const ovx_head_weights *hw, int N, int D, int F, int H,
                          float eps, float *scratch, int threads);
/* The same with k and v already in scratch[0, N*D) and scratch[N*D, 2*N*D)
 * (the keys and values of in_proj, computed by the caller). */
int ovx_op_attention_pool_kv(float *out, const ovx_head_weights *hw, int N, int D, int F, int H, float eps,
                             float *scratch, int threads);

#endif
