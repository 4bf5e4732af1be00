/* frames_dump.c: test helper: `frames_dump VIDEO OUT.rgb [all]` runs
 * ovx_select_run with keep_frames = 1 (8 frames, 512 tokens; "all": decode
 * every frame, --decode all) and writes the kept 224x224 RGB24 crops (slot
 * order) to OUT.rgb and the result JSON (no timings) to stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/log.h>

#include "select/select.h"

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4)
        return 2;
    av_log_set_level(AV_LOG_QUIET);
    ovx_select_params p = ovx_select_default_params();
    p.keep_frames = 1;
    p.frames = 8;
    p.tokens = 512;
    p.decode_all = argc == 4 && !strcmp(argv[3], "all");
    ovx_select_result *r;
    ovx_error err;
    if (ovx_select_run(argv[1], &p, &r, &err) < 0) {
        fprintf(stderr, "%s: %s\n", argv[1], err.msg);
        return 1;
    }
    FILE *f = fopen(argv[2], "wb");
    size_t n = (size_t)r->n_slots * OVX_SELECT_SIZE * OVX_SELECT_SIZE * 3;
    if (!f || fwrite(r->frames, 1, n, f) != n)
        return 1;
    fclose(f);
    char *js = ovx_select_result_json_string(r, 0);
    fputs(js, stdout);
    free(js);
    ovx_select_result_free(r);
    return 0;
}
