/* host_ops.c: the device table backed by the CUDA-on-host shim: memory and
 * GEMMs as the host emulation (emu_ops.c: malloc, cuBLAS's column-major GEMM
 * semantics), every kernel from the real kernel sources (kernels.cu, attention.cu and
 * attention_mma.cu built as host C++, ovx_host_k_*). `ovx selftest --device cpu` and tests/cuda run
 * the CUDA forward on it, i.e. the kernel code the GPU runs. Without a C++
 * compiler at build time (no OVX_HAVE_CUDA_HOST) it falls back to the
 * emulation's own kernels and says so in the table's name. */
#include <pthread.h>
#include <stdlib.h>

#include "cuda/kernels.h"
#include "cuda/ovx_cuda.h"

static ovx_gpu_ops host_ops;
static pthread_once_t host_once = PTHREAD_ONCE_INIT;

static void host_init(void)
{
    host_ops = ovx_gpu_emu_ops;
#ifdef OVX_HAVE_CUDA_HOST
    host_ops.name = "kernels.cu on the host shim";
    host_ops.to_bf16 = ovx_host_k_to_bf16;
    host_ops.pack_rows_bf16 = ovx_host_k_pack_rows_bf16;
    host_ops.norm = ovx_host_k_norm;
    host_ops.add_norm = ovx_host_k_add_norm;
    host_ops.bias_act = ovx_host_k_bias_act;
    host_ops.residual_add = ovx_host_k_residual_add;
    host_ops.rope_tables = ovx_host_k_rope_tables;
    host_ops.rope_qkv = ovx_host_k_rope_qkv;
    host_ops.softmax_rows = ovx_host_k_softmax_rows;
    host_ops.attention_out = ovx_host_k_attention_out;
    host_ops.flash_attention = ovx_host_k_flash_attention;
    host_ops.flash_attention_mma = ovx_host_k_flash_attention_mma;
#else
    host_ops.name = "emulated (built without C++: kernels.cu not run on the host)";
#endif
}

int ovx_cuda_host_shim_compiled(void)
{
#ifdef OVX_HAVE_CUDA_HOST
    return 1;
#else
    return 0;
#endif
}

#ifndef OVX_HAVE_CUDA_HOST
void ovx_cuda_host_set_threads(int os_threads)
{
    (void)os_threads;
}

void ovx_cuda_host_set_cp_async_early(int early)
{
    (void)early;
}
#endif

int ovx_gpu_open_host(ovx_gpu **out, ovx_error *err)
{
    if (pthread_once(&host_once, host_init) != 0)
        return ovx_error_set(err, OVX_EINTERNAL, "cannot initialise the host device table");
    int rc = ovx_gpu_open_emu(out, err);
    if (!rc)
        (*out)->ops = &host_ops;
    return rc;
}
