/* device.c: parsing and resolving --device (see device.h). */
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

int ovx_device_resolve(const ovx_device *want, ovx_device *got, char *note, size_t note_len,
                       ovx_error *err)
{
    if (note_len)
        note[0] = '\0';
    *got = *want;
    if (want->kind == OVX_DEVICE_CPU)
        return OVX_OK;
    int count = 0;
    ovx_error why;
    ovx_error_clear(&why);
    int rc = ovx_cuda_device_count(&count, &why);
    if (!rc && count == 0)
        rc = ovx_error_set(&why, OVX_EDEVICE, "CUDA unavailable: no CUDA device found");
    if (!rc && want->index >= count)
        rc = ovx_error_set(&why, OVX_EDEVICE, "CUDA device %d does not exist (%d found)",
                           want->index, count);
    if (want->kind == OVX_DEVICE_CUDA) {
        if (rc)
            return ovx_error_set(err, rc, "%s", why.msg);
        return OVX_OK;
    }
    /* auto */
    if (rc) {
        got->kind = OVX_DEVICE_CPU;
        got->index = 0;
        if (ovx_cuda_compiled() && note_len)
            snprintf(note, note_len, "%s; using the CPU", why.msg);
        return OVX_OK;
    }
    got->kind = OVX_DEVICE_CUDA;
    got->index = 0;
    return OVX_OK;
}

struct ovx_engine {
    ovx_model *model;
    ovx_device dev;
    ovx_gpu *gpu;
    ovx_cuda_model *cuda;
};

int ovx_engine_open(ovx_model *m, const ovx_device *dev, ovx_engine **out, ovx_error *err)
{
    *out = NULL;
    if (dev->kind == OVX_DEVICE_AUTO)
        return ovx_error_set(err, OVX_EINTERNAL, "engine opened on an unresolved device");
    ovx_engine *e = calloc(1, sizeof *e);
    if (!e)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    e->model = m;
    e->dev = *dev;
    if (dev->kind == OVX_DEVICE_CUDA) {
        int rc = ovx_gpu_open_cuda(dev->index, &e->gpu, err);
        if (!rc)
            rc = ovx_cuda_model_upload(e->gpu, &m->cfg, &m->w, &e->cuda, err);
        if (rc) {
            ovx_engine_free(e);
            return rc;
        }
    }
    *out = e;
    return OVX_OK;
}

int ovx_engine_forward(ovx_engine *e, const ovx_tokens *in, ovx_outputs *out, ovx_error *err)
{
    if (e->cuda)
        return ovx_cuda_forward(e->cuda, in, out, err);
    return ovx_model_forward(e->model, in, out, err);
}

int ovx_engine_forward_packed(ovx_engine *e, int samples, const int *lengths, const float *patches,
                              const int32_t *pos, ovx_outputs *out, ovx_error *err)
{
    if (e->cuda)
        return ovx_cuda_forward_packed(e->cuda, samples, lengths, patches, pos, out, err);
    const ovx_model_config *c = &e->model->cfg;
    const size_t d = (size_t)c->hidden_size, k = (size_t)c->num_channels * c->patch_size * c->patch_size;
    size_t total = 0;
    out->last_hidden_state = out->pooler_output = out->hidden_state = NULL;
    if (samples < 1)
        return ovx_error_set(err, OVX_EUSAGE, "empty batch");
    for (int s = 0; s < samples; s++) {
        if (lengths[s] < 1)
            return ovx_error_set(err, OVX_EUSAGE, "sample %d has no tokens", s);
        total += (size_t)lengths[s];
    }
    int want_hidden = out->hidden_state_index != OVX_NO_HIDDEN_STATE;
    out->last_hidden_state = malloc(total * d * sizeof(float));
    out->pooler_output = c->use_head ? malloc((size_t)samples * d * sizeof(float)) : NULL;
    out->hidden_state = want_hidden ? malloc(total * d * sizeof(float)) : NULL;
    int rc = OVX_OK;
    if (!out->last_hidden_state || (c->use_head && !out->pooler_output) || (want_hidden && !out->hidden_state))
        rc = ovx_error_set(err, OVX_ENOMEM, "out of memory for %zu tokens", total);
    size_t off = 0;
    for (int s = 0; s < samples && !rc; s++) {
        ovx_tokens t = {1, lengths[s], patches + off * k, pos + off * 3};
        ovx_outputs one = {.hidden_state_index = out->hidden_state_index};
        rc = ovx_model_forward(e->model, &t, &one, err);
        if (!rc) {
            size_t nd = (size_t)lengths[s] * d;
            memcpy(out->last_hidden_state + off * d, one.last_hidden_state, nd * sizeof(float));
            if (one.hidden_state && out->hidden_state)
                memcpy(out->hidden_state + off * d, one.hidden_state, nd * sizeof(float));
            if (one.pooler_output && out->pooler_output)
                memcpy(out->pooler_output + (size_t)s * d, one.pooler_output, d * sizeof(float));
        }
        ovx_outputs_free(&one);
        off += (size_t)lengths[s];
    }
    if (rc)
        ovx_outputs_free(out);
    return rc;
}

void ovx_engine_free(ovx_engine *e)
{
    if (!e)
        return;
    ovx_cuda_model_free(e->cuda);
    ovx_gpu_close(e->gpu);
    free(e);
}
