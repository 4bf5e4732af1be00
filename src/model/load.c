/* load.c: model folder (or Hugging Face cache id) -> ovx_model: config.json,
 * one or several safetensors files, every expected tensor checked by name,
 * dtype and shape, converted once to float32 (or, loaded for bf16, the
 * blocks' linear weights packed to bf16 one tensor at a time). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/regular_file.h"
#include "model/config.h"
#include "model/model_internal.h"
#include "model/safetensors.h"
#include "model/shard_index.h"

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}


/* Anything there (a FIFO or device is then refused by name when opened). */
static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* A Hugging Face id: ORG/NAME made of [A-Za-z0-9._-], no "..". */
static int looks_like_id(const char *s)
{
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || !slash[1] || strchr(slash + 1, '/') || strstr(s, ".."))
        return 0;
    for (const char *p = s; *p; p++)
        if (!(p == slash || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

static int hub_dir(char *out, size_t cap)
{
    const char *c = getenv("HF_HUB_CACHE");
    if (c && *c)
        return snprintf(out, cap, "%s", c) < (int)cap;
    const char *h = getenv("HF_HOME");
    if (h && *h)
        return snprintf(out, cap, "%s/hub", h) < (int)cap;
    const char *home = getenv("HOME");
    if (!home || !*home)
        return 0;
    return snprintf(out, cap, "%s/.cache/huggingface/hub", home) < (int)cap;
}

/* Number of entries in REPO/snapshots; the first one's name goes to name. */
static int only_snapshot(const char *repo, char *name, size_t cap)
{
    char dir[4000];
    snprintf(dir, sizeof dir, "%.3900s/snapshots", repo);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && n++ == 0)
            snprintf(name, cap, "%.100s", e->d_name);
    closedir(d);
    return n;
}

/* A Hugging Face cache repo folder (models--ORG--NAME: refs/main and
 * snapshots/HASH) -> its snapshot folder: refs/main's revision, else the
 * only snapshot. */
static int repo_snapshot(const char *repo, char *out, size_t cap, ovx_error *err)
{
    char ref[3700], rev[128] = "";
    snprintf(ref, sizeof ref, "%.3600s/refs/main", repo);
    if (exists(ref)) {
        char *text;
        size_t len;
        int rc = ovx_read_regular(ref, 4096, "a revision file", &text, &len, err);
        if (rc)
            return rc;
        snprintf(rev, sizeof rev, "%s", text);
        free(text);
        rev[strcspn(rev, "\r\n")] = '\0';
        for (char *p = rev; *p; p++)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                return ovx_error_set(err, OVX_EINPUT, "%.900s: not a revision hash", ref);
    }
    if (!rev[0] && only_snapshot(repo, rev, sizeof rev) != 1)
        return ovx_error_set(err, OVX_EIO, "%.900s: missing, and not exactly one snapshot to pick", ref);
    if (snprintf(out, cap, "%s/snapshots/%s", repo, rev) >= (int)cap)
        return ovx_error_set(err, OVX_EUSAGE, "%.200s: path too long", repo);
    if (!is_dir(out))
        return ovx_error_set(err, OVX_EIO, "%.900s: snapshot folder missing", out);
    return OVX_OK;
}

/* A folder without config.json that holds snapshots/ (a cache repo folder,
 * models--ORG--NAME, as `huggingface-cli download` leaves it). */
static int is_cache_repo(const char *dir)
{
    char p[4200];
    snprintf(p, sizeof p, "%.4000s/config.json", dir);
    if (exists(p))
        return 0;
    snprintf(p, sizeof p, "%.4000s/snapshots", dir);
    return is_dir(p);
}

int ovx_model_resolve(const char *arg, char *out, size_t cap, ovx_error *err)
{
    if (!arg || !*arg)
        arg = getenv("OVX_MODEL");
    if (!arg || !*arg)
        return ovx_error_set(err, OVX_EUSAGE, "no model given (use -m MODEL or set OVX_MODEL)");
    if (is_dir(arg) && is_cache_repo(arg))
        return repo_snapshot(arg, out, cap, err);
    if (is_dir(arg)) {
        if (snprintf(out, cap, "%s", arg) >= (int)cap)
            return ovx_error_set(err, OVX_EUSAGE, "%.200s: path too long", arg);
        return OVX_OK;
    }
    if (!looks_like_id(arg) || access(arg, F_OK) == 0)
        return ovx_error_set(err, OVX_EIO, "%.500s: not a model folder", arg);
    char hub[3000], repo[3600];
    if (!hub_dir(hub, sizeof hub))
        return ovx_error_set(err, OVX_EIO, "%.500s: no such folder and no Hugging Face cache (HOME unset)", arg);
    char flat[512];
    snprintf(flat, sizeof flat, "models--%.500s", arg);
    for (char *p = flat; *p; p++)
        if (*p == '/')
            *p = '\0', memmove(p + 2, p + 1, strlen(p + 1) + 1), p[0] = '-', p[1] = '-';
    snprintf(repo, sizeof repo, "%s/%s", hub, flat);
    if (!is_dir(repo))
        return ovx_error_set(err, OVX_EIO,
                             "%.500s: no such folder, and not in the Hugging Face cache (%.900s); on a "
                             "machine with internet: huggingface-cli download %.300s (or git lfs clone "
                             "https://huggingface.co/%.300s and -m that folder)", arg, repo, arg, arg);
    return repo_snapshot(repo, out, cap, err);
}

/* Appends "name" to a bounded comma-separated list. */
static void list_add(char *buf, size_t cap, int *n, const char *name)
{
    size_t l = strlen(buf);
    if (*n < 5 && l + strlen(name) + 4 < cap)
        snprintf(buf + l, cap - l, "%s%s", *n ? ", " : "", name);
    (*n)++;
}

/* Converts every matched tensor (found[i] in files[from[i]]) to float32, in
 * manifest order, hashing each for the checksum: into its slot, or, for a
 * bf16_only model's block linear weights, into a scratch buffer that is
 * then packed to bf16. Each tensor's mapped pages are dropped once read, so
 * neither the whole file nor two copies of a weight are ever in memory. */
static int convert_all(ovx_model *m, ovx_st_file *files, const ovx_st_tensor **found, const int *from,
                       ovx_error *err)
{
    int64_t most = 0;
    for (int i = 0; i < m->n_entries; i++)
        if (!*m->entries[i].slot && m->entries[i].numel > most)
            most = m->entries[i].numel;
    float *scratch = most ? malloc((size_t)most * sizeof(float)) : NULL;
    if (most && !scratch)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    const char *dt = NULL;
    uint64_t h = OVX_FNV1A_INIT;
    int rc = OVX_OK;
    for (int i = 0; i < m->n_entries && !rc; i++) {
        const ovx_weight_entry *e = &m->entries[i];
        float *dst = *e->slot ? *e->slot : scratch;
        int64_t bad = ovx_st_to_f32(found[i], dst);
        if (bad && !m->nonfinite)
            snprintf(m->nonfinite_tensor, sizeof m->nonfinite_tensor, "%.120s", found[i]->name);
        m->nonfinite += bad;
        h = ovx_fnv1a_f32(h, dst, e->numel);
        if (!*e->slot)
            rc = ovx_model_bf16_pack(m, e, dst, err);
        ovx_st_release(&files[from[i]], found[i]);
        if (!dt)
            dt = found[i]->dtype_name;
        else if (strcmp(dt, found[i]->dtype_name))
            dt = "mixed";
    }
    free(scratch);
    m->checksum = h;
    snprintf(m->source_dtype, sizeof m->source_dtype, "%s", dt ? dt : "");
    return rc;
}

/* Matches the files' tensors against the manifest and fills the weights. */
static int fill_weights(ovx_model *m, ovx_st_file *files, int nfiles, ovx_error *err)
{
    char missing[600] = "", unexpected[600] = "";
    int n_missing = 0, n_unexpected = 0;
    const ovx_st_tensor **found = calloc((size_t)m->n_entries, sizeof *found);
    int *from = calloc((size_t)m->n_entries, sizeof *from);
    if (!found || !from) {
        free(found);
        free(from);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    }
    int rc = OVX_OK;
    for (int i = 0; i < m->n_entries && !rc; i++) {
        ovx_weight_entry *e = &m->entries[i];
        int fi = -1;
        for (int k = 0; k < nfiles; k++) {
            const ovx_st_tensor *t = ovx_st_find(&files[k], e->name);
            if (!t)
                continue;
            if (found[i]) {
                rc = ovx_error_set(err, OVX_EINPUT, "tensor \"%s\" appears in two shards", e->name);
                break;
            }
            found[i] = t;
            from[i] = fi = k;
        }
        if (rc)
            break;
        const ovx_st_tensor *t = found[i];
        if (!t) {
            list_add(missing, sizeof missing, &n_missing, e->name);
            continue;
        }
        int ok = t->ndim == e->ndim;
        for (int d = 0; ok && d < e->ndim; d++)
            ok = t->shape[d] == e->shape[d];
        if (!ok) {
            char want[96] = "", got[160] = "";
            for (int d = 0; d < e->ndim; d++)
                snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", d ? "," : "",
                         (long long)e->shape[d]);
            for (int d = 0; d < t->ndim; d++)
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "," : "",
                         (long long)t->shape[d]);
            rc = ovx_error_set(err, OVX_EINPUT, "%s: tensor \"%s\" has shape [%s], config wants [%s]",
                               files[fi].path, e->name, got, want);
        }
        snprintf(e->src_dtype, sizeof e->src_dtype, "%.7s", t->dtype_name);
    }
    if (!rc && n_missing)
        rc = ovx_error_set(err, OVX_EINPUT, "%s: %d tensor(s) missing: %s%s", files[0].path, n_missing, missing,
                           n_missing > 5 ? ", ..." : "");
    if (!rc) {
        /* Every tensor in the files must be one the config expects. */
        int matched = 0;
        for (int i = 0; i < m->n_entries; i++)
            matched += found[i] != NULL;
        int total = 0;
        for (int k = 0; k < nfiles; k++)
            total += files[k].n;
        if (total != matched) {
            for (int k = 0; k < nfiles; k++)
                for (int j = 0; j < files[k].n; j++) {
                    int known = 0;
                    for (int i = 0; i < m->n_entries && !known; i++)
                        known = found[i] == &files[k].tensors[j];
                    if (!known)
                        list_add(unexpected, sizeof unexpected, &n_unexpected, files[k].tensors[j].name);
                }
            rc = ovx_error_set(err, OVX_EINPUT, "%s: %d unexpected tensor(s) for this config: %s%s", files[0].path,
                               n_unexpected, unexpected, n_unexpected > 5 ? ", ..." : "");
        }
    }
    if (!rc)
        rc = convert_all(m, files, found, from, err);
    free(found);
    free(from);
    return rc;
}

int ovx_model_load(const char *path_or_id, const ovx_model_params *params, ovx_model **out, ovx_error *err)
{
    *out = NULL;
    char dir[4096], path[4200];
    int rc = ovx_model_resolve(path_or_id, dir, sizeof dir, err);
    if (rc)
        return rc;
    ovx_model_config cfg;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if ((rc = ovx_model_config_read(path, &cfg, err)))
        return rc;
    ovx_shard_index idx = {0};
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!exists(path)) {
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
        if (!exists(path))
            return ovx_error_set(err, OVX_EIO, "%s: no model.safetensors or model.safetensors.index.json", dir);
        if ((rc = ovx_shard_index_read(path, &idx, err)))
            return rc;
    } else {
        idx.names = calloc(1, sizeof *idx.names);
        if (idx.names)
            idx.names[0] = strdup("model.safetensors");
        if (!idx.names || !idx.names[0]) {
            free(idx.names);
            return ovx_error_set(err, OVX_ENOMEM, "out of memory");
        }
        idx.n = 1;
    }
    char **shards = idx.names;
    int nshards = idx.n;
    ovx_st_file *files = calloc((size_t)nshards, sizeof *files);
    int opened = 0;
    ovx_model *m = NULL;
    if (!files) {
        rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
        goto done;
    }
    for (; opened < nshards; opened++) {
        snprintf(path, sizeof path, "%s/%s", dir, shards[opened]);
        if ((rc = ovx_st_open(path, &files[opened], err)))
            goto done;
    }
    int bf16_only = params && params->precision == OVX_PRECISION_BF16;
    if ((rc = ovx_model_alloc(&cfg, bf16_only, &m, err))) {
        ovx_error_prefix(err, "%s/config.json", dir);
        goto done;
    }
    if (params)
        m->params = *params;
    if (bf16_only && (rc = ovx_model_bf16_prepare(m, err)))
        goto done;
    if ((rc = fill_weights(m, files, nshards, err)))
        goto done;
    snprintf(m->path, sizeof m->path, "%s", dir);
    *out = m;
    m = NULL;
done:
    for (int i = 0; i < opened; i++)
        ovx_st_close(&files[i]);
    free(files);
    ovx_shard_index_free(&idx);
    ovx_model_free(m);
    return rc;
}

const ovx_model_config *ovx_model_get_config(const ovx_model *m)
{
    return &m->cfg;
}

void ovx_model_set_threads(ovx_model *m, int threads)
{
    m->params.threads = threads > 0 ? threads : 0;
}

void ovx_model_get_info(const ovx_model *m, ovx_model_info *info)
{
    info->path = m->path;
    info->dtype = m->source_dtype;
    info->n_params = m->n_params;
    info->n_tensors = m->n_entries;
    info->checksum = m->checksum;
    info->nonfinite = m->nonfinite;
    info->nonfinite_tensor = m->nonfinite_tensor;
}

const char *ovx_model_tensor(const ovx_model *m, int i, int *ndim, int64_t shape[4], const char **dtype)
{
    if (i < 0 || i >= m->n_entries)
        return NULL;
    const ovx_weight_entry *e = &m->entries[i];
    *ndim = e->ndim;
    for (int d = 0; d < e->ndim; d++)
        shape[d] = e->shape[d];
    *dtype = e->src_dtype;
    return e->name;
}

int ovx_model_weights_warning(const ovx_model *m, char *buf, size_t cap)
{
    if (!m->nonfinite)
        return 0;
    snprintf(buf, cap, "%.1000s: %lld non-finite weight(s) (NaN/Inf), first in tensor \"%s\"", m->path,
             (long long)m->nonfinite, m->nonfinite_tensor);
    return 1;
}
