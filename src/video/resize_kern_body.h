/* resize_kern_body.h: the one body of resize_kern.c's SIMD kernels, the
 * horizontal multiply-adds and the vertical row, built once per vector
 * width. resize_kern.c defines, for a width of L int32 lanes:
 *   HK_T             the function attribute of the ISA
 *   HK_V             the vector type of L int32
 *   HK_(name)        the function name for this width (e.g. name##_512)
 *   HK_ZERO, HK_SET1(x), HK_ADD(a, b), HK_MUL(a, b), HK_SRA(a, n), HK_SLL(a, n)
 *   HK_MADD(acc, v, w)  acc + the int16 pair products of v and w (pmaddwd)
 *   HK_CLIP(a)       a clipped to 0..255
 *   HK_LOAD(p)       L int32 from 4 L bytes at p (64-byte aligned)
 *   HK_LOADB(p)      L bytes at p, zero-extended to L int32
 *   HK_STOREB(p, a)  a's L values (0..255) as L bytes at p
 * and includes this header once per width. */

/* The multiply-adds of 16 rows: for each output pixel i, channel c and row
 * r, hi = sum_j p[lo_i + j][c] . kh[i][j], lo the same with kl, out =
 * clip(((hi << 11) + lo + 2^21) >> 22), L rows per vector, 16 / L vectors. */
HK_T static void HK_(mac)(const ovx_hkern *h)
{
    const HK_V rnd = HK_SET1(1 << (PREC_BITS - 1)), z = HK_ZERO;
    const int np = h->np;
    for (int i = 0; i < h->ow; i++) {
        const int32_t *kh = h->kh + (size_t)i * np, *kl = h->kl + (size_t)i * np;
        for (int part = 0; part < 16 / HK_L; part++) {
            const uint8_t *p = h->p + (size_t)h->lo[i] * 3 * 64 + 4 * HK_L * part;
            HK_V h0 = z, h1 = z, h2 = z, l0 = z, l1 = z, l2 = z;
            for (int j = 0; j < np; j++) {
                const uint8_t *q = p + (size_t)j * 6 * 64;
                HK_V wh = HK_SET1(kh[j]), wl = HK_SET1(kl[j]);
                HK_V v0 = HK_LOAD(q), v1 = HK_LOAD(q + 64), v2 = HK_LOAD(q + 128);
                h0 = HK_MADD(h0, v0, wh);
                l0 = HK_MADD(l0, v0, wl);
                h1 = HK_MADD(h1, v1, wh);
                l1 = HK_MADD(l1, v1, wl);
                h2 = HK_MADD(h2, v2, wh);
                l2 = HK_MADD(l2, v2, wl);
            }
            HK_V hs[3] = {h0, h1, h2}, ls[3] = {l0, l1, l2};
            for (int c = 0; c < 3; c++) {
                HK_V s = HK_ADD(HK_ADD(HK_SLL(hs[c], 11), ls[c]), rnd);
                HK_STOREB(h->u + (size_t)(3 * i + c) * 16 + HK_L * part, HK_CLIP(HK_SRA(s, PREC_BITS)));
            }
        }
    }
}

/* The vertical row (ovx_vkern_row), four vectors at a time with the taps
 * innermost, then one vector at a time, the last < L bytes with the
 * portable row. */
HK_T static void HK_(vrow)(const uint8_t *restrict in, size_t stride, const int32_t *restrict k, int n, int m,
                           uint8_t *restrict o)
{
    const HK_V rnd = HK_SET1(1 << (PREC_BITS - 1));
    int i = 0;
    for (; i + 4 * HK_L <= m; i += 4 * HK_L) {
        HK_V a0 = rnd, a1 = rnd, a2 = rnd, a3 = rnd;
        for (int y = 0; y < n; y++) {
            const uint8_t *r = in + (size_t)y * stride + i;
            HK_V w = HK_SET1(k[y]);
            a0 = HK_ADD(a0, HK_MUL(HK_LOADB(r), w));
            a1 = HK_ADD(a1, HK_MUL(HK_LOADB(r + HK_L), w));
            a2 = HK_ADD(a2, HK_MUL(HK_LOADB(r + 2 * HK_L), w));
            a3 = HK_ADD(a3, HK_MUL(HK_LOADB(r + 3 * HK_L), w));
        }
        HK_V as[4] = {a0, a1, a2, a3};
        for (int v = 0; v < 4; v++)
            HK_STOREB(o + i + HK_L * v, HK_CLIP(HK_SRA(as[v], PREC_BITS)));
    }
    for (; i + HK_L <= m; i += HK_L) {
        HK_V a = rnd;
        for (int y = 0; y < n; y++)
            a = HK_ADD(a, HK_MUL(HK_LOADB(in + (size_t)y * stride + i), HK_SET1(k[y])));
        HK_STOREB(o + i, HK_CLIP(HK_SRA(a, PREC_BITS)));
    }
    if (i < m)
        vrow_c(in + i, stride, k, n, m - i, o + i);
}
