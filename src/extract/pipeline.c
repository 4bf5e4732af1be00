/* pipeline.c: ordered, bounded producer pool + single consumer. */
#include "extract/pipeline.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct slot {
    size_t index;
    void *item;
    int ready;
} slot;

typedef struct pipe_state {
    const ovx_pipeline_ops *ops;
    void *ctx;
    size_t n;
    int depth;
    slot *slots;          /* ring of depth slots, slot i % depth */
    size_t next;          /* next index to hand to a worker */
    size_t consumed;      /* items consumed (the consumer waits for index consumed) */
    int stop;
    pthread_mutex_t mu;
    pthread_cond_t work_cv;   /* workers: a slot freed or stop */
    pthread_cond_t ready_cv;  /* consumer: an item became ready */
} pipe_state;

static void *worker(void *arg)
{
    pipe_state *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stop && s->next < s->n && s->next >= s->consumed + (size_t)s->depth)
            pthread_cond_wait(&s->work_cv, &s->mu);
        if (s->stop || s->next >= s->n)
            break;
        size_t idx = s->next++;
        pthread_mutex_unlock(&s->mu);
        void *item = s->ops->prepare(s->ctx, idx);
        pthread_mutex_lock(&s->mu);
        slot *sl = &s->slots[idx % (size_t)s->depth];
        sl->index = idx;
        sl->item = item;
        sl->ready = 1;
        pthread_cond_broadcast(&s->ready_cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static size_t run_inline(size_t n, const ovx_pipeline_ops *ops, void *ctx)
{
    size_t i = 0;
    for (; i < n && !ops->should_stop(ctx); i++)
        ops->consume(ctx, i, ops->prepare(ctx, i));
    return i;
}

size_t ovx_pipeline_run(size_t n, int threads, int depth, const ovx_pipeline_ops *ops, void *ctx)
{
    if (threads <= 0 || n == 0)
        return run_inline(n, ops, ctx);
    if (depth < threads)
        depth = threads;
    pipe_state s = {.ops = ops, .ctx = ctx, .n = n, .depth = depth};
    s.slots = calloc((size_t)depth, sizeof *s.slots);
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    if (!s.slots || !tids) {
        free(s.slots);
        free(tids);
        return run_inline(n, ops, ctx);
    }
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.work_cv, NULL);
    pthread_cond_init(&s.ready_cv, NULL);
    int started = 0;
    for (; started < threads; started++)
        if (pthread_create(&tids[started], NULL, worker, &s) != 0)
            break;
    if (started == 0) {
        free(s.slots);
        free(tids);
        return run_inline(n, ops, ctx);
    }

    pthread_mutex_lock(&s.mu);
    while (s.consumed < n) {
        if (ops->should_stop(ctx)) {
            s.stop = 1;
            pthread_cond_broadcast(&s.work_cv);
            break;
        }
        slot *sl = &s.slots[s.consumed % (size_t)depth];
        if (!(sl->ready && sl->index == s.consumed)) {
            /* wake periodically to notice a stop request */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 200 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&s.ready_cv, &s.mu, &ts);
            continue;
        }
        void *item = sl->item;
        sl->ready = 0;
        sl->item = NULL;
        size_t idx = s.consumed;
        pthread_mutex_unlock(&s.mu);
        ops->consume(ctx, idx, item);
        pthread_mutex_lock(&s.mu);
        s.consumed++;
        pthread_cond_broadcast(&s.work_cv);
    }
    s.stop = 1;
    pthread_cond_broadcast(&s.work_cv);
    pthread_mutex_unlock(&s.mu);
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    for (int i = 0; i < depth; i++)
        if (s.slots[i].ready)
            ops->discard(ctx, s.slots[i].item);
    size_t consumed = s.consumed;
    pthread_cond_destroy(&s.ready_cv);
    pthread_cond_destroy(&s.work_cv);
    pthread_mutex_destroy(&s.mu);
    free(s.slots);
    free(tids);
    return consumed;
}
