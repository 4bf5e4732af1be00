/* select.c: ovx_select_run: sampling, the decode pass with per-slot saliency
 * jobs on a worker pool, the I-frame / static policies and the global top-K. */
#include "select/select.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavutil/frame.h>

#include "common/timer.h"
#include "select/energy.h"
#include "select/pool.h"
#include "select/stats.h"
#include "select/topk.h"
#include "video/mv.h"
#include "video/resize.h"
#include "video/rgb.h"

ovx_select_params ovx_select_default_params(void)
{
    ovx_select_params p;
    memset(&p, 0, sizeof p);
    p.frames = 64;
    p.tokens = 4096;
    p.sampling = OVX_SAMPLING_CODEC;
    p.mv_source = OVX_MV_AUTO;
    p.iframe_policy = OVX_IFRAME_FIRST;
    p.inconsistency = 1;
    p.motion_percentile = 95.0;
    p.residual_percentile = 95.0;
    p.prior_weight = 0.3;
    p.prior_sigma = 0.35;
    p.fit_keep = 0.7;
    p.fit_passes = 2;
    p.fit_min_vectors = 64;
    p.cell = 8;
    p.search = 16;
    p.static_p95 = 2.0;
    p.static_spread = 1.0;
    p.fps = 0.0;
    p.start = 0.0;
    p.duration = 0.0;
    p.threads = 1;
    p.max_pixels = 8192LL * 8192LL;
    p.max_corrupt = 0.01;
    p.keep_frames = 0;
    return p;
}

const char *ovx_sampling_name(ovx_sampling s) { return s == OVX_SAMPLING_UNIFORM ? "uniform" : "codec"; }

const char *ovx_mv_source_name(ovx_mv_source s)
{
    return s == OVX_MV_CODEC ? "codec" : s == OVX_MV_ESTIMATE ? "estimate" : "auto";
}

const char *ovx_iframe_policy_name(ovx_iframe_policy p)
{
    switch (p) {
    case OVX_IFRAME_DENSE: return "dense";
    case OVX_IFRAME_ZERO: return "zero";
    case OVX_IFRAME_COMPETE: return "compete";
    default: return "first";
    }
}

/* ---- one sampled frame's work ---- */

typedef struct slot_job {
    AVFrame *cur, *prev, *next;
    int need_next;
    int estimate;            /* estimate vectors by block matching */
    int dup_of;              /* >= 0: same decoded frame as that target; nothing to compute */
    int rotation;
    const ovx_select_params *p;
    ovx_mv_list mv;
    float scores[OVX_SELECT_PER_SLOT];
    uint8_t *rgb;            /* keep_frames: [224, 224, 3] */
    const char *mv_source;
    int64_t vectors;
    double sal_ms, rgb_ms;
    int rc;
    ovx_error err;
    int submitted;
} slot_job;

static void job_run(void *arg)
{
    slot_job *j = arg;
    double t0 = ovx_now_ms();
    const AVFrame *f = j->cur;
    if (j->estimate && j->prev) {
        j->rc = ovx_mv_estimate(f->data[0], f->linesize[0], j->prev->data[0], j->prev->linesize[0],
                                f->width, f->height, j->p->search, &j->mv, &j->err);
        if (j->rc < 0)
            return;
    }
    j->vectors = j->mv.n;
    ovx_energy_input in = {
        .cur = f->data[0], .cur_stride = f->linesize[0],
        .prev = j->prev ? j->prev->data[0] : NULL, .prev_stride = j->prev ? j->prev->linesize[0] : 0,
        .next = j->next ? j->next->data[0] : NULL, .next_stride = j->next ? j->next->linesize[0] : 0,
        .W = f->width, .H = f->height, .rotation = j->rotation, .mv = j->mv.v, .n_mv = j->mv.n,
    };
    j->rc = ovx_energy_patch_scores(&in, j->p, j->scores, &j->err);
    if (j->rc < 0)
        return;
    double t1 = ovx_now_ms();
    j->sal_ms = t1 - t0;
    if (j->p->keep_frames) {
        uint8_t *rgb = NULL;
        int w, h;
        j->rc = ovx_frame_to_rgb(f, j->rotation, &rgb, &w, &h, &j->err);
        if (j->rc < 0)
            return;
        j->rgb = malloc((size_t)OVX_SELECT_SIZE * OVX_SELECT_SIZE * 3);
        if (!j->rgb) {
            free(rgb);
            j->rc = ovx_error_set(&j->err, OVX_ENOMEM, "out of memory (frame crop)");
            return;
        }
        j->rc = ovx_resize_short_crop(rgb, w, h, w * 3, OVX_SELECT_SIZE, j->rgb, &j->err);
        free(rgb);
        j->rgb_ms = ovx_now_ms() - t1;
    }
    /* the reference frames are no longer needed */
    av_frame_free(&j->cur);
    av_frame_free(&j->prev);
    av_frame_free(&j->next);
}

static void job_clear(slot_job *j)
{
    av_frame_free(&j->cur);
    av_frame_free(&j->prev);
    av_frame_free(&j->next);
    ovx_mv_list_free(&j->mv);
    free(j->rgb);
    memset(j, 0, sizeof *j);
    j->dup_of = -1;
}

/* ---- sampling ---- */

/* Frame indices (ascending, may repeat) and slots for n decoded frames whose
 * display times are t[n] (sorted; NULL: unknown). Returns the count F. */
static int sample(const ovx_select_params *p, int64_t n, const double *t, double fps, int64_t *idx,
                  int *slots, ovx_error *err)
{
    int F = p->frames;
    int timed = p->fps > 0 || p->start > 0 || p->duration > 0;
    if (!timed) {
        ovx_linspace_i64(0, (double)(n - 1), F, idx);
    } else {
        /* times: from the packets, else from the frame rate */
        double step = fps > 0 ? 1.0 / fps : 1.0 / 25.0;
        double t0 = t ? t[0] : 0.0;
#define TIME(i) (t ? t[i] - t0 : (double)(i) * step)
        double end = p->duration > 0 ? p->start + p->duration : INFINITY;
        int64_t a = 0;
        while (a < n && TIME(a) < p->start)
            a++;
        int64_t b = a;
        while (b < n && TIME(b) < end)
            b++;
        if (b <= a)
            return ovx_error_set(err, OVX_EUSAGE, "no frames between %.3f s and %.3f s (video has %lld)",
                                 p->start, end, (long long)n);
        if (p->fps > 0) {
            int64_t m = (int64_t)floor(((isfinite(end) ? end : TIME(b - 1) + 1e-9) - p->start) * p->fps - 1e-9) + 1;
            if (m < 1)
                m = 1;
            int64_t sel[OVX_SELECT_SLOTS];
            int cnt = m > OVX_SELECT_SLOTS ? OVX_SELECT_SLOTS : (int)m;
            ovx_linspace_i64(0, (double)(m - 1), cnt, sel);
            int64_t k = a;
            for (int i = 0; i < cnt; i++) {
                double target = p->start + (double)sel[i] / p->fps;
                while (k + 1 < b && TIME(k + 1) <= target + 1e-9)
                    k++;
                idx[i] = k;
            }
            F = cnt;
        } else {
            ovx_linspace_i64((double)a, (double)(b - 1), F, idx);
        }
#undef TIME
    }
    if (p->sampling == OVX_SAMPLING_UNIFORM) {
        int64_t s[OVX_SELECT_SLOTS];
        ovx_linspace_i64(0, OVX_SELECT_SLOTS - 1, F, s);
        for (int i = 0; i < F; i++)
            slots[i] = (int)s[i];
    } else {
        for (int i = 0; i < F; i++)
            slots[i] = i;
    }
    return F;
}

/* ---- the decode pass ---- */

#define OVX_RESTART 1  /* decode_pass: start again with slice threading */

typedef struct run_ctx {
    const char *path;
    const ovx_select_params *p;
    ovx_video_info info;
    int F;
    int64_t idx[OVX_SELECT_SLOTS];
    int slot_of[OVX_SELECT_SLOTS];
    slot_job jobs[OVX_SELECT_SLOTS];
    int64_t decoded, corrupt, bad, packets;
    int read_error;
    int frame_threads_ok;    /* frame threading allowed (cleared once a B-frame is seen) */
    int frame_threads_used;
    double *times;           /* decoded frame times [decoded] */
    int64_t times_cap;
    char pict[OVX_SELECT_SLOTS];
    int64_t pts[OVX_SELECT_SLOTS];
    double secs[OVX_SELECT_SLOTS];
    int corrupt_slot[OVX_SELECT_SLOTS];
    double decode_ms;
} run_ctx;

static int push_time(run_ctx *c, double s, ovx_error *err)
{
    if (c->decoded >= c->times_cap) {
        int64_t cap = c->times_cap ? c->times_cap * 2 : 1024;
        double *t = realloc(c->times, (size_t)cap * sizeof *t);
        if (!t)
            return ovx_error_set(err, OVX_ENOMEM, "out of memory");
        c->times = t;
        c->times_cap = cap;
    }
    c->times[c->decoded] = s;
    return OVX_OK;
}

static AVFrame *ref_of(const AVFrame *f, ovx_error *err)
{
    AVFrame *r = av_frame_alloc();
    if (!r || av_frame_ref(r, f) < 0) {
        av_frame_free(&r);
        ovx_error_set(err, OVX_ENOMEM, "out of memory (frame reference)");
        return NULL;
    }
    return r;
}

static int decode_pass(run_ctx *c, ovx_pool *pool, ovx_error *err)
{
    const ovx_select_params *p = c->p;
    for (int i = 0; i < c->F; i++)
        job_clear(&c->jobs[i]);
    c->decoded = c->corrupt = 0;
    /* Frame threading is fast but FFmpeg's H.264 decoder then exports
     * run-to-run different vectors on streams with B-frames. It is used only
     * when vectors are not read from the codec, or when the stream declares
     * no frame reordering; if a B-frame shows up anyway the pass restarts
     * with slice threading, so the output never depends on it. */
    ovx_video_open_params op = {.threads = p->threads, .frame_threads = p->threads > 1 && c->frame_threads_ok,
                                .export_mvs = p->mv_source != OVX_MV_ESTIMATE, .max_pixels = p->max_pixels};
    ovx_video_reader *rd = NULL;
    int rc = ovx_video_open(c->path, &op, &rd, err);
    if (rc < 0)
        return rc;
    c->info = *ovx_video_get_info(rd);
    int want_estimate = p->mv_source == OVX_MV_ESTIMATE ||
                        (p->mv_source == OVX_MV_AUTO && !c->info.codec_exports_mvs);
    int codec_vectors = !want_estimate;
    if (op.frame_threads && codec_vectors && c->info.has_b_frames > 0) {
        ovx_video_close(rd);
        c->frame_threads_ok = 0;
        op.frame_threads = 0;
        rc = ovx_video_open(c->path, &op, &rd, err);
        if (rc < 0)
            return rc;
    }
    c->frame_threads_used = op.frame_threads;
    AVFrame *prev = NULL;
    int waiting = -1;   /* job waiting for the next frame */
    int t = 0;          /* next target */
    double t0 = ovx_now_ms();
    for (;;) {
        ovx_video_frame vf;
        rc = ovx_video_next(rd, &vf, err);
        if (rc < 0)
            goto out;
        if (rc == 0)
            break;
        if (op.frame_threads && codec_vectors && vf.pict_type == 'B') {
            rc = OVX_RESTART;
            c->frame_threads_ok = 0;
            goto out;
        }
        rc = push_time(c, vf.seconds, err);
        if (rc < 0)
            goto out;
        c->decoded++;
        c->corrupt += vf.corrupt;
        if (waiting >= 0) {
            c->jobs[waiting].next = ref_of(vf.frame, err);
            if (!c->jobs[waiting].next) {
                rc = err->code;
                goto out;
            }
            c->jobs[waiting].submitted = 1;
            ovx_pool_submit(pool, job_run, &c->jobs[waiting]);
            waiting = -1;
        }
        int first = t;
        while (t < c->F && c->idx[t] == vf.index) {
            slot_job *j = &c->jobs[t];
            c->pict[t] = vf.pict_type;
            c->pts[t] = vf.pts;
            c->secs[t] = vf.seconds;
            c->corrupt_slot[t] = vf.corrupt;
            if (t != first) {
                j->dup_of = first;
                t++;
                continue;
            }
            j->dup_of = -1;
            j->p = p;
            j->rotation = c->info.rotation;
            j->cur = ref_of(vf.frame, err);
            j->prev = prev ? ref_of(prev, err) : NULL;
            if (!j->cur || (prev && !j->prev)) {
                rc = err->code;
                goto out;
            }
            int has_sd = ovx_mv_frame_has_side_data(vf.frame);
            if (!want_estimate && (has_sd || vf.pict_type == 'I' || p->mv_source == OVX_MV_CODEC)) {
                rc = ovx_mv_from_frame(vf.frame, &j->mv, err);
                if (rc < 0)
                    goto out;
                j->mv_source = has_sd ? "codec" : "none";
            } else {
                /* estimation: asked for, a decoder without vectors, or (auto)
                 * an inter frame that came without side data (MPEG decoders
                 * export none for the frame flushed at the end of the stream) */
                /* also on I-frames when the codec exports nothing: for
                 * intra-only or keyframe-heavy streams it is the only motion signal */
                j->estimate = want_estimate || vf.pict_type != 'I';
                j->mv_source = j->estimate && prev ? "estimate" : "none";
            }
            j->need_next = 0;
            for (int64_t k = 0; k < j->mv.n; k++)
                j->need_next |= j->mv.v[k].source > 0;
            if (j->need_next) {
                waiting = t;
            } else {
                j->submitted = 1;
                ovx_pool_submit(pool, job_run, j);
            }
            t++;
        }
        av_frame_free(&prev);
        prev = ref_of(vf.frame, err);
        if (!prev) {
            rc = err->code;
            goto out;
        }
    }
    if (waiting >= 0) {
        c->jobs[waiting].submitted = 1;
        ovx_pool_submit(pool, job_run, &c->jobs[waiting]);
    }
    rc = OVX_OK;
out:
    ovx_pool_wait(pool);
    c->decode_ms = ovx_now_ms() - t0;
    c->bad = ovx_video_bad_packets(rd);
    c->packets = ovx_video_packets(rd);
    c->read_error = ovx_video_read_error(rd);
    av_frame_free(&prev);
    ovx_video_close(rd);
    if (rc < 0 || rc == OVX_RESTART)
        return rc;
    for (int i = 0; i < c->F; i++)
        if (c->jobs[i].submitted && c->jobs[i].rc < 0) {
            *err = c->jobs[i].err;
            return c->jobs[i].rc;
        }
    return OVX_OK;
}

/* ---- stdin ---- */

static int spool_stdin(char *tmpl, size_t cap, ovx_error *err)
{
    const char *dir = getenv("TMPDIR");
    snprintf(tmpl, cap, "%s/ovx-stdin-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(tmpl);
    if (fd < 0)
        return ovx_error_set(err, OVX_EIO, "cannot create a temporary file for stdin: %s", strerror(errno));
    char buf[1 << 16];
    for (;;) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            close(fd);
            unlink(tmpl);
            return ovx_error_set(err, OVX_EIO, "reading stdin: %s", strerror(errno));
        }
        for (ssize_t o = 0; o < n;) {
            ssize_t w = write(fd, buf + o, (size_t)(n - o));
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                close(fd);
                unlink(tmpl);
                return ovx_error_set(err, OVX_EIO, "spooling stdin: %s", strerror(errno));
            }
            o += w;
        }
    }
    close(fd);
    return OVX_OK;
}

/* ---- the whole run ---- */

static int check_params(const ovx_select_params *p, ovx_error *err)
{
    if (p->frames < 1 || p->frames > OVX_SELECT_SLOTS)
        return ovx_error_set(err, OVX_EUSAGE, "--frames must be 1..64 (got %d)", p->frames);
    if (p->tokens < 1 || p->tokens > OVX_SELECT_SLOTS * OVX_SELECT_PER_SLOT)
        return ovx_error_set(err, OVX_EUSAGE, "--tokens must be 1..16384 (got %d)", p->tokens);
    if (p->fps < 0 || p->start < 0 || p->duration < 0 || !isfinite(p->fps) || !isfinite(p->start) ||
        !isfinite(p->duration))
        return ovx_error_set(err, OVX_EUSAGE, "--fps, --start and --duration must be >= 0");
    if (p->cell < 4 || p->cell > 64 || p->cell % 4 || p->search < 1 || p->search > 256)
        return ovx_error_set(err, OVX_EUSAGE, "cell size must be a multiple of 4 in 4..64, search 1..256");
    if (!(p->fit_keep > 0 && p->fit_keep <= 1) || p->fit_passes < 0 || p->fit_passes > 16)
        return ovx_error_set(err, OVX_EUSAGE, "bad robust-fit settings");
    if (!(p->motion_percentile >= 0 && p->motion_percentile <= 100) ||
        !(p->residual_percentile >= 0 && p->residual_percentile <= 100))
        return ovx_error_set(err, OVX_EUSAGE, "percentiles must be in 0..100");
    if (!(p->max_corrupt >= 0 && p->max_corrupt <= 1))
        return ovx_error_set(err, OVX_EUSAGE, "--max-corrupt must be in 0..1");
    return OVX_OK;
}

static int finish(run_ctx *c, ovx_select_result *r, ovx_error *err)
{
    const ovx_select_params *p = c->p;
    double t0 = ovx_now_ms();
    r->n_slots = c->F;
    r->slots = calloc((size_t)c->F, sizeof *r->slots);
    r->scores = calloc(OVX_SELECT_SLOTS * OVX_SELECT_PER_SLOT, sizeof *r->scores);
    r->visible_indices = malloc(sizeof(int64_t) * OVX_SELECT_SLOTS * OVX_SELECT_PER_SLOT);
    if (p->keep_frames)
        r->frames = malloc((size_t)c->F * OVX_SELECT_SIZE * OVX_SELECT_SIZE * 3);
    if (!r->slots || !r->scores || !r->visible_indices || (p->keep_frames && !r->frames))
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (result)");
    int n_codec = 0, n_est = 0;
    for (int i = 0; i < c->F; i++) {
        const slot_job *j = c->jobs[i].dup_of >= 0 ? &c->jobs[c->jobs[i].dup_of] : &c->jobs[i];
        ovx_select_slot *s = &r->slots[i];
        s->slot = c->slot_of[i];
        s->frame_index = c->idx[i];
        s->pts = c->pts[i];
        s->seconds = c->secs[i];
        s->pict_type = c->pict[i];
        s->mv_source = j->mv_source ? j->mv_source : "none";
        s->vectors = j->vectors;
        s->corrupt = c->corrupt_slot[i];
        n_codec += !strcmp(s->mv_source, "codec");
        n_est += !strcmp(s->mv_source, "estimate");
        float *dst = r->scores + (size_t)s->slot * OVX_SELECT_PER_SLOT;
        memcpy(dst, j->scores, sizeof j->scores);
        double e = 0;
        for (int k = 0; k < OVX_SELECT_PER_SLOT; k++)
            e += dst[k];
        s->energy = e;
        if (p->keep_frames)
            memcpy(r->frames + (size_t)i * OVX_SELECT_SIZE * OVX_SELECT_SIZE * 3, j->rgb,
                   (size_t)OVX_SELECT_SIZE * OVX_SELECT_SIZE * 3);
        r->timings.saliency_ms += j->sal_ms;
        r->timings.frames_ms += j->rgb_ms;
    }
    /* the primary source: codec vectors when any slot used them (estimation
     * then only filled in frames without side data) */
    r->mv_source = n_codec ? "codec" : n_est ? "estimate" : "none";
    r->mv_slots_codec = n_codec;
    r->mv_slots_estimate = n_est;

    /* selection */
    const int N = OVX_SELECT_SLOTS * OVX_SELECT_PER_SLOT;
    unsigned char *eligible = calloc(N, 1), *forced = calloc(N, 1);
    float *sel = malloc(sizeof(float) * N), *tmp = malloc(sizeof(float) * N);
    if (!eligible || !forced || !sel || !tmp) {
        free(eligible), free(forced), free(sel), free(tmp);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (selection)");
    }
    memcpy(sel, r->scores, sizeof(float) * N);
    int64_t K = p->tokens;
    if (p->sampling == OVX_SAMPLING_UNIFORM) {
        for (int i = 0; i < c->F; i++) {
            memset(forced + (size_t)r->slots[i].slot * OVX_SELECT_PER_SLOT, 1, OVX_SELECT_PER_SLOT);
            r->slots[i].whole = 1;
        }
        K = (int64_t)c->F * OVX_SELECT_PER_SLOT;
    } else {
        float *ss = malloc(sizeof(float) * (size_t)c->F * OVX_SELECT_PER_SLOT);
        if (!ss) {
            free(eligible), free(forced), free(sel), free(tmp);
            return ovx_error_set(err, OVX_ENOMEM, "out of memory (selection)");
        }
        for (int i = 0; i < c->F; i++) {
            int s = r->slots[i].slot;
            memset(eligible + (size_t)s * OVX_SELECT_PER_SLOT, 1, OVX_SELECT_PER_SLOT);
            memcpy(ss + (size_t)i * OVX_SELECT_PER_SLOT, r->scores + (size_t)s * OVX_SELECT_PER_SLOT,
                   sizeof(float) * OVX_SELECT_PER_SLOT);
        }
        size_t ns = (size_t)c->F * OVX_SELECT_PER_SLOT;
        float p95 = ovx_percentile(ss, ns, 95.0, tmp), med = ovx_median(ss, ns, tmp);
        free(ss);
        r->static_fallback = p95 < p->static_p95 || p95 - med < p->static_spread;
        for (int i = 0; i < c->F; i++) {
            int whole = 0;
            if (p->iframe_policy == OVX_IFRAME_FIRST && i == 0)
                whole = 1;
            if (p->iframe_policy == OVX_IFRAME_DENSE && r->slots[i].pict_type == 'I')
                whole = 1;
            if (p->iframe_policy == OVX_IFRAME_ZERO && r->slots[i].pict_type == 'I')
                memset(sel + (size_t)r->slots[i].slot * OVX_SELECT_PER_SLOT, 0,
                       sizeof(float) * OVX_SELECT_PER_SLOT);
            r->slots[i].whole = whole;
        }
        if (r->static_fallback) {
            int64_t fi[4];
            int nf = c->F < 4 ? c->F : 4;
            ovx_linspace_i64(0, c->F - 1, nf, fi);
            for (int k = 0; k < nf; k++)
                r->slots[fi[k]].whole = 1;
        }
        /* whole slots in slot order until K is used up */
        int64_t used = 0;
        for (int i = 0; i < c->F; i++) {
            if (!r->slots[i].whole)
                continue;
            if (used + OVX_SELECT_PER_SLOT > K) {
                r->slots[i].whole = 0;
                continue;
            }
            memset(forced + (size_t)r->slots[i].slot * OVX_SELECT_PER_SLOT, 1, OVX_SELECT_PER_SLOT);
            used += OVX_SELECT_PER_SLOT;
        }
        if (K > (int64_t)ns)
            K = (int64_t)ns;
    }
    r->n_visible = ovx_topk_select(sel, eligible, forced, N, K, r->visible_indices);
    free(eligible), free(forced), free(sel), free(tmp);
    if (r->n_visible < 0)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (top-K)");
    r->timings.topk_ms = ovx_now_ms() - t0;
    return OVX_OK;
}

int ovx_select_run(const char *path, const ovx_select_params *params, ovx_select_result **out,
                   ovx_error *err)
{
    *out = NULL;
    double t_start = ovx_now_ms();
    int rc = check_params(params, err);
    if (rc < 0)
        return rc;
    ovx_select_result *r = calloc(1, sizeof *r);
    run_ctx *c = calloc(1, sizeof *c);
    char tmpname[4096] = "";
    double *ptimes = NULL;
    ovx_pool *pool = NULL;
    if (!r || !c || !(r->input = strdup(path))) {
        rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
        goto fail;
    }
    r->params = *params;
    if (r->params.threads < 1)
        r->params.threads = 1;
    const ovx_select_params *p = &r->params;
    c->p = p;
    c->path = path;
    c->frame_threads_ok = 1;
    if (!strcmp(path, "-")) {
        rc = spool_stdin(tmpname, sizeof tmpname, err);
        if (rc < 0)
            goto fail;
        c->path = tmpname;
    }
    /* pass 1: demux only, count the packets (and their times) */
    double t0 = ovx_now_ms();
    int64_t npk = 0;
    rc = ovx_video_count_packets(c->path, &npk, &ptimes, err);
    if (rc < 0)
        goto fail;
    if (npk == 0) {
        rc = ovx_error_set(err, OVX_EINPUT, "no video frames");
        goto fail;
    }
    r->timings.count_ms = ovx_now_ms() - t0;
    pool = ovx_pool_create(p->threads, 2 * p->threads);
    if (!pool) {
        rc = ovx_error_set(err, OVX_ENOMEM, "cannot start worker threads");
        goto fail;
    }
    /* decode pass; repeated when the decoded frame count differs from the
     * packet count (dropped or empty packets), so sampling always spans the
     * frames that really decode */
    int64_t n = npk;
    const double *times = ptimes;
    double fps = 0;
    for (int pass = 1; pass <= 3; pass++) {
        rc = sample(p, n, times, fps, c->idx, c->slot_of, err);
        if (rc < 0)
            goto fail;
        c->F = rc;
        r->decode_passes = pass;
        rc = decode_pass(c, pool, err);
        if (rc == OVX_RESTART)
            rc = decode_pass(c, pool, err);
        if (rc < 0)
            goto fail;
        r->timings.decode_ms += c->decode_ms;
        fps = c->info.fps;
        if (c->decoded == 0) {
            rc = ovx_error_set(err, OVX_EINPUT, "no frame could be decoded");
            goto fail;
        }
        if (c->decoded == n)
            break;
        if (pass == 3) {
            rc = ovx_error_set(err, OVX_EINPUT, "decoded frame count unstable (%lld vs %lld)",
                               (long long)c->decoded, (long long)n);
            goto fail;
        }
        n = c->decoded;
        times = c->times;  /* best-effort timestamps of the decoded frames */
        if (times) {
            int sorted = 1;
            for (int64_t i = 1; i < n; i++)
                sorted &= times[i] >= times[i - 1];
            if (!sorted)
                times = NULL;
        }
    }
    if (c->bad > 0 && (double)c->bad > p->max_corrupt * (double)(c->packets > 0 ? c->packets : 1)) {
        if (c->read_error)
            rc = ovx_error_set(err, OVX_EINPUT, "truncated or damaged file: reading stopped after %lld packets",
                               (long long)c->packets);
        else
            rc = ovx_error_set(err, OVX_EINPUT,
                           "corrupt or truncated video: %lld of %lld packets failed to decode (limit --max-corrupt %g)",
                           (long long)c->bad, (long long)c->packets, p->max_corrupt);
        goto fail;
    }
    r->stream = c->info;
    r->frame_threads = c->frame_threads_used;
    r->frames_decoded = c->decoded;
    r->packets = c->packets;
    r->corrupt_frames = c->corrupt;
    r->bad_packets = c->bad;
    rc = finish(c, r, err);
    if (rc < 0)
        goto fail;
    r->timings.total_ms = ovx_now_ms() - t_start;
    for (int i = 0; i < c->F; i++)
        job_clear(&c->jobs[i]);
    ovx_pool_destroy(pool);
    free(c->times);
    free(c);
    free(ptimes);
    if (tmpname[0])
        unlink(tmpname);
    *out = r;
    return OVX_OK;
fail:
    if (c) {
        for (int i = 0; i < c->F; i++)
            job_clear(&c->jobs[i]);
        free(c->times);
    }
    ovx_pool_destroy(pool);
    free(c);
    free(ptimes);
    if (tmpname[0])
        unlink(tmpname);
    ovx_select_result_free(r);
    return rc;
}

void ovx_select_result_free(ovx_select_result *r)
{
    if (!r)
        return;
    free(r->input);
    free(r->slots);
    free(r->visible_indices);
    free(r->scores);
    free(r->frames);
    free(r);
}
