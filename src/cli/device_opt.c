/* device_opt.c: --device for the CLI commands (see device_opt.h). */
#include "cli/device_opt.h"

#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cuda/ovx_cuda.h"
#include "model/model.h"

int ovx_cli_device_select(const char *cmd, const char *arg, int verbose, ovx_device *dev, char *note,
                          size_t note_len)
{
    ovx_device want;
    ovx_error err;
    ovx_error_clear(&err);
    if (note_len)
        note[0] = '\0';
    if (ovx_device_parse(arg, &want, &err) == OVX_OK &&
        ovx_device_resolve(&want, dev, note, note_len, &err) == OVX_OK) {
        /* auto on a machine without any NVIDIA driver: the CPU is the only
         * choice there, so nothing is worth a line unless -v asked */
        if (note_len && want.kind == OVX_DEVICE_AUTO && !verbose && ovx_cuda_driver_absent())
            note[0] = '\0';
        return OVX_EXIT_OK;
    }
    fprintf(stderr, "ovx %s: %s\n", cmd, err.msg);
    return err.code == OVX_EUSAGE ? OVX_EXIT_USAGE : OVX_EXIT_FAIL;
}

void ovx_cli_precision_resolve(const char *cmd, int *precision, const ovx_device *dev, int verbose)
{
    int cpu = dev->kind == OVX_DEVICE_CPU;
    if (*precision == OVX_PRECISION_AUTO) {
        char why[600] = "auto: fp32 (the forward runs on CUDA; a fallback to the CPU computes fp32)";
        *precision = cpu ? ovx_precision_auto(why, sizeof why) : OVX_PRECISION_FP32;
        if (verbose)
            fprintf(stderr, "ovx %s: precision %s\n", cmd, why);
    } else if (*precision == OVX_PRECISION_BF16 && cpu) {
        double r = ovx_precision_bf16_speedup();
        if (r > 0 && r < 1)
            fprintf(stderr, "ovx %s: warning: --precision bf16 is slower than fp32 on this CPU (its bf16 matmul "
                            "measured at %.2fx fp32): --precision auto or fp32 would be faster\n", cmd, r);
    }
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
