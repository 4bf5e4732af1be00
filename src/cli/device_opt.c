/* device_opt.c: --device for the CLI commands (see device_opt.h). */
#include "cli/device_opt.h"

#include <stdio.h>
#include <string.h>
#include <string.h>

#include "cli/commands.h"
#include "cuda/ovx_cuda.h"

int ovx_cli_device_select(const char *cmd, const char *arg, ovx_device *dev, char *note, size_t note_len)
{
    ovx_device want;
    ovx_error err;
    ovx_error_clear(&err);
    if (note_len)
        note[0] = '\0';
    if (ovx_device_parse(arg, &want, &err) == OVX_OK &&
        ovx_device_resolve(&want, dev, note, note_len, &err) == OVX_OK)
        return OVX_EXIT_OK;
    fprintf(stderr, "ovx %s: %s\n", cmd, err.msg);
    return err.code == OVX_EUSAGE ? OVX_EXIT_USAGE : OVX_EXIT_FAIL;
}

int ovx_cli_engine_open(const char *arg, ovx_model *m, const ovx_device *dev, ovx_engine **out,
                        ovx_error *err)
{
    return ovx_engine_open_ex(m, dev, !arg || !strcmp(arg, "auto"), out, err);
}

const char *const ovx_cli_attention_names[] = {"fused", "chunked", "wmma", NULL};
_Static_assert(OVX_CUDA_ATTENTION_FUSED == 0 && OVX_CUDA_ATTENTION_CHUNKED == 1 &&
                   OVX_CUDA_ATTENTION_WMMA == 2,
               "ovx_cli_attention_names follows the enum");

int ovx_cli_attention_parse(const char *cmd, const char *arg, int *mode)
{
    for (int i = 0; ovx_cli_attention_names[i]; i++)
        if (!strcmp(arg, ovx_cli_attention_names[i])) {
            *mode = i;
            return OVX_EXIT_OK;
        }
    fprintf(stderr, "ovx %s: --attention: expected fused, chunked or wmma, got '%s'\n", cmd, arg);
    return OVX_EXIT_USAGE;
}
