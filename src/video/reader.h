/* reader.h: opens a video with libavformat, picks the best video stream and
 * decodes it frame by frame in display order with motion-vector export.
 * Also scans the stream's packets (count, times, IDR positions) in a cheap
 * demux-only pass. */
#ifndef OVX_VIDEO_READER_H
#define OVX_VIDEO_READER_H

#include <stdint.h>

#include "common/error.h"

struct AVFrame;

typedef struct ovx_video_info {
    char codec[32];       /* decoder name, e.g. "h264" */
    char pix_fmt[32];
    int width, height;    /* coded picture size (before rotation) */
    int rotation;         /* clockwise display rotation: 0, 90, 180, 270 */
    double fps;           /* average frame rate, 0 when unknown (AVI: of the non-empty chunks,
                           * after a packet scan) */
    double duration;      /* seconds, 0 when unknown */
    int64_t frames_header;/* container frame count, 0 when unknown (AVI: empty chunks left
                           * out, after a packet scan) */
    int has_b_frames;     /* reorder delay declared by the stream */
    int codec_exports_mvs;/* the decoder can export motion vectors */
} ovx_video_info;

typedef struct ovx_video_open_params {
    int threads;          /* decoder threads */
    int frame_threads;    /* 1: allow frame threading (non-deterministic MVs with B-frames) */
    int export_mvs;       /* request AV_CODEC_FLAG2_EXPORT_MVS */
    int64_t max_pixels;   /* reject width*height above this (0: no limit) */
    int64_t first_packet; /* decode only non-empty stream packets [first_packet, end_packet); */
    int64_t end_packet;   /* frames are then numbered from first_packet. 0, 0: all */
    const struct ovx_packet_scan *packets; /* a scan of the same file holding its packets
                                            * (kept): decode those, no re-open and demux */
    const uint8_t *want_mvs; /* export_mvs without frame threads: vectors only for the frames
                              * whose index i < n_want has want_mvs[i] != 0 (and all from
                              * n_want on); NULL: every frame */
    int64_t n_want;
    const uint8_t *skip;  /* with packets (a scan with disp): per display index [packets->n],
                           * 1: that frame's packet is not sent to the decoder (a non-reference
                           * picture nobody needs); frames are then numbered as the display
                           * indices left, which callers must check (timestamps) */
    int64_t first_index;  /* with packets (a scan with disp) and first_packet: the display index
                           * of the first frame out (a random-access point that is not an IDR
                           * picture is shown after the leading pictures decoded after it:
                           * packets shown before first_index are not sent); 0: first_packet */
    const struct ovx_video_memory *source; /* non-NULL: read these bytes (video/memio.h); path
                                            * then only names them */
    int open_gop_start;   /* first_packet is a recovery-point I picture, not an IDR: FFmpeg's
                           * H.264 decoder marks what it decodes before it shows that picture
                           * "not recovered" and drops such frames when they come out at the
                           * final flush; everything sent is decodable, so show them all */
} ovx_video_open_params;

struct ovx_packet_scan;
typedef struct ovx_video_reader ovx_video_reader;

/* One decoded frame. frame is owned by the reader and valid until the next
 * ovx_video_next() call (take an av_frame_ref to keep it). */
typedef struct ovx_video_frame {
    struct AVFrame *frame;
    int64_t index;        /* 0-based in display order over decoded frames */
    double seconds;       /* best-effort timestamp in seconds (index/fps if none) */
    int64_t pts;          /* best-effort pts in stream time base, INT64_MIN if none */
    char pict_type;       /* 'I', 'P', 'B', 'S', '?' */
    int corrupt;          /* decoder flagged the frame corrupt (concealed) */
} ovx_video_frame;

int ovx_video_open(const char *path, const ovx_video_open_params *p, ovx_video_reader **out,
                   ovx_error *err);
const ovx_video_info *ovx_video_get_info(const ovx_video_reader *r);
/* Next frame: 1 got one, 0 end of stream, <0 error. */
int ovx_video_next(ovx_video_reader *r, ovx_video_frame *f, ovx_error *err);
/* Packets that failed to decode so far (skipped). */
int64_t ovx_video_bad_packets(const ovx_video_reader *r);
/* Video packets demuxed so far. */
int64_t ovx_video_packets(const ovx_video_reader *r);
/* 1 when demuxing stopped on a read error rather than a clean end of file
 * (typically a truncated file). */
int ovx_video_read_error(const ovx_video_reader *r);
void ovx_video_close(ovx_video_reader *r);

/* Demux-only pass over the best video stream. When the stream's packets
 * total at most keep_bytes they stay in memory (kept = 1) for readers to
 * decode without opening the file again. */
typedef struct ovx_packet_scan {
    int64_t n;            /* non-empty packets */
    double *times;        /* their pts in seconds, sorted [n]; NULL when any has none */
    int64_t *idr;         /* H.264: indices of packets holding an IDR picture [n_idr] */
    int64_t n_idr;
    int codec_id;         /* enum AVCodecID of the stream */
    int64_t *pos;         /* per packet (decode order): byte position in the file, -1 unknown [n] */
    int pos_sorted;       /* pos strictly increasing (frames are found by their pkt_pos) */
    int8_t *ref;          /* per packet: OVX_PIC_REF / _NONREF / _UNKNOWN (video/refpic.h) [n] */
    uint8_t *key;         /* per packet: the container flags it a keyframe [n] */
    int64_t *disp;        /* per packet: display index [n]: the rank of its pts when the pts
                           * are all known and distinct; without times, for MPEG-1/2
                           * from the picture types and for H.264 and HEVC from the
                           * picture order counts (video/h264order.h, hevcorder.h);
                           * else NULL */
    int disp_bitstream;   /* disp was read from the bitstream (no packet has a pts) */
    int64_t *disp_pts;    /* with disp_bitstream, when every packet has a dts and they
                           * increase: per display index [n] the pts its frame is given
                           * (the i-th smallest dts), whatever packets are decoded; else NULL */
    int64_t *rap;         /* packets that are random-access points [n_rap]: H.264 IDR
                           * pictures and I pictures with a recovery-point SEI (open GOP),
                           * from the bitstream, NULL when it could not be read; HEVC
                           * IRAP pictures, MPEG-1/2 I pictures with sequence and GOP
                           * headers (video/refpic.h), NULL when there is none */
    int64_t n_rap;
    int x264_build;       /* H.264: the x264 version the stream's SEI names (FFmpeg's decoder
                           * works around old versions' bugs once it has read it), -1 none,
                           * -2 several different ones */
    int64_t x264_packet;  /* the first packet naming it */
    ovx_video_info info;  /* what ovx_video_open reports for the same file */
    int kept;             /* pkts/par/end_rc valid */
    struct AVPacket **pkts;          /* the non-empty stream packets [n] */
    struct AVCodecParameters *par;   /* the stream's parameters */
    int tb_num, tb_den;   /* stream time base */
    int end_rc;           /* what ended demuxing (AVERROR_EOF, a read error ...) */
    int64_t corrupt_pkts; /* packets the demuxer flagged corrupt (e.g. cut short) */
    int sized_packets;    /* 1: the container gives each packet's size (MP4, MKV, AVI: a
                           * packet cut short by the file's end is flagged corrupt); 0: the
                           * demuxer finds packets by parsing (MPEG-TS/PS, elementary
                           * streams: the last one may be cut short unflagged) */
} ovx_packet_scan;

int ovx_video_scan_packets(const char *path, int64_t keep_bytes, ovx_packet_scan *s, ovx_error *err);
/* The same over a video in memory (mem non-NULL; path names it). */
struct ovx_video_memory;
int ovx_video_scan_source(const char *path, const struct ovx_video_memory *mem, int64_t keep_bytes,
                          ovx_packet_scan *s, ovx_error *err);
void ovx_packet_scan_free(ovx_packet_scan *s);

/* 1 for the decoders that conceal what they cannot decode, writing every
 * macroblock of a damaged picture (libavcodec's error resilience: H.264,
 * MPEG-1/2/4, H.263, ...): they flag the damage, and decode it alike with
 * one thread or several once told to. The others (HEVC, VP9, ...) leave
 * the undecoded part of a picture as it was and mostly flag nothing: their
 * picture buffers are cleared, and ovx select decodes them with one thread
 * (frame and slice threads decode such damage differently from one
 * thread). codec_id: enum AVCodecID. */
int ovx_video_codec_conceals(int codec_id);

#endif
