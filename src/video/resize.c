/* resize.c: PIL-compatible separable bicubic resampling of RGB8 (see
 * resize.h), computing only the output window that is needed. */
#include "video/resize.h"

#include <math.h>
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
    c->ksize = (int)ceil(support) * 2 + 1;
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

static inline uint8_t clip8(int64_t v)
{
    v >>= PREC_BITS;
    return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

int ovx_resize_rgb8_window(const uint8_t *src, int sw, int sh, int sstride, int dw, int dh, int ox,
                           int oy, int ow, int oh, uint8_t *dst, int dstride, ovx_error *err)
{
    if (sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0 || ox < 0 || oy < 0 || ow <= 0 || oh <= 0 ||
        ox + ow > dw || oy + oh > dh)
        return ovx_error_set(err, OVX_EINTERNAL, "resize: bad geometry %dx%d -> %dx%d", sw, sh, dw, dh);
    coeffs ch = {0}, cv = {0};
    int need_h = dw != sw, need_v = dh != sh;
    if (need_h && coeffs_make(&ch, sw, dw, ox, ow) < 0)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (resize)");
    if (need_v && coeffs_make(&cv, sh, dh, oy, oh) < 0) {
        coeffs_free(&ch);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (resize)");
    }
    /* input rows the vertical pass reads */
    int r0 = oy, r1 = oy + oh;
    if (need_v) {
        r0 = cv.lo[0];
        r1 = cv.lo[oh - 1] + cv.n[oh - 1];
        for (int i = 0; i < oh; i++) {
            if (cv.lo[i] < r0) r0 = cv.lo[i];
            if (cv.lo[i] + cv.n[i] > r1) r1 = cv.lo[i] + cv.n[i];
        }
    }
    int nrows = r1 - r0;
    uint8_t *tmp = malloc((size_t)nrows * ow * 3);
    if (!tmp) {
        coeffs_free(&ch);
        coeffs_free(&cv);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (resize)");
    }
    /* horizontal pass: rows [r0, r1), output columns [ox, ox+ow) */
    for (int y = 0; y < nrows; y++) {
        const uint8_t *in = src + (size_t)(r0 + y) * sstride;
        uint8_t *o = tmp + (size_t)y * ow * 3;
        if (!need_h) {
            memcpy(o, in + (size_t)ox * 3, (size_t)ow * 3);
            continue;
        }
        for (int i = 0; i < ow; i++) {
            const int32_t *k = ch.k + (size_t)i * ch.ksize;
            const uint8_t *p = in + (size_t)ch.lo[i] * 3;
            int64_t s0 = 1 << (PREC_BITS - 1), s1 = s0, s2 = s0;
            for (int x = 0; x < ch.n[i]; x++) {
                s0 += (int64_t)p[3 * x] * k[x];
                s1 += (int64_t)p[3 * x + 1] * k[x];
                s2 += (int64_t)p[3 * x + 2] * k[x];
            }
            o[3 * i] = clip8(s0);
            o[3 * i + 1] = clip8(s1);
            o[3 * i + 2] = clip8(s2);
        }
    }
    /* vertical pass */
    for (int j = 0; j < oh; j++) {
        uint8_t *o = dst + (size_t)j * dstride;
        if (!need_v) {
            memcpy(o, tmp + (size_t)(oy + j - r0) * ow * 3, (size_t)ow * 3);
            continue;
        }
        const int32_t *k = cv.k + (size_t)j * cv.ksize;
        int lo = cv.lo[j] - r0;
        for (int i = 0; i < ow * 3; i++) {
            int64_t s = 1 << (PREC_BITS - 1);
            for (int y = 0; y < cv.n[j]; y++)
                s += (int64_t)tmp[(size_t)(lo + y) * ow * 3 + i] * k[y];
            o[i] = clip8(s);
        }
    }
    free(tmp);
    coeffs_free(&ch);
    coeffs_free(&cv);
    return OVX_OK;
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
