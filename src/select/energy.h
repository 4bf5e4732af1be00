/* energy.h: per-frame saliency: motion energy (camera-compensated vector
 * magnitude or its 3x3 inconsistency) and residual energy (motion-
 * compensated luma prediction error), normalised, fused, centre prior, on
 * a grid of cells, then summed per patch of the 224x224 crop. */
#ifndef OVX_SELECT_ENERGY_H
#define OVX_SELECT_ENERGY_H

#include <stdint.h>

#include "common/error.h"
#include "select/select.h"
#include "video/mv.h"

typedef struct ovx_energy_input {
    const uint8_t *cur, *prev, *next;  /* luma planes; prev/next may be NULL */
    int cur_stride, prev_stride, next_stride;
    int W, H;                          /* coded size */
    int rotation;
    const ovx_mv *mv;                  /* [n_mv] */
    int64_t n_mv;
} ovx_energy_input;

/* scores [16, 16] patch sums of the fused map. */
int ovx_energy_patch_scores(const ovx_energy_input *in, const ovx_select_params *p, float *scores,
                            ovx_error *err);

/* Motion map [ch, cw] (before normalisation) from the past-reference
 * vectors after removing the fitted camera motion. Exposed for tests. */
int ovx_energy_motion_cells(const ovx_energy_input *in, const ovx_select_params *p, int cw, int ch,
                            float *cells, ovx_error *err);

#endif
