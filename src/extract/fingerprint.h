/* fingerprint.h: a cheap identity of a model folder for the settings hash,
 * without loading the model: FNV-1a 64 over config.json and, for every
 * *.safetensors / *.json file of the folder (sorted by name), its name, size
 * and its first and last MiB. A copy of the folder elsewhere (e.g. node-local
 * scratch on a cluster) has the same fingerprint, so resumed runs still skip
 * finished items; different weights change it. */
#ifndef OVX_EXTRACT_FINGERPRINT_H
#define OVX_EXTRACT_FINGERPRINT_H

#include <stdint.h>

#include "common/error.h"

int ovx_model_fingerprint(const char *dir, uint64_t *out, ovx_error *err);

#endif
