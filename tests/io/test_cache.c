/* The on-disk dataset cache (sigeo/data.h): a mapped dataset equals the
 * in-memory one it was written from, view for view, also after shuffling,
 * splitting and subsetting (which index into the mapping); damaged, hostile
 * and truncated files are refused with a message saying what; writes are
 * atomic and leave no temporary file; Criteo TSV streams into a cache equal
 * to sigeo_criteo_load of the same file. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sigeo/data.h"
#include "sigeo/io.h"
#include "test_util.h"
#include "tmpdir.h"

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

static char dir[300];
static void setup(void)
{
    tu_make_dir(dir, sizeof dir, "sigeo_cache");
}
static void teardown(void)
{
    tu_remove_dir(dir);
}

static sigeo_dataset_t *synth(int64_t rows, uint64_t seed)
{
    sigeo_synth_options_t so = SIGEO_SYNTH_OPTIONS_INIT;
    so.n_rows = rows;
    so.seed = seed;
    sigeo_dataset_t *ds;
    OK(sigeo_synth_generate(&ds, NULL, &so, NULL));
    return ds;
}

/* Every byte of two batch views, compared part by part. */
static void same_batch(const sigeo_batch_t *a, const sigeo_batch_t *b)
{
    ck_assert_int_eq(a->batch_size, b->batch_size);
    ck_assert_int_eq(a->n_dense, b->n_dense);
    ck_assert_uint_eq(a->n_sparse_fields, b->n_sparse_fields);
    ck_assert_int_eq(a->n_targets, b->n_targets);
    const size_t n = (size_t)a->batch_size;
    if (a->n_dense > 0)
        ck_assert(memcmp(a->dense, b->dense, n * (size_t)a->n_dense * sizeof(float)) == 0);
    if (a->n_targets > 0)
        ck_assert(memcmp(a->targets, b->targets, n * (size_t)a->n_targets * sizeof(float)) == 0);
    ck_assert_int_eq(a->labels != NULL, b->labels != NULL);
    if (a->labels)
        ck_assert(memcmp(a->labels, b->labels, n * sizeof(int32_t)) == 0);
    if (a->n_sparse_fields > 0) {
        const size_t bags = n * a->n_sparse_fields;
        ck_assert(memcmp(a->sparse_offsets, b->sparse_offsets, (bags + 1) * sizeof(int64_t)) == 0);
        ck_assert(memcmp(a->sparse_ids, b->sparse_ids, (size_t)a->sparse_offsets[bags] * sizeof(int64_t)) == 0);
    }
}

/* Same sizes, same table sizes, same rows in the current order. */
static void same_dataset(sigeo_dataset_t *a, sigeo_dataset_t *b)
{
    sigeo_dataset_info_t ia = SIGEO_DATASET_INFO_INIT, ib = SIGEO_DATASET_INFO_INIT;
    OK(sigeo_dataset_get_info(&ia, a));
    OK(sigeo_dataset_get_info(&ib, b));
    ck_assert(memcmp(&ia, &ib, sizeof ia) == 0);
    int64_t ta[64], tb[64];
    size_t na = 64, nb = 64;
    if (ia.n_sparse_fields > 0) {
        OK(sigeo_dataset_table_sizes(ta, &na, a));
        OK(sigeo_dataset_table_sizes(tb, &nb, b));
        ck_assert_uint_eq(na, nb);
        ck_assert(memcmp(ta, tb, na * sizeof(int64_t)) == 0);
    }
    int64_t count;
    OK(sigeo_dataset_batch_count(&count, a, 97, SIGEO_BATCH_KEEP_LAST));
    for (int64_t i = 0; i < count; i++) {
        sigeo_batch_t ba = SIGEO_BATCH_INIT, bb = SIGEO_BATCH_INIT;
        OK(sigeo_dataset_batch(&ba, a, i, 97, SIGEO_BATCH_KEEP_LAST));
        OK(sigeo_dataset_batch(&bb, b, i, 97, SIGEO_BATCH_KEEP_LAST));
        same_batch(&ba, &bb);
    }
}

START_TEST(round_trip_equals_the_in_memory_dataset)
{
    sigeo_dataset_t *mem = synth(3000, 3);
    const char *path = tu_path_in(dir, "c.bin");
    OK(sigeo_dataset_cache_write(mem, path));
    sigeo_dataset_t *map;
    OK(sigeo_dataset_cache_open(&map, path, 0));
    same_dataset(mem, map);
    /* Shuffle: the same permutation of the same rows. */
    OK(sigeo_dataset_shuffle(mem, 11));
    OK(sigeo_dataset_shuffle(map, 11));
    same_dataset(mem, map);
    /* Subset of the shuffled order, with a repetition. */
    const int64_t rows[] = { 5, 2999, 0, 5, 1234 };
    sigeo_dataset_t *sa, *sb;
    OK(sigeo_dataset_subset(&sa, mem, rows, 5));
    OK(sigeo_dataset_subset(&sb, map, rows, 5));
    same_dataset(sa, sb);
    /* Split (stratified by the labels: storage order, shuffle ignored). */
    sigeo_dataset_t *part_a[3], *part_b[3];
    OK(sigeo_dataset_split(&part_a[0], &part_a[1], &part_a[2], mem, NULL));
    OK(sigeo_dataset_split(&part_b[0], &part_b[1], &part_b[2], map, NULL));
    /* The parts outlive the dataset whose mapping they share. */
    sigeo_dataset_destroy(map);
    for (int k = 0; k < 3; k++) {
        same_dataset(part_a[k], part_b[k]);
        /* A split of a split: indexes of indexes. */
        sigeo_dataset_t *x[2], *y[2];
        sigeo_split_options_t o = SIGEO_SPLIT_OPTIONS_INIT;
        o.train_fraction = 0.5;
        o.val_fraction = 0.5;
        o.test_fraction = 0.0;
        OK(sigeo_dataset_split(&x[0], &x[1], NULL, part_a[k], &o));
        OK(sigeo_dataset_split(&y[0], &y[1], NULL, part_b[k], &o));
        for (int j = 0; j < 2; j++) {
            same_dataset(x[j], y[j]);
            sigeo_dataset_destroy(x[j]);
            sigeo_dataset_destroy(y[j]);
        }
    }
    /* A part of a mapped dataset written to a cache of its own (rows
     * gathered through the index). */
    const char *path2 = tu_path_in(dir, "part.bin");
    OK(sigeo_dataset_cache_write(part_b[1], path2));
    sigeo_dataset_t *again;
    OK(sigeo_dataset_cache_open(&again, path2, 0));
    same_dataset(part_a[1], again);
    sigeo_dataset_destroy(again);
    for (int k = 0; k < 3; k++) {
        sigeo_dataset_destroy(part_a[k]);
        sigeo_dataset_destroy(part_b[k]);
    }
    sigeo_dataset_destroy(sa);
    sigeo_dataset_destroy(sb);
    sigeo_dataset_destroy(mem);
}
END_TEST

/* A mapped dataset's splits and subsets index its rows: 2 bytes a row
 * (plus 8 per 64 rows) when each 64 consecutive rows lie within 65535
 * rows of the file (a split's increasing rows), 8 bytes a row otherwise
 * (rows far apart: a sparse part of a long file, a scattered subset).
 * Both forms give the rows of the in-memory path, and the split's index
 * costs what the compact form predicts (the library's byte count). */
START_TEST(long_files_index_compactly_and_far_rows_exactly)
{
    enum { N = 140000 };
    float *dense = malloc(N * sizeof *dense);
    int32_t *labels = malloc(N * sizeof *labels);
    ck_assert(dense && labels);
    for (int64_t i = 0; i < N; i++) {
        dense[i] = (float)i;
        labels[i] = (int32_t)((i * 2654435761u) >> 7) % 3 == 0;
    }
    sigeo_batch_t rows = SIGEO_BATCH_INIT;
    rows.batch_size = N;
    rows.dense = dense;
    rows.n_dense = 1;
    rows.labels = labels;
    sigeo_dataset_t *mem, *map;
    OK(sigeo_dataset_create(&mem, &rows));
    const char *path = tu_path_in(dir, "long.bin");
    OK(sigeo_dataset_cache_write(mem, path));
    OK(sigeo_dataset_cache_open(&map, path, 0));
    /* 90 / 9.9 / 0.1 %: the test part's 140 rows are ~1000 apart, so 64 of
     * them span more than 65535 rows: the exact form; the others compact */
    sigeo_split_options_t o = SIGEO_SPLIT_OPTIONS_INIT;
    o.train_fraction = 0.9;
    o.val_fraction = 0.099;
    o.test_fraction = 0.001;
    sigeo_dataset_t *a[3], *b[3];
    OK(sigeo_dataset_split(&a[0], &a[1], &a[2], mem, &o));
    uint64_t bytes0 = 0, bytes1 = 0;
    sigeo_memory_in_use(&bytes0, NULL);
    OK(sigeo_dataset_split(&b[0], &b[1], &b[2], map, &o));
    sigeo_memory_in_use(&bytes1, NULL);
    sigeo_dataset_info_t info[3];
    int64_t compact = 0;
    for (int k = 0; k < 3; k++) {
        info[k] = (sigeo_dataset_info_t)SIGEO_DATASET_INFO_INIT;
        OK(sigeo_dataset_get_info(&info[k], b[k]));
        compact += k < 2 ? 2 * info[k].n_rows + 8 * ((info[k].n_rows + 63) / 64) : 0;
    }
    ck_assert_int_eq(info[0].n_rows + info[1].n_rows + info[2].n_rows, N);
    ck_assert_int_gt(info[2].n_rows, 64);
    /* the index (compact for two parts, 8 bytes a row for the third) and
     * each part's handle (a few kB); 8 bytes a row everywhere would be 1.1 MB */
    const uint64_t expected = (uint64_t)compact + 8u * (uint64_t)info[2].n_rows;
    ck_assert_msg(bytes1 - bytes0 >= expected && bytes1 - bytes0 < expected + 16384,
                  "the split's index holds %llu bytes, %llu expected", (unsigned long long)(bytes1 - bytes0),
                  (unsigned long long)expected);
    for (int k = 0; k < 3; k++)
        same_dataset(a[k], b[k]);
    /* a scattered subset, far rows in one block: the exact form */
    int64_t far[100];
    for (int i = 0; i < 100; i++)
        far[i] = (int64_t)((i * 7919) % 100) * (N / 100) + i;
    sigeo_dataset_t *sa, *sb;
    OK(sigeo_dataset_subset(&sa, mem, far, 100));
    OK(sigeo_dataset_subset(&sb, map, far, 100));
    same_dataset(sa, sb);
    sigeo_batch_t v = SIGEO_BATCH_INIT;
    OK(sigeo_dataset_view(&v, sb, 0, 100));
    for (int i = 0; i < 100; i++)
        ck_assert_float_eq(v.dense[i], (float)far[i]); /* the rows themselves, derived here */
    /* a subset of a compact part: indexes of the compact index */
    const int64_t some[] = { 0, 5, info[0].n_rows - 1, 77 };
    sigeo_dataset_t *ca, *cb;
    OK(sigeo_dataset_subset(&ca, a[0], some, 4));
    OK(sigeo_dataset_subset(&cb, b[0], some, 4));
    same_dataset(ca, cb);
    sigeo_dataset_destroy(ca);
    sigeo_dataset_destroy(cb);
    sigeo_dataset_destroy(sa);
    sigeo_dataset_destroy(sb);
    for (int k = 0; k < 3; k++) {
        sigeo_dataset_destroy(a[k]);
        sigeo_dataset_destroy(b[k]);
    }
    sigeo_dataset_destroy(map);
    sigeo_dataset_destroy(mem);
    free(dense);
    free(labels);
}
END_TEST

START_TEST(dense_only_and_empty_datasets_round_trip)
{
    /* Dense + labels, no sparse part (an image dataset's shape). */
    float dense[6 * 3];
    int32_t labels[6] = { 2, 0, 1, 2, 2, 0 };
    for (int i = 0; i < 18; i++)
        dense[i] = (float)i * 0.25f - 1.0f;
    sigeo_batch_t rows = SIGEO_BATCH_INIT;
    rows.batch_size = 6;
    rows.dense = dense;
    rows.n_dense = 3;
    rows.labels = labels;
    sigeo_dataset_t *mem, *map;
    OK(sigeo_dataset_create(&mem, &rows));
    const char *path = tu_path_in(dir, "d.bin");
    OK(sigeo_dataset_cache_write(mem, path));
    OK(sigeo_dataset_cache_open(&map, path, 0));
    same_dataset(mem, map);
    sigeo_dataset_destroy(map);
    sigeo_dataset_destroy(mem);
    /* Zero rows. */
    rows.batch_size = 0;
    OK(sigeo_dataset_create(&mem, &rows));
    OK(sigeo_dataset_cache_write(mem, path));
    OK(sigeo_dataset_cache_open(&map, path, 0));
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    OK(sigeo_dataset_get_info(&info, map));
    ck_assert_int_eq(info.n_rows, 0);
    ck_assert_int_eq(info.n_dense, 3);
    sigeo_dataset_destroy(map);
    sigeo_dataset_destroy(mem);
}
END_TEST

/* Names in the folder other than `keep` (temporary files left behind). */
static int stray_files(const char *keep)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && (!keep || strcmp(e->d_name, keep)))
            n++;
    closedir(d);
    return n;
}

START_TEST(writes_are_atomic_and_leave_nothing_behind)
{
    sigeo_dataset_t *mem = synth(500, 4);
    const char *path = tu_path_in(dir, "a.bin");
    OK(sigeo_dataset_cache_write(mem, path));
    ck_assert_int_eq(stray_files("a.bin"), 0);
    struct stat before;
    ck_assert_int_eq(stat(path, &before), 0);
    /* A dataset the cache cannot hold (bags of two ids): refused, and the
     * existing file is untouched. */
    int64_t ids[4] = { 1, 2, 3, 4 }, off[3] = { 0, 2, 4 };
    sigeo_batch_t rows = SIGEO_BATCH_INIT;
    rows.batch_size = 2;
    rows.n_sparse_fields = 1;
    rows.sparse_ids = ids;
    rows.sparse_offsets = off;
    sigeo_dataset_t *bags;
    OK(sigeo_dataset_create(&bags, &rows));
    ck_assert_int_eq(sigeo_dataset_cache_write(bags, path), SIGEO_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(sigeo_last_error(), "one int32 id per bag"));
    struct stat after;
    ck_assert_int_eq(stat(path, &after), 0);
    ck_assert_int_eq(after.st_size, before.st_size);
    ck_assert_int_eq(after.st_ino, before.st_ino);
    ck_assert_int_eq(stray_files("a.bin"), 0);
    /* Rewriting replaces the file by rename (a new inode: a reader mapping
     * the old one keeps its consistent copy). */
    sigeo_dataset_t *old_map;
    OK(sigeo_dataset_cache_open(&old_map, path, 0));
    sigeo_dataset_t *other = synth(700, 5);
    OK(sigeo_dataset_cache_write(other, path));
    ck_assert_int_eq(stat(path, &after), 0);
    ck_assert_int_ne(after.st_ino, before.st_ino);
    same_dataset(mem, old_map);
    sigeo_dataset_t *new_map;
    OK(sigeo_dataset_cache_open(&new_map, path, 0));
    same_dataset(other, new_map);
    ck_assert_int_eq(stray_files("a.bin"), 0);
    /* A folder that does not exist: an I/O error naming it. */
    char missing[400];
    snprintf(missing, sizeof missing, "%s/no/such/c.bin", dir);
    ck_assert_int_eq(sigeo_dataset_cache_write(mem, missing), SIGEO_ERR_IO);
    ck_assert_ptr_nonnull(strstr(sigeo_last_error(), "/no/such"));
    /* The handle stays usable after a failure. */
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    OK(sigeo_dataset_batch(&b, mem, 0, 64, SIGEO_BATCH_KEEP_LAST));
    sigeo_dataset_destroy(old_map);
    sigeo_dataset_destroy(new_map);
    sigeo_dataset_destroy(other);
    sigeo_dataset_destroy(bags);
    sigeo_dataset_destroy(mem);
}
END_TEST

static unsigned char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    rewind(f);
    unsigned char *buf = malloc(*size + 64);
    ck_assert(buf && fread(buf, 1, *size, f) == *size);
    fclose(f);
    return buf;
}

static void spit(const char *path, const unsigned char *buf, size_t size)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert(fwrite(buf, 1, size, f) == size);
    fclose(f);
}

/* Opening `buf` written to a file fails with `status` and a message
 * containing `text`. */
static void refused(const unsigned char *buf, size_t size, sigeo_status_t status, const char *text)
{
    const char *path = tu_path_in(dir, "bad.bin");
    spit(path, buf, size);
    sigeo_dataset_t *ds = (sigeo_dataset_t *)&ds;
    sigeo_status_t st = sigeo_dataset_cache_open(&ds, path, 0);
    ck_assert_msg(st == status, "%zu bytes: status %d, expected %d (%s)", size, (int)st, (int)status,
                  sigeo_last_error());
    ck_assert_ptr_null(ds);
    ck_assert_msg(strstr(sigeo_last_error(), text), "'%s' lacks '%s'", sigeo_last_error(), text);
}

/* Header fields at their documented offsets (sigeo/data.h: the 256-byte
 * header; lib/io/cache.c lays it out). */
#define OFF_VERSION 8
#define OFF_N_ROWS 24
#define OFF_SECTIONS 72     /* 5 x { offset, size, checksum } */
#define OFF_FILE_SIZE 192
#define OFF_HEADER_SUM 248

/* The format's checksum, written here from its description (a multiply-
 * rotate hash over little 8-byte words, the zero-padded tail, then the
 * length), to forge files whose checksums are right but whose values are not. */
static uint64_t mix(uint64_t h, uint64_t w)
{
    h ^= w * UINT64_C(0x9E3779B97F4A7C15);
    h = (h << 27) | (h >> 37);
    return h * UINT64_C(0xC2B2AE3D27D4EB4F) + UINT64_C(0x165667B19E3779F9);
}
static uint64_t forge_hash(const unsigned char *p, size_t n)
{
    uint64_t h = UINT64_C(0x27D4EB2F165667C5), w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        h = mix(h, w);
    }
    if (i < n) {
        unsigned char last[8] = { 0 };
        memcpy(last, p + i, n - i);
        memcpy(&w, last, 8);
        h = mix(h, w);
    }
    return mix(h, (uint64_t)n);
}
static uint64_t get64(const unsigned char *p, size_t off)
{
    uint64_t v;
    memcpy(&v, p + off, 8);
    return v;
}
static void put64(unsigned char *p, size_t off, uint64_t v)
{
    memcpy(p + off, &v, 8);
}
static void reseal(unsigned char *buf, int section)
{
    if (section >= 0) {
        size_t o = (size_t)get64(buf, OFF_SECTIONS + 24 * (size_t)section);
        size_t n = (size_t)get64(buf, OFF_SECTIONS + 24 * (size_t)section + 8);
        put64(buf, OFF_SECTIONS + 24 * (size_t)section + 16, forge_hash(buf + o, n));
    }
    put64(buf, OFF_HEADER_SUM, forge_hash(buf, OFF_HEADER_SUM));
}

START_TEST(damaged_hostile_and_truncated_files_are_refused)
{
    sigeo_dataset_t *mem = synth(200, 6);
    char path[400];
    snprintf(path, sizeof path, "%s", tu_path_in(dir, "good.bin"));
    OK(sigeo_dataset_cache_write(mem, path));
    size_t size;
    unsigned char *good = slurp(path, &size), *buf = malloc(size + 64);
    ck_assert_ptr_nonnull(buf);
    /* The forged checksum matches the writer's: the test's hash is right. */
    ck_assert_uint_eq(forge_hash(good, OFF_HEADER_SUM), get64(good, OFF_HEADER_SUM));

    refused(good, 0, SIGEO_ERR_FORMAT, "shorter than the 256-byte cache header");
    refused(good, 255, SIGEO_ERR_FORMAT, "shorter than");
    refused(good, 256, SIGEO_ERR_FORMAT, "truncated");
    refused(good, size - 1, SIGEO_ERR_FORMAT, "truncated");
    refused(good, size - 64, SIGEO_ERR_FORMAT, "truncated");
    memcpy(buf, good, size);
    memset(buf + size, 0, 64);
    refused(buf, size + 64, SIGEO_ERR_FORMAT, "appended");
    refused((const unsigned char *)"label\tI1\tI2\nnot a cache at all, but long enough? no", 50, SIGEO_ERR_FORMAT,
            "shorter");
    memcpy(buf, good, size);
    memcpy(buf, "NOTCACHE", 8);
    refused(buf, size, SIGEO_ERR_FORMAT, "bad magic");
    /* A flipped bit anywhere in the header, and in each data section. */
    memcpy(buf, good, size);
    buf[OFF_N_ROWS] ^= 1;
    refused(buf, size, SIGEO_ERR_FORMAT, "header checksum");
    static const char *const names[5] = { "dense", "ids", "labels", "targets", "table sizes" };
    for (int k = 0; k < 5; k++) {
        memcpy(buf, good, size);
        size_t o = (size_t)get64(good, OFF_SECTIONS + 24 * (size_t)k);
        size_t n = (size_t)get64(good, OFF_SECTIONS + 24 * (size_t)k + 8);
        ck_assert_uint_gt(n, 0);
        buf[o + n / 2] ^= k == 2 ? 0x01 : 0x10; /* labels: 0 <-> 1, both valid */
        char want[64];
        snprintf(want, sizeof want, "checksum mismatch in section '%s'", names[k]);
        /* A flipped table size or id may fail its value check first. */
        const char *text = k == 1 || k == 4 ? "" : want;
        refused(buf, size, SIGEO_ERR_FORMAT, text);
    }
    /* Forged files: checksums right, values or sizes wrong. */
    memcpy(buf, good, size);
    put64(buf, OFF_VERSION, 2u | ((uint64_t)256u << 32)); /* version 2, header size kept */
    reseal(buf, -1);
    refused(buf, size, SIGEO_ERR_UNSUPPORTED, "version 2");
    memcpy(buf, good, size);
    put64(buf, OFF_N_ROWS, get64(good, OFF_N_ROWS) + 1);
    reseal(buf, -1);
    refused(buf, size, SIGEO_ERR_FORMAT, "the sizes in the header need");
    memcpy(buf, good, size);
    put64(buf, OFF_N_ROWS, UINT64_C(1) << 62); /* sizes overflow */
    reseal(buf, -1);
    refused(buf, size, SIGEO_ERR_FORMAT, "overflow");
    memcpy(buf, good, size);
    put64(buf, OFF_SECTIONS + 24 * 1, get64(good, OFF_SECTIONS + 24 * 1) + 8); /* ids section misaligned */
    reseal(buf, -1);
    refused(buf, size, SIGEO_ERR_FORMAT, "misplaced");
    memcpy(buf, good, size);
    put64(buf, OFF_FILE_SIZE, size + 64);
    reseal(buf, -1);
    refused(buf, size, SIGEO_ERR_FORMAT, "truncated");
    {   /* an id past its table, resealed */
        memcpy(buf, good, size);
        size_t ids = (size_t)get64(good, OFF_SECTIONS + 24);
        int32_t bad = INT32_MAX;
        memcpy(buf + ids + 4 * 30, &bad, 4); /* row 1, field 4 */
        reseal(buf, 1);
        refused(buf, size, SIGEO_ERR_FORMAT, "at row 1 field 4 is outside");
    }
    {   /* a NaN dense value, resealed */
        memcpy(buf, good, size);
        size_t dense = (size_t)get64(good, OFF_SECTIONS);
        float nan = __builtin_nanf("");
        memcpy(buf + dense + 4 * 14, &nan, 4); /* row 1, column 1 */
        reseal(buf, 0);
        refused(buf, size, SIGEO_ERR_FORMAT, "dense value at row 1 column 1 is nan");
        /* Trusted, the same file opens (the values are the caller's risk). */
        sigeo_dataset_t *ds;
        OK(sigeo_dataset_cache_open(&ds, tu_path_in(dir, "bad.bin"), SIGEO_CACHE_TRUST_DATA));
        sigeo_dataset_destroy(ds);
    }
    {   /* a negative label, resealed */
        memcpy(buf, good, size);
        size_t labels = (size_t)get64(good, OFF_SECTIONS + 48);
        int32_t bad = -1;
        memcpy(buf + labels + 4 * 7, &bad, 4);
        reseal(buf, 2);
        refused(buf, size, SIGEO_ERR_FORMAT, "label -1 at row 7");
    }
    /* Not a file, no file, bad arguments. */
    sigeo_dataset_t *ds;
    ck_assert_int_eq(sigeo_dataset_cache_open(&ds, dir, 0), SIGEO_ERR_IO);
    ck_assert_int_eq(sigeo_dataset_cache_open(&ds, tu_path_in(dir, "missing.bin"), 0), SIGEO_ERR_IO);
    ck_assert_ptr_nonnull(strstr(sigeo_last_error(), "missing.bin"));
    ck_assert_int_eq(sigeo_dataset_cache_open(&ds, path, 8), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_dataset_cache_open(NULL, path, 0), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_dataset_cache_write(NULL, path), SIGEO_ERR_INVALID_ARG);
    /* The good file still opens. */
    OK(sigeo_dataset_cache_open(&ds, path, 0));
    same_dataset(mem, ds);
    sigeo_dataset_destroy(ds);
    free(buf);
    free(good);
    sigeo_dataset_destroy(mem);
}
END_TEST

typedef struct progress_log {
    int calls;
    int64_t last_rows, last_lines;
    int stop_after;
} progress_log_t;

static int on_progress(int64_t rows, int64_t lines, void *user)
{
    progress_log_t *p = user;
    ck_assert_int_ge(rows, p->last_rows);
    ck_assert_int_ge(lines, rows);
    p->calls++;
    p->last_rows = rows;
    p->last_lines = lines;
    return p->stop_after > 0 && p->calls >= p->stop_after;
}

START_TEST(criteo_streams_into_a_cache_equal_to_the_loaded_file)
{
    sigeo_synth_options_t so = SIGEO_SYNTH_OPTIONS_INIT;
    so.n_rows = 140000; /* three chunks of 64 k rows */
    so.seed = 8;
    char tsv[400], cache[400];
    snprintf(tsv, sizeof tsv, "%s", tu_path_in(dir, "day.tsv"));
    snprintf(cache, sizeof cache, "%s", tu_path_in(dir, "day.bin"));
    OK(sigeo_synth_write_tsv(NULL, tsv, &so));
    progress_log_t log = { 0, 0, 0, 0 };
    sigeo_criteo_stats_t stats = SIGEO_CRITEO_STATS_INIT;
    OK(sigeo_criteo_write_cache(&stats, tsv, cache, NULL, 0, on_progress, &log));
    ck_assert_int_eq(stats.rows, 140000);
    ck_assert_int_eq(log.calls, 3);
    ck_assert_int_eq(log.last_rows, 140000);
    sigeo_dataset_t *loaded, *mapped;
    OK(sigeo_criteo_load(&loaded, NULL, tsv, NULL, 0));
    OK(sigeo_dataset_cache_open(&mapped, cache, 0));
    same_dataset(loaded, mapped);
    sigeo_dataset_destroy(mapped);
    sigeo_dataset_destroy(loaded);
    /* max_rows, and a cancel from the callback: nothing written then. */
    OK(sigeo_criteo_write_cache(NULL, tsv, cache, NULL, 1000, NULL, NULL));
    OK(sigeo_dataset_cache_open(&mapped, cache, 0));
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    OK(sigeo_dataset_get_info(&info, mapped));
    ck_assert_int_eq(info.n_rows, 1000);
    sigeo_dataset_destroy(mapped);
    const char *cancelled = tu_path_in(dir, "cancelled.bin");
    progress_log_t stop = { 0, 0, 0, 1 };
    ck_assert_int_eq(sigeo_criteo_write_cache(NULL, tsv, cancelled, NULL, 0, on_progress, &stop),
                     SIGEO_ERR_CANCELLED);
    ck_assert_int_eq(access(cancelled, F_OK), -1);
    ck_assert_int_eq(stray_files(NULL), 2); /* day.tsv and day.bin: no temporary file left */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cache");
    TCase *tc = tcase_create("cache");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, round_trip_equals_the_in_memory_dataset);
    tcase_add_test(tc, dense_only_and_empty_datasets_round_trip);
    tcase_add_test(tc, long_files_index_compactly_and_far_rows_exactly);
    tcase_add_test(tc, writes_are_atomic_and_leave_nothing_behind);
    tcase_add_test(tc, damaged_hostile_and_truncated_files_are_refused);
    tcase_add_test(tc, criteo_streams_into_a_cache_equal_to_the_loaded_file);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
