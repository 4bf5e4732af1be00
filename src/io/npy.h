/* npy.h: NumPy .npy v1.0 files (little-endian, C order) for float32,
 * float16, int64/int32, uint16 and uint8 arrays; bfloat16 is stored as uint16
 * (NumPy has no bfloat16: the writer of the file records what it is). Writing is atomic (see atomic_file.h);
 * reading validates the header against the file size before trusting it. */
#ifndef OVX_IO_NPY_H
#define OVX_IO_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define OVX_NPY_MAX_DIMS 8

typedef enum ovx_dtype {
    OVX_DTYPE_F32 = 0,
    OVX_DTYPE_F16,
    OVX_DTYPE_I64,
    OVX_DTYPE_I32,
    OVX_DTYPE_U8,
    OVX_DTYPE_U16,
    OVX_DTYPE_BF16   /* written as '<u2' (bfloat16 bit patterns); read back as U16 */
} ovx_dtype;

size_t ovx_dtype_size(ovx_dtype t);
const char *ovx_dtype_npy_descr(ovx_dtype t); /* "<f4", ... */

typedef struct ovx_npy {
    ovx_dtype dtype;
    int ndim;
    int64_t shape[OVX_NPY_MAX_DIMS];
    int64_t count;   /* product of shape */
    void *data;      /* count * dtype size bytes, malloc'd */
} ovx_npy;

/* Writes data (already in dtype) as an .npy file, atomically. */
int ovx_npy_write(const char *path, ovx_dtype dtype, int ndim, const int64_t *shape,
                  const void *data, ovx_error *err);
/* Writes float32 data as dtype F32, F16 or BF16 (converting, nearest even). */
int ovx_npy_write_f32_as(const char *path, ovx_dtype dtype, int ndim, const int64_t *shape,
                         const float *data, ovx_error *err);

/* float32 -> F16 or BF16 (nearest even), malloc'd; NULL when out of memory. */
uint16_t *ovx_npy_halves_from_f32(ovx_dtype dtype, const float *data, size_t count);

/* Builds the full header (magic .. padding) for the array into buf; returns
 * its length or 0 if buf is too small. */
size_t ovx_npy_header(char *buf, size_t cap, ovx_dtype dtype, int ndim, const int64_t *shape);

/* Reads a whole file. Fortran order, big-endian and unknown dtypes are
 * rejected with a message naming the file. */
int ovx_npy_read(const char *path, ovx_npy *out, ovx_error *err);
/* Reads only the header (for validating outputs without loading them). */
int ovx_npy_read_header(const char *path, ovx_npy *out, ovx_error *err);
/* Parses a header from memory; sets *data_offset. */
int ovx_npy_parse_header(const unsigned char *buf, size_t len, ovx_npy *out,
                         size_t *data_offset, ovx_error *err);
/* Converts out->data to float32 in place (F16 -> F32; I64/I32 rejected). */
int ovx_npy_to_f32(ovx_npy *a, ovx_error *err);
void ovx_npy_free(ovx_npy *a);

#endif
