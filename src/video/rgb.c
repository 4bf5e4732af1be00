/* rgb.c: YUV (any FFmpeg pixel format) to RGB24 with swscale, and rotation. */
#include "video/rgb.h"
#include "video/rgb_exact.h"

#include <pthread.h>
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

/* Converts the w x h picture whose planes start at data (f's format and
 * colour tags) to packed RGB24 in dst (stride dstride). */
static int convert(const AVFrame *f, const uint8_t *const data[4], int w, int h, uint8_t *dst, int dstride,
                   ovx_error *err)
{
    enum AVPixelFormat in_fmt = plain_format((enum AVPixelFormat)f->format);
    struct SwsContext *sws = sws_getContext(w, h, in_fmt, w, h, AV_PIX_FMT_RGB24,
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
    uint8_t *dst4[4] = {dst, NULL, NULL, NULL};
    int dst_stride[4] = {dstride, 0, 0, 0};
    int rc = sws_scale(sws, data, f->linesize, 0, h, dst4, dst_stride);
    sws_freeContext(sws);
    if (rc != h)
        return ovx_error_set(err, OVX_EINTERNAL, "swscale converted %d of %d lines", rc, h);
    return OVX_OK;
}

int ovx_frame_to_rgb(const AVFrame *f, int rotation, uint8_t **out, int *w, int *h, ovx_error *err)
{
    *out = NULL;
    size_t n = (size_t)f->width * f->height * 3;
    uint8_t *rgb = malloc(n);
    if (!rgb)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (RGB frame)");
    int rc = convert(f, (const uint8_t *const *)f->data, f->width, f->height, rgb, f->width * 3, err);
    if (rc < 0) {
        free(rgb);
        return rc;
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

/* ---- the exact path (rgb_exact.c), checked against swscale ---- */

/* 8-bit planar Y/U/V without alpha in the layout rgb_exact reproduces */
static int exact_layout(const AVFrame *f, ovx_yuv_pic *p)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get((enum AVPixelFormat)f->format);
    if (!d || d->nb_components != 3 || !(d->flags & AV_PIX_FMT_FLAG_PLANAR) ||
        (d->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_BE | AV_PIX_FMT_FLAG_ALPHA | AV_PIX_FMT_FLAG_PAL |
                     AV_PIX_FMT_FLAG_BITSTREAM | AV_PIX_FMT_FLAG_HWACCEL | AV_PIX_FMT_FLAG_FLOAT)))
        return 0;
    for (int c = 0; c < 3; c++)
        if (d->comp[c].plane != c || d->comp[c].depth != 8 || d->comp[c].step != 1 || d->comp[c].shift ||
            d->comp[c].offset)
            return 0;
    if (!ovx_rgb_exact_supported(f->width, f->height, d->log2_chroma_w, d->log2_chroma_h))
        return 0;
    for (int c = 0; c < 3; c++) {
        p->data[c] = f->data[c];
        p->linesize[c] = f->linesize[c];
    }
    p->w = f->width;
    p->h = f->height;
    p->log2_cw = d->log2_chroma_w;
    p->log2_ch = d->log2_chroma_h;
    return 1;
}

/* One verdict per configuration (size, format, matrix, range): does
 * rgb_exact give swscale's bytes on a pseudo-random picture of that
 * configuration? The verdict does not depend on any video's content, so the
 * output is the same whichever path runs. */
typedef struct exact_verdict {
    int w, h, format, matrix, full, ok;
} exact_verdict;

#define N_VERDICTS 64
static exact_verdict verdicts[N_VERDICTS];
static int n_verdicts, next_verdict; /* full: the oldest is replaced */
static pthread_mutex_t verdict_lock = PTHREAD_MUTEX_INITIALIZER;

static int exact_check_size(const AVFrame *f, const ovx_yuv_pic *like, int w, int h)
{
    int ok = 0;
    ovx_error e = {0};
    AVFrame *t = av_frame_alloc();
    size_t n = (size_t)w * h * 3;
    uint8_t *a = malloc(n), *b = malloc(n);
    if (!t || !a || !b)
        goto out;
    t->format = f->format;
    t->width = w;
    t->height = h;
    t->colorspace = f->colorspace;
    t->color_range = f->color_range;
    if (av_frame_get_buffer(t, 0) < 0)
        goto out;
    uint32_t s = 12345u;
    for (int c = 0; c < 3; c++) {
        int pw = c ? w >> like->log2_cw : w, ph = c ? h >> like->log2_ch : h;
        for (int y = 0; y < ph; y++)
            for (int x = 0; x < pw; x++) {
                s = s * 1664525u + 1013904223u;
                /* runs of extremes now and then, to reach the clipping */
                uint8_t v = (uint8_t)(s >> 24);
                t->data[c][(size_t)y * t->linesize[c] + x] = (s >> 20 & 15) == 0 ? (v & 1 ? 255 : 0) : v;
            }
    }
    ovx_yuv_pic p = *like;
    p.w = w;
    p.h = h;
    for (int c = 0; c < 3; c++) {
        p.data[c] = t->data[c];
        p.linesize[c] = t->linesize[c];
    }
    ok = convert(t, (const uint8_t *const *)t->data, t->width, t->height, a, t->width * 3, &e) == OVX_OK &&
         ovx_rgb_exact_rect(&p, sws_getCoefficients(matrix_of(t)), full_range_of(t), 0, 0, t->width, t->height,
                            b, t->width * 3, &e) == OVX_OK &&
         memcmp(a, b, n) == 0;
out:
    av_frame_free(&t);
    free(a);
    free(b);
    return ok;
}

/* The horizontal chroma filter and the column passes depend on the width
 * only, the vertical filter and the row passes on the height only: a strip
 * of the picture's width and one of its height test the filters the
 * picture uses, at a twentieth of a 1080p picture's cost (the whole picture
 * through swscale's exact path took ~50 ms per process). */
#define CHECK_STRIP 16
static int exact_check(const AVFrame *f, const ovx_yuv_pic *like)
{
    int sw = f->width < 4 * CHECK_STRIP ? f->width : 4 * CHECK_STRIP;
    int sh = f->height < CHECK_STRIP ? f->height : CHECK_STRIP;
    return exact_check_size(f, like, f->width, sh) && exact_check_size(f, like, sw, f->height);
}

static int exact_ok(const AVFrame *f, const ovx_yuv_pic *p)
{
    exact_verdict k = {f->width, f->height, f->format, matrix_of(f), full_range_of(f), 0};
    pthread_mutex_lock(&verdict_lock);
    for (int i = 0; i < n_verdicts; i++) {
        exact_verdict *v = &verdicts[i];
        if (v->w == k.w && v->h == k.h && v->format == k.format && v->matrix == k.matrix && v->full == k.full) {
            pthread_mutex_unlock(&verdict_lock);
            return v->ok;
        }
    }
    /* checked under the lock: once per configuration, whatever the threads */
    k.ok = exact_check(f, p);
    verdicts[next_verdict] = k;
    next_verdict = (next_verdict + 1) % N_VERDICTS;
    if (n_verdicts < N_VERDICTS)
        n_verdicts++;
    pthread_mutex_unlock(&verdict_lock);
    return k.ok;
}

int ovx_frame_rgb_exact(const AVFrame *f)
{
    ovx_yuv_pic p;
    return exact_layout(f, &p) && exact_ok(f, &p);
}

/* Margin converted around the rectangle so that swscale's chroma
 * interpolation (a few taps at 2x) sees the same neighbours as in a full
 * conversion; the margin's pixels are dropped. */
#define RECT_MARGIN 16

int ovx_frame_to_rgb_rect(const AVFrame *f, int x0, int y0, int rw, int rh, uint8_t *dst, int dstride,
                          ovx_error *err)
{
    int W = f->width, H = f->height;
    if (x0 < 0 || y0 < 0 || rw <= 0 || rh <= 0 || x0 + rw > W || y0 + rh > H)
        return ovx_error_set(err, OVX_EINTERNAL, "RGB rectangle outside the picture");
    ovx_yuv_pic yp;
    if (exact_layout(f, &yp) && exact_ok(f, &yp))
        return ovx_rgb_exact_rect(&yp, sws_getCoefficients(matrix_of(f)), full_range_of(f), x0, y0, rw, rh, dst,
                                  dstride, err);
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get((enum AVPixelFormat)f->format);
    /* sub-pictures by plane pointers: planar byte-aligned formats whose
     * chroma scale factor is the same for the part as for the whole (even
     * sizes along subsampled axes) */
    int ok = d && (d->flags & AV_PIX_FMT_FLAG_PLANAR) &&
             !(d->flags & (AV_PIX_FMT_FLAG_BITSTREAM | AV_PIX_FMT_FLAG_HWACCEL | AV_PIX_FMT_FLAG_PAL)) &&
             d->log2_chroma_w <= 1 && d->log2_chroma_h <= 1 && (!d->log2_chroma_w || W % 2 == 0) &&
             (!d->log2_chroma_h || H % 2 == 0);
    for (int c = 0; ok && c < d->nb_components; c++)
        ok = d->comp[c].shift == 0 && d->comp[c].offset == 0 && d->comp[c].step <= 2;
    int ax = 0, ay = 0, bx = W, by = H;
    if (ok) {
        ax = x0 - RECT_MARGIN > 0 ? (x0 - RECT_MARGIN) & ~1 : 0;
        ay = y0 - RECT_MARGIN > 0 ? (y0 - RECT_MARGIN) & ~1 : 0;
        bx = x0 + rw + RECT_MARGIN < W ? (x0 + rw + RECT_MARGIN + 1) & ~1 : W;
        by = y0 + rh + RECT_MARGIN < H ? (y0 + rh + RECT_MARGIN + 1) & ~1 : H;
    }
    int cw = bx - ax, chh = by - ay;
    uint8_t *tmp = malloc((size_t)cw * chh * 3);
    if (!tmp)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (RGB frame)");
    const uint8_t *data[4] = {NULL, NULL, NULL, NULL};
    for (int p = 0; p < 4 && f->data[p]; p++) {
        int chroma = ok && (p == 1 || p == 2) && d->nb_components >= 3;
        int sx = chroma ? d->log2_chroma_w : 0, sy = chroma ? d->log2_chroma_h : 0;
        int step = ok ? d->comp[p < d->nb_components ? p : 0].step : 0;
        data[p] = f->data[p] + (ptrdiff_t)(ay >> sy) * f->linesize[p] + (ptrdiff_t)(ax >> sx) * step;
    }
    int rc = convert(f, data, cw, chh, tmp, cw * 3, err);
    if (rc == OVX_OK)
        for (int y = 0; y < rh; y++)
            memcpy(dst + (size_t)y * dstride, tmp + ((size_t)(y0 - ay + y) * cw + (x0 - ax)) * 3, (size_t)rw * 3);
    free(tmp);
    return rc;
}

/* ---- row by row ---- */

struct ovx_rgb_rows {
    ovx_yuv_pic p;
    ovx_rgb_exact *ex;   /* the exact path, or */
    uint8_t *buf;        /* the whole rectangle converted by swscale */
    int y0, rw, rh;
};

void ovx_rgb_rows_close(ovx_rgb_rows *c)
{
    if (!c)
        return;
    ovx_rgb_exact_close(c->ex);
    free(c->buf);
    free(c);
}

int ovx_rgb_rows_open(const AVFrame *f, int x0, int y0, int rw, int rh, ovx_rgb_rows **out, ovx_error *err)
{
    *out = NULL;
    if (x0 < 0 || y0 < 0 || rw <= 0 || rh <= 0 || x0 + rw > f->width || y0 + rh > f->height)
        return ovx_error_set(err, OVX_EINTERNAL, "RGB rectangle outside the picture");
    ovx_rgb_rows *c = calloc(1, sizeof *c);
    if (!c)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (RGB rows)");
    c->y0 = y0;
    c->rw = rw;
    c->rh = rh;
    int rc;
    if (exact_layout(f, &c->p) && exact_ok(f, &c->p)) {
        rc = ovx_rgb_exact_open(&c->p, sws_getCoefficients(matrix_of(f)), full_range_of(f), x0, rw, &c->ex, err);
    } else {
        c->buf = malloc((size_t)rw * rh * 3);
        rc = c->buf ? ovx_frame_to_rgb_rect(f, x0, y0, rw, rh, c->buf, rw * 3, err)
                    : ovx_error_set(err, OVX_ENOMEM, "out of memory (RGB frame)");
    }
    if (rc < 0) {
        ovx_rgb_rows_close(c);
        return rc;
    }
    *out = c;
    return OVX_OK;
}

int ovx_rgb_rows_get(ovx_rgb_rows *c, int y, int n, uint8_t *dst, int dstride, ovx_error *err)
{
    if (y < c->y0 || n < 0 || y + n > c->y0 + c->rh)
        return ovx_error_set(err, OVX_EINTERNAL, "RGB rows outside the rectangle");
    if (c->ex)
        return ovx_rgb_exact_rows(c->ex, &c->p, y, n, dst, dstride, err);
    for (int i = 0; i < n; i++)
        memcpy(dst + (size_t)i * dstride, c->buf + (size_t)(y - c->y0 + i) * c->rw * 3, (size_t)c->rw * 3);
    return OVX_OK;
}
