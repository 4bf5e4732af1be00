/* claim.h: per-item claims and the log lock of a shared output folder, so
 * several ovx processes on one -o DIR (shards, a resubmitted job array,
 * other hosts on a shared filesystem) never work on one item at once and
 * never touch each other's temp files.
 *
 * A claim is an open-file-description lock (fcntl F_OFD_SETLK, a POSIX
 * record lock also honoured over NFS) on DIR/.ovx/claims/HASH.lock, HASH the
 * FNV-1a 64 of the item's key (its output base relative to DIR). The kernel
 * drops the lock when the process dies, kill -9 included, so the claim of a
 * dead process is simply taken over by the next one. Whoever releases a
 * claim removes its file; an acquirer checks that the file it locked is
 * still the one at that path (else it retries), so removal is race-free.
 * DIR/.ovx/log.lock serialises appends to and rewrites of the run logs. */
#ifndef OVX_EXTRACT_CLAIM_H
#define OVX_EXTRACT_CLAIM_H

#include "common/error.h"

typedef struct ovx_claim {
    int fd;              /* -1 when not held */
    char path[4200];
} ovx_claim;

/* Tries to claim key under out_dir without waiting: 1 claimed, 0 held by a
 * live process, <0 error (the folder cannot be written). */
int ovx_claim_try(const char *out_dir, const char *key, ovx_claim *c, ovx_error *err);
/* The same on the file at path (created when missing): 1 locked and still
 * the file at path, 0 held by a live process, <0 error. */
int ovx_claim_path(const char *path, ovx_claim *c, ovx_error *err);
/* Removes the claim file and drops the lock (no-op when not held). */
void ovx_claim_release(ovx_claim *c);
/* Removes claim files left by dead processes; returns how many. */
int ovx_claim_clean_stale(const char *out_dir);

/* The log lock: opened once per run, taken around each append/rewrite. */
int ovx_log_lock_open(const char *out_dir, int *fd, ovx_error *err);
int ovx_log_lock(int fd, ovx_error *err);
void ovx_log_unlock(int fd);

#endif
