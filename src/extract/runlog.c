/* runlog.c: failures.jsonl / manifest.jsonl: locked appends with
 * rollback, and the compaction at the end of a run. */
#include "extract/runlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extract/claim.h"
#include "extract/known_fail.h"
#include "extract/resume.h"
#include "io/atomic_file.h"
#include "io/json_utf8.h"

/* Reads the lines already in path into set. A last line cut short (a crash
 * in the middle of a write) gets its newline, so the next append starts a
 * line of its own. Called with the log lock held. */
static int load_lines(ovx_strmap *set, const char *path)
{
    char *text = ovx_read_text_file(path, 1u << 30);
    if (!text)
        return 0;
    size_t len = strlen(text);
    if (len && text[len - 1] != '\n') {
        int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (fd >= 0) {
            if (write(fd, "\n", 1) != 1) {
                /* the compaction drops the cut line anyway */
            }
            close(fd);
        }
    }
    int rc = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && rc == 0;
         line = strtok_r(NULL, "\n", &save))
        rc = ovx_strmap_put(set, line, NULL);
    free(text);
    return rc;
}

int ovx_runlog_open(ovx_runlog *rl, const char *dir, ovx_error *err)
{
    memset(rl, 0, sizeof *rl);
    rl->lock_fd = -1;
    snprintf(rl->dir, sizeof rl->dir, "%s", dir);
    snprintf(rl->failures_path, sizeof rl->failures_path, "%s/failures.jsonl", dir);
    snprintf(rl->manifest_path, sizeof rl->manifest_path, "%s/manifest.jsonl", dir);
    int rc = ovx_mkdirs_for(rl->failures_path, err);
    if (!rc)
        rc = ovx_log_lock_open(dir, &rl->lock_fd, err);
    if (!rc)
        rc = ovx_log_lock(rl->lock_fd, err);
    if (rc)
        return rc;
    rc = load_lines(&rl->seen_failures, rl->failures_path) || load_lines(&rl->seen_manifest, rl->manifest_path);
    ovx_log_unlock(rl->lock_fd);
    if (rc)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    rl->loaded = 1;
    return OVX_OK;
}

void ovx_runlog_close(ovx_runlog *rl)
{
    ovx_strmap_free(&rl->seen_failures);
    ovx_strmap_free(&rl->seen_manifest);
    ovx_strmap_free(&rl->ok_items);
    ovx_strmap_free(&rl->gone_keys);
    ovx_strmap_free(&rl->failed_here);
    if (rl->lock_fd >= 0)
        close(rl->lock_fd);
    rl->lock_fd = -1;
}

/* One write(2) of the whole line under the log lock; on failure the file is
 * truncated back to its old size. */
static int append_line(ovx_runlog *rl, const char *path, ovx_strmap *seen, const char *line, ovx_error *err)
{
    if (ovx_strmap_get(seen, line, NULL))
        return OVX_OK;
    size_t len = strlen(line);
    char *buf = malloc(len + 2);
    if (!buf)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    memcpy(buf, line, len);
    buf[len] = '\n';
    int rc = ovx_log_lock(rl->lock_fd, err);
    if (rc) {
        free(buf);
        return rc;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    struct stat st;
    if (fd < 0) {
        rc = ovx_error_set(err, OVX_EIO, "%s: %s", path, strerror(errno));
    } else if (fstat(fd, &st) != 0) {
        rc = ovx_error_set(err, OVX_EIO, "%s: %s", path, strerror(errno));
    } else {
        ssize_t w = write(fd, buf, len + 1);
        if (w != (ssize_t)(len + 1) || fsync(fd) != 0) {
            int e = w < 0 ? errno : w != (ssize_t)(len + 1) ? ENOSPC : errno;
            int undone = ftruncate(fd, st.st_size) == 0;
            rc = ovx_error_set(err, OVX_EIO, "%s: append failed: %s%s", path, strerror(e),
                               undone ? " (line rolled back)" : " (and the rollback failed)");
        }
    }
    if (fd >= 0)
        close(fd);
    ovx_log_unlock(rl->lock_fd);
    free(buf);
    if (rc == OVX_OK && ovx_strmap_put(seen, line, NULL) != 0)
        rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
    return rc;
}

int ovx_runlog_failure(ovx_runlog *rl, const char *path, const char *rel, const char *stage,
                       const char *error, ovx_error *err)
{
    cJSON *o = ovx_failure_line(path, rel, stage, error, NULL, NULL);
    int rc = o ? ovx_runlog_failure_line(rl, o, err) : ovx_error_set(err, OVX_ENOMEM, "out of memory");
    cJSON_Delete(o);
    return rc;
}

int ovx_runlog_failure_line(ovx_runlog *rl, const cJSON *raw, ovx_error *err)
{
    cJSON *o = cJSON_Duplicate(raw, 1);
    char *line = o && ovx_json_make_utf8(o) == 0 ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!line)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    int rc = append_line(rl, rl->failures_path, &rl->seen_failures, line, err);
    if (rc == OVX_OK && ovx_strmap_put(&rl->failed_here, line, NULL) != 0)
        rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
    free(line);
    return rc;
}

static const char *str_field(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* "A\nA_bytes\nB\nB_bytes" of a line as written (UTF-8, json_utf8.h),
 * malloc'd; NULL without field a. */
static char *fields_id(const cJSON *o, const char *a, const char *b)
{
    char ab[64], bb[64];
    snprintf(ab, sizeof ab, "%s_bytes", a);
    snprintf(bb, sizeof bb, "%s_bytes", b ? b : "");
    const char *v[4] = {str_field(o, a), str_field(o, ab), b ? str_field(o, b) : "", b ? str_field(o, bb) : ""};
    if (!v[0] || !v[2])
        return NULL;
    size_t n = 4;
    for (int i = 0; i < 4; i++)
        n += v[i] ? strlen(v[i]) : 0;
    char *id = malloc(n);
    if (id)
        snprintf(id, n, "%s\n%s\n%s\n%s", v[0], v[1] ? v[1] : "", v[2], v[3] ? v[3] : "");
    return id;
}

/* An item in failures.jsonl and the manifest: its rel, which names its
 * outputs (the same item under another spelling of its folder is the
 * same item). */
static char *item_id(const cJSON *o)
{
    return fields_id(o, "rel", NULL);
}

/* A manifest line's key: its REL.json. */
static char *manifest_key(const cJSON *o)
{
    return fields_id(o, "json", NULL);
}

int ovx_runlog_manifest(ovx_runlog *rl, const cJSON *raw, ovx_error *err)
{
    cJSON *obj = cJSON_Duplicate(raw, 1);
    char *line = obj && ovx_json_make_utf8(obj) == 0 ? cJSON_PrintUnformatted(obj) : NULL;
    if (!line) {
        cJSON_Delete(obj);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    }
    int rc = append_line(rl, rl->manifest_path, &rl->seen_manifest, line, err);
    free(line);
    char *item = item_id(obj), *key = manifest_key(obj);
    cJSON_Delete(obj);
    if (rc == OVX_OK && item && ovx_strmap_put(&rl->ok_items, item, NULL) != 0)
        rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
    free(item);
    if (rc == OVX_OK && key && ovx_strmap_get(&rl->gone_keys, key, NULL))
        ovx_strmap_put(&rl->gone_keys, key, "written again");
    free(key);
    return rc;
}

int ovx_runlog_forget(ovx_runlog *rl, const char *json_rel)
{
    cJSON *o = cJSON_CreateObject();
    char *key = NULL;
    if (o && cJSON_AddStringToObject(o, "json", json_rel) && ovx_json_make_utf8(o) == 0)
        key = manifest_key(o);
    cJSON_Delete(o);
    int rc = key && ovx_strmap_put(&rl->gone_keys, key, NULL) == 0 ? OVX_OK : OVX_ENOMEM;
    free(key);
    return rc;
}

/* 1 when the REL.json a manifest line names is on disk (another run may
 * have written the item again after this run removed it). */
static int json_exists(const ovx_runlog *rl, const char *line)
{
    cJSON *o = cJSON_Parse(line);
    ovx_json_restore_bytes(o);
    const char *json = str_field(o, "json");
    char path[8400];
    int there = json && snprintf(path, sizeof path, "%s/%s", rl->dir, json) < (int)sizeof path && access(path, F_OK) == 0;
    cJSON_Delete(o);
    return there;
}

void ovx_runlog_keep_only(ovx_runlog *rl, const ovx_strmap *keep)
{
    rl->keep_rels = keep;
}

/* 1 when a line's rel is not among rl->keep_rels (when set). */
static int pruned(const ovx_runlog *rl, const char *line)
{
    if (!rl->keep_rels)
        return 0;
    cJSON *o = cJSON_Parse(line);
    ovx_json_restore_bytes(o);
    const char *rel = str_field(o, "rel");
    int gone = rel && !ovx_strmap_get(rl->keep_rels, rel, NULL);
    cJSON_Delete(o);
    return gone;
}

/* Rewrites path keeping, per key, the last parseable line (see
 * ovx_runlog_compact for what else goes). */
static int compact_file(ovx_runlog *rl, const char *path, const char *tmp_name, int for_manifest, ovx_error *err)
{
    char *text = ovx_read_text_file(path, (size_t)1 << 34);
    if (!text) {
        if (access(path, F_OK) != 0)
            return OVX_OK; /* nothing logged yet */
        return ovx_error_set(err, OVX_EIO, "%s: cannot read", path);
    }
    /* the lines, each with its key; the last line of each key wins */
    size_t cap = 1024, n = 0;
    char **lines = malloc(cap * sizeof *lines);
    char **keys = malloc(cap * sizeof *keys);
    ovx_strmap last = {0};
    int rc = lines && keys ? OVX_OK : ovx_error_set(err, OVX_ENOMEM, "out of memory");
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && rc == OVX_OK;
         line = strtok_r(NULL, "\n", &save)) {
        cJSON *o = cJSON_Parse(line);
        char *key = NULL;
        if (o && cJSON_IsObject(o))
            key = for_manifest ? manifest_key(o) : item_id(o);
        if (!key) { /* torn or foreign: dropped */
            cJSON_Delete(o);
            continue;
        }
        if (n == cap) {
            cap *= 2;
            char **nl = realloc(lines, cap * sizeof *lines), **nk = nl ? realloc(keys, cap * sizeof *keys) : NULL;
            if (nl)
                lines = nl;
            if (nk)
                keys = nk;
            if (!nl || !nk) {
                free(key);
                cJSON_Delete(o);
                rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
                break;
            }
        }
        char num[32];
        snprintf(num, sizeof num, "%zu", n);
        keys[n] = key;
        lines[n] = line;
        cJSON_Delete(o);
        if (!keys[n] || ovx_strmap_put(&last, keys[n], num) != 0) {
            free(keys[n]);
            rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
            break;
        }
        n++;
    }
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s/.ovx/%s", rl->dir, tmp_name);
    FILE *f = rc == OVX_OK ? fopen(tmp, "wb") : NULL;
    if (rc == OVX_OK && !f)
        rc = ovx_error_set(err, OVX_EIO, "%s: %s", tmp, strerror(errno));
    for (size_t i = 0; i < n && rc == OVX_OK; i++) {
        const char *w;
        if (!ovx_strmap_get(&last, keys[i], &w) || strtoull(w, NULL, 10) != i)
            continue; /* a later line of the same item follows */
        const char *gone = NULL;
        if (for_manifest && ovx_strmap_get(&rl->gone_keys, keys[i], &gone) && !gone && !json_exists(rl, lines[i]))
            continue; /* outputs removed by this run, not written again (here or by another run) */
        if (pruned(rl, lines[i]))
            continue; /* --prune: no input has its rel */
        if (!for_manifest && ovx_strmap_get(&rl->ok_items, keys[i], NULL) &&
            !ovx_strmap_get(&rl->failed_here, lines[i], NULL))
            continue; /* failed before, done now (a failure of this run stays: its rel's outputs are another input's) */
        fputs(lines[i], f);
        fputc('\n', f);
    }
    if (f) {
        int bad = ferror(f) || fflush(f) != 0 || fsync(fileno(f)) != 0;
        int e = errno;
        if (fclose(f) != 0 && !bad) {
            bad = 1;
            e = errno;
        }
        if (rc == OVX_OK && bad)
            rc = ovx_error_set(err, OVX_EIO, "%s: write failed: %s", tmp, strerror(e));
        if (rc == OVX_OK && rename(tmp, path) != 0)
            rc = ovx_error_set(err, OVX_EIO, "%s: rename failed: %s", path, strerror(errno));
        if (rc != OVX_OK)
            unlink(tmp);
    }
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
    free(lines);
    ovx_strmap_free(&last);
    free(text);
    return rc;
}

int ovx_runlog_compact(ovx_runlog *rl, ovx_error *err)
{
    int rc = ovx_log_lock(rl->lock_fd, err);
    if (rc)
        return rc;
    rc = compact_file(rl, rl->manifest_path, "manifest.jsonl.compact", 1, err);
    if (rc == OVX_OK)
        rc = compact_file(rl, rl->failures_path, "failures.jsonl.compact", 0, err);
    ovx_log_unlock(rl->lock_fd);
    return rc;
}
