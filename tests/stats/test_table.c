/* Table (row-sparse) modules give exactly the statistics of the same
 * gradients fed densely with zeros in the untouched rows: checked against a
 * plain module on the same data, for every ZiCo variant and the reference
 * Fisher-Rao dot products. Untouched rows are never read. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "guard_alloc.h"
#include "sigeo/stats.h"

enum { ROWS = 50, DIM = 3, K = 4 };

static uint64_t state = 12345;
static double urand(void)
{
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(state >> 11) * 0x1.0p-53;
}

static void near(double a, double b, const char *what)
{
    ck_assert_msg(fabs(a - b) <= 1e-6 * fabs(b) + 1e-12, "%s: table %.12g vs dense %.12g", what, a, b);
}

static void compare(int32_t zico_variant, uint32_t ddof, int32_t fr)
{
    sigeo_stats_options_t o = SIGEO_STATS_OPTIONS_INIT;
    o.zico_variant = zico_variant;
    o.std_ddof = ddof;
    o.fr_estimator = fr;
    o.lambda_preset = SIGEO_PRESET_RECSYS;
    sigeo_stats_t *dense, *table;
    ck_assert_int_eq(sigeo_stats_create(&dense, NULL, &o), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_create(&table, NULL, &o), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_add_module(NULL, dense, "w", 7), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_add_module(NULL, dense, "emb", ROWS * DIM), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_add_module(NULL, table, "w", 7), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_add_table_module(NULL, table, "emb", ROWS, DIM), SIGEO_OK);
    static float g[K][ROWS * DIM], gt[K][ROWS * DIM], w[K][7];
    int64_t touched[K][40], n_touched[K];
    double d[8];
    for (int b = 0; b < K; b++) {
        memset(g[b], 0, sizeof g[b]);
        n_touched[b] = 0;
        for (int i = 0; i < 12 + 3 * b; i++) { /* some rows twice, row 7 in every batch, row 9 in none */
            int64_t r = (int64_t)(urand() * ROWS);
            if (r == 9)
                r = 10;
            if (i == 0)
                r = 7;
            touched[b][n_touched[b]++] = r;
            for (int e = 0; e < DIM; e++)
                g[b][r * DIM + e] = (float)(urand() - 0.5);
        }
        memcpy(gt[b], g[b], sizeof g[b]);
        /* untouched rows of the table's buffer hold garbage: never read */
        gt[b][9 * DIM] = NAN;
        for (int j = 0; j < 7; j++)
            w[b][j] = (float)(urand() - 0.5);
        for (int n = 0; n < 8; n++)
            d[n] = urand() - 0.5;
        const float *gd[2] = { w[b], g[b] }, *gtab[2] = { w[b], gt[b] };
        const int64_t counts[2] = { 7, ROWS * DIM };
        const int64_t *rows[2] = { NULL, touched[b] }, nrows[2] = { 0, n_touched[b] };
        sigeo_stats_batch_t bd = SIGEO_STATS_BATCH_INIT;
        bd.n_modules = 2;
        bd.gradients = gd;
        bd.gradient_counts = counts;
        bd.loss = 0.5 + b;
        bd.batch_size = 8;
        bd.directional = d;
        sigeo_stats_batch_t bt = bd;
        bt.gradients = gtab;
        bt.touched_rows = rows;
        bt.touched_counts = nrows;
        ck_assert_int_eq(sigeo_stats_add_batch(dense, &bd), SIGEO_OK);
        ck_assert_msg(sigeo_stats_add_batch(table, &bt) == SIGEO_OK, "%s", sigeo_last_error());
    }
    float theta_w[7], theta_e[ROWS * DIM];
    for (int j = 0; j < 7; j++)
        theta_w[j] = (float)urand();
    for (int j = 0; j < ROWS * DIM; j++)
        theta_e[j] = (float)(urand() - 0.3);
    for (int h = 0; h < 2; h++) {
        sigeo_stats_t *s = h ? table : dense;
        ck_assert_int_eq(sigeo_stats_set_params(s, 0, theta_w, 7), SIGEO_OK);
        ck_assert_int_eq(sigeo_stats_set_params(s, 1, theta_e, ROWS * DIM), SIGEO_OK);
    }
    sigeo_stats_result_t rd = SIGEO_STATS_RESULT_INIT, rt = SIGEO_STATS_RESULT_INIT;
    ck_assert_int_eq(sigeo_stats_compute(&rd, dense), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_compute(&rt, table), SIGEO_OK);
    near(rt.zico, rd.zico, "zico");
    near(rt.fr, rd.fr, "fr");
    near(rt.log_fr, rd.log_fr, "log_fr");
    near(rt.score, rd.score, "score");
    near(rt.theta_dot_grad_sum, rd.theta_dot_grad_sum, "theta . sum g");
    sigeo_stats_module_info_t id = SIGEO_STATS_MODULE_INFO_INIT, it = SIGEO_STATS_MODULE_INFO_INIT;
    ck_assert_int_eq(sigeo_stats_get_module_info(&id, dense, 1), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_get_module_info(&it, table, 1), SIGEO_OK);
    ck_assert_int_eq(it.n_nonzero_sigma, id.n_nonzero_sigma);
    near(it.ratio_sum, id.ratio_sum, "ratio sum");
    sigeo_stats_destroy(dense);
    sigeo_stats_destroy(table);
}

START_TEST(table_module_equals_dense_zero_filled_gradients)
{
    compare(SIGEO_ZICO_MODULE_WISE, 0, SIGEO_FR_EXACT);
    compare(SIGEO_ZICO_NEURON_WISE, 1, SIGEO_FR_REFERENCE_RECSYS);
    compare(SIGEO_ZICO_REFERENCE_RECSYS, 1, SIGEO_FR_REFERENCE_CV);
}
END_TEST

START_TEST(table_module_reset_and_bad_rows)
{
    sigeo_stats_t *s;
    sigeo_stats_options_t o = SIGEO_STATS_OPTIONS_INIT;
    o.lambda_preset = SIGEO_PRESET_CUSTOM; /* ZiCo alone: no per-sample terms needed */
    o.lambda1 = 1.0;
    o.lambda2 = 0.0;
    o.lambda3 = 0.0;
    ck_assert_int_eq(sigeo_stats_create(&s, NULL, &o), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_add_table_module(NULL, s, "t", 0, 3), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_stats_add_table_module(NULL, s, "t", 4, 2), SIGEO_OK);
    float g[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    const float *gs[1] = { g };
    const int64_t counts[1] = { 8 }, bad_rows[2] = { 1, 4 }, one[1] = { 2 };
    const int64_t *rows[1] = { bad_rows }, n2[1] = { 2 }, n1[1] = { 1 };
    sigeo_stats_batch_t b = SIGEO_STATS_BATCH_INIT;
    b.n_modules = 1;
    b.gradients = gs;
    b.gradient_counts = counts;
    b.batch_size = 1;
    b.touched_rows = rows;
    b.touched_counts = n2;
    ck_assert_int_eq(sigeo_stats_add_batch(s, &b), SIGEO_ERR_INVALID_ARG); /* row 4 of 4 */
    ck_assert_ptr_nonnull(strstr(sigeo_last_error(), "row 4"));
    g[4] = INFINITY;
    rows[0] = one;
    b.touched_counts = n1;
    ck_assert_int_eq(sigeo_stats_add_batch(s, &b), SIGEO_ERR_NONFINITE); /* row 2 holds g[4..5] */
    g[4] = 5;
    ck_assert_int_eq(sigeo_stats_add_batch(s, &b), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_add_batch(s, &b), SIGEO_OK);
    sigeo_stats_result_t r1 = SIGEO_STATS_RESULT_INIT, r2 = SIGEO_STATS_RESULT_INIT;
    ck_assert_int_eq(sigeo_stats_compute(&r1, s), SIGEO_OK);
    ck_assert(r1.flags & SIGEO_STATS_ALL_SKIPPED); /* the same row twice: sigma 0 */
    /* after a reset, stale rows of the previous candidate do not leak in */
    ck_assert_int_eq(sigeo_stats_reset(s), SIGEO_OK);
    const int64_t r0[1] = { 0 };
    rows[0] = r0;
    ck_assert_int_eq(sigeo_stats_add_batch(s, &b), SIGEO_OK);
    rows[0] = one;
    ck_assert_int_eq(sigeo_stats_add_batch(s, &b), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_compute(&r2, s), SIGEO_OK);
    /* rows 0 and 2 each once in 2 batches: each element (x, 0): mu |x|/2, sigma |x|/2 -> ratio 1; 4 elements */
    ck_assert_msg(fabs(r2.zico - log(4.0)) < 1e-6, "zico %g, want log 4", r2.zico);
    sigeo_stats_destroy(s);
}
END_TEST

/* ---- the compact row store (lib/stats/welford_table.h) against a brute
 * force: every (row, element)'s k values kept in double, zeros where a batch
 * did not touch the row. Enough rows that the store grows several times,
 * rows first touched in descending order (slot order is not row order),
 * repeated rows within a batch, and candidates after a reset that touch
 * other rows (stale slot entries must not be taken for live ones). */
enum { BIG_ROWS = 1000, BIG_DIM = 2, BIG_K = 3 };

typedef struct big_batch {
    int64_t rows[700];
    int64_t n;
    float g[BIG_ROWS * BIG_DIM];
} big_batch_t;

static big_batch_t big[BIG_K];

/* candidate c's batches: batch 0 lists rows 599..0 descending (+ row 599
 * again), batch 1 300 pseudo-random rows, batch 2 rows from 400 + 100 c on */
static void make_big(int c)
{
    for (int b = 0; b < BIG_K; b++) {
        big_batch_t *x = &big[b];
        memset(x->g, 0, sizeof x->g);
        x->n = 0;
        if (b == 0) {
            for (int64_t r = 599; r >= 0; r--)
                x->rows[x->n++] = (r + 37 * c) % BIG_ROWS;
            x->rows[x->n++] = x->rows[0];
        } else if (b == 1) {
            for (int i = 0; i < 300; i++)
                x->rows[x->n++] = (int64_t)(urand() * BIG_ROWS);
        } else {
            for (int64_t r = 400 + 100 * c; r < BIG_ROWS && x->n < 500; r++)
                x->rows[x->n++] = r;
        }
        for (int64_t i = 0; i < x->n; i++)
            for (int e = 0; e < BIG_DIM; e++)
                x->g[x->rows[i] * BIG_DIM + e] = (float)(urand() - 0.5);
    }
}

/* ZiCo module-wise (sum) and the RecSys reference's first ratio of the
 * zero-filled dense gradients, ddof 0, from the definitions. */
static void brute_zico(double *sum_out, double *first_out, int64_t *nonzero_out)
{
    double sum = 0.0, first = 0.0;
    int64_t nonzero = 0;
    for (int64_t j = 0; j < BIG_ROWS * BIG_DIM; j++) {
        double mu = 0.0, mean = 0.0, sq = 0.0;
        for (int b = 0; b < BIG_K; b++) {
            mu += fabs((double)big[b].g[j]) / BIG_K;
            mean += (double)big[b].g[j] / BIG_K;
        }
        for (int b = 0; b < BIG_K; b++)
            sq += ((double)big[b].g[j] - mean) * ((double)big[b].g[j] - mean);
        const double sigma = sqrt(sq / BIG_K);
        if (sigma > 1e-9) { /* the values are 0 or >= 2^-24 apart: sigma is 0 or far from it */
            if (nonzero == 0)
                first = mu / sigma;
            sum += mu / sigma;
            nonzero++;
        }
    }
    *sum_out = sum;
    *first_out = first;
    *nonzero_out = nonzero;
}

static sigeo_status_t add_big(sigeo_stats_t *s, int b)
{
    const float *gs[1] = { big[b].g };
    const int64_t counts[1] = { BIG_ROWS * BIG_DIM };
    const int64_t *rows[1] = { big[b].rows }, n[1] = { big[b].n };
    sigeo_stats_batch_t sb = SIGEO_STATS_BATCH_INIT;
    sb.n_modules = 1;
    sb.gradients = gs;
    sb.gradient_counts = counts;
    sb.touched_rows = rows;
    sb.touched_counts = n;
    sb.batch_size = 1;
    return sigeo_stats_add_batch(s, &sb);
}

static sigeo_stats_t *big_handle(int32_t variant)
{
    sigeo_stats_options_t o = SIGEO_STATS_OPTIONS_INIT;
    o.lambda_preset = SIGEO_PRESET_CUSTOM; /* ZiCo alone */
    o.lambda1 = 1.0;
    o.lambda2 = 0.0;
    o.lambda3 = 0.0;
    o.zico_variant = variant;
    sigeo_stats_t *s;
    ck_assert_int_eq(sigeo_stats_create(&s, NULL, &o), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_add_table_module(NULL, s, "emb", BIG_ROWS, BIG_DIM), SIGEO_OK);
    return s;
}

static void check_big(sigeo_stats_t *s, int32_t variant, int c)
{
    double sum, first;
    int64_t nonzero;
    brute_zico(&sum, &first, &nonzero);
    sigeo_stats_result_t r = SIGEO_STATS_RESULT_INIT;
    ck_assert_msg(sigeo_stats_compute(&r, s) == SIGEO_OK, "%s", sigeo_last_error());
    sigeo_stats_module_info_t mi = SIGEO_STATS_MODULE_INFO_INIT;
    ck_assert_int_eq(sigeo_stats_get_module_info(&mi, s, 0), SIGEO_OK);
    ck_assert_msg(mi.n_nonzero_sigma == nonzero, "candidate %d: %lld elements with sigma != 0, brute force %lld", c,
                  (long long)mi.n_nonzero_sigma, (long long)nonzero);
    const double want = variant == SIGEO_ZICO_REFERENCE_RECSYS ? log(first) : log(sum);
    ck_assert_msg(fabs(r.zico - want) <= 1e-5 * fabs(want) + 1e-9, "candidate %d variant %d: zico %.10g, brute %.10g",
                  c, (int)variant, r.zico, want);
}

START_TEST(table_store_grows_and_resets_as_a_brute_force_says)
{
    const int32_t variants[2] = { SIGEO_ZICO_MODULE_WISE, SIGEO_ZICO_REFERENCE_RECSYS };
    for (int v = 0; v < 2; v++) {
        sigeo_stats_t *s = big_handle(variants[v]);
        for (int c = 0; c < 3; c++) {
            if (c)
                ck_assert_int_eq(sigeo_stats_reset(s), SIGEO_OK);
            make_big(c);
            for (int b = 0; b < BIG_K; b++)
                ck_assert_msg(add_big(s, b) == SIGEO_OK, "%s", sigeo_last_error());
            check_big(s, variants[v], c);
        }
        sigeo_stats_destroy(s);
    }
}
END_TEST

/* Several tables reduced on a team of 2 (FIXED: every call parallel) give
 * bit for bit the one-thread result: each table is reduced on its own. */
START_TEST(tables_reduced_on_a_team_equal_one_thread_bit_for_bit)
{
    sigeo_context_t *ctx[2] = { NULL, NULL };
    for (int c = 0; c < 2; c++) {
        sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
        co.threads = c ? 2 : 1;
        co.thread_policy = SIGEO_THREADS_FIXED;
        ck_assert_int_eq(sigeo_context_create(&ctx[c], &co), SIGEO_OK);
    }
    sigeo_stats_result_t res[2];
    double ratio[2][5];
    for (int c = 0; c < 2; c++) {
        sigeo_stats_options_t o = SIGEO_STATS_OPTIONS_INIT;
        o.lambda_preset = SIGEO_PRESET_CUSTOM;
        o.lambda1 = 1.0;
        o.lambda2 = 0.0;
        o.lambda3 = 0.0;
        sigeo_stats_t *s;
        ck_assert_int_eq(sigeo_stats_create(&s, ctx[c], &o), SIGEO_OK);
        for (int t = 0; t < 5; t++) {
            char name[8] = "emb0";
            name[3] = (char)('0' + t);
            ck_assert_int_eq(sigeo_stats_add_table_module(NULL, s, name, BIG_ROWS, BIG_DIM), SIGEO_OK);
        }
        state = 777; /* the same batches for both handles */
        for (int b = 0; b < BIG_K; b++) {
            static float g[5][BIG_ROWS * BIG_DIM];
            static int64_t rows[5][200];
            const float *gs[5];
            const int64_t *rs[5];
            int64_t counts[5], n[5];
            for (int t = 0; t < 5; t++) {
                n[t] = 50 + 30 * t;
                for (int64_t i = 0; i < n[t]; i++) {
                    rows[t][i] = (int64_t)(urand() * BIG_ROWS);
                    for (int e = 0; e < BIG_DIM; e++)
                        g[t][rows[t][i] * BIG_DIM + e] = (float)(urand() - 0.5);
                }
                gs[t] = g[t];
                rs[t] = rows[t];
                counts[t] = BIG_ROWS * BIG_DIM;
            }
            sigeo_stats_batch_t sb = SIGEO_STATS_BATCH_INIT;
            sb.n_modules = 5;
            sb.gradients = gs;
            sb.gradient_counts = counts;
            sb.touched_rows = rs;
            sb.touched_counts = n;
            sb.batch_size = 1;
            ck_assert_msg(sigeo_stats_add_batch(s, &sb) == SIGEO_OK, "%s", sigeo_last_error());
        }
        res[c] = (sigeo_stats_result_t)SIGEO_STATS_RESULT_INIT;
        ck_assert_int_eq(sigeo_stats_compute(&res[c], s), SIGEO_OK);
        for (int t = 0; t < 5; t++) {
            sigeo_stats_module_info_t mi = SIGEO_STATS_MODULE_INFO_INIT;
            ck_assert_int_eq(sigeo_stats_get_module_info(&mi, s, t), SIGEO_OK);
            ratio[c][t] = mi.ratio_sum;
        }
        sigeo_stats_destroy(s);
    }
    ck_assert_msg(memcmp(&res[0].zico, &res[1].zico, sizeof res[0].zico) == 0, "zico %.17g (1 thread) vs %.17g (2)",
                  res[0].zico, res[1].zico);
    ck_assert(memcmp(ratio[0], ratio[1], sizeof ratio[0]) == 0);
    for (int c = 0; c < 2; c++)
        sigeo_context_destroy(ctx[c]);
}
END_TEST

START_TEST(table_store_out_of_memory_leaves_the_handle_as_it_was)
{
    guard_reset();
    sigeo_allocator_t a = guard_allocator();
    ck_assert_int_eq(sigeo_set_allocator(&a), SIGEO_OK);
    sigeo_stats_t *s = big_handle(SIGEO_ZICO_MODULE_WISE);
    make_big(0);
    /* Every allocation batch 0 makes fails in turn (the accumulators, then
     * the row store growing from nothing to its 601 rows) until it goes
     * through; each failure is NO_MEMORY and folds nothing. */
    bool named_the_table = false;
    int failures = 0;
    for (uint64_t nth = 1;; nth++) {
        const uint64_t before = guard_stats().alloc_calls;
        guard_fail_at(before + nth, false);
        const sigeo_status_t st = add_big(s, 0);
        guard_fail_at(0, false);
        if (st == SIGEO_OK)
            break;
        ck_assert_int_eq(st, SIGEO_ERR_NO_MEMORY);
        named_the_table |= strstr(sigeo_last_error(), "table 'emb'") != NULL;
        failures++;
        ck_assert_int_lt(failures, 100);
    }
    ck_assert_msg(named_the_table, "no failure named the table");
    for (int b = 1; b < BIG_K; b++)
        ck_assert_msg(add_big(s, b) == SIGEO_OK, "%s", sigeo_last_error());
    check_big(s, SIGEO_ZICO_MODULE_WISE, 0); /* exactly three batches were folded */
    sigeo_stats_destroy(s);
    ck_assert_uint_eq(guard_stats().corruptions, 0);
    ck_assert_int_eq(sigeo_set_allocator(NULL), SIGEO_OK);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stats-table");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, table_module_equals_dense_zero_filled_gradients);
    tcase_add_test(tc, table_module_reset_and_bad_rows);
    tcase_add_test(tc, table_store_grows_and_resets_as_a_brute_force_says);
    tcase_add_test(tc, table_store_out_of_memory_leaves_the_handle_as_it_was);
    tcase_add_test(tc, tables_reduced_on_a_team_equal_one_thread_bit_for_bit);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
