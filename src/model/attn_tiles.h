/* attn_tiles.h: the driver the fused attention kernels (attn512.c,
 * attn_bf16.c) share: work items (head, tile of queries) over the thread
 * pool, each thread with its own scratch and the head last packed in it. */
#ifndef OVX_MODEL_ATTN_TILES_H
#define OVX_MODEL_ATTN_TILES_H

#include <stddef.h>

#include "model/parallel.h"

typedef struct ovx_attn_tiles {
    int tiles;         /* query tiles per head: item it is head it / tiles, tile it % tiles */
    char *scratch;     /* per thread: per_thread bytes, 64-byte aligned */
    size_t per_thread;
    int *head;         /* per thread: the head packed in its scratch, or -1 */
} ovx_attn_tiles;

/* Fills *t for Nq queries in tiles of tq and H heads, allocates
 * per_thread bytes (a multiple of 64) for each thread, runs fn(ctx, ...)
 * over the tiles x H items on up to `threads` threads and frees. ctx is
 * the kernel's own context, which holds t. Returns -1 when out of memory
 * (fn not run), else 0. */
int ovx_attn_tiles_run(ovx_attn_tiles *t, int Nq, int tq, int H, int threads, size_t per_thread, ovx_par_fn fn,
                       void *ctx);

/* Thread `thread`'s scratch. */
static inline void *ovx_attn_tiles_scratch(const ovx_attn_tiles *t, int thread)
{
    return t->scratch + (size_t)thread * t->per_thread;
}

#endif
