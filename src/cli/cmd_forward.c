/* cmd_forward.c: `ovx forward`: run the encoder on a pixel tensor (.npy,
 * already normalised) and write last_hidden_state, pooler_output and an
 * optional hidden state as float32 .npy files. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/opt_suggest.h"
#include "cli/device_opt.h"
#include "common/timer.h"
#include "cuda/device.h"
#include "cuda/ovx_cuda.h"
#include "io/atomic_file.h"
#include "io/npy.h"
#include "model/model.h"
#include "model/tokens.h"

void ovx_help_forward(FILE *out)
{
    fprintf(out,
            "usage: ovx forward -m MODEL --pixel-values X.npy [--visible-indices I.npy]\n"
            "                   [--hidden-state L] [--threads N] [--device DEV] [--precision P]\n"
            "                   [--attention fused|chunked|wmma] [--profile] [-v] -o DIR\n"
            "\n"
            "Runs the OneVision Encoder on an already normalised pixel tensor and writes\n"
            "DIR/last_hidden_state.npy [B,N,D], DIR/pooler_output.npy [B,D] (models with a\n"
            "head) and DIR/hidden_state_L.npy [B,N,D], all float32.\n"
            "\n"
            "  -m, --model MODEL        model folder or Hugging Face id (default $OVX_MODEL)\n"
            "      --pixel-values X     float32 .npy [B,3,H,W] (image) or [B,3,T,H,W] (video);\n"
            "                           H, W not multiples of 14 are cropped down (with a warning)\n"
            "      --visible-indices I  int64 .npy [B,N]: N == T*Hp*Wp gives positions only,\n"
            "                           shorter gathers those tokens\n"
            "      --hidden-state L     also write hidden state L (HF index; -2 = block 23 of 24)\n"
            "      --threads N          CPU threads (default $OVX_THREADS or all cores)\n"
            OVX_DEVICE_OPT_HELP
            OVX_ATTENTION_OPT_HELP
            "      --precision P        auto (default: bf16 where this CPU runs it faster:\n"
            "                           AMX, or a short calibration kept per machine in\n"
            "                           ~/.cache/ovx (OVX_CACHE_DIR), so every run decides\n"
            "                           the same; -v says which and why), fp32 (exact) or\n"
            "                           bf16 (CPU matmuls with bf16 inputs and fp32\n"
            "                           accumulation: oneDNN, AVX512_BF16/AMX; block weights\n"
            "                           kept in bf16 only, half the memory; a warning where\n"
            "                           it is slower than fp32)\n"
            "      --profile            print milliseconds and GFLOP/s per op kind of the CPU\n"
            "                           forward to stderr (outputs unchanged)\n"
            "  -o, --output DIR         output folder (created if missing)\n"
            "  -v, --verbose            say why auto did not use CUDA even when no NVIDIA\n"
            "                           driver exists, and what --precision auto chose\n"
            "  -h, --help               this help\n");
}

/* Writes DIR/NAME as float32 npy. */
static int write_out(const char *dir, const char *name, int ndim, const int64_t *shape, const float *data,
                     ovx_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (ovx_mkdirs_for(path, err))
        return -1;
    return ovx_npy_write(path, OVX_DTYPE_F32, ndim, shape, data, err);
}

/* Loads the index file as int64 [B,N]. */
static int load_indices(const char *path, int batch, ovx_npy *a, ovx_error *err)
{
    if (ovx_npy_read(path, a, err))
        return -1;
    if (a->ndim != 2 || a->shape[0] != batch || a->shape[1] <= 0 || a->shape[1] > (1 << 24))
        return ovx_error_set(err, OVX_EUSAGE, "%s: visible indices must be [B=%d, N] with N >= 1", path, batch);
    if (a->dtype == OVX_DTYPE_I32) {
        int64_t *d = malloc((size_t)a->count * sizeof *d);
        if (!d)
            return ovx_error_set(err, OVX_ENOMEM, "%s: out of memory", path);
        for (int64_t i = 0; i < a->count; i++)
            d[i] = ((int32_t *)a->data)[i];
        free(a->data);
        a->data = d;
        a->dtype = OVX_DTYPE_I64;
    }
    if (a->dtype != OVX_DTYPE_I64)
        return ovx_error_set(err, OVX_EUSAGE, "%s: visible indices must be int64 (or int32)", path);
    return 0;
}

int ovx_cmd_forward(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},       {"pixel-values", required_argument, 0, 'p'},
        {"visible-indices", required_argument, 0, 'i'}, {"hidden-state", required_argument, 0, 'L'},
        {"threads", required_argument, 0, 't'},     {"output", required_argument, 0, 'o'},
        {"device", required_argument, 0, 'd'},      {"profile", no_argument, 0, 'P'},
        {"precision", required_argument, 0, 'r'},   {"attention", required_argument, 0, 'A'},
        {"help", no_argument, 0, 'h'},              {"verbose", no_argument, 0, 'v'},
        {0, 0, 0, 0}};
    const char *model = NULL, *px_path = NULL, *idx_path = NULL, *outdir = NULL, *hs_arg = NULL;
    const char *dev_arg = "auto";
    int threads = 0, hs = OVX_NO_HIDDEN_STATE, profile = 0, precision = OVX_PRECISION_AUTO, c;
    int attention = OVX_CUDA_ATTENTION_FUSED, verbose = 0;
    optind = 1;
    opterr = 0;
    while ((c = ovx_cli_getopt("forward", argc, argv, "m:o:hv", opts)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'm': model = optarg; break;
        case 'p': px_path = optarg; break;
        case 'i': idx_path = optarg; break;
        case 'o': outdir = optarg; break;
        case 'L':
            hs_arg = optarg;
            hs = (int)strtol(optarg, &end, 10);
            if (!*optarg || *end || hs < -1000 || hs > 1000) {
                fprintf(stderr, "ovx forward: --hidden-state: not a layer index: '%s'\n", optarg);
                return OVX_EXIT_USAGE;
            }
            break;
        case 't':
            threads = (int)strtol(optarg, &end, 10);
            if (!*optarg || *end || threads < 1 || threads > 4096) {
                fprintf(stderr, "ovx forward: --threads: not a positive count: '%s'\n", optarg);
                return OVX_EXIT_USAGE;
            }
            break;
        case 'd': dev_arg = optarg; break;
        case 'A':
            if (ovx_cli_attention_parse("forward", optarg, &attention))
                return OVX_EXIT_USAGE;
            break;
        case 'P': profile = 1; break;
        case 'v': verbose = 1; break;
        case 'r':
            if (ovx_precision_parse(optarg, &precision)) {
                fprintf(stderr, "ovx forward: --precision: expected fp32, bf16 or auto, not '%s'\n", optarg);
                return OVX_EXIT_USAGE;
            }
            break;
        case 'h': ovx_help_forward(stdout); return OVX_EXIT_OK;
        default: /* OVX_CLI_OPT_ERROR: said */
            return OVX_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ovx forward: unexpected argument '%s'\n", argv[optind]);
        return OVX_EXIT_USAGE;
    }
    if (!px_path || !outdir) {
        fprintf(stderr, "ovx forward: --pixel-values and -o are required (see 'ovx help forward')\n");
        return OVX_EXIT_USAGE;
    }
    ovx_device dev;
    char note[1200] = "";
    int drc = ovx_cli_device_select("forward", dev_arg, verbose, &dev, note, sizeof note);
    if (drc != OVX_EXIT_OK)
        return drc;
    dev.attention = attention;
    ovx_cli_precision_resolve("forward", &precision, &dev, verbose);
    ovx_error err;
    ovx_error_clear(&err);
    ovx_npy px = {0}, idx = {0};
    ovx_model *m = NULL;
    ovx_engine *eng = NULL;
    ovx_token_buffer tok = {0};
    ovx_outputs out = {0};
    int rc = OVX_EXIT_FAIL;
    if (ovx_npy_read(px_path, &px, &err) || ovx_npy_to_f32(&px, &err))
        goto fail;
    if ((px.ndim != 4 && px.ndim != 5) || px.shape[0] <= 0 || px.shape[0] > 65536 || px.shape[1] > 64) {
        ovx_error_set(&err, OVX_EUSAGE, "%s: pixel values must be [B,3,H,W] or [B,3,T,H,W]", px_path);
        goto fail;
    }
    for (int d = 0; d < px.ndim; d++)
        if (px.shape[d] <= 0 || px.shape[d] > 1000000) {
            ovx_error_set(&err, OVX_EUSAGE, "%s: bad dimension %d (%lld)", px_path, d, (long long)px.shape[d]);
            goto fail;
        }
    int B = (int)px.shape[0];
    if (idx_path && load_indices(idx_path, B, &idx, &err))
        goto fail;
    ovx_model_params mp = ovx_model_default_params();
    mp.threads = threads;
    /* on the CPU, bf16 weights are packed while loading: no f32 copy kept */
    mp.precision = dev.kind == OVX_DEVICE_CPU ? precision : OVX_PRECISION_FP32;
    if (ovx_model_load(model, &mp, &m, &err))
        goto fail;
    char warn[1400];
    if (ovx_model_weights_warning(m, warn, sizeof warn))
        fprintf(stderr, "ovx forward: warning: %s\n", warn);
    if (precision != OVX_PRECISION_FP32 && ovx_model_set_precision(m, precision, &err))
        goto fail;
    if (ovx_cli_engine_open(dev_arg, m, &dev, &eng, &err))
        goto fail;
    ovx_pixel_input in = {
        .pixels = px.data, .batch = B, .channels = (int)px.shape[1],
        .frames = px.ndim == 5 ? (int)px.shape[2] : 1,
        .height = (int)px.shape[px.ndim - 2], .width = (int)px.shape[px.ndim - 1],
        .visible_indices = idx_path ? idx.data : NULL, .n_visible = idx_path ? (int)idx.shape[1] : 0};
    if (ovx_model_tokens_from_pixels(ovx_model_get_config(m), &in, &tok, &err)) {
        ovx_error_prefix(&err, "%s", idx_path && strstr(err.msg, "visible") ? idx_path : px_path);
        goto fail;
    }
    if (tok.cropped)
        fprintf(stderr, "ovx forward: %s: warning: %dx%d is not a multiple of %d, cropped to %dx%d\n", px_path,
                in.height, in.width, ovx_model_get_config(m)->patch_size, tok.used_height, tok.used_width);
    out.hidden_state_index = hs;
    double t0 = ovx_now_ms();
    if (ovx_engine_forward(eng, &tok.tokens, &out, &err))
        goto fail;
    double t1 = ovx_now_ms();
    if (!note[0]) /* auto: the CUDA device failed after it was chosen */
        ovx_engine_take_note(eng, note, sizeof note);
    int64_t D = ovx_model_get_config(m)->hidden_size;
    if (ovx_outputs_check_finite(&out, B, (int64_t)B * tok.tokens.n, (int)D, "model forward", &err))
        goto fail;
    int64_t s3[3] = {B, tok.tokens.n, D}, s2[2] = {B, D};
    if (write_out(outdir, "last_hidden_state.npy", 3, s3, out.last_hidden_state, &err))
        goto fail;
    if (out.pooler_output && write_out(outdir, "pooler_output.npy", 2, s2, out.pooler_output, &err))
        goto fail;
    if (out.hidden_state) {
        char name[64];
        snprintf(name, sizeof name, "hidden_state_%s.npy", hs_arg);
        if (write_out(outdir, name, 3, s3, out.hidden_state, &err))
            goto fail;
    }
    if (note[0]) /* after success, so an error stays the only stderr line */
        fprintf(stderr, "ovx forward: %s\n", note);
    fprintf(stderr, "ovx forward: %d x %d tokens in %.1f ms\n", B, tok.tokens.n, t1 - t0);
    if (profile) {
        ovx_profile prof;
        ovx_model_get_profile(m, &prof);
        if (ovx_engine_device(eng)->kind == OVX_DEVICE_CPU)
            ovx_profile_print(stderr, "ovx forward: profile: ", &prof);
        else
            fprintf(stderr, "ovx forward: profile: only the CPU forward is profiled (the CUDA per-op "
                            "times: ovx selftest --device cuda)\n");
    }
    rc = OVX_EXIT_OK;
    goto done;
fail:
    fprintf(stderr, "ovx forward: %s\n", err.msg);
    rc = err.code == OVX_EUSAGE ? OVX_EXIT_USAGE : OVX_EXIT_FAIL;
done:
    ovx_outputs_free(&out);
    ovx_token_buffer_free(&tok);
    ovx_engine_free(eng);
    ovx_model_free(m);
    ovx_npy_free(&px);
    ovx_npy_free(&idx);
    return rc;
}
