/* plan.c: settings hash, output names and collisions, shard, resume. */
#include "extract/plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extract/outlayout.h"
#include "extract/resume.h"
#include "extract/shard.h"
#include "extract/strmap.h"
#include "extract/wds.h"

void ovx_extract_settings(ovx_extract_opts *o)
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

static void set_fail(ovx_plan_item *p, const char *stage, const char *msg)
{
    p->action = OVX_ACT_FAIL;
    p->stage = stage;
    free(p->error);
    p->error = strdup(msg ? msg : "unknown error");
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

/* An item to extract that failed before with this input and these
 * settings fails again without being tried. */
static void take_known(ovx_plan *pl, ovx_plan_item *p, const ovx_strmap *known)
{
    cJSON *line = ovx_known_failure(known, p->job.in->rel, &p->ident, pl->fail_settings);
    if (!line)
        return;
    const char *stage = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(line, "stage"));
    const char *error = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(line, "error"));
    set_fail(p, stage, error);
    p->stage = !strcmp(stage, "decode") ? "decode" : "select"; /* (static names, as elsewhere) */
    p->known = 1;
    p->record = line;
    pl->known++;
}

int ovx_plan_build(ovx_plan *pl, const ovx_input_list *inputs, const ovx_extract_opts *o, int shard_i, int shard_n,
                   int overwrite, int retry_failed, int dry_run, ovx_error *err)
{
    memset(pl, 0, sizeof *pl);
    pl->items = calloc(inputs->n ? inputs->n : 1, sizeof *pl->items);
    if (!pl->items)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    ovx_strmap owners = {0};
    for (size_t i = 0; i < inputs->n; i++) {
        const ovx_input *in = &inputs->items[i];
        ovx_plan_item p = {.job = {.in = in}, .action = OVX_ACT_EXTRACT};
        ovx_error e;
        if (in->error) {
            set_fail(&p, "input", in->error);
        } else if (ovx_out_base(o->out_dir, in->rel, p.job.base, sizeof p.job.base, &e) != OVX_OK) {
            set_fail(&p, "input", e.msg);
        } else {
            const char *owner = claim_outputs(&owners, &p.job, o);
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
        pl->items[pl->n++] = p;
    }
    ovx_strmap_free(&owners);

    ovx_fail_settings(o->settings_hash, o->max_corrupt, o->max_tokens, pl->fail_settings);
    ovx_strmap known = {0}; /* rel -> its latest failure line */
    if (!overwrite && !retry_failed) {
        int rc = ovx_known_failures_load(o->out_dir, &known, err);
        if (rc != OVX_OK)
            return rc;
    }
    ovx_strmap wds_done = {0}; /* --format wds: rel -> manifest line of the items of complete shards */
    if (o->wds) {
        int bad = 0;
        int rc = ovx_wds_index(o->out_dir, o->settings_hash, &wds_done, &bad, err);
        if (rc != OVX_OK) {
            ovx_strmap_free(&wds_done);
            ovx_strmap_free(&known);
            return rc;
        }
    }
    for (size_t i = 0; i < pl->n; i++) {
        ovx_plan_item *p = &pl->items[i];
        if (p->action != OVX_ACT_EXTRACT)
            continue;
        ovx_input_ident_get(p->job.in->path, &p->ident);
        const char *line = NULL;
        cJSON *j = NULL;
        if (o->wds) {
            if (ovx_strmap_get(&wds_done, p->job.in->rel, &line)) {
                p->action = OVX_ACT_SKIP;
                if (!dry_run)
                    p->record = cJSON_Parse(line);
            }
        } else if (!overwrite && ovx_resume_check(p->job.base, o->settings_hash, dry_run ? NULL : &j, NULL, 0)) {
            p->action = OVX_ACT_SKIP;
            if (j)
                p->record = ovx_extract_manifest_from_json(j);
        }
        cJSON_Delete(j);
        if (p->action == OVX_ACT_EXTRACT && known.n)
            take_known(pl, p, &known);
    }
    ovx_strmap_free(&wds_done);
    ovx_strmap_free(&known);
    return OVX_OK;
}

void ovx_plan_free(ovx_plan *pl)
{
    for (size_t i = 0; i < pl->n; i++) {
        free(pl->items[i].error);
        cJSON_Delete(pl->items[i].record);
    }
    free(pl->items);
    memset(pl, 0, sizeof *pl);
}
