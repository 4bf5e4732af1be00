/* kernel_pick.c: run-time choice of an optional CPU kernel (see
 * kernel_pick.h). */
#include "model/kernel_pick.h"

#include <stdlib.h>
#include <string.h>

void ovx_kernel_pick_force(ovx_kernel_pick *k, int on)
{
    k->forced = on == 0 || on == 1 ? on : -1;
}

int ovx_kernel_pick_on(ovx_kernel_pick *k)
{
    int f = k->forced;
    if (f == 0)
        return 0;
    if (f == 1)
        return k->cpu_has();
    if (k->cached < 0) {
        const char *e = getenv("OVX_NO_AVX512");
        k->cached = k->cpu_has() && !(e && *e && strcmp(e, "0"));
    }
    return k->cached;
}
