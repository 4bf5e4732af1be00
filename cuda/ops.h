/* ops.h: the CUDA forward's ops, one function per CPU op of src/model/ops.h
 * (same names with the ovx_cuda_ prefix; see README.md). Each runs on the
 * ovx_gpu of the model (real device or host emulation) and returns 0 or a
 * negative ovx_status with err set. Row-major shapes in the comments;
 * "bf16" marks where a value is rounded to bf16 (always a GEMM input). */
#ifndef OVX_CUDA_OPS_H
#define OVX_CUDA_OPS_H

#include "cuda/ovx_cuda.h"

typedef struct ovx_cuda_linear_w {
    ovx_bf16 *w;  /* [out, in] bf16 (in padded for the patch embedding) */
    float *b;     /* [out] float32 or NULL */
    ovx_bf16 *b16; /* the bias rounded to bf16 (NULL without a bias): what a bf16-output
                    * cuBLASLt epilogue takes (its bias type follows the output's); exact
                    * for checkpoints, whose biases are bf16 */
    const char *kind; /* the layer type ("mlp.fc1", ...: a string literal), for the GEMM
                       * path report */
    int out, in;
} ovx_cuda_linear_w;

typedef struct ovx_cuda_norm_w {
    float *w, *b; /* [D] float32; b NULL for RMSNorm */
} ovx_cuda_norm_w;

typedef struct ovx_cuda_layer_w {
    ovx_cuda_norm_w layer_norm1, layer_norm2;
    ovx_cuda_linear_w qk;   /* q_proj, k_proj stacked: [2D, D], bias [2D]; float32 out for RoPE */
    ovx_cuda_linear_w v;    /* v_proj: bf16 out straight from its epilogue */
    ovx_cuda_linear_w out_proj, fc1, fc2;
} ovx_cuda_layer_w;

/* Working buffers of a forward (device memory). The shared ones (t, fqkv,
 * cos, sin, s, patch16, xn, q, k, v, o, h, p, hq) are sized for bufs_rows
 * tokens, bufs_samples samples and bufs_scratch attention scores; the
 * inputs and outputs (patches, pos, tiles, x, hid, a) belong to a slot
 * (below): a forward sees them through a copy of this struct. */
typedef struct ovx_cuda_bufs {
    float *patches, *x, *t, *fqkv, *a, *cos, *sin, *s;
    int32_t *pos, *tiles; /* tiles: fused attention tile lists (self, then pooling) */
    ovx_bf16 *patch16, *xn, *q, *k, *v, *o, *h, *p, *hq;
    float *hid;           /* the requested hidden state, copied on the device */
} ovx_cuda_bufs;

/* Overlapped batches (submit.c): a batch occupies a slot from its submit to
 * its collect: its page-locked staging buffer (inputs, then outputs) and its
 * device inputs and outputs, so the next batch's upload and this one's
 * download can run while another batch's forward uses the shared buffers. */
#define OVX_CUDA_SLOTS 2
typedef struct ovx_cuda_slot {
    int busy;                  /* submitted, not collected */
    void *stage;               /* page-locked */
    size_t stage_bytes;
    float *patches, *x, *hid, *a;
    int32_t *pos, *tiles;
    size_t cap_rows, cap_samples; /* what patches..a are sized for */
    int cap_hid;
    int rows, samples, hidden; /* the batch in flight (hidden -1: none) */
    double fwd_host_ms;        /* host time of queueing its forward (the
                                * emulations' ops run then: their GPU time) */
} ovx_cuda_slot;

/* One forward on the compute stream (forward.c), what a CUDA graph
 * captures: the buffers it runs on, the packed shape, the attention tile
 * counts (nself 0: the chunked path, per sample), the hidden state to keep
 * (-1: none). */
typedef struct ovx_cuda_fwd {
    ovx_cuda_bufs b;
    int rows, samples;
    const int *lengths;
    int nself, npool;
    int hidden;
} ovx_cuda_fwd;

/* A CUDA graph cache entry (graph.c): the forward of one (slot, lengths,
 * hidden state, attention) shape. Seen once: run directly (the warm-up: a
 * capture must not be the first use of a cuBLAS plan or a kernel);
 * second use: captured, then replayed. */
typedef struct ovx_cuda_graph {
    int used, captured;
    int refused;               /* the device refused its capture: runs directly from then on */
    int slot, samples, hidden, attention;
    int *lengths;
    void *exec;                /* the device's executable graph (NULL: replayed by graph.c) */
    ovx_cuda_fwd args;         /* what was captured (for the replay without device graphs) */
    unsigned long long stamp;  /* last use, for the least recently used eviction */
} ovx_cuda_graph;
#define OVX_CUDA_GRAPHS_MAX 64

struct ovx_cuda_model {
    ovx_gpu *g;
    ovx_model_config cfg;
    int patch_k, patch_kpad;        /* C*P*P and its multiple of 8 */
    ovx_cuda_linear_w patch_embedding;   /* no bias */
    ovx_cuda_norm_w layernorm_pre, layernorm_post;
    ovx_cuda_layer_w *layers;
    /* head */
    ovx_bf16 *head_probe;           /* [1, D] bf16 */
    ovx_cuda_linear_w head_q, head_kv, head_out_proj, head_fc1, head_fc2; /* head_kv: [2D, D] */
    ovx_cuda_norm_w head_norm;
    double *rope_inv;               /* [32] inverse frequencies of the 3D RoPE */
    size_t scratch_bytes;
    ovx_cuda_bufs bufs;             /* shared buffers, kept between forwards, grown on demand */
    size_t bufs_rows, bufs_samples, bufs_scratch;
    ovx_cuda_slot slots[OVX_CUDA_SLOTS];
    ovx_cuda_graph graphs[OVX_CUDA_GRAPHS_MAX];
    int graphs_max;                 /* cache size (OVX_CUDA_GRAPHS), 0: off */
    unsigned long long graph_clock;
    ovx_cuda_graph_stats graph_stats;
    struct {
        const char *kind;
        long lt, fallback;          /* linear calls through cuBLASLt / GEMM + epilogue kernel */
    } gemm_paths[16];
    int n_gemm_paths;
    char graph_note[1200];          /* a refused capture, said once (ovx_cuda_model_take_note) */
    int graph_noted;
    int profiling;
    int attention;                  /* enum ovx_cuda_attention_mode */
    double timings[OVX_CUDA_OP_COUNT];
    double last_gpu_ms;             /* the last collected forward's GPU time */
    int last_gpu_events;            /* 1: from events, 0: host clock (emulations) */
};

/* x [M, K] float32 patches -> y [M, D] float32 = bf16(x) W^T (no bias);
 * scratch [M, Kpad] bf16 */
int ovx_cuda_patch_embed(ovx_cuda_model *m, const float *d_x, int rows, ovx_bf16 *d_scratch,
                         float *d_y, ovx_error *err);
/* y = LN(x) * w + b over rows [M, D]; float32 and/or bf16 outputs */
int ovx_cuda_layernorm(ovx_cuda_model *m, const ovx_cuda_norm_w *n, const float *d_x, int rows,
                       float *d_y32, ovx_bf16 *d_y16, ovx_error *err);
/* y [M, D] bf16 = x / rms(x) * w */
int ovx_cuda_rmsnorm(ovx_cuda_model *m, const ovx_cuda_norm_w *n, const float *d_x, int rows,
                     ovx_bf16 *d_y16, ovx_error *err);
/* y [M, out] = epilogue(x [M, in] bf16 W^T, b, epi) (numerics.h OVX_EPI_*:
 * none, + bias, tanh GELU of it; float32 accumulation and epilogue) to
 * y32 (float32) or, y32 NULL, y16 (bf16); BIAS_RESIDUAL: y32 += x W^T + b
 * (the residual add). In one cuBLASLt call when the device has it, else a
 * GEMM to float32 (y32, or the workspace ws [M, out] float32 for a bf16
 * output or a residual) and the epilogue pass. */
int ovx_cuda_linear(ovx_cuda_model *m, const ovx_cuda_linear_w *l, int epi, const ovx_bf16 *d_x,
                    int rows, float *d_y32, ovx_bf16 *d_y16, float *d_ws, ovx_error *err);
/* cos/sin [M, 64] for positions pos [M, 3] */
int ovx_cuda_rope3d_tables(ovx_cuda_model *m, const int32_t *d_pos, int rows, float *d_cos,
                           float *d_sin, ovx_error *err);
/* qkv [M, 3 H*64] float32 (the fused QKV projection) -> q, k = bf16(rope(.))
 * per head, v = bf16(.), each [M, H*64]; v NULL: qkv is [M, 2 H*64] (q, k) */
int ovx_cuda_rope3d_apply(ovx_cuda_model *m, const float *d_qkv, const float *d_cos,
                          const float *d_sin, ovx_bf16 *d_q, ovx_bf16 *d_k, ovx_bf16 *d_v, int rows,
                          ovx_error *err);
/* y [n] bf16 = x [n] float32 */
int ovx_cuda_to_bf16(ovx_cuda_model *m, const float *d_x, ovx_bf16 *d_y, size_t n,
                     ovx_error *err);

/* Multi-head attention of one sample, heads of 64, scale 1/8:
 * q [nq, q_ld] (head h at columns h*64..), k, v [nk, kv_ld] bf16 ->
 * o [nq, o_ld] bf16. Queries in chunks of qc rows: scores [H, qc, nk]
 * float32 (GEMM), unnormalised softmax rows -> bf16 exp(s - max) and
 * 1/rowsum, value GEMM (float32), times 1/rowsum -> bf16 (the CPU's
 * numerics, and the fused kernel's for rows of <= 64 keys). Scratch: d_s
 * OVX_CUDA_ATTN_SCRATCH(H, qc, nk) float32 (scores, then the float32 P V
 * and the row sums), d_p [H * qc * nk] bf16. */
#define OVX_CUDA_ATTN_SCRATCH(heads, qc, nk)                                                       \
    ((size_t)(heads) * (size_t)(qc) * ((size_t)((nk) > 64 ? (nk) : 64) + 1))
int ovx_cuda_attention(ovx_cuda_model *m, const ovx_bf16 *d_q, int q_ld, int nq,
                       const ovx_bf16 *d_k, const ovx_bf16 *d_v, int kv_ld, int nk,
                       ovx_bf16 *d_o, int o_ld, int qc, float *d_s, ovx_bf16 *d_p,
                       ovx_error *err);
/* Tiles of the fused attention (gpu.h, flash_attention and
 * flash_attention_mma) for `samples` packed samples: self-attention
 * (queries = keys = the sample's rows) into tiles[5 * i], returns the
 * count; at most OVX_CUDA_SELF_TILES(rows, samples). 64 queries a tile;
 * with `big` (the mma kernel) 128 for samples of OVX_CUDA_LONG_SAMPLE
 * tokens or more (fewer K/V loads per query; shorter samples keep 64-row
 * tiles for more blocks). */
#define OVX_CUDA_TILE_ROWS 64
#define OVX_CUDA_LONG_SAMPLE 512
#define OVX_CUDA_SELF_TILES(rows, samples) ((rows) / OVX_CUDA_TILE_ROWS + (samples))
int ovx_cuda_attention_tile_rows(int len, int big);
int ovx_cuda_attention_self_tiles(int samples, const int *lengths, int big, int32_t *tiles);
/* Fused multi-head attention over d_tiles (device), heads of 64, scale 1/8:
 * q [*, q_ld], k, v [*, kv_ld], o [*, o_ld] bf16; the mma kernel in mode
 * fused, the WMMA kernel in mode wmma (tiles built with `big` accordingly). */
int ovx_cuda_attention_fused(ovx_cuda_model *m, const ovx_bf16 *d_q, int q_ld,
                             const ovx_bf16 *d_k, const ovx_bf16 *d_v, int kv_ld, ovx_bf16 *d_o,
                             int o_ld, const int32_t *d_tiles, int ntiles, ovx_error *err);

/* The forward's ops on the compute stream, from the RoPE tables to the
 * pooling head (forward.c). */
int ovx_cuda_forward_ops(ovx_cuda_model *m, const ovx_cuda_fwd *f, ovx_error *err);
/* That forward through the graph cache of m (graph.c): directly, or
 * captured / replayed as a CUDA graph of its shape (slot included: the
 * slot's buffers are in the graph). */
int ovx_cuda_graph_run(ovx_cuda_model *m, int slot, const ovx_cuda_fwd *f, ovx_error *err);
/* OVX_CUDA_GRAPHS: the graph cache size (8 when unset, 0: off) */
int ovx_cuda_graphs_env(int *max, ovx_error *err);
/* Drops the cached graphs of a slot (-1: all) whose buffers move. */
void ovx_cuda_graphs_clear(ovx_cuda_model *m, int slot);
/* submit.c: frees the shared buffers and the slots' buffers */
void ovx_cuda_bufs_release(ovx_cuda_model *m);

/* query chunk size so that the chunked path's scratch (d_s and d_p above)
 * fits the scratch budget */
int ovx_cuda_attention_chunk(const ovx_cuda_model *m, int nq, int nk);

#endif
