/* attn_tiles.h: the driver the fused attention kernels (attn512.c,
 * attn_bf16.c) share: work items (head, tile of queries) over the thread
 * pool, each thread with its own scratch and the head last packed in it,
 * and each item's steps (pack the head, scores, softmax, P v) in one loop.
 * A kernel supplies its micro-kernel and its own pack, q and softmax steps,
 * on "words": 4 bytes holding one fp32 value or a pair of bf16 values. */
#ifndef OVX_MODEL_ATTN_TILES_H
#define OVX_MODEL_ATTN_TILES_H

#include <stddef.h>

#include "model/ops.h"

#ifndef OVX_ATTN_TQ
#define OVX_ATTN_TQ 48 /* queries per work item */
#endif
#define OVX_ATTN_R 6   /* query rows per micro-kernel call */
#define OVX_ATTN_KB 64 /* keys per packed K block (the score kernel's width) */
#define OVX_ATTN_DH OVX_HEAD_DIM
_Static_assert(OVX_ATTN_KB == 64 && OVX_ATTN_DH == 64, "the micro-kernels read w rows of 64 words");

typedef struct ovx_attn_job ovx_attn_job;

/* What a fused kernel gives the shared loop. */
typedef struct ovx_attn_kernel {
    int per_word; /* values per word: 1 (fp32) or 2 (bf16 pairs) */
    int vb;       /* keys per P v block, in words */
    /* The one micro-kernel of both products, for r <= OVX_ATTN_R rows x 64
     * columns: o[i][.] = ((in ? in[i][.] : 0) + sum_{t0 <= t < t1}
     * a[i][t] . w[t][.]) * mul[i], one chain per output in t order; a and w
     * in words (rows of a at stride sa, of w at 64), in fp32 at stride 64,
     * o at stride so. */
    void (*mk)(int r, const void *a, size_t sa, const void *w, int t0, int t1, const float *in, float *o,
               size_t so, const float *mul);
    /* Head h's K blocks into kt (nkb blocks of dw x 64 words) and V into vp
     * (nkw rows of 64 words). */
    void (*pack)(const ovx_attn_job *j, int h, void *kt, void *vp);
    /* Head h's tq query rows from q0 as mk's a operand (rows of dw words):
     * returns it and its row stride in words in *sa; own: the thread's own
     * scratch (extra bytes). */
    const void *(*q_rows)(const ovx_attn_job *j, int h, int q0, int tq, void *own, size_t *sa);
    /* Softmax of the tq rows of S (stride lds, Nk keys): inv_sum[i] = the
     * factor of row i; returns the P operand of the P v product and its row
     * stride in words in *sp. */
    const void *(*softmax)(const ovx_attn_job *j, float *S, int tq, void *own, float *inv_sum, size_t *sp);
    /* The kernel's own scratch bytes per thread for a row stride lds (a
     * multiple of 64), or NULL for none. */
    size_t (*own_bytes)(int lds);
} ovx_attn_kernel;

typedef struct ovx_attn_tiles {
    int tiles;         /* query tiles per head: item it is head it / tiles, tile it % tiles */
    char *scratch;     /* per thread: per_thread bytes, 64-byte aligned */
    size_t per_thread;
    int *head;         /* per thread: the head packed in its scratch, or -1 */
} ovx_attn_tiles;

/* One call of a fused attention. */
struct ovx_attn_job {
    float *out;
    const float *q, *k, *v;
    int Nq, Nk, H;
    float scale;
    int nkb; /* K blocks of 64 keys */
    int lds; /* S row stride: keys rounded up to 64 */
    int dw;  /* words of a head's row of q or k: 64 / per_word */
    int nkw; /* words along the keys of V and P: Nk / per_word rounded up */
    const ovx_attn_kernel *kern;
    ovx_attn_tiles t;
};

/* out[Nq, H*64] = softmax(q k^T * scale) v per head with the kernel's
 * arithmetic, q[Nq, H*64], k[Nk, H*64], v[Nk, H*64], on up to `threads`
 * threads; outputs do not depend on the thread count. Returns 0, or -1
 * when the scratch cannot be allocated. */
int ovx_attn_run(const ovx_attn_kernel *kern, float *out, const float *q, const float *k, const float *v, int Nq,
                 int Nk, int H, float scale, int threads);

#endif
