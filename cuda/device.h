/* device.h: `--device auto|cpu|cuda|cuda:N`: parsing, resolving `auto`
 * (CUDA device 0 when it opens, else the CPU, with a note saying why),
 * and an engine that runs the forward of a loaded model on the chosen
 * device (CPU: ovx_model_forward; CUDA: cuda/ovx_cuda.h, weights uploaded
 * once when the engine is opened). An engine opened for `auto` falls back
 * to the CPU when the device fails later too (weights do not fit, a kernel
 * fault); one opened for an explicit cuda:N reports the failure, and after a
 * fault that leaves the device unusable it is "lost": callers stop. */
#ifndef OVX_CUDA_DEVICE_H
#define OVX_CUDA_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "model/model.h"

typedef enum ovx_device_kind {
    OVX_DEVICE_AUTO = 0,
    OVX_DEVICE_CPU,
    OVX_DEVICE_CUDA
} ovx_device_kind;

typedef struct ovx_device {
    ovx_device_kind kind;
    int index;  /* CUDA ordinal */
    int attention; /* CUDA attention: enum ovx_cuda_attention_mode (0 fused, 1 chunked) */
} ovx_device;

/* "auto", "cpu", "cuda" (= cuda:0) or "cuda:N". OVX_EUSAGE otherwise. */
int ovx_device_parse(const char *s, ovx_device *d, ovx_error *err);

/* "cpu" or "cuda:N" */
const char *ovx_device_str(const ovx_device *d, char *buf, size_t len);

/* Turns `auto` into cpu or cuda:0 by opening the device (every check of
 * ovx_gpu_open_cuda) and closing it again. For auto, when CUDA is not usable
 * and this ovx was built with CUDA, note gets one line saying the CPU is used
 * and why (else note is ""). An explicit cuda:N that is not usable is an
 * OVX_EDEVICE error with a one-line reason (OVX_EUSAGE for a bad value of a
 * test-hook variable, also for auto). */
int ovx_device_resolve(const ovx_device *want, ovx_device *got, char *note, size_t note_len,
                       ovx_error *err);

/* A loaded model bound to a resolved device (cpu or cuda:N). For CUDA the
 * weights are uploaded (bf16) when the engine opens; the model must outlive
 * the engine. */
typedef struct ovx_engine ovx_engine;

int ovx_engine_open(ovx_model *m, const ovx_device *dev, ovx_engine **out, ovx_error *err);
/* fallback = 1 (the user asked for auto): a CUDA device that fails to open or
 * to take the weights, or becomes unusable during a forward, is replaced by
 * the CPU; the reason is kept for ovx_engine_take_note (say it once). */
int ovx_engine_open_ex(ovx_model *m, const ovx_device *dev, int fallback, ovx_engine **out,
                       ovx_error *err);
/* The device forwards run on now (cpu after a fallback). */
const ovx_device *ovx_engine_device(const ovx_engine *e);
/* 1 and the note "...; using the CPU" when the engine fell back since the
 * last call (then cleared), else 0. */
int ovx_engine_take_note(ovx_engine *e, char *buf, size_t len);
/* 1 when the CUDA device of an engine without fallback failed and is
 * unusable: every forward fails from then on, so a batch runner stops. */
int ovx_engine_lost(const ovx_engine *e);
/* The error that made it lost ("" when not lost). */
const char *ovx_engine_lost_reason(const ovx_engine *e);
/* Same contract as ovx_model_forward (outputs freed with ovx_outputs_free).
 * A CUDA error names the device and its free memory. */
int ovx_engine_forward(ovx_engine *e, const ovx_tokens *in, ovx_outputs *out, ovx_error *err);
/* Padding-free batch of `samples` sequences of lengths[s] tokens packed back
 * to back (patches [sum, C*P*P], pos [sum, 3]); outputs packed the same way
 * (see ovx_cuda_forward_packed). One forward runs over all tokens
 * (attention per sample), on CUDA or the CPU (ovx_model_forward_packed). */
int ovx_engine_forward_packed(ovx_engine *e, int samples, const int *lengths, const float *patches,
                              const int32_t *pos, ovx_outputs *out, ovx_error *err);
/* Overlapped forwards, one code path for every device: submit queues a
 * packed batch (as ovx_engine_forward_packed; hidden_state_index as in
 * ovx_outputs) and returns a ticket at once; collect waits for it and
 * hands out its outputs. Up to OVX_ENGINE_TICKETS batches are outstanding:
 * on CUDA the forward of one runs while the next is uploaded and the one
 * before is downloaded (cuda/submit.c); on the CPU the forward runs in
 * collect. The inputs must stay valid and unchanged until the ticket is
 * collected (a fallback to the CPU runs them again). Every error of the
 * batch, also of its device submit, comes from collect, with the fallback
 * and "lost" rules of ovx_engine_forward_packed; submit itself fails only
 * for an empty batch (OVX_EUSAGE), out of memory, or without a free ticket
 * (OVX_EINTERNAL). */
#define OVX_ENGINE_TICKETS 2
int ovx_engine_submit(ovx_engine *e, int samples, const int *lengths, const float *patches,
                      const int32_t *pos, int hidden_state_index, int *ticket, ovx_error *err);
/* submit with the samples where they are (sample s: patches[s], pos[s]):
 * on CUDA packed straight into the page-locked slot (one host copy); the
 * pointed-to inputs must stay valid until the collect. */
int ovx_engine_submit_gather(ovx_engine *e, int samples, const int *lengths,
                             const float *const *patches, const int32_t *const *pos,
                             int hidden_state_index, int *ticket, ovx_error *err);
int ovx_engine_collect(ovx_engine *e, int ticket, ovx_outputs *out, ovx_error *err);
/* CUDA graph statistics of the engine's device (all 0 on the CPU). */
void ovx_engine_graph_stats(const ovx_engine *e, long *captures, long *replays);
/* The CUDA linear layers' path per layer type (ovx_cuda_model_gemm_paths):
 * the count of layer types that fell back, -1 on the CPU (buf empty). */
int ovx_engine_gemm_paths(const ovx_engine *e, char *buf, size_t len);
/* GPU time of the last collected forward (ovx_cuda_model_last_gpu_ms), -1
 * on the CPU. */
double ovx_engine_last_gpu_ms(const ovx_engine *e, int *events);
void ovx_engine_free(ovx_engine *e);

#endif
