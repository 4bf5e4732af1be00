/* test_batch.c: unit checks of the batch-run machinery of `ovx extract`:
 * input listing (folder walks, extension filter, symlink loops, lists and
 * CSV), output naming and escape refusal, sharding, resume validation and
 * temp cleanup, the string map, the ordered bounded pipeline, per-item
 * claims (busy, released, taken over from a dead process), the log
 * compaction, and the library API (a dry run through ovx_extract_run). */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../check.h"
#include "extract/claim.h"
#include "extract/extract.h"
#include "extract/inputs.h"
#include "extract/outlayout.h"
#include "extract/pipeline.h"
#include "extract/resume.h"
#include "extract/runlog.h"
#include "extract/runtmp.h"
#include "extract/shard.h"
#include "extract/strmap.h"
#include "io/atomic_file.h"
#include "io/json_utf8.h"
#include "io/npy.h"

static char root[4096];

static void touch_abs(const char *path)
{
    FILE *fp = fopen(path, "w");
    if (fp) {
        fputs("x", fp);
        fclose(fp);
    }
}

static void touch_in(const char *dir, const char *name)
{
    char path[8400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    touch_abs(path);
}

static void touch(const char *rel)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    ovx_error err;
    ovx_mkdirs_for(path, &err);
    FILE *fp = fopen(path, "w");
    if (fp) {
        fputs("x", fp);
        fclose(fp);
    }
}

static const ovx_input *find_rel(const ovx_input_list *l, const char *rel)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->items[i].rel, rel))
            return &l->items[i];
    return NULL;
}

static void test_walk(void)
{
    touch("tree/a/cat/000.mp4");
    touch("tree/a/dog/000.mp4");
    touch("tree/a/dog/001.MKV");
    touch("tree/b c/\xc3\xa9t\xc3\xa9 1.avi");
    touch("tree/a/notes.txt");
    touch("tree/.hidden/x.mp4");
    touch("tree/a/._x.mp4");
    touch("tree/a/cat/000.npy.tmp.123.abcdef");
    touch("tree/img/p.png");
    char link[8192], target[8192];
    snprintf(link, sizeof link, "%s/tree/a/loop", root);
    snprintf(target, sizeof target, "%s/tree", root);
    CHECK(symlink(target, link) == 0); /* a/loop -> tree: a cycle */

    ovx_ext_filter f;
    ovx_error err;
    CHECK(ovx_ext_filter_parse(&f, OVX_DEFAULT_EXTS, &err) == OVX_OK);
    ovx_input_list l = {0};
    char arg[8192];
    snprintf(arg, sizeof arg, "%s/tree", root);
    CHECK(ovx_inputs_add_arg(&l, arg, &f, &err) == OVX_OK);
    CHECK(l.n == 5);
    CHECK(find_rel(&l, "a/cat/000.mp4") != NULL);
    CHECK(find_rel(&l, "a/dog/000.mp4") != NULL);
    CHECK(find_rel(&l, "a/dog/001.MKV") != NULL);
    CHECK(find_rel(&l, "b c/\xc3\xa9t\xc3\xa9 1.avi") != NULL);
    CHECK(find_rel(&l, "img/p.png") != NULL);
    /* sorted by name at each level */
    CHECK(l.n == 5 && !strcmp(l.items[0].rel, "a/cat/000.mp4") && !strcmp(l.items[4].rel, "img/p.png"));
    for (size_t i = 0; i < l.n; i++)
        CHECK(l.items[i].error == NULL);
    ovx_inputs_free(&l);

    /* --ext filter, case-insensitive, dots optional */
    ovx_ext_filter f2;
    CHECK(ovx_ext_filter_parse(&f2, ".mkv, AVI", &err) == OVX_OK);
    CHECK(ovx_inputs_add_arg(&l, arg, &f2, &err) == OVX_OK);
    CHECK(l.n == 2);
    ovx_inputs_free(&l);
    ovx_ext_filter_free(&f2);
    CHECK(ovx_ext_filter_parse(&f2, " , ", &err) == OVX_EUSAGE);

    /* a file argument: REL is its base name, whatever its extension */
    snprintf(arg, sizeof arg, "%s/tree/a/notes.txt", root);
    CHECK(ovx_inputs_add_arg(&l, arg, &f, &err) == OVX_OK);
    CHECK(l.n == 1 && !strcmp(l.items[0].rel, "notes.txt") && !l.items[0].error);
    /* a missing file: an item with an error */
    snprintf(arg, sizeof arg, "%s/tree/missing.mp4", root);
    CHECK(ovx_inputs_add_arg(&l, arg, &f, &err) == OVX_OK);
    CHECK(l.n == 2 && l.items[1].error != NULL);
    ovx_inputs_free(&l);

    /* --label-from-dir */
    snprintf(arg, sizeof arg, "%s/tree/a", root);
    CHECK(ovx_inputs_add_arg(&l, arg, &f, &err) == OVX_OK);
    CHECK(ovx_inputs_label_from_dir(&l, &err) == OVX_OK);
    const ovx_input *it = find_rel(&l, "dog/001.MKV");
    CHECK(it && it->label && !strcmp(it->label, "dog"));
    /* a/loop -> tree: tree is walked once, its already-seen a/ is not re-entered */
    CHECK(find_rel(&l, "loop/img/p.png") != NULL);
    CHECK(find_rel(&l, "loop/a/cat/000.mp4") == NULL);
    CHECK(l.n == 5);
    ovx_inputs_free(&l);
    ovx_ext_filter_free(&f);
}

static void test_lists(void)
{
    char *a, *b;
    CHECK(ovx_csv_split2("x.mp4", &a, &b) == 1 && !strcmp(a, "x.mp4") && b == NULL);
    free(a);
    CHECK(ovx_csv_split2("\"a, b.mp4\",\"say \"\"hi\"\"\"", &a, &b) == 2);
    CHECK(a && b && !strcmp(a, "a, b.mp4") && !strcmp(b, "say \"hi\""));
    free(a);
    free(b);
    CHECK(ovx_csv_split2("\"open", &a, &b) < 0);
    CHECK(ovx_csv_split2("", &a, &b) == 0);

    const char *why = NULL;
    char *r = ovx_rel_normalise("./a//b/./c.mp4", &why);
    CHECK(r && !strcmp(r, "a/b/c.mp4"));
    free(r);
    r = ovx_rel_normalise("/data/x.mp4", &why);
    CHECK(r && !strcmp(r, "data/x.mp4"));
    free(r);
    CHECK(ovx_rel_normalise("a/../../etc/passwd", &why) == NULL && why);
    CHECK(ovx_rel_normalise("./", &why) == NULL);

    char listp[8192], cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK(chdir(root) == 0);
    snprintf(listp, sizeof listp, "%s/list.csv", root);
    FILE *fp = fopen(listp, "w");
    fprintf(fp, "\xef\xbb\xbfpath,label\ntree/a/cat/000.mp4,cat\r\n\n./tree/a/dog/000.mp4\ntree/../escape.mp4,x\n\"tree/b c\",spaces\n");
    fclose(fp);
    ovx_ext_filter f;
    ovx_error err;
    ovx_ext_filter_parse(&f, OVX_DEFAULT_EXTS, &err);
    ovx_input_list l = {0};
    CHECK(ovx_inputs_add_list(&l, listp, &f, &err) == OVX_OK);
    CHECK(l.n == 4);
    if (l.n == 4) {
        CHECK(!strcmp(l.items[0].rel, "tree/a/cat/000.mp4") && !strcmp(l.items[0].label, "cat"));
        CHECK(!strcmp(l.items[1].rel, "tree/a/dog/000.mp4") && l.items[1].label == NULL && !l.items[1].error);
        CHECK(l.items[2].error != NULL); /* '..' refused */
        CHECK(!strcmp(l.items[3].rel, "tree/b c/\xc3\xa9t\xc3\xa9 1.avi") && !strcmp(l.items[3].label, "spaces"));
    }
    /* --labels: matched by REL, REL without extension, or path */
    snprintf(listp, sizeof listp, "%s/labels.csv", root);
    fp = fopen(listp, "w");
    fprintf(fp, "tree/a/dog/000,dog\ntree/a/cat/000.mp4,other\n");
    fclose(fp);
    CHECK(ovx_inputs_apply_labels(&l, listp, &err) == OVX_OK);
    CHECK(l.n == 4 && l.items[1].label && !strcmp(l.items[1].label, "dog"));
    CHECK(l.n == 4 && !strcmp(l.items[0].label, "cat")); /* the list's own label wins */
    /* --label-from-dir only fills items without a label */
    CHECK(ovx_inputs_label_from_dir(&l, &err) == OVX_OK);
    CHECK(l.n == 4 && !strcmp(l.items[3].label, "spaces") && !strcmp(l.items[1].label, "dog"));
    ovx_inputs_free(&l);
    ovx_ext_filter_free(&f);
    CHECK(chdir(cwd) == 0);
}

static void test_layout(void)
{
    char buf[4096];
    ovx_error err;
    CHECK(ovx_out_base("out", "a/cat/000.mp4", buf, sizeof buf, &err) == OVX_OK && !strcmp(buf, "out/a/cat/000"));
    CHECK(ovx_out_base("out/", "x.tar.gz", buf, sizeof buf, &err) == OVX_OK && !strcmp(buf, "out/x.tar"));
    CHECK(ovx_out_base("out", "d.x/.hidden", buf, sizeof buf, &err) == OVX_OK && !strcmp(buf, "out/d.x/.hidden"));
    CHECK(ovx_out_base("out", "noext", buf, sizeof buf, &err) == OVX_OK && !strcmp(buf, "out/noext"));
    CHECK(ovx_out_base("out", "../x.mp4", buf, sizeof buf, &err) == OVX_EUSAGE);
    CHECK(ovx_out_base("out", "a/../../x.mp4", buf, sizeof buf, &err) == OVX_EUSAGE);
    CHECK(ovx_out_base("out", "/etc/x.mp4", buf, sizeof buf, &err) == OVX_EUSAGE);
    CHECK(ovx_out_base("out", "a//x.mp4", buf, sizeof buf, &err) == OVX_EUSAGE);
    CHECK(ovx_out_path("out/a", OVX_OUT_HIDDEN, -2, buf, sizeof buf, &err) == OVX_OK &&
          !strcmp(buf, "out/a.hidden_-2.npy"));
    CHECK(ovx_out_path("out/a", OVX_OUT_POOLED, 0, buf, sizeof buf, &err) == OVX_OK && !strcmp(buf, "out/a.pooled.npy"));
    /* stems over OVX_STEM_MAX bytes: cut (never inside a UTF-8 character),
     * "~" and the FNV-1a 64 of REL; 239 bytes fit as they are */
    char rel[600], want[600];
    memset(rel, 'n', 239);
    snprintf(rel + 239, sizeof rel - 239, ".mp4");
    CHECK(ovx_out_base("out", rel, buf, sizeof buf, &err) == OVX_OK && strlen(buf) == 4 + 239 && !strchr(buf, '~'));
    memset(rel, 'n', 251);
    snprintf(rel + 251, sizeof rel - 251, ".mp4");
    char drel[620];
    snprintf(drel, sizeof drel, "d/%s", rel);
    snprintf(want, sizeof want, "out/d/%.222s~%016llx", rel, (unsigned long long)ovx_fnv1a64(drel, strlen(drel)));
    CHECK(ovx_out_base("out", drel, buf, sizeof buf, &err) == OVX_OK && !strcmp(buf, want));
    rel[0] = 'a'; /* "a" + "é" * 120: 241 bytes, byte 222 is inside a character */
    for (int i = 0; i < 120; i++)
        memcpy(rel + 1 + 2 * i, "\xc3\xa9", 2);
    snprintf(rel + 241, sizeof rel - 241, ".mp4");
    CHECK(ovx_out_base("out", rel, buf, sizeof buf, &err) == OVX_OK);
    const char *stem = buf + 4, *tilde = strchr(stem, '~');
    CHECK(tilde && tilde - stem == 222 - 1 && strlen(tilde) == 17 && ovx_utf8_valid(stem));
}

static void test_shard(void)
{
    int i, n;
    ovx_error err;
    CHECK(ovx_shard_parse("2/3", &i, &n, &err) == OVX_OK && i == 2 && n == 3);
    CHECK(ovx_shard_parse("3/3", &i, &n, &err) == OVX_EUSAGE);
    CHECK(ovx_shard_parse("1/0", &i, &n, &err) == OVX_EUSAGE);
    CHECK(ovx_shard_parse("-1/3", &i, &n, &err) == OVX_EUSAGE);
    CHECK(ovx_shard_parse("x", &i, &n, &err) == OVX_EUSAGE);
    /* every REL in exactly one shard, roughly balanced */
    int counts[3] = {0, 0, 0};
    for (int k = 0; k < 3000; k++) {
        char rel[64];
        snprintf(rel, sizeof rel, "class%d/v_%04d.mp4", k % 101, k);
        int owners = 0;
        for (int s = 0; s < 3; s++)
            if (ovx_shard_take(rel, s, 3)) {
                owners++;
                counts[s]++;
            }
        CHECK(owners == 1);
    }
    for (int s = 0; s < 3; s++)
        CHECK(counts[s] > 850 && counts[s] < 1150);
    /* FNV-1a 64 reference values */
    CHECK(ovx_fnv1a64("", 0) == 0xcbf29ce484222325ULL);
    CHECK(ovx_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cULL);
    setenv("SLURM_ARRAY_TASK_ID", "5", 1);
    setenv("SLURM_ARRAY_TASK_COUNT", "3", 1);
    setenv("SLURM_ARRAY_TASK_MIN", "4", 1);
    CHECK(ovx_shard_from_env(&i, &n, &err) == 1 && i == 1 && n == 3);
    setenv("SLURM_ARRAY_TASK_ID", "9", 1);
    CHECK(ovx_shard_from_env(&i, &n, &err) < 0);
    unsetenv("SLURM_ARRAY_TASK_ID");
    CHECK(ovx_shard_from_env(&i, &n, &err) == 0);
}

static void write_item(const char *base, const char *hash, int64_t k)
{
    char path[8192];
    ovx_error err;
    float *data = calloc((size_t)k * 8, sizeof(float));
    int64_t shape[2] = {k, 8};
    snprintf(path, sizeof path, "%s.npy", base);
    ovx_mkdirs_for(path, &err);
    ovx_npy_write(path, OVX_DTYPE_F32, 2, shape, data, &err);
    free(data);
    const char *name = strrchr(base, '/') + 1;
    char json[2048];
    snprintf(json, sizeof json,
             "{\"settings_hash\":\"%s\",\"outputs\":{\"tokens\":{\"file\":\"%s.npy\",\"dtype\":\"float32\","
             "\"shape\":[%lld,8]}}}",
             hash, name, (long long)k);
    snprintf(path, sizeof path, "%s.json", base);
    ovx_atomic_write(path, json, strlen(json), &err);
}

/* An item whose one output has the given dtype and shape, JSON and NPY in
 * agreement; then the NPY is rewritten with (ftype, fshape) instead. */
static void write_item_as(const char *base, const char *jtype, int ndim, const int64_t *jshape, ovx_dtype ftype,
                          const int64_t *fshape)
{
    char path[8192], json[2048], dims[256] = "";
    ovx_error err;
    int64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        count *= fshape[i];
        snprintf(dims + strlen(dims), sizeof dims - strlen(dims), "%s%lld", i ? "," : "", (long long)jshape[i]);
    }
    void *data = calloc((size_t)count, 8);
    snprintf(path, sizeof path, "%s.npy", base);
    ovx_mkdirs_for(path, &err);
    CHECK(ovx_npy_write(path, ftype, ndim, fshape, data, &err) == 0);
    free(data);
    snprintf(json, sizeof json,
             "{\"settings_hash\":\"h1\",\"outputs\":{\"tokens\":{\"file\":\"%s.npy\",\"dtype\":\"%s\","
             "\"shape\":[%s]}}}",
             strrchr(base, '/') + 1, jtype, dims);
    snprintf(path, sizeof path, "%s.json", base);
    CHECK(ovx_atomic_write(path, json, strlen(json), &err) == 0);
}

/* Resume trusts an item only when every output's dtype and every dimension
 * match its JSON: each single mutation (dtype, each dimension one bigger or
 * smaller, a dimension added or dropped) makes the item not done. */
static void test_resume_mutations(void)
{
    char base[8192], why[256];
    snprintf(base, sizeof base, "%s/out/mut/item", root);
    static const struct { const char *name; ovx_dtype t; } types[] = {
        {"float32", OVX_DTYPE_F32}, {"float16", OVX_DTYPE_F16}, {"int64", OVX_DTYPE_I64}};
    const int64_t shape[3] = {2, 3, 4};
    for (int nd = 1; nd <= 3; nd++)
        for (int t = 0; t < 3; t++) {
            write_item_as(base, types[t].name, nd, shape, types[t].t, shape);
            CHECK(ovx_resume_is_done(base, "h1", why, sizeof why) == 1);
            for (int u = 0; u < 3; u++) { /* the file's dtype differs */
                if (u == t)
                    continue;
                write_item_as(base, types[t].name, nd, shape, types[u].t, shape);
                CHECK(ovx_resume_is_done(base, "h1", why, sizeof why) == 0 && strstr(why, "dtype or shape"));
            }
            for (int d = 0; d < nd; d++) /* one dimension differs, either way */
                for (int delta = -1; delta <= 1; delta += 2) {
                    int64_t f[3] = {shape[0], shape[1], shape[2]};
                    f[d] += delta;
                    write_item_as(base, types[t].name, nd, shape, types[t].t, f);
                    CHECK(ovx_resume_is_done(base, "h1", why, sizeof why) == 0 && strstr(why, "dtype or shape"));
                }
            /* the file has one dimension more (size 1), or lacks the last one */
            char path[8300];
            snprintf(path, sizeof path, "%s.npy", base);
            ovx_error err;
            int64_t zero[24] = {0}, more[4] = {shape[0], shape[1], shape[2], 1};
            more[nd] = 1;
            CHECK(ovx_npy_write(path, types[t].t, nd + 1, more, zero, &err) == 0);
            CHECK(ovx_resume_is_done(base, "h1", why, sizeof why) == 0 && strstr(why, "dtype or shape"));
            CHECK(ovx_npy_write(path, types[t].t, nd - 1, shape, zero, &err) == 0);
            CHECK(ovx_resume_is_done(base, "h1", why, sizeof why) == 0 && strstr(why, "dtype or shape"));
        }
}

static void test_resume(void)
{
    char base[8192], path[8300];
    snprintf(base, sizeof base, "%s/out/a/000", root);
    char why[256];
    CHECK(ovx_resume_is_done(base, "h1", why, sizeof why) == 0);
    write_item(base, "h1", 5);
    CHECK(ovx_resume_is_done(base, "h1", why, sizeof why) == 1);
    CHECK(ovx_resume_is_done(base, "h2", why, sizeof why) == 0); /* other settings */
    /* a truncated NPY fails validation */
    snprintf(path, sizeof path, "%s.npy", base);
    CHECK(truncate(path, 100) == 0);
    CHECK(ovx_resume_is_done(base, "h1", why, sizeof why) == 0);
    /* a recorded shape that differs from the file */
    write_item(base, "h1", 5);
    int64_t shape[2] = {4, 8};
    float z[32] = {0};
    ovx_error err;
    ovx_npy_write(path, OVX_DTYPE_F32, 2, shape, z, &err);
    CHECK(ovx_resume_is_done(base, "h1", why, sizeof why) == 0);
    /* unreadable JSON */
    write_item(base, "h1", 5);
    snprintf(path, sizeof path, "%s.json", base);
    FILE *fp = fopen(path, "w");
    fputs("{\"settings_hash\":", fp);
    fclose(fp);
    CHECK(ovx_resume_is_done(base, "h1", why, sizeof why) == 0);
    /* a JSON naming a file outside its folder is not trusted */
    fp = fopen(path, "w");
    fputs("{\"settings_hash\":\"h1\",\"outputs\":{\"t\":{\"file\":\"../x.npy\",\"dtype\":\"float32\",\"shape\":[1]}}}", fp);
    fclose(fp);
    CHECK(ovx_resume_is_done(base, "h1", why, sizeof why) == 0);

    /* temp-like names beside the outputs are outputs: no run removes them */
    (void)base;
}

/* The private temp folders (runtmp.h): a live run's folder is kept, a dead
 * one's goes with all its files, an orphan folder goes, nothing else. */
static void test_runtmp(void)
{
    char out[8192], path[8400];
    snprintf(out, sizeof out, "%s/rt", root);
    mkdir(out, 0777);
    ovx_error err;
    ovx_runtmp mine;
    CHECK(ovx_runtmp_open(&mine, out, &err) == OVX_OK);
    touch_in(mine.dir, "1.abcdef");
    /* a dead process's folder (lock file unlocked) with two files */
    char dead[8300];
    snprintf(dead, sizeof dead, "%s/.ovx/tmp/99999-zzzzzz", out);
    CHECK(mkdir(dead, 0777) == 0);
    snprintf(path, sizeof path, "%s.lock", dead);
    touch_abs(path);
    touch_in(dead, "a");
    touch_in(dead, "b");
    /* an orphan folder (its cleaner died before the lock went) */
    char orphan[8300];
    snprintf(orphan, sizeof orphan, "%s/.ovx/tmp/99998-yyyyyy", out);
    CHECK(mkdir(orphan, 0777) == 0);
    touch_in(orphan, "c");
    /* names beside the outputs that look like temp files are not touched */
    touch_in(out, "v.npy.tmp.1.abcdef");
    CHECK(ovx_runtmp_clean(out) == 3);
    CHECK(access(dead, F_OK) != 0 && access(orphan, F_OK) != 0);
    snprintf(path, sizeof path, "%s.lock", dead);
    CHECK(access(path, F_OK) != 0);
    snprintf(path, sizeof path, "%s/v.npy.tmp.1.abcdef", out);
    CHECK(access(path, F_OK) == 0);
    snprintf(path, sizeof path, "%s/1.abcdef", mine.dir);
    CHECK(access(path, F_OK) == 0); /* ours: we hold the lock */
    /* a child process sees our folder as live */
    pid_t pid = fork();
    if (pid == 0)
        _exit(ovx_runtmp_clean(out) == 0 && access(path, F_OK) == 0 ? 0 : 1);
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* atomic files of the run go through the folder */
    ovx_atomic_set_temp_dir(mine.dir);
    ovx_atomic_file af;
    snprintf(path, sizeof path, "%s/final.bin", out);
    CHECK(ovx_atomic_open(&af, path, &err) == OVX_OK);
    CHECK(strncmp(af.tmp_path, mine.dir, strlen(mine.dir)) == 0);
    fputs("x", af.fp);
    CHECK(ovx_atomic_commit(&af, &err) == OVX_OK && access(path, F_OK) == 0);
    ovx_atomic_set_temp_dir(NULL);
    char dir[8300];
    snprintf(dir, sizeof dir, "%s", mine.dir);
    ovx_runtmp_close(&mine);
    CHECK(access(dir, F_OK) != 0);
    snprintf(path, sizeof path, "%s.lock", dir);
    CHECK(access(path, F_OK) != 0);
}

static void test_runlog(void)
{
    char dir[8192];
    snprintf(dir, sizeof dir, "%s/logs", root);
    ovx_runlog rl;
    ovx_error err;
    CHECK(ovx_runlog_open(&rl, dir, &err) == OVX_OK);
    CHECK(ovx_runlog_failure(&rl, "a b.mp4", "a b.mp4", "decode", "bad \"data\"", &err) == OVX_OK);
    CHECK(ovx_runlog_failure(&rl, "a b.mp4", "a b.mp4", "decode", "bad \"data\"", &err) == OVX_OK);
    ovx_runlog_close(&rl);
    /* a line cut short by a crash is closed before the next append */
    char fpath[8300];
    snprintf(fpath, sizeof fpath, "%s/failures.jsonl", dir);
    FILE *cut = fopen(fpath, "a");
    fputs("{\"path\":\"half", cut);
    fclose(cut);
    /* reopened (a resumed run): the same line is not written again */
    CHECK(ovx_runlog_open(&rl, dir, &err) == OVX_OK);
    CHECK(ovx_runlog_failure(&rl, "a b.mp4", "a b.mp4", "decode", "bad \"data\"", &err) == OVX_OK);
    CHECK(ovx_runlog_failure(&rl, "c.mp4", "c.mp4", "select", "x", &err) == OVX_OK);
    ovx_runlog_close(&rl);
    char path[8300];
    snprintf(path, sizeof path, "%s/failures.jsonl", dir);
    char *text = ovx_read_text_file(path, 1 << 20);
    CHECK(text != NULL);
    int lines = 0;
    for (char *p = text; p && *p; p++)
        lines += *p == '\n';
    CHECK(lines == 3); /* two records + the closed cut line */
    CHECK(text && strstr(text, "half\n{") != NULL);
    cJSON *j = text ? cJSON_Parse(text) : NULL; /* first line parses as an object */
    CHECK(j && !strcmp(cJSON_GetObjectItem(j, "error")->valuestring, "bad \"data\""));
    cJSON_Delete(j);
    free(text);
}

static void test_strmap(void)
{
    ovx_strmap m = {0};
    char k[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof k, "k%d", i);
        CHECK(ovx_strmap_put(&m, k, i % 2 ? k : NULL) == 0);
    }
    const char *v;
    CHECK(ovx_strmap_get(&m, "k999", &v) && !strcmp(v, "k999"));
    CHECK(ovx_strmap_get(&m, "k998", &v) && v == NULL);
    CHECK(!ovx_strmap_get(&m, "k1000", &v));
    CHECK(m.n == 1000);
    ovx_strmap_free(&m);
}

/* pipeline: consumption in order, never more than depth items ahead */
typedef struct pipe_test {
    pthread_mutex_t mu;
    int in_flight, max_in_flight;
    size_t next_expected;
    int order_ok;
    size_t stop_after;
    size_t consumed;
} pipe_test;

static void *pt_prepare(void *ctx, size_t i)
{
    pipe_test *t = ctx;
    pthread_mutex_lock(&t->mu);
    if (++t->in_flight > t->max_in_flight)
        t->max_in_flight = t->in_flight;
    pthread_mutex_unlock(&t->mu);
    usleep((useconds_t)((i * 7919) % 5) * 1000);
    size_t *v = malloc(sizeof *v);
    *v = i;
    return v;
}

static void pt_consume(void *ctx, size_t i, void *item)
{
    pipe_test *t = ctx;
    size_t *v = item;
    if (*v != i || i != t->next_expected)
        t->order_ok = 0;
    t->next_expected++;
    t->consumed++;
    free(v);
    pthread_mutex_lock(&t->mu);
    t->in_flight--;
    pthread_mutex_unlock(&t->mu);
}

static void pt_discard(void *ctx, void *item)
{
    pipe_test *t = ctx;
    free(item);
    pthread_mutex_lock(&t->mu);
    t->in_flight--;
    pthread_mutex_unlock(&t->mu);
}

static int pt_stop(void *ctx)
{
    pipe_test *t = ctx;
    return t->stop_after && t->consumed >= t->stop_after;
}

static void test_pipeline(void)
{
    for (int threads = 0; threads <= 3; threads++) {
        pipe_test t = {.order_ok = 1};
        pthread_mutex_init(&t.mu, NULL);
        ovx_pipeline_ops ops = {pt_prepare, pt_consume, pt_discard, pt_stop};
        size_t n = ovx_pipeline_run(200, threads, threads + 1, &ops, &t);
        CHECK(n == 200 && t.order_ok && t.consumed == 200);
        CHECK(t.max_in_flight <= (threads ? threads + 1 : 1));
        CHECK(t.in_flight == 0);
        /* a stop request: nothing leaks, nothing more is consumed */
        pipe_test s = {.order_ok = 1, .stop_after = 17};
        pthread_mutex_init(&s.mu, NULL);
        n = ovx_pipeline_run(200, threads, threads + 1, &ops, &s);
        CHECK(n == 17 && s.consumed == 17 && s.order_ok && s.in_flight == 0);
    }
}

/* claims: one holder at a time (also within one process: OFD locks), the
 * file goes on release, a dead holder's claim is taken over */
static void test_claims(void)
{
    char dir[8192];
    snprintf(dir, sizeof dir, "%s/claims-out", root);
    mkdir(dir, 0777);
    ovx_claim a, b;
    ovx_error err;
    CHECK(ovx_claim_try(dir, "a/cat/000", &a, &err) == 1);
    CHECK(ovx_claim_try(dir, "a/cat/000", &b, &err) == 0);
    CHECK(ovx_claim_try(dir, "a/cat/001", &b, &err) == 1);
    ovx_claim_release(&b);
    CHECK(access(a.path, F_OK) == 0);
    char held[4200];
    snprintf(held, sizeof held, "%s", a.path);
    ovx_claim_release(&a);
    CHECK(access(held, F_OK) != 0);
    /* a child claims and dies without releasing (as under kill -9) */
    pid_t pid = fork();
    if (pid == 0) {
        ovx_claim c;
        if (ovx_claim_try(dir, "a/dog/000", &c, NULL) != 1)
            _exit(3);
        raise(SIGKILL);
        _exit(4);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    CHECK(ovx_claim_try(dir, "a/dog/000", &a, &err) == 1); /* taken over */
    ovx_claim_release(&a);
    /* stale claim files are cleaned, held ones stay */
    pid = fork();
    if (pid == 0) {
        ovx_claim c;
        ovx_claim_try(dir, "stale", &c, NULL);
        raise(SIGKILL);
        _exit(4);
    }
    waitpid(pid, &st, 0);
    CHECK(ovx_claim_try(dir, "live", &a, &err) == 1);
    CHECK(ovx_claim_clean_stale(dir) == 1);
    CHECK(access(a.path, F_OK) == 0);
    ovx_claim_release(&a);
}

/* compaction: the last line per item wins, torn lines go, failures of
 * items done in this run go, forgotten items lose their line */
static void test_compact(void)
{
    char dir[8192], path[8300];
    snprintf(dir, sizeof dir, "%s/compact", root);
    snprintf(path, sizeof path, "%s/manifest.jsonl", dir);
    ovx_error err;
    ovx_mkdirs_for(path, &err);
    FILE *f = fopen(path, "w");
    fputs("{\"path\":\"a.mp4\",\"rel\":\"a.mp4\",\"json\":\"a.json\",\"n\":1}\n"
          "{\"path\":\"b.mp4\",\"rel\":\"b.mp4\",\"json\":\"b.json\",\"n\":1}\n"
          "{\"path\":\"a.mp4\",\"rel\":\"a.mp4\",\"json\":\"a.json\",\"n\":2}\n"
          "{\"path\":\"c.mp4\",\"rel\":\"c.mp4\",\"json\":\"c.json\",\"n\":1}\n"
          "{\"path\":\"torn", f);
    fclose(f);
    char fpath[8300];
    snprintf(fpath, sizeof fpath, "%s/failures.jsonl", dir);
    f = fopen(fpath, "w");
    fputs("{\"path\":\"d.mp4\",\"rel\":\"d.mp4\",\"stage\":\"decode\",\"error\":\"x\"}\n"
          "{\"path\":\"e.mp4\",\"rel\":\"e.mp4\",\"stage\":\"decode\",\"error\":\"old\"}\n"
          "{\"path\":\"e.mp4\",\"rel\":\"e.mp4\",\"stage\":\"select\",\"error\":\"new\"}\n", f);
    fclose(f);
    ovx_runlog rl;
    CHECK(ovx_runlog_open(&rl, dir, &err) == OVX_OK);
    cJSON *d = cJSON_Parse("{\"path\":\"d.mp4\",\"rel\":\"d.mp4\",\"json\":\"d.json\",\"n\":1}");
    CHECK(ovx_runlog_manifest(&rl, d, &err) == OVX_OK); /* d failed before, done now */
    cJSON_Delete(d);
    CHECK(ovx_runlog_forget(&rl, "c.json") == OVX_OK);  /* c's outputs went */
    CHECK(ovx_runlog_compact(&rl, &err) == OVX_OK);
    ovx_runlog_close(&rl);
    char *m = ovx_read_text_file(path, 1 << 20), *fl = ovx_read_text_file(fpath, 1 << 20);
    CHECK(m && !strcmp(m, "{\"path\":\"b.mp4\",\"rel\":\"b.mp4\",\"json\":\"b.json\",\"n\":1}\n"
                          "{\"path\":\"a.mp4\",\"rel\":\"a.mp4\",\"json\":\"a.json\",\"n\":2}\n"
                          "{\"path\":\"d.mp4\",\"rel\":\"d.mp4\",\"json\":\"d.json\",\"n\":1}\n"));
    CHECK(fl && !strcmp(fl, "{\"path\":\"e.mp4\",\"rel\":\"e.mp4\",\"stage\":\"select\",\"error\":\"new\"}\n"));
    free(m);
    free(fl);
}

/* the library API: a dry run reports every item through the callback */
typedef struct api_seen {
    int n, extract, failed;
} api_seen;

static void api_item(void *user, const ovx_extract_item *it)
{
    api_seen *s = user;
    s->n++;
    s->extract += it->status == OVX_ITEM_EXTRACT && it->dry_run;
    s->failed += it->status == OVX_ITEM_FAILED && it->dry_run && it->error;
}

static void test_api(void)
{
    char tree[8192], missing[8192], out[8192];
    snprintf(tree, sizeof tree, "%s/tree", root); /* from test_walk */
    snprintf(missing, sizeof missing, "%s/no-such.mp4", root);
    snprintf(out, sizeof out, "%s/api-out", root);
    const char *inputs[] = {tree, missing};
    ovx_extract_params p = ovx_extract_default_params();
    CHECK(p.tokens == 4096 && p.views == 1 && p.batch == 1 && p.shard_count == 1 && p.max_tokens == 16384);
    p.out_dir = out;
    p.inputs = inputs;
    p.n_inputs = 2;
    p.dry_run = 1;
    api_seen seen = {0};
    ovx_extract_callbacks cb = {&seen, api_item, NULL, NULL, NULL};
    ovx_extract_summary sum;
    ovx_error err;
    CHECK(ovx_extract_run(&p, &cb, &sum, &err) == OVX_OK);
    CHECK(seen.n == (int)sum.items && sum.items >= 3 && seen.failed == 1 && sum.failed == 1);
    CHECK(seen.extract == (int)sum.items - 1 && !sum.started);
    CHECK(access(out, F_OK) != 0); /* a dry run writes nothing */
    /* bad parameters are usage errors */
    p.shard_index = 2;
    p.shard_count = 2;
    CHECK(ovx_extract_run(&p, &cb, &sum, &err) == OVX_EUSAGE);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/ovx-test-batch-XXXXXX");
    if (!mkdtemp(root))
        return 1;
    test_walk();
    test_lists();
    test_layout();
    test_shard();
    test_resume();
    test_resume_mutations();
    test_runtmp();
    test_runlog();
    test_strmap();
    test_pipeline();
    test_claims();
    test_compact();
    test_api();
    char cmd[8300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
    return CHECK_RESULT();
}
