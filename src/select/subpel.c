/* subpel.c: the quarter-pel block predictor (see subpel.h). A block is
 * predicted 16 columns wide whatever its width (the extra columns are
 * dropped), so every kernel has a fixed width the compiler vectorises, one
 * build per SIMD level (video/simd.h; all compute the same integers). The
 * kernels read the reference in place when the samples they need are inside
 * the picture, else a small copy with the edges repeated. Every output row
 * depends only on its own reference rows (the centre half sample j is taken
 * from the vertical intermediates, which gives the same sums as from the
 * horizontal ones), so a caller that needs every other row (the SADs of the
 * reference choice) gets only those computed. */
#include "select/subpel.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "select/sad.h"
#include "video/simd.h"

#define TW 16                      /* predicted columns */
#define WIN_S 32                   /* window stride: columns -2 .. TW + 2 */
#define WIN_R (OVX_SUBPEL_MAX + 5) /* window rows: -2 .. h + 2 */

int ovx_subpel_quarter(float v)
{
    return (int)lrintf(v * 4.0f);
}

static inline int clip255(int v)
{
    return v < 0 ? 0 : v > 255 ? 255 : v;
}

static inline int tap6(int a, int b, int c, int d, int e, int f)
{
    return a - 5 * b + 20 * c + 20 * d - 5 * e + f;
}

/* win[(r + 2) * WIN_S + c + 2] = ref(ix + c, iy + r) for c in -2..TW+2,
 * r in -2..h+2, edges repeated */
static void fill_window(const uint8_t *ref, int stride, int W, int H, int ix, int iy, int h, uint8_t *win)
{
    int cols = TW + 5, rows = h + 5;
    for (int r = 0; r < rows; r++) {
        int sy = iy - 2 + r;
        sy = sy < 0 ? 0 : sy >= H ? H - 1 : sy;
        const uint8_t *row = ref + (size_t)sy * stride;
        for (int c = 0; c < cols; c++) {
            int sx = ix - 2 + c;
            sx = sx < 0 ? 0 : sx >= W ? W - 1 : sx;
            win[r * WIN_S + c] = row[sx];
        }
    }
}

/* The kernels: n output rows of TW samples into out (stride TW); g points
 * at the integer sample of the first row, gs is the picture's row stride
 * (the taps) and rs the step from one output row to the next. */

/* 16 samples as 16-bit lanes (GCC vector extensions: one build per SIMD
 * level, two SSE2 halves in the portable one; the same integers in each) */
typedef uint8_t v16u8 __attribute__((vector_size(16)));
typedef int16_t v16s __attribute__((vector_size(32)));

#define LD16(v, p)                                                           \
    do {                                                                     \
        v16u8 b_;                                                            \
        memcpy(&b_, (p), 16);                                                \
        (v) = __builtin_convertvector(b_, v16s);                             \
    } while (0)

/* clip255((a - 5 b + 20 c + 20 d - 5 e + f + 16) >> 5) of the samples
 * p[k d], k = -2 .. 3, for 16 lanes (the sums fit 16 bits: -2550 .. 10710)
 * into out */
static inline void tap6_16(const uint8_t *p, ptrdiff_t d, uint8_t *out)
{
    v16s a, b, c, e, f, g;
    LD16(a, p - 2 * d);
    LD16(b, p - d);
    LD16(c, p);
    LD16(e, p + d);
    LD16(f, p + 2 * d);
    LD16(g, p + 3 * d);
    v16s v = (a + g - 5 * (b + f) + 20 * (c + e) + 16) >> 5;
    v16s lo = v < 0, hi = v > 255;
    v = (v & ~lo & ~hi) | (hi & 255);
    v16u8 r = __builtin_convertvector(v, v16u8);
    memcpy(out, &r, 16);
}

/* horizontal half samples (b) */
static inline void k_b(const uint8_t *g, int gs, int rs, int n, uint8_t *out)
{
    (void)gs;
    for (int r = 0; r < n; r++, g += rs, out += TW)
        tap6_16(g, 1, out);
}

/* vertical half samples (h) */
static inline void k_h(const uint8_t *g, int gs, int rs, int n, uint8_t *out)
{
    for (int r = 0; r < n; r++, g += rs, out += TW)
        tap6_16(g, gs, out);
}

/* centre half samples (j) from the unrounded vertical intermediates */
static inline void k_j(const uint8_t *g, int gs, int rs, int n, uint8_t *out)
{
    int16_t v[TW + 5];
    for (int r = 0; r < n; r++, g += rs, out += TW) {
        for (int c = 0; c < TW + 5; c++) {
            const uint8_t *q = g + c - 2;
            v[c] = (int16_t)tap6(q[-2 * gs], q[-gs], q[0], q[gs], q[2 * gs], q[3 * gs]);
        }
        for (int c = 0; c < TW; c++)
            out[c] = (uint8_t)clip255((tap6(v[c], v[c + 1], v[c + 2], v[c + 3], v[c + 4], v[c + 5]) + 512) >> 10);
    }
}

/* integer samples */
static inline void k_g(const uint8_t *g, int rs, int n, uint8_t *out)
{
    for (int r = 0; r < n; r++, g += rs, out += TW)
        memcpy(out, g, TW);
}

/* a = rounded average of a and b */
static inline void k_avg(uint8_t *a, const uint8_t *b, int n)
{
    for (int i = 0; i < n * TW; i++)
        a[i] = (uint8_t)((a[i] + b[i] + 1) >> 1);
}

/* One tile of H.264 luma at phase (fx, fy) (not both 0): 8.4.2.2.1's
 * samples a..r as the rounded averages of their two neighbours. */
OVX_SIMD_VARIANTS(tile_h264, (const uint8_t *g, int gs, int rs, int n, int fx, int fy, uint8_t *out),
                  (g, gs, rs, n, fx, fy, out), {
    uint8_t t[OVX_SUBPEL_MAX * TW];
    const uint8_t *g1 = g + 1, *gd = g + gs; /* G one column right, one row down */
    switch (fy * 4 + fx) {
    case 1: k_g(g, rs, n, out); k_b(g, gs, rs, n, t); break;        /* a = (G + b) */
    case 2: k_b(g, gs, rs, n, out); return;                         /* b */
    case 3: k_g(g1, rs, n, out); k_b(g, gs, rs, n, t); break;       /* c = (H + b) */
    case 4: k_g(g, rs, n, out); k_h(g, gs, rs, n, t); break;        /* d = (G + h) */
    case 5: k_b(g, gs, rs, n, out); k_h(g, gs, rs, n, t); break;    /* e = (b + h) */
    case 6: k_b(g, gs, rs, n, out); k_j(g, gs, rs, n, t); break;    /* f = (b + j) */
    case 7: k_b(g, gs, rs, n, out); k_h(g1, gs, rs, n, t); break;   /* g = (b + m) */
    case 8: k_h(g, gs, rs, n, out); return;                         /* h */
    case 9: k_h(g, gs, rs, n, out); k_j(g, gs, rs, n, t); break;    /* i = (h + j) */
    case 10: k_j(g, gs, rs, n, out); return;                        /* j */
    case 11: k_j(g, gs, rs, n, out); k_h(g1, gs, rs, n, t); break;  /* k = (j + m) */
    case 12: k_g(gd, rs, n, out); k_h(g, gs, rs, n, t); break;      /* n = (M + h) */
    case 13: k_h(g, gs, rs, n, out); k_b(gd, gs, rs, n, t); break;  /* p = (h + s) */
    case 14: k_j(g, gs, rs, n, out); k_b(gd, gs, rs, n, t); break;  /* q = (j + s) */
    case 15: k_h(g1, gs, rs, n, out); k_b(gd, gs, rs, n, t); break; /* r = (m + s) */
    default: k_g(g, rs, n, out); return;
    }
    k_avg(out, t, n);
})

/* One tile of bilinear samples at phase (fx, fy). */
OVX_SIMD_VARIANTS(tile_bilinear, (const uint8_t *g, int gs, int rs, int n, int fx, int fy, uint8_t *out),
                  (g, gs, rs, n, fx, fy, out), {
    const int a = (4 - fx) * (4 - fy), b = fx * (4 - fy), c = (4 - fx) * fy, d = fx * fy;
    for (int r = 0; r < n; r++, g += rs, out += TW)
        for (int k = 0; k < TW; k++)
            out[k] = (uint8_t)((a * g[k] + b * g[k + 1] + c * g[k + gs] + d * g[k + gs + 1] + 8) >> 4);
})

/* Where the prediction of the block's rows 0, step, 2 step, ... (h rows in
 * all) comes from: *src with row step *src_rs when the vector is whole
 * pixels and the block inside the picture (nothing computed), else n rows
 * of TW samples computed into tile (stride TW). Returns the row count. */
static int predict_tile(const uint8_t *ref, int stride, int W, int H, int x, int y, int w, int h, int qx, int qy,
                        ovx_interp interp, int step, uint8_t *tile, const uint8_t **src, int *src_rs)
{
    /* floor division: the integer part and the quarter phase 0..3 */
    int fqx = qx >= 0 ? qx / 4 : -((3 - qx) / 4), fqy = qy >= 0 ? qy / 4 : -((3 - qy) / 4);
    int ix = x + fqx, iy = y + fqy, fx = qx - 4 * fqx, fy = qy - 4 * fqy;
    int n = (h + step - 1) / step;
    if (fx == 0 && fy == 0 && ix >= 0 && iy >= 0 && ix + w <= W && iy + h <= H) {
        *src = ref + (size_t)iy * stride + ix;
        *src_rs = stride * step;
        return n;
    }
    uint8_t win[WIN_R * WIN_S];
    const uint8_t *g;
    int gs;
    if (ix - 2 >= 0 && ix + TW + 3 <= W && iy - 2 >= 0 && iy + h + 3 <= H) {
        g = ref + (size_t)iy * stride + ix;
        gs = stride;
    } else {
        fill_window(ref, stride, W, H, ix, iy, h, win);
        g = win + 2 * WIN_S + 2;
        gs = WIN_S;
    }
    if (interp == OVX_INTERP_H264)
        tile_h264(g, gs, gs * step, n, fx, fy, tile);
    else
        tile_bilinear(g, gs, gs * step, n, fx, fy, tile);
    *src = tile;
    *src_rs = TW;
    return n;
}

void ovx_subpel_predict(const uint8_t *ref, int stride, int W, int H, int x, int y, int w, int h,
                        int qx, int qy, ovx_interp interp, uint8_t *out, int ostride)
{
    ovx_subpel_predict_rows(ref, stride, W, H, x, y, w, h, qx, qy, interp, 1, out, ostride);
}

void ovx_subpel_predict_rows(const uint8_t *ref, int stride, int W, int H, int x, int y, int w, int h,
                             int qx, int qy, ovx_interp interp, int step, uint8_t *out, int ostride)
{
    uint8_t tile[OVX_SUBPEL_MAX * TW];
    const uint8_t *s;
    int rs;
    int n = predict_tile(ref, stride, W, H, x, y, w, h, qx, qy, interp, step, tile, &s, &rs);
    for (int r = 0; r < n; r++, s += rs, out += ostride) {
        if (w == TW)
            memcpy(out, s, TW);
        else if (w == 8)
            memcpy(out, s, 8);
        else if (w == 4)
            memcpy(out, s, 4);
        else
            for (int c = 0; c < w; c++)
                out[c] = s[c];
    }
}

uint32_t ovx_subpel_sad(const uint8_t *ref, int stride, int W, int H, int x, int y, int w, int h, int qx, int qy,
                        ovx_interp interp, const uint8_t *cur, int cstride, int step)
{
    uint8_t tile[OVX_SUBPEL_MAX * TW];
    const uint8_t *s;
    int rs;
    int n = predict_tile(ref, stride, W, H, x, y, w, h, qx, qy, interp, step, tile, &s, &rs);
    uint32_t sum = 0;
    size_t cs = (size_t)cstride * step;
    for (int r = 0; r < n; r++, s += rs, cur += cs)
        sum += ovx_sad_row(cur, s, w);
    return sum;
}
