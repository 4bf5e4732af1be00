/* half.h: conversions between float32 and the 16-bit float formats
 * (IEEE binary16 "f16" and bfloat16), round-to-nearest-even. */
#ifndef OVX_IO_HALF_H
#define OVX_IO_HALF_H

#include <stdint.h>
#include <string.h>

float ovx_bf16_to_f32(uint16_t h);

/* Inline: the bf16 CPU forward rounds every matmul input with it. */
static inline uint16_t ovx_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it quiet */
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float ovx_f16_to_f32(uint16_t h);
uint16_t ovx_f32_to_f16(float f);

#endif
