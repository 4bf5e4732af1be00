/* refpic.h: is a coded picture a reference picture (one that later pictures
 * may predict from)? Read from a packet's bytes: H.264 nal_ref_idc, HEVC NAL
 * unit type (the types FFmpeg's skip_frame=nonref drops), MPEG-1/2
 * picture_coding_type and MPEG-4 Part 2 vop_coding_type (B is never a
 * reference). Also the NAL unit walker the packet scan uses. */
#ifndef OVX_VIDEO_REFPIC_H
#define OVX_VIDEO_REFPIC_H

#include <stdint.h>

struct AVFrame;
struct ovx_packet_scan;

enum { OVX_PIC_UNKNOWN = -1, OVX_PIC_NONREF = 0, OVX_PIC_REF = 1 };

/* Size of the NAL length prefix of H.264 (avcC) or HEVC (hvcC) extradata,
 * 0 for Annex-B start codes (no or other extradata). codec_id: enum AVCodecID. */
int ovx_nal_length_size(int codec_id, const uint8_t *extradata, int size);

/* Walks the NAL units of one packet (length-prefixed when nal_len > 0,
 * else Annex-B start codes). Bounds-checked; stops at the first malformed
 * length. */
typedef struct ovx_nal_iter {
    const uint8_t *d;
    int size, nal_len, pos;
} ovx_nal_iter;
/* 1 and the next NAL unit's bytes (header included), 0 at the end. */
int ovx_nal_next(ovx_nal_iter *it, const uint8_t **nal, int *len);

/* Parameter-set NAL units of extradata: fn(ctx, nal, len) for each. A
 * list of count units each led by a 16-bit length at ex[*pos] (avcC, hvcC
 * arrays; *pos moves past it): 0 when the bytes ran out or a length is
 * bad, else 1. */
typedef void (*ovx_nal_fn)(void *ctx, const uint8_t *nal, int len);
int ovx_nal_list16(const uint8_t *ex, int size, int *pos, int count, ovx_nal_fn fn, void *ctx);
/* Annex-B extradata: every NAL unit */
void ovx_nal_each(const uint8_t *ex, int size, ovx_nal_fn fn, void *ctx);

/* The first bytes of a NAL unit's payload (after a 1-byte header),
 * emulation-prevention bytes removed: at most cap of them; returns how many. */
int ovx_nal_rbsp(const uint8_t *nal, int len, uint8_t *out, int cap);

/* OVX_PIC_REF, OVX_PIC_NONREF or OVX_PIC_UNKNOWN (other codecs, no picture
 * header found) for one packet of codec codec_id (enum AVCodecID): H.264,
 * HEVC, MPEG-1/2. MPEG-4 Part 2 packets are read by video/m4vorder.h (a
 * VOP's vop_coded needs the stream's VOL header). */
int ovx_packet_reference(int codec_id, const uint8_t *data, int size, int nal_len);

/* 1 when decoding may start at this packet of codec codec_id (enum
 * AVCodecID) with pictures shown before it left out: an HEVC IRAP picture
 * (IDR, CRA, BLA: its leading pictures are the ones shown before it), an
 * MPEG-1/2 I picture after a sequence header and a GOP header (the B
 * pictures of an open GOP that follow it are shown before it). 0 otherwise
 * (H.264 is read in video/h264order.c). */
int ovx_packet_random_access(int codec_id, const uint8_t *data, int size, int nal_len);

/* H.264: the x264 version a user-data-unregistered SEI message of this
 * packet names ("x264 - core N" after its 16-byte UUID, as FFmpeg's decoder
 * reads it and then works around that version's bugs), -1 when none.
 * Only the NAL units before the first slice are read. */
int ovx_h264_x264_build(const uint8_t *data, int size, int nal_len);

/* Reference status of a decoded frame: the packet scan's flag for the packet
 * that started it (found by the frame's pkt_pos), else from its picture type
 * (outside H.264/HEVC a B-picture is never a reference), else OVX_PIC_REF.
 * *packet: that packet's index in decode order, -1 when not found. */
int ovx_frame_reference(const struct ovx_packet_scan *s, const struct AVFrame *f, int64_t *packet);

#endif
