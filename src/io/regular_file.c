/* regular_file.c: open/read input files that must be regular files (see
 * regular_file.h). */
#include "io/regular_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ovx_open_regular(const char *path, int *fd, off_t *size, ovx_error *err)
{
    *fd = -1;
    int f = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (f < 0)
        return ovx_error_set(err, OVX_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(f, &st) != 0) {
        int e = errno;
        close(f);
        return ovx_error_set(err, OVX_EIO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(f);
        const char *kind = S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                         : S_ISSOCK(st.st_mode) ? "a socket" : S_ISDIR(st.st_mode) ? "a folder" : "special";
        return ovx_error_set(err, OVX_EINPUT, "%s: not a regular file (%s)", path, kind);
    }
    int fl = fcntl(f, F_GETFL);
    if (fl < 0 || fcntl(f, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        int e = errno;
        close(f);
        return ovx_error_set(err, OVX_EIO, "%s: fcntl failed: %s", path, strerror(e));
    }
    *fd = f;
    if (size)
        *size = st.st_size;
    return OVX_OK;
}

int ovx_read_regular(const char *path, size_t max, const char *what, char **buf, size_t *len, ovx_error *err)
{
    *buf = NULL;
    *len = 0;
    int fd;
    off_t size;
    int rc = ovx_open_regular(path, &fd, &size, err);
    if (rc)
        return rc;
    if (size < 0 || (uint64_t)size > max) {
        close(fd);
        return ovx_error_set(err, OVX_EINPUT, "%s: %lld bytes, larger than %zu: not %s", path, (long long)size,
                             max, what);
    }
    /* The file may change size while we read: read up to max + 1 bytes. */
    size_t cap = (size_t)size + 1, n = 0;
    char *b = malloc(cap + 1);
    if (!b) {
        close(fd);
        return ovx_error_set(err, OVX_ENOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (n == cap) {
            if (cap > max) {
                rc = ovx_error_set(err, OVX_EINPUT, "%s: larger than %zu bytes: not %s", path, max, what);
                break;
            }
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *nb = realloc(b, ncap + 1);
            if (!nb) {
                rc = ovx_error_set(err, OVX_ENOMEM, "%s: out of memory", path);
                break;
            }
            b = nb;
            cap = ncap;
        }
        ssize_t got = read(fd, b + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = ovx_error_set(err, OVX_EIO, "%s: read error: %s", path, strerror(errno));
            break;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    if (rc) {
        free(b);
        return rc;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return OVX_OK;
}
