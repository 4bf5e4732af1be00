/* graph.c: a CUDA graph per forward shape. A forward is ~8 launches per
 * layer plus the head (~200 for 24 layers), each costing a few microseconds
 * of CPU and a gap on the GPU; a graph launches them all at once. Key: the
 * slot (its buffers are in the graph), the samples' lengths, the hidden
 * state and the attention path. First use of a shape: run directly (the
 * warm-up: cuBLASLt plans, lazily loaded kernels); second use: captured,
 * then replayed; a bounded cache, least recently used shape dropped. A
 * shape's buffers moving (grown) drops its graphs. Without device graphs
 * (the emulations) a capture keeps the forward's arguments and a replay
 * runs the ops with them: the same bookkeeping, and a replay with stale
 * buffers would read freed memory (ASan). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/gpu_open.h"
#include "cuda/ops.h"

#define GRAPHS_DEFAULT 8

int ovx_cuda_graphs_env(int *max, ovx_error *err)
{
    *max = GRAPHS_DEFAULT;
    const char *s = getenv("OVX_CUDA_GRAPHS");
    if (!s || !*s)
        return OVX_OK;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 0 || v > OVX_CUDA_GRAPHS_MAX)
        return ovx_error_set(err, OVX_EUSAGE,
                             "OVX_CUDA_GRAPHS='%s': expected 0 (off) or a cache size 1..%d", s,
                             OVX_CUDA_GRAPHS_MAX);
    *max = (int)v;
    return OVX_OK;
}

static void drop(ovx_cuda_model *m, ovx_cuda_graph *e)
{
    if (e->exec && m->g->ops->graph_free)
        m->g->ops->graph_free(m->g, e->exec);
    free(e->lengths);
    memset(e, 0, sizeof *e);
}

void ovx_cuda_graphs_clear(ovx_cuda_model *m, int slot)
{
    for (int i = 0; i < OVX_CUDA_GRAPHS_MAX; i++) {
        ovx_cuda_graph *e = &m->graphs[i];
        if (e->used && (slot < 0 || e->slot == slot)) {
            m->graph_stats.evictions += e->captured;
            drop(m, e);
        }
    }
}

void ovx_cuda_model_set_graphs(ovx_cuda_model *m, int max)
{
    ovx_cuda_graphs_clear(m, -1);
    m->graphs_max = max < 0 ? 0 : max > OVX_CUDA_GRAPHS_MAX ? OVX_CUDA_GRAPHS_MAX : max;
}

ovx_cuda_graph_stats ovx_cuda_model_graph_stats(const ovx_cuda_model *m)
{
    return m->graph_stats;
}

int ovx_cuda_model_take_note(ovx_cuda_model *m, char *buf, size_t len)
{
    if (!m->graph_note[0])
        return 0;
    snprintf(buf, len, "%s", m->graph_note);
    m->graph_note[0] = '\0';
    return 1;
}

static int same_shape(const ovx_cuda_graph *e, int slot, const ovx_cuda_fwd *f, int attention)
{
    return e->used && e->slot == slot && e->samples == f->samples && e->hidden == f->hidden &&
           e->attention == attention &&
           !memcmp(e->lengths, f->lengths, (size_t)f->samples * sizeof *f->lengths);
}

/* the entry of a new shape: a free one, else the least recently used */
static ovx_cuda_graph *take_entry(ovx_cuda_model *m)
{
    ovx_cuda_graph *best = &m->graphs[0];
    for (int i = 0; i < m->graphs_max; i++) {
        ovx_cuda_graph *e = &m->graphs[i];
        if (!e->used)
            return e;
        if (e->stamp < best->stamp)
            best = e;
    }
    m->graph_stats.evictions += best->captured;
    drop(m, best);
    return best;
}

static int capture(ovx_cuda_model *m, ovx_cuda_graph *e, const ovx_cuda_fwd *f, ovx_error *err)
{
    ovx_gpu *g = m->g;
    if (g->ext && g->ext->cfg.fail_capture) /* test hook */
        return ovx_error_set(err, OVX_EDEVICE,
                             "cudaStreamBeginCapture: operation not permitted (OVX_CUDA_FAIL=capture)");
    if (!g->ops->graph_begin) { /* replayed here: keep what the capture saw */
        e->args = *f;
        e->args.lengths = e->lengths;
    } else {
        if (g->ops->graph_begin(g))
            return ovx_error_set(err, OVX_EDEVICE, "%s", g->msg);
        int rc = ovx_cuda_forward_ops(m, f, err);
        void *exec = NULL;
        int end = g->ops->graph_end(g, &exec); /* also ends a failed capture */
        if (rc)
            return rc;
        if (end)
            return ovx_error_set(err, OVX_EDEVICE, "capturing the forward's CUDA graph: %s", g->msg);
        e->exec = exec;
    }
    e->captured = 1;
    m->graph_stats.captures++;
    return OVX_OK;
}

int ovx_cuda_graph_run(ovx_cuda_model *m, int slot, const ovx_cuda_fwd *f, ovx_error *err)
{
    /* no graphs while each op is timed or followed by a sync */
    const struct ovx_gpu_ext *x = m->g->ext;
    if (m->graphs_max <= 0 || m->profiling || (x && x->cfg.sync_each)) {
        m->graph_stats.direct++;
        return ovx_cuda_forward_ops(m, f, err);
    }
    const int attention = ovx_cuda_model_attention(m);
    ovx_cuda_graph *e = NULL;
    for (int i = 0; i < m->graphs_max && !e; i++)
        if (same_shape(&m->graphs[i], slot, f, attention))
            e = &m->graphs[i];
    if (!e) { /* first use: remember the shape, run directly */
        e = take_entry(m);
        e->lengths = malloc((size_t)f->samples * sizeof *e->lengths);
        if (e->lengths) {
            memcpy(e->lengths, f->lengths, (size_t)f->samples * sizeof *e->lengths);
            e->used = 1;
            e->slot = slot;
            e->samples = f->samples;
            e->hidden = f->hidden;
            e->attention = attention;
            e->stamp = ++m->graph_clock;
        }
        m->graph_stats.direct++;
        return ovx_cuda_forward_ops(m, f, err);
    }
    e->stamp = ++m->graph_clock;
    ovx_error cerr; /* the reason of a refusal, for the note */
    ovx_error_clear(&cerr);
    int rc = e->captured || e->refused ? OVX_OK : capture(m, e, f, &cerr);
    if (rc) {
        /* refused (an op that cannot be captured, an instantiation the
         * driver declines): nothing of the capture ran, so this batch runs
         * directly and its shape stays direct; said once. A device fault
         * shows again in the direct run and fails the batch there. */
        e->refused = 1;
        m->graph_stats.refused++;
        if (!m->graph_noted) {
            snprintf(m->graph_note, sizeof m->graph_note,
                     "CUDA graph capture refused (%s): batches of that shape run without a graph",
                     cerr.msg);
            m->graph_noted = 1;
        }
    }
    if (e->refused) {
        m->graph_stats.direct++;
        return ovx_cuda_forward_ops(m, f, err);
    }
    m->graph_stats.replays++;
    if (e->exec)
        return m->g->ops->graph_launch(m->g, e->exec) ? ovx_error_set(err, OVX_EDEVICE, "%s", m->g->msg)
                                                       : OVX_OK;
    return ovx_cuda_forward_ops(m, &e->args, err);
}
