/* run_summary.c: rates, stage shares and failure causes at the end of
 * `ovx extract` (run_summary.h). */
#include "cli/run_summary.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "io/regular_file.h"

void ovx_run_summary_cause(const char *stage, const char *error, char *buf, size_t len)
{
    size_t o = 0;
    if (!len)
        return;
    int w = snprintf(buf, len, "%s: ", stage && *stage ? stage : "?");
    o = w > 0 && (size_t)w < len ? (size_t)w : 0;
    int depth = 0;
    for (const char *p = error ? error : ""; *p && o + 4 < len && o < 100; p++) {
        if (*p == '(') {
            if (depth++ == 0) {
                memcpy(buf + o, "(...", 4);
                o += 4;
            }
            continue;
        }
        if (depth) {
            if (*p == ')' && --depth == 0)
                buf[o++] = ')';
            continue;
        }
        if (*p >= '0' && *p <= '9') {
            while (p[1] >= '0' && p[1] <= '9')
                p++;
            buf[o++] = 'N';
            continue;
        }
        buf[o++] = *p;
    }
    buf[o] = '\0';
}

static void add_cause(ovx_run_summary *s, const char *cause)
{
    for (size_t i = 0; i < s->n_causes; i++)
        if (!strcmp(s->causes[i].cause, cause)) {
            s->causes[i].n++;
            return;
        }
    if (s->n_causes == s->cap_causes) {
        size_t cap = s->cap_causes ? 2 * s->cap_causes : 16;
        ovx_cause_count *c = realloc(s->causes, cap * sizeof *c);
        if (!c)
            return; /* the summary only loses a cause */
        s->causes = c;
        s->cap_causes = cap;
    }
    char *copy = strdup(cause);
    if (!copy)
        return;
    s->causes[s->n_causes++] = (ovx_cause_count){copy, 1};
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) && v->valuedouble >= 0 ? v->valuedouble : 0;
}

/* REL.json of a files-layout item: its token count (n_tokens x views) and
 * timings_ms; 0 when it cannot be read (--format wds: inside a tar). */
static int read_rel_json(ovx_run_summary *s, const char *json, double *tokens)
{
    if (!s->out_dir || !json || !*json)
        return 0;
    char path[4400];
    if (snprintf(path, sizeof path, "%s/%s", s->out_dir, json) >= (int)sizeof path)
        return 0;
    char *text = NULL;
    size_t len;
    ovx_error err;
    if (ovx_read_regular(path, (size_t)64 << 20, "an item's JSON", &text, &len, &err))
        return 0;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *tm = cJSON_GetObjectItemCaseSensitive(j, "timings_ms");
    int ok = cJSON_IsObject(tm);
    if (ok) {
        double views = num(cJSON_GetObjectItemCaseSensitive(j, "settings"), "views");
        *tokens = num(j, "n_tokens") * (views >= 1 ? views : 1);
        s->decode_select_ms += num(tm, "decode") + num(tm, "select") + num(tm, "frames") + num(tm, "tokens");
        s->model_ms += num(tm, "model");
        s->write_ms += num(tm, "write");
        s->timed++;
    }
    cJSON_Delete(j);
    return ok;
}

/* tokens in the record's outputs.tokens.shape: all but the last axis */
static double record_tokens(const cJSON *record)
{
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(record, "outputs"), "tokens"), "shape");
    int n = cJSON_GetArraySize(sh);
    if (!cJSON_IsArray(sh) || n < 2)
        return 0;
    double t = 1;
    for (int i = 0; i < n - 1; i++) {
        const cJSON *d = cJSON_GetArrayItem(sh, i);
        if (!cJSON_IsNumber(d) || !(d->valuedouble >= 1))
            return 0;
        t *= d->valuedouble;
    }
    return t;
}

void ovx_run_summary_item(ovx_run_summary *s, const ovx_extract_item *it)
{
    if (it->dry_run)
        return;
    if (it->status == OVX_ITEM_FAILED) {
        char cause[160];
        ovx_run_summary_cause(it->stage, it->error, cause, sizeof cause);
        add_cause(s, cause);
        return;
    }
    if (it->status != OVX_ITEM_DONE || !it->record)
        return;
    double from_json = 0;
    int timed = read_rel_json(s, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it->record, "json")),
                              &from_json);
    double t = record_tokens(it->record);
    s->tokens += t > 0 ? t : timed ? from_json : 0;
}

static int by_count(const void *a, const void *b)
{
    const ovx_cause_count *x = a, *y = b;
    if (x->n != y->n)
        return x->n < y->n ? 1 : -1;
    return strcmp(x->cause, y->cause);
}

void ovx_run_summary_print(FILE *out, const char *prefix, ovx_run_summary *s, size_t done, size_t failed,
                           double seconds)
{
    if (done && seconds > 0) {
        fprintf(out, "%s%.2f clips/s, %.0f tokens/s", prefix, (double)done / seconds, s->tokens / seconds);
        double total = s->decode_select_ms + s->model_ms + s->write_ms;
        if (s->timed && total > 0)
            fprintf(out, "; stage time: decode+select %.0f%%, model %.0f%%, writing %.0f%%",
                    100 * s->decode_select_ms / total, 100 * s->model_ms / total, 100 * s->write_ms / total);
        fputc('\n', out);
    }
    if (!failed)
        return;
    fprintf(out, "%s%zu failed: see %s/failures.jsonl", prefix, failed, s->out_dir ? s->out_dir : ".");
    fprintf(out, "%s\n", s->n_causes > 1 ? "; most common causes:" : s->n_causes ? "; cause:" : "");
    qsort(s->causes, s->n_causes, sizeof *s->causes, by_count);
    for (size_t i = 0; i < s->n_causes && i < 3; i++)
        fprintf(out, "%s  %zu x %s\n", prefix, s->causes[i].n, s->causes[i].cause);
}

void ovx_run_summary_free(ovx_run_summary *s)
{
    for (size_t i = 0; i < s->n_causes; i++)
        free(s->causes[i].cause);
    free(s->causes);
    s->causes = NULL;
    s->n_causes = s->cap_causes = 0;
}
