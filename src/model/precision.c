/* precision.c: which matmuls the CPU forward runs. oneDNN's (fp32, made on
 * first use) unless the build lacks it or OVX_CPU_GEMM=openblas asks for
 * OpenBLAS sgemm; `--precision bf16` prepares the 24 blocks' six linear
 * weights in bf16 once, which the forward then uses for every block matmul
 * and the attention (patch embedding, norms, RoPE, softmax, GELU, residuals
 * and the head stay fp32). */
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

ovx_mm *ovx_model_mm(ovx_model *m)
{
    if (m->mm_state == 0) {
        char why[200];
        const char *env = getenv("OVX_CPU_GEMM");
        ovx_error err;
        m->mm_state = -1;
        int threads = m->params.threads > 0 ? m->params.threads : ovx_default_threads();
        int def = ovx_default_threads();
        /* oneDNN for fp32 too unless OVX_CPU_GEMM=openblas; bf16 needs it.
         * oneDNN 2.x's fp32 JIT gemm points the stack pointer into the heap
         * while it runs, so a program that runs signal handlers on forward
         * threads must block them there (src/cli/signals.c does). */
        int want = m->bf16_requested || !env || strcmp(env, "openblas");
        if (want && ovx_mm_available(why, sizeof why) &&
            ovx_mm_create(threads > def ? threads : def, &m->mm, &err) == 0)
            m->mm_state = 1;
    }
    return m->mm;
}

void ovx_model_bf16_release(ovx_model *m, int free_mm)
{
    ovx_model_bf16 *b = m->bf16;
    if (b) {
        for (int i = 0; i < b->n_weights; i++)
            ovx_mm_weight_free(b->weights[i]);
        free(b->weights);
        free(b);
        m->bf16 = NULL;
    }
    if (free_mm) {
        ovx_mm_free(m->mm);
        m->mm = NULL;
        m->mm_state = 0;
    }
}

int ovx_model_set_precision(ovx_model *m, int precision, ovx_error *err)
{
    if (precision == OVX_PRECISION_FP32) {
        ovx_model_bf16_release(m, 0);
        return 0;
    }
    if (precision != OVX_PRECISION_BF16)
        return ovx_error_set(err, OVX_EUSAGE, "unknown precision %d", precision);
    if (m->bf16)
        return 0;
    char why[200];
    m->bf16_requested = 1;
    if (!ovx_mm_bf16_available(why, sizeof why))
        return ovx_error_set(err, OVX_EUNSUPPORTED, "--precision bf16: %s", why);
    ovx_mm *mm = ovx_model_mm(m);
    if (!mm)
        return ovx_error_set(err, OVX_EUNSUPPORTED, "--precision bf16 needs oneDNN's matmuls%s",
                             getenv("OVX_CPU_GEMM") ? " (OVX_CPU_GEMM asks for OpenBLAS)" : "");
    int L = m->cfg.num_layers, D = m->cfg.hidden_size, F = m->cfg.intermediate_size;
    ovx_model_bf16 *b = calloc(1, sizeof *b);
    if (!b || !(b->weights = calloc((size_t)L * OVX_BF16_PER_LAYER, sizeof *b->weights))) {
        free(b);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory for bf16 weights");
    }
    m->bf16 = b;
    for (int l = 0; l < L; l++) {
        const ovx_layer_weights *w = &m->w.layers[l];
        const float *src[OVX_BF16_PER_LAYER] = {w->q_proj_weight,   w->k_proj_weight, w->v_proj_weight,
                                                w->out_proj_weight, w->fc1_weight,    w->fc2_weight};
        const int out[OVX_BF16_PER_LAYER] = {D, D, D, D, F, D}, in[OVX_BF16_PER_LAYER] = {D, D, D, D, D, F};
        for (int i = 0; i < OVX_BF16_PER_LAYER; i++, b->n_weights++) {
            if (ovx_mm_weight_create(mm, src[i], out[i], in[i], &b->weights[b->n_weights], err)) {
                ovx_model_bf16_release(m, 0);
                return -1;
            }
            b->bytes += ovx_mm_weight_bytes(b->weights[b->n_weights]);
        }
    }
    return 0;
}
