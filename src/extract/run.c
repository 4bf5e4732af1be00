/* run.c: ovx_extract_run: model folder and fingerprint, listing, the plan,
 * then the run itself: logs, temp cleanup, model + engine, the pipeline
 * (prepare ahead on workers, forward in batches, write), callbacks. */
#include "extract/extract.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/threads.h"
#include "common/timer.h"
#include "extract/extract_item.h"
#include "extract/fingerprint.h"
#include "extract/inputs.h"
#include "extract/pipeline.h"
#include "extract/plan.h"
#include "extract/resume.h"
#include "extract/runlog.h"
#include "extract/strmap.h"
#include "model/model.h"
#include "select/select.h"

ovx_extract_params ovx_extract_default_params(void)
{
    ovx_select_params sd = ovx_select_default_params();
    ovx_extract_params p;
    memset(&p, 0, sizeof p);
    p.exts = OVX_DEFAULT_EXTS;
    p.frames = -1;
    p.tokens = 4096;
    p.views = 1;
    p.hidden_index = OVX_NO_HIDDEN_STATE;
    p.dtype = OVX_DTYPE_F32;
    p.max_corrupt = -1;
    p.mv_source = (int)sd.mv_source;
    p.iframe_policy = (int)sd.iframe_policy;
    p.shard_count = 1;
    p.decode_threads = 1;
    p.batch = 1;
    p.device.kind = OVX_DEVICE_CPU;
    return p;
}

typedef struct run_state {
    ovx_extract_ctx ctx;
    const ovx_extract_callbacks *cb;
    ovx_plan plan;
    size_t *todo;         /* indices into plan of OVX_ACT_EXTRACT items */
    size_t n_todo;
    ovx_runlog log;
    ovx_extract_summary *sum;
    int batch;            /* items per forward */
    size_t *pend_index;   /* [batch] pipeline indices of the items waiting for a batch */
    ovx_prepared **pend;  /* [batch] their prepared data */
    size_t n_pend;
} run_state;

static void warn(run_state *rs, const char *msg)
{
    if (rs->cb->warning)
        rs->cb->warning(rs->cb->user, msg);
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

static void report_failure(run_state *rs, const ovx_plan_item *p, const char *stage, const char *msg)
{
    ovx_extract_item it = {.status = OVX_ITEM_FAILED, .path = p->job.in->path, .rel = p->job.in->rel,
                           .stage = stage, .error = msg};
    emit(rs, &it);
    ovx_error err;
    if (ovx_runlog_failure(&rs->log, p->job.in->path, p->job.in->rel, stage, msg, &err) != OVX_OK)
        warn(rs, err.msg);
    rs->sum->failed++;
}

static void *pipe_prepare(void *vctx, size_t i)
{
    run_state *rs = vctx;
    return ovx_extract_prepare(&rs->ctx, &rs->plan.items[rs->todo[i]].job);
}

/* Model + outputs of one item whose batch has run (or not: then alone). */
static void finish_item(run_state *rs, size_t i, ovx_prepared *vp)
{
    ovx_plan_item *p = &rs->plan.items[rs->todo[i]];
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
        progress(rs, OVX_PROGRESS_STEP, 1);
        return;
    }
    ovx_error lerr;
    if (ovx_runlog_manifest(&rs->log, record, &lerr) != OVX_OK)
        warn(rs, lerr.msg);
    rs->sum->done++;
    ovx_extract_item it = {.status = OVX_ITEM_DONE, .path = p->job.in->path, .rel = p->job.in->rel,
                           .record = record, .seconds = prep_s + (ovx_now_ms() - t0) / 1000.0};
    emit(rs, &it);
    cJSON_Delete(record);
    progress(rs, OVX_PROGRESS_STEP, 0);
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
    run_state *rs = vctx;
    if (!rs->sum->stopped && rs->cb->should_stop && rs->cb->should_stop(rs->cb->user))
        rs->sum->stopped = 1;
    return rs->sum->stopped;
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
    o->dtype = p->dtype;
    o->hidden_index = p->hidden_index;
    o->pooled_only = p->pooled_only;
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
    return OVX_OK;
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
                               .rel = p->job.in->rel, .error = p->error};
        rs->sum->skipped += p->action == OVX_ACT_SKIP;
        rs->sum->failed += p->action == OVX_ACT_FAIL;
        emit(rs, &it);
    }
}

/* Reports planned failures and skips; collects the items to extract. */
static void report_planned(run_state *rs)
{
    for (size_t i = 0; i < rs->plan.n; i++) {
        ovx_plan_item *p = &rs->plan.items[i];
        if (p->action == OVX_ACT_FAIL) {
            report_failure(rs, p, p->stage, p->error);
        } else if (p->action == OVX_ACT_SKIP) {
            rs->sum->skipped++;
            if (p->record) {
                /* a killed run may have finished the outputs but not this line */
                ovx_error lerr;
                if (ovx_runlog_manifest(&rs->log, p->record, &lerr) != OVX_OK)
                    warn(rs, lerr.msg);
            }
            ovx_extract_item it = {.status = OVX_ITEM_SKIPPED, .path = p->job.in->path, .rel = p->job.in->rel,
                                   .record = p->record};
            emit(rs, &it);
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
    ovx_model_info info;
    ovx_model_get_info(model, &info);
    snprintf(rs->ctx.model_checksum, sizeof rs->ctx.model_checksum, "%016llx", (unsigned long long)info.checksum);
    rs->ctx.model = model;
    ovx_device_str(&prm->device, rs->ctx.device, sizeof rs->ctx.device);
    rc = ovx_engine_open(model, &prm->device, &rs->ctx.engine, err);
    if (rc != OVX_OK) {
        ovx_model_free(model);
        rs->ctx.model = NULL;
        return rc;
    }
    progress(rs, OVX_PROGRESS_START, 0);
    ovx_pipeline_ops ops = {pipe_prepare, pipe_consume, pipe_discard, pipe_should_stop};
    ovx_pipeline_run(rs->n_todo, prm->decode_threads, prm->decode_threads + 1, &ops, rs);
    for (size_t k = 0; k < rs->n_pend; k++) /* stopped: a partial batch is dropped */
        ovx_prepared_free(rs->pend[k]);
    rs->n_pend = 0;
    progress(rs, OVX_PROGRESS_END, 0);
    ovx_engine_free(rs->ctx.engine);
    rs->ctx.engine = NULL;
    ovx_model_free(model);
    rs->ctx.model = NULL;
    return OVX_OK;
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
    ovx_input_list inputs = {0};
    rc = list_inputs(prm, &inputs, err);
    run_state rs;
    memset(&rs, 0, sizeof rs);
    rs.ctx.opts = o;
    rs.cb = cb ? cb : &no_callbacks;
    rs.sum = sum;
    rs.batch = prm->batch;
    if (rc == OVX_OK)
        rc = ovx_plan_build(&rs.plan, &inputs, o, prm->shard_index, prm->shard_count, prm->overwrite, prm->dry_run,
                            err);
    sum->items = rs.plan.n;
    if (rc != OVX_OK)
        goto out;
    if (prm->dry_run) {
        dry_run(&rs);
        goto out;
    }

    double t0 = ovx_now_ms();
    rs.todo = calloc(rs.plan.n ? rs.plan.n : 1, sizeof *rs.todo);
    rs.pend_index = calloc((size_t)rs.batch, sizeof *rs.pend_index);
    rs.pend = calloc((size_t)rs.batch, sizeof *rs.pend);
    if (!rs.todo || !rs.pend_index || !rs.pend) {
        rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
        goto out;
    }
    rc = ovx_runlog_open(&rs.log, o->out_dir, err);
    if (rc != OVX_OK)
        goto out;
    sum->started = 1;
    ovx_strmap bases = {0};
    for (size_t i = 0; i < rs.plan.n; i++)
        if (rs.plan.items[i].action != OVX_ACT_FAIL)
            ovx_strmap_put(&bases, rs.plan.items[i].job.base, NULL);
    ovx_resume_clean_temps_all(&bases);
    ovx_strmap_free(&bases);
    report_planned(&rs);
    if (rs.n_todo)
        rc = run_items(&rs, prm, err);
    ovx_runlog_close(&rs.log);
    sum->seconds = (ovx_now_ms() - t0) / 1000.0;
out:
    free(rs.todo);
    free(rs.pend_index);
    free(rs.pend);
    ovx_plan_free(&rs.plan);
    ovx_inputs_free(&inputs);
    free(o);
    return rc;
}
