/* parallel.c: parallel-for on a persistent pool of pthreads with dynamic
 * scheduling: threads claim blocks of items from a shared atomic counter,
 * so a thread that is descheduled (busy machine) or slower does not hold
 * the others up. Which thread runs an item never changes the item's result
 * (see parallel.h).
 *
 * The workers are started on first use and then sleep between calls, so
 * each call costs a wake-up, not a thread creation: a new thread starts on
 * its creator's core and the scheduler moves it away only later, which
 * made the second thread of every matmul ~10% slower than the first when
 * threads were created per call. One caller at a time uses the pool; a
 * concurrent or nested call starts its own threads as before. */
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

static void run_items(shared *s, int thread)
{
    for (;;) {
        int64_t b = atomic_fetch_add(&s->next, s->grain);
        if (b >= s->n)
            break;
        int64_t e = b + s->grain < s->n ? b + s->grain : s->n;
        s->fn(s->ctx, b, e, thread);
    }
}

/* ---- threads started per call (fallback) ---- */

typedef struct job {
    shared *s;
    int thread;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    run_items(j->s, j->thread);
    return NULL;
}

static void spawn_run(shared *s, int threads)
{
    job jobs[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int t = 0; t < threads; t++)
        jobs[t] = (job){s, t};
    for (int t = 1; t < threads; t++)
        started[t] = pthread_create(&tid[t], NULL, run_job, &jobs[t]) == 0;
    run_items(s, 0);
    for (int t = 1; t < threads; t++)
        if (started[t])
            pthread_join(tid[t], NULL);
    /* A thread that failed to start claimed nothing: thread 0 ran the rest. */
}

/* ---- the persistent pool ---- */

static pthread_mutex_t pool_user = PTHREAD_MUTEX_INITIALIZER; /* held by the caller using the pool */
static pthread_mutex_t pool_m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_wake = PTHREAD_COND_INITIALIZER, pool_done = PTHREAD_COND_INITIALIZER;
static int pool_workers;     /* started workers: thread indices 1..pool_workers */
static unsigned long pool_gen; /* bumped per call */
static shared *pool_job;
static int pool_want;        /* workers 1..pool_want take part in this call */
static int pool_busy;        /* of those, still running */

static void *worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    unsigned long seen = 0;
    pthread_mutex_lock(&pool_m);
    for (;;) {
        while (pool_gen == seen)
            pthread_cond_wait(&pool_wake, &pool_m);
        seen = pool_gen;
        if (me > pool_want)
            continue;
        shared *s = pool_job;
        pthread_mutex_unlock(&pool_m);
        run_items(s, me);
        pthread_mutex_lock(&pool_m);
        if (--pool_busy == 0)
            pthread_cond_signal(&pool_done);
    }
    return NULL;
}

/* Starts workers up to `want` (thread indices 1..want); returns how many
 * exist. Call with pool_user held. */
static int pool_grow(int want)
{
    while (pool_workers < want) {
        pthread_t t;
        pthread_attr_t a;
        int ok = pthread_attr_init(&a) == 0;
        if (ok)
            pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        ok = ok && pthread_create(&t, &a, worker, (void *)(intptr_t)(pool_workers + 1)) == 0;
        pthread_attr_destroy(&a);
        if (!ok)
            break;
        pool_workers++;
    }
    return pool_workers;
}

static void pool_run(shared *s, int threads)
{
    int w = pool_grow(threads - 1);
    if (w > threads - 1)
        w = threads - 1;
    pthread_mutex_lock(&pool_m);
    pool_job = s;
    pool_want = w;
    pool_busy = w;
    pool_gen++;
    pthread_cond_broadcast(&pool_wake);
    pthread_mutex_unlock(&pool_m);
    run_items(s, 0); /* workers that never started leave their share to thread 0 */
    pthread_mutex_lock(&pool_m);
    while (pool_busy > 0)
        pthread_cond_wait(&pool_done, &pool_m);
    pthread_mutex_unlock(&pool_m);
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
    if (pthread_mutex_trylock(&pool_user) == 0) {
        pool_run(&s, threads);
        pthread_mutex_unlock(&pool_user);
    } else {
        spawn_run(&s, threads);
    }
}
