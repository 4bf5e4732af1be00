/* test_select_residual.c: the residual map (residual.h) against a direct
 * per-pixel reading of what it means, written here with none of the code's
 * shortcuts: every vector's block predicted (subpel.h, checked by its own
 * test) into full-picture planes, 4x4 units bi-predicted by the rounded
 * average or H.264's implicit weights (whichever errs less on every other
 * row), uncovered units from the previous frame, the two-pass light fit in
 * doubles pixel by pixel, the mean |error| per cell summed in pixel order.
 * Random pictures, vectors at every quarter phase with past and future
 * references at different distances, a region of interest smaller than the
 * picture, each SIMD build of the kernels and a second call reusing the
 * scratch buffers; the maps must be equal bit for bit. With a row step
 * (ovx_energy_input.row_step 2 or 4 at high resolutions, 3 too) only the rows
 * y0, y0 + step, ... of the region count: in the cells' means, in the light
 * fit and the weighting choice (every max(2, step)-th row). Some trials
 * use cells of 4 pixels (the sums' path for other cells). The implicit
 * weights for every pair of distances at every SIMD level. A picture
 * whose errors sit exactly on the light fit's limit (+-3 grey levels
 * around a gain of 1) gives the per-pixel map. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "select/residual.h"
#include "video/simd.h"

enum { W = 100, H = 76, CELL = 8, BS = 8, MAXV = 400 };

static int step = 1;    /* the row step under test */
static int cellsz = CELL; /* the cell size under test */

/* row y of the region is read by the statistics (every other row at least) */
static int stat_row(const ovx_roi *roi, int y)
{
    int s = step > 2 ? step : 2;
    return (y - roi->y0) % s == 0;
}

static uint8_t cur[W * H], prevp[W * H], r0[W * H], r1[W * H], f0[W * H], f1[W * H];

static int w1_implicit(int d0, int d1)
{
    /* 8.4.2.3.1: tb = d0, td = d0 + d1 (the code's helper, read again here) */
    int td = d0 + d1, tb = d0;
    int tx = (16384 + abs(td / 2)) / td;
    int dsf = (tb * tx + 32) >> 6;
    dsf = dsf < -1024 ? -1024 : dsf > 1023 ? 1023 : dsf;
    int w = dsf >> 2;
    return w < -64 || w > 128 ? 32 : w;
}

static int clip255(int v) { return v < 0 ? 0 : v > 255 ? 255 : v; }

/* the expected map */
static void oracle(const ovx_energy_input *in, const ovx_roi *roi, int light, float *cells, int cw, int ch,
                   ovx_residual_info *info)
{
    static uint8_t p[2][W * H], cov[2][W * H], dist[2][W * H];
    memset(cov, 0, sizeof cov);
    for (int64_t i = 0; i < in->n_mv; i++) {
        const ovx_mv *m = &in->mv[i];
        int dir = m->source < 0 ? 0 : 1;
        const ovx_energy_ref *r = (dir ? in->fut : in->past) + in->choice[i];
        for (int y = m->y; y < m->y + m->h; y++)
            for (int x = m->x; x < m->x + m->w; x++) {
                if (x < roi->x0 || x >= roi->x1 || y < roi->y0 || y >= roi->y1)
                    continue;
                uint8_t v;
                ovx_subpel_predict(r->y, r->stride, W, H, x, y, 1, 1, ovx_subpel_quarter(m->dx),
                                   ovx_subpel_quarter(m->dy), in->interp, &v, 1);
                p[dir][y * W + x] = v;
            }
        /* the whole 4x4 units the block's part inside roi touches */
        int x0 = m->x > roi->x0 ? m->x : roi->x0, x1 = m->x + m->w < roi->x1 ? m->x + m->w : roi->x1;
        int y0 = m->y > roi->y0 ? m->y : roi->y0, y1 = m->y + m->h < roi->y1 ? m->y + m->h : roi->y1;
        for (int y = y0 / 4 * 4; y < (y1 + 3) / 4 * 4 && y < H; y++)
            for (int x = x0 / 4 * 4; x < (x1 + 3) / 4 * 4 && x < W; x++) {
                if (x1 <= x0 || y1 <= y0)
                    continue;
                cov[dir][y * W + x] = 1;
                dist[dir][y * W + x] = (uint8_t)r->dist;
            }
    }
    /* implicit or average, over bi-predicted pixels of distinct distances on even unit rows */
    uint64_t ea = 0, ei = 0;
    int differ = 0;
    for (int y = roi->y0; y < roi->y1; y++)
        for (int x = roi->x0; x < roi->x1; x++) {
            int k = y * W + x;
            if (!cov[0][k] || !cov[1][k] || dist[0][k] == dist[1][k])
                continue;
            differ = 1;
            if (!stat_row(roi, y))
                continue;
            int a = p[0][k], b = p[1][k], c = in->cur[k], w1 = w1_implicit(dist[0][k], dist[1][k]);
            ea += (uint64_t)abs(c - (a + b + 1) / 2);
            ei += (uint64_t)abs(c - clip255((a * (64 - w1) + b * w1 + 32) >> 6));
        }
    info->bi_implicit = in->interp == OVX_INTERP_H264 && differ && ei < ea;
    static uint8_t pred[W * H], has[W * H];
    for (int k = 0; k < W * H; k++) {
        has[k] = cov[0][k] || cov[1][k] || in->prev;
        if (cov[0][k] && cov[1][k]) {
            int w1 = info->bi_implicit ? w1_implicit(dist[0][k], dist[1][k]) : 32;
            pred[k] = (uint8_t)(w1 == 32 ? (p[0][k] + p[1][k] + 1) / 2
                                         : clip255((p[0][k] * (64 - w1) + p[1][k] * w1 + 32) >> 6));
        } else {
            pred[k] = cov[0][k] ? p[0][k] : cov[1][k] ? p[1][k] : in->prev ? in->prev[k] : 0;
        }
    }
    double g = 1.0, o = 0.0, lim = INFINITY;
    for (int pass = 0; light && pass < 2; pass++) {
        double n = 0, sp = 0, sc = 0, spp = 0, spc = 0, sad = 0;
        for (int y = roi->y0; y < roi->y1; y++)
            for (int x = roi->x0; x < roi->x1 && stat_row(roi, y); x += 2) {
                int k = y * W + x;
                double e = fabs(in->cur[k] - (g * pred[k] + o));
                if (!has[k] || e > lim)
                    continue;
                n++, sp += pred[k], sc += in->cur[k], spp += (double)pred[k] * pred[k];
                spc += (double)pred[k] * in->cur[k], sad += e;
            }
        if (n < 64)
            break;
        double mp = sp / n, mc = sc / n, var = spp / n - mp * mp, cov_ = spc / n - mp * mc;
        g = var > 4.0 ? cov_ / var : 1.0;
        g = g < 0.5 ? 0.5 : g > 2.0 ? 2.0 : g;
        o = mc - g * mp;
        lim = 3.75 * sad / n < 3.0 ? 3.0 : 3.75 * sad / n;
    }
    info->gain = g;
    info->offset = o;
    for (int i = 0; i < ch; i++)
        for (int j = 0; j < cw; j++) {
            double s = 0;
            int n = 0;
            for (int y = i * cellsz; y < (i + 1) * cellsz && y < H; y++) {
                float fs = 0;
                for (int x = j * cellsz; x < (j + 1) * cellsz && x < W; x++) {
                    int k = y * W + x;
                    if (x < roi->x0 || x >= roi->x1 || y < roi->y0 || y >= roi->y1 || !has[k] ||
                        (y - roi->y0) % step)
                        continue;
                    fs += fabsf((float)in->cur[k] - (float)(g * pred[k] + o));
                    n++;
                }
                s += fs;
            }
            cells[i * cw + j] = n ? (float)(s / n) : -1.0f;
        }
}

static void fill(uint8_t *pic, int seed)
{
    srand((unsigned)seed);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            pic[y * W + x] =
                (uint8_t)clip255(120 + (int)(70 * sin(x * 0.21 + seed) * cos(y * 0.17)) + rand() % 21 - 10);
}

/* the implicit weights for every pair of distances (0 .. 255 both), in
 * covered and uncovered units, at every SIMD level, against w1_implicit */
static void test_implicit_weights(void)
{
    enum { N = 256 };
    static uint8_t m0[N], m1[N], d0[N], d1[N];
    static int16_t wu[N];
    int bad = 0;
    for (int level = ovx_video_simd(); level >= 0; level--) {
        ovx_video_force_simd(level);
        for (int a = 0; a < 256; a++) {
            for (int k = 0; k < N; k++) {
                m0[k] = (uint8_t)(k % 5 != 1), m1[k] = (uint8_t)(k % 7 != 2);
                d0[k] = (uint8_t)a, d1[k] = (uint8_t)k, wu[k] = -7;
            }
            ovx_residual_implicit_weights(m0, m1, d0, d1, N, wu);
            for (int k = 0; k < N; k++)
                bad += wu[k] != (m0[k] && m1[k] ? (a + k ? w1_implicit(a, k) : 32) : -7);
        }
    }
    ovx_video_force_simd(-1);
    CHECK(bad == 0);
}

/* a picture predicted exactly (zero vectors, every 8x8 block, from r0)
 * but for quadruples of sampled pixels of predictions 104, 100, 100, 103
 * and errors +3, -3, +4, -4: their sums of error and prediction x error
 * vanish, so the first fit is gain 1, offset 0 exactly and its limit 3
 * grey levels; the +-3 pair, exactly on the limit, stays in the second
 * fit (and moves it), the +-4 pair does not */
static void test_cell_sums(void)
{
    /* each cell's float sum in pixel order, at every SIMD level (cells of 8
     * transposed, others by lanes), against the plain loop */
    enum { N8 = 5, CMAX = 12 };
    static float e[8 * N8 * CMAX], got[8 * N8], want[8 * N8];
    int bad = 0;
    for (int t = 0; t < 40; t++) {
        int cell = t % 2 ? 8 : 1 + rand() % CMAX, n8 = 1 + rand() % N8;
        for (int k = 0; k < 8 * n8 * cell; k++)
            e[k] = (float)(rand() % 100000) / (float)(1 + rand() % 977); /* inexact sums: order shows */
        for (int j = 0; j < 8 * n8; j++) {
            float s = 0;
            for (int i = 0; i < cell; i++)
                s += e[j * cell + i];
            want[j] = s;
        }
        for (int level = ovx_video_simd(); level >= 0; level--) {
            ovx_video_force_simd(level);
            memset(got, 0x55, sizeof got);
            ovx_residual_cell_sums(e, cell, n8, got);
            if (memcmp(got, want, (size_t)(8 * n8) * sizeof *got) && bad++ < 3)
                fprintf(stderr, "cell sums: cell %d n8 %d level %d differ\n", cell, n8, level);
        }
        ovx_video_force_simd(-1);
    }
    CHECK(bad == 0);
}

static void test_on_limit(void)
{
    static uint8_t ref[W * H], pic[W * H];
    static const int qp[4] = {104, 100, 100, 103}, qd[4] = {3, -3, 4, -4};
    srand(11);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x += 4) {
            int v = 10 + rand() % 236;
            for (int k = 0; k < 4 && x + k < W; k++)
                ref[y * W + x + k] = (uint8_t)v;
        }
    memcpy(pic, ref, sizeof pic);
    for (int y = 0; y < H; y += 8)
        for (int q = 0; q < 4; q++) {
            int x = 4 * ((y / 8) % 6 + 5 * q);
            memset(ref + y * W + x, qp[q], 4);
            memcpy(pic + y * W + x, ref + y * W + x, 4);
            pic[y * W + x] = (uint8_t)(qp[q] + qd[q]);
        }
    static ovx_mv mv[MAXV];
    static uint8_t choice[MAXV];
    int n = 0;
    for (int y = 0; y < H; y += BS)
        for (int x = 0; x < W; x += BS, n++) {
            mv[n] = (ovx_mv){.x = x, .y = y, .w = x + BS <= W ? BS : W - x, .h = y + BS <= H ? BS : H - y,
                             .source = -1};
            choice[n] = 0;
        }
    int cw = (W + CELL - 1) / CELL, ch = (H + CELL - 1) / CELL;
    static float got[(W / CELL + 1) * (H / CELL + 1)], want[(W / CELL + 1) * (H / CELL + 1)];
    for (int s = 1; s <= 2; s++) {
        step = s;
        ovx_energy_input in = {.cur = pic, .cur_stride = W, .W = W, .H = H, .mv = mv, .n_mv = n,
                               .choice = choice, .interp = OVX_INTERP_H264, .row_step = s};
        in.past[0] = (ovx_energy_ref){ref, W, 1};
        in.n_past = 1;
        ovx_roi roi = {0, 0, W, H};
        ovx_residual_info wi, gi;
        oracle(&in, &roi, 1, want, cw, ch, &wi);
        CHECK(wi.gain != 1.0); /* the pair on the limit moved the second fit */
        for (int level = ovx_video_simd(); level >= 0; level--) {
            ovx_video_force_simd(level);
            ovx_error err = {0};
            CHECK(ovx_residual_cells(&in, cw, ch, CELL, &roi, 1, got, &gi, &err) == OVX_OK);
            CHECK(memcmp(got, want, (size_t)cw * ch * sizeof *got) == 0 && gi.gain == wi.gain &&
                  gi.offset == wi.offset);
        }
        ovx_video_force_simd(-1);
    }
    step = 1;
}

int main(void)
{
    test_implicit_weights();
    test_cell_sums();
    test_on_limit();
    fill(r0, 1), fill(r1, 2), fill(f0, 3), fill(f1, 4), fill(prevp, 5);
    /* the current picture: the first reference a little brighter and noisy (the light fit's case) */
    for (int k = 0; k < W * H; k++)
        cur[k] = (uint8_t)clip255((int)(1.1 * r0[(k + 1) % (W * H)]) + 6 + rand() % 7 - 3);
    static ovx_mv mv[MAXV];
    static uint8_t choice[MAXV];
    static float got[(W / 4 + 1) * (H / 4 + 1)], want[(W / 4 + 1) * (H / 4 + 1)];
    int bad = 0;
    for (int trial = 0; trial < 36; trial++) {
        step = trial % 12 == 11 ? 3 : trial < 12 ? 1 : trial < 24 ? 2 : 4; /* 3: not a power of two */
        cellsz = trial % 9 == 4 ? 4 : CELL; /* (4: a cell other than the default) */
        int cw = (W + cellsz - 1) / cellsz, ch = (H + cellsz - 1) / cellsz;
        int n = 0;
        for (int y = 0; y < H; y += BS)
            for (int x = 0; x < W; x += BS) {
                /* 0: none (intra), 1: past, 2: future, 3-4: both; every 6th trial
                 * past or none only (P pictures: no weighting, intra units
                 * from the previous frame) */
                int kind = trial % 6 == 5 ? rand() % 2 : rand() % 5;
                for (int d = 0; d < 2 && kind; d++) {
                    if ((kind == 1 && d == 1) || (kind == 2 && d == 0))
                        continue;
                    ovx_mv *m = &mv[n];
                    m->x = x, m->y = y, m->w = x + BS <= W ? BS : W - x, m->h = y + BS <= H ? BS : H - y;
                    m->source = d ? 1 : -1;
                    m->dx = (float)(rand() % 49 - 24) / 4.0f;
                    m->dy = (float)(rand() % 49 - 24) / 4.0f;
                    choice[n++] = (uint8_t)(rand() % 2);
                }
            }
        ovx_energy_input in = {.cur = cur, .cur_stride = W, .prev = trial % 3 ? prevp : NULL, .prev_stride = W,
                               .W = W, .H = H, .mv = mv, .n_mv = n, .choice = choice,
                               .interp = trial % 4 == 3 ? OVX_INTERP_BILINEAR : OVX_INTERP_H264,
                               .row_step = step};
        in.past[0] = (ovx_energy_ref){r0, W, 1};
        in.past[1] = (ovx_energy_ref){r1, W, 3};
        in.fut[0] = (ovx_energy_ref){f0, W, trial % 2 ? 1 : 2};
        in.fut[1] = (ovx_energy_ref){f1, W, trial % 3 == 2 ? 20 : 4}; /* 20: past the weights table */
        in.n_past = in.n_fut = 2;
        /* the crop's region (cells of 8), or the whole picture */
        /* (every 6th: a region ending inside a unit) */
        ovx_roi roi = trial % 6 == 5 ? (ovx_roi){16, 8, 98, 70}
                      : trial % 2    ? (ovx_roi){16, 8, 88, 72}
                                     : (ovx_roi){0, 0, W, H};
        int light = trial % 5 != 4;
        ovx_residual_info wi, gi;
        oracle(&in, &roi, light, want, cw, ch, &wi);
        for (int level = ovx_video_simd(); level >= 0; level--) {
            ovx_video_force_simd(level);
            for (int again = 0; again < 2; again++) {
                ovx_error err = {0};
                memset(got, 0x55, sizeof got);
                CHECK(ovx_residual_cells(&in, cw, ch, cellsz, &roi, light, got, &gi, &err) == OVX_OK);
                int same = memcmp(got, want, (size_t)cw * ch * sizeof *got) == 0 && gi.gain == wi.gain &&
                           gi.offset == wi.offset && gi.bi_implicit == wi.bi_implicit;
                if (!same && bad++ < 5)
                    fprintf(stderr, "trial %d (step %d) level %d call %d: map differs (gain %.6f/%.6f implicit %d/%d)\n",
                            trial, step, level, again, gi.gain, wi.gain, gi.bi_implicit, wi.bi_implicit);
            }
        }
        ovx_video_force_simd(-1);
    }
    CHECK(bad == 0);
    ovx_residual_release();
    return CHECK_RESULT();
}
