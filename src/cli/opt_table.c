/* opt_table.c: setting, describing and printing table options (opt_table.h). */
#include "cli/opt_table.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HELP_COLUMN 24

int ovx_opt_takes_value(const ovx_opt_def *d)
{
    return d->kind != OVX_OPT_SET && d->kind != OVX_OPT_CLEAR;
}

/* the whole of s as an integer, without overflow */
static int parse_ll(const char *s, long long *v)
{
    char *end;
    errno = 0;
    *v = strtoll(s, &end, 10);
    return errno || end == s || *end ? -1 : 0;
}

/* the whole of s as a number, without overflow or underflow */
static int parse_double(const char *s, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return errno || end == s || *end ? -1 : 0;
}

int ovx_opt_set(const ovx_opt_def *d, void *opts, const char *v)
{
    char *field = (char *)opts + d->off;
    long long ll;
    double x;
    switch (d->kind) {
    case OVX_OPT_STR: *(const char **)field = v; return 0;
    case OVX_OPT_SET: *(int *)field = 1; return 0;
    case OVX_OPT_CLEAR: *(int *)field = 0; return 0;
    case OVX_OPT_INT:
        if (parse_ll(v, &ll) || ll < d->lo || ll > d->hi)
            return -1;
        *(int *)field = (int)ll;
        return 0;
    case OVX_OPT_INT64:
        if (parse_ll(v, &ll) || ll < d->lo || ll > d->hi)
            return -1;
        *(int64_t *)field = ll;
        return 0;
    case OVX_OPT_REAL:
        if (parse_double(v, &x) || !(d->lo_open ? x > d->lo : x >= d->lo) ||
            !(d->hi_open ? x < d->hi : x <= d->hi))
            return -1;
        *(double *)field = x;
        return 0;
    case OVX_OPT_CHOICE:
        for (int i = 0; d->choices[i]; i++)
            if (!strcmp(v, d->choices[i])) {
                *(int *)field = d->values ? d->values[i] : i;
                return 0;
            }
        return -1;
    case OVX_OPT_LIST: return -1;
    }
    return -1;
}

void ovx_opt_expected(const ovx_opt_def *d, char *buf, size_t n)
{
    if (!n)
        return;
    buf[0] = '\0';
    if (d->expected) {
        snprintf(buf, n, "%s", d->expected);
    } else if (d->kind == OVX_OPT_INT || d->kind == OVX_OPT_INT64) {
        snprintf(buf, n, "an integer in %.0f..%.0f", d->lo, d->hi);
    } else if (d->kind == OVX_OPT_REAL) {
        if (d->lo_open || d->hi_open)
            snprintf(buf, n, "a number in %s%g, %g%s", d->lo_open ? "(" : "[", d->lo, d->hi, d->hi_open ? ")" : "]");
        else
            snprintf(buf, n, "a number in %g..%g", d->lo, d->hi);
    } else if (d->kind == OVX_OPT_CHOICE) {
        size_t len = 0;
        for (int i = 0; d->choices[i] && len < n; i++) {
            int w = snprintf(buf + len, n - len, "%s%s", i == 0 ? "" : d->choices[i + 1] ? ", " : " or ",
                             d->choices[i]);
            if (w < 0)
                return;
            len += (size_t)w;
        }
    }
}

const ovx_opt_def *ovx_opt_find(const ovx_opt_def *table, size_t n, const char *a)
{
    if (a[0] != '-')
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (a[1] == '-' && !strcmp(a + 2, table[i].name))
            return &table[i];
        if (table[i].short_name && a[1] == table[i].short_name && a[2] == '\0')
            return &table[i];
    }
    return NULL;
}

/* the default of d's field in defaults, as the help says it */
static void format_default(const ovx_opt_def *d, const void *defaults, char *buf, size_t n)
{
    const char *field = (const char *)defaults + d->off;
    switch (d->kind) {
    case OVX_OPT_INT: snprintf(buf, n, "%d", *(const int *)field); break;
    case OVX_OPT_INT64: snprintf(buf, n, "%" PRId64, *(const int64_t *)field); break;
    case OVX_OPT_REAL: snprintf(buf, n, "%g", *(const double *)field); break;
    case OVX_OPT_CHOICE:
        for (int i = 0; d->choices[i]; i++)
            if ((d->values ? d->values[i] : i) == *(const int *)field) {
                snprintf(buf, n, "%s", d->choices[i]);
                return;
            }
        snprintf(buf, n, "?");
        break;
    default: snprintf(buf, n, "?"); break;
    }
}

void ovx_opt_print_help(FILE *out, const ovx_opt_def *table, size_t n, const void *defaults)
{
    static const char marker[] = "{default}";
    for (size_t i = 0; i < n; i++) {
        const ovx_opt_def *d = &table[i];
        if (!d->help)
            continue;
        char left[128];
        if (d->short_name)
            snprintf(left, sizeof left, "-%c, --%s%s%s", d->short_name, d->name, d->arg ? " " : "",
                     d->arg ? d->arg : "");
        else
            snprintf(left, sizeof left, "--%s%s%s", d->name, d->arg ? " " : "", d->arg ? d->arg : "");
        int w = fprintf(out, "  %s", left);
        if (w < 0 || w >= HELP_COLUMN)
            fprintf(out, "\n%*s", HELP_COLUMN, "");
        else
            fprintf(out, "%*s", HELP_COLUMN - w, "");
        for (const char *s = d->help; *s;) {
            size_t line = strcspn(s, "\n");
            const char *m = strstr(s, marker);
            if (m && m < s + line) { /* the default, in place of the marker */
                char dv[64];
                format_default(d, defaults, dv, sizeof dv);
                fprintf(out, "%.*s%s%.*s", (int)(m - s), s, dv, (int)(s + line - m - (sizeof marker - 1)),
                        m + sizeof marker - 1);
            } else {
                fprintf(out, "%.*s", (int)line, s);
            }
            s += line;
            if (*s == '\n') {
                s++;
                fprintf(out, "\n%*s", HELP_COLUMN, "");
            }
        }
        fputc('\n', out);
    }
}
