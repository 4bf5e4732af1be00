/* viz.c: contact sheet of the selection (see viz.h); each tile is labelled
 * with its slot (top left) and decoded frame index (bottom left). */
#include "select/viz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>

#include "io/atomic_file.h"

#define COLS 8
#define GAP 4
#define FONT_SCALE 2

/* 3x5 pixel digits, one row per byte (bits 2..0 = left..right) */
static const unsigned char digits[10][5] = {
    {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1},
    {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7},
};

/* Writes the decimal number v at (x, y) of img [H, W, 3] in white on a
 * black box. */
static void draw_number(uint8_t *img, int W, int H, int x, int y, long long v)
{
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%lld", v < 0 ? 0 : v);
    int cw = 4 * FONT_SCALE, bw = n * cw + FONT_SCALE, bh = 7 * FONT_SCALE;
    for (int j = 0; j < bh; j++)
        for (int i = 0; i < bw; i++) {
            int px = x + i, py = y + j;
            if (px < W && py < H)
                memset(img + ((size_t)py * W + px) * 3, 0, 3);
        }
    for (int c = 0; c < n; c++) {
        const unsigned char *g = digits[buf[c] - '0'];
        for (int r = 0; r < 5; r++)
            for (int b = 0; b < 3; b++) {
                if (!(g[r] >> (2 - b) & 1))
                    continue;
                for (int sy = 0; sy < FONT_SCALE; sy++)
                    for (int sx = 0; sx < FONT_SCALE; sx++) {
                        int px = x + FONT_SCALE + c * cw + b * FONT_SCALE + sx;
                        int py = y + FONT_SCALE + r * FONT_SCALE + sy;
                        if (px < W && py < H)
                            memset(img + ((size_t)py * W + px) * 3, 255, 3);
                    }
            }
    }
}

static int encode_png(const uint8_t *rgb, int w, int h, const char *path, ovx_error *err)
{
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
    if (!codec)
        return ovx_error_set(err, OVX_EUNSUPPORTED, "%s: libavcodec has no PNG encoder", path);
    AVCodecContext *cx = avcodec_alloc_context3(codec);
    AVFrame *f = av_frame_alloc();
    AVPacket *pkt = av_packet_alloc();
    int rc = OVX_OK;
    if (!cx || !f || !pkt) {
        rc = ovx_error_set(err, OVX_ENOMEM, "%s: out of memory (PNG)", path);
        goto out;
    }
    cx->width = w;
    cx->height = h;
    cx->pix_fmt = AV_PIX_FMT_RGB24;
    cx->time_base = (AVRational){1, 1};
    if (avcodec_open2(cx, codec, NULL) < 0) {
        rc = ovx_error_set(err, OVX_EINTERNAL, "%s: cannot open the PNG encoder", path);
        goto out;
    }
    f->format = AV_PIX_FMT_RGB24;
    f->width = w;
    f->height = h;
    if (av_frame_get_buffer(f, 0) < 0) {
        rc = ovx_error_set(err, OVX_ENOMEM, "%s: out of memory (PNG frame)", path);
        goto out;
    }
    for (int y = 0; y < h; y++)
        memcpy(f->data[0] + (size_t)y * f->linesize[0], rgb + (size_t)y * w * 3, (size_t)w * 3);
    if (avcodec_send_frame(cx, f) < 0 || avcodec_send_frame(cx, NULL) < 0 ||
        avcodec_receive_packet(cx, pkt) < 0) {
        rc = ovx_error_set(err, OVX_EINTERNAL, "%s: PNG encoding failed", path);
        goto out;
    }
    rc = ovx_atomic_write(path, pkt->data, (size_t)pkt->size, err);
out:
    av_packet_free(&pkt);
    av_frame_free(&f);
    avcodec_free_context(&cx);
    return rc;
}

int ovx_select_write_viz(const ovx_select_result *r, const char *path, ovx_error *err)
{
    if (!r->frames)
        return ovx_error_set(err, OVX_EINTERNAL, "%s: contact sheet needs the kept frames", path);
    const int S = OVX_SELECT_SIZE, P = OVX_SELECT_PATCH, G = OVX_SELECT_GRID;
    int n = r->n_slots, cols = n < COLS ? n : COLS, rows = (n + cols - 1) / cols;
    int W = cols * S + (cols + 1) * GAP, H = rows * S + (rows + 1) * GAP;
    uint8_t *img = malloc((size_t)W * H * 3);
    unsigned char *sel = calloc(OVX_SELECT_SLOTS * OVX_SELECT_PER_SLOT, 1);
    if (!img || !sel) {
        free(img);
        free(sel);
        return ovx_error_set(err, OVX_ENOMEM, "%s: out of memory (contact sheet)", path);
    }
    memset(img, 32, (size_t)W * H * 3);
    for (int64_t i = 0; i < r->n_visible; i++)
        sel[r->visible_indices[i]] = 1;
    for (int k = 0; k < n; k++) {
        int ox = GAP + (k % cols) * (S + GAP), oy = GAP + (k / cols) * (S + GAP);
        const uint8_t *fr = r->frames + (size_t)k * S * S * 3;
        const unsigned char *ss = sel + (size_t)r->slots[k].slot * OVX_SELECT_PER_SLOT;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                int on = ss[(y / P) * G + x / P];
                const uint8_t *s = fr + ((size_t)y * S + x) * 3;
                uint8_t *d = img + ((size_t)(oy + y) * W + ox + x) * 3;
                if (on) {
                    d[0] = s[0], d[1] = s[1], d[2] = s[2];
                } else {
                    /* dimmed, desaturated and tinted blue so it reads as "not selected" */
                    int l = (s[0] * 77 + s[1] * 150 + s[2] * 29) >> 8;
                    d[0] = (uint8_t)(l / 4);
                    d[1] = (uint8_t)(l / 4);
                    d[2] = (uint8_t)(l / 4 + 24);
                }
            }
    }
    /* labels: slot number top left, decoded frame index bottom left */
    for (int k = 0; k < n; k++) {
        int ox = GAP + (k % cols) * (S + GAP), oy = GAP + (k / cols) * (S + GAP);
        draw_number(img, W, H, ox, oy, r->slots[k].slot);
        draw_number(img, W, H, ox, oy + S - 7 * FONT_SCALE, r->slots[k].frame_index);
    }
    free(sel);
    int rc = encode_png(img, W, H, path, err);
    free(img);
    return rc;
}
