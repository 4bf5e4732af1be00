/* refsel.c: per-block reference choice among the candidate reference
 * pictures (see refsel.h). Errors are taken over every other row of the
 * block (blocks of 8 rows or more): the choice needs a comparison, not the
 * exact residual, which energy.c computes afterwards on every pixel. */
#include "select/refsel.h"

#include <math.h>

#include "select/sad.h"

ovx_refsel_params ovx_refsel_default_params(void)
{
    ovx_refsel_params p = {.poor = 2.0, .better = 0.2};
    return p;
}

uint64_t ovx_block_sad(const ovx_energy_input *in, const ovx_mv *m, const uint8_t *ref, int rstride,
                       int step, int64_t *n)
{
    int rdx = (int)lrintf(m->dx), rdy = (int)lrintf(m->dy);
    int x0 = m->x, x1 = m->x + m->w;
    int inside = x0 + rdx >= 0 && x1 + rdx <= in->W;
    uint64_t s = 0;
    int64_t cnt = 0;
    for (int y = m->y; y < m->y + m->h; y += step) {
        int ry = y + rdy;
        ry = ry < 0 ? 0 : ry >= in->H ? in->H - 1 : ry;
        const uint8_t *c = in->cur + (size_t)y * in->cur_stride;
        const uint8_t *r = ref + (size_t)ry * rstride;
        if (inside) {
            s += ovx_sad_row(c + x0, r + x0 + rdx, m->w);
        } else {
            for (int x = x0; x < x1; x++) {
                int rx = x + rdx;
                rx = rx < 0 ? 0 : rx >= in->W ? in->W - 1 : rx;
                s += (uint64_t)abs((int)c[x] - (int)r[rx]);
            }
        }
        cnt += m->w;
    }
    *n = cnt;
    return s;
}

void ovx_refsel_choose(const ovx_energy_input *in, const ovx_refsel_params *p, uint8_t *choice)
{
    for (int64_t i = 0; i < in->n_mv; i++) {
        const ovx_mv *m = &in->mv[i];
        const ovx_energy_ref *c = m->source < 0 ? in->past : in->fut;
        int nc = m->source < 0 ? in->n_past : in->n_fut;
        choice[i] = 0;
        if (nc < 2)
            continue;
        int step = m->h >= 8 ? 2 : 1;
        int64_t n;
        uint64_t e0 = ovx_block_sad(in, m, c[0].y, c[0].stride, step, &n);
        if ((double)e0 <= p->poor * (double)n)
            continue;
        double limit = (1.0 - p->better) * (double)e0;
        uint64_t best = e0;
        int bi = 0;
        for (int k = 1; k < nc; k++) {
            uint64_t e = ovx_block_sad(in, m, c[k].y, c[k].stride, step, &n);
            if ((double)e <= limit && e < best) {
                best = e;
                bi = k;
            }
        }
        choice[i] = (uint8_t)bi;
    }
}
