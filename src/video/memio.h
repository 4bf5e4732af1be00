/* memio.h: a video held in memory (bytes handed over by a caller, e.g.
 * Python's ovx.select(bytes)) read by libavformat through a custom
 * AVIOContext: read and seek over the buffer, one position per open, so
 * several readers (the scan, decode passes, GOP workers) can read the same
 * buffer at once. The buffer is borrowed: it must outlive every open. */
#ifndef OVX_VIDEO_MEMIO_H
#define OVX_VIDEO_MEMIO_H

#include <stddef.h>
#include <stdint.h>

struct AVFormatContext;
struct AVIOContext;

typedef struct ovx_video_memory {
    const uint8_t *data;
    size_t size;
} ovx_video_memory;

/* A fresh AVIOContext reading m from offset 0; NULL when out of memory. */
struct AVIOContext *ovx_memio_new(const ovx_video_memory *m);
/* Frees an AVIOContext from ovx_memio_new (NULL-safe), sets *pb = NULL. */
void ovx_memio_free(struct AVIOContext **pb);
/* avformat_close_input, then frees the custom AVIOContext of an input
 * opened on memory (AVFMT_FLAG_CUSTOM_IO), which libavformat leaves. */
void ovx_memio_close_input(struct AVFormatContext **fmt);

#endif
