/* estimate.c: motion estimation by block matching on (downscaled) luma, for
 * decoders that export no motion vectors (HEVC, VP9, AV1, ...). The SADs
 * stop as soon as a candidate provably loses and a block evaluates each
 * candidate once: the vectors of a full evaluation of every candidate. */
#include "video/mv.h"
#include "video/simd.h"

#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

int ovx_mv_estimate_scale(int W)
{
    return W > 1280 ? 4 : W > 640 ? 2 : 1;
}

/* d[x] = the rounded mean of the 2 x 2 box at 2x of the rows p and q */
OVX_SIMD_VARIANTS(down2_row, (const uint8_t *restrict p, const uint8_t *restrict q, int w, uint8_t *restrict d),
                  (p, q, w, d), {
    for (int x = 0; x < w; x++)
        d[x] = (uint8_t)((p[2 * x] + p[2 * x + 1] + q[2 * x] + q[2 * x + 1] + 2) >> 2);
})

/* d[x] = the rounded mean of the 4 x 4 box at 4x of the rows from p */
OVX_SIMD_VARIANTS(down4_row, (const uint8_t *restrict p, ptrdiff_t stride, int w, uint8_t *restrict d),
                  (p, stride, w, d), {
    for (int x = 0; x < w; x++) {
        unsigned s = 0;
        for (int j = 0; j < 4; j++)
            for (int i = 0; i < 4; i++)
                s += p[j * stride + 4 * x + i];
        d[x] = (uint8_t)((s + 8) >> 4);
    }
})

/* Box-downscales a W x H plane by f (1, 2 or 4) into d, packed W/f x H/f. */
static void downscale(const uint8_t *src, int stride, int W, int H, int f, uint8_t *d)
{
    int w = W / f, h = H / f;
    for (int y = 0; y < h; y++) {
        const uint8_t *p = src + (size_t)(f * y) * stride;
        uint8_t *o = d + (size_t)y * w;
        if (f == 1)
            memcpy(o, p, (size_t)w);
        else if (f == 2)
            down2_row(p, p + stride, w, o);
        else
            down4_row(p, stride, w, o);
    }
}

#if defined(__SSE2__)
/* the n (4, 8 or 16) bytes at a in a vector */
static inline __attribute__((always_inline)) __m128i load_row(const uint8_t *a, int n)
{
    if (n == 16)
        return _mm_loadu_si128((const __m128i *)a);
    if (n == 8)
        return _mm_loadl_epi64((const __m128i *)a);
    int32_t u;
    memcpy(&u, a, 4);
    return _mm_cvtsi32_si128(u);
}

/* the sum of the two 64-bit halves' low 32 bits */
static inline __attribute__((always_inline)) unsigned hsum(__m128i v)
{
    return (unsigned)_mm_cvtsi128_si32(_mm_add_epi32(v, _mm_unpackhi_epi64(v, v)));
}

/* the SAD of the 16 bytes at a and b, in the two halves of a vector */
static inline __attribute__((always_inline)) __m128i sad16(const uint8_t *a, const uint8_t *b)
{
    return _mm_sad_epu8(_mm_loadu_si128((const __m128i *)a), _mm_loadu_si128((const __m128i *)b));
}
#endif

/* The SAD of n bytes of the 4 rows from a and b, d apart: whole multiples
 * of 32 bytes in a loop with four sums, which the compiler turns into its
 * SAD instruction at any vector width (its 64-byte loop ends in a 32-byte
 * step); then, on x86, 16 bytes at a time by SSE2 (no scalar tail of up to
 * 31 bytes); then single bytes. */
static inline __attribute__((always_inline)) unsigned sad4(const uint8_t *restrict a, const uint8_t *restrict b,
                                                           ptrdiff_t d, int n)
{
    const uint8_t *a1 = a + d, *a2 = a + 2 * d, *a3 = a + 3 * d;
    const uint8_t *b1 = b + d, *b2 = b + 2 * d, *b3 = b + 3 * d;
    unsigned r0 = 0, r1 = 0, r2 = 0, r3 = 0;
    int n32 = n & ~31, i = 0;
#pragma GCC unroll 1
    for (; i < n32; i++) {
        r0 += (unsigned)abs(a[i] - b[i]);
        r1 += (unsigned)abs(a1[i] - b1[i]);
        r2 += (unsigned)abs(a2[i] - b2[i]);
        r3 += (unsigned)abs(a3[i] - b3[i]);
    }
#if defined(__SSE2__)
    __m128i t = _mm_setzero_si128();
    for (; i + 16 <= n; i += 16) {
        t = _mm_add_epi32(t, _mm_add_epi32(sad16(a + i, b + i), sad16(a1 + i, b1 + i)));
        t = _mm_add_epi32(t, _mm_add_epi32(sad16(a2 + i, b2 + i), sad16(a3 + i, b3 + i)));
    }
    r0 += hsum(t);
#endif
    for (; i < n; i++)
        r0 += (unsigned)(abs(a[i] - b[i]) + abs(a1[i] - b1[i]) + abs(a2[i] - b2[i]) + abs(a3[i] - b3[i]));
    return r0 + r1 + r2 + r3;
}

/* The SAD of n bytes of the rows a and b, in the same steps. */
static inline __attribute__((always_inline)) unsigned sad1(const uint8_t *restrict a, const uint8_t *restrict b,
                                                           int n)
{
    unsigned r = 0;
    int n32 = n & ~31, i = 0;
#pragma GCC unroll 1
    for (; i < n32; i++)
        r += (unsigned)abs(a[i] - b[i]);
#if defined(__SSE2__)
    __m128i t = _mm_setzero_si128();
    for (; i + 16 <= n; i += 16)
        t = _mm_add_epi32(t, sad16(a + i, b + i));
    r += hsum(t);
#endif
    for (; i < n; i++)
        r += (unsigned)abs(a[i] - b[i]);
    return r;
}

/* *out = the SAD of the interior of cur (margin m) against ref shifted by
 * (dx, dy), |dx|, |dy| <= m, on w x h packed planes; or, once the running
 * sum exceeds lim, that partial sum (> lim). Rows are taken 8 apart, then
 * the ones between, so the partial sum soon covers the whole picture. */
OVX_SIMD_VARIANTS(shift_sad, (const uint8_t *restrict cur, const uint8_t *restrict ref, int w, int h, int m, int dx,
                              int dy, unsigned long long lim, unsigned long long *restrict out),
                  (cur, ref, w, h, m, dx, dy, lim, out), {
    unsigned long long s = 0;
    int n = w - 2 * m; /* 4 rows' SAD < 2^32: n < 2^22 */
    ptrdiff_t d = (ptrdiff_t)8 * w;
    for (int y0 = m; y0 < m + 8; y0++) {
        int y = y0;
        for (; y + 24 < h - m; y += 32) {
            s += sad4(cur + (size_t)y * w + m, ref + (size_t)(y + dy) * w + m + dx, d, n);
            if (s > lim)
                break;
        }
        for (; y < h - m && s <= lim; y += 8)
            s += sad1(cur + (size_t)y * w + m, ref + (size_t)(y + dy) * w + m + dx, n);
        if (s > lim)
            break;
    }
    *out = s;
})

/* Lower bounds of shift_sad for the shifts dx0..dx1, dy0..dy1: the SAD of
 * the interior (nx x ny from m, m) is at least the sum over its rows of
 * the absolute difference of the row sums, and so for columns. rc, cc:
 * cur's interior row and column sums; rs[(dx - dx0) * h + y]: ref's row y
 * summed over the interior's columns shifted by dx; cs[(dy - dy0) * w + x]:
 * ref's column x over the interior's rows shifted by dy. */
typedef struct bounds {
    int dx0, dy0, nx, ny;
    int32_t *rc, *cc, *rs, *cs;
} bounds;

/* Fills b's tables (t: (2 m + 2) * (w + h) entries at the most) from the
 * w x h planes for shifts dx0..dx1, dy0..dy1 (sums < 2^31: w, h < 2^23),
 * one build per SIMD level. */
OVX_SIMD_VARIANTS(bounds_tables, (const uint8_t *restrict cur, const uint8_t *restrict ref, int w, int h, int m,
                                  int dx0, int dx1, int dy0, int dy1, int32_t *restrict t, bounds *restrict b),
                  (cur, ref, w, h, m, dx0, dx1, dy0, dy1, t, b), {
    int nx = w - 2 * m, ny = h - 2 * m, kx = dx1 - dx0, ky = dy1 - dy0;
    int32_t *rc = t, *cc = t + ny, *rs = cc + nx, *cs = rs + (size_t)(kx + 1) * h;
    *b = (bounds){dx0, dy0, nx, ny, rc, cc, rs, cs};
    memset(cc, 0, sizeof *cc * (size_t)nx);
    for (int y = 0; y < ny; y++) {
        const uint8_t *p = cur + (size_t)(m + y) * w + m;
        int32_t s = 0;
        for (int x = 0; x < nx; x++)
            s += p[x];
        rc[y] = s;
        for (int x = 0; x < nx; x++)
            cc[x] += p[x];
    }
    /* ref's rows m + dy0 .. m + dy1 + ny - 1, a window sliding by dx */
    for (int y = m + dy0; y < m + dy1 + ny; y++) {
        const uint8_t *p = ref + (size_t)y * w + m + dx0;
        int32_t s = 0;
        for (int x = 0; x < nx; x++)
            s += p[x];
        rs[y] = s;
        for (int k = 1; k <= kx; k++) {
            s += p[nx + k - 1] - p[k - 1];
            rs[(size_t)k * h + y] = s;
        }
    }
    /* ref's columns m + dx0 .. m + dx1 + nx - 1, a window sliding by dy */
    int x0 = m + dx0, x1 = m + dx1 + nx;
    memset(cs + x0, 0, sizeof *cs * (size_t)(x1 - x0));
    for (int y = m + dy0; y < m + dy0 + ny; y++) {
        const uint8_t *p = ref + (size_t)y * w;
        for (int x = x0; x < x1; x++)
            cs[x] += p[x];
    }
    for (int k = 1; k <= ky; k++) {
        const uint8_t *in = ref + (size_t)(m + dy0 + k - 1 + ny) * w, *out = ref + (size_t)(m + dy0 + k - 1) * w;
        int32_t *prev = cs + (size_t)(k - 1) * w, *next = cs + (size_t)k * w;
        for (int x = x0; x < x1; x++)
            next[x] = prev[x] + in[x] - out[x];
    }
})

/* *out = sum of |a[i] - b[i]| over n entries, one build per SIMD level */
OVX_SIMD_VARIANTS(sum_absdiff, (const int32_t *restrict a, const int32_t *restrict b, int n,
                                unsigned long long *restrict out),
                  (a, b, n, out), {
    unsigned long long s = 0;
    for (int i = 0; i < n; i++)
        s += (uint32_t)abs(a[i] - b[i]);
    *out = s;
})

/* 1 if b's row or column bound shows the SAD at (dx, dy) exceeds lim */
static int bound_exceeds(const bounds *b, int w, int h, int m, int dx, int dy, unsigned long long lim)
{
    unsigned long long s;
    sum_absdiff(b->rc, b->rs + (size_t)(dx - b->dx0) * h + m + dy, b->ny, &s);
    if (s > lim)
        return 1;
    sum_absdiff(b->cc, b->cs + (size_t)(dy - b->dy0) * w + m + dx, b->nx, &s);
    return s > lim;
}

int ovx_mv_shift_bounds(const uint8_t *cur, const uint8_t *ref, int w, int h, int m, unsigned long long *row,
                        unsigned long long *col)
{
    if (m < 0 || w <= 2 * m || h <= 2 * m)
        return -1;
    int32_t *t = malloc(sizeof *t * (size_t)(2 * m + 2) * ((size_t)w + h));
    if (!t)
        return -1;
    bounds b;
    bounds_tables(cur, ref, w, h, m, -m, m, -m, m, t, &b);
    for (int dy = -m, k = 0; dy <= m; dy++)
        for (int dx = -m; dx <= m; dx++, k++) {
            sum_absdiff(b.rc, b.rs + (size_t)(dx + m) * h + m + dy, b.ny, &row[k]);
            sum_absdiff(b.cc, b.cs + (size_t)(dy + m) * w + m + dx, b.nx, &col[k]);
        }
    free(t);
    return 0;
}

/* The best whole-picture shift within +-range (inclusive, full search) of
 * (cx, cy): the first strict minimum in raster order of (dy, dx), i.e. the
 * least (SAD, raster index). Searched from the centre outwards, ring by
 * ring, so a good bound comes first and the others stop early, or are
 * passed over when the rows' and columns' sums show they lose (t: room for
 * the bounds' tables). Returns the best's SAD (ULLONG_MAX if no shift is
 * within +-m). */
static unsigned long long best_shift(const uint8_t *cur, const uint8_t *ref, int w, int h, int m, int cx, int cy,
                                     int range, int32_t *t, int *bx, int *by)
{
    unsigned long long best = ULLONG_MAX;
    int best_i = INT_MAX, side = 2 * range + 1;
    *bx = cx;
    *by = cy;
    int dx0 = cx - range > -m ? cx - range : -m, dx1 = cx + range < m ? cx + range : m;
    int dy0 = cy - range > -m ? cy - range : -m, dy1 = cy + range < m ? cy + range : m;
    if (dx0 > dx1 || dy0 > dy1)
        return best;
    bounds b;
    if (t)
        bounds_tables(cur, ref, w, h, m, dx0, dx1, dy0, dy1, t, &b);
    for (int ring = 0; ring <= range; ring++)
        for (int j = -ring; j <= ring; j++)
            for (int i = -ring; i <= ring; i += j == -ring || j == ring ? 1 : 2 * ring) {
                int dx = cx + i, dy = cy + j, idx = (j + range) * side + i + range;
                if (dx < -m || dx > m || dy < -m || dy > m)
                    continue;
                /* it wins with a SAD below best, or equal to it when first in raster order */
                unsigned long long lim = best;
                if (best != ULLONG_MAX && idx > best_i) {
                    if (best == 0)
                        continue;
                    lim = best - 1;
                }
                if (t && best != ULLONG_MAX && bound_exceeds(&b, w, h, m, dx, dy, lim))
                    continue;
                unsigned long long s;
                shift_sad(cur, ref, w, h, m, dx, dy, lim, &s);
                if (s <= lim) {
                    best = s;
                    best_i = idx;
                    *bx = dx;
                    *by = dy;
                }
            }
    return best;
}

/* The picture's dominant displacement (the camera's, for most footage) on
 * the w x h planes, searched +-range: a full search on a copy at most 160
 * pixels wide (made in tmp, 2 * w * h / 4 bytes), refined at full scale;
 * mad: the mean absolute difference per pixel there. Block matching starts
 * from it, so a shaking or panning camera's motion is found where the local
 * descent from zero would stop in a texture's nearest dip. */
static void global_shift(const uint8_t *c, const uint8_t *r, int w, int h, int range, uint8_t *tmp, int32_t *t,
                         int *gx, int *gy, double *mad)
{
    *gx = *gy = 0;
    *mad = 0;
    int g = w > 320 ? 4 : w > 160 ? 2 : 1;
    int m = range;
    if (m > w / 4) m = w / 4;
    if (m > h / 4) m = h / 4;
    if (m < 1 || w / g < 8 || h / g < 8)
        return;
    int w2 = w / g, h2 = h / g, m2 = (m + g - 1) / g, sx, sy;
    const uint8_t *c2 = c, *r2 = r;
    if (g > 1) {
        downscale(c, w, w, h, g, tmp);
        downscale(r, w, w, h, g, tmp + (size_t)w2 * h2);
        c2 = tmp;
        r2 = tmp + (size_t)w2 * h2;
    }
    best_shift(c2, r2, w2, h2, m2, 0, 0, m2, t, &sx, &sy);
    unsigned long long s = best_shift(c, r, w, h, m, sx * g, sy * g, g, NULL, gx, gy);
    if (s == ULLONG_MAX)
        shift_sad(c, r, w, h, m, *gx, *gy, ULLONG_MAX, &s);
    *mad = (double)s / ((double)(w - 2 * m) * (h - 2 * m));
}

/* The motion cost of a candidate dx, dy away from the picture's shift, in
 * SAD units: lam per downscaled pixel of distance (L1). As an encoder's rate
 * term, it keeps the camera's motion where another vector matches only
 * slightly better: in noise, in flat areas and across a change of picture
 * quality (an I-frame after B-frames), the best of many candidates is a
 * chance fit, not motion. lam = lk * bw * bh * f on a plane downscaled by f
 * for lk grey levels per pixel of the block per pixel of distance. */
static unsigned cost(unsigned lam, int dx, int dy)
{
    return lam * (unsigned)(abs(dx) + abs(dy));
}

/* The SAD of the n x bh blocks at a and b (rows w apart, n <= 16), or once
 * the running sum reaches lim, that partial sum (>= lim), looked at every
 * second row: on x86, one SSE2 SAD instruction a row, summed in a vector. */
static inline __attribute__((always_inline)) unsigned rows_sad(const uint8_t *restrict a,
                                                               const uint8_t *restrict b, int w, int n, int bh,
                                                               unsigned lim)
{
#if defined(__SSE2__)
    if (n == 16 || n == 8 || n == 4) {
        __m128i acc = _mm_setzero_si128();
        int j = 0;
        for (; j + 2 <= bh; j += 2, a += 2 * (ptrdiff_t)w, b += 2 * (ptrdiff_t)w) {
            acc = _mm_add_epi32(acc, _mm_sad_epu8(load_row(a, n), load_row(b, n)));
            acc = _mm_add_epi32(acc, _mm_sad_epu8(load_row(a + w, n), load_row(b + w, n)));
            if (hsum(acc) >= lim)
                return hsum(acc);
        }
        if (j < bh)
            acc = _mm_add_epi32(acc, _mm_sad_epu8(load_row(a, n), load_row(b, n)));
        return hsum(acc);
    }
#endif
    unsigned s = 0;
    for (int j = 0; j < bh; j++, a += w, b += w) {
        s += sad1(a, b, n);
        if (s >= lim)
            break;
    }
    return s;
}

/* rows_sad for any block width, the usual ones (16, 8, 4) as constants */
static inline __attribute__((always_inline)) unsigned block_sad(const uint8_t *restrict a,
                                                                const uint8_t *restrict b, int w, int bw,
                                                                int bh, unsigned lim)
{
    return bw == 16 ? rows_sad(a, b, w, 16, bh, lim)
         : bw == 8  ? rows_sad(a, b, w, 8, bh, lim)
         : bw == 4  ? rows_sad(a, b, w, 4, bh, lim)
                    : rows_sad(a, b, w, bw, bh, lim);
}

/* One picture's block matching: c, r w x h packed (downscaled by f from
 * W x H), blocks of b, +-range around the picture's shift gx, gy with the
 * motion cost lk; vx, vy: the chosen vectors, one per block; seen: a
 * (2 range + 1)^2 grid of the block (index + 1) that last evaluated each
 * candidate, zeroed, or NULL. */
typedef struct match {
    const uint8_t *c, *r;
    int w, h, f, b, range, gx, gy, W, H;
    double lk;
    int *vx, *vy, *seen;
    ovx_mv_list *l;
} match;

/* One block's state: its planes at (x, y), size, motion cost, bounds. */
typedef struct block {
    const uint8_t *a, *ref;
    int w, bw, bh, gx, gy, range, id;
    unsigned lam;
    int *seen;
} block;

/* Candidate (cx, cy) of k: kept if its SAD plus motion cost is strictly
 * below *best; not evaluated if its cost alone is not, or if k evaluated it
 * before (it was not below best then, nor is it now). Returns 1 if kept. */
static inline __attribute__((always_inline)) int consider(const block *k, int cx, int cy, unsigned *best, int *bx,
                                                          int *by)
{
    unsigned cst = cost(k->lam, cx - k->gx, cy - k->gy), lim = UINT_MAX;
    /* SAD <= 16 * 16 * 255: without wrap-around, SAD + cst < best iff SAD < best - cst */
    if (cst <= UINT_MAX - 65536u) {
        if (cst >= *best)
            return 0;
        lim = *best - cst;
    }
    if (k->seen) {
        int *s = &k->seen[(cy + k->range) * (2 * k->range + 1) + cx + k->range];
        if (*s == k->id)
            return 0;
        *s = k->id;
    }
    unsigned s = block_sad(k->a, k->ref + (ptrdiff_t)cy * k->w + cx, k->w, k->bw, k->bh, lim) + cst;
    if (s < *best) {
        *best = s;
        *bx = cx;
        *by = cy;
        return 1;
    }
    return 0;
}

static inline __attribute__((always_inline)) void match_body(const match *m)
{
    int w = m->w, h = m->h, b = m->b, range = m->range, gx = m->gx, gy = m->gy;
    int bx = (w + b - 1) / b, by = (h + b - 1) / b;
    ovx_mv_list *l = m->l;
    /* blocks in raster order, each from the best of: the picture's shift,
     * zero, its left and top neighbours' vectors; then a descent in steps
     * of 4 (or 2), 2 and 1 downscaled pixels, each candidate's SAD plus its
     * motion cost */
    for (int j = 0; j < by; j++)
        for (int i = 0; i < bx; i++) {
            int x = i * b, y = j * b;
            int bw = x + b <= w ? b : w - x, bh = y + b <= h ? b : h - y;
            block k = {m->c + (size_t)y * w + x, m->r + (size_t)y * w + x, w, bw, bh, gx, gy, range,
                       j * bx + i + 1, (unsigned)(m->lk * bw * bh * m->f + 0.5), m->seen};
            /* allowed displacement keeps the block inside the picture */
            int lox = -x > -range ? -x : -range, hix = w - bw - x < range ? w - bw - x : range;
            int loy = -y > -range ? -y : -range, hiy = h - bh - y < range ? h - bh - y : range;
            /* the picture's shift first: where the block is flat, every
             * candidate matches alike and the camera's motion is kept */
            int cand[4][2] = {{gx, gy}, {0, 0}, {0, 0}, {0, 0}};
            int nc = gx || gy ? 2 : 1;
            if (i > 0) {
                cand[nc][0] = m->vx[j * bx + i - 1];
                cand[nc++][1] = m->vy[j * bx + i - 1];
            }
            if (j > 0) {
                cand[nc][0] = m->vx[(j - 1) * bx + i];
                cand[nc++][1] = m->vy[(j - 1) * bx + i];
            }
            int best_x = 0, best_y = 0;
            unsigned best = UINT_MAX;
            for (int c = 0; c < nc; c++) {
                int cx = cand[c][0], cy = cand[c][1];
                if (cx < lox || cx > hix || cy < loy || cy > hiy)
                    continue;
                consider(&k, cx, cy, &best, &best_x, &best_y);
            }
            for (int step = range >= 8 ? 4 : 2; step >= 1; step /= 2) {
                /* the 8 neighbours at this step, in raster order */
                int nx[8] = {-step, 0, step, -step, step, -step, 0, step};
                int ny[8] = {-step, -step, -step, 0, 0, step, step, step};
                for (int it = 0; it < 16; it++) {
                    int moved = 0, ox = best_x, oy = best_y;
                    /* all 8 inside: no bounds to test */
                    if (ox - step >= lox && ox + step <= hix && oy - step >= loy && oy + step <= hiy)
                        for (int q = 0; q < 8; q++)
                            moved |= consider(&k, ox + nx[q], oy + ny[q], &best, &best_x, &best_y);
                    else
                        for (int q = 0; q < 8; q++) {
                            int cx = ox + nx[q], cy = oy + ny[q];
                            if (cx >= lox && cx <= hix && cy >= loy && cy <= hiy)
                                moved |= consider(&k, cx, cy, &best, &best_x, &best_y);
                        }
                    if (!moved)
                        break;
                }
            }
            m->vx[j * bx + i] = best_x;
            m->vy[j * bx + i] = best_y;
            ovx_mv *o = &l->v[l->n++];
            int f = m->f;
            o->x = x * f;
            o->y = y * f;
            o->w = bw * f;
            o->h = bh * f;
            if (o->x + o->w > m->W) o->w = m->W - o->x;
            if (o->y + o->h > m->H) o->h = m->H - o->y;
            o->dx = (float)(best_x * f);
            o->dy = (float)(best_y * f);
            o->source = -1;
        }
}

/* the block matching, one build per SIMD level (the SADs vectorised) */
OVX_SIMD_VARIANTS(match_blocks, (const match *restrict m), (m), { match_body(m); })

int ovx_mv_estimate(const uint8_t *cur, int cur_stride, const uint8_t *ref, int ref_stride, int W,
                    int H, int search, ovx_mv_list *l, ovx_error *err)
{
    /* downscale so the matched picture is at most 640 wide (f = 1, 2, 4);
     * blocks cover 16 full pixels, at least 4 downscaled ones */
    int f = ovx_mv_estimate_scale(W);
    int w = W / f, h = H / f;
    int b = 16 / f, range = search / f;
    if (range < 1)
        range = 1;
    int bx = (w + b - 1) / b, by = (h + b - 1) / b;
    int64_t n = (int64_t)bx * by;
    /* the grid of evaluated candidates, if at most 2^20 entries (always
     * for the allowed search <= 256) */
    int64_t side = 2 * (int64_t)range + 1, ns = side * side <= (1 << 20) ? side * side : 0;
    size_t np = (size_t)w * h;
    /* c, r and the picture-shift search's two copies (at most a quarter
     * each); its bounds' tables for a margin of at most range, w / 4, h / 4 */
    int mm = range < w / 4 ? range : w / 4;
    mm = mm < h / 4 ? mm : h / 4;
    size_t nt = mm > 0 ? (size_t)(2 * mm + 2) * ((size_t)w + h) : 0;
    uint8_t *planes = malloc(np * 2 + np / 2 + 1);
    int32_t *tables = malloc(nt * sizeof *tables + 1);
    int *ints = calloc((size_t)(2 * n + ns + 1), sizeof *ints);
    ovx_mv *out = realloc(l->v, (size_t)(n > 0 ? n : 1) * sizeof *out);
    if (!planes || !tables || !ints || !out) {
        free(planes);
        free(tables);
        free(ints);
        if (out)
            l->v = out;
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (motion estimation)");
    }
    l->v = out;
    l->cap = n > 0 ? n : 1;
    l->n = 0;
    uint8_t *c = planes, *r = planes + np;
    downscale(cur, cur_stride, W, H, f, c);
    downscale(ref, ref_stride, W, H, f, r);
    int gx, gy;
    double mad;
    global_shift(c, r, w, h, range, planes + 2 * np, tables, &gx, &gy, &mad);
    /* the motion cost per block pixel per pixel of distance: a tenth of a
     * grey level, or a tenth of the picture's mean difference at its shift
     * (noise, a change of picture quality) when that is larger */
    double lk = mad > 1.0 ? 0.1 * mad : 0.1;
    match m = {c, r, w, h, f, b, range, gx, gy, W, H, lk, ints, ints + n, ns ? ints + 2 * n : NULL, l};
    match_blocks(&m);
    free(planes);
    free(tables);
    free(ints);
    return OVX_OK;
}
