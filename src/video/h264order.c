/* h264order.c: H.264 picture order count from SPS/PPS/slice headers
 * (ITU-T H.264 7.3.2, 7.3.3, 8.2.1), bounds-checked throughout. */
#include "video/h264order.h"

#include <stdlib.h>
#include <string.h>

#include "video/bits.h"
#include "video/refpic.h"

#define MAX_SPS 32
#define MAX_PPS 256
#define RBSP_MAX 4096 /* header bytes unescaped per NAL unit (slice headers are far shorter) */

typedef struct sps {
    int valid;
    int chroma_array_type, separate_planes, frame_mbs_only;
    int log2_max_frame_num, poc_type, log2_max_poc_lsb;
    int delta_always_zero, n_cycle;
    int64_t off_non_ref, off_top_bottom, cycle_sum;
    int32_t cycle[256];
} sps;

typedef struct pps {
    int valid, sps_id;
    int bottom_poc_present, redundant_present;
    int n_ref_l0, n_ref_l1, weighted_pred, weighted_bipred;
} pps;

struct ovx_h264_order {
    sps sps[MAX_SPS];
    pps pps[MAX_PPS];
    int failed;
    int have_prev;
    int64_t prev_msb, prev_lsb;           /* type 0 */
    int64_t prev_fn_offset, prev_frame_num; /* types 1, 2 */
    uint8_t rbsp[RBSP_MAX];
};

/* the NAL unit's payload without its header byte and emulation-prevention
 * bytes, at most max (<= RBSP_MAX) bytes */
static bits rbsp(ovx_h264_order *o, const uint8_t *nal, int len, int max)
{
    int n = ovx_nal_rbsp(nal, len, o->rbsp, max);
    return (bits){o->rbsp, (int64_t)n * 8, 0, 0};
}

/* ---- parameter sets ---- */

static int high_profile(uint32_t p)
{
    static const uint8_t hp[] = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135};
    for (size_t i = 0; i < sizeof hp; i++)
        if (p == hp[i])
            return 1;
    return 0;
}

static void skip_scaling_list(bits *b, int size)
{
    int64_t last = 8, next = 8;
    for (int j = 0; j < size && !b->bad; j++) {
        if (next != 0) {
            int64_t delta = se(b);
            if (delta < -128 || delta > 127)
                b->bad = 1;
            next = (last + delta + 256) % 256;
        }
        last = next == 0 ? last : next;
    }
}

static void parse_sps(ovx_h264_order *o, bits *b)
{
    sps s;
    memset(&s, 0, sizeof s);
    uint32_t profile = getn(b, 8);
    getn(b, 16); /* constraint flags, level */
    uint32_t id = ue_max(b, MAX_SPS - 1);
    int chroma_format = 1, separate = 0;
    if (high_profile(profile)) {
        chroma_format = (int)ue_max(b, 3);
        if (chroma_format == 3)
            separate = (int)get1(b);
        ue_max(b, 14); /* bit depths */
        ue_max(b, 14);
        get1(b);       /* qpprime_y_zero_transform_bypass */
        if (get1(b))
            for (int i = 0; i < (chroma_format != 3 ? 8 : 12) && !b->bad; i++)
                if (get1(b))
                    skip_scaling_list(b, i < 6 ? 16 : 64);
    }
    s.chroma_array_type = separate ? 0 : chroma_format;
    s.separate_planes = separate;
    s.log2_max_frame_num = (int)ue_max(b, 12) + 4;
    s.poc_type = (int)ue_max(b, 2);
    if (s.poc_type == 0) {
        s.log2_max_poc_lsb = (int)ue_max(b, 12) + 4;
    } else if (s.poc_type == 1) {
        s.delta_always_zero = (int)get1(b);
        s.off_non_ref = se(b);
        s.off_top_bottom = se(b);
        s.n_cycle = (int)ue_max(b, 255);
        for (int i = 0; i < s.n_cycle && !b->bad; i++) {
            int64_t v = se(b);
            s.cycle[i] = (int32_t)v;
            s.cycle_sum += v;
        }
    }
    ue_max(b, 32); /* max_num_ref_frames */
    get1(b);       /* gaps_in_frame_num_value_allowed_flag */
    ue(b);         /* pic_width_in_mbs_minus1 */
    ue(b);         /* pic_height_in_map_units_minus1 */
    s.frame_mbs_only = (int)get1(b);
    if (b->bad)
        return;
    s.valid = 1;
    o->sps[id] = s;
}

static void parse_pps(ovx_h264_order *o, bits *b)
{
    pps p;
    memset(&p, 0, sizeof p);
    uint32_t id = ue_max(b, MAX_PPS - 1);
    p.sps_id = (int)ue_max(b, MAX_SPS - 1);
    get1(b); /* entropy_coding_mode_flag */
    p.bottom_poc_present = (int)get1(b);
    if (ue(b) != 0) /* slice groups (FMO): not handled */
        b->bad = 1;
    p.n_ref_l0 = (int)ue_max(b, 31) + 1;
    p.n_ref_l1 = (int)ue_max(b, 31) + 1;
    p.weighted_pred = (int)get1(b);
    p.weighted_bipred = (int)getn(b, 2);
    se(b); /* pic_init_qp_minus26 */
    se(b); /* pic_init_qs_minus26 */
    se(b); /* chroma_qp_index_offset */
    get1(b); /* deblocking_filter_control_present_flag */
    get1(b); /* constrained_intra_pred_flag */
    p.redundant_present = (int)get1(b);
    if (b->bad) {
        o->pps[id].valid = 0;
        return;
    }
    p.valid = 1;
    o->pps[id] = p;
}

/* recovery_frame_cnt of a recovery-point SEI (payload 6) in this SEI NAL
 * unit, -1 when there is none */
static int64_t sei_recovery(bits *b)
{
    while (!b->bad && b->n - b->pos >= 16) {
        uint32_t type = 0, size = 0, v;
        while ((v = getn(b, 8)) == 0xFF && !b->bad)
            type += 255;
        type += v;
        while ((v = getn(b, 8)) == 0xFF && !b->bad)
            size += 255;
        size += v;
        if (b->bad)
            return -1;
        if (type == 6) {
            uint32_t cnt = ue(b);
            return b->bad ? -1 : (int64_t)cnt;
        }
        if ((int64_t)size * 8 > b->n - b->pos)
            return -1;
        b->pos += (int64_t)size * 8;
    }
    return -1;
}

/* ---- slice header ---- */

typedef struct slice {
    int idr, ref_idc, slice_type, mmco5, no_output_prior;
    int64_t frame_num, poc_lsb, delta_bottom, delta0, delta1;
    const sps *s;
} slice;

static void skip_ref_list_mod(bits *b)
{
    if (!get1(b))
        return;
    for (int i = 0; i < 100 && !b->bad; i++) {
        uint32_t idc = ue_max(b, 5);
        if (idc == 3)
            return;
        if (idc > 5)
            b->bad = 1;
        else
            ue(b);
    }
    b->bad = 1;
}

static void skip_pred_weights(bits *b, const sps *s, int n0, int n1, int bslice)
{
    ue_max(b, 7);
    if (s->chroma_array_type != 0)
        ue_max(b, 7);
    for (int l = 0; l < (bslice ? 2 : 1); l++)
        for (int i = 0; i < (l ? n1 : n0) && !b->bad; i++) {
            if (get1(b))
                se(b), se(b);
            if (s->chroma_array_type != 0 && get1(b))
                se(b), se(b), se(b), se(b);
        }
}

/* reads the header of a slice NAL unit up to dec_ref_pic_marking; 0 ok */
static int parse_slice(ovx_h264_order *o, bits *b, int nal_type, int ref_idc, slice *sl)
{
    memset(sl, 0, sizeof *sl);
    sl->idr = nal_type == 5;
    sl->ref_idc = ref_idc;
    ue(b); /* first_mb_in_slice */
    sl->slice_type = (int)ue_max(b, 9) % 5;
    uint32_t pid = ue_max(b, MAX_PPS - 1);
    if (b->bad || !o->pps[pid].valid || !o->sps[o->pps[pid].sps_id].valid)
        return -1;
    const pps *p = &o->pps[pid];
    const sps *s = &o->sps[p->sps_id];
    sl->s = s;
    if (s->separate_planes)
        getn(b, 2); /* colour_plane_id */
    sl->frame_num = getn(b, s->log2_max_frame_num);
    if (!s->frame_mbs_only && get1(b))
        return -1; /* a field picture: not handled */
    if (sl->idr)
        ue(b); /* idr_pic_id */
    if (s->poc_type == 0) {
        sl->poc_lsb = getn(b, s->log2_max_poc_lsb);
        if (p->bottom_poc_present)
            sl->delta_bottom = se(b);
    } else if (s->poc_type == 1 && !s->delta_always_zero) {
        sl->delta0 = se(b);
        if (p->bottom_poc_present)
            sl->delta1 = se(b);
    }
    if (p->redundant_present && ue(b) != 0)
        return -1; /* a redundant picture */
    int bs = sl->slice_type == 1, ps = sl->slice_type == 0 || sl->slice_type == 3;
    if (bs)
        get1(b); /* direct_spatial_mv_pred_flag */
    int n0 = p->n_ref_l0, n1 = p->n_ref_l1;
    if (bs || ps) {
        if (get1(b)) {
            n0 = (int)ue_max(b, 31) + 1;
            if (bs)
                n1 = (int)ue_max(b, 31) + 1;
        }
        skip_ref_list_mod(b);
        if (bs)
            skip_ref_list_mod(b);
    }
    if ((p->weighted_pred && ps) || (p->weighted_bipred == 1 && bs))
        skip_pred_weights(b, s, n0, n1, bs);
    if (ref_idc) {
        if (sl->idr) {
            sl->no_output_prior = (int)get1(b);
            get1(b); /* long_term_reference_flag */
        } else if (get1(b)) {
            int i;
            for (i = 0; i < 66 && !b->bad; i++) {
                uint32_t op = ue_max(b, 6);
                if (op == 0)
                    break;
                if (op == 5)
                    sl->mmco5 = 1;
                if (op == 1 || op == 3)
                    ue(b);
                if (op == 2)
                    ue(b);
                if (op == 3 || op == 6)
                    ue(b);
                if (op == 4)
                    ue(b);
            }
            if (i == 66)
                b->bad = 1;
        }
    }
    return b->bad ? -1 : 0;
}

/* 8.2.1: the picture order count of a frame */
static int64_t slice_poc(ovx_h264_order *o, const slice *sl)
{
    const sps *s = sl->s;
    int64_t max_fn = (int64_t)1 << s->log2_max_frame_num;
    if (sl->idr || !o->have_prev) {
        o->prev_msb = o->prev_lsb = 0;
        o->prev_fn_offset = 0;
        o->prev_frame_num = sl->frame_num;
    }
    int64_t top, bottom;
    if (s->poc_type == 0) {
        int64_t max_lsb = (int64_t)1 << s->log2_max_poc_lsb, lsb = sl->poc_lsb, msb = o->prev_msb;
        if (lsb < o->prev_lsb && o->prev_lsb - lsb >= max_lsb / 2)
            msb += max_lsb;
        else if (lsb > o->prev_lsb && lsb - o->prev_lsb > max_lsb / 2)
            msb -= max_lsb;
        top = msb + lsb;
        bottom = top + sl->delta_bottom;
        if (sl->ref_idc) {
            o->prev_msb = msb;
            o->prev_lsb = lsb;
        }
    } else {
        int64_t off = sl->idr ? 0 : o->prev_frame_num > sl->frame_num ? o->prev_fn_offset + max_fn : o->prev_fn_offset;
        if (s->poc_type == 1) {
            int64_t abs = s->n_cycle ? off + sl->frame_num : 0, exp = 0;
            if (!sl->ref_idc && abs > 0)
                abs--;
            if (abs > 0) {
                int64_t cyc = (abs - 1) / s->n_cycle, in = (abs - 1) % s->n_cycle;
                exp = cyc * s->cycle_sum;
                for (int64_t i = 0; i <= in; i++)
                    exp += s->cycle[i];
            }
            if (!sl->ref_idc)
                exp += s->off_non_ref;
            top = exp + sl->delta0;
            bottom = top + s->off_top_bottom + sl->delta1;
        } else {
            top = bottom = sl->idr ? 0 : 2 * (off + sl->frame_num) - (sl->ref_idc ? 0 : 1);
        }
        o->prev_fn_offset = off;
        o->prev_frame_num = sl->frame_num;
    }
    o->have_prev = 1;
    return top < bottom ? top : bottom;
}

/* ---- access units ---- */

/* an SPS or PPS NAL unit (ctx: the ovx_h264_order; an ovx_nal_fn) */
static void parse_ps_nal(void *ctx, const uint8_t *n, int l)
{
    ovx_h264_order *o = ctx;
    int type = n[0] & 0x1f;
    bits b = rbsp(o, n, l, RBSP_MAX);
    if (type == 7)
        parse_sps(o, &b);
    else if (type == 8)
        parse_pps(o, &b);
}

ovx_h264_order *ovx_h264_order_new(const uint8_t *ex, int size)
{
    ovx_h264_order *o = calloc(1, sizeof *o);
    if (!o || !ex || size <= 0)
        return o;
    if (ex[0] == 1 && size >= 7) {
        /* avcC: SPSs then PPSs, each with a 16-bit length */
        int pos = 6;
        if (ovx_nal_list16(ex, size, &pos, ex[5] & 0x1f, parse_ps_nal, o) && pos < size) {
            int count = ex[pos++];
            ovx_nal_list16(ex, size, &pos, count, parse_ps_nal, o);
        }
        return o;
    }
    ovx_nal_each(ex, size, parse_ps_nal, o);
    return o;
}

void ovx_h264_order_free(ovx_h264_order *o) { free(o); }

int ovx_h264_order_packet(ovx_h264_order *o, const uint8_t *d, int size, int nal_len, ovx_h264_pic *pic)
{
    memset(pic, 0, sizeof *pic);
    if (o->failed || !d || size <= 0)
        return o->failed = 1, 0;
    ovx_nal_iter it = {d, size, nal_len, 0};
    const uint8_t *n;
    int l, got = 0;
    int64_t recovery = -1;
    slice sl;
    while (ovx_nal_next(&it, &n, &l)) {
        int type = n[0] & 0x1f;
        if (type == 7 || type == 8) {
            parse_ps_nal(o, n, l);
        } else if (type == 6) {
            bits b = rbsp(o, n, l, RBSP_MAX);
            int64_t r = sei_recovery(&b);
            if (r >= 0)
                recovery = r;
        } else if (type == 1 || type == 5) {
            bits b = rbsp(o, n, l, 8); /* first_mb_in_slice: a picture's later slices */
            uint32_t first_mb = ue(&b);
            if (got) {
                if (first_mb == 0 && !b.bad)
                    return o->failed = 1, 0; /* a second picture in the packet */
                continue;
            }
            b = rbsp(o, n, l, RBSP_MAX);
            if (parse_slice(o, &b, type, (n[0] >> 5) & 3, &sl) < 0 || sl.mmco5 || sl.no_output_prior ||
                first_mb != 0)
                return o->failed = 1, 0;
            got = 1;
        } else if (type == 2 || type == 3 || type == 4 || type == 20) {
            return o->failed = 1, 0; /* data partitioning, extension slices */
        }
    }
    if (!got)
        return o->failed = 1, 0;
    pic->poc = slice_poc(o, &sl);
    pic->idr = sl.idr;
    pic->rap = sl.idr || (sl.slice_type == 2 && recovery == 0);
    return 1;
}

typedef struct poc_at {
    int64_t poc, i;
} poc_at;

static int cmp_poc(const void *a, const void *b)
{
    const poc_at *x = a, *y = b;
    return x->poc != y->poc ? (x->poc > y->poc) - (x->poc < y->poc) : (x->i > y->i) - (x->i < y->i);
}

int ovx_h264_display_order(const ovx_h264_pic *pics, int64_t n, int64_t *disp)
{
    poc_at *ord = malloc((size_t)(n > 0 ? n : 1) * sizeof *ord);
    if (!ord)
        return -1;
    int rc = 0;
    for (int64_t a = 0; a < n && rc == 0;) {
        int64_t b = a + 1;
        while (b < n && !pics[b].idr)
            b++;
        for (int64_t i = a; i < b; i++)
            ord[i] = (poc_at){pics[i].poc, i};
        qsort(ord + a, (size_t)(b - a), sizeof *ord, cmp_poc);
        for (int64_t i = a; i < b; i++) {
            if (i > a && ord[i].poc == ord[i - 1].poc)
                rc = -1;
            disp[ord[i].i] = i;
        }
        a = b;
    }
    free(ord);
    return rc;
}
