/* pipeline.h: overlaps the preparation of upcoming items (decode + select +
 * patch cutting, on a pool of worker threads) with the consumption of the
 * current one (model + writing, on the calling thread). Items are consumed
 * in index order whatever order workers finish in, so logs and outputs do
 * not depend on thread timing. At most `depth` items are prepared or being
 * prepared ahead of the consumer (bounded memory over any number of items).
 * With threads == 0 everything runs on the calling thread. */
#ifndef OVX_EXTRACT_PIPELINE_H
#define OVX_EXTRACT_PIPELINE_H

#include <stddef.h>

typedef struct ovx_pipeline_ops {
    /* worker thread: returns the prepared item (never NULL unless OOM). */
    void *(*prepare)(void *ctx, size_t index);
    /* calling thread, in index order: consumes and frees the prepared item. */
    void (*consume)(void *ctx, size_t index, void *prepared);
    /* frees a prepared item that will not be consumed (stop requested). */
    void (*discard)(void *ctx, void *prepared);
    /* polled between items: nonzero stops the run (no new items started). */
    int (*should_stop)(void *ctx);
} ovx_pipeline_ops;

/* Runs items 0..n-1; returns how many were consumed. */
size_t ovx_pipeline_run(size_t n, int threads, int depth, const ovx_pipeline_ops *ops, void *ctx);

#endif
