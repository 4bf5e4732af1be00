/* runtmp.c: a process's private temp folder under DIR/.ovx/tmp and the
 * removal of dead processes' folders. */
#include "extract/runtmp.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int tmp_root(const char *out_dir, char *buf, size_t cap, ovx_error *err)
{
    const char *parts[] = {"/.ovx", "/.ovx/tmp"};
    for (int i = 0; i < 2; i++) {
        if (snprintf(buf, cap, "%s%s", out_dir, parts[i]) >= (int)cap)
            return ovx_error_set(err, OVX_EUSAGE, "%s: path too long", out_dir);
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return ovx_error_set(err, OVX_EIO, "%s: cannot create folder: %s", buf, strerror(errno));
    }
    return OVX_OK;
}

/* Removes the files of folder dir, then dir; returns how many files. */
static int remove_folder(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (d) {
        for (struct dirent *e; (e = readdir(d));) {
            char path[4500];
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path && unlink(path) == 0)
                n++;
        }
        closedir(d);
    }
    rmdir(dir);
    return n;
}

int ovx_runtmp_open(ovx_runtmp *t, const char *out_dir, ovx_error *err)
{
    memset(t, 0, sizeof *t);
    t->lock.fd = -1;
    char root[4200];
    int rc = tmp_root(out_dir, root, sizeof root, err);
    if (rc)
        return rc;
    for (int attempt = 0; attempt < 20; attempt++) {
        char lock[4300];
        snprintf(lock, sizeof lock, "%s/%ld-XXXXXX.lock", root, (long)getpid());
        int fd = mkstemps(lock, 5); /* a fresh name: the lock first, then the folder */
        if (fd < 0)
            return ovx_error_set(err, OVX_EIO, "%s: cannot create a temp folder lock: %s", root, strerror(errno));
        close(fd);
        int got = ovx_claim_path(lock, &t->lock, err);
        if (got < 0)
            return got;
        if (got == 0)
            continue; /* a cleaning run took the fresh lock for a dead one's: another name */
        snprintf(t->dir, sizeof t->dir, "%.*s", (int)(strlen(lock) - 5), lock);
        if (mkdir(t->dir, 0777) == 0)
            return OVX_OK;
        int e = errno;
        ovx_claim_release(&t->lock);
        return ovx_error_set(err, OVX_EIO, "%s: cannot create folder: %s", t->dir, strerror(e));
    }
    return ovx_error_set(err, OVX_EIO, "%s: cannot create a temp folder", root);
}

void ovx_runtmp_close(ovx_runtmp *t)
{
    if (t->lock.fd < 0)
        return;
    remove_folder(t->dir); /* the folder before its lock: a folder never outlives its lock */
    ovx_claim_release(&t->lock);
}

int ovx_runtmp_clean(const char *out_dir)
{
    char root[4200];
    if (snprintf(root, sizeof root, "%s/.ovx/tmp", out_dir) >= (int)sizeof root)
        return 0;
    DIR *d = opendir(root);
    if (!d)
        return 0;
    int removed = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char path[4500], lock[4600];
        size_t n = strlen(e->d_name);
        if (snprintf(path, sizeof path, "%s/%s", root, e->d_name) >= (int)sizeof path)
            continue;
        if (n > 5 && !strcmp(e->d_name + n - 5, ".lock")) {
            ovx_claim c;
            if (ovx_claim_path(path, &c, NULL) == 1) { /* its owner is gone */
                path[strlen(path) - 5] = '\0';
                removed += remove_folder(path);
                ovx_claim_release(&c);
            }
            continue;
        }
        /* a folder without its lock: a cleaner died between the two */
        struct stat st;
        snprintf(lock, sizeof lock, "%s.lock", path);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && lstat(lock, &st) != 0 && errno == ENOENT)
            removed += remove_folder(path);
    }
    closedir(d);
    return removed;
}
