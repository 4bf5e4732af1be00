/* fuzz_pathlist.c: libFuzzer target for the path-list / CSV reader of
 * `ovx extract --list` and `--labels`: the input is read as a list
 * (ovx_inputs_add_list), as a labels CSV (ovx_inputs_apply_labels), then
 * labels from folders; every line also through ovx_csv_split2 and
 * ovx_rel_normalise. Runs inside a private sandbox folder holding a small
 * tree (files, a subfolder, a symlink loop) so folder entries get walked;
 * inputs naming an absolute path are only split, never listed, so the
 * fuzzer cannot make it walk the whole filesystem. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extract/inputs.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static ovx_ext_filter filter;

static void touch(const char *p)
{
    FILE *f = fopen(p, "w");
    if (!f || fclose(f) != 0)
        abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *t = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/ovx-fuzz-pathlist-%ld", t && *t ? t : "/tmp", (long)getpid());
    /* the tree stays for the process's lifetime; a later run with the same pid reuses it */
    if ((mkdir(dir, 0700) && errno != EEXIST) || chdir(dir) ||
        (mkdir("sub", 0700) && errno != EEXIST) || (mkdir("sub/deeper", 0700) && errno != EEXIST))
        abort();
    touch("a.mp4");
    touch("sub/b.mkv");
    touch("sub/deeper/c.png");
    touch("sub/notes.txt");
    if (symlink("..", "sub/loop") && errno != EEXIST)
        abort();
    ovx_error err;
    if (ovx_ext_filter_parse(&filter, OVX_DEFAULT_EXTS, &err))
        abort();
    return 0;
}

/* 1 when some line's first CSV field is an absolute path. */
static int names_absolute(const char *text)
{
    int abs = 0;
    const char *p = text;
    while (*p && !abs) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char *line = strndup(p, n);
        char *f1, *f2;
        if (!line)
            abort();
        const char *l = strncmp(line, "\xef\xbb\xbf", 3) ? line : line + 3; /* as the reader */
        if (ovx_csv_split2(l, &f1, &f2) > 0) {
            abs = f1[0] == '/' || strstr(f1, "\n/") || strstr(f1, "\r/");
            const char *why;
            free(ovx_rel_normalise(f1, &why));
        }
        free(f1);
        free(f2);
        free(line);
        p += n + (nl != NULL);
    }
    return abs;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    int absolute = names_absolute(text) || memchr(data, '\0', size) != NULL;
    free(text);
    if (absolute)
        return 0;
    const char *path = fuzz_write_file(".csv", data, size);
    ovx_input_list l = {0};
    ovx_error err;
    if (ovx_inputs_add_list(&l, path, &filter, &err) == OVX_OK) {
        for (size_t i = 0; i < l.n; i++)
            if (!l.items[i].path || !l.items[i].rel)
                abort();
        (void)ovx_inputs_apply_labels(&l, path, &err);
        (void)ovx_inputs_label_from_dir(&l, &err);
    }
    ovx_inputs_free(&l);
    return 0;
}
