/* fuzz_config.c: libFuzzer target for config.json (ovx_model_config_parse):
 * an accepted config passes ovx_model_config_validate. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_file.h"
#include "model/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = fuzz_dup(data, size);
    ovx_model_config cfg;
    ovx_error err;
    if (ovx_model_config_parse(buf, size, &cfg, &err) == OVX_OK && ovx_model_config_validate(&cfg, &err) != OVX_OK)
        abort();
    free(buf);
    return 0;
}
