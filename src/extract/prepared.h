/* prepared.h: what the worker half of an item (item_prepare.c) hands to the
 * main thread: the views' tokens, the select reports, the saved pixels,
 * then the model's results (item_model.c) until they are written
 * (item_write.c); internal to src/extract. */
#ifndef OVX_EXTRACT_PREPARED_H
#define OVX_EXTRACT_PREPARED_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "common/error.h"
#include "extract/extract_item.h"
#include "model/tokens.h"

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

/* Marks p failed at stage (an input whose reads were ended on purpose gets
 * that error, netio.h); returns p. */
ovx_prepared *ovx_prepared_fail(ovx_prepared *p, const char *stage);
/* Frees the model's results (written, or failed). */
void ovx_prepared_drop_results(ovx_prepared *p);

#endif
