/* tar.c: ustar/pax writer (temp file, rollback, no-replace commit) and a
 * defensive member walker. */
#include "io/tar.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/atomic_file.h"

#define BLOCK 512

struct ovx_tar_writer {
    int fd;
    uint64_t size;
    char final_path[4096];
    char tmp_path[4200];
};

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int ovx_tar_writer_open(ovx_tar_writer **out, const char *final_path, const char *tag, ovx_error *err)
{
    *out = NULL;
    ovx_tar_writer *w = calloc(1, sizeof *w);
    if (!w)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    if (snprintf(w->final_path, sizeof w->final_path, "%s", final_path) >= (int)sizeof w->final_path) {
        free(w);
        return ovx_error_set(err, OVX_EUSAGE, "%s: path too long", final_path);
    }
    if (tag && (strchr(tag, '/') || strlen(tag) > 64))
        tag = NULL;
    snprintf(w->tmp_path, sizeof w->tmp_path, "%s.tmp.%ld.%s%sXXXXXX", final_path, (long)getpid(), tag ? tag : "",
             tag ? "." : "");
    w->fd = mkstemp(w->tmp_path);
    if (w->fd < 0) {
        int e = errno;
        free(w);
        return ovx_error_set(err, OVX_EIO, "%s: cannot create temporary file: %s", final_path, strerror(e));
    }
    fchmod(w->fd, 0644);
    *out = w;
    return OVX_OK;
}

const char *ovx_tar_temp_path(const ovx_tar_writer *w)
{
    return w->tmp_path;
}

uint64_t ovx_tar_size(const ovx_tar_writer *w)
{
    return w->size;
}

/* Octal number, zero-padded to width-1 digits and a NUL; 0 when it does not fit. */
static int put_octal(char *field, size_t width, uint64_t v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%0*llo", (int)width - 1, (unsigned long long)v);
    if (n < 0 || (size_t)n > width - 1)
        return 0;
    memcpy(field, tmp, (size_t)n);
    field[n] = '\0';
    return 1;
}

static void finish_header(unsigned char *h)
{
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < BLOCK; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
}

static void header(unsigned char *h, const char *name, size_t name_len, uint64_t size, char type)
{
    memset(h, 0, BLOCK);
    memcpy(h, name, name_len > 100 ? 100 : name_len);
    put_octal((char *)h + 100, 8, 0644);
    put_octal((char *)h + 108, 8, 0);
    put_octal((char *)h + 116, 8, 0);
    if (!put_octal((char *)h + 124, 12, size))
        put_octal((char *)h + 124, 12, 0); /* the pax "size" record carries it */
    put_octal((char *)h + 136, 12, 0);
    h[156] = (unsigned char)type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    finish_header(h);
}

/* Appends "LEN key=value\n" (LEN counts the whole record, itself included). */
static size_t pax_record(char *buf, size_t cap, size_t at, const char *key, const char *value, size_t vlen)
{
    size_t body = 1 + strlen(key) + 1 + vlen + 1; /* ' ' key '=' value '\n' */
    size_t len = body + 1;
    for (;;) {
        char d[24];
        size_t digits = (size_t)snprintf(d, sizeof d, "%zu", len);
        if (digits + body == len)
            break;
        len = digits + body;
    }
    if (at + len > cap)
        return 0;
    int n = snprintf(buf + at, cap - at, "%zu %s=", len, key);
    memcpy(buf + at + n, value, vlen);
    buf[at + len - 1] = '\n';
    return at + len;
}

static int pad_to_block(ovx_tar_writer *w, uint64_t len)
{
    static const char zeros[BLOCK];
    size_t pad = (size_t)((BLOCK - len % BLOCK) % BLOCK);
    if (pad && write_all(w->fd, zeros, pad))
        return -1;
    w->size += pad;
    return 0;
}

int ovx_tar_add(ovx_tar_writer *w, const char *name, const ovx_tar_part *parts, int n_parts, ovx_error *err)
{
    size_t nl = strlen(name);
    if (!nl || nl > 4095)
        return ovx_error_set(err, OVX_EUSAGE, "%s: tar member name of %zu bytes", w->final_path, nl);
    uint64_t size = 0;
    for (int i = 0; i < n_parts; i++)
        size += parts[i].len;
    uint64_t mark = w->size;
    unsigned char h[BLOCK];
    int need_pax = nl > 100 || size > 077777777777ULL;
    if (need_pax) {
        char pax[4300];
        size_t at = 0;
        if (nl > 100)
            at = pax_record(pax, sizeof pax, at, "path", name, nl);
        if (size > 077777777777ULL) {
            char sz[24];
            int n = snprintf(sz, sizeof sz, "%llu", (unsigned long long)size);
            at = pax_record(pax, sizeof pax, at, "size", sz, (size_t)n);
        }
        if (!at)
            return ovx_error_set(err, OVX_EINTERNAL, "%s: pax header too long", w->final_path);
        header(h, "PaxHeader", 9, at, 'x');
        if (write_all(w->fd, h, BLOCK) || write_all(w->fd, pax, at))
            goto io_error;
        w->size += BLOCK + at;
        if (pad_to_block(w, at))
            goto io_error;
    }
    header(h, name, nl, size, '0');
    if (write_all(w->fd, h, BLOCK))
        goto io_error;
    w->size += BLOCK;
    for (int i = 0; i < n_parts; i++) {
        if (parts[i].len && write_all(w->fd, parts[i].data, parts[i].len))
            goto io_error;
        w->size += parts[i].len;
    }
    if (pad_to_block(w, size))
        goto io_error;
    return OVX_OK;
io_error:;
    int e = errno;
    ovx_error rb;
    ovx_tar_rollback(w, mark, &rb);
    return ovx_error_set(err, OVX_EIO, "%s: write failed: %s", w->tmp_path, strerror(e));
}

int ovx_tar_rollback(ovx_tar_writer *w, uint64_t mark, ovx_error *err)
{
    if (mark > w->size)
        return ovx_error_set(err, OVX_EINTERNAL, "%s: rollback past the end", w->tmp_path);
    if (ftruncate(w->fd, (off_t)mark) != 0 || lseek(w->fd, (off_t)mark, SEEK_SET) < 0)
        return ovx_error_set(err, OVX_EIO, "%s: cannot roll back: %s", w->tmp_path, strerror(errno));
    w->size = mark;
    return OVX_OK;
}

int ovx_tar_commit(ovx_tar_writer *w, const char *final_path, int *exists, ovx_error *err)
{
    *exists = 0;
    static const char zeros[2 * BLOCK];
    uint64_t mark = w->size;
    if (write_all(w->fd, zeros, sizeof zeros) || fsync(w->fd) != 0) {
        int e = errno;
        ovx_tar_rollback(w, mark, &(ovx_error){0});
        return ovx_error_set(err, OVX_EIO, "%s: write failed: %s", w->tmp_path, strerror(e));
    }
    /* link + unlink: never replaces a shard another process committed */
    if (link(w->tmp_path, final_path) != 0) {
        int e = errno;
        ovx_tar_rollback(w, mark, &(ovx_error){0});
        if (e == EEXIST)
            *exists = 1;
        return ovx_error_set(err, OVX_EIO, "%s: cannot commit: %s", final_path, strerror(e));
    }
    unlink(w->tmp_path);
    close(w->fd);
    ovx_fsync_dir_of(final_path);
    free(w);
    return OVX_OK;
}

void ovx_tar_abort(ovx_tar_writer *w)
{
    if (!w)
        return;
    close(w->fd);
    unlink(w->tmp_path);
    free(w);
}

/* ---- reader ---- */

static int parse_number(const unsigned char *f, size_t width, uint64_t *out)
{
    if (f[0] & 0x80) { /* base-256 (GNU): big-endian, positive only */
        if (f[0] != 0x80)
            return -1;
        uint64_t v = 0;
        for (size_t i = 1; i < width; i++) {
            if (v >> 56)
                return -1;
            v = (v << 8) | f[i];
        }
        *out = v;
        return 0;
    }
    size_t i = 0;
    while (i < width && f[i] == ' ')
        i++;
    uint64_t v = 0;
    int digits = 0;
    for (; i < width && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
        if (v >> 60)
            return -1;
        v = v * 8 + (uint64_t)(f[i] - '0');
    }
    for (; i < width; i++)
        if (f[i] != ' ' && f[i] != '\0')
            return -1;
    *out = v;
    return digits ? 0 : -1;
}

static int checksum_ok(const unsigned char *h)
{
    uint64_t want;
    if (parse_number(h + 148, 8, &want))
        return 0;
    unsigned u = 0;
    int s = 0;
    for (int i = 0; i < BLOCK; i++) {
        unsigned char c = (i >= 148 && i < 156) ? ' ' : h[i];
        u += c;
        s += (signed char)c;
    }
    return want == u || (int64_t)want == s;
}

static int all_zero(const unsigned char *h)
{
    for (int i = 0; i < BLOCK; i++)
        if (h[i])
            return 0;
    return 1;
}

static int read_at(int fd, void *buf, size_t len, uint64_t off)
{
    char *p = buf;
    while (len) {
        ssize_t r = pread(fd, p, len, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* Applies the "path" and "size" records of a pax header. */
static int parse_pax(const char *d, size_t len, char *path, size_t cap, uint64_t *size, int *has_size)
{
    size_t at = 0;
    while (at < len) {
        size_t rl = 0, i = at;
        while (i < len && d[i] >= '0' && d[i] <= '9' && rl < 1000000)
            rl = rl * 10 + (size_t)(d[i++] - '0');
        if (i >= len || d[i] != ' ' || rl == 0 || at + rl > len || d[at + rl - 1] != '\n')
            return -1;
        const char *kv = d + i + 1, *end = d + at + rl - 1;
        const char *eq = memchr(kv, '=', (size_t)(end - kv));
        if (!eq)
            return -1;
        size_t kl = (size_t)(eq - kv), vl = (size_t)(end - eq - 1);
        if (kl == 4 && !memcmp(kv, "path", 4)) {
            if (vl == 0 || vl >= cap || memchr(eq + 1, '\0', vl))
                return -1;
            memcpy(path, eq + 1, vl);
            path[vl] = '\0';
        } else if (kl == 4 && !memcmp(kv, "size", 4)) {
            uint64_t v = 0;
            if (vl == 0 || vl > 19)
                return -1;
            for (size_t k = 0; k < vl; k++) {
                char c = eq[1 + k];
                if (c < '0' || c > '9')
                    return -1;
                v = v * 10 + (uint64_t)(c - '0');
            }
            *size = v;
            *has_size = 1;
        }
        at += rl;
    }
    return 0;
}

int ovx_tar_list(const char *path, ovx_tar_member_fn fn, void *user, ovx_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ovx_error_set(err, OVX_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ovx_error_set(err, OVX_EINPUT, "%s: not a regular file", path);
    }
    uint64_t fsize = (uint64_t)st.st_size, off = 0;
    char next_path[4096] = "";
    uint64_t next_size = 0;
    int has_size = 0, rc = OVX_OK, ended = 0;
    char *pax = NULL;
    while (rc == OVX_OK) {
        unsigned char h[BLOCK];
        if (off + BLOCK > fsize || read_at(fd, h, BLOCK, off)) {
            rc = ovx_error_set(err, OVX_EINPUT, "%s: truncated tar (no end marker)", path);
            break;
        }
        if (all_zero(h)) {
            ended = 1;
            break;
        }
        if (!checksum_ok(h)) {
            rc = ovx_error_set(err, OVX_EINPUT, "%s: bad tar header checksum at byte %llu", path,
                               (unsigned long long)off);
            break;
        }
        uint64_t size;
        if (parse_number(h + 124, 12, &size)) {
            rc = ovx_error_set(err, OVX_EINPUT, "%s: bad tar member size at byte %llu", path,
                               (unsigned long long)off);
            break;
        }
        char type = (char)h[156];
        if (has_size && (type == '0' || type == '\0'))
            size = next_size;
        uint64_t data = off + BLOCK;
        if (size > fsize || data > fsize - size) {
            rc = ovx_error_set(err, OVX_EINPUT, "%s: tar member at byte %llu runs past the end", path,
                               (unsigned long long)off);
            break;
        }
        uint64_t next = data + (size + BLOCK - 1) / BLOCK * BLOCK;
        if (type == 'x' || type == 'L') {
            if (size > (1u << 20)) {
                rc = ovx_error_set(err, OVX_EINPUT, "%s: oversized tar extended header", path);
                break;
            }
            free(pax);
            pax = malloc(size + 1);
            if (!pax) {
                rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
                break;
            }
            if (read_at(fd, pax, (size_t)size, data)) {
                rc = ovx_error_set(err, OVX_EIO, "%s: read failed", path);
                break;
            }
            pax[size] = '\0';
            if (type == 'L') {
                size_t l = strnlen(pax, (size_t)size);
                if (!l || l >= sizeof next_path) {
                    rc = ovx_error_set(err, OVX_EINPUT, "%s: bad GNU long name", path);
                    break;
                }
                memcpy(next_path, pax, l);
                next_path[l] = '\0';
            } else if (parse_pax(pax, (size_t)size, next_path, sizeof next_path, &next_size, &has_size)) {
                rc = ovx_error_set(err, OVX_EINPUT, "%s: bad pax header at byte %llu", path,
                                   (unsigned long long)off);
                break;
            }
        } else {
            if (type == '0' || type == '\0') {
                char name[4096 + 160];
                if (next_path[0]) {
                    snprintf(name, sizeof name, "%s", next_path);
                } else {
                    char n[101], pre[156];
                    memcpy(n, h, 100);
                    n[100] = '\0';
                    memcpy(pre, h + 345, 155);
                    pre[155] = '\0';
                    if (pre[0] && !memcmp(h + 257, "ustar", 5))
                        snprintf(name, sizeof name, "%s/%s", pre, n);
                    else
                        snprintf(name, sizeof name, "%s", n);
                }
                if (!name[0]) {
                    rc = ovx_error_set(err, OVX_EINPUT, "%s: tar member without a name", path);
                    break;
                }
                int r = fn ? fn(user, name, data, size) : 0;
                if (r) {
                    rc = r;
                    break;
                }
            }
            next_path[0] = '\0';
            has_size = 0;
        }
        off = next;
    }
    free(pax);
    close(fd);
    if (rc == OVX_OK && !ended)
        rc = ovx_error_set(err, OVX_EINPUT, "%s: truncated tar", path);
    return rc;
}
