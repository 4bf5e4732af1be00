/* refpic.c: reference-picture status of packets and decoded frames. */
#include "video/refpic.h"

#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>

#include "video/reader.h"

int ovx_nal_length_size(int codec_id, const uint8_t *ex, int size)
{
    if (!ex || size < 1 || ex[0] != 1)
        return 0;
    if (codec_id == AV_CODEC_ID_H264 && size >= 7)
        return (ex[4] & 3) + 1;
    if (codec_id == AV_CODEC_ID_HEVC && size >= 23)
        return (ex[21] & 3) + 1;
    return 0;
}

int ovx_nal_next(ovx_nal_iter *it, const uint8_t **nal, int *len)
{
    const uint8_t *d = it->d;
    int size = it->size;
    while (it->pos < size) {
        int pos = it->pos, l;
        if (it->nal_len) {
            if (pos + it->nal_len > size)
                return 0;
            uint32_t v = 0;
            for (int i = 0; i < it->nal_len; i++)
                v = (v << 8) | d[pos + i];
            pos += it->nal_len;
            if (v == 0 || v > (uint32_t)(size - pos))
                return 0;
            l = (int)v;
        } else {
            while (pos + 3 <= size && !(d[pos] == 0 && d[pos + 1] == 0 && d[pos + 2] == 1))
                pos++;
            if (pos + 3 >= size)
                return 0;
            pos += 3;
            int e = pos;
            while (e + 3 <= size && !(d[e] == 0 && d[e + 1] == 0 && (d[e + 2] == 1 || d[e + 2] == 0)))
                e++;
            l = (e + 3 <= size ? e : size) - pos;
        }
        it->pos = pos + l;
        if (l <= 0)
            continue;
        *nal = d + pos;
        *len = l;
        return 1;
    }
    return 0;
}

/* H.264: nal_ref_idc of the first slice (all slices of a picture share it). */
static int h264_reference(const uint8_t *d, int size, int nal_len)
{
    ovx_nal_iter it = {d, size, nal_len, 0};
    const uint8_t *n;
    int l;
    while (ovx_nal_next(&it, &n, &l)) {
        int type = n[0] & 0x1f;
        if (type == 1 || type == 5)
            return (n[0] >> 5) & 3 ? OVX_PIC_REF : OVX_PIC_NONREF;
    }
    return OVX_PIC_UNKNOWN;
}

/* HEVC: the NAL unit type of the packet's first VCL NAL unit, -1 if none */
static int hevc_first_vcl(const uint8_t *d, int size, int nal_len)
{
    ovx_nal_iter it = {d, size, nal_len, 0};
    const uint8_t *n;
    int l;
    while (ovx_nal_next(&it, &n, &l)) {
        int type = (n[0] >> 1) & 0x3f;
        if (type < 32)
            return type;
    }
    return -1;
}

/* HEVC: the sub-layer non-reference VCL types (TRAIL_N, TSA_N, STSA_N,
 * RADL_N, RASL_N, RSV_VCL_N10/12/14), as FFmpeg's skip_frame=nonref. */
static int hevc_reference(const uint8_t *d, int size, int nal_len)
{
    int type = hevc_first_vcl(d, size, nal_len);
    if (type < 0)
        return OVX_PIC_UNKNOWN;
    return type <= 14 && type % 2 == 0 ? OVX_PIC_NONREF : OVX_PIC_REF;
}

/* MPEG-1/2 (picture start code 00 00 01 00: picture_coding_type after the
 * 10-bit temporal reference). B (3) is never a reference. */
static int mpeg_reference(const uint8_t *d, int size)
{
    for (int i = 0; i + 5 < size; i++) {
        if (d[i] != 0 || d[i + 1] != 0 || d[i + 2] != 1 || d[i + 3] != 0x00)
            continue;
        int t = (d[i + 5] >> 3) & 7;
        if (t >= 1 && t <= 4)
            return t == 3 ? OVX_PIC_NONREF : OVX_PIC_REF;
    }
    return OVX_PIC_UNKNOWN;
}

int ovx_packet_reference(int codec_id, const uint8_t *data, int size, int nal_len)
{
    if (!data || size <= 0)
        return OVX_PIC_UNKNOWN;
    switch (codec_id) {
    case AV_CODEC_ID_H264: return h264_reference(data, size, nal_len);
    case AV_CODEC_ID_HEVC: return hevc_reference(data, size, nal_len);
    case AV_CODEC_ID_MPEG1VIDEO:
    case AV_CODEC_ID_MPEG2VIDEO: return mpeg_reference(data, size);
    default: return OVX_PIC_UNKNOWN;
    }
}

/* HEVC: the first VCL NAL unit is BLA (16-18), IDR (19, 20) or CRA (21). */
static int hevc_random_access(const uint8_t *d, int size, int nal_len)
{
    int type = hevc_first_vcl(d, size, nal_len);
    return type >= 16 && type <= 21;
}

/* MPEG-1/2: a sequence header (00 00 01 B3), then a GOP header (B8), then
 * the first picture start code (00) of an I picture (picture_coding_type 1). */
static int mpeg12_random_access(const uint8_t *d, int size)
{
    int seq = 0, gop = 0;
    for (int i = 0; i + 5 < size; i++) {
        if (d[i] != 0 || d[i + 1] != 0 || d[i + 2] != 1)
            continue;
        if (d[i + 3] == 0xB3)
            seq = 1;
        else if (d[i + 3] == 0xB8)
            gop = seq;
        else if (d[i + 3] == 0x00)
            return gop && ((d[i + 5] >> 3) & 7) == 1;
    }
    return 0;
}

int ovx_packet_random_access(int codec_id, const uint8_t *data, int size, int nal_len)
{
    if (!data || size <= 0)
        return 0;
    switch (codec_id) {
    case AV_CODEC_ID_HEVC: return hevc_random_access(data, size, nal_len);
    case AV_CODEC_ID_MPEG1VIDEO:
    case AV_CODEC_ID_MPEG2VIDEO: return mpeg12_random_access(data, size);
    default: return 0;
    }
}

int ovx_nal_list16(const uint8_t *ex, int size, int *pos, int count, ovx_nal_fn fn, void *ctx)
{
    for (int i = 0; i < count; i++) {
        if (*pos + 2 > size)
            return 0;
        int l = (ex[*pos] << 8) | ex[*pos + 1];
        *pos += 2;
        if (l <= 0 || l > size - *pos)
            return 0;
        fn(ctx, ex + *pos, l);
        *pos += l;
    }
    return 1;
}

void ovx_nal_each(const uint8_t *ex, int size, ovx_nal_fn fn, void *ctx)
{
    ovx_nal_iter it = {ex, size, 0, 0};
    const uint8_t *n;
    int l;
    while (ovx_nal_next(&it, &n, &l))
        fn(ctx, n, l);
}

int ovx_nal_rbsp(const uint8_t *n, int len, uint8_t *out, int cap)
{
    int k = 0, zeros = 0;
    for (int i = 1; i < len && k < cap; i++) {
        if (zeros >= 2 && n[i] == 3) {
            zeros = 0;
            continue;
        }
        zeros = n[i] == 0 ? zeros + 1 : 0;
        out[k++] = n[i];
    }
    return k;
}

int ovx_h264_x264_build(const uint8_t *data, int size, int nal_len)
{
    static const char tag[] = "x264 - core ";
    const int tl = (int)sizeof tag - 1;
    if (!data || size <= 0)
        return -1;
    ovx_nal_iter it = {data, size, nal_len, 0};
    const uint8_t *n;
    int l;
    while (ovx_nal_next(&it, &n, &l)) {
        int t = n[0] & 0x1f;
        if (t >= 1 && t <= 5)
            break; /* SEI precede the access unit's slices */
        if (t != 6)
            continue;
        uint8_t b[512];
        int m = ovx_nal_rbsp(n, l, b, (int)sizeof b), pos = 0;
        /* sei_message()s: type and size as runs of 0xFF plus a last byte */
        while (pos < m && b[pos] != 0x80) {
            int type = 0, len = 0;
            while (pos < m && b[pos] == 0xFF)
                type += 255, pos++;
            if (pos >= m)
                break;
            type += b[pos++];
            while (pos < m && b[pos] == 0xFF)
                len += 255, pos++;
            if (pos >= m)
                break;
            len += b[pos++];
            if (type == 5 && len >= 16 + tl + 1 && pos + 16 + tl < m &&
                !memcmp(b + pos + 16, tag, (size_t)tl)) {
                int64_t v = 0;
                int d = pos + 16 + tl, digits = 0;
                while (d < m && d < pos + len && b[d] >= '0' && b[d] <= '9' && digits < 9)
                    v = v * 10 + (b[d++] - '0'), digits++;
                if (digits > 0)
                    return (int)v;
            }
            if (len > m - pos)
                break;
            pos += len;
        }
    }
    return -1;
}

int ovx_frame_reference(const ovx_packet_scan *s, const AVFrame *f, int64_t *packet)
{
    *packet = -1;
    if (s && s->pos && s->pos_sorted && f->pkt_pos >= 0) {
        int64_t lo = 0, hi = s->n - 1;
        while (lo <= hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (s->pos[mid] == f->pkt_pos) {
                *packet = mid;
                break;
            }
            if (s->pos[mid] < f->pkt_pos)
                lo = mid + 1;
            else
                hi = mid - 1;
        }
        if (*packet >= 0 && s->ref && s->ref[*packet] != OVX_PIC_UNKNOWN)
            return s->ref[*packet];
    }
    int cid = s ? s->codec_id : AV_CODEC_ID_NONE;
    if (f->pict_type == AV_PICTURE_TYPE_B && cid != AV_CODEC_ID_H264 && cid != AV_CODEC_ID_HEVC)
        return OVX_PIC_NONREF;
    return OVX_PIC_REF;
}
