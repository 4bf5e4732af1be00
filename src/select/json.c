/* json.c: the selection result as JSON (cJSON), shared by `ovx select` and
 * `ovx extract`. Key order is fixed; "timings" is the only field that varies
 * between runs on the same input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "select/select.h"
#include "io/json_ints.h"
#include "io/json_utf8.h"

static cJSON *num(double v) { return cJSON_CreateNumber(isfinite(v) ? v : 0.0); }

/* Rounds to 6 significant decimals so the printed form is stable. */
static double r6(double v) { return isfinite(v) ? round(v * 1e6) / 1e6 : 0.0; }

static void add_params(cJSON *o, const ovx_select_params *p, int w, int h)
{
    cJSON_AddStringToObject(o, "sampling", ovx_sampling_name(p->sampling));
    cJSON_AddNumberToObject(o, "frames", p->frames);
    cJSON_AddNumberToObject(o, "tokens", p->tokens);
    cJSON_AddStringToObject(o, "mv_source", ovx_mv_source_name(p->mv_source));
    cJSON_AddStringToObject(o, "iframe_policy", ovx_iframe_policy_name(p->iframe_policy));
    cJSON_AddBoolToObject(o, "inconsistency", p->inconsistency);
    cJSON_AddItemToObject(o, "motion_percentile", num(p->motion_percentile));
    cJSON_AddItemToObject(o, "motion_floor", num(ovx_select_motion_floor(p)));
    cJSON_AddNumberToObject(o, "ref_candidates", p->ref_candidates);
    cJSON_AddItemToObject(o, "ref_better", num(p->ref_better));
    cJSON_AddItemToObject(o, "residual_percentile", num(p->residual_percentile));
    cJSON_AddStringToObject(o, "normalise", ovx_normalise_name(p->normalise));
    cJSON_AddBoolToObject(o, "light", p->light);
    /* the step used for the stream's picture size, and whether by resolution */
    cJSON_AddNumberToObject(o, "row_step", ovx_select_row_step(p, w, h));
    cJSON_AddBoolToObject(o, "row_step_auto", p->row_step == 0);
    cJSON_AddItemToObject(o, "noise_percentile", num(p->noise_percentile));
    cJSON_AddItemToObject(o, "noise_k", num(p->noise_k));
    cJSON_AddItemToObject(o, "texture_k", num(p->texture_k));
    cJSON_AddItemToObject(o, "residual_scale", num(p->residual_scale));
    cJSON_AddItemToObject(o, "motion_scale", num(p->motion_scale));
    cJSON_AddItemToObject(o, "residual_weight", num(ovx_select_residual_weight(p)));
    cJSON_AddItemToObject(o, "prior_weight", num(ovx_select_prior_weight(p)));
    cJSON_AddItemToObject(o, "prior_sigma", num(p->prior_sigma));
    cJSON_AddItemToObject(o, "fit_keep", num(p->fit_keep));
    cJSON_AddNumberToObject(o, "fit_passes", p->fit_passes);
    cJSON_AddNumberToObject(o, "fit_min_vectors", p->fit_min_vectors);
    cJSON_AddStringToObject(o, "fit_region", p->fit_frame ? "frame" : "crop");
    cJSON_AddStringToObject(o, "motion_sides", ovx_motion_sides_name(p->motion_sides));
    cJSON_AddNumberToObject(o, "cell", p->cell);
    cJSON_AddNumberToObject(o, "search", p->search);
    cJSON_AddItemToObject(o, "static_p95", num(p->static_p95));
    cJSON_AddItemToObject(o, "static_spread", num(p->static_spread));
    cJSON_AddItemToObject(o, "fps", num(p->fps));
    cJSON_AddItemToObject(o, "start", num(p->start));
    cJSON_AddItemToObject(o, "duration", num(p->duration));
    cJSON_AddNumberToObject(o, "max_pixels", (double)p->max_pixels);
    cJSON_AddItemToObject(o, "max_corrupt", num(p->max_corrupt));
    if (p->temporal_jitter) { /* only then: the report of a run without it is unchanged */
        char seed[24];
        snprintf(seed, sizeof seed, "%lld", (long long)p->jitter_seed);
        cJSON_AddTrueToObject(o, "temporal_jitter");
        cJSON_AddStringToObject(o, "jitter_seed", seed); /* a string: exact beyond 2^53 */
    }
}

cJSON *ovx_select_result_json(const ovx_select_result *r, int with_timings)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "input", r->input);
    cJSON *st = cJSON_AddObjectToObject(o, "stream");
    if (st) {
        cJSON_AddStringToObject(st, "codec", r->stream.codec);
        cJSON_AddStringToObject(st, "pix_fmt", r->stream.pix_fmt);
        cJSON_AddNumberToObject(st, "width", r->stream.width);
        cJSON_AddNumberToObject(st, "height", r->stream.height);
        cJSON_AddNumberToObject(st, "rotation", r->stream.rotation);
        cJSON_AddItemToObject(st, "fps", num(r6(r->stream.fps)));
        cJSON_AddItemToObject(st, "duration", num(r6(r->stream.duration)));
        cJSON_AddNumberToObject(st, "frames", (double)r->frames_decoded);
        cJSON_AddNumberToObject(st, "frames_header", (double)r->stream.frames_header);
        cJSON_AddNumberToObject(st, "packets", (double)r->packets);
        cJSON_AddNumberToObject(st, "corrupt_frames", (double)r->corrupt_frames);
        cJSON_AddNumberToObject(st, "bad_packets", (double)r->bad_packets);
        if (r->truncation.truncated) { /* only when cut short (let through by --max-corrupt) */
            cJSON_AddBoolToObject(st, "truncated", 1);
            cJSON_AddNumberToObject(st, "frames_readable", (double)r->truncation.readable);
            cJSON_AddNumberToObject(st, "frames_expected", (double)r->truncation.expected);
            cJSON_AddItemToObject(st, "readable_share", num(r6(r->truncation.readable_share)));
            cJSON_AddItemToObject(st, "ends_at", num(r6(r->truncation.ends_at)));
        }
    }
    cJSON_AddStringToObject(o, "mv_source", r->mv_source);
    cJSON *mc = cJSON_AddObjectToObject(o, "mv_source_slots");
    if (mc) {
        cJSON_AddNumberToObject(mc, "codec", r->mv_slots_codec);
        cJSON_AddNumberToObject(mc, "estimate", r->mv_slots_estimate);
        cJSON_AddNumberToObject(mc, "none", r->n_slots - r->mv_slots_codec - r->mv_slots_estimate);
    }
    cJSON_AddNumberToObject(o, "decode_passes", r->decode_passes);
    cJSON_AddBoolToObject(o, "static_fallback", r->static_fallback);
    cJSON *grid = cJSON_AddObjectToObject(o, "grid");
    if (grid) {
        cJSON_AddNumberToObject(grid, "t", OVX_SELECT_SLOTS);
        cJSON_AddNumberToObject(grid, "h", OVX_SELECT_GRID);
        cJSON_AddNumberToObject(grid, "w", OVX_SELECT_GRID);
        cJSON_AddNumberToObject(grid, "patch", OVX_SELECT_PATCH);
        cJSON_AddNumberToObject(grid, "size", OVX_SELECT_SIZE);
    }
    cJSON *slots = cJSON_AddArrayToObject(o, "slots");
    for (int i = 0; slots && i < r->n_slots; i++) {
        const ovx_select_slot *s = &r->slots[i];
        cJSON *e = cJSON_CreateObject();
        if (!e)
            break;
        char pt[2] = {s->pict_type ? s->pict_type : '?', 0};
        cJSON_AddNumberToObject(e, "slot", s->slot);
        cJSON_AddNumberToObject(e, "frame", (double)s->frame_index);
        if (s->pts == INT64_MIN)
            cJSON_AddNullToObject(e, "pts");
        else
            cJSON_AddNumberToObject(e, "pts", (double)s->pts);
        cJSON_AddItemToObject(e, "seconds", num(r6(s->seconds)));
        cJSON_AddStringToObject(e, "pict_type", pt);
        cJSON_AddStringToObject(e, "mv_source", s->mv_source);
        cJSON_AddNumberToObject(e, "vectors", (double)s->vectors);
        cJSON_AddItemToObject(e, "energy", num(r6(s->energy)));
        cJSON_AddBoolToObject(e, "whole", s->whole);
        cJSON_AddBoolToObject(e, "corrupt", s->corrupt);
        cJSON_AddItemToArray(slots, e);
    }
    cJSON_AddNumberToObject(o, "tokens", (double)r->n_visible);
    /* pre-printed text (the same bytes as an array of numbers) */
    cJSON_AddItemToObject(o, "visible_indices",
                          ovx_json_ints_raw(r->visible_indices, 8, (size_t)(r->n_visible > 0 ? r->n_visible : 0), 1));
    cJSON *set = cJSON_AddObjectToObject(o, "settings");
    if (set)
        add_params(set, &r->params, r->stream.width, r->stream.height);
    if (with_timings) {
        cJSON *t = cJSON_AddObjectToObject(o, "timings");
        if (t) {
            cJSON_AddNumberToObject(t, "threads", r->params.threads);
            cJSON_AddStringToObject(t, "decoder_threading", r->threading ? r->threading : "slice");
            cJSON_AddItemToObject(t, "frames_skipped", num((double)r->frames_skipped));
            cJSON_AddItemToObject(t, "count_ms", num(r6(r->timings.count_ms)));
            cJSON_AddItemToObject(t, "decode_ms", num(r6(r->timings.decode_ms)));
            cJSON_AddItemToObject(t, "saliency_ms", num(r6(r->timings.saliency_ms)));
            cJSON_AddItemToObject(t, "frames_ms", num(r6(r->timings.frames_ms)));
            cJSON_AddItemToObject(t, "topk_ms", num(r6(r->timings.topk_ms)));
            cJSON_AddItemToObject(t, "total_ms", num(r6(r->timings.total_ms)));
        }
    }
    return o;
}

char *ovx_select_result_json_string(const ovx_select_result *r, int with_timings)
{
    cJSON *o = ovx_select_result_json(r, with_timings);
    if (!o || ovx_json_make_utf8(o) != 0) { /* a non-UTF-8 file name stays valid JSON */
        cJSON_Delete(o);
        return NULL;
    }
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (!t) {
        free(s);
        return NULL;
    }
    t[n] = '\n';
    t[n + 1] = '\0';
    return t;
}
