/* Small helpers shared by the Check suites: a seeded generator owned by the
 * tests (never the library's), a tolerance assertion that prints both
 * values, and shorthands for building stats handles and batches.
 * No expectations live here. */
#ifndef SIGEO_TEST_UTIL_H
#define SIGEO_TEST_UTIL_H

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "sigeo/stats.h"

/* |got - want| <= rtol * |want| + atol, with both values in the message. */
#define ck_assert_near(got, want, rtol, atol)                                                              \
    do {                                                                                                   \
        const double got_ = (got), want_ = (want);                                                         \
        const double tol_ = (rtol) * fabs(want_) + (atol);                                                 \
        ck_assert_msg(fabs(got_ - want_) <= tol_, "%s = %.17g, want %s = %.17g (|diff| %.3g > tol %.3g)", \
                      #got, got_, #want, want_, fabs(got_ - want_), tol_);                                 \
    } while (0)

/* Bit-for-bit equality of two doubles (NaN-safe, -0 != +0). */
#define ck_assert_double_bits_eq(a, b)                                                                     \
    do {                                                                                                   \
        const double a_ = (a), b_ = (b);                                                                   \
        ck_assert_msg(memcmp(&a_, &b_, sizeof a_) == 0, "%s = %.17g and %s = %.17g differ in bits", #a, \
                      a_, #b, b_);                                                                         \
    } while (0)

#define ck_assert_str_contains(haystack, needle)                                                           \
    do {                                                                                                   \
        const char *h_ = (haystack), *n_ = (needle);                                                       \
        ck_assert_ptr_nonnull(h_);                                                                         \
        ck_assert_msg(strstr(h_, n_) != NULL, "message \"%s\" does not contain \"%s\"", h_, n_);         \
    } while (0)

/* splitmix64: the tests' own deterministic stream. */
typedef struct tu_rng {
    uint64_t x;
} tu_rng_t;

static inline uint64_t tu_next(tu_rng_t *r)
{
    uint64_t z = (r->x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1) with 24 bits: exactly representable as a float. */
static inline float tu_uniform_f(tu_rng_t *r)
{
    return (float)((int32_t)(tu_next(r) >> 40) - (1 << 23)) * 0x1.0p-23f;
}

/* Uniform in [0, 1) with 53 bits. */
static inline double tu_uniform01(tu_rng_t *r)
{
    return (double)(tu_next(r) >> 11) * 0x1.0p-53;
}

static inline sigeo_stats_options_t tu_options(int32_t zico_variant, int32_t fr_estimator, int32_t loss_term,
                                               uint32_t ddof, double l1, double l2, double l3)
{
    sigeo_stats_options_t o = SIGEO_STATS_OPTIONS_INIT;
    o.zico_variant = zico_variant;
    o.fr_estimator = fr_estimator;
    o.loss_term = loss_term;
    o.std_ddof = ddof;
    o.lambda_preset = SIGEO_PRESET_CUSTOM;
    o.lambda1 = l1;
    o.lambda2 = l2;
    o.lambda3 = l3;
    return o;
}

/* Creates a handle with modules named by `names` and sizes `counts`;
 * fails the test on any error. */
static inline sigeo_stats_t *tu_stats_new(const sigeo_stats_options_t *o, int n_modules, const char *const *names,
                                          const int64_t *counts)
{
    sigeo_stats_t *s = NULL;
    ck_assert_int_eq(sigeo_stats_create(&s, NULL, o), SIGEO_OK);
    ck_assert_ptr_nonnull(s);
    for (int m = 0; m < n_modules; m++) {
        int32_t idx = -1;
        ck_assert_int_eq(sigeo_stats_add_module(&idx, s, names[m], counts[m]), SIGEO_OK);
        ck_assert_int_eq(idx, m);
    }
    return s;
}

static inline sigeo_stats_batch_t tu_batch(uint32_t n_modules, const float *const *gradients, const int64_t *counts,
                                           double loss, int64_t batch_size, const double *directional)
{
    sigeo_stats_batch_t b = SIGEO_STATS_BATCH_INIT;
    b.n_modules = n_modules;
    b.gradients = gradients;
    b.gradient_counts = counts;
    b.loss = loss;
    b.batch_size = batch_size;
    b.directional = directional;
    return b;
}

static inline sigeo_status_t tu_add(sigeo_stats_t *s, uint32_t n_modules, const float *const *gradients,
                                    const int64_t *counts, double loss, int64_t batch_size, const double *directional)
{
    sigeo_stats_batch_t b = tu_batch(n_modules, gradients, counts, loss, batch_size, directional);
    return sigeo_stats_add_batch(s, &b);
}

static inline sigeo_stats_result_t tu_compute(sigeo_stats_t *s)
{
    sigeo_stats_result_t r = SIGEO_STATS_RESULT_INIT;
    ck_assert_msg(sigeo_stats_compute(&r, s) == SIGEO_OK, "compute failed: %s", sigeo_last_error());
    return r;
}

static inline sigeo_stats_module_info_t tu_info(const sigeo_stats_t *s, int32_t m)
{
    sigeo_stats_module_info_t i = SIGEO_STATS_MODULE_INFO_INIT;
    ck_assert_msg(sigeo_stats_get_module_info(&i, s, m) == SIGEO_OK, "module_info failed: %s", sigeo_last_error());
    return i;
}

/* Runs a suite in a fresh runner; returns the process exit status. */
static inline int tu_run(Suite *suite)
{
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

#endif
