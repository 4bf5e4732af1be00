/* estimate.c: motion estimation by block matching on (downscaled) luma, for
 * decoders that export no motion vectors (HEVC, VP9, AV1, ...). */
#include "video/mv.h"
#include "video/simd.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

int ovx_mv_estimate_scale(int W)
{
    return W > 1280 ? 4 : W > 640 ? 2 : 1;
}

/* Box-downscales a W x H plane by f (1, 2 or 4) into a packed buffer. */
static uint8_t *downscale(const uint8_t *src, int stride, int W, int H, int f, int *w, int *h)
{
    *w = W / f;
    *h = H / f;
    uint8_t *d = malloc((size_t)*w * *h);
    if (!d)
        return NULL;
    if (f == 1) {
        for (int y = 0; y < *h; y++)
            memcpy(d + (size_t)y * *w, src + (size_t)y * stride, (size_t)*w);
        return d;
    }
    for (int y = 0; y < *h; y++)
        for (int x = 0; x < *w; x++) {
            const uint8_t *p = src + (size_t)(f * y) * stride + f * x;
            unsigned s = 0;
            for (int j = 0; j < f; j++)
                for (int i = 0; i < f; i++)
                    s += p[(size_t)j * stride + i];
            d[(size_t)y * *w + x] = (uint8_t)((s + (unsigned)(f * f) / 2) / (unsigned)(f * f));
        }
    return d;
}

/* SAD of the b x b block at (x,y) of cur against ref at (x+dx, y+dy). */
static unsigned sad(const uint8_t *cur, const uint8_t *ref, int w, int x, int y, int dx, int dy, int bw,
                    int bh)
{
    unsigned s = 0;
    for (int j = 0; j < bh; j++) {
        const uint8_t *a = cur + (size_t)(y + j) * w + x;
        const uint8_t *b = ref + (size_t)(y + dy + j) * w + x + dx;
        for (int i = 0; i < bw; i++)
            s += (unsigned)abs(a[i] - b[i]);
    }
    return s;
}

/* Mean absolute difference of the interior of cur (margin m) against ref
 * shifted by (dx, dy), |dx|, |dy| <= m; w x h packed planes. */
/* one row's SAD (n < 2^24: no overflow), one build per SIMD level */
OVX_SIMD_VARIANTS(row_sad, (const uint8_t *restrict a, const uint8_t *restrict b, int n, unsigned *restrict out),
                  (a, b, n, out), {
    unsigned s = 0;
    for (int x = 0; x < n; x++)
        s += (unsigned)abs(a[x] - b[x]);
    *out = s;
})

static unsigned long long shifted_sad(const uint8_t *cur, const uint8_t *ref, int w, int h, int m, int dx, int dy)
{
    unsigned long long s = 0;
    for (int y = m; y < h - m; y++) {
        unsigned r;
        row_sad(cur + (size_t)y * w + m, ref + (size_t)(y + dy) * w + dx + m, w - 2 * m, &r);
        s += r;
    }
    return s;
}

/* The best whole-picture shift within +-range (inclusive, full search) of
 * (cx, cy): the first strict minimum in raster order of (dy, dx). */
static void best_shift(const uint8_t *cur, const uint8_t *ref, int w, int h, int m, int cx, int cy, int range,
                       int *bx, int *by)
{
    unsigned long long best = ULLONG_MAX;
    *bx = cx;
    *by = cy;
    for (int dy = cy - range; dy <= cy + range; dy++)
        for (int dx = cx - range; dx <= cx + range; dx++) {
            if (dx < -m || dx > m || dy < -m || dy > m)
                continue;
            unsigned long long s = shifted_sad(cur, ref, w, h, m, dx, dy);
            if (s < best) {
                best = s;
                *bx = dx;
                *by = dy;
            }
        }
}

/* The picture's dominant displacement (the camera's, for most footage) on
 * the w x h planes, searched +-range: a full search on a copy at most 160
 * pixels wide, refined at full scale; mad: the mean absolute difference
 * per pixel there. Block matching starts from it, so a
 * shaking or panning camera's motion is found where the local descent from
 * zero would stop in a texture's nearest dip. Returns -1 on allocation
 * failure. */
static int global_shift(const uint8_t *c, const uint8_t *r, int w, int h, int range, int *gx, int *gy,
                        double *mad)
{
    *gx = *gy = 0;
    *mad = 0;
    int g = w > 320 ? 4 : w > 160 ? 2 : 1, w2, h2;
    int m = range;
    if (m > w / 4) m = w / 4;
    if (m > h / 4) m = h / 4;
    if (m < 1 || w / g < 8 || h / g < 8)
        return 0;
    uint8_t *c2 = downscale(c, w, w, h, g, &w2, &h2), *r2 = downscale(r, w, w, h, g, &w2, &h2);
    if (!c2 || !r2) {
        free(c2);
        free(r2);
        return -1;
    }
    int m2 = (m + g - 1) / g, sx, sy;
    best_shift(c2, r2, w2, h2, m2, 0, 0, m2, &sx, &sy);
    free(c2);
    free(r2);
    best_shift(c, r, w, h, m, sx * g, sy * g, g, gx, gy);
    *mad = (double)shifted_sad(c, r, w, h, m, *gx, *gy) / ((double)(w - 2 * m) * (h - 2 * m));
    return 0;
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

int ovx_mv_estimate(const uint8_t *cur, int cur_stride, const uint8_t *ref, int ref_stride, int W,
                    int H, int search, ovx_mv_list *l, ovx_error *err)
{
    /* downscale so the matched picture is at most 640 wide (f = 1, 2, 4);
     * blocks cover 16 full pixels, at least 4 downscaled ones */
    int f = ovx_mv_estimate_scale(W);
    int w, h;
    uint8_t *c = downscale(cur, cur_stride, W, H, f, &w, &h);
    uint8_t *r = downscale(ref, ref_stride, W, H, f, &w, &h);
    int b = 16 / f, range = search / f;
    if (range < 1)
        range = 1;
    int bx = (w + b - 1) / b, by = (h + b - 1) / b;
    int64_t n = (int64_t)bx * by;
    int *vx = calloc((size_t)n, sizeof *vx), *vy = calloc((size_t)n, sizeof *vy);
    ovx_mv *out = realloc(l->v, (size_t)(n > 0 ? n : 1) * sizeof *out);
    if (!c || !r || !vx || !vy || !out) {
        free(c);
        free(r);
        free(vx);
        free(vy);
        if (out)
            l->v = out;
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (motion estimation)");
    }
    l->v = out;
    l->cap = n > 0 ? n : 1;
    l->n = 0;
    int gx, gy;
    double mad;
    if (global_shift(c, r, w, h, range, &gx, &gy, &mad) < 0) {
        free(c);
        free(r);
        free(vx);
        free(vy);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (motion estimation)");
    }
    /* the motion cost per block pixel per pixel of distance: a tenth of a
     * grey level, or a tenth of the picture's mean difference at its shift
     * (noise, a change of picture quality) when that is larger */
    double lk = mad > 1.0 ? 0.1 * mad : 0.1;
    /* blocks in raster order, each from the best of: the picture's shift,
     * zero, its left and top neighbours' vectors; then a descent in steps
     * of 4 (or 2), 2 and 1 downscaled pixels, each candidate's SAD plus its
     * motion cost */
    for (int j = 0; j < by; j++)
        for (int i = 0; i < bx; i++) {
            int x = i * b, y = j * b;
            int bw = x + b <= w ? b : w - x, bh = y + b <= h ? b : h - y;
            unsigned lam = (unsigned)(lk * bw * bh * f + 0.5);
            /* allowed displacement keeps the block inside the picture */
            int lox = -x > -range ? -x : -range, hix = w - bw - x < range ? w - bw - x : range;
            int loy = -y > -range ? -y : -range, hiy = h - bh - y < range ? h - bh - y : range;
            /* the picture's shift first: where the block is flat, every
             * candidate matches alike and the camera's motion is kept */
            int cand[4][2] = {{gx, gy}, {0, 0}, {0, 0}, {0, 0}};
            int nc = gx || gy ? 2 : 1;
            if (i > 0) {
                cand[nc][0] = vx[j * bx + i - 1];
                cand[nc++][1] = vy[j * bx + i - 1];
            }
            if (j > 0) {
                cand[nc][0] = vx[(j - 1) * bx + i];
                cand[nc++][1] = vy[(j - 1) * bx + i];
            }
            int best_x = 0, best_y = 0;
            unsigned best = UINT_MAX;
            for (int k = 0; k < nc; k++) {
                int cx = cand[k][0], cy = cand[k][1];
                if (cx < lox || cx > hix || cy < loy || cy > hiy)
                    continue;
                unsigned s = sad(c, r, w, x, y, cx, cy, bw, bh) + cost(lam, cx - gx, cy - gy);
                if (s < best) {
                    best = s;
                    best_x = cx;
                    best_y = cy;
                }
            }
            for (int step = range >= 8 ? 4 : 2; step >= 1; step /= 2) {
                for (int it = 0; it < 16; it++) {
                    int moved = 0, ox = best_x, oy = best_y;
                    for (int dy = -1; dy <= 1; dy++)
                        for (int dx = -1; dx <= 1; dx++) {
                            int cx = ox + dx * step, cy = oy + dy * step;
                            if ((dx == 0 && dy == 0) || cx < lox || cx > hix || cy < loy || cy > hiy)
                                continue;
                            unsigned s = sad(c, r, w, x, y, cx, cy, bw, bh) + cost(lam, cx - gx, cy - gy);
                            if (s < best) {
                                best = s;
                                best_x = cx;
                                best_y = cy;
                                moved = 1;
                            }
                        }
                    if (!moved)
                        break;
                }
            }
            vx[j * bx + i] = best_x;
            vy[j * bx + i] = best_y;
            ovx_mv *o = &l->v[l->n++];
            o->x = x * f;
            o->y = y * f;
            o->w = bw * f;
            o->h = bh * f;
            if (o->x + o->w > W) o->w = W - o->x;
            if (o->y + o->h > H) o->h = H - o->y;
            o->dx = (float)(best_x * f);
            o->dy = (float)(best_y * f);
            o->source = -1;
        }
    free(c);
    free(r);
    free(vx);
    free(vy);
    return OVX_OK;
}
