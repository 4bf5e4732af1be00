/* m4vorder.c: the MPEG-4 Part 2 VOP reader of the decode plan (see
 * m4vorder.h): ISO/IEC 14496-2 6.2.3 (video_object_layer up to
 * vop_time_increment_resolution) and 6.2.5 (vop header up to vop_coded). */
#include "video/m4vorder.h"

#include "video/bits.h"
#include "video/refpic.h"

enum { VOP = 0xB6, SHAPE_RECT = 0, SHAPE_GRAY = 3, ASPECT_EXTENDED = 15 };

/* The vop_time_increment width a VOL header (payload after its start code)
 * declares, as FFmpeg derives it (bits of resolution - 1, at least 1); 0
 * when it is cut short, not rectangular or malformed. */
static int vol_time_bits(const uint8_t *d, int size)
{
    bits b = {d, (int64_t)size * 8, 0, 0};
    getn(&b, 1 + 8); /* random_accessible_vol, video_object_type_indication */
    int verid = 1;
    if (get1(&b)) { /* is_object_layer_identifier */
        verid = (int)getn(&b, 4);
        getn(&b, 3); /* priority */
    }
    if (getn(&b, 4) == ASPECT_EXTENDED)
        getn(&b, 16); /* par_width, par_height */
    if (get1(&b)) { /* vol_control_parameters */
        getn(&b, 3); /* chroma_format, low_delay */
        if (get1(&b)) /* vbv_parameters: 15+1+15+1+15+1+3+11+1+15+1 bits */
            for (int i = 0; i < 79; i += 16)
                getn(&b, 79 - i < 16 ? 79 - i : 16);
    }
    uint32_t shape = getn(&b, 2);
    if (shape == SHAPE_GRAY && verid != 1)
        getn(&b, 4);
    uint32_t marker = get1(&b);
    uint32_t res = getn(&b, 16);
    uint32_t marker2 = get1(&b);
    if (b.bad || shape != SHAPE_RECT || !marker || !marker2 || res == 0)
        return 0;
    int n = 0;
    for (uint32_t v = res - 1; v; v >>= 1)
        n++;
    return n > 0 ? n : 1;
}

/* 1 coded, 0 not coded, -1 unreadable: a VOP header's vop_coded (payload
 * after the start code); *type its vop_coding_type */
static int vop_coded(const uint8_t *d, int size, int time_bits, int *type)
{
    bits b = {d, (int64_t)size * 8, 0, 0};
    *type = (int)getn(&b, 2);
    int ones = 0;
    while (get1(&b) && !b.bad) /* modulo_time_base */
        if (++ones > 60)
            return -1;
    uint32_t m1 = get1(&b);
    getn(&b, time_bits);
    uint32_t m2 = get1(&b);
    uint32_t coded = get1(&b);
    if (b.bad || !m1 || !m2)
        return -1;
    return (int)coded;
}

/* Walks the start codes of d: each VOL header updates o; the count of
 * VOPs, and the first one's type and vop_coded. */
static void walk(ovx_m4v_order *o, const uint8_t *d, int size, int *vops, int *type, int *coded)
{
    *vops = 0;
    for (int i = 0; i + 4 < size; i++) {
        if (d[i] != 0 || d[i + 1] != 0 || d[i + 2] != 1)
            continue;
        int code = d[i + 3];
        if (code >= 0x20 && code <= 0x2F) {
            o->time_bits = vol_time_bits(d + i + 4, size - i - 4);
        } else if (code == VOP) {
            if ((*vops)++ == 0)
                *coded = o->time_bits ? vop_coded(d + i + 4, size - i - 4, o->time_bits, type) : -1;
        }
        i += 3;
    }
}

void ovx_m4v_order_init(ovx_m4v_order *o, const uint8_t *extradata, int size)
{
    o->time_bits = 0;
    if (extradata && size > 0) {
        int vops, type, coded;
        walk(o, extradata, size, &vops, &type, &coded);
    }
}

int ovx_m4v_order_packet(ovx_m4v_order *o, const uint8_t *data, int size)
{
    if (!data || size <= 0)
        return OVX_PIC_UNKNOWN;
    int vops, type = 0, coded = -1;
    walk(o, data, size, &vops, &type, &coded);
    if (vops != 1 || coded != 1)
        return OVX_PIC_UNKNOWN;
    return type == 2 ? OVX_PIC_NONREF : OVX_PIC_REF;
}
