/* attention.cu: fused variable-length multi-head attention, FlashAttention-2
 * forward (no mask), heads of 64, bf16 tensor-core products (WMMA 16x16x16,
 * float accumulators), fp32 online softmax through shared memory; scores
 * never leave the chip. Design and numerics: shared/spec/gpu-attention.md.
 *
 * A block handles one tile of up to 64 query rows of one sample and one head
 * (grid: tiles x heads; the tile list is built on the host from the packed
 * samples' offsets, see ops.c): 4 warps of 16 query rows each. Per tile of
 * 64 keys: K and V tiles -> shared memory (rows past the sample's end are
 * zero and their scores -inf); S = Q K^T per warp (WMMA) -> shared memory;
 * per row (two lanes a row), in base 2 (numerics.h): x = scale log2(e) S,
 * m_new = max(m, ceil(rowmax(x))), P = 2^(x - m_new) rounded to bf16,
 * l = l 2^(m - m_new) + rowsum(P); P V (WMMA) -> shared memory; O = O
 * 2^(m - m_new) + P V in registers (2^(m - m_new): an exact power of two,
 * so P is rounded as the chunked path rounds it, whatever the tiling).
 * At the end O / l is stored as bf16; query rows past the sample's end are
 * not stored. Shared memory: 44 KB (under the 48 KB static limit). Built by
 * nvcc and, through cuda_compat.h, on the CUDA-on-host shim. */
#include <stdio.h>

#include "cuda_compat.h"
#include "kernels.h"
#include "numerics.h"

using namespace nvcuda;

#define FA_D 64        /* head dim */
#define FA_BR 64       /* query rows per block */
#define FA_BC 64       /* keys per tile */
#define FA_WARPS (FA_BR / 16)
#define FA_THREADS (FA_WARPS * 32)
#define FA_LDH 72      /* bf16 row stride in shared memory (x8, skewed) */
#define FA_LDS 68      /* float row stride in shared memory (x4, skewed) */

typedef __nv_bfloat16 bf16_t;

/* rows [r0, r0 + n) of a [*, ld] bf16 matrix, columns col..col+63, into a
 * 64 x FA_LDH shared tile; rows n..63 zero. 16-byte copies. */
__device__ static void load_tile(bf16_t *dst, const uint16_t *src, int ld, int col, int r0, int n)
{
    for (int i = threadIdx.x; i < 64 * 8; i += FA_THREADS) {
        int r = i >> 3, c = (i & 7) * 8;
        uint4 v = {0u, 0u, 0u, 0u};
        if (r < n)
            v = *(const uint4 *)(src + (size_t)(r0 + r) * ld + col + c);
        *(uint4 *)(dst + r * FA_LDH + c) = v;
    }
}

/* tiles[5 t ..]: first query row, query rows (<= 64), first key row, keys,
 * first output row; q, k, v, o bf16 with head h at columns h*64 */
__global__ void __launch_bounds__(FA_THREADS)
k_flash_attention(const uint16_t *q, int q_ld, const uint16_t *k, const uint16_t *v, int kv_ld,
                  uint16_t *o, int o_ld, const int *tiles, float scale)
{
    __shared__ __align__(32) bf16_t qp[FA_BR * FA_LDH]; /* Q tile, then per-warp P */
    __shared__ __align__(32) bf16_t ks[FA_BC * FA_LDH];
    __shared__ __align__(32) bf16_t vs[FA_BC * FA_LDH];
    __shared__ __align__(32) float sw[FA_WARPS * 16 * FA_LDS]; /* per-warp S, then P V */

    const int *t = tiles + 5 * blockIdx.x;
    const int q0 = t[0], nq = t[1], k0 = t[2], nk = t[3], o0 = t[4];
    const int col = blockIdx.y * FA_D;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int row = lane >> 1, half = lane & 1; /* this lane's row of the warp, column half */

    load_tile(qp, q, q_ld, col, q0, nq);
    __syncthreads();
    wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16_t, wmma::row_major> qa[FA_D / 16];
    OVX_UNROLL
    for (int kk = 0; kk < FA_D / 16; kk++)
        wmma::load_matrix_sync(qa[kk], qp + warp * 16 * FA_LDH + kk * 16, FA_LDH);
    __syncthreads(); /* qp is now P */

    const float scale_log2 = scale * OVX_NX_LOG2E; /* base-2 softmax (numerics.h) */
    bf16_t *pw = qp + warp * 16 * FA_LDH;
    float *s = sw + warp * 16 * FA_LDS;
    float acc_o[32];
    OVX_UNROLL
    for (int i = 0; i < 32; i++)
        acc_o[i] = 0.0f;
    float m = -INFINITY, l = 0.0f;

    for (int kt = 0; kt < nk; kt += FA_BC) {
        const int nvalid = nk - kt < FA_BC ? nk - kt : FA_BC;
        load_tile(ks, k, kv_ld, col, k0 + kt, nvalid);
        load_tile(vs, v, kv_ld, col, k0 + kt, nvalid);
        __syncthreads();

        /* S = Q K^T: 16 x 64 per warp */
        OVX_UNROLL
        for (int j = 0; j < FA_BC / 16; j++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::fill_fragment(acc, 0.0f);
            OVX_UNROLL
            for (int kk = 0; kk < FA_D / 16; kk++) {
                wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16_t, wmma::col_major> kb;
                wmma::load_matrix_sync(kb, ks + j * 16 * FA_LDH + kk * 16, FA_LDH);
                wmma::mma_sync(acc, qa[kk], kb, acc);
            }
            wmma::store_matrix_sync(s + j * 16, acc, FA_LDS, wmma::mem_row_major);
        }
        __syncwarp();

        /* online softmax of this lane's half row */
        float *sr = s + row * FA_LDS + half * 32;
        float x[32];
        float tmax = -INFINITY;
        OVX_UNROLL
        for (int i = 0; i < 32; i++) {
            x[i] = half * 32 + i < nvalid ? sr[i] * scale_log2 : -INFINITY;
            tmax = fmaxf(tmax, x[i]);
        }
        tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 1));
        /* integer offset, finite: every tile has a valid key */
        const float m_new = fmaxf(m, ovx_nx_softmax_offset(tmax));
        const float alpha = ovx_nx_exp2i(m - m_new); /* a power of two */
        float tsum = 0.0f;
        uint16_t *pr = (uint16_t *)(pw + row * FA_LDH + half * 32);
        OVX_UNROLL
        for (int i = 0; i < 32; i++) {
            const uint16_t p = ovx_nx_to_bf16(exp2f(x[i] - m_new));
            tsum += ovx_nx_from_bf16(p); /* the weights P V uses: they sum to 1 after O / l */
            pr[i] = p;
        }
        tsum += __shfl_xor_sync(0xffffffffu, tsum, 1);
        l = l * alpha + tsum;
        m = m_new;
        __syncwarp(); /* P complete, S read: the P V product may overwrite s */

        /* P V: 16 x 64 per warp */
        OVX_UNROLL
        for (int j = 0; j < FA_D / 16; j++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::fill_fragment(acc, 0.0f);
            OVX_UNROLL
            for (int kk = 0; kk < FA_BC / 16; kk++) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16_t, wmma::row_major> pa;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16_t, wmma::row_major> vb;
                wmma::load_matrix_sync(pa, pw + kk * 16, FA_LDH);
                wmma::load_matrix_sync(vb, vs + kk * 16 * FA_LDH + j * 16, FA_LDH);
                wmma::mma_sync(acc, pa, vb, acc);
            }
            wmma::store_matrix_sync(s + j * 16, acc, FA_LDS, wmma::mem_row_major);
        }
        __syncwarp();
        OVX_UNROLL
        for (int i = 0; i < 32; i++)
            acc_o[i] = acc_o[i] * alpha + sr[i];
        __syncthreads(); /* every warp is done with ks, vs (and its s) */
    }

    const int qr = warp * 16 + row;
    if (qr < nq) {
        const float inv = 1.0f / l;
        uint16_t *out = o + (size_t)(o0 + qr) * o_ld + col + half * 32;
        OVX_UNROLL
        for (int i = 0; i < 32; i++)
            out[i] = ovx_nx_to_bf16(acc_o[i] * inv);
    }
}

extern "C" int OVX_KFN(flash_attention)(ovx_gpu *g, const ovx_bf16 *d_q, int q_ld,
                                        const ovx_bf16 *d_k, const ovx_bf16 *d_v, int kv_ld,
                                        ovx_bf16 *d_o, int o_ld, const int32_t *d_tiles,
                                        int ntiles, int heads, float scale)
{
    /* 16-byte row starts for the vector loads */
    if (q_ld % 8 || kv_ld % 8 || o_ld % 8 || ((uintptr_t)d_q | (uintptr_t)d_k | (uintptr_t)d_v) % 16) {
        snprintf(g->msg, sizeof g->msg,
                 "fused attention: row strides %d/%d/%d or pointers not 16-byte aligned", q_ld,
                 kv_ld, o_ld);
        return -1;
    }
    if (ntiles <= 0)
        return 0;
    OVX_LAUNCH(k_flash_attention, dim3((unsigned)ntiles, (unsigned)heads), FA_THREADS,
               (cudaStream_t)g->stream, d_q, q_ld, d_k, d_v, kv_ld, d_o, o_ld, d_tiles, scale);
    return ovx_check_launch(g, "flash_attention");
}
