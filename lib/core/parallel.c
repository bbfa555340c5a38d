/* The in-process parallel map (parallel.h). Why threads over independent
 * tasks rather than more compute threads per call: the tasks share no
 * barrier, so a worker that the OS deschedules on a busy machine delays
 * only its own task, and small models gain little from a second compute
 * thread per call (docs/design.md §3). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/context.h"
#include "core/parallel.h"

#define MAX_WORKERS 1024
#define POLL_NS 50000000L /* 50 ms between polls */

typedef struct pool {
    pthread_mutex_t lock;
    pthread_cond_t changed; /* a task finished or a worker left */
    char *results;
    size_t size;
    int64_t count;
    int32_t workers; /* threads started */
    sigeo__task_fn task;
    void *user;
    /* under lock */
    int64_t next;   /* the next index to hand out */
    int64_t limit;  /* hand out only indices below it (lowered by a failure or a cancel) */
    int32_t active; /* workers still in their loop */
    int64_t failed; /* lowest failing index, -1 */
    sigeo_status_t failed_status;
    char message[SIGEO__ERRMSG_MAX];
} pool_t;

/* The compute threads task i gets on a worker: one, except in the last
 * round. With count = q * workers + t (0 < t < workers) the last t tasks
 * would otherwise run alone on their workers while the others, finished,
 * leave their cores idle (5 top-k retrains on 2 workers: the fifth on one
 * of two cores); each of them gets workers / t threads instead. A function
 * of (i, count, workers) only, never of timing, so a given worker count
 * always runs a task on the same team. */
static int32_t task_cap(int64_t i, int64_t count, int32_t workers)
{
    const int64_t tail = count % workers;
    if (tail == 0 || i < count - tail)
        return 1;
    return workers / (int32_t)tail;
}

/* Takes tasks until none is left; returns when the pool has no more for it. */
static void work(pool_t *p)
{
    for (;;) {
        pthread_mutex_lock(&p->lock);
        if (p->next >= p->limit) {
            pthread_mutex_unlock(&p->lock);
            return;
        }
        const int64_t i = p->next++;
        pthread_mutex_unlock(&p->lock);
        sigeo__context_cap_team(task_cap(i, p->count, p->workers)); /* this thread's own setting */
        sigeo_status_t st = p->task(p->results + (size_t)i * p->size, i, p->user);
        pthread_mutex_lock(&p->lock);
        if (st != SIGEO_OK && (p->failed < 0 || i < p->failed)) {
            p->failed = i;
            p->failed_status = st;
            snprintf(p->message, sizeof p->message, "%s", sigeo_last_error()); /* this thread's */
            if (p->limit > i)
                p->limit = i;
        }
        pthread_cond_signal(&p->changed);
        pthread_mutex_unlock(&p->lock);
    }
}

static void *worker_main(void *arg)
{
    pool_t *p = arg;
    work(p); /* caps this thread's teams per task; the setting ends with the thread */
    pthread_mutex_lock(&p->lock);
    p->active--;
    pthread_cond_signal(&p->changed);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static void deadline(struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_nsec += POLL_NS;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* The tasks in order on this thread, polled between them. */
static sigeo_status_t run_here(pool_t *p, sigeo__poll_fn poll, void *poll_user, bool *cancelled)
{
    for (int64_t i = 0; i < p->count; i++) {
        if (poll && poll(poll_user)) {
            *cancelled = true;
            return SIGEO_OK;
        }
        sigeo_status_t st = p->task(p->results + (size_t)i * p->size, i, p->user);
        if (st != SIGEO_OK)
            return st; /* its message is this thread's already */
    }
    if (poll && poll(poll_user))
        *cancelled = true;
    return SIGEO_OK;
}

sigeo_status_t sigeo__thread_map(void *results, size_t result_size, int64_t count, sigeo__task_fn task,
                                 void *task_user, int32_t workers, sigeo__poll_fn poll, void *poll_user)
{
    static const char fn[] = "parallel map";
    if (count <= 0)
        return SIGEO_OK;
    pool_t p = { .results = results, .size = result_size, .count = count, .task = task, .user = task_user,
                 .limit = count, .failed = -1 };
    bool cancelled = false;
    if (workers > count)
        workers = (int32_t)count;
    if (workers > MAX_WORKERS)
        workers = MAX_WORKERS;
    if (workers <= 1) {
        sigeo_status_t st = run_here(&p, poll, poll_user, &cancelled);
        return st != SIGEO_OK || !cancelled ? st : sigeo__fail(SIGEO_ERR_CANCELLED, "%s: cancelled", fn);
    }
    pthread_condattr_t ca;
    bool cond_ok = false;
    if (pthread_condattr_init(&ca) == 0) {
        cond_ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&p.changed, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    if (!cond_ok)
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "%s: cannot create a condition variable", fn);
    if (pthread_mutex_init(&p.lock, NULL) != 0) {
        pthread_cond_destroy(&p.changed);
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "%s: cannot create a mutex", fn);
    }
    pthread_t threads[MAX_WORKERS];
    int32_t started = 0;
    pthread_mutex_lock(&p.lock);
    for (; started < workers; started++) {
        if (pthread_create(&threads[started], NULL, worker_main, &p) != 0)
            break; /* out of threads: fewer workers */
        p.active++;
    }
    p.workers = started;
    pthread_mutex_unlock(&p.lock);
    sigeo_status_t st = SIGEO_OK;
    if (started == 0) {
        st = run_here(&p, poll, poll_user, &cancelled);
    } else {
        pthread_mutex_lock(&p.lock);
        while (p.active > 0) {
            struct timespec ts;
            deadline(&ts);
            int rc = pthread_cond_timedwait(&p.changed, &p.lock, &ts);
            (void)rc; /* a timeout or a signal: poll either way */
            if (poll && !cancelled) {
                pthread_mutex_unlock(&p.lock);
                const int stop = poll(poll_user);
                pthread_mutex_lock(&p.lock);
                if (stop) {
                    cancelled = true;
                    p.limit = p.next; /* nothing new starts */
                }
            }
        }
        pthread_mutex_unlock(&p.lock);
        for (int32_t t = 0; t < started; t++)
            pthread_join(threads[t], NULL);
        if (p.failed >= 0)
            st = sigeo__fail(p.failed_status, "%s", p.message); /* the worker's message, on this thread */
        else if (poll && !cancelled && poll(poll_user))
            cancelled = true;
    }
    pthread_mutex_destroy(&p.lock);
    pthread_cond_destroy(&p.changed);
    if (st == SIGEO_OK && cancelled)
        st = sigeo__fail(SIGEO_ERR_CANCELLED, "%s: cancelled", fn);
    return st;
}
