/* item_write.c: the finish of an item of `ovx extract` (main thread): the
 * model's results as NPY files (or members of the open tar shard with
 * --format wds), then the item's JSON (last, so its presence means the item
 * is complete) and its manifest line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timer.h"
#include "extract/manifest.h"
#include "extract/outlayout.h"
#include "extract/prepared.h"
#include "extract/resume.h"
#include "extract/wds.h"
#include "io/atomic_file.h"
#include "io/json_ints.h"
#include "io/json_utf8.h"
#include "io/npy.h"
#include "model/model.h"
#include "select/select.h"

static const char *dtype_name(ovx_dtype t)
{
    switch (t) {
    case OVX_DTYPE_F32: return "float32";
    case OVX_DTYPE_F16: return "float16";
    case OVX_DTYPE_BF16: return "bfloat16"; /* stored as NPY uint16 */
    case OVX_DTYPE_I64: return "int64";
    default: return "?";
    }
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Writes one NPY and records it under outputs[key]. */
static int write_output(cJSON *outputs, const char *key, const char *path, ovx_dtype dtype, int ndim,
                        const int64_t *shape, const void *data, ovx_error *err)
{
    int rc;
    if (dtype == OVX_DTYPE_I64)
        rc = ovx_npy_write(path, dtype, ndim, shape, data, err);
    else
        rc = ovx_npy_write_f32_as(path, dtype, ndim, shape, data, err);
    if (rc)
        return rc;
    cJSON *o = cJSON_AddObjectToObject(outputs, key);
    cJSON_AddStringToObject(o, "file", base_name(path));
    cJSON_AddStringToObject(o, "dtype", dtype_name(dtype));
    cJSON *s = cJSON_AddArrayToObject(o, "shape");
    for (int i = 0; i < ndim; i++)
        cJSON_AddItemToArray(s, cJSON_CreateNumber((double)shape[i]));
    return OVX_OK;
}

/* [[t, h, w], ...] per token, as pre-printed text */
static cJSON *positions_json(const ovx_token_buffer *tb)
{
    return ovx_json_ints_raw(tb->pos, 4, (size_t)tb->tokens.n * 3, 3);
}

static char *out_base_rel(const ovx_extract_opts *o, const char *base)
{
    size_t dl = strlen(o->out_dir);
    while (dl > 1 && o->out_dir[dl - 1] == '/')
        dl--;
    return strdup(base + dl + 1); /* base is DIR/REL-without-extension */
}

static int write_outputs(const ovx_extract_ctx *ctx, const ovx_extract_job *job, ovx_prepared *p, const float *tokens,
                         const float *pooled, const float *hidden, cJSON *outputs, ovx_error *err)
{
    const ovx_extract_opts *o = ctx->opts;
    const ovx_model_config *cfg = ovx_model_get_config(ctx->model);
    int64_t N = p->views[0].tb.tokens.n, D = cfg->hidden_size, V = p->n_views;
    int lead = V > 1; /* leading view axis */
    int64_t tshape[3] = {V, N, D}, pshape[2] = {V, D};
    char path[4200];
    int rc = ovx_mkdirs_for(job->base, err);
    if (!rc && !o->pooled_only && !(rc = ovx_out_path(job->base, OVX_OUT_TOKENS, 0, path, sizeof path, err)))
        rc = write_output(outputs, "tokens", path, o->dtype, 2 + lead, tshape + !lead, tokens, err);
    if (!rc && pooled && !(rc = ovx_out_path(job->base, OVX_OUT_POOLED, 0, path, sizeof path, err)))
        rc = write_output(outputs, "pooled", path, OVX_DTYPE_F32, 1 + lead, pshape + !lead, pooled, err);
    if (!rc && hidden &&
        !(rc = ovx_out_path(job->base, OVX_OUT_HIDDEN, o->hidden_index, path, sizeof path, err)))
        rc = write_output(outputs, "hidden", path, o->dtype, 2 + lead, tshape + !lead, hidden, err);
    if (!rc && p->pixels) {
        snprintf(path, sizeof path, "%s.pixels.npy", job->base);
        rc = write_output(outputs, "pixels", path, OVX_DTYPE_F32, 5, p->pix_shape, p->pixels, err);
        if (!rc && p->indices) {
            int64_t ishape[2] = {1, p->n_indices};
            snprintf(path, sizeof path, "%s.indices.npy", job->base);
            rc = write_output(outputs, "indices", path, OVX_DTYPE_I64, 2, ishape, p->indices, err);
        }
    }
    if (!rc && cJSON_GetArraySize(outputs) == 0)
        rc = ovx_error_set(err, OVX_EUSAGE, "nothing to write: --pooled-only with a model without a head");
    return rc;
}

/* --format wds: the arrays as members KEY.SUFFIX of the open shard. */
static int write_members(const ovx_extract_ctx *ctx, const ovx_extract_job *job, ovx_prepared *p, char *key,
                         size_t key_cap, cJSON *outputs, ovx_error *err)
{
    const ovx_extract_opts *o = ctx->opts;
    int64_t N = p->views[0].tb.tokens.n, D = ovx_model_get_config(ctx->model)->hidden_size, V = p->n_views;
    int lead = V > 1;
    int64_t tshape[3] = {V, N, D}, pshape[2] = {V, D}, ishape[2] = {1, p->n_indices};
    char *ob = out_base_rel(o, job->base);
    if (!ob || ovx_wds_key(ob, key, key_cap)) {
        free(ob);
        return ovx_error_set(err, OVX_EUSAGE, "%s: no tar member key for it", job->in->rel);
    }
    free(ob);
    ovx_wds *w = ctx->wds;
    int rc = ovx_wds_item_begin(w, key, err);
    if (rc)
        return rc;
    char hidden[32];
    snprintf(hidden, sizeof hidden, "hidden_%d.npy", o->hidden_index);
    if (!rc && !o->pooled_only)
        rc = ovx_wds_item_npy(w, "tokens.npy", o->dtype, 2 + lead, tshape + !lead, p->tokens, outputs, "tokens",
                              dtype_name(o->dtype), err);
    if (!rc && p->pooled)
        rc = ovx_wds_item_npy(w, "pooled.npy", OVX_DTYPE_F32, 1 + lead, pshape + !lead, p->pooled, outputs,
                              "pooled", "float32", err);
    if (!rc && p->hidden)
        rc = ovx_wds_item_npy(w, hidden, o->dtype, 2 + lead, tshape + !lead, p->hidden, outputs, "hidden",
                              dtype_name(o->dtype), err);
    if (!rc && p->pixels)
        rc = ovx_wds_item_npy(w, "pixels.npy", OVX_DTYPE_F32, 5, p->pix_shape, p->pixels, outputs, "pixels",
                              "float32", err);
    if (!rc && p->pixels && p->indices)
        rc = ovx_wds_item_npy(w, "indices.npy", OVX_DTYPE_I64, 2, ishape, p->indices, outputs, "indices", "int64",
                              err);
    if (!rc && cJSON_GetArraySize(outputs) == 0)
        rc = ovx_error_set(err, OVX_EUSAGE, "nothing to write: --pooled-only with a model without a head");
    if (rc)
        ovx_wds_item_abort(w);
    return rc;
}

static cJSON *item_json(const ovx_extract_ctx *ctx, const ovx_extract_job *job, ovx_prepared *p, cJSON *outputs)
{
    const ovx_extract_opts *o = ctx->opts;
    const ovx_model_config *cfg = ovx_model_get_config(ctx->model);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "ovx_version", OVX_VERSION);
    cJSON_AddStringToObject(j, "input", job->in->path);
    cJSON_AddStringToObject(j, "rel", job->in->rel);
    char *ob = out_base_rel(o, job->base);
    cJSON_AddStringToObject(j, "out_base", ob ? ob : "");
    free(ob);
    cJSON_AddStringToObject(j, "kind", p->is_image ? "image" : "video");
    if (job->in->label)
        cJSON_AddStringToObject(j, "label", job->in->label);
    else
        cJSON_AddNullToObject(j, "label");
    cJSON *m = cJSON_AddObjectToObject(j, "model");
    cJSON_AddStringToObject(m, "id", o->model_arg);
    cJSON_AddStringToObject(m, "path", o->model_dir);
    cJSON_AddStringToObject(m, "weights_checksum", ctx->model_checksum);
    cJSON_AddStringToObject(m, "fingerprint", o->model_fingerprint);
    cJSON_AddNumberToObject(m, "hidden_size", cfg->hidden_size);
    cJSON_AddNumberToObject(m, "num_layers", cfg->num_layers);
    cJSON_AddBoolToObject(m, "use_head", cfg->use_head);
    cJSON *s = cJSON_AddObjectToObject(j, "settings");
    cJSON_AddStringToObject(s, "sampling", o->uniform ? "uniform" : "codec");
    cJSON_AddNumberToObject(s, "frames", o->frames);
    cJSON_AddNumberToObject(s, "tokens", o->tokens);
    cJSON_AddNumberToObject(s, "views", p->n_views);
    cJSON_AddStringToObject(s, "mv_source", ovx_mv_source_name((ovx_mv_source)o->mv_source));
    cJSON_AddStringToObject(s, "iframe_policy", ovx_iframe_policy_name((ovx_iframe_policy)o->iframe_policy));
    cJSON_AddNumberToObject(s, "fps", o->fps);
    cJSON_AddNumberToObject(s, "start", o->start);
    cJSON_AddNumberToObject(s, "duration", o->duration);
    cJSON_AddBoolToObject(s, "native", o->native);
    cJSON_AddBoolToObject(s, "pooled_only", o->pooled_only);
    if (o->hidden_index != OVX_NO_HIDDEN_STATE)
        cJSON_AddNumberToObject(s, "hidden_state", o->hidden_index);
    else
        cJSON_AddNullToObject(s, "hidden_state");
    cJSON_AddStringToObject(s, "canonical", o->settings_str);
    cJSON_AddStringToObject(j, "settings_hash", o->settings_hash);
    cJSON_AddStringToObject(j, "device", ctx->device);
    if (ctx->precision)
        cJSON_AddStringToObject(j, "precision", ctx->precision);
    cJSON_AddStringToObject(j, "dtype", dtype_name(o->dtype));
    cJSON_AddNumberToObject(j, "n_tokens", p->views[0].tb.tokens.n);
    cJSON_AddItemToObject(j, "outputs", outputs);
    if (p->image_json) {
        cJSON_AddItemToObject(j, "image", p->image_json);
        p->image_json = NULL;
    }
    if (p->n_views == 1) {
        cJSON_AddItemToObject(j, "positions", positions_json(&p->views[0].tb));
        if (p->views[0].select_json) {
            cJSON_AddItemToObject(j, "select", p->views[0].select_json);
            p->views[0].select_json = NULL;
        }
    } else {
        cJSON *va = cJSON_AddArrayToObject(j, "views");
        for (int v = 0; v < p->n_views; v++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "view", v);
            cJSON_AddNumberToObject(e, "start_seconds", p->views[v].start);
            cJSON_AddItemToObject(e, "positions", positions_json(&p->views[v].tb));
            if (p->views[v].select_json) {
                cJSON_AddItemToObject(e, "select", p->views[v].select_json);
                p->views[v].select_json = NULL;
            }
            cJSON_AddItemToArray(va, e);
        }
    }
    return j;
}

int ovx_extract_finish(const ovx_extract_ctx *ctx, const ovx_extract_job *job, ovx_prepared *p, cJSON **record,
                       const char **stage, ovx_error *err)
{
    *record = NULL;
    if (!p->failed && !p->model_done) /* not run in a batch: a batch of one */
        ovx_extract_model_batch(ctx, &p, 1);
    if (p->failed) {
        *stage = p->stage;
        *err = p->err;
        return err->code ? err->code : OVX_EINTERNAL;
    }
    double t1 = ovx_now_ms();
    cJSON *outputs = cJSON_CreateObject();
    *stage = "write";
    char key[4200] = "";
    if (!ctx->wds) /* outputs of earlier settings (or a half-done rewrite) go first */
        ovx_resume_remove_outputs(job->base, ctx->opts->hidden_index, ctx->owners);
    int rc = ctx->wds ? write_members(ctx, job, p, key, sizeof key, outputs, err)
                      : write_outputs(ctx, job, p, p->tokens, p->pooled, p->hidden, outputs, err);
    ovx_prepared_drop_results(p);
    if (rc != OVX_OK) {
        cJSON_Delete(outputs);
        return rc;
    }
    cJSON *j = item_json(ctx, job, p, outputs);
    cJSON *tm = cJSON_AddObjectToObject(j, "timings_ms");
    double dec = 0, sel = 0, frm = 0, cut = 0;
    for (int v = 0; v < p->n_views; v++) {
        dec += p->views[v].t_decode;
        sel += p->views[v].t_select;
        frm += p->views[v].t_frames;
        cut += p->views[v].t_cut;
    }
    cJSON_AddNumberToObject(tm, "decode", dec);
    cJSON_AddNumberToObject(tm, "select", sel);
    cJSON_AddNumberToObject(tm, "frames", frm);
    cJSON_AddNumberToObject(tm, "tokens", cut);
    cJSON_AddNumberToObject(tm, "prepare", p->t_prepare);
    cJSON_AddNumberToObject(tm, "model", p->t_model);
    cJSON_AddNumberToObject(tm, "model_batch_items", p->batch_items);
    double t2 = ovx_now_ms();
    cJSON_AddNumberToObject(tm, "write", t2 - t1);
    if (ctx->wds)
        cJSON_AddStringToObject(j, "key", key);
    *record = ctx->wds ? NULL : ovx_extract_manifest_from_json(j); /* the exact bytes of the names */
    char *text = ovx_json_make_utf8(j) == 0 ? cJSON_Print(j) : NULL;
    char path[4200];
    if (!text) {
        rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
        if (ctx->wds)
            ovx_wds_item_abort(ctx->wds);
    } else if (ctx->wds) {
        size_t len = strlen(text);
        char *nl = realloc(text, len + 2);   /* cJSON_Print's buffer ends at the NUL */
        if (nl) {
            text = nl;
            memcpy(text + len, "\n", 2);
        }
        rc = nl ? ovx_wds_item_end(ctx->wds, text, ovx_wds_record(j, key, NULL), err)
                : ovx_error_set(err, OVX_ENOMEM, "out of memory");
        if (rc)
            ovx_wds_item_abort(ctx->wds);
    } else if (!(rc = ovx_out_path(job->base, OVX_OUT_JSON, 0, path, sizeof path, err))) {
        size_t len = strlen(text);
        text[len] = '\n';
        rc = ovx_atomic_write(path, text, len + 1, err);
    }
    free(text);
    cJSON_Delete(j);
    if (rc != OVX_OK) {
        cJSON_Delete(*record);
        *record = NULL;
    }
    if (rc == OVX_OK && !*record && !ctx->wds)
        rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
    return rc;
}
