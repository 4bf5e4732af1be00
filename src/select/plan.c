/* plan.c: what the decode pass decodes (see plan.h): GOP chunks per
 * thread, the decode plan's segments, the non-reference pictures skipped. */
#include "select/plan.h"

#include <stdlib.h>

#include <libavcodec/codec_id.h>
#include <libavutil/error.h>

#include "select/refring.h"
#include "video/refpic.h"

int ovx_plan_is_idr(const ovx_packet_scan *s, int64_t j)
{
    for (int64_t i = 0; i < s->n_idr; i++)
        if (s->idr[i] == j)
            return 1;
    return 0;
}

/* IDR packet indices splitting n packets into up to T chunks of similar
 * size; returns the number of chunks (1: no useful split). */
int ovx_plan_chunks(const ovx_packet_scan *s, int T, int64_t *starts)
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

/* The last display index a sampled frame x needs decoded for its future
 * (+1) vectors: its future candidates are reference pictures shown after it
 * (at most OVX_REF_MAX_AHEAD frames) but decoded before it, the first
 * max_fut of them (refring.c). Counted from the scan, keyframes included
 * (the ring never takes one, so this is never fewer frames than a full
 * decode offers); x itself when there is none (P and I pictures). */
int64_t ovx_plan_future_need(const run_ctx *c, int max_fut, int64_t x)
{
    const ovx_packet_scan *s = c->scan;
    int64_t need = x;
    int got = 0;
    for (int64_t d = x + 1; d <= x + OVX_REF_MAX_AHEAD && d < s->n && got < max_fut; d++) {
        int64_t j = c->pkt_of[d];
        if (s->ref[j] != OVX_PIC_NONREF && j < c->pkt_of[x]) {
            need = d;
            got++;
        }
    }
    return need;
}

/* Decode plan: for each sampled frame x the frames x-1 .. future_need(x)
 * (the residual's previous frame, the future reference pictures backward
 * vectors may use), decoded from the last random-access point shown at or
 * before x-1: an IDR picture, or (with display indices) an I picture with
 * a recovery-point SEI, whose leading pictures (decoded after it, shown
 * before it) are not decoded; the packets end after the last one such a
 * frame needs, so nothing after it in decode order is decoded; overlapping
 * or adjoining segments merge. Without display indices: x-1 ..
 * x+OVX_REF_MAX_AHEAD up to the next IDR. Needs H.264 with IDR positions,
 * the packets in memory and strictly increasing packet times or display
 * indices from the bitstream (frame i of the full decode is the packet the
 * scan puts at display index i: checked for every frame decoded, with its
 * packet). first[]: packets, first_index[]: display index of the first
 * frame. Returns the number of segments, 0 when the plan would not save at
 * least a fifth of the frames. */
int ovx_plan_segments(const run_ctx *c, const uint8_t *skip, int64_t *first, int64_t *first_index,
                         int64_t *end, int64_t *stop)
{
    const ovx_packet_scan *s = c->scan;
    int64_t n = s->n;
    int bitstream = s->disp_bitstream && c->pkt_of;
    /* H.264 from its IDR pictures (and open-GOP keyframes); HEVC and
     * MPEG-1/2 from their random-access points, with display indices */
    int h264 = s->codec_id == AV_CODEC_ID_H264;
    int mpeg12 = s->codec_id == AV_CODEC_ID_MPEG1VIDEO || s->codec_id == AV_CODEC_ID_MPEG2VIDEO;
    if (!s->kept || !(s->times || bitstream) || (h264 ? s->n_idr < 1 : !(c->pkt_of && s->rap)) ||
        s->end_rc != AVERROR_EOF || s->corrupt_pkts > 0)
        return 0;
    for (int64_t i = 1; s->times && i < n; i++)
        if (!(s->times[i] > s->times[i - 1]))
            return 0;
    /* random-access points: IDRs, and with display indices open-GOP I pictures */
    const int64_t *ra = c->pkt_of && s->rap ? s->rap : s->idr;
    int64_t n_ra = c->pkt_of && s->rap ? s->n_rap : s->n_idr;
    if (n_ra < 2)
        return 0;
    ovx_ref_ring proto;
    ovx_ref_ring_init(&proto, s->codec_id, c->p->ref_candidates);
    int nk = 0;
    for (int t = 0; t < c->F; t++) {
        int64_t x = c->idx[t];
        if (t > 0 && x == c->idx[t - 1])
            continue;
        int64_t lo = x > 0 ? x - 1 : 0, a = 0, ad = 0;
        int64_t hi = c->pkt_of ? ovx_plan_future_need(c, proto.max_fut, x)
                     : x + OVX_REF_MAX_AHEAD < n ? x + OVX_REF_MAX_AHEAD : n - 1;
        for (int64_t i = 0; i < n_ra; i++) {
            int64_t d = c->pkt_of ? s->disp[ra[i]] : ra[i];
            if (d <= lo && ra[i] >= a) {
                a = ra[i];
                ad = d;
            }
        }
        if (nk > 0 && ad <= stop[nk - 1] + 1) {
            if (hi > stop[nk - 1])
                stop[nk - 1] = hi;
        } else {
            first[nk] = a;
            first_index[nk] = ad;
            stop[nk++] = hi;
        }
    }
    int64_t total = 0;
    for (int i = 0; i < nk; i++) {
        end[i] = 0;
        if (c->pkt_of) {
            int64_t last = first[i];
            for (int64_t d = first_index[i]; d <= stop[i]; d++)
                if (!(skip && skip[d]) && c->pkt_of[d] > last)
                    last = c->pkt_of[d];
            /* MPEG-1/2 show an I/P picture when the next one is decoded; the
             * one a flush pushes out carries no vectors: the segment goes on
             * to the next reference picture */
            if (mpeg12 && s->ref) {
                int64_t r = -1, nr;
                for (int64_t d = first_index[i]; d <= stop[i]; d++)
                    if (s->ref[c->pkt_of[d]] != OVX_PIC_NONREF && c->pkt_of[d] > r)
                        r = c->pkt_of[d];
                for (nr = r + 1; nr < n && s->ref[nr] == OVX_PIC_NONREF; nr++)
                    ;
                if (nr > last)
                    last = nr < n ? nr : n - 1;
            }
            end[i] = last + 1 < n ? last + 1 : 0;
            total += last + 1 - first[i];
        } else {
            for (int64_t j = 0; j < s->n_idr; j++)
                if (s->idr[j] > stop[i]) {
                    end[i] = s->idr[j];
                    break;
                }
            total += stop[i] - first_index[i] + 1;
        }
        if (stop[i] == n - 1)
            stop[i] = -1; /* to the end of the stream */
    }
    return total * 5 <= n * 4 ? nk : 0;
}

/* The frames not to decode (c->skip, per display index): non-reference
 * pictures (from the scan, never a keyframe) that are neither sampled nor
 * (with estimated vectors) the frame before a sampled one. Needs
 * every packet's display index and a clean stream (damage is decoded
 * sequentially, frame by frame). H.264, HEVC, MPEG-1/2 and MPEG-4 Part 2
 * (whose B-VOPs' exported vectors are stale and not used, video/mv.h
 * ovx_mv_stale_b: skipping B-VOPs changed those, never the pixels).
 * Returns the number of frames skipped. */
int64_t ovx_plan_skip(run_ctx *c, int prev_is_ref)
{
    const ovx_packet_scan *s = c->scan;
    free(c->skip);
    c->skip = NULL;
    int id = s->codec_id;
    if (id != AV_CODEC_ID_H264 && id != AV_CODEC_ID_HEVC && id != AV_CODEC_ID_MPEG1VIDEO &&
        id != AV_CODEC_ID_MPEG2VIDEO && id != AV_CODEC_ID_MPEG4)
        return 0;
    if (!c->skip_ok || c->p->decode_all || !c->pkt_of || !s->ref || !s->key || s->end_rc != AVERROR_EOF ||
        s->corrupt_pkts > 0 || c->n_want < 1)
        return 0;
    c->skip = calloc((size_t)s->n, 1);
    if (!c->skip)
        return 0; /* decode everything */
    int64_t k = 0;
    for (int64_t j = 0; j < s->n; j++) {
        int64_t d = s->disp[j];
        int need = (d < c->n_want && c->mv_want[d]) || (!prev_is_ref && d + 1 < c->n_want && c->mv_want[d + 1]);
        /* the last packet is always decoded: a raw stream cut short there is
         * seen only by decoding it (no container flags it) */
        if (s->ref[j] == OVX_PIC_NONREF && !s->key[j] && !need && j + 1 < s->n) {
            c->skip[d] = 1;
            k++;
        }
    }
    return k;
}
