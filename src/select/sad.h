/* sad.h: sum of absolute byte differences over a row (SSE2 psadbw on 16- and
 * 8-byte runs; integer sums, so the result does not depend on the grouping). */
#ifndef OVX_SELECT_SAD_H
#define OVX_SELECT_SAD_H

#include <stdint.h>
#include <stdlib.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static inline uint32_t ovx_sad_row(const uint8_t *a, const uint8_t *b, int n)
{
    uint32_t s = 0;
    int i = 0;
#if defined(__SSE2__)
    for (; i + 16 <= n; i += 16) {
        __m128i d = _mm_sad_epu8(_mm_loadu_si128((const __m128i *)(a + i)),
                                 _mm_loadu_si128((const __m128i *)(b + i)));
        s += (uint32_t)_mm_cvtsi128_si32(d) + (uint32_t)_mm_extract_epi16(d, 4);
    }
    for (; i + 8 <= n; i += 8) {
        __m128i d = _mm_sad_epu8(_mm_loadl_epi64((const __m128i *)(a + i)),
                                 _mm_loadl_epi64((const __m128i *)(b + i)));
        s += (uint32_t)_mm_cvtsi128_si32(d);
    }
#endif
    for (; i < n; i++)
        s += (uint32_t)abs((int)a[i] - (int)b[i]);
    return s;
}

#endif
