/* Pins the error contract of lib/stats/stats.c (stats.h, sigeo.h): every
 * failure returns its documented class with a message naming what and
 * where, in the thread's and the handle's message alike, and leaves the
 * accumulator exactly as it was: a handle that saw bad calls finishes with
 * the same bits as one that never did. */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "guard_alloc.h"
#include "sigeo/stats.h"
#include "test_util.h"

#define N_MOD 2
#define K 4
#define BS 3
static const char *const names[N_MOD] = { "fc1.weight", "fc1.bias" };
static const int64_t counts[N_MOD] = { 6, 2 };

typedef struct data {
    float w[K][6], b[K][2];
    double d[K][BS];
    double loss[K];
    float tw[6], tb[2];
} data_t;
static data_t dat;

static void make_data(void)
{
    tu_rng_t r = { 99 };
    for (int i = 0; i < K; i++) {
        for (int j = 0; j < 6; j++)
            dat.w[i][j] = tu_uniform_f(&r);
        for (int j = 0; j < 2; j++)
            dat.b[i][j] = tu_uniform_f(&r);
        for (int n = 0; n < BS; n++)
            dat.d[i][n] = tu_uniform01(&r) - 0.5;
        dat.loss[i] = tu_uniform01(&r);
    }
    for (int j = 0; j < 6; j++)
        dat.tw[j] = tu_uniform_f(&r);
    for (int j = 0; j < 2; j++)
        dat.tb[j] = tu_uniform_f(&r);
}

static sigeo_stats_t *new_handle(void)
{
    sigeo_stats_options_t o = SIGEO_STATS_OPTIONS_INIT;
    o.lambda_preset = SIGEO_PRESET_RECSYS;
    return tu_stats_new(&o, N_MOD, names, counts);
}

static void add_valid(sigeo_stats_t *s, int i)
{
    const float *gp[N_MOD] = { dat.w[i], dat.b[i] };
    ck_assert_msg(tu_add(s, N_MOD, gp, counts, dat.loss[i], BS, dat.d[i]) == SIGEO_OK, "%s", sigeo_last_error());
}

/* Checks status, a non-empty thread message containing `needle` (if any),
 * and, for a handle, the same text in the handle's own message. */
#define EXPECT_FAIL(call, want, handle, needle)                                                               \
    do {                                                                                                      \
        const sigeo_status_t st_ = (call);                                                                    \
        ck_assert_msg(st_ == (want), "%s returned %d, want %d (%s)", #call, (int)st_, (int)(want),          \
                      sigeo_last_error());                                                                    \
        ck_assert_msg(strlen(sigeo_last_error()) > 0, "%s failed without a message", #call);                \
        const char *needle_ = (needle);                                                                       \
        if (needle_)                                                                                          \
            ck_assert_str_contains(sigeo_last_error(), needle_);                                              \
        const sigeo_stats_t *h_ = (handle);                                                                   \
        if (h_)                                                                                               \
            ck_assert_str_eq(sigeo_stats_last_error(h_), sigeo_last_error());                                 \
    } while (0)

/* ------------------------------------------------------------- compute */

START_TEST(compute_needs_at_least_two_batches)
{
    sigeo_stats_t *s = new_handle();
    sigeo_stats_result_t r = SIGEO_STATS_RESULT_INIT;
    EXPECT_FAIL(sigeo_stats_compute(&r, s), SIGEO_ERR_INVALID_ARG, s, "no batch");
    add_valid(s, 0);
    EXPECT_FAIL(sigeo_stats_compute(&r, s), SIGEO_ERR_INVALID_ARG, s, "1 batch");
    add_valid(s, 1);
    ck_assert_int_eq(sigeo_stats_compute(&r, s), SIGEO_OK);
    sigeo_stats_destroy(s);
}
END_TEST

START_TEST(exact_fr_with_lambda2_needs_directional_data_in_every_batch)
{
    const int32_t est[2] = { SIGEO_FR_EXACT, SIGEO_FR_IDENTITY };
    for (int e = 0; e < 2; e++) {
        sigeo_stats_options_t o = tu_options(SIGEO_ZICO_MODULE_WISE, est[e], SIGEO_LOSS_MEAN, 0, 1, 1, 0);
        sigeo_stats_t *s = tu_stats_new(&o, N_MOD, names, counts);
        const float *g0[N_MOD] = { dat.w[0], dat.b[0] }, *g1[N_MOD] = { dat.w[1], dat.b[1] };
        ck_assert_int_eq(tu_add(s, N_MOD, g0, counts, 0.0, BS, NULL), SIGEO_OK);
        ck_assert_int_eq(tu_add(s, N_MOD, g1, counts, 0.0, BS, NULL), SIGEO_OK);
        sigeo_stats_result_t r = SIGEO_STATS_RESULT_INIT;
        EXPECT_FAIL(sigeo_stats_compute(&r, s), SIGEO_ERR_INVALID_ARG, s, "directional");
        add_valid(s, 2); /* with d_n: still one of three batches lacks it */
        EXPECT_FAIL(sigeo_stats_compute(&r, s), SIGEO_ERR_INVALID_ARG, s, "directional");
        sigeo_stats_destroy(s);
    }
}
END_TEST

START_TEST(reference_fr_with_lambda2_needs_the_params_of_every_module)
{
    const int32_t est[2] = { SIGEO_FR_REFERENCE_RECSYS, SIGEO_FR_REFERENCE_CV };
    for (int e = 0; e < 2; e++) {
        sigeo_stats_options_t o = tu_options(SIGEO_ZICO_MODULE_WISE, est[e], SIGEO_LOSS_MEAN, 0, 1, 1, 0);
        sigeo_stats_t *s = tu_stats_new(&o, N_MOD, names, counts);
        add_valid(s, 0);
        add_valid(s, 1);
        sigeo_stats_result_t r = SIGEO_STATS_RESULT_INIT;
        EXPECT_FAIL(sigeo_stats_compute(&r, s), SIGEO_ERR_INVALID_ARG, s, "fc1.weight");
        ck_assert_int_eq(sigeo_stats_set_params(s, 0, dat.tw, 6), SIGEO_OK);
        EXPECT_FAIL(sigeo_stats_compute(&r, s), SIGEO_ERR_INVALID_ARG, s, "fc1.bias");
        ck_assert_int_eq(sigeo_stats_set_params(s, 1, dat.tb, 2), SIGEO_OK);
        ck_assert_int_eq(sigeo_stats_compute(&r, s), SIGEO_OK);
        ck_assert_uint_eq(r.flags & SIGEO_STATS_HAS_FR, SIGEO_STATS_HAS_FR);
        sigeo_stats_destroy(s);
    }
}
END_TEST

/* ------------------------------------------------------------ add_batch */

START_TEST(gradient_count_mismatch_is_a_shape_error_naming_the_module)
{
    sigeo_stats_t *s = new_handle();
    const float *gp[N_MOD] = { dat.w[0], dat.b[0] };
    const int64_t bad_bias[N_MOD] = { 6, 1 }, bad_weight[N_MOD] = { 7, 2 };
    EXPECT_FAIL(tu_add(s, N_MOD, gp, bad_bias, 0.0, BS, NULL), SIGEO_ERR_SHAPE, s, "fc1.bias");
    EXPECT_FAIL(tu_add(s, N_MOD, gp, bad_weight, 0.0, BS, NULL), SIGEO_ERR_SHAPE, s, "fc1.weight");
    add_valid(s, 0);
    EXPECT_FAIL(tu_add(s, N_MOD, gp, bad_bias, 0.0, BS, NULL), SIGEO_ERR_SHAPE, s, "fc1.bias");
    sigeo_stats_destroy(s);
}
END_TEST

START_TEST(module_count_mismatch_is_a_shape_error)
{
    sigeo_stats_t *s = new_handle();
    const float *gp[3] = { dat.w[0], dat.b[0], dat.b[0] };
    const int64_t c3[3] = { 6, 2, 2 };
    EXPECT_FAIL(tu_add(s, 1, gp, counts, 0.0, BS, NULL), SIGEO_ERR_SHAPE, s, NULL);
    EXPECT_FAIL(tu_add(s, 3, gp, c3, 0.0, BS, NULL), SIGEO_ERR_SHAPE, s, NULL);
    EXPECT_FAIL(tu_add(s, 0, gp, c3, 0.0, BS, NULL), SIGEO_ERR_SHAPE, s, NULL);
    sigeo_stats_destroy(s);
}
END_TEST

START_TEST(nonfinite_gradient_names_module_element_and_batch)
{
    const float bad_values[3] = { NAN, INFINITY, -INFINITY };
    for (int v = 0; v < 3; v++) {
        sigeo_stats_t *s = new_handle();
        add_valid(s, 0);
        add_valid(s, 1);
        float w[6], b[2];
        memcpy(w, dat.w[2], sizeof w);
        memcpy(b, dat.b[2], sizeof b);
        w[4] = bad_values[v];
        const float *gp[N_MOD] = { w, b };
        EXPECT_FAIL(tu_add(s, N_MOD, gp, counts, 0.0, BS, NULL), SIGEO_ERR_NONFINITE, s, "fc1.weight");
        ck_assert_str_contains(sigeo_last_error(), "element 4");
        ck_assert_str_contains(sigeo_last_error(), "batch 2");
        w[4] = 0.0f;
        b[1] = bad_values[v];
        EXPECT_FAIL(tu_add(s, N_MOD, gp, counts, 0.0, BS, NULL), SIGEO_ERR_NONFINITE, s, "fc1.bias");
        ck_assert_str_contains(sigeo_last_error(), "element 1");
        ck_assert_str_contains(sigeo_last_error(), "batch 2");
        sigeo_stats_destroy(s);
    }
}
END_TEST

START_TEST(nonfinite_loss_is_rejected)
{
    const double bad[3] = { NAN, INFINITY, -INFINITY };
    sigeo_stats_t *s = new_handle();
    const float *gp[N_MOD] = { dat.w[0], dat.b[0] };
    for (int v = 0; v < 3; v++)
        EXPECT_FAIL(tu_add(s, N_MOD, gp, counts, bad[v], BS, dat.d[0]), SIGEO_ERR_NONFINITE, s, "loss");
    sigeo_stats_destroy(s);
}
END_TEST

START_TEST(nonfinite_directional_derivative_is_rejected)
{
    const double bad[3] = { NAN, INFINITY, -INFINITY };
    sigeo_stats_t *s = new_handle();
    add_valid(s, 0);
    const float *gp[N_MOD] = { dat.w[1], dat.b[1] };
    for (int v = 0; v < 3; v++) {
        double d[BS] = { 0.5, -0.5, 0.25 };
        d[BS - 1] = bad[v];
        EXPECT_FAIL(tu_add(s, N_MOD, gp, counts, 0.0, BS, d), SIGEO_ERR_NONFINITE, s, "batch 1");
        ck_assert_str_contains(sigeo_last_error(), "2"); /* the sample's index */
    }
    sigeo_stats_destroy(s);
}
END_TEST

START_TEST(bad_batch_sizes_and_empty_handles_are_invalid)
{
    sigeo_stats_t *s = new_handle();
    const float *gp[N_MOD] = { dat.w[0], dat.b[0] };
    EXPECT_FAIL(tu_add(s, N_MOD, gp, counts, 0.0, 0, NULL), SIGEO_ERR_INVALID_ARG, s, "batch_size");
    EXPECT_FAIL(tu_add(s, N_MOD, gp, counts, 0.0, -3, NULL), SIGEO_ERR_INVALID_ARG, s, "batch_size");
    sigeo_stats_destroy(s);

    sigeo_stats_t *empty = NULL;
    ck_assert_int_eq(sigeo_stats_create(&empty, NULL, NULL), SIGEO_OK);
    EXPECT_FAIL(tu_add(empty, 0, gp, counts, 0.0, 1, NULL), SIGEO_ERR_INVALID_ARG, empty, "no modules");
    sigeo_stats_destroy(empty);
}
END_TEST

START_TEST(batch_struct_size_protocol)
{
    sigeo_stats_t *s = new_handle();
    const float *gp[N_MOD] = { dat.w[0], dat.b[0] };
    sigeo_stats_batch_t b = tu_batch(N_MOD, gp, counts, 0.0, BS, NULL);
    b.struct_size = 4;
    EXPECT_FAIL(sigeo_stats_add_batch(s, &b), SIGEO_ERR_INVALID_ARG, s, "struct_size");
    struct {
        sigeo_stats_batch_t known;
        uint64_t future;
    } newer;
    memset(&newer, 0, sizeof newer);
    newer.known = tu_batch(N_MOD, gp, counts, 0.0, BS, NULL);
    newer.known.struct_size = (uint32_t)sizeof newer;
    newer.future = 1;
    EXPECT_FAIL(sigeo_stats_add_batch(s, &newer.known), SIGEO_ERR_UNSUPPORTED, s, NULL);
    newer.future = 0;
    ck_assert_int_eq(sigeo_stats_add_batch(s, &newer.known), SIGEO_OK);

    /* A batch struct from a version before `directional`: whatever follows
     * it in the caller's memory is not read, so no d_n are taken. */
    sigeo_stats_batch_t older = tu_batch(N_MOD, gp, counts, 0.0, BS, (const double *)(uintptr_t)0x8);
    older.struct_size = (uint32_t)offsetof(sigeo_stats_batch_t, directional);
    ck_assert_int_eq(sigeo_stats_add_batch(s, &older), SIGEO_OK);
    sigeo_stats_result_t r = SIGEO_STATS_RESULT_INIT;
    EXPECT_FAIL(sigeo_stats_compute(&r, s), SIGEO_ERR_INVALID_ARG, s, "directional"); /* recsys preset, lambda2 = 1 */
    sigeo_stats_destroy(s);
}
END_TEST

/* ----------------------------------------------------------- set_params */

START_TEST(set_params_errors)
{
    sigeo_stats_t *s = new_handle();
    EXPECT_FAIL(sigeo_stats_set_params(s, -1, dat.tw, 6), SIGEO_ERR_INVALID_ARG, s, "-1");
    EXPECT_FAIL(sigeo_stats_set_params(s, 2, dat.tw, 6), SIGEO_ERR_INVALID_ARG, s, "2");
    EXPECT_FAIL(sigeo_stats_set_params(s, 0, NULL, 6), SIGEO_ERR_INVALID_ARG, s, "fc1.weight");
    EXPECT_FAIL(sigeo_stats_set_params(s, 1, dat.tb, 3), SIGEO_ERR_SHAPE, s, "fc1.bias");
    EXPECT_FAIL(sigeo_stats_set_params(s, 0, dat.tw, 2), SIGEO_ERR_SHAPE, s, "fc1.weight");
    float t[6];
    memcpy(t, dat.tw, sizeof t);
    t[5] = NAN;
    EXPECT_FAIL(sigeo_stats_set_params(s, 0, t, 6), SIGEO_ERR_NONFINITE, s, "fc1.weight");
    ck_assert_str_contains(sigeo_last_error(), "5");
    t[5] = 0.0f;
    t[0] = -INFINITY;
    EXPECT_FAIL(sigeo_stats_set_params(s, 0, t, 6), SIGEO_ERR_NONFINITE, s, "fc1.weight");
    sigeo_stats_destroy(s);
}
END_TEST

/* ----------------------------------------------------------- add_module */

START_TEST(add_module_errors)
{
    sigeo_stats_t *s = new_handle();
    int32_t idx = 77;
    EXPECT_FAIL(sigeo_stats_add_module(&idx, s, NULL, 4), SIGEO_ERR_INVALID_ARG, s, NULL);
    EXPECT_FAIL(sigeo_stats_add_module(&idx, s, "", 4), SIGEO_ERR_INVALID_ARG, s, NULL);
    EXPECT_FAIL(sigeo_stats_add_module(&idx, s, "x", 0), SIGEO_ERR_INVALID_ARG, s, "x");
    EXPECT_FAIL(sigeo_stats_add_module(&idx, s, "x", -5), SIGEO_ERR_INVALID_ARG, s, "x");
    EXPECT_FAIL(sigeo_stats_add_module(&idx, s, "fc1.bias", 2), SIGEO_ERR_INVALID_ARG, s, "fc1.bias");
    ck_assert_int_eq(idx, 77); /* untouched on failure */
    int32_t n = 0;
    ck_assert_int_eq(sigeo_stats_module_count(&n, s), SIGEO_OK);
    ck_assert_int_eq(n, N_MOD);

    add_valid(s, 0);
    EXPECT_FAIL(sigeo_stats_add_module(&idx, s, "late", 3), SIGEO_ERR_INVALID_ARG, s, "late");
    ck_assert_int_eq(sigeo_stats_module_count(&n, s), SIGEO_OK);
    ck_assert_int_eq(n, N_MOD);
    sigeo_stats_destroy(s);
}
END_TEST

START_TEST(module_names_are_copied)
{
    char name[16] = "layer.0";
    sigeo_stats_t *s = NULL;
    ck_assert_int_eq(sigeo_stats_create(&s, NULL, NULL), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_add_module(NULL, s, name, 1), SIGEO_OK);
    name[6] = '1'; /* the caller reuses its buffer */
    ck_assert_int_eq(sigeo_stats_add_module(NULL, s, name, 1), SIGEO_OK);
    const float a[1] = { 1 }, b[1] = { 2 }, c[1] = { 3 };
    const float *g0[2] = { a, b }, *g1[2] = { c, a };
    const int64_t cn[2] = { 1, 1 };
    static const double d[1] = { 1 };
    ck_assert_int_eq(tu_add(s, 2, g0, cn, 0.0, 1, d), SIGEO_OK);
    ck_assert_int_eq(tu_add(s, 2, g1, cn, 0.0, 1, d), SIGEO_OK);
    (void)tu_compute(s);
    ck_assert_str_eq(tu_info(s, 0).name, "layer.0");
    ck_assert_str_eq(tu_info(s, 1).name, "layer.1");
    sigeo_stats_destroy(s);
}
END_TEST

/* -------------------------------------------------------------- create */

START_TEST(create_rejects_bad_options)
{
    sigeo_stats_options_t o;
    sigeo_stats_t *s;
#define BAD_OPTION(field, value, status)                                                    \
    do {                                                                                    \
        o = (sigeo_stats_options_t)SIGEO_STATS_OPTIONS_INIT;                                \
        o.field = value;                                                                    \
        s = (sigeo_stats_t *)(uintptr_t)0x40;                                               \
        EXPECT_FAIL(sigeo_stats_create(&s, NULL, &o), status, NULL, NULL);                  \
        ck_assert_ptr_null(s);                                                              \
    } while (0)
    BAD_OPTION(zico_variant, 3, SIGEO_ERR_INVALID_ARG);
    BAD_OPTION(zico_variant, -1, SIGEO_ERR_INVALID_ARG);
    BAD_OPTION(fr_estimator, 4, SIGEO_ERR_INVALID_ARG);
    BAD_OPTION(fr_estimator, -1, SIGEO_ERR_INVALID_ARG);
    BAD_OPTION(loss_term, 2, SIGEO_ERR_INVALID_ARG);
    BAD_OPTION(std_ddof, 2, SIGEO_ERR_INVALID_ARG);
    BAD_OPTION(lambda_preset, 4, SIGEO_ERR_INVALID_ARG);
    BAD_OPTION(lambda_preset, -1, SIGEO_ERR_INVALID_ARG);
    BAD_OPTION(struct_size, 4, SIGEO_ERR_INVALID_ARG);
#undef BAD_OPTION
    const double bad_lambda[3] = { NAN, INFINITY, -INFINITY };
    for (int i = 0; i < 3; i++)
        for (int l = 0; l < 3; l++) {
            o = tu_options(SIGEO_ZICO_MODULE_WISE, SIGEO_FR_EXACT, SIGEO_LOSS_MEAN, 0, 1, 1, 1);
            (l == 0 ? &o.lambda1 : l == 1 ? &o.lambda2 : &o.lambda3)[0] = bad_lambda[i];
            s = (sigeo_stats_t *)(uintptr_t)0x40;
            EXPECT_FAIL(sigeo_stats_create(&s, NULL, &o), SIGEO_ERR_INVALID_ARG, NULL, "lambda");
            ck_assert_ptr_null(s);
        }
    /* A preset ignores the lambda fields, junk included. */
    o = (sigeo_stats_options_t)SIGEO_STATS_OPTIONS_INIT;
    o.lambda2 = NAN;
    ck_assert_int_eq(sigeo_stats_create(&s, NULL, &o), SIGEO_OK);
    sigeo_stats_destroy(s);

    EXPECT_FAIL(sigeo_stats_create(NULL, NULL, NULL), SIGEO_ERR_INVALID_ARG, NULL, "out");

    struct {
        sigeo_stats_options_t known;
        double future;
    } newer;
    memset(&newer, 0, sizeof newer);
    newer.known = (sigeo_stats_options_t)SIGEO_STATS_OPTIONS_INIT;
    newer.known.struct_size = (uint32_t)sizeof newer;
    newer.future = 1.0;
    s = (sigeo_stats_t *)(uintptr_t)0x40;
    EXPECT_FAIL(sigeo_stats_create(&s, NULL, &newer.known), SIGEO_ERR_UNSUPPORTED, NULL, NULL);
    ck_assert_ptr_null(s);
    newer.future = 0.0;
    ck_assert_int_eq(sigeo_stats_create(&s, NULL, &newer.known), SIGEO_OK);
    sigeo_stats_destroy(s);

    /* A context is accepted (the accumulator needs no engine). */
    sigeo_context_t *ctx = NULL;
    ck_assert_int_eq(sigeo_context_create(&ctx, NULL), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_create(&s, ctx, NULL), SIGEO_OK);
    sigeo_stats_destroy(s);
    sigeo_context_destroy(ctx);
}
END_TEST

/* ------------------------------------------------------- NULL pointers */

START_TEST(null_pointers_everywhere)
{
    sigeo_stats_t *s = new_handle();
    const float *gp[N_MOD] = { dat.w[0], dat.b[0] };
    const float *gnull[N_MOD] = { dat.w[0], NULL };
    sigeo_stats_result_t r = SIGEO_STATS_RESULT_INIT;
    sigeo_stats_module_info_t info = SIGEO_STATS_MODULE_INFO_INIT;
    int32_t n;

    EXPECT_FAIL(sigeo_stats_add_module(NULL, NULL, "x", 1), SIGEO_ERR_INVALID_ARG, NULL, NULL);
    EXPECT_FAIL(sigeo_stats_add_batch(NULL, NULL), SIGEO_ERR_INVALID_ARG, NULL, NULL);
    sigeo_stats_batch_t b = tu_batch(N_MOD, gp, counts, 0.0, BS, NULL);
    EXPECT_FAIL(sigeo_stats_add_batch(NULL, &b), SIGEO_ERR_INVALID_ARG, NULL, NULL);
    EXPECT_FAIL(sigeo_stats_add_batch(s, NULL), SIGEO_ERR_INVALID_ARG, s, "batch");
    EXPECT_FAIL(tu_add(s, N_MOD, NULL, counts, 0.0, BS, NULL), SIGEO_ERR_INVALID_ARG, s, "gradients");
    EXPECT_FAIL(tu_add(s, N_MOD, gp, NULL, 0.0, BS, NULL), SIGEO_ERR_INVALID_ARG, s, "gradient_counts");
    EXPECT_FAIL(tu_add(s, N_MOD, gnull, counts, 0.0, BS, NULL), SIGEO_ERR_INVALID_ARG, s, "fc1.bias");
    EXPECT_FAIL(sigeo_stats_set_params(NULL, 0, dat.tw, 6), SIGEO_ERR_INVALID_ARG, NULL, NULL);
    EXPECT_FAIL(sigeo_stats_compute(NULL, s), SIGEO_ERR_INVALID_ARG, s, "out");
    EXPECT_FAIL(sigeo_stats_compute(&r, NULL), SIGEO_ERR_INVALID_ARG, NULL, NULL);
    EXPECT_FAIL(sigeo_stats_get_module_info(NULL, s, 0), SIGEO_ERR_INVALID_ARG, NULL, NULL);
    EXPECT_FAIL(sigeo_stats_get_module_info(&info, NULL, 0), SIGEO_ERR_INVALID_ARG, NULL, NULL);
    EXPECT_FAIL(sigeo_stats_module_count(NULL, s), SIGEO_ERR_INVALID_ARG, NULL, NULL);
    EXPECT_FAIL(sigeo_stats_module_count(&n, NULL), SIGEO_ERR_INVALID_ARG, NULL, NULL);
    EXPECT_FAIL(sigeo_stats_reset(NULL), SIGEO_ERR_INVALID_ARG, NULL, NULL);
    EXPECT_FAIL(sigeo_stats_preset_lambdas(NULL, SIGEO_PRESET_RECSYS), SIGEO_ERR_INVALID_ARG, NULL, NULL);
    ck_assert_ptr_nonnull(sigeo_stats_last_error(NULL));
    ck_assert_str_eq(sigeo_stats_last_error(NULL), "");
    sigeo_stats_destroy(NULL);

    /* None of it disturbed the handle. */
    for (int i = 0; i < K; i++)
        add_valid(s, i);
    ck_assert_int_eq(sigeo_stats_set_params(s, 0, dat.tw, 6), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_set_params(s, 1, dat.tb, 2), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_compute(&r, s), SIGEO_OK);
    sigeo_stats_destroy(s);
}
END_TEST

/* ------------------------------------- failures leave the accumulator alone */

/* Every kind of rejected call, each one as close as possible to having been
 * half applied: the poisoned value sits in the LAST module / element /
 * sample, so a library that accumulated while validating would have changed
 * the earlier ones already. */
static void throw_bad_calls(sigeo_stats_t *s, int i, bool too_few_batches)
{
    float w[6], b[2], t[6];
    double d[BS];
    memcpy(w, dat.w[i], sizeof w);
    memcpy(b, dat.b[i], sizeof b);
    memcpy(d, dat.d[i], sizeof d);
    const float *gp[N_MOD] = { w, b };
    const float *gnull[N_MOD] = { w, NULL };
    const int64_t bad_counts[N_MOD] = { 6, 3 };

    b[1] = NAN;
    ck_assert_int_eq(tu_add(s, N_MOD, gp, counts, dat.loss[i], BS, d), SIGEO_ERR_NONFINITE);
    b[1] = INFINITY;
    ck_assert_int_eq(tu_add(s, N_MOD, gp, counts, dat.loss[i], BS, d), SIGEO_ERR_NONFINITE);
    b[1] = dat.b[i][1];
    d[BS - 1] = NAN;
    ck_assert_int_eq(tu_add(s, N_MOD, gp, counts, dat.loss[i], BS, d), SIGEO_ERR_NONFINITE);
    d[BS - 1] = dat.d[i][BS - 1];
    ck_assert_int_eq(tu_add(s, N_MOD, gp, counts, NAN, BS, d), SIGEO_ERR_NONFINITE);
    ck_assert_int_eq(tu_add(s, N_MOD, gp, bad_counts, dat.loss[i], BS, d), SIGEO_ERR_SHAPE);
    ck_assert_int_eq(tu_add(s, 1, gp, counts, dat.loss[i], BS, d), SIGEO_ERR_SHAPE);
    ck_assert_int_eq(tu_add(s, N_MOD, gnull, counts, dat.loss[i], BS, d), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(tu_add(s, N_MOD, gp, counts, dat.loss[i], 0, d), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_stats_add_batch(s, NULL), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_stats_add_module(NULL, s, "fc1.weight", 6), SIGEO_ERR_INVALID_ARG);
    memcpy(t, dat.tw, sizeof t);
    t[5] = NAN;
    ck_assert_int_eq(sigeo_stats_set_params(s, 0, t, 6), SIGEO_ERR_NONFINITE);
    ck_assert_int_eq(sigeo_stats_set_params(s, 0, t, 5), SIGEO_ERR_SHAPE);
    ck_assert_int_eq(sigeo_stats_set_params(s, 2, t, 6), SIGEO_ERR_INVALID_ARG);
    if (too_few_batches) {
        sigeo_stats_result_t r = SIGEO_STATS_RESULT_INIT;
        ck_assert_int_eq(sigeo_stats_compute(&r, s), SIGEO_ERR_INVALID_ARG);
    }
}

START_TEST(failed_calls_leave_the_accumulator_exactly_as_it_was)
{
    sigeo_stats_t *clean = new_handle(), *dirty = new_handle();
    for (int i = 0; i < K; i++) {
        throw_bad_calls(dirty, i, i < 2); /* i = 0: before the accumulators even exist */
        add_valid(dirty, i);
        add_valid(clean, i);
        if (i == 1) { /* params set early, then a bad set_params tries to overwrite them */
            ck_assert_int_eq(sigeo_stats_set_params(dirty, 0, dat.tw, 6), SIGEO_OK);
            ck_assert_int_eq(sigeo_stats_set_params(clean, 0, dat.tw, 6), SIGEO_OK);
        }
    }
    throw_bad_calls(dirty, 0, false);
    ck_assert_int_eq(sigeo_stats_set_params(dirty, 1, dat.tb, 2), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_set_params(clean, 1, dat.tb, 2), SIGEO_OK);
    const sigeo_stats_result_t rc = tu_compute(clean), rd = tu_compute(dirty);
    ck_assert_msg(memcmp(&rc, &rd, sizeof rc) == 0, "score %.17g after bad calls, %.17g without", rd.score,
                  rc.score);
    ck_assert_uint_eq(rd.n_batches, K);
    ck_assert_uint_eq(rd.n_samples, K * BS);
    ck_assert_uint_eq(rd.flags & SIGEO_STATS_HAS_THETA_DOT, SIGEO_STATS_HAS_THETA_DOT);
    for (int32_t m = 0; m < N_MOD; m++) {
        sigeo_stats_module_info_t a = tu_info(clean, m), b = tu_info(dirty, m);
        ck_assert_str_eq(a.name, b.name);
        a.name = b.name = NULL;
        ck_assert_msg(memcmp(&a, &b, sizeof a) == 0, "module %d differs", (int)m);
    }
    sigeo_stats_destroy(clean);
    sigeo_stats_destroy(dirty);
}
END_TEST

START_TEST(failed_compute_keeps_the_module_info_of_the_last_success)
{
    /* module_info reports "as of the last successful sigeo_stats_compute";
     * a compute that fails must not replace it (sigeo.h: a failed call
     * leaves its handle unchanged). */
    sigeo_stats_t *s = new_handle();
    add_valid(s, 0);
    add_valid(s, 1);
    const sigeo_stats_result_t r2 = tu_compute(s);
    const sigeo_stats_module_info_t before = tu_info(s, 0);
    add_valid(s, 2);
    add_valid(s, 3);
    sigeo_stats_result_t tiny = SIGEO_STATS_RESULT_INIT;
    tiny.struct_size = 4;
    EXPECT_FAIL(sigeo_stats_compute(&tiny, s), SIGEO_ERR_INVALID_ARG, s, "struct_size");
    const sigeo_stats_module_info_t after = tu_info(s, 0);
    /* exposes bug: sigeo_stats_compute updates every module's ZiCo block and
     * `computed` flag before sigeo__struct_out rejects the output struct, so
     * after this failed call module_info describes 4 batches, not 2. */
    ck_assert_double_bits_eq(after.ratio_sum, before.ratio_sum);
    ck_assert_int_eq(after.n_nonzero_sigma, before.n_nonzero_sigma);
    (void)r2;
    sigeo_stats_destroy(s);

    /* Same on a handle that never computed successfully: still no info. */
    s = new_handle();
    add_valid(s, 0);
    add_valid(s, 1);
    EXPECT_FAIL(sigeo_stats_compute(&tiny, s), SIGEO_ERR_INVALID_ARG, s, NULL);
    sigeo_stats_module_info_t i = SIGEO_STATS_MODULE_INFO_INIT;
    ck_assert_int_eq(sigeo_stats_get_module_info(&i, s, 0), SIGEO_ERR_INVALID_ARG);
    sigeo_stats_destroy(s);
}
END_TEST

START_TEST(getter_failures_reach_the_handle_message)
{
    /* sigeo.h: for calls on a handle the message is "also in that handle's
     * own last-error text". */
    sigeo_stats_t *s = new_handle();
    sigeo_stats_module_info_t info = SIGEO_STATS_MODULE_INFO_INIT;
    ck_assert_int_eq(sigeo_stats_get_module_info(&info, s, 5), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "5");
    /* exposes bug: sigeo_stats_get_module_info (and sigeo_stats_module_count)
     * take a const handle and report with sigeo__fail, never copying the
     * message into the handle's buffer; its last error stays "". */
    ck_assert_str_eq(sigeo_stats_last_error(s), sigeo_last_error());
    ck_assert_int_eq(sigeo_stats_get_module_info(&info, s, 0), SIGEO_ERR_INVALID_ARG); /* no compute yet */
    ck_assert_str_eq(sigeo_stats_last_error(s), sigeo_last_error());
    sigeo_stats_destroy(s);
}
END_TEST

START_TEST(set_params_before_the_last_module_is_registered_is_safe)
{
    /* set_params is allowed before any batch, and so is add_module: the
     * library must either refuse the late module or size theta for it.
     * A guard allocator with canaries catches a write past the theta block. */
    ck_assert_int_eq(sigeo_set_allocator(NULL), SIGEO_OK);
    guard_reset();
    sigeo_allocator_t a = guard_allocator();
    ck_assert_int_eq(sigeo_set_allocator(&a), SIGEO_OK);

    sigeo_stats_options_t o = tu_options(SIGEO_ZICO_MODULE_WISE, SIGEO_FR_REFERENCE_RECSYS, SIGEO_LOSS_MEAN, 0, 0, 1, 0);
    sigeo_stats_t *s = NULL;
    ck_assert_int_eq(sigeo_stats_create(&s, NULL, &o), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_add_module(NULL, s, "first", 4), SIGEO_OK);
    const float t1[4] = { 1, 2, 3, 4 }, t2[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    ck_assert_int_eq(sigeo_stats_set_params(s, 0, t1, 4), SIGEO_OK);
    const sigeo_status_t st = sigeo_stats_add_module(NULL, s, "second", 16);
    if (st == SIGEO_OK) {
        ck_assert_int_eq(sigeo_stats_set_params(s, 1, t2, 16), SIGEO_OK);
        /* g: first = {1,0,0,0} then {0,...}; second = all 1 then all 2.
         * theta . sum_i g_i = 1*1 + 16*3 = 49. */
        float g1a[4] = { 1, 0, 0, 0 }, g1b[4] = { 0, 0, 0, 0 }, g2a[16], g2b[16];
        for (int j = 0; j < 16; j++) {
            g2a[j] = 1;
            g2b[j] = 2;
        }
        const float *ga[2] = { g1a, g2a }, *gb[2] = { g1b, g2b };
        const int64_t c[2] = { 4, 16 };
        ck_assert_int_eq(tu_add(s, 2, ga, c, 0.0, 1, NULL), SIGEO_OK);
        ck_assert_int_eq(tu_add(s, 2, gb, c, 0.0, 1, NULL), SIGEO_OK);
        sigeo_stats_result_t r = tu_compute(s);
        ck_assert_near(r.fr, 49.0, 1e-6, 0.0);
    } else {
        ck_assert_int_eq(st, SIGEO_ERR_INVALID_ARG);
    }
    sigeo_stats_destroy(s);
    /* exposes bug: theta is allocated for the parameter count at the first
     * set_params; add_module may still grow the count, and the next
     * set_params/compute write and read past the theta block. */
    ck_assert_uint_eq(guard_stats().corruptions, 0);
    ck_assert_uint_eq(guard_stats().live, 0);
    ck_assert_int_eq(sigeo_set_allocator(NULL), SIGEO_OK);
}
END_TEST

static Suite *errors_suite(void)
{
    Suite *s = suite_create("stats_errors");
    TCase *tc = tcase_create("errors");
    tcase_add_unchecked_fixture(tc, make_data, NULL);
    tcase_add_test(tc, compute_needs_at_least_two_batches);
    tcase_add_test(tc, exact_fr_with_lambda2_needs_directional_data_in_every_batch);
    tcase_add_test(tc, reference_fr_with_lambda2_needs_the_params_of_every_module);
    tcase_add_test(tc, gradient_count_mismatch_is_a_shape_error_naming_the_module);
    tcase_add_test(tc, module_count_mismatch_is_a_shape_error);
    tcase_add_test(tc, nonfinite_gradient_names_module_element_and_batch);
    tcase_add_test(tc, nonfinite_loss_is_rejected);
    tcase_add_test(tc, nonfinite_directional_derivative_is_rejected);
    tcase_add_test(tc, bad_batch_sizes_and_empty_handles_are_invalid);
    tcase_add_test(tc, batch_struct_size_protocol);
    tcase_add_test(tc, set_params_errors);
    tcase_add_test(tc, add_module_errors);
    tcase_add_test(tc, module_names_are_copied);
    tcase_add_test(tc, create_rejects_bad_options);
    tcase_add_test(tc, null_pointers_everywhere);
    tcase_add_test(tc, failed_calls_leave_the_accumulator_exactly_as_it_was);
    tcase_add_test(tc, failed_compute_keeps_the_module_info_of_the_last_success);
    tcase_add_test(tc, getter_failures_reach_the_handle_message);
    tcase_add_test(tc, set_params_before_the_last_module_is_registered_is_safe);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(errors_suite());
}
