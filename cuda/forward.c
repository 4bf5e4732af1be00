/* forward.c: the CUDA forward, the same sequence as the CPU forward of
 * src/model/forward.c: patch embedding, layernorm_pre, 3D RoPE positions,
 * pre-norm blocks (LN1, q/k/v, RoPE on q and k, attention, out_proj,
 * residual; LN2, fc1, GELU, fc2, residual), layernorm_post and the pooling
 * head. Fused on the way: q/k/v in one GEMM, RoPE with the q/k/v split,
 * bias and GELU in the GEMM epilogues, each residual add with the norm
 * after it. Also the one-time weight upload (bf16 matrices, float32 vectors). */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/timer.h"
#include "cuda/numerics.h"
#include "cuda/ops.h"

#define GPU_CALL(m, err, call)                                                 \
    do {                                                                       \
        if ((call) != 0)                                                       \
            return ovx_error_set((err), OVX_EDEVICE, "%s", (m)->g->msg);       \
    } while (0)

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
    m->attention = mode == OVX_CUDA_ATTENTION_CHUNKED ? OVX_CUDA_ATTENTION_CHUNKED
                                                      : OVX_CUDA_ATTENTION_FUSED;
}

int ovx_cuda_model_attention(const ovx_cuda_model *m)
{
    return m->attention == OVX_CUDA_ATTENTION_FUSED && m->g->ops->flash_attention
               ? OVX_CUDA_ATTENTION_FUSED
               : OVX_CUDA_ATTENTION_CHUNKED;
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
    int rc = up_bf16(m, w, out, in, in, &l->w, name, err);
    if (!rc && b)
        rc = up_f32(m, b, (size_t)out, &l->b, name, err);
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
            (rc = up_stacked(m, &l->qkv, 3,
                             (const float *const[]){h->q_proj_weight, h->k_proj_weight, h->v_proj_weight},
                             (const float *const[]){h->q_proj_bias, h->k_proj_bias, h->v_proj_bias},
                             d, d, "q_proj/k_proj/v_proj", err)) ||
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
    m->patch_k = c->num_channels * c->patch_size * c->patch_size;
    m->patch_kpad = (m->patch_k + 7) / 8 * 8; /* 16-byte rows for the tensor cores */
    m->layers = calloc((size_t)c->num_layers, sizeof *m->layers);
    int rc = m->layers ? OVX_OK : ovx_error_set(err, OVX_ENOMEM, "out of memory");
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
}

static void free_norm(ovx_gpu *g, ovx_cuda_norm_w *n)
{
    g->ops->release(g, n->w);
    g->ops->release(g, n->b);
}

static void free_bufs(ovx_gpu *g, ovx_cuda_bufs *b)
{
    void *all[] = {b->patches, b->x, b->t, b->fqkv, b->a, b->cos, b->sin, b->s, b->pos, b->patch16,
                   b->xn, b->q, b->k, b->v, b->o, b->h, b->p, b->hq, b->tiles, b->hid};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        g->ops->release(g, all[i]);
    memset(b, 0, sizeof *b);
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
            free_linear(g, &l->qkv);
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
    free_bufs(g, &m->bufs);
    if (m->stage)
        g->ops->host_free(g, m->stage);
    free(m);
}

/* ---- forward ---- */



static int alloc_bufs(ovx_cuda_model *m, ovx_cuda_bufs *b, size_t rows, int samples, size_t scratch,
                      int hid, ovx_error *err)
{
    ovx_gpu *g = m->g;
    const size_t d = (size_t)m->cfg.hidden_size, inter = (size_t)m->cfg.intermediate_size;
    const size_t wide = inter > 3 * d ? inter : 3 * d; /* fc1, and the head's k, v */
    const size_t hrows = rows > (size_t)samples ? rows : (size_t)samples;
    struct { void **p; size_t bytes; } want[] = {
        {(void **)&b->patches, rows * m->patch_k * sizeof(float)},
        {(void **)&b->pos, rows * 3 * sizeof(int32_t)},
        {(void **)&b->tiles, (OVX_CUDA_SELF_TILES(rows, (size_t)samples) + samples) * 5 * sizeof(int32_t)},
        {(void **)&b->patch16, rows * m->patch_kpad * sizeof(ovx_bf16)},
        {(void **)&b->x, rows * d * sizeof(float)},
        {(void **)&b->t, hrows * wide * sizeof(float)},
        {(void **)&b->fqkv, rows * 3 * d * sizeof(float)},
        {(void **)&b->a, (size_t)samples * d * sizeof(float)},
        {(void **)&b->cos, rows * 64 * sizeof(float)},
        {(void **)&b->sin, rows * 64 * sizeof(float)},
        {(void **)&b->xn, hrows * d * sizeof(ovx_bf16)},
        {(void **)&b->q, rows * d * sizeof(ovx_bf16)},
        {(void **)&b->k, rows * 2 * d * sizeof(ovx_bf16)}, /* the head's k, v side by side */
        {(void **)&b->v, rows * d * sizeof(ovx_bf16)},
        {(void **)&b->o, hrows * d * sizeof(ovx_bf16)},
        {(void **)&b->h, hrows * wide * sizeof(ovx_bf16)},
        {(void **)&b->hq, d * sizeof(ovx_bf16)},
        {(void **)&b->s, scratch * sizeof(float)},
        {(void **)&b->p, scratch * sizeof(ovx_bf16)},
        {(void **)&b->hid, hid ? rows * d * sizeof(float) : 0},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (g->ops->alloc(g, want[i].p, want[i].bytes))
            return ovx_error_set(err, OVX_EDEVICE, "%s", g->msg);
    return OVX_OK;
}

/* the page-locked staging buffer, grown to at least `bytes` */
static int stage_reserve(ovx_cuda_model *m, size_t bytes, ovx_error *err)
{
    if (bytes <= m->stage_bytes)
        return OVX_OK;
    if (m->stage)
        m->g->ops->host_free(m->g, m->stage);
    m->stage = NULL;
    m->stage_bytes = 0;
    if (m->g->ops->host_alloc(m->g, &m->stage, bytes))
        return ovx_error_set(err, OVX_EDEVICE, "%s", m->g->msg);
    m->stage_bytes = bytes;
    return OVX_OK;
}

/* one output of the forward: device -> staging at `at` (queued) */
typedef struct out_copy {
    float *dst;
    const float *d_src;
    size_t n, at;
} out_copy;

/* the outputs through the staging buffer: all copies queued, one wait,
 * then into the (pageable) output arrays */
static int download_all(ovx_cuda_model *m, const out_copy *c, int n, ovx_error *err)
{
    double t0 = ovx_now_ms();
    for (int i = 0; i < n; i++)
        GPU_CALL(m, err, m->g->ops->copy_async(m->g, (char *)m->stage + c[i].at, c[i].d_src,
                                               c[i].n * sizeof(float), OVX_COPY_D2H));
    GPU_CALL(m, err, m->g->ops->sync(m->g));
    for (int i = 0; i < n; i++)
        memcpy(c[i].dst, (char *)m->stage + c[i].at, c[i].n * sizeof(float));
    m->timings[OVX_CUDA_OP_DOWNLOAD] += ovx_now_ms() - t0;
    return OVX_OK;
}

/* fused attention: tile lists uploaded to b->tiles (self-attention tiles,
 * then one pooling tile per sample); ntiles 0 for the chunked path */
typedef struct attn_plan {
    int nself, npool;
} attn_plan;

/* One pre-norm block over all packed tokens, b->xn = LN1(x) on entry;
 * attention fused over all samples' tiles, or chunked per sample. The
 * residual adds are fused with the norm that follows them: LN2, and the
 * next layer's LN1 (`next`, NULL for the last layer). */
static int block(ovx_cuda_model *m, const ovx_cuda_layer_w *l, const ovx_cuda_layer_w *next,
                 ovx_cuda_bufs *b, int rows, int samples, const int *lengths, const attn_plan *ap,
                 ovx_error *err)
{
    const int d = m->cfg.hidden_size;
    int rc;
    /* x = x + out_proj(attention(rope(q), rope(k), v)) over LN1(x) */
    if ((rc = ovx_cuda_linear(m, &l->qkv, OVX_EPI_BIAS, b->xn, rows, b->fqkv, NULL, NULL, err)) ||
        (rc = ovx_cuda_rope3d_apply(m, b->fqkv, b->cos, b->sin, b->q, b->k, b->v, rows, err)))
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
    if ((rc = ovx_cuda_linear(m, &l->out_proj, OVX_EPI_BIAS, b->o, rows, b->t, NULL, NULL, err)) ||
        (rc = ovx_cuda_residual_layernorm(m, &l->layer_norm2, b->x, b->t, rows, b->xn, err)))
        return rc;
    /* x = x + fc2(gelu(fc1(LN2(x)))) */
    if ((rc = ovx_cuda_linear(m, &l->fc1, OVX_EPI_GELU_BIAS, b->xn, rows, NULL, b->h, b->t, err)) ||
        (rc = ovx_cuda_linear(m, &l->fc2, OVX_EPI_BIAS, b->h, rows, b->t, NULL, NULL, err)))
        return rc;
    if (next)
        return ovx_cuda_residual_layernorm(m, &next->layer_norm1, b->x, b->t, rows, b->xn, err);
    return ovx_cuda_residual_add(m, b->x, b->t, (size_t)rows * d, err);
}

/* Attention-pooling head: probe attends over LN_post tokens (b->xn, bf16),
 * a = out_proj(...); a = a + MLP(RMSNorm(a)). Result in b->a [samples, D]. */
static int ovx_cuda_attention_pool(ovx_cuda_model *m, ovx_cuda_bufs *b, int rows, int samples, const int *lengths,
                const attn_plan *ap, ovx_error *err)
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
        (rc = ovx_cuda_linear(m, &m->head_fc2, OVX_EPI_BIAS, b->h, samples, b->t, NULL, NULL, err)) ||
        (rc = ovx_cuda_residual_add(m, b->a, b->t, (size_t)samples * d, err)))
        return rc;
    return OVX_OK;
}

static int run(ovx_cuda_model *m, ovx_cuda_bufs *b, int rows, int samples, const int *lengths,
               const float *patches, const int32_t *pos, int hidden, ovx_outputs *out,
               ovx_error *err)
{
    const ovx_model_config *c = &m->cfg;
    const size_t nd = (size_t)rows * c->hidden_size;
    double t0 = ovx_now_ms();
    /* inputs: patches, positions, tile lists -> the staging buffer ->
     * queued copies (no wait: the kernels after them are stream-ordered) */
    const size_t patch_bytes = (size_t)rows * m->patch_k * sizeof(float);
    const size_t pos_bytes = (size_t)rows * 3 * sizeof(int32_t);
    const size_t ntile = (size_t)OVX_CUDA_SELF_TILES(rows, samples) + samples;
    const size_t in_bytes = patch_bytes + pos_bytes + ntile * 5 * sizeof(int32_t);
    const size_t out_bytes = (nd * (hidden >= 0 ? 2 : 1) + (size_t)samples * c->hidden_size) *
                             sizeof(float);
    int rc = stage_reserve(m, in_bytes > out_bytes ? in_bytes : out_bytes, err);
    if (rc)
        return rc;
    char *st = m->stage;
    memcpy(st, patches, patch_bytes);
    memcpy(st + patch_bytes, pos, pos_bytes);
    attn_plan ap = {0, 0};
    int32_t *tiles = (int32_t *)(st + patch_bytes + pos_bytes);
    if (ovx_cuda_model_attention(m) == OVX_CUDA_ATTENTION_FUSED) {
        ap.nself = ovx_cuda_attention_self_tiles(samples, lengths, tiles);
        for (int s = 0, off = 0; s < samples; off += lengths[s++]) {
            int32_t *t = tiles + 5 * (ap.nself + s);
            t[0] = 0;          /* the probe */
            t[1] = 1;
            t[2] = off;        /* over the sample's tokens */
            t[3] = lengths[s];
            t[4] = s;          /* output row s */
        }
        ap.npool = samples;
    }
    const ovx_gpu_ops *o = m->g->ops;
    if (o->copy_async(m->g, b->patches, st, patch_bytes, OVX_COPY_H2D) ||
        o->copy_async(m->g, b->pos, st + patch_bytes, pos_bytes, OVX_COPY_H2D) ||
        (ap.nself && o->copy_async(m->g, b->tiles, tiles,
                                   (size_t)(ap.nself + ap.npool) * 5 * sizeof *tiles, OVX_COPY_H2D)))
        return ovx_error_set(err, OVX_EDEVICE, "%s", m->g->msg);
    m->timings[OVX_CUDA_OP_UPLOAD] += ovx_now_ms() - t0;
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
        if ((rc = block(m, &m->layers[i], next, b, rows, samples, lengths, &ap, err))) {
            ovx_error_prefix(err, "layer %d", i);
            return rc;
        }
        if (hidden == i + 1 && o->copy_async(m->g, b->hid, b->x, nd * sizeof(float), OVX_COPY_D2D))
            return ovx_error_set(err, OVX_EDEVICE, "%s", m->g->msg);
    }
    if (c->use_head &&
        (rc = ovx_cuda_layernorm(m, &m->layernorm_post, b->x, rows, b->x, b->xn, err)))
        return rc;
    if (c->use_head && (rc = ovx_cuda_attention_pool(m, b, rows, samples, lengths, &ap, err)))
        return rc;
    out_copy oc[3];
    int n = 0;
    oc[n++] = (out_copy){out->last_hidden_state, b->x, nd, 0};
    if (hidden >= 0)
        oc[n++] = (out_copy){out->hidden_state, b->hid, nd, nd * sizeof(float)};
    if (c->use_head)
        oc[n++] = (out_copy){out->pooler_output, b->a, (size_t)samples * c->hidden_size,
                             nd * (hidden >= 0 ? 2 : 1) * sizeof(float)};
    return download_all(m, oc, n, err);
}

int ovx_cuda_forward_packed(ovx_cuda_model *m, int samples, const int *lengths,
                            const float *patches, const int32_t *pos, ovx_outputs *out,
                            ovx_error *err)
{
    const ovx_model_config *c = &m->cfg;
    out->last_hidden_state = out->pooler_output = out->hidden_state = NULL;
    if (samples < 1 || !lengths || !patches || !pos)
        return ovx_error_set(err, OVX_EUSAGE, "CUDA forward: empty batch");
    size_t rows = 0, scratch = 0;
    const size_t wide = (size_t)(c->intermediate_size > 3 * c->hidden_size ? c->intermediate_size
                                                                           : 3 * c->hidden_size);
    for (int s = 0; s < samples; s++) {
        if (lengths[s] < 1)
            return ovx_error_set(err, OVX_EUSAGE, "CUDA forward: sample %d has no tokens", s);
        rows += (size_t)lengths[s];
        if (rows * wide > (size_t)INT_MAX)
            return ovx_error_set(err, OVX_EUSAGE, "CUDA forward: batch of %zu tokens too large",
                                 rows);
        size_t need = OVX_CUDA_ATTN_SCRATCH(
            c->num_heads, ovx_cuda_attention_chunk(m, lengths[s], lengths[s]), lengths[s]);
        if (ovx_cuda_model_attention(m) == OVX_CUDA_ATTENTION_FUSED)
            need = 0; /* no score scratch */
        if (need > scratch)
            scratch = need;
    }
    for (size_t i = 0; i < rows; i++)
        if (pos[3 * i] < 0 || pos[3 * i + 1] < 0 || pos[3 * i + 2] < 0)
            return ovx_error_set(err, OVX_EINPUT, "CUDA forward: token %zu has a negative position", i);
    int hidden = out->hidden_state_index;
    if (hidden != OVX_NO_HIDDEN_STATE) {
        if (hidden < 0)
            hidden += c->num_layers + 1;
        if (hidden < 0 || hidden > c->num_layers)
            return ovx_error_set(err, OVX_EUSAGE, "hidden state %d out of range [-%d, %d]",
                                 out->hidden_state_index, c->num_layers + 1, c->num_layers);
    } else {
        hidden = -1;
    }
    const size_t nd = rows * (size_t)c->hidden_size;
    out->last_hidden_state = malloc(nd * sizeof(float));
    if (c->use_head)
        out->pooler_output = malloc((size_t)samples * c->hidden_size * sizeof(float));
    if (hidden >= 0)
        out->hidden_state = malloc(nd * sizeof(float));
    if (!out->last_hidden_state || (c->use_head && !out->pooler_output) ||
        (hidden >= 0 && !out->hidden_state)) {
        free(out->last_hidden_state);
        free(out->pooler_output);
        free(out->hidden_state);
        out->last_hidden_state = out->pooler_output = out->hidden_state = NULL;
        return ovx_error_set(err, OVX_ENOMEM, "out of memory for the outputs");
    }
    memset(m->timings, 0, sizeof m->timings);
    if (m->g->ops->activate(m->g)) {
        ovx_outputs_free(out);
        return ovx_error_set(err, OVX_EDEVICE, "%s", m->g->msg);
    }
    /* working buffers are kept between calls and grown when needed
     * (cudaMalloc/cudaFree per forward would synchronise the device) */
    int rc = OVX_OK;
    if (rows > m->bufs_rows || (size_t)samples > m->bufs_samples || scratch > m->bufs_scratch ||
        (hidden >= 0 && !m->bufs_hid)) {
        free_bufs(m->g, &m->bufs);
        size_t r = rows > m->bufs_rows ? rows : m->bufs_rows;
        size_t s = (size_t)samples > m->bufs_samples ? (size_t)samples : m->bufs_samples;
        size_t sc = scratch > m->bufs_scratch ? scratch : m->bufs_scratch;
        int hid = m->bufs_hid || hidden >= 0;
        m->bufs_rows = m->bufs_samples = m->bufs_scratch = 0;
        m->bufs_hid = 0;
        rc = alloc_bufs(m, &m->bufs, r, (int)s, sc, hid, err);
        if (rc) {
            free_bufs(m->g, &m->bufs);
        } else {
            m->bufs_rows = r;
            m->bufs_samples = s;
            m->bufs_scratch = sc;
            m->bufs_hid = hid;
        }
    }
    if (!rc)
        rc = run(m, &m->bufs, (int)rows, samples, lengths, patches, pos, hidden, out, err);
    if (rc) {
        free(out->last_hidden_state);
        free(out->pooler_output);
        free(out->hidden_state);
        out->last_hidden_state = out->pooler_output = out->hidden_state = NULL;
    }
    return rc;
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
