/* topk.h: global top-K patch selection and linspace sampling helpers. */
#ifndef OVX_SELECT_TOPK_H
#define OVX_SELECT_TOPK_H

#include <stdint.h>

/* Picks up to k indices of [0, n): first every forced one (ascending, until
 * k), then the eligible non-forced ones by descending score, ties broken by
 * lower index. Writes them to out sorted ascending; returns the count, or -1
 * on allocation failure. forced/eligible may be NULL (none / all). */
int64_t ovx_topk_select(const float *scores, const unsigned char *eligible,
                        const unsigned char *forced, int64_t n, int64_t k, int64_t *out);

/* out[i] = (int64)(lo + i*(hi-lo)/(count-1)) truncated, numpy.linspace style
 * (count 1 gives lo). */
void ovx_linspace_i64(double lo, double hi, int count, int64_t *out);

#endif
