/* mm.c: the CPU forward's matmuls on oneDNN, fp32 and bf16 (see mm.h). Each
 * distinct matmul shape gets a plan: one primitive plus per-thread memory
 * objects, streams and scratchpads, so threads run plans concurrently and
 * each call only swaps data pointers. Plans are made single-threaded before
 * the parallel part of each op. */
#include "model/mm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/half.h"
#include "model/bigmem.h"
#include "model/attn512.h"
#include "model/attn_bf16.h"
#include "model/ops.h"
#include "model/parallel.h"
#include "model/vecmath.h"

#ifndef OVX_HAVE_DNNL

struct ovx_mm {
    int unused;
};
struct ovx_mm_weight {
    int unused;
};

#define NO_DNNL "this ovx was built without oneDNN (meson -Ddnnl=enabled needs libdnnl-dev)"

int ovx_mm_available(char *why, size_t why_len)
{
    snprintf(why, why_len, NO_DNNL);
    return 0;
}

int ovx_mm_bf16_available(char *why, size_t why_len)
{
    return ovx_mm_available(why, why_len);
}

int ovx_mm_create(int threads, ovx_mm **out, ovx_error *err)
{
    (void)threads;
    *out = NULL;
    return ovx_error_set(err, OVX_EUNSUPPORTED, NO_DNNL);
}

void ovx_mm_free(ovx_mm *c)
{
    (void)c;
}

int ovx_mm_weight_create(ovx_mm *c, const float *w, int O, int In, ovx_mm_weight **out, ovx_error *err)
{
    (void)c, (void)w, (void)O, (void)In;
    *out = NULL;
    return ovx_error_set(err, OVX_EUNSUPPORTED, "--precision bf16: " NO_DNNL);
}

void ovx_mm_weight_free(ovx_mm_weight *w)
{
    (void)w;
}

size_t ovx_mm_weight_bytes(const ovx_mm_weight *w)
{
    (void)w;
    return 0;
}

int ovx_mm_linear(ovx_mm *c, float *out, const float *x, const float *w, const ovx_mm_weight *wb, const float *b,
                  const ovx_epilogue *epi, int64_t groups, int64_t rows, int In, int O, int threads, ovx_error *err)
{
    (void)c, (void)out, (void)x, (void)w, (void)wb, (void)b, (void)epi, (void)groups, (void)rows, (void)In,
        (void)O, (void)threads;
    return ovx_error_set(err, OVX_EUNSUPPORTED, NO_DNNL);
}

int ovx_mm_attention(ovx_mm *c, int bf16, float *out, const float *q, const float *k, const float *v, int N, int H,
                     float scale, int threads, ovx_error *err)
{
    (void)c, (void)bf16, (void)out, (void)q, (void)k, (void)v, (void)N, (void)H, (void)scale, (void)threads;
    return ovx_error_set(err, OVX_EUNSUPPORTED, NO_DNNL);
}

#else

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>

/* libgomp (oneDNN's threading runtime here): each of our threads asks for
 * single-threaded oneDNN calls. */
extern void omp_set_num_threads(int n);

#define MAX_PLANS 64

typedef enum plan_kind { PLAN_LINEAR, PLAN_QK, PLAN_PV } plan_kind;

typedef struct plan {
    plan_kind kind;
    int64_t M, K, N, ld; /* ld: row stride of q/k/v (attention) */
    int has_bias;
    int bf16;            /* bf16 inputs (linear: packed weights), else fp32 */
    int epi;             /* linear: the ovx_lin_epi_kind, as oneDNN post-ops */
    dnnl_primitive_t prim;
    dnnl_memory_t *src, *wei, *dst, *bias, *scratch; /* per thread */
    void **scratch_buf;
} plan;

struct ovx_mm {
    int threads;
    dnnl_engine_t eng;
    dnnl_stream_t *streams;
    plan plans[MAX_PLANS];
    int n_plans;
    uint16_t *qb, *kb, *vb; /* bf16 copies of q, k, v (attention) */
    size_t qb_cap, kb_cap, vb_cap;
    uint16_t *xb;           /* per-thread bf16 rows of the linear input */
    size_t xb_cap;          /* elements per thread */
    uint16_t *pb;           /* per-thread bf16 probabilities */
    float *sb;              /* per-thread fp32 scores */
    size_t pb_cap, sb_cap;  /* elements per thread */
};

struct ovx_mm_weight {
    dnnl_memory_t mem; /* bf16, the plan's preferred layout (owned) */
    void *buf;         /* its data (ovx_big_alloc, owned) */
    size_t bytes;
    int O, In;
};

static int dnnl_fail(ovx_error *err, const char *what, dnnl_status_t s)
{
    return ovx_error_set(err, OVX_EINTERNAL, "oneDNN: %s failed (status %d)", what, (int)s);
}

#define DN(call, what)                      \
    do {                                    \
        dnnl_status_t s_ = (call);          \
        if (s_ != dnnl_success)             \
            return dnnl_fail(err, what, s_); \
    } while (0)

int ovx_mm_available(char *why, size_t why_len)
{
    (void)why, (void)why_len;
    return 1;
}

int ovx_mm_bf16_available(char *why, size_t why_len)
{
    static int cached = -1;
    static char reason[200];
    if (cached < 0) {
        cached = 0;
        __builtin_cpu_init();
#if defined(__clang__) && __clang_major__ < 16
        int amx = 0; /* clang < 16 has no "amx-bf16" feature string (CPUs with AMX-BF16 have AVX512_BF16) */
#else
        int amx = __builtin_cpu_supports("amx-bf16");
#endif
        if (!__builtin_cpu_supports("avx512bf16") && !amx)
            snprintf(reason, sizeof reason, "this CPU has neither AVX512_BF16 nor AMX-BF16");
        else
            cached = 1;
    }
    if (!cached)
        snprintf(why, why_len, "%s", reason);
    return cached;
}

static void plan_free(plan *p, int threads)
{
    for (int t = 0; t < threads; t++) {
        if (p->src && p->src[t])
            dnnl_memory_destroy(p->src[t]);
        if (p->wei && p->wei[t])
            dnnl_memory_destroy(p->wei[t]);
        if (p->dst && p->dst[t])
            dnnl_memory_destroy(p->dst[t]);
        if (p->bias && p->bias[t])
            dnnl_memory_destroy(p->bias[t]);
        if (p->scratch && p->scratch[t])
            dnnl_memory_destroy(p->scratch[t]);
        if (p->scratch_buf)
            free(p->scratch_buf[t]);
    }
    free(p->src);
    free(p->wei);
    free(p->dst);
    free(p->bias);
    free(p->scratch);
    free(p->scratch_buf);
    if (p->prim)
        dnnl_primitive_destroy(p->prim);
    memset(p, 0, sizeof *p);
}

void ovx_mm_free(ovx_mm *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n_plans; i++)
        plan_free(&c->plans[i], c->threads);
    for (int t = 0; c->streams && t < c->threads; t++)
        if (c->streams[t])
            dnnl_stream_destroy(c->streams[t]);
    free(c->streams);
    if (c->eng)
        dnnl_engine_destroy(c->eng);
    free(c->qb);
    free(c->kb);
    free(c->vb);
    free(c->xb);
    free(c->pb);
    free(c->sb);
    free(c);
}

int ovx_mm_create(int threads, ovx_mm **out, ovx_error *err)
{
    *out = NULL;
    if (threads < 1)
        threads = 1;
    ovx_mm *c = calloc(1, sizeof *c);
    if (!c || !(c->streams = calloc((size_t)threads, sizeof *c->streams))) {
        free(c);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory for the bf16 context");
    }
    c->threads = threads;
    omp_set_num_threads(1);
    dnnl_status_t s = dnnl_engine_create(&c->eng, dnnl_cpu, 0);
    for (int t = 0; s == dnnl_success && t < threads; t++)
        s = dnnl_stream_create(&c->streams[t], c->eng, dnnl_stream_default_flags);
    if (s != dnnl_success) {
        ovx_mm_free(c);
        return dnnl_fail(err, "engine/stream creation", s);
    }
    *out = c;
    return 0;
}

/* Memory descriptors of a plan's operands. */
static int plan_mds(const plan *p, dnnl_memory_desc_t *src, dnnl_memory_desc_t *wei, dnnl_memory_desc_t *dst,
                    dnnl_memory_desc_t *bias, ovx_error *err)
{
    dnnl_dims_t sd = {p->M, p->K}, wd = {p->K, p->N}, dd = {p->M, p->N}, bd = {1, p->N};
    dnnl_data_type_t in = p->bf16 ? dnnl_bf16 : dnnl_f32;
    switch (p->kind) {
    case PLAN_LINEAR: /* x[M,K] . w^T: w stored [N,K] is {K,N} with strides {1,K} ("ba");
                       * bf16 weights are packed in the layout the matmul prefers */
        DN(dnnl_memory_desc_init_by_tag(src, 2, sd, in, dnnl_ab), "src desc");
        DN(dnnl_memory_desc_init_by_tag(wei, 2, wd, in, p->bf16 ? dnnl_format_tag_any : dnnl_ba), "weights desc");
        DN(dnnl_memory_desc_init_by_tag(dst, 2, dd, dnnl_f32, dnnl_ab), "dst desc");
        DN(dnnl_memory_desc_init_by_tag(bias, 2, bd, dnnl_f32, dnnl_ab), "bias desc");
        return 0;
    case PLAN_QK: { /* q tile [M,64] (stride ld) . k^T: k rows [N,64] (stride ld) as {64,N} strides {1,ld} */
        dnnl_dims_t ss = {p->ld, 1}, ws = {1, p->ld};
        DN(dnnl_memory_desc_init_by_strides(src, 2, sd, in, ss), "q desc");
        DN(dnnl_memory_desc_init_by_strides(wei, 2, wd, in, ws), "k desc");
        DN(dnnl_memory_desc_init_by_tag(dst, 2, dd, dnnl_f32, dnnl_ab), "scores desc");
        return 0;
    }
    case PLAN_PV: { /* p [M,K=keys] . v [keys,64] (stride ld) -> out tile [M,64] (stride ld) */
        dnnl_dims_t ws = {p->ld, 1}, ds = {p->ld, 1};
        DN(dnnl_memory_desc_init_by_tag(src, 2, sd, in, dnnl_ab), "p desc");
        DN(dnnl_memory_desc_init_by_strides(wei, 2, wd, in, ws), "v desc");
        DN(dnnl_memory_desc_init_by_strides(dst, 2, dd, dnnl_f32, ds), "out desc");
        return 0;
    }
    }
    return ovx_error_set(err, OVX_EINTERNAL, "bad plan kind");
}

/* Appends epilogue `epi` (ovx_lin_epi_kind) to attr as post-ops: GELU (the
 * exact erf form in fp32; in bf16 the tanh form, as the CUDA path's cuBLASLt
 * epilogue, so CPU bf16 follows the GPU's numerics), or
 * a sum with the old destination (acc + bias + dst, the order of the
 * separate residual add it replaces). */
static dnnl_status_t set_epilogue(dnnl_primitive_attr_t attr, int epi, int bf16)
{
    if (epi == OVX_LIN_PLAIN)
        return dnnl_success;
    dnnl_post_ops_t po = NULL;
    dnnl_status_t s = dnnl_post_ops_create(&po);
    if (s != dnnl_success)
        return s;
    s = epi == OVX_LIN_GELU ? dnnl_post_ops_append_eltwise(po, 1.0f, bf16 ? dnnl_eltwise_gelu_tanh : dnnl_eltwise_gelu_erf,
                                                           0.0f, 0.0f)
                            : dnnl_post_ops_append_sum(po, 1.0f);
    if (s == dnnl_success)
        s = dnnl_primitive_attr_set_post_ops(attr, po);
    dnnl_post_ops_destroy(po);
    return s;
}

/* The plan for a shape (and epilogue), made on first use (call outside
 * parallel regions). For PLAN_QK, `scale` becomes the primitive's output
 * scale (the forward and the head both use 1/sqrt(64), so it is not part of
 * the key). */
static plan *get_plan_epi(ovx_mm *c, plan_kind kind, int bf16, int64_t M, int64_t K, int64_t N, int64_t ld,
                          int has_bias, int epi, float scale, ovx_error *err)
{
    for (int i = 0; i < c->n_plans; i++) {
        plan *p = &c->plans[i];
        if (p->kind == kind && p->bf16 == bf16 && p->M == M && p->K == K && p->N == N && p->ld == ld &&
            p->has_bias == has_bias && p->epi == epi)
            return p;
    }
    if (c->n_plans == MAX_PLANS) { /* shapes of an earlier forward: start over */
        for (int i = 0; i < c->n_plans; i++)
            plan_free(&c->plans[i], c->threads);
        c->n_plans = 0;
    }
    plan *p = &c->plans[c->n_plans];
    *p = (plan){.kind = kind, .M = M, .K = K, .N = N, .ld = ld, .has_bias = has_bias, .bf16 = bf16, .epi = epi};
    dnnl_memory_desc_t src, wei, dst, bias;
    dnnl_matmul_desc_t md;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t s;
    const char *what = "matmul creation";
    if (plan_mds(p, &src, &wei, &dst, &bias, err))
        return NULL;
    if ((s = dnnl_matmul_desc_init(&md, &src, &wei, has_bias ? &bias : NULL, &dst)) != dnnl_success ||
        (s = dnnl_primitive_attr_create(&attr)) != dnnl_success ||
        (s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user)) != dnnl_success ||
        (s = set_epilogue(attr, epi, bf16)) != dnnl_success)
        goto fail;
    if (kind == PLAN_QK && (s = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale)) != dnnl_success)
        goto fail;
    if ((s = dnnl_primitive_desc_create(&pd, &md, attr, c->eng, NULL)) != dnnl_success ||
        (s = dnnl_primitive_create(&p->prim, pd)) != dnnl_success)
        goto fail;
    const dnnl_memory_desc_t *wq = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *sq = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t sbytes = sq ? dnnl_memory_desc_get_size(sq) : 0;
    int T = c->threads;
    p->src = calloc((size_t)T, sizeof *p->src);
    p->wei = calloc((size_t)T, sizeof *p->wei);
    p->dst = calloc((size_t)T, sizeof *p->dst);
    p->bias = calloc((size_t)T, sizeof *p->bias);
    p->scratch = calloc((size_t)T, sizeof *p->scratch);
    p->scratch_buf = calloc((size_t)T, sizeof *p->scratch_buf);
    if (!p->src || !p->wei || !p->dst || !p->bias || !p->scratch || !p->scratch_buf) {
        s = dnnl_out_of_memory;
        goto fail;
    }
    what = "matmul memory";
    for (int t = 0; t < T; t++) {
        if ((s = dnnl_memory_create(&p->src[t], &src, c->eng, DNNL_MEMORY_NONE)) != dnnl_success ||
            (s = dnnl_memory_create(&p->wei[t], wq, c->eng, DNNL_MEMORY_NONE)) != dnnl_success ||
            (s = dnnl_memory_create(&p->dst[t], &dst, c->eng, DNNL_MEMORY_NONE)) != dnnl_success)
            goto fail;
        if (has_bias && (s = dnnl_memory_create(&p->bias[t], &bias, c->eng, DNNL_MEMORY_NONE)) != dnnl_success)
            goto fail;
        if (sbytes) {
            if (!(p->scratch_buf[t] = malloc(sbytes))) {
                s = dnnl_out_of_memory;
                goto fail;
            }
            if ((s = dnnl_memory_create(&p->scratch[t], sq, c->eng, p->scratch_buf[t])) != dnnl_success)
                goto fail;
        }
    }
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    c->n_plans++;
    return p;
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    plan_free(p, c->threads);
    dnnl_fail(err, what, s);
    return NULL;
}

static plan *get_plan(ovx_mm *c, plan_kind kind, int bf16, int64_t M, int64_t K, int64_t N, int64_t ld,
                      int has_bias, float scale, ovx_error *err)
{
    return get_plan_epi(c, kind, bf16, M, K, N, ld, has_bias, OVX_LIN_PLAIN, scale, err);
}

/* Runs plan p on thread t's memory objects with the given data pointers. */
static int plan_run(ovx_mm *c, plan *p, int t, const void *src, const void *wei, void *dst, const float *bias)
{
    omp_set_num_threads(1);
    dnnl_exec_arg_t args[5];
    int n = 0;
    if (dnnl_memory_set_data_handle(p->src[t], (void *)src) || dnnl_memory_set_data_handle(p->wei[t], (void *)wei) ||
        dnnl_memory_set_data_handle(p->dst[t], dst))
        return -1;
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, p->src[t]};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, p->wei[t]};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST, p->dst[t]};
    if (p->has_bias) {
        if (dnnl_memory_set_data_handle(p->bias[t], (void *)bias))
            return -1;
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, p->bias[t]};
    }
    if (p->scratch[t])
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, p->scratch[t]};
    if (dnnl_primitive_execute(p->prim, c->streams[t], n, args) != dnnl_success)
        return -1;
    return dnnl_stream_wait(c->streams[t]) == dnnl_success ? 0 : -1;
}

void ovx_mm_weight_free(ovx_mm_weight *w)
{
    if (!w)
        return;
    if (w->mem)
        dnnl_memory_destroy(w->mem);
    free(w->buf);
    free(w);
}

size_t ovx_mm_weight_bytes(const ovx_mm_weight *w)
{
    return w ? w->bytes : 0;
}

int ovx_mm_weight_create(ovx_mm *c, const float *w, int O, int In, ovx_mm_weight **out, ovx_error *err)
{
    char why[200];
    *out = NULL;
    if (!ovx_mm_bf16_available(why, sizeof why))
        return ovx_error_set(err, OVX_EUNSUPPORTED, "--precision bf16: %s", why);
    /* The layout the OVX_LINEAR_ROWS-row plan prefers; every plan of this
     * (In, O) asks for the same one (checked in linear). */
    plan *p = get_plan(c, PLAN_LINEAR, 1, OVX_LINEAR_ROWS, In, O, 0, 1, 1.0f, err);
    if (!p)
        return -1;
    ovx_mm_weight *bw = calloc(1, sizeof *bw);
    if (!bw)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory for bf16 weights");
    bw->O = O;
    bw->In = In;
    const dnnl_memory_desc_t *wq;
    dnnl_memory_desc_t f32d;
    dnnl_dims_t wd = {In, O};
    dnnl_memory_t from = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t rp = NULL;
    dnnl_status_t s;
    uint16_t *tmp = malloc((size_t)O * In * sizeof *tmp);
    if (!tmp) {
        free(bw);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory for bf16 weights");
    }
    /* Round with our own RNE first so the stored values are exactly bf16(w). */
    ovx_f32_to_bf16_vec(tmp, w, (int64_t)O * In);
    if ((s = dnnl_memory_get_memory_desc(p->wei[0], &wq)) != dnnl_success ||
        (s = dnnl_memory_desc_init_by_tag(&f32d, 2, wd, dnnl_bf16, dnnl_ba)) != dnnl_success ||
        (s = dnnl_memory_create(&from, &f32d, c->eng, tmp)) != dnnl_success ||
        (s = (bw->buf = ovx_big_alloc(dnnl_memory_desc_get_size(wq))) ? dnnl_success : dnnl_out_of_memory) !=
            dnnl_success ||
        (s = dnnl_memory_create(&bw->mem, wq, c->eng, bw->buf)) != dnnl_success ||
        (s = dnnl_reorder_primitive_desc_create(&rpd, &f32d, c->eng, wq, c->eng, NULL)) != dnnl_success ||
        (s = dnnl_primitive_create(&rp, rpd)) != dnnl_success)
        goto fail;
    dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, bw->mem}};
    omp_set_num_threads(1);
    if ((s = dnnl_primitive_execute(rp, c->streams[0], 2, ra)) != dnnl_success ||
        (s = dnnl_stream_wait(c->streams[0])) != dnnl_success)
        goto fail;
    bw->bytes = dnnl_memory_desc_get_size(wq);
    dnnl_primitive_destroy(rp);
    dnnl_primitive_desc_destroy(rpd);
    dnnl_memory_destroy(from);
    free(tmp);
    *out = bw;
    return 0;
fail:
    if (rp)
        dnnl_primitive_destroy(rp);
    if (rpd)
        dnnl_primitive_desc_destroy(rpd);
    if (from)
        dnnl_memory_destroy(from);
    free(tmp);
    ovx_mm_weight_free(bw);
    return dnnl_fail(err, "weight reorder", s);
}

/* Grows a per-thread bf16/f32 scratch to `per` elements per thread. */
static int grow(void **buf, size_t *cap, size_t per, int threads, size_t elem)
{
    if (*cap >= per)
        return 0;
    void *n = realloc(*buf, per * threads * elem);
    if (!n)
        return -1;
    *buf = n;
    *cap = per;
    return 0;
}

typedef struct linear_job {
    ovx_mm *c;
    plan *full, *tail; /* OVX_LINEAR_ROWS rows, and the group's last chunk */
    float *out;
    const float *x, *b;
    const void *w;
    const ovx_epilogue *epi;
    int64_t rows, chunks;
    int In, O, bf16;
    int failed;
} linear_job;

static void linear_chunks(void *p, int64_t c0, int64_t c1, int thread)
{
    linear_job *j = p;
    uint16_t *xb = j->c->xb + (size_t)thread * j->c->xb_cap;
    for (int64_t ch = c0; ch < c1; ch++) {
        int64_t g = ch / j->chunks, in_g = (ch % j->chunks) * OVX_LINEAR_ROWS;
        int64_t rows = j->rows - in_g < OVX_LINEAR_ROWS ? j->rows - in_g : OVX_LINEAR_ROWS;
        int64_t r0 = g * j->rows + in_g;
        const void *src = j->x + r0 * j->In;
        if (j->bf16) {
            ovx_f32_to_bf16_vec(xb, j->x + r0 * j->In, rows * j->In);
            src = xb;
        }
        plan *pl = rows == OVX_LINEAR_ROWS ? j->full : j->tail;
        if (plan_run(j->c, pl, thread, src, j->w, j->out + r0 * j->O, j->b))
            j->failed = 1;
        else if (j->epi && j->epi->fn)
            j->epi->fn(j->epi->ctx, j->out + r0 * j->O, rows);
    }
}

int ovx_mm_linear(ovx_mm *c, float *out, const float *x, const float *w, const ovx_mm_weight *wb, const float *b,
                  const ovx_epilogue *epi, int64_t groups, int64_t rows, int In, int O, int threads, ovx_error *err)
{
    if (groups <= 0 || rows <= 0)
        return 0;
    int bf16 = wb != NULL;
    if (bf16 && (wb->In != In || wb->O != O))
        return ovx_error_set(err, OVX_EINTERNAL, "bf16 weight is %dx%d, op wants %dx%d", wb->O, wb->In, O, In);
    if (threads > c->threads)
        threads = c->threads;
    int64_t full_rows = rows < OVX_LINEAR_ROWS ? rows : OVX_LINEAR_ROWS;
    int64_t tail_rows = rows % OVX_LINEAR_ROWS ? rows % OVX_LINEAR_ROWS : full_rows;
    int kind = epi ? (int)epi->kind : OVX_LIN_PLAIN;
    plan *full = get_plan_epi(c, PLAN_LINEAR, bf16, full_rows, In, O, 0, b != NULL, kind, 1.0f, err);
    plan *tail = full ? get_plan_epi(c, PLAN_LINEAR, bf16, tail_rows, In, O, 0, b != NULL, kind, 1.0f, err) : NULL;
    if (!full || !tail)
        return -1;
    const void *wdata = w;
    if (bf16) {
        /* Every plan must read the weight in the layout it was packed in. */
        const dnnl_memory_desc_t *wm, *a, *z;
        if (dnnl_memory_get_memory_desc(wb->mem, &wm) || dnnl_memory_get_memory_desc(full->wei[0], &a) ||
            dnnl_memory_get_memory_desc(tail->wei[0], &z) || !dnnl_memory_desc_equal(wm, a) ||
            !dnnl_memory_desc_equal(wm, z))
            return ovx_error_set(err, OVX_EINTERNAL, "oneDNN wants another weight layout for %lld rows",
                                 (long long)rows);
        void *h = NULL;
        if (dnnl_memory_get_data_handle(wb->mem, &h))
            return ovx_error_set(err, OVX_EINTERNAL, "oneDNN: weight handle");
        wdata = h;
        if (grow((void **)&c->xb, &c->xb_cap, (size_t)OVX_LINEAR_ROWS * In, c->threads, sizeof *c->xb))
            return ovx_error_set(err, OVX_ENOMEM, "out of memory for bf16 rows");
    }
    linear_job j = {c, full, tail, out, x, b, wdata, epi, rows, (rows + OVX_LINEAR_ROWS - 1) / OVX_LINEAR_ROWS, In,
                    O, bf16, 0};
    ovx_parallel_for(threads, groups * j.chunks, linear_chunks, &j);
    return j.failed ? ovx_error_set(err, OVX_EINTERNAL, "oneDNN: matmul failed") : 0;
}

typedef struct attn_job {
    ovx_mm *c;
    plan *qk_full, *qk_tail, *pv_full, *pv_tail;
    float *out;
    const void *q, *k, *v; /* fp32 inputs, or the context's bf16 copies */
    int N, H, tiles, bf16;
    int failed;
} attn_job;

typedef struct round_job {
    ovx_mm *c;
    const float *q, *k, *v;
    int64_t ld;
} round_job;

/* Rows r0..r1 of q, k, v to the context's bf16 copies. */
static void round_rows(void *p, int64_t r0, int64_t r1, int thread)
{
    (void)thread;
    const round_job *j = p;
    int64_t o = r0 * j->ld, n = (r1 - r0) * j->ld;
    ovx_f32_to_bf16_vec(j->c->qb + o, j->q + o, n);
    ovx_f32_to_bf16_vec(j->c->kb + o, j->k + o, n);
    ovx_f32_to_bf16_vec(j->c->vb + o, j->v + o, n);
}

static void attn_items(void *p, int64_t i0, int64_t i1, int thread)
{
    attn_job *j = p;
    ovx_mm *c = j->c;
    int ld = j->H * OVX_HEAD_DIM, N = j->N;
    size_t esz = j->bf16 ? 2 : 4;
    float *S = c->sb + (size_t)thread * c->sb_cap;
    uint16_t *P = c->pb + (size_t)thread * c->pb_cap;
    for (int64_t it = i0; it < i1; it++) {
        int h = (int)(it / j->tiles), q0 = (int)(it % j->tiles) * OVX_ATTN_TILE;
        int tq = N - q0 < OVX_ATTN_TILE ? N - q0 : OVX_ATTN_TILE;
        int full = tq == OVX_ATTN_TILE;
        size_t qo = (size_t)q0 * ld + (size_t)h * OVX_HEAD_DIM, ho = (size_t)h * OVX_HEAD_DIM;
        if (plan_run(c, full ? j->qk_full : j->qk_tail, thread, (const char *)j->q + qo * esz,
                     (const char *)j->k + ho * esz, S, NULL)) {
            j->failed = 1;
            continue;
        }
        float inv_sum[OVX_ATTN_TILE];
        for (int r = 0; r < tq; r++)
            inv_sum[r] = j->bf16 ? ovx_softmax_row_bf16(S + (size_t)r * N, P + (size_t)r * N, N)
                                 : ovx_softmax_row_unnormalised(S + (size_t)r * N, N);
        float *oh = j->out + qo;
        if (plan_run(c, full ? j->pv_full : j->pv_tail, thread, j->bf16 ? (const void *)P : (const void *)S,
                     (const char *)j->v + ho * esz, oh, NULL)) {
            j->failed = 1;
            continue;
        }
        for (int r = 0; r < tq; r++)
            for (int d = 0; d < OVX_HEAD_DIM; d++)
                oh[(size_t)r * ld + d] *= inv_sum[r];
    }
}

int ovx_mm_attention(ovx_mm *c, int bf16, float *out, const float *q, const float *k, const float *v, int N, int H,
                     float scale, int threads, ovx_error *err)
{
    if (N <= 0)
        return 0;
    if (threads > c->threads)
        threads = c->threads;
    /* The fused kernels where the CPU has them, else the oneDNN matmuls. */
    if (bf16 ? ovx_attn_bf16_available() : ovx_attn512_available()) {
        if (bf16 ? ovx_attn_bf16(out, q, k, v, N, N, H, scale, threads)
                 : ovx_attn512(out, q, k, v, N, N, H, scale, threads))
            return ovx_error_set(err, OVX_ENOMEM, "out of memory for attention scratch (%d tokens)", N);
        return 0;
    }
    int ld = H * OVX_HEAD_DIM;
    size_t need = (size_t)N * ld;
    if (bf16 && (grow((void **)&c->qb, &c->qb_cap, need, 1, sizeof *c->qb) ||
                 grow((void **)&c->kb, &c->kb_cap, need, 1, sizeof *c->kb) ||
                 grow((void **)&c->vb, &c->vb_cap, need, 1, sizeof *c->vb)))
        return ovx_error_set(err, OVX_ENOMEM, "out of memory for bf16 q, k, v");
    size_t per = (size_t)OVX_ATTN_TILE * N;
    if (grow((void **)&c->pb, &c->pb_cap, per, c->threads, sizeof *c->pb) ||
        grow((void **)&c->sb, &c->sb_cap, per, c->threads, sizeof *c->sb))
        return ovx_error_set(err, OVX_ENOMEM, "out of memory for attention scratch");
    int tiles = (N + OVX_ATTN_TILE - 1) / OVX_ATTN_TILE, tail = N - (tiles - 1) * OVX_ATTN_TILE;
    int full_m = N < OVX_ATTN_TILE ? N : OVX_ATTN_TILE;
    attn_job j = {c, NULL, NULL, NULL, NULL, out, q, k, v, N, H, tiles, bf16, 0};
    if (!(j.qk_full = get_plan(c, PLAN_QK, bf16, full_m, OVX_HEAD_DIM, N, ld, 0, scale, err)) ||
        !(j.qk_tail = get_plan(c, PLAN_QK, bf16, tail, OVX_HEAD_DIM, N, ld, 0, scale, err)) ||
        !(j.pv_full = get_plan(c, PLAN_PV, bf16, full_m, N, OVX_HEAD_DIM, ld, 0, 1.0f, err)) ||
        !(j.pv_tail = get_plan(c, PLAN_PV, bf16, tail, N, OVX_HEAD_DIM, ld, 0, 1.0f, err)))
        return -1;
    if (bf16) {
        round_job rj = {c, q, k, v, ld};
        ovx_parallel_for(N >= 64 ? threads : 1, N, round_rows, &rj);
        j.q = c->qb;
        j.k = c->kb;
        j.v = c->vb;
    }
    ovx_parallel_for(threads, (int64_t)tiles * H, attn_items, &j);
    return j.failed ? ovx_error_set(err, OVX_EINTERNAL, "oneDNN: attention matmul failed") : 0;
}

#endif
