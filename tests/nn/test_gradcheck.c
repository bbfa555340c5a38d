/* Finite-difference checks of the engine's ops and losses (method and
 * tolerance: tests/common/gradcheck.h). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "sigeo/model.h"

static sigeo_context_t *ctx;
static void setup(void)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.seed = 7;
    ck_assert_int_eq(sigeo_context_create(&ctx, &o), SIGEO_OK);
}
static void teardown(void)
{
    sigeo_context_destroy(ctx);
    ctx = NULL;
}

static int32_t add_linear(sigeo_model_t *m, const char *name, int32_t in, int64_t units, int32_t width_choice)
{
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = SIGEO_LAYER_LINEAR;
    d.name = name;
    d.inputs = &in;
    d.n_inputs = 1;
    d.units = units;
    d.width_choice = width_choice;
    int32_t out;
    ck_assert_msg(sigeo_model_add_layer(&out, m, &d) == SIGEO_OK, "%s", sigeo_last_error());
    return out;
}

static int32_t add_act(sigeo_model_t *m, const char *name, int32_t in, sigeo_activation_t act)
{
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = SIGEO_LAYER_ACTIVATION;
    d.name = name;
    d.inputs = &in;
    d.n_inputs = 1;
    d.activation = act;
    int32_t out;
    ck_assert_msg(sigeo_model_add_layer(&out, m, &d) == SIGEO_OK, "%s", sigeo_last_error());
    return out;
}

static int32_t add_multi(sigeo_model_t *m, sigeo_layer_kind_t kind, const char *name, const int32_t *in, uint32_t n,
                         const int32_t *gates)
{
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = kind;
    d.name = name;
    d.inputs = in;
    d.n_inputs = n;
    d.input_choices = gates;
    int32_t out;
    ck_assert_msg(sigeo_model_add_layer(&out, m, &d) == SIGEO_OK, "%s", sigeo_last_error());
    return out;
}

static int32_t add_dense_input(sigeo_model_t *m, int64_t features)
{
    sigeo_input_desc_t d = SIGEO_INPUT_DESC_INIT;
    d.kind = SIGEO_INPUT_DENSE;
    d.name = "x";
    d.features = features;
    int32_t out;
    ck_assert_int_eq(sigeo_model_add_input(&out, m, &d), SIGEO_OK);
    return out;
}


/* MLP 12 -> [8|16] -> act -> 5, softmax CE, at both widths. */
static void mlp_case(sigeo_activation_t act, sigeo_loss_kind_t loss)
{
    sigeo_model_t *m;
    ck_assert_int_eq(sigeo_model_create(&m, ctx, "mlp"), SIGEO_OK);
    int32_t c;
    ck_assert_int_eq(sigeo_model_add_choice(&c, m, "w0", 2, (const int64_t[]){ 8, 16 }), SIGEO_OK);
    int32_t x = add_dense_input(m, 12);
    int32_t h = add_act(m, "act0", add_linear(m, "fc0", x, 16, c), act);
    int32_t y = add_linear(m, "fc1", h, 5, -1);
    ck_assert_int_eq(sigeo_model_set_loss(m, y, loss), SIGEO_OK);
    ck_assert_msg(sigeo_model_finalize(m) == SIGEO_OK, "%s", sigeo_last_error());
    enum { B = 6 };
    float dense[B * 12], targets[B * 5];
    int32_t labels[B];
    gc_fill(dense, B * 12, 1.0);
    for (int i = 0; i < B; i++)
        labels[i] = i % 5;
    for (int i = 0; i < B * 5; i++)
        targets[i] = loss == SIGEO_LOSS_BCE_WITH_LOGITS ? (float)(gc_urand() < 0.5) : (float)gc_nrand();
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = B;
    b.dense = dense;
    b.n_dense = 12;
    b.labels = labels;
    b.targets = targets;
    b.n_targets = 5;
    for (int32_t w = 0; w < 2; w++) {
        ck_assert_int_eq(sigeo_model_activate(m, &w, 1), SIGEO_OK);
        ck_assert_int_eq(gc_check_model_gradients(m, &b), 4);
    }
    sigeo_model_destroy(m);
}

START_TEST(linear_relu_softmax_ce_matches_finite_differences_at_two_widths)
{
    mlp_case(SIGEO_ACT_RELU, SIGEO_LOSS_SOFTMAX_CE);
}
END_TEST

START_TEST(sigmoid_tanh_gelu_identity_match_finite_differences)
{
    mlp_case(SIGEO_ACT_SIGMOID, SIGEO_LOSS_MSE);
    mlp_case(SIGEO_ACT_TANH, SIGEO_LOSS_BCE_WITH_LOGITS);
    mlp_case(SIGEO_ACT_GELU, SIGEO_LOSS_SOFTMAX_CE);
    mlp_case(SIGEO_ACT_IDENTITY, SIGEO_LOSS_MSE);
}
END_TEST

/* The dot interaction's outputs, bit for bit, against the definition
 * computed here pair by pair: z_i . z_j summed over k in order in double
 * from 0.0, rounded once to float. DLRM's shape (27 vectors of 16), values
 * over many magnitudes, so any other summation order or a float sum would
 * differ in some of the 3 x 351 outputs. */
START_TEST(dot_interaction_equals_pairwise_double_sums)
{
    enum { B = 3, N = 27, E = 16, X = B };
    sigeo_model_t *m;
    ck_assert_int_eq(sigeo_model_create(&m, ctx, "dots"), SIGEO_OK);
    int32_t x = add_dense_input(m, X);
    int32_t vecs[N];
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "v%d", i);
        vecs[i] = add_linear(m, name, x, E, -1);
    }
    int32_t dot = add_multi(m, SIGEO_LAYER_DOT_INTERACTION, "dot", vecs, N, NULL);
    int32_t y = add_linear(m, "head", dot, 1, -1);
    ck_assert_int_eq(sigeo_model_set_loss(m, y, SIGEO_LOSS_MSE), SIGEO_OK);
    ck_assert_msg(sigeo_model_finalize(m) == SIGEO_OK, "%s", sigeo_last_error());
    /* Row r's input is the one-hot e_r, so z_i of row r is column r of
     * v_i's weight ([E, X]): z[0] = 2^20, z[1] = +-2^20 by the parity of i,
     * the rest +-(1..2) 2^(-5..5). A pair of opposite parity sums 2^40 -
     * 2^40 + small terms: in order the large ones cancel exactly first; in
     * another order the small ones are lost to rounding against 2^40. */
    uint32_t h = 12345u;
    for (int i = 0; i < N; i++) {
        float w[E * X], zero[E] = { 0 };
        for (int k = 0; k < E; k++)
            for (int r = 0; r < X; r++) {
                h = h * 1664525u + 1013904223u;
                const double mant = 1.0 + (double)((h >> 8) & 0xffff) / 65536.0;
                double v = ldexp((h >> 31) ? mant : -mant, (int)((h >> 24) % 11) - 5);
                if (k == 0)
                    v = 0x1p20;
                else if (k == 1)
                    v = i % 2 ? -0x1p20 : 0x1p20;
                w[k * X + r] = (float)v;
            }
        char name[24];
        int32_t pw, pb;
        snprintf(name, sizeof name, "v%d.weight", i);
        ck_assert_int_eq(sigeo_model_find_param(&pw, m, name), SIGEO_OK);
        ck_assert_int_eq(sigeo_model_set_param(m, pw, w, E * X), SIGEO_OK);
        snprintf(name, sizeof name, "v%d.bias", i);
        ck_assert_int_eq(sigeo_model_find_param(&pb, m, name), SIGEO_OK);
        ck_assert_int_eq(sigeo_model_set_param(m, pb, zero, E), SIGEO_OK);
    }
    float dense[B * X] = { 0 }, targets[B] = { 0 };
    for (int r = 0; r < B; r++)
        dense[r * X + r] = 1.0f;
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = B;
    b.dense = dense;
    b.n_dense = X;
    b.targets = targets;
    b.n_targets = 1;
    double loss;
    ck_assert_msg(sigeo_model_forward(&loss, m, &b) == SIGEO_OK, "%s", sigeo_last_error());
    static float z[N][B * E], out[B * N * (N - 1) / 2];
    int64_t count = B * E;
    for (int i = 0; i < N; i++) {
        count = B * E;
        ck_assert_int_eq(sigeo_model_node_output(z[i], &count, m, vecs[i]), SIGEO_OK);
        ck_assert_int_eq(count, B * E);
    }
    count = B * N * (N - 1) / 2;
    ck_assert_int_eq(sigeo_model_node_output(out, &count, m, dot), SIGEO_OK);
    ck_assert_int_eq(count, B * N * (N - 1) / 2);
    int64_t p = 0, differ = 0;
    for (int r = 0; r < B; r++)
        for (int i = 1; i < N; i++)
            for (int j = 0; j < i; j++) {
                double s = 0.0;
                for (int k = 0; k < E; k++)
                    s += (double)z[i][r * E + k] * (double)z[j][r * E + k];
                differ += memcmp(&out[p++], &(float){ (float)s }, sizeof(float)) != 0;
            }
    ck_assert_msg(differ == 0, "%lld of %lld dots differ from the pairwise double sums", (long long)differ,
                  (long long)p);
    sigeo_model_destroy(m);
}
END_TEST

/* DLRM-like: 3 sparse fields (multi-hot, mean and sum pooling), dense
 * projection, dot interaction, concat, layer norm, head, BCE. */
START_TEST(embedding_dot_concat_layernorm_bce_match_finite_differences)
{
    sigeo_model_t *m;
    ck_assert_int_eq(sigeo_model_create(&m, ctx, "dlrm"), SIGEO_OK);
    int32_t x = add_dense_input(m, 5);
    int32_t dproj = add_linear(m, "bottom", x, 4, -1);
    int32_t vecs[4] = { dproj };
    for (int f = 0; f < 3; f++) {
        char name[16], ename[16];
        snprintf(name, sizeof name, "cat%d", f);
        snprintf(ename, sizeof ename, "emb%d", f);
        sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
        in.kind = SIGEO_INPUT_SPARSE;
        in.name = name;
        in.field = f;
        int32_t s;
        ck_assert_int_eq(sigeo_model_add_input(&s, m, &in), SIGEO_OK);
        sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
        d.kind = SIGEO_LAYER_EMBEDDING_BAG;
        d.name = ename;
        d.inputs = &s;
        d.n_inputs = 1;
        d.units = 4;
        d.rows = 10;
        d.pooling = f == 1 ? SIGEO_POOL_MEAN : SIGEO_POOL_SUM;
        ck_assert_msg(sigeo_model_add_layer(&vecs[f + 1], m, &d) == SIGEO_OK, "%s", sigeo_last_error());
    }
    int32_t dot = add_multi(m, SIGEO_LAYER_DOT_INTERACTION, "dot", vecs, 4, NULL);
    int32_t cat = add_multi(m, SIGEO_LAYER_CONCAT, "cat", (const int32_t[]){ dproj, dot }, 2, NULL);
    sigeo_layer_desc_t ln = SIGEO_LAYER_DESC_INIT;
    ln.kind = SIGEO_LAYER_LAYER_NORM;
    ln.name = "ln";
    ln.inputs = &cat;
    ln.n_inputs = 1;
    int32_t lnn;
    ck_assert_msg(sigeo_model_add_layer(&lnn, m, &ln) == SIGEO_OK, "%s", sigeo_last_error());
    int32_t y = add_linear(m, "head", lnn, 1, -1);
    ck_assert_int_eq(sigeo_model_set_loss(m, y, SIGEO_LOSS_BCE_WITH_LOGITS), SIGEO_OK);
    ck_assert_msg(sigeo_model_finalize(m) == SIGEO_OK, "%s", sigeo_last_error());
    /* Non-trivial affine so gamma/beta gradients are exercised away from 1/0. */
    float g[10], be[10];
    gc_fill(g, 10, 1.0);
    gc_fill(be, 10, 0.5);
    int32_t pg, pb;
    ck_assert_int_eq(sigeo_model_find_param(&pg, m, "ln.weight"), SIGEO_OK);
    ck_assert_int_eq(sigeo_model_find_param(&pb, m, "ln.bias"), SIGEO_OK);
    ck_assert_int_eq(sigeo_model_set_param(m, pg, g, 10), SIGEO_OK);
    ck_assert_int_eq(sigeo_model_set_param(m, pb, be, 10), SIGEO_OK);
    enum { B = 5, F = 3 };
    float dense[B * 5], targets[B];
    gc_fill(dense, B * 5, 1.0);
    for (int i = 0; i < B; i++)
        targets[i] = (float)(i % 2);
    /* bags: row r field f has (r + f) % 3 ids (some empty) */
    int64_t offsets[B * F + 1], ids[64];
    int64_t k = 0;
    offsets[0] = 0;
    for (int r = 0; r < B; r++)
        for (int f = 0; f < F; f++) {
            int len = (r + f) % 3;
            for (int j = 0; j < len; j++)
                ids[k++] = (r * 7 + f * 3 + j * 5) % 10;
            offsets[r * F + f + 1] = k;
        }
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = B;
    b.dense = dense;
    b.n_dense = 5;
    b.n_sparse_fields = F;
    b.sparse_ids = ids;
    b.sparse_offsets = offsets;
    b.targets = targets;
    b.n_targets = 1;
    ck_assert_int_eq(gc_check_model_gradients(m, &b), 9);
    sigeo_model_destroy(m);
}
END_TEST

/* Gated sum and concat, an op choice, and an elastic concat feeding a
 * linear layer (the runs bookkeeping), across several architectures. */
START_TEST(gated_sum_concat_select_match_finite_differences_across_archs)
{
    sigeo_model_t *m;
    ck_assert_int_eq(sigeo_model_create(&m, ctx, "space"), SIGEO_OK);
    int32_t wa, wb, ga, gb, op;
    ck_assert_int_eq(sigeo_model_add_choice(&wa, m, "wa", 2, (const int64_t[]){ 3, 6 }), SIGEO_OK);
    ck_assert_int_eq(sigeo_model_add_choice(&wb, m, "wb", 2, (const int64_t[]){ 2, 5 }), SIGEO_OK);
    ck_assert_int_eq(sigeo_model_add_choice(&ga, m, "edge_a", 2, NULL), SIGEO_OK);
    ck_assert_int_eq(sigeo_model_add_choice(&gb, m, "edge_b", 2, NULL), SIGEO_OK);
    ck_assert_int_eq(sigeo_model_add_choice(&op, m, "op", 2, NULL), SIGEO_OK);
    int32_t x = add_dense_input(m, 7);
    int32_t a = add_act(m, "a_act", add_linear(m, "a", x, 6, wa), SIGEO_ACT_TANH);
    int32_t bb = add_act(m, "b_act", add_linear(m, "b", x, 5, wb), SIGEO_ACT_SIGMOID);
    int32_t cat = add_multi(m, SIGEO_LAYER_CONCAT, "cat", (const int32_t[]){ a, bb }, 2, (const int32_t[]){ ga, gb });
    int32_t sum = add_multi(m, SIGEO_LAYER_SUM, "sum", (const int32_t[]){ a, bb }, 2, (const int32_t[]){ -1, gb });
    int32_t p1 = add_linear(m, "p_cat", cat, 4, -1);
    int32_t p2 = add_linear(m, "p_sum", sum, 4, -1);
    sigeo_layer_desc_t sel = SIGEO_LAYER_DESC_INIT;
    sel.kind = SIGEO_LAYER_SELECT;
    sel.name = "choose";
    sel.inputs = (const int32_t[]){ p1, p2 };
    sel.n_inputs = 2;
    sel.choice = op;
    int32_t s;
    ck_assert_msg(sigeo_model_add_layer(&s, m, &sel) == SIGEO_OK, "%s", sigeo_last_error());
    int32_t y = add_linear(m, "head", add_act(m, "s_act", s, SIGEO_ACT_GELU), 3, -1);
    ck_assert_int_eq(sigeo_model_set_loss(m, y, SIGEO_LOSS_SOFTMAX_CE), SIGEO_OK);
    ck_assert_msg(sigeo_model_finalize(m) == SIGEO_OK, "%s", sigeo_last_error());
    enum { B = 4 };
    float dense[B * 7];
    int32_t labels[B] = { 0, 1, 2, 1 };
    gc_fill(dense, B * 7, 1.0);
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = B;
    b.dense = dense;
    b.n_dense = 7;
    b.labels = labels;
    const int32_t archs[][5] = { { 1, 1, 1, 1, 0 }, { 0, 1, 1, 1, 0 }, { 0, 0, 0, 1, 0 },
                                 { 1, 0, 1, 0, 0 }, { 0, 1, 1, 1, 1 }, { 1, 0, 0, 0, 1 } };
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++) {
        ck_assert_msg(sigeo_model_activate(m, archs[i], 5) == SIGEO_OK, "%s", sigeo_last_error());
        gc_check_model_gradients(m, &b);
    }
    sigeo_model_destroy(m);
}
END_TEST

/* ReLU's backward in lib/nn is its own C loop: a node feeding two ReLUs
 * (as every cell node does) has its gradient written by the first and
 * added to by the second, and above the thread threshold the pass is split
 * into spans across the team. fc0 (3 -> H) feeds relu_a and relu_b, their
 * sum feeds fc1 (H -> 1), MSE: with z = W0 x + b0 and d_r = 2 (y_r - t_r) / B,
 *   dL/db0_j = sum_r d_r W1_j ([z_rj > 0] + [z_rj > 0]),
 * computed here in double from the model's own weights. B H = 63 x 8191 =
 * 516,033 floats is past the default threshold (two threads, FIXED), and
 * not a multiple of the span rounding, so the last span is a partial one. */
START_TEST(relu_fan_out_gradient_accumulates_across_thread_spans)
{
    enum { B = 63, F = 3, H = 8191 };
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.seed = 11;
    o.threads = 2;
    o.thread_policy = SIGEO_THREADS_FIXED;
    sigeo_context_t *c2;
    ck_assert_int_eq(sigeo_context_create(&c2, &o), SIGEO_OK);
    sigeo_model_t *m;
    ck_assert_int_eq(sigeo_model_create(&m, c2, "fan"), SIGEO_OK);
    int32_t x = add_dense_input(m, F);
    int32_t z = add_linear(m, "fc0", x, H, -1);
    int32_t two[2] = { add_act(m, "relu_a", z, SIGEO_ACT_RELU), add_act(m, "relu_b", z, SIGEO_ACT_RELU) };
    int32_t h = add_multi(m, SIGEO_LAYER_SUM, "sum", two, 2, NULL);
    int32_t y = add_linear(m, "fc1", h, 1, -1);
    ck_assert_int_eq(sigeo_model_set_loss(m, y, SIGEO_LOSS_MSE), SIGEO_OK);
    ck_assert_msg(sigeo_model_finalize(m) == SIGEO_OK, "%s", sigeo_last_error());
    static float w0[H * F], b0[H], w1[H], g_b0[H];
    float b1, dense[B * F], targets[B];
    gc_fill(dense, B * F, 1.0);
    gc_fill(targets, B, 1.0);
    /* params in build order: fc0 weight, fc0 bias, fc1 weight, fc1 bias */
    ck_assert_int_eq(sigeo_model_get_param(m, 0, w0, H * F), SIGEO_OK);
    ck_assert_int_eq(sigeo_model_get_param(m, 1, b0, H), SIGEO_OK);
    /* The two-thread split falls at flat index 258,032 = row 31, unit 4,111
     * (relu_backward_c: half of B H rounded up to 16 floats): those units'
     * pre-activations are made positive in every row, so an element lost or
     * doubled at the span edge shows in dL/db0 there. */
    for (int j = 4096; j < 4128; j++)
        b0[j] = 3.0f;
    ck_assert_int_eq(sigeo_model_set_param(m, 1, b0, H), SIGEO_OK);
    ck_assert_int_eq(sigeo_model_get_param(m, 2, w1, H), SIGEO_OK);
    ck_assert_int_eq(sigeo_model_get_param(m, 3, &b1, 1), SIGEO_OK);
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = B;
    b.dense = dense;
    b.n_dense = F;
    b.targets = targets;
    b.n_targets = 1;
    double loss;
    ck_assert_msg(sigeo_model_forward_backward(&loss, m, &b) == SIGEO_OK, "%s", sigeo_last_error());
    ck_assert_int_eq(sigeo_model_get_grad(m, 1, g_b0, H), SIGEO_OK);
    static double want[H];
    double gmax = 0.0;
    memset(want, 0, sizeof want);
    for (int r = 0; r < B; r++) {
        static double zr[H];
        double yr = b1;
        for (int j = 0; j < H; j++) {
            zr[j] = b0[j];
            for (int k = 0; k < F; k++)
                zr[j] += (double)w0[j * F + k] * dense[r * F + k];
            yr += (double)w1[j] * 2.0 * (zr[j] > 0.0 ? zr[j] : 0.0);
        }
        const double d = 2.0 * (yr - targets[r]) / B;
        for (int j = 0; j < H; j++)
            want[j] += zr[j] > 0.0 ? 2.0 * d * w1[j] : 0.0;
    }
    int active = 0;
    for (int j = 0; j < H; j++) {
        gmax = fmax(gmax, fabs(want[j]));
        active += want[j] != 0.0;
    }
    ck_assert_int_gt(active, H / 2); /* most units see a gradient, in both spans */
    for (int j = 0; j < H; j++)
        ck_assert_msg(fabs((double)g_b0[j] - want[j]) <= 1e-4 * gmax, "dL/db0[%d] = %g, want %g", j, (double)g_b0[j],
                      want[j]);
    sigeo_model_destroy(m);
    sigeo_context_destroy(c2);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("gradcheck");
    TCase *tc = tcase_create("ops");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, linear_relu_softmax_ce_matches_finite_differences_at_two_widths);
    tcase_add_test(tc, sigmoid_tanh_gelu_identity_match_finite_differences);
    tcase_add_test(tc, embedding_dot_concat_layernorm_bce_match_finite_differences);
    tcase_add_test(tc, dot_interaction_equals_pairwise_double_sums);
    tcase_add_test(tc, gated_sum_concat_select_match_finite_differences_across_archs);
    tcase_add_test(tc, relu_fan_out_gradient_accumulates_across_thread_spans);
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
