/* commands.h: the ovx subcommands. Each lives in its own cmd_NAME.c, parses
 * its own options and returns the process exit status:
 *   0 success, 1 failure (bad input, I/O, some items failed), 2 usage error,
 *   130/143 interrupted by SIGINT/SIGTERM. */
#ifndef OVX_CLI_COMMANDS_H
#define OVX_CLI_COMMANDS_H

#include <stdio.h>

#define OVX_EXIT_OK 0
#define OVX_EXIT_FAIL 1
#define OVX_EXIT_USAGE 2

typedef struct ovx_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);  /* argv[0] is the command name */
    void (*help)(FILE *out);
    int blas;                           /* OpenBLAS's kernels are fixed at start (blas_env.h):
                                         * 0 no BLAS; 1 the model, whose products run on
                                         * OpenBLAS only without oneDNN's (OVX_CPU_GEMM=openblas,
                                         * a build without oneDNN); 2 always (selftest, bench) */
} ovx_command;

int ovx_cmd_select(int argc, char **argv);
void ovx_help_select(FILE *out);
int ovx_cmd_forward(int argc, char **argv);
void ovx_help_forward(FILE *out);
int ovx_cmd_inspect(int argc, char **argv);
void ovx_help_inspect(FILE *out);
int ovx_cmd_extract(int argc, char **argv);
void ovx_help_extract(FILE *out);
int ovx_cmd_selftest(int argc, char **argv);
void ovx_help_selftest(FILE *out);
int ovx_cmd_bench(int argc, char **argv);
void ovx_help_bench(FILE *out);

#endif
