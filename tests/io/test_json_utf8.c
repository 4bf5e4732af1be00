/* test_json_utf8.c: UTF-8 validation (overlongs, surrogates, > U+10FFFF,
 * truncated sequences), U+FFFD replacement, base64 against RFC 4648
 * vectors, and KEY_bytes: make_utf8 then restore gives the exact bytes.
 * Pre-printed integer arrays: the same text as cJSON_Print of the numbers. */
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "io/json_ints.h"
#include "io/json_utf8.h"

/* ovx_json_ints_raw in an object prints as cJSON_Print prints the numbers */
static void check_ints(const int64_t *v, size_t n, size_t group)
{
    int32_t v32[64];
    for (size_t i = 0; i < n; i++)
        v32[i] = (int32_t)v[i];
    cJSON *want = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(want, "a"), *inner = NULL;
    for (size_t i = 0; i < n; i++) {
        if (group > 1 && i % group == 0)
            cJSON_AddItemToArray(arr, inner = cJSON_CreateArray());
        cJSON_AddItemToArray(group > 1 ? inner : arr, cJSON_CreateNumber((double)v[i]));
    }
    for (int es = 4; es <= 8; es += 4) {
        cJSON *got = cJSON_CreateObject();
        cJSON_AddItemToObject(got, "a", ovx_json_ints_raw(es == 4 ? (const void *)v32 : (const void *)v, es, n, group));
        char *a = cJSON_Print(want), *b = cJSON_Print(got);
        CHECK(a && b && !strcmp(a, b));
        free(a), free(b);
        cJSON_Delete(got);
    }
    cJSON_Delete(want);
}

static void test_ints(void)
{
    const int64_t v[12] = {0, 7, -3, 10, 2147483647, -2147483647, 100, 4095, 16383, 1, 0, 99};
    check_ints(v, 0, 1);
    check_ints(v, 1, 1);
    check_ints(v, 12, 1);
    check_ints(v, 3, 3);
    check_ints(v, 12, 3);
}

int main(void)
{
    /* validity */
    CHECK(ovx_utf8_valid("plain ascii"));
    CHECK(ovx_utf8_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    CHECK(!ovx_utf8_valid("caf\xe9"));              /* latin-1 */
    CHECK(!ovx_utf8_valid("\xc0\xaf"));              /* overlong '/' */
    CHECK(!ovx_utf8_valid("\xe0\x80\xaf"));          /* overlong, 3 bytes */
    CHECK(!ovx_utf8_valid("\xed\xa0\x80"));          /* surrogate U+D800 */
    CHECK(!ovx_utf8_valid("\xf4\x90\x80\x80"));      /* U+110000 */
    CHECK(!ovx_utf8_valid("\xe2\x82"));              /* cut short */
    CHECK(!ovx_utf8_valid("\xff"));
    /* replacement: one U+FFFD per bad byte, good sequences kept */
    char *r = ovx_utf8_replace("a\xff" "b\xc3\xa9\xe2\x82");
    CHECK(r && !strcmp(r, "a\xef\xbf\xbd" "b\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd"));
    CHECK(r && ovx_utf8_valid(r));
    free(r);
    /* base64: RFC 4648 section 10 */
    const char *vec[][2] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
                            {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        char *e = ovx_base64(vec[i][0], strlen(vec[i][0]));
        CHECK(e && !strcmp(e, vec[i][1]));
        size_t n = 99;
        char *d = ovx_base64_decode(vec[i][1], &n);
        CHECK(d && n == strlen(vec[i][0]) && !memcmp(d, vec[i][0], n));
        free(e);
        free(d);
    }
    CHECK(ovx_base64_decode("Zm9", NULL) == NULL);
    CHECK(ovx_base64_decode("Zm=v", NULL) == NULL);
    CHECK(ovx_base64_decode("Z!9v", NULL) == NULL);
    /* a tree: bad strings fixed in objects (with KEY_bytes) and arrays, restored exactly */
    const char *bad = "gr\xfcn/caf\xe9 \xff";
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", bad);
    cJSON_AddStringToObject(o, "ok", "fine");
    cJSON *in = cJSON_AddObjectToObject(o, "outputs");
    cJSON_AddStringToObject(in, "file", bad);
    cJSON *arr = cJSON_AddArrayToObject(o, "list");
    cJSON_AddItemToArray(arr, cJSON_CreateString("\xfe"));
    CHECK(ovx_json_make_utf8(o) == 0);
    char *text = cJSON_PrintUnformatted(o);
    CHECK(text && ovx_utf8_valid(text));
    CHECK(text && strstr(text, "\"path_bytes\":\"Z3L8bi9jYWbpIP8=\"") != NULL);
    CHECK(text && !strstr(text, "ok_bytes"));
    cJSON *back = text ? cJSON_Parse(text) : NULL;
    ovx_json_restore_bytes(back);
    CHECK(back && !strcmp(cJSON_GetObjectItem(back, "path")->valuestring, bad));
    CHECK(back && !strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(back, "outputs"), "file")->valuestring, bad));
    CHECK(back && !cJSON_GetObjectItem(back, "path_bytes"));
    free(text);
    cJSON_Delete(back);
    cJSON_Delete(o);
    test_ints();
    return CHECK_RESULT();
}
