/* test_cuda_ops.c: the CUDA forward's ops (cuda/ops.h) on the host emulation
 * of the device and on the real kernel source run by the CUDA-on-host shim
 * (whole forward included: packed batch vs the CPU forward), each against a double-precision reference written here from
 * the spec: linear (GEMM transposes, bias in float32), attention (chunked
 * strided-batched GEMMs + row softmax; self and pooling shapes), 3D RoPE
 * (tables from the uploaded model, rotation with the interleaved partner),
 * LayerNorm/RMSNorm, bias + exact GELU, and --device parsing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "engine/engine.h"
#include "cuda/numerics.h"
#include "cuda/ops.h"
#include "model/model_internal.h"

static uint64_t rs = 88172645463325252ULL;

static float rnd(void) /* bf16-exact value in [-1, 1) */
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    float f = (float)((double)(rs >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    return ovx_nx_from_bf16(ovx_nx_to_bf16(f));
}

static double rel_l2(const double *ref, const float *got, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += (got[i] - ref[i]) * (got[i] - ref[i]);
        den += ref[i] * ref[i];
    }
    return sqrt(num / den);
}

static void test_device_parse(void)
{
    ovx_device d;
    CHECK(ovx_device_parse("auto", &d, NULL) == 0 && d.kind == OVX_DEVICE_AUTO);
    CHECK(ovx_device_parse("cpu", &d, NULL) == 0 && d.kind == OVX_DEVICE_CPU);
    CHECK(ovx_device_parse("cuda", &d, NULL) == 0 && d.kind == OVX_DEVICE_CUDA && d.index == 0);
    CHECK(ovx_device_parse("cuda:3", &d, NULL) == 0 && d.kind == OVX_DEVICE_CUDA && d.index == 3);
    const char *bad[] = {"", "gpu", "cuda:", "cuda:-1", "cuda:1x", "cuda:99999", "CPU"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(ovx_device_parse(bad[i], &d, NULL) == OVX_EUSAGE);
    ovx_device want = {OVX_DEVICE_CPU, 0, 0}, got;
    char note[256];
    CHECK(ovx_device_resolve(&want, &got, note, sizeof note, NULL) == 0 && got.kind == OVX_DEVICE_CPU &&
          note[0] == '\0');
}

/* the three epilogues (none, bias, bias + tanh GELU), float32 and bf16
 * outputs, through the device's linear path (on the emulation: GEMM +
 * epilogue pass, the fallback of a device without cuBLASLt) */
static void test_linear(ovx_cuda_model *m)
{
    enum { M = 5, IN = 24, OUT = 7 };
    ovx_bf16 x[M * IN], w[OUT * IN], y16[M * OUT];
    float xf[M * IN], wf[OUT * IN], b[OUT], y[M * OUT], ws[M * OUT];
    for (int i = 0; i < M * IN; i++)
        x[i] = ovx_nx_to_bf16(xf[i] = rnd());
    for (int i = 0; i < OUT * IN; i++)
        w[i] = ovx_nx_to_bf16(wf[i] = rnd());
    for (int i = 0; i < OUT; i++)
        b[i] = rnd();
    ovx_cuda_linear_w l = {.w = w, .b = b, .out = OUT, .in = IN};
    for (int epi = OVX_EPI_NONE; epi <= OVX_EPI_GELU_BIAS; epi++)
        for (int out16 = 0; out16 < 2; out16++) {
            CHECK(ovx_cuda_linear(m, &l, epi, x, M, out16 ? NULL : y, out16 ? y16 : NULL, ws,
                                  NULL) == 0);
            double worst = 0;
            for (int r = 0; r < M; r++)
                for (int o = 0; o < OUT; o++) {
                    double e = epi != OVX_EPI_NONE ? b[o] : 0.0;
                    for (int i = 0; i < IN; i++)
                        e += (double)xf[r * IN + i] * wf[o * IN + i];
                    if (epi == OVX_EPI_GELU_BIAS)
                        e = 0.5 * e * (1.0 + tanh(sqrt(2.0 / M_PI) * (e + 0.044715 * e * e * e)));
                    double got = out16 ? ovx_nx_from_bf16(y16[r * OUT + o]) : y[r * OUT + o];
                    worst = fmax(worst, fabs(e - got) / (out16 ? fabs(e) + 1e-3 : 1.0));
                }
            printf("linear epilogue %d, %s out: worst %.2e\n", epi, out16 ? "bf16" : "float32", worst);
            CHECK(worst <= (out16 ? 1.0 / 256 + 1e-5 : 1e-5));
        }
}

/* reference attention: q [nq, D], k, v [nk, D], heads of 64, scale 1/8 */
static void ref_attention(const float *q, const float *k, const float *v, int nq, int nk, int heads,
                          double *out)
{
    int d = heads * 64;
    double *s = malloc((size_t)nk * sizeof *s);
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < nq; i++) {
            double mx = -1e300, sum = 0;
            for (int j = 0; j < nk; j++) {
                double dot = 0;
                for (int c = 0; c < 64; c++)
                    dot += (double)q[i * d + h * 64 + c] * k[j * d + h * 64 + c];
                s[j] = dot / 8.0;
                mx = fmax(mx, s[j]);
            }
            for (int j = 0; j < nk; j++)
                sum += (s[j] = exp(s[j] - mx));
            for (int c = 0; c < 64; c++) {
                double acc = 0;
                for (int j = 0; j < nk; j++)
                    acc += s[j] / sum * v[j * d + h * 64 + c];
                out[i * d + h * 64 + c] = acc;
            }
        }
    free(s);
}

static void test_attention(ovx_cuda_model *m)
{
    const int heads = m->cfg.num_heads, d = m->cfg.hidden_size, n = 37;
    size_t nd = (size_t)n * d;
    float *qf = malloc(nd * 4), *kf = malloc(nd * 4), *vf = malloc(nd * 4), *of = malloc(nd * 4);
    ovx_bf16 *q = malloc(nd * 2), *k = malloc(nd * 2), *v = malloc(nd * 2), *o1 = malloc(nd * 2),
             *o2 = malloc(nd * 2);
    double *ref = malloc(nd * sizeof *ref);
    for (size_t i = 0; i < nd; i++) {
        q[i] = ovx_nx_to_bf16(qf[i] = 3.0f * rnd()); /* peaked softmax rows */
        k[i] = ovx_nx_to_bf16(kf[i] = rnd());
        v[i] = ovx_nx_to_bf16(vf[i] = rnd());
    }
    float *s = malloc(OVX_CUDA_ATTN_SCRATCH(heads, n, n) * 4);
    ovx_bf16 *p = malloc((size_t)heads * n * n * 2);
    /* self attention in chunks of 5 queries (8 chunks, last one 2 rows) */
    CHECK(ovx_cuda_attention(m, q, d, n, k, v, d, n, o1, d, 5, s, p, NULL) == 0);
    CHECK(ovx_cuda_attention(m, q, d, n, k, v, d, n, o2, d, n, s, p, NULL) == 0);
    CHECK(memcmp(o1, o2, nd * 2) == 0); /* chunking does not change the numbers */
    ref_attention(qf, kf, vf, n, n, heads, ref);
    for (size_t i = 0; i < nd; i++)
        of[i] = ovx_nx_from_bf16(o1[i]);
    double e = rel_l2(ref, of, nd);
    printf("attention 37x37, chunk 5: rel L2 %.3e\n", e);
    CHECK(e < 1e-2);
    /* pooling shape: one query row against 37 keys */
    CHECK(ovx_cuda_attention(m, q + 4 * d, d, 1, k, v, d, n, o1, d, 1, s, p, NULL) == 0);
    ref_attention(qf + 4 * d, kf, vf, 1, n, heads, ref);
    for (int i = 0; i < d; i++)
        of[i] = ovx_nx_from_bf16(o1[i]);
    e = rel_l2(ref, of, (size_t)d);
    printf("attention pool 1x37: rel L2 %.3e\n", e);
    CHECK(e < 1e-2);
    /* chunk choice stays within the scratch budget */
    size_t saved = m->scratch_bytes;
    m->scratch_bytes = (size_t)128 << 20;
    int qc = ovx_cuda_attention_chunk(m, 4096, 4096);
    CHECK(qc >= 64 && OVX_CUDA_ATTN_SCRATCH(m->cfg.num_heads, qc, 4096) * 4 +
                          (size_t)m->cfg.num_heads * qc * 4096 * 2 <= m->scratch_bytes);
    CHECK(ovx_cuda_attention_chunk(m, 10, 10) == 10);
    m->scratch_bytes = saved;
    free(qf), free(kf), free(vf), free(of), free(q), free(k), free(v), free(o1), free(o2);
    free(ref), free(s), free(p);
}

static void test_rope(ovx_cuda_model *m)
{
    const int heads = m->cfg.num_heads, d = m->cfg.hidden_size, n = 3;
    const int32_t pos[3 * 3] = {0, 0, 0, 5, 3, 11, 63, 31, 2};
    float cs[3 * 64], sn[3 * 64], x[3 * 3 * 256];
    ovx_bf16 y[3 * 3 * 256];
    CHECK(d <= 256);
    for (int i = 0; i < 3 * n * d; i++)
        x[i] = rnd();
    CHECK(ovx_cuda_rope3d_tables(m, pos, n, cs, sn, NULL) == 0);
    /* x: the fused QKV output [n, 3 d]; q and k rotated, v rounded */
    CHECK(ovx_cuda_rope3d_apply(m, x, cs, sn, y, y + n * d, y + 2 * n * d, n, NULL) == 0);
    double worst = 0;
    for (int t = 0; t < n; t++) {
        double ang[64];
        for (int j = 0; j < 32; j++) {
            double a = j < 8 ? pos[3 * t] * pow(1e4, -j / 8.0)
                     : j < 20 ? pos[3 * t + 1] * pow(1e4, -(j - 8) / 12.0)
                              : pos[3 * t + 2] * pow(1e4, -(j - 20) / 12.0);
            ang[j] = ang[j + 32] = a;
        }
        for (int part = 0; part < 3; part++)
            for (int h = 0; h < heads; h++)
                for (int k = 0; k < 64; k++) {
                    const float *xh = x + t * 3 * d + part * d + h * 64;
                    double r = k % 2 == 0 ? -xh[k + 1] : xh[k - 1];
                    double e = part == 2 ? xh[k] : xh[k] * cos(ang[k]) + r * sin(ang[k]);
                    double got = ovx_nx_from_bf16(y[part * n * d + t * d + h * 64 + k]);
                    worst = fmax(worst, fabs(got - e) / (fabs(e) + 1e-3));
                }
    }
    printf("rope3d: worst relative error %.3e\n", worst);
    CHECK(worst <= 1.0 / 256); /* one bf16 rounding */
}

static void test_norms_gelu(ovx_cuda_model *m)
{
    const int d = m->cfg.hidden_size, rows = 3;
    float *x = malloc((size_t)rows * d * 4), *y = malloc((size_t)rows * d * 4), *w = malloc(d * 4),
          *b = malloc(d * 4);
    ovx_bf16 *y16 = malloc((size_t)rows * d * 2);
    for (int i = 0; i < rows * d; i++)
        x[i] = 2.0f * rnd() + 0.5f;
    for (int i = 0; i < d; i++) {
        w[i] = 1.0f + rnd();
        b[i] = rnd();
    }
    ovx_cuda_norm_w ln = {w, b}, rms = {w, NULL};
    CHECK(ovx_cuda_layernorm(m, &ln, x, rows, y, y16, NULL) == 0);
    double worst = 0, worst16 = 0;
    for (int r = 0; r < rows; r++) {
        double mean = 0, var = 0;
        for (int c = 0; c < d; c++)
            mean += x[r * d + c];
        mean /= d;
        for (int c = 0; c < d; c++)
            var += (x[r * d + c] - mean) * (x[r * d + c] - mean);
        var /= d;
        for (int c = 0; c < d; c++) {
            double e = (x[r * d + c] - mean) / sqrt(var + 1e-6) * w[c] + b[c];
            worst = fmax(worst, fabs(e - y[r * d + c]));
            worst16 = fmax(worst16, fabs(e - ovx_nx_from_bf16(y16[r * d + c])) / (fabs(e) + 1e-3));
        }
    }
    CHECK_NEAR(worst, 0.0, 1e-5);
    CHECK(worst16 <= 1.0 / 256);
    CHECK(ovx_cuda_rmsnorm(m, &rms, x, rows, y16, NULL) == 0);
    worst16 = 0;
    for (int r = 0; r < rows; r++) {
        double ms = 0;
        for (int c = 0; c < d; c++)
            ms += (double)x[r * d + c] * x[r * d + c];
        ms /= d;
        for (int c = 0; c < d; c++) {
            double e = x[r * d + c] / sqrt(ms + 1e-6) * w[c];
            worst16 = fmax(worst16, fabs(e - ovx_nx_from_bf16(y16[r * d + c])) / (fabs(e) + 1e-3));
        }
    }
    CHECK(worst16 <= 1.0 / 256);
    free(x), free(y), free(w), free(b), free(y16);
}

/* Padding-free batch: two samples of 37 and 20 tokens packed back to back
 * give exactly the outputs of two separate forwards (the emulated GEMM is
 * row-independent), and those agree with the CPU forward to bf16 accuracy. */
static void test_packed(ovx_cuda_model *m, ovx_model *rm)
{
    const ovx_model_config *c = &rm->cfg;
    const int lens[2] = {37, 20}, k = c->num_channels * c->patch_size * c->patch_size, d = c->hidden_size;
    const int total = lens[0] + lens[1];
    float *patches = malloc((size_t)total * k * sizeof(float));
    int32_t *pos = malloc((size_t)total * 3 * sizeof(int32_t));
    for (int i = 0; i < total * k; i++)
        patches[i] = rnd();
    for (int i = 0; i < total; i++) {
        pos[3 * i] = i % 5 * 13;
        pos[3 * i + 1] = i / 5 % 7;
        pos[3 * i + 2] = i % 11;
    }
    ovx_outputs packed = {.hidden_state_index = 0}, cpu_packed = {.hidden_state_index = 0};
    CHECK(ovx_cuda_forward_packed(m, 2, lens, patches, pos, &packed, NULL) == 0);
    ovx_device cpu_dev = {OVX_DEVICE_CPU, 0, 0};
    ovx_engine *eng = NULL;
    CHECK(ovx_engine_open(rm, &cpu_dev, &eng, NULL) == 0);
    CHECK(ovx_engine_forward_packed(eng, 2, lens, patches, pos, &cpu_packed, NULL) == 0);
    ovx_engine_free(eng);
    size_t off = 0;
    for (int s = 0; s < 2 && packed.last_hidden_state; s++) {
        ovx_tokens t = {1, lens[s], patches + off * k, pos + off * 3};
        ovx_outputs one = {.hidden_state_index = 0}, cpu = {.hidden_state_index = 0};
        CHECK(ovx_cuda_forward(m, &t, &one, NULL) == 0);
        CHECK(ovx_model_forward(rm, &t, &cpu, NULL) == 0);
        if (one.last_hidden_state && cpu.last_hidden_state && cpu_packed.last_hidden_state) {
            size_t nd = (size_t)lens[s] * d;
            /* the CPU engine's packed batch is the per-sample CPU forward */
            CHECK(memcmp(cpu.last_hidden_state, cpu_packed.last_hidden_state + off * d, nd * 4) == 0);
            CHECK(memcmp(cpu.hidden_state, cpu_packed.hidden_state + off * d, nd * 4) == 0);
            CHECK(memcmp(cpu.pooler_output, cpu_packed.pooler_output + (size_t)s * d, (size_t)d * 4) == 0);
            CHECK(memcmp(one.last_hidden_state, packed.last_hidden_state + off * d, nd * 4) == 0);
            CHECK(memcmp(one.hidden_state, packed.hidden_state + off * d, nd * 4) == 0);
            CHECK(memcmp(one.pooler_output, packed.pooler_output + (size_t)s * d, (size_t)d * 4) == 0);
            double *ref = malloc(nd * sizeof *ref);
            for (size_t i = 0; i < nd; i++)
                ref[i] = cpu.last_hidden_state[i];
            double e = rel_l2(ref, one.last_hidden_state, nd);
            for (int i = 0; i < d; i++)
                ref[i] = cpu.pooler_output[i];
            double ep = rel_l2(ref, one.pooler_output, (size_t)d);
            /* hidden state 0 (kept on the device, downloaded with the rest) */
            for (size_t i = 0; i < nd; i++)
                ref[i] = cpu.hidden_state[i];
            double eh = rel_l2(ref, one.hidden_state, nd);
            printf("packed sample %d (%d tokens): vs CPU rel L2 %.3e, pooler %.3e, hidden_state[0] "
                   "%.3e\n", s, lens[s], e, ep, eh);
            CHECK(e < 1e-2 && ep < 1e-2 && eh < 1e-2);
            free(ref);
        }
        ovx_outputs_free(&one);
        ovx_outputs_free(&cpu);
        off += (size_t)lens[s];
    }
    ovx_outputs_free(&packed);
    ovx_outputs_free(&cpu_packed);
    /* invalid requests are errors, not crashes */
    ovx_outputs bad = {.hidden_state_index = 5};
    CHECK(ovx_cuda_forward_packed(m, 2, lens, patches, pos, &bad, NULL) == OVX_EUSAGE);
    int zero[2] = {3, 0};
    bad.hidden_state_index = OVX_NO_HIDDEN_STATE;
    CHECK(ovx_cuda_forward_packed(m, 2, zero, patches, pos, &bad, NULL) == OVX_EUSAGE);
    pos[4] = -1;
    CHECK(ovx_cuda_forward_packed(m, 2, lens, patches, pos, &bad, NULL) == OVX_EINPUT);
    CHECK(!bad.last_hidden_state && !bad.pooler_output);
    free(patches);
    free(pos);
}

int main(void)
{
    test_device_parse();
    if (!ovx_cuda_host_shim_compiled()) {
        fprintf(stderr, "FAIL: ovx was built without the CUDA-on-host shim (no C++ compiler)\n");
        return 1;
    }
    /* the loop emulation of the kernels (emu_ops.c), then the real kernel
     * source on the host shim (host_ops.c): same ops, same references */
    for (int dev = 0; dev < 2; dev++) {
        ovx_gpu *g = NULL;
        ovx_model *rm = NULL;
        ovx_cuda_model *m = NULL;
        ovx_model_config cfg = ovx_model_config_default_large();
        cfg.hidden_size = 128;
        cfg.num_heads = 2;
        cfg.intermediate_size = 256;
        cfg.num_layers = 1;
        CHECK((dev ? ovx_gpu_open_host(&g, NULL) : ovx_gpu_open_emu(&g, NULL)) == 0);
        CHECK(ovx_model_create_random(&cfg, 7, &rm, NULL) == 0);
        CHECK(ovx_cuda_model_upload(g, &rm->cfg, &rm->w, &m, NULL) == 0);
        if (m) {
            printf("== device: %s\n", g->ops->name);
            test_linear(m);
            test_attention(m);
            test_rope(m);
            test_norms_gelu(m);
            test_packed(m, rm);
        }
        ovx_cuda_model_free(m);
        ovx_model_free(rm);
        ovx_gpu_close(g);
    }
    return CHECK_RESULT();
}
