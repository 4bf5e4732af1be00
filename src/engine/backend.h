/* backend.h: the interface every device backend implements for the engine
 * (engine.c): the CPU (cpu_backend.c: the forward of src/model, run in
 * collect) and CUDA (cuda_backend.c: cuda/, the only file of src/ that
 * knows it). The engine keeps the tickets, the fallback to the CPU and the
 * "lost" state; a backend runs forwards and says how its device is. */
#ifndef OVX_ENGINE_BACKEND_H
#define OVX_ENGINE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "engine/device.h"
#include "model/model.h"

/* A submitted batch, as the engine's caller gave it (valid until its
 * collect): sample s is patches[s] [lengths[s], C*P*P] and pos[s]
 * [lengths[s], 3]; packed/packed_pos: the same samples already back to back
 * (ovx_engine_submit), else NULL. */
typedef struct ovx_batch {
    int samples, hidden;
    const int *lengths;
    const float **patches;
    const int32_t **pos;
    const float *packed;
    const int32_t *packed_pos;
} ovx_batch;

typedef struct ovx_backend ovx_backend; /* a backend's state on its device */

typedef struct ovx_backend_ops {
    /* the model on device dev (its weights uploaded); the model outlives it */
    int (*open)(ovx_model *m, const ovx_device *dev, ovx_backend **out, ovx_error *err);
    void (*close)(ovx_backend *b);
    /* ovx_model_forward's contract */
    int (*forward)(ovx_backend *b, const ovx_tokens *in, ovx_outputs *out, ovx_error *err);
    /* queues a batch on the device (*slot for collect); a failure here is
     * the batch's, reported by the engine at its collect */
    int (*submit)(ovx_backend *b, const ovx_batch *batch, int *slot, ovx_error *err);
    /* waits for the batch of slot (submitted) and hands out its outputs */
    int (*collect)(ovx_backend *b, const ovx_batch *batch, int slot, ovx_outputs *out, ovx_error *err);
    /* 1 while the device works (0 after a sticky fault) */
    int (*healthy)(ovx_backend *b);
    /* the device with its free memory now, for errors */
    const char *(*describe)(ovx_backend *b, char *buf, size_t len);
    /* the device without asking it anything (after a fault) */
    const char *(*name)(ovx_backend *b, const ovx_device *dev, char *buf, size_t len);
    /* appended to "... failed and is unusable: WHY" (how to learn more) */
    const char *(*fault_tip)(void);
    /* a pending note of the device (said once): 1 and the text, else 0 */
    int (*take_note)(ovx_backend *b, char *buf, size_t len);
    void (*graph_stats)(const ovx_backend *b, long *captures, long *replays);
    /* the linear layers' path per layer type; -1 when the device has none */
    int (*gemm_paths)(const ovx_backend *b, char *buf, size_t len);
    /* the last collected forward's device time in ms (*events 1: from
     * device events, 0: host clock); -1 when the device has none */
    double (*last_gpu_ms)(const ovx_backend *b, int *events);
} ovx_backend_ops;

extern const ovx_backend_ops ovx_backend_cpu;
extern const ovx_backend_ops ovx_backend_cuda;

/* The CUDA backend's part of device.h: the whole open of device `index`
 * (then closed again) for ovx_device_resolve, and whether CUDA could have
 * been used at all here (a CUDA build, or the emulated device of the test
 * hook), so that the auto -> CPU note is worth saying. */
int ovx_backend_cuda_probe(int index, ovx_error *why);
int ovx_backend_cuda_possible(void);

#endif
