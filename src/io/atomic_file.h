/* atomic_file.h: write a file so that it either appears whole or not at all.
 * Data goes to "NAME.tmp.PID.XXXXXX" in the same folder (NAME cut so that
 * the temp name has at most OVX_NAME_MAX bytes), is fsync'd, then renamed
 * over NAME and the folder fsync'd. A crash leaves only a temp file,
 * which ovx_atomic_is_temp_name() recognises so resumed runs can delete it. */
#ifndef OVX_IO_ATOMIC_FILE_H
#define OVX_IO_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "common/error.h"

/* The longest file name (bytes) of the filesystems ovx writes to. */
#define OVX_NAME_MAX 255

typedef struct ovx_atomic_file {
    FILE *fp;             /* write through this */
    char final_path[4096];
    char tmp_path[4200];
} ovx_atomic_file;

/* Opens a temp file beside path. */
int ovx_atomic_open(ovx_atomic_file *af, const char *path, ovx_error *err);
/* Flushes, fsyncs and renames into place. Cleans up on failure. */
int ovx_atomic_commit(ovx_atomic_file *af, ovx_error *err);
/* Closes and removes the temp file (no-op when already committed). */
void ovx_atomic_abort(ovx_atomic_file *af);

/* Writes a whole buffer to path atomically. */
int ovx_atomic_write(const char *path, const void *data, size_t len, ovx_error *err);

/* 1 when a file name (no folder) looks like one of our temp files. */
int ovx_atomic_is_temp_name(const char *name);

/* Creates every missing folder of path's parent (like mkdir -p dirname). */
int ovx_mkdirs_for(const char *path, ovx_error *err);

#endif
