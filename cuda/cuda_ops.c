/* cuda_ops.c: the real device behind ovx_gpu: its stream and cuBLAS handle
 * (the checks before them are in gpu.c and cuda_device.c), memory through
 * the CUDA runtime (linked statically), the GEMM through cublasGemmEx /
 * cublasGemmStridedBatchedEx (bf16 inputs, float32 compute), the linear
 * layers through cuBLASLt with the BIAS / GELU_BIAS epilogues (loaded the
 * same way; without it, or for a shape it has no algorithm for, cuBLAS +
 * the epilogue kernel, and g->note says so once), and the kernel table
 * from kernels.cu. cuBLAS is loaded with dlopen when a device is
 * opened ($OVX_CUBLAS, else the toolkit's soname), so a CUDA build starts
 * fast and runs CPU-only where cuBLAS is missing. Every CUDA/cuBLAS return
 * code is checked. Built only with OVX_HAVE_CUDA. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "cuda/gpu_open.h"
#include "cuda/kernels.h"
#include "cuda/numerics.h"

/* ---- cuBLAS and cuBLASLt, loaded on first use ---- */
#define STR_(x) #x
#define STR(x) STR_(x)
#define CUBLAS_SONAME "libcublas.so." STR(CUBLAS_VER_MAJOR)

typedef struct lib_sym {
    void *slot;
    const char *name;
} lib_sym;

/* dlopen's `name` and fills every slot; NULL with *missing the first symbol
 * it lacks (NULL when the library itself did not load: dlerror()) */
static void *lib_open(const char *name, const lib_sym *syms, size_t n, const char **missing)
{
    *missing = NULL;
    void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    for (size_t i = 0; lib && i < n; i++) {
        void *f = dlsym(lib, syms[i].name);
        if (!f) {
            *missing = syms[i].name;
            dlclose(lib);
            return NULL;
        }
        memcpy(syms[i].slot, &f, sizeof f); /* object pointer -> function pointer */
    }
    return lib;
}

static struct {
    void *lib;
    char error[400];
    __typeof__(&cublasCreate_v2) create;
    __typeof__(&cublasDestroy_v2) destroy;
    __typeof__(&cublasSetStream_v2) set_stream;
    __typeof__(&cublasSetWorkspace_v2) set_workspace;
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
    lib_sym syms[] = {
        {&cb.create, "cublasCreate_v2"},       {&cb.destroy, "cublasDestroy_v2"},
        {&cb.set_stream, "cublasSetStream_v2"}, {&cb.set_workspace, "cublasSetWorkspace_v2"},
        {&cb.gemm, "cublasGemmEx"},
        {&cb.gemm_strided, "cublasGemmStridedBatchedEx"},
        {&cb.status_string, "cublasGetStatusString"}};
    const char *missing;
    void *lib = lib_open(name, syms, sizeof syms / sizeof syms[0], &missing);
    if (!lib && !missing)
        snprintf(cb.error, sizeof cb.error, "CUDA unavailable: cannot load cuBLAS: %s", dlerror());
    else if (!lib)
        snprintf(cb.error, sizeof cb.error, "CUDA unavailable: cuBLAS %s has no %s (not cuBLAS %d?)",
                 name, missing, CUBLAS_VER_MAJOR);
    cb.lib = lib;
}

/* cuBLASLt ($OVX_CUBLASLT, else the toolkit's soname): optional, the
 * linear layers fall back to cuBLAS + the epilogue kernel without it */
#define CUBLASLT_SONAME "libcublasLt.so." STR(CUBLAS_VER_MAJOR)
static struct {
    void *lib;
    char error[300];
    __typeof__(&cublasLtCreate) create;
    __typeof__(&cublasLtDestroy) destroy;
    __typeof__(&cublasLtMatmulDescCreate) desc_create;
    __typeof__(&cublasLtMatmulDescDestroy) desc_destroy;
    __typeof__(&cublasLtMatmulDescSetAttribute) desc_set;
    __typeof__(&cublasLtMatrixLayoutCreate) layout_create;
    __typeof__(&cublasLtMatrixLayoutDestroy) layout_destroy;
    __typeof__(&cublasLtMatmulPreferenceCreate) pref_create;
    __typeof__(&cublasLtMatmulPreferenceDestroy) pref_destroy;
    __typeof__(&cublasLtMatmulPreferenceSetAttribute) pref_set;
    __typeof__(&cublasLtMatmulAlgoGetHeuristic) heuristic;
    __typeof__(&cublasLtMatmul) matmul;
    __typeof__(&cublasLtGetStatusString) status_string;
} lt;
static pthread_once_t lt_once = PTHREAD_ONCE_INIT;

static void lt_load(void)
{
    const char *name = getenv("OVX_CUBLASLT");
    if (!name || !*name)
        name = CUBLASLT_SONAME;
    lib_sym syms[] = {
        {&lt.create, "cublasLtCreate"}, {&lt.destroy, "cublasLtDestroy"},
        {&lt.desc_create, "cublasLtMatmulDescCreate"}, {&lt.desc_destroy, "cublasLtMatmulDescDestroy"},
        {&lt.desc_set, "cublasLtMatmulDescSetAttribute"},
        {&lt.layout_create, "cublasLtMatrixLayoutCreate"},
        {&lt.layout_destroy, "cublasLtMatrixLayoutDestroy"},
        {&lt.pref_create, "cublasLtMatmulPreferenceCreate"},
        {&lt.pref_destroy, "cublasLtMatmulPreferenceDestroy"},
        {&lt.pref_set, "cublasLtMatmulPreferenceSetAttribute"},
        {&lt.heuristic, "cublasLtMatmulAlgoGetHeuristic"}, {&lt.matmul, "cublasLtMatmul"},
        {&lt.status_string, "cublasLtGetStatusString"}};
    const char *missing;
    void *lib = lib_open(name, syms, sizeof syms / sizeof syms[0], &missing);
    if (!lib && !missing)
        snprintf(lt.error, sizeof lt.error, "cannot load cuBLASLt: %s", dlerror());
    else if (!lib)
        snprintf(lt.error, sizeof lt.error, "cuBLASLt %s has no %s", name, missing);
    lt.lib = lib;
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

static int c_host_alloc(ovx_gpu *g, void **p, size_t bytes)
{
    cudaError_t e = cudaMallocHost(p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        *p = NULL;
        snprintf(g->msg, sizeof g->msg, "cudaMallocHost of %zu bytes: %s", bytes, cudaGetErrorString(e));
        return -1;
    }
    return 0;
}

static void c_host_free(ovx_gpu *g, void *p)
{
    (void)g;
    if (p)
        (void)cudaFreeHost(p); /* nothing useful to do on failure while freeing */
}

static int c_copy_async(ovx_gpu *g, void *dst, const void *src, size_t bytes, int dir)
{
    static const enum cudaMemcpyKind kind[] = {cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost,
                                          cudaMemcpyDeviceToDevice};
    if (dir < 0 || dir > OVX_COPY_D2D)
        return snprintf(g->msg, sizeof g->msg, "CUDA copy: bad direction %d", dir), -1;
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, kind[dir], (cudaStream_t)g->stream);
    return e == cudaSuccess ? 0 : cuda_fail(g, "CUDA copy", e);
}

static cudaStream_t stream_of(ovx_gpu *g, int stream)
{
    return (cudaStream_t)(stream == OVX_STREAM_COMPUTE ? g->stream : g->copy_streams[stream - 1]);
}

static int bad_stream_event(ovx_gpu *g, const char *what, int stream, int ev)
{
    if (stream >= 0 && stream < OVX_STREAMS && ev >= 0 && ev < OVX_GPU_EVENTS)
        return 0;
    snprintf(g->msg, sizeof g->msg, "%s: bad stream %d or event %d", what, stream, ev);
    return -1;
}

static int c_copy_on(ovx_gpu *g, int stream, void *dst, const void *src, size_t bytes, int dir)
{
    static const enum cudaMemcpyKind kind[] = {cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost,
                                               cudaMemcpyDeviceToDevice};
    static const char *const what[] = {"CUDA upload (copy stream)", "CUDA download (copy stream)",
                                       "CUDA copy (copy stream)"};
    if (bad_stream_event(g, "CUDA copy", stream, 0))
        return -1;
    if (dir < 0 || dir > OVX_COPY_D2D)
        return snprintf(g->msg, sizeof g->msg, "CUDA copy: bad direction %d", dir), -1;
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, kind[dir], stream_of(g, stream));
    return e == cudaSuccess ? 0 : cuda_fail(g, what[dir], e);
}

static int c_event_record(ovx_gpu *g, int ev, int stream)
{
    if (bad_stream_event(g, "cudaEventRecord", stream, ev))
        return -1;
    cudaError_t e = cudaEventRecord((cudaEvent_t)g->events[ev], stream_of(g, stream));
    return e == cudaSuccess ? 0 : cuda_fail(g, "cudaEventRecord", e);
}

static int c_stream_wait(ovx_gpu *g, int stream, int ev)
{
    if (bad_stream_event(g, "cudaStreamWaitEvent", stream, ev))
        return -1;
    cudaError_t e = cudaStreamWaitEvent(stream_of(g, stream), (cudaEvent_t)g->events[ev], 0);
    return e == cudaSuccess ? 0 : cuda_fail(g, "cudaStreamWaitEvent", e);
}

static int c_event_sync(ovx_gpu *g, int ev)
{
    if (bad_stream_event(g, "cudaEventSynchronize", 0, ev))
        return -1;
    cudaError_t e = cudaEventSynchronize((cudaEvent_t)g->events[ev]);
    return e == cudaSuccess ? 0 : cuda_fail(g, "waiting for a batch (cudaEventSynchronize)", e);
}

static int c_event_elapsed(ovx_gpu *g, int ev0, int ev1, float *ms)
{
    if (bad_stream_event(g, "cudaEventElapsedTime", 0, ev0) ||
        bad_stream_event(g, "cudaEventElapsedTime", 0, ev1))
        return -1;
    cudaError_t e = cudaEventElapsedTime(ms, (cudaEvent_t)g->events[ev0], (cudaEvent_t)g->events[ev1]);
    return e == cudaSuccess ? 0 : cuda_fail(g, "cudaEventElapsedTime", e);
}

/* a capture is per thread (the forward runs on one thread; other threads
 * may allocate page-locked memory meanwhile) */
static int c_graph_begin(ovx_gpu *g)
{
    cudaError_t e = cudaStreamBeginCapture((cudaStream_t)g->stream, cudaStreamCaptureModeThreadLocal);
    return e == cudaSuccess ? 0 : cuda_fail(g, "cudaStreamBeginCapture", e);
}

static int c_graph_end(ovx_gpu *g, void **exec)
{
    cudaGraph_t graph = NULL;
    cudaGraphExec_t x = NULL;
    *exec = NULL;
    cudaError_t e = cudaStreamEndCapture((cudaStream_t)g->stream, &graph);
    if (e != cudaSuccess)
        return cuda_fail(g, "cudaStreamEndCapture", e);
    e = cudaGraphInstantiate(&x, graph, 0);
    cudaError_t d = cudaGraphDestroy(graph); /* the executable graph keeps what it needs */
    if (e != cudaSuccess)
        return cuda_fail(g, "cudaGraphInstantiate", e);
    if (d != cudaSuccess) {
        (void)cudaGraphExecDestroy(x);
        return cuda_fail(g, "cudaGraphDestroy", d);
    }
    *exec = x;
    return 0;
}

static int c_graph_launch(ovx_gpu *g, void *exec)
{
    cudaError_t e = cudaGraphLaunch((cudaGraphExec_t)exec, (cudaStream_t)g->stream);
    return e == cudaSuccess ? 0 : cuda_fail(g, "cudaGraphLaunch", e);
}

static void c_graph_free(ovx_gpu *g, void *exec)
{
    (void)g;
    if (exec)
        (void)cudaGraphExecDestroy((cudaGraphExec_t)exec); /* nothing useful to do on failure */
}

static int c_sync(ovx_gpu *g)
{
    /* everything queued: the compute stream, then the copy streams */
    cudaError_t e = cudaStreamSynchronize((cudaStream_t)g->stream);
    for (int i = 0; i < 2 && e == cudaSuccess; i++)
        if (g->copy_streams[i])
            e = cudaStreamSynchronize((cudaStream_t)g->copy_streams[i]);
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

/* ---- linear layers through cuBLASLt: one call with the bias / GELU
 * epilogue and a float32 or bf16 output. A plan (descriptors + the
 * heuristic's algorithm) per shape, cached: the forward has a handful. ---- */
#define LT_PLANS 24
#define LT_WORKSPACE ((size_t)32 << 20)

typedef struct lt_plan {
    int out, rows, in, epi, y_bf16; /* the key */
    int usable;                     /* 0: the heuristic found no algorithm */
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t a, b, d;
    cublasLtMatmulAlgo_t algo;
} lt_plan;

typedef struct lt_state {
    cublasLtHandle_t h;
    void *ws;
    lt_plan plans[LT_PLANS];
    int nplans;
} lt_state;

static void lt_plan_free(lt_plan *p)
{
    if (p->a)
        (void)lt.layout_destroy(p->a);
    if (p->b)
        (void)lt.layout_destroy(p->b);
    if (p->d)
        (void)lt.layout_destroy(p->d);
    if (p->desc)
        (void)lt.desc_destroy(p->desc);
    memset(p, 0, sizeof *p);
}

static void lt_note(ovx_gpu *g, const char *fmt, const char *detail)
{
    if (!g->note[0])
        snprintf(g->note, sizeof g->note, fmt, detail);
}

/* the plan of Y [rows, out] = epi(X [rows, in] W^T + b): column-major
 * D [out x rows] = op_T(A = W^T stored [in x out]) B (X^T stored [in x
 * rows]); always 0 with *plan, not usable (the caller falls back, g->note
 * says why) when a descriptor, the heuristic or its result failed */
static int lt_get_plan(ovx_gpu *g, lt_state *st, int out, int rows, int in, int epi, int y_bf16,
                       const void *d_b, lt_plan **plan)
{
    for (int i = 0; i < st->nplans; i++) {
        lt_plan *p = &st->plans[i];
        if (p->out == out && p->rows == rows && p->in == in && p->epi == epi && p->y_bf16 == y_bf16) {
            *plan = p;
            return 0;
        }
    }
    if (st->nplans == LT_PLANS) { /* shapes keep changing (many batch sizes): start over */
        for (int i = 0; i < st->nplans; i++)
            lt_plan_free(&st->plans[i]);
        st->nplans = 0;
    }
    lt_plan *p = &st->plans[st->nplans];
    memset(p, 0, sizeof *p);
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    /* BIAS_RESIDUAL is BIAS with beta = 1 and C = D (in place) */
    const cublasLtEpilogue_t e = epi == OVX_EPI_GELU_BIAS ? CUBLASLT_EPILOGUE_GELU_BIAS
                                 : epi != OVX_EPI_NONE   ? CUBLASLT_EPILOGUE_BIAS
                                                          : CUBLASLT_EPILOGUE_DEFAULT;
    /* the bias type follows the output type (cublasLt.h, BIAS_DATA_TYPE):
     * a float32 bias with a bf16 output is refused by the heuristic */
    const cudaDataType_t d_t = y_bf16 ? CUDA_R_16BF : CUDA_R_32F, bias_t = d_t;
    const uint64_t ws = LT_WORKSPACE;
    cublasLtMatmulPreference_t pref = NULL;
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    const char *what = "cuBLASLt descriptors";
    cublasStatus_t s = lt.desc_create(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    if (!s)
        s = lt.desc_set(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta);
    if (!s)
        s = lt.desc_set(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb);
    if (!s)
        s = lt.desc_set(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &e, sizeof e);
    if (!s && epi != OVX_EPI_NONE)
        s = lt.desc_set(p->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_t, sizeof bias_t);
    if (!s && epi != OVX_EPI_NONE) /* the heuristic looks at its alignment */
        s = lt.desc_set(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &d_b, sizeof d_b);
    if (!s)
        s = lt.layout_create(&p->a, CUDA_R_16BF, (uint64_t)in, (uint64_t)out, in);
    if (!s)
        s = lt.layout_create(&p->b, CUDA_R_16BF, (uint64_t)in, (uint64_t)rows, in);
    if (!s)
        s = lt.layout_create(&p->d, d_t, (uint64_t)out, (uint64_t)rows, out);
    if (!s) {
        what = "cuBLASLt preference";
        s = lt.pref_create(&pref);
    }
    if (!s)
        s = lt.pref_set(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    if (!s) {
        what = "cuBLASLt heuristic";
        s = lt.heuristic(st->h, p->desc, p->a, p->b, p->d, p->d, pref, 1, &res, &found);
        if (s == CUBLAS_STATUS_NOT_SUPPORTED) { /* no kernel for this combination */
            s = CUBLAS_STATUS_SUCCESS;
            found = 0;
        }
    }
    if (pref)
        (void)lt.pref_destroy(pref);
    if (s) { /* e.g. an attribute or type combination this cuBLASLt refuses:
              * not an error of the device, the layer takes the fallback */
        char why[160];
        snprintf(why, sizeof why, "%s (linear %dx%dx%d, epilogue %d): %s", what, out, rows, in,
                 epi, lt.status_string(s));
        lt_note(g, "linear layers: cuBLAS + epilogue kernel where cuBLASLt fails: %s", why);
        lt_plan_free(p);
        found = 0;
    }
    p->out = out, p->rows = rows, p->in = in, p->epi = epi, p->y_bf16 = y_bf16;
    p->usable = found > 0 && res.state == CUBLAS_STATUS_SUCCESS;
    if (p->usable)
        p->algo = res.algo;
    st->nplans++;
    *plan = p;
    return 0;
}

static int c_linear(ovx_gpu *g, const ovx_bf16 *d_w, const float *d_b32, const ovx_bf16 *d_b16,
                    int out, int in, const ovx_bf16 *d_x, int rows, int epi, float *d_y32,
                    ovx_bf16 *d_y16)
{
    lt_state *st = (lt_state *)g->blaslt;
    void *d_y = d_y32 ? (void *)d_y32 : (void *)d_y16;
    const void *d_b = d_y32 ? (const void *)d_b32 : (const void *)d_b16;
    /* the residual add: D = W X + b + 1 * C with C = D = y32, in place
     * (cublasLtMatmul allows C == D with the same layout) */
    const int resid = epi == OVX_EPI_BIAS_RESIDUAL;
    if (resid && !d_y32) {
        snprintf(g->msg, sizeof g->msg, "cuBLASLt linear: a residual epilogue needs a float32 output");
        return -1;
    }
    if (resid && !d_b) /* a layer without a bias: no epilogue, beta = 1 */
        epi = OVX_EPI_NONE;
    if (epi != OVX_EPI_NONE && !d_b) {
        lt_note(g, "linear layers: cuBLAS + epilogue kernel for a bf16 output without a bf16 bias%s", "");
        return 1;
    }
    /* cuBLASLt's default preference assumes 256-byte aligned operands */
    if (((uintptr_t)d_w | (uintptr_t)d_x | (uintptr_t)d_y | (uintptr_t)d_b) % 256) {
        lt_note(g, "linear layers: cuBLAS + epilogue kernel for an operand not 256-byte aligned%s", "");
        return 1;
    }
    lt_plan *p;
    if (lt_get_plan(g, st, out, rows, in, epi, !d_y32, d_b, &p))
        return -1;
    if (!p->usable) {
        char what[80];
        snprintf(what, sizeof what, "%dx%dx%d%s", out, rows, in,
                 epi == OVX_EPI_GELU_BIAS ? " with GELU_BIAS" : epi ? " with BIAS" : "");
        lt_note(g, "linear layers: cuBLASLt has no algorithm for %s: cuBLAS + epilogue kernel there", what);
        return 1;
    }
    cublasStatus_t s = CUBLAS_STATUS_SUCCESS;
    if (epi != OVX_EPI_NONE)
        s = lt.desc_set(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &d_b, sizeof d_b);
    const float alpha = 1.0f, beta = resid ? 1.0f : 0.0f;
    if (!s)
        s = lt.matmul(st->h, p->desc, &alpha, d_w, p->a, d_x, p->b, &beta, d_y, p->d, d_y, p->d,
                      &p->algo, st->ws, LT_WORKSPACE, (cudaStream_t)g->stream);
    if (s) {
        snprintf(g->msg, sizeof g->msg, "cuBLASLt matmul %dx%dx%d (epilogue %d): %s", out, rows, in,
                 epi, lt.status_string(s));
        return -1;
    }
    return 0;
}

static void lt_close(ovx_gpu *g)
{
    lt_state *st = (lt_state *)g->blaslt;
    if (!st)
        return;
    for (int i = 0; i < st->nplans; i++)
        lt_plan_free(&st->plans[i]);
    if (st->h)
        (void)lt.destroy(st->h);
    if (st->ws)
        (void)cudaFree(st->ws);
    free(st);
    g->blaslt = NULL;
}

/* cuBLASLt for g when it loads and initialises; otherwise g->note says
 * why and the table without `linear` is used */
static int lt_open(ovx_gpu *g)
{
    if (pthread_once(&lt_once, lt_load) != 0 || !lt.lib) {
        lt_note(g, "linear layers: cuBLAS + epilogue kernel (%.180s)", lt.lib ? "cuBLASLt init" : lt.error);
        return -1;
    }
    lt_state *st = calloc(1, sizeof *st);
    if (!st)
        return -1;
    g->blaslt = st;
    cublasStatus_t s = lt.create(&st->h);
    if (s) {
        lt_note(g, "linear layers: cuBLAS + epilogue kernel (cuBLASLt: %s)", lt.status_string(s));
        lt_close(g);
        return -1;
    }
    cudaError_t e = cudaMalloc(&st->ws, LT_WORKSPACE);
    if (e != cudaSuccess) {
        st->ws = NULL;
        lt_note(g, "linear layers: cuBLAS + epilogue kernel (no memory for cuBLASLt's workspace: %s)",
                cudaGetErrorString(e));
        lt_close(g);
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
    .host_alloc = c_host_alloc,
    .host_free = c_host_free,
    .copy_async = c_copy_async,
    .activate = c_activate,
    .gemm = c_gemm,
    .to_bf16 = ovx_cuda_k_to_bf16,
    .pack_rows_bf16 = ovx_cuda_k_pack_rows_bf16,
    .norm = ovx_cuda_k_norm,
    .add_norm = ovx_cuda_k_add_norm,
    .bias_act = ovx_cuda_k_bias_act,
    .residual_add = ovx_cuda_k_residual_add,
    .rope_tables = ovx_cuda_k_rope_tables,
    .rope_qkv = ovx_cuda_k_rope_qkv,
    .softmax_rows = ovx_cuda_k_softmax_rows,
    .attention_out = ovx_cuda_k_attention_out,
    .flash_attention = ovx_cuda_k_flash_attention,
    .flash_attention_mma = ovx_cuda_k_flash_attention_mma,
    .linear = c_linear,
    .copy_on = c_copy_on,
    .event_record = c_event_record,
    .stream_wait = c_stream_wait,
    .event_sync = c_event_sync,
    .event_elapsed = c_event_elapsed,
    .graph_begin = c_graph_begin,
    .graph_end = c_graph_end,
    .graph_launch = c_graph_launch,
    .graph_free = c_graph_free,
};
static ovx_gpu_ops cuda_ops_no_lt; /* cuda_ops without `linear` (no cuBLASLt) */
static pthread_once_t no_lt_once = PTHREAD_ONCE_INIT;

static void no_lt_init(void)
{
    cuda_ops_no_lt = cuda_ops;
    cuda_ops_no_lt.linear = NULL;
}

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
    /* the copy streams and the events of overlapped batches (with timing:
     * two of them per slot bracket its forward for `ovx bench`) */
    for (int i = 0; i < 2 && e == cudaSuccess; i++) {
        cudaStream_t cs = NULL;
        e = cudaStreamCreateWithFlags(&cs, cudaStreamNonBlocking);
        g->copy_streams[i] = cs;
    }
    for (int i = 0; i < OVX_GPU_EVENTS && e == cudaSuccess; i++) {
        cudaEvent_t ev = NULL;
        e = cudaEventCreateWithFlags(&ev, cudaEventDefault);
        g->events[i] = ev;
    }
    if (e != cudaSuccess)
        return cuda_fail(g, "creating the copy streams and events", e);
    cublasHandle_t h = NULL;
    cublasStatus_t s = cb.create(&h);
    if (s == CUBLAS_STATUS_SUCCESS) {
        g->cublas = h;
        s = cb.set_stream(h, stream);
    }
    if (s != CUBLAS_STATUS_SUCCESS)
        return cublas_fail(g, "cuBLAS init", s);
    if (lt_open(g)) {
        if (pthread_once(&no_lt_once, no_lt_init) != 0)
            return snprintf(g->msg, sizeof g->msg, "cannot initialise the op table"), -1;
        g->ops = &cuda_ops_no_lt;
        return 0;
    }
    /* cuBLAS gets the fixed workspace too (shared with cuBLASLt: both run
     * on the compute stream, one after the other), so that no GEMM
     * allocates one inside a CUDA graph capture */
    s = cb.set_workspace(h, ((lt_state *)g->blaslt)->ws, LT_WORKSPACE);
    if (s != CUBLAS_STATUS_SUCCESS)
        return cublas_fail(g, "cublasSetWorkspace", s);
    return 0;
}

void ovx_gpu_close_cuda(ovx_gpu *g)
{
    lt_close(g);
    if (g->cublas)
        (void)cb.destroy((cublasHandle_t)g->cublas);
    for (int i = 0; i < OVX_GPU_EVENTS; i++)
        if (g->events[i])
            (void)cudaEventDestroy((cudaEvent_t)g->events[i]);
    for (int i = 0; i < 2; i++)
        if (g->copy_streams[i])
            (void)cudaStreamDestroy((cudaStream_t)g->copy_streams[i]);
    if (g->stream)
        (void)cudaStreamDestroy((cudaStream_t)g->stream);
}
