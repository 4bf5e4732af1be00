/* hevcorder.h: HEVC display order read from the bitstream, for streams
 * whose container carries no presentation times (AVI, raw .h265/.hevc), as
 * h264order.h does for H.264: a small defensive reader of the SPS, PPS and
 * first slice segment header of each picture gives it its picture order
 * count (ITU-T H.265 8.3.1) and whether it starts a coded video sequence
 * (an IDR or BLA picture, or a CRA picture first in the stream or after an
 * end of sequence: POC restarts, the pictures before it are all shown
 * first). Anything the decoder would not output one for one, or that this
 * reader does not handle, makes the stream's order unknown: pictures with
 * pic_output_flag 0, RASL pictures of a sequence-starting CRA or BLA (the
 * decoder drops them), no_output_of_prior_pics_flag, two pictures in one
 * packet, reserved NAL unit types, a missing parameter set, bits past the
 * end. NAL units of layers above the base layer are left out (the decoder
 * decodes the base layer). */
#ifndef OVX_VIDEO_HEVCORDER_H
#define OVX_VIDEO_HEVCORDER_H

#include <stdint.h>

#include "video/h264order.h" /* ovx_h264_pic, ovx_h264_display_order */

typedef struct ovx_hevc_order ovx_hevc_order;

/* State over one stream. NULL: out of memory. extradata: hvcC or Annex-B
 * parameter sets (may be NULL). */
ovx_hevc_order *ovx_hevc_order_new(const uint8_t *extradata, int size);
void ovx_hevc_order_free(ovx_hevc_order *o);

/* One access unit (packet) in decode order, its NAL units length-prefixed
 * (nal_len > 0) or Annex-B. 1 and *pic filled (poc; idr: it starts a coded
 * video sequence; rap: an IRAP picture) for a picture it could read, 0 when
 * it could not (the order is then unknown; later calls keep returning 0).
 * ovx_h264_display_order turns the pictures into display indices. */
int ovx_hevc_order_packet(ovx_hevc_order *o, const uint8_t *data, int size, int nal_len, ovx_h264_pic *pic);

#endif
