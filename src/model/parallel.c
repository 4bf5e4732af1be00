/* parallel.c: static-chunk parallel-for on pthreads (see parallel.h). */
#include "model/parallel.h"

#include <pthread.h>

#define MAX_THREADS 256

typedef struct job {
    ovx_par_fn fn;
    void *ctx;
    int64_t begin, end;
    int thread;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    if (j->begin < j->end)
        j->fn(j->ctx, j->begin, j->end, j->thread);
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
    job jobs[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int t = 0; t < threads; t++) {
        jobs[t] = (job){fn, ctx, n * t / threads, n * (t + 1) / threads, t};
    }
    for (int t = 1; t < threads; t++)
        started[t] = pthread_create(&tid[t], NULL, run_job, &jobs[t]) == 0;
    run_job(&jobs[0]);
    for (int t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            run_job(&jobs[t]);
    }
}
