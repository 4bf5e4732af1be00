/* image.h: still images (PNG, JPEG, WebP, BMP, ...) decoded with
 * libavformat's image demuxers and libavcodec into packed RGB24. */
#ifndef OVX_VIDEO_IMAGE_H
#define OVX_VIDEO_IMAGE_H

#include <stdint.h>

#include "common/error.h"

/* Decodes the first picture of path into *rgb (malloc'd [*h, *w, 3]).
 * Pictures above max_pixels (0: no limit) are rejected. Alpha is dropped
 * (as PIL's convert("RGB") does); no EXIF rotation (the CLIP processor
 * applies none). Messages do not repeat the path (callers name the file). */
int ovx_image_load_rgb(const char *path, int64_t max_pixels, uint8_t **rgb, int *w, int *h, ovx_error *err);

#endif
