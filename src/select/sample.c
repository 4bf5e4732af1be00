/* sample.c: which decoded frames fill the temporal slots: linspace over
 * frame indices, or by timestamp (--fps, --start, --duration). */
#include <math.h>

#include "select/pass.h"
#include "select/topk.h"

/* splitmix64: a well-mixed 64-bit value from a counter. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Temporal jitter: frame i of F drawn uniformly from its share
 * [a + i*L/F, a + (i+1)*L/F) of the L = b - a frames (the share's first
 * frame when it is empty), so indices stay ascending and inside [a, b). */
static void jitter_i64(int64_t a, int64_t b, int F, uint64_t seed, int64_t *idx)
{
    int64_t L = b - a;
    for (int i = 0; i < F; i++) {
        int64_t lo = a + (int64_t)((__int128)L * i / F), hi = a + (int64_t)((__int128)L * (i + 1) / F);
        uint64_t span = hi > lo ? (uint64_t)(hi - lo) : 1;
        idx[i] = lo + (int64_t)(mix64(seed ^ mix64((uint64_t)i)) % span);
    }
}

/* Frame indices (ascending, may repeat) and slots for n decoded frames whose
 * display times are t[n] (sorted; NULL: unknown). Returns the count F. */
int ovx_select_sample(const ovx_select_params *p, int64_t n, const double *t, double fps, int64_t *idx,
                      int *slots, ovx_error *err)
{
    int F = p->frames;
    int timed = p->fps > 0 || p->start > 0 || p->duration > 0;
    if (!timed) {
        if (p->temporal_jitter)
            jitter_i64(0, n, F, (uint64_t)p->jitter_seed, idx);
        else
            ovx_linspace_i64(0, (double)(n - 1), F, idx);
    } else {
        /* times: from the packets, else from the frame rate */
        double step = fps > 0 ? 1.0 / fps : 1.0 / 25.0;
        double t0 = t ? t[0] : 0.0;
#define TIME(i) (t ? t[i] - t0 : (double)(i) * step)
        double end = p->duration > 0 ? p->start + p->duration : INFINITY;
        int64_t a = 0;
        while (a < n && TIME(a) < p->start)
            a++;
        int64_t b = a;
        while (b < n && TIME(b) < end)
            b++;
        if (b <= a)
            return ovx_error_set(err, OVX_EUSAGE, "no frames between %.3f s and %.3f s (video has %lld)",
                                 p->start, end, (long long)n);
        if (p->fps > 0) {
            int64_t m = (int64_t)floor(((isfinite(end) ? end : TIME(b - 1) + 1e-9) - p->start) * p->fps - 1e-9) + 1;
            if (m < 1)
                m = 1;
            int64_t sel[OVX_SELECT_SLOTS];
            int cnt = m > OVX_SELECT_SLOTS ? OVX_SELECT_SLOTS : (int)m;
            ovx_linspace_i64(0, (double)(m - 1), cnt, sel);
            int64_t k = a;
            for (int i = 0; i < cnt; i++) {
                double target = p->start + (double)sel[i] / p->fps;
                while (k + 1 < b && TIME(k + 1) <= target + 1e-9)
                    k++;
                idx[i] = k;
            }
            F = cnt;
        } else if (p->temporal_jitter) {
            jitter_i64(a, b, F, (uint64_t)p->jitter_seed, idx);
        } else {
            ovx_linspace_i64((double)a, (double)(b - 1), F, idx);
        }
#undef TIME
    }
    /* F frames spread over the 64 temporal slots as the model card does for
     * 16 frames (identity for F = 64), so slot spacing stays proportional
     * to time in every mode */
    int64_t s[OVX_SELECT_SLOTS];
    ovx_linspace_i64(0, OVX_SELECT_SLOTS - 1, F, s);
    for (int i = 0; i < F; i++)
        slots[i] = (int)s[i];
    return F;
}

