/* truncated.c: a video cut short, told from a corrupt one (truncated.h). */
#include "select/truncated.h"

#include <math.h>
#include <stdio.h>

void ovx_truncation_check(const ovx_video_info *info, int64_t readable, int64_t demuxed, ovx_truncation *t)
{
    t->truncated = 0;
    t->readable = readable > 0 ? readable : 0;
    t->readable_share = 1;
    t->ends_at = 1;
    t->expected = info->frames_header;
    if (t->expected <= 0 && info->duration > 0 && info->fps > 0 && info->duration * info->fps < 1e12)
        t->expected = (int64_t)llround(info->duration * info->fps);
    if (t->expected <= 0) {
        t->expected = 0;
        return;
    }
    int64_t slack = t->expected / 50 > 2 ? t->expected / 50 : 2;
    if (t->readable + slack >= t->expected)
        return;
    t->truncated = 1;
    t->readable_share = (double)t->readable / (double)t->expected;
    t->ends_at = demuxed > t->readable && demuxed < t->expected ? (double)demuxed / (double)t->expected
                                                                 : t->readable_share;
}

void ovx_truncation_str(const ovx_truncation *t, char *buf, size_t len)
{
    snprintf(buf, len, "truncated: %lld of %lld frames readable (file ends at %.0f%%)", (long long)t->readable,
             (long long)t->expected, t->ends_at * 100.0);
}
