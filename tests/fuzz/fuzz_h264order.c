/* fuzz_h264order.c: libFuzzer target for the H.264 and HEVC bitstream
 * readers (video/h264order.h, video/hevcorder.h: parameter sets, SEI and
 * slice headers -> POC, display order), both fed the same input. Input: byte 0 picks the NAL framing (0: Annex-B start codes,
 * 1..4: that many length bytes), then chunks each led by a 16-bit
 * big-endian length: the first is the extradata (avcC or Annex-B), the
 * others are packets in decode order. A display order it accepts must be a
 * permutation of the packets. Each packet also goes through the packet
 * readers of video/refpic.h (reference status and random access as H.264,
 * HEVC and MPEG-2; the x264 version SEI) and the MPEG-4 Part 2 VOP reader
 * (video/m4vorder.h, its state started from the extradata chunk). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_file.h"
#include "video/h264order.h"
#include "video/hevcorder.h"
#include "video/m4vorder.h"
#include "video/refpic.h"

#include <libavcodec/codec_id.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PICS 512

/* a display order the reader accepted is a permutation of the packets */
static void check_order(int ok, const ovx_h264_pic *pics, int64_t n)
{
    int64_t disp[MAX_PICS];
    if (!ok || n == 0 || ovx_h264_display_order(pics, n, disp) < 0)
        return;
    uint8_t seen[MAX_PICS] = {0};
    for (int64_t i = 0; i < n; i++) {
        if (disp[i] < 0 || disp[i] >= n || seen[disp[i]])
            abort();
        seen[disp[i]] = 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    int nal_len = data[0] % 5;
    size_t pos = 1;
    ovx_h264_order *o = NULL;
    ovx_hevc_order *ho = NULL;
    ovx_h264_pic pics[MAX_PICS], hpics[MAX_PICS];
    ovx_m4v_order m4v;
    int64_t n = 0;
    int ok = 1, hok = 1;
    while (pos + 2 <= size && n < MAX_PICS) {
        size_t l = (size_t)data[pos] << 8 | data[pos + 1];
        pos += 2;
        if (l > size - pos)
            l = size - pos;
        uint8_t *chunk = (uint8_t *)fuzz_dup(data + pos, l); /* exact bounds for ASan */
        if (!o) {
            o = ovx_h264_order_new(chunk, (int)l);
            ho = ovx_hevc_order_new(chunk, (int)l);
            ovx_m4v_order_init(&m4v, chunk, (int)l);
            if (!o || !ho) {
                ovx_h264_order_free(o);
                ovx_hevc_order_free(ho);
                free(chunk);
                return 0;
            }
        } else {
            ok &= ovx_h264_order_packet(o, chunk, (int)l, nal_len, &pics[n]);
            hok &= ovx_hevc_order_packet(ho, chunk, (int)l, nal_len, &hpics[n]);
            n++;
            static const int codecs[] = {AV_CODEC_ID_H264, AV_CODEC_ID_HEVC, AV_CODEC_ID_MPEG2VIDEO};
            for (int c = 0; c < 3; c++) {
                int r = ovx_packet_reference(codecs[c], chunk, (int)l, nal_len);
                int a = ovx_packet_random_access(codecs[c], chunk, (int)l, nal_len);
                if (r < OVX_PIC_UNKNOWN || r > OVX_PIC_REF || a < 0 || a > 1)
                    abort();
            }
            if (ovx_h264_x264_build(chunk, (int)l, nal_len) < -1)
                abort();
            int m = ovx_m4v_order_packet(&m4v, chunk, (int)l);
            if (m < OVX_PIC_UNKNOWN || m > OVX_PIC_REF || m4v.time_bits < 0 || m4v.time_bits > 16)
                abort();
        }
        free(chunk);
        pos += l;
    }
    ovx_h264_order_free(o);
    ovx_hevc_order_free(ho);
    check_order(ok, pics, n);
    check_order(hok, hpics, n);
    return 0;
}
