/* gpu.h: the device the CUDA forward runs on, seen through a small table of
 * operations (memory, one GEMM, the elementwise/row kernels). Two tables
 * exist: the real one (cuda_ops.c + kernels.cu: CUDA runtime, cuBLAS) and a
 * host emulation (emu_ops.c) that computes the same numbers on the CPU with
 * the same bf16 rounding points, so the CUDA forward's orchestration (GEMM
 * transposes, strides, attention chunking, layer order) runs and is tested on
 * machines without a GPU (`ovx selftest --device cpu`).
 *
 * Storage types on the device: activations of the residual stream and all
 * GEMM outputs that feed a reduction are float32; every GEMM input is bf16
 * (uint16_t bit patterns); biases and norm weights are float32. */
#ifndef OVX_CUDA_GPU_H
#define OVX_CUDA_GPU_H

#include <stddef.h>
#include <stdint.h>

typedef uint16_t ovx_bf16;

typedef struct ovx_gpu ovx_gpu;

enum { OVX_COPY_H2D, OVX_COPY_D2H, OVX_COPY_D2D };

/* Streams of a device: every kernel and GEMM runs on the compute stream
 * (g->stream); uploads and downloads of overlapped batches run on two copy
 * streams (one per direction: the copy engines work in both directions at
 * once). Events (OVX_GPU_EVENTS of them, created at open) order them and
 * time the forward on the compute stream. */
enum { OVX_STREAM_COMPUTE, OVX_STREAM_H2D, OVX_STREAM_D2H, OVX_STREAMS };
#define OVX_GPU_EVENTS 8

/* Every operation returns 0 on success, or -1 after writing a one-line
 * message to g->msg. Pointers named d_* are device pointers. */
typedef struct ovx_gpu_ops {
    const char *name;
    int (*alloc)(ovx_gpu *g, void **d_p, size_t bytes);
    void (*release)(ovx_gpu *g, void *d_p);
    int (*upload)(ovx_gpu *g, void *d_dst, const void *src, size_t bytes);
    int (*download)(ovx_gpu *g, void *dst, const void *d_src, size_t bytes);
    int (*sync)(ovx_gpu *g);
    /* page-locked host memory (cudaMallocHost; malloc in the emulation),
     * for copies that do not wait: the forward's staging buffers */
    int (*host_alloc)(ovx_gpu *g, void **p, size_t bytes);
    void (*host_free)(ovx_gpu *g, void *p);
    /* queued on the stream, returns at once (sync waits): dir
     * OVX_COPY_H2D (src page-locked), OVX_COPY_D2H (dst page-locked),
     * OVX_COPY_D2D; the emulation copies at once */
    int (*copy_async)(ovx_gpu *g, void *dst, const void *src, size_t bytes, int dir);
    /* makes g's device current for the calling thread (CUDA's current
     * device is per thread; forwards may run on another thread than open) */
    int (*activate)(ovx_gpu *g);
    /* Column-major strided-batched GEMM, cuBLAS conventions:
     * C_b = alpha * op(A_b) op(B_b) + beta * C_b for b < batch,
     * op(A) is m x k, op(B) is k x n, C is m x n. A, B bf16; C float32
     * (c_bf16 = 0) or bf16 (c_bf16 = 1); accumulation in float32. */
    int (*gemm)(ovx_gpu *g, int trans_a, int trans_b, int m, int n, int k, float alpha,
                const ovx_bf16 *d_a, int lda, long long stride_a,
                const ovx_bf16 *d_b, int ldb, long long stride_b, float beta,
                void *d_c, int c_bf16, int ldc, long long stride_c, int batch);
    /* y[i] = bf16(x[i]), i < n */
    int (*to_bf16)(ovx_gpu *g, const float *d_x, ovx_bf16 *d_y, size_t n);
    /* y[r, c] = bf16(x[r, c]) for c < k, 0 for k <= c < kpad; r < rows */
    int (*pack_rows_bf16)(ovx_gpu *g, const float *d_x, ovx_bf16 *d_y, int rows, int k, int kpad);
    /* LayerNorm over rows of x [rows, cols] (float32 stats); writes y_f32
     * and/or y_bf16 (either may be NULL). b NULL: RMSNorm (no mean, no bias). */
    int (*norm)(ovx_gpu *g, const float *d_x, const float *d_w, const float *d_b, float eps,
                int rows, int cols, float *d_y_f32, ovx_bf16 *d_y_bf16);
    /* the residual add fused with the next norm, one pass over x: x[r, :]
     * += res[r, :] (float32, written back), then y = norm(x) as `norm`
     * (LayerNorm, or RMSNorm when b is NULL) to y_bf16 */
    int (*add_norm)(ovx_gpu *g, float *d_x, const float *d_res, const float *d_w, const float *d_b,
                    float eps, int rows, int cols, ovx_bf16 *d_y_bf16);
    /* a GEMM epilogue as its own pass (numerics.h, OVX_EPI_*):
     * y[r, c] = epilogue(h[r, c], b, c, epi) over h [rows, cols] float32,
     * to y32 (float32, may be h) or, when y32 is NULL, y16 (bf16) */
    int (*bias_act)(ovx_gpu *g, const float *d_h, const float *d_b, int epi, int rows, int cols,
                    float *d_y32, ovx_bf16 *d_y16);
    /* Optional (NULL: gemm + bias_act): the linear layer in one call with
     * the epilogue fused (cuBLASLt): y [rows, out] = epilogue(x [rows, in]
     * w[out, in]^T, b, epi) to y32 (float32) or, when y32 is NULL, y16
     * (bf16); x, w bf16, float32 accumulation; the bias b (float32) for a
     * float32 output, b16 (the same bias rounded to bf16) for a bf16 one
     * (cuBLASLt's bias type follows the output type). Device pointers are
     * allocation starts (256-byte aligned). Returns 0, -1 on an error, or 1
     * when it has no algorithm for this shape (the caller falls back to
     * gemm + bias_act and g->note says so). */
    int (*linear)(ovx_gpu *g, const ovx_bf16 *d_w, const float *d_b, const ovx_bf16 *d_b16,
                  int out, int in, const ovx_bf16 *d_x, int rows, int epi, float *d_y32,
                  ovx_bf16 *d_y16);
    /* x[i] += y[i], i < n */
    int (*residual_add)(ovx_gpu *g, float *d_x, const float *d_y, size_t n);
    /* cos/sin [n, 64] of the 3D RoPE angles of n tokens at pos [n, 3]:
     * F = [t*inv[0..7], h*inv[8..19], w*inv[20..31]], angle = concat(F, F) */
    int (*rope_tables)(ovx_gpu *g, const int32_t *d_pos, const double *d_inv, int n,
                       float *d_cos, float *d_sin);
    /* the fused QKV projection's output split for attention: qkv [n,
     * 3 * heads * 64] float32 (q, k, v side by side) -> q, k = bf16(rope(.))
     * per head of 64, v = bf16(.), each [n, heads * 64]; d_v NULL: qkv is
     * [n, 2 * heads * 64] (q, k side by side; v comes from its own GEMM) */
    int (*rope_qkv)(ovx_gpu *g, const float *d_qkv, const float *d_cos, const float *d_sin,
                    ovx_bf16 *d_q, ovx_bf16 *d_k, ovx_bf16 *d_v, int n, int heads);
    /* unnormalised softmax rows in base 2, float32 math (numerics.h):
     * x = s log2(e), M_r = ceil(max_c x[r, c]), p[r, c] = bf16(2^(x[r, c] -
     * M_r)), inv[r] = 1 / sum_c p[r, c] (the rounded p); the fused kernel's
     * numerics whatever its key tiling */
    int (*softmax_rows)(ovx_gpu *g, const float *d_s, ovx_bf16 *d_p, float *d_inv, int rows,
                        int cols);
    /* the softmax's 1/rowsum applied after P V, per head of 64:
     * o[r, h*64 + c] = bf16(f[r, h*64 + c] * inv[h * rows + r]) for r < rows,
     * h < heads, c < 64; f [rows, f_ld] float32, o [rows, o_ld] bf16 */
    int (*attention_out)(ovx_gpu *g, const float *d_f, int f_ld, const float *d_inv,
                         ovx_bf16 *d_o, int o_ld, int rows, int heads);
    /* Fused multi-head attention, heads of 64 (attention.cu), scale applied
     * to the fp32 scores. d_tiles [ntiles, 5] int32 on the device: first
     * query row, query rows (1..64), first key row, keys (>= 1), first
     * output row; for every head h < heads: o[out rows, h*64..] = softmax(
     * scale q k^T) v over the tile's keys. Row strides multiples of 8, base
     * pointers 16-byte aligned. NULL in tables without a fused kernel (the
     * loop emulation): the forward then uses the chunked path. */
    int (*flash_attention)(ovx_gpu *g, const ovx_bf16 *d_q, int q_ld, const ovx_bf16 *d_k,
                           const ovx_bf16 *d_v, int kv_ld, ovx_bf16 *d_o, int o_ld,
                           const int32_t *d_tiles, int ntiles, int heads, float scale);
    /* The same contract with tiles of 1..128 query rows: the mma.sync
     * kernel of attention_mma.cu (FlashAttention-2 structure, the `fused`
     * default; flash_attention above is the WMMA kernel, `wmma`). Output
     * pointer 4-byte aligned. NULL where absent. */
    int (*flash_attention_mma)(ovx_gpu *g, const ovx_bf16 *d_q, int q_ld, const ovx_bf16 *d_k,
                               const ovx_bf16 *d_v, int kv_ld, ovx_bf16 *d_o, int o_ld,
                               const int32_t *d_tiles, int ntiles, int heads, float scale);
    /* Overlapped batches (optional: NULL in the emulations, whose ops have
     * finished when they return; the callers then run them in order).
     * copy_on: as copy_async on stream OVX_STREAM_* (host side
     * page-locked); event_record: event ev marks what `stream` has queued
     * so far; stream_wait: work queued on `stream` after this waits for ev;
     * event_sync: the host waits for ev (a fault of any earlier op is
     * reported here). */
    int (*copy_on)(ovx_gpu *g, int stream, void *dst, const void *src, size_t bytes, int dir);
    int (*event_record)(ovx_gpu *g, int ev, int stream);
    int (*stream_wait)(ovx_gpu *g, int stream, int ev);
    int (*event_sync)(ovx_gpu *g, int ev);
    /* GPU time in ms from event ev0 to ev1, both recorded and completed
     * (cudaEventElapsedTime; optional, NULL in the emulations) */
    int (*event_elapsed)(ovx_gpu *g, int ev0, int ev1, float *ms);
    /* CUDA graphs of the compute stream (optional, NULL: cuda/graph.c
     * replays the captured op sequence itself): graph_begin starts a
     * capture (ops are recorded, not run), graph_end ends it and
     * instantiates it into *exec (NULL and -1 when an op of the capture
     * failed), graph_launch queues one replay, graph_free frees it. */
    int (*graph_begin)(ovx_gpu *g);
    int (*graph_end)(ovx_gpu *g, void **exec);
    int (*graph_launch)(ovx_gpu *g, void *exec);
    void (*graph_free)(ovx_gpu *g, void *exec);
} ovx_gpu_ops;

struct ovx_gpu {
    const ovx_gpu_ops *ops;
    int device;          /* CUDA ordinal, -1 for the host emulation */
    void *stream;        /* cudaStream_t: OVX_STREAM_COMPUTE */
    void *copy_streams[2]; /* OVX_STREAM_H2D, OVX_STREAM_D2H (real device) */
    void *events[OVX_GPU_EVENTS]; /* cudaEvent_t (real device) */
    void *cublas;        /* cublasHandle_t */
    void *blaslt;        /* cuBLASLt state of cuda_ops.c, NULL without cuBLASLt */
    char note[240];      /* set once when the linear layers fall back from
                          * cuBLASLt to cuBLAS (why), "" otherwise */
    char msg[512];       /* last error, one line */
    /* what was opened (name, compute capability, memory) and the optional
     * op-table hooks (OVX_CUDA_SYNC, test hooks): gpu.c, gpu_hooks.c */
    struct ovx_gpu_ext *ext;
};

extern const ovx_gpu_ops ovx_gpu_emu_ops;

#endif
