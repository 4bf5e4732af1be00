/* gpu_open.h: internals of opening a CUDA device, shared by gpu.c (the open
 * sequence and its checks), cuda_device.c (driver and device queries),
 * cuda_ops.c (cuBLAS, stream, the real op table) and gpu_hooks.c (the
 * optional layer over an op table: sync after each op, emulated memory,
 * test hooks). Not a public API: see ovx_cuda.h. */
#ifndef OVX_CUDA_GPU_OPEN_H
#define OVX_CUDA_GPU_OPEN_H

#include "cuda/ovx_cuda.h"

/* Hook settings, read from the environment by ovx_gpu_hooks_env. */
typedef struct ovx_gpu_hook_cfg {
    int sync_each;          /* OVX_CUDA_SYNC=1: sync after every op, name the op */
    int fail_open;          /* OVX_CUDA_FAIL=open */
    int fail_upload;        /* OVX_CUDA_FAIL=upload: allocations fail once open */
    char fault_op[32];      /* OVX_CUDA_FAIL=fault:OP[:N]: the N-th OP (or "any" op) after
                             * open poisons the device */
    long fault_at;
    char skip_op[32];       /* OVX_CUDA_FAIL=skip:OP: OP does nothing (wrong results) */
    char error_op[32];      /* OVX_CUDA_FAIL=error:OP[:N]: the N-th OP fails, the device stays
                             * usable (a launch refused, out of memory for one batch) */
    long error_at;
    int fail_capture;       /* OVX_CUDA_FAIL=capture: every CUDA graph capture is refused */
} ovx_gpu_hook_cfg;

struct ovx_gpu_ext {
    ovx_gpu_info info;
    ovx_gpu_hook_cfg cfg;
    const ovx_gpu_ops *base;  /* the table under the hooks */
    ovx_gpu_ops hooked;       /* base with the hooked entries replaced */
    int armed;                /* open finished: fail_upload and faults apply */
    long fault_calls;         /* calls of cfg.fault_op so far */
    long error_calls;         /* calls of cfg.error_op so far */
    int poisoned;             /* an injected fault happened: everything fails */
    char poison[200];
    size_t mem_limit, mem_used; /* emulated device memory (0: no limit) */
};

/* Parses OVX_CUDA_SYNC and OVX_CUDA_FAIL (test hook); OVX_EUSAGE naming the
 * variable on a bad value. *active = 1 when any hook is on. */
int ovx_gpu_hooks_env(ovx_gpu_hook_cfg *cfg, int *active, ovx_error *err);
/* Puts the hook layer over g->ops (g->ext->cfg must be set); also used for
 * the emulated device's memory accounting. */
void ovx_gpu_hooks_install(ovx_gpu *g);
/* Names of the op-table entries, for OVX_CUDA_FAIL=fault:OP validation. */
int ovx_gpu_hooks_known_op(const char *op);

/* gpu.c: 0 when a GPU of compute capability major.minor can run this build
 * (kernel images `sass` "80,86,...", PTX of compute_`ptx`), else -1 with
 * the reason in why. */
int ovx_cuda_arch_check(int major, int minor, const char *sass, int ptx, char *why, size_t len);

#ifdef OVX_HAVE_CUDA
/* cuda_device.c */
int ovx_cuda_runtime_version(void); /* CUDART_VERSION of the build */
int ovx_cuda_real_count(int *count, ovx_error *err);
int ovx_cuda_real_driver_absent(void); /* no libcuda.so.1 at all (a stub is not absent) */
int ovx_cuda_real_info(int device, ovx_gpu_info *info, ovx_error *err);
/* free/total memory of the current device (0 on success) */
int ovx_cuda_real_mem(size_t *free_b, size_t *total_b);
/* a hint for a CUDA error message of a first use (busy GPU, no kernel
 * image, PTX too new for the driver, ...), NULL when there is none */
const char *ovx_cuda_hint(const char *msg);
/* cuda_ops.c */
int ovx_cuda_blas_load(ovx_error *err);
/* Makes g->device current and gives g the real op table, a stream and a
 * cuBLAS handle; g->msg says why not. */
int ovx_cuda_attach(ovx_gpu *g);
void ovx_gpu_close_cuda(ovx_gpu *g);
#endif

#endif
