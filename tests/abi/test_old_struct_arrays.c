/* old_struct_arrays: a host built against an OLDER libsigeo whose
 * sigeo_batch_t was smaller (here: before `targets` and `n_targets` were
 * appended, 64 bytes instead of 80) passes arrays of its own batches. Every
 * public function taking `const sigeo_batch_t *batches, n` must step through
 * them by the caller's struct_size, not this library's sizeof, and give the
 * fields past the caller's size their defaults:
 *
 *  - proxy_reads_every_old_element: sigeo_proxy_compute (SiGeo and ZiCo,
 *    which read every batch) on an old-layout array returns bit for bit the
 *    result of the same batches in the current layout, and of the batches
 *    in another order (so element i really is batch i, not the bytes at
 *    i * sizeof(sigeo_batch_t));
 *  - search_copies_every_old_element: sigeo_search_set_batches with an
 *    old-layout array scores every candidate as with the current layout;
 *  - mixed_sizes_are_refused: elements whose struct_size differs from
 *    element 0's are refused with SIGEO_ERR_INVALID_ARG naming the element.
 *
 * Built against the public header and the shared library, as a host is. */
#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "build.h"
#include "sigeo/model.h"
#include "sigeo/proxy.h"
#include "sigeo/search.h"
#include "sigeo/sigeo.h"

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

/* sigeo_batch_t as an older header declared it: the same fields up to
 * `labels`, nothing after. */
typedef struct old_batch {
    uint32_t struct_size;
    uint32_t n_sparse_fields;
    int64_t batch_size;
    const float *dense;
    int64_t n_dense;
    const int64_t *sparse_ids;
    const int64_t *sparse_offsets;
    const int32_t *labels;
} old_batch_t;

_Static_assert(offsetof(old_batch_t, labels) == offsetof(sigeo_batch_t, labels),
               "the old layout is a prefix of the current one");
_Static_assert(sizeof(old_batch_t) < sizeof(sigeo_batch_t), "the old layout is smaller");

enum { K = 3, B = 6, F = 5, C = 3 };

static float dense[K][B * F];
static int32_t labels[K][B];
static sigeo_batch_t cur[K];
static old_batch_t old[K];
static sigeo_context_t *ctx;

static void setup(void)
{
    uint64_t x = 99;
    for (int k = 0; k < K; k++) {
        for (int i = 0; i < B * F; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            dense[k][i] = (float)((int)(x >> 40 & 0xffff) - 32768) / 16384.0f;
        }
        for (int n = 0; n < B; n++)
            labels[k][n] = (n + k) % C;
        cur[k] = (sigeo_batch_t)SIGEO_BATCH_INIT;
        cur[k].batch_size = B;
        cur[k].dense = dense[k];
        cur[k].n_dense = F;
        cur[k].labels = labels[k];
        memset(&old[k], 0, sizeof old[k]);
        old[k].struct_size = (uint32_t)sizeof(old_batch_t);
        old[k].batch_size = B;
        old[k].dense = dense[k];
        old[k].n_dense = F;
        old[k].labels = labels[k];
    }
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.seed = 5;
    o.threads = 1;
    OK(sigeo_context_create(&ctx, &o));
}

static void teardown(void)
{
    sigeo_context_destroy(ctx);
    ctx = NULL;
}

/* x -> fc0 (max 8, widths {2, 4, 8}) -> relu -> fc1 (max 4, widths {2, 4}) -> fc2 (3) -> CE */
static sigeo_model_t *supernet(void)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "net"));
    int32_t c0, c1;
    OK(sigeo_model_add_choice(&c0, m, "w0", 3, (const int64_t[]){ 2, 4, 8 }));
    OK(sigeo_model_add_choice(&c1, m, "w1", 2, (const int64_t[]){ 2, 4 }));
    sigeo_layer_desc_t r = desc(SIGEO_LAYER_ACTIVATION, "relu", (const int32_t[]){ linear_on(m, "fc0", flat_input(m, "x", F), 8, c0) });
    r.activation = SIGEO_ACT_RELU;
    const int32_t out = linear_on(m, "fc2", linear_on(m, "fc1", add(m, &r), 4, c1), C, -1);
    OK(sigeo_model_set_loss(m, out, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    return m;
}

static void same_result(const sigeo_proxy_result_t *a, const sigeo_proxy_result_t *b, const char *what)
{
    ck_assert_msg(memcmp(&a->score, &b->score, sizeof a->score) == 0, "%s: score %.17g vs %.17g", what, a->score,
                  b->score);
    ck_assert_msg(memcmp(&a->zico, &b->zico, sizeof a->zico) == 0, "%s: zico %.17g vs %.17g", what, a->zico,
                  b->zico);
    ck_assert_msg(memcmp(&a->fr, &b->fr, sizeof a->fr) == 0, "%s: fr %.17g vs %.17g", what, a->fr, b->fr);
    ck_assert_msg(memcmp(&a->loss, &b->loss, sizeof a->loss) == 0, "%s: loss %.17g vs %.17g", what, a->loss,
                  b->loss);
    ck_assert_uint_eq(a->n_samples, b->n_samples);
}

START_TEST(proxy_reads_every_old_element)
{
    sigeo_model_t *m = supernet();
    const sigeo_proxy_kind_t kinds[] = { SIGEO_PROXY_SIGEO, SIGEO_PROXY_ZICO };
    for (size_t t = 0; t < sizeof kinds / sizeof kinds[0]; t++) {
        sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
        o.kind = kinds[t];
        sigeo_proxy_result_t rc = SIGEO_PROXY_RESULT_INIT, ro = SIGEO_PROXY_RESULT_INIT,
                             rr = SIGEO_PROXY_RESULT_INIT;
        OK(sigeo_proxy_compute(m, NULL, 0, cur, K, &o, &rc));
        OK(sigeo_proxy_compute(m, NULL, 0, (const sigeo_batch_t *)(const void *)old, K, &o, &ro));
        same_result(&rc, &ro, sigeo_proxy_kind_name(kinds[t]));
        ck_assert_uint_eq(ro.n_samples, (uint64_t)K * B);
        /* Only batch 2 changes place: a reader that takes the bytes at
         * 2 * sizeof(sigeo_batch_t) would not see the same batches. */
        old_batch_t perm[K] = { old[0], old[2], old[1] };
        sigeo_batch_t cperm[K] = { cur[0], cur[2], cur[1] };
        OK(sigeo_proxy_compute(m, NULL, 0, (const sigeo_batch_t *)(const void *)perm, K, &o, &ro));
        OK(sigeo_proxy_compute(m, NULL, 0, cperm, K, &o, &rr));
        same_result(&rr, &ro, "permuted");
    }
    sigeo_model_destroy(m);
}
END_TEST

typedef struct record {
    int n;
    uint64_t hash[64];
    double score[64];
    int32_t status[64];
} record_t;

static void on_record(const sigeo_evaluation_t *e, void *user)
{
    record_t *r = user;
    if (r->n < 64) {
        r->hash[r->n] = e->hash;
        r->score[r->n] = e->score;
        r->status[r->n] = e->status;
        r->n++;
    }
}

static void run_search(record_t *rec, sigeo_model_t *m, const sigeo_batch_t *batches)
{
    sigeo_search_options_t o = SIGEO_SEARCH_OPTIONS_INIT;
    o.population = 3;
    o.sample_size = 2;
    o.children = 1;
    o.cycles = 2;
    o.seed = 17;
    sigeo_search_t *s;
    OK(sigeo_search_create(&s, m, &o));
    OK(sigeo_search_set_batches(s, batches, K));
    sigeo_search_callbacks_t cb = SIGEO_SEARCH_CALLBACKS_INIT;
    cb.record = on_record;
    cb.record_user = rec;
    OK(sigeo_search_set_callbacks(s, &cb));
    memset(rec, 0, sizeof *rec);
    OK(sigeo_search_run(s));
    sigeo_search_destroy(s);
}

START_TEST(search_copies_every_old_element)
{
    sigeo_model_t *m = supernet();
    record_t a, b;
    run_search(&a, m, cur);
    run_search(&b, m, (const sigeo_batch_t *)(const void *)old);
    ck_assert_int_ge(a.n, 3);
    ck_assert_int_eq(a.n, b.n);
    for (int i = 0; i < a.n; i++) {
        ck_assert_int_eq(a.status[i], SIGEO_OK);
        ck_assert_int_eq(b.status[i], SIGEO_OK);
        ck_assert_uint_eq(a.hash[i], b.hash[i]);
        ck_assert_msg(memcmp(&a.score[i], &b.score[i], sizeof a.score[i]) == 0, "evaluation %d: %.17g vs %.17g", i,
                      a.score[i], b.score[i]);
    }
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(mixed_sizes_are_refused)
{
    sigeo_model_t *m = supernet();
    old_batch_t mixed[K] = { old[0], old[1], old[2] };
    mixed[1].struct_size = (uint32_t)sizeof(sigeo_batch_t);
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
    ck_assert_int_eq(sigeo_proxy_compute(m, NULL, 0, (const sigeo_batch_t *)(const void *)mixed, K, &o, &r),
                     SIGEO_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sigeo_last_error(), "sigeo_batch[1]") != NULL, "message: %s", sigeo_last_error());
    sigeo_search_options_t so = SIGEO_SEARCH_OPTIONS_INIT;
    so.population = 3;
    so.sample_size = 2;
    so.children = 1;
    sigeo_search_t *s;
    OK(sigeo_search_create(&s, m, &so));
    ck_assert_int_eq(sigeo_search_set_batches(s, (const sigeo_batch_t *)(const void *)mixed, K),
                     SIGEO_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sigeo_search_last_error(s), "sigeo_batch[1]") != NULL, "message: %s",
                  sigeo_search_last_error(s));
    /* the handles stay usable */
    OK(sigeo_search_set_batches(s, (const sigeo_batch_t *)(const void *)old, K));
    OK(sigeo_proxy_compute(m, NULL, 0, cur, K, &o, &r));
    sigeo_search_destroy(s);
    sigeo_model_destroy(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("old_struct_arrays");
    TCase *tc = tcase_create("old_struct_arrays");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, proxy_reads_every_old_element);
    tcase_add_test(tc, search_copies_every_old_element);
    tcase_add_test(tc, mixed_sizes_are_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
