/* fuzz_shard_index.c: libFuzzer target for model.safetensors.index.json
 * (ovx_shard_index_parse): accepted shard names are plain file names. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_file.h"
#include "model/shard_index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = fuzz_dup(data, size);
    ovx_shard_index idx;
    ovx_error err;
    if (ovx_shard_index_parse(buf, size, &idx, &err) == OVX_OK) {
        if (idx.n < 1 || idx.n > OVX_MAX_SHARDS)
            abort();
        for (int i = 0; i < idx.n; i++)
            if (!idx.names[i][0] || strchr(idx.names[i], '/') || !strcmp(idx.names[i], ".."))
                abort();
        ovx_shard_index_free(&idx);
    }
    free(buf);
    return 0;
}
