/* cpu_backend.c: the CPU as a backend (backend.h): the forward of
 * src/model, a batch's forward run in its collect (the samples packed back
 * to back when there are several and they are not already). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"

struct ovx_backend {
    ovx_model *model;
};

static int cpu_open(ovx_model *m, const ovx_device *dev, ovx_backend **out, ovx_error *err)
{
    (void)dev;
    *out = calloc(1, sizeof **out);
    if (!*out)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    (*out)->model = m;
    return OVX_OK;
}

static void cpu_close(ovx_backend *b)
{
    free(b);
}

static int cpu_forward(ovx_backend *b, const ovx_tokens *in, ovx_outputs *out, ovx_error *err)
{
    return ovx_model_forward(b->model, in, out, err);
}

static int cpu_submit(ovx_backend *b, const ovx_batch *batch, int *slot, ovx_error *err)
{
    (void)b, (void)batch, (void)err;
    *slot = -1; /* the forward runs in collect */
    return OVX_OK;
}

/* the batch's forward: its samples packed when there are several */
static int cpu_collect(ovx_backend *b, const ovx_batch *tk, int slot, ovx_outputs *out, ovx_error *err)
{
    (void)slot;
    if (tk->packed)
        return ovx_model_forward_packed(b->model, tk->samples, tk->lengths, tk->packed, tk->packed_pos, out, err);
    if (tk->samples == 1)
        return ovx_model_forward_packed(b->model, 1, tk->lengths, tk->patches[0], tk->pos[0], out, err);
    const ovx_model_config *c = ovx_model_get_config(b->model);
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
        rc = ovx_model_forward_packed(b->model, tk->samples, tk->lengths, pk, pp, out, err);
    free(pk);
    free(pp);
    return rc;
}

static int cpu_healthy(ovx_backend *b)
{
    (void)b;
    return 1;
}

static const char *cpu_describe(ovx_backend *b, char *buf, size_t len)
{
    (void)b;
    snprintf(buf, len, "cpu");
    return buf;
}

static const char *cpu_name(ovx_backend *b, const ovx_device *dev, char *buf, size_t len)
{
    (void)dev;
    return cpu_describe(b, buf, len);
}

static const char *cpu_fault_tip(void)
{
    return "";
}

static int cpu_take_note(ovx_backend *b, char *buf, size_t len)
{
    (void)b, (void)buf, (void)len;
    return 0;
}

static void cpu_graph_stats(const ovx_backend *b, long *captures, long *replays)
{
    (void)b;
    *captures = *replays = 0;
}

static int cpu_gemm_paths(const ovx_backend *b, char *buf, size_t len)
{
    (void)b;
    if (len)
        buf[0] = '\0';
    return -1;
}

static double cpu_last_gpu_ms(const ovx_backend *b, int *events)
{
    (void)b;
    *events = 0;
    return -1.0;
}

const ovx_backend_ops ovx_backend_cpu = {
    .open = cpu_open, .close = cpu_close, .forward = cpu_forward, .submit = cpu_submit,
    .collect = cpu_collect, .healthy = cpu_healthy, .describe = cpu_describe, .name = cpu_name,
    .fault_tip = cpu_fault_tip, .take_note = cpu_take_note, .graph_stats = cpu_graph_stats,
    .gemm_paths = cpu_gemm_paths, .last_gpu_ms = cpu_last_gpu_ms,
};
