/* A whole libsigeo session through the public API, under a host allocator
 * that fails: every allocation site the session reaches must report
 * SIGEO_ERR_NO_MEMORY from the call that hit it (or absorb the failure when
 * the allocation was optional), leave every handle destroyable, leak
 * nothing, and -- where the API promises the handle stays usable (model,
 * stats, search, dataset, optimiser; creates and free functions trivially)
 * -- let the very same call succeed once allocations work again.
 *
 * The session (run_scenario): a context (threads 1); the NASRec-small
 * supernet at preset TINY over 4 dense features and 3 sparse fields (tables
 * 11, 7, 13); two architectures activated (all-last, then a smaller one
 * derived without the random stream); one training step (Adagrad:
 * optimizer create, forward_backward, step); SiGeo on 2 batches, two
 * baselines (grad_norm, snip) and az_trainability; a framework-agnostic stats handle (2
 * modules, 2 batches, params, compute, reset); checkpoint save and load in
 * a temporary directory; an IDX image/label pair and a Criteo TSV file the
 * test writes itself, loaded, shuffled, batched and split; the streaming
 * Criteo reader; a regularized evolution (P 4, S 2, C 2, 1 cycle, scored
 * by the mean rank of SiGeo and grad_norm on the same batches) with its top
 * list and info. (One cycle, not three: every allocation of cycles 2-3
 * repeats a call path of cycle 1 -- the same 976 distinct 10-frame call
 * stacks in both sessions, counted with backtrace() in the guard allocator
 * -- so the sweeps lose no site and run 1220 allocations instead of 1343,
 * each with 6 scored candidates instead of 10.) Everything
 * is destroyed at the end and the library must hold 0 blocks, the guard
 * allocator 0 live blocks, no canary damaged.
 *
 * Runs (tests/common/guard_alloc.c counts and fails the host allocator):
 *  - clean, twice: N allocations, the same N both times, same results;
 *  - FAIL_ONCE n: allocation n fails once. The call that hit it returns
 *    NO_MEMORY with a message (and the handle's last error says the same),
 *    the library's block count equals the host's live count, and repeating
 *    the call succeeds; the session then runs to its end and its results
 *    must equal the clean run's (same losses, scores, loaded weights, data)
 *    -- except the search, whose scorer absorbs failures by design (a
 *    candidate whose scoring fails is recorded as failed, search.h), so
 *    only its completion is checked there;
 *  - FAIL_FROM n: every allocation from n on fails. The call that hit it
 *    returns NO_MEMORY; calling it again still fails cleanly (or succeeds
 *    if the first attempt left what it needed cached); then allocations are
 *    switched back on, the same call must succeed, and the session stops:
 *    everything is destroyed and nothing may be held.
 * Which n are tried: every n in 1..FULL_PREFIX (2000), then a deterministic
 * stride sample of the rest: n = FULL_PREFIX + 1 + k * stride + (k * 7919)
 * % stride for k = 0, 1, ... (stride chosen so about SAMPLE_TAIL (1000)
 * more runs per mode), and always n = N. The session makes about 1,200
 * allocations and one run takes about 10 ms, so today every n is tried in
 * both modes in well under a minute; the sample only bounds the runtime if
 * the session grows. SIGEO_HARDENING_ALL=1 in the
 * environment tries every n (slow: minutes); SIGEO_HARDENING_N=n tries only
 * that n (to reproduce one failure, e.g. with CK_FORK=no under gdb). The
 * counts are printed.
 *
 * Bugs this test found (reported; reproduce one with SIGEO_HARDENING_N=n,
 * n as of this session of about 1,181 allocations):
 *  1. (fixed in lib/nn/model.c while this test was written) sigeo_model_
 *     finalize set n->n_slots before allocating n->slots; when that failed,
 *     sigeo_model_destroy walked a NULL array: SIGSEGV (n = 365).
 *  KNOWN BUG 2. lib/proxy/sigeo_proxy.c, prepare_stats: of the four
 *     workspace arrays allocated together, the ones that succeeded are kept
 *     when another fails. If the first fails, the next call allocates all
 *     four again and leaks three blocks (n = 708: 768 bytes in 3 blocks
 *     after everything is destroyed); if a later one fails, the next call
 *     skips the allocation and writes through the NULL array (n = 709:
 *     SIGSEGV in the retry, at `ws->stats_offset[k] = begin`).
 *  KNOWN BUG 3. lib/search/evolution.c, evaluate: see the FAIL_ONCE check in
 *     sweep() (n = 845 and every allocation inside the search's scoring).
 *
 * Known limitation: oneDNN allocates its own memory (primitive caches,
 * scratchpads, its OpenMP runtime) outside sigeo_set_allocator's reach;
 * those allocations are neither counted nor failed here. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guard_alloc.h"
#include "sigeo/io.h"
#include "sigeo/model.h"
#include "sigeo/proxy.h"
#include "sigeo/search.h"
#include "sigeo/sigeo.h"
#include "sigeo/stats.h"
#include "sigeo/train.h"

#define FULL_PREFIX 2000u
#define SAMPLE_TAIL 1000u

/* ------------------------------------------------------------ fixtures */

enum { B = 6, ND = 4, NS = 3, K = 2, MAX_CHOICES = 256 };
static const int64_t table_rows[NS] = { 11, 7, 13 };

static float dense[K][B * ND], targets[K][B];
static int64_t ids[K][B * NS], offsets[K][B * NS + 1];
static sigeo_batch_t batches[K];

static char tmp_dir[256], idx_images[300], idx_labels[300], criteo_path[300], ckpt_path[300];

static void make_batches(void)
{
    uint64_t x = 12345;
    for (int k = 0; k < K; k++) {
        for (int i = 0; i < B * ND; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            dense[k][i] = (float)((int)(x >> 40 & 0xffff) - 32768) / 16384.0f;
        }
        offsets[k][0] = 0;
        for (int i = 0; i < B * NS; i++) {
            ids[k][i] = (i * 5 + 3 * k + 1) % table_rows[i % NS];
            offsets[k][i + 1] = i + 1;
        }
        for (int i = 0; i < B; i++)
            targets[k][i] = (float)((i + k) % 2);
        sigeo_batch_t b = SIGEO_BATCH_INIT;
        b.batch_size = B;
        b.dense = dense[k];
        b.n_dense = ND;
        b.n_sparse_fields = NS;
        b.sparse_ids = ids[k];
        b.sparse_offsets = offsets[k];
        b.targets = targets[k];
        b.n_targets = 1;
        batches[k] = b;
    }
}

static void put32be(FILE *f, uint32_t v)
{
    for (int s = 24; s >= 0; s -= 8)
        fputc((int)(v >> s) & 0xff, f);
}

/* Files the session reads, written here with plain stdio. */
static void write_files(void)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/sigeo_hardening_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
    snprintf(idx_images, sizeof idx_images, "%s/images-idx3-ubyte", tmp_dir);
    snprintf(idx_labels, sizeof idx_labels, "%s/labels-idx1-ubyte", tmp_dir);
    snprintf(criteo_path, sizeof criteo_path, "%s/train.tsv", tmp_dir);
    snprintf(ckpt_path, sizeof ckpt_path, "%s/model.safetensors", tmp_dir);

    FILE *f = fopen(idx_images, "wb");
    ck_assert_ptr_nonnull(f);
    put32be(f, 0x803);
    put32be(f, 10);
    put32be(f, 4);
    put32be(f, 4);
    for (int i = 0; i < 10 * 16; i++)
        fputc((i * 37 + 11) & 0xff, f);
    ck_assert_int_eq(fclose(f), 0);
    f = fopen(idx_labels, "wb");
    ck_assert_ptr_nonnull(f);
    put32be(f, 0x801);
    put32be(f, 10);
    for (int i = 0; i < 10; i++)
        fputc(i % 3, f);
    ck_assert_int_eq(fclose(f), 0);

    f = fopen(criteo_path, "wb");
    ck_assert_ptr_nonnull(f);
    for (int r = 0; r < 7; r++) {
        fprintf(f, "%d", r % 2);
        for (int j = 0; j < 13; j++)
            (j + r) % 4 ? fprintf(f, "\t%d", (j * 31 + r * 7) % 300 - 2) : fprintf(f, "\t");
        for (int c = 0; c < 26; c++)
            (c + r) % 5 ? fprintf(f, "\t%08x", (unsigned)(c * 2654435761u + (unsigned)r * 40503u)) : fprintf(f, "\t");
        fprintf(f, "\n");
    }
    ck_assert_int_eq(fclose(f), 0);
}

static void remove_files(void)
{
    remove(idx_images);
    remove(idx_labels);
    remove(criteo_path);
    remove(ckpt_path);
    rmdir(tmp_dir);
}

/* ------------------------------------------------------------- outcome */

typedef enum fail_mode { FAIL_NONE, FAIL_ONCE, FAIL_FROM } fail_mode_t;

/* The run in progress, for messages: "[once n=42]". */
static char run_tag[64] = "[clean]";

typedef struct outcome {
    bool finished;
    int no_memory;        /* calls that returned NO_MEMORY */
    int absorbed;         /* calls that returned OK although an allocation failed inside them */
    char failed_call[160];
    /* results, compared with the clean run */
    int32_t n_choices;
    int32_t arch2[MAX_CHOICES];
    double loss_step, loss_after;
    double proxy[4];
    double stats_score;
    uint64_t weights_digest;
    int64_t idx_rows, idx_train_rows, criteo_rows, criteo_stream_rows;
    float idx_first, criteo_first;
    int64_t search_cycles;
    uint64_t search_evaluations, search_failed;
    int32_t top_count;
} outcome_t;

static void expect_report(const char *what, const char *handle_msg)
{
    const char *msg = sigeo_last_error();
    ck_assert_msg(msg[0] != '\0', "%s %s: NO_MEMORY without a message", run_tag, what);
    if (handle_msg)
        ck_assert_msg(strcmp(handle_msg, msg) == 0, "%s %s: handle says \"%s\", thread says \"%s\"", run_tag, what,
                      handle_msg, msg);
    uint64_t blocks = 0;
    sigeo_memory_in_use(NULL, &blocks);
    ck_assert_msg(blocks == guard_stats().live, "%s %s: library holds %llu blocks, host %llu", run_tag, what,
                  (unsigned long long)blocks, (unsigned long long)guard_stats().live);
}

/* Runs `call`. On NO_MEMORY: checks the report (handle_msg: the handle's
 * last error, evaluated after the call, or NULL), `on_fail` (a statement
 * checking the failure's side conditions, e.g. *out == NULL), then
 *   FAIL_ONCE: repeats the call, which must succeed, and goes on;
 *   FAIL_FROM: repeats it while allocations still fail (NO_MEMORY or OK),
 *              switches them back on, repeats it (must succeed), stops.
 * A call that returns OK although an allocation failed inside it absorbed
 * an optional allocation. */
#define STEP(call, handle_msg, on_fail)                                                                                \
    do {                                                                                                               \
        const uint64_t failed0_ = guard_stats().alloc_failed;                                                          \
        sigeo_status_t st_ = (call);                                                                                   \
        const bool hit_ = guard_stats().alloc_failed > failed0_;                                                       \
        if (st_ == SIGEO_ERR_NO_MEMORY) {                                                                              \
            ck_assert_msg(hit_, "%s %s: NO_MEMORY but no allocation failed", run_tag, #call);                          \
            if (o->no_memory++ == 0)                                                                                   \
                snprintf(o->failed_call, sizeof o->failed_call, "%s", #call);                                          \
            expect_report(#call, (handle_msg));                                                                        \
            on_fail;                                                                                                   \
            if (mode == FAIL_FROM) {                                                                                   \
                st_ = (call);                                                                                          \
                ck_assert_msg(st_ == SIGEO_ERR_NO_MEMORY || st_ == SIGEO_OK,                                           \
                              "%s %s: repeated under failing allocations: %d (%s)", run_tag, #call, (int)st_,          \
                              sigeo_last_error());                                                                     \
                if (st_ == SIGEO_ERR_NO_MEMORY) {                                                                      \
                    expect_report(#call, (handle_msg));                                                                \
                    on_fail;                                                                                           \
                }                                                                                                      \
                guard_fail_at(0, false);                                                                               \
            }                                                                                                          \
            if (st_ != SIGEO_OK)                                                                                       \
                st_ = (call);                                                                                          \
            ck_assert_msg(st_ == SIGEO_OK, "%s %s: after NO_MEMORY, with allocations working, returned %d (%s)",       \
                          run_tag, #call, (int)st_, sigeo_last_error());                                               \
            if (mode == FAIL_FROM)                                                                                     \
                goto stop;                                                                                             \
        } else {                                                                                                       \
            ck_assert_msg(st_ == SIGEO_OK, "%s %s returned %d: %s", run_tag, #call, (int)st_, sigeo_last_error());     \
            if (hit_)                                                                                                  \
                o->absorbed++;                                                                                         \
        }                                                                                                              \
    } while (0)

/* A `T **out` call: *out must be NULL after a failure. The sentinel makes a
 * library that leaves *out alone visible. */
#define SENTINEL ((void *)(uintptr_t)0x51)
#define CREATE(ptr, call)                                                                                              \
    do {                                                                                                               \
        ptr = SENTINEL;                                                                                                \
        STEP(call, NULL, ck_assert_msg((ptr) == NULL, "%s: *out not NULL after NO_MEMORY", #call);                     \
             ptr = SENTINEL);                                                                                          \
        ck_assert_ptr_nonnull(ptr);                                                                                    \
        ck_assert_ptr_ne(ptr, SENTINEL);                                                                               \
    } while (0)

static uint64_t digest_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t weights_digest(const sigeo_model_t *m)
{
    int32_t n = 0;
    ck_assert_int_eq(sigeo_model_param_count(&n, m), SIGEO_OK);
    uint64_t h = 0xcbf29ce484222325ull;
    for (int32_t i = 0; i < n; i++) {
        sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
        ck_assert_int_eq(sigeo_model_param_info(&info, m, i), SIGEO_OK);
        float *buf = malloc((size_t)info.numel * sizeof *buf);
        ck_assert_ptr_nonnull(buf);
        ck_assert_int_eq(sigeo_model_get_param(m, i, buf, info.numel), SIGEO_OK);
        h = digest_bytes(h, buf, (size_t)info.numel * sizeof *buf);
        free(buf);
    }
    return h;
}

/* The second architecture: from all-last, every other choice point set to
 * option 0 where the model accepts it (no random stream involved). */
static int32_t derive_arch(int32_t *arch, sigeo_model_t *m)
{
    int32_t n = 0;
    ck_assert_int_eq(sigeo_model_choices(&n, NULL, 0, m), SIGEO_OK);
    ck_assert_int_le(n, MAX_CHOICES);
    ck_assert_int_eq(sigeo_model_active_arch(arch, n, m), SIGEO_OK);
    for (int32_t c = 0; c < n; c += 2) {
        int32_t keep = arch[c];
        arch[c] = 0;
        if (sigeo_model_check_arch(m, arch, n) != SIGEO_OK)
            arch[c] = keep;
    }
    return n;
}

/* -------------------------------------------------------------- session */

static void run_scenario(outcome_t *o, fail_mode_t mode)
{
    memset(o, 0, sizeof *o);
    sigeo_context_t *ctx = NULL;
    sigeo_model_t *m = NULL;
    sigeo_optimizer_t *opt = NULL;
    sigeo_stats_t *stats = NULL;
    sigeo_dataset_t *idx = NULL, *train = NULL, *val = NULL, *test = NULL, *crit = NULL, *chunk = NULL;
    sigeo_criteo_reader_t *reader = NULL;
    sigeo_search_t *search = NULL;

    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.threads = 1;
    co.seed = 99;
    CREATE(ctx, sigeo_context_create(&ctx, &co));

    /* supernet */
    sigeo_space_options_t so = SIGEO_SPACE_OPTIONS_INIT;
    so.preset = SIGEO_SPACE_TINY;
    so.n_dense = ND;
    so.n_sparse_fields = NS;
    so.table_rows = table_rows;
    CREATE(m, sigeo_space_build(&m, ctx, "nasrec-small", &so));

    /* two architectures */
    int32_t arch1[MAX_CHOICES];
    int32_t n = 0;
    ck_assert_int_eq(sigeo_model_choices(&n, NULL, 0, m), SIGEO_OK);
    ck_assert_int_eq(sigeo_model_active_arch(arch1, n, m), SIGEO_OK);
    o->n_choices = derive_arch(o->arch2, m);
    STEP(sigeo_model_activate(m, arch1, n), sigeo_model_last_error(m), (void)0);
    STEP(sigeo_model_activate(m, o->arch2, n), sigeo_model_last_error(m), (void)0);

    /* one training step */
    sigeo_optimizer_options_t oo = SIGEO_OPTIMIZER_OPTIONS_INIT;
    oo.kind = SIGEO_OPT_ADAGRAD;
    oo.lr = 0.05;
    CREATE(opt, sigeo_optimizer_create(&opt, m, &oo));
    STEP(sigeo_model_forward_backward(&o->loss_step, m, &batches[0]), sigeo_model_last_error(m), (void)0);
    STEP(sigeo_optimizer_step(opt, oo.lr), sigeo_optimizer_last_error(opt), (void)0);
    STEP(sigeo_model_forward(&o->loss_after, m, &batches[1]), sigeo_model_last_error(m), (void)0);

    /* SiGeo, two baselines and AZ-NAS's trainability (backward between two nodes) */
    static const int32_t kinds[4] = { SIGEO_PROXY_SIGEO, SIGEO_PROXY_GRAD_NORM, SIGEO_PROXY_SNIP,
                                      SIGEO_PROXY_AZ_TRAINABILITY };
    for (int i = 0; i < 4; i++) {
        sigeo_proxy_options_t po = SIGEO_PROXY_OPTIONS_INIT;
        po.kind = kinds[i];
        sigeo_proxy_result_t pr = SIGEO_PROXY_RESULT_INIT;
        STEP(sigeo_proxy_compute(m, NULL, 0, batches, K, &po, &pr), sigeo_model_last_error(m), (void)0);
        o->proxy[i] = pr.score;
    }

    /* framework-agnostic statistics */
    CREATE(stats, sigeo_stats_create(&stats, ctx, NULL));
    static const int64_t counts[2] = { 5, 3 };
    STEP(sigeo_stats_add_module(NULL, stats, "a.weight", counts[0]), sigeo_stats_last_error(stats), (void)0);
    STEP(sigeo_stats_add_module(NULL, stats, "a.bias", counts[1]), sigeo_stats_last_error(stats), (void)0);
    for (int k = 0; k < K; k++) {
        const float *g[2] = { dense[k], dense[k] + 8 };
        double d[B];
        for (int i = 0; i < B; i++)
            d[i] = dense[k][i] * 0.5;
        sigeo_stats_batch_t sb = SIGEO_STATS_BATCH_INIT;
        sb.n_modules = 2;
        sb.gradients = g;
        sb.gradient_counts = counts;
        sb.loss = 0.5 + k;
        sb.batch_size = B;
        sb.directional = d;
        STEP(sigeo_stats_add_batch(stats, &sb), sigeo_stats_last_error(stats), (void)0);
    }
    STEP(sigeo_stats_set_params(stats, 0, dense[1], counts[0]), sigeo_stats_last_error(stats), (void)0);
    sigeo_stats_result_t sr = SIGEO_STATS_RESULT_INIT;
    STEP(sigeo_stats_compute(&sr, stats), sigeo_stats_last_error(stats), (void)0);
    o->stats_score = sr.score;
    STEP(sigeo_stats_reset(stats), sigeo_stats_last_error(stats), (void)0);

    /* checkpoint round trip */
    STEP(sigeo_model_save(m, ckpt_path), sigeo_model_last_error(m), (void)0);
    STEP(sigeo_model_load(m, ckpt_path, 0), sigeo_model_last_error(m), (void)0);
    o->weights_digest = weights_digest(m);

    /* IDX pair */
    CREATE(idx, sigeo_idx_load(&idx, idx_images, idx_labels, 0, 10));
    STEP(sigeo_dataset_shuffle(idx, 3), sigeo_dataset_last_error(idx), (void)0);
    sigeo_batch_t view = SIGEO_BATCH_INIT;
    STEP(sigeo_dataset_batch(&view, idx, 1, 4, SIGEO_BATCH_KEEP_LAST), sigeo_dataset_last_error(idx), (void)0);
    o->idx_first = view.dense[0];
    sigeo_dataset_info_t di = SIGEO_DATASET_INFO_INIT;
    ck_assert_int_eq(sigeo_dataset_get_info(&di, idx), SIGEO_OK);
    o->idx_rows = di.n_rows;
    train = val = test = SENTINEL;
    STEP(sigeo_dataset_split(&train, &val, &test, idx, NULL), NULL,
         ck_assert_msg(!train && !val && !test, "split: outputs not NULL after NO_MEMORY");
         train = val = test = SENTINEL);
    ck_assert_int_eq(sigeo_dataset_get_info(&di, train), SIGEO_OK);
    o->idx_train_rows = di.n_rows;

    /* Criteo TSV, whole and streamed */
    sigeo_criteo_options_t cro = SIGEO_CRITEO_OPTIONS_INIT;
    cro.tables = SIGEO_CRITEO_TABLES_UNIFORM;
    cro.table_size = 16;
    sigeo_criteo_stats_t cs = SIGEO_CRITEO_STATS_INIT;
    CREATE(crit, sigeo_criteo_load(&crit, &cs, criteo_path, &cro, 0));
    STEP(sigeo_dataset_view(&view, crit, 2, 3), sigeo_dataset_last_error(crit), (void)0);
    o->criteo_first = view.dense[1];
    ck_assert_int_eq(sigeo_dataset_get_info(&di, crit), SIGEO_OK);
    o->criteo_rows = di.n_rows;
    CREATE(reader, sigeo_criteo_reader_create(&reader, criteo_path, &cro));
    for (;;) {
        /* io.h: after NO_MEMORY a reader is finished (every later call
         * repeats the failure): start a new reader and skip what was read. */
        chunk = SENTINEL;
        const uint64_t failed0 = guard_stats().alloc_failed;
        sigeo_status_t st = sigeo_criteo_reader_next(&chunk, reader, 3);
        if (st == SIGEO_ERR_NO_MEMORY) {
            ck_assert(guard_stats().alloc_failed > failed0);
            ck_assert_ptr_null(chunk);
            if (o->no_memory++ == 0)
                snprintf(o->failed_call, sizeof o->failed_call, "sigeo_criteo_reader_next");
            expect_report("sigeo_criteo_reader_next", sigeo_criteo_reader_last_error(reader));
            char msg[512];
            snprintf(msg, sizeof msg, "%s", sigeo_last_error());
            chunk = SENTINEL;
            ck_assert_int_eq(sigeo_criteo_reader_next(&chunk, reader, 3), SIGEO_ERR_NO_MEMORY);
            ck_assert_ptr_null(chunk);
            ck_assert_str_eq(sigeo_criteo_reader_last_error(reader), msg);
            sigeo_criteo_reader_destroy(reader);
            reader = NULL;
            if (mode == FAIL_FROM) {
                guard_fail_at(0, false);
                CREATE(reader, sigeo_criteo_reader_create(&reader, criteo_path, &cro));
                ck_assert_int_eq(sigeo_criteo_reader_next(&chunk, reader, 3), SIGEO_OK);
                sigeo_dataset_destroy(chunk);
                chunk = NULL;
                goto stop;
            }
            CREATE(reader, sigeo_criteo_reader_create(&reader, criteo_path, &cro));
            o->criteo_stream_rows = 0;
            continue;
        }
        ck_assert_msg(st == SIGEO_OK, "reader_next: %d %s", (int)st, sigeo_last_error());
        if (guard_stats().alloc_failed > failed0)
            o->absorbed++;
        if (!chunk)
            break;
        ck_assert_int_eq(sigeo_dataset_get_info(&di, chunk), SIGEO_OK);
        o->criteo_stream_rows += di.n_rows;
        sigeo_dataset_destroy(chunk);
        chunk = NULL;
    }

    /* regularized evolution scored by an ensemble of SiGeo and grad_norm
     * (the member scores' log and the aggregation's work space) */
    sigeo_search_options_t seo = SIGEO_SEARCH_OPTIONS_INIT;
    seo.population = 4;
    seo.sample_size = 2;
    seo.children = 2;
    seo.cycles = 1;
    seo.seed = 11;
    seo.n_ensemble = 2;
    seo.ensemble_kinds[0] = SIGEO_PROXY_SIGEO;
    seo.ensemble_kinds[1] = SIGEO_PROXY_GRAD_NORM;
    seo.ensemble_aggregate = 1; /* SIGEO_AGG_MEAN_RANK */
    CREATE(search, sigeo_search_create(&search, m, &seo));
    STEP(sigeo_search_set_batches(search, batches, K), sigeo_search_last_error(search), (void)0);
    STEP(sigeo_search_run(search), sigeo_search_last_error(search), (void)0);
    int32_t top_arch[3 * MAX_CHOICES];
    double top_score[3];
    STEP(sigeo_search_top(top_arch, top_score, 3, &o->top_count, search), sigeo_search_last_error(search), (void)0);
    sigeo_search_info_t si = SIGEO_SEARCH_INFO_INIT;
    ck_assert_int_eq(sigeo_search_get_info(&si, search), SIGEO_OK);
    o->search_cycles = si.cycles_done;
    o->search_evaluations = si.evaluations;
    o->search_failed = si.failed;
    ck_assert_int_eq(si.cycles_done, 1);
    ck_assert_int_ge(o->top_count, 1);
    ck_assert_msg(isfinite(top_score[0]), "top score %g", top_score[0]);

    o->finished = true;
stop:
    /* Everything the session made, whatever state it is in, destroys. */
    sigeo_search_destroy(search);
    sigeo_criteo_reader_destroy(reader);
    if (chunk != SENTINEL)
        sigeo_dataset_destroy(chunk);
    sigeo_dataset_destroy(crit);
    if (train != SENTINEL) {
        sigeo_dataset_destroy(train);
        sigeo_dataset_destroy(val);
        sigeo_dataset_destroy(test);
    }
    sigeo_dataset_destroy(idx);
    sigeo_stats_destroy(stats);
    sigeo_optimizer_destroy(opt);
    sigeo_model_destroy(m);
    sigeo_context_destroy(ctx);
    remove(ckpt_path);
    /* A failed save leaves no temporary file behind. */
    DIR *d = opendir(tmp_dir);
    ck_assert_ptr_nonnull(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        ck_assert_msg(e->d_name[0] == '.' || !strcmp(e->d_name, "images-idx3-ubyte") ||
                          !strcmp(e->d_name, "labels-idx1-ubyte") || !strcmp(e->d_name, "train.tsv"),
                      "%s %s: stray file '%s' left in the checkpoint directory", run_tag, o->failed_call, e->d_name);
    closedir(d);

    uint64_t bytes = 1, blocks = 1;
    sigeo_memory_in_use(&bytes, &blocks);
    guard_stats_t g = guard_stats();
    ck_assert_msg(bytes == 0 && blocks == 0,
                  "%s after NO_MEMORY in %s: the library still holds %llu bytes in %llu blocks", run_tag,
                  o->failed_call[0] ? o->failed_call : "(no call)", (unsigned long long)bytes,
                  (unsigned long long)blocks);
    ck_assert_msg(g.live == 0, "%s %s: the host allocator has %llu live blocks", run_tag, o->failed_call,
                  (unsigned long long)g.live);
    ck_assert_uint_eq(g.corruptions, 0);
    ck_assert_uint_eq(g.foreign_release, 0);
    ck_assert_uint_eq(g.bad_alignment, 0);
}

/* ------------------------------------------------------------- harness */

static void setup(void)
{
    make_batches();
    write_files();
    guard_reset();
    sigeo_allocator_t a = guard_allocator();
    ck_assert_int_eq(sigeo_set_allocator(&a), SIGEO_OK);
}

static void teardown(void)
{
    sigeo_set_allocator(NULL);
    remove_files();
}

static void assert_same_results(const outcome_t *a, const outcome_t *clean, uint64_t n, const char *mode)
{
#define SAME(field)                                                                                                    \
    ck_assert_msg(memcmp(&a->field, &clean->field, sizeof a->field) == 0,                                              \
                  "%s allocation %llu (first failed call %s): " #field " differs from the clean run", mode,            \
                  (unsigned long long)n, a->failed_call)
    SAME(n_choices);
    SAME(arch2);
    SAME(loss_step);
    SAME(loss_after);
    SAME(proxy);
    SAME(stats_score);
    SAME(weights_digest);
    SAME(idx_rows);
    SAME(idx_train_rows);
    SAME(idx_first);
    SAME(criteo_rows);
    SAME(criteo_stream_rows);
    SAME(criteo_first);
    SAME(search_cycles);
#undef SAME
}

static uint64_t count_allocations(outcome_t *clean)
{
    snprintf(run_tag, sizeof run_tag, "[clean]");
    guard_reset();
    run_scenario(clean, FAIL_NONE);
    ck_assert(clean->finished);
    ck_assert_int_eq(clean->no_memory, 0);
    guard_stats_t g = guard_stats();
    ck_assert_uint_eq(g.release_calls, g.alloc_calls);
    return g.alloc_calls;
}

/* The n to try, in increasing order; returns how many. */
static size_t plan(uint64_t *ns, size_t cap, uint64_t total)
{
    size_t k = 0;
    const char *only = getenv("SIGEO_HARDENING_N");
    if (only && only[0]) {
        ns[k++] = strtoull(only, NULL, 10);
        return k;
    }
    const char *all = getenv("SIGEO_HARDENING_ALL");
    if (all && all[0] == '1') {
        for (uint64_t n = 1; n <= total && k < cap; n++)
            ns[k++] = n;
        return k;
    }
    for (uint64_t n = 1; n <= total && n <= FULL_PREFIX; n++)
        ns[k++] = n;
    if (total > FULL_PREFIX) {
        const uint64_t rest = total - FULL_PREFIX;
        const uint64_t stride = (rest + SAMPLE_TAIL - 1) / SAMPLE_TAIL;
        for (uint64_t j = 0;; j++) {
            uint64_t n = FULL_PREFIX + 1 + j * stride + (j * 7919u) % stride;
            if (n >= total || k >= cap - 1)
                break;
            ns[k++] = n;
        }
        ns[k++] = total;
    }
    return k;
}

START_TEST(clean_session_allocates_the_same_every_time)
{
    outcome_t a, b;
    uint64_t n1 = count_allocations(&a);
    uint64_t n2 = count_allocations(&b);
    ck_assert_uint_gt(n1, 0);
    ck_assert_uint_eq(n1, n2);
    assert_same_results(&b, &a, 0, "clean");
    ck_assert_uint_eq(a.search_evaluations, b.search_evaluations);
    ck_assert_uint_eq(a.search_failed, 0);
    printf("hardening: the session makes %llu allocations through the host allocator\n", (unsigned long long)n1);
}
END_TEST

static void sweep(fail_mode_t mode)
{
    outcome_t clean;
    const uint64_t total = count_allocations(&clean);
    uint64_t *ns = malloc((size_t)(total + 1) * sizeof *ns);
    ck_assert_ptr_nonnull(ns);
    const size_t count = plan(ns, (size_t)total + 1, total);
    int reported = 0, absorbed = 0, search_absorbed = 0;
    for (size_t i = 0; i < count; i++) {
        const uint64_t n = ns[i];
        guard_reset();
        guard_fail_at(n, mode == FAIL_FROM);
        snprintf(run_tag, sizeof run_tag, "[%s n=%llu]", mode == FAIL_FROM ? "from" : "once", (unsigned long long)n);
        outcome_t r;
        run_scenario(&r, mode);
        ck_assert_uint_ge(guard_stats().alloc_failed, 1);
        ck_assert_msg(r.no_memory <= 1, "allocation %llu: %d NO_MEMORY reports", (unsigned long long)n,
                      r.no_memory);
        if (mode == FAIL_ONCE) {
            ck_assert_uint_eq(guard_stats().alloc_failed, 1);
            ck_assert_msg(r.finished, "allocation %llu: the session did not finish", (unsigned long long)n);
            ck_assert_msg(r.no_memory + r.absorbed == 1, "allocation %llu: neither reported nor absorbed",
                          (unsigned long long)n);
            assert_same_results(&r, &clean, n, "FAIL_ONCE");
            /* KNOWN BUG (reported; lib/search/evolution.c evaluate()): a
             * NO_MEMORY from the default scorer is memoised as a failed
             * candidate (never retried, never in the population) and the
             * run returns OK, so one allocator hiccup changes the search's
             * result; under persistent failure every candidate fails and
             * sigeo_search_run returns INVALID_ARG ("no architecture could
             * be scored") instead of NO_MEMORY (the FAIL_FROM sweep). */
            if (r.search_failed)
                search_absorbed++;
            ck_assert_msg(r.search_failed == 0,
                          "%s KNOWN BUG: the search scorer's NO_MEMORY was recorded as a failed candidate "
                          "(%llu failed evaluations) and sigeo_search_run returned OK",
                          run_tag, (unsigned long long)r.search_failed);
        } else {
            ck_assert_msg(r.no_memory == 1 || r.finished, "allocation %llu: stopped without a report",
                          (unsigned long long)n);
        }
        reported += r.no_memory;
        absorbed += r.absorbed;
    }
    printf("hardening: %s: %zu of %llu allocation sites tried (every n <= %u, then a stride sample, and n = N); "
           "%d NO_MEMORY reports, %d failures absorbed by optional allocations, %d by the search scorer\n",
           mode == FAIL_ONCE ? "fail once" : "fail from n on", count, (unsigned long long)total, FULL_PREFIX, reported,
           absorbed, search_absorbed);
    free(ns);
}

START_TEST(each_allocation_failing_once_is_reported_and_recovered)
{
    sweep(FAIL_ONCE);
}
END_TEST

START_TEST(allocations_failing_from_n_on_leave_destroyable_usable_handles)
{
    sweep(FAIL_FROM);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("alloc_scenarios");
    TCase *tc = tcase_create("session");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, clean_session_allocates_the_same_every_time);
    tcase_add_test(tc, each_allocation_failing_once_is_reported_and_recovered);
    tcase_add_test(tc, allocations_failing_from_n_on_leave_destroyable_usable_handles);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
