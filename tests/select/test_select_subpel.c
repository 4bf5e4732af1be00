/* test_select_subpel.c: the quarter-pel predictor against a direct reading
 * of the standards: H.264's luma sample interpolation (8.4.2.2.1: the 6-tap
 * half samples b, h, the centre j computed here from the horizontal
 * intermediates, the other way round from the code, and the 12 quarter
 * samples as rounded averages of their two named neighbours) and the
 * MPEG half-pel averages; every quarter phase, random pictures, blocks on
 * and across the picture edges (samples outside repeat the edge); the SAD
 * of every step-th row and the prediction of only those rows (steps 1..8:
 * the centre sample's intermediates are shared between output rows closer
 * than 6 rows); widths 4, 8, 16 and any other; two picture sizes (blocks
 * read in place or from an edge-repeated copy); each SIMD build of the
 * kernels. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "select/subpel.h"
#include "video/simd.h"

enum { WMAX = 64, HMAX = 48 };
static int W, H;
static uint8_t pic[WMAX * HMAX];

static int P(int x, int y)
{
    x = x < 0 ? 0 : x >= W ? W - 1 : x;
    y = y < 0 ? 0 : y >= H ? H - 1 : y;
    return pic[y * W + x];
}
static int clip(int v) { return v < 0 ? 0 : v > 255 ? 255 : v; }
static int t6(int e, int f, int g, int h, int i, int j) { return e - 5 * f + 20 * g + 20 * h - 5 * i + j; }

/* half samples of the standard around integer sample G = (x, y) */
static int b1_(int x, int y) { return t6(P(x - 2, y), P(x - 1, y), P(x, y), P(x + 1, y), P(x + 2, y), P(x + 3, y)); }
static int h1_(int x, int y) { return t6(P(x, y - 2), P(x, y - 1), P(x, y), P(x, y + 1), P(x, y + 2), P(x, y + 3)); }
static int b_(int x, int y) { return clip((b1_(x, y) + 16) >> 5); }
static int h_(int x, int y) { return clip((h1_(x, y) + 16) >> 5); }
static int j_(int x, int y)
{
    /* j1 = aa - 5 bb + 20 b1 + 20 s1 - 5 gg + hh over the horizontal intermediates */
    int j1 = t6(b1_(x, y - 2), b1_(x, y - 1), b1_(x, y), b1_(x, y + 1), b1_(x, y + 2), b1_(x, y + 3));
    return clip((j1 + 512) >> 10);
}
static int avg(int a, int b) { return (a + b + 1) >> 1; }

/* the luma sample at quarter position (4x + fx, 4y + fy) */
static int h264_sample(int x, int y, int fx, int fy)
{
    int G = P(x, y), Hs = P(x + 1, y), M = P(x, y + 1);
    int b = b_(x, y), h = h_(x, y), m = h_(x + 1, y), s = b_(x, y + 1), j = j_(x, y);
    switch (fx * 10 + fy) {
    case 0: return G;
    case 10: return avg(G, b);        /* a */
    case 20: return b;
    case 30: return avg(Hs, b);       /* c */
    case 1: return avg(G, h);         /* d */
    case 2: return h;
    case 3: return avg(M, h);         /* n */
    case 11: return avg(b, h);        /* e */
    case 31: return avg(b, m);        /* g */
    case 13: return avg(h, s);        /* p */
    case 33: return avg(m, s);        /* r */
    case 21: return avg(b, j);        /* f */
    case 23: return avg(j, s);        /* q */
    case 12: return avg(h, j);        /* i */
    case 32: return avg(j, m);        /* k */
    case 22: return j;
    }
    return -1;
}

static int floordiv4(int v) { return v >= 0 ? v / 4 : -((3 - v) / 4); }

static int mpeg_sample(int x, int y, int fx, int fy)
{
    /* half-pel: the standards' rounded averages; quarter phases: bilinear weights */
    int a = P(x, y), b = P(x + 1, y), c = P(x, y + 1), d = P(x + 1, y + 1);
    if (fx == 0 && fy == 0) return a;
    if (fx == 2 && fy == 0) return (a + b + 1) >> 1;
    if (fx == 0 && fy == 2) return (a + c + 1) >> 1;
    if (fx == 2 && fy == 2) return (a + b + c + d + 2) >> 2;
    double v = ((4 - fx) * (4 - fy) * a + fx * (4 - fy) * b + (4 - fx) * fy * c + fx * fy * d) / 16.0;
    return (int)(v + 0.5); /* round half up */
}

static void run(ovx_interp interp, int trials)
{
    enum { M = OVX_SUBPEL_MAX };
    uint8_t out[M * M], rows[M * M], cur[M * M];
    int bad = 0, bad_sad = 0, bad_rows = 0, phases[16] = {0};
    for (int t = 0; t < trials; t++) {
        int w = 1 + rand() % M, h = 1 + rand() % M;
        if (t % 3 == 0) { w = 16; h = 16; }
        if (t % 3 == 1) { w = 4 << rand() % 2; h = 4 << rand() % 3; } /* 4 or 8 wide */
        int x = rand() % W, y = rand() % H;
        int qx = rand() % 81 - 40, qy = rand() % 81 - 40; /* up to 10 px, often outside */
        ovx_subpel_predict(pic, W, W, H, x, y, w, h, qx, qy, interp, out, M);
        int ix = floordiv4(qx), iy = floordiv4(qy), fx = qx - 4 * ix, fy = qy - 4 * iy;
        phases[fy * 4 + fx]++;
        for (int r = 0; r < h; r++)
            for (int c = 0; c < w; c++) {
                int want = interp == OVX_INTERP_H264 ? h264_sample(x + c + ix, y + r + iy, fx, fy)
                                                     : mpeg_sample(x + c + ix, y + r + iy, fx, fy);
                if (out[r * M + c] != want && bad++ < 5)
                    fprintf(stderr, "interp %d: (%d,%d) %dx%d q(%d,%d) pixel (%d,%d): %d, want %d\n", interp,
                            x, y, w, h, qx, qy, c, r, out[r * M + c], want);
            }
        /* the rows 0, step, ... and their SAD against a random block, from the checked prediction */
        for (int k = 0; k < M * M; k++)
            cur[k] = (uint8_t)(rand() % 256);
        for (int step = 1; step <= 8; step++) {
            uint32_t want = 0;
            for (int r = 0; r < h; r += step)
                for (int c = 0; c < w; c++)
                    want += (uint32_t)abs(cur[r * M + c] - out[r * M + c]);
            uint32_t got = ovx_subpel_sad(pic, W, W, H, x, y, w, h, qx, qy, interp, cur, M, step);
            /* the same through the made-once reference and block */
            ovx_subpel_ref rf = ovx_subpel_ref_make(pic, W, W, H, interp);
            ovx_subpel_block bk = ovx_subpel_block_make(x, y, w, h, cur, M, step);
            if (ovx_subpel_block_sad(&rf, &bk, qx, qy) != want || bk.n != (h + step - 1) / step)
                got = want + 1;
            if (got != want && bad_sad++ < 5)
                fprintf(stderr, "interp %d: (%d,%d) %dx%d q(%d,%d) step %d: SAD %u, want %u\n", interp, x, y, w, h,
                        qx, qy, step, got, want);
            memset(rows, 0xa5, sizeof rows);
            ovx_subpel_predict_rows(pic, W, W, H, x, y, w, h, qx, qy, interp, step, rows, M);
            for (int r = 0; r < h; r += step)
                for (int c = 0; c < M; c++) {
                    int got_px = rows[r / step * M + c], want_px = c < w ? out[r * M + c] : 0xa5;
                    if (got_px != want_px && bad_rows++ < 5)
                        fprintf(stderr, "interp %d: (%d,%d) %dx%d q(%d,%d) step %d row %d col %d: %d, want %d\n",
                                interp, x, y, w, h, qx, qy, step, r, c, got_px, want_px);
                }
        }
    }
    CHECK(bad == 0);
    CHECK(bad_sad == 0);
    CHECK(bad_rows == 0); /* the rows asked for, and nothing right of the block's width */
    for (int k = 0; k < 16; k++)
        CHECK(phases[k] > 0);
}

int main(void)
{
    /* every SIMD build of the kernels (video/simd.h), down from the CPU's best */
    for (int level = ovx_video_simd(); level >= 0; level--) {
        ovx_video_force_simd(level);
        srand(7);
        for (int size = 0; size < 2; size++) {
            W = size ? WMAX : 37;
            H = size ? HMAX : 29;
            for (int k = 0; k < W * H; k++)
                pic[k] = (uint8_t)(rand() % 256); /* full range: clipping of the 6-tap is exercised */
            run(OVX_INTERP_H264, 3000);
            run(OVX_INTERP_BILINEAR, 3000);
            /* a smooth picture as well (the usual case) */
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    pic[y * W + x] = (uint8_t)(128 + 60 * ((x * 7 + y * 3) % 17) / 17 - (x * y) % 5);
            run(OVX_INTERP_H264, 1000);
        }
    }
    CHECK(ovx_subpel_quarter(1.25f) == 5 && ovx_subpel_quarter(-0.75f) == -3 && ovx_subpel_quarter(-2.5f) == -10);
    /* as lrintf: ties to even (0.125 px = half a quarter), any vector */
    CHECK(ovx_subpel_quarter(0.125f) == 0 && ovx_subpel_quarter(0.375f) == 2 && ovx_subpel_quarter(-0.125f) == 0);
    int bad_q = 0;
    for (int k = 0; k < 100000; k++) {
        float v = (float)(rand() % 4001 - 2000) / 8.0f + (float)(rand() % 3 - 1) * 1e-3f;
        bad_q += ovx_subpel_quarter(v) != (int)lrintf(v * 4.0f);
    }
    CHECK(bad_q == 0);
    return CHECK_RESULT();
}
