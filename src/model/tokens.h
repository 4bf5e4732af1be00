/* tokens.h: pixel tensors -> the forward's tokens (patches + positions), as
 * the spec's step 1 and 3 describe: [B,3,H,W] images or [B,3,T,H,W] videos,
 * optional visible_indices [B,N] in its two modes (positions only when
 * N == T*Hp*Wp, gather when shorter). */
#ifndef OVX_MODEL_TOKENS_H
#define OVX_MODEL_TOKENS_H

#include <stdint.h>

#include "model/model.h"

typedef struct ovx_pixel_input {
    const float *pixels;            /* [B, C, T, H, W] (an image is T = 1) */
    int batch, channels, frames, height, width;
    const int64_t *visible_indices; /* [B, n_visible] or NULL */
    int n_visible;
} ovx_pixel_input;

enum ovx_token_mode { OVX_TOKENS_ALL = 0, OVX_TOKENS_POSITIONS = 1, OVX_TOKENS_GATHER = 2 };

typedef struct ovx_token_buffer {
    ovx_tokens tokens;   /* points at patches / pos below */
    float *patches;      /* [B, N, C*P*P] */
    int32_t *pos;        /* [B, N, 3] */
    int mode;            /* enum ovx_token_mode */
    int cropped;         /* 1 when H or W was cut down to a multiple of P */
    int used_height, used_width;  /* after the crop */
    int grid_t, grid_h, grid_w;   /* T, Hp, Wp */
} ovx_token_buffer;

/* Builds tokens; errors (bad shapes, indices out of range, too many frames)
 * name the offending value. Free with ovx_token_buffer_free. */
OVX_API int ovx_model_tokens_from_pixels(const ovx_model_config *cfg, const ovx_pixel_input *in, ovx_token_buffer *out,
                                 ovx_error *err);
OVX_API void ovx_token_buffer_free(ovx_token_buffer *b);

/* The same tokens as ovx_model_tokens_from_pixels on a [1, 3, T, S, S]
 * tensor whose frame t is lut[c][rgb byte] of RGB24 frame frame_of[t] (a
 * zero frame when frame_of[t] < 0), without building that tensor: patches
 * are cut straight from the frames (identical floats). */
typedef struct ovx_rgb_input {
    const uint8_t *rgb;             /* [n_rgb, S, S, 3] RGB24 */
    int n_rgb, size;                /* n_rgb frames of S x S */
    const int *frame_of;            /* [frames] index into rgb, or -1 */
    int frames;                     /* T */
    const float (*lut)[256];        /* [3][256] the value of each byte per channel */
    const int64_t *visible_indices; /* [n_visible] or NULL */
    int n_visible;
} ovx_rgb_input;

int ovx_model_tokens_from_rgb(const ovx_model_config *cfg, const ovx_rgb_input *in, ovx_token_buffer *out,
                              ovx_error *err);

#endif
