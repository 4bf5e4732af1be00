/* stats.c: percentiles by radix selection on the floats' ordered bit
 * patterns (counting passes of 11, 11 and 10 bits, or four of 8 bits for
 * fewer than 4096 values, over a shrinking scratch copy of the keys): the
 * same order statistics a sort gives, in time linear in n whatever the
 * values (many equal cells, zeros), and the same result for any input
 * order (a copy sorted by insertion for 32 values or fewer). -0 counts as
 * 0. */
#include "select/stats.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* the float's bits as an unsigned key in the floats' order (-0 as +0):
 * negatives inverted, the rest with the sign bit set (no branch: the
 * loops over keys vectorise) */
static inline uint32_t key_of(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    b = b << 1 ? b : 0;
    return b ^ ((uint32_t)((int32_t)b >> 31) | 0x80000000u);
}

static inline float float_of(uint32_t k)
{
    uint32_t b = k & 0x80000000u ? k & 0x7fffffffu : ~k;
    float f;
    memcpy(&f, &b, 4);
    return f;
}

/* The key of the k-th smallest (0-based) of x[n] (k < n); tmp[n] scratch.
 * Digits of 11, 11 and 10 bits, or of 8 bits for fewer values (less to
 * clear and scan per pass). */
static uint32_t kth_key(const float *x, size_t n, size_t k, float *tmp)
{
    static const int shift_l[3] = {21, 10, 0}, bits_l[3] = {11, 11, 10};
    static const int shift_s[4] = {24, 16, 8, 0}, bits_s[4] = {8, 8, 8, 8};
    int small = n < 4096, passes = small ? 4 : 3;
    const int *shift = small ? shift_s : shift_l, *bits = small ? bits_s : bits_l;
    uint32_t *c = (uint32_t *)(void *)tmp; /* keys of the candidates still in play */
    for (size_t i = 0; i < n; i++)
        c[i] = key_of(x[i]);
    uint32_t prefix = 0, pmask = 0;
    size_t m = n;
    for (int pass = 0; pass < passes; pass++) {
        /* two histograms, even and odd candidates (a run of equal digits
         * does not wait on one counter), then added */
        uint32_t hist[2048], hist2[2048], dmask = (1u << bits[pass]) - 1;
        memset(hist, 0, (dmask + 1) * sizeof *hist);
        memset(hist2, 0, (dmask + 1) * sizeof *hist2);
        int s = shift[pass];
        size_t i = 0;
        for (; i + 1 < m; i += 2) {
            hist[(c[i] >> s) & dmask]++;
            hist2[(c[i + 1] >> s) & dmask]++;
        }
        if (i < m)
            hist[(c[i] >> s) & dmask]++;
        for (uint32_t b = 0; b <= dmask; b++)
            hist[b] += hist2[b];
        uint32_t d = 0;
        while (k >= hist[d])
            k -= hist[d++];
        prefix |= d << s;
        pmask |= dmask << s;
        if (pass == passes - 1)
            break;
        /* keep the candidates in digit d */
        size_t w = 0;
        for (i = 0; i < m; i++) { /* in place, no branch (w <= i) */
            c[w] = c[i];
            w += (c[i] & pmask) == prefix;
        }
        m = w;
    }
    return prefix;
}

float ovx_percentile(const float *x, size_t n, double q, float *tmp)
{
    if (n == 0)
        return 0.0f;
    if (q < 0)
        q = 0;
    if (q > 100)
        q = 100;
    double pos = q / 100.0 * (double)(n - 1);
    size_t lo = (size_t)floor(pos);
    double frac = pos - (double)lo;
    if (n <= 32) {
        /* few values: sorted (insertion) in a copy, -0 as 0 */
        for (size_t i = 0; i < n; i++) {
            float v = x[i] == 0.0f ? 0.0f : x[i];
            size_t j = i;
            for (; j > 0 && tmp[j - 1] > v; j--)
                tmp[j] = tmp[j - 1];
            tmp[j] = v;
        }
        if (lo >= n - 1)
            return tmp[n - 1];
        return (float)(tmp[lo] + frac * ((double)tmp[lo + 1] - tmp[lo]));
    }
    if (lo >= n - 1)
        return float_of(kth_key(x, n, n - 1, tmp));
    uint32_t ka = kth_key(x, n, lo, tmp);
    /* the next order statistic: a again when more than lo + 1 values are
     * <= a, else the smallest value above a */
    size_t le = 0;
    uint32_t kb = UINT32_MAX;
    for (size_t i = 0; i < n; i++) { /* no branch: a count and a minimum */
        uint32_t kk = key_of(x[i]), above = kk > ka ? kk : UINT32_MAX;
        le += kk <= ka;
        kb = above < kb ? above : kb;
    }
    float a = float_of(ka), b = le > lo + 1 ? a : float_of(kb);
    return (float)(a + frac * ((double)b - a));
}

float ovx_median(const float *x, size_t n, float *tmp) { return ovx_percentile(x, n, 50.0, tmp); }
