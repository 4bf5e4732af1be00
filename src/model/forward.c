/* forward.c: the CPU forward of the OneVision Encoder on a packed batch
 * (samples of any lengths back to back): patch embedding, layernorm_pre,
 * RoPE tables, pre-norm blocks with 3D RoPE attention (per sample),
 * layernorm_post and the attention-pooling head (per sample), calling ops.c
 * in order; linear layers over all samples' rows at once (rows.h). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/threads.h"
#include "common/timer.h"
#include "io/half.h"
#include "model/bigmem.h"
#include "model/model_internal.h"
#include "model/ops.h"
#include "model/rows.h"
#include "model/vecmath.h"

/* Runs `call` and charges its wall time and `fl` FLOPs to op kind k of
 * profile P; TIMED also counts a call (TIMED_PART does not: an op done in
 * several row blocks counts once per layer). */
#define TIMED_PART(P, k, fl, call)            \
    do {                                      \
        double t0_ = ovx_now_ms();            \
        call;                                 \
        (P)->ms[k] += ovx_now_ms() - t0_;     \
        (P)->flops[k] += (double)(fl);        \
    } while (0)
#define TIMED(P, k, fl, call)                 \
    do {                                      \
        TIMED_PART(P, k, fl, call);           \
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

/* Rows of fc1 output the MLP holds at once: at least 2048, and 4 chunks per
 * thread, so every thread has work in each row block. */
static int64_t mlp_block_rows(int threads)
{
    int64_t r = (int64_t)threads * 4 * OVX_LINEAR_ROWS;
    return r > 2048 ? r : 2048;
}

/* One forward over a packed batch: S samples of len[s] tokens, T in all. */
typedef struct fwd {
    const ovx_model_config *c;
    ovx_mm *mm;
    int threads;
    ovx_profile *P;
    int S;
    const int *len;
    int64_t T;
    ovx_piece *whole;        /* [S] one piece per sample */
    ovx_piece *chunks;       /* linear chunk scratch */
    ovx_row_blocks blocks;   /* the MLP's row blocks */
    float *x, *h, *qk, *q, *k, *v, *mlp, *cos_t, *sin_t;
} fwd;

static void fwd_free(fwd *f)
{
    free(f->whole);
    free(f->chunks);
    ovx_row_blocks_free(&f->blocks);
    free(f->x);
    free(f->h);
    free(f->qk);
    free(f->v);
    free(f->mlp);
    free(f->cos_t);
    free(f->sin_t);
}

/* Buffers of a forward (activations and scratch, besides the outputs):
 * x, h, q, k, v [T, D] (q and k in one block that the head reuses as its
 * scratch), the fc1 output of one row block [block rows, F], RoPE tables
 * [T, 64] and the chunk list. */
static int fwd_alloc(fwd *f, const ovx_model_config *c)
{
    int D = c->hidden_size, F = c->intermediate_size;
    size_t td = (size_t)f->T * D;
    int64_t cap = mlp_block_rows(f->threads);
    f->whole = malloc((size_t)f->S * sizeof *f->whole);
    f->chunks = malloc((size_t)ovx_rows_max_chunks(f->T, f->S + (int)((f->T + cap - 1) / cap)) * sizeof *f->chunks);
    if (!f->whole || !f->chunks || ovx_row_blocks_plan(&f->blocks, f->S, f->len, cap))
        return -1;
    int64_t row = 0, most = 0;
    for (int s = 0; s < f->S; s++) {
        f->whole[s] = (ovx_piece){row, f->len[s]};
        row += f->len[s];
    }
    for (int k = 0; k < f->blocks.n; k++)
        most = f->blocks.rows[k] > most ? f->blocks.rows[k] : most;
    f->x = ovx_big_alloc(td * sizeof(float));
    f->h = ovx_big_alloc(td * sizeof(float));
    f->qk = ovx_big_alloc((2 * td + 3 * (size_t)D + (size_t)F) * sizeof(float));
    f->v = ovx_big_alloc(td * sizeof(float));
    f->mlp = ovx_big_alloc((size_t)most * F * sizeof(float));
    f->cos_t = malloc((size_t)f->T * OVX_HEAD_DIM * sizeof(float));
    f->sin_t = malloc((size_t)f->T * OVX_HEAD_DIM * sizeof(float));
    if (!f->x || !f->h || !f->qk || !f->v || !f->mlp || !f->cos_t || !f->sin_t)
        return -1;
    f->q = f->qk;
    f->k = f->qk + td;
    return 0;
}

/* y = x W^T + b, then epi (NULL: none), on every sample's rows: oneDNN's
 * matmul (fp32 from w, or bf16 from the prepared weight bw) when mm is set,
 * else OpenBLAS. */
static int linear(fwd *f, const ovx_mm_weight *bw, float *y, const float *x, const float *w, const float *b,
                  const ovx_epilogue *epi, int In, int O, ovx_error *err)
{
    return ovx_linear_pieces(f->mm, bw, y, x, w, b, epi, f->whole, f->S, In, O, f->chunks, f->threads, err);
}

/* RoPE as the epilogue of the q or k projection: y is a chunk of the rows
 * of base [T, D]. */
typedef struct rope_epi {
    const float *base, *cos_t, *sin_t;
    int D, H;
} rope_epi;

static void rope_chunk(void *ctx, float *y, int64_t rows)
{
    const rope_epi *r = ctx;
    int64_t row = (y - r->base) / r->D;
    ovx_op_rope3d_rows(y, r->cos_t + row * OVX_HEAD_DIM, r->sin_t + row * OVX_HEAD_DIM, rows, r->H);
}

/* LayerNorm as the epilogue of a residual add: y is a chunk of the rows of
 * base [T, D] (x, final once its chunk is computed), normalised into the
 * same rows of out (h). */
typedef struct norm_epi {
    const float *base;
    float *out;
    const float *w, *b;
    int D;
    float eps;
} norm_epi;

static void norm_chunk(void *ctx, float *y, int64_t rows)
{
    const norm_epi *n = ctx;
    int64_t r0 = (y - n->base) / n->D;
    for (int64_t r = 0; r < rows; r++)
        ovx_layernorm_row(n->out + (r0 + r) * n->D, y + r * n->D, n->w, n->b, n->D, n->eps);
}

/* One pre-norm block on all T rows: x += Attn(LN1(x)); x += MLP(LN2(x)),
 * the attention per sample; h holds LN1(x) on entry and, when `next` is
 * set, the next layer's LN1(x) on return. bw: the layer's six bf16 weights
 * (q, k, v, out, fc1, fc2) or NULL. RoPE, GELU, the residual adds and the
 * layernorms after them are the epilogues of the q/k, fc1 and out_proj/fc2
 * matmuls (applied to each chunk's rows as they are computed), so their
 * time shows in those ops' profile rows. */
static int block(fwd *f, const ovx_layer_weights *L, const ovx_layer_weights *next, ovx_mm_weight *const *bw,
                 ovx_error *err)
{
    const ovx_model_config *c = f->c;
    ovx_profile *P = f->P;
    int64_t T = f->T;
    int D = c->hidden_size, F = c->intermediate_size, H = c->num_heads, threads = f->threads;
    double lin = 2.0 * (double)T * D * D, attn = 0;
    for (int s = 0; s < f->S; s++)
        attn += 4.0 * (double)f->len[s] * f->len[s] * D;
    ovx_mm_weight *const none[OVX_BF16_PER_LAYER] = {0};
    int bf16 = bw != NULL;
    if (!bw)
        bw = none;
    int rc = 0;
    rope_epi rq = {f->q, f->cos_t, f->sin_t, D, H}, rk = {f->k, f->cos_t, f->sin_t, D, H};
    const ovx_epilogue eq = {OVX_LIN_PLAIN, rope_chunk, &rq}, ek = {OVX_LIN_PLAIN, rope_chunk, &rk};
    norm_epi n2 = {f->x, f->h, L->layer_norm2_weight, L->layer_norm2_bias, D, c->layer_norm_eps};
    norm_epi n1 = {f->x, f->h, next ? next->layer_norm1_weight : NULL, next ? next->layer_norm1_bias : NULL, D,
                   c->layer_norm_eps};
    const ovx_epilogue gelu = {OVX_LIN_GELU, NULL, NULL}, add_norm2 = {OVX_LIN_ADD, norm_chunk, &n2},
                       add_norm1 = {OVX_LIN_ADD, next ? norm_chunk : NULL, &n1};
    TIMED(P, OVX_OP_QKV, 3 * lin, {
        rc = linear(f, bw[0], f->q, f->h, L->q_proj_weight, L->q_proj_bias, &eq, D, D, err) ||
             linear(f, bw[1], f->k, f->h, L->k_proj_weight, L->k_proj_bias, &ek, D, D, err) ||
             linear(f, bw[2], f->v, f->h, L->v_proj_weight, L->v_proj_bias, NULL, D, D, err);
    });
    if (rc)
        return -1;
    float scale = 1.0f / sqrtf((float)c->head_dim);
    TIMED(P, OVX_OP_ATTENTION, attn, {
        size_t o = 0;
        for (int s = 0; s < f->S && !rc; s++) {
            int N = f->len[s];
            if (f->mm)
                rc = ovx_mm_attention(f->mm, bf16, f->h + o, f->q + o, f->k + o, f->v + o, N, H, scale, threads,
                                      err);
            else if (ovx_op_attention(f->h + o, f->q + o, f->k + o, f->v + o, N, N, H, scale, threads))
                rc = ovx_error_set(err, OVX_ENOMEM, "out of memory for attention scratch (%d tokens)", N);
            o += (size_t)N * D;
        }
    });
    if (rc)
        return -1;
    TIMED(P, OVX_OP_OUT_PROJ, lin,
          rc = linear(f, bw[3], f->x, f->h, L->out_proj_weight, L->out_proj_bias, &add_norm2, D, D, err));
    if (rc)
        return -1;
    /* the MLP one row block at a time: fc1 + GELU, then x += fc2 (h = next LN1(x)) */
    const ovx_row_blocks *rb = &f->blocks;
    for (int k = 0; k < rb->n && !rc; k++) {
        const ovx_piece *pc = rb->pieces + rb->first[k];
        int np = rb->first[k + 1] - rb->first[k];
        int64_t r0 = rb->start[k], rows = rb->rows[k];
        double fl = 2.0 * (double)rows * D * F;
        TIMED_PART(P, OVX_OP_FC1, fl,
                   rc = ovx_linear_pieces(f->mm, bw[4], f->mlp, f->h + r0 * D, L->fc1_weight, L->fc1_bias, &gelu, pc,
                                          np, D, F, f->chunks, threads, err));
        if (rc)
            break;
        TIMED_PART(P, OVX_OP_FC2, fl,
                   rc = ovx_linear_pieces(f->mm, bw[5], f->x + r0 * D, f->mlp, L->fc2_weight, L->fc2_bias, &add_norm1, pc,
                                          np, F, D, f->chunks, threads, err));
    }
    if (rc)
        return -1;
    P->calls[OVX_OP_FC1]++;
    P->calls[OVX_OP_FC2]++;
    return 0;
}

static float *copy_floats(const float *src, size_t n)
{
    float *d = malloc(n * sizeof(float));
    if (d)
        memcpy(d, src, n * sizeof(float));
    return d;
}

/* x[i] <- the bf16 value nearest x[i] (round to nearest even), in place. */
static void round_bf16_values(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = ovx_bf16_to_f32(ovx_f32_to_bf16(x[i]));
}

/* The patch embedding. In bf16 the patches and the weight are rounded to
 * bf16 first (the weight once per model), as the CUDA path's bf16 GEMM takes
 * them; the products of bf16 values are exact in fp32, so the fp32 matmul
 * then gives the bf16 GEMM's result up to the order of its fp32 sums. */
static int patch_embed(fwd *f, ovx_model *m, const float *patches, int K, int D, ovx_error *err)
{
    const float *w = m->w.patch_embedding_weight;
    if (!m->bf16)
        return linear(f, NULL, f->x, patches, w, NULL, NULL, K, D, err);
    size_t np = (size_t)f->T * K, nw = (size_t)D * K;
    if (!m->bf16->patch_w) {
        if (!(m->bf16->patch_w = copy_floats(w, nw)))
            return ovx_error_set(err, OVX_ENOMEM, "out of memory for the bf16 patch embedding weight");
        round_bf16_values(m->bf16->patch_w, nw);
    }
    float *pb = ovx_big_alloc(np * sizeof *pb);
    if (!pb)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory for bf16 patches (%lld tokens)", (long long)f->T);
    memcpy(pb, patches, np * sizeof *pb);
    round_bf16_values(pb, np);
    int rc = linear(f, NULL, f->x, pb, m->bf16->patch_w, NULL, NULL, K, D, err);
    free(pb);
    return rc;
}

int ovx_model_forward_packed(ovx_model *m, int samples, const int *lengths, const float *patches,
                             const int32_t *pos, ovx_outputs *out, ovx_error *err)
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
    if (samples <= 0)
        return ovx_error_set(err, OVX_EUSAGE, "empty input (batch %d)", samples);
    int64_t T = 0;
    for (int s = 0; s < samples; s++) {
        if (lengths[s] <= 0)
            return ovx_error_set(err, OVX_EUSAGE, "empty input (sample %d has %d tokens)", s, lengths[s]);
        T += lengths[s];
    }
    int D = c->hidden_size, F = c->intermediate_size;
    int K = c->num_channels * c->patch_size * c->patch_size;
    for (int64_t r = 0; r < T; r++)
        for (int a = 0; a < 3; a++)
            if (pos[3 * r + a] < 0)
                return ovx_error_set(err, OVX_EUSAGE, "negative position at token %lld", (long long)r);
    fwd f = {.c = c, .threads = m->params.threads > 0 ? m->params.threads : ovx_default_threads(),
             .P = &m->profile, .S = samples, .len = lengths, .T = T};
    int threads = f.threads;
    /* OpenBLAS runs single-threaded; ops.c spreads fixed chunks over our
     * threads so that results do not depend on the thread count. Only set
     * when needed: openblas_set_num_threads restarts a pool the CLI has shut
     * down (src/cli/blas_env.c), whose worker then spins in sched_yield
     * (~0.13 CPU s per process, measured on a tiny extract). */
    int blas_before = openblas_get_num_threads();
    if (blas_before != 1)
        openblas_set_num_threads(1);
    size_t td = (size_t)T * D;
    int rc = OVX_OK;
    if (fwd_alloc(&f, c)) {
        rc = ovx_error_set(err, OVX_ENOMEM, "out of memory for %lld tokens", (long long)T);
        goto done;
    }
    ovx_profile *P = &m->profile;
    f.mm = ovx_model_mm(m);
    TIMED(P, OVX_OP_PATCH_EMBED, 2.0 * (double)T * D * K, rc = patch_embed(&f, m, patches, K, D, err));
    if (rc)
        goto done;
    TIMED(P, OVX_OP_NORM, 0,
          ovx_op_layernorm(f.x, f.x, m->w.layernorm_pre_weight, m->w.layernorm_pre_bias, T, D, c->layer_norm_eps,
                           threads));
    ovx_op_rope3d_tables(f.cos_t, f.sin_t, pos, T, c->rope_theta);
    if (hs == 0 && !(out->hidden_state = copy_floats(f.x, td)))
        goto oom;
    if (L > 0)
        TIMED(P, OVX_OP_NORM, 0,
              ovx_op_layernorm(f.h, f.x, m->w.layers[0].layer_norm1_weight, m->w.layers[0].layer_norm1_bias, T, D,
                               c->layer_norm_eps, threads));
    for (int l = 0; l < L; l++) {
        if (m->params.cancel && m->params.cancel(m->params.cancel_ctx)) {
            ovx_outputs_free(out);
            rc = ovx_error_set(err, OVX_EINTERRUPTED, "interrupted");
            goto done;
        }
        ovx_mm_weight *const *bw = m->bf16 ? m->bf16->weights + (size_t)l * OVX_BF16_PER_LAYER : NULL;
        if (block(&f, &m->w.layers[l], l + 1 < L ? &m->w.layers[l + 1] : NULL, bw, err)) {
            rc = err->code ? err->code : OVX_EINTERNAL;
            ovx_outputs_free(out);
            goto done;
        }
        if (hs == l + 1 && !(out->hidden_state = copy_floats(f.x, td)))
            goto oom;
    }
    if (c->use_head) {
        double th = ovx_now_ms();
        ovx_op_layernorm(f.x, f.x, m->w.layernorm_post_weight, m->w.layernorm_post_bias, T, D,
                         c->layer_norm_eps, threads);
        out->pooler_output = malloc((size_t)samples * D * sizeof(float));
        if (!out->pooler_output)
            goto oom;
        /* the head's scratch (2 N D + 3 D + F floats) is the q/k block */
        double fl = 0;
        size_t o = 0;
        for (int s = 0; s < samples; s++) {
            int N = lengths[s];
            float *pool = out->pooler_output + (size_t)s * D;
            const ovx_head_weights *hw = &m->w.head;
            if (f.mm) { /* k, v on oneDNN as the blocks' linear layers, then the rest */
                ovx_piece one = {0, N};
                if (ovx_linear_pieces(f.mm, NULL, f.qk, f.x + o, hw->in_proj_weight + (size_t)D * D,
                                      hw->in_proj_bias + D, NULL, &one, 1, D, D, f.chunks, threads, err) ||
                    ovx_linear_pieces(f.mm, NULL, f.qk + (size_t)N * D, f.x + o,
                                      hw->in_proj_weight + (size_t)2 * D * D, hw->in_proj_bias + 2 * D, NULL, &one,
                                      1, D, D, f.chunks, threads, err)) {
                    rc = err->code ? err->code : OVX_EINTERNAL;
                    ovx_outputs_free(out);
                    goto done;
                }
                if (ovx_op_attention_pool_kv(pool, hw, N, D, F, c->num_heads, 1e-6f, f.qk, threads))
                    goto oom;
            } else if (ovx_op_attention_pool(pool, f.x + o, hw, N, D, F, c->num_heads, 1e-6f, f.qk, threads))
                goto oom;
            o += (size_t)N * D;
            fl += 2.0 * ((double)N * D * 2 * D + 2.0 * N * D + 2.0 * D * D + 2.0 * D * F);
        }
        P->ms[OVX_OP_HEAD] += ovx_now_ms() - th;
        P->flops[OVX_OP_HEAD] += fl;
        P->calls[OVX_OP_HEAD]++;
    }
    out->last_hidden_state = f.x;
    f.x = NULL;
    goto done;
oom:
    rc = ovx_error_set(err, OVX_ENOMEM, "out of memory in the forward (%lld tokens)", (long long)T);
    ovx_outputs_free(out);
done:
    fwd_free(&f);
    if (blas_before != 1)
        openblas_set_num_threads(blas_before);
    return rc;
}

int ovx_model_forward(ovx_model *m, const ovx_tokens *in, ovx_outputs *out, ovx_error *err)
{
    out->last_hidden_state = out->pooler_output = out->hidden_state = NULL;
    if (in->batch <= 0 || in->n <= 0)
        return ovx_error_set(err, OVX_EUSAGE, "empty input (batch %d, tokens %d)", in->batch, in->n);
    int *len = malloc((size_t)in->batch * sizeof *len);
    if (!len)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    for (int s = 0; s < in->batch; s++)
        len[s] = in->n;
    int rc = ovx_model_forward_packed(m, in->batch, len, in->patches, in->pos, out, err);
    free(len);
    return rc;
}
