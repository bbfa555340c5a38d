/* The in-process parallel map (lib/core/parallel.c), internal, through the
 * static twin:
 *
 *  - every_index_once: each result is filled exactly once, by its own index
 *    (counted here), for worker counts 1..5 over 0..9 tasks;
 *  - tasks_run_at_once: with 2 workers, task 0 waits (up to 120 s: it ends
 *    as soon as task 1 starts, a busy or valgrind-serialised machine may be
 *    slow to start it) for task 1
 *    to start: it can only see it if the two run on two threads at once;
 *    and both ran off the calling thread, with their team capped at 1 (a
 *    context of 4 threads under FIXED gives every call 4 elsewhere);
 *  - tail_gets_idle_cores: in a last round of t < workers tasks each task's
 *    team is capped at workers / t (the rest at 1), whatever the timing:
 *    5 tasks on 2 workers give the fifth 2 threads, 5 on 4 the fifth 4,
 *    6 on 4 the last two 2 each, 4 on 2 none;
 *  - lowest_failure_wins: tasks 3 and 6 fail; the map returns task 3's
 *    status and message on the calling thread, every task below 3 ran
 *    (as one by one would), none above 6 started after 6 failed (those
 *    above 6 stay in flight until 6 has failed: at most the other
 *    workers' one each);
 *  - poll_cancels: a poll returning 1 stops new tasks and gives
 *    SIGEO_ERR_CANCELLED; the poll ran on the calling thread. The tasks
 *    after the first two wait for the poll's stop (up to 120 s) instead of
 *    racing it: with a fixed 30 ms each, a caller descheduled for 240 ms on
 *    a loaded machine saw all 16 done and the test failed. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "core/context.h"
#include "core/parallel.h"

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

typedef struct shared {
    _Atomic int runs[16];
    atomic_bool started[16];
    pthread_t caller;
    _Atomic int off_caller;
    _Atomic int capped;
    sigeo_context_t *ctx;
    _Atomic int polls;
    atomic_bool stopped;  /* the poll has returned 1 */
    atomic_bool b_failed; /* task fail_b has returned its failure */
    int fail_a, fail_b;
} shared_t;

static sigeo_status_t count_task(void *result, int64_t index, void *user)
{
    shared_t *s = user;
    atomic_fetch_add(&s->runs[index], 1);
    *(int64_t *)result = index * 10 + 1;
    return SIGEO_OK;
}

START_TEST(every_index_once)
{
    for (int32_t workers = 1; workers <= 5; workers++)
        for (int64_t count = 0; count <= 9; count++) {
            shared_t s;
            memset(&s, 0, sizeof s);
            int64_t results[16] = { 0 };
            ck_assert_int_eq(sigeo__thread_map(results, sizeof results[0], count, count_task, &s, workers, NULL, NULL),
                             SIGEO_OK);
            for (int64_t i = 0; i < 16; i++) {
                ck_assert_int_eq(atomic_load(&s.runs[i]), i < count ? 1 : 0);
                ck_assert_int_eq(results[i], i < count ? i * 10 + 1 : 0);
            }
        }
}
END_TEST

static sigeo_status_t meet_task(void *result, int64_t index, void *user)
{
    shared_t *s = user;
    (void)result;
    atomic_store(&s->started[index], true);
    if (!pthread_equal(pthread_self(), s->caller))
        atomic_fetch_add(&s->off_caller, 1);
    if (sigeo__context_team(s->ctx, 1e12) == 1)
        atomic_fetch_add(&s->capped, 1);
    if (index == 0) {
        for (int i = 0; i < 120000 && !atomic_load(&s->started[1]); i++)
            sleep_ms(1);
        if (!atomic_load(&s->started[1]))
            return sigeo__fail(SIGEO_ERR_INTERNAL, "task 1 never started while task 0 ran");
    }
    return SIGEO_OK;
}

START_TEST(tasks_run_at_once)
{
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.threads = 4;
    co.thread_policy = SIGEO_THREADS_FIXED;
    shared_t s;
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(sigeo_context_create(&s.ctx, &co), SIGEO_OK);
    ck_assert_int_eq(sigeo__context_team(s.ctx, 1.0), 4); /* the caller: uncapped */
    s.caller = pthread_self();
    char results[2];
    sigeo_status_t st = sigeo__thread_map(results, 1, 2, meet_task, &s, 2, NULL, NULL);
    ck_assert_msg(st == SIGEO_OK, "%s", sigeo_last_error());
    ck_assert_int_eq(atomic_load(&s.off_caller), 2);
    ck_assert_int_eq(atomic_load(&s.capped), 2);
    ck_assert_int_eq(sigeo__context_team(s.ctx, 1.0), 4); /* still uncapped here */
    sigeo_context_destroy(s.ctx);
}
END_TEST

typedef struct team_seen {
    sigeo_context_t *ctx;
    _Atomic int team[16];
} team_seen_t;

static sigeo_status_t team_task(void *result, int64_t index, void *user)
{
    team_seen_t *s = user;
    (void)result;
    atomic_store(&s->team[index], sigeo__context_team(s->ctx, 1e12));
    return SIGEO_OK;
}

START_TEST(tail_gets_idle_cores)
{
    static const struct {
        int32_t workers;
        int64_t count;
        int expect[8];
    } cases[] = {
        { 2, 5, { 1, 1, 1, 1, 2 } },
        { 4, 5, { 1, 1, 1, 1, 4 } },
        { 4, 6, { 1, 1, 1, 1, 2, 2 } },
        { 2, 4, { 1, 1, 1, 1 } },
        { 3, 2, { 1, 1 } }, /* fewer tasks than workers: 2 workers, no tail */
    };
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.threads = 4;
    co.thread_policy = SIGEO_THREADS_FIXED;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        team_seen_t s;
        memset(&s, 0, sizeof s);
        ck_assert_int_eq(sigeo_context_create(&s.ctx, &co), SIGEO_OK);
        char results[8];
        ck_assert_int_eq(sigeo__thread_map(results, 1, cases[c].count, team_task, &s, cases[c].workers, NULL, NULL),
                         SIGEO_OK);
        for (int64_t i = 0; i < cases[c].count; i++)
            ck_assert_msg(atomic_load(&s.team[i]) == cases[c].expect[i], "%d workers, %d tasks: task %d team %d, not %d",
                          (int)cases[c].workers, (int)cases[c].count, (int)i, atomic_load(&s.team[i]),
                          cases[c].expect[i]);
        ck_assert_int_eq(sigeo__context_team(s.ctx, 1e12), 4); /* the caller stays uncapped */
        sigeo_context_destroy(s.ctx);
    }
}
END_TEST

static sigeo_status_t failing_task(void *result, int64_t index, void *user)
{
    shared_t *s = user;
    (void)result;
    atomic_fetch_add(&s->runs[index], 1);
    if (index == s->fail_b) {
        const sigeo_status_t st = sigeo__fail(SIGEO_ERR_SHAPE, "task %d says no", (int)index);
        atomic_store(&s->b_failed, true);
        return st;
    }
    if (index > s->fail_b) {
        /* handed out before fail_b's failure was recorded: stay in flight
         * until it has failed (and its worker has had 100 ms to record it),
         * so no worker races through the rest meanwhile (a descheduled
         * failing worker let another start all five above it) */
        for (int i = 0; i < 120000 && !atomic_load(&s->b_failed); i++)
            sleep_ms(1);
        sleep_ms(100);
    }
    if (index == s->fail_a) {
        sleep_ms(20); /* the later failure comes first in time */
        return sigeo__fail(SIGEO_ERR_NONFINITE, "task %d says no", (int)index);
    }
    return SIGEO_OK;
}

START_TEST(lowest_failure_wins)
{
    for (int32_t workers = 1; workers <= 4; workers++) {
        shared_t s;
        memset(&s, 0, sizeof s);
        s.fail_a = 3;
        s.fail_b = 6;
        char results[12];
        ck_assert_int_eq(sigeo__thread_map(results, 1, 12, failing_task, &s, workers, NULL, NULL),
                         SIGEO_ERR_NONFINITE);
        ck_assert_str_eq(sigeo_last_error(), "task 3 says no");
        for (int i = 0; i <= 3; i++)
            ck_assert_int_eq(atomic_load(&s.runs[i]), 1);
        /* after 6 failed nothing above it starts; at most `workers` were in flight */
        int above = 0;
        for (int i = 7; i < 12; i++)
            above += atomic_load(&s.runs[i]);
        ck_assert_int_le(above, workers);
        if (workers == 1)
            ck_assert_int_eq(atomic_load(&s.runs[4]) + atomic_load(&s.runs[6]) + above, 0);
    }
}
END_TEST

static sigeo_status_t slow_task(void *result, int64_t index, void *user)
{
    shared_t *s = user;
    (void)result;
    atomic_fetch_add(&s->runs[index], 1);
    /* the first two finish; the others run until the poll has said stop */
    for (int i = 0; index >= 2 && i < 120000 && !atomic_load(&s->stopped); i++)
        sleep_ms(1);
    return SIGEO_OK;
}

static int cancel_poll(void *user)
{
    shared_t *s = user;
    ck_assert(pthread_equal(pthread_self(), s->caller));
    int done = 0;
    for (int i = 0; i < 16; i++)
        done += atomic_load(&s->runs[i]);
    atomic_fetch_add(&s->polls, 1);
    if (done >= 2)
        atomic_store(&s->stopped, true);
    return done >= 2;
}

START_TEST(poll_cancels)
{
    for (int32_t workers = 1; workers <= 2; workers++) {
        shared_t s;
        memset(&s, 0, sizeof s);
        s.caller = pthread_self();
        char results[16];
        ck_assert_int_eq(sigeo__thread_map(results, 1, 16, slow_task, &s, workers, cancel_poll, &s),
                         SIGEO_ERR_CANCELLED);
        ck_assert_ptr_nonnull(strstr(sigeo_last_error(), "cancelled"));
        int ran = 0;
        for (int i = 0; i < 16; i++)
            ran += atomic_load(&s.runs[i]);
        ck_assert_int_ge(atomic_load(&s.polls), 1);
        ck_assert_int_lt(ran, 16);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("parallel");
    TCase *t = tcase_create("map");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, every_index_once);
    tcase_add_test(t, tasks_run_at_once);
    tcase_add_test(t, tail_gets_idle_cores);
    tcase_add_test(t, lowest_failure_wins);
    tcase_add_test(t, poll_cancels);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
