/* known_fail.c: the identity of a failed input in failures.jsonl and the
 * rerun's lookup of known failures (known_fail.h). */
#include "extract/known_fail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "extract/resume.h"
#include "io/json_utf8.h"
#include "video/netio.h"

void ovx_input_ident_get(const char *path, ovx_input_ident *id)
{
    memset(id, 0, sizeof *id);
    struct stat st;
    if (!path || ovx_is_url(path) || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return;
    id->known = 1;
    id->size = (long long)st.st_size;
    snprintf(id->mtime, sizeof id->mtime, "%lld.%09ld", (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
}

void ovx_fail_settings(const char *settings_hash, double max_corrupt, int max_tokens, char out[17])
{
    char s[256];
    snprintf(s, sizeof s, "%s;max_corrupt=%.17g;max_tokens=%d;ovx=%s", settings_hash, max_corrupt, max_tokens,
             OVX_VERSION);
    snprintf(out, 17, "%016llx", (unsigned long long)ovx_fnv1a64(s, strlen(s)));
}

/* 1 when a failure of this stage with this message is the input's own, so
 * the same input fails the same way again. */
static int input_own(const char *stage, const char *error)
{
    return stage && (!strcmp(stage, "decode") || !strcmp(stage, "select")) &&
           !(error && strstr(error, "out of memory"));
}

cJSON *ovx_failure_line(const char *path, const char *rel, const char *stage, const char *error,
                        const ovx_input_ident *id, const char *fail_settings)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    int ok = cJSON_AddStringToObject(o, "path", path) && cJSON_AddStringToObject(o, "rel", rel) &&
             cJSON_AddStringToObject(o, "stage", stage) && cJSON_AddStringToObject(o, "error", error);
    if (ok && id && id->known && fail_settings && input_own(stage, error))
        ok = cJSON_AddNumberToObject(o, "size", (double)id->size) && cJSON_AddStringToObject(o, "mtime", id->mtime) &&
             cJSON_AddStringToObject(o, "fail_settings", fail_settings);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int ovx_known_failures_load(const char *out_dir, ovx_strmap *latest, ovx_error *err)
{
    char path[4200];
    if (snprintf(path, sizeof path, "%s/failures.jsonl", out_dir) >= (int)sizeof path)
        return OVX_OK; /* the run fails on its output names anyway */
    char *text = ovx_read_text_file(path, (size_t)1 << 34);
    if (!text)
        return OVX_OK; /* none yet (or unreadable: then every item is tried) */
    int rc = OVX_OK;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && rc == OVX_OK;
         line = strtok_r(NULL, "\n", &save)) {
        cJSON *o = cJSON_Parse(line);
        ovx_json_restore_bytes(o);
        const char *rel = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "rel"));
        if (rel && ovx_strmap_put(latest, rel, line) != 0)
            rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
        cJSON_Delete(o);
    }
    free(text);
    return rc;
}

cJSON *ovx_known_failure(const ovx_strmap *latest, const char *rel, const ovx_input_ident *id,
                         const char *fail_settings)
{
    const char *line = NULL;
    if (!id->known || !ovx_strmap_get(latest, rel, &line) || !line)
        return NULL;
    cJSON *o = cJSON_Parse(line);
    ovx_json_restore_bytes(o);
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(o, "size");
    const char *mtime = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "mtime"));
    const char *fs = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "fail_settings"));
    const char *stage = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "stage"));
    const char *error = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "error"));
    if (cJSON_IsNumber(size) && size->valuedouble == (double)id->size && mtime && !strcmp(mtime, id->mtime) && fs &&
        !strcmp(fs, fail_settings) && input_own(stage, error))
        return o;
    cJSON_Delete(o);
    return NULL;
}
