/* profile.h: per-op-kind time and FLOP counters of the CPU forward
 * (`ovx forward --profile`, `ovx extract --profile`). The forward always
 * accumulates them (two clock reads per op); reading them changes nothing in
 * the outputs. RoPE, GELU and the residual adds are epilogues of the q/k,
 * fc1 and out_proj/fc2 matmuls, so their time is in those kinds. */
#ifndef OVX_MODEL_PROFILE_H
#define OVX_MODEL_PROFILE_H

#include <stdio.h>

typedef enum ovx_op_kind {
    OVX_OP_PATCH_EMBED,
    OVX_OP_NORM,
    OVX_OP_QKV,
    OVX_OP_ATTENTION,
    OVX_OP_OUT_PROJ,
    OVX_OP_FC1,
    OVX_OP_FC2,
    OVX_OP_HEAD,
    OVX_OP_COUNT
} ovx_op_kind;

typedef struct ovx_profile {
    double ms[OVX_OP_COUNT];     /* wall milliseconds spent in each kind */
    double flops[OVX_OP_COUNT];  /* floating-point operations (2 per multiply-add) */
    long calls[OVX_OP_COUNT];
} ovx_profile;

/* Short name of an op kind ("attention", "fc1", ...). */
const char *ovx_op_kind_name(int kind);

/* Adds b's counters to a. */
void ovx_profile_add(ovx_profile *a, const ovx_profile *b);

/* Prints a table (op, calls, ms, % of total, GFLOP/s) with a total row,
 * each line prefixed by `prefix`. */
void ovx_profile_print(FILE *f, const char *prefix, const ovx_profile *p);

#endif
