/* device.c: parsing and resolving --device, and the engine that runs a
 * model's forward on the resolved device, falling back to the CPU when
 * asked to (see device.h). */
#include "cuda/device.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/ovx_cuda.h"
#include "model/model_internal.h" /* m->cfg, m->w for the upload */

int ovx_device_parse(const char *s, ovx_device *d, ovx_error *err)
{
    d->kind = OVX_DEVICE_AUTO;
    d->index = 0;
    d->attention = 0;
    if (!s || !strcmp(s, "auto"))
        return OVX_OK;
    if (!strcmp(s, "cpu")) {
        d->kind = OVX_DEVICE_CPU;
        return OVX_OK;
    }
    if (!strcmp(s, "cuda")) {
        d->kind = OVX_DEVICE_CUDA;
        return OVX_OK;
    }
    if (!strncmp(s, "cuda:", 5) && s[5] >= '0' && s[5] <= '9') {
        char *end;
        errno = 0;
        long v = strtol(s + 5, &end, 10);
        if (!*end && !errno && v >= 0 && v < 1024) {
            d->kind = OVX_DEVICE_CUDA;
            d->index = (int)v;
            return OVX_OK;
        }
    }
    return ovx_error_set(err, OVX_EUSAGE, "invalid device '%s' (expected auto, cpu, cuda or cuda:N)", s);
}

const char *ovx_device_str(const ovx_device *d, char *buf, size_t len)
{
    if (d->kind == OVX_DEVICE_CUDA)
        snprintf(buf, len, "cuda:%d", d->index);
    else
        snprintf(buf, len, "%s", d->kind == OVX_DEVICE_CPU ? "cpu" : "auto");
    return buf;
}

/* the auto -> CPU note is shown when CUDA could have been used: a CUDA build,
 * or the emulated device of the test hook */
static int cuda_possible(void)
{
    const char *emu = getenv("OVX_CUDA_EMULATE");
    return ovx_cuda_compiled() || (emu && *emu);
}

int ovx_device_resolve(const ovx_device *want, ovx_device *got, char *note, size_t note_len,
                       ovx_error *err)
{
    if (note_len)
        note[0] = '\0';
    *got = *want;
    if (want->kind == OVX_DEVICE_CPU)
        return OVX_OK;
    /* the whole open (driver, device, architecture, cuBLAS, context, a test
     * kernel), so an unusable device is known before any work starts */
    ovx_gpu *g = NULL;
    ovx_error why;
    ovx_error_clear(&why);
    int rc = ovx_gpu_open_cuda(want->index, &g, &why);
    ovx_gpu_close(g);
    if (!rc) {
        got->kind = OVX_DEVICE_CUDA;
        return OVX_OK;
    }
    if (want->kind == OVX_DEVICE_CUDA || rc == OVX_EUSAGE) /* EUSAGE: a bad test-hook variable */
        return ovx_error_set(err, rc, "%s", why.msg);
    got->kind = OVX_DEVICE_CPU;
    got->index = 0;
    if (cuda_possible() && note_len)
        snprintf(note, note_len, "%s; using the CPU", why.msg);
    return OVX_OK;
}

/* a submitted batch (ovx_engine_submit) until its collect */
typedef struct ticket {
    int busy;
    int samples, hidden;
    const int *lengths;
    const float **patches;  /* [samples]: where each sample's inputs are (the caller's) */
    const int32_t **pos;
    const float *packed;    /* ovx_engine_submit: the samples already packed (else NULL) */
    const int32_t *packed_pos;
    int on_cuda;         /* submitted to the device (else: runs on the CPU in collect) */
    int slot;            /* its slot on the device, -1 when its submit failed */
    unsigned gen;        /* the device it went to (engine->gen at submit) */
    int rc;              /* the submit's failure */
    ovx_error err;
} ticket;

struct ovx_engine {
    ovx_model *model;
    ovx_device dev;      /* where forwards run now */
    int fallback;        /* CUDA failures switch to the CPU */
    int lost;            /* the CUDA device failed for good (no fallback) */
    ovx_gpu *gpu;
    ovx_cuda_model *cuda;
    char note[1200];     /* pending fallback note (ovx_engine_take_note) */
    char lost_msg[1024]; /* why the device was lost */
    ticket tickets[OVX_ENGINE_TICKETS];
    unsigned gen;        /* incremented when the device is dropped */
};

static void drop_cuda(ovx_engine *e)
{
    ovx_cuda_model_free(e->cuda);
    ovx_gpu_close(e->gpu);
    e->cuda = NULL;
    e->gpu = NULL;
    e->gen++; /* batches in flight on it: rerun on the CPU or lost */
}

static int to_cpu(ovx_engine *e, const char *why, const char *when)
{
    drop_cuda(e);
    e->dev.kind = OVX_DEVICE_CPU;
    e->dev.index = 0;
    snprintf(e->note, sizeof e->note, "%.1100s; using the CPU%s", why, when);
    return OVX_OK;
}

/* the device, its memory, then the weights (bf16) */
static int open_cuda(ovx_engine *e, ovx_error *err)
{
    ovx_model *m = e->model;
    if (m->bf16_only) /* loaded for the CPU's bf16 path: no f32 weights to upload */
        return ovx_error_set(err, OVX_EUSAGE, "the model was loaded for the CPU's bf16 path only");
    int rc = ovx_gpu_open_cuda(e->dev.index, &e->gpu, err);
    if (rc)
        return rc;
    char desc[400];
    size_t free_b, total_b, need = (size_t)m->n_params * sizeof(ovx_bf16);
    if (!ovx_gpu_mem(e->gpu, &free_b, &total_b) && free_b < need)
        return ovx_error_set(err, OVX_EDEVICE, "%s: not enough free memory for the model's "
                             "weights (%.1f MiB): another process on this GPU?",
                             ovx_gpu_describe(e->gpu, desc, sizeof desc), (double)need / (1 << 20));
    rc = ovx_cuda_model_upload(e->gpu, &m->cfg, &m->w, &e->cuda, err);
    if (!rc)
        ovx_cuda_model_set_attention(e->cuda, e->dev.attention);
    if (rc)
        ovx_error_prefix(err, "%s: uploading the weights", ovx_gpu_describe(e->gpu, desc, sizeof desc));
    return rc;
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
    if (dev->kind == OVX_DEVICE_CUDA) {
        ovx_error why;
        ovx_error_clear(&why);
        int rc = open_cuda(e, &why);
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
        return e->cuda ? ovx_cuda_model_take_note(e->cuda, buf, len) : 0;
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

/* A CUDA forward failed with an OVX_EDEVICE error err (input errors are
 * returned as they are). A device that still works (e.g. out of
 * memory for this batch) keeps going: the error gets the device and its free
 * memory. A device that no longer works (a kernel fault poisons the CUDA
 * context) is dropped: with fallback, 1 = run this forward on the CPU (the
 * note says why); else the engine is lost and every later forward fails at
 * once. */
static int cuda_failed(ovx_engine *e, int rc, ovx_error *err)
{
    char desc[400], why[sizeof err->msg];
    snprintf(why, sizeof why, "%s", err->msg);
    if (ovx_gpu_healthy(e->gpu)) {
        ovx_gpu_describe(e->gpu, desc, sizeof desc);
        ovx_error_set(err, rc, "%s: %s", desc, why);
        return rc;
    }
    const ovx_gpu_info *i = ovx_gpu_get_info(e->gpu);
    snprintf(desc, sizeof desc, "CUDA device %d (%s)", e->dev.index, i ? i->name : "?");
    const char *sync = getenv("OVX_CUDA_SYNC");
    const char *tip = sync && !strcmp(sync, "1") ? "" : " (OVX_CUDA_SYNC=1 names the op that faulted)";
    if (e->fallback) {
        char n[sizeof e->note];
        snprintf(n, sizeof n, "%.150s failed and is unusable: %.900s%s", desc, why, tip);
        to_cpu(e, n, " from now on");
        return 1;
    }
    drop_cuda(e);
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
    if (e->cuda) {
        int rc = ovx_cuda_forward(e->cuda, in, out, err);
        if (rc != OVX_EDEVICE || (rc = cuda_failed(e, rc, err)) != 1)
            return rc;
        ovx_error_clear(err);
    }
    return ovx_model_forward(e->model, in, out, err);
}

static void ticket_free(ticket *tk)
{
    free(tk->patches);
    free(tk->pos);
    tk->patches = NULL;
    tk->pos = NULL;
    tk->packed = NULL;
    tk->packed_pos = NULL;
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
    *tk = (ticket){.busy = 1, .samples = samples, .hidden = hidden_state_index, .lengths = lengths,
                   .slot = -1, .gen = e->gen};
    ovx_error_clear(&tk->err);
    tk->patches = malloc((size_t)samples * sizeof *tk->patches);
    tk->pos = malloc((size_t)samples * sizeof *tk->pos);
    if (!tk->patches || !tk->pos) {
        ticket_free(tk);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    }
    memcpy(tk->patches, patches, (size_t)samples * sizeof *tk->patches);
    memcpy(tk->pos, pos, (size_t)samples * sizeof *tk->pos);
    if (e->cuda && !e->lost) {
        tk->on_cuda = 1;
        tk->rc = ovx_cuda_submit_gather(e->cuda, samples, lengths, patches, pos, hidden_state_index,
                                        &tk->slot, &tk->err);
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
    const ovx_model_config *c = &e->model->cfg;
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
        e->tickets[*ticket].packed = patches;
        e->tickets[*ticket].packed_pos = pos;
    }
    free(pp);
    free(ps);
    return rc;
}

/* the CPU forward of a ticket: its samples packed when there are several */
static int cpu_forward(ovx_engine *e, const ticket *tk, ovx_outputs *out, ovx_error *err)
{
    if (tk->packed)
        return ovx_model_forward_packed(e->model, tk->samples, tk->lengths, tk->packed, tk->packed_pos, out, err);
    if (tk->samples == 1)
        return ovx_model_forward_packed(e->model, 1, tk->lengths, tk->patches[0], tk->pos[0], out, err);
    const ovx_model_config *c = &e->model->cfg;
    const size_t k = (size_t)c->num_channels * c->patch_size * c->patch_size;
    size_t rows = 0;
    for (int i = 0; i < tk->samples; i++)
        rows += tk->lengths[i] > 0 ? (size_t)tk->lengths[i] : 0;
    float *pk = malloc((rows ? rows : 1) * k * sizeof *pk);
    int32_t *pp = malloc((rows ? rows : 1) * 3 * sizeof *pp);
    int rc = pk && pp ? OVX_OK : ovx_error_set(err, OVX_ENOMEM, "out of memory packing %zu tokens", rows);
    for (int i = 0, off = 0; i < tk->samples && !rc; off += tk->lengths[i] > 0 ? tk->lengths[i] : 0, i++)
        if (tk->lengths[i] > 0) {
            memcpy(pk + (size_t)off * k, tk->patches[i], (size_t)tk->lengths[i] * k * sizeof *pk);
            memcpy(pp + (size_t)off * 3, tk->pos[i], (size_t)tk->lengths[i] * 3 * sizeof *pp);
        }
    if (!rc)
        rc = ovx_model_forward_packed(e->model, tk->samples, tk->lengths, pk, pp, out, err);
    free(pk);
    free(pp);
    return rc;
}

static int collect_ticket(ovx_engine *e, ticket *tk, ovx_outputs *out, ovx_error *err)
{
    if (e->lost)
        return lost(err);
    if (tk->on_cuda && tk->gen == e->gen) {
        int rc;
        if (tk->rc) {
            rc = tk->rc;
            *err = tk->err;
        } else {
            rc = ovx_cuda_collect(e->cuda, tk->slot, out, err);
        }
        if (rc == OVX_OK)
            return OVX_OK;
        if (rc != OVX_EDEVICE || (rc = cuda_failed(e, rc, err)) != 1)
            return rc;
        ovx_error_clear(err);
    }
    /* the CPU, or a CUDA device dropped since the submit (a fallback) */
    return cpu_forward(e, tk, out, err);
}

int ovx_engine_collect(ovx_engine *e, int t, ovx_outputs *out, ovx_error *err)
{
    if (t < 0 || t >= OVX_ENGINE_TICKETS || !e->tickets[t].busy)
        return ovx_error_set(err, OVX_EINTERNAL, "no forward in flight for ticket %d", t);
    ticket tk = e->tickets[t];
    out->hidden_state_index = tk.hidden;
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
    ovx_cuda_graph_stats st = {0};
    if (e->cuda)
        st = ovx_cuda_model_graph_stats(e->cuda);
    *captures = st.captures;
    *replays = st.replays;
}

int ovx_engine_gemm_paths(const ovx_engine *e, char *buf, size_t len)
{
    if (len)
        buf[0] = '\0';
    return e->cuda ? ovx_cuda_model_gemm_paths(e->cuda, buf, len) : -1;
}

double ovx_engine_last_gpu_ms(const ovx_engine *e, int *events)
{
    *events = 0;
    return e->cuda ? ovx_cuda_model_last_gpu_ms(e->cuda, events) : -1.0;
}

void ovx_engine_free(ovx_engine *e)
{
    if (!e)
        return;
    for (int t = 0; t < OVX_ENGINE_TICKETS; t++)
        ticket_free(&e->tickets[t]);
    drop_cuda(e);
    free(e);
}
