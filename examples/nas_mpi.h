/* sigeo-nas under mpirun (examples/nas_mpi.c): with MPI on (prog_mpi.h)
 * every rank runs the pipeline through sigeo_mpi_nas_run_space; rank 0
 * prints and writes the outputs, the other ranks are silent. Otherwise a
 * thin pass-through to the one-process library call. */
#ifndef SIGEO_EXAMPLES_NAS_MPI_H
#define SIGEO_EXAMPLES_NAS_MPI_H

#include "sigeo/nas.h"

#include "prog_mpi.h"

/* sigeo_nas_run_space, across the ranks when MPI is on. */
sigeo_status_t nas_mpi_run_space(sigeo_nas_result_t **out, sigeo_context_t *ctx, const char *space,
                                 const sigeo_space_options_t *space_options, sigeo_dataset_t *train,
                                 sigeo_dataset_t *valid, sigeo_dataset_t *test, const sigeo_nas_options_t *options);

#endif
