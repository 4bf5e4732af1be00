/* stats.c: percentiles by sorting a scratch copy. */
#include "select/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

float ovx_percentile(const float *x, size_t n, double q, float *tmp)
{
    if (n == 0)
        return 0.0f;
    memcpy(tmp, x, n * sizeof *tmp);
    qsort(tmp, n, sizeof *tmp, cmp_float);
    if (q <= 0)
        return tmp[0];
    if (q >= 100)
        return tmp[n - 1];
    double pos = q / 100.0 * (double)(n - 1);
    size_t lo = (size_t)floor(pos);
    double frac = pos - (double)lo;
    if (lo + 1 >= n)
        return tmp[n - 1];
    return (float)(tmp[lo] + frac * ((double)tmp[lo + 1] - tmp[lo]));
}

float ovx_median(const float *x, size_t n, float *tmp) { return ovx_percentile(x, n, 50.0, tmp); }
