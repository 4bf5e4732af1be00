/* test_select_unit.c: fast checks of the selection maths against values
 * computed by hand: similarity fit (with outliers and the median fallback),
 * top-K tie-breaking, percentiles (bit for bit against a sort), the float
 * length against hypot, linspace, crop geometry and the cell ->
 * patch mapping (incl. rotation). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "select/fit.h"
#include "select/grid.h"
#include "select/hypot.h"
#include "select/stats.h"
#include "select/topk.h"
#include "video/resize.h"

static uint32_t rng = 12345;
static double urand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (rng >> 8) / (double)(1 << 24);
}

static void test_fit(void)
{
    enum { N = 400 };
    float x[N], y[N], dx[N], dy[N];
    const double tx = 3.0, ty = -1.5, a = 0.2, b = -0.1;
    for (int i = 0; i < N; i++) {
        x[i] = (float)(urand() * 2 - 1);
        y[i] = (float)(urand() * 2 - 1);
        dx[i] = (float)(tx + a * x[i] - b * y[i]);
        dy[i] = (float)(ty + b * x[i] + a * y[i]);
        if (i % 5 == 0) { /* 20% outliers: an independently moving object */
            dx[i] += (float)(8 + 4 * urand());
            dy[i] -= (float)(6 + 4 * urand());
        }
    }
    ovx_similarity m;
    CHECK(ovx_similarity_fit(x, y, dx, dy, N, 0.7, 2, 64, &m) == 0);
    CHECK(!m.median_fallback);
    CHECK_NEAR(m.tx, tx, 1e-3);
    CHECK_NEAR(m.ty, ty, 1e-3);
    CHECK_NEAR(m.a, a, 1e-3);
    CHECK_NEAR(m.b, b, 1e-3);
    /* a plain least-squares fit (0 passes) is pulled by the outliers */
    ovx_similarity m0;
    CHECK(ovx_similarity_fit(x, y, dx, dy, N, 0.7, 0, 64, &m0) == 0);
    CHECK(fabs(m0.tx - tx) > 0.5);

    /* fewer than 64 non-zero vectors: median vector */
    float zx[100] = {0}, zy[100] = {0};
    for (int i = 0; i < 10; i++) {
        zx[i] = 5.0f;
        zy[i] = -2.0f;
    }
    CHECK(ovx_similarity_fit(x, y, zx, zy, 100, 0.7, 2, 64, &m) == 0);
    CHECK(m.median_fallback);
    CHECK_NEAR(m.tx, 0.0, 1e-9);
    for (int i = 0; i < 60; i++) {
        zx[i] = 5.0f;
        zy[i] = -2.0f;
    }
    CHECK(ovx_similarity_fit(x, y, zx, zy, 100, 0.7, 2, 64, &m) == 0);
    CHECK(m.median_fallback);
    CHECK_NEAR(m.tx, 5.0, 1e-9);
    CHECK_NEAR(m.ty, -2.0, 1e-9);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static void test_percentile(void)
{
    float v[] = {5, 1, 4, 2, 3}, tmp[5];
    CHECK_NEAR(ovx_percentile(v, 5, 50, tmp), 3.0, 1e-6);
    CHECK_NEAR(ovx_percentile(v, 5, 95, tmp), 4.8, 1e-6); /* numpy: 4 + 0.8*(5-4) */
    CHECK_NEAR(ovx_percentile(v, 5, 0, tmp), 1.0, 1e-6);
    CHECK_NEAR(ovx_percentile(v, 5, 100, tmp), 5.0, 1e-6);
    CHECK_NEAR(ovx_percentile(v, 1, 95, tmp), 5.0, 1e-6);
    CHECK_NEAR(ovx_percentile(v, 0, 95, tmp), 0.0, 1e-6);
    float w[] = {0, 10};
    CHECK_NEAR(ovx_percentile(w, 2, 25, tmp), 2.5, 1e-6);
    /* quickselect vs a full sort on random data with many duplicates */
    enum { M = 1001 };
    float r[M], sorted[M], t2[M];
    for (int trial = 0; trial < 50; trial++) {
        int n = 1 + (int)(urand() * (M - 1));
        for (int i = 0; i < n; i++)
            r[i] = (float)(int)(urand() * (trial % 2 ? 5 : 1000));
        memcpy(sorted, r, sizeof(float) * n);
        for (int i = 1; i < n; i++) /* insertion sort: independent of the code under test */
            for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
                float x = sorted[j];
                sorted[j] = sorted[j - 1];
                sorted[j - 1] = x;
            }
        double qs[] = {0, 5, 50, 95, 99.9, 100};
        for (int k = 0; k < 6; k++) {
            double pos = qs[k] / 100.0 * (n - 1);
            int lo = (int)floor(pos);
            double want = lo + 1 < n ? sorted[lo] + (pos - lo) * (sorted[lo + 1] - sorted[lo]) : sorted[n - 1];
            CHECK_NEAR(ovx_percentile(r, (size_t)n, qs[k], t2), want, 1e-4 * (1 + fabs(want)));
        }
    }
    /* bit for bit against a sort (qsort here) on larger arrays: negative,
     * fractional, zero (both signs), many equal and widely spread values */
    enum { L = 20000 };
    static float big[L], bs[L], bt[L];
    int bad = 0;
    for (int trial = 0; trial < 40; trial++) {
        int n = trial < 10 ? 1 + trial * 7 : trial < 20 ? 30 + (int)(urand() * 200) : 1000 + (int)(urand() * (L - 1000));
        for (int i = 0; i < n; i++) {
            double u = urand();
            big[i] = trial % 4 == 0 ? (float)(int)(u * 4) - 1.0f                    /* -1, 0, 1, 2 */
                     : trial % 4 == 1 ? (u < 0.7 ? (u < 0.35 ? -0.0f : 0.0f) : (float)(u * 9.7))
                     : trial % 4 == 2 ? (float)((u - 0.5) * 1e6)
                                      : (float)(exp((u - 0.5) * 60) * (urand() < 0.5 ? -1 : 1));
        }
        for (int i = 0; i < n; i++)
            bs[i] = big[i] == 0.0f ? 0.0f : big[i];
        qsort(bs, (size_t)n, sizeof *bs, cmp_float);
        double qs[] = {0, 1, 25, 50, 90, 95, 99.9, 100};
        for (int k = 0; k < 8; k++) {
            double pos = qs[k] / 100.0 * (n - 1);
            size_t lo = (size_t)floor(pos);
            float want = lo + 1 < (size_t)n ? (float)(bs[lo] + (pos - (double)lo) * ((double)bs[lo + 1] - bs[lo]))
                                            : bs[n - 1];
            float got = ovx_percentile(big, (size_t)n, qs[k], bt);
            if (memcmp(&got, &want, sizeof got) && bad++ < 5)
                fprintf(stderr, "percentile n %d q %g: %.9g, a sort gives %.9g\n", n, qs[k], got, want);
        }
    }
    CHECK(bad == 0);
}

/* ovx_hypot_float equals (float)hypot bit for bit: random lengths, and
 * lengths a few double ulps from the midpoint between two floats (where
 * only hypot itself decides) */
static void test_hypot(void)
{
    int bad = 0;
    for (int i = 0; i < 400000; i++) {
        double x, y;
        if (i % 2) {
            x = (urand() - 0.5) * pow(10, (int)(urand() * 12) - 6);
            y = (urand() - 0.5) * pow(10, (int)(urand() * 12) - 6);
        } else {
            /* a float midpoint m = (f + next f) / 2, approached along a random direction */
            float f = (float)(urand() * 40), g = nextafterf(f, INFINITY);
            double m = ((double)f + g) / 2, t = urand() * 2 * M_PI;
            m = nextafter(m, (i / 2) % 3 == 0 ? 0 : (i / 2) % 3 == 1 ? INFINITY : m);
            x = m * cos(t);
            y = m * sin(t);
        }
        float want = (float)hypot(x, y), got = ovx_hypot_float(x, y);
        if (memcmp(&got, &want, sizeof got) && bad++ < 5)
            fprintf(stderr, "hypot(%.17g, %.17g): %.9g, hypot gives %.9g\n", x, y, got, want);
    }
    float n = ovx_hypot_float(NAN, 1.0), in = ovx_hypot_float(INFINITY, 2.0);
    CHECK(isnan(n) && isinf(in) && ovx_hypot_float(0.0, -0.0) == 0.0f && ovx_hypot_float(-3.0, 4.0) == 5.0f);
    CHECK(bad == 0);
}

static void test_topk(void)
{
    float s[10] = {1, 5, 5, 3, 5, 0, 2, 5, 4, 4};
    int64_t out[10];
    /* K=3 among four 5s: the three lowest indices win */
    CHECK(ovx_topk_select(s, NULL, NULL, 10, 3, out) == 3);
    CHECK(out[0] == 1 && out[1] == 2 && out[2] == 4);
    /* forced first, then by score; output ascending */
    unsigned char forced[10] = {0}, elig[10] = {1, 1, 1, 1, 1, 1, 1, 0, 1, 1};
    forced[5] = 1;
    CHECK(ovx_topk_select(s, elig, forced, 10, 4, out) == 4);
    CHECK(out[0] == 1 && out[1] == 2 && out[2] == 4 && out[3] == 5);
    /* ineligible index 7 never picked; ties at 4 broken by index */
    CHECK(ovx_topk_select(s, elig, forced, 10, 6, out) == 6);
    CHECK(out[0] == 1 && out[1] == 2 && out[2] == 4 && out[3] == 5 && out[4] == 8 && out[5] == 9);
    /* K above the count: everything eligible */
    CHECK(ovx_topk_select(s, elig, NULL, 10, 100, out) == 9);
    /* more forced than K: the K lowest forced indices */
    unsigned char many[10] = {0, 1, 0, 1, 1, 0, 0, 0, 1, 0};
    CHECK(ovx_topk_select(s, NULL, many, 10, 2, out) == 2);
    CHECK(out[0] == 1 && out[1] == 3);
}

/* reference top-K: repeatedly take the best remaining (score desc, index
 * asc; NaN as 0) by a linear scan, O(n*k), independent of the selection */
static int64_t topk_reference(const float *s, const unsigned char *elig, const unsigned char *forced, int64_t n,
                              int64_t k, int64_t *out)
{
    unsigned char *taken = calloc((size_t)n, 1);
    int64_t m = 0;
    for (int64_t i = 0; i < n && m < k; i++)
        if (forced[i])
            taken[i] = 1, m++;
    while (m < k) {
        int64_t best = -1;
        float bs = 0;
        for (int64_t i = 0; i < n; i++) {
            if (taken[i] || forced[i] || !elig[i])
                continue;
            float v = isnan(s[i]) ? 0.0f : s[i];
            if (best < 0 || v > bs)
                best = i, bs = v;
        }
        if (best < 0)
            break;
        taken[best] = 1, m++;
    }
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++)
        if (taken[i])
            out[c++] = i;
    free(taken);
    return c;
}

static void test_topk_random(void)
{
    enum { N = 700 };
    float s[N];
    unsigned char elig[N], forced[N];
    int64_t a[N], b[N];
    for (int round = 0; round < 60; round++) {
        int levels = 1 + round % 7; /* few levels: many ties */
        for (int i = 0; i < N; i++) {
            double u = urand();
            s[i] = u < 0.03 ? NAN : u < 0.06 ? -0.0f : (float)(int)(urand() * levels) - 1.0f;
            elig[i] = urand() > 0.1;
            forced[i] = round % 3 == 0 ? urand() < 0.05 : 0;
        }
        int64_t k = (int64_t)(urand() * N * 1.1);
        int64_t na = ovx_topk_select(s, elig, forced, N, k, a);
        int64_t nb = topk_reference(s, elig, forced, N, k, b);
        CHECK(na == nb);
        CHECK(na == nb && memcmp(a, b, (size_t)na * sizeof *a) == 0);
    }
}

static void test_linspace(void)
{
    int64_t o[64];
    ovx_linspace_i64(0, 63, 16, o); /* the model card's frame slots */
    int64_t want[16] = {0, 4, 8, 12, 16, 21, 25, 29, 33, 37, 42, 46, 50, 54, 58, 63};
    for (int i = 0; i < 16; i++)
        CHECK(o[i] == want[i]);
    ovx_linspace_i64(0, 9, 64, o); /* short video: frames repeat, stay in range, ascending */
    CHECK(o[0] == 0 && o[63] == 9);
    for (int i = 1; i < 64; i++)
        CHECK(o[i] >= o[i - 1]);
    ovx_linspace_i64(0, 63, 4, o);
    CHECK(o[0] == 0 && o[1] == 21 && o[2] == 42 && o[3] == 63);
}

static void test_geometry(void)
{
    ovx_crop_geom g = ovx_crop_geometry(320, 240, 224);
    CHECK(g.rw == 298 && g.rh == 224 && g.cx == 37 && g.cy == 0);
    g = ovx_crop_geometry(568, 320, 224); /* int(224*568/320) = 397 */
    CHECK(g.rw == 397 && g.rh == 224 && g.cx == 86);
    g = ovx_crop_geometry(405, 720, 448);
    CHECK(g.rw == 448 && g.rh == 796 && g.cy == 174);
}

/* The patch map computed directly, every overlap at its cell: the
 * reference for ovx_cells_to_patches' tabled spans. */
static double plain_overlap(double a0, double a1, double b0, double b1)
{
    double lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
    return hi > lo ? hi - lo : 0.0;
}

static void plain_patches(const float *cells, int cw, int ch, int cell, int W, int H, int rotation, float *out)
{
    int rot = rotation == 90 || rotation == 270;
    int Wd = rot ? H : W, Hd = rot ? W : H;
    ovx_crop_geom g = ovx_crop_geometry(Wd, Hd, 224);
    double sx = (double)Wd / g.rw, sy = (double)Hd / g.rh;
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++) {
            double x0 = (g.cx + c * 14) * sx, x1 = (g.cx + (c + 1) * 14) * sx;
            double y0 = (g.cy + r * 14) * sy, y1 = (g.cy + (r + 1) * 14) * sy;
            double u0 = x0, u1 = x1, v0 = y0, v1 = y1;
            if (rotation == 90) { u0 = y0; u1 = y1; v0 = H - x1; v1 = H - x0; }
            if (rotation == 180) { u0 = W - x1; u1 = W - x0; v0 = H - y1; v1 = H - y0; }
            if (rotation == 270) { u0 = W - y1; u1 = W - y0; v0 = x0; v1 = x1; }
            int j0 = (int)(u0 / cell), j1 = (int)(u1 / cell), i0 = (int)(v0 / cell), i1 = (int)(v1 / cell);
            j1 = j1 >= cw ? cw - 1 : j1;
            i1 = i1 >= ch ? ch - 1 : i1;
            j0 = j0 < 0 ? 0 : j0;
            i0 = i0 < 0 ? 0 : i0;
            double s = 0.0, area = 0.0;
            for (int i = i0; i <= i1; i++) {
                double oy = plain_overlap(v0, v1, (double)i * cell, (i + 1) * cell < H ? (double)(i + 1) * cell : H);
                if (oy <= 0)
                    continue;
                for (int j = j0; j <= j1; j++) {
                    double a = plain_overlap(u0, u1, (double)j * cell, (j + 1) * cell < W ? (double)(j + 1) * cell : W) * oy;
                    s += a * cells[(size_t)i * cw + j];
                    area += a;
                }
            }
            out[r * 16 + c] = area > 0 ? (float)(s / area * 196) : 0.0f;
        }
}

static void test_patch_map_exact(void)
{
    /* random maps, sizes, cells (1: spans too wide to table) and rotations:
     * bit-identical to the direct computation */
    srand(11);
    int bad = 0;
    for (int t = 0; t < 200; t++) {
        int W = 16 + rand() % 2000, H = 16 + rand() % 1200, cell = t % 10 == 0 ? 1 : 2 + rand() % 15;
        int rotation = 90 * (rand() % 4);
        int cw = (W + cell - 1) / cell, ch = (H + cell - 1) / cell;
        float *c = malloc(sizeof(float) * cw * ch), got[256], want[256];
        if (!c)
            abort();
        for (int i = 0; i < cw * ch; i++)
            c[i] = (float)rand() / (float)RAND_MAX;
        ovx_cells_to_patches(c, cw, ch, cell, W, H, rotation, got);
        plain_patches(c, cw, ch, cell, W, H, rotation, want);
        if (memcmp(got, want, sizeof got) && bad++ < 3)
            fprintf(stderr, "patch map %dx%d cell %d rotation %d differs\n", W, H, cell, rotation);
        free(c);
    }
    CHECK(bad == 0);
}

static void test_patch_map(void)
{
    /* constant map -> every patch 196 */
    int W = 320, H = 240, cell = 8, cw = 40, ch = 30;
    float *c = malloc(sizeof(float) * cw * ch), out[256];
    for (int i = 0; i < cw * ch; i++)
        c[i] = 1.0f;
    ovx_cells_to_patches(c, cw, ch, cell, W, H, 0, out);
    for (int i = 0; i < 256; i++)
        CHECK_NEAR(out[i], 196.0, 1e-3);
    /* one hot cell at coded pixels [160,168) x [120,128): crop maps x to
     * (x*298/320 - 37)/14 = 8.0..8.5 -> col 8, y*224/240/14 = 8.0..8.5 -> row 8 */
    memset(c, 0, sizeof(float) * cw * ch);
    c[15 * cw + 20] = 1.0f;
    ovx_cells_to_patches(c, cw, ch, cell, W, H, 0, out);
    int best = 0;
    for (int i = 1; i < 256; i++)
        if (out[i] > out[best])
            best = i;
    CHECK(best == 8 * 16 + 8);
    /* rotation 90 clockwise: coded (x, y) shows at (H-1-y, x) on a 240x320 display;
     * hot cell at coded x in [0,8), y in [0,8) -> display top-right corner, which
     * the centre crop (224x298 -> 224x224 from y 37) leaves out; coded x in
     * [152,160) (display y ~156, crop row (156*298/320 - 37)/14 = 7.7) and
     * y in [0,8) (display x 232..240 -> col 15) */
    memset(c, 0, sizeof(float) * cw * ch);
    c[0 * cw + 19] = 1.0f;
    ovx_cells_to_patches(c, cw, ch, cell, W, H, 90, out);
    best = 0;
    for (int i = 1; i < 256; i++)
        if (out[i] > out[best])
            best = i;
    CHECK(best % 16 == 15);
    CHECK(best / 16 == 7 || best / 16 == 8);
    free(c);
}

int main(void)
{
    test_fit();
    test_percentile();
    test_hypot();
    test_topk();
    test_topk_random();
    test_linspace();
    test_geometry();
    test_patch_map();
    test_patch_map_exact();
    return CHECK_RESULT();
}
