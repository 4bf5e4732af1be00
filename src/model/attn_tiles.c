/* attn_tiles.c: the fused attention kernels' shared driver (see attn_tiles.h).
 *
 * Per thread the scratch holds, each a multiple of 64 bytes: the packed K
 * blocks (nkb x dw x 64 words), the packed V rows (nkw x 64 words), the
 * score tile S [TQ][lds] fp32, the partial-sum tile O [TQ][64] fp32 (kept
 * between P v key blocks: an exact store and reload, so each output is one
 * chain over the keys), then the kernel's own bytes. The last P v block's
 * results times inv_sum go straight into out. */
#include "model/attn_tiles.h"

#include <stdint.h>
#include <stdlib.h>

#include "model/parallel.h"

#define TQ OVX_ATTN_TQ
#define R OVX_ATTN_R
#define KB OVX_ATTN_KB
#define DH OVX_ATTN_DH

/* p + n words */
static inline const void *words(const void *p, size_t n)
{
    return (const char *)p + n * 4;
}

static void items(void *p, int64_t i0, int64_t i1, int thread)
{
    const ovx_attn_job *j = p;
    const ovx_attn_kernel *kn = j->kern;
    int ld = j->H * DH, lds = j->lds;
    char *kt = j->t.scratch + (size_t)thread * j->t.per_thread;
    char *vp = kt + (size_t)j->nkb * j->dw * KB * 4;
    float *S = (float *)(vp + (size_t)j->nkw * DH * 4);
    float *O = S + (size_t)TQ * lds;
    void *own = O + (size_t)TQ * DH;
    float scale[R], one[R], inv_sum[TQ];
    for (int i = 0; i < R; i++) {
        scale[i] = j->scale;
        one[i] = 1.0f;
    }
    for (int64_t it = i0; it < i1; it++) {
        int h = (int)(it / j->t.tiles), q0 = (int)(it % j->t.tiles) * TQ;
        int tq = j->Nq - q0 < TQ ? j->Nq - q0 : TQ;
        if (j->t.head[thread] != h) {
            kn->pack(j, h, kt, vp);
            j->t.head[thread] = h;
        }
        size_t sa, sp;
        const void *a = kn->q_rows(j, h, q0, tq, own, &sa);
        for (int b = 0; b < j->nkb; b++)
            for (int g = 0; g < tq; g += R)
                kn->mk(tq - g < R ? tq - g : R, words(a, (size_t)g * sa), sa, kt + (size_t)b * j->dw * KB * 4, 0,
                       j->dw, NULL, S + (size_t)g * lds + (size_t)b * KB, (size_t)lds, scale);
        const void *P = kn->softmax(j, S, tq, own, inv_sum, &sp);
        float *oh = j->out + (size_t)q0 * ld + (size_t)h * DH;
        for (int j0 = 0; j0 < j->nkw; j0 += kn->vb) {
            int last = j->nkw - j0 <= kn->vb, j1 = last ? j->nkw : j0 + kn->vb;
            for (int g = 0; g < tq; g += R) {
                float *og = O + (size_t)g * DH;
                kn->mk(tq - g < R ? tq - g : R, words(P, (size_t)g * sp), sp, vp, j0, j1, j0 ? og : NULL,
                       last ? oh + (size_t)g * ld : og, last ? (size_t)ld : DH, last ? inv_sum + g : one);
            }
        }
    }
}

int ovx_attn_run(const ovx_attn_kernel *kern, float *out, const float *q, const float *k, const float *v, int Nq,
                 int Nk, int H, float scale, int threads)
{
    if (Nq <= 0 || Nk <= 0)
        return 0;
    int nkb = (Nk + KB - 1) / KB;
    ovx_attn_job j = {out, q, k, v, Nq, Nk, H, scale, nkb, nkb * KB, DH / kern->per_word,
                      (Nk + kern->per_word - 1) / kern->per_word, kern, {0}};
    size_t per_thread = ((size_t)nkb * j.dw * KB + (size_t)j.nkw * DH) * 4 + (size_t)TQ * j.lds * 4 +
                        (size_t)TQ * DH * 4 + (kern->own_bytes ? kern->own_bytes(j.lds) : 0);
    ovx_attn_tiles *t = &j.t;
    t->tiles = (Nq + TQ - 1) / TQ;
    int64_t nitems = (int64_t)t->tiles * H;
    if (threads > nitems)
        threads = (int)nitems;
    if (threads < 1)
        threads = 1;
    t->per_thread = per_thread;
    t->scratch = aligned_alloc(64, (size_t)threads * per_thread);
    t->head = malloc((size_t)threads * sizeof *t->head);
    int rc = 0;
    if (!t->scratch || !t->head) {
        rc = -1;
    } else {
        for (int i = 0; i < threads; i++)
            t->head[i] = -1;
        ovx_parallel_for(threads, nitems, items, &j);
    }
    free(t->scratch);
    free(t->head);
    return rc;
}
