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

#include "common/timer.h"
#include "select/energy.h"
#include "select/pass.h"
#include "select/pool.h"
#include "select/stats.h"
#include "select/topk.h"

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

/* ---- stdin ---- */

/* Copies stdin to an already-unlinked temporary file (nothing is left
 * behind if ovx is killed) and names it through /proc/self/fd, so the
 * counting pass and the decode pass can both open it. *fd_out stays open
 * until the run ends. */
static int spool_stdin(char *path, size_t cap, int *fd_out, ovx_error *err)
{
    const char *dir = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/ovx-stdin-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(tmpl);
    if (fd < 0)
        return ovx_error_set(err, OVX_EIO, "cannot create a temporary file for stdin: %s", strerror(errno));
    unlink(tmpl);
    char buf[1 << 16];
    for (;;) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            close(fd);
            return ovx_error_set(err, OVX_EIO, "reading stdin: %s", strerror(errno));
        }
        for (ssize_t o = 0; o < n;) {
            ssize_t w = write(fd, buf + o, (size_t)(n - o));
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                close(fd);
                return ovx_error_set(err, OVX_EIO, "spooling stdin to %s: %s", dir && *dir ? dir : "/tmp",
                                     strerror(errno));
            }
            o += w;
        }
    }
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    *fd_out = fd;
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
    char tmpname[64] = "";
    int spool_fd = -1;
    ovx_packet_scan scan = {0};
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
    c->gop_ok = 1;
    c->scan = &scan;
    if (!strcmp(path, "-")) {
        rc = spool_stdin(tmpname, sizeof tmpname, &spool_fd, err);
        if (rc < 0)
            goto fail;
        c->path = tmpname;
    }
    /* pass 1: demux only: count the packets, their times, IDR positions */
    double t0 = ovx_now_ms();
    rc = ovx_video_scan_packets(c->path, &scan, err);
    if (rc < 0)
        goto fail;
    if (scan.n == 0) {
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
    int64_t n = scan.n;
    const double *times = scan.times;
    double fps = 0;
    for (int pass = 1; pass <= 3; pass++) {
        rc = sample(p, n, times, fps, c->idx, c->slot_of, err);
        if (rc < 0)
            goto fail;
        c->F = rc;
        r->decode_passes = pass;
        rc = ovx_decode_pass(c, pool, err);
        for (int again = 0; rc == OVX_PASS_RESTART && again < 3; again++)
            rc = ovx_decode_pass(c, pool, err);
        if (rc == OVX_PASS_RESTART)
            rc = ovx_error_set(err, OVX_EINTERNAL, "decode pass did not settle on a threading mode");
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
    r->threading = c->threading;
    r->frames_decoded = c->decoded;
    r->packets = c->packets;
    r->corrupt_frames = c->corrupt;
    r->bad_packets = c->bad;
    rc = finish(c, r, err);
    if (rc < 0)
        goto fail;
    r->timings.total_ms = ovx_now_ms() - t_start;
    for (int i = 0; i < c->F; i++)
        ovx_slot_job_clear(&c->jobs[i]);
    ovx_pool_destroy(pool);
    free(c->times);
    free(c);
    ovx_packet_scan_free(&scan);
    if (spool_fd >= 0)
        close(spool_fd);
    *out = r;
    return OVX_OK;
fail:
    if (c) {
        for (int i = 0; i < c->F; i++)
            ovx_slot_job_clear(&c->jobs[i]);
        free(c->times);
    }
    ovx_pool_destroy(pool);
    free(c);
    ovx_packet_scan_free(&scan);
    if (spool_fd >= 0)
        close(spool_fd);
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
