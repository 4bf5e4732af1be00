/* test_framepool.c: the reader's picture buffers (video/framepool.c) give
 * the same pictures as libavcodec's default allocator. Clips are made with
 * the ffmpeg CLI; every clip is decoded by ovx_video_open/next (the pool;
 * one thread, and three frame threads) and by a plain libavformat +
 * libavcodec loop with the default get_buffer2, and every visible byte of
 * every plane of every frame must agree, with the same line sizes. Planar
 * YUV pictures of 1 MB or more must come out of the pool (its first luma
 * buffer starts a 2 MiB aligned mapping); small gray and packed RGB clips
 * take libavcodec's default buffers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>

#include "../check.h"
#include "video/reader.h"

#define MAX_FRAMES 16

typedef struct pic {
    uint8_t *data[4];
    int linesize[4];
    int w, h, format;
} pic;

static void pic_take(pic *p, const AVFrame *f)
{
    memset(p, 0, sizeof *p);
    p->w = f->width;
    p->h = f->height;
    p->format = f->format;
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get((enum AVPixelFormat)f->format);
    for (int i = 0; i < 4 && f->data[i]; i++) {
        int rows = i == 1 || i == 2 ? AV_CEIL_RSHIFT(f->height, d->log2_chroma_h) : f->height;
        int bytes = av_image_get_linesize((enum AVPixelFormat)f->format, f->width, i);
        p->linesize[i] = f->linesize[i];
        p->data[i] = malloc((size_t)rows * bytes);
        for (int y = 0; p->data[i] && y < rows; y++)
            memcpy(p->data[i] + (size_t)y * bytes, f->data[i] + (ptrdiff_t)y * f->linesize[i], (size_t)bytes);
    }
}

static int pic_same(const pic *a, const pic *b)
{
    if (a->w != b->w || a->h != b->h || a->format != b->format)
        return 0;
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get((enum AVPixelFormat)a->format);
    for (int i = 0; i < 4; i++) {
        if (!a->data[i] != !b->data[i] || a->linesize[i] != b->linesize[i])
            return 0;
        if (!a->data[i])
            continue;
        int rows = i == 1 || i == 2 ? AV_CEIL_RSHIFT(a->h, d->log2_chroma_h) : a->h;
        if (memcmp(a->data[i], b->data[i], (size_t)rows * av_image_get_linesize((enum AVPixelFormat)a->format, a->w, i)))
            return 0;
    }
    return 1;
}

static void pic_free(pic *p)
{
    for (int i = 0; i < 4; i++)
        free(p->data[i]);
}

/* libavcodec's default buffers, one thread */
static int decode_default(const char *path, pic *out)
{
    AVFormatContext *fmt = NULL;
    if (avformat_open_input(&fmt, path, NULL, NULL) < 0 || avformat_find_stream_info(fmt, NULL) < 0)
        return -1;
    int s = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    const AVCodec *c = s >= 0 ? avcodec_find_decoder(fmt->streams[s]->codecpar->codec_id) : NULL;
    AVCodecContext *dec = c ? avcodec_alloc_context3(c) : NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    int n = -1;
    if (dec)
        dec->thread_count = 1;
    if (dec && pkt && f && avcodec_parameters_to_context(dec, fmt->streams[s]->codecpar) >= 0 &&
        avcodec_open2(dec, c, NULL) >= 0) {
        n = 0;
        int eof = 0;
        while (n >= 0) {
            int rc = avcodec_receive_frame(dec, f);
            if (rc == 0) {
                if (n < MAX_FRAMES)
                    pic_take(&out[n], f);
                n++;
                av_frame_unref(f);
                continue;
            }
            if (rc == AVERROR_EOF || eof)
                break;
            if (av_read_frame(fmt, pkt) < 0) {
                avcodec_send_packet(dec, NULL);
                eof = 1;
                continue;
            }
            if (pkt->stream_index == s)
                avcodec_send_packet(dec, pkt);
            av_packet_unref(pkt);
        }
    }
    av_frame_free(&f);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    return n;
}

/* ovx's reader; *pooled: frames whose luma plane starts a 2 MiB page (the
 * pool's first buffer does; libavcodec's malloc'd buffers only by chance) */
static int decode_ovx(const char *path, int threads, pic *out, int *pooled)
{
    ovx_video_open_params p = {.threads = threads, .frame_threads = threads > 1};
    ovx_video_reader *r;
    ovx_error err;
    *pooled = 0;
    if (ovx_video_open(path, &p, &r, &err) < 0) {
        fprintf(stderr, "%s: %s\n", path, err.msg);
        return -1;
    }
    int n = 0;
    ovx_video_frame vf;
    int rc;
    while ((rc = ovx_video_next(r, &vf, &err)) > 0) {
        const AVFrame *f = vf.frame;
        *pooled += ((uintptr_t)f->data[0] & ((2u << 20) - 1)) == 0;
        if (n < MAX_FRAMES)
            pic_take(&out[n], f);
        n++;
    }
    ovx_video_close(r);
    return rc < 0 ? -1 : n;
}

typedef struct clip {
    const char *name, *args;
    int pooled;               /* 1: from the pool (1 MB or more a picture), 0: default buffers */
} clip;

int main(void)
{
    char dir[] = "/tmp/ovx_framepool_XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "cannot make a temp folder\n");
        return 1;
    }
    static const clip clips[] = {
        {"h264_1080.mp4", "testsrc2=size=1920x1080:rate=25 -frames:v 12 -pix_fmt yuv420p -c:v libx264 -bf 3", 1},
        {"h264_422p10.mkv", "testsrc2=size=1280x720:rate=25 -frames:v 8 -pix_fmt yuv422p10le -c:v libx264", 1},
        {"mpeg4_odd.avi", "testsrc2=size=1282x722:rate=25 -frames:v 8 -c:v mpeg4 -bf 2", 1},
        {"ffv1_gray.mkv", "testsrc2=size=320x240:rate=25 -frames:v 4 -pix_fmt gray -c:v ffv1", 0},
        {"ffv1_rgb.mkv", "testsrc2=size=320x240:rate=25 -frames:v 4 -pix_fmt bgr0 -c:v ffv1", 0},
    };
    for (size_t i = 0; i < sizeof clips / sizeof clips[0]; i++) {
        char path[256], cmd[768];
        snprintf(path, sizeof path, "%s/%s", dir, clips[i].name);
        snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -v error -y -f lavfi -i %s %s", clips[i].args, path);
        if (system(cmd) != 0) {
            fprintf(stderr, "ffmpeg could not make %s (%s)\n", clips[i].name, cmd);
            CHECK(0);
            continue;
        }
        static pic want[MAX_FRAMES], got[MAX_FRAMES];
        int n = decode_default(path, want);
        CHECK(n > 0);
        for (int threads = 1; threads <= 3; threads += 2) {
            int pooled;
            int m = decode_ovx(path, threads, got, &pooled);
            printf("%s, %d thread(s): %d frames (default decode %d), %d at the start of a pool mapping\n",
                   clips[i].name, threads, m, n, pooled);
            CHECK(m == n);
            if (clips[i].pooled)
                CHECK(pooled > 0);
            for (int k = 0; k < m && k < n && k < MAX_FRAMES; k++) {
                int same = pic_same(&want[k], &got[k]);
                if (!same)
                    fprintf(stderr, "%s: frame %d differs (threads %d)\n", clips[i].name, k, threads);
                CHECK(same);
            }
            for (int k = 0; k < m && k < MAX_FRAMES; k++)
                pic_free(&got[k]);
        }
        for (int k = 0; k < n && k < MAX_FRAMES; k++)
            pic_free(&want[k]);
        unlink(path);
    }
    rmdir(dir);
    return CHECK_RESULT();
}
