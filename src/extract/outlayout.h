/* outlayout.h: where an item's outputs go. The output base of an item is
 * DIR/REL with REL's extension (the part after the last '.' of its last
 * component, unless that '.' starts the name) removed:
 *   REL a/cat/000.mp4  ->  DIR/a/cat/000.npy, 000.pooled.npy, 000.json, ...
 * A REL that is absolute, empty, or has "." / ".." / empty components is
 * refused, so no output can land outside DIR. A last component longer than
 * OVX_STEM_MAX bytes (its outputs' names would pass the filesystem's 255)
 * is cut (at a UTF-8 character boundary) and ends in "~" and the FNV-1a 64
 * of REL in 16 hex digits, OVX_STEM_MAX bytes in all; REL.json and the
 * manifest line ("rel" beside "json" and the output files) record which
 * input the cut names belong to. */
#ifndef OVX_EXTRACT_OUTLAYOUT_H
#define OVX_EXTRACT_OUTLAYOUT_H

#include <stddef.h>

#include "common/error.h"

/* The longest output stem: 255 bytes minus the longest suffix
 * (".hidden_-100.npy"). */
#define OVX_STEM_MAX 239

/* Writes DIR/REL-without-extension into buf. */
int ovx_out_base(const char *dir, const char *rel, char *buf, size_t cap, ovx_error *err);

/* Output file kinds of one item. */
typedef enum ovx_out_kind {
    OVX_OUT_TOKENS = 0,  /* BASE.npy */
    OVX_OUT_POOLED,      /* BASE.pooled.npy */
    OVX_OUT_HIDDEN,      /* BASE.hidden_L.npy */
    OVX_OUT_JSON,        /* BASE.json */
    OVX_OUT_COUNT
} ovx_out_kind;

/* Writes the path of one output (hidden_index used for OVX_OUT_HIDDEN). */
int ovx_out_path(const char *base, ovx_out_kind kind, int hidden_index, char *buf, size_t cap,
                 ovx_error *err);

#endif
