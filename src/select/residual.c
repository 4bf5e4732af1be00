/* residual.c: the motion-compensated prediction error map (see residual.h).
 * Past (source -1) and future (+1) predictions go to two planes; a 4x4 unit
 * covered by both is bi-predicted. Everything is integer until the light
 * fit, whose sums run in a fixed order: the map does not depend on threads. */
#include "select/residual.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "select/sad.h"

typedef struct planes {
    uint8_t *p[2];    /* [H * W] predictions: 0 past, 1 future */
    uint8_t *m[2];    /* [uh * uw] unit covered by a prediction */
    uint8_t *d[2];    /* [uh * uw] reference distance of that prediction */
    int uw, uh;
} planes;

static void planes_free(planes *pl)
{
    for (int k = 0; k < 2; k++)
        free(pl->p[k]), free(pl->m[k]), free(pl->d[k]);
}

/* Predicts every vector's block (the part inside roi) into its plane. */
static void predict_all(const ovx_energy_input *in, const ovx_roi *roi, planes *pl)
{
    for (int64_t i = 0; i < in->n_mv; i++) {
        const ovx_mv *m = &in->mv[i];
        int dir = m->source < 0 ? 0 : 1;
        int nc = dir ? in->n_fut : in->n_past;
        if (nc == 0)
            continue;
        int x0 = m->x > roi->x0 ? m->x : roi->x0, y0 = m->y > roi->y0 ? m->y : roi->y0;
        int x1 = m->x + m->w < roi->x1 ? m->x + m->w : roi->x1;
        int y1 = m->y + m->h < roi->y1 ? m->y + m->h : roi->y1;
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
                                   pl->p[dir] + (size_t)y * in->W + x, in->W);
            }
        uint8_t dist = (uint8_t)(r->dist < 1 ? 1 : r->dist > 255 ? 255 : r->dist);
        for (int uy = y0 / 4; uy < (y1 + 3) / 4; uy++)
            for (int ux = x0 / 4; ux < (x1 + 3) / 4; ux++) {
                pl->m[dir][(size_t)uy * pl->uw + ux] = 1;
                pl->d[dir][(size_t)uy * pl->uw + ux] = dist;
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
static int choose_implicit(const ovx_energy_input *in, const ovx_roi *roi, const planes *pl)
{
    uint64_t e_avg = 0, e_imp = 0;
    int differ = 0;
    for (int uy = roi->y0 / 4; uy < (roi->y1 + 3) / 4; uy++)
        for (int ux = roi->x0 / 4; ux < (roi->x1 + 3) / 4; ux++) {
            size_t u = (size_t)uy * pl->uw + ux;
            if (!pl->m[0][u] || !pl->m[1][u] || pl->d[0][u] == pl->d[1][u])
                continue;
            differ = 1;
            int w1 = implicit_w1(pl->d[0][u], pl->d[1][u]), w0 = 64 - w1;
            for (int y = uy * 4; y < uy * 4 + 4 && y < in->H; y += 2)
                for (int x = ux * 4; x < ux * 4 + 4 && x < in->W; x++) {
                    int a = pl->p[0][(size_t)y * in->W + x], b = pl->p[1][(size_t)y * in->W + x];
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
static void compose(const ovx_energy_input *in, const ovx_roi *roi, planes *pl, int implicit)
{
    for (int uy = roi->y0 / 4; uy < (roi->y1 + 3) / 4; uy++)
        for (int ux = roi->x0 / 4; ux < (roi->x1 + 3) / 4; ux++) {
            size_t u = (size_t)uy * pl->uw + ux;
            int m0 = pl->m[0][u], m1 = pl->m[1][u];
            if (m0 && !m1)
                continue;
            int w1 = m0 && m1 ? (implicit ? implicit_w1(pl->d[0][u], pl->d[1][u]) : 32) : 0;
            int w0 = 64 - w1;
            for (int y = uy * 4; y < uy * 4 + 4 && y < in->H; y++) {
                uint8_t *a = pl->p[0] + (size_t)y * in->W;
                const uint8_t *b = pl->p[1] + (size_t)y * in->W;
                for (int x = ux * 4; x < ux * 4 + 4 && x < in->W; x++) {
                    if (m0 && m1) {
                        int v = w1 == 32 ? (a[x] + b[x] + 1) >> 1 : (a[x] * w0 + b[x] * w1 + 32) >> 6;
                        a[x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                    } else if (m1) {
                        a[x] = b[x];
                    } else if (in->prev) {
                        a[x] = in->prev[(size_t)y * in->prev_stride + x];
                    }
                }
            }
            pl->m[0][u] = m0 || m1 || in->prev;
        }
}

/* Least-squares cur = gain * pred + offset over the predicted pixels of roi
 * (every other row and column), then again without the pixels whose error
 * exceeds 3 robust deviations (moving things); gain kept in [0.5, 2]. */
static void fit_light(const ovx_energy_input *in, const ovx_roi *roi, const planes *pl, double *gain,
                      double *offset)
{
    double g = 1.0, o = 0.0, lim = INFINITY;
    for (int pass = 0; pass < 2; pass++) {
        double n = 0, sp = 0, sc = 0, spp = 0, spc = 0, sad = 0;
        for (int y = roi->y0; y < roi->y1; y += 2) {
            const uint8_t *c = in->cur + (size_t)y * in->cur_stride;
            const uint8_t *p = pl->p[0] + (size_t)y * in->W;
            const uint8_t *mu = pl->m[0] + (size_t)(y / 4) * pl->uw;
            for (int x = roi->x0; x < roi->x1; x += 2) {
                if (!mu[x / 4])
                    continue;
                double e = fabs(c[x] - (g * p[x] + o));
                if (e > lim)
                    continue;
                n++;
                sp += p[x];
                sc += c[x];
                spp += (double)p[x] * p[x];
                spc += (double)p[x] * c[x];
                sad += e;
            }
        }
        if (n < 64)
            break;
        double mp = sp / n, mc = sc / n, var = spp / n - mp * mp, cov = spc / n - mp * mc;
        double ng = var > 4.0 ? cov / var : 1.0;
        ng = ng < 0.5 ? 0.5 : ng > 2.0 ? 2.0 : ng;
        g = ng;
        o = mc - g * mp;
        /* mean absolute error ~ 0.8 sigma: 3 sigma ~ 3.75 MAE, at least 3 grey levels */
        lim = 3.75 * sad / n;
        if (lim < 3.0)
            lim = 3.0;
    }
    *gain = g;
    *offset = o;
}

int ovx_residual_cells(const ovx_energy_input *in, int cw, int ch, int cell, const ovx_roi *roi, int light,
                       float *cells, ovx_residual_info *info, ovx_error *err)
{
    size_t nc = (size_t)cw * ch;
    planes pl = {.uw = (in->W + 3) / 4, .uh = (in->H + 3) / 4};
    size_t nu = (size_t)pl.uw * pl.uh, npx = (size_t)in->W * in->H;
    for (int k = 0; k < 2; k++) {
        pl.p[k] = malloc(npx);
        pl.m[k] = calloc(nu, 1);
        pl.d[k] = calloc(nu, 1);
    }
    double *sum = calloc(nc, sizeof *sum);
    int32_t *cnt = calloc(nc, sizeof *cnt);
    if (!pl.p[0] || !pl.p[1] || !pl.m[0] || !pl.m[1] || !pl.d[0] || !pl.d[1] || !sum || !cnt) {
        planes_free(&pl);
        free(sum), free(cnt);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (residual map)");
    }
    predict_all(in, roi, &pl);
    info->bi_implicit = in->interp == OVX_INTERP_H264 && choose_implicit(in, roi, &pl);
    compose(in, roi, &pl, info->bi_implicit);
    info->gain = 1.0;
    info->offset = 0.0;
    if (light)
        fit_light(in, roi, &pl, &info->gain, &info->offset);
    /* |cur - (gain * pred + offset)| through a table of the 256 predictions */
    float lut[256];
    for (int v = 0; v < 256; v++)
        lut[v] = (float)(info->gain * v + info->offset);
    for (int y = roi->y0; y < roi->y1; y++) {
        const uint8_t *c = in->cur + (size_t)y * in->cur_stride;
        const uint8_t *p = pl.p[0] + (size_t)y * in->W;
        const uint8_t *mu = pl.m[0] + (size_t)(y / 4) * pl.uw;
        double *srow = sum + (size_t)(y / cell) * cw;
        int32_t *crow = cnt + (size_t)(y / cell) * cw;
        for (int x0 = roi->x0; x0 < roi->x1;) {
            int j = x0 / cell, xe = (j + 1) * cell < roi->x1 ? (j + 1) * cell : roi->x1;
            float s = 0;
            int n = 0;
            for (int x = x0; x < xe; x++) {
                if (!mu[x / 4])
                    continue;
                s += fabsf((float)c[x] - lut[p[x]]);
                n++;
            }
            srow[j] += s;
            crow[j] += n;
            x0 = xe;
        }
    }
    for (size_t i = 0; i < nc; i++)
        cells[i] = cnt[i] ? (float)(sum[i] / cnt[i]) : -1.0f;
    planes_free(&pl);
    free(sum), free(cnt);
    return OVX_OK;
}
