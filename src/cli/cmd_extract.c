/* cmd_extract.c: `ovx extract`: options, the item list (listing, naming,
 * collisions, sharding, resume), dry runs, and the run itself (pipeline,
 * logs, progress, signals, summary, exit status). The per-item work is in
 * extract_item.c. */
#include <errno.h>
#include <getopt.h>
#include <libavutil/log.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/device_opt.h"
#include "extract/extract_item.h"
#include "extract/fingerprint.h"
#include "extract/inputs.h"
#include "extract/outlayout.h"
#include "extract/pipeline.h"
#include "cli/progress.h"
#include "extract/resume.h"
#include "extract/runlog.h"
#include "extract/shard.h"
#include "cli/signals.h"
#include "extract/strmap.h"
#include "extract/wds.h"
#include "common/threads.h"
#include "common/timer.h"
#include "model/model.h"
#include "select/select.h"

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
        "                         hidden entries skipped, symlink loops visited once)\n"
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
        "                         CUDA: packed without padding; CPU: one after the\n"
        "                         other, byte-identical to --batch 1; not in the\n"
        "                         settings hash)\n"
        "  --device DEV           auto (default: CUDA device 0 when usable, else the CPU,\n"
        "                         saying so once), cpu, cuda (= cuda:0) or cuda:N; a\n"
        "                         device that cannot be used fails the run (exit 1)\n"
        "                         before any item\n"
        "  --quiet                no progress and no summary (errors still printed)\n"
        "\n"
        "Resume: an item whose REL.json has the same settings hash (options + model\n"
        "content fingerprint, not its path) and whose files\n"
        "match their recorded dtype and shape is skipped; leftover temp files of its\n"
        "outputs are removed. The device is not part of the hash: CPU (float32) and\n"
        "CUDA (bf16 GEMMs, ~1e-3 relative difference) outputs are both valid results,\n"
        "so a run resumed on another device skips finished items (REL.json records\n"
        "the device). Every file is written to a temp name, fsync'd and\n"
        "renamed; REL.json last. DIR/failures.jsonl gets {path,rel,stage,error} per\n"
        "failed item, DIR/manifest.jsonl one line per finished item.\n"
        "With --format wds an item is done once its shard is complete: resume skips\n"
        "the items of complete shards with the run's settings hash and redoes those\n"
        "of a shard a killed run left under its temp name (removed when its process\n"
        "is gone); manifest and --jsonl lines come when the shard is complete.\n"
        "SIGINT/SIGTERM: the current item is finished or dropped, the summary is\n"
        "written, exit 130/143 (a second signal stops at once).\n"
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

enum {
    OPT_LIST = 1000, OPT_EXT, OPT_LABELS, OPT_LABEL_FROM_DIR, OPT_SAMPLING, OPT_FRAMES, OPT_TOKENS,
    OPT_VIEWS, OPT_NATIVE, OPT_HIDDEN, OPT_DTYPE, OPT_POOLED_ONLY, OPT_SAVE_PIXELS, OPT_OVERWRITE,
    OPT_SHARD, OPT_DRY_RUN, OPT_JSONL, OPT_DECODE_THREADS, OPT_THREADS, OPT_QUIET, OPT_MAX_CORRUPT,
    OPT_MV_SOURCE, OPT_IFRAME_POLICY, OPT_FPS, OPT_START, OPT_DURATION, OPT_DEVICE, OPT_BATCH,
    OPT_FORMAT, OPT_SHARD_ITEMS, OPT_SHARD_BYTES
};

static const struct option long_opts[] = {
    {"model", required_argument, NULL, 'm'},
    {"output", required_argument, NULL, 'o'},
    {"list", required_argument, NULL, OPT_LIST},
    {"ext", required_argument, NULL, OPT_EXT},
    {"labels", required_argument, NULL, OPT_LABELS},
    {"label-from-dir", no_argument, NULL, OPT_LABEL_FROM_DIR},
    {"sampling", required_argument, NULL, OPT_SAMPLING},
    {"frames", required_argument, NULL, OPT_FRAMES},
    {"tokens", required_argument, NULL, OPT_TOKENS},
    {"views", required_argument, NULL, OPT_VIEWS},
    {"native", no_argument, NULL, OPT_NATIVE},
    {"hidden-state", required_argument, NULL, OPT_HIDDEN},
    {"dtype", required_argument, NULL, OPT_DTYPE},
    {"pooled-only", no_argument, NULL, OPT_POOLED_ONLY},
    {"save-pixels", no_argument, NULL, OPT_SAVE_PIXELS},
    {"overwrite", no_argument, NULL, OPT_OVERWRITE},
    {"shard", required_argument, NULL, OPT_SHARD},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"jsonl", no_argument, NULL, OPT_JSONL},
    {"decode-threads", required_argument, NULL, OPT_DECODE_THREADS},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"max-corrupt", required_argument, NULL, OPT_MAX_CORRUPT},
    {"mv-source", required_argument, NULL, OPT_MV_SOURCE},
    {"iframe-policy", required_argument, NULL, OPT_IFRAME_POLICY},
    {"fps", required_argument, NULL, OPT_FPS},
    {"start", required_argument, NULL, OPT_START},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"device", required_argument, NULL, OPT_DEVICE},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"shard-items", required_argument, NULL, OPT_SHARD_ITEMS},
    {"shard-bytes", required_argument, NULL, OPT_SHARD_BYTES},
    {NULL, 0, NULL, 0},
};

static int usage_error(const char *fmt, const char *a)
{
    fprintf(stderr, "ovx extract: ");
    fprintf(stderr, fmt, a);
    fprintf(stderr, " (see ovx help extract)\n");
    return OVX_EXIT_USAGE;
}

static int parse_int_opt(const char *name, const char *s, long lo, long hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) {
        fprintf(stderr, "ovx extract: %s: expected an integer in %ld..%ld, got '%s'\n", name, lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_real_opt(const char *name, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "ovx extract: %s: expected a number in %g..%g, got '%s'\n", name, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* "123", "500K", "64M", "4G", "1T" (powers of 1024) -> bytes, >= 1. */
static int parse_size(const char *s, unsigned long long *out)
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

static int name_index(const char *s, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

/* Item states after planning. */
enum { ACT_EXTRACT = 0, ACT_SKIP, ACT_FAIL };

typedef struct plan_item {
    ovx_extract_job job;
    int action;
    const char *stage;    /* ACT_FAIL */
    char *error;          /* ACT_FAIL, malloc'd */
    cJSON *record;        /* ACT_SKIP (not in dry runs): its manifest line */
} plan_item;

typedef struct run_state {
    ovx_extract_ctx ctx;
    plan_item *plan;      /* items of this shard */
    size_t n_plan;
    size_t *todo;         /* indices into plan of ACT_EXTRACT items */
    size_t n_todo;
    ovx_runlog log;
    ovx_progress progress;
    int jsonl, quiet;
    size_t done, failed, skipped;
    int batch;            /* --batch: items per forward */
    size_t *pend_index;   /* [batch] pipeline indices of the items waiting for a batch */
    ovx_prepared **pend;  /* [batch] their prepared data */
    size_t n_pend;
} run_state;

static void set_fail(plan_item *p, const char *stage, const char *msg)
{
    p->action = ACT_FAIL;
    p->stage = stage;
    free(p->error);
    p->error = strdup(msg ? msg : "unknown error");
}

static void report_failure(run_state *rs, const plan_item *p, const char *stage, const char *msg)
{
    ovx_error err;
    ovx_progress_clear(&rs->progress);
    fprintf(stderr, "ovx extract: %s: %s\n", p->job.in->path, msg);
    if (ovx_runlog_failure(&rs->log, p->job.in->path, p->job.in->rel, stage, msg, &err) != OVX_OK)
        fprintf(stderr, "ovx extract: %s\n", err.msg);
    if (rs->jsonl) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "status", "failed");
        cJSON_AddStringToObject(o, "path", p->job.in->path);
        cJSON_AddStringToObject(o, "rel", p->job.in->rel);
        cJSON_AddStringToObject(o, "stage", stage);
        cJSON_AddStringToObject(o, "error", msg);
        ovx_jsonl_emit(o);
        cJSON_Delete(o);
    }
    rs->failed++;
}

static void free_plan(run_state *rs)
{
    for (size_t i = 0; i < rs->n_plan; i++) {
        free(rs->plan[i].error);
        cJSON_Delete(rs->plan[i].record);
    }
    free(rs->plan);
    free(rs->todo);
    free(rs->pend_index);
    free(rs->pend);
}

static void *pipe_prepare(void *vctx, size_t i)
{
    run_state *rs = vctx;
    return ovx_extract_prepare(&rs->ctx, &rs->plan[rs->todo[i]].job);
}

/* A finished item: its manifest line (taken), --jsonl record, count.
 * seconds < 0: not known. */
static void item_done(run_state *rs, cJSON *record, double seconds)
{
    ovx_error lerr;
    if (ovx_runlog_manifest(&rs->log, record, &lerr) != OVX_OK) {
        ovx_progress_clear(&rs->progress);
        fprintf(stderr, "ovx extract: %s\n", lerr.msg);
    }
    if (rs->jsonl) {
        cJSON *o = cJSON_Duplicate(record, 1);
        cJSON_AddStringToObject(o, "status", "done");
        if (seconds >= 0)
            cJSON_AddNumberToObject(o, "seconds", seconds);
        ovx_jsonl_emit(o);
        cJSON_Delete(o);
    }
    cJSON_Delete(record);
    rs->done++;
}

/* --format wds: a shard is complete, its items are done. */
static void wds_committed(void *user, cJSON *record)
{
    item_done(user, record, -1);
}

/* --format wds: a shard could not be completed: its items failed. */
static void wds_lost(void *user, const cJSON *record, const char *error)
{
    run_state *rs = user;
    ovx_input in = {0};
    in.path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(record, "path"));
    in.rel = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(record, "rel"));
    plan_item p = {.job = {.in = &in}};
    if (in.path && in.rel)
        report_failure(rs, &p, "write", error);
}

/* Model + outputs of one item whose batch has run (or not: then alone). */
static void finish_item(run_state *rs, size_t i, ovx_prepared *vp)
{
    plan_item *p = &rs->plan[rs->todo[i]];
    double t0 = ovx_now_ms();
    cJSON *record = NULL;
    const char *stage = "internal";
    ovx_error err;
    ovx_error_clear(&err);
    int rc;
    double prep_s = ovx_prepared_seconds(vp);
    if (!vp) {
        rc = ovx_error_set(&err, OVX_ENOMEM, "out of memory");
    } else {
        rc = ovx_extract_finish(&rs->ctx, &p->job, vp, &record, &stage, &err);
        ovx_prepared_free(vp);
    }
    if (rc != OVX_OK) {
        report_failure(rs, p, stage, err.msg);
        ovx_progress_step(&rs->progress, 1);
        return;
    }
    if (record) /* else --format wds: reported when its shard is complete */
        item_done(rs, record, prep_s + (ovx_now_ms() - t0) / 1000.0);
    ovx_progress_step(&rs->progress, 0);
}

/* Items are held until --batch of them (or the last one) are prepared, then
 * one forward runs over all of them and they finish in index order. */
static void pipe_consume(void *vctx, size_t i, void *vp)
{
    run_state *rs = vctx;
    rs->pend_index[rs->n_pend] = i;
    rs->pend[rs->n_pend++] = vp;
    if (rs->n_pend < (size_t)rs->batch && i + 1 < rs->n_todo)
        return;
    ovx_extract_model_batch(&rs->ctx, rs->pend, rs->n_pend);
    for (size_t k = 0; k < rs->n_pend; k++)
        finish_item(rs, rs->pend_index[k], rs->pend[k]);
    rs->n_pend = 0;
}

static void pipe_discard(void *vctx, void *vp)
{
    (void)vctx;
    ovx_prepared_free(vp);
}

static int pipe_should_stop(void *vctx)
{
    (void)vctx;
    return ovx_signal_received() != 0;
}

/* Canonical settings string: everything that changes the outputs. The model
 * enters by its fingerprint, not its path, so a copy elsewhere resumes. */
static void settings_string(ovx_extract_opts *o)
{
    char hidden[32] = "none";
    if (o->hidden_index != OVX_NO_HIDDEN_STATE)
        snprintf(hidden, sizeof hidden, "%d", o->hidden_index);
    snprintf(o->settings_str, sizeof o->settings_str,
             "model=%s;sampling=%s;frames=%d;tokens=%d;views=%d;native=%d;dtype=%s;hidden=%s;"
             "pooled_only=%d;save_pixels=%d;mv_source=%d;iframe_policy=%d;fps=%.17g;start=%.17g;"
             "duration=%.17g",
             o->model_fingerprint, o->uniform ? "uniform" : "codec", o->frames, o->tokens, o->views, o->native,
             o->dtype == OVX_DTYPE_F16 ? "float16" : o->dtype == OVX_DTYPE_BF16 ? "bfloat16" : "float32", hidden, o->pooled_only, o->save_pixels,
             o->mv_source, o->iframe_policy, o->fps, o->start, o->duration);
    snprintf(o->settings_hash, sizeof o->settings_hash, "%016llx",
             (unsigned long long)ovx_fnv1a64(o->settings_str, strlen(o->settings_str)));
}

/* Registers every output path of a job; returns the path of an earlier item
 * owning one of them (possibly the same path listed twice), or NULL. */
static const char *claim_outputs(ovx_strmap *owners, const ovx_extract_job *job, const ovx_extract_opts *o)
{
    char path[4200];
    const ovx_out_kind kinds[] = {OVX_OUT_TOKENS, OVX_OUT_POOLED, OVX_OUT_HIDDEN, OVX_OUT_JSON};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        if (kinds[k] == OVX_OUT_HIDDEN && o->hidden_index == OVX_NO_HIDDEN_STATE)
            continue;
        if (ovx_out_path(job->base, kinds[k], o->hidden_index, path, sizeof path, NULL) != OVX_OK)
            continue;
        const char *owner = NULL;
        if (ovx_strmap_get(owners, path, &owner) && owner)
            return owner;
    }
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        if (ovx_out_path(job->base, kinds[k], o->hidden_index, path, sizeof path, NULL) == OVX_OK)
            ovx_strmap_put(owners, path, job->in->path);
    return NULL;
}

int ovx_cmd_extract(int argc, char **argv)
{
    ovx_extract_opts o;
    memset(&o, 0, sizeof o);
    o.frames = -1;
    o.tokens = 4096;
    o.views = 1;
    o.dtype = OVX_DTYPE_F32;
    o.hidden_index = OVX_NO_HIDDEN_STATE;
    o.select_threads = 1;
    o.max_corrupt = -1;
    {
        ovx_select_params sd = ovx_select_default_params();
        o.mv_source = (int)sd.mv_source;
        o.iframe_policy = (int)sd.iframe_policy;
    }
    const char *ext_csv = OVX_DEFAULT_EXTS, *labels_csv = NULL, *shard_spec = NULL;
    const char *lists[64];
    int n_lists = 0, label_from_dir = 0, overwrite = 0, dry_run = 0, jsonl = 0, quiet = 0;
    int decode_threads = 1, model_threads = 0, batch = 1;
    int wds = 0, shard_items = 1000;    /* --format wds */
    unsigned long long shard_bytes = 0;
    const char *device_arg = "auto";

    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":m:o:", long_opts, NULL)) != -1) {
        switch (c) {
        case 'm': o.model_arg = optarg; break;
        case 'o': o.out_dir = optarg; break;
        case OPT_LIST:
            if (n_lists == 64)
                return usage_error("%s", "too many --list options");
            lists[n_lists++] = optarg;
            break;
        case OPT_EXT: ext_csv = optarg; break;
        case OPT_LABELS: labels_csv = optarg; break;
        case OPT_LABEL_FROM_DIR: label_from_dir = 1; break;
        case OPT_SAMPLING:
            if (!strcmp(optarg, "uniform"))
                o.uniform = 1;
            else if (!strcmp(optarg, "codec"))
                o.uniform = 0;
            else
                return usage_error("--sampling: expected codec or uniform, got '%s'", optarg);
            break;
        case OPT_FRAMES:
            if (parse_int_opt("--frames", optarg, 1, 64, &o.frames))
                return OVX_EXIT_USAGE;
            break;
        case OPT_TOKENS:
            if (parse_int_opt("--tokens", optarg, 1, 64 * 256, &o.tokens))
                return OVX_EXIT_USAGE;
            break;
        case OPT_VIEWS:
            if (parse_int_opt("--views", optarg, 1, 64, &o.views))
                return OVX_EXIT_USAGE;
            break;
        case OPT_NATIVE: o.native = 1; break;
        case OPT_HIDDEN:
            if (parse_int_opt("--hidden-state", optarg, -1000, 1000, &o.hidden_index))
                return OVX_EXIT_USAGE;
            break;
        case OPT_DTYPE:
            if (!strcmp(optarg, "f32") || !strcmp(optarg, "float32"))
                o.dtype = OVX_DTYPE_F32;
            else if (!strcmp(optarg, "f16") || !strcmp(optarg, "float16"))
                o.dtype = OVX_DTYPE_F16;
            else if (!strcmp(optarg, "bf16") || !strcmp(optarg, "bfloat16"))
                o.dtype = OVX_DTYPE_BF16;
            else
                return usage_error("--dtype: expected f32, f16 or bf16, got '%s'", optarg);
            break;
        case OPT_POOLED_ONLY: o.pooled_only = 1; break;
        case OPT_SAVE_PIXELS: o.save_pixels = 1; break;
        case OPT_OVERWRITE: overwrite = 1; break;
        case OPT_SHARD: shard_spec = optarg; break;
        case OPT_DRY_RUN: dry_run = 1; break;
        case OPT_JSONL: jsonl = 1; break;
        case OPT_DECODE_THREADS:
            if (parse_int_opt("--decode-threads", optarg, 0, 256, &decode_threads))
                return OVX_EXIT_USAGE;
            break;
        case OPT_THREADS:
            if (parse_int_opt("--threads", optarg, 0, 4096, &model_threads))
                return OVX_EXIT_USAGE;
            break;
        case OPT_QUIET: quiet = 1; break;
        case OPT_MAX_CORRUPT:
            if (parse_real_opt("--max-corrupt", optarg, 0, 1, &o.max_corrupt))
                return OVX_EXIT_USAGE;
            break;
        case OPT_FPS:
            if (parse_real_opt("--fps", optarg, 1e-6, 1000, &o.fps))
                return OVX_EXIT_USAGE;
            break;
        case OPT_START:
            if (parse_real_opt("--start", optarg, 0, 1e9, &o.start))
                return OVX_EXIT_USAGE;
            break;
        case OPT_DURATION:
            if (parse_real_opt("--duration", optarg, 1e-6, 1e9, &o.duration))
                return OVX_EXIT_USAGE;
            break;
        case OPT_MV_SOURCE:
            if ((o.mv_source = name_index(optarg, mv_source_names)) < 0)
                return usage_error("--mv-source: expected auto, codec or estimate, got '%s'", optarg);
            break;
        case OPT_IFRAME_POLICY:
            if ((o.iframe_policy = name_index(optarg, iframe_policy_names)) < 0)
                return usage_error("--iframe-policy: expected first, dense, zero or compete, got '%s'", optarg);
            break;
        case OPT_DEVICE: device_arg = optarg; break;
        case OPT_BATCH:
            if (parse_int_opt("--batch", optarg, 1, 256, &batch))
                return OVX_EXIT_USAGE;
            break;
        case OPT_FORMAT:
            if (!strcmp(optarg, "wds"))
                wds = 1;
            else if (!strcmp(optarg, "files"))
                wds = 0;
            else
                return usage_error("--format: expected files or wds, got '%s'", optarg);
            break;
        case OPT_SHARD_ITEMS:
            if (parse_int_opt("--shard-items", optarg, 1, 100000000, &shard_items))
                return OVX_EXIT_USAGE;
            break;
        case OPT_SHARD_BYTES:
            if (parse_size(optarg, &shard_bytes))
                return usage_error("--shard-bytes: expected a size such as 500M or 4G, got '%s'", optarg);
            break;
        case ':': return usage_error("%s needs a value", argv[optind - 1]);
        default: return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (wds && overwrite)
        return usage_error("%s", "--overwrite with --format wds: earlier shards would still hold the items; "
                                 "write into a new output folder");
    if (!wds && (shard_items != 1000 || shard_bytes))
        return usage_error("%s", "--shard-items and --shard-bytes need --format wds");
    if (o.frames < 0)
        o.frames = o.uniform ? 16 : 64;
    /* pool workers decode single-threaded beside the model; without a pool
     * the decode has the machine to itself */
    o.select_threads = decode_threads > 0 ? 1 : (model_threads > 0 ? model_threads : ovx_default_threads());
    if (!o.model_arg)
        o.model_arg = getenv("OVX_MODEL");
    if (!o.out_dir)
        return usage_error("%s", "-o DIR is required");
    if (!o.model_arg && !dry_run)
        return usage_error("%s", "-m MODEL is required (or set OVX_MODEL)");
    for (int i = optind; i < argc; i++)
        if (!strcmp(argv[i], "-")) {
            if (n_lists == 64)
                return usage_error("%s", "too many lists");
            lists[n_lists++] = "-";
        }
    if (optind >= argc && n_lists == 0)
        return usage_error("%s", "no INPUT and no --list");

    /* the device before anything is listed or written: an unusable one fails
     * the run once, not every item */
    ovx_device device = {OVX_DEVICE_CPU, 0};
    char device_note[600] = "";
    if (dry_run) { /* loads nothing: the name is checked, the device not opened */
        ovx_error derr;
        if (ovx_device_parse(device_arg, &device, &derr) != OVX_OK)
            return usage_error("%s", derr.msg);
    } else {
        int drc = ovx_cli_device_select("extract", device_arg, &device, device_note, sizeof device_note);
        if (drc != OVX_EXIT_OK)
            return drc;
    }
    if (device_note[0])
        fprintf(stderr, "ovx extract: %s\n", device_note);

    int shard_i = 0, shard_n = 1;
    ovx_error err;
    ovx_error_clear(&err);
    if (shard_spec) {
        if (ovx_shard_parse(shard_spec, &shard_i, &shard_n, &err) != OVX_OK)
            return usage_error("%s", err.msg);
    } else if (ovx_shard_from_env(&shard_i, &shard_n, &err) < 0) {
        return usage_error("%s", err.msg);
    }

    /* the model folder (for the settings hash) without loading it */
    if (o.model_arg) {
        if (ovx_model_resolve(o.model_arg, o.model_dir, sizeof o.model_dir, &err) != OVX_OK) {
            if (!dry_run) {
                fprintf(stderr, "ovx extract: %s\n", err.msg);
                return OVX_EXIT_FAIL;
            }
            snprintf(o.model_dir, sizeof o.model_dir, "%s", o.model_arg);
        }
        char real[PATH_MAX];
        if (realpath(o.model_dir, real))
            snprintf(o.model_dir, sizeof o.model_dir, "%s", real);
        uint64_t fp = 0;
        if (ovx_model_fingerprint(o.model_dir, &fp, &err) != OVX_OK && !dry_run) {
            fprintf(stderr, "ovx extract: %s\n", err.msg);
            return OVX_EXIT_FAIL;
        }
        snprintf(o.model_fingerprint, sizeof o.model_fingerprint, "%016llx", (unsigned long long)fp);
    }
    settings_string(&o);

    /* list */
    ovx_ext_filter filter;
    if (ovx_ext_filter_parse(&filter, ext_csv, &err) != OVX_OK)
        return usage_error("%s", err.msg);
    ovx_input_list inputs = {0};
    int rc = OVX_OK;
    for (int i = optind; rc == OVX_OK && i < argc; i++)
        if (strcmp(argv[i], "-") != 0)
            rc = ovx_inputs_add_arg(&inputs, argv[i], &filter, &err);
    for (int i = 0; rc == OVX_OK && i < n_lists; i++)
        rc = ovx_inputs_add_list(&inputs, lists[i], &filter, &err);
    if (rc == OVX_OK && labels_csv)
        rc = ovx_inputs_apply_labels(&inputs, labels_csv, &err);
    if (rc == OVX_OK && label_from_dir)
        rc = ovx_inputs_label_from_dir(&inputs, &err);
    ovx_ext_filter_free(&filter);
    if (rc != OVX_OK) {
        fprintf(stderr, "ovx extract: %s\n", err.msg);
        ovx_inputs_free(&inputs);
        return rc == OVX_EUSAGE ? OVX_EXIT_USAGE : OVX_EXIT_FAIL;
    }

    /* plan: names and collisions over the whole list (so shards agree), then the shard */
    run_state rs;
    memset(&rs, 0, sizeof rs);
    rs.ctx.opts = &o;
    rs.jsonl = jsonl;
    rs.quiet = quiet;
    rs.plan = calloc(inputs.n ? inputs.n : 1, sizeof *rs.plan);
    rs.todo = calloc(inputs.n ? inputs.n : 1, sizeof *rs.todo);
    rs.batch = batch;
    rs.pend_index = calloc((size_t)batch, sizeof *rs.pend_index);
    rs.pend = calloc((size_t)batch, sizeof *rs.pend);
    if (!rs.plan || !rs.todo || !rs.pend_index || !rs.pend) {
        fprintf(stderr, "ovx extract: out of memory\n");
        return OVX_EXIT_FAIL;
    }
    ovx_strmap owners = {0};
    for (size_t i = 0; i < inputs.n; i++) {
        const ovx_input *in = &inputs.items[i];
        plan_item p = {.job = {.in = in}, .action = ACT_EXTRACT};
        ovx_error e;
        if (in->error) {
            set_fail(&p, "input", in->error);
        } else if (ovx_out_base(o.out_dir, in->rel, p.job.base, sizeof p.job.base, &e) != OVX_OK) {
            set_fail(&p, "input", e.msg);
        } else {
            const char *owner = claim_outputs(&owners, &p.job, &o);
            if (owner) {
                char msg[9000];
                if (snprintf(msg, sizeof msg, "its outputs (%s.*) collide with those of %s", p.job.base, owner) >= (int)sizeof msg)
                    snprintf(msg, sizeof msg, "its outputs collide with those of another input");
                set_fail(&p, "input", msg);
            }
        }
        if (!ovx_shard_take(in->rel, shard_i, shard_n)) {
            free(p.error);
            continue;
        }
        rs.plan[rs.n_plan++] = p;
    }
    ovx_strmap_free(&owners);

    ovx_strmap wds_done = {0}; /* --format wds: rel -> manifest line of items in complete shards */
    if (wds) {
        int bad = 0;
        if (ovx_wds_index(o.out_dir, o.settings_hash, &wds_done, &bad, &err) != OVX_OK) {
            fprintf(stderr, "ovx extract: %s\n", err.msg);
            ovx_strmap_free(&wds_done);
            free_plan(&rs);
            ovx_inputs_free(&inputs);
            return OVX_EXIT_FAIL;
        }
        if (bad && !quiet)
            fprintf(stderr, "ovx extract: %d shard(s) in %s/shards could not be read; their items are redone\n",
                    bad, o.out_dir);
    }
    for (size_t i = 0; i < rs.n_plan; i++) {
        plan_item *p = &rs.plan[i];
        if (p->action != ACT_EXTRACT)
            continue;
        const char *line = NULL;
        if (wds) {
            if (ovx_strmap_get(&wds_done, p->job.in->rel, &line)) {
                p->action = ACT_SKIP;
                if (!dry_run)
                    p->record = cJSON_Parse(line);
            }
            continue;
        }
        cJSON *j = NULL;
        if (!overwrite && ovx_resume_check(p->job.base, o.settings_hash, dry_run ? NULL : &j, NULL, 0)) {
            p->action = ACT_SKIP;
            if (j)
                p->record = ovx_extract_manifest_from_json(j);
        }
        cJSON_Delete(j);
    }
    ovx_strmap_free(&wds_done);

    if (dry_run) {
        static const char *const names[] = {"extract", "skip", "fail"};
        int any_fail = 0;
        for (size_t i = 0; i < rs.n_plan; i++) {
            plan_item *p = &rs.plan[i];
            any_fail |= p->action == ACT_FAIL;
            if (jsonl) {
                cJSON *j = cJSON_CreateObject();
                cJSON_AddStringToObject(j, "path", p->job.in->path);
                cJSON_AddStringToObject(j, "rel", p->job.in->rel);
                cJSON_AddStringToObject(j, "action", names[p->action]);
                if (p->action == ACT_FAIL)
                    cJSON_AddStringToObject(j, "error", p->error);
                ovx_jsonl_emit(j);
                cJSON_Delete(j);
            } else {
                printf("%s\t%s\n", names[p->action], p->job.in->path);
            }
        }
        fflush(stdout);
        free_plan(&rs);
        ovx_inputs_free(&inputs);
        return any_fail ? OVX_EXIT_FAIL : OVX_EXIT_OK;
    }

    double t0 = ovx_now_ms();
    av_log_set_level(AV_LOG_QUIET); /* errors reach the user through ovx_error, one line per file */
    ovx_signals_install();
    if (ovx_runlog_open(&rs.log, o.out_dir, &err) != OVX_OK) {
        fprintf(stderr, "ovx extract: %s\n", err.msg);
        return OVX_EXIT_FAIL;
    }
    ovx_strmap bases = {0};
    for (size_t i = 0; i < rs.n_plan && !wds; i++)
        if (rs.plan[i].action != ACT_FAIL)
            ovx_strmap_put(&bases, rs.plan[i].job.base, NULL);
    ovx_resume_clean_temps_all(&bases);
    ovx_strmap_free(&bases);
    for (size_t i = 0; i < rs.n_plan; i++) {
        plan_item *p = &rs.plan[i];
        if (p->action == ACT_FAIL) {
            report_failure(&rs, p, p->stage, p->error);
            continue;
        }
        if (p->action == ACT_SKIP) {
            rs.skipped++;
            cJSON *rec = p->record;
            p->record = NULL;
            if (rec) {
                /* a killed run may have finished the outputs but not this line */
                ovx_error lerr;
                if (ovx_runlog_manifest(&rs.log, rec, &lerr) != OVX_OK)
                    fprintf(stderr, "ovx extract: %s\n", lerr.msg);
                if (jsonl) {
                    cJSON_AddStringToObject(rec, "status", "skipped");
                    ovx_jsonl_emit(rec);
                }
                cJSON_Delete(rec);
            }
            continue;
        }
        rs.todo[rs.n_todo++] = i;
    }

    int status = OVX_EXIT_OK;
    if (rs.n_todo) {
        ovx_model_params mp = ovx_model_default_params();
        mp.threads = model_threads;
        ovx_model *model = NULL;
        if (ovx_model_load(o.model_dir, &mp, &model, &err) != OVX_OK) {
            fprintf(stderr, "ovx extract: %s\n", err.msg);
            status = OVX_EXIT_FAIL;
        } else if (ovx_model_get_config(model)->patch_size != OVX_SELECT_PATCH ||
                   ovx_model_get_config(model)->num_channels != 3) {
            /* the selection grid is 16x16 patches of 14 pixels on 224x224 RGB frames */
            fprintf(stderr, "ovx extract: %s: patch size %d with %d channels; ovx extract needs 14 and 3\n",
                    o.model_dir, ovx_model_get_config(model)->patch_size, ovx_model_get_config(model)->num_channels);
            ovx_model_free(model);
            status = OVX_EXIT_FAIL;
        } else {
            ovx_model_info info;
            ovx_model_get_info(model, &info);
            snprintf(rs.ctx.model_checksum, sizeof rs.ctx.model_checksum, "%016llx",
                     (unsigned long long)info.checksum);
            rs.ctx.model = model;
            ovx_device_str(&device, rs.ctx.device, sizeof rs.ctx.device);
            if (ovx_engine_open(model, &device, &rs.ctx.engine, &err) != OVX_OK) {
                fprintf(stderr, "ovx extract: %s\n", err.msg);
                ovx_model_free(model);
                rs.ctx.model = NULL;
                status = OVX_EXIT_FAIL;
                goto summary;
            }
            ovx_wds_params wp = {.out_dir = o.out_dir, .task = shard_i, .shard_items = shard_items,
                                 .shard_bytes = shard_bytes, .user = &rs, .committed = wds_committed,
                                 .lost = wds_lost};
            if (wds && ovx_wds_open(&rs.ctx.wds, &wp, &err) != OVX_OK) {
                fprintf(stderr, "ovx extract: %s\n", err.msg);
                status = OVX_EXIT_FAIL;
            } else {
                ovx_progress_init(&rs.progress, rs.n_todo, quiet);
                ovx_pipeline_ops ops = {pipe_prepare, pipe_consume, pipe_discard, pipe_should_stop};
                ovx_pipeline_run(rs.n_todo, decode_threads, decode_threads + 1, &ops, &rs);
                for (size_t k = 0; k < rs.n_pend; k++) /* stopped by a signal: a partial batch is dropped */
                    ovx_prepared_free(rs.pend[k]);
                rs.n_pend = 0;
                /* the last shard is complete too (also when stopped by a signal) */
                if (ovx_wds_close(rs.ctx.wds, &err) != OVX_OK)
                    fprintf(stderr, "ovx extract: %s\n", err.msg);
                rs.ctx.wds = NULL;
                ovx_progress_end(&rs.progress);
            }
            ovx_engine_free(rs.ctx.engine);
            rs.ctx.engine = NULL;
            ovx_model_free(model);
            rs.ctx.model = NULL;
        }
    }
summary:;
    int sig = ovx_signal_received();
    if (!quiet || sig)
        fprintf(stderr, "ovx extract: %s%zu done, %zu skipped, %zu failed, %zu not run, %.1f s\n",
                sig ? "interrupted: " : "", rs.done, rs.skipped, rs.failed,
                rs.n_plan - rs.done - rs.skipped - rs.failed,
                (ovx_now_ms() - t0) / 1000.0);
    if (sig)
        status = ovx_signal_exit_status(sig);
    else if (rs.failed)
        status = OVX_EXIT_FAIL;
    ovx_runlog_close(&rs.log);
    free_plan(&rs);
    ovx_inputs_free(&inputs);
    return status;
}
