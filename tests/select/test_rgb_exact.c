/* test_rgb_exact.c: the exact YUV -> RGB path (video/rgb_exact.c) against
 * swscale: for 8-bit 4:2:0 / 4:2:2 / 4:4:0 / 4:4:4, limited and full range,
 * BT.601 / BT.709 / BT.2020, several sizes, the exact path must be the one
 * taken (its once-per-configuration check against swscale passed) and every
 * rectangle, whole or asked row strip by row strip (ovx_rgb_rows), must
 * equal that part of the whole-picture swscale conversion (ovx_frame_to_rgb),
 * byte for byte, at every SIMD level of the exact path (video/simd.h), on
 * video-like and on uniformly random pictures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/frame.h>
#include <libavutil/pixdesc.h>

#include "video/rgb.h"
#include "video/simd.h"

static int failures;

static uint32_t rng = 7;
static uint32_t next(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 8;
}

static int uniform_noise; /* fill: every sample random instead */

/* a smooth picture with edges and noise, like decoded video */
static void fill(AVFrame *f)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(f->format);
    for (int c = 0; c < 3; c++) {
        int w = c ? AV_CEIL_RSHIFT(f->width, d->log2_chroma_w) : f->width;
        int h = c ? AV_CEIL_RSHIFT(f->height, d->log2_chroma_h) : f->height;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int v = (x * (c + 3) + y * (5 - c)) % 256;
                if ((x / 7 + y / 5) % 3 == 0)
                    v = (int)(next() % 256);
                if ((x / 11) % 5 == 0)
                    v = c == 0 ? 255 : (y & 1 ? 0 : 255);
                if (uniform_noise)
                    v = (int)(next() % 256);
                f->data[c][(size_t)y * f->linesize[c] + x] = (uint8_t)v;
            }
    }
}

static void one(enum AVPixelFormat fmt, int w, int h, enum AVColorSpace cs, enum AVColorRange range)
{
    AVFrame *f = av_frame_alloc();
    f->format = fmt;
    f->width = w;
    f->height = h;
    f->colorspace = cs;
    f->color_range = range;
    if (av_frame_get_buffer(f, 0) < 0) {
        printf("FAIL alloc\n");
        failures++;
        return;
    }
    fill(f);
    char what[160];
    snprintf(what, sizeof what, "%s %dx%d cs %d range %d", av_get_pix_fmt_name(fmt), w, h, cs, range);
    if (!ovx_frame_rgb_exact(f)) {
        printf("FAIL %s: the exact path is not used (its check against swscale failed)\n", what);
        failures++;
    }
    uint8_t *full = NULL;
    int fw, fh;
    ovx_error err;
    if (ovx_frame_to_rgb(f, 0, &full, &fw, &fh, &err) < 0) {
        printf("FAIL %s: %s\n", what, err.msg);
        failures++;
        av_frame_free(&f);
        return;
    }
    int bad = 0;
    for (int k = 0; k < 6; k++) {
        int x0 = k == 0 ? 0 : (int)(next() % (unsigned)(w / 2)), y0 = k == 0 ? 0 : (int)(next() % (unsigned)(h / 2));
        int rw = k == 0 ? w : 1 + (int)(next() % (unsigned)(w - x0)), rh = k == 0 ? h : 1 + (int)(next() % (unsigned)(h - y0));
        uint8_t *r = malloc((size_t)rw * rh * 3);
        if (ovx_frame_to_rgb_rect(f, x0, y0, rw, rh, r, rw * 3, &err) < 0) {
            printf("FAIL %s: %s\n", what, err.msg);
            bad++;
        } else {
            for (int y = 0; y < rh; y++)
                if (memcmp(r + (size_t)y * rw * 3, full + ((size_t)(y0 + y) * w + x0) * 3, (size_t)rw * 3)) {
                    printf("FAIL %s: rectangle %d,%d %dx%d row %d differs from swscale\n", what, x0, y0, rw, rh, y);
                    bad++;
                    break;
                }
        }
        free(r);
    }
    /* row by row, in strips of 1 to 40 rows */
    ovx_rgb_rows *rows;
    int x0 = w / 5, y0 = h / 7, rw = w - w / 5 - w / 9, rh = h - h / 7 - h / 8;
    uint8_t *r = malloc((size_t)rw * 40 * 3);
    if (ovx_rgb_rows_open(f, x0, y0, rw, rh, &rows, &err) < 0) {
        printf("FAIL %s rows: %s\n", what, err.msg);
        bad++;
    } else {
        for (int y = y0; y < y0 + rh && !bad;) {
            int n = 1 + (int)(next() % 40);
            n = n < y0 + rh - y ? n : y0 + rh - y;
            if (ovx_rgb_rows_get(rows, y, n, r, rw * 3, &err) < 0) {
                printf("FAIL %s rows: %s\n", what, err.msg);
                bad++;
                break;
            }
            for (int i = 0; i < n; i++)
                if (memcmp(r + (size_t)i * rw * 3, full + ((size_t)(y + i) * w + x0) * 3, (size_t)rw * 3)) {
                    printf("FAIL %s: row %d of the row converter differs from swscale\n", what, y + i);
                    bad++;
                    break;
                }
            y += n;
        }
        ovx_rgb_rows_close(rows);
    }
    free(r);
    failures += bad;
    if (!bad)
        printf("ok   %s\n", what);
    free(full);
    av_frame_free(&f);
}

int main(void)
{
    const enum AVPixelFormat fmts[] = {AV_PIX_FMT_YUV420P, AV_PIX_FMT_YUVJ420P, AV_PIX_FMT_YUV422P,
                                       AV_PIX_FMT_YUV444P, AV_PIX_FMT_YUV440P};
    for (int lv = 2; lv >= 0; lv--) {
        ovx_video_force_simd(lv);
        printf("SIMD level %d asked, %d in use\n", lv, ovx_video_simd());
        const int sizes[][2] = {{340, 256}, {320, 240}, {64, 36}, {1280, 720}, {18, 16}};
        for (size_t i = 0; i < sizeof fmts / sizeof *fmts; i++)
            for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
                one(fmts[i], sizes[s][0], sizes[s][1], AVCOL_SPC_UNSPECIFIED, AVCOL_RANGE_UNSPECIFIED);
        one(AV_PIX_FMT_YUV420P, 1920, 1080, AVCOL_SPC_BT709, AVCOL_RANGE_MPEG);
        one(AV_PIX_FMT_YUV420P, 640, 360, AVCOL_SPC_BT470BG, AVCOL_RANGE_JPEG);
        one(AV_PIX_FMT_YUV420P, 640, 360, AVCOL_SPC_BT2020_NCL, AVCOL_RANGE_MPEG);
        one(AV_PIX_FMT_YUV420P, 640, 360, AVCOL_SPC_SMPTE240M, AVCOL_RANGE_MPEG);
        /* uniform noise, and widths whose rows end inside the AVX-512
         * kernels' 32-pixel steps (their masked last steps) */
        uniform_noise = 1;
        const int odd[][2] = {{98, 34}, {1090, 36}, {130, 66}, {66, 130}};
        for (size_t s = 0; s < sizeof odd / sizeof *odd; s++) {
            one(AV_PIX_FMT_YUV420P, odd[s][0], odd[s][1], AVCOL_SPC_UNSPECIFIED, AVCOL_RANGE_UNSPECIFIED);
            one(AV_PIX_FMT_YUV422P, odd[s][0], odd[s][1], AVCOL_SPC_BT709, AVCOL_RANGE_JPEG);
            one(AV_PIX_FMT_YUV444P, odd[s][0], odd[s][1], AVCOL_SPC_BT470BG, AVCOL_RANGE_MPEG);
        }
        uniform_noise = 0;
    }
    ovx_video_force_simd(-1);
    /* outside the exact path: swscale still converts, and must say so */
    AVFrame *g = av_frame_alloc();
    g->format = AV_PIX_FMT_YUV420P10LE;
    g->width = 64;
    g->height = 64;
    if (av_frame_get_buffer(g, 0) < 0 || ovx_frame_rgb_exact(g)) {
        printf("FAIL yuv420p10le must not take the 8-bit exact path\n");
        failures++;
    }
    av_frame_free(&g);
    printf("%d failures\n", failures);
    return failures ? 1 : 0;
}
