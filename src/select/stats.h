/* stats.h: small statistics helpers used by the saliency maps. */
#ifndef OVX_SELECT_STATS_H
#define OVX_SELECT_STATS_H

#include <stddef.h>

/* q-th percentile (0..100) of x[n] with linear interpolation between order
 * statistics (numpy's default). tmp[n] is scratch. n == 0 gives 0. */
float ovx_percentile(const float *x, size_t n, double q, float *tmp);

/* Median of x[n] (the 50th percentile as above). */
float ovx_median(const float *x, size_t n, float *tmp);

#endif
