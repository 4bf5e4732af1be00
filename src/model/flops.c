/* flops.c: the matrix-product FLOP count of a forward (see flops.h). */
#include "model/flops.h"

double ovx_model_forward_flops(const ovx_model_config *c, int n)
{
    double N = n, D = c->hidden_size, F = c->intermediate_size;
    double K = (double)c->num_channels * c->patch_size * c->patch_size;
    double block = 8 * N * D * D   /* q, k, v, out_proj */
                   + 4 * N * D * F /* fc1, fc2 */
                   + 4 * N * N * D; /* scores and values, all heads */
    double head = c->use_head ? 4 * N * D * D /* k, v of every token */
                                    + 4 * D * D /* probe q, out_proj */
                                    + 4 * N * D /* one query's scores and values */
                                    + 4 * D * F /* MLP of the pooled token */
                              : 0;
    return 2 * N * K * D + c->num_layers * block + head;
}
