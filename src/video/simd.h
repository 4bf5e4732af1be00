/* simd.h: the SIMD level of src/video's integer kernels (PIL-exact resize,
 * swscale-exact RGB), chosen once from CPUID, and the attributes that build
 * one kernel per level. Every level computes the same integers. */
#ifndef OVX_VIDEO_SIMD_H
#define OVX_VIDEO_SIMD_H

/* 0 portable, 1 AVX2, 2 AVX-512 (F, BW, VL, VNNI): the best the CPU has,
 * capped by ovx_video_force_simd */
int ovx_video_simd(void);

/* Testing: cap the level (-1: no cap, the default). */
void ovx_video_force_simd(int level);

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define OVX_VIDEO_X86 1
#define OVX_T_AVX2 __attribute__((target("avx2")))
#define OVX_T_512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,prefer-vector-width=512")))
/* static void name params { body } once per level (the compiler vectorises
 * each for its ISA) and name itself dispatching on ovx_video_simd() */
#define OVX_SIMD_VARIANTS(name, params, args, ...)                    \
    static void name##_c params __VA_ARGS__                           \
    OVX_T_AVX2 static void name##_avx2 params __VA_ARGS__             \
    OVX_T_512 static void name##_512 params __VA_ARGS__               \
    static void name params                                           \
    {                                                                 \
        int l_ = ovx_video_simd();                                    \
        if (l_ >= 2)                                                  \
            name##_512 args;                                          \
        else if (l_ == 1)                                             \
            name##_avx2 args;                                         \
        else                                                          \
            name##_c args;                                            \
    }
#else
#define OVX_VIDEO_X86 0
#define OVX_SIMD_VARIANTS(name, params, args, ...) static void name params __VA_ARGS__
#endif

#endif
