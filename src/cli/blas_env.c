/* blas_env.c: stops OpenBLAS's thread pool at start-up. OpenBLAS starts its
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

/* exported by OpenBLAS (blas_server.c), not declared in its headers */
int blas_thread_shutdown_(void);

void ovx_blas_pool_stop(void)
{
    openblas_set_num_threads(1);
    blas_thread_shutdown_();
}
