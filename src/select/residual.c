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
    uint8_t *p[2];    /* [ceil(rh / step) * rw] predictions of the roi's rows y0, y0 + step,
                       * ...: 0 past, 1 future */
    uint8_t *m[2];    /* [uh * uw] unit covered by a prediction (units of the roi) */
    uint8_t *d[2];    /* [uh * uw] reference distance of that prediction */
    int x0, y0, rw, rh, uw, uh;
    int step;         /* rows of the roi predicted and scored: every step-th */
    int step_log2;    /* step = 1 << step_log2, or -1 */
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

/* the first row at or below y of the roi's rows y0, y0 + step, ... (step
 * pl->step: the predicted rows); a power of two without a division */
static inline int first_row(const planes *pl, int y, int step)
{
    int d = y - pl->y0;
    int r = d >= 0 && !(step & (step - 1)) ? d & (step - 1) : d % step;
    return r ? y + step - r : y;
}

/* plane (0 past, 1 future) at picture row y (a predicted row) */
static inline uint8_t *plane_row(const planes *pl, int dir, int y)
{
    int d = y - pl->y0;
    return pl->p[dir] + (size_t)(pl->step_log2 >= 0 && d >= 0 ? d >> pl->step_log2 : d / pl->step) * pl->rw;
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
        for (int y = y0; y < y1; y += OVX_SUBPEL_MAX) {
            int ty = first_row(pl, y, pl->step), te = y1 - y < OVX_SUBPEL_MAX ? y1 : y + OVX_SUBPEL_MAX;
            if (ty >= te)
                continue;
            for (int x = x0; x < x1; x += OVX_SUBPEL_MAX) {
                int w = x1 - x < OVX_SUBPEL_MAX ? x1 - x : OVX_SUBPEL_MAX;
                ovx_subpel_predict_rows(r->y, r->stride, in->W, in->H, x, ty, w, te - ty, qx, qy, in->interp,
                                        pl->step, plane_row(pl, dir, ty) + (x - pl->x0), pl->rw);
            }
        }
        uint8_t dist = (uint8_t)(r->dist < 1 ? 1 : r->dist > 255 ? 255 : r->dist);
        int nu = (x1 + 3) / 4 - x0 / 4;
        uint8_t *mu = pl->m[dir] + unit_at(pl, x0 / 4, y0 / 4), *du = pl->d[dir] + unit_at(pl, x0 / 4, y0 / 4);
        uint32_t one4 = 0x01010101u, dist4 = dist * 0x01010101u;
        for (int uy = y0 / 4; uy < (y1 + 3) / 4; uy++, mu += pl->uw, du += pl->uw) {
            /* a few units: 4 at a time, no memset call */
            int k = 0;
            for (; k + 4 <= nu; k += 4) {
                memcpy(mu + k, &one4, 4);
                memcpy(du + k, &dist4, 4);
            }
            if (k + 2 <= nu) {
                memcpy(mu + k, &one4, 2);
                memcpy(du + k, &dist4, 2);
                k += 2;
            }
            if (k < nu) {
                mu[k] = 1;
                du[k] = dist;
            }
        }
    }
}

/* wu[k] = the H.264 implicit bi-prediction weight of the future prediction
 * (of 64) for the reference distances d0[k] (past) and d1[k] (future) where
 * both predictions cover unit k (m0, m1 1), else unchanged: 8.4.2.3.1 with
 * tb = d0 and td = d0 + d1 (32 where the standard falls back to it). The
 * integer division (16384 + td / 2) / td in doubles: a quotient of integers
 * below 2^15 by td <= 510 is an integer or at least 1/510 from one, far
 * beyond the division's rounding, so its truncation is the same (checked
 * for every pair of distances); no branch (one build per SIMD level). */
OVX_SIMD_VARIANTS(implicit_weights, (const uint8_t *restrict m0, const uint8_t *restrict m1,
                                     const uint8_t *restrict d0, const uint8_t *restrict d1, int n,
                                     int16_t *restrict wu), (m0, m1, d0, d1, n, wu), {
    for (int k = 0; k < n; k++) {
        int tb = d0[k], td = tb + d1[k];
        int tx = (int)((double)(16384 + (td >> 1)) / (double)(td | (td == 0)));
        int dsf = (tb * tx + 32) >> 6; /* >= 0 */
        dsf = dsf > 1023 ? 1023 : dsf;
        int w = dsf >> 2;
        w = w < -64 || w > 128 || td == 0 ? 32 : w;
        wu[k] = (int16_t)(m0[k] & m1[k] ? w : wu[k]);
    }
})

void ovx_residual_implicit_weights(const uint8_t *m0, const uint8_t *m1, const uint8_t *d0, const uint8_t *d1, int n,
                                   int16_t *wu)
{
    implicit_weights(m0, m1, d0, d1, n, wu);
}

/* One unit row's pixel weights: w1[x] = the weight (of 64) of the future
 * prediction at column x of the roi: 0 past only, 64 future only, bi-
 * predicted 32 or (implicit) the H.264 implicit weight; use[x] (when not
 * NULL) = 1 in bi-predicted units whose two distances differ; from_prev[x]
 * (when not NULL) = 1 where no vector covers it and the previous frame is
 * the prediction. Per unit first (wu, fu: uw each), then 4 columns a unit. */
static void unit_row_weights(const ovx_energy_input *in, const planes *pl, int uy, int implicit, int16_t *w1,
                             uint8_t *use, uint8_t *from_prev, int16_t *wu, uint8_t *fu)
{
    size_t u0 = unit_at(pl, pl->x0 / 4, uy);
    const uint8_t *m0 = pl->m[0] + u0, *m1 = pl->m[1] + u0, *d0 = pl->d[0] + u0, *d1 = pl->d[1] + u0;
    int uw = pl->uw, has_prev = in->prev != NULL;
    /* (m0, m1 are 0 or 1) */
    for (int k = 0; k < uw; k++)
        wu[k] = (int16_t)(m1[k] * (64 - 32 * m0[k]));
    if (use)
        for (int k = 0; k < uw; k++)
            fu[k] = (uint8_t)(m0[k] & m1[k] & (d0[k] != d1[k]));
    else
        for (int k = 0; k < uw; k++)
            fu[k] = (uint8_t)((m0[k] | m1[k]) ^ has_prev) & (uint8_t)has_prev;
    if (implicit) /* (equal distances too: some give 31) */
        implicit_weights(m0, m1, d0, d1, uw, wu);
    uint8_t *flags = use ? use : from_prev;
    for (int k = 0; k < uw; k++) {
        uint64_t w = (uint16_t)wu[k] * 0x0001000100010001ull;
        uint32_t f = fu[k] * 0x01010101u;
        memcpy(w1 + 4 * k, &w, 8);
        memcpy(flags + 4 * k, &f, 4);
    }
}

/* sums of |cur - average| and |cur - implicit weighting| over the columns
 * where use[x] (n <= 8192) */
OVX_SIMD_VARIANTS(implicit_row, (const uint8_t *restrict c, const uint8_t *restrict a, const uint8_t *restrict b,
                                 const int16_t *restrict w1, const uint8_t *restrict use, int n,
                                 uint64_t *restrict acc), (c, a, b, w1, use, n, acc), {
    uint32_t ea = 0, ei = 0;
    for (int x = 0; x < n; x++) {
        int A = a[x], B = b[x], C = c[x], W1 = w1[x], u = use[x];
        int v = (A * (64 - W1) + B * W1 + 32) >> 6;
        v = v < 0 ? 0 : v > 255 ? 255 : v;
        int da = C - ((A + B + 1) >> 1), di = C - v;
        ea += (uint32_t)(u * (da < 0 ? -da : da));
        ei += (uint32_t)(u * (di < 0 ? -di : di));
    }
    acc[0] += ea;
    acc[1] += ei;
})

/* a = the weighted prediction (w1 of 64 from b), or prev where from_prev */
OVX_SIMD_VARIANTS(compose_row, (uint8_t *restrict a, const uint8_t *restrict b, const uint8_t *restrict prev,
                                const int16_t *restrict w1, const uint8_t *restrict from_prev, int n),
                  (a, b, prev, w1, from_prev, n), {
    for (int x = 0; x < n; x++) {
        int W1 = w1[x], pv = prev[x];
        int v = (a[x] * (64 - W1) + b[x] * W1 + 32) >> 6;
        v = v < 0 ? 0 : v > 255 ? 255 : v;
        a[x] = (uint8_t)(from_prev[x] ? pv : v);
    }
})

/* a = a (past only or nothing: cls 0), the rounded average of a and b
 * (bi-predicted: cls 1, the weighting by 32 of 64), b (future only: 2) or
 * prev (from the previous frame: 3), byte by byte (one build per SIMD
 * level) */
OVX_SIMD_VARIANTS(compose_avg, (uint8_t *restrict a, const uint8_t *restrict b, const uint8_t *restrict prev,
                                const uint8_t *restrict cls, int n), (a, b, prev, cls, n), {
    for (int x = 0; x < n; x++) { /* (everything read: no branch, the loop vectorises) */
        uint8_t A = a[x], B = b[x], P = prev[x], avg = (uint8_t)((A + B + 1) >> 1), k = cls[x];
        a[x] = k == 0 ? A : k == 1 ? avg : k == 2 ? B : P;
    }
})

/* the step of the rows the statistics read: every other row, or every
 * predicted one when fewer are predicted (the roi starts on an even row) */
static inline int stat_step(const planes *pl)
{
    return pl->step > 2 ? pl->step : 2;
}

/* Bi-predicted units: both weightings compared on every other row (the
 * average of 8.4.2.3.1's default weights is the weighting by 32 of 64);
 * the one with the smaller error is used for the whole frame. */
static int choose_implicit(const ovx_energy_input *in, const planes *pl, int16_t *w1, uint8_t *use, int16_t *wu,
                           uint8_t *fu)
{
    uint64_t acc[2] = {0, 0};
    int differ = 0;
    int ry1 = pl->y0 + pl->rh;
    for (int uy = pl->y0 / 4; uy < (ry1 + 3) / 4; uy++) {
        size_t u0 = unit_at(pl, pl->x0 / 4, uy);
        const uint8_t *m0 = pl->m[0] + u0, *m1 = pl->m[1] + u0, *d0 = pl->d[0] + u0, *d1 = pl->d[1] + u0;
        int any = 0;
        for (int k = 0; k < pl->uw; k++)
            any |= m0[k] & m1[k] & (d0[k] != d1[k]);
        if (!any)
            continue;
        differ = 1;
        unit_row_weights(in, pl, uy, 1, w1, use, NULL, wu, fu);
        int ss = stat_step(pl);
        for (int y = first_row(pl, uy * 4, ss); y < uy * 4 + 4 && y < ry1; y += ss) {
            const uint8_t *c = in->cur + (size_t)y * in->cur_stride + pl->x0;
            const uint8_t *a = plane_row(pl, 0, y), *b = plane_row(pl, 1, y);
            for (int x0 = 0; x0 < pl->rw; x0 += 8192) {
                int n = pl->rw - x0 < 8192 ? pl->rw - x0 : 8192;
                implicit_row(c + x0, a + x0, b + x0, w1 + x0, use + x0, n, acc);
            }
        }
    }
    return differ && acc[1] < acc[0];
}

/* The final prediction into pl->p[0]; pl->m[0] = unit predicted at all.
 * A unit row without future predictions or uncovered units keeps its past
 * predictions (the weighting by 0 of 64 is that); with the default weights
 * (0, 32 or 64 of 64) the weighting is a choice among the two predictions,
 * their rounded average and the previous frame. */
static void compose(const ovx_energy_input *in, planes *pl, int implicit, int16_t *w1, uint8_t *from_prev,
                    int16_t *wu, uint8_t *fu)
{
    int ry1 = pl->y0 + pl->rh, has_prev = in->prev != NULL;
    for (int uy = pl->y0 / 4; uy < (ry1 + 3) / 4; uy++) {
        size_t u0 = unit_at(pl, pl->x0 / 4, uy);
        uint8_t *m0 = pl->m[0] + u0;
        const uint8_t *m1 = pl->m[1] + u0;
        int future = 0, intra = 0;
        for (int k = 0; k < pl->uw; k++) {
            future |= m1[k];
            intra |= has_prev & !m0[k];
        }
        if ((future && !implicit) || (!future && intra)) {
            /* the default weights: a class per unit, 4 columns each (past
             * only or nothing: kept; both: averaged; future only; from the
             * previous frame) */
            uint8_t *cls = from_prev;
            for (int k = 0; k < pl->uw; k++) {
                int c = m1[k] ? 2 - m0[k] : (has_prev & !m0[k]) ? 3 : 0;
                uint32_t c4 = (uint32_t)c * 0x01010101u;
                memcpy(cls + 4 * k, &c4, 4);
            }
            for (int y = first_row(pl, uy * 4, pl->step); y < uy * 4 + 4 && y < ry1; y += pl->step) {
                uint8_t *a = plane_row(pl, 0, y);
                const uint8_t *prev = has_prev ? in->prev + (size_t)y * in->prev_stride + pl->x0 : a;
                compose_avg(a, plane_row(pl, 1, y), prev, cls, pl->rw);
            }
        } else if (future) {
            unit_row_weights(in, pl, uy, implicit, w1, NULL, from_prev, wu, fu);
            for (int y = first_row(pl, uy * 4, pl->step); y < uy * 4 + 4 && y < ry1; y += pl->step) {
                uint8_t *a = plane_row(pl, 0, y);
                const uint8_t *prev = has_prev ? in->prev + (size_t)y * in->prev_stride + pl->x0 : a;
                compose_row(a, plane_row(pl, 1, y), prev, w1, from_prev, pl->rw);
            }
        }
        for (int k = 0; k < pl->uw; k++)
            m0[k] = (uint8_t)(m0[k] | m1[k] | has_prev);
    }
}

/* ---- the light fit ---- */

/* mask[x] = 1 where the roi row's unit (mu, one per 4 columns) is covered */
static void expand_units(const uint8_t *mu, int n, uint8_t *mask)
{
    for (int x = 0; x < n; x += 4) {
        uint32_t v = mu[x >> 2] * 0x01010101u;
        memcpy(mask + x, &v, 4);
    }
}

/* the unit row of picture row y (roi units, uw of them) */
static inline const uint8_t *unit_row(const planes *pl, int y)
{
    return pl->m[0] + (size_t)(y / 4 - pl->y0 / 4) * pl->uw;
}

/* mask[0 .. rw) for picture row y's unit row, or NULL when every unit of
 * it is covered (with a previous frame: every row) */
static const uint8_t *load_mask(const planes *pl, int y, uint8_t *mask)
{
    const uint8_t *mu = unit_row(pl, y);
    if (!memchr(mu, 0, (size_t)pl->uw))
        return NULL;
    expand_units(mu, pl->rw, mask);
    return mask;
}

/* Integer sums of the fit over the covered pixels of every other row and
 * column whose |cur - (gain pred + offset)| <= lim (the test in doubles,
 * as always; the sums are integers, exact in any order). */
typedef struct fit_sums {
    int64_t n, sp, sc, spp, spc, sad;
} fit_sums;

/* one row's sums over columns 0, 2, ... < n (n <= 8192: no int32 overflow;
 * one build per SIMD level), every covered pixel (the first pass: no limit) */
OVX_SIMD_VARIANTS(fit_row_all, (const uint8_t *restrict c, const uint8_t *restrict p,
                                const uint8_t *restrict mask, int n, int64_t *restrict acc),
                  (c, p, mask, n, acc), {
    int32_t sn = 0, sp = 0, sc = 0, spp = 0, spc = 0, sad = 0;
    if (mask) {
        for (int x = 0; x < n; x += 2) {
            /* uncovered: both 0 (adds nothing but to the count) */
            int a = mask[x], pv = p[x] & -a, cv = c[x] & -a;
            int d = cv - pv;
            sn += a;
            sp += pv;
            sc += cv;
            spp += pv * pv;
            spc += pv * cv;
            sad += d < 0 ? -d : d;
        }
    } else {
        for (int x = 0; x < n; x += 2) {
            int pv = p[x], cv = c[x], d = cv - pv;
            sp += pv;
            sc += cv;
            spp += pv * pv;
            spc += pv * cv;
            sad += d < 0 ? -d : d;
        }
        sn = (n + 1) / 2;
    }
    acc[0] += sn;
    acc[1] += sp;
    acc[2] += sc;
    acc[3] += spp;
    acc[4] += spc;
    acc[5] += sad;
})

/* the same over the covered pixels the fit's test takes, |cur - (g pred +
 * o)| <= lim in doubles (the error sum is not needed after a limited pass) */
OVX_SIMD_VARIANTS(fit_row_lim, (const uint8_t *restrict c, const uint8_t *restrict p, const uint8_t *restrict mask,
                                double g, double o, double lim, int n, int64_t *restrict acc),
                  (c, p, mask, g, o, lim, n, acc), {
    int32_t sn = 0, sp = 0, sc = 0, spp = 0, spc = 0;
    for (int x = 0; x < n; x += 2) {
        int a = (mask ? mask[x] : 1) & (fabs(c[x] - (g * p[x] + o)) <= lim);
        int pv = p[x] & -a, cv = c[x] & -a; /* not taken: both 0 */
        sn += a;
        sp += pv;
        sc += cv;
        spp += pv * pv;
        spc += pv * cv;
    }
    acc[0] += sn;
    acc[1] += sp;
    acc[2] += sc;
    acc[3] += spp;
    acc[4] += spc;
})

/* lim: INFINITY for the first pass (every covered pixel, no test) */
static void fit_pass(const ovx_energy_input *in, const planes *pl, double g, double o, double lim, uint8_t *mask,
                     fit_sums *s)
{
    int64_t acc[6] = {0};
    int ss = stat_step(pl), ry1 = pl->y0 + pl->rh;
    for (int uy = pl->y0 / 4; uy < (ry1 + 3) / 4; uy++) {
        int y = first_row(pl, uy * 4, ss);
        if (y >= uy * 4 + 4 || y >= ry1)
            continue;
        /* the roi starts on a unit: column x of the roi is in unit x / 4 */
        const uint8_t *mk = load_mask(pl, y, mask);
        for (; y < uy * 4 + 4 && y < ry1; y += ss) {
            const uint8_t *c = in->cur + (size_t)y * in->cur_stride + pl->x0;
            const uint8_t *p = plane_row(pl, 0, y);
            for (int x0 = 0; x0 < pl->rw; x0 += 8192) {
                int n = pl->rw - x0 < 8192 ? pl->rw - x0 : 8192;
                if (lim < INFINITY)
                    fit_row_lim(c + x0, p + x0, mk ? mk + x0 : NULL, g, o, lim, n, acc);
                else
                    fit_row_all(c + x0, p + x0, mk ? mk + x0 : NULL, n, acc);
            }
        }
    }
    *s = (fit_sums){acc[0], acc[1], acc[2], acc[3], acc[4], acc[5]};
}

/* Least-squares cur = gain * pred + offset over the predicted pixels of roi
 * (every other row and column), then again without the pixels whose error
 * exceeds 3 robust deviations (moving things); gain kept in [0.5, 2]. */
static void fit_light(const ovx_energy_input *in, const planes *pl, uint8_t *mask, double *gain, double *offset)
{
    double g = 1.0, o = 0.0, lim = INFINITY;
    for (int pass = 0; pass < 2; pass++) {
        fit_sums s;
        fit_pass(in, pl, g, o, lim, mask, &s);
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
         * levels (the first pass's errors are the integers |cur - pred|; the
         * last pass's limit is not used) */
        lim = 3.75 * (double)s.sad / n;
        if (lim < 3.0)
            lim = 3.0;
    }
    *gain = g;
    *offset = o;
}

/* ---- the error per cell ---- */

/* e[x] = |cur - (float)(gain pred + offset)| for the covered pixels of one
 * row (mask[x] 1, or all when mask is NULL), 0 elsewhere (one build per SIMD level; the same floats
 * in each: the double product and sum, then the float difference) */
OVX_SIMD_VARIANTS(row_errors, (const uint8_t *restrict c, const uint8_t *restrict p, const uint8_t *restrict mask,
                               double gain, double offset, int n, float *restrict e),
                  (c, p, mask, gain, offset, n, e), {
    if (mask)
        for (int x = 0; x < n; x++) {
            float l = (float)(gain * p[x] + offset);
            e[x] = fabsf((float)c[x] - l) * (float)mask[x];
        }
    else
        for (int x = 0; x < n; x++) {
            float l = (float)(gain * p[x] + offset);
            e[x] = fabsf((float)c[x] - l);
        }
})

/* out[j] = e[j cell] + e[j cell + 1] + ... (cell terms, in that order, as
 * float) for the cells j < 8 n8: eight cells' sums side by side (one build
 * per SIMD level; each lane adds in pixel order, so all give the same) */
static inline void sums8(const float *restrict e, int cell, int n8, float *restrict out)
{
    for (int j = 0; j < n8; j++, e += 8 * cell, out += 8) {
        float s[8] = {0};
        for (int i = 0; i < cell; i++)
            for (int k = 0; k < 8; k++)
                s[k] += e[k * cell + i];
        for (int k = 0; k < 8; k++)
            out[k] = s[k];
    }
}

/* The same for cells of 8: the 8 x 8 block of a group transposed (pixel i
 * of every cell in one vector), then the vectors added in pixel order,
 * each lane as sums8 adds it. */
typedef float v8f __attribute__((vector_size(32)));
typedef float v8fu __attribute__((vector_size(32), aligned(4))); /* unaligned loads */

static inline __attribute__((always_inline)) void sums8_of8(const float *restrict e, int n8, float *restrict out)
{
    for (int j = 0; j < n8; j++, e += 64, out += 8) {
        v8f r[8], a[8], b[8];
        for (int k = 0; k < 8; k++)
            r[k] = *(const v8fu *)(e + 8 * k);
        for (int k = 0; k < 8; k += 2) {
            a[k] = __builtin_shufflevector(r[k], r[k + 1], 0, 8, 1, 9, 4, 12, 5, 13);
            a[k + 1] = __builtin_shufflevector(r[k], r[k + 1], 2, 10, 3, 11, 6, 14, 7, 15);
        }
        /* b[0]: pixels 0 | 4 of cells 0..3, b[1]: 1 | 5, b[2]: 2 | 6, b[3]: 3 | 7; b[4..7] of cells 4..7 */
        for (int h = 0; h < 8; h += 4) {
            b[h] = __builtin_shufflevector(a[h], a[h + 2], 0, 1, 8, 9, 4, 5, 12, 13);
            b[h + 1] = __builtin_shufflevector(a[h], a[h + 2], 2, 3, 10, 11, 6, 7, 14, 15);
            b[h + 2] = __builtin_shufflevector(a[h + 1], a[h + 3], 0, 1, 8, 9, 4, 5, 12, 13);
            b[h + 3] = __builtin_shufflevector(a[h + 1], a[h + 3], 2, 3, 10, 11, 6, 7, 14, 15);
        }
        v8f s = {0};
        for (int i = 0; i < 4; i++)
            s += __builtin_shufflevector(b[i], b[i + 4], 0, 1, 2, 3, 8, 9, 10, 11); /* pixel i */
        for (int i = 0; i < 4; i++)
            s += __builtin_shufflevector(b[i], b[i + 4], 4, 5, 6, 7, 12, 13, 14, 15); /* pixel i + 4 */
        memcpy(out, &s, sizeof s);
    }
}

OVX_SIMD_VARIANTS(cell_sums, (const float *restrict e, int cell, int n8, float *restrict out), (e, cell, n8, out), {
    if (cell == 8)
        sums8_of8(e, n8, out); /* the default cell */
    else
        sums8(e, cell, n8, out);
})

void ovx_residual_cell_sums(const float *e, int cell, int n8, float *out)
{
    cell_sums(e, cell, n8, out);
}

/* a row's cell sums into the cells' sums: srow[j] += fs[j] (double, row
 * after row as always), crow[j] += ucnt[j] (one build per SIMD level) */
OVX_SIMD_VARIANTS(add_row, (double *restrict srow, int32_t *restrict crow, const float *restrict fs,
                            const int32_t *restrict ucnt, int n), (srow, crow, fs, ucnt, n), {
    for (int j = 0; j < n; j++) {
        srow[j] += fs[j];
        crow[j] += ucnt[j];
    }
})

/* out[k] = (float)(sum[k] / cnt[k]), -1 where cnt[k] is 0 (divided either
 * way, then chosen by a mask: no branch; one build per SIMD level) */
OVX_SIMD_VARIANTS(cell_means, (const double *restrict sum, const int32_t *restrict cnt, int n,
                               float *restrict out), (sum, cnt, n, out), {
    const float none = -1.0f;
    uint32_t nb;
    memcpy(&nb, &none, 4);
    for (int k = 0; k < n; k++) {
        float q = (float)(sum[k] / cnt[k]);
        uint32_t b, m = -(uint32_t)(cnt[k] != 0);
        memcpy(&b, &q, 4);
        b = (b & m) | (nb & ~m);
        memcpy(&out[k], &b, 4);
    }
})

int ovx_residual_cells(const ovx_energy_input *in, int cw, int ch, int cell, const ovx_roi *roi, int light,
                       float *cells, ovx_residual_info *info, ovx_error *err)
{
    size_t nc = (size_t)cw * ch;
    planes pl = {.x0 = roi->x0, .y0 = roi->y0, .rw = roi->x1 - roi->x0, .rh = roi->y1 - roi->y0,
                 .step = in->row_step > 1 ? in->row_step : 1};
    pl.step_log2 = -1;
    for (int k = 0; k < 30; k++)
        if (pl.step == 1 << k)
            pl.step_log2 = k;
    pl.uw = (roi->x1 + 3) / 4 - roi->x0 / 4;
    pl.uh = (roi->y1 + 3) / 4 - roi->y0 / 4;
    /* the roi's cells: columns j0 .. j0 + rcw, rows i0 .. i0 + rch */
    int j0 = roi->x0 / cell, i0 = roi->y0 / cell;
    int rcw = (roi->x1 + cell - 1) / cell - j0, rch = (roi->y1 + cell - 1) / cell - i0;
    size_t npx = (size_t)pl.rw * ((pl.rh + pl.step - 1) / pl.step), nu = (size_t)pl.uw * pl.uh, nrc = (size_t)rcw * rch;
    size_t rowb = ((size_t)pl.rw + 64) & ~(size_t)63;
    size_t need = nrc * (sizeof(double) + sizeof(int32_t)) + (size_t)rcw * sizeof(int32_t) +
                  rowb * (2 * sizeof(float) + sizeof(int16_t) + 2) + 2 * npx + 4 * nu + 64;
    size_t cap;
    uint8_t *buf = scratch_get(need, &cap);
    if (!buf)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (residual map)");
    double *sum = (double *)buf;
    int32_t *cnt = (int32_t *)(sum + nrc);
    int32_t *ucnt = cnt + nrc; /* covered pixels per cell of a unit row's pixel row */
    float *e = (float *)(ucnt + rcw + ((nrc + rcw) & 1));
    float *fs = e + rowb;
    int16_t *w1 = (int16_t *)(fs + rowb);
    uint8_t *mask = (uint8_t *)(w1 + rowb), *flag = mask + rowb;
    pl.p[0] = flag + rowb;
    pl.p[1] = pl.p[0] + npx;
    pl.m[0] = pl.p[1] + npx;
    pl.m[1] = pl.m[0] + nu;
    pl.d[0] = pl.m[1] + nu;
    pl.d[1] = pl.d[0] + nu;
    memset(pl.m[0], 0, 4 * nu);
    memset(sum, 0, nrc * sizeof *sum);
    memset(cnt, 0, nrc * sizeof *cnt);

    predict_all(in, &pl);
    /* per-unit weights and flags (uw < rowb) in the error rows, not in use yet */
    int16_t *wu = (int16_t *)e;
    uint8_t *fu = (uint8_t *)fs;
    info->bi_implicit = in->interp == OVX_INTERP_H264 && choose_implicit(in, &pl, w1, flag, wu, fu);
    compose(in, &pl, info->bi_implicit, w1, flag, wu, fu);
    info->gain = 1.0;
    info->offset = 0.0;
    if (light)
        fit_light(in, &pl, mask, &info->gain, &info->offset);
    int n8 = rcw * cell == pl.rw && rcw >= 8 ? rcw / 8 : 0;
    for (int uy = roi->y0 / 4; uy < (roi->y1 + 3) / 4; uy++) {
        int y = first_row(&pl, uy * 4, pl.step);
        if (y >= uy * 4 + 4 || y >= roi->y1)
            continue;
        /* the unit row's mask and covered pixels per cell, for all its rows */
        const uint8_t *mk = load_mask(&pl, y, mask);
        const uint8_t *mu = unit_row(&pl, y);
        for (int j = 0; j < rcw; j++) {
            int xs = j * cell, xe = xs + cell < pl.rw ? xs + cell : pl.rw, n = xe - xs;
            if (mk) /* unit by unit (the last one may be partial) */
                for (int x = xs, nx; x < xe; x += nx) {
                    nx = 4 - (x & 3) < xe - x ? 4 - (x & 3) : xe - x;
                    n -= (1 - mu[x >> 2]) * nx;
                }
            ucnt[j] = n;
        }
        for (; y < uy * 4 + 4 && y < roi->y1; y += pl.step) {
            const uint8_t *c = in->cur + (size_t)y * in->cur_stride + roi->x0;
            row_errors(c, plane_row(&pl, 0, y), mk, info->gain, info->offset, pl.rw, e);
            double *srow = sum + (size_t)(y / cell - i0) * rcw;
            int32_t *crow = cnt + (size_t)(y / cell - i0) * rcw;
            /* each cell's sum in pixel order (float, as always), eight cells at a time */
            if (n8)
                cell_sums(e, cell, n8, fs);
            for (int j = 8 * n8; j < rcw; j++) {
                int xs = j * cell, xe = xs + cell < pl.rw ? xs + cell : pl.rw;
                float s = 0;
                for (int x = xs; x < xe; x++)
                    s += e[x];
                fs[j] = s;
            }
            add_row(srow, crow, fs, ucnt, rcw);
        }
    }
    for (size_t i = 0; i < nc; i++)
        cells[i] = -1.0f;
    for (int i = 0; i < rch; i++)
        cell_means(sum + (size_t)i * rcw, cnt + (size_t)i * rcw, rcw, cells + (size_t)(i0 + i) * cw + j0);
    scratch_put(buf, cap);
    return OVX_OK;
}
