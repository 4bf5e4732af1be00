/* test_select_energy.c: each scoring step against values computed here
 * independently of the code: camera compensation of a vector field with a
 * known similarity (and px per frame over a reference distance, and one
 * camera per reference picture), the
 * per-block reference choice on a synthetic multi-reference case, the
 * candidate reference pictures of a B-pyramid (reference pictures only,
 * decoded before, never across a keyframe), the motion normaliser's floor,
 * percentile normalisation, fusion and the centre prior; the texture test
 * of a vector's evidence (spread and prediction noise); the 8-bit luma
 * of 10-bit, P010, RGB and 8-bit (copied) frames; the 3x3 local variance
 * bit for bit against a plain reading (regions touching every border,
 * every SIMD level) and so the fusion;
 * the sub-pixel refinement of estimated vectors against a plain pattern
 * search costing every candidate afresh. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>

#include "../check.h"
#include "select/energy.h"
#include "select/refring.h"
#include "select/refine.h"
#include "select/refsel.h"
#include "select/residual.h"
#include "select/select.h"
#include "video/luma.h"
#include "video/simd.h"

enum { W = 128, H = 96, B = 16 };

/* a block grid covering the picture, vectors from fn */
static int grid(ovx_mv *v, void (*fn)(double x, double y, float *dx, float *dy))
{
    int n = 0;
    for (int y = 0; y < H; y += B)
        for (int x = 0; x < W; x += B) {
            ovx_mv *m = &v[n++];
            m->x = x, m->y = y, m->w = B, m->h = B, m->source = -1;
            /* the fit's coordinates: block centre scaled to [-1, 1] */
            fn(2.0 * (x + B / 2.0) / W - 1.0, 2.0 * (y + B / 2.0) / H - 1.0, &m->dx, &m->dy);
        }
    return n;
}

/* dx = tx + a x - b y, dy = ty + b x + a y */
static const double TX = 6.0, TY = -2.0, A = 1.0, BB = -0.5;
static void camera(double x, double y, float *dx, float *dy)
{
    *dx = (float)(TX + A * x - BB * y);
    *dy = (float)(TY + BB * x + A * y);
}

/* The motion map of in has value expect on the 2x2 cells of the block at
 * block column bj, row bi, and zero elsewhere. */
static void check_object_only(const ovx_energy_input *in, const ovx_select_params *p, int bj, int bi,
                              double expect)
{
    int cw = W / 8, ch = H / 8;
    float cells[(W / 8) * (H / 8)];
    ovx_error err;
    CHECK(ovx_energy_motion_cells(in, p, cw, ch, cells, &err) == OVX_OK);
    for (int i = 0; i < ch; i++)
        for (int j = 0; j < cw; j++)
            CHECK_NEAR(cells[i * cw + j], j / 2 == bj && i / 2 == bi ? expect : 0.0, 1e-3);
}

static void test_camera_fit(void)
{
    ovx_select_params p = ovx_select_default_params();
    p.normalise = OVX_NORMALISE_FRAME; /* flat pictures: no vector carries evidence in noise mode */
    p.fit_min_vectors = 8;
    ovx_mv v[64];
    int n = grid(v, camera);
    /* one block (x 48..64, y 32..48) moves 3 px right and 4 px down on top */
    int obj = 2 * (W / B) + 3;
    v[obj].dx += 3.0f;
    v[obj].dy += 4.0f;
    uint8_t y[W * H] = {0};
    ovx_energy_input in = {.cur = y, .cur_stride = W, .W = W, .H = H, .mv = v, .n_mv = n};
    in.past[0] = (ovx_energy_ref){y, W, 1};
    in.n_past = 1;
    /* the camera explains everything but the object: |(3, 4)| = 5 there */
    check_object_only(&in, &p, 3, 2, 5.0);
    int cw = W / 8, ch = H / 8;
    float cells[(W / 8) * (H / 8)];
    ovx_error err;
    /* the same vectors over a reference 2 frames back: 2.5 px per frame */
    in.past[0].dist = 2;
    CHECK(ovx_energy_motion_cells(&in, &p, cw, ch, cells, &err) == OVX_OK);
    CHECK_NEAR(cells[4 * cw + 6], 2.5, 1e-3);
    CHECK_NEAR(cells[0], 0.0, 1e-3);
    /* a choice of the second candidate (3 frames) for the object only */
    uint8_t choice[64] = {0};
    choice[obj] = 1;
    in.past[0].dist = 1;
    in.past[1] = (ovx_energy_ref){y, W, 3};
    in.n_past = 2;
    in.choice = choice;
    /* object vector (camera + (3, 4)) / 3 against the camera's per-frame
     * motion: the fit sees every other block at 1 frame */
    double cx, cy;
    {
        float fx, fy;
        camera(2.0 * (48 + 8.0) / W - 1.0, 2.0 * (32 + 8.0) / H - 1.0, &fx, &fy);
        cx = (fx + 3.0) / 3.0 - fx;
        cy = (fy + 4.0) / 3.0 - fy;
    }
    CHECK(ovx_energy_motion_cells(&in, &p, cw, ch, cells, &err) == OVX_OK);
    CHECK_NEAR(cells[4 * cw + 6], hypot(cx, cy), 1e-3);
    CHECK_NEAR(cells[0], 0.0, 1e-3);
}

/* flat picture of value v */
static void fill(uint8_t *p, int v) { memset(p, v, W * H); }

static void test_reference_choice(void)
{
    static uint8_t cur[W * H], r0[W * H], r1[W * H], r2[W * H];
    ovx_mv m = {.x = 16, .y = 16, .w = 16, .h = 16, .dx = 0, .dy = 0, .source = -1};
    ovx_energy_input in = {.cur = cur, .cur_stride = W, .W = W, .H = H, .mv = &m, .n_mv = 1};
    in.past[0] = (ovx_energy_ref){r0, W, 1};
    in.past[1] = (ovx_energy_ref){r1, W, 2};
    in.past[2] = (ovx_energy_ref){r2, W, 4};
    in.n_past = 3;
    ovx_refsel_params p = ovx_refsel_default_params();
    CHECK_NEAR(p.better, 0.2, 0);
    uint8_t c;
    fill(cur, 100);
    /* nearest error 50/px; second 40 (exactly 20% lower): the second */
    fill(r0, 150), fill(r1, 140), fill(r2, 200);
    ovx_refsel_choose(&in, &p, &c);
    CHECK(c == 1);
    /* second 41 (18% lower): not clearly better, the nearest stays */
    fill(r1, 141);
    ovx_refsel_choose(&in, &p, &c);
    CHECK(c == 0);
    /* third 30: the best of those clearly better */
    fill(r2, 130);
    ovx_refsel_choose(&in, &p, &c);
    CHECK(c == 2);
    /* nearest predicts well (error 1/px <= 2): no search */
    fill(r0, 101), fill(r2, 100);
    ovx_refsel_choose(&in, &p, &c);
    CHECK(c == 0);
    /* one candidate: nothing to choose */
    in.n_past = 1;
    fill(r0, 200);
    ovx_refsel_choose(&in, &p, &c);
    CHECK(c == 0);
    /* a textured block moving 2 px per frame, vector 8 px: the picture 4
     * frames back predicts it exactly, the nearer ones do not */
    for (int k = 0; k < 3; k++) {
        uint8_t *r = k == 0 ? r0 : k == 1 ? r1 : r2;
        int d = in.past[k].dist;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int u = x - 2 * d; /* frame -d shows texture point u at x = u + 2d */
                r[y * W + x] = (uint8_t)(((u + 64) * 37 + y * 11 + ((u + 64) * (u + 64)) % 7) & 255);
            }
    }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            cur[y * W + x] = (uint8_t)(((x + 64) * 37 + y * 11 + ((x + 64) * (x + 64)) % 7) & 255);
    m.dx = 8; /* cur(x) = ref_4(x + 8) */
    in.n_past = 3;
    ovx_refsel_choose(&in, &p, &c);
    CHECK(c == 2);
    int64_t n;
    CHECK(ovx_block_sad(&in, &m, r2, W, 1, &n) == 0 && n == 256);
    CHECK(ovx_block_sad(&in, &m, r0, W, 1, &n) > 256 * 2);
    /* choices for a region: a past block outside it is searched at the
     * default step (the camera fit takes its vector), not from a step of 4
     * source rows (sad_step 8): there it counts as to the nearest; a past
     * block touching it is searched at either step */
    ovx_roi out = {48, 48, 64, 64}, touch = {24, 24, 40, 40};
    uint32_t own;
    in.sad_step = 0;
    ovx_refsel_choose_in(&in, &p, &out, &c, &own);
    CHECK(c == 2);
    in.sad_step = 8;
    ovx_refsel_choose_in(&in, &p, &out, &c, &own);
    CHECK(c == 0 && own == UINT32_MAX);
    ovx_refsel_choose_in(&in, &p, &touch, &c, &own);
    CHECK(c == 2);
    in.sad_step = 0;
}

static AVFrame *gray(void)
{
    AVFrame *f = av_frame_alloc();
    f->format = AV_PIX_FMT_GRAY8;
    f->width = 16;
    f->height = 16;
    if (av_frame_get_buffer(f, 0) < 0)
        abort();
    return f;
}

static ovx_refpic pic(int64_t index, int64_t packet, int ref, int key)
{
    ovx_refpic p = {.luma = gray(), .index = index, .packet = packet, .ref = ref, .key = key};
    return p;
}

static void test_reference_candidates(void)
{
    /* x264 B-pyramid, display order I0 b1 B2 b3 P4 P5, decode order
     * I0 P4 B2 b1 b3 P5: b1, b3 non-reference, B2 a reference decoded
     * after P4 */
    ovx_refpic f[6] = {pic(0, 0, 1, 1), pic(1, 3, 0, 0), pic(2, 2, 1, 0),
                       pic(3, 4, 0, 0), pic(4, 1, 1, 0), pic(5, 5, 1, 0)};
    ovx_ref_ring r;
    ovx_ref_ring_init(&r, AV_CODEC_ID_H264, 8);
    ovx_error err;
    ovx_refset past[6], fut[6];
    memset(fut, 0, sizeof fut);
    for (int i = 0; i < 6; i++) {
        CHECK(ovx_ref_ring_past(&r, &f[i], &past[i], &err) == OVX_OK);
        for (int j = 0; j < i; j++)
            CHECK(ovx_ref_offer_future(&r, &f[j], &f[i], &fut[j], &err) == OVX_OK);
        CHECK(ovx_ref_ring_push(&r, &f[i], &err) == OVX_OK);
    }
    /* P4: only I0 (B2 is decoded after it, b1 b3 are not references) */
    CHECK(past[4].n == 1 && past[4].dist[0] == 4);
    /* b3: B2 then I0; future P4 */
    CHECK(past[3].n == 2 && past[3].dist[0] == 1 && past[3].dist[1] == 3);
    CHECK(fut[3].n >= 1 && fut[3].dist[0] == 1);
    /* b1: past I0; future B2 (1) and P4 (3), complete with two */
    CHECK(past[1].n == 1 && past[1].dist[0] == 1);
    CHECK(fut[1].n == 2 && fut[1].dist[0] == 1 && fut[1].dist[1] == 3 && fut[1].done);
    /* P5: P4, B2, I0 */
    CHECK(past[5].n == 3 && past[5].dist[0] == 1 && past[5].dist[1] == 3 && past[5].dist[2] == 5);
    /* a keyframe empties the ring: nothing before it is a candidate */
    ovx_refpic k = pic(6, 6, 1, 1), q = pic(7, 7, 1, 0);
    ovx_refset pk, pq;
    CHECK(ovx_ref_offer_future(&r, &f[5], &k, &fut[5], &err) == OVX_OK);
    CHECK(fut[5].n == 0 && fut[5].done); /* an IDR is never a forward reference */
    CHECK(ovx_ref_ring_push(&r, &k, &err) == OVX_OK);
    CHECK(ovx_ref_ring_past(&r, &q, &pq, &err) == OVX_OK);
    CHECK(pq.n == 1 && pq.dist[0] == 1);
    (void)pk;
    ovx_refset_clear(&pq);
    ovx_refpic_clear(&k);
    ovx_refpic_clear(&q);
    ovx_ref_ring_clear(&r);
    /* MPEG-2 I0 B1 B2 P3 (decode order unknown): the structure fixes one
     * candidate per direction, the nearest I/P */
    ovx_refpic g[4] = {pic(0, -1, 1, 1), pic(1, -1, 0, 0), pic(2, -1, 0, 0), pic(3, -1, 1, 0)};
    ovx_ref_ring_init(&r, AV_CODEC_ID_MPEG2VIDEO, 8);
    ovx_refset gp[4], gf[4];
    memset(gf, 0, sizeof gf);
    for (int i = 0; i < 4; i++) {
        CHECK(ovx_ref_ring_past(&r, &g[i], &gp[i], &err) == OVX_OK);
        for (int j = 0; j < i; j++)
            CHECK(ovx_ref_offer_future(&r, &g[j], &g[i], &gf[j], &err) == OVX_OK);
        CHECK(ovx_ref_ring_push(&r, &g[i], &err) == OVX_OK);
    }
    CHECK(gp[2].n == 1 && gp[2].dist[0] == 2 && gf[2].n == 1 && gf[2].dist[0] == 1 && gf[2].done);
    CHECK(gp[3].n == 1 && gp[3].dist[0] == 3);
    for (int i = 0; i < 4; i++) {
        ovx_refset_clear(&gp[i]);
        ovx_refset_clear(&gf[i]);
        ovx_refpic_clear(&g[i]);
    }
    ovx_ref_ring_clear(&r);
    for (int i = 0; i < 6; i++) {
        ovx_refset_clear(&past[i]);
        ovx_refset_clear(&fut[i]);
        ovx_refpic_clear(&f[i]);
    }
}

static void test_normalise(void)
{
    float x[100], tmp[100];
    for (int i = 0; i < 100; i++)
        x[i] = (float)i;
    /* numpy.percentile(arange(100), 95) = 94.05 */
    ovx_energy_normalise(x, 100, 95, 0.0f, tmp);
    CHECK_NEAR(x[47], 47 / 94.05, 1e-5);
    CHECK_NEAR(x[94], 94 / 94.05, 1e-5);
    CHECK_NEAR(x[99], 1.0, 0);
    /* a floor above the percentile divides by the floor */
    for (int i = 0; i < 100; i++)
        x[i] = i < 50 ? 0.0f : 0.125f;
    ovx_energy_normalise(x, 100, 95, 0.25f, tmp);
    CHECK_NEAR(x[99], 0.125 / 0.25, 1e-5);
    CHECK_NEAR(x[0], 0.0, 0);
}

static void test_motion_floor(void)
{
    /* flat, identical pictures (no residual); a quarter of the blocks
     * jitter a quarter pel, the rest are still (median fallback: < 64
     * non-zero vectors). Magnitude 0.25 px over the 0.5 px floor: 0.5, not
     * 1; fused (0.5 + 0) / 2 * prior <= 0.25 * 1.3 per pixel */
    static uint8_t y[W * H];
    fill(y, 80);
    ovx_mv v[64];
    int n = 0;
    for (int by = 0; by < H; by += B)
        for (int bx = 0; bx < W; bx += B, n++)
            v[n] = (ovx_mv){bx, by, B, B, n % 4 == 0 ? 0.25f : 0.0f, 0.0f, -1};
    ovx_energy_input in = {.cur = y, .prev = y, .cur_stride = W, .prev_stride = W, .W = W, .H = H,
                           .mv = v, .n_mv = n};
    in.past[0] = (ovx_energy_ref){y, W, 1};
    in.n_past = 1;
    ovx_select_params p = ovx_select_default_params();
    p.normalise = OVX_NORMALISE_FRAME; /* the recipe's per-frame normaliser and its floor */
    p.inconsistency = 0;
    float s[256];
    ovx_error err;
    CHECK(ovx_energy_patch_scores(&in, &p, s, &err) == OVX_OK);
    float mx = 0;
    for (int i = 0; i < 256; i++)
        mx = s[i] > mx ? s[i] : mx;
    CHECK(mx <= 0.25 * 1.3 * 196 + 1e-3);
    CHECK(mx >= 0.25 * 196 * 0.9);
    p.motion_floor = 0; /* without: stretched to full scale */
    CHECK(ovx_energy_patch_scores(&in, &p, s, &err) == OVX_OK);
    mx = 0;
    for (int i = 0; i < 256; i++)
        mx = s[i] > mx ? s[i] : mx;
    CHECK(mx >= 0.5 * 196 * 0.9);
    /* the 3x3 variance of 0 / 0.25 px is at most 0.0156 px^2, under the
     * 0.25 px^2 floor: at most 1/16 of full scale */
    p = ovx_select_default_params();
    p.normalise = OVX_NORMALISE_FRAME;
    CHECK(ovx_energy_patch_scores(&in, &p, s, &err) == OVX_OK);
    mx = 0;
    for (int i = 0; i < 256; i++)
        mx = s[i] > mx ? s[i] : mx;
    CHECK(mx <= 0.0625 * 0.5 * 1.3 * 196 + 1e-3);
}

static void test_fusion_prior(void)
{
    enum { CW = W / 8, CH = H / 8 };
    float mot[CW * CH], res[CW * CH], out[CW * CH];
    for (int i = 0; i < CW * CH; i++) {
        mot[i] = (float)((i * 7) % 11) / 10.0f;
        res[i] = (float)((i * 3) % 5) / 4.0f;
    }
    ovx_select_params p = ovx_select_default_params();
    ovx_error err;
    double sigma = 0.35 * H; /* min(W, H) */
    /* the recipe (--normalise frame: equal weights, prior 0.3) and the
     * default (--normalise noise: a fifth for the residual, no prior) */
    for (int mode = 0; mode < 2; mode++) {
        p.normalise = mode ? OVX_NORMALISE_NOISE : OVX_NORMALISE_FRAME;
        double wr = mode ? 0.2 : 0.5, pw = mode ? 0.0 : 0.3;
        CHECK_NEAR(ovx_select_residual_weight(&p), wr, 0);
        CHECK_NEAR(ovx_select_prior_weight(&p), pw, 0);
        CHECK_NEAR(ovx_select_motion_floor(&p), mode ? 0.25 : 0.5, 0);
        CHECK(ovx_energy_fuse(mot, res, CW, CH, 8, W, H, &p, out, &err) == OVX_OK);
        for (int i = 0; i < CH; i++)
            for (int j = 0; j < CW; j++) {
                double dx = (j + 0.5) * 8 - W / 2.0, dy = (i + 0.5) * 8 - H / 2.0;
                double g = exp(-(dx * dx + dy * dy) / (2 * sigma * sigma));
                double f = ((1 - wr) * mot[i * CW + j] + wr * res[i * CW + j]) * (1 + pw * g);
                f = f > 1 ? 1 : f;
                CHECK_NEAR(out[i * CW + j], f, 1e-6);
            }
    }
    p.normalise = OVX_NORMALISE_FRAME;
    CHECK(ovx_energy_fuse(mot, res, CW, CH, 8, W, H, &p, out, &err) == OVX_OK);
    /* a corner cell: the prior there is 1 + 0.3 exp(-d^2 / (2 sigma^2)); a
     * sigma used unsquared would give a visibly different value */
    mot[0] = 0.5f, res[0] = 0.5f;
    CHECK(ovx_energy_fuse(mot, res, CW, CH, 8, W, H, &p, out, &err) == OVX_OK);
    double d2 = (4 - 64.0) * (4 - 64.0) + (4 - 48.0) * (4 - 48.0);
    CHECK_NEAR(out[0], 0.5 * (1 + 0.3 * exp(-d2 / (2 * sigma * sigma))), 1e-6);
    CHECK(fabs(out[0] - 0.5 * (1 + 0.3 * exp(-d2 / (2 * sigma)))) > 1e-3);
}

/* the fusion bit for bit against the formula read plainly (the code's
 * doubles: a separable gaussian, (1 - w) mot + w res times the prior, then
 * clipped), at every SIMD level, in place too (out = mot) */
static void test_fusion_levels(void)
{
    enum { CW = 37, CH = 23, CELL = 8, PW = CW * CELL - 5, PH = CH * CELL - 3 };
    static float mot[CW * CH], res[CW * CH], want[CW * CH], got[CW * CH];
    srand(9);
    int bad = 0;
    for (int mode = 0; mode < 2; mode++) {
        ovx_select_params p = ovx_select_default_params();
        p.normalise = mode ? OVX_NORMALISE_NOISE : OVX_NORMALISE_FRAME;
        double wr = ovx_select_residual_weight(&p), pw = ovx_select_prior_weight(&p);
        double sigma = p.prior_sigma * (PW < PH ? PW : PH), inv2s2 = 1.0 / (2.0 * sigma * sigma);
        for (int k = 0; k < CW * CH; k++) {
            mot[k] = (float)(rand() % 3000 - 500) / 1000.0f; /* -0.5 .. 2.5: both clips */
            res[k] = (float)(rand() % 3000 - 500) / 1000.0f;
        }
        for (int i = 0; i < CH; i++)
            for (int j = 0; j < CW; j++) {
                double cx = (j + 0.5) * CELL - 0.5 * PW, cy = (i + 0.5) * CELL - 0.5 * PH;
                double prior = 1.0 + pw * exp(-cx * cx * inv2s2) * exp(-cy * cy * inv2s2);
                int k = i * CW + j;
                double f = ((1.0 - wr) * mot[k] + wr * res[k]) * prior;
                want[k] = (float)(f > 1.0 ? 1.0 : f < 0.0 ? 0.0 : f);
            }
        for (int level = ovx_video_simd(); level >= 0; level--) {
            ovx_video_force_simd(level);
            ovx_error err;
            CHECK(ovx_energy_fuse(mot, res, CW, CH, CELL, PW, PH, &p, got, &err) == OVX_OK);
            bad += memcmp(got, want, sizeof got) != 0;
            memcpy(got, mot, sizeof got);
            CHECK(ovx_energy_fuse(got, res, CW, CH, CELL, PW, PH, &p, got, &err) == OVX_OK);
            bad += memcmp(got, want, sizeof got) != 0;
        }
        ovx_video_force_simd(-1);
    }
    CHECK(bad == 0);
}

static AVFrame *frame(int fmt, int w, int h)
{
    AVFrame *f = av_frame_alloc();
    f->format = fmt;
    f->width = w;
    f->height = h;
    if (av_frame_get_buffer(f, 0) < 0)
        abort();
    return f;
}

static void test_luma(void)
{
    ovx_error err;
    AVFrame *o;
    /* yuv420p10le: (v + 2) >> 2, clipped */
    AVFrame *f = frame(AV_PIX_FMT_YUV420P10LE, 4, 2);
    uint16_t v10[8] = {0, 1, 2, 513, 1021, 1022, 1023, 300};
    for (int i = 0; i < 8; i++)
        ((uint16_t *)(f->data[0] + (i / 4) * f->linesize[0]))[i % 4] = v10[i];
    CHECK(!ovx_frame_has_luma8(f));
    CHECK(ovx_frame_luma8(f, 0, &o, &err) == OVX_OK && o->format == AV_PIX_FMT_GRAY8);
    uint8_t w10[8] = {0, 0, 1, 128, 255, 255, 255, 75};
    for (int i = 0; i < 8; i++)
        CHECK(o->data[0][(i / 4) * o->linesize[0] + i % 4] == w10[i]);
    av_frame_free(&o);
    av_frame_free(&f);
    /* p010le: 10 bits in the high bits of 16 */
    f = frame(AV_PIX_FMT_P010LE, 2, 2);
    ((uint16_t *)f->data[0])[0] = (uint16_t)(513 << 6);
    ((uint16_t *)f->data[0])[1] = (uint16_t)(64 << 6);
    CHECK(ovx_frame_luma8(f, 0, &o, &err) == OVX_OK);
    CHECK(o->data[0][0] == 128 && o->data[0][1] == 16);
    av_frame_free(&o);
    av_frame_free(&f);
    /* 8-bit planar: the same plane (a reference) or, with copy, a copy */
    f = frame(AV_PIX_FMT_YUV420P, 4, 2);
    memset(f->data[0], 77, (size_t)f->linesize[0] * 2);
    CHECK(ovx_frame_has_luma8(f));
    CHECK(ovx_frame_luma8(f, 0, &o, &err) == OVX_OK && o->data[0] == f->data[0]);
    av_frame_free(&o);
    CHECK(ovx_frame_luma8(f, 1, &o, &err) == OVX_OK && o->data[0] != f->data[0] && o->data[0][3] == 77);
    av_frame_free(&o);
    av_frame_free(&f);
    /* bgr0 -> gray (swscale): BT.601 limited-range luma,
     * Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 */
    f = frame(AV_PIX_FMT_BGR0, 8, 2);
    int rgb[4][3] = {{0, 0, 0}, {255, 255, 255}, {200, 40, 10}, {10, 120, 250}};
    for (int i = 0; i < 16; i++) {
        uint8_t *px = f->data[0] + (i / 8) * f->linesize[0] + (i % 8) * 4;
        const int *c = rgb[(i % 8) / 2];
        px[0] = (uint8_t)c[2], px[1] = (uint8_t)c[1], px[2] = (uint8_t)c[0], px[3] = 0;
    }
    CHECK(!ovx_frame_has_luma8(f));
    CHECK(ovx_frame_luma8(f, 0, &o, &err) == OVX_OK);
    for (int i = 0; i < 16; i++) {
        const int *c = rgb[(i % 8) / 2];
        double y = 16 + (65.481 * c[0] + 128.553 * c[1] + 24.966 * c[2]) / 255.0;
        CHECK_NEAR(o->data[0][(i / 8) * o->linesize[0] + i % 8], y, 1.0);
    }
    av_frame_free(&o);
    av_frame_free(&f);
    /* yuyv422 (packed, swscale): its limited-range luma unchanged */
    f = frame(AV_PIX_FMT_YUYV422, 4, 2);
    uint8_t yv[4] = {16, 100, 235, 60};
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 4; x++) {
            f->data[0][y * f->linesize[0] + 2 * x] = yv[x];
            f->data[0][y * f->linesize[0] + 2 * x + 1] = 128;
        }
    CHECK(ovx_frame_luma8(f, 0, &o, &err) == OVX_OK);
    for (int x = 0; x < 4; x++)
        CHECK(o->data[0][o->linesize[0] + x] == yv[x]);
    av_frame_free(&o);
    av_frame_free(&f);
}

/* --normalise noise: a vector counts as object motion only where it
 * predicts its block better than the camera's motion (here: none) does.
 * Textured picture: one block really moved 3 px (its vector predicts it
 * exactly, zero motion does not) -> full magnitude; a flat area with a
 * spurious 3 px vector (any vector predicts alike) -> nothing. */
static void test_vector_evidence(void)
{
    static uint8_t cur[W * H], ref[W * H];
    srand(3);
    for (int i = 0; i < W * H; i++)
        ref[i] = (uint8_t)(40 + rand() % 160);
    for (int y = 0; y < H; y++) /* the right half is flat */
        for (int x = W / 2; x < W; x++)
            ref[y * W + x] = 90;
    memcpy(cur, ref, sizeof cur);
    /* block (16, 32) shows ref displaced by (+3, 0): cur(x, y) = ref(x + 3, y) */
    for (int y = 32; y < 48; y++)
        for (int x = 16; x < 32; x++)
            cur[y * W + x] = ref[y * W + x + 3];
    ovx_mv v[64];
    int n = 0;
    for (int by = 0; by < H; by += B)
        for (int bx = 0; bx < W; bx += B, n++) {
            int moved = bx == 16 && by == 32, flat = bx == 96 && by == 32;
            v[n] = (ovx_mv){bx, by, B, B, moved || flat ? 3.0f : 0.0f, 0.0f, -1};
        }
    ovx_energy_input in = {.cur = cur, .prev = ref, .cur_stride = W, .prev_stride = W, .W = W, .H = H,
                           .mv = v, .n_mv = n};
    in.past[0] = (ovx_energy_ref){ref, W, 1};
    in.n_past = 1;
    ovx_select_params p = ovx_select_default_params();
    p.fit_min_vectors = 64; /* 2 non-zero vectors: the median (zero) is the camera */
    int cw = W / 8, ch = H / 8;
    float cells[(W / 8) * (H / 8)];
    ovx_error err;
    CHECK(ovx_energy_motion_cells(&in, &p, cw, ch, cells, &err) == OVX_OK);
    CHECK_NEAR(cells[4 * cw + 2], 3.0, 1e-5);  /* the moved block: cells (2..3, 4..5) */
    CHECK_NEAR(cells[5 * cw + 3], 3.0, 1e-5);
    CHECK_NEAR(cells[4 * cw + 12], 0.0, 1e-6); /* the flat block's spurious vector */
    CHECK_NEAR(cells[5 * cw + 13], 0.0, 1e-6);
    p.normalise = OVX_NORMALISE_FRAME;         /* the recipe paints every vector */
    CHECK(ovx_energy_motion_cells(&in, &p, cw, ch, cells, &err) == OVX_OK);
    CHECK_NEAR(cells[4 * cw + 12], 3.0, 1e-5);
}

/* --texture-k: a block that varies less than the noise of its own
 * prediction carries no motion, even where its vector beats the camera's.
 * ref: random texture except a striped area (columns alternately 84 and
 * 96) at block (96, 32); cur there = ref displaced by (+3, 0), plus 8 on
 * the rows y/2 even (of those read: 32, 36, ...), minus 8 on the others,
 * plus a light change of 5: its 3 px vector predicts it with error +-8
 * around +5 (noise 8) while zero motion leaves 5 +-12 +-8 (mean 12.5
 * against 8: full evidence). The block's own spread: 76, 92, 88, 104 (+5)
 * in equal shares around 95: 8. Block (16, 32) moved
 * 3 px exactly (noise 0) over random texture. */
static void test_texture_gate(void)
{
    static uint8_t cur[W * H], ref[W * H];
    srand(5);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            ref[y * W + x] = x >= 96 && x < 128 && y >= 32 && y < 48 ? (uint8_t)(x % 2 ? 96 : 84)
                                                                    : (uint8_t)(40 + rand() % 160);
    memcpy(cur, ref, sizeof cur);
    for (int y = 32; y < 48; y++)
        for (int x = 0; x < 16; x++) {
            cur[y * W + 16 + x] = ref[y * W + 16 + x + 3];
            cur[y * W + 96 + x] = (uint8_t)(ref[y * W + 96 + x + 3] + ((y / 2) % 2 ? -8 : 8) + 5);
        }
    ovx_mv v[(W / B) * (H / B)];
    int n = 0;
    for (int by = 0; by < H; by += B)
        for (int bx = 0; bx < W; bx += B)
            v[n++] = (ovx_mv){bx, by, B, B, by == 32 && (bx == 16 || bx == 96) ? 3.0f : 0.0f, 0.0f, -1};
    ovx_energy_input in = {.cur = cur, .prev = ref, .cur_stride = W, .prev_stride = W, .W = W, .H = H,
                           .mv = v, .n_mv = n, .n_past = 1};
    in.past[0] = (ovx_energy_ref){ref, W, 1};
    float spread, noise;
    ovx_block_texture(&in, &v[2 * (W / B) + 6], ref, W, &spread, &noise);
    CHECK_NEAR(spread, 8.0, 1e-4);
    CHECK_NEAR(noise, 8.0, 1e-4);
    ovx_block_texture(&in, &v[2 * (W / B) + 1], ref, W, &spread, &noise);
    CHECK_NEAR(noise, 0.0, 1e-6);
    CHECK(spread > 20.0f); /* random 40..199: about 40 */
    ovx_select_params p = ovx_select_default_params();
    CHECK(p.texture_k == 1.5); /* the default */
    int cw = W / 8;
    float cells[(W / 8) * (H / 8)];
    ovx_error err;
    const double ks[] = {0.0, 0.9, 1.5};
    for (int k = 0; k < 3; k++) {
        p.texture_k = ks[k];
        CHECK(ovx_energy_motion_cells(&in, &p, cw, H / 8, cells, &err) == OVX_OK);
        CHECK_NEAR(cells[4 * cw + 2], 3.0, 1e-5);                   /* the textured block moves */
        CHECK_NEAR(cells[4 * cw + 12], ks[k] > 1.0 ? 0.0 : 3.0, 1e-5); /* 8 < 1.5 x 8, not < 0.9 x 8 */
    }
    /* the same block with +-1 instead of +-8: spread about 6 (the stripes),
     * noise 1, under the gate's 2 grey levels: its vector stays motion even
     * at K = 3 (6 < 3 x 1 is false anyway) and K = 10 (6 < 10) */
    for (int y = 32; y < 48; y++)
        for (int x = 0; x < 16; x++)
            cur[y * W + 96 + x] = (uint8_t)(ref[y * W + 96 + x + 3] + ((y / 2) % 2 ? -1 : 1) + 5);
    ovx_block_texture(&in, &v[2 * (W / B) + 6], ref, W, &spread, &noise);
    CHECK_NEAR(noise, 1.0, 1e-4);
    CHECK(spread < 10.0f * noise);
    p.texture_k = 10.0;
    CHECK(ovx_energy_motion_cells(&in, &p, cw, H / 8, cells, &err) == OVX_OK);
    CHECK_NEAR(cells[4 * cw + 12], 3.0, 1e-5);
}

/* The camera checked against the pixels (camera.c).
 * 1. A shaking camera: the top two block rows are random texture moved by
 *    the camera (cur = ref 2 px to the right), the other four flat grey
 *    with zero vectors (as x264's B-frames code flat areas). The fit (48
 *    vectors, under fit_min_vectors: their median) says zero; the pixels
 *    say (2, 0), which then explains every block: no motion anywhere
 *    (without the check the textured blocks scored 2 px).
 * 2. A still picture whose vectors are mostly the object's (MPEG-2 exports
 *    none for skipped blocks): six blocks moved (3, 0), four zero vectors
 *    elsewhere; the median says (3, 0), the pixels of the whole crop say
 *    zero: the object's six blocks score 3 px, the others 0. */
static void test_camera_check(void)
{
    static uint8_t cur[W * H], ref[W * H];
    srand(11);
    ovx_select_params p = ovx_select_default_params();
    int cw = W / 8, ch = H / 8;
    float cells[(W / 8) * (H / 8)];
    ovx_error err;
    ovx_mv v[64];
    int n = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            ref[y * W + x] = y < 32 ? (uint8_t)(40 + rand() % 160) : 128;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            cur[y * W + x] = ref[y * W + (x + 2 < W ? x + 2 : W - 1)];
    for (int y = 0; y < H; y += B)
        for (int x = 0; x < W; x += B)
            v[n++] = (ovx_mv){x, y, B, B, y < 32 ? 2.0f : 0.0f, 0.0f, -1};
    ovx_energy_input in = {.cur = cur, .prev = ref, .cur_stride = W, .prev_stride = W, .W = W, .H = H,
                           .mv = v, .n_mv = n, .n_past = 1};
    in.past[0] = (ovx_energy_ref){ref, W, 1};
    CHECK(ovx_energy_motion_cells(&in, &p, cw, ch, cells, &err) == OVX_OK);
    for (int i = 0; i < cw * ch; i++)
        CHECK_NEAR(cells[i], 0.0, 1e-6);

    for (int i = 0; i < W * H; i++)
        ref[i] = (uint8_t)(40 + rand() % 160);
    memcpy(cur, ref, sizeof cur);
    n = 0;
    for (int bx = 16; bx < 112; bx += B) { /* the object: block row 2, columns 1..6 */
        for (int y = 32; y < 48; y++)
            for (int x = bx; x < bx + B; x++)
                cur[y * W + x] = ref[y * W + x + 3];
        v[n++] = (ovx_mv){bx, 32, B, B, 3.0f, 0.0f, -1};
    }
    for (int k = 0; k < 4; k++) /* four still blocks in row 4 */
        v[n++] = (ovx_mv){16 + 32 * k, 64, B, B, 0.0f, 0.0f, -1};
    in.n_mv = n;
    CHECK(ovx_energy_motion_cells(&in, &p, cw, ch, cells, &err) == OVX_OK);
    for (int i = 0; i < ch; i++)
        for (int j = 0; j < cw; j++)
            CHECK_NEAR(cells[i * cw + j], (i == 4 || i == 5) && j >= 2 && j < 14 ? 3.0 : 0.0, 1e-5);
}

/* 3. The picture's shift as the camera (camera.c try_shift): a B-frame of
 *    a shaking camera whose textured blocks (the top half, random) chose
 *    the future picture, all but two: the past vectors are 24 zero vectors
 *    of the flat bottom half and two textured blocks that follow the
 *    camera, (3, 2), too few (under a tenth) to be tried as a mode. The
 *    texture is random 4x4 squares: natural pictures are smooth enough for
 *    the search's first pass, which tries every second shift. The fit
 *    (their median) says zero; the picture is ref displaced by (3, 2)
 *    everywhere, so the two blocks score nothing and neither do the flat
 *    zero vectors (no better than the camera there). Without the shift
 *    search the two scored |(3, 2)| = 3.6 px. */
static void test_camera_shift(void)
{
    static uint8_t cur[W * H], ref[W * H];
    static uint8_t sq[(H / 4) * (W / 4)];
    srand(17);
    for (int i = 0; i < (H / 4) * (W / 4); i++)
        sq[i] = (uint8_t)(40 + rand() % 160);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            ref[y * W + x] = y < H / 2 ? sq[(y / 4) * (W / 4) + x / 4] : 128;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            cur[y * W + x] = ref[(y + 2 < H ? y + 2 : H - 1) * W + (x + 3 < W ? x + 3 : W - 1)];
    ovx_mv v[64];
    int n = 0;
    for (int y = 0; y < H; y += B)
        for (int x = 0; x < W; x += B) {
            if (y >= H / 2)
                v[n++] = (ovx_mv){x, y, B, B, 0.0f, 0.0f, -1};
            else if ((x == 32 || x == 80) && y == 16)
                v[n++] = (ovx_mv){x, y, B, B, 3.0f, 2.0f, -1};
            else
                v[n++] = (ovx_mv){x, y, B, B, 0.0f, 0.0f, 1}; /* the future picture's */
        }
    ovx_energy_input in = {.cur = cur, .prev = ref, .cur_stride = W, .prev_stride = W, .W = W, .H = H,
                           .mv = v, .n_mv = n, .n_past = 1, .n_fut = 1};
    in.past[0] = (ovx_energy_ref){ref, W, 1};
    in.fut[0] = (ovx_energy_ref){cur, W, 1};
    ovx_select_params p = ovx_select_default_params();
    int cw = W / 8, ch = H / 8;
    float cells[(W / 8) * (H / 8)];
    ovx_error err;
    CHECK(ovx_energy_motion_cells(&in, &p, cw, ch, cells, &err) == OVX_OK);
    for (int i = 0; i < cw * ch; i++)
        CHECK_NEAR(cells[i], 0.0, 1e-6);
}

/* The evidence a vector needs grows with its departure from the camera
 * (energy.c EVIDENCE_PER_PX, 0.07 grey levels per px): a near-flat block
 * (a ramp of one grey level per 20 px) that moved 6 px is predicted by its
 * vector better than by the still camera by only the few columns where
 * the ramp steps; it gets gain / max(0.25, 0.07 x 6) of its 6 px, not all
 * of it. A textured block that moved 3 px keeps all of its 3 px. gain is
 * read off the pictures here: the mean |cur - ref| over the block. */
static void test_evidence_per_px(void)
{
    static uint8_t cur[W * H], ref[W * H];
    srand(5);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            ref[y * W + x] = x < W / 2 ? (uint8_t)(40 + rand() % 160) : (uint8_t)(90 + (x - W / 2) / 20);
    memcpy(cur, ref, sizeof cur);
    for (int y = 32; y < 48; y++) {
        for (int x = 16; x < 32; x++)
            cur[y * W + x] = ref[y * W + x + 3];
        for (int x = 96; x < 112; x++)
            cur[y * W + x] = ref[y * W + x + 6];
    }
    double gain = 0;
    for (int y = 32; y < 48; y++)
        for (int x = 96; x < 112; x++)
            gain += abs(cur[y * W + x] - ref[y * W + x]);
    gain /= 256.0;
    CHECK(gain > 0.25 && gain < 0.42); /* full weight under the old quarter level, not now */
    ovx_mv v[64];
    int n = 0;
    for (int by = 0; by < H; by += B)
        for (int bx = 0; bx < W; bx += B, n++)
            v[n] = (ovx_mv){bx, by, B, B, bx == 16 && by == 32 ? 3.0f : bx == 96 && by == 32 ? 6.0f : 0.0f,
                            0.0f, -1};
    ovx_energy_input in = {.cur = cur, .prev = ref, .cur_stride = W, .prev_stride = W, .W = W, .H = H,
                           .mv = v, .n_mv = n, .n_past = 1};
    in.past[0] = (ovx_energy_ref){ref, W, 1};
    ovx_select_params p = ovx_select_default_params();
    int cw = W / 8, ch = H / 8;
    float cells[(W / 8) * (H / 8)];
    ovx_error err;
    CHECK(ovx_energy_motion_cells(&in, &p, cw, ch, cells, &err) == OVX_OK);
    CHECK_NEAR(cells[4 * cw + 2], 3.0, 1e-5);
    CHECK_NEAR(cells[4 * cw + 12], 6.0 * gain / (0.07 * 6.0), 1e-4);
    CHECK_NEAR(cells[5 * cw + 13], 6.0 * gain / (0.07 * 6.0), 1e-4);
}

/* A shaking camera over two reference pictures: the blocks of rows 0-2
 * point 3 frames back with (2, -6), those of rows 3-5 6 frames back with
 * (2, 0) (the picture 6 back sits elsewhere than twice the one 3 back).
 * Each reference's vectors get their own camera, so only the object
 * (one block of the first group, moved (3, 4) more) has motion: 5/3 px per
 * frame. One fit over both groups in px per frame would leave the second
 * group with about |(2, -6)/3 - (2, 0)/6| ~ 1.7 px per frame. */
static void test_camera_per_reference(void)
{
    ovx_select_params p = ovx_select_default_params();
    p.normalise = OVX_NORMALISE_FRAME; /* flat pictures: no evidence test */
    ovx_mv v[64];
    uint8_t choice[64];
    int n = 0;
    for (int y = 0; y < H; y += B)
        for (int x = 0; x < W; x += B, n++) {
            int first = y < H / 2;
            v[n] = (ovx_mv){x, y, B, B, 2.0f, first ? -6.0f : 0.0f, -1};
            choice[n] = first ? 0 : 1;
        }
    int obj = 1 * (W / B) + 2; /* block (32, 16) */
    v[obj].dx += 3.0f;
    v[obj].dy += 4.0f;
    static uint8_t y[W * H];
    ovx_energy_input in = {.cur = y, .cur_stride = W, .W = W, .H = H, .mv = v, .n_mv = n, .choice = choice};
    in.past[0] = (ovx_energy_ref){y, W, 3};
    in.past[1] = (ovx_energy_ref){y, W, 6};
    in.n_past = 2;
    check_object_only(&in, &p, 2, 1, 5.0 / 3.0);
}

/* the 3x3 variance of every cell of roi, read plainly: the in-grid
 * neighbours row by row in doubles, population variance, 0 outside roi */
static void variance_plain(const float *in, float *out, int cw, int ch, int cell, const ovx_roi *roi)
{
    for (int i = 0; i < ch; i++)
        for (int j = 0; j < cw; j++) {
            out[i * cw + j] = 0.0f;
            if (i < roi->y0 / cell || i >= (roi->y1 + cell - 1) / cell || j < roi->x0 / cell ||
                j >= (roi->x1 + cell - 1) / cell)
                continue;
            double s = 0, s2 = 0;
            int n = 0;
            for (int a = i - 1; a <= i + 1; a++)
                for (int b = j - 1; b <= j + 1; b++)
                    if (a >= 0 && b >= 0 && a < ch && b < cw) {
                        double v = in[a * cw + b];
                        s += v;
                        s2 += v * v;
                        n++;
                    }
            double m = s / n, var = s2 / n - m * m;
            out[i * cw + j] = var > 0 ? (float)var : 0.0f;
        }
}

static void test_local_variance(void)
{
    enum { MAXC = 40 };
    static float in[MAXC * MAXC], got[MAXC * MAXC], want[MAXC * MAXC];
    srand(5);
    int bad = 0;
    for (int t = 0; t < 300; t++) {
        int cw = 1 + rand() % MAXC, ch = 1 + rand() % MAXC, cell = 8;
        for (int k = 0; k < cw * ch; k++) /* some runs of equal values (variance 0 or rounding below) */
            in[k] = t % 3 == 0 && k % 5 ? in[k > 0 ? k - 1 : 0] : (float)(rand() % 1000) / 37.0f;
        int x0 = rand() % cw, y0 = rand() % ch;
        int x1 = x0 + 1 + rand() % (cw - x0), y1 = y0 + 1 + rand() % (ch - y0);
        ovx_roi roi = t % 4 ? (ovx_roi){x0 * cell, y0 * cell, x1 * cell - rand() % 8, y1 * cell - rand() % 8}
                            : (ovx_roi){0, 0, cw * cell, ch * cell};
        variance_plain(in, want, cw, ch, cell, &roi);
        for (int level = ovx_video_simd(); level >= 0; level--) {
            ovx_video_force_simd(level);
            memset(got, 0x55, sizeof got);
            ovx_energy_local_variance(in, got, cw, ch, cell, &roi);
            if (memcmp(got, want, (size_t)cw * ch * sizeof *got) && bad++ < 3)
                fprintf(stderr, "local variance differs: %dx%d cells, roi %d %d %d %d, level %d\n", cw, ch,
                        roi.x0, roi.y0, roi.x1, roi.y1, level);
        }
        ovx_video_force_simd(-1);
    }
    CHECK(bad == 0);
}

/* the refinement read plainly: from the vector, steps of f/2 px down to
 * 1/4 px (f the estimator's grid), rounds of the 8 neighbours (up to 4 at
 * steps of 1 px or more), the first strictly smaller SAD wins */
static void refine_plain(const ovx_energy_input *in, const ovx_roi *roi, ovx_mv *mv, int n)
{
    int f = ovx_mv_estimate_scale(in->W);
    for (int i = 0; i < n; i++) {
        ovx_mv *m = &mv[i];
        if (m->source >= 0 || m->x + m->w <= roi->x0 || m->x >= roi->x1 || m->y + m->h <= roi->y0 ||
            m->y >= roi->y1)
            continue; /* past vectors inside roi only */
        int bx = (int)lrintf(m->dx * 4), by = (int)lrintf(m->dy * 4), step = ovx_refsel_step(in, m->h);
        int64_t cnt;
        ovx_mv t = *m;
        uint64_t best = ovx_block_sad(in, &t, in->past[0].y, in->past[0].stride, step, &cnt);
        for (int st = 2 * f; st >= 1; st /= 2)
            for (int round = 0; round < (st >= 4 ? 4 : 1); round++) {
                int ox = bx, oy = by, moved = 0;
                for (int k = 0; k < 9; k++) {
                    int qx = ox + (k % 3 - 1) * st, qy = oy + (k / 3 - 1) * st;
                    if (k == 4)
                        continue;
                    t.dx = qx / 4.0f, t.dy = qy / 4.0f;
                    uint64_t c = ovx_block_sad(in, &t, in->past[0].y, in->past[0].stride, step, &cnt);
                    if (c < best)
                        best = c, bx = qx, by = qy, moved = 1;
                }
                if (!moved)
                    break;
            }
        m->dx = bx / 4.0f;
        m->dy = by / 4.0f;
    }
}

static void test_refine(void)
{
    enum { RW = 1296, RH = 64, MAXN = (RW / B) * (RH / B) };
    static uint8_t pc[RW * RH], pr[RW * RH];
    static ovx_mv got[MAXN], want[MAXN];
    int bad = 0;
    for (int t = 0; t < 4; t++) {
        int w = t < 2 ? RW : 700; /* the estimator's grid: 4 px, then 2 */
        double sx = 1.3 + 0.7 * t, sy = -0.6 * t;
        for (int y = 0; y < RH; y++)
            for (int x = 0; x < w; x++) {
                double u = x + sx, v = y + sy;
                pc[y * w + x] = (uint8_t)(128 + 60 * sin(x * 0.19 + t) * cos(y * 0.23) + 30 * sin((x + y) * 0.07));
                pr[y * w + x] = (uint8_t)(128 + 60 * sin(u * 0.19 + t) * cos(v * 0.23) + 30 * sin((u + v) * 0.07));
            }
        int n = 0;
        srand(30 + t);
        for (int y = 0; y < RH; y += B)
            for (int x = 0; x < w; x += B, n++) {
                int f = ovx_mv_estimate_scale(w);
                got[n] = (ovx_mv){.x = x, .y = y, .w = B, .h = B, .source = n % 7 ? -1 : 1,
                                  .dx = (float)(f * (rand() % 5 - 2)), .dy = (float)(f * (rand() % 3 - 1))};
                want[n] = got[n];
            }
        ovx_energy_input in = {.cur = pc, .cur_stride = w, .W = w, .H = RH, .interp = OVX_INTERP_BILINEAR,
                               .sad_step = t % 2 ? 4 : 0};
        in.past[0] = (ovx_energy_ref){pr, w, 1};
        in.n_past = 1;
        ovx_roi roi = {B, 0, w - 2 * B, RH};
        ovx_refine_vectors(&in, &roi, got, n);
        refine_plain(&in, &roi, want, n);
        for (int i = 0; i < n; i++)
            if ((got[i].dx != want[i].dx || got[i].dy != want[i].dy) && bad++ < 3)
                fprintf(stderr, "refine differs: case %d block %d: %g %g, want %g %g\n", t, i, got[i].dx,
                        got[i].dy, want[i].dx, want[i].dy);
    }
    CHECK(bad == 0);
}

/* --fit-region: a centre region (the crop, as the need rectangle) moving
 * as one with the camera's model, the sides 5 px right: fitted on the
 * crop's vectors the centre is still and the sides move 5 px; fitted on
 * the frame's (the sides are most of them) the centre moves 5 px. */
static void test_fit_region(void)
{
    ovx_select_params p = ovx_select_default_params();
    p.normalise = OVX_NORMALISE_FRAME; /* flat pictures: no evidence test */
    p.fit_min_vectors = 8;
    p.inconsistency = 0;
    p.motion_floor = 0.0;
    ovx_mv v[64];
    int n = grid(v, camera);
    /* the crop: block columns 3..4 (x 48..80), all rows; sides: the rest */
    for (int i = 0; i < n; i++)
        if (v[i].x < 48 || v[i].x >= 80)
            v[i].dx += 5.0f;
    static uint8_t y[W * H];
    memset(y, 128, sizeof y);
    ovx_energy_input in = {.cur = y, .cur_stride = W, .W = W, .H = H, .mv = v, .n_mv = n,
                           .prev = y, .prev_stride = W, .n_past = 1};
    in.past[0] = (ovx_energy_ref){y, W, 1};
    in.need_x0 = 48, in.need_x1 = 80, in.need_y0 = 0, in.need_y1 = H;
    int cw = W / 8, ch = H / 8;
    float cells[(W / 8) * (H / 8)];
    ovx_error err;
    for (int frame = 0; frame < 2; frame++) {
        p.fit_frame = frame;
        CHECK(ovx_energy_motion_cells(&in, &p, cw, ch, cells, &err) == OVX_OK);
        /* only the cells of needed blocks are painted */
        for (int i = 0; i < ch; i++)
            for (int j = 6; j < 10; j++)
                CHECK_NEAR(cells[i * cw + j], frame ? 5.0 : 0.0, 1e-3);
    }
    /* fewer than fit_min_vectors in the crop: the frame's fit */
    p.fit_frame = 0;
    p.fit_min_vectors = 32;
    CHECK(ovx_energy_motion_cells(&in, &p, cw, ch, cells, &err) == OVX_OK);
    CHECK_NEAR(cells[6], 5.0, 1e-3);
}

/* A B-frame: every block has a future vector (camera 2: a translation
 * (-2, 1) per frame, reference 3 frames ahead), every block but those of
 * block row 4 (8 blocks) also a past one before it, as the exporters write
 * them (camera 1: the similarity of camera(), reference 1 frame back). The
 * object block's past vector departs from its camera by Rp: it moves by
 * |Rp| px per frame whatever its future vector says. The blocks with a
 * future vector only depart from the future camera by Rf over 3 frames:
 * they move by |Rf| / 3 with --motion-sides both, and not at all with past
 * or when fewer than 8 blocks are future-only (nothing painted). */
static int future_only_vectors(ovx_mv *v, int n_lone, int obj, double rpx, double rpy, double rfx, double rfy,
                               double dp, double df)
{
    int n = 0;
    for (int by = 0, b = 0; by < H; by += B)
        for (int bx = 0; bx < W; bx += B, b++) {
            float cx, cy;
            camera(2.0 * (bx + B / 2.0) / W - 1.0, 2.0 * (by + B / 2.0) / H - 1.0, &cx, &cy);
            int lone = by / B == 4 && bx / B < n_lone;
            if (!lone)
                v[n++] = (ovx_mv){bx, by, B, B, (float)(cx * dp + (b == obj) * rpx), (float)(cy * dp + (b == obj) * rpy), -1};
            v[n++] = (ovx_mv){bx, by, B, B, (float)(-2.0 * df + lone * rfx), (float)(1.0 * df + lone * rfy), 1};
        }
    return n;
}

static void test_future_only(void)
{
    ovx_select_params p = ovx_select_default_params();
    p.normalise = OVX_NORMALISE_FRAME; /* flat pictures: no evidence weighting */
    p.fit_min_vectors = 8;
    const double rpx = 0.5, rpy = -0.25, rfx = -1.5, rfy = 1.0, dp = 1, df = 3;
    ovx_mv v[2 * 64];
    int obj = 2 * (W / B) + 3;
    uint8_t y[W * H] = {0};
    int cw = W / 8, ch = H / 8;
    float cells[(W / 8) * (H / 8)];
    ovx_error err;
    double obj_mag = hypot(rpx, rpy) / dp, lone_mag = hypot(rfx, rfy) / df;
    for (int n_lone = 7; n_lone <= 8; n_lone++)
        for (int sides = 0; sides < 2; sides++) {
            int n = future_only_vectors(v, n_lone, obj, rpx, rpy, rfx, rfy, dp, df);
            ovx_energy_input in = {.cur = y, .cur_stride = W, .W = W, .H = H, .mv = v, .n_mv = n};
            in.past[0] = (ovx_energy_ref){y, W, (int)dp};
            in.fut[0] = (ovx_energy_ref){y, W, (int)df};
            in.n_past = in.n_fut = 1;
            p.motion_sides = sides ? OVX_MOTION_PAST : OVX_MOTION_BOTH;
            int painted = n_lone == 8 && !sides;
            CHECK(ovx_energy_motion_cells(&in, &p, cw, ch, cells, &err) == OVX_OK);
            for (int i = 0; i < ch; i++)
                for (int j = 0; j < cw; j++) {
                    int b = (i / 2) * (W / B) + j / 2, lone = i / 2 == 4 && j / 2 < n_lone;
                    CHECK_NEAR(cells[i * cw + j], b == obj ? obj_mag : lone && painted ? lone_mag : 0.0, 1e-4);
                }
        }
}

int main(void)
{
    test_local_variance();
    test_refine();
    test_luma();
    test_camera_fit();
    test_future_only();
    test_fit_region();
    test_camera_per_reference();
    test_reference_choice();
    test_reference_candidates();
    test_normalise();
    test_motion_floor();
    test_fusion_prior();
    test_fusion_levels();
    test_vector_evidence();
    test_texture_gate();
    test_camera_check();
    test_camera_shift();
    test_evidence_per_px();
    return CHECK_RESULT();
}
