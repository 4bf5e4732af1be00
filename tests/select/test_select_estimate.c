/* test_select_estimate.c: block-matching motion estimation (video/estimate.c)
 * against pictures made here with a known displacement: a textured picture
 * shifted as a whole by up to 12 px (a shaking or panning camera: the local
 * descent from a zero vector stops in the texture's nearest dip, the
 * picture's own shift must be found first), and a still picture, half
 * textured and half flat, whose two copies differ only by independent
 * noise (the vectors must stay at zero: on the flat half the best of many
 * candidates fits the noise by chance, and the motion cost keeps zero). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "video/mv.h"
#include "video/simd.h"

enum { W = 320, H = 240, PAD = 32 };

static uint32_t rng = 12345;
static int rnd(int n)
{
    rng = rng * 1664525u + 1013904223u;
    return (int)((rng >> 8) % (uint32_t)n);
}

/* A texture: random values smoothed by a 5x5 box, over a (W+2PAD)x(H+2PAD)
 * canvas so a shifted window never leaves it. */
static void texture(uint8_t *t, int tw, int th)
{
    int *raw = malloc(sizeof(int) * (size_t)tw * th);
    for (int i = 0; i < tw * th; i++)
        raw[i] = rnd(256);
    for (int y = 0; y < th; y++)
        for (int x = 0; x < tw; x++) {
            int s = 0, n = 0;
            for (int j = -2; j <= 2; j++)
                for (int i = -2; i <= 2; i++)
                    if (y + j >= 0 && y + j < th && x + i >= 0 && x + i < tw)
                        s += raw[(y + j) * tw + x + i], n++;
            t[y * tw + x] = (uint8_t)(s / n);
        }
    free(raw);
}

/* win = the W x H window of t at (PAD + ox, PAD + oy) */
static void window(const uint8_t *t, int tw, int ox, int oy, uint8_t *win)
{
    for (int y = 0; y < H; y++)
        memcpy(win + y * W, t + (size_t)(PAD + oy + y) * tw + PAD + ox, W);
}

/* share of the blocks away from the border (where the shifted content
 * exists in the reference) whose vector is exactly (dx, dy) */
static double share_exact(const ovx_mv_list *l, float dx, float dy, int margin)
{
    int n = 0, hit = 0;
    for (int64_t i = 0; i < l->n; i++) {
        const ovx_mv *m = &l->v[i];
        if (m->x < margin || m->y < margin || m->x + m->w > W - margin || m->y + m->h > H - margin)
            continue;
        n++;
        hit += m->dx == dx && m->dy == dy && m->source == -1;
    }
    return n ? (double)hit / n : 0.0;
}

static void test_whole_picture_shift(void)
{
    int tw = W + 2 * PAD, th = H + 2 * PAD;
    uint8_t *t = malloc((size_t)tw * th), *ref = malloc(W * H), *cur = malloc(W * H);
    texture(t, tw, th);
    window(t, tw, 0, 0, ref);
    /* cur(x, y) = ref(x + sx, y + sy): each block's vector is (sx, sy) */
    static const int shifts[][2] = {{0, 0}, {2, 6}, {-5, 3}, {7, -7}, {12, -9}, {-11, 12}, {1, -1}};
    for (size_t k = 0; k < sizeof shifts / sizeof shifts[0]; k++) {
        int sx = shifts[k][0], sy = shifts[k][1];
        window(t, tw, sx, sy, cur);
        ovx_mv_list l = {0};
        ovx_error err;
        CHECK(ovx_mv_estimate(cur, W, ref, W, W, H, 16, &l, &err) == OVX_OK);
        CHECK(l.n == (W / 16) * (H / 16));
        double s = share_exact(&l, (float)sx, (float)sy, 16);
        printf("shift (%d, %d): %.1f%% of the inner blocks exact\n", sx, sy, 100 * s);
        CHECK(s >= 0.98);
        ovx_mv_list_free(&l);
    }
    free(t), free(ref), free(cur);
}

static void test_noise_keeps_zero(void)
{
    int tw = W + 2 * PAD, th = H + 2 * PAD;
    uint8_t *t = malloc((size_t)tw * th), *ref = malloc(W * H), *cur = malloc(W * H);
    texture(t, tw, th);
    /* the right half flat grey, +-6 noise in each copy: no displacement
     * explains more than noise */
    for (int y = 0; y < th; y++)
        for (int x = tw / 2; x < tw; x++)
            t[y * tw + x] = 128;
    window(t, tw, 0, 0, ref);
    memcpy(cur, ref, W * H);
    for (int i = 0; i < W * H; i++) {
        ref[i] = (uint8_t)(ref[i] + rnd(13) - 6);
        cur[i] = (uint8_t)(cur[i] + rnd(13) - 6);
    }
    ovx_mv_list l = {0};
    ovx_error err;
    CHECK(ovx_mv_estimate(cur, W, ref, W, W, H, 16, &l, &err) == OVX_OK);
    double s = share_exact(&l, 0.0f, 0.0f, 0);
    printf("noise only: %.1f%% of the blocks at zero\n", 100 * s);
    CHECK(s >= 0.90); /* 93.7% at this commit; 52% before the motion cost */
    ovx_mv_list_free(&l);
    free(t), free(ref), free(cur);
}

/* The picture-shift search's row SAD has one build per SIMD level: every
 * level must give the same vectors as the portable one (a shaken noisy
 * picture: many near-ties). */
static void test_simd_levels_agree(void)
{
    int tw = W + 2 * PAD, th = H + 2 * PAD;
    uint8_t *t = malloc((size_t)tw * th), *ref = malloc(W * H), *cur = malloc(W * H);
    texture(t, tw, th);
    window(t, tw, 0, 0, ref);
    window(t, tw, -7, 5, cur);
    for (int i = 0; i < W * H; i++)
        cur[i] = (uint8_t)(cur[i] + rnd(9) - 4);
    ovx_mv_list l[3] = {{0}};
    for (int lv = 0; lv < 3; lv++) {
        ovx_error err;
        ovx_video_force_simd(lv);
        CHECK(ovx_mv_estimate(cur, W, ref, W, W, H, 16, &l[lv], &err) == OVX_OK);
    }
    ovx_video_force_simd(-1);
    for (int lv = 1; lv < 3; lv++)
        CHECK(l[lv].n == l[0].n && memcmp(l[lv].v, l[0].v, (size_t)l[0].n * sizeof *l[0].v) == 0);
    printf("SIMD levels 0-%d: the same %d vectors\n", ovx_video_simd(), (int)l[0].n);
    for (int lv = 0; lv < 3; lv++)
        ovx_mv_list_free(&l[lv]);
    free(t), free(ref), free(cur);
}

/* A plain block matcher, written from the estimator's definition (mv.h)
 * with every candidate evaluated in full: no early exit, no skipping, one
 * pixel at a time. ovx_mv_estimate must give exactly its vectors. */
static uint8_t *plain_down(const uint8_t *src, int stride, int W, int H, int f)
{
    int w = W / f, h = H / f;
    uint8_t *d = malloc((size_t)w * h + 1);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned s = 0;
            for (int j = 0; j < f; j++)
                for (int i = 0; i < f; i++)
                    s += src[(size_t)(f * y + j) * stride + f * x + i];
            d[y * w + x] = (uint8_t)((s + (unsigned)(f * f) / 2) / (unsigned)(f * f));
        }
    return d;
}

static unsigned long long plain_shift_sad(const uint8_t *c, const uint8_t *r, int w, int h, int m, int dx, int dy)
{
    unsigned long long s = 0;
    for (int y = m; y < h - m; y++)
        for (int x = m; x < w - m; x++)
            s += (unsigned)abs(c[y * w + x] - r[(y + dy) * w + x + dx]);
    return s;
}

/* first strict minimum in raster order within +-range of (cx, cy), |d| <= m */
static void plain_best_shift(const uint8_t *c, const uint8_t *r, int w, int h, int m, int cx, int cy, int range,
                             int *bx, int *by)
{
    unsigned long long best = ~0ull;
    *bx = cx;
    *by = cy;
    for (int dy = cy - range; dy <= cy + range; dy++)
        for (int dx = cx - range; dx <= cx + range; dx++) {
            if (abs(dx) > m || abs(dy) > m)
                continue;
            unsigned long long s = plain_shift_sad(c, r, w, h, m, dx, dy);
            if (s < best)
                best = s, *bx = dx, *by = dy;
        }
}

static unsigned plain_block(const uint8_t *c, const uint8_t *r, int w, int x, int y, int bw, int bh, int dx, int dy)
{
    unsigned s = 0;
    for (int j = 0; j < bh; j++)
        for (int i = 0; i < bw; i++)
            s += (unsigned)abs(c[(y + j) * w + x + i] - r[(y + dy + j) * w + x + dx + i]);
    return s;
}

static void plain_estimate(const uint8_t *cur, int cs, const uint8_t *ref, int rs, int W, int H, int search,
                           ovx_mv_list *l)
{
    int f = W > 1280 ? 4 : W > 640 ? 2 : 1, w = W / f, h = H / f, b = 16 / f;
    int range = search / f > 1 ? search / f : 1;
    uint8_t *c = plain_down(cur, cs, W, H, f), *r = plain_down(ref, rs, W, H, f);
    /* the picture's shift and its mean difference */
    int gx = 0, gy = 0, g = w > 320 ? 4 : w > 160 ? 2 : 1, m = range;
    double mad = 0;
    if (m > w / 4) m = w / 4;
    if (m > h / 4) m = h / 4;
    if (m >= 1 && w / g >= 8 && h / g >= 8) {
        uint8_t *c2 = plain_down(c, w, w, h, g), *r2 = plain_down(r, w, w, h, g);
        int m2 = (m + g - 1) / g, sx, sy;
        plain_best_shift(c2, r2, w / g, h / g, m2, 0, 0, m2, &sx, &sy);
        plain_best_shift(c, r, w, h, m, sx * g, sy * g, g, &gx, &gy);
        mad = (double)plain_shift_sad(c, r, w, h, m, gx, gy) / ((double)(w - 2 * m) * (h - 2 * m));
        free(c2), free(r2);
    }
    double lk = mad > 1.0 ? 0.1 * mad : 0.1;
    int nbx = (w + b - 1) / b, nby = (h + b - 1) / b;
    l->n = 0;
    l->v = realloc(l->v, sizeof *l->v * (size_t)nbx * nby);
    for (int j = 0; j < nby; j++)
        for (int i = 0; i < nbx; i++) {
            int x = i * b, y = j * b, bw = x + b <= w ? b : w - x, bh = y + b <= h ? b : h - y;
            unsigned lam = (unsigned)(lk * bw * bh * f + 0.5);
            int lox = -x > -range ? -x : -range, hix = w - bw - x < range ? w - bw - x : range;
            int loy = -y > -range ? -y : -range, hiy = h - bh - y < range ? h - bh - y : range;
            int cand[4][2] = {{gx, gy}, {0, 0}}, nc = gx || gy ? 2 : 1;
            if (i > 0)
                cand[nc][0] = (int)l->v[l->n - 1].dx / f, cand[nc++][1] = (int)l->v[l->n - 1].dy / f;
            if (j > 0)
                cand[nc][0] = (int)l->v[l->n - nbx].dx / f, cand[nc++][1] = (int)l->v[l->n - nbx].dy / f;
            int bx = 0, by = 0;
            unsigned best = ~0u;
            for (int k = 0; k < nc; k++) {
                int cx = cand[k][0], cy = cand[k][1];
                if (cx < lox || cx > hix || cy < loy || cy > hiy)
                    continue;
                unsigned s = plain_block(c, r, w, x, y, bw, bh, cx, cy) + lam * (unsigned)(abs(cx - gx) + abs(cy - gy));
                if (s < best)
                    best = s, bx = cx, by = cy;
            }
            for (int step = range >= 8 ? 4 : 2; step >= 1; step /= 2)
                for (int it = 0, moved = 1; it < 16 && moved; it++) {
                    int ox = bx, oy = by;
                    moved = 0;
                    for (int dy = -1; dy <= 1; dy++)
                        for (int dx = -1; dx <= 1; dx++) {
                            int cx = ox + dx * step, cy = oy + dy * step;
                            if ((!dx && !dy) || cx < lox || cx > hix || cy < loy || cy > hiy)
                                continue;
                            unsigned s = plain_block(c, r, w, x, y, bw, bh, cx, cy) +
                                         lam * (unsigned)(abs(cx - gx) + abs(cy - gy));
                            if (s < best)
                                best = s, bx = cx, by = cy, moved = 1;
                        }
                }
            ovx_mv *o = &l->v[l->n++];
            o->x = x * f, o->y = y * f, o->w = bw * f, o->h = bh * f;
            if (o->x + o->w > W) o->w = W - o->x;
            if (o->y + o->h > H) o->h = H - o->y;
            o->dx = (float)(bx * f), o->dy = (float)(by * f), o->source = -1;
        }
    free(c), free(r);
}

/* The estimator (early-exit SADs on whole rows, each candidate once, the
 * shift search from the centre out) equals the plain matcher on random
 * planes: odd sizes (edge blocks 1 to 15 wide and high, pictures smaller
 * than a block or than the shift search's minimum), the three scales
 * (blocks of 16, 8 and 4), strides wider than the picture, noise, a moved
 * texture, few grey levels (many equal SADs: the ties must fall as in
 * raster order) and a texture moved with noise >= 0 added (at the shift,
 * each row's and column's difference of sums is its SAD: the picture-shift
 * search's bounds are tight, one too large would pass over the best),
 * several search ranges, every SIMD level. */
static void test_equals_plain(void)
{
    static const int sizes[][2] = {{320, 240}, {325, 243}, {97, 61}, {41, 23}, {170, 131}, {650, 366},
                                   {659, 355}, {1290, 722}, {1303, 729}, {1, 1}, {5, 3}, {16, 16},
                                   {17, 9},    {30, 70},   {1300, 3}};
    static const int searches[] = {16, 7, 1, 40};
    int runs = 0, bad = 0;
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++)
        for (int kind = 0; kind < 4; kind++) {
            int Wd = sizes[z][0], Ht = sizes[z][1], cs = Wd + 1 + rnd(40), rs = Wd + rnd(40);
            int tw = Wd + 2 * PAD, th = Ht + 2 * PAD, sx = rnd(25) - 12, sy = rnd(25) - 12;
            uint8_t *t = malloc((size_t)tw * th), *cur = malloc((size_t)cs * Ht), *ref = malloc((size_t)rs * Ht);
            texture(t, tw, th);
            for (int y = 0; y < Ht; y++)
                for (int x = 0; x < Wd; x++) {
                    int a = t[(size_t)(PAD + y) * tw + PAD + x], c = t[(size_t)(PAD + sy + y) * tw + PAD + sx + x];
                    if (kind == 0) /* noise */
                        a = rnd(256), c = rnd(256);
                    else if (kind == 2) /* three grey levels, noisy */
                        a = a / 86 + (rnd(8) == 0), c = c / 86 + (rnd(8) == 0);
                    else if (kind == 3) /* moved, plus noise >= 0 */
                        c = c + 3 < 255 ? c + rnd(4) : 255;
                    ref[(size_t)y * rs + x] = (uint8_t)a;
                    cur[(size_t)y * cs + x] = (uint8_t)c;
                }
            int search = searches[(z + (size_t)kind) % 4];
            ovx_mv_list want = {0};
            plain_estimate(cur, cs, ref, rs, Wd, Ht, search, &want);
            for (int lv = 0; lv < 3; lv++) {
                ovx_mv_list got = {0};
                ovx_error err;
                ovx_video_force_simd(lv);
                CHECK(ovx_mv_estimate(cur, cs, ref, rs, Wd, Ht, search, &got, &err) == OVX_OK);
                runs++;
                if (got.n != want.n || memcmp(got.v, want.v, (size_t)want.n * sizeof *want.v)) {
                    bad++;
                    fprintf(stderr, "%dx%d kind %d search %d level %d: not the plain vectors\n", Wd, Ht, kind,
                            search, lv);
                }
                ovx_mv_list_free(&got);
            }
            ovx_video_force_simd(-1);
            ovx_mv_list_free(&want);
            free(t), free(cur), free(ref);
        }
    printf("equals the plain matcher: %d of %d runs\n", runs - bad, runs);
    CHECK(bad == 0);
}

/* The picture-shift search passes over a shift whose row or column bound
 * exceeds the best SAD so far: its tables must give exactly the plain row
 * and column bounds, at most the SAD, at every SIMD level (odd sizes,
 * margins 1 to a quarter of the picture, noise, texture, few levels). */
static void test_shift_bounds(void)
{
    static const int sizes[][2] = {{160, 120}, {97, 61}, {41, 23}, {9, 9}, {170, 43}, {3, 5}};
    int runs = 0, bad = 0;
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++)
        for (int kind = 0; kind < 3; kind++) {
            int w = sizes[z][0], h = sizes[z][1], tw = w + 2 * PAD, th = h + 2 * PAD;
            int mmax = (w < h ? w : h) / 4 > 0 ? (w < h ? w : h) / 4 : 1, m = 1 + rnd(mmax);
            if (w <= 2 * m || h <= 2 * m)
                m = 0;
            uint8_t *t = malloc((size_t)tw * th), *c = malloc((size_t)w * h), *r = malloc((size_t)w * h);
            texture(t, tw, th);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    int a = t[(size_t)(PAD + y) * tw + PAD + x], b = t[(size_t)(PAD + y + 3) * tw + PAD + x - 2];
                    if (kind == 0)
                        a = rnd(256), b = rnd(256);
                    else if (kind == 2)
                        a = a / 86, b = b / 86;
                    r[y * w + x] = (uint8_t)a;
                    c[y * w + x] = (uint8_t)b;
                }
            int n = (2 * m + 1) * (2 * m + 1);
            unsigned long long *row = malloc(sizeof *row * (size_t)n), *col = malloc(sizeof *col * (size_t)n);
            for (int lv = 0; lv < 3; lv++) {
                ovx_video_force_simd(lv);
                CHECK(ovx_mv_shift_bounds(c, r, w, h, m, row, col) == 0);
                runs++;
                int wrong = 0;
                for (int dy = -m, k = 0; dy <= m; dy++)
                    for (int dx = -m; dx <= m; dx++, k++) {
                        unsigned long long pr = 0, pc = 0, sad = 0;
                        for (int y = m; y < h - m; y++) {
                            long sc = 0, sr = 0;
                            for (int x = m; x < w - m; x++) {
                                sc += c[y * w + x], sr += r[(y + dy) * w + x + dx];
                                sad += (unsigned)abs(c[y * w + x] - r[(y + dy) * w + x + dx]);
                            }
                            pr += (unsigned long long)labs(sc - sr);
                        }
                        for (int x = m; x < w - m; x++) {
                            long sc = 0, sr = 0;
                            for (int y = m; y < h - m; y++)
                                sc += c[y * w + x], sr += r[(y + dy) * w + x + dx];
                            pc += (unsigned long long)labs(sc - sr);
                        }
                        wrong += row[k] != pr || col[k] != pc || pr > sad || pc > sad;
                    }
                if (wrong) {
                    bad++;
                    fprintf(stderr, "%dx%d m %d kind %d level %d: %d of %d shifts' bounds wrong\n", w, h, m, kind,
                            lv, wrong, n);
                }
            }
            ovx_video_force_simd(-1);
            free(row), free(col), free(t), free(c), free(r);
        }
    printf("picture-shift bounds equal the plain ones: %d of %d runs\n", runs - bad, runs);
    CHECK(bad == 0);
    unsigned long long one;
    CHECK(ovx_mv_shift_bounds(NULL, NULL, 4, 4, 2, &one, &one) == -1);
}

int main(void)
{
    test_whole_picture_shift();
    test_noise_keeps_zero();
    test_simd_levels_agree();
    test_equals_plain();
    test_shift_bounds();
    return CHECK_RESULT();
}
