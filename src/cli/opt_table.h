/* opt_table.h: a command's options as one table (as FFmpeg's fftools do):
 * each entry names the option, the kind and range of its value, the field
 * of the command's options struct it sets (offsetof) and, where the
 * command's help is generated from the table, its help lines. The command
 * walks argv itself (getopt or its own loop) and prints its own errors;
 * these functions set the field, say what a value must be, and print help. */
#ifndef OVX_CLI_OPT_TABLE_H
#define OVX_CLI_OPT_TABLE_H

#include <stddef.h>
#include <stdio.h>

typedef enum ovx_opt_kind {
    OVX_OPT_STR,    /* const char *: the argument itself */
    OVX_OPT_SET,    /* int = 1; takes no argument */
    OVX_OPT_CLEAR,  /* int = 0; takes no argument (--no-X) */
    OVX_OPT_INT,    /* int in lo..hi */
    OVX_OPT_INT64,  /* int64_t in lo..hi */
    OVX_OPT_REAL,   /* double in lo..hi (a bound excluded with lo_open / hi_open) */
    OVX_OPT_CHOICE, /* int: values[i] (NULL values: i) for the name choices[i] */
    OVX_OPT_LIST    /* the command's own (e.g. repeatable): ovx_opt_set refuses it */
} ovx_opt_kind;

typedef struct ovx_opt_def {
    const char *name;           /* the long name, without "--" */
    int short_name;             /* its one-letter form, 0: none */
    ovx_opt_kind kind;
    size_t off;                 /* offsetof the field it sets */
    double lo, hi;              /* INT, INT64, REAL: the range */
    int lo_open, hi_open;       /* REAL: the bound itself is out of range */
    const char *const *choices; /* CHOICE: names, NULL-terminated */
    const int *values;          /* CHOICE: the value of each name (NULL: its index) */
    const char *expected;       /* what a value must be, where ovx_opt_expected's
                                   text from the range does not say it well */
    const char *arg;            /* help: the value's name (FILE, K); NULL: no value */
    const char *help;           /* help: lines split by '\n'; "{default}" is replaced
                                   by the field's default; NULL: not in the help */
} ovx_opt_def;

/* 1 when the option takes a value (the next argument) */
int ovx_opt_takes_value(const ovx_opt_def *d);

/* Sets d's field of the struct at opts from the value v (NULL for SET and
 * CLEAR): the whole string must be a number in range (no overflow) or one
 * of the names. Returns 0, or -1 (nothing set) for a bad value or a LIST. */
int ovx_opt_set(const ovx_opt_def *d, void *opts, const char *v);

/* What a value of d must be, as a phrase: "an integer in 1..64", "a number
 * in 0..1", "a number in (0, 1000]", "auto, codec or estimate" (or
 * d->expected). Truncated to n bytes. */
void ovx_opt_expected(const ovx_opt_def *d, char *buf, size_t n);

/* The entry named by the argument a ("--name" or "-c"), NULL: none. */
const ovx_opt_def *ovx_opt_find(const ovx_opt_def *table, size_t n, const char *a);

/* The help lines of the entries with help, in table order, aligned at
 * column 24: "  -o, --output FILE     text". defaults: the command's
 * options struct holding the defaults, for "{default}". */
void ovx_opt_print_help(FILE *out, const ovx_opt_def *table, size_t n, const void *defaults);

#endif
