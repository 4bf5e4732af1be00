/* threads.c: default thread count from OVX_THREADS or the core count. */
#include "common/threads.h"

#include <stdlib.h>
#include <unistd.h>

int ovx_default_threads(void)
{
    const char *s = getenv("OVX_THREADS");
    if (s && *s) {
        char *end = NULL;
        long v = strtol(s, &end, 10);
        if (end && *end == '\0' && v > 0 && v <= 4096)
            return (int)v;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
