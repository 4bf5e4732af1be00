/* estimate.c: motion estimation by block matching on (downscaled) luma, for
 * decoders that export no motion vectors (HEVC, VP9, AV1, ...). */
#include "video/mv.h"

#include <limits.h>
#include <stdlib.h>

/* Box-downscales a W x H plane by f (1, 2 or 4) into a packed buffer. */
static uint8_t *downscale(const uint8_t *src, int stride, int W, int H, int f, int *w, int *h)
{
    *w = W / f;
    *h = H / f;
    uint8_t *d = malloc((size_t)*w * *h);
    if (!d)
        return NULL;
    for (int y = 0; y < *h; y++)
        for (int x = 0; x < *w; x++) {
            if (f == 1) {
                d[(size_t)y * *w + x] = src[(size_t)y * stride + x];
            } else {
                const uint8_t *p = src + (size_t)(f * y) * stride + f * x;
                unsigned s = 0;
                for (int j = 0; j < f; j++)
                    for (int i = 0; i < f; i++)
                        s += p[(size_t)j * stride + i];
                d[(size_t)y * *w + x] = (uint8_t)((s + (unsigned)(f * f) / 2) / (unsigned)(f * f));
            }
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

int ovx_mv_estimate(const uint8_t *cur, int cur_stride, const uint8_t *ref, int ref_stride, int W,
                    int H, int search, ovx_mv_list *l, ovx_error *err)
{
    /* downscale so the matched picture is at most 640 wide (f = 1, 2, 4);
     * blocks cover 16 full pixels, at least 4 downscaled ones */
    int f = W > 1280 ? 4 : W > 640 ? 2 : 1;
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
    for (int j = 0; j < by; j++)
        for (int i = 0; i < bx; i++) {
            int x = i * b, y = j * b;
            int bw = x + b <= w ? b : w - x, bh = y + b <= h ? b : h - y;
            /* allowed displacement keeps the block inside the picture */
            int lox = -x > -range ? -x : -range, hix = w - bw - x < range ? w - bw - x : range;
            int loy = -y > -range ? -y : -range, hiy = h - bh - y < range ? h - bh - y : range;
            int cand[3][2] = {{0, 0}, {0, 0}, {0, 0}};
            int nc = 1;
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
                unsigned s = sad(c, r, w, x, y, cx, cy, bw, bh);
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
                            unsigned s = sad(c, r, w, x, y, cx, cy, bw, bh);
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
