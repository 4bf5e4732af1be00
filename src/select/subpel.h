/* subpel.h: motion-compensated prediction of a block at a quarter-pel
 * vector, with the codec's own interpolation: H.264 luma (6-tap half-pel
 * samples, rounded averages for the quarter positions, ITU-T H.264 8.4.2.2.1)
 * or bilinear (exact for the half-pel codecs MPEG-1/2/4 and H.263, where
 * (a + b + 1) >> 1 and (a + b + c + d + 2) >> 2 are the standards' averages;
 * used as the approximation for quarter-pel MPEG-4 and estimated vectors).
 * Reference samples outside the picture repeat the nearest edge sample, as
 * the decoders do. */
#ifndef OVX_SELECT_SUBPEL_H
#define OVX_SELECT_SUBPEL_H

#include <stddef.h>
#include <stdint.h>

typedef enum ovx_interp { OVX_INTERP_BILINEAR = 0, OVX_INTERP_H264 } ovx_interp;

/* Largest block one call predicts (callers tile larger blocks). */
#define OVX_SUBPEL_MAX 16

/* out[r * ostride + c] (0 <= r < h, 0 <= c < w, w and h in 1..OVX_SUBPEL_MAX)
 * = the prediction of pixel (x + c, y + r) from ref (W x H luma) displaced
 * by (qx, qy) quarter pixels. */
void ovx_subpel_predict(const uint8_t *ref, int stride, int W, int H, int x, int y, int w, int h,
                        int qx, int qy, ovx_interp interp, uint8_t *out, int ostride);

/* The same for the block's rows 0, step, 2 step, ... (< h) only, into
 * consecutive rows of out (only those rows are computed). */
void ovx_subpel_predict_rows(const uint8_t *ref, int stride, int W, int H, int x, int y, int w, int h,
                             int qx, int qy, ovx_interp interp, int step, uint8_t *out, int ostride);

/* Sum over the block's rows 0, step, 2 step, ... (< h) of |cur - the
 * prediction above|; cur points at the block's first pixel in the current
 * picture. Only the rows summed are predicted. */
uint32_t ovx_subpel_sad(const uint8_t *ref, int stride, int W, int H, int x, int y, int w, int h, int qx, int qy,
                        ovx_interp interp, const uint8_t *cur, int cstride, int step);

/* The arguments a block's SADs against one reference share, made once:
 * the reference (W x H luma, row stride stride, interpolation interp) and
 * the block (x, y, w x h, w and h in 1..OVX_SUBPEL_MAX), its rows 0, step,
 * 2 step, ... (n of them) and cur (its first pixel in the current picture,
 * cstep = the current picture's row stride times step). */
typedef struct ovx_subpel_ref {
    const uint8_t *ref;
    ptrdiff_t stride;
    int W, H;
    ovx_interp interp;
} ovx_subpel_ref;

typedef struct ovx_subpel_block {
    const uint8_t *cur;
    ptrdiff_t cstep;
    int x, y, w, h, step, n;
} ovx_subpel_block;

static inline ovx_subpel_ref ovx_subpel_ref_make(const uint8_t *ref, int stride, int W, int H, ovx_interp interp)
{
    ovx_subpel_ref r = {.ref = ref, .stride = stride, .W = W, .H = H, .interp = interp};
    return r;
}

static inline ovx_subpel_block ovx_subpel_block_make(int x, int y, int w, int h, const uint8_t *cur, int cstride,
                                                     int step)
{
    ovx_subpel_block b = {.cur = cur, .cstep = (ptrdiff_t)cstride * step, .x = x, .y = y, .w = w, .h = h,
                          .step = step, .n = (h + step - 1) / step};
    return b;
}

/* ovx_subpel_sad of block b displaced by (qx, qy) quarter pixels in r. */
uint32_t ovx_subpel_block_sad(const ovx_subpel_ref *r, const ovx_subpel_block *b, int qx, int qy);

/* A vector in pixels (a multiple of 1/4 from exported side data; anything
 * else is rounded to the nearest quarter) as quarter-pel units. */
int ovx_subpel_quarter(float v);

#endif
