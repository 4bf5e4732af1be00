/* wds.c: tar-shard output of `ovx extract --format wds` (writer, shard
 * numbering, leftover temp shards) and the resume index over complete shards. */
#include "extract/wds.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extract/manifest.h"
#include "io/atomic_file.h"
#include "io/json_utf8.h"
#include "io/tar.h"

struct ovx_wds {
    ovx_wds_params p;
    char dir[4096];        /* OUT/shards */
    char host[72];         /* tags our temp shards */
    long next;             /* number of the next shard of this task */
    ovx_tar_writer *tar;   /* the open shard, or NULL */
    int64_t items;         /* items in it */
    uint64_t item_mark;    /* its size before the current item */
    char key[4200];        /* the current item's key */
    cJSON **pending;       /* manifest lines of the open shard's items */
    size_t n_pending, cap_pending;
};

int ovx_wds_key(const char *base_rel, char *key, size_t cap)
{
    size_t n = 0;
    for (const unsigned char *s = (const unsigned char *)base_rel; *s; s++) {
        const char *esc = *s == '%' ? "%25" : *s == '/' ? "%2F" : *s == '.' ? "%2E" : NULL;
        size_t len = esc ? 3 : 1;
        if (n + len + 1 > cap)
            return -1;
        if (esc)
            memcpy(key + n, esc, 3);
        else
            key[n] = (char)*s;
        n += len;
    }
    if (!n)
        return -1;
    key[n] = '\0';
    return 0;
}

static void host_tag(char *buf, size_t cap)
{
    if (gethostname(buf, cap - 1) != 0 || !buf[0])
        snprintf(buf, cap, "host");
    buf[cap - 1] = '\0';
    for (char *c = buf; *c; c++)
        if (*c == '/' || *c == '.')
            *c = '_';
}

/* "T-NNNNNN.tar" of task T: its number, else -1. */
static long shard_number(const char *name, int task)
{
    char pre[32];
    int pl = snprintf(pre, sizeof pre, "%d-", task);
    if (strncmp(name, pre, (size_t)pl) != 0)
        return -1;
    const char *d = name + pl;
    char *end;
    errno = 0;
    long v = strtol(d, &end, 10);
    if (errno || end == d || *d < '0' || *d > '9' || strcmp(end, ".tar") != 0 || v < 0)
        return -1;
    return v;
}

/* A temp shard "T-NNNNNN.tar.tmp.PID.HOST.XXXXXX" of this task written on
 * this host by a process that no longer exists. */
static int dead_temp(const char *name, int task, const char *host)
{
    char pre[32];
    int pl = snprintf(pre, sizeof pre, "%d-", task);
    const char *t = strstr(name, ".tar.tmp.");
    if (strncmp(name, pre, (size_t)pl) != 0 || !t)
        return 0;
    t += 9;
    char *end;
    long pid = strtol(t, &end, 10);
    if (end == t || *end != '.' || pid <= 0)
        return 0;
    size_t hl = strlen(host);
    if (strncmp(end + 1, host, hl) != 0 || end[1 + hl] != '.' || strlen(end + 2 + hl) != 6)
        return 0;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

int ovx_wds_open(ovx_wds **out, const ovx_wds_params *p, ovx_error *err)
{
    *out = NULL;
    ovx_wds *w = calloc(1, sizeof *w);
    if (!w)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    w->p = *p;
    if (w->p.shard_items < 1)
        w->p.shard_items = 1000;
    host_tag(w->host, sizeof w->host);
    char probe[4200];
    if (snprintf(w->dir, sizeof w->dir, "%s/shards", p->out_dir) >= (int)sizeof w->dir) {
        free(w);
        return ovx_error_set(err, OVX_EUSAGE, "%s: path too long", p->out_dir);
    }
    snprintf(probe, sizeof probe, "%s/x", w->dir);
    int rc = ovx_mkdirs_for(probe, err);
    if (rc) {
        free(w);
        return rc;
    }
    DIR *d = opendir(w->dir);
    if (!d) {
        free(w);
        return ovx_error_set(err, OVX_EIO, "%s: %s", p->out_dir, strerror(errno));
    }
    for (struct dirent *e; (e = readdir(d));) {
        long n = shard_number(e->d_name, p->task);
        if (n >= w->next)
            w->next = n + 1;
        if (dead_temp(e->d_name, p->task, w->host)) {
            char path[8400];
            snprintf(path, sizeof path, "%s/%s", w->dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
    *out = w;
    return OVX_OK;
}

static void shard_path(const ovx_wds *w, long n, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%d-%06ld.tar", w->dir, w->p.task, n);
}

int ovx_wds_item_begin(ovx_wds *w, const char *key, ovx_error *err)
{
    if (snprintf(w->key, sizeof w->key, "%s", key) >= (int)sizeof w->key)
        return ovx_error_set(err, OVX_EUSAGE, "%s: key too long", key);
    if (!w->tar) {
        char path[4300];
        shard_path(w, w->next, path, sizeof path);
        int rc = ovx_tar_writer_open(&w->tar, path, w->host, err);
        if (rc)
            return rc;
    }
    w->item_mark = ovx_tar_size(w->tar);
    return OVX_OK;
}

static int add_member(ovx_wds *w, const char *suffix, const ovx_tar_part *parts, int n, ovx_error *err)
{
    char name[4400];
    if (snprintf(name, sizeof name, "%s.%s", w->key, suffix) >= (int)sizeof name)
        return ovx_error_set(err, OVX_EUSAGE, "%s: member name too long", w->key);
    return ovx_tar_add(w->tar, name, parts, n, err);
}

int ovx_wds_item_npy(ovx_wds *w, const char *suffix, ovx_dtype dtype, int ndim, const int64_t *shape,
                     const void *data, cJSON *outputs, const char *name, const char *dtype_name, ovx_error *err)
{
    char hdr[1024];
    size_t hlen = ovx_npy_header(hdr, sizeof hdr, dtype, ndim, shape);
    if (!hlen)
        return ovx_error_set(err, OVX_EINTERNAL, "npy header too long");
    size_t count = 1;
    for (int i = 0; i < ndim; i++)
        count *= (size_t)shape[i];
    void *conv = NULL;
    if (dtype == OVX_DTYPE_F16 || dtype == OVX_DTYPE_BF16) {
        conv = ovx_npy_halves_from_f32(dtype, data, count);
        if (!conv)
            return ovx_error_set(err, OVX_ENOMEM, "out of memory");
        data = conv;
    }
    ovx_tar_part parts[2] = {{hdr, hlen}, {data, count * ovx_dtype_size(dtype)}};
    int rc = add_member(w, suffix, parts, 2, err);
    free(conv);
    if (rc)
        return rc;
    cJSON *o = cJSON_AddObjectToObject(outputs, name);
    char member[4400];
    snprintf(member, sizeof member, "%s.%s", w->key, suffix);
    cJSON_AddStringToObject(o, "file", member);
    cJSON_AddStringToObject(o, "dtype", dtype_name);
    cJSON *s = cJSON_AddArrayToObject(o, "shape");
    for (int i = 0; i < ndim; i++)
        cJSON_AddItemToArray(s, cJSON_CreateNumber((double)shape[i]));
    return OVX_OK;
}

static void drop_pending(ovx_wds *w, const char *error)
{
    for (size_t i = 0; i < w->n_pending; i++) {
        if (error && w->p.lost)
            w->p.lost(w->p.user, w->pending[i], error);
        cJSON_Delete(w->pending[i]);
    }
    w->n_pending = 0;
}

/* Ends the open shard and renames it to the first free number. */
static int commit_shard(ovx_wds *w, ovx_error *err)
{
    int rc = OVX_EIO;
    for (int tries = 0; tries < 100000; tries++, w->next++) {
        char path[4300];
        shard_path(w, w->next, path, sizeof path);
        int exists = 0;
        rc = ovx_tar_commit(w->tar, path, &exists, err);
        if (rc == OVX_OK || !exists)
            break;
    }
    if (rc != OVX_OK) {
        drop_pending(w, err->msg);
        ovx_tar_abort(w->tar);
        w->tar = NULL;
        w->items = 0;
        return rc;
    }
    char shard[64];
    snprintf(shard, sizeof shard, "shards/%d-%06ld.tar", w->p.task, w->next);
    for (size_t i = 0; i < w->n_pending; i++) {
        cJSON_AddStringToObject(w->pending[i], "shard", shard);
        if (w->p.committed)
            w->p.committed(w->p.user, w->pending[i]);
        else
            cJSON_Delete(w->pending[i]);
    }
    w->n_pending = 0;
    w->tar = NULL;
    w->items = 0;
    w->next++;
    return OVX_OK;
}

int ovx_wds_item_end(ovx_wds *w, const char *json_text, cJSON *record, ovx_error *err)
{
    if (!record)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    if (w->n_pending == w->cap_pending) {
        size_t cap = w->cap_pending ? 2 * w->cap_pending : 64;
        cJSON **p = realloc(w->pending, cap * sizeof *p);
        if (!p) {
            cJSON_Delete(record);
            return ovx_error_set(err, OVX_ENOMEM, "out of memory");
        }
        w->pending = p;
        w->cap_pending = cap;
    }
    ovx_tar_part part = {json_text, strlen(json_text)};
    int rc = add_member(w, "json", &part, 1, err);
    if (rc) {
        cJSON_Delete(record);
        return rc;
    }
    w->pending[w->n_pending++] = record;
    w->items++;
    if (w->items >= w->p.shard_items || (w->p.shard_bytes && ovx_tar_size(w->tar) >= w->p.shard_bytes)) {
        ovx_error cerr; /* a shard that cannot be completed reports its items through lost() */
        commit_shard(w, &cerr);
    }
    return OVX_OK;
}

void ovx_wds_item_abort(ovx_wds *w)
{
    if (w->tar) {
        ovx_error e;
        if (ovx_tar_rollback(w->tar, w->item_mark, &e) != OVX_OK) {
            /* the shard cannot be trusted any more: its items are lost */
            drop_pending(w, e.msg);
            ovx_tar_abort(w->tar);
            w->tar = NULL;
            w->items = 0;
        }
    }
}

int ovx_wds_flush(ovx_wds *w, ovx_error *err)
{
    return w && w->tar && w->items > 0 ? commit_shard(w, err) : OVX_OK;
}

int ovx_wds_close(ovx_wds *w, ovx_error *err)
{
    if (!w)
        return OVX_OK;
    int rc = OVX_OK;
    if (w->tar && w->items > 0)
        rc = commit_shard(w, err);
    ovx_tar_abort(w->tar);
    drop_pending(w, NULL);
    free(w->pending);
    free(w);
    return rc;
}

cJSON *ovx_wds_record(const cJSON *j, const char *key, const char *shard)
{
    /* the files layout's manifest line, with the shard's names */
    cJSON *m = ovx_extract_manifest_from_json(j);
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(j, "outputs");
    if (!m || !cJSON_IsObject(outs)) {
        cJSON_Delete(m);
        return NULL;
    }
    char buf[4400];
    snprintf(buf, sizeof buf, "%s.json", key);
    cJSON_ReplaceItemInObjectCaseSensitive(m, "json", cJSON_CreateString(buf));
    cJSON_ReplaceItemInObjectCaseSensitive(m, "outputs", cJSON_Duplicate(outs, 1));
    cJSON_AddStringToObject(m, "key", key);
    if (shard)
        cJSON_AddStringToObject(m, "shard", shard);
    return m;
}

/* ---- resume index ---- */

typedef struct member {
    char *name;
    uint64_t offset, size;
} member;

typedef struct member_list {
    member *m;
    size_t n, cap;
} member_list;

static int collect(void *user, const char *name, uint64_t offset, uint64_t size)
{
    member_list *l = user;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        member *m = realloc(l->m, cap * sizeof *m);
        if (!m)
            return OVX_ENOMEM;
        l->m = m;
        l->cap = cap;
    }
    l->m[l->n].name = strdup(name);
    if (!l->m[l->n].name)
        return OVX_ENOMEM;
    l->m[l->n].offset = offset;
    l->m[l->n].size = size;
    l->n++;
    return 0;
}

static void free_members(member_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->m[i].name);
    free(l->m);
}

static int read_at(int fd, void *buf, size_t len, uint64_t off)
{
    ssize_t r = pread(fd, buf, len, (off_t)off);
    return r == (ssize_t)len ? 0 : -1;
}

static int want_dtype(const char *s, ovx_dtype *t)
{
    static const struct { const char *name; ovx_dtype t; } names[] = {
        {"float32", OVX_DTYPE_F32}, {"float16", OVX_DTYPE_F16}, {"bfloat16", OVX_DTYPE_U16},
        {"int64", OVX_DTYPE_I64},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(s, names[i].name)) {
            *t = names[i].t;
            return 0;
        }
    return -1;
}

/* One {"file","dtype","shape"} entry against the member it names. */
static int member_ok(int fd, const member_list *l, const cJSON *o)
{
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(o, "file");
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(o, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(o, "shape");
    ovx_dtype want;
    if (!cJSON_IsString(file) || !cJSON_IsString(dt) || !cJSON_IsArray(shape) || want_dtype(dt->valuestring, &want))
        return 0;
    const member *m = NULL;
    for (size_t i = 0; i < l->n && !m; i++)
        if (!strcmp(l->m[i].name, file->valuestring))
            m = &l->m[i];
    if (!m)
        return 0;
    unsigned char head[4096];
    size_t len = m->size < sizeof head ? (size_t)m->size : sizeof head;
    ovx_npy h;
    size_t off = 0;
    ovx_error e;
    if (read_at(fd, head, len, m->offset) || ovx_npy_parse_header(head, len, &h, &off, &e) != OVX_OK)
        return 0;
    int n = cJSON_GetArraySize(shape);
    int ok = h.dtype == want && h.ndim == n && (uint64_t)off + (uint64_t)h.count * ovx_dtype_size(h.dtype) == m->size;
    for (int i = 0; ok && i < n; i++) {
        const cJSON *d = cJSON_GetArrayItem(shape, i);
        ok = cJSON_IsNumber(d) && d->valuedouble == (double)h.shape[i];
    }
    return ok;
}

/* Adds the valid items of one complete shard to done. */
static int index_shard(const char *dir, const char *name, const char *hash, ovx_strmap *done, ovx_error *err)
{
    char path[8400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    member_list l = {0};
    int rc = ovx_tar_list(path, collect, &l, err);
    int fd = rc == OVX_OK ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (rc == OVX_OK && fd < 0)
        rc = ovx_error_set(err, OVX_EIO, "%s: %s", path, strerror(errno));
    char shard[4200];
    snprintf(shard, sizeof shard, "shards/%s", name);
    for (size_t i = 0; rc == OVX_OK && i < l.n; i++) {
        size_t nl = strlen(l.m[i].name);
        if (nl <= 5 || strcmp(l.m[i].name + nl - 5, ".json") != 0 || l.m[i].size > (64u << 20))
            continue;
        char *text = malloc((size_t)l.m[i].size + 1);
        if (!text) {
            rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
            break;
        }
        cJSON *j = NULL;
        if (read_at(fd, text, (size_t)l.m[i].size, l.m[i].offset) == 0) {
            text[l.m[i].size] = '\0';
            j = cJSON_Parse(text);
            ovx_json_restore_bytes(j); /* key and rel: exact bytes, as the member names */
        }
        free(text);
        char key[4200];
        snprintf(key, sizeof key, "%.*s", (int)(nl - 5), l.m[i].name);
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "settings_hash");
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(j, "key");
        const cJSON *rel = cJSON_GetObjectItemCaseSensitive(j, "rel");
        const cJSON *outs = cJSON_GetObjectItemCaseSensitive(j, "outputs");
        int ok = cJSON_IsString(h) && !strcmp(h->valuestring, hash) && cJSON_IsString(k) &&
                 !strcmp(k->valuestring, key) && cJSON_IsString(rel) && cJSON_IsObject(outs) &&
                 cJSON_GetArraySize(outs) > 0 && !ovx_strmap_get(done, rel->valuestring, NULL);
        for (const cJSON *o = ok ? outs->child : NULL; o && ok; o = o->next)
            ok = member_ok(fd, &l, o);
        if (ok) {
            cJSON *rec = ovx_wds_record(j, key, shard);
            char *line = rec ? cJSON_PrintUnformatted(rec) : NULL;
            if (!line || ovx_strmap_put(done, rel->valuestring, line))
                rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
            free(line);
            cJSON_Delete(rec);
        }
        cJSON_Delete(j);
    }
    if (fd >= 0)
        close(fd);
    free_members(&l);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int ovx_wds_index(const char *out_dir, const char *settings_hash, ovx_strmap *done, int *bad_shards,
                  ovx_error *err)
{
    return ovx_wds_index_more(out_dir, settings_hash, done, NULL, bad_shards, err);
}

int ovx_wds_index_more(const char *out_dir, const char *settings_hash, ovx_strmap *done, ovx_strmap *seen,
                       int *bad_shards, ovx_error *err)
{
    *bad_shards = 0;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/shards", out_dir);
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? OVX_OK : ovx_error_set(err, OVX_EIO, "%s: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = OVX_OK;
    for (struct dirent *e; rc == OVX_OK && (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (l <= 4 || strcmp(e->d_name + l - 4, ".tar") != 0 || e->d_name[0] == '.' ||
            (seen && ovx_strmap_get(seen, e->d_name, NULL)))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name)))
            rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
        else
            n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, by_name); /* a duplicated item: the first shard by name holds it */
    for (size_t i = 0; rc == OVX_OK && i < n; i++) {
        ovx_error e;
        int r = index_shard(dir, names[i], settings_hash, done, &e);
        if (seen && r == OVX_OK && ovx_strmap_put(seen, names[i], NULL) != 0)
            r = OVX_ENOMEM;
        if (r == OVX_ENOMEM)
            rc = ovx_error_set(err, r, "%s", e.msg);
        else if (r != OVX_OK)
            (*bad_shards)++;
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}
