/* truncated.h: is a video cut short? Compares the frames that could be read
 * with what the container declares (its frame count, else duration x fps),
 * so a file cut in half is named as such rather than as a corrupt packet. */
#ifndef OVX_SELECT_TRUNCATED_H
#define OVX_SELECT_TRUNCATED_H

#include <stddef.h>
#include <stdint.h>

#include "video/reader.h"

typedef struct ovx_truncation {
    int truncated;           /* 1: fewer frames readable than declared */
    int64_t readable;        /* frames that could be read (packets that decoded) */
    int64_t expected;        /* frames the container declares, 0 when unknown */
    double readable_share;   /* readable / expected (1 when not truncated) */
    double ends_at;          /* where the file ends: packets demuxed (the cut one included)
                                as a share of the declared frames */
} ovx_truncation;

/* info: the stream; readable: packets demuxed minus those that failed to
 * decode; demuxed: all packets demuxed. A file is truncated when the
 * container declares more than max(2, 2 %) frames beyond the readable ones. */
void ovx_truncation_check(const ovx_video_info *info, int64_t readable, int64_t demuxed, ovx_truncation *t);

/* "truncated: 20 of 41 frames readable (file ends at 49%)" into buf. */
void ovx_truncation_str(const ovx_truncation *t, char *buf, size_t len);

#endif
