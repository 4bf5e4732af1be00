/* tar.h: POSIX tar archives (ustar, with a pax extended header for a member
 * name that does not fit ustar's fields). The writer appends regular-file
 * members to a temp file beside the final name ("NAME.tmp.PID.XXXXXX", see
 * atomic_file.h), can roll back to a mark (so a failed item leaves nothing
 * behind), and on commit writes the end-of-archive blocks, fsyncs and renames
 * without replacing an existing file. Members are deterministic: mode 0644,
 * uid/gid 0, mtime 0. The reader walks the headers of an archive defensively
 * (checksums, sizes within the file, pax path records, the end marker). */
#ifndef OVX_IO_TAR_H
#define OVX_IO_TAR_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct ovx_tar_writer ovx_tar_writer;

/* One piece of a member's data (the data is the pieces back to back). */
typedef struct ovx_tar_part {
    const void *data;
    size_t len;
} ovx_tar_part;

/* Creates the temp file "final_path.tmp.PID.TAG.XXXXXX" (".tmp.PID.XXXXXX"
 * when tag is NULL; tag: no '/') for an archive committed to final_path. */
int ovx_tar_writer_open(ovx_tar_writer **w, const char *final_path, const char *tag, ovx_error *err);
/* Appends a regular file member. name: 1..4095 bytes, no NUL. */
int ovx_tar_add(ovx_tar_writer *w, const char *name, const ovx_tar_part *parts, int n_parts, ovx_error *err);
/* Bytes written so far (members only). */
uint64_t ovx_tar_size(const ovx_tar_writer *w);
/* Drops every member added after the size returned by ovx_tar_size(). */
int ovx_tar_rollback(ovx_tar_writer *w, uint64_t mark, ovx_error *err);
/* Ends the archive, fsyncs it and renames it to final_path (given again, so
 * the caller may pick the name late). When final_path exists, nothing is
 * replaced: returns OVX_EIO with *exists = 1 and the writer stays open, so
 * the caller can retry with another name. Frees w on success. */
int ovx_tar_commit(ovx_tar_writer *w, const char *final_path, int *exists, ovx_error *err);
/* Closes and removes the temp file; frees w (NULL is fine). */
void ovx_tar_abort(ovx_tar_writer *w);
/* The temp file's path (for messages). */
const char *ovx_tar_temp_path(const ovx_tar_writer *w);

/* Called per regular file member: name, offset of its data in the file and
 * its size. Returning nonzero stops the walk (that value is returned). */
typedef int (*ovx_tar_member_fn)(void *user, const char *name, uint64_t offset, uint64_t size);
/* Walks the members of a complete archive (ending with the zero blocks);
 * OVX_EINPUT when it is malformed or truncated. */
int ovx_tar_list(const char *path, ovx_tar_member_fn fn, void *user, ovx_error *err);

#endif
