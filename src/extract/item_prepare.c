/* item_prepare.c: the worker half of an item of `ovx extract` (prepare):
 * video -> ovx_select_run(keep_frames) -> normalised pixel tensor ->
 * tokens (the same ovx_model_tokens_from_pixels `ovx forward` uses), or
 * image -> RGB -> shortest edge 448 + centre crop (or native) -> tokens.
 * The model (item_model.c) and the writes (item_write.c) follow on the main
 * thread. */
#include <stdlib.h>
#include <string.h>

#include "extract/prepared.h"
#include "common/timer.h"
#include "io/npy.h"
#include "model/model.h"
#include "model/tokens.h"
#include "select/select.h"
#include "video/image.h"
#include "video/netio.h"
#include "video/resize.h"

#define IMAGE_SIZE 448
#define MAX_IMAGE_PIXELS ((int64_t)16384 * 16384)

static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

/* Packed RGB24 [H, W, 3] -> channel c of frame t of a [3, T, H, W] tensor,
 * rescaled by 1/255 and normalised with the CLIP mean/std in float32 (as
 * the reference processor does it). */
static void clip_lut(float lut[3][256])
{
    const float scale = (float)(1.0 / 255.0);
    for (int c = 0; c < 3; c++)
        for (int x = 0; x < 256; x++)
            lut[c][x] = ((float)x * scale - clip_mean[c]) / clip_std[c];
}

static void rgb_to_planes(const uint8_t *rgb, int h, int w, int T, int t, float *pixels)
{
    float lut[3][256]; /* the same float expression per value, computed once */
    clip_lut(lut);
    size_t plane = (size_t)h * w;
    float *dst[3];
    for (int c = 0; c < 3; c++)
        dst[c] = pixels + ((size_t)c * T + t) * plane;
    for (size_t i = 0; i < plane; i++) {
        dst[0][i] = lut[0][rgb[i * 3]];
        dst[1][i] = lut[1][rgb[i * 3 + 1]];
        dst[2][i] = lut[2][rgb[i * 3 + 2]];
    }
}

static int keep_pixels(ovx_prepared *p, float **pixels, int T, int H, int W, int64_t *indices, int64_t n)
{
    p->pixels = *pixels;
    *pixels = NULL;
    p->pix_shape[0] = 1;
    p->pix_shape[1] = 3;
    p->pix_shape[2] = T;
    p->pix_shape[3] = H;
    p->pix_shape[4] = W;
    if (indices) {
        p->indices = malloc((size_t)n * sizeof *indices);
        if (!p->indices)
            return -1;
        memcpy(p->indices, indices, (size_t)n * sizeof *indices);
        p->n_indices = n;
    }
    return 0;
}

static ovx_prepared *prepare_image(const ovx_extract_ctx *ctx, const ovx_extract_job *job, ovx_prepared *p)
{
    const ovx_extract_opts *o = ctx->opts;
    p->is_image = 1;
    p->n_views = 1;
    p->views = calloc(1, sizeof *p->views);
    if (!p->views) {
        ovx_error_set(&p->err, OVX_ENOMEM, "out of memory");
        return ovx_prepared_fail(p, "decode");
    }
    view_data *vd = &p->views[0];
    double t0 = ovx_now_ms();
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    if (ovx_image_load_rgb(job->in->path, MAX_IMAGE_PIXELS, &rgb, &w, &h, &p->err) != OVX_OK)
        return ovx_prepared_fail(p, "decode");
    double t1 = ovx_now_ms();
    vd->t_decode = t1 - t0;

    int P = ovx_model_get_config(ctx->model)->patch_size;
    int H, W;
    uint8_t *img = NULL;
    cJSON *info = cJSON_CreateObject();
    p->image_json = info;
    cJSON_AddNumberToObject(info, "width", w);
    cJSON_AddNumberToObject(info, "height", h);
    if (o->native) {
        H = h / P * P;
        W = w / P * P;
        if (H == 0 || W == 0) {
            free(rgb);
            ovx_error_set(&p->err, OVX_EINPUT, "image %dx%d is smaller than one %dx%d patch", w, h, P, P);
            return ovx_prepared_fail(p, "decode");
        }
        if ((int64_t)(H / P) * (W / P) > o->max_tokens) { /* one huge photo must not stall a run */
            free(rgb);
            ovx_error_set(&p->err, OVX_EINPUT, "image %dx%d gives %lld tokens at its native size, more than "
                          "--max-tokens %d", w, h, (long long)(H / P) * (W / P), o->max_tokens);
            return ovx_prepared_fail(p, "decode");
        }
        cJSON_AddStringToObject(info, "preprocessing", "native: right/bottom cut to multiples of 14");
        img = rgb; /* rows are cut below by taking the top-left H x W window */
    } else {
        H = W = IMAGE_SIZE;
        img = malloc((size_t)H * W * 3);
        ovx_crop_geom g = ovx_crop_geometry(w, h, IMAGE_SIZE);
        if (!img || ovx_resize_short_crop(rgb, w, h, w * 3, IMAGE_SIZE, img, &p->err) != OVX_OK) {
            if (!img)
                ovx_error_set(&p->err, OVX_ENOMEM, "out of memory");
            free(rgb);
            free(img);
            return ovx_prepared_fail(p, "decode");
        }
        free(rgb);
        rgb = NULL;
        cJSON_AddStringToObject(info, "preprocessing", "shortest edge 448 bicubic, centre crop 448");
        cJSON *rs = cJSON_AddArrayToObject(info, "resized");
        cJSON_AddItemToArray(rs, cJSON_CreateNumber(g.rw));
        cJSON_AddItemToArray(rs, cJSON_CreateNumber(g.rh));
        cJSON *cr = cJSON_AddArrayToObject(info, "crop_origin");
        cJSON_AddItemToArray(cr, cJSON_CreateNumber(g.cx));
        cJSON_AddItemToArray(cr, cJSON_CreateNumber(g.cy));
    }
    cJSON *sz = cJSON_AddArrayToObject(info, "input_size");
    cJSON_AddItemToArray(sz, cJSON_CreateNumber(W));
    cJSON_AddItemToArray(sz, cJSON_CreateNumber(H));
    cJSON *gr = cJSON_AddArrayToObject(info, "grid");
    cJSON_AddItemToArray(gr, cJSON_CreateNumber(1));
    cJSON_AddItemToArray(gr, cJSON_CreateNumber(H / P));
    cJSON_AddItemToArray(gr, cJSON_CreateNumber(W / P));

    float *pixels = malloc((size_t)3 * H * W * sizeof(float));
    if (!pixels) {
        free(img);
        ovx_error_set(&p->err, OVX_ENOMEM, "out of memory");
        return ovx_prepared_fail(p, "decode");
    }
    if (o->native && W != w) {
        /* take the top-left W columns of each row */
        for (int y = 0; y < H; y++)
            memmove(img + (size_t)y * W * 3, img + (size_t)y * w * 3, (size_t)W * 3);
    }
    rgb_to_planes(img, H, W, 1, 0, pixels);
    free(img);
    double t2 = ovx_now_ms();
    vd->t_frames = t2 - t1;
    ovx_pixel_input in = {.pixels = pixels, .batch = 1, .channels = 3, .frames = 1, .height = H, .width = W};
    int rc = ovx_model_tokens_from_pixels(ovx_model_get_config(ctx->model), &in, &vd->tb, &p->err);
    vd->t_cut = ovx_now_ms() - t2;
    if (rc == OVX_OK && o->save_pixels && keep_pixels(p, &pixels, 1, H, W, NULL, 0) != 0)
        rc = ovx_error_set(&p->err, OVX_ENOMEM, "out of memory");
    free(pixels);
    return rc == OVX_OK ? p : ovx_prepared_fail(p, "decode");
}

/* Builds the pixel tensor of one select result and its tokens. Uniform
 * results whose indices are whole frames in slot order become a [3,S,..]
 * tensor in positions mode (the model card's layout); anything else a
 * [3,64,...] tensor, frames at their slots, in gather mode. */
static int video_tokens(const ovx_extract_ctx *ctx, ovx_prepared *p, view_data *vd, const ovx_select_result *r,
                        int keep)
{
    const int S = OVX_SELECT_SIZE, PER = OVX_SELECT_PER_SLOT;
    int positions_mode = r->n_visible == (int64_t)r->n_slots * PER;
    for (int64_t i = 0; positions_mode && i < r->n_visible; i++)
        positions_mode = r->visible_indices[i] == (int64_t)r->slots[i / PER].slot * PER + i % PER;
    int T = positions_mode ? r->n_slots : OVX_SELECT_SLOTS;
    if (!keep) {
        /* the tokens straight from the kept frames: the same floats as
         * through the tensor below, without building it */
        int frame_of[OVX_SELECT_SLOTS];
        for (int t = 0; t < T; t++)
            frame_of[t] = -1;
        for (int i = 0; i < r->n_slots; i++) {
            int t = positions_mode ? i : r->slots[i].slot;
            if (t < 0 || t >= T)
                return ovx_error_set(&p->err, OVX_EINTERNAL, "slot %d out of range", r->slots[i].slot);
            frame_of[t] = i;
        }
        float lut[3][256];
        clip_lut(lut);
        ovx_rgb_input in = {.rgb = r->frames, .n_rgb = r->n_slots, .size = S, .frame_of = frame_of, .frames = T,
                            .lut = (const float (*)[256])lut, .visible_indices = r->visible_indices,
                            .n_visible = (int)r->n_visible};
        return ovx_model_tokens_from_rgb(ovx_model_get_config(ctx->model), &in, &vd->tb, &p->err);
    }
    float *pixels = calloc((size_t)3 * T * S * S, sizeof(float));
    if (!pixels)
        return ovx_error_set(&p->err, OVX_ENOMEM, "out of memory");
    for (int i = 0; i < r->n_slots; i++) {
        int t = positions_mode ? i : r->slots[i].slot;
        if (t < 0 || t >= T) {
            free(pixels);
            return ovx_error_set(&p->err, OVX_EINTERNAL, "slot %d out of range", r->slots[i].slot);
        }
        rgb_to_planes(r->frames + (size_t)i * S * S * 3, S, S, T, t, pixels);
    }
    ovx_pixel_input in = {.pixels = pixels, .batch = 1, .channels = 3, .frames = T, .height = S, .width = S,
                          .visible_indices = r->visible_indices, .n_visible = (int)r->n_visible};
    int rc = ovx_model_tokens_from_pixels(ovx_model_get_config(ctx->model), &in, &vd->tb, &p->err);
    if (rc == OVX_OK && keep && keep_pixels(p, &pixels, T, S, S, r->visible_indices, r->n_visible) != 0)
        rc = ovx_error_set(&p->err, OVX_ENOMEM, "out of memory");
    free(pixels);
    return rc;
}

static ovx_prepared *prepare_video(const ovx_extract_ctx *ctx, const ovx_extract_job *job, ovx_prepared *p)
{
    const ovx_extract_opts *o = ctx->opts;
    p->n_views = o->views;
    p->views = calloc((size_t)o->views, sizeof *p->views);
    if (!p->views) {
        ovx_error_set(&p->err, OVX_ENOMEM, "out of memory");
        return ovx_prepared_fail(p, "decode");
    }
    ovx_select_params sp = ovx_select_default_params();
    sp.sampling = o->uniform ? OVX_SAMPLING_UNIFORM : OVX_SAMPLING_CODEC;
    sp.frames = o->frames;
    sp.tokens = o->tokens;
    sp.keep_frames = 1;
    sp.threads = o->select_threads;
    sp.mv_source = (ovx_mv_source)o->mv_source;
    sp.iframe_policy = (ovx_iframe_policy)o->iframe_policy;
    sp.fps = o->fps;
    sp.start = o->start;
    sp.duration = o->duration;
    if (o->max_corrupt >= 0)
        sp.max_corrupt = o->max_corrupt;
    double slot_seconds = 0;
    for (int v = 0; v < o->views; v++) {
        view_data *vd = &p->views[v];
        vd->start = o->start + slot_seconds * v / o->views;
        sp.start = vd->start;
        ovx_select_result *r = NULL;
        if (ovx_select_run(job->in->path, &sp, &r, &p->err) != OVX_OK)
            return ovx_prepared_fail(p, "select");
        if (v == 0 && o->views > 1) {
            double dur = r->stream.duration;
            if (dur <= 0 && r->stream.fps > 0)
                dur = (double)r->frames_decoded / r->stream.fps;
            dur = o->duration > 0 ? o->duration : dur - o->start; /* the sampled window */
            if (dur <= 0) {
                ovx_select_result_free(r);
                ovx_error_set(&p->err, OVX_EINPUT, "duration unknown, cannot offset views");
                return ovx_prepared_fail(p, "select");
            }
            slot_seconds = o->fps > 0 ? 1.0 / o->fps : dur / (o->uniform ? o->frames : OVX_SELECT_SLOTS);
        }
        vd->t_decode = r->timings.count_ms + r->timings.decode_ms;
        vd->t_select = r->timings.saliency_ms + r->timings.topk_ms;
        vd->t_frames = r->timings.frames_ms;
        vd->select_json = ovx_select_result_json(r, 1);
        double t0 = ovx_now_ms();
        int rc = vd->select_json ? video_tokens(ctx, p, vd, r, o->save_pixels && v == 0)
                                 : ovx_error_set(&p->err, OVX_ENOMEM, "out of memory");
        vd->t_cut = ovx_now_ms() - t0;
        ovx_select_result_free(r);
        if (rc != OVX_OK)
            return ovx_prepared_fail(p, "select");
        if (v > 0 && vd->tb.tokens.n != p->views[0].tb.tokens.n) {
            ovx_error_set(&p->err, OVX_EINPUT, "view %d has %d tokens, view 0 has %d", v,
                          vd->tb.tokens.n, p->views[0].tb.tokens.n);
            return ovx_prepared_fail(p, "select");
        }
    }
    return p;
}

ovx_prepared *ovx_extract_prepare(const ovx_extract_ctx *ctx, const ovx_extract_job *job)
{
    ovx_prepared *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    double t0 = ovx_now_ms();
    ovx_netio_take_abort(); /* nothing of an earlier item */
    if (ovx_path_is_image(job->in->rel)) /* rel: a URL's query is not its extension */
        prepare_image(ctx, job, p);
    else
        prepare_video(ctx, job, p);
    p->t_prepare = ovx_now_ms() - t0;
    return p;
}
