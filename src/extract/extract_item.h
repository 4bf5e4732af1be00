/* extract_item.h: the work on one item of `ovx extract`, in two halves the
 * pipeline overlaps: prepare (worker threads: decode, select, cut the
 * tokens; item_prepare.c) and finish (main thread: model forward,
 * item_model.c; write NPY + JSON, item_write.c). */
#ifndef OVX_EXTRACT_EXTRACT_ITEM_H
#define OVX_EXTRACT_EXTRACT_ITEM_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "extract/inputs.h"
#include "extract/manifest.h"
#include "common/error.h"
#include "io/npy.h"

struct ovx_model;
struct ovx_engine;

typedef struct ovx_extract_opts {
    const char *model_arg;     /* -m as given (or $OVX_MODEL) */
    char model_dir[4096];      /* resolved folder */
    char model_fingerprint[17];/* hex, see fingerprint.h ("" without -m) */
    const char *out_dir;
    int uniform;               /* --sampling uniform */
    int frames;                /* slots sampled (codec default 64, uniform default 16) */
    int tokens;                /* codec top-K budget */
    int views;
    int native;                /* images at native size */
    int max_tokens;            /* native images with more tokens fail */
    ovx_dtype dtype;           /* F32 or F16 */
    int hidden_index;          /* OVX_NO_HIDDEN_STATE when not requested */
    int pooled_only;
    int wds;                   /* --format wds: outputs in tar shards (resume from wds.h's index) */
    int save_pixels;           /* also write BASE.pixels.npy (+ BASE.indices.npy) */
    int select_threads;        /* decoder threads per worker */
    double max_corrupt;        /* < 0: select's default */
    int mv_source;             /* ovx_mv_source */
    int iframe_policy;         /* ovx_iframe_policy */
    double fps, start, duration; /* select's timed sampling (0: off / from 0 / to the end) */
    char settings_hash[17];    /* hex FNV-1a 64 of the canonical settings string */
    char settings_str[8192];   /* the canonical settings string */
} ovx_extract_opts;

/* Shared, read-only state while items run. */
typedef struct ovx_extract_ctx {
    const ovx_extract_opts *opts;
    struct ovx_model *model;   /* NULL for dry runs */
    struct ovx_engine *engine; /* the model on the resolved --device */
    char device[32];           /* "cpu" or "cuda:N" (JSON only, not in the settings hash) */
    const char *precision;     /* "fp32" or "bf16" on the CPU, "bf16" on CUDA (JSON only) */
    char model_checksum[17];   /* hex FNV-1a 64 of the weights */
    struct ovx_wds *wds;       /* --format wds: the shard writer (NULL: files) */
    const struct ovx_strmap *owners; /* output paths of this run's inputs (ovx_plan.owners) */
} ovx_extract_ctx;

/* An item with its output base (DIR/REL without extension). */
typedef struct ovx_extract_job {
    const ovx_input *in;
    char base[4096];
} ovx_extract_job;

typedef struct ovx_prepared ovx_prepared;

/* Worker half: never NULL except out of memory; failures are recorded in it. */
ovx_prepared *ovx_extract_prepare(const ovx_extract_ctx *ctx, const ovx_extract_job *job);
/* Main thread: one forward (the engine's padding-free packed batch) over
 * every view of the items[0..n) that have not failed; the results stay in
 * the items for ovx_extract_finish. When that forward fails, each item runs
 * on its own, so only the items whose forward fails are marked failed
 * (stage "model"). NULL items are ignored. */
void ovx_extract_model_batch(const ovx_extract_ctx *ctx, ovx_prepared **items, size_t n);
/* ovx_extract_model_batch in two halves, so the forward of one batch runs
 * on the device while the main thread writes the batch before it and
 * gathers the next: submit packs and queues the forward (the engine's
 * ovx_engine_submit; at most OVX_ENGINE_TICKETS batches outstanding),
 * collect waits for it and gives each item its results (or, as above,
 * reruns a failed batch item by item). The items must stay alive until the
 * collect; every submitted batch must be collected. NULL (out of memory:
 * the items are failed) is a valid batch to collect. */
typedef struct ovx_extract_batch ovx_extract_batch;
ovx_extract_batch *ovx_extract_model_submit(const ovx_extract_ctx *ctx, ovx_prepared **items, size_t n);
void ovx_extract_model_collect(const ovx_extract_ctx *ctx, ovx_extract_batch *b);
/* Main-thread half: runs the model (unless ovx_extract_model_batch did) and
 * writes the outputs (JSON last), after removing the item's earlier outputs
 * (ovx_resume_remove_outputs); the caller holds the item's claim.
 * On success *record is the manifest object for this item (NULL with
 * ctx->wds: the shard writer hands it out when the item's shard is complete).
 * On failure
 * *stage names the stage ("input", "decode", "select", "model", "write"). */
int ovx_extract_finish(const ovx_extract_ctx *ctx, const ovx_extract_job *job, ovx_prepared *p,
                       cJSON **record, const char **stage, ovx_error *err);
void ovx_prepared_free(ovx_prepared *p);
/* Wall seconds the prepare half took, plus the item's share of its batch's
 * forward once that ran. */
double ovx_prepared_seconds(const ovx_prepared *p);

#endif
