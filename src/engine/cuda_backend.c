/* cuda_backend.c: a CUDA device as a backend (backend.h), over cuda/'s C
 * API (cuda/ovx_cuda.h): the device opened with the model's weights
 * uploaded (bf16), its forwards, the overlapped batches in its two slots;
 * and the CUDA facts device.h gives the CLI. The only file of src/ that
 * includes cuda/ (with cuda_selftest.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/ovx_cuda.h"
#include "engine/backend.h"
#include "model/model_internal.h" /* m->cfg, m->w for the upload */

_Static_assert(OVX_ATTENTION_FUSED == (int)OVX_CUDA_ATTENTION_FUSED &&
                   OVX_ATTENTION_CHUNKED == (int)OVX_CUDA_ATTENTION_CHUNKED &&
                   OVX_ATTENTION_WMMA == (int)OVX_CUDA_ATTENTION_WMMA,
               "device.h's attention modes are the CUDA backend's");

struct ovx_backend {
    ovx_gpu *gpu;
    ovx_cuda_model *cuda;
};

static void cuda_close(ovx_backend *b)
{
    ovx_cuda_model_free(b->cuda);
    ovx_gpu_close(b->gpu);
    free(b);
}

/* the device, its memory, then the weights (bf16) */
static int open_cuda(ovx_backend *b, ovx_model *m, const ovx_device *dev, ovx_error *err)
{
    if (m->bf16_only) /* loaded for the CPU's bf16 path: no f32 weights to upload */
        return ovx_error_set(err, OVX_EUSAGE, "the model was loaded for the CPU's bf16 path only");
    int rc = ovx_gpu_open_cuda(dev->index, &b->gpu, err);
    if (rc)
        return rc;
    char desc[400];
    size_t free_b, total_b, need = (size_t)m->n_params * sizeof(ovx_bf16);
    if (!ovx_gpu_mem(b->gpu, &free_b, &total_b) && free_b < need)
        return ovx_error_set(err, OVX_EDEVICE, "%s: not enough free memory for the model's "
                             "weights (%.1f MiB): another process on this GPU?",
                             ovx_gpu_describe(b->gpu, desc, sizeof desc), (double)need / (1 << 20));
    rc = ovx_cuda_model_upload(b->gpu, &m->cfg, &m->w, &b->cuda, err);
    if (!rc)
        ovx_cuda_model_set_attention(b->cuda, dev->attention);
    if (rc)
        ovx_error_prefix(err, "%s: uploading the weights", ovx_gpu_describe(b->gpu, desc, sizeof desc));
    return rc;
}

static int cuda_open(ovx_model *m, const ovx_device *dev, ovx_backend **out, ovx_error *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    int rc = open_cuda(*out, m, dev, err);
    if (rc) {
        cuda_close(*out);
        *out = NULL;
    }
    return rc;
}

static int cuda_forward(ovx_backend *b, const ovx_tokens *in, ovx_outputs *out, ovx_error *err)
{
    return ovx_cuda_forward(b->cuda, in, out, err);
}

static int cuda_submit(ovx_backend *b, const ovx_batch *batch, int *slot, ovx_error *err)
{
    return ovx_cuda_submit_gather(b->cuda, batch->samples, batch->lengths,
                                  (const float *const *)batch->patches,
                                  (const int32_t *const *)batch->pos, batch->hidden, slot, err);
}

static int cuda_collect(ovx_backend *b, const ovx_batch *batch, int slot, ovx_outputs *out,
                        ovx_error *err)
{
    (void)batch;
    return ovx_cuda_collect(b->cuda, slot, out, err);
}

static int cuda_healthy(ovx_backend *b)
{
    return ovx_gpu_healthy(b->gpu);
}

static const char *cuda_describe(ovx_backend *b, char *buf, size_t len)
{
    return ovx_gpu_describe(b->gpu, buf, len);
}

static const char *cuda_name(ovx_backend *b, const ovx_device *dev, char *buf, size_t len)
{
    const ovx_gpu_info *i = ovx_gpu_get_info(b->gpu);
    snprintf(buf, len, "CUDA device %d (%s)", dev->index, i ? i->name : "?");
    return buf;
}

static const char *cuda_fault_tip(void)
{
    const char *sync = getenv("OVX_CUDA_SYNC");
    return sync && !strcmp(sync, "1") ? "" : " (OVX_CUDA_SYNC=1 names the op that faulted)";
}

static int cuda_take_note(ovx_backend *b, char *buf, size_t len)
{
    return ovx_cuda_model_take_note(b->cuda, buf, len);
}

static void cuda_graph_stats(const ovx_backend *b, long *captures, long *replays)
{
    ovx_cuda_graph_stats st = ovx_cuda_model_graph_stats(b->cuda);
    *captures = st.captures;
    *replays = st.replays;
}

static int cuda_gemm_paths(const ovx_backend *b, char *buf, size_t len)
{
    return ovx_cuda_model_gemm_paths(b->cuda, buf, len);
}

static double cuda_last_gpu_ms(const ovx_backend *b, int *events)
{
    return ovx_cuda_model_last_gpu_ms(b->cuda, events);
}

const ovx_backend_ops ovx_backend_cuda = {
    .open = cuda_open, .close = cuda_close, .forward = cuda_forward, .submit = cuda_submit,
    .collect = cuda_collect, .healthy = cuda_healthy, .describe = cuda_describe, .name = cuda_name,
    .fault_tip = cuda_fault_tip, .take_note = cuda_take_note, .graph_stats = cuda_graph_stats,
    .gemm_paths = cuda_gemm_paths, .last_gpu_ms = cuda_last_gpu_ms,
};

int ovx_backend_cuda_probe(int index, ovx_error *why)
{
    ovx_gpu *g = NULL;
    int rc = ovx_gpu_open_cuda(index, &g, why);
    ovx_gpu_close(g);
    return rc;
}

/* the auto -> CPU note is shown when CUDA could have been used: a CUDA build,
 * or the emulated device of the test hook */
int ovx_backend_cuda_possible(void)
{
    const char *emu = getenv("OVX_CUDA_EMULATE");
    return ovx_cuda_compiled() || (emu && *emu);
}

const char *ovx_device_build_str(void)
{
    return ovx_cuda_build_str();
}

int ovx_device_driver_absent(void)
{
    return ovx_cuda_driver_absent();
}

int ovx_device_cuda_info(int index, ovx_device_info *info, ovx_error *err)
{
    ovx_gpu_info i;
    int rc = ovx_cuda_device_info(index, &i, err);
    if (rc)
        return rc;
    *info = (ovx_device_info){.major = i.major, .minor = i.minor, .sms = i.sms, .clock_mhz = i.clock_mhz,
                              .total_mem = i.total_mem, .driver_version = i.driver_version,
                              .emulated = i.emulated,
                              .bf16_flop_per_clk_sm = ovx_cuda_bf16_flop_per_clk_sm(i.major, i.minor),
                              .bf16_peak_tflops = ovx_cuda_bf16_peak_tflops(&i)};
    snprintf(info->name, sizeof info->name, "%s", i.name);
    return OVX_OK;
}
