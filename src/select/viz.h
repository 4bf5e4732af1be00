/* viz.h: the contact sheet: the sampled 224x224 frames in an 8-column grid,
 * unselected patches dimmed, selected ones at full brightness, encoded as PNG
 * with libavcodec's png encoder. Needs a result made with keep_frames = 1. */
#ifndef OVX_SELECT_VIZ_H
#define OVX_SELECT_VIZ_H

#include "common/error.h"
#include "select/select.h"

/* Errors name path. */
int ovx_select_write_viz(const ovx_select_result *r, const char *path, ovx_error *err);

#endif
