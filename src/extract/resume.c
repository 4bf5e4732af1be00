/* resume.c: output validation for resumed runs, and temp-file cleanup. */
#include "extract/resume.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extract/strmap.h"
#include "io/json_utf8.h"
#include "io/regular_file.h"
#include "io/npy.h"
#include "model/model.h"

char *ovx_read_text_file(const char *path, size_t max)
{
    int fd;
    ovx_error err;
    if (ovx_open_regular(path, &fd, NULL, &err) != OVX_OK) /* a FIFO there never blocks the run */
        return NULL;
    FILE *fp = fdopen(fd, "rb");
    if (!fp) {
        close(fd);
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            if (cap > max) {
                free(buf);
                buf = NULL;
                break;
            }
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, fp);
        n += got;
        if (got == 0)
            break;
    }
    if (buf && (ferror(fp) || n > max)) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    if (buf)
        buf[n] = '\0';
    return buf;
}

static int fail(char *why, size_t cap, const char *fmt, const char *a)
{
    if (why && cap)
        snprintf(why, cap, fmt, a);
    return 0;
}

static int dtype_from_name(const char *s, ovx_dtype *t)
{
    if (!strcmp(s, "float32"))
        *t = OVX_DTYPE_F32;
    else if (!strcmp(s, "float16"))
        *t = OVX_DTYPE_F16;
    else if (!strcmp(s, "bfloat16")) /* bfloat16 bits in a uint16 NPY */
        *t = OVX_DTYPE_U16;
    else if (!strcmp(s, "int64"))
        *t = OVX_DTYPE_I64;
    else
        return -1;
    return 0;
}

/* Checks one {"file":..., "dtype":..., "shape":[...]} entry. */
static int output_ok(const char *dir, const cJSON *o, char *why, size_t cap)
{
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(o, "file");
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(o, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(o, "shape");
    ovx_dtype want;
    if (!cJSON_IsString(file) || !cJSON_IsString(dt) || !cJSON_IsArray(shape) ||
        dtype_from_name(dt->valuestring, &want) || strchr(file->valuestring, '/') ||
        !file->valuestring[0] || file->valuestring[0] == '.')
        return fail(why, cap, "%s", "malformed outputs entry in JSON");
    char path[8192];
    if (snprintf(path, sizeof path, "%s/%s", dir, file->valuestring) >= (int)sizeof path)
        return fail(why, cap, "%s", "output path too long");
    ovx_npy h;
    ovx_error err;
    if (ovx_npy_read_header(path, &h, &err) != OVX_OK)
        return fail(why, cap, "%s", err.msg);
    int n = cJSON_GetArraySize(shape);
    int ok = h.dtype == want && h.ndim == n;
    for (int i = 0; ok && i < n; i++) {
        const cJSON *d = cJSON_GetArrayItem(shape, i);
        ok = cJSON_IsNumber(d) && d->valuedouble == (double)h.shape[i];
    }
    if (!ok)
        return fail(why, cap, "%s: dtype or shape differs from its JSON", file->valuestring);
    return 1;
}

int ovx_resume_is_done(const char *base, const char *settings_hash, char *why, size_t why_cap)
{
    return ovx_resume_check(base, settings_hash, NULL, why, why_cap);
}

int ovx_resume_check(const char *base, const char *settings_hash, cJSON **json, char *why, size_t why_cap)
{
    if (json)
        *json = NULL;
    char path[8192];
    snprintf(path, sizeof path, "%s.json", base);
    if (access(path, F_OK) != 0)
        return fail(why, why_cap, "%s", "no outputs yet");
    char *text = ovx_read_text_file(path, 256u << 20);
    if (!text)
        return fail(why, why_cap, "%s: unreadable", path);
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j)
        return fail(why, why_cap, "%s: not valid JSON", path);
    ovx_json_restore_bytes(j); /* names that are not UTF-8 */
    int ok = 0;
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "settings_hash");
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(j, "outputs");
    if (!cJSON_IsString(h) || strcmp(h->valuestring, settings_hash) != 0) {
        fail(why, why_cap, "%s", "made with other settings");
    } else if (!cJSON_IsObject(outs) || cJSON_GetArraySize(outs) == 0) {
        fail(why, why_cap, "%s: no outputs listed", path);
    } else {
        char dir[8192];
        snprintf(dir, sizeof dir, "%s", base);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(dir, sizeof dir, ".");
        ok = 1;
        for (const cJSON *o = outs->child; ok && o; o = o->next)
            ok = output_ok(dir, o, why, why_cap);
    }
    if (ok && json)
        *json = j;
    else
        cJSON_Delete(j);
    return ok;
}

static void dir_of(const char *base, char *dir, size_t cap)
{
    snprintf(dir, cap, "%s", base);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, cap, ".");
}

/* NAME is STEM.hidden_L.npy for an integer L (no sign but '-', digits only). */
static int is_hidden_of(const char *name, const char *stem, size_t sl)
{
    static const char mid[] = ".hidden_";
    if (strncmp(name, stem, sl) != 0 || strncmp(name + sl, mid, sizeof mid - 1) != 0)
        return 0;
    const char *p = name + sl + sizeof mid - 1;
    if (*p == '-')
        p++;
    const char *d = p;
    while (*p >= '0' && *p <= '9')
        p++;
    return p > d && p - d <= 4 && strcmp(p, ".npy") == 0;
}

/* Removes DIR/STEM.hidden_L.npy for every L, except the paths owners lists. */
static void remove_hidden_outputs(const char *dir, const char *stem, const struct ovx_strmap *owners)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    size_t sl = strlen(stem);
    char path[8192];
    for (struct dirent *e; (e = readdir(d));)
        if (is_hidden_of(e->d_name, stem, sl) &&
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path &&
            !(owners && ovx_strmap_get(owners, path, NULL)))
            unlink(path);
    closedir(d);
}

int ovx_resume_remove_outputs(const char *base, int hidden_index, const struct ovx_strmap *owners)
{
    char path[8192];
    snprintf(path, sizeof path, "%s.json", base);
    char *text = ovx_read_text_file(path, 256u << 20);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    ovx_json_restore_bytes(j); /* the exact bytes of the names, never their printable form */
    int had_json = unlink(path) == 0; /* first: from here on the item is not done */
    char dir[8192];
    dir_of(base, dir, sizeof dir);
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(j, "outputs");
    for (const cJSON *o = cJSON_IsObject(outs) ? outs->child : NULL; o; o = o->next) {
        const cJSON *file = cJSON_GetObjectItemCaseSensitive(o, "file");
        if (cJSON_IsString(file) && file->valuestring[0] && file->valuestring[0] != '.' &&
            !strchr(file->valuestring, '/') &&
            snprintf(path, sizeof path, "%s/%s", dir, file->valuestring) < (int)sizeof path)
            unlink(path);
    }
    cJSON_Delete(j);
    static const char *const fixed[] = {".npy", ".pooled.npy", ".pixels.npy", ".indices.npy"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (snprintf(path, sizeof path, "%s%s", base, fixed[i]) < (int)sizeof path)
            unlink(path);
    if (hidden_index != OVX_NO_HIDDEN_STATE && snprintf(path, sizeof path, "%s.hidden_%d.npy", base, hidden_index) < (int)sizeof path)
        unlink(path);
    const char *slash = strrchr(base, '/');
    remove_hidden_outputs(dir, slash ? slash + 1 : base, owners);
    return had_json;
}
