/* attn512.h: fused fp32 multi-head attention (head dim 64) on AVX-512F
 * register-blocked micro-kernels, used by ovx_op_attention and the fp32
 * ovx_mm_attention when the CPU has AVX-512F; other CPUs keep the sgemm /
 * oneDNN path. Same contract as ovx_op_attention (ops.h). */
#ifndef OVX_MODEL_ATTN512_H
#define OVX_MODEL_ATTN512_H

/* 1 when ovx_attn512 runs here: the CPU has AVX-512F, OVX_NO_AVX512 is unset
 * (or "0"), and ovx_attn512_force has not switched it off. */
int ovx_attn512_available(void);

/* Tests: 0 switches the fused kernel off (fallback path), 1 on (where the
 * CPU has it), anything else goes back to the run-time choice. */
void ovx_attn512_force(int on);

/* out[Nq, H*64] = softmax(q k^T * scale) v per head, q[Nq, H*64],
 * k[Nk, H*64], v[Nk, H*64]; call only when ovx_attn512_available().
 * Each output depends only on the inputs, never on the thread count.
 * Returns 0, or -1 when the scratch cannot be allocated. */
int ovx_attn512(float *out, const float *q, const float *k, const float *v, int Nq, int Nk, int H, float scale,
                int threads);

#endif
