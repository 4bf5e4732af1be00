/* json_ints.h: integer arrays as pre-printed JSON (see json_ints.c). */
#ifndef OVX_IO_JSON_INTS_H
#define OVX_IO_JSON_INTS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* A cJSON raw item holding v[0..n) (each |v| < 2^31) exactly as cJSON_Print
 * prints the equivalent array of numbers: "[1, 2, 3]", or with group > 1
 * nested arrays of group values, "[[0, 0, 1], [0, 0, 2]]" (n a multiple of
 * group). The values are either int32 (elem_size 4) or int64 (8). NULL when
 * out of memory. Unformatted printing keeps these ", " separators. */
cJSON *ovx_json_ints_raw(const void *v, int elem_size, size_t n, size_t group);

#endif
