/* The synthetic CTR generator (lib/io/synthetic.c): bit-identical output
 * for a seed, a calibrated base rate, signal carried by the crosses, and
 * agreement between the TSV and the in-memory paths. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigeo/io.h"
#include "test_util.h"
#include "tmpdir.h"

static char dir[256];
static void make_dir(void) { tu_make_dir(dir, sizeof dir, "sigeo_synth"); }
static void remove_dir(void) { tu_remove_dir(dir); }
static const char *path_of(const char *name) { return tu_path_in(dir, name); }

static char *read_all(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    *n = (size_t)len;
    return buf;
}

static sigeo_synth_options_t opts(uint64_t seed, int64_t rows)
{
    sigeo_synth_options_t o = SIGEO_SYNTH_OPTIONS_INIT;
    o.seed = seed;
    o.n_rows = rows;
    return o;
}

START_TEST(same_seed_gives_identical_bytes_and_other_seeds_differ)
{
    make_dir();
    sigeo_synth_options_t o = opts(7, 3000);
    sigeo_synth_result_t r1 = SIGEO_SYNTH_RESULT_INIT, r2 = SIGEO_SYNTH_RESULT_INIT;
    ck_assert_msg(sigeo_synth_write_tsv(&r1, path_of("a"), &o) == SIGEO_OK, "%s", sigeo_last_error());
    ck_assert_int_eq(sigeo_synth_write_tsv(&r2, path_of("b"), &o), SIGEO_OK);
    o.seed = 8;
    ck_assert_int_eq(sigeo_synth_write_tsv(NULL, path_of("c"), &o), SIGEO_OK);
    size_t na, nb, nc;
    char *a = read_all(path_of("a"), &na), *b = read_all(path_of("b"), &nb), *c = read_all(path_of("c"), &nc);
    ck_assert_uint_eq(na, nb);
    ck_assert(memcmp(a, b, na) == 0);
    ck_assert(na != nc || memcmp(a, c, na) != 0);
    ck_assert(memcmp(&r1, &r2, sizeof r1) == 0);
    ck_assert_int_eq(r1.n_rows, 3000);
    /* A shorter file is a prefix of a longer one. */
    o = opts(7, 1000);
    ck_assert_int_eq(sigeo_synth_write_tsv(NULL, path_of("d"), &o), SIGEO_OK);
    size_t nd;
    char *d = read_all(path_of("d"), &nd);
    ck_assert_uint_lt(nd, na);
    ck_assert(memcmp(a, d, nd) == 0);
    free(a);
    free(b);
    free(c);
    free(d);
    remove_dir();
}
END_TEST

START_TEST(base_rate_is_calibrated_and_crosses_carry_the_signal)
{
    sigeo_synth_options_t o = opts(2024, 20000);
    sigeo_synth_result_t r = SIGEO_SYNTH_RESULT_INIT;
    sigeo_dataset_t *ds = NULL;
    ck_assert_msg(sigeo_synth_generate(&ds, &r, &o, NULL) == SIGEO_OK, "%s", sigeo_last_error());
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    ck_assert_int_eq(sigeo_dataset_view(&b, ds, 0, 20000), SIGEO_OK);
    int64_t positives = 0;
    for (int64_t i = 0; i < 20000; i++) {
        ck_assert(b.labels[i] == 0 || b.labels[i] == 1);
        ck_assert_float_eq(b.targets[i], (float)b.labels[i]);
        positives += b.labels[i];
    }
    double rate = positives / 20000.0;
    ck_assert_msg(rate >= 0.20 && rate <= 0.30, "base rate %g", rate);
    ck_assert_int_eq(r.n_positives, positives);
    ck_assert_near(r.mean_probability, 0.25, 0, 0.02);
    /* Informative labels: the Bayes log loss is well below the base-rate
     * entropy 0.562 (docs/nasrec.md §8.1). */
    ck_assert_msg(r.bayes_log_loss < 0.50, "bayes log loss %g", r.bayes_log_loss);
    ck_assert_msg(r.share_cross > 0.5, "cross share %g (first %g gates %g dense %g)", r.share_cross,
                  r.share_first_order, r.share_gates, r.share_dense);
    ck_assert_near(r.share_first_order + r.share_cross + r.share_gates + r.share_dense, 1.0, 1e-12, 0);
    ck_assert_msg(r.share_cross + r.share_gates > 0.65, "interaction share %g", r.share_cross + r.share_gates);
    ck_assert_double_gt(r.share_gates, 0.0);
    printf("synthetic: rate %.4f mean p %.4f bias %.3f bayes LL %.4f shares first %.3f cross %.3f gates %.3f dense "
           "%.3f\n", rate, r.mean_probability, r.bias, r.bayes_log_loss, r.share_first_order, r.share_cross,
           r.share_gates, r.share_dense);
    /* Missing values occur, and ids stay inside the default tables. */
    int64_t sizes[26];
    size_t count = 26;
    ck_assert_int_eq(sigeo_dataset_table_sizes(sizes, &count, ds), SIGEO_OK);
    int64_t missing = 0;
    for (int64_t i = 0; i < 20000; i++)
        for (int f = 0; f < 26; f++) {
            int64_t id = b.sparse_ids[i * 26 + f];
            ck_assert(id >= 0 && id < sizes[f]);
            missing += id == 0;
        }
    /* expected fraction: (10 * 0.3 + 16 * 0.02) / 26 = 0.128 */
    ck_assert_near(missing / (20000.0 * 26), 0.1277, 0, 0.01);
    sigeo_dataset_destroy(ds);
}
END_TEST

START_TEST(generated_dataset_equals_the_written_file_read_back)
{
    make_dir();
    sigeo_synth_options_t o = opts(5, 2500);
    sigeo_criteo_options_t co = SIGEO_CRITEO_OPTIONS_INIT;
    co.tables = SIGEO_CRITEO_TABLES_UNIFORM;
    co.table_size = 777;
    sigeo_dataset_t *mem = NULL, *file = NULL;
    sigeo_synth_result_t r1 = SIGEO_SYNTH_RESULT_INIT, r2 = SIGEO_SYNTH_RESULT_INIT;
    ck_assert_int_eq(sigeo_synth_generate(&mem, &r1, &o, &co), SIGEO_OK);
    ck_assert_int_eq(sigeo_synth_write_tsv(&r2, path_of("s.tsv"), &o), SIGEO_OK);
    ck_assert(memcmp(&r1, &r2, sizeof r1) == 0);
    sigeo_criteo_stats_t stats = SIGEO_CRITEO_STATS_INIT;
    ck_assert_msg(sigeo_criteo_load(&file, &stats, path_of("s.tsv"), &co, 0) == SIGEO_OK, "%s", sigeo_last_error());
    ck_assert_int_eq(stats.bad_lines, 0);
    ck_assert_int_eq(stats.rows, 2500);
    sigeo_batch_t a = SIGEO_BATCH_INIT, b = SIGEO_BATCH_INIT;
    ck_assert_int_eq(sigeo_dataset_view(&a, mem, 0, 2500), SIGEO_OK);
    ck_assert_int_eq(sigeo_dataset_view(&b, file, 0, 2500), SIGEO_OK);
    ck_assert(memcmp(a.dense, b.dense, 2500 * 13 * sizeof(float)) == 0);
    ck_assert(memcmp(a.sparse_ids, b.sparse_ids, 2500 * 26 * sizeof(int64_t)) == 0);
    ck_assert(memcmp(a.labels, b.labels, 2500 * sizeof(int32_t)) == 0);
    sigeo_dataset_destroy(mem);
    sigeo_dataset_destroy(file);
    remove_dir();
}
END_TEST

START_TEST(bad_options_are_rejected)
{
    sigeo_dataset_t *ds = (sigeo_dataset_t *)1;
    sigeo_synth_options_t o = opts(1, -1);
    ck_assert_int_eq(sigeo_synth_generate(&ds, NULL, &o, NULL), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_null(ds);
    o = opts(1, 10);
    o.base_rate = 1.0;
    ck_assert_int_eq(sigeo_synth_generate(&ds, NULL, &o, NULL), SIGEO_ERR_INVALID_ARG);
    o = opts(1, 10);
    o.n_cross_pairs = 326;
    ck_assert_int_eq(sigeo_synth_generate(&ds, NULL, &o, NULL), SIGEO_ERR_INVALID_ARG);
    o = opts(1, 10);
    o.max_cardinality = 0;
    ck_assert_int_eq(sigeo_synth_generate(&ds, NULL, &o, NULL), SIGEO_ERR_INVALID_ARG);
    o = opts(1, 10);
    ck_assert_int_eq(sigeo_synth_write_tsv(NULL, "/nonexistent/dir/x.tsv", &o), SIGEO_ERR_IO);
    ck_assert_str_contains(sigeo_last_error(), "/nonexistent/dir/x.tsv");
    /* Zero rows, no crosses, no gates: valid. */
    o = opts(1, 0);
    o.n_cross_pairs = 0;
    o.n_gates = 0;
    sigeo_synth_result_t r = SIGEO_SYNTH_RESULT_INIT;
    ck_assert_int_eq(sigeo_synth_generate(&ds, &r, &o, NULL), SIGEO_OK);
    ck_assert_double_eq(r.share_cross, 0.0);
    sigeo_dataset_destroy(ds);
    sigeo_synth_options_t a = SIGEO_SYNTH_OPTIONS_INIT, b;
    memset(&b, 0x11, sizeof b);
    ck_assert_int_eq(sigeo_synth_options_init(&b, sizeof b), SIGEO_OK);
    ck_assert(memcmp(&a, &b, sizeof a) == 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("synthetic");
    TCase *tc = tcase_create("synthetic");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, same_seed_gives_identical_bytes_and_other_seeds_differ);
    tcase_add_test(tc, base_rate_is_calibrated_and_crosses_carry_the_signal);
    tcase_add_test(tc, generated_dataset_equals_the_written_file_read_back);
    tcase_add_test(tc, bad_options_are_rejected);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
