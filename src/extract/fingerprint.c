/* fingerprint.c: model-folder identity from file names, sizes and ends. */
#include "extract/fingerprint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extract/listdir.h"
#include "extract/strmap.h"
#include "io/regular_file.h"

#define END_BYTES (1u << 20)

static uint64_t mix(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static int wanted(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && ((n > 12 && !strcmp(name + n - 12, ".safetensors")) ||
                              (n > 5 && !strcmp(name + n - 5, ".json")));
}

/* Mixes size, first and last END_BYTES of one file into *h. */
static int mix_file(uint64_t *h, const char *path, unsigned char *buf, ovx_error *err)
{
    int fd; /* the loader's checks: a FIFO or device in a model folder is refused, never waited on */
    off_t st_size;
    int rc = ovx_open_regular(path, &fd, &st_size, err);
    if (rc)
        return rc;
    FILE *fp = fdopen(fd, "rb");
    if (!fp) {
        rc = ovx_error_set(err, OVX_EIO, "%s: %s", path, strerror(errno));
        close(fd);
        return rc;
    }
    {
        int64_t size = st_size;
        *h = mix(*h, &size, sizeof size);
        size_t got = fread(buf, 1, END_BYTES, fp);
        *h = mix(*h, buf, got);
        if (size > (int64_t)END_BYTES * 2 && fseeko(fp, (off_t)(size - END_BYTES), SEEK_SET) == 0) {
            got = fread(buf, 1, END_BYTES, fp);
            *h = mix(*h, buf, got);
        }
    }
    fclose(fp);
    return rc;
}

int ovx_model_fingerprint(const char *dir, uint64_t *out, ovx_error *err)
{
    char **names = NULL;
    size_t n = 0;
    int rc = OVX_OK;
    if (ovx_list_dir(dir, wanted, &names, &n) != 0)
        return ovx_error_set(err, errno == ENOMEM ? OVX_ENOMEM : OVX_EIO, "%s: %s", dir, strerror(errno));
    unsigned char *buf = rc == OVX_OK ? malloc(END_BYTES) : NULL;
    if (rc == OVX_OK && !buf)
        rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
    uint64_t h = ovx_fnv1a64("ovx-model", 9);
    for (size_t i = 0; rc == OVX_OK && i < n; i++) {
        char path[8192];
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int)sizeof path) {
            rc = ovx_error_set(err, OVX_EUSAGE, "%s: path too long", dir);
            break;
        }
        h = mix(h, names[i], strlen(names[i]) + 1);
        rc = mix_file(&h, path, buf, err);
    }
    if (rc == OVX_OK && n == 0)
        rc = ovx_error_set(err, OVX_EINPUT, "%s: no config.json or .safetensors files", dir);
    ovx_list_dir_free(names, n);
    free(buf);
    *out = h;
    return rc;
}
