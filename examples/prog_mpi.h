/* The example programs under mpirun (examples/prog_mpi.c): sigeo-nas and
 * sigeo-rank share one rule and one way of speaking for the job.
 *
 * MPI is on when the program was started by an MPI launcher
 * (OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK in the environment) or
 * SIGEO_MPI=1 is set (SIGEO_MPI=0 turns it off), and the build has
 * libsigeo-mpi; otherwise every call here is a pass-through for one
 * process. Rank 0 prints and writes the outputs; the other ranks' stdout
 * goes to /dev/null and their stderr to a private temporary file, whose
 * last line becomes the job's message when such a rank fails
 * (prog_mpi_agree).
 *
 * Every collective here must be entered by every rank in the same order:
 * a program calls them at fixed points of main, on every path. */
#ifndef SIGEO_EXAMPLES_PROG_MPI_H
#define SIGEO_EXAMPLES_PROG_MPI_H

#include <stddef.h>
#include <stdint.h>

#include "sigeo/search.h"

/* Call first in main. Returns 0, or 1 when MPI could not start (printed).
 * Under MPI it also makes SIGUSR1 (what Open MPI's mpirun forwards to
 * every rank) a first interrupt like SIGINT (interrupt.h). */
int prog_mpi_start(int *argc, char ***argv, const char *prog);
/* 1 when the job runs across ranks. */
int prog_mpi_on(void);
/* This process's rank (0 without MPI) and the number of ranks (1). */
int prog_mpi_rank(void);
int prog_mpi_size(void);
/* Collective: every rank passes its exit code so far; every rank gets the
 * largest, and rank 0 prints "prog: rank R: <R's last stderr line>" for
 * the lowest failing rank R when rank 0 itself did not fail (its own
 * message is on stderr already). */
int prog_mpi_agree(int rc, const char *prog);
/* Collective: 1 on every rank if `flag` is non-zero on any rank. */
int prog_mpi_any(int flag);
/* Collective: rank 0's `n` bytes at p on every rank. */
void prog_mpi_bcast(void *p, size_t n);
/* The sigeo_map_fn and its user pointer (NULL, NULL without MPI). */
sigeo_map_fn prog_mpi_map(void);
void *prog_mpi_map_user(void);
/* Progress across the ranks: a phase run by prog_mpi_map_reported shows
 * every rank's work on rank 0's line (issue 17: before, rank 0 showed its
 * own share only). Inside the phase's tasks every rank passes its report
 * (prog_mpi_report; the caller limits the rate, a few a second); a rank > 0
 * sends it to rank 0 as one small message, rank 0 takes the reports that
 * have arrived whenever it reports itself (MPI_Iprobe: no wait, no polling
 * loop). When its own share ends rank 0 waits, in blocking receives, until
 * every other rank has sent its last report, which each rank sends when
 * its share ends, failed or interrupted alike: nobody waits for a report
 * that never comes (a rank that dies ends the whole job: mpirun). Reports
 * go on a communicator of their own, apart from the library's. */
typedef struct prog_mpi_report {
    int64_t units;       /* the rank's units done in the phase (steps, ...) */
    int64_t items;       /* its items complete (archs) */
    int64_t item;        /* the item in progress or just done (the caller's index), -1 none */
    int64_t step, steps; /* within that item */
} prog_mpi_report_t;
/* Rank 0: a report was taken (`from` sent `r`; rank 0's own too). */
typedef void (*prog_mpi_report_fn)(int from, const prog_mpi_report_t *r, void *user);
/* prog_mpi_map()(...) with the reports above (shown(from, r, user) on rank
 * 0 for each); without MPI, the tasks in order here, rank 0's own reports
 * shown. */
sigeo_status_t prog_mpi_map_reported(void *results, size_t result_size, int64_t count, sigeo_task_fn task,
                                     void *task_user, prog_mpi_report_fn shown, void *shown_user);
/* In a task of prog_mpi_map_reported: this rank's report (elsewhere: nothing). */
void prog_mpi_report(const prog_mpi_report_t *r);
/* Rank 0, in the phase: units and items summed over the ranks' latest reports. */
void prog_mpi_report_totals(int64_t *units, int64_t *items);
/* libsigeo-mpi's last error (after a failed map: "rank R: task i: ..."), "" without MPI. */
const char *prog_mpi_last_error(void);
/* libsigeo-mpi's handle (a sigeo_mpi_t *) for MPI-specific calls; NULL without MPI. */
void *prog_mpi_handle(void);

#endif
