/* item_model.c: the model half of `ovx extract`'s items (main thread):
 * one padding-free forward on the --device engine over every view of a
 * batch of prepared items, submitted and collected around the writes of
 * the batch before it; a failed batch reruns item by item. */
#include <stdlib.h>
#include <string.h>

#include "common/timer.h"
#include "engine/engine.h"
#include "extract/prepared.h"
#include "model/model.h"

/* One padding-free forward over every view of items[0..n) (a sample per
 * view, in item then view order, packed by the engine: on CUDA straight
 * into its page-locked slot), in flight between fwd_submit and fwd_collect
 * (the views' buffers live in the items until then), then each item's
 * slices copied into its own [V,N,D] / [V,D] buffers. On the CPU
 * (ovx_model_forward_packed) each sample's rows go through the same fixed
 * row chunks as a lone item's, so the results do not depend on the
 * batching. */
typedef struct packed_fwd {
    ovx_prepared **items;
    size_t n, samples, total;
    int *lengths;
    const float **patches;   /* [samples]: each view's own buffers (the engine packs them) */
    const int32_t **pos;
    int ticket;
} packed_fwd;

static void fwd_free(packed_fwd *f)
{
    free(f->lengths);
    free(f->patches);
    free(f->pos);
    f->lengths = NULL;
    f->patches = NULL;
    f->pos = NULL;
}

static int fwd_submit(const ovx_extract_ctx *ctx, ovx_prepared **items, size_t n, packed_fwd *f, ovx_error *err)
{
    memset(f, 0, sizeof *f);
    f->items = items;
    f->n = n;
    size_t samples = 0, total = 0;
    for (size_t i = 0; i < n; i++)
        for (int v = 0; v < items[i]->n_views; v++) {
            const ovx_tokens *t = &items[i]->views[v].tb.tokens;
            if (t->batch != 1 || t->n < 1)
                return ovx_error_set(err, OVX_EINTERNAL, "view with %d x %d tokens", t->batch, t->n);
            samples++;
            total += (size_t)t->n;
        }
    if (samples > 65536)
        return ovx_error_set(err, OVX_EUSAGE, "%zu samples in one batch", samples);
    f->samples = samples;
    f->total = total;
    f->lengths = malloc(samples * sizeof *f->lengths);
    f->patches = malloc(samples * sizeof *f->patches);
    f->pos = malloc(samples * sizeof *f->pos);
    if (!f->lengths || !f->patches || !f->pos) {
        fwd_free(f);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    }
    size_t s = 0;
    for (size_t i = 0; i < n; i++)
        for (int v = 0; v < items[i]->n_views; v++, s++) {
            const ovx_tokens *t = &items[i]->views[v].tb.tokens;
            f->lengths[s] = t->n;
            f->patches[s] = t->patches;
            f->pos[s] = t->pos;
        }
    int rc = ovx_engine_submit_gather(ctx->engine, (int)samples, f->lengths, f->patches, f->pos,
                                      ctx->opts->hidden_index, &f->ticket, err);
    if (rc)
        fwd_free(f);
    return rc;
}

static int fwd_collect(const ovx_extract_ctx *ctx, packed_fwd *f, ovx_error *err)
{
    const size_t D = (size_t)ovx_model_get_config(ctx->model)->hidden_size;
    ovx_outputs out = {.hidden_state_index = ctx->opts->hidden_index};
    int rc = ovx_engine_collect(ctx->engine, f->ticket, &out, err);
    fwd_free(f);
    if (rc == OVX_OK) /* a NaN/Inf fails the batch, then (retried alone) only its item */
        rc = ovx_outputs_check_finite(&out, (int64_t)f->samples, (int64_t)f->total, (int)D, "model forward", err);
    size_t s = 0, off = 0;
    for (size_t i = 0; i < f->n && rc == OVX_OK; i++) {
        ovx_prepared *p = f->items[i];
        size_t V = (size_t)p->n_views, N = (size_t)p->views[0].tb.tokens.n;
        p->tokens = malloc(V * N * D * sizeof(float));
        p->pooled = out.pooler_output ? malloc(V * D * sizeof(float)) : NULL;
        p->hidden = out.hidden_state ? malloc(V * N * D * sizeof(float)) : NULL;
        if (!p->tokens || (out.pooler_output && !p->pooled) || (out.hidden_state && !p->hidden)) {
            rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
            break;
        }
        for (size_t v = 0; v < V; v++, s++) { /* views of one item have the same N */
            memcpy(p->tokens + v * N * D, out.last_hidden_state + off * D, N * D * sizeof(float));
            if (p->hidden)
                memcpy(p->hidden + v * N * D, out.hidden_state + off * D, N * D * sizeof(float));
            if (p->pooled)
                memcpy(p->pooled + v * D, out.pooler_output + s * D, D * sizeof(float));
            off += N;
        }
    }
    ovx_outputs_free(&out);
    if (rc != OVX_OK)
        for (size_t i = 0; i < f->n; i++)
            ovx_prepared_drop_results(f->items[i]);
    return rc;
}

static int forward_items(const ovx_extract_ctx *ctx, ovx_prepared **items, size_t n, ovx_error *err)
{
    packed_fwd f;
    int rc = fwd_submit(ctx, items, n, &f, err);
    return rc ? rc : fwd_collect(ctx, &f, err);
}

static size_t item_tokens(const ovx_prepared *p)
{
    return (size_t)p->n_views * (size_t)p->views[0].tb.tokens.n;
}

struct ovx_extract_batch {
    ovx_prepared **live;      /* the items that need the forward */
    size_t m, total;
    packed_fwd f;
    int rc;                   /* the submit's */
    ovx_error err;
    double t0;
};

ovx_extract_batch *ovx_extract_model_submit(const ovx_extract_ctx *ctx, ovx_prepared **items, size_t n)
{
    ovx_extract_batch *b = calloc(1, sizeof *b);
    ovx_prepared **live = malloc((n ? n : 1) * sizeof *live);
    if (!b || !live) {
        free(b);
        free(live);
        for (size_t i = 0; i < n; i++)
            if (items[i] && !items[i]->failed && !items[i]->model_done) {
                ovx_error_set(&items[i]->err, OVX_ENOMEM, "out of memory");
                ovx_prepared_fail(items[i], "model");
            }
        return NULL;
    }
    b->live = live;
    for (size_t i = 0; i < n; i++) {
        ovx_prepared *p = items[i];
        if (!p || p->failed || p->model_done)
            continue;
        live[b->m++] = p;
        b->total += item_tokens(p);
    }
    ovx_error_clear(&b->err);
    b->t0 = ovx_now_ms();
    b->rc = b->m ? fwd_submit(ctx, live, b->m, &b->f, &b->err) : OVX_OK;
    return b;
}

void ovx_extract_model_collect(const ovx_extract_ctx *ctx, ovx_extract_batch *b)
{
    if (!b)
        return;
    const size_t m = b->m;
    ovx_prepared **live = b->live;
    ovx_error err = b->err;
    int rc = b->rc;
    if (rc == OVX_OK && m)
        rc = fwd_collect(ctx, &b->f, &err);
    double ms = ovx_now_ms() - b->t0;
    for (size_t i = 0; i < m && rc == OVX_OK; i++) {
        live[i]->model_done = 1;
        live[i]->t_model = ms * (double)item_tokens(live[i]) / (double)b->total;
        live[i]->batch_items = (int)m;
    }
    /* the batch failed: each item on its own, so a failure stays with its item */
    for (size_t i = 0; i < m && rc != OVX_OK; i++) {
        ovx_prepared *p = live[i];
        ovx_error one = err;
        double t0 = ovx_now_ms();
        if (m > 1)
            ovx_error_clear(&one);
        if (rc != OVX_EINTERRUPTED && m > 1 && forward_items(ctx, &p, 1, &one) == OVX_OK) {
            p->model_done = 1;
            p->t_model = ovx_now_ms() - t0;
            p->batch_items = 1;
        } else {
            p->err = rc == OVX_EINTERRUPTED ? err : one;
            ovx_prepared_fail(p, "model");
        }
    }
    free(live);
    free(b);
}

void ovx_extract_model_batch(const ovx_extract_ctx *ctx, ovx_prepared **items, size_t n)
{
    ovx_extract_model_collect(ctx, ovx_extract_model_submit(ctx, items, n));
}
