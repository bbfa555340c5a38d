/* sigeo_stats_add_flat_batch and sigeo_struct_size, the C API for FFI
 * callers. The flat path must give exactly (bit for bit) the statistics of
 * the pointer-array path on the same numbers: modules packed, placed by
 * explicit offsets out of order with gaps, table modules with flat touched
 * rows, and more modules than the on-stack arrays hold. Bad input fails
 * with a message naming the field and leaves the accumulator unchanged. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigeo/data.h"
#include "sigeo/io.h"
#include "sigeo/model.h"
#include "sigeo/nas.h"
#include "sigeo/proxy.h"
#include "sigeo/search.h"
#include "sigeo/stats.h"
#include "sigeo/train.h"

enum { K = 4, B = 5, MAXM = 80 };

static uint64_t state = 99;
static float urand(void)
{
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(state >> 11) * 0x1.0p-53 - 0.5);
}

typedef struct data {
    int32_t n_modules;
    int64_t counts[MAXM];
    int64_t rows[MAXM]; /* > 0: table module of rows x (counts / rows) */
    float *grad[K][MAXM];
    int64_t touched[K][MAXM][8];
    int64_t n_touched[K][MAXM];
    double d[K][B];
    double loss[K];
} data_t;

static void make(data_t *x, int32_t n_modules, int tables)
{
    memset(x, 0, sizeof *x);
    x->n_modules = n_modules;
    for (int32_t m = 0; m < n_modules; m++) {
        x->counts[m] = 1 + (m * 7) % 13;
        if (tables && m % 2 == 1) {
            x->rows[m] = 6;
            x->counts[m] = 6 * 2;
        }
    }
    for (int b = 0; b < K; b++) {
        for (int32_t m = 0; m < n_modules; m++) {
            x->grad[b][m] = calloc((size_t)x->counts[m], sizeof(float));
            if (x->rows[m]) {
                x->n_touched[b][m] = 3;
                for (int i = 0; i < 3; i++) {
                    int64_t r = (b + 2 * i) % 6; /* row 1 when b = 1 only, repetitions for b = 0 */
                    x->touched[b][m][i] = r;
                    x->grad[b][m][r * 2] = urand();
                    x->grad[b][m][r * 2 + 1] = urand();
                }
            } else {
                for (int64_t j = 0; j < x->counts[m]; j++)
                    x->grad[b][m][j] = urand();
            }
        }
        for (int n = 0; n < B; n++)
            x->d[b][n] = urand();
        x->loss[b] = 1.0 + urand();
    }
}

static void unmake(data_t *x)
{
    for (int b = 0; b < K; b++)
        for (int32_t m = 0; m < x->n_modules; m++)
            free(x->grad[b][m]);
}

static sigeo_stats_t *create(const data_t *x)
{
    sigeo_stats_options_t o = SIGEO_STATS_OPTIONS_INIT;
    o.lambda_preset = SIGEO_PRESET_RECSYS;
    sigeo_stats_t *s;
    ck_assert_int_eq(sigeo_stats_create(&s, NULL, &o), SIGEO_OK);
    for (int32_t m = 0; m < x->n_modules; m++) {
        char name[16];
        snprintf(name, sizeof name, "m%d", (int)m);
        if (x->rows[m])
            ck_assert_int_eq(sigeo_stats_add_table_module(NULL, s, name, x->rows[m], x->counts[m] / x->rows[m]),
                             SIGEO_OK);
        else
            ck_assert_int_eq(sigeo_stats_add_module(NULL, s, name, x->counts[m]), SIGEO_OK);
    }
    return s;
}

static void add_pointer_batch(sigeo_stats_t *s, const data_t *x, int b)
{
    const float *g[MAXM];
    const int64_t *t[MAXM];
    for (int32_t m = 0; m < x->n_modules; m++) {
        g[m] = x->grad[b][m];
        t[m] = x->touched[b][m];
    }
    sigeo_stats_batch_t sb = SIGEO_STATS_BATCH_INIT;
    sb.n_modules = (uint32_t)x->n_modules;
    sb.gradients = g;
    sb.gradient_counts = x->counts;
    sb.loss = x->loss[b];
    sb.batch_size = B;
    sb.directional = x->d[b];
    sb.touched_rows = t;
    sb.touched_counts = x->n_touched[b];
    ck_assert_int_eq(sigeo_stats_add_batch(s, &sb), SIGEO_OK);
}

/* Lays batch b out in one buffer: packed (reverse = 0, offsets NULL) or
 * in reverse module order with a gap of 3 floats before each module. */
typedef struct flat {
    float buf[MAXM * 20];
    int64_t offsets[MAXM];
    int64_t rows[MAXM * 8], row_offsets[MAXM];
    sigeo_stats_flat_batch_t fb;
} flat_t;

static void flatten(flat_t *f, const data_t *x, int b, int reverse)
{
    int64_t at = 0, rat = 0;
    for (int32_t i = 0; i < x->n_modules; i++) {
        int32_t m = reverse ? x->n_modules - 1 - i : i;
        at += reverse ? 3 : 0;
        f->offsets[m] = at;
        memcpy(f->buf + at, x->grad[b][m], (size_t)x->counts[m] * sizeof(float));
        at += x->counts[m];
        f->row_offsets[m] = x->rows[m] ? rat : -1;
        for (int64_t r = 0; r < x->n_touched[b][m]; r++)
            f->rows[rat++] = x->touched[b][m][r];
    }
    ck_assert_int_le(at, (int64_t)(sizeof f->buf / sizeof f->buf[0]));
    ck_assert_int_eq(sigeo_stats_flat_batch_init(&f->fb, sizeof f->fb), SIGEO_OK);
    f->fb.n_modules = (uint32_t)x->n_modules;
    f->fb.gradients = f->buf;
    f->fb.gradients_len = at;
    f->fb.module_offsets = reverse ? f->offsets : NULL;
    f->fb.module_counts = x->counts;
    f->fb.loss = x->loss[b];
    f->fb.batch_size = B;
    f->fb.directional = x->d[b];
    f->fb.touched_rows = f->rows;
    f->fb.touched_rows_len = rat;
    f->fb.touched_offsets = f->row_offsets;
    f->fb.touched_counts = x->n_touched[b];
}

static void result_of(sigeo_stats_result_t *r, sigeo_stats_t *s)
{
    *r = (sigeo_stats_result_t)SIGEO_STATS_RESULT_INIT;
    ck_assert_int_eq(sigeo_stats_compute(r, s), SIGEO_OK);
}

static void same_bits(const sigeo_stats_result_t *a, const sigeo_stats_result_t *b)
{
    ck_assert_msg(memcmp(a, b, sizeof *a) == 0, "flat score %.17g zico %.17g fr %.17g vs pointer %.17g %.17g %.17g",
                  a->score, a->zico, a->fr, b->score, b->zico, b->fr);
}

static void compare_paths(int32_t n_modules, int tables, int reverse)
{
    data_t *x = malloc(sizeof *x);
    flat_t *f = malloc(sizeof *f);
    make(x, n_modules, tables);
    sigeo_stats_t *p = create(x), *q = create(x);
    for (int b = 0; b < K; b++) {
        add_pointer_batch(p, x, b);
        flatten(f, x, b, reverse);
        ck_assert_int_eq(sigeo_stats_add_flat_batch(q, &f->fb), SIGEO_OK);
    }
    sigeo_stats_result_t rp, rq;
    result_of(&rp, p);
    result_of(&rq, q);
    ck_assert(isfinite(rp.score) && rp.n_batches == K && rp.n_modules == (uint32_t)n_modules);
    same_bits(&rq, &rp);
    for (int32_t m = 0; m < n_modules; m++) {
        sigeo_stats_module_info_t a = SIGEO_STATS_MODULE_INFO_INIT, c = SIGEO_STATS_MODULE_INFO_INIT;
        ck_assert_int_eq(sigeo_stats_get_module_info(&a, p, m), SIGEO_OK);
        ck_assert_int_eq(sigeo_stats_get_module_info(&c, q, m), SIGEO_OK);
        ck_assert(memcmp(&a.ratio_sum, &c.ratio_sum, sizeof a.ratio_sum) == 0);
    }
    sigeo_stats_destroy(p);
    sigeo_stats_destroy(q);
    unmake(x);
    free(x);
    free(f);
}

START_TEST(packed_equals_pointer_path) { compare_paths(3, 0, 0); }
END_TEST
START_TEST(offsets_out_of_order_equal_pointer_path) { compare_paths(5, 0, 1); }
END_TEST
START_TEST(table_modules_equal_pointer_path) { compare_paths(4, 1, 0); compare_paths(4, 1, 1); }
END_TEST
START_TEST(many_modules_heap_path) { compare_paths(MAXM, 1, 1); }
END_TEST

/* Every bad flat batch fails with its message, and afterwards the
 * accumulator gives exactly the result of one that never saw it. */
static void expect_fail(sigeo_stats_t *s, const sigeo_stats_flat_batch_t *fb, sigeo_status_t want, const char *text)
{
    sigeo_status_t st = sigeo_stats_add_flat_batch(s, fb);
    ck_assert_msg(st == want, "status %d, want %d (%s)", (int)st, (int)want, sigeo_last_error());
    ck_assert_msg(strstr(sigeo_last_error(), text), "message '%s' lacks '%s'", sigeo_last_error(), text);
    ck_assert_msg(strstr(sigeo_stats_last_error(s), text), "handle message '%s'", sigeo_stats_last_error(s));
}

START_TEST(bad_input)
{
    data_t *x = malloc(sizeof *x);
    flat_t *f = malloc(sizeof *f);
    make(x, 3, 1);
    sigeo_stats_t *s = create(x), *ref = create(x);
    add_pointer_batch(ref, x, 0);
    add_pointer_batch(ref, x, 1);
    flatten(f, x, 0, 1);
    ck_assert_int_eq(sigeo_stats_add_flat_batch(s, &f->fb), SIGEO_OK);

    flatten(f, x, 1, 1);
    ck_assert_int_eq(sigeo_stats_add_flat_batch(NULL, &f->fb), SIGEO_ERR_INVALID_ARG);
    ck_assert(strstr(sigeo_last_error(), "stats is NULL"));
    expect_fail(s, NULL, SIGEO_ERR_INVALID_ARG, "batch is NULL");
    sigeo_stats_flat_batch_t b = f->fb;
    b.struct_size = 4;
    expect_fail(s, &b, SIGEO_ERR_INVALID_ARG, "struct_size 4");
    b = f->fb;
    b.n_modules = 2;
    expect_fail(s, &b, SIGEO_ERR_SHAPE, "2 modules, 3 are registered");
    b = f->fb;
    b.module_counts = NULL;
    expect_fail(s, &b, SIGEO_ERR_INVALID_ARG, "module_counts is NULL");
    b = f->fb;
    b.gradients = NULL;
    expect_fail(s, &b, SIGEO_ERR_INVALID_ARG, "gradients is NULL");
    b = f->fb;
    b.gradients_len = -1;
    expect_fail(s, &b, SIGEO_ERR_INVALID_ARG, "gradients_len -1");
    b = f->fb;
    b.gradients_len -= 1; /* module 2 sits last... in reverse order module 0 does */
    expect_fail(s, &b, SIGEO_ERR_SHAPE, "module 0's 1 floats at offset");
    int64_t offs[3];
    memcpy(offs, f->offsets, sizeof offs);
    b = f->fb;
    b.module_offsets = offs;
    offs[1] = -2;
    expect_fail(s, &b, SIGEO_ERR_INVALID_ARG, "module 1 has offset -2");
    offs[1] = INT64_MAX; /* off + count would overflow */
    expect_fail(s, &b, SIGEO_ERR_SHAPE, "module 1's 12 floats at offset 9223372036854775807");
    memcpy(offs, f->offsets, sizeof offs);
    int64_t counts[3] = { x->counts[0], x->counts[1], x->counts[2] - 1 };
    b = f->fb;
    b.module_counts = counts; /* fits the buffer, but not the registration */
    expect_fail(s, &b, SIGEO_ERR_SHAPE, "module 'm2' (index 2) gradient has");
    counts[2] = -1;
    expect_fail(s, &b, SIGEO_ERR_INVALID_ARG, "module 2 has count -1");
    b = f->fb;
    b.touched_offsets = NULL;
    expect_fail(s, &b, SIGEO_ERR_INVALID_ARG, "touched_offsets is NULL");
    b = f->fb;
    b.touched_rows_len = 2;
    expect_fail(s, &b, SIGEO_ERR_SHAPE, "module 1's 3 touched rows at offset");
    int64_t badrows[8];
    memcpy(badrows, f->rows, sizeof badrows);
    badrows[0] = 6;
    b = f->fb;
    b.touched_rows = badrows;
    expect_fail(s, &b, SIGEO_ERR_INVALID_ARG, "touched row 6 is outside 0..5");
    float saved = f->buf[f->offsets[2] + 1];
    f->buf[f->offsets[2] + 1] = NAN;
    expect_fail(s, &f->fb, SIGEO_ERR_NONFINITE, "module 'm2' (index 2) gradient element 1 is nan");
    f->buf[f->offsets[2] + 1] = saved;
    double dd[B];
    memcpy(dd, x->d[1], sizeof dd);
    dd[3] = INFINITY;
    b = f->fb;
    b.directional = dd;
    expect_fail(s, &b, SIGEO_ERR_NONFINITE, "directional derivative of sample 3 is inf");

    /* the handle is usable and unchanged */
    ck_assert_int_eq(sigeo_stats_add_flat_batch(s, &f->fb), SIGEO_OK);
    sigeo_stats_result_t r1, r2;
    result_of(&r1, s);
    result_of(&r2, ref);
    same_bits(&r1, &r2);
    sigeo_stats_destroy(s);
    sigeo_stats_destroy(ref);
    unmake(x);
    free(x);
    free(f);
}
END_TEST

START_TEST(struct_sizes)
{
    const struct { sigeo_struct_id_t id; size_t size; } want[] = {
        { SIGEO_STRUCT_ALLOCATOR, sizeof(sigeo_allocator_t) },
        { SIGEO_STRUCT_CONTEXT_OPTIONS, sizeof(sigeo_context_options_t) },
        { SIGEO_STRUCT_STATS_OPTIONS, sizeof(sigeo_stats_options_t) },
        { SIGEO_STRUCT_STATS_BATCH, sizeof(sigeo_stats_batch_t) },
        { SIGEO_STRUCT_STATS_RESULT, sizeof(sigeo_stats_result_t) },
        { SIGEO_STRUCT_STATS_MODULE_INFO, sizeof(sigeo_stats_module_info_t) },
        { SIGEO_STRUCT_STATS_FLAT_BATCH, sizeof(sigeo_stats_flat_batch_t) },
        { SIGEO_STRUCT_BATCH, sizeof(sigeo_batch_t) },
        { SIGEO_STRUCT_DATASET_INFO, sizeof(sigeo_dataset_info_t) },
        { SIGEO_STRUCT_SPLIT_OPTIONS, sizeof(sigeo_split_options_t) },
        { SIGEO_STRUCT_CRITEO_OPTIONS, sizeof(sigeo_criteo_options_t) },
        { SIGEO_STRUCT_CRITEO_STATS, sizeof(sigeo_criteo_stats_t) },
        { SIGEO_STRUCT_SYNTH_OPTIONS, sizeof(sigeo_synth_options_t) },
        { SIGEO_STRUCT_SYNTH_RESULT, sizeof(sigeo_synth_result_t) },
        { SIGEO_STRUCT_INPUT_DESC, sizeof(sigeo_input_desc_t) },
        { SIGEO_STRUCT_LAYER_DESC, sizeof(sigeo_layer_desc_t) },
        { SIGEO_STRUCT_PARAM_INFO, sizeof(sigeo_param_info_t) },
        { SIGEO_STRUCT_PROXY_OPTIONS, sizeof(sigeo_proxy_options_t) },
        { SIGEO_STRUCT_PROXY_RESULT, sizeof(sigeo_proxy_result_t) },
        { SIGEO_STRUCT_SEARCH_OPTIONS, sizeof(sigeo_search_options_t) },
        { SIGEO_STRUCT_EVALUATION, sizeof(sigeo_evaluation_t) },
        { SIGEO_STRUCT_CYCLE_REPORT, sizeof(sigeo_cycle_report_t) },
        { SIGEO_STRUCT_SEARCH_CALLBACKS, sizeof(sigeo_search_callbacks_t) },
        { SIGEO_STRUCT_SEARCH_INFO, sizeof(sigeo_search_info_t) },
        { SIGEO_STRUCT_SPACE_OPTIONS, sizeof(sigeo_space_options_t) },
        { SIGEO_STRUCT_OPTIMIZER_OPTIONS, sizeof(sigeo_optimizer_options_t) },
        { SIGEO_STRUCT_LR_SCHEDULE, sizeof(sigeo_lr_schedule_t) },
        { SIGEO_STRUCT_TRAIN_PROGRESS, sizeof(sigeo_train_progress_t) },
        { SIGEO_STRUCT_TRAIN_OPTIONS, sizeof(sigeo_train_options_t) },
        { SIGEO_STRUCT_TRAIN_RESULT, sizeof(sigeo_train_result_t) },
        { SIGEO_STRUCT_GRAD_STEP, sizeof(sigeo_grad_step_t) },
        { SIGEO_STRUCT_NAS_OPTIONS, sizeof(sigeo_nas_options_t) },
        { SIGEO_STRUCT_NAS_PROGRESS, sizeof(sigeo_nas_progress_t) },
        { SIGEO_STRUCT_NAS_SUMMARY, sizeof(sigeo_nas_summary_t) },
        { SIGEO_STRUCT_NAS_CANDIDATE, sizeof(sigeo_nas_candidate_t) },
        { SIGEO_STRUCT_ONE_SHOT_OPTIONS, sizeof(sigeo_one_shot_options_t) },
        { SIGEO_STRUCT_PROXY_LAYER, sizeof(sigeo_proxy_layer_t) },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        ck_assert_int_eq((int)want[i].id, (int)i + 1); /* numbers are dense from 1 */
        ck_assert_uint_eq(sigeo_struct_size(want[i].id), want[i].size);
    }
    ck_assert_uint_eq(sigeo_struct_size((sigeo_struct_id_t)0), 0);
    ck_assert_uint_eq(sigeo_struct_size((sigeo_struct_id_t)38), 0);
    ck_assert_uint_eq(sigeo_struct_size((sigeo_struct_id_t)-1), 0);
}
END_TEST

START_TEST(flat_batch_init_matches_macro)
{
    sigeo_stats_flat_batch_t a = SIGEO_STATS_FLAT_BATCH_INIT, b;
    memset(&b, 0xab, sizeof b);
    ck_assert_int_eq(sigeo_stats_flat_batch_init(&b, sizeof b), SIGEO_OK);
    ck_assert(memcmp(&a, &b, sizeof a) == 0);
    ck_assert_int_eq(sigeo_stats_flat_batch_init(NULL, sizeof b), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_stats_flat_batch_init(&b, 4), SIGEO_ERR_INVALID_ARG);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("flat_batch");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, packed_equals_pointer_path);
    tcase_add_test(tc, offsets_out_of_order_equal_pointer_path);
    tcase_add_test(tc, table_modules_equal_pointer_path);
    tcase_add_test(tc, many_modules_heap_path);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, struct_sizes);
    tcase_add_test(tc, flat_batch_init_matches_macro);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
