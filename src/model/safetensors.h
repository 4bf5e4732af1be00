/* safetensors.h: a defensive reader for .safetensors files (8-byte LE header
 * length, JSON header, raw data), mmap'd read-only. Every entry's dtype,
 * shape and data_offsets are validated against the file before any tensor
 * byte is touched: offsets in bounds, size == numel * dtype size, no two
 * tensors overlapping, no duplicate names, nothing but space padding after
 * the header JSON, no NUL in tensor names. */
#ifndef OVX_MODEL_SAFETENSORS_H
#define OVX_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define OVX_ST_MAX_DIMS 8
#define OVX_ST_MAX_HEADER (100u << 20) /* 100 MiB, as the reference library */

typedef enum ovx_st_dtype { OVX_ST_BF16, OVX_ST_F16, OVX_ST_F32, OVX_ST_OTHER } ovx_st_dtype;

typedef struct ovx_st_tensor {
    char *name;
    ovx_st_dtype dtype;
    char dtype_name[16];
    int ndim;
    int64_t shape[OVX_ST_MAX_DIMS];
    int64_t numel;
    const unsigned char *data; /* inside the mapping */
    size_t nbytes;
} ovx_st_tensor;

typedef struct ovx_st_file {
    char path[4096];
    int fd;
    unsigned char *map;
    size_t map_len;
    int n;
    ovx_st_tensor *tensors; /* sorted by name */
} ovx_st_file;

/* Opens and validates a file. Errors name the file. */
int ovx_st_open(const char *path, ovx_st_file *f, ovx_error *err);
/* Validates an in-memory image of a file (used by ovx_st_open and tests);
 * buf must outlive f. Errors carry no file name. */
int ovx_st_parse(const unsigned char *buf, size_t len, ovx_st_file *f, ovx_error *err);
void ovx_st_close(ovx_st_file *f);
/* Binary search by name; NULL when absent. */
const ovx_st_tensor *ovx_st_find(const ovx_st_file *f, const char *name);
/* Converts a BF16/F16/F32 tensor to float32 (dst holds numel floats);
 * returns how many of the values are NaN or infinite. */
int64_t ovx_st_to_f32(const ovx_st_tensor *t, float *dst);
/* Drops the mapped pages holding t's data from the process's memory once it
 * has been converted (they stay readable: touched again, they are read from
 * the file again), so a loader never holds the whole file in RSS. No-op for
 * a file made by ovx_st_parse (no mapping). */
void ovx_st_release(const ovx_st_file *f, const ovx_st_tensor *t);
size_t ovx_st_dtype_size(ovx_st_dtype d);

#endif
