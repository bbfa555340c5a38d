/* Supernets: weight sharing between an activated subnet and its extracted
 * standalone model, architecture sampling and text form, counts, and bad
 * input (each a clear status, the model usable afterwards). */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "sigeo/model.h"

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

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

static int32_t layer(sigeo_model_t *m, sigeo_layer_kind_t kind, const char *name, const int32_t *in, uint32_t n,
                     int64_t units, int32_t width_choice, const int32_t *gates)
{
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = kind;
    d.name = name;
    d.inputs = in;
    d.n_inputs = n;
    d.units = units;
    d.width_choice = width_choice;
    d.input_choices = gates;
    d.activation = SIGEO_ACT_RELU;
    int32_t out;
    OK(sigeo_model_add_layer(&out, m, &d));
    return out;
}

/* x(10) -> a: linear [4|8] relu -> b: linear [3|6] relu (reads a);
 * cat(a, b) gated per input -> LN -> head linear 3 -> CE.
 * Choices: wa, wb, edge_a, edge_b (subset group), 6 = 2*2*3 valid archs. */
typedef struct space {
    sigeo_model_t *m;
    int32_t x, head;
} space_t;

static space_t build_space(void)
{
    space_t s;
    OK(sigeo_model_create(&s.m, ctx, "toy"));
    int32_t wa, wb, ea, eb;
    OK(sigeo_model_add_choice(&wa, s.m, "wa", 2, (const int64_t[]){ 4, 8 }));
    OK(sigeo_model_add_choice(&wb, s.m, "wb", 2, (const int64_t[]){ 3, 6 }));
    OK(sigeo_model_add_choice(&ea, s.m, "edge_a", 2, NULL));
    OK(sigeo_model_add_choice(&eb, s.m, "edge_b", 2, NULL));
    OK(sigeo_model_add_choice_group(s.m, "edges", SIGEO_GROUP_SUBSET, (const int32_t[]){ ea, eb }, 2));
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "x";
    in.features = 10;
    OK(sigeo_model_add_input(&s.x, s.m, &in));
    int32_t a = layer(s.m, SIGEO_LAYER_LINEAR, "a", &s.x, 1, 8, wa, NULL);
    a = layer(s.m, SIGEO_LAYER_ACTIVATION, "a_relu", &a, 1, 0, -1, NULL);
    int32_t b = layer(s.m, SIGEO_LAYER_LINEAR, "b", &a, 1, 6, wb, NULL);
    b = layer(s.m, SIGEO_LAYER_ACTIVATION, "b_relu", &b, 1, 0, -1, NULL);
    int32_t cat = layer(s.m, SIGEO_LAYER_CONCAT, "cat", (const int32_t[]){ a, b }, 2, 0, -1, (const int32_t[]){ ea, eb });
    int32_t ln = layer(s.m, SIGEO_LAYER_LAYER_NORM, "ln", &cat, 1, 0, -1, NULL);
    s.head = layer(s.m, SIGEO_LAYER_LINEAR, "head", &ln, 1, 3, -1, NULL);
    OK(sigeo_model_set_loss(s.m, s.head, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(s.m));
    /* LN affine away from (1, 0) so slicing mistakes show. */
    int32_t p;
    float g[14];
    for (int i = 0; i < 14; i++)
        g[i] = 0.5f + 0.1f * (float)((i * 5) % 7);
    OK(sigeo_model_find_param(&p, s.m, "ln.weight"));
    OK(sigeo_model_set_param(s.m, p, g, 14));
    for (int i = 0; i < 14; i++)
        g[i] = 0.2f * (float)((i * 3) % 5) - 0.4f;
    OK(sigeo_model_find_param(&p, s.m, "ln.bias"));
    OK(sigeo_model_set_param(s.m, p, g, 14));
    return s;
}

enum { B = 5 };
static float dense[B * 10];
static int32_t labels[B] = { 0, 2, 1, 1, 0 };

static sigeo_batch_t toy_batch(void)
{
    gc_fill(dense, B * 10, 1.0);
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = B;
    b.dense = dense;
    b.n_dense = 10;
    b.labels = labels;
    return b;
}

static float *get(sigeo_model_t *m, const char *name, int grad, int64_t *n)
{
    int32_t p;
    OK(sigeo_model_find_param(&p, m, name));
    sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
    OK(sigeo_model_param_info(&info, m, p));
    float *buf = malloc((size_t)info.numel * sizeof(float));
    OK(grad ? sigeo_model_get_grad(m, p, buf, info.numel) : sigeo_model_get_param(m, p, buf, info.numel));
    *n = info.numel;
    return buf;
}

static void assert_close(double a, double b, const char *what)
{
    ck_assert_msg(fabs(a - b) <= 1e-5 + 1e-4 * fabs(b), "%s: %.9g vs %.9g", what, a, b);
}

/* The subnet's gradient of supernet W[r][col] equals the standalone's
 * gradient of its W'[r][col'] for the mapped column; every supernet entry
 * outside the slice has gradient exactly 0. Checked independently of the
 * library's slicing code by mapping columns by hand for this space. */
START_TEST(subnet_equals_extracted_model_with_inherited_weights)
{
    space_t s = build_space();
    sigeo_batch_t b = toy_batch();
    const int32_t archs[][4] = { { 0, 0, 1, 1 }, { 1, 0, 1, 1 }, { 0, 1, 0, 1 }, { 1, 1, 1, 0 }, { 0, 1, 1, 1 } };
    for (size_t t = 0; t < sizeof archs / sizeof archs[0]; t++) {
        const int32_t *a = archs[t];
        int wa = a[0] ? 8 : 4, wb = a[1] ? 6 : 3;
        OK(sigeo_model_activate(s.m, a, 4));
        double l_sub, l_ext;
        OK(sigeo_model_forward_backward(&l_sub, s.m, &b));
        sigeo_model_t *x;
        OK(sigeo_model_extract(&x, s.m, a, 4, 1));
        OK(sigeo_model_forward_backward(&l_ext, x, &b));
        assert_close(l_sub, l_ext, "loss");
        /* head.weight: supernet [3, 14] columns = a's 8 slots then b's 6 slots */
        int64_t ns, nx;
        float *gs = get(s.m, "head.weight", 1, &ns), *gx = get(x, "head.weight", 1, &nx);
        int in_w = (a[2] ? wa : 0) + (a[3] ? wb : 0);
        ck_assert_int_eq(nx, 3 * in_w);
        for (int r = 0; r < 3; r++) {
            int col = 0;
            for (int j = 0; j < 14; j++) {
                bool on = j < 8 ? (a[2] && j < wa) : (a[3] && j - 8 < wb);
                if (on) {
                    assert_close(gs[r * 14 + j], gx[r * in_w + col], "head.weight gradient");
                    col++;
                } else {
                    ck_assert_msg(gs[r * 14 + j] == 0.0f, "inactive head.weight[%d][%d] has gradient %g", r, j,
                                  (double)gs[r * 14 + j]);
                }
            }
        }
        free(gs);
        free(gx);
        /* a.weight: rows 0..wa-1 shared, the rest zero */
        gs = get(s.m, "a.weight", 1, &ns);
        gx = get(x, "a.weight", 1, &nx);
        for (int r = 0; r < 8; r++)
            for (int j = 0; j < 10; j++) {
                if (r < wa)
                    assert_close(gs[r * 10 + j], gx[r * 10 + j], "a.weight gradient");
                else
                    ck_assert(gs[r * 10 + j] == 0.0f);
            }
        free(gs);
        free(gx);
        sigeo_model_destroy(x);
    }
    sigeo_model_destroy(s.m);
}
END_TEST

START_TEST(two_archs_share_exactly_the_overlapping_weights)
{
    space_t s = build_space();
    int64_t n;
    float *w = get(s.m, "a.weight", 0, &n);
    sigeo_model_t *x4, *x8;
    OK(sigeo_model_extract(&x4, s.m, (const int32_t[]){ 0, 0, 1, 1 }, 4, 1));
    OK(sigeo_model_extract(&x8, s.m, (const int32_t[]){ 1, 0, 1, 1 }, 4, 1));
    int64_t n4, n8;
    float *w4 = get(x4, "a.weight", 0, &n4), *w8 = get(x8, "a.weight", 0, &n8);
    ck_assert_int_eq(n4, 40);
    ck_assert_int_eq(n8, 80);
    for (int i = 0; i < 40; i++) {
        ck_assert(w4[i] == w[i]);
        ck_assert(w8[i] == w[i]);
    }
    for (int i = 40; i < 80; i++)
        ck_assert(w8[i] == w[i]);
    free(w);
    free(w4);
    free(w8);
    sigeo_model_destroy(x4);
    sigeo_model_destroy(x8);
    sigeo_model_destroy(s.m);
}
END_TEST

START_TEST(supernet_gradients_match_finite_differences_per_arch)
{
    space_t s = build_space();
    sigeo_batch_t b = toy_batch();
    OK(sigeo_model_activate(s.m, (const int32_t[]){ 0, 1, 1, 1 }, 4));
    ck_assert_int_eq(gc_check_model_gradients(s.m, &b), 8);
    OK(sigeo_model_activate(s.m, (const int32_t[]){ 1, 0, 0, 1 }, 4));
    gc_check_model_gradients(s.m, &b);
    sigeo_model_destroy(s.m);
}
END_TEST

START_TEST(same_seed_gives_bit_identical_weights_and_outputs)
{
    float out[2][B * 3];
    for (int rep = 0; rep < 2; rep++) {
        teardown();
        setup();
        space_t s = build_space();
        sigeo_batch_t b = toy_batch();
        b.dense = dense; /* same data both times */
        memset(dense, 0, sizeof dense);
        for (int i = 0; i < B * 10; i++)
            dense[i] = (float)((i * 37) % 11) / 7.0f - 0.6f;
        OK(sigeo_model_forward(NULL, s.m, &b));
        int64_t cnt = B * 3;
        OK(sigeo_model_node_output(out[rep], &cnt, s.m, s.head));
        sigeo_model_destroy(s.m);
    }
    ck_assert(memcmp(out[0], out[1], sizeof out[0]) == 0);
}
END_TEST

START_TEST(arch_text_round_trips_and_rejects_malformed_text)
{
    const int32_t a[] = { 3, 0, 12, 1 };
    char buf[32];
    size_t len;
    OK(sigeo_arch_format(buf, sizeof buf, &len, a, 4));
    ck_assert_str_eq(buf, "3,0,12,1");
    ck_assert_uint_eq(len, 8);
    OK(sigeo_arch_format(NULL, 0, &len, a, 4));
    ck_assert_uint_eq(len, 8);
    ck_assert_int_eq(sigeo_arch_format(buf, 4, &len, a, 4), SIGEO_ERR_SHAPE);
    int32_t back[8], n;
    OK(sigeo_arch_parse(back, 8, &n, "3,0,12,1"));
    ck_assert_int_eq(n, 4);
    ck_assert(memcmp(back, a, sizeof a) == 0);
    OK(sigeo_arch_parse(back, 8, &n, ""));
    ck_assert_int_eq(n, 0);
    const char *bad[] = { "3,", ",3", "3,,1", "03", "-1", "1 ,2", "a", "1,2,3,4,5,6,7,8,9", "99999999999" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sigeo_status_t st = sigeo_arch_parse(back, 8, &n, bad[i]);
        ck_assert_msg(st == SIGEO_ERR_FORMAT || st == SIGEO_ERR_SHAPE, "'%s' accepted", bad[i]);
        ck_assert(strlen(sigeo_last_error()) > 0);
    }
}
END_TEST

START_TEST(sampling_respects_groups_and_is_seeded)
{
    space_t s = build_space();
    int32_t a[4];
    int seen_both = 0, seen_single = 0;
    for (int i = 0; i < 200; i++) {
        OK(sigeo_model_sample_arch(a, 4, s.m, SIGEO_SAMPLE_ANY_PATH));
        ck_assert(a[2] + a[3] >= 1);
        OK(sigeo_model_check_arch(s.m, a, 4));
        seen_both += a[2] + a[3] == 2;
        OK(sigeo_model_sample_arch(a, 4, s.m, SIGEO_SAMPLE_SINGLE_PATH));
        ck_assert_int_eq(a[2] + a[3], 1);
        seen_single++;
        OK(sigeo_model_sample_arch(a, 4, s.m, SIGEO_SAMPLE_UNIFORM));
        ck_assert(a[2] + a[3] >= 1);
    }
    ck_assert(seen_both > 50 && seen_both < 150); /* any-path over 2 points: count 1 or 2 with p 1/2 */
    OK(sigeo_model_sample_arch(a, 4, s.m, SIGEO_SAMPLE_FULL_PATH));
    ck_assert(a[0] == 1 && a[1] == 1 && a[2] == 1 && a[3] == 1);
    ck_assert_int_eq(sigeo_model_check_arch(s.m, (const int32_t[]){ 0, 0, 0, 0 }, 4), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(sigeo_last_error(), "edges"));
    sigeo_model_destroy(s.m);
    /* same seed, same draws */
    int32_t first[2][20];
    for (int rep = 0; rep < 2; rep++) {
        teardown();
        setup();
        s = build_space();
        for (int i = 0; i < 5; i++)
            OK(sigeo_model_sample_arch(first[rep] + 4 * i, 4, s.m, SIGEO_SAMPLE_ANY_PATH_BINOMIAL));
        sigeo_model_destroy(s.m);
    }
    ck_assert(memcmp(first[0], first[1], sizeof first[0]) == 0);
}
END_TEST

START_TEST(params_and_flops_match_hand_counts)
{
    space_t s = build_space();
    int64_t p, f;
    /* arch {wa=4, wb=3, both edges}: a: 4*10+4, b: 3*4+3, ln: 2*7, head: 3*7+3 */
    OK(sigeo_model_count(&p, &f, s.m, (const int32_t[]){ 0, 0, 1, 1 }, 4));
    ck_assert_int_eq(p, 44 + 15 + 14 + 24);
    /* flops: a 10*4, relu 4, b 4*3, relu 3, head 7*3 */
    ck_assert_int_eq(f, 40 + 4 + 12 + 3 + 21);
    /* only edge b on, wa=8, wb=6: a 8*10+8, b 6*8+6, ln 2*6, head 3*6+3 */
    OK(sigeo_model_count(&p, &f, s.m, (const int32_t[]){ 1, 1, 0, 1 }, 4));
    ck_assert_int_eq(p, 88 + 54 + 12 + 21);
    ck_assert_int_eq(f, 80 + 8 + 48 + 6 + 18);
    sigeo_model_destroy(s.m);
}
END_TEST

/* Each bad input: a clear status and message; then a valid call still works. */
START_TEST(bad_input_is_reported_and_the_model_stays_usable)
{
    space_t s = build_space();
    sigeo_batch_t good = toy_batch();
    double l0, l;
    OK(sigeo_model_forward_backward(&l0, s.m, &good));
    sigeo_batch_t b = good;
    b.batch_size = 0;
    ck_assert_int_eq(sigeo_model_forward_backward(&l, s.m, &b), SIGEO_ERR_INVALID_ARG);
    b = good;
    b.n_dense = 9;
    ck_assert_int_eq(sigeo_model_forward(&l, s.m, &b), SIGEO_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(sigeo_model_last_error(s.m), "'x'"));
    float nan_dense[B * 10];
    memcpy(nan_dense, dense, sizeof nan_dense);
    nan_dense[23] = NAN;
    b = good;
    b.dense = nan_dense;
    ck_assert_int_eq(sigeo_model_forward(&l, s.m, &b), SIGEO_ERR_NONFINITE);
    ck_assert_ptr_nonnull(strstr(sigeo_last_error(), "row 2 feature 3"));
    int32_t bad_labels[B] = { 0, 1, 3, 0, 0 };
    b = good;
    b.labels = bad_labels;
    ck_assert_int_eq(sigeo_model_forward(&l, s.m, &b), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(sigeo_last_error(), "row 2"));
    b = good;
    b.labels = NULL;
    ck_assert_int_eq(sigeo_model_forward_backward(&l, s.m, &b), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_model_activate(s.m, (const int32_t[]){ 0, 0, 1 }, 3), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_model_activate(s.m, (const int32_t[]){ 0, 2, 1, 1 }, 4), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(sigeo_last_error(), "'wb'"));
    /* both edges off: the group rule refuses it (concat would have no input) */
    ck_assert_int_eq(sigeo_model_activate(s.m, (const int32_t[]){ 0, 0, 0, 0 }, 4), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(sigeo_last_error(), "group 'edges'"));
    ck_assert_int_eq(sigeo_model_forward(NULL, NULL, &good), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_model_forward(NULL, s.m, NULL), SIGEO_ERR_INVALID_ARG);
    float w[3];
    ck_assert_int_eq(sigeo_model_set_param(s.m, 0, w, 3), SIGEO_ERR_SHAPE);
    ck_assert_int_eq(sigeo_model_get_param(s.m, 99, w, 3), SIGEO_ERR_INVALID_ARG);
    /* still usable: the same batch gives the same loss as before */
    OK(sigeo_model_forward_backward(&l, s.m, &good));
    ck_assert(l == l0);
    sigeo_model_destroy(s.m);
}
END_TEST

START_TEST(builder_misuse_is_reported)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "m"));
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "x";
    in.features = 4;
    int32_t x;
    OK(sigeo_model_add_input(&x, m, &in));
    ck_assert_int_eq(sigeo_model_add_input(&x, m, &in), SIGEO_ERR_INVALID_ARG); /* duplicate name */
    sigeo_batch_t b = toy_batch();
    ck_assert_int_eq(sigeo_model_forward(NULL, m, &b), SIGEO_ERR_INVALID_ARG); /* not finalised */
    ck_assert_int_eq(sigeo_model_finalize(m), SIGEO_ERR_INVALID_ARG);           /* no loss */
    int32_t bad_in = 7;
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.name = "fc";
    d.inputs = &bad_in;
    d.n_inputs = 1;
    d.units = 3;
    ck_assert_int_eq(sigeo_model_add_layer(NULL, m, &d), SIGEO_ERR_INVALID_ARG);
    d.inputs = &x;
    d.kind = 999;
    ck_assert_int_eq(sigeo_model_add_layer(NULL, m, &d), SIGEO_ERR_INVALID_ARG);
    d.kind = SIGEO_LAYER_LINEAR;
    d.width_choice = 5;
    ck_assert_int_eq(sigeo_model_add_layer(NULL, m, &d), SIGEO_ERR_INVALID_ARG);
    d.width_choice = -1;
    int32_t y;
    OK(sigeo_model_add_layer(&y, m, &d)); /* the failed calls left nothing behind */
    OK(sigeo_model_set_loss(m, y, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    int32_t np;
    OK(sigeo_model_param_count(&np, m));
    ck_assert_int_eq(np, 2);
    ck_assert_int_eq(sigeo_model_add_layer(NULL, m, &d), SIGEO_ERR_INVALID_ARG); /* after finalize */
    sigeo_model_destroy(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("supernet");
    TCase *tc = tcase_create("supernet");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, subnet_equals_extracted_model_with_inherited_weights);
    tcase_add_test(tc, two_archs_share_exactly_the_overlapping_weights);
    tcase_add_test(tc, supernet_gradients_match_finite_differences_per_arch);
    tcase_add_test(tc, same_seed_gives_bit_identical_weights_and_outputs);
    tcase_add_test(tc, arch_text_round_trips_and_rejects_malformed_text);
    tcase_add_test(tc, sampling_respects_groups_and_is_seeded);
    tcase_add_test(tc, params_and_flops_match_hand_counts);
    tcase_add_test(tc, bad_input_is_reported_and_the_model_stays_usable);
    tcase_add_test(tc, builder_misuse_is_reported);
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
