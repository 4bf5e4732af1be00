/* engine.c: the engine of engine.h, device-neutral: a model on its
 * device's backend (backend.h), the tickets of the overlapped
 * submit/collect, and the CUDA failure rules: a fallback to the CPU backend
 * when asked to, "lost" otherwise. */
#include "engine/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"

/* a submitted batch (ovx_engine_submit) until its collect */
typedef struct ticket {
    int busy;
    ovx_batch batch;     /* where each sample's inputs are (the caller's) */
    int on_device;       /* submitted to the device (else: runs on the CPU in collect) */
    int slot;            /* its slot on the device, -1 when its submit failed */
    unsigned gen;        /* the device it went to (engine->gen at submit) */
    int rc;              /* the submit's failure */
    ovx_error err;
} ticket;

struct ovx_engine {
    ovx_model *model;
    ovx_device dev;      /* where forwards run now */
    int fallback;        /* device failures switch to the CPU */
    int lost;            /* the device failed for good (no fallback) */
    const ovx_backend_ops *ops; /* the device's backend (NULL: the CPU) */
    ovx_backend *be;     /* its state (NULL: the CPU, or dropped) */
    ovx_backend *cpu;    /* the CPU backend: CPU forwards, fallbacks, reruns */
    char note[1200];     /* pending fallback note (ovx_engine_take_note) */
    char lost_msg[1024]; /* why the device was lost */
    ticket tickets[OVX_ENGINE_TICKETS];
    unsigned gen;        /* incremented when the device is dropped */
};

static void drop_device(ovx_engine *e)
{
    if (e->be)
        e->ops->close(e->be);
    e->be = NULL;
    e->gen++; /* batches in flight on it: rerun on the CPU or lost */
}

static int to_cpu(ovx_engine *e, const char *why, const char *when)
{
    drop_device(e);
    e->dev.kind = OVX_DEVICE_CPU;
    e->dev.index = 0;
    snprintf(e->note, sizeof e->note, "%.1100s; using the CPU%s", why, when);
    return OVX_OK;
}

int ovx_engine_open_ex(ovx_model *m, const ovx_device *dev, int fallback, ovx_engine **out,
                       ovx_error *err)
{
    *out = NULL;
    if (dev->kind == OVX_DEVICE_AUTO)
        return ovx_error_set(err, OVX_EINTERNAL, "engine opened on an unresolved device");
    ovx_engine *e = calloc(1, sizeof *e);
    if (!e)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    e->model = m;
    e->dev = *dev;
    e->fallback = fallback;
    int rc = ovx_backend_cpu.open(m, dev, &e->cpu, err);
    if (rc) {
        free(e);
        return rc;
    }
    if (dev->kind == OVX_DEVICE_CUDA) {
        ovx_error why;
        ovx_error_clear(&why);
        e->ops = &ovx_backend_cuda;
        rc = e->ops->open(m, dev, &e->be, &why);
        if (rc && fallback && rc != OVX_EUSAGE) {
            rc = to_cpu(e, why.msg, "");
        } else if (rc) {
            ovx_error_set(err, rc, "%s", why.msg);
            ovx_engine_free(e);
            return rc;
        }
    }
    *out = e;
    return OVX_OK;
}

int ovx_engine_open(ovx_model *m, const ovx_device *dev, ovx_engine **out, ovx_error *err)
{
    return ovx_engine_open_ex(m, dev, 0, out, err);
}

const ovx_device *ovx_engine_device(const ovx_engine *e)
{
    return &e->dev;
}

int ovx_engine_take_note(ovx_engine *e, char *buf, size_t len)
{
    if (!e->note[0])
        return e->be ? e->ops->take_note(e->be, buf, len) : 0;
    snprintf(buf, len, "%s", e->note);
    e->note[0] = '\0';
    return 1;
}

int ovx_engine_lost(const ovx_engine *e)
{
    return e->lost;
}

const char *ovx_engine_lost_reason(const ovx_engine *e)
{
    return e->lost ? e->lost_msg : "";
}

/* A device forward failed with an OVX_EDEVICE error err (input errors are
 * returned as they are). A device that still works (e.g. out of
 * memory for this batch) keeps going: the error gets the device and its free
 * memory. A device that no longer works (a kernel fault poisons the CUDA
 * context) is dropped: with fallback, 1 = run this forward on the CPU (the
 * note says why); else the engine is lost and every later forward fails at
 * once. */
static int device_failed(ovx_engine *e, int rc, ovx_error *err)
{
    char desc[400], why[sizeof err->msg];
    snprintf(why, sizeof why, "%s", err->msg);
    if (e->ops->healthy(e->be)) {
        e->ops->describe(e->be, desc, sizeof desc);
        ovx_error_set(err, rc, "%s: %s", desc, why);
        return rc;
    }
    e->ops->name(e->be, &e->dev, desc, sizeof desc);
    const char *tip = e->ops->fault_tip();
    if (e->fallback) {
        char n[sizeof e->note];
        snprintf(n, sizeof n, "%.150s failed and is unusable: %.900s%s", desc, why, tip);
        to_cpu(e, n, " from now on");
        return 1;
    }
    drop_device(e);
    e->lost = 1;
    ovx_error_set(err, OVX_EDEVICE, "%s failed and is unusable: %s%s", desc, why, tip);
    snprintf(e->lost_msg, sizeof e->lost_msg, "%s", err->msg);
    return OVX_EDEVICE;
}

static int lost(ovx_error *err)
{
    return ovx_error_set(err, OVX_EDEVICE, "the CUDA device failed earlier in this run");
}

int ovx_engine_forward(ovx_engine *e, const ovx_tokens *in, ovx_outputs *out, ovx_error *err)
{
    if (e->lost)
        return lost(err);
    if (e->be) {
        int rc = e->ops->forward(e->be, in, out, err);
        if (rc != OVX_EDEVICE || (rc = device_failed(e, rc, err)) != 1)
            return rc;
        ovx_error_clear(err);
    }
    return ovx_backend_cpu.forward(e->cpu, in, out, err);
}

static void ticket_free(ticket *tk)
{
    free(tk->batch.patches);
    free(tk->batch.pos);
    tk->batch.patches = NULL;
    tk->batch.pos = NULL;
    tk->batch.packed = NULL;
    tk->batch.packed_pos = NULL;
    tk->busy = 0;
}

int ovx_engine_submit_gather(ovx_engine *e, int samples, const int *lengths,
                             const float *const *patches, const int32_t *const *pos,
                             int hidden_state_index, int *ticket_out, ovx_error *err)
{
    *ticket_out = -1;
    if (samples < 1 || !lengths || !patches || !pos)
        return ovx_error_set(err, OVX_EUSAGE, "forward: empty batch");
    int t = 0;
    while (t < OVX_ENGINE_TICKETS && e->tickets[t].busy)
        t++;
    if (t == OVX_ENGINE_TICKETS)
        return ovx_error_set(err, OVX_EINTERNAL, "%d forwards in flight, none collected",
                             OVX_ENGINE_TICKETS);
    ticket *tk = &e->tickets[t];
    *tk = (ticket){.busy = 1, .batch = {.samples = samples, .hidden = hidden_state_index, .lengths = lengths},
                   .slot = -1, .gen = e->gen};
    ovx_error_clear(&tk->err);
    tk->batch.patches = malloc((size_t)samples * sizeof *tk->batch.patches);
    tk->batch.pos = malloc((size_t)samples * sizeof *tk->batch.pos);
    if (!tk->batch.patches || !tk->batch.pos) {
        ticket_free(tk);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    }
    memcpy(tk->batch.patches, patches, (size_t)samples * sizeof *tk->batch.patches);
    memcpy(tk->batch.pos, pos, (size_t)samples * sizeof *tk->batch.pos);
    if (e->be && !e->lost) {
        tk->on_device = 1;
        tk->rc = e->ops->submit(e->be, &tk->batch, &tk->slot, &tk->err);
    }
    *ticket_out = t;
    return OVX_OK;
}

int ovx_engine_submit(ovx_engine *e, int samples, const int *lengths, const float *patches,
                      const int32_t *pos, int hidden_state_index, int *ticket, ovx_error *err)
{
    *ticket = -1;
    if (samples < 1 || !lengths || !patches || !pos)
        return ovx_error_set(err, OVX_EUSAGE, "forward: empty batch");
    const ovx_model_config *c = ovx_model_get_config(e->model);
    const size_t k = (size_t)c->num_channels * c->patch_size * c->patch_size;
    const float **pp = malloc((size_t)samples * sizeof *pp);
    const int32_t **ps = malloc((size_t)samples * sizeof *ps);
    int rc = pp && ps ? OVX_OK : ovx_error_set(err, OVX_ENOMEM, "out of memory");
    for (int i = 0, off = 0; i < samples && !rc; off += lengths[i] > 0 ? lengths[i] : 0, i++) {
        pp[i] = patches + (size_t)off * k;
        ps[i] = pos + (size_t)off * 3;
    }
    if (!rc)
        rc = ovx_engine_submit_gather(e, samples, lengths, pp, ps, hidden_state_index, ticket, err);
    if (!rc) { /* a CPU forward takes them as they are */
        e->tickets[*ticket].batch.packed = patches;
        e->tickets[*ticket].batch.packed_pos = pos;
    }
    free(pp);
    free(ps);
    return rc;
}

static int collect_ticket(ovx_engine *e, ticket *tk, ovx_outputs *out, ovx_error *err)
{
    if (e->lost)
        return lost(err);
    if (tk->on_device && tk->gen == e->gen) {
        int rc;
        if (tk->rc) {
            rc = tk->rc;
            *err = tk->err;
        } else {
            rc = e->ops->collect(e->be, &tk->batch, tk->slot, out, err);
        }
        if (rc == OVX_OK)
            return OVX_OK;
        if (rc != OVX_EDEVICE || (rc = device_failed(e, rc, err)) != 1)
            return rc;
        ovx_error_clear(err);
    }
    /* the CPU, or a device dropped since the submit (a fallback) */
    return ovx_backend_cpu.collect(e->cpu, &tk->batch, -1, out, err);
}

int ovx_engine_collect(ovx_engine *e, int t, ovx_outputs *out, ovx_error *err)
{
    if (t < 0 || t >= OVX_ENGINE_TICKETS || !e->tickets[t].busy)
        return ovx_error_set(err, OVX_EINTERNAL, "no forward in flight for ticket %d", t);
    ticket tk = e->tickets[t];
    out->hidden_state_index = tk.batch.hidden;
    out->last_hidden_state = out->pooler_output = out->hidden_state = NULL;
    int rc = collect_ticket(e, &tk, out, err);
    ticket_free(&e->tickets[t]);
    return rc;
}

int ovx_engine_forward_packed(ovx_engine *e, int samples, const int *lengths, const float *patches,
                              const int32_t *pos, ovx_outputs *out, ovx_error *err)
{
    int t;
    int rc = ovx_engine_submit(e, samples, lengths, patches, pos, out->hidden_state_index, &t, err);
    return rc ? rc : ovx_engine_collect(e, t, out, err);
}

void ovx_engine_graph_stats(const ovx_engine *e, long *captures, long *replays)
{
    *captures = *replays = 0;
    if (e->be)
        e->ops->graph_stats(e->be, captures, replays);
}

int ovx_engine_gemm_paths(const ovx_engine *e, char *buf, size_t len)
{
    if (len)
        buf[0] = '\0';
    return e->be ? e->ops->gemm_paths(e->be, buf, len) : -1;
}

double ovx_engine_last_gpu_ms(const ovx_engine *e, int *events)
{
    *events = 0;
    return e->be ? e->ops->last_gpu_ms(e->be, events) : -1.0;
}

void ovx_engine_free(ovx_engine *e)
{
    if (!e)
        return;
    for (int t = 0; t < OVX_ENGINE_TICKETS; t++)
        ticket_free(&e->tickets[t]);
    drop_device(e);
    if (e->cpu)
        ovx_backend_cpu.close(e->cpu);
    free(e);
}
