/* test_cuda_submit.c: overlapped batches and CUDA graphs (cuda/submit.c,
 * cuda/graph.c, the engine's submit/collect in src/engine/engine.c) on the loop
 * emulation and on the host shim (the real kernel source). Two batches in
 * flight, collected in and out of order, give outputs byte-identical to
 * one synchronous forward each with graphs off; a third submit is refused;
 * the graph cache runs a shape directly on first use, captures it on the
 * second and replays it after that (counted), drops graphs whose buffers
 * moved (a larger batch) and the least recently used shape when full (a
 * replay with stale buffers would read freed memory: ASan); the engine's
 * CPU path gives ovx_model_forward_packed's outputs through the same API. */
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "engine/engine.h"
#include "cuda/ops.h"
#include "model/model_internal.h"

typedef struct batch {
    int samples, hidden;
    int lens[3];
    float *patches;
    int32_t *pos;
    ovx_outputs ref;
} batch;

static uint64_t rs = 0x9E3779B97F4A7C15ULL;

static float rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (float)((double)(rs >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void make(batch *b, int k, int samples, const int *lens, int hidden)
{
    memset(b, 0, sizeof *b);
    b->samples = samples;
    b->hidden = hidden;
    int rows = 0;
    for (int s = 0; s < samples; s++)
        rows += b->lens[s] = lens[s];
    b->patches = malloc((size_t)rows * k * sizeof(float));
    b->pos = malloc((size_t)rows * 3 * sizeof(int32_t));
    for (int i = 0; i < rows * k; i++)
        b->patches[i] = rnd();
    for (int i = 0; i < rows; i++) {
        b->pos[3 * i] = i % 4;
        b->pos[3 * i + 1] = i / 4 % 9;
        b->pos[3 * i + 2] = i % 13;
    }
}

static int rows_of(const batch *b)
{
    int r = 0;
    for (int s = 0; s < b->samples; s++)
        r += b->lens[s];
    return r;
}

/* outputs equal to the batch's reference, byte for byte */
static int same(const batch *b, const ovx_outputs *o, int d)
{
    const size_t nd = (size_t)rows_of(b) * d;
    const ovx_outputs *r = &b->ref;
    return o->last_hidden_state && !memcmp(o->last_hidden_state, r->last_hidden_state, nd * 4) &&
           !memcmp(o->pooler_output, r->pooler_output, (size_t)b->samples * d * 4) &&
           (b->hidden == OVX_NO_HIDDEN_STATE
                ? !o->hidden_state
                : o->hidden_state && !memcmp(o->hidden_state, r->hidden_state, nd * 4));
}

static int fwd(ovx_cuda_model *m, const batch *b, ovx_outputs *o)
{
    o->hidden_state_index = b->hidden;
    return ovx_cuda_forward_packed(m, b->samples, b->lens, b->patches, b->pos, o, NULL);
}

static int submit(ovx_cuda_model *m, const batch *b, int *slot)
{
    return ovx_cuda_submit_packed(m, b->samples, b->lens, b->patches, b->pos, b->hidden, slot, NULL);
}

static void check_one(ovx_cuda_model *m, const batch *b, int d)
{
    ovx_outputs o = {0};
    CHECK(fwd(m, b, &o) == 0 && same(b, &o, d));
    ovx_outputs_free(&o);
}

static void check_collect(ovx_cuda_model *m, int slot, const batch *b, int d)
{
    ovx_outputs o = {0};
    CHECK(ovx_cuda_collect(m, slot, &o, NULL) == 0 && same(b, &o, d));
    ovx_outputs_free(&o);
}

/* x in slot 0, y in slot 1, both in flight, then collected */
static void pair(ovx_cuda_model *m, const batch *x, const batch *y, int d)
{
    int sx = -1, sy = -1;
    CHECK(submit(m, x, &sx) == 0 && submit(m, y, &sy) == 0 && sx == 0 && sy == 1);
    check_collect(m, sx, x, d);
    check_collect(m, sy, y, d);
}

/* The emulated CUDA device with every graph capture refused (the test hook
 * OVX_CUDA_FAIL=capture): the batch whose capture is refused runs directly
 * (outputs as with graphs off), its shape is not captured again, the
 * refusal is noted once. */
static void test_refused_capture(const ovx_model *rm, batch *A, int d)
{
    setenv("OVX_CUDA_EMULATE", "9.0", 1);
    setenv("OVX_CUDA_FAIL", "capture", 1);
    ovx_gpu *g = NULL;
    ovx_cuda_model *m = NULL;
    CHECK(ovx_gpu_open_cuda(0, &g, NULL) == 0);
    unsetenv("OVX_CUDA_EMULATE");
    unsetenv("OVX_CUDA_FAIL");
    CHECK(g && ovx_cuda_model_upload(g, &rm->cfg, &rm->w, &m, NULL) == 0);
    if (m) {
        ovx_outputs keep = A->ref;
        memset(&A->ref, 0, sizeof A->ref);
        ovx_cuda_model_set_graphs(m, 0);
        CHECK(fwd(m, A, &A->ref) == 0);
        ovx_cuda_model_set_graphs(m, 8);
        ovx_cuda_graph_stats st0 = ovx_cuda_model_graph_stats(m);
        for (int i = 0; i < 4; i++) /* first use, refused capture, then direct */
            check_one(m, A, d);
        ovx_cuda_graph_stats st = ovx_cuda_model_graph_stats(m);
        printf("refused capture: direct %ld, captures %ld, refused %ld\n", st.direct - st0.direct,
               st.captures - st0.captures, st.refused - st0.refused);
        CHECK(st.direct - st0.direct == 4 && st.captures == st0.captures && st.refused - st0.refused >= 1);
        char note[500];
        CHECK(ovx_cuda_model_take_note(m, note, sizeof note) == 1 && strstr(note, "refused") &&
              strstr(note, "OVX_CUDA_FAIL=capture"));
        CHECK(ovx_cuda_model_take_note(m, note, sizeof note) == 0); /* once */
        ovx_outputs_free(&A->ref);
        A->ref = keep;
    }
    ovx_cuda_model_free(m);
    ovx_gpu_close(g);
}

static void test_device(ovx_cuda_model *m, batch *bs, int d)
{
    batch *A = &bs[0], *B = &bs[1], *C = &bs[2], *D = &bs[3], *E = &bs[4];
    /* references: one synchronous forward each, graphs off (E's comes
     * later: it is the batch that grows the buffers) */
    ovx_cuda_model_set_graphs(m, 0);
    for (int i = 0; i < 4; i++) {
        bs[i].ref.hidden_state_index = bs[i].hidden;
        CHECK(fwd(m, &bs[i], &bs[i].ref) == 0);
    }
    CHECK(ovx_cuda_model_graph_stats(m).captures == 0);
    /* both slots sized for D, the largest batch before E */
    int s0 = -1, s1 = -1;
    CHECK(submit(m, D, &s0) == 0 && submit(m, D, &s1) == 0);
    check_collect(m, s0, D, d);
    check_collect(m, s1, D, d);

    ovx_cuda_model_set_graphs(m, 8);
    ovx_cuda_graph_stats st0 = ovx_cuda_model_graph_stats(m);
    /* two in flight, overlapping in turn; a third is refused */
    int sa = -1, sb = -1, sc = -1, sx = -1;
    CHECK(submit(m, A, &sa) == 0 && submit(m, B, &sb) == 0 && sa != sb);
    ovx_error err;
    ovx_error_clear(&err);
    CHECK(ovx_cuda_submit_packed(m, C->samples, C->lens, C->patches, C->pos, C->hidden, &sx, &err) ==
              OVX_EINTERNAL &&
          sx == -1 && strstr(err.msg, "in flight"));
    check_collect(m, sa, A, d);               /* A in slot 0 */
    CHECK(submit(m, C, &sc) == 0 && sc == sa); /* C in slot 0 */
    check_collect(m, sb, B, d);
    CHECK(submit(m, A, &sa) == 0 && sa == sb); /* A in slot 1: a new shape */
    check_collect(m, sc, C, d);
    check_collect(m, sa, A, d);
    ovx_outputs none = {0};
    CHECK(ovx_cuda_collect(m, sa, &none, NULL) == OVX_EINTERNAL && !none.last_hidden_state);
    /* A in slot 0 again: captured; then replayed */
    check_one(m, A, d);
    check_one(m, A, d);
    ovx_cuda_graph_stats st = ovx_cuda_model_graph_stats(m);
    printf("graphs: direct %ld, captures %ld, replays %ld, evictions %ld\n", st.direct - st0.direct,
           st.captures - st0.captures, st.replays - st0.replays, st.evictions - st0.evictions);
    CHECK(st.direct - st0.direct == 4 && st.captures - st0.captures == 1 &&
          st.replays - st0.replays == 2 && st.evictions == st0.evictions);

    /* A captured in slot 1 too (B holds slot 0) */
    pair(m, B, A, d);
    ovx_cuda_graph_stats g0 = ovx_cuda_model_graph_stats(m);
    CHECK(g0.captures == st.captures + 1 && g0.direct == st.direct + 1);
    /* a larger batch (slot 0) grows the shared buffers: every graph goes
     * with them, slot 1's too (replayed, it would read freed memory) */
    E->ref.hidden_state_index = E->hidden;
    CHECK(fwd(m, E, &E->ref) == 0);
    ovx_cuda_graph_stats g1 = ovx_cuda_model_graph_stats(m);
    CHECK(g1.evictions == g0.evictions + 2 && g1.direct == g0.direct + 1);
    pair(m, B, A, d); /* both run directly, */
    pair(m, B, A, d); /* then are captured again with the new buffers */
    check_one(m, B, d); /* and replayed */
    ovx_cuda_graph_stats g2 = ovx_cuda_model_graph_stats(m);
    printf("after growth: direct %ld, captures %ld, replays %ld\n", g2.direct - g1.direct,
           g2.captures - g1.captures, g2.replays - g1.replays);
    CHECK(g2.direct == g1.direct + 2 && g2.captures == g1.captures + 2 && g2.replays == g1.replays + 3);

    /* a cache of one shape: B's capture drops A's graph (least recently used) */
    ovx_cuda_model_set_graphs(m, 1);
    ovx_cuda_graph_stats h0 = ovx_cuda_model_graph_stats(m);
    check_one(m, A, d);
    check_one(m, A, d);
    check_one(m, B, d);
    check_one(m, B, d);
    check_one(m, A, d);
    ovx_cuda_graph_stats h1 = ovx_cuda_model_graph_stats(m);
    CHECK(h1.captures == h0.captures + 2 && h1.replays == h0.replays + 2 &&
          h1.direct == h0.direct + 3 && h1.evictions == h0.evictions + 2);
    ovx_cuda_model_set_graphs(m, 0);
    check_one(m, E, d); /* E with graphs on == off */
    /* OVX_CUDA_GRAPHS */
    int max = -1;
    setenv("OVX_CUDA_GRAPHS", "0", 1);
    CHECK(ovx_cuda_graphs_env(&max, NULL) == 0 && max == 0);
    setenv("OVX_CUDA_GRAPHS", "65", 1);
    CHECK(ovx_cuda_graphs_env(&max, NULL) == OVX_EUSAGE);
    unsetenv("OVX_CUDA_GRAPHS");
    CHECK(ovx_cuda_graphs_env(&max, NULL) == 0 && max == 8);
    for (int i = 0; i < 5; i++)
        ovx_outputs_free(&bs[i].ref);
}

/* the CPU engine through submit/collect: ovx_model_forward_packed's outputs */
static void test_cpu_engine(ovx_model *rm, batch *bs, int d)
{
    ovx_device cpu = {OVX_DEVICE_CPU, 0, 0};
    ovx_engine *e = NULL;
    CHECK(ovx_engine_open(rm, &cpu, &e, NULL) == 0);
    if (!e)
        return;
    for (int i = 0; i < 2; i++) {
        bs[i].ref.hidden_state_index = bs[i].hidden;
        CHECK(ovx_model_forward_packed(rm, bs[i].samples, bs[i].lens, bs[i].patches, bs[i].pos, &bs[i].ref,
                                       NULL) == 0);
    }
    int t[3];
    for (int i = 0; i < 2; i++)
        CHECK(ovx_engine_submit(e, bs[i].samples, bs[i].lens, bs[i].patches, bs[i].pos, bs[i].hidden, &t[i],
                                NULL) == 0);
    CHECK(ovx_engine_submit(e, bs[0].samples, bs[0].lens, bs[0].patches, bs[0].pos, bs[0].hidden, &t[2], NULL) ==
          OVX_EINTERNAL);
    long cap = -1, rep = -1;
    ovx_engine_graph_stats(e, &cap, &rep);
    CHECK(cap == 0 && rep == 0);
    for (int i = 1; i >= 0; i--) { /* out of order */
        ovx_outputs o = {0};
        CHECK(ovx_engine_collect(e, t[i], &o, NULL) == 0 && same(&bs[i], &o, d));
        ovx_outputs_free(&o);
    }
    ovx_engine_free(e);
    for (int i = 0; i < 2; i++)
        ovx_outputs_free(&bs[i].ref);
}

int main(void)
{
    ovx_model_config cfg = ovx_model_config_default_large();
    cfg.hidden_size = 64;
    cfg.num_heads = 1;
    cfg.intermediate_size = 128;
    cfg.num_layers = 2;
    ovx_model *rm = NULL;
    CHECK(ovx_model_create_random(&cfg, 11, &rm, NULL) == 0);
    if (!rm)
        return CHECK_RESULT();
    const int k = cfg.num_channels * cfg.patch_size * cfg.patch_size, d = cfg.hidden_size;
    batch bs[5];
    make(&bs[0], k, 2, (const int[]){37, 20}, 0);
    make(&bs[1], k, 1, (const int[]){5}, OVX_NO_HIDDEN_STATE);
    make(&bs[2], k, 3, (const int[]){64, 1, 70}, -1);
    make(&bs[3], k, 2, (const int[]){100, 40}, OVX_NO_HIDDEN_STATE);
    make(&bs[4], k, 2, (const int[]){170, 10}, 1);
    static const char *const modes[] = {"fused", "chunked", "wmma"};
    for (int dev = 0; dev < 3; dev++) { /* emulation; shim (mma kernel); shim, WMMA kernel */
        ovx_gpu *g = NULL;
        ovx_cuda_model *m = NULL;
        CHECK((dev ? ovx_gpu_open_host(&g, NULL) : ovx_gpu_open_emu(&g, NULL)) == 0);
        CHECK(g && ovx_cuda_model_upload(g, &rm->cfg, &rm->w, &m, NULL) == 0);
        if (m && dev == 2)
            ovx_cuda_model_set_attention(m, OVX_CUDA_ATTENTION_WMMA);
        if (m) {
            CHECK(ovx_cuda_model_attention(m) == (dev == 0   ? OVX_CUDA_ATTENTION_CHUNKED
                                                  : dev == 1 ? OVX_CUDA_ATTENTION_FUSED
                                                             : OVX_CUDA_ATTENTION_WMMA));
            printf("== device: %s (%s attention)\n", g->ops->name, modes[ovx_cuda_model_attention(m)]);
            test_device(m, bs, d);
        }
        ovx_cuda_model_free(m);
        ovx_gpu_close(g);
    }
    test_refused_capture(rm, &bs[0], d);
    test_cpu_engine(rm, bs, d);
    for (int i = 0; i < 5; i++) {
        free(bs[i].patches);
        free(bs[i].pos);
    }
    ovx_model_free(rm);
    return CHECK_RESULT();
}
