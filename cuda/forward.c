/* forward.c: the CUDA forward, the same sequence as the CPU forward of
 * src/model/forward.c: patch embedding, layernorm_pre, 3D RoPE positions,
 * pre-norm blocks (LN1, q/k/v, RoPE on q and k, attention, out_proj,
 * residual; LN2, fc1, GELU, fc2, residual), layernorm_post and the pooling
 * head. Fused on the way: q/k in one GEMM (v in its own, bf16 out), RoPE
 * with the q/k split, bias, GELU and the residual adds in the GEMM
 * epilogues (out_proj and fc2 add into the residual stream in place).
 * What runs on the compute stream (ovx_cuda_forward_ops), called by the
 * graph cache (graph.c); the upload is model.c. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/numerics.h"
#include "cuda/ops.h"

/* ---- forward ---- */

/* One pre-norm block over all packed tokens, b->xn = LN1(x) on entry;
 * attention fused over all samples' tiles, or chunked per sample. The
 * residual adds are out_proj's and fc2's epilogues (x += ..., in place),
 * so the norms after them (LN2, the next layer's LN1: `next`, NULL for the
 * last layer) read x once and write only their bf16 output. */
static int block(ovx_cuda_model *m, const ovx_cuda_layer_w *l, const ovx_cuda_layer_w *next,
                 const ovx_cuda_bufs *b, int rows, int samples, const int *lengths, const ovx_cuda_fwd *ap,
                 ovx_error *err)
{
    const int d = m->cfg.hidden_size;
    int rc;
    /* x = x + out_proj(attention(rope(q), rope(k), v)) over LN1(x) */
    /* q, k to float32 for RoPE; v to bf16 in its GEMM's epilogue (no pass) */
    if ((rc = ovx_cuda_linear(m, &l->qk, OVX_EPI_BIAS, b->xn, rows, b->fqkv, NULL, NULL, err)) ||
        (rc = ovx_cuda_linear(m, &l->v, OVX_EPI_BIAS, b->xn, rows, NULL, b->v, b->t, err)) ||
        (rc = ovx_cuda_rope3d_apply(m, b->fqkv, b->cos, b->sin, b->q, b->k, NULL, rows, err)))
        return rc;
    if (ap->nself && (rc = ovx_cuda_attention_fused(m, b->q, d, b->k, b->v, d, b->o, d, b->tiles,
                                                    ap->nself, err)))
        return rc;
    size_t off = 0;
    for (int s = 0; s < samples && !ap->nself; s++) {
        int n = lengths[s];
        int qc = ovx_cuda_attention_chunk(m, n, n);
        size_t o = off * d;
        if ((rc = ovx_cuda_attention(m, b->q + o, d, n, b->k + o, b->v + o, d, n, b->o + o, d, qc,
                                     b->s, b->p, err)))
            return rc;
        off += (size_t)n;
    }
    if ((rc = ovx_cuda_linear(m, &l->out_proj, OVX_EPI_BIAS_RESIDUAL, b->o, rows, b->x, NULL, b->t,
                              err)) ||
        (rc = ovx_cuda_layernorm(m, &l->layer_norm2, b->x, rows, NULL, b->xn, err)))
        return rc;
    /* x = x + fc2(gelu(fc1(LN2(x)))) */
    if ((rc = ovx_cuda_linear(m, &l->fc1, OVX_EPI_GELU_BIAS, b->xn, rows, NULL, b->h, b->t, err)) ||
        (rc = ovx_cuda_linear(m, &l->fc2, OVX_EPI_BIAS_RESIDUAL, b->h, rows, b->x, NULL, b->t, err)))
        return rc;
    return next ? ovx_cuda_layernorm(m, &next->layer_norm1, b->x, rows, NULL, b->xn, err) : OVX_OK;
}

/* Attention-pooling head: probe attends over LN_post tokens (b->xn, bf16),
 * a = out_proj(...); a = a + MLP(RMSNorm(a)). Result in b->a [samples, D]. */
static int ovx_cuda_attention_pool(ovx_cuda_model *m, const ovx_cuda_bufs *b, int rows, int samples,
                                   const int *lengths, const ovx_cuda_fwd *ap, ovx_error *err)
{
    const int d = m->cfg.hidden_size;
    int rc;
    /* probe -> q (bf16); tokens -> k, v side by side in b->k [rows, 2D] (bf16) */
    if ((rc = ovx_cuda_linear(m, &m->head_q, OVX_EPI_BIAS, m->head_probe, 1, NULL, b->hq, b->t, err)) ||
        (rc = ovx_cuda_linear(m, &m->head_kv, OVX_EPI_BIAS, b->xn, rows, NULL, b->k, b->t, err)))
        return rc;
    const ovx_bf16 *hk = b->k, *hv = b->k + d;
    if (ap->npool && (rc = ovx_cuda_attention_fused(m, b->hq, d, hk, hv, 2 * d, b->o, d,
                                                    b->tiles + 5 * ap->nself, ap->npool, err)))
        return rc;
    size_t off = 0;
    for (int s = 0; s < samples && !ap->npool; s++) {
        int n = lengths[s];
        size_t o = off * d;
        if ((rc = ovx_cuda_attention(m, b->hq, d, 1, hk + 2 * o, hv + 2 * o, 2 * d, n,
                                     b->o + (size_t)s * d, d, 1, b->s, b->p, err)))
            return rc;
        off += (size_t)n;
    }
    if ((rc = ovx_cuda_linear(m, &m->head_out_proj, OVX_EPI_BIAS, b->o, samples, b->a, NULL, NULL,
                              err)) ||
        (rc = ovx_cuda_rmsnorm(m, &m->head_norm, b->a, samples, b->xn, err)) ||
        (rc = ovx_cuda_linear(m, &m->head_fc1, OVX_EPI_GELU_BIAS, b->xn, samples, NULL, b->h, b->t,
                              err)) ||
        (rc = ovx_cuda_linear(m, &m->head_fc2, OVX_EPI_BIAS_RESIDUAL, b->h, samples, b->a, NULL,
                              b->t, err)))
        return rc;
    return OVX_OK;
}

int ovx_cuda_forward_ops(ovx_cuda_model *m, const ovx_cuda_fwd *f, ovx_error *err)
{
    const ovx_model_config *c = &m->cfg;
    const ovx_cuda_bufs *b = &f->b;
    const int rows = f->rows, samples = f->samples, hidden = f->hidden;
    const size_t nd = (size_t)rows * c->hidden_size;
    const ovx_gpu_ops *o = m->g->ops;
    int rc;
    if ((rc = ovx_cuda_rope3d_tables(m, b->pos, rows, b->cos, b->sin, err)) ||
        (rc = ovx_cuda_patch_embed(m, b->patches, rows, b->patch16, b->x, err)) ||
        (rc = ovx_cuda_layernorm(m, &m->layernorm_pre, b->x, rows, b->x, NULL, err)) ||
        (rc = ovx_cuda_layernorm(m, &m->layers[0].layer_norm1, b->x, rows, NULL, b->xn, err)))
        return rc;
    /* the hidden state stays on the device until the end: no wait inside */
    if (hidden == 0 && o->copy_async(m->g, b->hid, b->x, nd * sizeof(float), OVX_COPY_D2D))
        return ovx_error_set(err, OVX_EDEVICE, "%s", m->g->msg);
    for (int i = 0; i < c->num_layers; i++) {
        const ovx_cuda_layer_w *next = i + 1 < c->num_layers ? &m->layers[i + 1] : NULL;
        if ((rc = block(m, &m->layers[i], next, b, rows, samples, f->lengths, f, err))) {
            ovx_error_prefix(err, "layer %d", i);
            return rc;
        }
        if (hidden == i + 1 && o->copy_async(m->g, b->hid, b->x, nd * sizeof(float), OVX_COPY_D2D))
            return ovx_error_set(err, OVX_EDEVICE, "%s", m->g->msg);
    }
    if (c->use_head &&
        (rc = ovx_cuda_layernorm(m, &m->layernorm_post, b->x, rows, b->x, b->xn, err)))
        return rc;
    if (c->use_head && (rc = ovx_cuda_attention_pool(m, b, rows, samples, f->lengths, f, err)))
        return rc;
    return OVX_OK;
}
