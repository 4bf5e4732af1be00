/* precision_cache.h: the bf16/fp32 calibration of --precision auto, measured
 * once per machine and kept (precision_cache.c), so the choice and the
 * outputs stay the same from run to run. */
#ifndef OVX_MODEL_PRECISION_CACHE_H
#define OVX_MODEL_PRECISION_CACHE_H

#include <stddef.h>

/* The ratio kept for this CPU (bf16, amx: its flags), or measure() kept
 * now; where gets "kept in PATH" or "" (no cache). */
double ovx_precision_cached_ratio(int bf16, int amx, double (*measure)(void), char *where, size_t where_len);

#endif
