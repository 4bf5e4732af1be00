/* cmd_selftest.c: `ovx selftest [--device cuda|cuda:N|cpu] [--large]`:
 * checks the CUDA backend against the CPU forward on a random model (bf16
 * weights, like the checkpoint) for an image and a batch of two sparse
 * videos, printing the relative L2 error of every output and per-op times.
 * --device cpu runs the CUDA forward on the host: the kernels of kernels.cu
 * on the CUDA-on-host shim, GEMMs emulated (checks the kernels and the
 * orchestration where no GPU exists). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/opt_suggest.h"
#include "cli/device_opt.h"
#include "common/timer.h"
#include "cuda/device.h"
#include "cuda/numerics.h"
#include "cuda/ops.h"
#include "model/flops.h"
#include "model/model_internal.h"

#define TOLERANCE 1e-2

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

static double rel_l2(const float *got, const float *ref, size_t n)
{
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    if (!isfinite(num))
        return INFINITY;
    return den > 0.0 ? sqrt(num / den) : sqrt(num);
}

/* xorshift64* uniform in [-1, 1) */
static float urand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    uint64_t r = *s * 0x2545F4914F6CDD1DULL;
    return (float)((double)(r >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* One input: B samples of N tokens; frame slots per sample spread over the
 * 64 temporal slots (frames == 1: an image at t = 0). Video samples keep a
 * deterministic sparse subset of each frame's grid (like codec selection). */
typedef struct tcase {
    const char *name;
    int batch, frames, grid, keep;  /* keep: tokens per frame (<= grid*grid) */
    int chunk;  /* chunked attention with this query chunk (0: --attention, 128 MiB scratch) */
} tcase;

static int make_tokens(const ovx_model_config *c, const tcase *tc, uint64_t seed, ovx_tokens *t,
                       float **patches, int32_t **pos)
{
    int n = tc->frames * tc->keep, k = c->num_channels * c->patch_size * c->patch_size;
    size_t rows = (size_t)tc->batch * n;
    *patches = malloc(rows * k * sizeof(float));
    *pos = malloc(rows * 3 * sizeof(int32_t));
    if (!*patches || !*pos)
        return -1;
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (size_t i = 0; i < rows * k; i++)
        (*patches)[i] = 2.0f * urand(&s);
    for (int b = 0; b < tc->batch; b++)
        for (int f = 0; f < tc->frames; f++) {
            int slot = tc->frames > 1 ? f * (c->rope_temporal_size - 1) / (tc->frames - 1) : 0;
            int cells = tc->grid * tc->grid, stride = cells / tc->keep;
            for (int j = 0; j < tc->keep; j++) {
                int cell = (j * stride + b + f) % cells;
                int32_t *p = *pos + 3 * ((size_t)b * n + (size_t)f * tc->keep + j);
                p[0] = slot;
                p[1] = cell / tc->grid;
                p[2] = cell % tc->grid;
            }
        }
    t->batch = tc->batch;
    t->n = n;
    t->patches = *patches;
    t->pos = *pos;
    return 0;
}

/* The same batch through the overlapped path: submitted twice (both slots
 * in flight; slot 0's shape, seen once, is captured as a CUDA graph), then
 * once more (a graph replay); every result byte-identical to `want` (on a
 * GPU: the copy streams, events and graphs ordered right). 1 when
 * identical, 0 when not, -1 on an error. */
static int overlap_check(ovx_cuda_model *cm, const ovx_tokens *t, const ovx_outputs *want, size_t nd,
                         int d, ovx_error *err)
{
    int lengths[64], slot[2] = {-1, -1}, same = 1;
    if (t->batch > 64)
        return 1;
    for (int i = 0; i < t->batch; i++)
        lengths[i] = t->n;
    ovx_cuda_graph_stats g0 = ovx_cuda_model_graph_stats(cm);
    for (int k = 0; k < 2 && same; k++) {
        int pair = k == 0; /* first round: two in flight */
        for (int j = 0; j <= pair; j++)
            if (ovx_cuda_submit_packed(cm, t->batch, lengths, t->patches, t->pos, -2, &slot[j], err)) {
                ovx_outputs o = {0};
                ovx_error e2;
                if (j) /* the first one is in flight */
                    ovx_cuda_collect(cm, slot[0], &o, &e2);
                ovx_outputs_free(&o);
                return -1;
            }
        for (int j = 0; j <= pair; j++) {
            ovx_outputs o = {.hidden_state_index = -2};
            if (ovx_cuda_collect(cm, slot[j], &o, err)) {
                if (pair && !j) { /* the other one is still in flight */
                    ovx_outputs_free(&o);
                    ovx_error e2;
                    ovx_cuda_collect(cm, slot[1], &o, &e2);
                }
                ovx_outputs_free(&o);
                return -1;
            }
            same = same && !memcmp(o.last_hidden_state, want->last_hidden_state, nd * sizeof(float)) &&
                   !memcmp(o.hidden_state, want->hidden_state, nd * sizeof(float)) &&
                   (!want->pooler_output ||
                    !memcmp(o.pooler_output, want->pooler_output, (size_t)t->batch * d * sizeof(float)));
            ovx_outputs_free(&o);
        }
    }
    ovx_cuda_graph_stats g1 = ovx_cuda_model_graph_stats(cm);
    printf("  overlapped (2 in flight) and CUDA graph replays (%ld captured, %ld replayed) byte-identical: %s\n",
           g1.captures - g0.captures, g1.replays - g0.replays, same ? "yes" : "NO");
    return same;
}

static int run_case(ovx_model *m, ovx_cuda_model *cm, const tcase *tc, uint64_t seed, int *ok)
{
    const ovx_model_config *c = &m->cfg;
    ovx_tokens t;
    float *patches = NULL;
    int32_t *pos = NULL;
    ovx_outputs ref = {0}, got = {0};
    ovx_error err;
    ovx_error_clear(&err);
    int rc = OVX_EXIT_FAIL, mode = cm->attention;
    if (make_tokens(c, tc, seed, &t, &patches, &pos)) {
        fprintf(stderr, "ovx selftest: out of memory\n");
        goto done;
    }
    ref.hidden_state_index = got.hidden_state_index = -2;
    ovx_cuda_model_set_scratch(cm, tc->chunk ? (size_t)c->num_heads * t.n * 6 * tc->chunk
                                             : (size_t)128 << 20);
    if (tc->chunk) /* the reference path, always checked */
        ovx_cuda_model_set_attention(cm, OVX_CUDA_ATTENTION_CHUNKED);
    double t0 = ovx_now_ms();
    if (ovx_model_forward(m, &t, &ref, &err))
        goto fail;
    double t1 = ovx_now_ms();
    if (ovx_cuda_forward(cm, &t, &got, &err))
        goto fail;
    double t2 = ovx_now_ms();
    size_t nd = (size_t)t.batch * t.n * c->hidden_size;
    if (ovx_cuda_model_attention(cm) != OVX_CUDA_ATTENTION_CHUNKED)
        printf("%s: %d x %d tokens, attention %s, CPU %.1f ms, CUDA %.1f ms (profiled)\n",
               tc->name, t.batch, t.n,
               ovx_cuda_model_attention(cm) == OVX_CUDA_ATTENTION_FUSED ? "fused (mma)" : "wmma",
               t1 - t0, t2 - t1);
    else
        printf("%s: %d x %d tokens, attention chunked (chunk %d), CPU %.1f ms, CUDA %.1f ms (profiled)\n",
               tc->name, t.batch, t.n, ovx_cuda_attention_chunk(cm, t.n, t.n), t1 - t0, t2 - t1);
    struct { const char *name; const float *a, *b; size_t n; } outs[] = {
        {"last_hidden_state", got.last_hidden_state, ref.last_hidden_state, nd},
        {"hidden_state[-2]", got.hidden_state, ref.hidden_state, nd},
        {"pooler_output", got.pooler_output, ref.pooler_output, (size_t)t.batch * c->hidden_size},
    };
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
        if (!outs[i].b)
            continue;
        double e = rel_l2(outs[i].a, outs[i].b, outs[i].n);
        int pass = e <= TOLERANCE;
        printf("  %-18s rel L2 %.3e  %s\n", outs[i].name, e, pass ? "ok" : "FAIL");
        if (!pass)
            *ok = 0;
    }
    const double *ms = ovx_cuda_model_timings(cm);
    printf("  CUDA per-op ms:");
    for (int op = 0; op < OVX_CUDA_OP_COUNT; op++)
        printf(" %s %.2f", ovx_cuda_op_name(op), ms[op]);
    printf("\n");
    /* again without profiling: the forward's real time, and determinism */
    ovx_outputs again = {.hidden_state_index = -2};
    ovx_cuda_model_set_profiling(cm, 0);
    double t3 = ovx_now_ms();
    int arc = ovx_cuda_forward(cm, &t, &again, &err);
    double t4 = ovx_now_ms();
    ovx_cuda_model_set_profiling(cm, 1);
    if (arc) {
        ovx_outputs_free(&again);
        goto fail;
    }
    int same = !memcmp(again.last_hidden_state, got.last_hidden_state, nd * sizeof(float)) &&
               !memcmp(again.hidden_state, got.hidden_state, nd * sizeof(float)) &&
               (!got.pooler_output || !memcmp(again.pooler_output, got.pooler_output,
                                              (size_t)t.batch * c->hidden_size * sizeof(float)));
    ovx_outputs_free(&again);
    double flop = t.batch * ovx_model_forward_flops(c, t.n);
    int events = 0;
    double gpu_ms = ovx_cuda_model_last_gpu_ms(cm, &events);
    printf("  CUDA forward %.2f ms (%.3g TFLOP/s; GPU-only %.2f ms, %s), repeat byte-identical: %s\n",
           t4 - t3, flop / ((t4 - t3) * 1e-3) / 1e12, gpu_ms,
           events ? "CUDA events" : "host time of the ops, no events", same ? "yes" : "NO");
    int ov = 1;
    if (!tc->chunk) { /* the first case */
        ovx_cuda_model_set_profiling(cm, 0);
        ov = overlap_check(cm, &t, &got, nd, c->hidden_size, &err);
        ovx_cuda_model_set_profiling(cm, 1);
    }
    if (ov < 0)
        goto fail;
    if (!same || !ov)
        *ok = 0;
    rc = OVX_EXIT_OK;
    goto done;
fail:
    if (err.code == OVX_EDEVICE && ovx_gpu_get_info(cm->g)) { /* a CUDA device: name it */
        char d[400];
        ovx_error_prefix(&err, "%s", ovx_gpu_describe(cm->g, d, sizeof d));
    }
    fprintf(stderr, "ovx selftest: %s: %s\n", tc->name, err.msg);
done:
    ovx_cuda_model_set_attention(cm, mode);
    ovx_outputs_free(&ref);
    ovx_outputs_free(&got);
    free(patches);
    free(pos);
    return rc;
}

static void scale(float *w, size_t n, double target_std)
{
    float f = (float)(target_std / 0.02); /* random.c draws N(0, 0.02^2) */
    for (size_t i = 0; i < n; i++)
        w[i] *= f;
}

/* A packed batch of ragged samples (partial query and key tiles, a
 * 1-token sample): the CUDA forward with the fused attention and with the
 * chunked one, each against the CPU's packed forward. 0, or -1 on an error
 * (said on stderr); *ok = 0 when an error is above the tolerance. */
static int run_packed(ovx_model *m, ovx_cuda_model *cm, const int *lengths, int samples,
                      uint64_t seed, int *ok)
{
    const ovx_model_config *c = &m->cfg;
    const int k = c->num_channels * c->patch_size * c->patch_size, d = c->hidden_size;
    int rows = 0;
    for (int s = 0; s < samples; s++)
        rows += lengths[s];
    float *patches = malloc((size_t)rows * k * sizeof *patches);
    int32_t *pos = malloc((size_t)rows * 3 * sizeof *pos);
    ovx_outputs ref = {.hidden_state_index = -2};
    ovx_error err;
    ovx_error_clear(&err);
    int rc = -1, mode = cm->attention;
    if (!patches || !pos) {
        ovx_error_set(&err, OVX_ENOMEM, "out of memory");
        goto done;
    }
    uint64_t st = seed * 0x9E3779B97F4A7C15ULL + 7;
    for (size_t i = 0; i < (size_t)rows * k; i++)
        patches[i] = 2.0f * urand(&st);
    for (int s = 0, r = 0; s < samples; r += lengths[s++])
        for (int j = 0; j < lengths[s]; j++) { /* frames of 16 x 16 over the 64 temporal slots */
            int32_t *p = pos + 3 * (size_t)(r + j);
            p[0] = j / 256 % c->rope_temporal_size;
            p[1] = j / 16 % 16;
            p[2] = j % 16;
        }
    char desc[200];
    int at = snprintf(desc, sizeof desc, "packed [");
    for (int s = 0; s < samples && at < (int)sizeof desc; s++)
        at += snprintf(desc + at, sizeof desc - (size_t)at, "%s%d", s ? ", " : "", lengths[s]);
    double t0 = ovx_now_ms();
    if (ovx_model_forward_packed(m, samples, lengths, patches, pos, &ref, &err))
        goto done;
    printf("%s]: %d tokens, CPU %.1f ms\n", desc, rows, ovx_now_ms() - t0);
    static const int modes[2] = {OVX_CUDA_ATTENTION_FUSED, OVX_CUDA_ATTENTION_CHUNKED};
    for (int i = 0; i < 2; i++) {
        ovx_cuda_model_set_attention(cm, modes[i]);
        ovx_outputs got = {.hidden_state_index = -2};
        double t1 = ovx_now_ms();
        if (ovx_cuda_forward_packed(cm, samples, lengths, patches, pos, &got, &err))
            goto done;
        const size_t nd = (size_t)rows * d;
        double e[3] = {rel_l2(got.last_hidden_state, ref.last_hidden_state, nd),
                       got.hidden_state && ref.hidden_state ? rel_l2(got.hidden_state, ref.hidden_state, nd) : 0,
                       got.pooler_output && ref.pooler_output
                           ? rel_l2(got.pooler_output, ref.pooler_output, (size_t)samples * d)
                           : 0};
        const int pass = e[0] <= TOLERANCE && e[1] <= TOLERANCE && e[2] <= TOLERANCE;
        printf("  attention %-7s last_hidden_state %.3e, hidden_state[-2] %.3e, pooler_output %.3e  %s"
               " (CUDA %.1f ms)\n", ovx_cuda_model_attention(cm) == OVX_CUDA_ATTENTION_FUSED ? "fused"
               : ovx_cuda_model_attention(cm) == OVX_CUDA_ATTENTION_WMMA ? "wmma" : "chunked",
               e[0], e[1], e[2], pass ? "ok" : "FAIL", ovx_now_ms() - t1);
        if (!pass)
            *ok = 0;
        ovx_outputs_free(&got);
    }
    rc = 0;
done:
    if (rc)
        fprintf(stderr, "ovx selftest: packed batch: %s\n", err.msg);
    ovx_cuda_model_set_attention(cm, mode);
    ovx_outputs_free(&ref);
    free(patches);
    free(pos);
    return rc;
}

/* Rescales the random linear weights to std 1/sqrt(fan_in), so attention
 * is far from uniform and every block changes the residual stream by O(1):
 * a wrong RoPE, scale or transpose then shows up as an O(1) error instead
 * of hiding under the residual path. */
static void sharpen(ovx_model *m)
{
    const ovx_model_config *c = &m->cfg;
    size_t d = (size_t)c->hidden_size, f = (size_t)c->intermediate_size;
    double sd = 1.0 / sqrt((double)d), sf = 1.0 / sqrt((double)f);
    for (int i = 0; i < c->num_layers; i++) {
        ovx_layer_weights *l = &m->w.layers[i];
        scale(l->q_proj_weight, d * d, 1.4 * sd); /* sharper attention */
        scale(l->k_proj_weight, d * d, 1.4 * sd);
        scale(l->v_proj_weight, d * d, sd);
        scale(l->out_proj_weight, d * d, sd);
        scale(l->fc1_weight, f * d, sd);
        scale(l->fc2_weight, d * f, sf);
    }
    if (!c->use_head)
        return;
    scale(m->w.head.in_proj_weight, 3 * d * d, 1.4 * sd);
    scale(m->w.head.out_proj_weight, d * d, sd);
    scale(m->w.head.fc1_weight, f * d, sd);
    scale(m->w.head.fc2_weight, d * f, sf);
}

int ovx_cmd_selftest(int argc, char **argv)
{
    const char *dev_s = "cuda";
    int large = 0, strict = 0, attention = OVX_CUDA_ATTENTION_FUSED;
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
    char note[1200], name[400] = "host emulation of the CUDA device";
    int urc = ovx_device_resolve(&want, &dev, note, sizeof note, &err);
    if (urc) {
        fprintf(stderr, "ovx selftest: %s\n", err.msg);
        return urc == OVX_EUSAGE ? OVX_EXIT_USAGE : OVX_EXIT_FAIL;
    }
    ovx_gpu *g = NULL;
    ovx_model *m = NULL;
    ovx_cuda_model *cm = NULL;
    int rc = dev.kind == OVX_DEVICE_CUDA ? ovx_gpu_open_cuda(dev.index, &g, &err)
                                         : ovx_gpu_open_host(&g, &err);
    if (rc) {
        fprintf(stderr, "ovx selftest: %s\n", err.msg);
        return OVX_EXIT_FAIL;
    }
    ovx_model_config cfg = ovx_model_config_default_large();
    if (!large) {
        cfg.hidden_size = 128;
        cfg.num_heads = 2;
        cfg.intermediate_size = 512;
        cfg.num_layers = 2;
    }
    int exit_rc = OVX_EXIT_FAIL;
    if (ovx_model_create_random(&cfg, seed, &m, &err))
        goto fail;
    sharpen(m);
    /* the checkpoint is bf16: make the random weights bf16 values too */
    for (int64_t i = 0; i < m->n_params; i++)
        m->storage[i] = ovx_nx_from_bf16(ovx_nx_to_bf16(m->storage[i]));
    if (ovx_cuda_model_upload(g, &m->cfg, &m->w, &cm, &err)) {
        if (dev.kind == OVX_DEVICE_CUDA)
            ovx_error_prefix(&err, "%s: uploading the weights", ovx_gpu_describe(g, name, sizeof name));
        goto fail;
    }
    ovx_cuda_model_set_profiling(cm, 1);
    ovx_cuda_model_set_attention(cm, attention);
    if (dev.kind == OVX_DEVICE_CUDA)
        ovx_gpu_describe(g, name, sizeof name);
    else
        snprintf(name, sizeof name, "host emulation of the CUDA device (%s)", g->ops->name);
    printf("ovx selftest: device %s: %s\n", dev.kind == OVX_DEVICE_CUDA ? dev_s : "cpu", name);
    printf("build: ovx %s, %s\n", OVX_VERSION, ovx_cuda_build_str());
    printf("model: random (seed %llu), %d layers, width %d, %d heads, mlp %d, head %s\n",
           (unsigned long long)seed, cfg.num_layers, cfg.hidden_size, cfg.num_heads,
           cfg.intermediate_size, cfg.use_head ? "yes" : "no");
    tcase small[] = {{"image 224", 1, 1, 16, 256, 0}, {"2 sparse videos", 2, 4, 8, 24, 40}};
    tcase big[] = {{"image 448", 1, 1, 32, 1024, 0}, {"video 16 frames", 1, 16, 16, 256, 0},
                   {"8 images 224 (pooling head at batch 8)", 8, 1, 16, 256, 0}};
    tcase *cases = large ? big : small;
    int ok = 1;
    for (int i = 0; i < (large ? 3 : 2); i++)
        if (run_case(m, cm, &cases[i], seed + (uint64_t)i, &ok))
            goto done;
    /* ragged samples packed into one batch: partial query and key tiles */
    static const int ragged_big[5] = {37, 1, 70, 4096, 1000}, ragged_small[4] = {37, 1, 70, 130};
    if (run_packed(m, cm, large ? ragged_big : ragged_small, large ? 5 : 4, seed + 3, &ok))
        goto done;
    printf("%s\n", ovx_gpu_linear_str(g));
    char paths[1200];
    int fallbacks = ovx_cuda_model_gemm_paths(cm, paths, sizeof paths);
    printf("GEMM paths: %s\n", paths);
    if (strict && fallbacks) {
        printf("--strict: %d layer type%s took the fallback (GEMM to fp32 + epilogue kernel)\n",
               fallbacks, fallbacks == 1 ? "" : "s");
        ok = 0;
    }
    printf("selftest %s (tolerance: relative L2 <= %.0e)\n", ok ? "passed" : "FAILED", TOLERANCE);
    exit_rc = ok ? OVX_EXIT_OK : OVX_EXIT_FAIL;
    goto done;
fail:
    fprintf(stderr, "ovx selftest: %s\n", err.msg);
done:
    ovx_cuda_model_free(cm);
    ovx_model_free(m);
    ovx_gpu_close(g);
    return exit_rc;
}
