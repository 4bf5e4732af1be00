/* test_claim_stress.c: the claim lock under contention. 6 processes claim
 * and release one key 3000 times each; a counter in shared memory counts the
 * holders, and no moment may see two. The holder removes the claim file on
 * release, so an acquirer can lock a file that is no longer at the path; the
 * inode re-check after locking (claim.c) is what keeps the count at one
 * (without it such runs saw hundreds of double holders). The same for the
 * private temp folders: their cleaner never removes a live run's folder. */
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../check.h"
#include "extract/claim.h"
#include "extract/runtmp.h"

enum { PROCS = 6, CYCLES = 3000 };

typedef struct shared {
    atomic_int holders, double_holders, claims, refused, errors;
} shared;

static void child(const char *dir, shared *sh)
{
    for (int i = 0; i < CYCLES; i++) {
        ovx_claim c;
        ovx_error err;
        int got = ovx_claim_try(dir, "the/one/item", &c, &err);
        if (got < 0) {
            atomic_fetch_add(&sh->errors, 1);
            continue;
        }
        if (got == 0) {
            atomic_fetch_add(&sh->refused, 1); /* somebody else held it */
            continue;
        }
        atomic_fetch_add(&sh->claims, 1);
        if (atomic_fetch_add(&sh->holders, 1) != 0)
            atomic_fetch_add(&sh->double_holders, 1);
        sched_yield(); /* hold it a moment: others open the file and wait to lock it */
        for (volatile int k = 0; k < 2000; k++) {
        }
        atomic_fetch_sub(&sh->holders, 1);
        ovx_claim_release(&c);
    }
}

/* Each process makes its temp folder, puts a file in it, cleans, checks
 * the file is still there, closes it: again and again. */
static void child_tmp(const char *dir, shared *sh)
{
    for (int i = 0; i < CYCLES / 10; i++) {
        ovx_runtmp t;
        ovx_error err;
        if (ovx_runtmp_open(&t, dir, &err) != OVX_OK) {
            atomic_fetch_add(&sh->errors, 1);
            continue;
        }
        char path[4400];
        snprintf(path, sizeof path, "%s/f", t.dir);
        FILE *fp = fopen(path, "w");
        if (fp)
            fclose(fp);
        ovx_runtmp_clean(dir);
        if (access(path, F_OK) != 0)
            atomic_fetch_add(&sh->double_holders, 1); /* a live folder removed */
        atomic_fetch_add(&sh->claims, 1);
        ovx_runtmp_close(&t);
    }
}

static void race(const char *dir, shared *sh, void (*fn)(const char *, shared *))
{
    memset(sh, 0, sizeof *sh);
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        if (pids[p] == 0) {
            fn(dir, sh);
            _exit(0);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int st = 0;
        CHECK(pids[p] > 0 && waitpid(pids[p], &st, 0) == pids[p] && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
}

int main(void)
{
    char dir[] = "/tmp/ovx-claim-stress-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(sh != MAP_FAILED);
    race(dir, sh, child);
    printf("claims: %d taken, %d refused, by %d processes x %d tries, %d moments of two holders, %d errors\n",
           sh->claims, sh->refused, PROCS, CYCLES, sh->double_holders, sh->errors);
    /* the test contended for real, however loaded the machine: every try either
     * took the claim or was refused because another process held it, and both
     * happened (how many of each depends on the scheduler, not on claim.c) */
    CHECK(sh->claims > 0 && sh->refused > 0);
    CHECK(sh->claims + sh->refused + sh->errors == PROCS * CYCLES);
    CHECK(sh->double_holders == 0);
    CHECK(sh->errors == 0);
    race(dir, sh, child_tmp);
    printf("temp folders: %d made, %d live ones removed, %d errors\n", sh->claims, sh->double_holders, sh->errors);
    CHECK(sh->claims == PROCS * (CYCLES / 10) && sh->double_holders == 0 && sh->errors == 0);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return CHECK_RESULT();
}
