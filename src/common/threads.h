/* threads.h: how many worker threads ovx uses by default. */
#ifndef OVX_COMMON_THREADS_H
#define OVX_COMMON_THREADS_H

/* OVX_THREADS from the environment when it is a positive integer, else the
 * number of online cores (at least 1). */
int ovx_default_threads(void);

#endif
