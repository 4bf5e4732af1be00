/* npy.c: .npy v1.0 writer and defensive reader. */
#include "io/npy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic_file.h"
#include "io/half.h"

size_t ovx_dtype_size(ovx_dtype t)
{
    switch (t) {
    case OVX_DTYPE_F32: return 4;
    case OVX_DTYPE_F16: return 2;
    case OVX_DTYPE_I64: return 8;
    case OVX_DTYPE_I32: return 4;
    case OVX_DTYPE_U8: return 1;
    case OVX_DTYPE_U16: return 2;
    case OVX_DTYPE_BF16: return 2;
    }
    return 0;
}

const char *ovx_dtype_npy_descr(ovx_dtype t)
{
    switch (t) {
    case OVX_DTYPE_F32: return "<f4";
    case OVX_DTYPE_F16: return "<f2";
    case OVX_DTYPE_I64: return "<i8";
    case OVX_DTYPE_I32: return "<i4";
    case OVX_DTYPE_U8: return "|u1";
    case OVX_DTYPE_U16: return "<u2";
    case OVX_DTYPE_BF16: return "<u2";
    }
    return "?";
}

size_t ovx_npy_header(char *buf, size_t cap, ovx_dtype dtype, int ndim, const int64_t *shape)
{
    char dict[512];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     ovx_dtype_npy_descr(dtype));
    for (int i = 0; i < ndim; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%" PRId64 "%s", shape[i],
                      (ndim == 1 || i + 1 < ndim) ? ", " : "");
    if (ndim == 1) /* "(5, )" is what numpy itself writes as "(5,)" */
        n -= 1;
    n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    size_t total = 10 + (size_t)n + 1; /* magic(6)+ver(2)+len(2)+dict+'\n' */
    size_t padded = (total + 63) / 64 * 64;
    if (padded > cap || padded - 10 > 65535)
        return 0;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    uint16_t hl = (uint16_t)(padded - 10);
    buf[8] = (char)(hl & 0xff);
    buf[9] = (char)(hl >> 8);
    memcpy(buf + 10, dict, (size_t)n);
    memset(buf + 10 + n, ' ', padded - total);
    buf[padded - 1] = '\n';
    return padded;
}

int ovx_npy_write(const char *path, ovx_dtype dtype, int ndim, const int64_t *shape,
                  const void *data, ovx_error *err)
{
    char hdr[1024];
    size_t hlen = ovx_npy_header(hdr, sizeof hdr, dtype, ndim, shape);
    if (!hlen)
        return ovx_error_set(err, OVX_EINTERNAL, "%s: npy header too long", path);
    size_t count = 1;
    for (int i = 0; i < ndim; i++)
        count *= (size_t)shape[i];
    ovx_atomic_file af;
    int rc = ovx_atomic_open(&af, path, err);
    if (rc)
        return rc;
    size_t bytes = count * ovx_dtype_size(dtype);
    if (fwrite(hdr, 1, hlen, af.fp) != hlen || (bytes && fwrite(data, 1, bytes, af.fp) != bytes)) {
        int e = errno;
        ovx_atomic_abort(&af);
        return ovx_error_set(err, OVX_EIO, "%s: write failed: %s", path, strerror(e));
    }
    return ovx_atomic_commit(&af, err);
}

uint16_t *ovx_npy_halves_from_f32(ovx_dtype dtype, const float *data, size_t count)
{
    uint16_t *h = malloc(count ? count * 2 : 1);
    if (h)
        for (size_t i = 0; i < count; i++)
            h[i] = dtype == OVX_DTYPE_F16 ? ovx_f32_to_f16(data[i]) : ovx_f32_to_bf16(data[i]);
    return h;
}

int ovx_npy_write_f32_as(const char *path, ovx_dtype dtype, int ndim, const int64_t *shape,
                         const float *data, ovx_error *err)
{
    if (dtype == OVX_DTYPE_F32)
        return ovx_npy_write(path, dtype, ndim, shape, data, err);
    if (dtype != OVX_DTYPE_F16 && dtype != OVX_DTYPE_BF16)
        return ovx_error_set(err, OVX_EINTERNAL, "%s: cannot write float data as %s", path,
                             ovx_dtype_npy_descr(dtype));
    size_t count = 1;
    for (int i = 0; i < ndim; i++)
        count *= (size_t)shape[i];
    uint16_t *h = ovx_npy_halves_from_f32(dtype, data, count);
    if (!h)
        return ovx_error_set(err, OVX_ENOMEM, "%s: out of memory", path);
    int rc = ovx_npy_write(path, dtype, ndim, shape, h, err);
    free(h);
    return rc;
}

/* Finds "'key':" in the dict and returns a pointer just past it, or NULL. */
static const char *dict_value(const char *dict, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(dict, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    if (*p != ':')
        return NULL;
    p++;
    while (*p == ' ')
        p++;
    return p;
}

int ovx_npy_parse_header(const unsigned char *buf, size_t len, ovx_npy *out,
                         size_t *data_offset, ovx_error *err)
{
    memset(out, 0, sizeof *out);
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
        return ovx_error_set(err, OVX_EINPUT, "not an .npy file (bad magic)");
    size_t hl, off;
    if (buf[6] == 1) {
        hl = (size_t)buf[8] | ((size_t)buf[9] << 8);
        off = 10;
    } else if (buf[6] == 2 || buf[6] == 3) {
        if (len < 12)
            return ovx_error_set(err, OVX_EINPUT, "truncated .npy header");
        hl = (size_t)buf[8] | ((size_t)buf[9] << 8) | ((size_t)buf[10] << 16) | ((size_t)buf[11] << 24);
        off = 12;
    } else {
        return ovx_error_set(err, OVX_EUNSUPPORTED, "unsupported .npy version %d", buf[6]);
    }
    if (hl > 65536 || off + hl > len)
        return ovx_error_set(err, OVX_EINPUT, "truncated or oversized .npy header");
    char dict[65537];
    memcpy(dict, buf + off, hl);
    dict[hl] = '\0';

    const char *d = dict_value(dict, "descr");
    if (!d || *d != '\'')
        return ovx_error_set(err, OVX_EINPUT, ".npy header has no descr");
    d++;
    static const struct { const char *s; ovx_dtype t; } types[] = {
        {"<f4'", OVX_DTYPE_F32}, {"<f2'", OVX_DTYPE_F16}, {"<i8'", OVX_DTYPE_I64},
        {"<i4'", OVX_DTYPE_I32}, {"|u1'", OVX_DTYPE_U8}, {"<u1'", OVX_DTYPE_U8},
        {"<u2'", OVX_DTYPE_U16},
    };
    int found = 0;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strncmp(d, types[i].s, strlen(types[i].s)) == 0) {
            out->dtype = types[i].t;
            found = 1;
            break;
        }
    }
    if (!found) {
        const char *q = strchr(d, '\'');
        int n = q ? (int)(q - d) : 8;
        return ovx_error_set(err, OVX_EUNSUPPORTED,
                             ".npy dtype '%.*s' not supported (use float32, float16, int64 or int32)",
                             n > 16 ? 16 : n, d);
    }
    const char *f = dict_value(dict, "fortran_order");
    if (!f || strncmp(f, "False", 5) != 0)
        return ovx_error_set(err, OVX_EUNSUPPORTED, ".npy in Fortran order is not supported");
    const char *s = dict_value(dict, "shape");
    if (!s || *s != '(')
        return ovx_error_set(err, OVX_EINPUT, ".npy header has no shape");
    s++;
    out->ndim = 0;
    out->count = 1;
    for (;;) {
        while (*s == ' ' || *s == ',')
            s++;
        if (*s == ')')
            break;
        if (*s < '0' || *s > '9')
            return ovx_error_set(err, OVX_EINPUT, "bad .npy shape");
        if (out->ndim >= OVX_NPY_MAX_DIMS)
            return ovx_error_set(err, OVX_EUNSUPPORTED, ".npy has more than %d dimensions", OVX_NPY_MAX_DIMS);
        errno = 0;
        char *end;
        long long v = strtoll(s, &end, 10);
        if (errno || v < 0 || v > ((int64_t)1 << 40))
            return ovx_error_set(err, OVX_EINPUT, "bad .npy shape value");
        out->shape[out->ndim++] = v;
        if (v && out->count > (((int64_t)1 << 40) / v))
            return ovx_error_set(err, OVX_EINPUT, ".npy array too large");
        out->count *= v;
        s = end;
    }
    *data_offset = off + hl;
    return OVX_OK;
}

static int read_common(const char *path, ovx_npy *out, int want_data, ovx_error *err)
{
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return ovx_error_set(err, OVX_EIO, "%s: %s", path, strerror(errno));
    unsigned char head[65536 + 12];
    size_t got = fread(head, 1, sizeof head, fp);
    size_t off = 0;
    int rc = ovx_npy_parse_header(head, got, out, &off, err);
    if (rc) {
        fclose(fp);
        ovx_error_prefix(err, "%s", path);
        return rc;
    }
    if (fseeko(fp, 0, SEEK_END) != 0) {
        fclose(fp);
        return ovx_error_set(err, OVX_EIO, "%s: cannot seek", path);
    }
    off_t size = ftello(fp);
    size_t bytes = (size_t)out->count * ovx_dtype_size(out->dtype);
    if (size < 0 || (uint64_t)size != (uint64_t)off + bytes) {
        fclose(fp);
        return ovx_error_set(err, OVX_EINPUT, "%s: file size %lld does not match its header (%zu data bytes expected)",
                             path, (long long)size, bytes);
    }
    if (!want_data) {
        fclose(fp);
        return OVX_OK;
    }
    out->data = malloc(bytes ? bytes : 1);
    if (!out->data) {
        fclose(fp);
        return ovx_error_set(err, OVX_ENOMEM, "%s: out of memory (%zu bytes)", path, bytes);
    }
    if (fseeko(fp, (off_t)off, SEEK_SET) != 0 || (bytes && fread(out->data, 1, bytes, fp) != bytes)) {
        fclose(fp);
        ovx_npy_free(out);
        return ovx_error_set(err, OVX_EIO, "%s: read failed", path);
    }
    fclose(fp);
    return OVX_OK;
}

int ovx_npy_read(const char *path, ovx_npy *out, ovx_error *err)
{
    return read_common(path, out, 1, err);
}

int ovx_npy_read_header(const char *path, ovx_npy *out, ovx_error *err)
{
    return read_common(path, out, 0, err);
}

int ovx_npy_to_f32(ovx_npy *a, ovx_error *err)
{
    if (a->dtype == OVX_DTYPE_F32)
        return OVX_OK;
    if (a->dtype != OVX_DTYPE_F16)
        return ovx_error_set(err, OVX_EINPUT, "expected a float array, got %s", ovx_dtype_npy_descr(a->dtype));
    float *f = malloc(a->count ? (size_t)a->count * 4 : 4);
    if (!f)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    const uint16_t *h = a->data;
    for (int64_t i = 0; i < a->count; i++)
        f[i] = ovx_f16_to_f32(h[i]);
    free(a->data);
    a->data = f;
    a->dtype = OVX_DTYPE_F32;
    return OVX_OK;
}

void ovx_npy_free(ovx_npy *a)
{
    free(a->data);
    a->data = NULL;
}
