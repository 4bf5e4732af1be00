/* energy.h: per-frame saliency: motion energy (camera-compensated vector
 * magnitude or its 3x3 inconsistency) and residual energy (motion-
 * compensated luma prediction error against each block's chosen reference
 * picture), normalised, fused, centre prior, on a grid of cells, then summed
 * per patch of the 224x224 crop. */
#ifndef OVX_SELECT_ENERGY_H
#define OVX_SELECT_ENERGY_H

#include <stdint.h>

#include "common/error.h"
#include "select/select.h"
#include "select/subpel.h"
#include "video/mv.h"

/* A reference picture a vector may point at: its 8-bit luma and its
 * distance from the current frame in display order (frames, > 0). */
typedef struct ovx_energy_ref {
    const uint8_t *y;
    int stride;
    int dist;
} ovx_energy_ref;

#define OVX_ENERGY_MAX_REFS 8

typedef struct ovx_energy_input {
    const uint8_t *cur, *prev;         /* 8-bit luma; prev: the previous picture (with codec
                                        * vectors the nearest earlier reference picture, else
                                        * the adjacent earlier frame; may be NULL), for blocks
                                        * without a vector */
    int cur_stride, prev_stride;
    ovx_energy_ref past[OVX_ENERGY_MAX_REFS]; /* candidates for source -1 vectors, nearest first */
    ovx_energy_ref fut[OVX_ENERGY_MAX_REFS];  /* ... for source +1 vectors */
    int n_past, n_fut;
    int W, H;                          /* coded size */
    int rotation;
    const ovx_mv *mv;                  /* [n_mv] */
    int64_t n_mv;
    const uint8_t *choice;             /* [n_mv] chosen candidate per vector (refsel.h);
                                        * NULL: the nearest */
    ovx_interp interp;                 /* the codec's sub-pixel interpolation */
    int refine;                        /* 1: vectors are whole-pixel estimates: refine them
                                        * to 1/4 pixel (refine.h) before scoring */
    const uint32_t *own_sad;           /* [n_mv] or NULL: each vector's ovx_block_sad at the step
                                        * ovx_refsel_step(in, 16) against its chosen reference
                                        * where the reference choice computed it, UINT32_MAX
                                        * elsewhere */
    int row_step;                      /* the residual is taken on every row_step-th row of the
                                        * scored region (0 or 1: every row) */
    int sad_step;                      /* the reference choice, the vectors' evidence and the
                                        * refinement compare blocks of 16 rows or more on every
                                        * sad_step-th row (0: 2, the default; refsel.h) */
    int need_x0, need_y0, need_x1, need_y1; /* the motion map is read only in this rectangle of
                                        * pixels: the evidence of vectors elsewhere is not
                                        * weighed (their cells are not exact); x1 <= x0:
                                        * everywhere. Widen it before reading more. */
} ovx_energy_input;

/* The block touches in's need rectangle (or there is none). */
static inline int ovx_energy_needed_block(const ovx_energy_input *in, const ovx_mv *m)
{
    return in->need_x1 <= in->need_x0 || (m->x < in->need_x1 && m->x + m->w > in->need_x0 &&
                                          m->y < in->need_y1 && m->y + m->h > in->need_y0);
}

/* scores [16, 16] patch sums of the fused map. */
int ovx_energy_patch_scores(const ovx_energy_input *in, const ovx_select_params *p, float *scores,
                            ovx_error *err);

/* The texture test of the vector evidence (--texture-k), over the block
 * m's rows the block comparisons read (every other row; every sad_step-th
 * at high resolution): spread = the mean absolute deviation of the current
 * picture's pixels from their mean; noise = the same of the error of m's
 * prediction from ref (stride rstride) at m's vector (the error's mean, a
 * change of light, taken out). Grey levels. Exposed for tests. */
void ovx_block_texture(const ovx_energy_input *in, const ovx_mv *m, const uint8_t *ref, int rstride,
                       float *spread, float *noise);

/* Motion map [ch, cw] (before normalisation) in px per frame against the
 * fitted camera: a past vector divided by its chosen reference's distance
 * minus the camera's motion to that reference. With p->motion_sides both,
 * when 8 or more of the needed blocks have a future vector and no past one,
 * those blocks paint their future vector the same way, against a camera
 * fitted (and checked) on the future vectors. Exposed for tests. */
int ovx_energy_motion_cells(const ovx_energy_input *in, const ovx_select_params *p, int cw, int ch,
                            float *cells, ovx_error *err);

/* out[ch, cw] = the 3x3 local variance (population, in doubles, over the
 * neighbours inside the grid) of in's cells inside roi (pixels, cell px a
 * cell); 0 elsewhere. Exposed for tests. */
struct ovx_roi;
void ovx_energy_local_variance(const float *in, float *out, int cw, int ch, int cell, const struct ovx_roi *roi);

/* x /= max(q-th percentile, floor) (plus 1e-6), clipped to [0, 1]; tmp [n]. */
void ovx_energy_normalise(float *x, size_t n, double q, float floor, float *tmp);

/* out = clip(((1 - w) mot + w res) * (1 + pw * g), 0, 1) per cell, pw =
 * ovx_select_prior_weight(p),
 * w = ovx_select_residual_weight(p) (the recipe: 1/2), g the
 * gaussian of the cell centre's distance from the picture centre with sigma
 * = prior_sigma * min(W, H). out may be mot. */
int ovx_energy_fuse(const float *mot, const float *res, int cw, int ch, int cell, int W, int H,
                    const ovx_select_params *p, float *out, ovx_error *err);

#endif
