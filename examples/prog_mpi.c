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

/* The state of a phase of prog_mpi_map_reported (prog_mpi.h). */
typedef struct report_state {
    int on;                    /* inside prog_mpi_map_reported */
    int64_t left;              /* this rank's tasks still to run */
    int waiting;               /* rank 0: ranks whose last report has not come */
    prog_mpi_report_t mine;    /* this rank's latest */
    prog_mpi_report_t *latest; /* rank 0: every rank's latest (NULL: not kept) */
    prog_mpi_report_fn shown;
    void *user;
    sigeo_task_fn task;
    void *task_user;
} report_state_t;

static report_state_t rp;
#define NO_REPORT ((prog_mpi_report_t){ 0, 0, -1, 0, 0 })

/* Rank 0 (or the one process): its own report kept and shown. */
static void report_mine(void)
{
    if (rp.latest)
        rp.latest[0] = rp.mine;
    if (rp.shown)
        rp.shown(0, &rp.mine, rp.user);
}

static void report_totals(int64_t *units, int64_t *items, int n)
{
    *units = *items = 0;
    for (int r = 0; rp.on && rp.latest && r < n; r++) {
        *units += rp.latest[r].units;
        *items += rp.latest[r].items;
    }
}

/* One process: the tasks in order here, its reports shown. */
static sigeo_status_t map_here(void *results, size_t result_size, int64_t count, sigeo_task_fn task, void *task_user,
                               prog_mpi_report_fn shown, void *shown_user)
{
    prog_mpi_report_t one = NO_REPORT;
    rp = (report_state_t){ .on = 1, .mine = NO_REPORT, .latest = &one, .shown = shown, .user = shown_user };
    sigeo_status_t st = SIGEO_OK;
    for (int64_t i = 0; i < count && st == SIGEO_OK; i++)
        st = task((unsigned char *)results + (size_t)i * result_size, i, task_user);
    rp = (report_state_t){ 0 };
    return st;
}

#ifdef SIGEO_PROG_MPI
#include "sigeo/mpi.h"

static sigeo_mpi_t *mpi;
static int rank, size = 1;
static FILE *captured; /* a rank > 0's stderr */
static MPI_Comm report_comm = MPI_COMM_NULL; /* progress reports (prog_mpi_map_reported) */

static void stop(void)
{
    if (report_comm != MPI_COMM_NULL)
        MPI_Comm_free(&report_comm);
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
    if (MPI_Comm_dup(MPI_COMM_WORLD, &report_comm) != MPI_SUCCESS) {
        fprintf(stderr, "%s: MPI_Comm_dup failed\n", prog);
        return 1;
    }
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

/* ------------------------------------------------ reports to rank 0 */

enum { REPORT_TAG = 1, REPORT_WORDS = 6 }; /* final, units, items, item, step, steps */

static void report_taken(int from, const int64_t *w)
{
    const prog_mpi_report_t r = { w[1], w[2], w[3], w[4], w[5] };
    if (w[0])
        rp.waiting--;
    if (rp.latest)
        rp.latest[from] = r;
    if (rp.shown)
        rp.shown(from, &r, rp.user);
}

/* Rank 0: the reports that have arrived, without waiting. */
static void take_arrived(void)
{
    for (;;) {
        int flag = 0;
        MPI_Status st;
        if (MPI_Iprobe(MPI_ANY_SOURCE, REPORT_TAG, report_comm, &flag, &st) != MPI_SUCCESS || !flag)
            return;
        int64_t w[REPORT_WORDS];
        MPI_Recv(w, REPORT_WORDS, MPI_INT64_T, st.MPI_SOURCE, REPORT_TAG, report_comm, MPI_STATUS_IGNORE);
        report_taken(st.MPI_SOURCE, w);
    }
}

/* This rank's share is over (done, failed or interrupted): a rank > 0 sends
 * its last report; rank 0 takes reports until every rank has sent its last
 * (blocking receives: no polling). */
static void share_ended(void)
{
    if (rank != 0) {
        const prog_mpi_report_t *m = &rp.mine;
        int64_t w[REPORT_WORDS] = { 1, m->units, m->items, m->item, m->step, m->steps };
        MPI_Send(w, REPORT_WORDS, MPI_INT64_T, 0, REPORT_TAG, report_comm);
        return;
    }
    while (rp.waiting > 0) {
        int64_t w[REPORT_WORDS];
        MPI_Status st;
        if (MPI_Recv(w, REPORT_WORDS, MPI_INT64_T, MPI_ANY_SOURCE, REPORT_TAG, report_comm, &st) != MPI_SUCCESS)
            return;
        report_taken(st.MPI_SOURCE, w);
    }
}

static sigeo_status_t reported_task(void *result, int64_t index, void *user)
{
    (void)user;
    const sigeo_status_t st = rp.task(result, index, rp.task_user);
    if (st != SIGEO_OK || --rp.left == 0)
        share_ended(); /* after a failure the map runs no further task here */
    return st;
}

sigeo_status_t prog_mpi_map_reported(void *results, size_t result_size, int64_t count, sigeo_task_fn task,
                                     void *task_user, prog_mpi_report_fn shown, void *shown_user)
{
    if (!mpi)
        return map_here(results, result_size, count, task, task_user, shown, shown_user);
    /* rank 0's table; without it (out of memory) the reports are still
     * taken, so that every rank's last one is, and only shown */
    prog_mpi_report_t *latest = rank == 0 ? calloc((size_t)size, sizeof *latest) : NULL;
    /* the share sigeo_mpi_map gives this rank (sigeo/mpi.h): [r count/np, (r+1) count/np) */
    const int64_t share = count * (rank + 1) / size - count * rank / size;
    rp = (report_state_t){ .on = 1, .left = share, .waiting = size - 1, .mine = NO_REPORT, .latest = latest,
                           .shown = shown, .user = shown_user, .task = task, .task_user = task_user };
    for (int r = 0; latest && r < size; r++)
        latest[r] = NO_REPORT;
    if (share == 0)
        share_ended();
    const sigeo_status_t st = sigeo_mpi_map(results, result_size, count, reported_task, NULL, mpi);
    free(latest);
    rp = (report_state_t){ 0 };
    return st;
}

void prog_mpi_report(const prog_mpi_report_t *r)
{
    if (!rp.on)
        return;
    rp.mine = *r;
    if (!mpi || rank == 0) {
        if (mpi)
            take_arrived();
        report_mine();
        return;
    }
    int64_t w[REPORT_WORDS] = { 0, r->units, r->items, r->item, r->step, r->steps };
    MPI_Send(w, REPORT_WORDS, MPI_INT64_T, 0, REPORT_TAG, report_comm);
}

void prog_mpi_report_totals(int64_t *units, int64_t *items)
{
    report_totals(units, items, mpi ? size : 1);
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

sigeo_status_t prog_mpi_map_reported(void *results, size_t result_size, int64_t count, sigeo_task_fn task,
                                     void *task_user, prog_mpi_report_fn shown, void *shown_user)
{
    return map_here(results, result_size, count, task, task_user, shown, shown_user);
}

void prog_mpi_report(const prog_mpi_report_t *r)
{
    if (rp.on) {
        rp.mine = *r;
        report_mine();
    }
}

void prog_mpi_report_totals(int64_t *units, int64_t *items)
{
    report_totals(units, items, 1);
}
#endif
