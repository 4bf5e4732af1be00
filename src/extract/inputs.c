/* inputs.c: builds the item list of an extract run from arguments, folder
 * walks and path lists (see inputs.h for the naming rules). */
#include "extract/inputs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "extract/listdir.h"
#include "extract/strmap.h"
#include "video/netio.h"

const char *const OVX_DEFAULT_EXTS =
    "mp4,m4v,mov,mkv,webm,avi,mpg,mpeg,m2v,ts,mts,m2ts,flv,wmv,3gp,ogv,h264,264,h265,265,hevc,ivf,"
    "png,jpg,jpeg,webp,bmp";

static const char *ext_of(const char *name)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *dot = strrchr(base, '.');
    return (dot && dot != base) ? dot + 1 : NULL;
}

int ovx_ext_filter_parse(ovx_ext_filter *f, const char *csv, ovx_error *err)
{
    memset(f, 0, sizeof *f);
    char *copy = strdup(csv);
    if (!copy)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '.')
            tok++;
        size_t len = strlen(tok);
        while (len && tok[len - 1] == ' ')
            tok[--len] = '\0';
        if (!len)
            continue;
        char **grown = realloc(f->exts, (size_t)(f->n + 1) * sizeof *grown);
        if (!grown || !(grown[f->n] = strdup(tok))) {
            if (grown)
                f->exts = grown;
            free(copy);
            ovx_ext_filter_free(f);
            return ovx_error_set(err, OVX_ENOMEM, "out of memory");
        }
        for (char *c = grown[f->n]; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        f->exts = grown;
        f->n++;
    }
    free(copy);
    if (!f->n)
        return ovx_error_set(err, OVX_EUSAGE, "--ext: no extension in '%s'", csv);
    return OVX_OK;
}

void ovx_ext_filter_free(ovx_ext_filter *f)
{
    for (int i = 0; i < f->n; i++)
        free(f->exts[i]);
    free(f->exts);
    memset(f, 0, sizeof *f);
}

int ovx_ext_filter_match(const ovx_ext_filter *f, const char *name)
{
    const char *e = ext_of(name);
    if (!e)
        return 0;
    for (int i = 0; i < f->n; i++)
        if (strcasecmp(e, f->exts[i]) == 0)
            return 1;
    return 0;
}

int ovx_path_is_image(const char *path)
{
    static const char *const img[] = {"png", "jpg", "jpeg", "webp", "bmp"};
    const char *e = ext_of(path);
    if (!e)
        return 0;
    for (size_t i = 0; i < sizeof img / sizeof img[0]; i++)
        if (strcasecmp(e, img[i]) == 0)
            return 1;
    return 0;
}

/* Makes room for one more element in a growing array; -1 when out of memory. */
static int reserve_one(void **array, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t grown_cap = *cap ? *cap * 2 : 32;
    void *grown = realloc(*array, grown_cap * elem);
    if (!grown)
        return -1;
    *array = grown;
    *cap = grown_cap;
    return 0;
}

static int add_item(ovx_input_list *l, const char *path, const char *rel, const char *label,
                    const char *error)
{
    if (reserve_one((void **)&l->items, l->n, &l->cap, sizeof *l->items))
        return -1;
    ovx_input *it = &l->items[l->n];
    memset(it, 0, sizeof *it);
    it->path = strdup(path);
    it->rel = strdup(rel);
    it->label = label ? strdup(label) : NULL;
    it->error = error ? strdup(error) : NULL;
    if (!it->path || !it->rel || (label && !it->label) || (error && !it->error)) {
        free(it->path);
        free(it->rel);
        free(it->label);
        free(it->error);
        return -1;
    }
    l->n++;
    return 0;
}

typedef struct dir_id {
    dev_t dev;
    ino_t ino;
} dir_id;

typedef struct walker {
    ovx_input_list *l;
    const ovx_ext_filter *f;
    const char *label;
    dir_id *seen;
    size_t n_seen, cap_seen;
} walker;

/* Why an input that is not a regular file is not read. */
static const char *not_regular(mode_t m)
{
    return S_ISFIFO(m) ? "not a regular file (a FIFO)" : S_ISSOCK(m) ? "not a regular file (a socket)"
         : S_ISCHR(m) || S_ISBLK(m) ? "not a regular file (a device)" : "not a regular file";
}

/* Hidden names are not listed; any other name is, whatever it looks like. */
static int walk_keep(const char *name)
{
    return name[0] != '.';
}

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int slash = la && a[la - 1] != '/';
    char *s = malloc(la + lb + 2);
    if (s)
        snprintf(s, la + lb + 2, "%s%s%s", a, slash ? "/" : "", b);
    return s;
}

/* Walks folder `path` whose entries get REL `prefix/NAME` ("" prefix: NAME). */
static int walk_dir(walker *w, const char *path, const char *prefix, int depth)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return add_item(w->l, path, prefix[0] ? prefix : ".", w->label, strerror(errno));
    for (size_t i = 0; i < w->n_seen; i++)
        if (w->seen[i].dev == st.st_dev && w->seen[i].ino == st.st_ino)
            return 0; /* already listed (symlink loop or second link) */
    if (reserve_one((void **)&w->seen, w->n_seen, &w->cap_seen, sizeof *w->seen))
        return -1;
    w->seen[w->n_seen++] = (dir_id){st.st_dev, st.st_ino};
    if (depth > 200)
        return add_item(w->l, path, prefix, w->label, "folder nesting deeper than 200 levels");

    char **names = NULL;
    size_t n = 0;
    if (ovx_list_dir(path, walk_keep, &names, &n) != 0)
        return errno == ENOMEM ? -1 : add_item(w->l, path, prefix[0] ? prefix : ".", w->label, strerror(errno));
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *full = join(path, names[i]);
        char *rel = prefix[0] ? join(prefix, names[i]) : strdup(names[i]);
        if (!full || !rel) {
            rc = -1;
        } else if (stat(full, &st) != 0) {
            if (ovx_ext_filter_match(w->f, names[i]))
                rc = add_item(w->l, full, rel, w->label, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            rc = walk_dir(w, full, rel, depth + 1);
        } else if (ovx_ext_filter_match(w->f, names[i])) { /* a FIFO or device: failed, said, never opened */
            rc = add_item(w->l, full, rel, w->label, S_ISREG(st.st_mode) ? NULL : not_regular(st.st_mode));
        }
        free(full);
        free(rel);
    }
    ovx_list_dir_free(names, n);
    return rc;
}

/* A file or folder at `path` with REL (or REL prefix for folders) `rel`. */
static int add_path(ovx_input_list *l, const char *path, const char *rel, const char *label,
                    const ovx_ext_filter *f)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return add_item(l, path, rel, label, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        walker w = {.l = l, .f = f, .label = label};
        int rc = walk_dir(&w, path, rel, 0);
        free(w.seen);
        return rc;
    }
    return add_item(l, path, rel, label, S_ISREG(st.st_mode) ? NULL : not_regular(st.st_mode));
}

char *ovx_url_rel(const char *url, const char **why)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    p += strcspn(p, "/?#"); /* the host (and port, user) */
    size_t n = strcspn(p, "?#");
    char *path = strndup(p, n);
    if (!path) {
        *why = "out of memory";
        return NULL;
    }
    char *rel = ovx_rel_normalise(path, why);
    free(path);
    if (!rel && !strcmp(*why, "empty path"))
        *why = "URL has no path to name its outputs";
    return rel;
}

/* A URL input: opened by libavformat as given, named by its path. */
static int add_url(ovx_input_list *l, const char *url, const char *label)
{
    const char *why = NULL;
    char *rel = ovx_url_rel(url, &why);
    int r = add_item(l, url, rel ? rel : url, label, rel ? NULL : why);
    free(rel);
    return r;
}

int ovx_inputs_add_arg(ovx_input_list *l, const char *arg, const ovx_ext_filter *f, ovx_error *err)
{
    struct stat st;
    int rc;
    if (ovx_is_url(arg)) {
        rc = add_url(l, arg, NULL);
    } else if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
        rc = add_path(l, arg, "", NULL, f);
    } else {
        char *copy = strdup(arg);
        if (!copy)
            return ovx_error_set(err, OVX_ENOMEM, "out of memory");
        size_t len = strlen(copy);
        while (len > 1 && copy[len - 1] == '/')
            copy[--len] = '\0';
        const char *base = strrchr(copy, '/');
        base = base ? base + 1 : copy;
        rc = add_path(l, arg, base[0] ? base : copy, NULL, f);
        free(copy);
    }
    return rc ? ovx_error_set(err, OVX_ENOMEM, "out of memory") : OVX_OK;
}

char *ovx_rel_normalise(const char *path, const char **why)
{
    size_t len = strlen(path);
    char *out = malloc(len + 1);
    if (!out) {
        *why = "out of memory";
        return NULL;
    }
    size_t o = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            free(out);
            *why = "path has a '..' component (its outputs could leave the output folder)";
            return NULL;
        }
        if (n && !(n == 1 && p[0] == '.')) {
            if (o)
                out[o++] = '/';
            memcpy(out + o, p, n);
            o += n;
        }
        p += n;
    }
    out[o] = '\0';
    if (!o) {
        free(out);
        *why = "empty path";
        return NULL;
    }
    return out;
}

int ovx_csv_split2(const char *line, char **f1, char **f2)
{
    *f1 = *f2 = NULL;
    if (!line[0])
        return 0;
    char *fields[2] = {NULL, NULL};
    int nf = 0;
    const char *p = line;
    for (;;) {
        size_t len = strlen(p);
        char *buf = malloc(len + 1);
        if (!buf)
            goto fail;
        size_t o = 0;
        if (*p == '"') {
            p++;
            for (;;) {
                if (!*p) {
                    free(buf);
                    goto fail;
                }
                if (*p == '"') {
                    if (p[1] == '"') {
                        buf[o++] = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                buf[o++] = *p++;
            }
            if (*p && *p != ',') {
                free(buf);
                goto fail;
            }
        } else {
            while (*p && *p != ',')
                buf[o++] = *p++;
        }
        buf[o] = '\0';
        if (nf < 2)
            fields[nf] = buf;
        else
            free(buf);
        nf++;
        if (*p != ',')
            break;
        p++;
    }
    *f1 = fields[0];
    *f2 = fields[1];
    return nf > 2 ? 2 : nf;
fail:
    free(fields[0]);
    free(fields[1]);
    return -1;
}

/* Reads the next line of fp and splits it as CSV; returns the field count
 * (see ovx_csv_split2) or -2 at the end of the file. */
static int next_csv_line(FILE *fp, char **line, size_t *cap, char **path, char **label)
{
    *path = *label = NULL;
    if (getline(line, cap, fp) < 0)
        return -2;
    size_t len = strlen(*line);
    while (len && ((*line)[len - 1] == '\n' || (*line)[len - 1] == '\r'))
        (*line)[--len] = '\0';
    const char *text = *line;
    if (!strncmp(text, "\xef\xbb\xbf", 3)) /* UTF-8 byte order mark (spreadsheet exports) */
        text += 3;
    return ovx_csv_split2(text, path, label);
}

int ovx_inputs_add_list(ovx_input_list *l, const char *list, const ovx_ext_filter *f, ovx_error *err)
{
    FILE *fp = strcmp(list, "-") == 0 ? stdin : fopen(list, "r");
    if (!fp)
        return ovx_error_set(err, OVX_EIO, "%s: cannot open list: %s", list, strerror(errno));
    const char *name = fp == stdin ? "stdin" : list;
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    int rc = OVX_OK;
    char *path, *label;
    int nf;
    while ((nf = next_csv_line(fp, &line, &cap, &path, &label)) != -2) {
        lineno++;
        if (nf < 0) {
            rc = ovx_error_set(err, OVX_EUSAGE, "%s:%ld: bad CSV quoting", name, lineno);
            break;
        }
        if (nf == 0 || !path[0] || (lineno == 1 && nf == 2 && !strcasecmp(path, "path") &&
                                    !strcasecmp(label, "label"))) {
            free(path);
            free(label);
            continue;
        }
        if (label && !label[0]) {
            free(label);
            label = NULL;
        }
        const char *why = NULL;
        char *rel = ovx_is_url(path) ? NULL : ovx_rel_normalise(path, &why);
        int r = ovx_is_url(path) ? add_url(l, path, label)
                : rel           ? add_path(l, path, rel, label, f)
                                : add_item(l, path, path, label, why);
        free(rel);
        free(path);
        free(label);
        if (r) {
            rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
            break;
        }
    }
    if (rc == OVX_OK && ferror(fp))
        rc = ovx_error_set(err, OVX_EIO, "%s: read error", name);
    free(line);
    if (fp != stdin)
        fclose(fp);
    return rc;
}

static char *strip_ext(const char *rel)
{
    char *s = strdup(rel);
    if (s) {
        const char *e = ext_of(s);
        if (e)
            s[e - s - 1] = '\0';
    }
    return s;
}

int ovx_inputs_apply_labels(ovx_input_list *l, const char *csv, ovx_error *err)
{
    FILE *fp = fopen(csv, "r");
    if (!fp)
        return ovx_error_set(err, OVX_EIO, "%s: cannot open labels: %s", csv, strerror(errno));
    ovx_strmap map = {0};
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    int rc = OVX_OK;
    char *path, *label;
    int nf;
    while (rc == OVX_OK && (nf = next_csv_line(fp, &line, &cap, &path, &label)) != -2) {
        lineno++;
        if (nf < 0 || nf == 1)
            rc = ovx_error_set(err, OVX_EUSAGE, "%s:%ld: expected `path,label`", csv, lineno);
        else if (nf == 2 && !(lineno == 1 && !strcasecmp(path, "path")))
            if (ovx_strmap_put(&map, path, label) != 0)
                rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
        free(path);
        free(label);
    }
    free(line);
    fclose(fp);
    for (size_t i = 0; rc == OVX_OK && i < l->n; i++) {
        ovx_input *it = &l->items[i];
        if (it->label)
            continue;
        const char *v = NULL;
        char *bare = strip_ext(it->rel);
        if (!bare) {
            rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
            break;
        }
        if (ovx_strmap_get(&map, it->rel, &v) || ovx_strmap_get(&map, bare, &v) ||
            ovx_strmap_get(&map, it->path, &v)) {
            if (v && !(it->label = strdup(v)))
                rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
        }
        free(bare);
    }
    ovx_strmap_free(&map);
    return rc;
}

int ovx_inputs_label_from_dir(ovx_input_list *l, ovx_error *err)
{
    for (size_t i = 0; i < l->n; i++) {
        ovx_input *it = &l->items[i];
        if (it->label)
            continue;
        /* parent folder of the path as opened (REL may have no folder) */
        char *copy = strdup(it->path);
        if (!copy)
            return ovx_error_set(err, OVX_ENOMEM, "out of memory");
        char *slash = strrchr(copy, '/');
        const char *parent = NULL;
        if (slash) {
            *slash = '\0';
            char *up = strrchr(copy, '/');
            parent = up ? up + 1 : copy;
        }
        if (!it->label && parent && parent[0] && strcmp(parent, ".") && strcmp(parent, ".."))
            it->label = strdup(parent);
        free(copy);
    }
    return OVX_OK;
}

void ovx_inputs_free(ovx_input_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].path);
        free(l->items[i].rel);
        free(l->items[i].label);
        free(l->items[i].error);
    }
    free(l->items);
    memset(l, 0, sizeof *l);
}
