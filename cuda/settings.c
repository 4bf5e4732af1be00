/* settings.c: what a CUDA model is set to run with (op names and
 * per-op timings while profiling, the attention scratch budget, the
 * attention path and the one the device can run); read by the ops, the
 * forward and the batches. */
#include "cuda/ops.h"

static const char *const op_names[OVX_CUDA_OP_COUNT] = {
    "upload", "patch_embed", "layernorm", "linear", "rope3d", "attention", "gelu_erf",
    "residual_add", "download"};

const char *ovx_cuda_op_name(int op)
{
    return op >= 0 && op < OVX_CUDA_OP_COUNT ? op_names[op] : "?";
}

void ovx_cuda_model_set_profiling(ovx_cuda_model *m, int on)
{
    m->profiling = on;
}

const double *ovx_cuda_model_timings(const ovx_cuda_model *m)
{
    return m->timings;
}

void ovx_cuda_model_set_scratch(ovx_cuda_model *m, size_t bytes)
{
    m->scratch_bytes = bytes;
}

void ovx_cuda_model_set_attention(ovx_cuda_model *m, int mode)
{
    m->attention = mode == OVX_CUDA_ATTENTION_CHUNKED || mode == OVX_CUDA_ATTENTION_WMMA
                       ? mode
                       : OVX_CUDA_ATTENTION_FUSED;
}

int ovx_cuda_model_attention(const ovx_cuda_model *m)
{
    if (m->attention == OVX_CUDA_ATTENTION_FUSED && m->g->ops->flash_attention_mma)
        return OVX_CUDA_ATTENTION_FUSED;
    if (m->attention == OVX_CUDA_ATTENTION_WMMA && m->g->ops->flash_attention)
        return OVX_CUDA_ATTENTION_WMMA;
    return OVX_CUDA_ATTENTION_CHUNKED;
}
