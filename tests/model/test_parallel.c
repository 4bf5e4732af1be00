/* test_parallel.c: the model's thread pool (src/model/parallel.c) and big
 * buffers (src/model/bigmem.c): every item runs exactly once on a thread
 * index below `threads` that no other thread holds at the same time, the
 * threads really run at once, workers persist across calls, nested and
 * concurrent callers work; big buffers are 2 MiB aligned and advised onto
 * huge pages (checked in /proc/self/smaps). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../check.h"
#include "model/bigmem.h"
#include "model/parallel.h"

#define MAXT 8

typedef struct count_ctx {
    atomic_int *hits;
    atomic_int in_use[MAXT];
    atomic_int bad_index, overlap;
    int threads;
} count_ctx;

static void count_items(void *p, int64_t b, int64_t e, int thread)
{
    count_ctx *c = p;
    if (thread < 0 || thread >= c->threads) {
        atomic_fetch_add(&c->bad_index, 1);
        return;
    }
    if (atomic_exchange(&c->in_use[thread], 1))
        atomic_fetch_add(&c->overlap, 1);
    for (int64_t i = b; i < e; i++)
        atomic_fetch_add(&c->hits[i], 1);
    atomic_store(&c->in_use[thread], 0);
}

/* Runs n items on `threads`; returns 1 when each ran once, cleanly. */
static int run_counted(int threads, int n)
{
    count_ctx c = {.threads = threads};
    c.hits = calloc((size_t)n, sizeof *c.hits);
    ovx_parallel_for(threads, n, count_items, &c);
    int ok = !c.bad_index && !c.overlap;
    for (int i = 0; i < n; i++)
        ok &= c.hits[i] == 1;
    free(c.hits);
    return ok;
}

static void test_every_item_once(void)
{
    static const int ns[] = {1, 2, 3, 7, 100, 1000};
    for (int t = 1; t <= MAXT; t++)
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
            CHECK(run_counted(t, ns[k]));
    /* fewer threads after more (workers beyond `threads` must stay out) */
    CHECK(run_counted(2, 1000));
    CHECK(run_counted(1, 1000));
}

/* Two items that each wait for the other to start: passes only if two
 * threads run them at the same time. Records each thread's kernel tid. */
typedef struct meet_ctx {
    atomic_int started;
    atomic_int met;
    pid_t tid[MAXT];
} meet_ctx;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static void meet(void *p, int64_t b, int64_t e, int thread)
{
    meet_ctx *m = p;
    m->tid[thread] = (pid_t)syscall(SYS_gettid);
    for (int64_t i = b; i < e; i++) {
        atomic_fetch_add(&m->started, 1);
        double t0 = now_s();
        while (atomic_load(&m->started) < 2 && now_s() - t0 < 5.0)
            ;
        if (atomic_load(&m->started) >= 2)
            atomic_fetch_add(&m->met, 1);
    }
}

static void test_concurrent_and_persistent(void)
{
    pid_t first = 0;
    for (int call = 0; call < 3; call++) {
        meet_ctx m = {0};
        ovx_parallel_for(2, 2, meet, &m);
        CHECK(m.met == 2);
        CHECK(m.tid[1] != 0 && m.tid[1] != (pid_t)syscall(SYS_gettid));
        if (call == 0)
            first = m.tid[1];
        else
            CHECK(m.tid[1] == first); /* the same worker thread, not a new one per call */
    }
}

/* A parallel-for inside a parallel-for, and callers on several threads at
 * once: both fall back to threads of their own and still run every item. */
static void nested(void *p, int64_t b, int64_t e, int thread)
{
    (void)thread;
    atomic_int *ok = p;
    for (int64_t i = b; i < e; i++)
        atomic_fetch_add(ok, run_counted(2, 50));
}

static void *caller(void *p)
{
    atomic_int *ok = p;
    for (int i = 0; i < 100; i++)
        atomic_fetch_add(ok, run_counted(2 + i % 3, 64 + i));
    return NULL;
}

static void test_nested_and_concurrent(void)
{
    atomic_int ok = 0;
    ovx_parallel_for(2, 6, nested, &ok);
    CHECK(ok == 6);
    atomic_int oks[3] = {0, 0, 0};
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        CHECK(pthread_create(&t[i], NULL, caller, &oks[i]) == 0);
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        CHECK(oks[i] == 100);
    }
}

/* The VmFlags line of the /proc/self/smaps mapping holding address a. */
static int smaps_flags(const void *a, char *flags, size_t len)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return -1;
    char line[512];
    int inside = 0, found = -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2)
            inside = (uintptr_t)a >= lo && (uintptr_t)a < hi;
        else if (inside && !strncmp(line, "VmFlags:", 8)) {
            snprintf(flags, len, "%s", line + 8);
            found = 0;
            break;
        }
    }
    fclose(f);
    return found;
}

static void test_bigmem(void)
{
    char *small = ovx_big_alloc(1000);
    CHECK(small != NULL);
    memset(small, 1, 1000);
    free(small);
    size_t n = (size_t)9 << 20;
    char *big = ovx_big_alloc(n);
    CHECK(big != NULL);
    CHECK(((uintptr_t)big & ((2u << 20) - 1)) == 0);
    char mode[64] = "";
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (f) {
        if (!fgets(mode, sizeof mode, f))
            mode[0] = 0;
        fclose(f);
    }
    char flags[512] = "";
    if (!f || strstr(mode, "[never]")) {
        printf("bigmem: transparent huge pages unavailable here (%s): madvise not checked\n",
               f ? "THP is never" : "no THP in this kernel");
    } else {
        CHECK(smaps_flags(big + (4u << 20), flags, sizeof flags) == 0);
        CHECK(strstr(flags, " hg") != NULL); /* MADV_HUGEPAGE took */
    }
    memset(big, 2, n);
    CHECK(big[n - 1] == 2);
    free(big);
}

int main(void)
{
    test_every_item_once();
    test_concurrent_and_persistent();
    test_nested_and_concurrent();
    test_bigmem();
    return CHECK_RESULT();
}
