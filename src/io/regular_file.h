/* regular_file.h: opening input files that must be regular files (model
 * config, index and weight shards). A FIFO, socket or device in their place
 * is refused at once instead of blocking open() or read() forever. */
#ifndef OVX_IO_REGULAR_FILE_H
#define OVX_IO_REGULAR_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"

/* Opens path read-only (O_NONBLOCK, so a FIFO without a writer cannot block,
 * then cleared) and checks with fstat that it is a regular file. On success
 * *fd is open and *size holds its size. Errors name the file. */
int ovx_open_regular(const char *path, int *fd, off_t *size, ovx_error *err);

/* Reads a whole regular file of at most max bytes into a malloc'd buffer
 * (NUL-terminated, *len excludes the NUL). Larger files are an error that
 * says what the file was expected to be (what, e.g. "a config.json"). */
int ovx_read_regular(const char *path, size_t max, const char *what, char **buf, size_t *len, ovx_error *err);

#endif
