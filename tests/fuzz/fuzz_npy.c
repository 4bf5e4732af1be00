/* fuzz_npy.c: libFuzzer target for the NPY reader: the input is written to
 * a file and read back with ovx_npy_read_header, ovx_npy_read and
 * ovx_npy_to_f32 (the path `ovx forward --pixel-values` takes). */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_file.h"
#include "io/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file(".npy", data, size);
    ovx_npy a;
    ovx_error err;
    size_t off;
    if (ovx_npy_parse_header(data, size, &a, &off, &err) == OVX_OK && off > size)
        abort();
    if (ovx_npy_read_header(path, &a, &err) == OVX_OK && (a.ndim < 0 || a.ndim > OVX_NPY_MAX_DIMS || a.data))
        abort();
    if (ovx_npy_read(path, &a, &err) == OVX_OK) {
        int64_t n = 1;
        for (int i = 0; i < a.ndim; i++)
            n *= a.shape[i];
        if (n != a.count)
            abort();
        (void)ovx_npy_to_f32(&a, &err);
        ovx_npy_free(&a);
    }
    return 0;
}
