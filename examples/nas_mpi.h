/* sigeo-nas under mpirun (examples/nas_mpi.c): when the program was started
 * by an MPI launcher (OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK in the
 * environment) or SIGEO_MPI=1 is set, and the build has libsigeo-mpi, every
 * rank runs the pipeline through sigeo_mpi_nas_run_space; rank 0 prints and
 * writes the outputs, the other ranks are silent. Otherwise these are thin
 * pass-throughs to the one-process library calls. */
#ifndef SIGEO_EXAMPLES_NAS_MPI_H
#define SIGEO_EXAMPLES_NAS_MPI_H

#include "sigeo/nas.h"

/* Call first in main. Returns 0, or 1 when MPI could not start (printed). */
int nas_mpi_start(int *argc, char ***argv);
/* This process's rank (0 without MPI). */
int nas_mpi_rank(void);
/* Collective: every rank passes its exit code so far; returns the largest,
 * and rank 0 prints the message of the lowest failing rank. */
int nas_mpi_agree(int rc, const char *prog);
/* sigeo_nas_run_space, across the ranks when MPI is on. */
sigeo_status_t nas_mpi_run_space(sigeo_nas_result_t **out, sigeo_context_t *ctx, const char *space,
                                 const sigeo_space_options_t *space_options, sigeo_dataset_t *train,
                                 sigeo_dataset_t *valid, sigeo_dataset_t *test, const sigeo_nas_options_t *options);

#endif
