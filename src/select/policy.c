/* policy.c: turns the per-slot scores into the result: score map, slot
 * info, I-frame policy, static-video fallback, global top-K. */
#include <stdlib.h>
#include <string.h>

#include "common/timer.h"
#include "select/pass.h"
#include "select/stats.h"
#include "select/topk.h"

int ovx_select_finish(run_ctx *c, ovx_select_result *r, ovx_error *err)
{
    const ovx_select_params *p = c->p;
    double t0 = ovx_now_ms();
    r->n_slots = c->F;
    r->slots = calloc((size_t)c->F, sizeof *r->slots);
    r->scores = calloc(OVX_SELECT_SLOTS * OVX_SELECT_PER_SLOT, sizeof *r->scores);
    r->visible_indices = malloc(sizeof(int64_t) * OVX_SELECT_SLOTS * OVX_SELECT_PER_SLOT);
    if (p->keep_frames) { /* the jobs wrote their crops in place: no copy */
        r->frames = c->rgb_block;
        c->rgb_block = NULL;
    }
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
        if (p->keep_frames) {
            uint8_t *row = r->frames + (size_t)i * OVX_SELECT_SIZE * OVX_SELECT_SIZE * 3;
            if (!j->rgb)
                return ovx_error_set(err, OVX_EINTERNAL, "slot %d has no kept frame", s->slot);
            if (j->rgb != row) /* a duplicate slot: its target's crop */
                memcpy(row, j->rgb, (size_t)OVX_SELECT_SIZE * OVX_SELECT_SIZE * 3);
        }
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

