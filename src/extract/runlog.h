/* runlog.h: the run's logs. DIR/failures.jsonl gets one line per failed
 * item {"path","rel","stage","error"}; DIR/manifest.jsonl one line per
 * finished item. Both are appended with one write(2) per line on an
 * O_APPEND descriptor (so concurrent shards writing into one DIR do not
 * interleave), and a line already present in the file is not written again
 * (re-runs do not duplicate). */
#ifndef OVX_EXTRACT_RUNLOG_H
#define OVX_EXTRACT_RUNLOG_H

#include <cjson/cJSON.h>

#include "extract/strmap.h"
#include "common/error.h"

typedef struct ovx_runlog {
    char failures_path[4096];
    char manifest_path[4096];
    ovx_strmap seen_failures;   /* lines already in failures.jsonl */
    ovx_strmap seen_manifest;   /* lines already in manifest.jsonl */
    int loaded;
} ovx_runlog;

/* Prepares logging into dir (created if missing); reads existing lines. */
int ovx_runlog_open(ovx_runlog *rl, const char *dir, ovx_error *err);
void ovx_runlog_close(ovx_runlog *rl);

int ovx_runlog_failure(ovx_runlog *rl, const char *path, const char *rel, const char *stage,
                       const char *error, ovx_error *err);
/* Appends obj (printed unformatted) to manifest.jsonl. */
int ovx_runlog_manifest(ovx_runlog *rl, const cJSON *obj, ovx_error *err);

#endif
