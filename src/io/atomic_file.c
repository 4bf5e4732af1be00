/* atomic_file.c: temp file + fsync + rename, and mkdir -p for parents. */
#include "io/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ovx_fsync_dir_of(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    int fd = open(dirname(buf), O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int ovx_mkdirs_for(const char *path, ovx_error *err)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return ovx_error_set(err, OVX_EUSAGE, "%s: path too long", path);
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf)
        return OVX_OK;
    *slash = '\0';
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return ovx_error_set(err, OVX_EIO, "%s: cannot create folder: %s", buf, strerror(errno));
            *p = c;
            if (c == '\0')
                break;
        }
    }
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
        return ovx_error_set(err, OVX_EIO, "%s: not a folder", buf);
    return OVX_OK;
}

static char temp_dir[4096]; /* "" : beside the final file */

void ovx_atomic_set_temp_dir(const char *dir)
{
    snprintf(temp_dir, sizeof temp_dir, "%s", dir ? dir : "");
}

/* The temp path: in the temp folder, else beside path (cut to fit). */
static void temp_path(ovx_atomic_file *af, const char *path)
{
    if (temp_dir[0]) {
        snprintf(af->tmp_path, sizeof af->tmp_path, "%s/%ld.XXXXXX", temp_dir, (long)getpid());
        return;
    }
    /* the temp name must fit where the final one fits: a long name is cut */
    char suffix[64];
    int sl = snprintf(suffix, sizeof suffix, ".tmp.%ld.XXXXXX", (long)getpid());
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash + 1 - path) : 0, name_len = strlen(path) - dir_len;
    if (name_len + (size_t)sl > OVX_NAME_MAX)
        name_len = OVX_NAME_MAX > (size_t)sl ? OVX_NAME_MAX - (size_t)sl : 1;
    snprintf(af->tmp_path, sizeof af->tmp_path, "%.*s%s", (int)(dir_len + name_len), path, suffix);
}

int ovx_atomic_open(ovx_atomic_file *af, const char *path, ovx_error *err)
{
    memset(af, 0, sizeof *af);
    if (snprintf(af->final_path, sizeof af->final_path, "%s", path) >= (int)sizeof af->final_path)
        return ovx_error_set(err, OVX_EUSAGE, "%s: path too long", path);
    temp_path(af, path);
    int fd = mkstemp(af->tmp_path);
    if (fd < 0)
        return ovx_error_set(err, OVX_EIO, "%s: cannot create temporary file: %s", path, strerror(errno));
    fchmod(fd, 0644);
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        int e = errno;
        close(fd);
        unlink(af->tmp_path);
        return ovx_error_set(err, OVX_EIO, "%s: %s", path, strerror(e));
    }
    return OVX_OK;
}

int ovx_atomic_commit(ovx_atomic_file *af, ovx_error *err)
{
    if (!af->fp)
        return ovx_error_set(err, OVX_EINTERNAL, "%s: atomic file not open", af->final_path);
    int bad = ferror(af->fp);
    if (fflush(af->fp) != 0 || bad || fsync(fileno(af->fp)) != 0) {
        int e = errno ? errno : EIO;
        ovx_atomic_abort(af);
        return ovx_error_set(err, OVX_EIO, "%s: write failed: %s", af->final_path, strerror(e));
    }
    if (fclose(af->fp) != 0) {
        int e = errno;
        af->fp = NULL;
        unlink(af->tmp_path);
        return ovx_error_set(err, OVX_EIO, "%s: close failed: %s", af->final_path, strerror(e));
    }
    af->fp = NULL;
    if (rename(af->tmp_path, af->final_path) != 0) {
        int e = errno;
        unlink(af->tmp_path);
        return ovx_error_set(err, OVX_EIO, "%s: rename failed: %s", af->final_path, strerror(e));
    }
    ovx_fsync_dir_of(af->final_path);
    return OVX_OK;
}

void ovx_atomic_abort(ovx_atomic_file *af)
{
    if (af->fp) {
        fclose(af->fp);
        af->fp = NULL;
        unlink(af->tmp_path);
    }
}

int ovx_atomic_write(const char *path, const void *data, size_t len, ovx_error *err)
{
    ovx_atomic_file af;
    int rc = ovx_atomic_open(&af, path, err);
    if (rc)
        return rc;
    if (len && fwrite(data, 1, len, af.fp) != len) {
        int e = errno;
        ovx_atomic_abort(&af);
        return ovx_error_set(err, OVX_EIO, "%s: write failed: %s", path, strerror(e));
    }
    return ovx_atomic_commit(&af, err);
}

int ovx_atomic_is_temp_name(const char *name)
{
    const char *t = strstr(name, ".tmp.");
    if (!t)
        return 0;
    t += 5;
    if (*t < '0' || *t > '9')
        return 0;
    while (*t >= '0' && *t <= '9')
        t++;
    if (*t != '.')
        return 0;
    return strlen(t + 1) == 6;
}
