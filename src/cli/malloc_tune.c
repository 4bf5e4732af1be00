/* malloc_tune.c: the ovx process's glibc malloc thresholds. Process-wide
 * settings belong to the program, not to the stage libraries, so main() sets
 * them once before any command runs.
 *
 * glibc's malloc by default moves its mmap threshold up to the largest
 * block freed so far and trims the heap top beyond twice that: with the
 * H.264 decoder's per-frame motion-vector buffers (~4.6 MB scratch, ~0.3 MB
 * side data at 720p) and the saliency buffers freed in between, it kept
 * returning memory to the kernel and faulting it back in (35k page faults
 * against 13k for a bare ffmpeg decode of the same clip, ~15% more CPU).
 * Fixed thresholds keep freed blocks below 32 MiB (glibc's maximum) in the
 * heap, at most 64 MiB of free heap top kept: per video, the 64 kept frames
 * (9.6 MB) and the model's token tensor (9.6 MB at 4096 tokens) are then
 * reused heap instead of fresh mappings faulted in page by page (at 8 MiB:
 * ~5% of an extract run over 340x256 clips in page faults). Output is
 * unaffected. */
#include "cli/malloc_tune.h"

#include <stdlib.h> /* defines __GLIBC__ (via <features.h>) for the test below */
#if defined(__GLIBC__)
#include <malloc.h>
#endif

void ovx_malloc_tune(void)
{
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
#endif
}
