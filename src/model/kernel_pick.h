/* kernel_pick.h: the run-time choice of an optional CPU kernel (the fused
 * attentions): the CPU feature test, the OVX_NO_AVX512 switch and a test
 * hook, in one place. */
#ifndef OVX_MODEL_KERNEL_PICK_H
#define OVX_MODEL_KERNEL_PICK_H

#include <stdatomic.h>

typedef struct ovx_kernel_pick {
    atomic_int forced; /* test hook: -1 run-time choice, 0 off, 1 on */
    atomic_int cached; /* -1 not yet known, else the run-time choice */
    int (*cpu_has)(void);
} ovx_kernel_pick;

#define OVX_KERNEL_PICK_INIT(has) {-1, -1, has}

/* 1 when the kernel runs: forced on and the CPU has it, or (not forced)
 * the CPU has it and OVX_NO_AVX512 is unset or "0". */
int ovx_kernel_pick_on(ovx_kernel_pick *k);

/* 0 off, 1 on (where the CPU has it), anything else: the run-time choice. */
void ovx_kernel_pick_force(ovx_kernel_pick *k, int on);

#endif
