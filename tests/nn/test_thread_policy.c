/* The context's thread policy (sigeo.h, sigeo_thread_policy_t): the team a
 * call gets, the options' validation, and what the policy may and may not
 * change in a model's results. Correctness only; what the policy buys in
 * time is bench/threads.c's and bench/load.sh's business. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "test_util.h"
#include "core/context.h"
#include "sigeo/model.h"

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

static sigeo_context_t *make_ctx(uint32_t threads, uint32_t policy, uint64_t min_flops)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.threads = threads;
    o.thread_policy = policy;
    o.parallel_min_flops = min_flops;
    o.seed = 5;
    sigeo_context_t *ctx;
    OK(sigeo_context_create(&ctx, &o));
    return ctx;
}

START_TEST(team_follows_policy_and_threshold)
{
    sigeo_context_t *a = make_ctx(2, SIGEO_THREADS_AUTO, 1000);
    ck_assert_int_eq(sigeo__context_team(a, 999.0), 1);
    ck_assert_int_eq(sigeo__context_team(a, 1000.0), 2);
    ck_assert_int_eq(sigeo__context_team(a, 1e30), 2); /* no wrap for huge products */
    sigeo_context_t *f = make_ctx(2, SIGEO_THREADS_FIXED, 1000);
    ck_assert_int_eq(sigeo__context_team(f, 0.0), 2);
    ck_assert_int_eq(sigeo__context_team(f, 1e9), 2);
    sigeo_context_t *one = make_ctx(1, SIGEO_THREADS_FIXED, 0);
    ck_assert_int_eq(sigeo__context_team(one, 1e12), 1);
    /* The default threshold is filled in and reported. */
    sigeo_context_t *d = make_ctx(3, SIGEO_THREADS_AUTO, 0);
    sigeo_context_options_t got = SIGEO_CONTEXT_OPTIONS_INIT;
    OK(sigeo_context_get_options(&got, d));
    ck_assert_uint_eq(got.parallel_min_flops, SIGEO_PARALLEL_MIN_FLOPS_DEFAULT);
    ck_assert_uint_eq(got.thread_policy, SIGEO_THREADS_AUTO);
    ck_assert_int_eq(sigeo__context_team(d, (double)SIGEO_PARALLEL_MIN_FLOPS_DEFAULT - 1.0), 1);
    ck_assert_int_eq(sigeo__context_team(d, (double)SIGEO_PARALLEL_MIN_FLOPS_DEFAULT), 3);
    /* No context: AUTO with the default threshold (at least one thread). */
    ck_assert_int_eq(sigeo__context_team(NULL, 1.0), 1);
    ck_assert_int_ge(sigeo__context_team(NULL, 1e12), 1);
    sigeo_context_destroy(a);
    sigeo_context_destroy(f);
    sigeo_context_destroy(one);
    sigeo_context_destroy(d);
}
END_TEST

START_TEST(bad_policy_options_are_refused)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    sigeo_context_t *ctx = (sigeo_context_t *)&o;
    o.thread_policy = 7;
    ck_assert_int_eq(sigeo_context_create(&ctx, &o), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_null(ctx);
    ck_assert_ptr_nonnull(strstr(sigeo_last_error(), "thread_policy 7"));
    o.thread_policy = SIGEO_THREADS_FIXED;
    o.reserved0 = 1;
    ck_assert_int_eq(sigeo_context_create(&ctx, &o), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(sigeo_last_error(), "reserved0"));
    /* Options of 1.0 (no policy fields) are read as AUTO, default threshold. */
    struct { uint32_t struct_size, threads; uint64_t seed; } old = { 16u, 2u, 9u };
    OK(sigeo_context_create(&ctx, (const sigeo_context_options_t *)(const void *)&old));
    sigeo_context_options_t got = SIGEO_CONTEXT_OPTIONS_INIT;
    OK(sigeo_context_get_options(&got, ctx));
    ck_assert_uint_eq(got.thread_policy, SIGEO_THREADS_AUTO);
    ck_assert_uint_eq(got.parallel_min_flops, SIGEO_PARALLEL_MIN_FLOPS_DEFAULT);
    ck_assert_uint_eq(got.threads, 2);
    sigeo_context_destroy(ctx);
}
END_TEST

/* MLP in -> hidden (ReLU) -> 10, softmax CE; one batch of `rows` fixed rows.
 * Returns the loss, the gradients in `grad` (all parameters, in order). */
static double run_mlp(sigeo_context_t *ctx, int64_t in, int64_t hidden, int64_t rows, float *grad, int64_t *n_grad)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "mlp"));
    int32_t x = flat_input(m, "x", in);
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_LINEAR, "fc0", &x);
    d.units = hidden;
    int32_t h0 = add(m, &d);
    sigeo_layer_desc_t act = desc(SIGEO_LAYER_ACTIVATION, "relu", &h0);
    act.activation = SIGEO_ACT_RELU;
    int32_t h = add(m, &act);
    int32_t y = linear_on(m, "fc1", h, 10, -1);
    OK(sigeo_model_set_loss(m, y, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    float *dense = malloc((size_t)(rows * in) * sizeof(float));
    int32_t *labels = malloc((size_t)rows * sizeof(int32_t));
    ck_assert(dense && labels);
    for (int64_t i = 0; i < rows * in; i++)
        dense[i] = (float)sin(0.37 * (double)i) * 0.5f;
    for (int64_t r = 0; r < rows; r++)
        labels[r] = (int32_t)(r % 10);
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = rows;
    b.dense = dense;
    b.n_dense = in;
    b.labels = labels;
    double loss;
    OK(sigeo_model_forward_backward(&loss, m, &b));
    int32_t np;
    OK(sigeo_model_param_count(&np, m));
    int64_t at = 0;
    for (int32_t p = 0; p < np; p++) {
        sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
        OK(sigeo_model_param_info(&info, m, p));
        OK(sigeo_model_get_grad(m, p, grad + at, info.numel));
        at += info.numel;
    }
    *n_grad = at;
    free(dense);
    free(labels);
    sigeo_model_destroy(m);
    return loss;
}

#define SMALL_IN 64
#define SMALL_H 96
#define SMALL_ROWS 32
#define BIG_IN 256
#define BIG_H 1024
#define BIG_ROWS 256
#define BIG_GRADS (BIG_IN * BIG_H + BIG_H + BIG_H * 10 + 10)

static float grad_a[BIG_GRADS], grad_b[BIG_GRADS];

static double policy_run(uint32_t threads, uint32_t policy, uint64_t min_flops, bool big, float *grad, int64_t *n)
{
    sigeo_context_t *ctx = make_ctx(threads, policy, min_flops);
    double loss = big ? run_mlp(ctx, BIG_IN, BIG_H, BIG_ROWS, grad, n) : run_mlp(ctx, SMALL_IN, SMALL_H, SMALL_ROWS, grad, n);
    sigeo_context_destroy(ctx);
    return loss;
}

/* The loss and every gradient of two runs (threads, policy, threshold
 * each) are the same bits. */
static void same_bits(uint32_t ta, uint32_t pa, uint64_t ma, uint32_t tb, uint32_t pb, uint64_t mb, bool big)
{
    int64_t na, nb;
    double la = policy_run(ta, pa, ma, big, grad_a, &na);
    double lb = policy_run(tb, pb, mb, big, grad_b, &nb);
    ck_assert_int_eq(na, nb);
    ck_assert(memcmp(&la, &lb, sizeof la) == 0);
    ck_assert(memcmp(grad_a, grad_b, (size_t)na * sizeof(float)) == 0);
}

/* Every call of the small model is below the default threshold (the
 * largest is 2 * 32 * 96 * 64 = 0.4 MFLOP): AUTO on 2 threads runs exactly
 * the one-thread computation, so the results are bit for bit those of
 * threads = 1. */
START_TEST(auto_below_threshold_is_bit_identical_to_one_thread)
{
    same_bits(2, SIGEO_THREADS_AUTO, 0, 1, SIGEO_THREADS_FIXED, 0, false);
}
END_TEST

/* With a threshold of 1 FLOP every call of AUTO parallelises: the same
 * teams as FIXED, so bit for bit the same results. */
START_TEST(auto_above_threshold_is_bit_identical_to_fixed)
{
    same_bits(2, SIGEO_THREADS_AUTO, 1, 2, SIGEO_THREADS_FIXED, 0, true);
}
END_TEST

/* Between 1 and 2 threads oneDNN may split a reduction differently, so
 * only float tolerance holds: each gradient within 1e-5 of the largest
 * gradient magnitude (a K = 256 float dot product reordered moves by a few
 * ulps of its largest partial sum), the loss within 1e-6 relative. */
START_TEST(one_and_two_threads_agree_within_float_tolerance)
{
    int64_t na, nb;
    double la = policy_run(2, SIGEO_THREADS_AUTO, 0, true, grad_a, &na);
    double lb = policy_run(1, SIGEO_THREADS_FIXED, 0, true, grad_b, &nb);
    ck_assert_int_eq(na, nb);
    ck_assert_double_le(fabs(la - lb), 1e-6 * fabs(lb));
    double gmax = 0.0;
    for (int64_t i = 0; i < nb; i++)
        gmax = fmax(gmax, fabs((double)grad_b[i]));
    ck_assert_double_gt(gmax, 0.0);
    for (int64_t i = 0; i < na; i++)
        ck_assert_msg(fabs((double)grad_a[i] - (double)grad_b[i]) <= 1e-5 * gmax, "gradient %lld: %g vs %g",
                      (long long)i, (double)grad_a[i], (double)grad_b[i]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("thread_policy");
    TCase *tc = tcase_create("policy");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, team_follows_policy_and_threshold);
    tcase_add_test(tc, bad_policy_options_are_refused);
    tcase_add_test(tc, auto_below_threshold_is_bit_identical_to_one_thread);
    tcase_add_test(tc, auto_above_threshold_is_bit_identical_to_fixed);
    tcase_add_test(tc, one_and_two_threads_agree_within_float_tolerance);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
