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
/* "CUDA 13.0, kernel images sm_80, sm_86 + PTX compute_86" or "no CUDA backend" */
const char *ovx_cuda_build_str(void);

/* What is known about a CUDA device (or the emulated one of the test hook
 * OVX_CUDA_EMULATE, see gpu.c). Versions are CUDA's 1000*major + 10*minor. */
typedef struct ovx_gpu_info {
    int device;               /* ordinal */
    char name[128];
    int major, minor;         /* compute capability */
    int sms;                  /* streaming multiprocessors */
    int clock_mhz;            /* max SM clock, 0 if unknown */
    size_t total_mem, free_mem; /* bytes; free_mem as of the last query */
    int driver_version;       /* highest CUDA version the driver supports */
    int runtime_version;      /* CUDA version this ovx was built with */
    int emulated;             /* 1: OVX_CUDA_EMULATE (host emulation, test only) */
} ovx_gpu_info;

/* Number of CUDA devices; OVX_EDEVICE with a one-line reason when CUDA
 * cannot be used at all, each cause its own message: built without CUDA,
 * no NVIDIA driver (libcuda.so.1 missing), the toolkit's stub libcuda,
 * driver too old for this build, no device visible. */
int ovx_cuda_device_count(int *count, ovx_error *err);
/* 1 when this machine has no NVIDIA driver at all (libcuda.so.1 absent) or
 * this ovx has no CUDA backend, and no emulated device: nothing to say to
 * a user who did not ask for CUDA. 0 when a driver exists (usable or not). */
int ovx_cuda_driver_absent(void);
/* Name, compute capability, SMs, memory of a device (no context created
 * for the memory: free_mem is 0 until the device is opened). */
int ovx_cuda_device_info(int device, ovx_gpu_info *info, ovx_error *err);
/* "NAME (sm_XY, N GiB)" of a device. */
int ovx_cuda_device_name(int device, char *name, size_t len, ovx_error *err);

/* Opens CUDA device `device` with every check that can fail before the
 * first forward, each with its own one-line OVX_EDEVICE message naming the
 * device: the driver and device checks above, compute capability below 8.0
 * (no bf16 tensor cores), no kernel image of this build for the GPU, cuBLAS
 * not loadable (libcublas.so.MAJOR of the toolkit, or $OVX_CUBLAS), context
 * creation (busy GPU), and a test launch of a kernel with its result read
 * back. OVX_CUDA_SYNC=1 adds a device sync after every op so a kernel fault
 * names the op. Or opens the host emulation (ovx_gpu_open_emu). */
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
/* When the shim's cp.async twin performs a copy: at the cp.async.wait_group
 * that covers it (0, default: the latest moment, a read before the wait
 * sees the old contents) or when it is issued (1: the earliest, a copy
 * into a buffer other warps still read shows). Tests run both. */
void ovx_cuda_host_set_cp_async_early(int early);
void ovx_gpu_close(ovx_gpu *g);
/* The opened device (NULL for the plain host emulation). */
const ovx_gpu_info *ovx_gpu_get_info(const ovx_gpu *g);
/* Free and total device memory now (0), or -1 when it cannot be queried
 * (the plain host emulation, a faulted device). */
int ovx_gpu_mem(ovx_gpu *g, size_t *free_b, size_t *total_b);
/* "CUDA device N (NAME, sm_XY, F GiB free of T GiB)" with free memory
 * queried now (left out when the query fails, e.g. after a fault). */
const char *ovx_gpu_describe(ovx_gpu *g, char *buf, size_t len);
/* 1 when the device still works (sync, and a small allocation written and
 * read back); 0 after a sticky fault (illegal address, ...): the device is
 * then unusable until the process ends. */
int ovx_gpu_healthy(ovx_gpu *g);
/* How the linear layers run on g: "cuBLASLt with the bias/GELU epilogues",
 * "GEMM + epilogue kernel", or why they fell back from cuBLASLt (said once,
 * from the first time it happened). */
const char *ovx_gpu_linear_str(const ovx_gpu *g);

/* Dense bf16 tensor-core FLOP per clock per SM of a compute capability (0:
 * not in the table), and the device's peak in TFLOP/s from it (SMs x max
 * clock x that; 0 when unknown). See peak.c for the sources. */
int ovx_cuda_bf16_flop_per_clk_sm(int major, int minor);
double ovx_cuda_bf16_peak_tflops(const ovx_gpu_info *i);

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

/* Attention implementation: the fused mma.sync kernel (attention_mma.cu,
 * default where the device has it), the chunked path (score GEMM, row
 * softmax, value GEMM per query chunk: the reference) or the earlier fused
 * WMMA kernel (attention.cu). */
enum ovx_cuda_attention_mode {
    OVX_CUDA_ATTENTION_FUSED = 0,
    OVX_CUDA_ATTENTION_CHUNKED = 1,
    OVX_CUDA_ATTENTION_WMMA = 2
};
void ovx_cuda_model_set_attention(ovx_cuda_model *m, int mode);
/* the mode the forward uses: chunked when the device lacks the fused kernel asked for */
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

/* Overlapped batches: the same forward as ovx_cuda_forward_packed in two
 * halves. submit queues the batch (inputs copied to a page-locked slot and
 * uploaded on a copy stream, the forward on the compute stream, the
 * outputs' download on the other copy stream) and returns at once with its
 * slot; collect waits for that slot's download and hands out the outputs
 * (malloc'ed, as ovx_cuda_forward_packed; hidden_state_index is the one
 * given to submit). OVX_CUDA_SLOTS (2) batches can be in flight: while batch
 * k runs, k+1 is uploaded and k-1 downloaded. The inputs are copied at
 * submit (the caller may reuse them). An error of the queued work may be
 * reported by submit or by collect; either way the slot is free again
 * afterwards. Submit without a free slot: OVX_EINTERNAL. */
int ovx_cuda_submit_packed(ovx_cuda_model *m, int samples, const int *lengths,
                           const float *patches, const int32_t *pos, int hidden_state_index,
                           int *slot, ovx_error *err);
/* The same with the samples where they are (sample s: patches[s]
 * [lengths[s], C*P*P], pos[s] [lengths[s], 3]), packed straight into the
 * page-locked slot: one host copy. */
int ovx_cuda_submit_gather(ovx_cuda_model *m, int samples, const int *lengths,
                           const float *const *patches, const int32_t *const *pos,
                           int hidden_state_index, int *slot, ovx_error *err);
int ovx_cuda_collect(ovx_cuda_model *m, int slot, ovx_outputs *out, ovx_error *err);

/* CUDA graphs (graph.c): the forward of each (slot, lengths, hidden
 * state) shape runs directly the first time, is captured as a graph the
 * second and replayed after that; at most `max` shapes are kept (least
 * recently used dropped), 0 turns graphs off. Default from OVX_CUDA_GRAPHS
 * (0: off, N: cache size 1..64; 8 when unset). Off while profiling and with
 * OVX_CUDA_SYNC=1 (a sync inside a capture is not allowed). Without device
 * graphs (the emulations) the cache replays the captured op sequence
 * itself, with the captured buffers and shape. */
typedef struct ovx_cuda_graph_stats {
    long direct;     /* forwards run directly (first use of a shape, or graphs off) */
    long captures;   /* graphs captured */
    long replays;    /* forwards run as a replay of a captured graph */
    long evictions;  /* graphs dropped: cache full, or their buffers moved */
    long refused;    /* captures the device refused (the batch ran directly, its shape stays direct) */
} ovx_cuda_graph_stats;
/* Which path the linear layers took, per layer type, since the upload:
 * "q_proj/k_proj cuBLASLt, v_proj cuBLASLt, ..., mlp.fc1 GEMM + epilogue kernel" into
 * buf; returns the number of layer types that took the fallback (GEMM to
 * fp32 + the epilogue kernel) at least once. */
int ovx_cuda_model_gemm_paths(const ovx_cuda_model *m, char *buf, size_t len);
/* The pending note of a refused graph capture (once per model): 1 and the
 * text in buf, else 0. */
int ovx_cuda_model_take_note(ovx_cuda_model *m, char *buf, size_t len);
void ovx_cuda_model_set_graphs(ovx_cuda_model *m, int max);
/* GPU time of the last collected forward in ms: on a device, between two
 * events on the compute stream around the forward (its kernels and the gaps
 * between them; no host work, no copies), *events = 1; on the emulations
 * (no events; ops finish when they return) the host time of the forward's
 * ops, *events = 0. -1 before the first collect. */
double ovx_cuda_model_last_gpu_ms(const ovx_cuda_model *m, int *events);
ovx_cuda_graph_stats ovx_cuda_model_graph_stats(const ovx_cuda_model *m);

#endif
