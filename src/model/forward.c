/* forward.c: the CPU forward of the OneVision Encoder: patch embedding,
 * layernorm_pre, RoPE tables, pre-norm blocks with 3D RoPE attention,
 * layernorm_post and the attention-pooling head, calling ops.c in order. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/threads.h"
#include "common/timer.h"
#include "model/model_internal.h"
#include "model/ops.h"

/* Runs `call` and charges its wall time and `fl` FLOPs to op kind k of
 * profile P. */
#define TIMED(P, k, fl, call)                 \
    do {                                      \
        double t0_ = ovx_now_ms();            \
        call;                                 \
        (P)->ms[k] += ovx_now_ms() - t0_;     \
        (P)->flops[k] += (double)(fl);        \
        (P)->calls[k]++;                      \
    } while (0)

void ovx_outputs_free(ovx_outputs *out)
{
    if (!out)
        return;
    free(out->last_hidden_state);
    free(out->pooler_output);
    free(out->hidden_state);
    out->last_hidden_state = out->pooler_output = out->hidden_state = NULL;
}

void ovx_model_get_profile(const ovx_model *m, ovx_profile *out)
{
    *out = m->profile;
}

void ovx_model_reset_profile(ovx_model *m)
{
    memset(&m->profile, 0, sizeof m->profile);
}

/* The forward's working buffers, sized for B*N tokens. */
typedef struct fwd_buffers {
    float *x, *h, *q, *k, *v, *mlp, *cos_t, *sin_t;
} fwd_buffers;

static void free_buffers(fwd_buffers *b)
{
    free(b->x);
    free(b->h);
    free(b->q);
    free(b->k);
    free(b->v);
    free(b->mlp);
    free(b->cos_t);
    free(b->sin_t);
}

/* y = x W^T + b over B groups of N rows: oneDNN's matmul (fp32 from w, or
 * bf16 from the prepared weight bw) when mm is set, else OpenBLAS. */
static int linear(ovx_mm *mm, const ovx_mm_weight *bw, float *y, const float *x, const float *w, const float *b,
                  int B, int N, int In, int O, int threads, ovx_error *err)
{
    if (mm)
        return ovx_mm_linear(mm, y, x, w, bw, b, B, N, In, O, threads, err);
    ovx_op_linear_grouped(y, x, w, b, B, N, In, O, threads);
    return 0;
}

/* One pre-norm block on all B*N rows: x += Attn(LN1(x)); x += MLP(LN2(x)).
 * bw: the layer's six bf16 weights (q, k, v, out, fc1, fc2) or NULL. */
static int block(const ovx_model_config *c, const ovx_layer_weights *L, ovx_mm *mm, ovx_mm_weight *const *bw,
                 fwd_buffers *b, int B, int N, int threads, ovx_profile *P, ovx_error *err)
{
    int64_t T = (int64_t)B * N;
    int D = c->hidden_size, F = c->intermediate_size, H = c->num_heads;
    double lin = 2.0 * (double)T * D * D, attn = 4.0 * (double)B * N * N * D;
    ovx_mm_weight *const none[OVX_BF16_PER_LAYER] = {0};
    int bf16 = bw != NULL;
    if (!bw)
        bw = none;
    int rc = 0;
    TIMED(P, OVX_OP_NORM, 0,
          ovx_op_layernorm(b->h, b->x, L->layer_norm1_weight, L->layer_norm1_bias, T, D, c->layer_norm_eps, threads));
    TIMED(P, OVX_OP_QKV, 3 * lin, {
        rc = linear(mm, bw[0], b->q, b->h, L->q_proj_weight, L->q_proj_bias, B, N, D, D, threads, err) ||
             linear(mm, bw[1], b->k, b->h, L->k_proj_weight, L->k_proj_bias, B, N, D, D, threads, err) ||
             linear(mm, bw[2], b->v, b->h, L->v_proj_weight, L->v_proj_bias, B, N, D, D, threads, err);
    });
    if (rc)
        return -1;
    TIMED(P, OVX_OP_ROPE, 0, {
        ovx_op_rope3d_apply(b->q, b->cos_t, b->sin_t, T, H, threads);
        ovx_op_rope3d_apply(b->k, b->cos_t, b->sin_t, T, H, threads);
    });
    float scale = 1.0f / sqrtf((float)c->head_dim);
    TIMED(P, OVX_OP_ATTENTION, attn, {
        for (int s = 0; s < B && !rc; s++) {
            size_t o = (size_t)s * N * D;
            if (mm)
                rc = ovx_mm_attention(mm, bf16, b->h + o, b->q + o, b->k + o, b->v + o, N, H, scale, threads, err);
            else if (ovx_op_attention(b->h + o, b->q + o, b->k + o, b->v + o, N, N, H, scale, threads))
                rc = ovx_error_set(err, OVX_ENOMEM, "out of memory for attention scratch (%d tokens)", N);
        }
    });
    if (rc)
        return -1;
    TIMED(P, OVX_OP_OUT_PROJ, lin,
          rc = linear(mm, bw[3], b->q, b->h, L->out_proj_weight, L->out_proj_bias, B, N, D, D, threads, err));
    if (rc)
        return -1;
    TIMED(P, OVX_OP_RESIDUAL, 0, ovx_op_residual_add(b->x, b->q, T * D, threads));
    TIMED(P, OVX_OP_NORM, 0,
          ovx_op_layernorm(b->h, b->x, L->layer_norm2_weight, L->layer_norm2_bias, T, D, c->layer_norm_eps, threads));
    TIMED(P, OVX_OP_FC1, lin * F / D,
          rc = linear(mm, bw[4], b->mlp, b->h, L->fc1_weight, L->fc1_bias, B, N, D, F, threads, err));
    if (rc)
        return -1;
    TIMED(P, OVX_OP_GELU, 0, ovx_op_gelu_erf(b->mlp, T * F, threads));
    TIMED(P, OVX_OP_FC2, lin * F / D,
          rc = linear(mm, bw[5], b->q, b->mlp, L->fc2_weight, L->fc2_bias, B, N, F, D, threads, err));
    if (rc)
        return -1;
    TIMED(P, OVX_OP_RESIDUAL, 0, ovx_op_residual_add(b->x, b->q, T * D, threads));
    return 0;
}

static float *copy_floats(const float *src, size_t n)
{
    float *d = malloc(n * sizeof(float));
    if (d)
        memcpy(d, src, n * sizeof(float));
    return d;
}

int ovx_model_forward(ovx_model *m, const ovx_tokens *in, ovx_outputs *out, ovx_error *err)
{
    const ovx_model_config *c = &m->cfg;
    int want = out->hidden_state_index;
    out->last_hidden_state = out->pooler_output = out->hidden_state = NULL;
    int L = c->num_layers;
    int hs = -1; /* hidden state to keep, as 0..L */
    if (want != OVX_NO_HIDDEN_STATE) {
        hs = want < 0 ? want + L + 1 : want;
        if (hs < 0 || hs > L)
            return ovx_error_set(err, OVX_EUSAGE, "hidden state %d out of range %d..%d", want, -(L + 1), L);
    }
    if (in->batch <= 0 || in->n <= 0)
        return ovx_error_set(err, OVX_EUSAGE, "empty input (batch %d, tokens %d)", in->batch, in->n);
    int B = in->batch, N = in->n, D = c->hidden_size, F = c->intermediate_size;
    int K = c->num_channels * c->patch_size * c->patch_size;
    int64_t T = (int64_t)B * N;
    for (int64_t r = 0; r < T; r++)
        for (int a = 0; a < 3; a++)
            if (in->pos[3 * r + a] < 0)
                return ovx_error_set(err, OVX_EUSAGE, "negative position at token %lld", (long long)r);
    int threads = m->params.threads > 0 ? m->params.threads : ovx_default_threads();
    /* OpenBLAS runs single-threaded; ops.c spreads fixed chunks over our
     * threads so that results do not depend on the thread count. */
    int blas_before = openblas_get_num_threads();
    openblas_set_num_threads(1);

    fwd_buffers b = {0};
    size_t td = (size_t)T * D;
    b.x = malloc(td * sizeof(float));
    b.h = malloc(td * sizeof(float));
    b.q = malloc(td * sizeof(float));
    b.k = malloc(td * sizeof(float));
    b.v = malloc(td * sizeof(float));
    b.mlp = malloc((size_t)T * (F > K ? F : K) * sizeof(float));
    b.cos_t = malloc((size_t)T * OVX_HEAD_DIM * sizeof(float));
    b.sin_t = malloc((size_t)T * OVX_HEAD_DIM * sizeof(float));
    int rc = OVX_OK;
    if (!b.x || !b.h || !b.q || !b.k || !b.v || !b.mlp || !b.cos_t || !b.sin_t) {
        rc = ovx_error_set(err, OVX_ENOMEM, "out of memory for %lld tokens", (long long)T);
        goto done;
    }
    ovx_profile *P = &m->profile;
    ovx_mm *mm = ovx_model_mm(m);
    TIMED(P, OVX_OP_PATCH_EMBED, 2.0 * (double)T * D * K,
          rc = linear(mm, NULL, b.x, in->patches, m->w.patch_embedding_weight, NULL, B, N, K, D, threads, err));
    if (rc)
        goto done;
    TIMED(P, OVX_OP_NORM, 0,
          ovx_op_layernorm(b.x, b.x, m->w.layernorm_pre_weight, m->w.layernorm_pre_bias, T, D, c->layer_norm_eps,
                           threads));
    ovx_op_rope3d_tables(b.cos_t, b.sin_t, in->pos, T, c->rope_theta);
    if (hs == 0 && !(out->hidden_state = copy_floats(b.x, td)))
        goto oom;
    for (int l = 0; l < L; l++) {
        if (m->params.cancel && m->params.cancel(m->params.cancel_ctx)) {
            ovx_outputs_free(out);
            rc = ovx_error_set(err, OVX_EINTERRUPTED, "interrupted");
            goto done;
        }
        ovx_mm_weight *const *bw = m->bf16 ? m->bf16->weights + (size_t)l * OVX_BF16_PER_LAYER : NULL;
        if (block(c, &m->w.layers[l], mm, bw, &b, B, N, threads, P, err)) {
            rc = err->code ? err->code : OVX_EINTERNAL;
            ovx_outputs_free(out);
            goto done;
        }
        if (hs == l + 1 && !(out->hidden_state = copy_floats(b.x, td)))
            goto oom;
    }
    if (c->use_head) {
        double th = ovx_now_ms();
        ovx_op_layernorm(b.x, b.x, m->w.layernorm_post_weight, m->w.layernorm_post_bias, T, D,
                         c->layer_norm_eps, threads);
        out->pooler_output = malloc((size_t)B * D * sizeof(float));
        if (!out->pooler_output)
            goto oom;
        /* Scratch for the head: q/k/v buffers are free now. */
        float *scratch = malloc(((size_t)2 * N * D + 3 * (size_t)D + F) * sizeof(float));
        if (!scratch)
            goto oom;
        for (int s = 0; s < B; s++)
            if (ovx_op_attention_pool(out->pooler_output + (size_t)s * D, b.x + (size_t)s * N * D, &m->w.head, N, D,
                                      F, c->num_heads, 1e-6f, scratch, threads)) {
                free(scratch);
                goto oom;
            }
        free(scratch);
        P->ms[OVX_OP_HEAD] += ovx_now_ms() - th;
        P->flops[OVX_OP_HEAD] += 2.0 * B * ((double)N * D * 2 * D + 2.0 * N * D + 2.0 * D * D + 2.0 * D * F);
        P->calls[OVX_OP_HEAD]++;
    }
    out->last_hidden_state = b.x;
    b.x = NULL;
    goto done;
oom:
    rc = ovx_error_set(err, OVX_ENOMEM, "out of memory in the forward (%lld tokens)", (long long)T);
    ovx_outputs_free(out);
done:
    free_buffers(&b);
    openblas_set_num_threads(blas_before);
    return rc;
}
