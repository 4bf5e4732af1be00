/* rgb_exact.c: 8-bit planar YUV -> RGB24 with the integer arithmetic of
 * swscale's bit-exact full-chroma path (as rgb.c configures it: bicubic,
 * SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_BITEXACT, same size), for a
 * rectangle only. Steps, as swscale does them:
 *  - filters: chroma is upsampled (2x on subsampled axes, else copied) by
 *    swscale's default bicubic (B = 0, C = 0.6) in 54-bit fixed point, with
 *    chroma sited at the sample centre, near-zero taps dropped, the border
 *    taps folded inwards and the taps normalised to 1 << 14 (horizontal) and
 *    1 << 12 (vertical) with error carry;
 *  - horizontal: U15 = min((sum u8 * coef) >> 7, 32767);
 *  - vertical + colour: Y = y8 << 9, U = ((1 << 9) - (128 << 19) +
 *    sum U15 * coef) >> 10; R, G, B = (Y - off) * cy + (1 << 21) + U, V
 *    terms, clipped to 30 bits, >> 22.
 * rgb.c checks the result against swscale itself before using it. */
#include "video/rgb_exact.h"
#include "video/simd.h"

#include <pthread.h>
#include <stdlib.h>
#if OVX_VIDEO_X86
#include <immintrin.h>
#endif
#include <string.h>

/* swscale's horizontal / vertical filter size alignment on this CPU */
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__)
#define H_ALIGN 4
#define V_ALIGN 2
#else
#define H_ALIGN 1
#define V_ALIGN 1
#endif

typedef struct sfilter {
    int n, size;
    int *pos;          /* [n] first source sample */
    int *taps;         /* [n] taps inside the source (the rest are 0) */
    int16_t *coef;     /* [n][size] */
} sfilter;

static void sfilter_free(sfilter *f)
{
    free(f->pos);
    free(f->taps);
    free(f->coef);
    memset(f, 0, sizeof *f);
}

/* the default bicubic kernel (B = 0, C = 0.6) at distance d (1 << 30 = one
 * source sample), in 54-bit fixed point */
static int64_t bicubic(int64_t d)
{
    const int64_t B = 0, C = (int64_t)(0.6 * (1 << 24));
    if (d >= 1LL << 31)
        return 0;
    int64_t dd = (d * d) >> 30, ddd = (dd * d) >> 30;
    if (d < 1LL << 30)
        return (12 * (1 << 24) - 9 * B - 6 * C) * ddd + (-18 * (1 << 24) + 12 * B + 6 * C) * dd +
               (6 * (1 << 24) - 2 * B) * (1LL << 30);
    return (-B - 6 * C) * ddd + (6 * B + 30 * C) * dd + (-12 * B - 48 * C) * d + (8 * B + 24 * C) * (1LL << 30);
}

static int64_t rounded_div(int64_t a, int64_t b)
{
    return (a >= 0 ? a + (b >> 1) : a - (b >> 1)) / b;
}

/* The filter from src samples to dst (dst == src or 2 * src), both sited
 * at the centre. 0 ok, -1 out of memory or unsupported. */
static int make_filter(sfilter *out, int src, int dst, int align, int one)
{
    const int64_t fone = 1LL << 54;
    const int src_pos = 128, dst_pos = 128;
    int64_t inc = (((int64_t)src << 16) + (dst >> 1)) / dst;
    if (inc > 1 << 16)
        return -1;
    int unscaled = llabs(inc - 0x10000) < 10 && src_pos == dst_pos;
    int fs2 = unscaled ? 1 : 1 + 4;
    if (!unscaled) {
        if (fs2 > src - 2)
            fs2 = src - 2;
        if (fs2 < 1)
            fs2 = 1;
    }
    int fs_max = fs2 + align;
    int64_t *f2 = calloc((size_t)dst * fs2, sizeof *f2);
    int64_t *f = calloc((size_t)dst * fs_max, sizeof *f);
    int *pos = calloc((size_t)dst + 1, sizeof *pos);
    int *taps = calloc((size_t)dst + 1, sizeof *taps);
    int16_t *coef = calloc((size_t)dst * fs_max, sizeof *coef);
    if (!f2 || !f || !pos || !taps || !coef)
        goto fail;
    if (unscaled) {
        for (int i = 0; i < dst; i++) {
            f2[i] = fone;
            pos[i] = i;
        }
    } else {
        int64_t x = ((dst_pos * inc) >> 7) - ((src_pos * 0x10000LL) >> 7);
        for (int i = 0; i < dst; i++) {
            int xx = (int)((x - (fs2 - 2) * (1LL << 16)) / (1 << 17));
            pos[i] = xx;
            for (int j = 0; j < fs2; j++, xx++)
                f2[(size_t)i * fs2 + j] = bicubic(llabs((int64_t)xx * (1 << 17) - x) << 13);
            x += 2 * inc;
        }
    }
    /* drop near-zero taps: shift left, count on the right */
    int min_size = 0;
    for (int i = dst - 1; i >= 0; i--) {
        int64_t *r = f2 + (size_t)i * fs2;
        int64_t cut = 0;
        int m = fs2;
        for (int j = 0; j < fs2; j++) {
            cut += llabs(r[0]);
            if (cut > 0.002 * fone)
                break;
            if (i < dst - 1 && pos[i] >= pos[i + 1])
                break;
            memmove(r, r + 1, (size_t)(fs2 - 1) * sizeof *r);
            r[fs2 - 1] = 0;
            pos[i]++;
        }
        cut = 0;
        for (int j = fs2 - 1; j > 0; j--) {
            cut += llabs(r[j]);
            if (cut > 0.002 * fone)
                break;
            m--;
        }
        if (m > min_size)
            min_size = m;
    }
    if (min_size == 1 && align == 2)
        align = 1;
    int fs = (min_size + align - 1) & ~(align - 1);
    for (int i = 0; i < dst; i++)
        for (int j = 0; j < fs; j++)
            f[(size_t)i * fs + j] = (j >= fs2 || j >= min_size) ? 0 : f2[(size_t)i * fs2 + j];
    /* fold taps outside the source into the border samples */
    for (int i = 0; i < dst; i++) {
        int64_t *r = f + (size_t)i * fs;
        if (pos[i] < 0) {
            for (int j = 1; j < fs; j++) {
                int left = j + pos[i] > 0 ? j + pos[i] : 0;
                r[left] += r[j];
                r[j] = 0;
            }
            pos[i] = 0;
        }
        if (pos[i] + fs > src) {
            int shift = pos[i] + (fs - src < 0 ? fs - src : 0);
            int64_t acc = 0;
            for (int j = fs - 1; j >= 0; j--)
                if (pos[i] + j >= src) {
                    acc += r[j];
                    r[j] = 0;
                }
            for (int j = fs - 1; j >= 0; j--)
                r[j] = j < shift ? 0 : r[j - shift];
            pos[i] -= shift;
            r[src - 1 - pos[i]] += acc;
        }
        if (pos[i] < 0 || pos[i] >= src)
            goto fail;
    }
    /* normalise to one with error carry */
    for (int i = 0; i < dst; i++) {
        const int64_t *r = f + (size_t)i * fs;
        int64_t sum = 0, e = 0;
        for (int j = 0; j < fs; j++)
            sum += r[j];
        sum = (sum + one / 2) / one;
        if (!sum)
            sum = 1;
        for (int j = 0; j < fs; j++) {
            int64_t v = r[j] + e;
            int iv = (int)rounded_div(v, sum);
            coef[(size_t)i * fs + j] = (int16_t)iv;
            e = v - iv * sum;
        }
        taps[i] = fs < src - pos[i] ? fs : src - pos[i];
        for (int j = taps[i]; j < fs; j++)
            if (coef[(size_t)i * fs + j])
                goto fail;
    }
    free(f2);
    free(f);
    out->n = dst;
    out->size = fs;
    out->pos = pos;
    out->taps = taps;
    out->coef = coef;
    return 0;
fail:
    free(f2);
    free(f);
    free(pos);
    free(taps);
    free(coef);
    return -1;
}

static int round16(int64_t f)
{
    int r = (int)((f + (1 << 15)) >> 16);
    return r < -0x7FFF ? (int16_t)0x8000 : r > 0x7FFF ? 0x7FFF : r;
}

typedef struct coeffs {
    int y_off, y_mul, v2r, v2g, u2g, u2b;
} coeffs;

static coeffs coeffs_of(const int inv[4], int full_range)
{
    int64_t crv = inv[0], cbu = inv[1], cgu = -inv[2], cgv = -inv[3];
    int64_t cy = 1 << 16, oy = 0;
    if (!full_range) {
        cy = (cy * 255) / 219;
        oy = 16 << 16;
    } else {
        crv = (crv * 224) / 255;
        cbu = (cbu * 224) / 255;
        cgu = (cgu * 224) / 255;
        cgv = (cgv * 224) / 255;
    }
    coeffs c = {
        .y_off = round16(oy * (1 << 9)), .y_mul = round16(cy * (1 << 13)),
        .v2r = round16(crv * (1 << 13)), .v2g = round16(cgv * (1 << 13)),
        .u2g = round16(cgu * (1 << 13)), .u2b = round16(cbu * (1 << 13)),
    };
    return c;
}

int ovx_rgb_exact_supported(int w, int h, int log2_cw, int log2_ch)
{
    return w >= 16 && h >= 16 && log2_cw >= 0 && log2_cw <= 1 && log2_ch >= 0 && log2_ch <= 1 &&
           (!log2_cw || w % 2 == 0) && (!log2_ch || h % 2 == 0);
}


/* 30-bit clip (swscale clips a channel that leaves [0, 2^30) to its nearer
 * end), top 8 bits */
static inline uint8_t top8(int32_t v)
{
    v = v < 0 ? 0 : v > 0x3FFFFFFF ? 0x3FFFFFFF : v;
    return (uint8_t)(v >> 22);
}

/* One pixel's R, G, B from luma y and the vertically accumulated chroma. */
static inline void rgb_px(int y, int32_t ua, int32_t va, const coeffs *k, uint8_t *o)
{
    uint32_t U = (uint32_t)(ua >> 10), V = (uint32_t)(va >> 10);
    /* unsigned, wrapping as swscale's sums do */
    uint32_t Yc = (uint32_t)((y << 9) - k->y_off) * (uint32_t)k->y_mul + (1u << 21);
    o[0] = top8((int32_t)(Yc + V * (uint32_t)k->v2r));
    o[1] = top8((int32_t)(Yc + V * (uint32_t)k->v2g + U * (uint32_t)k->u2g));
    o[2] = top8((int32_t)(Yc + U * (uint32_t)k->u2b));
}

/* One output row from luma ys and the vertically accumulated chroma (one
 * build per SIMD level, simd.h). */
OVX_SIMD_VARIANTS(rgb_row, (const uint8_t *restrict ys, const int32_t *restrict ua, const int32_t *restrict va,
                            int n, const coeffs *k, uint8_t *restrict o), (ys, ua, va, n, k, o), {
    const coeffs kk = *k;
    for (int x = 0; x < n; x++)
        rgb_px(ys[x], ua[x], va[x], &kk, o + 3 * x);
})

/* The same with the vertical chroma filter's four taps (u[t], v[t] rows,
 * weights c[t], 0 for unused ones) summed on the way (the compiler's
 * vectorisation; rgb_row4 below runs it for AVX2 and the portable level). */
OVX_SIMD_VARIANTS(rgb_row4_auto, (const uint8_t *restrict ys, const int16_t *const u[4], const int16_t *const v[4],
                             const int c[4], int n, const coeffs *k, uint8_t *restrict o), (ys, u, v, c, n, k, o), {
    const coeffs kk = *k;
    const int16_t *restrict u0 = u[0], *restrict u1 = u[1], *restrict u2 = u[2], *restrict u3 = u[3];
    const int16_t *restrict v0 = v[0], *restrict v1 = v[1], *restrict v2 = v[2], *restrict v3 = v[3];
    const int32_t c0 = c[0], c1 = c[1], c2 = c[2], c3 = c[3], base = (1 << 9) - (128 << 19);
    for (int x = 0; x < n; x++)
        rgb_px(ys[x], base + u0[x] * c0 + u1[x] * c1 + u2[x] * c2 + u3[x] * c3,
               base + v0[x] * c0 + v1[x] * c1 + v2[x] * c2 + v3[x] * c3, &kk, o + 3 * x);
})

#if OVX_VIDEO_X86
/* rgb_row4 for AVX-512, 32 pixels a step. The chroma taps go by pairs
 * through vpmaddwd (u[0] c[0] + u[1] c[1] in one int32, exact: the
 * products and their sum fit), on pixel pairs interleaved within each
 * 128-bit lane, so a "lo" vector holds pixels 8k..8k+3 of lane k and "hi"
 * pixels 8k+4..8k+7; luma is spread the same way. The colour arithmetic is
 * rgb_px's in int32 lanes (wrapping multiplies as its uint32 ones); the
 * 30-bit clip then >> 22 is >> 22 (arithmetic, -512..511) then a clip to
 * 0..255, which two unsigned-saturating packs do while undoing the lo/hi
 * split; byte shuffles interleave each lane's R, G, B, and two two-source
 * dword permutes put the lanes in pixel order: 96 output bytes. The last < 32 pixels go the
 * same way with masked loads (zeros past the row) and stores. */
typedef struct rgb4_k {
    __m512i c01, c23, base, yoff, ymul, rnd, v2r, v2g, u2g, u2b;
} rgb4_k;

/* R, G, B >> 22 (not yet clipped) of 16 pixels into o[3] */
OVX_T_512 static inline void rgb4_px(__m512i y, __m512i ua, __m512i va, const rgb4_k *k, __m512i o[3])
{
    __m512i U = _mm512_srai_epi32(ua, 10), V = _mm512_srai_epi32(va, 10);
    __m512i Yc = _mm512_add_epi32(
        _mm512_mullo_epi32(_mm512_sub_epi32(_mm512_slli_epi32(y, 9), k->yoff), k->ymul), k->rnd);
    __m512i r = _mm512_add_epi32(Yc, _mm512_mullo_epi32(V, k->v2r));
    __m512i g = _mm512_add_epi32(_mm512_add_epi32(Yc, _mm512_mullo_epi32(V, k->v2g)),
                                 _mm512_mullo_epi32(U, k->u2g));
    __m512i b = _mm512_add_epi32(Yc, _mm512_mullo_epi32(U, k->u2b));
    o[0] = _mm512_srai_epi32(r, 22);
    o[1] = _mm512_srai_epi32(g, 22);
    o[2] = _mm512_srai_epi32(b, 22);
}

OVX_T_512 static void rgb_row4_x512(const uint8_t *restrict ys, const int16_t *const u[4],
                                    const int16_t *const v[4], const int c[4], int n, const coeffs *kc,
                                    uint8_t *restrict o)
{
    const rgb4_k k = {
        .c01 = _mm512_set1_epi32((int32_t)((uint32_t)(uint16_t)c[0] | (uint32_t)(uint16_t)c[1] << 16)),
        .c23 = _mm512_set1_epi32((int32_t)((uint32_t)(uint16_t)c[2] | (uint32_t)(uint16_t)c[3] << 16)),
        .base = _mm512_set1_epi32((1 << 9) - (128 << 19)),
        .yoff = _mm512_set1_epi32(kc->y_off), .ymul = _mm512_set1_epi32(kc->y_mul),
        .rnd = _mm512_set1_epi32(1 << 21), .v2r = _mm512_set1_epi32(kc->v2r),
        .v2g = _mm512_set1_epi32(kc->v2g), .u2g = _mm512_set1_epi32(kc->u2g),
        .u2b = _mm512_set1_epi32(kc->u2b),
    };
    /* per lane, from R0-7 G0-7 (rg) and B0-7 (bb): the first 16 bytes of
     * the 8 pixels' RGB (a), then the last 8 (c) */
    const __m512i a_rg = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 8, -1, 1, 9, -1, 2, 10, -1, 3, 11, -1, 4, 12, -1, 5));
    const __m512i a_b = _mm512_broadcast_i32x4(_mm_setr_epi8(-1, -1, 0, -1, -1, 1, -1, -1, 2, -1, -1, 3, -1, -1, 4, -1));
    const __m512i c_rg = _mm512_broadcast_i32x4(_mm_setr_epi8(13, -1, 6, 14, -1, 7, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1));
    const __m512i c_b = _mm512_broadcast_i32x4(_mm_setr_epi8(-1, 5, -1, -1, 6, -1, -1, 7, -1, -1, -1, -1, -1, -1, -1, -1));
    /* lane k's a (dwords 4k..4k+3) and c (16 + 4k, 16 + 4k + 1) in order */
    const __m512i p1 = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 4, 5, 6, 7, 20, 21, 8, 9, 10, 11);
    const __m512i p2 = _mm512_setr_epi32(24, 25, 12, 13, 14, 15, 28, 29, 0, 0, 0, 0, 0, 0, 0, 0);
    for (int x = 0; x < n; x += 32) {
        /* the last < 32 pixels by masked loads and stores */
        const int m = n - x < 32 ? n - x : 32;
        const __mmask32 lm = m == 32 ? ~(__mmask32)0 : ((__mmask32)1 << m) - 1;
        const __mmask64 s1 = 3 * m >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << 3 * m) - 1;
        const __mmask32 s2 = 3 * m <= 64 ? 0 : 3 * m == 96 ? ~(__mmask32)0 : ((__mmask32)1 << (3 * m - 64)) - 1;
        __m512i y16 = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(lm, ys + x));
        __m512i ch[2][2];
        for (int p = 0; p < 2; p++) {
            const int16_t *const *w = p ? v : u;
            __m512i a0 = _mm512_maskz_loadu_epi16(lm, w[0] + x), a1 = _mm512_maskz_loadu_epi16(lm, w[1] + x);
            __m512i a2 = _mm512_maskz_loadu_epi16(lm, w[2] + x), a3 = _mm512_maskz_loadu_epi16(lm, w[3] + x);
            ch[p][0] = _mm512_add_epi32(_mm512_add_epi32(k.base, _mm512_madd_epi16(_mm512_unpacklo_epi16(a0, a1), k.c01)),
                                        _mm512_madd_epi16(_mm512_unpacklo_epi16(a2, a3), k.c23));
            ch[p][1] = _mm512_add_epi32(_mm512_add_epi32(k.base, _mm512_madd_epi16(_mm512_unpackhi_epi16(a0, a1), k.c01)),
                                        _mm512_madd_epi16(_mm512_unpackhi_epi16(a2, a3), k.c23));
        }
        const __m512i z = _mm512_setzero_si512();
        __m512i lo[3], hi[3];
        rgb4_px(_mm512_unpacklo_epi16(y16, z), ch[0][0], ch[1][0], &k, lo);
        rgb4_px(_mm512_unpackhi_epi16(y16, z), ch[0][1], ch[1][1], &k, hi);
        /* unsigned-saturating packs: the clip, and lo/hi back in pixel order */
        __m512i rg = _mm512_packus_epi16(_mm512_packus_epi32(lo[0], hi[0]), _mm512_packus_epi32(lo[1], hi[1]));
        __m512i b16 = _mm512_packus_epi32(lo[2], hi[2]), bb = _mm512_packus_epi16(b16, b16);
        __m512i a = _mm512_or_si512(_mm512_shuffle_epi8(rg, a_rg), _mm512_shuffle_epi8(bb, a_b));
        __m512i c = _mm512_or_si512(_mm512_shuffle_epi8(rg, c_rg), _mm512_shuffle_epi8(bb, c_b));
        _mm512_mask_storeu_epi8(o + 3 * x, s1, _mm512_permutex2var_epi32(a, p1, c));
        _mm256_mask_storeu_epi8(o + 3 * x + 64, s2, _mm512_castsi512_si256(_mm512_permutex2var_epi32(a, p2, c)));
    }
}
#endif

static void rgb_row4(const uint8_t *restrict ys, const int16_t *const u[4], const int16_t *const v[4],
                     const int c[4], int n, const coeffs *k, uint8_t *restrict o)
{
#if OVX_VIDEO_X86
    if (ovx_video_simd() >= 2) {
        rgb_row4_x512(ys, u, v, c, n, k, o);
        return;
    }
#endif
    rgb_row4_auto(ys, u, v, c, n, k, o);
}

/* ua, va += c * u15, v15 */
OVX_SIMD_VARIANTS(vacc_row, (int32_t *restrict ua, int32_t *restrict va, const int16_t *restrict u15,
                             const int16_t *restrict v15, int c, int n), (ua, va, u15, v15, c, n), {
    for (int x = 0; x < n; x++) {
        ua[x] += u15[x] * c;
        va[x] += v15[x] * c;
    }
})

static inline int16_t h15(int v)
{
    v >>= 7;
    return (int16_t)(v < 32767 ? v : 32767);
}

/* The 2x horizontal upsampling's regular middle: output pairs (2m, 2m+1)
 * for m in [m0, m1) read 4 samples from m + de and m + dd with the same
 * taps ce, co. */
typedef struct hpair {
    int m0, m1, de, dd;
    int16_t ce[4], co[4];
} hpair;

static hpair find_pairs(const sfilter *hf)
{
    hpair r = {0, 0, 0, 0, {0}, {0}};
    if (hf->size != 4 || hf->n < 16 || hf->n % 2)
        return r;
    int mid = hf->n / 4; /* a pair in the middle */
    const int16_t *e = hf->coef + (size_t)(2 * mid) * 4, *o = e + 4;
    int de = hf->pos[2 * mid] - mid, dd = hf->pos[2 * mid + 1] - mid;
    int m0 = mid, m1 = mid;
    for (int dir = -1; dir <= 1; dir += 2)
        for (int m = dir < 0 ? mid : mid + 1;; m += dir) {
            if (2 * m < 0 || 2 * m + 1 >= hf->n || hf->taps[2 * m] != 4 || hf->taps[2 * m + 1] != 4 ||
                hf->pos[2 * m] != m + de || hf->pos[2 * m + 1] != m + dd ||
                memcmp(hf->coef + (size_t)(2 * m) * 4, e, 4 * sizeof *e) ||
                memcmp(hf->coef + (size_t)(2 * m + 1) * 4, o, 4 * sizeof *o))
                break;
            if (dir < 0)
                m0 = m;
            else
                m1 = m + 1;
        }
    /* no sum below -32768 << 7 (hpairs_x512's int16 packing) */
    int neg_e = 0, neg_o = 0;
    for (int t = 0; t < 4; t++) {
        neg_e += e[t] < 0 ? e[t] : 0;
        neg_o += o[t] < 0 ? o[t] : 0;
    }
    if (m1 <= m0 || 255 * neg_e < -(32768 << 7) || 255 * neg_o < -(32768 << 7))
        return r;
    r.m0 = m0;
    r.m1 = m1;
    r.de = de;
    r.dd = dd;
    memcpy(r.ce, e, sizeof r.ce);
    memcpy(r.co, o, sizeof r.co);
    return r;
}

OVX_SIMD_VARIANTS(hpairs_auto, (const uint8_t *restrict s, const hpair *hp, int ma, int mb, int16_t *restrict out),
                  (s, hp, ma, mb, out), {
    const int e0 = hp->ce[0], e1 = hp->ce[1], e2 = hp->ce[2], e3 = hp->ce[3];
    const int o0 = hp->co[0], o1 = hp->co[1], o2 = hp->co[2], o3 = hp->co[3];
    const uint8_t *a = s + hp->de, *b = s + hp->dd;
    for (int m = ma; m < mb; m++) {
        out[2 * (m - ma)] = h15(a[m] * e0 + a[m + 1] * e1 + a[m + 2] * e2 + a[m + 3] * e3);
        out[2 * (m - ma) + 1] = h15(b[m] * o0 + b[m + 1] * o1 + b[m + 2] * o2 + b[m + 3] * o3);
    }
})

#if OVX_VIDEO_X86
/* hpairs for AVX-512, 32 pairs a step: the four taps' samples a[m + t]
 * widened to int16, taps 0-1 and 2-3 interleaved within each 128-bit lane
 * and multiplied by (c0, c1), (c2, c3) with vpmaddwd (exact in int32), h15,
 * packed back to int16 in order (packs undoes the lane interleave), even
 * and odd outputs interleaved and the lanes put in order by a qword
 * permute. packs' saturation below -32768 never acts: find_pairs keeps
 * only taps whose sums stay above it. The last < 32 pairs by masks. */
OVX_T_512 static inline __m512i hp_half(const uint8_t *a, __mmask32 lm, __m512i c01, __m512i c23)
{
    __m512i p0 = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(lm, a));
    __m512i p1 = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(lm, a + 1));
    __m512i p2 = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(lm, a + 2));
    __m512i p3 = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(lm, a + 3));
    const __m512i top = _mm512_set1_epi32(32767);
    __m512i lo = _mm512_add_epi32(_mm512_madd_epi16(_mm512_unpacklo_epi16(p0, p1), c01),
                                  _mm512_madd_epi16(_mm512_unpacklo_epi16(p2, p3), c23));
    __m512i hi = _mm512_add_epi32(_mm512_madd_epi16(_mm512_unpackhi_epi16(p0, p1), c01),
                                  _mm512_madd_epi16(_mm512_unpackhi_epi16(p2, p3), c23));
    lo = _mm512_min_epi32(_mm512_srai_epi32(lo, 7), top);
    hi = _mm512_min_epi32(_mm512_srai_epi32(hi, 7), top);
    return _mm512_packs_epi32(lo, hi);
}

static inline int32_t pair16(int a, int b)
{
    return (int32_t)((uint32_t)(uint16_t)a | (uint32_t)(uint16_t)b << 16);
}

OVX_T_512 static void hpairs_x512(const uint8_t *restrict s, const hpair *hp, int ma, int mb, int16_t *restrict out)
{
    const __m512i e01 = _mm512_set1_epi32(pair16(hp->ce[0], hp->ce[1]));
    const __m512i e23 = _mm512_set1_epi32(pair16(hp->ce[2], hp->ce[3]));
    const __m512i o01 = _mm512_set1_epi32(pair16(hp->co[0], hp->co[1]));
    const __m512i o23 = _mm512_set1_epi32(pair16(hp->co[2], hp->co[3]));
    const __m512i q1 = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11), q2 = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
    const uint8_t *a = s + hp->de, *b = s + hp->dd;
    for (int m = ma; m < mb; m += 32) {
        const int cnt = mb - m < 32 ? mb - m : 32;
        const __mmask32 lm = cnt == 32 ? ~(__mmask32)0 : ((__mmask32)1 << cnt) - 1;
        const __mmask32 s1 = cnt >= 16 ? ~(__mmask32)0 : ((__mmask32)1 << 2 * cnt) - 1;
        const __mmask32 s2 = cnt <= 16 ? 0 : cnt == 32 ? ~(__mmask32)0 : ((__mmask32)1 << (2 * cnt - 32)) - 1;
        __m512i ev = hp_half(a + m, lm, e01, e23), od = hp_half(b + m, lm, o01, o23);
        __m512i lo = _mm512_unpacklo_epi16(ev, od), hi = _mm512_unpackhi_epi16(ev, od);
        int16_t *o = out + 2 * (m - ma);
        _mm512_mask_storeu_epi16(o, s1, _mm512_permutex2var_epi64(lo, q1, hi));
        _mm512_mask_storeu_epi16(o + 32, s2, _mm512_permutex2var_epi64(lo, q2, hi));
    }
}
#endif

static void hpairs(const uint8_t *restrict s, const hpair *hp, int ma, int mb, int16_t *restrict out)
{
#if OVX_VIDEO_X86
    if (ovx_video_simd() >= 2) {
        hpairs_x512(s, hp, ma, mb, out);
        return;
    }
#endif
    hpairs_auto(s, hp, ma, mb, out);
}

/* output columns [xa, xb) of one chroma row s into out[0, xb - xa) */
static void hrow(const uint8_t *s, const sfilter *hf, const hpair *hp, int ident, int xa, int xb, int16_t *out)
{
    if (ident) {
        for (int x = xa; x < xb; x++)
            out[x - xa] = (int16_t)(s[x] << 7);
        return;
    }
    int pa = 2 * hp->m0 > xa ? 2 * hp->m0 : (xa + 1) & ~1, pb = 2 * hp->m1 < xb ? 2 * hp->m1 : xb & ~1;
    if (pb <= pa)
        pa = pb = xb;
    for (int x = xa; x < xb; x++) {
        if (x == pa) {
            hpairs(s, hp, pa / 2, pb / 2, out + (pa - xa));
            x = pb - 1;
            continue;
        }
        const int16_t *c = hf->coef + (size_t)x * hf->size;
        const uint8_t *p = s + hf->pos[x];
        int v = 0;
        for (int j = 0; j < hf->taps[x]; j++)
            v += p[j] * c[j];
        out[x - xa] = h15(v);
    }
}

/* 1 when the filter copies: tap 0 is one, at the output's own position */
static int identity(const sfilter *f, int one)
{
    for (int i = 0; i < f->n; i++) {
        if (f->pos[i] != i || f->coef[(size_t)i * f->size] != one)
            return 0;
        for (int j = 1; j < f->size; j++)
            if (f->coef[(size_t)i * f->size + j])
                return 0;
    }
    return 1;
}

/* The chroma filters of one picture layout. The first N_LAYOUTS layouts a
 * process meets are kept, read-only, for the process (a video's 64 kept
 * frames build them once); later ones are built per converter. rgb.c's
 * guard adds two strip layouts per picture configuration (a 16-row strip
 * of its width, a 64-column strip of its height): 48 keep 16 video sizes,
 * as 16 did before the guard used strips (~60 kB each at 1080p). */
typedef struct layout {
    int cw, w, ch, h;
    sfilter hf, vf;
    hpair hp;
    int ident;
} layout;

#define N_LAYOUTS 48
static layout *layouts[N_LAYOUTS];
static int n_layouts;
static pthread_mutex_t layout_lock = PTHREAD_MUTEX_INITIALIZER;

static void layout_free(layout *l)
{
    if (!l)
        return;
    sfilter_free(&l->hf);
    sfilter_free(&l->vf);
    free(l);
}

static layout *layout_make(int cw, int w, int ch, int h)
{
    layout *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->cw = cw;
    l->w = w;
    l->ch = ch;
    l->h = h;
    if (make_filter(&l->hf, cw, w, H_ALIGN, 1 << 14) < 0 || make_filter(&l->vf, ch, h, V_ALIGN, 1 << 12) < 0) {
        layout_free(l);
        return NULL;
    }
    l->hp = find_pairs(&l->hf);
    l->ident = identity(&l->hf, 1 << 14);
    return l;
}

/* NULL: out of memory or unsupported; *own: the caller frees it */
static const layout *layout_get(int cw, int w, int ch, int h, layout **own)
{
    *own = NULL;
    pthread_mutex_lock(&layout_lock);
    for (int i = 0; i < n_layouts; i++) {
        const layout *l = layouts[i];
        if (l->cw == cw && l->w == w && l->ch == ch && l->h == h) {
            pthread_mutex_unlock(&layout_lock);
            return l;
        }
    }
    layout *l = layout_make(cw, w, ch, h);
    if (l && n_layouts < N_LAYOUTS)
        layouts[n_layouts++] = l;
    else
        *own = l;
    pthread_mutex_unlock(&layout_lock);
    return l;
}

/* asks for the cache lines of [p, p + n) */
static inline void prefetch_row(const uint8_t *p, int n)
{
    for (int i = 0; i < n; i += 64)
        __builtin_prefetch(p + i);
    __builtin_prefetch(p + n - 1);
}

/* the chroma samples output columns [x0, x0 + rw) read: from hf_first,
 * hf_span of them */
static inline int hf_first(const layout *L, int x0)
{
    return L->hf.pos[x0];
}

static inline int hf_span(const layout *L, int x0, int rw)
{
    return L->hf.pos[x0 + rw - 1] + L->hf.taps[x0 + rw - 1] - L->hf.pos[x0];
}

/* at most 5 + V_ALIGN taps (make_filter) */
#define MAX_VTAPS 8

struct ovx_rgb_exact {
    const layout *L;
    layout *own;     /* L when not kept for the process */
    coeffs k;
    int x0, rw, next_y;
    int16_t *rows;   /* ring of vf.size horizontally filtered chroma rows (U, V) */
    int *tag;        /* the chroma row each ring slot holds, -1 none */
    int32_t *acc;    /* [2][rw] */
};

void ovx_rgb_exact_close(ovx_rgb_exact *c)
{
    if (!c)
        return;
    layout_free(c->own);
    free(c->rows);
    free(c->tag);
    free(c->acc);
    free(c);
}

int ovx_rgb_exact_open(const ovx_yuv_pic *p, const int inv_table[4], int full_range, int x0, int rw,
                       ovx_rgb_exact **out, ovx_error *err)
{
    *out = NULL;
    if (!ovx_rgb_exact_supported(p->w, p->h, p->log2_cw, p->log2_ch) || x0 < 0 || rw <= 0 || x0 + rw > p->w)
        return ovx_error_set(err, OVX_EINTERNAL, "exact RGB: unsupported picture or rectangle");
    ovx_rgb_exact *c = calloc(1, sizeof *c);
    if (!c)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (RGB converter)");
    c->L = layout_get(p->w >> p->log2_cw, p->w, p->h >> p->log2_ch, p->h, &c->own);
    if (!c->L)
        goto nomem;
    if (c->L->vf.size > MAX_VTAPS) {
        ovx_rgb_exact_close(c);
        return ovx_error_set(err, OVX_EINTERNAL, "exact RGB: vertical chroma filter of %d taps", c->L->vf.size);
    }
    c->k = coeffs_of(inv_table, full_range);
    c->x0 = x0;
    c->rw = rw;
    int nr = c->L->vf.size;
    c->rows = malloc((size_t)nr * 2 * rw * sizeof *c->rows);
    c->acc = malloc((size_t)2 * rw * sizeof *c->acc);
    c->tag = malloc((size_t)nr * sizeof *c->tag);
    if (!c->rows || !c->acc || !c->tag)
        goto nomem;
    for (int i = 0; i < nr; i++)
        c->tag[i] = -1;
    *out = c;
    return OVX_OK;
nomem:
    ovx_rgb_exact_close(c);
    return ovx_error_set(err, OVX_ENOMEM, "out of memory (RGB converter)");
}

int ovx_rgb_exact_rows(ovx_rgb_exact *c, const ovx_yuv_pic *p, int y0, int n, uint8_t *dst, int dstride,
                       ovx_error *err)
{
    if (y0 < c->next_y || n < 0 || y0 + n > p->h)
        return ovx_error_set(err, OVX_EINTERNAL, "exact RGB: rows out of order or outside the picture");
    const layout *L = c->L;
    const int rw = c->rw, x0 = c->x0, nr = L->vf.size;
    for (int y = y0; y < y0 + n; y++) {
        const int16_t *vc = L->vf.coef + (size_t)y * nr;
        /* the chroma rows the output row reads, filtered horizontally once each */
        const int16_t *u[MAX_VTAPS], *v[MAX_VTAPS];
        int cf[MAX_VTAPS], nt = 0;
        for (int t = 0; t < L->vf.taps[y]; t++) {
            int r = L->vf.pos[y] + t;
            int slot = r % nr;
            int16_t *u15 = c->rows + (size_t)slot * 2 * rw, *v15 = u15 + rw;
            if (c->tag[slot] != r) {
                if (r + 1 < L->ch) {
                    prefetch_row(p->data[1] + (ptrdiff_t)(r + 1) * p->linesize[1] + hf_first(L, x0), hf_span(L, x0, rw));
                    prefetch_row(p->data[2] + (ptrdiff_t)(r + 1) * p->linesize[2] + hf_first(L, x0), hf_span(L, x0, rw));
                }
                hrow(p->data[1] + (ptrdiff_t)r * p->linesize[1], &L->hf, &L->hp, L->ident, x0, x0 + rw, u15);
                hrow(p->data[2] + (ptrdiff_t)r * p->linesize[2], &L->hf, &L->hp, L->ident, x0, x0 + rw, v15);
                c->tag[slot] = r;
            }
            if (vc[t]) {
                u[nt] = u15;
                v[nt] = v15;
                cf[nt++] = vc[t];
            }
        }
        const uint8_t *ys = p->data[0] + (ptrdiff_t)y * p->linesize[0] + x0;
        /* the luma row after next on its way from memory (a decoded
         * picture is read once, so it is rarely in cache) */
        if (y + 2 < p->h)
            prefetch_row(ys + 2 * (ptrdiff_t)p->linesize[0], rw);
        uint8_t *o = dst + (size_t)(y - y0) * dstride;
        if (nt >= 1 && nt <= 4) {
            for (int t = nt; t < 4; t++) {
                u[t] = u[0];
                v[t] = v[0];
                cf[t] = 0;
            }
            rgb_row4(ys, u, v, cf, rw, &c->k, o);
            continue;
        }
        int32_t *ua = c->acc, *va = c->acc + rw;
        for (int x = 0; x < rw; x++)
            ua[x] = va[x] = (1 << 9) - (128 << 19);
        for (int t = 0; t < nt; t++)
            vacc_row(ua, va, u[t], v[t], cf[t], rw);
        rgb_row(ys, ua, va, rw, &c->k, o);
    }
    c->next_y = y0 + n;
    return OVX_OK;
}

int ovx_rgb_exact_rect(const ovx_yuv_pic *p, const int inv_table[4], int full_range, int x0, int y0, int rw,
                       int rh, uint8_t *dst, int dstride, ovx_error *err)
{
    ovx_rgb_exact *c;
    int rc = ovx_rgb_exact_open(p, inv_table, full_range, x0, rw, &c, err);
    if (rc == OVX_OK)
        rc = ovx_rgb_exact_rows(c, p, y0, rh, dst, dstride, err);
    ovx_rgb_exact_close(c);
    return rc;
}
