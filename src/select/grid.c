/* grid.c: cell map -> 16x16 patch sums of the centre crop (see grid.h). The
 * footprint of a patch is the product of a span of coded columns and one of
 * coded rows, each set by one patch index (its column or row in the crop,
 * by the rotation): the 16 spans of each axis and their overlaps with the
 * cells are computed once per call, then each patch sums its cells with
 * them (the same products and sums, in the same order, as computing each
 * overlap at the cell). */
#include "select/grid.h"

#include "select/select.h"
#include "video/resize.h"

/* the cells a span may touch with its overlaps kept (wider spans: the
 * overlaps computed at the cell) */
#define SPAN_MAX 64

static double overlap(double a0, double a1, double b0, double b1)
{
    double lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
    return hi > lo ? hi - lo : 0.0;
}

/* A patch's footprint on one axis: [lo, hi) in coded pixels, cells k0..k1
 * (clamped to 0..n - 1), o[k - k0] = the overlap of cell k (its extent
 * clipped to the picture's size) when kept */
typedef struct span {
    double lo, hi;
    int k0, k1, kept;
    double o[SPAN_MAX];
} span;

static void make_span(span *s, double lo, double hi, int cell, int n, int size)
{
    s->lo = lo;
    s->hi = hi;
    int k0 = (int)(lo / cell), k1 = (int)(hi / cell);
    if (k1 >= n) k1 = n - 1;
    if (k0 < 0) k0 = 0;
    s->k0 = k0;
    s->k1 = k1;
    s->kept = k1 - k0 < SPAN_MAX;
    if (s->kept)
        for (int k = k0; k <= k1; k++)
            s->o[k - k0] = overlap(lo, hi, (double)k * cell, (k + 1) * cell < size ? (double)(k + 1) * cell : size);
}

static double span_at(const span *s, int k, int cell, int size)
{
    return s->kept ? s->o[k - s->k0]
                   : overlap(s->lo, s->hi, (double)k * cell, (k + 1) * cell < size ? (double)(k + 1) * cell : size);
}

void ovx_cells_to_patches(const float *cells, int cw, int ch, int cell, int W, int H, int rotation,
                          float *out)
{
    int rot = rotation == 90 || rotation == 270;
    int Wd = rot ? H : W, Hd = rot ? W : H;
    ovx_crop_geom g = ovx_crop_geometry(Wd, Hd, OVX_SELECT_SIZE);
    double sx = (double)Wd / g.rw, sy = (double)Hd / g.rh;
    /* us[k]: the coded columns of the patches of crop column k (rotations
     * 0, 180) or row k (90, 270); vs[k]: their coded rows likewise */
    span us[OVX_SELECT_GRID], vs[OVX_SELECT_GRID];
    for (int k = 0; k < OVX_SELECT_GRID; k++) {
        /* patch footprint in display pixels: columns of crop column k, rows of crop row k */
        double x0 = (g.cx + k * OVX_SELECT_PATCH) * sx, x1 = (g.cx + (k + 1) * OVX_SELECT_PATCH) * sx;
        double y0 = (g.cy + k * OVX_SELECT_PATCH) * sy, y1 = (g.cy + (k + 1) * OVX_SELECT_PATCH) * sy;
        /* ... in coded pixels */
        double u0, u1, v0, v1;
        switch (rotation) {
        case 90: u0 = y0; u1 = y1; v0 = H - x1; v1 = H - x0; break;
        case 180: u0 = W - x1; u1 = W - x0; v0 = H - y1; v1 = H - y0; break;
        case 270: u0 = W - y1; u1 = W - y0; v0 = x0; v1 = x1; break;
        default: u0 = x0; u1 = x1; v0 = y0; v1 = y1; break;
        }
        make_span(&us[k], u0, u1, cell, cw, W);
        make_span(&vs[k], v0, v1, cell, ch, H);
    }
    for (int r = 0; r < OVX_SELECT_GRID; r++)
        for (int c = 0; c < OVX_SELECT_GRID; c++) {
            const span *u = &us[rot ? r : c], *v = &vs[rot ? c : r];
            double s = 0.0, area = 0.0;
            for (int i = v->k0; i <= v->k1; i++) {
                double oy = span_at(v, i, cell, H);
                if (oy <= 0)
                    continue;
                const float *row = cells + (size_t)i * cw;
                if (u->kept) {
                    for (int j = u->k0; j <= u->k1; j++) {
                        double a = u->o[j - u->k0] * oy;
                        s += a * row[j];
                        area += a;
                    }
                } else {
                    for (int j = u->k0; j <= u->k1; j++) {
                        double a = span_at(u, j, cell, W) * oy;
                        s += a * row[j];
                        area += a;
                    }
                }
            }
            out[r * OVX_SELECT_GRID + c] =
                area > 0 ? (float)(s / area * (OVX_SELECT_PATCH * OVX_SELECT_PATCH)) : 0.0f;
        }
}
