/* plan.h: the plan of an `ovx extract` run: the canonical settings string
 * and hash, every listed item's output base, output collisions between
 * items (decided over the whole list, so every shard agrees), this run's
 * shard, and per item whether it is extracted, skipped (resume) or failed
 * already while planning (also a known failure: known_fail.h). */
#ifndef OVX_EXTRACT_PLAN_H
#define OVX_EXTRACT_PLAN_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "common/error.h"
#include "extract/extract_item.h"
#include "extract/inputs.h"
#include "extract/known_fail.h"

enum { OVX_ACT_EXTRACT = 0, OVX_ACT_SKIP, OVX_ACT_FAIL };

typedef struct ovx_plan_item {
    ovx_extract_job job;
    int action;
    const char *stage;    /* OVX_ACT_FAIL */
    char *error;          /* OVX_ACT_FAIL, malloc'd */
    cJSON *record;        /* OVX_ACT_SKIP (not in dry runs): its manifest line;
                           * a known failure: its failure line */
    int known;            /* OVX_ACT_FAIL: a known failure, not tried again */
    ovx_input_ident ident; /* the input file as planned (recorded with a failure) */
} ovx_plan_item;

typedef struct ovx_plan {
    ovx_plan_item *items; /* the items of this shard, in list order */
    size_t n;
    size_t known;         /* items that are known failures */
    char fail_settings[17]; /* known_fail.h */
} ovx_plan;

/* Fills o->settings_str and o->settings_hash: everything that changes the
 * outputs. The model enters by its fingerprint, not its path, so a copy
 * elsewhere resumes. */
void ovx_extract_settings(ovx_extract_opts *o);

/* Plans the inputs for shard shard_i of shard_n. With overwrite no item is
 * skipped; in a dry run skipped items get no record. Known failures fail
 * again without being tried, unless retry_failed (or overwrite). */
int ovx_plan_build(ovx_plan *pl, const ovx_input_list *inputs, const ovx_extract_opts *o, int shard_i, int shard_n,
                   int overwrite, int retry_failed, int dry_run, ovx_error *err);
void ovx_plan_free(ovx_plan *pl);

#endif
