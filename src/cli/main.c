/* main.c: the `ovx` entry point: dispatches to a subcommand from a table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/blas_env.h"
#include "cli/commands.h"
#include "cli/malloc_tune.h"
#include "model/mm.h"

static const ovx_command commands[] = {
    {"select", "pick the salient 14x14 patches of a video from its motion vectors and residuals",
     ovx_cmd_select, ovx_help_select, 0},
    {"forward", "run the encoder on a pixel tensor (.npy) and write its outputs",
     ovx_cmd_forward, ovx_help_forward, 1},
    {"extract", "videos or images in, embeddings (.npy) and metadata (.json) out",
     ovx_cmd_extract, ovx_help_extract, 1},
    {"inspect", "summarise a model folder: config, tensors, parameter count, checksum",
     ovx_cmd_inspect, ovx_help_inspect, 0},
    {"selftest", "compare the CUDA backend with the CPU backend on a random model",
     ovx_cmd_selftest, ovx_help_selftest, 2},
    {"bench", "forward throughput on a device (clips/s, tokens/s, % of bf16 peak) as a table",
     ovx_cmd_bench, ovx_help_bench, 2},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ovx COMMAND [OPTIONS] ...\n"
            "\n"
            "ovx extracts OneVision Encoder features from videos and images, keeping\n"
            "only the patches where the codec saw motion (dense frames, sparse patches).\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n"
            "  ovx help COMMAND     options of one command (also: ovx COMMAND --help)\n"
            "  ovx --version        print the version\n"
            "\n"
            "exit status: 0 success, 1 failure, 2 usage error, 130/143 interrupted.\n"
            "See ovx(1) for details.\n");
}

/* Does the command's work run on OpenBLAS (table field blas)? The model's
 * matrix products and attention run on oneDNN and ovx's own kernels unless
 * OVX_CPU_GEMM=openblas asks for OpenBLAS or oneDNN is missing (model/
 * precision.c); the attentive head's k/v products follow them, its
 * one-row products are ovx's own. */
static int runs_openblas(const ovx_command *c)
{
    if (c->blas != 1)
        return c->blas;
    const char *g = getenv("OVX_CPU_GEMM");
    return (g && !strcmp(g, "openblas")) || !ovx_mm_available(NULL, 0);
}

static const ovx_command *find(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    /* a command whose work runs on OpenBLAS may exec ovx again (OpenBLAS's
     * kernels for this CPU), before anything is done; the others keep the one
     * start-up (select ~25 ms of CPU with FFmpeg's libraries, extract and
     * forward on oneDNN 40-60 ms: the model's libraries load twice) */
    const ovx_command *first = argc >= 2 ? find(argv[1]) : NULL;
    if (first && runs_openblas(first))
        ovx_blas_coretype_fix(argv);
    ovx_malloc_tune();
    ovx_blas_pool_stop();
    if (argc < 2) {
        usage(stderr);
        return OVX_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return OVX_EXIT_OK;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        printf("ovx %s\n", OVX_VERSION);
        return OVX_EXIT_OK;
    }
    if (!strcmp(cmd, "help")) {
        if (argc < 3) {
            usage(stdout);
            return OVX_EXIT_OK;
        }
        const ovx_command *c = find(argv[2]);
        if (!c) {
            fprintf(stderr, "ovx: unknown command '%s' (see ovx --help)\n", argv[2]);
            return OVX_EXIT_USAGE;
        }
        c->help(stdout);
        return OVX_EXIT_OK;
    }
    const ovx_command *c = first;
    if (!c) {
        fprintf(stderr, "ovx: unknown command '%s' (see ovx --help)\n", cmd);
        return OVX_EXIT_USAGE;
    }
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            c->help(stdout);
            return OVX_EXIT_OK;
        }
    }
    return c->run(argc - 1, argv + 1);
}
