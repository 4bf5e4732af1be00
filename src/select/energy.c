/* energy.c: the per-frame energy maps of the recipe, on cells of p->cell px. */
#include "select/energy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "select/fit.h"
#include "select/grid.h"
#include "select/refsel.h"
#include "select/sad.h"
#include "select/stats.h"

/* Adds value v * overlap into acc/wsum for every cell the block touches. */
static void paint(float *acc, float *wsum, int cw, int ch, int cell, const ovx_mv *m, float v)
{
    int j0 = m->x / cell, j1 = (m->x + m->w - 1) / cell;
    int i0 = m->y / cell, i1 = (m->y + m->h - 1) / cell;
    if (j1 >= cw) j1 = cw - 1;
    if (i1 >= ch) i1 = ch - 1;
    for (int i = i0; i <= i1; i++) {
        int a0 = i * cell > m->y ? i * cell : m->y;
        int a1 = (i + 1) * cell < m->y + m->h ? (i + 1) * cell : m->y + m->h;
        for (int j = j0; j <= j1; j++) {
            int b0 = j * cell > m->x ? j * cell : m->x;
            int b1 = (j + 1) * cell < m->x + m->w ? (j + 1) * cell : m->x + m->w;
            float a = (float)((a1 - a0) * (b1 - b0));
            acc[(size_t)i * cw + j] += v * a;
            wsum[(size_t)i * cw + j] += a;
        }
    }
}

int ovx_energy_motion_cells(const ovx_energy_input *in, const ovx_select_params *p, int cw, int ch,
                            float *cells, ovx_error *err)
{
    size_t nc = (size_t)cw * ch;
    memset(cells, 0, nc * sizeof *cells);
    int64_t n = 0;
    for (int64_t i = 0; i < in->n_mv; i++)
        n += in->mv[i].source < 0;
    if (n == 0)
        return OVX_OK;
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    float *dx = malloc((size_t)n * sizeof *dx), *dy = malloc((size_t)n * sizeof *dy);
    float *wsum = calloc(nc, sizeof *wsum);
    if (!x || !y || !dx || !dy || !wsum) {
        free(x), free(y), free(dx), free(dy), free(wsum);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (motion map)");
    }
    int64_t k = 0;
    for (int64_t i = 0; i < in->n_mv; i++) {
        const ovx_mv *m = &in->mv[i];
        if (m->source >= 0)
            continue;
        x[k] = (float)(2.0 * (m->x + 0.5 * m->w) / in->W - 1.0);
        y[k] = (float)(2.0 * (m->y + 0.5 * m->h) / in->H - 1.0);
        /* px per frame: the vector spans its reference's distance */
        int dist = in->n_past > 0 ? in->past[in->choice ? in->choice[i] : 0].dist : 1;
        dx[k] = dist > 1 ? m->dx / (float)dist : m->dx;
        dy[k] = dist > 1 ? m->dy / (float)dist : m->dy;
        k++;
    }
    ovx_similarity model;
    if (ovx_similarity_fit(x, y, dx, dy, (size_t)n, p->fit_keep, p->fit_passes, p->fit_min_vectors,
                           &model) < 0) {
        free(x), free(y), free(dx), free(dy), free(wsum);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (similarity fit)");
    }
    k = 0;
    for (int64_t i = 0; i < in->n_mv; i++) {
        const ovx_mv *m = &in->mv[i];
        if (m->source >= 0)
            continue;
        double px, py;
        ovx_similarity_apply(&model, x[k], y[k], &px, &py);
        float mag = (float)hypot(dx[k] - px, dy[k] - py);
        paint(cells, wsum, cw, ch, p->cell, m, mag);
        k++;
    }
    for (size_t i = 0; i < nc; i++)
        cells[i] = wsum[i] > 0 ? cells[i] / wsum[i] : 0.0f;
    free(x), free(y), free(dx), free(dy), free(wsum);
    return OVX_OK;
}

/* 3x3 local variance (population, over the neighbours inside the grid). */
static void local_variance(const float *in, float *out, int cw, int ch)
{
    for (int i = 0; i < ch; i++)
        for (int j = 0; j < cw; j++) {
            double s = 0, s2 = 0;
            int n = 0;
            for (int a = i - 1; a <= i + 1; a++)
                for (int b = j - 1; b <= j + 1; b++) {
                    if (a < 0 || b < 0 || a >= ch || b >= cw)
                        continue;
                    double v = in[(size_t)a * cw + b];
                    s += v;
                    s2 += v * v;
                    n++;
                }
            double m = s / n, var = s2 / n - m * m;
            out[(size_t)i * cw + j] = var > 0 ? (float)var : 0.0f;
        }
}

/* Adds |cur - ref(x+dx, y+dy)| over the block's pixels into the per-cell
 * sum/cnt (row segments split at cell borders) and marks its 4x4 units as
 * covered. Reference coordinates are clamped to the picture. The sums are
 * integers (exact in a double), so their order does not matter. */
static void predict_block(const ovx_energy_input *in, const ovx_mv *m, const uint8_t *ref, int rstride,
                          int cw, int cell, double *sum, int32_t *cnt, uint8_t *covered, int uw)
{
    int rdx = (int)lrintf(m->dx), rdy = (int)lrintf(m->dy);
    int x0 = m->x, x1 = m->x + m->w, j0 = x0 / cell;
    int inside = x0 + rdx >= 0 && x1 + rdx <= in->W;
#if defined(__SSE2__)
    if (inside && cell == 8 && x0 >= 0 && m->y >= 0 && (x0 & 7) == 0 && (m->w & 7) == 0 && m->w <= 64) {
        /* fast path: 8-px cell-aligned runs, rows of one cell row summed
         * in integers before touching the (double) cell sums */
        int nj = m->w / 8, rows = 0, crow_i = m->y / 8;
        uint32_t acc[8] = {0};
        for (int y = m->y;; y++) {
            if (y == m->y + m->h || y / 8 != crow_i) {
                double *srow = sum + (size_t)crow_i * cw + j0;
                int32_t *crow = cnt + (size_t)crow_i * cw + j0;
                for (int q = 0; q < nj; q++) {
                    srow[q] += acc[q];
                    crow[q] += 8 * rows;
                    acc[q] = 0;
                }
                if (y == m->y + m->h)
                    break;
                rows = 0;
                crow_i = y / 8;
            }
            int ry = y + rdy;
            ry = ry < 0 ? 0 : ry >= in->H ? in->H - 1 : ry;
            const uint8_t *c = in->cur + (size_t)y * in->cur_stride + x0;
            const uint8_t *r = ref + (size_t)ry * rstride + x0 + rdx;
            int q = 0;
            for (; q + 2 <= nj; q += 2) {
                __m128i d = _mm_sad_epu8(_mm_loadu_si128((const __m128i *)(c + 8 * q)),
                                         _mm_loadu_si128((const __m128i *)(r + 8 * q)));
                acc[q] += (uint32_t)_mm_cvtsi128_si32(d);
                acc[q + 1] += (uint32_t)_mm_extract_epi16(d, 4);
            }
            if (q < nj) {
                __m128i d = _mm_sad_epu8(_mm_loadl_epi64((const __m128i *)(c + 8 * q)),
                                         _mm_loadl_epi64((const __m128i *)(r + 8 * q)));
                acc[q] += (uint32_t)_mm_cvtsi128_si32(d);
            }
            rows++;
        }
        for (int uy = m->y / 4; uy < (m->y + m->h + 3) / 4; uy++)
            memset(covered + (size_t)uy * uw + m->x / 4, 1, (size_t)((m->x + m->w + 3) / 4 - m->x / 4));
        return;
    }
#endif
    for (int y = m->y; y < m->y + m->h; y++) {
        int ry = y + rdy;
        ry = ry < 0 ? 0 : ry >= in->H ? in->H - 1 : ry;
        const uint8_t *c = in->cur + (size_t)y * in->cur_stride;
        const uint8_t *r = ref + (size_t)ry * rstride;
        double *srow = sum + (size_t)(y / cell) * cw;
        int32_t *crow = cnt + (size_t)(y / cell) * cw;
        int j = j0;
        for (int x = x0; x < x1; j++) {
            int xe = (j + 1) * cell;
            if (xe > x1)
                xe = x1;
            uint32_t s = 0;
            if (inside) {
                s = ovx_sad_row(c + x, r + x + rdx, xe - x);
            } else {
                for (int k = x; k < xe; k++) {
                    int rx = k + rdx;
                    rx = rx < 0 ? 0 : rx >= in->W ? in->W - 1 : rx;
                    s += (uint32_t)abs((int)c[k] - (int)r[rx]);
                }
            }
            srow[j] += s;
            crow[j] += xe - x;
            x = xe;
        }
    }
    for (int uy = m->y / 4; uy < (m->y + m->h + 3) / 4; uy++)
        memset(covered + (size_t)uy * uw + m->x / 4, 1, (size_t)((m->x + m->w + 3) / 4 - m->x / 4));
}

static int residual_cells(const ovx_energy_input *in, int cw, int ch, int cell, float *cells,
                          ovx_error *err)
{
    size_t nc = (size_t)cw * ch;
    int uw = (in->W + 3) / 4, uh = (in->H + 3) / 4;
    double *sum = calloc(nc, sizeof *sum);
    int32_t *cnt = calloc(nc, sizeof *cnt);
    uint8_t *covered = calloc((size_t)uw * uh, 1);
    if (!sum || !cnt || !covered) {
        free(sum), free(cnt), free(covered);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (residual map)");
    }
    for (int64_t i = 0; i < in->n_mv; i++) {
        const ovx_mv *m = &in->mv[i];
        int nc = m->source < 0 ? in->n_past : in->n_fut;
        if (nc == 0)
            continue;
        const ovx_energy_ref *r = (m->source < 0 ? in->past : in->fut) + (in->choice ? in->choice[i] : 0);
        predict_block(in, m, r->y, r->stride, cw, cell, sum, cnt, covered, uw);
    }
    /* 4x4 units without a usable vector (intra blocks, I-frames): zero
     * motion against the previous frame; no previous frame: no residual.
     * cell is a multiple of 4, so a unit lies in exactly one cell. */
    if (in->prev) {
        for (int uy = 0; uy < uh; uy++)
            for (int ux = 0; ux < uw; ux++) {
                if (covered[(size_t)uy * uw + ux])
                    continue;
                int x0 = ux * 4, y0 = uy * 4;
                int n = x0 + 4 <= in->W ? 4 : in->W - x0;
                uint32_t s = 0;
                int rows = 0;
                for (int y = y0; y < y0 + 4 && y < in->H; y++, rows++)
                    s += ovx_sad_row(in->cur + (size_t)y * in->cur_stride + x0,
                                 in->prev + (size_t)y * in->prev_stride + x0, n);
                size_t k = (size_t)(y0 / cell) * cw + x0 / cell;
                sum[k] += s;
                cnt[k] += n * rows;
            }
    }
    for (size_t i = 0; i < nc; i++)
        cells[i] = cnt[i] ? (float)(sum[i] / cnt[i]) : 0.0f;
    free(sum), free(cnt), free(covered);
    return OVX_OK;
}

void ovx_energy_normalise(float *x, size_t n, double q, float floor_, float *tmp)
{
    float d = ovx_percentile(x, n, q, tmp);
    if (d < floor_)
        d = floor_;
    d += 1e-6f;
    for (size_t i = 0; i < n; i++) {
        float v = x[i] / d;
        x[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
}

int ovx_energy_fuse(const float *mot, const float *res, int cw, int ch, int cell, int W, int H,
                    const ovx_select_params *p, float *out, ovx_error *err)
{
    double sigma = p->prior_sigma * (W < H ? W : H);
    double inv2s2 = sigma > 0 ? 1.0 / (2.0 * sigma * sigma) : 0.0;
    /* the gaussian is separable: exp(-(x^2+y^2)k) = exp(-x^2 k) exp(-y^2 k) */
    double *gx = malloc(sizeof(double) * (size_t)cw);
    if (!gx)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (centre prior)");
    for (int j = 0; j < cw; j++) {
        double cx = (j + 0.5) * cell - 0.5 * W;
        gx[j] = exp(-cx * cx * inv2s2);
    }
    for (int i = 0; i < ch; i++) {
        double cy = (i + 0.5) * cell - 0.5 * H;
        double gy = exp(-cy * cy * inv2s2);
        for (int j = 0; j < cw; j++) {
            double prior = 1.0 + p->prior_weight * gx[j] * gy;
            size_t k = (size_t)i * cw + j;
            double f = 0.5 * (mot[k] + res[k]) * prior;
            out[k] = (float)(f > 1.0 ? 1.0 : f < 0.0 ? 0.0 : f);
        }
    }
    free(gx);
    return OVX_OK;
}

int ovx_energy_patch_scores(const ovx_energy_input *in, const ovx_select_params *p, float *scores,
                            ovx_error *err)
{
    int cell = p->cell > 0 ? p->cell : 8;
    int cw = (in->W + cell - 1) / cell, ch = (in->H + cell - 1) / cell;
    size_t nc = (size_t)cw * ch;
    float *mot = malloc(nc * sizeof *mot), *res = malloc(nc * sizeof *res);
    float *tmp = malloc(nc * sizeof *tmp);
    uint8_t *choice = NULL;
    int rc = OVX_OK;
    if (!mot || !res || !tmp) {
        rc = ovx_error_set(err, OVX_ENOMEM, "out of memory (energy maps)");
        goto out;
    }
    /* each vector's reference picture first: the residual and the vector's
     * px per frame depend on it */
    ovx_energy_input e = *in;
    if (in->n_mv > 0 && !in->choice && (in->n_past > 1 || in->n_fut > 1)) {
        choice = malloc((size_t)in->n_mv);
        if (!choice) {
            rc = ovx_error_set(err, OVX_ENOMEM, "out of memory (reference choice)");
            goto out;
        }
        ovx_refsel_params rp = ovx_refsel_default_params();
        rp.better = p->ref_better;
        ovx_refsel_choose(in, &rp, choice);
        e.choice = choice;
    }
    rc = ovx_energy_motion_cells(&e, p, cw, ch, mot, err);
    if (rc < 0)
        goto out;
    /* the normaliser's floor: p->motion_floor px, squared for the local
     * variance (px^2), so quarter-pel jitter is not stretched to full scale */
    float mfloor = (float)(p->inconsistency ? p->motion_floor * p->motion_floor : p->motion_floor);
    if (p->inconsistency) {
        local_variance(mot, tmp, cw, ch);
        memcpy(mot, tmp, nc * sizeof *mot);
    }
    ovx_energy_normalise(mot, nc, p->motion_percentile, mfloor, tmp);
    rc = residual_cells(&e, cw, ch, cell, res, err);
    if (rc < 0)
        goto out;
    ovx_energy_normalise(res, nc, p->residual_percentile, 1.0f, tmp);
    rc = ovx_energy_fuse(mot, res, cw, ch, cell, in->W, in->H, p, mot, err);
    if (rc < 0)
        goto out;
    ovx_cells_to_patches(mot, cw, ch, cell, in->W, in->H, in->rotation, scores);
out:
    free(mot), free(res), free(tmp), free(choice);
    return rc;
}
