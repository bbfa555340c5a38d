/* examples/nas_mpi.h: sigeo-nas's pipeline across ranks, compiled with or
 * without libsigeo-mpi (SIGEO_PROG_MPI). */
#include "nas_mpi.h"

#ifdef SIGEO_PROG_MPI
#include "sigeo/mpi.h"
#endif

sigeo_status_t nas_mpi_run_space(sigeo_nas_result_t **out, sigeo_context_t *ctx, const char *space,
                                 const sigeo_space_options_t *space_options, sigeo_dataset_t *train,
                                 sigeo_dataset_t *valid, sigeo_dataset_t *test, const sigeo_nas_options_t *options)
{
#ifdef SIGEO_PROG_MPI
    if (prog_mpi_handle())
        return sigeo_mpi_nas_run_space(out, prog_mpi_handle(), ctx, space, space_options, train, valid, test,
                                       options);
#endif
    return sigeo_nas_run_space(out, ctx, space, space_options, train, valid, test, options);
}
