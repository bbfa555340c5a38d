/* examples/nas_mpi.h: sigeo-nas's MPI glue, compiled with or without
 * libsigeo-mpi (SIGEO_NAS_MPI). */
#include "nas_mpi.h"

#include <stdio.h>
#include <stdlib.h>

#ifdef SIGEO_NAS_MPI
#include "sigeo/mpi.h"

static sigeo_mpi_t *mpi;
static int rank;

static void stop(void)
{
    sigeo_mpi_destroy(mpi);
    mpi = NULL;
    MPI_Finalize();
}

static int launched_by_mpi(void)
{
    const char *force = getenv("SIGEO_MPI");
    if (force)
        return force[0] == '1';
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

int nas_mpi_start(int *argc, char ***argv)
{
    if (!launched_by_mpi())
        return 0;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        fprintf(stderr, "MPI_Init failed\n");
        return 1;
    }
    if (sigeo_mpi_create(&mpi, MPI_COMM_WORLD) != SIGEO_OK) {
        fprintf(stderr, "%s\n", sigeo_last_error());
        MPI_Finalize();
        return 1;
    }
    rank = sigeo_mpi_rank(mpi);
    atexit(stop);
    if (rank != 0) { /* rank 0 speaks for the job */
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
            return 1;
    }
    return 0;
}

int nas_mpi_rank(void)
{
    return rank;
}

int nas_mpi_agree(int rc, const char *prog)
{
    if (!mpi)
        return rc;
    char msg[512];
    sigeo_status_t st = sigeo_mpi_agree(mpi, rc ? SIGEO_ERR_IO : SIGEO_OK, msg, sizeof msg);
    int worst = rc;
    MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (st != SIGEO_OK && rank == 0 && rc == 0)
        fprintf(stderr, "%s: %s\n", prog, msg);
    return worst;
}

sigeo_status_t nas_mpi_run_space(sigeo_nas_result_t **out, sigeo_context_t *ctx, const char *space,
                                 const sigeo_space_options_t *space_options, sigeo_dataset_t *train,
                                 sigeo_dataset_t *valid, sigeo_dataset_t *test, const sigeo_nas_options_t *options)
{
    if (!mpi)
        return sigeo_nas_run_space(out, ctx, space, space_options, train, valid, test, options);
    return sigeo_mpi_nas_run_space(out, mpi, ctx, space, space_options, train, valid, test, options);
}

#else /* no libsigeo-mpi in this build */

int nas_mpi_start(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *force = getenv("SIGEO_MPI");
    if ((force && force[0] == '1') || getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE")) {
        fprintf(stderr, "this sigeo-nas was built without libsigeo-mpi (-Dmpi=disabled or no libopenmpi-dev): "
                        "every rank would run the whole job alone\n");
        return 1;
    }
    return 0;
}

int nas_mpi_rank(void)
{
    return 0;
}

int nas_mpi_agree(int rc, const char *prog)
{
    (void)prog;
    return rc;
}

sigeo_status_t nas_mpi_run_space(sigeo_nas_result_t **out, sigeo_context_t *ctx, const char *space,
                                 const sigeo_space_options_t *space_options, sigeo_dataset_t *train,
                                 sigeo_dataset_t *valid, sigeo_dataset_t *test, const sigeo_nas_options_t *options)
{
    return sigeo_nas_run_space(out, ctx, space, space_options, train, valid, test, options);
}
#endif
