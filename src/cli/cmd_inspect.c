/* cmd_inspect.c: `ovx inspect` (not implemented yet; see the open issues). */
#include <stdio.h>

#include "cli/commands.h"

void ovx_help_inspect(FILE *out)
{
    fprintf(out, "usage: ovx inspect ...\n(not implemented yet)\n");
}

int ovx_cmd_inspect(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "ovx inspect: not implemented yet\n");
    return OVX_EXIT_FAIL;
}
