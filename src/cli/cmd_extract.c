/* cmd_extract.c: `ovx extract`: the option table, the device, signals,
 * and printing (per-item lines, --jsonl records, progress, the summary,
 * the exit status). The batch runner itself is src/extract (extract.h). */
#include <errno.h>
#include <getopt.h>
#include <libavutil/log.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/opt_suggest.h"
#include "cli/opt_table.h"
#include "cli/run_summary.h"
#include "cli/device_opt.h"
#include "cli/progress.h"
#include "cli/signals.h"
#include "extract/extract.h"
#include "extract/shard.h"
#include "io/json_utf8.h"

void ovx_help_extract(FILE *out)
{
    fprintf(out,
        "usage: ovx extract -m MODEL [OPTIONS] INPUT... -o DIR\n"
        "       ovx extract -m MODEL [OPTIONS] --list FILE|- -o DIR\n"
        "\n"
        "Videos or images in, embeddings out. For each video: decode, select the\n"
        "salient 14x14 patches of 64 frames (or --sampling uniform), run the encoder\n"
        "on them and write, under DIR:\n"
        "  REL.npy          tokens [K,D] (float32, or --dtype f16 / bf16)\n"
        "  REL.pooled.npy   pooled embedding [D] (models with a head)\n"
        "  REL.hidden_L.npy hidden state L [K,D] (--hidden-state L)\n"
        "  REL.json         select report, model id and checksum, dtype, token\n"
        "                   positions (t,h,w) in token order, label, settings, timings\n"
        "With --views V > 1 the token/pooled arrays get a leading view axis [V,...].\n"
        "Images (.png .jpg .jpeg .webp .bmp): shortest edge 448 bicubic + centre crop\n"
        "(or --native), all patches, t = 0; same four outputs.\n"
        "\n"
        "REL is the input's path relative to the argument that named it, extension\n"
        "removed: folder argument data/ with data/a/cat/000.mp4 -> DIR/a/cat/000.npy;\n"
        "a file argument x/y/clip.mp4 -> DIR/clip.npy; a --list entry is taken as\n"
        "written (relative to the current folder; \"./\" dropped, a leading \"/\"\n"
        "removed, \"..\" refused). Two inputs mapping to the same outputs both fail.\n"
        "\n"
        "inputs:\n"
        "  INPUT...               files (any extension) and folders (walked recursively,\n"
        "                         hidden entries skipped, symlink loops visited once),\n"
        "                         or URLs (http://, https://, any protocol libavformat\n"
        "                         has; also in --list): REL is the URL's path, host,\n"
        "                         query and fragment removed\n"
        "  --io-timeout S         URL inputs: a read or connect stalled S seconds fails\n"
        "                         the item (default 30; HTTP reconnects twice after a\n"
        "                         dropped read, with Range), so does averaging under\n"
        "                         256 bytes/s after the first S seconds\n"
        "  --list FILE|-          one path per line, or CSV path,label (\"-\": stdin;\n"
        "                         a bare \"-\" INPUT means the same)\n"
        "  --ext LIST             extensions taken from folders, comma-separated\n"
        "                         (default below)\n"
        "  --labels FILE.csv      path,label (path = REL, REL without extension, or as given)\n"
        "  --label-from-dir       label = name of the parent folder (UCF101 layout)\n"
        "\n"
        "model and sampling:\n"
        "  -m, --model PATH|ID    model folder or Hugging Face id (default $OVX_MODEL)\n"
        "  --sampling codec|uniform  codec saliency top-K (default) or whole frames\n"
        "  --frames N             slots sampled (codec: 64; uniform: 16, the model card)\n"
        "  --tokens K             codec token budget (default 4096)\n"
        "  --mv-source SRC        auto, codec or estimate (as ovx select)\n"
        "  --iframe-policy P      first, dense, zero or compete (as ovx select)\n"
        "  --fps R, --start S, --duration D  timed sampling window (as ovx select)\n"
        "  --views N              N views per video, each sampled at a different\n"
        "                         temporal offset (start shifted by v/N of a slot)\n"
        "  --native               images at their own size, cut down to multiples of 14\n"
        "  --max-tokens N         a --native image with more tokens fails (default 16384)\n"
        "  --hidden-state L       also write hidden state L (Hugging Face index, e.g. -2)\n"
        "  --dtype f32|f16|bf16   dtype of the token and hidden-state files; bf16 is\n"
        "                         stored as NPY uint16 (bfloat16 bits; REL.json says\n"
        "                         \"dtype\": \"bfloat16\"): numpy: (a.astype(np.uint32)\n"
        "                         << 16).view(np.float32); torch:\n"
        "                         torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)\n"
        "  --pooled-only          do not write REL.npy\n"
        "  --max-corrupt F        fail a video when more than this fraction of its packets\n"
        "                         do not decode (default as ovx select)\n"
        "  --save-pixels          also write REL.pixels.npy (normalised float32 input\n"
        "                         [1,3,T,H,W]) and REL.indices.npy (int64 [1,N]), the\n"
        "                         exact input of `ovx forward` for checking\n"
        "\n"
        "run:\n"
        "  -o, --output DIR       output folder (created)\n"
        "  --format files|wds     files: the layout above (default); wds: WebDataset-style\n"
        "                         tar shards DIR/shards/{I}-{nnnnnn}.tar (I: --shard\n"
        "                         index) with members KEY.tokens.npy, KEY.pooled.npy,\n"
        "                         KEY.hidden_L.npy, KEY.json per item (KEY: REL without\n"
        "                         extension, '%%' '/' '.' as %%25 %%2F %%2E; REL in JSON);\n"
        "                         a shard is written to a temp name and renamed when\n"
        "                         complete; manifest lines name the shard and key\n"
        "  --shard-items N        items per tar shard (default 1000)\n"
        "  --shard-bytes SIZE     also close a shard once it reaches SIZE (e.g. 2G)\n"
        "  --overwrite            redo items whose outputs already validate (files only)\n"
        "  --retry-failed         try the known failures again: by default an item whose\n"
        "                         line in DIR/failures.jsonl has the input's size and\n"
        "                         mtime and this run's settings (a decode or select\n"
        "                         failure; not URLs) fails again without being\n"
        "                         tried, counted in the summary (--overwrite also\n"
        "                         retries them)\n"
        "  --prune                remove the outputs and log lines of every rel that no\n"
        "                         input of this run has (moved or deleted inputs; all\n"
        "                         shards' inputs count; files only)\n"
        "  --shard I/N            only items whose FNV-1a 64 hash of REL mod N is I\n"
        "                         (default from SLURM_ARRAY_TASK_ID/_COUNT)\n"
        "  --dry-run              print `ACTION<TAB>PATH` per item (extract, skip or\n"
        "                         fail), load nothing, write nothing (skip decisions\n"
        "                         need the run's -m and options: they make the hash)\n"
        "  --jsonl                one JSON object per item on stdout (status, path, rel,\n"
        "                         label, outputs with shapes, seconds); with --dry-run\n"
        "                         {path, rel, action}\n"
        "  --decode-threads N     items decoded + selected ahead in parallel, one decoder\n"
        "                         thread each (default 1; 0: decode in turn, all threads)\n"
        "  --threads N            model threads (default all cores or $OVX_THREADS)\n"
        "  --batch N              items whose tokens go through one forward (default 1;\n"
        "                         packed without padding, attention per item; CPU:\n"
        "                         byte-identical to --batch 1; not in the settings\n"
        "                         hash)\n"
        "  --device DEV           auto (default: CUDA device 0 when it opens, else the\n"
        "                         CPU, saying why once; also when the device fails\n"
        "                         later), cpu, cuda (= cuda:0) or cuda:N; a device that\n"
        "                         cannot be used fails the run (exit 1) before any\n"
        "                         item, one left unusable by a fault stops it; with\n"
        "                         no NVIDIA driver at all auto says nothing (-v: why)\n"
        "  --precision P          CPU matmuls: auto (default: bf16 where this CPU runs it\n"
        "                         faster: AMX, or a short calibration kept per machine in\n"
        "                         ~/.cache/ovx (OVX_CACHE_DIR), so every run decides the\n"
        "                         same; -v says which and why), fp32, or bf16 (bf16\n"
        "                         inputs, fp32 accumulation, as on CUDA; needs oneDNN and\n"
        "                         AVX512_BF16 or AMX; a warning where it is slower than\n"
        "                         fp32); REL.json records the one used; like the\n"
        "                         device, not in the settings hash\n"
        "  --attention A          CUDA attention: fused (default, the mma.sync kernel),\n"
        "                         chunked (the cuBLAS reference path) or wmma (the\n"
        "                         earlier fused kernel); not in the settings hash\n"
        "  --quiet                no progress and no summary (errors still printed); the\n"
        "                         summary: counts, clips/s, tokens/s, the share of stage\n"
        "                         time in decode+select / model / writing, and with\n"
        "                         failures DIR/failures.jsonl and the 3 commonest causes\n"
        "  -v, --verbose          also say why auto did not use CUDA on a machine\n"
        "                         without an NVIDIA driver, and what --precision auto chose\n"
        "  --profile              at the end, ms and GFLOP/s per op kind of the CPU\n"
        "                         forward summed over the run (outputs unchanged)\n"
        "\n"
        "Resume: an item whose REL.json has the same settings hash (options + model\n"
        "content fingerprint, not its path) and whose files\n"
        "match their recorded dtype and shape is skipped (a changed label is written\n"
        "into it without recomputing); an item written again first loses its old\n"
        "outputs. The device is not part of the hash: CPU (float32) and\n"
        "CUDA (bf16 GEMMs, ~1e-3 relative difference) outputs are both valid results,\n"
        "so a run resumed on another device skips finished items (REL.json records\n"
        "the device and precision). Every file is written to a temp name, fsync'd and\n"
        "renamed; REL.json last. DIR/failures.jsonl has {path,rel,stage,error} per\n"
        "failed item (with its size and mtime: see --retry-failed), DIR/manifest.jsonl\n"
        "one line per item as on disk now (both\n"
        "compacted at the end of each run: one line per item). Several runs may share\n"
        "DIR: items are claimed (locks in DIR/.ovx/), never computed twice at once;\n"
        "a failed log append is rolled back and the run exits 1.\n"
        "With --format wds an item is done once its shard is complete: resume skips\n"
        "the items of complete shards with the run's settings hash and redoes those\n"
        "of a shard a killed run left under its temp name (removed when its process\n"
        "is gone); manifest and --jsonl lines come when the shard is complete.\n"
        "SIGINT/SIGTERM: the current item is finished or dropped (a forward stops\n"
        "between layers), the summary is written, exit 130/143 (a second signal stops\n"
        "at once); a closed stdout (SIGPIPE) likewise, exit 141.\n"
        "\n"
        "exit status: 0 all succeeded, 1 some failed, 2 usage error, 130/143 interrupted.\n"
        "\n"
        "default --ext:");
    /* the list, wrapped at commas */
    int col = 80;
    for (const char *e = OVX_DEFAULT_EXTS; *e;) {
        size_t n = strcspn(e, ",");
        if (col + (int)n + 1 > 78) {
            fputs("\n ", out);
            col = 1;
        }
        fprintf(out, " %.*s", (int)n, e);
        col += (int)n + 1;
        e += n;
        if (*e == ',')
            e++;
    }
    fputc('\n', out);
}

/* ---- the option table ---- */

typedef struct cli_opts {
    ovx_extract_params p;
    const char *lists[64];
    size_t n_lists;
    const char *shard_spec, *device_arg, *shard_bytes;
    int jsonl, quiet, attention, profile, verbose;
} cli_opts;

/* "123", "500K", "64M", "4G", "1T" (powers of 1024) -> bytes, >= 1. */
static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return -1;
    static const char units[] = "KMGT";
    const char *u = *end ? strchr(units, *end & ~0x20) : NULL;
    if (*end && (!u || end[1]))
        return -1;
    for (int k = u ? (int)(u - units) + 1 : 0; k > 0; k--) {
        if (v > (~0ULL >> 10))
            return -1;
        v <<= 10;
    }
    if (!v)
        return -1;
    *out = v;
    return 0;
}

/* Enum names in enum order, as select names them. */
static const char *const mv_source_names[] = {"auto", "codec", "estimate", NULL};
static const char *const iframe_policy_names[] = {"first", "dense", "zero", "compete", NULL};
static const char *const precision_names[] = {"fp32", "bf16", "auto", NULL}; /* = OVX_PRECISION_* */
static const char *const sampling_names[] = {"codec", "uniform", NULL};
static const char *const dtype_names[] = {"f32", "f16", "bf16", "float32", "float16", "bfloat16", NULL};
static const int dtype_values[] = {OVX_DTYPE_F32, OVX_DTYPE_F16, OVX_DTYPE_BF16,
                                   OVX_DTYPE_F32, OVX_DTYPE_F16, OVX_DTYPE_BF16};
static const char *const format_names[] = {"files", "wds", NULL};
_Static_assert(sizeof(ovx_dtype) == sizeof(int), "--dtype is stored as an int");

#define F(field) offsetof(cli_opts, field)
#define OPT(name_, short_, kind_, off_, lo_, hi_, choices_, values_) \
    {.name = name_, .short_name = short_, .kind = kind_, .off = off_, .lo = lo_, .hi = hi_, .choices = choices_, \
     .values = values_}
static const ovx_opt_def opt_table[] = {
    OPT("model", 'm', OVX_OPT_STR, F(p.model), 0, 0, NULL, NULL),
    OPT("output", 'o', OVX_OPT_STR, F(p.out_dir), 0, 0, NULL, NULL),
    OPT("list", 0, OVX_OPT_LIST, F(lists), 0, 0, NULL, NULL),
    OPT("ext", 0, OVX_OPT_STR, F(p.exts), 0, 0, NULL, NULL),
    OPT("labels", 0, OVX_OPT_STR, F(p.labels_csv), 0, 0, NULL, NULL),
    OPT("label-from-dir", 0, OVX_OPT_SET, F(p.label_from_dir), 0, 0, NULL, NULL),
    OPT("sampling", 0, OVX_OPT_CHOICE, F(p.uniform), 0, 0, sampling_names, NULL),
    OPT("frames", 0, OVX_OPT_INT, F(p.frames), 1, 64, NULL, NULL),
    OPT("tokens", 0, OVX_OPT_INT, F(p.tokens), 1, 64 * 256, NULL, NULL),
    OPT("views", 0, OVX_OPT_INT, F(p.views), 1, 64, NULL, NULL),
    OPT("native", 0, OVX_OPT_SET, F(p.native), 0, 0, NULL, NULL),
    OPT("max-tokens", 0, OVX_OPT_INT, F(p.max_tokens), 1, 1 << 24, NULL, NULL),
    OPT("hidden-state", 0, OVX_OPT_INT, F(p.hidden_index), -1000, 1000, NULL, NULL),
    OPT("dtype", 0, OVX_OPT_CHOICE, F(p.dtype), 0, 0, dtype_names, dtype_values),
    OPT("pooled-only", 0, OVX_OPT_SET, F(p.pooled_only), 0, 0, NULL, NULL),
    OPT("save-pixels", 0, OVX_OPT_SET, F(p.save_pixels), 0, 0, NULL, NULL),
    OPT("max-corrupt", 0, OVX_OPT_REAL, F(p.max_corrupt), 0, 1, NULL, NULL),
    OPT("mv-source", 0, OVX_OPT_CHOICE, F(p.mv_source), 0, 0, mv_source_names, NULL),
    OPT("iframe-policy", 0, OVX_OPT_CHOICE, F(p.iframe_policy), 0, 0, iframe_policy_names, NULL),
    OPT("fps", 0, OVX_OPT_REAL, F(p.fps), 1e-6, 1000, NULL, NULL),
    OPT("start", 0, OVX_OPT_REAL, F(p.start), 0, 1e9, NULL, NULL),
    OPT("duration", 0, OVX_OPT_REAL, F(p.duration), 1e-6, 1e9, NULL, NULL),
    OPT("overwrite", 0, OVX_OPT_SET, F(p.overwrite), 0, 0, NULL, NULL),
    OPT("prune", 0, OVX_OPT_SET, F(p.prune), 0, 0, NULL, NULL),
    OPT("retry-failed", 0, OVX_OPT_SET, F(p.retry_failed), 0, 0, NULL, NULL),
    OPT("format", 0, OVX_OPT_CHOICE, F(p.format_wds), 0, 0, format_names, NULL),
    OPT("shard-items", 0, OVX_OPT_INT, F(p.shard_items), 1, 100000000, NULL, NULL),
    OPT("shard-bytes", 0, OVX_OPT_STR, F(shard_bytes), 0, 0, NULL, NULL),
    OPT("shard", 0, OVX_OPT_STR, F(shard_spec), 0, 0, NULL, NULL),
    OPT("dry-run", 0, OVX_OPT_SET, F(p.dry_run), 0, 0, NULL, NULL),
    OPT("jsonl", 0, OVX_OPT_SET, F(jsonl), 0, 0, NULL, NULL),
    OPT("decode-threads", 0, OVX_OPT_INT, F(p.decode_threads), 0, 256, NULL, NULL),
    OPT("threads", 0, OVX_OPT_INT, F(p.threads), 0, 4096, NULL, NULL),
    OPT("batch", 0, OVX_OPT_INT, F(p.batch), 1, 256, NULL, NULL),
    OPT("io-timeout", 0, OVX_OPT_REAL, F(p.io_timeout), 0.001, 86400, NULL, NULL),
    OPT("device", 0, OVX_OPT_STR, F(device_arg), 0, 0, NULL, NULL),
    OPT("precision", 0, OVX_OPT_CHOICE, F(p.precision), 0, 0, precision_names, NULL),
    OPT("attention", 0, OVX_OPT_CHOICE, F(attention), 0, 0, ovx_cli_attention_names, NULL),
    OPT("quiet", 0, OVX_OPT_SET, F(quiet), 0, 0, NULL, NULL),
    OPT("profile", 0, OVX_OPT_SET, F(profile), 0, 0, NULL, NULL),
    OPT("verbose", 'v', OVX_OPT_SET, F(verbose), 0, 0, NULL, NULL),
};
#undef OPT
#undef F
#define N_OPTS (sizeof opt_table / sizeof opt_table[0])

static int usage_error(const char *fmt, const char *a)
{
    fprintf(stderr, "ovx extract: ");
    fprintf(stderr, fmt, a);
    fprintf(stderr, " (see ovx help extract)\n");
    return OVX_EXIT_USAGE;
}

/* Sets the field of one option from its value; OVX_EXIT_USAGE when bad. */
static int set_option(cli_opts *c, const ovx_opt_def *d, const char *v)
{
    if (d->kind == OVX_OPT_LIST) {
        if (c->n_lists == sizeof c->lists / sizeof c->lists[0])
            return usage_error("%s", "too many --list options");
        c->lists[c->n_lists++] = v;
        return 0;
    }
    if (ovx_opt_set(d, c, v) == 0)
        return 0;
    char what[256];
    ovx_opt_expected(d, what, sizeof what);
    fprintf(stderr, "ovx extract: --%s: expected %s, got '%s'%s\n", d->name, what, v,
            d->kind == OVX_OPT_CHOICE ? " (see ovx help extract)" : "");
    return OVX_EXIT_USAGE;
}

/* Parses argv into c; the positional arguments are left at argv[optind..]. */
static int parse_options(cli_opts *c, int argc, char **argv)
{
    struct option longs[N_OPTS + 1];
    char shorts[2 + 2 * N_OPTS + 1] = ":";
    size_t ns = 1;
    for (size_t i = 0; i < N_OPTS; i++) {
        int has_arg = ovx_opt_takes_value(&opt_table[i]) ? required_argument : no_argument;
        longs[i] = (struct option){opt_table[i].name, has_arg, NULL, (int)(1000 + i)};
        if (opt_table[i].short_name) {
            shorts[ns++] = (char)opt_table[i].short_name;
            if (ovx_opt_takes_value(&opt_table[i]))
                shorts[ns++] = ':';
        }
    }
    longs[N_OPTS] = (struct option){NULL, 0, NULL, 0};
    shorts[ns] = '\0';
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = ovx_cli_getopt("extract", argc, argv, shorts, longs)) != -1) {
        if (ch == OVX_CLI_OPT_ERROR)
            return OVX_EXIT_USAGE;
        const ovx_opt_def *d = NULL;
        if (ch >= 1000 && ch < 1000 + (int)N_OPTS)
            d = &opt_table[ch - 1000];
        for (size_t i = 0; !d && i < N_OPTS; i++)
            if (opt_table[i].short_name && opt_table[i].short_name == ch)
                d = &opt_table[i];
        if (!d)
            return usage_error("unknown option '%s'", argv[optind - 1]);
        int rc = set_option(c, d, optarg);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- printing: the callbacks ---- */

typedef struct printer {
    int jsonl, quiet;
    ovx_run_summary summary; /* rates, stage shares, failure causes */
    int stdout_failed;  /* a --jsonl record could not be written: stop, exit 1 */
    ovx_progress progress;
} printer;

/* One JSON object (valid UTF-8: json_utf8.h) as one line on stdout. A
 * full or closed stdout stops the run (said once). */
static void jsonl_emit(printer *pr, cJSON *obj)
{
    if (pr->stdout_failed)
        return;
    char *line = ovx_json_make_utf8(obj) == 0 ? cJSON_PrintUnformatted(obj) : NULL;
    if (!line)
        return;
    if (fputs(line, stdout) == EOF || fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
        pr->stdout_failed = 1;
        ovx_progress_clear(&pr->progress);
        fprintf(stderr, "ovx extract: writing --jsonl to stdout: %s; stopping\n", strerror(errno));
    }
    free(line);
}

static void print_dry_run_item(printer *pr, const ovx_extract_item *it)
{
    static const char *const names[] = {"extract", "done", "skip", "fail"};
    if (!pr->jsonl) {
        printf("%s\t%s\n", names[it->status], it->path);
        return;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "path", it->path);
    cJSON_AddStringToObject(j, "rel", it->rel);
    cJSON_AddStringToObject(j, "action", names[it->status]);
    if (it->status == OVX_ITEM_FAILED)
        cJSON_AddStringToObject(j, "error", it->error);
    if (it->known_failure)
        cJSON_AddTrueToObject(j, "known_failure");
    jsonl_emit(pr, j);
    cJSON_Delete(j);
}

static void on_item(void *user, const ovx_extract_item *it)
{
    printer *pr = user;
    if (it->dry_run) {
        print_dry_run_item(pr, it);
        return;
    }
    ovx_run_summary_item(&pr->summary, it);
    if (it->status == OVX_ITEM_FAILED && !it->known_failure) { /* known ones: counted in the summary */
        ovx_progress_clear(&pr->progress);
        fprintf(stderr, "ovx extract: %s: %s\n", it->path, it->error);
    }
    if (!pr->jsonl)
        return;
    cJSON *o = NULL;
    if (it->status == OVX_ITEM_FAILED && it->record) { /* its failures.jsonl line, so merge-manifests keeps it whole */
        o = cJSON_Duplicate(it->record, 1);
        cJSON_AddStringToObject(o, "status", "failed");
        if (it->known_failure)
            cJSON_AddTrueToObject(o, "known_failure");
    } else if (it->status == OVX_ITEM_FAILED) {
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "status", "failed");
        cJSON_AddStringToObject(o, "path", it->path);
        cJSON_AddStringToObject(o, "rel", it->rel);
        cJSON_AddStringToObject(o, "stage", it->stage);
        cJSON_AddStringToObject(o, "error", it->error);
    } else if (it->record) {
        o = cJSON_Duplicate(it->record, 1);
        cJSON_AddStringToObject(o, "status", it->status == OVX_ITEM_DONE ? "done" : "skipped");
        if (it->status == OVX_ITEM_DONE && it->seconds >= 0)
            cJSON_AddNumberToObject(o, "seconds", it->seconds);
    }
    if (o)
        jsonl_emit(pr, o);
    cJSON_Delete(o);
}

static void on_progress(void *user, const ovx_extract_progress *p)
{
    printer *pr = user;
    if (p->event == OVX_PROGRESS_START)
        ovx_progress_init(&pr->progress, p->total, pr->quiet);
    else if (p->event == OVX_PROGRESS_STEP)
        ovx_progress_step(&pr->progress, p->item_failed);
    else
        ovx_progress_end(&pr->progress);
}

static int on_should_stop(void *user)
{
    const printer *pr = user;
    return ovx_signal_received() != 0 || pr->stdout_failed;
}

static void on_warning(void *user, const char *msg)
{
    printer *pr = user;
    ovx_progress_clear(&pr->progress);
    fprintf(stderr, "ovx extract: %s\n", msg);
}

int ovx_cmd_extract(int argc, char **argv)
{
    cli_opts c;
    memset(&c, 0, sizeof c);
    c.p = ovx_extract_default_params();
    c.p.precision = OVX_PRECISION_AUTO; /* resolved below, once the device is known */
    c.device_arg = "auto";
    int rc = parse_options(&c, argc, argv);
    if (rc)
        return rc;
    ovx_extract_params *p = &c.p;
    if (!p->model)
        p->model = getenv("OVX_MODEL");
    if (!p->out_dir)
        return usage_error("%s", "-o DIR is required");
    if (!p->model && !p->dry_run)
        return usage_error("%s", "-m MODEL is required (or set OVX_MODEL)");
    if (c.shard_bytes && parse_size(c.shard_bytes, &p->shard_bytes))
        return usage_error("--shard-bytes: expected a size such as 500M or 4G, got '%s'", c.shard_bytes);
    if (p->format_wds && p->overwrite)
        return usage_error("%s", "--overwrite with --format wds: earlier shards would still hold the items; "
                                 "write into a new output folder");
    if (p->format_wds && p->prune)
        return usage_error("%s", "--prune with --format wds: the shards cannot drop items; write into a new "
                                 "output folder");
    if (!p->format_wds && (p->shard_items != 1000 || c.shard_bytes))
        return usage_error("%s", "--shard-items and --shard-bytes need --format wds");
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    if (!inputs) {
        fprintf(stderr, "ovx extract: out of memory\n");
        return OVX_EXIT_FAIL;
    }
    for (int i = optind; i < argc; i++) {
        if (strcmp(argv[i], "-") != 0) {
            inputs[p->n_inputs++] = argv[i];
        } else if (c.n_lists == sizeof c.lists / sizeof c.lists[0]) {
            free(inputs);
            return usage_error("%s", "too many lists");
        } else {
            c.lists[c.n_lists++] = "-";
        }
    }
    p->inputs = inputs;
    p->lists = c.lists;
    p->n_lists = c.n_lists;
    int status = OVX_EXIT_USAGE;
    printer pr;
    memset(&pr, 0, sizeof pr);
    if (optind >= argc && c.n_lists == 0) {
        usage_error("%s", "no INPUT and no --list");
        goto out;
    }

    ovx_error err;
    ovx_error_clear(&err);
    if (c.shard_spec) { /* every option checked before the device is opened */
        if (ovx_shard_parse(c.shard_spec, &p->shard_index, &p->shard_count, &err) != OVX_OK) {
            usage_error("%s", err.msg);
            goto out;
        }
    } else if (ovx_shard_from_env(&p->shard_index, &p->shard_count, &err) < 0) {
        usage_error("%s", err.msg);
        goto out;
    }

    /* the device before anything is listed or written: an unusable one fails
     * the run once, not every item */
    char device_note[1200] = "";
    if (p->dry_run) { /* loads nothing: the name is checked, the device not opened */
        if (ovx_device_parse(c.device_arg, &p->device, &err) != OVX_OK) {
            usage_error("%s", err.msg);
            goto out;
        }
    } else if ((status = ovx_cli_device_select("extract", c.device_arg, c.verbose, &p->device, device_note,
                                               sizeof device_note)) != OVX_EXIT_OK) {
        goto out;
    }
    if (device_note[0])
        fprintf(stderr, "ovx extract: %s\n", device_note);
    p->device_fallback = !strcmp(c.device_arg, "auto");
    if (!p->dry_run) /* the dry run loads nothing: auto is not measured */
        ovx_cli_precision_resolve("extract", &p->precision, &p->device, c.verbose);
    else if (p->precision == OVX_PRECISION_AUTO) /* not in the settings hash either way */
        p->precision = OVX_PRECISION_FP32;
    p->device.attention = c.attention;


    if (!p->dry_run) {
        av_log_set_level(AV_LOG_QUIET); /* errors reach the user through ovx_error, one line per file */
        ovx_signals_install();
    }
    pr.jsonl = c.jsonl;
    pr.quiet = c.quiet;
    pr.summary.out_dir = p->out_dir;
    ovx_extract_callbacks cb = {&pr, on_item, on_progress, on_should_stop, on_warning};
    ovx_extract_summary sum;
    rc = ovx_extract_run(p, &cb, &sum, &err);
    if (rc != OVX_OK)
        fprintf(stderr, "ovx extract: %s\n", err.msg);
    if (p->dry_run) {
        if ((fflush(stdout) != 0 || ferror(stdout)) && !pr.stdout_failed) {
            fprintf(stderr, "ovx extract: writing stdout: %s\n", strerror(errno));
            pr.stdout_failed = 1;
        }
        if (pr.stdout_failed && rc == OVX_OK)
            rc = OVX_EIO;
        status = rc == OVX_EUSAGE ? OVX_EXIT_USAGE : rc != OVX_OK || sum.failed ? OVX_EXIT_FAIL : OVX_EXIT_OK;
        goto out;
    }
    if (!sum.started) {
        status = rc == OVX_EUSAGE ? OVX_EXIT_USAGE : OVX_EXIT_FAIL;
        goto out;
    }
    int sig = ovx_signal_received();
    if (!c.quiet || sig)
        fprintf(stderr, "ovx extract: %s%zu done, %zu skipped, %zu failed, %zu not run, %.1f s\n",
                sig ? "interrupted: " : "", sum.done, sum.skipped, sum.failed,
                sum.items - sum.done - sum.skipped - sum.failed, sum.seconds);
    if ((!c.quiet || sig) && sum.known_failed)
        fprintf(stderr, "ovx extract: %zu known failure%s skipped, not tried again (failed before with the same "
                        "file size, mtime and settings; --retry-failed tries again)\n", sum.known_failed,
                sum.known_failed == 1 ? "" : "s");
    if (!c.quiet)
        ovx_run_summary_print(stderr, "ovx extract: ", &pr.summary, sum.done, sum.failed, sum.seconds);
    if (c.profile)
        ovx_profile_print(stderr, "ovx extract: profile: ", &sum.profile);
    if (sig)
        status = ovx_signal_exit_status(sig);
    else if (rc != OVX_OK || sum.failed || sum.log_failed || pr.stdout_failed)
        status = OVX_EXIT_FAIL;
    else
        status = OVX_EXIT_OK;
out:
    ovx_run_summary_free(&pr.summary);
    free(inputs);
    return status;
}
