/* run.c: ovx_extract_run: model folder and fingerprint, listing, the plan,
 * then the run itself: logs, temp cleanup, model + engine, the pipeline
 * (prepare ahead on workers, forward in batches, write), callbacks. */
#include "extract/extract.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/threads.h"
#include "common/timer.h"
#include "io/atomic_file.h"
#include "io/json_utf8.h"
#include "extract/claim.h"
#include "extract/extract_item.h"
#include "extract/fingerprint.h"
#include "extract/inputs.h"
#include "extract/known_fail.h"
#include "extract/pipeline.h"
#include "extract/plan.h"
#include "extract/resume.h"
#include "extract/runlog.h"
#include "extract/runtmp.h"
#include "extract/strmap.h"
#include "model/config.h"
#include "extract/wds.h"
#include "model/model.h"
#include "select/select.h"
#include "video/netio.h"

ovx_extract_params ovx_extract_default_params(void)
{
    ovx_select_params sd = ovx_select_default_params();
    ovx_extract_params p;
    memset(&p, 0, sizeof p);
    p.exts = OVX_DEFAULT_EXTS;
    p.frames = -1;
    p.tokens = 4096;
    p.views = 1;
    p.max_tokens = 16384;
    p.hidden_index = OVX_NO_HIDDEN_STATE;
    p.dtype = OVX_DTYPE_F32;
    p.max_corrupt = -1;
    p.mv_source = (int)sd.mv_source;
    p.iframe_policy = (int)sd.iframe_policy;
    p.shard_count = 1;
    p.decode_threads = 1;
    p.batch = 1;
    p.shard_items = 1000;
    p.device.kind = OVX_DEVICE_CPU;
    return p;
}

typedef struct run_state {
    ovx_extract_ctx ctx;
    const ovx_extract_params *prm;
    const ovx_extract_callbacks *cb;
    ovx_plan plan;
    size_t key_off;       /* a base minus its first key_off bytes: its key (relative to DIR) */
    size_t *todo;         /* indices into plan of OVX_ACT_EXTRACT items */
    size_t n_todo;
    size_t *list;         /* the pass running: todo, then deferred */
    size_t n_list;
    size_t *deferred;     /* items another process held in the first pass */
    size_t n_deferred;
    int wait_claims;      /* second pass: wait for held items */
    ovx_runlog log;
    ovx_extract_summary *sum;
    int batch;            /* items per forward */
    struct run_item **pend; /* [batch] the items waiting for a batch */
    size_t n_pend;
    struct run_item **fly;  /* [batch] the items of the batch in flight */
    size_t n_fly;
    ovx_extract_batch *fly_batch; /* its forward (submitted, not collected) */
    int overlap;           /* a batch may stay in flight (CUDA; OVX_CUDA_OVERLAP=0: never) */
    ovx_error device_lost; /* the CUDA device failed for good: the run stops */
    int precision;         /* the CPU forward's (OVX_PRECISION_*) */
    /* --format wds: the claims of the items written into the open shard,
     * held until it is complete (by tar key), and the complete shards seen,
     * read again after each claim (another run may have completed the item) */
    ovx_claim *held;
    char **held_keys;
    size_t n_held, cap_held;
    pthread_mutex_t wds_mu;
    ovx_strmap wds_done, wds_seen;
} run_state;

/* One item through the pipeline: its claim and prepared data. */
enum { RI_PREPARED = 0, RI_BUSY, RI_DONE_ELSEWHERE, RI_CLAIM_FAILED };
typedef struct run_item {
    size_t plan_index;
    int state;
    ovx_claim claim;
    ovx_prepared *prep;   /* RI_PREPARED */
    cJSON *record;        /* RI_DONE_ELSEWHERE: its manifest line */
    ovx_error err;        /* RI_CLAIM_FAILED */
} run_item;

static void run_item_free(run_item *ri)
{
    if (!ri)
        return;
    ovx_claim_release(&ri->claim);
    ovx_prepared_free(ri->prep);
    cJSON_Delete(ri->record);
    free(ri);
}

static void warn(run_state *rs, const char *msg)
{
    if (rs->cb->warning)
        rs->cb->warning(rs->cb->user, msg);
}

static void log_error(run_state *rs, const ovx_error *e)
{
    rs->sum->log_failed = 1;
    warn(rs, e->msg);
}

static void emit(run_state *rs, const ovx_extract_item *it)
{
    if (rs->cb->item)
        rs->cb->item(rs->cb->user, it);
}

static void progress(run_state *rs, ovx_extract_event ev, int item_failed)
{
    if (!rs->cb->progress)
        return;
    ovx_extract_progress p = {ev, rs->n_todo, rs->sum->done, rs->sum->failed, item_failed};
    rs->cb->progress(rs->cb->user, &p);
}

static int stop_requested(run_state *rs)
{
    return rs->cb->should_stop && rs->cb->should_stop(rs->cb->user);
}

static const char *item_key(const run_state *rs, const ovx_plan_item *p)
{
    return p->job.base + rs->key_off;
}

static void report_failure(run_state *rs, const ovx_plan_item *p, const char *stage, const char *msg)
{
    cJSON *line = ovx_failure_line(p->job.in->path, p->job.in->rel, stage, msg, &p->ident, rs->plan.fail_settings);
    ovx_extract_item it = {.status = OVX_ITEM_FAILED, .path = p->job.in->path, .rel = p->job.in->rel,
                           .stage = stage, .error = msg, .record = line};
    emit(rs, &it);
    ovx_error err;
    if (!line)
        ovx_error_set(&err, OVX_ENOMEM, "failures.jsonl: out of memory");
    if (!line || ovx_runlog_failure_line(&rs->log, line, &err) != OVX_OK)
        log_error(rs, &err);
    cJSON_Delete(line);
    rs->sum->failed++;
}

/* A known failure: reported with its line, which stays in failures.jsonl. */
static void report_known_failure(run_state *rs, const ovx_plan_item *p)
{
    ovx_extract_item it = {.status = OVX_ITEM_FAILED, .path = p->job.in->path, .rel = p->job.in->rel,
                           .stage = p->stage, .error = p->error, .known_failure = 1, .record = p->record};
    emit(rs, &it);
    rs->sum->failed++;
    rs->sum->known_failed++;
}

/* A skipped item: its manifest line (a killed run may have finished the
 * outputs but not the line), then the callback. */
static void report_skip(run_state *rs, const ovx_plan_item *p, const cJSON *record)
{
    rs->sum->skipped++;
    ovx_error lerr;
    if (record && ovx_runlog_manifest(&rs->log, record, &lerr) != OVX_OK)
        log_error(rs, &lerr);
    ovx_extract_item it = {.status = OVX_ITEM_SKIPPED, .path = p->job.in->path, .rel = p->job.in->rel,
                           .record = record};
    emit(rs, &it);
}

static void finish_flight(run_state *rs);
static void run_batch(run_state *rs);

/* --format wds: the claim of an item written into the open shard is kept
 * (moved out of c) until the shard is complete. */
static int hold_claim(run_state *rs, ovx_claim *c, const char *key)
{
    if (rs->n_held == rs->cap_held) {
        size_t cap = rs->cap_held ? 2 * rs->cap_held : 64;
        ovx_claim *h = realloc(rs->held, cap * sizeof *h);
        if (h)
            rs->held = h;
        char **k = h ? realloc(rs->held_keys, cap * sizeof *k) : NULL;
        if (!k)
            return -1;
        rs->held_keys = k;
        rs->cap_held = cap;
    }
    char *dup = strdup(key);
    if (!dup)
        return -1;
    rs->held[rs->n_held] = *c;
    rs->held_keys[rs->n_held++] = dup;
    c->fd = -1;
    return 0;
}

/* Releases the held claim of tar key `key` (none: nothing). */
static void release_held(run_state *rs, const char *key)
{
    for (size_t i = 0; key && i < rs->n_held; i++)
        if (!strcmp(rs->held_keys[i], key)) {
            ovx_claim_release(&rs->held[i]);
            free(rs->held_keys[i]);
            rs->held[i] = rs->held[--rs->n_held];
            rs->held_keys[i] = rs->held_keys[rs->n_held];
            return;
        }
}

/* --format wds, an item just claimed: its manifest line when a complete
 * shard (also one completed since the plan) holds it, else NULL. */
static cJSON *wds_done_now(run_state *rs, const ovx_plan_item *p)
{
    pthread_mutex_lock(&rs->wds_mu);
    int bad = 0;
    ovx_error err;
    const char *line = NULL;
    cJSON *rec = NULL;
    if (ovx_wds_index_more(rs->ctx.opts->out_dir, rs->ctx.opts->settings_hash, &rs->wds_done, &rs->wds_seen, &bad,
                           &err) == OVX_OK &&
        ovx_strmap_get(&rs->wds_done, p->job.in->rel, &line) && line)
        rec = cJSON_Parse(line);
    pthread_mutex_unlock(&rs->wds_mu);
    return rec;
}

/* Claims an item: at once (first pass) or waiting for its holder to finish
 * (second pass; 0 then only when a stop is requested). Before waiting, the
 * items waiting for a batch and the batch in flight are finished and the
 * open shard completed, so a waiting run holds no claim another run could be
 * waiting for. */
static int claim_item(run_state *rs, const ovx_plan_item *p, ovx_claim *c, ovx_error *err)
{
    for (int waited = 0;; waited = 1) {
        int got = ovx_claim_try(rs->ctx.opts->out_dir, item_key(rs, p), c, err);
        if (got != 0 || !rs->wait_claims || stop_requested(rs))
            return got;
        if (!waited) {
            ovx_error ferr;
            if (rs->n_pend) /* (second pass: inline, so the consumer's state is ours) */
                run_batch(rs);
            finish_flight(rs);
            if (ovx_wds_flush(rs->ctx.wds, &ferr) != OVX_OK)
                warn(rs, ferr.msg);
        }
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void *pipe_prepare(void *vctx, size_t i)
{
    run_state *rs = vctx;
    run_item *ri = calloc(1, sizeof *ri);
    if (!ri)
        return NULL;
    ri->plan_index = rs->list[i];
    ri->claim.fd = -1;
    const ovx_plan_item *p = &rs->plan.items[ri->plan_index];
    int got = claim_item(rs, p, &ri->claim, &ri->err);
    if (got < 0) {
        ri->state = RI_CLAIM_FAILED;
        return ri;
    }
    if (got == 0) {
        ri->state = RI_BUSY;
        return ri;
    }
    /* claimed: another process may have finished it since the plan */
    cJSON *j = NULL;
    if (rs->ctx.opts->wds && (ri->record = wds_done_now(rs, p))) {
        ri->state = RI_DONE_ELSEWHERE;
        ovx_claim_release(&ri->claim);
        return ri;
    }
    if (!rs->prm->overwrite && !rs->ctx.opts->wds &&
        ovx_resume_check(p->job.base, rs->ctx.opts->settings_hash, &j, NULL, 0)) {
        ri->state = RI_DONE_ELSEWHERE;
        ri->record = ovx_extract_manifest_from_json(j);
        cJSON_Delete(j);
        ovx_claim_release(&ri->claim);
        return ri;
    }
    ri->prep = ovx_extract_prepare(&rs->ctx, &p->job);
    if (!ri->prep) {
        run_item_free(ri);
        return NULL;
    }
    return ri;
}

/* A finished item: manifest line, callback, count; frees record. */
static void item_done(run_state *rs, const char *path, const char *rel, cJSON *record, double seconds)
{
    ovx_error lerr;
    if (ovx_runlog_manifest(&rs->log, record, &lerr) != OVX_OK)
        log_error(rs, &lerr);
    rs->sum->done++;
    ovx_extract_item it = {.status = OVX_ITEM_DONE, .path = path, .rel = rel, .record = record, .seconds = seconds};
    emit(rs, &it);
    cJSON_Delete(record);
}

/* format_wds: a shard is complete, so are its items. */
static void wds_committed(void *user, cJSON *record)
{
    const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(record, "path"));
    const char *rel = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(record, "rel"));
    const char *k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(record, "key"));
    char key[4400];
    snprintf(key, sizeof key, "%s", k ? k : ""); /* record goes with item_done */
    item_done(user, path ? path : "", rel ? rel : "", record, -1);
    release_held(user, key); /* after its manifest line */
}

/* format_wds: a shard could not be completed: its items failed. */
static void wds_lost(void *user, const cJSON *record, const char *error)
{
    cJSON *exact = cJSON_Duplicate(record, 1); /* the names' exact bytes, for the failure line */
    ovx_json_restore_bytes(exact);
    ovx_input in = {0};
    in.path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(exact, "path"));
    in.rel = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(exact, "rel"));
    ovx_plan_item p = {.job = {.in = &in}};
    if (in.path && in.rel)
        report_failure(user, &p, "write", error);
    release_held(user, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(exact, "key")));
    cJSON_Delete(exact);
}

/* Model + outputs of one item whose batch has run (or not: then alone);
 * its manifest line is appended before its claim is released. */
static void finish_item(run_state *rs, run_item *ri)
{
    ovx_plan_item *p = &rs->plan.items[ri->plan_index];
    double t0 = ovx_now_ms();
    cJSON *record = NULL;
    const char *stage = "internal";
    ovx_error err;
    ovx_error_clear(&err);
    double prep_s = ovx_prepared_seconds(ri->prep);
    char key[4400] = "";
    if (rs->ctx.opts->wds && (ovx_wds_key(item_key(rs, p), key, sizeof key) != 0 || hold_claim(rs, &ri->claim, key) != 0))
        key[0] = '\0'; /* not held: released below, as without shards */
    int rc = ovx_extract_finish(&rs->ctx, &p->job, ri->prep, &record, &stage, &err);
    if (rc != OVX_OK && key[0])
        release_held(rs, key); /* not in the shard */
    ovx_prepared_free(ri->prep);
    ri->prep = NULL;
    if (rc == OVX_EINTERRUPTED) { /* stopped inside the forward: dropped, not failed */
        run_item_free(ri);
        return;
    }
    if (rc != OVX_OK) {
        char json[4200];
        snprintf(json, sizeof json, "%s.json", p->job.base);
        if (access(json, F_OK) != 0) { /* its old outputs went: so does its manifest line */
            snprintf(json, sizeof json, "%s.json", item_key(rs, p));
            ovx_runlog_forget(&rs->log, json);
        }
        report_failure(rs, p, stage, err.msg);
        run_item_free(ri);
        progress(rs, OVX_PROGRESS_STEP, 1);
        return;
    }
    if (record) /* else format_wds: done when its shard is complete (wds_committed) */
        item_done(rs, p->job.in->path, p->job.in->rel, record, prep_s + (ovx_now_ms() - t0) / 1000.0);
    run_item_free(ri); /* the claim goes after the manifest line */
    progress(rs, OVX_PROGRESS_STEP, 0);
}

/* After the engine opened or ran: a fallback to the CPU is said once (and
 * REL.json records the device that computed each item). */
static void device_changed(run_state *rs)
{
    char note[1200];
    if (ovx_engine_take_note(rs->ctx.engine, note, sizeof note))
        warn(rs, note);
    const ovx_device *d = ovx_engine_device(rs->ctx.engine);
    ovx_device_str(d, rs->ctx.device, sizeof rs->ctx.device);
    rs->ctx.precision = ovx_precision_name(d->kind == OVX_DEVICE_CPU ? rs->precision : OVX_PRECISION_BF16);
}

/* The batch in flight: its forward collected, then its items finish in
 * index order. A CUDA device that became unusable (and no fallback) stops
 * the run: the items are dropped, not failed, so a rerun does them. */
static void finish_flight(run_state *rs)
{
    if (!rs->n_fly)
        return;
    ovx_extract_model_collect(&rs->ctx, rs->fly_batch);
    rs->fly_batch = NULL;
    device_changed(rs);
    if (!rs->device_lost.code && ovx_engine_lost(rs->ctx.engine))
        ovx_error_set(&rs->device_lost, OVX_EDEVICE, "%s; stopping (rerun to do the rest)",
                      ovx_engine_lost_reason(rs->ctx.engine));
    for (size_t k = 0; k < rs->n_fly; k++)
        if (rs->device_lost.code)
            run_item_free(rs->fly[k]);
        else
            finish_item(rs, rs->fly[k]);
    rs->n_fly = 0;
}

/* One forward over the pending items. On a CUDA device it stays in flight
 * while the batch before it is written and the next one gathered and
 * submitted (its upload, and that batch's download, overlap it); else it
 * finishes at once. Outputs and their order are the same either way. */
static void run_batch(run_state *rs)
{
    ovx_prepared *preps[256];
    for (size_t k = 0; k < rs->n_pend; k++)
        preps[k] = rs->pend[k]->prep;
    ovx_extract_batch *b = NULL;
    if (!rs->device_lost.code)
        b = ovx_extract_model_submit(&rs->ctx, preps, rs->n_pend);
    finish_flight(rs); /* the batch before: collected and written meanwhile */
    struct run_item **t = rs->fly;
    rs->fly = rs->pend;
    rs->n_fly = rs->n_pend;
    rs->fly_batch = b;
    rs->pend = t;
    rs->n_pend = 0;
    if (!rs->overlap || ovx_engine_device(rs->ctx.engine)->kind != OVX_DEVICE_CUDA)
        finish_flight(rs);
}
/* Items are held until --batch of them (or the last one) are prepared, then
 * one forward runs over all of them and they finish in index order. Items
 * that are not to be computed are dealt with on the spot, after the batch
 * in flight (the same order as without overlap). */
static void pipe_consume(void *vctx, size_t i, void *vp)
{
    run_state *rs = vctx;
    run_item *ri = vp;
    const ovx_plan_item *p = ri ? &rs->plan.items[ri->plan_index] : &rs->plan.items[rs->list[i]];
    if (!ri || ri->state != RI_PREPARED) /* reported on the spot: after the batch in flight */
        finish_flight(rs);
    if (!ri) {
        report_failure(rs, p, "internal", "out of memory");
        progress(rs, OVX_PROGRESS_STEP, 1);
    } else if (ri->state == RI_BUSY) { /* another process has it: again at the end */
        rs->deferred[rs->n_deferred++] = ri->plan_index;
        run_item_free(ri);
    } else if (ri->state == RI_CLAIM_FAILED) {
        report_failure(rs, p, "write", ri->err.msg);
        run_item_free(ri);
        progress(rs, OVX_PROGRESS_STEP, 1);
    } else if (ri->state == RI_DONE_ELSEWHERE) {
        report_skip(rs, p, ri->record);
        run_item_free(ri);
        progress(rs, OVX_PROGRESS_STEP, 0);
    } else {
        rs->pend[rs->n_pend++] = ri;
    }
    if (rs->n_pend && (rs->n_pend == (size_t)rs->batch || i + 1 == rs->n_list))
        run_batch(rs);
    if (i + 1 == rs->n_list)
        finish_flight(rs);
}

static void pipe_discard(void *vctx, void *vp)
{
    (void)vctx;
    run_item_free(vp);
}

static int pipe_should_stop(void *vctx)
{
    run_state *rs = vctx;
    if (!rs->sum->stopped && stop_requested(rs))
        rs->sum->stopped = 1;
    return rs->sum->stopped || rs->device_lost.code;
}

static int forward_cancel(void *vctx)
{
    return stop_requested(vctx);
}

/* Polled by every open input's interrupt callback (netio.h), from any thread. */
static int net_stop(void *vctx)
{
    return stop_requested(vctx);
}

/* Temp folders of processes that no longer run, and claim files of dead
 * processes. */
static void clean_leftovers(run_state *rs)
{
    ovx_runtmp_clean(rs->ctx.opts->out_dir);
    ovx_claim_clean_stale(rs->ctx.opts->out_dir);
}

/* Options that cannot work with this model, whatever the input, are usage
 * errors before anything is listed or decoded (config.json only; a config
 * that does not parse is left to the loader). */
static int check_model_options(const ovx_extract_opts *o, ovx_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", o->model_dir);
    char *text = ovx_read_text_file(path, 1u << 20); /* regular files only */
    ovx_model_config cfg;
    ovx_error perr;
    int ok = text && ovx_model_config_parse(text, strlen(text), &cfg, &perr) == OVX_OK;
    free(text);
    if (!ok)
        return OVX_OK;
    int L = cfg.num_layers;
    if (o->hidden_index != OVX_NO_HIDDEN_STATE && (o->hidden_index < -(L + 1) || o->hidden_index > L))
        return ovx_error_set(err, OVX_EUSAGE, "--hidden-state %d: out of range %d..%d for %s (%d layers)",
                             o->hidden_index, -(L + 1), L, o->model_dir, L);
    if (o->pooled_only && !cfg.use_head && !o->save_pixels)
        return ovx_error_set(err, OVX_EUSAGE, "--pooled-only: %s has no head, so nothing would be written",
                             o->model_dir);
    return OVX_OK;
}

/* The options of the items from the parameters; resolves the model folder
 * and fingerprints it (a dry run goes on without a usable model). */
static int make_opts(const ovx_extract_params *p, ovx_extract_opts *o, ovx_error *err)
{
    memset(o, 0, sizeof *o);
    o->model_arg = p->model;
    o->out_dir = p->out_dir;
    o->uniform = p->uniform;
    o->frames = p->frames >= 0 ? p->frames : (p->uniform ? 16 : 64);
    o->tokens = p->tokens;
    o->views = p->views;
    o->native = p->native;
    o->max_tokens = p->max_tokens;
    o->dtype = p->dtype;
    o->hidden_index = p->hidden_index;
    o->pooled_only = p->pooled_only;
    o->wds = p->format_wds;
    o->save_pixels = p->save_pixels;
    o->max_corrupt = p->max_corrupt;
    o->mv_source = p->mv_source;
    o->iframe_policy = p->iframe_policy;
    o->fps = p->fps;
    o->start = p->start;
    o->duration = p->duration;
    /* pool workers decode single-threaded beside the model; without a pool
     * the decode has the machine to itself */
    o->select_threads = p->decode_threads > 0 ? 1 : (p->threads > 0 ? p->threads : ovx_default_threads());
    if (!p->out_dir)
        return ovx_error_set(err, OVX_EUSAGE, "no output folder");
    if (!p->model && !p->dry_run)
        return ovx_error_set(err, OVX_EUSAGE, "no model");
    if (p->shard_count < 1 || p->shard_index < 0 || p->shard_index >= p->shard_count)
        return ovx_error_set(err, OVX_EUSAGE, "shard %d/%d out of range", p->shard_index, p->shard_count);
    if (p->batch < 1)
        return ovx_error_set(err, OVX_EUSAGE, "batch %d out of range", p->batch);
    if (p->format_wds && p->overwrite)
        return ovx_error_set(err, OVX_EUSAGE, "--overwrite with --format wds: earlier shards would still hold "
                                              "the items; write into a new output folder");
    if (p->format_wds && p->prune)
        return ovx_error_set(err, OVX_EUSAGE, "--prune with --format wds: the shards cannot drop items");
    if (p->model) {
        if (ovx_model_resolve(p->model, o->model_dir, sizeof o->model_dir, err) != OVX_OK) {
            if (!p->dry_run) /* not a usage error: the run fails (exit 1) */
                return err->code && err->code != OVX_EUSAGE ? err->code : OVX_EINPUT;
            snprintf(o->model_dir, sizeof o->model_dir, "%s", p->model);
        }
        char real[PATH_MAX];
        if (realpath(o->model_dir, real))
            snprintf(o->model_dir, sizeof o->model_dir, "%s", real);
        uint64_t fp = 0;
        int rc = ovx_model_fingerprint(o->model_dir, &fp, err);
        if (rc != OVX_OK && !p->dry_run)
            return rc != OVX_EUSAGE ? rc : OVX_EINPUT;
        snprintf(o->model_fingerprint, sizeof o->model_fingerprint, "%016llx", (unsigned long long)fp);
    }
    ovx_error_clear(err);
    ovx_extract_settings(o);
    return p->dry_run ? OVX_OK : check_model_options(o, err);
}

static int list_inputs(const ovx_extract_params *p, ovx_input_list *inputs, ovx_error *err)
{
    ovx_ext_filter filter;
    int rc = ovx_ext_filter_parse(&filter, p->exts ? p->exts : OVX_DEFAULT_EXTS, err);
    if (rc != OVX_OK)
        return OVX_EUSAGE;
    for (size_t i = 0; rc == OVX_OK && i < p->n_inputs; i++)
        rc = ovx_inputs_add_arg(inputs, p->inputs[i], &filter, err);
    for (size_t i = 0; rc == OVX_OK && i < p->n_lists; i++)
        rc = ovx_inputs_add_list(inputs, p->lists[i], &filter, err);
    if (rc == OVX_OK && p->labels_csv)
        rc = ovx_inputs_apply_labels(inputs, p->labels_csv, err);
    if (rc == OVX_OK && p->label_from_dir)
        rc = ovx_inputs_label_from_dir(inputs, err);
    ovx_ext_filter_free(&filter);
    return rc;
}

static void dry_run(run_state *rs)
{
    for (size_t i = 0; i < rs->plan.n; i++) {
        const ovx_plan_item *p = &rs->plan.items[i];
        static const ovx_extract_status st[] = {OVX_ITEM_EXTRACT, OVX_ITEM_SKIPPED, OVX_ITEM_FAILED};
        ovx_extract_item it = {.status = st[p->action], .dry_run = 1, .path = p->job.in->path,
                               .rel = p->job.in->rel, .error = p->error, .known_failure = p->known,
                               .record = p->known ? p->record : NULL};
        rs->sum->skipped += p->action == OVX_ACT_SKIP;
        rs->sum->failed += p->action == OVX_ACT_FAIL;
        rs->sum->known_failed += p->known;
        emit(rs, &it);
    }
}

/* A skipped item whose label changed (--labels, --label-from-dir): its
 * JSON gets the new label without recomputing, and it returns the new
 * manifest line (NULL when unchanged or held by another process). */
static cJSON *relabel(run_state *rs, const ovx_plan_item *p)
{
    const char *want = p->job.in->label;
    const cJSON *have = cJSON_GetObjectItemCaseSensitive(p->record, "label");
    if (want ? cJSON_IsString(have) && !strcmp(have->valuestring, want) : !cJSON_IsString(have))
        return NULL;
    ovx_claim c;
    ovx_error err;
    if (ovx_claim_try(rs->ctx.opts->out_dir, item_key(rs, p), &c, &err) != 1)
        return NULL;
    cJSON *j = NULL, *rec = NULL;
    if (ovx_resume_check(p->job.base, rs->ctx.opts->settings_hash, &j, NULL, 0)) {
        cJSON *l = want ? cJSON_CreateString(want) : cJSON_CreateNull();
        char *text = NULL;
        cJSON_DeleteItemFromObjectCaseSensitive(j, "label_bytes");
        if (l && cJSON_ReplaceItemInObjectCaseSensitive(j, "label", l)) {
            rec = ovx_extract_manifest_from_json(j);
            text = ovx_json_make_utf8(j) == 0 ? cJSON_Print(j) : NULL;
        }
        else
            cJSON_Delete(l);
        char path[4200];
        snprintf(path, sizeof path, "%s.json", p->job.base);
        if (text) {
            size_t len = strlen(text);
            text[len] = '\n'; /* over the NUL: written by length */
            if (ovx_atomic_write(path, text, len + 1, &err) != OVX_OK) {
                warn(rs, err.msg);
                cJSON_Delete(rec);
                rec = NULL;
            }
        } else {
            cJSON_Delete(rec);
            rec = NULL;
        }
        free(text);
    }
    cJSON_Delete(j);
    ovx_claim_release(&c);
    return rec;
}

/* --prune: the manifest items whose rel no input of this run has lose
 * their outputs (under their claim; an item another process holds is
 * left), and both logs their lines at the compaction. */
static void prune(run_state *rs, const ovx_input_list *inputs, ovx_strmap *keep)
{
    for (size_t i = 0; i < inputs->n; i++)
        ovx_strmap_put(keep, inputs->items[i].rel, NULL);
    size_t n = 0;
    const ovx_strmap *seen = &rs->log.seen_manifest;
    for (size_t i = 0; i < seen->cap; i++) {
        cJSON *o = seen->keys[i] ? cJSON_Parse(seen->keys[i]) : NULL;
        ovx_json_restore_bytes(o);
        const char *rel = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "rel"));
        const char *json = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "json"));
        size_t jl = json ? strlen(json) : 0;
        char key[4200], base[8400];
        ovx_claim c;
        if (rel && jl > 5 && !strcmp(json + jl - 5, ".json") && !ovx_strmap_get(keep, rel, NULL) &&
            snprintf(key, sizeof key, "%.*s", (int)(jl - 5), json) < (int)sizeof key &&
            ovx_claim_try(rs->ctx.opts->out_dir, key, &c, NULL) == 1) {
            snprintf(base, sizeof base, "%s/%s", rs->ctx.opts->out_dir, key);
            ovx_resume_remove_outputs(base, OVX_NO_HIDDEN_STATE);
            ovx_runlog_forget(&rs->log, json);
            ovx_claim_release(&c);
            n++;
        }
        cJSON_Delete(o);
    }
    ovx_runlog_keep_only(&rs->log, keep);
    if (n) {
        char msg[200];
        snprintf(msg, sizeof msg, "--prune: removed the outputs of %zu item%s no input has any more", n,
                 n == 1 ? "" : "s");
        warn(rs, msg);
    }
}

/* Reports planned failures and skips; collects the items to extract. */
static void report_planned(run_state *rs)
{
    for (size_t i = 0; i < rs->plan.n; i++) {
        ovx_plan_item *p = &rs->plan.items[i];
        if (p->action == OVX_ACT_FAIL && p->known) {
            report_known_failure(rs, p);
        } else if (p->action == OVX_ACT_FAIL) {
            report_failure(rs, p, p->stage, p->error);
        } else if (p->action == OVX_ACT_SKIP) {
            cJSON *rec = p->record ? relabel(rs, p) : NULL;
            if (rec) {
                cJSON_Delete(p->record);
                p->record = rec;
            }
            report_skip(rs, p, p->record);
        } else {
            rs->todo[rs->n_todo++] = i;
        }
    }
}

/* Model, engine and the pipeline over the items to extract. */
static int run_items(run_state *rs, const ovx_extract_params *prm, ovx_error *err)
{
    const ovx_extract_opts *o = rs->ctx.opts;
    ovx_model_params mp = ovx_model_default_params();
    mp.threads = prm->threads;
    mp.cancel = forward_cancel; /* a stop request ends a long forward between layers */
    mp.cancel_ctx = rs;
    /* on the CPU, bf16 weights are packed while loading (no f32 copy kept);
     * a CUDA device needs the f32 weights, also to fall back to the CPU */
    mp.precision = prm->device.kind == OVX_DEVICE_CPU ? prm->precision : OVX_PRECISION_FP32;
    ovx_model *model = NULL;
    int rc = ovx_model_load(o->model_dir, &mp, &model, err);
    if (rc != OVX_OK)
        return rc;
    const ovx_model_config *cfg = ovx_model_get_config(model);
    if (cfg->patch_size != OVX_SELECT_PATCH || cfg->num_channels != 3) {
        /* the selection grid is 16x16 patches of 14 pixels on 224x224 RGB frames */
        rc = ovx_error_set(err, OVX_EUNSUPPORTED, "%s: patch size %d with %d channels; ovx extract needs 14 and 3",
                           o->model_dir, cfg->patch_size, cfg->num_channels);
        ovx_model_free(model);
        return rc;
    }
    char wmsg[1400] = "warning: ";
    if (ovx_model_weights_warning(model, wmsg + 9, sizeof wmsg - 9))
        warn(rs, wmsg);
    ovx_model_info info;
    ovx_model_get_info(model, &info);
    snprintf(rs->ctx.model_checksum, sizeof rs->ctx.model_checksum, "%016llx", (unsigned long long)info.checksum);
    rs->ctx.model = model;
    /* bf16 weights are prepared whenever asked for, so a CUDA device that
     * falls back to the CPU keeps the precision */
    if (prm->precision != OVX_PRECISION_FP32 && (rc = ovx_model_set_precision(model, prm->precision, err)) != OVX_OK) {
        ovx_model_free(model);
        rs->ctx.model = NULL;
        return rc;
    }
    rs->precision = prm->precision;
    rc = ovx_engine_open_ex(model, &prm->device, prm->device_fallback, &rs->ctx.engine, err);
    if (rc != OVX_OK) {
        ovx_model_free(model);
        rs->ctx.model = NULL;
        return rc;
    }
    device_changed(rs);
    ovx_wds_params wp = {.out_dir = o->out_dir, .task = prm->shard_index, .shard_items = prm->shard_items,
                         .shard_bytes = prm->shard_bytes, .user = rs, .committed = wds_committed, .lost = wds_lost};
    if (o->wds && (rc = ovx_wds_open(&rs->ctx.wds, &wp, err)) != OVX_OK) {
        ovx_engine_free(rs->ctx.engine);
        rs->ctx.engine = NULL;
        ovx_model_free(model);
        rs->ctx.model = NULL;
        return rc;
    }
    progress(rs, OVX_PROGRESS_START, 0);
    ovx_pipeline_ops ops = {pipe_prepare, pipe_consume, pipe_discard, pipe_should_stop};
    rs->list = rs->todo;
    rs->n_list = rs->n_todo;
    ovx_pipeline_run(rs->n_list, prm->decode_threads, prm->decode_threads + 1, &ops, rs);
    finish_flight(rs); /* stopped: what the device computed is still written */
    if (rs->n_deferred && !rs->sum->stopped && !rs->device_lost.code) {
        /* the items other processes held: one at a time, each waited for
         * (holding no claim while waiting, so two runs cannot deadlock);
         * most are then found done */
        rs->list = rs->deferred;
        rs->n_list = rs->n_deferred;
        rs->n_deferred = 0;
        rs->wait_claims = 1;
        ovx_pipeline_run(rs->n_list, 0, 1, &ops, rs);
        finish_flight(rs);
    }
    for (size_t k = 0; k < rs->n_pend; k++) /* stopped: a partial batch is dropped */
        run_item_free(rs->pend[k]);
    rs->n_pend = 0;
    ovx_error werr;
    if (ovx_wds_close(rs->ctx.wds, &werr) != OVX_OK) /* the last shard is complete too, also when stopped */
        warn(rs, werr.msg);
    rs->ctx.wds = NULL;
    while (rs->n_held) /* (none: every shard completed or lost) */
        release_held(rs, rs->held_keys[0]);
    progress(rs, OVX_PROGRESS_END, 0);
    ovx_engine_free(rs->ctx.engine);
    rs->ctx.engine = NULL;
    ovx_model_get_profile(model, &rs->sum->profile);
    ovx_model_free(model);
    rs->ctx.model = NULL;
    if (rs->device_lost.code)
        *err = rs->device_lost;
    return rs->device_lost.code;
}

int ovx_extract_run(const ovx_extract_params *prm, const ovx_extract_callbacks *cb, ovx_extract_summary *sum,
                    ovx_error *err)
{
    static const ovx_extract_callbacks no_callbacks = {0};
    memset(sum, 0, sizeof *sum);
    ovx_error_clear(err);
    ovx_extract_opts *o = malloc(sizeof *o);
    if (!o)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    int rc = make_opts(prm, o, err);
    if (rc != OVX_OK) {
        free(o);
        return rc;
    }
    if (prm->io_timeout > 0)
        ovx_netio_set_timeout(prm->io_timeout);
    ovx_input_list inputs = {0};
    rc = list_inputs(prm, &inputs, err);
    run_state rs;
    memset(&rs, 0, sizeof rs);
    rs.ctx.opts = o;
    rs.cb = cb ? cb : &no_callbacks;
    rs.sum = sum;
    rs.batch = prm->batch > 256 ? 256 : prm->batch;
    rs.prm = prm;
    pthread_mutex_init(&rs.wds_mu, NULL);
    {
        size_t dl = strlen(o->out_dir);
        while (dl > 1 && o->out_dir[dl - 1] == '/')
            dl--;
        rs.key_off = dl + 1; /* bases are DIR/KEY (outlayout.h) */
    }
    if (rc == OVX_OK)
        rc = ovx_plan_build(&rs.plan, &inputs, o, prm->shard_index, prm->shard_count, prm->overwrite,
                            prm->retry_failed, prm->dry_run, err);
    sum->items = rs.plan.n;
    if (rc != OVX_OK)
        goto out;
    if (prm->dry_run) {
        dry_run(&rs);
        goto out;
    }

    double t0 = ovx_now_ms();
    rs.todo = calloc(rs.plan.n ? rs.plan.n : 1, sizeof *rs.todo);
    rs.deferred = calloc(rs.plan.n ? rs.plan.n : 1, sizeof *rs.deferred);
    rs.pend = calloc((size_t)rs.batch, sizeof *rs.pend);
    rs.fly = calloc((size_t)rs.batch, sizeof *rs.fly);
    const char *ov = getenv("OVX_CUDA_OVERLAP"); /* 0: the synchronous path (tests compare them) */
    rs.overlap = !(ov && !strcmp(ov, "0"));
    if (!rs.todo || !rs.deferred || !rs.pend || !rs.fly) {
        rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
        goto out;
    }
    rc = ovx_runlog_open(&rs.log, o->out_dir, err);
    if (rc != OVX_OK)
        goto out;
    ovx_runtmp tmp;
    ovx_strmap keep = {0};
    rc = ovx_runtmp_open(&tmp, o->out_dir, err);
    if (rc != OVX_OK) {
        ovx_runlog_close(&rs.log);
        goto out;
    }
    ovx_atomic_set_temp_dir(tmp.dir); /* every temp file of the run: in its own folder */
    ovx_netio_set_stop(net_stop, &rs); /* a stop ends a blocked read at once */
    sum->started = 1;
    clean_leftovers(&rs);
    if (prm->prune)
        prune(&rs, &inputs, &keep);
    report_planned(&rs);
    if (rs.n_todo)
        rc = run_items(&rs, prm, err);
    ovx_netio_set_stop(NULL, NULL);
    ovx_atomic_set_temp_dir(NULL);
    ovx_runtmp_close(&tmp);
    clean_leftovers(&rs); /* of processes killed meanwhile */
    ovx_error cerr;
    if (ovx_runlog_compact(&rs.log, &cerr) != OVX_OK)
        log_error(&rs, &cerr);
    ovx_runlog_close(&rs.log);
    ovx_strmap_free(&keep);
    sum->seconds = (ovx_now_ms() - t0) / 1000.0;
out:
    free(rs.held);
    free(rs.held_keys);
    ovx_strmap_free(&rs.wds_done);
    ovx_strmap_free(&rs.wds_seen);
    pthread_mutex_destroy(&rs.wds_mu);
    free(rs.todo);
    free(rs.deferred);
    free(rs.pend);
    free(rs.fly);
    ovx_plan_free(&rs.plan);
    ovx_inputs_free(&inputs);
    free(o);
    return rc;
}
