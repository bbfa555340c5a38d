/* What the readers and saves do with files that are not plain regular
 * files, with stale temporaries of killed saves, with gzip data followed by
 * garbage and with gzip headers claiming more than the caller accepts
 * (issue 11 items 3, 4, 5, 7, 8, 9). Every test that could hang arms an
 * alarm, so a regression fails instead of blocking the suite. */
#define _XOPEN_SOURCE 700 /* mknod's S_IFCHR */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "sigeo/io.h"
#include "sigeo/model.h"
#include "test_util.h"
#include "tmpdir.h"

static char dir[256];
static sigeo_context_t *ctx;
static sigeo_model_t *m;

static const char *at(const char *name) { return tu_path_in(dir, name); }

static void setup(void)
{
    tu_make_dir(dir, sizeof dir, "sigeo_files");
    ck_assert_int_eq(sigeo_context_create(&ctx, NULL), SIGEO_OK);
    ck_assert_int_eq(sigeo_model_create(&m, ctx, "files"), SIGEO_OK);
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "x";
    in.features = 3;
    int32_t x, y;
    ck_assert_int_eq(sigeo_model_add_input(&x, m, &in), SIGEO_OK);
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.name = "fc";
    d.inputs = &x;
    d.n_inputs = 1;
    d.units = 2;
    ck_assert_int_eq(sigeo_model_add_layer(&y, m, &d), SIGEO_OK);
    ck_assert_int_eq(sigeo_model_set_loss(m, y, SIGEO_LOSS_MSE), SIGEO_OK);
    ck_assert_int_eq(sigeo_model_finalize(m), SIGEO_OK);
    alarm(20); /* a blocked open fails the test (SIGALRM) instead of hanging it */
}

static void teardown(void)
{
    alarm(0);
    sigeo_model_destroy(m);
    sigeo_context_destroy(ctx);
    tu_remove_dir(dir);
}

static void spit(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static void spit_gz(const char *path, const void *data, size_t n, const char *garbage)
{
    gzFile gz = gzopen(path, "wb");
    ck_assert_ptr_nonnull(gz);
    if (n)
        ck_assert_int_eq(gzwrite(gz, data, (unsigned)n), (int)n);
    ck_assert_int_eq(gzclose(gz), Z_OK);
    if (garbage) {
        FILE *f = fopen(path, "ab");
        ck_assert_ptr_nonnull(f);
        fputs(garbage, f);
        ck_assert_int_eq(fclose(f), 0);
    }
}

static bool same_content(const char *path, const char *want)
{
    char buf[256] = { 0 };
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    return n == strlen(want) && memcmp(buf, want, n) == 0;
}

/* 'p' FIFO, 'l' symlink, 'd' directory, 'f' regular, '?' other. */
static int kind_of(const char *path)
{
    struct stat sb;
    ck_assert_int_eq(lstat(path, &sb), 0);
    return S_ISFIFO(sb.st_mode) ? 'p' : S_ISLNK(sb.st_mode) ? 'l' : S_ISDIR(sb.st_mode) ? 'd'
           : S_ISREG(sb.st_mode) ? 'f' : '?';
}

#define expect(call, status, needle)                                                                  \
    do {                                                                                              \
        sigeo_status_t st_ = (call);                                                                  \
        ck_assert_msg(st_ == (status), "%s: status %s (%s)", #call, sigeo_status_string(st_),         \
                      sigeo_last_error());                                                            \
        ck_assert_str_contains(sigeo_last_error(), needle);                                           \
    } while (0)

/* Item 3: a FIFO with no writer blocked every reader's open forever. */
START_TEST(readers_refuse_a_fifo_without_blocking)
{
    const char *fifo = at("pipe");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    sigeo_dataset_t *ds = NULL;
    expect(sigeo_model_load(m, fifo, 0), SIGEO_ERR_IO, "FIFO");
    ck_assert_str_contains(sigeo_model_last_error(m), "not a regular file");
    expect(sigeo_idx_load(&ds, fifo, NULL, 0, 0), SIGEO_ERR_IO, "FIFO");
    ck_assert_ptr_null(ds);
    expect(sigeo_criteo_load(&ds, NULL, fifo, NULL, 0), SIGEO_ERR_IO, "FIFO");
    ck_assert_ptr_null(ds);
    sigeo_criteo_reader_t *r = NULL;
    expect(sigeo_criteo_reader_create(&r, fifo, NULL), SIGEO_ERR_IO, "FIFO");
    ck_assert_ptr_null(r);
}
END_TEST

START_TEST(readers_refuse_a_directory)
{
    sigeo_dataset_t *ds = NULL;
    expect(sigeo_model_load(m, dir, 0), SIGEO_ERR_IO, "directory");
    expect(sigeo_idx_load(&ds, dir, NULL, 0, 0), SIGEO_ERR_IO, "directory");
    expect(sigeo_criteo_load(&ds, NULL, dir, NULL, 0), SIGEO_ERR_IO, "directory");
}
END_TEST

/* Item 4: a save renamed over a FIFO, a symlink (replacing the link) or a device. */
START_TEST(save_refuses_a_fifo_and_leaves_it)
{
    const char *fifo = at("pipe");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    expect(sigeo_model_save(m, fifo), SIGEO_ERR_IO, "FIFO");
    ck_assert_int_eq(kind_of(fifo), 'p');
    sigeo_synth_options_t o = SIGEO_SYNTH_OPTIONS_INIT;
    o.n_rows = 10;
    expect(sigeo_synth_write_tsv(NULL, fifo, &o), SIGEO_ERR_IO, "FIFO");
    ck_assert_int_eq(kind_of(fifo), 'p');
}
END_TEST

START_TEST(save_refuses_a_symlink_and_leaves_link_and_target)
{
    const char *victim = at("victim");
    spit(victim, "precious", 8);
    const char *link = at("model.safetensors");
    ck_assert_int_eq(symlink(victim, link), 0);
    expect(sigeo_model_save(m, link), SIGEO_ERR_IO, "symbolic link");
    ck_assert_int_eq(kind_of(link), 'l');
    ck_assert(same_content(victim, "precious"));
    sigeo_synth_options_t o = SIGEO_SYNTH_OPTIONS_INIT;
    o.n_rows = 10;
    expect(sigeo_synth_write_tsv(NULL, link, &o), SIGEO_ERR_IO, "symbolic link");
    ck_assert_int_eq(kind_of(link), 'l');
    ck_assert(same_content(victim, "precious"));
    /* Saving to the link's target is the way: */
    ck_assert_msg(sigeo_model_save(m, victim) == SIGEO_OK, "%s", sigeo_last_error());
    ck_assert_int_eq(sigeo_model_load(m, link, 0), SIGEO_OK);
}
END_TEST

START_TEST(save_refuses_a_directory)
{
    const char *sub = at("sub");
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    expect(sigeo_model_save(m, sub), SIGEO_ERR_IO, "directory");
    ck_assert_int_eq(kind_of(sub), 'd');
}
END_TEST

/* As root, /dev/full became a regular file: a private character device
 * (1, 3: the null device) in the test directory stands in for it. */
START_TEST(save_refuses_a_device)
{
    const char *dev = at("null");
    if (mknod(dev, S_IFCHR | 0600, (dev_t)0x103) != 0) {
        fprintf(stderr, "save_refuses_a_device: skipped, mknod: %s (needs root)\n", strerror(errno));
        return;
    }
    expect(sigeo_model_save(m, dev), SIGEO_ERR_IO, "character device");
    ck_assert_int_eq(kind_of(dev), '?');
}
END_TEST

/* A pid that certainly belonged to a process that is gone. */
static pid_t dead_pid(void)
{
    pid_t p = fork();
    ck_assert_int_ge(p, 0);
    if (p == 0)
        _exit(0);
    ck_assert_int_eq(waitpid(p, NULL, 0), p);
    return p;
}

static bool exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

/* Item 5: kill -9 during saves left temporaries no later save removed. */
START_TEST(save_removes_stale_temporaries_of_dead_processes_only)
{
    char stale[64], live[64], other[64], stale_link[64];
    const pid_t dead = dead_pid();
    snprintf(stale, sizeof stale, ".m.safetensors.sigeo-tmp.%ld", (long)dead);
    snprintf(live, sizeof live, ".m.safetensors.sigeo-tmp.%ld", (long)getppid()); /* alive: our parent */
    snprintf(other, sizeof other, ".n.safetensors.sigeo-tmp.%ld", (long)dead);   /* another file's */
    snprintf(stale_link, sizeof stale_link, ".m.safetensors.sigeo-tmp.%ld", (long)dead_pid());
    char stale_p[400], live_p[400], other_p[400], link_p[400];
    snprintf(stale_p, sizeof stale_p, "%s", at(stale));
    snprintf(live_p, sizeof live_p, "%s", at(live));
    snprintf(other_p, sizeof other_p, "%s", at(other));
    snprintf(link_p, sizeof link_p, "%s", at(stale_link));
    spit(stale_p, "half a save", 11);
    spit(live_p, "in progress", 11);
    spit(other_p, "not ours", 8);
    spit(at("victim"), "precious", 8);
    ck_assert_int_eq(symlink(at("victim"), link_p), 0); /* a link is never removed (nor followed) */

    ck_assert_msg(sigeo_model_save(m, at("m.safetensors")) == SIGEO_OK, "%s", sigeo_last_error());
    ck_assert_msg(!exists(stale_p), "stale temporary %s of dead pid %ld is still there", stale, (long)dead);
    ck_assert(exists(live_p));
    ck_assert(exists(other_p));
    ck_assert(exists(link_p));
    ck_assert(same_content(at("victim"), "precious"));
    ck_assert_int_eq(sigeo_model_load(m, at("m.safetensors"), 0), SIGEO_OK);
}
END_TEST

/* Item 9: synth_write_tsv over an existing file lost it on failure. A file
 * size limit makes the write fail part way. */
START_TEST(synth_write_failure_keeps_the_old_file)
{
    const char *path = at("data.tsv");
    spit(path, "OLD", 3);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = { 4096, 4096 };
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    sigeo_synth_options_t o = SIGEO_SYNTH_OPTIONS_INIT;
    o.n_rows = 2000;
    sigeo_status_t st = sigeo_synth_write_tsv(NULL, path, &o);
    ck_assert_msg(st == SIGEO_ERR_IO, "status %s (%s)", sigeo_status_string(st), sigeo_last_error());
    ck_assert_str_contains(sigeo_last_error(), "data.tsv");
    ck_assert_msg(same_content(path, "OLD"), "the old file was lost or changed");
    int entries = 0;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", dir);
    entries = system(cmd);
    ck_assert_msg(entries == 0, "a temporary file was left in %s", dir);
}
END_TEST

static size_t idx_images(unsigned char *buf, uint32_t count, uint32_t h, uint32_t w)
{
    const uint32_t v[4] = { 0x00000803u, count, h, w };
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 4; b++)
            buf[4 * i + b] = (unsigned char)(v[i] >> (24 - 8 * b));
    return 16;
}

/* Item 7: bytes after the last gzip member were silently dropped. */
START_TEST(gzip_member_followed_by_garbage_is_a_format_error)
{
    unsigned char img[16 + 4 * 4];
    size_t n = idx_images(img, 4, 2, 2);
    memset(img + n, 7, 16);
    spit_gz(at("img.gz"), img, n + 16, NULL);
    sigeo_dataset_t *ds = NULL;
    ck_assert_msg(sigeo_idx_load(&ds, at("img.gz"), NULL, 0, 0) == SIGEO_OK, "%s", sigeo_last_error());
    sigeo_dataset_destroy(ds);
    ds = NULL;
    spit_gz(at("bad.gz"), img, n + 16, "this is not gzip");
    expect(sigeo_idx_load(&ds, at("bad.gz"), NULL, 0, 0), SIGEO_ERR_FORMAT, "after the gzip data");
    ck_assert_ptr_null(ds);

    const char *line = "1\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\t11\t12\t13"
                       "\ta\tb\tc\td\te\tf\t1\t2\t3\t4\t5\t6\t7\t8\t9\t0\t11\t12\t13\t14\t15\t16\t17\t18\t19\t20\n";
    spit_gz(at("c.gz"), line, strlen(line), NULL);
    ck_assert_msg(sigeo_criteo_load(&ds, NULL, at("c.gz"), NULL, 0) == SIGEO_OK, "%s", sigeo_last_error());
    sigeo_dataset_destroy(ds);
    ds = NULL;
    spit_gz(at("cbad.gz"), line, strlen(line), "GARBAGE");
    expect(sigeo_criteo_load(&ds, NULL, at("cbad.gz"), NULL, 0), SIGEO_ERR_FORMAT, "after the gzip data");
    ck_assert_ptr_null(ds);
    /* Two members one after the other are one valid gzip file. */
    spit_gz(at("two.gz"), line, strlen(line), NULL);
    FILE *f = fopen(at("two.gz"), "rb");
    unsigned char member[512];
    size_t len = fread(member, 1, sizeof member, f);
    fclose(f);
    f = fopen(at("two.gz"), "ab");
    ck_assert_uint_eq(fwrite(member, 1, len, f), len);
    fclose(f);
    ck_assert_msg(sigeo_criteo_load(&ds, NULL, at("two.gz"), NULL, 0) == SIGEO_OK, "%s", sigeo_last_error());
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    ck_assert_int_eq(sigeo_dataset_get_info(&info, ds), SIGEO_OK);
    ck_assert_int_eq(info.n_rows, 2);
    sigeo_dataset_destroy(ds);
}
END_TEST

/* Item 8: a gzip IDX header claiming 2^29 1x1 images (512 MiB, over the
 * budget for max_rows = 0) is refused before anything is read or
 * allocated; with max_rows the caller accepts what it asked for. */
START_TEST(gzip_idx_header_claims_are_checked_against_the_budget)
{
    unsigned char img[16 + 1000];
    size_t n = idx_images(img, (uint32_t)1 << 29, 1, 1);
    memset(img + n, 3, 1000);
    spit_gz(at("big.gz"), img, n + 1000, NULL);
    uint64_t bytes0, blocks0;
    sigeo_memory_in_use(&bytes0, &blocks0);
    sigeo_dataset_t *ds = NULL;
    expect(sigeo_idx_load(&ds, at("big.gz"), NULL, 0, 0), SIGEO_ERR_UNSUPPORTED, "max_rows");
    ck_assert_ptr_null(ds);
    ck_assert_msg(sigeo_idx_load(&ds, at("big.gz"), NULL, 1000, 0) == SIGEO_OK, "%s", sigeo_last_error());
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    ck_assert_int_eq(sigeo_dataset_get_info(&info, ds), SIGEO_OK);
    ck_assert_int_eq(info.n_rows, 1000);
    sigeo_dataset_destroy(ds);
    /* The same claim in a plain file costs nothing: memory grows with what is read. */
    spit(at("big"), img, n + 1000);
    expect(sigeo_idx_load(&ds, at("big"), NULL, 0, 0), SIGEO_ERR_FORMAT, "truncated");
}
END_TEST

/* A gzip file holding more than its header claims stops at the claim. */
START_TEST(gzip_idx_data_past_the_claim_is_refused)
{
    unsigned char img[16 + 64];
    size_t n = idx_images(img, 4, 2, 2);
    memset(img + n, 1, 64);
    spit_gz(at("long.gz"), img, n + 64, NULL);
    sigeo_dataset_t *ds = NULL;
    sigeo_status_t st = sigeo_idx_load(&ds, at("long.gz"), NULL, 0, 0);
    ck_assert_msg(st == SIGEO_ERR_FORMAT || st == SIGEO_ERR_UNSUPPORTED, "%s", sigeo_last_error());
    ck_assert_ptr_null(ds);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("files");
    TCase *tc = tcase_create("files");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, readers_refuse_a_fifo_without_blocking);
    tcase_add_test(tc, readers_refuse_a_directory);
    tcase_add_test(tc, save_refuses_a_fifo_and_leaves_it);
    tcase_add_test(tc, save_refuses_a_symlink_and_leaves_link_and_target);
    tcase_add_test(tc, save_refuses_a_directory);
    tcase_add_test(tc, save_refuses_a_device);
    tcase_add_test(tc, save_removes_stale_temporaries_of_dead_processes_only);
    tcase_add_test(tc, synth_write_failure_keeps_the_old_file);
    tcase_add_test(tc, gzip_member_followed_by_garbage_is_a_format_error);
    tcase_add_test(tc, gzip_idx_header_claims_are_checked_against_the_budget);
    tcase_add_test(tc, gzip_idx_data_past_the_claim_is_refused);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
