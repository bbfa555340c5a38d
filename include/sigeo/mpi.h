/*
 * libsigeo-mpi: SiGeo-NAS across processes with MPI (a library of its own,
 * -lsigeo-mpi, pkg-config sigeo-mpi; the only libsigeo header that includes
 * <mpi.h>, so libsigeo itself and its ABI stay MPI-free). It uses only
 * libsigeo's public API and its SIGEO_1.1 hooks:
 *
 *   - sigeo_mpi_map          a sigeo_map_fn (search.h): the tasks are cut into
 *                            contiguous blocks, one per rank, and the results
 *                            gathered in task order on every rank
 *   - sigeo_mpi_grad_hook    a sigeo_grad_hook_fn (train.h): the data-parallel
 *                            average of every rank's gradient parts
 *   - sigeo_mpi_nas_run_space sigeo_nas_run_space with both, on every rank
 *
 * Model of execution: every rank runs the same calls on the same data with
 * the same seeds (replicated control; no master). Collectives are entered
 * in the same order on every rank; a local failure travels inside the next
 * collective, so every rank returns the same failure (with the failing
 * rank's message) instead of leaving the others waiting.
 *
 *   MPI_Init(&argc, &argv);
 *   sigeo_mpi_t *mpi;
 *   sigeo_mpi_create(&mpi, MPI_COMM_WORLD);
 *   st = load_data(...);                                  each rank
 *   st = sigeo_mpi_agree(mpi, st, msg, sizeof msg);       all fail together
 *   sigeo_mpi_nas_run_space(&r, mpi, ctx, "nasrec-small", NULL, train, valid, test, &o);
 *   if (sigeo_mpi_rank(mpi) == 0) print(r);
 *   sigeo_mpi_destroy(mpi);
 *   MPI_Finalize();
 *
 * Determinism. The warm-up cuts every batch into P parts (sigeo_mpi_parts;
 * default: 4 for up to 4 ranks, else the rank count rounded up to a multiple
 * of it) and rank r computes the contiguous parts [r P/np, (r+1) P/np). The
 * parts' gradients, each weighted by its share of the batch's rows, are
 * summed in one fixed balanced binary tree over the P parts (a rank sums its
 * own subtree, then every rank sums the gathered subtrees in rank order), so
 * every rank holds the same bits, and for a power-of-two rank count that
 * divides P the bits do not depend on the rank count either: np 1, 2 and 4
 * give the same weights, scores and search. A one-process sigeo_nas_run
 * (one backward over the whole batch) differs from them by float rounding
 * only (the sums are grouped differently). Embedding tables travel
 * row-sparse: a rank sends only the rows its parts touched, and every rank
 * writes back the union of the rows (sigeo_model_set_grad_rows), so the
 * optimiser's row-sparse update visits the rows a single process would have.
 *
 * Errors: SIGEO_ERR_INVALID_ARG (NULL, MPI not initialised), the statuses
 * of the failing rank's call (its message says which rank), and
 * SIGEO_ERR_INTERNAL when an MPI call fails (naming it and MPI's message).
 * Threads: a handle is used by one thread at a time (MPI_THREAD_FUNNELED is
 * enough).
 */
#ifndef SIGEO_MPI_H
#define SIGEO_MPI_H

#include <mpi.h>

#include "sigeo/nas.h"
#include "sigeo/search.h"
#include "sigeo/sigeo.h"
#include "sigeo/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Marks libsigeo-mpi's exported functions (visibility default when
 * building it, nothing for hosts). */
#if defined(SIGEO_MPI_BUILDING) && defined(__GNUC__)
#  define SIGEO_MPI_API __attribute__((visibility("default")))
#else
#  define SIGEO_MPI_API
#endif

typedef struct sigeo_mpi sigeo_mpi_t;

/* A handle on a duplicate of `comm` (MPI must be initialised; the
 * duplicate is freed by sigeo_mpi_destroy, which must run before
 * MPI_Finalize). Collective over `comm`. */
SIGEO_MPI_API sigeo_status_t sigeo_mpi_create(sigeo_mpi_t **out, MPI_Comm comm);
/* Frees the handle and its duplicate communicator; NULL is fine. Collective. */
SIGEO_MPI_API void sigeo_mpi_destroy(sigeo_mpi_t *mpi);
/* This process's rank in the handle's communicator (-1 for NULL). */
SIGEO_MPI_API int sigeo_mpi_rank(const sigeo_mpi_t *mpi);
/* The number of ranks (0 for NULL). */
SIGEO_MPI_API int sigeo_mpi_size(const sigeo_mpi_t *mpi);
/* The handle's last error message ("" if none, "no handle" for NULL; borrowed until the next call on it). */
SIGEO_MPI_API const char *sigeo_mpi_last_error(const sigeo_mpi_t *mpi);

/* Parts each warm-up batch is cut into (see Determinism above): a multiple
 * of the rank count; fix it (e.g. 64) to get the same bits on every rank
 * count that divides it. Errors: SIGEO_ERR_INVALID_ARG. */
SIGEO_MPI_API sigeo_status_t sigeo_mpi_set_parts(sigeo_mpi_t *mpi, int32_t parts);
/* The current part count (0 for NULL). */
SIGEO_MPI_API int32_t sigeo_mpi_parts(const sigeo_mpi_t *mpi);

/* Collective agreement on a status: every rank passes its own; every rank
 * gets the status of the lowest-numbered failing rank (SIGEO_OK if none)
 * and, in message (size bytes, may be NULL), "rank R: <its message>". A
 * failing rank's message is its sigeo_last_error() at the call. */
SIGEO_MPI_API sigeo_status_t sigeo_mpi_agree(sigeo_mpi_t *mpi, sigeo_status_t local, char *message, size_t size);

/* A sigeo_map_fn (search.h); pass the handle as its user pointer. Rank r
 * runs the tasks [r count/np, (r+1) count/np) in order; the results are
 * gathered in task order on every rank (MPI_Allgatherv). A task failure on
 * any rank makes every rank return it ("rank R: task i: ..."). */
SIGEO_MPI_API sigeo_status_t sigeo_mpi_map(void *results, size_t result_size, int64_t count, sigeo_task_fn task,
                                           void *task_user, void *mpi);

/* A sigeo_grad_hook_fn (train.h); pass the handle as its user pointer and
 * let sigeo_mpi_train_options fill the shard fields. */
SIGEO_MPI_API sigeo_status_t sigeo_mpi_grad_hook(sigeo_grad_step_t *step, sigeo_model_t *model, void *mpi);

/* Sets options->shard_count/first/n, grad_hook and grad_user for this rank
 * (the rest of the options untouched). */
SIGEO_MPI_API sigeo_status_t sigeo_mpi_train_options(sigeo_train_options_t *options, sigeo_mpi_t *mpi);

/* Sets the parallel fields of NAS options for this rank (map, warm-up
 * shards and hook). Ranks other than 0 also lose their progress, record
 * and cycle callbacks (rank 0 reports; the others are quiet); rank 0's
 * progress callback cannot cancel (its return value is ignored: a cancel
 * seen by one rank only would split the ranks). `options` must stay
 * alive while they are used (the handle keeps the caller's progress). */
SIGEO_MPI_API sigeo_status_t sigeo_mpi_nas_options(sigeo_nas_options_t *options, sigeo_mpi_t *mpi);

/* sigeo_nas_run_space on every rank of the handle, with
 * sigeo_mpi_nas_options applied to a copy of `options` (may be NULL), and
 * the outcome agreed: every rank returns the same status; on success every
 * rank holds the same result (the same records, candidates and best
 * architecture). Same arguments as sigeo_nas_run_space; every rank must
 * pass the same data and options. */
SIGEO_MPI_API sigeo_status_t sigeo_mpi_nas_run_space(sigeo_nas_result_t **out, sigeo_mpi_t *mpi, sigeo_context_t *ctx,
                                                     const char *space, const sigeo_space_options_t *space_options,
                                                     sigeo_dataset_t *train, sigeo_dataset_t *valid,
                                                     sigeo_dataset_t *test, const sigeo_nas_options_t *options);

/* Payload this rank has handed to collectives so far, and the collectives
 * entered (for bench/bench_mpi; what the network carries depends on MPI's
 * algorithms, see bench/README.md). */
typedef struct sigeo_mpi_stats {
    uint32_t struct_size;
    uint32_t reserved0;
    uint64_t bytes_sent;
    uint64_t collectives;
    uint64_t grad_steps;    /* warm-up steps exchanged */
    double seconds_comm;    /* wall time inside MPI calls */
} sigeo_mpi_stats_t;

#define SIGEO_MPI_STATS_INIT { (uint32_t)sizeof(sigeo_mpi_stats_t), 0u, 0u, 0u, 0u, 0.0 }
SIGEO_MPI_API sigeo_status_t sigeo_mpi_get_stats(sigeo_mpi_stats_t *out, const sigeo_mpi_t *mpi);

#ifdef __cplusplus
}
#endif

#endif /* SIGEO_MPI_H */
