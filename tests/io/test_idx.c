/* The IDX reader (lib/io/idx.c) against files the tests write byte by byte
 * (plain and gzip), the real Fashion-MNIST when installed, and allocation
 * failures. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "guard_alloc.h"
#include "sigeo/io.h"
#include "test_util.h"
#include "tmpdir.h"

static char dir[256];
static void make_dir(void) { tu_make_dir(dir, sizeof dir, "sigeo_idx"); }
static void remove_dir(void) { tu_remove_dir(dir); }
static const char *path_of(const char *name) { return tu_path_in(dir, name); }

static void write_file(const char *name, const unsigned char *data, size_t n, bool gzip)
{
    const char *p = path_of(name);
    if (gzip) {
        gzFile gz = gzopen(p, "wb");
        ck_assert_ptr_nonnull(gz);
        if (n > 0)
            ck_assert_int_eq(gzwrite(gz, data, (unsigned)n), (int)n);
        ck_assert_int_eq(gzclose(gz), Z_OK);
    } else {
        FILE *fp = fopen(p, "wb");
        ck_assert_ptr_nonnull(fp);
        ck_assert_uint_eq(fwrite(data, 1, n, fp), n);
        ck_assert_int_eq(fclose(fp), 0);
    }
}

static size_t put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
    return 4;
}

/* IDX image file: magic, count, rows, cols, then pixel (i*7 + k*3) & 255. */
static size_t images_bytes(unsigned char *buf, uint32_t magic, uint32_t count, uint32_t rows, uint32_t cols)
{
    size_t n = put_u32(buf, magic);
    n += put_u32(buf + n, count);
    n += put_u32(buf + n, rows);
    n += put_u32(buf + n, cols);
    for (uint32_t i = 0; i < count; i++)
        for (uint32_t k = 0; k < rows * cols; k++)
            buf[n++] = (unsigned char)((i * 7 + k * 3) & 255);
    return n;
}

static size_t labels_bytes(unsigned char *buf, uint32_t magic, uint32_t count, const unsigned char *labels)
{
    size_t n = put_u32(buf, magic);
    n += put_u32(buf + n, count);
    memcpy(buf + n, labels, count);
    return n + count;
}

static sigeo_status_t load(sigeo_dataset_t **ds, const char *images, const char *labels, int64_t max_rows,
                           int32_t n_classes)
{
    return sigeo_idx_load(ds, path_of(images), labels ? path_of(labels) : NULL, max_rows, n_classes);
}

static void check_pixels(sigeo_dataset_t *ds, int64_t count, int64_t pixels)
{
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    ck_assert_int_eq(sigeo_dataset_view(&b, ds, 0, count), SIGEO_OK);
    ck_assert_int_eq(b.n_dense, pixels);
    for (int64_t i = 0; i < count; i++)
        for (int64_t k = 0; k < pixels; k++)
            ck_assert_float_eq(b.dense[i * pixels + k], (float)((i * 7 + k * 3) & 255) / 255.0f);
}

static const unsigned char three_labels[3] = { 2, 0, 9 };

START_TEST(plain_pair_loads_pixels_scaled_to_unit_range_and_labels)
{
    make_dir();
    unsigned char img[64], lab[16];
    write_file("img", img, images_bytes(img, 0x803, 3, 2, 3), false);
    write_file("lab", lab, labels_bytes(lab, 0x801, 3, three_labels), false);
    sigeo_dataset_t *ds = NULL;
    ck_assert_msg(load(&ds, "img", "lab", 0, 10) == SIGEO_OK, "%s", sigeo_last_error());
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    ck_assert_int_eq(sigeo_dataset_get_info(&info, ds), SIGEO_OK);
    ck_assert_int_eq(info.n_rows, 3);
    ck_assert_int_eq(info.n_dense, 6);
    ck_assert_int_eq(info.image_height, 2);
    ck_assert_int_eq(info.image_width, 3);
    ck_assert_int_eq(info.n_sparse_fields, 0);
    ck_assert_int_eq(info.has_labels, 1);
    ck_assert_int_eq(info.n_classes, 10);
    check_pixels(ds, 3, 6);
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    ck_assert_int_eq(sigeo_dataset_view(&b, ds, 0, 3), SIGEO_OK);
    ck_assert_int_eq(b.labels[0], 2);
    ck_assert_int_eq(b.labels[2], 9);
    ck_assert_float_eq(b.dense[0], 0.0f);
    sigeo_dataset_destroy(ds);
    remove_dir();
}
END_TEST

START_TEST(gzip_files_read_the_same_as_plain_ones)
{
    make_dir();
    static unsigned char img[16 + 40 * 28 * 28];
    unsigned char lab[64], labels[40];
    for (int i = 0; i < 40; i++)
        labels[i] = (unsigned char)(i % 10);
    size_t ni = images_bytes(img, 0x803, 40, 28, 28), nl = labels_bytes(lab, 0x801, 40, labels);
    write_file("img", img, ni, false);
    write_file("lab", lab, nl, false);
    write_file("img.gz", img, ni, true);
    write_file("lab.gz", lab, nl, true);
    sigeo_dataset_t *plain = NULL, *gz = NULL;
    ck_assert_int_eq(load(&plain, "img", "lab", 0, 10), SIGEO_OK);
    ck_assert_msg(load(&gz, "img.gz", "lab.gz", 0, 10) == SIGEO_OK, "%s", sigeo_last_error());
    sigeo_batch_t a = SIGEO_BATCH_INIT, b = SIGEO_BATCH_INIT;
    ck_assert_int_eq(sigeo_dataset_view(&a, plain, 0, 40), SIGEO_OK);
    ck_assert_int_eq(sigeo_dataset_view(&b, gz, 0, 40), SIGEO_OK);
    ck_assert(memcmp(a.dense, b.dense, 40 * 784 * sizeof(float)) == 0);
    ck_assert(memcmp(a.labels, b.labels, 40 * sizeof(int32_t)) == 0);
    check_pixels(gz, 40, 784);
    sigeo_dataset_destroy(plain);
    sigeo_dataset_destroy(gz);
    remove_dir();
}
END_TEST

START_TEST(labels_are_optional_and_rows_can_be_limited)
{
    make_dir();
    unsigned char img[64], lab[16];
    write_file("img", img, images_bytes(img, 0x803, 3, 2, 3), false);
    write_file("lab", lab, labels_bytes(lab, 0x801, 3, three_labels), false);
    sigeo_dataset_t *ds = NULL;
    ck_assert_int_eq(load(&ds, "img", NULL, 0, 0), SIGEO_OK);
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    ck_assert_int_eq(sigeo_dataset_get_info(&info, ds), SIGEO_OK);
    ck_assert_int_eq(info.has_labels, 0);
    sigeo_dataset_destroy(ds);
    ck_assert_int_eq(load(&ds, "img", "lab", 2, 10), SIGEO_OK);
    ck_assert_int_eq(sigeo_dataset_get_info(&info, ds), SIGEO_OK);
    ck_assert_int_eq(info.n_rows, 2);
    ck_assert_int_eq(info.n_classes, 3); /* labels 2, 0 */
    check_pixels(ds, 2, 6);
    sigeo_dataset_destroy(ds);
    /* zero images: an empty dataset */
    write_file("empty", img, images_bytes(img, 0x803, 0, 28, 28), false);
    ck_assert_int_eq(load(&ds, "empty", NULL, 0, 0), SIGEO_OK);
    ck_assert_int_eq(sigeo_dataset_get_info(&info, ds), SIGEO_OK);
    ck_assert_int_eq(info.n_rows, 0);
    sigeo_dataset_destroy(ds);
    remove_dir();
}
END_TEST

/* Loads `name` as images and checks the status and message. */
static void expect(sigeo_status_t want, const char *images, const char *labels, const char *needle)
{
    sigeo_dataset_t *ds = (sigeo_dataset_t *)1;
    sigeo_status_t st = load(&ds, images, labels, 0, 10);
    ck_assert_msg(st == want, "%s: status %d, want %d (%s)", images, (int)st, (int)want, sigeo_last_error());
    ck_assert_ptr_null(ds);
    ck_assert_str_contains(sigeo_last_error(), needle);
}

START_TEST(wrong_magic_type_code_or_dimension_count_is_a_format_error)
{
    make_dir();
    unsigned char buf[64], lab[16];
    write_file("junk", (const unsigned char *)"GIF89a..........", 16, false);
    expect(SIGEO_ERR_FORMAT, "junk", NULL, "not IDX");
    write_file("float", buf, images_bytes(buf, 0x00000D03, 1, 2, 2), false);
    expect(SIGEO_ERR_FORMAT, "float", NULL, "type code 0x0d");
    write_file("twodim", buf, images_bytes(buf, 0x00000802, 1, 2, 2), false);
    expect(SIGEO_ERR_FORMAT, "twodim", NULL, "2 dimensions at byte offset 3");
    write_file("lab", lab, labels_bytes(lab, 0x801, 3, three_labels), false);
    expect(SIGEO_ERR_FORMAT, "lab", NULL, "1 dimensions"); /* a labels file passed as images */
    write_file("img", buf, images_bytes(buf, 0x803, 3, 2, 3), false);
    expect(SIGEO_ERR_FORMAT, "img", "img", "3 dimensions"); /* images passed as labels */
    write_file("zero", buf, images_bytes(buf, 0x803, 3, 0, 3), false);
    expect(SIGEO_ERR_FORMAT, "zero", NULL, "empty");
    remove_dir();
}
END_TEST

START_TEST(truncated_files_report_the_byte_offset)
{
    make_dir();
    unsigned char buf[64];
    size_t n = images_bytes(buf, 0x803, 3, 2, 3); /* 16 + 18 bytes */
    write_file("short_magic", buf, 2, false);
    expect(SIGEO_ERR_FORMAT, "short_magic", NULL, "file ends at byte offset 2");
    write_file("short_header", buf, 10, false);
    expect(SIGEO_ERR_FORMAT, "short_header", NULL, "byte offset 10");
    write_file("short_data", buf, n - 5, false);
    expect(SIGEO_ERR_FORMAT, "short_data", NULL, "data ends at byte offset 29 inside image 2");
    write_file("short_data.gz", buf, n - 5, true);
    expect(SIGEO_ERR_FORMAT, "short_data.gz", NULL, "byte offset 29 (decompressed)");
    write_file("trailing", buf, n, false);
    FILE *fp = fopen(path_of("trailing"), "ab");
    fputc(0, fp);
    fclose(fp);
    expect(SIGEO_ERR_FORMAT, "trailing", NULL, "unexpected bytes after the data at byte offset 34");
    remove_dir();
}
END_TEST

START_TEST(a_cut_gzip_stream_is_a_format_error)
{
    make_dir();
    static unsigned char img[16 + 50 * 784];
    size_t n = images_bytes(img, 0x803, 50, 28, 28);
    write_file("full.gz", img, n, true);
    FILE *fp = fopen(path_of("full.gz"), "rb");
    static unsigned char gz[sizeof img + 1024];
    size_t len = fread(gz, 1, sizeof gz, fp);
    fclose(fp);
    write_file("cut.gz", gz, len / 2, false); /* raw bytes: half a gzip stream */
    expect(SIGEO_ERR_FORMAT, "cut.gz", NULL, "images");
    remove_dir();
}
END_TEST

START_TEST(dimension_overflow_and_huge_claims_fail_cleanly)
{
    make_dir();
    unsigned char buf[16];
    size_t n = put_u32(buf, 0x803);
    n += put_u32(buf + n, 0xffffffffu);
    n += put_u32(buf + n, 0xffffffffu);
    n += put_u32(buf + n, 0xffffffffu);
    write_file("overflow", buf, n, false);
    expect(SIGEO_ERR_FORMAT, "overflow", NULL, "overflow");
    /* A header claiming 4e9 images in 16 bytes: found truncated, no huge allocation. */
    put_u32(buf + 4, 4000000000u);
    put_u32(buf + 8, 28);
    put_u32(buf + 12, 28);
    write_file("huge", buf, 16, false);
    expect(SIGEO_ERR_FORMAT, "huge", NULL, "truncated");
    remove_dir();
}
END_TEST

START_TEST(label_problems_are_reported)
{
    make_dir();
    unsigned char img[64], lab[16];
    const unsigned char bad[3] = { 1, 12, 3 };
    write_file("img", img, images_bytes(img, 0x803, 3, 2, 3), false);
    write_file("bad", lab, labels_bytes(lab, 0x801, 3, bad), false);
    expect(SIGEO_ERR_FORMAT, "img", "bad", "label 12 of image 1 at byte offset 9 is not below n_classes 10");
    write_file("two", lab, labels_bytes(lab, 0x801, 2, bad), false);
    expect(SIGEO_ERR_SHAPE, "img", "two", "holds 3 images");
    write_file("cut", lab, labels_bytes(lab, 0x801, 3, three_labels) - 1, false);
    expect(SIGEO_ERR_FORMAT, "img", "cut", "after 2 of 3 labels");
    expect(SIGEO_ERR_IO, "img", "absent", "cannot open");
    expect(SIGEO_ERR_IO, "absent", NULL, "No such file");
    /* n_classes 0 accepts any byte */
    sigeo_dataset_t *ds = NULL;
    ck_assert_int_eq(load(&ds, "img", "bad", 0, 0), SIGEO_OK);
    sigeo_dataset_destroy(ds);
    ck_assert_int_eq(load(&ds, "img", "bad", -1, 0), SIGEO_ERR_INVALID_ARG);
    remove_dir();
}
END_TEST

START_TEST(fashion_mnist_locator_tries_dir_then_env_then_default)
{
    make_dir();
    unsigned char buf[64];
    size_t n = images_bytes(buf, 0x803, 1, 2, 2);
    const char *names[4] = { "train-images-idx3-ubyte", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                             "t10k-labels-idx1-ubyte" };
    for (int i = 0; i < 4; i++)
        write_file(names[i], buf, n, strstr(names[i], ".gz") != NULL);
    char found[512];
    size_t size = 0;
    ck_assert_int_eq(sigeo_fashion_mnist_locate(NULL, &size, dir), SIGEO_OK);
    ck_assert_uint_eq(size, strlen(dir) + 1);
    size_t small = 3;
    ck_assert_int_eq(sigeo_fashion_mnist_locate(found, &small, dir), SIGEO_ERR_SHAPE);
    ck_assert_uint_eq(small, size);
    size = sizeof found;
    ck_assert_int_eq(sigeo_fashion_mnist_locate(found, &size, dir), SIGEO_OK);
    ck_assert_str_eq(found, dir);
    /* A wrong dir argument falls through to SIGEO_DATA_DIR. */
    setenv("SIGEO_DATA_DIR", dir, 1);
    size = sizeof found;
    ck_assert_int_eq(sigeo_fashion_mnist_locate(found, &size, "/nonexistent/sigeo"), SIGEO_OK);
    ck_assert_str_eq(found, dir);
    /* Nothing anywhere: the message names every place tried. */
    setenv("SIGEO_DATA_DIR", "/nonexistent/env", 1);
    size = sizeof found;
    sigeo_status_t st = sigeo_fashion_mnist_locate(found, &size, "/nonexistent/arg");
    if (access(SIGEO_FASHION_MNIST_DEFAULT_DIR "/train-images-idx3-ubyte.gz", R_OK) != 0) {
        ck_assert_int_eq(st, SIGEO_ERR_IO);
        ck_assert_str_contains(sigeo_last_error(), "/nonexistent/arg");
        ck_assert_str_contains(sigeo_last_error(), "SIGEO_DATA_DIR '/nonexistent/env'");
        ck_assert_str_contains(sigeo_last_error(), SIGEO_FASHION_MNIST_DEFAULT_DIR);
    } else {
        ck_assert_int_eq(st, SIGEO_OK);
        ck_assert_str_eq(found, SIGEO_FASHION_MNIST_DEFAULT_DIR);
    }
    unsetenv("SIGEO_DATA_DIR");
    remove_dir();
}
END_TEST

START_TEST(real_fashion_mnist_train_loads_60000_images_of_784_pixels)
{
    char found[512];
    size_t size = sizeof found;
    if (sigeo_fashion_mnist_locate(found, &size, NULL) != SIGEO_OK) {
        printf("SKIP real_fashion_mnist: %s\n", sigeo_last_error());
        return;
    }
    sigeo_dataset_t *ds = NULL;
    ck_assert_msg(sigeo_fashion_mnist_load(&ds, NULL, SIGEO_FASHION_MNIST_TRAIN, 0) == SIGEO_OK, "%s",
                  sigeo_last_error());
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    ck_assert_int_eq(sigeo_dataset_get_info(&info, ds), SIGEO_OK);
    ck_assert_int_eq(info.n_rows, 60000);
    ck_assert_int_eq(info.n_dense, 784);
    ck_assert_int_eq(info.image_height, 28);
    ck_assert_int_eq(info.n_classes, 10);
    int64_t per_class[10] = { 0 };
    double sum = 0;
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    int64_t batches = 0;
    ck_assert_int_eq(sigeo_dataset_batch_count(&batches, ds, 10000, SIGEO_BATCH_KEEP_LAST), SIGEO_OK);
    for (int64_t k = 0; k < batches; k++) {
        ck_assert_int_eq(sigeo_dataset_batch(&b, ds, k, 10000, SIGEO_BATCH_KEEP_LAST), SIGEO_OK);
        /* One assertion per batch: Check records every assertion it runs. */
        int64_t outside = 0;
        for (int64_t i = 0; i < b.batch_size; i++) {
            if (b.labels[i] < 0 || b.labels[i] > 9)
                outside++;
            else
                per_class[b.labels[i]]++;
        }
        for (int64_t i = 0; i < b.batch_size * 784; i++) {
            outside += !(b.dense[i] >= 0.0f && b.dense[i] <= 1.0f);
            sum += b.dense[i];
        }
        ck_assert_int_eq(outside, 0);
    }
    for (int c = 0; c < 10; c++)
        ck_assert_int_eq(per_class[c], 6000); /* Fashion-MNIST is balanced */
    double mean = sum / (60000.0 * 784.0);
    ck_assert_msg(mean > 0.25 && mean < 0.35, "mean pixel %g (Fashion-MNIST's is about 0.286)", mean);
    sigeo_dataset_destroy(ds);
    /* The test split, limited. */
    ck_assert_int_eq(sigeo_fashion_mnist_load(&ds, NULL, SIGEO_FASHION_MNIST_TEST, 500), SIGEO_OK);
    ck_assert_int_eq(sigeo_dataset_get_info(&info, ds), SIGEO_OK);
    ck_assert_int_eq(info.n_rows, 500);
    sigeo_dataset_destroy(ds);
}
END_TEST

START_TEST(allocation_failures_return_no_memory_and_leak_nothing)
{
    make_dir();
    static unsigned char img[16 + 20 * 784];
    unsigned char lab[64], labels[20] = { 0 };
    write_file("img.gz", img, images_bytes(img, 0x803, 20, 28, 28), true);
    write_file("lab", lab, labels_bytes(lab, 0x801, 20, labels), false);
    sigeo_allocator_t a = guard_allocator();
    ck_assert_int_eq(sigeo_set_allocator(&a), SIGEO_OK);
    uint64_t k = 1;
    for (;; k++) {
        guard_reset();
        guard_fail_at(k, false);
        sigeo_dataset_t *ds = NULL;
        sigeo_status_t st = load(&ds, "img.gz", "lab", 0, 10);
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
        ck_assert_ptr_null(ds);
    }
    ck_assert_uint_gt(k, 3);
    ck_assert_int_eq(sigeo_set_allocator(NULL), SIGEO_OK);
    remove_dir();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("idx");
    TCase *tc = tcase_create("idx");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, plain_pair_loads_pixels_scaled_to_unit_range_and_labels);
    tcase_add_test(tc, gzip_files_read_the_same_as_plain_ones);
    tcase_add_test(tc, labels_are_optional_and_rows_can_be_limited);
    tcase_add_test(tc, wrong_magic_type_code_or_dimension_count_is_a_format_error);
    tcase_add_test(tc, truncated_files_report_the_byte_offset);
    tcase_add_test(tc, a_cut_gzip_stream_is_a_format_error);
    tcase_add_test(tc, dimension_overflow_and_huge_claims_fail_cleanly);
    tcase_add_test(tc, label_problems_are_reported);
    tcase_add_test(tc, fashion_mnist_locator_tries_dir_then_env_then_default);
    tcase_add_test(tc, real_fashion_mnist_train_loads_60000_images_of_784_pixels);
    tcase_add_test(tc, allocation_failures_return_no_memory_and_leak_nothing);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
