/* malloc_tune.h: the ovx process's malloc settings (see malloc_tune.c). */
#ifndef OVX_CLI_MALLOC_TUNE_H
#define OVX_CLI_MALLOC_TUNE_H

/* Fixed glibc mmap/trim thresholds; call once from main(), before any work. */
void ovx_malloc_tune(void);

#endif
