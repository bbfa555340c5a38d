/* Shared by the files of lib/mpi (libsigeo-mpi). Not installed. Uses only
 * libsigeo's public API. */
#ifndef SIGEO_MPI_INTERNAL_H
#define SIGEO_MPI_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sigeo/mpi.h"

#define SIGEO_MPI_MSG 512

/* One gradient vector of the warm-up exchange: the dense parameters
 * concatenated, and every table's touched rows (ascending) with their
 * gradient rows. */
typedef struct sigeo__mpi_gvec {
    float *dense;
    int64_t n_dense, cap_dense;
    int64_t *rows;            /* all tables' rows, table after table */
    float *vals;              /* [sum of rows * dim] */
    int64_t *table_rows;      /* [n_tables] rows per table */
    int64_t n_rows, cap_rows, n_vals, cap_vals;
    int32_t parts;            /* leaves of the tree this vector sums */
    double loss;              /* weighted loss of those leaves */
} sigeo__mpi_gvec_t;

struct sigeo_mpi {
    MPI_Comm comm;
    int rank, size;
    int32_t parts;
    char msg[SIGEO_MPI_MSG];
    sigeo_mpi_stats_t stats;
    /* warm-up: the active parameters of the current step */
    int32_t n_params;
    int32_t *dense_params, *tables;       /* indices */
    int32_t n_dense_params, n_tables;
    int64_t *table_dim;
    /* the stack of partial sums (binary counter over the parts) */
    sigeo__mpi_gvec_t stack[34];
    int32_t depth;
    sigeo__mpi_gvec_t tmp, other;
    unsigned char *send, *recv;
    size_t cap_send, cap_recv;
    /* sigeo_mpi_nas_options: rank 0's progress, wrapped */
    sigeo_nas_progress_fn progress;
    void *progress_user;
};

/* Sets the handle's and the thread's message; returns status. */
sigeo_status_t sigeo__mpi_fail(sigeo_mpi_t *m, sigeo_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An MPI return code other than MPI_SUCCESS as SIGEO_ERR_INTERNAL naming the call. */
sigeo_status_t sigeo__mpi_check(sigeo_mpi_t *m, int rc, const char *call);
double sigeo__mpi_now(void);

#endif
