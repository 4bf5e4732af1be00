/* subpel.c: the quarter-pel block predictor (see subpel.h). The reference
 * samples around the block are first copied (edges repeated) into a small
 * window; the interpolation then only reads the window. Only the half-pel
 * planes a position needs are computed. */
#include "select/subpel.h"

#include <math.h>
#include <string.h>

#define WIN_W (OVX_SUBPEL_MAX + 6) /* columns -2 .. w + 3 */
#define WIN_H (OVX_SUBPEL_MAX + 5) /* rows -2 .. h + 2 */

int ovx_subpel_quarter(float v)
{
    return (int)lrintf(v * 4.0f);
}

static inline int clip255(int v)
{
    return v < 0 ? 0 : v > 255 ? 255 : v;
}

/* win[(r + 2) * WIN_W + c + 2] = ref(ix + c, iy + r), edges repeated */
static void fill_window(const uint8_t *ref, int stride, int W, int H, int ix, int iy, int w, int h,
                        uint8_t *win)
{
    int cols = w + 6, rows = h + 5;
    int inside = ix - 2 >= 0 && ix - 2 + cols <= W && iy - 2 >= 0 && iy - 2 + rows <= H;
    for (int r = 0; r < rows; r++) {
        int sy = iy - 2 + r;
        if (inside) {
            memcpy(win + r * WIN_W, ref + (size_t)sy * stride + ix - 2, (size_t)cols);
            continue;
        }
        sy = sy < 0 ? 0 : sy >= H ? H - 1 : sy;
        const uint8_t *row = ref + (size_t)sy * stride;
        for (int c = 0; c < cols; c++) {
            int sx = ix - 2 + c;
            sx = sx < 0 ? 0 : sx >= W ? W - 1 : sx;
            win[r * WIN_W + c] = row[sx];
        }
    }
}

#define G(r, c) ((int)win[((r) + 2) * WIN_W + (c) + 2])

static inline int tap6(int a, int b, int c, int d, int e, int f)
{
    return a - 5 * b + 20 * c + 20 * d - 5 * e + f;
}

/* out = rounded average of a and b (strides WIN_W), or a copy of a */
static void avg2(const uint8_t *a, const uint8_t *b, int w, int h, uint8_t *out, int ostride)
{
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c++)
            out[r * ostride + c] =
                b ? (uint8_t)((a[r * WIN_W + c] + b[r * WIN_W + c] + 1) >> 1) : a[r * WIN_W + c];
}

static void predict_h264(const uint8_t *win, int w, int h, int fx, int fy, uint8_t *out, int ostride)
{
    /* half-sample planes, stride WIN_W: b at (c + 1/2, r) for rows 0..h (row
     * h: s of the last row), h at (c, r + 1/2) for columns 0..w (column w: m
     * of the last column), j at the centre; b1 keeps b's unrounded sums on
     * rows -2..h+2 for j */
    int b1[WIN_H * WIN_W];
    uint8_t bp[WIN_H * WIN_W], hp[WIN_H * WIN_W], jp[WIN_H * WIN_W];
    const uint8_t *g = win + 2 * WIN_W + 2; /* G(r, c) = g[r * WIN_W + c] */
    int need_j = (fx == 2 && fy != 0) || (fy == 2 && fx != 0);
    if (fx != 0 || need_j) {
        int r0 = need_j ? -2 : 0, r1 = need_j ? h + 3 : h + 1;
        for (int r = r0; r < r1; r++)
            for (int c = 0; c < w; c++) {
                int v = tap6(G(r, c - 2), G(r, c - 1), G(r, c), G(r, c + 1), G(r, c + 2), G(r, c + 3));
                b1[(r + 2) * WIN_W + c] = v;
                if (r >= 0 && r <= h)
                    bp[r * WIN_W + c] = (uint8_t)clip255((v + 16) >> 5);
            }
    }
    if (fy != 0 && fx != 2)
        for (int r = 0; r < h; r++)
            for (int c = 0; c <= w; c++)
                hp[r * WIN_W + c] = (uint8_t)clip255(
                    (tap6(G(r - 2, c), G(r - 1, c), G(r, c), G(r + 1, c), G(r + 2, c), G(r + 3, c)) + 16) >> 5);
    if (need_j)
        for (int r = 0; r < h; r++)
            for (int c = 0; c < w; c++) {
                const int *q = b1 + (r + 2) * WIN_W + c;
                jp[r * WIN_W + c] = (uint8_t)clip255(
                    (tap6(q[-2 * WIN_W], q[-WIN_W], q[0], q[WIN_W], q[2 * WIN_W], q[3 * WIN_W]) + 512) >> 10);
            }
    const uint8_t *m = hp + 1, *sp = bp + WIN_W; /* m: h one column right; s: b one row down */
    const uint8_t *a = g, *b = NULL;
    switch (fy * 4 + fx) {
    case 1: a = g; b = bp; break;           /* a */
    case 2: a = bp; break;                  /* b */
    case 3: a = g + 1; b = bp; break;       /* c */
    case 4: a = g; b = hp; break;           /* d */
    case 5: a = bp; b = hp; break;          /* e */
    case 6: a = bp; b = jp; break;          /* f */
    case 7: a = bp; b = m; break;           /* g */
    case 8: a = hp; break;                  /* h */
    case 9: a = hp; b = jp; break;          /* i */
    case 10: a = jp; break;                 /* j */
    case 11: a = jp; b = m; break;          /* k */
    case 12: a = g + WIN_W; b = hp; break;  /* n */
    case 13: a = hp; b = sp; break;         /* p */
    case 14: a = jp; b = sp; break;         /* q */
    case 15: a = m; b = sp; break;          /* r */
    default: break;                         /* G */
    }
    avg2(a, b, w, h, out, ostride);
}

static void predict_bilinear(const uint8_t *win, int w, int h, int fx, int fy, uint8_t *out, int ostride)
{
    int a = (4 - fx) * (4 - fy), b = fx * (4 - fy), c = (4 - fx) * fy, d = fx * fy;
    for (int r = 0; r < h; r++)
        for (int k = 0; k < w; k++)
            out[r * ostride + k] =
                (uint8_t)((a * G(r, k) + b * G(r, k + 1) + c * G(r + 1, k) + d * G(r + 1, k + 1) + 8) >> 4);
}

void ovx_subpel_predict(const uint8_t *ref, int stride, int W, int H, int x, int y, int w, int h,
                        int qx, int qy, ovx_interp interp, uint8_t *out, int ostride)
{
    uint8_t win[WIN_H * WIN_W];
    /* floor division: the integer part and the quarter phase 0..3 */
    int fqx = qx >= 0 ? qx / 4 : -((3 - qx) / 4), fqy = qy >= 0 ? qy / 4 : -((3 - qy) / 4);
    int ix = x + fqx, iy = y + fqy, fx = qx - 4 * fqx, fy = qy - 4 * fqy;
    if (fx == 0 && fy == 0 && ix >= 0 && iy >= 0 && ix + w <= W && iy + h <= H) {
        for (int r = 0; r < h; r++)
            memcpy(out + r * ostride, ref + (size_t)(iy + r) * stride + ix, (size_t)w);
        return;
    }
    fill_window(ref, stride, W, H, ix, iy, w, h, win);
    if (interp == OVX_INTERP_H264)
        predict_h264(win, w, h, fx, fy, out, ostride);
    else
        predict_bilinear(win, w, h, fx, fy, out, ostride);
}
