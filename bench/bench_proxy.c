/* bench-proxy: what a proxy evaluation costs on top of the forward+backward
 * passes it is made of.
 *
 * Cases (k = 4 batches each, weights fixed):
 *   mlp-small  MLP 784-48-10, batch 128, the first 512 Fashion-MNIST training
 *              images (random data, said so, if the dataset is not installed)
 *   mlp-large  MLP 784-1024-1024-10, batch 256, random data
 *   dlrm       13 dense -> 512-256-16; 26 tables 100k x 16, hashed ids;
 *              dot interaction of the 27 vectors (351 dots); concat 367 ->
 *              512-256-1; BCE; batch 512; random data from a seed
 * Metrics per case:
 *   plain_ms        median time of 4 plain sigeo_model_forward_backward calls
 *   sigeo_ms        median time of one sigeo_proxy_compute (SiGeo, k = 4, exact FR)
 *   overhead_ratio  sigeo_ms / plain_ms (target <= 1.10)
 *   <kind>_ms, <kind>_over_plain   for every other kind sigeo_proxy_kind_name()
 *                   knows (0, 1, ... until NULL), with default options.
 * All timed variants run interleaved within each repetition (plain, sigeo,
 * other kinds, plain, ...) so a burst of load hits them alike.
 * JSON lines on stdout, the table on stderr. Options: --reps N (default:
 * 200 / 40 / 20 for the three cases), --quick, --case NAME (repeatable). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_models.h"
#include "bench_util.h"
#include "sigeo/io.h"
#include "sigeo/model.h"
#include "sigeo/proxy.h"
#include "sigeo/sigeo.h"

enum { K = 4, WARMUP = 3, MAX_KINDS = 64, MAX_REPS = 2000 };

typedef struct bench_case {
    const char *name;
    const char *what;
    int default_reps;
} bench_case_t;

static const bench_case_t cases[] = {
    { "mlp-small", "MLP 784-48-10, batch 128, Fashion-MNIST", 200 },
    { "mlp-large", "MLP 784-1024-1024-10, batch 256", 40 },
    { "dlrm", "DLRM 13->512-256-16, 26x(100k x 16), dot, 367->512-256-1, batch 512", 20 },
};
enum { N_CASES = sizeof cases / sizeof cases[0] };

/* The k batches of a case, owned here. */
typedef struct case_data {
    bench_batch_t b[K];
    sigeo_batch_t view[K];
    const char *data_note;
} case_data_t;

/* First 512 Fashion-MNIST training images as 4 batches of 128, copied out of
 * the dataset's view buffers (they are only valid until the next view). */
static int load_fashion(case_data_t *d)
{
    sigeo_dataset_t *ds = NULL;
    if (sigeo_fashion_mnist_load(&ds, NULL, SIGEO_FASHION_MNIST_TRAIN, 512) != SIGEO_OK) {
        bench_say("  Fashion-MNIST not found (%s)\n  -> using random data for mlp-small instead "
                  "(install dataset-fashion-mnist or set SIGEO_DATA_DIR)\n",
                  sigeo_last_error());
        return 0;
    }
    sigeo_batch_t all = SIGEO_BATCH_INIT;
    bench_check(sigeo_dataset_view(&all, ds, 0, 512), "sigeo_dataset_view");
    if (all.n_dense != 784 || !all.labels) {
        bench_say("  Fashion-MNIST has %lld features per row, expected 784: using random data\n",
                  (long long)all.n_dense);
        sigeo_dataset_destroy(ds);
        return 0;
    }
    for (int i = 0; i < K; i++) {
        bench_batch_t *b = &d->b[i];
        memset(b, 0, sizeof *b);
        b->dense = malloc(128 * 784 * sizeof(float));
        b->labels = malloc(128 * sizeof(int32_t));
        if (!b->dense || !b->labels)
            abort();
        memcpy(b->dense, all.dense + (int64_t)i * 128 * 784, 128 * 784 * sizeof(float));
        memcpy(b->labels, all.labels + (int64_t)i * 128, 128 * sizeof(int32_t));
        sigeo_batch_t v = SIGEO_BATCH_INIT;
        v.batch_size = 128;
        v.dense = b->dense;
        v.n_dense = 784;
        v.labels = b->labels;
        b->view = v;
    }
    sigeo_dataset_destroy(ds);
    return 1;
}

static sigeo_model_t *make_case(case_data_t *d, sigeo_context_t *ctx, const char *name)
{
    uint64_t rng = 0x5eed1000u;
    sigeo_model_t *m = NULL;
    if (strcmp(name, "mlp-small") == 0) {
        static const int64_t w[] = { 48, 10 };
        m = bench_mlp(ctx, 784, w, 2);
        if (load_fashion(d)) {
            d->data_note = "Fashion-MNIST train[0:512]";
        } else {
            for (int i = 0; i < K; i++)
                bench_batch_random(&d->b[i], &rng, 128, 784, 10, 0, 0);
            d->data_note = "random (Fashion-MNIST missing)";
        }
    } else if (strcmp(name, "mlp-large") == 0) {
        static const int64_t w[] = { 1024, 1024, 10 };
        m = bench_mlp(ctx, 784, w, 3);
        for (int i = 0; i < K; i++)
            bench_batch_random(&d->b[i], &rng, 256, 784, 10, 0, 0);
        d->data_note = "random";
    } else {
        m = bench_dlrm(ctx);
        for (int i = 0; i < K; i++)
            bench_batch_random(&d->b[i], &rng, 512, BENCH_DLRM_DENSE, 0, BENCH_DLRM_FIELDS, BENCH_DLRM_ROWS);
        d->data_note = "random, seed 0x5eed1000";
    }
    for (int i = 0; i < K; i++)
        d->view[i] = d->b[i].view;
    return m;
}

static double time_plain(sigeo_model_t *m, const case_data_t *d)
{
    double loss, t0 = bench_now_ms();
    for (int i = 0; i < K; i++)
        bench_check(sigeo_model_forward_backward(&loss, m, &d->view[i]), "forward_backward");
    return bench_now_ms() - t0;
}

/* One proxy evaluation; returns its wall time or -1 (message in `err`). */
static double time_proxy(sigeo_model_t *m, const case_data_t *d, int32_t kind, char *err, size_t err_size)
{
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.kind = kind;
    sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
    double t0 = bench_now_ms();
    sigeo_status_t st = sigeo_proxy_compute(m, NULL, 0, d->view, K, &o, &r);
    double t = bench_now_ms() - t0;
    if (st != SIGEO_OK) {
        snprintf(err, err_size, "%s: %s", sigeo_status_string(st), sigeo_last_error());
        return -1.0;
    }
    return t;
}

static void run_case(sigeo_context_t *ctx, const bench_case_t *c, int reps_override)
{
    int reps = reps_override > 0 ? reps_override : c->default_reps;
    if (reps > MAX_REPS)
        reps = MAX_REPS;
    bench_say("\n== %s: %s\n", c->name, c->what);
    case_data_t d;
    memset(&d, 0, sizeof d);
    double t_build = bench_now_ms();
    sigeo_model_t *m = make_case(&d, ctx, c->name);
    t_build = bench_now_ms() - t_build;
    int32_t n_kinds = 0;
    while (n_kinds < MAX_KINDS && sigeo_proxy_kind_name((sigeo_proxy_kind_t)n_kinds))
        n_kinds++;
    static double t_plain[MAX_REPS], t_kind[MAX_KINDS][MAX_REPS];
    static char err[MAX_KINDS][512];
    int ok[MAX_KINDS];
    for (int32_t k = 0; k < n_kinds; k++) {
        ok[k] = 1;
        err[k][0] = '\0';
    }
    /* Warm-up: creates every primitive and the proxy workspace. A kind that
     * fails here is reported and left out of the timed loop. */
    for (int w = 0; w < WARMUP; w++) {
        time_plain(m, &d);
        for (int32_t k = 0; k < n_kinds; k++)
            if (ok[k] && time_proxy(m, &d, k, err[k], sizeof err[k]) < 0)
                ok[k] = 0;
    }
    if (!ok[SIGEO_PROXY_SIGEO]) {
        bench_say("  sigeo_proxy_compute(SIGEO) failed: %s\n", err[SIGEO_PROXY_SIGEO]);
        exit(1);
    }
    for (int r = 0; r < reps; r++) {
        t_plain[r] = time_plain(m, &d);
        for (int32_t k = 0; k < n_kinds; k++) {
            if (!ok[k])
                continue;
            t_kind[k][r] = time_proxy(m, &d, k, err[k], sizeof err[k]);
            if (t_kind[k][r] < 0) {
                bench_say("  kind %s failed during the timed reps: %s\n", sigeo_proxy_kind_name(k), err[k]);
                ok[k] = 0;
            }
        }
    }
    double plain = bench_median(t_plain, reps);
    double p1 = bench_quantile_sorted(t_plain, reps, 0.25), p3 = bench_quantile_sorted(t_plain, reps, 0.75);
    bench_say("  data: %s; model built in %.0f ms; %d reps (medians; the machine is shared)\n", d.data_note, t_build,
              reps);
    bench_say("  %-26s %10s %10s %10s %10s\n", "", "median ms", "q1 ms", "q3 ms", "/ plain");
    bench_say("  %-26s %10.3f %10.3f %10.3f %10s\n", "plain k=4 fwd+bwd", plain, p1, p3, "1.000");
    bench_json("proxy", c->name, "plain_ms", plain, "ms");
    bench_json("proxy", c->name, "plain_step_ms", plain / K, "ms");
    for (int32_t k = 0; k < n_kinds; k++) {
        const char *kn = sigeo_proxy_kind_name((sigeo_proxy_kind_t)k);
        char label[64], metric[64];
        snprintf(label, sizeof label, "%s (k=4)", kn);
        if (!ok[k]) {
            bench_say("  %-26s    failed: %s\n", label, err[k]);
            snprintf(metric, sizeof metric, "%s_ms", k == SIGEO_PROXY_SIGEO ? "sigeo" : kn);
            bench_json("proxy", c->name, metric, NAN, "ms");
            continue;
        }
        double med = bench_median(t_kind[k], reps);
        double q1 = bench_quantile_sorted(t_kind[k], reps, 0.25), q3 = bench_quantile_sorted(t_kind[k], reps, 0.75);
        bench_say("  %-26s %10.3f %10.3f %10.3f %10.3f\n", label, med, q1, q3, med / plain);
        if (k == SIGEO_PROXY_SIGEO) {
            bench_json("proxy", c->name, "sigeo_ms", med, "ms");
            bench_json("proxy", c->name, "overhead_ratio", med / plain, "ratio");
        } else {
            snprintf(metric, sizeof metric, "%s_ms", kn);
            bench_json("proxy", c->name, metric, med, "ms");
            snprintf(metric, sizeof metric, "%s_over_plain", kn);
            bench_json("proxy", c->name, metric, med / plain, "ratio");
        }
    }
    double ratio = bench_median(t_kind[SIGEO_PROXY_SIGEO], reps) / plain;
    bench_say("  SiGeo overhead ratio %.3f (target <= 1.10: %s)\n", ratio, ratio <= 1.10 ? "met" : "MISSED");
    for (int i = 0; i < K; i++)
        bench_batch_free(&d.b[i]);
    sigeo_model_destroy(m);
}

int main(int argc, char **argv)
{
    const char *only[N_CASES];
    int n_only = 0, reps = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: bench-proxy [--reps N] [--quick] [--case mlp-small|mlp-large|dlrm]...\n"
                   "JSON lines on stdout, a table on stderr; see bench/README.md.\n");
            return 0;
        } else if (strcmp(argv[i], "--case") == 0 && i + 1 < argc && n_only < N_CASES) {
            only[n_only++] = argv[++i];
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--quick") == 0) {
            reps = 5;
        } else {
            fprintf(stderr, "bench-proxy: unknown argument '%s' (try --help)\n", argv[i]);
            return 2;
        }
    }
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.seed = 1;
    sigeo_context_t *ctx;
    bench_check(sigeo_context_create(&ctx, &co), "sigeo_context_create");
    bench_check(sigeo_context_get_options(&co, ctx), "sigeo_context_get_options");
    double load = bench_loadavg();
    bench_say("bench-proxy: libsigeo %s, %u threads, load average %.2f at start%s\n", sigeo_version(),
              (unsigned)co.threads, load, load > 0.5 ? " (machine busy: numbers are noisy)" : "");
    bench_say("proxy kinds:");
    for (int32_t k = 0; sigeo_proxy_kind_name((sigeo_proxy_kind_t)k); k++)
        bench_say(" %d=%s", (int)k, sigeo_proxy_kind_name((sigeo_proxy_kind_t)k));
    bench_say("\n");
    bench_json("proxy", "machine", "threads", (double)co.threads, "count");
    bench_json("proxy", "machine", "loadavg_start", load, "load");
    for (int c = 0; c < N_CASES; c++) {
        int run = n_only == 0;
        for (int i = 0; i < n_only; i++)
            run |= strcmp(only[i], cases[c].name) == 0;
        if (run)
            run_case(ctx, &cases[c], reps);
    }
    double rss = bench_peak_rss_mib();
    bench_say("\nPeak RSS %.1f MiB; load average %.2f at the end\n", rss, bench_loadavg());
    bench_json("proxy", "process", "peak_rss", rss, "MiB");
    bench_json("proxy", "machine", "loadavg_end", bench_loadavg(), "load");
    sigeo_context_destroy(ctx);
    return 0;
}
