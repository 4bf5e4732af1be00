/* fit.h: camera-motion model: robust least-squares fit of a similarity
 * transform to motion vectors, dx = tx + a*x - b*y, dy = ty + b*x + a*y, on
 * coordinates scaled to [-1, 1]. */
#ifndef OVX_SELECT_FIT_H
#define OVX_SELECT_FIT_H

#include <stddef.h>

typedef struct ovx_similarity {
    double tx, ty, a, b;
    int median_fallback;  /* 1: fewer non-zero vectors than min_vectors, model = median vector */
} ovx_similarity;

/* x, y: block centres scaled to [-1,1]; dx, dy: displacements [n].
 * passes rounds, each keeping the fraction keep of vectors with the
 * smallest error of the previous fit. Returns 0, -1 on allocation failure. */
int ovx_similarity_fit(const float *x, const float *y, const float *dx, const float *dy, size_t n,
                       double keep, int passes, int min_vectors, ovx_similarity *m);

static inline void ovx_similarity_apply(const ovx_similarity *m, double x, double y, double *dx,
                                        double *dy)
{
    *dx = m->tx + m->a * x - m->b * y;
    *dy = m->ty + m->b * x + m->a * y;
}

#endif
