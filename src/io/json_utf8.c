/* json_utf8.c: UTF-8 validation, U+FFFD replacement, base64, and the
 * KEY / KEY_bytes convention for JSON trees. */
#include "io/json_utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t seq_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

int ovx_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = seq_len(p);
        if (!n)
            return 0;
        p += n;
    }
    return 1;
}

char *ovx_utf8_replace(const char *s)
{
    size_t len = strlen(s);
    char *out = malloc(3 * len + 1); /* each bad byte becomes 3 bytes */
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    while (*p) {
        size_t n = seq_len(p);
        if (n) {
            memcpy(out + o, p, n);
            o += n;
            p += n;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            p++;
        }
    }
    out[o] = '\0';
    return out;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *ovx_base64(const void *data, size_t n)
{
    const unsigned char *d = data;
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) | (i + 2 < n ? d[i + 2] : 0);
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

char *ovx_base64_decode(const char *s, size_t *n)
{
    size_t len = strlen(s);
    if (len % 4)
        return NULL;
    char *out = malloc(len / 4 * 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            const char *c = s[i + k] ? strchr(b64, s[i + k]) : NULL;
            if (s[i + k] == '=' && i + 4 == len && k >= 2) {
                pad++;
                v <<= 6;
                continue;
            }
            if (!c || pad) {
                free(out);
                return NULL;
            }
            v = (v << 6) | (uint32_t)(c - b64);
        }
        out[o++] = (char)(v >> 16);
        if (pad < 2)
            out[o++] = (char)(v >> 8);
        if (pad < 1)
            out[o++] = (char)v;
    }
    out[o] = '\0';
    if (n)
        *n = o;
    return out;
}

static int fix_string(cJSON *item, cJSON *parent)
{
    if (ovx_utf8_valid(item->valuestring))
        return 0;
    char *fixed = ovx_utf8_replace(item->valuestring);
    char *enc = ovx_base64(item->valuestring, strlen(item->valuestring));
    int rc = -1;
    if (fixed && enc && cJSON_SetValuestring(item, fixed)) {
        rc = 0;
        if (parent && cJSON_IsObject(parent) && item->string) {
            char key[512];
            if (snprintf(key, sizeof key, "%s_bytes", item->string) < (int)sizeof key) {
                cJSON *b = cJSON_CreateString(enc);
                if (!b)
                    rc = -1;
                else if (!cJSON_ReplaceItemInObjectCaseSensitive(parent, key, b) &&
                         !cJSON_AddItemToObject(parent, key, b))
                    rc = -1;
            }
        }
    }
    free(fixed);
    free(enc);
    return rc;
}

int ovx_json_make_utf8(cJSON *root)
{
    if (!root)
        return 0;
    int rc = 0; /* keys are ovx's own names: only values need fixing */
    for (cJSON *c = root->child; c; c = c->next) {
        if (cJSON_IsString(c) && c->valuestring)
            rc |= fix_string(c, root);
        else
            rc |= ovx_json_make_utf8(c);
    }
    return rc ? -1 : 0;
}

void ovx_json_restore_bytes(cJSON *root)
{
    if (!root)
        return;
    for (cJSON *c = root->child, *next; c; c = next) {
        next = c->next;
        size_t kl = c->string ? strlen(c->string) : 0;
        if (cJSON_IsObject(root) && cJSON_IsString(c) && kl > 6 && !strcmp(c->string + kl - 6, "_bytes")) {
            char key[512];
            snprintf(key, sizeof key, "%.*s", (int)(kl - 6), c->string);
            cJSON *orig = cJSON_GetObjectItemCaseSensitive(root, key);
            size_t n;
            char *raw = ovx_base64_decode(c->valuestring, &n);
            if (cJSON_IsString(orig) && raw && strlen(raw) == n && cJSON_SetValuestring(orig, raw))
                cJSON_DeleteItemFromObjectCaseSensitive(root, c->string);
            free(raw);
        } else {
            ovx_json_restore_bytes(c);
        }
    }
}
