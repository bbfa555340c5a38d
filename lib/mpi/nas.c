/* SiGeo-NAS across ranks (sigeo_mpi_nas_options, sigeo_mpi_nas_run_space):
 * sigeo_nas_run_space on every rank with the map and the data-parallel
 * warm-up hook, rank 0 reporting, and the outcome agreed. */
#include <string.h>

#include "mpi/mpi_internal.h"

/* Rank 0's progress: shown, but it cannot cancel (one rank's cancel would
 * leave the others in a collective). */
static int progress_rank0(const sigeo_nas_progress_t *p, void *user)
{
    sigeo_mpi_t *m = user;
    if (m->progress)
        (void)m->progress(p, m->progress_user);
    return 0;
}

SIGEO_MPI_API sigeo_status_t sigeo_mpi_nas_options(sigeo_nas_options_t *o, sigeo_mpi_t *m)
{
    if (!o || !m)
        return sigeo__mpi_fail(m, SIGEO_ERR_INVALID_ARG, "sigeo_mpi_nas_options: %s is NULL", !o ? "options" : "mpi");
    if (o->struct_size < sizeof *o)
        return sigeo__mpi_fail(m, SIGEO_ERR_INVALID_ARG, "sigeo_mpi_nas_options: struct_size %u (need %zu)",
                               (unsigned)o->struct_size, sizeof *o);
    o->map = sigeo_mpi_map;
    o->map_user = m;
    o->warmup_shard_count = m->parts;
    o->warmup_shard_first = m->parts * m->rank / m->size;
    o->warmup_shard_n = m->parts / m->size;
    o->warmup_grad_hook = sigeo_mpi_grad_hook;
    o->warmup_grad_user = m;
    o->checkpoint_no_write = m->rank != 0; /* rank 0 writes the checkpoints, every rank reads them */
    if (m->rank != 0) {
        o->progress = NULL;
        o->record = NULL;
        o->cycle = NULL;
    } else if (o->progress && o->progress != progress_rank0) {
        m->progress = o->progress;
        m->progress_user = o->progress_user;
        o->progress = progress_rank0;
        o->progress_user = m;
    }
    return SIGEO_OK;
}

SIGEO_MPI_API sigeo_status_t sigeo_mpi_nas_run_space(sigeo_nas_result_t **out, sigeo_mpi_t *m, sigeo_context_t *ctx,
                                                     const char *space, const sigeo_space_options_t *space_options,
                                                     sigeo_dataset_t *train, sigeo_dataset_t *valid,
                                                     sigeo_dataset_t *test, const sigeo_nas_options_t *options)
{
    if (!out || !m)
        return sigeo__mpi_fail(m, SIGEO_ERR_INVALID_ARG, "sigeo_mpi_nas_run_space: %s is NULL", !out ? "out" : "mpi");
    *out = NULL;
    sigeo_nas_options_t o = SIGEO_NAS_OPTIONS_INIT;
    if (options) {
        if (options->struct_size < sizeof(uint32_t) || options->struct_size > sizeof o)
            return sigeo__mpi_fail(m, SIGEO_ERR_INVALID_ARG, "sigeo_mpi_nas_run_space: options struct_size %u",
                                   (unsigned)options->struct_size);
        memcpy(&o, options, options->struct_size);
        o.struct_size = sizeof o;
    }
    sigeo_status_t st = sigeo_mpi_nas_options(&o, m);
    sigeo_nas_result_t *r = NULL;
    if (st == SIGEO_OK)
        st = sigeo_nas_run_space(&r, ctx, space, space_options, train, valid, test, &o);
    m->progress = NULL;
    /* Every collective inside carried failures, so the ranks agree already;
     * this makes it explicit (and names the rank) for the caller. */
    st = sigeo_mpi_agree(m, st, NULL, 0);
    if (st != SIGEO_OK) {
        sigeo_nas_result_destroy(r);
        return st;
    }
    *out = r;
    return SIGEO_OK;
}
