/* rows.c: row pieces and MLP row blocks of a packed batch, and the linear
 * layer over pieces (see rows.h). */
#include "model/rows.h"

#include <stdlib.h>

#include "model/ops.h"
#include "model/parallel.h"
#include "model/vecmath.h"

int ovx_row_blocks_plan(ovx_row_blocks *b, int samples, const int *len, int64_t cap)
{
    int64_t n_pieces = 0;
    for (int s = 0; s < samples; s++)
        n_pieces += (len[s] + cap - 1) / cap;
    b->n = 0;
    b->pieces = malloc((size_t)(n_pieces ? n_pieces : 1) * sizeof *b->pieces);
    b->first = malloc((size_t)(n_pieces + 1) * sizeof *b->first);
    b->start = malloc((size_t)(n_pieces ? n_pieces : 1) * sizeof *b->start);
    b->rows = malloc((size_t)(n_pieces ? n_pieces : 1) * sizeof *b->rows);
    if (!b->pieces || !b->first || !b->start || !b->rows) {
        ovx_row_blocks_free(b);
        return -1;
    }
    int np = 0;
    int64_t row = 0;
    for (int s = 0; s < samples; s++)
        for (int64_t r = 0; r < len[s]; r += cap) {
            int64_t rows = len[s] - r < cap ? len[s] - r : cap;
            if (b->n == 0 || b->rows[b->n - 1] + rows > cap) { /* a new block */
                b->first[b->n] = np;
                b->start[b->n] = row;
                b->rows[b->n] = 0;
                b->n++;
            }
            b->pieces[np++] = (ovx_piece){row - b->start[b->n - 1], rows};
            b->rows[b->n - 1] += rows;
            row += rows;
        }
    b->first[b->n] = np;
    return 0;
}

void ovx_row_blocks_free(ovx_row_blocks *b)
{
    free(b->pieces);
    free(b->first);
    free(b->start);
    free(b->rows);
    b->pieces = NULL;
    b->first = NULL;
    b->start = b->rows = NULL;
    b->n = 0;
}

int64_t ovx_rows_max_chunks(int64_t total_rows, int n)
{
    return total_rows / OVX_LINEAR_ROWS + n;
}

typedef struct chunk_job {
    float *y;
    const float *x, *w, *b;
    const ovx_epilogue *epi;
    const ovx_piece *chunks;
    int In, O;
} chunk_job;

/* One chunk = one single-threaded sgemm, the very call a lone sample makes
 * for these rows (ovx_op_linear of at most OVX_LINEAR_ROWS rows), then the
 * epilogue on the chunk's rows while they are in cache. */
static void run_chunks(void *p, int64_t c0, int64_t c1, int thread)
{
    (void)thread;
    const chunk_job *j = p;
    int kind = j->epi ? (int)j->epi->kind : OVX_LIN_PLAIN;
    for (int64_t c = c0; c < c1; c++) {
        const ovx_piece *k = &j->chunks[c];
        float *y = j->y + k->row0 * j->O;
        const float *x = j->x + k->row0 * j->In;
        if (kind == OVX_LIN_ADD)
            ovx_op_linear_add(y, x, j->w, j->b, k->rows, j->In, j->O);
        else
            ovx_op_linear(y, x, j->w, j->b, k->rows, j->In, j->O, 1);
        if (kind == OVX_LIN_GELU)
            ovx_gelu_erf_vec(y, k->rows * j->O);
        if (j->epi && j->epi->fn)
            j->epi->fn(j->epi->ctx, y, k->rows);
    }
}

int ovx_linear_pieces(ovx_mm *mm, const ovx_mm_weight *bw, float *y, const float *x, const float *w,
                      const float *b, const ovx_epilogue *epi, const ovx_piece *p, int n, int In, int O,
                      ovx_piece *chunks, int threads, ovx_error *err)
{
    if (mm) {
        for (int i = 0; i < n;) {
            int j = i + 1;
            while (j < n && p[j].rows == p[i].rows && p[j].row0 == p[j - 1].row0 + p[j - 1].rows)
                j++;
            if (ovx_mm_linear(mm, y + p[i].row0 * O, x + p[i].row0 * In, w, bw, b, epi, j - i, p[i].rows, In,
                              O, threads, err))
                return -1;
            i = j;
        }
        return 0;
    }
    int64_t nc = 0;
    for (int i = 0; i < n; i++)
        for (int64_t r = 0; r < p[i].rows; r += OVX_LINEAR_ROWS)
            chunks[nc++] = (ovx_piece){p[i].row0 + r,
                                       p[i].rows - r < OVX_LINEAR_ROWS ? p[i].rows - r : OVX_LINEAR_ROWS};
    chunk_job j = {y, x, w, b, epi, chunks, In, O};
    ovx_parallel_for(threads, nc, run_chunks, &j);
    return 0;
}
