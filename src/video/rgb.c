/* rgb.c: YUV (any FFmpeg pixel format) to RGB24 with swscale, and rotation. */
#include "video/rgb.h"

#include <stdlib.h>
#include <string.h>

#include <libavutil/frame.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

static int matrix_of(const AVFrame *f)
{
    switch (f->colorspace) {
    case AVCOL_SPC_BT709: return SWS_CS_ITU709;
    case AVCOL_SPC_BT470BG:
    case AVCOL_SPC_SMPTE170M: return SWS_CS_ITU601;
    case AVCOL_SPC_FCC: return SWS_CS_FCC;
    case AVCOL_SPC_SMPTE240M: return SWS_CS_SMPTE240M;
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL: return SWS_CS_BT2020;
    default: return f->height >= 720 ? SWS_CS_ITU709 : SWS_CS_ITU601;
    }
}

static int full_range_of(const AVFrame *f)
{
    if (f->color_range == AVCOL_RANGE_JPEG)
        return 1;
    switch (f->format) {
    case AV_PIX_FMT_YUVJ420P:
    case AV_PIX_FMT_YUVJ422P:
    case AV_PIX_FMT_YUVJ444P:
    case AV_PIX_FMT_YUVJ440P:
    case AV_PIX_FMT_YUVJ411P:
        return 1;
    default:
        return 0;
    }
}

/* swscale warns about deprecated yuvj formats; feed it the plain one */
static enum AVPixelFormat plain_format(enum AVPixelFormat p)
{
    switch (p) {
    case AV_PIX_FMT_YUVJ420P: return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P: return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P: return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P: return AV_PIX_FMT_YUV440P;
    case AV_PIX_FMT_YUVJ411P: return AV_PIX_FMT_YUV411P;
    default: return p;
    }
}

int ovx_rotate_plane(const uint8_t *src, int w, int h, int bpp, int rotation, uint8_t **out, int *ow,
                     int *oh, ovx_error *err)
{
    int rw = (rotation == 90 || rotation == 270) ? h : w;
    int rh = (rotation == 90 || rotation == 270) ? w : h;
    uint8_t *d = malloc((size_t)rw * rh * bpp);
    if (!d)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (rotate)");
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int nx, ny;
            switch (rotation) {
            case 90: nx = h - 1 - y; ny = x; break;
            case 180: nx = w - 1 - x; ny = h - 1 - y; break;
            case 270: nx = y; ny = w - 1 - x; break;
            default: nx = x; ny = y; break;
            }
            memcpy(d + ((size_t)ny * rw + nx) * bpp, src + ((size_t)y * w + x) * bpp, (size_t)bpp);
        }
    *out = d;
    *ow = rw;
    *oh = rh;
    return OVX_OK;
}

int ovx_frame_to_rgb(const AVFrame *f, int rotation, uint8_t **out, int *w, int *h, ovx_error *err)
{
    *out = NULL;
    enum AVPixelFormat in_fmt = plain_format((enum AVPixelFormat)f->format);
    struct SwsContext *sws = sws_getContext(f->width, f->height, in_fmt, f->width, f->height,
                                            AV_PIX_FMT_RGB24,
                                            SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT |
                                                SWS_FULL_CHR_H_INP | SWS_BITEXACT,
                                            NULL, NULL, NULL);
    if (!sws)
        return ovx_error_set(err, OVX_EUNSUPPORTED, "cannot convert pixel format %s to RGB",
                             av_get_pix_fmt_name((enum AVPixelFormat)f->format));
    const int *coef = sws_getCoefficients(matrix_of(f));
    const int *rgbcoef = sws_getCoefficients(SWS_CS_DEFAULT);
    /* dst range 1 = full-range RGB; brightness 0, contrast 1, saturation 1 in 16.16 */
    sws_setColorspaceDetails(sws, coef, full_range_of(f), rgbcoef, 1, 0, 1 << 16, 1 << 16);
    size_t n = (size_t)f->width * f->height * 3;
    uint8_t *rgb = malloc(n);
    if (!rgb) {
        sws_freeContext(sws);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (RGB frame)");
    }
    uint8_t *dst[4] = {rgb, NULL, NULL, NULL};
    int dst_stride[4] = {f->width * 3, 0, 0, 0};
    int rc = sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, dst_stride);
    sws_freeContext(sws);
    if (rc != f->height) {
        free(rgb);
        return ovx_error_set(err, OVX_EINTERNAL, "swscale converted %d of %d lines", rc, f->height);
    }
    if (rotation == 0) {
        *out = rgb;
        *w = f->width;
        *h = f->height;
        return OVX_OK;
    }
    rc = ovx_rotate_plane(rgb, f->width, f->height, 3, rotation, out, w, h, err);
    free(rgb);
    return rc;
}
