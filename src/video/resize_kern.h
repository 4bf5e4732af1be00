/* resize_kern.h: resize.c's horizontal pass sixteen rows at a time with
 * x86 SIMD (AVX2, or AVX-512 with VNNI), chosen at run time; internal to
 * src/video. Each vector lane is one source row, so a weight is broadcast
 * and no sum is ever reduced across lanes. The arithmetic is PIL's: every
 * weight k (22 fractional bits) is split as k = (k >> 11) * 2^11 + (k & 2047),
 * two 16-bit halves that multiply-add pairs of 8-bit pixels exactly
 * (pmaddwd), and the halves' sums are joined as (hi << 11) + lo: the same
 * int32 sums as PIL's, so the same bytes. */
#ifndef OVX_VIDEO_RESIZE_KERN_H
#define OVX_VIDEO_RESIZE_KERN_H

#include <stddef.h>
#include <stdint.h>

enum { OVX_HK_ROWS = 16 };

typedef struct ovx_hkern {
    int ncols;              /* source columns the window reads */
    int ow;                 /* output pixels */
    int np;                 /* tap pairs per output pixel (zero weights past its taps) */
    const int *lo;          /* [ow] first source column of each output, from the first read */
    const int32_t *kh, *kl; /* [ow][np] the two taps' high / low halves as int16 pairs */
    uint8_t *t, *p, *u;     /* scratch (ovx_hkern_alloc) */
} ovx_hkern;

/* isa: ovx_video_simd() (simd.h); ovx_hkern_run only at 1 or more */
/* scratch for h; 0 ok, -1 out of memory */
int ovx_hkern_alloc(ovx_hkern *h);
void ovx_hkern_free(ovx_hkern *h);

/* Rows rows[0..nr) (nr <= 16; each points at the first read column, packed
 * RGB) through the horizontal pass; output row r at out + r * ostride. */
void ovx_hkern_run(int isa, ovx_hkern *h, const uint8_t *const rows[OVX_HK_ROWS], int nr, uint8_t *out,
                   size_t ostride);

/* One output row of the vertical pass: acc[i] = 2^21 + sum_y in[y][i] * k[y]
 * over n rows stride bytes apart, o[i] = clip(acc >> 22), for m bytes. */
void ovx_vkern_row(int isa, const uint8_t *in, size_t stride, const int32_t *k, int n, int m, uint8_t *o);

#endif
