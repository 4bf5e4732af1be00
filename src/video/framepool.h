/* framepool.h: picture buffers for the reader's decoders (get_buffer2).
 *
 * libavcodec's default allocator gives every plane of every new pool
 * picture its own zeroed malloc block; at 1080p that is ~3 MB per picture
 * and, on 4 KiB pages, ~780 page faults, each expensive under a hypervisor
 * (~5 us here). ovx holds more pictures than a plain decode (reference
 * candidates, frames waiting for their future references), so the pool
 * grows further: on a 1080p clip 17 pictures against ffmpeg's 7, and the
 * faults were a tenth of `ovx select`'s CPU. This allocator lays a
 * picture's planes out exactly as the default does (same line sizes, same
 * per-plane slack) in one zeroed block, 2 MiB aligned and advised onto
 * transparent huge pages when it is large: a few faults per picture. Buffers
 * are recycled through an AVBufferPool like the default's, so decoding gives
 * the same bytes. Formats it does not handle (hardware, paletted, packed,
 * decoders without direct rendering) use libavcodec's default. */
#ifndef OVX_VIDEO_FRAMEPOOL_H
#define OVX_VIDEO_FRAMEPOOL_H

struct AVCodecContext;

typedef struct ovx_frame_pool ovx_frame_pool;

/* NULL when out of memory (the decoder then keeps the default allocator). */
ovx_frame_pool *ovx_frame_pool_new(void);
/* Installs the pool as dec's get_buffer2 (dec->opaque = pool). Call before
 * avcodec_open2; the pool must outlive the codec context. */
void ovx_frame_pool_attach(ovx_frame_pool *p, struct AVCodecContext *dec);
/* After avcodec_free_context: pictures still referenced stay valid. */
void ovx_frame_pool_free(ovx_frame_pool *p);

#endif
