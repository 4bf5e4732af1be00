/* weights.c: the list of tensors a config expects (names and shapes as in
 * the checkpoint), the single f32 allocation they live in and the model
 * that holds them (allocated, freed, checksummed). */
#include "model/weights.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/bigmem.h"
#include "model/config.h"
#include "model/model_internal.h"

typedef struct builder {
    ovx_weight_entry *e;
    int n, cap;
} builder;

static int add(builder *b, float **slot, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int add(builder *b, float **slot, int ndim, const int64_t *shape, const char *fmt, ...)
{
    if (b->n == b->cap) {
        int ncap = b->cap ? b->cap * 2 : 64;
        ovx_weight_entry *ne = realloc(b->e, (size_t)ncap * sizeof *ne);
        if (!ne)
            return -1;
        b->e = ne;
        b->cap = ncap;
    }
    ovx_weight_entry *e = &b->e[b->n++];
    memset(e, 0, sizeof *e);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->name, sizeof e->name, fmt, ap);
    va_end(ap);
    e->ndim = ndim;
    e->numel = 1;
    for (int i = 0; i < ndim; i++) {
        e->shape[i] = shape[i];
        e->numel *= shape[i];
    }
    e->slot = slot;
    e->bf16_index = -1;
    return 0;
}

/* Marks the entry just added as the bf16 path's weight `index`. */
static void mark_bf16(builder *b, int index)
{
    if (b->n > 0)
        b->e[b->n - 1].bf16_index = index;
}

#define V1(a) (const int64_t[]){a}
#define V2(a, b) (const int64_t[]){a, b}

int ovx_weights_manifest(const ovx_model_config *c, ovx_weights *w, ovx_weight_entry **entries, int *count,
                         ovx_error *err)
{
    builder b = {0};
    int64_t D = c->hidden_size, I = c->intermediate_size, C = c->num_channels, P = c->patch_size;
    int bad = 0;
    bad |= add(&b, &w->patch_embedding_weight, 4, (const int64_t[]){D, C, P, P}, "embeddings.patch_embedding.weight");
    bad |= add(&b, &w->layernorm_pre_weight, 1, V1(D), "layernorm_pre.weight");
    bad |= add(&b, &w->layernorm_pre_bias, 1, V1(D), "layernorm_pre.bias");
    for (int i = 0; i < c->num_layers; i++) {
        ovx_layer_weights *L = &w->layers[i];
        const char *p = "encoder.layers";
        bad |= add(&b, &L->layer_norm1_weight, 1, V1(D), "%s.%d.layer_norm1.weight", p, i);
        bad |= add(&b, &L->layer_norm1_bias, 1, V1(D), "%s.%d.layer_norm1.bias", p, i);
        int x = i * OVX_BF16_PER_LAYER; /* the bf16 path's q, k, v, out, fc1, fc2 */
        bad |= add(&b, &L->q_proj_weight, 2, V2(D, D), "%s.%d.self_attn.q_proj.weight", p, i);
        mark_bf16(&b, x + 0);
        bad |= add(&b, &L->q_proj_bias, 1, V1(D), "%s.%d.self_attn.q_proj.bias", p, i);
        bad |= add(&b, &L->k_proj_weight, 2, V2(D, D), "%s.%d.self_attn.k_proj.weight", p, i);
        mark_bf16(&b, x + 1);
        bad |= add(&b, &L->k_proj_bias, 1, V1(D), "%s.%d.self_attn.k_proj.bias", p, i);
        bad |= add(&b, &L->v_proj_weight, 2, V2(D, D), "%s.%d.self_attn.v_proj.weight", p, i);
        mark_bf16(&b, x + 2);
        bad |= add(&b, &L->v_proj_bias, 1, V1(D), "%s.%d.self_attn.v_proj.bias", p, i);
        bad |= add(&b, &L->out_proj_weight, 2, V2(D, D), "%s.%d.self_attn.out_proj.weight", p, i);
        mark_bf16(&b, x + 3);
        bad |= add(&b, &L->out_proj_bias, 1, V1(D), "%s.%d.self_attn.out_proj.bias", p, i);
        bad |= add(&b, &L->layer_norm2_weight, 1, V1(D), "%s.%d.layer_norm2.weight", p, i);
        bad |= add(&b, &L->layer_norm2_bias, 1, V1(D), "%s.%d.layer_norm2.bias", p, i);
        bad |= add(&b, &L->fc1_weight, 2, V2(I, D), "%s.%d.mlp.fc1.weight", p, i);
        mark_bf16(&b, x + 4);
        bad |= add(&b, &L->fc1_bias, 1, V1(I), "%s.%d.mlp.fc1.bias", p, i);
        bad |= add(&b, &L->fc2_weight, 2, V2(D, I), "%s.%d.mlp.fc2.weight", p, i);
        mark_bf16(&b, x + 5);
        bad |= add(&b, &L->fc2_bias, 1, V1(D), "%s.%d.mlp.fc2.bias", p, i);
    }
    if (c->use_head) {
        ovx_head_weights *h = &w->head;
        bad |= add(&b, &w->layernorm_post_weight, 1, V1(D), "layernorm_post.weight");
        bad |= add(&b, &w->layernorm_post_bias, 1, V1(D), "layernorm_post.bias");
        bad |= add(&b, &h->probe, 3, (const int64_t[]){1, 1, D}, "head.probe");
        bad |= add(&b, &h->in_proj_weight, 2, V2(3 * D, D), "head.attention.in_proj_weight");
        bad |= add(&b, &h->in_proj_bias, 1, V1(3 * D), "head.attention.in_proj_bias");
        bad |= add(&b, &h->out_proj_weight, 2, V2(D, D), "head.attention.out_proj.weight");
        bad |= add(&b, &h->out_proj_bias, 1, V1(D), "head.attention.out_proj.bias");
        bad |= add(&b, &h->norm_weight, 1, V1(D), "head.norm.weight");
        bad |= add(&b, &h->fc1_weight, 2, V2(I, D), "head.mlp.fc1.weight");
        bad |= add(&b, &h->fc1_bias, 1, V1(I), "head.mlp.fc1.bias");
        bad |= add(&b, &h->fc2_weight, 2, V2(D, I), "head.mlp.fc2.weight");
        bad |= add(&b, &h->fc2_bias, 1, V1(D), "head.mlp.fc2.bias");
    }
    if (bad) {
        free(b.e);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    }
    *entries = b.e;
    *count = b.n;
    return OVX_OK;
}

int ovx_model_alloc(const ovx_model_config *cfg, int bf16_only, ovx_model **out, ovx_error *err)
{
    *out = NULL;
    int rc = ovx_model_config_validate(cfg, err);
    if (rc)
        return rc;
    ovx_model *m = calloc(1, sizeof *m);
    if (!m)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    m->cfg = *cfg;
    m->params = ovx_model_default_params();
    m->w.layers = calloc((size_t)cfg->num_layers, sizeof *m->w.layers);
    if (!m->w.layers) {
        free(m);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    }
    if ((rc = ovx_weights_manifest(cfg, &m->w, &m->entries, &m->n_entries, err))) {
        ovx_model_free(m);
        return rc;
    }
    int64_t total = 0, kept = 0;
    for (int i = 0; i < m->n_entries; i++) {
        total += m->entries[i].numel;
        if (!bf16_only || m->entries[i].bf16_index < 0)
            kept += m->entries[i].numel;
    }
    m->n_params = total;
    m->bf16_only = bf16_only;
    m->storage = ovx_big_alloc((size_t)(kept ? kept : 1) * sizeof(float));
    if (!m->storage) {
        ovx_model_free(m);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory for %lld weights", (long long)kept);
    }
    int64_t off = 0;
    for (int i = 0; i < m->n_entries; i++) {
        if (bf16_only && m->entries[i].bf16_index >= 0) {
            *m->entries[i].slot = NULL;
            continue;
        }
        *m->entries[i].slot = m->storage + off;
        off += m->entries[i].numel;
    }
    *out = m;
    return OVX_OK;
}

void ovx_model_free(ovx_model *m)
{
    if (!m)
        return;
    ovx_model_bf16_release(m, 1);
    free(m->storage);
    free(m->entries);
    free(m->w.layers);
    free(m);
}

uint64_t ovx_fnv1a_f32(uint64_t h, const float *p, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &p[i], 4);
        h ^= u;
        h *= 1099511628211ull;
    }
    return h;
}

uint64_t ovx_model_weights_checksum(const ovx_model *m)
{
    uint64_t h = OVX_FNV1A_INIT;
    for (int i = 0; i < m->n_entries; i++)
        h = ovx_fnv1a_f32(h, *m->entries[i].slot, m->entries[i].numel);
    return h;
}
