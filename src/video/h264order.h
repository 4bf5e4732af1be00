/* h264order.h: H.264 display order read from the bitstream, for streams
 * whose container carries no presentation times (AVI, raw .h264): a small
 * defensive reader of the SPS, PPS, recovery-point SEI and slice headers
 * gives each access unit its picture order count (POC, all three
 * pic_order_cnt_type), whether it is an IDR picture and whether it is a
 * random-access point (IDR, or an I picture with a recovery-point SEI whose
 * recovery_frame_cnt is 0: an open-GOP keyframe). Anything it does not
 * handle (field pictures, memory_management_control_operation 5, slice
 * groups, no_output_of_prior_pics, a missing parameter set, bits past the
 * end) makes the picture "unknown", and callers then do without. */
#ifndef OVX_VIDEO_H264ORDER_H
#define OVX_VIDEO_H264ORDER_H

#include <stdint.h>

typedef struct ovx_h264_order ovx_h264_order;

typedef struct ovx_h264_pic {
    int64_t poc;     /* picture order count (frame: min of the two fields') */
    int idr;         /* an IDR picture (POC restarts) */
    int rap;         /* a random-access point: IDR, or I with recovery_frame_cnt 0 */
} ovx_h264_pic;

/* State over one stream (parameter sets, previous picture). NULL: out of
 * memory. extradata: avcC or Annex-B parameter sets (may be NULL). */
ovx_h264_order *ovx_h264_order_new(const uint8_t *extradata, int size);
void ovx_h264_order_free(ovx_h264_order *o);

/* One access unit (packet) in decode order, its NAL units length-prefixed
 * (nal_len > 0) or Annex-B. 1 and *pic filled for a picture it could read,
 * 0 when it could not (the stream's order is then unknown; later calls keep
 * returning 0). */
int ovx_h264_order_packet(ovx_h264_order *o, const uint8_t *data, int size, int nal_len, ovx_h264_pic *pic);

/* Display indices from n pictures' POCs in decode order: the pictures
 * between two IDRs are shown in POC order, after all pictures before the
 * first of them. disp[n] receives each picture's display index. Returns 0,
 * or -1 when two pictures of one such run share a POC (or out of memory). */
int ovx_h264_display_order(const ovx_h264_pic *pics, int64_t n, int64_t *disp);

#endif
