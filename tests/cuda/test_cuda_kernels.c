/* test_cuda_kernels.c: every kernel of cuda/kernels.cu, run through the
 * CUDA-on-host shim (the host build of the real kernel source, the same
 * launch configurations as on a GPU), on awkward shapes (1, 31, 100, 1000,
 * 100003 elements; rows and columns that are not multiples of any block
 * size; norms in place), each against a double-precision reference written
 * here, and, where one exists, the independent loop emulation (emu_ops.c)
 * with the same rounding points (exact or within one bf16 step). The shim's
 * two engines (fibers, OS threads) give byte-identical outputs.
 * Fails, saying so, when ovx was built without the host shim. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "common/timer.h"
#include "cuda/numerics.h"
#include "cuda/ovx_cuda.h"

static uint64_t rs = 0x9E3779B97F4A7C15ULL;

static float rnd(void) /* uniform in [-1, 1) */
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (float)((double)(rs >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static float *frand(size_t n, float scale, float offset)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = scale * rnd() + offset;
    return p;
}

/* bf16 round to nearest even, computed in double from the value (not from
 * bit tricks like numerics.h): the independent reference of every rounding */
static double ref_bf16(double x)
{
    if (x == 0.0 || !isfinite(x))
        return x;
    int e;
    frexp(x, &e);                 /* |x| in [2^(e-1), 2^e) */
    double ulp = ldexp(1.0, e - 8); /* 8 significant bits */
    if (e - 8 < -133)
        ulp = ldexp(1.0, -133);   /* subnormal bf16 */
    double q = x / ulp, f = floor(q), r = q - f;
    if (r > 0.5 || (r == 0.5 && fmod(f, 2.0) != 0.0))
        f += 1.0;
    return f * ulp;
}

static ovx_gpu *host, *emu;
static const size_t sizes[] = {1, 31, 100, 1000, 100003};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void test_elementwise(void)
{
    for (size_t si = 0; si < NSIZES; si++) {
        size_t n = sizes[si];
        float *x = frand(n, 100.0f, 0.0f), *y = frand(n, 1.0f, 0.0f), *y0 = malloc(n * 4);
        ovx_bf16 *b16 = malloc(n * 2), *e16 = malloc(n * 2);
        x[0] = 1.00390625f; /* halfway between two bf16: ties to even */
        CHECK(host->ops->to_bf16(host, x, b16, n) == 0);
        CHECK(emu->ops->to_bf16(emu, x, e16, n) == 0);
        int bad = 0;
        for (size_t i = 0; i < n; i++)
            bad += ovx_nx_from_bf16(b16[i]) != ref_bf16(x[i]);
        CHECK(bad == 0);
        CHECK(memcmp(b16, e16, n * 2) == 0);
        memcpy(y0, y, n * 4);
        CHECK(host->ops->residual_add(host, y, x, n) == 0);
        bad = 0;
        for (size_t i = 0; i < n; i++)
            bad += y[i] != (float)((double)y0[i] + x[i]); /* one float rounding */
        CHECK(bad == 0);
        free(x), free(y), free(y0), free(b16), free(e16);
    }
}

/* shapes rows x cols: single element, prime widths, one wide row */
static const int shapes[][2] = {{1, 1}, {31, 100}, {100, 31}, {3, 1000}, {1, 100003}};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

static void test_rows(void)
{
    for (size_t si = 0; si < NSHAPES; si++) {
        int rows = shapes[si][0], cols = shapes[si][1];
        size_t n = (size_t)rows * cols;
        float *h = frand(n, 4.0f, 0.0f), *b = frand((size_t)cols, 1.0f, 0.0f), *y = malloc(n * 4);
        ovx_bf16 *g16 = malloc(n * 2), *e16 = malloc(n * 2);
        /* the epilogue pass: bias, float32 out, in place (one float add) */
        memcpy(y, h, n * 4);
        CHECK(host->ops->bias_act(host, y, b, OVX_EPI_BIAS, rows, cols, y, NULL) == 0);
        int bad = 0;
        for (size_t i = 0; i < n; i++)
            bad += y[i] != (float)((double)h[i] + b[i % cols]);
        CHECK(bad == 0);
        /* the residual epilogue (out_proj, fc2): x += h + b in place, the
         * bias added first (two float adds, the unfused order); with no
         * bias, x += h; the emulation byte-identical */
        float *x0 = frand(n, 8.0f, 1.0f), *xg = malloc(n * 4), *xe = malloc(n * 4);
        for (int with_b = 0; with_b < 2; with_b++) {
            const float *bb = with_b ? b : NULL;
            memcpy(xg, x0, n * 4);
            memcpy(xe, x0, n * 4);
            CHECK(host->ops->bias_act(host, h, bb, OVX_EPI_BIAS_RESIDUAL, rows, cols, xg, NULL) == 0);
            CHECK(emu->ops->bias_act(emu, h, bb, OVX_EPI_BIAS_RESIDUAL, rows, cols, xe, NULL) == 0);
            for (size_t i = 0; i < n; i++) {
                float v = with_b ? (float)((double)h[i] + b[i % cols]) : h[i];
                bad += xg[i] != (float)((double)x0[i] + v);
            }
            CHECK(bad == 0);
            CHECK(memcmp(xg, xe, n * 4) == 0);
        }
        free(x0), free(xg), free(xe);
        /* no epilogue, bf16 out: just the rounding */
        CHECK(host->ops->bias_act(host, h, b, OVX_EPI_NONE, rows, cols, NULL, g16) == 0);
        for (size_t i = 0; i < n; i++)
            bad += ovx_nx_from_bf16(g16[i]) != ref_bf16(h[i]);
        CHECK(bad == 0);
        /* bias + tanh GELU (cuBLASLt's GELU_BIAS), then bf16 */
        CHECK(host->ops->bias_act(host, h, b, OVX_EPI_GELU_BIAS, rows, cols, NULL, g16) == 0);
        CHECK(emu->ops->bias_act(emu, h, b, OVX_EPI_GELU_BIAS, rows, cols, NULL, e16) == 0);
        double worst = 0, vs_erf = 0;
        for (size_t i = 0; i < n; i++) {
            double v = (double)h[i] + b[i % cols];
            double e = 0.5 * v * (1.0 + tanh(sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
            worst = fmax(worst, fabs(ovx_nx_from_bf16(g16[i]) - e) / (fabs(e) + 1e-4));
            vs_erf = fmax(vs_erf, fabs(e - 0.5 * v * (1.0 + erf(v / sqrt(2.0)))));
        }
        CHECK(worst <= 1.0 / 256);
        CHECK(vs_erf < 5e-4); /* what the CPU's exact GELU would give: well below a bf16 step */
        CHECK(memcmp(g16, e16, n * 2) == 0);
        /* patch packing: k = cols, kpad = next multiple of 8 */
        int kpad = (cols + 7) / 8 * 8;
        ovx_bf16 *p16 = malloc((size_t)rows * kpad * 2);
        memset(p16, 0xff, (size_t)rows * kpad * 2);
        CHECK(host->ops->pack_rows_bf16(host, h, p16, rows, cols, kpad) == 0);
        bad = 0;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < kpad; c++) {
                double e = c < cols ? ref_bf16(h[(size_t)r * cols + c]) : 0.0;
                bad += ovx_nx_from_bf16(p16[(size_t)r * kpad + c]) != e;
            }
        CHECK(bad == 0);
        printf("rows %d x %d: bias, bias + tanh GELU (worst rel %.2e, vs erf GELU %.1e), pack_rows "
               "ok=%d\n", rows, cols, worst, vs_erf, bad == 0);
        free(h), free(b), free(y), free(g16), free(e16), free(p16);
    }
}

/* the residual add fused with the next norm: x += r written back (one
 * float add each), y = norm(x + r) in bf16, against double and against the
 * emulation's add-then-norm; the block-size edge shapes */
static void test_add_norm(void)
{
    static const int nshape[][2] = {{1, 1}, {1, 31}, {31, 100}, {100, 31}, {5, 1000}, {2, 1024}};
    for (size_t si = 0; si < sizeof nshape / sizeof nshape[0]; si++) {
        int rows = nshape[si][0], cols = nshape[si][1];
        size_t n = (size_t)rows * cols;
        float *x = frand(n, 3.0f, 0.7f), *r = frand(n, 2.0f, -0.3f), *w = frand((size_t)cols, 0.5f, 1.0f),
              *b = frand((size_t)cols, 1.0f, 0.0f), *xh = malloc(n * 4), *xe = malloc(n * 4);
        ovx_bf16 *y16 = malloc(n * 2), *ye16 = malloc(n * 2);
        for (int ln = 0; ln < 2; ln++) {
            memcpy(xh, x, n * 4);
            memcpy(xe, x, n * 4);
            CHECK(host->ops->add_norm(host, xh, r, w, ln ? b : NULL, 1e-6f, rows, cols, y16) == 0);
            CHECK(emu->ops->add_norm(emu, xe, r, w, ln ? b : NULL, 1e-6f, rows, cols, ye16) == 0);
            int bad_sum = 0, far = 0;
            double worst16 = 0;
            for (int row = 0; row < rows; row++) {
                double mean = 0, var = 0;
                const size_t o = (size_t)row * cols;
                for (int c = 0; c < cols; c++) {
                    bad_sum += xh[o + c] != x[o + c] + r[o + c];
                    mean += (double)x[o + c] + r[o + c];
                }
                mean = ln ? mean / cols : 0.0;
                for (int c = 0; c < cols; c++) {
                    double v = (double)x[o + c] + r[o + c] - mean;
                    var += v * v;
                }
                var /= cols;
                for (int c = 0; c < cols; c++) {
                    double e = ((double)x[o + c] + r[o + c] - mean) / sqrt(var + 1e-6) * w[c] +
                               (ln ? b[c] : 0.0);
                    worst16 = fmax(worst16, fabs(ovx_nx_from_bf16(y16[o + c]) - e) / (1e-3 + fabs(e)));
                    far += abs((int)y16[o + c] - (int)ye16[o + c]) > 1;
                }
            }
            printf("add_norm (%s) %d x %d: sums exact %d, bf16 worst %.2e, vs emulation >1 step %d\n",
                   ln ? "layernorm" : "rmsnorm", rows, cols, bad_sum == 0, worst16, far);
            CHECK(bad_sum == 0);
            CHECK(memcmp(xh, xe, n * 4) == 0);
            CHECK(worst16 <= 1.0 / 256 + 2e-5);
            CHECK(far == 0); /* only the float reduction order differs */
        }
        free(x), free(r), free(w), free(b), free(xh), free(xe), free(y16), free(ye16);
    }
}

/* LayerNorm (bias) and RMSNorm (no bias), out of place and in place */
static void test_norm(void)
{
    static const int nshape[][2] = {{1, 1}, {1, 31}, {31, 100}, {100, 31}, {5, 1000}};
    for (size_t si = 0; si < sizeof nshape / sizeof nshape[0]; si++) {
        int rows = nshape[si][0], cols = nshape[si][1];
        size_t n = (size_t)rows * cols;
        float *x = frand(n, 3.0f, 0.7f), *w = frand((size_t)cols, 0.5f, 1.0f),
              *b = frand((size_t)cols, 1.0f, 0.0f), *y = malloc(n * 4), *ye = malloc(n * 4),
              *xin = malloc(n * 4);
        ovx_bf16 *y16 = malloc(n * 2), *ye16 = malloc(n * 2);
        for (int ln = 0; ln < 2; ln++) {
            const float *bias = ln ? b : NULL;
            float eps = ln ? 1e-6f : 1e-5f;
            CHECK(host->ops->norm(host, x, w, bias, eps, rows, cols, y, y16) == 0);
            CHECK(emu->ops->norm(emu, x, w, bias, eps, rows, cols, ye, ye16) == 0);
            memcpy(xin, x, n * 4);
            CHECK(host->ops->norm(host, xin, w, bias, eps, rows, cols, xin, NULL) == 0);
            double worst = 0, worst16 = 0, emu_diff = 0;
            for (int r = 0; r < rows; r++) {
                const float *xr = x + (size_t)r * cols;
                double mean = 0, var = 0;
                if (ln) {
                    for (int c = 0; c < cols; c++)
                        mean += xr[c];
                    mean /= cols;
                }
                for (int c = 0; c < cols; c++)
                    var += (xr[c] - mean) * (xr[c] - mean);
                var /= cols;
                for (int c = 0; c < cols; c++) {
                    size_t i = (size_t)r * cols + c;
                    double e = (xr[c] - mean) / sqrt(var + eps) * w[c] + (ln ? b[c] : 0.0);
                    worst = fmax(worst, fabs(y[i] - e) / (1.0 + fabs(e)));
                    worst16 = fmax(worst16, fabs(ovx_nx_from_bf16(y16[i]) - e) / (1e-3 + fabs(e)));
                    emu_diff = fmax(emu_diff, fabs(y[i] - ye[i]) / (1.0 + fabs(e)));
                }
            }
            printf("%s %d x %d: worst %.2e, bf16 %.2e, vs emulation %.2e\n", ln ? "layernorm" : "rmsnorm",
                   rows, cols, worst, worst16, emu_diff);
            CHECK(worst <= 2e-5);
            CHECK(worst16 <= 1.0 / 256 + 2e-5);
            CHECK(emu_diff <= 2e-5);   /* only the float reduction order differs */
            CHECK(memcmp(xin, y, n * 4) == 0); /* in place == out of place */
        }
        free(x), free(w), free(b), free(y), free(ye), free(xin), free(y16), free(ye16);
    }
}

static void test_softmax(void)
{
    static const int sshape[][2] = {{1, 1}, {1, 31}, {31, 100}, {100, 31}, {3, 1000}, {1, 4099}};
    for (size_t si = 0; si < sizeof sshape / sizeof sshape[0]; si++) {
        int rows = sshape[si][0], cols = sshape[si][1];
        size_t n = (size_t)rows * cols;
        float *s = frand(n, 8.0f, 30.0f); /* large offset: the max must be subtracted */
        ovx_bf16 *p = malloc(n * 2), *pe = malloc(n * 2);
        float *inv = malloc((size_t)rows * 4), *inve = malloc((size_t)rows * 4);
        CHECK(host->ops->softmax_rows(host, s, p, inv, rows, cols) == 0);
        CHECK(emu->ops->softmax_rows(emu, s, pe, inve, rows, cols) == 0);
        double worst = 0, sum_err = 0, inv_err = 0;
        int far = 0, bad_max = 0;
        for (int r = 0; r < rows; r++) {
            const float *sr = s + (size_t)r * cols;
            double mx = -INFINITY, sum = 0, got_sum = 0, pmax = 0, psum = 0;
            for (int c = 0; c < cols; c++)
                mx = fmax(mx, sr[c]);
            for (int c = 0; c < cols; c++)
                sum += exp((double)sr[c] - mx);
            /* P is exp(s - max) times a power of two (the integer base-2
             * offset) that keeps the largest P in (1/2, 1]; inv = 1/sum P */
            for (int c = 0; c < cols; c++)
                pmax = fmax(pmax, ovx_nx_from_bf16(p[(size_t)r * cols + c]));
            bad_max += !(pmax > 0.5 && pmax <= 1.0);
            for (int c = 0; c < cols; c++) {
                size_t i = (size_t)r * cols + c;
                double e = exp((double)sr[c] - mx) / sum, got = ovx_nx_from_bf16(p[i]) * inv[r];
                worst = fmax(worst, fabs(got - e) / (e + 1e-30));
                got_sum += got;
                psum += ovx_nx_from_bf16(p[i]);
                /* the emulation rounds the same float: equal or one bf16 step apart */
                far += abs((int)p[i] - (int)pe[i]) > 1;
            }
            sum_err = fmax(sum_err, fabs(got_sum - 1.0));
            inv_err = fmax(inv_err, fabs(inv[r] * psum - 1.0));
            inv_err = fmax(inv_err, fabs(inve[r] * psum - 1.0));
        }
        printf("softmax %d x %d: worst rel %.2e, 1/rowsum rel %.2e, normalised row sums off by "
               "%.2e\n", rows, cols, worst, inv_err, sum_err);
        CHECK(bad_max == 0);
        /* p * inv vs the exact softmax: the bf16 rounding of p (<= 2^-8
         * relative) and that of the row sum of rounded p (<= 2^-8) */
        CHECK(worst <= 2.0 / 256 + 1e-5);
        CHECK(inv_err <= 1e-5 * (1.0 + log2(cols)));
        CHECK(sum_err <= 1e-5); /* inv is 1 / the sum of the rounded p */
        CHECK(far == 0);
        free(s), free(p), free(pe), free(inv), free(inve);
    }
}

/* o = bf16(f * inv[head, row]) on head counts and row counts around the
 * block size, output rows wider than the heads (o_ld > heads * 64) */
static void test_attention_out(void)
{
    static const int shape[][2] = {{1, 1}, {1, 16}, {31, 3}, {100, 2}, {1000, 1}};
    for (size_t si = 0; si < sizeof shape / sizeof shape[0]; si++) {
        int rows = shape[si][0], heads = shape[si][1];
        int f_ld = heads * 64 + 8, o_ld = heads * 64 + 16;
        size_t nf = (size_t)rows * f_ld, no = (size_t)rows * o_ld;
        float *f = frand(nf, 4.0f, 0.0f), *inv = frand((size_t)rows * heads, 0.4f, 0.5f);
        ovx_bf16 *o = malloc(no * 2), *oe = malloc(no * 2);
        memset(o, 0x5a, no * 2);
        memset(oe, 0x5a, no * 2);
        CHECK(host->ops->attention_out(host, f, f_ld, inv, o, o_ld, rows, heads) == 0);
        CHECK(emu->ops->attention_out(emu, f, f_ld, inv, oe, o_ld, rows, heads) == 0);
        int bad = 0, untouched = 0;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < o_ld; c++) {
                size_t i = (size_t)r * o_ld + c;
                if (c >= heads * 64) {
                    untouched += o[i] != 0x5a5a;
                    continue;
                }
                double e = (double)f[(size_t)r * f_ld + c] * inv[(size_t)(c / 64) * rows + r];
                /* one float product, then one bf16 rounding */
                bad += ovx_nx_from_bf16(o[i]) != ref_bf16((float)e);
            }
        printf("attention_out %d rows x %d heads: %d wrong, %d padding written\n", rows, heads,
               bad, untouched);
        CHECK(bad == 0);
        CHECK(untouched == 0);
        CHECK(memcmp(o, oe, no * 2) == 0);
        free(f), free(inv), free(o), free(oe);
    }
}

static void test_rope(void)
{
    static const int rshape[][2] = {{1, 1}, {31, 2}, {100, 3}, {1000, 1}};
    double inv[32];
    for (int j = 0; j < 8; j++)
        inv[j] = pow(1e4, -(double)j / 8.0);
    for (int j = 0; j < 12; j++)
        inv[8 + j] = inv[20 + j] = pow(1e4, -(double)j / 12.0);
    for (size_t si = 0; si < sizeof rshape / sizeof rshape[0]; si++) {
        int n = rshape[si][0], heads = rshape[si][1];
        int32_t *pos = malloc((size_t)n * 3 * sizeof *pos);
        for (int t = 0; t < n; t++) {
            pos[3 * t] = t * 7 % 64;
            pos[3 * t + 1] = t % 37;
            pos[3 * t + 2] = t * 3 % 41;
        }
        float *c = malloc((size_t)n * 64 * 4), *s = malloc((size_t)n * 64 * 4);
        CHECK(host->ops->rope_tables(host, pos, inv, n, c, s) == 0);
        const size_t d = (size_t)heads * 64, nx = (size_t)n * d;
        float *x = frand(3 * nx, 2.0f, 0.0f); /* q, k, v side by side: [n, 3 d] */
        ovx_bf16 *y = malloc(3 * nx * 2), *ye = malloc(3 * nx * 2);
        CHECK(host->ops->rope_qkv(host, x, c, s, y, y + nx, y + 2 * nx, n, heads) == 0);
        CHECK(emu->ops->rope_qkv(emu, x, c, s, ye, ye + nx, ye + 2 * nx, n, heads) == 0);
        int bad_v = 0;
        double worst_tab = 0, worst = 0;
        for (int t = 0; t < n; t++) {
            double ang[64];
            for (int j = 0; j < 32; j++) {
                int p = j < 8 ? pos[3 * t] : j < 20 ? pos[3 * t + 1] : pos[3 * t + 2];
                ang[j] = ang[j + 32] = p * (j < 8 ? pow(1e4, -j / 8.0) : pow(1e4, -((j - 8) % 12) / 12.0));
            }
            for (int k = 0; k < 64; k++) {
                worst_tab = fmax(worst_tab, fabs(c[t * 64 + k] - cos(ang[k])));
                worst_tab = fmax(worst_tab, fabs(s[t * 64 + k] - sin(ang[k])));
            }
            for (int part = 0; part < 3; part++)
                for (int h = 0; h < heads; h++)
                    for (int k = 0; k < 64; k++) {
                        const float *xh = x + (size_t)t * 3 * d + part * d + h * 64;
                        double got = ovx_nx_from_bf16(y[part * nx + t * d + h * 64 + k]);
                        if (part == 2) { /* v: only rounded */
                            bad_v += got != ref_bf16(xh[k]);
                            continue;
                        }
                        double r = k % 2 == 0 ? -xh[k + 1] : xh[k - 1];
                        double e = xh[k] * cos(ang[k]) + r * sin(ang[k]);
                        worst = fmax(worst, fabs(got - e) / (fabs(e) + 1e-3));
                    }
        }
        CHECK(bad_v == 0);
        printf("rope %d tokens x %d heads: tables %.2e, rotation worst rel %.2e\n", n, heads,
               worst_tab, worst);
        CHECK(worst_tab <= 1e-7);
        CHECK(worst <= 1.0 / 256 + 1e-6);
        CHECK(memcmp(y, ye, 3 * nx * 2) == 0);
        /* v NULL (v from its own GEMM): the input rows hold q and k only,
         * [n, 2 d]; q and k as above, byte for byte, nothing else written */
        float *x2 = malloc(2 * nx * 4);
        for (int t = 0; t < n; t++)
            memcpy(x2 + (size_t)t * 2 * d, x + (size_t)t * 3 * d, 2 * d * 4);
        ovx_bf16 *y2 = malloc(3 * nx * 2), *ye2 = malloc(3 * nx * 2);
        memset(y2, 0xab, 3 * nx * 2);
        memset(ye2, 0xab, 3 * nx * 2);
        CHECK(host->ops->rope_qkv(host, x2, c, s, y2, y2 + nx, NULL, n, heads) == 0);
        CHECK(emu->ops->rope_qkv(emu, x2, c, s, ye2, ye2 + nx, NULL, n, heads) == 0);
        CHECK(memcmp(y2, y, 2 * nx * 2) == 0);
        CHECK(memcmp(ye2, y, 2 * nx * 2) == 0);
        int untouched = 1;
        for (size_t i = 2 * nx; i < 3 * nx; i++)
            untouched &= y2[i] == 0xabab && ye2[i] == 0xabab;
        CHECK(untouched);
        free(x2), free(y2), free(ye2);
        free(pos), free(c), free(s), free(x), free(y), free(ye);
    }
}

/* The same kernels with every thread of a block an OS thread (real
 * concurrency, std::barrier): outputs byte-identical to the fiber engine's
 * (the kernels' reduction order does not depend on scheduling). Small
 * shapes: an OS-thread barrier costs microseconds per thread. */
static void test_os_threads(void)
{
    const int rows = 7, cols = 100;
    size_t n = (size_t)rows * cols;
    float *x = frand(n, 3.0f, 0.5f), *w = frand((size_t)cols, 0.5f, 1.0f),
          *b = frand((size_t)cols, 1.0f, 0.0f), *y[2] = {malloc(n * 4), malloc(n * 4)};
    float *xa[2] = {malloc(n * 4), malloc(n * 4)};
    ovx_bf16 *an[2] = {malloc(n * 2), malloc(n * 2)};
    ovx_bf16 *p[2] = {malloc(n * 2), malloc(n * 2)}, *r[2] = {malloc(n * 2), malloc(n * 2)},
             *g[2] = {malloc(n * 2), malloc(n * 2)};
    int32_t pos[3 * 31];
    double inv[32];
    for (int i = 0; i < 32; i++)
        inv[i] = 1.0 / (i + 1);
    for (int i = 0; i < 3 * 31; i++)
        pos[i] = i % 17;
    float *c = malloc(31 * 64 * 4), *sn = malloc(31 * 64 * 4), inv_s[2][7];
    for (int mode = 0; mode < 2; mode++) {
        ovx_cuda_host_set_threads(mode);
        CHECK(host->ops->norm(host, x, w, b, 1e-6f, rows, cols, y[mode], NULL) == 0);
        memcpy(xa[mode], x, n * 4); /* add_norm: x + x written back, then LayerNorm */
        CHECK(host->ops->add_norm(host, xa[mode], x, w, b, 1e-6f, rows, cols, an[mode]) == 0);
        CHECK(host->ops->softmax_rows(host, x, p[mode], inv_s[mode], rows, cols) == 0);
        CHECK(host->ops->bias_act(host, x, b, OVX_EPI_GELU_BIAS, rows, cols, NULL, g[mode]) == 0);
        CHECK(host->ops->rope_tables(host, pos, inv, 31, c, sn) == 0);
        /* 3 tokens of one head: x as [3, 192] (q, k, v) */
        CHECK(host->ops->rope_qkv(host, x, c, sn, r[mode], r[mode] + 3 * 64, r[mode] + 6 * 64, 3, 1) == 0);
    }
    ovx_cuda_host_set_threads(0);
    CHECK(memcmp(y[0], y[1], n * 4) == 0);
    CHECK(memcmp(xa[0], xa[1], n * 4) == 0);
    CHECK(memcmp(an[0], an[1], n * 2) == 0);
    CHECK(memcmp(p[0], p[1], n * 2) == 0);
    CHECK(memcmp(inv_s[0], inv_s[1], sizeof inv_s[0]) == 0);
    CHECK(memcmp(g[0], g[1], n * 2) == 0);
    CHECK(memcmp(r[0], r[1], (size_t)9 * 64 * 2) == 0);
    free(x), free(w), free(b), free(c), free(sn);
    for (int i = 0; i < 2; i++)
        free(y[i]), free(p[i]), free(r[i]), free(g[i]), free(xa[i]), free(an[i]);
}

int main(void)
{
    if (!ovx_cuda_host_shim_compiled()) {
        fprintf(stderr, "FAIL: ovx was built without the CUDA-on-host shim (no C++ compiler): "
                        "the kernel sources cannot run here\n");
        return 1;
    }
    CHECK(ovx_gpu_open_host(&host, NULL) == 0);
    CHECK(ovx_gpu_open_emu(&emu, NULL) == 0);
    if (!host || !emu)
        return CHECK_RESULT();
    printf("device: %s\n", host->ops->name);
    struct { const char *name; void (*fn)(void); } parts[] = {
        {"elementwise", test_elementwise}, {"rows", test_rows}, {"norm", test_norm}, {"add_norm", test_add_norm},
        {"softmax", test_softmax}, {"attention_out", test_attention_out}, {"rope", test_rope}, {"OS threads", test_os_threads}};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        double t0 = ovx_now_ms();
        parts[i].fn();
        printf("-- %s: %.0f ms\n", parts[i].name, ovx_now_ms() - t0);
    }
    ovx_gpu_close(host);
    ovx_gpu_close(emu);
    return CHECK_RESULT();
}
