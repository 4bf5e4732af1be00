/* shard.c: stable hash sharding of the item list. */
#include "extract/shard.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "extract/strmap.h"

static int parse_int(const char *s, long *out)
{
    if (!s || !*s)
        return -1;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 0 || v > 1000000000)
        return -1;
    *out = v;
    return 0;
}

int ovx_shard_parse(const char *spec, int *index, int *count, ovx_error *err)
{
    const char *slash = strchr(spec, '/');
    char ibuf[32];
    long i, n;
    if (!slash || (size_t)(slash - spec) >= sizeof ibuf)
        return ovx_error_set(err, OVX_EUSAGE, "--shard: expected I/N, got '%s'", spec);
    memcpy(ibuf, spec, (size_t)(slash - spec));
    ibuf[slash - spec] = '\0';
    if (parse_int(ibuf, &i) || parse_int(slash + 1, &n) || n < 1 || i >= n)
        return ovx_error_set(err, OVX_EUSAGE, "--shard: expected I/N with 0 <= I < N, got '%s'", spec);
    *index = (int)i;
    *count = (int)n;
    return OVX_OK;
}

int ovx_shard_from_env(int *index, int *count, ovx_error *err)
{
    const char *id = getenv("SLURM_ARRAY_TASK_ID");
    const char *cnt = getenv("SLURM_ARRAY_TASK_COUNT");
    if (!id || !cnt)
        return 0;
    long i, n, min = 0;
    const char *smin = getenv("SLURM_ARRAY_TASK_MIN");
    if (parse_int(id, &i) || parse_int(cnt, &n) || n < 1 || (smin && parse_int(smin, &min)))
        return ovx_error_set(err, OVX_EUSAGE, "SLURM_ARRAY_TASK_ID=%s / SLURM_ARRAY_TASK_COUNT=%s unusable", id, cnt);
    i -= min;
    if (i < 0 || i >= n)
        return ovx_error_set(err, OVX_EUSAGE,
                             "SLURM_ARRAY_TASK_ID=%s is outside 0..%ld after subtracting SLURM_ARRAY_TASK_MIN "
                             "(use a contiguous array or pass --shard I/N)", id, n - 1);
    *index = (int)i;
    *count = (int)n;
    return 1;
}

int ovx_shard_take(const char *rel, int index, int count)
{
    if (count <= 1)
        return 1;
    return (int)(ovx_fnv1a64(rel, strlen(rel)) % (uint64_t)count) == index;
}
