/* The Criteo TSV reader (lib/io/criteo.c, lib/io/hash.c) against lines the
 * tests write: transforms and hand-computed hashes, missing fields, CRLF,
 * malformed lines in strict and skip mode, over-long lines, gzip input,
 * streaming chunks against the whole-file load, allocation failures. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "guard_alloc.h"
#include "sigeo/io.h"
#include "test_util.h"
#include "tmpdir.h"

static char dir[256];
static void make_dir(void) { tu_make_dir(dir, sizeof dir, "sigeo_criteo"); }
static void remove_dir(void) { tu_remove_dir(dir); }
static const char *path_of(const char *name) { return tu_path_in(dir, name); }

static void write_text(const char *name, const char *text, size_t n, bool gzip)
{
    if (gzip) {
        gzFile gz = gzopen(path_of(name), "wb");
        ck_assert_ptr_nonnull(gz);
        if (n > 0)
            ck_assert_int_eq(gzwrite(gz, text, (unsigned)n), (int)n);
        ck_assert_int_eq(gzclose(gz), Z_OK);
        return;
    }
    FILE *fp = fopen(path_of(name), "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(text, 1, n, fp), n);
    ck_assert_int_eq(fclose(fp), 0);
}

/* A line: 40 fields, all empty except those set. */
typedef struct spec {
    const char *field[40];
} spec_t;

static size_t join(char *out, const spec_t *s, const char *ending)
{
    size_t n = 0;
    for (int k = 0; k < 40; k++) {
        if (k)
            out[n++] = '\t';
        const char *v = s->field[k] ? s->field[k] : "";
        memcpy(out + n, v, strlen(v));
        n += strlen(v);
    }
    memcpy(out + n, ending, strlen(ending));
    n += strlen(ending);
    out[n] = '\0';
    return n;
}

/* Line A: label 1, I1 = 1, I2 = -3 (clamped to 0), I3 = 1000, I13 = 5;
 * C1 = 68fd1e64, C2 = 80e26c9b, C26 = ffffffffffffffff; the rest missing. */
static spec_t line_a(void)
{
    spec_t s = { { NULL } };
    s.field[0] = "1";
    s.field[1] = "1";
    s.field[2] = "-3";
    s.field[3] = "1000";
    s.field[13] = "5";
    s.field[14] = "68fd1e64";
    s.field[15] = "80e26c9b";
    s.field[39] = "FFFFFFFFFFFFFFFF";
    return s;
}

static sigeo_criteo_options_t options_with(int32_t tables, int64_t size)
{
    sigeo_criteo_options_t o = SIGEO_CRITEO_OPTIONS_INIT;
    o.tables = tables;
    o.table_size = size;
    return o;
}

START_TEST(transforms_and_hashes_match_hand_computed_values)
{
    make_dir();
    char text[2048];
    spec_t a = line_a(), b = { { NULL } };
    b.field[0] = "0";
    size_t n = join(text, &a, "\n");
    n += join(text + n, &b, "\n"); /* line B: label 0, everything missing */
    write_text("a.tsv", text, n, false);
    sigeo_dataset_t *ds = NULL;
    sigeo_criteo_stats_t stats = SIGEO_CRITEO_STATS_INIT;
    ck_assert_msg(sigeo_criteo_load(&ds, &stats, path_of("a.tsv"), NULL, 0) == SIGEO_OK, "%s", sigeo_last_error());
    ck_assert_int_eq(stats.lines, 2);
    ck_assert_int_eq(stats.rows, 2);
    ck_assert_int_eq(stats.bad_lines, 0);
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    ck_assert_int_eq(sigeo_dataset_get_info(&info, ds), SIGEO_OK);
    ck_assert_int_eq(info.n_rows, 2);
    ck_assert_int_eq(info.n_dense, 13);
    ck_assert_int_eq(info.n_sparse_fields, 26);
    ck_assert_int_eq(info.n_ids, 52);
    ck_assert_int_eq(info.n_targets, 1);
    ck_assert_int_eq(info.has_labels, 1);

    sigeo_batch_t v = SIGEO_BATCH_INIT;
    ck_assert_int_eq(sigeo_dataset_view(&v, ds, 0, 2), SIGEO_OK);
    /* Dense: ln(1 + max(x, 0)): ln 2, 0 (x = -3), ln 1001, ln 6; missing 0. */
    ck_assert_near(v.dense[0], log(2.0), 1e-7, 0);
    ck_assert_float_eq(v.dense[1], 0.0f);
    ck_assert_near(v.dense[2], log(1001.0), 1e-7, 0);
    ck_assert_near(v.dense[12], log(6.0), 1e-7, 0);
    for (int j = 3; j < 12; j++)
        ck_assert_float_eq(v.dense[j], 0.0f);
    /* Default tables: SCALED = min(N_f, 4096): C1 1461, C2 584, C26 4096.
     * C1: 0x68fd1e64 = 1761418852 = 1460 * 1206451 + 392      -> id 393
     * C2: 0x80e26c9b = 2162322587 = 583 * 3708958 + 73        -> id 74
     * C26: 2^64 - 1 mod 4095: 2^12 = 1 (mod 4095), 2^64 = 2^(60+4) = 16,
     *      so 2^64 - 1 = 15 (mod 4095)                         -> id 16 */
    ck_assert_int_eq(v.sparse_ids[0], 393);
    ck_assert_int_eq(v.sparse_ids[1], 74);
    for (int f = 2; f < 25; f++)
        ck_assert_int_eq(v.sparse_ids[f], 0);
    ck_assert_int_eq(v.sparse_ids[25], 16);
    for (int k = 0; k <= 52; k++)
        ck_assert_int_eq(v.sparse_offsets[k], k); /* one id per bag */
    ck_assert_int_eq(v.labels[0], 1);
    ck_assert_float_eq(v.targets[0], 1.0f);
    /* Line B: every value missing. */
    ck_assert_int_eq(v.labels[1], 0);
    ck_assert_float_eq(v.targets[1], 0.0f);
    for (int j = 0; j < 13; j++)
        ck_assert_float_eq(v.dense[13 + j], 0.0f);
    for (int f = 0; f < 26; f++)
        ck_assert_int_eq(v.sparse_ids[26 + f], 0);
    int64_t sizes[26];
    size_t count = 26;
    ck_assert_int_eq(sigeo_dataset_table_sizes(sizes, &count, ds), SIGEO_OK);
    ck_assert_int_eq(sizes[0], 1461);
    ck_assert_int_eq(sizes[2], 4096);
    ck_assert_int_eq(sizes[8], 4);
    sigeo_dataset_destroy(ds);
    remove_dir();
}
END_TEST

START_TEST(hash_function_is_the_readers_and_stable)
{
    int64_t id = -1;
    ck_assert_int_eq(sigeo_criteo_hash_id(&id, "68fd1e64", 8, 1461), SIGEO_OK);
    ck_assert_int_eq(id, 393);
    ck_assert_int_eq(sigeo_criteo_hash_id(&id, "68FD1E64", 8, 1461), SIGEO_OK); /* case does not matter */
    ck_assert_int_eq(id, 393);
    ck_assert_int_eq(sigeo_criteo_hash_id(&id, "", 0, 1461), SIGEO_OK);
    ck_assert_int_eq(id, 0);
    ck_assert_int_eq(sigeo_criteo_hash_id(&id, "0", 1, 1000), SIGEO_OK); /* 0 mod 999 + 1 */
    ck_assert_int_eq(id, 1);
    ck_assert_int_eq(sigeo_criteo_hash_id(&id, "abc", 3, 2), SIGEO_OK); /* one row besides "missing" */
    ck_assert_int_eq(id, 1);
    /* 0x75ac2fe6 = 1974218726 = 4095 * 482104 + 2846 -> 2847 */
    ck_assert_int_eq(sigeo_criteo_hash_id(&id, "75ac2fe6", 8, 4096), SIGEO_OK);
    ck_assert_int_eq(id, 2847);
    ck_assert_int_eq(sigeo_criteo_hash_id(&id, "xyz", 3, 1000), SIGEO_ERR_FORMAT);
    ck_assert_str_contains(sigeo_last_error(), "'xyz'");
    ck_assert_int_eq(sigeo_criteo_hash_id(&id, "12345678901234567", 17, 1000), SIGEO_ERR_FORMAT);
    ck_assert_int_eq(sigeo_criteo_hash_id(&id, "1", 1, 1), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_criteo_hash_id(&id, "1", 1, ((int64_t)1 << 31) + 1), SIGEO_ERR_INVALID_ARG);
}
END_TEST

START_TEST(crlf_and_a_missing_final_newline_are_accepted)
{
    make_dir();
    char lf[4096], crlf[4096];
    spec_t a = line_a(), b = line_a();
    b.field[0] = "0";
    b.field[20] = "00c0ffee";
    size_t n1 = join(lf, &a, "\n");
    n1 += join(lf + n1, &b, "\n");
    size_t n2 = join(crlf, &a, "\r\n");
    n2 += join(crlf + n2, &b, ""); /* no newline at the end */
    write_text("lf", lf, n1, false);
    write_text("crlf", crlf, n2, false);
    sigeo_dataset_t *x = NULL, *y = NULL;
    ck_assert_int_eq(sigeo_criteo_load(&x, NULL, path_of("lf"), NULL, 0), SIGEO_OK);
    ck_assert_msg(sigeo_criteo_load(&y, NULL, path_of("crlf"), NULL, 0) == SIGEO_OK, "%s", sigeo_last_error());
    sigeo_batch_t u = SIGEO_BATCH_INIT, w = SIGEO_BATCH_INIT;
    ck_assert_int_eq(sigeo_dataset_view(&u, x, 0, 2), SIGEO_OK);
    ck_assert_int_eq(sigeo_dataset_view(&w, y, 0, 2), SIGEO_OK);
    ck_assert(memcmp(u.dense, w.dense, 26 * sizeof(float)) == 0);
    ck_assert(memcmp(u.sparse_ids, w.sparse_ids, 52 * sizeof(int64_t)) == 0);
    ck_assert(memcmp(u.labels, w.labels, 2 * sizeof(int32_t)) == 0);
    ck_assert_int_ne(w.sparse_ids[26 + 6], 0); /* C7 of line B */
    sigeo_dataset_destroy(x);
    sigeo_dataset_destroy(y);
    remove_dir();
}
END_TEST

/* Writes good line, `bad` line, good line and loads strictly. */
static void expect_bad(const spec_t *bad, const char *ending, sigeo_criteo_problem_t problem, int32_t field,
                       const char *needle)
{
    char text[4096];
    spec_t good = line_a();
    size_t n = join(text, &good, "\n");
    n += join(text + n, bad, ending);
    n += join(text + n, &good, "\n");
    write_text("bad", text, n, false);
    sigeo_dataset_t *ds = (sigeo_dataset_t *)1;
    sigeo_criteo_stats_t stats = SIGEO_CRITEO_STATS_INIT;
    sigeo_status_t st = sigeo_criteo_load(&ds, &stats, path_of("bad"), NULL, 0);
    ck_assert_msg(st == SIGEO_ERR_FORMAT, "status %d (%s)", (int)st, sigeo_last_error());
    ck_assert_ptr_null(ds);
    ck_assert_str_contains(sigeo_last_error(), needle);
    ck_assert_int_eq(stats.first_bad_line, 2);
    ck_assert_int_eq(stats.first_bad_field, field);
    ck_assert_int_eq(stats.first_bad_problem, problem);
    ck_assert_int_eq(stats.bad_lines, 1);
}

START_TEST(malformed_lines_fail_strictly_naming_line_and_field)
{
    make_dir();
    spec_t s = line_a();
    s.field[16] = "zz";
    expect_bad(&s, "\n", SIGEO_CRITEO_PROBLEM_HEX, 17, "line 2 field 17 (C3): 'zz' is not 1..16 hex digits");
    s = line_a();
    s.field[16] = "12345678901234567"; /* 17 digits */
    expect_bad(&s, "\n", SIGEO_CRITEO_PROBLEM_HEX, 17, "(C3)");
    s = line_a();
    s.field[16] = " 1";
    expect_bad(&s, "\n", SIGEO_CRITEO_PROBLEM_HEX, 17, "(C3)");
    s = line_a();
    s.field[5] = "12a";
    expect_bad(&s, "\n", SIGEO_CRITEO_PROBLEM_INTEGER, 6, "line 2 field 6 (I5): '12a' is not a decimal int64");
    s = line_a();
    s.field[5] = "99999999999999999999"; /* > INT64_MAX */
    expect_bad(&s, "\n", SIGEO_CRITEO_PROBLEM_INTEGER, 6, "(I5)");
    s = line_a();
    s.field[5] = "-";
    expect_bad(&s, "\n", SIGEO_CRITEO_PROBLEM_INTEGER, 6, "(I5)");
    s = line_a();
    s.field[0] = "2";
    expect_bad(&s, "\n", SIGEO_CRITEO_PROBLEM_LABEL, 1, "field 1 (label): '2' is not 0 or 1");
    s = line_a();
    s.field[0] = "";
    expect_bad(&s, "\n", SIGEO_CRITEO_PROBLEM_LABEL, 1, "(label)");
    s = line_a();
    s.field[39] = "ab\tcd"; /* an extra tab: 41 fields */
    expect_bad(&s, "\n", SIGEO_CRITEO_PROBLEM_FIELD_COUNT, 0, "line 2: 41 fields, expected 40");
    s = line_a();
    s.field[39] = "ab\r"; /* a CR inside the line is not a line ending */
    expect_bad(&s, "\r\n", SIGEO_CRITEO_PROBLEM_HEX, 40, "(C26)");
    remove_dir();
}
END_TEST

START_TEST(blank_and_short_lines_are_field_count_errors)
{
    make_dir();
    char text[4096];
    spec_t good = line_a();
    size_t n = join(text, &good, "\n");
    n += (size_t)sprintf(text + n, "\n1\t2\t3\n");
    n += join(text + n, &good, "\n");
    write_text("short", text, n, false);
    sigeo_criteo_options_t o = SIGEO_CRITEO_OPTIONS_INIT;
    o.on_bad_line = SIGEO_CRITEO_BAD_LINE_SKIP;
    sigeo_dataset_t *ds = NULL;
    sigeo_criteo_stats_t stats = SIGEO_CRITEO_STATS_INIT;
    ck_assert_int_eq(sigeo_criteo_load(&ds, &stats, path_of("short"), &o, 0), SIGEO_OK);
    ck_assert_int_eq(stats.rows, 2);
    ck_assert_int_eq(stats.bad_field_count, 2);
    ck_assert_int_eq(stats.first_bad_line, 2);
    ck_assert_int_eq(stats.lines, 4);
    sigeo_dataset_destroy(ds);
    ck_assert_int_eq(sigeo_criteo_load(&ds, NULL, path_of("short"), NULL, 0), SIGEO_ERR_FORMAT);
    ck_assert_str_contains(sigeo_last_error(), "line 2: 1 fields");
    remove_dir();
}
END_TEST

START_TEST(skip_mode_counts_every_kind_and_keeps_the_good_rows)
{
    make_dir();
    char text[16384];
    size_t n = 0;
    spec_t good = line_a(), s;
    n += join(text + n, &good, "\n"); /* line 1 */
    s = line_a();
    s.field[20] = "g";
    n += join(text + n, &s, "\n"); /* line 2: hex */
    s = line_a();
    s.field[3] = "x";
    n += join(text + n, &s, "\n"); /* line 3: integer */
    s = line_a();
    s.field[0] = "yes";
    n += join(text + n, &s, "\n"); /* line 4: label */
    s = line_a();
    s.field[10] = "1\t2";
    n += join(text + n, &s, "\n"); /* line 5: field count */
    s = line_a();
    s.field[0] = "0";
    n += join(text + n, &s, "\r\n"); /* line 6: good */
    write_text("mixed", text, n, false);
    sigeo_criteo_options_t o = SIGEO_CRITEO_OPTIONS_INIT;
    o.on_bad_line = SIGEO_CRITEO_BAD_LINE_SKIP;
    sigeo_dataset_t *ds = NULL;
    sigeo_criteo_stats_t stats = SIGEO_CRITEO_STATS_INIT;
    ck_assert_int_eq(sigeo_criteo_load(&ds, &stats, path_of("mixed"), &o, 0), SIGEO_OK);
    ck_assert_int_eq(stats.lines, 6);
    ck_assert_int_eq(stats.rows, 2);
    ck_assert_int_eq(stats.bad_lines, 4);
    ck_assert_int_eq(stats.bad_hex, 1);
    ck_assert_int_eq(stats.bad_integer, 1);
    ck_assert_int_eq(stats.bad_label, 1);
    ck_assert_int_eq(stats.bad_field_count, 1);
    ck_assert_int_eq(stats.first_bad_line, 2);
    ck_assert_int_eq(stats.first_bad_field, 21);
    ck_assert_int_eq(stats.first_bad_problem, SIGEO_CRITEO_PROBLEM_HEX);
    sigeo_batch_t v = SIGEO_BATCH_INIT;
    ck_assert_int_eq(sigeo_dataset_view(&v, ds, 0, 2), SIGEO_OK);
    ck_assert_int_eq(v.labels[0], 1);
    ck_assert_int_eq(v.labels[1], 0);
    sigeo_dataset_destroy(ds);
    remove_dir();
}
END_TEST

START_TEST(over_long_lines_are_rejected_with_their_number)
{
    make_dir();
    /* Line 2 has 100 kB of junk: longer than the limit and than the buffer. */
    size_t junk = 100000;
    char *text = malloc(junk + 8192);
    spec_t good = line_a();
    size_t n = join(text, &good, "\n");
    memset(text + n, 'x', junk);
    n += junk;
    text[n++] = '\n';
    n += join(text + n, &good, "\n");
    size_t mid = n;
    memset(text + n, '7', 300); /* line 4: 300 bytes, over a 200-byte limit */
    n += 300;
    text[n++] = '\n';
    n += join(text + n, &good, "\r\n");
    write_text("long", text, n, false);
    sigeo_criteo_options_t o = SIGEO_CRITEO_OPTIONS_INIT;
    sigeo_dataset_t *ds = NULL;
    ck_assert_int_eq(sigeo_criteo_load(&ds, NULL, path_of("long"), &o, 0), SIGEO_ERR_FORMAT);
    ck_assert_str_contains(sigeo_last_error(), "line 2: longer than max_line_bytes 65536");
    o.on_bad_line = SIGEO_CRITEO_BAD_LINE_SKIP;
    o.max_line_bytes = 200;
    sigeo_criteo_stats_t stats = SIGEO_CRITEO_STATS_INIT;
    ck_assert_msg(sigeo_criteo_load(&ds, &stats, path_of("long"), &o, 0) == SIGEO_OK, "%s", sigeo_last_error());
    ck_assert_int_eq(stats.lines, 5);
    ck_assert_int_eq(stats.rows, 3);
    ck_assert_int_eq(stats.too_long, 2);
    ck_assert_int_eq(stats.first_bad_line, 2);
    ck_assert_int_eq(stats.first_bad_problem, SIGEO_CRITEO_PROBLEM_TOO_LONG);
    sigeo_dataset_destroy(ds);
    /* A last line without newline that is too long. */
    write_text("long_last", text + mid, 301 - 1, false);
    o.on_bad_line = SIGEO_CRITEO_BAD_LINE_FAIL;
    ck_assert_int_eq(sigeo_criteo_load(&ds, NULL, path_of("long_last"), &o, 0), SIGEO_ERR_FORMAT);
    ck_assert_str_contains(sigeo_last_error(), "line 1: longer than max_line_bytes 200");
    free(text);
    remove_dir();
}
END_TEST

/* n rows of varied content, every 7th line CRLF. */
static size_t varied_file(char *text, int rows)
{
    size_t n = 0;
    char ints[13][24], cats[26][24];
    for (int r = 0; r < rows; r++) {
        spec_t s = { { NULL } };
        s.field[0] = r % 3 == 0 ? "1" : "0";
        for (int j = 0; j < 13; j++) {
            snprintf(ints[j], sizeof ints[j], "%d", (r * 31 + j * 17) % 97 - 5);
            s.field[1 + j] = (r + j) % 5 == 0 ? "" : ints[j];
        }
        for (int f = 0; f < 26; f++) {
            snprintf(cats[f], sizeof cats[f], "%08x", (unsigned)(r * 2654435761u + (unsigned)f * 40503u));
            s.field[14 + f] = (r + f) % 11 == 0 ? "" : cats[f];
        }
        n += join(text + n, &s, r % 7 == 0 ? "\r\n" : "\n");
    }
    return n;
}

static void assert_same_rows(sigeo_dataset_t *whole, int64_t first, sigeo_dataset_t *chunk, int64_t rows)
{
    sigeo_batch_t a = SIGEO_BATCH_INIT;
    ck_assert_int_eq(sigeo_dataset_view(&a, chunk, 0, rows), SIGEO_OK);
    float dense[13 * 64];
    int64_t ids[26 * 64];
    int32_t labels[64];
    float targets[64];
    memcpy(dense, a.dense, (size_t)rows * 13 * sizeof(float));
    memcpy(ids, a.sparse_ids, (size_t)rows * 26 * sizeof(int64_t));
    memcpy(labels, a.labels, (size_t)rows * sizeof(int32_t));
    memcpy(targets, a.targets, (size_t)rows * sizeof(float));
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    ck_assert_int_eq(sigeo_dataset_view(&b, whole, first, rows), SIGEO_OK);
    ck_assert(memcmp(dense, b.dense, (size_t)rows * 13 * sizeof(float)) == 0);
    ck_assert(memcmp(ids, b.sparse_ids, (size_t)rows * 26 * sizeof(int64_t)) == 0);
    ck_assert(memcmp(labels, b.labels, (size_t)rows * sizeof(int32_t)) == 0);
    ck_assert(memcmp(targets, b.targets, (size_t)rows * sizeof(float)) == 0);
}

START_TEST(streamed_chunks_concatenate_to_the_whole_file)
{
    make_dir();
    enum { ROWS = 1000 };
    char *text = malloc((size_t)ROWS * 600);
    size_t n = varied_file(text, ROWS);
    write_text("v.tsv.gz", text, n, true);
    write_text("v.tsv", text, n, false);
    sigeo_criteo_options_t o = options_with(SIGEO_CRITEO_TABLES_UNIFORM, 1000);
    sigeo_dataset_t *whole = NULL, *plain = NULL;
    ck_assert_msg(sigeo_criteo_load(&whole, NULL, path_of("v.tsv.gz"), &o, 0) == SIGEO_OK, "%s",
                  sigeo_last_error());
    ck_assert_int_eq(sigeo_criteo_load(&plain, NULL, path_of("v.tsv"), &o, 0), SIGEO_OK);
    assert_same_rows(whole, 0, plain, 64); /* gzip and plain agree */
    sigeo_dataset_destroy(plain);

    sigeo_criteo_reader_t *r = NULL;
    ck_assert_int_eq(sigeo_criteo_reader_create(&r, path_of("v.tsv"), &o), SIGEO_OK);
    int64_t at = 0, chunks = 0;
    for (;;) {
        sigeo_dataset_t *chunk = NULL;
        ck_assert_int_eq(sigeo_criteo_reader_next(&chunk, r, 37), SIGEO_OK);
        if (!chunk)
            break;
        sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
        ck_assert_int_eq(sigeo_dataset_get_info(&info, chunk), SIGEO_OK);
        ck_assert_int_eq(info.n_rows, at + 37 <= ROWS ? 37 : ROWS - at);
        assert_same_rows(whole, at, chunk, info.n_rows);
        at += info.n_rows;
        chunks++;
        sigeo_dataset_destroy(chunk);
    }
    ck_assert_int_eq(at, ROWS);
    ck_assert_int_eq(chunks, (ROWS + 36) / 37);
    sigeo_dataset_t *after = (sigeo_dataset_t *)1;
    ck_assert_int_eq(sigeo_criteo_reader_next(&after, r, 37), SIGEO_OK); /* the end stays the end */
    ck_assert_ptr_null(after);
    sigeo_criteo_stats_t stats = SIGEO_CRITEO_STATS_INIT;
    ck_assert_int_eq(sigeo_criteo_reader_get_stats(&stats, r), SIGEO_OK);
    ck_assert_int_eq(stats.rows, ROWS);
    ck_assert_int_eq(stats.lines, ROWS);
    ck_assert_int_eq(sigeo_criteo_reader_next(&after, r, 0), SIGEO_ERR_INVALID_ARG);
    sigeo_criteo_reader_destroy(r);

    /* A row limit on the whole-file load. */
    sigeo_dataset_t *some = NULL;
    ck_assert_int_eq(sigeo_criteo_load(&some, NULL, path_of("v.tsv"), &o, 10), SIGEO_OK);
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    ck_assert_int_eq(sigeo_dataset_get_info(&info, some), SIGEO_OK);
    ck_assert_int_eq(info.n_rows, 10);
    assert_same_rows(whole, 0, some, 10);
    sigeo_dataset_destroy(some);
    sigeo_dataset_destroy(whole);
    free(text);
    remove_dir();
}
END_TEST

START_TEST(a_failed_reader_stays_failed)
{
    make_dir();
    char text[4096];
    spec_t good = line_a(), bad = line_a();
    bad.field[1] = "one";
    size_t n = join(text, &good, "\n");
    n += join(text + n, &bad, "\n");
    n += join(text + n, &good, "\n");
    write_text("f", text, n, false);
    sigeo_criteo_reader_t *r = NULL;
    ck_assert_int_eq(sigeo_criteo_reader_create(&r, path_of("f"), NULL), SIGEO_OK);
    sigeo_dataset_t *chunk = NULL;
    ck_assert_int_eq(sigeo_criteo_reader_next(&chunk, r, 1), SIGEO_OK); /* line 1 */
    sigeo_dataset_destroy(chunk);
    ck_assert_int_eq(sigeo_criteo_reader_next(&chunk, r, 1), SIGEO_ERR_FORMAT);
    ck_assert_str_contains(sigeo_criteo_reader_last_error(r), "line 2 field 2 (I1)");
    ck_assert_int_eq(sigeo_criteo_reader_next(&chunk, r, 1), SIGEO_ERR_FORMAT);
    ck_assert_ptr_null(chunk);
    ck_assert_str_contains(sigeo_last_error(), "line 2 field 2 (I1)");
    sigeo_criteo_reader_destroy(r);
    sigeo_criteo_reader_destroy(NULL);
    ck_assert_int_eq(sigeo_criteo_reader_create(&r, path_of("absent"), NULL), SIGEO_ERR_IO);
    ck_assert_ptr_null(r);
    ck_assert_str_contains(sigeo_last_error(), "No such file");
    /* An empty file is a dataset of 0 rows. */
    write_text("empty", "", 0, false);
    ck_assert_int_eq(sigeo_criteo_load(&chunk, NULL, path_of("empty"), NULL, 0), SIGEO_OK);
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    ck_assert_int_eq(sigeo_dataset_get_info(&info, chunk), SIGEO_OK);
    ck_assert_int_eq(info.n_rows, 0);
    ck_assert_int_eq(info.n_sparse_fields, 26);
    sigeo_dataset_destroy(chunk);
    remove_dir();
}
END_TEST

START_TEST(table_presets_and_option_validation)
{
    int64_t t[26];
    ck_assert_int_eq(sigeo_criteo_table_sizes(t, NULL), SIGEO_OK);
    ck_assert_int_eq(t[0], 1461);
    ck_assert_int_eq(t[2], 4096); /* 10131227 capped */
    ck_assert_int_eq(t[8], 4);
    sigeo_criteo_options_t o = options_with(SIGEO_CRITEO_TABLES_FULL, 0);
    ck_assert_int_eq(sigeo_criteo_table_sizes(t, &o), SIGEO_OK);
    ck_assert_int_eq(t[2], 10131227);
    o.tables = SIGEO_CRITEO_TABLES_SEARCH;
    ck_assert_int_eq(sigeo_criteo_table_sizes(t, &o), SIGEO_OK);
    ck_assert_int_eq(t[2], 500000);
    ck_assert_int_eq(t[25], 142573);
    o = options_with(SIGEO_CRITEO_TABLES_UNIFORM, 100000);
    ck_assert_int_eq(sigeo_criteo_table_sizes(t, &o), SIGEO_OK);
    ck_assert_int_eq(t[13], 100000);
    o.table_size = 1;
    ck_assert_int_eq(sigeo_criteo_table_sizes(t, &o), SIGEO_ERR_INVALID_ARG);
    o = options_with(SIGEO_CRITEO_TABLES_CUSTOM, 0);
    for (int f = 0; f < 26; f++)
        o.table_sizes[f] = 10 + f;
    ck_assert_int_eq(sigeo_criteo_table_sizes(t, &o), SIGEO_OK);
    ck_assert_int_eq(t[25], 35);
    o.table_sizes[4] = 0;
    ck_assert_int_eq(sigeo_criteo_table_sizes(t, &o), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "table_sizes[4]");
    o = options_with(9, 0);
    ck_assert_int_eq(sigeo_criteo_table_sizes(t, &o), SIGEO_ERR_INVALID_ARG);
    o = options_with(0, 0);
    o.max_line_bytes = 0;
    ck_assert_int_eq(sigeo_criteo_table_sizes(t, &o), SIGEO_ERR_INVALID_ARG);
    o = options_with(0, 0);
    o.on_bad_line = 3;
    ck_assert_int_eq(sigeo_criteo_table_sizes(t, &o), SIGEO_ERR_INVALID_ARG);
    sigeo_criteo_options_t a = SIGEO_CRITEO_OPTIONS_INIT, b;
    memset(&b, 0x5a, sizeof b);
    ck_assert_int_eq(sigeo_criteo_options_init(&b, sizeof b), SIGEO_OK);
    ck_assert(memcmp(&a, &b, sizeof a) == 0);
    sigeo_criteo_stats_t c = SIGEO_CRITEO_STATS_INIT, d;
    memset(&d, 0x5a, sizeof d);
    ck_assert_int_eq(sigeo_criteo_stats_init(&d, sizeof d), SIGEO_OK);
    ck_assert(memcmp(&c, &d, sizeof c) == 0);
}
END_TEST

START_TEST(allocation_failures_return_no_memory_and_leak_nothing)
{
    make_dir();
    char *text = malloc(300 * 600);
    size_t n = varied_file(text, 300);
    write_text("v.tsv", text, n, false);
    free(text);
    sigeo_allocator_t a = guard_allocator();
    ck_assert_int_eq(sigeo_set_allocator(&a), SIGEO_OK);
    uint64_t k = 1;
    for (;; k++) {
        guard_reset();
        guard_fail_at(k, false);
        sigeo_dataset_t *ds = NULL;
        sigeo_status_t st = sigeo_criteo_load(&ds, NULL, path_of("v.tsv"), NULL, 0);
        /* and a streamed read with a view */
        sigeo_criteo_reader_t *r = NULL;
        if (st == SIGEO_OK)
            st = sigeo_criteo_reader_create(&r, path_of("v.tsv"), NULL);
        sigeo_dataset_t *chunk = NULL;
        if (st == SIGEO_OK)
            st = sigeo_criteo_reader_next(&chunk, r, 100);
        sigeo_batch_t b = SIGEO_BATCH_INIT;
        if (st == SIGEO_OK)
            st = sigeo_dataset_view(&b, chunk, 0, 100);
        sigeo_dataset_destroy(chunk);
        sigeo_criteo_reader_destroy(r);
        sigeo_dataset_destroy(ds);
        guard_stats_t g = guard_stats();
        ck_assert_msg(g.live == 0, "allocation %llu failing leaves %llu blocks", (unsigned long long)k,
                      (unsigned long long)g.live);
        if (g.alloc_failed == 0) {
            ck_assert_int_eq(st, SIGEO_OK);
            break;
        }
        ck_assert_msg(st == SIGEO_ERR_NO_MEMORY, "allocation %llu failing gave %d: %s", (unsigned long long)k,
                      (int)st, sigeo_last_error());
    }
    ck_assert_uint_gt(k, 8);
    ck_assert_int_eq(sigeo_set_allocator(NULL), SIGEO_OK);
    remove_dir();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("criteo");
    TCase *tc = tcase_create("criteo");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, transforms_and_hashes_match_hand_computed_values);
    tcase_add_test(tc, hash_function_is_the_readers_and_stable);
    tcase_add_test(tc, crlf_and_a_missing_final_newline_are_accepted);
    tcase_add_test(tc, malformed_lines_fail_strictly_naming_line_and_field);
    tcase_add_test(tc, blank_and_short_lines_are_field_count_errors);
    tcase_add_test(tc, skip_mode_counts_every_kind_and_keeps_the_good_rows);
    tcase_add_test(tc, over_long_lines_are_rejected_with_their_number);
    tcase_add_test(tc, streamed_chunks_concatenate_to_the_whole_file);
    tcase_add_test(tc, a_failed_reader_stays_failed);
    tcase_add_test(tc, table_presets_and_option_validation);
    tcase_add_test(tc, allocation_failures_return_no_memory_and_leak_nothing);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
