/* refsel.c: per-block reference choice among the candidate reference
 * pictures (see refsel.h). Errors are taken over every other row of the
 * block (blocks of 8 rows or more; 16-row blocks every sad_step-th row at
 * high resolution): the choice needs a comparison, not the exact residual,
 * which residual.c computes afterwards. */
#include "select/refsel.h"

#include "select/subpel.h"

ovx_refsel_params ovx_refsel_default_params(void)
{
    ovx_refsel_params p = {.poor = 2.0, .better = 0.2};
    return p;
}

uint64_t ovx_block_sad_q(const ovx_energy_input *in, const ovx_mv *m, const ovx_subpel_ref *r, int qx, int qy,
                         int step, int64_t *n)
{
    if (m->w <= OVX_SUBPEL_MAX && m->h <= OVX_SUBPEL_MAX) { /* one tile */
        ovx_subpel_block b = ovx_subpel_block_make(m->x, m->y, m->w, m->h,
                                                   in->cur + (size_t)m->y * in->cur_stride + m->x, in->cur_stride, step);
        *n = (int64_t)m->w * b.n;
        return ovx_subpel_block_sad(r, &b, qx, qy);
    }
    uint64_t s = 0;
    int64_t cnt = 0;
    for (int by = 0; by < m->h; by += OVX_SUBPEL_MAX)
        for (int bx = 0; bx < m->w; bx += OVX_SUBPEL_MAX) {
            int w = m->w - bx < OVX_SUBPEL_MAX ? m->w - bx : OVX_SUBPEL_MAX;
            int h = m->h - by < OVX_SUBPEL_MAX ? m->h - by : OVX_SUBPEL_MAX;
            ovx_subpel_block b = ovx_subpel_block_make(
                m->x + bx, m->y + by, w, h, in->cur + (size_t)(m->y + by) * in->cur_stride + m->x + bx,
                in->cur_stride, step);
            s += ovx_subpel_block_sad(r, &b, qx, qy);
            cnt += (int64_t)w * b.n;
        }
    *n = cnt;
    return s;
}

uint64_t ovx_block_sad(const ovx_energy_input *in, const ovx_mv *m, const uint8_t *ref, int rstride,
                       int step, int64_t *n)
{
    ovx_subpel_ref r = ovx_subpel_ref_make(ref, rstride, in->W, in->H, in->interp);
    return ovx_block_sad_q(in, m, &r, ovx_subpel_quarter(m->dx), ovx_subpel_quarter(m->dy), step, n);
}

int ovx_refsel_step(const ovx_energy_input *in, int h)
{
    int s = in->sad_step > 2 ? in->sad_step : 2;
    return h >= 16 ? s : h >= 8 ? 2 : 1;
}

void ovx_refsel_choose_in(const ovx_energy_input *in, const ovx_refsel_params *p, const ovx_roi *roi,
                          uint8_t *choice, uint32_t *own_sad)
{
    ovx_subpel_ref past[OVX_ENERGY_MAX_REFS], fut[OVX_ENERGY_MAX_REFS];
    for (int k = 0; k < in->n_past; k++)
        past[k] = ovx_subpel_ref_make(in->past[k].y, in->past[k].stride, in->W, in->H, in->interp);
    for (int k = 0; k < in->n_fut; k++)
        fut[k] = ovx_subpel_ref_make(in->fut[k].y, in->fut[k].stride, in->W, in->H, in->interp);
    for (int64_t i = 0; i < in->n_mv; i++) {
        const ovx_mv *m = &in->mv[i];
        const ovx_subpel_ref *c = m->source < 0 ? past : fut;
        int nc = m->source < 0 ? in->n_past : in->n_fut;
        choice[i] = 0;
        if (own_sad)
            own_sad[i] = UINT32_MAX;
        if (nc < 2)
            continue;
        if (roi && (m->source >= 0 || in->sad_step > 2) &&
            !(m->x < roi->x1 && m->x + m->w > roi->x0 && m->y < roi->y1 && m->y + m->h > roi->y0))
            continue;
        int step = ovx_refsel_step(in, m->h), qx = ovx_subpel_quarter(m->dx), qy = ovx_subpel_quarter(m->dy);
        int64_t n;
        uint64_t e0 = ovx_block_sad_q(in, m, &c[0], qx, qy, step, &n);
        uint64_t best = e0;
        int bi = 0;
        if ((double)e0 > p->poor * (double)n) {
            double limit = (1.0 - p->better) * (double)e0;
            for (int k = 1; k < nc; k++) {
                uint64_t e = ovx_block_sad_q(in, m, &c[k], qx, qy, step, &n);
                if ((double)e <= limit && e < best) {
                    best = e;
                    bi = k;
                }
            }
        }
        choice[i] = (uint8_t)bi;
        if (own_sad && step == ovx_refsel_step(in, 16) && best < UINT32_MAX)
            own_sad[i] = (uint32_t)best;
    }
}

void ovx_refsel_choose(const ovx_energy_input *in, const ovx_refsel_params *p, uint8_t *choice)
{
    ovx_refsel_choose_in(in, p, NULL, choice, NULL);
}
