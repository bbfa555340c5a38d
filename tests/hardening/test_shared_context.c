/* The threading rule of sigeo.h ("Threads"): handles created from ONE
 * context may be used from different threads at once, with results bit for
 * bit those of the same work done one after the other; and the library
 * changes no process state behind the host's back.
 *
 *  - two_models_of_one_context_on_two_threads: models A and B of one
 *    context, each scored with SiGeo, sampled 300 times, scored on a sampled
 *    architecture and mutated, first one after the other (the reference),
 *    then in a second context with the same seed on two threads at once;
 *    and in a third context where the two threads also build and finalise
 *    their models concurrently (the engine's lazy creation and the stream
 *    numbering race): whichever thread finalised first holds A's stream and
 *    must reproduce A's results, the other B's;
 *  - omp_setting_of_the_calling_thread_is_kept: the host's thread asked
 *    OpenMP for 3 threads; a context with threads = 1 runs its primitives
 *    with 1 and leaves the host's thread at 3;
 *  - openblas_threads_change_only_when_asked: creating contexts and models
 *    leaves OpenBLAS's process-wide thread count as the host set it;
 *    sigeo_set_option(SIGEO_OPTION_BLAS_THREADS) is the one way to change it.
 * Worker threads never call Check's assertions (not thread-safe): they
 * record what happened, and the main thread checks it. */
#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "sigeo/model.h"
#include "sigeo/proxy.h"
#include "sigeo/sigeo.h"

/* OpenBLAS's own calls (declared here: its cblas.h clashes with other BLAS
 * headers, and the test needs only these two). */
extern void openblas_set_num_threads(int num_threads);
extern int openblas_get_num_threads(void);

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

enum { K = 3, B = 8, F = 6, C = 3, DRAWS = 300, N_CHOICES = 2 };
static const uint64_t SEED = 41;

static float dense[K][B * F];
static int32_t labels[K][B];
static sigeo_batch_t batches[K];

static void make_data(void)
{
    uint64_t x = 7;
    for (int k = 0; k < K; k++) {
        for (int i = 0; i < B * F; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            dense[k][i] = (float)((int)(x >> 40 & 0xffff) - 32768) / 16384.0f;
        }
        for (int n = 0; n < B; n++)
            labels[k][n] = (3 * n + k) % C;
        batches[k] = (sigeo_batch_t)SIGEO_BATCH_INIT;
        batches[k].batch_size = B;
        batches[k].dense = dense[k];
        batches[k].n_dense = F;
        batches[k].labels = labels[k];
    }
}

static sigeo_context_t *context(uint32_t threads)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.seed = SEED;
    o.threads = threads;
    sigeo_context_t *ctx = NULL;
    return sigeo_context_create(&ctx, &o) == SIGEO_OK ? ctx : NULL;
}

/* x -> fc0 (max 16, widths {4, 8, 16}) -> relu -> fc1 (max 8, widths {2, 8}) -> fc2 (3) -> CE.
 * Returns the failing status, SIGEO_OK when built and finalised. */
static sigeo_status_t build(sigeo_model_t **out, sigeo_context_t *ctx, const char *name)
{
    sigeo_model_t *m;
    sigeo_status_t st = sigeo_model_create(&m, ctx, name);
    if (st != SIGEO_OK)
        return st;
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.kind = SIGEO_INPUT_DENSE;
    in.name = "x";
    in.features = F;
    int32_t x, c0, c1, h, a, g, o;
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT, r = SIGEO_LAYER_DESC_INIT;
    if ((st = sigeo_model_add_input(&x, m, &in)) == SIGEO_OK &&
        (st = sigeo_model_add_choice(&c0, m, "w0", 3, (const int64_t[]){ 4, 8, 16 })) == SIGEO_OK &&
        (st = sigeo_model_add_choice(&c1, m, "w1", 2, (const int64_t[]){ 2, 8 })) == SIGEO_OK) {
        d.kind = SIGEO_LAYER_LINEAR;
        d.name = "fc0";
        d.inputs = &x;
        d.n_inputs = 1;
        d.units = 16;
        d.width_choice = c0;
        st = sigeo_model_add_layer(&h, m, &d);
    }
    if (st == SIGEO_OK) {
        r.kind = SIGEO_LAYER_ACTIVATION;
        r.name = "relu";
        r.inputs = &h;
        r.n_inputs = 1;
        r.activation = SIGEO_ACT_RELU;
        st = sigeo_model_add_layer(&a, m, &r);
    }
    if (st == SIGEO_OK) {
        d.name = "fc1";
        d.inputs = &a;
        d.units = 8;
        d.width_choice = c1;
        st = sigeo_model_add_layer(&g, m, &d);
    }
    if (st == SIGEO_OK) {
        d.name = "fc2";
        d.inputs = &g;
        d.units = C;
        d.width_choice = -1;
        st = sigeo_model_add_layer(&o, m, &d);
    }
    if (st == SIGEO_OK)
        st = sigeo_model_set_loss(m, o, SIGEO_LOSS_SOFTMAX_CE);
    if (st == SIGEO_OK)
        st = sigeo_model_finalize(m);
    if (st != SIGEO_OK) {
        sigeo_model_destroy(m);
        return st;
    }
    *out = m;
    return SIGEO_OK;
}

/* What one model's work produced, compared bit for bit. */
typedef struct result {
    sigeo_status_t status;
    char message[256];
    double score_full, zico_full, fr_full;
    uint64_t draws_hash; /* FNV-1a over every sampled and mutated architecture */
    double score_sampled;
    float weights[16 * F];
} result_t;

static void fnv(uint64_t *h, const int32_t *a, int n)
{
    const unsigned char *p = (const unsigned char *)a;
    for (size_t i = 0; i < (size_t)n * sizeof *a; i++) {
        *h ^= p[i];
        *h *= 1099511628211ull;
    }
}

static void work(result_t *r, sigeo_model_t *m)
{
    memset(r, 0, sizeof *r);
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    sigeo_proxy_result_t pr = SIGEO_PROXY_RESULT_INIT;
    int32_t fc0;
    sigeo_status_t st = sigeo_model_find_param(&fc0, m, "fc0.weight");
    if (st == SIGEO_OK)
        st = sigeo_model_get_param(m, fc0, r->weights, 16 * F);
    if (st == SIGEO_OK)
        st = sigeo_proxy_compute(m, NULL, 0, batches, K, &o, &pr);
    r->score_full = pr.score;
    r->zico_full = pr.zico;
    r->fr_full = pr.fr;
    int32_t arch[N_CHOICES];
    r->draws_hash = 14695981039346656037ull;
    for (int i = 0; st == SIGEO_OK && i < DRAWS; i++) {
        st = sigeo_model_sample_arch(arch, N_CHOICES, m, SIGEO_SAMPLE_UNIFORM);
        if (st == SIGEO_OK)
            fnv(&r->draws_hash, arch, N_CHOICES);
    }
    if (st == SIGEO_OK)
        st = sigeo_proxy_compute(m, arch, N_CHOICES, batches, K, &o, &pr);
    r->score_sampled = pr.score;
    for (int i = 0; st == SIGEO_OK && i < DRAWS; i++) {
        st = sigeo_model_mutate_arch(arch, N_CHOICES, m);
        if (st == SIGEO_OK)
            fnv(&r->draws_hash, arch, N_CHOICES);
    }
    r->status = st;
    if (st != SIGEO_OK)
        snprintf(r->message, sizeof r->message, "%s", sigeo_last_error());
}

static void check_same(const result_t *got, const result_t *want, const char *what)
{
    ck_assert_msg(got->status == SIGEO_OK, "%s: %s", what, got->message);
    ck_assert_msg(memcmp(&got->score_full, &want->score_full, sizeof got->score_full) == 0,
                  "%s: SiGeo %.17g, sequentially %.17g", what, got->score_full, want->score_full);
    ck_assert(memcmp(&got->zico_full, &want->zico_full, sizeof got->zico_full) == 0);
    ck_assert(memcmp(&got->fr_full, &want->fr_full, sizeof got->fr_full) == 0);
    ck_assert_msg(got->draws_hash == want->draws_hash, "%s: the sampled and mutated architectures differ", what);
    ck_assert_msg(memcmp(&got->score_sampled, &want->score_sampled, sizeof got->score_sampled) == 0,
                  "%s: sampled-arch SiGeo %.17g, sequentially %.17g", what, got->score_sampled, want->score_sampled);
    ck_assert_msg(memcmp(got->weights, want->weights, sizeof got->weights) == 0, "%s: initial weights differ", what);
}

/* ------------------------------------------------------------- workers */

typedef struct job {
    sigeo_context_t *ctx;
    sigeo_model_t *model; /* given, or built by the worker */
    const char *name;
    result_t result;
    pthread_barrier_t *start;
} job_t;

static void *worker(void *p)
{
    job_t *j = p;
    pthread_barrier_wait(j->start);
    if (!j->model) {
        sigeo_status_t st = build(&j->model, j->ctx, j->name);
        if (st != SIGEO_OK) {
            j->result.status = st;
            snprintf(j->result.message, sizeof j->result.message, "build: %s", sigeo_last_error());
            return NULL;
        }
    }
    work(&j->result, j->model);
    return NULL;
}

static void run_two(job_t jobs[2])
{
    pthread_barrier_t start;
    ck_assert_int_eq(pthread_barrier_init(&start, NULL, 2), 0);
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        jobs[i].start = &start;
        ck_assert_int_eq(pthread_create(&t[i], NULL, worker, &jobs[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start);
}

START_TEST(two_models_of_one_context_on_two_threads)
{
    make_data();
    /* The reference: one after the other on this thread. */
    sigeo_context_t *ctx = context(1);
    ck_assert_ptr_nonnull(ctx);
    sigeo_model_t *a, *b;
    OK(build(&a, ctx, "a"));
    OK(build(&b, ctx, "b"));
    result_t ra, rb;
    work(&ra, a);
    work(&rb, b);
    ck_assert_msg(ra.status == SIGEO_OK && rb.status == SIGEO_OK, "%s %s", ra.message, rb.message);
    /* Two models, two streams: not the same weights or draws. */
    ck_assert(memcmp(ra.weights, rb.weights, sizeof ra.weights) != 0);
    ck_assert(ra.draws_hash != rb.draws_hash);
    sigeo_model_destroy(a);
    sigeo_model_destroy(b);
    sigeo_context_destroy(ctx);

    /* Built here in the same order, run on two threads at once. */
    ctx = context(1);
    job_t jobs[2];
    memset(jobs, 0, sizeof jobs);
    OK(build(&jobs[0].model, ctx, "a"));
    OK(build(&jobs[1].model, ctx, "b"));
    run_two(jobs);
    check_same(&jobs[0].result, &ra, "model a on its thread");
    check_same(&jobs[1].result, &rb, "model b on its thread");
    sigeo_model_destroy(jobs[0].model);
    sigeo_model_destroy(jobs[1].model);
    sigeo_context_destroy(ctx);

    /* Built on the two threads at once too, from a fresh context (the
     * engine is created lazily by whichever model comes first). */
    ctx = context(1);
    memset(jobs, 0, sizeof jobs);
    jobs[0].ctx = jobs[1].ctx = ctx;
    jobs[0].name = "a";
    jobs[1].name = "b";
    run_two(jobs);
    for (int i = 0; i < 2; i++)
        ck_assert_msg(jobs[i].result.status == SIGEO_OK, "thread %d: %s", i, jobs[i].result.message);
    const bool first_is_a = memcmp(jobs[0].result.weights, ra.weights, sizeof ra.weights) == 0;
    check_same(&jobs[0].result, first_is_a ? &ra : &rb, "thread 0 (built concurrently)");
    check_same(&jobs[1].result, first_is_a ? &rb : &ra, "thread 1 (built concurrently)");
    sigeo_model_destroy(jobs[0].model);
    sigeo_model_destroy(jobs[1].model);
    sigeo_context_destroy(ctx);
}
END_TEST

START_TEST(omp_setting_of_the_calling_thread_is_kept)
{
#if defined(_OPENMP)
    make_data();
    omp_set_num_threads(3);
    sigeo_context_t *ctx = context(1);
    ck_assert_ptr_nonnull(ctx);
    sigeo_model_t *m;
    OK(build(&m, ctx, "omp"));
    double loss;
    OK(sigeo_model_forward_backward(&loss, m, &batches[0]));
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    sigeo_proxy_result_t pr = SIGEO_PROXY_RESULT_INIT;
    OK(sigeo_proxy_compute(m, NULL, 0, batches, K, &o, &pr));
    ck_assert_int_eq(omp_get_max_threads(), 3);
    sigeo_model_destroy(m);
    sigeo_context_destroy(ctx);
#else
    fprintf(stderr, "omp_setting_of_the_calling_thread_is_kept: built without OpenMP, nothing to check\n");
#endif
}
END_TEST

START_TEST(openblas_threads_change_only_when_asked)
{
    make_data();
    openblas_set_num_threads(2);
    const int host = openblas_get_num_threads();
    if (host != 2)
        fprintf(stderr, "this OpenBLAS keeps %d thread(s) whatever it is told (a serial build)\n", host);
    sigeo_context_t *ctx = context(1);
    ck_assert_ptr_nonnull(ctx);
    sigeo_model_t *m;
    OK(build(&m, ctx, "blas"));
    double loss;
    OK(sigeo_model_forward_backward(&loss, m, &batches[0]));
    ck_assert_int_eq(openblas_get_num_threads(), host);
    int64_t v = -1;
    OK(sigeo_get_option(&v, SIGEO_OPTION_BLAS_THREADS));
    ck_assert_int_eq(v, host);
    /* the explicit knob */
    OK(sigeo_set_option(SIGEO_OPTION_BLAS_THREADS, 1));
    ck_assert_int_eq(openblas_get_num_threads(), 1);
    OK(sigeo_get_option(&v, SIGEO_OPTION_BLAS_THREADS));
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(sigeo_set_option(SIGEO_OPTION_BLAS_THREADS, 0), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(sigeo_last_error(), "SIGEO_OPTION_BLAS_THREADS"));
    ck_assert_int_eq(sigeo_set_option((sigeo_option_t)999, 1), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_get_option(NULL, SIGEO_OPTION_BLAS_THREADS), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(openblas_get_num_threads(), 1);
    sigeo_model_destroy(m);
    sigeo_context_destroy(ctx);
    openblas_set_num_threads(host);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("shared_context");
    TCase *tc = tcase_create("shared_context");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, two_models_of_one_context_on_two_threads);
    tcase_add_test(tc, omp_setting_of_the_calling_thread_is_kept);
    tcase_add_test(tc, openblas_threads_change_only_when_asked);
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
