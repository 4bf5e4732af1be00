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
 * thread (FFmpeg's error concealment depends on the thread count).
 * Where the packet scan knows each packet's display index and reference
 * status, non-reference pictures that no sampled frame needs (as itself or
 * as its previous frame) are not sent to the decoder at all: nothing refers
 * to them, so every other frame decodes to the same bytes; each frame that
 * comes out is checked against its expected index and timestamp, and any
 * surprise (or damage) decodes everything again. What to decode (chunks,
 * plan segments, skipped pictures) is decided in plan.c. */
#include "select/pass.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/codec_id.h>
#include <libavutil/frame.h>

#include "common/timer.h"
#include "select/energy.h"
#include "select/plan.h"
#include "select/refring.h"
#include "video/luma.h"
#include "video/resize.h"
#include "video/refpic.h"
#include "video/rgb.h"

/* ---- one sampled frame's work ---- */

static int rgb_rows_fill(void *ctx, int y, int n, uint8_t *dst, int dstride, ovx_error *err)
{
    return ovx_rgb_rows_get(ctx, y, n, dst, dstride, err);
}

/* The frame's 224x224 RGB crop (PIL-exact shortest-edge bicubic + centre
 * crop) into crop; unrotated frames convert to RGB only the part the resize
 * reads, a strip of rows at a time. */
static int keep_frame(const AVFrame *f, int rotation, uint8_t *crop, ovx_error *err)
{
    int rc;
    if (rotation == 0) {
        ovx_rect r = ovx_resize_short_crop_source(f->width, f->height, OVX_SELECT_SIZE);
        ovx_rgb_rows *rows;
        rc = ovx_rgb_rows_open(f, r.x, r.y, r.w, r.h, &rows, err);
        if (rc == OVX_OK)
            rc = ovx_resize_short_crop_rows(rgb_rows_fill, rows, r, f->width, f->height, OVX_SELECT_SIZE, crop, err);
        ovx_rgb_rows_close(rows);
    } else {
        uint8_t *rgb = NULL;
        int w, h;
        rc = ovx_frame_to_rgb(f, rotation, &rgb, &w, &h, err);
        if (rc == OVX_OK)
            rc = ovx_resize_short_crop(rgb, w, h, w * 3, OVX_SELECT_SIZE, crop, err);
        free(rgb);
    }
    return rc < 0 ? rc : OVX_OK;
}

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
        .interp = j->estimate ? OVX_INTERP_BILINEAR : (ovx_interp)j->interp,
        .refine = j->estimate,
    };
    if (j->estimate) {
        /* estimated vectors match against the previous picture */
        in.n_past = prev ? 1 : 0;
        in.past[0] = (ovx_energy_ref){in.prev, in.prev_stride, j->prev_dist > 0 ? j->prev_dist : 1};
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
        j->rc = j->rgb_dst ? keep_frame(f, j->rotation, j->rgb_dst, &j->err)
                           : ovx_error_set(&j->err, OVX_EINTERNAL, "no room for the kept frame");
        if (j->rc < 0)
            return;
        j->rgb = j->rgb_dst;
        j->rgb_ms = ovx_now_ms() - t1;
    }
    /* the reference frames and vectors are no longer needed (64 vector
     * lists of a few hundred kB at 1080p, kept to the end of the pass, made
     * the heap grow under the decoder's per-frame buffers: fresh pages) */
    av_frame_free(&j->cur);
    av_frame_free(&j->prev);
    ovx_refpic_clear(&j->me);
    ovx_refset_clear(&j->past);
    ovx_refset_clear(&j->fut);
    ovx_mv_list_free(&j->mv);
}

void ovx_slot_job_clear(slot_job *j)
{
    av_frame_free(&j->cur);
    av_frame_free(&j->prev);
    ovx_refpic_clear(&j->me);
    ovx_refset_clear(&j->past);
    ovx_refset_clear(&j->fut);
    ovx_mv_list_free(&j->mv);
    memset(j, 0, sizeof *j); /* rgb points into run_ctx.rgb_block */
    j->dup_of = -1;
}

static AVFrame *ref_of(const AVFrame *f, ovx_error *err)
{
    AVFrame *r = av_frame_alloc();
    if (!r || ovx_frame_ref_pictures(r, f) < 0) {
        av_frame_free(&r);
        ovx_error_set(err, OVX_ENOMEM, "out of memory (frame reference)");
        return NULL;
    }
    return r;
}

/* A frame handed to a saliency job: a reference, or after damage a copy
 * made in the decoding thread (a concealing decoder may write again into a
 * frame it returned while a worker reads it). */
static AVFrame *job_frame(const run_ctx *c, const AVFrame *f, ovx_error *err)
{
    if (!c->careful)
        return ref_of(f, err);
    AVFrame *r = av_frame_alloc();
    if (r) {
        r->format = f->format;
        r->width = f->width;
        r->height = f->height;
    }
    if (!r || av_frame_get_buffer(r, 0) < 0 || av_frame_copy(r, f) < 0 || av_frame_copy_props(r, f) < 0) {
        av_frame_free(&r);
        ovx_error_set(err, OVX_ENOMEM, "out of memory (frame copy)");
        return NULL;
    }
    return r;
}

/* ---- one decoder over a range of packets ---- */

typedef struct chunk {
    run_ctx *c;
    ovx_pool *pool;
    int64_t first, end;      /* packet range [first, end), end 0: to the end */
    int64_t first_index;     /* display index of the chunk's first frame */
    int open_gop_start;      /* a plan segment from a recovery-point I picture */
    int64_t stop;            /* >= 0: stop after the frame of this index (decode plan) */
    int stopped;
    int skipping;            /* unneeded non-reference frames are not decoded (c->skip) */
    int planned;             /* a decode-plan segment */
    int threads, frame_threads, chunked;
    AVFrame *prev;           /* previous picture's luma (the last frame, or with codec
                              * vectors the last reference picture); after the run: the
                              * chunk's last */
    int64_t prev_index;      /* its display index */
    int prev_is_ref;         /* prev: reference pictures only (vectors from the codec) */
    ovx_ref_ring ring;       /* reference pictures since the last keyframe */
    int wait[OVX_SELECT_SLOTS]; /* targets waiting for future reference pictures */
    int n_wait;
    int dwait[OVX_SELECT_SLOTS]; /* MPEG-4 B-VOP targets waiting for the next anchor */
    int n_dwait;
    int64_t anchor;          /* display index of the last non-B frame, -1 */
    ovx_mv_list anchor_mv;   /* the last anchor with vectors: its past vectors */
    int anchor_td;           /* and their span (display distance to its past anchor), 0: none */
    int held;                /* target waiting for the previous chunk's last frame, -1 */
    double *times;
    int64_t decoded, cap, corrupt, bad, packets;
    int read_error;
    int restart;             /* frame threads met a B-frame */
    int mismatch;            /* chunk checks failed */
    int disagree;            /* a frame is not the one the packet scan put at its index */
    int rc;
    ovx_error err;
} chunk;

static void submit(chunk *k, slot_job *j)
{
    if (j->hold || j->need_next || j->need_anchor || j->submitted)
        return;
    j->submitted = 1;
    ovx_pool_submit(k->pool, job_run, j);
}

static int offer_future(chunk *k, const ovx_refpic *rp, ovx_error *err);

/* MPEG-4 Part 2 B-VOPs waiting for the next anchor (I, P or S-VOP, vf; NULL
 * at the end): their vectors are the anchor's past vectors scaled by tb / td
 * (tb: the B-VOP's display distance to the past anchor, td: the anchor's;
 * the assumption of the standard's direct mode, motion uniform between the
 * anchors). When the anchor carries none (an I-VOP, the frame flushed at
 * the end), the last anchor with vectors before them is taken the same way
 * (its motion continued); without one their motion is estimated (with
 * --mv-source codec: none). The next
 * anchor's past vectors are then kept in k->anchor_mv. */
static int derive_direct(chunk *k, const ovx_video_frame *vf, ovx_error *err)
{
    if (vf && vf->pict_type != 'I' && ovx_mv_frame_has_side_data(vf->frame) && vf->index > k->anchor) {
        int rc = ovx_mv_from_frame(vf->frame, &k->anchor_mv, err);
        if (rc < 0)
            return rc;
        int64_t n = 0;
        for (int64_t m = 0; m < k->anchor_mv.n; m++)
            if (k->anchor_mv.v[m].source < 0)
                k->anchor_mv.v[n++] = k->anchor_mv.v[m];
        k->anchor_mv.n = n;
        k->anchor_td = (int)(vf->index - k->anchor);
    }
    for (int i = 0; i < k->n_dwait; i++) {
        slot_job *j = &k->c->jobs[k->dwait[i]];
        if (k->anchor_td > 0) {
            int rc = ovx_mv_list_scaled(&k->anchor_mv, (float)j->direct_tb, (float)k->anchor_td, &j->mv, err);
            if (rc < 0)
                return rc;
            j->mv_source = "codec";
        } else {
            /* (--mv-source codec: no vectors rather than estimated ones) */
            j->mv.n = 0;
            j->estimate = k->c->p->mv_source != OVX_MV_CODEC;
            j->mv_source = "none";
        }
        j->need_anchor = 0;
        submit(k, j);
    }
    k->n_dwait = 0;
    return OVX_OK;
}

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
    int rc = ovx_refpic_make(c->scan, vf->frame, vf->index, c->careful, &rp, err);
    if (rc < 0)
        return rc;
    rc = offer_future(k, &rp, err);
    if (rc >= 0 && vf->pict_type != 'B' && !want_estimate && ovx_mv_stale_b(c->scan->codec_id, 'B'))
        rc = derive_direct(k, vf, err);
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
        j->rgb_dst = c->rgb_block ? c->rgb_block + (size_t)ti * OVX_SELECT_SIZE * OVX_SELECT_SIZE * 3 : NULL;
        j->rotation = c->info.rotation;
        j->interp = c->scan->codec_id == AV_CODEC_ID_H264 ? OVX_INTERP_H264 : OVX_INTERP_BILINEAR;
        /* without kept frames the job reads luma only: the chroma planes go
         * back to the decoder (video/framepool.h) */
        j->cur = p->keep_frames ? job_frame(c, vf->frame, err) : ref_of(rp.luma, err);
        j->prev = k->prev ? job_frame(c, k->prev, err) : NULL;
        j->prev_dist = k->prev ? (int)(vf->index - k->prev_index) : 1;
        j->me = rp;
        j->me.luma = ref_of(rp.luma, err);
        if (!j->cur || (k->prev && !j->prev) || !j->me.luma) {
            rc = err->code;
            goto out;
        }
        if (!k->prev && k->chunked && k->first_index > 0) {
            j->hold = 1;
            k->held = ti;
        }
        /* FFmpeg's MPEG-4 Part 2 decoder never writes a B-VOP's vectors
         * (h263dec.c updates them for other VOPs only): what it exports for
         * one is what its picture buffer held before, an earlier P-VOP's
         * vectors for list 0 and zeros for list 1, which depends on which
         * frames were decoded before (video/mv.h ovx_mv_stale_b). Not used:
         * the B-VOP's vectors come from the next anchor (derive_direct), or
         * without an anchor before it are estimated. */
        int stale = ovx_mv_stale_b(c->scan->codec_id, vf->pict_type);
        if (stale && !want_estimate && k->anchor >= 0) {
            j->mv.n = 0;
            j->direct_tb = (int)(vf->index - k->anchor);
            j->need_anchor = 1;
            k->dwait[k->n_dwait++] = ti;
            rc = ovx_ref_ring_past(&k->ring, &j->me, &j->past, err);
            if (rc < 0)
                goto out;
            continue;
        }
        int has_sd = !stale && ovx_mv_frame_has_side_data(vf->frame);
        /* an I-frame carries no vectors: in auto mode its motion is
         * estimated against the previous frame when the stream has one
         * (decided by the index, not by what this chunk has seen, so every
         * thread count decides alike) */
        int intra_est = vf->pict_type == 'I' && !has_sd && p->mv_source == OVX_MV_AUTO && vf->index > 0;
        if (!want_estimate && !intra_est && (has_sd || vf->pict_type == 'I' || p->mv_source == OVX_MV_CODEC)) {
            if (stale)
                j->mv.n = 0;
            else
                rc = ovx_mv_from_frame(vf->frame, &j->mv, err);
            if (rc < 0)
                goto out;
            j->mv_source = has_sd ? "codec" : "none";
        } else {
            /* estimation: asked for, a decoder without vectors (then on
             * I-frames too: for intra-only streams it is the only motion
             * signal), or (auto) an inter frame without side data (MPEG
             * decoders export none for the frame flushed at the end) */
            j->estimate = want_estimate || intra_est || vf->pict_type != 'I';
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
    if (vf->pict_type != 'B')
        k->anchor = vf->index;
    if (!k->prev_is_ref || rp.ref) {
        av_frame_free(&k->prev);
        k->prev = rp.luma;
        k->prev_index = vf->index;
        rp.luma = NULL;
    }
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
    int rc = derive_direct(k, NULL, &k->err);
    if (rc < 0 && k->rc == OVX_OK)
        k->rc = rc;
    for (int i = 0; i < k->n_wait; i++) {
        slot_job *j = &k->c->jobs[k->wait[i]];
        j->need_next = 0;
        submit(k, j);
    }
    k->n_wait = 0;
}

/* a plan or a pass that skips frames relies on the scan's display order:
 * the frame must come from the packet it puts at the frame's index */
static int from_planned_packet(const chunk *k, const ovx_video_frame *vf)
{
    const run_ctx *c = k->c;
    if (!(k->skipping || k->planned) || !c->pkt_of || vf->index < 0 || vf->index >= c->scan->n)
        return 1;
    int64_t pk;
    ovx_frame_reference(c->scan, vf->frame, &pk);
    return pk == c->pkt_of[vf->index];
}

/* frames a chunk decodes from display index a to b (exclusive) */
static int64_t expected_frames(const chunk *k, int64_t a, int64_t b)
{
    if (!k->skipping)
        return b - a;
    int64_t n = 0;
    for (int64_t i = a; i < b && i < k->c->scan->n; i++)
        n += !k->c->skip[i];
    return n;
}

static void chunk_run(chunk *k)
{
    run_ctx *c = k->c;
    const ovx_select_params *p = c->p;
    ovx_video_open_params op = {.threads = k->threads, .frame_threads = k->frame_threads,
                                .export_mvs = p->mv_source != OVX_MV_ESTIMATE, .max_pixels = p->max_pixels,
                                .first_packet = k->first, .end_packet = k->end, .packets = c->scan,
                                .want_mvs = p->decode_all ? NULL : c->mv_want, .n_want = c->n_want,
                                .skip = k->skipping ? c->skip : NULL, .first_index = k->first_index,
                                .open_gop_start = k->open_gop_start, .source = c->mem};
    ovx_video_reader *rd = NULL;
    k->rc = ovx_video_open(c->path, &op, &rd, &k->err);
    if (k->rc < 0)
        return;
    const ovx_video_info *info = ovx_video_get_info(rd);
    int want_estimate = p->mv_source == OVX_MV_ESTIMATE ||
                        (p->mv_source == OVX_MV_AUTO && !info->codec_exports_mvs);
    int t = 0;
    while (t < c->F && c->idx[t] < k->first_index)
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
        /* each frame should be the one the packet scan put at its index
         * (its time; without times in the container, a plan's frame must
         * come from the packet at its index) */
        const double *st = c->scan->times;
        if ((k->end > 0 && !k->planned && vf.index >= k->end) || vf.index >= c->scan->n ||
            (st ? vf.seconds != st[vf.index] : k->chunked && !(k->planned && c->pkt_of)) ||
            !from_planned_packet(k, &vf)) {
            k->disagree = 1;
            if (k->chunked || k->skipping) {
                k->mismatch = 1;
                break;
            }
        }
        rc = on_frame(k, &vf, &t, want_estimate, &k->err);
        if (rc < 0) {
            k->rc = rc;
            break;
        }
        if (k->stop >= 0 && vf.index >= k->stop) {
            k->stopped = 1;
            break;
        }
    }
    if ((k->chunked || k->skipping) && !k->mismatch && !k->restart && k->rc == OVX_OK &&
        k->decoded != expected_frames(k, k->first_index, k->stopped ? k->stop + 1 : k->end > 0 ? k->end : c->scan->n))
        k->mismatch = 1;
    /* a planned segment that stops while frames still wait for future
     * reference pictures would give them fewer candidates than a full
     * decode (unless only skipped non-reference pictures, which are never
     * candidates, lie between the stop and the end of their search), and
     * one with a held target started too late: either is a surprise (the
     * plan is dropped and everything decoded) */
    for (int i = 0; k->stopped && i < k->n_wait; i++)
        if (!c->pkt_of || ovx_plan_future_need(c, k->ring.max_fut, c->idx[k->wait[i]]) > k->stop)
            k->mismatch = 1;
    if (k->stop >= 0 && k->held >= 0)
        k->mismatch = 1;
    /* frames still waiting for future reference pictures take what they
     * have: a chunk ends before an IDR keyframe, where a sequential pass
     * stops looking too */
    if (k->rc == OVX_OK && !k->restart && !k->mismatch)
        release_waiting(k);
    ovx_ref_ring_clear(&k->ring);
    ovx_mv_list_free(&k->anchor_mv);
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
    /* a decoder without error concealment decodes damage one way with one
     * thread and others with frame or slice threads (HEVC wavefronts), and
     * flags none of it: one thread always (video/reader.h) */
    if (c->careful || !ovx_video_codec_conceals(c->scan->codec_id))
        T = 1;
    int64_t starts[OVX_SELECT_SLOTS], ends[OVX_SELECT_SLOTS], stops[OVX_SELECT_SLOTS], start_idx[OVX_SELECT_SLOTS];
    int nk = 1;
    int frame_threads = T > 1 && c->frame_threads_ok && (!codec_vectors || c->info.has_b_frames == 0);
    /* vectors are read on sampled frames only */
    free(c->mv_want);
    c->n_want = c->F > 0 ? c->idx[c->F - 1] + 1 : 0;
    c->mv_want = calloc((size_t)(c->n_want > 0 ? c->n_want : 1), 1);
    if (!c->mv_want)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    for (int i = 0; i < c->F; i++)
        c->mv_want[c->idx[i]] = 1;
    if (!c->pkt_of && c->scan->disp && c->scan->pos_sorted && !p->decode_all) {
        /* display index -> packet (decode order) */
        c->pkt_of = malloc((size_t)c->scan->n * sizeof *c->pkt_of);
        for (int64_t j = 0; c->pkt_of && j < c->scan->n; j++)
            c->pkt_of[c->scan->disp[j]] = j;
    }
    /* with codec vectors a frame's previous picture is the nearest reference
     * picture, which no skip plan leaves out; with estimated ones the frame
     * before it (on_frame and plan_skip both follow this) */
    int64_t skip_n = ovx_plan_skip(c, codec_vectors);
    int plan = c->plan_ok && !p->decode_all
                   ? ovx_plan_segments(c, skip_n ? c->skip : NULL, starts, start_idx, ends, stops)
                   : 0;
    if (plan) {
        nk = plan;
        frame_threads = 0;
    } else if (T > 1 && !frame_threads && c->gop_ok && c->scan->times && c->scan->n_idr > 1) {
        nk = ovx_plan_chunks(c->scan, T, starts);
    }
    /* slice threads conceal a damaged H.264 picture differently from one
     * thread without always flagging it (seen on a byte-flipped B-pyramid
     * AVI, and run to run differently on an MPEG-TS cut inside its last
     * picture), so the damage check below cannot catch it; where neither a
     * plan nor GOP chunks nor frame threads are used on such a stream
     * without timestamps (AVI, raw) or whose last packet may be cut short
     * unseen (MPEG-TS/PS, elementary streams), it is decoded with one
     * thread */
    if (!plan && nk == 1 && !frame_threads && (!c->scan->times || !c->scan->sized_packets) &&
        c->info.has_b_frames && codec_vectors)
        T = 1;
    int skipping = skip_n > 0 && (plan || (nk == 1 && !frame_threads));
    c->threading = plan ? "plan" : nk > 1 ? "gop" : frame_threads ? "frame" : "slice";

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
        k->chunked = nk > 1 || plan;
        k->first = k->chunked ? starts[i] : 0;
        k->first_index = plan ? start_idx[i] : k->first;
        k->open_gop_start = plan && k->first > 0 && c->scan->codec_id == AV_CODEC_ID_H264 &&
                            !ovx_plan_is_idr(c->scan, k->first);
        k->end = plan ? ends[i] : nk > 1 && i + 1 < nk ? starts[i + 1] : 0;
        k->stop = plan ? stops[i] : -1;
        k->skipping = skipping;
        k->prev_is_ref = codec_vectors;
        k->planned = plan > 0;
        /* the last frame decoded before the stop */
        while (skipping && k->stop > k->first_index && c->skip[k->stop])
            k->stop--;
        k->threads = k->chunked ? 1 : T;
        k->frame_threads = k->chunked ? 0 : frame_threads;
        k->held = -1;
        k->anchor = -1;
        ovx_ref_ring_init(&k->ring, c->scan->codec_id, p->ref_candidates);
    }
    if (plan) {
        /* segments one after the other: saliency runs on the pool */
        for (int i = 0; i < nk; i++)
            chunk_run(&ks[i]);
    } else if (nk == 1) {
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
            if (plan || skipping) {
                c->plan_ok = 0; /* a surprise: decode everything */
                c->skip_ok = 0;
            } else {
                c->gop_ok = 0;
            }
        }
        if ((plan || skipping) && (k->corrupt > 0 || k->bad > 0 || k->read_error)) {
            restart = 1;
            c->plan_ok = 0;
            c->skip_ok = 0;
            c->careful = 1; /* damage: as below */
        }
    }
    if (restart && !plan && nk > 1 && p->threads > 1) {
        /* the chunks disagree with the packet scan: damage a multi-threaded
         * decoder may not flag; decode with one thread from now on */
        c->careful = 1;
    }
    if (rc == OVX_OK && !restart) {
        for (int i = 1; i < nk; i++) {
            if (ks[i].held < 0)
                continue;
            slot_job *j = &c->jobs[ks[i].held];
            if (ks[i - 1].prev) {
                j->prev = job_frame(c, ks[i - 1].prev, err);
                if (!j->prev) {
                    rc = err->code;
                    break;
                }
                j->prev_dist = (int)(c->idx[ks[i].held] - ks[i - 1].prev_index);
            }
            j->hold = 0;
            submit(&ks[i], j);
        }
    }
    ovx_pool_wait(pool);
    c->decode_ms = ovx_now_ms() - t0;
    int64_t total = 0;
    int disagree = 0;
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
        disagree |= k->disagree;
        free(k->times);
        av_frame_free(&k->prev);
    }
    free(ks), free(th), free(started);
    if (rc < 0)
        return rc;
    c->skipped = (plan || skipping) && !restart ? c->scan->n - c->decoded : 0;
    if ((plan || skipping) && !restart) {
        /* every decoded frame matched the scan: the full decode's count,
         * times and packets are the scan's */
        double *t = c->scan->times ? malloc((size_t)c->scan->n * sizeof *t) : NULL;
        if (c->scan->times && !t)
            return ovx_error_set(err, OVX_ENOMEM, "out of memory");
        if (t)
            memcpy(t, c->scan->times, (size_t)c->scan->n * sizeof *t);
        free(c->times);
        c->times = t;
        c->decoded = c->packets = c->scan->n;
    }
    /* FFmpeg conceals errors differently with more than one decoder thread
     * (slice-threaded H.264 included), and frame or slice threads do not
     * always flag the damage (a truncated packet, a broken slice): after any
     * sign of damage (flagged frames, failed or cut-short packets, a read
     * error) or when the decoded frames disagree with the packet scan, the
     * stream is decoded again with a single decoder thread, handing the
     * saliency workers copies of the frames, so the output never depends on
     * --threads; with --threads 1 too, since a concealing decoder may write
     * again into a frame it returned (a worker reading it then saw other
     * pixels than one reading the copy: a truncated MPEG-2 stream's last
     * picture, a byte-flipped 4-slice H.264 MP4) */
    disagree |= c->decoded != c->scan->n;
    int damaged = c->corrupt > 0 || c->bad > 0 || c->read_error || c->scan->corrupt_pkts > 0 ||
                  c->scan->end_rc != AVERROR_EOF;
    if (!restart && !c->careful && (damaged || disagree)) {
        c->careful = 1;
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
