/* test_layernorm_ref.c: LayerNorm rows (ovx_layernorm_row at each vector
 * width the CPU has, and ovx_op_layernorm) against a double-precision
 * reference y = (x - mean) / sqrt(var + eps) * w + b, on rows whose variance
 * is near eps: there a misplaced eps (sqrt(var) + eps, or eps dropped) is off
 * by tens of percent, so the bound (1e-3 of a unit output) pins the formula.
 * Also a constant row (var = 0: y = b) and a non-multiple-of-16 width. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../check.h"
#include "model/ops.h"
#include "model/vecmath.h"

static double reference(const float *x, int n, int i, double eps, const float *w, const float *b)
{
    double mean = 0, var = 0;
    for (int k = 0; k < n; k++)
        mean += x[k];
    mean /= n;
    for (int k = 0; k < n; k++)
        var += ((double)x[k] - mean) * ((double)x[k] - mean);
    var /= n;
    return ((double)x[i] - mean) / sqrt(var + eps) * w[i] + b[i];
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static double uniform(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* Max |y - reference| over a row of n with std `sd` around `mu`. */
static double row_error(int n, double mu, double sd, float eps, int use_op)
{
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    float *w = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
    for (int i = 0; i < n; i++) {
        x[i] = (float)(mu + sd * (2 * uniform() - 1) * 1.7320508);
        w[i] = (float)(0.5 + uniform());
        b[i] = (float)(uniform() - 0.5);
    }
    if (use_op)
        ovx_op_layernorm(y, x, w, b, 1, n, eps, 1);
    else
        ovx_layernorm_row(y, x, w, b, n, eps);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double d = fabs((double)y[i] - reference(x, n, i, eps, w, b));
        if (d > worst || d != d)
            worst = d != d ? INFINITY : d;
    }
    free(x), free(y), free(w), free(b);
    return worst;
}

int main(void)
{
    const int widths[] = {16, 8};
    const int ns[] = {1024, 1000, 37};
    const double sds[] = {1e-3, 3e-3, 5e-4, 1.0}; /* var 1e-6 = eps, 9e-6, 2.5e-7, 1 */
    for (int wi = 0; wi < 2; wi++) {
        ovx_vecmath_force_width(widths[wi]);
        for (int ni = 0; ni < 3; ni++)
            for (int si = 0; si < 4; si++)
                for (int op = 0; op < 2; op++) {
                    double e = row_error(ns[ni], 1.0, sds[si], 1e-6f, op);
                    if (e > 1e-3)
                        printf("width %d n %d sd %g %s: max error %.3g\n", widths[wi], ns[ni], sds[si],
                               op ? "ovx_op_layernorm" : "ovx_layernorm_row", e);
                    CHECK(e <= 1e-3);
                }
        /* var 0: y = b exactly (up to the mean's rounding) */
        CHECK(row_error(1024, 0.25, 0.0, 1e-6f, 0) <= 1e-6);
    }
    ovx_vecmath_force_width(0);
    /* the test distinguishes: eps outside the root moves a var = eps row by ~30% */
    double inside = 1.0 / sqrt(1e-6 + 1e-6), outside = 1.0 / (sqrt(1e-6) + 1e-6);
    CHECK(fabs(inside - outside) / inside > 0.25);
    return CHECK_RESULT();
}
