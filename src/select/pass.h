/* pass.h: internal to src/select: the run state, the decode pass, sampling
 * and the final selection. The decode pass decodes the video once,
 * and for every sampled frame queues a saliency job (energy maps -> patch
 * scores, optional 224x224 RGB crop) on the worker pool. */
#ifndef OVX_SELECT_PASS_H
#define OVX_SELECT_PASS_H

#include <stdint.h>

#include "select/pool.h"
#include "select/refring.h"
#include "select/select.h"
#include "video/mv.h"
#include "video/reader.h"

struct AVFrame;

typedef struct slot_job {
    struct AVFrame *cur;     /* the decoded frame */
    struct AVFrame *prev;    /* 8-bit luma of its previous picture: the nearest reference
                              * picture displayed before it with codec vectors, else the
                              * frame displayed before it (ovx_plan_skip's prev_is_ref) */
    int prev_dist;           /* display distance to prev (>= 1) */
    ovx_refpic me;           /* the frame as the reference search sees it (its luma) */
    ovx_refset past, fut;    /* candidate reference pictures per direction */
    int need_next;           /* has future (+1) vectors: waits for later reference pictures */
    int hold;                /* waits for the previous chunk's last frame as prev */
    int need_anchor;         /* an MPEG-4 B-VOP: waits for the next anchor's vectors */
    int direct_tb;           /* its display distance to the past anchor */
    int estimate;            /* estimate vectors by block matching */
    int interp;              /* ovx_interp of the codec's vectors */
    int dup_of;              /* >= 0: same decoded frame as that target; nothing to compute */
    int rotation;
    const ovx_select_params *p;
    ovx_mv_list mv;
    float scores[OVX_SELECT_PER_SLOT];
    uint8_t *rgb_dst;        /* keep_frames: where the crop goes (the job's row of
                              * run_ctx.rgb_block) */
    uint8_t *rgb;            /* = rgb_dst once the [224, 224, 3] crop is there */
    const char *mv_source;
    int64_t vectors;
    double sal_ms, rgb_ms;
    int rc;
    ovx_error err;
    int submitted;
} slot_job;

void ovx_slot_job_clear(slot_job *j);

/* The packet scan keeps the stream's packets in memory up to this size, so
 * the decode pass (and every GOP chunk) needs no re-open, stream probing
 * (which decodes frames) or demux from the start; bigger files are opened
 * again. */
#define OVX_SELECT_KEEP_PACKET_BYTES ((int64_t)256 << 20)

#define OVX_PASS_RESTART 1   /* decode again (threading mode changed) */

typedef struct run_ctx {
    const char *path;
    const struct ovx_video_memory *mem; /* non-NULL: the video is these bytes; path names it */
    const ovx_select_params *p;
    const ovx_packet_scan *scan;
    ovx_video_info info;
    int F;                   /* targets */
    int64_t idx[OVX_SELECT_SLOTS];
    int slot_of[OVX_SELECT_SLOTS];
    slot_job jobs[OVX_SELECT_SLOTS];
    char pict[OVX_SELECT_SLOTS];
    int64_t pts[OVX_SELECT_SLOTS];
    double secs[OVX_SELECT_SLOTS];
    int corrupt_slot[OVX_SELECT_SLOTS];
    int64_t decoded, corrupt, bad, packets;
    int read_error;
    double *times;           /* best-effort times of the decoded frames [decoded] */
    int frame_threads_ok;    /* frame threading allowed (cleared once a B-frame is seen) */
    int gop_ok;              /* GOP-parallel decoding allowed (cleared when it fails a check) */
    int plan_ok;             /* decode plan allowed (cleared when it fails a check) */
    int careful;             /* after damage or a surprise: decode with one thread and hand
                              * jobs copies of the frames, not references */
    int skip_ok;             /* skipping unneeded non-reference frames allowed (cleared
                              * when a pass that skips fails a check) */
    uint8_t *skip;           /* [scan->n] per display index: 1 = not decoded (see plan_skip) */
    int64_t skipped;         /* frames of the last pass not decoded */
    int64_t *pkt_of;         /* [scan->n] display index -> packet (decode order), NULL unknown */
    uint8_t *mv_want;        /* [n_want]: 1 for the sampled frame indices of this pass */
    int64_t n_want;
    const char *threading;   /* "slice", "frame", "gop" or "plan" */
    double decode_ms;
    uint8_t *rgb_block;      /* keep_frames: [OVX_SELECT_SLOTS, 224, 224, 3], job i's crop
                              * at row i; handed to the result as its frames */
} run_ctx;

/* One decode pass over the targets c->idx[0..F). Returns OVX_OK,
 * OVX_PASS_RESTART (call again) or a negative error. */
int ovx_decode_pass(run_ctx *c, ovx_pool *pool, ovx_error *err);

/* Frame indices (ascending, may repeat) and slots for n decoded frames whose
 * display times are t[n] (sorted; NULL: from fps). Returns the count F or a
 * negative error. */
int ovx_select_sample(const ovx_select_params *p, int64_t n, const double *t, double fps, int64_t *idx,
                      int *slots, ovx_error *err);

/* Fills r (slots, scores, frames, visible_indices) from a finished pass. */
int ovx_select_finish(run_ctx *c, ovx_select_result *r, ovx_error *err);

#endif
