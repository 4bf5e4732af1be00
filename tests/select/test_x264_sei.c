/* test_x264_sei.c: the x264 version read from a user-data-unregistered SEI
 * (video/refpic.h ovx_h264_x264_build), on access units built here byte by
 * byte: Annex-B and length-prefixed, an emulation-prevention byte inside the
 * UUID, another SEI message first, a payload size over 255 (two size bytes),
 * and the cases that must give -1 (no SEI, the tag missing, the SEI after
 * the slice, a payload cut short). */
#include <stdint.h>
#include <string.h>

#include "../check.h"
#include "video/refpic.h"

typedef struct buf {
    uint8_t b[2048];
    int n;
} buf;

static void put(buf *o, const void *p, int n)
{
    memcpy(o->b + o->n, p, (size_t)n);
    o->n += n;
}

static void put1(buf *o, int v)
{
    o->b[o->n++] = (uint8_t)v;
}

/* an SEI NAL unit's RBSP: [recovery point message,] user data unregistered
 * with UUID uuid and text, padded to at least min_len payload bytes */
static int sei_rbsp(uint8_t *r, const uint8_t *uuid, const char *text, int with_recovery, int min_len)
{
    int n = 0;
    if (with_recovery) {
        r[n++] = 6;    /* recovery point */
        r[n++] = 1;    /* size */
        r[n++] = 0x88; /* recovery_frame_cnt 0 (ue "1"), flags, stop bit */
    }
    int len = 16 + (int)strlen(text) + 1;
    if (len < min_len)
        len = min_len;
    r[n++] = 5;
    int s = len;
    while (s >= 255)
        r[n++] = 0xFF, s -= 255;
    r[n++] = (uint8_t)s;
    memcpy(r + n, uuid, 16);
    memset(r + n + 16, ' ', (size_t)(len - 16));
    memcpy(r + n + 16, text, strlen(text));
    n += len;
    r[n++] = 0x80; /* rbsp trailing bits */
    return n;
}

/* the NAL unit (header 0x06) from an RBSP, emulation prevention inserted */
static int nal_of(uint8_t *out, const uint8_t *r, int n)
{
    int k = 0, zeros = 0;
    out[k++] = 0x06;
    for (int i = 0; i < n; i++) {
        if (zeros >= 2 && r[i] <= 3) {
            out[k++] = 3;
            zeros = 0;
        }
        out[k++] = r[i];
        zeros = r[i] == 0 ? zeros + 1 : 0;
    }
    return k;
}

static const uint8_t slice[] = {0x65, 0x88, 0x84, 0x00, 0x33, 0xff}; /* an IDR slice's first bytes */

/* an access unit: the SEI (before or after the slice), Annex-B or with
 * 4-byte lengths */
static void unit(buf *o, const uint8_t *nal, int n, int annexb, int sei_after)
{
    static const uint8_t sc[] = {0, 0, 0, 1};
    o->n = 0;
    for (int part = 0; part < 2; part++) {
        int is_sei = part == sei_after ? 0 : 1;
        const uint8_t *d = is_sei ? nal : slice;
        int len = is_sei ? n : (int)sizeof slice;
        if (annexb) {
            put(o, sc, 4);
        } else {
            put1(o, len >> 24), put1(o, len >> 16), put1(o, len >> 8), put1(o, len);
        }
        put(o, d, len);
    }
}

int main(void)
{
    /* x264's UUID, and one with 00 00 01 in it (an emulation-prevention byte) */
    static const uint8_t x264_uuid[16] = {0xdc, 0x45, 0xe9, 0xbd, 0xe6, 0xd9, 0x48, 0xb7,
                                          0x96, 0x2c, 0xd8, 0x20, 0xd9, 0x23, 0xee, 0xef};
    static const uint8_t zero_uuid[16] = {0x12, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03,
                                          0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb};
    const char *text = "x264 - core 142 r2431 a5831aa - H.264/MPEG-4 AVC codec";
    uint8_t rbsp[1024], nal[1400];
    buf au;
    for (int annexb = 0; annexb < 2; annexb++) {
        int n = nal_of(nal, rbsp, sei_rbsp(rbsp, x264_uuid, text, 0, 0));
        unit(&au, nal, n, annexb, 1);
        CHECK(ovx_h264_x264_build(au.b, au.n, annexb ? 0 : 4) == 142);
        /* the SEI after the slice is not read */
        unit(&au, nal, n, annexb, 0);
        CHECK(ovx_h264_x264_build(au.b, au.n, annexb ? 0 : 4) == -1);
        /* emulation prevention in the UUID */
        n = nal_of(nal, rbsp, sei_rbsp(rbsp, zero_uuid, text, 0, 0));
        CHECK(n > sei_rbsp(rbsp, zero_uuid, text, 0, 0) + 1);
        unit(&au, nal, n, annexb, 1);
        CHECK(ovx_h264_x264_build(au.b, au.n, annexb ? 0 : 4) == 142);
        /* another message first, a payload of 300 bytes (size 0xFF 0x2D) */
        n = nal_of(nal, rbsp, sei_rbsp(rbsp, x264_uuid, "x264 - core 67", 1, 300));
        unit(&au, nal, n, annexb, 1);
        CHECK(ovx_h264_x264_build(au.b, au.n, annexb ? 0 : 4) == 67);
        /* not x264's text */
        n = nal_of(nal, rbsp, sei_rbsp(rbsp, x264_uuid, "Lavc59.37.100 libx265", 0, 0));
        unit(&au, nal, n, annexb, 1);
        CHECK(ovx_h264_x264_build(au.b, au.n, annexb ? 0 : 4) == -1);
    }
    /* cut short: the access unit ends inside the UUID */
    nal_of(nal, rbsp, sei_rbsp(rbsp, x264_uuid, text, 0, 0));
    uint8_t cut[40] = {0, 0, 0, 1};
    memcpy(cut + 4, nal, 20);
    CHECK(ovx_h264_x264_build(cut, 24, 0) == -1);
    CHECK(ovx_h264_x264_build(NULL, 0, 0) == -1);
    return CHECK_RESULT();
}
