/* cmd_bench.c: `ovx bench`: forward throughput of the encoder on a device
 * for a list of clip lengths (tokens) x batch sizes, printed as a Markdown
 * table to paste into an issue: median ms per forward, clips/s, tokens/s,
 * TFLOP/s and % of the device's bf16 peak (cuda/peak.c, or --peak), and on
 * CUDA the forward's GPU-only time from events (no host work, no copies). The
 * batch runs the way `ovx extract --batch` runs it: one packed forward over
 * all clips. A random model of the published size unless -m. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/blas_env.h"
#include "cli/commands.h"
#include "cli/opt_suggest.h"
#include "cli/device_opt.h"
#include "common/threads.h"
#include "common/timer.h"
#include "cuda/device.h"
#include "cuda/ovx_cuda.h"
#include "model/flops.h"
#include "model/model.h"

#define MAX_LIST 16
#define GRID 16 /* tokens per frame: a 16 x 16 grid, like a 224 video frame */

void ovx_help_bench(FILE *out)
{
    fprintf(out,
            "usage: ovx bench [--device DEV] [--tokens N,...] [--batch B,...] [--size large|small]\n"
            "                 [-m MODEL] [--repeat R] [--warmup W] [--peak TFLOPS] [--threads N]\n"
            "\n"
            "Times the encoder forward for every (tokens per clip, batch) pair and prints a\n"
            "Markdown table: median ms per forward, clips/s, tokens/s, TFLOP/s (matrix\n"
            "products only), %% of the device's bf16 tensor-core peak and, on CUDA, the GPU\n"
            "ms per forward: the median time between two CUDA events on the compute stream\n"
            "around the forward (its kernels and the gaps between them; without host work\n"
            "and the PCIe copies that ms/forward includes). Paste it into an\n"
            "issue together with the header lines (device, driver, build). A batch is one\n"
            "packed forward over B clips, as in `ovx extract --batch B`; clips are video\n"
            "tokens (16 x 16 per frame, consecutive frames) with random patches. On CUDA a\n"
            "last line \"GEMM paths:\" names the path of each linear layer type (a cuBLASLt\n"
            "epilogue, or a GEMM and the epilogue kernel).\n"
            "\n"
            "  --device DEV     cuda (default, = cuda:0), cuda:N, cpu, or auto (CUDA device\n"
            "                   0, else the CPU, saying why)\n"
            "  --tokens LIST    tokens per clip, comma-separated (default 1024,4096; at most\n"
            "                   16384)\n"
            "  --batch LIST     clips per forward (default 1,8,32)\n"
            "  --size S         large (default): the published model's shape (24 x 1024,\n"
            "                   random weights); small: 2 layers of width 128 (a quick check)\n"
            "  -m, --model M    time this model instead (folder or Hugging Face id)\n"
            "  --repeat R       timed forwards per row, the median is shown (default 5)\n"
            "  --warmup W       untimed forwards first (default 1)\n"
            "  --peak TFLOPS    the device's bf16 peak for the %% column; default: SMs x max\n"
            "                   clock x dense bf16 FLOP/clock/SM by compute capability\n"
            "                   (8.0: 2048, 8.6/8.9/12.0: 1024, 9.0: 4096, 10.x: 8192;\n"
            "                   GeForce cards run fp32 accumulation slower: use their\n"
            "                   datasheet figure); none on the CPU\n"
            "  --threads N      CPU threads (default $OVX_THREADS or all cores)\n"
            "  --seed N         seed of the random weights and inputs (default 1)\n"
            "\n"
            "A row whose forward fails (e.g. out of device memory) says so and the table\n"
            "goes on. exit status: 0 every row ran, 1 a row failed or the device is\n"
            "unusable, 2 usage error.\n");
}

static int parse_list(const char *opt, const char *s, int max, int *v, int *n)
{
    *n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long x = strtol(p, &end, 10);
        if (end == p || x < 1 || x > max || *n == MAX_LIST || (*end && *end != ',')) {
            fprintf(stderr, "ovx bench: %s: expected up to %d comma-separated counts in 1..%d: '%s'\n",
                    opt, MAX_LIST, max, s);
            return -1;
        }
        v[(*n)++] = (int)x;
        p = *end ? end + 1 : end;
    }
    if (!*n) {
        fprintf(stderr, "ovx bench: %s: empty list\n", opt);
        return -1;
    }
    return 0;
}

static int parse_num(const char *opt, const char *s, double lo, double hi, double *v)
{
    char *end;
    *v = strtod(s, &end);
    if (!*s || *end || !(*v >= lo && *v <= hi)) {
        fprintf(stderr, "ovx bench: %s: expected a number in %g..%g: '%s'\n", opt, lo, hi, s);
        return -1;
    }
    return 0;
}

/* xorshift64* uniform in [-1, 1) */
static float urand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (float)((double)((*s * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* One row: B clips of N tokens, warmup + repeat packed forwards; *ms the
 * median end to end, *gpu_ms the median GPU time (-1 on the CPU; *events 0
 * when the device has no events: the emulation's host time of its ops). */
static int time_row(ovx_engine *e, const ovx_model_config *c, int n, int b, int warmup, int repeat,
                    uint64_t seed, double *ms, double *gpu_ms, int *events, ovx_error *err)
{
    size_t rows = (size_t)n * b, k = (size_t)c->num_channels * c->patch_size * c->patch_size;
    float *patches = malloc(rows * k * sizeof *patches);
    int32_t *pos = malloc(rows * 3 * sizeof *pos);
    int *lengths = malloc((size_t)b * sizeof *lengths);
    double *t = malloc((size_t)repeat * 2 * sizeof *t), *gt = t ? t + repeat : NULL;
    int rc = OVX_OK;
    if (!patches || !pos || !lengths || !t) {
        rc = ovx_error_set(err, OVX_ENOMEM, "out of memory for %zu tokens", rows);
        goto done;
    }
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (size_t i = 0; i < rows * k; i++)
        patches[i] = urand(&s);
    for (size_t i = 0; i < rows; i++) {
        size_t j = i % (size_t)n; /* token j of its clip: frame j / 256, cell j % 256 */
        pos[3 * i] = (int32_t)(j / (GRID * GRID));
        pos[3 * i + 1] = (int32_t)(j % (GRID * GRID) / GRID);
        pos[3 * i + 2] = (int32_t)(j % GRID);
    }
    for (int i = 0; i < b; i++)
        lengths[i] = n;
    for (int r = 0; r < warmup + repeat && !rc; r++) {
        ovx_outputs out = {.hidden_state_index = OVX_NO_HIDDEN_STATE};
        double t0 = ovx_now_ms();
        rc = ovx_engine_forward_packed(e, b, lengths, patches, pos, &out, err);
        if (r >= warmup) {
            t[r - warmup] = ovx_now_ms() - t0; /* outputs are downloaded: the device is done */
            gt[r - warmup] = ovx_engine_last_gpu_ms(e, events);
        }
        ovx_outputs_free(&out);
    }
    if (!rc) {
        *ms = median(t, repeat);
        *gpu_ms = median(gt, repeat);
    }
done:
    free(patches);
    free(pos);
    free(lengths);
    free(t);
    return rc;
}

/* The header lines: device, build, model, peak. *peak stays as given
 * (--peak) or comes from the table; 0 when unknown. */
static void print_header(const ovx_device *dev, const ovx_model_config *c, const char *model,
                         int warmup, int repeat, int threads, double *peak)
{
    char devs[16];
    ovx_device_str(dev, devs, sizeof devs);
    if (dev->kind == OVX_DEVICE_CUDA) {
        ovx_gpu_info i;
        ovx_error err;
        if (ovx_cuda_device_info(dev->index, &i, &err) == OVX_OK) {
            char drv[32] = "emulated";
            if (!i.emulated)
                snprintf(drv, sizeof drv, "CUDA %d.%d", i.driver_version / 1000,
                         i.driver_version % 1000 / 10);
            printf("device: %s %s (sm_%d%d, %d SMs, %d MHz, %.1f GiB), driver %s\n", devs, i.name,
                   i.major, i.minor, i.sms, i.clock_mhz, (double)i.total_mem / (1 << 30), drv);
            if (*peak > 0) {
                printf("bf16 peak: %.1f TFLOP/s (--peak)\n", *peak);
            } else if ((*peak = ovx_cuda_bf16_peak_tflops(&i)) > 0) {
                printf("bf16 peak: %.1f TFLOP/s = %d SMs x %d MHz x %d FLOP/clock/SM (table for "
                       "sm_%d%d; --peak to use the datasheet figure)\n", *peak, i.sms, i.clock_mhz,
                       ovx_cuda_bf16_flop_per_clk_sm(i.major, i.minor), i.major, i.minor);
            } else {
                printf("bf16 peak: unknown for sm_%d%d (pass --peak TFLOPS)\n", i.major, i.minor);
            }
        }
    } else {
        printf("device: cpu (%d threads)\n", threads);
        if (*peak > 0)
            printf("bf16 peak: %.1f TFLOP/s (--peak)\n", *peak);
        else
            printf("bf16 peak: none for the CPU (pass --peak TFLOPS for the %% column)\n");
    }
    char blas[160];
    printf("build: ovx %s, %s; OpenBLAS core %s\n", OVX_VERSION, ovx_cuda_build_str(),
           ovx_blas_core_str(blas, sizeof blas));
    printf("model: %s, %d layers, width %d, %d heads, mlp %d, head %s; median of %d forward%s "
           "after %d warm-up\n", model, c->num_layers, c->hidden_size, c->num_heads,
           c->intermediate_size, c->use_head ? "yes" : "no", repeat, repeat == 1 ? "" : "s", warmup);
}

int ovx_cmd_bench(int argc, char **argv)
{
    enum { O_DEVICE = 256, O_TOKENS, O_BATCH, O_SIZE, O_REPEAT, O_WARMUP, O_PEAK, O_THREADS, O_SEED };
    static const struct option opts[] = {
        {"device", required_argument, 0, O_DEVICE}, {"tokens", required_argument, 0, O_TOKENS},
        {"batch", required_argument, 0, O_BATCH},   {"size", required_argument, 0, O_SIZE},
        {"model", required_argument, 0, 'm'},       {"repeat", required_argument, 0, O_REPEAT},
        {"warmup", required_argument, 0, O_WARMUP}, {"peak", required_argument, 0, O_PEAK},
        {"threads", required_argument, 0, O_THREADS}, {"seed", required_argument, 0, O_SEED},
        {"help", no_argument, 0, 'h'},              {0, 0, 0, 0}};
    const char *dev_arg = "cuda", *model_arg = NULL;
    int tokens[MAX_LIST] = {1024, 4096}, batches[MAX_LIST] = {1, 8, 32}, nt = 2, nb = 3;
    int small = 0, c;
    double repeat = 5, warmup = 1, peak = 0, threads = 0, seed = 1;
    optind = 1;
    opterr = 0;
    while ((c = ovx_cli_getopt("bench", argc, argv, "m:h", opts)) != -1) {
        int bad = 0;
        switch (c) {
        case O_DEVICE: dev_arg = optarg; break;
        case O_TOKENS: bad = parse_list("--tokens", optarg, 64 * GRID * GRID, tokens, &nt); break;
        case O_BATCH: bad = parse_list("--batch", optarg, 4096, batches, &nb); break;
        case O_SIZE:
            small = !strcmp(optarg, "small");
            if (!small && strcmp(optarg, "large")) {
                fprintf(stderr, "ovx bench: --size: expected large or small: '%s'\n", optarg);
                bad = 1;
            }
            break;
        case 'm': model_arg = optarg; break;
        case O_REPEAT: bad = parse_num("--repeat", optarg, 1, 1000, &repeat); break;
        case O_WARMUP: bad = parse_num("--warmup", optarg, 0, 1000, &warmup); break;
        case O_PEAK: bad = parse_num("--peak", optarg, 1e-6, 1e6, &peak); break;
        case O_THREADS: bad = parse_num("--threads", optarg, 1, 4096, &threads); break;
        case O_SEED: bad = parse_num("--seed", optarg, 0, 1e15, &seed); break;
        case 'h': ovx_help_bench(stdout); return OVX_EXIT_OK;
        default: /* OVX_CLI_OPT_ERROR: said */
            return OVX_EXIT_USAGE;
        }
        if (bad)
            return OVX_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "ovx bench: unexpected argument '%s'\n", argv[optind]);
        return OVX_EXIT_USAGE;
    }
    if ((int)repeat != repeat || (int)warmup != warmup || (int)threads != threads) {
        fprintf(stderr, "ovx bench: --repeat, --warmup and --threads take whole numbers\n");
        return OVX_EXIT_USAGE;
    }
    ovx_device dev;
    char note[1200] = "";
    int rc = ovx_cli_device_select("bench", dev_arg, 0, &dev, note, sizeof note);
    if (rc != OVX_EXIT_OK)
        return rc;
    if (note[0])
        fprintf(stderr, "ovx bench: %s\n", note);
    ovx_error err;
    ovx_error_clear(&err);
    ovx_model *m = NULL;
    ovx_engine *eng = NULL;
    char model_desc[600];
    rc = OVX_EXIT_FAIL;
    ovx_model_params mp = ovx_model_default_params();
    mp.threads = (int)threads;
    if (model_arg) {
        if (ovx_model_load(model_arg, &mp, &m, &err))
            goto fail;
        snprintf(model_desc, sizeof model_desc, "%s", model_arg);
    } else {
        ovx_model_config cfg = ovx_model_config_default_large();
        if (small) {
            cfg.hidden_size = 128;
            cfg.num_heads = 2;
            cfg.intermediate_size = 512;
            cfg.num_layers = 2;
        }
        if (ovx_model_create_random(&cfg, (uint64_t)seed, &m, &err))
            goto fail;
        snprintf(model_desc, sizeof model_desc, "random weights (%s)", small ? "small" : "large");
    }
    if (ovx_cli_engine_open(dev_arg, m, &dev, &eng, &err))
        goto fail;
    if (ovx_engine_take_note(eng, note, sizeof note))
        fprintf(stderr, "ovx bench: %s\n", note);
    const ovx_model_config *cfg = ovx_model_get_config(m);
    print_header(ovx_engine_device(eng), cfg, model_desc, (int)warmup, (int)repeat,
                 (int)threads ? (int)threads : ovx_default_threads(), &peak);
    printf("\n| tokens/clip | batch | ms/forward | clips/s | tokens/s | TFLOP/s | %% bf16 peak | GPU ms/forward |\n"
           "|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    fflush(stdout);
    rc = OVX_EXIT_OK;
    int gpu_rows = 0, gpu_events = 0;
    for (int i = 0; i < nt; i++)
        for (int j = 0; j < nb; j++) {
            int n = tokens[i], b = batches[j];
            double ms = 0, gpu_ms = -1;
            int events = 0;
            if (time_row(eng, cfg, n, b, (int)warmup, (int)repeat, (uint64_t)seed + (uint64_t)(i * MAX_LIST + j),
                         &ms, &gpu_ms, &events, &err)) {
                printf("| %d | %d | failed: %s | | | | | |\n", n, b, err.msg);
                fflush(stdout);
                rc = OVX_EXIT_FAIL;
                if (ovx_engine_lost(eng))
                    goto fail;
                continue;
            }
            if (ovx_engine_take_note(eng, note, sizeof note))
                fprintf(stderr, "ovx bench: %s\n", note);
            double tflops = ovx_model_forward_flops(cfg, n) * b / (ms * 1e-3) / 1e12;
            char pct[32] = "-";
            if (peak > 0)
                snprintf(pct, sizeof pct, "%.3g", 100.0 * tflops / peak);
            char gpu[32] = "-";
            if (gpu_ms >= 0) {
                snprintf(gpu, sizeof gpu, "%.3f", gpu_ms);
                gpu_rows++;
                gpu_events = events;
            }
            printf("| %d | %d | %.3f | %.2f | %.0f | %.4g | %s | %s |\n", n, b, ms, b * 1e3 / ms,
                   (double)n * b * 1e3 / ms, tflops, pct, gpu);
            fflush(stdout);
        }
    if (gpu_rows)
        printf("\nGPU ms/forward: %s\n",
               gpu_events ? "CUDA events around the forward on the compute stream (kernels and gaps; "
                            "no host work, no copies)"
                          : "emulated device, no events: the host time of the forward's ops");
    char paths[1200];
    if (ovx_engine_gemm_paths(eng, paths, sizeof paths) >= 0 && paths[0])
        printf("\nGEMM paths: %s\n", paths);
    goto done;
fail:
    fprintf(stderr, "ovx bench: %s\n", err.msg);
    rc = err.code == OVX_EUSAGE ? OVX_EXIT_USAGE : OVX_EXIT_FAIL;
done:
    ovx_engine_free(eng);
    ovx_model_free(m);
    return rc;
}
