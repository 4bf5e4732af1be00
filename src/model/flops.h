/* flops.h: the arithmetic of one forward, for benchmarks (% of a device's
 * peak): matrix-product FLOPs (2 per multiply-add) of the patch embedding,
 * the encoder blocks (q/k/v/out projections, attention scores and values,
 * MLP) and the pooling head. Norms, softmax and elementwise work are left
 * out (under 1% at N >= 256). */
#ifndef OVX_MODEL_FLOPS_H
#define OVX_MODEL_FLOPS_H

#include "model/model.h"

/* FLOPs of the forward of one sample of n tokens. */
double ovx_model_forward_flops(const ovx_model_config *c, int n);

#endif
