/* strmap.h: a small string -> string hash map (open addressing, FNV-1a),
 * used for label lookups, output-name collisions and de-duplicating log
 * lines. Keys and values are copied. */
#ifndef OVX_EXTRACT_STRMAP_H
#define OVX_EXTRACT_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct ovx_strmap {
    char **keys;
    char **vals;
    size_t cap, n;
} ovx_strmap;

uint64_t ovx_fnv1a64(const void *data, size_t len);

/* Inserts or replaces; val may be NULL. Returns 0, or -1 when out of memory. */
int ovx_strmap_put(ovx_strmap *m, const char *key, const char *val);
/* 1 when key is present; *val (if non-NULL) receives the stored value. */
int ovx_strmap_get(const ovx_strmap *m, const char *key, const char **val);
void ovx_strmap_free(ovx_strmap *m);

#endif
