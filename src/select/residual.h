/* residual.h: the residual the codec coded, as well as stock FFmpeg lets us
 * see it: the decoded luma minus the motion-compensated prediction rebuilt
 * from the exported vectors (quarter-pel, with the codec's interpolation;
 * bi-predicted blocks as the weighted average of their two predictions,
 * default or H.264 implicit weights, whichever fits the frame), after a
 * per-frame gain/offset fit of the prediction to the picture (global light
 * changes: auto-exposure, fades, flicker, H.264 explicit weights). Units
 * without a vector (intra blocks) are predicted by the previous picture
 * (in->prev: with codec vectors the nearest earlier reference picture). Mean
 * absolute error per cell, in grey levels, inside a region of interest. */
#ifndef OVX_SELECT_RESIDUAL_H
#define OVX_SELECT_RESIDUAL_H

#include <stdint.h>

#include "common/error.h"
#include "select/energy.h"

/* A rectangle of coded pixels [x0, x1) x [y0, y1). */
typedef struct ovx_roi {
    int x0, y0, x1, y1;
} ovx_roi;

typedef struct ovx_residual_info {
    double gain, offset;  /* prediction -> picture fit applied (1, 0 without) */
    int bi_implicit;      /* bi-predicted blocks used H.264 implicit weights */
} ovx_residual_info;

/* cells [ch, cw] (cell px each): mean |residual| of the covered pixels of
 * each cell inside roi, -1 for cells with no covered pixel (outside roi, or
 * no vector and no previous picture). light: fit gain/offset. */
int ovx_residual_cells(const ovx_energy_input *in, int cw, int ch, int cell, const ovx_roi *roi, int light,
                       float *cells, ovx_residual_info *info, ovx_error *err);

/* out[j] = e[j cell] + e[j cell + 1] + ... + e[j cell + cell - 1], added
 * in that order as floats, for the cells j < 8 n8. Exposed for tests. */
void ovx_residual_cell_sums(const float *e, int cell, int n8, float *out);

/* wu[k] = the H.264 implicit weight (of 64, 8.4.2.3.1) of the future
 * prediction for the distances d0[k] (past) and d1[k] (future) where m0[k]
 * and m1[k] are both 1, else unchanged. Exposed for tests. */
void ovx_residual_implicit_weights(const uint8_t *m0, const uint8_t *m1, const uint8_t *d0, const uint8_t *d1, int n,
                                   int16_t *wu);

/* Frees the scratch buffers the maps keep for later frames (ovx_select_run
 * calls it when it is done; concurrent runs lose nothing but the reuse). */
void ovx_residual_release(void);

#endif
