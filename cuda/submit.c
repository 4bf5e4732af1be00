/* submit.c: batches through the device without waiting for them. A batch
 * takes one of two slots (its page-locked staging buffer, its device inputs
 * and outputs); its upload is queued on the H2D copy stream, its forward on
 * the compute stream (through the graph cache, graph.c), its download on
 * the D2H copy stream, ordered by three events per slot. So while batch k
 * runs on the compute stream, batch k+1's upload and batch k-1's download
 * run on the copy engines. ovx_cuda_forward_packed is a submit and its
 * collect. On the emulations (no streams) every op is done when it returns
 * and the same code runs in order. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/timer.h"
#include "cuda/ops.h"

/* events of a slot: its inputs uploaded, its forward started and done (on
 * the compute stream: the forward's GPU time between them), its outputs
 * downloaded */
enum { EV_UP, EV_START, EV_DONE, EV_DOWN, EV_PER_SLOT };
_Static_assert(OVX_CUDA_SLOTS * EV_PER_SLOT <= OVX_GPU_EVENTS, "events per slot");

static int ev(int slot, int what)
{
    return slot * EV_PER_SLOT + what;
}

static int dev_fail(ovx_cuda_model *m, ovx_error *err)
{
    return ovx_error_set(err, OVX_EDEVICE, "%s", m->g->msg);
}

/* ---- buffers ---- */

static void release_all(ovx_gpu *g, void **p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        g->ops->release(g, p[i]);
        p[i] = NULL;
    }
}

static void release_shared(ovx_cuda_model *m)
{
    ovx_cuda_bufs *b = &m->bufs;
    void *all[] = {b->t, b->fqkv, b->cos, b->sin, b->s, b->patch16, b->xn, b->q, b->k, b->v,
                   b->o, b->h, b->p, b->hq};
    release_all(m->g, all, sizeof all / sizeof all[0]);
    memset(b, 0, sizeof *b);
    m->bufs_rows = m->bufs_samples = m->bufs_scratch = 0;
}

static void release_slot(ovx_cuda_model *m, ovx_cuda_slot *sl)
{
    void *all[] = {sl->patches, sl->pos, sl->tiles, sl->x, sl->hid, sl->a};
    release_all(m->g, all, sizeof all / sizeof all[0]);
    sl->patches = sl->x = sl->hid = sl->a = NULL;
    sl->pos = sl->tiles = NULL;
    sl->cap_rows = sl->cap_samples = 0;
    sl->cap_hid = 0;
}

void ovx_cuda_bufs_release(ovx_cuda_model *m)
{
    release_shared(m);
    for (int s = 0; s < OVX_CUDA_SLOTS; s++) {
        ovx_cuda_slot *sl = &m->slots[s];
        release_slot(m, sl);
        if (sl->stage)
            m->g->ops->host_free(m->g, sl->stage);
        sl->stage = NULL;
        sl->stage_bytes = 0;
        sl->busy = 0;
    }
}

typedef struct want {
    void **p;
    size_t bytes;
} want;

static int alloc_list(ovx_cuda_model *m, const want *w, size_t n, ovx_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (m->g->ops->alloc(m->g, w[i].p, w[i].bytes))
            return dev_fail(m, err);
    return OVX_OK;
}

static size_t max_sz(size_t a, size_t b)
{
    return a > b ? a : b;
}

/* The shared working buffers, grown when a batch needs more. The other
 * slot's forward may still use them: wait for the device first, and the
 * graphs that captured them go. */
static int reserve_shared(ovx_cuda_model *m, size_t rows, size_t samples, size_t scratch,
                          ovx_error *err)
{
    if (rows <= m->bufs_rows && samples <= m->bufs_samples && scratch <= m->bufs_scratch)
        return OVX_OK;
    if (m->bufs_rows && m->g->ops->sync(m->g))
        return dev_fail(m, err);
    rows = max_sz(rows, m->bufs_rows);
    samples = max_sz(samples, m->bufs_samples);
    scratch = max_sz(scratch, m->bufs_scratch);
    ovx_cuda_graphs_clear(m, -1);
    release_shared(m);
    ovx_cuda_bufs *b = &m->bufs;
    const size_t d = (size_t)m->cfg.hidden_size, inter = (size_t)m->cfg.intermediate_size;
    const size_t wide = inter > 3 * d ? inter : 3 * d; /* fc1, and the head's k, v */
    const size_t hrows = max_sz(rows, samples);
    const want w[] = {
        {(void **)&b->patch16, rows * m->patch_kpad * sizeof(ovx_bf16)},
        {(void **)&b->t, hrows * wide * sizeof(float)},
        {(void **)&b->fqkv, rows * 2 * d * sizeof(float)}, /* q, k (v: its own GEMM, bf16) */
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
    };
    int rc = alloc_list(m, w, sizeof w / sizeof w[0], err);
    if (rc) {
        release_shared(m);
        return rc;
    }
    m->bufs_rows = rows;
    m->bufs_samples = samples;
    m->bufs_scratch = scratch;
    return OVX_OK;
}

/* A free slot's inputs, outputs and staging buffer, grown when needed
 * (nothing of the slot is queued: it was collected). */
static int reserve_slot(ovx_cuda_model *m, int s, size_t rows, size_t samples, int hid,
                        size_t stage_bytes, ovx_error *err)
{
    ovx_cuda_slot *sl = &m->slots[s];
    ovx_gpu *g = m->g;
    if (rows > sl->cap_rows || samples > sl->cap_samples || (hid && !sl->cap_hid)) {
        rows = max_sz(rows, sl->cap_rows);
        samples = max_sz(samples, sl->cap_samples);
        hid = hid || sl->cap_hid;
        ovx_cuda_graphs_clear(m, s);
        release_slot(m, sl);
        const size_t d = (size_t)m->cfg.hidden_size;
        const want w[] = {
            {(void **)&sl->patches, rows * m->patch_k * sizeof(float)},
            {(void **)&sl->pos, rows * 3 * sizeof(int32_t)},
            {(void **)&sl->tiles, (OVX_CUDA_SELF_TILES(rows, samples) + samples) * 5 * sizeof(int32_t)},
            {(void **)&sl->x, rows * d * sizeof(float)},
            {(void **)&sl->a, samples * d * sizeof(float)},
            {(void **)&sl->hid, hid ? rows * d * sizeof(float) : 0},
        };
        int rc = alloc_list(m, w, sizeof w / sizeof w[0], err);
        if (rc) {
            release_slot(m, sl);
            return rc;
        }
        sl->cap_rows = rows;
        sl->cap_samples = samples;
        sl->cap_hid = hid;
    }
    if (stage_bytes > sl->stage_bytes) {
        if (sl->stage)
            g->ops->host_free(g, sl->stage);
        sl->stage = NULL;
        sl->stage_bytes = 0;
        if (g->ops->host_alloc(g, &sl->stage, stage_bytes))
            return dev_fail(m, err);
        sl->stage_bytes = stage_bytes;
    }
    return OVX_OK;
}

/* ---- submit ---- */

/* The batch's shape checked: tokens, attention scratch, hidden index */
static int check_batch(ovx_cuda_model *m, int samples, const int *lengths, const float *const *patches,
                       const int32_t *const *pos, int hidden_index, size_t *rows_out, size_t *scratch_out,
                       int *hidden_out, ovx_error *err)
{
    const ovx_model_config *c = &m->cfg;
    if (samples < 1 || !lengths || !patches || !pos)
        return ovx_error_set(err, OVX_EUSAGE, "CUDA forward: empty batch");
    size_t rows = 0, scratch = 0;
    const size_t wide = (size_t)(c->intermediate_size > 3 * c->hidden_size ? c->intermediate_size
                                                                           : 3 * c->hidden_size);
    const int fused = ovx_cuda_model_attention(m) == OVX_CUDA_ATTENTION_FUSED;
    for (int s = 0; s < samples; s++) {
        if (lengths[s] < 1)
            return ovx_error_set(err, OVX_EUSAGE, "CUDA forward: sample %d has no tokens", s);
        rows += (size_t)lengths[s];
        if (rows * wide > (size_t)INT_MAX)
            return ovx_error_set(err, OVX_EUSAGE, "CUDA forward: batch of %zu tokens too large",
                                 rows);
        size_t need = fused ? 0 /* no score scratch */
                            : OVX_CUDA_ATTN_SCRATCH(c->num_heads,
                                                    ovx_cuda_attention_chunk(m, lengths[s], lengths[s]),
                                                    lengths[s]);
        scratch = max_sz(scratch, need);
    }
    for (int s = 0, tok = 0; s < samples; s++) {
        if (!patches[s] || !pos[s])
            return ovx_error_set(err, OVX_EUSAGE, "CUDA forward: sample %d has no inputs", s);
        for (int i = 0; i < lengths[s]; i++, tok++) {
            const int32_t *p = pos[s] + 3 * (size_t)i;
            if (p[0] < 0 || p[1] < 0 || p[2] < 0)
                return ovx_error_set(err, OVX_EINPUT, "CUDA forward: token %d has a negative position", tok);
        }
    }
    int hidden = hidden_index;
    if (hidden != OVX_NO_HIDDEN_STATE) {
        if (hidden < 0)
            hidden += c->num_layers + 1;
        if (hidden < 0 || hidden > c->num_layers)
            return ovx_error_set(err, OVX_EUSAGE, "hidden state %d out of range [-%d, %d]",
                                 hidden_index, c->num_layers + 1, c->num_layers);
    } else {
        hidden = -1;
    }
    *rows_out = rows;
    *scratch_out = scratch;
    *hidden_out = hidden;
    return OVX_OK;
}

/* where the outputs sit in the staging buffer: tokens, hidden, pooled */
static void out_layout(const ovx_cuda_model *m, const ovx_cuda_slot *sl, size_t at[3], size_t n[3])
{
    const size_t d = (size_t)m->cfg.hidden_size, nd = (size_t)sl->rows * d;
    n[0] = nd;
    n[1] = sl->hidden >= 0 ? nd : 0;
    n[2] = m->cfg.use_head ? (size_t)sl->samples * d : 0;
    at[0] = 0;
    at[1] = n[0] * sizeof(float);
    at[2] = at[1] + n[1] * sizeof(float);
}

/* a copy on a copy stream, or (emulations) on the only stream, at once */
static int copy(ovx_cuda_model *m, int stream, void *dst, const void *src, size_t bytes, int dir)
{
    const ovx_gpu_ops *o = m->g->ops;
    return o->copy_on ? o->copy_on(m->g, stream, dst, src, bytes, dir)
                      : o->copy_async(m->g, dst, src, bytes, dir);
}

/* event ev recorded on `stream`, and `waiter` waits for it (no-ops on the
 * emulations: everything before has finished) */
static int order(ovx_cuda_model *m, int e, int stream, int waiter)
{
    const ovx_gpu_ops *o = m->g->ops;
    if (!o->event_record)
        return 0;
    return o->event_record(m->g, e, stream) || (waiter >= 0 && o->stream_wait(m->g, waiter, e));
}

/* everything queued for slot s, after its buffers and staging are ready */
static int queue_batch(ovx_cuda_model *m, int s, int samples, const int *lengths,
                       const float *const *patches, const int32_t *const *pos, ovx_error *err)
{
    ovx_cuda_slot *sl = &m->slots[s];
    const int rows = sl->rows;
    double t0 = ovx_now_ms();
    /* inputs -> staging (page-locked) -> the slot's device inputs, on the
     * H2D stream; tile lists of the fused attention built in the staging */
    const size_t patch_bytes = (size_t)rows * m->patch_k * sizeof(float);
    const size_t pos_bytes = (size_t)rows * 3 * sizeof(int32_t);
    char *st = sl->stage;
    /* the samples packed straight into the staging buffer: one host copy */
    for (int i = 0, off = 0; i < samples; off += lengths[i++]) {
        memcpy(st + (size_t)off * m->patch_k * sizeof(float), patches[i],
               (size_t)lengths[i] * m->patch_k * sizeof(float));
        memcpy(st + patch_bytes + (size_t)off * 3 * sizeof(int32_t), pos[i],
               (size_t)lengths[i] * 3 * sizeof(int32_t));
    }
    ovx_cuda_fwd f = {.b = m->bufs, .rows = rows, .samples = samples, .lengths = lengths,
                      .hidden = sl->hidden};
    f.b.patches = sl->patches;
    f.b.pos = sl->pos;
    f.b.tiles = sl->tiles;
    f.b.x = sl->x;
    f.b.hid = sl->hid;
    f.b.a = sl->a;
    int32_t *tiles = (int32_t *)(st + patch_bytes + pos_bytes);
    const int mode = ovx_cuda_model_attention(m);
    if (mode != OVX_CUDA_ATTENTION_CHUNKED) {
        f.nself = ovx_cuda_attention_self_tiles(samples, lengths, mode == OVX_CUDA_ATTENTION_FUSED,
                                                tiles);
        for (int i = 0, off = 0; i < samples; off += lengths[i++]) {
            int32_t *t = tiles + 5 * (f.nself + i);
            t[0] = 0;          /* the probe */
            t[1] = 1;
            t[2] = off;        /* over the sample's tokens */
            t[3] = lengths[i];
            t[4] = i;          /* output row i */
        }
        f.npool = samples;
    }
    if (copy(m, OVX_STREAM_H2D, sl->patches, st, patch_bytes, OVX_COPY_H2D) ||
        copy(m, OVX_STREAM_H2D, sl->pos, st + patch_bytes, pos_bytes, OVX_COPY_H2D) ||
        (f.nself && copy(m, OVX_STREAM_H2D, sl->tiles, tiles,
                         (size_t)(f.nself + f.npool) * 5 * sizeof *tiles, OVX_COPY_H2D)) ||
        order(m, ev(s, EV_UP), OVX_STREAM_H2D, OVX_STREAM_COMPUTE))
        return dev_fail(m, err);
    m->timings[OVX_CUDA_OP_UPLOAD] += ovx_now_ms() - t0;
    if (order(m, ev(s, EV_START), OVX_STREAM_COMPUTE, -1))
        return dev_fail(m, err);
    double f0 = ovx_now_ms();
    int rc = ovx_cuda_graph_run(m, s, &f, err);
    if (rc)
        return rc;
    sl->fwd_host_ms = ovx_now_ms() - f0;
    /* outputs -> staging on the D2H stream once the forward is done */
    if (order(m, ev(s, EV_DONE), OVX_STREAM_COMPUTE, OVX_STREAM_D2H))
        return dev_fail(m, err);
    size_t at[3], n[3];
    out_layout(m, sl, at, n);
    const float *src[3] = {sl->x, sl->hid, sl->a};
    for (int i = 0; i < 3; i++)
        if (n[i] && copy(m, OVX_STREAM_D2H, st + at[i], src[i], n[i] * sizeof(float), OVX_COPY_D2H))
            return dev_fail(m, err);
    if (order(m, ev(s, EV_DOWN), OVX_STREAM_D2H, -1))
        return dev_fail(m, err);
    return OVX_OK;
}

int ovx_cuda_submit_packed(ovx_cuda_model *m, int samples, const int *lengths,
                           const float *patches, const int32_t *pos, int hidden_state_index,
                           int *slot, ovx_error *err)
{
    *slot = -1;
    if (samples < 1 || !lengths || !patches || !pos)
        return ovx_error_set(err, OVX_EUSAGE, "CUDA forward: empty batch");
    const float **pp = malloc((size_t)samples * sizeof *pp);
    const int32_t **ps = malloc((size_t)samples * sizeof *ps);
    int rc = pp && ps ? OVX_OK : ovx_error_set(err, OVX_ENOMEM, "out of memory");
    for (int i = 0, off = 0; i < samples && !rc; off += lengths[i] > 0 ? lengths[i] : 0, i++) {
        pp[i] = patches + (size_t)off * m->patch_k;
        ps[i] = pos + (size_t)off * 3;
    }
    if (!rc)
        rc = ovx_cuda_submit_gather(m, samples, lengths, pp, ps, hidden_state_index, slot, err);
    free(pp);
    free(ps);
    return rc;
}

int ovx_cuda_submit_gather(ovx_cuda_model *m, int samples, const int *lengths,
                           const float *const *patches, const int32_t *const *pos,
                           int hidden_state_index, int *slot, ovx_error *err)
{
    *slot = -1;
    int s = 0;
    while (s < OVX_CUDA_SLOTS && m->slots[s].busy)
        s++;
    if (s == OVX_CUDA_SLOTS)
        return ovx_error_set(err, OVX_EINTERNAL, "CUDA forward: %d batches in flight, none collected",
                             OVX_CUDA_SLOTS);
    size_t rows = 0, scratch = 0;
    int hidden = -1;
    int rc = check_batch(m, samples, lengths, patches, pos, hidden_state_index, &rows, &scratch,
                         &hidden, err);
    if (rc)
        return rc;
    memset(m->timings, 0, sizeof m->timings);
    if (m->g->ops->activate(m->g))
        return dev_fail(m, err);
    const ovx_model_config *c = &m->cfg;
    const size_t nd = rows * (size_t)c->hidden_size;
    const size_t in_bytes = rows * m->patch_k * sizeof(float) + rows * 3 * sizeof(int32_t) +
                            (OVX_CUDA_SELF_TILES(rows, (size_t)samples) + samples) * 5 * sizeof(int32_t);
    const size_t out_bytes = (nd * (hidden >= 0 ? 2 : 1) + (size_t)samples * c->hidden_size) *
                             sizeof(float);
    /* working buffers are kept between calls and grown when needed
     * (cudaMalloc/cudaFree per forward would synchronise the device) */
    if ((rc = reserve_shared(m, rows, (size_t)samples, scratch, err)) ||
        (rc = reserve_slot(m, s, rows, (size_t)samples, hidden >= 0, max_sz(in_bytes, out_bytes),
                           err)))
        return rc;
    ovx_cuda_slot *sl = &m->slots[s];
    sl->rows = (int)rows;
    sl->samples = samples;
    sl->hidden = hidden;
    rc = queue_batch(m, s, samples, lengths, patches, pos, err);
    if (rc) {
        /* nothing of the slot may still run when it is reused */
        (void)m->g->ops->sync(m->g);
        return rc;
    }
    sl->busy = 1;
    *slot = s;
    return OVX_OK;
}

/* ---- collect ---- */

double ovx_cuda_model_last_gpu_ms(const ovx_cuda_model *m, int *events)
{
    *events = m->last_gpu_events;
    return m->last_gpu_ms;
}

int ovx_cuda_collect(ovx_cuda_model *m, int slot, ovx_outputs *out, ovx_error *err)
{
    out->last_hidden_state = out->pooler_output = out->hidden_state = NULL;
    if (slot < 0 || slot >= OVX_CUDA_SLOTS || !m->slots[slot].busy)
        return ovx_error_set(err, OVX_EINTERNAL, "CUDA forward: slot %d has no batch", slot);
    ovx_cuda_slot *sl = &m->slots[slot];
    sl->busy = 0;
    double t0 = ovx_now_ms();
    const ovx_gpu_ops *o = m->g->ops;
    if (o->activate(m->g) ||
        (o->event_sync ? o->event_sync(m->g, ev(slot, EV_DOWN)) : o->sync(m->g)))
        return dev_fail(m, err);
    /* the forward's GPU time: EV_START and EV_DONE are complete (EV_DOWN
     * came after EV_DONE) */
    float gpu_ms = 0.0f;
    m->last_gpu_events = o->event_record && o->event_elapsed;
    if (m->last_gpu_events && o->event_elapsed(m->g, ev(slot, EV_START), ev(slot, EV_DONE), &gpu_ms))
        return dev_fail(m, err);
    m->last_gpu_ms = m->last_gpu_events ? (double)gpu_ms : sl->fwd_host_ms;
    size_t at[3], n[3];
    out_layout(m, sl, at, n);
    float *dst[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++)
        if (n[i] && !(dst[i] = malloc(n[i] * sizeof(float)))) {
            for (int k = 0; k < i; k++)
                free(dst[k]);
            return ovx_error_set(err, OVX_ENOMEM, "out of memory for the outputs");
        }
    for (int i = 0; i < 3; i++)
        if (n[i])
            memcpy(dst[i], (const char *)sl->stage + at[i], n[i] * sizeof(float));
    out->last_hidden_state = dst[0];
    out->hidden_state = dst[1];
    out->pooler_output = dst[2];
    m->timings[OVX_CUDA_OP_DOWNLOAD] += ovx_now_ms() - t0;
    return OVX_OK;
}
