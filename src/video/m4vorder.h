/* m4vorder.h: MPEG-4 Part 2 packets read for the decode plan: whether a
 * packet holds one coded VOP, and whether that VOP is a reference (I, P and
 * S VOPs are; B-VOPs never are). Anything the decoder would not answer with
 * exactly one picture makes the packet's type unknown: no VOP, two or more
 * VOPs in one packet (DivX/XviD "packed" B-frames), a VOP not coded
 * (vop_coded 0: an N-VOP, which FFmpeg's decoder answers with no frame), a
 * VOP before any video object layer header (its time-increment width is
 * needed to reach vop_coded), a non-rectangular layer, a marker bit that is
 * not 1. */
#ifndef OVX_VIDEO_M4VORDER_H
#define OVX_VIDEO_M4VORDER_H

#include <stdint.h>

/* State over one stream: the vop_time_increment width of the last video
 * object layer header seen (0: none yet, or one this reader cannot use). */
typedef struct ovx_m4v_order {
    int time_bits;
} ovx_m4v_order;

/* Starts the state from the stream's extradata (may hold the VOL header;
 * NULL or empty: none). */
void ovx_m4v_order_init(ovx_m4v_order *o, const uint8_t *extradata, int size);

/* One packet in decode order: OVX_PIC_REF, OVX_PIC_NONREF or
 * OVX_PIC_UNKNOWN (refpic.h). A VOL header in the packet updates the
 * state for it and later packets. */
int ovx_m4v_order_packet(ovx_m4v_order *o, const uint8_t *data, int size);

#endif
