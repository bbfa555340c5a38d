/* The handle, agreement on a status, and the parallel map (mpi.h). */
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpi/mpi_internal.h"

double sigeo__mpi_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

sigeo_status_t sigeo__mpi_fail(sigeo_mpi_t *m, sigeo_status_t status, const char *fmt, ...)
{
    char buf[SIGEO_MPI_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (m)
        memcpy(m->msg, buf, sizeof buf);
    return sigeo_set_last_error(status, buf);
}

sigeo_status_t sigeo__mpi_check(sigeo_mpi_t *m, int rc, const char *call)
{
    if (rc == MPI_SUCCESS)
        return SIGEO_OK;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "error code %d", rc);
    return sigeo__mpi_fail(m, SIGEO_ERR_INTERNAL, "libsigeo-mpi: %s failed on rank %d: %s", call, m ? m->rank : -1,
                           text);
}

/* 4 parts for up to 4 ranks (np 1, 2, 4 then agree bit for bit), else the
 * smallest multiple of the rank count that is >= 4. */
static int32_t default_parts(int size)
{
    return size <= 4 ? (size == 3 ? 6 : 4) : size;
}

SIGEO_MPI_API sigeo_status_t sigeo_mpi_create(sigeo_mpi_t **out, MPI_Comm comm)
{
    if (!out)
        return sigeo__mpi_fail(NULL, SIGEO_ERR_INVALID_ARG, "sigeo_mpi_create: out is NULL");
    *out = NULL;
    int init = 0;
    MPI_Initialized(&init);
    if (!init)
        return sigeo__mpi_fail(NULL, SIGEO_ERR_INVALID_ARG, "sigeo_mpi_create: MPI is not initialised (MPI_Init)");
    sigeo_mpi_t *m = calloc(1, sizeof *m);
    if (!m)
        return sigeo__mpi_fail(NULL, SIGEO_ERR_NO_MEMORY, "sigeo_mpi_create: out of memory");
    sigeo_status_t st = sigeo__mpi_check(m, MPI_Comm_dup(comm, &m->comm), "MPI_Comm_dup");
    if (st != SIGEO_OK) {
        free(m);
        return st;
    }
    MPI_Comm_rank(m->comm, &m->rank);
    MPI_Comm_size(m->comm, &m->size);
    m->parts = default_parts(m->size);
    m->stats = (sigeo_mpi_stats_t)SIGEO_MPI_STATS_INIT;
    *out = m;
    return SIGEO_OK;
}

static void free_gvec(sigeo__mpi_gvec_t *v)
{
    free(v->dense);
    free(v->rows);
    free(v->vals);
    free(v->table_rows);
    memset(v, 0, sizeof *v);
}

SIGEO_MPI_API void sigeo_mpi_destroy(sigeo_mpi_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < sizeof m->stack / sizeof m->stack[0]; i++)
        free_gvec(&m->stack[i]);
    free_gvec(&m->tmp);
    free_gvec(&m->other);
    free(m->dense_params);
    free(m->tables);
    free(m->table_dim);
    free(m->send);
    free(m->recv);
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin)
        MPI_Comm_free(&m->comm);
    free(m);
}

SIGEO_MPI_API int sigeo_mpi_rank(const sigeo_mpi_t *m)
{
    return m ? m->rank : -1;
}

SIGEO_MPI_API int sigeo_mpi_size(const sigeo_mpi_t *m)
{
    return m ? m->size : 0;
}

SIGEO_MPI_API const char *sigeo_mpi_last_error(const sigeo_mpi_t *m)
{
    return m ? m->msg : "no handle";
}

SIGEO_MPI_API sigeo_status_t sigeo_mpi_set_parts(sigeo_mpi_t *m, int32_t parts)
{
    if (!m)
        return sigeo__mpi_fail(NULL, SIGEO_ERR_INVALID_ARG, "sigeo_mpi_set_parts: mpi is NULL");
    if (parts < 1 || parts % m->size != 0)
        return sigeo__mpi_fail(m, SIGEO_ERR_INVALID_ARG, "sigeo_mpi_set_parts: %d parts is not a positive multiple of %d ranks",
                               (int)parts, m->size);
    m->parts = parts;
    return SIGEO_OK;
}

SIGEO_MPI_API int32_t sigeo_mpi_parts(const sigeo_mpi_t *m)
{
    return m ? m->parts : 0;
}

SIGEO_MPI_API sigeo_status_t sigeo_mpi_get_stats(sigeo_mpi_stats_t *out, const sigeo_mpi_t *m)
{
    if (!out || !m)
        return sigeo__mpi_fail(NULL, SIGEO_ERR_INVALID_ARG, "sigeo_mpi_get_stats: %s is NULL", m ? "out" : "mpi");
    if (out->struct_size < sizeof *out)
        return sigeo__mpi_fail(NULL, SIGEO_ERR_INVALID_ARG, "sigeo_mpi_get_stats: struct_size %u (need %zu)",
                               (unsigned)out->struct_size, sizeof *out);
    *out = m->stats;
    return SIGEO_OK;
}

/* The status and message of the lowest failing rank, on every rank. */
SIGEO_MPI_API sigeo_status_t sigeo_mpi_agree(sigeo_mpi_t *m, sigeo_status_t local, char *message, size_t size)
{
    if (!m)
        return sigeo__mpi_fail(NULL, SIGEO_ERR_INVALID_ARG, "sigeo_mpi_agree: mpi is NULL");
    struct {
        int32_t status;
        char text[SIGEO_MPI_MSG];
    } buf;
    memset(&buf, 0, sizeof buf);
    buf.status = local;
    if (local != SIGEO_OK)
        snprintf(buf.text, sizeof buf.text, "%s", sigeo_last_error());
    const double t = sigeo__mpi_now();
    int mine = local != SIGEO_OK ? m->rank : m->size, first = m->size;
    sigeo_status_t st = sigeo__mpi_check(m, MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, m->comm), "MPI_Allreduce");
    if (st == SIGEO_OK && first < m->size)
        st = sigeo__mpi_check(m, MPI_Bcast(&buf, (int)sizeof buf, MPI_BYTE, first, m->comm), "MPI_Bcast");
    m->stats.collectives += first < m->size ? 2 : 1;
    m->stats.bytes_sent += sizeof mine + (first == m->rank ? sizeof buf : 0);
    m->stats.seconds_comm += sigeo__mpi_now() - t;
    if (st != SIGEO_OK)
        return st;
    if (first == m->size) {
        if (message && size)
            message[0] = '\0';
        return SIGEO_OK;
    }
    /* The failing rank's own message may already name its rank. */
    char prefix[32];
    snprintf(prefix, sizeof prefix, "rank %d: ", first);
    const bool named = strncmp(buf.text, prefix, strlen(prefix)) == 0;
    sigeo__mpi_fail(m, buf.status, "%s%s", named ? "" : prefix, buf.text);
    if (message && size)
        snprintf(message, size, "%s", m->msg);
    return buf.status;
}

SIGEO_MPI_API sigeo_status_t sigeo_mpi_map(void *results, size_t result_size, int64_t count, sigeo_task_fn task,
                                           void *task_user, void *user)
{
    sigeo_mpi_t *m = user;
    if (!m || !task || (count > 0 && !results) || count < 0 || result_size == 0)
        return sigeo__mpi_fail(m, SIGEO_ERR_INVALID_ARG,
                               "sigeo_mpi_map: %s", !m ? "mpi is NULL" : !task ? "task is NULL" :
                               count < 0 ? "count is negative" : result_size == 0 ? "result_size is 0" : "results is NULL");
    if (count == 0)
        return SIGEO_OK;
    if (result_size > INT_MAX || count > INT_MAX)
        return sigeo__mpi_fail(m, SIGEO_ERR_INVALID_ARG, "sigeo_mpi_map: %lld results of %zu bytes exceed MPI's int counts",
                               (long long)count, result_size);
    const int64_t lo = count * m->rank / m->size, hi = count * (m->rank + 1) / m->size;
    sigeo_status_t st = SIGEO_OK;
    for (int64_t i = lo; i < hi && st == SIGEO_OK; i++) {
        st = task((unsigned char *)results + (size_t)i * result_size, i, task_user);
        if (st != SIGEO_OK) {
            char inner[SIGEO_MPI_MSG];
            snprintf(inner, sizeof inner, "%s", sigeo_last_error());
            sigeo__mpi_fail(m, st, "rank %d: task %lld: %s", m->rank, (long long)i, inner);
        }
    }
    /* Every rank enters the exchange, a failed one too: nobody waits. */
    if ((st = sigeo_mpi_agree(m, st, NULL, 0)) != SIGEO_OK)
        return st;
    int *counts = malloc((size_t)m->size * 2 * sizeof *counts);
    if (!counts)
        return sigeo__mpi_fail(m, SIGEO_ERR_NO_MEMORY, "sigeo_mpi_map: out of memory");
    int *displs = counts + m->size;
    for (int r = 0; r < m->size; r++) {
        int64_t a = count * r / m->size, b = count * (r + 1) / m->size;
        counts[r] = (int)(b - a);
        displs[r] = (int)a;
    }
    const double t = sigeo__mpi_now();
    MPI_Datatype item;
    st = sigeo__mpi_check(m, MPI_Type_contiguous((int)result_size, MPI_BYTE, &item), "MPI_Type_contiguous");
    if (st == SIGEO_OK && (st = sigeo__mpi_check(m, MPI_Type_commit(&item), "MPI_Type_commit")) == SIGEO_OK) {
        st = sigeo__mpi_check(m, MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, results, counts, displs, item,
                                                m->comm),
                              "MPI_Allgatherv");
        MPI_Type_free(&item);
    }
    m->stats.collectives++;
    m->stats.bytes_sent += (uint64_t)(hi - lo) * result_size;
    m->stats.seconds_comm += sigeo__mpi_now() - t;
    free(counts);
    return st;
}
