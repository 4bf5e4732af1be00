/* finite.c: refuses forward outputs holding NaN or Inf, so a broken model or
 * an overflow never reaches an output file (see ovx_outputs_check_finite). */
#include <math.h>
#include <stdint.h>

#include "model/model.h"

/* Index of the first non-finite value of x[0..n) and their count. */
static int64_t count_bad(const float *x, int64_t n, int64_t *first)
{
    int64_t bad = 0;
    *first = -1;
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]) && bad++ == 0)
            *first = i;
    return bad;
}

int ovx_outputs_check_finite(const ovx_outputs *o, int64_t samples, int64_t tokens, int dim, const char *stage,
                             ovx_error *err)
{
    const struct {
        const char *name;
        const float *x;
        int64_t rows;
    } outs[] = {
        {"last_hidden_state", o->last_hidden_state, tokens},
        {"pooler_output", o->pooler_output, samples},
        {"hidden_state", o->hidden_state, tokens},
    };
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
        if (!outs[i].x)
            continue;
        int64_t first;
        int64_t bad = count_bad(outs[i].x, outs[i].rows * dim, &first);
        if (bad)
            return ovx_error_set(err, OVX_EINPUT,
                                 "%s: %lld NaN/Inf value(s) in %s (first at row %lld, channel %lld); nothing written",
                                 stage, (long long)bad, outs[i].name, (long long)(first / dim),
                                 (long long)(first % dim));
    }
    return OVX_OK;
}
