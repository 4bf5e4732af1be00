/* attn_tiles.c: the fused attention kernels' shared driver (see attn_tiles.h). */
#include "model/attn_tiles.h"

#include <stdint.h>
#include <stdlib.h>

int ovx_attn_tiles_run(ovx_attn_tiles *t, int Nq, int tq, int H, int threads, size_t per_thread, ovx_par_fn fn,
                       void *ctx)
{
    t->tiles = (Nq + tq - 1) / tq;
    int64_t items = (int64_t)t->tiles * H;
    if (threads > items)
        threads = (int)items;
    if (threads < 1)
        threads = 1;
    t->per_thread = per_thread;
    t->scratch = aligned_alloc(64, (size_t)threads * per_thread);
    t->head = malloc((size_t)threads * sizeof *t->head);
    int rc = 0;
    if (!t->scratch || !t->head) {
        rc = -1;
    } else {
        for (int i = 0; i < threads; i++)
            t->head[i] = -1;
        ovx_parallel_for(threads, items, fn, ctx);
    }
    free(t->scratch);
    free(t->head);
    t->scratch = NULL;
    t->head = NULL;
    return rc;
}
