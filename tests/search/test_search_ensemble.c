/* Ensemble scoring in the search (sigeo_search_options_t.n_ensemble):
 * every evaluated architecture is scored again here with each member proxy
 * (sigeo_proxy_compute, outside the search), the aggregate is computed by
 * this file's own ranking (average ranks, log(rank / n), mean rank, z-score
 * with ddof 0), and the search's choices must follow it: the record
 * callback's score is the aggregate over the candidates scored up to it,
 * sigeo_search_top is the aggregate over all of them sorted, and each cycle
 * report's best and median are those of the aggregate over the population
 * (the last P successful evaluations). Records carry every member's raw
 * score and the provisional aggregate over the set they were scored in;
 * the lazy aggregation over every evaluation, read mid-run (top from the
 * record callback), is over the evaluations so far. An ensemble search
 * checkpointed mid-run and resumed gives the uninterrupted run's records
 * bit for bit. */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "guard_alloc.h"
#include "tmpdir.h"
#include "sigeo/model.h"
#include "sigeo/search.h"
#include "sigeo/stats.h"

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

enum { POINTS = 3, OPTIONS = 4, NB = 6, FEAT = 3, MAXE = 128, NP = 3, POP = 6 };

static sigeo_context_t *ctx;
static float xs[NB * FEAT];
static int32_t labels[NB] = { 0, 1, 1, 0, 1, 0 };

static void setup(void)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.seed = 7;
    o.threads = 1;
    OK(sigeo_context_create(&ctx, &o));
    for (int i = 0; i < NB * FEAT; i++)
        xs[i] = (float)sin(1.0 + 0.7 * i);
}
static void teardown(void)
{
    sigeo_context_destroy(ctx);
}

/* x -> `points` elastic linear layers (widths 1..4) -> relu between -> linear 2 -> CE. */
static sigeo_model_t *toy_points(int points)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "toy"));
    int32_t h = flat_input(m, "x", FEAT);
    for (int i = 0; i < points; i++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", i);
        int32_t c;
        OK(sigeo_model_add_choice(&c, m, name, OPTIONS, (const int64_t[]){ 1, 2, 3, 4 }));
        snprintf(name, sizeof name, "fc%d", i);
        h = linear_on(m, name, h, 4, c);
        snprintf(name, sizeof name, "relu%d", i);
        h = layer_on(m, SIGEO_LAYER_ACTIVATION, name, &h, 1, 0, -1, SIGEO_ACT_RELU);
    }
    h = linear_on(m, "head", h, 2, -1);
    OK(sigeo_model_set_loss(m, h, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    return m;
}

static sigeo_model_t *toy(void)
{
    return toy_points(POINTS);
}

static sigeo_batch_t batch(void)
{
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = NB;
    b.dense = xs;
    b.n_dense = FEAT;
    b.labels = labels;
    return b;
}

static const sigeo_proxy_kind_t KINDS[NP] = { SIGEO_PROXY_GRAD_NORM, SIGEO_PROXY_L2_NORM, SIGEO_PROXY_SNIP };

typedef struct trace {
    int n;
    int32_t arch[MAXE][POINTS];
    double score[MAXE];
    int ok[MAXE];
    /* the ensemble's fields of each record, and the best of sigeo_search_top
     * asked from inside the record callback (when `s` is set) */
    double members[MAXE][NP], aggregate[MAXE], top_mid[MAXE];
    uint64_t over[MAXE];
    uint32_t n_members[MAXE];
    sigeo_search_t *s;
    /* cycle reports: evaluations so far, best and median */
    int n_cycles;
    uint64_t evals[64];
    double best[64], median[64];
} trace_t;

static void record(const sigeo_evaluation_t *e, void *user)
{
    trace_t *t = user;
    ck_assert_int_lt(t->n, MAXE);
    memcpy(t->arch[t->n], e->arch, sizeof t->arch[0]);
    t->score[t->n] = e->score;
    t->ok[t->n] = e->status == SIGEO_OK;
    ck_assert_uint_ge(e->struct_size, sizeof *e);
    t->n_members[t->n] = e->n_members;
    for (uint32_t p = 0; p < e->n_members && p < NP; p++)
        t->members[t->n][p] = e->member_scores[p];
    t->aggregate[t->n] = e->aggregate;
    t->over[t->n] = e->aggregate_over;
    if (t->s) {
        int32_t top[POINTS], n_top = 0;
        double best = NAN;
        OK(sigeo_search_top(top, &best, 1, &n_top, t->s));
        ck_assert_int_eq(n_top, 1);
        t->top_mid[t->n] = best;
    }
    t->n++;
}

static void on_cycle(const sigeo_cycle_report_t *r, void *user)
{
    trace_t *t = user;
    ck_assert_int_lt(t->n_cycles, 64);
    t->evals[t->n_cycles] = r->evaluations;
    t->best[t->n_cycles] = r->best_score;
    t->median[t->n_cycles] = r->median_score;
    t->n_cycles++;
}

/* ---------------------------------------------------- the reference side */

/* Ascending average rank (1 = worst) of v[c] among v[0..n). */
static double rank_of(const double *v, int n, int c)
{
    double r = 1.0;
    for (int k = 0; k < n; k++)
        if (k != c)
            r += v[k] < v[c] ? 1.0 : v[k] == v[c] ? 0.5 : 0.0;
    return r;
}

/* The aggregate of candidates 0..n) with member scores raw[c][p]. */
static void reference(double *out, double raw[][NP], int n, sigeo_rank_aggregation_t method, const double *w)
{
    double v[MAXE];
    for (int c = 0; c < n; c++)
        out[c] = 0.0;
    double wsum = 0.0;
    for (int p = 0; p < NP; p++) {
        wsum += w[p];
        double mean = 0.0, var = 0.0;
        for (int c = 0; c < n; c++)
            v[c] = raw[c][p];
        for (int c = 0; c < n; c++)
            mean += v[c] / n;
        for (int c = 0; c < n; c++)
            var += (v[c] - mean) * (v[c] - mean) / n;
        for (int c = 0; c < n; c++) {
            const double r = rank_of(v, n, c);
            if (method == SIGEO_AGG_LOG_RANK)
                out[c] += w[p] * log(r / n);
            else if (method == SIGEO_AGG_MEAN_RANK)
                out[c] += w[p] * r;
            else if (var > 0)
                out[c] += w[p] * (v[c] - mean) / sqrt(var);
        }
    }
    if (method == SIGEO_AGG_MEAN_RANK)
        for (int c = 0; c < n; c++)
            out[c] /= wsum;
}

static void close_to(double got, double want, const char *what, int i)
{
    ck_assert_msg(fabs(got - want) <= 1e-9 * (1.0 + fabs(want)), "%s %d: %.12g, want %.12g", what, i, got, want);
}

static int cmp_desc(const void *a, const void *b)
{
    const double *x = a, *y = b; /* (score, order) pairs */
    if (x[0] != y[0])
        return x[0] < y[0] ? 1 : -1;
    return (x[1] > y[1]) - (x[1] < y[1]);
}

static void check_search(sigeo_rank_aggregation_t method, const double *weights, sigeo_search_kind_t kind)
{
    sigeo_model_t *m = toy();
    sigeo_search_options_t so = SIGEO_SEARCH_OPTIONS_INIT;
    so.kind = kind;
    so.population = POP;
    so.sample_size = 3;
    so.children = 2;
    so.cycles = 6;
    so.seed = 5;
    so.n_ensemble = NP;
    so.ensemble_aggregate = method;
    const double unit[NP] = { 1, 1, 1 };
    for (int p = 0; p < NP; p++) {
        so.ensemble_kinds[p] = KINDS[p];
        so.ensemble_weights[p] = weights ? weights[p] : 0.0;
    }
    sigeo_search_t *s;
    OK(sigeo_search_create(&s, m, &so));
    sigeo_batch_t b = batch();
    OK(sigeo_search_set_batches(s, &b, 1));
    static trace_t t;
    memset(&t, 0, sizeof t);
    sigeo_search_callbacks_t cb = SIGEO_SEARCH_CALLBACKS_INIT;
    cb.record = record;
    cb.record_user = &t;
    cb.cycle = on_cycle;
    cb.cycle_user = &t;
    OK(sigeo_search_set_callbacks(s, &cb));
    t.s = s;
    OK(sigeo_search_run(s));
    ck_assert_int_ge(t.n, POP + 4);

    /* Each member proxy of each evaluated architecture, outside the search. */
    static double raw[MAXE][NP];
    int n_ok = 0;
    for (int i = 0; i < t.n; i++) {
        ck_assert(t.ok[i]);
        for (int p = 0; p < NP; p++) {
            sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
            o.kind = KINDS[p];
            sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
            OK(sigeo_proxy_compute(m, t.arch[i], POINTS, &b, 1, &o, &r));
            raw[i][p] = r.score;
        }
        n_ok++;
    }
    const double *w = weights ? weights : unit;
    /* The record callback's score: the aggregate over evaluations 0..i. */
    double agg[MAXE];
    for (int i = 0; i < n_ok; i++) {
        reference(agg, raw, i + 1, method, w);
        close_to(t.score[i], agg[i], "recorded score", i);
        /* the record's own fields: members as scored outside, the aggregate
         * is the score, over the i + 1 evaluations so far */
        ck_assert_uint_eq(t.n_members[i], NP);
        for (int p = 0; p < NP; p++)
            close_to(t.members[i][p], raw[i][p], "member score", i);
        ck_assert(t.aggregate[i] == t.score[i]);
        ck_assert_uint_eq(t.over[i], (uint64_t)i + 1);
        /* the lazy aggregate over every evaluation, read mid-run */
        double best = -INFINITY;
        for (int c = 0; c <= i; c++)
            best = agg[c] > best ? agg[c] : best;
        close_to(t.top_mid[i], best, "top from the record callback", i);
    }
    /* sigeo_search_top: all of them, by the aggregate over all. */
    reference(agg, raw, n_ok, method, w);
    static double order[MAXE][2];
    for (int i = 0; i < n_ok; i++) {
        order[i][0] = agg[i];
        order[i][1] = i;
    }
    qsort(order, (size_t)n_ok, sizeof order[0], cmp_desc);
    int32_t top[5 * POINTS], n_top = 0;
    double top_score[5];
    OK(sigeo_search_top(top, top_score, 5, &n_top, s));
    ck_assert_int_eq(n_top, 5);
    for (int k = 0; k < 5; k++) {
        const int i = (int)order[k][1];
        ck_assert_msg(memcmp(top + k * POINTS, t.arch[i], sizeof t.arch[0]) == 0, "top %d is not evaluation %d", k, i);
        close_to(top_score[k], order[k][0], "top score", k);
    }
    sigeo_search_info_t info = SIGEO_SEARCH_INFO_INIT;
    OK(sigeo_search_get_info(&info, s));
    close_to(info.best_score, order[0][0], "best score", 0);
    /* Each cycle report: the population is the last P evaluations (all
     * succeeded; regularized evolution ages the oldest out), and its best
     * and median are those of the aggregate over the population alone. */
    ck_assert_int_eq(t.n_cycles, (int)so.cycles + 1);
    for (int g = 0; g < t.n_cycles; g++) {
        const int end = (int)t.evals[g], start = end > POP ? end - POP : 0, n = end - start;
        double pa[MAXE], sorted[MAXE];
        reference(pa, raw + start, n, method, w);
        memcpy(sorted, pa, (size_t)n * sizeof *pa);
        for (int i = 1; i < n; i++) /* insertion sort, ascending */
            for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
                const double tmp = sorted[j];
                sorted[j] = sorted[j - 1];
                sorted[j - 1] = tmp;
            }
        const double median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
        close_to(t.best[g], sorted[n - 1], "population best", g);
        close_to(t.median[g], median, "population median", g);
    }
    sigeo_search_destroy(s);
    sigeo_model_destroy(m);
}

/* A candidate whose scoring fails records NaN for every member not scored
 * (search.h), not the 0 of a zeroed result: ZiCo needs two batches and gets
 * one, so it fails first and l2_norm is never reached. */
static void record_failed(const sigeo_evaluation_t *e, void *user)
{
    int *n = user;
    ck_assert_int_ne(e->status, SIGEO_OK);
    ck_assert_uint_eq(e->n_members, 2);
    ck_assert_ptr_nonnull(e->member_scores);
    ck_assert_msg(isnan(e->member_scores[0]) && isnan(e->member_scores[1]), "members %g %g", e->member_scores[0],
                  e->member_scores[1]);
    ck_assert(isnan(e->aggregate));
    (*n)++;
}

START_TEST(a_failed_candidate_records_nan_members)
{
    sigeo_model_t *m = toy();
    sigeo_search_options_t so = SIGEO_SEARCH_OPTIONS_INIT;
    so.population = 3;
    so.sample_size = 2;
    so.children = 1;
    so.cycles = 1;
    so.seed = 5;
    so.n_ensemble = 2;
    so.ensemble_kinds[0] = SIGEO_PROXY_ZICO;
    so.ensemble_kinds[1] = SIGEO_PROXY_L2_NORM;
    sigeo_search_t *s;
    OK(sigeo_search_create(&s, m, &so));
    sigeo_batch_t b = batch();
    OK(sigeo_search_set_batches(s, &b, 1));
    int n = 0;
    sigeo_search_callbacks_t cb = SIGEO_SEARCH_CALLBACKS_INIT;
    cb.record = record_failed;
    cb.record_user = &n;
    OK(sigeo_search_set_callbacks(s, &cb));
    (void)sigeo_search_run(s); /* every candidate fails: the run's status is not what is checked */
    ck_assert_int_gt(n, 0);
    sigeo_search_destroy(s);
    sigeo_model_destroy(m);
}
END_TEST

/* An allocation that fails anywhere in an ensemble search's run leaves the
 * handle usable: the run reports out of memory, and sigeo_search_top /
 * sigeo_search_get_info still answer for what was recorded (before, a
 * failure to grow the ensemble log after the memo insert left an entry
 * without its log row, and every later read failed with "missing from the
 * ensemble log"). Every allocation of the run is failed once, in turn. */
START_TEST(an_allocation_failure_leaves_the_ensemble_search_usable)
{
    /* the allocator may change only while the library holds nothing */
    sigeo_context_destroy(ctx);
    sigeo_allocator_t a = guard_allocator();
    ck_assert_int_eq(sigeo_set_allocator(&a), SIGEO_OK);
    setup();
    /* 4^5 archs and 40 cycles: more than the 64 evaluations the ensemble
     * log and work space first hold, so they grow mid-run */
    sigeo_model_t *m = toy_points(5);
    sigeo_search_options_t so = SIGEO_SEARCH_OPTIONS_INIT;
    so.population = POP;
    so.sample_size = 3;
    so.children = 2;
    so.cycles = 40;
    so.seed = 5;
    so.n_ensemble = 2;
    so.ensemble_aggregate = SIGEO_AGG_LOG_RANK;
    so.ensemble_kinds[0] = SIGEO_PROXY_L2_NORM;
    so.ensemble_kinds[1] = SIGEO_PROXY_PARAMS;
    sigeo_batch_t b = batch();
    uint64_t total = 0, failed_runs = 0;
    for (uint64_t n = 0; n == 0 || n <= total; n++) {
        sigeo_search_t *s;
        guard_fail_at(0, false);
        OK(sigeo_search_create(&s, m, &so));
        OK(sigeo_search_set_batches(s, &b, 1));
        guard_reset();
        guard_fail_at(n, false);
        const sigeo_status_t st = sigeo_search_run(s);
        guard_fail_at(0, false);
        if (n == 0) {
            ck_assert_int_eq(st, SIGEO_OK);
            total = guard_stats().alloc_calls;
            ck_assert_uint_gt(total, 0);
            sigeo_search_info_t info = SIGEO_SEARCH_INFO_INIT;
            OK(sigeo_search_get_info(&info, s));
            ck_assert_uint_gt(info.evaluations, 64);
        } else if (st != SIGEO_OK) {
            failed_runs++;
            ck_assert_msg(st == SIGEO_ERR_NO_MEMORY, "allocation %llu: status %d (%s)", (unsigned long long)n, (int)st,
                          sigeo_search_last_error(s));
        }
        int32_t top[8];
        double best;
        int32_t n_top = 0;
        ck_assert_msg(sigeo_search_top(top, &best, 1, &n_top, s) == SIGEO_OK, "allocation %llu: top: %s",
                      (unsigned long long)n, sigeo_search_last_error(s));
        sigeo_search_info_t info = SIGEO_SEARCH_INFO_INIT;
        ck_assert_msg(sigeo_search_get_info(&info, s) == SIGEO_OK, "allocation %llu: info: %s",
                      (unsigned long long)n, sigeo_search_last_error(s));
        sigeo_search_destroy(s);
    }
    ck_assert_uint_gt(failed_runs, 0); /* the sweep reached the run's allocations */
    sigeo_model_destroy(m);
    teardown();
    ck_assert_int_eq(sigeo_set_allocator(NULL), SIGEO_OK);
    ck_assert_uint_eq(guard_stats().corruptions, 0);
    setup(); /* for the fixture's teardown */
}
END_TEST

START_TEST(log_rank_ensemble_search_follows_the_aggregate)
{
    check_search(SIGEO_AGG_LOG_RANK, NULL, SIGEO_SEARCH_EVOLUTION);
}
END_TEST

START_TEST(mean_rank_and_weighted_z_score_ensembles)
{
    check_search(SIGEO_AGG_MEAN_RANK, NULL, SIGEO_SEARCH_EVOLUTION);
    const double w[NP] = { 1.0, 2.0, 0.5 };
    check_search(SIGEO_AGG_ZSCORE, w, SIGEO_SEARCH_RANDOM);
}
END_TEST

static sigeo_status_t constant(double *score, const int32_t *arch, int32_t n, void *user)
{
    (void)arch;
    (void)n;
    (void)user;
    *score = 1.0;
    return SIGEO_OK;
}

START_TEST(bad_ensembles_are_refused)
{
    sigeo_model_t *m = toy();
    sigeo_search_options_t so = SIGEO_SEARCH_OPTIONS_INIT;
    so.population = 4;
    so.sample_size = 2;
    so.cycles = 1;
    sigeo_search_t *s = NULL;
    so.n_ensemble = SIGEO_SEARCH_ENSEMBLE_MAX + 1;
    ck_assert_int_eq(sigeo_search_create(&s, m, &so), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(sigeo_last_error(), "n_ensemble"));
    so.n_ensemble = 2;
    so.ensemble_kinds[1] = 99;
    ck_assert_int_eq(sigeo_search_create(&s, m, &so), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(sigeo_last_error(), "ensemble_kinds[1]"));
    so.ensemble_kinds[1] = SIGEO_PROXY_L2_NORM;
    so.ensemble_weights[0] = -1.0;
    ck_assert_int_eq(sigeo_search_create(&s, m, &so), SIGEO_ERR_INVALID_ARG);
    so.ensemble_weights[0] = 0.0;
    so.ensemble_aggregate = 7;
    ck_assert_int_eq(sigeo_search_create(&s, m, &so), SIGEO_ERR_INVALID_ARG);
    so.ensemble_aggregate = SIGEO_AGG_MEAN_RANK;
    OK(sigeo_search_create(&s, m, &so));
    /* A score callback is not an ensemble member. */
    sigeo_search_callbacks_t cb = SIGEO_SEARCH_CALLBACKS_INIT;
    cb.score = constant;
    OK(sigeo_search_set_callbacks(s, &cb));
    ck_assert_int_eq(sigeo_search_run(s), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(sigeo_search_last_error(s), "ensemble"));
    sigeo_search_destroy(s);
    sigeo_model_destroy(m);
}
END_TEST

/* ------------------------------------------------ checkpoint and resume */

typedef struct resume_run {
    sigeo_search_t *s;
    const char *path;
    int save_after_cycle; /* save at this cycle's report (-2: never) */
    int cancel_after;     /* cancel once this many records exist (0: never) */
    uint64_t saved_evals;
    int n;
    char line[MAXE][256]; /* every record's fields, doubles in hex: bit for bit */
} resume_run_t;

static void resume_record(const sigeo_evaluation_t *e, void *user)
{
    resume_run_t *r = user;
    ck_assert_int_lt(r->n, MAXE);
    int len = snprintf(r->line[r->n], sizeof r->line[0], "%llu %d %lld %s %a %a %llu",
                       (unsigned long long)e->index, (int)e->status, (long long)e->cycle, e->arch_text, e->score,
                       e->aggregate, (unsigned long long)e->aggregate_over);
    for (uint32_t p = 0; p < e->n_members; p++)
        len += snprintf(r->line[r->n] + len, sizeof r->line[0] - (size_t)len, " %a", e->member_scores[p]);
    r->n++;
}

static void resume_cycle(const sigeo_cycle_report_t *c, void *user)
{
    resume_run_t *r = user;
    if (c->cycle == r->save_after_cycle) {
        OK(sigeo_search_save(r->s, r->path));
        r->saved_evals = c->evaluations;
    }
}

static int resume_cancel(void *user)
{
    const resume_run_t *r = user;
    return r->cancel_after > 0 && r->n >= r->cancel_after;
}

static sigeo_search_options_t resume_options(sigeo_rank_aggregation_t method)
{
    sigeo_search_options_t so = SIGEO_SEARCH_OPTIONS_INIT;
    so.population = POP;
    so.sample_size = 3;
    so.children = 2;
    so.cycles = 8;
    so.seed = 9;
    so.n_ensemble = NP;
    so.ensemble_aggregate = method;
    for (int p = 0; p < NP; p++)
        so.ensemble_kinds[p] = KINDS[p];
    so.ensemble_weights[2] = 0.5; /* non-zero: the weights travel with the file */
    so.ensemble_weights[0] = so.ensemble_weights[1] = 1.0;
    return so;
}

/* One ensemble search from a fresh context (seed 7, as setup); load: the
 * checkpoint first. *top_out: the best 4 scores after the run. */
static sigeo_status_t resume_search(resume_run_t *r, sigeo_rank_aggregation_t method, bool load, double *top_out)
{
    teardown();
    setup();
    sigeo_model_t *m = toy();
    sigeo_search_options_t so = resume_options(method);
    OK(sigeo_search_create(&r->s, m, &so));
    sigeo_batch_t b = batch();
    OK(sigeo_search_set_batches(r->s, &b, 1));
    if (load)
        OK(sigeo_search_load(r->s, r->path));
    sigeo_search_callbacks_t cb = SIGEO_SEARCH_CALLBACKS_INIT;
    cb.record = resume_record;
    cb.record_user = r;
    cb.cycle = resume_cycle;
    cb.cycle_user = r;
    cb.cancel = resume_cancel;
    cb.cancel_user = r;
    OK(sigeo_search_set_callbacks(r->s, &cb));
    sigeo_status_t st = sigeo_search_run(r->s);
    int32_t archs[4 * POINTS], n_top = 0;
    OK(sigeo_search_top(archs, top_out, 4, &n_top, r->s));
    ck_assert_int_eq(n_top, 4);
    sigeo_search_destroy(r->s);
    sigeo_model_destroy(m);
    return st;
}

START_TEST(a_resumed_ensemble_search_equals_an_uninterrupted_one)
{
    char dir[256], path[512];
    tu_make_dir(dir, sizeof dir, "ens_ckpt");
    snprintf(path, sizeof path, "%s", tu_path_in(dir, "search.ckpt"));
    const sigeo_rank_aggregation_t methods[3] = { SIGEO_AGG_LOG_RANK, SIGEO_AGG_MEAN_RANK, SIGEO_AGG_ZSCORE };
    for (int mi = 0; mi < 3; mi++) {
        static resume_run_t a, b, c;
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        memset(&c, 0, sizeof c);
        a.path = b.path = c.path = path;
        a.save_after_cycle = c.save_after_cycle = -2;
        b.save_after_cycle = 2;   /* the checkpoint of cycle 2 ... */
        b.cancel_after = POP + 9; /* ... then cancelled mid-cycle 4, its later work lost */
        double top_a[4], top_b[4], top_c[4];
        OK(resume_search(&a, methods[mi], false, top_a));
        ck_assert_int_eq(resume_search(&b, methods[mi], false, top_b), SIGEO_ERR_CANCELLED);
        ck_assert_uint_eq(b.saved_evals, POP + 3 * 2);
        ck_assert_int_gt(b.n, (int)b.saved_evals);
        OK(resume_search(&c, methods[mi], true, top_c));
        ck_assert_int_eq((int)b.saved_evals + c.n, a.n);
        for (int i = 0; i < (int)b.saved_evals; i++)
            ck_assert_str_eq(b.line[i], a.line[i]);
        for (int i = 0; i < c.n; i++)
            ck_assert_msg(strcmp(c.line[i], a.line[b.saved_evals + i]) == 0, "method %d record %d: %s vs %s", mi,
                          (int)b.saved_evals + i, c.line[i], a.line[b.saved_evals + i]);
        ck_assert(memcmp(top_a, top_c, sizeof top_a) == 0);
    }
    /* the checkpoint (z-score, weights 1 1 0.5) only fits that ensemble */
    sigeo_model_t *m = toy();
    sigeo_search_t *s;
    sigeo_search_options_t so = resume_options(SIGEO_AGG_ZSCORE);
    so.ensemble_weights[2] = 1.0;
    OK(sigeo_search_create(&s, m, &so));
    ck_assert_int_eq(sigeo_search_load(s, path), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(sigeo_search_last_error(s), "another ensemble"));
    sigeo_search_destroy(s);
    so = resume_options(SIGEO_AGG_ZSCORE);
    so.n_ensemble = 0; /* not an ensemble at all */
    OK(sigeo_search_create(&s, m, &so));
    ck_assert_int_eq(sigeo_search_load(s, path), SIGEO_ERR_INVALID_ARG);
    sigeo_search_destroy(s);
    /* the member-score log cut short */
    FILE *f = fopen(path, "rb");
    static char buf[1 << 16];
    const size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    ck_assert_uint_lt(len, sizeof buf);
    f = fopen(tu_path_in(dir, "short"), "wb");
    fwrite(buf, 1, len - 8, f);
    fclose(f);
    so = resume_options(SIGEO_AGG_ZSCORE);
    OK(sigeo_search_create(&s, m, &so));
    ck_assert_int_eq(sigeo_search_load(s, tu_path_in(dir, "short")), SIGEO_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(sigeo_search_last_error(s), "member scores"));
    /* a failure leaves the search fresh: the whole file still loads */
    OK(sigeo_search_load(s, path));
    sigeo_search_destroy(s);
    sigeo_model_destroy(m);
    tu_remove_dir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("search_ensemble");
    TCase *tc = tcase_create("ensemble");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, log_rank_ensemble_search_follows_the_aggregate);
    tcase_add_test(tc, mean_rank_and_weighted_z_score_ensembles);
    tcase_add_test(tc, bad_ensembles_are_refused);
    tcase_add_test(tc, a_resumed_ensemble_search_equals_an_uninterrupted_one);
    tcase_add_test(tc, an_allocation_failure_leaves_the_ensemble_search_usable);
    tcase_add_test(tc, a_failed_candidate_records_nan_members);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
