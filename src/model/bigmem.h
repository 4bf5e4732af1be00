/* bigmem.h: large buffers (weights, activations) on transparent huge pages
 * where the kernel allows them. */
#ifndef OVX_MODEL_BIGMEM_H
#define OVX_MODEL_BIGMEM_H

#include <stddef.h>

/* Like malloc (release with free()). A buffer of OVX_BIGMEM_MIN bytes or
 * more is 2 MiB aligned and advised MADV_HUGEPAGE before it is touched: the
 * forward streams its 1.2 GB of weights several times per pass, and on 4 KiB
 * pages the TLB misses (expensive page walks under a hypervisor) cost up to
 * ~15% of the matmul time and much of the run-to-run spread. Where THP is
 * "never" or madvise fails, the buffer simply stays on small pages. */
void *ovx_big_alloc(size_t bytes);

#define OVX_BIGMEM_MIN ((size_t)4 << 20)

#endif
