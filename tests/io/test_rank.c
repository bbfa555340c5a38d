/* Rank correlations (lib/stats/rank.c) against values derived by hand and
 * against brute-force O(n^2) definitions. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "sigeo/stats.h"
#include "test_util.h"

START_TEST(spearman_without_ties_matches_the_d_squared_formula)
{
    /* x ranks 1..5, y = (2,1,4,3,5) ranks the same; d = (-1,1,-1,1,0),
     * sum d^2 = 4, rho = 1 - 6*4 / (5*(25-1)) = 1 - 24/120 = 0.8. */
    const double x[] = { 1, 2, 3, 4, 5 }, y[] = { 2, 1, 4, 3, 5 };
    double rho = 0;
    ck_assert_int_eq(sigeo_stats_spearman(&rho, x, y, 5), SIGEO_OK);
    ck_assert_near(rho, 0.8, 1e-15, 0);
}
END_TEST

START_TEST(spearman_gives_ties_their_average_rank)
{
    /* x = (1,2,2,3) -> ranks (1, 2.5, 2.5, 4); y = (1,3,2,4) -> ranks (1,3,2,4).
     * Both means are 2.5: dx = (-1.5,0,0,1.5), dy = (-1.5,0.5,-0.5,1.5).
     * sxy = 2.25 + 2.25 = 4.5, sxx = 4.5, syy = 2.25+0.25+0.25+2.25 = 5,
     * rho = 4.5 / sqrt(4.5 * 5) = 4.5 / sqrt(22.5). */
    const double x[] = { 1, 2, 2, 3 }, y[] = { 1, 3, 2, 4 };
    double rho = 0;
    ck_assert_int_eq(sigeo_stats_spearman(&rho, x, y, 4), SIGEO_OK);
    ck_assert_near(rho, 4.5 / sqrt(22.5), 1e-15, 0);
}
END_TEST

START_TEST(spearman_with_ties_in_both_inputs)
{
    /* x = (1,1,2,2,3) -> (1.5,1.5,3.5,3.5,5); y = (1,1,2,3,3) -> (1.5,1.5,3,4.5,4.5).
     * Means 3: dx = (-1.5,-1.5,.5,.5,2), dy = (-1.5,-1.5,0,1.5,1.5).
     * sxy = 2.25+2.25+0+0.75+3 = 8.25, sxx = 9, syy = 9 -> rho = 8.25/9. */
    const double x[] = { 1, 1, 2, 2, 3 }, y[] = { 1, 1, 2, 3, 3 };
    double rho = 0;
    ck_assert_int_eq(sigeo_stats_spearman(&rho, x, y, 5), SIGEO_OK);
    ck_assert_near(rho, 8.25 / 9.0, 1e-15, 0);
}
END_TEST

START_TEST(kendall_without_ties_counts_discordant_pairs)
{
    /* y = (2,1,4,3,5) against x = 1..5: discordant pairs (0,1) and (2,3),
     * the other 8 of the 10 concordant: tau = (8 - 2) / 10 = 0.6. */
    const double x[] = { 1, 2, 3, 4, 5 }, y[] = { 2, 1, 4, 3, 5 };
    double tau = 0;
    ck_assert_int_eq(sigeo_stats_kendall_tau(&tau, x, y, 5), SIGEO_OK);
    ck_assert_near(tau, 0.6, 1e-15, 0);
}
END_TEST

START_TEST(kendall_tau_b_corrects_for_ties_in_x)
{
    /* x = (1,2,2,3), y = (1,3,2,4): pair (1,2) is tied in x, the other 5 are
     * concordant. n0 = 6, n1 = 1, n2 = 0: tau_b = 5 / sqrt(5 * 6). */
    const double x[] = { 1, 2, 2, 3 }, y[] = { 1, 3, 2, 4 };
    double tau = 0;
    ck_assert_int_eq(sigeo_stats_kendall_tau(&tau, x, y, 4), SIGEO_OK);
    ck_assert_near(tau, 5.0 / sqrt(30.0), 1e-15, 0);
}
END_TEST

START_TEST(kendall_tau_b_with_joint_ties)
{
    /* x = (1,1,2,2,3), y = (1,1,2,3,3). Pairs: (0,1) tied in both, (2,3)
     * tied in x only, (3,4) tied in y only, the other 7 concordant, none
     * discordant. n0 = 10, n1 = 2 ({0,1},{2,3}), n2 = 2 ({0,1},{3,4}):
     * tau_b = 7 / sqrt(8 * 8) = 0.875. */
    const double x[] = { 1, 1, 2, 2, 3 }, y[] = { 1, 1, 2, 3, 3 };
    double tau = 0;
    ck_assert_int_eq(sigeo_stats_kendall_tau(&tau, x, y, 5), SIGEO_OK);
    ck_assert_near(tau, 0.875, 1e-15, 0);
}
END_TEST

START_TEST(reversed_order_gives_minus_one)
{
    const double x[] = { 1, 2, 3, 4, 5, 6 }, y[] = { 60, 50, 40, 30, 20, 10 };
    double rho = 0, tau = 0;
    ck_assert_int_eq(sigeo_stats_spearman(&rho, x, y, 6), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_kendall_tau(&tau, x, y, 6), SIGEO_OK);
    ck_assert_double_eq(rho, -1.0);
    ck_assert_double_eq(tau, -1.0);
}
END_TEST

START_TEST(infinities_rank_as_extremes)
{
    /* -inf is the smallest, +inf the largest value: same order as y. */
    const double x[] = { -INFINITY, 0.5, 2.0, INFINITY }, y[] = { 1, 2, 3, 4 };
    double rho = 0, tau = 0;
    ck_assert_int_eq(sigeo_stats_spearman(&rho, x, y, 4), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_kendall_tau(&tau, x, y, 4), SIGEO_OK);
    ck_assert_double_eq(rho, 1.0);
    ck_assert_double_eq(tau, 1.0);
}
END_TEST

START_TEST(nan_is_rejected_and_named)
{
    const double x[] = { 1, NAN, 3 }, y[] = { 1, 2, 3 };
    double out = 0;
    ck_assert_int_eq(sigeo_stats_spearman(&out, x, y, 3), SIGEO_ERR_NONFINITE);
    ck_assert(isnan(out));
    ck_assert_str_contains(sigeo_last_error(), "x[1]");
    ck_assert_int_eq(sigeo_stats_kendall_tau(&out, y, x, 3), SIGEO_ERR_NONFINITE);
    ck_assert_str_contains(sigeo_last_error(), "y[1]");
}
END_TEST

START_TEST(constant_input_is_an_error_with_nan_result)
{
    const double x[] = { 2, 2, 2 }, y[] = { 1, 2, 3 };
    double out = 0;
    ck_assert_int_eq(sigeo_stats_spearman(&out, x, y, 3), SIGEO_ERR_INVALID_ARG);
    ck_assert(isnan(out));
    ck_assert_str_contains(sigeo_last_error(), "constant");
    out = 0;
    ck_assert_int_eq(sigeo_stats_kendall_tau(&out, y, x, 3), SIGEO_ERR_INVALID_ARG);
    ck_assert(isnan(out));
    ck_assert_str_contains(sigeo_last_error(), "y is constant");
}
END_TEST

START_TEST(too_few_pairs_and_nulls_are_rejected)
{
    const double x[] = { 1, 2 };
    double out;
    ck_assert_int_eq(sigeo_stats_spearman(&out, x, x, 1), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_stats_kendall_tau(&out, x, x, 0), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_stats_kendall_tau(&out, NULL, x, 2), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_stats_spearman(NULL, x, x, 2), SIGEO_ERR_INVALID_ARG);
}
END_TEST

/* O(n^2) definitions, straight from the formulas. */
static double brute_kendall(const double *x, const double *y, int n)
{
    double nc = 0, nd = 0, tx = 0, ty = 0, n0 = n * (n - 1) / 2.0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            double dx = x[i] - x[j], dy = y[i] - y[j];
            if (dx == 0)
                tx++;
            if (dy == 0)
                ty++;
            if (dx * dy > 0)
                nc++;
            else if (dx * dy < 0)
                nd++;
        }
    return (nc - nd) / sqrt((n0 - tx) * (n0 - ty));
}

static void brute_ranks(double *r, const double *v, int n)
{
    for (int i = 0; i < n; i++) {
        double less = 0, equal = 0;
        for (int j = 0; j < n; j++) {
            less += v[j] < v[i];
            equal += v[j] == v[i];
        }
        r[i] = less + (equal + 1) / 2.0;
    }
}

static double brute_spearman(const double *x, const double *y, int n)
{
    double *rx = malloc(sizeof(double) * (size_t)n), *ry = malloc(sizeof(double) * (size_t)n);
    brute_ranks(rx, x, n);
    brute_ranks(ry, y, n);
    double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < n; i++) {
        mx += rx[i] / n;
        my += ry[i] / n;
    }
    for (int i = 0; i < n; i++) {
        sxy += (rx[i] - mx) * (ry[i] - my);
        sxx += (rx[i] - mx) * (rx[i] - mx);
        syy += (ry[i] - my) * (ry[i] - my);
    }
    free(rx);
    free(ry);
    return sxy / sqrt(sxx * syy);
}

START_TEST(fast_algorithms_match_brute_force_with_many_ties)
{
    tu_rng_t rng = { 42 };
    enum { N = 600 };
    static double x[N], y[N];
    for (int round = 0; round < 5; round++) {
        int levels = 3 + round * 7; /* few distinct values: lots of ties */
        for (int i = 0; i < N; i++) {
            x[i] = (double)(tu_next(&rng) % (uint64_t)levels);
            y[i] = 0.5 * x[i] + (double)(tu_next(&rng) % (uint64_t)levels);
        }
        double tau = 0, rho = 0;
        ck_assert_int_eq(sigeo_stats_kendall_tau(&tau, x, y, N), SIGEO_OK);
        ck_assert_int_eq(sigeo_stats_spearman(&rho, x, y, N), SIGEO_OK);
        ck_assert_near(tau, brute_kendall(x, y, N), 1e-12, 1e-14);
        ck_assert_near(rho, brute_spearman(x, y, N), 1e-12, 1e-14);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rank");
    TCase *tc = tcase_create("rank");
    tcase_add_test(tc, spearman_without_ties_matches_the_d_squared_formula);
    tcase_add_test(tc, spearman_gives_ties_their_average_rank);
    tcase_add_test(tc, spearman_with_ties_in_both_inputs);
    tcase_add_test(tc, kendall_without_ties_counts_discordant_pairs);
    tcase_add_test(tc, kendall_tau_b_corrects_for_ties_in_x);
    tcase_add_test(tc, kendall_tau_b_with_joint_ties);
    tcase_add_test(tc, reversed_order_gives_minus_one);
    tcase_add_test(tc, infinities_rank_as_extremes);
    tcase_add_test(tc, nan_is_rejected_and_named);
    tcase_add_test(tc, constant_input_is_an_error_with_nan_result);
    tcase_add_test(tc, too_few_pairs_and_nulls_are_rejected);
    tcase_add_test(tc, fast_algorithms_match_brute_force_with_many_ties);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
