/* cmd_select.c: `ovx select VIDEO`: option parsing, output files, errors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/log.h>

#include "cli/commands.h"
#include "cli/opt_suggest.h"
#include "common/threads.h"
#include "io/atomic_file.h"
#include "io/npy.h"
#include "select/select.h"
#include "select/viz.h"

void ovx_help_select(FILE *out)
{
    ovx_select_params d = ovx_select_default_params();
    fprintf(out,
            "usage: ovx select [OPTIONS] VIDEO\n"
            "\n"
            "Decodes VIDEO (any file libavformat reads, or - for stdin), samples up to 64\n"
            "frames, scores every 14x14 patch of each frame's 224x224 centre crop from the\n"
            "codec's motion vectors (camera motion removed) and the motion-compensated luma\n"
            "prediction error, and prints the global top-K patches as JSON.\n"
            "\n"
            "options:\n"
            "  -o FILE               write the JSON to FILE instead of stdout\n"
            "  --tokens K            patches to keep, 1..16384 (default %d; 2048 is common)\n"
            "  --frames F            sampled frames, 1..64 (default %d): linspace over the\n"
            "                        decoded frames, truncated; they take slots\n"
            "                        linspace(0,63,F); shorter videos repeat frames\n"
            "  --sampling MODE       codec: saliency top-K (default); uniform: F frames kept\n"
            "                        whole at slots linspace(0,63,F) (use with --frames 16)\n"
            "  --mv-source SRC       auto (default: codec vectors for H.264/MPEG-1/2/4/H.263,\n"
            "                        block matching otherwise), codec, estimate\n"
            "  --iframe-policy P     first: first sampled frame kept whole (default);\n"
            "                        dense: every sampled I-frame whole; zero: I-frames score 0;\n"
            "                        compete: no special treatment\n"
            "  --normalise MODE      noise (default): scores that mean the same in every frame:\n"
            "                        residual above 2x the frame's median (its noise level),\n"
            "                        motion in px/frame above 0.25 px (vectors that predict no\n"
            "                        better than the camera's motion count as still), each\n"
            "                        v/(v+scale), fused 4:1 motion:residual, no centre prior;\n"
            "                        frame: the recipe (each map / its 95th percentile per\n"
            "                        frame, fused 1:1, centre prior 0.3)\n"
            "  --no-light            no per-frame gain/offset fit of the prediction (the fit\n"
            "                        removes exposure drift, fades and flicker)\n"
            "  --row-step N          auto (default), 1, 2 or 4: the residual reads every N-th\n"
            "                        row of the crop's source, the block comparisons (reference\n"
            "                        choice, vector evidence, refinement) of 16-row blocks\n"
            "                        every 2N-th; auto: 1 when the short side is under\n"
            "                        896 px (4 source px per crop px), else 4 (1080p: 4.8\n"
            "                        source rows per crop row)\n"
            "  --noise-k K           noise: residual counts above K x noise level (default 2)\n"
            "  --texture-k K         noise: a vector is no motion where its block varies less\n"
            "                        than K x the noise of its own prediction (flat areas in\n"
            "                        sensor noise: chance matches); default 0: off (1.5 cuts\n"
            "                        noise tokens; the flow judge counts flat sky as moving)\n"
            "  --residual-scale G    noise: grey levels above the floor scoring 1/2 (default 6)\n"
            "  --motion-scale P      noise: px per frame above the floor scoring 1/2 (default 1)\n"
            "  --motion-floor P      motion floor in px per frame (default 0.25 with noise,\n"
            "                        0.5 with frame)\n"
            "  --residual-weight W   share of the residual in the score, 0..1 (default 0.2\n"
            "                        with noise, 0.5 with frame)\n"
            "  --no-inconsistency    motion = compensated magnitude only (default: frame: its\n"
            "                        3x3 local variance; noise: mean of magnitude and local deviation)\n"
            "  --inconsistency       the default, stated\n"
            "  --prior-weight W      centre prior weight (default 0 with noise, 0.30 with frame)\n"
            "  --fps R               sample at R frames per second by timestamp (at most 64,\n"
            "                        spread by linspace when more)\n"
            "  --start S             start at S seconds (default 0)\n"
            "  --duration D          use D seconds from --start (default: to the end)\n"
            "  --threads N           decoder threads and saliency workers (default:\n"
            "                        OVX_THREADS or all cores); results do not depend on N\n"
            "                        (frame threads only without B-frames, H.264 B-frame\n"
            "                        streams split at IDRs, else slice threads)\n"
            "  --decode MODE         plan (default): for H.264 with IDR pictures, decode only\n"
            "                        the sampled frames and their neighbours, each run from\n"
            "                        the IDR or open-GOP keyframe before it (display order\n"
            "                        from the bitstream where the container has no pts,\n"
            "                        e.g. AVI, raw .h264); H.264, HEVC, MPEG-1/2: skip the\n"
            "                        non-reference pictures no sampled frame needs (checked\n"
            "                        frame by frame against the packet scan; any surprise\n"
            "                        decodes everything); all: decode every frame. Same\n"
            "                        output either way\n"
            "  --max-pixels N        reject pictures with more than N pixels (default %lld)\n"
            "  --max-corrupt F       fail when more than this fraction of packets fails to\n"
            "                        decode (default %.2f); fewer are skipped and counted\n"
            "  --scores FILE.npy     write the patch scores, float32 [64,16,16]\n"
            "  --viz FILE.png        write a contact sheet: sampled 224x224 crops, unselected\n"
            "                        patches dimmed, labelled slot (top) and frame (bottom)\n"
            "  --no-timings          leave out \"timings\" (output then byte-identical per input)\n"
            "\n"
            "output (JSON): input, stream {codec, pix_fmt, width, height, rotation, fps,\n"
            "duration, frames (decoded), frames_header, packets, corrupt_frames, bad_packets},\n"
            "mv_source, mv_source_slots {codec, estimate, none}, decode_passes,\n"
            "static_fallback, grid {t:64, h:16, w:16, patch, size},\n"
            "slots [{slot, frame, pts, seconds, pict_type, mv_source, vectors, energy, whole,\n"
            "corrupt}], tokens, visible_indices (ascending, slot*256 + row*16 + col),\n"
            "settings {every option used}, timings {threads, decoder_threading, ms per stage}.\n"
            "\n"
            "exit status: 0 ok, 1 bad input (one line on stderr naming the file), 2 usage.\n",
            d.tokens, d.frames, (long long)d.max_pixels, d.max_corrupt);
}

static int parse_double(const char *s, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return errno || end == s || *end ? -1 : 0;
}

static int parse_ll(const char *s, long long *v)
{
    char *end;
    errno = 0;
    *v = strtoll(s, &end, 10);
    return errno || end == s || *end ? -1 : 0;
}

static int usage_err(const char *msg, const char *arg)
{
    fprintf(stderr, "ovx select: %s%s%s (see ovx help select)\n", msg, arg ? ": " : "", arg ? arg : "");
    return OVX_EXIT_USAGE;
}

/* the long options of the parser below, for the typo suggestion */
static const char *const option_names[] = {
    "output", "tokens", "frames", "sampling", "mv-source", "iframe-policy", "no-inconsistency",
    "inconsistency", "normalise", "no-light", "row-step", "noise-k", "texture-k", "residual-scale", "motion-scale",
    "motion-floor", "prior-weight", "fps", "start", "duration", "threads", "decode", "max-pixels",
    "max-corrupt", "scores", "viz", "no-timings", "help", NULL};

int ovx_cmd_select(int argc, char **argv)
{
    ovx_select_params p = ovx_select_default_params();
    p.threads = ovx_default_threads();
    const char *input = NULL, *out_path = NULL, *scores_path = NULL, *viz_path = NULL;
    int timings = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        long long ll;
#define NEED_ARG()                                                   \
    do {                                                             \
        if (!v)                                                      \
            return usage_err("missing value for option", a);         \
        i++;                                                         \
    } while (0)
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            NEED_ARG();
            out_path = v;
        } else if (!strcmp(a, "--tokens")) {
            NEED_ARG();
            if (parse_ll(v, &ll) || ll < 1 || ll > 16384)
                return usage_err("--tokens must be an integer in 1..16384", v);
            p.tokens = (int)ll;
        } else if (!strcmp(a, "--frames")) {
            NEED_ARG();
            if (parse_ll(v, &ll) || ll < 1 || ll > 64)
                return usage_err("--frames must be an integer in 1..64", v);
            p.frames = (int)ll;
        } else if (!strcmp(a, "--sampling")) {
            NEED_ARG();
            if (!strcmp(v, "codec"))
                p.sampling = OVX_SAMPLING_CODEC;
            else if (!strcmp(v, "uniform"))
                p.sampling = OVX_SAMPLING_UNIFORM;
            else
                return usage_err("--sampling must be codec or uniform", v);
        } else if (!strcmp(a, "--mv-source")) {
            NEED_ARG();
            if (!strcmp(v, "auto"))
                p.mv_source = OVX_MV_AUTO;
            else if (!strcmp(v, "codec"))
                p.mv_source = OVX_MV_CODEC;
            else if (!strcmp(v, "estimate"))
                p.mv_source = OVX_MV_ESTIMATE;
            else
                return usage_err("--mv-source must be auto, codec or estimate", v);
        } else if (!strcmp(a, "--iframe-policy")) {
            NEED_ARG();
            if (!strcmp(v, "first"))
                p.iframe_policy = OVX_IFRAME_FIRST;
            else if (!strcmp(v, "dense"))
                p.iframe_policy = OVX_IFRAME_DENSE;
            else if (!strcmp(v, "zero"))
                p.iframe_policy = OVX_IFRAME_ZERO;
            else if (!strcmp(v, "compete"))
                p.iframe_policy = OVX_IFRAME_COMPETE;
            else
                return usage_err("--iframe-policy must be first, dense, zero or compete", v);
        } else if (!strcmp(a, "--no-inconsistency")) {
            p.inconsistency = 0;
        } else if (!strcmp(a, "--inconsistency")) {
            p.inconsistency = 1;
        } else if (!strcmp(a, "--normalise")) {
            NEED_ARG();
            if (!strcmp(v, "noise"))
                p.normalise = OVX_NORMALISE_NOISE;
            else if (!strcmp(v, "frame"))
                p.normalise = OVX_NORMALISE_FRAME;
            else
                return usage_err("--normalise must be noise or frame", v);
        } else if (!strcmp(a, "--no-light")) {
            p.light = 0;
        } else if (!strcmp(a, "--row-step")) {
            NEED_ARG();
            if (!strcmp(v, "auto"))
                p.row_step = 0;
            else if (!strcmp(v, "1") || !strcmp(v, "2") || !strcmp(v, "4"))
                p.row_step = v[0] - '0';
            else
                return usage_err("--row-step must be auto, 1, 2 or 4", v);
        } else if (!strcmp(a, "--noise-k")) {
            NEED_ARG();
            if (parse_double(v, &d) || !(d >= 0 && d <= 100))
                return usage_err("--noise-k must be a number in 0..100", v);
            p.noise_k = d;
        } else if (!strcmp(a, "--texture-k")) {
            NEED_ARG();
            if (parse_double(v, &d) || !(d >= 0 && d <= 100))
                return usage_err("--texture-k must be a number in 0..100", v);
            p.texture_k = d;
        } else if (!strcmp(a, "--residual-scale")) {
            NEED_ARG();
            if (parse_double(v, &d) || !(d > 0 && d <= 1000))
                return usage_err("--residual-scale must be a number in (0, 1000]", v);
            p.residual_scale = d;
        } else if (!strcmp(a, "--motion-scale")) {
            NEED_ARG();
            if (parse_double(v, &d) || !(d > 0 && d <= 1000))
                return usage_err("--motion-scale must be a number in (0, 1000]", v);
            p.motion_scale = d;
        } else if (!strcmp(a, "--residual-weight")) {
            NEED_ARG();
            if (parse_double(v, &d) || !(d >= 0 && d <= 1))
                return usage_err("--residual-weight must be a number in 0..1", v);
            p.residual_weight = d;
        } else if (!strcmp(a, "--motion-floor")) {
            NEED_ARG();
            if (parse_double(v, &d) || !(d >= 0 && d <= 100))
                return usage_err("--motion-floor must be a number in 0..100", v);
            p.motion_floor = d;
        } else if (!strcmp(a, "--prior-weight")) {
            NEED_ARG();
            if (parse_double(v, &d) || !(d >= 0 && d <= 10))
                return usage_err("--prior-weight must be a number in 0..10", v);
            p.prior_weight = d;
        } else if (!strcmp(a, "--fps")) {
            NEED_ARG();
            if (parse_double(v, &d) || !(d > 0 && d <= 1000))
                return usage_err("--fps must be a number in (0, 1000]", v);
            p.fps = d;
        } else if (!strcmp(a, "--start")) {
            NEED_ARG();
            if (parse_double(v, &d) || !(d >= 0 && d < 1e9))
                return usage_err("--start must be a number of seconds >= 0", v);
            p.start = d;
        } else if (!strcmp(a, "--duration")) {
            NEED_ARG();
            if (parse_double(v, &d) || !(d > 0 && d < 1e9))
                return usage_err("--duration must be a number of seconds > 0", v);
            p.duration = d;
        } else if (!strcmp(a, "--threads")) {
            NEED_ARG();
            if (parse_ll(v, &ll) || ll < 1 || ll > 256)
                return usage_err("--threads must be an integer in 1..256", v);
            p.threads = (int)ll;
        } else if (!strcmp(a, "--decode")) {
            NEED_ARG();
            if (strcmp(v, "plan") && strcmp(v, "all"))
                return usage_err("--decode must be plan or all", v);
            p.decode_all = !strcmp(v, "all");
        } else if (!strcmp(a, "--max-pixels")) {
            NEED_ARG();
            if (parse_ll(v, &ll) || ll < 1)
                return usage_err("--max-pixels must be a positive integer", v);
            p.max_pixels = ll;
        } else if (!strcmp(a, "--max-corrupt")) {
            NEED_ARG();
            if (parse_double(v, &d) || !(d >= 0 && d <= 1))
                return usage_err("--max-corrupt must be a number in 0..1", v);
            p.max_corrupt = d;
        } else if (!strcmp(a, "--scores")) {
            NEED_ARG();
            scores_path = v;
        } else if (!strcmp(a, "--viz")) {
            NEED_ARG();
            viz_path = v;
        } else if (!strcmp(a, "--no-timings")) {
            timings = 0;
        } else if (a[0] == '-' && a[1] != '\0') {
            return ovx_cli_unknown_option("select", a, option_names);
        } else {
            if (input)
                return usage_err("only one VIDEO per run (use ovx extract for many)", a);
            input = a;
        }
#undef NEED_ARG
    }
    if (!input)
        return usage_err("missing VIDEO", NULL);
    if (viz_path)
        p.keep_frames = 1;

    av_log_set_level(AV_LOG_QUIET);
    ovx_error err;
    ovx_error_clear(&err);
    ovx_select_result *r = NULL;
    int rc = ovx_select_run(input, &p, &r, &err);
    if (rc < 0) {
        fprintf(stderr, "ovx select: %s: %s\n", strcmp(input, "-") ? input : "stdin", err.msg);
        return rc == OVX_EUSAGE ? OVX_EXIT_USAGE : OVX_EXIT_FAIL;
    }
    int status = OVX_EXIT_OK;
    if (scores_path) {
        int64_t shape[3] = {OVX_SELECT_SLOTS, OVX_SELECT_GRID, OVX_SELECT_GRID};
        if (ovx_npy_write(scores_path, OVX_DTYPE_F32, 3, shape, r->scores, &err) < 0) {
            fprintf(stderr, "ovx select: %s\n", err.msg); /* the message names the file */
            status = OVX_EXIT_FAIL;
        }
    }
    if (status == OVX_EXIT_OK && viz_path && ovx_select_write_viz(r, viz_path, &err) < 0) {
        fprintf(stderr, "ovx select: %s\n", err.msg);
        status = OVX_EXIT_FAIL;
    }
    char *json = ovx_select_result_json_string(r, timings);
    if (!json) {
        fprintf(stderr, "ovx select: %s: out of memory writing JSON\n", input);
        status = OVX_EXIT_FAIL;
    } else if (status == OVX_EXIT_OK) {
        if (out_path) {
            if (ovx_atomic_write(out_path, json, strlen(json), &err) < 0) {
                fprintf(stderr, "ovx select: %s\n", err.msg);
                status = OVX_EXIT_FAIL;
            }
        } else if (fputs(json, stdout) == EOF || fflush(stdout) != 0) {
            fprintf(stderr, "ovx select: writing stdout: %s\n", strerror(errno));
            status = OVX_EXIT_FAIL;
        }
    }
    free(json);
    ovx_select_result_free(r);
    return status;
}
