/* fuzz_safetensors.c: libFuzzer target for the safetensors header and data
 * offsets (ovx_st_parse): every accepted tensor must lie inside the input,
 * be found again by name, and convert to float32. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_file.h"
#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a private copy, so reads past the input are caught exactly */
    unsigned char *buf = (unsigned char *)fuzz_dup(data, size);
    ovx_st_file f;
    ovx_error err;
    if (ovx_st_parse(buf, size, &f, &err) == OVX_OK) {
        for (int i = 0; i < f.n; i++) {
            const ovx_st_tensor *t = &f.tensors[i];
            if (t->data < buf || t->data + t->nbytes > buf + size || ovx_st_find(&f, t->name) != t)
                abort();
            if (t->numel <= (1 << 20)) {
                float *out = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *out);
                if (out)
                    (void)ovx_st_to_f32(t, out);
                free(out);
            }
        }
        f.map = NULL; /* not a mapping: only the tensor list is ours to free */
        f.fd = -1;
        ovx_st_close(&f);
    }
    free(buf);
    return 0;
}
