/* tokens.c: cut pixel tensors into 14x14 patch vectors (c, kh, kw order)
 * and give each token its (t, h, w) position (see tokens.h). */
#include "model/tokens.h"

#include <stdlib.h>
#include <string.h>

void ovx_token_buffer_free(ovx_token_buffer *b)
{
    if (!b)
        return;
    free(b->patches);
    free(b->pos);
    memset(b, 0, sizeof *b);
}

/* Copies the patch of sequence token v (frame t, row hp, column wp) of
 * sample s into dst[C*P*P]. */
typedef void (*cut_fn)(const void *src, int P, int s, int64_t v, int Hp, int Wp, float *dst);

static void cut_patch(const void *src, int P, int s, int64_t v, int Hp, int Wp, float *dst)
{
    const ovx_pixel_input *in = src;
    int64_t hw = (int64_t)Hp * Wp;
    int t = (int)(v / hw), hp = (int)((v / Wp) % Hp), wp = (int)(v % Wp);
    int64_t H = in->height, W = in->width, Tn = in->frames;
    for (int c = 0; c < in->channels; c++) {
        const float *plane = in->pixels + ((((int64_t)s * in->channels + c) * Tn + t) * H) * W;
        for (int kh = 0; kh < P; kh++) {
            const float *row = plane + (int64_t)(hp * P + kh) * W + (int64_t)wp * P;
            memcpy(dst, row, (size_t)P * sizeof(float));
            dst += P;
        }
    }
}

/* the same patch, from the RGB24 frame at its slot through the lut */
static void cut_patch_rgb(const void *src, int P, int s, int64_t v, int Hp, int Wp, float *dst)
{
    const ovx_rgb_input *in = src;
    (void)s;
    int64_t hw = (int64_t)Hp * Wp;
    int t = (int)(v / hw), hp = (int)((v / Wp) % Hp), wp = (int)(v % Wp);
    int f = in->frame_of[t], S = in->size;
    if (f < 0) {
        memset(dst, 0, (size_t)3 * P * P * sizeof(float));
        return;
    }
    const uint8_t *img = in->rgb + (size_t)f * S * S * 3;
    for (int c = 0; c < 3; c++) {
        const float *lut = in->lut[c];
        for (int kh = 0; kh < P; kh++) {
            const uint8_t *row = img + ((size_t)(hp * P + kh) * S + (size_t)wp * P) * 3 + c;
            for (int kw = 0; kw < P; kw++)
                dst[kw] = lut[row[3 * kw]];
            dst += P;
        }
    }
}

static int tokens_build(const ovx_model_config *cfg, const ovx_pixel_input *in, const void *src, cut_fn cut,
                        ovx_token_buffer *out, ovx_error *err);

int ovx_model_tokens_from_pixels(const ovx_model_config *cfg, const ovx_pixel_input *in, ovx_token_buffer *out,
                                 ovx_error *err)
{
    return tokens_build(cfg, in, in, cut_patch, out, err);
}

int ovx_model_tokens_from_rgb(const ovx_model_config *cfg, const ovx_rgb_input *in, ovx_token_buffer *out,
                              ovx_error *err)
{
    memset(out, 0, sizeof *out);
    if (!in->rgb || !in->frame_of || !in->lut || in->size <= 0)
        return ovx_error_set(err, OVX_EUSAGE, "empty RGB frame input");
    for (int t = 0; t < in->frames; t++)
        if (in->frame_of[t] >= in->n_rgb)
            return ovx_error_set(err, OVX_EUSAGE, "slot %d names frame %d of %d", t, in->frame_of[t], in->n_rgb);
    ovx_pixel_input shape = {.batch = 1, .channels = 3, .frames = in->frames, .height = in->size,
                             .width = in->size, .visible_indices = in->visible_indices,
                             .n_visible = in->n_visible};
    return tokens_build(cfg, &shape, in, cut_patch_rgb, out, err);
}

/* Shape checks, the token layout and positions of in; each patch from cut(src). */
static int tokens_build(const ovx_model_config *cfg, const ovx_pixel_input *in, const void *src, cut_fn cut,
                        ovx_token_buffer *out, ovx_error *err)
{
    memset(out, 0, sizeof *out);
    int P = cfg->patch_size;
    if (in->batch <= 0 || in->frames <= 0)
        return ovx_error_set(err, OVX_EUSAGE, "empty pixel tensor (batch %d, frames %d)", in->batch, in->frames);
    if (in->channels != cfg->num_channels)
        return ovx_error_set(err, OVX_EUSAGE, "pixel tensor has %d channels, the model wants %d", in->channels,
                             cfg->num_channels);
    if (in->height < P || in->width < P)
        return ovx_error_set(err, OVX_EUSAGE, "image %dx%d (HxW) is smaller than one %dx%d patch", in->height,
                             in->width, P, P);
    int Hp = in->height / P, Wp = in->width / P, T = in->frames;
    int64_t seq = (int64_t)T * Hp * Wp;
    if (seq > (1 << 24))
        return ovx_error_set(err, OVX_EUSAGE, "too many tokens (%lld)", (long long)seq);
    out->cropped = (in->height % P) || (in->width % P);
    out->used_height = Hp * P;
    out->used_width = Wp * P;
    out->grid_t = T;
    out->grid_h = Hp;
    out->grid_w = Wp;
    int64_t N = seq;
    if (!in->visible_indices) {
        out->mode = OVX_TOKENS_ALL;
        if (T > cfg->rope_temporal_size)
            return ovx_error_set(err, OVX_EUSAGE, "%d frames but the model has %d temporal slots", T,
                                 cfg->rope_temporal_size);
    } else {
        N = in->n_visible;
        if (N <= 0 || N > seq)
            return ovx_error_set(err, OVX_EUSAGE, "visible_indices has %d entries per sample, must be 1..%lld",
                                 in->n_visible, (long long)seq);
        out->mode = N == seq ? OVX_TOKENS_POSITIONS : OVX_TOKENS_GATHER;
        /* Positions mode may address any of the model's temporal slots;
         * gather mode indexes the input's own tokens. */
        int64_t limit = out->mode == OVX_TOKENS_POSITIONS ? (int64_t)cfg->rope_temporal_size * Hp * Wp : seq;
        for (int64_t i = 0; i < (int64_t)in->batch * N; i++) {
            int64_t v = in->visible_indices[i];
            if (v < 0 || v >= limit)
                return ovx_error_set(err, OVX_EUSAGE,
                                     "visible index %lld (sample %lld, entry %lld) out of range 0..%lld",
                                     (long long)v, (long long)(i / N), (long long)(i % N), (long long)limit - 1);
        }
    }
    int K = in->channels * P * P;
    out->patches = malloc((size_t)in->batch * (size_t)N * (size_t)K * sizeof(float));
    out->pos = malloc((size_t)in->batch * (size_t)N * 3 * sizeof(int32_t));
    if (!out->patches || !out->pos) {
        ovx_token_buffer_free(out);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory for %lld tokens", (long long)in->batch * N);
    }
    int64_t hw = (int64_t)Hp * Wp;
    for (int s = 0; s < in->batch; s++)
        for (int64_t i = 0; i < N; i++) {
            int64_t r = (int64_t)s * N + i;
            int64_t v = out->mode == OVX_TOKENS_GATHER ? in->visible_indices[r] : i;
            int64_t p = out->mode == OVX_TOKENS_ALL ? i : in->visible_indices[r];
            cut(src, P, s, v, Hp, Wp, out->patches + r * K);
            out->pos[3 * r] = (int32_t)(p / hw);
            out->pos[3 * r + 1] = (int32_t)((p / Wp) % Hp);
            out->pos[3 * r + 2] = (int32_t)(p % Wp);
        }
    out->tokens.batch = in->batch;
    out->tokens.n = (int)N;
    out->tokens.patches = out->patches;
    out->tokens.pos = out->pos;
    return OVX_OK;
}
