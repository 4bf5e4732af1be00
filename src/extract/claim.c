/* claim.c: per-item claims (OFD locks on DIR/.ovx/claims/HASH.lock) and
 * the log lock. */
#include "extract/claim.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extract/strmap.h"

static int lock_fd(int fd, int wait)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    int rc;
    do
        rc = fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
    while (rc != 0 && wait && errno == EINTR);
    return rc;
}

static int make_dir(const char *path, ovx_error *err)
{
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return ovx_error_set(err, OVX_EIO, "%s: cannot create folder: %s", path, strerror(errno));
    return OVX_OK;
}

static int claims_dir(const char *out_dir, char *buf, size_t cap, ovx_error *err)
{
    if (snprintf(buf, cap, "%s/.ovx", out_dir) >= (int)cap)
        return ovx_error_set(err, OVX_EUSAGE, "%s: path too long", out_dir);
    int rc = make_dir(buf, err);
    if (rc)
        return rc;
    snprintf(buf, cap, "%s/.ovx/claims", out_dir);
    return make_dir(buf, err);
}

int ovx_claim_path(const char *path, ovx_claim *c, ovx_error *err)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return ovx_error_set(err, OVX_EIO, "%s: cannot create claim: %s", path, strerror(errno));
        if (lock_fd(fd, 0) != 0) {
            int e = errno;
            close(fd);
            if (e == EAGAIN || e == EACCES)
                return 0;
            return ovx_error_set(err, OVX_EIO, "%s: cannot lock: %s", path, strerror(e));
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            c->fd = fd;
            snprintf(c->path, sizeof c->path, "%s", path);
            return 1;
        }
        close(fd); /* released and removed by its holder meanwhile: again */
    }
    return ovx_error_set(err, OVX_EIO, "%s: claim keeps changing", path);
}

int ovx_claim_try(const char *out_dir, const char *key, ovx_claim *c, ovx_error *err)
{
    c->fd = -1;
    char dir[4096], path[4200];
    int rc = claims_dir(out_dir, dir, sizeof dir, err);
    if (rc)
        return rc;
    snprintf(path, sizeof path, "%s/%016llx.lock", dir, (unsigned long long)ovx_fnv1a64(key, strlen(key)));
    return ovx_claim_path(path, c, err);
}

void ovx_claim_release(ovx_claim *c)
{
    if (c->fd < 0)
        return;
    unlink(c->path);
    close(c->fd);
    c->fd = -1;
}

int ovx_claim_clean_stale(const char *out_dir)
{
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s/.ovx/claims", out_dir) >= (int)sizeof dir)
        return 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int removed = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".lock") != 0)
            continue;
        char path[4200];
        ovx_claim c;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path && ovx_claim_path(path, &c, NULL) == 1) {
            ovx_claim_release(&c);
            removed++;
        }
    }
    closedir(d);
    return removed;
}

int ovx_log_lock_open(const char *out_dir, int *fd, ovx_error *err)
{
    char path[4200];
    if (snprintf(path, sizeof path, "%s/.ovx", out_dir) >= (int)sizeof path)
        return ovx_error_set(err, OVX_EUSAGE, "%s: path too long", out_dir);
    int rc = make_dir(path, err);
    if (rc)
        return rc;
    snprintf(path, sizeof path, "%s/.ovx/log.lock", out_dir);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0)
        return ovx_error_set(err, OVX_EIO, "%s: %s", path, strerror(errno));
    return OVX_OK;
}

int ovx_log_lock(int fd, ovx_error *err)
{
    if (lock_fd(fd, 1) != 0)
        return ovx_error_set(err, OVX_EIO, "cannot lock the run logs: %s", strerror(errno));
    return OVX_OK;
}

void ovx_log_unlock(int fd)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_UNLCK;
    fl.l_whence = SEEK_SET;
    fcntl(fd, F_OFD_SETLK, &fl);
}
