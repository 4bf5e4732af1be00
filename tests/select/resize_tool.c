/* resize_tool.c: test helper: `resize_tool IN.rgb SW SH DW DH OUT.rgb` resizes
 * raw RGB24 with ovx_resize_rgb8; `resize_tool IN.rgb SW SH crop SIZE OUT.rgb`
 * applies the shortest-edge + centre-crop helper. RESIZE_TOOL_ISA=N caps the
 * SIMD level (ovx_video_force_simd). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "video/resize.h"
#include "video/simd.h"

int main(int argc, char **argv)
{
    if (argc != 7)
        return 2;
    int sw = atoi(argv[2]), sh = atoi(argv[3]);
    int crop = !strcmp(argv[4], "crop");
    int dw = crop ? atoi(argv[5]) : atoi(argv[4]), dh = atoi(argv[5]);
    size_t n = (size_t)sw * sh * 3, m = (size_t)dw * dh * 3;
    unsigned char *in = malloc(n), *out = malloc(m);
    FILE *f = fopen(argv[1], "rb");
    if (!in || !out || !f || fread(in, 1, n, f) != n)
        return 1;
    fclose(f);
    ovx_error err;
    const char *isa = getenv("RESIZE_TOOL_ISA");
    if (isa)
        ovx_video_force_simd(atoi(isa));
    int rc = crop ? ovx_resize_short_crop(in, sw, sh, sw * 3, dw, out, &err)
                  : ovx_resize_rgb8(in, sw, sh, sw * 3, out, dw, dh, &err);
    if (rc < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    f = fopen(argv[6], "wb");
    if (!f || fwrite(out, 1, m, f) != m)
        return 1;
    fclose(f);
    free(in);
    free(out);
    return 0;
}
