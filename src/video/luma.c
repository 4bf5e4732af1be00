/* luma.c: any decoded frame -> 8-bit luma plane (see luma.h). */
#include "video/luma.h"

#include <string.h>

#include <libavutil/frame.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

static const AVPixFmtDescriptor *yuv_desc(const AVFrame *f)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get((enum AVPixelFormat)f->format);
    if (!d || (d->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_BAYER |
                           AV_PIX_FMT_FLAG_HWACCEL | AV_PIX_FMT_FLAG_BITSTREAM)) ||
        d->nb_components < 1 || d->comp[0].plane != 0 || d->comp[0].offset != 0)
        return NULL;
    return d;
}

int ovx_frame_has_luma8(const AVFrame *f)
{
    const AVPixFmtDescriptor *d = yuv_desc(f);
    return d && d->comp[0].step == 1 && d->comp[0].depth == 8 && d->comp[0].shift == 0;
}

/* planar 9..16-bit luma: (v + half) >> (depth - 8), v the sample's bits */
static void shift_plane(const AVFrame *f, const AVPixFmtDescriptor *d, AVFrame *o)
{
    int be = (d->flags & AV_PIX_FMT_FLAG_BE) != 0, sh = d->comp[0].shift, depth = d->comp[0].depth;
    unsigned mask = (1u << depth) - 1, s = (unsigned)depth - 8, half = s ? 1u << (s - 1) : 0;
    for (int y = 0; y < f->height; y++) {
        const uint8_t *src = f->data[0] + (ptrdiff_t)y * f->linesize[0];
        uint8_t *dst = o->data[0] + (ptrdiff_t)y * o->linesize[0];
        for (int x = 0; x < f->width; x++) {
            unsigned v = be ? (unsigned)src[2 * x] << 8 | src[2 * x + 1] : (unsigned)src[2 * x + 1] << 8 | src[2 * x];
            v = ((v >> sh) & mask) + half;
            v >>= s;
            dst[x] = (uint8_t)(v > 255 ? 255 : v);
        }
    }
}

int ovx_frame_ref_pictures(AVFrame *dst, const AVFrame *src)
{
    int rc = av_frame_ref(dst, src);
    /* the side data (motion vectors: up to a few hundred kB a picture) is
     * read when the frame comes out; held on, it keeps the decoder's next
     * pictures from reusing that memory */
    while (rc >= 0 && dst->nb_side_data > 0)
        av_frame_remove_side_data(dst, dst->side_data[dst->nb_side_data - 1]->type);
    return rc;
}

/* A GRAY8 frame over f's first plane, holding only the buffer that plane
 * lies in (the chroma planes' buffers, when they have their own, go back
 * to the decoder); a full reference when there is no such buffer. */
static int luma_ref(AVFrame *o, const AVFrame *f)
{
    AVBufferRef *b = av_frame_get_plane_buffer((AVFrame *)f, 0);
    if (!b)
        return ovx_frame_ref_pictures(o, f);
    if (!(o->buf[0] = av_buffer_ref(b)))
        return -1;
    o->format = AV_PIX_FMT_GRAY8;
    o->width = f->width;
    o->height = f->height;
    o->data[0] = f->data[0];
    o->linesize[0] = f->linesize[0];
    o->extended_data = o->data;
    o->key_frame = f->key_frame;
    o->pict_type = f->pict_type;
    o->pts = f->pts;
    o->pkt_pos = f->pkt_pos;
    return 0;
}

int ovx_frame_luma8(const AVFrame *f, int copy, AVFrame **out, ovx_error *err)
{
    *out = NULL;
    AVFrame *o = av_frame_alloc();
    if (!o)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (luma)");
    int has8 = ovx_frame_has_luma8(f);
    if (has8 && !copy) {
        if (luma_ref(o, f) < 0) {
            av_frame_free(&o);
            return ovx_error_set(err, OVX_ENOMEM, "out of memory (luma)");
        }
        *out = o;
        return OVX_OK;
    }
    o->format = AV_PIX_FMT_GRAY8;
    o->width = f->width;
    o->height = f->height;
    if (av_frame_get_buffer(o, 0) < 0) {
        av_frame_free(&o);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (luma)");
    }
    if (has8) {
        for (int y = 0; y < f->height; y++)
            memcpy(o->data[0] + (ptrdiff_t)y * o->linesize[0], f->data[0] + (ptrdiff_t)y * f->linesize[0],
                   (size_t)f->width);
        *out = o;
        return OVX_OK;
    }
    const AVPixFmtDescriptor *d = yuv_desc(f);
    if (d && d->comp[0].step == 2 && d->comp[0].depth > 8 && d->comp[0].depth + d->comp[0].shift <= 16) {
        shift_plane(f, d, o);
        *out = o;
        return OVX_OK;
    }
    struct SwsContext *sws = sws_getContext(f->width, f->height, (enum AVPixelFormat)f->format, f->width,
                                            f->height, AV_PIX_FMT_GRAY8,
                                            SWS_POINT | SWS_ACCURATE_RND | SWS_BITEXACT, NULL, NULL, NULL);
    if (!sws) {
        av_frame_free(&o);
        return ovx_error_set(err, OVX_EUNSUPPORTED, "cannot convert pixel format %s to gray",
                             av_get_pix_fmt_name((enum AVPixelFormat)f->format));
    }
    /* luma on the video (limited) range, as YUV-coded video carries it:
     * an RGB frame made from a YUV one gives back that luma; YUV sources
     * keep their own range */
    const AVPixFmtDescriptor *sd = av_pix_fmt_desc_get((enum AVPixelFormat)f->format);
    int src_full = (sd && (sd->flags & AV_PIX_FMT_FLAG_RGB)) || f->color_range == AVCOL_RANGE_JPEG;
    const int *coef = sws_getCoefficients(SWS_CS_ITU601);
    sws_setColorspaceDetails(sws, coef, src_full, coef, 0, 0, 1 << 16, 1 << 16);
    int rc = sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, o->data, o->linesize);
    sws_freeContext(sws);
    if (rc != f->height) {
        av_frame_free(&o);
        return ovx_error_set(err, OVX_EINTERNAL, "swscale converted %d of %d lines to gray", rc, f->height);
    }
    *out = o;
    return OVX_OK;
}
