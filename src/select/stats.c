/* stats.c: percentiles by quickselect on a scratch copy. */
#include "select/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Rearranges a[0..n) so that a[k] is the k-th smallest, smaller-or-equal
 * values before it and greater-or-equal after it (quickselect). */
static void select_kth(float *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (hi > lo) {
        size_t mid = lo + (hi - lo) / 2;
        /* median of three as pivot */
        float x = a[lo], y = a[mid], z = a[hi];
        float piv = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        size_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < piv)
                i++;
            while (a[j] > piv)
                j--;
            if (i <= j) {
                float t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return;
    }
}

float ovx_percentile(const float *x, size_t n, double q, float *tmp)
{
    if (n == 0)
        return 0.0f;
    memcpy(tmp, x, n * sizeof *tmp);
    if (q < 0)
        q = 0;
    if (q > 100)
        q = 100;
    double pos = q / 100.0 * (double)(n - 1);
    size_t lo = (size_t)floor(pos);
    double frac = pos - (double)lo;
    if (lo >= n - 1) {
        select_kth(tmp, n, n - 1);
        return tmp[n - 1];
    }
    select_kth(tmp, n, lo);
    float a = tmp[lo], b = tmp[lo + 1];
    for (size_t i = lo + 2; i < n; i++)
        if (tmp[i] < b)
            b = tmp[i];
    return (float)(a + frac * ((double)b - a));
}

float ovx_median(const float *x, size_t n, float *tmp) { return ovx_percentile(x, n, 50.0, tmp); }
