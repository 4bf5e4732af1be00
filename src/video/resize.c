/* resize.c: PIL-compatible separable bicubic resampling of RGB8 (see
 * resize.h), computing only the output window that is needed. */
#include "video/resize.h"
#include "video/resize_kern.h"
#include "video/simd.h"

#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define PREC_BITS 22 /* 32 - 8 - 2, as PIL's 8-bit path */

static double bicubic(double x)
{
    const double a = -0.5;
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0)
        return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

/* Per-output-pixel window [lo, lo+n) of input pixels and fixed-point weights
 * (ksize per output pixel), for output pixels [o0, o0+on) of an in->out resize. */
typedef struct coeffs {
    int ksize;
    int *lo, *n;
    int32_t *k;
} coeffs;

static void coeffs_free(coeffs *c)
{
    free(c->lo);
    free(c->n);
    free(c->k);
}

static int coeffs_make(coeffs *c, int in, int out, int o0, int on)
{
    double scale = (double)in / out;
    double fscale = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * fscale;
    /* a multiple of 8 (zero weights past n): the horizontal pass runs whole
     * vectors of taps, no scalar tail */
    c->ksize = ((int)ceil(support) * 2 + 1 + 7) & ~7;
    c->lo = malloc(sizeof(int) * (size_t)on);
    c->n = malloc(sizeof(int) * (size_t)on);
    c->k = calloc((size_t)on * (size_t)c->ksize, sizeof(int32_t));
    double *kd = malloc(sizeof(double) * (size_t)c->ksize);
    if (!c->lo || !c->n || !c->k || !kd) {
        free(kd);
        coeffs_free(c);
        return -1;
    }
    for (int i = 0; i < on; i++) {
        int xx = o0 + i;
        double center = (xx + 0.5) * scale;
        double ss = 1.0 / fscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in)
            xmax = in;
        xmax -= xmin;
        double ww = 0.0;
        for (int x = 0; x < xmax; x++) {
            double w = bicubic((x + xmin - center + 0.5) * ss);
            kd[x] = w;
            ww += w;
        }
        for (int x = 0; x < xmax; x++) {
            double k = ww != 0.0 ? kd[x] / ww : kd[x];
            c->k[(size_t)i * c->ksize + x] =
                k < 0 ? (int32_t)(-0.5 + k * (1 << PREC_BITS)) : (int32_t)(0.5 + k * (1 << PREC_BITS));
        }
        c->lo[i] = xmin;
        c->n[i] = xmax;
    }
    free(kd);
    return 0;
}

/* PIL accumulates in 32-bit ints: 255 * sum|k| (< 1.2 for this kernel)
 * * 2^22 stays below 2^31, so int32 gives the same sums (and lets the
 * compiler vectorise the loops) */
static inline uint8_t clip8(int32_t v)
{
    v >>= PREC_BITS;
    return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define OVX_RESIZE_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define OVX_RESIZE_CLONES
#endif

/* One row of the horizontal pass: the packed RGB columns [0, ncols) of in
 * (the ones the window reads, starting at source column c0) are split into
 * int32 planes (scratch [3 * ncols]), then each output pixel is three
 * contiguous integer dot products, which vectorise (integer sums in any
 * order are the same sums). */
OVX_RESIZE_CLONES
static void hrow(const uint8_t *restrict in, int ncols, int c0, const int *lo, const int *nk,
                 const int32_t *restrict k, int ksize, int ow, int32_t *restrict plane, uint8_t *restrict o)
{
    /* planes of ncols + 8 (the tail stays 0: taps rounded up to 8 read it
     * with weight 0) */
    const size_t ps = (size_t)ncols + 8;
    int32_t *restrict r = plane, *restrict g = plane + ps, *restrict b = plane + 2 * ps;
    for (int x = 0; x < ncols; x++) {
        r[x] = in[3 * x];
        g[x] = in[3 * x + 1];
        b[x] = in[3 * x + 2];
    }
    for (int i = 0; i < ow; i++) {
        const int32_t *restrict ki = k + (size_t)i * ksize;
        int l = lo[i] - c0, n = (nk[i] + 7) & ~7;
        int32_t s0 = 1 << (PREC_BITS - 1), s1 = s0, s2 = s0;
        for (int x = 0; x < n; x++) {
            s0 += r[l + x] * ki[x];
            s1 += g[l + x] * ki[x];
            s2 += b[l + x] * ki[x];
        }
        o[3 * i] = clip8(s0);
        o[3 * i + 1] = clip8(s1);
        o[3 * i + 2] = clip8(s2);
    }
}

/* The SIMD pass's weights (resize_kern.h): per output, np pairs of taps,
 * each pair's high halves (k >> 11) and low halves (k & 2047) as int16
 * pairs in one int32; lo relative to the first read column c0. */
static int hkern_make(ovx_hkern *h, const coeffs *c, int ow, int c0, int ncols, int **lo, int32_t **kh,
                      int32_t **kl)
{
    int nmax = 0;
    for (int i = 0; i < ow; i++)
        nmax = c->n[i] > nmax ? c->n[i] : nmax;
    int np = (nmax + 1) / 2;
    *lo = malloc(sizeof **lo * (size_t)ow);
    *kh = malloc(sizeof **kh * (size_t)ow * np);
    *kl = malloc(sizeof **kl * (size_t)ow * np);
    *h = (ovx_hkern){.ncols = ncols, .ow = ow, .np = np};
    if (!*lo || !*kh || !*kl)
        return -1;
    for (int i = 0; i < ow; i++) {
        (*lo)[i] = c->lo[i] - c0;
        for (int j = 0; j < np; j++) {
            const int32_t *k = c->k + (size_t)i * c->ksize;
            int32_t a = 2 * j < c->n[i] ? k[2 * j] : 0, b = 2 * j + 1 < c->n[i] ? k[2 * j + 1] : 0;
            (*kh)[(size_t)i * np + j] = (int32_t)((uint32_t)(uint16_t)(a >> 11) | (uint32_t)(uint16_t)(b >> 11) << 16);
            (*kl)[(size_t)i * np + j] = (int32_t)((uint32_t)(a & 2047) | (uint32_t)(b & 2047) << 16);
        }
    }
    h->lo = *lo;
    h->kh = *kh;
    h->kl = *kl;
    return 0;
}

/* Everything a window's resize needs that depends only on its geometry
 * (sizes, window): the weights of both passes, the rows and columns they
 * read, the SIMD pass's weights (without its scratch). The first N_GEOMS
 * geometries a process meets are kept, read-only, for the process (a
 * video's 64 kept frames, and the videos of one size, build them once);
 * later ones are built per call. */
typedef struct geom {
    int sw, sh, dw, dh, ox, oy, ow, oh;
    int need_h, need_v;
    coeffs ch, cv;
    int r0, r1, c0, c1, vmax;
    ovx_hkern hk; /* weights only; hk.t/p/u unset */
    int *hk_lo;
    int32_t *hk_h, *hk_l;
} geom;

static void geom_free(geom *g)
{
    if (!g)
        return;
    free(g->hk_lo);
    free(g->hk_h);
    free(g->hk_l);
    coeffs_free(&g->ch);
    coeffs_free(&g->cv);
    free(g);
}

static geom *geom_make(int sw, int sh, int dw, int dh, int ox, int oy, int ow, int oh)
{
    geom *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    *g = (geom){.sw = sw, .sh = sh, .dw = dw, .dh = dh, .ox = ox, .oy = oy, .ow = ow, .oh = oh,
                .need_h = dw != sw, .need_v = dh != sh};
    const coeffs *ch = &g->ch, *cv = &g->cv;
    if ((g->need_h && coeffs_make(&g->ch, sw, dw, ox, ow) < 0) ||
        (g->need_v && coeffs_make(&g->cv, sh, dh, oy, oh) < 0))
        goto fail;
    /* input rows the vertical pass reads */
    g->r0 = oy;
    g->r1 = oy + oh;
    if (g->need_v) {
        g->r0 = cv->lo[0];
        g->r1 = cv->lo[oh - 1] + cv->n[oh - 1];
        for (int i = 0; i < oh; i++) {
            if (cv->lo[i] < g->r0) g->r0 = cv->lo[i];
            if (cv->lo[i] + cv->n[i] > g->r1) g->r1 = cv->lo[i] + cv->n[i];
        }
    }
    /* source columns the horizontal pass reads */
    g->c0 = ox;
    g->c1 = ox + ow;
    if (g->need_h) {
        g->c0 = ch->lo[0];
        g->c1 = ch->lo[0] + ch->n[0];
        for (int i = 0; i < ow; i++) {
            if (ch->lo[i] < g->c0) g->c0 = ch->lo[i];
            if (ch->lo[i] + ch->n[i] > g->c1) g->c1 = ch->lo[i] + ch->n[i];
        }
        if (hkern_make(&g->hk, ch, ow, g->c0, g->c1 - g->c0, &g->hk_lo, &g->hk_h, &g->hk_l) < 0)
            goto fail;
    }
    g->vmax = 1;
    for (int j = 0; g->need_v && j < oh; j++)
        g->vmax = cv->n[j] > g->vmax ? cv->n[j] : g->vmax;
    return g;
fail:
    geom_free(g);
    return NULL;
}

#define N_GEOMS 16
static geom *geoms[N_GEOMS];
static int n_geoms;
static pthread_mutex_t geom_lock = PTHREAD_MUTEX_INITIALIZER;

/* NULL: out of memory; *own: the caller frees it */
static const geom *geom_get(int sw, int sh, int dw, int dh, int ox, int oy, int ow, int oh, geom **own)
{
    *own = NULL;
    pthread_mutex_lock(&geom_lock);
    for (int i = 0; i < n_geoms; i++) {
        const geom *g = geoms[i];
        if (g->sw == sw && g->sh == sh && g->dw == dw && g->dh == dh && g->ox == ox && g->oy == oy &&
            g->ow == ow && g->oh == oh) {
            pthread_mutex_unlock(&geom_lock);
            return g;
        }
    }
    geom *g = geom_make(sw, sh, dw, dh, ox, oy, ow, oh);
    if (g && n_geoms < N_GEOMS)
        geoms[n_geoms++] = g;
    else
        *own = g;
    pthread_mutex_unlock(&geom_lock);
    return g;
}

/* Rows of the source a strip at a time (fill), or all in memory (src). */
typedef struct row_source {
    const uint8_t *src;      /* source pixel (sx0, sy0), rows sstride apart */
    int sx0, sy0, sstride;
    ovx_resize_rows_fn fill; /* else: rows of a part starting at column sx0, pw wide */
    void *ctx;
    int pw;
} row_source;

enum { STRIP_ROWS = 32 };

/* only the rows and columns the window reads need to lie in the source's part */
static int resize_window(const row_source *rs, int sw, int sh, int dw, int dh,
                         int ox, int oy, int ow, int oh, uint8_t *dst, int dstride, ovx_error *err)
{
    const int sx0 = rs->sx0, sy0 = rs->sy0;
    if (sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0 || ox < 0 || oy < 0 || ow <= 0 || oh <= 0 ||
        ox + ow > dw || oy + oh > dh)
        return ovx_error_set(err, OVX_EINTERNAL, "resize: bad geometry %dx%d -> %dx%d", sw, sh, dw, dh);
    const int isa = ovx_video_simd();
    geom *own = NULL;
    const geom *G = geom_get(sw, sh, dw, dh, ox, oy, ow, oh, &own);
    ovx_hkern hk = {0};
    int32_t *plane = NULL;
    uint8_t *tmp = NULL, *strip = NULL;
    int rc = OVX_OK;
    if (!G)
        goto nomem;
    const coeffs *const ch = &G->ch, *const cv = &G->cv;
    const int need_h = G->need_h, need_v = G->need_v;
    const int r0 = G->r0, r1 = G->r1, c0 = G->c0, c1 = G->c1;
    int nrows = r1 - r0;
    /* rows at a time through the horizontal pass: 16 with SIMD (strips of
     * 32 rows from r0 hold whole groups) */
    const int simd = need_h && isa > 0, step = simd ? OVX_HK_ROWS : 1;
    if (simd) {
        hk = G->hk;
        if (ovx_hkern_alloc(&hk) < 0)
            goto nomem;
    }
    /* The horizontally resized rows live in a window tmp of cap rows (rows
     * [b0, b0 + filled) of the picture): each output row is made as soon as
     * the rows it reads are there, and the rows no later output reads are
     * dropped, so tmp stays small and in cache. */
    const size_t rowb = (size_t)ow * 3;
    const int vmax = G->vmax;
    const int cap = vmax + 2 * step < nrows ? vmax + 2 * step : nrows;
    tmp = malloc((size_t)cap * rowb);
    plane = need_h && !simd ? calloc((size_t)(c1 - c0 + 8) * 3, sizeof *plane) : NULL;
    size_t strip_stride = (size_t)rs->pw * 3;
    strip = rs->fill ? malloc(STRIP_ROWS * strip_stride) : NULL;
    if (!tmp || (need_h && !simd && !plane) || (rs->fill && !strip))
        goto nomem;
    int strip_y = 0, strip_n = 0, b0 = r0, filled = 0, j = 0;
    for (int y = 0; y < nrows; y += step) {
        int nr = nrows - y < step ? nrows - y : step;
        const uint8_t *in[OVX_HK_ROWS];
        for (int r = 0; r < step; r++) {
            int row = r0 + y + (r < nr ? r : 0);
            if (rs->fill) {
                if (row >= strip_y + strip_n) {
                    strip_y = row;
                    strip_n = r1 - row < STRIP_ROWS ? r1 - row : STRIP_ROWS;
                    rc = rs->fill(rs->ctx, strip_y, strip_n, strip, (int)strip_stride, err);
                    if (rc < 0)
                        goto out;
                }
                in[r] = strip + (size_t)(row - strip_y) * strip_stride;
            } else {
                in[r] = rs->src + (ptrdiff_t)(row - sy0) * rs->sstride;
            }
            in[r] += (size_t)((need_h ? c0 : ox) - sx0) * 3;
        }
        if (filled + nr > cap) {
            /* drop the rows before the next output row's first */
            int drop = j >= oh ? filled : (need_v ? cv->lo[j] : oy + j) - b0;
            drop = drop < filled ? drop : filled;
            memmove(tmp, tmp + (size_t)drop * rowb, (size_t)(filled - drop) * rowb);
            b0 += drop;
            filled -= drop;
        }
        /* horizontal pass: rows [r0 + y, r0 + y + nr), output columns [ox, ox+ow) */
        uint8_t *o = tmp + (size_t)filled * rowb;
        if (!need_h)
            memcpy(o, in[0], rowb);
        else if (simd)
            ovx_hkern_run(isa, &hk, in, nr, o, rowb);
        else
            hrow(in[0], c1 - c0, c0, ch->lo, ch->n, ch->k, ch->ksize, ow, plane, o);
        filled += nr;
        /* vertical pass of the output rows whose rows are all there */
        for (; j < oh; j++) {
            uint8_t *d = dst + (size_t)j * dstride;
            if (!need_v) {
                if (oy + j >= b0 + filled)
                    break;
                memcpy(d, tmp + (size_t)(oy + j - b0) * rowb, rowb);
                continue;
            }
            if (cv->lo[j] + cv->n[j] > b0 + filled)
                break;
            ovx_vkern_row(isa, tmp + (size_t)(cv->lo[j] - b0) * rowb, rowb, cv->k + (size_t)j * cv->ksize,
                          cv->n[j], ow * 3, d);
        }
    }
    if (j < oh) {
        rc = ovx_error_set(err, OVX_EINTERNAL, "resize: %d of %d rows made", j, oh);
        goto out;
    }
    goto out;
nomem:
    rc = ovx_error_set(err, OVX_ENOMEM, "out of memory (resize)");
out:
    free(tmp);
    free(plane);
    free(strip);
    ovx_hkern_free(&hk);
    geom_free(own);
    return rc;
}

int ovx_resize_rgb8_window(const uint8_t *src, int sw, int sh, int sstride, int dw, int dh, int ox,
                           int oy, int ow, int oh, uint8_t *dst, int dstride, ovx_error *err)
{
    row_source rs = {.src = src, .sstride = sstride};
    return resize_window(&rs, sw, sh, dw, dh, ox, oy, ow, oh, dst, dstride, err);
}

int ovx_resize_rgb8(const uint8_t *src, int sw, int sh, int sstride, uint8_t *dst, int dw, int dh,
                    ovx_error *err)
{
    return ovx_resize_rgb8_window(src, sw, sh, sstride, dw, dh, 0, 0, dw, dh, dst, dw * 3, err);
}

ovx_crop_geom ovx_crop_geometry(int w, int h, int size)
{
    ovx_crop_geom g;
    g.size = size;
    if (w <= h) {
        g.rw = size;
        g.rh = (int)((double)size * h / w);
    } else {
        g.rh = size;
        g.rw = (int)((double)size * w / h);
    }
    g.cx = (g.rw - size) / 2;
    g.cy = (g.rh - size) / 2;
    return g;
}

int ovx_resize_short_crop(const uint8_t *src, int w, int h, int stride, int size, uint8_t *dst,
                          ovx_error *err)
{
    ovx_crop_geom g = ovx_crop_geometry(w, h, size);
    return ovx_resize_rgb8_window(src, w, h, stride, g.rw, g.rh, g.cx, g.cy, size, size, dst, size * 3,
                                  err);
}

/* Input pixels [lo, hi) that output pixels [o0, o0+on) of an in -> out
 * resize read (as coeffs_make computes them). */
static void span(int in, int out, int o0, int on, int *lo, int *hi)
{
    if (in == out) {
        *lo = o0;
        *hi = o0 + on;
        return;
    }
    double scale = (double)in / out;
    double support = 2.0 * (scale < 1.0 ? 1.0 : scale);
    *lo = in;
    *hi = 0;
    for (int i = o0; i < o0 + on; i++) {
        double center = (i + 0.5) * scale;
        int a = (int)(center - support + 0.5), b = (int)(center + support + 0.5);
        a = a < 0 ? 0 : a;
        b = b > in ? in : b;
        if (a < *lo)
            *lo = a;
        if (b > *hi)
            *hi = b;
    }
}

ovx_rect ovx_resize_short_crop_source(int w, int h, int size)
{
    ovx_crop_geom g = ovx_crop_geometry(w, h, size);
    int x0, x1, y0, y1;
    span(w, g.rw, g.cx, size, &x0, &x1);
    span(h, g.rh, g.cy, size, &y0, &y1);
    return (ovx_rect){x0, y0, x1 - x0, y1 - y0};
}

int ovx_resize_short_crop_part(const uint8_t *part, ovx_rect r, int w, int h, int stride, int size, uint8_t *dst,
                               ovx_error *err)
{
    ovx_crop_geom g = ovx_crop_geometry(w, h, size);
    row_source rs = {.src = part, .sx0 = r.x, .sy0 = r.y, .sstride = stride};
    return resize_window(&rs, w, h, g.rw, g.rh, g.cx, g.cy, size, size, dst, size * 3, err);
}

int ovx_resize_short_crop_rows(ovx_resize_rows_fn fill, void *ctx, ovx_rect r, int w, int h, int size,
                               uint8_t *dst, ovx_error *err)
{
    ovx_crop_geom g = ovx_crop_geometry(w, h, size);
    row_source rs = {.sx0 = r.x, .sy0 = r.y, .fill = fill, .ctx = ctx, .pw = r.w};
    return resize_window(&rs, w, h, g.rw, g.rh, g.cx, g.cy, size, size, dst, size * 3, err);
}
