/* Resumable NAS runs (nas.h checkpoint_dir / resume, SIGEO_1.1): a run
 * cancelled in the middle of its search (through the progress callback),
 * resumed from its checkpoint directory, ends with every record, every
 * retrained candidate and the best architecture of a run never
 * interrupted; the resumed run does not warm up again. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigeo/io.h"
#include "sigeo/nas.h"
#include "tmpdir.h"

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

static sigeo_dataset_t *all, *tr, *va, *te;

static void setup(void)
{
    sigeo_synth_options_t so = SIGEO_SYNTH_OPTIONS_INIT;
    so.seed = 4;
    so.n_rows = 3000;
    so.max_cardinality = 40;
    OK(sigeo_synth_generate(&all, NULL, &so, NULL));
    OK(sigeo_dataset_split(&tr, &va, &te, all, NULL));
}

static void teardown(void)
{
    sigeo_dataset_destroy(all);
    sigeo_dataset_destroy(tr);
    sigeo_dataset_destroy(va);
    sigeo_dataset_destroy(te);
}

typedef struct watch {
    int64_t cancel_at; /* search evaluations; 0 = never */
    int warmup_reports;
} watch_t;

static int on_progress(const sigeo_nas_progress_t *p, void *user)
{
    watch_t *w = user;
    if (p->phase == SIGEO_NAS_PHASE_WARMUP)
        w->warmup_reports++;
    return w->cancel_at > 0 && p->phase == SIGEO_NAS_PHASE_SEARCH && p->step >= w->cancel_at;
}

/* Everything of a result but the timings, one line each. */
static char *dump(const sigeo_nas_result_t *r)
{
    size_t cap = 1 << 20, used = 0;
    char *buf = malloc(cap);
    uint64_t n = sigeo_nas_result_evaluation_count(r);
    for (uint64_t i = 0; i < n; i++) {
        sigeo_evaluation_t e = SIGEO_EVALUATION_INIT;
        OK(sigeo_nas_result_evaluation(&e, r, i));
        used += (size_t)snprintf(buf + used, cap - used, "%llu %d %lld %.17g %s %s %.17g\n",
                                 (unsigned long long)e.index, (int)e.status, (long long)e.cycle, e.score, e.arch_text,
                                 e.message, e.proxy ? e.proxy->zico : -1.0);
        /* an ensemble's fields, bit for bit */
        used += (size_t)snprintf(buf + used, cap - used, "  members %u %a %llu", (unsigned)e.n_members, e.aggregate,
                                 (unsigned long long)e.aggregate_over);
        for (uint32_t k = 0; k < e.n_members; k++)
            used += (size_t)snprintf(buf + used, cap - used, " %a", e.member_scores[k]);
        used += (size_t)snprintf(buf + used, cap - used, "\n");
    }
    sigeo_nas_summary_t s = SIGEO_NAS_SUMMARY_INIT;
    OK(sigeo_nas_result_get_summary(&s, r));
    for (int32_t i = 0; i < s.top_n; i++) {
        sigeo_nas_candidate_t c = SIGEO_NAS_CANDIDATE_INIT;
        OK(sigeo_nas_result_candidate(&c, NULL, 0, r, i));
        used += (size_t)snprintf(buf + used, cap - used, "cand %d %d %.17g %.17g %.17g\n", (int)i, (int)c.status,
                                 c.score, c.val_logloss, c.test_logloss);
    }
    used += (size_t)snprintf(buf + used, cap - used, "best %d %llu %llu %.17g\n", (int)s.best,
                             (unsigned long long)s.evaluations, (unsigned long long)s.failed, s.val_logloss);
    return buf;
}

static int ensemble; /* the runs score with grad_norm + l2_norm + params (log-rank) */

static sigeo_status_t run(sigeo_nas_result_t **r, sigeo_context_t **ctx, const char *dir, int resume, watch_t *w)
{
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.seed = 8;
    co.threads = 1;
    OK(sigeo_context_create(ctx, &co));
    sigeo_space_options_t sp = SIGEO_SPACE_OPTIONS_INIT;
    sp.preset = SIGEO_SPACE_TINY;
    sigeo_search_options_t se = SIGEO_SEARCH_OPTIONS_INIT;
    se.population = 8;
    se.sample_size = 4;
    se.children = 3;
    se.cycles = 6;
    se.seed = 5;
    se.mutation_schedule = SIGEO_MUTATE_NASREC;
    if (ensemble) {
        se.n_ensemble = 3;
        se.ensemble_kinds[0] = SIGEO_PROXY_GRAD_NORM;
        se.ensemble_kinds[1] = SIGEO_PROXY_L2_NORM;
        se.ensemble_kinds[2] = SIGEO_PROXY_PARAMS;
    }
    sigeo_nas_options_t o = SIGEO_NAS_OPTIONS_INIT;
    o.batch_size = 64;
    o.warmup_fraction = 0.2;
    o.search = &se;
    o.top_k = 2;
    o.retrain_epochs = 0.1;
    o.progress = on_progress;
    o.progress_user = w;
    o.progress_every = 1;
    o.checkpoint_dir = dir;
    o.checkpoint_every = 2;
    o.resume = resume;
    return sigeo_nas_run_space(r, *ctx, "nasrec-small", &sp, tr, va, te, &o);
}

START_TEST(a_resumed_run_equals_an_uninterrupted_one)
{
    ensemble = _i; /* loop 0: one proxy, loop 1: an ensemble */
    char dir[256];
    tu_make_dir(dir, sizeof dir, "nas_resume");
    sigeo_nas_result_t *ra, *rb, *rc;
    sigeo_context_t *ca, *cb, *cc;
    watch_t wa = { 0, 0 }, wb = { 15, 0 }, wc = { 0, 0 };
    OK(run(&ra, &ca, NULL, 0, &wa));
    ck_assert_int_gt(wa.warmup_reports, 0);
    /* cancelled after 15 evaluations: the population (8) and two cycles are in
     * the checkpoint of cycle 1, the rest of the work is lost */
    ck_assert_int_eq(run(&rb, &cb, dir, 0, &wb), SIGEO_ERR_CANCELLED);
    ck_assert_ptr_null(rb);
    sigeo_context_destroy(cb);
    OK(run(&rc, &cc, dir, 1, &wc));
    ck_assert_int_eq(wc.warmup_reports, 0); /* the supernet came from the checkpoint */
    char *a = dump(ra), *c = dump(rc);
    if (ensemble) /* the records do carry the members */
        ck_assert_ptr_nonnull(strstr(a, "members 3 "));
    ck_assert_msg(strcmp(a, c) == 0, "uninterrupted:\n%.2000s\nresumed:\n%.2000s", a, c);
    free(a);
    free(c);
    /* a resume with nothing in the directory starts from the beginning */
    char empty[256];
    tu_make_dir(empty, sizeof empty, "nas_resume_empty");
    sigeo_nas_result_t *rd;
    sigeo_context_t *cd;
    watch_t wd = { 0, 0 };
    OK(run(&rd, &cd, empty, 1, &wd));
    ck_assert_int_gt(wd.warmup_reports, 0);
    a = dump(ra);
    char *d = dump(rd);
    ck_assert_str_eq(a, d);
    free(a);
    free(d);
    sigeo_nas_result_destroy(ra);
    sigeo_nas_result_destroy(rc);
    sigeo_nas_result_destroy(rd);
    sigeo_context_destroy(ca);
    sigeo_context_destroy(cc);
    sigeo_context_destroy(cd);
    tu_remove_dir(dir);
    tu_remove_dir(empty);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("nas_resume");
    TCase *tc = tcase_create("resume");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, a_resumed_run_equals_an_uninterrupted_one, 0, 2);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
