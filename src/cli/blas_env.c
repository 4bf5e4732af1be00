/* blas_env.c: OpenBLAS set-up at start: its kernels for the CPU (a re-exec
 * with OPENBLAS_CORETYPE where it misdetects one, see blas_env.h), and its
 * thread pool stopped. OpenBLAS starts its
 * worker threads in its library constructor, before main(), and they spin
 * for ~0.1 s before sleeping: an `ovx select` run spent ~7% of its CPU
 * samples there. ovx never uses that pool: the CPU forward calls
 * single-threaded sgemm on fixed chunks over its own threads (results do not
 * depend on --threads), and select/extract's decode side runs no BLAS. (The
 * environment cannot be set early enough: glibc resets environ after an
 * executable's .preinit_array functions run and before OpenBLAS's
 * constructor.) */
#include "cli/blas_env.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

/* exported by OpenBLAS (blas_server.c), not declared in its headers */
int blas_thread_shutdown_(void);

void ovx_blas_pool_stop(void)
{
    openblas_set_num_threads(1);
    blas_thread_shutdown_();
}

/* exported by OpenBLAS (DYNAMIC_ARCH builds name the core picked at load) */
char *openblas_get_corename(void);

static int avx512_core(const char *name)
{
    static const char *const cores[] = {"skylakex", "cooperlake", "sapphirerapids"};
    for (size_t i = 0; name && i < sizeof cores / sizeof cores[0]; i++)
        if (!strcasecmp(name, cores[i]))
            return 1;
    return 0;
}

void ovx_blas_coretype_fix(char **argv)
{
    if (getenv("OPENBLAS_CORETYPE")) /* the user's choice, or ours after the exec */
        return;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512vl") || !__builtin_cpu_supports("avx512dq") ||
        !__builtin_cpu_supports("avx512cd"))
        return;
    const char *core = getenv("OVX_TEST_BLAS_CORE"); /* test hook: what OpenBLAS "detected" */
    if (!core || !*core)
        core = openblas_get_corename();
    if (!core || avx512_core(core))
        return;
    if (setenv("OVX_BLAS_DETECTED", core, 1) || setenv("OPENBLAS_CORETYPE", "SkylakeX", 1))
        return;
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE"); /* no exec: go on with the kernels OpenBLAS picked */
    unsetenv("OVX_BLAS_DETECTED");
}

const char *ovx_blas_core_str(char *buf, size_t len)
{
    const char *core = openblas_get_corename(), *detected = getenv("OVX_BLAS_DETECTED");
    const char *set = getenv("OPENBLAS_CORETYPE");
    if (set && detected)
        snprintf(buf, len, "%s (OPENBLAS_CORETYPE set by ovx; detected %s)", core ? core : "?", detected);
    else
        snprintf(buf, len, "%s (%s)", core ? core : "?", set ? "OPENBLAS_CORETYPE" : "detected");
    return buf;
}
