/* ops.c: CPU implementations of the forward's operators (see ops.h). Matrix
 * products go through cblas_sgemm; element-wise loops are split over rows
 * with ovx_parallel_for, each row computed the same way on any thread. */
#include "model/ops.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/attn512.h"
#include "model/parallel.h"
#include "model/vecmath.h"

void ovx_op_patch_embed(float *out, const float *patches, const float *w, int B, int N, int D, int K, int threads)
{
    ovx_op_linear_grouped(out, patches, w, NULL, B, N, K, D, threads);
}

typedef struct linear_ctx {
    float *out;
    const float *x, *w, *b;
    int64_t rows;    /* rows per group (sample) */
    int64_t chunks;  /* chunks per group */
    int In, O;
} linear_ctx;

/* y[i] = beta y[i] + x . w[i] for one row x (i < O, rows of w In long), in
 * a fixed order: 16 partial sums over k = j mod 16, then added pairwise,
 * then the tail. OpenBLAS sends one-row products to its gemv kernels, whose
 * summation order follows the CPU core it detected (the CLI may run on
 * SkylakeX kernels where a Python process keeps OpenBLAS's own pick): the
 * attention-pooling head's one-row products here give the same bits on any
 * core. */
static void row_product(float *y, const float *x, const float *w, int In, int O, float beta)
{
    for (int i = 0; i < O; i++) {
        const float *wi = w + (int64_t)i * In;
        float acc[16] = {0};
        int k = 0;
        for (; k + 16 <= In; k += 16)
            for (int j = 0; j < 16; j++)
                acc[j] += x[k + j] * wi[k + j];
        for (int h = 8; h >= 1; h /= 2)
            for (int j = 0; j < h; j++)
                acc[j] += acc[j + h];
        float s = acc[0];
        for (; k < In; k++)
            s += x[k] * wi[k];
        y[i] = beta * y[i] + s;
    }
}

/* Chunk ch = (group, chunk of OVX_LINEAR_ROWS rows within the group), one
 * single-threaded sgemm each: boundaries depend only on the group size, never
 * on the thread count or on the other samples of a batch. */
static void linear_chunks(void *p, int64_t c0, int64_t c1, int thread)
{
    (void)thread;
    const linear_ctx *c = p;
    for (int64_t ch = c0; ch < c1; ch++) {
        int64_t g = ch / c->chunks, in_g = (ch % c->chunks) * OVX_LINEAR_ROWS;
        int rows = (int)(c->rows - in_g < OVX_LINEAR_ROWS ? c->rows - in_g : OVX_LINEAR_ROWS);
        int64_t r0 = g * c->rows + in_g;
        float *y = c->out + r0 * c->O;
        float beta = 0.0f;
        if (c->b) {
            for (int r = 0; r < rows; r++)
                memcpy(y + (int64_t)r * c->O, c->b, (size_t)c->O * sizeof(float));
            beta = 1.0f;
        }
        if (rows == 1)
            row_product(y, c->x + r0 * c->In, c->w, c->In, c->O, beta);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, c->O, c->In, 1.0f, c->x + r0 * c->In,
                        c->In, c->w, c->In, beta, y, c->O);
    }
}

void ovx_op_linear_grouped(float *out, const float *x, const float *w, const float *b, int64_t groups,
                           int64_t rows, int In, int O, int threads)
{
    if (groups <= 0 || rows <= 0)
        return;
    linear_ctx c = {out, x, w, b, rows, (rows + OVX_LINEAR_ROWS - 1) / OVX_LINEAR_ROWS, In, O};
    ovx_parallel_for(threads, groups * c.chunks, linear_chunks, &c);
}

void ovx_op_linear(float *out, const float *x, const float *w, const float *b, int64_t T, int In, int O,
                   int threads)
{
    ovx_op_linear_grouped(out, x, w, b, 1, T, In, O, threads);
}

void ovx_op_linear_add(float *out, const float *x, const float *w, const float *b, int64_t T, int In, int O)
{
    if (T <= 0)
        return;
    if (b)
        for (int64_t r = 0; r < T; r++)
            for (int i = 0; i < O; i++)
                out[r * O + i] += b[i];
    if (T == 1)
        row_product(out, x, w, In, O, 1.0f);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, O, In, 1.0f, x, In, w, In, 1.0f, out, O);
}

typedef struct norm_ctx {
    float *out;
    const float *x, *w, *b;
    int D;
    float eps;
} norm_ctx;

static void layernorm_rows(void *p, int64_t r0, int64_t r1, int thread)
{
    (void)thread;
    const norm_ctx *c = p;
    for (int64_t r = r0; r < r1; r++)
        ovx_layernorm_row(c->out + r * c->D, c->x + r * c->D, c->w, c->b, c->D, c->eps);
}

void ovx_op_layernorm(float *out, const float *x, const float *w, const float *b, int64_t T, int D, float eps,
                      int threads)
{
    norm_ctx c = {out, x, w, b, D, eps};
    ovx_parallel_for(T >= 64 ? threads : 1, T, layernorm_rows, &c);
}

void ovx_op_rmsnorm(float *out, const float *x, const float *w, int64_t T, int D, float eps)
{
    for (int64_t r = 0; r < T; r++) {
        const float *xr = x + r * D;
        float *y = out + r * D;
        double s = 0.0;
        for (int i = 0; i < D; i++)
            s += (double)xr[i] * xr[i];
        float inv = (float)(1.0 / sqrt(s / D + (double)eps));
        for (int i = 0; i < D; i++)
            y[i] = xr[i] * inv * w[i];
    }
}

typedef struct ew_ctx {
    float *x;
    const float *y;
} ew_ctx;

static void gelu_range(void *p, int64_t i0, int64_t i1, int thread)
{
    (void)thread;
    ovx_gelu_erf_vec(((ew_ctx *)p)->x + i0, i1 - i0);
}

void ovx_op_gelu_erf(float *x, int64_t n, int threads)
{
    ew_ctx c = {x, NULL};
    ovx_parallel_for(n >= 65536 ? threads : 1, n, gelu_range, &c);
}

static void add_range(void *p, int64_t i0, int64_t i1, int thread)
{
    (void)thread;
    ew_ctx *c = p;
    for (int64_t i = i0; i < i1; i++)
        c->x[i] += c->y[i];
}

void ovx_op_residual_add(float *x, const float *y, int64_t n, int threads)
{
    ew_ctx c = {x, y};
    ovx_parallel_for(n >= 65536 ? threads : 1, n, add_range, &c);
}

void ovx_op_rope3d_tables(float *cos_t, float *sin_t, const int32_t *pos, int64_t T, double theta)
{
    double inv[OVX_ROPE_HALF];
    for (int j = 0; j < 8; j++)
        inv[j] = pow(theta, -(double)j / 8.0);
    for (int j = 0; j < 12; j++) {
        inv[8 + j] = pow(theta, -(double)j / 12.0);
        inv[20 + j] = inv[8 + j];
    }
    for (int64_t r = 0; r < T; r++) {
        const int32_t *p = pos + 3 * r;
        for (int j = 0; j < OVX_ROPE_HALF; j++) {
            int axis = j < 8 ? 0 : j < 20 ? 1 : 2;
            double a = (double)p[axis] * inv[j];
            float c = (float)cos(a), s = (float)sin(a);
            cos_t[r * OVX_HEAD_DIM + j] = c;
            cos_t[r * OVX_HEAD_DIM + OVX_ROPE_HALF + j] = c;
            sin_t[r * OVX_HEAD_DIM + j] = s;
            sin_t[r * OVX_HEAD_DIM + OVX_ROPE_HALF + j] = s;
        }
    }
}

typedef struct rope_ctx {
    float *x;
    const float *c, *s;
    int H;
} rope_ctx;

void ovx_op_rope3d_rows(float *xs, const float *cos_t, const float *sin_t, int64_t rows, int H)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *cs = cos_t + r * OVX_HEAD_DIM, *sn = sin_t + r * OVX_HEAD_DIM;
        for (int h = 0; h < H; h++) {
            float *x = xs + (r * H + h) * OVX_HEAD_DIM;
            for (int i = 0; i < OVX_HEAD_DIM; i += 2) {
                float a = x[i], b = x[i + 1];
                x[i] = a * cs[i] - b * sn[i];
                x[i + 1] = b * cs[i + 1] + a * sn[i + 1];
            }
        }
    }
}

static void rope_rows(void *p, int64_t r0, int64_t r1, int thread)
{
    (void)thread;
    const rope_ctx *c = p;
    ovx_op_rope3d_rows(c->x + r0 * c->H * OVX_HEAD_DIM, c->c + r0 * OVX_HEAD_DIM, c->s + r0 * OVX_HEAD_DIM,
                       r1 - r0, c->H);
}

void ovx_op_rope3d_apply(float *x, const float *cos_t, const float *sin_t, int64_t T, int H, int threads)
{
    rope_ctx c = {x, cos_t, sin_t, H};
    ovx_parallel_for(T >= 64 ? threads : 1, T, rope_rows, &c);
}

typedef struct attn_ctx {
    float *out;
    const float *q, *k, *v;
    int Nq, Nk, H, tiles;
    float scale;
    float *scratch; /* per thread: OVX_ATTN_TILE * Nk */
} attn_ctx;

/* Work item = (head, query tile). Scores of the tile, a full-row softmax,
 * then P v. Each item's arithmetic is independent of the thread. */
static void attn_items(void *p, int64_t i0, int64_t i1, int thread)
{
    const attn_ctx *c = p;
    int ld = c->H * OVX_HEAD_DIM;
    float *S = c->scratch + (size_t)thread * OVX_ATTN_TILE * (size_t)c->Nk;
    for (int64_t it = i0; it < i1; it++) {
        int h = (int)(it / c->tiles), q0 = (int)(it % c->tiles) * OVX_ATTN_TILE;
        int tq = c->Nq - q0 < OVX_ATTN_TILE ? c->Nq - q0 : OVX_ATTN_TILE;
        const float *qh = c->q + (size_t)q0 * ld + h * OVX_HEAD_DIM;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, tq, c->Nk, OVX_HEAD_DIM, c->scale, qh, ld,
                    c->k + h * OVX_HEAD_DIM, ld, 0.0f, S, c->Nk);
        float inv_sum[OVX_ATTN_TILE];
        for (int r = 0; r < tq; r++)
            inv_sum[r] = ovx_softmax_row_unnormalised(S + (size_t)r * c->Nk, c->Nk);
        float *oh = c->out + (size_t)q0 * ld + h * OVX_HEAD_DIM;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, tq, OVX_HEAD_DIM, c->Nk, 1.0f, S, c->Nk,
                    c->v + h * OVX_HEAD_DIM, ld, 0.0f, oh, ld);
        for (int r = 0; r < tq; r++)
            for (int d = 0; d < OVX_HEAD_DIM; d++)
                oh[(size_t)r * ld + d] *= inv_sum[r];
    }
}

int ovx_op_attention(float *out, const float *q, const float *k, const float *v, int Nq, int Nk, int H,
                     float scale, int threads)
{
    if (Nq <= 0 || Nk <= 0)
        return 0;
    if (ovx_attn512_available())
        return ovx_attn512(out, q, k, v, Nq, Nk, H, scale, threads);
    int tiles = (Nq + OVX_ATTN_TILE - 1) / OVX_ATTN_TILE;
    int64_t items = (int64_t)tiles * H;
    if (threads > items)
        threads = (int)items;
    if (threads < 1)
        threads = 1;
    attn_ctx c = {out, q, k, v, Nq, Nk, H, tiles, scale, NULL};
    c.scratch = malloc((size_t)threads * OVX_ATTN_TILE * (size_t)Nk * sizeof(float));
    if (!c.scratch)
        return -1;
    ovx_parallel_for(threads, items, attn_items, &c);
    free(c.scratch);
    return 0;
}

int ovx_op_attention_pool(float *out, const float *x, const ovx_head_weights *hw, int N, int D, int F, int H,
                          float eps, float *scratch, int threads)
{
    float *k = scratch, *v = k + (size_t)N * D;
    /* k, v [N,D] from rows D..2D, 2D..3D of in_proj. */
    ovx_op_linear(k, x, hw->in_proj_weight + (size_t)D * D, hw->in_proj_bias + D, N, D, D, threads);
    ovx_op_linear(v, x, hw->in_proj_weight + (size_t)2 * D * D, hw->in_proj_bias + 2 * D, N, D, D, threads);
    return ovx_op_attention_pool_kv(out, hw, N, D, F, H, eps, scratch, threads);
}

int ovx_op_attention_pool_kv(float *out, const ovx_head_weights *hw, int N, int D, int F, int H, float eps,
                             float *scratch, int threads)
{
    float *k = scratch, *v = k + (size_t)N * D, *ctx = v + (size_t)N * D;
    float *q = ctx + D, *a = q + D, *hid = a + D;
    /* q[1,D] = probe Wq^T + bq */
    ovx_op_linear(q, hw->probe, hw->in_proj_weight, hw->in_proj_bias, 1, D, D, 1);
    if (ovx_op_attention(ctx, q, k, v, 1, N, H, 1.0f / sqrtf((float)(D / H)), threads))
        return -1;
    ovx_op_linear(a, ctx, hw->out_proj_weight, hw->out_proj_bias, 1, D, D, 1);
    ovx_op_rmsnorm(out, a, hw->norm_weight, 1, D, eps);
    ovx_op_linear(hid, out, hw->fc1_weight, hw->fc1_bias, 1, D, F, 1);
    ovx_op_gelu_erf(hid, F, 1);
    ovx_op_linear(out, hid, hw->fc2_weight, hw->fc2_bias, 1, F, D, 1);
    ovx_op_residual_add(out, a, D, 1);
    return 0;
}
