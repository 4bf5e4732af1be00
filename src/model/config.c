/* config.c: config.json -> ovx_model_config, with cJSON, rejecting any value
 * the CPU/CUDA forward does not implement; the defaults of a config and of
 * the load parameters. */
#include "model/config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/regular_file.h"

ovx_model_params ovx_model_default_params(void)
{
    ovx_model_params p = {0};
    return p;
}

ovx_model_config ovx_model_config_default_large(void)
{
    ovx_model_config c;
    memset(&c, 0, sizeof c);
    c.hidden_size = 1024;
    c.intermediate_size = 4096;
    c.num_layers = 24;
    c.num_heads = 16;
    c.head_dim = 64;
    c.num_channels = 3;
    c.patch_size = 14;
    c.image_size = 448;
    c.rope_temporal_size = 64;
    c.use_head = 1;
    c.layer_norm_eps = 1e-6f;
    c.rope_theta = 10000.0;
    return c;
}

int ovx_model_config_validate(const ovx_model_config *c, ovx_error *err)
{
    if (c->hidden_size <= 0 || c->hidden_size > 16384)
        return ovx_error_set(err, OVX_EUNSUPPORTED, "hidden_size %d out of range 1..16384", c->hidden_size);
    if (c->intermediate_size <= 0 || c->intermediate_size > 65536)
        return ovx_error_set(err, OVX_EUNSUPPORTED, "intermediate_size %d out of range 1..65536",
                             c->intermediate_size);
    if (c->num_layers <= 0 || c->num_layers > 256)
        return ovx_error_set(err, OVX_EUNSUPPORTED, "num_hidden_layers %d out of range 1..256", c->num_layers);
    if (c->num_heads <= 0 || c->hidden_size % c->num_heads != 0)
        return ovx_error_set(err, OVX_EUNSUPPORTED, "num_attention_heads %d does not divide hidden_size %d",
                             c->num_heads, c->hidden_size);
    if (c->head_dim != 64 || c->hidden_size / c->num_heads != 64)
        return ovx_error_set(err, OVX_EUNSUPPORTED,
                             "head_dim %d (hidden_size/num_attention_heads) unsupported: the 3D RoPE needs 64",
                             c->hidden_size / c->num_heads);
    if (c->num_channels <= 0 || c->num_channels > 16)
        return ovx_error_set(err, OVX_EUNSUPPORTED, "num_channels %d out of range 1..16", c->num_channels);
    if (c->patch_size <= 0 || c->patch_size > 64)
        return ovx_error_set(err, OVX_EUNSUPPORTED, "patch_size %d out of range 1..64", c->patch_size);
    if (c->image_size <= 0 || c->image_size > 16384)
        return ovx_error_set(err, OVX_EUNSUPPORTED, "image_size %d out of range", c->image_size);
    if (c->rope_temporal_size <= 0 || c->rope_temporal_size > 4096)
        return ovx_error_set(err, OVX_EUNSUPPORTED, "rope_temporal_size %d out of range 1..4096",
                             c->rope_temporal_size);
    if (!(c->layer_norm_eps > 0.0f && c->layer_norm_eps < 1.0f))
        return ovx_error_set(err, OVX_EUNSUPPORTED, "layer_norm_eps %g out of range (0, 1)",
                             (double)c->layer_norm_eps);
    if (!(c->rope_theta > 1.0 && c->rope_theta < 1e12))
        return ovx_error_set(err, OVX_EUNSUPPORTED, "rope_theta %g out of range", c->rope_theta);
    return OVX_OK;
}

/* Looks up a numeric field: *it NULL when absent (error if required). */
static int find_number(const cJSON *root, const char *name, int required, const cJSON **it, ovx_error *err)
{
    *it = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!*it)
        return required ? ovx_error_set(err, OVX_EINPUT, "missing field \"%s\"", name) : OVX_OK;
    if (!cJSON_IsNumber(*it))
        return ovx_error_set(err, OVX_EINPUT, "field \"%s\" is not a number", name);
    return OVX_OK;
}

static int get_int(const cJSON *root, const char *name, int required, int def, int *out, ovx_error *err)
{
    const cJSON *it;
    int rc = find_number(root, name, required, &it, err);
    if (rc || !it) {
        *out = def;
        return rc;
    }
    double v = it->valuedouble;
    if (!(v >= -2147483648.0 && v <= 2147483647.0) || v != floor(v))
        return ovx_error_set(err, OVX_EINPUT, "field \"%s\" is not an integer (%g)", name, v);
    *out = (int)v;
    return OVX_OK;
}

static int get_num(const cJSON *root, const char *name, int required, double def, double *out,
                   ovx_error *err)
{
    const cJSON *it;
    int rc = find_number(root, name, required, &it, err);
    *out = it ? it->valuedouble : def;
    return rc;
}

/* Optional string field that must equal one of the allowed values. */
static int check_str(const cJSON *root, const char *name, const char *const *allowed, ovx_error *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!it)
        return OVX_OK;
    if (!cJSON_IsString(it) || !it->valuestring)
        return ovx_error_set(err, OVX_EINPUT, "field \"%s\" is not a string", name);
    for (int i = 0; allowed[i]; i++)
        if (!strcmp(it->valuestring, allowed[i]))
            return OVX_OK;
    return ovx_error_set(err, OVX_EUNSUPPORTED, "unsupported %s \"%.100s\" (supported: \"%s\")", name,
                         it->valuestring, allowed[0]);
}

int ovx_model_config_parse(const char *json, size_t len, ovx_model_config *cfg, ovx_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root)
        return ovx_error_set(err, OVX_EINPUT, "not valid JSON");
    int rc = OVX_OK;
    if (!cJSON_IsObject(root)) {
        rc = ovx_error_set(err, OVX_EINPUT, "top level is not a JSON object");
        goto done;
    }
    static const char *const model_types[] = {"onevision_encoder", NULL};
    static const char *const acts[] = {"gelu", NULL};
    static const char *const norms[] = {"layer_norm", NULL};
    if ((rc = check_str(root, "model_type", model_types, err)) ||
        (rc = check_str(root, "hidden_act", acts, err)) ||
        (rc = check_str(root, "layer_norm_type", norms, err)))
        goto done;
    double eps, theta, dropout;
    if ((rc = get_int(root, "hidden_size", 1, 0, &cfg->hidden_size, err)) ||
        (rc = get_int(root, "intermediate_size", 1, 0, &cfg->intermediate_size, err)) ||
        (rc = get_int(root, "num_hidden_layers", 1, 0, &cfg->num_layers, err)) ||
        (rc = get_int(root, "num_attention_heads", 1, 0, &cfg->num_heads, err)) ||
        (rc = get_int(root, "num_channels", 0, 3, &cfg->num_channels, err)) ||
        (rc = get_int(root, "patch_size", 1, 0, &cfg->patch_size, err)) ||
        (rc = get_int(root, "image_size", 0, 448, &cfg->image_size, err)) ||
        (rc = get_int(root, "rope_temporal_size", 0, 64, &cfg->rope_temporal_size, err)) ||
        (rc = get_num(root, "layer_norm_eps", 0, 1e-6, &eps, err)) ||
        (rc = get_num(root, "rope_theta", 0, 10000.0, &theta, err)) ||
        (rc = get_num(root, "attention_dropout", 0, 0.0, &dropout, err)))
        goto done;
    cfg->layer_norm_eps = (float)eps;
    cfg->rope_theta = theta;
    cfg->head_dim = cfg->num_heads > 0 ? cfg->hidden_size / cfg->num_heads : 0;
    if (cfg->num_heads > 0 && cfg->hidden_size % cfg->num_heads)
        cfg->head_dim = 0;
    const cJSON *hd = cJSON_GetObjectItemCaseSensitive(root, "head_dim");
    if (hd && (!cJSON_IsNumber(hd) || hd->valuedouble != cfg->head_dim || hd->valuedouble != 64.0)) {
        rc = ovx_error_set(err, OVX_EUNSUPPORTED, "head_dim %g unsupported: the 3D RoPE needs 64",
                           cJSON_IsNumber(hd) ? hd->valuedouble : -1.0);
        goto done;
    }
    const cJSON *uh = cJSON_GetObjectItemCaseSensitive(root, "use_head");
    if (!uh)
        cfg->use_head = 1;
    else if (cJSON_IsBool(uh))
        cfg->use_head = cJSON_IsTrue(uh) ? 1 : 0;
    else {
        rc = ovx_error_set(err, OVX_EINPUT, "field \"use_head\" is not a boolean");
        goto done;
    }
    rc = ovx_model_config_validate(cfg, err);
done:
    cJSON_Delete(root);
    return rc;
}

int ovx_model_config_read(const char *path, ovx_model_config *cfg, ovx_error *err)
{
    char *buf;
    size_t len;
    int rc = ovx_read_regular(path, 1u << 24, "a config.json", &buf, &len, err);
    if (rc)
        return rc;
    rc = ovx_model_config_parse(buf, len, cfg, err);
    if (rc)
        ovx_error_prefix(err, "%s", path);
    free(buf);
    return rc;
}
