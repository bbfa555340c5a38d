/* The pipeline under a failing allocator: a whole session (context, data,
 * a batch set, a one-shot scorer, sigeo_nas_run with the proxy scorer and
 * with the one-shot scorer) is run once clean to count its allocations,
 * then once per allocation n with allocation n failing (once, and from n
 * on). Every call that fails must return SIGEO_ERR_NO_MEMORY with a
 * message, never crash, and after everything is destroyed nothing may be
 * held (the library's block count and the host allocator's live count
 * both back to zero). The library allocates through the host allocator
 * only; oneDNN's own allocations are outside its reach (and not failed). */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard_alloc.h"
#include "sigeo/nas.h"
#include "test_util.h"

static int failed_calls; /* calls that returned NO_MEMORY in this run */

/* A call that may fail only by running out of memory. */
static bool step(sigeo_status_t st, const char *what)
{
    if (st == SIGEO_OK)
        return true;
    ck_assert_msg(st == SIGEO_ERR_NO_MEMORY, "%s returned %d (%s): only NO_MEMORY may fail here", what, (int)st,
                  sigeo_last_error());
    ck_assert_msg(sigeo_last_error()[0] != '\0', "%s: NO_MEMORY without a message", what);
    failed_calls++;
    return false;
}

static sigeo_model_t *toy(sigeo_context_t *c)
{
    sigeo_model_t *m = NULL;
    if (!step(sigeo_model_create(&m, c, "toy"), "model_create"))
        return NULL;
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "x";
    in.features = 3;
    int32_t h, ch;
    bool ok = step(sigeo_model_add_input(&h, m, &in), "add_input");
    for (int i = 0; ok && i < 2; i++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", i);
        ok = step(sigeo_model_add_choice(&ch, m, name, 3, (const int64_t[]){ 1, 2, 3 }), "add_choice");
        sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
        snprintf(name, sizeof name, "fc%d", i);
        d.name = name;
        d.inputs = &h;
        d.n_inputs = 1;
        d.units = 3;
        d.width_choice = ch;
        ok = ok && step(sigeo_model_add_layer(&h, m, &d), "add_layer");
    }
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.name = "head";
    d.inputs = &h;
    d.n_inputs = 1;
    d.units = 2;
    ok = ok && step(sigeo_model_add_layer(&h, m, &d), "add_layer head");
    ok = ok && step(sigeo_model_set_loss(m, h, SIGEO_LOSS_SOFTMAX_CE), "set_loss");
    ok = ok && step(sigeo_model_finalize(m), "finalize");
    if (!ok) {
        sigeo_model_destroy(m);
        return NULL;
    }
    return m;
}

static sigeo_dataset_t *data(int64_t rows, uint64_t seed)
{
    tu_rng_t r = { seed };
    float x[3 * 200];
    int32_t y[200];
    for (int64_t i = 0; i < rows; i++) {
        for (int f = 0; f < 3; f++)
            x[i * 3 + f] = tu_uniform_f(&r);
        y[i] = x[i * 3] > x[i * 3 + 1];
    }
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = rows;
    b.dense = x;
    b.n_dense = 3;
    b.labels = y;
    sigeo_dataset_t *ds = NULL;
    return step(sigeo_dataset_create(&ds, &b), "dataset_create") ? ds : NULL;
}

static void session(void)
{
    sigeo_context_t *c = NULL;
    sigeo_dataset_t *tr = NULL, *va = NULL;
    sigeo_model_t *m = NULL;
    sigeo_batch_set_t *set = NULL;
    sigeo_one_shot_t *os = NULL;
    sigeo_nas_result_t *r = NULL;
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.threads = 1;
    if (!step(sigeo_context_create(&c, &co), "context_create"))
        goto done;
    if (!(tr = data(200, 1)) || !(va = data(40, 2)) || !(m = toy(c)))
        goto done;
    if (!step(sigeo_batch_set_create(&set, tr, 0, 3, 16, SIGEO_BATCH_DROP_LAST), "batch_set_create"))
        goto done;
    sigeo_proxy_result_t pr = SIGEO_PROXY_RESULT_INIT;
    if (!step(sigeo_proxy_compute_set(m, NULL, 0, set, NULL, &pr), "proxy_compute_set"))
        goto done;
    sigeo_one_shot_options_t oo = SIGEO_ONE_SHOT_OPTIONS_INIT;
    oo.finetune_steps = 3;
    oo.finetune_batch = 16;
    oo.max_eval_rows = 20;
    if (!step(sigeo_one_shot_create(&os, m, tr, va, &oo), "one_shot_create"))
        goto done;
    double score;
    const int32_t arch[2] = { 1, 2 };
    if (!step(sigeo_one_shot_score(&score, arch, 2, os), "one_shot_score"))
        goto done;
    sigeo_search_options_t so = SIGEO_SEARCH_OPTIONS_INIT;
    so.population = 3;
    so.sample_size = 2;
    so.children = 1;
    so.cycles = 1;
    sigeo_nas_options_t o = SIGEO_NAS_OPTIONS_INIT;
    o.batch_size = 16;
    o.warmup_fraction = 0.2;
    o.search = &so;
    o.k = 2;
    o.top_k = 2;
    o.retrain_epochs = 0.2;
    for (int scorer = SIGEO_NAS_SCORE_PROXY; scorer <= SIGEO_NAS_SCORE_ONE_SHOT; scorer++) {
        o.scorer = scorer;
        o.one_shot = &oo;
        o.workers = scorer == SIGEO_NAS_SCORE_ONE_SHOT ? 2 : 1; /* the threaded retrain too */
        if (!step(sigeo_nas_run(&r, m, tr, va, va, &o), "nas_run"))
            goto done;
        ck_assert_ptr_nonnull(r);
        sigeo_nas_result_destroy(r);
        r = NULL;
    }
done:
    sigeo_nas_result_destroy(r);
    sigeo_one_shot_destroy(os);
    sigeo_batch_set_destroy(set);
    sigeo_model_destroy(m);
    sigeo_dataset_destroy(tr);
    sigeo_dataset_destroy(va);
    sigeo_context_destroy(c);
}

static void assert_nothing_held(const char *what, uint64_t n)
{
    uint64_t blocks = 0;
    sigeo_memory_in_use(NULL, &blocks);
    guard_stats_t g = guard_stats();
    ck_assert_msg(blocks == 0 && g.live == 0, "%s %llu: the library holds %llu blocks, the host %llu live", what,
                  (unsigned long long)n, (unsigned long long)blocks, (unsigned long long)g.live);
    ck_assert_msg(g.corruptions == 0 && g.foreign_release == 0, "%s %llu: heap damage", what, (unsigned long long)n);
}

START_TEST(every_allocation_fails_cleanly)
{
    sigeo_allocator_t a = guard_allocator();
    ck_assert_int_eq(sigeo_set_allocator(&a), SIGEO_OK);
    guard_reset();
    failed_calls = 0;
    session();
    ck_assert_int_eq(failed_calls, 0);
    const uint64_t total = guard_stats().alloc_calls;
    assert_nothing_held("clean run of", total);
    ck_assert_uint_gt(total, 50);
    uint64_t hit = 0;
    for (int persistent = 0; persistent <= 1; persistent++) {
        for (uint64_t n = 1; n <= total; n++) {
            guard_reset();
            guard_fail_at(n, persistent);
            failed_calls = 0;
            session();
            hit += failed_calls > 0;
            guard_fail_at(0, false);
            assert_nothing_held(persistent ? "failing from allocation" : "failing allocation", n);
        }
    }
    printf("%llu allocations per session; %llu of %llu failing runs stopped with NO_MEMORY\n",
           (unsigned long long)total, (unsigned long long)hit, (unsigned long long)(2 * total));
    ck_assert_uint_gt(hit, total); /* most failures surface (the search absorbs none: it stops on NO_MEMORY) */
    sigeo_set_allocator(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("nas_alloc");
    TCase *t = tcase_create("alloc");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, every_allocation_fails_cleanly);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
