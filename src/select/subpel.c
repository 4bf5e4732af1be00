/* subpel.c: the quarter-pel block predictor (see subpel.h). A block is
 * predicted 16 columns wide whatever its width (the extra columns are
 * dropped) in 16-bit vector lanes (GCC vector extensions), one build per
 * SIMD level (video/simd.h; all compute the same integers). The kernels
 * read the reference in place when the samples they need are inside the
 * picture, else a small copy with the edges repeated. Each output row is
 * computed on its own and goes straight to its destination: stored, or
 * compared with the current picture for the SAD (no tile in between), so a
 * caller that needs every step-th row gets only those computed. The centre
 * half sample j is the 6-tap of the unrounded horizontal intermediates of
 * its six rows (8.4.2.2.1), kept per reference row so that rows shared by
 * consecutive output rows are filtered once. */
#include "select/subpel.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "select/sad.h"
#include "video/simd.h"

#define TW 16                      /* predicted columns */
#define WIN_S 32                   /* window stride: columns -2 .. TW + 2 */
#define WIN_R (OVX_SUBPEL_MAX + 5) /* window rows: -2 .. h + 2 */
#define AI __attribute__((always_inline))

int ovx_subpel_quarter(float v)
{
#if defined(__x86_64__) && defined(__SSE2__)
    /* what glibc's lrintf is on x86-64 (cvtss2si to 64 bits), without the call */
    return (int)_mm_cvtss_si64(_mm_set_ss(v * 4.0f));
#else
    return (int)lrintf(v * 4.0f);
#endif
}

/* win[(r + 2) * WIN_S + c + 2] = ref(ix + c, iy + r) for c in -2..TW+2,
 * r in -2..h+2, edges repeated */
static void fill_window(const uint8_t *ref, int stride, int W, int H, int ix, int iy, int h, uint8_t *win)
{
    int cols = TW + 5, rows = h + 5, x0 = ix - 2, inside = x0 >= 0 && x0 + cols <= W;
    uint8_t col[TW + 5]; /* the source column of each window column, less x0 (edges repeated) */
    if (!inside)
        for (int c = 0; c < cols; c++) {
            int sx = x0 + c;
            col[c] = (uint8_t)((sx < 0 ? 0 : sx >= W ? W - 1 : sx) - (x0 < 0 ? 0 : x0 >= W ? W - 1 : x0));
        }
    for (int r = 0; r < rows; r++) {
        int sy = iy - 2 + r;
        sy = sy < 0 ? 0 : sy >= H ? H - 1 : sy;
        const uint8_t *row = ref + (size_t)sy * stride;
        uint8_t *o = win + r * WIN_S;
        if (inside) {
            memcpy(o, row + x0, TW + 5);
            continue;
        }
        const uint8_t *base = row + (x0 < 0 ? 0 : x0 >= W ? W - 1 : x0);
        for (int c = 0; c < cols; c++)
            o[c] = base[col[c]];
    }
}

/* The vector helpers below are static and always inlined: no vector value
 * crosses an ABI boundary. */
#pragma GCC diagnostic ignored "-Wpsabi"

/* 16 samples as 16-bit lanes, their 8-bit form, 8 of the 6-taps of 16-bit
 * intermediates as 32-bit lanes */
typedef uint8_t v16u8 __attribute__((vector_size(16)));
typedef int16_t v16s __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

/* Where the output rows go: stored w bytes each at out (row stride
 * ostride), or when out is NULL, summed as |cur - prediction| over w bytes
 * into sad (cur's row stride cstride, the step included). */
typedef struct sink {
    uint8_t *out;
    const uint8_t *cur;
    ptrdiff_t ostride, cstride;
    int w;
    uint32_t sad;
} sink;

/* 16 lanes of 0 .. 255 as bytes (SSE2: one packuswb of the halves, where
 * the narrowing conversion also masks every lane) */
static inline AI v16u8 pack(v16s v)
{
#if defined(__SSE2__)
    return (v16u8)_mm_packus_epi16((__m128i)__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7),
                                   (__m128i)__builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15));
#else
    return __builtin_convertvector(v, v16u8);
#endif
}

/* output row r, as bytes: stored */
static inline AI void store_row8(const sink *k, int r, v16u8 p)
{
    uint8_t *o = k->out + r * k->ostride;
    if (k->w == TW)
        memcpy(o, &p, TW);
    else if (k->w == 8)
        memcpy(o, &p, 8);
    else
        memcpy(o, &p, (size_t)k->w);
}

/* output row r, as bytes: its SAD */
static inline AI uint32_t sad_row8(const sink *k, int r, v16u8 p)
{
    const uint8_t *c = k->cur + r * k->cstride;
#if defined(__SSE2__)
    if (k->w == TW) {
        __m128i d = _mm_sad_epu8((__m128i)p, _mm_loadu_si128((const __m128i *)c));
        return (uint32_t)_mm_cvtsi128_si32(d) + (uint32_t)_mm_extract_epi16(d, 4);
    }
    if (k->w == 8)
        return (uint32_t)_mm_cvtsi128_si32(_mm_sad_epu8((__m128i)p, _mm_loadl_epi64((const __m128i *)c)));
#endif
    uint32_t sum = 0;
    for (int i = 0; i < k->w; i++)
        sum += (uint32_t)abs((int)c[i] - (int)p[i]);
    return sum;
}

/* the same for 16-bit lanes of 0 .. 255 */
static inline AI void store_row(const sink *k, int r, v16s v)
{
    store_row8(k, r, pack(v));
}

static inline AI uint32_t sad_row(const sink *k, int r, v16s v)
{
    return sad_row8(k, r, pack(v));
}

/* for each output row r (after decl): the row e (16-bit lanes; ROW8: of
 * bytes) stored or its SAD summed, one loop per mode */
#define EACH_ROW_AS(decl, e, put, add)                     \
    if (k->out) {                                            \
        for (int r = 0; r < n; r++) {                        \
            decl;                                            \
            put(k, r, e);                                    \
        }                                                    \
    } else {                                                 \
        uint32_t acc_ = 0;                                   \
        for (int r = 0; r < n; r++) {                        \
            decl;                                            \
            acc_ += add(k, r, e);                            \
        }                                                    \
        k->sad += acc_;                                      \
    }
#define EACH_ROW(decl, e) EACH_ROW_AS(decl, e, store_row, sad_row)
#define EACH_ROW8(decl, e) EACH_ROW_AS(decl, e, store_row8, sad_row8)

/* The helpers are written in forms GCC 12 compiles well at every level:
 * element-wise vector construction for the widening loads (one vpmovzxbw /
 * vpmovsxwd from memory; punpck in SSE2; __builtin_convertvector gives four
 * instructions in AVX2) and clipping with arithmetic shifts (comparisons of
 * 32-byte vectors are done element by element in the portable build). */
static inline AI v16s ld(const uint8_t *p)
{
    v16u8 b;
    memcpy(&b, p, TW);
    return (v16s){b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]};
}

/* a - 5 b + 20 c + 20 d - 5 e + f of the samples p[k d], k = -2 .. 3,
 * unrounded (-2550 .. 10710: fits 16 bits) */
static inline AI v16s tap(const uint8_t *p, ptrdiff_t d)
{
    return ld(p - 2 * d) + ld(p + 3 * d) - 5 * (ld(p - d) + ld(p + 2 * d)) + 20 * (ld(p) + ld(p + d));
}

/* clip255(v) */
static inline AI v16s clip16(v16s v)
{
    v = v & ~(v >> 15);              /* negative: 0 */
    return (v | (255 - v) >> 15) & 255; /* above 255: all ones, then 255 */
}

static inline AI v8i clip32(v8i v)
{
    v = v & ~(v >> 31);
    return (v | (255 - v) >> 31) & 255;
}

/* clip255((v + 16) >> 5): a half sample from its intermediate */
static inline AI v16s half(v16s v)
{
    return clip16((v + 16) >> 5);
}

/* rounded average */
static inline AI v16s avg(v16s a, v16s b)
{
    return (a + b + 1) >> 1;
}

/* 16-bit intermediates: row t at b1 + t * TW */
static inline AI v16s row16(const int16_t *b1)
{
    v16s v;
    memcpy(&v, b1, sizeof v);
    return v;
}

static inline AI v8i ld32(const int16_t *q)
{
    return (v8i){q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7]};
}

/* clip255((j1 + 512) >> 10) for 8 columns, j1 the 6-tap of the
 * intermediates of rows q, q + TW, .. q + 5 TW */
static inline AI v8i centre8(const int16_t *q)
{
    v8i v = ld32(q) + ld32(q + 5 * TW) - 5 * (ld32(q + TW) + ld32(q + 4 * TW)) +
            20 * (ld32(q + 2 * TW) + ld32(q + 3 * TW));
    return clip32((v + 512) >> 10);
}

static inline AI v16s centre(const int16_t *q)
{
    v8i a = centre8(q), b = centre8(q + 8);
    return __builtin_convertvector(__builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                   v16s);
}

/* for each output row r (p its integer sample G): the 16 samples e */
#define ROWS(e)                                  \
    EACH_ROW(const uint8_t *p = g + r * rs, e);  \
    break
/* the same with j the row's centre samples and q its intermediates */
#define ROWS_J(e)                                                                                         \
    EACH_ROW(const uint8_t *p = g + r * rs; const int16_t *q = b1 + r * step * TW; v16s j = centre(q);   \
             (void)p, e);                                                                                 \
    break

/* One block of H.264 luma at phase (fx, fy): 8.4.2.2.1's samples a..r as
 * the rounded averages of their two neighbours, rows 0, step, .. (n of
 * them). g points at the integer sample G of the first row, gs is the row
 * stride of the samples. One loop per phase. */
OVX_SIMD_VARIANTS(tile_h264, (const uint8_t *g, int gs, int step, int n, int fx, int fy, sink *k),
                  (g, gs, step, n, fx, fy, k), {
    const ptrdiff_t s = gs, rs = (ptrdiff_t)gs * step;
    const int c = fy * 4 + fx;
    int16_t b1[(OVX_SUBPEL_MAX + 5) * TW] __attribute__((aligned(32)));
    if (c == 6 || c == 9 || c == 10 || c == 11 || c == 14) {
        /* b1[t]: horizontal intermediates of row t - 2, for the rows the
         * output rows' j need (t mod step < 6) */
        int last = (n - 1) * step + 5;
        for (int t = 0, m = 0; t <= last; t++, m = m + 1 == step ? 0 : m + 1)
            if (m < 6) {
                v16s v = tap(g + (t - 2) * s, 1);
                memcpy(b1 + t * TW, &v, sizeof v);
            }
    }
    switch (c) {
    case 1: ROWS(avg(ld(p), half(tap(p, 1))));                /* a = (G + b) */
    case 2: ROWS(half(tap(p, 1)));                            /* b */
    case 3: ROWS(avg(ld(p + 1), half(tap(p, 1))));            /* c = (H + b) */
    case 4: ROWS(avg(ld(p), half(tap(p, s))));                /* d = (G + h) */
    case 5: ROWS(avg(half(tap(p, 1)), half(tap(p, s))));      /* e = (b + h) */
    case 6: ROWS_J(avg(half(row16(q + 2 * TW)), j));          /* f = (b + j) */
    case 7: ROWS(avg(half(tap(p, 1)), half(tap(p + 1, s))));  /* g = (b + m) */
    case 8: ROWS(half(tap(p, s)));                            /* h */
    case 9: ROWS_J(avg(half(tap(p, s)), j));                  /* i = (h + j) */
    case 10: ROWS_J(j);                                       /* j */
    case 11: ROWS_J(avg(j, half(tap(p + 1, s))));             /* k = (j + m) */
    case 12: ROWS(avg(ld(p + s), half(tap(p, s))));           /* n = (M + h) */
    case 13: ROWS(avg(half(tap(p, s)), half(tap(p + s, 1)))); /* p = (h + s) */
    case 14: ROWS_J(avg(j, half(row16(q + 3 * TW))));         /* q = (j + s) */
    case 15: ROWS(avg(half(tap(p + 1, s)), half(tap(p + s, 1)))); /* r = (m + s) */
    default: ROWS(ld(p));                                     /* G */
    }
})

/* 16 bytes at p */
static inline AI v16u8 ld8(const uint8_t *p)
{
    v16u8 b;
    memcpy(&b, p, TW);
    return b;
}

/* (a + b + 1) >> 1 of bytes (pavgb) */
static inline AI v16u8 avg8(v16u8 a, v16u8 b)
{
#if defined(__SSE2__)
    return (v16u8)_mm_avg_epu8((__m128i)a, (__m128i)b);
#else
    return (a >> 1) + (b >> 1) + ((a | b) & 1);
#endif
}

/* The same with bilinear samples at phase (fx, fy) (sums < 2^12: 16 bits).
 * A phase with a zero weight leaves its samples out (the same sums); the
 * half phases on one axis, (8 u + 8 v + 8) >> 4, are (u + v + 1) >> 1. */
OVX_SIMD_VARIANTS(tile_bilinear, (const uint8_t *g, int gs, int step, int n, int fx, int fy, sink *k),
                  (g, gs, step, n, fx, fy, k), {
    const int16_t a = (int16_t)((4 - fx) * (4 - fy)), b = (int16_t)(fx * (4 - fy)), c = (int16_t)((4 - fx) * fy),
                  d = (int16_t)(fx * fy);
    const ptrdiff_t rs = (ptrdiff_t)gs * step;
    if (fy == 0) {
        if (fx == 2) {
            EACH_ROW8(const uint8_t *p = g + r * rs, avg8(ld8(p), ld8(p + 1)));
        } else {
            EACH_ROW(const uint8_t *p = g + r * rs, (a * ld(p) + b * ld(p + 1) + 8) >> 4);
        }
    } else if (fx == 0) {
        if (fy == 2) {
            EACH_ROW8(const uint8_t *p = g + r * rs, avg8(ld8(p), ld8(p + gs)));
        } else {
            EACH_ROW(const uint8_t *p = g + r * rs, (a * ld(p) + c * ld(p + gs) + 8) >> 4);
        }
    } else {
        EACH_ROW(const uint8_t *p = g + r * rs,
                 (a * ld(p) + b * ld(p + 1) + c * ld(p + gs) + d * ld(p + gs + 1) + 8) >> 4);
    }
})

/* Predicts the block's rows 0, step, 2 step, ... (n of them; the block is
 * h rows high) from r into k. */
static inline AI void predict(const ovx_subpel_ref *rf, int x, int y, int h, int n, int qx, int qy, int step,
                              sink *k)
{
    /* the integer part (floor: GCC and clang shift negative values
     * arithmetically) and the quarter phase 0..3 */
    int ix = x + (qx >> 2), iy = y + (qy >> 2), fx = qx & 3, fy = qy & 3, W = rf->W, H = rf->H;
    const ptrdiff_t stride = rf->stride;
    if (fx == 0 && fy == 0 && ix >= 0 && iy >= 0 && ix + k->w <= W && iy + h <= H) {
        /* whole pixels inside the picture: the reference itself */
        const uint8_t *s = rf->ref + (size_t)iy * stride + ix;
        ptrdiff_t rs = stride * step;
        if (!k->out) {
            k->sad = ovx_sad_rows(k->cur, k->cstride, s, rs, n, k->w);
            return;
        }
        for (int r = 0; r < n; r++, s += rs)
            memcpy(k->out + r * k->ostride, s, (size_t)k->w);
        return;
    }
    uint8_t win[WIN_R * WIN_S];
    const uint8_t *g;
    int gs;
    if (ix - 2 >= 0 && ix + TW + 3 <= W && iy - 2 >= 0 && iy + h + 3 <= H) {
        g = rf->ref + (size_t)iy * stride + ix;
        gs = (int)stride;
    } else {
        fill_window(rf->ref, (int)stride, W, H, ix, iy, h, win);
        g = win + 2 * WIN_S + 2;
        gs = WIN_S;
    }
    if (rf->interp == OVX_INTERP_H264)
        tile_h264(g, gs, step, n, fx, fy, k);
    else
        tile_bilinear(g, gs, step, n, fx, fy, k);
}

uint32_t ovx_subpel_block_sad(const ovx_subpel_ref *r, const ovx_subpel_block *b, int qx, int qy)
{
    sink k = {.cur = b->cur, .cstride = b->cstep, .w = b->w};
    predict(r, b->x, b->y, b->h, b->n, qx, qy, b->step, &k);
    return k.sad;
}

void ovx_subpel_predict(const uint8_t *ref, int stride, int W, int H, int x, int y, int w, int h,
                        int qx, int qy, ovx_interp interp, uint8_t *out, int ostride)
{
    ovx_subpel_predict_rows(ref, stride, W, H, x, y, w, h, qx, qy, interp, 1, out, ostride);
}

void ovx_subpel_predict_rows(const uint8_t *ref, int stride, int W, int H, int x, int y, int w, int h,
                             int qx, int qy, ovx_interp interp, int step, uint8_t *out, int ostride)
{
    ovx_subpel_ref r = ovx_subpel_ref_make(ref, stride, W, H, interp);
    sink k = {.out = out, .ostride = ostride, .w = w};
    predict(&r, x, y, h, (h + step - 1) / step, qx, qy, step, &k);
}

uint32_t ovx_subpel_sad(const uint8_t *ref, int stride, int W, int H, int x, int y, int w, int h, int qx, int qy,
                        ovx_interp interp, const uint8_t *cur, int cstride, int step)
{
    ovx_subpel_ref r = ovx_subpel_ref_make(ref, stride, W, H, interp);
    ovx_subpel_block b = ovx_subpel_block_make(x, y, w, h, cur, cstride, step);
    return ovx_subpel_block_sad(&r, &b, qx, qy);
}
