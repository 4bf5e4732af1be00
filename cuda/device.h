/* device.h: `--device auto|cpu|cuda|cuda:N`: parsing, resolving `auto`
 * (CUDA device 0 when one is usable, else the CPU, with a note saying why),
 * and an engine that runs the forward of a loaded model on the chosen
 * device (CPU: ovx_model_forward; CUDA: cuda/ovx_cuda.h, weights uploaded
 * once when the engine is opened). */
#ifndef OVX_CUDA_DEVICE_H
#define OVX_CUDA_DEVICE_H

#include <stddef.h>

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
} ovx_device;

/* "auto", "cpu", "cuda" (= cuda:0) or "cuda:N". OVX_EUSAGE otherwise. */
int ovx_device_parse(const char *s, ovx_device *d, ovx_error *err);

/* "cpu" or "cuda:N" */
const char *ovx_device_str(const ovx_device *d, char *buf, size_t len);

/* Turns `auto` into cpu or cuda:0. For auto, when CUDA is not usable and
 * this ovx was built with CUDA, note gets one line saying CPU is used and
 * why (else note is ""). An explicit cuda:N that is not usable is an
 * OVX_EDEVICE error with a one-line reason. */
int ovx_device_resolve(const ovx_device *want, ovx_device *got, char *note, size_t note_len,
                       ovx_error *err);

#endif
