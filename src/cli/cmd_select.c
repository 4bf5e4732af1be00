/* cmd_select.c: `ovx select` (not implemented yet; see the open issues). */
#include <stdio.h>

#include "cli/commands.h"

void ovx_help_select(FILE *out)
{
    fprintf(out, "usage: ovx select ...\n(not implemented yet)\n");
}

int ovx_cmd_select(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "ovx select: not implemented yet\n");
    return OVX_EXIT_FAIL;
}
