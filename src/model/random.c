/* random.c: a model with deterministic random weights (for `ovx selftest`
 * and benchmarks): linear and embedding weights and biases ~ N(0, 0.02^2),
 * norm weights 1 + N(0, 0.02^2), norm biases ~ N(0, 0.02^2). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/model_internal.h"

/* splitmix64: a tiny, well-mixed, seedable generator. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform01(uint64_t *s)
{
    return ((double)(next_u64(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/* Standard normal by Box-Muller (one value per call, deterministic). */
static double normal(uint64_t *s)
{
    double u1 = uniform01(s), u2 = uniform01(s);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static int is_norm_weight(const char *name)
{
    return strstr(name, "norm") && strstr(name, ".weight");
}

int ovx_model_create_random(const ovx_model_config *cfg, uint64_t seed, ovx_model **out, ovx_error *err)
{
    ovx_model *m = NULL;
    int rc = ovx_model_alloc(cfg, 0, &m, err);
    if (rc)
        return rc;
    uint64_t s = seed;
    for (int i = 0; i < m->n_entries; i++) {
        const ovx_weight_entry *e = &m->entries[i];
        float *p = *e->slot;
        float base = is_norm_weight(e->name) ? 1.0f : 0.0f;
        for (int64_t j = 0; j < e->numel; j++)
            p[j] = base + (float)(0.02 * normal(&s));
    }
    snprintf(m->source_dtype, sizeof m->source_dtype, "random");
    m->checksum = ovx_model_weights_checksum(m);
    *out = m;
    return OVX_OK;
}
