/* sigeo_stats_aggregate against ranks and z-scores written out by hand for
 * small candidate sets (ties, infinities, weights), and its errors. */
#include <check.h>
#include <math.h>

#include "sigeo/stats.h"
#include "test_util.h"

/* Three proxies over four candidates. Ascending average ranks, by hand:
 *   p0 = { 1, 4, 2, 3 }        -> ranks { 1, 4, 2, 3 }
 *   p1 = { 5, 5, -inf, 7 }     -> ranks { 2.5, 2.5, 1, 4 }
 *   p2 = { 0.1, 0.3, 0.2, 0.2 } -> ranks { 1, 4, 2.5, 2.5 } */
static const double S[3 * 4] = { 1, 4, 2, 3, 5, 5, -INFINITY, 7, 0.1, 0.3, 0.2, 0.2 };
static const double R[3][4] = { { 1, 4, 2, 3 }, { 2.5, 2.5, 1, 4 }, { 1, 4, 2.5, 2.5 } };

START_TEST(log_rank_is_az_nas_sum_of_log_rank_over_n)
{
    double out[4];
    ck_assert_int_eq(sigeo_stats_aggregate(out, S, 4, 3, NULL, SIGEO_AGG_LOG_RANK), SIGEO_OK);
    for (int c = 0; c < 4; c++)
        ck_assert_near(out[c], log(R[0][c] / 4) + log(R[1][c] / 4) + log(R[2][c] / 4), 1e-15, 1e-15);
    /* candidate 1 is best by every proxy but p1's tie: it wins */
    ck_assert(out[1] > out[0] && out[1] > out[2] && out[1] > out[3]);
    const double w[3] = { 2, 0, 1 };
    ck_assert_int_eq(sigeo_stats_aggregate(out, S, 4, 3, w, SIGEO_AGG_LOG_RANK), SIGEO_OK);
    for (int c = 0; c < 4; c++)
        ck_assert_near(out[c], 2 * log(R[0][c] / 4) + log(R[2][c] / 4), 1e-15, 1e-15);
}
END_TEST

START_TEST(mean_rank_is_the_weighted_mean)
{
    double out[4];
    const double w[3] = { 1, 3, 0 };
    ck_assert_int_eq(sigeo_stats_aggregate(out, S, 4, 3, w, SIGEO_AGG_MEAN_RANK), SIGEO_OK);
    for (int c = 0; c < 4; c++)
        ck_assert_near(out[c], (R[0][c] + 3 * R[1][c]) / 4, 1e-15, 0);
}
END_TEST

START_TEST(zscore_sum_with_ddof_0_and_constant_proxies_adding_nothing)
{
    const double s[2 * 3] = { 1, 2, 3, 7, 7, 7 };
    double out[3];
    ck_assert_int_eq(sigeo_stats_aggregate(out, s, 3, 2, (const double[]){ 0.5, 4 }, SIGEO_AGG_ZSCORE), SIGEO_OK);
    const double sd = sqrt(2.0 / 3.0); /* of {1, 2, 3}, ddof 0 */
    ck_assert_near(out[0], 0.5 * -1 / sd, 1e-15, 0);
    ck_assert_near(out[1], 0.0, 0, 1e-15);
    ck_assert_near(out[2], 0.5 * 1 / sd, 1e-15, 0);
}
END_TEST

/* Infinite scores under z-scores: each proxy's mean and std over its
 * finite scores only, a candidate with an infinite score gets that
 * infinity (-inf winning), a weight-0 proxy's infinities count for nothing.
 * By hand, over 4 candidates:
 *   p0 = { 1, 4, 2, 3 }:        mean 2.5, var (2.25 + 2.25 + .25 + .25) / 4 = 1.25
 *   p1 = { 5, 5, -inf, 7 }:     finite { 5, 5, 7 }: mean 17/3, var (4/9 + 4/9 + 16/9) / 3 = 8/9
 *   p2 = { 0, +inf, 1, -inf }   (weight 0 in the second call) */
START_TEST(zscore_with_infinite_scores_ranks_them_at_the_ends)
{
    double out[4];
    ck_assert_int_eq(sigeo_stats_aggregate(out, S, 4, 2, NULL, SIGEO_AGG_ZSCORE), SIGEO_OK);
    const double z0[4] = { -1.5 / sqrt(1.25), 1.5 / sqrt(1.25), -0.5 / sqrt(1.25), 0.5 / sqrt(1.25) };
    const double m1 = 17.0 / 3.0, sd1 = sqrt(8.0 / 9.0);
    ck_assert_near(out[0], z0[0] + (5 - m1) / sd1, 1e-14, 1e-14);
    ck_assert_near(out[1], z0[1] + (5 - m1) / sd1, 1e-14, 1e-14);
    ck_assert(isinf(out[2]) && out[2] < 0);
    ck_assert_near(out[3], z0[3] + (7 - m1) / sd1, 1e-14, 1e-14);
    double s3[3 * 4];
    for (int i = 0; i < 8; i++)
        s3[i] = S[i];
    const double p2[4] = { 0, INFINITY, 1, -INFINITY };
    for (int c = 0; c < 4; c++)
        s3[8 + c] = p2[c];
    ck_assert_int_eq(sigeo_stats_aggregate(out, s3, 4, 3, NULL, SIGEO_AGG_ZSCORE), SIGEO_OK);
    /* p2 finite { 0, 1 }: mean 0.5, sd 0.5 -> candidate 0 gets -1 more */
    ck_assert_near(out[0], z0[0] + (5 - m1) / sd1 - 1.0, 1e-14, 1e-14);
    ck_assert(isinf(out[1]) && out[1] > 0); /* +inf under p2 */
    ck_assert(isinf(out[2]) && out[2] < 0); /* -inf under p1, +1 z under p2: -inf wins */
    ck_assert(isinf(out[3]) && out[3] < 0);
    ck_assert_int_eq(sigeo_stats_aggregate(out, s3, 4, 3, (const double[]){ 1, 1, 0 }, SIGEO_AGG_ZSCORE), SIGEO_OK);
    ck_assert(isfinite(out[1]) && isfinite(out[3]) && isinf(out[2]));
    ck_assert_near(out[1], z0[1] + (5 - m1) / sd1, 1e-14, 1e-14);
    /* a candidate infinite in one proxy and -inf in another: -inf */
    const double pm[2 * 2] = { INFINITY, 1, 2, -INFINITY };
    ck_assert_int_eq(sigeo_stats_aggregate(out, pm, 2, 2, NULL, SIGEO_AGG_ZSCORE), SIGEO_OK);
    ck_assert(isinf(out[0]) && out[0] > 0);
    ck_assert(isinf(out[1]) && out[1] < 0);
    const double pm2[2 * 2] = { INFINITY, 1, -INFINITY, 2 };
    ck_assert_int_eq(sigeo_stats_aggregate(out, pm2, 2, 2, NULL, SIGEO_AGG_ZSCORE), SIGEO_OK);
    ck_assert(isinf(out[0]) && out[0] < 0);
    ck_assert(out[1] == 0.0); /* each proxy has one finite score: std 0, adds 0 */
}
END_TEST

START_TEST(bad_input_is_named)
{
    double out[4];
    const double nan_s[2] = { 1, NAN };
    ck_assert_int_eq(sigeo_stats_aggregate(out, nan_s, 2, 1, NULL, SIGEO_AGG_LOG_RANK), SIGEO_ERR_NONFINITE);
    ck_assert_str_contains(sigeo_last_error(), "candidate 1");
    const double nan_z[2 * 2] = { 1, 2, 3, NAN };
    ck_assert_int_eq(sigeo_stats_aggregate(out, nan_z, 2, 2, NULL, SIGEO_AGG_ZSCORE), SIGEO_ERR_NONFINITE);
    ck_assert_str_contains(sigeo_last_error(), "proxy 1, candidate 1");
    ck_assert_int_eq(sigeo_stats_aggregate(out, S, 4, 3, (const double[]){ 0, 0, 0 }, SIGEO_AGG_MEAN_RANK),
                     SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_stats_aggregate(out, S, 4, 3, (const double[]){ 1, -1, 0 }, SIGEO_AGG_MEAN_RANK),
                     SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_stats_aggregate(out, S, 4, 3, NULL, (sigeo_rank_aggregation_t)3), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_stats_aggregate(out, S, 0, 3, NULL, SIGEO_AGG_LOG_RANK), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_stats_aggregate(NULL, S, 4, 3, NULL, SIGEO_AGG_LOG_RANK), SIGEO_ERR_INVALID_ARG);
}
END_TEST

/* The caller-owned work space: the same hand-derived values, a buffer for
 * more candidates serving fewer, dirty scratch not mattering, and its
 * errors naming the size needed. */
START_TEST(work_space_variant_gives_the_hand_values)
{
    size_t need = 0;
    ck_assert_int_eq(sigeo_stats_aggregate_work_size(&need, 4), SIGEO_OK);
    ck_assert_uint_ge(need, 4 * 2 * sizeof(double));
    size_t need8 = 0;
    ck_assert_int_eq(sigeo_stats_aggregate_work_size(&need8, 8), SIGEO_OK);
    ck_assert_uint_eq(need8, 2 * need); /* linear in n */
    static double work[64];
    ck_assert_uint_le(need8, sizeof work);
    for (int i = 0; i < 64; i++)
        work[i] = NAN; /* scratch: whatever it held does not matter */
    double out[4];
    ck_assert_int_eq(sigeo_stats_aggregate_with(out, S, 4, 3, NULL, SIGEO_AGG_LOG_RANK, work, need8), SIGEO_OK);
    for (int c = 0; c < 4; c++)
        ck_assert_near(out[c], log(R[0][c] / 4) + log(R[1][c] / 4) + log(R[2][c] / 4), 1e-15, 1e-15);
    const double w[3] = { 1, 3, 0 };
    ck_assert_int_eq(sigeo_stats_aggregate_with(out, S, 4, 3, w, SIGEO_AGG_MEAN_RANK, work, need), SIGEO_OK);
    for (int c = 0; c < 4; c++)
        ck_assert_near(out[c], (R[0][c] + 3 * R[1][c]) / 4, 1e-15, 0);
    const double z[3] = { 1, 2, 3 };
    ck_assert_int_eq(sigeo_stats_aggregate_with(out, z, 3, 1, NULL, SIGEO_AGG_ZSCORE, work, need), SIGEO_OK);
    ck_assert_near(out[2], 1 / sqrt(2.0 / 3.0), 1e-15, 0);
    /* errors */
    ck_assert_int_eq(sigeo_stats_aggregate_with(out, S, 4, 3, NULL, SIGEO_AGG_LOG_RANK, work, need - 1),
                     SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "need");
    ck_assert_int_eq(sigeo_stats_aggregate_with(out, S, 4, 3, NULL, SIGEO_AGG_LOG_RANK, NULL, need),
                     SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_stats_aggregate_with(out, S, 4, 3, NULL, SIGEO_AGG_LOG_RANK, (char *)work + 1, need),
                     SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "aligned");
    ck_assert_int_eq(sigeo_stats_aggregate_with(out, S, 4, 3, NULL, SIGEO_AGG_LOG_RANK, work, need),
                     SIGEO_OK); /* usable after the errors */
    const double nan_s[2] = { 1, NAN };
    ck_assert_int_eq(sigeo_stats_aggregate_with(out, nan_s, 2, 1, NULL, SIGEO_AGG_LOG_RANK, work, need),
                     SIGEO_ERR_NONFINITE);
    ck_assert_int_eq(sigeo_stats_aggregate_work_size(&need, 0), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_stats_aggregate_work_size(&need, INT64_MAX), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "too many");
    ck_assert_int_eq(sigeo_stats_aggregate_work_size(NULL, 4), SIGEO_ERR_INVALID_ARG);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stats_ensemble");
    TCase *tc = tcase_create("ensemble");
    tcase_add_test(tc, log_rank_is_az_nas_sum_of_log_rank_over_n);
    tcase_add_test(tc, mean_rank_is_the_weighted_mean);
    tcase_add_test(tc, zscore_sum_with_ddof_0_and_constant_proxies_adding_nothing);
    tcase_add_test(tc, zscore_with_infinite_scores_ranks_them_at_the_ends);
    tcase_add_test(tc, bad_input_is_named);
    tcase_add_test(tc, work_space_variant_gives_the_hand_values);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
