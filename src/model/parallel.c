/* parallel.c: parallel-for on pthreads with dynamic scheduling: threads
 * claim blocks of items from a shared atomic counter, so a thread that is
 * descheduled (busy machine) or slower does not hold the others up. Which
 * thread runs an item never changes the item's result (see parallel.h). */
#include "model/parallel.h"

#include <pthread.h>
#include <stdatomic.h>

#define MAX_THREADS 256

typedef struct shared {
    ovx_par_fn fn;
    void *ctx;
    int64_t n, grain;
    atomic_llong next;
} shared;

typedef struct job {
    shared *s;
    int thread;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    shared *s = j->s;
    for (;;) {
        int64_t b = atomic_fetch_add(&s->next, s->grain);
        if (b >= s->n)
            break;
        int64_t e = b + s->grain < s->n ? b + s->grain : s->n;
        s->fn(s->ctx, b, e, j->thread);
    }
    return NULL;
}

void ovx_parallel_for(int threads, int64_t n, ovx_par_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    if (threads > n)
        threads = (int)n;
    if (threads <= 1) {
        fn(ctx, 0, n, 0);
        return;
    }
    shared s = {fn, ctx, n, n / ((int64_t)threads * 8), 0};
    if (s.grain < 1)
        s.grain = 1;
    job jobs[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int t = 0; t < threads; t++)
        jobs[t] = (job){&s, t};
    for (int t = 1; t < threads; t++)
        started[t] = pthread_create(&tid[t], NULL, run_job, &jobs[t]) == 0;
    run_job(&jobs[0]);
    for (int t = 1; t < threads; t++)
        if (started[t])
            pthread_join(tid[t], NULL);
    /* A thread that failed to start claimed nothing: job 0 ran all the rest. */
}
