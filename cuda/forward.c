/* forward.c: the CUDA forward, the same sequence as the CPU forward of
 * src/model/forward.c: patch embedding, layernorm_pre, 3D RoPE positions,
 * pre-norm blocks (LN1, q/k/v, RoPE on q and k, attention, out_proj,
 * residual; LN2, fc1, GELU, fc2, residual), layernorm_post and the pooling
 * head. Fused on the way: q/k in one GEMM (v in its own, bf16 out), RoPE
 * with the q/k split, bias, GELU and the residual adds in the GEMM
 * epilogues (out_proj and fc2 add into the residual stream in place). Also
 * the one-time weight upload (bf16 matrices, float32 vectors). */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/numerics.h"
#include "cuda/ops.h"

static const char *const op_names[OVX_CUDA_OP_COUNT] = {
    "upload", "patch_embed", "layernorm", "linear", "rope3d", "attention", "gelu_erf",
    "residual_add", "download"};

const char *ovx_cuda_op_name(int op)
{
    return op >= 0 && op < OVX_CUDA_OP_COUNT ? op_names[op] : "?";
}

void ovx_cuda_model_set_profiling(ovx_cuda_model *m, int on)
{
    m->profiling = on;
}

const double *ovx_cuda_model_timings(const ovx_cuda_model *m)
{
    return m->timings;
}

void ovx_cuda_model_set_scratch(ovx_cuda_model *m, size_t bytes)
{
    m->scratch_bytes = bytes;
}

void ovx_cuda_model_set_attention(ovx_cuda_model *m, int mode)
{
    m->attention = mode == OVX_CUDA_ATTENTION_CHUNKED || mode == OVX_CUDA_ATTENTION_WMMA
                       ? mode
                       : OVX_CUDA_ATTENTION_FUSED;
}

int ovx_cuda_model_attention(const ovx_cuda_model *m)
{
    if (m->attention == OVX_CUDA_ATTENTION_FUSED && m->g->ops->flash_attention_mma)
        return OVX_CUDA_ATTENTION_FUSED;
    if (m->attention == OVX_CUDA_ATTENTION_WMMA && m->g->ops->flash_attention)
        return OVX_CUDA_ATTENTION_WMMA;
    return OVX_CUDA_ATTENTION_CHUNKED;
}

/* ---- upload ---- */

static int up_f32(ovx_cuda_model *m, const float *src, size_t n, float **d, const char *name,
                  ovx_error *err)
{
    if (!src)
        return ovx_error_set(err, OVX_EINPUT, "CUDA upload: weight %s missing", name);
    if (m->g->ops->alloc(m->g, (void **)d, n * sizeof(float)) ||
        m->g->ops->upload(m->g, *d, src, n * sizeof(float)))
        return ovx_error_set(err, OVX_EDEVICE, "%s", m->g->msg);
    return OVX_OK;
}

/* W [out, in] float32 -> device [out, inpad] bf16 (zero padding) */
static int up_bf16(ovx_cuda_model *m, const float *src, int out, int in, int inpad, ovx_bf16 **d,
                   const char *name, ovx_error *err)
{
    if (!src)
        return ovx_error_set(err, OVX_EINPUT, "CUDA upload: weight %s missing", name);
    size_t n = (size_t)out * inpad;
    ovx_bf16 *h = calloc(n ? n : 1, sizeof *h);
    if (!h)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory converting %s to bf16", name);
    for (size_t r = 0; r < (size_t)out; r++)
        for (int c = 0; c < in; c++)
            h[r * inpad + c] = ovx_nx_to_bf16(src[r * in + c]);
    int rc = OVX_OK;
    if (m->g->ops->alloc(m->g, (void **)d, n * sizeof *h) ||
        m->g->ops->upload(m->g, *d, h, n * sizeof *h))
        rc = ovx_error_set(err, OVX_EDEVICE, "%s", m->g->msg);
    free(h);
    return rc;
}

static int up_linear(ovx_cuda_model *m, ovx_cuda_linear_w *l, const float *w, const float *b,
                     int out, int in, const char *name, ovx_error *err)
{
    l->out = out;
    l->in = in;
    l->kind = name;
    int rc = up_bf16(m, w, out, in, in, &l->w, name, err);
    if (!rc && b)
        rc = up_f32(m, b, (size_t)out, &l->b, name, err);
    if (!rc && b)
        rc = up_bf16(m, b, 1, out, out, &l->b16, name, err);
    return rc;
}

/* several [out_i, in] matrices (and biases; NULL ones as zeros) stacked
 * into one [sum out_i, in] linear layer: one GEMM instead of n */
static int up_stacked(ovx_cuda_model *m, ovx_cuda_linear_w *l, int n, const float *const *w,
                      const float *const *b, int out, int in, const char *name, ovx_error *err)
{
    const size_t per = (size_t)out * in;
    float *hw = malloc(per * n * sizeof *hw), *hb = calloc((size_t)out * n, sizeof *hb);
    int rc = hw && hb ? OVX_OK : ovx_error_set(err, OVX_ENOMEM, "out of memory stacking %s", name);
    int any_bias = 0;
    for (int i = 0; i < n && !rc; i++) {
        if (!w[i]) {
            rc = ovx_error_set(err, OVX_EINPUT, "CUDA upload: weight %s (%d of %d) missing", name,
                               i + 1, n);
            break;
        }
        memcpy(hw + per * i, w[i], per * sizeof *hw);
        if (b[i]) {
            memcpy(hb + (size_t)out * i, b[i], (size_t)out * sizeof *hb);
            any_bias = 1;
        }
    }
    if (!rc)
        rc = up_linear(m, l, hw, any_bias ? hb : NULL, out * n, in, name, err);
    free(hw);
    free(hb);
    return rc;
}

static int up_norm(ovx_cuda_model *m, ovx_cuda_norm_w *n, const float *w, const float *b,
                   const char *name, ovx_error *err)
{
    size_t d = (size_t)m->cfg.hidden_size;
    int rc = up_f32(m, w, d, &n->w, name, err);
    if (!rc && b)
        rc = up_f32(m, b, d, &n->b, name, err);
    return rc;
}

static int upload_all(ovx_cuda_model *m, const ovx_weights *w, ovx_error *err)
{
    const ovx_model_config *c = &m->cfg;
    const int d = c->hidden_size, inter = c->intermediate_size;
    int rc;
    m->patch_embedding.out = d;
    m->patch_embedding.in = m->patch_kpad;
    if ((rc = up_bf16(m, w->patch_embedding_weight, d, m->patch_k, m->patch_kpad,
                      &m->patch_embedding.w, "embeddings.patch_embedding.weight", err)) ||
        (rc = up_norm(m, &m->layernorm_pre, w->layernorm_pre_weight, w->layernorm_pre_bias,
                      "layernorm_pre", err)))
        return rc;
    for (int i = 0; i < c->num_layers; i++) {
        const ovx_layer_weights *h = &w->layers[i];
        ovx_cuda_layer_w *l = &m->layers[i];
        if ((rc = up_norm(m, &l->layer_norm1, h->layer_norm1_weight, h->layer_norm1_bias,
                          "layer_norm1", err)) ||
            (rc = up_stacked(m, &l->qk, 2, (const float *const[]){h->q_proj_weight, h->k_proj_weight},
                             (const float *const[]){h->q_proj_bias, h->k_proj_bias}, d, d,
                             "q_proj/k_proj", err)) ||
            (rc = up_linear(m, &l->v, h->v_proj_weight, h->v_proj_bias, d, d, "v_proj", err)) ||
            (rc = up_linear(m, &l->out_proj, h->out_proj_weight, h->out_proj_bias, d, d,
                            "out_proj", err)) ||
            (rc = up_norm(m, &l->layer_norm2, h->layer_norm2_weight, h->layer_norm2_bias,
                          "layer_norm2", err)) ||
            (rc = up_linear(m, &l->fc1, h->fc1_weight, h->fc1_bias, inter, d, "mlp.fc1", err)) ||
            (rc = up_linear(m, &l->fc2, h->fc2_weight, h->fc2_bias, d, inter, "mlp.fc2", err))) {
            ovx_error_prefix(err, "layer %d", i);
            return rc;
        }
    }
    if (!c->use_head)
        return OVX_OK;
    const ovx_head_weights *hw = &w->head;
    if (!hw->in_proj_weight || !hw->in_proj_bias)
        return ovx_error_set(err, OVX_EINPUT, "CUDA upload: head.attention.in_proj missing");
    const size_t dd = (size_t)d * d;
    if ((rc = up_norm(m, &m->layernorm_post, w->layernorm_post_weight, w->layernorm_post_bias,
                      "layernorm_post", err)) ||
        (rc = up_bf16(m, hw->probe, 1, d, d, &m->head_probe, "head.probe", err)) ||
        (rc = up_linear(m, &m->head_q, hw->in_proj_weight, hw->in_proj_bias, d, d,
                        "head.attention.in_proj (q)", err)) ||
        (rc = up_linear(m, &m->head_kv, hw->in_proj_weight + dd, hw->in_proj_bias + d, 2 * d,
                        d, "head.attention.in_proj (k, v)", err)) ||
        (rc = up_linear(m, &m->head_out_proj, hw->out_proj_weight, hw->out_proj_bias, d,
                        d, "head.attention.out_proj", err)) ||
        (rc = up_norm(m, &m->head_norm, hw->norm_weight, NULL, "head.norm", err)) ||
        (rc = up_linear(m, &m->head_fc1, hw->fc1_weight, hw->fc1_bias, inter, d,
                        "head.mlp.fc1", err)) ||
        (rc = up_linear(m, &m->head_fc2, hw->fc2_weight, hw->fc2_bias, d, inter,
                        "head.mlp.fc2", err)))
        return rc;
    return OVX_OK;
}

int ovx_cuda_model_upload(ovx_gpu *g, const ovx_model_config *cfg, const ovx_weights *w,
                          ovx_cuda_model **out, ovx_error *err)
{
    *out = NULL;
    const ovx_model_config *c = cfg;
    if (c->head_dim != 64 || c->num_heads < 1 || c->num_heads * 64 != c->hidden_size ||
        c->intermediate_size < 1 || c->num_layers < 1 || c->num_channels < 1 ||
        c->patch_size < 1 || !w->layers)
        return ovx_error_set(err, OVX_EUNSUPPORTED,
                             "CUDA backend: unsupported config (needs head_dim 64 and hidden_size = heads * 64)");
    if (g->ops->activate(g))
        return ovx_error_set(err, OVX_EDEVICE, "%s", g->msg);
    ovx_cuda_model *m = calloc(1, sizeof *m);
    if (!m)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    m->g = g;
    m->cfg = *c;
    m->scratch_bytes = (size_t)128 << 20;
    m->last_gpu_ms = -1.0;
    int rc = ovx_cuda_graphs_env(&m->graphs_max, err);
    if (rc) {
        free(m);
        return rc;
    }
    m->patch_k = c->num_channels * c->patch_size * c->patch_size;
    m->patch_kpad = (m->patch_k + 7) / 8 * 8; /* 16-byte rows for the tensor cores */
    m->layers = calloc((size_t)c->num_layers, sizeof *m->layers);
    rc = m->layers ? OVX_OK : ovx_error_set(err, OVX_ENOMEM, "out of memory");
    if (!rc) {
        /* inverse frequencies, j/n (not 2j/n): 8 temporal, 12 height, 12 width */
        double inv[32];
        for (int j = 0; j < 8; j++)
            inv[j] = pow(c->rope_theta, -(double)j / 8.0);
        for (int j = 0; j < 12; j++)
            inv[8 + j] = inv[20 + j] = pow(c->rope_theta, -(double)j / 12.0);
        if (g->ops->alloc(g, (void **)&m->rope_inv, sizeof inv) ||
            g->ops->upload(g, m->rope_inv, inv, sizeof inv))
            rc = ovx_error_set(err, OVX_EDEVICE, "%s", g->msg);
    }
    if (!rc)
        rc = upload_all(m, w, err);
    if (rc) {
        ovx_cuda_model_free(m);
        return rc;
    }
    *out = m;
    return OVX_OK;
}

static void free_linear(ovx_gpu *g, ovx_cuda_linear_w *l)
{
    g->ops->release(g, l->w);
    g->ops->release(g, l->b);
    g->ops->release(g, l->b16);
}

static void free_norm(ovx_gpu *g, ovx_cuda_norm_w *n)
{
    g->ops->release(g, n->w);
    g->ops->release(g, n->b);
}

void ovx_cuda_model_free(ovx_cuda_model *m)
{
    if (!m)
        return;
    ovx_gpu *g = m->g;
    free_linear(g, &m->patch_embedding);
    free_norm(g, &m->layernorm_pre);
    free_norm(g, &m->layernorm_post);
    if (m->layers)
        for (int i = 0; i < m->cfg.num_layers; i++) {
            ovx_cuda_layer_w *l = &m->layers[i];
            free_norm(g, &l->layer_norm1);
            free_norm(g, &l->layer_norm2);
            free_linear(g, &l->qk);
            free_linear(g, &l->v);
            free_linear(g, &l->out_proj);
            free_linear(g, &l->fc1);
            free_linear(g, &l->fc2);
        }
    free(m->layers);
    g->ops->release(g, m->head_probe);
    free_linear(g, &m->head_q);
    free_linear(g, &m->head_kv);
    free_linear(g, &m->head_out_proj);
    free_linear(g, &m->head_fc1);
    free_linear(g, &m->head_fc2);
    free_norm(g, &m->head_norm);
    g->ops->release(g, m->rope_inv);
    ovx_cuda_bufs_release(m);
    ovx_cuda_graphs_clear(m, -1);
    free(m);
}

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

int ovx_cuda_forward_packed(ovx_cuda_model *m, int samples, const int *lengths,
                            const float *patches, const int32_t *pos, ovx_outputs *out,
                            ovx_error *err)
{
    out->last_hidden_state = out->pooler_output = out->hidden_state = NULL;
    int slot;
    int rc = ovx_cuda_submit_packed(m, samples, lengths, patches, pos, out->hidden_state_index,
                                    &slot, err);
    return rc ? rc : ovx_cuda_collect(m, slot, out, err);
}

int ovx_cuda_forward(ovx_cuda_model *m, const ovx_tokens *in, ovx_outputs *out, ovx_error *err)
{
    if (in->batch < 1 || in->n < 1)
        return ovx_error_set(err, OVX_EUSAGE, "CUDA forward: empty batch");
    int *lengths = malloc((size_t)in->batch * sizeof *lengths);
    if (!lengths)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    for (int i = 0; i < in->batch; i++)
        lengths[i] = in->n;
    int rc = ovx_cuda_forward_packed(m, in->batch, lengths, in->patches, in->pos, out, err);
    free(lengths);
    return rc;
}
