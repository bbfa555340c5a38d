/* Calls that succeeded when they should not, outputs left unset on
 * failure, and messages that said the wrong thing (issue 11 items 7, 9). */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sigeo/io.h"
#include "sigeo/model.h"
#include "sigeo/proxy.h"
#include "sigeo/search.h"
#include "sigeo/stats.h"
#include "sigeo/train.h"
#include "test_util.h"
#include "tmpdir.h"

static sigeo_context_t *ctx;

static void setup(void)
{
    ck_assert_int_eq(sigeo_context_create(&ctx, NULL), SIGEO_OK);
}

static void teardown(void)
{
    sigeo_context_destroy(ctx);
    ctx = NULL;
}

/* dense(13) -> linear(1), BCE: fits the synthetic Criteo rows. */
static sigeo_model_t *small_model(const char *name, bool finalize)
{
    sigeo_model_t *m = NULL;
    ck_assert_int_eq(sigeo_model_create(&m, ctx, name), SIGEO_OK);
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "x";
    in.features = 13;
    int32_t x, y;
    ck_assert_int_eq(sigeo_model_add_input(&x, m, &in), SIGEO_OK);
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.name = "fc";
    d.inputs = &x;
    d.n_inputs = 1;
    d.units = 1;
    ck_assert_int_eq(sigeo_model_add_layer(&y, m, &d), SIGEO_OK);
    ck_assert_int_eq(sigeo_model_set_loss(m, y, SIGEO_LOSS_BCE_WITH_LOGITS), SIGEO_OK);
    if (finalize)
        ck_assert_int_eq(sigeo_model_finalize(m), SIGEO_OK);
    return m;
}

static sigeo_dataset_t *small_data(void)
{
    sigeo_synth_options_t o = SIGEO_SYNTH_OPTIONS_INIT;
    o.n_rows = 64;
    sigeo_dataset_t *ds = NULL;
    ck_assert_msg(sigeo_synth_generate(&ds, NULL, &o, NULL) == SIGEO_OK, "%s", sigeo_last_error());
    return ds;
}

/* Item 7: epochs 1e300 or 4.65e18 returned OK after 0 steps. */
START_TEST(train_with_absurd_epochs_is_refused)
{
    sigeo_model_t *m = small_model("m", true);
    sigeo_dataset_t *ds = small_data();
    sigeo_optimizer_t *opt = NULL;
    ck_assert_int_eq(sigeo_optimizer_create(&opt, m, NULL), SIGEO_OK);
    const double bad[] = { 1e300, 4.65e18 };
    for (int i = 0; i < 2; i++) {
        sigeo_train_options_t o = SIGEO_TRAIN_OPTIONS_INIT;
        o.batch_size = 16;
        o.epochs = bad[i];
        sigeo_train_result_t r = SIGEO_TRAIN_RESULT_INIT;
        sigeo_status_t st = sigeo_train(&r, m, opt, ds, NULL, NULL, &o, NULL, NULL);
        ck_assert_msg(st == SIGEO_ERR_INVALID_ARG, "epochs %g: status %s after %lld steps (%s)", bad[i],
                      sigeo_status_string(st), (long long)r.steps, sigeo_last_error());
        ck_assert_str_contains(sigeo_last_error(), "epochs");
    }
    sigeo_optimizer_destroy(opt);
    sigeo_dataset_destroy(ds);
    sigeo_model_destroy(m);
}
END_TEST

/* Item 7: the sample count wrapped silently. */
START_TEST(stats_sample_count_does_not_wrap)
{
    sigeo_stats_t *s = NULL;
    sigeo_stats_options_t o = SIGEO_STATS_OPTIONS_INIT;
    o.lambda_preset = SIGEO_PRESET_CUSTOM; /* ZiCo only: no per-sample directional data needed */
    o.lambda1 = 1.0;
    o.lambda2 = 0.0;
    o.lambda3 = 0.0;
    ck_assert_int_eq(sigeo_stats_create(&s, ctx, &o), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_add_module(NULL, s, "w", 2), SIGEO_OK);
    const float g[2] = { 1.0f, 2.0f };
    const float *gs[1] = { g };
    const int64_t counts[1] = { 2 };
    ck_assert_int_eq(tu_add(s, 1, gs, counts, 0.5, INT64_MAX, NULL), SIGEO_OK);
    ck_assert_int_eq(tu_add(s, 1, gs, counts, 0.5, INT64_MAX, NULL), SIGEO_OK); /* 2^64 - 2 */
    sigeo_status_t st = tu_add(s, 1, gs, counts, 0.5, 3, NULL);                  /* would wrap to 0 */
    ck_assert_msg(st != SIGEO_OK, "the third batch was accepted (%s)", sigeo_last_error());
    sigeo_stats_result_t r = tu_compute(s);
    ck_assert_uint_eq(r.n_samples, UINT64_MAX - 1);
    sigeo_stats_destroy(s);
}
END_TEST

/* Item 7: optimizer_create on an unfinalised model returned OK. */
START_TEST(optimizer_on_unfinalised_model_is_refused)
{
    sigeo_model_t *m = small_model("m", false);
    sigeo_optimizer_t *opt = (sigeo_optimizer_t *)&opt;
    ck_assert_int_eq(sigeo_optimizer_create(&opt, m, NULL), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_null(opt);
    ck_assert_str_contains(sigeo_last_error(), "not finalised");
    sigeo_model_destroy(m);
}
END_TEST

/* Item 7: unknown flag bits and a non-zero reserved field were accepted. */
START_TEST(unknown_flags_and_reserved_fields_are_refused)
{
    sigeo_model_t *m = NULL;
    ck_assert_int_eq(sigeo_model_create(&m, ctx, "m"), SIGEO_OK);
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "x";
    in.features = 4;
    in.reserved0 = 7;
    ck_assert_int_eq(sigeo_model_add_input(NULL, m, &in), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "reserved0");
    in.reserved0 = 0;
    int32_t x;
    ck_assert_int_eq(sigeo_model_add_input(&x, m, &in), SIGEO_OK);
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.name = "fc";
    d.inputs = &x;
    d.n_inputs = 1;
    d.units = 2;
    d.flags = 0x100u;
    ck_assert_int_eq(sigeo_model_add_layer(NULL, m, &d), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "flag");
    d.flags = 0;
    d.reserved0 = 1;
    ck_assert_int_eq(sigeo_model_add_layer(NULL, m, &d), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "reserved0");
    d.reserved0 = 0;
    d.flags = SIGEO_LAYER_NO_BIAS;
    ck_assert_int_eq(sigeo_model_add_layer(NULL, m, &d), SIGEO_OK);
    sigeo_model_destroy(m);
}
END_TEST

/* Item 7: max_depth = -1 and blocks = -1 were taken as "the preset's". */
START_TEST(space_build_refuses_negative_sizes)
{
    sigeo_space_options_t o = SIGEO_SPACE_OPTIONS_INIT;
    o.n_dense = 8;
    o.max_depth = -1;
    sigeo_model_t *m = NULL;
    ck_assert_int_eq(sigeo_space_build(&m, ctx, "mlp", &o), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_null(m);
    ck_assert_str_contains(sigeo_last_error(), "max_depth");
    int64_t rows[26];
    for (int i = 0; i < 26; i++)
        rows[i] = 50;
    sigeo_space_options_t n = SIGEO_SPACE_OPTIONS_INIT;
    n.n_dense = 13;
    n.n_sparse_fields = 26;
    n.table_rows = rows;
    n.blocks = -1;
    ck_assert_int_eq(sigeo_space_build(&m, ctx, "nasrec-small", &n), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_null(m);
    ck_assert_str_contains(sigeo_last_error(), "blocks");
}
END_TEST

/* Item 7: evaluate and auc left their outputs unset on failure. */
START_TEST(failed_metrics_set_outputs_to_nan)
{
    double auc = 123.0;
    const float scores[2] = { 0.1f, 0.9f }, labels[2] = { 1.0f, 1.0f };
    ck_assert_int_eq(sigeo_auc(&auc, scores, labels, 2), SIGEO_ERR_INVALID_ARG); /* one class */
    ck_assert_msg(isnan(auc), "auc = %g after a failure", auc);
    auc = 123.0;
    ck_assert_int_eq(sigeo_auc(&auc, scores, labels, 1), SIGEO_ERR_INVALID_ARG);
    ck_assert(isnan(auc));

    sigeo_model_t *m = small_model("m", true);
    sigeo_dataset_t *ds = small_data();
    double ll = 1.0, acc = 2.0;
    auc = 3.0;
    ck_assert_int_eq(sigeo_evaluate(&ll, &auc, &acc, m, ds, 0), SIGEO_ERR_INVALID_ARG);
    ck_assert(isnan(ll) && isnan(auc) && isnan(acc));
    ll = 1.0, acc = 2.0, auc = 3.0;
    ck_assert_int_eq(sigeo_evaluate(&ll, &auc, &acc, m, ds, 16), SIGEO_OK);
    ck_assert(isfinite(ll) && isfinite(auc) && isfinite(acc));
    sigeo_dataset_destroy(ds);
    sigeo_model_destroy(m);
}
END_TEST

/* Item 9: control characters in names went raw into messages. */
START_TEST(control_characters_in_names_are_escaped)
{
    sigeo_model_t *m = NULL;
    ck_assert_int_eq(sigeo_model_create(&m, ctx, "m"), SIGEO_OK);
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "evil\nname\x1b[31m";
    in.features = 4;
    ck_assert_int_eq(sigeo_model_add_input(NULL, m, &in), SIGEO_OK);
    ck_assert_int_eq(sigeo_model_add_input(NULL, m, &in), SIGEO_ERR_INVALID_ARG);
    const char *msg = sigeo_last_error();
    for (const char *p = msg; *p; p++)
        ck_assert_msg((unsigned char)*p >= 0x20 && *p != 0x7f, "raw control byte 0x%02x in \"%s\"",
                      (unsigned)(unsigned char)*p, msg);
    ck_assert_str_contains(msg, "evil\\x0aname\\x1b[31m");
    ck_assert_str_contains(sigeo_model_last_error(m), "evil\\x0aname");
    sigeo_model_destroy(m);
}
END_TEST

/* Item 9: struct_size 8 said "layer '' has no inputs". */
START_TEST(layer_desc_too_small_says_so)
{
    sigeo_model_t *m = small_model("m", false);
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.struct_size = 8;
    ck_assert_int_eq(sigeo_model_add_layer(NULL, m, &d), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "struct_size 8 is too small");
    sigeo_model_destroy(m);
}
END_TEST

/* Item 9: a proxy on an unfinalised model reported the batch count. */
START_TEST(proxy_on_unfinalised_model_says_not_finalised)
{
    sigeo_model_t *m = small_model("m", false);
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
    ck_assert_int_eq(sigeo_proxy_compute(m, NULL, 0, NULL, 0, &o, &r), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "not finalised");
    sigeo_model_destroy(m);
}
END_TEST

/* Item 9: a checkpoint naming another model loaded silently. */
START_TEST(checkpoint_of_another_model_is_refused_unless_allowed)
{
    char dir[256];
    tu_make_dir(dir, sizeof dir, "sigeo_misuse");
    const char *path = tu_path_in(dir, "a.safetensors");
    sigeo_model_t *a = small_model("alpha", true), *b = small_model("beta", true);
    ck_assert_int_eq(sigeo_model_save(a, path), SIGEO_OK);
    ck_assert_int_eq(sigeo_model_load(a, path, 0), SIGEO_OK);
    ck_assert_int_eq(sigeo_model_load(b, path, 0), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_model_last_error(b), "saved from model 'alpha'");
    ck_assert_int_eq(sigeo_model_load(b, path, SIGEO_LOAD_ALLOW_OTHER_MODEL), SIGEO_OK);
    float wa[13], wb[13];
    ck_assert_int_eq(sigeo_model_get_param(a, 0, wa, 13), SIGEO_OK);
    ck_assert_int_eq(sigeo_model_get_param(b, 0, wb, 13), SIGEO_OK);
    ck_assert_mem_eq(wa, wb, sizeof wa);
    sigeo_model_destroy(a);
    sigeo_model_destroy(b);
    tu_remove_dir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("misuse");
    TCase *tc = tcase_create("misuse");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, train_with_absurd_epochs_is_refused);
    tcase_add_test(tc, stats_sample_count_does_not_wrap);
    tcase_add_test(tc, optimizer_on_unfinalised_model_is_refused);
    tcase_add_test(tc, unknown_flags_and_reserved_fields_are_refused);
    tcase_add_test(tc, space_build_refuses_negative_sizes);
    tcase_add_test(tc, failed_metrics_set_outputs_to_nan);
    tcase_add_test(tc, control_characters_in_names_are_escaped);
    tcase_add_test(tc, layer_desc_too_small_says_so);
    tcase_add_test(tc, proxy_on_unfinalised_model_says_not_finalised);
    tcase_add_test(tc, checkpoint_of_another_model_is_refused_unless_allowed);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
