/* refsel.h: which reference picture each block's vector points at. Exported
 * vectors give only the direction (past / future); among the candidate
 * reference pictures in that direction (nearest first) a block takes the
 * nearest unless another predicts the block, displaced by the vector,
 * clearly better. Searched only where the nearest predicts poorly. */
#ifndef OVX_SELECT_REFSEL_H
#define OVX_SELECT_REFSEL_H

#include <stdint.h>

#include "select/energy.h"
#include "select/residual.h"

typedef struct ovx_refsel_params {
    double poor;    /* search only when the nearest's mean abs error per pixel exceeds this (grey levels) */
    double better;  /* another wins when its error <= (1 - better) * the nearest's */
} ovx_refsel_params;

/* Defaults: poor 2 grey levels, better 0.2. */
ovx_refsel_params ovx_refsel_default_params(void);

/* choice[i] for every vector of in: the index into in->past (source < 0)
 * or in->fut (source > 0), 0 when there is no candidate. Deterministic. */
void ovx_refsel_choose(const ovx_energy_input *in, const ovx_refsel_params *p, uint8_t *choice);

/* The same for the scores of a region: future (+1) vectors only where their
 * block touches roi (elsewhere 0: their reference matters only to the
 * residual, which is taken inside roi), and past ones too when the
 * comparisons step more than 2 rows (in->sad_step > 2: --row-step 2 or 4,
 * 1080p by default; there the camera fit takes the others' vectors as to
 * the nearest reference); own_sad[i] (when not NULL) = the
 * chosen candidate's ovx_block_sad at the step ovx_refsel_step(in, 16)
 * where the choice computed it (blocks of 16 rows or more; of 8 at the
 * default step 2), UINT32_MAX elsewhere. */
void ovx_refsel_choose_in(const ovx_energy_input *in, const ovx_refsel_params *p, const ovx_roi *roi,
                          uint8_t *choice, uint32_t *own_sad);

/* The row step of the comparisons of a block of h rows: sad_step (at
 * least 2) from 16 rows, 2 from 8, else 1. */
int ovx_refsel_step(const ovx_energy_input *in, int h);

/* Sum of |cur - the block's quarter-pel prediction from ref| (subpel.h,
 * the input's interpolation) over the block's rows y0, y0 + step, ...
 * within each 16-row tile; *n: pixels summed. */
uint64_t ovx_block_sad(const ovx_energy_input *in, const ovx_mv *m, const uint8_t *ref, int rstride,
                       int step, int64_t *n);

/* The same against the reference r at the vector (qx, qy) in quarter
 * pixels. */
uint64_t ovx_block_sad_q(const ovx_energy_input *in, const ovx_mv *m, const ovx_subpel_ref *r, int qx, int qy,
                         int step, int64_t *n);

#endif
