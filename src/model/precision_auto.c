/* precision_auto.c: `--precision auto`: bf16 only where this CPU runs it
 * faster than fp32 (see model.h). bf16 is no win everywhere: Intel cores
 * without AMX run the bf16 dot product at the fp32 FMA rate and pay the
 * conversions on top (issue 24 measured bf16 at 0.53x fp32 there), while
 * Zen 4/5 run it 1.6-1.8x faster. So: decided once per process from the CPU
 * (no oneDNN or no AVX512_BF16/AMX: fp32; AMX-BF16: bf16) and otherwise a
 * short calibration: one linear layer of the forward's shape (256 rows,
 * 1024 -> 1024, one thread) timed in fp32 and in bf16, best of 5 each after
 * a warm-up; bf16 when it is at least OVX_BF16_AUTO_GAIN times faster.
 * The measurement is kept per machine (precision_cache.h), so the choice does
 * not move with the load from one run to the next. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timer.h"
#include "model/mm.h"
#include "model/model.h"
#include "model/precision_cache.h"

#define CAL_ROWS 256
#define CAL_DIM 1024
#define CAL_REPS 5

/* best-of-CAL_REPS milliseconds of one linear layer, fp32 (wb NULL) or bf16 */
static double time_linear(ovx_mm *c, float *out, const float *x, const float *w, const ovx_mm_weight *wb)
{
    ovx_error err;
    double best = -1;
    for (int r = 0; r <= CAL_REPS; r++) { /* r == 0: warm-up (oneDNN makes its kernel) */
        double t0 = ovx_now_ms();
        if (ovx_mm_linear(c, out, x, w, wb, NULL, NULL, 1, CAL_ROWS, CAL_DIM, CAL_DIM, 1, &err))
            return -1;
        double t = ovx_now_ms() - t0;
        if (r > 0 && (best < 0 || t < best))
            best = t;
    }
    return best;
}

/* bf16 / fp32 speed of this CPU's matmuls, 0 when it cannot be measured */
static double measure(void)
{
    ovx_mm *c = NULL;
    ovx_mm_weight *wb = NULL;
    ovx_error err;
    double ratio = 0;
    char no[200];
    if (!ovx_mm_bf16_available(no, sizeof no))
        return 0;
    size_t n = (size_t)CAL_DIM * CAL_DIM;
    float *w = malloc(n * sizeof *w), *x = malloc((size_t)CAL_ROWS * CAL_DIM * sizeof *x),
          *out = malloc((size_t)CAL_ROWS * CAL_DIM * sizeof *out);
    if (w && x && out && ovx_mm_create(1, &c, &err) == 0) {
        uint32_t s = 12345; /* any values: the time does not depend on them */
        for (size_t i = 0; i < n; i++)
            w[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) * (1.0f / 16777216.0f) - 0.5f;
        for (size_t i = 0; i < (size_t)CAL_ROWS * CAL_DIM; i++)
            x[i] = w[i % n];
        if (ovx_mm_weight_create(c, w, CAL_DIM, CAL_DIM, &wb, &err) == 0) {
            double f = time_linear(c, out, x, w, NULL), b = time_linear(c, out, x, w, wb);
            if (f > 0 && b > 0)
                ratio = f / b;
        }
    }
    ovx_mm_weight_free(wb);
    ovx_mm_free(c);
    free(w);
    free(x);
    free(out);
    return ratio;
}

static char kept_where[4200]; /* where the ratio is kept ("": measured by this process) */

static int cpu_amx(void)
{
    __builtin_cpu_init();
#if defined(__clang__) && __clang_major__ < 16
    return 0;
#else
    return __builtin_cpu_supports("amx-bf16");
#endif
}

double ovx_precision_bf16_speedup(void)
{
    static int done;
    static double ratio;
    if (!done) {
        done = 1;
        const char *hook = getenv("OVX_PRECISION_CALIBRATION"); /* test hook: the ratio to assume */
        char *end;
        double v = hook && *hook ? strtod(hook, &end) : 0;
        char no[200];
        if (hook && *hook && !*end && v > 0)
            ratio = v;
        else if (!ovx_mm_bf16_available(no, sizeof no))
            ratio = 0;
        else
            ratio = ovx_precision_cached_ratio(1, cpu_amx(), measure, kept_where, sizeof kept_where);
    }
    return ratio;
}

int ovx_precision_auto(char *why, size_t len)
{
    char no[200] = "";
    if (!ovx_mm_bf16_available(no, sizeof no)) {
        snprintf(why, len, "auto: fp32 (%s)", no);
        return OVX_PRECISION_FP32;
    }
    int amx = cpu_amx();
    const char *hook = getenv("OVX_PRECISION_CALIBRATION");
    if (amx && !(hook && *hook)) {
        snprintf(why, len, "auto: bf16 (AMX-BF16)");
        return OVX_PRECISION_BF16;
    }
    double r = ovx_precision_bf16_speedup();
    if (r <= 0) {
        snprintf(why, len, "auto: fp32 (the bf16 matmul could not be timed)");
        return OVX_PRECISION_FP32;
    }
    int bf16 = r >= OVX_BF16_AUTO_GAIN;
    snprintf(why, len, "auto: %s (bf16 matmul measured at %.2fx fp32 on this CPU; bf16 from %.2fx%s%s)",
             bf16 ? "bf16" : "fp32", r, OVX_BF16_AUTO_GAIN, kept_where[0] ? "; " : "", kept_where);
    return bf16 ? OVX_PRECISION_BF16 : OVX_PRECISION_FP32;
}
