/* strmap.c: open-addressing string map with FNV-1a 64 hashing. */
#include "extract/strmap.h"

#include <stdlib.h>
#include <string.h>

uint64_t ovx_fnv1a64(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static size_t slot_of(const ovx_strmap *m, const char *key)
{
    size_t i = (size_t)ovx_fnv1a64(key, strlen(key)) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static int grow(ovx_strmap *m)
{
    ovx_strmap bigger = {0};
    bigger.cap = m->cap ? m->cap * 2 : 64;
    bigger.keys = calloc(bigger.cap, sizeof *bigger.keys);
    bigger.vals = calloc(bigger.cap, sizeof *bigger.vals);
    if (!bigger.keys || !bigger.vals) {
        free(bigger.keys);
        free(bigger.vals);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = slot_of(&bigger, m->keys[i]);
        bigger.keys[j] = m->keys[i];
        bigger.vals[j] = m->vals[i];
    }
    bigger.n = m->n;
    free(m->keys);
    free(m->vals);
    *m = bigger;
    return 0;
}

int ovx_strmap_put(ovx_strmap *m, const char *key, const char *val)
{
    if ((m->n + 1) * 2 > m->cap && grow(m) != 0)
        return -1;
    size_t i = slot_of(m, key);
    char *v = val ? strdup(val) : NULL;
    if (val && !v)
        return -1;
    if (m->keys[i]) {
        free(m->vals[i]);
        m->vals[i] = v;
        return 0;
    }
    m->keys[i] = strdup(key);
    if (!m->keys[i]) {
        free(v);
        return -1;
    }
    m->vals[i] = v;
    m->n++;
    return 0;
}

int ovx_strmap_get(const ovx_strmap *m, const char *key, const char **val)
{
    if (!m->cap)
        return 0;
    size_t i = slot_of(m, key);
    if (!m->keys[i])
        return 0;
    if (val)
        *val = m->vals[i];
    return 1;
}

void ovx_strmap_free(ovx_strmap *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        free(m->keys[i]);
        free(m->vals[i]);
    }
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}
