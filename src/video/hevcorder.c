/* hevcorder.c: HEVC picture order count from SPS/PPS/slice segment headers
 * (ITU-T H.265 7.3.2.2, 7.3.2.3, 7.3.6.1, 8.3.1), bounds-checked. */
#include "video/hevcorder.h"

#include <stdlib.h>
#include <string.h>

#include "video/bits.h"
#include "video/refpic.h"

#define MAX_SPS 16
#define MAX_PPS 64
#define RBSP_MAX 4096
#define SLICE_RBSP 16 /* bytes of a slice segment header unescaped */

enum {
    RASL_N = 8, RASL_R = 9, BLA_W_LP = 16, BLA_N_LP = 18, IDR_W_RADL = 19, IDR_N_LP = 20, CRA = 21,
    VPS = 32, SPS = 33, PPS = 34, EOS = 36, EOB = 37
};

typedef struct sps {
    int valid, separate_planes, log2_max_poc_lsb;
} sps;

typedef struct pps {
    int valid, sps_id, output_flag_present, extra_bits;
} pps;

struct ovx_hevc_order {
    sps sps[MAX_SPS];
    pps pps[MAX_PPS];
    int failed;
    int new_sequence;    /* the next IRAP starts a sequence (first picture, after EOS) */
    int drop_rasl;       /* the sequence started at a CRA or BLA: its RASL pictures are not output */
    int64_t prev_msb, prev_lsb; /* prevTid0Pic */
    uint8_t rbsp[RBSP_MAX];
};

/* the NAL unit's payload after its two header bytes, unescaped, at most
 * max (<= RBSP_MAX) bytes */
static bits rbsp(ovx_hevc_order *o, const uint8_t *nal, int len, int max)
{
    int n = len > 1 ? ovx_nal_rbsp(nal + 1, len - 1, o->rbsp, max) : 0;
    return (bits){o->rbsp, (int64_t)n * 8, 0, 0};
}

/* profile_tier_level(1, max_sub_layers_minus1) */
static void skip_ptl(bits *b, int max_sub)
{
    b->pos += 96; /* general profile (88 bits) and level (8) */
    int prof[8] = {0}, lev[8] = {0};
    for (int i = 0; i < max_sub; i++) {
        prof[i] = (int)get1(b);
        lev[i] = (int)get1(b);
    }
    if (max_sub > 0)
        b->pos += 2 * (8 - max_sub);
    for (int i = 0; i < max_sub; i++)
        b->pos += (prof[i] ? 88 : 0) + (lev[i] ? 8 : 0);
    if (b->pos > b->n)
        b->bad = 1;
}

static void parse_sps(ovx_hevc_order *o, bits *b)
{
    sps s = {0};
    getn(b, 4); /* sps_video_parameter_set_id */
    int max_sub = (int)getn(b, 3);
    if (max_sub > 6)
        b->bad = 1;
    get1(b); /* sps_temporal_id_nesting_flag */
    skip_ptl(b, max_sub);
    uint32_t id = ue_max(b, MAX_SPS - 1);
    uint32_t chroma = ue_max(b, 3);
    if (chroma == 3)
        s.separate_planes = (int)get1(b);
    ue(b); /* pic_width_in_luma_samples */
    ue(b); /* pic_height_in_luma_samples */
    if (get1(b)) /* conformance_window_flag */
        ue(b), ue(b), ue(b), ue(b);
    ue_max(b, 8); /* bit_depth_luma_minus8 */
    ue_max(b, 8); /* bit_depth_chroma_minus8 */
    s.log2_max_poc_lsb = (int)ue_max(b, 12) + 4;
    if (b->bad) {
        if (id < MAX_SPS)
            o->sps[id].valid = 0;
        return;
    }
    s.valid = 1;
    o->sps[id] = s;
}

static void parse_pps(ovx_hevc_order *o, bits *b)
{
    pps p = {0};
    uint32_t id = ue_max(b, MAX_PPS - 1);
    p.sps_id = (int)ue_max(b, MAX_SPS - 1);
    get1(b); /* dependent_slice_segments_enabled_flag */
    p.output_flag_present = (int)get1(b);
    p.extra_bits = (int)getn(b, 3);
    if (b->bad) {
        o->pps[id].valid = 0;
        return;
    }
    p.valid = 1;
    o->pps[id] = p;
}

/* an SPS or PPS NAL unit of the base layer (ctx: the ovx_hevc_order; an
 * ovx_nal_fn) */
static void parse_ps_nal(void *ctx, const uint8_t *n, int l)
{
    ovx_hevc_order *o = ctx;
    if (l < 2 || (((n[0] & 1) << 5) | (n[1] >> 3)) != 0)
        return; /* not the base layer */
    int type = (n[0] >> 1) & 0x3f;
    bits b = rbsp(o, n, l, RBSP_MAX);
    if (type == SPS)
        parse_sps(o, &b);
    else if (type == PPS)
        parse_pps(o, &b);
}

ovx_hevc_order *ovx_hevc_order_new(const uint8_t *ex, int size)
{
    ovx_hevc_order *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->new_sequence = 1;
    if (!ex || size <= 0)
        return o;
    if (ex[0] == 1 && size >= 23) {
        /* hvcC: 22 header bytes, then arrays of NAL units with 16-bit lengths */
        int pos = 22, arrays = ex[pos++];
        for (int a = 0; a < arrays && pos + 3 <= size; a++) {
            int count = (ex[pos + 1] << 8) | ex[pos + 2];
            pos += 3;
            if (!ovx_nal_list16(ex, size, &pos, count, parse_ps_nal, o))
                break;
        }
        return o;
    }
    ovx_nal_each(ex, size, parse_ps_nal, o);
    return o;
}

void ovx_hevc_order_free(ovx_hevc_order *o) { free(o); }

/* the picture's first slice segment header up to slice_pic_order_cnt_lsb;
 * 0 ok */
static int parse_slice(ovx_hevc_order *o, bits *b, int type, int64_t *lsb, int *log2_max)
{
    if (!get1(b)) /* first_slice_segment_in_pic_flag */
        return -1;
    if (type >= BLA_W_LP && type <= CRA && get1(b))
        return -1; /* no_output_of_prior_pics_flag: earlier pictures may not be shown */
    uint32_t pid = ue_max(b, MAX_PPS - 1);
    if (b->bad || !o->pps[pid].valid || !o->sps[o->pps[pid].sps_id].valid)
        return -1;
    const pps *p = &o->pps[pid];
    const sps *s = &o->sps[p->sps_id];
    getn(b, p->extra_bits); /* slice_reserved_flag[] */
    ue_max(b, 2);           /* slice_type */
    if (p->output_flag_present && !get1(b))
        return -1; /* pic_output_flag 0: not shown */
    if (s->separate_planes)
        getn(b, 2); /* colour_plane_id */
    *lsb = type == IDR_W_RADL || type == IDR_N_LP ? 0 : getn(b, s->log2_max_poc_lsb);
    *log2_max = s->log2_max_poc_lsb;
    return b->bad ? -1 : 0;
}

int ovx_hevc_order_packet(ovx_hevc_order *o, const uint8_t *d, int size, int nal_len, ovx_h264_pic *pic)
{
    memset(pic, 0, sizeof *pic);
    if (o->failed || !d || size <= 0)
        return o->failed = 1, 0;
    ovx_nal_iter it = {d, size, nal_len, 0};
    const uint8_t *n;
    int l, got = 0, type = -1, tid = 0, log2_max = 0, eos_after = 0;
    int64_t lsb = 0;
    while (ovx_nal_next(&it, &n, &l)) {
        if (l < 2 || (n[0] & 0x80) || (n[1] & 7) == 0)
            return o->failed = 1, 0;
        if ((((n[0] & 1) << 5) | (n[1] >> 3)) != 0)
            continue; /* a layer above the base layer */
        int t = (n[0] >> 1) & 0x3f;
        if (t == SPS || t == PPS) {
            parse_ps_nal(o, n, l);
        } else if (t == EOS || t == EOB) {
            eos_after = 1;
        } else if (t < 32) {
            if ((t >= 10 && t <= 15) || t >= 22)
                return o->failed = 1, 0; /* reserved VCL types */
            /* first_slice_segment_in_pic_flag: the payload's first bit (no
             * emulation-prevention byte can precede it: the header's second
             * byte is never 0) */
            int first = l > 2 && (n[2] & 0x80);
            if (got) {
                if (first)
                    return o->failed = 1, 0; /* a second picture in the packet */
                continue;
            }
            /* the header up to slice_pic_order_cnt_lsb: under 60 bits */
            bits b = rbsp(o, n, l, SLICE_RBSP);
            if (parse_slice(o, &b, t, &lsb, &log2_max) < 0)
                return o->failed = 1, 0;
            got = 1;
            type = t;
            tid = (n[1] & 7) - 1;
        }
    }
    if (!got)
        return o->failed = 1, 0;
    int irap = type >= BLA_W_LP && type <= CRA;
    /* NoRaslOutputFlag: IDR, BLA, and a CRA that starts the stream or
     * follows an end of sequence */
    int starts = irap && (type != CRA || o->new_sequence);
    if (irap)
        o->drop_rasl = starts && (type == CRA || type <= BLA_N_LP);
    if ((type == RASL_N || type == RASL_R) && o->drop_rasl)
        return o->failed = 1, 0; /* not output by the decoder */
    if (!irap && o->new_sequence)
        return o->failed = 1, 0; /* no IRAP first: the decoder skips to one */
    o->new_sequence = eos_after;
    int64_t max = (int64_t)1 << log2_max, msb = 0;
    if (!starts) {
        if (lsb < o->prev_lsb && o->prev_lsb - lsb >= max / 2)
            msb = o->prev_msb + max;
        else if (lsb > o->prev_lsb && lsb - o->prev_lsb > max / 2)
            msb = o->prev_msb - max;
        else
            msb = o->prev_msb;
    }
    /* prevTid0Pic: TemporalId 0, not RASL, RADL or a sub-layer non-reference picture */
    int slnr = type <= 14 && type % 2 == 0;
    if (tid == 0 && !(type >= 6 && type <= 9) && !slnr) {
        o->prev_msb = msb;
        o->prev_lsb = lsb;
    }
    pic->poc = msb + lsb;
    pic->idr = starts;
    pic->rap = irap;
    return 1;
}
