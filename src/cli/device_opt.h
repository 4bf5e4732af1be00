/* device_opt.h: the `--device auto|cpu|cuda|cuda:N` option shared by the
 * commands that run the model (ovx forward, ovx extract): its help lines,
 * and parse + resolve with the command's one-line errors and exit codes.
 * The device logic itself is engine/device.h and engine/engine.h. */
#ifndef OVX_CLI_DEVICE_OPT_H
#define OVX_CLI_DEVICE_OPT_H

#include <stddef.h>

#include "engine/engine.h"

/* Help lines for --device, aligned like the commands' other options. */
#define OVX_DEVICE_OPT_HELP                                                             \
    "      --device DEV         auto (default: CUDA device 0 when it opens and takes the\n" \
    "                           weights, else the CPU, saying why once), cpu, cuda\n" \
    "                           (= cuda:0) or cuda:N (fails with one line saying why);\n" \
    "                           a machine with no NVIDIA driver hears why only with -v\n"

/* Help lines for --attention (forward, extract, selftest). */
#define OVX_ATTENTION_OPT_HELP                                                          \
    "      --attention A        CUDA attention: fused (default: one kernel, scores stay\n" \
    "                           on chip) or chunked (cuBLAS score/value GEMMs, the\n"      \
    "                           reference); no effect on the CPU\n"

/* NULL-terminated names of --attention, in enum ovx_attention_mode order */
extern const char *const ovx_cli_attention_names[];

/* "fused" or "chunked" -> *mode; else prints "ovx CMD: --attention: ..."
 * and returns OVX_EXIT_USAGE. */
int ovx_cli_attention_parse(const char *cmd, const char *arg, int *mode);

/* Parses `arg` (NULL = auto) and resolves it to cpu or cuda:N. On success
 * returns 0 (OVX_EXIT_OK) with *dev resolved and note holding the one-line
 * auto -> CPU fallback note or "" (also "" when no NVIDIA driver exists at
 * all and not verbose: a CPU-only machine hears nothing of CUDA unless it
 * asked for it). On failure prints one line
 * "ovx CMD: ..." on stderr and returns the exit status: 2 for a bad name,
 * 1 for a device that cannot be used. */
int ovx_cli_device_select(const char *cmd, const char *arg, int verbose, ovx_device *dev, char *note,
                          size_t note_len);

/* --precision after the device is known: auto becomes fp32 or bf16 for this
 * CPU (ovx_precision_auto; on a CUDA device fp32, where it has no effect),
 * said as "ovx CMD: precision auto: ..." when verbose; an explicit bf16 on
 * the CPU that the calibration measures slower than fp32 gets one warning
 * line. *precision is then OVX_PRECISION_FP32 or _BF16. */
void ovx_cli_precision_resolve(const char *cmd, int *precision, const ovx_device *dev, int verbose);

/* Opens the engine of model m on dev (resolved by ovx_cli_device_select from
 * the same arg). When arg asked for auto, a CUDA device that fails now
 * (weights do not fit) or later (a kernel fault) is replaced by the CPU and
 * ovx_engine_take_note says why. */
int ovx_cli_engine_open(const char *arg, ovx_model *m, const ovx_device *dev, ovx_engine **out,
                        ovx_error *err);

#endif
