/* Handles used from several threads at once (sigeo.h: different handles may
 * be used from different threads at once; one handle by one thread at a
 * time). Each worker owns its context (threads = 1, so oneDNN's OpenMP team
 * size does not depend on who runs it) and its model, and does the same
 * work it did when run alone; the results must be bit for bit those of the
 * single-threaded run made first, in the same process.
 *
 *  - work_scores_and_trains: 4 threads, each building a model (two "mlp"
 *    space models and two NASRec-small TINY supernets, different seeds),
 *    scoring it with SiGeo and grad_norm, training 10 steps (Adam), scoring
 *    again, and extracting its weights;
 *  - all_threads_load_one_checkpoint: one checkpoint file written first,
 *    then 4 threads each load it read-only into their own model and score;
 *  - error_messages_stay_per_thread: each thread provokes its own failure
 *    and must read back its own message, not a neighbour's.
 * Worker threads never call Check's assertions (not thread-safe): they
 * record what happened, and the main thread checks it.
 *
 * Under ThreadSanitizer: see README.md here (build with -Db_sanitize=thread;
 * libgomp and oneDNN are not instrumented, which TSan may report). */
#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sigeo/model.h"
#include "sigeo/proxy.h"
#include "sigeo/search.h"
#include "sigeo/sigeo.h"
#include "sigeo/train.h"

enum { N_THREADS = 4, B = 8, ND = 6, NS = 2, N_CLASSES = 3, STEPS = 10 };
static const int64_t table_rows[NS] = { 9, 5 };

/* ------------------------------------------------------------- batches */

typedef struct data {
    float dense[2][B * ND];
    int32_t labels[2][B];
    float targets[2][B];
    int64_t ids[2][B * NS], offsets[2][B * NS + 1];
    sigeo_batch_t mlp[2], ctr[2];
} data_t;

static data_t data;

static void make_data(void)
{
    uint64_t x = 777;
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < B * ND; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            data.dense[k][i] = (float)((int)(x >> 40 & 0xffff) - 32768) / 16384.0f;
        }
        data.offsets[k][0] = 0;
        for (int i = 0; i < B * NS; i++) {
            data.ids[k][i] = (i * 3 + k) % table_rows[i % NS];
            data.offsets[k][i + 1] = i + 1;
        }
        for (int i = 0; i < B; i++) {
            data.labels[k][i] = (i + k) % N_CLASSES;
            data.targets[k][i] = (float)((i / 2 + k) % 2);
        }
        sigeo_batch_t b = SIGEO_BATCH_INIT;
        b.batch_size = B;
        b.dense = data.dense[k];
        b.n_dense = ND;
        b.labels = data.labels[k];
        data.mlp[k] = b;
        b.labels = NULL;
        b.n_sparse_fields = NS;
        b.sparse_ids = data.ids[k];
        b.sparse_offsets = data.offsets[k];
        b.targets = data.targets[k];
        b.n_targets = 1;
        data.ctr[k] = b;
    }
}

/* ---------------------------------------------------------------- work */

typedef struct result {
    /* filled by the worker */
    sigeo_status_t status;
    char failed_call[96];
    char message[512];
    double score[2][2];     /* [before, after training][sigeo, grad_norm] */
    double loss[STEPS];
    uint64_t weights_digest;
    int64_t n_weights;
} result_t;

typedef struct job {
    int which;              /* 0..3: space and seed */
    const char *checkpoint; /* load this instead of training (NULL: train) */
    result_t result;
} job_t;

static uint64_t digest(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ull;
    return h;
}

#define TRY(call)                                                                                                     \
    do {                                                                                                              \
        sigeo_status_t st_ = (call);                                                                                  \
        if (st_ != SIGEO_OK) {                                                                                        \
            r->status = st_;                                                                                          \
            snprintf(r->failed_call, sizeof r->failed_call, "%s", #call);                                             \
            snprintf(r->message, sizeof r->message, "%s", sigeo_last_error());                                        \
            goto out;                                                                                                 \
        }                                                                                                             \
    } while (0)

static sigeo_status_t build(sigeo_model_t **m, sigeo_context_t **ctx, int which)
{
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.threads = 1;
    co.seed = 1000u + (uint64_t)which;
    sigeo_status_t st = sigeo_context_create(ctx, &co);
    if (st != SIGEO_OK)
        return st;
    sigeo_space_options_t so = SIGEO_SPACE_OPTIONS_INIT;
    so.preset = SIGEO_SPACE_TINY;
    so.n_dense = ND;
    if (which % 2 == 0) {
        so.n_classes = N_CLASSES;
        return sigeo_space_build(m, *ctx, "mlp", &so);
    }
    so.n_sparse_fields = NS;
    so.table_rows = table_rows;
    return sigeo_space_build(m, *ctx, "nasrec-small", &so);
}

static void score(double out[2], sigeo_model_t *m, const sigeo_batch_t *b, result_t *r, sigeo_status_t *st)
{
    static const int32_t kinds[2] = { SIGEO_PROXY_SIGEO, SIGEO_PROXY_GRAD_NORM };
    for (int i = 0; i < 2 && *st == SIGEO_OK; i++) {
        sigeo_proxy_options_t po = SIGEO_PROXY_OPTIONS_INIT;
        po.kind = kinds[i];
        sigeo_proxy_result_t pr = SIGEO_PROXY_RESULT_INIT;
        *st = sigeo_proxy_compute(m, NULL, 0, b, 2, &po, &pr);
        if (*st != SIGEO_OK) {
            snprintf(r->failed_call, sizeof r->failed_call, "sigeo_proxy_compute(%d)", (int)kinds[i]);
            snprintf(r->message, sizeof r->message, "%s", sigeo_last_error());
        }
        out[i] = pr.score;
    }
}

static void do_work(job_t *job)
{
    result_t *r = &job->result;
    memset(r, 0, sizeof *r);
    sigeo_context_t *ctx = NULL;
    sigeo_model_t *m = NULL;
    sigeo_optimizer_t *opt = NULL;
    const sigeo_batch_t *b = job->which % 2 == 0 ? data.mlp : data.ctr;
    TRY(build(&m, &ctx, job->which));
    if (job->checkpoint) {
        TRY(sigeo_model_load(m, job->checkpoint, 0));
    } else {
        score(r->score[0], m, b, r, &r->status);
        if (r->status != SIGEO_OK)
            goto out;
        sigeo_optimizer_options_t oo = SIGEO_OPTIMIZER_OPTIONS_INIT;
        oo.kind = SIGEO_OPT_ADAM;
        oo.lr = 0.01;
        TRY(sigeo_optimizer_create(&opt, m, &oo));
        for (int s = 0; s < STEPS; s++) {
            TRY(sigeo_model_forward_backward(&r->loss[s], m, &b[s % 2]));
            TRY(sigeo_optimizer_step(opt, oo.lr));
        }
    }
    score(r->score[1], m, b, r, &r->status);
    if (r->status != SIGEO_OK)
        goto out;
    int32_t n = 0;
    TRY(sigeo_model_param_count(&n, m));
    uint64_t h = 0xcbf29ce484222325ull;
    for (int32_t i = 0; i < n; i++) {
        sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
        TRY(sigeo_model_param_info(&info, m, i));
        float *w = malloc((size_t)info.numel * sizeof *w);
        if (!w) {
            r->status = SIGEO_ERR_NO_MEMORY;
            goto out;
        }
        sigeo_status_t st = sigeo_model_get_param(m, i, w, info.numel);
        h = digest(h, w, (size_t)info.numel * sizeof *w);
        free(w);
        TRY(st);
        r->n_weights += info.numel;
    }
    r->weights_digest = h;
out:
    sigeo_optimizer_destroy(opt);
    sigeo_model_destroy(m);
    sigeo_context_destroy(ctx);
}

static void *worker(void *arg)
{
    do_work(arg);
    return NULL;
}

/* Runs jobs[0..n) on n threads started together (a barrier lines them up
 * so the work really overlaps). */
static pthread_barrier_t start_line;

static void *lined_up_worker(void *arg)
{
    pthread_barrier_wait(&start_line);
    return worker(arg);
}

static void run_concurrently(job_t *jobs, int n)
{
    pthread_t t[N_THREADS];
    ck_assert_int_le(n, N_THREADS);
    ck_assert_int_eq(pthread_barrier_init(&start_line, NULL, (unsigned)n), 0);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, lined_up_worker, &jobs[i]), 0);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    pthread_barrier_destroy(&start_line);
}

static void assert_ok(const job_t *j, const char *when)
{
    ck_assert_msg(j->result.status == SIGEO_OK, "%s job %d: %s returned %d: %s", when, j->which,
                  j->result.failed_call, (int)j->result.status, j->result.message);
}

static void assert_same(const job_t *threaded, const job_t *alone)
{
    const result_t *a = &threaded->result, *b = &alone->result;
    for (int p = 0; p < 2; p++)
        for (int k = 0; k < 2; k++)
            ck_assert_msg(memcmp(&a->score[p][k], &b->score[p][k], sizeof(double)) == 0,
                          "job %d score[%d][%d]: threaded %.17g, alone %.17g", threaded->which, p, k, a->score[p][k],
                          b->score[p][k]);
    for (int s = 0; s < STEPS; s++)
        ck_assert_msg(memcmp(&a->loss[s], &b->loss[s], sizeof(double)) == 0,
                      "job %d loss[%d]: threaded %.17g, alone %.17g", threaded->which, s, a->loss[s], b->loss[s]);
    ck_assert_int_eq(a->n_weights, b->n_weights);
    ck_assert_msg(a->weights_digest == b->weights_digest, "job %d: the weights differ", threaded->which);
}

static void assert_nothing_held(void)
{
    uint64_t bytes = 1, blocks = 1;
    sigeo_memory_in_use(&bytes, &blocks);
    ck_assert_uint_eq(bytes, 0);
    ck_assert_uint_eq(blocks, 0);
}

/* --------------------------------------------------------------- tests */

START_TEST(work_scores_and_trains)
{
    make_data();
    job_t alone[N_THREADS], threaded[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        alone[i] = (job_t){ .which = i };
        do_work(&alone[i]);
        assert_ok(&alone[i], "single-threaded");
        threaded[i] = (job_t){ .which = i };
    }
    /* Three rounds: later rounds reuse whatever per-thread state the first left. */
    for (int round = 0; round < 3; round++) {
        run_concurrently(threaded, N_THREADS);
        for (int i = 0; i < N_THREADS; i++) {
            assert_ok(&threaded[i], "threaded");
            assert_same(&threaded[i], &alone[i]);
        }
    }
    assert_nothing_held();
}
END_TEST

START_TEST(all_threads_load_one_checkpoint)
{
    make_data();
    /* The checkpoint: job 1's supernet (NASRec-small) after training. */
    char dir[] = "/tmp/sigeo_threads_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/shared.safetensors", dir);
    {
        sigeo_context_t *ctx = NULL;
        sigeo_model_t *m = NULL;
        ck_assert_int_eq(build(&m, &ctx, 1), SIGEO_OK);
        sigeo_optimizer_t *opt = NULL;
        sigeo_optimizer_options_t oo = SIGEO_OPTIMIZER_OPTIONS_INIT;
        ck_assert_int_eq(sigeo_optimizer_create(&opt, m, &oo), SIGEO_OK);
        ck_assert_int_eq(sigeo_model_forward_backward(NULL, m, &data.ctr[0]), SIGEO_OK);
        ck_assert_int_eq(sigeo_optimizer_step(opt, 0.1), SIGEO_OK);
        ck_assert_int_eq(sigeo_model_save(m, path), SIGEO_OK);
        sigeo_optimizer_destroy(opt);
        sigeo_model_destroy(m);
        sigeo_context_destroy(ctx);
    }
    /* Every job builds the same supernet from a different seed (which 1, 3,
     * 5, 7: all NASRec-small), then loads the shared file: after the load
     * they are the same model. */
    job_t alone[N_THREADS], threaded[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        alone[i] = (job_t){ .which = 2 * i + 1, .checkpoint = path };
        do_work(&alone[i]);
        assert_ok(&alone[i], "single-threaded");
        threaded[i] = alone[i];
        memset(&threaded[i].result, 0, sizeof threaded[i].result);
    }
    for (int i = 1; i < N_THREADS; i++) {
        ck_assert_uint_eq(alone[i].result.weights_digest, alone[0].result.weights_digest);
        ck_assert(memcmp(alone[i].result.score[1], alone[0].result.score[1], sizeof alone[0].result.score[1]) == 0);
    }
    run_concurrently(threaded, N_THREADS);
    for (int i = 0; i < N_THREADS; i++) {
        assert_ok(&threaded[i], "threaded");
        assert_same(&threaded[i], &alone[i]);
    }
    remove(path);
    rmdir(dir);
    assert_nothing_held();
}
END_TEST

typedef struct err_job {
    int which;
    char got[512];
    char handle_got[512];
    sigeo_status_t status;
} err_job_t;

static void *error_worker(void *arg)
{
    err_job_t *j = arg;
    pthread_barrier_wait(&start_line);
    sigeo_context_t *ctx = NULL;
    sigeo_model_t *m = NULL;
    if (build(&m, &ctx, j->which) == SIGEO_OK) {
        char want[16];
        snprintf(want, sizeof want, "%d", 101 + j->which);
        for (int rep = 0; rep < 50; rep++) {
            /* A wrong architecture length, unique to this thread. */
            int32_t arch[128] = { 0 };
            j->status = sigeo_model_activate(m, arch, 101 + j->which);
            snprintf(j->got, sizeof j->got, "%s", sigeo_last_error());
            snprintf(j->handle_got, sizeof j->handle_got, "%s", sigeo_model_last_error(m));
            if (!strstr(j->got, want) || strcmp(j->got, j->handle_got) != 0)
                break;
        }
    } else {
        j->status = SIGEO_ERR_INTERNAL;
        snprintf(j->got, sizeof j->got, "build failed: %s", sigeo_last_error());
    }
    sigeo_model_destroy(m);
    sigeo_context_destroy(ctx);
    return NULL;
}

START_TEST(error_messages_stay_per_thread)
{
    err_job_t jobs[N_THREADS];
    pthread_t t[N_THREADS];
    ck_assert_int_eq(pthread_barrier_init(&start_line, NULL, N_THREADS), 0);
    for (int i = 0; i < N_THREADS; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].which = i;
        ck_assert_int_eq(pthread_create(&t[i], NULL, error_worker, &jobs[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    pthread_barrier_destroy(&start_line);
    for (int i = 0; i < N_THREADS; i++) {
        char want[16];
        snprintf(want, sizeof want, "%d", 101 + i);
        ck_assert_msg(jobs[i].status == SIGEO_ERR_INVALID_ARG, "thread %d: status %d (%s)", i, (int)jobs[i].status,
                      jobs[i].got);
        ck_assert_msg(strstr(jobs[i].got, want) != NULL, "thread %d read \"%s\", which does not name its length %s", i,
                      jobs[i].got, want);
        ck_assert_str_eq(jobs[i].handle_got, jobs[i].got);
    }
    assert_nothing_held();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, work_scores_and_trains);
    tcase_add_test(tc, all_threads_load_one_checkpoint);
    tcase_add_test(tc, error_messages_stay_per_thread);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
