/* cmd_extract.c: `ovx extract` (not implemented yet; see the open issues). */
#include <stdio.h>

#include "cli/commands.h"

void ovx_help_extract(FILE *out)
{
    fprintf(out, "usage: ovx extract ...\n(not implemented yet)\n");
}

int ovx_cmd_extract(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "ovx extract: not implemented yet\n");
    return OVX_EXIT_FAIL;
}
