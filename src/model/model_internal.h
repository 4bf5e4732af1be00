/* model_internal.h: the ovx_model struct, shared by load.c, random.c,
 * forward.c and inspect (internal to src/model). */
#ifndef OVX_MODEL_MODEL_INTERNAL_H
#define OVX_MODEL_MODEL_INTERNAL_H

#include <stdint.h>

#include "model/mm.h"
#include "model/model.h"
#include "model/profile.h"
#include "model/weights.h"

/* The bf16 path's prepared weights: per layer q, k, v, out_proj, fc1, fc2
 * (in that order). */
#define OVX_BF16_PER_LAYER 6
typedef struct ovx_model_bf16 {
    ovx_mm_weight **weights;
    int n_weights;
    size_t bytes;
    float *patch_w; /* the patch embedding weight rounded to bf16 values (first forward) */
} ovx_model_bf16;

struct ovx_model {
    ovx_model_config cfg;
    ovx_model_params params;
    ovx_weights w;
    float *storage;          /* the f32 weights (all of them, or with
                              * bf16_only all but the bf16 path's) */
    int bf16_only;           /* loaded for bf16: the blocks' linear weights
                              * exist only in bf16 (their slots are NULL) */
    int64_t n_params;
    char source_dtype[16];   /* dtype(s) of the file, e.g. "BF16" or "mixed" */
    uint64_t checksum;       /* FNV-1a 64 over the f32 weights in manifest order */
    ovx_weight_entry *entries; /* manifest, n_entries long */
    int n_entries;
    char path[4096];         /* resolved folder ("" for random models) */
    int64_t nonfinite;       /* NaN/Inf weights in the files */
    char nonfinite_tensor[128]; /* the first tensor holding one */
    ovx_profile profile;     /* per-op counters summed over forwards */
    ovx_model_bf16 *bf16;    /* set by ovx_model_set_precision(BF16) */
    ovx_mm *mm;              /* oneDNN matmuls (NULL: OpenBLAS sgemm) */
    int bf16_requested;      /* oneDNN is made for bf16 even without OVX_CPU_GEMM */
    int mm_state;            /* 0 not tried yet, 1 in use, -1 unavailable or off */
};

/* Frees the bf16 weights (back to fp32) and, with free_mm, the oneDNN context. */
void ovx_model_bf16_release(ovx_model *m, int free_mm);
/* Makes m->mm on first use unless oneDNN is missing or OVX_CPU_GEMM=openblas;
 * returns m->mm (NULL: use OpenBLAS). */
ovx_mm *ovx_model_mm(ovx_model *m);

/* Allocates storage for cfg's manifest (m->entries) and points w at it;
 * with bf16_only, the entries with a bf16_index get no f32 storage (NULL
 * slots: the loader packs them to bf16 as it reads them). */
int ovx_model_alloc(const ovx_model_config *cfg, int bf16_only, ovx_model **out, ovx_error *err);
/* FNV-1a 64 of the f32 weights (bitwise), entry after entry in manifest
 * order; needs every f32 weight (not a bf16_only model: its loader hashes
 * each tensor as it converts it, with ovx_fnv1a_f32). */
#define OVX_FNV1A_INIT 1469598103934665603ull
uint64_t ovx_fnv1a_f32(uint64_t h, const float *p, int64_t n);
uint64_t ovx_model_weights_checksum(const ovx_model *m);
/* The bf16 path, step by step: checks that it can run and makes the empty
 * list of packed weights (m->bf16); then packs entry e's f32 weight w (e's
 * bf16_index says where it goes). */
int ovx_model_bf16_prepare(ovx_model *m, ovx_error *err);
int ovx_model_bf16_pack(ovx_model *m, const ovx_weight_entry *e, const float *w, ovx_error *err);

#endif
