/* The search's seed and the messages of host callbacks (search.h):
 *
 *  - one_seed_drives_the_whole_search: two searches with the same seed on
 *    the same model evaluate the same architectures in the same order, also
 *    when the model's own stream was used in between (samples drawn for
 *    something else); a different seed gives a different order; and the
 *    search draws nothing from the model's stream;
 *  - host_scorer_messages_are_kept: a score callback whose own library
 *    call failed returns that status: the record keeps the callee's message
 *    behind "the score callback returned '<status>'"; a callback failing
 *    without a library call gets the status only, not an older message
 *    that happens to sit on the thread;
 *  - validity_callback_failure_is_prefixed_once: the search fails with the
 *    callback's status, the callee's message once, behind one prefix. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "build.h"
#include "sigeo/model.h"
#include "sigeo/search.h"
#include "sigeo/sigeo.h"

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

enum { N_CHOICES = 3, MAX_EVALS = 64 };

static sigeo_context_t *ctx;

static void setup(void)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.seed = 23;
    o.threads = 1;
    OK(sigeo_context_create(&ctx, &o));
}

static void teardown(void)
{
    sigeo_context_destroy(ctx);
    ctx = NULL;
}

/* x -> fc0, fc1, fc2 (each max 8, widths {2, 4, 8}) -> out (2) -> CE: 27 architectures. */
static sigeo_model_t *supernet(void)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "net"));
    int32_t prev = flat_input(m, "x", 4);
    static const char *const names[N_CHOICES] = { "fc0", "fc1", "fc2" };
    static const char *const choices[N_CHOICES] = { "w0", "w1", "w2" };
    for (int i = 0; i < N_CHOICES; i++) {
        int32_t c;
        OK(sigeo_model_add_choice(&c, m, choices[i], 3, (const int64_t[]){ 2, 4, 8 }));
        prev = linear_on(m, names[i], prev, 8, c);
    }
    const int32_t out = linear_on(m, "out", prev, 2, -1);
    OK(sigeo_model_set_loss(m, out, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    return m;
}

typedef struct trace {
    int n;
    uint64_t hash[MAX_EVALS];
    int32_t status[MAX_EVALS];
    char message[MAX_EVALS][256];
} trace_t;

static void on_record(const sigeo_evaluation_t *e, void *user)
{
    trace_t *t = user;
    if (t->n >= MAX_EVALS)
        return;
    t->hash[t->n] = e->hash;
    t->status[t->n] = e->status;
    snprintf(t->message[t->n], sizeof t->message[t->n], "%s", e->message ? e->message : "");
    t->n++;
}

/* A deterministic host score: a fixed function of the architecture. */
static sigeo_status_t score_arch(double *out, const int32_t *arch, int32_t n, void *user)
{
    (void)user;
    double s = 0.0;
    for (int32_t i = 0; i < n; i++)
        s += (double)((arch[i] * 7 + i * 3) % 5) * (double)(i + 1);
    *out = s;
    return SIGEO_OK;
}

static sigeo_search_options_t small_options(uint64_t seed)
{
    sigeo_search_options_t o = SIGEO_SEARCH_OPTIONS_INIT;
    o.population = 4;
    o.sample_size = 2;
    o.children = 2;
    o.cycles = 4;
    o.seed = seed;
    o.init_sampling = SIGEO_SAMPLE_UNIFORM;
    return o;
}

static void run(trace_t *t, sigeo_model_t *m, uint64_t seed, sigeo_score_fn score, sigeo_valid_fn valid,
                sigeo_status_t want)
{
    sigeo_search_options_t o = small_options(seed);
    sigeo_search_t *s;
    OK(sigeo_search_create(&s, m, &o));
    sigeo_search_callbacks_t cb = SIGEO_SEARCH_CALLBACKS_INIT;
    cb.score = score;
    cb.valid = valid;
    cb.record = on_record;
    cb.record_user = t;
    OK(sigeo_search_set_callbacks(s, &cb));
    memset(t, 0, sizeof *t);
    ck_assert_int_eq(sigeo_search_run(s), want);
    sigeo_search_destroy(s);
}

START_TEST(one_seed_drives_the_whole_search)
{
    sigeo_model_t *m = supernet();
    trace_t a, b, c;
    run(&a, m, 5, score_arch, NULL, SIGEO_OK);
    ck_assert_int_ge(a.n, 8);
    /* The model's own stream moves on (samples drawn for something else). */
    int32_t arch[N_CHOICES];
    for (int i = 0; i < 7; i++)
        OK(sigeo_model_sample_arch(arch, N_CHOICES, m, SIGEO_SAMPLE_UNIFORM));
    run(&b, m, 5, score_arch, NULL, SIGEO_OK);
    ck_assert_int_eq(a.n, b.n);
    for (int i = 0; i < a.n; i++)
        ck_assert_msg(a.hash[i] == b.hash[i], "evaluation %d differs for the same seed", i);
    run(&c, m, 6, score_arch, NULL, SIGEO_OK);
    ck_assert_msg(c.n != a.n || memcmp(c.hash, a.hash, sizeof(uint64_t) * (size_t)a.n) != 0,
                  "seeds 5 and 6 evaluated the same architectures in the same order");

    /* The search left the model's stream alone: the next model draw is the
     * one a twin model (same context position) makes without any search. */
    int32_t after[N_CHOICES], twin_draw[N_CHOICES];
    OK(sigeo_model_sample_arch(after, N_CHOICES, m, SIGEO_SAMPLE_UNIFORM));
    sigeo_context_t *other;
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.seed = 23;
    co.threads = 1;
    OK(sigeo_context_create(&other, &co));
    sigeo_context_t *mine = ctx;
    ctx = other;
    sigeo_model_t *twin = supernet();
    ctx = mine;
    for (int i = 0; i < 8; i++)
        OK(sigeo_model_sample_arch(twin_draw, N_CHOICES, twin, SIGEO_SAMPLE_UNIFORM));
    ck_assert_mem_eq(after, twin_draw, sizeof after);
    sigeo_model_destroy(twin);
    sigeo_context_destroy(other);
    sigeo_model_destroy(m);
}
END_TEST

/* Fails through a library call (its message is the reason) when the second
 * choice is 0, else by itself when the third is 0. */
static sigeo_status_t score_or_fail(double *out, const int32_t *arch, int32_t n, void *user)
{
    (void)user;
    if (arch[1] == 0)
        return sigeo_model_sample_arch(NULL, 0, NULL, SIGEO_SAMPLE_UNIFORM); /* "model is NULL" */
    if (arch[2] == 0) {
        /* The host's own failure. An older library failure may sit on the
         * thread (an earlier candidate's, or the one provoked before the
         * run): it is not this one's reason and must not be repeated. */
        *out = 0.0;
        return SIGEO_ERR_UNSUPPORTED;
    }
    return score_arch(out, arch, n, user);
}

START_TEST(host_scorer_messages_are_kept)
{
    sigeo_model_t *m = supernet();
    trace_t t;
    ck_assert_int_eq(sigeo_model_forward(NULL, NULL, NULL), SIGEO_ERR_INVALID_ARG); /* an older message */
    run(&t, m, 9, score_or_fail, NULL, SIGEO_OK);
    int with_callee = 0, own = 0;
    for (int i = 0; i < t.n; i++) {
        if (t.status[i] == SIGEO_OK) {
            ck_assert_str_eq(t.message[i], "");
            continue;
        }
        if (t.status[i] == SIGEO_ERR_INVALID_ARG) {
            ck_assert_str_eq(t.message[i],
                             "the score callback returned 'invalid argument': sigeo_model_sample_arch: model is NULL");
            with_callee++;
        } else {
            ck_assert_int_eq(t.status[i], SIGEO_ERR_UNSUPPORTED);
            ck_assert_str_eq(t.message[i], "the score callback returned 'unsupported'");
            own++;
        }
    }
    ck_assert_msg(with_callee > 0 && own > 0, "the search met both kinds of failure (%d, %d of %d)", with_callee, own,
                  t.n);
    sigeo_model_destroy(m);
}
END_TEST

static sigeo_status_t valid_fails(int *ok, const int32_t *arch, int32_t n, void *user)
{
    (void)arch;
    (void)n;
    (void)user;
    *ok = 1;
    return sigeo_model_sample_arch(NULL, 0, NULL, SIGEO_SAMPLE_UNIFORM);
}

START_TEST(validity_callback_failure_is_prefixed_once)
{
    sigeo_model_t *m = supernet();
    trace_t t;
    sigeo_search_options_t o = small_options(3);
    sigeo_search_t *s;
    OK(sigeo_search_create(&s, m, &o));
    sigeo_search_callbacks_t cb = SIGEO_SEARCH_CALLBACKS_INIT;
    cb.score = score_arch;
    cb.valid = valid_fails;
    cb.record = on_record;
    cb.record_user = &t;
    OK(sigeo_search_set_callbacks(s, &cb));
    memset(&t, 0, sizeof t);
    ck_assert_int_eq(sigeo_search_run(s), SIGEO_ERR_INVALID_ARG);
    const char *want =
        "search: the validity callback returned 'invalid argument': sigeo_model_sample_arch: model is NULL";
    ck_assert_str_eq(sigeo_last_error(), want);
    ck_assert_str_eq(sigeo_search_last_error(s), want);
    ck_assert_int_eq(t.n, 0);
    sigeo_search_destroy(s);
    sigeo_model_destroy(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("search_seed");
    TCase *tc = tcase_create("search_seed");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, one_seed_drives_the_whole_search);
    tcase_add_test(tc, host_scorer_messages_are_kept);
    tcase_add_test(tc, validity_callback_failure_is_prefixed_once);
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
