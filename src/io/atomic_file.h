/* atomic_file.h: write a file so that it either appears whole or not at all.
 * Data goes to a temp file, is fsync'd, then renamed over NAME and the
 * folder fsync'd. By default the temp file is "NAME.tmp.PID.XXXXXX" in the
 * same folder (NAME cut so that the temp name has at most OVX_NAME_MAX
 * bytes; ovx_atomic_is_temp_name() recognises the pattern). A process can
 * instead send every temp file into a private folder of its own
 * (ovx_atomic_set_temp_dir; ovx extract does, see extract/runtmp.h), so no
 * final name can ever be mistaken for a temp file. A crash leaves only a
 * temp file. */
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

/* Process-wide: temp files go into folder dir (on the filesystem of every
 * final path; NULL: beside the final file again). Set before, and cleared
 * after, the threads that write. */
void ovx_atomic_set_temp_dir(const char *dir);

/* Opens a temp file beside path (or in the temp folder, when set). */
int ovx_atomic_open(ovx_atomic_file *af, const char *path, ovx_error *err);
/* Flushes, fsyncs and renames into place. Cleans up on failure. */
int ovx_atomic_commit(ovx_atomic_file *af, ovx_error *err);
/* Closes and removes the temp file (no-op when already committed). */
void ovx_atomic_abort(ovx_atomic_file *af);

/* Writes a whole buffer to path atomically. */
int ovx_atomic_write(const char *path, const void *data, size_t len, ovx_error *err);

/* 1 when a file name (no folder) looks like one of our temp files. */
int ovx_atomic_is_temp_name(const char *name);

/* fsyncs the folder holding path (after a rename into it); 0 or -1. */
int ovx_fsync_dir_of(const char *path);

/* Creates every missing folder of path's parent (like mkdir -p dirname). */
int ovx_mkdirs_for(const char *path, ovx_error *err);

#endif
