/* mv.c: reading FFmpeg's AV_FRAME_DATA_MOTION_VECTORS side data into ovx_mv. */
#include "video/mv.h"

#include <stdlib.h>

#include <libavcodec/codec_id.h>
#include <libavutil/frame.h>
#include <libavutil/motion_vector.h>

static int reserve(ovx_mv_list *l, int64_t n, ovx_error *err)
{
    if (n <= l->cap)
        return OVX_OK;
    int64_t cap = l->cap ? l->cap : 256;
    while (cap < n)
        cap *= 2;
    ovx_mv *v = realloc(l->v, (size_t)cap * sizeof *v);
    if (!v)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory (motion vectors)");
    l->v = v;
    l->cap = cap;
    return OVX_OK;
}

int ovx_mv_list_scaled(const ovx_mv_list *src, float num, float den, ovx_mv_list *dst, ovx_error *err)
{
    int rc = reserve(dst, src->n, err);
    if (rc < 0)
        return rc;
    for (int64_t i = 0; i < src->n; i++) {
        ovx_mv v = src->v[i];
        v.dx = v.dx * num / den;
        v.dy = v.dy * num / den;
        dst->v[i] = v;
    }
    dst->n = src->n;
    return OVX_OK;
}

int ovx_mv_stale_b(int codec_id, int pict_type)
{
    return codec_id == AV_CODEC_ID_MPEG4 && pict_type == 'B';
}

int ovx_mv_frame_has_side_data(const struct AVFrame *f)
{
    return av_frame_get_side_data(f, AV_FRAME_DATA_MOTION_VECTORS) != NULL;
}

int ovx_mv_from_frame(const struct AVFrame *f, ovx_mv_list *l, ovx_error *err)
{
    l->n = 0;
    const AVFrameSideData *sd = av_frame_get_side_data(f, AV_FRAME_DATA_MOTION_VECTORS);
    if (!sd)
        return OVX_OK;
    int64_t n = (int64_t)(sd->size / sizeof(AVMotionVector));
    int rc = reserve(l, n, err);
    if (rc < 0)
        return rc;
    const AVMotionVector *m = (const AVMotionVector *)sd->data;
    for (int64_t i = 0; i < n; i++) {
        if (m[i].w == 0 || m[i].h == 0)
            continue;
        int scale = m[i].motion_scale ? m[i].motion_scale : 1;
        int x0 = m[i].dst_x - m[i].w / 2, y0 = m[i].dst_y - m[i].h / 2;
        int x1 = x0 + m[i].w, y1 = y0 + m[i].h;
        if (x0 < 0) x0 = 0;
        if (y0 < 0) y0 = 0;
        if (x1 > f->width) x1 = f->width;
        if (y1 > f->height) y1 = f->height;
        if (x1 <= x0 || y1 <= y0)
            continue;
        ovx_mv *o = &l->v[l->n++];
        o->x = x0;
        o->y = y0;
        o->w = x1 - x0;
        o->h = y1 - y0;
        o->dx = (float)m[i].motion_x / (float)scale;
        o->dy = (float)m[i].motion_y / (float)scale;
        o->source = m[i].source < 0 ? -1 : 1;
    }
    return OVX_OK;
}

void ovx_mv_list_free(ovx_mv_list *l)
{
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}
