/* shard_index.h: model.safetensors.index.json -> the list of shard file
 * names it refers to (deduplicated, in first-seen order), each a plain file
 * name in the model folder (no '/', not "." or ".."). */
#ifndef OVX_MODEL_SHARD_INDEX_H
#define OVX_MODEL_SHARD_INDEX_H

#include <stddef.h>

#include "common/error.h"

#define OVX_MAX_SHARDS 256

typedef struct ovx_shard_index {
    char **names; /* malloc'd, n entries */
    int n;
} ovx_shard_index;

/* Parses the JSON text (len bytes). Errors carry no file name. */
int ovx_shard_index_parse(const char *json, size_t len, ovx_shard_index *idx, ovx_error *err);
/* Reads and parses a file (a regular file of at most 16 MiB). */
int ovx_shard_index_read(const char *path, ovx_shard_index *idx, ovx_error *err);
void ovx_shard_index_free(ovx_shard_index *idx);

#endif
