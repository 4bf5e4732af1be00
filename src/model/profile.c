/* profile.c: names, sums and the printed table of the forward's per-op
 * profile (see profile.h). */
#include "model/profile.h"

static const char *const kind_names[OVX_OP_COUNT] = {
    [OVX_OP_PATCH_EMBED] = "patch_embed", [OVX_OP_NORM] = "layernorm", [OVX_OP_QKV] = "qkv_proj",
    [OVX_OP_ATTENTION] = "attention",     [OVX_OP_OUT_PROJ] = "out_proj", [OVX_OP_FC1] = "fc1",
    [OVX_OP_FC2] = "fc2",                 [OVX_OP_HEAD] = "head",
};

const char *ovx_op_kind_name(int kind)
{
    return kind >= 0 && kind < OVX_OP_COUNT ? kind_names[kind] : "?";
}

void ovx_profile_add(ovx_profile *a, const ovx_profile *b)
{
    for (int i = 0; i < OVX_OP_COUNT; i++) {
        a->ms[i] += b->ms[i];
        a->flops[i] += b->flops[i];
        a->calls[i] += b->calls[i];
    }
}

static void row(FILE *f, const char *prefix, const char *name, long calls, double ms, double total, double flops)
{
    fprintf(f, "%s%-13s %7ld %10.1f %6.1f%%", prefix, name, calls, ms, total > 0 ? 100.0 * ms / total : 0.0);
    if (flops > 0 && ms > 0)
        fprintf(f, " %9.1f\n", flops / (ms * 1e6));
    else
        fprintf(f, " %9s\n", "-");
}

void ovx_profile_print(FILE *f, const char *prefix, const ovx_profile *p)
{
    double total = 0, flops = 0;
    long calls = 0;
    for (int i = 0; i < OVX_OP_COUNT; i++) {
        total += p->ms[i];
        flops += p->flops[i];
        calls += p->calls[i];
    }
    fprintf(f, "%s%-13s %7s %10s %7s %9s\n", prefix, "op", "calls", "ms", "share", "GFLOP/s");
    for (int i = 0; i < OVX_OP_COUNT; i++)
        if (p->calls[i])
            row(f, prefix, kind_names[i], p->calls[i], p->ms[i], total, p->flops[i]);
    row(f, prefix, "total", calls, total, total, flops);
}
