/* pool.c: pthread worker pool with a bounded FIFO of jobs. */
#include "select/pool.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct job {
    ovx_pool_fn fn;
    void *arg;
} job;

struct ovx_pool {
    pthread_t *th;
    int nth;
    job *q;
    int cap, head, count, running;
    int stop;
    pthread_mutex_t mu;
    pthread_cond_t has_job, has_room, idle;
};

static void *worker(void *arg)
{
    ovx_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->count && !p->stop)
            pthread_cond_wait(&p->has_job, &p->mu);
        if (!p->count && p->stop)
            break;
        job j = p->q[p->head];
        p->head = (p->head + 1) % p->cap;
        p->count--;
        p->running++;
        pthread_mutex_unlock(&p->mu);
        j.fn(j.arg);
        pthread_mutex_lock(&p->mu);
        p->running--;
        pthread_cond_broadcast(&p->has_room);
        if (!p->count && !p->running)
            pthread_cond_broadcast(&p->idle);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

ovx_pool *ovx_pool_create(int threads, int max_pending)
{
    ovx_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (threads <= 1)
        return p;
    p->cap = max_pending > 0 ? max_pending : threads * 2;
    p->q = calloc((size_t)p->cap, sizeof *p->q);
    p->th = calloc((size_t)threads, sizeof *p->th);
    if (!p->q || !p->th) {
        free(p->q);
        free(p->th);
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->has_job, NULL);
    pthread_cond_init(&p->has_room, NULL);
    pthread_cond_init(&p->idle, NULL);
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&p->th[i], NULL, worker, p) != 0)
            break;
        p->nth++;
    }
    return p;
}

int ovx_pool_submit(ovx_pool *p, ovx_pool_fn fn, void *arg)
{
    if (p->nth == 0) {
        fn(arg);
        return 0;
    }
    pthread_mutex_lock(&p->mu);
    while (p->count + p->running >= p->cap)
        pthread_cond_wait(&p->has_room, &p->mu);
    p->q[(p->head + p->count) % p->cap] = (job){fn, arg};
    p->count++;
    pthread_cond_signal(&p->has_job);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

void ovx_pool_wait(ovx_pool *p)
{
    if (p->nth == 0)
        return;
    pthread_mutex_lock(&p->mu);
    while (p->count || p->running)
        pthread_cond_wait(&p->idle, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void ovx_pool_destroy(ovx_pool *p)
{
    if (!p)
        return;
    if (p->nth) {
        pthread_mutex_lock(&p->mu);
        p->stop = 1;
        pthread_cond_broadcast(&p->has_job);
        pthread_mutex_unlock(&p->mu);
        for (int i = 0; i < p->nth; i++)
            pthread_join(p->th[i], NULL);
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->has_job);
        pthread_cond_destroy(&p->has_room);
        pthread_cond_destroy(&p->idle);
    }
    free(p->q);
    free(p->th);
    free(p);
}
