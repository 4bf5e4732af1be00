/* fit.c: robust similarity fit (normal equations of a 4-parameter linear
 * least-squares problem, trimmed by residual rank) with a median fallback. */
#include "select/fit.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "select/hypot.h"
#include "select/stats.h"

/* Solves the 4x4 system A p = r by Gaussian elimination with partial
 * pivoting; returns -1 when singular. */
static int solve4(double A[4][4], double r[4], double p[4])
{
    for (int c = 0; c < 4; c++) {
        int piv = c;
        for (int i = c + 1; i < 4; i++)
            if (fabs(A[i][c]) > fabs(A[piv][c]))
                piv = i;
        if (fabs(A[piv][c]) < 1e-12)
            return -1;
        if (piv != c) {
            for (int j = 0; j < 4; j++) {
                double t = A[c][j];
                A[c][j] = A[piv][j];
                A[piv][j] = t;
            }
            double t = r[c];
            r[c] = r[piv];
            r[piv] = t;
        }
        for (int i = c + 1; i < 4; i++) {
            double f = A[i][c] / A[c][c];
            for (int j = c; j < 4; j++)
                A[i][j] -= f * A[c][j];
            r[i] -= f * r[c];
        }
    }
    for (int c = 3; c >= 0; c--) {
        double s = r[c];
        for (int j = c + 1; j < 4; j++)
            s -= A[c][j] * p[j];
        p[c] = s / A[c][c];
    }
    return 0;
}

/* Least squares over the vectors with use[i] set (their indices first
 * into idx[n], without a branch, then summed in order). Rows per vector:
 * dx = tx + a x - b y; dy = ty + b x + a y; parameters (tx, ty, a, b). */
static int lsq(const float *x, const float *y, const float *dx, const float *dy, size_t n,
               const unsigned char *use, uint32_t *idx, ovx_similarity *m)
{
    double A[4][4] = {{0}}, r[4] = {0}, p[4];
    size_t nu = 0;
    for (size_t i = 0; i < n; i++) {
        idx[nu] = (uint32_t)i;
        nu += use[i] != 0;
    }
    for (size_t k = 0; k < nu; k++) {
        size_t i = idx[k];
        double rx[4] = {1, 0, x[i], -y[i]}, ry[4] = {0, 1, y[i], x[i]};
        for (int a = 0; a < 4; a++) {
            for (int b = 0; b < 4; b++)
                A[a][b] += rx[a] * rx[b] + ry[a] * ry[b];
            r[a] += rx[a] * dx[i] + ry[a] * dy[i];
        }
    }
    if (solve4(A, r, p) < 0)
        return -1;
    m->tx = p[0];
    m->ty = p[1];
    m->a = p[2];
    m->b = p[3];
    return 0;
}

int ovx_similarity_fit(const float *x, const float *y, const float *dx, const float *dy, size_t n,
                       double keep, int passes, int min_vectors, ovx_similarity *m)
{
    memset(m, 0, sizeof *m);
    size_t nonzero = 0;
    for (size_t i = 0; i < n; i++)
        nonzero += (dx[i] != 0.0f) | (dy[i] != 0.0f);
    float *e = malloc((n ? n : 1) * sizeof *e), *tmp = malloc((n ? n : 1) * sizeof *tmp);
    unsigned char *use = malloc(n ? n : 1);
    uint32_t *idx = (uint32_t *)(void *)tmp; /* lsq's scratch: tmp is free while it runs */
    if (!e || !tmp || !use) {
        free(e);
        free(tmp);
        free(use);
        return -1;
    }
    if (nonzero < (size_t)min_vectors || n < 4) {
        m->median_fallback = 1;
        m->tx = n ? ovx_median(dx, n, tmp) : 0.0;
        m->ty = n ? ovx_median(dy, n, tmp) : 0.0;
        goto done;
    }
    memset(use, 1, n);
    if (lsq(x, y, dx, dy, n, use, idx, m) < 0) {
        m->median_fallback = 1;
        m->a = m->b = 0;
        m->tx = ovx_median(dx, n, tmp);
        m->ty = ovx_median(dy, n, tmp);
        goto done;
    }
    for (int pass = 0; pass < passes; pass++) {
        for (size_t i = 0; i < n; i++) {
            double px, py;
            ovx_similarity_apply(m, x[i], y[i], &px, &py);
            e[i] = ovx_hypot_float(dx[i] - px, dy[i] - py);
        }
        /* keep the fraction `keep` with the smallest error (ties: lower index first) */
        size_t k = (size_t)ceil(keep * (double)n);
        if (k < 4)
            k = n < 4 ? n : 4;
        float thr = ovx_percentile(e, n, 100.0 * (double)(k - 1) / (double)(n > 1 ? n - 1 : 1), tmp);
        size_t taken = 0;
        for (size_t i = 0; i < n; i++) {
            use[i] = (unsigned char)((e[i] < thr) & (taken < k));
            taken += use[i];
        }
        for (size_t i = 0; i < n && taken < k; i++)
            if (!use[i] && e[i] == thr) {
                use[i] = 1;
                taken++;
            }
        ovx_similarity prev = *m;
        if (lsq(x, y, dx, dy, n, use, idx, m) < 0) {
            *m = prev;
            break;
        }
    }
done:
    free(e);
    free(tmp);
    free(use);
    return 0;
}
