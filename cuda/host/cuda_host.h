/* cuda_host.h: a CUDA-on-host shim. It stands in for cuda_runtime.h and
 * mma.h when the kernel sources (the .cu files of cuda/) are compiled by the host C++
 * compiler (the cuda/host/ wrappers), so that the same kernel code the GPU runs
 * is executed and tested on machines without a GPU.
 *
 * Execution model (cuda_host.cc): a launch runs the blocks of the grid one
 * after the other; the threads of a block are real OS threads (std::thread),
 * `__syncthreads` is a std::barrier over the block, `__shared__` variables
 * are block-shared storage (one launch runs at a time in a process, so a
 * function-level static is the block's shared memory), warp shuffles, votes
 * and `__syncwarp` go through a per-warp exchange area and a per-warp
 * barrier, and threadIdx/blockIdx/blockDim/gridDim are thread-local.
 * A thread that returns early no longer takes part in the block's barriers
 * (as exited threads on a GPU).
 *
 * nvcuda::wmma: 16x16x16 fragments (bf16/half inputs as float, float
 * accumulators). The element layout of a fragment is opaque in CUDA; here
 * lane l owns row l/2, columns (l%2)*8 .. +7 of the 16x16 accumulator and
 * keeps the A row and the B columns it needs, so mma_sync needs no exchange
 * between lanes. Kernels must use only the API (as on a GPU): a lane reading
 * what another lane stored needs a __syncwarp() in between. */
#ifndef OVX_CUDA_HOST_CUDA_HOST_H
#define OVX_CUDA_HOST_CUDA_HOST_H

#ifndef __cplusplus
#error "cuda_host.h is C++ (the host build of the .cu sources)"
#endif

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

#include <math.h>

#define __global__ static /* internal linkage: no clash with nvcc's host stubs */
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
/* block-shared storage: see the header comment (one launch at a time) */
#define __shared__ static

/* ---- runtime types and errors ---- */
typedef struct CUstream_st *cudaStream_t;
enum cudaError_t {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorLaunchFailure = 719,
};
cudaError_t cudaGetLastError(void);
const char *cudaGetErrorString(cudaError_t e);

struct uint3 {
    unsigned x, y, z;
};
/* 16-byte vector (kernels copy bf16 rows with it): may alias any type */
struct __attribute__((may_alias, aligned(16))) uint4 {
    unsigned x, y, z, w;
};
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};

extern thread_local uint3 threadIdx;
extern thread_local uint3 blockIdx;
extern thread_local dim3 blockDim;
extern thread_local dim3 gridDim;
constexpr int warpSize = 32;

namespace ovx_host {

/* one launch's body for the current block; cuda_host.cc calls it from every
 * thread of every block */
typedef void (*body_fn)(void *ctx);
cudaError_t run_grid(dim3 grid, dim3 block, body_fn body, void *ctx);

/* warp collectives (cuda_host.cc) */
void warp_sync();
/* every lane publishes `bytes` bytes of `v`; after the warp barrier, lane
 * reads the value published by `src` into out (own value when src is out of
 * the warp) */
void warp_exchange(const void *v, void *out, int src, std::size_t bytes);
unsigned warp_ballot(int pred);
/* every lane publishes `bytes` (<= 64) bytes of `v`; after the warp
 * barrier, returns the exchange area: lane l's bytes at l * 64 (valid
 * until this lane's next-but-one exchange) */
const unsigned char *warp_publish(const void *v, std::size_t bytes);
int lane_id();
void block_sync();

/* Host twins of the PTX instructions of cuda/ptx.h (ptx_host.cc,
 * cuda_host.cc), with the operand layouts of the PTX ISA:
 * ldmatrix.sync.aligned.m8n8.{x1,x2,x4}{,.trans}.shared.b16: lane 8 i + j
 * gives the address of row j of matrix i; r[i] of lane l = elements
 * (l / 4, 2 (l % 4)) and (l / 4, 2 (l % 4) + 1) of matrix i (low half
 * first), transposed: (2 (l % 4), l / 4) and (2 (l % 4) + 1, l / 4). */
void ldmatrix(std::uint32_t *r, int num, int trans, const void *row_addr);
/* mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32, d += a b: the
 * fragments of the warp's 32 lanes as the PTX ISA tables lay them out */
void mma_m16n8k16_bf16(float d[4], const std::uint32_t a[4], const std::uint32_t b[2]);
/* cp.async.cg.shared.global (16 bytes, src_bytes of them read, the rest
 * zero), cp.async.commit_group, cp.async.wait_group N: a lane's copies are
 * queued and performed when a wait_group covers them (the latest moment
 * the PTX ISA allows: reading the destination before the wait sees the old
 * contents), or with ovx_cuda_host_set_cp_async_early(1) when issued (the
 * earliest: overwriting a buffer other warps still read shows) */
void cp_async(void *dst, const void *src, int src_bytes, int bytes);
void cp_async_commit();
void cp_async_wait(int pending);

template <class... P>
struct launch_ctx {
    void (*k)(P...);
    std::tuple<P...> args;
};

template <class... P>
void launch_body(void *ctx)
{
    auto *c = static_cast<launch_ctx<P...> *>(ctx);
    std::apply(c->k, c->args); /* each thread calls with its own copy of the arguments */
}

/* k<<<grid, block, 0, stream>>>(args...) */
template <class... P, class... A>
void launch(void (*k)(P...), dim3 grid, dim3 block, cudaStream_t stream, A &&...args)
{
    (void)stream;
    launch_ctx<P...> c{k, std::tuple<P...>(std::forward<A>(args)...)};
    (void)run_grid(grid, block, &launch_body<P...>, &c);
}

} /* namespace ovx_host */

inline void __syncthreads() { ovx_host::block_sync(); }
inline void __syncwarp(unsigned mask = 0xffffffffu)
{
    (void)mask;
    ovx_host::warp_sync();
}

namespace ovx_host {
/* the value of lane `src` if it lies in this lane's segment of `width`
 * lanes, else the lane's own value (as CUDA's shuffles) */
template <class T>
inline T shfl_from(T v, int src, int width)
{
    int lane = lane_id(), base = lane & ~(width - 1);
    if (src < base || src >= base + width)
        src = lane;
    T r;
    warp_exchange(&v, &r, src, sizeof(T));
    return r;
}
} /* namespace ovx_host */

template <class T>
inline T __shfl_sync(unsigned mask, T v, int src, int width = 32)
{
    (void)mask;
    return ovx_host::shfl_from(v, (ovx_host::lane_id() & ~(width - 1)) + (src & (width - 1)), width);
}

template <class T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32)
{
    (void)mask;
    return ovx_host::shfl_from(v, ovx_host::lane_id() ^ lane_mask, width);
}

template <class T>
inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32)
{
    (void)mask;
    return ovx_host::shfl_from(v, ovx_host::lane_id() + (int)delta, width);
}

template <class T>
inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32)
{
    (void)mask;
    return ovx_host::shfl_from(v, ovx_host::lane_id() - (int)delta, width);
}

inline unsigned __ballot_sync(unsigned mask, int pred) { return ovx_host::warp_ballot(pred) & mask; }
inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred)
{
    return (__ballot_sync(mask, pred) & mask) == (ovx_host::warp_ballot(1) & mask);
}

inline float __expf(float x) { return expf(x); }
inline float __fdividef(float a, float b) { return a / b; }

/* ---- bf16 and half storage types (bit patterns; conversions as cuda_bf16.h) ---- */
struct __nv_bfloat16 {
    std::uint16_t x;
};
inline float __bfloat162float(__nv_bfloat16 h)
{
    std::uint32_t u = (std::uint32_t)h.x << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

/* ---- nvcuda::wmma, 16x16x16 ---- */
namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T, class Layout = void>
class fragment;

/* lane l: row l/2 of A (16 values) */
template <class T, class Layout>
class fragment<matrix_a, 16, 16, 16, T, Layout> {
public:
    enum { num_elements = 16 };
    float x[16];
};

/* lane l: columns (l%2)*8 .. +7 of B, all 16 k: x[k*8 + j] */
template <class T, class Layout>
class fragment<matrix_b, 16, 16, 16, T, Layout> {
public:
    enum { num_elements = 128 };
    float x[128];
};

/* lane l: D[l/2][(l%2)*8 + e], e < 8 */
template <>
class fragment<accumulator, 16, 16, 16, float, void> {
public:
    enum { num_elements = 8 };
    float x[8];
};

inline float to_float(float v) { return v; }
inline float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class T>
inline void fill_fragment(fragment<accumulator, 16, 16, 16, float, void> &f, T v)
{
    for (int e = 0; e < 8; e++)
        f.x[e] = (float)v;
}

template <class T, class Layout>
inline void load_matrix_sync(fragment<matrix_a, 16, 16, 16, T, Layout> &f, const T *p, unsigned ldm)
{
    int r = ovx_host::lane_id() >> 1;
    for (int k = 0; k < 16; k++)
        f.x[k] = to_float(std::is_same<Layout, row_major>::value ? p[(std::size_t)r * ldm + k]
                                                                 : p[(std::size_t)k * ldm + r]);
}

template <class T, class Layout>
inline void load_matrix_sync(fragment<matrix_b, 16, 16, 16, T, Layout> &f, const T *p, unsigned ldm)
{
    int c0 = (ovx_host::lane_id() & 1) * 8;
    for (int k = 0; k < 16; k++)
        for (int j = 0; j < 8; j++)
            f.x[k * 8 + j] = to_float(std::is_same<Layout, row_major>::value
                                          ? p[(std::size_t)k * ldm + c0 + j]
                                          : p[(std::size_t)(c0 + j) * ldm + k]);
}

inline void load_matrix_sync(fragment<accumulator, 16, 16, 16, float, void> &f, const float *p,
                             unsigned ldm, layout_t layout)
{
    int l = ovx_host::lane_id(), r = l >> 1, c0 = (l & 1) * 8;
    for (int e = 0; e < 8; e++)
        f.x[e] = layout == mem_row_major ? p[(std::size_t)r * ldm + c0 + e]
                                         : p[(std::size_t)(c0 + e) * ldm + r];
}

inline void store_matrix_sync(float *p, const fragment<accumulator, 16, 16, 16, float, void> &f,
                              unsigned ldm, layout_t layout)
{
    int l = ovx_host::lane_id(), r = l >> 1, c0 = (l & 1) * 8;
    for (int e = 0; e < 8; e++) {
        if (layout == mem_row_major)
            p[(std::size_t)r * ldm + c0 + e] = f.x[e];
        else
            p[(std::size_t)(c0 + e) * ldm + r] = f.x[e];
    }
}

/* d = a b + c, float accumulation */
template <class TA, class LA, class TB, class LB>
inline void mma_sync(fragment<accumulator, 16, 16, 16, float, void> &d,
                     const fragment<matrix_a, 16, 16, 16, TA, LA> &a,
                     const fragment<matrix_b, 16, 16, 16, TB, LB> &b,
                     const fragment<accumulator, 16, 16, 16, float, void> &c)
{
    float acc[8];
    for (int e = 0; e < 8; e++)
        acc[e] = c.x[e];
    for (int k = 0; k < 16; k++)
        for (int e = 0; e < 8; e++)
            acc[e] += a.x[k] * b.x[k * 8 + e];
    for (int e = 0; e < 8; e++)
        d.x[e] = acc[e];
}

} /* namespace wmma */
} /* namespace nvcuda */

#endif
