/* Optimisers against hand-computed updates, row-sparse vs dense
 * equivalence, clipping, schedules, AUC with ties, and the driver. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "sigeo/data.h"
#include "sigeo/model.h"
#include "sigeo/train.h"

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
}

/* A linear model y = W x + b (2 -> 1) with MSE: grad known in closed form. */
static sigeo_model_t *linear_model(void)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "lin"));
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "x";
    in.features = 2;
    int32_t x, y;
    OK(sigeo_model_add_input(&x, m, &in));
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.name = "fc";
    d.inputs = &x;
    d.n_inputs = 1;
    d.units = 1;
    OK(sigeo_model_add_layer(&y, m, &d));
    OK(sigeo_model_set_loss(m, y, SIGEO_LOSS_MSE));
    OK(sigeo_model_finalize(m));
    const float w[2] = { 0.5f, -1.0f }, b[1] = { 0.25f };
    OK(sigeo_model_set_param(m, 0, w, 2));
    OK(sigeo_model_set_param(m, 1, b, 1));
    return m;
}

/* One sample x = (1, 2), t = 1: y = 0.5 - 2 + 0.25 = -1.25, dL/dy = 2 (y - t) = -4.5,
 * gW = (-4.5, -9), gb = -4.5. */
static const float X[2] = { 1.0f, 2.0f }, T[1] = { 1.0f };
static const double GW[2] = { -4.5, -9.0 }, GB = -4.5;

static sigeo_batch_t one_sample(void)
{
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = 1;
    b.dense = X;
    b.n_dense = 2;
    b.targets = T;
    b.n_targets = 1;
    return b;
}

static void params(sigeo_model_t *m, float w[2], float b[1])
{
    OK(sigeo_model_get_param(m, 0, w, 2));
    OK(sigeo_model_get_param(m, 1, b, 1));
}

START_TEST(sgd_momentum_and_weight_decay_match_hand_updates)
{
    sigeo_model_t *m = linear_model();
    sigeo_optimizer_options_t o = SIGEO_OPTIMIZER_OPTIONS_INIT;
    o.kind = SIGEO_OPT_SGD;
    o.lr = 0.1;
    o.momentum = 0.9;
    o.weight_decay = 0.01;
    sigeo_optimizer_t *opt;
    OK(sigeo_optimizer_create(&opt, m, &o));
    sigeo_batch_t b = one_sample();
    OK(sigeo_model_forward_backward(NULL, m, &b));
    OK(sigeo_optimizer_step(opt, 0.1));
    float w[2], bb[1];
    params(m, w, bb);
    /* step 1: v = g + wd theta; theta -= lr v */
    double v0 = GW[0] + 0.01 * 0.5, v1 = GW[1] + 0.01 * -1.0, vb = GB + 0.01 * 0.25;
    ck_assert_double_eq_tol(w[0], 0.5 - 0.1 * v0, 1e-6);
    ck_assert_double_eq_tol(w[1], -1.0 - 0.1 * v1, 1e-6);
    ck_assert_double_eq_tol(bb[0], 0.25 - 0.1 * vb, 1e-6);
    /* step 2 at the new point: y' = w'.x + b', g' = 2 (y' - 1) x; v = 0.9 v + g' + wd theta' */
    double w0 = 0.5 - 0.1 * v0, w1 = -1.0 - 0.1 * v1, b0 = 0.25 - 0.1 * vb;
    double dy = 2 * (w0 * 1 + w1 * 2 + b0 - 1);
    OK(sigeo_model_forward_backward(NULL, m, &b));
    OK(sigeo_optimizer_step(opt, 0.1));
    params(m, w, bb);
    double v0b = 0.9 * v0 + dy * 1 + 0.01 * w0, v1b = 0.9 * v1 + dy * 2 + 0.01 * w1;
    ck_assert_double_eq_tol(w[0], w0 - 0.1 * v0b, 1e-5);
    ck_assert_double_eq_tol(w[1], w1 - 0.1 * v1b, 1e-5);
    sigeo_optimizer_destroy(opt);
    sigeo_model_destroy(m);
}
END_TEST

/* PyTorch SGD(momentum 0.9, nesterov, weight_decay 5e-4): d = g + wd p;
 * buf = d (first step) then 0.9 buf + d; p -= lr (d + 0.9 buf). Weight decay
 * reaches the bias too (every parameter). */
START_TEST(sgd_nesterov_matches_hand_updates)
{
    sigeo_model_t *m = linear_model();
    sigeo_optimizer_options_t o = SIGEO_OPTIMIZER_OPTIONS_INIT;
    o.kind = SIGEO_OPT_SGD;
    o.momentum = 0.9;
    o.weight_decay = 5e-4;
    o.nesterov = 1;
    sigeo_optimizer_t *opt;
    OK(sigeo_optimizer_create(&opt, m, &o));
    sigeo_batch_t b = one_sample();
    double th[3] = { 0.5, -1.0, 0.25 }, buf[3];
    const double x[3] = { 1, 2, 1 };
    const double lrs[3] = { 0.1, 0.07, 0.05 };
    for (int s = 0; s < 3; s++) {
        double dy = 2 * (th[0] * x[0] + th[1] * x[1] + th[2] - 1);
        for (int j = 0; j < 3; j++) {
            const double d = dy * x[j] + 5e-4 * th[j];
            buf[j] = s == 0 ? d : 0.9 * buf[j] + d;
            th[j] -= lrs[s] * (d + 0.9 * buf[j]);
        }
        OK(sigeo_model_forward_backward(NULL, m, &b));
        OK(sigeo_optimizer_step(opt, lrs[s]));
        float w[2], bb[1];
        params(m, w, bb);
        ck_assert_double_eq_tol(w[0], th[0], 1e-5);
        ck_assert_double_eq_tol(w[1], th[1], 1e-5);
        ck_assert_double_eq_tol(bb[0], th[2], 1e-5);
    }
    sigeo_optimizer_destroy(opt);
    o.momentum = 0.0;
    ck_assert_int_eq(sigeo_optimizer_create(&opt, m, &o), SIGEO_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sigeo_last_error(), "nesterov") != NULL, "%s", sigeo_last_error());
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(adagrad_and_adam_match_hand_updates)
{
    sigeo_model_t *m = linear_model();
    sigeo_optimizer_options_t o = SIGEO_OPTIMIZER_OPTIONS_INIT;
    o.kind = SIGEO_OPT_ADAGRAD;
    o.eps = 1e-2;
    sigeo_optimizer_t *opt;
    OK(sigeo_optimizer_create(&opt, m, &o));
    sigeo_batch_t b = one_sample();
    OK(sigeo_model_forward_backward(NULL, m, &b));
    OK(sigeo_optimizer_step(opt, 0.12));
    float w[2], bb[1];
    params(m, w, bb);
    /* acc = g^2; theta -= lr g / (|g| + eps) */
    ck_assert_double_eq_tol(w[0], 0.5 - 0.12 * GW[0] / (4.5 + 1e-2), 1e-6);
    ck_assert_double_eq_tol(w[1], -1.0 - 0.12 * GW[1] / (9.0 + 1e-2), 1e-6);
    sigeo_optimizer_destroy(opt);
    sigeo_model_destroy(m);

    m = linear_model();
    o.kind = SIGEO_OPT_ADAM;
    o.eps = 1e-8;
    o.beta1 = 0.9;
    o.beta2 = 0.999;
    OK(sigeo_optimizer_create(&opt, m, &o));
    OK(sigeo_model_forward_backward(NULL, m, &b));
    OK(sigeo_optimizer_step(opt, 0.001));
    params(m, w, bb);
    /* first Adam step: m_hat = g, v_hat = g^2, update = lr g / (|g| + eps) = lr sign(g) */
    ck_assert_double_eq_tol(w[0], 0.5 + 0.001 * (4.5 / (4.5 + 1e-8)), 1e-7);
    ck_assert_double_eq_tol(bb[0], 0.25 + 0.001, 1e-7);
    sigeo_optimizer_destroy(opt);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(gradient_clipping_scales_by_the_global_norm)
{
    sigeo_model_t *m = linear_model();
    sigeo_optimizer_options_t o = SIGEO_OPTIMIZER_OPTIONS_INIT;
    o.kind = SIGEO_OPT_SGD;
    o.clip_norm = 5.0;
    sigeo_optimizer_t *opt;
    OK(sigeo_optimizer_create(&opt, m, &o));
    sigeo_batch_t b = one_sample();
    OK(sigeo_model_forward_backward(NULL, m, &b));
    OK(sigeo_optimizer_step(opt, 1.0));
    float w[2], bb[1];
    params(m, w, bb);
    double norm = sqrt(GW[0] * GW[0] + GW[1] * GW[1] + GB * GB), s = 5.0 / (norm + 1e-6);
    ck_assert_double_eq_tol(w[0], 0.5 - s * GW[0], 1e-5);
    ck_assert_double_eq_tol(bb[0], 0.25 - s * GB, 1e-5);
    sigeo_optimizer_destroy(opt);
    sigeo_model_destroy(m);
}
END_TEST

/* Embedding bag (rows 0..9, dim 3) -> linear 1 -> MSE. Two Adagrad steps
 * with row-sparse updates equal a dense Adagrad computed here from the
 * full gradients read through the API; untouched rows stay bit-identical. */
START_TEST(row_sparse_adagrad_equals_dense_adagrad)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "emb"));
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.kind = SIGEO_INPUT_SPARSE;
    in.name = "c";
    int32_t c, e, y;
    OK(sigeo_model_add_input(&c, m, &in));
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = SIGEO_LAYER_EMBEDDING_BAG;
    d.name = "emb";
    d.inputs = &c;
    d.n_inputs = 1;
    d.units = 3;
    d.rows = 10;
    OK(sigeo_model_add_layer(&e, m, &d));
    d = (sigeo_layer_desc_t)SIGEO_LAYER_DESC_INIT;
    d.name = "fc";
    d.inputs = &e;
    d.n_inputs = 1;
    d.units = 1;
    OK(sigeo_model_add_layer(&y, m, &d));
    OK(sigeo_model_set_loss(m, y, SIGEO_LOSS_MSE));
    OK(sigeo_model_finalize(m));
    int64_t ids[5] = { 2, 7, 2, 4, 4 }, offs[4] = { 0, 2, 3, 5 };
    float tg[3] = { 1.0f, -1.0f, 0.5f };
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = 3;
    b.n_sparse_fields = 1;
    b.sparse_ids = ids;
    b.sparse_offsets = offs;
    b.targets = tg;
    b.n_targets = 1;
    sigeo_optimizer_options_t o = SIGEO_OPTIMIZER_OPTIONS_INIT;
    o.kind = SIGEO_OPT_ADAGRAD;
    o.eps = 1e-2;
    sigeo_optimizer_t *opt;
    OK(sigeo_optimizer_create(&opt, m, &o));
    float table[30], acc[30] = { 0 }, g[30], fcw[3], fca[3] = { 0 }, fcg[3];
    OK(sigeo_model_get_param(m, 0, table, 30));
    OK(sigeo_model_get_param(m, 1, fcw, 3));
    float table0[30];
    memcpy(table0, table, sizeof table);
    for (int step = 0; step < 2; step++) {
        OK(sigeo_model_forward_backward(NULL, m, &b));
        OK(sigeo_model_get_grad(m, 0, g, 30));
        OK(sigeo_model_get_grad(m, 1, fcg, 3));
        for (int i = 0; i < 30; i++) {
            acc[i] += g[i] * g[i];
            table[i] -= (float)(0.12 * g[i] / (sqrt(acc[i]) + 1e-2));
        }
        for (int i = 0; i < 3; i++) {
            fca[i] += fcg[i] * fcg[i];
            fcw[i] -= (float)(0.12 * fcg[i] / (sqrt(fca[i]) + 1e-2));
        }
        OK(sigeo_optimizer_step(opt, 0.12));
    }
    float got[30];
    OK(sigeo_model_get_param(m, 0, got, 30));
    for (int i = 0; i < 30; i++) {
        ck_assert_msg(fabsf(got[i] - table[i]) <= 1e-6f, "table[%d]: sparse %g vs dense %g", i, (double)got[i],
                      (double)table[i]);
        int row = i / 3;
        if (row != 2 && row != 4 && row != 7)
            ck_assert(got[i] == table0[i]);
    }
    sigeo_optimizer_destroy(opt);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(schedules_match_their_formulas)
{
    sigeo_lr_schedule_t s = SIGEO_LR_SCHEDULE_INIT;
    double lr;
    s.kind = SIGEO_LR_WARMUP_COSINE;
    s.lr = 0.12;
    s.lr_min = 1e-8;
    s.total_steps = 100;
    s.warmup_steps = 10;
    OK(sigeo_lr_at(&lr, &s, 0));
    ck_assert_double_eq_tol(lr, 1e-8, 1e-15);
    OK(sigeo_lr_at(&lr, &s, 5));
    ck_assert_double_eq_tol(lr, 1e-8 + (0.12 - 1e-8) * 0.5, 1e-12);
    OK(sigeo_lr_at(&lr, &s, 10));
    ck_assert_double_eq_tol(lr, 0.12, 1e-12);
    OK(sigeo_lr_at(&lr, &s, 55));
    ck_assert_double_eq_tol(lr, 1e-8 + (0.12 - 1e-8) * 0.5, 1e-12); /* halfway down the cosine */
    OK(sigeo_lr_at(&lr, &s, 100));
    ck_assert_double_eq_tol(lr, 1e-8, 1e-15);
    s.kind = SIGEO_LR_STEP;
    s.step_size = 10;
    s.gamma = 0.5;
    OK(sigeo_lr_at(&lr, &s, 25));
    ck_assert_double_eq_tol(lr, 0.12 * 0.25, 1e-12);
    s.kind = SIGEO_LR_COSINE;
    OK(sigeo_lr_at(&lr, &s, 50));
    ck_assert_double_eq_tol(lr, 1e-8 + (0.12 - 1e-8) * 0.5, 1e-12);
    s.warmup_steps = 200;
    s.kind = SIGEO_LR_WARMUP_COSINE;
    ck_assert_int_eq(sigeo_lr_at(&lr, &s, 1), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_lr_at(&lr, &s, -1), SIGEO_ERR_INVALID_ARG);
}
END_TEST

START_TEST(auc_matches_a_hand_computed_case_with_ties)
{
    /* scores 0.1(0) 0.4(1) 0.4(0) 0.8(1) 0.9(1): pairs (pos, neg):
     * vs 0.1: all 3 positives win = 3; vs the 0.4 negative: 0.4 pos ties (1/2),
     * 0.8 and 0.9 win = 2.5; AUC = 5.5 / 6. */
    const float s[5] = { 0.1f, 0.4f, 0.4f, 0.8f, 0.9f }, l[5] = { 0, 1, 0, 1, 1 };
    double auc;
    OK(sigeo_auc(&auc, s, l, 5));
    ck_assert_double_eq_tol(auc, 5.5 / 6.0, 1e-12);
    const float one_class[3] = { 1, 1, 1 };
    ck_assert_int_eq(sigeo_auc(&auc, s, one_class, 3), SIGEO_ERR_INVALID_ARG);
    const float nan_s[2] = { NAN, 0.5f }, l2[2] = { 0, 1 };
    ck_assert_int_eq(sigeo_auc(&auc, nan_s, l2, 2), SIGEO_ERR_NONFINITE);
}
END_TEST

/* The driver trains a small MLP on a learnable task: the loss falls and
 * validation accuracy is well above chance; non-finite data stops it. */
START_TEST(driver_trains_an_mlp_and_reports_progress)
{
    enum { N = 512, DIN = 6 };
    static float dense[N * DIN];
    static int32_t labels[N];
    gc_fill(dense, N * DIN, 1.0);
    for (int i = 0; i < N; i++)
        labels[i] = dense[i * DIN] + dense[i * DIN + 1] > 0 ? 1 : 0;
    sigeo_batch_t rows = SIGEO_BATCH_INIT;
    rows.batch_size = N;
    rows.dense = dense;
    rows.n_dense = DIN;
    rows.labels = labels;
    sigeo_dataset_t *all, *tr, *va, *te;
    OK(sigeo_dataset_create(&all, &rows));
    sigeo_split_options_t so = SIGEO_SPLIT_OPTIONS_INIT;
    OK(sigeo_dataset_split(&tr, &va, &te, all, &so));
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "mlp"));
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "x";
    in.features = DIN;
    int32_t x, h, y;
    OK(sigeo_model_add_input(&x, m, &in));
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.name = "fc0";
    d.inputs = &x;
    d.n_inputs = 1;
    d.units = 16;
    OK(sigeo_model_add_layer(&h, m, &d));
    d.kind = SIGEO_LAYER_ACTIVATION;
    d.activation = SIGEO_ACT_RELU;
    d.name = "relu";
    d.inputs = &h;
    OK(sigeo_model_add_layer(&h, m, &d));
    d.kind = SIGEO_LAYER_LINEAR;
    d.name = "fc1";
    d.units = 2;
    OK(sigeo_model_add_layer(&y, m, &d));
    OK(sigeo_model_set_loss(m, y, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    double loss0, acc0;
    OK(sigeo_evaluate(&loss0, NULL, &acc0, m, va, 64));
    sigeo_optimizer_options_t oo = SIGEO_OPTIMIZER_OPTIONS_INIT;
    oo.kind = SIGEO_OPT_ADAM;
    oo.lr = 0.01;
    oo.eps = 1e-8;
    sigeo_optimizer_t *opt;
    OK(sigeo_optimizer_create(&opt, m, &oo));
    sigeo_train_options_t to = SIGEO_TRAIN_OPTIONS_INIT;
    to.batch_size = 32;
    to.epochs = 10;
    to.shuffle_seed = 7;
    to.report_every = 20;
    sigeo_train_result_t r = SIGEO_TRAIN_RESULT_INIT;
    OK(sigeo_train(&r, m, opt, tr, va, NULL, &to, NULL, NULL));
    ck_assert_int_gt(r.steps, 100);
    ck_assert_msg(r.val_logloss < loss0 * 0.6, "val loss %g (start %g)", r.val_logloss, loss0);
    ck_assert_msg(r.val_accuracy > 0.85, "val accuracy %g", r.val_accuracy);
    sigeo_optimizer_destroy(opt);
    sigeo_model_destroy(m);
    sigeo_dataset_destroy(all);
    sigeo_dataset_destroy(tr);
    sigeo_dataset_destroy(va);
    sigeo_dataset_destroy(te);
}
END_TEST

START_TEST(nonfinite_gradient_updates_nothing)
{
    sigeo_model_t *m = linear_model();
    sigeo_optimizer_options_t o = SIGEO_OPTIMIZER_OPTIONS_INIT;
    sigeo_optimizer_t *opt;
    OK(sigeo_optimizer_create(&opt, m, &o));
    float w[2] = { 1e30f, 1e30f };
    OK(sigeo_model_set_param(m, 0, w, 2));
    const float bigx[2] = { 3e30f, 3e30f };
    sigeo_batch_t b = one_sample();
    b.dense = bigx;
    /* the loss overflows: reported by the forward, nothing to step on */
    ck_assert_int_eq(sigeo_model_forward_backward(NULL, m, &b), SIGEO_ERR_NONFINITE);
    o.lr = -1;
    sigeo_optimizer_t *bad;
    ck_assert_int_eq(sigeo_optimizer_create(&bad, m, &o), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_null(bad);
    ck_assert_int_eq(sigeo_optimizer_step(opt, NAN), SIGEO_ERR_INVALID_ARG);
    sigeo_optimizer_destroy(opt);
    sigeo_model_destroy(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, sgd_momentum_and_weight_decay_match_hand_updates);
    tcase_add_test(tc, sgd_nesterov_matches_hand_updates);
    tcase_add_test(tc, adagrad_and_adam_match_hand_updates);
    tcase_add_test(tc, gradient_clipping_scales_by_the_global_norm);
    tcase_add_test(tc, row_sparse_adagrad_equals_dense_adagrad);
    tcase_add_test(tc, schedules_match_their_formulas);
    tcase_add_test(tc, auc_matches_a_hand_computed_case_with_ties);
    tcase_add_test(tc, driver_trains_an_mlp_and_reports_progress);
    tcase_add_test(tc, nonfinite_gradient_updates_nothing);
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
