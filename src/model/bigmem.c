/* bigmem.c: large buffers advised onto transparent huge pages (see bigmem.h). */
#include "model/bigmem.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

void *ovx_big_alloc(size_t bytes)
{
    if (bytes < OVX_BIGMEM_MIN)
        return malloc(bytes ? bytes : 1);
    void *p = NULL;
    if (posix_memalign(&p, HUGE_PAGE, bytes) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    /* whole huge pages inside the buffer only; failure is harmless */
    (void)madvise(p, bytes & ~(HUGE_PAGE - 1), MADV_HUGEPAGE);
#endif
    return p;
}
