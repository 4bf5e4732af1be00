/* ops.c: the CUDA forward's ops (see ops.h), written against the ovx_gpu
 * table so that the same code drives a real device and the host emulation.
 * GEMM conventions: row-major Y[M, out] = X[M, in] W[out, in]^T is the
 * column-major product Y^T = op_T(W) X^T, i.e. gemm(T, N, out, M, in).
 * Linear layers go through the table's fused `linear` (cuBLASLt with its
 * bias / GELU epilogue) when the device has one, else gemm + bias_act. */
#include "cuda/ops.h"

#include <math.h>

#include "common/timer.h"
#include "cuda/numerics.h"

#define GPU_CALL(m, err, call)                                                 \
    do {                                                                       \
        if ((call) != 0)                                                       \
            return ovx_error_set((err), OVX_EDEVICE, "%s", (m)->g->msg);       \
    } while (0)

/* profiling: time the op (with a device sync) when m->profiling is on */
static double op_begin(const ovx_cuda_model *m)
{
    return m->profiling ? ovx_now_ms() : 0.0;
}

static int op_end(ovx_cuda_model *m, int op, double t0, ovx_error *err)
{
    if (!m->profiling)
        return OVX_OK;
    GPU_CALL(m, err, m->g->ops->sync(m->g));
    m->timings[op] += ovx_now_ms() - t0;
    return OVX_OK;
}

int ovx_cuda_patch_embed(ovx_cuda_model *m, const float *d_x, int rows, ovx_bf16 *d_scratch,
                         float *d_y, ovx_error *err)
{
    double t0 = op_begin(m);
    const ovx_gpu_ops *o = m->g->ops;
    const ovx_cuda_linear_w *l = &m->patch_embedding;
    GPU_CALL(m, err, o->pack_rows_bf16(m->g, d_x, d_scratch, rows, m->patch_k, m->patch_kpad));
    GPU_CALL(m, err, o->gemm(m->g, 1, 0, l->out, rows, l->in, 1.0f, l->w, l->in, 0, d_scratch,
                             l->in, 0, 0.0f, d_y, 0, l->out, 0, 1));
    return op_end(m, OVX_CUDA_OP_PATCH_EMBED, t0, err);
}

int ovx_cuda_layernorm(ovx_cuda_model *m, const ovx_cuda_norm_w *n, const float *d_x, int rows,
                       float *d_y32, ovx_bf16 *d_y16, ovx_error *err)
{
    double t0 = op_begin(m);
    GPU_CALL(m, err, m->g->ops->norm(m->g, d_x, n->w, n->b, m->cfg.layer_norm_eps, rows,
                                     m->cfg.hidden_size, d_y32, d_y16));
    return op_end(m, OVX_CUDA_OP_LAYERNORM, t0, err);
}

int ovx_cuda_rmsnorm(ovx_cuda_model *m, const ovx_cuda_norm_w *n, const float *d_x, int rows,
                     ovx_bf16 *d_y16, ovx_error *err)
{
    double t0 = op_begin(m);
    GPU_CALL(m, err, m->g->ops->norm(m->g, d_x, n->w, NULL, 1e-6f /* as the CPU head */, rows,
                                     m->cfg.hidden_size, NULL, d_y16));
    return op_end(m, OVX_CUDA_OP_LAYERNORM, t0, err);
}

int ovx_cuda_linear(ovx_cuda_model *m, const ovx_cuda_linear_w *l, int epi, const ovx_bf16 *d_x,
                    int rows, float *d_y32, ovx_bf16 *d_y16, float *d_ws, ovx_error *err)
{
    double t0 = op_begin(m);
    const ovx_gpu_ops *o = m->g->ops;
    const int resid = epi == OVX_EPI_BIAS_RESIDUAL;
    if (resid && (!d_y32 || !d_ws))
        return ovx_error_set(err, OVX_EINTERNAL, "CUDA linear %s: a residual epilogue needs a float32 output and a workspace",
                             l->kind ? l->kind : "?");
    if (!l->b && !resid)
        epi = OVX_EPI_NONE;
    int rc = 1;
    if (o->linear &&
        (rc = o->linear(m->g, l->w, l->b, l->b16, l->out, l->in, d_x, rows, epi, d_y32, d_y16)) < 0)
        return ovx_error_set(err, OVX_EDEVICE, "%s", m->g->msg);
    if (l->kind) { /* the GEMM path report, per layer type */
        int i = 0;
        while (i < m->n_gemm_paths && m->gemm_paths[i].kind != l->kind)
            i++;
        if (i == m->n_gemm_paths && i < (int)(sizeof m->gemm_paths / sizeof m->gemm_paths[0])) {
            m->gemm_paths[i].kind = l->kind;
            m->gemm_paths[i].lt = m->gemm_paths[i].fallback = 0;
            m->n_gemm_paths++;
        }
        if (i < m->n_gemm_paths)
            *(rc ? &m->gemm_paths[i].fallback : &m->gemm_paths[i].lt) += 1;
    }
    if (rc) {
        /* GEMM to float32, then the epilogue as its own pass (a residual
         * output is read by it: the GEMM goes to the workspace) */
        float *h = d_y32 && !resid ? d_y32 : d_ws;
        GPU_CALL(m, err, o->gemm(m->g, 1, 0, l->out, rows, l->in, 1.0f, l->w, l->in, 0, d_x, l->in,
                                 0, 0.0f, h, 0, l->out, 0, 1));
        if (epi != OVX_EPI_NONE || !d_y32)
            GPU_CALL(m, err, o->bias_act(m->g, h, l->b, epi, rows, l->out, d_y32, d_y16));
    }
    return op_end(m, OVX_CUDA_OP_LINEAR, t0, err);
}

int ovx_cuda_model_gemm_paths(const ovx_cuda_model *m, char *buf, size_t len)
{
    int fallbacks = 0;
    size_t at = 0;
    if (len)
        buf[0] = '\0';
    for (int i = 0; i < m->n_gemm_paths; i++) {
        const long lt = m->gemm_paths[i].lt, fb = m->gemm_paths[i].fallback;
        fallbacks += fb > 0;
        int n = snprintf(buf + at, at < len ? len - at : 0, "%s%s %s", i ? ", " : "",
                         m->gemm_paths[i].kind,
                         !fb ? "cuBLASLt" : lt ? "cuBLASLt and GEMM + epilogue kernel" : "GEMM + epilogue kernel");
        at += n > 0 ? (size_t)n : 0;
    }
    return fallbacks;
}

int ovx_cuda_rope3d_tables(ovx_cuda_model *m, const int32_t *d_pos, int rows, float *d_cos,
                           float *d_sin, ovx_error *err)
{
    double t0 = op_begin(m);
    GPU_CALL(m, err, m->g->ops->rope_tables(m->g, d_pos, m->rope_inv, rows, d_cos, d_sin));
    return op_end(m, OVX_CUDA_OP_ROPE, t0, err);
}

int ovx_cuda_rope3d_apply(ovx_cuda_model *m, const float *d_qkv, const float *d_cos,
                          const float *d_sin, ovx_bf16 *d_q, ovx_bf16 *d_k, ovx_bf16 *d_v, int rows,
                          ovx_error *err)
{
    double t0 = op_begin(m);
    GPU_CALL(m, err, m->g->ops->rope_qkv(m->g, d_qkv, d_cos, d_sin, d_q, d_k, d_v, rows,
                                         m->cfg.num_heads));
    return op_end(m, OVX_CUDA_OP_ROPE, t0, err);
}

int ovx_cuda_to_bf16(ovx_cuda_model *m, const float *d_x, ovx_bf16 *d_y, size_t n,
                     ovx_error *err)
{
    GPU_CALL(m, err, m->g->ops->to_bf16(m->g, d_x, d_y, n));
    return OVX_OK;
}

int ovx_cuda_attention_chunk(const ovx_cuda_model *m, int nq, int nk)
{
    if (nk < 1)
        nk = 1;
    size_t per_row = OVX_CUDA_ATTN_SCRATCH(m->cfg.num_heads, 1, nk) * sizeof(float) +
                     (size_t)m->cfg.num_heads * (size_t)nk * sizeof(ovx_bf16);
    size_t qc = m->scratch_bytes / per_row;
    if (qc >= 64)
        qc -= qc % 64; /* whole tiles for the GEMMs */
    if (qc < 1)
        qc = 1;
    if (qc > (size_t)nq)
        qc = (size_t)nq;
    return (int)qc;
}

int ovx_cuda_attention(ovx_cuda_model *m, const ovx_bf16 *d_q, int q_ld, int nq,
                       const ovx_bf16 *d_k, const ovx_bf16 *d_v, int kv_ld, int nk,
                       ovx_bf16 *d_o, int o_ld, int qc, float *d_s, ovx_bf16 *d_p,
                       ovx_error *err)
{
    double t0 = op_begin(m);
    const ovx_gpu_ops *o = m->g->ops;
    const int hd = m->cfg.head_dim, heads = m->cfg.num_heads;
    const float scale = 1.0f / sqrtf((float)hd);
    /* d_s: scores [heads, rows, nk]; after the softmax the float32 P V
     * [rows, heads * 64] in the same place (scores dead by then); the
     * inverse row sums [heads, rows] behind the largest of the two */
    float *d_inv = d_s + (size_t)heads * qc * (nk > hd ? nk : hd);
    const int f_ld = heads * hd;
    for (int q0 = 0; q0 < nq; q0 += qc) {
        int rows = nq - q0 < qc ? nq - q0 : qc;
        long long s_stride = (long long)rows * nk;
        /* scores: S_h^T [nk x rows] = K_h [nk x 64] Q_h^T [64 x rows], per head h */
        GPU_CALL(m, err, o->gemm(m->g, 1, 0, nk, rows, hd, scale, d_k, kv_ld, hd,
                                 d_q + (size_t)q0 * q_ld, q_ld, hd, 0.0f, d_s, 0, nk, s_stride,
                                 heads));
        GPU_CALL(m, err, o->softmax_rows(m->g, d_s, d_p, d_inv, heads * rows, nk));
        /* values: F_h^T [64 x rows] = V_h^T [64 x nk] P_h^T [nk x rows] (float32) */
        GPU_CALL(m, err, o->gemm(m->g, 0, 0, hd, rows, nk, 1.0f, d_v, kv_ld, hd, d_p, nk,
                                 s_stride, 0.0f, d_s, 0, f_ld, hd, heads));
        GPU_CALL(m, err, o->attention_out(m->g, d_s, f_ld, d_inv, d_o + (size_t)q0 * o_ld, o_ld,
                                          rows, heads));
    }
    return op_end(m, OVX_CUDA_OP_ATTENTION, t0, err);
}

int ovx_cuda_attention_tile_rows(int len, int big)
{
    return big && len >= OVX_CUDA_LONG_SAMPLE ? 2 * OVX_CUDA_TILE_ROWS : OVX_CUDA_TILE_ROWS;
}

int ovx_cuda_attention_self_tiles(int samples, const int *lengths, int big, int32_t *tiles)
{
    int n = 0, off = 0;
    for (int s = 0; s < samples; s++) {
        const int tr = ovx_cuda_attention_tile_rows(lengths[s], big);
        for (int q = 0; q < lengths[s]; q += tr) {
            int32_t *t = tiles + 5 * n++;
            int left = lengths[s] - q;
            t[0] = off + q;
            t[1] = left < tr ? left : tr;
            t[2] = off;
            t[3] = lengths[s];
            t[4] = off + q;
        }
        off += lengths[s];
    }
    return n;
}

int ovx_cuda_attention_fused(ovx_cuda_model *m, const ovx_bf16 *d_q, int q_ld,
                             const ovx_bf16 *d_k, const ovx_bf16 *d_v, int kv_ld, ovx_bf16 *d_o,
                             int o_ld, const int32_t *d_tiles, int ntiles, ovx_error *err)
{
    double t0 = op_begin(m);
    const ovx_gpu_ops *o = m->g->ops;
    const int mma = ovx_cuda_model_attention(m) == OVX_CUDA_ATTENTION_FUSED;
    int (*k)(ovx_gpu *, const ovx_bf16 *, int, const ovx_bf16 *, const ovx_bf16 *, int, ovx_bf16 *,
             int, const int32_t *, int, int, float) = mma ? o->flash_attention_mma : o->flash_attention;
    if (!k)
        return ovx_error_set(err, OVX_EUNSUPPORTED, "device %s has no fused attention", o->name);
    GPU_CALL(m, err, k(m->g, d_q, q_ld, d_k, d_v, kv_ld, d_o, o_ld, d_tiles, ntiles,
                       m->cfg.num_heads, 1.0f / sqrtf((float)m->cfg.head_dim)));
    return op_end(m, OVX_CUDA_OP_ATTENTION, t0, err);
}
