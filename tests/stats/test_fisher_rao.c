/* Pins lib/stats/fisher_rao.c through the public API: the exact FR
 * (1/N) sum_n d_n^2 over all samples (docs/proxies.md §1.1, §5), its zero guard,
 * and the two reference estimators of the official codes (§1.5, §1.6, D1).
 * Expectations are computed by hand in each test. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "sigeo/stats.h"
#include "test_util.h"

/* Two modules whose gradients only matter for ZiCo (hand values where used):
 * batch i: fc.weight = {1 + 2 (i mod 2), -1 - i}, fc.bias = {i odd ? 2 : -2}. */
static const char *const names2[2] = { "fc.weight", "fc.bias" };
static const int64_t counts2[2] = { 2, 1 };

static void add_plain_batch(sigeo_stats_t *s, int i, double loss, int64_t bs, const double *d)
{
    const float w[2] = { (float)(1 + 2 * (i % 2)), (float)(-1 - i) };
    const float b[1] = { (float)(i % 2 ? 2 : -2) };
    const float *gp[2] = { w, b };
    ck_assert_msg(tu_add(s, 2, gp, counts2, loss, bs, d) == SIGEO_OK, "%s", sigeo_last_error());
}

START_TEST(exact_fr_is_the_mean_square_over_all_samples_of_unequal_batches)
{
    /* Batches of 1, 3 and 2 samples: sum d^2 = 4 + (1 + 1 + 9) + (0.25 + 4)
     * = 19.25 over N = 6 samples. Not the mean of per-batch means
     * (4 + 11/3 + 2.125) / 3 = 3.264, which would weight samples unequally. */
    static const double d0[1] = { 2.0 }, d1[3] = { 1.0, -1.0, 3.0 }, d2[2] = { 0.5, -2.0 };
    sigeo_stats_options_t o = tu_options(SIGEO_ZICO_MODULE_WISE, SIGEO_FR_EXACT, SIGEO_LOSS_MEAN, 0, 0.0, 1.0, 0.0);
    sigeo_stats_t *s = tu_stats_new(&o, 2, names2, counts2);
    add_plain_batch(s, 0, 0.0, 1, d0);
    add_plain_batch(s, 1, 0.0, 3, d1);
    add_plain_batch(s, 2, 0.0, 2, d2);
    sigeo_stats_result_t r = tu_compute(s);
    const double want = 19.25 / 6.0;
    ck_assert_near(r.fr, want, 1e-15, 0.0);
    ck_assert_near(r.log_fr, log(want), 0.0, 1e-15);
    ck_assert_near(r.score, log(want), 0.0, 1e-15); /* lambda (0, 1, 0) */
    ck_assert_uint_eq(r.n_samples, 6);
    ck_assert_uint_eq(r.n_batches, 3);
    ck_assert_uint_eq(r.flags & SIGEO_STATS_HAS_FR, SIGEO_STATS_HAS_FR);
    ck_assert_uint_eq(r.flags & SIGEO_STATS_FR_ZERO, 0);
    ck_assert_int_eq(r.fr_estimator, SIGEO_FR_EXACT);
    sigeo_stats_destroy(s);
}
END_TEST

START_TEST(identity_estimator_has_the_exact_arithmetic)
{
    static const double d0[2] = { 0.75, -0.25 }, d1[2] = { 1.5, 2.5 };
    const double want = (0.5625 + 0.0625 + 2.25 + 6.25) / 4.0;
    sigeo_stats_options_t o =
        tu_options(SIGEO_ZICO_MODULE_WISE, SIGEO_FR_IDENTITY, SIGEO_LOSS_MEAN, 0, 1.0, 1.0, 0.0);
    sigeo_stats_t *s = tu_stats_new(&o, 2, names2, counts2);
    add_plain_batch(s, 0, 0.0, 2, d0);
    add_plain_batch(s, 1, 0.0, 2, d1);
    sigeo_stats_result_t r = tu_compute(s);
    ck_assert_double_eq(r.fr, want); /* every step exact in binary */
    ck_assert_near(r.log_fr, log(want), 0.0, 1e-15);
    ck_assert_int_eq(r.fr_estimator, SIGEO_FR_IDENTITY);
    ck_assert_uint_eq(r.flags & SIGEO_STATS_HAS_FR, SIGEO_STATS_HAS_FR);
    sigeo_stats_destroy(s);
}
END_TEST

START_TEST(zero_fr_gives_minus_infinity_and_the_flag)
{
    static const double zeros[3] = { 0.0, -0.0, 0.0 };
    /* lambda2 = 0: the -inf term is left out and the score stays finite. */
    sigeo_stats_options_t o = tu_options(SIGEO_ZICO_MODULE_WISE, SIGEO_FR_EXACT, SIGEO_LOSS_MEAN, 0, 1.0, 0.0, 1.0);
    sigeo_stats_t *s = tu_stats_new(&o, 2, names2, counts2);
    add_plain_batch(s, 0, 0.5, 3, zeros);
    add_plain_batch(s, 1, 1.5, 3, zeros);
    sigeo_stats_result_t r = tu_compute(s);
    ck_assert_double_eq(r.fr, 0.0);
    ck_assert(isinf(r.log_fr) && r.log_fr < 0);
    ck_assert_uint_eq(r.flags & (SIGEO_STATS_HAS_FR | SIGEO_STATS_FR_ZERO), SIGEO_STATS_HAS_FR | SIGEO_STATS_FR_ZERO);
    ck_assert(isfinite(r.score));
    /* zico by hand: fc.weight elements {1,3} ratio 2 and {-1,-2} ratio 3,
     * fc.bias {-2,2} ratio 1: log(5) + log(1); loss mean 1.0. */
    ck_assert_near(r.score, log(5.0) - 1.0, 0.0, 1e-6);
    sigeo_stats_destroy(s);

    /* lambda2 != 0: the score is -inf, never NaN. */
    o.lambda2 = 1.0;
    s = tu_stats_new(&o, 2, names2, counts2);
    add_plain_batch(s, 0, 0.5, 3, zeros);
    add_plain_batch(s, 1, 1.5, 3, zeros);
    r = tu_compute(s);
    ck_assert(isinf(r.score) && r.score < 0);
    ck_assert_uint_eq(r.flags & SIGEO_STATS_FR_ZERO, SIGEO_STATS_FR_ZERO);
    sigeo_stats_destroy(s);
}
END_TEST

START_TEST(fr_is_invariant_to_moving_samples_between_batches)
{
    /* Same multiset of d_n split 2+3+1 and 1+1+4 in another order. Only the
     * FR is compared: had the samples really moved, the batch-mean gradients
     * and so ZiCo would change too (ZiCo is not invariant to the grouping;
     * here the gradients are simply kept per batch index). */
    static const double a0[2] = { 0.1, -2.0 }, a1[3] = { 3.5, 0.0, -0.7 }, a2[1] = { 1.25 };
    static const double b0[1] = { -0.7 }, b1[1] = { 1.25 }, b2[4] = { 3.5, -2.0, 0.1, 0.0 };
    sigeo_stats_options_t o = tu_options(SIGEO_ZICO_MODULE_WISE, SIGEO_FR_EXACT, SIGEO_LOSS_MEAN, 0, 1.0, 1.0, 0.0);
    sigeo_stats_t *sa = tu_stats_new(&o, 2, names2, counts2);
    sigeo_stats_t *sb = tu_stats_new(&o, 2, names2, counts2);
    add_plain_batch(sa, 0, 0.0, 2, a0);
    add_plain_batch(sa, 1, 0.0, 3, a1);
    add_plain_batch(sa, 2, 0.0, 1, a2);
    add_plain_batch(sb, 0, 0.0, 1, b0);
    add_plain_batch(sb, 1, 0.0, 1, b1);
    add_plain_batch(sb, 2, 0.0, 4, b2);
    sigeo_stats_result_t ra = tu_compute(sa), rb = tu_compute(sb);
    const double want = (0.01 + 4.0 + 12.25 + 0.0 + 0.49 + 1.5625) / 6.0;
    ck_assert_near(ra.fr, want, 1e-14, 0.0);
    ck_assert_near(rb.fr, ra.fr, 1e-14, 0.0);
    ck_assert_near(rb.log_fr, ra.log_fr, 0.0, 1e-14);
    ck_assert_uint_eq(ra.n_samples, rb.n_samples);
    sigeo_stats_destroy(sa);
    sigeo_stats_destroy(sb);
}
END_TEST

START_TEST(exact_fr_matches_a_reference_on_many_samples)
{
    enum { K = 6 };
    static double d[K][500];
    const int64_t sizes[K] = { 500, 17, 250, 1, 333, 499 };
    tu_rng_t rng = { 31 };
    double sum_sq = 0.0;
    int64_t n = 0;
    sigeo_stats_options_t o = tu_options(SIGEO_ZICO_MODULE_WISE, SIGEO_FR_EXACT, SIGEO_LOSS_MEAN, 0, 1.0, 1.0, 0.0);
    sigeo_stats_t *s = tu_stats_new(&o, 2, names2, counts2);
    for (int i = 0; i < K; i++) {
        for (int64_t j = 0; j < sizes[i]; j++) {
            d[i][j] = (tu_uniform01(&rng) - 0.5) * 1e3;
            sum_sq += d[i][j] * d[i][j];
        }
        n += sizes[i];
        add_plain_batch(s, i, 0.0, sizes[i], d[i]);
    }
    sigeo_stats_result_t r = tu_compute(s);
    /* Double sums of 1600 positive terms in two orders: ~1e-13 relative. */
    ck_assert_near(r.fr, sum_sq / (double)n, 1e-12, 0.0);
    ck_assert_uint_eq(r.n_samples, (uint64_t)n);
    sigeo_stats_destroy(s);
}
END_TEST

/* ---------------------------------------------------- reference estimators */

/* Three batches, three modules (A: 2 params, B: 1, C: 1 constant -> skipped by ZiCo).
 *   A: g = {1,2}, {3,-1}, {0,1}   G_A = {4, 2}
 *   B: g = {1},   {1},    {-2}    G_B = {0} -> use theta so B matters below
 *   C: g = {2},   {2},    {2}     G_C = {6} (sigma 0: skipped)
 * theta A = {0.5, -3}, B = {7}, C = {5}:
 *   theta_A . G_A = 2 - 6 = -4, theta_B . G_B = 0, theta_C . G_C = 30. */
static const char *const names3[3] = { "A", "B", "C" };
static const int64_t counts3[3] = { 2, 1, 1 };
static const float ref_ga[3][2] = { { 1, 2 }, { 3, -1 }, { 0, 1 } };
static const float ref_gb[3][1] = { { 1 }, { 1 }, { -2 } };
static const float ref_gc[3][1] = { { 2 }, { 2 }, { 2 } };
static const float theta_a[2] = { 0.5f, -3.0f }, theta_b[1] = { 7.0f }, theta_c[1] = { 5.0f };

/* B's gradients above sum to 0; this variant has G_B = {3}, so
 * theta_B . G_B = 21 and signs and per-module abs values matter. */
static const float ref_gb2[3][1] = { { 1 }, { 4 }, { -2 } };

static sigeo_stats_t *reference_handle(int32_t estimator, double l2, const float (*gb)[1], int set_theta)
{
    sigeo_stats_options_t o = tu_options(SIGEO_ZICO_MODULE_WISE, estimator, SIGEO_LOSS_MEAN, 0, 0.0, l2, 0.0);
    sigeo_stats_t *s = tu_stats_new(&o, 3, names3, counts3);
    for (int i = 0; i < 3; i++) {
        const float *gp[3] = { ref_ga[i], gb[i], ref_gc[i] };
        ck_assert_int_eq(tu_add(s, 3, gp, counts3, 0.0, 4, NULL), SIGEO_OK);
    }
    if (set_theta) {
        ck_assert_int_eq(sigeo_stats_set_params(s, 0, theta_a, 2), SIGEO_OK);
        ck_assert_int_eq(sigeo_stats_set_params(s, 1, theta_b, 1), SIGEO_OK);
        ck_assert_int_eq(sigeo_stats_set_params(s, 2, theta_c, 1), SIGEO_OK);
    }
    return s;
}

/* The accumulator holds float means, so theta . G carries ~1e-7 relative
 * error of sum |theta_j G_j|; 1e-5 absolute covers these small numbers. */
#define DOT_ATOL 1e-5

START_TEST(reference_recsys_is_abs_theta_dot_summed_gradients)
{
    /* fr = |theta . sum_i g_i| over all modules: |-4 + 21 + 30| = 47. */
    sigeo_stats_t *s = reference_handle(SIGEO_FR_REFERENCE_RECSYS, 1.0, ref_gb2, 1);
    sigeo_stats_result_t r = tu_compute(s);
    ck_assert_near(r.fr, 47.0, 0.0, DOT_ATOL);
    ck_assert_near(r.log_fr, log(47.0 + 1e-10), 0.0, DOT_ATOL);
    ck_assert_near(r.theta_dot_grad_sum, 47.0, 0.0, DOT_ATOL);
    ck_assert_uint_eq(r.flags & (SIGEO_STATS_HAS_FR | SIGEO_STATS_HAS_THETA_DOT),
                      SIGEO_STATS_HAS_FR | SIGEO_STATS_HAS_THETA_DOT);
    ck_assert_uint_eq(r.flags & SIGEO_STATS_FR_ZERO, 0);
    ck_assert_near(tu_info(s, 0).theta_dot_grad_sum, -4.0, 0.0, DOT_ATOL);
    ck_assert_near(tu_info(s, 1).theta_dot_grad_sum, 21.0, 0.0, DOT_ATOL);
    ck_assert_near(tu_info(s, 2).theta_dot_grad_sum, 30.0, 0.0, DOT_ATOL);
    sigeo_stats_destroy(s);

    /* A negative total: the abs is taken after the signed sum over modules.
     * With G_B = {0} and theta_C = -5: -4 + 0 - 30 = -34 -> fr 34. */
    s = reference_handle(SIGEO_FR_REFERENCE_RECSYS, 1.0, ref_gb, 0);
    const float minus_c[1] = { -5.0f };
    ck_assert_int_eq(sigeo_stats_set_params(s, 0, theta_a, 2), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_set_params(s, 1, theta_b, 1), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_set_params(s, 2, minus_c, 1), SIGEO_OK);
    r = tu_compute(s);
    ck_assert_near(r.theta_dot_grad_sum, -34.0, 0.0, DOT_ATOL);
    ck_assert_near(r.fr, 34.0, 0.0, DOT_ATOL);
    ck_assert_near(r.log_fr, log(34.0 + 1e-10), 0.0, DOT_ATOL);
    ck_assert_near(r.score, r.log_fr, 0.0, 0.0); /* lambda (0, 1, 0) */
    sigeo_stats_destroy(s);
}
END_TEST

START_TEST(reference_cv_sums_abs_module_dots_over_modules_zico_keeps)
{
    /* |theta_A . G_A| + |theta_B . G_B| = |-4| + |21| = 25 (abs per module,
     * then summed: the signed sum would give 17); C is skipped by ZiCo
     * (constant gradient) and so left out of the sum despite its 30. */
    sigeo_stats_t *s = reference_handle(SIGEO_FR_REFERENCE_CV, 1.0, ref_gb2, 1);
    sigeo_stats_result_t r = tu_compute(s);
    ck_assert_uint_eq(r.n_modules_skipped, 1);
    ck_assert_uint_eq(tu_info(s, 2).skipped, 1);
    ck_assert_near(r.fr, 25.0, 0.0, DOT_ATOL);
    ck_assert_near(r.log_fr, 2.0 * log(25.0 + 1e-5), 0.0, DOT_ATOL);
    ck_assert_uint_eq(r.flags & SIGEO_STATS_HAS_FR, SIGEO_STATS_HAS_FR);
    ck_assert_int_eq(r.fr_estimator, SIGEO_FR_REFERENCE_CV);
    sigeo_stats_destroy(s);

    /* Both dots negative (theta_B = -7 -> -21): still 25, and lambda2 = 50
     * (vision preset weight) multiplies the 2 log(fr + 1e-5) term. */
    s = reference_handle(SIGEO_FR_REFERENCE_CV, 50.0, ref_gb2, 0);
    const float minus_b[1] = { -7.0f };
    ck_assert_int_eq(sigeo_stats_set_params(s, 0, theta_a, 2), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_set_params(s, 1, minus_b, 1), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_set_params(s, 2, theta_c, 1), SIGEO_OK);
    r = tu_compute(s);
    ck_assert_near(r.fr, 25.0, 0.0, DOT_ATOL);
    ck_assert_near(r.score, 50.0 * 2.0 * log(25.0 + 1e-5), 0.0, 50 * DOT_ATOL);
    sigeo_stats_destroy(s);
}
END_TEST

START_TEST(reference_fr_of_zero_uses_the_epsilon_and_no_flag)
{
    static const float zero2[2] = { 0, 0 }, zero1[1] = { 0 };
    const int32_t est[2] = { SIGEO_FR_REFERENCE_RECSYS, SIGEO_FR_REFERENCE_CV };
    const double want[2] = { log(1e-10), 2.0 * log(1e-5) };
    for (int e = 0; e < 2; e++) {
        sigeo_stats_t *s = reference_handle(est[e], 1.0, ref_gb2, 0);
        ck_assert_int_eq(sigeo_stats_set_params(s, 0, zero2, 2), SIGEO_OK);
        ck_assert_int_eq(sigeo_stats_set_params(s, 1, zero1, 1), SIGEO_OK);
        ck_assert_int_eq(sigeo_stats_set_params(s, 2, zero1, 1), SIGEO_OK);
        sigeo_stats_result_t r = tu_compute(s);
        ck_assert_double_eq(r.fr, 0.0);
        ck_assert_near(r.log_fr, want[e], 1e-15, 0.0);
        ck_assert_uint_eq(r.flags & SIGEO_STATS_FR_ZERO, 0); /* flag is for EXACT/IDENTITY only */
        ck_assert_uint_eq(r.flags & SIGEO_STATS_HAS_FR, SIGEO_STATS_HAS_FR);
        sigeo_stats_destroy(s);
    }
}
END_TEST

START_TEST(reference_estimator_with_lambda2_zero_needs_no_params)
{
    sigeo_stats_t *s = reference_handle(SIGEO_FR_REFERENCE_RECSYS, 0.0, ref_gb2, 0);
    sigeo_stats_result_t r = tu_compute(s);
    ck_assert_uint_eq(r.flags & (SIGEO_STATS_HAS_FR | SIGEO_STATS_HAS_THETA_DOT), 0);
    ck_assert_double_eq(r.fr, 0.0);
    ck_assert_double_eq(r.log_fr, 0.0);
    sigeo_stats_destroy(s);
}
END_TEST

START_TEST(params_under_the_exact_estimator_fill_the_diagnostic)
{
    static const double d[4] = { 1, 1, 1, 1 };
    sigeo_stats_options_t o = tu_options(SIGEO_ZICO_MODULE_WISE, SIGEO_FR_EXACT, SIGEO_LOSS_MEAN, 0, 1.0, 1.0, 0.0);
    sigeo_stats_t *s = tu_stats_new(&o, 3, names3, counts3);
    for (int i = 0; i < 3; i++) {
        const float *gp[3] = { ref_ga[i], ref_gb2[i], ref_gc[i] };
        ck_assert_int_eq(tu_add(s, 3, gp, counts3, 0.0, 4, d), SIGEO_OK);
    }
    ck_assert_int_eq(sigeo_stats_set_params(s, 0, theta_a, 2), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_set_params(s, 1, theta_b, 1), SIGEO_OK);
    sigeo_stats_result_t r = tu_compute(s);
    /* Not every module set: no overall diagnostic, per-module values still there. */
    ck_assert_uint_eq(r.flags & SIGEO_STATS_HAS_THETA_DOT, 0);
    ck_assert_near(tu_info(s, 0).theta_dot_grad_sum, -4.0, 0.0, DOT_ATOL);
    ck_assert_double_eq(tu_info(s, 2).theta_dot_grad_sum, 0.0);
    ck_assert_double_eq(r.fr, 1.0); /* the exact FR ignores theta */
    ck_assert_int_eq(sigeo_stats_set_params(s, 2, theta_c, 1), SIGEO_OK);
    r = tu_compute(s);
    ck_assert_uint_eq(r.flags & SIGEO_STATS_HAS_THETA_DOT, SIGEO_STATS_HAS_THETA_DOT);
    ck_assert_near(r.theta_dot_grad_sum, 47.0, 0.0, DOT_ATOL);
    ck_assert_double_eq(r.fr, 1.0);
    sigeo_stats_destroy(s);
}
END_TEST

START_TEST(exact_fr_without_directional_data_and_lambda2_zero_is_absent)
{
    sigeo_stats_options_t o = tu_options(SIGEO_ZICO_MODULE_WISE, SIGEO_FR_EXACT, SIGEO_LOSS_MEAN, 0, 1.0, 0.0, 0.0);
    sigeo_stats_t *s = tu_stats_new(&o, 2, names2, counts2);
    static const double d[2] = { 1.0, 2.0 };
    add_plain_batch(s, 0, 0.0, 2, d);
    add_plain_batch(s, 1, 0.0, 2, NULL); /* one batch without d_n */
    sigeo_stats_result_t r = tu_compute(s);
    ck_assert_uint_eq(r.flags & SIGEO_STATS_HAS_FR, 0);
    ck_assert(isfinite(r.score));
    sigeo_stats_destroy(s);
}
END_TEST

static Suite *fr_suite(void)
{
    Suite *s = suite_create("stats_fisher_rao");
    TCase *tc = tcase_create("fisher_rao");
    tcase_add_test(tc, exact_fr_is_the_mean_square_over_all_samples_of_unequal_batches);
    tcase_add_test(tc, identity_estimator_has_the_exact_arithmetic);
    tcase_add_test(tc, zero_fr_gives_minus_infinity_and_the_flag);
    tcase_add_test(tc, fr_is_invariant_to_moving_samples_between_batches);
    tcase_add_test(tc, exact_fr_matches_a_reference_on_many_samples);
    tcase_add_test(tc, reference_recsys_is_abs_theta_dot_summed_gradients);
    tcase_add_test(tc, reference_cv_sums_abs_module_dots_over_modules_zico_keeps);
    tcase_add_test(tc, reference_fr_of_zero_uses_the_epsilon_and_no_flag);
    tcase_add_test(tc, reference_estimator_with_lambda2_zero_needs_no_params);
    tcase_add_test(tc, params_under_the_exact_estimator_fill_the_diagnostic);
    tcase_add_test(tc, exact_fr_without_directional_data_and_lambda2_zero_is_absent);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(fr_suite());
}
