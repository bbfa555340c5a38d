/* examples/prog_mpi.h: the programs' MPI glue, compiled with or without
 * libsigeo-mpi (SIGEO_PROG_MPI). */
#include "prog_mpi.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interrupt.h"

static int want_mpi(void)
{
    const char *force = getenv("SIGEO_MPI");
    if (force)
        return force[0] == '1';
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

#ifdef SIGEO_PROG_MPI
#include "sigeo/mpi.h"

static sigeo_mpi_t *mpi;
static int rank, size = 1;
static FILE *captured; /* a rank > 0's stderr */

static void stop(void)
{
    sigeo_mpi_destroy(mpi);
    mpi = NULL;
    MPI_Finalize();
}

int prog_mpi_start(int *argc, char ***argv, const char *prog)
{
    if (!want_mpi())
        return 0;
    /* before MPI_Init starts its threads: signals go to one thread of their own */
    if (interrupt_use_thread() != 0) {
        fprintf(stderr, "%s: the signal thread: %s\n", prog, strerror(errno));
        return 1;
    }
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        fprintf(stderr, "%s: MPI_Init failed\n", prog);
        return 1;
    }
    if (sigeo_mpi_create(&mpi, MPI_COMM_WORLD) != SIGEO_OK) {
        fprintf(stderr, "%s: %s\n", prog, sigeo_last_error());
        MPI_Finalize();
        return 1;
    }
    rank = sigeo_mpi_rank(mpi);
    size = sigeo_mpi_size(mpi);
    atexit(stop);
    /* mpirun passes SIGUSR1 on to every rank (SIGINT and SIGTERM it turns
     * into a kill of the job): the graceful stop of an MPI job */
    if (interrupt_install(prog) != 0 || interrupt_also(SIGUSR1) != 0) {
        fprintf(stderr, "%s: installing the signal handlers failed\n", prog);
        return 1;
    }
    if (rank != 0) { /* rank 0 speaks for the job; the others keep their stderr for prog_mpi_agree */
        captured = tmpfile();
        interrupt_set_quiet(1);
        if (!freopen("/dev/null", "w", stdout) || !captured || dup2(fileno(captured), STDERR_FILENO) < 0)
            return 1;
        setvbuf(stderr, NULL, _IONBF, 0);
    }
    return 0;
}

int prog_mpi_on(void)
{
    return mpi != NULL;
}

int prog_mpi_rank(void)
{
    return rank;
}

int prog_mpi_size(void)
{
    return size;
}

/* The last non-empty line this rank wrote to stderr. */
static void last_line(char *out, size_t n)
{
    out[0] = '\0';
    if (!captured)
        return;
    fflush(stderr);
    long end = lseek(STDERR_FILENO, 0, SEEK_END);
    long from = end > (long)n ? end - (long)n : 0;
    char buf[1024];
    if (n > sizeof buf)
        n = sizeof buf;
    ssize_t got = pread(STDERR_FILENO, buf, n - 1, from);
    if (got <= 0)
        return;
    buf[got] = '\0';
    while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == '\r'))
        buf[--got] = '\0';
    const char *nl = strrchr(buf, '\n'), *line = nl ? nl + 1 : buf;
    const size_t k = strlen(line) < n - 1 ? strlen(line) : n - 1;
    memcpy(out, line, k);
    out[k] = '\0';
}

int prog_mpi_agree(int rc, const char *prog)
{
    if (!mpi)
        return rc;
    int worst = rc, mine = rc ? rank : size, first = size;
    MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (first == size || first == 0)
        return worst; /* nobody failed, or rank 0 did and said so */
    char msg[512] = "";
    if (rank == first)
        last_line(msg, sizeof msg);
    MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, MPI_COMM_WORLD);
    if (rank == 0 && rc == 0) {
        const size_t k = strlen(prog);
        /* "sigeo-rank: x" from rank 1 reads "sigeo-rank: rank 1: x" */
        const char *text = !strncmp(msg, prog, k) && msg[k] == ':' ? msg + k + 1 + (msg[k + 1] == ' ') : msg;
        fprintf(stderr, "%s: rank %d: %s\n", prog, first, text[0] ? text : "failed (no message)");
    }
    return worst;
}

int prog_mpi_any(int flag)
{
    if (!mpi)
        return flag != 0;
    int mine = flag != 0, any = 0;
    MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return any;
}

void prog_mpi_bcast(void *p, size_t n)
{
    if (mpi)
        for (size_t at = 0; at < n;) { /* MPI counts are int */
            const size_t k = n - at < (1u << 30) ? n - at : (1u << 30);
            MPI_Bcast((char *)p + at, (int)k, MPI_BYTE, 0, MPI_COMM_WORLD);
            at += k;
        }
}

sigeo_map_fn prog_mpi_map(void)
{
    return mpi ? sigeo_mpi_map : NULL;
}

void *prog_mpi_map_user(void)
{
    return mpi;
}

void *prog_mpi_handle(void)
{
    return mpi;
}

const char *prog_mpi_last_error(void)
{
    return mpi ? sigeo_mpi_last_error(mpi) : "";
}

#else /* no libsigeo-mpi in this build */

int prog_mpi_start(int *argc, char ***argv, const char *prog)
{
    (void)argc;
    (void)argv;
    if (want_mpi()) {
        fprintf(stderr, "this %s was built without libsigeo-mpi (-Dmpi=disabled or no libopenmpi-dev): "
                        "every rank would run the whole job alone\n", prog);
        return 1;
    }
    return 0;
}

int prog_mpi_on(void)
{
    return 0;
}

int prog_mpi_rank(void)
{
    return 0;
}

int prog_mpi_size(void)
{
    return 1;
}

int prog_mpi_agree(int rc, const char *prog)
{
    (void)prog;
    return rc;
}

int prog_mpi_any(int flag)
{
    return flag != 0;
}

void prog_mpi_bcast(void *p, size_t n)
{
    (void)p;
    (void)n;
}

sigeo_map_fn prog_mpi_map(void)
{
    return NULL;
}

void *prog_mpi_map_user(void)
{
    return NULL;
}

void *prog_mpi_handle(void)
{
    return NULL;
}

const char *prog_mpi_last_error(void)
{
    return "";
}
#endif
