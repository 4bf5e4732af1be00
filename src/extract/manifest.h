/* manifest.h: the manifest line of a finished item (manifest.jsonl, and
 * a shard's record in --format wds), built from its BASE.json. */
#ifndef OVX_EXTRACT_MANIFEST_H
#define OVX_EXTRACT_MANIFEST_H

#include <cjson/cJSON.h>

/* The manifest line of a finished item, rebuilt from its BASE.json (so a
 * resumed run can add one a killed run did not get to write). NULL when the
 * JSON lacks the fields. */
cJSON *ovx_extract_manifest_from_json(const cJSON *item_json);

#endif
