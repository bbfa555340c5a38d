/* Average pooling with count_include_pad = False (SIGEO_LAYER_POOL_EXCLUDE_PAD,
 * NB201's avg_pool_3x3):
 * - forward against a naive loop written here (each window divided by its
 *   in-image pixels), for 3x3 stride 1 pad 1 and 3x3 stride 2 pad 1, next to
 *   the include-padding divisor so the two are told apart at the borders;
 * - backward by finite differences of every parameter upstream;
 * - the forward-mode pass (sigeo__tape_jvp) against theta . grad l_n of
 *   each sample run alone (reverse mode, itself checked by the differences);
 * - the flag on MAX pooling is refused.
 * The tangent pass is internal: this test links the static twin. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "gradcheck.h"
#include "nn/probe.h"

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

static sigeo_context_t *ctx;
static void setup(void)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.seed = 5;
    OK(sigeo_context_create(&ctx, &o));
}
static void teardown(void)
{
    sigeo_context_destroy(ctx);
    ctx = NULL;
}

static int32_t avg_pool(sigeo_model_t *m, const char *name, int32_t in, int64_t k, int64_t s, int64_t p, bool exclude)
{
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_POOL2D, name, &in);
    d.pooling = SIGEO_POOL_MEAN;
    d.kernel[0] = d.kernel[1] = k;
    d.stride[0] = d.stride[1] = s;
    d.padding[0] = d.padding[1] = p;
    d.flags = exclude ? SIGEO_LAYER_POOL_EXCLUDE_PAD : 0u;
    return add(m, &d);
}

/* The reference: mean over the in-image pixels of each window (exclude),
 * or their sum over k*k (include). */
static void naive_pool(float *y, const float *x, int64_t C, int64_t H, int64_t W, int64_t k, int64_t s, int64_t p,
                       bool exclude, int64_t *ho_out, int64_t *wo_out)
{
    const int64_t Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
    for (int64_t c = 0; c < C; c++)
        for (int64_t oh = 0; oh < Ho; oh++)
            for (int64_t ow = 0; ow < Wo; ow++) {
                double sum = 0.0;
                int64_t cnt = 0;
                for (int64_t i = 0; i < k; i++)
                    for (int64_t j = 0; j < k; j++) {
                        const int64_t h = oh * s - p + i, w = ow * s - p + j;
                        if (h >= 0 && h < H && w >= 0 && w < W) {
                            sum += x[(c * H + h) * W + w];
                            cnt++;
                        }
                    }
                y[(c * Ho + oh) * Wo + ow] = (float)(sum / (double)(exclude ? cnt : k * k));
            }
    *ho_out = Ho;
    *wo_out = Wo;
}

START_TEST(exclude_pad_forward_matches_a_naive_loop)
{
    enum { B = 2, C = 2, H = 5, W = 4 };
    float x[B * C * H * W];
    for (int i = 0; i < B * C * H * W; i++)
        x[i] = (float)(gc_nrand() + 0.5);
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = B;
    b.dense = x;
    b.n_dense = C * H * W;
    const int64_t strides[2] = { 1, 2 };
    for (int si = 0; si < 2; si++)
        for (int ex = 0; ex < 2; ex++) {
            sigeo_model_t *m;
            OK(sigeo_model_create(&m, ctx, "pool"));
            int32_t in = chw_input(m, C, H, W);
            int32_t p = avg_pool(m, "ap", in, 3, strides[si], 1, ex == 1);
            OK(sigeo_model_set_loss(m, p, SIGEO_LOSS_MSE));
            OK(sigeo_model_finalize(m));
            OK(sigeo_model_forward(NULL, m, &b));
            int64_t n = 0;
            OK(sigeo_model_node_output(NULL, &n, m, p));
            float *y = malloc((size_t)n * sizeof *y), want[B * C * H * W];
            OK(sigeo_model_node_output(y, &n, m, p));
            int64_t Ho, Wo, per = 0;
            for (int r = 0; r < B; r++) {
                naive_pool(want + r * per, x + r * C * H * W, C, H, W, 3, strides[si], 1, ex == 1, &Ho, &Wo);
                per = C * Ho * Wo;
            }
            ck_assert_int_eq(n, B * per);
            for (int64_t i = 0; i < n; i++)
                ck_assert_msg(fabsf(y[i] - want[i]) <= 1e-5f * (1.0f + fabsf(want[i])),
                              "stride %lld exclude %d: output %lld = %g, want %g", (long long)strides[si], ex,
                              (long long)i, y[i], want[i]);
            /* The corner window holds 4 in-image pixels of 9: the divisors differ there. */
            float other[B * C * H * W];
            naive_pool(other, x, C, H, W, 3, strides[si], 1, ex == 0, &Ho, &Wo);
            ck_assert(fabsf(other[0] - y[0]) > 1e-3f);
            free(y);
            sigeo_model_destroy(m);
        }
}
END_TEST

/* fc -> (2,5,5) -> relu -> exclude-pad avg 3x3 s1 p1 -> conv 1x1 -> exclude-pad avg 3x3 s2 p1 -> head (CE). */
static sigeo_model_t *chain(void)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "pool_chain"));
    sigeo_input_desc_t id = SIGEO_INPUT_DESC_INIT;
    id.name = "x";
    id.features = 6;
    int32_t x;
    OK(sigeo_model_add_input(&x, m, &id));
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_LINEAR, "fc", &x);
    d.units = 50;
    int32_t h = add(m, &d);
    d = desc(SIGEO_LAYER_RESHAPE, "img", &h);
    d.shape[0] = 2;
    d.shape[1] = 5;
    d.shape[2] = 5;
    h = add(m, &d);
    d = desc(SIGEO_LAYER_ACTIVATION, "relu", &h);
    d.activation = SIGEO_ACT_RELU;
    h = avg_pool(m, "ap1", add(m, &d), 3, 1, 1, true);
    d = desc(SIGEO_LAYER_CONV2D, "conv", &h);
    d.units = 3;
    d.kernel[0] = d.kernel[1] = 1;
    h = avg_pool(m, "ap2", add(m, &d), 3, 2, 1, true);
    d = desc(SIGEO_LAYER_LINEAR, "head", &h);
    d.units = 3;
    int32_t y = add(m, &d);
    OK(sigeo_model_set_loss(m, y, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    return m;
}

typedef struct data {
    float x[4 * 6];
    int32_t labels[4];
    sigeo_batch_t b;
} data_t;

static void make_data(data_t *d)
{
    gc_fill(d->x, 4 * 6, 1.0);
    for (int i = 0; i < 4; i++)
        d->labels[i] = i % 3;
    d->b = (sigeo_batch_t)SIGEO_BATCH_INIT;
    d->b.batch_size = 4;
    d->b.dense = d->x;
    d->b.n_dense = 6;
    d->b.labels = d->labels;
}

START_TEST(exclude_pad_backward_matches_finite_differences)
{
    sigeo_model_t *m = chain();
    data_t d;
    make_data(&d);
    ck_assert_int_eq(gc_check_model_gradients(m, &d.b), 6);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(exclude_pad_forward_mode_matches_each_sample_alone)
{
    sigeo_model_t *m = chain();
    data_t d;
    make_data(&d);
    double tangent[4], loss;
    OK(sigeo_model_forward(&loss, m, &d.b));
    OK(sigeo__tape_jvp(tangent, m));
    int32_t np;
    OK(sigeo_model_param_count(&np, m));
    double scale = 0.0;
    for (int64_t n = 0; n < 4; n++) {
        sigeo_batch_t one = d.b;
        one.batch_size = 1;
        one.dense = d.x + n * 6;
        one.labels = d.labels + n;
        OK(sigeo_model_forward_backward(NULL, m, &one));
        double want = 0.0;
        for (int32_t p = 0; p < np; p++) {
            sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
            OK(sigeo_model_param_info(&info, m, p));
            float *v = malloc((size_t)info.numel * sizeof *v), *g = malloc((size_t)info.numel * sizeof *g);
            OK(sigeo_model_get_param(m, p, v, info.numel));
            OK(sigeo_model_get_grad(m, p, g, info.numel));
            for (int64_t i = 0; i < info.numel; i++)
                want += (double)v[i] * g[i];
            free(v);
            free(g);
        }
        scale = fmax(scale, fabs(want));
        ck_assert_msg(fabs(tangent[n] - want) <= 1e-4 * fabs(want) + 1e-6, "sample %lld: forward mode %.9g, reverse %.9g",
                      (long long)n, tangent[n], want);
    }
    ck_assert_msg(scale > 1e-3, "reference derivatives all ~0 (%g): not a real check", scale);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(exclude_pad_on_max_pooling_is_refused)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "bad"));
    int32_t in = chw_input(m, 1, 4, 4);
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_POOL2D, "mp_excl", &in);
    d.pooling = SIGEO_POOL_MAX;
    d.kernel[0] = d.kernel[1] = 2;
    d.flags = SIGEO_LAYER_POOL_EXCLUDE_PAD;
    int32_t id;
    ck_assert_int_eq(sigeo_model_add_layer(&id, m, &d), SIGEO_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sigeo_last_error(), "mp_excl") != NULL, "%s", sigeo_last_error());
    /* the model stays usable */
    avg_pool(m, "ok", in, 2, 0, 0, true);
    sigeo_model_destroy(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("pool_exclude_pad");
    TCase *tc = tcase_create("pool");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, exclude_pad_forward_matches_a_naive_loop);
    tcase_add_test(tc, exclude_pad_backward_matches_finite_differences);
    tcase_add_test(tc, exclude_pad_forward_mode_matches_each_sample_alone);
    tcase_add_test(tc, exclude_pad_on_max_pooling_is_refused);
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
