/* select.h: `ovx select` as a library call. Decodes a video, scores every
 * 14x14 patch of up to 64 sampled frames (224x224 crop grid, 16x16 patches)
 * from motion vectors and motion-compensated prediction error, and picks the
 * global top-K patches. Usage (whisper.cpp style):
 *
 *   ovx_select_params p = ovx_select_default_params();
 *   p.tokens = 2048;
 *   ovx_select_result *r;
 *   if (ovx_select_run("clip.mp4", &p, &r, &err) < 0) ... err.msg ...
 *   ... r->visible_indices[0 .. r->n_visible) ...
 *   ovx_select_result_free(r);
 */
#ifndef OVX_SELECT_SELECT_H
#define OVX_SELECT_SELECT_H

#include <stddef.h>
#include <stdint.h>

#include "common/api.h"
#include "common/error.h"
#include "select/truncated.h"
#include "video/reader.h"

#define OVX_SELECT_SLOTS 64    /* temporal slots of the model */
#define OVX_SELECT_GRID 16     /* patches per side of a 224x224 frame */
#define OVX_SELECT_PATCH 14
#define OVX_SELECT_SIZE 224
#define OVX_SELECT_PER_SLOT (OVX_SELECT_GRID * OVX_SELECT_GRID)

typedef enum ovx_sampling { OVX_SAMPLING_CODEC = 0, OVX_SAMPLING_UNIFORM } ovx_sampling;
typedef enum ovx_mv_source { OVX_MV_AUTO = 0, OVX_MV_CODEC, OVX_MV_ESTIMATE } ovx_mv_source;
typedef enum ovx_iframe_policy {
    OVX_IFRAME_FIRST = 0, /* first sampled frame kept whole, the rest compete */
    OVX_IFRAME_DENSE,     /* every sampled I-frame kept whole */
    OVX_IFRAME_ZERO,      /* I-frames score zero (published code) */
    OVX_IFRAME_COMPETE    /* no special treatment */
} ovx_iframe_policy;

typedef enum ovx_normalise {
    OVX_NORMALISE_NOISE = 0, /* residual above the frame's noise level, motion in px per frame,
                                each mapped by v / (v + scale): comparable across frames */
    OVX_NORMALISE_FRAME      /* the recipe: each map divided by its 95th percentile per frame */
} ovx_normalise;

typedef enum ovx_motion_sides {
    OVX_MOTION_BOTH = 0, /* a block with a future vector only moves by it (against the future camera) */
    OVX_MOTION_PAST      /* past vectors only (before session 27) */
} ovx_motion_sides;

typedef struct ovx_select_params {
    int frames;                 /* sampled frames (slots), <= 64; default 64 */
    int tokens;                 /* K, default 4096 */
    ovx_sampling sampling;      /* codec (saliency top-K) or uniform (whole frames) */
    ovx_mv_source mv_source;
    ovx_iframe_policy iframe_policy;
    int inconsistency;          /* 1: 3x3 local variance of the motion magnitude (frame: instead
                                   of the magnitude; noise: its square root averaged with it) */
    double motion_percentile;   /* 95 */
    double motion_floor;        /* px per frame; < 0 (default): 0.25 with noise (motion counts above
                                   it), 0.5 with frame (the normaliser is at least this, squared,
                                   0.25 px^2, for the inconsistency) */
    int ref_candidates;         /* 4 (1..8): past reference pictures searched (H.264, HEVC) */
    double ref_better;          /* 0.2: a farther reference wins when its error is this much lower */
    double residual_percentile; /* 95 (--normalise frame) */
    ovx_normalise normalise;    /* noise (default) or frame */
    int light;                  /* 1: fit the prediction's gain/offset to each frame (global light) */
    int row_step;               /* 0 (auto, by resolution) or 1, 2, 4: the residual reads every
                                   row_step-th row of the crop's source, the reference choice of
                                   16-row blocks every (2 row_step)-th */
    double noise_percentile;    /* 50: the frame's noise level is this percentile of its cell residuals */
    double noise_k;             /* 2: residual counts above noise_k x the noise level */
    double texture_k;           /* 1.5 (0: off): with noise, a vector whose block's mean absolute deviation
                                   is below texture_k x its prediction's noise (when that exceeds 2
                                   grey levels) is no motion */
    double residual_scale;      /* 6 grey levels above the floor score 1/2 (--normalise noise) */
    double motion_scale;        /* 1 px per frame above motion_floor scores 1/2 (--normalise noise) */
    double residual_weight;     /* share of the residual in the fused score; < 0 (default): 0.2
                                   with --normalise noise, 0.5 (the recipe) with frame */
    double prior_weight;        /* centre prior; < 0 (default): 0 with noise, 0.3 with frame */
    double prior_sigma;         /* 0.35 (fraction of min(H, W)) */
    double fit_keep;            /* 0.7: fraction of vectors kept per robust-fit pass */
    int fit_passes;             /* 2 */
    int fit_min_vectors;        /* 64: below this many non-zero vectors, subtract the median */
    int fit_frame;              /* 0 (default): the camera fit takes the past vectors of the blocks
                                   touching the crop (what the model sees moves against the crop's
                                   own dominant motion) when there are fit_min_vectors of them;
                                   1: every past vector of the frame */
    ovx_motion_sides motion_sides; /* both (default): a block with a future vector only moves by it,
                                   against a camera fitted on the future vectors (energy.h); past:
                                   past vectors only */
    int cell;                   /* 8: energy-map cell size in pixels */
    int search;                 /* 16: block-matching search range in pixels (estimate mode) */
    double static_p95;          /* static fallback when p95 of patch scores < this ... */
    double static_spread;       /* ... or p95 - median < this (scores are per-patch sums, max 196) */
    double fps;                 /* > 0: sample at this rate by timestamps instead of --frames */
    double start, duration;     /* seconds; duration <= 0: to the end */
    int threads;                /* decoder threads and saliency workers */
    int64_t max_pixels;         /* reject larger pictures, default 8192*8192 */
    double max_corrupt;         /* fail when more than this fraction of packets fail to decode */
    int keep_frames;            /* 1: keep every slot's 224x224 RGB24 crop in the result */
    int decode_all;             /* 1: decode every frame (else, where the stream allows, only
                                   the sampled frames and their neighbours, from the IDR before
                                   each: same output) */
    int temporal_jitter;        /* 1: (training) each sampled frame is drawn uniformly inside its
                                   1/frames share of the range instead of the linspace frame
                                   (not with fps > 0); the draw depends only on jitter_seed */
    int64_t jitter_seed;        /* the seed of those draws (e.g. mixed from epoch and item) */
} ovx_select_params;

OVX_API ovx_select_params ovx_select_default_params(void);

typedef struct ovx_select_slot {
    int slot;                   /* temporal slot 0..63 */
    int64_t frame_index;        /* decoded frame index (display order) */
    int64_t pts;                /* best-effort pts, INT64_MIN when none */
    double seconds;
    char pict_type;             /* 'I', 'P', 'B', ... */
    const char *mv_source;      /* "codec", "estimate" or "none" */
    int64_t vectors;            /* motion vectors used */
    double energy;              /* sum of this slot's 256 patch scores */
    int whole;                  /* kept whole by policy or fallback */
    int corrupt;                /* the decoder flagged this frame */
} ovx_select_slot;

typedef struct ovx_select_timings {
    double count_ms, decode_ms, saliency_ms, frames_ms, topk_ms, total_ms;
} ovx_select_timings;

typedef struct ovx_select_result {
    char *input;                /* as given ("-" for stdin) */
    ovx_video_info stream;
    int64_t frames_decoded;
    int64_t packets;
    int64_t corrupt_frames;     /* frames the decoder flagged (concealed, kept) */
    int64_t bad_packets;        /* packets that failed to decode (skipped) */
    ovx_truncation truncation;  /* cut short: fewer frames readable than the container declares */
    int decode_passes;
    const char *threading;      /* decoder threading of the last pass: slice, frame, gop or plan */
    int64_t frames_skipped;     /* frames the last pass did not decode (plan, unneeded
                                   non-reference pictures); 0 for --decode all */
    const char *mv_source;      /* "codec" (estimation may fill frames without side
                                   data), "estimate" or "none" */
    int mv_slots_codec;         /* slots whose vectors came from the codec */
    int mv_slots_estimate;      /* slots whose vectors were estimated */
    int static_fallback;
    int n_slots;
    ovx_select_slot *slots;     /* [n_slots], ascending slot */
    int64_t n_visible;
    int64_t *visible_indices;   /* [n_visible] ascending, slot*256 + row*16 + col */
    float *scores;              /* [64, 16, 16] patch scores (0 for unsampled slots) */
    uint8_t *frames;            /* keep_frames: [n_slots, 224, 224, 3] RGB24, slot order */
    ovx_select_params params;   /* the settings used */
    ovx_select_timings timings;
} ovx_select_result;

OVX_API int ovx_select_run(const char *path, const ovx_select_params *p, ovx_select_result **out,
                           ovx_error *err);
/* The same over a video held in memory (size bytes at data, borrowed for
 * the call): read through libavformat's custom I/O, never written to a
 * file. name stands for the path: the result's input, and the format
 * probe's extension hint (a file of that name gives the same result);
 * NULL or "": "<memory>". */
OVX_API int ovx_select_run_memory(const void *data, size_t size, const char *name, const ovx_select_params *p,
                                  ovx_select_result **out, ovx_error *err);
OVX_API void ovx_select_result_free(ovx_select_result *r);

/* The result as JSON (cJSON object; caller frees with cJSON_Delete). Without
 * timings the output is byte-identical across runs for the same input. */
struct cJSON;
OVX_API struct cJSON *ovx_select_result_json(const ovx_select_result *r, int with_timings);
/* Same, printed (formatted, trailing newline); malloc'd, NULL on OOM. */
OVX_API char *ovx_select_result_json_string(const ovx_select_result *r, int with_timings);

OVX_API const char *ovx_sampling_name(ovx_sampling s);
OVX_API const char *ovx_mv_source_name(ovx_mv_source s);
OVX_API const char *ovx_iframe_policy_name(ovx_iframe_policy p);
OVX_API const char *ovx_normalise_name(ovx_normalise n);
OVX_API const char *ovx_motion_sides_name(ovx_motion_sides m);
/* p->residual_weight, or its default for p->normalise when < 0. */
OVX_API double ovx_select_residual_weight(const ovx_select_params *p);
/* p->prior_weight / p->motion_floor, or their defaults for p->normalise when < 0. */
OVX_API double ovx_select_prior_weight(const ovx_select_params *p);
OVX_API double ovx_select_motion_floor(const ovx_select_params *p);
/* The row step (see row_step) for a W x H picture: p->row_step, or when 0
 * by the source pixels per crop pixel s = min(W, H) / 224: 1 below 4 (up to
 * 720p: every row, as always), 4 from 4 (1080p and up: about one source row
 * per crop row). */
OVX_API int ovx_select_row_step(const ovx_select_params *p, int W, int H);

#endif
