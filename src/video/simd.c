/* simd.c: the SIMD level of src/video's kernels (see simd.h). */
#include "video/simd.h"

#include <stdatomic.h>

static atomic_int forced = -1;

void ovx_video_force_simd(int level)
{
    forced = level;
}

static int cpu_level(void)
{
#if OVX_VIDEO_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni"))
        return 2;
    if (__builtin_cpu_supports("avx2"))
        return 1;
#endif
    return 0;
}

int ovx_video_simd(void)
{
    static atomic_int cached = -1;
    int c = cached;
    if (c < 0)
        cached = c = cpu_level();
    int f = forced;
    return f >= 0 && f < c ? f : c;
}
