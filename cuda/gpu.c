/* gpu.c: opening and closing an ovx_gpu. The host emulation; a CUDA device
 * through every check that can fail before the first forward, in order,
 * each with its own one-line message naming the device (driver and device:
 * cuda_device.c; compute capability and kernel images of this build; cuBLAS;
 * context; a test kernel launch read back); the emulated CUDA device of the
 * test hook OVX_CUDA_EMULATE; "built without CUDA" without OVX_HAVE_CUDA.
 *
 * OVX_CUDA_EMULATE=MAJOR.MINOR[:MEM_MIB] (test only) makes cuda:0 a host
 * emulation that claims that compute capability and that much memory
 * (MiB, fractions allowed; default 1024): every decision after the driver's (architecture,
 * cuBLAS loading, memory, faults, fallback) then runs for real on machines
 * without a GPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/gpu_open.h"
#include "cuda/numerics.h"

#ifndef OVX_CUDA_SASS /* a build without CUDA: what the default CUDA build has */
#define OVX_CUDA_SASS "80,86,89,90"
#define OVX_CUDA_PTX 90
#endif

int ovx_cuda_compiled(void)
{
#ifdef OVX_HAVE_CUDA
    return 1;
#else
    return 0;
#endif
}

const char *ovx_cuda_build_str(void)
{
#ifdef OVX_HAVE_CUDA
    static char s[200];
    int v = ovx_cuda_runtime_version();
    size_t n = (size_t)snprintf(s, sizeof s, "CUDA %d.%d, kernel images", v / 1000, v % 1000 / 10);
    const char *sass = OVX_CUDA_SASS;
    for (const char *p = sass; *p && n < sizeof s; p += strcspn(p, ","), p += *p == ',')
        n += (size_t)snprintf(s + n, sizeof s - n, "%s sm_%.*s", p == sass ? "" : ",",
                              (int)strcspn(p, ","), p);
    if (n < sizeof s)
        snprintf(s + n, sizeof s - n, " + PTX compute_%d", OVX_CUDA_PTX);
    return s;
#else
    return "no CUDA backend";
#endif
}

int ovx_gpu_open_emu(ovx_gpu **out, ovx_error *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    (*out)->ops = &ovx_gpu_emu_ops;
    (*out)->device = -1;
    return OVX_OK;
}

void ovx_gpu_close(ovx_gpu *g)
{
    if (!g)
        return;
#ifdef OVX_HAVE_CUDA
    if (g->ext && !g->ext->info.emulated)
        ovx_gpu_close_cuda(g);
#endif
    free(g->ext);
    free(g);
}

/* OVX_CUDA_EMULATE: *on = 0 when unset; info of the emulated device. */
static int emulation(ovx_gpu_info *info, int *on, ovx_error *err)
{
    const char *s = getenv("OVX_CUDA_EMULATE");
    *on = 0;
    if (!s || !*s)
        return OVX_OK;
    int major, minor, used = 0, used2 = 0;
    double mib = 1024;
    if (sscanf(s, "%d.%d%n", &major, &minor, &used) != 2 || major < 1 || major > 99 || minor < 0 ||
        minor > 9 || (s[used] && (sscanf(s + used, ":%lf%n", &mib, &used2) != 1 || s[used + used2] ||
                                  !(mib >= 0.001 && mib <= 16777216.0))))
        return ovx_error_set(err, OVX_EUSAGE,
                             "OVX_CUDA_EMULATE='%s': expected MAJOR.MINOR[:MEM_MIB] (a test hook)", s);
    memset(info, 0, sizeof *info);
    snprintf(info->name, sizeof info->name, "OVX_CUDA_EMULATE test GPU");
    info->major = major;
    info->minor = minor;
    info->sms = 4;
    info->clock_mhz = 1000;
    info->total_mem = info->free_mem = (size_t)(mib * 1048576.0);
    info->emulated = 1;
    *on = 1;
    return OVX_OK;
}

#ifndef OVX_HAVE_CUDA
#define NO_CUDA "CUDA unavailable: this ovx was built without the CUDA backend (meson -Dcuda=enabled)"
#endif

int ovx_cuda_device_count(int *count, ovx_error *err)
{
    ovx_gpu_info emu;
    int on;
    *count = 0;
    int rc = emulation(&emu, &on, err);
    if (rc || on) {
        *count = on;
        return rc;
    }
#ifdef OVX_HAVE_CUDA
    return ovx_cuda_real_count(count, err);
#else
    return ovx_error_set(err, OVX_EDEVICE, NO_CUDA);
#endif
}

int ovx_cuda_driver_absent(void)
{
    ovx_gpu_info emu;
    int on = 0;
    ovx_error ignored;
    ovx_error_clear(&ignored);
    if (emulation(&emu, &on, &ignored) || on) /* a bad hook value is reported by the open */
        return 0;
#ifdef OVX_HAVE_CUDA
    return ovx_cuda_real_driver_absent();
#else
    return 1;
#endif
}

int ovx_cuda_device_info(int device, ovx_gpu_info *info, ovx_error *err)
{
    int count, on;
    memset(info, 0, sizeof *info);
    int rc = ovx_cuda_device_count(&count, err);
    if (rc)
        return rc;
    if (device < 0 || device >= count)
        return ovx_error_set(err, OVX_EDEVICE, "CUDA device %d does not exist (%d device%s found)",
                             device, count, count == 1 ? "" : "s");
    if (emulation(info, &on, err) || on)
        return OVX_OK;
#ifdef OVX_HAVE_CUDA
    return ovx_cuda_real_info(device, info, err);
#else
    return ovx_error_set(err, OVX_EDEVICE, NO_CUDA);
#endif
}

int ovx_cuda_device_name(int device, char *name, size_t len, ovx_error *err)
{
    ovx_gpu_info i;
    if (len)
        name[0] = '\0';
    int rc = ovx_cuda_device_info(device, &i, err);
    if (!rc)
        snprintf(name, len, "%s (sm_%d%d, %.1f GiB)", i.name, i.major, i.minor,
                 (double)i.total_mem / (1 << 30));
    return rc;
}

int ovx_cuda_arch_check(int major, int minor, const char *sass, int ptx, char *why, size_t len)
{
    int cc = major * 10 + minor;
    if (cc < 80) {
        snprintf(why, len, "compute capability %d.%d not supported: needs 8.0+ (bf16 tensor cores)",
                 major, minor);
        return -1;
    }
    char list[160] = "";
    size_t used = 0;
    for (const char *p = sass; *p;) {
        char *end;
        long a = strtol(p, &end, 10);
        if (end == p)
            break;
        if (a / 10 == major && a % 10 <= minor) /* a cubin runs on later minors */
            return 0;
        if (used < sizeof list)
            used += (size_t)snprintf(list + used, sizeof list - used, "%ssm_%ld", used ? ", " : "", a);
        p = *end == ',' ? end + 1 : end;
    }
    if (ptx <= cc) /* the driver JITs the PTX of an older architecture */
        return 0;
    snprintf(why, len,
             "compute capability %d.%d: no kernel image in this ovx (built for %s + PTX compute_%d): "
             "rebuild with -Dcuda-arch=%d", major, minor, list, ptx, cc);
    return -1;
}

/* A few values through upload, the to_bf16 kernel and download: proves a
 * kernel image runs on the device and memory works. */
static int probe(ovx_gpu *g)
{
    const float in[8] = {1.0f, -2.5f, 3.14159265f, 1e-3f, -7e4f, 0.0f, 65504.0f, 1.0f / 3.0f};
    ovx_bf16 out[8] = {0};
    void *d_in = NULL, *d_out = NULL;
    int rc = g->ops->alloc(g, &d_in, sizeof in) || g->ops->alloc(g, &d_out, sizeof out) ||
             g->ops->upload(g, d_in, in, sizeof in) ||
             g->ops->to_bf16(g, (const float *)d_in, (ovx_bf16 *)d_out, 8) ||
             g->ops->download(g, out, d_out, sizeof out) || g->ops->sync(g);
    g->ops->release(g, d_in);
    g->ops->release(g, d_out);
    if (rc)
        return -1;
    for (int i = 0; i < 8; i++)
        if (out[i] != ovx_nx_to_bf16(in[i])) {
            snprintf(g->msg, sizeof g->msg, "test kernel gave wrong results (element %d: 0x%04x, "
                     "expected 0x%04x)", i, out[i], ovx_nx_to_bf16(in[i]));
            return -1;
        }
    return 0;
}

static void hint(char *buf, size_t len, const char *msg)
{
    const char *h = NULL;
#ifdef OVX_HAVE_CUDA
    h = ovx_cuda_hint(msg);
#endif
    snprintf(buf, len, "%.600s%s%s", msg, h ? ": " : "", h ? h : "");
}

int ovx_gpu_open_cuda(int device, ovx_gpu **out, ovx_error *err)
{
    *out = NULL;
    ovx_gpu_hook_cfg cfg;
    ovx_gpu_info info;
    int hooks;
    int rc = ovx_gpu_hooks_env(&cfg, &hooks, err);
    if (!rc)
        rc = ovx_cuda_device_info(device, &info, err);
    (void)hooks; /* used by a CUDA build */
    if (rc)
        return rc;
    char why[1000];
    if (ovx_cuda_arch_check(info.major, info.minor, OVX_CUDA_SASS, OVX_CUDA_PTX, why, sizeof why))
        return ovx_error_set(err, OVX_EDEVICE, "CUDA device %d (%s): %s", device, info.name, why);
    if (cfg.fail_open)
        return ovx_error_set(err, OVX_EDEVICE, "CUDA device %d (%s): open failed (forced by the test "
                             "hook OVX_CUDA_FAIL=open)", device, info.name);
#ifdef OVX_HAVE_CUDA
    if ((rc = ovx_cuda_blas_load(err)))
        return rc;
#endif
    ovx_gpu *g = calloc(1, sizeof *g);
    struct ovx_gpu_ext *x = calloc(1, sizeof *x);
    if (!g || !x) {
        free(g);
        free(x);
        return ovx_error_set(err, OVX_ENOMEM, "out of memory");
    }
    g->device = device;
    g->ext = x;
    x->info = info;
    x->cfg = cfg;
    if (info.emulated) {
        g->ops = &ovx_gpu_emu_ops;
        x->mem_limit = info.total_mem;
        ovx_gpu_hooks_install(g);
    } else {
#ifdef OVX_HAVE_CUDA
        rc = ovx_cuda_attach(g);
        if (!rc && ovx_cuda_real_mem(&x->info.free_mem, &x->info.total_mem))
            x->info.free_mem = 0;
        if (!rc && hooks)
            ovx_gpu_hooks_install(g);
#endif
    }
    if (!rc)
        rc = probe(g);
    if (rc) {
        hint(why, sizeof why, g->msg);
        rc = ovx_error_set(err, OVX_EDEVICE, "CUDA device %d (%s): %s", device, info.name, why);
        ovx_gpu_close(g);
        return rc;
    }
    x->armed = 1;
    *out = g;
    return OVX_OK;
}

const char *ovx_gpu_linear_str(const ovx_gpu *g)
{
    if (g->note[0])
        return g->note;
    return g->ops->linear ? "linear layers: cuBLASLt with the bias/GELU epilogues"
                          : "linear layers: GEMM + epilogue kernel (bias, tanh GELU)";
}

const ovx_gpu_info *ovx_gpu_get_info(const ovx_gpu *g)
{
    return g && g->ext ? &g->ext->info : NULL;
}

int ovx_gpu_mem(ovx_gpu *g, size_t *free_b, size_t *total_b)
{
    *free_b = *total_b = 0;
    if (!g->ext || g->ext->poisoned)
        return -1;
    if (g->ext->info.emulated) {
        *free_b = g->ext->mem_limit - g->ext->mem_used;
        *total_b = g->ext->mem_limit;
        return 0;
    }
#ifdef OVX_HAVE_CUDA
    if (g->ops->activate(g) == 0 && ovx_cuda_real_mem(free_b, total_b) == 0)
        return 0;
#endif
    return -1;
}

static const char *bytes_str(size_t b, char *buf, size_t len)
{
    if (b >= (size_t)1 << 30)
        snprintf(buf, len, "%.2f GiB", (double)b / (1 << 30));
    else
        snprintf(buf, len, "%.1f MiB", (double)b / (1 << 20));
    return buf;
}

const char *ovx_gpu_describe(ovx_gpu *g, char *buf, size_t len)
{
    const ovx_gpu_info *i = ovx_gpu_get_info(g);
    if (!i) {
        snprintf(buf, len, "emulated CUDA device");
        return buf;
    }
    size_t free_b, total_b;
    char f[32], t[32];
    if (ovx_gpu_mem(g, &free_b, &total_b))
        snprintf(buf, len, "CUDA device %d (%s, sm_%d%d)", g->device, i->name, i->major, i->minor);
    else
        snprintf(buf, len, "CUDA device %d (%s, sm_%d%d, %s free of %s)", g->device, i->name,
                 i->major, i->minor, bytes_str(free_b, f, sizeof f), bytes_str(total_b, t, sizeof t));
    return buf;
}

int ovx_gpu_healthy(ovx_gpu *g)
{
    const uint32_t want[4] = {0x12345678u, 0x9abcdef0u, 0u, 0xffffffffu};
    uint32_t got[4] = {0};
    void *d = NULL;
    int bad = g->ops->activate(g) || g->ops->sync(g) || g->ops->alloc(g, &d, sizeof want) ||
              g->ops->upload(g, d, want, sizeof want) || g->ops->download(g, got, d, sizeof got) ||
              g->ops->sync(g);
    g->ops->release(g, d);
    return !bad && !memcmp(want, got, sizeof want);
}
