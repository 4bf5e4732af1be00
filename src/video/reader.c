/* reader.c: libavformat/libavcodec demux + decode of the best video stream,
 * with motion-vector export, error accounting and rotation metadata. */
#include "video/reader.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>

#include "video/framepool.h"
#include "video/h264order.h"
#include "video/m4vorder.h"
#include "video/hevcorder.h"
#include "video/memio.h"
#include "video/netio.h"
#include "video/refpic.h"

struct ovx_video_reader {
    AVFormatContext *fmt;
    AVCodecContext *dec;
    ovx_frame_pool *pool;  /* the decoder's picture buffers */
    AVPacket *pkt;
    AVFrame *frame;
    int stream;
    AVRational tb;
    ovx_video_info info;
    int64_t next_index;
    int64_t bad_packets;
    int64_t packets;
    int eof_sent;
    int read_error;
    int stuck;             /* consecutive decoder errors without a frame */
    int have_size, w0, h0;
    int64_t pkt_index;     /* index of the next non-empty stream packet */
    int64_t first_packet, end_packet;
    const ovx_packet_scan *mem; /* decoding the packets a scan kept (no fmt) */
    const int64_t *disp_pts;    /* the scan's per-display-index pts (no container pts) */
    int64_t n_disp_pts;
    int64_t first_index;        /* display index of the first frame out */
    const uint8_t *skip;        /* see ovx_video_open_params */
    const int64_t *disp;        /* the scan's display indices, with skip */
    int64_t n_disp;
    const uint8_t *want_mvs;    /* see ovx_video_open_params */
    int64_t n_want;
    int64_t mem_pos;
};

static const char *averr(int e, char *buf, size_t n)
{
    av_strerror(e, buf, n);
    return buf;
}

int ovx_video_codec_conceals(int id)
{
    switch (id) {
    case AV_CODEC_ID_H264:
    case AV_CODEC_ID_MPEG1VIDEO:
    case AV_CODEC_ID_MPEG2VIDEO:
    case AV_CODEC_ID_MPEG4:
    case AV_CODEC_ID_H263:
    case AV_CODEC_ID_H263P:
    case AV_CODEC_ID_MSMPEG4V2:
    case AV_CODEC_ID_MSMPEG4V3:
    case AV_CODEC_ID_FLV1:
        return 1;
    default:
        return 0;
    }
}

/* the decoders that export motion vectors: the same family (libavcodec's
 * mpegvideo and H.264 decoders) as the concealing ones */
static int codec_exports_mvs(enum AVCodecID id)
{
    return ovx_video_codec_conceals(id);
}

/* Opens path, or with mem the bytes there (path then only names them, as
 * the extension hint a file of that name would give the format probe). */
static int open_input(const char *path, const ovx_video_memory *mem, AVFormatContext **fmt, int *stream,
                      ovx_error *err)
{
    char eb[128];
    *fmt = NULL;
    AVDictionary *opts = NULL;
    AVIOContext *pb = NULL;
    if (!mem)
        ovx_netio_options(path, &opts); /* URLs: timeout, bounded reconnects */
    int rc = ovx_netio_context(path, fmt); /* stop hook, minimum rate */
    if (rc == 0 && mem) {
        pb = ovx_memio_new(mem);
        if (!pb) {
            avformat_free_context(*fmt);
            *fmt = NULL;
            return ovx_error_set(err, OVX_ENOMEM, "out of memory");
        }
        (*fmt)->pb = pb;
        (*fmt)->flags |= AVFMT_FLAG_CUSTOM_IO;
    }
    if (rc == 0)
        rc = avformat_open_input(fmt, path, NULL, &opts);
    av_dict_free(&opts);
    if (rc < 0)
        ovx_memio_free(&pb); /* the failed open freed the context, not a custom AVIOContext */
    if (rc < 0)
        return ovx_error_set(err, rc == AVERROR(ENOENT) || rc == AVERROR(EACCES) ? OVX_EIO : OVX_EINPUT,
                             "cannot open: %s", averr(rc, eb, sizeof eb));
    rc = avformat_find_stream_info(*fmt, NULL);
    if (rc < 0) {
        ovx_memio_close_input(fmt);
        return ovx_error_set(err, OVX_EINPUT, "cannot read stream info: %s", averr(rc, eb, sizeof eb));
    }
    rc = av_find_best_stream(*fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (rc < 0) {
        ovx_memio_close_input(fmt);
        return ovx_error_set(err, OVX_EINPUT, "no video stream");
    }
    AVStream *st = (*fmt)->streams[rc];
    /* libavformat renders plain text as "video" (tty demuxer, ANSI art) */
    if (!strcmp((*fmt)->iformat->name, "tty") || st->codecpar->codec_id == AV_CODEC_ID_ANSI) {
        ovx_memio_close_input(fmt);
        return ovx_error_set(err, OVX_EINPUT, "not a video (looks like a text file)");
    }
    if (st->disposition & AV_DISPOSITION_ATTACHED_PIC) {
        ovx_memio_close_input(fmt);
        return ovx_error_set(err, OVX_EINPUT, "no video stream (only a cover picture)");
    }
    *stream = rc;
    return OVX_OK;
}

/* The stream facts the reader reports, from an opened input. */
static void stream_info(const AVFormatContext *fmt, int stream, const char *codec_name, ovx_video_info *in)
{
    const AVStream *st = fmt->streams[stream];
    const AVCodecParameters *par = st->codecpar;
    memset(in, 0, sizeof *in);
    snprintf(in->codec, sizeof in->codec, "%s", codec_name);
    const char *pf = av_get_pix_fmt_name(par->format);
    snprintf(in->pix_fmt, sizeof in->pix_fmt, "%s", pf ? pf : "unknown");
    in->width = par->width;
    in->height = par->height;
    AVRational fr = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
    in->fps = fr.num > 0 && fr.den > 0 ? av_q2d(fr) : 0.0;
    if (st->duration != AV_NOPTS_VALUE && st->duration > 0)
        in->duration = st->duration * av_q2d(st->time_base);
    else if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0)
        in->duration = fmt->duration / (double)AV_TIME_BASE;
    in->frames_header = st->nb_frames > 0 ? st->nb_frames : 0;
    in->has_b_frames = par->video_delay;
    in->codec_exports_mvs = codec_exports_mvs(par->codec_id);
    const uint8_t *dm = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, NULL);
    if (dm) {
        double a = -av_display_rotation_get((const int32_t *)dm);
        if (isfinite(a)) {
            int q = (int)lrint(a / 90.0);
            in->rotation = ((q % 4) + 4) % 4 * 90;
        }
    }
}

/* AVI gives every chunk one tick of the stream's time base, and FFmpeg's
 * muxer (a stream copy of H.264 with B-frames, as NTU RGB+D and many
 * camera files are made) fills the ticks between frames with empty chunks,
 * which the header counts (its frame count and rate twice the real ones)
 * and the demuxer skips. Where nine in ten of the n packets' dts steps are
 * one step of g >= 2 ticks, the header's count and rate are divided by g,
 * so an intact file is not taken for one cut in half (irregular gaps, as
 * dropped frames leave, change nothing). */
static void avi_empty_chunks(const AVFormatContext *fmt, int stream, const int64_t *dts, int64_t n,
                             ovx_video_info *in)
{
    const AVStream *st = fmt->streams[stream];
    if (n < 2 || strcmp(fmt->iformat->name, "avi") != 0 || st->avg_frame_rate.num <= 0 ||
        av_cmp_q(st->time_base, av_inv_q(st->avg_frame_rate)) != 0)
        return;
    enum { MAX_GAP = 8 };
    int64_t count[MAX_GAP + 1] = {0};
    for (int64_t i = 1; i < n; i++) {
        if (dts[i] == AV_NOPTS_VALUE || dts[i - 1] == AV_NOPTS_VALUE)
            return;
        /* (a difference that would overflow is no small gap) */
        if (dts[i] > dts[i - 1] && dts[i] - MAX_GAP <= dts[i - 1])
            count[dts[i] - dts[i - 1]]++;
    }
    int g = 1;
    for (int k = 2; k <= MAX_GAP; k++)
        g = count[k] > count[g] ? k : g;
    if (g < 2 || count[g] * 10 < (n - 1) * 9)
        return;
    if (in->frames_header > 0)
        in->frames_header = (in->frames_header + g - 1) / g;
    in->fps /= g;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* 1 when an H.264 access unit contains an IDR slice (NAL type 5), 0 when its
 * first slice is a non-IDR one. nal_len: size of the length prefix (avcC), 0
 * for Annex-B start codes. */
static int h264_is_idr(const uint8_t *d, int size, int nal_len)
{
    ovx_nal_iter it = {d, size, nal_len, 0};
    const uint8_t *n;
    int l;
    while (ovx_nal_next(&it, &n, &l)) {
        int type = n[0] & 0x1f;
        if (type == 5)
            return 1;
        if (type == 1)
            return 0;
    }
    return 0;
}

/* Display index of each packet (decode order) from its time raw[i]: the
 * rank in the sorted times, when they are distinct; NULL otherwise (or out
 * of memory: the callers then do without). */
static int64_t *display_indices(const double *raw, const double *sorted, int64_t n)
{
    for (int64_t i = 1; i < n; i++)
        if (!(sorted[i] > sorted[i - 1]))
            return NULL;
    int64_t *d = malloc((size_t)n * sizeof *d);
    if (!d)
        return NULL;
    for (int64_t i = 0; i < n; i++) {
        int64_t lo = 0, hi = n - 1;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (sorted[mid] < raw[i])
                lo = mid + 1;
            else
                hi = mid;
        }
        d[i] = lo;
    }
    return d;
}

/* MPEG-1/2 and MPEG-4 Part 2 without packet times: the display order
 * follows from the picture types (a B-picture is shown at once, an
 * I/P-picture when the next I/P arrives), when every packet's type is known
 * (for MPEG-4: one coded VOP per packet, video/m4vorder.h). NULL otherwise. */
static int64_t *mpeg_display_indices(const ovx_packet_scan *s)
{
    if ((s->codec_id != AV_CODEC_ID_MPEG1VIDEO && s->codec_id != AV_CODEC_ID_MPEG2VIDEO &&
         s->codec_id != AV_CODEC_ID_MPEG4) ||
        !s->ref || s->n < 1)
        return NULL;
    for (int64_t j = 0; j < s->n; j++)
        if (s->ref[j] == OVX_PIC_UNKNOWN)
            return NULL;
    int64_t *d = malloc((size_t)s->n * sizeof *d);
    if (!d)
        return NULL;
    int64_t out = 0, anchor = -1;
    for (int64_t j = 0; j < s->n; j++) {
        if (s->ref[j] == OVX_PIC_NONREF) {
            d[j] = out++;
        } else {
            if (anchor >= 0)
                d[anchor] = out++;
            anchor = j;
        }
    }
    if (anchor >= 0)
        d[anchor] = out++;
    return d;
}

/* H.264 read from the bitstream (pics[s->n]): the random-access points, and
 * without packet times (dts != NULL) the display order, with each display
 * index's pts (the sorted dts) when all dts are known and increasing */
static void bitstream_order(ovx_packet_scan *s, const ovx_h264_pic *pics, const int64_t *dts, int have_dts)
{
    /* H.264: its random-access points (HEVC has them from the packet scan) */
    if (s->codec_id == AV_CODEC_ID_H264) {
        int64_t nr = 0;
        for (int64_t j = 0; j < s->n; j++)
            nr += pics[j].rap;
        if ((s->rap = malloc((size_t)(nr > 0 ? nr : 1) * sizeof *s->rap)))
            for (int64_t j = 0; j < s->n; j++)
                if (pics[j].rap)
                    s->rap[s->n_rap++] = j;
    }
    if (!dts)
        return;
    int64_t *d = malloc((size_t)s->n * sizeof *d);
    if (!d || ovx_h264_display_order(pics, s->n, d) < 0) {
        free(d);
        return;
    }
    s->disp = d;
    s->disp_bitstream = 1;
    if (have_dts && (s->disp_pts = malloc((size_t)s->n * sizeof *s->disp_pts)))
        memcpy(s->disp_pts, dts, (size_t)s->n * sizeof *s->disp_pts);
}

static int push_i64(int64_t **v, int64_t *n, int64_t *cap, int64_t x)
{
    if (*n == *cap) {
        int64_t c = *cap ? *cap * 2 : 64;
        int64_t *nv = realloc(*v, (size_t)c * sizeof *nv);
        if (!nv)
            return -1;
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = x;
    return 0;
}

static void free_kept(ovx_packet_scan *s, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        av_packet_free(&s->pkts[i]);
    free(s->pkts);
    s->pkts = NULL;
    avcodec_parameters_free(&s->par);
    s->kept = 0;
}

int ovx_video_scan_packets(const char *path, int64_t keep_bytes, ovx_packet_scan *s, ovx_error *err)
{
    return ovx_video_scan_source(path, NULL, keep_bytes, s, err);
}

int ovx_video_scan_source(const char *path, const ovx_video_memory *mem, int64_t keep_bytes, ovx_packet_scan *s,
                          ovx_error *err)
{
    memset(s, 0, sizeof *s);
    AVFormatContext *fmt;
    int stream;
    int rc = open_input(path, mem, &fmt, &stream, err);
    if (rc < 0)
        return rc;
    AVPacket *pkt = av_packet_alloc();
    if (!pkt) {
        ovx_memio_close_input(&fmt);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    }
    const AVCodecParameters *par = fmt->streams[stream]->codecpar;
    const AVCodec *codec = avcodec_find_decoder(par->codec_id);
    stream_info(fmt, stream, codec ? codec->name : avcodec_get_name(par->codec_id), &s->info);
    int h264 = par->codec_id == AV_CODEC_ID_H264;
    int nal_len = ovx_nal_length_size(par->codec_id, par->extradata, par->extradata_size);
    s->codec_id = par->codec_id;
    s->pos_sorted = 1;
    s->x264_build = -1;
    s->x264_packet = -1;
    int64_t cap = 0, icap = 0, rcap = 0, racap = 0;
    /* HEVC, MPEG-1/2: random-access points from the packets (H.264: below) */
    int other_rap = par->codec_id == AV_CODEC_ID_HEVC || par->codec_id == AV_CODEC_ID_MPEG1VIDEO ||
                    par->codec_id == AV_CODEC_ID_MPEG2VIDEO;
    double *t = NULL;
    int have_times = 1;
    double tb = av_q2d(fmt->streams[stream]->time_base);
    s->tb_num = fmt->streams[stream]->time_base.num;
    s->tb_den = fmt->streams[stream]->time_base.den;
    int keep = keep_bytes > 0;
    int64_t kept_bytes = 0, kcap = 0;
    /* H.264: display order and random-access points from the bitstream */
    ovx_h264_order *order = h264 ? ovx_h264_order_new(par->extradata, par->extradata_size) : NULL;
    ovx_hevc_order *horder =
        par->codec_id == AV_CODEC_ID_HEVC ? ovx_hevc_order_new(par->extradata, par->extradata_size) : NULL;
    /* MPEG-4 Part 2: one coded VOP per packet, its type (else unknown) */
    ovx_m4v_order m4v;
    int mpeg4 = par->codec_id == AV_CODEC_ID_MPEG4;
    if (mpeg4)
        ovx_m4v_order_init(&m4v, par->extradata, par->extradata_size);
    ovx_h264_pic *pics = NULL;
    int64_t *dts = NULL;
    int have_dts = 1;
    if (keep) {
        s->par = avcodec_parameters_alloc();
        keep = s->par && avcodec_parameters_copy(s->par, par) >= 0;
    }
    rc = OVX_OK;
    int rr;
    while ((rr = av_read_frame(fmt, pkt)) >= 0) {
        if (pkt->stream_index == stream && pkt->size > 0) {
            kept_bytes += pkt->size;
            if (keep && kept_bytes > keep_bytes)
                keep = 0;
            if (keep && s->n == kcap) {
                int64_t c = kcap ? 2 * kcap : 1024;
                AVPacket **np = realloc(s->pkts, (size_t)c * sizeof *np);
                if (np) {
                    s->pkts = np;
                    kcap = c;
                } else {
                    keep = 0;
                }
            }
            if (keep && !(s->pkts[s->n] = av_packet_clone(pkt)))
                keep = 0;
            if (!keep && (s->pkts || s->par))
                free_kept(s, s->n);
            if (pkt->flags & AV_PKT_FLAG_CORRUPT)
                s->corrupt_pkts++;
            if (have_times && pkt->pts == AV_NOPTS_VALUE)
                have_times = 0;
            if (have_times && s->n == cap) {
                cap = cap ? 2 * cap : 1024;
                double *nt = realloc(t, (size_t)cap * sizeof *nt);
                if (!nt) {
                    rc = ovx_error_set(err, OVX_ENOMEM, "out of memory (packet times)");
                    break;
                }
                t = nt;
            }
            if (have_times)
                t[s->n] = pkt->pts * tb;
            if (s->n == rcap) {
                int64_t c = rcap ? 2 * rcap : 1024;
                int64_t *np = realloc(s->pos, (size_t)c * sizeof *np);
                int8_t *nr = np ? realloc(s->ref, (size_t)c * sizeof *nr) : NULL;
                if (np)
                    s->pos = np;
                if (nr)
                    s->ref = nr;
                uint8_t *nk = nr ? realloc(s->key, (size_t)c * sizeof *nk) : NULL;
                if (nk)
                    s->key = nk;
                int64_t *nd = nk ? realloc(dts, (size_t)c * sizeof *nd) : NULL;
                if (nd)
                    dts = nd;
                ovx_h264_pic *npc = nd && (order || horder) ? realloc(pics, (size_t)c * sizeof *npc) : NULL;
                if (npc)
                    pics = npc;
                if (!nd || ((order || horder) && !npc)) {
                    rc = ovx_error_set(err, OVX_ENOMEM, "out of memory (packet scan)");
                    break;
                }
                rcap = c;
            }
            dts[s->n] = pkt->dts;
            if (pkt->dts == AV_NOPTS_VALUE || (s->n > 0 && pkt->dts <= dts[s->n - 1]))
                have_dts = 0;
            if (order && !ovx_h264_order_packet(order, pkt->data, pkt->size, nal_len, &pics[s->n])) {
                ovx_h264_order_free(order);
                order = NULL;
            }
            if (horder && !ovx_hevc_order_packet(horder, pkt->data, pkt->size, nal_len, &pics[s->n])) {
                ovx_hevc_order_free(horder);
                horder = NULL;
            }
            s->pos[s->n] = pkt->pos;
            if (pkt->pos < 0 || (s->n > 0 && pkt->pos <= s->pos[s->n - 1]))
                s->pos_sorted = 0;
            s->ref[s->n] = (int8_t)(mpeg4 ? ovx_m4v_order_packet(&m4v, pkt->data, pkt->size)
                                          : ovx_packet_reference(par->codec_id, pkt->data, pkt->size, nal_len));
            s->key[s->n] = (pkt->flags & AV_PKT_FLAG_KEY) != 0;
            if (h264 && h264_is_idr(pkt->data, pkt->size, nal_len) &&
                push_i64(&s->idr, &s->n_idr, &icap, s->n) < 0) {
                rc = ovx_error_set(err, OVX_ENOMEM, "out of memory (packet scan)");
                break;
            }
            int build = h264 ? ovx_h264_x264_build(pkt->data, pkt->size, nal_len) : -1;
            if (build >= 0 && s->x264_build == -1) {
                s->x264_build = build;
                s->x264_packet = s->n;
            } else if (build >= 0 && build != s->x264_build) {
                s->x264_build = -2;
            }
            if (other_rap && ovx_packet_random_access(par->codec_id, pkt->data, pkt->size, nal_len) &&
                push_i64(&s->rap, &s->n_rap, &racap, s->n) < 0) {
                rc = ovx_error_set(err, OVX_ENOMEM, "out of memory (packet scan)");
                break;
            }
            s->n++;
        }
        av_packet_unref(pkt);
    }
    if (rc < 0 && keep) {
        av_packet_free(&s->pkts[s->n]); /* cloned before the failure */
        keep = 0;
    }
    s->end_rc = rr;
    /* packets the demuxer cut out by parsing the stream (MPEG-TS/PS,
     * elementary streams) end where the file ends, cut short or not;
     * containers that give every packet's size (MP4, MKV, AVI) flag a
     * short read as corrupt */
    const AVCodecParserContext *pc = av_stream_get_parser(fmt->streams[stream]);
    s->sized_packets = pc && (pc->flags & PARSER_FLAG_COMPLETE_FRAMES);
    if (rc == OVX_OK && have_dts)
        avi_empty_chunks(fmt, stream, dts, s->n, &s->info);
    s->kept = keep;
    if (!keep && (s->pkts || s->par))
        free_kept(s, s->n);
    av_packet_free(&pkt);
    ovx_memio_close_input(&fmt);
    if (rc < 0) {
        free(t);
        free(dts);
        free(pics);
        ovx_h264_order_free(order);
        ovx_hevc_order_free(horder);
        ovx_packet_scan_free(s);
        return rc;
    }
    if ((order || horder) && s->n > 0)
        bitstream_order(s, pics, have_times ? NULL : dts, have_dts);
    ovx_h264_order_free(order);
    ovx_hevc_order_free(horder);
    free(pics);
    free(dts);
    if (have_times && s->n > 0) {
        double *raw = malloc((size_t)s->n * sizeof *raw);
        if (raw)
            memcpy(raw, t, (size_t)s->n * sizeof *raw);
        qsort(t, (size_t)s->n, sizeof *t, cmp_double);
        s->times = t;
        if (raw)
            s->disp = display_indices(raw, t, s->n);
        free(raw);
    } else {
        free(t);
    }
    if (!s->disp)
        s->disp = mpeg_display_indices(s);
    return OVX_OK;
}

void ovx_packet_scan_free(ovx_packet_scan *s)
{
    if (s->pkts || s->par)
        free_kept(s, s->n);
    free(s->times);
    free(s->idr);
    free(s->pos);
    free(s->ref);
    free(s->key);
    free(s->disp);
    free(s->disp_pts);
    free(s->rap);
    memset(s, 0, sizeof *s);
}

/* with skipping: the next display index whose packet is decoded */
static void next_kept(ovx_video_reader *r)
{
    while (r->skip && r->next_index >= 0 && r->next_index < r->n_disp && r->skip[r->next_index])
        r->next_index++;
}

int ovx_video_open(const char *path, const ovx_video_open_params *p, ovx_video_reader **out,
                   ovx_error *err)
{
    char eb[128];
    *out = NULL;
    ovx_video_reader *r = calloc(1, sizeof *r);
    if (!r)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    const ovx_packet_scan *mem = p->packets && p->packets->kept ? p->packets : NULL;
    const AVCodecParameters *par;
    int rc;
    if (mem) {
        r->mem = mem;
        par = mem->par;
        r->tb = (AVRational){mem->tb_num, mem->tb_den};
    } else {
        rc = open_input(path, p->source, &r->fmt, &r->stream, err);
        if (rc < 0) {
            free(r);
            return rc;
        }
        par = r->fmt->streams[r->stream]->codecpar;
        r->tb = r->fmt->streams[r->stream]->time_base;
    }
    if (par->width <= 0 || par->height <= 0 || par->width > 32768 || par->height > 32768) {
        rc = ovx_error_set(err, OVX_EINPUT, "invalid picture size %dx%d", par->width, par->height);
        goto fail;
    }
    if (p->max_pixels > 0 && (int64_t)par->width * par->height > p->max_pixels) {
        rc = ovx_error_set(err, OVX_EINPUT, "picture %dx%d exceeds --max-pixels %lld", par->width,
                           par->height, (long long)p->max_pixels);
        goto fail;
    }
    const AVCodec *codec = avcodec_find_decoder(par->codec_id);
    if (!codec) {
        rc = ovx_error_set(err, OVX_EUNSUPPORTED, "no decoder for codec '%s'",
                           avcodec_get_name(par->codec_id));
        goto fail;
    }
    r->dec = avcodec_alloc_context3(codec);
    r->pool = ovx_frame_pool_new();
    r->pkt = av_packet_alloc();
    r->frame = av_frame_alloc();
    if (!r->dec || !r->pkt || !r->frame) {
        rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
        goto fail;
    }
    rc = avcodec_parameters_to_context(r->dec, par);
    if (rc < 0) {
        rc = ovx_error_set(err, OVX_EINPUT, "bad codec parameters: %s", averr(rc, eb, sizeof eb));
        goto fail;
    }
    r->dec->pkt_timebase = r->tb;
    r->dec->thread_count = p->threads > 0 ? p->threads : 1;
    r->dec->thread_type = p->frame_threads ? (FF_THREAD_FRAME | FF_THREAD_SLICE) : FF_THREAD_SLICE;
    if (p->export_mvs)
        r->dec->flags2 |= AV_CODEC_FLAG2_EXPORT_MVS;
    if (p->open_gop_start)
        r->dec->flags2 |= AV_CODEC_FLAG2_SHOW_ALL;
    /* the huge-page pool serves one decode of the whole stream; a planned
     * segment's decoder (one of many, each holding its pictures only while
     * its frames are kept) takes libavcodec's own buffers: with the pool, a
     * 3-minute 1080p plan reached 1.2 GB RSS and 2.5 s of page clearing */
    ovx_frame_pool_attach(r->pool, r->dec, p->first_packet == 0 && p->end_packet == 0,
                          !ovx_video_codec_conceals(par->codec_id));
    if (p->export_mvs && p->want_mvs && !p->frame_threads) {
        r->want_mvs = p->want_mvs;
        r->n_want = p->n_want;
    }
    /* a decoder started mid-stream has not read the x264 version SEI an
     * earlier packet carried: tell it, so that it works around the same bugs
     * as a decoder that read the stream from its start (x264 before 151
     * coded 4:4:4 differently: without this, every segment of such a clip
     * decoded wrong and was flagged corrupt) */
    AVDictionary *dopts = NULL;
    const ovx_packet_scan *ps = p->packets;
    if (par->codec_id == AV_CODEC_ID_H264 && p->first_packet > 0 && ps && ps->x264_build > 33 &&
        ps->x264_packet >= 0 && ps->x264_packet < p->first_packet &&
        av_dict_set_int(&dopts, "x264_build", ps->x264_build, 0) < 0) {
        rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
        goto fail;
    }
    rc = avcodec_open2(r->dec, codec, &dopts);
    av_dict_free(&dopts);
    if (rc < 0) {
        rc = ovx_error_set(err, OVX_EINPUT, "cannot open decoder '%s': %s", codec->name,
                           averr(rc, eb, sizeof eb));
        goto fail;
    }

    if (mem)
        r->info = mem->info;
    else
        stream_info(r->fmt, r->stream, codec->name, &r->info);
    r->first_packet = p->first_packet > 0 ? p->first_packet : 0;
    r->end_packet = p->end_packet > 0 ? p->end_packet : 0;
    r->first_index = r->first_packet;
    if (p->packets && p->packets->disp && p->first_index > r->first_packet) {
        r->first_index = p->first_index;
        r->disp = p->packets->disp;
        r->n_disp = p->packets->n;
    }
    r->next_index = r->first_index;
    if (p->packets) {
        r->disp_pts = p->packets->disp_pts;
        r->n_disp_pts = p->packets->n;
    }
    if (p->skip && p->packets && p->packets->disp) {
        r->skip = p->skip;
        r->disp = p->packets->disp;
        r->n_disp = p->packets->n;
        next_kept(r);
    }
    if (mem) {
        /* kept packets are numbered already: start at the chunk */
        r->mem_pos = r->pkt_index = r->first_packet;
    }
    *out = r;
    return OVX_OK;
fail:
    ovx_video_close(r);
    return rc;
}

const ovx_video_info *ovx_video_get_info(const ovx_video_reader *r) { return &r->info; }
int64_t ovx_video_bad_packets(const ovx_video_reader *r) { return r->bad_packets; }
int64_t ovx_video_packets(const ovx_video_reader *r) { return r->packets; }
int ovx_video_read_error(const ovx_video_reader *r) { return r->read_error; }

static int fill_frame(ovx_video_reader *r, ovx_video_frame *f, ovx_error *err)
{
    AVFrame *fr = r->frame;
    if (fr->width <= 0 || fr->height <= 0)
        return ovx_error_set(err, OVX_EINPUT, "decoder returned an empty picture");
    if (!r->have_size) {
        r->have_size = 1;
        r->w0 = fr->width;
        r->h0 = fr->height;
    } else if (fr->width != r->w0 || fr->height != r->h0) {
        return ovx_error_set(err, OVX_EUNSUPPORTED, "picture size changes mid-stream (%dx%d -> %dx%d)",
                             r->w0, r->h0, fr->width, fr->height);
    }
    f->frame = fr;
    f->index = r->next_index++;
    next_kept(r);
    f->pts = fr->best_effort_timestamp;
    if (r->disp_pts)
        f->pts = f->index < r->n_disp_pts ? r->disp_pts[f->index] : AV_NOPTS_VALUE;
    if (f->pts != AV_NOPTS_VALUE && r->tb.den > 0)
        f->seconds = f->pts * av_q2d(r->tb);
    else {
        f->pts = INT64_MIN;
        f->seconds = r->info.fps > 0 ? f->index / r->info.fps : (double)f->index;
    }
    f->pict_type = av_get_picture_type_char(fr->pict_type);
    f->corrupt = (fr->flags & AV_FRAME_FLAG_CORRUPT) || fr->decode_error_flags ? 1 : 0;
    return 1;
}

/* av_read_frame, or the next kept packet (then the scan's end code) */
static int read_packet(ovx_video_reader *r)
{
    if (!r->mem)
        return av_read_frame(r->fmt, r->pkt);
    if (r->mem_pos >= r->mem->n)
        return r->mem->end_rc;
    return av_packet_ref(r->pkt, r->mem->pkts[r->mem_pos++]);
}

/* Decoders attach vectors when they output a frame, one frame per call,
 * in display order: before each call into the decoder, ask for vectors
 * only if the next frame out is wanted. */
static void set_export(ovx_video_reader *r)
{
    if (!r->want_mvs)
        return;
    int64_t i = r->next_index;
    if (i >= r->n_want || r->want_mvs[i])
        r->dec->flags2 |= AV_CODEC_FLAG2_EXPORT_MVS;
    else
        r->dec->flags2 &= ~AV_CODEC_FLAG2_EXPORT_MVS;
}

int ovx_video_next(ovx_video_reader *r, ovx_video_frame *f, ovx_error *err)
{
    char eb[128];
    for (;;) {
        set_export(r);
        int rc = avcodec_receive_frame(r->dec, r->frame);
        if (rc == 0) {
            r->stuck = 0;
            return fill_frame(r, f, err);
        }
        if (rc == AVERROR_EOF)
            return 0;
        if (rc != AVERROR(EAGAIN)) {
            /* a decode error surfaced on output: count it and go on, unless
             * the decoder keeps failing without making progress */
            r->bad_packets++;
            if (rc == AVERROR(ENOMEM))
                return ovx_error_set(err, OVX_ENOMEM, "decoder out of memory");
            if (++r->stuck > 1000)
                return ovx_error_set(err, OVX_EINPUT, "decoder keeps failing: %s", averr(rc, eb, sizeof eb));
            if (r->eof_sent && rc != AVERROR_INVALIDDATA)
                return 0;
            continue;
        }
        r->stuck = 0;
        if (r->eof_sent)
            return 0;
        /* need input */
        for (;;) {
            rc = read_packet(r);
            if (rc == AVERROR_EOF || rc == AVERROR(EIO) || rc == AVERROR_INVALIDDATA) {
                if (rc != AVERROR_EOF) {
                    r->bad_packets++;
                    r->read_error = 1;
                }
                set_export(r);
                avcodec_send_packet(r->dec, NULL);
                r->eof_sent = 1;
                break;
            }
            if (rc < 0)
                return ovx_error_set(err, OVX_EIO, "read error: %s", averr(rc, eb, sizeof eb));
            if ((!r->mem && r->pkt->stream_index != r->stream) || r->pkt->size == 0) {
                av_packet_unref(r->pkt);
                continue;
            }
            int64_t pi = r->pkt_index++;
            if (pi < r->first_packet) {
                av_packet_unref(r->pkt);
                continue;
            }
            if (r->end_packet > 0 && pi >= r->end_packet) {
                av_packet_unref(r->pkt);
                avcodec_send_packet(r->dec, NULL);
                r->eof_sent = 1;
                break;
            }
            if (r->disp && pi < r->n_disp &&
                ((r->skip && r->skip[r->disp[pi]]) || r->disp[pi] < r->first_index)) {
                av_packet_unref(r->pkt);
                continue;
            }
            r->packets++;
            set_export(r);
            rc = avcodec_send_packet(r->dec, r->pkt);
            av_packet_unref(r->pkt);
            if (rc == AVERROR(EAGAIN))
                return ovx_error_set(err, OVX_EINTERNAL, "decoder refused input while output pending");
            if (rc < 0) {
                if (rc == AVERROR(ENOMEM))
                    return ovx_error_set(err, OVX_ENOMEM, "decoder out of memory");
                r->bad_packets++;
                continue;
            }
            break;
        }
    }
}

void ovx_video_close(ovx_video_reader *r)
{
    if (!r)
        return;
    av_frame_free(&r->frame);
    av_packet_free(&r->pkt);
    avcodec_free_context(&r->dec);
    ovx_frame_pool_free(r->pool);
    ovx_memio_close_input(&r->fmt);
    free(r);
}
