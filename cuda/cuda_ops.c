/* cuda_ops.c: the real device behind ovx_gpu: its stream and cuBLAS handle
 * (the checks before them are in gpu.c and cuda_device.c), memory through
 * the CUDA runtime (linked statically), the GEMM through cublasGemmEx /
 * cublasGemmStridedBatchedEx (bf16 inputs, float32 compute), and the kernel
 * table from kernels.cu. cuBLAS is loaded with dlopen when a device is
 * opened ($OVX_CUBLAS, else the toolkit's soname), so a CUDA build starts
 * fast and runs CPU-only where cuBLAS is missing. Every CUDA/cuBLAS return
 * code is checked. Built only with OVX_HAVE_CUDA. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "cuda/kernels.h"
#include "cuda/gpu_open.h"

/* ---- cuBLAS, loaded on first use ---- */
#define STR_(x) #x
#define STR(x) STR_(x)
#define CUBLAS_SONAME "libcublas.so." STR(CUBLAS_VER_MAJOR)

static struct {
    void *lib;
    char error[400];
    __typeof__(&cublasCreate_v2) create;
    __typeof__(&cublasDestroy_v2) destroy;
    __typeof__(&cublasSetStream_v2) set_stream;
    __typeof__(&cublasGemmEx) gemm;
    __typeof__(&cublasGemmStridedBatchedEx) gemm_strided;
    __typeof__(&cublasGetStatusString) status_string;
} cb;
static pthread_once_t cb_once = PTHREAD_ONCE_INIT;

static void cb_load(void)
{
    const char *name = getenv("OVX_CUBLAS"); /* a cuBLAS of the same major version */
    if (!name || !*name)
        name = CUBLAS_SONAME;
    void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(cb.error, sizeof cb.error, "CUDA unavailable: cannot load cuBLAS: %s", dlerror());
        return;
    }
    struct { void *slot; const char *name; } syms[] = {
        {&cb.create, "cublasCreate_v2"},       {&cb.destroy, "cublasDestroy_v2"},
        {&cb.set_stream, "cublasSetStream_v2"}, {&cb.gemm, "cublasGemmEx"},
        {&cb.gemm_strided, "cublasGemmStridedBatchedEx"},
        {&cb.status_string, "cublasGetStatusString"}};
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        void *f = dlsym(lib, syms[i].name);
        if (!f) {
            snprintf(cb.error, sizeof cb.error, "CUDA unavailable: cuBLAS %s has no %s (not cuBLAS %d?)",
                     name, syms[i].name, CUBLAS_VER_MAJOR);
            dlclose(lib);
            return;
        }
        memcpy(syms[i].slot, &f, sizeof f); /* object pointer -> function pointer */
    }
    cb.lib = lib;
}

static int cuda_fail(ovx_gpu *g, const char *what, cudaError_t e)
{
    snprintf(g->msg, sizeof g->msg, "%s: %s", what, cudaGetErrorString(e));
    return -1;
}

static int cublas_fail(ovx_gpu *g, const char *what, cublasStatus_t s)
{
    snprintf(g->msg, sizeof g->msg, "%s: %s", what, cb.status_string(s));
    return -1;
}

static int c_alloc(ovx_gpu *g, void **d_p, size_t bytes)
{
    cudaError_t e = cudaMalloc(d_p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        *d_p = NULL;
        snprintf(g->msg, sizeof g->msg, "cudaMalloc of %zu bytes: %s", bytes, cudaGetErrorString(e));
        return -1;
    }
    return 0;
}

static void c_release(ovx_gpu *g, void *d_p)
{
    (void)g;
    if (d_p)
        (void)cudaFree(d_p); /* nothing useful to do on failure while freeing */
}

static int c_upload(ovx_gpu *g, void *d_dst, const void *src, size_t bytes)
{
    cudaError_t e = cudaMemcpyAsync(d_dst, src, bytes, cudaMemcpyHostToDevice, (cudaStream_t)g->stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize((cudaStream_t)g->stream);
    return e == cudaSuccess ? 0 : cuda_fail(g, "CUDA upload", e);
}

static int c_download(ovx_gpu *g, void *dst, const void *d_src, size_t bytes)
{
    cudaError_t e = cudaMemcpyAsync(dst, d_src, bytes, cudaMemcpyDeviceToHost, (cudaStream_t)g->stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize((cudaStream_t)g->stream);
    return e == cudaSuccess ? 0 : cuda_fail(g, "CUDA download", e);
}

static int c_sync(ovx_gpu *g)
{
    cudaError_t e = cudaStreamSynchronize((cudaStream_t)g->stream);
    return e == cudaSuccess ? 0 : cuda_fail(g, "CUDA stream", e);
}

static int c_activate(ovx_gpu *g)
{
    cudaError_t e = cudaSetDevice(g->device);
    return e == cudaSuccess ? 0 : cuda_fail(g, "CUDA device", e);
}

static int c_gemm(ovx_gpu *g, int trans_a, int trans_b, int m, int n, int k, float alpha,
                  const ovx_bf16 *d_a, int lda, long long stride_a, const ovx_bf16 *d_b, int ldb,
                  long long stride_b, float beta, void *d_c, int c_bf16, int ldc,
                  long long stride_c, int batch)
{
    cublasHandle_t h = (cublasHandle_t)g->cublas;
    cublasOperation_t ta = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t tb = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    cudaDataType_t ct = c_bf16 ? CUDA_R_16BF : CUDA_R_32F;
    cublasStatus_t s;
    if (batch == 1)
        s = cb.gemm(h, ta, tb, m, n, k, &alpha, d_a, CUDA_R_16BF, lda, d_b, CUDA_R_16BF, ldb,
                         &beta, d_c, ct, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    else
        s = cb.gemm_strided(h, ta, tb, m, n, k, &alpha, d_a, CUDA_R_16BF, lda, stride_a,
                                       d_b, CUDA_R_16BF, ldb, stride_b, &beta, d_c, ct, ldc,
                                       stride_c, batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (s != CUBLAS_STATUS_SUCCESS) {
        snprintf(g->msg, sizeof g->msg, "cuBLAS GEMM %dx%dx%d (batch %d): %s", m, n, k, batch,
                 cb.status_string(s));
        return -1;
    }
    return 0;
}

static const ovx_gpu_ops cuda_ops = {
    .name = "cuda",
    .alloc = c_alloc,
    .release = c_release,
    .upload = c_upload,
    .download = c_download,
    .sync = c_sync,
    .activate = c_activate,
    .gemm = c_gemm,
    .to_bf16 = ovx_cuda_k_to_bf16,
    .pack_rows_bf16 = ovx_cuda_k_pack_rows_bf16,
    .fill_rows = ovx_cuda_k_fill_rows,
    .norm = ovx_cuda_k_norm,
    .bias_gelu = ovx_cuda_k_bias_gelu,
    .residual_add = ovx_cuda_k_residual_add,
    .rope_tables = ovx_cuda_k_rope_tables,
    .rope_apply = ovx_cuda_k_rope_apply,
    .softmax_rows = ovx_cuda_k_softmax_rows,
    .attention_out = ovx_cuda_k_attention_out,
    .flash_attention = ovx_cuda_k_flash_attention,
};

int ovx_cuda_blas_load(ovx_error *err)
{
    if (pthread_once(&cb_once, cb_load) != 0)
        return ovx_error_set(err, OVX_EDEVICE, "CUDA unavailable: cannot load cuBLAS");
    if (!cb.lib)
        return ovx_error_set(err, OVX_EDEVICE, "%s", cb.error);
    return OVX_OK;
}

int ovx_cuda_attach(ovx_gpu *g)
{
    g->ops = &cuda_ops;
    cudaError_t e = cudaSetDevice(g->device);
    cudaStream_t stream = NULL;
    if (e == cudaSuccess)
        e = cudaFree(NULL); /* creates the context now: a busy GPU fails here */
    if (e == cudaSuccess)
        e = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
    if (e != cudaSuccess)
        return cuda_fail(g, "creating a CUDA context", e);
    g->stream = stream;
    cublasHandle_t h = NULL;
    cublasStatus_t s = cb.create(&h);
    if (s == CUBLAS_STATUS_SUCCESS) {
        g->cublas = h;
        s = cb.set_stream(h, stream);
    }
    if (s != CUBLAS_STATUS_SUCCESS)
        return cublas_fail(g, "cuBLAS init", s);
    return 0;
}

void ovx_gpu_close_cuda(ovx_gpu *g)
{
    if (g->cublas)
        (void)cb.destroy((cublasHandle_t)g->cublas);
    if (g->stream)
        (void)cudaStreamDestroy((cudaStream_t)g->stream);
}
