/* gpu_hooks.c: an optional layer over a device's op table (gpu.h), put
 * there by gpu.c only when something asks for it:
 * - OVX_CUDA_SYNC=1: a device sync after every op, so an asynchronous kernel
 *   fault is reported by the op that caused it ("softmax_rows: ...");
 * - the emulated device of OVX_CUDA_EMULATE: its memory limit;
 * - the test hook OVX_CUDA_FAIL (documented as test-only): `upload` (every
 *   allocation after open fails: out of memory), `fault:OP[:N]` (the N-th
 *   call of OP after open (OP `any`: any kernel or GEMM) poisons the device like an
 *   illegal address: everything after it fails, as CUDA's sticky errors do),
 *   `skip:OP` (OP silently does nothing: wrong numbers, for checking that
 *   selftest notices), `error:OP[:N]` (the N-th call of OP fails without
 *   poisoning the device: a launch refused, one batch out of memory; the
 *   forward of one batch fails and the device stays usable).
 * Entries of the table not listed here pass through unchanged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/gpu_open.h"

#define X(g) ((g)->ext)
#define EMU_HDR 16 /* emulated allocations keep their size in front */

static const char *const op_names[] = {
    "any", "upload", "download", "copy_async", "sync", "activate", "gemm", "to_bf16", "pack_rows_bf16",
    "norm", "add_norm", "bias_act", "linear", "residual_add", "rope_tables", "rope_qkv",
    "softmax_rows", "attention_out", "flash_attention", "flash_attention_mma", "copy_on", "event_sync"};

int ovx_gpu_hooks_known_op(const char *op)
{
    for (size_t i = 0; i < sizeof op_names / sizeof op_names[0]; i++)
        if (!strcmp(op, op_names[i]))
            return 1;
    return 0;
}

int ovx_gpu_hooks_env(ovx_gpu_hook_cfg *cfg, int *active, ovx_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    *active = 0;
    const char *s = getenv("OVX_CUDA_SYNC");
    if (s && *s && strcmp(s, "0")) {
        if (strcmp(s, "1"))
            return ovx_error_set(err, OVX_EUSAGE, "OVX_CUDA_SYNC='%s': expected 0 or 1", s);
        cfg->sync_each = 1;
    }
    const char *f = getenv("OVX_CUDA_FAIL");
    if (f && *f) {
        char op[32] = "";
        long at = 1;
        int used = 0;
        if (!strcmp(f, "open")) {
            cfg->fail_open = 1;
        } else if (!strcmp(f, "upload")) {
            cfg->fail_upload = 1;
        } else if (!strcmp(f, "capture")) {
            cfg->fail_capture = 1;
        } else if (sscanf(f, "fault:%31[a-z_0-9]%n", op, &used) == 1 &&
                   (!f[used] || (sscanf(f + used, ":%ld%n", &at, &used) == 1 && at >= 1)) &&
                   ovx_gpu_hooks_known_op(op)) {
            snprintf(cfg->fault_op, sizeof cfg->fault_op, "%s", op);
            cfg->fault_at = at;
        } else if (sscanf(f, "error:%31[a-z_0-9]%n", op, &used) == 1 &&
                   (!f[used] || (sscanf(f + used, ":%ld%n", &at, &used) == 1 && at >= 1)) &&
                   ovx_gpu_hooks_known_op(op)) {
            snprintf(cfg->error_op, sizeof cfg->error_op, "%s", op);
            cfg->error_at = at;
        } else if (sscanf(f, "skip:%31[a-z_0-9]%n", op, &used) == 1 && !f[used] &&
                   ovx_gpu_hooks_known_op(op) && strcmp(op, "any")) {
            snprintf(cfg->skip_op, sizeof cfg->skip_op, "%s", op);
        } else {
            return ovx_error_set(err, OVX_EUSAGE,
                                 "OVX_CUDA_FAIL='%s': expected open, upload, capture, fault:OP[:N], error:OP[:N] or skip:OP "
                                 "(a test hook; OP an entry of cuda/gpu.h, e.g. softmax_rows, or "
                                 "any for faults and errors)", f);
        }
    }
    *active = cfg->sync_each || cfg->fail_open || cfg->fail_upload || cfg->fail_capture || cfg->fault_op[0] ||
              cfg->skip_op[0] || cfg->error_op[0];
    return OVX_OK;
}

/* the sticky state of an injected fault, reported by every later call */
static int poisoned(ovx_gpu *g, const char *op)
{
    if (!X(g)->poisoned)
        return 0;
    snprintf(g->msg, sizeof g->msg, "%s: %s", op, X(g)->poison);
    return 1;
}

/* Before an op: -1 to fail it, else 0 with *skip = 1 when it must not run. */
static int pre(ovx_gpu *g, const char *op, int *skip)
{
    struct ovx_gpu_ext *x = X(g);
    *skip = 0;
    if (poisoned(g, op))
        return -1;
    /* calls that wait for the device (the rest are kernels and GEMMs) */
    int waits = !strcmp(op, "upload") || !strcmp(op, "download") || !strcmp(op, "sync") ||
                !strcmp(op, "activate") || !strcmp(op, "event_sync");
    if (x->armed && x->cfg.fault_op[0] &&
        (!strcmp(op, x->cfg.fault_op) || (!strcmp(x->cfg.fault_op, "any") && !waits)) &&
        ++x->fault_calls == x->cfg.fault_at) {
        x->poisoned = 1;
        snprintf(x->poison, sizeof x->poison,
                 "an illegal memory access was encountered (fault injected into %s by OVX_CUDA_FAIL)", op);
        /* a kernel launch itself succeeds and the fault shows later; a call
         * that waits for the device reports it at once */
        if (waits)
            return poisoned(g, op) ? -1 : 0;
        *skip = 1;
    }
    if (x->armed && x->cfg.error_op[0] &&
        (!strcmp(op, x->cfg.error_op) || (!strcmp(x->cfg.error_op, "any") && !waits)) &&
        ++x->error_calls == x->cfg.error_at) {
        snprintf(g->msg, sizeof g->msg,
                 "%s: too many resources requested for launch (error injected by OVX_CUDA_FAIL)", op);
        return -1;
    }
    if (x->cfg.skip_op[0] && !strcmp(op, x->cfg.skip_op))
        *skip = 1;
    return 0;
}

static int hsync(ovx_gpu *g)
{
    if (poisoned(g, "CUDA stream"))
        return -1;
    return X(g)->base->sync(g);
}

/* After an op that ran (rc its result): with OVX_CUDA_SYNC, waits for it
 * so a fault is reported here, naming the op. */
static int post(ovx_gpu *g, const char *op, int rc)
{
    if (rc || !X(g)->cfg.sync_each)
        return rc;
    if (hsync(g)) {
        char m[sizeof g->msg];
        snprintf(m, sizeof m, "%s", g->msg);
        snprintf(g->msg, sizeof g->msg, "%s failed (device synced after each op, OVX_CUDA_SYNC=1): %.400s",
                 op, m);
        return -1;
    }
    return 0;
}

#define HOOKED(op, call)                                                       \
    do {                                                                       \
        int skip_;                                                             \
        if (pre(g, #op, &skip_))                                               \
            return -1;                                                         \
        return post(g, #op, skip_ ? 0 : X(g)->base->call);                     \
    } while (0)

static int h_alloc(ovx_gpu *g, void **d_p, size_t bytes)
{
    struct ovx_gpu_ext *x = X(g);
    *d_p = NULL;
    if (poisoned(g, "alloc"))
        return -1;
    if (x->armed && x->cfg.fail_upload) {
        snprintf(g->msg, sizeof g->msg,
                 "cudaMalloc of %zu bytes: out of memory (forced by the test hook OVX_CUDA_FAIL=upload)",
                 bytes);
        return -1;
    }
    if (!x->mem_limit)
        return x->base->alloc(g, d_p, bytes);
    if (bytes > x->mem_limit - x->mem_used) {
        snprintf(g->msg, sizeof g->msg, "cudaMalloc of %zu bytes: out of memory", bytes);
        return -1;
    }
    void *p;
    if (x->base->alloc(g, &p, bytes + EMU_HDR))
        return -1;
    memcpy(p, &bytes, sizeof bytes);
    x->mem_used += bytes;
    *d_p = (char *)p + EMU_HDR;
    return 0;
}

static void h_release(ovx_gpu *g, void *d_p)
{
    struct ovx_gpu_ext *x = X(g);
    if (!d_p || !x->mem_limit) {
        x->base->release(g, d_p);
        return;
    }
    char *p = (char *)d_p - EMU_HDR;
    size_t bytes;
    memcpy(&bytes, p, sizeof bytes);
    x->mem_used -= bytes;
    x->base->release(g, p);
}

static int h_upload(ovx_gpu *g, void *d_dst, const void *src, size_t bytes)
{
    HOOKED(upload, upload(g, d_dst, src, bytes));
}

static int h_download(ovx_gpu *g, void *dst, const void *d_src, size_t bytes)
{
    HOOKED(download, download(g, dst, d_src, bytes));
}

static int h_copy_async(ovx_gpu *g, void *dst, const void *src, size_t bytes, int dir)
{
    HOOKED(copy_async, copy_async(g, dst, src, bytes, dir));
}

static int h_copy_on(ovx_gpu *g, int stream, void *dst, const void *src, size_t bytes, int dir)
{
    HOOKED(copy_on, copy_on(g, stream, dst, src, bytes, dir));
}

/* the host's wait for a batch: where a real device reports an earlier fault */
static int h_event_sync(ovx_gpu *g, int ev)
{
    int skip;
    if (pre(g, "event_sync", &skip))
        return -1;
    if (poisoned(g, "waiting for a batch"))
        return -1;
    return skip ? 0 : X(g)->base->event_sync(g, ev);
}

static int h_sync(ovx_gpu *g)
{
    int skip;
    if (pre(g, "sync", &skip))
        return -1;
    return skip ? 0 : hsync(g);
}

static int h_activate(ovx_gpu *g)
{
    HOOKED(activate, activate(g));
}

static int h_gemm(ovx_gpu *g, int trans_a, int trans_b, int m, int n, int k, float alpha,
                  const ovx_bf16 *d_a, int lda, long long stride_a, const ovx_bf16 *d_b, int ldb,
                  long long stride_b, float beta, void *d_c, int c_bf16, int ldc,
                  long long stride_c, int batch)
{
    HOOKED(gemm, gemm(g, trans_a, trans_b, m, n, k, alpha, d_a, lda, stride_a, d_b, ldb, stride_b,
                      beta, d_c, c_bf16, ldc, stride_c, batch));
}

static int h_to_bf16(ovx_gpu *g, const float *d_x, ovx_bf16 *d_y, size_t n)
{
    HOOKED(to_bf16, to_bf16(g, d_x, d_y, n));
}

static int h_pack_rows_bf16(ovx_gpu *g, const float *d_x, ovx_bf16 *d_y, int rows, int k, int kpad)
{
    HOOKED(pack_rows_bf16, pack_rows_bf16(g, d_x, d_y, rows, k, kpad));
}

static int h_norm(ovx_gpu *g, const float *d_x, const float *d_w, const float *d_b, float eps,
                  int rows, int cols, float *d_y_f32, ovx_bf16 *d_y_bf16)
{
    HOOKED(norm, norm(g, d_x, d_w, d_b, eps, rows, cols, d_y_f32, d_y_bf16));
}

static int h_add_norm(ovx_gpu *g, float *d_x, const float *d_res, const float *d_w, const float *d_b,
                      float eps, int rows, int cols, ovx_bf16 *d_y_bf16)
{
    HOOKED(add_norm, add_norm(g, d_x, d_res, d_w, d_b, eps, rows, cols, d_y_bf16));
}

static int h_bias_act(ovx_gpu *g, const float *d_h, const float *d_b, int epi, int rows, int cols,
                      float *d_y32, ovx_bf16 *d_y16)
{
    HOOKED(bias_act, bias_act(g, d_h, d_b, epi, rows, cols, d_y32, d_y16));
}

static int h_linear(ovx_gpu *g, const ovx_bf16 *d_w, const float *d_b, const ovx_bf16 *d_b16,
                    int out, int in,
                    const ovx_bf16 *d_x, int rows, int epi, float *d_y32, ovx_bf16 *d_y16)
{
    HOOKED(linear, linear(g, d_w, d_b, d_b16, out, in, d_x, rows, epi, d_y32, d_y16));
}

static int h_residual_add(ovx_gpu *g, float *d_x, const float *d_y, size_t n)
{
    HOOKED(residual_add, residual_add(g, d_x, d_y, n));
}

static int h_rope_tables(ovx_gpu *g, const int32_t *d_pos, const double *d_inv, int n, float *d_cos,
                         float *d_sin)
{
    HOOKED(rope_tables, rope_tables(g, d_pos, d_inv, n, d_cos, d_sin));
}

static int h_rope_qkv(ovx_gpu *g, const float *d_qkv, const float *d_cos, const float *d_sin,
                      ovx_bf16 *d_q, ovx_bf16 *d_k, ovx_bf16 *d_v, int n, int heads)
{
    HOOKED(rope_qkv, rope_qkv(g, d_qkv, d_cos, d_sin, d_q, d_k, d_v, n, heads));
}

static int h_softmax_rows(ovx_gpu *g, const float *d_s, ovx_bf16 *d_p, float *d_inv, int rows,
                          int cols)
{
    HOOKED(softmax_rows, softmax_rows(g, d_s, d_p, d_inv, rows, cols));
}

static int h_attention_out(ovx_gpu *g, const float *d_f, int f_ld, const float *d_inv,
                           ovx_bf16 *d_o, int o_ld, int rows, int heads)
{
    HOOKED(attention_out, attention_out(g, d_f, f_ld, d_inv, d_o, o_ld, rows, heads));
}

static int h_flash_attention(ovx_gpu *g, const ovx_bf16 *d_q, int q_ld, const ovx_bf16 *d_k,
                             const ovx_bf16 *d_v, int kv_ld, ovx_bf16 *d_o, int o_ld,
                             const int32_t *d_tiles, int ntiles, int heads, float scale)
{
    HOOKED(flash_attention, flash_attention(g, d_q, q_ld, d_k, d_v, kv_ld, d_o, o_ld, d_tiles,
                                            ntiles, heads, scale));
}

static int h_flash_attention_mma(ovx_gpu *g, const ovx_bf16 *d_q, int q_ld, const ovx_bf16 *d_k,
                                 const ovx_bf16 *d_v, int kv_ld, ovx_bf16 *d_o, int o_ld,
                                 const int32_t *d_tiles, int ntiles, int heads, float scale)
{
    HOOKED(flash_attention_mma, flash_attention_mma(g, d_q, q_ld, d_k, d_v, kv_ld, d_o, o_ld,
                                                    d_tiles, ntiles, heads, scale));
}

void ovx_gpu_hooks_install(ovx_gpu *g)
{
    struct ovx_gpu_ext *x = X(g);
    x->base = g->ops;
    x->hooked = *g->ops; /* entries added to gpu.h later pass through */
    x->hooked.alloc = h_alloc;
    x->hooked.release = h_release;
    x->hooked.upload = h_upload;
    x->hooked.download = h_download;
    x->hooked.sync = h_sync;
    x->hooked.copy_async = h_copy_async;
    x->hooked.activate = h_activate;
    x->hooked.gemm = h_gemm;
    x->hooked.to_bf16 = h_to_bf16;
    x->hooked.pack_rows_bf16 = h_pack_rows_bf16;
    x->hooked.norm = h_norm;
    x->hooked.add_norm = h_add_norm;
    x->hooked.bias_act = h_bias_act;
    if (x->base->linear) /* NULL: gemm + bias_act */
        x->hooked.linear = h_linear;
    x->hooked.residual_add = h_residual_add;
    x->hooked.rope_tables = h_rope_tables;
    x->hooked.rope_qkv = h_rope_qkv;
    x->hooked.softmax_rows = h_softmax_rows;
    x->hooked.attention_out = h_attention_out;
    if (x->base->copy_on) /* NULL: the emulations, ops done when they return */
        x->hooked.copy_on = h_copy_on;
    if (x->base->event_sync)
        x->hooked.event_sync = h_event_sync;
    if (x->base->flash_attention) /* NULL: the forward uses the chunked path */
        x->hooked.flash_attention = h_flash_attention;
    if (x->base->flash_attention_mma)
        x->hooked.flash_attention_mma = h_flash_attention_mma;
    g->ops = &x->hooked;
}
