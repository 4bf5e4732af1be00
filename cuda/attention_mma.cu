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
#define F2_MT 2        /* m-tiles of 16 query rows per warp: K/V fragments serve both */
#define F2_RW (16 * F2_MT)
#define F2_WARPS (F2_BR / F2_RW)
#define F2_THREADS (F2_WARPS * 32)
#define F2_ONES 0x3f803f80u /* two bf16 1.0 */

/* element offset of chunk c (8 bf16) of row r in a swizzled 64-wide tile */
__device__ __forceinline__ int f2_at(int r, int c)
{
    return r * F2_D + ((c ^ (r & 7)) << 3);
}

/* rows [r0, r0 + n) of a [*, ld] bf16 matrix, columns col..col+63 -> a
 * ROWS-row swizzled tile, rows n.. zero (cp.async zero fill). Thread t copies
 * chunk t % 8 of rows t / 8 + 16 i: one address computation, then a fixed
 * step (the swizzle of row r + 16 i is that of row r). */
template <int ROWS>
__device__ __forceinline__ void f2_load(uint16_t *dst, const uint16_t *src, int ld, int col, int r0,
                                        int n)
{
    const int c = threadIdx.x & 7, r = threadIdx.x >> 3;
    const uint16_t *s0 = src + (size_t)r0 * ld + col + c * 8;
    uint16_t *d0 = dst + f2_at(r, c);
    OVX_UNROLL
    for (int i = 0; i < ROWS / (F2_THREADS / 8); i++) {
        const int rr = r + i * (F2_THREADS / 8);
        const bool ok = rr < n;
        ovx_cp_async16(d0 + i * (F2_THREADS / 8) * F2_D, s0 + (ok ? (size_t)rr * ld : 0), ok ? 16 : 0);
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
    const int row0 = warp * F2_RW;          /* this warp's first query row in the tile */
    const bool active = row0 < nq;          /* warp-uniform */
    const int nkt = (nk + F2_BC - 1) / F2_BC;

    f2_load<F2_BR>(qs, q, q_ld, col, q0, nq);
    f2_load<F2_BC>(ks[0], k, kv_ld, col, k0, nk < F2_BC ? nk : F2_BC);
    f2_load<F2_BC>(vs[0], v, kv_ld, col, k0, nk < F2_BC ? nk : F2_BC);
    ovx_cp_async_commit();

    const float scale_log2 = scale * OVX_NX_LOG2E; /* base-2 softmax (numerics.h) */
    /* per m-tile mt (rows row0 + 16 mt ..): Q's A fragments, O, the row sums
     * ([0], [1] row g, [2], [3] row g + 8) and the running offsets (rows g, g + 8) */
    uint32_t qa[F2_MT][F2_D / 16][4];
    float acc_o[F2_MT][F2_D / 8][4], acc_l[F2_MT][4], m[F2_MT][2];
    OVX_UNROLL
    for (int mt = 0; mt < F2_MT; mt++) {
        OVX_UNROLL
        for (int i = 0; i < F2_D / 8; i++)
            acc_o[mt][i][0] = acc_o[mt][i][1] = acc_o[mt][i][2] = acc_o[mt][i][3] = 0.0f;
        acc_l[mt][0] = acc_l[mt][1] = acc_l[mt][2] = acc_l[mt][3] = 0.0f;
        m[mt][0] = m[mt][1] = -INFINITY;
    }

    for (int j = 0; j < nkt; j++) {
        const int kt = j * F2_BC, nvalid = nk - kt < F2_BC ? nk - kt : F2_BC;
        if (j + 1 < nkt) { /* the next K/V tile into the other buffers, in flight meanwhile */
            const int nn = nk - kt - F2_BC < F2_BC ? nk - kt - F2_BC : F2_BC;
            f2_load<F2_BC>(ks[(j + 1) & 1], k, kv_ld, col, k0 + kt + F2_BC, nn);
            f2_load<F2_BC>(vs[(j + 1) & 1], v, kv_ld, col, k0 + kt + F2_BC, nn);
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
                for (int mt = 0; mt < F2_MT; mt++)
                    OVX_UNROLL
                    for (int kk = 0; kk < F2_D / 16; kk++)
                        ovx_ldsm_x4(qa[mt][kk], qs + f2_at(row0 + mt * 16 + mr + (mi & 1) * 8,
                                                           kk * 2 + (mi >> 1)));
            }

            /* S = Q K^T, 16 x 64 per m-tile: n-tiles of 8 keys; each K fragment
             * serves both m-tiles */
            float s[F2_MT][F2_BC / 8][4];
            OVX_UNROLL
            for (int mt = 0; mt < F2_MT; mt++)
                OVX_UNROLL
                for (int i = 0; i < F2_BC / 8; i++)
                    s[mt][i][0] = s[mt][i][1] = s[mt][i][2] = s[mt][i][3] = 0.0f;
            OVX_UNROLL
            for (int kk = 0; kk < F2_D / 16; kk++) {
                OVX_UNROLL
                for (int np = 0; np < F2_BC / 16; np++) {
                    /* keys np*16 + 0-7 at d chunks 2kk, 2kk+1, keys + 8-15 likewise */
                    uint32_t b[4];
                    ovx_ldsm_x4(b, kb + f2_at(np * 16 + mr + (mi >> 1) * 8, kk * 2 + (mi & 1)));
                    OVX_UNROLL
                    for (int mt = 0; mt < F2_MT; mt++) {
                        ovx_mma_bf16(s[mt][2 * np], qa[mt][kk], b[0], b[1]);
                        ovx_mma_bf16(s[mt][2 * np + 1], qa[mt][kk], b[2], b[3]);
                    }
                }
            }

            /* online softmax on the fragments: s[mt][nt][e] is row g + 8 (e / 2)
             * of m-tile mt, key nt*8 + 2 tq + e % 2; keys past the sample's end
             * (last tile) -inf */
            if (nvalid < F2_BC) {
                OVX_UNROLL
                for (int mt = 0; mt < F2_MT; mt++)
                    OVX_UNROLL
                    for (int nt = 0; nt < F2_BC / 8; nt++)
                        OVX_UNROLL
                        for (int e = 0; e < 4; e++)
                            if (nt * 8 + 2 * tq + (e & 1) >= nvalid)
                                s[mt][nt][e] = -INFINITY;
            }
            float alpha[F2_MT][2];
            bool moved = false;
            OVX_UNROLL
            for (int mt = 0; mt < F2_MT; mt++) {
                /* the row max of the raw scores: scale log2(e) > 0 keeps the
                 * order, and fl(max s * c) = max fl(s * c) */
                float mx[2] = {-INFINITY, -INFINITY};
                OVX_UNROLL
                for (int nt = 0; nt < F2_BC / 8; nt++) {
                    mx[0] = fmaxf(mx[0], fmaxf(s[mt][nt][0], s[mt][nt][1]));
                    mx[1] = fmaxf(mx[1], fmaxf(s[mt][nt][2], s[mt][nt][3]));
                }
                OVX_UNROLL
                for (int r = 0; r < 2; r++) {
                    mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
                    mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
                    /* integer offset, finite: every tile has a valid key */
                    const float m_new = fmaxf(m[mt][r], ovx_nx_softmax_offset(mx[r] * scale_log2));
                    alpha[mt][r] = ovx_nx_exp2i(m[mt][r] - m_new); /* a power of two */
                    m[mt][r] = m_new;
                    moved = moved || alpha[mt][r] != 1.0f;
                }
            }
            /* O and l rescaled by 2^(m_old - m_new) when a row's offset moved
             * (with an integer offset: the first tiles, rarely later) */
            if (__any_sync(0xffffffffu, moved)) {
                OVX_UNROLL
                for (int mt = 0; mt < F2_MT; mt++) {
                    OVX_UNROLL
                    for (int i = 0; i < F2_D / 8; i++) {
                        acc_o[mt][i][0] *= alpha[mt][0], acc_o[mt][i][1] *= alpha[mt][0];
                        acc_o[mt][i][2] *= alpha[mt][1], acc_o[mt][i][3] *= alpha[mt][1];
                    }
                    acc_l[mt][0] *= alpha[mt][0], acc_l[mt][1] *= alpha[mt][0];
                    acc_l[mt][2] *= alpha[mt][1], acc_l[mt][3] *= alpha[mt][1];
                }
            }
            /* P = bf16(2^(s c - m)) (one FFMA and ex2.approx per score), packed
             * pairs: p[mt][nt][0] row g, p[mt][nt][1] row g + 8 */
            uint32_t p[F2_MT][F2_BC / 8][2];
            OVX_UNROLL
            for (int mt = 0; mt < F2_MT; mt++)
                OVX_UNROLL
                for (int nt = 0; nt < F2_BC / 8; nt++)
                    OVX_UNROLL
                    for (int r = 0; r < 2; r++)
                        p[mt][nt][r] =
                            ovx_cvt_bf16x2(ovx_ex2(fmaf(s[mt][nt][2 * r], scale_log2, -m[mt][r])),
                                           ovx_ex2(fmaf(s[mt][nt][2 * r + 1], scale_log2, -m[mt][r])));

            /* O += P V: the A fragment of keys kk*16.. is S's n-tiles 2kk, 2kk+1;
             * each V fragment serves both m-tiles */
            OVX_UNROLL
            for (int kk = 0; kk < F2_BC / 16; kk++) {
                uint32_t pa[F2_MT][4];
                OVX_UNROLL
                for (int mt = 0; mt < F2_MT; mt++) {
                    pa[mt][0] = p[mt][2 * kk][0], pa[mt][1] = p[mt][2 * kk][1];
                    pa[mt][2] = p[mt][2 * kk + 1][0], pa[mt][3] = p[mt][2 * kk + 1][1];
                    /* l += rowsum(P) of the rounded P (the weights P V uses: they
                     * sum to 1 after O / l) as P times a B of ones */
                    ovx_mma_bf16(acc_l[mt], pa[mt], F2_ONES, F2_ONES);
                }
                OVX_UNROLL
                for (int dp = 0; dp < F2_D / 16; dp++) {
                    /* transposed: keys kk*16 + 0-7 and + 8-15 at d chunk 2dp, then 2dp+1 */
                    uint32_t b[4];
                    ovx_ldsm_x4(b, vb + f2_at(kk * 16 + mr + (mi & 1) * 8, dp * 2 + (mi >> 1)), true);
                    OVX_UNROLL
                    for (int mt = 0; mt < F2_MT; mt++) {
                        ovx_mma_bf16(acc_o[mt][2 * dp], pa[mt], b[0], b[1]);
                        ovx_mma_bf16(acc_o[mt][2 * dp + 1], pa[mt], b[2], b[3]);
                    }
                }
            }
        }
        __syncthreads(); /* every warp is done with buffers j & 1 before they are refilled */
    }

    if (!active)
        return;
    OVX_UNROLL
    for (int mt = 0; mt < F2_MT; mt++)
        OVX_UNROLL
        for (int r = 0; r < 2; r++) {
            const int qr = row0 + mt * 16 + g + 8 * r;
            if (qr < nq) {
                const float inv = 1.0f / acc_l[mt][2 * r];
                uint16_t *out = o + (size_t)(o0 + qr) * o_ld + col + 2 * tq;
                OVX_UNROLL
                for (int i = 0; i < F2_D / 8; i++)
                    ovx_st_b32(out + i * 8, ovx_cvt_bf16x2(acc_o[mt][i][2 * r] * inv,
                                                          acc_o[mt][i][2 * r + 1] * inv));
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
