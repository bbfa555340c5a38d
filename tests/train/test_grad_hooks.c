/* The SIGEO_1.1 hooks a data-parallel host uses, without MPI: gradients
 * written by the host (dense and row-sparse) drive the optimiser exactly;
 * sharded steps with a hook that sums the parts equal whole-batch steps up
 * to float rounding; a one-part hook that writes the gradient back
 * unchanged is bit-identical to no hook; a failing part reaches the hook. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigeo/data.h"
#include "sigeo/model.h"
#include "sigeo/train.h"

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

enum { ROWS = 10, DIM = 3, N = 64, BATCH = 16, STEPS = 4, PARTS = 4 };

/* sparse field -> embedding bag (10 x 3) -> linear 1 (+ a dense input
 * through its own linear, summed) -> MSE. */
static sigeo_model_t *emb_model(uint64_t seed, sigeo_context_t **ctx)
{
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.seed = seed;
    OK(sigeo_context_create(ctx, &co));
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, *ctx, "emb"));
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
    d.units = DIM;
    d.rows = ROWS;
    OK(sigeo_model_add_layer(&e, m, &d));
    d = (sigeo_layer_desc_t)SIGEO_LAYER_DESC_INIT;
    d.name = "fc";
    d.inputs = &e;
    d.n_inputs = 1;
    d.units = 1;
    OK(sigeo_model_add_layer(&y, m, &d));
    OK(sigeo_model_set_loss(m, y, SIGEO_LOSS_MSE));
    OK(sigeo_model_finalize(m));
    return m;
}

/* N rows, one or two ids per bag, from a fixed LCG; targets from the ids. */
static int64_t ids[2 * N], offs[N + 1];
static float targets[N];
static sigeo_dataset_t *make_data(void)
{
    uint64_t z = 12345;
    int64_t k = 0;
    for (int r = 0; r < N; r++) {
        offs[r] = k;
        int bag = 1 + (int)((z >> 33) % 2);
        for (int j = 0; j < bag; j++) {
            z = z * 6364136223846793005ull + 1442695040888963407ull;
            ids[k++] = (int64_t)((z >> 33) % ROWS);
        }
        targets[r] = (float)(ids[offs[r]] % 3) - 1.0f;
        z = z * 6364136223846793005ull + 1442695040888963407ull;
    }
    offs[N] = k;
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = N;
    b.n_sparse_fields = 1;
    b.sparse_ids = ids;
    b.sparse_offsets = offs;
    b.targets = targets;
    b.n_targets = 1;
    sigeo_dataset_t *ds;
    OK(sigeo_dataset_create(&ds, &b));
    return ds;
}

START_TEST(grad_rows_and_host_gradients_drive_the_optimiser)
{
    sigeo_context_t *ctx;
    sigeo_model_t *m = emb_model(3, &ctx);
    int64_t bid[5] = { 2, 7, 2, 4, 4 }, boff[4] = { 0, 2, 3, 5 };
    float tg[3] = { 1.0f, -1.0f, 0.5f };
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = 3;
    b.n_sparse_fields = 1;
    b.sparse_ids = bid;
    b.sparse_offsets = boff;
    b.targets = tg;
    b.n_targets = 1;
    OK(sigeo_model_forward_backward(NULL, m, &b));
    /* the distinct ids of the batch, ascending: 2, 4, 7 */
    int64_t count = 0;
    OK(sigeo_model_grad_rows(NULL, NULL, &count, m, 0));
    ck_assert_int_eq(count, 3);
    int64_t rows[3];
    float vals[9], full[ROWS * DIM];
    OK(sigeo_model_grad_rows(rows, vals, &count, m, 0));
    ck_assert(rows[0] == 2 && rows[1] == 4 && rows[2] == 7);
    OK(sigeo_model_get_grad(m, 0, full, ROWS * DIM));
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < DIM; j++)
            ck_assert(vals[i * DIM + j] == full[rows[i] * DIM + j]);
    int64_t small = 2;
    ck_assert_int_eq(sigeo_model_grad_rows(rows, NULL, &small, m, 0), SIGEO_ERR_INVALID_ARG); /* capacity 2 < 3 */
    /* the host's rows replace the backward's: rows 1 and 4 only */
    const int64_t mine[2] = { 1, 4 };
    const float v[2 * DIM] = { 0.5f, -1.0f, 2.0f, 0.25f, 0.125f, -4.0f };
    const float gw[DIM] = { 1.0f, -2.0f, 3.0f }, gb[1] = { 0.5f };
    OK(sigeo_model_set_grad_rows(m, 0, mine, 2, v));
    OK(sigeo_model_set_grad(m, 1, gw, DIM));
    OK(sigeo_model_set_grad(m, 2, gb, 1));
    OK(sigeo_model_grad_rows(rows, NULL, &count, m, 0));
    ck_assert(count == 2 && rows[0] == 1 && rows[1] == 4);
    float t0[ROWS * DIM], w0[DIM], b0[1], t1[ROWS * DIM], w1[DIM], b1[1];
    OK(sigeo_model_get_param(m, 0, t0, ROWS * DIM));
    OK(sigeo_model_get_param(m, 1, w0, DIM));
    OK(sigeo_model_get_param(m, 2, b0, 1));
    sigeo_optimizer_options_t oo = SIGEO_OPTIMIZER_OPTIONS_INIT; /* plain SGD */
    oo.lr = 0.5;
    sigeo_optimizer_t *opt;
    OK(sigeo_optimizer_create(&opt, m, &oo));
    OK(sigeo_optimizer_step(opt, 0.5));
    OK(sigeo_model_get_param(m, 0, t1, ROWS * DIM));
    OK(sigeo_model_get_param(m, 1, w1, DIM));
    OK(sigeo_model_get_param(m, 2, b1, 1));
    for (int r = 0; r < ROWS; r++)
        for (int j = 0; j < DIM; j++) {
            const int i = r * DIM + j, k = r == 1 ? 0 : r == 4 ? 1 : -1;
            const float want = k < 0 ? t0[i] : (float)(t0[i] - 0.5 * v[k * DIM + j]);
            ck_assert_msg(t1[i] == want, "row %d col %d: %g, want %g", r, j, (double)t1[i], (double)want);
        }
    for (int j = 0; j < DIM; j++)
        ck_assert(w1[j] == (float)(w0[j] - 0.5 * gw[j]));
    ck_assert(b1[0] == (float)(b0[0] - 0.5 * gb[0]));
    /* misuse is refused, naming why */
    ck_assert_int_eq(sigeo_model_set_grad(m, 0, full, ROWS * DIM), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(sigeo_last_error(), "row-sparse"));
    ck_assert_int_eq(sigeo_model_set_grad_rows(m, 1, mine, 2, v), SIGEO_ERR_INVALID_ARG);
    const int64_t unsorted[2] = { 4, 1 }, outside[1] = { ROWS };
    ck_assert_int_eq(sigeo_model_set_grad_rows(m, 0, unsorted, 2, v), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_model_set_grad_rows(m, 0, outside, 1, v), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_model_set_grad(m, 1, gw, DIM - 1), SIGEO_ERR_SHAPE);
    ck_assert_int_eq(sigeo_model_set_grad(m, 99, gw, DIM), SIGEO_ERR_INVALID_ARG);
    sigeo_optimizer_destroy(opt);
    sigeo_model_destroy(m);
    sigeo_context_destroy(ctx);
}
END_TEST

/* A host that sums the parts of a step, weighted by their rows: dense
 * parameters in a buffer, the table as a dense buffer plus the union of
 * the touched rows. Also the elementwise sum of |weighted terms|, for the
 * rounding bound. */
typedef struct summer {
    float table[ROWS * DIM], abs_table[ROWS * DIM], w[DIM], abs_w[DIM], b, abs_b;
    int touched[ROWS];
    double loss;
    int calls, failures, failed_part;
    int64_t failed_step;
    double max_abs; /* over all steps: the largest |weighted sum| */
} summer_t;

static sigeo_status_t summing_hook(sigeo_grad_step_t *g, sigeo_model_t *m, void *user)
{
    summer_t *s = user;
    s->calls++;
    if (g->status != SIGEO_OK) {
        s->failures++;
        s->failed_part = g->part;
        s->failed_step = g->step;
        return SIGEO_OK;
    }
    if (g->part == 0) {
        memset(s->table, 0, sizeof s->table);
        memset(s->abs_table, 0, sizeof s->abs_table);
        memset(s->touched, 0, sizeof s->touched);
        memset(s->w, 0, sizeof s->w);
        memset(s->abs_w, 0, sizeof s->abs_w);
        s->b = s->abs_b = 0.0f;
        s->loss = 0.0;
    }
    const float wt = (float)((double)g->rows / (double)g->batch_rows);
    float t[ROWS * DIM], w[DIM], b;
    int64_t rows[ROWS], count = ROWS;
    OK(sigeo_model_get_grad(m, 0, t, ROWS * DIM));
    OK(sigeo_model_get_grad(m, 1, w, DIM));
    OK(sigeo_model_get_grad(m, 2, &b, 1));
    OK(sigeo_model_grad_rows(rows, NULL, &count, m, 0));
    for (int64_t i = 0; i < count; i++)
        s->touched[rows[i]] = 1;
    for (int i = 0; i < ROWS * DIM; i++) {
        s->table[i] += wt * t[i];
        s->abs_table[i] += fabsf(wt * t[i]);
    }
    for (int i = 0; i < DIM; i++) {
        s->w[i] += wt * w[i];
        s->abs_w[i] += fabsf(wt * w[i]);
    }
    s->b += wt * b;
    s->abs_b += fabsf(wt * b);
    s->loss += (double)wt * g->loss;
    if (!g->last)
        return SIGEO_OK;
    int64_t u_rows[ROWS], n = 0;
    float u_vals[ROWS * DIM];
    for (int r = 0; r < ROWS; r++)
        if (s->touched[r]) {
            u_rows[n] = r;
            memcpy(u_vals + n * DIM, s->table + r * DIM, DIM * sizeof(float));
            n++;
        }
    for (int i = 0; i < ROWS * DIM; i++)
        s->max_abs = fmax(s->max_abs, s->abs_table[i]);
    for (int i = 0; i < DIM; i++)
        s->max_abs = fmax(s->max_abs, s->abs_w[i]);
    s->max_abs = fmax(s->max_abs, s->abs_b);
    OK(sigeo_model_set_grad_rows(m, 0, u_rows, n, u_vals));
    OK(sigeo_model_set_grad(m, 1, s->w, DIM));
    OK(sigeo_model_set_grad(m, 2, &s->b, 1));
    g->loss = s->loss;
    return SIGEO_OK;
}

/* Trains a fresh model (seed 3) for STEPS batches of BATCH rows with plain
 * SGD at lr; returns its parameters in out[ROWS*DIM + DIM + 1]. */
static void train(float *out, sigeo_dataset_t *ds, const sigeo_train_options_t *extra, double lr, double *loss)
{
    sigeo_context_t *ctx;
    sigeo_model_t *m = emb_model(3, &ctx);
    sigeo_optimizer_options_t oo = SIGEO_OPTIMIZER_OPTIONS_INIT;
    oo.lr = lr; /* plain SGD: see the rounding bound below */
    sigeo_optimizer_t *opt;
    OK(sigeo_optimizer_create(&opt, m, &oo));
    sigeo_train_options_t to = *extra;
    to.batch_size = BATCH;
    to.max_samples = STEPS * BATCH;
    sigeo_train_result_t r = SIGEO_TRAIN_RESULT_INIT;
    OK(sigeo_train(&r, m, opt, ds, NULL, NULL, &to, NULL, NULL));
    ck_assert_int_eq(r.steps, STEPS);
    ck_assert_int_eq(r.samples, STEPS * BATCH);
    *loss = r.final_loss;
    OK(sigeo_model_get_param(m, 0, out, ROWS * DIM));
    OK(sigeo_model_get_param(m, 1, out + ROWS * DIM, DIM));
    OK(sigeo_model_get_param(m, 2, out + ROWS * DIM + DIM, 1));
    sigeo_optimizer_destroy(opt);
    sigeo_model_destroy(m);
    sigeo_context_destroy(ctx);
}

static sigeo_status_t write_back_hook(sigeo_grad_step_t *g, sigeo_model_t *m, void *user)
{
    (void)user;
    float w[DIM], b;
    OK(sigeo_model_get_grad(m, 1, w, DIM));
    OK(sigeo_model_get_grad(m, 2, &b, 1));
    int64_t n = 0;
    OK(sigeo_model_grad_rows(NULL, NULL, &n, m, 0));
    int64_t rows[ROWS];
    float vals[ROWS * DIM];
    OK(sigeo_model_grad_rows(rows, vals, &n, m, 0));
    OK(sigeo_model_set_grad_rows(m, 0, rows, n, vals));
    OK(sigeo_model_set_grad(m, 1, w, DIM));
    OK(sigeo_model_set_grad(m, 2, &b, 1));
    ck_assert(g->part == 0 && g->last == 1 && g->rows == BATCH && g->batch_rows == BATCH);
    return SIGEO_OK;
}

START_TEST(sharded_steps_equal_whole_batches_up_to_rounding)
{
    sigeo_dataset_t *ds = make_data();
    enum { P = ROWS * DIM + DIM + 1 };
    float ref[P], same[P], sharded[P];
    double l_ref, l_same, l_sharded;
    sigeo_train_options_t plain = SIGEO_TRAIN_OPTIONS_INIT;
    train(ref, ds, &plain, 0.05, &l_ref);
    /* one part, the gradient written back unchanged: the same bits */
    sigeo_train_options_t one = SIGEO_TRAIN_OPTIONS_INIT;
    one.grad_hook = write_back_hook;
    train(same, ds, &one, 0.05, &l_same);
    ck_assert(memcmp(ref, same, sizeof ref) == 0);
    ck_assert(l_ref == l_same);
    /* four parts summed by the host */
    summer_t s;
    memset(&s, 0, sizeof s);
    sigeo_train_options_t four = SIGEO_TRAIN_OPTIONS_INIT;
    four.shard_count = PARTS;
    four.shard_first = 0;
    four.shard_n = PARTS;
    four.grad_hook = summing_hook;
    four.grad_user = &s;
    train(sharded, ds, &four, 0.05, &l_sharded);
    ck_assert_int_eq(s.calls, STEPS * PARTS);
    /* Rounding bound (plain SGD, so the weights are linear in the
     * gradients): an element of a step's gradient is a float sum of the
     * same per-row terms, grouped differently (by the backward over 16 rows,
     * or over 4 parts then by the host), so the two sums differ by at most
     * 2 BATCH u S, u = 2^-24, S = the sum of the terms' magnitudes, which is
     * at most s.max_abs (the largest sum of |weighted part gradients|,
     * recorded by the hook). Over STEPS steps at lr the weights then differ
     * by STEPS lr 2 BATCH u S, plus one rounding of each update (STEPS u
     * |theta|); the feedback of those differences through the next
     * gradients is second order at lr 0.05, covered by a factor 2. */
    const double u = 0x1p-24;
    double max_theta = 0.0;
    for (int i = 0; i < P; i++)
        max_theta = fmax(max_theta, fabs(ref[i]));
    const double tol = 2.0 * (STEPS * 0.05 * 2.0 * BATCH * u * s.max_abs + STEPS * u * max_theta);
    for (int i = 0; i < P; i++)
        ck_assert_msg(fabs((double)sharded[i] - ref[i]) <= tol, "parameter element %d: sharded %.9g, whole %.9g (tol %g)",
                      i, (double)sharded[i], (double)ref[i], tol);
    ck_assert_msg(fabs(l_sharded - l_ref) <= 1e-5 * fmax(1.0, fabs(l_ref)), "loss %g vs %g", l_sharded, l_ref);
    /* every table row either trained or untouched in both */
    for (int r = 0; r < ROWS; r++) {
        sigeo_context_t *c0;
        sigeo_model_t *m0 = emb_model(3, &c0);
        float init[ROWS * DIM];
        OK(sigeo_model_get_param(m0, 0, init, ROWS * DIM));
        ck_assert((memcmp(init + r * DIM, ref + r * DIM, DIM * 4) == 0) ==
                  (memcmp(init + r * DIM, sharded + r * DIM, DIM * 4) == 0));
        sigeo_model_destroy(m0);
        sigeo_context_destroy(c0);
    }
    sigeo_dataset_destroy(ds);
}
END_TEST

static sigeo_status_t refusing_hook(sigeo_grad_step_t *g, sigeo_model_t *m, void *user)
{
    (void)m;
    int *calls = user;
    ++*calls;
    return g->step == 1 ? sigeo_set_last_error(SIGEO_ERR_IO, "peer 3 is gone") : SIGEO_OK;
}

START_TEST(hook_failures_and_bad_shards_stop_training_with_a_message)
{
    sigeo_dataset_t *ds = make_data();
    sigeo_context_t *ctx;
    sigeo_model_t *m = emb_model(3, &ctx);
    sigeo_optimizer_options_t oo = SIGEO_OPTIMIZER_OPTIONS_INIT;
    sigeo_optimizer_t *opt;
    OK(sigeo_optimizer_create(&opt, m, &oo));
    sigeo_train_options_t to = SIGEO_TRAIN_OPTIONS_INIT;
    to.batch_size = BATCH;
    to.max_samples = STEPS * BATCH;
    int calls = 0;
    to.grad_hook = refusing_hook;
    to.grad_user = &calls;
    ck_assert_int_eq(sigeo_train(NULL, m, opt, ds, NULL, NULL, &to, NULL, NULL), SIGEO_ERR_IO);
    ck_assert_ptr_nonnull(strstr(sigeo_last_error(), "peer 3 is gone"));
    ck_assert_ptr_nonnull(strstr(sigeo_last_error(), "step 1"));
    ck_assert_int_eq(calls, 2);
    /* several parts need a hook; parts must fit the batch */
    sigeo_train_options_t bad = SIGEO_TRAIN_OPTIONS_INIT;
    bad.batch_size = BATCH;
    bad.shard_count = 4;
    bad.shard_n = 2;
    ck_assert_int_eq(sigeo_train(NULL, m, opt, ds, NULL, NULL, &bad, NULL, NULL), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(sigeo_last_error(), "grad_hook"));
    bad.grad_hook = refusing_hook;
    bad.grad_user = &calls;
    bad.shard_first = 3;
    ck_assert_int_eq(sigeo_train(NULL, m, opt, ds, NULL, NULL, &bad, NULL, NULL), SIGEO_ERR_INVALID_ARG);
    bad.shard_first = 0;
    bad.shard_count = BATCH + 1;
    ck_assert_int_eq(sigeo_train(NULL, m, opt, ds, NULL, NULL, &bad, NULL, NULL), SIGEO_ERR_INVALID_ARG);
    sigeo_optimizer_destroy(opt);
    sigeo_model_destroy(m);
    sigeo_context_destroy(ctx);
    sigeo_dataset_destroy(ds);
}
END_TEST

/* A part whose loss is not finite (a finite target so large that the step
 * it is in, or the next, overflows): the hook hears of it, training stops
 * there, naming the step and the part. */
START_TEST(a_failing_part_reaches_the_hook)
{
    const int64_t bad_row = BATCH + 3 * BATCH / PARTS; /* step 1, part 3 */
    const float saved = targets[bad_row];
    sigeo_dataset_t *good = make_data(); /* fills targets */
    targets[bad_row] = 3e38f;
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = N;
    b.n_sparse_fields = 1;
    b.sparse_ids = ids;
    b.sparse_offsets = offs;
    b.targets = targets;
    b.n_targets = 1;
    sigeo_dataset_t *ds;
    OK(sigeo_dataset_create(&ds, &b));
    targets[bad_row] = saved;
    sigeo_context_t *ctx;
    sigeo_model_t *m = emb_model(3, &ctx);
    sigeo_optimizer_options_t oo = SIGEO_OPTIMIZER_OPTIONS_INIT;
    sigeo_optimizer_t *opt;
    OK(sigeo_optimizer_create(&opt, m, &oo));
    summer_t s;
    memset(&s, 0, sizeof s);
    sigeo_train_options_t to = SIGEO_TRAIN_OPTIONS_INIT;
    to.batch_size = BATCH;
    to.max_samples = STEPS * BATCH;
    to.shard_count = PARTS;
    to.shard_n = PARTS;
    to.grad_hook = summing_hook;
    to.grad_user = &s;
    sigeo_status_t st = sigeo_train(NULL, m, opt, ds, NULL, NULL, &to, NULL, NULL);
    ck_assert_msg(st == SIGEO_ERR_NONFINITE, "%s: %s", sigeo_status_string(st), sigeo_last_error());
    ck_assert_int_eq(s.failures, 1);
    ck_assert(s.failed_step >= 1 && s.failed_step < STEPS);
    ck_assert_int_eq(s.calls, (int)s.failed_step * PARTS + s.failed_part + 1); /* nothing after the failure */
    char want[64];
    snprintf(want, sizeof want, "step %lld (part %d)", (long long)s.failed_step, s.failed_part);
    ck_assert_msg(strstr(sigeo_last_error(), want) != NULL, "%s", sigeo_last_error());
    sigeo_optimizer_destroy(opt);
    sigeo_model_destroy(m);
    sigeo_context_destroy(ctx);
    sigeo_dataset_destroy(ds);
    sigeo_dataset_destroy(good);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("grad_hooks");
    TCase *tc = tcase_create("hooks");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, grad_rows_and_host_gradients_drive_the_optimiser);
    tcase_add_test(tc, sharded_steps_equal_whole_batches_up_to_rounding);
    tcase_add_test(tc, hook_failures_and_bad_shards_stop_training_with_a_message);
    tcase_add_test(tc, a_failing_part_reaches_the_hook);
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
