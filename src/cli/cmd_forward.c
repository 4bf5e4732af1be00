/* cmd_forward.c: `ovx forward` (not implemented yet; see the open issues). */
#include <stdio.h>

#include "cli/commands.h"

void ovx_help_forward(FILE *out)
{
    fprintf(out, "usage: ovx forward ...\n(not implemented yet)\n");
}

int ovx_cmd_forward(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "ovx forward: not implemented yet\n");
    return OVX_EXIT_FAIL;
}
