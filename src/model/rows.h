/* rows.h: how the CPU forward cuts the rows of a packed batch (samples of
 * any lengths back to back) for its linear layers. A piece is a row range
 * inside one sample that starts at a multiple of OVX_LINEAR_ROWS within it;
 * a linear layer over pieces runs the same OVX_LINEAR_ROWS-row chunks a lone
 * sample's forward runs, so every row's result is the same whatever batch
 * the sample is in (and whatever the thread count), while one parallel loop
 * covers the chunks of all samples. Internal to src/model. */
#ifndef OVX_MODEL_ROWS_H
#define OVX_MODEL_ROWS_H

#include <stdint.h>

#include "common/error.h"
#include "model/mm.h"

typedef struct ovx_piece {
    int64_t row0;  /* first row, relative to the x and y pointers given */
    int64_t rows;
} ovx_piece;

/* The MLP's row blocks: pieces of at most `cap` rows (a multiple of
 * OVX_LINEAR_ROWS) grouped into blocks of at most `cap` rows in all, so the
 * fc1 output needs cap x intermediate floats instead of one row per token. */
typedef struct ovx_row_blocks {
    ovx_piece *pieces;   /* row0 relative to its block's first row */
    int *first;          /* [n + 1]: block k is pieces[first[k] .. first[k+1]) */
    int64_t *start;      /* [n] first row of block k in the batch */
    int64_t *rows;       /* [n] rows of block k */
    int n;
} ovx_row_blocks;

/* Plans blocks for `samples` samples of len[s] rows. 0, or -1 when out of
 * memory. */
int ovx_row_blocks_plan(ovx_row_blocks *b, int samples, const int *len, int64_t cap);
void ovx_row_blocks_free(ovx_row_blocks *b);

/* Chunks a linear over n pieces can use: the size of `chunks` below. */
int64_t ovx_rows_max_chunks(int64_t total_rows, int n);

/* y[row, O] = x[row, In] w^T + b, then epi (mm.h; NULL: none), for the
 * rows of pieces p[0..n), which must follow each other in memory. OpenBLAS
 * (mm NULL): all chunks of all pieces in one parallel loop, `chunks` being
 * scratch of ovx_rows_max_chunks entries, each chunk's epilogue right after
 * its sgemm; oneDNN: one ovx_mm_linear per run of pieces of equal length
 * (fp32 from w, or bf16 from bw). */
int ovx_linear_pieces(ovx_mm *mm, const ovx_mm_weight *bw, float *y, const float *x, const float *w,
                      const float *b, const ovx_epilogue *epi, const ovx_piece *p, int n, int In, int O,
                      ovx_piece *chunks, int threads, ovx_error *err);

#endif
