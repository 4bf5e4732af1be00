/* sass_probe.cu: small kernels with a known instruction mix, compiled by
 * nvcc like the kernels (cuda/nvcc-compile), so that tests/cuda/test_sass.py
 * can check its reading of the SASS opcodes for every architecture of the
 * build before it checks the attention kernels: probe_mma has exactly 2
 * ldmatrix (LDSM) and 2 mma.m16n8k16 (HMMA), probe_local indexes a local
 * array (LDL and STL), probe_generic loads through a pointer that may be
 * shared or global (generic LD). Never launched. */
#include <stdint.h>

__global__ void probe_mma(const uint16_t *in, float *out)
{
    __shared__ __align__(16) uint16_t s[16 * 16];
    for (int i = threadIdx.x; i < 256; i += 32)
        s[i] = in[i];
    __syncthreads();
    unsigned addr = (unsigned)__cvta_generic_to_shared(s + (threadIdx.x & 15) * 16 + (threadIdx.x >> 4) * 8);
    uint32_t a[4], b[4];
    float d[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(a[0]), "=r"(a[1]), "=r"(a[2]), "=r"(a[3])
                 : "r"(addr));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(b[0]), "=r"(b[1]), "=r"(b[2]), "=r"(b[3])
                 : "r"(addr));
    for (int h = 0; h < 2; h++)
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
                     "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[2 * h]), "r"(b[2 * h + 1]));
    for (int e = 0; e < 4; e++)
        out[threadIdx.x * 4 + e] = d[e];
}

__global__ void probe_local(float *o, int i)
{
    float a[256]; /* indexed by data: local memory */
    for (int k = 0; k < 256; k++)
        a[(k * i) & 255] = o[k];
    o[0] = a[o[256] > 0.0f ? i & 255 : 0];
}

__global__ void probe_generic(float *o, int from_shared)
{
    __shared__ float s[32];
    s[threadIdx.x & 31] = o[threadIdx.x];
    __syncthreads();
    const float *p = from_shared ? s : o + 32;
    o[threadIdx.x] = p[threadIdx.x & 31];
}
