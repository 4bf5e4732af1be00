/* rgb_exact.h: 8-bit planar YUV -> RGB24 by the same integer arithmetic as
 * swscale's bit-exact path that rgb.c configures (bicubic chroma upsampling,
 * full chroma interpolation, accurate rounding), computed only for a
 * rectangle and without swscale's per-pixel generic loops. rgb.c uses it only
 * after checking, once per configuration, that it gives swscale's bytes. */
#ifndef OVX_VIDEO_RGB_EXACT_H
#define OVX_VIDEO_RGB_EXACT_H

#include <stdint.h>

#include "common/error.h"

typedef struct ovx_yuv_pic {
    const uint8_t *data[3];  /* Y, U, V planes, 8 bits per sample */
    int linesize[3];
    int w, h;                /* luma size */
    int log2_cw, log2_ch;    /* chroma subsampling, 0 or 1 each */
} ovx_yuv_pic;

/* 1 when the picture's layout is one rgb_exact reproduces (8-bit planar
 * Y/U/V, subsampling 0 or 1, even sizes along subsampled axes). */
int ovx_rgb_exact_supported(int w, int h, int log2_cw, int log2_ch);

/* The rectangle [x0, x0+rw) x [y0, y0+rh) of p's RGB24 conversion into dst
 * (row stride dstride). inv_table: sws_getCoefficients() of the matrix;
 * full_range: the source range (RGB is full range). */
int ovx_rgb_exact_rect(const ovx_yuv_pic *p, const int inv_table[4], int full_range, int x0, int y0, int rw,
                       int rh, uint8_t *dst, int dstride, ovx_error *err);

/* The same, row by row: a converter for columns [x0, x0+rw), then rows
 * asked in increasing order (each chroma row is filtered once). */
typedef struct ovx_rgb_exact ovx_rgb_exact;
int ovx_rgb_exact_open(const ovx_yuv_pic *p, const int inv_table[4], int full_range, int x0, int rw,
                       ovx_rgb_exact **out, ovx_error *err);
/* rows [y0, y0+n) into dst; y0 at or after the end of the previous call */
int ovx_rgb_exact_rows(ovx_rgb_exact *c, const ovx_yuv_pic *p, int y0, int n, uint8_t *dst, int dstride,
                       ovx_error *err);
void ovx_rgb_exact_close(ovx_rgb_exact *c);

#endif
