/* test_model_unit.c: fast unit tests of src/model: safetensors parsing of
 * hostile headers, config.json rejects, RoPE angles against hand-computed
 * values, tiled attention (fused AVX-512 and sgemm paths) against a naive
 * double-precision one, linear and layernorm against naive loops, tokens
 * from pixels in all modes. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "cuda/numerics.h"
#include "attn_ref.h"
#include "model/attn512.h"
#include "model/config.h"
#include "model/ops.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "io/half.h"
#include "model/shard_index.h"
#include "model/tokens.h"
#include "model/vecmath.h"

/* ---------------------------------------------------------------- safetensors */

/* Builds an in-memory safetensors image: header (given JSON) + data_len bytes. */
static unsigned char *st_image(const char *header, size_t data_len, size_t *len)
{
    size_t hl = strlen(header);
    *len = 8 + hl + data_len;
    unsigned char *b = calloc(1, *len);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    return b;
}

/* Parses header + data; returns the error code; msg gets the message. */
static int st_try(const char *header, size_t data_len, char *msg)
{
    size_t len;
    unsigned char *b = st_image(header, data_len, &len);
    ovx_st_file f;
    ovx_error err;
    ovx_error_clear(&err);
    int rc = ovx_st_parse(b, len, &f, &err);
    if (!rc)
        ovx_st_close(&(ovx_st_file){.fd = -1, .n = f.n, .tensors = f.tensors});
    snprintf(msg, 1024, "%s", err.msg);
    free(b);
    return rc;
}

static void test_safetensors(void)
{
    char msg[1024];
    /* A good file: F32 [2] and BF16 [2,2], F16 [1]. */
    const char *good = "{\"__metadata__\":{\"format\":\"pt\"},"
                       "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[8,16]},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"c\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[16,18]}}";
    size_t len;
    unsigned char *b = st_image(good, 18, &len);
    unsigned char *d = b + 8 + strlen(good);
    float fa[2] = {1.5f, -2.25f};
    memcpy(d, fa, 8);
    uint16_t bf[4] = {0x3F80, 0xC000, 0x0000, 0x3E80}; /* 1, -2, 0, 0.25 */
    memcpy(d + 8, bf, 8);
    uint16_t h = 0x3C00; /* f16 1.0 */
    memcpy(d + 16, &h, 2);
    ovx_st_file f;
    ovx_error err;
    CHECK(ovx_st_parse(b, len, &f, &err) == 0);
    CHECK(f.n == 3);
    CHECK(!strcmp(f.tensors[0].name, "a") && !strcmp(f.tensors[2].name, "c"));
    const ovx_st_tensor *t = ovx_st_find(&f, "b");
    CHECK(t && t->dtype == OVX_ST_BF16 && t->ndim == 2 && t->numel == 4);
    float out[4];
    if (t) {
        ovx_st_to_f32(t, out);
        CHECK(out[0] == 1.0f && out[1] == -2.0f && out[2] == 0.0f && out[3] == 0.25f);
    }
    t = ovx_st_find(&f, "a");
    if (t) {
        ovx_st_to_f32(t, out);
        CHECK(out[0] == 1.5f && out[1] == -2.25f);
    }
    t = ovx_st_find(&f, "c");
    if (t) {
        ovx_st_to_f32(t, out);
        CHECK(out[0] == 1.0f);
    }
    CHECK(ovx_st_find(&f, "zz") == NULL);
    f.fd = -1;
    f.map = NULL;
    ovx_st_close(&f);
    free(b);

    /* Hostile headers. */
    CHECK(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, msg) != 0);
    CHECK(strstr(msg, "\"a\"") && strstr(msg, "outside"));
    CHECK(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, msg) != 0);
    CHECK(strstr(msg, "8 bytes of data for 3 elements"));
    CHECK(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, msg) != 0);
    CHECK(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8, msg) != 0);
    CHECK(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, msg) != 0);
    CHECK(strstr(msg, "overlap"));
    CHECK(st_try("{\"a\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, msg) == OVX_EUNSUPPORTED);
    CHECK(strstr(msg, "I8"));
    CHECK(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, msg) != 0);
    CHECK(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, msg) != 0);
    CHECK(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
                 "\"data_offsets\":[0,8]}}", 8, msg) != 0);
    CHECK(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, msg) != 0);
    CHECK(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16, msg) != 0);
    CHECK(strstr(msg, "twice"));
    CHECK(st_try("{\"a\":[1,2]}", 0, msg) != 0);
    CHECK(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]", 8, msg) != 0); /* cut JSON */
    CHECK(st_try("[1,2,3]", 0, msg) != 0);
    CHECK(st_try("not json at all", 0, msg) != 0);
    CHECK(st_try("{\"__metadata__\":5}", 0, msg) != 0);
    /* Header length larger than the file, and absurdly large. */
    unsigned char small[16] = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'};
    CHECK(ovx_st_parse(small, sizeof small, &f, &err) != 0 && strstr(err.msg, "exceeds the file size"));
    unsigned char huge[16] = {0, 0, 0, 0, 0, 0, 0, 0x7f, '{', '}'};
    CHECK(ovx_st_parse(huge, sizeof huge, &f, &err) != 0 && strstr(err.msg, "byte limit"));
    CHECK(ovx_st_parse(small, 5, &f, &err) != 0);
    /* An empty but valid header. */
    CHECK(st_try("{}", 0, msg) == 0);
    /* Whitespace padding after the header JSON is legal; anything else not. */
    CHECK(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}     ", 4, msg) == 0);
    CHECK(st_try("{}  \n\t\r ", 0, msg) == 0);
    CHECK(st_try("{}  x", 0, msg) != 0 && strstr(msg, "1 bytes after the header JSON"));
    CHECK(st_try("{} {}", 0, msg) != 0 && strstr(msg, "not whitespace padding"));
    CHECK(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}\"b\"", 4, msg) != 0);
    /* NUL: raw bytes anywhere, \u0000 in a key; elsewhere (metadata values) fine. */
    {
        size_t blen;
        unsigned char *img = st_image("{\"aXb\":{}}", 0, &blen);
        img[8 + 3] = 0;
        ovx_st_file g;
        CHECK(ovx_st_parse(img, blen, &g, &err) != 0 && strstr(err.msg, "NUL byte"));
        free(img);
    }
    CHECK(st_try("{\"w\\u0000x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, msg) != 0);
    CHECK(strstr(msg, "NUL character") && strstr(msg, "w\\u0000x"));
    CHECK(st_try("{\"w\\u0000\" :{}}", 0, msg) != 0 && strstr(msg, "NUL character"));
    CHECK(st_try("{\"__metadata__\":{\"k\":\"v\\u0000\"},\"w\\\\u0000\":"
                 "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, msg) == 0);
    /* Non-finite values are counted by the conversion. */
    {
        const char *hdr = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                          "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[16,22]},"
                          "\"c\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[22,28]}}";
        size_t blen;
        unsigned char *img = st_image(hdr, 28, &blen);
        unsigned char *dd = img + 8 + strlen(hdr);
        float fv[4] = {1.0f, NAN, -INFINITY, 2.0f};
        uint16_t bv[3] = {0x7FC0, 0x3F80, 0xFF80}, hv[3] = {0x7C00, 0x3C00, 0x0001}; /* NaN 1 -Inf; Inf 1 tiny */
        memcpy(dd, fv, 16);
        memcpy(dd + 16, bv, 6);
        memcpy(dd + 22, hv, 6);
        ovx_st_file g;
        CHECK(ovx_st_parse(img, blen, &g, &err) == 0);
        float o[4];
        if (g.n == 3) {
            CHECK(ovx_st_to_f32(ovx_st_find(&g, "a"), o) == 2);
            CHECK(ovx_st_to_f32(ovx_st_find(&g, "b"), o) == 2 && o[1] == 1.0f);
            CHECK(ovx_st_to_f32(ovx_st_find(&g, "c"), o) == 1 && o[1] == 1.0f);
        }
        g.fd = -1;
        g.map = NULL;
        ovx_st_close(&g);
        free(img);
    }
    CHECK(ovx_st_open("/nonexistent/model.safetensors", &f, &err) == OVX_EIO &&
          strstr(err.msg, "/nonexistent/model.safetensors"));
}

/* ---------------------------------------------------------------- shard index */

static int index_try(const char *json, ovx_shard_index *idx, char *msg)
{
    ovx_error err;
    ovx_error_clear(&err);
    int rc = ovx_shard_index_parse(json, strlen(json), idx, &err);
    snprintf(msg, 1024, "%s", err.msg);
    return rc;
}

static void test_shard_index(void)
{
    char msg[1024];
    ovx_shard_index idx;
    CHECK(index_try("{\"metadata\":{},\"weight_map\":{\"a\":\"s2\",\"b\":\"s1\",\"c\":\"s2\"}}", &idx, msg) == 0);
    CHECK(idx.n == 2 && !strcmp(idx.names[0], "s2") && !strcmp(idx.names[1], "s1"));
    ovx_shard_index_free(&idx);
    CHECK(idx.n == 0 && idx.names == NULL);
    const char *bad[] = {"{}", "[]", "{\"weight_map\":[]}", "{\"weight_map\":{}}", "{\"weight_map\":{\"a\":1}}",
                         "{\"weight_map\":{\"a\":\"\"}}", "{\"weight_map\":{\"a\":\"../x\"}}",
                         "{\"weight_map\":{\"a\":\"..\"}}", "{\"weight_map\":{\"a\":\"d/x\"}}", "{\"weight_map\":"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(index_try(bad[i], &idx, msg) != 0 && idx.names == NULL && msg[0]);
    }
    /* more than OVX_MAX_SHARDS distinct shards */
    char *big = malloc(64 * (OVX_MAX_SHARDS + 2));
    size_t n = (size_t)sprintf(big, "{\"weight_map\":{");
    for (int i = 0; i <= OVX_MAX_SHARDS; i++)
        n += (size_t)sprintf(big + n, "%s\"t%d\":\"s%d\"", i ? "," : "", i, i);
    sprintf(big + n, "}}");
    CHECK(index_try(big, &idx, msg) == OVX_EUNSUPPORTED && strstr(msg, "more than"));
    free(big);
}

/* ---------------------------------------------------------------- finite outputs */

static void test_finite(void)
{
    float h[2 * 3 * 4], p[2 * 4];
    for (int i = 0; i < 24; i++)
        h[i] = (float)i;
    for (int i = 0; i < 8; i++)
        p[i] = -(float)i;
    ovx_outputs o = {.last_hidden_state = h, .pooler_output = p};
    ovx_error err;
    CHECK(ovx_outputs_check_finite(&o, 2, 6, 4, "stage", &err) == 0);
    p[5] = INFINITY;
    CHECK(ovx_outputs_check_finite(&o, 2, 6, 4, "stage", &err) == OVX_EINPUT);
    CHECK(strstr(err.msg, "stage: 1 NaN/Inf value(s) in pooler_output (first at row 1, channel 1)"));
    h[23] = NAN;
    h[22] = -INFINITY;
    CHECK(ovx_outputs_check_finite(&o, 2, 6, 4, "model forward", &err) == OVX_EINPUT);
    CHECK(strstr(err.msg, "model forward: 2 NaN/Inf value(s) in last_hidden_state (first at row 5, channel 2)"));
    o.last_hidden_state = NULL;
    o.pooler_output = NULL;
    o.hidden_state = h;
    CHECK(ovx_outputs_check_finite(&o, 2, 6, 4, "x", &err) == OVX_EINPUT && strstr(err.msg, "in hidden_state"));
}

/* ---------------------------------------------------------------- config */

static int cfg_try(const char *json, ovx_model_config *c, char *msg)
{
    ovx_error err;
    ovx_error_clear(&err);
    int rc = ovx_model_config_parse(json, strlen(json), c, &err);
    snprintf(msg, 1024, "%s", err.msg);
    return rc;
}

#define CFG_BASE "\"hidden_size\":128,\"intermediate_size\":512,\"num_hidden_layers\":2,\"patch_size\":14"

static void test_config(void)
{
    ovx_model_config c;
    char msg[1024];
    CHECK(cfg_try("{" CFG_BASE ",\"num_attention_heads\":2,\"hidden_act\":\"gelu\","
                  "\"layer_norm_type\":\"layer_norm\",\"use_head\":false,\"rope_theta\":500.0,"
                  "\"layer_norm_eps\":1e-5,\"model_type\":\"onevision_encoder\"}", &c, msg) == 0);
    CHECK(c.hidden_size == 128 && c.num_heads == 2 && c.head_dim == 64 && c.num_layers == 2 && !c.use_head);
    CHECK(c.rope_theta == 500.0 && c.layer_norm_eps == 1e-5f && c.rope_temporal_size == 64 && c.num_channels == 3);
    CHECK(cfg_try("{" CFG_BASE ",\"num_attention_heads\":4}", &c, msg) == OVX_EUNSUPPORTED);
    CHECK(strstr(msg, "head_dim 32"));
    CHECK(cfg_try("{" CFG_BASE ",\"num_attention_heads\":3}", &c, msg) != 0);
    CHECK(cfg_try("{" CFG_BASE ",\"num_attention_heads\":2,\"hidden_act\":\"relu\"}", &c, msg) == OVX_EUNSUPPORTED);
    CHECK(strstr(msg, "hidden_act") && strstr(msg, "relu"));
    CHECK(cfg_try("{" CFG_BASE ",\"num_attention_heads\":2,\"hidden_act\":\"gelu_pytorch_tanh\"}", &c, msg) != 0);
    CHECK(cfg_try("{" CFG_BASE ",\"num_attention_heads\":2,\"layer_norm_type\":\"rms_norm\"}", &c, msg) ==
          OVX_EUNSUPPORTED);
    CHECK(strstr(msg, "layer_norm_type"));
    CHECK(cfg_try("{" CFG_BASE ",\"num_attention_heads\":2,\"model_type\":\"siglip\"}", &c, msg) != 0);
    CHECK(cfg_try("{" CFG_BASE ",\"num_attention_heads\":2,\"head_dim\":128}", &c, msg) != 0);
    CHECK(cfg_try("{" CFG_BASE ",\"num_attention_heads\":2,\"use_head\":\"yes\"}", &c, msg) != 0);
    CHECK(cfg_try("{" CFG_BASE ",\"num_attention_heads\":2.5}", &c, msg) != 0);
    CHECK(cfg_try("{" CFG_BASE ",\"num_attention_heads\":\"2\"}", &c, msg) != 0);
    CHECK(cfg_try("{" CFG_BASE ",\"num_attention_heads\":2,\"layer_norm_eps\":0}", &c, msg) != 0);
    CHECK(cfg_try("{\"hidden_size\":128,\"num_attention_heads\":2,\"patch_size\":14,\"num_hidden_layers\":2}", &c,
                  msg) != 0);
    CHECK(strstr(msg, "intermediate_size"));
    CHECK(cfg_try("{\"hidden_size\":128,\"intermediate_size\":512,\"num_hidden_layers\":1e9,\"patch_size\":14,"
                  "\"num_attention_heads\":2}", &c, msg) != 0);
    CHECK(cfg_try("{\"hidden_size\":", &c, msg) != 0 && strstr(msg, "JSON"));
    CHECK(cfg_try("[]", &c, msg) != 0);
    ovx_model_config L = ovx_model_config_default_large();
    ovx_error err;
    CHECK(ovx_model_config_validate(&L, &err) == 0 && L.hidden_size == 1024 && L.num_layers == 24);
}

/* ---------------------------------------------------------------- RoPE */

static void test_rope(void)
{
    int32_t pos[3] = {3, 5, 7};
    float c[64], s[64];
    ovx_op_rope3d_tables(c, s, pos, 1, 10000.0);
    /* Hand-computed: angle[j] = 3 * 10^(-4j/8) (j<8), 5 * 10^(-4(j-8)/12)
     * (8<=j<20), 7 * 10^(-4(j-20)/12) (20<=j<32), repeated for j+32. */
    const struct { int j; double angle; } want[] = {
        {0, 3.0}, {1, 0.9486832980505138}, {7, 3.0 * 0.00031622776601683794}, {8, 5.0},
        {9, 2.3207944168063896}, {19, 5.0 * 0.00021544346900318845}, {20, 7.0}, {21, 3.249112183528945},
        {31, 7.0 * 0.00021544346900318845}, {32, 3.0}, {41, 2.3207944168063896}, {53, 3.249112183528945}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        CHECK_NEAR(c[want[i].j], cos(want[i].angle), 1e-6);
        CHECK_NEAR(s[want[i].j], sin(want[i].angle), 1e-6);
    }
    /* Interleaved partner: x'[0] = x0 cos a0 - x1 sin a0, x'[1] = x1 cos a1 + x0 sin a1. */
    float x[128];
    for (int i = 0; i < 128; i++)
        x[i] = (float)(i % 7) - 2.5f;
    float x0 = x[0], x1 = x[1], x64 = x[64], x65 = x[65];
    ovx_op_rope3d_apply(x, c, s, 1, 2, 1);
    CHECK_NEAR(x[0], x0 * cos(3.0) - x1 * sin(3.0), 1e-5);
    CHECK_NEAR(x[1], x1 * cos(0.9486832980505138) + x0 * sin(0.9486832980505138), 1e-5);
    CHECK_NEAR(x[64], x64 * cos(3.0) - x65 * sin(3.0), 1e-5); /* second head, same angles */
    CHECK_NEAR(x[65], x65 * cos(0.9486832980505138) + x64 * sin(0.9486832980505138), 1e-5);
    /* Position (0,0,0) is the identity. */
    int32_t zero[3] = {0, 0, 0};
    ovx_op_rope3d_tables(c, s, zero, 1, 10000.0);
    for (int j = 0; j < 64; j++)
        CHECK(c[j] == 1.0f && s[j] == 0.0f);
}

/* ---------------------------------------------------------------- dense ops */

/* ovx_op_attention on both paths, the fused AVX-512 kernel (where the CPU
 * has AVX-512F) and the sgemm fallback, on awkward shapes (tails of the 6-row
 * groups, 48-query tiles and 64-key blocks; Nq != Nk; the head's single
 * query): each against a double-precision attention, byte-identical for 1
 * and 3 threads, and the two paths within fp32 tolerance of each other. */
static void test_attention(void)
{
    static const int shapes[][3] = {{150, 97, 2}, {1, 1, 1}, {37, 37, 3}, {100, 100, 1},
                                    {257, 257, 3}, {1025, 1025, 1}, {1, 1025, 4}};
    ovx_attn512_force(1);
    int have512 = ovx_attn512_available();
    if (!have512)
        printf("attention: this CPU has no AVX-512F, only the fallback path is tested\n");
    double worst = 0.0, apart = 0.0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        attn_case c;
        attn_case_make(&c, shapes[si][0], shapes[si][1], shapes[si][2], ref_exact, 0);
        for (int path = 0; path < 2; path++) { /* 0: fused (if any), 1: fallback */
            ovx_attn512_force(path == 0 && have512);
            for (int t = 0; t < 2; t++) {
                c.o[path][t] = malloc(sizeof(float) * c.n);
                CHECK(ovx_op_attention(c.o[path][t], c.q, c.k, c.v, c.NQ, c.NK, c.H, c.scale, t ? 3 : 1) == 0);
            }
            CHECK(memcmp(c.o[path][0], c.o[path][1], sizeof(float) * c.n) == 0);
        }
        for (size_t i = 0; i < c.n; i++) {
            double d0 = fabs(c.o[0][0][i] - c.ref[i]), d1 = fabs(c.o[1][0][i] - c.ref[i]);
            double d = fabs((double)c.o[0][0][i] - c.o[1][0][i]);
            worst = fmax(worst, fmax(d0, d1));
            apart = fmax(apart, d);
        }
        attn_case_free(&c);
    }
    ovx_attn512_force(-1);
    printf("attention vs naive: max abs diff %.3g; fused vs fallback %.3g\n", worst, apart);
    CHECK(worst < 2e-6);
    CHECK(apart < 2e-6);
}

static void test_linear_norms(void)
{
    enum { T = 300, IN = 40, OUT = 24 };
    float x[T * IN], w[OUT * IN], b[OUT], y[T * OUT], y2[T * OUT];
    fill_rand(x, T * IN, 1.0f);
    fill_rand(w, OUT * IN, 1.0f);
    fill_rand(b, OUT, 1.0f);
    ovx_op_linear(y, x, w, b, T, IN, OUT, 2);
    ovx_op_linear(y2, x, w, b, T, IN, OUT, 1);
    CHECK(memcmp(y, y2, sizeof y) == 0);
    double worst = 0;
    for (int t = 0; t < T; t++)
        for (int o = 0; o < OUT; o++) {
            double acc = b[o];
            for (int i = 0; i < IN; i++)
                acc += (double)x[t * IN + i] * w[o * IN + i];
            worst = fmax(worst, fabs(acc - y[t * OUT + o]));
        }
    CHECK(worst < 1e-5);
    /* layernorm of [1,2,3,4]: mean 2.5, var 1.25. */
    float r[4] = {1, 2, 3, 4}, lw[4] = {1, 1, 2, 1}, lb[4] = {0, 0, 0, 1}, ro[4];
    ovx_op_layernorm(ro, r, lw, lb, 1, 4, 0.0f, 1);
    CHECK_NEAR(ro[0], -1.5 / sqrt(1.25), 1e-6);
    CHECK_NEAR(ro[2], 2 * 0.5 / sqrt(1.25), 1e-6);
    CHECK_NEAR(ro[3], 1.5 / sqrt(1.25) + 1, 1e-6);
    /* rmsnorm of [3,4]: rms = sqrt(12.5). */
    float rr[2] = {3, 4}, rw[2] = {1, 2}, rout[2];
    ovx_op_rmsnorm(rout, rr, rw, 1, 2, 0.0f);
    CHECK_NEAR(rout[0], 3 / sqrt(12.5), 1e-6);
    CHECK_NEAR(rout[1], 8 / sqrt(12.5), 1e-6);
    float g[3] = {0.0f, 1.0f, -2.0f};
    ovx_op_gelu_erf(g, 3, 1);
    CHECK_NEAR(g[0], 0.0, 1e-7);
    CHECK_NEAR(g[1], 0.8413447460685429, 1e-6);
    CHECK_NEAR(g[2], -0.04550026389635842, 1e-6);
}

/* ---------------------------------------------------------------- vecmath */

static void test_vecmath(void)
{
    double worst = 0.0;
    for (double x = -87.0; x <= 0.0; x += 0.0137) {
        double rel = fabs(ovx_expf_approx((float)x) - exp((float)x)) / exp((float)x);
        worst = rel > worst ? rel : worst;
    }
    printf("exp kernel: max rel error %.3g on [-87, 0]\n", worst);
    CHECK(worst < 3e-7);
    enum { N = 4001 };
    static float g[N];
    for (int i = 0; i < N; i++)
        g[i] = -10.0f + 20.0f * (float)i / (N - 1);
    ovx_gelu_erf_vec(g, N);
    worst = 0.0;
    for (int i = 0; i < N; i++) {
        double x = (double)(float)(-10.0f + 20.0f * (float)i / (N - 1));
        double want = 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
        double err = fabs(g[i] - want) / fmax(fabs(want), 1e-3);
        worst = err > worst ? err : worst;
    }
    printf("gelu kernel: max rel error %.3g on [-10, 10]\n", worst);
    CHECK(worst < 3e-6); /* float rounding of z^2 in exp(-z^2) dominates in the tail */
    /* Softmax row of 13 (vector part + tail): sums to one, matches exp. */
    float s[13], ref[13];
    double sum = 0.0;
    for (int i = 0; i < 13; i++) {
        s[i] = (float)(i * 0.7 - 3.0);
        ref[i] = (float)exp(s[i] - (12 * 0.7 - 3.0));
        sum += ref[i];
    }
    float inv = ovx_softmax_row_unnormalised(s, 13);
    CHECK_NEAR(inv, 1.0 / sum, 1e-6);
    for (int i = 0; i < 13; i++)
        CHECK_NEAR(s[i], ref[i], 1e-6);
}

/* The AVX-512 (16-float) and 8-float softmax/GELU kernels give the same
 * bits; the bf16 softmax gives the CUDA path's probabilities (its base-2
 * softmax computed here with cuda/numerics.h and libm's exp2f) and 1 / their
 * sum; odd lengths exercise the 8-block and scalar tails. */
static void test_vecmath_widths(void)
{
    enum { MAXN = 4099 };
    static float a[MAXN], b[MAXN], src[MAXN];
    static uint16_t pa[MAXN], pb[MAXN];
    const int lens[] = {1, 7, 8, 9, 15, 16, 17, 23, 24, 25, 64, 100, 1000, 4096, 4099};
    uint32_t seed = 12345;
    int mism = 0, bf_mism = 0, checked = 0, flips = 0;
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        int n = lens[li];
        for (int i = 0; i < n; i++) {
            seed = seed * 1664525u + 1013904223u;
            src[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * (li % 3 == 0 ? 200.0f : 12.0f);
        }
        float inv[2], invb[2];
        for (int w = 0; w < 2; w++) {
            ovx_vecmath_force_width(w ? 8 : 16);
            float *x = w ? b : a;
            memcpy(x, src, (size_t)n * sizeof(float));
            inv[w] = ovx_softmax_row_unnormalised(x, n);
            invb[w] = ovx_softmax_row_bf16(src, w ? pb : pa, n);
        }
        mism += memcmp(a, b, (size_t)n * sizeof(float)) != 0 || memcmp(&inv[0], &inv[1], sizeof(float)) != 0 ||
                memcmp(&invb[0], &invb[1], sizeof(float)) != 0 || memcmp(pa, pb, (size_t)n * 2) != 0;
        /* the bf16 row against the CUDA path's own arithmetic (cuda/numerics.h,
         * k_softmax_rows with libm's exp2f): a flip only where exp2f and ours
         * straddle a bf16 rounding boundary, never more than one bf16 step */
        float xmax = -INFINITY;
        for (int i = 0; i < n; i++)
            xmax = fmaxf(xmax, src[i] * OVX_NX_LOG2E);
        float m = ovx_nx_softmax_offset(xmax);
        double sum_ref = 0.0;
        for (int i = 0; i < n; i++, checked++) {
            uint16_t want = ovx_nx_to_bf16(exp2f(src[i] * OVX_NX_LOG2E - m));
            sum_ref += ovx_nx_from_bf16(want);
            if (pa[i] != want && ovx_nx_from_bf16(want) < 0x1p-125f) {
                CHECK(ovx_nx_from_bf16(pa[i]) == 0x1p-125f); /* ovx clamps at 2^-125 */
            } else if (pa[i] != want) {
                flips++;
                CHECK(abs((int)pa[i] - (int)want) == 1);
            }
        }
        CHECK_NEAR(1.0 / invb[0], sum_ref, 1e-5 * sum_ref);
        for (int w = 0; w < 2; w++) {
            ovx_vecmath_force_width(w ? 8 : 16);
            float *x = w ? b : a;
            memcpy(x, src, (size_t)n * sizeof(float));
            ovx_gelu_erf_vec(x, n);
        }
        mism += memcmp(a, b, (size_t)n * sizeof(float)) != 0;
    }
    /* bf16 rounding of arrays: denormals, NaN, infinities, ties, odd tails */
    static float r[1037];
    static uint16_t rb[1037];
    const float special[] = {0.0f, -0.0f, 1e-40f, -3e-39f, INFINITY, -INFINITY, NAN, 1.00390625f, 1.01171875f, -2.5f};
    for (int i = 0; i < 1037; i++) {
        seed = seed * 1664525u + 1013904223u;
        r[i] = i % 7 == 0 ? special[(i / 7) % 10] : ((float)(seed >> 8) / 16777216.0f - 0.5f) * 1e3f;
    }
    for (int w = 0; w < 2; w++) {
        ovx_vecmath_force_width(w ? 8 : 16);
        for (int n = 1030; n <= 1037; n++) {
            ovx_f32_to_bf16_vec(rb, r, n);
            for (int i = 0; i < n; i++, checked++)
                bf_mism += rb[i] != ovx_f32_to_bf16(r[i]);
        }
    }
    ovx_vecmath_force_width(0);
    printf("vecmath widths: %d rows differ between 16 and 8 floats; %d of %d bf16 probabilities differ from the "
           "CUDA path's; %d bf16 roundings off\n", mism, flips, checked, bf_mism);
    CHECK(flips <= checked / 1000);
    CHECK(mism == 0);
    CHECK(bf_mism == 0);
}

/* ---------------------------------------------------------------- tokens */

static void test_tokens(void)
{
    ovx_model_config cfg = ovx_model_config_default_large();
    cfg.rope_temporal_size = 4;
    enum { T = 3, H = 30, W = 42, P = 14 }; /* Hp 2, Wp 3, crop 2 rows */
    float *px = malloc(sizeof(float) * 3 * T * H * W);
    for (int i = 0; i < 3 * T * H * W; i++)
        px[i] = (float)i;
    ovx_pixel_input in = {px, 1, 3, T, H, W, NULL, 0};
    ovx_token_buffer tb;
    ovx_error err;
    CHECK(ovx_model_tokens_from_pixels(&cfg, &in, &tb, &err) == 0);
    CHECK(tb.mode == OVX_TOKENS_ALL && tb.tokens.n == 18 && tb.cropped && tb.used_height == 28);
    /* token 10 = frame 1, row 1, col 1: patch element (c=2, kh=3, kw=5). */
    int K = 3 * P * P;
    CHECK(tb.pos[30] == 1 && tb.pos[31] == 1 && tb.pos[32] == 1);
    CHECK(tb.patches[10 * K + 2 * P * P + 3 * P + 5] == px[((2 * T + 1) * H + 14 + 3) * W + 14 + 5]);
    ovx_token_buffer_free(&tb);
    /* Positions-only: 18 indices, position from index, patches in order. */
    int64_t vi[18];
    for (int i = 0; i < 18; i++)
        vi[i] = i + (i >= 6 ? 6 : 0); /* frames 0, 2, 3 of 4 slots */
    in.visible_indices = vi;
    in.n_visible = 18;
    if (ovx_model_tokens_from_pixels(&cfg, &in, &tb, &err) != 0) {
        CHECK(!"positions-only tokens");
        free(px);
        return;
    }
    CHECK(tb.mode == OVX_TOKENS_POSITIONS && tb.pos[3 * 6] == 2 && tb.pos[3 * 17] == 3);
    CHECK(tb.patches[6 * K] == px[(1 * H) * W]); /* token 6 is frame 1's first patch */
    ovx_token_buffer_free(&tb);
    vi[17] = 24; /* slot 4 of 4: out of range */
    CHECK(ovx_model_tokens_from_pixels(&cfg, &in, &tb, &err) == OVX_EUSAGE && strstr(err.msg, "24"));
    /* Gather: 2 tokens, indices into the input's own 18. */
    int64_t g[2] = {17, 4};
    in.visible_indices = g;
    in.n_visible = 2;
    CHECK(ovx_model_tokens_from_pixels(&cfg, &in, &tb, &err) == 0);
    CHECK(tb.mode == OVX_TOKENS_GATHER && tb.tokens.n == 2);
    CHECK(tb.pos[0] == 2 && tb.pos[1] == 1 && tb.pos[2] == 2 && tb.pos[3] == 0 && tb.pos[4] == 1 && tb.pos[5] == 1);
    CHECK(tb.patches[0] == px[(2 * H + 14) * W + 28]);
    ovx_token_buffer_free(&tb);
    g[0] = 18;
    CHECK(ovx_model_tokens_from_pixels(&cfg, &in, &tb, &err) != 0);
    g[0] = -1;
    CHECK(ovx_model_tokens_from_pixels(&cfg, &in, &tb, &err) != 0);
    /* Too many frames without indices; wrong channels; too small. */
    in.visible_indices = NULL;
    in.frames = 2;
    cfg.rope_temporal_size = 1;
    CHECK(ovx_model_tokens_from_pixels(&cfg, &in, &tb, &err) != 0 && strstr(err.msg, "temporal"));
    cfg.rope_temporal_size = 64;
    in.channels = 1;
    CHECK(ovx_model_tokens_from_pixels(&cfg, &in, &tb, &err) != 0);
    in.channels = 3;
    in.height = 10;
    CHECK(ovx_model_tokens_from_pixels(&cfg, &in, &tb, &err) != 0);
    free(px);
}

/* ---------------------------------------------------------------- random model + forward */

/* 2 layers of width 128, 2 heads, intermediate 256. */
static ovx_model_config small_config(void)
{
    ovx_model_config cfg = ovx_model_config_default_large();
    cfg.hidden_size = 128;
    cfg.num_heads = 2;
    cfg.intermediate_size = 256;
    cfg.num_layers = 2;
    return cfg;
}

static void test_random_forward(void)
{
    ovx_model_config cfg = small_config();
    ovx_model *a = NULL, *b = NULL, *c = NULL;
    ovx_error err;
    CHECK(ovx_model_create_random(&cfg, 7, &a, &err) == 0);
    CHECK(ovx_model_create_random(&cfg, 7, &b, &err) == 0);
    CHECK(ovx_model_create_random(&cfg, 8, &c, &err) == 0);
    if (!a || !b || !c)
        return;
    ovx_model_info ia, ib, ic;
    ovx_model_get_info(a, &ia);
    ovx_model_get_info(b, &ib);
    ovx_model_get_info(c, &ic);
    CHECK(ia.checksum == ib.checksum && ia.checksum != ic.checksum && ia.n_tensors == 3 + 2 * 16 + 12);
    enum { B = 2, N = 70, K = 3 * 14 * 14 };
    static float patches[B * N * K];
    static int32_t pos[B * N * 3];
    fill_rand(patches, B * N * K, 1.0f);
    for (int i = 0; i < B * N; i++) {
        pos[3 * i] = i % 5;
        pos[3 * i + 1] = (i / 5) % 7;
        pos[3 * i + 2] = i % 11;
    }
    ovx_tokens in = {B, N, patches, pos};
    ovx_outputs o1 = {.hidden_state_index = -2}, o2 = {.hidden_state_index = -2};
    ovx_model_set_threads(a, 1);
    ovx_model_set_threads(b, 3);
    CHECK(ovx_model_forward(a, &in, &o1, &err) == 0);
    CHECK(ovx_model_forward(b, &in, &o2, &err) == 0);
    CHECK(o1.pooler_output && o1.hidden_state && o2.last_hidden_state);
    if (o1.pooler_output && o2.pooler_output) {
        CHECK(!memcmp(o1.last_hidden_state, o2.last_hidden_state, sizeof(float) * B * N * 128));
        CHECK(!memcmp(o1.pooler_output, o2.pooler_output, sizeof(float) * B * 128));
        CHECK(!memcmp(o1.hidden_state, o2.hidden_state, sizeof(float) * B * N * 128));
        /* Sample 1 alone gives sample 1's rows of the batch. */
        ovx_tokens one = {1, N, patches + N * K, pos + 3 * N};
        ovx_outputs o3 = {.hidden_state_index = OVX_NO_HIDDEN_STATE};
        CHECK(ovx_model_forward(a, &one, &o3, &err) == 0 && !o3.hidden_state);
        if (o3.last_hidden_state) {
            CHECK(!memcmp(o3.last_hidden_state, o1.last_hidden_state + N * 128, sizeof(float) * N * 128));
            CHECK(!memcmp(o3.pooler_output, o1.pooler_output + 128, sizeof(float) * 128));
        }
        ovx_outputs_free(&o3);
    }
    ovx_outputs bad = {.hidden_state_index = 3};
    CHECK(ovx_model_forward(a, &in, &bad, &err) == OVX_EUSAGE);
    ovx_outputs_free(&o1);
    ovx_outputs_free(&o2);
    ovx_model_free(a);
    ovx_model_free(b);
    ovx_model_free(c);
}

/* A packed batch of samples of different lengths (one of them longer than
 * the MLP's row block, partial 256-row chunks everywhere) gives each sample
 * the bytes of its own forward, at other thread counts (other row blocks). */
static void test_packed_forward(void)
{
    ovx_model_config cfg = small_config();
    ovx_model *m = NULL;
    ovx_error err;
    CHECK(ovx_model_create_random(&cfg, 11, &m, &err) == 0);
    if (!m)
        return;
    enum { S = 4, K = 3 * 14 * 14, D = 128 };
    const int len[S] = {300, 40, 2100, 257};
    int total = 0;
    for (int s = 0; s < S; s++)
        total += len[s];
    float *patches = malloc((size_t)total * K * sizeof *patches);
    int32_t *pos = malloc((size_t)total * 3 * sizeof *pos);
    if (!patches || !pos) {
        free(patches);
        free(pos);
        ovx_model_free(m);
        CHECK(0);
        return;
    }
    fill_rand(patches, (size_t)total * K, 1.0f);
    for (int i = 0; i < total; i++) {
        pos[3 * i] = i % 3;
        pos[3 * i + 1] = (i / 3) % 16;
        pos[3 * i + 2] = i % 16;
    }
    ovx_outputs all = {.hidden_state_index = 1};
    ovx_model_set_threads(m, 3);
    CHECK(ovx_model_forward_packed(m, S, len, patches, pos, &all, &err) == 0);
    ovx_model_set_threads(m, 1);
    int off = 0;
    for (int s = 0; s < S && all.last_hidden_state; s++) {
        ovx_tokens one = {1, len[s], patches + (size_t)off * K, pos + (size_t)off * 3};
        ovx_outputs o = {.hidden_state_index = 1};
        CHECK(ovx_model_forward(m, &one, &o, &err) == 0);
        if (o.last_hidden_state) {
            size_t nd = (size_t)len[s] * D * sizeof(float);
            CHECK(!memcmp(o.last_hidden_state, all.last_hidden_state + (size_t)off * D, nd));
            CHECK(!memcmp(o.hidden_state, all.hidden_state + (size_t)off * D, nd));
            CHECK(!memcmp(o.pooler_output, all.pooler_output + (size_t)s * D, D * sizeof(float)));
        }
        ovx_outputs_free(&o);
        off += len[s];
    }
    const int bad[2] = {5, 0};
    ovx_outputs none = {.hidden_state_index = OVX_NO_HIDDEN_STATE};
    CHECK(ovx_model_forward_packed(m, 2, bad, patches, pos, &none, &err) == OVX_EUSAGE && !none.last_hidden_state);
    ovx_outputs_free(&all);
    free(patches);
    free(pos);
    ovx_model_free(m);
}

int main(void)
{
    test_safetensors();
    test_shard_index();
    test_finite();
    test_config();
    test_rope();
    test_attention();
    test_linear_norms();
    test_tokens();
    test_vecmath();
    test_vecmath_widths();
    test_random_forward();
    test_packed_forward();
    return CHECK_RESULT();
}
