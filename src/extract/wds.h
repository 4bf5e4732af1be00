/* wds.h: `ovx extract --format wds`: outputs as WebDataset-style tar shards
 * OUT/shards/{task}-{nnnnnn}.tar instead of three files per item. Each item
 * is the members KEY.tokens.npy, KEY.pooled.npy (KEY.hidden_L.npy, ...) and
 * KEY.json, last; KEY is the item's REL without extension with '%', '/' and
 * '.' written as %25, %2F and %2E (so WebDataset's "key = name up to the
 * first dot" holds and keys stay distinct); the JSON keeps the original REL.
 * A shard is written under a temp name and renamed (never over another
 * shard) when it holds --shard-items items or --shard-bytes bytes, or when
 * the run ends or stops; its items' manifest lines are handed out only then.
 * Resume reads the complete shards: an item is done when its KEY.json there
 * has the run's settings hash and its arrays match their recorded dtype and
 * shape; items of a shard that was never completed are redone. */
#ifndef OVX_EXTRACT_WDS_H
#define OVX_EXTRACT_WDS_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "extract/strmap.h"
#include "io/npy.h"

typedef struct ovx_wds ovx_wds;

typedef struct ovx_wds_params {
    const char *out_dir;
    int task;               /* shard index of this run (0 without --shard) */
    int64_t shard_items;    /* items per tar (default 1000) */
    uint64_t shard_bytes;   /* 0: no byte limit */
    void *user;
    /* An item's shard is complete: its manifest line (with "shard" and
     * "key"), owned by the callee. */
    void (*committed)(void *user, cJSON *record);
    /* A shard could not be completed: each of its items, with the error. */
    void (*lost)(void *user, const cJSON *record, const char *error);
} ovx_wds_params;

/* Writes KEY for an output base relative to OUT (REL without extension). */
int ovx_wds_key(const char *base_rel, char *key, size_t cap);

/* Creates OUT/shards, removes temp shards of this task left by dead
 * processes on this host, and numbers new shards after the existing ones. */
int ovx_wds_open(ovx_wds **w, const ovx_wds_params *p, ovx_error *err);
/* Starts an item (opening a shard when none is open). */
int ovx_wds_item_begin(ovx_wds *w, const char *key, ovx_error *err);
/* Adds KEY.SUFFIX holding an NPY of float32 data stored as dtype (F32, F16,
 * BF16) or of raw I64 data; records {"file","dtype","shape"} in outputs[name]. */
int ovx_wds_item_npy(ovx_wds *w, const char *suffix, ovx_dtype dtype, int ndim, const int64_t *shape,
                     const void *data, cJSON *outputs, const char *name, const char *dtype_name, ovx_error *err);
/* Adds KEY.json (text) and closes the item; record: its manifest line
 * (ownership taken), handed to committed() with its shard. May complete
 * the shard. */
int ovx_wds_item_end(ovx_wds *w, const char *json_text, cJSON *record, ovx_error *err);
/* Drops the members of the current item. */
void ovx_wds_item_abort(ovx_wds *w);
/* Completes the open shard now (if it has items). */
int ovx_wds_flush(ovx_wds *w, ovx_error *err);
/* Completes the open shard (if it has items) and frees w. */
int ovx_wds_close(ovx_wds *w, ovx_error *err);

/* Resume: reads every complete shard in OUT/shards and puts into done
 * rel -> manifest line (printed JSON) for each item stored with
 * settings_hash whose arrays validate. Unreadable shards are skipped (their
 * items are redone); *bad_shards counts them. */
int ovx_wds_index(const char *out_dir, const char *settings_hash, ovx_strmap *done, int *bad_shards,
                  ovx_error *err);

/* The same for the complete shards not yet in seen (their names), which
 * then are. */
int ovx_wds_index_more(const char *out_dir, const char *settings_hash, ovx_strmap *done, ovx_strmap *seen,
                       int *bad_shards, ovx_error *err);

/* The manifest line of an item from its KEY.json object (NULL when fields
 * are missing); shard may be NULL (set later). */
cJSON *ovx_wds_record(const cJSON *item_json, const char *key, const char *shard);

#endif
