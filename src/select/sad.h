/* sad.h: sum of absolute byte differences over a row, and over rows (SSE2
 * psadbw on 16- and 8-byte runs; integer sums, so the result does not
 * depend on the grouping). */
#ifndef OVX_SELECT_SAD_H
#define OVX_SELECT_SAD_H

#include <stddef.h>
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

/* The sum of ovx_sad_row over n rows (a's stride as, b's bs) of w bytes;
 * one accumulator for the common widths 16 and 8. */
static inline uint32_t ovx_sad_rows(const uint8_t *a, ptrdiff_t as, const uint8_t *b, ptrdiff_t bs, int n, int w)
{
#if defined(__SSE2__)
    if (w == 16 || w == 8) {
        __m128i acc = _mm_setzero_si128();
        for (int r = 0; r < n; r++, a += as, b += bs)
            acc = _mm_add_epi64(acc, w == 16 ? _mm_sad_epu8(_mm_loadu_si128((const __m128i *)a),
                                                            _mm_loadu_si128((const __m128i *)b))
                                             : _mm_sad_epu8(_mm_loadl_epi64((const __m128i *)a),
                                                            _mm_loadl_epi64((const __m128i *)b)));
        return (uint32_t)_mm_cvtsi128_si32(acc) + (uint32_t)_mm_cvtsi128_si32(_mm_srli_si128(acc, 8));
    }
#endif
    uint32_t s = 0;
    for (int r = 0; r < n; r++, a += as, b += bs)
        s += ovx_sad_row(a, b, w);
    return s;
}

#endif
