/* fuzz_video.c: libFuzzer target for the video path: a (mutated) clip goes
 * through demux, decode, motion-vector export (or estimation) and saliency
 * top-K via ovx_select_run, with caps so one input stays cheap: at most
 * 320x240 pixels, 8 sampled frames, the first 2 seconds. Every accepted
 * result must be self-consistent (indices ascending, inside the grid). */
#include <libavutil/log.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_file.h"
#include "select/select.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    av_log_set_level(AV_LOG_QUIET);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file(".vid", data, size);
    ovx_select_params p = ovx_select_default_params();
    p.frames = 8;
    p.tokens = 256;
    p.duration = 2.0;
    p.threads = 1;
    p.max_pixels = 320 * 240;
    p.keep_frames = size & 1; /* both with and without the RGB crops */
    ovx_select_result *r = NULL;
    ovx_error err;
    if (ovx_select_run(path, &p, &r, &err) == OVX_OK) {
        int64_t limit = (int64_t)OVX_SELECT_SLOTS * OVX_SELECT_PER_SLOT;
        for (int64_t i = 0; i < r->n_visible; i++)
            if (r->visible_indices[i] < 0 || r->visible_indices[i] >= limit ||
                (i && r->visible_indices[i] <= r->visible_indices[i - 1]))
                abort();
        if (r->n_slots < 0 || r->n_slots > p.frames)
            abort();
        ovx_select_result_free(r);
    }
    return 0;
}
