/* precision.c: which matmuls the CPU forward runs. oneDNN's (fp32, made on
 * first use) unless the build lacks it or OVX_CPU_GEMM=openblas asks for
 * OpenBLAS sgemm; `--precision bf16` prepares
 * the 24 blocks' six linear weights in bf16 once (from the f32 weights, or
 * tensor by tensor while loading: ovx_model_params.precision), which the
 * forward then uses for every block matmul and the attention. The rest
 * follows the CUDA path's numerics too: the patch embedding's inputs rounded
 * to bf16 (forward.c), its base-2 softmax (vecmath.c) and tanh GELU (mm.c);
 * norms, RoPE, residuals and the pooling head stay fp32. */
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
    else if (!strcmp(s, "auto"))
        *precision = OVX_PRECISION_AUTO;
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
        free(b->patch_w);
        free(b);
        m->bf16 = NULL;
    }
    if (free_mm) {
        ovx_mm_free(m->mm);
        m->mm = NULL;
        m->mm_state = 0;
    }
}

int ovx_model_bf16_prepare(ovx_model *m, ovx_error *err)
{
    if (m->bf16)
        return 0;
    char why[200];
    m->bf16_requested = 1;
    if (!ovx_mm_bf16_available(why, sizeof why))
        return ovx_error_set(err, OVX_EUNSUPPORTED, "--precision bf16: %s", why);
    if (!ovx_model_mm(m))
        return ovx_error_set(err, OVX_EUNSUPPORTED, "--precision bf16 needs oneDNN's matmuls%s",
                             getenv("OVX_CPU_GEMM") ? " (OVX_CPU_GEMM asks for OpenBLAS)" : "");
    int n = m->cfg.num_layers * OVX_BF16_PER_LAYER;
    ovx_model_bf16 *b = calloc(1, sizeof *b);
    if (!b || !(b->weights = calloc((size_t)n, sizeof *b->weights))) {
        free(b);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory for bf16 weights");
    }
    b->n_weights = n;
    m->bf16 = b;
    return 0;
}

int ovx_model_bf16_pack(ovx_model *m, const ovx_weight_entry *e, const float *w, ovx_error *err)
{
    ovx_model_bf16 *b = m->bf16;
    int i = e->bf16_index;
    if (!b || i < 0 || i >= b->n_weights || b->weights[i] || e->ndim != 2)
        return ovx_error_set(err, OVX_EINTERNAL, "bf16 weight %s: bad slot", e->name);
    if (ovx_mm_weight_create(m->mm, w, (int)e->shape[0], (int)e->shape[1], &b->weights[i], err))
        return err->code ? err->code : OVX_EINTERNAL;
    b->bytes += ovx_mm_weight_bytes(b->weights[i]);
    return 0;
}

int ovx_model_set_precision(ovx_model *m, int precision, ovx_error *err)
{
    if (precision == OVX_PRECISION_FP32) {
        if (m->bf16_only)
            return ovx_error_set(err, OVX_EUSAGE, "the model was loaded for bf16 only (no fp32 weights)");
        ovx_model_bf16_release(m, 0);
        return 0;
    }
    if (precision != OVX_PRECISION_BF16)
        return ovx_error_set(err, OVX_EUSAGE, "unknown precision %d", precision);
    if (m->bf16)
        return 0;
    if (ovx_model_bf16_prepare(m, err))
        return -1;
    for (int i = 0; i < m->n_entries; i++) {
        const ovx_weight_entry *e = &m->entries[i];
        if (e->bf16_index >= 0 && ovx_model_bf16_pack(m, e, *e->slot, err)) {
            ovx_model_bf16_release(m, 0);
            return -1;
        }
    }
    return 0;
}
