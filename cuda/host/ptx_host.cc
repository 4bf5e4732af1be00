/* ptx_host.cc: host twins of the warp-level PTX instructions the mma
 * attention uses (cuda/ptx.h): ldmatrix and mma.sync m16n8k16 bf16, with
 * the fragment layouts of the PTX ISA (Warp-level matrix load instruction
 * ldmatrix; Matrix fragments for mma.m16n8k16 with floating point type).
 * Each twin is a warp collective on the shim: every lane publishes its
 * operands (addresses or registers), then computes what the hardware
 * would put in its own registers. */
#include "cuda_host.h"

namespace ovx_host {

void ldmatrix(std::uint32_t *r, int num, int trans, const void *row_addr)
{
    const unsigned char *addr = warp_publish(&row_addr, sizeof row_addr);
    const int lane = lane_id(), group = lane >> 2, tig = lane & 3;
    for (int i = 0; i < num; i++) {
        std::uint16_t e[2];
        for (int h = 0; h < 2; h++) {
            /* element (row, col) of the 8 x 8 matrix i: row from lane 8 i + row */
            int row = trans ? 2 * tig + h : group, col = trans ? group : 2 * tig + h;
            const unsigned char *p;
            std::memcpy(&p, addr + (8 * i + row) * 64, sizeof p);
            std::memcpy(&e[h], p + 2 * col, 2);
        }
        r[i] = (std::uint32_t)e[0] | (std::uint32_t)e[1] << 16;
    }
}

static float bf16_half(std::uint32_t reg, int hi)
{
    std::uint32_t u = hi ? reg & 0xffff0000u : reg << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

void mma_m16n8k16_bf16(float d[4], const std::uint32_t a[4], const std::uint32_t b[2])
{
    struct frag {
        std::uint32_t a[4], b[2];
    } mine;
    std::memcpy(mine.a, a, sizeof mine.a);
    std::memcpy(mine.b, b, sizeof mine.b);
    const unsigned char *area = warp_publish(&mine, sizeof mine);
    auto lane_frag = [area](int l) {
        frag f;
        std::memcpy(&f, area + l * 64, sizeof f);
        return f;
    };
    /* A 16 x 16 (row), B 16 x 8 (col), from the tables: lane = 4 groupID +
     * threadID_in_group; A element a_i (i < 8, reg i / 2, half i % 2) is at
     * row groupID + 8 ((i / 2) % 2), column 2 threadID_in_group + i % 2 +
     * 8 (i / 4); B element b_i (i < 4) at row 2 threadID_in_group + i % 2 +
     * 8 (i / 2), column groupID */
    float A[16][16], B[16][8];
    const int lane = lane_id(), g = lane >> 2, t = lane & 3;
    for (int l = 4 * g; l < 4 * g + 4; l++) { /* the lanes of the rows this lane's outputs need */
        const frag f = lane_frag(l);
        const int lg = l >> 2, lt = l & 3;
        for (int i = 0; i < 8; i++)
            A[lg + 8 * ((i >> 1) & 1)][2 * lt + (i & 1) + 8 * (i >> 2)] = bf16_half(f.a[i >> 1], i & 1);
    }
    for (int l = 8 * t; l < 8 * t + 8; l++) { /* and of its columns 2t, 2t + 1 */
        const frag f = lane_frag(l);
        const int lg = l >> 2, lt = l & 3;
        for (int i = 0; i < 4; i++)
            B[2 * lt + (i & 1) + 8 * (i >> 1)][lg] = bf16_half(f.b[i >> 1], i & 1);
    }
    /* C/D element c_i (i < 4): row groupID + 8 (i / 2), column
     * 2 threadID_in_group + i % 2 */
    for (int i = 0; i < 4; i++) {
        const int row = g + 8 * (i >> 1), col = 2 * t + (i & 1);
        float acc = d[i];
        for (int k = 0; k < 16; k++)
            acc += A[row][k] * B[k][col];
        d[i] = acc;
    }
}

} /* namespace ovx_host */
