/* Sizes from descriptors that would wrap 64-bit arithmetic or exceed
 * SIGEO_MAX_ELEMENTS (model.h "Limits"): each must fail at the call that
 * introduces it, with SIGEO_ERR_SHAPE and the layer's name, before anything
 * is allocated. Issue 11 items 1-2: each of these was accepted. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "sigeo/model.h"
#include "sigeo/search.h"
#include "build.h"
#include "test_util.h"

static sigeo_context_t *ctx;
static sigeo_model_t *m;

static void setup(void)
{
    ck_assert_int_eq(sigeo_context_create(&ctx, NULL), SIGEO_OK);
    ck_assert_int_eq(sigeo_model_create(&m, ctx, "limits"), SIGEO_OK);
}

static void teardown(void)
{
    sigeo_model_destroy(m);
    sigeo_context_destroy(ctx);
    m = NULL;
    ctx = NULL;
}

static int32_t dense(const char *name, int64_t features)
{
    sigeo_input_desc_t d = SIGEO_INPUT_DESC_INIT;
    d.name = name;
    d.features = features;
    int32_t id = -1;
    ck_assert_msg(sigeo_model_add_input(&id, m, &d) == SIGEO_OK, "%s", sigeo_last_error());
    return id;
}

/* The call fails with SHAPE, names `who`, and the model stays usable: a
 * small layer still goes in afterwards. */
static void expect_refused(sigeo_status_t st, const char *who)
{
    ck_assert_msg(st == SIGEO_ERR_SHAPE, "status %s, want SIGEO_ERR_SHAPE (%s)", sigeo_status_string(st),
                  sigeo_last_error());
    ck_assert_str_contains(sigeo_model_last_error(m), who);
}

/* Item 1: rows * units = (2^62 + 1) * 4 wraps to 4 floats. */
START_TEST(embedding_rows_times_units_wraps)
{
    sigeo_input_desc_t s = SIGEO_INPUT_DESC_INIT;
    s.kind = SIGEO_INPUT_SPARSE;
    s.name = "ids";
    s.field = 0;
    int32_t ids;
    ck_assert_int_eq(sigeo_model_add_input(&ids, m, &s), SIGEO_OK);
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_EMBEDDING_BAG, "emb", &ids);
    d.rows = ((int64_t)1 << 62) + 1;
    d.units = 4;
    expect_refused(sigeo_model_add_layer(NULL, m, &d), "emb");
    d.rows = 10;
    ck_assert_msg(sigeo_model_add_layer(NULL, m, &d) == SIGEO_OK, "%s", sigeo_last_error());
}
END_TEST

/* Item 2: 2^33 inputs x 2^31 units wraps to 0; the input itself exceeds the limit. */
START_TEST(linear_weight_wraps)
{
    int32_t x = dense("x", (int64_t)1 << 33);
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_LINEAR, "fc", &x);
    d.units = (int64_t)1 << 31;
    expect_refused(sigeo_model_add_layer(NULL, m, &d), "fc");
    d.units = 2; /* 2^34 elements: fine */
    ck_assert_msg(sigeo_model_add_layer(NULL, m, &d) == SIGEO_OK, "%s", sigeo_last_error());
}
END_TEST

START_TEST(linear_weight_over_limit)
{
    int32_t x = dense("x", (int64_t)1 << 30);
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_LINEAR, "fc", &x);
    d.units = ((int64_t)1 << 10) + 1; /* (2^40 + 2^30) weights: no wrap, over the limit */
    expect_refused(sigeo_model_add_layer(NULL, m, &d), "fc");
}
END_TEST

START_TEST(input_features_over_limit)
{
    sigeo_input_desc_t d = SIGEO_INPUT_DESC_INIT;
    d.name = "huge";
    d.features = INT64_MAX;
    expect_refused(sigeo_model_add_input(NULL, m, &d), "huge");
    d.features = SIGEO_MAX_ELEMENTS + 1;
    expect_refused(sigeo_model_add_input(NULL, m, &d), "huge");
    d.features = SIGEO_MAX_ELEMENTS;
    ck_assert_msg(sigeo_model_add_input(NULL, m, &d) == SIGEO_OK, "%s", sigeo_last_error());
}
END_TEST

/* 3 * 4 * (2^62 + 1) wraps to 12 = features. */
START_TEST(input_shape_product_wraps)
{
    sigeo_input_desc_t d = SIGEO_INPUT_DESC_INIT;
    d.name = "img";
    d.features = 12;
    d.shape[0] = 3;
    d.shape[1] = 4;
    d.shape[2] = ((int64_t)1 << 62) + 1;
    expect_refused(sigeo_model_add_input(NULL, m, &d), "img");
}
END_TEST

START_TEST(reshape_shape_product_wraps)
{
    int32_t x = dense("x", 12);
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_RESHAPE, "rs", &x);
    d.shape[0] = 3;
    d.shape[1] = 4;
    d.shape[2] = ((int64_t)1 << 62) + 1;
    expect_refused(sigeo_model_add_layer(NULL, m, &d), "rs");
}
END_TEST

/* Conv output features = units * OH * OW: 2^21 channels over a 2^10 x 2^10 plane. */
START_TEST(conv_output_over_limit)
{
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "img";
    in.features = (int64_t)1 << 20;
    in.shape[0] = 1;
    in.shape[1] = 1 << 10;
    in.shape[2] = 1 << 10;
    int32_t x;
    ck_assert_int_eq(sigeo_model_add_input(&x, m, &in), SIGEO_OK);
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_CONV2D, "conv", &x);
    d.units = (int64_t)1 << 21;
    d.kernel[0] = d.kernel[1] = 1;
    expect_refused(sigeo_model_add_layer(NULL, m, &d), "conv");
    d.kernel[0] = d.kernel[1] = 1;
    d.units = 2;
    d.padding[0] = INT64_MAX / 2; /* span = H + 2 * padding wraps */
    sigeo_status_t st = sigeo_model_add_layer(NULL, m, &d);
    ck_assert_msg(st == SIGEO_ERR_SHAPE || st == SIGEO_ERR_INVALID_ARG, "%s", sigeo_last_error());
}
END_TEST

START_TEST(pool_padding_wraps)
{
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "img";
    in.features = 16;
    in.shape[0] = 1;
    in.shape[1] = 4;
    in.shape[2] = 4;
    int32_t x;
    ck_assert_int_eq(sigeo_model_add_input(&x, m, &in), SIGEO_OK);
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_POOL2D, "pool", &x);
    d.pooling = SIGEO_POOL_MAX;
    d.kernel[0] = d.kernel[1] = INT64_MAX;
    d.padding[0] = d.padding[1] = INT64_MAX / 2;
    sigeo_status_t st = sigeo_model_add_layer(NULL, m, &d);
    ck_assert_msg(st == SIGEO_ERR_SHAPE || st == SIGEO_ERR_INVALID_ARG, "%s", sigeo_last_error());
}
END_TEST

/* Token linear output = units * E. */
START_TEST(token_linear_over_limit)
{
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "tok";
    in.features = (int64_t)1 << 30;
    int32_t x;
    ck_assert_int_eq(sigeo_model_add_input(&x, m, &in), SIGEO_OK);
    sigeo_layer_desc_t r = desc(SIGEO_LAYER_RESHAPE, "rs", &x);
    r.shape[0] = 2;
    r.shape[1] = (int64_t)1 << 29;
    int32_t t = -1;
    ck_assert_msg(sigeo_model_add_layer(&t, m, &r) == SIGEO_OK, "%s", sigeo_last_error());
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_TOKEN_LINEAR, "tl", &t);
    d.units = (int64_t)1 << 40;
    expect_refused(sigeo_model_add_layer(NULL, m, &d), "tl");
}
END_TEST

/* Dot interaction of n inputs: n (n - 1) / 2 pairs of E-wide features. */
START_TEST(interaction_pairs_over_limit)
{
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "tok";
    in.features = (int64_t)1 << 34;
    int32_t x;
    ck_assert_int_eq(sigeo_model_add_input(&x, m, &in), SIGEO_OK);
    sigeo_layer_desc_t r = desc(SIGEO_LAYER_RESHAPE, "rs", &x);
    r.shape[0] = (int64_t)1 << 33; /* 2^33 tokens of 2: 2^65 pairs */
    r.shape[1] = 2;
    int32_t t = -1;
    ck_assert_msg(sigeo_model_add_layer(&t, m, &r) == SIGEO_OK, "%s", sigeo_last_error());
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_DOT_INTERACTION, "dot", &t);
    expect_refused(sigeo_model_add_layer(NULL, m, &d), "dot");
}
END_TEST

/* Concat of widths that sum past the limit. */
START_TEST(concat_sum_over_limit)
{
    int32_t a = dense("a", SIGEO_MAX_ELEMENTS), b = dense("b", SIGEO_MAX_ELEMENTS);
    int32_t in[2] = { a, b };
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_CONCAT, "cat", in);
    d.n_inputs = 2;
    expect_refused(sigeo_model_add_layer(NULL, m, &d), "cat");
}
END_TEST

/* Batch rows x features of a node over the limit (2^21 rows of 2^20): the
 * forward refuses it before reading the batch or allocating activations. */
START_TEST(batch_times_width_over_limit)
{
    int32_t x = dense("x", (int64_t)1 << 20);
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_LINEAR, "fc", &x);
    d.units = 1;
    int32_t y;
    ck_assert_msg(sigeo_model_add_layer(&y, m, &d) == SIGEO_OK, "%s", sigeo_last_error());
    ck_assert_int_eq(sigeo_model_set_loss(m, y, SIGEO_LOSS_MSE), SIGEO_OK);
    ck_assert_msg(sigeo_model_finalize(m) == SIGEO_OK, "%s", sigeo_last_error());
    static float few[16], targets[16];
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = (int64_t)1 << 21;
    b.dense = few; /* far too short: must not be read */
    b.n_dense = (int64_t)1 << 20;
    b.targets = targets;
    b.n_targets = 1;
    double loss = 0;
    sigeo_status_t st = sigeo_model_forward(&loss, m, &b);
    ck_assert_msg(st == SIGEO_ERR_SHAPE, "status %s (%s)", sigeo_status_string(st), sigeo_last_error());
    ck_assert_str_contains(sigeo_model_last_error(m), "x");
}
END_TEST

/* Item 2: nasrec-small with a table of INT64_MAX rows reported "(-4 floats)". */
START_TEST(space_table_rows_over_limit)
{
    int64_t rows[26];
    for (int i = 0; i < 26; i++)
        rows[i] = 100;
    rows[3] = INT64_MAX;
    sigeo_space_options_t o = SIGEO_SPACE_OPTIONS_INIT;
    o.n_dense = 13;
    o.n_sparse_fields = 26;
    o.table_rows = rows;
    sigeo_model_t *s = NULL;
    sigeo_status_t st = sigeo_space_build(&s, ctx, "nasrec-small", &o);
    ck_assert_ptr_null(s);
    ck_assert_msg(st == SIGEO_ERR_SHAPE || st == SIGEO_ERR_INVALID_ARG, "status %s: %s", sigeo_status_string(st),
                  sigeo_last_error());
    ck_assert_msg(strstr(sigeo_last_error(), "-") == NULL || strstr(sigeo_last_error(), "floats") == NULL,
                  "negative size in '%s'", sigeo_last_error());
    ck_assert_str_contains(sigeo_last_error(), "rows");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("limits");
    TCase *tc = tcase_create("builder");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, embedding_rows_times_units_wraps);
    tcase_add_test(tc, linear_weight_wraps);
    tcase_add_test(tc, linear_weight_over_limit);
    tcase_add_test(tc, input_features_over_limit);
    tcase_add_test(tc, input_shape_product_wraps);
    tcase_add_test(tc, reshape_shape_product_wraps);
    tcase_add_test(tc, conv_output_over_limit);
    tcase_add_test(tc, pool_padding_wraps);
    tcase_add_test(tc, token_linear_over_limit);
    tcase_add_test(tc, interaction_pairs_over_limit);
    tcase_add_test(tc, concat_sum_over_limit);
    tcase_add_test(tc, batch_times_width_over_limit);
    tcase_add_test(tc, space_table_rows_over_limit);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
