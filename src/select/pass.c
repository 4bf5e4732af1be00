/* pass.c: the decode pass of ovx select. Three ways to use threads, all
 * giving the same bytes as a single-threaded decode:
 *  - slice threading (always safe);
 *  - frame threading, only when vectors are not read from the codec or the
 *    stream has no B-frames (FFmpeg's frame-threaded H.264 decoder exports
 *    run-to-run different vectors with B-frames); a B-frame seen anyway
 *    restarts the pass;
 *  - GOP-parallel: H.264 with B-frames is cut at IDR pictures into one chunk
 *    per thread, each decoded by its own single-threaded decoder. Nothing
 *    after an IDR refers to anything before it, so every frame decodes as in
 *    one sequential pass; the chunking is checked (frame counts, every
 *    frame's timestamp at its index, no decode errors) and abandoned for
 *    slice threading when a check fails.
 * A stream with decode errors is always decoded again with one decoder
 * thread (FFmpeg's error concealment depends on the thread count). */
#include "select/pass.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/frame.h>

#include "common/timer.h"
#include "select/energy.h"
#include "select/refring.h"
#include "video/resize.h"
#include "video/rgb.h"

/* ---- one sampled frame's work ---- */

static void job_run(void *arg)
{
    slot_job *j = arg;
    double t0 = ovx_now_ms();
    const AVFrame *f = j->cur;
    const AVFrame *y = j->me.luma, *prev = j->prev;
    if (j->estimate && prev) {
        j->rc = ovx_mv_estimate(y->data[0], y->linesize[0], prev->data[0], prev->linesize[0],
                                f->width, f->height, j->p->search, &j->mv, &j->err);
        if (j->rc < 0)
            return;
    }
    j->vectors = j->mv.n;
    if (j->estimate)
        j->mv_source = prev ? "estimate" : "none";
    ovx_energy_input in = {
        .cur = y->data[0], .cur_stride = y->linesize[0],
        .prev = prev ? prev->data[0] : NULL, .prev_stride = prev ? prev->linesize[0] : 0,
        .W = f->width, .H = f->height, .rotation = j->rotation, .mv = j->mv.v, .n_mv = j->mv.n,
    };
    if (j->estimate) {
        /* estimated vectors match against the adjacent frame */
        in.n_past = prev ? 1 : 0;
        in.past[0] = (ovx_energy_ref){in.prev, in.prev_stride, 1};
    } else {
        ovx_refset_to_energy(&j->past, in.past, &in.n_past);
        ovx_refset_to_energy(&j->fut, in.fut, &in.n_fut);
    }
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
    ovx_refpic_clear(&j->me);
    ovx_refset_clear(&j->past);
    ovx_refset_clear(&j->fut);
}

void ovx_slot_job_clear(slot_job *j)
{
    av_frame_free(&j->cur);
    av_frame_free(&j->prev);
    ovx_refpic_clear(&j->me);
    ovx_refset_clear(&j->past);
    ovx_refset_clear(&j->fut);
    ovx_mv_list_free(&j->mv);
    free(j->rgb);
    memset(j, 0, sizeof *j);
    j->dup_of = -1;
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

/* ---- one decoder over a range of packets ---- */

typedef struct chunk {
    run_ctx *c;
    ovx_pool *pool;
    int64_t first, end;      /* packet range [first, end), end 0: to the end */
    int threads, frame_threads, chunked;
    AVFrame *prev;           /* previous frame's luma; after the run: the chunk's last */
    ovx_ref_ring ring;       /* reference pictures since the last keyframe */
    int wait[OVX_SELECT_SLOTS]; /* targets waiting for future reference pictures */
    int n_wait;
    int held;                /* target waiting for the previous chunk's last frame, -1 */
    double *times;
    int64_t decoded, cap, corrupt, bad, packets;
    int read_error;
    int restart;             /* frame threads met a B-frame */
    int mismatch;            /* chunk checks failed */
    int rc;
    ovx_error err;
} chunk;

static void submit(chunk *k, slot_job *j)
{
    if (j->hold || j->need_next || j->submitted)
        return;
    j->submitted = 1;
    ovx_pool_submit(k->pool, job_run, j);
}

static int offer_future(chunk *k, const ovx_refpic *rp, ovx_error *err);

static int on_frame(chunk *k, const ovx_video_frame *vf, int *t, int want_estimate, ovx_error *err)
{
    run_ctx *c = k->c;
    const ovx_select_params *p = c->p;
    if (k->decoded == k->cap) {
        int64_t cap = k->cap ? 2 * k->cap : 1024;
        double *nt = realloc(k->times, (size_t)cap * sizeof *nt);
        if (!nt)
            return ovx_error_set(err, OVX_ENOMEM, "out of memory");
        k->times = nt;
        k->cap = cap;
    }
    k->times[k->decoded++] = vf->seconds;
    k->corrupt += vf->corrupt;
    ovx_refpic rp;
    int rc = ovx_refpic_make(c->scan, vf->frame, vf->index, 0, &rp, err);
    if (rc < 0)
        return rc;
    rc = offer_future(k, &rp, err);
    if (rc < 0)
        goto out;
    if (rp.key)
        ovx_ref_ring_clear(&k->ring);
    int first = *t;
    while (*t < c->F && c->idx[*t] == vf->index) {
        int ti = (*t)++;
        slot_job *j = &c->jobs[ti];
        c->pict[ti] = vf->pict_type;
        c->pts[ti] = vf->pts;
        c->secs[ti] = vf->seconds;
        c->corrupt_slot[ti] = vf->corrupt;
        if (ti != first) {
            j->dup_of = first;
            continue;
        }
        j->dup_of = -1;
        j->p = p;
        j->rotation = c->info.rotation;
        j->cur = ref_of(vf->frame, err);
        j->prev = k->prev ? ref_of(k->prev, err) : NULL;
        j->me = rp;
        j->me.luma = ref_of(rp.luma, err);
        if (!j->cur || (k->prev && !j->prev) || !j->me.luma) {
            rc = err->code;
            goto out;
        }
        if (!k->prev && k->chunked && k->first > 0) {
            j->hold = 1;
            k->held = ti;
        }
        int has_sd = ovx_mv_frame_has_side_data(vf->frame);
        if (!want_estimate && (has_sd || vf->pict_type == 'I' || p->mv_source == OVX_MV_CODEC)) {
            rc = ovx_mv_from_frame(vf->frame, &j->mv, err);
            if (rc < 0)
                goto out;
            j->mv_source = has_sd ? "codec" : "none";
        } else {
            /* estimation: asked for, a decoder without vectors (then on
             * I-frames too: for intra-only streams it is the only motion
             * signal), or (auto) an inter frame without side data (MPEG
             * decoders export none for the frame flushed at the end) */
            j->estimate = want_estimate || vf->pict_type != 'I';
            j->mv_source = "none";
        }
        rc = ovx_ref_ring_past(&k->ring, &j->me, &j->past, err);
        if (rc < 0)
            goto out;
        j->need_next = 0;
        for (int64_t m = 0; m < j->mv.n && !j->estimate; m++)
            j->need_next |= j->mv.v[m].source > 0;
        if (j->need_next)
            k->wait[k->n_wait++] = ti;
        submit(k, j);
    }
    rc = ovx_ref_ring_push(&k->ring, &rp, err);
    if (rc < 0)
        goto out;
    av_frame_free(&k->prev);
    k->prev = rp.luma;
    rp.luma = NULL;
out:
    ovx_refpic_clear(&rp);
    return rc;
}

/* frames whose future vectors wait for reference pictures get the one just
 * decoded offered; complete ones are submitted */
static int offer_future(chunk *k, const ovx_refpic *rp, ovx_error *err)
{
    int n = 0;
    for (int i = 0; i < k->n_wait; i++) {
        slot_job *j = &k->c->jobs[k->wait[i]];
        int rc = ovx_ref_offer_future(&k->ring, &j->me, rp, &j->fut, err);
        if (rc < 0)
            return rc;
        if (j->fut.done) {
            j->need_next = 0;
            submit(k, j);
        } else {
            k->wait[n++] = k->wait[i];
        }
    }
    k->n_wait = n;
    return OVX_OK;
}

/* end of the chunk or stream: the waiting frames take what they have */
static void release_waiting(chunk *k)
{
    for (int i = 0; i < k->n_wait; i++) {
        slot_job *j = &k->c->jobs[k->wait[i]];
        j->need_next = 0;
        submit(k, j);
    }
    k->n_wait = 0;
}

static void chunk_run(chunk *k)
{
    run_ctx *c = k->c;
    const ovx_select_params *p = c->p;
    ovx_video_open_params op = {.threads = k->threads, .frame_threads = k->frame_threads,
                                .export_mvs = p->mv_source != OVX_MV_ESTIMATE, .max_pixels = p->max_pixels,
                                .first_packet = k->first, .end_packet = k->end, .packets = c->scan};
    ovx_video_reader *rd = NULL;
    k->rc = ovx_video_open(c->path, &op, &rd, &k->err);
    if (k->rc < 0)
        return;
    const ovx_video_info *info = ovx_video_get_info(rd);
    int want_estimate = p->mv_source == OVX_MV_ESTIMATE ||
                        (p->mv_source == OVX_MV_AUTO && !info->codec_exports_mvs);
    int t = 0;
    while (t < c->F && c->idx[t] < k->first)
        t++;
    for (;;) {
        ovx_video_frame vf;
        int rc = ovx_video_next(rd, &vf, &k->err);
        if (rc < 0) {
            k->rc = rc;
            break;
        }
        if (rc == 0)
            break;
        if (k->frame_threads && !want_estimate && vf.pict_type == 'B') {
            k->restart = 1;
            break;
        }
        if (k->chunked) {
            /* each frame must be the one the packet scan put at its index */
            const double *st = c->scan->times;
            if ((k->end > 0 && vf.index >= k->end) || vf.index >= c->scan->n || !st ||
                vf.seconds != st[vf.index]) {
                k->mismatch = 1;
                break;
            }
        }
        rc = on_frame(k, &vf, &t, want_estimate, &k->err);
        if (rc < 0) {
            k->rc = rc;
            break;
        }
    }
    if (k->chunked && !k->mismatch && !k->restart && k->rc == OVX_OK &&
        k->decoded != (k->end > 0 ? k->end : c->scan->n) - k->first)
        k->mismatch = 1;
    /* frames still waiting for future reference pictures take what they
     * have: a chunk ends before an IDR keyframe, where a sequential pass
     * stops looking too */
    if (k->rc == OVX_OK && !k->restart && !k->mismatch)
        release_waiting(k);
    ovx_ref_ring_clear(&k->ring);
    k->bad = ovx_video_bad_packets(rd);
    k->packets = ovx_video_packets(rd);
    /* after a decode error a fresh decoder and the sequential one may
     * conceal differently: damaged streams are decoded sequentially */
    if (k->chunked && (k->corrupt > 0 || k->bad > 0))
        k->mismatch = 1;
    k->read_error = ovx_video_read_error(rd);
    ovx_video_close(rd);
}

static void *chunk_thread(void *arg)
{
    chunk_run(arg);
    return NULL;
}

/* IDR packet indices splitting n packets into up to T chunks of similar
 * size; returns the number of chunks (1: no useful split). */
static int plan_chunks(const ovx_packet_scan *s, int T, int64_t *starts)
{
    int nk = 1;
    starts[0] = 0;
    for (int q = 1; q < T; q++) {
        int64_t target = s->n * q / T, best = -1;
        for (int64_t i = 0; i < s->n_idr; i++) {
            int64_t v = s->idr[i];
            if (v <= starts[nk - 1])
                continue;
            if (best < 0 || llabs(v - target) < llabs(best - target))
                best = v;
        }
        if (best > starts[nk - 1] && best < s->n)
            starts[nk++] = best;
    }
    return nk;
}

int ovx_decode_pass(run_ctx *c, ovx_pool *pool, ovx_error *err)
{
    const ovx_select_params *p = c->p;
    for (int i = 0; i < c->F; i++)
        ovx_slot_job_clear(&c->jobs[i]);
    free(c->times);
    c->times = NULL;
    c->decoded = c->corrupt = c->bad = c->packets = 0;
    c->read_error = 0;

    /* stream facts (from the packet scan's open: no extra open, whose
     * stream probing decodes frames) decide the threading; a file the
     * decoder rejects fails in chunk_run with the same message */
    int rc;
    c->info = c->scan->info;
    int codec_vectors = !(p->mv_source == OVX_MV_ESTIMATE ||
                          (p->mv_source == OVX_MV_AUTO && !c->info.codec_exports_mvs));
    int T = p->threads > 64 ? 64 : p->threads;
    if (c->single_decoder)
        T = 1;
    int64_t starts[64];
    int nk = 1;
    int frame_threads = T > 1 && c->frame_threads_ok && (!codec_vectors || c->info.has_b_frames == 0);
    if (T > 1 && !frame_threads && c->gop_ok && c->scan->times && c->scan->n_idr > 1)
        nk = plan_chunks(c->scan, T, starts);
    c->threading = nk > 1 ? "gop" : frame_threads ? "frame" : "slice";

    chunk *ks = calloc((size_t)nk, sizeof *ks);
    pthread_t *th = calloc((size_t)nk, sizeof *th);
    char *started = calloc((size_t)nk, 1);
    if (!ks || !th || !started) {
        free(ks), free(th), free(started);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (decode threads)");
    }
    double t0 = ovx_now_ms();
    for (int i = 0; i < nk; i++) {
        chunk *k = &ks[i];
        k->c = c;
        k->pool = pool;
        k->chunked = nk > 1;
        k->first = nk > 1 ? starts[i] : 0;
        k->end = nk > 1 && i + 1 < nk ? starts[i + 1] : 0;
        k->threads = nk > 1 ? 1 : T;
        k->frame_threads = nk > 1 ? 0 : frame_threads;
        k->held = -1;
        ovx_ref_ring_init(&k->ring, c->scan->codec_id, p->ref_candidates);
    }
    if (nk == 1) {
        chunk_run(&ks[0]);
    } else {
        for (int i = 0; i < nk; i++)
            started[i] = pthread_create(&th[i], NULL, chunk_thread, &ks[i]) == 0;
        for (int i = 0; i < nk; i++) {
            if (started[i])
                pthread_join(th[i], NULL);
            else
                chunk_run(&ks[i]);
        }
    }
    /* jobs on the first frame of a chunk get the previous chunk's last frame */
    rc = OVX_OK;
    int restart = 0;
    for (int i = 0; i < nk; i++) {
        chunk *k = &ks[i];
        if (k->rc < 0 && rc == OVX_OK) {
            rc = k->rc;
            *err = k->err;
        }
        if (k->restart) {
            restart = 1;
            c->frame_threads_ok = 0;
        }
        if (k->mismatch) {
            restart = 1;
            c->gop_ok = 0;
        }
    }
    if (rc == OVX_OK && !restart) {
        for (int i = 1; i < nk; i++) {
            if (ks[i].held < 0)
                continue;
            slot_job *j = &c->jobs[ks[i].held];
            if (ks[i - 1].prev) {
                j->prev = ref_of(ks[i - 1].prev, err);
                if (!j->prev) {
                    rc = err->code;
                    break;
                }
            }
            j->hold = 0;
            submit(&ks[i], j);
        }
    }
    ovx_pool_wait(pool);
    c->decode_ms = ovx_now_ms() - t0;
    int64_t total = 0;
    for (int i = 0; i < nk; i++)
        total += ks[i].decoded;
    c->times = malloc((size_t)(total > 0 ? total : 1) * sizeof *c->times);
    if (!c->times && rc == OVX_OK)
        rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
    for (int i = 0; i < nk; i++) {
        chunk *k = &ks[i];
        if (c->times && k->decoded)
            memcpy(c->times + c->decoded, k->times, (size_t)k->decoded * sizeof *k->times);
        c->decoded += k->decoded;
        c->corrupt += k->corrupt;
        c->bad += k->bad;
        c->packets += k->packets;
        c->read_error |= k->read_error;
        free(k->times);
        av_frame_free(&k->prev);
    }
    free(ks), free(th), free(started);
    if (rc < 0)
        return rc;
    /* FFmpeg conceals errors differently with more than one decoder thread
     * (slice-threaded H.264 included): a damaged stream is decoded again
     * with a single decoder thread, so the output never depends on --threads */
    if (!restart && T > 1 && (c->corrupt > 0 || c->bad > 0)) {
        c->single_decoder = 1;
        restart = 1;
    }
    if (restart)
        return OVX_PASS_RESTART;
    for (int i = 0; i < c->F; i++)
        if (c->jobs[i].submitted && c->jobs[i].rc < 0) {
            *err = c->jobs[i].err;
            return c->jobs[i].rc;
        }
    return OVX_OK;
}
