/* libsigeo-mpi under mpirun (np 2 and 4 on the loopback; tests/mpi/meson.build):
 *  - after a data-parallel warm-up every rank holds the same weights, bit
 *    for bit, and they are the bits of a one-rank run (MPI_COMM_SELF) with
 *    the same parts: the reduction tree does not depend on the rank count;
 *    against a plain one-process sigeo_train they differ by rounding only;
 *  - the whole NAS pipeline over the ranks gives every record, the top-k
 *    and the best architecture of the one-rank run, on every rank;
 *  - a rank whose data is bad (a non-finite target in its part) makes every
 *    rank fail the same way, naming the rank, and nobody hangs;
 *  - the map gathers results in task order and agrees on task failures.
 * Check runs without fork (CK_NOFORK is set by main): MPI and fork do not mix. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigeo/io.h"
#include "sigeo/mpi.h"
#include "sigeo/nas.h"

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

static sigeo_mpi_t *world;
static int rank, size;

static sigeo_dataset_t *all, *tr, *va, *te;
static int64_t tables[26];
static sigeo_space_options_t space;

#define SETUP(call)                                                                   \
    do {                                                                              \
        if ((call) != SIGEO_OK) {                                                     \
            fprintf(stderr, "rank %d: %s: %s\n", rank, #call, sigeo_last_error());   \
            MPI_Abort(MPI_COMM_WORLD, 2);                                             \
        }                                                                             \
    } while (0)

static void make_data(void)
{
    sigeo_synth_options_t so = SIGEO_SYNTH_OPTIONS_INIT;
    so.seed = 11;
    so.n_rows = 3000;
    so.max_cardinality = 40;
    SETUP(sigeo_synth_generate(&all, NULL, &so, NULL));
    SETUP(sigeo_dataset_split(&tr, &va, &te, all, NULL));
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    SETUP(sigeo_dataset_get_info(&info, tr));
    size_t nt = 26;
    SETUP(sigeo_dataset_table_sizes(tables, &nt, tr));
    space = (sigeo_space_options_t)SIGEO_SPACE_OPTIONS_INIT;
    space.preset = SIGEO_SPACE_TINY;
    space.n_dense = info.n_dense;
    space.n_sparse_fields = info.n_sparse_fields;
    space.table_rows = tables;
}

static sigeo_model_t *supernet(sigeo_context_t **ctx)
{
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.seed = 21;
    co.threads = 1;
    OK(sigeo_context_create(ctx, &co));
    sigeo_model_t *m;
    OK(sigeo_space_build(&m, *ctx, "nasrec-small", &space));
    return m;
}

/* All parameters, concatenated. */
static float *weights(sigeo_model_t *m, int64_t *n_out)
{
    int32_t np;
    OK(sigeo_model_param_count(&np, m));
    int64_t total = 0;
    for (int32_t i = 0; i < np; i++) {
        sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
        OK(sigeo_model_param_info(&info, m, i));
        total += info.numel;
    }
    float *w = malloc((size_t)total * sizeof *w);
    int64_t off = 0;
    for (int32_t i = 0; i < np; i++) {
        sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
        OK(sigeo_model_param_info(&info, m, i));
        OK(sigeo_model_get_param(m, i, w + off, info.numel));
        off += info.numel;
    }
    *n_out = total;
    return w;
}

enum { WARM_BATCH = 64 };
static int WARM_STEPS = 6;

/* The NASRec warm-up recipe (Adagrad, any-path sampling) for WARM_STEPS
 * steps, data-parallel over `mpi` (NULL: one plain process). */
static float *warm_up(sigeo_mpi_t *mpi, int64_t *n, float **init)
{
    sigeo_context_t *ctx;
    sigeo_model_t *m = supernet(&ctx);
    if (init)
        *init = weights(m, n);
    sigeo_optimizer_options_t oo = SIGEO_OPTIMIZER_OPTIONS_INIT;
    oo.kind = SIGEO_OPT_ADAGRAD;
    oo.lr = 0.05;
    oo.eps = 1e-2;
    oo.clip_norm = 5.0;
    sigeo_optimizer_t *opt;
    OK(sigeo_optimizer_create(&opt, m, &oo));
    sigeo_train_options_t to = SIGEO_TRAIN_OPTIONS_INIT;
    to.sampling = SIGEO_SAMPLE_ANY_PATH_BINOMIAL;
    to.batch_size = WARM_BATCH;
    to.max_samples = WARM_STEPS * WARM_BATCH;
    to.drop_last = 1;
    if (mpi)
        OK(sigeo_mpi_train_options(&to, mpi));
    sigeo_train_result_t r = SIGEO_TRAIN_RESULT_INIT;
    OK(sigeo_train(&r, m, opt, tr, NULL, NULL, &to, NULL, NULL));
    ck_assert_int_eq(r.steps, WARM_STEPS);
    float *w = weights(m, n);
    sigeo_optimizer_destroy(opt);
    sigeo_model_destroy(m);
    sigeo_context_destroy(ctx);
    return w;
}

START_TEST(warm_up_weights_are_the_same_bits_on_every_rank_and_rank_count)
{
    int64_t n, n1, n0;
    float *init = NULL;
    float *w = warm_up(world, &n, &init);
    /* rank 0's weights to everyone: each rank compares its own */
    float *w0 = malloc((size_t)n * sizeof *w0);
    memcpy(w0, w, (size_t)n * sizeof *w0);
    MPI_Bcast(w0, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD);
    int same = memcmp(w, w0, (size_t)n * sizeof *w) == 0, all_same = 0;
    MPI_Allreduce(&same, &all_same, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    ck_assert_msg(all_same, "rank %d: weights differ from rank 0's after %d steps", rank, WARM_STEPS);
    /* one rank with the same parts: the same tree, the same bits */
    sigeo_mpi_t *self;
    OK(sigeo_mpi_create(&self, MPI_COMM_SELF));
    ck_assert_int_eq(sigeo_mpi_parts(self), sigeo_mpi_parts(world)); /* 4 for np 1, 2, 4 */
    float *w1 = warm_up(self, &n1, NULL);
    ck_assert_int_eq(n1, n);
    int64_t first_diff = -1;
    for (int64_t i = 0; i < n && first_diff < 0; i++)
        if (memcmp(&w[i], &w1[i], sizeof *w) != 0)
            first_diff = i;
    ck_assert_msg(first_diff < 0, "np %d vs np 1: element %lld differs (%.9g vs %.9g)", size, (long long)first_diff,
                  first_diff < 0 ? 0.0 : (double)w[first_diff], first_diff < 0 ? 0.0 : (double)w1[first_diff]);
    /* A plain one-process run (one backward over each whole batch) equals
     * the data-parallel one up to the grouping of the float sums. Bound,
     * over the first 3 steps (later, a rounding-level difference can flip
     * a ReLU for some row and the trajectories part: measured here, 1e-6 at
     * step 4, 4e-3 at step 6): an element of a step's gradient is a sum of
     * at most B per-row terms, each at most the clipped norm c = 5 in size,
     * so two groupings differ by at most 2 B u c (u = 2^-24); Adagrad's step
     * lr g / (sqrt(acc) + eps) moves by at most lr / eps per unit of g; over
     * 3 steps: 3 (lr / eps) 2 B u c. */
    WARM_STEPS = 3;
    float *wp = warm_up(NULL, &n0, NULL), *w3 = warm_up(world, &n0, NULL);
    WARM_STEPS = 6;
    const double bound = 3 * (0.05 / 1e-2) * 2.0 * WARM_BATCH * 0x1p-24 * 5.0;
    double moved = 0.0, diff = 0.0;
    for (int64_t i = 0; i < n; i++) {
        moved = fmax(moved, fabs((double)wp[i] - init[i]));
        diff = fmax(diff, fabs((double)wp[i] - w3[i]));
    }
    ck_assert_msg(moved > 1e-3, "the warm-up moved the weights by %g only", moved);
    ck_assert_msg(diff <= bound, "np %d vs one plain process: %g (bound %g; weights moved by %g)", size, diff, bound,
                  moved);
    free(w3);
    free(w);
    free(w0);
    free(w1);
    free(wp);
    free(init);
    sigeo_mpi_destroy(self);
}
END_TEST

/* One line per record: everything but the timings. */
static char *records(const sigeo_nas_result_t *r, size_t *len)
{
    uint64_t n = sigeo_nas_result_evaluation_count(r);
    size_t cap = 256 + (size_t)n * 512, used = 0;
    char *buf = malloc(cap);
    for (uint64_t i = 0; i < n; i++) {
        sigeo_evaluation_t e = SIGEO_EVALUATION_INIT;
        OK(sigeo_nas_result_evaluation(&e, r, i));
        used += (size_t)snprintf(buf + used, cap - used, "%llu %d %lld %.17g %s %s|%.17g %.17g %.17g\n",
                                 (unsigned long long)e.index, (int)e.status, (long long)e.cycle, e.score, e.arch_text,
                                 e.message, e.proxy ? e.proxy->zico : 0.0, e.proxy ? e.proxy->log_fr : 0.0,
                                 e.proxy ? e.proxy->loss : 0.0);
        if (used >= cap - 1)
            break;
    }
    sigeo_nas_summary_t s = SIGEO_NAS_SUMMARY_INIT;
    OK(sigeo_nas_result_get_summary(&s, r));
    for (int32_t i = 0; i < s.top_n && used < cap - 128; i++) {
        sigeo_nas_candidate_t c = SIGEO_NAS_CANDIDATE_INIT;
        OK(sigeo_nas_result_candidate(&c, NULL, 0, r, i));
        used += (size_t)snprintf(buf + used, cap - used, "cand %d %d %.17g %.17g %.17g\n", (int)i, (int)c.status,
                                 c.score, c.val_logloss, c.test_logloss);
    }
    used += (size_t)snprintf(buf + used, cap - used, "best %d %.17g\n", (int)s.best, s.val_logloss);
    *len = used;
    return buf;
}

static sigeo_nas_result_t *nas(sigeo_mpi_t *mpi, sigeo_status_t *st, sigeo_context_t **ctx_out)
{
    sigeo_context_t *ctx;
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.seed = 21;
    co.threads = 1;
    OK(sigeo_context_create(&ctx, &co));
    sigeo_search_options_t se = SIGEO_SEARCH_OPTIONS_INIT;
    se.population = 8;
    se.sample_size = 4;
    se.children = 3; /* not a multiple of the rank count: uneven blocks */
    se.cycles = 4;
    se.seed = 5;
    se.mutation_schedule = SIGEO_MUTATE_NASREC;
    sigeo_nas_options_t o = SIGEO_NAS_OPTIONS_INIT;
    o.batch_size = 64;
    o.warmup_fraction = 0.2;
    o.search = &se;
    o.top_k = 3;
    o.retrain_epochs = 0.1;
    sigeo_nas_result_t *r = NULL;
    *st = sigeo_mpi_nas_run_space(&r, mpi, ctx, "nasrec-small", &space, tr, va, te, &o);
    *ctx_out = ctx; /* the result's supernet lives in it: destroyed after the result */
    return r;
}

START_TEST(the_search_is_the_same_on_every_rank_count)
{
    sigeo_status_t st;
    sigeo_context_t *c0, *c1;
    sigeo_nas_result_t *r = nas(world, &st, &c0);
    ck_assert_msg(st == SIGEO_OK, "rank %d: %s", rank, sigeo_mpi_last_error(world));
    size_t len, len1;
    char *mine = records(r, &len);
    ck_assert_uint_gt(sigeo_nas_result_evaluation_count(r), 8);
    sigeo_mpi_t *self;
    OK(sigeo_mpi_create(&self, MPI_COMM_SELF));
    sigeo_nas_result_t *r1 = nas(self, &st, &c1);
    ck_assert_int_eq(st, SIGEO_OK);
    char *one = records(r1, &len1);
    if (len != len1 || memcmp(mine, one, len) != 0) {
        size_t at = 0, line = 0;
        while (at < len && at < len1 && mine[at] == one[at])
            if (mine[at++] == '\n')
                line = at;
        ck_abort_msg("rank %d of %d, first difference from one rank:\n%.200s\nvs\n%.200s", rank, size, mine + line,
                     one + line);
    }
    int32_t n = 0;
    sigeo_nas_summary_t s = SIGEO_NAS_SUMMARY_INIT;
    OK(sigeo_nas_result_get_summary(&s, r));
    n = s.n_arch;
    int32_t *a = malloc((size_t)n * 2 * sizeof *a);
    OK(sigeo_nas_result_best_arch(a, n, r));
    OK(sigeo_nas_result_best_arch(a + n, n, r1));
    ck_assert(memcmp(a, a + n, (size_t)n * sizeof *a) == 0);
    free(a);
    free(mine);
    free(one);
    sigeo_nas_result_destroy(r);
    sigeo_nas_result_destroy(r1);
    sigeo_context_destroy(c0);
    sigeo_context_destroy(c1);
    sigeo_mpi_destroy(self);
}
END_TEST

/* Rank 1 cannot read its data: the agreement fails every rank with rank
 * 1's message. Then rank 1's model is broken (weights so large that its
 * forward overflows) in the middle of a data-parallel warm-up: every rank
 * fails the same way, naming rank 1, nobody waits, the handle stays usable. */
START_TEST(a_failing_rank_fails_every_rank_with_its_message)
{
    if (size < 2)
        return;
    sigeo_dataset_t *file = NULL;
    sigeo_status_t st = SIGEO_OK;
    if (rank == 1)
        st = sigeo_criteo_load(&file, NULL, "/nonexistent/sigeo-mpi-test/shard1.tsv", NULL, 0);
    char msg[512];
    ck_assert_int_eq(sigeo_mpi_agree(world, st, msg, sizeof msg), SIGEO_ERR_IO);
    ck_assert_msg(strstr(msg, "rank 1: ") == msg && strstr(msg, "shard1.tsv"), "rank %d: %s", rank, msg);
    sigeo_dataset_destroy(file);

    sigeo_context_t *ctx;
    sigeo_model_t *m = supernet(&ctx);
    if (rank == 1) { /* the last weight matrix (the head, after every norm): its logits overflow */
        int32_t np, last = -1;
        OK(sigeo_model_param_count(&np, m));
        sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
        for (int32_t i = 0; i < np; i++) {
            OK(sigeo_model_param_info(&info, m, i));
            if (info.kind == SIGEO_PARAM_WEIGHT)
                last = i;
        }
        OK(sigeo_model_param_info(&info, m, last));
        float *big = malloc((size_t)info.numel * sizeof *big);
        for (int64_t i = 0; i < info.numel; i++)
            big[i] = 3e38f;
        OK(sigeo_model_set_param(m, last, big, info.numel));
        free(big);
    }
    sigeo_optimizer_options_t oo = SIGEO_OPTIMIZER_OPTIONS_INIT;
    sigeo_optimizer_t *opt;
    OK(sigeo_optimizer_create(&opt, m, &oo));
    sigeo_train_options_t to = SIGEO_TRAIN_OPTIONS_INIT;
    to.sampling = SIGEO_SAMPLE_ANY_PATH_BINOMIAL;
    to.batch_size = 64;
    to.max_samples = 4 * 64;
    OK(sigeo_mpi_train_options(&to, world));
    st = sigeo_train(NULL, m, opt, tr, NULL, NULL, &to, NULL, NULL);
    char text[512];
    snprintf(text, sizeof text, "%s", sigeo_last_error());
    ck_assert_msg(st == SIGEO_ERR_NONFINITE, "rank %d: %s (%s)", rank, sigeo_status_string(st), text);
    ck_assert_msg(strstr(text, "rank 1") || rank == 1, "rank %d: %s", rank, text);
    /* the handle is still usable: the next collective works */
    OK(sigeo_mpi_agree(world, SIGEO_OK, NULL, 0));
    sigeo_optimizer_destroy(opt);
    sigeo_model_destroy(m);
    sigeo_context_destroy(ctx);
}
END_TEST

static sigeo_status_t square_task(void *result, int64_t index, void *user)
{
    int *fail_at = user;
    if (index == *fail_at)
        return sigeo_set_last_error(SIGEO_ERR_IO, "cannot read shard");
    int64_t v = index * index;
    memcpy(result, &v, sizeof v);
    return SIGEO_OK;
}

START_TEST(the_map_gathers_in_task_order_and_agrees_on_failures)
{
    for (int64_t count = 0; count <= 9; count++) {
        int64_t res[9];
        memset(res, 0xff, sizeof res);
        int never = -1;
        OK(sigeo_mpi_map(res, sizeof res[0], count, square_task, &never, world));
        for (int64_t i = 0; i < count; i++)
            ck_assert_int_eq(res[i], i * i);
    }
    int64_t res[7];
    int fail_at = 6; /* on the last rank's block */
    ck_assert_int_eq(sigeo_mpi_map(res, sizeof res[0], 7, square_task, &fail_at, world), SIGEO_ERR_IO);
    ck_assert_ptr_nonnull(strstr(sigeo_last_error(), "task 6: cannot read shard"));
    char want[32];
    snprintf(want, sizeof want, "rank %d:", size - 1);
    ck_assert_ptr_nonnull(strstr(sigeo_last_error(), want));
    sigeo_mpi_stats_t s = SIGEO_MPI_STATS_INIT;
    OK(sigeo_mpi_get_stats(&s, world));
    ck_assert_uint_gt(s.collectives, 0);
}
END_TEST

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (sigeo_mpi_create(&world, MPI_COMM_WORLD) != SIGEO_OK) {
        fprintf(stderr, "rank %d: %s\n", rank, sigeo_last_error());
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    make_data();
    Suite *s = suite_create("mpi");
    TCase *tc = tcase_create("mpi");
    tcase_set_timeout(tc, 0);
    tcase_add_test(tc, the_map_gathers_in_task_order_and_agrees_on_failures);
    tcase_add_test(tc, warm_up_weights_are_the_same_bits_on_every_rank_and_rank_count);
    tcase_add_test(tc, the_search_is_the_same_on_every_rank_count);
    tcase_add_test(tc, a_failing_rank_fails_every_rank_with_its_message);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_set_fork_status(r, CK_NOFORK);
    srunner_run_all(r, rank == 0 ? CK_NORMAL : CK_SILENT);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    /* every rank's verdict: a failure on any rank fails the job */
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    sigeo_mpi_destroy(world);
    sigeo_dataset_destroy(all);
    sigeo_dataset_destroy(tr);
    sigeo_dataset_destroy(va);
    sigeo_dataset_destroy(te);
    MPI_Finalize();
    return any ? EXIT_FAILURE : EXIT_SUCCESS;
}
