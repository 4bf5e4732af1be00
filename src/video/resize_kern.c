/* resize_kern.c: the SIMD kernels of the PIL-exact resize (see
 * resize_kern.h): the horizontal pass sixteen rows at a time (byte
 * transpose, pixel pairs, pmaddwd / vpdpwssd with broadcast weights,
 * transpose back) and the vertical pass, per SIMD level (simd.h); the
 * multiply-adds and the vertical row are one body (resize_kern_body.h)
 * built for AVX2 and for AVX-512. */
#include "video/resize_kern.h"

#include <stdlib.h>
#include <string.h>

#include "video/simd.h"

#define PREC_BITS 22

static inline uint8_t clip8(int32_t v)
{
    v >>= PREC_BITS;
    return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

/* the portable vertical row */
static void vrow_c(const uint8_t *restrict in, size_t stride, const int32_t *restrict k, int n, int m,
                   uint8_t *restrict o)
{
    enum { B = 128 };
    int32_t acc[B];
    for (int i0 = 0; i0 < m; i0 += B) {
        int len = m - i0 < B ? m - i0 : B;
        for (int i = 0; i < len; i++)
            acc[i] = 1 << (PREC_BITS - 1);
        for (int y = 0; y < n; y++) {
            const uint8_t *restrict r = in + (size_t)y * stride + i0;
            int32_t ky = k[y];
            for (int i = 0; i < len; i++)
                acc[i] += r[i] * ky;
        }
        for (int i = 0; i < len; i++)
            o[i0 + i] = clip8(acc[i]);
    }
}

#if OVX_VIDEO_X86
#include <immintrin.h>
#define T_AVX2 OVX_T_AVX2
#define T_512 OVX_T_512
#endif

/* scratch sizes: t holds byte position b of the 16 rows at t[16 b], for the
 * read columns and the zero pixels the last pairs reach; p holds, per column
 * x and channel c, 16 lanes of (pixel x, pixel x + 1) as int16 pairs (64
 * bytes); u holds output byte position q of the 16 rows at u[16 q]. */
static size_t px_cols(const ovx_hkern *h)
{
    return (size_t)h->ncols + 2 * (size_t)h->np + 1;
}

static size_t u_pos(const ovx_hkern *h)
{
    return ((size_t)h->ow * 3 + 15) & ~(size_t)15;
}

int ovx_hkern_alloc(ovx_hkern *h)
{
    size_t nt = 3 * (px_cols(h) + 1) + 16;
    h->t = aligned_alloc(64, ((nt * 16) + 63) & ~(size_t)63);
    h->p = aligned_alloc(64, px_cols(h) * 3 * 64);
    h->u = aligned_alloc(64, u_pos(h) * 16);
    if (!h->t || !h->p || !h->u) {
        ovx_hkern_free(h);
        return -1;
    }
    /* rows_to_t writes the positions of whole 16-byte blocks of the read
     * columns; the pairs' zero pixels lie past them */
    size_t written = ((size_t)3 * h->ncols + 15) & ~(size_t)15;
    memset(h->t + written * 16, 0, (nt - written) * 16);
    memset(h->u, 0, u_pos(h) * 16);
    return 0;
}

void ovx_hkern_free(ovx_hkern *h)
{
    free(h->t);
    free(h->p);
    free(h->u);
    h->t = h->p = h->u = NULL;
}

#if OVX_VIDEO_X86

/* 16 x 16 bytes: a[r] byte j -> a[j] byte r (four rounds of the perfect
 * shuffle) */
static inline void tr16(__m128i a[16])
{
    for (int round = 0; round < 4; round++) {
        __m128i b[16];
        for (int i = 0; i < 8; i++) {
            b[2 * i] = _mm_unpacklo_epi8(a[i], a[i + 8]);
            b[2 * i + 1] = _mm_unpackhi_epi8(a[i], a[i + 8]);
        }
        memcpy(a, b, sizeof b);
    }
}

/* the rows' first nb bytes into t (byte position b at t + 16 b) */
static inline void rows_to_t(const uint8_t *const rows[16], int nb, uint8_t *t)
{
    __m128i a[16];
    int b = 0;
    for (; b + 16 <= nb; b += 16) {
        for (int r = 0; r < 16; r++)
            a[r] = _mm_loadu_si128((const __m128i *)(rows[r] + b));
        tr16(a);
        for (int j = 0; j < 16; j++)
            _mm_store_si128((__m128i *)(t + (size_t)(b + j) * 16), a[j]);
    }
    if (b < nb) {
        uint8_t bounce[16][16];
        memset(bounce, 0, sizeof bounce);
        for (int r = 0; r < 16; r++)
            memcpy(bounce[r], rows[r] + b, (size_t)(nb - b));
        for (int r = 0; r < 16; r++)
            a[r] = _mm_loadu_si128((const __m128i *)bounce[r]);
        tr16(a);
        for (int j = 0; j < 16; j++)
            _mm_store_si128((__m128i *)(t + (size_t)(b + j) * 16), a[j]);
    }
}

/* p[x][c] = 16 lanes of (t[3x + c], t[3x + 3 + c]) as int16 pairs */
static inline void t_to_pairs(const ovx_hkern *h)
{
    const __m128i z = _mm_setzero_si128();
    const size_t nx = px_cols(h);
    for (size_t x = 0; x < nx; x++)
        for (int c = 0; c < 3; c++) {
            __m128i a = _mm_load_si128((const __m128i *)(h->t + (3 * x + c) * 16));
            __m128i b = _mm_load_si128((const __m128i *)(h->t + (3 * x + 3 + c) * 16));
            __m128i lo = _mm_unpacklo_epi8(a, b), hi = _mm_unpackhi_epi8(a, b);
            __m128i *d = (__m128i *)(h->p + (3 * x + c) * 64);
            _mm_store_si128(d, _mm_unpacklo_epi8(lo, z));
            _mm_store_si128(d + 1, _mm_unpackhi_epi8(lo, z));
            _mm_store_si128(d + 2, _mm_unpacklo_epi8(hi, z));
            _mm_store_si128(d + 3, _mm_unpackhi_epi8(hi, z));
        }
}

/* t_to_pairs for AVX-512 (the same p): the two positions' bytes
 * interleaved (rows 0..7, then 8..15) and widened to int16 in one step, one
 * 64-byte store per column and channel */
T_512 static void t_to_pairs_512(const ovx_hkern *h)
{
    const size_t nx = px_cols(h);
    for (size_t x = 0; x < nx; x++)
        for (int c = 0; c < 3; c++) {
            __m128i a = _mm_load_si128((const __m128i *)(h->t + (3 * x + c) * 16));
            __m128i b = _mm_load_si128((const __m128i *)(h->t + (3 * x + 3 + c) * 16));
            __m256i ab = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi8(a, b)),
                                                 _mm_unpackhi_epi8(a, b), 1);
            _mm512_store_si512(h->p + (3 * x + c) * 64, _mm512_cvtepu8_epi16(ab));
        }
}

/* u (byte position q of 16 rows at u + 16 q) back to rows r < nr of out */
static inline void u_to_rows(const ovx_hkern *h, int nr, uint8_t *out, size_t ostride)
{
    const int nb = 3 * h->ow;
    __m128i a[16];
    for (int q = 0; q < nb; q += 16) {
        for (int j = 0; j < 16; j++)
            a[j] = _mm_load_si128((const __m128i *)(h->u + (size_t)(q + j) * 16));
        tr16(a);
        if (q + 16 <= nb) {
            for (int r = 0; r < nr; r++)
                _mm_storeu_si128((__m128i *)(out + r * ostride + q), a[r]);
        } else {
            uint8_t tail[16];
            for (int r = 0; r < nr; r++) {
                _mm_storeu_si128((__m128i *)tail, a[r]);
                memcpy(out + r * ostride + q, tail, (size_t)(nb - q));
            }
        }
    }
}

/* The kernels at each width, from one body (resize_kern_body.h). */
#define HK_(name) name##_avx2
#define HK_T T_AVX2
#define HK_L 8
#define HK_V __m256i
#define HK_ZERO _mm256_setzero_si256()
#define HK_SET1(x) _mm256_set1_epi32(x)
#define HK_ADD(a, b) _mm256_add_epi32(a, b)
#define HK_MUL(a, b) _mm256_mullo_epi32(a, b)
#define HK_SRA(a, n) _mm256_srai_epi32(a, n)
#define HK_SLL(a, n) _mm256_slli_epi32(a, n)
#define HK_MADD(acc, v, w) _mm256_add_epi32(acc, _mm256_madd_epi16(v, w))
#define HK_CLIP(a) _mm256_min_epi32(_mm256_max_epi32(a, _mm256_setzero_si256()), _mm256_set1_epi32(255))
#define HK_LOAD(p) _mm256_load_si256((const __m256i *)(p))
#define HK_LOADB(p) _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p)))
#define HK_STOREB(p, a) store8_avx2(p, a)

/* 8 int32 (0..255) as 8 bytes: byte 0 of each int32, per 128-bit lane, into
 * that lane's low 4 bytes, then the two lanes' 4 bytes side by side */
T_AVX2 static inline void store8_avx2(uint8_t *p, __m256i a)
{
    const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                          0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m256i join = _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0);
    a = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(a, pick), join);
    _mm_storel_epi64((__m128i *)p, _mm256_castsi256_si128(a));
}

#include "video/resize_kern_body.h"

#undef HK_
#undef HK_T
#undef HK_L
#undef HK_V
#undef HK_ZERO
#undef HK_SET1
#undef HK_ADD
#undef HK_MUL
#undef HK_SRA
#undef HK_SLL
#undef HK_MADD
#undef HK_CLIP
#undef HK_LOAD
#undef HK_LOADB
#undef HK_STOREB

/* AVX-512: 16 rows per zmm and vpdpwssd (multiply-add-accumulate) */
#define HK_(name) name##_512
#define HK_T T_512
#define HK_L 16
#define HK_V __m512i
#define HK_ZERO _mm512_setzero_si512()
#define HK_SET1(x) _mm512_set1_epi32(x)
#define HK_ADD(a, b) _mm512_add_epi32(a, b)
#define HK_MUL(a, b) _mm512_mullo_epi32(a, b)
#define HK_SRA(a, n) _mm512_srai_epi32(a, n)
#define HK_SLL(a, n) _mm512_slli_epi32(a, n)
#define HK_MADD(acc, v, w) _mm512_dpwssd_epi32(acc, v, w)
#define HK_CLIP(a) _mm512_min_epi32(_mm512_max_epi32(a, _mm512_setzero_si512()), _mm512_set1_epi32(255))
#define HK_LOAD(p) _mm512_load_si512(p)
#define HK_LOADB(p) _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p)))
#define HK_STOREB(p, a) _mm_storeu_si128((__m128i *)(p), _mm512_cvtepi32_epi8(a))

#include "video/resize_kern_body.h"

/* The vertical row for AVX-512 VNNI, 64 bytes a step, four rows a
 * vpdpbusd: each weight k is split into signed byte digits, k = d0 +
 * 2^8 d1 + 2^16 d2 (d2 fits for |k| < 2^23; else vrow_512), the rows' bytes are
 * interleaved into dwords (within 128-bit lanes) and multiplied by the
 * four rows' digits, one sum per digit; (s2 << 16) + (s1 << 8) + s0 is
 * then the int32 sum of the portable row, exactly. Rows past n count with
 * weight 0 (reading row 0 again). Two unsigned-saturating packs undo the
 * interleave and clip (>> 22 leaves -512..511). The last < 64 bytes:
 * vrow_512. */
T_512 static void vrow_vnni(const uint8_t *restrict in, size_t stride, const int32_t *restrict k, int n, int m,
                            uint8_t *restrict o)
{
    enum { MAXQ = 16 };
    const int nq = (n + 3) / 4;
    if (nq > MAXQ) {
        vrow_512(in, stride, k, n, m, o);
        return;
    }
    __m512i w[MAXQ][3];
    const uint8_t *r[MAXQ][4];
    for (int q = 0; q < nq; q++) {
        uint32_t d[3] = {0, 0, 0};
        for (int t = 0; t < 4; t++) {
            int y = 4 * q + t;
            int32_t kk = y < n ? k[y] : 0;
            int d0 = ((kk & 255) ^ 128) - 128, k1 = (kk - d0) >> 8;
            int d1 = ((k1 & 255) ^ 128) - 128, d2 = (k1 - d1) >> 8;
            if (d2 < -128 || d2 > 127) {
                vrow_512(in, stride, k, n, m, o);
                return;
            }
            d[0] |= (uint32_t)(uint8_t)d0 << 8 * t;
            d[1] |= (uint32_t)(uint8_t)d1 << 8 * t;
            d[2] |= (uint32_t)(uint8_t)d2 << 8 * t;
            r[q][t] = in + (y < n ? (size_t)y * stride : 0);
        }
        for (int j = 0; j < 3; j++)
            w[q][j] = _mm512_set1_epi32((int32_t)d[j]);
    }
    const __m512i rnd = _mm512_set1_epi32(1 << (PREC_BITS - 1));
    int i = 0;
    for (; i + 64 <= m; i += 64) {
        __m512i s[4][3];
        for (int v = 0; v < 4; v++)
            for (int j = 0; j < 3; j++)
                s[v][j] = _mm512_setzero_si512();
        for (int q = 0; q < nq; q++) {
            __m512i a0 = _mm512_loadu_si512(r[q][0] + i), a1 = _mm512_loadu_si512(r[q][1] + i);
            __m512i a2 = _mm512_loadu_si512(r[q][2] + i), a3 = _mm512_loadu_si512(r[q][3] + i);
            __m512i l01 = _mm512_unpacklo_epi8(a0, a1), h01 = _mm512_unpackhi_epi8(a0, a1);
            __m512i l23 = _mm512_unpacklo_epi8(a2, a3), h23 = _mm512_unpackhi_epi8(a2, a3);
            /* lane k: bytes 16k + 0..3, 4..7, 8..11, 12..15 */
            __m512i x[4] = {_mm512_unpacklo_epi16(l01, l23), _mm512_unpackhi_epi16(l01, l23),
                            _mm512_unpacklo_epi16(h01, h23), _mm512_unpackhi_epi16(h01, h23)};
            for (int v = 0; v < 4; v++)
                for (int j = 0; j < 3; j++)
                    s[v][j] = _mm512_dpbusd_epi32(s[v][j], x[v], w[q][j]);
        }
        __m512i t[4];
        for (int v = 0; v < 4; v++) {
            __m512i sum = _mm512_add_epi32(_mm512_add_epi32(_mm512_slli_epi32(s[v][2], 16), _mm512_slli_epi32(s[v][1], 8)),
                                           _mm512_add_epi32(s[v][0], rnd));
            t[v] = _mm512_srai_epi32(sum, PREC_BITS);
        }
        __m512i lo = _mm512_packus_epi32(t[0], t[1]), hi = _mm512_packus_epi32(t[2], t[3]);
        _mm512_storeu_si512(o + i, _mm512_packus_epi16(lo, hi));
    }
    if (i < m)
        vrow_512(in + i, stride, k, n, m - i, o + i);
}

void ovx_hkern_run(int isa, ovx_hkern *h, const uint8_t *const rows[OVX_HK_ROWS], int nr, uint8_t *out,
                   size_t ostride)
{
    rows_to_t(rows, 3 * h->ncols, h->t);
    if (isa >= 2) {
        t_to_pairs_512(h);
        mac_512(h);
    } else {
        t_to_pairs(h);
        mac_avx2(h);
    }
    u_to_rows(h, nr, out, ostride);
}

void ovx_vkern_row(int isa, const uint8_t *in, size_t stride, const int32_t *k, int n, int m, uint8_t *o)
{
    if (isa >= 2)
        vrow_vnni(in, stride, k, n, m, o);
    else if (isa == 1)
        vrow_avx2(in, stride, k, n, m, o);
    else
        vrow_c(in, stride, k, n, m, o);
}

#else

void ovx_hkern_run(int isa, ovx_hkern *h, const uint8_t *const rows[OVX_HK_ROWS], int nr, uint8_t *out,
                   size_t ostride)
{
    /* never called: ovx_video_simd() is 0 here, so resize.c runs its portable pass */
    (void)isa, (void)h, (void)rows, (void)nr, (void)out, (void)ostride;
}

void ovx_vkern_row(int isa, const uint8_t *in, size_t stride, const int32_t *k, int n, int m, uint8_t *o)
{
    (void)isa;
    vrow_c(in, stride, k, n, m, o);
}

#endif
