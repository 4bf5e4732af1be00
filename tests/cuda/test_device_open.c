/* test_device_open.c: the decisions around opening a CUDA device, run on the
 * emulated device of the test hook OVX_CUDA_EMULATE (no GPU needed):
 * - which compute capabilities a build (kernel images + PTX) can run, and
 *   the refusal of 7.x with its message;
 * - the bf16 peak table against datasheet figures;
 * - the hook layer: parsing OVX_CUDA_FAIL / OVX_CUDA_SYNC, emulated memory
 *   accounting, an injected fault poisoning the device (sticky, named by the
 *   op with OVX_CUDA_SYNC=1), ovx_gpu_healthy;
 * - the engine: fallback to the CPU at upload and after a fault (outputs
 *   byte-identical to the CPU forward), "lost" without fallback. */
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "engine/engine.h"
#include "cuda/gpu_open.h"
#include "model/model_internal.h"

static void env(const char *emulate, const char *fail, const char *sync)
{
    if (emulate)
        setenv("OVX_CUDA_EMULATE", emulate, 1);
    else
        unsetenv("OVX_CUDA_EMULATE");
    if (fail)
        setenv("OVX_CUDA_FAIL", fail, 1);
    else
        unsetenv("OVX_CUDA_FAIL");
    if (sync)
        setenv("OVX_CUDA_SYNC", sync, 1);
    else
        unsetenv("OVX_CUDA_SYNC");
}

static void test_arch(void)
{
    char why[400];
    static const struct { int major, minor; const char *sass; int ptx, ok; } cases[] = {
        {7, 0, "80,86,89,90", 90, 0}, {7, 5, "80,86,89,90", 90, 0}, {8, 0, "80,86,89,90", 90, 1},
        {8, 6, "80,86,89,90", 90, 1}, {8, 7, "80,86,89,90", 90, 1}, /* sm_86 cubin on 8.7 */
        {8, 9, "80,86,89,90", 90, 1}, {9, 0, "80,86,89,90", 90, 1}, {10, 0, "80,86,89,90", 90, 1},
        {12, 0, "80,86,89,90", 90, 1}, /* PTX JIT */
        {8, 0, "86,90", 90, 0},        /* no image for 8.0, PTX 9.0 too new */
        {8, 9, "86,90", 90, 1},        {8, 6, "90", 90, 0}, {9, 0, "90", 90, 1},
        {8, 6, "80", 80, 1},           {12, 0, "80", 80, 1}, {10, 0, "100", 100, 1},
        {9, 0, "100", 100, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        why[0] = '\0';
        int rc = ovx_cuda_arch_check(cases[i].major, cases[i].minor, cases[i].sass, cases[i].ptx, why,
                                     sizeof why);
        CHECK((rc == 0) == cases[i].ok);
        if (rc)
            CHECK(why[0] != '\0');
    }
    CHECK(ovx_cuda_arch_check(7, 5, "80,86,89,90", 90, why, sizeof why) == -1 &&
          !strcmp(why, "compute capability 7.5 not supported: needs 8.0+ (bf16 tensor cores)"));
    CHECK(ovx_cuda_arch_check(8, 0, "86,90", 90, why, sizeof why) == -1 &&
          strstr(why, "compute capability 8.0: no kernel image") &&
          strstr(why, "built for sm_86, sm_90 + PTX compute_90") && strstr(why, "-Dcuda-arch=80"));
}

static void test_peak(void)
{
    /* datasheet dense bf16 TFLOP/s at the boost clock the datasheets use */
    static const struct { int major, minor, sms, mhz; double tflops, tol; } gpus[] = {
        {8, 0, 108, 1410, 312.0, 0.01},  /* A100 SXM */
        {8, 6, 84, 1740, 149.7, 0.01},   /* A40 */
        {8, 9, 142, 2520, 362.05, 0.02}, /* L40S */
        {8, 9, 58, 2040, 121.0, 0.01},   /* L4 */
        {9, 0, 132, 1830, 989.4, 0.01},  /* H100 SXM */
    };
    for (size_t i = 0; i < sizeof gpus / sizeof gpus[0]; i++) {
        ovx_gpu_info g = {.major = gpus[i].major, .minor = gpus[i].minor, .sms = gpus[i].sms,
                          .clock_mhz = gpus[i].mhz};
        double p = ovx_cuda_bf16_peak_tflops(&g);
        CHECK(fabs(p / gpus[i].tflops - 1) <= gpus[i].tol);
    }
    ovx_gpu_info old = {.major = 7, .minor = 5, .sms = 40, .clock_mhz = 1590};
    CHECK(ovx_cuda_bf16_peak_tflops(&old) == 0); /* unknown: bench asks for --peak */
}

static void test_hook_env(void)
{
    ovx_gpu_hook_cfg c;
    int active;
    const char *good[] = {"open", "upload", "fault:gemm", "fault:softmax_rows:3", "skip:residual_add",
                          "fault:any:7"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        env(NULL, good[i], NULL);
        CHECK(ovx_gpu_hooks_env(&c, &active, NULL) == 0 && active);
    }
    env(NULL, "fault:softmax_rows:3", "1");
    CHECK(ovx_gpu_hooks_env(&c, &active, NULL) == 0 && c.sync_each && c.fault_at == 3 &&
          !strcmp(c.fault_op, "softmax_rows"));
    const char *bad[] = {"opn", "fault:", "fault:nope", "fault:gemm:0", "fault:gemm:x", "skip:gemm:2", "skip",
                         "skip:any"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        env(NULL, bad[i], NULL);
        CHECK(ovx_gpu_hooks_env(&c, &active, NULL) == OVX_EUSAGE);
    }
    env(NULL, NULL, "yes");
    CHECK(ovx_gpu_hooks_env(&c, &active, NULL) == OVX_EUSAGE);
    env(NULL, NULL, NULL);
    CHECK(ovx_gpu_hooks_env(&c, &active, NULL) == 0 && !active);
}

static void test_emulated_device(void)
{
    ovx_error err;
    ovx_gpu *g = NULL;
    int count = 0;
    env("8.6:64", NULL, NULL);
    CHECK(ovx_cuda_device_count(&count, &err) == 0 && count == 1);
    CHECK(ovx_gpu_open_cuda(1, &g, &err) == OVX_EDEVICE && !g &&
          !strcmp(err.msg, "CUDA device 1 does not exist (1 device found)"));
    CHECK(ovx_gpu_open_cuda(0, &g, &err) == 0 && g);
    if (!g)
        return;
    const ovx_gpu_info *i = ovx_gpu_get_info(g);
    CHECK(i && i->major == 8 && i->minor == 6 && i->emulated);
    size_t f0, t, f1;
    CHECK(ovx_gpu_mem(g, &f0, &t) == 0 && t == (size_t)64 << 20 && f0 == t);
    void *p = NULL, *q = NULL;
    CHECK(g->ops->alloc(g, &p, 3 << 20) == 0 && ovx_gpu_mem(g, &f1, &t) == 0 && f1 == f0 - (3 << 20));
    CHECK(g->ops->alloc(g, &q, 62 << 20) == -1 && strstr(g->msg, "out of memory") && !q);
    g->ops->release(g, p);
    CHECK(ovx_gpu_mem(g, &f1, &t) == 0 && f1 == f0);
    CHECK(ovx_gpu_healthy(g));
    char d[300];
    CHECK(!strcmp(ovx_gpu_describe(g, d, sizeof d),
                  "CUDA device 0 (OVX_CUDA_EMULATE test GPU, sm_86, 64.0 MiB free of 64.0 MiB)"));
    ovx_gpu_close(g);

    env("7.5", NULL, NULL);
    CHECK(ovx_gpu_open_cuda(0, &g, &err) == OVX_EDEVICE && strstr(err.msg, "compute capability 7.5 not supported"));
    env("9.0", "open", NULL);
    CHECK(ovx_gpu_open_cuda(0, &g, &err) == OVX_EDEVICE && strstr(err.msg, "OVX_CUDA_FAIL=open"));
    env("9.0", "bogus", NULL);
    CHECK(ovx_gpu_open_cuda(0, &g, &err) == OVX_EUSAGE);

    /* a fault: the launch "succeeds", everything after it fails (sticky) */
    float x[4] = {1, 2, 3, 4}, y[4] = {10, 20, 30, 40}, back[4];
    for (int sync = 0; sync < 2; sync++) {
        env("9.0", "fault:residual_add:2", sync ? "1" : NULL);
        g = NULL;
        CHECK(ovx_gpu_open_cuda(0, &g, &err) == 0 && g);
        if (!g)
            return;
        void *dx = NULL, *dy = NULL;
        CHECK(g->ops->alloc(g, &dx, sizeof x) == 0 && g->ops->alloc(g, &dy, sizeof y) == 0 &&
              g->ops->upload(g, dx, x, sizeof x) == 0 && g->ops->upload(g, dy, y, sizeof y) == 0);
        CHECK(g->ops->residual_add(g, dx, dy, 4) == 0 && ovx_gpu_healthy(g));
        int rc = g->ops->residual_add(g, dx, dy, 4);
        if (sync) /* named by the op that faulted */
            CHECK(rc == -1 && !strncmp(g->msg, "residual_add failed (device synced after each op", 48) &&
                  strstr(g->msg, "illegal memory access"));
        else /* asynchronous: shows at the next call */
            CHECK(rc == 0 && g->ops->download(g, back, dx, sizeof back) == -1 &&
                  !strncmp(g->msg, "download: an illegal memory access", 34));
        CHECK(!ovx_gpu_healthy(g) && ovx_gpu_mem(g, &f1, &t) == -1);
        g->ops->release(g, dx);
        g->ops->release(g, dy);
        ovx_gpu_close(g);
    }
    /* a fault in a call that waits for the device fails at once; the
     * probe at open does not count */
    env("9.0", "fault:download:1", NULL);
    CHECK(ovx_gpu_open_cuda(0, &g, &err) == 0 && g);
    if (g) {
        void *dx = NULL;
        CHECK(g->ops->alloc(g, &dx, sizeof x) == 0 && g->ops->upload(g, dx, x, sizeof x) == 0 &&
              g->ops->download(g, back, dx, sizeof back) == -1 &&
              !strcmp(g->msg, "download: an illegal memory access was encountered (fault injected "
                              "into download by OVX_CUDA_FAIL)"));
        g->ops->release(g, dx);
        ovx_gpu_close(g);
    }
    /* skip: the op does nothing */
    env("9.0", "skip:residual_add", NULL);
    CHECK(ovx_gpu_open_cuda(0, &g, &err) == 0 && g);
    if (g) {
        void *dx = NULL, *dy = NULL;
        CHECK(g->ops->alloc(g, &dx, sizeof x) == 0 && g->ops->alloc(g, &dy, sizeof y) == 0 &&
              g->ops->upload(g, dx, x, sizeof x) == 0 && g->ops->upload(g, dy, y, sizeof y) == 0 &&
              g->ops->residual_add(g, dx, dy, 4) == 0 && g->ops->download(g, back, dx, sizeof back) == 0 &&
              !memcmp(back, x, sizeof x));
        g->ops->release(g, dx);
        g->ops->release(g, dy);
        ovx_gpu_close(g);
    }
    env(NULL, NULL, NULL);
}

static int same_outputs(const ovx_outputs *a, const ovx_outputs *b, size_t nd, size_t bd)
{
    return a->last_hidden_state && b->last_hidden_state && a->pooler_output && b->pooler_output &&
           !memcmp(a->last_hidden_state, b->last_hidden_state, nd * sizeof(float)) &&
           !memcmp(a->pooler_output, b->pooler_output, bd * sizeof(float));
}

static void test_engine(void)
{
    ovx_model_config cfg = ovx_model_config_default_large();
    cfg.hidden_size = 128;
    cfg.num_heads = 2;
    cfg.intermediate_size = 256;
    cfg.num_layers = 1;
    ovx_model *m = NULL;
    ovx_error err;
    CHECK(ovx_model_create_random(&cfg, 7, &m, &err) == 0);
    if (!m)
        return;
    enum { N = 20 };
    size_t k = 3 * 14 * 14;
    float *patches = malloc(N * k * sizeof(float));
    int32_t pos[N * 3];
    for (size_t i = 0; i < N * k; i++)
        patches[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    for (int i = 0; i < N; i++) {
        pos[3 * i] = i / 10;
        pos[3 * i + 1] = i % 10 / 4;
        pos[3 * i + 2] = i % 4;
    }
    ovx_tokens t = {1, N, patches, pos};
    ovx_outputs ref = {.hidden_state_index = OVX_NO_HIDDEN_STATE};
    CHECK(ovx_model_forward(m, &t, &ref, &err) == 0);
    ovx_device cuda = {.kind = OVX_DEVICE_CUDA, .index = 0};
    ovx_engine *e = NULL;
    char note[1200];

    /* the weights do not fit: auto falls back at open, cuda fails */
    env("9.0", "upload", NULL);
    CHECK(ovx_engine_open_ex(m, &cuda, 0, &e, &err) == OVX_EDEVICE && !e &&
          strstr(err.msg, "CUDA device 0 (OVX_CUDA_EMULATE test GPU, sm_90, ") &&
          strstr(err.msg, "free of 1.00 GiB): uploading the weights: cudaMalloc of"));
    CHECK(ovx_engine_open_ex(m, &cuda, 1, &e, &err) == 0 && e);
    if (e) {
        CHECK(ovx_engine_device(e)->kind == OVX_DEVICE_CPU);
        CHECK(ovx_engine_take_note(e, note, sizeof note) && strstr(note, "out of memory") &&
              strstr(note, "; using the CPU"));
        CHECK(!ovx_engine_take_note(e, note, sizeof note)); /* said once */
        ovx_outputs o = {.hidden_state_index = OVX_NO_HIDDEN_STATE};
        CHECK(ovx_engine_forward(e, &t, &o, &err) == 0 && same_outputs(&o, &ref, N * 128, 128));
        ovx_outputs_free(&o);
        ovx_engine_free(e);
    }
    env("9.0:0.25", NULL, NULL); /* 256 KiB: checked before the upload, with the free memory */
    CHECK(ovx_engine_open_ex(m, &cuda, 0, &e, &err) == OVX_EDEVICE &&
          strstr(err.msg, "0.2 MiB free of 0.2 MiB): not enough free memory for the model's weights"));
    /* the weights fit, the forward's buffers do not: the device stays usable */
    size_t need = (size_t)m->n_params * 2 + (64 << 10);
    char mem[64];
    snprintf(mem, sizeof mem, "9.0:%.6f", (double)need / 1048576.0);
    env(mem, NULL, NULL);
    e = NULL;
    CHECK(ovx_engine_open_ex(m, &cuda, 0, &e, &err) == 0 && e);
    if (e) {
        ovx_outputs o = {.hidden_state_index = OVX_NO_HIDDEN_STATE};
        CHECK(ovx_engine_forward(e, &t, &o, &err) == OVX_EDEVICE && !ovx_engine_lost(e) &&
              strstr(err.msg, "MiB free of ") && strstr(err.msg, "out of memory"));
        ovx_engine_free(e);
    }

    /* a fault in the first forward */
    env("9.0", "fault:softmax_rows:1", NULL);
    e = NULL;
    CHECK(ovx_engine_open_ex(m, &cuda, 1, &e, &err) == 0 && e);
    if (e) {
        CHECK(ovx_engine_device(e)->kind == OVX_DEVICE_CUDA && !ovx_engine_take_note(e, note, sizeof note));
        ovx_outputs o = {.hidden_state_index = OVX_NO_HIDDEN_STATE};
        CHECK(ovx_engine_forward(e, &t, &o, &err) == 0 && same_outputs(&o, &ref, N * 128, 128));
        CHECK(ovx_engine_device(e)->kind == OVX_DEVICE_CPU && !ovx_engine_lost(e));
        CHECK(ovx_engine_take_note(e, note, sizeof note) && strstr(note, "failed and is unusable") &&
              strstr(note, "OVX_CUDA_SYNC=1 names the op") && strstr(note, "using the CPU from now on"));
        ovx_outputs_free(&o);
        ovx_engine_free(e);
    }
    e = NULL;
    CHECK(ovx_engine_open_ex(m, &cuda, 0, &e, &err) == 0 && e);
    if (e) {
        ovx_outputs o = {.hidden_state_index = OVX_NO_HIDDEN_STATE};
        CHECK(ovx_engine_forward(e, &t, &o, &err) == OVX_EDEVICE && ovx_engine_lost(e) &&
              !o.last_hidden_state && !strcmp(err.msg, ovx_engine_lost_reason(e)) &&
              strstr(err.msg, "CUDA device 0 (OVX_CUDA_EMULATE test GPU) failed and is unusable: "));
        int lens[1] = {N};
        CHECK(ovx_engine_forward_packed(e, 1, lens, patches, pos, &o, &err) == OVX_EDEVICE &&
              strstr(err.msg, "failed earlier"));
        ovx_engine_free(e);
    }
    /* a healthy emulated device: the CUDA forward, close to the CPU one */
    env("9.0", NULL, NULL);
    e = NULL;
    CHECK(ovx_engine_open_ex(m, &cuda, 0, &e, &err) == 0 && e);
    if (e) {
        ovx_outputs o = {.hidden_state_index = OVX_NO_HIDDEN_STATE};
        CHECK(ovx_engine_forward(e, &t, &o, &err) == 0 && o.last_hidden_state);
        if (o.last_hidden_state) {
            double num = 0, den = 0;
            for (size_t i = 0; i < N * 128; i++) {
                double dd = (double)o.last_hidden_state[i] - ref.last_hidden_state[i];
                num += dd * dd;
                den += (double)ref.last_hidden_state[i] * ref.last_hidden_state[i];
            }
            CHECK(sqrt(num / den) > 1e-5 && sqrt(num / den) < 1e-2); /* bf16 GEMM inputs */
        }
        ovx_outputs_free(&o);
        ovx_engine_free(e);
    }
    env(NULL, NULL, NULL);
    ovx_outputs_free(&ref);
    free(patches);
    ovx_model_free(m);
}

int main(void)
{
    test_arch();
    test_peak();
    test_hook_env();
    test_emulated_device();
    test_engine();
    return CHECK_RESULT();
}
