/* test_cuda_ptx.cc: the host twins of the PTX instructions (cuda/ptx.h,
 * cuda/host/ptx_host.cc) that let the CUDA-on-host shim run the mma
 * attention, each against a plain matrix product or the plain copy. The
 * fragments are built here from the PTX ISA's tables read the other way
 * round: the twins map (lane, register) -> (row, column); this test walks
 * every matrix element and computes which lane, register and half own it
 * ("Matrix fragments for mma.m16n8k16 with floating point type",
 * "ldmatrix": thread 4 r + c / 2 holds row r, columns c, c + 1 of each
 * 8 x 8 matrix). One warp (32 threads) per launch on the shim. */
#include <cstdio>
#include <cstring>

#include "cuda/ptx.h"

#include "../check.h"

namespace {

/* ---- the tables, element -> owner ---- */
struct owner {
    int lane, reg, half;
};

/* A 16 x 16 row-major operand, element (r, c): a0..a7 in 4 registers; the
 * four 8 x 8 quadrants are registers 0 (rows 0-7, cols 0-7), 1 (rows 8-15,
 * cols 0-7), 2 (rows 0-7, cols 8-15), 3 (rows 8-15, cols 8-15) */
owner a_owner(int r, int c)
{
    static const int quadrant_reg[2][2] = {{0, 2}, {1, 3}}; /* [row half][col half] */
    return {(r % 8) * 4 + (c % 8) / 2, quadrant_reg[r / 8][c / 8], c % 2};
}

/* B 16 x 8 column operand, element (k, n): register 0 for k < 8, 1 above */
owner b_owner(int k, int n)
{
    return {n * 4 + (k % 8) / 2, k < 8 ? 0 : 1, k % 2};
}

/* C/D 16 x 8 fp32, element (r, n): c0, c1 rows 0-7, c2, c3 rows 8-15 */
owner c_owner(int r, int n)
{
    return {(r % 8) * 4 + n / 2, (r < 8 ? 0 : 2) + n % 2, 0};
}

/* an 8 x 8 b16 matrix loaded by ldmatrix, element (r, c): lane 4 r + c / 2,
 * half c % 2; with .trans the element at (r, c) in memory lands at (c, r) */
owner ldsm_owner(int r, int c, int trans)
{
    return trans ? owner{c * 4 + r / 2, 0, r % 2} : owner{r * 4 + c / 2, 0, c % 2};
}

uint64_t rs = 0x9E3779B97F4A7C15ULL;
float rnd() /* in [-1, 1) */
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (float)((double)(rs >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

uint16_t half_of(uint32_t reg, int half) { return (uint16_t)(half ? reg >> 16 : reg & 0xffffu); }
void put_half(uint32_t *reg, int half, uint16_t v)
{
    *reg = half ? (*reg & 0xffffu) | (uint32_t)v << 16 : (*reg & 0xffff0000u) | v;
}

/* ---- mma on fragments given per lane ---- */
struct mma_io {
    uint32_t a[32][4], b[32][2];
    float d[32][4];
};

__global__ void k_mma(mma_io *io)
{
    const int l = (int)threadIdx.x;
    ovx_mma_bf16(io->d[l], io->a[l], io->b[l][0], io->b[l][1]);
}

void test_mma(void)
{
    for (int trial = 0; trial < 4; trial++) {
        static uint16_t A[16][16], B[16][8];
        static float C[16][8];
        static mma_io io;
        memset(&io, 0, sizeof io);
        for (int r = 0; r < 16; r++)
            for (int c = 0; c < 16; c++) {
                A[r][c] = ovx_nx_to_bf16(trial == 0 ? (float)(r * 16 + c) : rnd());
                owner o = a_owner(r, c);
                put_half(&io.a[o.lane][o.reg], o.half, A[r][c]);
            }
        for (int k = 0; k < 16; k++)
            for (int n = 0; n < 8; n++) {
                B[k][n] = ovx_nx_to_bf16(trial == 0 ? (k == n ? 1.0f : 0.0f) : rnd());
                owner o = b_owner(k, n);
                put_half(&io.b[o.lane][o.reg], o.half, B[k][n]);
            }
        for (int r = 0; r < 16; r++)
            for (int n = 0; n < 8; n++) {
                C[r][n] = trial == 1 ? 0.0f : rnd();
                owner o = c_owner(r, n);
                io.d[o.lane][o.reg] = C[r][n];
            }
        OVX_LAUNCH(k_mma, dim3(1), dim3(32), nullptr, &io);
        int bad = 0;
        for (int r = 0; r < 16; r++)
            for (int n = 0; n < 8; n++) {
                double want = C[r][n];
                for (int k = 0; k < 16; k++)
                    want += (double)ovx_nx_from_bf16(A[r][k]) * ovx_nx_from_bf16(B[k][n]);
                owner o = c_owner(r, n);
                bad += !(fabs(io.d[o.lane][o.reg] - want) <= 1e-5 * (1.0 + fabs(want)));
            }
        printf("mma m16n8k16 trial %d: %d of 128 outputs wrong\n", trial, bad);
        CHECK(bad == 0);
    }
}

/* ---- ldmatrix: four 8 x 8 matrices, rows scattered in shared memory ---- */
struct ldsm_io {
    int row_slot[4][8]; /* where row j of matrix i sits (16-byte slots) */
    int trans;
    uint32_t r[32][4];
};

__global__ void k_ldsm(ldsm_io *io, const uint16_t *src)
{
    __shared__ __align__(16) uint16_t sm[64 * 8];
    const int l = (int)threadIdx.x;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++)
            if (l == 0)
                memcpy(sm + io->row_slot[i][j] * 8, src + (i * 8 + j) * 8, 16);
    __syncthreads();
    const uint16_t *row = sm + io->row_slot[l / 8][l % 8] * 8; /* lane 8 i + j: row j of matrix i */
    ovx_ldsm_x4(io->r[l], row, io->trans != 0);
}

void test_ldsm(void)
{
    static uint16_t m[4][8][8];
    for (int i = 0; i < 4; i++)
        for (int r = 0; r < 8; r++)
            for (int c = 0; c < 8; c++)
                m[i][r][c] = (uint16_t)(1 + i * 64 + r * 8 + c);
    for (int trans = 0; trans < 2; trans++) {
        static ldsm_io io;
        memset(&io, 0, sizeof io);
        io.trans = trans;
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 8; j++)
                io.row_slot[i][j] = (i * 8 + j) * 37 % 64; /* a permutation of 64 slots */
        OVX_LAUNCH(k_ldsm, dim3(1), dim3(32), nullptr, &io, &m[0][0][0]);
        int bad = 0;
        for (int i = 0; i < 4; i++)
            for (int r = 0; r < 8; r++)
                for (int c = 0; c < 8; c++) {
                    owner o = ldsm_owner(r, c, trans);
                    bad += half_of(io.r[o.lane][i], o.half) != m[i][r][c];
                }
        printf("ldmatrix x4%s: %d of 256 elements misplaced\n", trans ? " trans" : "", bad);
        CHECK(bad == 0);
    }
}

/* ---- ldmatrix feeding mma as attention_mma.cu does: A row-major, B as K
 * rows ([n][k], ldmatrix) and as V rows ([k][n], ldmatrix.trans) ---- */
struct chain_io {
    float d[2][32][4];
};

__global__ void k_chain(chain_io *io, const uint16_t *a, const uint16_t *bt, const uint16_t *b)
{
    __shared__ __align__(16) uint16_t sa[16 * 16], sbt[8 * 16], sb[16 * 8];
    const int l = (int)threadIdx.x;
    if (l == 0) {
        memcpy(sa, a, sizeof sa);
        memcpy(sbt, bt, sizeof sbt);
        memcpy(sb, b, sizeof sb);
    }
    __syncthreads();
    const int mi = l >> 3, mr = l & 7;
    uint32_t fa[4], fb[4], fv[4];
    /* A: matrices (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15) */
    ovx_ldsm_x4(fa, sa + (mr + (mi & 1) * 8) * 16 + (mi >> 1) * 8);
    /* B^T rows n (8) x k (16): matrices (n, k 0-7), (n, k 8-15); lanes 16.. repeat */
    ovx_ldsm_x4(fb, sbt + mr * 16 + (mi & 1) * 8);
    /* B rows k (16) x n (8), transposed: (k 0-7, n), (k 8-15, n); lanes 16.. repeat */
    ovx_ldsm_x4(fv, sb + (mr + (mi & 1) * 8) * 8, true);
    for (int e = 0; e < 4; e++)
        io->d[0][l][e] = io->d[1][l][e] = 0.0f;
    ovx_mma_bf16(io->d[0][l], fa, fb[0], fb[1]);
    ovx_mma_bf16(io->d[1][l], fa, fv[0], fv[1]);
}

void test_chain(void)
{
    static uint16_t a[16][16], bt[8][16], b[16][8];
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++)
            a[r][c] = ovx_nx_to_bf16(rnd());
    for (int k = 0; k < 16; k++)
        for (int n = 0; n < 8; n++)
            bt[n][k] = b[k][n] = ovx_nx_to_bf16(rnd());
    static chain_io io;
    OVX_LAUNCH(k_chain, dim3(1), dim3(32), nullptr, &io, &a[0][0], &bt[0][0], &b[0][0]);
    int bad = 0;
    for (int v = 0; v < 2; v++)
        for (int r = 0; r < 16; r++)
            for (int n = 0; n < 8; n++) {
                double want = 0;
                for (int k = 0; k < 16; k++)
                    want += (double)ovx_nx_from_bf16(a[r][k]) * ovx_nx_from_bf16(b[k][n]);
                owner o = c_owner(r, n);
                bad += !(fabs(io.d[v][o.lane][o.reg] - want) <= 1e-5 * (1.0 + fabs(want)));
            }
    printf("ldmatrix -> mma (K rows and V rows .trans): %d of 256 outputs wrong\n", bad);
    CHECK(bad == 0);
}

/* ---- cp.async: zero fill, completion at wait_group ---- */
struct cp_io {
    uint16_t src[32][8];
    uint16_t before[32][2][8], mid[32][2][8], after[32][2][8];
};

__global__ void k_cp(cp_io *io)
{
    __shared__ __align__(16) uint16_t dst[32][2][8];
    const int l = (int)threadIdx.x;
    memset(dst[l], 0xab, sizeof dst[l]);
    ovx_cp_async16(dst[l][0], io->src[l], l % 2 ? 0 : 16); /* odd lanes: zero fill */
    ovx_cp_async_commit();
    ovx_cp_async16(dst[l][1], io->src[l], 16);
    ovx_cp_async_commit();
    memcpy(io->before[l], dst[l], sizeof dst[l]);
    ovx_cp_async_wait<1>(); /* the first group done, the second may still be in flight */
    memcpy(io->mid[l][0], dst[l][0], sizeof dst[l][0]);
    ovx_cp_async_wait<0>();
    memcpy(io->after[l], dst[l], sizeof dst[l]);
}

void test_cp_async(void)
{
    static cp_io io;
    for (int l = 0; l < 32; l++)
        for (int e = 0; e < 8; e++)
            io.src[l][e] = (uint16_t)(l * 8 + e + 1);
    OVX_LAUNCH(k_cp, dim3(1), dim3(32), nullptr, &io);
    int bad = 0;
    for (int l = 0; l < 32; l++)
        for (int e = 0; e < 8; e++) {
            const uint16_t want0 = l % 2 ? 0 : io.src[l][e];
            /* the twin completes copies at the wait (as late as the ISA allows):
             * a kernel reading before its wait sees the old contents */
            bad += io.before[l][0][e] != 0xabab || io.before[l][1][e] != 0xabab;
            bad += io.mid[l][0][e] != want0;
            bad += io.after[l][0][e] != want0 || io.after[l][1][e] != io.src[l][e];
        }
    printf("cp.async: %d wrong values after wait_group\n", bad);
    CHECK(bad == 0);
}

} /* namespace */

int main(void)
{
    test_ldsm();
    test_mma();
    test_chain();
    test_cp_async();
    return CHECK_RESULT();
}
