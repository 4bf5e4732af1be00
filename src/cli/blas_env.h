/* blas_env.h: OpenBLAS process set-up (see blas_env.c). */
#ifndef OVX_CLI_BLAS_ENV_H
#define OVX_CLI_BLAS_ENV_H

#include <stddef.h>

/* Joins OpenBLAS's idle worker threads; BLAS stays usable single-threaded. */
void ovx_blas_pool_stop(void);

/* OpenBLAS picks its kernels when it loads; Debian's 0.3.21 takes Haswell
 * (AVX2) kernels on AVX-512 CPUs it does not know (AMD Zen 4/5) and generic
 * ones on some Xeons: sgemm at half the rate or less. Only
 * OPENBLAS_CORETYPE, read when the library loads, changes that, so on a CPU
 * with AVX-512 F/BW/VL/DQ/CD whose detected core is not an AVX-512 one, and
 * without OPENBLAS_CORETYPE set, ovx runs itself again (exec, at the start
 * of main, for the commands that run the model: main.c's table) with
 * OPENBLAS_CORETYPE=SkylakeX and OVX_BLAS_DETECTED=the core OpenBLAS had
 * picked. Returns only when nothing was done (or exec failed).
 * Test hook: OVX_TEST_BLAS_CORE=NAME stands for the detected core. */
void ovx_blas_coretype_fix(char **argv);

/* "SkylakeX (OPENBLAS_CORETYPE set by ovx; detected Haswell)": the core
 * OpenBLAS runs and who chose it, into buf. */
const char *ovx_blas_core_str(char *buf, size_t len);

#endif
