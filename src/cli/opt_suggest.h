/* opt_suggest.h: strict long options for every command: getopt_long
 * without its abbreviations (--token is not --tokens: a later option could
 * make it ambiguous), and "did you mean --tokens?" for a typo. */
#ifndef OVX_CLI_OPT_SUGGEST_H
#define OVX_CLI_OPT_SUGGEST_H

#include <getopt.h>

/* returned by ovx_cli_getopt after it printed a usage error */
#define OVX_CLI_OPT_ERROR (-2)

/* getopt_long(argc, argv, shorts, longs) that accepts a long option only by
 * its full name. An unknown or abbreviated option, or a missing value,
 * prints one line "ovx CMD: ..." (with the nearest option name when one is
 * close) and returns OVX_CLI_OPT_ERROR; otherwise as getopt_long. */
int ovx_cli_getopt(const char *cmd, int argc, char **argv, const char *shorts, const struct option *longs);

/* The name in `names` (NULL-terminated, without "--") nearest to the option
 * `typed` ("--tokns" or "--tokns=3"): edit distance <= 1 (names up to 4
 * characters) or <= 2, or `typed` a prefix of it; NULL when none is. */
const char *ovx_cli_suggest(const char *typed, const char *const *names);

/* Prints "ovx CMD: unknown option 'ARG'[; did you mean --NAME?] (see ovx
 * help CMD)" and returns 2 (OVX_EXIT_USAGE). */
int ovx_cli_unknown_option(const char *cmd, const char *arg, const char *const *names);

#endif
