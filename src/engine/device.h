/* device.h: `--device auto|cpu|cuda|cuda:N`: parsing, and resolving `auto`
 * (CUDA device 0 when it opens, else the CPU, with a note saying why); what
 * the CLI may know of the CUDA device without opening the backend itself
 * (build string, driver presence, properties, bf16 peak). The engine that
 * runs the forward on the chosen device is engine.h. */
#ifndef OVX_ENGINE_DEVICE_H
#define OVX_ENGINE_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "common/api.h"
#include "common/error.h"

typedef enum ovx_device_kind {
    OVX_DEVICE_AUTO = 0,
    OVX_DEVICE_CPU,
    OVX_DEVICE_CUDA
} ovx_device_kind;

/* --attention: the CUDA attention path (the fused mma.sync kernel, the
 * chunked cuBLAS reference, the earlier fused WMMA kernel); the same values
 * as the CUDA backend's enum ovx_cuda_attention_mode. */
enum ovx_attention_mode {
    OVX_ATTENTION_FUSED = 0,
    OVX_ATTENTION_CHUNKED = 1,
    OVX_ATTENTION_WMMA = 2
};

typedef struct ovx_device {
    ovx_device_kind kind;
    int index;  /* CUDA ordinal */
    int attention; /* CUDA attention: enum ovx_attention_mode */
} ovx_device;

/* "auto", "cpu", "cuda" (= cuda:0) or "cuda:N". OVX_EUSAGE otherwise. */
OVX_API int ovx_device_parse(const char *s, ovx_device *d, ovx_error *err);

/* "cpu" or "cuda:N" */
OVX_API const char *ovx_device_str(const ovx_device *d, char *buf, size_t len);

/* Turns `auto` into cpu or cuda:0 by opening the device (every check of
 * ovx_gpu_open_cuda) and closing it again. For auto, when CUDA is not usable
 * and this ovx was built with CUDA, note gets one line saying the CPU is used
 * and why (else note is ""). An explicit cuda:N that is not usable is an
 * OVX_EDEVICE error with a one-line reason (OVX_EUSAGE for a bad value of a
 * test-hook variable, also for auto). */
OVX_API int ovx_device_resolve(const ovx_device *want, ovx_device *got, char *note, size_t note_len,
                       ovx_error *err);

/* "CUDA 13.0, kernel images sm_80, sm_86 + PTX compute_86" or "no CUDA backend" */
const char *ovx_device_build_str(void);
/* 1 when this machine has no NVIDIA driver at all, or this ovx has no CUDA
 * backend, and no emulated device: nothing to say to a user who did not ask
 * for CUDA (ovx_cuda_driver_absent). */
int ovx_device_driver_absent(void);

/* A CUDA device's properties (ovx_cuda_device_info; versions are CUDA's
 * 1000*major + 10*minor). */
typedef struct ovx_device_info {
    char name[128];
    int major, minor;         /* compute capability */
    int sms;                  /* streaming multiprocessors */
    int clock_mhz;            /* max SM clock, 0 if unknown */
    size_t total_mem;         /* bytes */
    int driver_version;       /* highest CUDA version the driver supports */
    int emulated;             /* 1: OVX_CUDA_EMULATE (host emulation, test only) */
    int bf16_flop_per_clk_sm; /* dense bf16 tensor-core FLOP per clock per SM, 0: not in the table */
    double bf16_peak_tflops;  /* SMs x max clock x that; 0 when unknown */
} ovx_device_info;
int ovx_device_cuda_info(int index, ovx_device_info *info, ovx_error *err);

#endif
