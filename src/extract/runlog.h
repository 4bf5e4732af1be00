/* runlog.h: the run's logs in the output folder. DIR/failures.jsonl: one
 * line per failed item {"path","rel","stage","error"} (with what a rerun
 * needs to skip it again: known_fail.h); DIR/manifest.jsonl:
 * one line per finished item. Both are keyed by the item's rel (the
 * manifest by REL.json, which rel names), not by the path it was found under. Several processes may log into one DIR:
 * every append and rewrite holds the folder's log lock (claim.h), an append
 * is one write(2) of a whole line on an O_APPEND descriptor, and an append
 * that fails is rolled back (truncated to the old size), so no line is ever
 * torn or interleaved. A line already in the file when the run started is
 * not written again. At the end of a run ovx_runlog_compact rewrites both
 * files atomically so that each holds one line per item, the latest. */
#ifndef OVX_EXTRACT_RUNLOG_H
#define OVX_EXTRACT_RUNLOG_H

#include <cjson/cJSON.h>

#include "extract/strmap.h"
#include "common/error.h"

typedef struct ovx_runlog {
    char dir[4096];
    char failures_path[4200];
    char manifest_path[4200];
    int lock_fd;                /* DIR/.ovx/log.lock */
    ovx_strmap seen_failures;   /* lines already in failures.jsonl */
    ovx_strmap seen_manifest;   /* lines already in manifest.jsonl */
    ovx_strmap ok_items;        /* rels of the items done or skipped in this run */
    ovx_strmap failed_here;     /* failure lines of this run */
    ovx_strmap gone_keys;       /* manifest keys ("json") whose outputs this run removed */
    const ovx_strmap *keep_rels; /* set: lines of other rels go at the compaction (--prune) */
    int loaded;
} ovx_runlog;

/* Prepares logging into dir (created if missing); reads existing lines. */
int ovx_runlog_open(ovx_runlog *rl, const char *dir, ovx_error *err);
void ovx_runlog_close(ovx_runlog *rl);

int ovx_runlog_failure(ovx_runlog *rl, const char *path, const char *rel, const char *stage,
                       const char *error, ovx_error *err);
/* Appends a failure line made by ovx_failure_line (known_fail.h: with the
 * input's size, mtime and the run's fail_settings). */
int ovx_runlog_failure_line(ovx_runlog *rl, const cJSON *line, ovx_error *err);
/* Appends obj (printed unformatted) to manifest.jsonl; its item (path and
 * rel) counts as done for the compaction. */
int ovx_runlog_manifest(ovx_runlog *rl, const cJSON *obj, ovx_error *err);
/* The item whose BASE.json is DIR/json_rel lost its outputs (rewritten and
 * failed): its manifest line goes at the compaction unless a newer one
 * comes. */
int ovx_runlog_forget(ovx_runlog *rl, const char *json_rel);

/* --prune: only the lines of these rels (exact bytes) outlive the
 * compaction (keep must outlive rl's use). */
void ovx_runlog_keep_only(ovx_runlog *rl, const ovx_strmap *keep);

/* Rewrites manifest.jsonl with one line per item (key "json": the latest
 * line; items forgotten and not written again since, by this run or
 * another, dropped; torn lines dropped) and failures.jsonl with one line
 * per item (rel: the latest), without the items done or skipped in this
 * run (unless this run's own failure: another input colliding with it). Atomic (temp in DIR/.ovx + rename). */
int ovx_runlog_compact(ovx_runlog *rl, ovx_error *err);

#endif
