/* select_demo.c: a program outside the project using the installed libovx
 * through pkg-config (tests/lib/test_lib_install.py builds it against a
 * temporary prefix). `select_demo CLIP TOKENS JSON_OUT` prints the selected
 * indices read from the result struct, one line, and writes the result's
 * JSON (without timings) to JSON_OUT; on error prints the status and the
 * message and exits 1. */
#include <ovx/select.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: select_demo CLIP TOKENS JSON_OUT\n");
        return 2;
    }
    ovx_select_params p = ovx_select_default_params();
    p.tokens = atoi(argv[2]);
    ovx_error err;
    ovx_error_clear(&err);
    ovx_select_result *r = NULL;
    if (ovx_select_run(argv[1], &p, &r, &err) < 0) {
        printf("error %s: %s\n", ovx_status_name(err.code), err.msg);
        return 1;
    }
    printf("visible %lld:", (long long)r->n_visible);
    for (int64_t i = 0; i < r->n_visible; i++)
        printf(" %lld", (long long)r->visible_indices[i]);
    printf("\nslots %d sampling %s\n", r->n_slots, ovx_sampling_name(r->params.sampling));
    char *json = ovx_select_result_json_string(r, 0);
    FILE *f = fopen(argv[3], "w");
    int bad = !json || !f || fputs(json, f) == EOF;
    if (f && fclose(f) != 0)
        bad = 1;
    free(json);
    ovx_select_result_free(r);
    return bad ? 3 : 0;
}
