/* extract.h: the batch runner behind `ovx extract`, as a library. One call
 * lists the inputs (files, folders, path lists), names their outputs,
 * takes this run's shard, decides per item whether it is already done
 * (resume), and runs the rest through decode + select -> model -> NPY/JSON
 * writing, with failures.jsonl and manifest.jsonl in the output folder.
 * The caller hears about every item, the progress and is asked whether to
 * stop through callbacks; it prints, the library never does. */
#ifndef OVX_EXTRACT_EXTRACT_H
#define OVX_EXTRACT_EXTRACT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "cuda/device.h"
#include "io/npy.h"

/* The default extensions taken from folders (videos and images ovx reads),
 * comma-separated. */
extern const char *const OVX_DEFAULT_EXTS;

typedef struct ovx_extract_params {
    /* inputs */
    const char *model;            /* folder or Hugging Face id; may be NULL in a dry run */
    const char *out_dir;          /* required */
    const char *const *inputs;    /* files and folders */
    size_t n_inputs;
    const char *const *lists;     /* path lists ("-": stdin) */
    size_t n_lists;
    const char *exts;             /* extensions taken from folders (OVX_DEFAULT_EXTS) */
    const char *labels_csv;       /* NULL: none */
    int label_from_dir;
    /* model and sampling (all in the settings hash) */
    int uniform;                  /* uniform sampling instead of codec top-K */
    int frames;                   /* < 0: 64 (codec) or 16 (uniform) */
    int tokens;                   /* codec token budget (4096) */
    int views;                    /* 1 */
    int native;                   /* images at their own size */
    int max_tokens;               /* --native images with more tokens fail (16384;
                                   * not in the settings hash: it changes no output) */
    int hidden_index;             /* OVX_NO_HIDDEN_STATE, or a Hugging Face layer index */
    ovx_dtype dtype;              /* OVX_DTYPE_F32, OVX_DTYPE_F16 or OVX_DTYPE_BF16 (stored as uint16) */
    int pooled_only;
    int save_pixels;
    double max_corrupt;           /* < 0: select's default */
    int mv_source;                /* ovx_mv_source (select's default) */
    int iframe_policy;            /* ovx_iframe_policy (select's default) */
    double fps, start, duration;  /* 0: off / from 0 / to the end */
    /* run */
    int overwrite;                /* redo items whose outputs validate (not with format_wds) */
    int prune;                    /* drop the lines and outputs of rels no input of this run has (files) */
    int retry_failed;             /* try known failures again (known_fail.h; overwrite does too) */
    int format_wds;               /* tar shards OUT/shards/{shard_index}-{nnnnnn}.tar (wds.h), not files */
    int shard_items;              /* format_wds: items per tar (1000) */
    uint64_t shard_bytes;         /* format_wds: also close a tar at this size (0: no limit) */
    int shard_index, shard_count; /* 0/1 */
    int dry_run;                  /* plan only: load nothing, write nothing */
    int decode_threads;           /* items prepared ahead in parallel (1; 0: in turn) */
    int threads;                  /* model threads (0: default) */
    int batch;                    /* items per forward (1) */
    double io_timeout;            /* URL inputs: seconds a read may stall (0: OVX_NETIO_DEFAULT_TIMEOUT) */
    ovx_device device;            /* resolved: cpu or cuda:N (not in the settings hash) */
    int device_fallback;          /* the user asked for auto: a CUDA device that fails
                                   * (weights do not fit, a fault) is replaced by the
                                   * CPU, said once through the warning callback;
                                   * else a device left unusable stops the run */
    int precision;                /* CPU: OVX_PRECISION_FP32 or _BF16 (not in the settings hash) */
} ovx_extract_params;

ovx_extract_params ovx_extract_default_params(void);

/* What happened to one item (dry run: what would happen). */
typedef enum ovx_extract_status {
    OVX_ITEM_EXTRACT = 0, /* dry run only: would be extracted */
    OVX_ITEM_DONE,        /* extracted now */
    OVX_ITEM_SKIPPED,     /* already done with these settings */
    OVX_ITEM_FAILED
} ovx_extract_status;

typedef struct ovx_extract_item {
    ovx_extract_status status;
    int dry_run;
    const char *path;     /* as opened */
    const char *rel;      /* relative path naming the outputs */
    const char *stage;    /* FAILED: "input", "decode", "select", "model", "write"
                           * (NULL in a dry run) */
    const char *error;    /* FAILED: one line */
    int known_failure;    /* FAILED: failed before with this input and these
                           * settings, not tried again (known_fail.h) */
    const cJSON *record;  /* DONE, SKIPPED: the manifest line (NULL for a
                           * skip in a dry run or without the fields);
                           * FAILED: its failures.jsonl line (NULL in a
                           * dry run, except for a known failure) */
    double seconds;       /* DONE: wall time of the item (< 0: not known, format_wds) */
} ovx_extract_item;

typedef enum ovx_extract_event {
    OVX_PROGRESS_START = 0, /* before the first item is extracted */
    OVX_PROGRESS_STEP,      /* after each extracted or failed item */
    OVX_PROGRESS_END        /* after the last one (or the stop) */
} ovx_extract_event;

typedef struct ovx_extract_progress {
    ovx_extract_event event;
    size_t total;          /* items to extract in this run */
    size_t done, failed;   /* so far */
    int item_failed;       /* STEP: the item just finished failed */
} ovx_extract_progress;

typedef struct ovx_extract_callbacks {
    void *user;
    /* Every item once: first the items failed while planning and the
     * skipped ones (in plan order), then the extracted ones in order. */
    void (*item)(void *user, const ovx_extract_item *item);
    void (*progress)(void *user, const ovx_extract_progress *p);
    /* Polled between items, and by a worker thread while it waits for an
     * item another process holds (so it must be thread-safe, e.g. read a
     * signal flag): nonzero stops the run (the current item is finished or
     * dropped, nothing half-written). */
    int (*should_stop)(void *user);
    /* A problem that does not fail an item (one line), e.g. a log append. */
    void (*warning)(void *user, const char *msg);
} ovx_extract_callbacks;

typedef struct ovx_extract_summary {
    size_t items;          /* items of this shard */
    size_t done, skipped, failed;
    size_t known_failed;   /* of failed: known failures, not tried again */
    int started;           /* the run phase began (logs opened) */
    int stopped;           /* should_stop ended it early */
    int log_failed;        /* an append to or the rewrite of manifest.jsonl /
                            * failures.jsonl failed (reported as a warning):
                            * the run must not count as a success */
    double seconds;        /* wall time of the run phase */
    ovx_profile profile;   /* the CPU forward's per-op counters over the run */
} ovx_extract_summary;

/* Runs the batch. Returns OVX_OK when the run itself worked (items may
 * still have failed: see summary->failed), OVX_EUSAGE for bad parameters
 * or lists, another code when the run could not go on (model, device,
 * output folder); the summary is filled in every case. Callbacks may be
 * NULL. */
int ovx_extract_run(const ovx_extract_params *p, const ovx_extract_callbacks *cb, ovx_extract_summary *summary,
                    ovx_error *err);

#endif
