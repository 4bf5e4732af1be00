/* kernels.cu: the CUDA kernels of the forward (everything that is not a
 * GEMM): bf16 conversion, patch packing, LayerNorm/RMSNorm, the GEMM
 * epilogues as a pass (bias, tanh GELU: when cuBLASLt cannot fuse them),
 * residual add, 3D RoPE tables and the q/k rotation + split, unnormalised
 * row softmax and the attention output's 1/rowsum.
 * Per-element math comes from numerics.h (shared with the host emulation);
 * reductions are in float32. Shapes: see gpu.h. Built by nvcc and, through
 * cuda_compat.h, by the host C++ compiler on the CUDA-on-host shim. */
#include <stdio.h>

#include "cuda_compat.h"

#include "kernels.h"
#include "numerics.h"

#define THREADS 256
#define ROW_THREADS 256

static unsigned grid_for(size_t n)
{
    size_t b = (n + THREADS - 1) / THREADS;
    if (b > 65535u * 16u)
        b = 65535u * 16u;
    return b ? (unsigned)b : 1u;
}

#define STREAM(g) ((cudaStream_t)(g)->stream)
#define GRID_STRIDE(i, n) \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (size_t)gridDim.x * blockDim.x)

/* Sum of v over the block (blockDim.x a multiple of 32, <= 1024); every
 * thread gets the result. */
__device__ static float block_sum(float v, float *shared32)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    __syncthreads();
    if (lane == 0)
        shared32[warp] = v;
    __syncthreads();
    int nw = blockDim.x >> 5;
    v = lane < nw ? shared32[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ static float block_max(float v, float *shared32)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    __syncthreads();
    if (lane == 0)
        shared32[warp] = v;
    __syncthreads();
    int nw = blockDim.x >> 5;
    v = lane < nw ? shared32[lane] : -INFINITY;
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* x [n] f32 -> y [n] bf16 */
__global__ void k_to_bf16(const float *x, uint16_t *y, size_t n)
{
    GRID_STRIDE(i, n)
    y[i] = ovx_nx_to_bf16(x[i]);
}

/* x [rows, k] f32 -> y [rows, kpad] bf16, zero padded */
__global__ void k_pack_rows_bf16(const float *x, uint16_t *y, int rows, int k, int kpad)
{
    size_t n = (size_t)rows * kpad;
    GRID_STRIDE(i, n) {
        size_t r = i / kpad;
        int c = (int)(i % kpad);
        y[i] = c < k ? ovx_nx_to_bf16(x[r * k + c]) : (uint16_t)0;
    }
}

/* one block per row of x [rows, cols]: LayerNorm (b != NULL) or RMSNorm;
 * with res: x += res first (written back to x_out = x), then the norm of
 * the sum (each thread reads back only the columns it wrote) */
__global__ void k_norm(const float *x, const float *res, float *x_out, const float *w,
                       const float *b, float eps, int cols, float *y32, uint16_t *y16)
{
    __shared__ float red[32];
    const size_t row0 = (size_t)blockIdx.x * cols;
    const float *xr = x + row0;
    if (res) {
        for (int c = threadIdx.x; c < cols; c += blockDim.x)
            x_out[row0 + c] = xr[c] + res[row0 + c];
        xr = x_out + row0;
    }
    float mean = 0.0f;
    if (b) {
        float s = 0.0f;
        for (int c = threadIdx.x; c < cols; c += blockDim.x)
            s += xr[c];
        mean = block_sum(s, red) / (float)cols;
    }
    float sq = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float d = xr[c] - mean;
        sq += d * d;
    }
    float rstd = ovx_nx_rstd(block_sum(sq, red), cols, eps);
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float v = (xr[c] - mean) * rstd * w[c] + (b ? b[c] : 0.0f);
        size_t o = row0 + c;
        if (y32)
            y32[o] = v;
        if (y16)
            y16[o] = ovx_nx_to_bf16(v);
    }
}

/* y = epilogue(h + b) (numerics.h), to y32 (may be h; BIAS_RESIDUAL:
 * y32 += h + b) or bf16 y16 */
__global__ void k_bias_act(const float *h, const float *b, int epi, int rows, int cols, float *y32,
                           uint16_t *y16)
{
    size_t n = (size_t)rows * cols;
    GRID_STRIDE(i, n) {
        if (y32)
            y32[i] = ovx_nx_epilogue_into(y32 + i, h[i], b, (int)(i % cols), epi);
        else
            y16[i] = ovx_nx_to_bf16(ovx_nx_epilogue(h[i], b, (int)(i % cols), epi));
    }
}

__global__ void k_residual_add(float *x, const float *y, size_t n)
{
    GRID_STRIDE(i, n)
    x[i] += y[i];
}

/* cos, sin [n, 64] from pos [n, 3] and inv [32] */
__global__ void k_rope_tables(const int32_t *pos, const double *inv, int n, float *c, float *s)
{
    size_t total = (size_t)n * 32;
    GRID_STRIDE(i, total) {
        size_t t = i / 32;
        int j = (int)(i % 32);
        double a = ovx_nx_rope_angle(pos + 3 * t, inv, j);
        float ca = (float)cos(a), sa = (float)sin(a);
        c[t * 64 + j] = ca;
        c[t * 64 + 32 + j] = ca;
        s[t * 64 + j] = sa;
        s[t * 64 + 32 + j] = sa;
    }
}

/* one thread per element of qkv [n, 3 d] (d = heads * 64): q, k = bf16(rope)
 * per head, v = bf16; v NULL: qkv [n, 2 d] holds q and k only */
__global__ void k_rope_qkv(const float *qkv, const float *c, const float *s, uint16_t *q,
                           uint16_t *k, uint16_t *v, int n, int heads)
{
    const size_t d = (size_t)heads * 64, parts = v ? 3 : 2, total = (size_t)n * parts * d;
    GRID_STRIDE(i, total) {
        size_t t = i / (parts * d), j = i % (parts * d), e = j % d;
        int part = (int)(j / d), kk = (int)(e % 64);
        if (part == 2)
            v[t * d + e] = ovx_nx_to_bf16(qkv[i]);
        else
            (part ? k : q)[t * d + e] =
                ovx_nx_to_bf16(ovx_nx_rope(qkv + i - kk, c + t * 64, s + t * 64, kk));
    }
}

/* one block per row: x = s log2(e), M = ceil(max x) (numerics.h),
 * p = bf16(2^(x - M)), inv = 1 / sum p (of the rounded p: the weights the
 * value GEMM uses) */
__global__ void k_softmax_rows(const float *s, uint16_t *p, float *inv_sum, int cols)
{
    __shared__ float red[32];
    const float *sr = s + (size_t)blockIdx.x * cols;
    uint16_t *pr = p + (size_t)blockIdx.x * cols;
    float m = -INFINITY;
    for (int c = threadIdx.x; c < cols; c += blockDim.x)
        m = fmaxf(m, sr[c] * OVX_NX_LOG2E);
    m = ovx_nx_softmax_offset(block_max(m, red));
    float sum = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        uint16_t pc = ovx_nx_to_bf16(exp2f(sr[c] * OVX_NX_LOG2E - m));
        sum += ovx_nx_from_bf16(pc);
        pr[c] = pc;
    }
    sum = block_sum(sum, red);
    if (threadIdx.x == 0)
        inv_sum[blockIdx.x] = 1.0f / sum;
}

/* o[r, h*64 + c] = bf16(f[r, h*64 + c] * inv[h * rows + r]) */
__global__ void k_attention_out(const float *f, int f_ld, const float *inv, uint16_t *o, int o_ld,
                                int rows, int heads)
{
    const size_t width = (size_t)heads * 64, n = (size_t)rows * width;
    GRID_STRIDE(i, n) {
        size_t r = i / width, hc = i % width;
        o[r * o_ld + hc] = ovx_nx_to_bf16(f[r * f_ld + hc] * inv[(hc / 64) * rows + r]);
    }
}

extern "C" {

int OVX_KFN(to_bf16)(ovx_gpu *g, const float *d_x, ovx_bf16 *d_y, size_t n)
{
    OVX_LAUNCH(k_to_bf16, grid_for(n), THREADS, STREAM(g), d_x, d_y, n);
    return ovx_check_launch(g, "to_bf16");
}

int OVX_KFN(pack_rows_bf16)(ovx_gpu *g, const float *d_x, ovx_bf16 *d_y, int rows, int k,
                            int kpad)
{
    OVX_LAUNCH(k_pack_rows_bf16, grid_for((size_t)rows * kpad), THREADS, STREAM(g), d_x, d_y,
               rows, k, kpad);
    return ovx_check_launch(g, "pack_rows_bf16");
}

int OVX_KFN(norm)(ovx_gpu *g, const float *d_x, const float *d_w, const float *d_b, float eps,
                  int rows, int cols, float *d_y_f32, ovx_bf16 *d_y_bf16)
{
    if (rows <= 0)
        return 0;
    OVX_LAUNCH(k_norm, rows, ROW_THREADS, STREAM(g), d_x, (const float *)NULL, (float *)NULL, d_w,
               d_b, eps, cols, d_y_f32, d_y_bf16);
    return ovx_check_launch(g, d_b ? "layernorm" : "rmsnorm");
}

int OVX_KFN(add_norm)(ovx_gpu *g, float *d_x, const float *d_res, const float *d_w, const float *d_b,
                      float eps, int rows, int cols, ovx_bf16 *d_y_bf16)
{
    if (rows <= 0)
        return 0;
    OVX_LAUNCH(k_norm, rows, ROW_THREADS, STREAM(g), (const float *)d_x, d_res, d_x, d_w, d_b, eps,
               cols, (float *)NULL, d_y_bf16);
    return ovx_check_launch(g, "add_norm");
}

int OVX_KFN(bias_act)(ovx_gpu *g, const float *d_h, const float *d_b, int epi, int rows, int cols,
                      float *d_y32, ovx_bf16 *d_y16)
{
    OVX_LAUNCH(k_bias_act, grid_for((size_t)rows * cols), THREADS, STREAM(g), d_h, d_b, epi, rows,
               cols, d_y32, d_y16);
    return ovx_check_launch(g, "bias_act");
}

int OVX_KFN(residual_add)(ovx_gpu *g, float *d_x, const float *d_y, size_t n)
{
    OVX_LAUNCH(k_residual_add, grid_for(n), THREADS, STREAM(g), d_x, d_y, n);
    return ovx_check_launch(g, "residual_add");
}

int OVX_KFN(rope_tables)(ovx_gpu *g, const int32_t *d_pos, const double *d_inv, int n,
                         float *d_cos, float *d_sin)
{
    OVX_LAUNCH(k_rope_tables, grid_for((size_t)n * 32), THREADS, STREAM(g), d_pos, d_inv, n,
               d_cos, d_sin);
    return ovx_check_launch(g, "rope_tables");
}

int OVX_KFN(rope_qkv)(ovx_gpu *g, const float *d_qkv, const float *d_cos, const float *d_sin,
                      ovx_bf16 *d_q, ovx_bf16 *d_k, ovx_bf16 *d_v, int n, int heads)
{
    OVX_LAUNCH(k_rope_qkv, grid_for((size_t)n * (d_v ? 3 : 2) * heads * 64), THREADS, STREAM(g), d_qkv, d_cos,
               d_sin, d_q, d_k, d_v, n, heads);
    return ovx_check_launch(g, "rope_qkv");
}

int OVX_KFN(softmax_rows)(ovx_gpu *g, const float *d_s, ovx_bf16 *d_p, float *d_inv, int rows,
                          int cols)
{
    if (rows <= 0)
        return 0;
    OVX_LAUNCH(k_softmax_rows, rows, ROW_THREADS, STREAM(g), d_s, d_p, d_inv, cols);
    return ovx_check_launch(g, "softmax_rows");
}

int OVX_KFN(attention_out)(ovx_gpu *g, const float *d_f, int f_ld, const float *d_inv,
                           ovx_bf16 *d_o, int o_ld, int rows, int heads)
{
    OVX_LAUNCH(k_attention_out, grid_for((size_t)rows * heads * 64), THREADS, STREAM(g), d_f,
               f_ld, d_inv, d_o, o_ld, rows, heads);
    return ovx_check_launch(g, "attention_out");
}

} /* extern "C" */
