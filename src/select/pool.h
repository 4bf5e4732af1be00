/* pool.h: a tiny fixed-size worker pool running independent jobs. Results
 * never depend on which worker ran a job (each job writes only its own
 * output), so output is deterministic whatever the thread count. */
#ifndef OVX_SELECT_POOL_H
#define OVX_SELECT_POOL_H

typedef struct ovx_pool ovx_pool;
typedef void (*ovx_pool_fn)(void *arg);

/* threads <= 1: jobs run inline in ovx_pool_submit. */
ovx_pool *ovx_pool_create(int threads, int max_pending);
/* Queues fn(arg); blocks while max_pending jobs are queued or running. */
int ovx_pool_submit(ovx_pool *p, ovx_pool_fn fn, void *arg);
/* Waits until every submitted job has finished. */
void ovx_pool_wait(ovx_pool *p);
void ovx_pool_destroy(ovx_pool *p);

#endif
