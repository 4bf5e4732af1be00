/* order_dump.c: test helper: `order_dump VIDEO` reads the H.264 or HEVC
 * display order of every packet from the bitstream (video/h264order.h,
 * video/hevcorder.h, whatever the container's times) and prints "packet INDEX DISP IDR RAP POC" in decode
 * order; then decodes the stream with plain libavcodec (one thread, no ovx
 * code) and prints "frame RANK PACKET" per output frame, PACKET found by the
 * frame's pkt_pos (-1 when not found). Exit 3 when the bitstream reader
 * gave up. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/log.h>

#include "video/h264order.h"
#include "video/hevcorder.h"
#include "video/refpic.h"

static int64_t find_pos(const int64_t *pos, int64_t n, int64_t p)
{
    for (int64_t i = 0; i < n; i++)
        if (pos[i] == p)
            return i;
    return -1;
}

static void print_frames(AVCodecContext *dec, AVFrame *f, const int64_t *pos, int64_t n, int64_t *rank)
{
    while (avcodec_receive_frame(dec, f) == 0) {
        printf("frame %" PRId64 " %" PRId64 "\n", (*rank)++, find_pos(pos, n, f->pkt_pos));
        av_frame_unref(f);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    av_log_set_level(AV_LOG_QUIET);
    AVFormatContext *fmt = NULL;
    if (avformat_open_input(&fmt, argv[1], NULL, NULL) < 0 || avformat_find_stream_info(fmt, NULL) < 0)
        return 1;
    int st = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (st < 0 || (fmt->streams[st]->codecpar->codec_id != AV_CODEC_ID_H264 &&
                   fmt->streams[st]->codecpar->codec_id != AV_CODEC_ID_HEVC))
        return 1;
    const AVCodecParameters *par = fmt->streams[st]->codecpar;
    int nal_len = ovx_nal_length_size(par->codec_id, par->extradata, par->extradata_size);
    int hevc = par->codec_id == AV_CODEC_ID_HEVC;
    ovx_h264_order *o = hevc ? NULL : ovx_h264_order_new(par->extradata, par->extradata_size);
    ovx_hevc_order *ho = hevc ? ovx_hevc_order_new(par->extradata, par->extradata_size) : NULL;
    const AVCodec *codec = avcodec_find_decoder(par->codec_id);
    AVCodecContext *dec = avcodec_alloc_context3(codec);
    AVPacket *pkt = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    if ((!o && !ho) || !dec || !pkt || !f || avcodec_parameters_to_context(dec, par) < 0)
        return 1;
    dec->thread_count = 1;
    if (avcodec_open2(dec, codec, NULL) < 0)
        return 1;
    int64_t n = 0, cap = 0, rank = 0;
    ovx_h264_pic *pics = NULL;
    int64_t *pos = NULL;
    int ok = 1;
    while (av_read_frame(fmt, pkt) >= 0) {
        if (pkt->stream_index == st && pkt->size > 0) {
            if (n == cap) {
                cap = cap ? 2 * cap : 256;
                pics = realloc(pics, (size_t)cap * sizeof *pics);
                pos = realloc(pos, (size_t)cap * sizeof *pos);
                if (!pics || !pos)
                    return 1;
            }
            pos[n] = pkt->pos;
            ok &= hevc ? ovx_hevc_order_packet(ho, pkt->data, pkt->size, nal_len, &pics[n])
                       : ovx_h264_order_packet(o, pkt->data, pkt->size, nal_len, &pics[n]);
            n++;
            if (avcodec_send_packet(dec, pkt) >= 0)
                print_frames(dec, f, pos, n, &rank);
        }
        av_packet_unref(pkt);
    }
    avcodec_send_packet(dec, NULL);
    print_frames(dec, f, pos, n, &rank);
    int64_t *disp = malloc((size_t)(n > 0 ? n : 1) * sizeof *disp);
    if (!disp)
        return 1;
    if (ok && ovx_h264_display_order(pics, n, disp) < 0)
        ok = 0;
    for (int64_t i = 0; ok && i < n; i++)
        printf("packet %" PRId64 " %" PRId64 " %d %d %" PRId64 "\n", i, disp[i], pics[i].idr, pics[i].rap,
               pics[i].poc);
    ovx_h264_order_free(o);
    ovx_hevc_order_free(ho);
    free(pics);
    free(pos);
    free(disp);
    av_frame_free(&f);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    return ok ? 0 : 3;
}
