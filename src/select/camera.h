/* camera.h: the camera's motion in a frame, in px per frame, from the
 * frame's past vectors: a robust similarity fit over all of them
 * (model[n_past]) and one per reference picture the frame uses with 8
 * vectors or more (model[c], own[c] = 1), on the crop's blocks (--fit-region
 * crop) or the whole frame's; then checked against the pixels: a common
 * vector of the blocks that chose a reference that predicts the crop from
 * it clearly better than the fit becomes that reference's camera, and so
 * does the picture's whole-pixel shift to the reference most blocks chose
 * when most blocks prefer it. */
#ifndef OVX_SELECT_CAMERA_H
#define OVX_SELECT_CAMERA_H

#include <stdint.h>

#include "select/energy.h"
#include "select/fit.h"
#include "select/select.h"

/* x, y: block centres scaled to [-1, 1]; dx, dy: px per frame; the n past
 * vectors in the order of in->mv (choice, need rectangle as in in).
 * model[OVX_ENERGY_MAX_REFS + 1] (model[n_past]: all vectors); own[OVX_ENERGY_MAX_REFS]
 * zeroed by the caller. Returns 0, -1 on allocation failure. Deterministic. */
int ovx_camera_fit(const ovx_energy_input *in, const ovx_select_params *p, const float *x, const float *y,
                   const float *dx, const float *dy, int64_t n, ovx_similarity *model, int *own);

#endif
