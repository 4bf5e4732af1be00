/* grid.h: maps an energy map on a cell grid of the coded picture to the 16x16
 * patches of the 224x224 model crop, exactly as the pixels are mapped
 * (display rotation, shortest edge 224, long edge int(224*long/short),
 * centre crop), by area-weighted integration. */
#ifndef OVX_SELECT_GRID_H
#define OVX_SELECT_GRID_H

/* cells [ch, cw]: cell (i, j) covers coded pixels [j*cell, min((j+1)*cell, W))
 * x [i*cell, min((i+1)*cell, H)). W, H: coded picture size; rotation:
 * clockwise display rotation. out [16, 16]: for each patch, the mean of the
 * map over the patch's footprint times 196 (the sum over its 14x14 pixels of
 * the map resampled to the crop). */
void ovx_cells_to_patches(const float *cells, int cw, int ch, int cell, int W, int H, int rotation,
                          float *out);

#endif
