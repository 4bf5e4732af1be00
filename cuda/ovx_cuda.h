/* ovx_cuda.h: the public C API of the CUDA backend. The forward mirrors the
 * CPU forward of src/model op for op (see cuda/README.md for the mapping and
 * the numerics: bf16 GEMM inputs and weights, float32 accumulation, float32
 * residual stream). It runs on a real CUDA device (builds with
 * OVX_HAVE_CUDA) or on the host emulation of one (always available; slow,
 * used by `ovx selftest --device cpu` to check the orchestration).
 * Input/output contract: as ovx_model_forward in src/model/model.h. */
#ifndef OVX_CUDA_OVX_CUDA_H
#define OVX_CUDA_OVX_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "cuda/gpu.h"
#include "model/model.h"
#include "model/weights.h"

/* 1 when this ovx was built with the CUDA backend. */
int ovx_cuda_compiled(void);

/* Number of CUDA devices; OVX_EDEVICE with a one-line reason (no driver,
 * driver too old, built without CUDA) when CUDA cannot be used at all. */
int ovx_cuda_device_count(int *count, ovx_error *err);
/* "NAME (sm_XY, N GiB)" of a device. */
int ovx_cuda_device_name(int device, char *name, size_t len, ovx_error *err);

/* Opens CUDA device `device` (stream + cuBLAS handle), or the host emulation. */
int ovx_gpu_open_cuda(int device, ovx_gpu **out, ovx_error *err);
int ovx_gpu_open_emu(ovx_gpu **out, ovx_error *err);
/* The device whose kernels are the real kernel sources run on the
 * CUDA-on-host shim (GEMMs as the emulation): cuda/host/host_ops.c. Falls
 * back to the emulation's kernels when built without a C++ compiler
 * (ovx_cuda_host_shim_compiled() == 0). */
int ovx_gpu_open_host(ovx_gpu **out, ovx_error *err);
int ovx_cuda_host_shim_compiled(void);
/* How the shim runs the threads of a block: fibers switched at barriers
 * (0, default: deterministic and fast) or one OS thread each (1: real
 * concurrency, slow). The environment variable OVX_CUDA_HOST=threads sets 1. */
void ovx_cuda_host_set_threads(int os_threads);
void ovx_gpu_close(ovx_gpu *g);

typedef struct ovx_cuda_model ovx_cuda_model;

/* Converts the CPU model's float32 weights (model/weights.h, named after
 * the checkpoint tensors) to bf16 (norm weights and biases stay float32) and
 * uploads them once. The CUDA model keeps g (not owned), not w. */
int ovx_cuda_model_upload(ovx_gpu *g, const ovx_model_config *cfg, const ovx_weights *w,
                          ovx_cuda_model **out, ovx_error *err);
void ovx_cuda_model_free(ovx_cuda_model *m);

/* Per-op wall time of the last forward, filled when profiling is on (each
 * op is then followed by a device sync, so the forward is slower). */
enum ovx_cuda_op {
    OVX_CUDA_OP_UPLOAD, OVX_CUDA_OP_PATCH_EMBED, OVX_CUDA_OP_LAYERNORM, OVX_CUDA_OP_LINEAR,
    OVX_CUDA_OP_ROPE, OVX_CUDA_OP_ATTENTION, OVX_CUDA_OP_GELU, OVX_CUDA_OP_RESIDUAL,
    OVX_CUDA_OP_DOWNLOAD, OVX_CUDA_OP_COUNT
};
const char *ovx_cuda_op_name(int op);
void ovx_cuda_model_set_profiling(ovx_cuda_model *m, int on);
const double *ovx_cuda_model_timings(const ovx_cuda_model *m); /* [OVX_CUDA_OP_COUNT] ms */

/* Attention scratch budget in bytes (scores f32 + probabilities bf16 of one
 * query chunk, all heads); default 128 MiB. */
void ovx_cuda_model_set_scratch(ovx_cuda_model *m, size_t bytes);

/* Attention implementation: the fused kernel (attention.cu, default where
 * the device has it) or the chunked path (score GEMM, row softmax, value
 * GEMM per query chunk: the reference). */
enum ovx_cuda_attention_mode { OVX_CUDA_ATTENTION_FUSED = 0, OVX_CUDA_ATTENTION_CHUNKED = 1 };
void ovx_cuda_model_set_attention(ovx_cuda_model *m, int mode);
/* the mode the forward uses: chunked when the device has no fused kernel */
int ovx_cuda_model_attention(const ovx_cuda_model *m);

/* Forward of B samples of N tokens (model.h contract). Allocates the
 * outputs with malloc (free with ovx_outputs_free). */
int ovx_cuda_forward(ovx_cuda_model *m, const ovx_tokens *in, ovx_outputs *out, ovx_error *err);

/* Padding-free batch: `samples` sequences of lengths[s] tokens packed back to
 * back: patches [sum(len), C*P*P], pos [sum(len), 3]. Outputs are packed the
 * same way: last_hidden_state / hidden_state [sum(len), D], pooler [samples, D]. */
int ovx_cuda_forward_packed(ovx_cuda_model *m, int samples, const int *lengths,
                            const float *patches, const int32_t *pos, ovx_outputs *out,
                            ovx_error *err);

#endif
