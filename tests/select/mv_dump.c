/* mv_dump.c: test helper: prints, per decoded frame (display order), the
 * motion vectors ovx reads ("F index pict count" then "x y w h dx dy source"). */
#include <stdio.h>
#include <stdlib.h>

#include <libavutil/log.h>

#include "video/mv.h"
#include "video/reader.h"

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: mv_dump VIDEO [SLICE_THREADS]\n");
        return 2;
    }
    av_log_set_level(AV_LOG_QUIET);
    ovx_error err;
    ovx_video_open_params op = {.threads = argc == 3 ? atoi(argv[2]) : 1, .export_mvs = 1};
    ovx_video_reader *r;
    if (ovx_video_open(argv[1], &op, &r, &err) < 0) {
        fprintf(stderr, "%s: %s\n", argv[1], err.msg);
        return 1;
    }
    ovx_mv_list l = {0};
    ovx_video_frame f;
    int rc;
    while ((rc = ovx_video_next(r, &f, &err)) > 0) {
        if (ovx_mv_from_frame(f.frame, &l, &err) < 0)
            break;
        printf("F %lld %c %lld\n", (long long)f.index, f.pict_type, (long long)l.n);
        for (int64_t i = 0; i < l.n; i++)
            printf("%d %d %d %d %.4f %.4f %d\n", l.v[i].x, l.v[i].y, l.v[i].w, l.v[i].h, l.v[i].dx,
                   l.v[i].dy, l.v[i].source);
    }
    ovx_mv_list_free(&l);
    ovx_video_close(r);
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", argv[1], err.msg);
        return 1;
    }
    return 0;
}
