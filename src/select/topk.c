/* topk.c: deterministic top-K (score desc, index asc) by selection. */
#include "select/topk.h"

#include <stdlib.h>

typedef struct item {
    float s;
    int64_t i;
} item;

/* the ranking: higher score first, ties by lower index (a total order: the
 * indices differ and NaN scores are replaced by 0 before ranking) */
static int before(item a, item b)
{
    return a.s > b.s || (a.s == b.s && a.i < b.i);
}

static float score_of(const float *scores, int64_t i)
{
    float s = scores[i];
    return s == s ? s : 0.0f; /* NaN never wins */
}

/* Rearranges it[0..c) so that it[r] is the item of rank r (quickselect,
 * median-of-three pivots; deterministic) and returns it. */
static item nth_item(item *it, int64_t c, int64_t r)
{
    int64_t lo = 0, hi = c - 1;
    while (hi > lo) {
        int64_t mid = lo + (hi - lo) / 2;
        /* median of three to it[mid] */
        if (before(it[hi], it[lo])) { item t = it[lo]; it[lo] = it[hi]; it[hi] = t; }
        if (before(it[mid], it[lo])) { item t = it[lo]; it[lo] = it[mid]; it[mid] = t; }
        if (before(it[hi], it[mid])) { item t = it[mid]; it[mid] = it[hi]; it[hi] = t; }
        item pv = it[mid];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (before(it[i], pv))
                i++;
            while (before(pv, it[j]))
                j--;
            if (i <= j) {
                item t = it[i];
                it[i++] = it[j];
                it[j--] = t;
            }
        }
        if (r <= j)
            hi = j;
        else if (r >= i)
            lo = i;
        else
            break; /* it[j+1 .. i-1] equal the pivot: it[r] is the pivot */
    }
    return it[r];
}

/* The forced indices (the first k) and the best k - forced of the others,
 * in one ascending pass: the others are ranked by selecting the last one
 * taken (O(n)), not by sorting them all. */
int64_t ovx_topk_select(const float *scores, const unsigned char *eligible,
                        const unsigned char *forced, int64_t n, int64_t k, int64_t *out)
{
    int64_t nf = 0;
    for (int64_t i = 0; i < n && forced; i++)
        nf += forced[i] != 0;
    int64_t m = 0;
    if (nf >= k) {
        for (int64_t i = 0; i < n && m < k; i++)
            if (forced[i])
                out[m++] = i;
        return m;
    }
    item *it = malloc((size_t)(n > 0 ? n : 1) * sizeof *it);
    if (!it)
        return -1;
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++)
        if (!(forced && forced[i]) && !(eligible && !eligible[i]))
            it[c++] = (item){score_of(scores, i), i};
    int64_t r = k - nf; /* > 0 */
    int take_all = c <= r;
    item last = take_all ? (item){0.0f, 0} : nth_item(it, c, r - 1);
    free(it);
    for (int64_t i = 0; i < n; i++) {
        if (forced && forced[i]) {
            out[m++] = i;
        } else if (!(eligible && !eligible[i])) {
            item x = {score_of(scores, i), i};
            if (take_all || !before(last, x))
                out[m++] = i;
        }
    }
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
