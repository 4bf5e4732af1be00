/* extract_item.c: one item of `ovx extract`. prepare (worker thread):
 * video -> ovx_select_run(keep_frames) -> normalised pixel tensor ->
 * tokens (the same ovx_model_tokens_from_pixels `ovx forward` uses), or
 * image -> RGB -> shortest edge 448 + centre crop (or native) -> tokens.
 * finish (main thread): the forward on the --device engine, then the NPY files and the JSON
 * (last, so its presence means the item is complete). */
#include "extract/extract_item.h"

#include <stdlib.h>
#include <string.h>

#include "extract/outlayout.h"
#include "extract/resume.h"
#include "extract/wds.h"
#include "common/timer.h"
#include "engine/engine.h"
#include "io/atomic_file.h"
#include "io/json_ints.h"
#include "io/json_utf8.h"
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

typedef struct view_data {
    ovx_token_buffer tb;      /* patches + positions for the model */
    cJSON *select_json;       /* video: the select report (with timings) */
    double start;             /* video: start offset of this view (s) */
    double t_decode, t_select, t_frames, t_cut;
} view_data;

struct ovx_prepared {
    int failed;
    const char *stage;
    ovx_error err;
    int is_image;
    int n_views;
    view_data *views;
    cJSON *image_json;        /* image: size, crop, grid */
    /* --save-pixels: the first view's model input */
    float *pixels;            /* [1, 3, T, H, W] */
    int64_t pix_shape[5];
    int64_t *indices;         /* [1, n_indices] or NULL */
    int64_t n_indices;
    double t_prepare;
    /* model results (ovx_extract_model_batch): [V,N,D], [V,D], [V,N,D] */
    int model_done;
    float *tokens, *pooled, *hidden;
    double t_model;           /* this item's share (by tokens) of its batch's forward */
    int batch_items;          /* items in that forward */
};

void ovx_prepared_free(ovx_prepared *p)
{
    if (!p)
        return;
    for (int v = 0; v < p->n_views; v++) {
        ovx_token_buffer_free(&p->views[v].tb);
        cJSON_Delete(p->views[v].select_json);
    }
    free(p->views);
    cJSON_Delete(p->image_json);
    free(p->pixels);
    free(p->indices);
    free(p->tokens);
    free(p->pooled);
    free(p->hidden);
    free(p);
}

double ovx_prepared_seconds(const ovx_prepared *p)
{
    return p ? (p->t_prepare + p->t_model) / 1000.0 : 0.0;
}

static ovx_prepared *fail(ovx_prepared *p, const char *stage)
{
    int why = ovx_netio_take_abort(); /* the input's reads were ended on purpose (netio.h) */
    if (why == OVX_NETIO_STOPPED)
        ovx_error_set(&p->err, OVX_EINTERRUPTED, "interrupted");
    else if (why == OVX_NETIO_TOO_SLOW)
        ovx_error_set(&p->err, OVX_EIO, "timed out: read slower than %.0f bytes/s on average after %g s",
                      OVX_NETIO_MIN_RATE, ovx_netio_timeout());
    p->failed = 1;
    p->stage = stage;
    return p;
}

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
        return fail(p, "decode");
    }
    view_data *vd = &p->views[0];
    double t0 = ovx_now_ms();
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    if (ovx_image_load_rgb(job->in->path, MAX_IMAGE_PIXELS, &rgb, &w, &h, &p->err) != OVX_OK)
        return fail(p, "decode");
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
            return fail(p, "decode");
        }
        if ((int64_t)(H / P) * (W / P) > o->max_tokens) { /* one huge photo must not stall a run */
            free(rgb);
            ovx_error_set(&p->err, OVX_EINPUT, "image %dx%d gives %lld tokens at its native size, more than "
                          "--max-tokens %d", w, h, (long long)(H / P) * (W / P), o->max_tokens);
            return fail(p, "decode");
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
            return fail(p, "decode");
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
        return fail(p, "decode");
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
    return rc == OVX_OK ? p : fail(p, "decode");
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
        return fail(p, "decode");
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
            return fail(p, "select");
        if (v == 0 && o->views > 1) {
            double dur = r->stream.duration;
            if (dur <= 0 && r->stream.fps > 0)
                dur = (double)r->frames_decoded / r->stream.fps;
            dur = o->duration > 0 ? o->duration : dur - o->start; /* the sampled window */
            if (dur <= 0) {
                ovx_select_result_free(r);
                ovx_error_set(&p->err, OVX_EINPUT, "duration unknown, cannot offset views");
                return fail(p, "select");
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
            return fail(p, "select");
        if (v > 0 && vd->tb.tokens.n != p->views[0].tb.tokens.n) {
            ovx_error_set(&p->err, OVX_EINPUT, "view %d has %d tokens, view 0 has %d", v,
                          vd->tb.tokens.n, p->views[0].tb.tokens.n);
            return fail(p, "select");
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

/* ---- finish: model + outputs ---- */

static const char *dtype_name(ovx_dtype t)
{
    switch (t) {
    case OVX_DTYPE_F32: return "float32";
    case OVX_DTYPE_F16: return "float16";
    case OVX_DTYPE_BF16: return "bfloat16"; /* stored as NPY uint16 */
    case OVX_DTYPE_I64: return "int64";
    default: return "?";
    }
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Writes one NPY and records it under outputs[key]. */
static int write_output(cJSON *outputs, const char *key, const char *path, ovx_dtype dtype, int ndim,
                        const int64_t *shape, const void *data, ovx_error *err)
{
    int rc;
    if (dtype == OVX_DTYPE_I64)
        rc = ovx_npy_write(path, dtype, ndim, shape, data, err);
    else
        rc = ovx_npy_write_f32_as(path, dtype, ndim, shape, data, err);
    if (rc)
        return rc;
    cJSON *o = cJSON_AddObjectToObject(outputs, key);
    cJSON_AddStringToObject(o, "file", base_name(path));
    cJSON_AddStringToObject(o, "dtype", dtype_name(dtype));
    cJSON *s = cJSON_AddArrayToObject(o, "shape");
    for (int i = 0; i < ndim; i++)
        cJSON_AddItemToArray(s, cJSON_CreateNumber((double)shape[i]));
    return OVX_OK;
}

/* [[t, h, w], ...] per token, as pre-printed text */
static cJSON *positions_json(const ovx_token_buffer *tb)
{
    return ovx_json_ints_raw(tb->pos, 4, (size_t)tb->tokens.n * 3, 3);
}

static char *out_base_rel(const ovx_extract_opts *o, const char *base)
{
    size_t dl = strlen(o->out_dir);
    while (dl > 1 && o->out_dir[dl - 1] == '/')
        dl--;
    return strdup(base + dl + 1); /* base is DIR/REL-without-extension */
}

cJSON *ovx_extract_manifest_from_json(const cJSON *j)
{
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(j, "input");
    const cJSON *rel = cJSON_GetObjectItemCaseSensitive(j, "rel");
    const cJSON *ob = cJSON_GetObjectItemCaseSensitive(j, "out_base");
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(j, "outputs");
    const cJSON *hash = cJSON_GetObjectItemCaseSensitive(j, "settings_hash");
    if (!cJSON_IsString(path) || !cJSON_IsString(rel) || !cJSON_IsString(ob) || !cJSON_IsObject(outs) ||
        !cJSON_IsString(hash))
        return NULL;
    const cJSON *label = cJSON_GetObjectItemCaseSensitive(j, "label");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(j, "kind");
    char dir[4096] = "";
    const char *slash = strrchr(ob->valuestring, '/');
    if (slash)
        snprintf(dir, sizeof dir, "%.*s/", (int)(slash - ob->valuestring), ob->valuestring);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "path", path->valuestring);
    cJSON_AddStringToObject(m, "rel", rel->valuestring);
    if (cJSON_IsString(kind))
        cJSON_AddStringToObject(m, "kind", kind->valuestring);
    if (cJSON_IsString(label))
        cJSON_AddStringToObject(m, "label", label->valuestring);
    else
        cJSON_AddNullToObject(m, "label");
    char buf[8192];
    snprintf(buf, sizeof buf, "%s.json", ob->valuestring);
    cJSON_AddStringToObject(m, "json", buf);
    cJSON *mo = cJSON_AddObjectToObject(m, "outputs");
    for (const cJSON *o = outs->child; o; o = o->next) {
        const cJSON *file = cJSON_GetObjectItemCaseSensitive(o, "file");
        if (!cJSON_IsString(file) || !o->string)
            continue;
        cJSON *e = cJSON_AddObjectToObject(mo, o->string);
        snprintf(buf, sizeof buf, "%s%s", dir, file->valuestring);
        cJSON_AddStringToObject(e, "file", buf);
        cJSON_AddItemToObject(e, "dtype", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(o, "dtype"), 1));
        cJSON_AddItemToObject(e, "shape", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(o, "shape"), 1));
    }
    cJSON_AddStringToObject(m, "settings_hash", hash->valuestring);
    return m;
}

static void drop_results(ovx_prepared *p)
{
    free(p->tokens);
    free(p->pooled);
    free(p->hidden);
    p->tokens = p->pooled = p->hidden = NULL;
}

/* One padding-free forward over every view of items[0..n) (a sample per
 * view, in item then view order, packed by the engine: on CUDA straight
 * into its page-locked slot), in flight between fwd_submit and fwd_collect
 * (the views' buffers live in the items until then), then each item's
 * slices copied into its own [V,N,D] / [V,D] buffers. On the CPU
 * (ovx_model_forward_packed) each sample's rows go through the same fixed
 * row chunks as a lone item's, so the results do not depend on the
 * batching. */
typedef struct packed_fwd {
    ovx_prepared **items;
    size_t n, samples, total;
    int *lengths;
    const float **patches;   /* [samples]: each view's own buffers (the engine packs them) */
    const int32_t **pos;
    int ticket;
} packed_fwd;

static void fwd_free(packed_fwd *f)
{
    free(f->lengths);
    free(f->patches);
    free(f->pos);
    f->lengths = NULL;
    f->patches = NULL;
    f->pos = NULL;
}

static int fwd_submit(const ovx_extract_ctx *ctx, ovx_prepared **items, size_t n, packed_fwd *f, ovx_error *err)
{
    memset(f, 0, sizeof *f);
    f->items = items;
    f->n = n;
    size_t samples = 0, total = 0;
    for (size_t i = 0; i < n; i++)
        for (int v = 0; v < items[i]->n_views; v++) {
            const ovx_tokens *t = &items[i]->views[v].tb.tokens;
            if (t->batch != 1 || t->n < 1)
                return ovx_error_set(err, OVX_EINTERNAL, "view with %d x %d tokens", t->batch, t->n);
            samples++;
            total += (size_t)t->n;
        }
    if (samples > 65536)
        return ovx_error_set(err, OVX_EUSAGE, "%zu samples in one batch", samples);
    f->samples = samples;
    f->total = total;
    f->lengths = malloc(samples * sizeof *f->lengths);
    f->patches = malloc(samples * sizeof *f->patches);
    f->pos = malloc(samples * sizeof *f->pos);
    if (!f->lengths || !f->patches || !f->pos) {
        fwd_free(f);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    }
    size_t s = 0;
    for (size_t i = 0; i < n; i++)
        for (int v = 0; v < items[i]->n_views; v++, s++) {
            const ovx_tokens *t = &items[i]->views[v].tb.tokens;
            f->lengths[s] = t->n;
            f->patches[s] = t->patches;
            f->pos[s] = t->pos;
        }
    int rc = ovx_engine_submit_gather(ctx->engine, (int)samples, f->lengths, f->patches, f->pos,
                                      ctx->opts->hidden_index, &f->ticket, err);
    if (rc)
        fwd_free(f);
    return rc;
}

static int fwd_collect(const ovx_extract_ctx *ctx, packed_fwd *f, ovx_error *err)
{
    const size_t D = (size_t)ovx_model_get_config(ctx->model)->hidden_size;
    ovx_outputs out = {.hidden_state_index = ctx->opts->hidden_index};
    int rc = ovx_engine_collect(ctx->engine, f->ticket, &out, err);
    fwd_free(f);
    if (rc == OVX_OK) /* a NaN/Inf fails the batch, then (retried alone) only its item */
        rc = ovx_outputs_check_finite(&out, (int64_t)f->samples, (int64_t)f->total, (int)D, "model forward", err);
    size_t s = 0, off = 0;
    for (size_t i = 0; i < f->n && rc == OVX_OK; i++) {
        ovx_prepared *p = f->items[i];
        size_t V = (size_t)p->n_views, N = (size_t)p->views[0].tb.tokens.n;
        p->tokens = malloc(V * N * D * sizeof(float));
        p->pooled = out.pooler_output ? malloc(V * D * sizeof(float)) : NULL;
        p->hidden = out.hidden_state ? malloc(V * N * D * sizeof(float)) : NULL;
        if (!p->tokens || (out.pooler_output && !p->pooled) || (out.hidden_state && !p->hidden)) {
            rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
            break;
        }
        for (size_t v = 0; v < V; v++, s++) { /* views of one item have the same N */
            memcpy(p->tokens + v * N * D, out.last_hidden_state + off * D, N * D * sizeof(float));
            if (p->hidden)
                memcpy(p->hidden + v * N * D, out.hidden_state + off * D, N * D * sizeof(float));
            if (p->pooled)
                memcpy(p->pooled + v * D, out.pooler_output + s * D, D * sizeof(float));
            off += N;
        }
    }
    ovx_outputs_free(&out);
    if (rc != OVX_OK)
        for (size_t i = 0; i < f->n; i++)
            drop_results(f->items[i]);
    return rc;
}

static int forward_items(const ovx_extract_ctx *ctx, ovx_prepared **items, size_t n, ovx_error *err)
{
    packed_fwd f;
    int rc = fwd_submit(ctx, items, n, &f, err);
    return rc ? rc : fwd_collect(ctx, &f, err);
}

static size_t item_tokens(const ovx_prepared *p)
{
    return (size_t)p->n_views * (size_t)p->views[0].tb.tokens.n;
}

struct ovx_extract_batch {
    ovx_prepared **live;      /* the items that need the forward */
    size_t m, total;
    packed_fwd f;
    int rc;                   /* the submit's */
    ovx_error err;
    double t0;
};

ovx_extract_batch *ovx_extract_model_submit(const ovx_extract_ctx *ctx, ovx_prepared **items, size_t n)
{
    ovx_extract_batch *b = calloc(1, sizeof *b);
    ovx_prepared **live = malloc((n ? n : 1) * sizeof *live);
    if (!b || !live) {
        free(b);
        free(live);
        for (size_t i = 0; i < n; i++)
            if (items[i] && !items[i]->failed && !items[i]->model_done) {
                ovx_error_set(&items[i]->err, OVX_ENOMEM, "out of memory");
                fail(items[i], "model");
            }
        return NULL;
    }
    b->live = live;
    for (size_t i = 0; i < n; i++) {
        ovx_prepared *p = items[i];
        if (!p || p->failed || p->model_done)
            continue;
        live[b->m++] = p;
        b->total += item_tokens(p);
    }
    ovx_error_clear(&b->err);
    b->t0 = ovx_now_ms();
    b->rc = b->m ? fwd_submit(ctx, live, b->m, &b->f, &b->err) : OVX_OK;
    return b;
}

void ovx_extract_model_collect(const ovx_extract_ctx *ctx, ovx_extract_batch *b)
{
    if (!b)
        return;
    const size_t m = b->m;
    ovx_prepared **live = b->live;
    ovx_error err = b->err;
    int rc = b->rc;
    if (rc == OVX_OK && m)
        rc = fwd_collect(ctx, &b->f, &err);
    double ms = ovx_now_ms() - b->t0;
    for (size_t i = 0; i < m && rc == OVX_OK; i++) {
        live[i]->model_done = 1;
        live[i]->t_model = ms * (double)item_tokens(live[i]) / (double)b->total;
        live[i]->batch_items = (int)m;
    }
    /* the batch failed: each item on its own, so a failure stays with its item */
    for (size_t i = 0; i < m && rc != OVX_OK; i++) {
        ovx_prepared *p = live[i];
        ovx_error one = err;
        double t0 = ovx_now_ms();
        if (m > 1)
            ovx_error_clear(&one);
        if (rc != OVX_EINTERRUPTED && m > 1 && forward_items(ctx, &p, 1, &one) == OVX_OK) {
            p->model_done = 1;
            p->t_model = ovx_now_ms() - t0;
            p->batch_items = 1;
        } else {
            p->err = rc == OVX_EINTERRUPTED ? err : one;
            fail(p, "model");
        }
    }
    free(live);
    free(b);
}

void ovx_extract_model_batch(const ovx_extract_ctx *ctx, ovx_prepared **items, size_t n)
{
    ovx_extract_model_collect(ctx, ovx_extract_model_submit(ctx, items, n));
}

static int write_outputs(const ovx_extract_ctx *ctx, const ovx_extract_job *job, ovx_prepared *p, const float *tokens,
                         const float *pooled, const float *hidden, cJSON *outputs, ovx_error *err)
{
    const ovx_extract_opts *o = ctx->opts;
    const ovx_model_config *cfg = ovx_model_get_config(ctx->model);
    int64_t N = p->views[0].tb.tokens.n, D = cfg->hidden_size, V = p->n_views;
    int lead = V > 1; /* leading view axis */
    int64_t tshape[3] = {V, N, D}, pshape[2] = {V, D};
    char path[4200];
    int rc = ovx_mkdirs_for(job->base, err);
    if (!rc && !o->pooled_only && !(rc = ovx_out_path(job->base, OVX_OUT_TOKENS, 0, path, sizeof path, err)))
        rc = write_output(outputs, "tokens", path, o->dtype, 2 + lead, tshape + !lead, tokens, err);
    if (!rc && pooled && !(rc = ovx_out_path(job->base, OVX_OUT_POOLED, 0, path, sizeof path, err)))
        rc = write_output(outputs, "pooled", path, OVX_DTYPE_F32, 1 + lead, pshape + !lead, pooled, err);
    if (!rc && hidden &&
        !(rc = ovx_out_path(job->base, OVX_OUT_HIDDEN, o->hidden_index, path, sizeof path, err)))
        rc = write_output(outputs, "hidden", path, o->dtype, 2 + lead, tshape + !lead, hidden, err);
    if (!rc && p->pixels) {
        snprintf(path, sizeof path, "%s.pixels.npy", job->base);
        rc = write_output(outputs, "pixels", path, OVX_DTYPE_F32, 5, p->pix_shape, p->pixels, err);
        if (!rc && p->indices) {
            int64_t ishape[2] = {1, p->n_indices};
            snprintf(path, sizeof path, "%s.indices.npy", job->base);
            rc = write_output(outputs, "indices", path, OVX_DTYPE_I64, 2, ishape, p->indices, err);
        }
    }
    if (!rc && cJSON_GetArraySize(outputs) == 0)
        rc = ovx_error_set(err, OVX_EUSAGE, "nothing to write: --pooled-only with a model without a head");
    return rc;
}

/* --format wds: the arrays as members KEY.SUFFIX of the open shard. */
static int write_members(const ovx_extract_ctx *ctx, const ovx_extract_job *job, ovx_prepared *p, char *key,
                         size_t key_cap, cJSON *outputs, ovx_error *err)
{
    const ovx_extract_opts *o = ctx->opts;
    int64_t N = p->views[0].tb.tokens.n, D = ovx_model_get_config(ctx->model)->hidden_size, V = p->n_views;
    int lead = V > 1;
    int64_t tshape[3] = {V, N, D}, pshape[2] = {V, D}, ishape[2] = {1, p->n_indices};
    char *ob = out_base_rel(o, job->base);
    if (!ob || ovx_wds_key(ob, key, key_cap)) {
        free(ob);
        return ovx_error_set(err, OVX_EUSAGE, "%s: no tar member key for it", job->in->rel);
    }
    free(ob);
    ovx_wds *w = ctx->wds;
    int rc = ovx_wds_item_begin(w, key, err);
    if (rc)
        return rc;
    char hidden[32];
    snprintf(hidden, sizeof hidden, "hidden_%d.npy", o->hidden_index);
    if (!rc && !o->pooled_only)
        rc = ovx_wds_item_npy(w, "tokens.npy", o->dtype, 2 + lead, tshape + !lead, p->tokens, outputs, "tokens",
                              dtype_name(o->dtype), err);
    if (!rc && p->pooled)
        rc = ovx_wds_item_npy(w, "pooled.npy", OVX_DTYPE_F32, 1 + lead, pshape + !lead, p->pooled, outputs,
                              "pooled", "float32", err);
    if (!rc && p->hidden)
        rc = ovx_wds_item_npy(w, hidden, o->dtype, 2 + lead, tshape + !lead, p->hidden, outputs, "hidden",
                              dtype_name(o->dtype), err);
    if (!rc && p->pixels)
        rc = ovx_wds_item_npy(w, "pixels.npy", OVX_DTYPE_F32, 5, p->pix_shape, p->pixels, outputs, "pixels",
                              "float32", err);
    if (!rc && p->pixels && p->indices)
        rc = ovx_wds_item_npy(w, "indices.npy", OVX_DTYPE_I64, 2, ishape, p->indices, outputs, "indices", "int64",
                              err);
    if (!rc && cJSON_GetArraySize(outputs) == 0)
        rc = ovx_error_set(err, OVX_EUSAGE, "nothing to write: --pooled-only with a model without a head");
    if (rc)
        ovx_wds_item_abort(w);
    return rc;
}

static cJSON *item_json(const ovx_extract_ctx *ctx, const ovx_extract_job *job, ovx_prepared *p, cJSON *outputs)
{
    const ovx_extract_opts *o = ctx->opts;
    const ovx_model_config *cfg = ovx_model_get_config(ctx->model);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "ovx_version", OVX_VERSION);
    cJSON_AddStringToObject(j, "input", job->in->path);
    cJSON_AddStringToObject(j, "rel", job->in->rel);
    char *ob = out_base_rel(o, job->base);
    cJSON_AddStringToObject(j, "out_base", ob ? ob : "");
    free(ob);
    cJSON_AddStringToObject(j, "kind", p->is_image ? "image" : "video");
    if (job->in->label)
        cJSON_AddStringToObject(j, "label", job->in->label);
    else
        cJSON_AddNullToObject(j, "label");
    cJSON *m = cJSON_AddObjectToObject(j, "model");
    cJSON_AddStringToObject(m, "id", o->model_arg);
    cJSON_AddStringToObject(m, "path", o->model_dir);
    cJSON_AddStringToObject(m, "weights_checksum", ctx->model_checksum);
    cJSON_AddStringToObject(m, "fingerprint", o->model_fingerprint);
    cJSON_AddNumberToObject(m, "hidden_size", cfg->hidden_size);
    cJSON_AddNumberToObject(m, "num_layers", cfg->num_layers);
    cJSON_AddBoolToObject(m, "use_head", cfg->use_head);
    cJSON *s = cJSON_AddObjectToObject(j, "settings");
    cJSON_AddStringToObject(s, "sampling", o->uniform ? "uniform" : "codec");
    cJSON_AddNumberToObject(s, "frames", o->frames);
    cJSON_AddNumberToObject(s, "tokens", o->tokens);
    cJSON_AddNumberToObject(s, "views", p->n_views);
    cJSON_AddStringToObject(s, "mv_source", ovx_mv_source_name((ovx_mv_source)o->mv_source));
    cJSON_AddStringToObject(s, "iframe_policy", ovx_iframe_policy_name((ovx_iframe_policy)o->iframe_policy));
    cJSON_AddNumberToObject(s, "fps", o->fps);
    cJSON_AddNumberToObject(s, "start", o->start);
    cJSON_AddNumberToObject(s, "duration", o->duration);
    cJSON_AddBoolToObject(s, "native", o->native);
    cJSON_AddBoolToObject(s, "pooled_only", o->pooled_only);
    if (o->hidden_index != OVX_NO_HIDDEN_STATE)
        cJSON_AddNumberToObject(s, "hidden_state", o->hidden_index);
    else
        cJSON_AddNullToObject(s, "hidden_state");
    cJSON_AddStringToObject(s, "canonical", o->settings_str);
    cJSON_AddStringToObject(j, "settings_hash", o->settings_hash);
    cJSON_AddStringToObject(j, "device", ctx->device);
    if (ctx->precision)
        cJSON_AddStringToObject(j, "precision", ctx->precision);
    cJSON_AddStringToObject(j, "dtype", dtype_name(o->dtype));
    cJSON_AddNumberToObject(j, "n_tokens", p->views[0].tb.tokens.n);
    cJSON_AddItemToObject(j, "outputs", outputs);
    if (p->image_json) {
        cJSON_AddItemToObject(j, "image", p->image_json);
        p->image_json = NULL;
    }
    if (p->n_views == 1) {
        cJSON_AddItemToObject(j, "positions", positions_json(&p->views[0].tb));
        if (p->views[0].select_json) {
            cJSON_AddItemToObject(j, "select", p->views[0].select_json);
            p->views[0].select_json = NULL;
        }
    } else {
        cJSON *va = cJSON_AddArrayToObject(j, "views");
        for (int v = 0; v < p->n_views; v++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "view", v);
            cJSON_AddNumberToObject(e, "start_seconds", p->views[v].start);
            cJSON_AddItemToObject(e, "positions", positions_json(&p->views[v].tb));
            if (p->views[v].select_json) {
                cJSON_AddItemToObject(e, "select", p->views[v].select_json);
                p->views[v].select_json = NULL;
            }
            cJSON_AddItemToArray(va, e);
        }
    }
    return j;
}

int ovx_extract_finish(const ovx_extract_ctx *ctx, const ovx_extract_job *job, ovx_prepared *p, cJSON **record,
                       const char **stage, ovx_error *err)
{
    *record = NULL;
    if (!p->failed && !p->model_done) /* not run in a batch: a batch of one */
        ovx_extract_model_batch(ctx, &p, 1);
    if (p->failed) {
        *stage = p->stage;
        *err = p->err;
        return err->code ? err->code : OVX_EINTERNAL;
    }
    double t1 = ovx_now_ms();
    cJSON *outputs = cJSON_CreateObject();
    *stage = "write";
    char key[4200] = "";
    if (!ctx->wds) /* outputs of earlier settings (or a half-done rewrite) go first */
        ovx_resume_remove_outputs(job->base, ctx->opts->hidden_index);
    int rc = ctx->wds ? write_members(ctx, job, p, key, sizeof key, outputs, err)
                      : write_outputs(ctx, job, p, p->tokens, p->pooled, p->hidden, outputs, err);
    drop_results(p);
    if (rc != OVX_OK) {
        cJSON_Delete(outputs);
        return rc;
    }
    cJSON *j = item_json(ctx, job, p, outputs);
    cJSON *tm = cJSON_AddObjectToObject(j, "timings_ms");
    double dec = 0, sel = 0, frm = 0, cut = 0;
    for (int v = 0; v < p->n_views; v++) {
        dec += p->views[v].t_decode;
        sel += p->views[v].t_select;
        frm += p->views[v].t_frames;
        cut += p->views[v].t_cut;
    }
    cJSON_AddNumberToObject(tm, "decode", dec);
    cJSON_AddNumberToObject(tm, "select", sel);
    cJSON_AddNumberToObject(tm, "frames", frm);
    cJSON_AddNumberToObject(tm, "tokens", cut);
    cJSON_AddNumberToObject(tm, "prepare", p->t_prepare);
    cJSON_AddNumberToObject(tm, "model", p->t_model);
    cJSON_AddNumberToObject(tm, "model_batch_items", p->batch_items);
    double t2 = ovx_now_ms();
    cJSON_AddNumberToObject(tm, "write", t2 - t1);
    if (ctx->wds)
        cJSON_AddStringToObject(j, "key", key);
    *record = ctx->wds ? NULL : ovx_extract_manifest_from_json(j); /* the exact bytes of the names */
    char *text = ovx_json_make_utf8(j) == 0 ? cJSON_Print(j) : NULL;
    char path[4200];
    if (!text) {
        rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
        if (ctx->wds)
            ovx_wds_item_abort(ctx->wds);
    } else if (ctx->wds) {
        size_t len = strlen(text);
        char *nl = realloc(text, len + 2);   /* cJSON_Print's buffer ends at the NUL */
        if (nl) {
            text = nl;
            memcpy(text + len, "\n", 2);
        }
        rc = nl ? ovx_wds_item_end(ctx->wds, text, ovx_wds_record(j, key, NULL), err)
                : ovx_error_set(err, OVX_ENOMEM, "out of memory");
        if (rc)
            ovx_wds_item_abort(ctx->wds);
    } else if (!(rc = ovx_out_path(job->base, OVX_OUT_JSON, 0, path, sizeof path, err))) {
        size_t len = strlen(text);
        text[len] = '\n';
        rc = ovx_atomic_write(path, text, len + 1, err);
    }
    free(text);
    cJSON_Delete(j);
    if (rc != OVX_OK) {
        cJSON_Delete(*record);
        *record = NULL;
    }
    if (rc == OVX_OK && !*record && !ctx->wds)
        rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
    return rc;
}
