/* cmd_select.c: `ovx select VIDEO`: the option table (parsing, help and
 * typo suggestions come from it), output files, errors. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/log.h>

#include "cli/commands.h"
#include "cli/opt_suggest.h"
#include "cli/opt_table.h"
#include "common/threads.h"
#include "io/atomic_file.h"
#include "io/npy.h"
#include "select/select.h"
#include "select/viz.h"

/* options: the struct the table fills */
typedef struct select_opts {
    ovx_select_params p;
    const char *out_path, *scores_path, *viz_path;
    int timings;
} select_opts;

/* Enum names in enum order (select.h) */
static const char *const sampling_names[] = {"codec", "uniform", NULL};
static const char *const mv_source_names[] = {"auto", "codec", "estimate", NULL};
static const char *const iframe_policy_names[] = {"first", "dense", "zero", "compete", NULL};
static const char *const normalise_names[] = {"noise", "frame", NULL};
static const char *const row_step_names[] = {"auto", "1", "2", "4", NULL};
static const char *const fit_region_names[] = {"crop", "frame", NULL};
static const int fit_region_values[] = {0, 1};
static const char *const motion_sides_names[] = {"both", "past", NULL};
static const int motion_sides_values[] = {OVX_MOTION_BOTH, OVX_MOTION_PAST};
static const int row_step_values[] = {0, 1, 2, 4};
static const char *const decode_names[] = {"plan", "all", NULL}; /* decode_all 0, 1 */
_Static_assert(sizeof(ovx_sampling) == sizeof(int) && sizeof(ovx_mv_source) == sizeof(int) &&
                   sizeof(ovx_iframe_policy) == sizeof(int) && sizeof(ovx_normalise) == sizeof(int),
               "the enum options are stored as ints");

/* The options of `ovx select`: parsing, the help lines (in this order) and
 * the typo suggestions all come from here. */
#define F(field) offsetof(select_opts, field)
static const ovx_opt_def select_options[] = {
    {.name = "output", .short_name = 'o', .kind = OVX_OPT_STR, .off = F(out_path), .arg = "FILE",
     .help = "write the JSON to FILE instead of stdout"},
    {.name = "tokens", .kind = OVX_OPT_INT, .off = F(p.tokens), .lo = 1, .hi = 16384, .arg = "K",
     .help = "patches to keep, 1..16384 (default {default}; 2048 is common)"},
    {.name = "frames", .kind = OVX_OPT_INT, .off = F(p.frames), .lo = 1, .hi = 64, .arg = "F",
     .help = "sampled frames, 1..64 (default {default}): linspace over the\n"
             "decoded frames, truncated; they take slots\n"
             "linspace(0,63,F); shorter videos repeat frames"},
    {.name = "sampling", .kind = OVX_OPT_CHOICE, .off = F(p.sampling), .choices = sampling_names, .arg = "MODE",
     .help = "codec: saliency top-K (default); uniform: F frames kept\n"
             "whole at slots linspace(0,63,F) (use with --frames 16)"},
    {.name = "mv-source", .kind = OVX_OPT_CHOICE, .off = F(p.mv_source), .choices = mv_source_names, .arg = "SRC",
     .help = "auto (default: codec vectors for H.264/MPEG-1/2/4/H.263,\n"
             "block matching otherwise; MPEG-4 Part 2 B-VOPs, whose own\n"
             "vectors FFmpeg does not export: the next anchor's, scaled),\n"
             "codec, estimate"},
    {.name = "iframe-policy", .kind = OVX_OPT_CHOICE, .off = F(p.iframe_policy), .choices = iframe_policy_names,
     .arg = "P",
     .help = "first: first sampled frame kept whole (default);\n"
             "dense: every sampled I-frame whole; zero: I-frames score 0;\n"
             "compete: no special treatment"},
    {.name = "normalise", .kind = OVX_OPT_CHOICE, .off = F(p.normalise), .choices = normalise_names, .arg = "MODE",
     .help = "noise (default): scores that mean the same in every frame:\n"
             "residual above 2x the frame's median (its noise level),\n"
             "motion in px/frame above 0.25 px (vectors that predict no\n"
             "better than the camera's motion count as still), each\n"
             "v/(v+scale), fused 4:1 motion:residual, no centre prior;\n"
             "frame: the recipe (each map / its 95th percentile per\n"
             "frame, fused 1:1, centre prior 0.3)"},
    {.name = "no-light", .kind = OVX_OPT_CLEAR, .off = F(p.light),
     .help = "no per-frame gain/offset fit of the prediction (the fit\n"
             "removes exposure drift, fades and flicker)"},
    {.name = "fit-region", .kind = OVX_OPT_CHOICE, .off = F(p.fit_frame), .choices = fit_region_names,
     .values = fit_region_values, .arg = "R",
     .help = "crop (default): the camera's motion is fitted on the\n"
             "vectors of the blocks the 224 crop covers (motion counts\n"
             "against what the model sees); frame: on every vector"},
    {.name = "motion-sides", .kind = OVX_OPT_CHOICE, .off = F(p.motion_sides), .choices = motion_sides_names,
     .values = motion_sides_values, .arg = "S",
     .help = "both (default): in a B-frame, a block predicted from a\n"
             "future picture only moves by its future vector, against a\n"
             "camera fitted on the future vectors (before: no motion);\n"
             "past: past vectors only"},
    {.name = "row-step", .kind = OVX_OPT_CHOICE, .off = F(p.row_step), .choices = row_step_names,
     .values = row_step_values, .arg = "N",
     .help = "auto (default), 1, 2 or 4: the residual reads every N-th\n"
             "row of the crop's source, the block comparisons (reference\n"
             "choice, vector evidence, refinement) of 16-row blocks\n"
             "every 2N-th, and from N = 2 on the reference choice\n"
             "only for blocks touching the crop; auto: 1 when the\n"
             "short side is under 896 px (4 source px per crop px),\n"
             "else 4 (1080p: 4.8 source rows per crop row)"},
    {.name = "noise-k", .kind = OVX_OPT_REAL, .off = F(p.noise_k), .lo = 0, .hi = 100, .arg = "K",
     .help = "noise: residual counts above K x noise level (default {default})"},
    {.name = "texture-k", .kind = OVX_OPT_REAL, .off = F(p.texture_k), .lo = 0, .hi = 100, .arg = "K",
     .help = "noise: a vector is no motion where its block varies less\n"
             "than K x the noise of its own prediction, if that noise\n"
             "exceeds 2 grey levels (flat areas in sensor noise: chance\n"
             "matches); default {default}, 0: off"},
    {.name = "residual-scale", .kind = OVX_OPT_REAL, .off = F(p.residual_scale), .lo = 0, .lo_open = 1, .hi = 1000,
     .arg = "G", .help = "noise: grey levels above the floor scoring 1/2 (default {default})"},
    {.name = "motion-scale", .kind = OVX_OPT_REAL, .off = F(p.motion_scale), .lo = 0, .lo_open = 1, .hi = 1000,
     .arg = "P", .help = "noise: px per frame above the floor scoring 1/2 (default {default})"},
    {.name = "motion-floor", .kind = OVX_OPT_REAL, .off = F(p.motion_floor), .lo = 0, .hi = 100, .arg = "P",
     .help = "motion floor in px per frame (default 0.25 with noise,\n"
             "0.5 with frame)"},
    {.name = "residual-weight", .kind = OVX_OPT_REAL, .off = F(p.residual_weight), .lo = 0, .hi = 1, .arg = "W",
     .help = "share of the residual in the score, 0..1 (default 0.2\n"
             "with noise, 0.5 with frame)"},
    {.name = "no-inconsistency", .kind = OVX_OPT_CLEAR, .off = F(p.inconsistency),
     .help = "motion = compensated magnitude only (default: frame: its\n"
             "3x3 local variance; noise: mean of magnitude and local deviation)"},
    {.name = "inconsistency", .kind = OVX_OPT_SET, .off = F(p.inconsistency), .help = "the default, stated"},
    {.name = "prior-weight", .kind = OVX_OPT_REAL, .off = F(p.prior_weight), .lo = 0, .hi = 10, .arg = "W",
     .help = "centre prior weight (default 0 with noise, 0.30 with frame)"},
    {.name = "fps", .kind = OVX_OPT_REAL, .off = F(p.fps), .lo = 0, .lo_open = 1, .hi = 1000, .arg = "R",
     .help = "sample at R frames per second by timestamp (at most 64,\n"
             "spread by linspace when more)"},
    {.name = "start", .kind = OVX_OPT_REAL, .off = F(p.start), .lo = 0, .hi = 1e9, .hi_open = 1,
     .expected = "a number of seconds >= 0", .arg = "S", .help = "start at S seconds (default 0)"},
    {.name = "duration", .kind = OVX_OPT_REAL, .off = F(p.duration), .lo = 0, .lo_open = 1, .hi = 1e9, .hi_open = 1,
     .expected = "a number of seconds > 0", .arg = "D", .help = "use D seconds from --start (default: to the end)"},
    {.name = "threads", .kind = OVX_OPT_INT, .off = F(p.threads), .lo = 1, .hi = 256, .arg = "N",
     .help = "decoder threads and saliency workers (default:\n"
             "OVX_THREADS or all cores); results do not depend on N\n"
             "(frame threads only without B-frames, H.264 B-frame\n"
             "streams split at IDRs, else slice threads; H.264 with\n"
             "B-frames in AVI, MPEG-TS/PS or raw streams, HEVC, VP9,\n"
             "AV1 and other decoders without error concealment: one\n"
             "decoder thread)"},
    {.name = "decode", .kind = OVX_OPT_CHOICE, .off = F(p.decode_all), .choices = decode_names, .arg = "MODE",
     .help = "plan (default): for H.264, HEVC and MPEG-1/2, decode only\n"
             "the sampled frames and their neighbours, each run from\n"
             "the random-access point (IDR, open-GOP keyframe, CRA,\n"
             "I picture after a GOP header) before it (display order\n"
             "from the bitstream where the container has no pts,\n"
             "e.g. AVI, raw .h264/.h265); H.264, HEVC, MPEG-1/2/4: skip the\n"
             "non-reference pictures no sampled frame needs (checked\n"
             "frame by frame against the packet scan; any surprise\n"
             "decodes everything); all: decode every frame. Same\n"
             "output either way"},
    {.name = "max-pixels", .kind = OVX_OPT_INT64, .off = F(p.max_pixels), .lo = 1, .hi = (double)INT64_MAX,
     .expected = "a positive integer", .arg = "N",
     .help = "reject pictures with more than N pixels (default {default})"},
    {.name = "max-corrupt", .kind = OVX_OPT_REAL, .off = F(p.max_corrupt), .lo = 0, .hi = 1, .arg = "F",
     .help = "fail when more than this fraction of packets fails to\n"
             "decode (default {default}); fewer are skipped and counted"},
    {.name = "scores", .kind = OVX_OPT_STR, .off = F(scores_path), .arg = "FILE.npy",
     .help = "write the patch scores, float32 [64,16,16]"},
    {.name = "viz", .kind = OVX_OPT_STR, .off = F(viz_path), .arg = "FILE.png",
     .help = "write a contact sheet: sampled 224x224 crops, unselected\n"
             "patches dimmed, labelled slot (top) and frame (bottom)"},
    {.name = "no-timings", .kind = OVX_OPT_CLEAR, .off = F(timings),
     .help = "leave out \"timings\" (output then byte-identical per input)"},
};
#undef F
#define N_OPTIONS (sizeof select_options / sizeof select_options[0])

static select_opts default_opts(void)
{
    select_opts c = {.p = ovx_select_default_params(), .timings = 1};
    return c;
}

void ovx_help_select(FILE *out)
{
    select_opts d = default_opts();
    fputs("usage: ovx select [OPTIONS] VIDEO\n"
          "\n"
          "Decodes VIDEO (any file libavformat reads, or - for stdin), samples up to 64\n"
          "frames, scores every 14x14 patch of each frame's 224x224 centre crop from the\n"
          "codec's motion vectors (camera motion removed) and the motion-compensated luma\n"
          "prediction error, and prints the global top-K patches as JSON.\n"
          "\n"
          "options:\n",
          out);
    ovx_opt_print_help(out, select_options, N_OPTIONS, &d);
    fputs("\n"
          "output (JSON): input, stream {codec, pix_fmt, width, height, rotation, fps,\n"
          "duration, frames (decoded), frames_header, packets, corrupt_frames, bad_packets},\n"
          "mv_source, mv_source_slots {codec, estimate, none}, decode_passes,\n"
          "static_fallback, grid {t:64, h:16, w:16, patch, size},\n"
          "slots [{slot, frame, pts, seconds, pict_type, mv_source, vectors, energy, whole,\n"
          "corrupt}], tokens, visible_indices (ascending, slot*256 + row*16 + col),\n"
          "settings {every option used}, timings {threads, decoder_threading, ms per stage}.\n"
          "\n"
          "exit status: 0 ok, 1 bad input (one line on stderr naming the file), 2 usage.\n",
          out);
}

static int usage_err(const char *msg, const char *arg)
{
    fprintf(stderr, "ovx select: %s%s%s (see ovx help select)\n", msg, arg ? ": " : "", arg ? arg : "");
    return OVX_EXIT_USAGE;
}

/* Fills c from argv (options anywhere, one VIDEO); the exit status of a
 * usage error (said on stderr), else 0. */
static int parse_options(select_opts *c, const char **input, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const ovx_opt_def *d = ovx_opt_find(select_options, N_OPTIONS, a);
        /* --name=value, as the other commands take it */
        const char *eq = a[0] == '-' && a[1] == '-' && !d ? strchr(a, '=') : NULL;
        if (eq) {
            char name[64];
            size_t len = (size_t)(eq - a);
            if (len < sizeof name) {
                memcpy(name, a, len);
                name[len] = '\0';
                d = ovx_opt_find(select_options, N_OPTIONS, name);
            }
            if (!d)
                eq = NULL;
            else if (!ovx_opt_takes_value(d))
                return usage_err("option takes no value", a);
        }
        if (!d && a[0] == '-' && a[1] != '\0') {
            const char *names[N_OPTIONS + 2]; /* for the typo suggestion */
            for (size_t k = 0; k < N_OPTIONS; k++)
                names[k] = select_options[k].name;
            names[N_OPTIONS] = "help"; /* main.c answers it */
            names[N_OPTIONS + 1] = NULL;
            return ovx_cli_unknown_option("select", a, names);
        }
        if (!d) {
            if (*input)
                return usage_err("only one VIDEO per run (use ovx extract for many)", a);
            *input = a;
            continue;
        }
        const char *v = eq ? eq + 1 : NULL;
        if (!eq && ovx_opt_takes_value(d)) {
            if (i + 1 >= argc)
                return usage_err("missing value for option", a);
            v = argv[++i];
        }
        if (ovx_opt_set(d, c, v) < 0) {
            char what[160], msg[256];
            ovx_opt_expected(d, what, sizeof what);
            snprintf(msg, sizeof msg, "--%s must be %s", d->name, what);
            return usage_err(msg, v);
        }
    }
    return 0;
}

int ovx_cmd_select(int argc, char **argv)
{
    select_opts c = default_opts();
    c.p.threads = ovx_default_threads();
    const char *input = NULL;
    int urc = parse_options(&c, &input, argc, argv);
    if (urc)
        return urc;
    if (!input)
        return usage_err("missing VIDEO", NULL);
    if (c.viz_path)
        c.p.keep_frames = 1;

    av_log_set_level(AV_LOG_QUIET);
    ovx_error err;
    ovx_error_clear(&err);
    ovx_select_result *r = NULL;
    int rc = ovx_select_run(input, &c.p, &r, &err);
    if (rc < 0) {
        fprintf(stderr, "ovx select: %s: %s\n", strcmp(input, "-") ? input : "stdin", err.msg);
        return rc == OVX_EUSAGE ? OVX_EXIT_USAGE : OVX_EXIT_FAIL;
    }
    int status = OVX_EXIT_OK;
    if (c.scores_path) {
        int64_t shape[3] = {OVX_SELECT_SLOTS, OVX_SELECT_GRID, OVX_SELECT_GRID};
        if (ovx_npy_write(c.scores_path, OVX_DTYPE_F32, 3, shape, r->scores, &err) < 0) {
            fprintf(stderr, "ovx select: %s\n", err.msg); /* the message names the file */
            status = OVX_EXIT_FAIL;
        }
    }
    if (status == OVX_EXIT_OK && c.viz_path && ovx_select_write_viz(r, c.viz_path, &err) < 0) {
        fprintf(stderr, "ovx select: %s\n", err.msg);
        status = OVX_EXIT_FAIL;
    }
    char *json = ovx_select_result_json_string(r, c.timings);
    if (!json) {
        fprintf(stderr, "ovx select: %s: out of memory writing JSON\n", input);
        status = OVX_EXIT_FAIL;
    } else if (status == OVX_EXIT_OK) {
        if (c.out_path) {
            if (ovx_atomic_write(c.out_path, json, strlen(json), &err) < 0) {
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
