/* blas_env.h: OpenBLAS process set-up (see blas_env.c). */
#ifndef OVX_CLI_BLAS_ENV_H
#define OVX_CLI_BLAS_ENV_H

/* Joins OpenBLAS's idle worker threads; BLAS stays usable single-threaded. */
void ovx_blas_pool_stop(void);

#endif
