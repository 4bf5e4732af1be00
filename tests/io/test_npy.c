/* test_npy.c: NPY writer/reader, half-float conversion and atomic files.
 * With no arguments runs the unit checks. "write DIR" writes sample arrays
 * for the numpy interop test; "read FILE" prints shape and values. */
#include <dirent.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../check.h"
#include "io/atomic_file.h"
#include "io/half.h"
#include "io/npy.h"

static void write_samples(const char *dir)
{
    char path[4096];
    ovx_error err;
    float f[6] = {0.f, 1.5f, -2.25f, 3.0e-8f, 65504.f, -1e10f};
    int64_t s23[2] = {2, 3};
    snprintf(path, sizeof path, "%s/f32.npy", dir);
    if (ovx_npy_write(path, OVX_DTYPE_F32, 2, s23, f, &err))
        fprintf(stderr, "%s\n", err.msg), exit(1);
    snprintf(path, sizeof path, "%s/f16.npy", dir);
    if (ovx_npy_write_f32_as(path, OVX_DTYPE_F16, 2, s23, f, &err))
        fprintf(stderr, "%s\n", err.msg), exit(1);
    int64_t idx[5] = {0, 7, 255, 4095, 16383};
    int64_t s5[1] = {5};
    snprintf(path, sizeof path, "%s/i64.npy", dir);
    if (ovx_npy_write(path, OVX_DTYPE_I64, 1, s5, idx, &err))
        fprintf(stderr, "%s\n", err.msg), exit(1);
    int64_t s0[3] = {0, 4, 2};
    snprintf(path, sizeof path, "%s/empty.npy", dir);
    if (ovx_npy_write(path, OVX_DTYPE_F32, 3, s0, f, &err))
        fprintf(stderr, "%s\n", err.msg), exit(1);
}

static int read_print(const char *path)
{
    ovx_npy a;
    ovx_error err;
    if (ovx_npy_read(path, &a, &err)) {
        printf("error: %s\n", err.msg);
        return 1;
    }
    printf("%s", ovx_dtype_npy_descr(a.dtype));
    for (int i = 0; i < a.ndim; i++)
        printf(" %" PRId64, a.shape[i]);
    printf("\n");
    if (ovx_npy_to_f32(&a, &err) == 0) {
        for (int64_t i = 0; i < a.count; i++)
            printf("%.9g\n", ((float *)a.data)[i]);
    } else {
        for (int64_t i = 0; i < a.count; i++)
            printf("%" PRId64 "\n", a.dtype == OVX_DTYPE_I64 ? ((int64_t *)a.data)[i]
                                                            : (int64_t)((int32_t *)a.data)[i]);
    }
    ovx_npy_free(&a);
    return 0;
}

static void test_half(void)
{
    /* exact values from the IEEE binary16 / bfloat16 definitions */
    CHECK(ovx_f32_to_f16(1.0f) == 0x3c00);
    CHECK(ovx_f32_to_f16(-2.0f) == 0xc000);
    CHECK(ovx_f32_to_f16(65504.f) == 0x7bff);
    CHECK(ovx_f32_to_f16(1e6f) == 0x7c00);
    CHECK(ovx_f32_to_f16(5.9604645e-8f) == 0x0001); /* smallest subnormal */
    CHECK(ovx_f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00); /* tie -> even */
    CHECK(ovx_f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02);
    CHECK(ovx_f16_to_f32(0x0001) == 5.9604645e-8f);
    CHECK(ovx_f16_to_f32(0x3555) == 0.333251953125f);
    CHECK(ovx_f32_to_bf16(1.0f) == 0x3f80);
    CHECK(ovx_f32_to_bf16(1.0f + 1.0f / 256) == 0x3f80); /* tie -> even */
    CHECK(ovx_f32_to_bf16(1.0f + 3.0f / 256) == 0x3f82);
    CHECK(ovx_bf16_to_f32(0xc040) == -3.0f);
    /* every finite f16 survives f16 -> f32 -> f16 */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00)
            continue;
        if (ovx_f32_to_f16(ovx_f16_to_f32((uint16_t)h)) != h)
            bad++;
    }
    CHECK(bad == 0);
}

static void test_npy_roundtrip(const char *dir)
{
    char path[4096];
    ovx_error err;
    float data[24];
    for (int i = 0; i < 24; i++)
        data[i] = (float)i * 0.25f - 3.f;
    int64_t shape[3] = {2, 3, 4};
    snprintf(path, sizeof path, "%s/a.npy", dir);
    CHECK(ovx_npy_write(path, OVX_DTYPE_F32, 3, shape, data, &err) == 0);
    ovx_npy a;
    CHECK(ovx_npy_read(path, &a, &err) == 0);
    CHECK(a.ndim == 3 && a.shape[0] == 2 && a.shape[1] == 3 && a.shape[2] == 4);
    CHECK(a.count == 24 && a.dtype == OVX_DTYPE_F32);
    CHECK(a.data && memcmp(a.data, data, sizeof data) == 0);
    ovx_npy_free(&a);

    /* the header is a multiple of 64 bytes and ends with a newline */
    char hdr[1024];
    size_t hl = ovx_npy_header(hdr, sizeof hdr, OVX_DTYPE_F32, 3, shape);
    CHECK(hl % 64 == 0 && hdr[hl - 1] == '\n');

    /* truncated file: size no longer matches the header */
    FILE *fp = fopen(path, "r+b");
    CHECK(fp != NULL);
    if (fp) {
        CHECK(ftruncate(fileno(fp), (off_t)(hl + 10)) == 0);
        fclose(fp);
    }
    CHECK(ovx_npy_read(path, &a, &err) == OVX_EINPUT);
    CHECK(strstr(err.msg, path) != NULL);

    /* garbage and hostile headers are rejected, never trusted */
    const char *bad[] = {
        "hello world, not an npy file",
        "\x93NUMPY\x01\x00\xff\xff{'descr': '<f4'",
        "\x93NUMPY\x01\x00\x40\x00{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }      ",
        "\x93NUMPY\x01\x00\x40\x00{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }       ",
        "\x93NUMPY\x01\x00\x40\x00{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }     ",
        "\x93NUMPY\x01\x00\x40\x00{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999,), }",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(path, sizeof path, "%s/bad%zu.npy", dir, i);
        CHECK(ovx_atomic_write(path, bad[i], strlen(bad[i]), &err) == 0);
        CHECK(ovx_npy_read(path, &a, &err) != 0);
        CHECK(a.data == NULL);
    }
    CHECK(ovx_npy_read("/nonexistent/x.npy", &a, &err) == OVX_EIO);
}

/* Header of an .npy file of version v (1: 2-byte length, 2 and 3: 4-byte)
 * with dict d padded to a multiple of 64 bytes; returns its length. */
static size_t npy_versioned(unsigned char *buf, int v, const char *d)
{
    size_t pre = v == 1 ? 10 : 12, n = strlen(d);
    size_t total = (pre + n + 1 + 63) / 64 * 64, hl = total - pre;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)v;
    buf[7] = 0;
    for (size_t i = 0; i < pre - 8; i++)
        buf[8 + i] = (unsigned char)(hl >> (8 * i));
    memcpy(buf + pre, d, n);
    memset(buf + pre + n, ' ', total - pre - n - 1);
    buf[total - 1] = '\n';
    return total;
}

/* Versions 2.0 and 3.0 (4-byte header length; 3.0 allows UTF-8 in the
 * dict) read like 1.0; other versions and truncated headers are refused. */
static void test_npy_versions(const char *dir)
{
    char path[4096];
    unsigned char buf[512];
    ovx_error err;
    ovx_npy a;
    const float vals[3] = {1.5f, -2.0f, 0.25f};
    for (int v = 1; v <= 3; v++) {
        size_t n = npy_versioned(buf, v, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }");
        CHECK(n % 64 == 0);
        memcpy(buf + n, vals, sizeof vals);
        snprintf(path, sizeof path, "%s/v%d.npy", dir, v);
        CHECK(ovx_atomic_write(path, buf, n + sizeof vals, &err) == 0);
        CHECK(ovx_npy_read(path, &a, &err) == 0);
        CHECK(a.dtype == OVX_DTYPE_F32 && a.ndim == 1 && a.shape[0] == 3 && a.data &&
              !memcmp(a.data, vals, sizeof vals));
        ovx_npy_free(&a);
        size_t off = 0;
        CHECK(ovx_npy_parse_header(buf, n, &a, &off, &err) == 0 && off == n);
    }
    /* version 3.0 with a UTF-8 character in the dict (a key we ignore) */
    size_t n = npy_versioned(buf, 3, "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 1), '\xc3\xa9': 0, }");
    int64_t one = 42;
    memcpy(buf + n, &one, 8);
    snprintf(path, sizeof path, "%s/v3utf8.npy", dir);
    CHECK(ovx_atomic_write(path, buf, n + 8, &err) == 0);
    CHECK(ovx_npy_read(path, &a, &err) == 0 && a.dtype == OVX_DTYPE_I64 && a.count == 1 &&
          *(int64_t *)a.data == 42);
    ovx_npy_free(&a);
    size_t off;
    /* 4-byte length cut short, a length beyond the file, unknown versions */
    n = npy_versioned(buf, 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }");
    CHECK(ovx_npy_parse_header(buf, 11, &a, &off, &err) != 0);
    CHECK(ovx_npy_parse_header(buf, n - 1, &a, &off, &err) != 0 && strstr(err.msg, "truncated"));
    buf[11] = 0x7f; /* 2 GiB header */
    CHECK(ovx_npy_parse_header(buf, n, &a, &off, &err) != 0);
    for (int v = 0; v <= 4; v += 4) {
        n = npy_versioned(buf, v, "{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }");
        CHECK(ovx_npy_parse_header(buf, n, &a, &off, &err) == OVX_EUNSUPPORTED && strstr(err.msg, "version"));
    }
}

static void test_atomic(const char *dir)
{
    char path[4096];
    ovx_error err;
    snprintf(path, sizeof path, "%s/sub/deeper/file.txt", dir);
    CHECK(ovx_mkdirs_for(path, &err) == 0);
    ovx_atomic_file af;
    CHECK(ovx_atomic_open(&af, path, &err) == 0);
    fputs("hello", af.fp);
    CHECK(access(path, F_OK) != 0); /* not visible before commit */
    CHECK(ovx_atomic_is_temp_name(strrchr(af.tmp_path, '/') + 1));
    CHECK(ovx_atomic_commit(&af, &err) == 0);
    CHECK(access(path, F_OK) == 0);
    CHECK(access(af.tmp_path, F_OK) != 0);
    /* abort leaves nothing */
    CHECK(ovx_atomic_open(&af, path, &err) == 0);
    fputs("partial", af.fp);
    ovx_atomic_abort(&af);
    CHECK(access(af.tmp_path, F_OK) != 0);
    FILE *fp = fopen(path, "rb");
    char buf[16] = {0};
    if (fp) {
        CHECK(fread(buf, 1, sizeof buf - 1, fp) == 5);
        fclose(fp);
    }
    CHECK(strcmp(buf, "hello") == 0);
    CHECK(!ovx_atomic_is_temp_name("video.npy"));
    CHECK(!ovx_atomic_is_temp_name("a.tmp.x.abcdef"));
    CHECK(ovx_atomic_is_temp_name("a.npy.tmp.123.AbC123"));
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "write")) {
        write_samples(argv[2]);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "read"))
        return read_print(argv[2]);
    char dir[] = "/tmp/ovx_test_npy_XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    test_half();
    test_npy_roundtrip(dir);
    test_npy_versions(dir);
    test_atomic(dir);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", dir);
    return CHECK_RESULT();
}
