/* model.h: the public API of the OneVision Encoder stage (see
 * ../shared/spec/model.md). Shape of the API follows whisper.cpp: an opaque
 * model, a params struct with a *_default_params() function, and a forward
 * call on already cut patches plus their (t, h, w) positions, so that images,
 * dense videos and sparse (codec-selected) videos all go through one path.
 *
 * Contract shared by the CPU backend (src/model) and the CUDA backend (cuda/):
 *   patches  [B, N, C*P*P] float32, normalised pixels, per patch in the
 *            conv weight's (c, kh, kw) order
 *   pos      [B, N, 3] int32 (t, h, w) grid position of each token
 *   outputs  last_hidden_state [B, N, D], pooler_output [B, D] (use_head),
 *            optionally one hidden state by Hugging Face index. */
#ifndef OVX_MODEL_MODEL_H
#define OVX_MODEL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "model/profile.h"

typedef struct ovx_model_config {
    int hidden_size;         /* D, 1024 for large */
    int intermediate_size;   /* 4096 */
    int num_layers;          /* 24 */
    int num_heads;           /* 16 */
    int head_dim;            /* D / heads, must be 64 (RoPE split 8:12:12) */
    int num_channels;        /* 3 */
    int patch_size;          /* 14 */
    int image_size;          /* 448 */
    int rope_temporal_size;  /* 64 temporal slots */
    int use_head;            /* 1: layernorm_post + attention-pooling head */
    float layer_norm_eps;    /* 1e-6 */
    double rope_theta;       /* 10000 */
} ovx_model_config;

typedef struct ovx_model ovx_model;

typedef struct ovx_model_params {
    int threads;  /* CPU threads; 0 means ovx_default_threads() */
    /* Polled by the CPU forward between layers (NULL: never): nonzero
     * stops it with OVX_EINTERRUPTED and no outputs (e.g. on SIGTERM). */
    int (*cancel)(void *ctx);
    void *cancel_ctx;
    /* ovx_model_load only. OVX_PRECISION_BF16: the blocks' linear weights
     * are packed to bf16 as they are read and never kept in f32 (about half
     * the memory; as ovx_model_set_precision(BF16), which then does nothing,
     * and FP32 is refused). CPU only: a CUDA engine uploads the f32 weights,
     * so load for bf16 only when the forward runs on the CPU. Default FP32. */
    int precision;
} ovx_model_params;

OVX_API ovx_model_params ovx_model_default_params(void);

/* The published large model's config (24 x 1024, 16 heads, patch 14). */
OVX_API ovx_model_config ovx_model_config_default_large(void);

/* Builds a model with deterministic random weights (seeded; linear weights
 * ~ N(0, 0.02^2), norm weights ~ 1) for selftests and benchmarks. */
OVX_API int ovx_model_create_random(const ovx_model_config *cfg, uint64_t seed, ovx_model **out, ovx_error *err);

/* Resolves -m's argument to a model folder: an existing folder as is (a
 * cache repo folder models--ORG--NAME, one without config.json holding
 * snapshots/, as its snapshot: refs/main's, or the only one), else
 * a Hugging Face id ORG/NAME looked up in the HF cache ($HF_HUB_CACHE, else
 * $HF_HOME/hub, else ~/.cache/huggingface/hub; snapshot from refs/main, or
 * the only snapshot). NULL or "" means $OVX_MODEL. */
OVX_API int ovx_model_resolve(const char *path_or_id, char *out, size_t cap, ovx_error *err);

/* Summary for `ovx inspect`. Strings point into the model. */
typedef struct ovx_model_info {
    const char *path;          /* resolved folder, "" for random models */
    const char *dtype;         /* file dtype: "BF16", "F16", "F32" or "mixed" */
    int64_t n_params;
    int n_tensors;
    uint64_t checksum;         /* FNV-1a 64 over the f32 weights, checkpoint order */
    int64_t nonfinite;         /* NaN or infinite weights (loading warns, not fails) */
    const char *nonfinite_tensor; /* first tensor holding one, "" when none */
} ovx_model_info;
/* Writes "MODEL: N non-finite weight(s) (NaN/Inf), first in tensor T" into
 * buf and returns 1 when the loaded weights hold any; 0 otherwise. */
int ovx_model_weights_warning(const ovx_model *m, char *buf, size_t cap);
OVX_API void ovx_model_get_info(const ovx_model *m, ovx_model_info *info);
/* Tensor i (0 <= i < n_tensors): name, dims, shape (up to 4), file dtype. */
const char *ovx_model_tensor(const ovx_model *m, int i, int *ndim, int64_t shape[4], const char **dtype);
/* Sets the CPU thread count used by later forwards (0: default). */
OVX_API void ovx_model_set_threads(ovx_model *m, int threads);

/* Loads a Hugging Face model folder (config.json + model.safetensors or a
 * sharded index), or a model id resolved in the Hugging Face cache. */
OVX_API int ovx_model_load(const char *path_or_id, const ovx_model_params *params,
                   ovx_model **out, ovx_error *err);
OVX_API void ovx_model_free(ovx_model *m);
OVX_API const ovx_model_config *ovx_model_get_config(const ovx_model *m);

/* Precision of the CPU forward's matrix products: fp32 (default, exact) or
 * bf16 (inputs rounded to bf16, fp32 accumulation; needs oneDNN and a CPU
 * with AVX512_BF16 or AMX). */
enum { OVX_PRECISION_FP32 = 0, OVX_PRECISION_BF16 = 1, OVX_PRECISION_AUTO = 2 };
OVX_API int ovx_model_set_precision(ovx_model *m, int precision, ovx_error *err);
/* "fp32"/"f32", "bf16" or "auto" -> precision; -1 otherwise. */
OVX_API int ovx_precision_parse(const char *s, int *precision);

/* precision_auto.c: what OVX_PRECISION_AUTO means on this CPU, decided once
 * per process: fp32 without oneDNN or AVX512_BF16/AMX, bf16 with AMX-BF16,
 * else bf16 when a short calibration measures the bf16 matmul at least
 * OVX_BF16_AUTO_GAIN times as fast as fp32. Returns OVX_PRECISION_FP32 or
 * _BF16 and says why in one line ("auto: bf16 (...)"). The test hook
 * OVX_PRECISION_CALIBRATION=RATIO replaces the measurement (and AMX). */
#define OVX_BF16_AUTO_GAIN 1.3
OVX_API int ovx_precision_auto(char *why, size_t len);
/* bf16 / fp32 speed of this CPU's matmuls (measured once; 0: unknown or no
 * bf16 path). */
double ovx_precision_bf16_speedup(void);
OVX_API const char *ovx_precision_name(int precision);

/* Sentinel for "no extra hidden state requested". */
#define OVX_NO_HIDDEN_STATE (-10000)

typedef struct ovx_tokens {
    int batch;              /* B */
    int n;                  /* N tokens per sample */
    const float *patches;   /* [B, N, C*P*P] */
    const int32_t *pos;     /* [B, N, 3] */
} ovx_tokens;

typedef struct ovx_outputs {
    int hidden_state_index;  /* HF index (negative counts from the end) or OVX_NO_HIDDEN_STATE */
    float *last_hidden_state;  /* [B, N, D], malloc'd by forward */
    float *pooler_output;      /* [B, D] or NULL without head */
    float *hidden_state;       /* [B, N, D] or NULL */
} ovx_outputs;

/* Runs the CPU forward. Fills out (caller sets out->hidden_state_index first;
 * free with ovx_outputs_free). Signals: the calling thread and the threads it
 * starts run oneDNN's JIT kernels, some of which move the stack pointer into
 * the heap; block every signal that has a handler in the calling thread (as
 * src/cli/signals.c does) or the handler's frame corrupts the heap. */
OVX_API int ovx_model_forward(ovx_model *m, const ovx_tokens *in, ovx_outputs *out, ovx_error *err);
/* Padding-free batch: `samples` sequences of lengths[s] tokens packed back to
 * back (patches [sum, C*P*P], pos [sum, 3]); outputs packed the same way
 * (last_hidden_state / hidden_state [sum, D], pooler_output [samples, D]).
 * Linear layers run over all samples' rows together, attention and the head
 * per sample; every sample's outputs are bitwise those of its own forward
 * (same row chunks, same calls), for any batch and thread count. */
int ovx_model_forward_packed(ovx_model *m, int samples, const int *lengths, const float *patches,
                             const int32_t *pos, ovx_outputs *out, ovx_error *err);
OVX_API void ovx_outputs_free(ovx_outputs *out);
/* Fails (OVX_EINPUT, message starting with stage, naming the output, e.g.
 * "model forward: 3 NaN/Inf value(s) in pooler_output ...") when any output
 * holds a NaN or Inf. tokens: rows of the token outputs (B*N, or the packed
 * total); samples: rows of pooler_output. */
OVX_API int ovx_outputs_check_finite(const ovx_outputs *out, int64_t samples, int64_t tokens, int dim, const char *stage,
                             ovx_error *err);

/* Per-op time and FLOPs summed over this model's CPU forwards since load or
 * the last reset (see profile.h). */
void ovx_model_get_profile(const ovx_model *m, ovx_profile *out);
void ovx_model_reset_profile(ovx_model *m);

#endif
