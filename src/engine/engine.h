/* engine.h: a loaded model bound to a resolved device (device.h): runs
 * the forward on the CPU (ovx_model_forward) or on a CUDA device (its
 * backend, cuda_backend.c, weights uploaded once when the engine is
 * opened). An engine opened for `auto` falls back to the CPU when the device
 * fails later too (weights do not fit, a kernel fault); one opened for an
 * explicit cuda:N reports the failure, and after a fault that leaves the
 * device unusable it is "lost": callers stop. Every device implements the
 * same backend interface (backend.h). */
#ifndef OVX_ENGINE_ENGINE_H
#define OVX_ENGINE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "engine/device.h"
#include "model/model.h"

/* A loaded model bound to a resolved device (cpu or cuda:N). For CUDA the
 * weights are uploaded (bf16) when the engine opens; the model must outlive
 * the engine. */
typedef struct ovx_engine ovx_engine;

int ovx_engine_open(ovx_model *m, const ovx_device *dev, ovx_engine **out, ovx_error *err);
/* fallback = 1 (the user asked for auto): a CUDA device that fails to open or
 * to take the weights, or becomes unusable during a forward, is replaced by
 * the CPU; the reason is kept for ovx_engine_take_note (say it once). */
OVX_API int ovx_engine_open_ex(ovx_model *m, const ovx_device *dev, int fallback, ovx_engine **out,
                       ovx_error *err);
/* The device forwards run on now (cpu after a fallback). */
OVX_API const ovx_device *ovx_engine_device(const ovx_engine *e);
/* 1 and the note "...; using the CPU" when the engine fell back since the
 * last call (then cleared), else 0. */
OVX_API int ovx_engine_take_note(ovx_engine *e, char *buf, size_t len);
/* 1 when the CUDA device of an engine without fallback failed and is
 * unusable: every forward fails from then on, so a batch runner stops. */
int ovx_engine_lost(const ovx_engine *e);
/* The error that made it lost ("" when not lost). */
const char *ovx_engine_lost_reason(const ovx_engine *e);
/* Same contract as ovx_model_forward (outputs freed with ovx_outputs_free).
 * A CUDA error names the device and its free memory. */
OVX_API int ovx_engine_forward(ovx_engine *e, const ovx_tokens *in, ovx_outputs *out, ovx_error *err);
/* Padding-free batch of `samples` sequences of lengths[s] tokens packed back
 * to back (patches [sum, C*P*P], pos [sum, 3]); outputs packed the same way
 * (as the CUDA backend's ovx_cuda_forward_packed). One forward runs over all tokens
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
OVX_API void ovx_engine_free(ovx_engine *e);

#endif
