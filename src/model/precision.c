/* precision.c: `--precision fp32|bf16` of the CPU forward: bf16 prepares a
 * oneDNN context and the 24 blocks' six linear weights in bf16 once, which
 * the forward then uses for every block matmul and the attention (patch
 * embedding, norms, RoPE, softmax, GELU, residuals and the head stay fp32). */
#include <stdlib.h>
#include <string.h>

#include "common/threads.h"
#include "model/model_internal.h"

const char *ovx_precision_name(int precision)
{
    return precision == OVX_PRECISION_BF16 ? "bf16" : "fp32";
}

int ovx_precision_parse(const char *s, int *precision)
{
    if (!strcmp(s, "fp32") || !strcmp(s, "f32"))
        *precision = OVX_PRECISION_FP32;
    else if (!strcmp(s, "bf16"))
        *precision = OVX_PRECISION_BF16;
    else
        return -1;
    return 0;
}

void ovx_model_bf16_release(ovx_model *m)
{
    ovx_model_bf16 *b = m->bf16;
    if (!b)
        return;
    for (int i = 0; i < b->n_weights; i++)
        ovx_bf16_weight_free(b->weights[i]);
    free(b->weights);
    ovx_bf16_ctx_free(b->ctx);
    free(b);
    m->bf16 = NULL;
}

int ovx_model_set_precision(ovx_model *m, int precision, ovx_error *err)
{
    if (precision == OVX_PRECISION_FP32) {
        ovx_model_bf16_release(m);
        return 0;
    }
    if (precision != OVX_PRECISION_BF16)
        return ovx_error_set(err, OVX_EUSAGE, "unknown precision %d", precision);
    if (m->bf16)
        return 0;
    int L = m->cfg.num_layers, D = m->cfg.hidden_size, F = m->cfg.intermediate_size;
    ovx_model_bf16 *b = calloc(1, sizeof *b);
    if (!b || !(b->weights = calloc((size_t)L * OVX_BF16_PER_LAYER, sizeof *b->weights))) {
        free(b);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory for bf16 weights");
    }
    m->bf16 = b;
    int threads = m->params.threads > 0 ? m->params.threads : ovx_default_threads();
    if (ovx_bf16_ctx_create(threads, &b->ctx, err))
        goto fail;
    for (int l = 0; l < L; l++) {
        const ovx_layer_weights *w = &m->w.layers[l];
        const float *src[OVX_BF16_PER_LAYER] = {w->q_proj_weight,   w->k_proj_weight, w->v_proj_weight,
                                                w->out_proj_weight, w->fc1_weight,    w->fc2_weight};
        const int out[OVX_BF16_PER_LAYER] = {D, D, D, D, F, D}, in[OVX_BF16_PER_LAYER] = {D, D, D, D, D, F};
        for (int i = 0; i < OVX_BF16_PER_LAYER; i++, b->n_weights++) {
            if (ovx_bf16_weight_create(b->ctx, src[i], out[i], in[i], &b->weights[b->n_weights], err))
                goto fail;
            b->bytes += ovx_bf16_weight_bytes(b->weights[b->n_weights]);
        }
    }
    return 0;
fail:
    ovx_model_bf16_release(m);
    return -1;
}
