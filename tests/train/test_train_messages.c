/* What sigeo_train says when it fails, and what it does to the caller's
 * dataset (train.h):
 *
 *  - divergence_names_the_step_once: a loss that overflows at step 0 stops
 *    training with SIGEO_ERR_NONFINITE and the message "sigeo_train:
 *    training stopped at step 0: <the forward's own message>", the prefix
 *    exactly once (the message was once formatted into the buffer it was
 *    read from, which repeated it);
 *  - every_failure_is_the_models_message: failures raised by the dataset,
 *    the schedule or a callback end up in sigeo_model_last_error, not the
 *    model's previous, unrelated message;
 *  - shuffled_training_leaves_the_last_epochs_order: with shuffle_seed S
 *    over three epochs the dataset's order afterwards is that of
 *    sigeo_dataset_shuffle(S + 2), as documented, and shuffle_seed 0 leaves
 *    a dataset's order alone. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sigeo/data.h"
#include "sigeo/model.h"
#include "sigeo/sigeo.h"
#include "sigeo/train.h"

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

enum { N = 12, F = 3, C = 2 };

static sigeo_context_t *ctx;
static float dense[N * F];
static int32_t labels[N];

static void setup(void)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.seed = 8;
    o.threads = 1;
    OK(sigeo_context_create(&ctx, &o));
    uint64_t x = 5;
    for (int i = 0; i < N * F; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        dense[i] = (float)((int)(x >> 40 & 0xffff) - 32768) / 16384.0f;
    }
    for (int n = 0; n < N; n++)
        labels[n] = n % C;
}

static void teardown(void)
{
    sigeo_context_destroy(ctx);
    ctx = NULL;
}

static sigeo_model_t *linear(void)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "lin"));
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.kind = SIGEO_INPUT_DENSE;
    in.name = "x";
    in.features = F;
    int32_t x, y;
    OK(sigeo_model_add_input(&x, m, &in));
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = SIGEO_LAYER_LINEAR;
    d.name = "fc";
    d.inputs = &x;
    d.n_inputs = 1;
    d.units = C;
    OK(sigeo_model_add_layer(&y, m, &d));
    OK(sigeo_model_set_loss(m, y, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    return m;
}

static sigeo_dataset_t *dataset(const float *values)
{
    sigeo_batch_t rows = SIGEO_BATCH_INIT;
    rows.batch_size = N;
    rows.dense = values;
    rows.n_dense = F;
    rows.labels = labels;
    sigeo_dataset_t *ds;
    OK(sigeo_dataset_create(&ds, &rows));
    return ds;
}

static int occurrences(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what))
        n++;
    return n;
}

START_TEST(divergence_names_the_step_once)
{
    sigeo_model_t *m = linear();
    float w[C * F];
    for (int i = 0; i < C * F; i++)
        w[i] = 1e30f;
    OK(sigeo_model_set_param(m, 0, w, C * F));
    static float huge[N * F];
    for (int i = 0; i < N * F; i++)
        huge[i] = 3e30f;
    sigeo_dataset_t *ds = dataset(huge);
    /* the forward's own message for this batch, to compare with */
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    OK(sigeo_dataset_batch(&b, ds, 0, 4, SIGEO_BATCH_KEEP_LAST));
    ck_assert_int_eq(sigeo_model_forward_backward(NULL, m, &b), SIGEO_ERR_NONFINITE);
    char inner[512];
    snprintf(inner, sizeof inner, "%s", sigeo_last_error());
    ck_assert(inner[0] != '\0');

    sigeo_optimizer_t *opt;
    sigeo_optimizer_options_t oo = SIGEO_OPTIMIZER_OPTIONS_INIT;
    OK(sigeo_optimizer_create(&opt, m, &oo));
    sigeo_train_options_t to = SIGEO_TRAIN_OPTIONS_INIT;
    to.batch_size = 4;
    to.epochs = 1;
    ck_assert_int_eq(sigeo_train(NULL, m, opt, ds, NULL, NULL, &to, NULL, NULL), SIGEO_ERR_NONFINITE);
    char want[1024];
    snprintf(want, sizeof want, "sigeo_train: training stopped at step 0: %s", inner);
    ck_assert_str_eq(sigeo_last_error(), want);
    ck_assert_str_eq(sigeo_model_last_error(m), want);
    ck_assert_int_eq(occurrences(sigeo_last_error(), "training stopped"), 1);
    sigeo_optimizer_destroy(opt);
    sigeo_dataset_destroy(ds);
    sigeo_model_destroy(m);
}
END_TEST

static int cancel_now(const sigeo_train_progress_t *p, void *user)
{
    (void)p;
    (void)user;
    return 1;
}

START_TEST(every_failure_is_the_models_message)
{
    sigeo_model_t *m = linear();
    sigeo_dataset_t *ds = dataset(dense);
    sigeo_optimizer_t *opt;
    sigeo_optimizer_options_t oo = SIGEO_OPTIMIZER_OPTIONS_INIT;
    OK(sigeo_optimizer_create(&opt, m, &oo));
    sigeo_train_options_t to = SIGEO_TRAIN_OPTIONS_INIT;
    to.batch_size = 4;
    to.epochs = 1;

    /* An earlier, unrelated failure on the model. */
    ck_assert_int_eq(sigeo_model_forward(NULL, m, NULL), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(sigeo_model_last_error(m), "batch is NULL"));

    /* The schedule fails inside the loop (sigeo_lr_at). */
    sigeo_lr_schedule_t bad = SIGEO_LR_SCHEDULE_INIT;
    bad.kind = 99;
    ck_assert_int_eq(sigeo_train(NULL, m, opt, ds, NULL, &bad, &to, NULL, NULL), SIGEO_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sigeo_model_last_error(m), "unknown schedule kind 99") != NULL, "model's message: %s",
                  sigeo_model_last_error(m));
    ck_assert_str_eq(sigeo_model_last_error(m), sigeo_last_error());

    /* A validation set the model cannot read (two features instead of
     * three) fails in sigeo_evaluate, after training. */
    ck_assert_int_eq(sigeo_model_forward(NULL, m, NULL), SIGEO_ERR_INVALID_ARG);
    sigeo_batch_t rows = SIGEO_BATCH_INIT;
    rows.batch_size = N;
    rows.dense = dense;
    rows.n_dense = F - 1;
    rows.labels = labels;
    sigeo_dataset_t *narrow;
    OK(sigeo_dataset_create(&narrow, &rows));
    ck_assert_int_eq(sigeo_train(NULL, m, opt, ds, narrow, NULL, &to, NULL, NULL), SIGEO_ERR_SHAPE);
    ck_assert_str_eq(sigeo_model_last_error(m), sigeo_last_error());
    ck_assert_ptr_null(strstr(sigeo_model_last_error(m), "batch is NULL"));

    /* Cancelled by the progress callback. */
    to.report_every = 1;
    ck_assert_int_eq(sigeo_train(NULL, m, opt, ds, NULL, NULL, &to, cancel_now, NULL), SIGEO_ERR_CANCELLED);
    ck_assert_ptr_nonnull(strstr(sigeo_model_last_error(m), "cancelled"));
    sigeo_dataset_destroy(narrow);
    sigeo_optimizer_destroy(opt);
    sigeo_dataset_destroy(ds);
    sigeo_model_destroy(m);
}
END_TEST

static void order_of(int64_t *buf, const sigeo_dataset_t *ds)
{
    size_t count = N;
    OK(sigeo_dataset_order(buf, &count, ds));
    ck_assert_uint_eq(count, N);
}

START_TEST(shuffled_training_leaves_the_last_epochs_order)
{
    sigeo_model_t *m = linear();
    sigeo_dataset_t *ds = dataset(dense), *ref = dataset(dense);
    sigeo_optimizer_t *opt;
    sigeo_optimizer_options_t oo = SIGEO_OPTIMIZER_OPTIONS_INIT;
    OK(sigeo_optimizer_create(&opt, m, &oo));
    sigeo_train_options_t to = SIGEO_TRAIN_OPTIONS_INIT;
    to.batch_size = 4;
    to.epochs = 3;
    to.shuffle_seed = 77;
    OK(sigeo_train(NULL, m, opt, ds, NULL, NULL, &to, NULL, NULL));
    int64_t got[N], want[N], storage[N];
    order_of(got, ds);
    OK(sigeo_dataset_shuffle(ref, 77 + 2));
    order_of(want, ref);
    ck_assert_mem_eq(got, want, sizeof got);
    for (int i = 0; i < N; i++)
        storage[i] = i;
    ck_assert_mem_ne(got, storage, sizeof got); /* it did move */
    /* shuffle_seed 0 only reads the dataset */
    OK(sigeo_dataset_unshuffle(ds));
    to.shuffle_seed = 0;
    OK(sigeo_train(NULL, m, opt, ds, NULL, NULL, &to, NULL, NULL));
    order_of(got, ds);
    ck_assert_mem_eq(got, storage, sizeof got);
    sigeo_optimizer_destroy(opt);
    sigeo_dataset_destroy(ds);
    sigeo_dataset_destroy(ref);
    sigeo_model_destroy(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("train_messages");
    TCase *tc = tcase_create("train_messages");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, divergence_names_the_step_once);
    tcase_add_test(tc, every_failure_is_the_models_message);
    tcase_add_test(tc, shuffled_training_leaves_the_last_epochs_order);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
