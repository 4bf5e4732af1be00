/* refine.c: sub-pixel refinement of estimated vectors (see refine.h). The
 * error of a candidate is its block's SAD over every other row (blocks of 16
 * rows or more: every sad_step-th, refsel.h); ties keep
 * the earlier candidate, so the result is deterministic. A position a
 * step's search has costed already is not costed again. */
#include "select/refine.h"

#include <string.h>

#include "select/refsel.h"
#include "video/mv.h"

/* the lattice of a step's positions its rounds can reach: 4 moves and a
 * neighbour either way */
enum { SPAN = 11 };

/* A block's error at a candidate: its one tile's SAD (blocks of up to 16 x
 * 16, the estimator's) or the tiled ovx_block_sad */
typedef struct blk {
    const ovx_energy_input *in;
    const ovx_subpel_ref *ref;
    const ovx_mv *m;
    ovx_subpel_block b;
    int step, tiled;
} blk;

static uint64_t cost(const blk *k, int qx, int qy)
{
    if (!k->tiled)
        return ovx_subpel_block_sad(k->ref, &k->b, qx, qy);
    int64_t n;
    return ovx_block_sad_q(k->in, k->m, k->ref, qx, qy, k->step, &n);
}

void ovx_refine_vectors(const ovx_energy_input *in, const ovx_roi *roi, ovx_mv *mv, int64_t n)
{
    if (in->n_past < 1)
        return;
    /* steps in quarter pixels, from half the estimator's grid (f px) down:
     * f / 2 px, ..., 1/2, 1/4 (a whole-pixel search again would redo the
     * estimator's, without its motion cost) */
    static const int steps[] = {8, 4, 2, 1}, lgs[] = {3, 2, 1, 0};
    int f = ovx_mv_estimate_scale(in->W), first = f >= 4 ? 0 : f == 2 ? 1 : 2, step16 = ovx_refsel_step(in, 16);
    ovx_subpel_ref ref = ovx_subpel_ref_make(in->past[0].y, in->past[0].stride, in->W, in->H, in->interp);
    for (int64_t i = 0; i < n; i++) {
        ovx_mv *m = &mv[i];
        if (m->source >= 0 || m->x + m->w <= roi->x0 || m->x >= roi->x1 || m->y + m->h <= roi->y0 ||
            m->y >= roi->y1)
            continue;
        blk k = {.in = in, .ref = &ref, .m = m, .step = m->h >= 16 ? step16 : 2};
        k.tiled = m->w > OVX_SUBPEL_MAX || m->h > OVX_SUBPEL_MAX;
        if (!k.tiled)
            k.b = ovx_subpel_block_make(m->x, m->y, m->w, m->h, in->cur + (size_t)m->y * in->cur_stride + m->x,
                                        in->cur_stride, k.step);
        int bx = ovx_subpel_quarter(m->dx), by = ovx_subpel_quarter(m->dy);
        uint64_t best = cost(&k, bx, by);
        for (int s = first; s < 4; s++) {
            int st = steps[s], lg = lgs[s], its = st >= 4 ? 4 : 1;
            /* the costs taken in this step, on its lattice around where it
             * started (its moves: at most one a round): a later round's
             * neighbours are partly an earlier round's */
            uint64_t known[SPAN][SPAN];
            uint8_t have[SPAN][SPAN];
            int sx = bx, sy = by;
            if (its > 1) {
                memset(have, 0, sizeof have);
                have[SPAN / 2][SPAN / 2] = 1;
                known[SPAN / 2][SPAN / 2] = best;
            }
            for (int it = 0; it < its; it++) {
                int ox = bx, oy = by, moved = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        if (!dx && !dy)
                            continue;
                        int qx = ox + dx * st, qy = oy + dy * st;
                        uint64_t c;
                        if (its > 1) {
                            /* (exact multiples of st: the shift is the division) */
                            int kx = ((qx - sx) >> lg) + SPAN / 2, ky = ((qy - sy) >> lg) + SPAN / 2;
                            if (!have[ky][kx]) {
                                known[ky][kx] = cost(&k, qx, qy);
                                have[ky][kx] = 1;
                            }
                            c = known[ky][kx];
                        } else {
                            c = cost(&k, qx, qy);
                        }
                        if (c < best) {
                            best = c;
                            bx = qx;
                            by = qy;
                            moved = 1;
                        }
                    }
                if (!moved)
                    break;
            }
        }
        m->dx = bx / 4.0f;
        m->dy = by / 4.0f;
    }
}
