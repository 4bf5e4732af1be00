/* topk.c: deterministic top-K by sorting (score desc, index asc). */
#include "select/topk.h"

#include <stdlib.h>

typedef struct item {
    float s;
    int64_t i;
} item;

static int cmp_item(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->s != y->s)
        return x->s > y->s ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int64_t ovx_topk_select(const float *scores, const unsigned char *eligible,
                        const unsigned char *forced, int64_t n, int64_t k, int64_t *out)
{
    int64_t m = 0;
    for (int64_t i = 0; i < n && m < k; i++)
        if (forced && forced[i])
            out[m++] = i;
    item *it = malloc((size_t)(n > 0 ? n : 1) * sizeof *it);
    if (!it)
        return -1;
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++) {
        if ((forced && forced[i]) || (eligible && !eligible[i]))
            continue;
        float s = scores[i];
        it[c].s = s == s ? s : 0.0f; /* NaN never wins */
        it[c++].i = i;
    }
    qsort(it, (size_t)c, sizeof *it, cmp_item);
    for (int64_t j = 0; j < c && m < k; j++)
        out[m++] = it[j].i;
    free(it);
    qsort(out, (size_t)m, sizeof *out, cmp_i64);
    return m;
}

void ovx_linspace_i64(double lo, double hi, int count, int64_t *out)
{
    for (int i = 0; i < count; i++) {
        double step = count > 1 ? (hi - lo) / (double)(count - 1) : 0.0;
        double v = (double)i * step + lo;
        if (i == count - 1 && count > 1)
            v = hi;
        out[i] = (int64_t)v;
    }
}
