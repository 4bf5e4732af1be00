/* refring.h: the reference pictures a sampled frame's vectors may point at.
 * The decode loop (display order) keeps the last few reference pictures'
 * 8-bit luma since the last keyframe (a ring, memory bounded); a sampled
 * frame takes the ones before it as candidates for its past (source -1)
 * vectors and collects the next ones, as they are decoded, for its future
 * (+1) vectors. Only reference pictures qualify, and when the decode order
 * is known only those decoded before the frame. Where the picture structure
 * fixes the reference (MPEG-1/2/4, H.263: the nearest I/P picture in each
 * direction) there is exactly one candidate per direction. */
#ifndef OVX_SELECT_REFRING_H
#define OVX_SELECT_REFRING_H

/* Future reference pictures are looked for at most this many frames ahead. */
#define OVX_REF_MAX_AHEAD 8

#include <stdint.h>

#include "common/error.h"
#include "select/energy.h"

struct AVFrame;
struct ovx_packet_scan;

/* One decoded picture as the search sees it. */
typedef struct ovx_refpic {
    struct AVFrame *luma;    /* 8-bit luma (video/luma.h), owned */
    int64_t index;           /* display index */
    int64_t packet;          /* decode order (packet index), -1 unknown */
    int ref;                 /* can be a reference picture */
    int key;                 /* keyframe: no search crosses it */
} ovx_refpic;

/* Candidates of one sampled frame in one direction, nearest first. */
typedef struct ovx_refset {
    struct AVFrame *luma[OVX_ENERGY_MAX_REFS];
    int dist[OVX_ENERGY_MAX_REFS];
    int n;
    int done;                /* future set: no more candidates will come */
} ovx_refset;

typedef struct ovx_ref_ring {
    ovx_refpic pic[OVX_ENERGY_MAX_REFS]; /* oldest first */
    int n, cap;              /* held; cap: max_past + 1 (a B-pyramid's reference B
                              * may be decoded after a P-frame shown later) */
    int max_past, max_fut;   /* candidates per direction */
    int idr_keys;            /* keyframes are never forward references (H.264, HEVC: IDR) */
} ovx_ref_ring;

/* codec_id: enum AVCodecID; candidates: the --ref-candidates limit. */
void ovx_ref_ring_init(ovx_ref_ring *r, int codec_id, int candidates);
void ovx_ref_ring_clear(ovx_ref_ring *r);

/* Describes a decoded frame: its reference status and packet from the scan,
 * its luma (a new reference or an 8-bit conversion; copy: always a buffer
 * of its own, see ovx_frame_luma8). */
int ovx_refpic_make(const struct ovx_packet_scan *s, const struct AVFrame *f, int64_t index, int copy,
                    ovx_refpic *out, ovx_error *err);
void ovx_refpic_clear(ovx_refpic *p);

/* The past candidates of cur (call before pushing cur). */
int ovx_ref_ring_past(const ovx_ref_ring *r, const ovx_refpic *cur, ovx_refset *out, ovx_error *err);
/* Adds p (a reference picture) after the frames before it; a keyframe
 * first empties the ring. Takes a new reference of p's luma. */
int ovx_ref_ring_push(ovx_ref_ring *r, const ovx_refpic *p, ovx_error *err);
/* Offers a later frame to cur's future set; sets set->done when the set
 * is complete (enough candidates, a keyframe, or too far). */
int ovx_ref_offer_future(const ovx_ref_ring *r, const ovx_refpic *cur, const ovx_refpic *later,
                         ovx_refset *set, ovx_error *err);

void ovx_refset_clear(ovx_refset *s);
/* Fills energy candidates from a set. */
void ovx_refset_to_energy(const ovx_refset *s, ovx_energy_ref *out, int *n);

#endif
