/* selftest.h: `ovx selftest`'s check (cuda_selftest.c): the CUDA forward
 * (on a GPU, or on the host shim for the CPU device) against the CPU
 * forward of a random model, reported on stdout (errors on stderr as
 * "ovx selftest: ..."). */
#ifndef OVX_ENGINE_SELFTEST_H
#define OVX_ENGINE_SELFTEST_H

#include <stdint.h>

#include "engine/device.h"

typedef struct ovx_selftest_opts {
    ovx_device dev;       /* resolved: cuda:N, or cpu for the host shim */
    const char *dev_name; /* --device as given (the report's first line) */
    int large;            /* the full-size model (a CUDA device only) */
    int strict;           /* a linear layer's fallback path fails too */
    int attention;        /* enum ovx_attention_mode of the first case */
    uint64_t seed;
} ovx_selftest_opts;

/* 0 when every output is within tolerance and repeats are identical, 1
 * otherwise (said in the report, or on stderr for an error). */
int ovx_cuda_selftest(const ovx_selftest_opts *o);

#endif
