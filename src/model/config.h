/* config.h: reading and validating a OneVision Encoder config.json. Every
 * field the forward depends on is read; values ovx cannot run are rejected
 * with a message naming the field. */
#ifndef OVX_MODEL_CONFIG_H
#define OVX_MODEL_CONFIG_H

#include "model/model.h"

/* Parses JSON text (len bytes, need not be NUL-terminated) into cfg. */
int ovx_model_config_parse(const char *json, size_t len, ovx_model_config *cfg, ovx_error *err);
/* Reads and parses a config.json file; errors are prefixed with the path. */
int ovx_model_config_read(const char *path, ovx_model_config *cfg, ovx_error *err);
/* Checks sizes are supported and small enough not to overflow anything. */
int ovx_model_config_validate(const ovx_model_config *cfg, ovx_error *err);

#endif
