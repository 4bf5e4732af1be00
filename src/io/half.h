/* half.h: conversions between float32 and the 16-bit float formats
 * (IEEE binary16 "f16" and bfloat16), round-to-nearest-even. */
#ifndef OVX_IO_HALF_H
#define OVX_IO_HALF_H

#include <stdint.h>

float ovx_bf16_to_f32(uint16_t h);
uint16_t ovx_f32_to_bf16(float f);
float ovx_f16_to_f32(uint16_t h);
uint16_t ovx_f32_to_f16(float f);

#endif
