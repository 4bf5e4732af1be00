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

/* b1: horizontal half-pel sums (unrounded) at (c + 1/2, r) for rows
 * r0 .. r1 - 1, columns 0 .. w - 1; stored at row r + 2. */
static void half_h(const uint8_t *win, int w, int r0, int r1, int *b1)
{
    for (int r = r0; r < r1; r++)
        for (int c = 0; c < w; c++)
            b1[(r + 2) * WIN_W + c] = tap6(G(r, c - 2), G(r, c - 1), G(r, c), G(r, c + 1), G(r, c + 2), G(r, c + 3));
}

/* h1: vertical half-pel sums (unrounded) at (c, r + 1/2) for rows 0 .. h - 1,
 * columns 0 .. w (one more for the quarter positions right of the half). */
static void half_v(const uint8_t *win, int w, int h, int *h1)
{
    for (int r = 0; r < h; r++)
        for (int c = 0; c <= w; c++)
            h1[r * WIN_W + c] = tap6(G(r - 2, c), G(r - 1, c), G(r, c), G(r + 1, c), G(r + 2, c), G(r + 3, c));
}

static void predict_h264(const uint8_t *win, int w, int h, int fx, int fy, uint8_t *out, int ostride)
{
    int bb[WIN_H * WIN_W], hh[WIN_H * WIN_W];
    /* j: the centre and its neighbours; b (and s, one row down): every
     * horizontal phase; h (and m, one column right): vertical phases off
     * the half column */
    int need_j = (fx == 2 && fy != 0) || (fy == 2 && fx != 0);
    int need_b = fx != 0;
    int need_h = fy != 0 && fx != 2;
    if (fx == 0 && fy == 0) {
        for (int r = 0; r < h; r++)
            for (int c = 0; c < w; c++)
                out[r * ostride + c] = (uint8_t)G(r, c);
        return;
    }
    /* rows of b needed: j reads r - 2 .. r + 3; s (b one row down) r + 1 */
    if (need_b || need_j)
        half_h(win, w, need_j ? -2 : 0, need_j ? h + 3 : h + 1, bb);
    if (need_h)
        half_v(win, w, h, hh);
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c++) {
            int b = 0, s = 0, hv = 0, m = 0, j = 0;
            if (need_b || need_j) {
                b = clip255((bb[(r + 2) * WIN_W + c] + 16) >> 5);
                s = clip255((bb[(r + 3) * WIN_W + c] + 16) >> 5);
            }
            if (need_h) {
                hv = clip255((hh[r * WIN_W + c] + 16) >> 5);
                m = clip255((hh[r * WIN_W + c + 1] + 16) >> 5);
            }
            if (need_j) {
                const int *q = bb + (r + 2) * WIN_W + c;
                j = clip255((tap6(q[-2 * WIN_W], q[-WIN_W], q[0], q[WIN_W], q[2 * WIN_W], q[3 * WIN_W]) + 512) >> 10);
            }
            int v;
            switch (fy * 4 + fx) {
            case 1: v = (G(r, c) + b + 1) >> 1; break;          /* a */
            case 2: v = b; break;                               /* b */
            case 3: v = (G(r, c + 1) + b + 1) >> 1; break;      /* c */
            case 4: v = (G(r, c) + hv + 1) >> 1; break;         /* d */
            case 5: v = (b + hv + 1) >> 1; break;               /* e */
            case 6: v = (b + j + 1) >> 1; break;                /* f */
            case 7: v = (b + m + 1) >> 1; break;                /* g */
            case 8: v = hv; break;                              /* h */
            case 9: v = (hv + j + 1) >> 1; break;               /* i */
            case 10: v = j; break;                              /* j */
            case 11: v = (j + m + 1) >> 1; break;               /* k */
            case 12: v = (G(r + 1, c) + hv + 1) >> 1; break;    /* n */
            case 13: v = (hv + s + 1) >> 1; break;              /* p */
            case 14: v = (j + s + 1) >> 1; break;               /* q */
            default: v = (m + s + 1) >> 1; break;               /* r (15) */
            }
            out[r * ostride + c] = (uint8_t)v;
        }
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
    fill_window(ref, stride, W, H, ix, iy, w, h, win);
    if (interp == OVX_INTERP_H264)
        predict_h264(win, w, h, fx, fy, out, ostride);
    else
        predict_bilinear(win, w, h, fx, fy, out, ostride);
}
