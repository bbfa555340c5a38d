/* Token and NASRec layers: token linear (linear-3d), multi-head
 * self-attention, FM, sigmoid gating, slice, reshape, zero. Finite-difference
 * checks of every parameter with a linear layer in front of each op (so the
 * op's input gradient reaches a checked parameter), elastic widths at more
 * than one value, forward values computed by hand here, shape errors. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "gradcheck.h"
#include "sigeo/model.h"
#include "test_util.h"

static sigeo_context_t *ctx;
static void setup(void)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.seed = 5;
    ck_assert_int_eq(sigeo_context_create(&ctx, &o), SIGEO_OK);
}
static void teardown(void)
{
    sigeo_context_destroy(ctx);
    ctx = NULL;
}

static sigeo_model_t *new_model(const char *name)
{
    sigeo_model_t *m;
    ck_assert_int_eq(sigeo_model_create(&m, ctx, name), SIGEO_OK);
    return m;
}

static int32_t input(sigeo_model_t *m, int64_t features)
{
    sigeo_input_desc_t d = SIGEO_INPUT_DESC_INIT;
    d.name = "x";
    d.features = features;
    int32_t id;
    ck_assert_msg(sigeo_model_add_input(&id, m, &d) == SIGEO_OK, "%s", sigeo_last_error());
    return id;
}

static int32_t linear(sigeo_model_t *m, const char *name, int32_t in, int64_t units, int32_t width_choice)
{
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_LINEAR, name, &in);
    d.units = units;
    d.width_choice = width_choice;
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

static int32_t token_linear(sigeo_model_t *m, const char *name, int32_t in, int64_t units, int32_t width_choice)
{
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_TOKEN_LINEAR, name, &in);
    d.units = units;
    d.width_choice = width_choice;
    return add(m, &d);
}

static int32_t attention(sigeo_model_t *m, const char *name, int32_t in, int32_t heads)
{
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_ATTENTION, name, &in);
    d.heads = heads;
    return add(m, &d);
}

static int32_t unary(sigeo_model_t *m, sigeo_layer_kind_t kind, const char *name, int32_t in)
{
    sigeo_layer_desc_t d = desc(kind, name, &in);
    return add(m, &d);
}

static int32_t slice(sigeo_model_t *m, const char *name, int32_t in, int64_t offset, int64_t len)
{
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_SLICE, name, &in);
    d.offset = offset;
    d.units = len;
    return add(m, &d);
}

static int32_t gating(sigeo_model_t *m, const char *name, int32_t l, int32_t r)
{
    const int32_t in[2] = { l, r };
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_SIGMOID_GATING, name, in);
    d.n_inputs = 2;
    return add(m, &d);
}

static int32_t choice(sigeo_model_t *m, const char *name, int64_t a, int64_t b)
{
    int32_t c;
    ck_assert_int_eq(sigeo_model_add_choice(&c, m, name, 2, (const int64_t[]){ a, b }), SIGEO_OK);
    return c;
}

static void finalize(sigeo_model_t *m, int32_t out, sigeo_loss_kind_t loss)
{
    ck_assert_int_eq(sigeo_model_set_loss(m, out, loss), SIGEO_OK);
    ck_assert_msg(sigeo_model_finalize(m) == SIGEO_OK, "%s", sigeo_last_error());
}

static int32_t param_id(sigeo_model_t *m, const char *name)
{
    int32_t p;
    ck_assert_msg(sigeo_model_find_param(&p, m, name) == SIGEO_OK, "%s", sigeo_last_error());
    return p;
}

static void set(sigeo_model_t *m, const char *name, const float *v, int64_t n)
{
    ck_assert_msg(sigeo_model_set_param(m, param_id(m, name), v, n) == SIGEO_OK, "%s", sigeo_last_error());
}

static void randomize(sigeo_model_t *m, const char *name, int64_t n, double scale)
{
    float *v = malloc((size_t)n * sizeof *v);
    gc_fill(v, n, scale);
    set(m, name, v, n);
    free(v);
}

static float *output(sigeo_model_t *m, int32_t node, int64_t *count)
{
    ck_assert_int_eq(sigeo_model_node_output(NULL, count, m, node), SIGEO_OK);
    float *y = malloc((size_t)*count * sizeof *y);
    ck_assert_int_eq(sigeo_model_node_output(y, count, m, node), SIGEO_OK);
    return y;
}

static void forward_rows(sigeo_model_t *m, const float *dense, int64_t rows, int64_t features)
{
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = rows;
    b.dense = dense;
    b.n_dense = features;
    ck_assert_msg(sigeo_model_forward(NULL, m, &b) == SIGEO_OK, "%s", sigeo_last_error());
}

/* MSE batch: B rows of `features`, `targets` targets. */
typedef struct mse_batch {
    sigeo_batch_t b;
    float *dense, *targets;
} mse_batch_t;

static mse_batch_t mse_batch(int64_t B, int64_t features, int64_t targets)
{
    mse_batch_t c;
    c.dense = malloc((size_t)(B * features) * sizeof(float));
    c.targets = malloc((size_t)(B * targets) * sizeof(float));
    gc_fill(c.dense, B * features, 1.0);
    gc_fill(c.targets, B * targets, 1.0);
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = B;
    b.dense = c.dense;
    b.n_dense = features;
    b.targets = c.targets;
    b.n_targets = targets;
    c.b = b;
    return c;
}

static void mse_free(mse_batch_t *c)
{
    free(c->dense);
    free(c->targets);
}

/* ---------------------------------------------------------- token linear */

START_TEST(token_linear_mixes_tokens_as_computed_by_hand_at_both_widths)
{
    sigeo_model_t *m = new_model("tl_value");
    int32_t c = choice(m, "tout", 1, 2);
    int32_t x = input(m, 4);
    int32_t t = token_linear(m, "tl", tokens(m, "tok", x, 2, 2), 2, c);
    finalize(m, t, SIGEO_LOSS_MSE);
    set(m, "tl.weight", (const float[]){ 1, 2, 3, 4 }, 4);
    set(m, "tl.bias", (const float[]){ 0.5f, -1.0f }, 2);
    const float in[4] = { 1, 2, 3, 4 }; /* tokens x0 = (1, 2), x1 = (3, 4) */
    /* y[t'] = W[t',0] x0 + W[t',1] x1 + b[t'] */
    const float want[4] = { 1 + 6 + 0.5f, 2 + 8 + 0.5f, 3 + 12 - 1.0f, 6 + 16 - 1.0f };
    for (int32_t w = 1; w >= 0; w--) {
        ck_assert_int_eq(sigeo_model_activate(m, &w, 1), SIGEO_OK);
        forward_rows(m, in, 1, 4);
        int64_t n;
        float *y = output(m, t, &n);
        ck_assert_int_eq(n, 2 * (w + 1));
        for (int i = 0; i < n; i++)
            ck_assert_near(y[i], want[i], 1e-6, 1e-6);
        free(y);
    }
    sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
    ck_assert_int_eq(sigeo_model_param_info(&info, m, param_id(m, "tl.weight")), SIGEO_OK);
    ck_assert_int_eq(info.active_numel, 2); /* 1 output token x 2 input tokens */
    sigeo_model_destroy(m);
}
END_TEST

/* fc -> (3,4) tokens -> two elastic token linears -> token concat (two runs)
 * -> token linear over the concat -> head; at four architectures. */
START_TEST(token_linear_matches_finite_differences_at_several_widths_and_runs)
{
    sigeo_model_t *m = new_model("tl_fd");
    int32_t ca = choice(m, "ta", 2, 4), cb = choice(m, "tb", 1, 3);
    int32_t x = input(m, 6);
    int32_t tok = tokens(m, "tok", linear(m, "fc", x, 12, -1), 3, 4);
    int32_t a = token_linear(m, "tla", tok, 4, ca);
    int32_t b = act(m, "tlb_act", token_linear(m, "tlb", tok, 3, cb), SIGEO_ACT_TANH);
    const int32_t parts[2] = { a, b };
    sigeo_layer_desc_t cd = desc(SIGEO_LAYER_CONCAT, "cat", parts);
    cd.n_inputs = 2;
    int32_t cat = add(m, &cd);
    int32_t mix = token_linear(m, "tlc", cat, 2, -1);
    int32_t y = linear(m, "head", mix, 3, -1);
    finalize(m, y, SIGEO_LOSS_MSE);
    mse_batch_t mb = mse_batch(4, 6, 3);
    const int32_t archs[4][2] = { { 1, 1 }, { 0, 1 }, { 1, 0 }, { 0, 0 } };
    for (int i = 0; i < 4; i++) {
        ck_assert_msg(sigeo_model_activate(m, archs[i], 2) == SIGEO_OK, "%s", sigeo_last_error());
        ck_assert_int_eq(gc_check_model_gradients(m, &mb.b), 10);
    }
    mse_free(&mb);
    sigeo_model_destroy(m);
}
END_TEST

/* ------------------------------------------------------------- attention */

/* softmax(X X^T / sqrt(d)) X per head on column block [h d, (h+1) d): the
 * attention of identity projections, computed directly. */
static void ref_identity_attention(double *y, const float *x, int T, int E, int H)
{
    const int d = E / H;
    for (int h = 0; h < H; h++)
        for (int i = 0; i < T; i++) {
            double s[8], mx = -1e300, sum = 0.0;
            for (int j = 0; j < T; j++) {
                s[j] = 0.0;
                for (int k = 0; k < d; k++)
                    s[j] += (double)x[i * E + h * d + k] * x[j * E + h * d + k];
                s[j] /= sqrt((double)d);
                mx = fmax(mx, s[j]);
            }
            for (int j = 0; j < T; j++)
                sum += (s[j] = exp(s[j] - mx));
            for (int k = 0; k < d; k++) {
                double v = 0.0;
                for (int j = 0; j < T; j++)
                    v += s[j] / sum * x[j * E + h * d + k];
                y[i * E + h * d + k] = v;
            }
        }
}

static void identity_projections(sigeo_model_t *m, const char *name, int E)
{
    char buf[64];
    float *in_w = calloc((size_t)(3 * E * E), sizeof(float)), *out_w = calloc((size_t)(E * E), sizeof(float));
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < E; i++)
            in_w[(k * E + i) * E + i] = 1.0f;
    for (int i = 0; i < E; i++)
        out_w[i * E + i] = 1.0f;
    snprintf(buf, sizeof buf, "%s.in_proj_weight", name);
    set(m, buf, in_w, 3 * E * E);
    snprintf(buf, sizeof buf, "%s.out_proj.weight", name);
    set(m, buf, out_w, E * E);
    free(in_w);
    free(out_w);
}

START_TEST(attention_with_identity_projections_is_softmax_of_scaled_dots)
{
    /* 1 head, T = 2, E = 2: by hand, x0 = (1, 0), x1 = (0.5, 2);
     * scores/sqrt 2: s00 = 1/1.414, s01 = 0.5/1.414, s10 = 0.5/1.414, s11 = 4.25/1.414. */
    {
        sigeo_model_t *m = new_model("attn1");
        int32_t x = input(m, 4);
        int32_t a = attention(m, "mha", tokens(m, "tok", x, 2, 2), 1);
        finalize(m, a, SIGEO_LOSS_MSE);
        identity_projections(m, "mha", 2);
        const float in[4] = { 1.0f, 0.0f, 0.5f, 2.0f };
        forward_rows(m, in, 1, 4);
        int64_t n;
        float *y = output(m, a, &n);
        ck_assert_int_eq(n, 4);
        const double r = sqrt(2.0);
        const double p0 = 1.0 / (1.0 + exp((0.5 - 1.0) / r)); /* weight of x0 for query 0 */
        const double p1 = 1.0 / (1.0 + exp((4.25 - 0.5) / r)); /* weight of x0 for query 1 */
        const double want[4] = { p0 * 1.0 + (1 - p0) * 0.5, (1 - p0) * 2.0, p1 * 1.0 + (1 - p1) * 0.5, (1 - p1) * 2.0 };
        for (int i = 0; i < 4; i++)
            ck_assert_near(y[i], want[i], 1e-5, 1e-6);
        free(y);
        sigeo_model_destroy(m);
    }
    /* 2 heads, T = 3, E = 4, batch 2: against the direct formula. */
    {
        enum { B = 2, T = 3, E = 4, H = 2 };
        sigeo_model_t *m = new_model("attn2");
        int32_t x = input(m, T * E);
        int32_t a = attention(m, "mha", tokens(m, "tok", x, T, E), H);
        finalize(m, a, SIGEO_LOSS_MSE);
        identity_projections(m, "mha", E);
        float in[B * T * E];
        gc_fill(in, B * T * E, 1.0);
        forward_rows(m, in, B, T * E);
        int64_t n;
        float *y = output(m, a, &n);
        double want[T * E];
        for (int b = 0; b < B; b++) {
            ref_identity_attention(want, in + b * T * E, T, E, H);
            for (int i = 0; i < T * E; i++)
                ck_assert_near(y[b * T * E + i], want[i], 1e-5, 1e-6);
        }
        free(y);
        sigeo_model_destroy(m);
    }
}
END_TEST

START_TEST(attention_has_pytorch_names_and_init)
{
    enum { E = 8 };
    sigeo_model_t *m = new_model("attn_init");
    int32_t x = input(m, 3 * E);
    int32_t a = attention(m, "mha", tokens(m, "tok", x, 3, E), 2);
    finalize(m, a, SIGEO_LOSS_MSE);
    const char *names[4] = { "mha.in_proj_weight", "mha.in_proj_bias", "mha.out_proj.weight", "mha.out_proj.bias" };
    const int64_t numel[4] = { 3 * E * E, 3 * E, E * E, E };
    const double bound[4] = { sqrt(6.0 / (E + 3 * E)), 0.0, 1.0 / sqrt(E), 0.0 };
    int32_t modules;
    ck_assert_int_eq(sigeo_model_module_count(&modules, m), SIGEO_OK);
    ck_assert_int_eq(modules, 1);
    for (int k = 0; k < 4; k++) {
        int32_t p = param_id(m, names[k]);
        sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
        ck_assert_int_eq(sigeo_model_param_info(&info, m, p), SIGEO_OK);
        ck_assert_int_eq(info.numel, numel[k]);
        ck_assert_int_eq(info.active_numel, numel[k]);
        float *v = malloc((size_t)numel[k] * sizeof *v);
        ck_assert_int_eq(sigeo_model_get_param(m, p, v, numel[k]), SIGEO_OK);
        double mx = 0.0;
        for (int64_t i = 0; i < numel[k]; i++)
            mx = fmax(mx, fabs(v[i]));
        ck_assert_double_le(mx, bound[k]);
        if (bound[k] > 0)
            ck_assert_double_gt(mx, 0.7 * bound[k]);
        free(v);
    }
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(attention_matches_finite_differences)
{
    sigeo_model_t *m = new_model("attn_fd");
    int32_t x = input(m, 6);
    int32_t tok = tokens(m, "tok", linear(m, "fc", x, 12, -1), 3, 4);
    int32_t a = act(m, "a_act", attention(m, "mha", tok, 2), SIGEO_ACT_TANH);
    int32_t y = linear(m, "head", a, 2, -1);
    finalize(m, y, SIGEO_LOSS_BCE_WITH_LOGITS);
    randomize(m, "mha.in_proj_bias", 12, 0.3); /* away from PyTorch's zeros */
    randomize(m, "mha.out_proj.bias", 4, 0.3);
    float dense[5 * 6], targets[5 * 2];
    gc_fill(dense, 5 * 6, 1.0);
    for (int i = 0; i < 10; i++)
        targets[i] = (float)(i % 3 == 0);
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = 5;
    b.dense = dense;
    b.n_dense = 6;
    b.targets = targets;
    b.n_targets = 2;
    ck_assert_int_eq(gc_check_model_gradients(m, &b), 8);
    sigeo_model_destroy(m);
}
END_TEST

/* -------------------------------------------------------------------- FM */

START_TEST(fm_is_square_of_sum_minus_sum_of_squares)
{
    sigeo_model_t *m = new_model("fm_value");
    int32_t x = input(m, 6);
    int32_t f = unary(m, SIGEO_LAYER_FM, "fm", tokens(m, "tok", x, 3, 2));
    finalize(m, f, SIGEO_LOSS_MSE);
    const float in[6] = { 1, 2, -1, 0.5f, 3, -2 }; /* tokens (1,2) (-1,0.5) (3,-2) */
    forward_rows(m, in, 1, 6);
    int64_t n;
    float *y = output(m, f, &n);
    ck_assert_int_eq(n, 2);
    ck_assert_near(y[0], 3.0 * 3.0 - (1 + 1 + 9), 1e-6, 1e-6);     /* = -2 */
    ck_assert_near(y[1], 0.5 * 0.5 - (4 + 0.25 + 4), 1e-6, 1e-6); /* = -8 */
    free(y);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(fm_matches_finite_differences)
{
    sigeo_model_t *m = new_model("fm_fd");
    int32_t x = input(m, 5);
    int32_t f = unary(m, SIGEO_LAYER_FM, "fm", tokens(m, "tok", linear(m, "fc", x, 12, -1), 4, 3));
    int32_t y = linear(m, "head", f, 2, -1);
    finalize(m, y, SIGEO_LOSS_MSE);
    mse_batch_t mb = mse_batch(4, 5, 2);
    ck_assert_int_eq(gc_check_model_gradients(m, &mb.b), 4);
    mse_free(&mb);
    sigeo_model_destroy(m);
}
END_TEST

/* -------------------------------------------------------- sigmoid gating */

START_TEST(sigmoid_gating_pads_the_narrower_input_and_gates_r)
{
    /* L = x[0..3), R = x[3..5): V = 3, W = I, b = (0, 1, 0): out = sigmoid(L + b) * (R, 0). */
    sigeo_model_t *m = new_model("gate_value");
    int32_t x = input(m, 5);
    int32_t g = gating(m, "gate", slice(m, "l", x, 0, 3), slice(m, "r", x, 3, 2));
    finalize(m, g, SIGEO_LOSS_MSE);
    set(m, "gate.weight", (const float[]){ 1, 0, 0, 0, 1, 0, 0, 0, 1 }, 9);
    set(m, "gate.bias", (const float[]){ 0, 1, 0 }, 3);
    const float in[5] = { 0.5f, -1.0f, 2.0f, 3.0f, -4.0f };
    forward_rows(m, in, 1, 5);
    int64_t n;
    float *y = output(m, g, &n);
    ck_assert_int_eq(n, 3);
    ck_assert_near(y[0], 3.0 / (1.0 + exp(-0.5)), 1e-6, 1e-7);
    ck_assert_near(y[1], -4.0 / (1.0 + exp(0.0)), 1e-6, 1e-7);
    ck_assert_near(y[2], 0.0, 0, 0);
    free(y);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(sigmoid_gating_matches_finite_differences_across_widths)
{
    sigeo_model_t *m = new_model("gate_fd");
    int32_t cl = choice(m, "wl", 3, 5), cr = choice(m, "wr", 2, 4);
    int32_t x = input(m, 6);
    int32_t l = act(m, "l_act", linear(m, "fl", x, 5, cl), SIGEO_ACT_TANH);
    int32_t r = linear(m, "fr", x, 4, cr);
    int32_t g = gating(m, "gate", l, r);
    int32_t y = linear(m, "head", g, 2, -1);
    finalize(m, y, SIGEO_LOSS_MSE);
    mse_batch_t mb = mse_batch(5, 6, 2);
    const int32_t archs[4][2] = { { 1, 1 }, { 0, 1 }, { 1, 0 }, { 0, 0 } }; /* L wider, R wider, ... */
    for (int i = 0; i < 4; i++) {
        ck_assert_msg(sigeo_model_activate(m, archs[i], 2) == SIGEO_OK, "%s", sigeo_last_error());
        ck_assert_int_eq(gc_check_model_gradients(m, &mb.b), 8);
    }
    mse_free(&mb);
    sigeo_model_destroy(m);
}
END_TEST

/* ---------------------------------------------------- slice, reshape, zero */

START_TEST(slice_reshape_zero_move_values_and_gradients)
{
    /* Values: slice [2, 5) of 6 features, token slice keeps the shape, zero. */
    {
        sigeo_model_t *m = new_model("moves");
        int32_t x = input(m, 6);
        int32_t s = slice(m, "s", x, 2, 3);
        int32_t tok = tokens(m, "tok", x, 3, 2);
        int32_t ts = slice(m, "ts", tok, 2, 4); /* tokens 1..2, still (2, 2) */
        int32_t f = unary(m, SIGEO_LAYER_FM, "fm", ts);
        sigeo_layer_desc_t zd = desc(SIGEO_LAYER_ZERO, "z", &x);
        zd.units = 4;
        zd.shape[0] = 2;
        zd.shape[1] = 2;
        int32_t z = add(m, &zd);
        int32_t zf = unary(m, SIGEO_LAYER_FM, "zfm", z); /* the zero node carries its shape */
        const int32_t parts[4] = { s, f, z, zf };
        sigeo_layer_desc_t cd = desc(SIGEO_LAYER_CONCAT, "cat", parts);
        cd.n_inputs = 4;
        int32_t cat = add(m, &cd);
        finalize(m, cat, SIGEO_LOSS_MSE);
        const float in[6] = { 1, 2, 3, 4, 5, 6 };
        forward_rows(m, in, 1, 6);
        int64_t n;
        float *y = output(m, cat, &n);
        ck_assert_int_eq(n, 3 + 2 + 4 + 2);
        const float want[11] = { 3, 4, 5, (3 + 5) * (3 + 5) - 9 - 25, (4 + 6) * (4 + 6) - 16 - 36, 0, 0, 0, 0, 0, 0 };
        for (int i = 0; i < 11; i++)
            ck_assert_near(y[i], want[i], 0, 1e-6);
        free(y);
        sigeo_model_destroy(m);
    }
    /* Gradients: slice and a zero branch; the layer feeding only the zero gets none. */
    {
        sigeo_model_t *m = new_model("moves_fd");
        int32_t x = input(m, 5);
        int32_t h = linear(m, "fc", x, 8, -1);
        int32_t s = slice(m, "s", h, 2, 5);
        int32_t zin = linear(m, "fz", x, 5, -1);
        sigeo_layer_desc_t zd = desc(SIGEO_LAYER_ZERO, "z", &zin);
        int32_t z = add(m, &zd); /* units 0: shaped like its input */
        const int32_t both[2] = { s, z };
        sigeo_layer_desc_t sd = desc(SIGEO_LAYER_SUM, "sum", both);
        sd.n_inputs = 2;
        int32_t y = linear(m, "head", act(m, "act", add(m, &sd), SIGEO_ACT_TANH), 2, -1);
        finalize(m, y, SIGEO_LOSS_MSE);
        mse_batch_t mb = mse_batch(4, 5, 2);
        ck_assert_int_eq(gc_check_model_gradients(m, &mb.b), 6);
        float g[25];
        ck_assert_int_eq(sigeo_model_get_grad(m, param_id(m, "fz.weight"), g, 25), SIGEO_OK);
        for (int i = 0; i < 25; i++)
            ck_assert_float_eq(g[i], 0.0f);
        mse_free(&mb);
        sigeo_model_destroy(m);
    }
}
END_TEST

/* ----------------------------------------------------------------- errors */

START_TEST(bad_token_shapes_fail_with_the_node_named)
{
    sigeo_model_t *m = new_model("bad");
    int32_t c = choice(m, "w", 4, 12);
    int32_t x = input(m, 12);
    int32_t tok = tokens(m, "tok", x, 3, 4);
    int32_t id;
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_TOKEN_LINEAR, "tl_flat", &x);
    d.units = 2;
    ck_assert_int_eq(sigeo_model_add_layer(&id, m, &d), SIGEO_ERR_SHAPE);
    ck_assert_str_contains(sigeo_last_error(), "tl_flat");
    d = desc(SIGEO_LAYER_TOKEN_LINEAR, "tl_option", &tok);
    d.units = 3;
    d.width_choice = c; /* option 12 > 3 tokens */
    ck_assert_int_eq(sigeo_model_add_layer(&id, m, &d), SIGEO_ERR_SHAPE);
    ck_assert_str_contains(sigeo_last_error(), "tl_option");
    d = desc(SIGEO_LAYER_ATTENTION, "mha_heads", &tok);
    d.heads = 3;
    ck_assert_int_eq(sigeo_model_add_layer(&id, m, &d), SIGEO_ERR_SHAPE);
    ck_assert_str_contains(sigeo_last_error(), "mha_heads");
    d = desc(SIGEO_LAYER_ATTENTION, "mha_flat", &x);
    d.heads = 1;
    ck_assert_int_eq(sigeo_model_add_layer(&id, m, &d), SIGEO_ERR_SHAPE);
    d = desc(SIGEO_LAYER_FM, "fm_flat", &x);
    ck_assert_int_eq(sigeo_model_add_layer(&id, m, &d), SIGEO_ERR_SHAPE);
    ck_assert_str_contains(sigeo_last_error(), "fm_flat");
    d = desc(SIGEO_LAYER_SLICE, "slice_far", &x);
    d.offset = 10;
    d.units = 3;
    ck_assert_int_eq(sigeo_model_add_layer(&id, m, &d), SIGEO_ERR_SHAPE);
    ck_assert_str_contains(sigeo_last_error(), "slice_far");
    d = desc(SIGEO_LAYER_SIGMOID_GATING, "gate_one", &x);
    ck_assert_int_eq(sigeo_model_add_layer(&id, m, &d), SIGEO_ERR_INVALID_ARG);
    d = desc(SIGEO_LAYER_RESHAPE, "reshape_gap", &x);
    d.shape[0] = 12;
    d.shape[2] = 1; /* a zero between dims */
    ck_assert_int_eq(sigeo_model_add_layer(&id, m, &d), SIGEO_ERR_INVALID_ARG);
    sigeo_model_destroy(m);

    /* At activation: a slice past the active width; tokens that do not divide. */
    m = new_model("bad_arch");
    c = choice(m, "w", 6, 12);
    x = input(m, 3);
    int32_t h = linear(m, "fc", x, 12, c);
    int32_t s = slice(m, "slice_late", h, 4, 4);
    int32_t t = tokens(m, "tok", h, 3, 4);
    const int32_t both[2] = { s, unary(m, SIGEO_LAYER_FM, "fm", t) };
    sigeo_layer_desc_t cd = desc(SIGEO_LAYER_CONCAT, "cat", both);
    cd.n_inputs = 2;
    int32_t cat = add(m, &cd);
    finalize(m, cat, SIGEO_LOSS_MSE);
    const int32_t small = 0;
    ck_assert_int_eq(sigeo_model_activate(m, &small, 1), SIGEO_ERR_SHAPE);
    ck_assert_str_contains(sigeo_last_error(), "slice_late");
    ck_assert_str_contains(sigeo_last_error(), "'fc'");
    const int32_t big = 1;
    ck_assert_int_eq(sigeo_model_activate(m, &big, 1), SIGEO_OK);
    sigeo_model_destroy(m);

    m = new_model("bad_tokens");
    c = choice(m, "w", 6, 12);
    x = input(m, 3);
    t = tokens(m, "tok_late", linear(m, "fc", x, 12, c), 3, 4);
    finalize(m, unary(m, SIGEO_LAYER_FM, "fm", t), SIGEO_LOSS_MSE);
    ck_assert_int_eq(sigeo_model_activate(m, &small, 1), SIGEO_ERR_SHAPE); /* 6 features: not whole tokens of 4 */
    ck_assert_str_contains(sigeo_last_error(), "tok_late");
    sigeo_model_destroy(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ops_tokens");
    TCase *tc = tcase_create("tokens");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, token_linear_mixes_tokens_as_computed_by_hand_at_both_widths);
    tcase_add_test(tc, token_linear_matches_finite_differences_at_several_widths_and_runs);
    tcase_add_test(tc, attention_with_identity_projections_is_softmax_of_scaled_dots);
    tcase_add_test(tc, attention_has_pytorch_names_and_init);
    tcase_add_test(tc, attention_matches_finite_differences);
    tcase_add_test(tc, fm_is_square_of_sum_minus_sum_of_squares);
    tcase_add_test(tc, fm_matches_finite_differences);
    tcase_add_test(tc, sigmoid_gating_pads_the_narrower_input_and_gates_r);
    tcase_add_test(tc, sigmoid_gating_matches_finite_differences_across_widths);
    tcase_add_test(tc, slice_reshape_zero_move_values_and_gradients);
    tcase_add_test(tc, bad_token_shapes_fail_with_the_node_named);
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
