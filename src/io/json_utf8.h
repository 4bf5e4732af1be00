/* json_utf8.h: every JSON ovx writes is valid UTF-8, whatever bytes a file
 * name holds. Before printing, a string that is not valid UTF-8 gets its
 * bad bytes replaced by U+FFFD, and in an object its exact bytes go beside
 * it as KEY_bytes (standard base64), so a reader can recover the name
 * (Python: base64.b64decode(o["path_bytes"]) == os.fsencode(path)).
 * Reading a JSON back, ovx_json_restore_bytes puts the exact bytes back. */
#ifndef OVX_IO_JSON_UTF8_H
#define OVX_IO_JSON_UTF8_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* 1 when s is valid UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF). */
int ovx_utf8_valid(const char *s);
/* s with every invalid sequence replaced by U+FFFD (malloc'd). */
char *ovx_utf8_replace(const char *s);
/* Standard base64 of n bytes (malloc'd, NUL-terminated). */
char *ovx_base64(const void *data, size_t n);
/* Decodes standard base64 (malloc'd, NUL-terminated; NULL when malformed). */
char *ovx_base64_decode(const char *s, size_t *n);

/* Makes every string in the tree valid UTF-8 as above; 0, or -1 when out
 * of memory. */
int ovx_json_make_utf8(cJSON *root);
/* The inverse, for a JSON ovx wrote: KEY_bytes decoded back into KEY. */
void ovx_json_restore_bytes(cJSON *root);

#endif
