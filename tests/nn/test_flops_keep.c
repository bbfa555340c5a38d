/* FLOPs conventions of sigeo_model_count, hand-counted here per op, and the
 * documented rule for keeping a branch the loss does not depend on (a ZERO
 * layer reads it, model.h): the branch is computed, counted in #params and
 * FLOPs, its ReLU output is there (NASWOT sees it), and its parameters get
 * a zero gradient; without the ZERO reader it is not run at all. */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "sigeo/model.h"

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

static sigeo_context_t *ctx;
static void setup(void)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.seed = 3;
    OK(sigeo_context_create(&ctx, &o));
}
static void teardown(void)
{
    sigeo_context_destroy(ctx);
    ctx = NULL;
}

/* x (1,4,4) -> conv 3x3 p1 (2 ch, bias) -> relu -> avg pool 2 -> max pool 3 s1 p1 -> linear 8 -> 3 (bias). */
START_TEST(flops_conventions_match_hand_counts)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "flops"));
    int32_t x = chw_input(m, 1, 4, 4);
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_CONV2D, "conv", &x);
    d.units = 2;
    d.kernel[0] = d.kernel[1] = 3;
    d.padding[0] = d.padding[1] = 1;
    int32_t h = add(m, &d);
    d = desc(SIGEO_LAYER_ACTIVATION, "relu", &h);
    d.activation = SIGEO_ACT_RELU;
    h = add(m, &d);
    d = desc(SIGEO_LAYER_POOL2D, "ap", &h);
    d.pooling = SIGEO_POOL_MEAN;
    d.kernel[0] = d.kernel[1] = 2;
    h = add(m, &d);
    d = desc(SIGEO_LAYER_POOL2D, "mp", &h);
    d.pooling = SIGEO_POOL_MAX;
    d.kernel[0] = d.kernel[1] = 3;
    d.stride[0] = d.stride[1] = 1;
    d.padding[0] = d.padding[1] = 1;
    h = add(m, &d);
    d = desc(SIGEO_LAYER_LINEAR, "head", &h);
    d.units = 3;
    int32_t y = add(m, &d);
    OK(sigeo_model_set_loss(m, y, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    const int64_t conv = 3 * 3 * 1 * 2 * 4 * 4, relu = 2 * 4 * 4, ap = 2 * 2 * 2 * 2 * 2, mp = 3 * 3 * 2 * 2 * 2,
                  lin = 8 * 3, bias = 3;
    const int64_t params = 2 * 9 + 2 + 8 * 3 + 3;
    int64_t p, f;
    OK(sigeo_model_count(&p, &f, m, NULL, 0));
    ck_assert_int_eq(p, params);
    ck_assert_int_eq(f, conv + relu + lin); /* tensorwatch, the default */
    OK(sigeo_model_set_flops_convention(m, SIGEO_FLOPS_NB201));
    OK(sigeo_model_count(&p, &f, m, NULL, 0));
    ck_assert_int_eq(p, params);
    ck_assert_int_eq(f, conv + ap + mp + lin + bias);
    sigeo_model_t *x2;
    OK(sigeo_model_extract(&x2, m, NULL, 0, 0));
    OK(sigeo_model_count(NULL, &f, x2, NULL, 0));
    ck_assert_int_eq(f, conv + ap + mp + lin + bias); /* the extracted model keeps the convention */
    sigeo_model_destroy(x2);
    ck_assert_int_eq(sigeo_model_set_flops_convention(m, 7), SIGEO_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sigeo_model_last_error(m), "unknown convention 7") != NULL, "%s", sigeo_model_last_error(m));
    OK(sigeo_model_count(NULL, &f, m, NULL, 0)); /* unchanged, still usable */
    ck_assert_int_eq(f, conv + ap + mp + lin + bias);
    sigeo_model_destroy(m);
}
END_TEST

/* x (6) -> fc (5) -> relu -> [+ zero(dead_relu)] -> head (3); dead: x -> fc_dead (4) -> relu. */
static sigeo_model_t *branchy(bool keep, int32_t *dead_relu)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, keep ? "keep" : "drop"));
    int32_t x = chw_input(m, 6, 0, 0);
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_LINEAR, "fc", &x);
    d.units = 5;
    int32_t h = add(m, &d);
    d = desc(SIGEO_LAYER_ACTIVATION, "relu", &h);
    d.activation = SIGEO_ACT_RELU;
    h = add(m, &d);
    d = desc(SIGEO_LAYER_LINEAR, "fc_dead", &x);
    d.units = 4;
    int32_t g = add(m, &d);
    d = desc(SIGEO_LAYER_ACTIVATION, "relu_dead", &g);
    d.activation = SIGEO_ACT_RELU;
    *dead_relu = add(m, &d);
    if (keep) {
        d = desc(SIGEO_LAYER_ZERO, "none", dead_relu);
        d.units = 5;
        int32_t z = add(m, &d);
        int32_t ins[2] = { h, z };
        d = desc(SIGEO_LAYER_SUM, "sum", ins);
        d.n_inputs = 2;
        h = add(m, &d);
    }
    d = desc(SIGEO_LAYER_LINEAR, "head", &h);
    d.units = 3;
    int32_t y = add(m, &d);
    OK(sigeo_model_set_loss(m, y, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    return m;
}

START_TEST(a_zero_reader_keeps_a_branch_the_loss_does_not_need)
{
    float x[2 * 6] = { 1, -2, 3, 0.5f, -1, 2, -1, 1, 0.25f, 2, -3, 1 };
    int32_t labels[2] = { 0, 2 };
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = 2;
    b.dense = x;
    b.n_dense = 6;
    b.labels = labels;
    const int64_t main_params = 6 * 5 + 5 + 5 * 3 + 3, dead_params = 6 * 4 + 4;
    const int64_t main_flops = 6 * 5 + 5 + 5 * 3, dead_flops = 6 * 4 + 4; /* tensorwatch: relu numel */
    int32_t dead;
    double loss_drop, loss_keep;
    sigeo_model_t *m = branchy(false, &dead);
    int64_t p, f, n;
    OK(sigeo_model_count(&p, &f, m, NULL, 0));
    ck_assert_int_eq(p, main_params);
    ck_assert_int_eq(f, main_flops);
    OK(sigeo_model_forward_backward(&loss_drop, m, &b));
    ck_assert_int_ne(sigeo_model_node_output(NULL, &n, m, dead), SIGEO_OK); /* not run */
    sigeo_model_destroy(m);

    m = branchy(true, &dead);
    OK(sigeo_model_count(&p, &f, m, NULL, 0));
    ck_assert_int_eq(p, main_params + dead_params);
    ck_assert_int_eq(f, main_flops + dead_flops);
    OK(sigeo_model_forward_backward(&loss_keep, m, &b));
    OK(sigeo_model_node_output(NULL, &n, m, dead));
    ck_assert_int_eq(n, 2 * 4);
    float out[8], w[24], bias[4];
    int32_t pw, pb;
    OK(sigeo_model_node_output(out, &n, m, dead));
    OK(sigeo_model_find_param(&pw, m, "fc_dead.weight"));
    OK(sigeo_model_find_param(&pb, m, "fc_dead.bias"));
    OK(sigeo_model_get_param(m, pw, w, 24));
    OK(sigeo_model_get_param(m, pb, bias, 4));
    for (int r = 0; r < 2; r++)
        for (int j = 0; j < 4; j++) {
            double z = bias[j];
            for (int i = 0; i < 6; i++)
                z += (double)w[j * 6 + i] * x[r * 6 + i];
            ck_assert_msg(fabs(out[r * 4 + j] - fmax(z, 0.0)) < 1e-5, "dead relu [%d,%d] = %g, want %g", r, j,
                          out[r * 4 + j], fmax(z, 0.0));
        }
    float g[24];
    OK(sigeo_model_get_grad(m, pw, g, 24));
    for (int i = 0; i < 24; i++)
        ck_assert(g[i] == 0.0f);
    sigeo_model_destroy(m);
    (void)loss_drop;
    (void)loss_keep;
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("flops_keep");
    TCase *tc = tcase_create("counts");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, flops_conventions_match_hand_counts);
    tcase_add_test(tc, a_zero_reader_keeps_a_branch_the_loss_does_not_need);
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
