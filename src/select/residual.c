/* residual.c: the motion-compensated prediction error map (see residual.h).
 * Past (source -1) and future (+1) predictions go to two planes covering
 * the region of interest; a 4x4 unit covered by both is bi-predicted.
 * Everything is integer until the light fit, whose sums are integers too
 * (exact, so in any order); the per-cell sums of the error run in a fixed
 * order: the map does not depend on threads or on the SIMD level. The
 * planes live in a scratch buffer that later frames reuse. */
#include "select/residual.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "video/simd.h"

typedef struct planes {
    uint8_t *p[2];    /* [rh * rw] predictions of the roi's pixels: 0 past, 1 future */
    uint8_t *m[2];    /* [uh * uw] unit covered by a prediction (units of the roi) */
    uint8_t *d[2];    /* [uh * uw] reference distance of that prediction */
    int x0, y0, rw, rh, uw, uh;
} planes;

/* ---- scratch buffers, kept between frames ---- */

#define CACHE_MAX 16
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static void *cache_buf[CACHE_MAX];
static size_t cache_cap[CACHE_MAX];
static int cache_n;

static void *scratch_get(size_t need, size_t *cap)
{
    void *b = NULL;
    size_t c = 0;
    pthread_mutex_lock(&cache_mu);
    if (cache_n > 0) {
        cache_n--;
        b = cache_buf[cache_n];
        c = cache_cap[cache_n];
    }
    pthread_mutex_unlock(&cache_mu);
    if (b && c >= need) {
        *cap = c;
        return b;
    }
    free(b);
    *cap = need;
    return malloc(need);
}

static void scratch_put(void *b, size_t cap)
{
    pthread_mutex_lock(&cache_mu);
    if (cache_n < CACHE_MAX) {
        cache_buf[cache_n] = b;
        cache_cap[cache_n++] = cap;
        b = NULL;
    }
    pthread_mutex_unlock(&cache_mu);
    free(b);
}

void ovx_residual_release(void)
{
    pthread_mutex_lock(&cache_mu);
    for (int i = 0; i < cache_n; i++)
        free(cache_buf[i]);
    cache_n = 0;
    pthread_mutex_unlock(&cache_mu);
}

/* ---- predictions ---- */

static inline size_t unit_at(const planes *pl, int ux, int uy)
{
    return (size_t)(uy - pl->y0 / 4) * pl->uw + (ux - pl->x0 / 4);
}

/* Predicts every vector's block (the part inside the roi) into its plane. */
static void predict_all(const ovx_energy_input *in, planes *pl)
{
    int rx1 = pl->x0 + pl->rw, ry1 = pl->y0 + pl->rh;
    for (int64_t i = 0; i < in->n_mv; i++) {
        const ovx_mv *m = &in->mv[i];
        int dir = m->source < 0 ? 0 : 1;
        int nc = dir ? in->n_fut : in->n_past;
        if (nc == 0)
            continue;
        int x0 = m->x > pl->x0 ? m->x : pl->x0, y0 = m->y > pl->y0 ? m->y : pl->y0;
        int x1 = m->x + m->w < rx1 ? m->x + m->w : rx1;
        int y1 = m->y + m->h < ry1 ? m->y + m->h : ry1;
        if (x1 <= x0 || y1 <= y0)
            continue;
        int c = in->choice ? in->choice[i] : 0;
        const ovx_energy_ref *r = (dir ? in->fut : in->past) + (c < nc ? c : 0);
        int qx = ovx_subpel_quarter(m->dx), qy = ovx_subpel_quarter(m->dy);
        for (int y = y0; y < y1; y += OVX_SUBPEL_MAX)
            for (int x = x0; x < x1; x += OVX_SUBPEL_MAX) {
                int w = x1 - x < OVX_SUBPEL_MAX ? x1 - x : OVX_SUBPEL_MAX;
                int h = y1 - y < OVX_SUBPEL_MAX ? y1 - y : OVX_SUBPEL_MAX;
                ovx_subpel_predict(r->y, r->stride, in->W, in->H, x, y, w, h, qx, qy, in->interp,
                                   pl->p[dir] + (size_t)(y - pl->y0) * pl->rw + (x - pl->x0), pl->rw);
            }
        uint8_t dist = (uint8_t)(r->dist < 1 ? 1 : r->dist > 255 ? 255 : r->dist);
        for (int uy = y0 / 4; uy < (y1 + 3) / 4; uy++) {
            size_t u = unit_at(pl, x0 / 4, uy);
            int nu = (x1 + 3) / 4 - x0 / 4;
            memset(pl->m[dir] + u, 1, (size_t)nu);
            memset(pl->d[dir] + u, dist, (size_t)nu);
        }
    }
}

/* H.264 implicit bi-prediction weight of the future prediction (of 64) for
 * reference distances d0 (past) and d1 (future): 8.4.2.3.1 with
 * tb = d0 and td = d0 + d1; 32 where the standard falls back to it. */
static int implicit_w1(int d0, int d1)
{
    int td = d0 + d1, tb = d0;
    if (td <= 0)
        return 32;
    int tx = (16384 + abs(td / 2)) / td;
    int dsf = (tb * tx + 32) >> 6;
    dsf = dsf < -1024 ? -1024 : dsf > 1023 ? 1023 : dsf;
    int w1 = dsf >> 2;
    return w1 < -64 || w1 > 128 ? 32 : w1;
}

/* Bi-predicted units: both weightings compared on every other row; the one
 * with the smaller error is used for the whole frame. */
static int choose_implicit(const ovx_energy_input *in, const planes *pl)
{
    uint64_t e_avg = 0, e_imp = 0;
    int differ = 0;
    int rx1 = pl->x0 + pl->rw, ry1 = pl->y0 + pl->rh;
    for (int uy = pl->y0 / 4; uy < (ry1 + 3) / 4; uy++)
        for (int ux = pl->x0 / 4; ux < (rx1 + 3) / 4; ux++) {
            size_t u = unit_at(pl, ux, uy);
            if (!pl->m[0][u] || !pl->m[1][u] || pl->d[0][u] == pl->d[1][u])
                continue;
            differ = 1;
            int w1 = implicit_w1(pl->d[0][u], pl->d[1][u]), w0 = 64 - w1;
            for (int y = uy * 4; y < uy * 4 + 4 && y < ry1; y += 2)
                for (int x = ux * 4; x < ux * 4 + 4 && x < rx1; x++) {
                    size_t k = (size_t)(y - pl->y0) * pl->rw + (x - pl->x0);
                    int a = pl->p[0][k], b = pl->p[1][k];
                    int c = in->cur[(size_t)y * in->cur_stride + x];
                    e_avg += (uint64_t)abs(c - ((a + b + 1) >> 1));
                    int v = (a * w0 + b * w1 + 32) >> 6;
                    v = v < 0 ? 0 : v > 255 ? 255 : v;
                    e_imp += (uint64_t)abs(c - v);
                }
        }
    return differ && e_imp < e_avg;
}

/* The final prediction into pl->p[0]; pl->m[0] = unit predicted at all. */
static void compose(const ovx_energy_input *in, planes *pl, int implicit)
{
    int rx1 = pl->x0 + pl->rw, ry1 = pl->y0 + pl->rh;
    for (int uy = pl->y0 / 4; uy < (ry1 + 3) / 4; uy++)
        for (int ux = pl->x0 / 4; ux < (rx1 + 3) / 4; ux++) {
            size_t u = unit_at(pl, ux, uy);
            int m0 = pl->m[0][u], m1 = pl->m[1][u];
            if (m0 && !m1)
                continue;
            pl->m[0][u] = m0 || m1 || in->prev;
            if (!m1 && !in->prev)
                continue;
            int w1 = m0 && m1 ? (implicit ? implicit_w1(pl->d[0][u], pl->d[1][u]) : 32) : 0;
            int w0 = 64 - w1;
            int xe = ux * 4 + 4 < rx1 ? ux * 4 + 4 : rx1;
            for (int y = uy * 4; y < uy * 4 + 4 && y < ry1; y++) {
                size_t k = (size_t)(y - pl->y0) * pl->rw - pl->x0;
                uint8_t *a = pl->p[0] + k;
                const uint8_t *b = pl->p[1] + k;
                if (m0) {
                    for (int x = ux * 4; x < xe; x++) {
                        int v = w1 == 32 ? (a[x] + b[x] + 1) >> 1 : (a[x] * w0 + b[x] * w1 + 32) >> 6;
                        a[x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                    }
                } else if (m1) {
                    memcpy(a + ux * 4, b + ux * 4, (size_t)(xe - ux * 4));
                } else {
                    memcpy(a + ux * 4, in->prev + (size_t)y * in->prev_stride + ux * 4, (size_t)(xe - ux * 4));
                }
            }
        }
}

/* ---- the light fit ---- */

/* Integer sums of the fit over the predicted pixels of every other row and
 * column whose |cur - (gain pred + offset)| <= the limit; lo[p] <= cur <=
 * hi[p] is that test for prediction p, computed once per value. */
typedef struct fit_sums {
    int64_t n, sp, sc, spp, spc, sad;
} fit_sums;

static void fit_pass(const ovx_energy_input *in, const planes *pl, const int16_t *lo, const int16_t *hi,
                     fit_sums *s)
{
    fit_sums t = {0};
    for (int y = pl->y0; y < pl->y0 + pl->rh; y += 2) {
        const uint8_t *c = in->cur + (size_t)y * in->cur_stride + pl->x0;
        const uint8_t *p = pl->p[0] + (size_t)(y - pl->y0) * pl->rw;
        const uint8_t *mu = pl->m[0] + (size_t)(y / 4 - pl->y0 / 4) * pl->uw;
        /* the roi starts on a unit: column x of the roi is in unit x / 4 */
        for (int x = 0; x < pl->rw; x += 2) {
            int pv = p[x], cv = c[x];
            if (!mu[x >> 2] || cv < lo[pv] || cv > hi[pv])
                continue;
            t.n++;
            t.sp += pv;
            t.sc += cv;
            t.spp += pv * pv;
            t.spc += pv * cv;
            t.sad += abs(cv - pv);
        }
    }
    *s = t;
}

/* Least-squares cur = gain * pred + offset over the predicted pixels of roi
 * (every other row and column), then again without the pixels whose error
 * exceeds 3 robust deviations (moving things); gain kept in [0.5, 2]. */
static void fit_light(const ovx_energy_input *in, const planes *pl, double *gain, double *offset)
{
    double g = 1.0, o = 0.0, lim = INFINITY;
    int16_t lo[256], hi[256];
    for (int v = 0; v < 256; v++) {
        lo[v] = 0;
        hi[v] = 255;
    }
    for (int pass = 0; pass < 2; pass++) {
        fit_sums s;
        fit_pass(in, pl, lo, hi, &s);
        /* the sums as doubles: integers below 2^53, so exact */
        double n = (double)s.n, sp = (double)s.sp, sc = (double)s.sc, spp = (double)s.spp, spc = (double)s.spc;
        if (n < 64)
            break;
        double mp = sp / n, mc = sc / n, var = spp / n - mp * mp, cov = spc / n - mp * mc;
        double ng = var > 4.0 ? cov / var : 1.0;
        ng = ng < 0.5 ? 0.5 : ng > 2.0 ? 2.0 : ng;
        g = ng;
        o = mc - g * mp;
        /* mean absolute error ~ 0.8 sigma: 3 sigma ~ 3.75 MAE, at least 3 grey
         * levels (the first pass's errors are the integers |cur - pred|) */
        lim = 3.75 * (double)s.sad / n;
        if (lim < 3.0)
            lim = 3.0;
        /* the next pass keeps cur with fabs(cur - (g p + o)) <= lim: an
         * interval of cur for each p, found by the same expression */
        for (int v = 0; v < 256; v++) {
            int a = 0, b = 255;
            while (a <= 255 && fabs(a - (g * v + o)) > lim)
                a++;
            while (b >= a && fabs(b - (g * v + o)) > lim)
                b--;
            lo[v] = (int16_t)a;
            hi[v] = (int16_t)b;
        }
    }
    *gain = g;
    *offset = o;
}

/* ---- the error per cell ---- */

/* e[x] = |cur - (gain pred + offset)| for the covered pixels of one row
 * (the value the table lut gives, as float), 0 elsewhere; mask[x] 1 where
 * covered (one build per SIMD level; the same floats in each) */
OVX_SIMD_VARIANTS(row_errors, (const uint8_t *restrict c, const uint8_t *restrict p, const uint8_t *restrict mask,
                               const float *restrict lut, int n, float *restrict e),
                  (c, p, mask, lut, n, e), {
    for (int x = 0; x < n; x++) {
        float v = fabsf((float)c[x] - lut[p[x]]);
        e[x] = mask[x] ? v : 0.0f;
    }
})

int ovx_residual_cells(const ovx_energy_input *in, int cw, int ch, int cell, const ovx_roi *roi, int light,
                       float *cells, ovx_residual_info *info, ovx_error *err)
{
    size_t nc = (size_t)cw * ch;
    planes pl = {.x0 = roi->x0, .y0 = roi->y0, .rw = roi->x1 - roi->x0, .rh = roi->y1 - roi->y0};
    pl.uw = (roi->x1 + 3) / 4 - roi->x0 / 4;
    pl.uh = (roi->y1 + 3) / 4 - roi->y0 / 4;
    /* the roi's cells: columns j0 .. j0 + rcw, rows i0 .. i0 + rch */
    int j0 = roi->x0 / cell, i0 = roi->y0 / cell;
    int rcw = (roi->x1 + cell - 1) / cell - j0, rch = (roi->y1 + cell - 1) / cell - i0;
    size_t npx = (size_t)pl.rw * pl.rh, nu = (size_t)pl.uw * pl.uh, nrc = (size_t)rcw * rch;
    size_t rowb = ((size_t)pl.rw + 64) & ~(size_t)63;
    size_t need = nrc * (sizeof(double) + sizeof(int32_t)) + rowb * (sizeof(float) + 1) + 2 * npx + 4 * nu + 64;
    size_t cap;
    uint8_t *buf = scratch_get(need, &cap);
    if (!buf)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (residual map)");
    double *sum = (double *)buf;
    int32_t *cnt = (int32_t *)(sum + nrc);
    float *e = (float *)(cnt + nrc + (nrc & 1));
    uint8_t *mask = (uint8_t *)(e + rowb);
    pl.p[0] = mask + rowb;
    pl.p[1] = pl.p[0] + npx;
    pl.m[0] = pl.p[1] + npx;
    pl.m[1] = pl.m[0] + nu;
    pl.d[0] = pl.m[1] + nu;
    pl.d[1] = pl.d[0] + nu;
    memset(pl.m[0], 0, 4 * nu);
    memset(sum, 0, nrc * sizeof *sum);
    memset(cnt, 0, nrc * sizeof *cnt);

    predict_all(in, &pl);
    info->bi_implicit = in->interp == OVX_INTERP_H264 && choose_implicit(in, &pl);
    compose(in, &pl, info->bi_implicit);
    info->gain = 1.0;
    info->offset = 0.0;
    if (light)
        fit_light(in, &pl, &info->gain, &info->offset);
    /* |cur - (gain * pred + offset)| through a table of the 256 predictions */
    float lut[256];
    for (int v = 0; v < 256; v++)
        lut[v] = (float)(info->gain * v + info->offset);
    for (int y = roi->y0; y < roi->y1; y++) {
        const uint8_t *c = in->cur + (size_t)y * in->cur_stride + roi->x0;
        const uint8_t *p = pl.p[0] + (size_t)(y - roi->y0) * pl.rw;
        const uint8_t *mu = pl.m[0] + (size_t)(y / 4 - roi->y0 / 4) * pl.uw;
        for (int x = 0; x < pl.rw; x += 4) {
            uint32_t v = mu[x >> 2] * 0x01010101u;
            memcpy(mask + x, &v, 4);
        }
        row_errors(c, p, mask, lut, pl.rw, e);
        double *srow = sum + (size_t)(y / cell - i0) * rcw;
        int32_t *crow = cnt + (size_t)(y / cell - i0) * rcw;
        /* each cell's sum in pixel order (float, as always), eight cells at a time */
        int j = 0;
        if (rcw * cell == pl.rw)
            for (; j + 8 <= rcw; j += 8) {
                float s[8] = {0};
                const float *eb = e + (size_t)j * cell;
                for (int i = 0; i < cell; i++)
                    for (int k = 0; k < 8; k++)
                        s[k] += eb[k * cell + i];
                for (int k = 0; k < 8; k++) {
                    int n = 0;
                    for (int u = 0; u < cell; u += 4)
                        n += mask[(j + k) * cell + u];
                    srow[j + k] += s[k];
                    crow[j + k] += 4 * n;
                }
            }
        for (; j < rcw; j++) {
            int xs = j * cell, xe = xs + cell < pl.rw ? xs + cell : pl.rw;
            float s = 0;
            int n = 0;
            for (int x = xs; x < xe; x++) {
                s += e[x];
                n += mask[x];
            }
            srow[j] += s;
            crow[j] += n;
        }
    }
    for (size_t i = 0; i < nc; i++)
        cells[i] = -1.0f;
    for (int i = 0; i < rch; i++)
        for (int k = 0; k < rcw; k++) {
            size_t r = (size_t)i * rcw + k;
            if (cnt[r])
                cells[(size_t)(i0 + i) * cw + j0 + k] = (float)(sum[r] / cnt[r]);
        }
    scratch_put(buf, cap);
    return OVX_OK;
}
