/* inputs.h: the list of items an `ovx extract` run works on. Items come from
 * file and folder arguments (folders walked recursively, filtered by
 * extension) and from path lists (--list FILE or -, one path per line or CSV
 * `path,label`). Each item carries the path to open and REL, its path
 * relative to the argument that named it, which decides the output names
 * and the shard. Problems found while listing become items with an error
 * preset, so they are reported like any other failure. */
#ifndef OVX_EXTRACT_INPUTS_H
#define OVX_EXTRACT_INPUTS_H

#include <stddef.h>

#include "common/error.h"
#include "extract/extract.h" /* OVX_DEFAULT_EXTS */

typedef struct ovx_input {
    char *path;   /* path to open, as given or joined under its folder argument */
    char *rel;    /* relative path, with its extension, '/'-separated */
    char *label;  /* NULL when none */
    char *error;  /* NULL, or why listing this entry failed */
} ovx_input;

typedef struct ovx_input_list {
    ovx_input *items;
    size_t n, cap;
} ovx_input_list;

/* Extension filter for folder walks: lower-case names without the dot. */
typedef struct ovx_ext_filter {
    char **exts;
    int n;
} ovx_ext_filter;

/* Parses "mp4,mkv,.avi" (case-insensitive, dots optional). */
int ovx_ext_filter_parse(ovx_ext_filter *f, const char *csv, ovx_error *err);
void ovx_ext_filter_free(ovx_ext_filter *f);
int ovx_ext_filter_match(const ovx_ext_filter *f, const char *name);

/* 1 when the file name has an image extension (png, jpg, jpeg, webp, bmp). */
int ovx_path_is_image(const char *path);

/* Adds one command-line argument: a file becomes one item with REL = its
 * base name (whatever its extension); a folder is walked recursively (sorted
 * by name, hidden entries and our temp files skipped, each real folder
 * visited once so symlink loops end) with REL relative to the folder. A
 * missing path becomes an item with an error. Returns <0 only on OOM. */
int ovx_inputs_add_arg(ovx_input_list *l, const char *arg, const ovx_ext_filter *f, ovx_error *err);

/* Adds the entries of a path list ("-" reads stdin). Each non-empty line is
 * `path` or CSV `path,label` (RFC 4180 quoting; a first line `path,label` is
 * a header and skipped). Relative paths are opened relative to the current
 * folder; REL is the path as written, normalised ("./" and repeated slashes
 * dropped, a leading "/" removed). Folder entries are walked like arguments.
 * Returns <0 when the list cannot be read. */
int ovx_inputs_add_list(ovx_input_list *l, const char *list, const ovx_ext_filter *f, ovx_error *err);

/* Parses one CSV line into up to two fields (path, label); returns the
 * number of fields (0 for an empty line) or <0 for bad quoting. Fields are
 * malloc'd. */
int ovx_csv_split2(const char *line, char **f1, char **f2);

/* Normalises a list path into a REL (see above). Returns NULL and sets
 * *why for paths with ".." components or nothing left. */
char *ovx_rel_normalise(const char *path, const char **why);

/* Labels from a CSV `path,label` file: an entry matches an item when it
 * equals the item's REL, its REL without extension, or its path as given.
 * Items already labelled (from a --list CSV) keep their label. */
int ovx_inputs_apply_labels(ovx_input_list *l, const char *csv, ovx_error *err);
/* Label = name of the item's parent folder (UCF101 layout), for items
 * without one (a --list CSV label, then --labels, come first). */
int ovx_inputs_label_from_dir(ovx_input_list *l, ovx_error *err);

void ovx_inputs_free(ovx_input_list *l);

#endif
