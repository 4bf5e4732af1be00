/* parallel.h: a minimal parallel-for on pthreads. Work [0, n) is handed out
 * in blocks to whichever thread is free; callers make every item's result
 * independent of which thread computes it and of the block boundaries, so
 * outputs do not depend on the thread count. */
#ifndef OVX_MODEL_PARALLEL_H
#define OVX_MODEL_PARALLEL_H

#include <stdint.h>

typedef void (*ovx_par_fn)(void *ctx, int64_t begin, int64_t end, int thread);

/* Runs fn over [0, n) on up to `threads` threads (the caller's thread is one
 * of them, thread index 0; indices are < threads, each used by one thread at
 * a time, so they can pick per-thread scratch). Falls back to fewer threads
 * if a thread cannot start. */
void ovx_parallel_for(int threads, int64_t n, ovx_par_fn fn, void *ctx);

#endif
