/* shard_index.c: the shard list of a model.safetensors.index.json (see
 * shard_index.h). */
#include "model/shard_index.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "io/regular_file.h"

void ovx_shard_index_free(ovx_shard_index *idx)
{
    for (int i = 0; i < idx->n; i++)
        free(idx->names[i]);
    free(idx->names);
    idx->names = NULL;
    idx->n = 0;
}

int ovx_shard_index_parse(const char *json, size_t len, ovx_shard_index *idx, ovx_error *err)
{
    idx->names = NULL;
    idx->n = 0;
    cJSON *root = cJSON_ParseWithLength(json, len);
    const cJSON *wm = root ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!cJSON_IsObject(wm)) {
        cJSON_Delete(root);
        return ovx_error_set(err, OVX_EINPUT, "not JSON with a \"weight_map\" object");
    }
    int rc = OVX_OK;
    idx->names = calloc(OVX_MAX_SHARDS, sizeof *idx->names);
    if (!idx->names)
        rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
    const cJSON *e;
    cJSON_ArrayForEach(e, wm) {
        if (rc)
            break;
        if (!cJSON_IsString(e) || !e->valuestring[0] || strchr(e->valuestring, '/') ||
            !strcmp(e->valuestring, "..") || !strcmp(e->valuestring, ".")) {
            rc = ovx_error_set(err, OVX_EINPUT, "bad shard name for \"%.200s\"", e->string ? e->string : "");
            break;
        }
        int seen = 0;
        for (int i = 0; i < idx->n && !seen; i++)
            seen = !strcmp(idx->names[i], e->valuestring);
        if (seen)
            continue;
        if (idx->n == OVX_MAX_SHARDS) {
            rc = ovx_error_set(err, OVX_EUNSUPPORTED, "more than %d shards", OVX_MAX_SHARDS);
            break;
        }
        if (!(idx->names[idx->n] = strdup(e->valuestring)))
            rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
        else
            idx->n++;
    }
    cJSON_Delete(root);
    if (!rc && idx->n == 0)
        rc = ovx_error_set(err, OVX_EINPUT, "empty weight_map");
    if (rc)
        ovx_shard_index_free(idx);
    return rc;
}

int ovx_shard_index_read(const char *path, ovx_shard_index *idx, ovx_error *err)
{
    idx->names = NULL;
    idx->n = 0;
    char *buf;
    size_t len;
    int rc = ovx_read_regular(path, 16u << 20, "a model.safetensors.index.json", &buf, &len, err);
    if (rc)
        return rc;
    rc = ovx_shard_index_parse(buf, len, idx, err);
    free(buf);
    if (rc)
        ovx_error_prefix(err, "%s", path);
    return rc;
}
