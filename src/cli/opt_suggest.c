/* opt_suggest.c: exact long options and typo suggestions (opt_suggest.h). */
#include "cli/opt_suggest.h"

#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

#define MAX_NAME 64
#define MAX_OPTS 128

/* optimal string alignment distance (edits: insert, delete, substitute,
 * swap two neighbours) of a[0..na) and b[0..nb), both < MAX_NAME */
static int distance(const char *a, size_t na, const char *b, size_t nb)
{
    int d[MAX_NAME + 1][MAX_NAME + 1];
    for (size_t i = 0; i <= na; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= nb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[na][nb];
}

const char *ovx_cli_suggest(const char *typed, const char *const *names)
{
    while (*typed == '-')
        typed++;
    size_t n = strcspn(typed, "=");
    if (n == 0 || n >= MAX_NAME)
        return NULL;
    const char *best = NULL;
    int best_d = 1 << 30;
    for (size_t i = 0; names[i]; i++) {
        size_t m = strlen(names[i]);
        if (m >= MAX_NAME)
            continue;
        int d = distance(typed, n, names[i], m);
        int limit = m <= 4 ? 1 : 2;
        if (n >= 3 && n < m && !strncmp(typed, names[i], n)) /* a prefix: as good as one edit */
            d = d < 1 ? d : 1;
        if (d <= limit && d < best_d) {
            best = names[i];
            best_d = d;
        }
    }
    return best;
}

int ovx_cli_unknown_option(const char *cmd, const char *arg, const char *const *names)
{
    const char *s = arg[0] == '-' && arg[1] == '-' ? ovx_cli_suggest(arg, names) : NULL;
    fprintf(stderr, "ovx %s: unknown option '%s'%s%s%s (see ovx help %s)\n", cmd, arg,
            s ? "; did you mean --" : "", s ? s : "", s ? "?" : "", cmd);
    return OVX_EXIT_USAGE;
}

/* the names of longs, NULL-terminated, in names[MAX_OPTS + 1] */
static void long_names(const struct option *longs, const char **names)
{
    size_t n = 0;
    for (; longs[n].name && n < MAX_OPTS; n++)
        names[n] = longs[n].name;
    names[n] = NULL;
}

int ovx_cli_getopt(const char *cmd, int argc, char **argv, const char *shorts, const struct option *longs)
{
    char sh[256]; /* a leading ':' tells a missing value (':') from an unknown option ('?') */
    snprintf(sh, sizeof sh, ":%s", shorts[0] == ':' ? shorts + 1 : shorts);
    const char *names[MAX_OPTS + 1];
    int idx = -1;
    int c = getopt_long(argc, argv, sh, longs, &idx);
    if (c == -1)
        return -1;
    const char *el = argv[optind - 1];
    if (c == ':') {
        if (el[0] == '-' && el[1] == '-')
            fprintf(stderr, "ovx %s: %s needs a value (see ovx help %s)\n", cmd, el, cmd);
        else
            fprintf(stderr, "ovx %s: -%c needs a value (see ovx help %s)\n", cmd, optopt, cmd);
        return OVX_CLI_OPT_ERROR;
    }
    if (c == '?') {
        long_names(longs, names);
        if (el[0] == '-' && el[1] == '-') {
            ovx_cli_unknown_option(cmd, el, names);
        } else {
            char s[3] = {'-', (char)optopt, '\0'};
            ovx_cli_unknown_option(cmd, s, names);
        }
        return OVX_CLI_OPT_ERROR;
    }
    if (idx >= 0) { /* the element that named it: before its value when that came apart */
        if (optarg && optarg == argv[optind - 1] && optind >= 2)
            el = argv[optind - 2];
        size_t n = el[0] == '-' && el[1] == '-' ? strcspn(el + 2, "=") : 0;
        if (n != strlen(longs[idx].name) || strncmp(el + 2, longs[idx].name, n)) {
            fprintf(stderr, "ovx %s: unknown option '%.*s' (options are not abbreviated); did you mean "
                    "--%s? (see ovx help %s)\n", cmd, (int)(n + 2), el, longs[idx].name, cmd);
            return OVX_CLI_OPT_ERROR;
        }
    }
    return c;
}
