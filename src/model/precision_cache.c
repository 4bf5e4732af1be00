/* precision_cache.c: --precision auto decides the same way every time on one
 * machine. The calibration is a timing, and timings move with the load (other
 * processes on the cores), so a ratio near the threshold could flip the
 * choice, and the outputs with it, between two runs. The first measurement
 * on a CPU is kept in a small cache file, keyed by the CPU's model name, its
 * bf16/AMX flags and the ovx version, and every later process reads it:
 * $OVX_CACHE_DIR (empty: no cache), else $XDG_CACHE_HOME/ovx, else
 * ~/.cache/ovx, file precision-auto.tsv, lines "KEY<TAB>RATIO". Two first
 * processes at once both append; each then takes the first line of its key,
 * so they agree. Without a writable cache each process measures. */
#include "model/precision_cache.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/atomic_file.h"

static int cache_path(char *path, size_t len)
{
    const char *d = getenv("OVX_CACHE_DIR"), *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    int n;
    if (d)
        n = *d ? snprintf(path, len, "%s/precision-auto.tsv", d) : -1;
    else if (x && *x)
        n = snprintf(path, len, "%s/ovx/precision-auto.tsv", x);
    else if (h && *h)
        n = snprintf(path, len, "%s/.cache/ovx/precision-auto.tsv", h);
    else
        n = -1;
    return n > 0 && (size_t)n < len ? 0 : -1;
}

/* "cpu=MODEL NAME;bf16=B;amx=A;ovx=VERSION" (no tab or newline in it) */
static void cache_key(char *key, size_t len, int bf16, int amx)
{
    char name[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[1024];
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!strncmp(line, "model name", 10) && colon) {
            colon += 1 + (colon[1] == ' ');
            colon[strcspn(colon, "\r\n")] = '\0';
            snprintf(name, sizeof name, "%s", colon);
            break;
        }
    }
    if (f)
        fclose(f);
    for (char *c = name; *c; c++)
        if (*c == '\t' || *c == ';')
            *c = ' ';
    snprintf(key, len, "cpu=%s;bf16=%d;amx=%d;ovx=%s", name, bf16, amx, OVX_VERSION);
}

/* the ratio of the first line of key in the file, 0 when none */
static double lookup(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[1024];
    size_t kl = strlen(key);
    double r = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) || line[kl] != '\t')
            continue;
        char *end;
        double v = strtod(line + kl + 1, &end);
        if (end != line + kl + 1 && v > 0 && v < 1000) {
            r = v;
            break;
        }
    }
    fclose(f);
    return r;
}

double ovx_precision_cached_ratio(int bf16, int amx, double (*measure)(void), char *where, size_t where_len)
{
    char path[4096], key[512];
    if (where_len)
        where[0] = '\0';
    if (cache_path(path, sizeof path) != 0)
        return measure();
    cache_key(key, sizeof key, bf16, amx);
    double r = lookup(path, key);
    if (r > 0) {
        snprintf(where, where_len, "measured earlier, kept in %s", path);
        return r;
    }
    double m = measure();
    ovx_error err;
    if (m <= 0 || ovx_mkdirs_for(path, &err) != OVX_OK)
        return m;
    char line[600];
    int n = snprintf(line, sizeof line, "%s\t%.4f\n", key, m);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return m;
    int ok = n > 0 && (size_t)n < sizeof line && write(fd, line, (size_t)n) == n;
    close(fd);
    r = ok ? lookup(path, key) : 0; /* another process's first line wins */
    if (r > 0)
        snprintf(where, where_len, "kept in %s", path);
    return r > 0 ? r : m;
}
