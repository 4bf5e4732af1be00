/* test_cuda_attention.c: the fused attention kernel (cuda/attention.cu) run
 * through the CUDA-on-host shim, against the chunked path (ops.c: score
 * GEMM, row softmax, value GEMM, 1/rowsum on the loop emulation of the
 * device, an independent implementation rounding the same bf16 P: rel L2
 * <= 1e-3) and a double-precision softmax attention (rel L2 <= 2.5e-3: the
 * bf16 roundings of P and of the output). Shapes: N around the tile sizes (1, 15,
 * 16, 17, 37, 63, 64, 65, 256) with all 16 heads, 1000 and 4096 with one
 * head, packed batches of different lengths ([37, 1, 70, 256]) and the
 * pooling shape (one query against a sample's keys). Fails, saying so, when
 * ovx was built without the host shim. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "common/timer.h"
#include "cuda/numerics.h"
#include "cuda/ops.h"

static uint64_t rs = 0x2545F4914F6CDD1DULL;

static float rnd(void) /* uniform in [-1, 1) */
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (float)((double)(rs >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static ovx_gpu *host, *emu;
static int use_mma; /* 1: flash_attention_mma (attention_mma.cu), 0: flash_attention (WMMA) */

static int fused(const ovx_bf16 *q, int q_ld, const ovx_bf16 *k, const ovx_bf16 *v, int kv_ld,
                 ovx_bf16 *o, int o_ld, const int32_t *tiles, int ntiles, int heads)
{
    return (use_mma ? host->ops->flash_attention_mma : host->ops->flash_attention)(
        host, q, q_ld, k, v, kv_ld, o, o_ld, tiles, ntiles, heads, 0.125f);
}

/* rel L2 of got (bf16) against ref */
static double rel_l2_bf16(const ovx_bf16 *got, const double *ref, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = ovx_nx_from_bf16(got[i]) - ref[i];
        num += d * d;
        den += ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* double-precision attention of query rows [q0, q0 + nq) against keys
 * [k0, k0 + nk) of one packed batch, all heads; out [nq, heads * 64] */
static void ref_attention(const ovx_bf16 *q, const ovx_bf16 *k, const ovx_bf16 *v, int ld,
                          int heads, int q0, int nq, int k0, int nk, double *out)
{
    double *s = malloc((size_t)nk * sizeof *s);
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < nq; i++) {
            const ovx_bf16 *qi = q + (size_t)(q0 + i) * ld + h * 64;
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < nk; j++) {
                const ovx_bf16 *kj = k + (size_t)(k0 + j) * ld + h * 64;
                double dot = 0;
                for (int c = 0; c < 64; c++)
                    dot += (double)ovx_nx_from_bf16(qi[c]) * ovx_nx_from_bf16(kj[c]);
                s[j] = dot / 8.0;
                mx = fmax(mx, s[j]);
            }
            for (int j = 0; j < nk; j++)
                sum += (s[j] = exp(s[j] - mx));
            for (int c = 0; c < 64; c++) {
                double acc = 0;
                for (int j = 0; j < nk; j++)
                    acc += s[j] * ovx_nx_from_bf16(v[(size_t)(k0 + j) * ld + h * 64 + c]);
                out[(size_t)i * heads * 64 + h * 64 + c] = acc / sum;
            }
        }
    free(s);
}

/* a model shell for the chunked path on the emulated device */
static void chunked_model(ovx_cuda_model *m, int heads)
{
    memset(m, 0, sizeof *m);
    m->g = emu;
    m->cfg.num_heads = heads;
    m->cfg.head_dim = 64;
    m->cfg.hidden_size = heads * 64;
    m->scratch_bytes = (size_t)32 << 20;
}

/* Packed samples of the given lengths, `heads` heads: fused (all query
 * rows) vs chunked and double precision on the query rows listed in
 * check_rows (per sample: the first `check` rows and the last `check`, all
 * when the sample is short). */
static void run_case(const char *name, int samples, const int *lengths, int heads, int check)
{
    int rows = 0;
    for (int s = 0; s < samples; s++)
        rows += lengths[s];
    const int ld = heads * 64;
    const size_t n = (size_t)rows * ld;
    ovx_bf16 *q = malloc(n * 2), *k = malloc(n * 2), *v = malloc(n * 2), *o = malloc(n * 2),
             *oc = malloc(n * 2);
    for (size_t i = 0; i < n; i++) {
        q[i] = ovx_nx_to_bf16(3.0f * rnd()); /* peaked rows: the running max moves */
        k[i] = ovx_nx_to_bf16(rnd());
        v[i] = ovx_nx_to_bf16(rnd() + 0.25f);
    }
    memset(o, 0xff, n * 2); /* NaN: rows the kernel does not write show up */
    int32_t *tiles = malloc((size_t)OVX_CUDA_SELF_TILES(rows, samples) * 5 * sizeof *tiles);
    int ntiles = ovx_cuda_attention_self_tiles(samples, lengths, use_mma, tiles);
    CHECK(ntiles <= OVX_CUDA_SELF_TILES(rows, samples));
    /* of a long sample only the query tiles holding checked rows run (each
     * over all of the sample's keys): the shim is slow, under ASan ~10x */
    int kept = 0;
    for (int i = 0; i < ntiles; i++) {
        const int32_t *t = tiles + 5 * i;
        int s = 0, off0 = 0;
        while (off0 + lengths[s] <= t[0])
            off0 += lengths[s++];
        int lo = t[0] - off0, hi = lo + t[1], len = lengths[s];
        if (2 * check >= len || lo < check || hi > len - check)
            memmove(tiles + 5 * kept++, t, 5 * sizeof *t);
    }
    ntiles = kept;
    double t0 = ovx_now_ms();
    CHECK(fused(q, ld, k, v, ld, o, ld, tiles, ntiles, heads) == 0);
    double t1 = ovx_now_ms();
    ovx_cuda_model cm;
    chunked_model(&cm, heads);
    double worst_chunked = 0, worst_ref = 0;
    int off = 0, nan = 0;
    for (int s = 0; s < samples; s++) {
        int len = lengths[s];
        /* query row ranges to check: [0, a) and [b, len) */
        int a = 2 * check >= len ? len : check, b = 2 * check >= len ? len : len - check;
        int ranges[2][2] = {{0, a}, {b, len}};
        for (int r = 0; r < 2; r++) {
            int r0 = ranges[r][0], nr = ranges[r][1] - r0;
            if (nr <= 0)
                continue;
            size_t at = (size_t)(off + r0) * ld, cnt = (size_t)nr * ld;
            for (size_t i = 0; i < cnt; i++) /* rows the kernel did not write */
                nan += isnan(ovx_nx_from_bf16(o[at + i]));
            int qc = ovx_cuda_attention_chunk(&cm, nr, len);
            float *sc = malloc(OVX_CUDA_ATTN_SCRATCH(heads, qc, len) * 4);
            ovx_bf16 *pc = malloc((size_t)heads * qc * len * 2);
            CHECK(ovx_cuda_attention(&cm, q + at, ld, nr, k + (size_t)off * ld, v + (size_t)off * ld,
                                     ld, len, oc + at, ld, qc, sc, pc, NULL) == 0);
            double *ref = malloc(cnt * sizeof *ref), *refc = malloc(cnt * sizeof *refc);
            ref_attention(q, k, v, ld, heads, off + r0, nr, off, len, ref);
            for (size_t i = 0; i < cnt; i++)
                refc[i] = ovx_nx_from_bf16(oc[at + i]);
            worst_chunked = fmax(worst_chunked, rel_l2_bf16(o + at, refc, cnt));
            worst_ref = fmax(worst_ref, rel_l2_bf16(o + at, ref, cnt));
            free(sc), free(pc), free(ref), free(refc);
        }
        off += len;
    }
    CHECK(nan == 0);
    printf("%s %-24s %5d rows x %2d heads, %4d tiles: fused %6.0f ms, rel L2 vs chunked %.2e, "
           "vs double %.2e\n", use_mma ? "mma " : "wmma", name, rows, heads, ntiles, t1 - t0, worst_chunked, worst_ref);
    /* Both paths round the same P: 2^(x - M) with an integer offset M
     * (cuda/numerics.h), which the fused kernel's online rescaling by
     * powers of two leaves exact; only the float32 summation order of P V
     * and of the row sums differs, which flips a few bf16 output roundings
     * (issue 9: <= 1e-3). Against double: the bf16 roundings of P and of
     * the output (~1.8e-3). */
    CHECK(worst_chunked <= 1e-3);
    CHECK(worst_ref <= 2.5e-3);
    free(q), free(k), free(v), free(o), free(oc), free(tiles);
}

/* the pooling shape: one probe row attends over each sample's tokens */
static void pool_case(void)
{
    const int heads = 16, ld = heads * 64, lengths[3] = {37, 1, 130};
    const int rows = 37 + 1 + 130;
    ovx_bf16 *q = malloc((size_t)ld * 2), *k = malloc((size_t)rows * ld * 2),
             *v = malloc((size_t)rows * ld * 2), *o = malloc((size_t)3 * ld * 2);
    for (int i = 0; i < ld; i++)
        q[i] = ovx_nx_to_bf16(3.0f * rnd());
    for (int i = 0; i < rows * ld; i++) {
        k[i] = ovx_nx_to_bf16(rnd());
        v[i] = ovx_nx_to_bf16(rnd());
    }
    int32_t tiles[3 * 5];
    for (int s = 0, off = 0; s < 3; off += lengths[s++]) {
        int32_t t[5] = {0, 1, off, lengths[s], s};
        memcpy(tiles + 5 * s, t, sizeof t);
    }
    CHECK(fused(q, ld, k, v, ld, o, ld, tiles, 3, heads) == 0);
    double worst = 0;
    double *ref = malloc((size_t)ld * sizeof *ref);
    for (int s = 0, off = 0; s < 3; off += lengths[s++]) {
        /* q row 0 vs the sample's keys: shift k, v so the sample starts at row 0 */
        ref_attention(q, k + (size_t)off * ld, v + (size_t)off * ld, ld, heads, 0, 1, 0,
                      lengths[s], ref);
        worst = fmax(worst, rel_l2_bf16(o + (size_t)s * ld, ref, (size_t)ld));
    }
    printf("%s pooling [37, 1, 130]: rel L2 vs double %.2e\n", use_mma ? "mma " : "wmma", worst);
    CHECK(worst <= 2.5e-3);
    free(q), free(k), free(v), free(o), free(ref);
}

int main(int argc, char **argv)
{
    if (!ovx_cuda_host_shim_compiled()) {
        fprintf(stderr, "FAIL: ovx was built without the CUDA-on-host shim (no C++ compiler): "
                        "the fused attention kernel cannot run here\n");
        return 1;
    }
    CHECK(ovx_gpu_open_host(&host, NULL) == 0);
    CHECK(ovx_gpu_open_emu(&emu, NULL) == 0);
    if (!host || !emu)
        return CHECK_RESULT();
    CHECK(host->ops->flash_attention != NULL && host->ops->flash_attention_mma != NULL);
    /* the mma kernel with the cp.async copies done when issued (the
     * earliest: a refill of a K/V buffer that a warp still reads shows)
     * and, below, when waited for (the latest: a read before the wait
     * shows) */
    use_mma = 1;
    ovx_cuda_host_set_cp_async_early(1);
    static const int quick[] = {1, 17, 65, 129};
    for (size_t i = 0; i < sizeof quick / sizeof quick[0]; i++)
        run_case("cp.async early", 1, &quick[i], 2, quick[i]);
    const int packed_q[4] = {37, 1, 70, 700};
    run_case("cp.async early packed", 4, packed_q, 1, 64);
    ovx_cuda_host_set_cp_async_early(0);
    if (argc > 1 && !strcmp(argv[1], "quick")) { /* the mutation runs: small shapes only */
        for (size_t i = 0; i < sizeof quick / sizeof quick[0]; i++)
            run_case("quick", 1, &quick[i], 2, quick[i]);
        run_case("packed [37,1,70,700]", 4, packed_q, 1, 64);
        return CHECK_RESULT();
    }
    /* the mma kernel (the fused default): tiles of 64 and 128 rows, partial
     * query and key tiles */
    static const int mma_n[] = {1, 15, 17, 63, 64, 65, 127, 129};
    for (size_t i = 0; i < sizeof mma_n / sizeof mma_n[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "N = %d", mma_n[i]);
        run_case(name, 1, &mma_n[i], 16, mma_n[i]);
    }
    const int n1000 = 1000, n4096 = 4096;
    run_case("N = 1000", 1, &n1000, 1, 1000);
    run_case("N = 4096", 1, &n4096, 1, 160);
    const int packed_big[4] = {37, 1, 70, 4096};
    run_case("packed [37,1,70,4096]", 4, packed_big, 1, 160);
    pool_case();
    /* the WMMA kernel (--attention wmma) */
    use_mma = 0;
    static const int small[] = {1, 15, 16, 17, 37, 63, 64, 65, 256};
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "N = %d", small[i]);
        run_case(name, 1, &small[i], 16, small[i]);
    }
    const int packed[4] = {37, 1, 70, 256};
    run_case("packed [37,1,70,256]", 4, packed, 16, 256);
    run_case("N = 1000", 1, &n1000, 1, 1000);
    pool_case();
    /* misaligned strides are refused, not read past */
    ovx_bf16 x[64] = {0};
    int32_t t[5] = {0, 1, 0, 1, 0};
    CHECK(host->ops->flash_attention(host, x, 12, x, x, 12, x, 12, t, 1, 1, 0.125f) == -1);
    CHECK(host->ops->flash_attention_mma(host, x, 12, x, x, 12, x, 12, t, 1, 1, 0.125f) == -1);
    ovx_gpu_close(host);
    ovx_gpu_close(emu);
    return CHECK_RESULT();
}
