/* refring.c: candidate reference pictures per sampled frame (refring.h). */
#include "select/refring.h"

#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>

#include "video/luma.h"
#include "video/refpic.h"

/* forward candidates are looked for this many display frames ahead at most */

void ovx_ref_ring_init(ovx_ref_ring *r, int codec_id, int candidates)
{
    memset(r, 0, sizeof *r);
    int searched = codec_id == AV_CODEC_ID_H264 || codec_id == AV_CODEC_ID_HEVC;
    if (candidates > OVX_ENERGY_MAX_REFS)
        candidates = OVX_ENERGY_MAX_REFS;
    r->max_past = searched ? candidates : 1;
    r->max_fut = searched ? (candidates < 2 ? candidates : 2) : 1;
    r->cap = r->max_past + 1 < OVX_ENERGY_MAX_REFS ? r->max_past + 1 : OVX_ENERGY_MAX_REFS;
    r->idr_keys = searched;
}

void ovx_refpic_clear(ovx_refpic *p)
{
    av_frame_free(&p->luma);
    memset(p, 0, sizeof *p);
}

void ovx_ref_ring_clear(ovx_ref_ring *r)
{
    for (int i = 0; i < r->n; i++)
        ovx_refpic_clear(&r->pic[i]);
    r->n = 0;
}

int ovx_refpic_make(const struct ovx_packet_scan *s, const AVFrame *f, int64_t index, int copy,
                    ovx_refpic *out, ovx_error *err)
{
    memset(out, 0, sizeof *out);
    out->index = index;
    out->ref = ovx_frame_reference(s, f, &out->packet) != OVX_PIC_NONREF;
    out->key = f->key_frame != 0;
    return ovx_frame_luma8(f, copy, &out->luma, err);
}

static int add(ovx_refset *s, const ovx_refpic *p, int dist, ovx_error *err)
{
    AVFrame *l = av_frame_alloc();
    if (!l || av_frame_ref(l, p->luma) < 0) {
        av_frame_free(&l);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (reference picture)");
    }
    s->luma[s->n] = l;
    s->dist[s->n++] = dist;
    return OVX_OK;
}

/* decoded before cur, when both positions are known */
static int decoded_before(const ovx_refpic *a, const ovx_refpic *cur)
{
    return a->packet < 0 || cur->packet < 0 || a->packet < cur->packet;
}

int ovx_ref_ring_past(const ovx_ref_ring *r, const ovx_refpic *cur, ovx_refset *out, ovx_error *err)
{
    memset(out, 0, sizeof *out);
    for (int i = r->n - 1; i >= 0 && out->n < r->max_past; i--) {
        const ovx_refpic *p = &r->pic[i];
        if (p->index >= cur->index || !decoded_before(p, cur))
            continue;
        int rc = add(out, p, (int)(cur->index - p->index), err);
        if (rc < 0)
            return rc;
    }
    return OVX_OK;
}

int ovx_ref_ring_push(ovx_ref_ring *r, const ovx_refpic *p, ovx_error *err)
{
    if (p->key)
        ovx_ref_ring_clear(r);
    if (!p->ref)
        return OVX_OK;
    if (r->n >= r->cap) {
        ovx_refpic_clear(&r->pic[0]);
        memmove(r->pic, r->pic + 1, (size_t)(r->n - 1) * sizeof r->pic[0]);
        memset(&r->pic[--r->n], 0, sizeof r->pic[0]);
    }
    ovx_refpic *d = &r->pic[r->n];
    *d = *p;
    d->luma = av_frame_alloc();
    if (!d->luma || av_frame_ref(d->luma, p->luma) < 0) {
        av_frame_free(&d->luma);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (reference picture)");
    }
    r->n++;
    return OVX_OK;
}

int ovx_ref_offer_future(const ovx_ref_ring *r, const ovx_refpic *cur, const ovx_refpic *later,
                         ovx_refset *set, ovx_error *err)
{
    if (set->done)
        return OVX_OK;
    int64_t dist = later->index - cur->index;
    /* an IDR keyframe is decoded after everything displayed before it: a
     * candidate only where the structure allows (MPEG open GOPs) */
    /* (dist bounded too: a pass skipping non-reference pictures may not
     * offer the one at OVX_REF_MAX_AHEAD that would have closed the set) */
    int usable = later->ref && decoded_before(later, cur) && !(later->key && r->idr_keys) && dist > 0 &&
                 dist <= OVX_REF_MAX_AHEAD;
    if (usable) {
        int rc = add(set, later, (int)dist, err);
        if (rc < 0)
            return rc;
    }
    if (set->n >= r->max_fut || later->key || dist >= OVX_REF_MAX_AHEAD)
        set->done = 1;
    return OVX_OK;
}

void ovx_refset_clear(ovx_refset *s)
{
    for (int i = 0; i < s->n; i++)
        av_frame_free(&s->luma[i]);
    memset(s, 0, sizeof *s);
}

void ovx_refset_to_energy(const ovx_refset *s, ovx_energy_ref *out, int *n)
{
    for (int i = 0; i < s->n; i++) {
        out[i].y = s->luma[i]->data[0];
        out[i].stride = s->luma[i]->linesize[0];
        out[i].dist = s->dist[i];
    }
    *n = s->n;
}
