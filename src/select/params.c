/* params.c: the select parameters: their defaults, the names of their
 * enums, and the values that depend on --normalise (the scoring steps read
 * these, below ovx_select_run). */
#include "select/select.h"

#include <string.h>

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
    p.motion_floor = -1.0;  /* per --normalise: ovx_select_motion_floor */
    p.ref_candidates = 4;
    p.ref_better = 0.2;
    p.residual_percentile = 95.0;
    p.normalise = OVX_NORMALISE_NOISE;
    p.light = 1;
    p.noise_percentile = 50.0;
    p.noise_k = 2.0;
    p.texture_k = 1.5; /* where the prediction noise exceeds 2 grey levels (energy.c) */
    p.residual_weight = -1.0; /* per --normalise: ovx_select_residual_weight */
    p.residual_scale = 6.0;
    p.motion_scale = 1.0;
    p.prior_weight = -1.0;  /* per --normalise: ovx_select_prior_weight */
    p.prior_sigma = 0.35;
    p.fit_keep = 0.7;
    p.fit_passes = 2;
    p.fit_min_vectors = 64;
    p.fit_frame = 0;
    p.motion_sides = OVX_MOTION_BOTH;
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

const char *ovx_normalise_name(ovx_normalise n) { return n == OVX_NORMALISE_FRAME ? "frame" : "noise"; }

const char *ovx_motion_sides_name(ovx_motion_sides m) { return m == OVX_MOTION_PAST ? "past" : "both"; }

double ovx_select_residual_weight(const ovx_select_params *p)
{
    if (p->residual_weight >= 0)
        return p->residual_weight;
    return p->normalise == OVX_NORMALISE_FRAME ? 0.5 : 0.2;
}

double ovx_select_prior_weight(const ovx_select_params *p)
{
    if (p->prior_weight >= 0)
        return p->prior_weight;
    return p->normalise == OVX_NORMALISE_FRAME ? 0.3 : 0.0;
}

double ovx_select_motion_floor(const ovx_select_params *p)
{
    if (p->motion_floor >= 0)
        return p->motion_floor;
    return p->normalise == OVX_NORMALISE_FRAME ? 0.5 : 0.25;
}

int ovx_select_row_step(const ovx_select_params *p, int W, int H)
{
    if (p->row_step > 0)
        return p->row_step;
    int s = W < H ? W : H;
    return s >= 4 * OVX_SELECT_SIZE ? 4 : 1;
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
