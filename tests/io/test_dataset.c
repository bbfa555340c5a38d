/* The dataset handle (lib/io/dataset.c): copying at creation, seeded
 * shuffling, batch views with keep/drop of the last batch, subsets and
 * deterministic disjoint splits, validation, and allocation failures. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "guard_alloc.h"
#include "sigeo/data.h"
#include "test_util.h"

/* n rows: dense = (r, -r), variable bags over 2 fields (field 0: r % 3 ids
 * r, r+1, ...; field 1: one id 100 + r), label r % 3, target 0.5 * r. */
typedef struct fixture {
    int64_t n;
    float *dense;
    int64_t *ids, *offsets;
    int32_t *labels;
    float *targets;
    sigeo_batch_t batch;
} fixture_t;

static fixture_t make_fixture(int64_t n)
{
    fixture_t f;
    f.n = n;
    f.dense = calloc((size_t)n * 2 + 1, sizeof(float));
    f.offsets = calloc((size_t)n * 2 + 1, sizeof(int64_t));
    f.ids = calloc((size_t)n * 3 + 1, sizeof(int64_t));
    f.labels = calloc((size_t)n + 1, sizeof(int32_t));
    f.targets = calloc((size_t)n + 1, sizeof(float));
    int64_t k = 0;
    for (int64_t r = 0; r < n; r++) {
        f.dense[2 * r] = (float)r;
        f.dense[2 * r + 1] = (float)-r;
        f.offsets[2 * r] = k;
        for (int64_t i = 0; i < r % 3; i++)
            f.ids[k++] = r + i;
        f.offsets[2 * r + 1] = k;
        f.ids[k++] = 100 + r;
        f.labels[r] = (int32_t)(r % 3);
        f.targets[r] = 0.5f * (float)r;
    }
    f.offsets[2 * n] = k;
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = n;
    b.n_sparse_fields = 2;
    b.dense = f.dense;
    b.n_dense = 2;
    b.sparse_ids = f.ids;
    b.sparse_offsets = f.offsets;
    b.labels = f.labels;
    b.targets = f.targets;
    b.n_targets = 1;
    f.batch = b;
    return f;
}

static void free_fixture(fixture_t *f)
{
    free(f->dense);
    free(f->ids);
    free(f->offsets);
    free(f->labels);
    free(f->targets);
}

static sigeo_dataset_t *make_dataset(fixture_t *f)
{
    sigeo_dataset_t *ds = NULL;
    ck_assert_msg(sigeo_dataset_create(&ds, &f->batch) == SIGEO_OK, "%s", sigeo_last_error());
    return ds;
}

/* The row a batch row came from, checked against the fixture formula. */
static int64_t check_row(const sigeo_batch_t *b, int64_t i)
{
    int64_t r = (int64_t)b->dense[2 * i];
    ck_assert_float_eq(b->dense[2 * i + 1], (float)-r);
    ck_assert_int_eq(b->labels[i], r % 3);
    ck_assert_float_eq(b->targets[i], 0.5f * (float)r);
    const int64_t *o = b->sparse_offsets + 2 * i;
    ck_assert_int_eq(o[1] - o[0], r % 3);
    for (int64_t k = 0; k < r % 3; k++)
        ck_assert_int_eq(b->sparse_ids[o[0] + k], r + k);
    ck_assert_int_eq(o[2] - o[1], 1);
    ck_assert_int_eq(b->sparse_ids[o[1]], 100 + r);
    return r;
}

START_TEST(create_copies_the_caller_arrays)
{
    fixture_t f = make_fixture(5);
    sigeo_dataset_t *ds = make_dataset(&f);
    /* Scribble over the caller's memory: the dataset must not see it. */
    memset(f.dense, 0xff, 10 * sizeof(float));
    memset(f.ids, 0xff, 5 * sizeof(int64_t));
    f.labels[0] = 77;
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    ck_assert_int_eq(sigeo_dataset_view(&b, ds, 0, 5), SIGEO_OK);
    ck_assert_int_eq(b.batch_size, 5);
    ck_assert_int_eq(b.sparse_offsets[0], 0);
    for (int64_t i = 0; i < 5; i++)
        ck_assert_int_eq(check_row(&b, i), i);
    sigeo_dataset_destroy(ds);
    free_fixture(&f);
}
END_TEST

START_TEST(info_reports_sizes_and_table_sizes_are_max_id_plus_one)
{
    fixture_t f = make_fixture(7);
    sigeo_dataset_t *ds = make_dataset(&f);
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    ck_assert_int_eq(sigeo_dataset_get_info(&info, ds), SIGEO_OK);
    ck_assert_int_eq(info.n_rows, 7);
    ck_assert_int_eq(info.n_dense, 2);
    ck_assert_int_eq(info.n_sparse_fields, 2);
    ck_assert_int_eq(info.n_ids, f.offsets[14]);
    ck_assert_int_eq(info.n_targets, 1);
    ck_assert_int_eq(info.has_labels, 1);
    ck_assert_int_eq(info.n_classes, 3);
    size_t count = 0;
    ck_assert_int_eq(sigeo_dataset_table_sizes(NULL, &count, ds), SIGEO_OK);
    ck_assert_uint_eq(count, 2);
    int64_t sizes[2];
    size_t small = 1;
    ck_assert_int_eq(sigeo_dataset_table_sizes(sizes, &small, ds), SIGEO_ERR_SHAPE);
    ck_assert_uint_eq(small, 2);
    ck_assert_int_eq(sigeo_dataset_table_sizes(sizes, &count, ds), SIGEO_OK);
    /* field 0: largest id is row 5's 5 + 1 = 6 -> 7; field 1: 100 + 6 -> 107 */
    ck_assert_int_eq(sizes[0], 7);
    ck_assert_int_eq(sizes[1], 107);
    sigeo_dataset_destroy(ds);
    free_fixture(&f);
}
END_TEST

static int64_t *order_of(sigeo_dataset_t *ds, int64_t n)
{
    size_t count = 0;
    ck_assert_int_eq(sigeo_dataset_order(NULL, &count, ds), SIGEO_OK);
    ck_assert_uint_eq(count, (size_t)n);
    int64_t *o = calloc((size_t)n + 1, sizeof *o);
    ck_assert_int_eq(sigeo_dataset_order(o, &count, ds), SIGEO_OK);
    return o;
}

START_TEST(shuffle_is_a_seeded_permutation)
{
    enum { N = 1000 };
    fixture_t f = make_fixture(N);
    sigeo_dataset_t *ds = make_dataset(&f);
    ck_assert_int_eq(sigeo_dataset_shuffle(ds, 11), SIGEO_OK);
    int64_t *a = order_of(ds, N);
    char seen[N] = { 0 };
    int64_t fixed = 0;
    for (int64_t i = 0; i < N; i++) {
        ck_assert(a[i] >= 0 && a[i] < N);
        ck_assert_int_eq(seen[a[i]], 0);
        seen[a[i]] = 1;
        fixed += a[i] == i;
    }
    ck_assert_int_lt(fixed, 20); /* a real shuffle, not the identity */
    /* Another seed, then the first again: the order depends on the seed only. */
    ck_assert_int_eq(sigeo_dataset_shuffle(ds, 12), SIGEO_OK);
    int64_t *b = order_of(ds, N);
    ck_assert(memcmp(a, b, N * sizeof *a) != 0);
    ck_assert_int_eq(sigeo_dataset_shuffle(ds, 11), SIGEO_OK);
    int64_t *c = order_of(ds, N);
    ck_assert(memcmp(a, c, N * sizeof *a) == 0);
    /* Batches follow the order. */
    sigeo_batch_t batch = SIGEO_BATCH_INIT;
    ck_assert_int_eq(sigeo_dataset_batch(&batch, ds, 1, 64, SIGEO_BATCH_KEEP_LAST), SIGEO_OK);
    for (int64_t i = 0; i < 64; i++)
        ck_assert_int_eq(check_row(&batch, i), a[64 + i]);
    ck_assert_int_eq(sigeo_dataset_unshuffle(ds), SIGEO_OK);
    int64_t *d = order_of(ds, N);
    for (int64_t i = 0; i < N; i++)
        ck_assert_int_eq(d[i], i);
    free(a);
    free(b);
    free(c);
    free(d);
    sigeo_dataset_destroy(ds);
    free_fixture(&f);
}
END_TEST

START_TEST(batches_keep_or_drop_the_partial_last_batch)
{
    fixture_t f = make_fixture(10);
    sigeo_dataset_t *ds = make_dataset(&f);
    int64_t count = -1;
    ck_assert_int_eq(sigeo_dataset_batch_count(&count, ds, 4, SIGEO_BATCH_KEEP_LAST), SIGEO_OK);
    ck_assert_int_eq(count, 3);
    ck_assert_int_eq(sigeo_dataset_batch_count(&count, ds, 4, SIGEO_BATCH_DROP_LAST), SIGEO_OK);
    ck_assert_int_eq(count, 2);
    ck_assert_int_eq(sigeo_dataset_batch_count(&count, ds, 5, SIGEO_BATCH_DROP_LAST), SIGEO_OK);
    ck_assert_int_eq(count, 2);
    ck_assert_int_eq(sigeo_dataset_batch_count(&count, ds, 11, SIGEO_BATCH_DROP_LAST), SIGEO_OK);
    ck_assert_int_eq(count, 0);
    ck_assert_int_eq(sigeo_dataset_batch_count(&count, ds, 0, SIGEO_BATCH_KEEP_LAST), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_dataset_batch_count(&count, ds, 4, (sigeo_batch_last_t)7), SIGEO_ERR_INVALID_ARG);

    const int64_t sizes[3] = { 4, 4, 2 };
    int64_t next = 0;
    for (int64_t k = 0; k < 3; k++) {
        sigeo_batch_t b = SIGEO_BATCH_INIT;
        ck_assert_int_eq(sigeo_dataset_batch(&b, ds, k, 4, SIGEO_BATCH_KEEP_LAST), SIGEO_OK);
        ck_assert_int_eq(b.batch_size, sizes[k]);
        ck_assert_int_eq(b.n_sparse_fields, 2);
        ck_assert_int_eq(b.n_dense, 2);
        ck_assert_int_eq(b.n_targets, 1);
        ck_assert_int_eq(b.sparse_offsets[0], 0); /* rebased per batch */
        for (int64_t i = 0; i < b.batch_size; i++)
            ck_assert_int_eq(check_row(&b, i), next++);
    }
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    ck_assert_int_eq(sigeo_dataset_batch(&b, ds, 2, 4, SIGEO_BATCH_DROP_LAST), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_dataset_last_error(ds), "batch 2 outside [0, 2)");
    ck_assert_int_eq(sigeo_dataset_batch(&b, ds, -1, 4, SIGEO_BATCH_KEEP_LAST), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_dataset_view(&b, ds, 8, 3), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_dataset_view(&b, ds, 0, 0), SIGEO_ERR_INVALID_ARG);
    sigeo_dataset_destroy(ds);
    free_fixture(&f);
}
END_TEST

START_TEST(dense_only_dataset_has_null_parts)
{
    const float dense[6] = { 1, 2, 3, 4, 5, 6 };
    sigeo_batch_t rows = SIGEO_BATCH_INIT;
    rows.batch_size = 3;
    rows.dense = dense;
    rows.n_dense = 2;
    sigeo_dataset_t *ds = NULL;
    ck_assert_int_eq(sigeo_dataset_create(&ds, &rows), SIGEO_OK);
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    ck_assert_int_eq(sigeo_dataset_batch(&b, ds, 0, 2, SIGEO_BATCH_KEEP_LAST), SIGEO_OK);
    ck_assert_ptr_null(b.sparse_ids);
    ck_assert_ptr_null(b.sparse_offsets);
    ck_assert_ptr_null(b.labels);
    ck_assert_ptr_null(b.targets);
    ck_assert_float_eq(b.dense[3], 4.0f);
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    ck_assert_int_eq(sigeo_dataset_get_info(&info, ds), SIGEO_OK);
    ck_assert_int_eq(info.has_labels, 0);
    ck_assert_int_eq(info.n_classes, 0);
    sigeo_dataset_destroy(ds);
}
END_TEST

START_TEST(subset_copies_rows_in_the_current_order)
{
    fixture_t f = make_fixture(20);
    sigeo_dataset_t *ds = make_dataset(&f);
    ck_assert_int_eq(sigeo_dataset_shuffle(ds, 3), SIGEO_OK);
    int64_t *order = order_of(ds, 20);
    const int64_t pick[4] = { 5, 0, 5, 19 };
    sigeo_dataset_t *sub = NULL;
    ck_assert_int_eq(sigeo_dataset_subset(&sub, ds, pick, 4), SIGEO_OK);
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    ck_assert_int_eq(sigeo_dataset_view(&b, sub, 0, 4), SIGEO_OK);
    for (int64_t i = 0; i < 4; i++)
        ck_assert_int_eq(check_row(&b, i), order[pick[i]]);
    const int64_t bad[1] = { 20 };
    sigeo_dataset_t *none = (sigeo_dataset_t *)1;
    ck_assert_int_eq(sigeo_dataset_subset(&none, ds, bad, 1), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_null(none);
    ck_assert_str_contains(sigeo_last_error(), "rows[0] = 20");
    free(order);
    sigeo_dataset_destroy(sub);
    sigeo_dataset_destroy(ds);
    free_fixture(&f);
}
END_TEST

/* Storage rows of every part, through the dense column (= row number). */
static int64_t part_rows(sigeo_dataset_t *part, int64_t *rows)
{
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    ck_assert_int_eq(sigeo_dataset_get_info(&info, part), SIGEO_OK);
    for (int64_t i = 0; i < info.n_rows; i++) {
        sigeo_batch_t b = SIGEO_BATCH_INIT;
        ck_assert_int_eq(sigeo_dataset_view(&b, part, i, 1), SIGEO_OK);
        rows[i] = check_row(&b, 0);
    }
    return info.n_rows;
}

START_TEST(split_is_disjoint_covering_and_deterministic)
{
    enum { N = 1000 };
    fixture_t f = make_fixture(N);
    sigeo_dataset_t *ds = make_dataset(&f);
    static int64_t rows[3][N], again[3][N];
    int64_t n[3], m[3];
    for (int mode = SIGEO_SPLIT_PLAIN; mode <= SIGEO_SPLIT_STRATIFIED; mode++) {
        sigeo_split_options_t o = SIGEO_SPLIT_OPTIONS_INIT;
        o.mode = mode;
        o.seed = 99;
        sigeo_dataset_t *part[3];
        ck_assert_int_eq(sigeo_dataset_split(&part[0], &part[1], &part[2], ds, &o), SIGEO_OK);
        int owner[N];
        for (int i = 0; i < N; i++)
            owner[i] = -1;
        for (int k = 0; k < 3; k++) {
            n[k] = part_rows(part[k], rows[k]);
            for (int64_t i = 0; i < n[k]; i++) {
                ck_assert_int_eq(owner[rows[k][i]], -1); /* disjoint */
                owner[rows[k][i]] = k;
                if (i > 0)
                    ck_assert_int_lt(rows[k][i - 1], rows[k][i]); /* storage order kept */
            }
            sigeo_dataset_destroy(part[k]);
        }
        for (int i = 0; i < N; i++)
            ck_assert_int_ne(owner[i], -1); /* covering */
        if (mode == SIGEO_SPLIT_PLAIN) {
            ck_assert_int_eq(n[0], 800);
            ck_assert_int_eq(n[1], 100);
            ck_assert_int_eq(n[2], 100);
        } else {
            /* labels r % 3: classes of 334, 333, 333 rows, each cut 80/10/10 */
            int64_t per[3][3] = { { 0 } };
            for (int k = 0; k < 3; k++)
                for (int64_t i = 0; i < n[k]; i++)
                    per[k][rows[k][i] % 3]++;
            ck_assert_int_eq(per[0][0], 267); /* round(334 * 0.8) */
            ck_assert_int_eq(per[1][0], 34);  /* round(334 * 0.9) - 267 = 301 - 267 */
            ck_assert_int_eq(per[0][1], 266); /* round(333 * 0.8) */
            ck_assert_int_eq(per[1][1], 34);  /* round(299.7) - 266 */
        }
        /* Same seed: same parts (a shuffle in between does not matter). */
        ck_assert_int_eq(sigeo_dataset_shuffle(ds, 5), SIGEO_OK);
        ck_assert_int_eq(sigeo_dataset_split(&part[0], &part[1], &part[2], ds, &o), SIGEO_OK);
        for (int k = 0; k < 3; k++) {
            m[k] = part_rows(part[k], again[k]);
            ck_assert_int_eq(m[k], n[k]);
            ck_assert(memcmp(rows[k], again[k], (size_t)n[k] * sizeof(int64_t)) == 0);
            sigeo_dataset_destroy(part[k]);
        }
        /* Another seed: another test part. */
        o.seed = 100;
        ck_assert_int_eq(sigeo_dataset_split(NULL, NULL, &part[2], ds, &o), SIGEO_OK);
        m[2] = part_rows(part[2], again[2]);
        ck_assert(m[2] != n[2] || memcmp(rows[2], again[2], (size_t)n[2] * sizeof(int64_t)) != 0);
        sigeo_dataset_destroy(part[2]);
        ck_assert_int_eq(sigeo_dataset_unshuffle(ds), SIGEO_OK);
    }
    sigeo_dataset_destroy(ds);
    free_fixture(&f);
}
END_TEST

START_TEST(split_rejects_bad_fractions_and_stratifying_without_labels)
{
    fixture_t f = make_fixture(10);
    sigeo_dataset_t *ds = make_dataset(&f);
    sigeo_dataset_t *t = NULL;
    sigeo_split_options_t o = SIGEO_SPLIT_OPTIONS_INIT;
    o.val_fraction = 0.2;
    ck_assert_int_eq(sigeo_dataset_split(&t, NULL, NULL, ds, &o), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_dataset_last_error(ds), "sum to 1");
    o.val_fraction = -0.1;
    o.test_fraction = 0.3;
    ck_assert_int_eq(sigeo_dataset_split(&t, NULL, NULL, ds, &o), SIGEO_ERR_INVALID_ARG);
    o = (sigeo_split_options_t)SIGEO_SPLIT_OPTIONS_INIT;
    o.mode = 9;
    ck_assert_int_eq(sigeo_dataset_split(&t, NULL, NULL, ds, &o), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_null(t);
    sigeo_dataset_destroy(ds);

    f.batch.labels = NULL;
    ds = make_dataset(&f);
    o.mode = SIGEO_SPLIT_STRATIFIED;
    ck_assert_int_eq(sigeo_dataset_split(&t, NULL, NULL, ds, &o), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "without labels");
    /* Defaults (NULL options): 80/10/10. */
    sigeo_dataset_t *parts[3];
    ck_assert_int_eq(sigeo_dataset_split(&parts[0], &parts[1], &parts[2], ds, NULL), SIGEO_OK);
    int64_t sizes[3];
    for (int k = 0; k < 3; k++) {
        sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
        ck_assert_int_eq(sigeo_dataset_get_info(&info, parts[k]), SIGEO_OK);
        sizes[k] = info.n_rows;
        sigeo_dataset_destroy(parts[k]);
    }
    ck_assert_int_eq(sizes[0], 8);
    ck_assert_int_eq(sizes[1], 1);
    ck_assert_int_eq(sizes[2], 1);
    sigeo_dataset_destroy(ds);
    free_fixture(&f);
}
END_TEST

START_TEST(create_validates_its_input)
{
    fixture_t f = make_fixture(4);
    sigeo_dataset_t *ds = (sigeo_dataset_t *)1;
    f.offsets[3] = f.offsets[2] - 1 < 0 ? 0 : f.offsets[2] - 1;
    f.offsets[2] = f.offsets[3] + 1;
    ck_assert_int_eq(sigeo_dataset_create(&ds, &f.batch), SIGEO_ERR_SHAPE);
    ck_assert_ptr_null(ds);
    ck_assert_str_contains(sigeo_last_error(), "decrease");
    free_fixture(&f);

    f = make_fixture(4);
    f.dense[5] = NAN;
    ck_assert_int_eq(sigeo_dataset_create(&ds, &f.batch), SIGEO_ERR_NONFINITE);
    ck_assert_str_contains(sigeo_last_error(), "row 2 column 1");
    f.dense[5] = 0;
    f.labels[3] = -1;
    ck_assert_int_eq(sigeo_dataset_create(&ds, &f.batch), SIGEO_ERR_INVALID_ARG);
    f.labels[3] = 0;
    f.ids[0] = -5;
    ck_assert_int_eq(sigeo_dataset_create(&ds, &f.batch), SIGEO_ERR_INVALID_ARG);
    f.ids[0] = 1;
    f.batch.sparse_offsets = NULL;
    ck_assert_int_eq(sigeo_dataset_create(&ds, &f.batch), SIGEO_ERR_INVALID_ARG);
    f.batch.sparse_offsets = f.offsets;
    f.batch.batch_size = -1;
    ck_assert_int_eq(sigeo_dataset_create(&ds, &f.batch), SIGEO_ERR_INVALID_ARG);
    f.batch.batch_size = INT64_MAX / 2;
    ck_assert_int_eq(sigeo_dataset_create(&ds, &f.batch), SIGEO_ERR_SHAPE);
    f.batch.batch_size = 4;
    f.batch.struct_size = 4;
    ck_assert_int_eq(sigeo_dataset_create(&ds, &f.batch), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_dataset_create(&ds, NULL), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_dataset_create(NULL, &f.batch), SIGEO_ERR_INVALID_ARG);
    free_fixture(&f);

    /* Zero rows are a valid (empty) dataset. */
    f = make_fixture(0);
    ck_assert_int_eq(sigeo_dataset_create(&ds, &f.batch), SIGEO_OK);
    int64_t count = -1;
    ck_assert_int_eq(sigeo_dataset_batch_count(&count, ds, 8, SIGEO_BATCH_KEEP_LAST), SIGEO_OK);
    ck_assert_int_eq(count, 0);
    sigeo_dataset_destroy(ds);
    sigeo_dataset_destroy(NULL);
    free_fixture(&f);
}
END_TEST

/* Every operation, with allocation k failing: NO_MEMORY and nothing leaks. */
static sigeo_status_t exercise(fixture_t *f)
{
    sigeo_dataset_t *ds = NULL, *parts[3] = { NULL, NULL, NULL }, *sub = NULL;
    sigeo_status_t st = sigeo_dataset_create(&ds, &f->batch);
    if (st == SIGEO_OK)
        st = sigeo_dataset_shuffle(ds, 1);
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    if (st == SIGEO_OK)
        st = sigeo_dataset_batch(&b, ds, 0, 16, SIGEO_BATCH_KEEP_LAST);
    if (st == SIGEO_OK)
        st = sigeo_dataset_batch(&b, ds, 1, 32, SIGEO_BATCH_KEEP_LAST); /* grows the view buffers */
    if (st == SIGEO_OK)
        st = sigeo_dataset_split(&parts[0], &parts[1], &parts[2], ds, NULL);
    const int64_t pick[2] = { 3, 1 };
    if (st == SIGEO_OK)
        st = sigeo_dataset_subset(&sub, ds, pick, 2);
    for (int k = 0; k < 3; k++)
        sigeo_dataset_destroy(parts[k]);
    sigeo_dataset_destroy(sub);
    sigeo_dataset_destroy(ds);
    return st;
}

START_TEST(allocation_failures_return_no_memory_and_leak_nothing)
{
    fixture_t f = make_fixture(100);
    sigeo_allocator_t a = guard_allocator();
    ck_assert_int_eq(sigeo_set_allocator(&a), SIGEO_OK);
    uint64_t k = 1;
    for (;; k++) {
        guard_reset();
        guard_fail_at(k, false);
        sigeo_status_t st = exercise(&f);
        guard_stats_t g = guard_stats();
        ck_assert_msg(g.live == 0, "allocation %llu failing leaves %llu blocks", (unsigned long long)k,
                      (unsigned long long)g.live);
        ck_assert_uint_eq(g.corruptions, 0);
        if (g.alloc_failed == 0) {
            ck_assert_int_eq(st, SIGEO_OK);
            break;
        }
        ck_assert_msg(st == SIGEO_ERR_NO_MEMORY, "allocation %llu failing gave status %d (%s)",
                      (unsigned long long)k, (int)st, sigeo_last_error());
    }
    ck_assert_uint_gt(k, 10);
    ck_assert_int_eq(sigeo_set_allocator(NULL), SIGEO_OK);
    free_fixture(&f);
}
END_TEST

START_TEST(init_functions_match_the_macros)
{
    sigeo_dataset_info_t a = SIGEO_DATASET_INFO_INIT, b;
    memset(&b, 0xaa, sizeof b);
    ck_assert_int_eq(sigeo_dataset_info_init(&b, sizeof b), SIGEO_OK);
    ck_assert(memcmp(&a, &b, sizeof a) == 0);
    sigeo_split_options_t c = SIGEO_SPLIT_OPTIONS_INIT, d;
    memset(&d, 0xaa, sizeof d);
    ck_assert_int_eq(sigeo_split_options_init(&d, sizeof d), SIGEO_OK);
    ck_assert(memcmp(&c, &d, sizeof c) == 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dataset");
    TCase *tc = tcase_create("dataset");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, create_copies_the_caller_arrays);
    tcase_add_test(tc, info_reports_sizes_and_table_sizes_are_max_id_plus_one);
    tcase_add_test(tc, shuffle_is_a_seeded_permutation);
    tcase_add_test(tc, batches_keep_or_drop_the_partial_last_batch);
    tcase_add_test(tc, dense_only_dataset_has_null_parts);
    tcase_add_test(tc, subset_copies_rows_in_the_current_order);
    tcase_add_test(tc, split_is_disjoint_covering_and_deterministic);
    tcase_add_test(tc, split_rejects_bad_fractions_and_stratifying_without_labels);
    tcase_add_test(tc, create_validates_its_input);
    tcase_add_test(tc, allocation_failures_return_no_memory_and_leak_nothing);
    tcase_add_test(tc, init_functions_match_the_macros);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
