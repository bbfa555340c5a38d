/* The built-in spaces: they build at every preset, every sampled
 * architecture runs, their gradients pass finite differences (tiny preset),
 * a subnet equals its extracted standalone model, and bad options are
 * reported. */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "sigeo/model.h"
#include "sigeo/search.h"

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

static sigeo_context_t *ctx;
static void setup(void)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.seed = 17;
    OK(sigeo_context_create(&ctx, &o));
    /* NASRec blocks stack ReLUs after layer norms: stay off their kinks. */
    gc_set_eps(2e-4);
}
static void teardown(void)
{
    sigeo_context_destroy(ctx);
}

enum { B = 6, ND = 5, NS = 3 };
static float dense[B * ND], targets[B];
static int64_t ids[B * NS], offsets[B * NS + 1];
static const int64_t rows[NS] = { 11, 7, 13 };

static sigeo_batch_t ctr_batch(void)
{
    gc_fill(dense, B * ND, 1.0);
    for (int i = 0; i < B * NS; i++) {
        ids[i] = (i * 7 + 3) % rows[i % NS];
        offsets[i + 1] = i + 1;
    }
    offsets[0] = 0;
    for (int i = 0; i < B; i++)
        targets[i] = (float)(i % 2);
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = B;
    b.dense = dense;
    b.n_dense = ND;
    b.n_sparse_fields = NS;
    b.sparse_ids = ids;
    b.sparse_offsets = offsets;
    b.targets = targets;
    b.n_targets = 1;
    return b;
}

static sigeo_model_t *nasrec(const char *name, sigeo_space_preset_t preset)
{
    sigeo_space_options_t o = SIGEO_SPACE_OPTIONS_INIT;
    o.preset = preset;
    o.n_dense = ND;
    o.n_sparse_fields = NS;
    o.table_rows = rows;
    sigeo_model_t *m;
    OK(sigeo_space_build(&m, ctx, name, &o));
    return m;
}

static void run_sampled_archs(sigeo_model_t *m, int count, sigeo_sampling_t how, bool gradcheck)
{
    int32_t n;
    OK(sigeo_model_choices(&n, NULL, 0, m));
    int32_t *arch = malloc((size_t)n * sizeof *arch);
    sigeo_batch_t b = ctr_batch();
    for (int i = 0; i < count; i++) {
        OK(sigeo_model_sample_arch(arch, n, m, how));
        OK(sigeo_model_activate(m, arch, n));
        double loss;
        OK(sigeo_model_forward_backward(&loss, m, &b));
        ck_assert(isfinite(loss) && loss > 0);
        if (gradcheck)
            gc_check_model_gradients(m, &b);
    }
    free(arch);
}

START_TEST(nasrec_small_tiny_gradients_match_finite_differences)
{
    sigeo_model_t *m = nasrec("nasrec-small", SIGEO_SPACE_TINY);
    run_sampled_archs(m, 3, SIGEO_SAMPLE_ANY_PATH, true);
    run_sampled_archs(m, 1, SIGEO_SAMPLE_FULL_PATH, true);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(nasrec_full_tiny_gradients_match_finite_differences)
{
    sigeo_model_t *m = nasrec("nasrec-full", SIGEO_SPACE_TINY);
    run_sampled_archs(m, 2, SIGEO_SAMPLE_ANY_PATH_BINOMIAL, true);
    run_sampled_archs(m, 1, SIGEO_SAMPLE_FULL_PATH, true);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(nasrec_scaled_presets_run_many_sampled_archs)
{
    sigeo_model_t *m = nasrec("nasrec-small", SIGEO_SPACE_SCALED);
    run_sampled_archs(m, 20, SIGEO_SAMPLE_ANY_PATH, false);
    run_sampled_archs(m, 5, SIGEO_SAMPLE_SINGLE_PATH, false);
    sigeo_model_destroy(m);
    m = nasrec("nasrec-full", SIGEO_SPACE_SCALED);
    run_sampled_archs(m, 10, SIGEO_SAMPLE_ANY_PATH_BINOMIAL, false);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(subnets_equal_their_extracted_models)
{
    const char *spaces[2] = { "nasrec-small", "nasrec-full" };
    for (int s = 0; s < 2; s++) {
        sigeo_model_t *m = nasrec(spaces[s], SIGEO_SPACE_TINY);
        int32_t n;
        OK(sigeo_model_choices(&n, NULL, 0, m));
        int32_t *arch = malloc((size_t)n * sizeof *arch);
        sigeo_batch_t b = ctr_batch();
        for (int i = 0; i < 5; i++) {
            OK(sigeo_model_sample_arch(arch, n, m, SIGEO_SAMPLE_ANY_PATH));
            OK(sigeo_model_activate(m, arch, n));
            double l_sub, l_ext;
            OK(sigeo_model_forward(&l_sub, m, &b));
            sigeo_model_t *x;
            OK(sigeo_model_extract(&x, m, arch, n, 1));
            OK(sigeo_model_forward(&l_ext, x, &b));
            ck_assert_msg(fabs(l_sub - l_ext) <= 1e-5 * fabs(l_sub), "%s arch %d: subnet %.9g vs extracted %.9g",
                          spaces[s], i, l_sub, l_ext);
            int64_t p_sub, p_ext, f_sub, f_ext;
            OK(sigeo_model_count(&p_sub, &f_sub, m, arch, n));
            OK(sigeo_model_count(&p_ext, &f_ext, x, NULL, 0));
            ck_assert_int_eq(p_sub, p_ext);
            ck_assert_int_eq(f_sub, f_ext);
            sigeo_model_destroy(x);
        }
        free(arch);
        sigeo_model_destroy(m);
    }
}
END_TEST

START_TEST(mlp_space_builds_and_describes_archs)
{
    sigeo_space_options_t o = SIGEO_SPACE_OPTIONS_INIT;
    o.preset = SIGEO_SPACE_TINY;
    o.n_dense = 7;
    o.n_classes = 3;
    sigeo_model_t *m;
    OK(sigeo_space_build(&m, ctx, "mlp", &o));
    int32_t n;
    OK(sigeo_model_choices(&n, NULL, 0, m));
    ck_assert_int_eq(n, 1 + 2 * 2); /* depth + (width, act) per layer */
    const int32_t arch[5] = { 0, 1, 1, 0, 0 }; /* depth 1, layer0 width 8 tanh */
    char buf[256];
    OK(sigeo_model_describe_arch(buf, sizeof buf, NULL, m, arch, 5));
    ck_assert_str_eq(buf, "depth=1 layer0.width=8 layer0.act=1 layer1.width=4 layer1.act=0");
    int64_t params, flops;
    OK(sigeo_model_count(&params, &flops, m, arch, 5));
    ck_assert_int_eq(params, 8 * 7 + 8 + 3 * 8 + 3); /* fc0 [8,7]+8, head [3,8]+3 (layer1 inactive) */
    ck_assert_int_eq(flops, 7 * 8 + 8 * 3);          /* tanh counts 0 by the tensorwatch conventions */
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(bad_space_requests_are_reported)
{
    sigeo_model_t *m;
    sigeo_space_options_t o = SIGEO_SPACE_OPTIONS_INIT;
    ck_assert_int_eq(sigeo_space_build(&m, ctx, "resnet", &o), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(sigeo_last_error(), "nasrec-small"));
    ck_assert_ptr_null(m);
    ck_assert_int_eq(sigeo_space_build(&m, ctx, "nasrec-small", &o), SIGEO_ERR_INVALID_ARG); /* no fields */
    o.n_dense = 3;
    ck_assert_int_eq(sigeo_space_build(&m, ctx, "mlp", NULL), SIGEO_ERR_INVALID_ARG);
    o.preset = 9;
    ck_assert_int_eq(sigeo_space_build(&m, ctx, "mlp", &o), SIGEO_ERR_INVALID_ARG);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("spaces");
    TCase *tc = tcase_create("spaces");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, nasrec_small_tiny_gradients_match_finite_differences);
    tcase_add_test(tc, nasrec_full_tiny_gradients_match_finite_differences);
    tcase_add_test(tc, nasrec_scaled_presets_run_many_sampled_archs);
    tcase_add_test(tc, subnets_equal_their_extracted_models);
    tcase_add_test(tc, mlp_space_builds_and_describes_archs);
    tcase_add_test(tc, bad_space_requests_are_reported);
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
