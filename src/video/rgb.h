/* rgb.h: decoded frame -> packed RGB24 (swscale, colour matrix and range
 * from the frame), rotated for display. */
#ifndef OVX_VIDEO_RGB_H
#define OVX_VIDEO_RGB_H

#include <stdint.h>

#include "common/error.h"

struct AVFrame;

/* Converts f to RGB24 and applies the clockwise display rotation (0, 90,
 * 180, 270). *out is malloc'd [*h, *w, 3] (after rotation).
 * Colour: the frame's matrix (BT.709, BT.601, BT.2020, ...) when tagged,
 * else BT.709 for pictures at least 720 lines high and BT.601 below; range
 * full when tagged JPEG/full or a yuvj* format, else limited. Conversion uses
 * swscale with accurate rounding and full chroma interpolation. */
int ovx_frame_to_rgb(const struct AVFrame *f, int rotation, uint8_t **out, int *w, int *h,
                     ovx_error *err);

/* The rectangle [x0, x0+rw) x [y0, y0+rh) of f (before rotation) as packed
 * RGB24 into dst (row stride dstride bytes): the same pixels as that part of
 * ovx_frame_to_rgb(f, 0, ...), converting only around the rectangle where
 * the pixel format allows it (planar formats), else the whole picture. */
int ovx_frame_to_rgb_rect(const struct AVFrame *f, int x0, int y0, int rw, int rh, uint8_t *dst, int dstride,
                          ovx_error *err);

/* Rotates a packed plane of bpp bytes per pixel clockwise by rotation
 * degrees; *out malloc'd, *ow and *oh its size. */
int ovx_rotate_plane(const uint8_t *src, int w, int h, int bpp, int rotation, uint8_t **out, int *ow,
                     int *oh, ovx_error *err);

#endif
