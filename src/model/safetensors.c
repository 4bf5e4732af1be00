/* safetensors.c: mmap + validation of .safetensors files (see safetensors.h). */
#include "model/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/half.h"
#include "io/regular_file.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian; F32 is copied as is");

size_t ovx_st_dtype_size(ovx_st_dtype d)
{
    switch (d) {
    case OVX_ST_BF16:
    case OVX_ST_F16: return 2;
    case OVX_ST_F32: return 4;
    default: return 0;
    }
}

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp(((const ovx_st_tensor *)a)->name, ((const ovx_st_tensor *)b)->name);
}

static int cmp_tensor_data(const void *a, const void *b)
{
    const ovx_st_tensor *x = *(const ovx_st_tensor *const *)a, *y = *(const ovx_st_tensor *const *)b;
    if (x->data != y->data)
        return x->data < y->data ? -1 : 1;
    return (x->nbytes > y->nbytes) - (x->nbytes < y->nbytes);
}

static void free_tensors(ovx_st_file *f)
{
    for (int i = 0; i < f->n; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    f->tensors = NULL;
    f->n = 0;
}

/* Dtype names the safetensors format defines; only three are supported. */
static ovx_st_dtype parse_dtype(const char *s)
{
    if (!strcmp(s, "BF16")) return OVX_ST_BF16;
    if (!strcmp(s, "F16")) return OVX_ST_F16;
    if (!strcmp(s, "F32")) return OVX_ST_F32;
    return OVX_ST_OTHER;
}

/* Parses one header entry into t; data_len is the size of the data area. */
static int parse_entry(const cJSON *e, const unsigned char *data, uint64_t data_len, ovx_st_tensor *t,
                       ovx_error *err)
{
    const char *name = e->string;
    if (!cJSON_IsObject(e))
        return ovx_error_set(err, OVX_EINPUT, "tensor \"%.200s\": header entry is not an object", name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(of))
        return ovx_error_set(err, OVX_EINPUT, "tensor \"%.200s\": needs string dtype, array shape and data_offsets",
                             name);
    t->dtype = parse_dtype(dt->valuestring);
    snprintf(t->dtype_name, sizeof t->dtype_name, "%.15s", dt->valuestring);
    if (t->dtype == OVX_ST_OTHER)
        return ovx_error_set(err, OVX_EUNSUPPORTED, "tensor \"%.200s\": unsupported dtype \"%.20s\" (BF16, F16, F32)",
                             name, dt->valuestring);
    int nd = cJSON_GetArraySize(sh);
    if (nd > OVX_ST_MAX_DIMS)
        return ovx_error_set(err, OVX_EINPUT, "tensor \"%.200s\": %d dimensions (max %d)", name, nd, OVX_ST_MAX_DIMS);
    t->ndim = nd;
    uint64_t numel = 1;
    int i = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, sh) {
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 9007199254740992.0 ||
            d->valuedouble != (double)(int64_t)d->valuedouble)
            return ovx_error_set(err, OVX_EINPUT, "tensor \"%.200s\": bad shape entry", name);
        uint64_t v = (uint64_t)d->valuedouble;
        t->shape[i++] = (int64_t)v;
        if (v && numel > UINT64_MAX / 8 / v)
            return ovx_error_set(err, OVX_EINPUT, "tensor \"%.200s\": shape too large", name);
        numel *= v;
    }
    if (cJSON_GetArraySize(of) != 2)
        return ovx_error_set(err, OVX_EINPUT, "tensor \"%.200s\": data_offsets must have 2 entries", name);
    double b = cJSON_GetArrayItem(of, 0)->valuedouble, en = cJSON_GetArrayItem(of, 1)->valuedouble;
    if (!cJSON_IsNumber(cJSON_GetArrayItem(of, 0)) || !cJSON_IsNumber(cJSON_GetArrayItem(of, 1)) || b < 0 ||
        en < b || en > (double)data_len || b != (double)(uint64_t)b || en != (double)(uint64_t)en)
        return ovx_error_set(err, OVX_EINPUT,
                             "tensor \"%.200s\": data_offsets [%.0f, %.0f] outside the data area (%llu bytes)",
                             name, b, en, (unsigned long long)data_len);
    uint64_t ub = (uint64_t)b, ue = (uint64_t)en;
    uint64_t want = numel * ovx_st_dtype_size(t->dtype);
    if (ue - ub != want)
        return ovx_error_set(err, OVX_EINPUT, "tensor \"%.200s\": %llu bytes of data for %llu elements of %s", name,
                             (unsigned long long)(ue - ub), (unsigned long long)numel, t->dtype_name);
    t->numel = (int64_t)numel;
    t->nbytes = (size_t)want;
    t->data = data + ub;
    return OVX_OK;
}

/* Checks the raw header text before cJSON sees it: no NUL bytes (cJSON
 * would stop there and ignore the rest) and no object key with a \u0000
 * escape (cJSON would cut the tensor name at the NUL, so two different names
 * could read as one). Keys are the strings followed by ':'. */
static int check_header_text(const char *h, size_t n, ovx_error *err)
{
    if (memchr(h, '\0', n))
        return ovx_error_set(err, OVX_EINPUT, "header contains a NUL byte");
    for (size_t i = 0; i < n; i++) {
        if (h[i] != '"')
            continue;
        int nul = 0;
        size_t j = i + 1;
        for (; j < n && h[j] != '"'; j++)
            if (h[j] == '\\' && j + 1 < n) {
                if (h[j + 1] == 'u' && j + 5 < n && !strncmp(h + j + 2, "0000", 4))
                    nul = 1;
                j++;
            }
        size_t k = j + 1;
        while (k < n && (h[k] == ' ' || h[k] == '\t' || h[k] == '\n' || h[k] == '\r'))
            k++;
        if (nul && k < n && h[k] == ':')
            return ovx_error_set(err, OVX_EINPUT, "header key \"%.*s\" contains a NUL character (\\u0000)",
                                 (int)(j - i - 1 < 200 ? j - i - 1 : 200), h + i + 1);
        i = j;
    }
    return OVX_OK;
}

int ovx_st_parse(const unsigned char *buf, size_t len, ovx_st_file *f, ovx_error *err)
{
    f->n = 0;
    f->tensors = NULL;
    if (len < 8)
        return ovx_error_set(err, OVX_EINPUT, "too short for a safetensors file (%zu bytes)", len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | buf[i];
    if (hl > OVX_ST_MAX_HEADER)
        return ovx_error_set(err, OVX_EINPUT, "header length %llu exceeds the %u byte limit",
                             (unsigned long long)hl, OVX_ST_MAX_HEADER);
    if (hl > len - 8)
        return ovx_error_set(err, OVX_EINPUT, "header length %llu exceeds the file size %zu",
                             (unsigned long long)hl, len);
    if (hl < 2 || buf[8] != '{')
        return ovx_error_set(err, OVX_EINPUT, "header is not a JSON object");
    const char *hdr = (const char *)buf + 8;
    int rc = check_header_text(hdr, (size_t)hl, err);
    if (rc)
        return rc;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, (size_t)hl, &end, 0);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ovx_error_set(err, OVX_EINPUT, "header is not valid JSON");
    }
    /* The format pads the header with spaces (0x20); the reference reader
     * (serde_json) also takes other JSON whitespace there. Nothing else. */
    for (const char *p = end; p && p < hdr + hl; p++)
        if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') {
            cJSON_Delete(root);
            return ovx_error_set(err, OVX_EINPUT, "%zu bytes after the header JSON are not whitespace padding",
                                 (size_t)(hdr + hl - p));
        }
    const unsigned char *data = buf + 8 + hl;
    uint64_t data_len = len - 8 - hl;
    int count = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) count++;
    f->tensors = calloc(count ? (size_t)count : 1, sizeof *f->tensors);
    ovx_st_tensor **by_data = calloc(count ? (size_t)count : 1, sizeof *by_data);
    if (!f->tensors || !by_data) {
        rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
        goto done;
    }
    cJSON_ArrayForEach(e, root) {
        if (!e->string) {
            rc = ovx_error_set(err, OVX_EINPUT, "header entry without a name");
            goto done;
        }
        if (!strcmp(e->string, "__metadata__")) {
            if (!cJSON_IsObject(e)) {
                rc = ovx_error_set(err, OVX_EINPUT, "__metadata__ is not an object");
                goto done;
            }
            continue;
        }
        ovx_st_tensor *t = &f->tensors[f->n];
        memset(t, 0, sizeof *t);
        if ((rc = parse_entry(e, data, data_len, t, err)))
            goto done;
        t->name = strdup(e->string);
        if (!t->name) {
            rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
            goto done;
        }
        f->n++;
    }
    qsort(f->tensors, (size_t)f->n, sizeof *f->tensors, cmp_tensor_name);
    for (int i = 1; i < f->n; i++)
        if (!strcmp(f->tensors[i - 1].name, f->tensors[i].name)) {
            rc = ovx_error_set(err, OVX_EINPUT, "tensor \"%.200s\" appears twice in the header", f->tensors[i].name);
            goto done;
        }
    for (int i = 0; i < f->n; i++)
        by_data[i] = &f->tensors[i];
    qsort(by_data, (size_t)f->n, sizeof *by_data, cmp_tensor_data);
    for (int i = 1; i < f->n; i++) {
        const ovx_st_tensor *a = by_data[i - 1], *b = by_data[i];
        if (b->nbytes && a->data + a->nbytes > b->data) {
            rc = ovx_error_set(err, OVX_EINPUT, "tensors \"%.200s\" and \"%.200s\" overlap", a->name, b->name);
            goto done;
        }
    }
done:
    free(by_data);
    cJSON_Delete(root);
    if (rc)
        free_tensors(f);
    return rc;
}

int ovx_st_open(const char *path, ovx_st_file *f, ovx_error *err)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    snprintf(f->path, sizeof f->path, "%s", path);
    int fd;
    off_t size;
    int rc = ovx_open_regular(path, &fd, &size, err);
    if (rc)
        return rc;
    if (size < 8) {
        close(fd);
        return ovx_error_set(err, OVX_EINPUT, "%s: too short for a safetensors file (%lld bytes)", path,
                             (long long)size);
    }
    void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
        int e = errno;
        close(fd);
        return ovx_error_set(err, OVX_EIO, "%s: mmap failed: %s", path, strerror(e));
    }
    f->fd = fd;
    f->map = m;
    f->map_len = (size_t)size;
    rc = ovx_st_parse(f->map, f->map_len, f, err);
    if (rc) {
        ovx_error_prefix(err, "%s", path);
        ovx_st_close(f);
    }
    return rc;
}

void ovx_st_close(ovx_st_file *f)
{
    free_tensors(f);
    if (f->map)
        munmap(f->map, f->map_len);
    if (f->fd >= 0)
        close(f->fd);
    f->map = NULL;
    f->fd = -1;
}

const ovx_st_tensor *ovx_st_find(const ovx_st_file *f, const char *name)
{
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(f->tensors[mid].name, name);
        if (!c)
            return &f->tensors[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

void ovx_st_release(const ovx_st_file *f, const ovx_st_tensor *t)
{
    if (!f->map || !t->nbytes || t->data < f->map || t->data + t->nbytes > f->map + f->map_len)
        return;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t b = (size_t)(t->data - f->map) / page * page, e = (size_t)(t->data - f->map) + t->nbytes;
    /* read-only private mapping: dropping a page only costs a re-read */
    madvise(f->map + b, e - b, MADV_DONTNEED);
}

int64_t ovx_st_to_f32(const ovx_st_tensor *t, float *dst)
{
    const unsigned char *p = t->data;
    int64_t n = t->numel;
    switch (t->dtype) {
    case OVX_ST_F32:
        memcpy(dst, p, (size_t)n * 4); /* little-endian host (x86-64, aarch64) */
        break;
    case OVX_ST_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint32_t u = ((uint32_t)p[2 * i] | (uint32_t)p[2 * i + 1] << 8) << 16;
            memcpy(&dst[i], &u, 4);
        }
        break;
    case OVX_ST_F16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = ovx_f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        break;
    default:
        return 0;
    }
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad += !isfinite(dst[i]);
    return bad;
}
