/* cmd_selftest.c: `ovx selftest` (not implemented yet; see the open issues). */
#include <stdio.h>

#include "cli/commands.h"

void ovx_help_selftest(FILE *out)
{
    fprintf(out, "usage: ovx selftest ...\n(not implemented yet)\n");
}

int ovx_cmd_selftest(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "ovx selftest: not implemented yet\n");
    return OVX_EXIT_FAIL;
}
