/* refine.h: sub-pixel refinement of estimated motion vectors. Block
 * matching (video/mv.h) finds vectors on a grid of f pixels (its downscale
 * factor); each block inside the region of interest is refined at full
 * resolution by steps of f/2 pixels down to 1/4 pixel (bilinear prediction,
 * subpel.h), keeping the candidate with the smallest prediction error, so
 * slow and sub-pixel motion gets its true length and the residual its true
 * prediction. */
#ifndef OVX_SELECT_REFINE_H
#define OVX_SELECT_REFINE_H

#include "select/energy.h"
#include "select/residual.h"

/* Refines mv[n] (source -1 vectors against in->past[0]) in place. */
void ovx_refine_vectors(const ovx_energy_input *in, const ovx_roi *roi, ovx_mv *mv, int64_t n);

#endif
