/* cmd_selftest.c: `ovx selftest [--device cuda|cuda:N|cpu] [--large]`:
 * its help and options; the check itself (the CUDA backend against the CPU
 * forward on a random model) is the engine's, engine/selftest.h. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/opt_suggest.h"
#include "cli/device_opt.h"
#include "engine/selftest.h"

void ovx_help_selftest(FILE *out)
{
    fprintf(out,
            "usage: ovx selftest [--device cuda|cuda:N|cpu] [--large] [--seed N]\n"
            "                    [--attention fused|chunked|wmma] [--strict]\n"
            "\n"
            "Builds a random model in memory (weights rounded to bf16, like the\n"
            "checkpoint), runs the CPU forward and the CUDA forward on an image and on a\n"
            "batch of two sparse videos, prints the device (name, compute capability,\n"
            "free memory) and build, the relative L2 error of every output\n"
            "(last_hidden_state, pooler_output, hidden state -2) and per-op times of\n"
            "the CUDA forward, its time without profiling (end to end, and GPU-only from\n"
            "CUDA events around the forward) and whether a repeat is\n"
            "byte-identical (the first case also with two batches in flight and as a\n"
            "replayed CUDA graph). Then a packed batch of ragged samples (37, 1, 70,\n"
            "130 tokens; with --large 37, 1, 70, 4096, 1000) with the fused and with\n"
            "the chunked attention, each against the CPU's packed forward.\n"
            "Exits 0 when every error is <= 1e-2 and repeats are identical.\n"
            "For throughput (clips/s, %% of peak) see ovx bench.\n"
            "\n"
            "  --device DEV   cuda (default, = cuda:0), cuda:N, or cpu: run the CUDA\n"
            "                 forward on the host: the kernel source on a CUDA-on-host\n"
            "                 shim, the same GEMM calls emulated (no GPU needed)\n"
            "  --large        the full-size model (24 x 1024) on a 448 image (1024 tokens),\n"
            "                 16 frames (4096 tokens) and 8 images of 256 tokens (the\n"
            "                 pooling head at batch 8); default: a 2-layer width-128 model\n"
            "  --attention A  fused (default: the mma.sync attention kernel), chunked\n"
            "                 (cuBLAS score/value GEMMs) or wmma (the earlier fused\n"
            "                 kernel) for the first case; the second case always runs\n"
            "                 the chunked reference path\n"
            "  --seed N       seed of the weights and inputs (default 1)\n"
            "  --strict       also fail when a linear layer took the fallback path (GEMM\n"
            "                 to fp32 + epilogue kernel instead of a cuBLASLt epilogue;\n"
            "                 the report \"GEMM paths:\" names the path per layer type;\n"
            "                 the host emulation always takes the fallback)\n"
            "\n"
            "exit status: 0 all outputs within tolerance, 1 failure (including no usable\n"
            "CUDA device: one line on stderr says which check failed: driver, device,\n"
            "compute capability, kernel image, cuBLAS, context, memory), 2 usage error.\n");
}

int ovx_cmd_selftest(int argc, char **argv)
{
    const char *dev_s = "cuda";
    int large = 0, strict = 0, attention = OVX_ATTENTION_FUSED;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc) {
            dev_s = argv[++i];
        } else if (!strncmp(argv[i], "--device=", 9)) {
            dev_s = argv[i] + 9;
        } else if (!strcmp(argv[i], "--attention") && i + 1 < argc) {
            if (ovx_cli_attention_parse("selftest", argv[++i], &attention))
                return OVX_EXIT_USAGE;
        } else if (!strcmp(argv[i], "--large")) {
            large = 1;
        } else if (!strcmp(argv[i], "--strict")) {
            strict = 1;
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            char *end;
            seed = strtoull(argv[++i], &end, 10);
            if (!*argv[i] || *end) {
                fprintf(stderr, "ovx selftest: --seed: not a number: '%s'\n", argv[i]);
                return OVX_EXIT_USAGE;
            }
        } else {
            static const char *const names[] = {"device", "attention", "large", "seed", "help", NULL};
            return ovx_cli_unknown_option("selftest", argv[i], names);
        }
    }
    ovx_error err;
    ovx_error_clear(&err);
    ovx_device want, dev;
    if (ovx_device_parse(dev_s, &want, &err)) {
        fprintf(stderr, "ovx selftest: %s\n", err.msg);
        return OVX_EXIT_USAGE;
    }
    if (want.kind == OVX_DEVICE_AUTO)
        want.kind = OVX_DEVICE_CUDA;
    if (large && want.kind == OVX_DEVICE_CPU) {
        fprintf(stderr, "ovx selftest: --large needs a CUDA device (the host emulation would take hours)\n");
        return OVX_EXIT_USAGE;
    }
    char note[1200];
    int urc = ovx_device_resolve(&want, &dev, note, sizeof note, &err);
    if (urc) {
        fprintf(stderr, "ovx selftest: %s\n", err.msg);
        return urc == OVX_EUSAGE ? OVX_EXIT_USAGE : OVX_EXIT_FAIL;
    }
    ovx_selftest_opts o = {.dev = dev, .dev_name = dev_s, .large = large, .strict = strict,
                           .attention = attention, .seed = seed};
    return ovx_cuda_selftest(&o) ? OVX_EXIT_FAIL : OVX_EXIT_OK;
}
