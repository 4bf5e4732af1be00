/* image.c: decode one still image to RGB24 with libavformat/libavcodec. */
#include "video/image.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/dict.h>

#include "video/netio.h"
#include "video/rgb.h"

static int av_fail(ovx_error *err, int code, const char *what, int averr)
{
    char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(averr, buf, sizeof buf);
    return ovx_error_set(err, code, "%s: %s", what, buf);
}

int ovx_image_load_rgb(const char *path, int64_t max_pixels, uint8_t **rgb, int *w, int *h, ovx_error *err)
{
    *rgb = NULL;
    AVFormatContext *fmt = NULL;
    AVCodecContext *dec = NULL;
    AVPacket *pkt = NULL;
    AVFrame *frame = NULL;
    AVDictionary *opts = NULL;
    int rc = OVX_OK, ret;
    av_dict_set(&opts, "pattern_type", "none", 0); /* file names with '%' are literal */
    ovx_netio_options(path, &opts);
    ret = ovx_netio_context(path, &fmt);
    if (ret == 0)
        ret = avformat_open_input(&fmt, path, NULL, &opts);
    av_dict_free(&opts);
    if (ret < 0)
        return av_fail(err, OVX_EINPUT, "cannot open", ret);
    if ((ret = avformat_find_stream_info(fmt, NULL)) < 0) {
        rc = av_fail(err, OVX_EINPUT, "cannot read stream info", ret);
        goto done;
    }
    const AVCodec *codec = NULL;
    int si = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (si < 0 || !codec) {
        rc = ovx_error_set(err, OVX_EINPUT, "not an image (no picture stream)");
        goto done;
    }
    AVCodecParameters *par = fmt->streams[si]->codecpar;
    if (par->width <= 0 || par->height <= 0) {
        rc = ovx_error_set(err, OVX_EINPUT, "not a readable image (no picture size)");
        goto done;
    }
    if (max_pixels > 0 && (int64_t)par->width * par->height > max_pixels) {
        rc = ovx_error_set(err, OVX_EINPUT, "picture %dx%d above the limit", par->width,
                           par->height);
        goto done;
    }
    dec = avcodec_alloc_context3(codec);
    pkt = av_packet_alloc();
    frame = av_frame_alloc();
    if (!dec || !pkt || !frame) {
        rc = ovx_error_set(err, OVX_ENOMEM, "out of memory");
        goto done;
    }
    if ((ret = avcodec_parameters_to_context(dec, par)) < 0 || (ret = avcodec_open2(dec, codec, NULL)) < 0) {
        rc = av_fail(err, OVX_EINPUT, "cannot open decoder", ret);
        goto done;
    }
    int got = 0, sent_eof = 0;
    while (!got) {
        if (!sent_eof) {
            ret = av_read_frame(fmt, pkt);
            if (ret == AVERROR_EOF) {
                avcodec_send_packet(dec, NULL);
                sent_eof = 1;
            } else if (ret < 0) {
                rc = av_fail(err, OVX_EINPUT, "read error", ret);
                goto done;
            } else {
                if (pkt->stream_index == si && (ret = avcodec_send_packet(dec, pkt)) < 0 &&
                    ret != AVERROR(EAGAIN)) {
                    av_packet_unref(pkt);
                    rc = av_fail(err, OVX_EINPUT, "cannot decode", ret);
                    goto done;
                }
                av_packet_unref(pkt);
            }
        }
        ret = avcodec_receive_frame(dec, frame);
        if (ret == 0) {
            got = 1;
        } else if (ret == AVERROR_EOF || (ret == AVERROR(EAGAIN) && sent_eof)) {
            rc = ovx_error_set(err, OVX_EINPUT, "no picture could be decoded");
            goto done;
        } else if (ret != AVERROR(EAGAIN)) {
            rc = av_fail(err, OVX_EINPUT, "cannot decode", ret);
            goto done;
        }
    }
    if (max_pixels > 0 && (int64_t)frame->width * frame->height > max_pixels) {
        rc = ovx_error_set(err, OVX_EINPUT, "picture %dx%d above the limit", frame->width, frame->height);
        goto done;
    }
    rc = ovx_frame_to_rgb(frame, 0, rgb, w, h, err);
done:
    av_frame_free(&frame);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    return rc;
}
