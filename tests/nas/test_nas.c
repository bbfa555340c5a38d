/* The NAS pipeline (nas.h) through the public API on a toy supernet, with
 * values re-derived here: the selected architecture is the retrained
 * candidate with the lowest validation loss, the candidates are the search's
 * best distinct evaluations, recorded proxy scores equal sigeo_proxy_compute
 * on the first k training batches of the warmed-up supernet, the one-shot
 * score equals minus the subnet's validation loss computed batch by batch
 * here (after a head-only Adagrad fine-tune replayed here), cancellation in
 * every phase returns SIGEO_ERR_CANCELLED and frees everything, bad options
 * name the field; batch sets own their copies; nasrec-full at its real size
 * (7 blocks, 140 choice points) trains and searches. */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigeo/io.h"
#include "sigeo/nas.h"
#include "sigeo/stats.h"
#include "test_util.h"

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

enum { FEATURES = 3, CLASSES = 2, POINTS = 3 };

static sigeo_context_t *ctx;
static sigeo_dataset_t *train, *valid, *test;

/* x -> relu(fc0) -> relu(fc1) -> fc2 -> head -> softmax CE; fc0..fc2 elastic
 * (widths 1..4, the choice points), so the head's active input varies. */
static sigeo_model_t *toy(sigeo_context_t *c)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, c, "toy"));
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "x";
    in.features = FEATURES;
    int32_t h;
    OK(sigeo_model_add_input(&h, m, &in));
    for (int i = 0; i < POINTS; i++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", i);
        int32_t ch;
        OK(sigeo_model_add_choice(&ch, m, name, 4, (const int64_t[]){ 1, 2, 3, 4 }));
        snprintf(name, sizeof name, "fc%d", i);
        sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
        d.name = name;
        d.inputs = &h;
        d.n_inputs = 1;
        d.units = 4;
        d.width_choice = ch;
        OK(sigeo_model_add_layer(&h, m, &d));
        snprintf(name, sizeof name, "act%d", i);
        sigeo_layer_desc_t a = SIGEO_LAYER_DESC_INIT;
        a.kind = SIGEO_LAYER_ACTIVATION;
        a.name = name;
        a.inputs = &h;
        a.n_inputs = 1;
        a.activation = SIGEO_ACT_TANH;
        OK(sigeo_model_add_layer(&h, m, &a));
    }
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.name = "head";
    d.inputs = &h;
    d.n_inputs = 1;
    d.units = CLASSES;
    OK(sigeo_model_add_layer(&h, m, &d));
    OK(sigeo_model_set_loss(m, h, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    return m;
}

/* Rows with label 1 when a fixed linear form of x is positive (plus noise). */
static sigeo_dataset_t *make_data(int64_t rows, uint64_t seed)
{
    tu_rng_t r = { seed };
    float *x = malloc((size_t)rows * FEATURES * sizeof *x);
    int32_t *y = malloc((size_t)rows * sizeof *y);
    ck_assert(x && y);
    for (int64_t i = 0; i < rows; i++) {
        for (int f = 0; f < FEATURES; f++)
            x[i * FEATURES + f] = tu_uniform_f(&r);
        y[i] = x[i * FEATURES] - 0.5f * x[i * FEATURES + 1] + 0.3f * tu_uniform_f(&r) > 0;
    }
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = rows;
    b.dense = x;
    b.n_dense = FEATURES;
    b.labels = y;
    sigeo_dataset_t *ds;
    OK(sigeo_dataset_create(&ds, &b));
    free(x);
    free(y);
    return ds;
}

static void setup(void)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.seed = 5;
    o.threads = 1;
    OK(sigeo_context_create(&ctx, &o));
    train = make_data(512, 1);
    valid = make_data(96, 2);
    test = make_data(80, 3);
}

static void teardown(void)
{
    sigeo_dataset_destroy(train);
    sigeo_dataset_destroy(valid);
    sigeo_dataset_destroy(test);
    sigeo_context_destroy(ctx);
}

static sigeo_search_options_t small_search(uint64_t max_evaluations)
{
    sigeo_search_options_t so = SIGEO_SEARCH_OPTIONS_INIT;
    so.population = 6;
    so.sample_size = 3;
    so.children = 2;
    so.cycles = 4;
    so.seed = 3;
    so.max_evaluations = max_evaluations;
    return so;
}

static sigeo_nas_options_t small_options(const sigeo_search_options_t *so)
{
    sigeo_nas_options_t o = SIGEO_NAS_OPTIONS_INIT;
    o.batch_size = 32;
    o.warmup_fraction = 0.25;
    o.search = so;
    o.k = 3;
    o.top_k = 3;
    o.retrain_epochs = 0.5;
    o.eval_batch = 40;
    return o;
}

/* Mean loss of `m` (active architecture) over `ds`, batch by batch here. */
static double mean_loss(sigeo_model_t *m, sigeo_dataset_t *ds, int64_t batch)
{
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    OK(sigeo_dataset_get_info(&info, ds));
    double sum = 0.0;
    for (int64_t first = 0; first < info.n_rows; first += batch) {
        int64_t n = info.n_rows - first < batch ? info.n_rows - first : batch;
        sigeo_batch_t b = SIGEO_BATCH_INIT;
        OK(sigeo_dataset_view(&b, ds, first, n));
        double loss;
        OK(sigeo_model_forward(&loss, m, &b));
        sum += loss * (double)n;
    }
    return sum / (double)info.n_rows;
}

/* ------------------------------------------------------------- pipeline */

START_TEST(pipeline_proxy_values)
{
    sigeo_model_t *m = toy(ctx);
    sigeo_search_options_t so = small_search(10);
    sigeo_nas_options_t o = small_options(&so);
    sigeo_nas_result_t *r;
    OK(sigeo_nas_run(&r, m, train, valid, test, &o));
    sigeo_nas_summary_t s = SIGEO_NAS_SUMMARY_INIT;
    OK(sigeo_nas_result_get_summary(&s, r));
    ck_assert_ptr_eq(sigeo_nas_result_model(r), m);
    /* budget and counts */
    ck_assert_uint_eq(s.evaluations, 10);
    ck_assert_uint_eq(sigeo_nas_result_evaluation_count(r), 10);
    ck_assert_int_eq(s.n_arch, POINTS);
    ck_assert_int_eq(s.top_n, 3);
    ck_assert_int_eq(s.warmup_steps, (int64_t)llround(0.25 * 512) / 32);
    /* provenance */
    ck_assert_uint_eq(s.library_version, sigeo_version_number());
    ck_assert_int_eq(s.scorer, SIGEO_NAS_SCORE_PROXY);
    ck_assert_int_eq(s.proxy_kind, SIGEO_PROXY_SIGEO);
    ck_assert_int_eq(s.lambda_preset, SIGEO_PRESET_RECSYS); /* warm-up > 0 */
    ck_assert_uint_eq(s.k, 3);
    ck_assert(s.warmup_seconds >= 0 && s.search_seconds >= 0 && s.retrain_seconds >= 0);

    /* recorded scores: the proxy on the first k training batches of the warmed-up supernet */
    sigeo_proxy_options_t po = SIGEO_PROXY_OPTIONS_INIT;
    po.lambda_preset = SIGEO_PRESET_RECSYS;
    sigeo_batch_set_t *bs;
    OK(sigeo_batch_set_create(&bs, train, 0, 3, 32, SIGEO_BATCH_DROP_LAST));
    double scores[10];
    int32_t archs[10][POINTS];
    for (uint64_t i = 0; i < 10; i++) {
        sigeo_evaluation_t e = SIGEO_EVALUATION_INIT;
        OK(sigeo_nas_result_evaluation(&e, r, i));
        ck_assert_int_eq(e.status, SIGEO_OK);
        ck_assert_uint_eq(e.index, i);
        ck_assert_ptr_nonnull(e.proxy);
        ck_assert_int_eq(e.n_arch, POINTS);
        memcpy(archs[i], e.arch, sizeof archs[i]);
        char text[64];
        OK(sigeo_arch_format(text, sizeof text, NULL, e.arch, e.n_arch));
        ck_assert_str_eq(text, e.arch_text);
        sigeo_batch_t views[3];
        for (uint32_t k = 0; k < 3; k++) {
            views[k] = (sigeo_batch_t)SIGEO_BATCH_INIT;
            OK(sigeo_batch_set_get(&views[k], bs, k));
        }
        sigeo_proxy_result_t pr = SIGEO_PROXY_RESULT_INIT;
        OK(sigeo_proxy_compute(m, e.arch, e.n_arch, views, 3, &po, &pr));
        ck_assert_near(e.score, pr.score, 1e-9, 1e-9);
        scores[i] = e.score;
    }
    sigeo_batch_set_destroy(bs);
    sigeo_evaluation_t bad = SIGEO_EVALUATION_INIT;
    ck_assert_int_eq(sigeo_nas_result_evaluation(&bad, r, 10), SIGEO_ERR_INVALID_ARG);

    /* the candidates are the 3 best distinct evaluations, best first */
    bool used[10] = { false };
    int32_t best = -1;
    double best_val = INFINITY;
    for (int32_t c = 0; c < s.top_n; c++) {
        int w = -1;
        for (int i = 0; i < 10; i++)
            if (!used[i] && (w < 0 || scores[i] > scores[w]))
                w = i;
        used[w] = true;
        sigeo_nas_candidate_t cd = SIGEO_NAS_CANDIDATE_INIT;
        int32_t arch[POINTS];
        OK(sigeo_nas_result_candidate(&cd, arch, POINTS, r, c));
        ck_assert_int_eq(cd.rank, c);
        ck_assert_double_bits_eq(cd.score, scores[w]);
        ck_assert_mem_eq(arch, archs[w], sizeof arch);
        ck_assert_int_eq(cd.status, SIGEO_OK);
        ck_assert(cd.val_logloss > 0 && cd.test_logloss > 0 && cd.params > 0);
        ck_assert(cd.val_accuracy >= 0 && cd.val_accuracy <= 1);
        ck_assert(cd.test_auc == 0.0); /* softmax classifier: no AUC */
        if (cd.val_logloss < best_val) {
            best_val = cd.val_logloss;
            best = c;
        }
    }
    /* selection by validation */
    ck_assert_int_eq(s.best, best);
    sigeo_nas_candidate_t cb = SIGEO_NAS_CANDIDATE_INIT;
    int32_t cand_arch[POINTS], best_arch[POINTS];
    OK(sigeo_nas_result_candidate(&cb, cand_arch, POINTS, r, best));
    OK(sigeo_nas_result_best_arch(best_arch, POINTS, r));
    ck_assert_mem_eq(best_arch, cand_arch, sizeof best_arch);
    ck_assert_double_bits_eq(s.val_logloss, cb.val_logloss);
    ck_assert_double_bits_eq(s.test_logloss, cb.test_logloss);
    ck_assert_double_bits_eq(s.test_accuracy, cb.test_accuracy);
    ck_assert_int_eq(s.params, cb.params);
    /* params of the selected architecture, counted on the supernet */
    int64_t p;
    OK(sigeo_model_count(&p, NULL, m, best_arch, POINTS));
    ck_assert_int_eq(s.params, p);
    ck_assert_int_eq(sigeo_nas_result_best_arch(best_arch, POINTS - 1, r), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_nas_result_candidate(&cb, NULL, 0, r, 3), SIGEO_ERR_INVALID_ARG);
    sigeo_nas_result_destroy(r);
    sigeo_model_destroy(m);
}
END_TEST

/* An ensemble search through the pipeline: each evaluation's grad_norm and
 * l2_norm recomputed here on the warmed-up supernet, the mean rank over the
 * evaluations so far ranked here by hand: the recorded scores are those,
 * and the top-k candidates the best by the mean rank over all. */
static double mean_rank(const double (*raw)[2], int n, int c)
{
    double sum = 0.0;
    for (int p = 0; p < 2; p++) {
        double r = 1.0;
        for (int k = 0; k < n; k++)
            if (k != c)
                r += raw[k][p] < raw[c][p] ? 1.0 : raw[k][p] == raw[c][p] ? 0.5 : 0.0;
        sum += r;
    }
    return sum / 2.0;
}

START_TEST(pipeline_ensemble_follows_the_aggregate)
{
    sigeo_model_t *m = toy(ctx);
    sigeo_search_options_t so = small_search(10);
    so.n_ensemble = 2;
    so.ensemble_kinds[0] = SIGEO_PROXY_GRAD_NORM;
    so.ensemble_kinds[1] = SIGEO_PROXY_L2_NORM;
    so.ensemble_aggregate = SIGEO_AGG_MEAN_RANK;
    sigeo_nas_options_t o = small_options(&so);
    sigeo_proxy_options_t po = SIGEO_PROXY_OPTIONS_INIT;
    po.kind = SIGEO_PROXY_GRAD_NORM;
    o.proxy = &po;
    sigeo_nas_result_t *r;
    OK(sigeo_nas_run(&r, m, train, valid, test, &o));
    sigeo_batch_set_t *bs;
    OK(sigeo_batch_set_create(&bs, train, 0, 3, 32, SIGEO_BATCH_DROP_LAST));
    sigeo_batch_t views[3];
    for (uint32_t k = 0; k < 3; k++) {
        views[k] = (sigeo_batch_t)SIGEO_BATCH_INIT;
        OK(sigeo_batch_set_get(&views[k], bs, k));
    }
    double raw[10][2];
    int32_t archs[10][POINTS];
    for (uint64_t i = 0; i < 10; i++) {
        sigeo_evaluation_t e = SIGEO_EVALUATION_INIT;
        OK(sigeo_nas_result_evaluation(&e, r, i));
        ck_assert_int_eq(e.status, SIGEO_OK);
        memcpy(archs[i], e.arch, sizeof archs[i]);
        for (int p = 0; p < 2; p++) {
            sigeo_proxy_options_t q = SIGEO_PROXY_OPTIONS_INIT;
            q.kind = p ? SIGEO_PROXY_L2_NORM : SIGEO_PROXY_GRAD_NORM;
            sigeo_proxy_result_t pr = SIGEO_PROXY_RESULT_INIT;
            OK(sigeo_proxy_compute(m, e.arch, e.n_arch, views, 3, &q, &pr));
            raw[i][p] = pr.score;
        }
        ck_assert_double_eq_tol(e.score, mean_rank((const double(*)[2])raw, (int)i + 1, (int)i), 1e-12);
    }
    sigeo_batch_set_destroy(bs);
    bool used[10] = { false };
    for (int32_t c = 0; c < 3; c++) {
        int w = -1;
        double ws = 0;
        for (int i = 0; i < 10; i++) {
            const double a = mean_rank((const double(*)[2])raw, 10, i);
            if (!used[i] && (w < 0 || a > ws)) {
                w = i;
                ws = a;
            }
        }
        used[w] = true;
        sigeo_nas_candidate_t cd = SIGEO_NAS_CANDIDATE_INIT;
        int32_t arch[POINTS];
        OK(sigeo_nas_result_candidate(&cd, arch, POINTS, r, c));
        ck_assert_double_eq_tol(cd.score, ws, 1e-12);
        ck_assert_mem_eq(arch, archs[w], sizeof arch);
    }
    sigeo_nas_result_destroy(r);
    sigeo_model_destroy(m);
}
END_TEST

typedef struct counter {
    int calls;
    double lo, hi;
} counter_t;

static void count_record(const sigeo_evaluation_t *e, void *user)
{
    counter_t *c = user;
    c->calls++;
    c->lo = fmin(c->lo, e->score);
    c->hi = fmax(c->hi, e->score);
}

START_TEST(pipeline_random_zero_shot)
{
    sigeo_model_t *m = toy(ctx);
    sigeo_search_options_t so = small_search(0);
    so.kind = SIGEO_SEARCH_RANDOM;
    sigeo_nas_options_t o = small_options(&so);
    o.scorer = SIGEO_NAS_SCORE_RANDOM;
    o.warmup_fraction = 0.0;
    o.top_k = 2;
    counter_t c = { 0, INFINITY, -INFINITY };
    o.record = count_record;
    o.record_user = &c;
    sigeo_nas_result_t *r;
    OK(sigeo_nas_run(&r, m, train, valid, NULL, &o));
    sigeo_nas_summary_t s = SIGEO_NAS_SUMMARY_INIT;
    OK(sigeo_nas_result_get_summary(&s, r));
    ck_assert_int_eq(s.warmup_steps, 0);
    ck_assert_int_eq(s.proxy_kind, -1);
    ck_assert_int_eq(s.search_kind, SIGEO_SEARCH_RANDOM);
    ck_assert_uint_eq(s.evaluations, 6 + 4 * 2); /* P + G C */
    ck_assert_int_eq(c.calls, (int)s.evaluations);
    ck_assert(c.lo >= 0.0 && c.hi < 1.0);
    ck_assert(s.test_logloss == 0.0); /* no test set */
    ck_assert_int_eq(s.top_n, 2);
    sigeo_nas_result_destroy(r);
    sigeo_model_destroy(m);
}
END_TEST

/* ------------------------------------------------------ parallel retrain */

/* One run on a fresh context of one thread (the same streams each time):
 * its candidates (timings zeroed), best architecture and records. */
typedef struct run_copy {
    int32_t top_n, best;
    sigeo_nas_candidate_t cands[4];
    int32_t cand_arch[4][POINTS];
    int32_t best_arch[POINTS];
    uint64_t n_evals;
    double scores[16];
    int calls;          /* retrain progress reports */
    int64_t last_step;
    bool ordered;
    int64_t total;
} run_copy_t;

static int count_retrain(const sigeo_nas_progress_t *p, void *user)
{
    run_copy_t *c = user;
    if (p->phase != SIGEO_NAS_PHASE_RETRAIN)
        return 0;
    c->ordered &= p->step >= c->last_step && p->step <= p->total && p->candidate >= 0 && p->candidate < 4;
    c->last_step = p->step;
    c->total = p->total;
    c->calls++;
    return 0;
}

static void run_with(run_copy_t *out, int32_t workers, uint32_t threads, int32_t top_k)
{
    memset(out, 0, sizeof *out);
    out->ordered = true;
    sigeo_context_t *c;
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.seed = 5;
    co.threads = threads;
    co.thread_policy = threads > 1 ? SIGEO_THREADS_FIXED : SIGEO_THREADS_AUTO; /* FIXED: every call on the team */
    OK(sigeo_context_create(&c, &co));
    sigeo_model_t *m = toy(c);
    sigeo_search_options_t so = small_search(12);
    sigeo_nas_options_t o = small_options(&so);
    o.top_k = top_k;
    o.workers = workers;
    o.progress = count_retrain;
    o.progress_user = out;
    o.progress_every = 1;
    sigeo_nas_result_t *r;
    OK(sigeo_nas_run(&r, m, train, valid, test, &o));
    sigeo_nas_summary_t s = SIGEO_NAS_SUMMARY_INIT;
    OK(sigeo_nas_result_get_summary(&s, r));
    out->top_n = s.top_n;
    out->best = s.best;
    ck_assert_int_le(s.top_n, top_k);
    for (int32_t i = 0; i < s.top_n; i++) {
        out->cands[i] = (sigeo_nas_candidate_t)SIGEO_NAS_CANDIDATE_INIT;
        OK(sigeo_nas_result_candidate(&out->cands[i], out->cand_arch[i], POINTS, r, i));
        ck_assert_int_eq(out->cands[i].status, SIGEO_OK);
        ck_assert(out->cands[i].seconds >= 0);
        out->cands[i].seconds = 0;
    }
    OK(sigeo_nas_result_best_arch(out->best_arch, POINTS, r));
    out->n_evals = sigeo_nas_result_evaluation_count(r);
    ck_assert_uint_le(out->n_evals, 16);
    for (uint64_t i = 0; i < out->n_evals; i++) {
        sigeo_evaluation_t e = SIGEO_EVALUATION_INIT;
        OK(sigeo_nas_result_evaluation(&e, r, i));
        out->scores[i] = e.score;
    }
    sigeo_nas_result_destroy(r);
    sigeo_model_destroy(m);
    sigeo_context_destroy(c);
}

static void run_with_workers(run_copy_t *out, int32_t workers)
{
    run_with(out, workers, 1, 4);
}

static void assert_same_run(const run_copy_t *many, const run_copy_t *one, int32_t w)
{
    ck_assert_int_eq(many->top_n, one->top_n);
    ck_assert_int_eq(many->best, one->best);
    ck_assert_uint_eq(many->n_evals, one->n_evals);
    ck_assert(!memcmp(many->scores, one->scores, sizeof one->scores));
    ck_assert(!memcmp(many->cand_arch, one->cand_arch, sizeof one->cand_arch));
    for (int32_t i = 0; i < one->top_n; i++)
        ck_assert_msg(!memcmp(&many->cands[i], &one->cands[i], sizeof one->cands[i]),
                      "workers %d: candidate %d differs (val loss %.17g vs %.17g)", (int)w, (int)i,
                      many->cands[i].val_logloss, one->cands[i].val_logloss);
}

/* A context of 2 threads (FIXED: every call on the whole team) and 3
 * candidates on 2 workers: the first two train on one compute thread each,
 * the third, alone in the last round, on both (parallel.c's tail); one by
 * one every candidate trains on the team of 2. The candidates come out the
 * same bit for bit: the compute team does not change a result. */
START_TEST(retrain_tail_team_same_result)
{
    run_copy_t one, many;
    run_with(&one, 1, 2, 3);
    ck_assert_int_eq(one.top_n, 3);
    run_with(&many, 2, 2, 3);
    assert_same_run(&many, &one, 2);
    ck_assert(many.ordered);
    ck_assert_int_eq(many.last_step, many.total);
}
END_TEST

/* The top-k retrain on 1, 2 and 4 threads: the same records, candidates
 * (bit for bit) and selection; progress stays ordered and reaches the
 * total; a bad worker count is named. */
START_TEST(retrain_workers_same_result)
{
    run_copy_t one, many;
    run_with_workers(&one, 1);
    ck_assert_int_eq(one.top_n, 4);
    ck_assert(one.ordered);
    ck_assert_int_eq(one.last_step, one.total);
    for (int32_t w = 2; w <= 4; w += 2) {
        run_with_workers(&many, w);
        ck_assert_int_eq(many.top_n, one.top_n);
        ck_assert_int_eq(many.best, one.best);
        ck_assert_uint_eq(many.n_evals, one.n_evals);
        ck_assert(!memcmp(many.scores, one.scores, sizeof one.scores));
        ck_assert(!memcmp(many.best_arch, one.best_arch, sizeof one.best_arch));
        ck_assert(!memcmp(many.cand_arch, one.cand_arch, sizeof one.cand_arch));
        for (int32_t i = 0; i < one.top_n; i++)
            ck_assert_msg(!memcmp(&many.cands[i], &one.cands[i], sizeof one.cands[i]),
                          "workers %d: candidate %d differs (val loss %.17g vs %.17g)", (int)w, (int)i,
                          many.cands[i].val_logloss, one.cands[i].val_logloss);
        ck_assert_msg(many.ordered, "workers %d: retrain progress out of order", (int)w);
        ck_assert_int_ge(many.calls, 1);
        ck_assert_int_eq(many.last_step, many.total); /* the final report: every step */
    }
    sigeo_model_t *m = toy(ctx);
    sigeo_search_options_t so = small_search(4);
    sigeo_nas_options_t o = small_options(&so);
    sigeo_nas_result_t *r;
    o.workers = -1;
    ck_assert_int_eq(sigeo_nas_run(&r, m, train, valid, test, &o), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "workers");
    o.workers = 1025;
    ck_assert_int_eq(sigeo_nas_run(&r, m, train, valid, test, &o), SIGEO_ERR_INVALID_ARG);
    sigeo_model_destroy(m);
}
END_TEST

/* ----------------------------------------------------------- cancelling */

typedef struct stopper {
    int phase;
    int64_t at;
    int calls;
    int64_t last_step;
    bool ordered; /* steps never go backwards within the phase */
} stopper_t;

static int stop_in_phase(const sigeo_nas_progress_t *p, void *user)
{
    stopper_t *s = user;
    if (p->phase != s->phase)
        return 0;
    s->ordered &= p->step >= s->last_step && p->step <= p->total && p->elapsed >= 0;
    s->last_step = p->step;
    s->calls++;
    return p->step >= s->at;
}

START_TEST(cancel_each_phase)
{
    for (int round = SIGEO_NAS_PHASE_WARMUP; round <= SIGEO_NAS_PHASE_RETRAIN + 1; round++) {
        /* the last round: the retrain again, on 2 threads */
        const int phase = round > SIGEO_NAS_PHASE_RETRAIN ? SIGEO_NAS_PHASE_RETRAIN : round;
        const int32_t workers = round > SIGEO_NAS_PHASE_RETRAIN ? 2 : 1;
        uint64_t blocks0 = 0;
        sigeo_memory_in_use(NULL, &blocks0);
        sigeo_context_t *c;
        sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
        co.threads = 1;
        OK(sigeo_context_create(&c, &co));
        sigeo_dataset_t *tr = make_data(512, 1), *va = make_data(64, 2);
        sigeo_model_t *m = toy(c);
        sigeo_search_options_t so = small_search(0);
        sigeo_nas_options_t o = small_options(&so);
        o.progress_every = 1;
        o.workers = workers;
        stopper_t st = { phase, phase == SIGEO_NAS_PHASE_SEARCH ? 4 : 2, 0, 0, true };
        o.progress = stop_in_phase;
        o.progress_user = &st;
        sigeo_nas_result_t *r = (sigeo_nas_result_t *)&st; /* must be reset to NULL */
        ck_assert_int_eq(sigeo_nas_run(&r, m, tr, va, va, &o), SIGEO_ERR_CANCELLED);
        ck_assert_ptr_null(r);
        ck_assert_str_contains(sigeo_last_error(), "cancelled");
        ck_assert_int_ge(st.calls, 1);
        ck_assert(st.ordered);
        /* the model is still usable */
        int32_t arch[POINTS] = { 1, 2, 3 };
        OK(sigeo_model_activate(m, arch, POINTS));
        sigeo_model_destroy(m);
        sigeo_dataset_destroy(tr);
        sigeo_dataset_destroy(va);
        sigeo_context_destroy(c);
        uint64_t blocks1 = 0;
        sigeo_memory_in_use(NULL, &blocks1);
        ck_assert_msg(blocks1 == blocks0, "phase %d: %llu blocks before, %llu after", phase,
                      (unsigned long long)blocks0, (unsigned long long)blocks1);
    }
}
END_TEST

/* ------------------------------------------------------------ bad input */

START_TEST(bad_options_named)
{
    sigeo_model_t *m = toy(ctx);
    sigeo_search_options_t so = small_search(4);
    sigeo_nas_result_t *r;
    struct {
        const char *field;
        void (*set)(sigeo_nas_options_t *);
    } cases[] = {
        { "warmup_fraction", NULL }, { "top_k", NULL }, { "scorer", NULL }, { "k is 0", NULL },
        { "retrain_epochs", NULL },  { "batch_size", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sigeo_nas_options_t o = small_options(&so);
        switch (i) {
        case 0: o.warmup_fraction = 1.5; break;
        case 1: o.top_k = 0; break;
        case 2: o.scorer = 7; break;
        case 3: o.k = 0; break;
        case 4: o.retrain_epochs = NAN; break;
        default: o.batch_size = 0; break;
        }
        ck_assert_int_eq(sigeo_nas_run(&r, m, train, valid, test, &o), SIGEO_ERR_INVALID_ARG);
        ck_assert_ptr_null(r);
        ck_assert_str_contains(sigeo_last_error(), cases[i].field);
    }
    sigeo_nas_options_t o = small_options(&so);
    ck_assert_int_eq(sigeo_nas_run(&r, m, NULL, valid, test, &o), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "train");
    ck_assert_int_eq(sigeo_nas_run(&r, NULL, train, valid, test, &o), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "supernet");
    o.struct_size = 4;
    ck_assert_int_eq(sigeo_nas_run(&r, m, train, valid, test, &o), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "struct_size");
    /* a nested struct is read by its own struct_size */
    o = small_options(&so);
    sigeo_proxy_options_t po = SIGEO_PROXY_OPTIONS_INIT;
    po.struct_size = 2;
    o.proxy = &po;
    ck_assert_int_eq(sigeo_nas_run(&r, m, train, valid, test, &o), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "sigeo_proxy_options");
    /* more proxy batches than the training set has */
    o = small_options(&so);
    o.k = 17; /* 512 rows / 32 = 16 batches */
    ck_assert_int_eq(sigeo_nas_run(&r, m, train, valid, test, &o), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "fewer than 17 batches");
    /* nested options are checked before any training */
    o = small_options(&so);
    sigeo_search_options_t bad_so = small_search(4);
    bad_so.sample_size = 9; /* > population 6 */
    o.search = &bad_so;
    ck_assert_int_eq(sigeo_nas_run(&r, m, train, valid, test, &o), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "sample_size");
    o = small_options(&so);
    sigeo_optimizer_options_t bad_opt = SIGEO_OPTIMIZER_OPTIONS_INIT;
    bad_opt.lr = -1;
    o.retrain_optimizer = &bad_opt;
    ck_assert_int_eq(sigeo_nas_run(&r, m, train, valid, test, &o), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "retrain_optimizer");
    ck_assert_str_contains(sigeo_last_error(), "lr");
    o = small_options(&so);
    sigeo_one_shot_options_t bad_os = SIGEO_ONE_SHOT_OPTIONS_INIT;
    bad_os.eval_batch = 0;
    o.scorer = SIGEO_NAS_SCORE_ONE_SHOT;
    o.one_shot = &bad_os;
    ck_assert_int_eq(sigeo_nas_run(&r, m, train, valid, test, &o), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "eval_batch");
    /* unknown space, through the space runner */
    o = small_options(&so);
    ck_assert_int_eq(sigeo_nas_run_space(&r, ctx, "resnet", NULL, train, valid, test, &o), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_null(r);
    /* after all that, a good run works */
    o = small_options(&so);
    OK(sigeo_nas_run(&r, m, train, valid, test, &o));
    sigeo_nas_result_destroy(r);
    sigeo_model_destroy(m);
    sigeo_nas_result_destroy(NULL);
    ck_assert_uint_eq(sigeo_nas_result_evaluation_count(NULL), 0);
}
END_TEST

/* Every candidate's training diverges (an absurd learning rate): the run
 * fails with the candidates' status and says so; nothing leaks. */
START_TEST(retrain_failures_reported)
{
    uint64_t blocks0 = 0;
    sigeo_memory_in_use(NULL, &blocks0);
    sigeo_context_t *c; /* its own: a context keeps its compute engine once made */
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.threads = 1;
    OK(sigeo_context_create(&c, &co));
    sigeo_model_t *m = toy(c);
    sigeo_dataset_t *tr = make_data(512, 1), *va = make_data(64, 2); /* their batch buffers too */
    sigeo_search_options_t so = small_search(6);
    sigeo_nas_options_t o = small_options(&so);
    sigeo_optimizer_options_t wild = SIGEO_OPTIMIZER_OPTIONS_INIT;
    wild.lr = 1e300; /* the first step sends the weights to infinity */
    o.retrain_optimizer = &wild;
    o.top_k = 2;
    sigeo_nas_result_t *r;
    for (int32_t workers = 1; workers <= 2; workers++) { /* one by one, and on 2 threads */
        o.workers = workers;
        ck_assert_int_eq(sigeo_nas_run(&r, m, tr, va, va, &o), SIGEO_ERR_NONFINITE);
        ck_assert_ptr_null(r);
        ck_assert_str_contains(sigeo_last_error(), "none of the 2 candidates could be retrained");
        ck_assert_str_contains(sigeo_last_error(), "the last failure: "); /* a worker's message, here */
    }
    sigeo_model_destroy(m);
    sigeo_dataset_destroy(tr);
    sigeo_dataset_destroy(va);
    sigeo_context_destroy(c);
    uint64_t blocks1 = 0;
    sigeo_memory_in_use(NULL, &blocks1);
    ck_assert_uint_eq(blocks1, blocks0);
}
END_TEST

/* ------------------------------------------------------- one-shot scorer */

static void snapshot(float **out, int32_t *count, sigeo_model_t *m)
{
    int32_t n;
    OK(sigeo_model_param_count(&n, m));
    *count = n;
    for (int32_t i = 0; i < n; i++) {
        sigeo_param_info_t pi = SIGEO_PARAM_INFO_INIT;
        OK(sigeo_model_param_info(&pi, m, i));
        out[i] = malloc((size_t)pi.numel * sizeof(float));
        OK(sigeo_model_get_param(m, i, out[i], pi.numel));
    }
}

static void assert_params_equal(float **a, int32_t n, sigeo_model_t *m)
{
    for (int32_t i = 0; i < n; i++) {
        sigeo_param_info_t pi = SIGEO_PARAM_INFO_INIT;
        OK(sigeo_model_param_info(&pi, m, i));
        float *now = malloc((size_t)pi.numel * sizeof(float));
        OK(sigeo_model_get_param(m, i, now, pi.numel));
        ck_assert_msg(!memcmp(now, a[i], (size_t)pi.numel * sizeof(float)), "parameter %s changed", pi.name);
        free(now);
    }
}

START_TEST(one_shot_is_minus_validation_loss)
{
    sigeo_model_t *m = toy(ctx);
    const int32_t start[POINTS] = { 3, 3, 3 }, arch[POINTS] = { 1, 3, 0 };
    OK(sigeo_model_activate(m, start, POINTS));
    sigeo_one_shot_options_t oo = SIGEO_ONE_SHOT_OPTIONS_INIT;
    oo.eval_batch = 25;
    sigeo_one_shot_t *os;
    OK(sigeo_one_shot_create(&os, m, NULL, valid, &oo)); /* no fine-tune: no training set needed */
    float *before[16];
    int32_t np;
    snapshot(before, &np, m);
    double score;
    OK(sigeo_one_shot_score(&score, arch, POINTS, os));
    assert_params_equal(before, np, m);
    int32_t active[POINTS];
    OK(sigeo_model_active_arch(active, POINTS, m));
    ck_assert_mem_eq(active, start, sizeof active);
    OK(sigeo_model_activate(m, arch, POINTS));
    ck_assert_near(score, -mean_loss(m, valid, 96), 1e-6, 1e-7);
    /* the first rows only */
    sigeo_one_shot_t *os2;
    oo.max_eval_rows = 30;
    OK(sigeo_one_shot_create(&os2, m, NULL, valid, &oo));
    double s2;
    OK(sigeo_one_shot_score(&s2, arch, POINTS, os2));
    sigeo_dataset_t *first;
    int64_t rows[30];
    for (int i = 0; i < 30; i++)
        rows[i] = i;
    OK(sigeo_dataset_subset(&first, valid, rows, 30));
    ck_assert_near(s2, -mean_loss(m, first, 30), 1e-6, 1e-7);
    sigeo_dataset_destroy(first);
    /* errors leave the scorer usable */
    const int32_t bad[POINTS] = { 9, 0, 0 };
    ck_assert_int_eq(sigeo_one_shot_score(&s2, bad, POINTS, os2), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_one_shot_score(&s2, arch, POINTS - 1, os2), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_one_shot_last_error(os2), "choices");
    double s3;
    OK(sigeo_one_shot_score(&s3, arch, POINTS, os2));
    ck_assert_double_bits_eq(s3, s2);
    /* option checks */
    sigeo_one_shot_t *bad_os;
    oo = (sigeo_one_shot_options_t)SIGEO_ONE_SHOT_OPTIONS_INIT;
    oo.finetune_steps = 5;
    ck_assert_int_eq(sigeo_one_shot_create(&bad_os, m, NULL, valid, &oo), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "training set");
    oo.lr = -1;
    ck_assert_int_eq(sigeo_one_shot_create(&bad_os, m, train, valid, &oo), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "lr");
    ck_assert_ptr_null(bad_os);
    for (int32_t i = 0; i < np; i++)
        free(before[i]);
    sigeo_one_shot_destroy(os);
    sigeo_one_shot_destroy(os2);
    sigeo_model_destroy(m);
}
END_TEST

/* NASRec's head fine-tune replayed here: Adagrad on the head's weight and
 * bias only, gradient norm clipped over those two, the warm-up cosine
 * schedule, the first T batches in order. */
static void replay_head_finetune(sigeo_model_t *m, sigeo_dataset_t *tr, const sigeo_one_shot_options_t *o)
{
    int32_t pw, pb;
    OK(sigeo_model_find_param(&pw, m, "head.weight"));
    OK(sigeo_model_find_param(&pb, m, "head.bias"));
    const int32_t ids[2] = { pw, pb };
    int64_t numel[2];
    float *theta[2], *g[2];
    double *acc[2];
    for (int j = 0; j < 2; j++) {
        sigeo_param_info_t pi = SIGEO_PARAM_INFO_INIT;
        OK(sigeo_model_param_info(&pi, m, ids[j]));
        numel[j] = pi.numel;
        theta[j] = malloc((size_t)pi.numel * sizeof(float));
        g[j] = malloc((size_t)pi.numel * sizeof(float));
        acc[j] = calloc((size_t)pi.numel, sizeof(double));
        OK(sigeo_model_get_param(m, ids[j], theta[j], pi.numel));
    }
    sigeo_lr_schedule_t sch = SIGEO_LR_SCHEDULE_INIT;
    sch.kind = SIGEO_LR_WARMUP_COSINE;
    sch.lr = o->lr;
    sch.lr_min = 1e-8;
    sch.total_steps = o->finetune_steps;
    sch.warmup_steps = o->finetune_steps / 10;
    int64_t per_epoch;
    OK(sigeo_dataset_batch_count(&per_epoch, tr, o->finetune_batch, SIGEO_BATCH_DROP_LAST));
    for (int64_t step = 0; step < o->finetune_steps; step++) {
        sigeo_batch_t b = SIGEO_BATCH_INIT;
        OK(sigeo_dataset_batch(&b, tr, step % per_epoch, o->finetune_batch, SIGEO_BATCH_DROP_LAST));
        double loss;
        OK(sigeo_model_forward_backward(&loss, m, &b));
        double sq = 0;
        for (int j = 0; j < 2; j++) {
            OK(sigeo_model_get_grad(m, ids[j], g[j], numel[j]));
            for (int64_t i = 0; i < numel[j]; i++)
                sq += (double)g[j][i] * g[j][i];
        }
        const double norm = sqrt(sq), scale = norm > o->clip_norm ? o->clip_norm / (norm + 1e-6) : 1.0;
        double lr;
        OK(sigeo_lr_at(&lr, &sch, step));
        for (int j = 0; j < 2; j++) {
            for (int64_t i = 0; i < numel[j]; i++) {
                const double d = scale * g[j][i];
                acc[j][i] = (float)(acc[j][i] + d * d);
                theta[j][i] = (float)(theta[j][i] - lr * d / (sqrt(acc[j][i]) + o->eps));
            }
            OK(sigeo_model_set_param(m, ids[j], theta[j], numel[j]));
        }
    }
    for (int j = 0; j < 2; j++) {
        free(theta[j]);
        free(g[j]);
        free(acc[j]);
    }
}

START_TEST(one_shot_head_finetune)
{
    sigeo_model_t *m = toy(ctx);
    const int32_t arch[POINTS] = { 2, 0, 3 };
    sigeo_one_shot_options_t oo = SIGEO_ONE_SHOT_OPTIONS_INIT;
    oo.finetune_steps = 20; /* > 16 batches per epoch: the replay wraps too */
    oo.finetune_batch = 32;
    oo.lr = 0.3;
    oo.clip_norm = 0.5; /* small enough to clip */
    sigeo_one_shot_t *os;
    OK(sigeo_one_shot_create(&os, m, train, valid, &oo));
    float *before[16];
    int32_t np;
    snapshot(before, &np, m);
    double tuned;
    OK(sigeo_one_shot_score(&tuned, arch, POINTS, os));
    /* the supernet is exactly as before */
    assert_params_equal(before, np, m);
    /* the replay: only the head moves; the same validation loss */
    OK(sigeo_model_activate(m, arch, POINTS));
    const double untuned = -mean_loss(m, valid, 96);
    replay_head_finetune(m, train, &oo);
    const double replayed = -mean_loss(m, valid, 96);
    ck_assert_near(tuned, replayed, 1e-5, 1e-6);
    ck_assert_msg(fabs(tuned - untuned) > 1e-4, "the fine-tune changed nothing (%g vs %g)", tuned, untuned);
    /* a second score starts from the same supernet again */
    for (int32_t i = 0; i < np; i++) {
        sigeo_param_info_t pi = SIGEO_PARAM_INFO_INIT;
        OK(sigeo_model_param_info(&pi, m, i));
        OK(sigeo_model_set_param(m, i, before[i], pi.numel));
    }
    double again;
    OK(sigeo_one_shot_score(&again, arch, POINTS, os));
    ck_assert_double_bits_eq(again, tuned);
    /* as a search scorer */
    sigeo_search_options_t so = small_search(5);
    sigeo_search_t *s;
    OK(sigeo_search_create(&s, m, &so));
    sigeo_search_callbacks_t cb = SIGEO_SEARCH_CALLBACKS_INIT;
    cb.score = sigeo_one_shot_score;
    cb.score_user = os;
    OK(sigeo_search_set_callbacks(s, &cb));
    OK(sigeo_search_run(s));
    sigeo_search_info_t si = SIGEO_SEARCH_INFO_INIT;
    OK(sigeo_search_get_info(&si, s));
    ck_assert_uint_eq(si.evaluations, 5);
    ck_assert_uint_eq(si.failed, 0);
    assert_params_equal(before, np, m);
    sigeo_search_destroy(s);
    for (int32_t i = 0; i < np; i++)
        free(before[i]);
    sigeo_one_shot_destroy(os);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(pipeline_one_shot)
{
    sigeo_model_t *m = toy(ctx);
    sigeo_search_options_t so = small_search(8);
    sigeo_nas_options_t o = small_options(&so);
    sigeo_one_shot_options_t oo = SIGEO_ONE_SHOT_OPTIONS_INIT;
    oo.finetune_steps = 4;
    oo.finetune_batch = 32;
    o.scorer = SIGEO_NAS_SCORE_ONE_SHOT;
    o.one_shot = &oo;
    o.top_k = 1;
    sigeo_nas_result_t *r;
    OK(sigeo_nas_run(&r, m, train, valid, test, &o));
    sigeo_nas_summary_t s = SIGEO_NAS_SUMMARY_INIT;
    OK(sigeo_nas_result_get_summary(&s, r));
    ck_assert_int_eq(s.finetune_steps, 4);
    ck_assert_int_eq(s.scorer, SIGEO_NAS_SCORE_ONE_SHOT);
    /* each recorded score re-derived by a scorer of our own on the warmed-up supernet */
    sigeo_one_shot_t *os;
    oo.eval_batch = o.eval_batch;
    OK(sigeo_one_shot_create(&os, m, train, valid, &oo));
    for (uint64_t i = 0; i < s.evaluations; i++) {
        sigeo_evaluation_t e = SIGEO_EVALUATION_INIT;
        OK(sigeo_nas_result_evaluation(&e, r, i));
        ck_assert_ptr_null(e.proxy);
        double want;
        OK(sigeo_one_shot_score(&want, e.arch, e.n_arch, os));
        ck_assert_near(e.score, want, 1e-12, 0); /* GEMM rounding may differ in the last bit */
    }
    sigeo_one_shot_destroy(os);
    sigeo_nas_result_destroy(r);
    sigeo_model_destroy(m);
}
END_TEST

/* ------------------------------------------------------------ batch sets */

START_TEST(batch_set_owns_copies)
{
    sigeo_dataset_t *ds = make_data(100, 9);
    sigeo_batch_set_t *set;
    OK(sigeo_batch_set_create(&set, ds, 1, 3, 16, SIGEO_BATCH_DROP_LAST));
    ck_assert_uint_eq(sigeo_batch_set_count(set), 3);
    /* expected contents, copied here from the dataset's own views */
    float want_x[3][16 * FEATURES];
    int32_t want_y[3][16];
    for (int k = 0; k < 3; k++) {
        sigeo_batch_t b = SIGEO_BATCH_INIT;
        OK(sigeo_dataset_batch(&b, ds, 1 + k, 16, SIGEO_BATCH_DROP_LAST));
        memcpy(want_x[k], b.dense, sizeof want_x[k]);
        memcpy(want_y[k], b.labels, sizeof want_y[k]);
    }
    /* proxy on the set == proxy on views of the same rows */
    sigeo_model_t *m = toy(ctx);
    sigeo_proxy_options_t po = SIGEO_PROXY_OPTIONS_INIT;
    sigeo_batch_t views[3];
    float xs[3][16 * FEATURES];
    int32_t ys[3][16];
    for (int k = 0; k < 3; k++) {
        memcpy(xs[k], want_x[k], sizeof xs[k]);
        memcpy(ys[k], want_y[k], sizeof ys[k]);
        views[k] = (sigeo_batch_t)SIGEO_BATCH_INIT;
        views[k].batch_size = 16;
        views[k].dense = xs[k];
        views[k].n_dense = FEATURES;
        views[k].labels = ys[k];
    }
    sigeo_proxy_result_t a = SIGEO_PROXY_RESULT_INIT, b = SIGEO_PROXY_RESULT_INIT;
    OK(sigeo_proxy_compute(m, NULL, 0, views, 3, &po, &a));
    /* the dataset reshuffled, then destroyed: the set still holds the rows */
    OK(sigeo_dataset_shuffle(ds, 77));
    sigeo_batch_t junk = SIGEO_BATCH_INIT;
    OK(sigeo_dataset_batch(&junk, ds, 1, 16, SIGEO_BATCH_DROP_LAST));
    sigeo_dataset_destroy(ds);
    for (uint32_t k = 0; k < 3; k++) {
        sigeo_batch_t g = SIGEO_BATCH_INIT;
        OK(sigeo_batch_set_get(&g, set, k));
        ck_assert_int_eq(g.batch_size, 16);
        ck_assert_int_eq(g.n_dense, FEATURES);
        ck_assert_mem_eq(g.dense, want_x[k], sizeof want_x[k]);
        ck_assert_mem_eq(g.labels, want_y[k], sizeof want_y[k]);
        ck_assert_ptr_null(g.targets);
    }
    OK(sigeo_proxy_compute_set(m, NULL, 0, set, &po, &b));
    ck_assert_double_bits_eq(a.score, b.score);
    ck_assert_uint_eq(b.k, 3);
    /* the search copies the set: its scores equal the proxy after the set is gone */
    sigeo_search_options_t so = small_search(4);
    sigeo_search_t *s;
    OK(sigeo_search_create(&s, m, &so));
    OK(sigeo_search_set_proxy(s, &po));
    OK(sigeo_search_set_batch_set(s, set));
    sigeo_batch_set_destroy(set);
    OK(sigeo_search_run(s));
    int32_t top[POINTS];
    double top_score;
    int32_t n;
    OK(sigeo_search_top(top, &top_score, 1, &n, s));
    ck_assert_int_eq(n, 1);
    sigeo_proxy_result_t c = SIGEO_PROXY_RESULT_INIT;
    OK(sigeo_proxy_compute(m, top, POINTS, views, 3, &po, &c));
    ck_assert_double_bits_eq(top_score, c.score);
    sigeo_search_destroy(s);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(batch_set_errors_and_append)
{
    sigeo_dataset_t *ds = make_data(50, 4);
    sigeo_batch_set_t *set = NULL;
    /* 50 rows give 3 full batches of 16 */
    ck_assert_int_eq(sigeo_batch_set_create(&set, ds, 1, 3, 16, SIGEO_BATCH_DROP_LAST), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_null(set);
    ck_assert_str_contains(sigeo_last_error(), "3 such batches");
    ck_assert_int_eq(sigeo_batch_set_create(&set, NULL, 0, 1, 16, SIGEO_BATCH_DROP_LAST), SIGEO_ERR_INVALID_ARG);
    /* KEEP_LAST: the short last batch is copied at its size */
    OK(sigeo_batch_set_create(&set, ds, 3, 1, 16, SIGEO_BATCH_KEEP_LAST));
    sigeo_batch_t g = SIGEO_BATCH_INIT;
    OK(sigeo_batch_set_get(&g, set, 0));
    ck_assert_int_eq(g.batch_size, 2);
    ck_assert_int_eq(sigeo_batch_set_get(&g, set, 1), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_batch_set_last_error(set), "holds 1");
    /* a caller's older, smaller struct gets only its prefix */
    struct {
        uint32_t struct_size, n_sparse_fields;
        int64_t batch_size;
        int64_t canary;
    } old = { 16, 0, -1, 12345 };
    OK(sigeo_batch_set_get((sigeo_batch_t *)(void *)&old, set, 0));
    ck_assert_int_eq(old.batch_size, 2);
    ck_assert_int_eq(old.canary, 12345);
    sigeo_batch_set_destroy(set);
    /* appending the host's own sparse batch; bad offsets are refused and leave the set unchanged */
    OK(sigeo_batch_set_create(&set, NULL, 0, 0, 0, SIGEO_BATCH_DROP_LAST));
    ck_assert_uint_eq(sigeo_batch_set_count(set), 0);
    int64_t ids[5] = { 1, 2, 3, 4, 5 }, offs[5] = { 0, 1, 3, 3, 5 };
    float t[2] = { 0, 1 };
    sigeo_batch_t h = SIGEO_BATCH_INIT;
    h.batch_size = 2;
    h.n_sparse_fields = 2;
    h.sparse_ids = ids;
    h.sparse_offsets = offs;
    h.targets = t;
    h.n_targets = 1;
    OK(sigeo_batch_set_append(set, &h));
    ids[0] = 99;
    OK(sigeo_batch_set_get(&g, set, 0));
    ck_assert_int_eq(g.sparse_ids[0], 1);
    ck_assert_int_eq(g.sparse_offsets[4], 5);
    ck_assert(g.targets[1] == 1.0f);
    offs[2] = 0; /* decreasing */
    ck_assert_int_eq(sigeo_batch_set_append(set, &h), SIGEO_ERR_SHAPE);
    ck_assert_str_contains(sigeo_batch_set_last_error(set), "decrease");
    h.sparse_offsets = NULL;
    ck_assert_int_eq(sigeo_batch_set_append(set, &h), SIGEO_ERR_SHAPE);
    h.batch_size = 0;
    ck_assert_int_eq(sigeo_batch_set_append(set, &h), SIGEO_ERR_INVALID_ARG);
    ck_assert_uint_eq(sigeo_batch_set_count(set), 1);
    sigeo_batch_set_destroy(set);
    sigeo_batch_set_destroy(NULL);
    ck_assert_uint_eq(sigeo_batch_set_count(NULL), 0);
    sigeo_dataset_destroy(ds);
}
END_TEST

/* ------------------------------------------- nasrec-full at its real size */

START_TEST(nasrec_full_real_size)
{
    sigeo_synth_options_t so = SIGEO_SYNTH_OPTIONS_INIT;
    so.seed = 3;
    so.n_rows = 1200;
    so.max_cardinality = 50;
    sigeo_dataset_t *all, *tr, *va, *te;
    OK(sigeo_synth_generate(&all, NULL, &so, NULL));
    OK(sigeo_dataset_split(&tr, &va, &te, all, NULL));
    sigeo_space_options_t sp = SIGEO_SPACE_OPTIONS_INIT;
    sp.preset = SIGEO_SPACE_FULL; /* the paper's sizes: 7 blocks */
    /* training a supernet with more than 128 choice points (sigeo_train refused them) */
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    OK(sigeo_dataset_get_info(&info, tr));
    int64_t tables[26];
    size_t nt = 26;
    OK(sigeo_dataset_table_sizes(tables, &nt, tr));
    sp.n_dense = info.n_dense;
    sp.n_sparse_fields = info.n_sparse_fields;
    sp.table_rows = tables;
    sigeo_model_t *m;
    OK(sigeo_space_build(&m, ctx, "nasrec-full", &sp));
    int32_t n;
    OK(sigeo_model_choices(&n, NULL, 0, m));
    ck_assert_int_eq(n, 140);
    sigeo_optimizer_options_t oo = SIGEO_OPTIMIZER_OPTIONS_INIT;
    oo.kind = SIGEO_OPT_ADAGRAD;
    oo.lr = 0.01;
    sigeo_optimizer_t *opt;
    OK(sigeo_optimizer_create(&opt, m, &oo));
    sigeo_train_options_t to = SIGEO_TRAIN_OPTIONS_INIT;
    to.sampling = SIGEO_SAMPLE_ANY_PATH_BINOMIAL;
    to.batch_size = 16;
    to.max_samples = 32;
    int32_t *before = malloc(140 * sizeof *before), *after = malloc(140 * sizeof *after);
    OK(sigeo_model_active_arch(before, 140, m));
    sigeo_train_result_t trr = SIGEO_TRAIN_RESULT_INIT;
    OK(sigeo_train(&trr, m, opt, tr, NULL, NULL, &to, NULL, NULL));
    ck_assert_int_eq(trr.steps, 2);
    OK(sigeo_model_active_arch(after, 140, m));
    ck_assert_mem_eq(before, after, 140 * sizeof *before); /* restored */
    sigeo_optimizer_destroy(opt);
    sigeo_model_destroy(m);
    /* and the whole pipeline on it, the sizes taken from the data */
    sigeo_search_options_t se = SIGEO_SEARCH_OPTIONS_INIT;
    se.population = 2;
    se.sample_size = 1;
    se.children = 1;
    se.cycles = 1;
    se.max_evaluations = 3;
    sigeo_nas_options_t o = SIGEO_NAS_OPTIONS_INIT;
    o.batch_size = 16;
    o.warmup_fraction = 0.02;
    o.k = 2;
    o.top_k = 1;
    o.retrain_epochs = 0.02;
    o.search = &se;
    sigeo_space_options_t sp2 = SIGEO_SPACE_OPTIONS_INIT;
    sp2.preset = SIGEO_SPACE_FULL;
    sigeo_nas_result_t *r;
    OK(sigeo_nas_run_space(&r, ctx, "nasrec-full", &sp2, tr, va, te, &o));
    sigeo_nas_summary_t s = SIGEO_NAS_SUMMARY_INIT;
    OK(sigeo_nas_result_get_summary(&s, r));
    ck_assert_int_eq(s.n_arch, 140);
    ck_assert_uint_eq(s.evaluations, 3);
    ck_assert_int_eq(s.top_n, 1);
    ck_assert(s.test_auc > 0 && s.test_auc < 1);
    OK(sigeo_nas_result_best_arch(after, 140, r));
    OK(sigeo_model_check_arch(sigeo_nas_result_model(r), after, 140));
    sigeo_nas_result_destroy(r);
    free(before);
    free(after);
    sigeo_dataset_destroy(all);
    sigeo_dataset_destroy(tr);
    sigeo_dataset_destroy(va);
    sigeo_dataset_destroy(te);
}
END_TEST

/* -------------------------------------------------------------- structs */

static int never_called(const sigeo_nas_progress_t *p, void *user)
{
    (void)p;
    *(int *)user = 1;
    return 1;
}

/* An older caller's options (ending before `progress`) run with the
 * defaults for the rest; a newer caller's non-zero unknown tail is refused. */
START_TEST(options_by_struct_size)
{
    sigeo_model_t *m = toy(ctx);
    sigeo_search_options_t so = small_search(6);
    struct {
        sigeo_nas_options_t o;
        uint64_t tail;
    } big;
    memset(&big, 0, sizeof big);
    big.o = small_options(&so);
    int called = 0;
    big.o.progress = never_called; /* beyond the old caller's struct_size: not read */
    big.o.progress_user = &called;
    big.o.struct_size = (uint32_t)offsetof(sigeo_nas_options_t, progress);
    sigeo_nas_result_t *r;
    OK(sigeo_nas_run(&r, m, train, valid, test, &big.o));
    ck_assert_int_eq(called, 0);
    sigeo_nas_summary_t s = SIGEO_NAS_SUMMARY_INIT;
    OK(sigeo_nas_result_get_summary(&s, r));
    ck_assert_uint_eq(s.evaluations, 6);
    /* an old caller's smaller summary gets only its prefix */
    struct {
        uint32_t struct_size;
        int32_t n_arch;
        int64_t canary;
    } old = { 8, 0, 77 };
    OK(sigeo_nas_result_get_summary((sigeo_nas_summary_t *)(void *)&old, r));
    ck_assert_int_eq(old.n_arch, POINTS);
    ck_assert_int_eq(old.canary, 77);
    sigeo_nas_result_destroy(r);
    big.o = small_options(&so);
    big.o.struct_size = (uint32_t)sizeof big;
    big.tail = 1;
    ck_assert_int_eq(sigeo_nas_run(&r, m, train, valid, test, &big.o), SIGEO_ERR_UNSUPPORTED);
    ck_assert_str_contains(sigeo_last_error(), "newer");
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(init_functions)
{
    sigeo_nas_options_t a = SIGEO_NAS_OPTIONS_INIT, b;
    memset(&b, 0x5a, sizeof b);
    OK(sigeo_nas_options_init(&b, sizeof b));
    ck_assert_mem_eq(&a, &b, sizeof a);
    sigeo_one_shot_options_t c = SIGEO_ONE_SHOT_OPTIONS_INIT, d;
    OK(sigeo_one_shot_options_init(&d, sizeof d));
    ck_assert_mem_eq(&c, &d, sizeof c);
    ck_assert_int_eq(sigeo_nas_options_init(&b, 4), SIGEO_ERR_INVALID_ARG);
    /* the defaults are NASRec's recipe as documented */
    ck_assert(a.warmup_fraction == 0.01 && a.batch_size == 256 && a.k == 4 && a.top_k == 5);
    ck_assert_int_eq(a.warmup_sampling, SIGEO_SAMPLE_ANY_PATH_BINOMIAL);
    ck_assert(c.lr == 0.04 && c.eps == 1e-2 && c.clip_norm == 5.0 && c.finetune_batch == 512);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("nas");
    TCase *t = tcase_create("nas");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, pipeline_proxy_values);
    tcase_add_test(t, pipeline_ensemble_follows_the_aggregate);
    tcase_add_test(t, pipeline_random_zero_shot);
    tcase_add_test(t, pipeline_one_shot);
    tcase_add_test(t, cancel_each_phase);
    tcase_add_test(t, bad_options_named);
    tcase_add_test(t, retrain_failures_reported);
    tcase_add_test(t, retrain_workers_same_result);
    tcase_add_test(t, retrain_tail_team_same_result);
    tcase_add_test(t, one_shot_is_minus_validation_loss);
    tcase_add_test(t, one_shot_head_finetune);
    tcase_add_test(t, batch_set_owns_copies);
    tcase_add_test(t, batch_set_errors_and_append);
    tcase_add_test(t, init_functions);
    tcase_add_test(t, options_by_struct_size);
    suite_add_tcase(s, t);
    TCase *f = tcase_create("full");
    tcase_add_checked_fixture(f, setup, teardown);
    tcase_set_timeout(f, 300);
    tcase_add_test(f, nasrec_full_real_size);
    suite_add_tcase(s, f);
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
