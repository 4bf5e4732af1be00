/* attn_bf16.h: fused bf16 multi-head attention (head dim 64) on AVX512_BF16
 * (vdpbf16ps) register-blocked micro-kernels, used by the bf16
 * ovx_mm_attention (--precision bf16) when the CPU has AVX512_BF16; other
 * CPUs keep the oneDNN path. Same numerics as that path: q, k, v rounded to
 * bf16 (RNE), scores in fp32 times scale, ovx_softmax_row_bf16 (the CUDA
 * path's base-2 softmax: bf16 probabilities, 1 / the sum of the rounded
 * ones), P v accumulated in fp32, times 1 / sum; only the order of the fp32
 * sums differs. */
#ifndef OVX_MODEL_ATTN_BF16_H
#define OVX_MODEL_ATTN_BF16_H

/* 1 when ovx_attn_bf16 runs here: the CPU has AVX-512F/BW and AVX512_BF16,
 * OVX_NO_AVX512 is unset (or "0"), and ovx_attn_bf16_force has not switched
 * it off. */
int ovx_attn_bf16_available(void);

/* Tests: 0 switches the fused kernel off (fallback path), 1 on (where the
 * CPU has it), anything else goes back to the run-time choice. */
void ovx_attn_bf16_force(int on);

/* out[Nq, H*64] = softmax(bf16(q) bf16(k)^T * scale) bf16(v) per head (the
 * probabilities rounded to bf16 before the product), q[Nq, H*64],
 * k[Nk, H*64], v[Nk, H*64]; call only when ovx_attn_bf16_available().
 * Each output depends only on the inputs, never on the thread count.
 * Returns 0, or -1 when the scratch cannot be allocated. */
int ovx_attn_bf16(float *out, const float *q, const float *k, const float *v, int Nq, int Nk, int H, float scale,
                  int threads);

#endif
