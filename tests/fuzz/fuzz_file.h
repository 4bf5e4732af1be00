/* fuzz_file.h: helpers of the fuzz targets. fuzz_dup: a private malloc'd
 * copy of the input (so ASan catches a read one byte past it exactly).
 * fuzz_write_file: for subjects that read a path, writes the input to one
 * private temporary file per process and returns its path. The file
 * lives in $OVX_FUZZ_TMPDIR, else /dev/shm (a disk write per execution costs
 * more than the subject), else $TMPDIR, else /tmp; it is removed at exit. */
#ifndef OVX_FUZZ_FILE_H
#define OVX_FUZZ_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_file_path[512];

static void fuzz_file_remove(void)
{
    unlink(fuzz_file_path);
}

static inline char *fuzz_dup(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    if (!buf)
        abort();
    memcpy(buf, data, size);
    return buf;
}

static inline const char *fuzz_write_file(const char *suffix, const uint8_t *data, size_t size)
{
    char *path = fuzz_file_path;
    if (!path[0]) {
        const char *t = getenv("OVX_FUZZ_TMPDIR");
        if (!t || !*t)
            t = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        /* absolute, since a target may chdir */
        snprintf(path, 512, "%s/ovx-fuzz-%ld%s", t && *t ? t : "/tmp", (long)getpid(), suffix);
        atexit(fuzz_file_remove);
    }
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        abort(); /* the harness itself failed, not the subject */
    return path;
}

#endif
