/* Pins lib/core/alloc.c and the NO_MEMORY paths of every stats call: a host
 * allocator (tests/common/guard_alloc.c) counts the allocations of a whole
 * stats scenario, then fails each one in turn, once and persistently, and
 * the scenario must report SIGEO_ERR_NO_MEMORY with a message, leak nothing,
 * stay destroyable and, after a one-off failure, finish with the very same
 * result as an undisturbed run. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h" /* sigeo__alloc* for the alignment and bookkeeping checks */
#include "guard_alloc.h"
#include "sigeo/sigeo.h"
#include "sigeo/stats.h"
#include "test_util.h"

static void install_guard(void)
{
    guard_reset();
    sigeo_allocator_t a = guard_allocator();
    ck_assert_int_eq(sigeo_set_allocator(&a), SIGEO_OK);
}

static void restore_default(void)
{
    ck_assert_int_eq(sigeo_set_allocator(NULL), SIGEO_OK);
}

static void assert_nothing_held(void)
{
    uint64_t bytes = 1, blocks = 1;
    sigeo_memory_in_use(&bytes, &blocks);
    ck_assert_uint_eq(bytes, 0);
    ck_assert_uint_eq(blocks, 0);
    guard_stats_t g = guard_stats();
    ck_assert_uint_eq(g.live, 0);
    ck_assert_uint_eq(g.corruptions, 0);
    ck_assert_uint_eq(g.foreign_release, 0);
    ck_assert_uint_eq(g.bad_alignment, 0);
}

/* ------------------------------------------------------------- scenario */

#define N_MOD 3
#define K 4
#define BS 3
static const char *const mod_names[N_MOD] = { "emb.weight", "fc1.weight", "fc1.bias" };
static const int64_t mod_counts[N_MOD] = { 40, 24, 6 };

typedef struct scenario_data {
    float g[K][N_MOD][40];
    float theta[N_MOD][40];
    double d[K][BS];
    double loss[K];
} scenario_data_t;

static scenario_data_t data;

static void make_data(void)
{
    tu_rng_t r = { 2024 };
    for (int i = 0; i < K; i++) {
        for (int m = 0; m < N_MOD; m++)
            for (int j = 0; j < mod_counts[m]; j++)
                data.g[i][m][j] = tu_uniform_f(&r);
        for (int n = 0; n < BS; n++)
            data.d[i][n] = tu_uniform01(&r) - 0.5;
        data.loss[i] = 1.0 + tu_uniform01(&r);
    }
    for (int m = 0; m < N_MOD; m++)
        for (int j = 0; j < mod_counts[m]; j++)
            data.theta[m][j] = tu_uniform_f(&r);
}

typedef enum fail_mode { FAIL_NONE, FAIL_ONCE, FAIL_FROM } fail_mode_t;

typedef struct run {
    int failures;
    bool finished;
    sigeo_stats_result_t result;
    sigeo_stats_module_info_t info[N_MOD];
    char first_failed_call[128];
} run_t;

static void expect_no_memory_report(const sigeo_stats_t *s)
{
    ck_assert_msg(strlen(sigeo_last_error()) > 0, "NO_MEMORY without a message");
    if (s)
        ck_assert_str_eq(sigeo_stats_last_error(s), sigeo_last_error());
    /* The library's bookkeeping and the host's agree at every failure. */
    uint64_t blocks = 0;
    sigeo_memory_in_use(NULL, &blocks);
    ck_assert_uint_eq(blocks, guard_stats().live);
}

/* Runs `call`; on NO_MEMORY records it, checks the report, and retries once:
 * after a one-off failure the retry must succeed, after a persistent one it
 * must fail the same way, and the run stops there. */
#define STEP(call)                                                                                        \
    do {                                                                                                  \
        sigeo_status_t st_ = (call);                                                                      \
        if (st_ == SIGEO_ERR_NO_MEMORY) {                                                                 \
            if (run->failures++ == 0)                                                                     \
                snprintf(run->first_failed_call, sizeof run->first_failed_call, "%s", #call);            \
            expect_no_memory_report(s);                                                                   \
            st_ = (call);                                                                                 \
            if (mode == FAIL_FROM) {                                                                      \
                ck_assert_int_eq(st_, SIGEO_ERR_NO_MEMORY);                                               \
                expect_no_memory_report(s);                                                               \
                goto stop;                                                                                \
            }                                                                                             \
        }                                                                                                 \
        ck_assert_msg(st_ == SIGEO_OK, "%s returned %d: %s", #call, (int)st_, sigeo_last_error());       \
    } while (0)

static void run_scenario(run_t *run, fail_mode_t mode)
{
    memset(run, 0, sizeof *run);
    sigeo_stats_t *s = NULL;
    sigeo_stats_options_t o = SIGEO_STATS_OPTIONS_INIT;
    o.lambda_preset = SIGEO_PRESET_RECSYS;

    STEP(sigeo_stats_create(&s, NULL, &o));
    ck_assert_ptr_nonnull(s);
    for (int m = 0; m < N_MOD; m++)
        STEP(sigeo_stats_add_module(NULL, s, mod_names[m], mod_counts[m]));
    for (int i = 0; i < K; i++) {
        const float *gp[N_MOD] = { data.g[i][0], data.g[i][1], data.g[i][2] };
        sigeo_stats_batch_t b = tu_batch(N_MOD, gp, mod_counts, data.loss[i], BS, data.d[i]);
        STEP(sigeo_stats_add_batch(s, &b));
    }
    for (int m = 0; m < N_MOD; m++)
        STEP(sigeo_stats_set_params(s, m, data.theta[m], mod_counts[m]));
    run->result = (sigeo_stats_result_t)SIGEO_STATS_RESULT_INIT;
    STEP(sigeo_stats_compute(&run->result, s));
    for (int m = 0; m < N_MOD; m++) {
        run->info[m] = (sigeo_stats_module_info_t)SIGEO_STATS_MODULE_INFO_INIT;
        STEP(sigeo_stats_get_module_info(&run->info[m], s, m));
        ck_assert_str_eq(run->info[m].name, mod_names[m]);
        run->info[m].name = NULL; /* borrowed from the handle, which is about to go */
    }
    run->finished = true;
stop:
    if (!run->finished && s) {
        /* Still a working handle: calls that need no memory go on working. */
        int32_t count = -1;
        ck_assert_int_eq(sigeo_stats_module_count(&count, s), SIGEO_OK);
        ck_assert_int_ge(count, 0);
        ck_assert_int_le(count, N_MOD);
    }
    sigeo_stats_destroy(s);
    assert_nothing_held();
}

static void assert_same_run(const run_t *a, const run_t *b)
{
    ck_assert(a->finished && b->finished);
    ck_assert_msg(memcmp(&a->result, &b->result, sizeof a->result) == 0,
                  "result differs after a failed allocation (score %.17g vs %.17g)", a->result.score,
                  b->result.score);
    for (int m = 0; m < N_MOD; m++) {
        ck_assert_msg(memcmp(&a->info[m], &b->info[m], sizeof a->info[m]) == 0, "module %d info differs", m);
    }
}

static uint64_t count_scenario_allocations(run_t *clean)
{
    guard_reset();
    run_scenario(clean, FAIL_NONE);
    ck_assert(clean->finished);
    ck_assert_int_eq(clean->failures, 0);
    guard_stats_t g = guard_stats();
    ck_assert_uint_eq(g.release_calls, g.alloc_calls);
    return g.alloc_calls;
}

START_TEST(scenario_allocation_count_is_positive_and_repeatable)
{
    run_t a, b;
    uint64_t n1 = count_scenario_allocations(&a);
    uint64_t n2 = count_scenario_allocations(&b);
    ck_assert_uint_gt(n1, 0);
    ck_assert_uint_eq(n1, n2);
    assert_same_run(&a, &b);
    /* Every request asked for at least the default 64-byte alignment. */
    ck_assert_uint_ge(guard_stats().min_alignment, 64);
}
END_TEST

START_TEST(each_allocation_failing_once_is_reported_and_recovered)
{
    run_t clean;
    const uint64_t total = count_scenario_allocations(&clean);
    for (uint64_t n = 1; n <= total; n++) {
        guard_reset();
        guard_fail_at(n, false);
        run_t r;
        run_scenario(&r, FAIL_ONCE);
        ck_assert_msg(r.failures == 1, "allocation %llu: %d NO_MEMORY reports, want 1",
                      (unsigned long long)n, r.failures);
        ck_assert_uint_eq(guard_stats().alloc_failed, 1);
        assert_same_run(&r, &clean);
    }
    /* Past the last allocation nothing fails. */
    guard_reset();
    guard_fail_at(total + 1, false);
    run_t r;
    run_scenario(&r, FAIL_ONCE);
    ck_assert_int_eq(r.failures, 0);
    assert_same_run(&r, &clean);
}
END_TEST

START_TEST(allocations_failing_persistently_leave_a_destroyable_handle)
{
    run_t clean;
    const uint64_t total = count_scenario_allocations(&clean);
    for (uint64_t n = 1; n <= total; n++) {
        guard_reset();
        guard_fail_at(n, true);
        run_t r;
        run_scenario(&r, FAIL_FROM); /* checks nothing is held after destroy */
        ck_assert_msg(r.failures == 1 && !r.finished, "allocation %llu: failures %d finished %d",
                      (unsigned long long)n, r.failures, (int)r.finished);
    }
}
END_TEST

START_TEST(context_create_out_of_memory_holds_nothing)
{
    guard_fail_at(1, true);
    sigeo_context_t *ctx = (sigeo_context_t *)(uintptr_t)0x40;
    ck_assert_int_eq(sigeo_context_create(&ctx, NULL), SIGEO_ERR_NO_MEMORY);
    ck_assert_ptr_null(ctx);
    ck_assert_uint_gt(strlen(sigeo_last_error()), 0);
    assert_nothing_held();
    guard_fail_at(0, false);
    ck_assert_int_eq(sigeo_context_create(&ctx, NULL), SIGEO_OK);
    sigeo_context_destroy(ctx);
    assert_nothing_held();
}
END_TEST

START_TEST(reset_and_recompute_allocate_nothing)
{
    run_t clean;
    (void)count_scenario_allocations(&clean);
    sigeo_stats_t *s = tu_stats_new(NULL, N_MOD, mod_names, mod_counts);
    for (int round = 0; round < 3; round++) {
        const uint64_t calls_before = guard_stats().alloc_calls;
        for (int i = 0; i < K; i++) {
            const float *gp[N_MOD] = { data.g[i][0], data.g[i][1], data.g[i][2] };
            ck_assert_int_eq(tu_add(s, N_MOD, gp, mod_counts, data.loss[i], BS, data.d[i]), SIGEO_OK);
        }
        for (int m = 0; m < N_MOD; m++)
            ck_assert_int_eq(sigeo_stats_set_params(s, m, data.theta[m], mod_counts[m]), SIGEO_OK);
        (void)tu_compute(s);
        ck_assert_int_eq(sigeo_stats_reset(s), SIGEO_OK);
        if (round > 0)
            ck_assert_uint_eq(guard_stats().alloc_calls, calls_before);
    }
    sigeo_stats_destroy(s);
    assert_nothing_held();
}
END_TEST

/* --------------------------------------------------------- set_allocator */

START_TEST(set_allocator_refuses_while_blocks_are_live)
{
    sigeo_stats_t *s = NULL;
    ck_assert_int_eq(sigeo_stats_create(&s, NULL, NULL), SIGEO_OK);
    ck_assert_uint_eq(guard_stats().live, 1);

    ck_assert_int_eq(sigeo_set_allocator(NULL), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "block");
    sigeo_allocator_t again = guard_allocator();
    ck_assert_int_eq(sigeo_set_allocator(&again), SIGEO_ERR_INVALID_ARG);

    /* The refused calls changed nothing: the guard still serves the library. */
    const uint64_t calls = guard_stats().alloc_calls;
    ck_assert_int_eq(sigeo_stats_add_module(NULL, s, "w", 8), SIGEO_OK);
    ck_assert_uint_gt(guard_stats().alloc_calls, calls);
    sigeo_stats_destroy(s);
    assert_nothing_held();

    /* With nothing live, switching back is allowed and takes effect. */
    restore_default();
    const uint64_t calls_after = guard_stats().alloc_calls;
    ck_assert_int_eq(sigeo_stats_create(&s, NULL, NULL), SIGEO_OK);
    ck_assert_uint_eq(guard_stats().alloc_calls, calls_after);
    uint64_t blocks = 0;
    sigeo_memory_in_use(NULL, &blocks);
    ck_assert_uint_eq(blocks, 1); /* the system allocator is counted too */
    sigeo_stats_destroy(s);
    sigeo_memory_in_use(NULL, &blocks);
    ck_assert_uint_eq(blocks, 0);
}
END_TEST

START_TEST(set_allocator_validates_its_argument)
{
    sigeo_allocator_t a = guard_allocator();
    a.alloc = NULL;
    ck_assert_int_eq(sigeo_set_allocator(&a), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "alloc");
    a = guard_allocator();
    a.release = NULL;
    ck_assert_int_eq(sigeo_set_allocator(&a), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "release");
    a = guard_allocator();
    a.reserved0 = 1;
    ck_assert_int_eq(sigeo_set_allocator(&a), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "reserved0");
    a = guard_allocator();
    a.struct_size = 4;
    ck_assert_int_eq(sigeo_set_allocator(&a), SIGEO_ERR_INVALID_ARG);

    struct {
        sigeo_allocator_t known;
        uint64_t future;
    } newer;
    memset(&newer, 0, sizeof newer);
    newer.known = guard_allocator();
    newer.known.struct_size = (uint32_t)sizeof newer;
    newer.future = 3;
    ck_assert_int_eq(sigeo_set_allocator(&newer.known), SIGEO_ERR_UNSUPPORTED);

    /* None of the refusals replaced the guard installed by the fixture. */
    const uint64_t calls = guard_stats().alloc_calls;
    sigeo_stats_t *s = NULL;
    ck_assert_int_eq(sigeo_stats_create(&s, NULL, NULL), SIGEO_OK);
    ck_assert_uint_eq(guard_stats().alloc_calls, calls + 1);
    sigeo_stats_destroy(s);

    newer.future = 0; /* a newer struct with nothing new set is fine */
    ck_assert_int_eq(sigeo_set_allocator(&newer.known), SIGEO_OK);
    assert_nothing_held();
}
END_TEST

typedef struct user_counter {
    int allocs;
    int releases;
} user_counter_t;

static void *counting_alloc(size_t size, size_t alignment, void *user)
{
    ((user_counter_t *)user)->allocs++;
    void *p = NULL;
    return posix_memalign(&p, alignment, size) == 0 ? p : NULL;
}

static void counting_release(void *ptr, void *user)
{
    ((user_counter_t *)user)->releases++;
    free(ptr);
}

START_TEST(user_pointer_reaches_the_host_allocator)
{
    restore_default();
    user_counter_t counter = { 0, 0 };
    sigeo_allocator_t a;
    ck_assert_int_eq(sigeo_allocator_init(&a, sizeof a), SIGEO_OK);
    a.alloc = counting_alloc;
    a.release = counting_release;
    a.user = &counter;
    ck_assert_int_eq(sigeo_set_allocator(&a), SIGEO_OK);
    sigeo_context_t *ctx = NULL;
    ck_assert_int_eq(sigeo_context_create(&ctx, NULL), SIGEO_OK);
    ck_assert_int_eq(counter.allocs, 1);
    sigeo_context_destroy(ctx);
    ck_assert_int_eq(counter.releases, 1);
    restore_default();
}
END_TEST

/* ------------------------------------------------- alignment, bookkeeping */

START_TEST(blocks_honour_the_default_and_requested_alignment)
{
    for (size_t size = 1; size <= 300; size += 37) {
        void *p = sigeo__alloc(size);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % 64, 0);
        memset(p, 0x11, size); /* the whole block is writable (canaries check the end) */
        sigeo__free(p);
    }
    const size_t aligns[] = { 1, 8, 16, 32, 64, 128, 256, 1024, 4096 };
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        void *p = sigeo__alloc_aligned(100, aligns[i]);
        ck_assert_ptr_nonnull(p);
        const size_t want = aligns[i] < 64 ? 64 : aligns[i];
        ck_assert_msg((uintptr_t)p % want == 0, "alignment %zu: %p", aligns[i], p);
        memset(p, 0x22, 100);
        sigeo__free(p);
    }
    ck_assert_ptr_null(sigeo__alloc_aligned(100, 8192));
    ck_assert_ptr_null(sigeo__alloc_aligned(100, 96));
    ck_assert_ptr_null(sigeo__alloc_aligned(SIZE_MAX - 8, 64));
    ck_assert_uint_ge(guard_stats().min_alignment, 64);
    assert_nothing_held();
}
END_TEST

/* A skewed block starts exactly `skew` bytes past a 64-byte boundary, is
 * zeroed and writable to its end, counts as one block in use and is freed by
 * sigeo__free; a skew that is not a multiple of 16 below 64, or an
 * overflowing size, gives NULL and holds nothing. */
START_TEST(skewed_blocks_start_past_the_boundary_and_free_cleanly)
{
    const size_t skews[] = { 0, 16, 32, 48 };
    for (size_t i = 0; i < sizeof skews / sizeof skews[0]; i++) {
        uint64_t blocks;
        float *p = sigeo__calloc_skewed(1031, sizeof(float), skews[i]);
        ck_assert_ptr_nonnull(p);
        ck_assert_msg((uintptr_t)p % 64 == skews[i], "skew %zu: %p", skews[i], (void *)p);
        for (int j = 0; j < 1031; j++)
            ck_assert(p[j] == 0.0f);
        memset(p, 0x33, 1031 * sizeof(float));
        sigeo_memory_in_use(NULL, &blocks);
        ck_assert_uint_eq(blocks, 1);
        sigeo__free(p);
    }
    ck_assert_ptr_null(sigeo__calloc_skewed(10, 4, 8));
    ck_assert_ptr_null(sigeo__calloc_skewed(10, 4, 64));
    ck_assert_ptr_null(sigeo__calloc_skewed(SIZE_MAX / 2, 4, 16));
    assert_nothing_held();
}
END_TEST

START_TEST(memory_in_use_counts_requested_bytes_and_blocks)
{
    uint64_t bytes, blocks;
    sigeo_memory_in_use(NULL, NULL);
    void *a = sigeo__alloc(100);
    void *b = sigeo__calloc(7, 9);
    sigeo_memory_in_use(&bytes, &blocks);
    ck_assert_uint_eq(bytes, 163);
    ck_assert_uint_eq(blocks, 2);
    for (int i = 0; i < 63; i++)
        ck_assert_int_eq(((unsigned char *)b)[i], 0);
    sigeo__free(a);
    sigeo__free(NULL);
    sigeo_memory_in_use(&bytes, &blocks);
    ck_assert_uint_eq(bytes, 63);
    ck_assert_uint_eq(blocks, 1);
    sigeo__free(b);
    /* Overflowing counts are refused before the host is asked. */
    const uint64_t calls = guard_stats().alloc_calls;
    ck_assert_ptr_null(sigeo__calloc(SIZE_MAX / 2, 4));
    ck_assert_uint_eq(guard_stats().alloc_calls, calls);
    assert_nothing_held();
}
END_TEST

START_TEST(realloc_array_keeps_contents_and_survives_failure)
{
    int *p = sigeo__realloc_array(NULL, 0, 4, sizeof(int));
    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < 4; i++)
        p[i] = i * 11;
    guard_fail_at(guard_stats().alloc_calls + 1, false);
    ck_assert_ptr_null(sigeo__realloc_array(p, 4, 16, sizeof(int)));
    for (int i = 0; i < 4; i++) /* still valid and unchanged */
        ck_assert_int_eq(p[i], i * 11);
    int *q = sigeo__realloc_array(p, 4, 16, sizeof(int));
    ck_assert_ptr_nonnull(q);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(q[i], i * 11);
    uint64_t blocks;
    sigeo_memory_in_use(NULL, &blocks);
    ck_assert_uint_eq(blocks, 1);
    char *s = sigeo__strdup("fc1.weight");
    ck_assert_str_eq(s, "fc1.weight");
    sigeo__free(s);
    sigeo__free(q);
    assert_nothing_held();
}
END_TEST

static void fixture_setup(void)
{
    make_data();
    install_guard();
}

static void fixture_teardown(void)
{
    restore_default();
}

static Suite *alloc_suite(void)
{
    Suite *s = suite_create("core_alloc");
    TCase *tc = tcase_create("alloc");
    tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
    tcase_add_test(tc, scenario_allocation_count_is_positive_and_repeatable);
    tcase_add_test(tc, each_allocation_failing_once_is_reported_and_recovered);
    tcase_add_test(tc, allocations_failing_persistently_leave_a_destroyable_handle);
    tcase_add_test(tc, context_create_out_of_memory_holds_nothing);
    tcase_add_test(tc, reset_and_recompute_allocate_nothing);
    tcase_add_test(tc, set_allocator_refuses_while_blocks_are_live);
    tcase_add_test(tc, set_allocator_validates_its_argument);
    tcase_add_test(tc, user_pointer_reaches_the_host_allocator);
    tcase_add_test(tc, blocks_honour_the_default_and_requested_alignment);
    tcase_add_test(tc, memory_in_use_counts_requested_bytes_and_blocks);
    tcase_add_test(tc, skewed_blocks_start_past_the_boundary_and_free_cleanly);
    tcase_add_test(tc, realloc_array_keeps_contents_and_survives_failure);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(alloc_suite());
}
