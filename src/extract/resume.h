/* resume.h: deciding whether an item is already done. An item is done when
 * BASE.json exists, parses, carries the run's settings hash, and every output
 * it lists exists beside it with the NPY header (dtype, shape) it records and
 * a file size that matches that header. BASE.json is written last, so a run
 * killed at any point leaves either a complete item or one that is redone
 * (its temp files are in the run's own folder, runtmp.h). */
#ifndef OVX_EXTRACT_RESUME_H
#define OVX_EXTRACT_RESUME_H

#include <stddef.h>

#include "extract/strmap.h"

/* 1 when the item with output base `base` is complete for settings_hash;
 * 0 otherwise, with the reason in why (may be NULL). */
int ovx_resume_is_done(const char *base, const char *settings_hash, char *why, size_t why_cap);
/* Same; when done and json is non-NULL, *json receives the parsed BASE.json
 * (free with cJSON_Delete). */
struct cJSON;
int ovx_resume_check(const char *base, const char *settings_hash, struct cJSON **json, char *why,
                     size_t why_cap);

/* Before an item is written again: removes BASE.json first (so the item is
 * not done from here on), then every output its JSON lists and the fixed
 * output names (BASE.npy, .pooled.npy, .pixels.npy, .indices.npy, and
 * .hidden_L.npy for hidden_index unless OVX_NO_HIDDEN_STATE), so no output
 * of earlier settings outlives the rewrite; also every BASE.hidden_L.npy of
 * an earlier --hidden-state whose JSON was never written (a run killed
 * between the two), unless owners (may be NULL) lists that path as an
 * output of one of this run's inputs (an input named BASE.hidden_L.*).
 * Returns 1 when BASE.json was there. */
struct ovx_strmap;
int ovx_resume_remove_outputs(const char *base, int hidden_index, const struct ovx_strmap *owners);

/* Reads a whole small text file (at most max bytes) into a malloc'd,
 * NUL-terminated buffer; NULL on error, when larger, or when not a regular
 * file (a FIFO there is refused without waiting). */
char *ovx_read_text_file(const char *path, size_t max);

#endif
