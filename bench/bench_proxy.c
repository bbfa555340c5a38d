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
 *   cell       the NB201 cell space's all-nor_conv_3x3 network (conv + train-
 *              mode BN, docs/cellspace.md), batch 64, Fashion-MNIST
 *              train[0:256], SiGeo with the exact FR (SIGEO_FR_EXACT)
 * Metrics per case:
 *   plain_ms        median time of 4 plain sigeo_model_forward_backward calls
 *   sigeo_ms        median time of one sigeo_proxy_compute (SiGeo, k = 4, exact FR)
 *   overhead_ratio  sigeo_ms / plain_ms (target <= 1.10)
 *   kind_<name>_ms, kind_<name>_over_plain, kind_<name>_over_step
 *                   for every other kind sigeo_proxy_kind_name() knows (0, 1, ...
 *                   until NULL), with default options and the same 4 batches
 *                   (a kind may use fewer: the table shows the k it reports);
 *                   over_step is relative to ONE plain forward+backward step.
 *                   A slow kind gets fewer reps (>= 3) to stay within --budget.
 *   stats_ms, stats_ns_per_param   phase diagnostic: the statistics part of
 *                   a SiGeo evaluation alone (see stats_phase_t).
 * Plain and SiGeo repetitions alternate, so a burst of load hits both sides
 * of the ratio alike; every other kind is timed in its own block of
 * consecutive calls (steady state, as a search calls it).
 * JSON lines on stdout, the table on stderr. Options: --reps N (default:
 * 200 / 40 / 20 / 10 for the four cases), --quick, --case NAME (repeatable),
 * --budget SECONDS (per extra kind, default 10), --sigeo-only (skip the
 * other kinds), --threads N (the context's compute threads, default every
 * online core). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_models.h"
#include "bench_util.h"
#include "sigeo/io.h"
#include "sigeo/model.h"
#include "sigeo/proxy.h"
#include "sigeo/search.h"
#include "sigeo/sigeo.h"
#include "sigeo/stats.h"

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
    { "cell", "NB201 cell space, all six edges nor_conv_3x3, batch 64, Fashion-MNIST, exact FR", 10 },
};
enum { N_CASES = sizeof cases / sizeof cases[0] };

/* The k batches of a case, owned here. */
typedef struct case_data {
    bench_batch_t b[K];
    sigeo_batch_t view[K];
    const char *data_note;
} case_data_t;

/* First 4 x batch Fashion-MNIST training images as 4 batches, copied out of
 * the dataset's view buffers (they are only valid until the next view). */
static int load_fashion(case_data_t *d, int64_t batch)
{
    const int64_t rows = K * batch;
    sigeo_dataset_t *ds = NULL;
    if (sigeo_fashion_mnist_load(&ds, NULL, SIGEO_FASHION_MNIST_TRAIN, rows) != SIGEO_OK) {
        bench_say("  Fashion-MNIST not found (%s)\n  -> using random data for mlp-small instead "
                  "(install dataset-fashion-mnist or set SIGEO_DATA_DIR)\n",
                  sigeo_last_error());
        return 0;
    }
    sigeo_batch_t all = SIGEO_BATCH_INIT;
    bench_check(sigeo_dataset_view(&all, ds, 0, rows), "sigeo_dataset_view");
    if (all.n_dense != 784 || !all.labels) {
        bench_say("  Fashion-MNIST has %lld features per row, expected 784: using random data\n",
                  (long long)all.n_dense);
        sigeo_dataset_destroy(ds);
        return 0;
    }
    for (int i = 0; i < K; i++) {
        bench_batch_t *b = &d->b[i];
        memset(b, 0, sizeof *b);
        b->dense = malloc((size_t)batch * 784 * sizeof(float));
        b->labels = malloc((size_t)batch * sizeof(int32_t));
        if (!b->dense || !b->labels)
            abort();
        memcpy(b->dense, all.dense + (int64_t)i * batch * 784, (size_t)batch * 784 * sizeof(float));
        memcpy(b->labels, all.labels + (int64_t)i * batch, (size_t)batch * sizeof(int32_t));
        sigeo_batch_t v = SIGEO_BATCH_INIT;
        v.batch_size = batch;
        v.dense = b->dense;
        v.n_dense = 784;
        v.labels = b->labels;
        b->view = v;
    }
    sigeo_dataset_destroy(ds);
    return 1;
}

/* The cell space's all-nor_conv_3x3 network (docs/cellspace.md §1, the
 * standalone sigeo_nb201_build), on 4 batches of 64 Fashion-MNIST images
 * (the study's proxy batches, §3). SiGeo runs with its defaults, i.e. the
 * exact per-sample FR through train-mode BN (SIGEO_FR_EXACT: the
 * forward-mode pass). */
static const char cell_arch[] =
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|";

static sigeo_model_t *make_cell(case_data_t *d, sigeo_context_t *ctx)
{
    int32_t ops[6];
    sigeo_model_t *m = NULL;
    bench_check(sigeo_nb201_from_string(ops, cell_arch), "sigeo_nb201_from_string");
    bench_check(sigeo_nb201_build(&m, ctx, ops), "sigeo_nb201_build");
    if (load_fashion(d, 64)) {
        d->data_note = "Fashion-MNIST train[0:256]";
    } else {
        uint64_t rng = 0x5eed1000u;
        for (int i = 0; i < K; i++)
            bench_batch_random(&d->b[i], &rng, 64, 784, 10, 0, 0);
        d->data_note = "random (Fashion-MNIST missing)";
    }
    return m;
}

static sigeo_model_t *make_case(case_data_t *d, sigeo_context_t *ctx, const char *name)
{
    uint64_t rng = 0x5eed1000u;
    sigeo_model_t *m = NULL;
    if (strcmp(name, "cell") == 0) {
        m = make_cell(d, ctx);
    } else if (strcmp(name, "mlp-small") == 0) {
        static const int64_t w[] = { 48, 10 };
        m = bench_mlp(ctx, 784, w, 2);
        if (load_fashion(d, 128)) {
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

/* Wall time of 4 plain steps; their process CPU time into *cpu. */
static double time_plain(sigeo_model_t *m, const case_data_t *d, double *cpu)
{
    double loss, c0 = bench_cpu_ms(), t0 = bench_now_ms();
    for (int i = 0; i < K; i++)
        bench_check(sigeo_model_forward_backward(&loss, m, &d->view[i]), "forward_backward");
    double t = bench_now_ms() - t0;
    *cpu = bench_cpu_ms() - c0;
    return t;
}

/* One proxy evaluation; returns its wall time or -1 (message in `err`). */
static double time_proxy(sigeo_model_t *m, const case_data_t *d, int32_t kind, uint32_t *k_used, double *cpu,
                         char *err, size_t err_size)
{
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.kind = kind;
    sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
    double c0 = bench_cpu_ms(), t0 = bench_now_ms();
    sigeo_status_t st = sigeo_proxy_compute(m, NULL, 0, d->view, K, &o, &r);
    double t = bench_now_ms() - t0;
    *cpu = bench_cpu_ms() - c0;
    if (st != SIGEO_OK) {
        snprintf(err, err_size, "%s: %s", sigeo_status_string(st), sigeo_last_error());
        return -1.0;
    }
    *k_used = r.k;
    return t;
}

/* Phase diagnostic: the statistics part of a SiGeo evaluation alone. The
 * gradients of each batch are copied out of the model (untimed), one module
 * per layer as the proxy groups them, and fed to a sigeo_stats_t handle with
 * SiGeo's default options; timed: 4 x sigeo_stats_add_batch + 1 x
 * sigeo_stats_compute. The per-sample d_n handed in are placeholders (their
 * cost is O(batch)). An embedding table is a table module fed the rows its
 * field's ids touched, as the proxy feeds it (only those rows are updated). This is the public stats API a framework host uses;
 * sigeo_proxy_compute runs the same accumulator on the model's buffers. */
typedef struct stats_phase {
    sigeo_stats_t *stats;
    int32_t n_params, n_modules;
    int64_t total;
    int64_t *count;       /* [n_modules] */
    int64_t *rows;        /* [n_modules] embedding table rows (a table module), else 0 */
    int *field;           /* [n_modules] the sparse field a table reads */
    int64_t **touched;    /* [n_modules] a table's touched rows of one batch: the field's ids */
    float **grad;         /* [n_modules] copies of one batch's gradients */
    double *directional;  /* [max batch] */
} stats_phase_t;

static void stats_phase_init(stats_phase_t *p, sigeo_context_t *ctx, sigeo_model_t *m, int64_t max_batch)
{
    memset(p, 0, sizeof *p);
    bench_check(sigeo_model_param_count(&p->n_params, m), "param_count");
    bench_check(sigeo_model_module_count(&p->n_modules, m), "module_count");
    p->count = calloc((size_t)p->n_modules, sizeof *p->count);
    p->rows = calloc((size_t)p->n_modules, sizeof *p->rows);
    p->field = calloc((size_t)p->n_modules, sizeof *p->field);
    p->touched = calloc((size_t)p->n_modules, sizeof *p->touched);
    p->grad = calloc((size_t)p->n_modules, sizeof *p->grad);
    p->directional = malloc((size_t)max_batch * sizeof *p->directional);
    if (!p->count || !p->rows || !p->field || !p->touched || !p->grad || !p->directional)
        abort();
    int tables = 0;
    for (int32_t i = 0; i < p->n_params; i++) {
        sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
        bench_check(sigeo_model_param_info(&info, m, i), "param_info");
        p->count[info.module] += info.numel;
        p->total += info.numel;
        if (info.kind == SIGEO_PARAM_EMBEDDING) { /* bench_embedding_bags: table t reads field t */
            p->rows[info.module] = info.dims[0];
            p->field[info.module] = tables++;
            if (!(p->touched[info.module] = malloc((size_t)max_batch * sizeof(int64_t))))
                abort();
        }
    }
    for (int64_t n = 0; n < max_batch; n++)
        p->directional[n] = 1e-3 * (double)(n % 13 + 1);
    bench_check(sigeo_stats_create(&p->stats, ctx, NULL), "sigeo_stats_create");
    for (int32_t k = 0; k < p->n_modules; k++) {
        p->grad[k] = malloc((size_t)p->count[k] * sizeof(float));
        if (!p->grad[k])
            abort();
        /* as the proxy registers them: an embedding table is a table module */
        const char *name = sigeo_model_module_name(m, k);
        bench_check(p->rows[k] ? sigeo_stats_add_table_module(NULL, p->stats, name, p->rows[k], p->count[k] / p->rows[k])
                               : sigeo_stats_add_module(NULL, p->stats, name, p->count[k]),
                    "sigeo_stats_add_module");
    }
}

static void stats_phase_fini(stats_phase_t *p)
{
    sigeo_stats_destroy(p->stats);
    for (int32_t k = 0; k < p->n_modules; k++) {
        free(p->grad[k]);
        free(p->touched[k]);
    }
    free(p->grad);
    free(p->touched);
    free(p->rows);
    free(p->field);
    free(p->count);
    free(p->directional);
}

/* One evaluation's statistics; returns the timed part in ms. */
static double stats_phase_run(stats_phase_t *p, sigeo_model_t *m, const case_data_t *d)
{
    double timed = 0.0, loss;
    bench_check(sigeo_stats_reset(p->stats), "sigeo_stats_reset");
    for (int i = 0; i < K; i++) {
        bench_check(sigeo_model_forward_backward(&loss, m, &d->view[i]), "forward_backward");
        int64_t *filled = calloc((size_t)p->n_modules, sizeof *filled);
        if (!filled)
            abort();
        for (int32_t j = 0; j < p->n_params; j++) {
            sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
            bench_check(sigeo_model_param_info(&info, m, j), "param_info");
            bench_check(sigeo_model_get_grad(m, j, p->grad[info.module] + filled[info.module], info.numel),
                        "get_grad");
            filled[info.module] += info.numel;
        }
        free(filled);
        /* one id per field per row (bench_batch_random) */
        int64_t *n_touched = calloc((size_t)p->n_modules, sizeof *n_touched);
        if (!n_touched)
            abort();
        const sigeo_batch_t *v = &d->view[i];
        for (int32_t k = 0; k < p->n_modules; k++)
            for (int64_t r = 0; p->rows[k] && r < v->batch_size; r++)
                p->touched[k][n_touched[k]++] = v->sparse_ids[r * v->n_sparse_fields + p->field[k]];
        sigeo_stats_batch_t sb = SIGEO_STATS_BATCH_INIT;
        sb.n_modules = (uint32_t)p->n_modules;
        sb.gradients = (const float *const *)p->grad;
        sb.gradient_counts = p->count;
        sb.touched_rows = (const int64_t *const *)p->touched;
        sb.touched_counts = n_touched;
        sb.loss = loss;
        sb.batch_size = d->view[i].batch_size;
        sb.directional = p->directional;
        double t0 = bench_now_ms();
        bench_check(sigeo_stats_add_batch(p->stats, &sb), "sigeo_stats_add_batch");
        timed += bench_now_ms() - t0;
        free(n_touched);
    }
    sigeo_stats_result_t res = SIGEO_STATS_RESULT_INIT;
    double t0 = bench_now_ms();
    bench_check(sigeo_stats_compute(&res, p->stats), "sigeo_stats_compute");
    return timed + (bench_now_ms() - t0);
}

/* --kinds NAME,NAME,...: the extra kinds to time (default every kind);
 * SiGeo and the plain steps always run. */
static const char *kinds_only;

static int kind_selected(int32_t k)
{
    if (!kinds_only || k == SIGEO_PROXY_SIGEO)
        return 1;
    const char *name = sigeo_proxy_kind_name((sigeo_proxy_kind_t)k);
    const size_t len = strlen(name);
    for (const char *p = kinds_only; *p;) {
        const char *end = strchr(p, ',');
        const size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && strncmp(p, name, n) == 0)
            return 1;
        p += n + (end ? 1 : 0);
    }
    return 0;
}

static void run_case(sigeo_context_t *ctx, const bench_case_t *c, int reps_override, double budget_ms)
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
    static double t_plain[MAX_REPS], t_kind[MAX_KINDS][MAX_REPS], t_stats[MAX_REPS];
    static double c_plain[MAX_REPS], c_sigeo[MAX_REPS];
    double cpu;
    static char err[MAX_KINDS][512];
    int ok[MAX_KINDS], kind_reps[MAX_KINDS];
    uint32_t used_k[MAX_KINDS];
    /* Plain steps and SiGeo evaluations alternate (plain, sigeo, plain, ...)
     * so a burst of load hits both sides of the overhead ratio alike. The
     * other kinds run afterwards, each in its own block of consecutive calls:
     * that is how a search calls a proxy, and the model's proxy workspace
     * is only reused while the kind (hence the statistics options) stays the
     * same. A block starts with warm-up calls; a kind that fails is reported
     * and skipped; a slow kind gets fewer repetitions (at least 3) to stay
     * within the budget. */
    for (int32_t k = 0; k < n_kinds; k++) {
        ok[k] = 1;
        err[k][0] = '\0';
        kind_reps[k] = reps;
    }
    for (int w = 0; w < WARMUP; w++) {
        time_plain(m, &d, &cpu);
        const int32_t sg = SIGEO_PROXY_SIGEO;
        if (time_proxy(m, &d, sg, &used_k[sg], &cpu, err[sg], sizeof err[sg]) < 0) {
            bench_say("  sigeo_proxy_compute(SIGEO) failed: %s\n", err[sg]);
            exit(1);
        }
    }
    for (int r = 0; r < reps; r++) {
        const int32_t sg = SIGEO_PROXY_SIGEO;
        uint32_t kk;
        t_plain[r] = time_plain(m, &d, &c_plain[r]);
        t_kind[sg][r] = time_proxy(m, &d, sg, &kk, &c_sigeo[r], err[sg], sizeof err[sg]);
        if (t_kind[sg][r] < 0) {
            bench_say("  sigeo_proxy_compute(SIGEO) failed during the timed reps: %s\n", err[sg]);
            exit(1);
        }
    }
    for (int32_t k = 0; k < n_kinds; k++) {
        if (k == SIGEO_PROXY_SIGEO || !kind_selected(k))
            continue;
        double t = 0.0;
        for (int w = 0; w < WARMUP && ok[k] && (w == 0 || t < 0.25 * budget_ms); w++) {
            t = time_proxy(m, &d, k, &used_k[k], &cpu, err[k], sizeof err[k]);
            ok[k] = t >= 0.0;
        }
        if (!ok[k])
            continue;
        if (t * reps > budget_ms) {
            kind_reps[k] = (int)(budget_ms / (t > 0.0 ? t : 1.0));
            if (kind_reps[k] < 3)
                kind_reps[k] = 3;
        }
        for (int r = 0; r < kind_reps[k] && ok[k]; r++) {
            uint32_t kk;
            t_kind[k][r] = time_proxy(m, &d, k, &kk, &cpu, err[k], sizeof err[k]);
            if (t_kind[k][r] < 0) {
                bench_say("  kind %s failed during the timed reps: %s\n", sigeo_proxy_kind_name(k), err[k]);
                ok[k] = 0;
            }
        }
    }
    double plain = bench_median(t_plain, reps);
    double p1 = bench_quantile_sorted(t_plain, reps, 0.25), p3 = bench_quantile_sorted(t_plain, reps, 0.75);
    const double step = plain / K;
    bench_say("  data: %s; model built in %.0f ms; %d reps (medians; the machine is shared)\n", d.data_note, t_build,
              reps);
    bench_say("  %-22s %5s %4s %10s %10s %10s %8s %8s\n", "", "reps", "k", "median ms", "q1 ms", "q3 ms", "/ plain",
              "/ step");
    bench_say("  %-22s %5d %4d %10.3f %10.3f %10.3f %8.3f %8.3f\n", "plain fwd+bwd x4", reps, K, plain, p1, p3, 1.0,
              (double)K);
    bench_json("proxy", c->name, "plain_ms", plain, "ms");
    bench_json("proxy", c->name, "plain_step_ms", step, "ms");
    for (int32_t k = 0; k < n_kinds; k++) {
        const char *kn = sigeo_proxy_kind_name((sigeo_proxy_kind_t)k);
        char metric[96];
        if (!kind_selected(k))
            continue;
        if (!ok[k]) {
            bench_say("  %-22s failed: %s\n", kn, err[k]);
            snprintf(metric, sizeof metric, k == SIGEO_PROXY_SIGEO ? "sigeo_ms" : "kind_%s_ms", kn);
            bench_json("proxy", c->name, metric, NAN, "ms");
            continue;
        }
        int n = kind_reps[k];
        double med = bench_median(t_kind[k], n);
        double q1 = bench_quantile_sorted(t_kind[k], n, 0.25), q3 = bench_quantile_sorted(t_kind[k], n, 0.75);
        bench_say("  %-22s %5d %4u %10.3f %10.3f %10.3f %8.3f %8.3f\n", kn, n, (unsigned)used_k[k], med, q1, q3,
                  med / plain, med / step);
        if (k == SIGEO_PROXY_SIGEO) {
            bench_json("proxy", c->name, "sigeo_ms", med, "ms");
            bench_json("proxy", c->name, "overhead_ratio", med / plain, "ratio");
        } else {
            /* Namespaced: a kind may be called "plain". */
            snprintf(metric, sizeof metric, "kind_%s_ms", kn);
            bench_json("proxy", c->name, metric, med, "ms");
            snprintf(metric, sizeof metric, "kind_%s_over_plain", kn);
            bench_json("proxy", c->name, metric, med / plain, "ratio");
            snprintf(metric, sizeof metric, "kind_%s_over_step", kn);
            bench_json("proxy", c->name, metric, med / step, "ratio");
        }
    }
    bench_say("  (k = batches the kind used, from its result; / plain = relative to the 4 plain steps,\n"
              "   / step = relative to one plain forward+backward step)\n");
    const double cp = bench_median(c_plain, reps), cs = bench_median(c_sigeo, reps);
    bench_say("  process CPU time (median ms, all threads): plain %.3f, sigeo %.3f, ratio %.3f\n"
              "   (a measure of work only when run with --threads 1)\n",
              cp, cs, cs / cp);
    bench_json("proxy", c->name, "plain_cpu_ms", cp, "ms");
    bench_json("proxy", c->name, "sigeo_cpu_ms", cs, "ms");
    double sigeo = bench_median(t_kind[SIGEO_PROXY_SIGEO], reps), ratio = sigeo / plain;
    bench_say("  SiGeo overhead ratio %.3f (target <= 1.10: %s)\n", ratio, ratio <= 1.10 ? "met" : "MISSED");

    /* Where the overhead goes: the statistics phase alone (see stats_phase_t). */
    stats_phase_t ph;
    stats_phase_init(&ph, ctx, m, d.view[0].batch_size);
    int sreps = reps < 20 ? reps : 20;
    stats_phase_run(&ph, m, &d);
    for (int r = 0; r < sreps; r++)
        t_stats[r] = stats_phase_run(&ph, m, &d);
    double st = bench_median(t_stats, sreps);
    double ns = st * 1e6 / ((double)K * (double)ph.total);
    bench_say("  phase: statistics alone (4 x sigeo_stats_add_batch + compute over %lld parameters) %.3f ms\n"
              "         = %.2f ns per parameter per batch; %.0f%% of the SiGeo time, plain + stats = %.3f x plain\n",
              (long long)ph.total, st, ns, 100.0 * st / sigeo, (plain + st) / plain);
    bench_json("proxy", c->name, "stats_ms", st, "ms");
    bench_json("proxy", c->name, "stats_ns_per_param", ns, "ns");
    bench_json("proxy", c->name, "params", (double)ph.total, "count");
    stats_phase_fini(&ph);
    for (int i = 0; i < K; i++)
        bench_batch_free(&d.b[i]);
    sigeo_model_destroy(m);
}

int main(int argc, char **argv)
{
    const char *only[N_CASES];
    int n_only = 0, reps = 0;
    double budget_s = 10.0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: bench-proxy [--reps N] [--quick] [--threads N] [--budget SECONDS]\n"
                   "                   [--case mlp-small|mlp-large|dlrm|cell]... [--kinds NAME,NAME,...] [--sigeo-only]\n"
                   "--kinds: the other proxy kinds to time besides SiGeo (default: all)\n"
                   "--threads: the context's compute threads (default: every online core)\n"
                   "--budget: timed seconds per extra proxy kind and case (default 10; slow kinds get fewer reps)\n"
                   "--sigeo-only: time plain steps and SiGeo only (the same as --kinds '')\n"
                   "JSON lines on stdout, a table on stderr; see bench/README.md.\n");
            return 0;
        } else if (strcmp(argv[i], "--case") == 0 && i + 1 < argc && n_only < N_CASES) {
            only[n_only++] = argv[++i];
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            i++; /* read by bench_parse_threads */
        } else if (strcmp(argv[i], "--kinds") == 0 && i + 1 < argc) {
            kinds_only = argv[++i];
        } else if (strcmp(argv[i], "--budget") == 0 && i + 1 < argc) {
            budget_s = atof(argv[++i]);
        } else if (strcmp(argv[i], "--sigeo-only") == 0) {
            kinds_only = "";
        } else if (strcmp(argv[i], "--quick") == 0) {
            reps = 5;
        } else {
            fprintf(stderr, "bench-proxy: unknown argument '%s' (try --help)\n", argv[i]);
            return 2;
        }
    }
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.seed = 1;
    co.threads = bench_parse_threads(argc, argv);
    sigeo_context_t *ctx;
    bench_check(sigeo_context_create(&ctx, &co), "sigeo_context_create");
    bench_check(sigeo_context_get_options(&co, ctx), "sigeo_context_get_options");
    double load = bench_loadavg();
    bench_say("bench-proxy: libsigeo %s, %u threads, load average %.2f at start%s\n", sigeo_version(),
              (unsigned)co.threads, load,
              load > 1.0 ? " (> 1: other processes are running, numbers will be noisy)" : "");
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
            run_case(ctx, &cases[c], reps, budget_s * 1e3);
    }
    double rss = bench_peak_rss_mib();
    bench_say("\nPeak RSS %.1f MiB; load average %.2f at the end\n", rss, bench_loadavg());
    bench_json("proxy", "process", "peak_rss", rss, "MiB");
    bench_json("proxy", "machine", "loadavg_end", bench_loadavg(), "load");
    sigeo_context_destroy(ctx);
    return 0;
}
