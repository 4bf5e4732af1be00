/* tar_tool.c: drives src/io/tar for test_tar_python.py.
 *   tar_tool write OUT.tar NAME=FILE ... [--rollback-last]  members from files;
 *            with --rollback-last the last member is added, rolled back, and
 *            the archive committed without it
 *   tar_tool exists OUT.tar NAME=FILE  commit onto an existing OUT.tar: must
 *            refuse (exit 3) and leave it unchanged
 *   tar_tool list ARCHIVE              "NAME<TAB>OFFSET<TAB>SIZE" per member */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/tar.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc(n > 0 ? (size_t)n : 1);
    *len = b && n > 0 ? fread(b, 1, (size_t)n, f) : 0;
    fclose(f);
    return b;
}

static int add(ovx_tar_writer *w, const char *spec, ovx_error *err)
{
    const char *eq = strchr(spec, '=');
    if (!eq)
        return ovx_error_set(err, OVX_EUSAGE, "NAME=FILE expected");
    char name[8192];
    snprintf(name, sizeof name, "%.*s", (int)(eq - spec), spec);
    size_t len = 0;
    char *data = slurp(eq + 1, &len);
    if (!data)
        return ovx_error_set(err, OVX_EIO, "%s: cannot read", eq + 1);
    /* two parts, to exercise the gather */
    ovx_tar_part parts[2] = {{data, len / 2}, {data + len / 2, len - len / 2}};
    int rc = ovx_tar_add(w, name, parts, 2, err);
    free(data);
    return rc;
}

static int print_member(void *user, const char *name, uint64_t offset, uint64_t size)
{
    (void)user;
    printf("%s\t%llu\t%llu\n", name, (unsigned long long)offset, (unsigned long long)size);
    return 0;
}

int main(int argc, char **argv)
{
    ovx_error err;
    ovx_error_clear(&err);
    if (argc >= 3 && !strcmp(argv[1], "list")) {
        if (ovx_tar_list(argv[2], print_member, NULL, &err) != OVX_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        return 0;
    }
    if (argc < 4 || (strcmp(argv[1], "write") && strcmp(argv[1], "exists")))
        return 2;
    int rollback = !strcmp(argv[argc - 1], "--rollback-last");
    int n = argc - 3 - rollback;
    ovx_tar_writer *w;
    if (ovx_tar_writer_open(&w, argv[2], "testhost", &err) != OVX_OK)
        goto fail;
    for (int i = 0; i < n; i++) {
        uint64_t mark = ovx_tar_size(w);
        if (add(w, argv[3 + i], &err) != OVX_OK)
            goto fail;
        if (rollback && i == n - 1 && ovx_tar_rollback(w, mark, &err) != OVX_OK)
            goto fail;
    }
    int exists = 0;
    if (ovx_tar_commit(w, argv[2], &exists, &err) != OVX_OK) {
        ovx_tar_abort(w);
        fprintf(stderr, "%s\n", err.msg);
        return exists ? 3 : 1;
    }
    return 0;
fail:
    fprintf(stderr, "%s\n", err.msg);
    return 1;
}
