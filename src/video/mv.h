/* mv.h: motion vectors of one frame in a codec-independent form: read from
 * FFmpeg's exported side data, or estimated by block matching on luma. */
#ifndef OVX_VIDEO_MV_H
#define OVX_VIDEO_MV_H

#include <stdint.h>

#include "common/error.h"

struct AVFrame;

typedef struct ovx_mv {
    int32_t x, y;     /* top-left of the block in the current frame (pixels) */
    int32_t w, h;     /* block size */
    float dx, dy;     /* displacement to the reference: ref(x+dx, y+dy) predicts cur(x, y) */
    int32_t source;   /* <0 past reference (previous frame), >0 future reference (next frame) */
} ovx_mv;

typedef struct ovx_mv_list {
    ovx_mv *v;
    int64_t n, cap;
} ovx_mv_list;

/* Replaces l's contents with the frame's exported vectors (none if the
 * frame carries no side data). Blocks are clipped to the picture. */
int ovx_mv_from_frame(const struct AVFrame *f, ovx_mv_list *l, ovx_error *err);
/* 1 if the frame carries motion-vector side data. */
int ovx_mv_frame_has_side_data(const struct AVFrame *f);
/* 1 if the vectors FFmpeg exports for a frame of this codec (an
 * AVCodecID) and picture type ('I', 'P', 'B', ...) are not the frame's:
 * its MPEG-4 Part 2 decoder does not write a B-VOP's vectors, so it exports
 * what the picture buffer held (an earlier P-VOP's list-0 vectors, list-1
 * zeros), which depends on the frames decoded before it (the selection
 * derives them from the next anchor's: select/pass.c derive_direct). */
int ovx_mv_stale_b(int codec_id, int pict_type);

/* Block matching: estimates one vector per block of cur against ref (both
 * luma planes W x H with the given strides), source -1. Works on luma
 * box-downscaled by 2 above 640 and by 4 above 1280 pixels wide, in blocks
 * of 16 full pixels with a search range of +-search full pixels: the
 * picture's dominant shift first (full search on a small copy), then per
 * block a step search from the best of that shift / zero / left / top
 * candidates, with a motion cost of 0.1 grey level per pixel (or a tenth of
 * the picture's mean difference at its shift, if larger) per pixel away
 * from the shift. Deterministic. */
int ovx_mv_estimate(const uint8_t *cur, int cur_stride, const uint8_t *ref, int ref_stride,
                    int W, int H, int search, ovx_mv_list *l, ovx_error *err);

/* The downscale factor ovx_mv_estimate matches a picture W pixels wide at
 * (1, 2 or 4): its vectors are whole multiples of it. */
int ovx_mv_estimate_scale(int W);

/* Testing: the lower bounds by which the picture-shift search passes over
 * a shift, for every shift |dx|, |dy| <= m of the w x h packed planes
 * (w, h > 2 m): row[(dy + m) * (2 m + 1) + dx + m] = sum over the interior's
 * rows (m .. h - m - 1) of |cur's row sum - ref's, shifted|, col likewise
 * over its columns. Returns -1 on bad sizes or no memory. */
int ovx_mv_shift_bounds(const uint8_t *cur, const uint8_t *ref, int w, int h, int m, unsigned long long *row,
                        unsigned long long *col);

/* dst = src's vectors with dx, dy scaled by num / den (each as
 * (d * num) / den in float). */
int ovx_mv_list_scaled(const ovx_mv_list *src, float num, float den, ovx_mv_list *dst, ovx_error *err);

void ovx_mv_list_free(ovx_mv_list *l);

#endif
