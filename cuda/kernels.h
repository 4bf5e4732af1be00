/* kernels.h: C entry points of the CUDA kernels in kernels.cu,
 * attention.cu and attention_mma.cu. Each one has
 * the signature of the matching ovx_gpu_ops member (see gpu.h for shapes),
 * launches on g->stream and checks the launch. The same source is built
 * twice (cuda_compat.h): ovx_cuda_k_* by nvcc for the GPU (cuda_ops.c) and
 * ovx_host_k_* by the host C++ compiler on the CUDA-on-host shim
 * (host/host_ops.c), so tests run the kernel code the GPU runs. */
#ifndef OVX_CUDA_KERNELS_H
#define OVX_CUDA_KERNELS_H

#include "gpu.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OVX_KERNEL_DECLS(P)                                                                        \
    int P##to_bf16(ovx_gpu *g, const float *d_x, ovx_bf16 *d_y, size_t n);                        \
    int P##pack_rows_bf16(ovx_gpu *g, const float *d_x, ovx_bf16 *d_y, int rows, int k, int kpad); \
    int P##norm(ovx_gpu *g, const float *d_x, const float *d_w, const float *d_b, float eps,       \
                int rows, int cols, float *d_y_f32, ovx_bf16 *d_y_bf16);                           \
    int P##add_norm(ovx_gpu *g, float *d_x, const float *d_res, const float *d_w, const float *d_b, \
                    float eps, int rows, int cols, ovx_bf16 *d_y_bf16);                            \
    int P##bias_act(ovx_gpu *g, const float *d_h, const float *d_b, int epi, int rows, int cols,   \
                    float *d_y32, ovx_bf16 *d_y16);                                                \
    int P##residual_add(ovx_gpu *g, float *d_x, const float *d_y, size_t n);                       \
    int P##rope_tables(ovx_gpu *g, const int32_t *d_pos, const double *d_inv, int n,               \
                       float *d_cos, float *d_sin);                                                \
    int P##rope_qkv(ovx_gpu *g, const float *d_qkv, const float *d_cos, const float *d_sin,        \
                    ovx_bf16 *d_q, ovx_bf16 *d_k, ovx_bf16 *d_v, int n, int heads);                \
    int P##softmax_rows(ovx_gpu *g, const float *d_s, ovx_bf16 *d_p, float *d_inv, int rows,      \
                        int cols);                                                                 \
    int P##attention_out(ovx_gpu *g, const float *d_f, int f_ld, const float *d_inv,               \
                         ovx_bf16 *d_o, int o_ld, int rows, int heads);                            \
    int P##flash_attention(ovx_gpu *g, const ovx_bf16 *d_q, int q_ld, const ovx_bf16 *d_k,         \
                           const ovx_bf16 *d_v, int kv_ld, ovx_bf16 *d_o, int o_ld,                \
                           const int32_t *d_tiles, int ntiles, int heads, float scale);   \
    int P##flash_attention_mma(ovx_gpu *g, const ovx_bf16 *d_q, int q_ld, const ovx_bf16 *d_k,     \
                               const ovx_bf16 *d_v, int kv_ld, ovx_bf16 *d_o, int o_ld,            \
                               const int32_t *d_tiles, int ntiles, int heads, float scale);

OVX_KERNEL_DECLS(ovx_cuda_k_)
OVX_KERNEL_DECLS(ovx_host_k_)

#ifdef __cplusplus
}
#endif

#endif
