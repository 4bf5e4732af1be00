/* luma.h: the 8-bit luma plane of a decoded frame, for scoring: the frame's
 * own first plane when it is one (8-bit planar/semi-planar YUV, gray),
 * a rounding shift for planar high-depth YUV and gray (9-16 bits), swscale
 * to GRAY8 for everything else (RGB, packed YUV, palettes, ...). */
#ifndef OVX_VIDEO_LUMA_H
#define OVX_VIDEO_LUMA_H

#include "common/error.h"

struct AVFrame;

/* 1 when f's plane 0 already is 8-bit luma (ovx_frame_luma8 only adds a
 * reference). */
int ovx_frame_has_luma8(const struct AVFrame *f);

/* *out: a new frame whose data[0] / linesize[0] hold f's luma as 8-bit
 * samples (width x height): when f's first plane is already that and copy
 * is 0, a GRAY8 frame over it holding a reference to that plane's buffer
 * only (chroma buffers of their own go back to the decoder), else a GRAY8
 * frame of its own (copy
 * 1: never shares f's buffers, e.g. when the decoder may still write into
 * them). Free with av_frame_free. */
int ovx_frame_luma8(const struct AVFrame *f, int copy, struct AVFrame **out, ovx_error *err);

/* av_frame_ref without the side data: a reference to src's pictures (and
 * properties) to hold on to after the side data has been read. */
int ovx_frame_ref_pictures(struct AVFrame *dst, const struct AVFrame *src);

#endif
