/* sigeo_stats_rank_bootstrap against a reference written here: the same
 * documented resample stream (the library's xoshiro256** through the
 * internal rng, the only shared piece), naive O(n^2) Spearman (Pearson of
 * average ranks) and Kendall tau-b by pair counting, and numpy's linear
 * quantile. Plus the interval brackets the point estimate, y = x gives
 * [1, 1], and bad input fails with a message. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "sigeo/stats.h"

static void ranks(double *r, const double *v, int n)
{
    for (int i = 0; i < n; i++) {
        int less = 0, equal = 0;
        for (int j = 0; j < n; j++) {
            less += v[j] < v[i];
            equal += v[j] == v[i];
        }
        r[i] = less + (equal + 1) / 2.0;
    }
}

static int naive_spearman(double *out, const double *x, const double *y, int n)
{
    double rx[64], ry[64], mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
    ranks(rx, x, n);
    ranks(ry, y, n);
    for (int i = 0; i < n; i++) {
        mx += rx[i] / n;
        my += ry[i] / n;
    }
    for (int i = 0; i < n; i++) {
        sxy += (rx[i] - mx) * (ry[i] - my);
        sxx += (rx[i] - mx) * (rx[i] - mx);
        syy += (ry[i] - my) * (ry[i] - my);
    }
    if (sxx == 0 || syy == 0)
        return 0;
    *out = sxy / sqrt(sxx * syy);
    return 1;
}

static int naive_kendall(double *out, const double *x, const double *y, int n)
{
    double c = 0, d = 0, tx = 0, ty = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            const double a = x[i] - x[j], b = y[i] - y[j];
            if (a == 0 && b == 0)
                continue;
            if (a == 0)
                tx++;
            else if (b == 0)
                ty++;
            else if (a * b > 0)
                c++;
            else
                d++;
        }
    if (c + d + tx == 0 || c + d + ty == 0)
        return 0;
    *out = (c - d) / sqrt((c + d + tx) * (c + d + ty));
    return 1;
}

static int cmp(const void *a, const void *b)
{
    const double p = *(const double *)a, q = *(const double *)b;
    return (p > q) - (p < q);
}

static double lin_quantile(const double *v, int m, double q)
{
    const double pos = q * (m - 1);
    const int i = (int)floor(pos);
    return i >= m - 1 ? v[m - 1] : v[i] + (pos - i) * (v[i + 1] - v[i]);
}

static void reference(double *lo, double *hi, const double *x, const double *y, int n, int kind, int B, double level,
                      uint64_t seed)
{
    sigeo__rng_t rng;
    sigeo__rng_seed(&rng, seed);
    double *vals = malloc((size_t)B * sizeof *vals), rx[64], ry[64];
    int kept = 0;
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < n; i++) {
            const int j = (int)sigeo__rng_below(&rng, (uint64_t)n);
            rx[i] = x[j];
            ry[i] = y[j];
        }
        double r;
        if (kind == 0 ? naive_spearman(&r, rx, ry, n) : naive_kendall(&r, rx, ry, n))
            vals[kept++] = r;
    }
    qsort(vals, (size_t)kept, sizeof *vals, cmp);
    *lo = lin_quantile(vals, kept, (1 - level) / 2);
    *hi = lin_quantile(vals, kept, (1 + level) / 2);
    free(vals);
}

START_TEST(bootstrap_matches_the_reference_resampling)
{
    enum { N = 25 };
    double x[N], y[N];
    unsigned s = 3;
    for (int i = 0; i < N; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (double)(s >> 8) / 16777216.0;
        s = s * 1664525u + 1013904223u;
        y[i] = x[i] + 0.6 * ((double)(s >> 8) / 16777216.0) + (i % 5 == 0 ? 0.0 : 0.0);
    }
    x[3] = x[7]; /* a tie */
    for (int kind = 0; kind < 2; kind++)
        for (uint64_t seed = 1; seed <= 2; seed++) {
            double lo, hi, wlo, whi, point;
            ck_assert_int_eq(sigeo_stats_rank_bootstrap(&lo, &hi, x, y, N, kind, 400, 0.95, seed), SIGEO_OK);
            reference(&wlo, &whi, x, y, N, kind, 400, 0.95, seed);
            ck_assert_msg(fabs(lo - wlo) < 1e-12 && fabs(hi - whi) < 1e-12, "kind %d: [%.15g, %.15g], reference [%.15g, %.15g]",
                          kind, lo, hi, wlo, whi);
            ck_assert_int_eq(kind == 0 ? sigeo_stats_spearman(&point, x, y, N) : sigeo_stats_kendall_tau(&point, x, y, N),
                             SIGEO_OK);
            ck_assert(lo < point && point < hi);
            ck_assert(hi - lo > 0.01);
        }
}
END_TEST

START_TEST(bootstrap_of_a_monotone_relation_is_one)
{
    double x[10], y[10];
    for (int i = 0; i < 10; i++) {
        x[i] = i;
        y[i] = exp(i);
    }
    double lo, hi;
    ck_assert_int_eq(sigeo_stats_rank_bootstrap(&lo, &hi, x, y, 10, SIGEO_RANK_KENDALL, 200, 0.9, 5), SIGEO_OK);
    ck_assert(lo == 1.0 && hi == 1.0);
}
END_TEST

START_TEST(bootstrap_bad_input_fails_clearly)
{
    double x[3] = { 1, 2, 3 }, y[3] = { 1, NAN, 2 }, c[3] = { 1, 1, 1 }, lo, hi;
    ck_assert_int_eq(sigeo_stats_rank_bootstrap(&lo, &hi, x, y, 3, 0, 100, 0.95, 1), SIGEO_ERR_NONFINITE);
    ck_assert(isnan(lo) && isnan(hi));
    ck_assert_int_eq(sigeo_stats_rank_bootstrap(&lo, &hi, x, c, 3, 0, 100, 0.95, 1), SIGEO_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sigeo_last_error(), "constant") != NULL, "%s", sigeo_last_error());
    ck_assert_int_eq(sigeo_stats_rank_bootstrap(&lo, &hi, x, x, 3, 2, 100, 0.95, 1), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_stats_rank_bootstrap(&lo, &hi, x, x, 3, 0, 1, 0.95, 1), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_stats_rank_bootstrap(&lo, &hi, x, x, 3, 0, 100, 1.0, 1), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_stats_rank_bootstrap(NULL, &hi, x, x, 3, 0, 100, 0.5, 1), SIGEO_ERR_INVALID_ARG);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("bootstrap");
    TCase *tc = tcase_create("bootstrap");
    tcase_add_test(tc, bootstrap_matches_the_reference_resampling);
    tcase_add_test(tc, bootstrap_of_a_monotone_relation_is_one);
    tcase_add_test(tc, bootstrap_bad_input_fails_clearly);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
