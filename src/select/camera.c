/* camera.c: the camera's motion in a frame from its past vectors: robust
 * similarity fits (whole frame or crop, one per reference picture), checked
 * against the pixels (see camera.h). */
#include "select/camera.h"

#include <math.h>
#include <stdlib.h>

#include "select/refsel.h"
#include "select/sad.h"

/* The camera's motion in px per frame: one similarity fit over all past
 * vectors (model[n_past]), and one per reference picture that has at least
 * 8 vectors of its own when the frame uses several (model[c],
 * own[c] = 1): a shaking camera's displacement to a picture two frames back
 * is not twice the one to the picture before, so vectors to different
 * references disagree on "the camera" unless each is fitted on its own.
 * (A reference with 8 to fit_min_vectors vectors gets their median.)
 * x, y, dx, dy: the n past vectors in the order of in->mv. */
static int camera_fits(const ovx_energy_input *in, const ovx_select_params *p, const float *x, const float *y,
                       const float *dx, const float *dy, int64_t n, ovx_similarity *model, int *own)
{
    int np = in->n_past < 1 ? 0 : in->n_past;
    if (ovx_similarity_fit(x, y, dx, dy, (size_t)n, p->fit_keep, p->fit_passes, p->fit_min_vectors,
                           &model[np]) < 0)
        return -1;
    if (!in->choice || np < 2)
        return 0;
    int64_t count[OVX_ENERGY_MAX_REFS] = {0};
    for (int64_t i = 0; i < in->n_mv; i++)
        if (in->mv[i].source < 0 && in->choice[i] < np)
            count[in->choice[i]]++;
    int used = 0;
    for (int c = 0; c < np; c++)
        used += count[c] > 0;
    if (used < 2)
        return 0;
    float *g = malloc((size_t)n * 4 * sizeof *g);
    if (!g)
        return -1;
    /* each reference's vectors (in order) at off[c] of g's four arrays, in
     * one pass */
    int64_t off[OVX_ENERGY_MAX_REFS], fill[OVX_ENERGY_MAX_REFS] = {0}, at = 0;
    for (int c = 0; c < np; c++) {
        off[c] = at;
        at += count[c] >= 8 ? count[c] : 0;
    }
    for (int64_t i = 0, k = 0; i < in->n_mv; i++) {
        if (in->mv[i].source >= 0)
            continue;
        int c = in->choice[i];
        if (c < np && count[c] >= 8) { /* from 8 vectors on; below fit_min_vectors the fit is their median */
            int64_t m = off[c] + fill[c]++;
            g[m] = x[k], g[n + m] = y[k], g[2 * n + m] = dx[k], g[3 * n + m] = dy[k];
        }
        k++;
    }
    for (int c = 0; c < np; c++) {
        if (count[c] < 8)
            continue;
        int64_t o = off[c], m = count[c];
        if (ovx_similarity_fit(g + o, g + n + o, g + 2 * n + o, g + 3 * n + o, (size_t)m, p->fit_keep,
                               p->fit_passes, p->fit_min_vectors, &model[c]) < 0) {
            free(g);
            return -1;
        }
        own[c] = 1;
    }
    free(g);
    return 0;
}

/* camera_fits over the past vectors of the blocks touching the crop (the
 * need rectangle) when there are fit_min_vectors of them and the frame's
 * fit is not asked for (--fit-region): the motion the model sees is taken
 * against the crop's own dominant motion, as a viewer of the crop would
 * (a close-up whose subject fills the crop while the sides pan otherwise);
 * else over all n. x, y, dx, dy as for camera_fits. */
static int fits_in_crop(const ovx_energy_input *in, const ovx_select_params *p, const float *x, const float *y,
                        const float *dx, const float *dy, int64_t n, ovx_similarity *model, int *own)
{
    if (p->fit_frame || in->need_x1 <= in->need_x0)
        return camera_fits(in, p, x, y, dx, dy, n, model, own);
    int64_t kept = 0;
    for (int64_t i = 0; i < in->n_mv; i++)
        kept += in->mv[i].source < 0 && ovx_energy_needed_block(in, &in->mv[i]);
    if (kept == n || kept < p->fit_min_vectors)
        return camera_fits(in, p, x, y, dx, dy, n, model, own);
    /* the crop's vectors in their order, with their choices (the per-
     * reference fits read in->mv and in->choice) */
    ovx_mv *mv = malloc((size_t)in->n_mv * sizeof *mv);
    uint8_t *choice = in->choice ? malloc((size_t)in->n_mv) : NULL;
    float *g = malloc((size_t)kept * 4 * sizeof *g);
    if (!mv || !g || (in->choice && !choice)) {
        free(mv), free(choice), free(g);
        return -1;
    }
    int64_t nm = 0, k = 0, j = 0;
    for (int64_t i = 0; i < in->n_mv; i++) {
        const ovx_mv *m = &in->mv[i];
        int past = m->source < 0, keep = !past || ovx_energy_needed_block(in, m);
        if (keep) {
            if (choice)
                choice[nm] = in->choice[i];
            mv[nm++] = *m;
            if (past) {
                g[j] = x[k], g[kept + j] = y[k], g[2 * kept + j] = dx[k], g[3 * kept + j] = dy[k];
                j++;
            }
        }
        k += past;
    }
    ovx_energy_input crop = *in;
    crop.mv = mv;
    crop.n_mv = nm;
    crop.choice = choice;
    int rc = camera_fits(&crop, p, g, g + kept, g + 2 * kept, g + 3 * kept, kept, model, own);
    free(mv), free(choice), free(g);
    return rc;
}

/* A vector in quarter pixels per frame (clamped to +-32767) as one key. */
static uint32_t quarter_key(float dx, float dy)
{
    float qx = roundf(dx * 4), qy = roundf(dy * 4);
    qx = qx < -32767 ? -32767 : qx > 32767 ? 32767 : qx;
    qy = qy < -32767 ? -32767 : qy > 32767 ? 32767 : qy;
    return (uint32_t)((int32_t)qx + 32768) << 16 | (uint32_t)((int32_t)qy + 32768);
}

static float key_dx(uint32_t k) { return (float)((int32_t)(k >> 16) - 32768) / 4; }
static float key_dy(uint32_t k) { return (float)((int32_t)(k & 0xffff) - 32768) / 4; }

/* The blocks the camera is checked on: 16x16 on a grid over the need
 * rectangle, every sx-th column and sy-th row so that at most max_blocks
 * are read (every block where there are no more). */
typedef struct grid {
    int x0, y0, nbx, nby, sx, sy;
} grid;

static int grid_layout(const ovx_energy_input *in, int max_blocks, grid *g)
{
    int x0 = in->need_x0 > 0 ? in->need_x0 : 0, y0 = in->need_y0 > 0 ? in->need_y0 : 0;
    int x1 = in->need_x1 > in->need_x0 && in->need_x1 < in->W ? in->need_x1 : in->W;
    int y1 = in->need_y1 > in->need_y0 && in->need_y1 < in->H ? in->need_y1 : in->H;
    *g = (grid){x0, y0, (x1 - x0) / 16, (y1 - y0) / 16, 1, 1};
    if (g->nbx < 1 || g->nby < 1)
        return -1;
    while ((int64_t)((g->nbx + g->sx - 1) / g->sx) * ((g->nby + g->sy - 1) / g->sy) > max_blocks) {
        if (g->sx <= g->sy)
            g->sx++;
        else
            g->sy++;
    }
    return 0;
}

/* The SAD of the 16x16 block at (x, y) predicted from past reference c
 * (rows every ovx_refsel_step(in, 16)), displaced by camera motion h at its
 * centre times c's distance, or (h NULL) by the whole-pixel shift ix, iy;
 * *n: pixels summed. */
static uint64_t block_sad_at(const ovx_energy_input *in, int c, int x, int y, const ovx_similarity *h, int ix,
                             int iy, int64_t *n)
{
    const ovx_energy_ref *r = &in->past[c];
    int step = ovx_refsel_step(in, 16);
    ovx_mv m = {.x = x, .y = y, .w = 16, .h = 16, .source = -1, .dx = (float)ix, .dy = (float)iy};
    if (h) {
        double cx = 2.0 * (x + 8.0) / in->W - 1.0, cy = 2.0 * (y + 8.0) / in->H - 1.0, px, py;
        ovx_similarity_apply(h, cx, cy, &px, &py);
        m.dx = (float)(px * r->dist);
        m.dy = (float)(py * r->dist);
    } else if (x + ix >= 0 && y + iy >= 0 && x + ix + 16 <= in->W && y + iy + 16 <= in->H) {
        /* a whole-pixel shift inside the picture: the same sum, read directly */
        int rows = (16 + step - 1) / step;
        *n = 16 * rows;
        return ovx_sad_rows(in->cur + (size_t)y * in->cur_stride + x, (ptrdiff_t)in->cur_stride * step,
                            r->y + (ptrdiff_t)(y + iy) * r->stride + x + ix, (ptrdiff_t)r->stride * step, rows, 16);
    }
    return ovx_block_sad(in, &m, r->y, r->stride, step, n);
}

/* The mean SAD per pixel of g's blocks (every sub-th of them each way) as
 * block_sad_at predicts them; -1 when no pixel is compared. */
static double grid_sad(const ovx_energy_input *in, int c, const grid *g, int sub, const ovx_similarity *h, int ix,
                       int iy)
{
    uint64_t sad = 0;
    int64_t npx = 0;
    for (int by = 0; by < g->nby; by += g->sy * sub)
        for (int bx = 0; bx < g->nbx; bx += g->sx * sub) {
            int64_t nn = 0;
            sad += block_sad_at(in, c, g->x0 + 16 * bx, g->y0 + 16 * by, h, ix, iy, &nn);
            npx += nn;
        }
    return npx > 0 ? (double)sad / (double)npx : -1.0;
}

/* How well camera motion h (px per frame) predicts the crop from past
 * reference c (grid_sad on every block of the grid). Blocks with and
 * without exported vectors alike (MPEG-1/2/4 export none for skipped
 * blocks, which would leave a still picture's moving object the only
 * voter). */
static double grid_cost(const ovx_energy_input *in, int c, const ovx_similarity *h)
{
    grid g;
    return grid_layout(in, 256, &g) < 0 ? -1.0 : grid_sad(in, c, &g, 1, h, 0, 0);
}

/* Blocks of g where the shift ix, iy predicts from past reference c by more
 * than a grey level per pixel better (*wins) or worse (*losses) than camera
 * motion h. */
static void grid_vote(const ovx_energy_input *in, int c, const grid *g, const ovx_similarity *h, int ix, int iy,
                      int *wins, int *losses)
{
    *wins = *losses = 0;
    for (int by = 0; by < g->nby; by += g->sy)
        for (int bx = 0; bx < g->nbx; bx += g->sx) {
            int x = g->x0 + 16 * bx, y = g->y0 + 16 * by;
            int64_t n1 = 0, n2 = 0;
            uint64_t s1 = block_sad_at(in, c, x, y, NULL, ix, iy, &n1);
            uint64_t s2 = block_sad_at(in, c, x, y, h, 0, 0, &n2);
            if ((double)s1 + (double)n1 < (double)s2)
                ++*wins;
            else if ((double)s2 + (double)n1 < (double)s1)
                ++*losses;
        }
}

/* The whole-pixel shift of the crop to past reference c within +-SHIFT_RANGE
 * px on grid g: every second shift on a quarter of its blocks, then the
 * nine around the best on all of them (ties: the first in raster order;
 * natural pictures are smooth enough that the true shift's even neighbours
 * beat the others); its cost on g in *cost (-1: none). */
#define SHIFT_RANGE 8
static void picture_shift(const ovx_energy_input *in, int c, const grid *g, int *ix, int *iy, double *cost)
{
    *ix = *iy = 0;
    *cost = -1.0;
    double best = -1.0;
    int bx = 0, by = 0;
    for (int y = -SHIFT_RANGE; y <= SHIFT_RANGE; y += 2)
        for (int x = -SHIFT_RANGE; x <= SHIFT_RANGE; x += 2) {
            double s = grid_sad(in, c, g, 2, NULL, x, y);
            if (s >= 0 && (best < 0 || s < best))
                best = s, bx = x, by = y;
        }
    if (best < 0)
        return;
    int cx = bx, cy = by;
    best = -1.0;
    for (int y = cy - 1; y <= cy + 1; y++)
        for (int x = cx - 1; x <= cx + 1; x++) {
            double s = grid_sad(in, c, g, 1, NULL, x, y);
            if (s >= 0 && (best < 0 || s < best))
                best = s, bx = x, by = y;
        }
    *ix = bx, *iy = by, *cost = best;
}

/* The two most common of the n keys (ties: the smaller key), counted in
 * an open-addressed table of at least twice as many slots (key 0 is no
 * vector: qx = -32768 never occurs). Returns -1 on allocation failure. */
static int top_keys(const uint32_t *keys, int64_t n, uint32_t top[2], int64_t cnt[2])
{
    top[0] = top[1] = 0;
    cnt[0] = cnt[1] = 0;
    size_t cap = 16;
    while (cap < 2 * (size_t)n)
        cap *= 2;
    uint32_t *key = calloc(cap, sizeof *key), *count = calloc(cap, sizeof *count);
    if (!key || !count) {
        free(key), free(count);
        return -1;
    }
    for (int64_t i = 0; i < n; i++) {
        uint32_t q = keys[i];
        size_t h = (size_t)(q * 2654435761u) & (cap - 1);
        while (key[h] && key[h] != q)
            h = (h + 1) & (cap - 1);
        key[h] = q;
        count[h]++;
    }
    for (size_t h = 0; h < cap; h++) {
        if (!key[h])
            continue;
        int64_t c = count[h];
        uint32_t q = key[h];
        if (c > cnt[0] || (c == cnt[0] && q < top[0])) {
            top[1] = top[0], cnt[1] = cnt[0];
            top[0] = q, cnt[0] = c;
        } else if (c > cnt[1] || (c == cnt[1] && q < top[1])) {
            top[1] = q, cnt[1] = c;
        }
    }
    free(key), free(count);
    return 0;
}

/* The picture shift to past reference c as the camera, on a grid of at
 * most SHIFT_BLOCKS blocks: taken (*pick; returns 1) when it predicts that
 * grid clearly better than *pick (cost at most HYPOTHESIS_BETTER of
 * *pick's) and most blocks that tell the two apart prefer it (SHIFT_VOTE
 * times as many as prefer *pick): the mean alone would let a large
 * textured object outweigh a flat background. */
#define SHIFT_VOTE 2
#define SHIFT_BLOCKS 64
#define HYPOTHESIS_BETTER 0.95
static int try_shift(const ovx_energy_input *in, int c, ovx_similarity *pick)
{
    grid g;
    if (grid_layout(in, SHIFT_BLOCKS, &g) < 0)
        return 0;
    double base = grid_sad(in, c, &g, 1, pick, 0, 0);
    if (base <= 0)
        return 0;
    int ix, iy, wins, losses;
    double cost;
    picture_shift(in, c, &g, &ix, &iy, &cost);
    float tx = (float)ix / (float)in->past[c].dist, ty = (float)iy / (float)in->past[c].dist;
    /* the shift the pick already is (within 1/2 px) is not tried */
    if (cost < 0 || cost >= HYPOTHESIS_BETTER * base ||
        (fabs(tx - pick->tx) + fabs(ty - pick->ty) < 0.5 && fabs(pick->a) + fabs(pick->b) < 0.25))
        return 0;
    grid_vote(in, c, &g, pick, ix, iy, &wins, &losses);
    if (wins <= SHIFT_VOTE * losses)
        return 0;
    *pick = (ovx_similarity){.tx = tx, .ty = ty, .median_fallback = 1};
    return 1;
}

/* The camera to each past reference checked against the pixels: the two
 * most common vectors of the crop's blocks that chose it (each on a tenth
 * of them, and two blocks, at least) are tried as a translation, and one
 * that predicts the crop from that reference clearly better (grid_cost at
 * most HYPOTHESIS_BETTER of the model's) becomes its camera (model[c],
 * own[c] = 1). A vote of vectors is no camera: in a shaking camera's
 * B-frame most past vectors may be zero vectors of flat or
 * direct-predicted blocks while every textured block moves with the
 * camera, and a reference a few blocks chose gets the fit of the others,
 * scaled by distance, which a shaking camera does not follow. In a B-frame,
 * for the reference most of the crop's blocks chose, the picture's own
 * whole-pixel shift to it is tried too (try_shift): the textured blocks
 * may all have chosen the future picture, so that no past vector is the
 * camera's. */
static int check_camera(const ovx_energy_input *in, const float *dx, const float *dy, ovx_similarity *model,
                        int *own)
{
    int np = in->n_past;
    if (np < 1)
        return 0;
    /* the crop's past vectors as keys, grouped by reference (in order) */
    int64_t per[OVX_ENERGY_MAX_REFS] = {0}, at[OVX_ENERGY_MAX_REFS], nk = 0;
    for (int64_t i = 0; i < in->n_mv; i++) {
        const ovx_mv *m = &in->mv[i];
        int c = in->choice ? in->choice[i] : 0;
        if (m->source < 0 && c < np && ovx_energy_needed_block(in, m))
            per[c]++;
    }
    int most = 0;
    for (int c = 0; c < np; c++) {
        at[c] = nk, nk += per[c];
        if (per[c] > per[most])
            most = c;
    }
    if (nk < 4)
        return 0;
    uint32_t *keys = malloc((size_t)nk * sizeof *keys);
    if (!keys)
        return -1;
    int64_t fill[OVX_ENERGY_MAX_REFS] = {0};
    for (int64_t i = 0, k = 0; i < in->n_mv; i++) {
        const ovx_mv *m = &in->mv[i];
        if (m->source >= 0)
            continue;
        int c = in->choice ? in->choice[i] : 0;
        if (c < np && ovx_energy_needed_block(in, m))
            keys[at[c] + fill[c]++] = quarter_key(dx[k], dy[k]);
        k++;
    }
    for (int c = 0; c < np; c++) {
        uint32_t top[2];
        int64_t cnt[2], nv = per[c];
        if (nv < 4)
            continue;
        if (top_keys(keys + at[c], nv, top, cnt) < 0) {
            free(keys);
            return -1;
        }
        const ovx_similarity fit = model[own[c] ? c : np];
        double best = -1.0;
        ovx_similarity pick = fit;
        int changed = 0;
        for (int h = 0; h < 2; h++) {
            /* a mode the model already is (a translation within 1/2 px) is
             * not tried */
            float tx = key_dx(top[h]), ty = key_dy(top[h]);
            if (cnt[h] < 2 || cnt[h] * 10 < nv ||
                (fabs(tx - fit.tx) + fabs(ty - fit.ty) < 0.5 && fabs(fit.a) + fabs(fit.b) < 0.25))
                continue;
            if (best < 0) {
                best = grid_cost(in, c, &fit);
                if (best <= 0)
                    break;
            }
            ovx_similarity t = {.tx = tx, .ty = ty, .median_fallback = 1};
            double cost = grid_cost(in, c, &t);
            if (cost >= 0 && cost < HYPOTHESIS_BETTER * best) {
                pick = t;
                best = cost;
                changed = 1;
            }
        }
        /* in a B-frame, the reference most of the crop's blocks chose:
         * its whole-pixel picture shift as a third hypothesis (a P-frame's
         * textured blocks carry the camera in their own past vectors) */
        if (c == most && in->n_fut > 0)
            changed |= try_shift(in, c, &pick);
        if (changed) {
            model[c] = pick;
            own[c] = 1;
        }
    }
    free(keys);
    return 0;
}

int ovx_camera_fit(const ovx_energy_input *in, const ovx_select_params *p, const float *x, const float *y,
                   const float *dx, const float *dy, int64_t n, ovx_similarity *model, int *own)
{
    if (fits_in_crop(in, p, x, y, dx, dy, n, model, own) < 0)
        return -1;
    return check_camera(in, dx, dy, model, own);
}
