/* runtmp.h: the private temp folder of one extract process. Every temp
 * file ovx extract writes (outputs before their rename, REL.json) goes into
 * DIR/.ovx/tmp/PID-XXXXXX/, a folder of its own, never beside the outputs,
 * so no name an input can give an output is ever taken for a temp file.
 * The folder's owner holds a claim (claim.h) on DIR/.ovx/tmp/PID-XXXXXX.lock
 * while it runs; the kernel drops it when the process dies (kill -9
 * included). A later run removes every folder whose lock it can take: the
 * temp files of dead processes, and only theirs. */
#ifndef OVX_EXTRACT_RUNTMP_H
#define OVX_EXTRACT_RUNTMP_H

#include "common/error.h"
#include "extract/claim.h"

typedef struct ovx_runtmp {
    ovx_claim lock;     /* held while the folder is in use */
    char dir[4200];     /* DIR/.ovx/tmp/PID-XXXXXX */
} ovx_runtmp;

/* Creates and locks this process's temp folder under out_dir. */
int ovx_runtmp_open(ovx_runtmp *t, const char *out_dir, ovx_error *err);
/* Removes the folder with what is left in it, then its lock. */
void ovx_runtmp_close(ovx_runtmp *t);
/* Removes the temp folders of processes that no longer run; returns how
 * many files went. */
int ovx_runtmp_clean(const char *out_dir);

#endif
