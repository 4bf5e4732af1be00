/* refpic_dump.c: test helper: `refpic_dump VIDEO` prints, from ovx's packet
 * scan, one line per packet in decode order ("packet INDEX REF") and, from a
 * full decode, one line per frame in display order ("frame INDEX PACKET REF
 * PICT_TYPE"); REF is 1, 0 or -1 (unknown). */
#include <stdio.h>

#include <libavutil/frame.h>
#include <libavutil/log.h>

#include "video/reader.h"
#include "video/refpic.h"

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    av_log_set_level(AV_LOG_QUIET);
    ovx_error err;
    ovx_packet_scan s;
    if (ovx_video_scan_packets(argv[1], 0, &s, &err) < 0) {
        fprintf(stderr, "%s: %s\n", argv[1], err.msg);
        return 1;
    }
    for (int64_t i = 0; i < s.n; i++)
        printf("packet %lld %d\n", (long long)i, s.ref[i]);
    ovx_video_open_params op = {.threads = 1};
    ovx_video_reader *rd;
    if (ovx_video_open(argv[1], &op, &rd, &err) < 0) {
        fprintf(stderr, "%s: %s\n", argv[1], err.msg);
        return 1;
    }
    ovx_video_frame vf;
    int rc;
    while ((rc = ovx_video_next(rd, &vf, &err)) > 0) {
        int64_t pk;
        int ref = ovx_frame_reference(&s, vf.frame, &pk);
        printf("frame %lld %lld %d %c\n", (long long)vf.index, (long long)pk, ref, vf.pict_type);
    }
    ovx_video_close(rd);
    ovx_packet_scan_free(&s);
    return rc < 0 ? 1 : 0;
}
