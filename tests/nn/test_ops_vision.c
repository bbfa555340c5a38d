/* Vision layers: conv2d, batch norm, 2-D pooling, global average pooling.
 * Finite-difference checks of every parameter (with a linear layer in front
 * of each op, so the op's input gradient reaches a checked parameter),
 * forward values against hand computations or a naive loop written here,
 * and shape errors that name the node. */
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
    o.seed = 11;
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

/* A layer desc with one input. */
static int32_t linear(sigeo_model_t *m, const char *name, int32_t in, int64_t units)
{
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_LINEAR, name, &in);
    d.units = units;
    return add(m, &d);
}

static int32_t relu(sigeo_model_t *m, const char *name, int32_t in)
{
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_ACTIVATION, name, &in);
    d.activation = SIGEO_ACT_RELU;
    return add(m, &d);
}

static int32_t reshape(sigeo_model_t *m, const char *name, int32_t in, int64_t a, int64_t b, int64_t c)
{
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_RESHAPE, name, &in);
    d.shape[0] = a;
    d.shape[1] = b;
    d.shape[2] = c;
    return add(m, &d);
}

static int32_t conv(sigeo_model_t *m, const char *name, int32_t in, int64_t out_c, int64_t kh, int64_t kw,
                    int64_t sh, int64_t sw, int64_t ph, int64_t pw, uint32_t flags)
{
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_CONV2D, name, &in);
    d.units = out_c;
    d.kernel[0] = kh;
    d.kernel[1] = kw;
    d.stride[0] = sh;
    d.stride[1] = sw;
    d.padding[0] = ph;
    d.padding[1] = pw;
    d.flags = flags;
    return add(m, &d);
}

static int32_t pool(sigeo_model_t *m, const char *name, int32_t in, sigeo_pooling_t kind, int64_t k, int64_t s,
                    int64_t p)
{
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_POOL2D, name, &in);
    d.pooling = kind;
    d.kernel[0] = d.kernel[1] = k;
    d.stride[0] = d.stride[1] = s;
    d.padding[0] = d.padding[1] = p;
    return add(m, &d);
}

static int32_t batch_norm(sigeo_model_t *m, const char *name, int32_t in, uint32_t flags)
{
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_BATCH_NORM, name, &in);
    d.flags = flags;
    return add(m, &d);
}

static void finalize(sigeo_model_t *m, int32_t out, sigeo_loss_kind_t loss)
{
    ck_assert_int_eq(sigeo_model_set_loss(m, out, loss), SIGEO_OK);
    ck_assert_msg(sigeo_model_finalize(m) == SIGEO_OK, "%s", sigeo_last_error());
}

static void set(sigeo_model_t *m, const char *name, const float *v, int64_t n)
{
    int32_t p;
    ck_assert_msg(sigeo_model_find_param(&p, m, name) == SIGEO_OK, "%s", sigeo_last_error());
    ck_assert_msg(sigeo_model_set_param(m, p, v, n) == SIGEO_OK, "%s", sigeo_last_error());
}

static void randomize(sigeo_model_t *m, const char *name, int64_t n, double scale, double shift)
{
    float *v = malloc((size_t)n * sizeof *v);
    gc_fill(v, n, scale);
    for (int64_t i = 0; i < n; i++)
        v[i] += (float)shift;
    set(m, name, v, n);
    free(v);
}

/* Softmax-CE batch of B rows over `features` inputs and `classes` labels. */
typedef struct cls_batch {
    sigeo_batch_t b;
    float *dense;
    int32_t *labels;
} cls_batch_t;

static cls_batch_t cls_batch(int64_t B, int64_t features, int32_t classes)
{
    cls_batch_t c;
    c.dense = malloc((size_t)(B * features) * sizeof(float));
    c.labels = malloc((size_t)B * sizeof(int32_t));
    gc_fill(c.dense, B * features, 1.0);
    for (int64_t i = 0; i < B; i++)
        c.labels[i] = (int32_t)(i % classes);
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = B;
    b.dense = c.dense;
    b.n_dense = features;
    b.labels = c.labels;
    c.b = b;
    return c;
}

static void cls_free(cls_batch_t *c)
{
    free(c->dense);
    free(c->labels);
}

static float *output(sigeo_model_t *m, int32_t node, int64_t *count)
{
    ck_assert_int_eq(sigeo_model_node_output(NULL, count, m, node), SIGEO_OK);
    float *y = malloc((size_t)*count * sizeof *y);
    ck_assert_int_eq(sigeo_model_node_output(y, count, m, node), SIGEO_OK);
    return y;
}

/* ------------------------------------------------------------------ conv */

/* Naive nn.Conv2d, written independently of the library. */
static void ref_conv(float *y, const float *x, const float *w, const float *bias, int B, int C, int H, int W, int O,
                     int kh, int kw, int sh, int sw, int ph, int pw)
{
    const int Ho = (H + 2 * ph - kh) / sh + 1, Wo = (W + 2 * pw - kw) / sw + 1;
    for (int b = 0; b < B; b++)
        for (int o = 0; o < O; o++)
            for (int i = 0; i < Ho; i++)
                for (int j = 0; j < Wo; j++) {
                    double s = bias ? bias[o] : 0.0;
                    for (int c = 0; c < C; c++)
                        for (int u = 0; u < kh; u++)
                            for (int v = 0; v < kw; v++) {
                                const int r = i * sh - ph + u, q = j * sw - pw + v;
                                if (r >= 0 && r < H && q >= 0 && q < W)
                                    s += (double)w[((o * C + c) * kh + u) * kw + v] * x[((b * C + c) * H + r) * W + q];
                            }
                    y[((b * O + o) * Ho + i) * Wo + j] = (float)s;
                }
}

START_TEST(conv_1x1x3x3_with_known_kernel_gives_hand_computed_output)
{
    sigeo_model_t *m = new_model("conv_value");
    int32_t x = chw_input(m, 1, 3, 3);
    int32_t c = conv(m, "conv", x, 1, 2, 2, 1, 1, 0, 0, 0);
    finalize(m, c, SIGEO_LOSS_MSE);
    set(m, "conv.weight", (const float[]){ 1, 2, 3, 4 }, 4);
    set(m, "conv.bias", (const float[]){ 0.5f }, 1);
    const float img[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = 1;
    b.dense = img;
    b.n_dense = 9;
    ck_assert_msg(sigeo_model_forward(NULL, m, &b) == SIGEO_OK, "%s", sigeo_last_error());
    int64_t n;
    float *y = output(m, c, &n);
    ck_assert_int_eq(n, 4);
    /* y[i][j] = 1 x[i][j] + 2 x[i][j+1] + 3 x[i+1][j] + 4 x[i+1][j+1] + 0.5 */
    const float want[4] = { 37.5f, 47.5f, 67.5f, 77.5f };
    for (int i = 0; i < 4; i++)
        ck_assert_near(y[i], want[i], 1e-6, 1e-6);
    free(y);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(conv_with_stride_padding_matches_a_naive_loop)
{
    enum { B = 2, C = 3, H = 7, W = 6, O = 4, KH = 3, KW = 2, SH = 2, SW = 1, PH = 1, PW = 1 };
    enum { HO = (H + 2 * PH - KH) / SH + 1, WO = (W + 2 * PW - KW) / SW + 1 };
    sigeo_model_t *m = new_model("conv_ref");
    int32_t x = chw_input(m, C, H, W);
    int32_t c = conv(m, "conv", x, O, KH, KW, SH, SW, PH, PW, 0);
    finalize(m, c, SIGEO_LOSS_MSE);
    float w[O * C * KH * KW], bias[O], img[B * C * H * W], want[B * O * HO * WO];
    int32_t pw, pb;
    ck_assert_int_eq(sigeo_model_find_param(&pw, m, "conv.weight"), SIGEO_OK);
    ck_assert_int_eq(sigeo_model_find_param(&pb, m, "conv.bias"), SIGEO_OK);
    ck_assert_int_eq(sigeo_model_get_param(m, pw, w, O * C * KH * KW), SIGEO_OK);
    ck_assert_int_eq(sigeo_model_get_param(m, pb, bias, O), SIGEO_OK);
    /* PyTorch's init bound 1/sqrt(C kh kw) */
    sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
    ck_assert_int_eq(sigeo_model_param_info(&info, m, pw), SIGEO_OK);
    ck_assert_int_eq(info.ndim, 4);
    ck_assert_int_eq(info.dims[0], O);
    ck_assert_int_eq(info.dims[1], C);
    ck_assert_int_eq(info.dims[2], KH);
    ck_assert_int_eq(info.dims[3], KW);
    const double bound = 1.0 / sqrt(C * KH * KW);
    double maxabs = 0.0;
    for (int i = 0; i < O * C * KH * KW; i++)
        maxabs = fmax(maxabs, fabs(w[i]));
    for (int i = 0; i < O; i++)
        maxabs = fmax(maxabs, fabs(bias[i]));
    ck_assert_double_le(maxabs, bound);
    ck_assert_double_gt(maxabs, 0.5 * bound);
    gc_fill(img, B * C * H * W, 1.0);
    ref_conv(want, img, w, bias, B, C, H, W, O, KH, KW, SH, SW, PH, PW);
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = B;
    b.dense = img;
    b.n_dense = C * H * W;
    ck_assert_msg(sigeo_model_forward(NULL, m, &b) == SIGEO_OK, "%s", sigeo_last_error());
    int64_t n;
    float *y = output(m, c, &n);
    ck_assert_int_eq(n, B * O * HO * WO);
    for (int i = 0; i < n; i++)
        ck_assert_near(y[i], want[i], 1e-5, 1e-5);
    free(y);
    sigeo_model_destroy(m);
}
END_TEST

/* fc -> reshape (2,5,5) -> conv 3x3 s2 p1 -> relu -> conv 2x3 s(1,2) p(0,1) no bias -> head. */
START_TEST(conv_matches_finite_differences_for_inputs_weights_and_bias)
{
    sigeo_model_t *m = new_model("conv_fd");
    int32_t x = chw_input(m, 8, 0, 0);
    int32_t img = reshape(m, "img", linear(m, "fc", x, 50), 2, 5, 5);
    int32_t c1 = relu(m, "c1_act", conv(m, "c1", img, 3, 3, 3, 2, 2, 1, 1, 0));
    int32_t c2 = conv(m, "c2", c1, 2, 2, 3, 1, 2, 0, 1, SIGEO_LAYER_NO_BIAS);
    int32_t y = linear(m, "head", c2, 3);
    finalize(m, y, SIGEO_LOSS_SOFTMAX_CE);
    cls_batch_t c = cls_batch(4, 8, 3);
    ck_assert_int_eq(gc_check_model_gradients(m, &c.b), 7);
    cls_free(&c);
    sigeo_model_destroy(m);
}
END_TEST

/* Channel counts where oneDNN has direct kernels (8 -> 16 -> 16 channels):
 * the backend then runs the conv on channels-last / blocked layouts and
 * reorders the plain NCHW rows in and out around it (backend.c,
 * conv_layout). The outputs must still be the naive loop's, and the
 * staged gradients (weights, bias, and the input's through both convs to
 * the fc before the reshape) the finite differences'. The image also feeds
 * a second conv (1x1) whose output is added: its input gradient then
 * accumulates (the reorder's sum post-op), and each conv's weights pass
 * reuses its forward's converted input. */
START_TEST(conv_on_direct_kernel_layouts_matches_naive_loop_and_finite_differences)
{
    enum { B = 3, C = 8, H = 10, W = 10, O = 16 };
    sigeo_model_t *m = new_model("conv_direct");
    int32_t x = chw_input(m, 6, 0, 0);
    int32_t img = reshape(m, "img", linear(m, "fc", x, C * H * W), C, H, W);
    int32_t c1 = conv(m, "c1", img, O, 3, 3, 1, 1, 1, 1, 0);
    int32_t c1b = conv(m, "c1b", img, O, 1, 1, 1, 1, 0, 0, SIGEO_LAYER_NO_BIAS);
    sigeo_layer_desc_t sd = desc(SIGEO_LAYER_SUM, "c1_sum", (const int32_t[]){ c1, c1b });
    sd.n_inputs = 2;
    int32_t sum;
    ck_assert_msg(sigeo_model_add_layer(&sum, m, &sd) == SIGEO_OK, "%s", sigeo_last_error());
    /* no ReLU: 4800 pre-activations would put a kink within the finite
     * difference's reach of some weight element */
    int32_t c2 = conv(m, "c2", sum, O, 3, 3, 2, 2, 1, 1, SIGEO_LAYER_NO_BIAS);
    int32_t y = linear(m, "head", c2, 3);
    finalize(m, y, SIGEO_LOSS_SOFTMAX_CE);
    cls_batch_t c = cls_batch(B, 6, 3);
    ck_assert_msg(sigeo_model_forward(NULL, m, &c.b) == SIGEO_OK, "%s", sigeo_last_error());
    int64_t n_in, n_out;
    float *xin = output(m, img, &n_in), *got = output(m, c1, &n_out);
    ck_assert_int_eq(n_in, B * C * H * W);
    ck_assert_int_eq(n_out, B * O * H * W);
    float *w = malloc(O * C * 9 * sizeof *w), *want = malloc((size_t)n_out * sizeof *want), bias[O];
    int32_t pw, pb;
    ck_assert_int_eq(sigeo_model_find_param(&pw, m, "c1.weight"), SIGEO_OK);
    ck_assert_int_eq(sigeo_model_find_param(&pb, m, "c1.bias"), SIGEO_OK);
    ck_assert_int_eq(sigeo_model_get_param(m, pw, w, O * C * 9), SIGEO_OK);
    ck_assert_int_eq(sigeo_model_get_param(m, pb, bias, O), SIGEO_OK);
    ref_conv(want, xin, w, bias, B, C, H, W, O, 3, 3, 1, 1, 1, 1);
    /* 72 products of O(1) terms per output: float rounding ~1e-6 */
    for (int64_t i = 0; i < n_out; i++)
        ck_assert_near(got[i], want[i], 1e-5, 1e-5);
    free(xin);
    free(got);
    free(w);
    free(want);
    ck_assert_int_eq(gc_check_model_gradients(m, &c.b), 8);
    cls_free(&c);
    sigeo_model_destroy(m);
}
END_TEST

/* ------------------------------------------------------------ batch norm */

START_TEST(batch_norm_train_mode_output_is_hand_normalised)
{
    /* 4 rows, 2 channels of 2 positions: per channel mean / biased var over 8 values. */
    enum { B = 4, C = 2, S = 2 };
    sigeo_model_t *m = new_model("bn_value");
    int32_t x = chw_input(m, C, 1, S);
    int32_t bn = batch_norm(m, "bn", x, 0);
    finalize(m, bn, SIGEO_LOSS_MSE);
    const float gamma[C] = { 2.0f, -0.5f }, beta[C] = { 0.25f, 1.0f };
    set(m, "bn.weight", gamma, C);
    set(m, "bn.bias", beta, C);
    float in[B * C * S];
    gc_fill(in, B * C * S, 2.0);
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = B;
    b.dense = in;
    b.n_dense = C * S;
    ck_assert_msg(sigeo_model_forward(NULL, m, &b) == SIGEO_OK, "%s", sigeo_last_error());
    int64_t n;
    float *y = output(m, bn, &n);
    for (int c = 0; c < C; c++) {
        double mean = 0.0, var = 0.0;
        for (int r = 0; r < B; r++)
            for (int s = 0; s < S; s++)
                mean += in[r * C * S + c * S + s];
        mean /= B * S;
        for (int r = 0; r < B; r++)
            for (int s = 0; s < S; s++)
                var += pow(in[r * C * S + c * S + s] - mean, 2);
        var /= B * S;
        for (int r = 0; r < B; r++)
            for (int s = 0; s < S; s++) {
                const int k = r * C * S + c * S + s;
                ck_assert_near(y[k], gamma[c] * (in[k] - mean) / sqrt(var + 1e-5) + beta[c], 1e-5, 1e-5);
            }
    }
    free(y);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(batch_norm_eval_mode_uses_initial_running_stats)
{
    sigeo_model_t *m = new_model("bn_eval");
    int32_t x = chw_input(m, 3, 0, 0);
    int32_t bn = batch_norm(m, "bn", x, SIGEO_LAYER_RUNNING_STATS);
    finalize(m, bn, SIGEO_LOSS_MSE);
    set(m, "bn.weight", (const float[]){ 1.0f, 2.0f, 3.0f }, 3);
    const float in[3] = { 1.0f, -2.0f, 0.5f };
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = 1; /* fine in eval mode */
    b.dense = in;
    b.n_dense = 3;
    ck_assert_msg(sigeo_model_forward(NULL, m, &b) == SIGEO_OK, "%s", sigeo_last_error());
    int64_t n;
    float *y = output(m, bn, &n);
    for (int i = 0; i < 3; i++)
        ck_assert_near(y[i], (i + 1) * in[i] / sqrt(1.0 + 1e-5), 1e-6, 1e-7);
    free(y);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(batch_norm_train_mode_needs_two_values_per_channel)
{
    sigeo_model_t *m = new_model("bn_one");
    int32_t x = chw_input(m, 3, 0, 0);
    int32_t bn = batch_norm(m, "bn_single", x, 0);
    finalize(m, bn, SIGEO_LOSS_MSE);
    const float in[3] = { 1, 2, 3 };
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = 1;
    b.dense = in;
    b.n_dense = 3;
    ck_assert_int_eq(sigeo_model_forward(NULL, m, &b), SIGEO_ERR_SHAPE);
    ck_assert_str_contains(sigeo_last_error(), "bn_single");
    sigeo_model_destroy(m);
}
END_TEST

/* The batch statistics couple the rows: FD of the mean loss over the whole batch. */
START_TEST(batch_norm_2d_train_mode_matches_finite_differences_over_the_coupled_batch)
{
    sigeo_model_t *m = new_model("bn2d_fd");
    int32_t x = chw_input(m, 6, 0, 0);
    int32_t img = reshape(m, "img", linear(m, "fc", x, 24), 3, 2, 4);
    int32_t bn = batch_norm(m, "bn", img, 0);
    sigeo_layer_desc_t t = desc(SIGEO_LAYER_ACTIVATION, "act", &bn);
    t.activation = SIGEO_ACT_TANH; /* smooth: a ReLU kink within eps of a normalised value would spoil FD */
    int32_t y = linear(m, "head", add(m, &t), 3);
    finalize(m, y, SIGEO_LOSS_SOFTMAX_CE);
    randomize(m, "bn.weight", 3, 0.5, 1.0);
    randomize(m, "bn.bias", 3, 0.5, 0.0);
    cls_batch_t c = cls_batch(5, 6, 3);
    ck_assert_int_eq(gc_check_model_gradients(m, &c.b), 6);
    cls_free(&c);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(batch_norm_1d_train_and_eval_match_finite_differences)
{
    for (int eval = 0; eval < 2; eval++) {
        sigeo_model_t *m = new_model("bn1d_fd");
        int32_t x = chw_input(m, 5, 0, 0);
        int32_t bn = batch_norm(m, "bn", linear(m, "fc", x, 4), eval ? SIGEO_LAYER_RUNNING_STATS : 0);
        int32_t y = linear(m, "head", bn, 2);
        finalize(m, y, SIGEO_LOSS_MSE);
        randomize(m, "bn.weight", 4, 0.5, 1.0);
        randomize(m, "bn.bias", 4, 0.5, 0.0);
        float dense[6 * 5], targets[6 * 2];
        gc_fill(dense, 6 * 5, 1.0);
        gc_fill(targets, 6 * 2, 1.0);
        sigeo_batch_t b = SIGEO_BATCH_INIT;
        b.batch_size = 6;
        b.dense = dense;
        b.n_dense = 5;
        b.targets = targets;
        b.n_targets = 2;
        ck_assert_int_eq(gc_check_model_gradients(m, &b), 6);
        sigeo_model_destroy(m);
    }
}
END_TEST

/* ---------------------------------------------------------------- pooling */

START_TEST(max_and_avg_pool_give_hand_computed_outputs)
{
    /* 1 channel 4x4 = 0..15 */
    float img[16];
    for (int i = 0; i < 16; i++)
        img[i] = (float)((i * 7) % 16); /* 0 7 14 5 / 12 3 10 1 / 8 15 6 13 / 4 11 2 9 */
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = 1;
    b.dense = img;
    b.n_dense = 16;
    {
        sigeo_model_t *m = new_model("maxpool");
        int32_t x = chw_input(m, 1, 4, 4);
        int32_t p = pool(m, "mp", x, SIGEO_POOL_MAX, 2, 0, 0); /* stride defaults to the kernel */
        finalize(m, p, SIGEO_LOSS_MSE);
        ck_assert_msg(sigeo_model_forward(NULL, m, &b) == SIGEO_OK, "%s", sigeo_last_error());
        int64_t n;
        float *y = output(m, p, &n);
        ck_assert_int_eq(n, 4);
        const float want[4] = { 12, 14, 15, 13 };
        for (int i = 0; i < 4; i++)
            ck_assert_near(y[i], want[i], 0, 0);
        free(y);
        sigeo_model_destroy(m);
    }
    {
        /* avg 3x3 stride 2 padding 1: output 2x2, divisor 9 (padding counted). */
        sigeo_model_t *m = new_model("avgpool");
        int32_t x = chw_input(m, 1, 4, 4);
        int32_t p = pool(m, "ap", x, SIGEO_POOL_MEAN, 3, 2, 1);
        finalize(m, p, SIGEO_LOSS_MSE);
        ck_assert_msg(sigeo_model_forward(NULL, m, &b) == SIGEO_OK, "%s", sigeo_last_error());
        int64_t n;
        float *y = output(m, p, &n);
        ck_assert_int_eq(n, 4);
        /* windows rows/cols {-1,0,1} and {1,2,3} */
        const float want[4] = { (0 + 7 + 12 + 3) / 9.0f, (7 + 14 + 5 + 3 + 10 + 1) / 9.0f,
                                (12 + 3 + 8 + 15 + 4 + 11) / 9.0f, (3 + 10 + 1 + 15 + 6 + 13 + 11 + 2 + 9) / 9.0f };
        for (int i = 0; i < 4; i++)
            ck_assert_near(y[i], want[i], 1e-6, 1e-6);
        free(y);
        sigeo_model_destroy(m);
    }
    {
        sigeo_model_t *m = new_model("gap");
        int32_t x = chw_input(m, 1, 4, 4);
        sigeo_layer_desc_t d = desc(SIGEO_LAYER_GLOBAL_AVG_POOL, "gap", &x);
        int32_t p = add(m, &d);
        finalize(m, p, SIGEO_LOSS_MSE);
        ck_assert_msg(sigeo_model_forward(NULL, m, &b) == SIGEO_OK, "%s", sigeo_last_error());
        int64_t n;
        float *y = output(m, p, &n);
        ck_assert_int_eq(n, 1);
        ck_assert_near(y[0], 7.5, 1e-6, 0);
        free(y);
        sigeo_model_destroy(m);
    }
}
END_TEST

/* fc -> (2,6,6) -> maxpool 2 -> conv -> avgpool 3 s2 p1 -> global avg -> head. */
START_TEST(pooling_matches_finite_differences)
{
    sigeo_model_t *m = new_model("pool_fd");
    int32_t x = chw_input(m, 6, 0, 0);
    int32_t img = reshape(m, "img", linear(m, "fc", x, 72), 2, 6, 6);
    int32_t mp = pool(m, "mp", img, SIGEO_POOL_MAX, 2, 2, 0);
    int32_t c = conv(m, "conv", mp, 3, 1, 1, 1, 1, 0, 0, 0);
    int32_t ap = pool(m, "ap", c, SIGEO_POOL_MEAN, 3, 2, 1);
    int32_t cat_in[2] = { ap, ap };
    sigeo_layer_desc_t cd = desc(SIGEO_LAYER_CONCAT, "cat", cat_in);
    cd.n_inputs = 2; /* channel concat of two (3,2,2) -> (6,2,2) */
    int32_t cat = add(m, &cd);
    sigeo_layer_desc_t g = desc(SIGEO_LAYER_GLOBAL_AVG_POOL, "gap", &cat);
    int32_t gp = add(m, &g);
    int32_t y = linear(m, "head", gp, 3);
    finalize(m, y, SIGEO_LOSS_SOFTMAX_CE);
    cls_batch_t cb = cls_batch(3, 6, 3);
    ck_assert_int_eq(gc_check_model_gradients(m, &cb.b), 6);
    cls_free(&cb);
    sigeo_model_destroy(m);
}
END_TEST

/* ----------------------------------------------------------------- errors */

START_TEST(bad_vision_shapes_fail_with_the_node_named)
{
    sigeo_model_t *m = new_model("bad");
    int32_t flat = chw_input(m, 12, 0, 0);
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_CONV2D, "conv_on_flat", &flat);
    d.units = 2;
    d.kernel[0] = d.kernel[1] = 1;
    int32_t id;
    ck_assert_int_eq(sigeo_model_add_layer(&id, m, &d), SIGEO_ERR_SHAPE);
    ck_assert_str_contains(sigeo_last_error(), "conv_on_flat");
    ck_assert_str_contains(sigeo_last_error(), "'x'");
    int32_t img = reshape(m, "img", flat, 3, 2, 2);
    d = desc(SIGEO_LAYER_CONV2D, "conv_too_big", &img);
    d.units = 2;
    d.kernel[0] = 3;
    d.kernel[1] = 1;
    ck_assert_int_eq(sigeo_model_add_layer(&id, m, &d), SIGEO_ERR_SHAPE);
    ck_assert_str_contains(sigeo_last_error(), "conv_too_big");
    d = desc(SIGEO_LAYER_POOL2D, "pool_on_flat", &flat);
    d.pooling = SIGEO_POOL_MAX;
    d.kernel[0] = d.kernel[1] = 2;
    ck_assert_int_eq(sigeo_model_add_layer(&id, m, &d), SIGEO_ERR_SHAPE);
    d = desc(SIGEO_LAYER_POOL2D, "pool_pad", &img);
    d.pooling = SIGEO_POOL_MAX;
    d.kernel[0] = d.kernel[1] = 2;
    d.padding[0] = 2;
    ck_assert_int_eq(sigeo_model_add_layer(&id, m, &d), SIGEO_ERR_INVALID_ARG);
    d = desc(SIGEO_LAYER_POOL2D, "pool_sum", &img);
    d.pooling = SIGEO_POOL_SUM;
    d.kernel[0] = d.kernel[1] = 2;
    ck_assert_int_eq(sigeo_model_add_layer(&id, m, &d), SIGEO_ERR_INVALID_ARG);
    d = desc(SIGEO_LAYER_BATCH_NORM, "bn_units", &img);
    d.units = 4;
    ck_assert_int_eq(sigeo_model_add_layer(&id, m, &d), SIGEO_ERR_SHAPE);
    ck_assert_str_contains(sigeo_last_error(), "bn_units");
    d = desc(SIGEO_LAYER_RESHAPE, "reshape_bad", &flat);
    d.shape[0] = 5;
    d.shape[1] = 2;
    ck_assert_int_eq(sigeo_model_add_layer(&id, m, &d), SIGEO_ERR_SHAPE);
    ck_assert_str_contains(sigeo_last_error(), "reshape_bad");
    sigeo_model_destroy(m);

    /* At activation: an elastic width that leaves a conv with fewer input channels. */
    m = new_model("bad_arch");
    int32_t ch;
    ck_assert_int_eq(sigeo_model_add_choice(&ch, m, "w", 2, (const int64_t[]){ 8, 12 }), SIGEO_OK);
    int32_t x = chw_input(m, 3, 0, 0);
    sigeo_layer_desc_t l = desc(SIGEO_LAYER_LINEAR, "fc", &x);
    l.units = 12;
    l.width_choice = ch;
    int32_t h = add(m, &l);
    int32_t r = reshape(m, "img", h, 3, 2, 2);
    int32_t c = conv(m, "conv_fixed", r, 2, 1, 1, 1, 1, 0, 0, 0);
    finalize(m, c, SIGEO_LOSS_MSE);
    const int32_t small = 0;
    ck_assert_int_eq(sigeo_model_activate(m, &small, 1), SIGEO_ERR_SHAPE);
    ck_assert_str_contains(sigeo_last_error(), "conv_fixed");
    ck_assert_str_contains(sigeo_last_error(), "'img'");
    sigeo_model_destroy(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ops_vision");
    TCase *tc = tcase_create("vision");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, conv_1x1x3x3_with_known_kernel_gives_hand_computed_output);
    tcase_add_test(tc, conv_with_stride_padding_matches_a_naive_loop);
    tcase_add_test(tc, conv_matches_finite_differences_for_inputs_weights_and_bias);
    tcase_add_test(tc, conv_on_direct_kernel_layouts_matches_naive_loop_and_finite_differences);
    tcase_add_test(tc, batch_norm_train_mode_output_is_hand_normalised);
    tcase_add_test(tc, batch_norm_eval_mode_uses_initial_running_stats);
    tcase_add_test(tc, batch_norm_train_mode_needs_two_values_per_channel);
    tcase_add_test(tc, batch_norm_2d_train_mode_matches_finite_differences_over_the_coupled_batch);
    tcase_add_test(tc, batch_norm_1d_train_and_eval_match_finite_differences);
    tcase_add_test(tc, max_and_avg_pool_give_hand_computed_outputs);
    tcase_add_test(tc, pooling_matches_finite_differences);
    tcase_add_test(tc, bad_vision_shapes_fail_with_the_node_named);
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
