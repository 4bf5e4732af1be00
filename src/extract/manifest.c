/* manifest.c: an item's manifest line from its JSON (manifest.h). */
#include "extract/manifest.h"

#include <stdio.h>
#include <string.h>

cJSON *ovx_extract_manifest_from_json(const cJSON *j)
{
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(j, "input");
    const cJSON *rel = cJSON_GetObjectItemCaseSensitive(j, "rel");
    const cJSON *ob = cJSON_GetObjectItemCaseSensitive(j, "out_base");
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(j, "outputs");
    const cJSON *hash = cJSON_GetObjectItemCaseSensitive(j, "settings_hash");
    if (!cJSON_IsString(path) || !cJSON_IsString(rel) || !cJSON_IsString(ob) || !cJSON_IsObject(outs) ||
        !cJSON_IsString(hash))
        return NULL;
    const cJSON *label = cJSON_GetObjectItemCaseSensitive(j, "label");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(j, "kind");
    char dir[4096] = "";
    const char *slash = strrchr(ob->valuestring, '/');
    if (slash)
        snprintf(dir, sizeof dir, "%.*s/", (int)(slash - ob->valuestring), ob->valuestring);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "path", path->valuestring);
    cJSON_AddStringToObject(m, "rel", rel->valuestring);
    if (cJSON_IsString(kind))
        cJSON_AddStringToObject(m, "kind", kind->valuestring);
    if (cJSON_IsString(label))
        cJSON_AddStringToObject(m, "label", label->valuestring);
    else
        cJSON_AddNullToObject(m, "label");
    char buf[8192];
    snprintf(buf, sizeof buf, "%s.json", ob->valuestring);
    cJSON_AddStringToObject(m, "json", buf);
    cJSON *mo = cJSON_AddObjectToObject(m, "outputs");
    for (const cJSON *o = outs->child; o; o = o->next) {
        const cJSON *file = cJSON_GetObjectItemCaseSensitive(o, "file");
        if (!cJSON_IsString(file) || !o->string)
            continue;
        cJSON *e = cJSON_AddObjectToObject(mo, o->string);
        snprintf(buf, sizeof buf, "%s%s", dir, file->valuestring);
        cJSON_AddStringToObject(e, "file", buf);
        cJSON_AddItemToObject(e, "dtype", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(o, "dtype"), 1));
        cJSON_AddItemToObject(e, "shape", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(o, "shape"), 1));
    }
    cJSON_AddStringToObject(m, "settings_hash", hash->valuestring);
    return m;
}
