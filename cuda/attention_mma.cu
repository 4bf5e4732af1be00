/* attention_mma.cu: fused variable-length multi-head attention with
 * FlashAttention-2's structure, heads of 64, bf16 in, fp32 accumulate: the
 * `fused` kernel (attention.cu's WMMA kernel stays as `--attention wmma`).
 * Design and numerics: shared/spec/gpu-attention.md, cuda/README.md.
 *
 * A block takes one tile of up to 128 query rows of one sample and one head
 * (grid: tiles x heads; tile list from ovx_cuda_attention_self_tiles),
 * 8 warps of 16 query rows; warps whose rows all lie past the tile's end
 * only help with the loads. Shared memory (48 KB): the Q tile and two K and
 * two V buffers of 64 keys, bf16, rows of 64 as 8 chunks of 16 bytes with
 * chunk c of row r at c ^ (r % 8) (ldmatrix reads 8 rows of one chunk:
 * 8 different bank groups). K/V tile j + 1 is copied with cp.async while
 * tile j is computed; rows past the sample's end are zero-filled (their
 * scores are -inf). Per warp and 64-key tile:
 *   S = Q K^T: 4 x 8 mma.m16n8k16 on ldmatrix operands (Q kept in registers);
 *   online softmax on the accumulator fragments (a lane has rows g and g + 8
 *   of its warp's 16, g = lane / 4; row max over the quad by two shuffles),
 *   base 2 with an integer running offset as numerics.h: x = scale log2(e)
 *   S, m_new = max(m, ceil(rowmax x)), P = bf16(2^(x - m_new)), l and O
 *   rescaled by 2^(m - m_new) (exact), l += rowsum of the rounded P;
 *   O += P V: P's accumulator fragments are the A fragments of the product
 *   (no shared memory), V through ldmatrix.trans.
 * At the end l is summed over the quad and O / l stored as bf16. Each PTX
 * instruction is a function of ptx.h with a host twin: built by nvcc and,
 * through cuda_compat.h, on the CUDA-on-host shim. */
#include <stdio.h>

#include "cuda_compat.h"
#include "kernels.h"
#include "numerics.h"
#include "ptx.h"

#define F2_D 64       /* head dim */
#define F2_BR 128     /* query rows per block */
#define F2_BC 64      /* keys per tile */
#define F2_WARPS (F2_BR / 16)
#define F2_THREADS (F2_WARPS * 32)
#define F2_ONES 0x3f803f80u /* two bf16 1.0 */

/* element offset of chunk c (8 bf16) of row r in a swizzled 64-wide tile */
__device__ __forceinline__ int f2_at(int r, int c)
{
    return r * F2_D + ((c ^ (r & 7)) << 3);
}

/* rows [r0, r0 + n) of a [*, ld] bf16 matrix, columns col..col+63 -> a
 * `rows`-row swizzled tile, rows n.. zero (cp.async zero fill) */
__device__ __forceinline__ void f2_load(uint16_t *dst, const uint16_t *src, int ld, int col,
                                        int r0, int n, int rows)
{
    for (int i = threadIdx.x; i < rows * 8; i += F2_THREADS) {
        const int r = i >> 3, c = i & 7, ok = r < n;
        ovx_cp_async16(dst + f2_at(r, c), src + (size_t)(r0 + (ok ? r : 0)) * ld + col + c * 8,
                       ok ? 16 : 0);
    }
}

/* tiles[5 t ..]: first query row, query rows (<= 128), first key row, keys,
 * first output row; q, k, v, o bf16 with head h at columns h*64 */
__global__ void __launch_bounds__(F2_THREADS)
k_flash_attention_mma(const uint16_t *q, int q_ld, const uint16_t *k, const uint16_t *v,
                      int kv_ld, uint16_t *o, int o_ld, const int *tiles, float scale)
{
    __shared__ __align__(128) uint16_t qs[F2_BR * F2_D];
    __shared__ __align__(128) uint16_t ks[2][F2_BC * F2_D];
    __shared__ __align__(128) uint16_t vs[2][F2_BC * F2_D];

    const int *t = tiles + 5 * blockIdx.x;
    const int q0 = t[0], nq = t[1], k0 = t[2], nk = t[3], o0 = t[4];
    const int col = blockIdx.y * F2_D;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = lane >> 2, tq = lane & 3; /* fragment row group, thread in group */
    const int mi = lane >> 3, mr = lane & 7; /* ldmatrix: the matrix and row this lane addresses */
    const bool active = warp * 16 < nq;     /* warp-uniform */
    const int nkt = (nk + F2_BC - 1) / F2_BC;

    f2_load(qs, q, q_ld, col, q0, nq, F2_BR);
    f2_load(ks[0], k, kv_ld, col, k0, nk < F2_BC ? nk : F2_BC, F2_BC);
    f2_load(vs[0], v, kv_ld, col, k0, nk < F2_BC ? nk : F2_BC, F2_BC);
    ovx_cp_async_commit();

    const float scale_log2 = scale * OVX_NX_LOG2E; /* base-2 softmax (numerics.h) */
    uint32_t qa[F2_D / 16][4];
    float acc_o[F2_D / 8][4];
    OVX_UNROLL
    for (int i = 0; i < F2_D / 8; i++)
        acc_o[i][0] = acc_o[i][1] = acc_o[i][2] = acc_o[i][3] = 0.0f;
    float m[2] = {-INFINITY, -INFINITY}; /* rows g, g + 8 */
    float acc_l[4] = {0.0f, 0.0f, 0.0f, 0.0f}; /* row sums: [0], [1] row g, [2], [3] row g + 8 */

    for (int j = 0; j < nkt; j++) {
        const int kt = j * F2_BC, nvalid = nk - kt < F2_BC ? nk - kt : F2_BC;
        if (j + 1 < nkt) { /* the next K/V tile into the other buffers, in flight meanwhile */
            const int nn = nk - kt - F2_BC < F2_BC ? nk - kt - F2_BC : F2_BC;
            f2_load(ks[(j + 1) & 1], k, kv_ld, col, k0 + kt + F2_BC, nn, F2_BC);
            f2_load(vs[(j + 1) & 1], v, kv_ld, col, k0 + kt + F2_BC, nn, F2_BC);
            ovx_cp_async_commit();
            ovx_cp_async_wait<1>();
        } else {
            ovx_cp_async_wait<0>();
        }
        __syncthreads(); /* tile j (and Q) visible to every warp */

        if (active) {
            const uint16_t *kb = ks[j & 1], *vb = vs[j & 1];
            if (j == 0) {
                /* Q fragments: matrices (rows 0-7, k 0-7), (rows 8-15, k 0-7),
                 * (rows 0-7, k 8-15), (rows 8-15, k 8-15) of each 16-wide k step */
                OVX_UNROLL
                for (int kk = 0; kk < F2_D / 16; kk++)
                    ovx_ldsm_x4(qa[kk], qs + f2_at(warp * 16 + mr + (mi & 1) * 8, kk * 2 + (mi >> 1)));
            }

            /* S = Q K^T, 16 x 64: n-tiles of 8 keys */
            float s[F2_BC / 8][4];
            OVX_UNROLL
            for (int i = 0; i < F2_BC / 8; i++)
                s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.0f;
            OVX_UNROLL
            for (int kk = 0; kk < F2_D / 16; kk++) {
                OVX_UNROLL
                for (int np = 0; np < F2_BC / 16; np++) {
                    /* keys np*16 + 0-7 at d chunks 2kk, 2kk+1, keys + 8-15 likewise */
                    uint32_t b[4];
                    ovx_ldsm_x4(b, kb + f2_at(np * 16 + mr + (mi >> 1) * 8, kk * 2 + (mi & 1)));
                    ovx_mma_bf16(s[2 * np], qa[kk], b[0], b[1]);
                    ovx_mma_bf16(s[2 * np + 1], qa[kk], b[2], b[3]);
                }
            }

            /* online softmax on the fragments: s[nt][e] is row g + 8 (e / 2),
             * key nt*8 + 2 tq + e % 2; keys past the sample's end (last tile) -inf */
            if (nvalid < F2_BC) {
                OVX_UNROLL
                for (int nt = 0; nt < F2_BC / 8; nt++)
                    OVX_UNROLL
                    for (int e = 0; e < 4; e++)
                        if (nt * 8 + 2 * tq + (e & 1) >= nvalid)
                            s[nt][e] = -INFINITY;
            }
            /* the row max of the raw scores: scale log2(e) > 0 keeps the order,
             * and fl(max s * c) = max fl(s * c) */
            float mx[2] = {-INFINITY, -INFINITY};
            OVX_UNROLL
            for (int nt = 0; nt < F2_BC / 8; nt++) {
                mx[0] = fmaxf(mx[0], fmaxf(s[nt][0], s[nt][1]));
                mx[1] = fmaxf(mx[1], fmaxf(s[nt][2], s[nt][3]));
            }
            float alpha[2];
            OVX_UNROLL
            for (int r = 0; r < 2; r++) {
                mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
                mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
                /* integer offset, finite: every tile has a valid key */
                const float m_new = fmaxf(m[r], ovx_nx_softmax_offset(mx[r] * scale_log2));
                alpha[r] = ovx_nx_exp2i(m[r] - m_new); /* a power of two */
                m[r] = m_new;
            }
            /* O and l rescaled by 2^(m_old - m_new) when a row's offset moved
             * (with an integer offset: the first tiles, rarely later) */
            if (__any_sync(0xffffffffu, alpha[0] != 1.0f || alpha[1] != 1.0f)) {
                OVX_UNROLL
                for (int i = 0; i < F2_D / 8; i++) {
                    acc_o[i][0] *= alpha[0], acc_o[i][1] *= alpha[0];
                    acc_o[i][2] *= alpha[1], acc_o[i][3] *= alpha[1];
                }
                acc_l[0] *= alpha[0], acc_l[1] *= alpha[0];
                acc_l[2] *= alpha[1], acc_l[3] *= alpha[1];
            }
            /* P = bf16(2^(s c - m)) (one FFMA and ex2.approx per score), packed
             * pairs: p[nt][0] row g, p[nt][1] row g + 8 */
            uint32_t p[F2_BC / 8][2];
            OVX_UNROLL
            for (int nt = 0; nt < F2_BC / 8; nt++)
                OVX_UNROLL
                for (int r = 0; r < 2; r++)
                    p[nt][r] = ovx_cvt_bf16x2(ovx_ex2(fmaf(s[nt][2 * r], scale_log2, -m[r])),
                                              ovx_ex2(fmaf(s[nt][2 * r + 1], scale_log2, -m[r])));

            /* O += P V: the A fragment of keys kk*16.. is S's n-tiles 2kk, 2kk+1 */
            OVX_UNROLL
            for (int kk = 0; kk < F2_BC / 16; kk++) {
                const uint32_t pa[4] = {p[2 * kk][0], p[2 * kk][1], p[2 * kk + 1][0], p[2 * kk + 1][1]};
                /* l += rowsum(P) of the rounded P (the weights P V uses: they sum
                 * to 1 after O / l) as P times a B of ones: every column the sum */
                ovx_mma_bf16(acc_l, pa, F2_ONES, F2_ONES);
                OVX_UNROLL
                for (int dp = 0; dp < F2_D / 16; dp++) {
                    /* transposed: keys kk*16 + 0-7 and + 8-15 at d chunk 2dp, then 2dp+1 */
                    uint32_t b[4];
                    ovx_ldsm_x4(b, vb + f2_at(kk * 16 + mr + (mi & 1) * 8, dp * 2 + (mi >> 1)), true);
                    ovx_mma_bf16(acc_o[2 * dp], pa, b[0], b[1]);
                    ovx_mma_bf16(acc_o[2 * dp + 1], pa, b[2], b[3]);
                }
            }
        }
        __syncthreads(); /* every warp is done with buffers j & 1 before they are refilled */
    }

    if (!active)
        return;
    OVX_UNROLL
    for (int r = 0; r < 2; r++) {
        const int qr = warp * 16 + g + 8 * r;
        if (qr < nq) {
            const float inv = 1.0f / acc_l[2 * r];
            uint16_t *out = o + (size_t)(o0 + qr) * o_ld + col + 2 * tq;
            OVX_UNROLL
            for (int i = 0; i < F2_D / 8; i++)
                ovx_st_b32(out + i * 8, ovx_cvt_bf16x2(acc_o[i][2 * r] * inv, acc_o[i][2 * r + 1] * inv));
        }
    }
}

extern "C" int OVX_KFN(flash_attention_mma)(ovx_gpu *g, const ovx_bf16 *d_q, int q_ld,
                                            const ovx_bf16 *d_k, const ovx_bf16 *d_v, int kv_ld,
                                            ovx_bf16 *d_o, int o_ld, const int32_t *d_tiles,
                                            int ntiles, int heads, float scale)
{
    /* 16-byte row starts for cp.async, 4-byte output pairs */
    if (q_ld % 8 || kv_ld % 8 || o_ld % 8 ||
        ((uintptr_t)d_q | (uintptr_t)d_k | (uintptr_t)d_v) % 16 || (uintptr_t)d_o % 4) {
        snprintf(g->msg, sizeof g->msg,
                 "mma attention: row strides %d/%d/%d or pointers not 16-byte aligned", q_ld, kv_ld,
                 o_ld);
        return -1;
    }
    if (ntiles <= 0)
        return 0;
    OVX_LAUNCH(k_flash_attention_mma, dim3((unsigned)ntiles, (unsigned)heads), F2_THREADS,
               (cudaStream_t)g->stream, d_q, q_ld, d_k, d_v, kv_ld, d_o, o_ld, d_tiles, scale);
    return ovx_check_launch(g, "flash_attention_mma");
}
