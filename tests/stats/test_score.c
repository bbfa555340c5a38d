/* Pins lib/stats/score.c through the public API: the lambda presets of
 * docs/proxies.md §1.3, score = l1*zico + l2*log_fr - l3*loss for each of them
 * and for custom weights, the loss term (mean of the k batch losses vs the
 * last one), the provenance fields and the struct_size rules of the result.
 * Component values are worked out by hand below. */
#include <check.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sigeo/stats.h"
#include "test_util.h"

/* Two batches (docs/proxies.md §2 closed form for ZiCo with k = 2):
 *   fc.weight: {1, -1} then {3, -2}: ratios (1+3)/2 = 2, (1+2)/1 = 3 -> sum 5
 *   fc.bias:   {-2}    then {2}:     ratio  (2+2)/4 = 1             -> sum 1
 *   zico = log 5 + log 1 = log 5
 *   d_n: {1, 3} and {2}: fr = (1 + 9 + 4) / 3 = 14/3
 *   losses 0.75 and 2.5: mean 1.625, last 2.5 */
static const char *const names[2] = { "fc.weight", "fc.bias" };
static const int64_t counts[2] = { 2, 1 };
#define ZICO_HAND log(5.0)
#define LOG_FR_HAND log(14.0 / 3.0)
#define LOSS_MEAN_HAND 1.625
#define LOSS_LAST_HAND 2.5

static sigeo_stats_t *two_batch_handle(const sigeo_stats_options_t *o)
{
    static const float w0[2] = { 1, -1 }, w1[2] = { 3, -2 }, b0[1] = { -2 }, b1[1] = { 2 };
    static const double d0[2] = { 1, 3 }, d1[1] = { 2 };
    sigeo_stats_t *s = tu_stats_new(o, 2, names, counts);
    const float *g0[2] = { w0, b0 }, *g1[2] = { w1, b1 };
    ck_assert_int_eq(tu_add(s, 2, g0, counts, 0.75, 2, d0), SIGEO_OK);
    ck_assert_int_eq(tu_add(s, 2, g1, counts, 2.5, 1, d1), SIGEO_OK);
    return s;
}

START_TEST(presets_have_the_papers_weights)
{
    double l[3] = { -1, -1, -1 };
    ck_assert_int_eq(sigeo_stats_preset_lambdas(l, SIGEO_PRESET_ZERO_SHOT), SIGEO_OK);
    ck_assert(l[0] == 1.0 && l[1] == 1.0 && l[2] == 0.0);
    ck_assert_int_eq(sigeo_stats_preset_lambdas(l, SIGEO_PRESET_RECSYS), SIGEO_OK);
    ck_assert(l[0] == 1.0 && l[1] == 1.0 && l[2] == 1.0);
    ck_assert_int_eq(sigeo_stats_preset_lambdas(l, SIGEO_PRESET_VISION), SIGEO_OK);
    ck_assert(l[0] == 1.0 && l[1] == 50.0 && l[2] == 1.0);
}
END_TEST

START_TEST(custom_and_unknown_presets_have_no_weights)
{
    double l[3] = { -1, -1, -1 };
    ck_assert_int_eq(sigeo_stats_preset_lambdas(l, SIGEO_PRESET_CUSTOM), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_stats_preset_lambdas(l, (sigeo_lambda_preset_t)4), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_stats_preset_lambdas(l, (sigeo_lambda_preset_t)-1), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_stats_preset_lambdas(NULL, SIGEO_PRESET_VISION), SIGEO_ERR_INVALID_ARG);
    ck_assert_uint_gt(strlen(sigeo_last_error()), 0);
}
END_TEST

typedef struct weights_case {
    int32_t preset;
    double opt_l1, opt_l2, opt_l3; /* what the options carry */
    double l1, l2, l3;             /* what must be applied */
} weights_case_t;

START_TEST(score_combines_the_three_terms_for_every_preset)
{
    /* Preset options carry junk lambdas that must be ignored. */
    const weights_case_t cases[] = {
        { SIGEO_PRESET_ZERO_SHOT, 9, 9, 9, 1, 1, 0 },
        { SIGEO_PRESET_RECSYS, 9, 9, 9, 1, 1, 1 },
        { SIGEO_PRESET_VISION, 9, 9, 9, 1, 50, 1 },
        { SIGEO_PRESET_CUSTOM, 0.5, 2.0, 3.0, 0.5, 2.0, 3.0 },
        { SIGEO_PRESET_CUSTOM, -1.0, 0.25, -2.0, -1.0, 0.25, -2.0 },
    };
    const int32_t loss_terms[2] = { SIGEO_LOSS_MEAN, SIGEO_LOSS_LAST };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int t = 0; t < 2; t++) {
            sigeo_stats_options_t o = SIGEO_STATS_OPTIONS_INIT;
            o.lambda_preset = cases[c].preset;
            o.lambda1 = cases[c].opt_l1;
            o.lambda2 = cases[c].opt_l2;
            o.lambda3 = cases[c].opt_l3;
            o.loss_term = loss_terms[t];
            sigeo_stats_t *s = two_batch_handle(&o);
            sigeo_stats_result_t r = tu_compute(s);
            const double loss = t == 0 ? LOSS_MEAN_HAND : LOSS_LAST_HAND;
            ck_assert_double_eq(r.lambda1, cases[c].l1);
            ck_assert_double_eq(r.lambda2, cases[c].l2);
            ck_assert_double_eq(r.lambda3, cases[c].l3);
            ck_assert_near(r.zico, ZICO_HAND, 0.0, 1e-6);
            ck_assert_near(r.log_fr, LOG_FR_HAND, 0.0, 1e-14);
            ck_assert_near(r.fr, 14.0 / 3.0, 1e-15, 0.0);
            ck_assert_double_eq(r.loss, loss);
            ck_assert_int_eq(r.loss_term, loss_terms[t]);
            const double want = cases[c].l1 * ZICO_HAND + cases[c].l2 * LOG_FR_HAND - cases[c].l3 * loss;
            ck_assert_near(r.score, want, 0.0, 1e-6 * (fabs(cases[c].l1) + 1.0));
            /* And the score is exactly assembled from the reported components. */
            ck_assert_near(r.score, r.lambda1 * r.zico + r.lambda2 * r.log_fr - r.lambda3 * r.loss, 1e-15, 1e-15);
            sigeo_stats_destroy(s);
        }
}
END_TEST

START_TEST(loss_term_is_the_mean_or_the_last_batch_loss)
{
    /* Losses 1, 2, 4, 8: mean 3.75, last 8. lambda (0, 0, 1): score = -loss. */
    const double losses[4] = { 1, 2, 4, 8 };
    for (int t = 0; t < 2; t++) {
        sigeo_stats_options_t o =
            tu_options(SIGEO_ZICO_MODULE_WISE, SIGEO_FR_EXACT, t ? SIGEO_LOSS_LAST : SIGEO_LOSS_MEAN, 0, 0, 0, 1);
        sigeo_stats_t *s = tu_stats_new(&o, 2, names, counts);
        for (int i = 0; i < 4; i++) {
            const float w[2] = { (float)i, 1.0f }, b[1] = { (float)(i * i) };
            const float *g[2] = { w, b };
            ck_assert_int_eq(tu_add(s, 2, g, counts, losses[i], 1, NULL), SIGEO_OK);
        }
        sigeo_stats_result_t r = tu_compute(s);
        const double want = t ? 8.0 : 3.75;
        ck_assert_double_eq(r.loss, want);
        ck_assert_double_eq(r.score, -want);
        ck_assert_uint_eq(r.flags & SIGEO_STATS_HAS_FR, 0); /* lambda2 = 0, no d_n */
        sigeo_stats_destroy(s);
    }
}
END_TEST

START_TEST(default_options_are_the_zero_shot_preset)
{
    sigeo_stats_t *s = two_batch_handle(NULL);
    sigeo_stats_result_t r = tu_compute(s);
    ck_assert(r.lambda1 == 1.0 && r.lambda2 == 1.0 && r.lambda3 == 0.0);
    ck_assert_near(r.score, ZICO_HAND + LOG_FR_HAND, 0.0, 1e-6);
    ck_assert_double_eq(r.loss, LOSS_MEAN_HAND); /* reported even with lambda3 = 0 */
    ck_assert_int_eq(r.zico_variant, SIGEO_ZICO_MODULE_WISE);
    ck_assert_int_eq(r.fr_estimator, SIGEO_FR_EXACT);
    ck_assert_int_eq(r.loss_term, SIGEO_LOSS_MEAN);
    ck_assert_uint_eq(r.std_ddof, 0);
    sigeo_stats_destroy(s);
}
END_TEST

START_TEST(result_records_its_provenance)
{
    sigeo_stats_options_t o = tu_options(SIGEO_ZICO_NEURON_WISE, SIGEO_FR_IDENTITY, SIGEO_LOSS_LAST, 1, 1, 1, 1);
    sigeo_stats_t *s = two_batch_handle(&o);
    sigeo_stats_result_t r = tu_compute(s);
    ck_assert_uint_eq(r.struct_size, sizeof r);
    ck_assert_int_eq(r.zico_variant, SIGEO_ZICO_NEURON_WISE);
    ck_assert_int_eq(r.fr_estimator, SIGEO_FR_IDENTITY);
    ck_assert_int_eq(r.loss_term, SIGEO_LOSS_LAST);
    ck_assert_uint_eq(r.std_ddof, 1);
    ck_assert_uint_eq(r.library_version, sigeo_version_number());
    ck_assert_uint_eq(r.library_version, SIGEO_VERSION_NUMBER);
    ck_assert_uint_eq(r.n_batches, 2);
    ck_assert_uint_eq(r.n_samples, 3);
    ck_assert_uint_eq(r.n_params, 3);
    ck_assert_uint_eq(r.n_modules, 2);
    ck_assert_uint_eq(r.reserved0, 0);
    /* Neuron-wise, ddof 1, k = 2: every ratio times sqrt(1/2): log(6 / sqrt 2). */
    ck_assert_near(r.zico, log(6.0 / sqrt(2.0)), 0.0, 1e-6);
    int32_t n = -1;
    ck_assert_int_eq(sigeo_stats_module_count(&n, s), SIGEO_OK);
    ck_assert_int_eq(n, 2);
    sigeo_stats_destroy(s);
}
END_TEST

START_TEST(result_into_an_older_struct_writes_only_its_prefix)
{
    sigeo_stats_t *s = two_batch_handle(NULL);
    sigeo_stats_result_t r;
    memset(&r, 0xEE, sizeof r);
    r.struct_size = (uint32_t)offsetof(sigeo_stats_result_t, zico);
    ck_assert_int_eq(sigeo_stats_compute(&r, s), SIGEO_OK);
    ck_assert_uint_eq(r.struct_size, offsetof(sigeo_stats_result_t, zico));
    ck_assert_near(r.score, ZICO_HAND + LOG_FR_HAND, 0.0, 1e-6);
    ck_assert_uint_eq(r.flags & SIGEO_STATS_HAS_FR, SIGEO_STATS_HAS_FR);
    const unsigned char *bytes = (const unsigned char *)&r;
    for (size_t i = offsetof(sigeo_stats_result_t, zico); i < sizeof r; i++)
        ck_assert_msg(bytes[i] == 0xEE, "byte %zu beyond the caller's struct_size was written", i);

    /* A newer, bigger struct: the known part filled, its tail left alone. */
    struct {
        sigeo_stats_result_t known;
        uint64_t future[2];
    } big;
    memset(&big, 0xEE, sizeof big);
    big.known.struct_size = (uint32_t)sizeof big;
    ck_assert_int_eq(sigeo_stats_compute(&big.known, s), SIGEO_OK);
    ck_assert_uint_eq(big.known.struct_size, sizeof big);
    ck_assert_uint_eq(big.known.n_modules, 2);
    ck_assert_uint_eq(big.future[0], 0xEEEEEEEEEEEEEEEEull);
    ck_assert_uint_eq(big.future[1], 0xEEEEEEEEEEEEEEEEull);

    /* Too small to hold even the header. */
    sigeo_stats_result_t tiny = SIGEO_STATS_RESULT_INIT;
    tiny.struct_size = 4;
    ck_assert_int_eq(sigeo_stats_compute(&tiny, s), SIGEO_ERR_INVALID_ARG);
    sigeo_stats_destroy(s);
}
END_TEST

START_TEST(module_info_into_an_older_struct_writes_only_its_prefix)
{
    sigeo_stats_t *s = two_batch_handle(NULL);
    (void)tu_compute(s);
    sigeo_stats_module_info_t i;
    memset(&i, 0xEE, sizeof i);
    i.struct_size = (uint32_t)offsetof(sigeo_stats_module_info_t, ratio_sum);
    ck_assert_int_eq(sigeo_stats_get_module_info(&i, s, 0), SIGEO_OK);
    ck_assert_int_eq(i.n_params, 2);
    ck_assert_int_eq(i.n_nonzero_sigma, 2);
    const unsigned char *bytes = (const unsigned char *)&i;
    for (size_t k = offsetof(sigeo_stats_module_info_t, ratio_sum); k < sizeof i; k++)
        ck_assert_msg(bytes[k] == 0xEE, "byte %zu beyond the caller's struct_size was written", k);
    sigeo_stats_destroy(s);
}
END_TEST

static Suite *score_suite(void)
{
    Suite *s = suite_create("stats_score");
    TCase *tc = tcase_create("score");
    tcase_add_test(tc, presets_have_the_papers_weights);
    tcase_add_test(tc, custom_and_unknown_presets_have_no_weights);
    tcase_add_test(tc, score_combines_the_three_terms_for_every_preset);
    tcase_add_test(tc, loss_term_is_the_mean_or_the_last_batch_loss);
    tcase_add_test(tc, default_options_are_the_zero_shot_preset);
    tcase_add_test(tc, result_records_its_provenance);
    tcase_add_test(tc, result_into_an_older_struct_writes_only_its_prefix);
    tcase_add_test(tc, module_info_into_an_older_struct_writes_only_its_prefix);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(score_suite());
}
