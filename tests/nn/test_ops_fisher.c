/* The per-sample Fisher-Rao terms of the new layer kinds against brute
 * force (docs/proxies.md §4.2, §4.4 test 1): one backward of a batch of B with
 * the model's directional collection on gives s_n, and d_n = B s_n must
 * equal theta . grad l_n from sample n run alone (a batch of one), dotted
 * over every parameter. Needs the internal model (m->collect_directional),
 * so this test links the static twin. Also pins batch norm's running
 * statistics, which only the internal accessor exposes. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "gradcheck.h"
#include "nn/graph.h"
#include "nn/op_batchnorm.h"
#include "test_util.h"

static sigeo_context_t *ctx;
static void setup(void)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.seed = 3;
    ck_assert_int_eq(sigeo_context_create(&ctx, &o), SIGEO_OK);
}
static void teardown(void)
{
    sigeo_context_destroy(ctx);
    ctx = NULL;
}

static int32_t input(sigeo_model_t *m, int64_t c, int64_t h, int64_t w)
{
    sigeo_input_desc_t d = SIGEO_INPUT_DESC_INIT;
    d.name = "x";
    d.features = c * (h ? h * w : 1);
    if (h) {
        d.shape[0] = c;
        d.shape[1] = h;
        d.shape[2] = w;
    }
    int32_t id;
    ck_assert_msg(sigeo_model_add_input(&id, m, &d) == SIGEO_OK, "%s", sigeo_last_error());
    return id;
}

static int32_t linear(sigeo_model_t *m, const char *name, int32_t in, int64_t units)
{
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_LINEAR, name, &in);
    d.units = units;
    return add(m, &d);
}

static int32_t act(sigeo_model_t *m, const char *name, int32_t in, sigeo_activation_t a)
{
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_ACTIVATION, name, &in);
    d.activation = a;
    return add(m, &d);
}

static int32_t tokens(sigeo_model_t *m, const char *name, int32_t in, int64_t t, int64_t e)
{
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_RESHAPE, name, &in);
    d.shape[0] = t;
    d.shape[1] = e;
    return add(m, &d);
}

/* theta . grad of the last backward, over every parameter, in double. */
static double theta_dot_grad(const sigeo_model_t *m)
{
    double s = 0.0;
    for (int32_t p = 0; p < m->n_params; p++) {
        const int64_t n = m->params[p].numel;
        float *v = malloc((size_t)n * sizeof *v), *g = malloc((size_t)n * sizeof *g);
        ck_assert_int_eq(sigeo_model_get_param(m, p, v, n), SIGEO_OK);
        ck_assert_int_eq(sigeo_model_get_grad(m, p, g, n), SIGEO_OK);
        for (int64_t i = 0; i < n; i++)
            s += (double)v[i] * g[i];
        free(v);
        free(g);
    }
    return s;
}

/* Compares B s_n from the batch with theta . grad l_n of each sample alone.
 * `row` gives sample n's copy of the batch (dense, labels, targets). */
static void check_per_sample_terms(sigeo_model_t *m, const sigeo_batch_t *b, int64_t n_targets)
{
    const int64_t B = b->batch_size, F = b->n_dense;
    m->collect_directional = true;
    double loss;
    ck_assert_msg(sigeo_model_forward_backward(&loss, m, b) == SIGEO_OK, "%s", sigeo_last_error());
    double *d = malloc((size_t)B * sizeof *d), sum_s = 0.0;
    for (int64_t n = 0; n < B; n++) {
        d[n] = (double)B * m->directional[n];
        sum_s += m->directional[n];
    }
    /* consistency: sum_n s_n = theta . grad L (docs/proxies.md §4.2) */
    const double batch_dot = theta_dot_grad(m);
    ck_assert_near(sum_s, batch_dot, 1e-4, 1e-7);
    double scale = 0.0;
    for (int64_t n = 0; n < B; n++) {
        sigeo_batch_t one = *b;
        one.batch_size = 1;
        one.dense = b->dense + n * F;
        one.labels = b->labels ? b->labels + n : NULL;
        one.targets = b->targets ? b->targets + n * n_targets : NULL;
        ck_assert_msg(sigeo_model_forward_backward(&loss, m, &one) == SIGEO_OK, "%s", sigeo_last_error());
        const double brute = theta_dot_grad(m);
        scale = fmax(scale, fabs(brute));
        ck_assert_msg(fabs(d[n] - brute) <= 1e-4 * fabs(brute) + 1e-6 * scale,
                      "sample %lld: B s_n = %.9g, theta . grad l_n = %.9g (relative %.2g)", (long long)n, d[n], brute,
                      fabs(d[n] - brute) / fabs(brute));
    }
    ck_assert_double_gt(scale, 1e-3); /* a real, non-zero check */
    m->collect_directional = false;
    free(d);
}

/* conv (bias) -> relu -> conv (no bias) -> eval-mode batch norm -> max pool -> head. */
START_TEST(conv_per_sample_terms_equal_brute_force)
{
    enum { B = 5, C = 2, H = 5, W = 4 };
    sigeo_model_t *m;
    ck_assert_int_eq(sigeo_model_create(&m, ctx, "conv_fr"), SIGEO_OK);
    int32_t x = input(m, C, H, W);
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_CONV2D, "c1", &x);
    d.units = 3;
    d.kernel[0] = d.kernel[1] = 3;
    d.padding[0] = d.padding[1] = 1;
    int32_t c1 = act(m, "c1_act", add(m, &d), SIGEO_ACT_RELU);
    d = desc(SIGEO_LAYER_CONV2D, "c2", &c1);
    d.units = 4;
    d.kernel[0] = 2;
    d.kernel[1] = 3;
    d.stride[0] = 2;
    d.flags = SIGEO_LAYER_NO_BIAS;
    int32_t c2 = add(m, &d);
    d = desc(SIGEO_LAYER_BATCH_NORM, "bn", &c2);
    d.flags = SIGEO_LAYER_RUNNING_STATS; /* eval mode: per sample, so the identity stays exact */
    int32_t bn = add(m, &d);
    d = desc(SIGEO_LAYER_POOL2D, "mp", &bn);
    d.pooling = SIGEO_POOL_MAX;
    d.kernel[0] = d.kernel[1] = 2;
    int32_t p = add(m, &d);
    int32_t y = linear(m, "head", p, 3);
    ck_assert_int_eq(sigeo_model_set_loss(m, y, SIGEO_LOSS_SOFTMAX_CE), SIGEO_OK);
    ck_assert_msg(sigeo_model_finalize(m) == SIGEO_OK, "%s", sigeo_last_error());
    float dense[B * C * H * W];
    int32_t labels[B] = { 0, 1, 2, 0, 1 };
    gc_fill(dense, B * C * H * W, 1.0);
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = B;
    b.dense = dense;
    b.n_dense = C * H * W;
    b.labels = labels;
    check_per_sample_terms(m, &b, 0);
    sigeo_model_destroy(m);
}
END_TEST

/* fc -> tokens -> attention -> tanh -> head (BCE). */
START_TEST(attention_per_sample_terms_equal_brute_force)
{
    enum { B = 4, F = 5, T = 3, E = 4 };
    sigeo_model_t *m;
    ck_assert_int_eq(sigeo_model_create(&m, ctx, "attn_fr"), SIGEO_OK);
    int32_t x = input(m, F, 0, 0);
    int32_t t = tokens(m, "tok", linear(m, "fc", x, T * E), T, E);
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_ATTENTION, "mha", &t);
    d.heads = 2;
    int32_t a = act(m, "a_act", add(m, &d), SIGEO_ACT_TANH);
    int32_t y = linear(m, "head", a, 2);
    ck_assert_int_eq(sigeo_model_set_loss(m, y, SIGEO_LOSS_BCE_WITH_LOGITS), SIGEO_OK);
    ck_assert_msg(sigeo_model_finalize(m) == SIGEO_OK, "%s", sigeo_last_error());
    /* non-zero biases, so both halves of each projection's term count */
    for (int k = 1; k < 4; k += 2) {
        sigeo__param_t *bp = &m->params[m->nodes[a - 1].param[0] + k];
        gc_fill(bp->data, bp->numel, 0.3);
    }
    float dense[B * F], targets[B * 2];
    gc_fill(dense, B * F, 1.0);
    for (int i = 0; i < B * 2; i++)
        targets[i] = (float)(i % 3 == 1);
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = B;
    b.dense = dense;
    b.n_dense = F;
    b.targets = targets;
    b.n_targets = 2;
    check_per_sample_terms(m, &b, 2);
    sigeo_model_destroy(m);
}
END_TEST

/* fc -> tokens -> elastic token linear -> sigmoid gating with a linear -> head (MSE), two widths. */
START_TEST(token_linear_and_gating_per_sample_terms_equal_brute_force)
{
    enum { B = 5, F = 6, T = 3, E = 2 };
    sigeo_model_t *m;
    ck_assert_int_eq(sigeo_model_create(&m, ctx, "tl_fr"), SIGEO_OK);
    int32_t c;
    ck_assert_int_eq(sigeo_model_add_choice(&c, m, "tout", 2, (const int64_t[]){ 2, 4 }), SIGEO_OK);
    int32_t x = input(m, F, 0, 0);
    int32_t t = tokens(m, "tok", linear(m, "fc", x, T * E), T, E);
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_TOKEN_LINEAR, "tl", &t);
    d.units = 4;
    d.width_choice = c;
    int32_t tl = act(m, "tl_act", add(m, &d), SIGEO_ACT_TANH);
    const int32_t lr[2] = { tl, linear(m, "r", x, 5) };
    d = desc(SIGEO_LAYER_SIGMOID_GATING, "gate", lr);
    d.n_inputs = 2;
    int32_t g = add(m, &d);
    int32_t y = linear(m, "head", g, 2);
    ck_assert_int_eq(sigeo_model_set_loss(m, y, SIGEO_LOSS_MSE), SIGEO_OK);
    ck_assert_msg(sigeo_model_finalize(m) == SIGEO_OK, "%s", sigeo_last_error());
    float dense[B * F], targets[B * 2];
    gc_fill(dense, B * F, 1.0);
    gc_fill(targets, B * 2, 1.0);
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = B;
    b.dense = dense;
    b.n_dense = F;
    b.targets = targets;
    b.n_targets = 2;
    for (int32_t w = 0; w < 2; w++) {
        ck_assert_int_eq(sigeo_model_activate(m, &w, 1), SIGEO_OK);
        check_per_sample_terms(m, &b, 2);
    }
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(batch_norm_updates_running_stats_with_momentum_and_unbiased_variance)
{
    enum { B = 4, C = 2, S = 3 };
    sigeo_model_t *m;
    ck_assert_int_eq(sigeo_model_create(&m, ctx, "bn_stats"), SIGEO_OK);
    int32_t x = input(m, C, 1, S);
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_BATCH_NORM, "bn", &x);
    int32_t bn = add(m, &d);
    ck_assert_int_eq(sigeo_model_set_loss(m, bn, SIGEO_LOSS_MSE), SIGEO_OK);
    ck_assert_msg(sigeo_model_finalize(m) == SIGEO_OK, "%s", sigeo_last_error());
    float *mean, *var;
    int64_t *tracked;
    ck_assert(sigeo__batch_norm_buffers(&m->nodes[bn], &mean, &var, &tracked));
    ck_assert_int_eq(m->nodes[bn].units, C);
    for (int c = 0; c < C; c++) {
        ck_assert_float_eq(mean[c], 0.0f);
        ck_assert_float_eq(var[c], 1.0f);
    }
    ck_assert_int_eq(*tracked, 0);
    float dense[B * C * S];
    gc_fill(dense, B * C * S, 2.0);
    for (int i = 0; i < B * C * S; i++)
        dense[i] += 1.0f;
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = B;
    b.dense = dense;
    b.n_dense = C * S;
    for (int step = 1; step <= 2; step++) {
        ck_assert_msg(sigeo_model_forward(NULL, m, &b) == SIGEO_OK, "%s", sigeo_last_error());
        /* a forward may move the node's scratch: fetch the buffers again */
        ck_assert(sigeo__batch_norm_buffers(&m->nodes[bn], &mean, &var, &tracked));
        ck_assert_int_eq(*tracked, step);
    }
    for (int c = 0; c < C; c++) {
        double mu = 0.0, ss = 0.0;
        for (int r = 0; r < B; r++)
            for (int s = 0; s < S; s++)
                mu += dense[r * C * S + c * S + s];
        mu /= B * S;
        for (int r = 0; r < B; r++)
            for (int s = 0; s < S; s++)
                ss += pow(dense[r * C * S + c * S + s] - mu, 2);
        const double unbiased = ss / (B * S - 1);
        /* two updates with the same batch: r = 0.9 (0.9 r0 + 0.1 v) + 0.1 v */
        ck_assert_near(mean[c], 0.9 * 0.1 * mu + 0.1 * mu, 1e-5, 1e-6);
        ck_assert_near(var[c], 0.81 * 1.0 + 0.19 * unbiased, 1e-5, 1e-6);
    }
    /* eval mode reads them back */
    m->nodes[bn].flags |= SIGEO_LAYER_RUNNING_STATS;
    ck_assert_msg(sigeo_model_forward(NULL, m, &b) == SIGEO_OK, "%s", sigeo_last_error());
    ck_assert(sigeo__batch_norm_buffers(&m->nodes[bn], &mean, &var, &tracked));
    ck_assert_int_eq(*tracked, 2);
    const float *y = m->nodes[bn].out;
    for (int r = 0; r < B; r++)
        for (int c = 0; c < C; c++)
            for (int s = 0; s < S; s++) {
                const int k = r * C * S + c * S + s;
                ck_assert_near(y[k], (dense[k] - mean[c]) / sqrt(var[c] + 1e-5), 1e-5, 1e-6);
            }
    sigeo_model_destroy(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ops_fisher");
    TCase *tc = tcase_create("fisher");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, conv_per_sample_terms_equal_brute_force);
    tcase_add_test(tc, attention_per_sample_terms_equal_brute_force);
    tcase_add_test(tc, token_linear_and_gating_per_sample_terms_equal_brute_force);
    tcase_add_test(tc, batch_norm_updates_running_stats_with_momentum_and_unbiased_variance);
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
