/* resize.h: PIL-exact bicubic resize of packed RGB8 pictures (the CLIP image
 * processor's resampling), and the shortest-edge resize + centre crop used
 * for model inputs (224 for video frames, 448 for images). */
#ifndef OVX_VIDEO_RESIZE_H
#define OVX_VIDEO_RESIZE_H

#include <stdint.h>

#include "common/error.h"

/* Bicubic (a = -0.5, support scaled by the shrink factor, antialiasing) resize
 * of src [sh, sw, 3] to a virtual [dh, dw, 3] picture, of which only the
 * window [oy, oy+oh) x [ox, ox+ow) is written to dst [oh, ow, 3] (row stride
 * dstride bytes). Horizontal pass first, then vertical, 8-bit fixed point
 * with 22 fractional bits and rounding exactly as PIL's Resample.c does, so
 * the result matches PIL.Image.resize(BICUBIC) bit for bit. */
int ovx_resize_rgb8_window(const uint8_t *src, int sw, int sh, int sstride, int dw, int dh, int ox,
                           int oy, int ow, int oh, uint8_t *dst, int dstride, ovx_error *err);

/* Full resize: dst [dh, dw, 3], packed. */
int ovx_resize_rgb8(const uint8_t *src, int sw, int sh, int sstride, uint8_t *dst, int dw, int dh,
                    ovx_error *err);

/* Geometry of "shortest edge = size, long edge = int(size*long/short), then
 * centre crop size x size at ((h-size)//2, (w-size)//2)". */
typedef struct ovx_crop_geom {
    int rw, rh;    /* resized picture size */
    int cx, cy;    /* crop origin in the resized picture */
    int size;
} ovx_crop_geom;

ovx_crop_geom ovx_crop_geometry(int w, int h, int size);

/* Shortest-edge resize + centre crop of src [h, w, 3] into dst [size, size, 3]. */
int ovx_resize_short_crop(const uint8_t *src, int w, int h, int stride, int size, uint8_t *dst,
                          ovx_error *err);

/* The part of a w x h source that the shortest-edge resize + centre crop
 * reads: x, y, width, height. */
typedef struct ovx_rect {
    int x, y, w, h;
} ovx_rect;

ovx_rect ovx_resize_short_crop_source(int w, int h, int size);

/* ovx_resize_short_crop of a w x h picture given only its part r (as
 * ovx_resize_short_crop_source returns): part [r.h, r.w, 3], row stride
 * stride bytes. Same bytes as the full call. */
int ovx_resize_short_crop_part(const uint8_t *part, ovx_rect r, int w, int h, int stride, int size, uint8_t *dst,
                               ovx_error *err);

/* The same, the part's rows asked from fill (rows [y, y+n) of the part,
 * picture coordinates, increasing, written at dst with row stride dstride)
 * a strip at a time, so the part is never held whole. */
typedef int (*ovx_resize_rows_fn)(void *ctx, int y, int n, uint8_t *dst, int dstride, ovx_error *err);
int ovx_resize_short_crop_rows(ovx_resize_rows_fn fill, void *ctx, ovx_rect r, int w, int h, int size,
                               uint8_t *dst, ovx_error *err);

#endif
