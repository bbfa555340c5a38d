/* Pins lib/stats/zico.c through the public API: the first SiGeo term in its
 * three variants (docs/proxies.md §1.1, §1.2, §2, D4, D5). Expectations are hand
 * closed forms or the two-pass double reference below, never the library.
 *
 * Tolerances: the accumulators hold floats (stats.h), so mu and M2 carry a
 * relative rounding of 2^-24 (6e-8) each per stored update; over the few
 * batches used here a ratio is off by well under 1e-6 relative, hence 1e-6
 * on sums of ratios and 1e-6 absolute on their logs. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sigeo/stats.h"
#include "test_util.h"

#define RTOL 1e-6
#define LOG_ATOL 1e-6

/* ----------------------------------------------------- two-pass reference */

typedef struct ref_module {
    double ratio_sum;  /* sum over sigma != 0 of mu/sigma */
    double first;      /* mu/sigma of the first such element */
    int64_t nonzero;   /* elements with sigma != 0 */
} ref_module_t;

/* g is [k][n] row-major (batch i, element j). sigma == 0 exactly when all k
 * values are equal, which the reference decides by comparing values rather
 * than trusting a rounded variance. */
static ref_module_t ref_zico_module(const float *g, int k, int64_t n, int ddof)
{
    ref_module_t r = { 0.0, 0.0, 0 };
    for (int64_t j = 0; j < n; j++) {
        int all_equal = 1;
        double sum = 0.0, sum_abs = 0.0;
        for (int i = 0; i < k; i++) {
            double x = (double)g[(int64_t)i * n + j];
            sum += x;
            sum_abs += fabs(x);
            if (g[(int64_t)i * n + j] != g[j])
                all_equal = 0;
        }
        if (all_equal)
            continue;
        const double mean = sum / k, mu = sum_abs / k;
        double ss = 0.0;
        for (int i = 0; i < k; i++) {
            double dv = (double)g[(int64_t)i * n + j] - mean;
            ss += dv * dv;
        }
        const double ratio = mu / sqrt(ss / (double)(k - ddof));
        if (r.nonzero == 0)
            r.first = ratio;
        r.ratio_sum += ratio;
        r.nonzero++;
    }
    return r;
}

/* ------------------------------------------------------------- fixtures */

typedef struct mod {
    const char *name;
    int64_t n;
    const float *g; /* [k][n] */
} mod_t;

/* A handle with only the ZiCo term (lambda = 1, 0, 0) fed k batches. */
static sigeo_stats_t *feed(int32_t variant, uint32_t ddof, const mod_t *mods, int n_mods, int k)
{
    sigeo_stats_options_t o = tu_options(variant, SIGEO_FR_EXACT, SIGEO_LOSS_MEAN, ddof, 1.0, 0.0, 0.0);
    const char *names[8];
    int64_t counts[8];
    ck_assert_int_le(n_mods, 8);
    for (int m = 0; m < n_mods; m++) {
        names[m] = mods[m].name;
        counts[m] = mods[m].n;
    }
    sigeo_stats_t *s = tu_stats_new(&o, n_mods, names, counts);
    for (int i = 0; i < k; i++) {
        const float *gp[8];
        for (int m = 0; m < n_mods; m++)
            gp[m] = mods[m].g + (int64_t)i * mods[m].n;
        ck_assert_int_eq(tu_add(s, (uint32_t)n_mods, gp, counts, 0.5, 1, NULL), SIGEO_OK);
    }
    return s;
}

/* Tolerance of the closed forms below: the accumulator stores sqrt(M2) as a
 * float (so its range is the gradients' own), i.e. each sigma_j carries one
 * float rounding, relative error <= 2^-24 = 6e-8; ZTOL allows a few of them. */
#define ZTOL 3e-7

/* ------------------------------------------------------------- k = 2 */

START_TEST(two_batches_ratio_is_abs_sum_over_abs_difference)
{
    /* docs/proxies.md §2: with 2 batches mu/sigma = (|a| + |b|) / |a - b|.
     * Module w: (1+3)/2 = 2, (2+2)/4 = 1, (0.5+1.5)/2 = 1, last element equal
     * in both batches (sigma 0, left out): sum 4.
     * Module b: (0.25+0.75)/0.5 = 2, (1+1)/2 = 1: sum 3. */
    static const float w[2][4] = { { 1.0f, -2.0f, 0.5f, 3.0f }, { 3.0f, 2.0f, -1.5f, 3.0f } };
    static const float b[2][2] = { { 0.25f, 1.0f }, { 0.75f, -1.0f } };
    const mod_t mods[2] = { { "w", 4, &w[0][0] }, { "b", 2, &b[0][0] } };
    sigeo_stats_t *s = feed(SIGEO_ZICO_MODULE_WISE, 0, mods, 2, 2);
    sigeo_stats_result_t r = tu_compute(s);
    ck_assert_near(r.zico, log(4.0) + log(3.0), 0.0, ZTOL);
    ck_assert_near(r.score, log(12.0), 0.0, ZTOL);
    ck_assert_uint_eq(r.n_modules_skipped, 0);
    ck_assert_uint_eq(r.flags & SIGEO_STATS_ALL_SKIPPED, 0);

    sigeo_stats_module_info_t i0 = tu_info(s, 0), i1 = tu_info(s, 1);
    ck_assert_str_eq(i0.name, "w");
    ck_assert_int_eq(i0.n_params, 4);
    ck_assert_int_eq(i0.n_nonzero_sigma, 3);
    ck_assert_uint_eq(i0.skipped, 0);
    ck_assert_near(i0.ratio_sum, 4.0, ZTOL, 0.0);
    ck_assert_near(i0.zico_term, log(4.0), 0.0, ZTOL);
    ck_assert_str_eq(i1.name, "b");
    ck_assert_int_eq(i1.n_nonzero_sigma, 2);
    ck_assert_near(i1.ratio_sum, 3.0, ZTOL, 0.0);
    sigeo_stats_destroy(s);
}
END_TEST

START_TEST(two_batches_random_match_the_closed_form)
{
    enum { N0 = 1000, N1 = 257 };
    static float g0[2][N0], g1[2][N1];
    tu_rng_t rng = { 11 };
    for (int i = 0; i < 2; i++) {
        for (int j = 0; j < N0; j++)
            g0[i][j] = tu_uniform_f(&rng) * 1e-3f;
        for (int j = 0; j < N1; j++)
            g1[i][j] = tu_uniform_f(&rng) * 40.0f;
    }
    double want0 = 0.0, want1 = 0.0;
    for (int j = 0; j < N0; j++)
        if (g0[0][j] != g0[1][j])
            want0 += (fabs((double)g0[0][j]) + fabs((double)g0[1][j])) / fabs((double)g0[0][j] - (double)g0[1][j]);
    for (int j = 0; j < N1; j++)
        if (g1[0][j] != g1[1][j])
            want1 += (fabs((double)g1[0][j]) + fabs((double)g1[1][j])) / fabs((double)g1[0][j] - (double)g1[1][j]);
    const mod_t mods[2] = { { "small", N0, &g0[0][0] }, { "large", N1, &g1[0][0] } };
    sigeo_stats_t *s = feed(SIGEO_ZICO_MODULE_WISE, 0, mods, 2, 2);
    sigeo_stats_result_t r = tu_compute(s);
    ck_assert_near(tu_info(s, 0).ratio_sum, want0, RTOL, 0.0);
    ck_assert_near(tu_info(s, 1).ratio_sum, want1, RTOL, 0.0);
    ck_assert_near(r.zico, log(want0) + log(want1), 0.0, 2 * LOG_ATOL);
    sigeo_stats_destroy(s);
}
END_TEST

/* ------------------------------------------------------------- k = 4 */

/* Module A: {1,3,1,3}: mean 2, mu 2, population var 1 -> ratio 2;
 *           {0,0,0,4}: mean 1, mu 1, var (1+1+1+9)/4 = 3 -> ratio 1/sqrt(3);
 *           {-1,-1,-1,-1}: sigma 0, left out.
 * Module B: {2,-2,2,-2}: mean 0, mu 2, var 4 -> ratio 1; {5,5,5,5} left out.
 * Module C: constant in every element -> skipped. */
static const float kA[4][3] = { { 1, 0, -1 }, { 3, 0, -1 }, { 1, 0, -1 }, { 3, 4, -1 } };
static const float kB[4][2] = { { 2, 5 }, { -2, 5 }, { 2, 5 }, { -2, 5 } };
static const float kC[4][2] = { { 0.5f, -7 }, { 0.5f, -7 }, { 0.5f, -7 }, { 0.5f, -7 } };
static const mod_t k4_mods[3] = { { "A", 3, &kA[0][0] }, { "B", 2, &kB[0][0] }, { "C", 2, &kC[0][0] } };

START_TEST(four_batches_population_std)
{
    sigeo_stats_t *s = feed(SIGEO_ZICO_MODULE_WISE, 0, k4_mods, 3, 4);
    sigeo_stats_result_t r = tu_compute(s);
    const double a = 2.0 + 1.0 / sqrt(3.0), b = 1.0;
    ck_assert_near(r.zico, log(a) + log(b), 0.0, LOG_ATOL);
    ck_assert_uint_eq(r.n_modules_skipped, 1);
    ck_assert_uint_eq(r.flags & SIGEO_STATS_ALL_SKIPPED, 0);
    ck_assert_uint_eq(r.std_ddof, 0);
    sigeo_stats_module_info_t ia = tu_info(s, 0), ib = tu_info(s, 1), ic = tu_info(s, 2);
    ck_assert_int_eq(ia.n_nonzero_sigma, 2);
    ck_assert_near(ia.ratio_sum, a, RTOL, 0.0);
    ck_assert_int_eq(ib.n_nonzero_sigma, 1);
    ck_assert_near(ib.ratio_sum, b, RTOL, 0.0);
    ck_assert_uint_eq(ic.skipped, 1);
    ck_assert_int_eq(ic.n_nonzero_sigma, 0);
    ck_assert_int_eq(ic.n_params, 2);
    ck_assert_double_eq(ic.ratio_sum, 0.0);
    ck_assert_double_eq(ic.zico_term, 0.0);
    sigeo_stats_destroy(s);
}
END_TEST

START_TEST(four_batches_unbiased_std_shifts_each_contributing_module)
{
    /* D5: ddof 1 scales every ratio by sqrt(3/4), i.e. -1/2 log(4/3) per
     * contributing module; the skipped module C contributes nothing either way. */
    sigeo_stats_t *s0 = feed(SIGEO_ZICO_MODULE_WISE, 0, k4_mods, 3, 4);
    sigeo_stats_t *s1 = feed(SIGEO_ZICO_MODULE_WISE, 1, k4_mods, 3, 4);
    sigeo_stats_result_t r0 = tu_compute(s0), r1 = tu_compute(s1);
    const double shift = -0.5 * log(4.0 / 3.0); /* -0.1438 */
    const double a = 2.0 + 1.0 / sqrt(3.0), b = 1.0;
    ck_assert_near(r1.zico, log(a) + log(b) + 2 * shift, 0.0, LOG_ATOL);
    ck_assert_near(r1.zico - r0.zico, 2 * shift, 0.0, 2 * LOG_ATOL);
    ck_assert_uint_eq(r1.std_ddof, 1);
    ck_assert_uint_eq(r1.n_modules_skipped, 1);
    ck_assert_near(tu_info(s1, 0).zico_term - tu_info(s0, 0).zico_term, shift, 0.0, 2 * LOG_ATOL);
    ck_assert_near(tu_info(s1, 1).zico_term - tu_info(s0, 1).zico_term, shift, 0.0, 2 * LOG_ATOL);
    ck_assert_double_eq(tu_info(s1, 2).zico_term, 0.0);
    sigeo_stats_destroy(s0);
    sigeo_stats_destroy(s1);
}
END_TEST

START_TEST(neuron_wise_is_one_log_over_all_parameters)
{
    for (uint32_t ddof = 0; ddof <= 1; ddof++) {
        sigeo_stats_t *s = feed(SIGEO_ZICO_NEURON_WISE, ddof, k4_mods, 3, 4);
        sigeo_stats_result_t r = tu_compute(s);
        const double scale = ddof ? sqrt(3.0 / 4.0) : 1.0;
        /* One log: the sqrt(3/4) factor shifts it once, not once per module. */
        ck_assert_near(r.zico, log((2.0 + 1.0 / sqrt(3.0) + 1.0) * scale), 0.0, LOG_ATOL);
        ck_assert_int_eq(r.zico_variant, SIGEO_ZICO_NEURON_WISE);
        ck_assert_uint_eq(r.n_modules_skipped, 1);
        ck_assert_uint_eq(tu_info(s, 2).skipped, 1);
        sigeo_stats_destroy(s);
    }
}
END_TEST

START_TEST(reference_recsys_uses_only_the_first_nonzero_sigma_element)
{
    /* D4: per module only the first element with sigma != 0 counts.
     * Module A (k4 data): element 0 ratio 2 (element 1 with 1/sqrt(3) ignored).
     * Module P: element 0 constant (sigma 0, passed over), element 1
     * {0,0,0,4} ratio 1/sqrt(3), element 2 {1,3,1,3} ratio 2 ignored.
     * Module C: skipped. */
    static const float p[4][3] = { { 9, 0, 1 }, { 9, 0, 3 }, { 9, 0, 1 }, { 9, 4, 3 } };
    const mod_t mods[3] = { { "A", 3, &kA[0][0] }, { "P", 3, &p[0][0] }, { "C", 2, &kC[0][0] } };
    for (uint32_t ddof = 0; ddof <= 1; ddof++) {
        sigeo_stats_t *s = feed(SIGEO_ZICO_REFERENCE_RECSYS, ddof, mods, 3, 4);
        sigeo_stats_result_t r = tu_compute(s);
        const double scale = ddof ? sqrt(3.0 / 4.0) : 1.0;
        ck_assert_near(r.zico, log(2.0 * scale) + log(scale / sqrt(3.0)), 0.0, LOG_ATOL);
        ck_assert_uint_eq(r.n_modules_skipped, 1);
        sigeo_stats_module_info_t ia = tu_info(s, 0), ip = tu_info(s, 1);
        ck_assert_near(ia.ratio_sum, 2.0 * scale, RTOL, 0.0);
        ck_assert_near(ip.ratio_sum, scale / sqrt(3.0), RTOL, 0.0);
        ck_assert_int_eq(ip.n_nonzero_sigma, 2);
        ck_assert_uint_eq(tu_info(s, 2).skipped, 1);
        sigeo_stats_destroy(s);
    }
}
END_TEST

START_TEST(only_exactly_zero_sigma_is_excluded)
{
    /* A one-ulp difference is a non-zero sigma: the guard is an exact compare
     * with no epsilon, so the element counts, with a huge ratio. */
    const float one = 1.0f, next = nextafterf(1.0f, 2.0f);
    const float g[2][3] = { { one, 5.0f, -2.0f }, { next, 5.0f, -2.0f } };
    const mod_t mods[1] = { { "m", 3, &g[0][0] } };
    sigeo_stats_t *s = feed(SIGEO_ZICO_MODULE_WISE, 0, mods, 1, 2);
    sigeo_stats_result_t r = tu_compute(s);
    const double want = ((double)one + (double)next) / ((double)next - (double)one); /* 2^24 + 1 */
    sigeo_stats_module_info_t i = tu_info(s, 0);
    ck_assert_int_eq(i.n_nonzero_sigma, 1);
    ck_assert_near(i.ratio_sum, want, RTOL, 0.0);
    ck_assert_near(r.zico, log(want), 0.0, LOG_ATOL);
    ck_assert_uint_eq(r.n_modules_skipped, 0);
    sigeo_stats_destroy(s);
}
END_TEST

START_TEST(all_modules_skipped_sets_the_flag_and_zico_zero)
{
    static const float c1[3][2] = { { 1, 0 }, { 1, 0 }, { 1, 0 } };
    static const float c2[3][1] = { { -4 }, { -4 }, { -4 } };
    const mod_t mods[2] = { { "c1", 2, &c1[0][0] }, { "c2", 1, &c2[0][0] } };
    const int32_t variants[] = { SIGEO_ZICO_MODULE_WISE, SIGEO_ZICO_NEURON_WISE, SIGEO_ZICO_REFERENCE_RECSYS };
    for (size_t v = 0; v < 3; v++) {
        sigeo_stats_t *s = feed(variants[v], 0, mods, 2, 3);
        sigeo_stats_result_t r = tu_compute(s);
        ck_assert_uint_eq(r.flags & SIGEO_STATS_ALL_SKIPPED, SIGEO_STATS_ALL_SKIPPED);
        ck_assert_double_eq(r.zico, 0.0);
        ck_assert_double_eq(r.score, 0.0);
        ck_assert_uint_eq(r.n_modules_skipped, 2);
        ck_assert_uint_eq(r.n_modules, 2);
        for (int32_t m = 0; m < 2; m++) {
            sigeo_stats_module_info_t i = tu_info(s, m);
            ck_assert_uint_eq(i.skipped, 1);
            ck_assert_double_eq(i.zico_term, 0.0);
        }
        sigeo_stats_destroy(s);
    }
}
END_TEST

START_TEST(random_streams_match_the_two_pass_reference)
{
    enum { K = 7, NA = 300, NB = 64, NC = 5 };
    static float ga[K][NA], gb[K][NB], gc[K][NC];
    tu_rng_t rng = { 77 };
    for (int i = 0; i < K; i++) {
        for (int j = 0; j < NA; j++)
            ga[i][j] = tu_uniform_f(&rng) * 0.01f + 0.002f; /* offset: mu != mean */
        for (int j = 0; j < NB; j++)
            gb[i][j] = j % 5 == 0 ? 0.25f : tu_uniform_f(&rng); /* some constant elements */
        for (int j = 0; j < NC; j++)
            gc[i][j] = (float)(j + 1) * tu_uniform_f(&rng);
    }
    const mod_t mods[3] = { { "a", NA, &ga[0][0] }, { "b", NB, &gb[0][0] }, { "c", NC, &gc[0][0] } };
    const int32_t variants[] = { SIGEO_ZICO_MODULE_WISE, SIGEO_ZICO_NEURON_WISE, SIGEO_ZICO_REFERENCE_RECSYS };
    for (int ddof = 0; ddof <= 1; ddof++) {
        ref_module_t ref[3];
        for (int m = 0; m < 3; m++)
            ref[m] = ref_zico_module(mods[m].g, K, mods[m].n, ddof);
        for (size_t v = 0; v < 3; v++) {
            sigeo_stats_t *s = feed(variants[v], (uint32_t)ddof, mods, 3, K);
            sigeo_stats_result_t r = tu_compute(s);
            double want;
            if (variants[v] == SIGEO_ZICO_MODULE_WISE)
                want = log(ref[0].ratio_sum) + log(ref[1].ratio_sum) + log(ref[2].ratio_sum);
            else if (variants[v] == SIGEO_ZICO_NEURON_WISE)
                want = log(ref[0].ratio_sum + ref[1].ratio_sum + ref[2].ratio_sum);
            else
                want = log(ref[0].first) + log(ref[1].first) + log(ref[2].first);
            ck_assert_near(r.zico, want, 0.0, 3 * LOG_ATOL);
            for (int m = 0; m < 3; m++) {
                sigeo_stats_module_info_t i = tu_info(s, m);
                ck_assert_int_eq(i.n_nonzero_sigma, ref[m].nonzero);
                const double want_ratio =
                    variants[v] == SIGEO_ZICO_REFERENCE_RECSYS ? ref[m].first : ref[m].ratio_sum;
                ck_assert_near(i.ratio_sum, want_ratio, RTOL, 0.0);
            }
            sigeo_stats_destroy(s);
        }
    }
}
END_TEST

/* mu/sigma is invariant to scaling all gradients by c > 0. */
static void check_scale_invariance(float scale)
{
    enum { K = 4, N = 50 };
    static float g[K][N], gs[K][N];
    tu_rng_t rng = { 5 };
    for (int i = 0; i < K; i++)
        for (int j = 0; j < N; j++) {
            g[i][j] = tu_uniform_f(&rng);
            gs[i][j] = g[i][j] * scale; /* a power of two: exact */
        }
    const mod_t m1[1] = { { "m", N, &g[0][0] } }, m2[1] = { { "m", N, &gs[0][0] } };
    sigeo_stats_t *s1 = feed(SIGEO_ZICO_MODULE_WISE, 0, m1, 1, K);
    sigeo_stats_t *s2 = feed(SIGEO_ZICO_MODULE_WISE, 0, m2, 1, K);
    sigeo_stats_result_t r1 = tu_compute(s1), r2 = tu_compute(s2);
    const ref_module_t ref = ref_zico_module(&g[0][0], K, N, 0);
    ck_assert_near(r1.zico, log(ref.ratio_sum), 0.0, LOG_ATOL);
    ck_assert_msg(r2.n_modules_skipped == 0, "gradients scaled by %a: the module was skipped", (double)scale);
    ck_assert_int_eq(tu_info(s2, 0).n_nonzero_sigma, ref.nonzero);
    ck_assert_near(r2.zico, log(ref.ratio_sum), 0.0, LOG_ATOL);
    sigeo_stats_destroy(s1);
    sigeo_stats_destroy(s2);
}

START_TEST(zico_is_invariant_to_gradient_scale)
{
    check_scale_invariance(0x1.0p-40f);
    check_scale_invariance(0x1.0p+40f);
}
END_TEST

/* The next two share one cause. Gradients scaled by 2^-80 (8e-25) or 2^70
 * (1.2e21) are ordinary normal floats and so is their std, but the
 * accumulator stores M2 = sum of squared deviations as a float, whose range
 * is the square of theirs. */
START_TEST(zico_is_invariant_to_gradient_scale_down_to_tiny_gradients)
{
    /* exposes bug: M2 ~ 1e-49 underflows to 0 in float, every sigma reads as
     * exactly 0 and the module is skipped (lib/stats/welford.c stores M2 as
     * float; lib/stats/zico.c then takes m2 == 0.0f as sigma == 0). */
    check_scale_invariance(0x1.0p-80f);
}
END_TEST

START_TEST(zico_is_invariant_to_gradient_scale_up_to_huge_gradients)
{
    /* exposes bug: M2 ~ 1e42 overflows to +inf in float, every ratio
     * mu / sigma becomes 0 and the module's term log(0) = -inf. */
    check_scale_invariance(0x1.0p+70f);
}
END_TEST

START_TEST(module_info_needs_a_compute_since_the_last_reset)
{
    sigeo_stats_t *s = feed(SIGEO_ZICO_MODULE_WISE, 0, k4_mods, 3, 4);
    sigeo_stats_module_info_t i = SIGEO_STATS_MODULE_INFO_INIT;
    ck_assert_int_eq(sigeo_stats_get_module_info(&i, s, 0), SIGEO_ERR_INVALID_ARG);
    (void)tu_compute(s);
    ck_assert_int_eq(sigeo_stats_get_module_info(&i, s, 0), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_get_module_info(&i, s, 3), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_stats_get_module_info(&i, s, -1), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_stats_reset(s), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_get_module_info(&i, s, 0), SIGEO_ERR_INVALID_ARG);
    sigeo_stats_destroy(s);
}
END_TEST

static Suite *zico_suite(void)
{
    Suite *s = suite_create("stats_zico");
    TCase *tc = tcase_create("zico");
    tcase_add_test(tc, two_batches_ratio_is_abs_sum_over_abs_difference);
    tcase_add_test(tc, two_batches_random_match_the_closed_form);
    tcase_add_test(tc, four_batches_population_std);
    tcase_add_test(tc, four_batches_unbiased_std_shifts_each_contributing_module);
    tcase_add_test(tc, neuron_wise_is_one_log_over_all_parameters);
    tcase_add_test(tc, reference_recsys_uses_only_the_first_nonzero_sigma_element);
    tcase_add_test(tc, only_exactly_zero_sigma_is_excluded);
    tcase_add_test(tc, all_modules_skipped_sets_the_flag_and_zico_zero);
    tcase_add_test(tc, random_streams_match_the_two_pass_reference);
    tcase_add_test(tc, zico_is_invariant_to_gradient_scale);
    tcase_add_test(tc, zico_is_invariant_to_gradient_scale_down_to_tiny_gradients);
    tcase_add_test(tc, zico_is_invariant_to_gradient_scale_up_to_huge_gradients);
    tcase_add_test(tc, module_info_needs_a_compute_since_the_last_reset);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(zico_suite());
}
