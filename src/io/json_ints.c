/* json_ints.c: long integer arrays (token positions, visible indices) for
 * the per-item JSON written straight to text. Building them as cJSON numbers
 * cost a node, a malloc, a free and a printf per value (16k values, ~3 ms per
 * 4096-token video); the text here is byte-identical to cJSON_Print's. */
#include "io/json_ints.h"

#include <stdlib.h>
#include <string.h>

/* appends the decimal text of x ("%lld"); returns the new end */
static char *put_int(char *p, int64_t x)
{
    char tmp[24];
    int n = 0;
    uint64_t u = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (x < 0)
        *p++ = '-';
    while (n)
        *p++ = tmp[--n];
    return p;
}

cJSON *ovx_json_ints_raw(const void *v, int elem_size, size_t n, size_t group)
{
    if (group < 1)
        group = 1;
    /* each value: up to 20 characters + ", " + the group's brackets */
    size_t cap = 2 + n * 24 + (n / group + 1) * 4 + 1;
    char *text = malloc(cap), *p = text;
    if (!text)
        return NULL;
    *p++ = '[';
    for (size_t i = 0; i < n; i++) {
        size_t k = i % group;
        if (i > 0)
            *p++ = ',', *p++ = ' ';
        if (group > 1 && k == 0)
            *p++ = '[';
        int64_t x = elem_size == 4 ? ((const int32_t *)v)[i] : ((const int64_t *)v)[i];
        p = put_int(p, x);
        if (group > 1 && k == group - 1)
            *p++ = ']';
    }
    *p++ = ']';
    *p = '\0';
    cJSON *raw = cJSON_CreateRaw(text);
    free(text);
    return raw;
}
