/* select.c: ovx_select_run: stdin spooling, the packet scan, the
 * decode passes (repeated until sampling spans the frames that really
 * decode), the final selection; result lifetime. */
#include "select/select.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/timer.h"
#include "video/memio.h"
#include "select/pass.h"
#include "select/pool.h"
#include "select/residual.h"
#include "select/topk.h"

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

/* Packet bytes the scan keeps in memory; OVX_SELECT_KEEP_BYTES overrides
 * (tests: 0 makes every decode re-open the file). */
static int64_t keep_packet_bytes(void)
{
    const char *e = getenv("OVX_SELECT_KEEP_BYTES");
    if (e && *e) {
        char *end;
        long long v = strtoll(e, &end, 10);
        if (*end == '\0' && v >= 0)
            return (int64_t)v;
    }
    return OVX_SELECT_KEEP_PACKET_BYTES;
}

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
    if (!(p->motion_floor <= 100) || !(p->prior_weight <= 10) || p->ref_candidates < 1 ||
        p->ref_candidates > 8 || !(p->ref_better >= 0 && p->ref_better < 1))
        return ovx_error_set(err, OVX_EUSAGE, "bad motion floor or reference-search settings");
    if (p->row_step != 0 && p->row_step != 1 && p->row_step != 2 && p->row_step != 4)
        return ovx_error_set(err, OVX_EUSAGE, "--row-step must be auto (0), 1, 2 or 4");
    if (!(p->max_corrupt >= 0 && p->max_corrupt <= 1))
        return ovx_error_set(err, OVX_EUSAGE, "--max-corrupt must be in 0..1");
    if ((p->normalise != OVX_NORMALISE_NOISE && p->normalise != OVX_NORMALISE_FRAME) ||
        !(p->noise_percentile >= 0 && p->noise_percentile <= 100) || !(p->noise_k >= 0 && p->noise_k <= 100) ||
        !(p->texture_k >= 0 && p->texture_k <= 100) ||
        !(p->residual_scale > 0 && p->residual_scale <= 1000) || !(p->motion_scale > 0 && p->motion_scale <= 1000) ||
        !(p->residual_weight <= 1) || isnan(p->residual_weight))
        return ovx_error_set(err, OVX_EUSAGE, "bad normalisation settings");
    return OVX_OK;
}

/* The run over path, or over mem (then path only names it). */
static int select_run(const char *path, const ovx_video_memory *mem, const ovx_select_params *params,
                      ovx_select_result **out, ovx_error *err)
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
    c->mem = mem;
    c->frame_threads_ok = 1;
    c->gop_ok = 1;
    c->plan_ok = 1;
    c->skip_ok = 1;
    c->scan = &scan;
    if (!mem && !strcmp(path, "-")) {
        rc = spool_stdin(tmpname, sizeof tmpname, &spool_fd, err);
        if (rc < 0)
            goto fail;
        c->path = tmpname;
    }
    /* pass 1: demux only: count the packets, their times, IDR positions */
    double t0 = ovx_now_ms();
    rc = ovx_video_scan_source(c->path, mem, keep_packet_bytes(), &scan, err);
    if (rc < 0)
        goto fail;
    if (scan.n == 0) {
        rc = ovx_error_set(err, OVX_EINPUT, "no video frames");
        goto fail;
    }
    r->timings.count_ms = ovx_now_ms() - t0;
    if (p->keep_frames &&
        !(c->rgb_block = malloc((size_t)OVX_SELECT_SLOTS * OVX_SELECT_SIZE * OVX_SELECT_SIZE * 3))) {
        rc = ovx_error_set(err, OVX_ENOMEM, "out of memory (kept frames)");
        goto fail;
    }
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
    /* without packet times, the container's rate times the frames (the
     * passes' stream info is the scan's: c->info) */
    const double fps = scan.info.fps;
    for (int pass = 1; pass <= 3; pass++) {
        rc = ovx_select_sample(p, n, times, fps, c->idx, c->slot_of, err);
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
    ovx_truncation_check(&c->info, c->packets - c->bad, c->packets, &r->truncation);
    if (c->bad > 0 && (double)c->bad > p->max_corrupt * (double)(c->packets > 0 ? c->packets : 1)) {
        if (r->truncation.truncated) { /* cut short: say so, and what would keep the rest */
            char what[160];
            ovx_truncation_str(&r->truncation, what, sizeof what);
            double need = ceil(1000.0 * (double)c->bad / (double)(c->packets > 0 ? c->packets : 1)) / 1000.0;
            rc = ovx_error_set(err, OVX_EINPUT, "%s; --max-corrupt %g keeps what is readable", what,
                               need < 1 ? need : 1);
        } else if (c->read_error)
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
    r->frames_skipped = c->skipped;
    r->frames_decoded = c->decoded;
    r->packets = c->packets;
    r->corrupt_frames = c->corrupt;
    r->bad_packets = c->bad;
    rc = ovx_select_finish(c, r, err);
    if (rc < 0)
        goto fail;
    r->timings.total_ms = ovx_now_ms() - t_start;
    for (int i = 0; i < c->F; i++)
        ovx_slot_job_clear(&c->jobs[i]);
    ovx_pool_destroy(pool);
    ovx_residual_release();
    free(c->times);
    free(c->mv_want);
    free(c->skip);
    free(c->pkt_of);
    free(c->rgb_block);
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
        free(c->mv_want);
        free(c->skip);
        free(c->pkt_of);
    }
    ovx_pool_destroy(pool); /* before the block the jobs write into goes */
    ovx_residual_release();
    if (c)
        free(c->rgb_block);
    free(c);
    ovx_packet_scan_free(&scan);
    if (spool_fd >= 0)
        close(spool_fd);
    ovx_select_result_free(r);
    return rc;
}

int ovx_select_run(const char *path, const ovx_select_params *p, ovx_select_result **out, ovx_error *err)
{
    return select_run(path, NULL, p, out, err);
}

int ovx_select_run_memory(const void *data, size_t size, const char *name, const ovx_select_params *p,
                          ovx_select_result **out, ovx_error *err)
{
    *out = NULL;
    if (!data && size > 0)
        return ovx_error_set(err, OVX_EUSAGE, "no data");
    const ovx_video_memory mem = {data, size};
    return select_run(name && *name ? name : "<memory>", &mem, p, out, err);
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
