/* run_summary.h: the end of an `ovx extract` run, beyond the counts: clips/s
 * and tokens/s, the share of stage time in decode+select, the model and
 * writing (from each item's REL.json timings_ms), and with failures where
 * they are logged and their three most common causes. Printing only: it
 * reads what the items report and the REL.json files they wrote. */
#ifndef OVX_CLI_RUN_SUMMARY_H
#define OVX_CLI_RUN_SUMMARY_H

#include <stddef.h>
#include <stdio.h>

#include "extract/extract.h"

typedef struct ovx_cause_count {
    char *cause;    /* "STAGE: error" with numbers as N and (...) contents dropped */
    size_t n;
} ovx_cause_count;

typedef struct ovx_run_summary {
    const char *out_dir;
    double tokens;                         /* tokens of the items done in this run */
    double decode_select_ms, model_ms, write_ms; /* stage times summed over the timed items */
    size_t timed;                          /* items whose REL.json gave timings */
    ovx_cause_count *causes;
    size_t n_causes, cap_causes;
} ovx_run_summary;

/* Counts one item of the run (DONE: tokens and timings; FAILED: its cause). */
void ovx_run_summary_item(ovx_run_summary *s, const ovx_extract_item *it);

/* The lines after the counts line, each starting with prefix: rates and
 * shares when items were done, the failures' log and up to three causes
 * (most frequent first, one line each) when some failed. */
void ovx_run_summary_print(FILE *out, const char *prefix, ovx_run_summary *s, size_t done, size_t failed,
                           double seconds);

void ovx_run_summary_free(ovx_run_summary *s);

/* The cause of an error, for grouping: stage, then the error with digit runs
 * as N and the contents of parentheses as "...", at most 100 bytes. */
void ovx_run_summary_cause(const char *stage, const char *error, char *buf, size_t len);

#endif
