/* kernels.h: C entry points of the CUDA kernels in kernels.cu. Each one has
 * the signature of the matching ovx_gpu_ops member (see gpu.h for shapes),
 * launches on g->stream and checks the launch. */
#ifndef OVX_CUDA_KERNELS_H
#define OVX_CUDA_KERNELS_H

#include "gpu.h"

#ifdef __cplusplus
extern "C" {
#endif

int ovx_cuda_k_to_bf16(ovx_gpu *g, const float *d_x, ovx_bf16 *d_y, size_t n);
int ovx_cuda_k_pack_rows_bf16(ovx_gpu *g, const float *d_x, ovx_bf16 *d_y, int rows, int k,
                              int kpad);
int ovx_cuda_k_fill_rows(ovx_gpu *g, float *d_y, const float *d_b, int rows, int cols);
int ovx_cuda_k_norm(ovx_gpu *g, const float *d_x, const float *d_w, const float *d_b, float eps,
                    int rows, int cols, float *d_y_f32, ovx_bf16 *d_y_bf16);
int ovx_cuda_k_bias_gelu(ovx_gpu *g, const float *d_h, const float *d_b, ovx_bf16 *d_y, int rows,
                         int cols);
int ovx_cuda_k_residual_add(ovx_gpu *g, float *d_x, const float *d_y, size_t n);
int ovx_cuda_k_rope_tables(ovx_gpu *g, const int32_t *d_pos, const double *d_inv, int n,
                           float *d_cos, float *d_sin);
int ovx_cuda_k_rope_apply(ovx_gpu *g, const float *d_x, const float *d_cos, const float *d_sin,
                          ovx_bf16 *d_y, int n, int heads);
int ovx_cuda_k_softmax_rows(ovx_gpu *g, const float *d_s, ovx_bf16 *d_p, int rows, int cols);

#ifdef __cplusplus
}
#endif

#endif
