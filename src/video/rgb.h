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

/* 1 when ovx_frame_to_rgb_rect converts frames like f (size, format,
 * matrix, range) without swscale, by rgb_exact.c's arithmetic, which was
 * checked once for that configuration to give swscale's bytes; 0 when it
 * uses swscale (other formats, or the check failed). */
int ovx_frame_rgb_exact(const struct AVFrame *f);

/* The rectangle's rows on demand, in increasing order (the exact path
 * converts each as asked; otherwise the whole rectangle is converted at
 * open and rows are copied): the same bytes as ovx_frame_to_rgb_rect. The
 * frame must outlive the converter. */
typedef struct ovx_rgb_rows ovx_rgb_rows;
int ovx_rgb_rows_open(const struct AVFrame *f, int x0, int y0, int rw, int rh, ovx_rgb_rows **out,
                      ovx_error *err);
/* rows [y, y+n) (picture coordinates, at or after the previous call's end) */
int ovx_rgb_rows_get(ovx_rgb_rows *c, int y, int n, uint8_t *dst, int dstride, ovx_error *err);
void ovx_rgb_rows_close(ovx_rgb_rows *c);

/* Rotates a packed plane of bpp bytes per pixel clockwise by rotation
 * degrees; *out malloc'd, *ow and *oh its size. */
int ovx_rotate_plane(const uint8_t *src, int w, int h, int bpp, int rotation, uint8_t **out, int *ow,
                     int *oh, ovx_error *err);

#endif
