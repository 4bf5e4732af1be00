/* outlayout.c: output paths that mirror the input tree under -o DIR. */
#include "extract/outlayout.h"

#include <stdio.h>
#include <string.h>

#include "extract/strmap.h"

static int rel_is_safe(const char *rel)
{
    if (!rel[0] || rel[0] == '/')
        return 0;
    for (const char *p = rel;;) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (!end)
            return 1;
        p = end + 1;
    }
}

int ovx_out_base(const char *dir, const char *rel, char *buf, size_t cap, ovx_error *err)
{
    if (!rel_is_safe(rel))
        return ovx_error_set(err, OVX_EUSAGE, "%s: refused: its outputs would not stay inside %s", rel, dir);
    const char *base = strrchr(rel, '/');
    base = base ? base + 1 : rel;
    const char *dot = strrchr(base, '.');
    size_t keep = (dot && dot != base) ? (size_t)(dot - rel) : strlen(rel);
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    size_t stem = keep - (size_t)(base - rel);
    char tail[64] = "";
    if (stem > OVX_STEM_MAX) { /* cut, at a UTF-8 character boundary, and told apart by a hash of REL */
        size_t cut = OVX_STEM_MAX - 17;
        while (cut > 1 && ((unsigned char)base[cut] & 0xC0) == 0x80)
            cut--;
        keep = (size_t)(base - rel) + cut;
        snprintf(tail, sizeof tail, "~%016llx", (unsigned long long)ovx_fnv1a64(rel, strlen(rel)));
    }
    int n = snprintf(buf, cap, "%.*s/%.*s%s", (int)dl, dir, (int)keep, rel, tail);
    if (n < 0 || (size_t)n >= cap - 32)
        return ovx_error_set(err, OVX_EUSAGE, "%s: output path too long", rel);
    return OVX_OK;
}

int ovx_out_path(const char *base, ovx_out_kind kind, int hidden_index, char *buf, size_t cap,
                 ovx_error *err)
{
    int n;
    switch (kind) {
    case OVX_OUT_TOKENS: n = snprintf(buf, cap, "%s.npy", base); break;
    case OVX_OUT_POOLED: n = snprintf(buf, cap, "%s.pooled.npy", base); break;
    case OVX_OUT_HIDDEN: n = snprintf(buf, cap, "%s.hidden_%d.npy", base, hidden_index); break;
    case OVX_OUT_JSON: n = snprintf(buf, cap, "%s.json", base); break;
    default: return ovx_error_set(err, OVX_EINTERNAL, "bad output kind");
    }
    if (n < 0 || (size_t)n >= cap)
        return ovx_error_set(err, OVX_EUSAGE, "%s: output path too long", base);
    return OVX_OK;
}
