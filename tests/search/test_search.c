/* Regularized evolution on toy spaces with deterministic scores: it finds a
 * known optimum, is reproducible for a seed, ages its population, never
 * scores invalid architectures, records failures, respects budgets and
 * cancellation, and behaves when the space is smaller than the population. */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigeo/model.h"
#include "sigeo/search.h"
#include "tmpdir.h"

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

enum { POINTS = 6, OPTIONS = 4 };
static const int32_t TARGET[POINTS] = { 3, 1, 0, 2, 3, 1 };

static sigeo_context_t *ctx;

/* x -> 6 elastic linear layers (widths 1..4 per point) -> linear 2 -> CE. */
static sigeo_model_t *toy(int points)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "toy"));
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "x";
    in.features = 3;
    int32_t h;
    OK(sigeo_model_add_input(&h, m, &in));
    for (int i = 0; i < points; i++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", i);
        int32_t c;
        OK(sigeo_model_add_choice(&c, m, name, OPTIONS, (const int64_t[]){ 1, 2, 3, 4 }));
        snprintf(name, sizeof name, "fc%d", i);
        sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
        d.name = name;
        d.inputs = &h;
        d.n_inputs = 1;
        d.units = 4;
        d.width_choice = c;
        OK(sigeo_model_add_layer(&h, m, &d));
    }
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.name = "head";
    d.inputs = &h;
    d.n_inputs = 1;
    d.units = 2;
    OK(sigeo_model_add_layer(&h, m, &d));
    OK(sigeo_model_set_loss(m, h, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    return m;
}

static void setup(void)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.seed = 99;
    OK(sigeo_context_create(&ctx, &o));
}
static void teardown(void)
{
    sigeo_context_destroy(ctx);
}

/* Known optimum: minus the squared distance to TARGET. */
static sigeo_status_t distance_score(double *score, const int32_t *arch, int32_t n, void *user)
{
    int *calls = user;
    if (calls)
        (*calls)++;
    double d = 0;
    for (int i = 0; i < n; i++)
        d += (arch[i] - TARGET[i]) * (arch[i] - TARGET[i]);
    *score = -d;
    return SIGEO_OK;
}

typedef struct trace {
    char text[4096][32];
    int n;
    int invalid_scored;
    int failed_recorded;
    int max_population;
} trace_t;

static void record(const sigeo_evaluation_t *e, void *user)
{
    trace_t *t = user;
    if (t->n < 4096)
        snprintf(t->text[t->n++], sizeof t->text[0], "%s", e->arch_text);
    if (e->arch[0] == 0 && e->arch[1] == 0)
        t->invalid_scored++;
    if (e->status != SIGEO_OK) {
        t->failed_recorded++;
        ck_assert(strlen(e->message) > 0);
    }
}

static void on_cycle(const sigeo_cycle_report_t *r, void *user)
{
    trace_t *t = user;
    if ((int)r->population > t->max_population)
        t->max_population = (int)r->population;
    ck_assert(r->best_score >= r->median_score);
}

/* Rejects every architecture whose first two points are 0. */
static sigeo_status_t no_double_zero(int *valid, const int32_t *arch, int32_t n, void *user)
{
    (void)n;
    (void)user;
    *valid = !(arch[0] == 0 && arch[1] == 0);
    return SIGEO_OK;
}

static trace_t *run_toy(uint64_t seed, uint32_t cycles, sigeo_search_kind_t kind, int *best_found)
{
    teardown();
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.seed = seed;
    OK(sigeo_context_create(&ctx, &co));
    sigeo_model_t *m = toy(POINTS);
    sigeo_search_options_t o = SIGEO_SEARCH_OPTIONS_INIT;
    o.kind = kind;
    o.population = 16;
    o.sample_size = 4;
    o.children = 2;
    o.cycles = cycles;
    o.seed = seed;
    sigeo_search_t *s;
    OK(sigeo_search_create(&s, m, &o));
    trace_t *t = calloc(1, sizeof *t);
    sigeo_search_callbacks_t cb = SIGEO_SEARCH_CALLBACKS_INIT;
    cb.score = distance_score;
    cb.valid = no_double_zero;
    cb.record = record;
    cb.record_user = t;
    cb.cycle = on_cycle;
    cb.cycle_user = t;
    OK(sigeo_search_set_callbacks(s, &cb));
    OK(sigeo_search_run(s));
    int32_t best[POINTS];
    double score;
    int32_t count;
    OK(sigeo_search_top(best, &score, 1, &count, s));
    ck_assert_int_eq(count, 1);
    *best_found = memcmp(best, TARGET, sizeof best) == 0;
    sigeo_search_info_t info = SIGEO_SEARCH_INFO_INIT;
    OK(sigeo_search_get_info(&info, s));
    ck_assert_uint_eq(info.evaluations, (uint64_t)t->n);
    ck_assert_uint_eq(info.distinct, (uint64_t)t->n);
    sigeo_search_destroy(s);
    sigeo_model_destroy(m);
    return t;
}

START_TEST(evolution_finds_the_known_optimum)
{
    int found;
    trace_t *t = run_toy(1, 300, SIGEO_SEARCH_EVOLUTION, &found);
    ck_assert_msg(found, "the optimum was not found in %d evaluations", t->n);
    ck_assert_int_eq(t->invalid_scored, 0);
    ck_assert_int_le(t->max_population, 16);
    /* every architecture scored once */
    for (int i = 0; i < t->n; i++)
        for (int j = i + 1; j < t->n; j++)
            ck_assert_str_ne(t->text[i], t->text[j]);
    free(t);
}
END_TEST

START_TEST(same_seed_same_trajectory_other_seed_differs)
{
    int f;
    trace_t *a = run_toy(5, 60, SIGEO_SEARCH_EVOLUTION, &f), *b = run_toy(5, 60, SIGEO_SEARCH_EVOLUTION, &f);
    trace_t *c = run_toy(6, 60, SIGEO_SEARCH_EVOLUTION, &f);
    ck_assert_int_eq(a->n, b->n);
    for (int i = 0; i < a->n; i++)
        ck_assert_str_eq(a->text[i], b->text[i]);
    int differ = a->n != c->n;
    for (int i = 0; !differ && i < a->n; i++)
        differ = strcmp(a->text[i], c->text[i]) != 0;
    ck_assert(differ);
    free(a);
    free(b);
    free(c);
}
END_TEST

START_TEST(evolution_beats_random_search_on_average)
{
    /* With the same budget, evolution's best is at least as close to the
     * optimum as random search's, summed over seeds (a sanity check of the
     * selection pressure, not a theorem: 5 seeds). */
    double evo = 0, rnd = 0;
    for (uint64_t seed = 10; seed < 15; seed++) {
        for (int kind = 0; kind < 2; kind++) {
            teardown();
            sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
            co.seed = seed;
            OK(sigeo_context_create(&ctx, &co));
            sigeo_model_t *m = toy(POINTS);
            sigeo_search_options_t o = SIGEO_SEARCH_OPTIONS_INIT;
            o.kind = kind;
            o.population = 16;
            o.sample_size = 4;
            o.children = 2;
            o.cycles = 40;
            o.seed = seed;
            sigeo_search_t *s;
            OK(sigeo_search_create(&s, m, &o));
            sigeo_search_callbacks_t cb = SIGEO_SEARCH_CALLBACKS_INIT;
            cb.score = distance_score;
            OK(sigeo_search_set_callbacks(s, &cb));
            OK(sigeo_search_run(s));
            sigeo_search_info_t info = SIGEO_SEARCH_INFO_INIT;
            OK(sigeo_search_get_info(&info, s));
            *(kind == 0 ? &evo : &rnd) += info.best_score;
            sigeo_search_destroy(s);
            sigeo_model_destroy(m);
        }
    }
    ck_assert_msg(evo >= rnd, "evolution %g vs random %g", evo, rnd);
}
END_TEST

/* Fails every architecture whose point 2 is 3. */
static sigeo_status_t flaky_score(double *score, const int32_t *arch, int32_t n, void *user)
{
    if (arch[2] == 3)
        return SIGEO_ERR_NONFINITE;
    return distance_score(score, arch, n, user);
}

START_TEST(failed_candidates_are_recorded_and_never_join)
{
    sigeo_model_t *m = toy(POINTS);
    sigeo_search_options_t o = SIGEO_SEARCH_OPTIONS_INIT;
    o.population = 16;
    o.sample_size = 4;
    o.children = 2;
    o.cycles = 50;
    sigeo_search_t *s;
    OK(sigeo_search_create(&s, m, &o));
    trace_t *t = calloc(1, sizeof *t);
    sigeo_search_callbacks_t cb = SIGEO_SEARCH_CALLBACKS_INIT;
    cb.score = flaky_score;
    cb.record = record;
    cb.record_user = t;
    OK(sigeo_search_set_callbacks(s, &cb));
    OK(sigeo_search_run(s));
    sigeo_search_info_t info = SIGEO_SEARCH_INFO_INIT;
    OK(sigeo_search_get_info(&info, s));
    ck_assert_uint_gt(info.failed, 0);
    ck_assert_int_eq((int)info.failed, t->failed_recorded);
    int32_t top[10 * POINTS];
    int32_t count;
    OK(sigeo_search_top(top, NULL, 10, &count, s));
    for (int i = 0; i < count; i++)
        ck_assert_int_ne(top[i * POINTS + 2], 3);
    free(t);
    sigeo_search_destroy(s);
    sigeo_model_destroy(m);
}
END_TEST

static int stop_after(void *user)
{
    int *calls = user;
    return *calls >= 10;
}

START_TEST(budgets_and_cancel_end_the_search)
{
    sigeo_model_t *m = toy(POINTS);
    sigeo_search_options_t o = SIGEO_SEARCH_OPTIONS_INIT;
    o.population = 8;
    o.sample_size = 2;
    o.children = 2;
    o.cycles = 1000;
    o.max_evaluations = 25;
    sigeo_search_t *s;
    OK(sigeo_search_create(&s, m, &o));
    int calls = 0;
    sigeo_search_callbacks_t cb = SIGEO_SEARCH_CALLBACKS_INIT;
    cb.score = distance_score;
    cb.score_user = &calls;
    OK(sigeo_search_set_callbacks(s, &cb));
    OK(sigeo_search_run(s));
    ck_assert_int_eq(calls, 25);
    sigeo_search_destroy(s);
    o.max_evaluations = 0;
    OK(sigeo_search_create(&s, m, &o));
    calls = 0;
    cb.cancel = stop_after;
    cb.cancel_user = &calls;
    OK(sigeo_search_set_callbacks(s, &cb));
    ck_assert_int_eq(sigeo_search_run(s), SIGEO_ERR_CANCELLED);
    ck_assert_int_eq(calls, 10);
    sigeo_search_destroy(s);
    /* an evaluation budget below the population still ends */
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(a_space_smaller_than_the_population_is_handled)
{
    /* 2 points x 4 options = 16 architectures, population 32. */
    sigeo_model_t *m = toy(2);
    sigeo_search_options_t o = SIGEO_SEARCH_OPTIONS_INIT;
    o.population = 32;
    o.sample_size = 8;
    o.children = 4;
    o.cycles = 10;
    o.max_attempts = 200;
    sigeo_search_t *s;
    OK(sigeo_search_create(&s, m, &o));
    sigeo_search_callbacks_t cb = SIGEO_SEARCH_CALLBACKS_INIT;
    cb.score = distance_score;
    OK(sigeo_search_set_callbacks(s, &cb));
    OK(sigeo_search_run(s));
    sigeo_search_info_t info = SIGEO_SEARCH_INFO_INIT;
    OK(sigeo_search_get_info(&info, s));
    ck_assert_uint_eq(info.distinct, 16);
    ck_assert_uint_eq(info.evaluations, 16);
    ck_assert_int_eq(info.cycles_done, 10);
    int32_t top[2];
    double sc;
    int32_t count;
    OK(sigeo_search_top(top, &sc, 1, &count, s));
    ck_assert(top[0] == TARGET[0] && top[1] == TARGET[1]);
    sigeo_search_destroy(s);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(bad_options_and_arch_hash)
{
    sigeo_model_t *m = toy(2);
    sigeo_search_options_t o = SIGEO_SEARCH_OPTIONS_INIT;
    o.sample_size = o.population + 1;
    sigeo_search_t *s;
    ck_assert_int_eq(sigeo_search_create(&s, m, &o), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_null(s);
    o = (sigeo_search_options_t)SIGEO_SEARCH_OPTIONS_INIT;
    OK(sigeo_search_create(&s, m, &o));
    ck_assert_int_eq(sigeo_search_run(s), SIGEO_ERR_INVALID_ARG); /* no scorer, no batches */
    ck_assert_ptr_nonnull(strstr(sigeo_search_last_error(s), "scorer"));
    sigeo_search_destroy(s);
    sigeo_model_destroy(m);
    /* FNV-1a of "3,0,12" computed by hand-rolled loop here */
    const char *text = "3,0,12";
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = text; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 0x100000001b3ull;
    }
    ck_assert_uint_eq(sigeo_arch_hash((const int32_t[]){ 3, 0, 12 }, 3), h);
}
END_TEST

/* ------------------------------------------- the map hook (SIGEO_1.1) */

/* Every field of every record that does not measure time. */
typedef struct full_trace {
    char line[2048][96];
    int n;
    int map_calls;
} full_trace_t;

static void full_record(const sigeo_evaluation_t *e, void *user)
{
    full_trace_t *t = user;
    if (t->n < 2048)
        snprintf(t->line[t->n++], sizeof t->line[0], "%llu %llx %lld %d %.17g %s |%s", (unsigned long long)e->index,
                 (unsigned long long)e->hash, (long long)e->cycle, (int)e->status, e->score, e->arch_text,
                 e->message);
}

/* Three maps that spread the tasks differently: in order, in reverse, and
 * every other one first. Each writes only its own result slots. */
typedef struct map_kind {
    int order; /* 0 in order, 1 reverse, 2 odd indices first */
    full_trace_t *t;
} map_kind_t;

static sigeo_status_t test_map(void *results, size_t size, int64_t count, sigeo_task_fn task, void *task_user,
                               void *user)
{
    map_kind_t *k = user;
    k->t->map_calls++;
    for (int64_t j = 0; j < count; j++) {
        int64_t i = k->order == 0 ? j : k->order == 1 ? count - 1 - j : (j < count / 2 ? 2 * j + 1 : 2 * (j - count / 2));
        sigeo_status_t st = task((char *)results + (size_t)i * size, i, task_user);
        if (st != SIGEO_OK)
            return st;
    }
    return SIGEO_OK;
}

static full_trace_t *run_mapped(sigeo_search_kind_t kind, int order, uint64_t max_evaluations)
{
    teardown();
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.seed = 5;
    OK(sigeo_context_create(&ctx, &co));
    sigeo_model_t *m = toy(POINTS);
    sigeo_search_options_t o = SIGEO_SEARCH_OPTIONS_INIT;
    o.kind = kind;
    o.population = 12;
    o.sample_size = 4;
    o.children = 3;
    o.cycles = 30;
    o.seed = 5;
    o.max_evaluations = max_evaluations;
    o.mutation_schedule = SIGEO_MUTATE_NASREC;
    sigeo_search_t *s;
    OK(sigeo_search_create(&s, m, &o));
    full_trace_t *t = calloc(1, sizeof *t);
    map_kind_t mk = { order, t };
    sigeo_search_callbacks_t cb = SIGEO_SEARCH_CALLBACKS_INIT;
    cb.score = flaky_score; /* some candidates fail: failures travel through the map too */
    cb.valid = no_double_zero;
    cb.record = full_record;
    cb.record_user = t;
    if (order >= 0) {
        cb.map = test_map;
        cb.map_user = &mk;
    }
    OK(sigeo_search_set_callbacks(s, &cb));
    OK(sigeo_search_run(s));
    sigeo_search_destroy(s);
    sigeo_model_destroy(m);
    return t;
}

START_TEST(a_map_gives_the_same_search_whatever_its_order)
{
    const sigeo_search_kind_t kinds[2] = { SIGEO_SEARCH_EVOLUTION, SIGEO_SEARCH_RANDOM };
    const uint64_t budgets[2] = { 0, 50 }; /* 50: the budget cuts a cycle in the middle */
    for (int k = 0; k < 2; k++)
        for (int b = 0; b < 2; b++) {
            full_trace_t *ref = run_mapped(kinds[k], -1, budgets[b]);
            ck_assert_int_gt(ref->n, 12);
            for (int order = 0; order < 3; order++) {
                full_trace_t *t = run_mapped(kinds[k], order, budgets[b]);
                ck_assert_int_eq(t->n, ref->n);
                /* batches: the population in rounds, then one per cycle */
                ck_assert_int_gt(t->map_calls, 0);
                ck_assert_int_lt(t->map_calls, t->n);
                for (int i = 0; i < t->n; i++)
                    ck_assert_msg(strcmp(t->line[i], ref->line[i]) == 0, "kind %d budget %d order %d record %d: %s vs %s",
                                  k, (int)budgets[b], order, i, t->line[i], ref->line[i]);
                free(t);
            }
            free(ref);
        }
}
END_TEST

static sigeo_status_t failing_map(void *results, size_t size, int64_t count, sigeo_task_fn task, void *task_user,
                                  void *user)
{
    (void)results, (void)size, (void)count, (void)task, (void)task_user, (void)user;
    return sigeo_set_last_error(SIGEO_ERR_IO, "the peers are gone");
}

START_TEST(a_failing_map_stops_the_search_with_its_message)
{
    sigeo_model_t *m = toy(POINTS);
    sigeo_search_options_t o = SIGEO_SEARCH_OPTIONS_INIT;
    o.population = 8;
    o.sample_size = 2;
    o.children = 2;
    o.cycles = 5;
    sigeo_search_t *s;
    OK(sigeo_search_create(&s, m, &o));
    sigeo_search_callbacks_t cb = SIGEO_SEARCH_CALLBACKS_INIT;
    cb.score = distance_score;
    cb.map = failing_map;
    OK(sigeo_search_set_callbacks(s, &cb));
    ck_assert_int_eq(sigeo_search_run(s), SIGEO_ERR_IO);
    ck_assert_ptr_nonnull(strstr(sigeo_search_last_error(s), "the peers are gone"));
    sigeo_search_info_t info = SIGEO_SEARCH_INFO_INIT;
    OK(sigeo_search_get_info(&info, s));
    ck_assert_uint_eq(info.evaluations, 0);
    sigeo_search_destroy(s);
    sigeo_model_destroy(m);
}
END_TEST

/* -------------------------------------- checkpoints and resume (SIGEO_1.1) */

typedef struct ckpt {
    sigeo_search_t *s;
    const char *path;
    full_trace_t *t;
    int every, saves;
    int stop_at;            /* cancel once this many records exist (0: never) */
    uint64_t saved_evals;
} ckpt_t;

static void save_every(const sigeo_cycle_report_t *r, void *user)
{
    ckpt_t *c = user;
    if (r->cycle >= 0 && (r->cycle + 1) % c->every == 0) {
        OK(sigeo_search_save(c->s, c->path));
        c->saved_evals = r->evaluations;
        c->saves++;
    }
}

static int stop_at(void *user)
{
    ckpt_t *c = user;
    return c->stop_at > 0 && c->t->n >= c->stop_at;
}

/* The options of every checkpoint test's search. */
static sigeo_search_options_t ckpt_options(void)
{
    sigeo_search_options_t o = SIGEO_SEARCH_OPTIONS_INIT;
    o.population = 12;
    o.sample_size = 4;
    o.children = 3;
    o.cycles = 20;
    o.seed = 5;
    o.mutation_schedule = SIGEO_MUTATE_NASREC;
    return o;
}

/* One search of the toy space from a fresh context (seed 5); resume: load
 * `path` first. Returns the records; *st the run's status. */
static full_trace_t *checkpointed(ckpt_t *c, bool resume, sigeo_status_t *st, int32_t *top, int32_t *n_top)
{
    teardown();
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.seed = 5;
    OK(sigeo_context_create(&ctx, &co));
    sigeo_model_t *m = toy(POINTS);
    sigeo_search_options_t o = ckpt_options();
    OK(sigeo_search_create(&c->s, m, &o));
    c->t = calloc(1, sizeof *c->t);
    if (resume)
        OK(sigeo_search_load(c->s, c->path));
    sigeo_search_callbacks_t cb = SIGEO_SEARCH_CALLBACKS_INIT;
    cb.score = flaky_score;
    cb.valid = no_double_zero;
    cb.record = full_record;
    cb.record_user = c->t;
    cb.cycle = save_every;
    cb.cycle_user = c;
    cb.cancel = stop_at;
    cb.cancel_user = c;
    OK(sigeo_search_set_callbacks(c->s, &cb));
    *st = sigeo_search_run(c->s);
    OK(sigeo_search_top(top, NULL, 5, n_top, c->s));
    sigeo_search_destroy(c->s);
    sigeo_model_destroy(m);
    return c->t;
}

START_TEST(a_resumed_search_equals_an_uninterrupted_one)
{
    char dir[256];
    tu_make_dir(dir, sizeof dir, "search_ckpt");
    char path[512]; /* tu_path_in's buffers rotate: keep a copy */
    snprintf(path, sizeof path, "%s", tu_path_in(dir, "search.ckpt"));
    int32_t top_a[5 * POINTS], top_c[5 * POINTS], top_b[5 * POINTS];
    int32_t na, nb, nc;
    sigeo_status_t st;
    ckpt_t a = { NULL, path, NULL, 1000, 0, 0, 0 };
    full_trace_t *ta = checkpointed(&a, false, &st, top_a, &na);
    ck_assert_int_eq(st, SIGEO_OK);
    /* interrupted in the middle of a cycle, after a checkpoint every 3 cycles */
    ckpt_t b = { NULL, path, NULL, 3, 0, 40, 0 };
    full_trace_t *tb = checkpointed(&b, false, &st, top_b, &nb);
    ck_assert_int_eq(st, SIGEO_ERR_CANCELLED);
    ck_assert_int_gt(b.saves, 0);
    ck_assert_int_lt((int)b.saved_evals, tb->n); /* work after the checkpoint was lost */
    ckpt_t c = { NULL, path, NULL, 1000, 0, 0, 0 };
    full_trace_t *tc = checkpointed(&c, true, &st, top_c, &nc);
    ck_assert_int_eq(st, SIGEO_OK);
    /* the records before the checkpoint (run b) and after it (run c) are run a's */
    ck_assert_int_eq((int)b.saved_evals + tc->n, ta->n);
    for (int i = 0; i < (int)b.saved_evals; i++)
        ck_assert_str_eq(tb->line[i], ta->line[i]);
    for (int i = 0; i < tc->n; i++)
        ck_assert_msg(strcmp(tc->line[i], ta->line[b.saved_evals + i]) == 0, "record %d: %s vs %s",
                      (int)b.saved_evals + i, tc->line[i], ta->line[b.saved_evals + i]);
    ck_assert_int_eq(nc, na);
    ck_assert(memcmp(top_c, top_a, (size_t)na * POINTS * sizeof(int32_t)) == 0);
    /* A version-1 checkpoint (before ensembles): version 2 is version 1
     * with the ensemble section appended, which for a search without an
     * ensemble is its 112-byte head alone (count, aggregation, 8 kinds, 8
     * weights, rows). Cut it off and mark the file version 1: it loads and
     * resumes to the same records. */
    {
        static char v1[1 << 16];
        FILE *f1 = fopen(path, "rb");
        const size_t n1 = fread(v1, 1, sizeof v1, f1);
        fclose(f1);
        ck_assert_uint_lt(n1, sizeof v1);
        ck_assert_uint_gt(n1, 112);
        uint32_t version;
        memcpy(&version, v1 + 8, sizeof version);
        ck_assert_uint_eq(version, 2);
        version = 1;
        memcpy(v1 + 8, &version, sizeof version);
        char old_path[512];
        snprintf(old_path, sizeof old_path, "%s", tu_path_in(dir, "v1.ckpt"));
        f1 = fopen(old_path, "wb");
        fwrite(v1, 1, n1 - 112, f1);
        fclose(f1);
        int32_t top_d[5 * POINTS], nd;
        ckpt_t d = { NULL, old_path, NULL, 1000, 0, 0, 0 };
        full_trace_t *td = checkpointed(&d, true, &st, top_d, &nd);
        ck_assert_int_eq(st, SIGEO_OK);
        ck_assert_int_eq(td->n, tc->n);
        for (int i = 0; i < td->n; i++)
            ck_assert_str_eq(td->line[i], tc->line[i]);
        ck_assert_int_eq(nd, na);
        ck_assert(memcmp(top_d, top_a, (size_t)na * POINTS * sizeof(int32_t)) == 0);
        free(td);
        /* a version this library does not know */
        version = 3;
        memcpy(v1 + 8, &version, sizeof version);
        f1 = fopen(old_path, "wb");
        fwrite(v1, 1, n1, f1);
        fclose(f1);
        ckpt_t e = { NULL, old_path, NULL, 1000, 0, 0, 0 };
        teardown();
        sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
        co.seed = 5;
        OK(sigeo_context_create(&ctx, &co));
        sigeo_model_t *m3 = toy(POINTS);
        sigeo_search_options_t o3 = ckpt_options();
        OK(sigeo_search_create(&e.s, m3, &o3));
        ck_assert_int_eq(sigeo_search_load(e.s, old_path), SIGEO_ERR_UNSUPPORTED);
        ck_assert_ptr_nonnull(strstr(sigeo_search_last_error(e.s), "version 3"));
        sigeo_search_destroy(e.s);
        sigeo_model_destroy(m3);
    }
    free(ta);
    free(tb);
    free(tc);
    /* a checkpoint only fits its own kind of search, and only a fresh one */
    sigeo_model_t *m = toy(POINTS);
    sigeo_search_options_t o = ckpt_options();
    sigeo_search_t *s;
    o.population = 13;
    OK(sigeo_search_create(&s, m, &o));
    ck_assert_int_eq(sigeo_search_load(s, path), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(sigeo_search_last_error(s), "another search"));
    sigeo_search_destroy(s);
    o.population = 12;
    OK(sigeo_search_create(&s, m, &o));
    FILE *f = fopen(tu_path_in(dir, "junk"), "wb");
    fputs("not a checkpoint at all, just some text that is long enough to be read", f);
    fclose(f);
    ck_assert_int_eq(sigeo_search_load(s, tu_path_in(dir, "junk")), SIGEO_ERR_FORMAT);
    ck_assert_int_eq(sigeo_search_load(s, tu_path_in(dir, "missing")), SIGEO_ERR_IO);
    /* truncated: the first half of the real one */
    f = fopen(path, "rb");
    static char buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    f = fopen(tu_path_in(dir, "half"), "wb");
    fwrite(buf, 1, len / 2, f);
    fclose(f);
    ck_assert_int_eq(sigeo_search_load(s, tu_path_in(dir, "half")), SIGEO_ERR_FORMAT);
    ck_assert_msg(strstr(sigeo_search_last_error(s), "truncated") != NULL, "%s", sigeo_search_last_error(s));
    /* still fresh after the failures: the real one loads, and runs to the end */
    OK(sigeo_search_load(s, path));
    sigeo_search_callbacks_t cb = SIGEO_SEARCH_CALLBACKS_INIT;
    cb.score = flaky_score;
    OK(sigeo_search_set_callbacks(s, &cb));
    OK(sigeo_search_run(s));
    ck_assert_int_eq(sigeo_search_load(s, path), SIGEO_ERR_INVALID_ARG); /* it has run */
    sigeo_search_destroy(s);
    sigeo_model_destroy(m);
    tu_remove_dir(dir);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("search");
    TCase *tc = tcase_create("evolution");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, evolution_finds_the_known_optimum);
    tcase_add_test(tc, same_seed_same_trajectory_other_seed_differs);
    tcase_add_test(tc, evolution_beats_random_search_on_average);
    tcase_add_test(tc, failed_candidates_are_recorded_and_never_join);
    tcase_add_test(tc, budgets_and_cancel_end_the_search);
    tcase_add_test(tc, a_space_smaller_than_the_population_is_handled);
    tcase_add_test(tc, bad_options_and_arch_hash);
    tcase_add_test(tc, a_map_gives_the_same_search_whatever_its_order);
    tcase_add_test(tc, a_failing_map_stops_the_search_with_its_message);
    tcase_add_test(tc, a_resumed_search_equals_an_uninterrupted_one);
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
