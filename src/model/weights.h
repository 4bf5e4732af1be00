/* weights.h: the model's weights in float32, one pointer per checkpoint
 * tensor, named after it (see ../shared/spec/model.md for the shapes; D =
 * hidden_size, I = intermediate_size, C*P*P = patch vector length). All
 * pointers point into one allocation owned by ovx_model. The CUDA backend
 * mirrors this layout. Internal to the model stage and cuda/. */
#ifndef OVX_MODEL_WEIGHTS_H
#define OVX_MODEL_WEIGHTS_H

#include <stddef.h>

#include "model/model.h"

typedef struct ovx_layer_weights {
    float *layer_norm1_weight, *layer_norm1_bias;  /* [D] */
    float *q_proj_weight, *q_proj_bias;            /* [D,D], [D] */
    float *k_proj_weight, *k_proj_bias;            /* [D,D], [D] */
    float *v_proj_weight, *v_proj_bias;            /* [D,D], [D] */
    float *out_proj_weight, *out_proj_bias;        /* [D,D], [D] */
    float *layer_norm2_weight, *layer_norm2_bias;  /* [D] */
    float *fc1_weight, *fc1_bias;                  /* [I,D], [I] */
    float *fc2_weight, *fc2_bias;                  /* [D,I], [D] */
} ovx_layer_weights;

typedef struct ovx_head_weights {
    float *probe;                     /* [1,1,D] */
    float *in_proj_weight;            /* [3D,D] rows: q, k, v */
    float *in_proj_bias;              /* [3D] */
    float *out_proj_weight;           /* [D,D] */
    float *out_proj_bias;             /* [D] */
    float *norm_weight;               /* [D] RMSNorm */
    float *fc1_weight, *fc1_bias;     /* [I,D], [I] */
    float *fc2_weight, *fc2_bias;     /* [D,I], [D] */
} ovx_head_weights;

typedef struct ovx_weights {
    float *patch_embedding_weight;                       /* [D,C,P,P] (no bias) */
    float *layernorm_pre_weight, *layernorm_pre_bias;    /* [D] */
    ovx_layer_weights *layers;                           /* [num_layers] */
    float *layernorm_post_weight, *layernorm_post_bias;  /* [D] (use_head) */
    ovx_head_weights head;                               /* (use_head) */
} ovx_weights;

/* One checkpoint tensor: its name, shape and where its f32 copy lives. */
typedef struct ovx_weight_entry {
    char name[96];
    int ndim;
    int64_t shape[4];
    int64_t numel;
    float **slot;  /* the pointer in ovx_weights to set (NULL'd when the
                    * model keeps this weight in bf16 only) */
    int bf16_index; /* a block's linear weight: layer * 6 + (q, k, v, out,
                     * fc1, fc2) in the bf16 path's list; else -1 */
    char src_dtype[8];  /* dtype in the file it was loaded from ("" when random) */
} ovx_weight_entry;

/* Lists every tensor the config expects, in checkpoint order (embeddings,
 * layernorm_pre, layers, layernorm_post, head). *entries is malloc'd; w->layers
 * must already be allocated with cfg->num_layers entries. */
int ovx_weights_manifest(const ovx_model_config *cfg, ovx_weights *w, ovx_weight_entry **entries,
                         int *count, ovx_error *err);

#endif
