/* shard.h: --shard I/N. An item belongs to shard I when the FNV-1a 64 hash
 * of its REL (relative path, with extension) modulo N equals I: stable across
 * runs, machines and listing order. Defaults come from Slurm job arrays. */
#ifndef OVX_EXTRACT_SHARD_H
#define OVX_EXTRACT_SHARD_H

#include "common/error.h"

/* Parses "I/N" (0 <= I < N). */
int ovx_shard_parse(const char *spec, int *index, int *count, ovx_error *err);
/* From SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT (the ID minus
 * SLURM_ARRAY_TASK_MIN when that is set). Returns 1 when set, 0 when not,
 * <0 when the values are unusable. */
int ovx_shard_from_env(int *index, int *count, ovx_error *err);
/* 1 when rel belongs to shard index of count. */
int ovx_shard_take(const char *rel, int index, int count);

#endif
