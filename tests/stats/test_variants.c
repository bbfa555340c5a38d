/* What one accumulation gives beside the chosen options (stats.h, "Since
 * 1.1"): both losses, every Fisher-Rao estimator the data allows, the three
 * ZiCo variants, and the one-batch case (lambda1 = 0). Expectations are
 * computed here from the raw gradients in double precision (mean |g|, std
 * over batches, sums of logs), never by the library. */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "sigeo/stats.h"
#include "test_util.h"

enum { K = 3, NM = 2, BS = 4 };
static const char *const names[NM] = { "fc0", "fc1" };
static const int64_t counts[NM] = { 6, 5 };
static float g[K][NM][8];
static float theta[NM][8];
static double d[K][BS];
static const double losses[K] = { 0.9, 0.7, 0.4 };

static void make(void)
{
    tu_rng_t r = { 7 };
    for (int i = 0; i < K; i++)
        for (int m = 0; m < NM; m++)
            for (int j = 0; j < counts[m]; j++)
                g[i][m][j] = tu_uniform_f(&r);
    /* an element equal in every batch: sigma 0, left out */
    for (int i = 0; i < K; i++)
        g[i][1][0] = 0.25f;
    for (int m = 0; m < NM; m++)
        for (int j = 0; j < counts[m]; j++)
            theta[m][j] = tu_uniform_f(&r);
    for (int i = 0; i < K; i++)
        for (int n = 0; n < BS; n++)
            d[i][n] = 2.0 * tu_uniform01(&r) - 1.0;
}

static sigeo_stats_t *fill(const sigeo_stats_options_t *o, int k, bool with_d, bool with_theta)
{
    sigeo_stats_t *s = tu_stats_new(o, NM, names, counts);
    for (int i = 0; i < k; i++) {
        const float *gr[NM] = { g[i][0], g[i][1] };
        ck_assert_int_eq(tu_add(s, NM, gr, counts, losses[i], BS, with_d ? d[i] : NULL), SIGEO_OK);
    }
    for (int m = 0; with_theta && m < NM; m++)
        ck_assert_int_eq(sigeo_stats_set_params(s, m, theta[m], counts[m]), SIGEO_OK);
    return s;
}

START_TEST(one_call_gives_every_variant)
{
    make();
    /* the reference, ddof 0 */
    double mw = 0, neuron = 0, rr = 0, G_dot = 0, cv = 0;
    for (int m = 0; m < NM; m++) {
        double ratio = 0, first = -1, dot = 0;
        for (int j = 0; j < counts[m]; j++) {
            double mu = 0, mean = 0, var = 0;
            for (int i = 0; i < K; i++) {
                mu += fabs(g[i][m][j]) / K;
                mean += g[i][m][j] / (double)K;
            }
            for (int i = 0; i < K; i++)
                var += (g[i][m][j] - mean) * (g[i][m][j] - mean) / K;
            dot += theta[m][j] * mean * K;
            if (var == 0)
                continue;
            ratio += mu / sqrt(var);
            if (first < 0)
                first = mu / sqrt(var);
        }
        mw += log(ratio);
        rr += log(first);
        neuron += ratio;
        G_dot += dot;
        cv += fabs(dot);
    }
    double sq = 0;
    for (int i = 0; i < K; i++)
        for (int n = 0; n < BS; n++)
            sq += d[i][n] * d[i][n];
    const double fr = sq / (K * BS);
    const double lmean = (losses[0] + losses[1] + losses[2]) / 3, llast = losses[2];

    sigeo_stats_options_t o = tu_options(SIGEO_ZICO_MODULE_WISE, SIGEO_FR_EXACT, SIGEO_LOSS_MEAN, 0, 1, 1, 0);
    sigeo_stats_t *s = fill(&o, K, true, true);
    sigeo_stats_result_t r = tu_compute(s);
    ck_assert_near(r.zico_module_wise, mw, 1e-6, 0);
    ck_assert_near(r.zico_neuron_wise, log(neuron), 1e-6, 0);
    ck_assert_near(r.zico_reference_recsys, rr, 1e-6, 0);
    ck_assert_near(r.loss_mean, lmean, 1e-15, 0);
    ck_assert_near(r.loss_last, llast, 1e-15, 0);
    ck_assert_near(r.fr_exact, fr, 1e-12, 0);
    ck_assert_near(r.log_fr_exact, log(fr), 1e-12, 0);
    ck_assert_near(r.fr_reference_recsys, fabs(G_dot), 1e-6, 0);
    ck_assert_near(r.log_fr_reference_recsys, log(fabs(G_dot) + 1e-10), 1e-6, 0);
    ck_assert_near(r.fr_reference_cv, cv, 1e-6, 0);
    ck_assert_near(r.log_fr_reference_cv, 2 * log(cv + 1e-5), 1e-6, 0);
    ck_assert(r.flags & SIGEO_STATS_HAS_DIRECTIONAL);
    ck_assert(r.flags & SIGEO_STATS_HAS_THETA_DOT);
    ck_assert(!(r.flags & SIGEO_STATS_NO_ZICO));
    /* Every preset from this one result, as its own handle computes it. */
    const sigeo_lambda_preset_t presets[3] = { SIGEO_PRESET_ZERO_SHOT, SIGEO_PRESET_RECSYS, SIGEO_PRESET_VISION };
    const double want_l[3][3] = { { 1, 1, 0 }, { 1, 1, 1 }, { 1, 50, 1 } };
    for (int p = 0; p < 3; p++)
        for (int lt = 0; lt < 2; lt++) {
            sigeo_stats_options_t po = SIGEO_STATS_OPTIONS_INIT;
            po.lambda_preset = presets[p];
            po.loss_term = lt;
            sigeo_stats_t *sp = fill(&po, K, true, true);
            sigeo_stats_result_t rp = tu_compute(sp);
            const double want = want_l[p][0] * mw + want_l[p][1] * log(fr) - want_l[p][2] * (lt ? llast : lmean);
            ck_assert_near(rp.score, want, 1e-6, 1e-9);
            sigeo_stats_destroy(sp);
        }
    sigeo_stats_destroy(s);
}
END_TEST

START_TEST(missing_data_leaves_nan_and_no_flag)
{
    make();
    sigeo_stats_options_t o = tu_options(SIGEO_ZICO_MODULE_WISE, SIGEO_FR_EXACT, SIGEO_LOSS_MEAN, 0, 1, 0, 0);
    sigeo_stats_t *s = fill(&o, K, false, false);
    sigeo_stats_result_t r = tu_compute(s);
    ck_assert(isnan(r.fr_exact) && isnan(r.log_fr_exact));
    ck_assert(isnan(r.fr_reference_recsys) && isnan(r.fr_reference_cv));
    ck_assert(!(r.flags & (SIGEO_STATS_HAS_DIRECTIONAL | SIGEO_STATS_HAS_THETA_DOT | SIGEO_STATS_HAS_FR)));
    sigeo_stats_destroy(s);
}
END_TEST

START_TEST(one_batch_is_enough_without_zico)
{
    make();
    double sq = 0;
    for (int n = 0; n < BS; n++)
        sq += d[0][n] * d[0][n];
    const double fr = sq / BS;
    for (uint32_t ddof = 0; ddof < 2; ddof++) {
        sigeo_stats_options_t o = tu_options(SIGEO_ZICO_MODULE_WISE, SIGEO_FR_EXACT, SIGEO_LOSS_MEAN, ddof, 0, 1, 1);
        sigeo_stats_t *s = fill(&o, 1, true, true);
        sigeo_stats_result_t r = tu_compute(s);
        ck_assert(r.flags & SIGEO_STATS_NO_ZICO);
        ck_assert(r.flags & SIGEO_STATS_HAS_FR);
        ck_assert_near(r.fr, fr, 1e-12, 0);
        ck_assert_near(r.score, log(fr) - losses[0], 1e-12, 0);
        ck_assert(r.zico == 0.0 && r.zico_module_wise == 0.0 && r.zico_neuron_wise == 0.0);
        ck_assert_uint_eq(r.n_batches, 1);
        ck_assert_uint_eq(r.n_modules_skipped, NM);
        ck_assert(isfinite(r.log_fr_reference_cv));
        sigeo_stats_destroy(s);
    }
    /* With ZiCo in the score one batch is still refused, saying why. */
    sigeo_stats_options_t o = tu_options(SIGEO_ZICO_MODULE_WISE, SIGEO_FR_EXACT, SIGEO_LOSS_MEAN, 0, 1, 1, 0);
    sigeo_stats_t *s = fill(&o, 1, true, false);
    sigeo_stats_result_t r = SIGEO_STATS_RESULT_INIT;
    ck_assert_int_eq(sigeo_stats_compute(&r, s), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_stats_last_error(s), "lambda1 = 0");
    /* ... and the handle goes on: a second batch makes it computable. */
    const float *gr[NM] = { g[1][0], g[1][1] };
    ck_assert_int_eq(tu_add(s, NM, gr, counts, losses[1], BS, d[1]), SIGEO_OK);
    r = tu_compute(s);
    ck_assert(!(r.flags & SIGEO_STATS_NO_ZICO));
    sigeo_stats_destroy(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stats_variants");
    TCase *tc = tcase_create("variants");
    tcase_add_test(tc, one_call_gives_every_variant);
    tcase_add_test(tc, missing_data_leaves_nan_and_no_flag);
    tcase_add_test(tc, one_batch_is_enough_without_zico);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
