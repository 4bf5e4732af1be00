/* runlog.c: failures.jsonl / manifest.jsonl appends. */
#include "extract/runlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extract/resume.h"
#include "io/atomic_file.h"

/* Reads the lines already in path into set. A last line cut short (a crash
 * in the middle of a write) gets its newline, so the next append starts a
 * line of its own. */
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
                /* the next append will then continue the cut line; nothing better to do */
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
    snprintf(rl->failures_path, sizeof rl->failures_path, "%s/failures.jsonl", dir);
    snprintf(rl->manifest_path, sizeof rl->manifest_path, "%s/manifest.jsonl", dir);
    int rc = ovx_mkdirs_for(rl->failures_path, err);
    if (rc)
        return rc;
    if (load_lines(&rl->seen_failures, rl->failures_path) || load_lines(&rl->seen_manifest, rl->manifest_path))
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    rl->loaded = 1;
    return OVX_OK;
}

void ovx_runlog_close(ovx_runlog *rl)
{
    ovx_strmap_free(&rl->seen_failures);
    ovx_strmap_free(&rl->seen_manifest);
}

static int append_line(const char *path, ovx_strmap *seen, const char *line, ovx_error *err)
{
    if (ovx_strmap_get(seen, line, NULL))
        return OVX_OK;
    size_t len = strlen(line);
    char *buf = malloc(len + 2);
    if (!buf)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    memcpy(buf, line, len);
    buf[len] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int rc = OVX_OK;
    if (fd < 0) {
        rc = ovx_error_set(err, OVX_EIO, "%s: %s", path, strerror(errno));
    } else {
        ssize_t w = write(fd, buf, len + 1);
        if (w != (ssize_t)(len + 1))
            rc = ovx_error_set(err, OVX_EIO, "%s: write failed: %s", path, w < 0 ? strerror(errno) : "short write");
        else
            fsync(fd);
        close(fd);
    }
    free(buf);
    if (rc == OVX_OK && ovx_strmap_put(seen, line, NULL) != 0)
        rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
    return rc;
}

int ovx_runlog_failure(ovx_runlog *rl, const char *path, const char *rel, const char *stage,
                       const char *error, ovx_error *err)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    cJSON_AddStringToObject(o, "path", path);
    cJSON_AddStringToObject(o, "rel", rel);
    cJSON_AddStringToObject(o, "stage", stage);
    cJSON_AddStringToObject(o, "error", error);
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!line)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    int rc = append_line(rl->failures_path, &rl->seen_failures, line, err);
    free(line);
    return rc;
}

int ovx_runlog_manifest(ovx_runlog *rl, const cJSON *obj, ovx_error *err)
{
    char *line = cJSON_PrintUnformatted(obj);
    if (!line)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    int rc = append_line(rl->manifest_path, &rl->seen_manifest, line, err);
    free(line);
    return rc;
}
