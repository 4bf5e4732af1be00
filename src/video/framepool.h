/* framepool.h: picture buffers for the reader's decoders (get_buffer2).
 *
 * libavcodec's default allocator gives every plane of every new pool
 * picture its own zeroed malloc block; at 1080p that is ~3 MB per picture
 * and, on 4 KiB pages, ~780 page faults, each expensive under a hypervisor
 * (~5 us here), and fresh memory costs more still (~1.8 ms per MB zeroed
 * on first touch here). ovx holds more pictures than a plain decode
 * (reference candidates, frames waiting for their future references), so
 * the pool grows further: on a 1080p clip 16 pictures against ffmpeg's 6.
 * This allocator lays the planes out exactly as the default does (same
 * line sizes, one buffer per plane with the same slack), but cuts them one
 * after the other from 16 MiB mappings advised onto transparent huge pages:
 * a few faults per picture, and no memory between buffers; the mappings
 * of a finished decoder are kept (up to 256 MiB) for the process's next
 * one, whose buffers are then cleared instead of faulted in. A held luma
 * plane (video/luma.h) keeps only its own buffer, so the chroma planes go
 * back to the decoder. Buffers are recycled through AVBufferPools like the
 * default's, so decoding gives the same bytes. Pictures under 1 MB and
 * formats it does not handle (hardware, paletted, packed, decoders without
 * direct rendering) use libavcodec's default. */
#ifndef OVX_VIDEO_FRAMEPOOL_H
#define OVX_VIDEO_FRAMEPOOL_H

struct AVCodecContext;

typedef struct ovx_frame_pool ovx_frame_pool;

/* NULL when out of memory (the decoder then keeps the default allocator). */
ovx_frame_pool *ovx_frame_pool_new(void);
/* Installs the pool as dec's get_buffer2 (dec->opaque = pool). Call before
 * avcodec_open2; the pool must outlive the codec context. pack: pictures
 * are cut from the pool's mappings (else libavcodec's default buffers are
 * used); clear: every picture buffer is zeroed before the decoder gets it.
 * A buffer comes back from the pool holding an earlier picture, and which
 * one depends on the thread count and on timing: a decoder without error
 * concealment (HEVC, VP9, ...) leaves the part of a damaged picture it
 * could not decode as the buffer had it, so without clearing the same
 * damaged stream decodes to other bytes run to run. */
void ovx_frame_pool_attach(ovx_frame_pool *p, struct AVCodecContext *dec, int pack, int clear);
/* After avcodec_free_context: pictures still referenced stay valid. */
void ovx_frame_pool_free(ovx_frame_pool *p);

#endif
