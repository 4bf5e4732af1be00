/* emu_ops.c: a host emulation of the CUDA device (see gpu.h): plain malloc
 * memory, a reference column-major strided-batched GEMM with cuBLAS's
 * argument conventions (bf16 inputs, float32 accumulation, float32 or bf16
 * output), and the kernels written as loops over the same numerics.h math.
 * It is slow (naive loops) and meant for small models: it lets the CUDA
 * forward's orchestration run where no GPU exists. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/gpu.h"
#include "cuda/numerics.h"

static int e_alloc(ovx_gpu *g, void **d_p, size_t bytes)
{
    *d_p = calloc(1, bytes ? bytes : 1);
    if (!*d_p) {
        snprintf(g->msg, sizeof g->msg, "emulated device: out of memory (%zu bytes)", bytes);
        return -1;
    }
    return 0;
}

static void e_release(ovx_gpu *g, void *d_p)
{
    (void)g;
    free(d_p);
}

static int e_copy(ovx_gpu *g, void *dst, const void *src, size_t bytes)
{
    (void)g;
    if (bytes)
        memcpy(dst, src, bytes);
    return 0;
}

static int e_host_alloc(ovx_gpu *g, void **p, size_t bytes)
{
    *p = malloc(bytes ? bytes : 1);
    if (!*p) {
        snprintf(g->msg, sizeof g->msg, "out of host memory (%zu bytes)", bytes);
        return -1;
    }
    return 0;
}

static int e_copy_async(ovx_gpu *g, void *dst, const void *src, size_t bytes, int dir)
{
    (void)dir;
    return e_copy(g, dst, src, bytes);
}

static int e_sync(ovx_gpu *g)
{
    (void)g;
    return 0;
}

static int e_gemm(ovx_gpu *g, int trans_a, int trans_b, int m, int n, int k, float alpha,
                  const ovx_bf16 *d_a, int lda, long long stride_a, const ovx_bf16 *d_b, int ldb,
                  long long stride_b, float beta, void *d_c, int c_bf16, int ldc,
                  long long stride_c, int batch)
{
    if (m < 0 || n < 0 || k < 0 || batch < 1 || lda < (trans_a ? k : m) ||
        ldb < (trans_b ? n : k) || ldc < m) {
        snprintf(g->msg, sizeof g->msg, "emulated GEMM: invalid arguments m=%d n=%d k=%d lda=%d ldb=%d ldc=%d",
                 m, n, k, lda, ldb, ldc);
        return -1;
    }
    for (int bi = 0; bi < batch; bi++) {
        const ovx_bf16 *a = d_a + bi * stride_a;
        const ovx_bf16 *b = d_b + bi * stride_b;
        for (int j = 0; j < n; j++) {
            for (int i = 0; i < m; i++) {
                float acc = 0.0f;
                for (int l = 0; l < k; l++) {
                    ovx_bf16 av = trans_a ? a[l + (size_t)i * lda] : a[i + (size_t)l * lda];
                    ovx_bf16 bv = trans_b ? b[j + (size_t)l * ldb] : b[l + (size_t)j * ldb];
                    acc += ovx_nx_from_bf16(av) * ovx_nx_from_bf16(bv);
                }
                size_t ci = (size_t)(bi * stride_c) + i + (size_t)j * ldc;
                if (c_bf16) {
                    ovx_bf16 *c = (ovx_bf16 *)d_c;
                    float old = beta != 0.0f ? beta * ovx_nx_from_bf16(c[ci]) : 0.0f;
                    c[ci] = ovx_nx_to_bf16(alpha * acc + old);
                } else {
                    float *c = (float *)d_c;
                    float old = beta != 0.0f ? beta * c[ci] : 0.0f;
                    c[ci] = alpha * acc + old;
                }
            }
        }
    }
    return 0;
}

static int e_to_bf16(ovx_gpu *g, const float *x, ovx_bf16 *y, size_t n)
{
    (void)g;
    for (size_t i = 0; i < n; i++)
        y[i] = ovx_nx_to_bf16(x[i]);
    return 0;
}

static int e_pack_rows_bf16(ovx_gpu *g, const float *x, ovx_bf16 *y, int rows, int k, int kpad)
{
    (void)g;
    for (size_t r = 0; r < (size_t)rows; r++)
        for (int c = 0; c < kpad; c++)
            y[r * kpad + c] = c < k ? ovx_nx_to_bf16(x[r * k + c]) : 0;
    return 0;
}

static int e_norm(ovx_gpu *g, const float *x, const float *w, const float *b, float eps, int rows,
                  int cols, float *y32, ovx_bf16 *y16)
{
    (void)g;
    for (size_t r = 0; r < (size_t)rows; r++) {
        const float *xr = x + r * cols;
        float mean = 0.0f;
        if (b) {
            float s = 0.0f;
            for (int c = 0; c < cols; c++)
                s += xr[c];
            mean = s / (float)cols;
        }
        float sq = 0.0f;
        for (int c = 0; c < cols; c++)
            sq += (xr[c] - mean) * (xr[c] - mean);
        float rstd = ovx_nx_rstd(sq, cols, eps);
        for (int c = 0; c < cols; c++) {
            float v = (xr[c] - mean) * rstd * w[c] + (b ? b[c] : 0.0f);
            if (y32)
                y32[r * cols + c] = v;
            if (y16)
                y16[r * cols + c] = ovx_nx_to_bf16(v);
        }
    }
    return 0;
}

static int e_add_norm(ovx_gpu *g, float *x, const float *res, const float *w, const float *b,
                      float eps, int rows, int cols, ovx_bf16 *y16)
{
    for (size_t i = 0; i < (size_t)rows * cols; i++)
        x[i] += res[i];
    return e_norm(g, x, w, b, eps, rows, cols, NULL, y16);
}

static int e_bias_act(ovx_gpu *g, const float *h, const float *b, int epi, int rows, int cols,
                      float *y32, ovx_bf16 *y16)
{
    (void)g;
    for (size_t i = 0; i < (size_t)rows * cols; i++) {
        if (y32)
            y32[i] = ovx_nx_epilogue_into(y32 + i, h[i], b, (int)(i % cols), epi);
        else
            y16[i] = ovx_nx_to_bf16(ovx_nx_epilogue(h[i], b, (int)(i % cols), epi));
    }
    return 0;
}

static int e_residual_add(ovx_gpu *g, float *x, const float *y, size_t n)
{
    (void)g;
    for (size_t i = 0; i < n; i++)
        x[i] += y[i];
    return 0;
}

static int e_rope_tables(ovx_gpu *g, const int32_t *pos, const double *inv, int n, float *c, float *s)
{
    (void)g;
    for (size_t t = 0; t < (size_t)n; t++)
        for (int j = 0; j < 32; j++) {
            double a = ovx_nx_rope_angle(pos + 3 * t, inv, j);
            c[t * 64 + j] = c[t * 64 + 32 + j] = (float)cos(a);
            s[t * 64 + j] = s[t * 64 + 32 + j] = (float)sin(a);
        }
    return 0;
}

static int e_rope_qkv(ovx_gpu *g, const float *qkv, const float *c, const float *s, ovx_bf16 *q,
                      ovx_bf16 *k, ovx_bf16 *v, int n, int heads)
{
    (void)g;
    const size_t d = (size_t)heads * 64, parts = v ? 3 : 2;
    for (size_t t = 0; t < (size_t)n; t++)
        for (size_t e = 0; e < d; e++) {
            const float *row = qkv + t * parts * d;
            size_t head0 = e - e % 64;
            int kk = (int)(e % 64);
            q[t * d + e] = ovx_nx_to_bf16(ovx_nx_rope(row + head0, c + t * 64, s + t * 64, kk));
            k[t * d + e] = ovx_nx_to_bf16(ovx_nx_rope(row + d + head0, c + t * 64, s + t * 64, kk));
            if (v)
                v[t * d + e] = ovx_nx_to_bf16(row[2 * d + e]);
        }
    return 0;
}

static int e_softmax_rows(ovx_gpu *g, const float *s, ovx_bf16 *p, float *inv, int rows, int cols)
{
    (void)g;
    for (size_t r = 0; r < (size_t)rows; r++) {
        const float *sr = s + r * cols;
        float m = -INFINITY;
        for (int c = 0; c < cols; c++)
            m = fmaxf(m, sr[c] * OVX_NX_LOG2E);
        m = ovx_nx_softmax_offset(m);
        float sum = 0.0f;
        for (int c = 0; c < cols; c++) {
            p[r * cols + c] = ovx_nx_to_bf16(exp2f(sr[c] * OVX_NX_LOG2E - m));
            sum += ovx_nx_from_bf16(p[r * cols + c]);
        }
        inv[r] = 1.0f / sum;
    }
    return 0;
}

static int e_attention_out(ovx_gpu *g, const float *f, int f_ld, const float *inv, ovx_bf16 *o,
                           int o_ld, int rows, int heads)
{
    (void)g;
    for (size_t r = 0; r < (size_t)rows; r++)
        for (int h = 0; h < heads; h++)
            for (int c = 0; c < 64; c++)
                o[r * o_ld + h * 64 + c] =
                    ovx_nx_to_bf16(f[r * f_ld + h * 64 + c] * inv[(size_t)h * rows + r]);
    return 0;
}

const ovx_gpu_ops ovx_gpu_emu_ops = {
    .name = "emulated",
    .alloc = e_alloc,
    .release = e_release,
    .upload = e_copy,
    .download = e_copy,
    .sync = e_sync,
    .host_alloc = e_host_alloc,
    .host_free = e_release,
    .copy_async = e_copy_async,
    .activate = e_sync,
    .gemm = e_gemm,
    .to_bf16 = e_to_bf16,
    .pack_rows_bf16 = e_pack_rows_bf16,
    .norm = e_norm,
    .add_norm = e_add_norm,
    .bias_act = e_bias_act,
    .residual_add = e_residual_add,
    .rope_tables = e_rope_tables,
    .rope_qkv = e_rope_qkv,
    .softmax_rows = e_softmax_rows,
    .attention_out = e_attention_out,
};
