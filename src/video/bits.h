/* bits.h: a bounds-checked reader of the bit fields of H.264 and HEVC
 * parameter sets and slice headers (fixed-width, ue(v), se(v)); reading
 * past the end or an out-of-range value marks it bad and reads 0. */
#ifndef OVX_VIDEO_BITS_H
#define OVX_VIDEO_BITS_H

#include <stdint.h>

typedef struct bits {
    const uint8_t *d;
    int64_t n, pos; /* in bits */
    int bad;        /* read past the end or a value out of range */
} bits;

static inline uint32_t get1(bits *b)
{
    if (b->pos >= b->n) {
        b->bad = 1;
        return 0;
    }
    uint32_t v = (b->d[b->pos >> 3] >> (7 - (b->pos & 7))) & 1;
    b->pos++;
    return v;
}

static inline uint32_t getn(bits *b, int n)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 1) | get1(b);
    return v;
}

/* ue(v), values up to 2^31 - 2; longer codes are bad */
static inline uint32_t ue(bits *b)
{
    int z = 0;
    while (!b->bad && get1(b) == 0)
        if (++z > 31) {
            b->bad = 1;
            return 0;
        }
    if (b->bad)
        return 0;
    uint64_t v = ((uint64_t)1 << z) - 1 + getn(b, z);
    if (v > 0x7FFFFFFE) {
        b->bad = 1;
        return 0;
    }
    return (uint32_t)v;
}

static inline int64_t se(bits *b)
{
    uint32_t k = ue(b);
    return k & 1 ? (int64_t)(k + 1) / 2 : -(int64_t)(k / 2);
}

/* ue bounded by max (larger marks the reader bad) */
static inline uint32_t ue_max(bits *b, uint32_t max)
{
    uint32_t v = ue(b);
    if (v > max)
        b->bad = 1;
    return v > max ? 0 : v;
}

#endif
