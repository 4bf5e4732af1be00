/* grid.c: cell map -> 16x16 patch sums of the centre crop (see grid.h). */
#include "select/grid.h"

#include "select/select.h"
#include "video/resize.h"

static double overlap(double a0, double a1, double b0, double b1)
{
    double lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
    return hi > lo ? hi - lo : 0.0;
}

void ovx_cells_to_patches(const float *cells, int cw, int ch, int cell, int W, int H, int rotation,
                          float *out)
{
    int rot = rotation == 90 || rotation == 270;
    int Wd = rot ? H : W, Hd = rot ? W : H;
    ovx_crop_geom g = ovx_crop_geometry(Wd, Hd, OVX_SELECT_SIZE);
    double sx = (double)Wd / g.rw, sy = (double)Hd / g.rh;
    for (int r = 0; r < OVX_SELECT_GRID; r++)
        for (int c = 0; c < OVX_SELECT_GRID; c++) {
            /* patch footprint in display pixels */
            double x0 = (g.cx + c * OVX_SELECT_PATCH) * sx, x1 = (g.cx + (c + 1) * OVX_SELECT_PATCH) * sx;
            double y0 = (g.cy + r * OVX_SELECT_PATCH) * sy, y1 = (g.cy + (r + 1) * OVX_SELECT_PATCH) * sy;
            /* ... in coded pixels */
            double u0, u1, v0, v1;
            switch (rotation) {
            case 90: u0 = y0; u1 = y1; v0 = H - x1; v1 = H - x0; break;
            case 180: u0 = W - x1; u1 = W - x0; v0 = H - y1; v1 = H - y0; break;
            case 270: u0 = W - y1; u1 = W - y0; v0 = x0; v1 = x1; break;
            default: u0 = x0; u1 = x1; v0 = y0; v1 = y1; break;
            }
            int j0 = (int)(u0 / cell), j1 = (int)(u1 / cell), i0 = (int)(v0 / cell), i1 = (int)(v1 / cell);
            if (j1 >= cw) j1 = cw - 1;
            if (i1 >= ch) i1 = ch - 1;
            if (j0 < 0) j0 = 0;
            if (i0 < 0) i0 = 0;
            double s = 0.0, area = 0.0;
            for (int i = i0; i <= i1; i++) {
                double cy0 = (double)i * cell, cy1 = (i + 1) * cell < H ? (double)(i + 1) * cell : H;
                double oy = overlap(v0, v1, cy0, cy1);
                if (oy <= 0)
                    continue;
                for (int j = j0; j <= j1; j++) {
                    double cx0 = (double)j * cell, cx1 = (j + 1) * cell < W ? (double)(j + 1) * cell : W;
                    double a = overlap(u0, u1, cx0, cx1) * oy;
                    s += a * cells[(size_t)i * cw + j];
                    area += a;
                }
            }
            out[r * OVX_SELECT_GRID + c] =
                area > 0 ? (float)(s / area * (OVX_SELECT_PATCH * OVX_SELECT_PATCH)) : 0.0f;
        }
}
