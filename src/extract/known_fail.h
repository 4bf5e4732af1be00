/* known_fail.h: failures a rerun does not redo (--retry-failed does). A
 * line of DIR/failures.jsonl holds, beside {path,rel,stage,error}, what the
 * input was when it failed: "size" (bytes) and "mtime" (seconds.nanoseconds,
 * a string) of the file, and "fail_settings": a hash of the run's settings
 * hash, the limits that decide whether an input fails (--max-corrupt,
 * --max-tokens) and the ovx version. A rerun skips an item whose latest
 * failure line has its rel and the same three, when the failure was the
 * input's own (stage decode or select, not out of memory). URL inputs,
 * inputs that are not regular files, and failures of the model, of writing
 * or while listing are always tried again. */
#ifndef OVX_EXTRACT_KNOWN_FAIL_H
#define OVX_EXTRACT_KNOWN_FAIL_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "common/error.h"
#include "extract/strmap.h"

/* A local input file as it is now. */
typedef struct ovx_input_ident {
    int known;         /* 0: a URL, or stat failed, or not a regular file */
    long long size;
    char mtime[48];
} ovx_input_ident;

void ovx_input_ident_get(const char *path, ovx_input_ident *id);

/* The 16-hex "fail_settings" of a run (see above). */
void ovx_fail_settings(const char *settings_hash, double max_corrupt, int max_tokens, char out[17]);

/* A failure line (exact bytes; not yet made UTF-8). The identity and the
 * settings are added when id->known and stage is the input's own. NULL when
 * out of memory. */
cJSON *ovx_failure_line(const char *path, const char *rel, const char *stage, const char *error,
                        const ovx_input_ident *id, const char *fail_settings);

/* rel (exact bytes) -> the latest line of DIR/failures.jsonl of that rel.
 * No file: an empty map. A torn or foreign line is ignored. */
int ovx_known_failures_load(const char *out_dir, ovx_strmap *latest, ovx_error *err);

/* The failure line (parsed, names' exact bytes restored; cJSON_Delete it)
 * when the item of rel failed before with this input and these settings,
 * else NULL. */
cJSON *ovx_known_failure(const ovx_strmap *latest, const char *rel, const ovx_input_ident *id,
                         const char *fail_settings);

#endif
