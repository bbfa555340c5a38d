/*
 * sigeo-fig3: the paper's Section 5.2 / Theorem 1 check (Figure 3) on
 * Fashion-MNIST, with libsigeo's public API only.
 *
 * Theorem 1 of the SiGeo paper bounds the loss a network converges to by
 * quantities visible early in training: the current training loss, the
 * Fisher-Rao norm and the mean absolute gradient. Figure 3 checks it on a
 * family of two-layer ReLU MLPs of growing width: after a warm-up of p % of
 * the first epoch, how well does each statistic rank the networks by the
 * loss they reach at the end of training?
 *
 * Protocol (every number is an option, see --help):
 *  - networks 784 -> h -> 10 (Linear, ReLU, Linear; softmax cross-entropy)
 *    with h = 2, 4, ..., 48 (24 networks); network i of repeat s is built in
 *    a fresh context seeded with s + i (PyTorch-style initialisation);
 *  - plain SGD, lr 0.02 (Section 5.1; Appendix D.1 says 0.01), batch 128,
 *    3 epochs over the 60,000 training images, pixels / 255, no
 *    normalisation; epoch e visits the training set in the order of
 *    sigeo_dataset_shuffle(train, 1000 * s + e) (shared by the networks of
 *    a repeat), the last batch of an epoch is smaller (96 rows), not dropped;
 *  - warm-up level p (0, 10, 20, 40, 60, 80, 100 %): the network after the
 *    first round(p / 100 * 469) SGD steps of the first epoch. At each level,
 *    with the weights fixed, on a fixed measurement set (the first 4 x 128
 *    training images in file order, as 4 batches of 128):
 *      train_loss               mean of the 4 batch losses,
 *      fisher_rao               theta^T F theta = (1/N) sum_n (theta . grad l_n)^2,
 *                               exact per-sample (sigeo_proxy_compute, kind
 *                               FISHER_RAO, field fr, estimator EXACT),
 *      mean_abs_grad            Theorem 1's mu: the L1 norm of the batch-mean
 *                               gradient (sum over all parameters of |g|),
 *                               averaged over the 4 batches,
 *      mean_abs_grad_per_param  that L1 norm / number of parameters,
 *      sigeo                    the SiGeo score (sigeo_proxy_compute, kind
 *                               SIGEO): zero-shot lambdas (1, 1, 0) at level 0,
 *                               the warmed-up RecSys lambdas (1, 1, 1) at
 *                               every other level (the paper's Section 4.7),
 *      zico                     the ZiCo term of that call (module-wise: one
 *                               module per layer, weight and bias together,
 *                               libsigeo's default; gradient std with ddof 0);
 *    then training goes on to the end;
 *  - final losses: mean cross-entropy on the 10,000 test images (t10k) and
 *    on the whole training set;
 *  - repeats s = 0 .. seeds-1; for every (level, statistic, final loss) the
 *    Spearman and Kendall (tau-b) correlations across the networks of a
 *    repeat, then their mean and sample standard deviation over repeats.
 *    Correlations are signed as measured: a statistic that grows with the
 *    final loss correlates positively.
 *
 * Outputs: tables on stdout (rows = warm-up level, per statistic rho/tau;
 * one table per final loss), --json FILE (config, rows, raw values),
 * --csv FILE (the rows), --svg DIR (fig3_<statistic>.svg: one file per
 * statistic, one panel per warm-up level, x = the statistic, y = final test
 * loss, every network of every repeat a point coloured by its width h).
 *
 * Progress: a line every few seconds on stderr (in place on a terminal),
 * --quiet for none. Ctrl-C / SIGTERM stops after the current SGD step and
 * writes the networks completed so far (JSON "interrupted": true; the
 * correlations cover the complete repeats only). Every file is written
 * atomically; output paths are checked before anything runs.
 *
 * Exit status: 0 done, 1 a failure while running (library error, output
 * file), 2 bad usage or no data, 130 interrupted.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sigeo/io.h"
#include "sigeo/model.h"
#include "sigeo/proxy.h"
#include "sigeo/sigeo.h"
#include "sigeo/stats.h"
#include "sigeo/train.h"

#include "cli.h"
#include "csv_out.h"
#include "interrupt.h"
#include "json_out.h"
#include "output.h"
#include "program.h"
#include "progress.h"
#include "provenance.h"
#include "svg.h"

#define PROG "sigeo-fig3"

enum { MAX_LEVELS = 32, MAX_NETS = 128, MAX_MEASURE_BATCHES = 64 };

typedef enum stat_id {
    ST_TRAIN_LOSS,
    ST_FISHER_RAO,
    ST_MEAN_ABS_GRAD,
    ST_MEAN_ABS_GRAD_PP,
    ST_SIGEO,
    ST_ZICO,
    N_STATS
} stat_id_t;

static const char *const stat_names[N_STATS] = {
    "train_loss", "fisher_rao", "mean_abs_grad", "mean_abs_grad_per_param", "sigeo", "zico",
};
/* Column heads of the text tables. */
static const char *const stat_heads[N_STATS] = {
    "train_loss", "fisher_rao", "mean_abs_grad", "abs_grad/param", "sigeo", "zico",
};
/* Axis labels of the plots. */
static const char *const stat_labels[N_STATS] = {
    "current training loss (4 batches)",
    "Fisher-Rao norm (exact, per sample)",
    "mean |g|: L1 norm of the batch gradient",
    "mean |g| per parameter",
    "SiGeo score",
    "ZiCo term",
};

typedef enum target_id { TG_TEST, TG_TRAIN, N_TARGETS } target_id_t;
static const char *const target_names[N_TARGETS] = { "test_loss", "train_loss" };

typedef struct config {
    int64_t seeds, first_seed, epochs, batch, train_rows, measure_batches, threads;
    double lr;
    double levels[MAX_LEVELS]; /* percent, ascending */
    size_t n_levels;
    int64_t hidden[MAX_NETS];
    size_t n_nets;
    const char *data_dir_flag, *json_path, *csv_path, *svg_dir;
    char data_dir[4096];   /* where Fashion-MNIST was found (before any work) */
    int quick, quiet;
    int argc;      /* the command line, for the JSON's provenance */
    char **argv;
} config_t;

typedef struct level_meas {
    int64_t steps;           /* SGD steps taken before the measurement */
    double stat[N_STATS];
    double log_fr;
    double lambda[3];        /* of the SiGeo score */
} level_meas_t;

typedef struct net_result {
    int64_t hidden, params;
    uint64_t init_seed;
    double final_loss[N_TARGETS];
    double final_accuracy[N_TARGETS];
    double seconds;
    level_meas_t levels[MAX_LEVELS];
} net_result_t;

typedef struct summary_row {
    double rho, tau, rho_sd, tau_sd;
    int n_valid;       /* repeats with a defined correlation */
    double *seed_rho;  /* [seeds] per repeat (NaN where undefined); owned by main */
    double *seed_tau;
} summary_row_t;

typedef struct data {
    sigeo_dataset_t *train, *test, *measure;
    sigeo_batch_t measure_batches[MAX_MEASURE_BATCHES];
    int64_t train_rows, test_rows, steps_per_epoch;
    int64_t level_steps[MAX_LEVELS];
    char dir[4096];
} data_t;


/* ---------------------------------------------------------------- helpers */

/* The progress reporter, so an error message starts on a line of its own
 * after a terminal progress line. */
static progress_t *shown_progress;

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + 1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
}

/* Reports a failed library call: what we were doing, the library's message
 * (read before any other library call can replace it) and the status class. */
static int lib_fail(sigeo_status_t st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static int lib_fail(sigeo_status_t st, const char *fmt, ...)
{
    char detail[1024];
    snprintf(detail, sizeof detail, "%s", sigeo_last_error());
    if (shown_progress)
        progress_break(shown_progress);
    va_list ap;
    fprintf(stderr, PROG ": ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, ": %s [%s]\n", detail[0] ? detail : "(no message)", sigeo_status_string(st));
    return -1;
}

/* ------------------------------------------------------------- options */

static void usage(FILE *f)
{
    fputs("Usage: " PROG " [options]\n"
          "\n"
          "The SiGeo paper's Section 5.2 / Theorem 1 check (Figure 3) on Fashion-MNIST: two-layer ReLU MLPs\n"
          "784 -> h -> 10 are trained with SGD; after p % of the first epoch their current training loss,\n"
          "Fisher-Rao norm, mean absolute gradient, SiGeo score and ZiCo term are measured on 4 fixed\n"
          "batches, and each statistic is rank-correlated (Spearman, Kendall) with the losses the networks\n"
          "reach at the end of training. With no options it runs the full protocol (24 widths, 3 seeds).\n"
          "\n"
          "Experiment:\n"
          "  --hidden LIST        hidden widths h, comma-separated (default 2,4,...,48: 24 networks);\n"
          "                       network i of seed s is initialised from context seed s + i\n"
          "  --seeds N            repeats with seeds first..first+N-1 (default 3)\n"
          "  --first-seed S       first seed (default 0)\n"
          "  --epochs E           training epochs (default 3)\n"
          "  --lr LR              SGD learning rate (default 0.02, the paper's Section 5.1; App. D.1 says 0.01)\n"
          "  --batch B            mini-batch size for training and measuring (default 128)\n"
          "  --levels LIST        warm-up levels in % of the first epoch (default 0,10,20,40,60,80,100)\n"
          "  --measure-batches K  batches in the fixed measurement set: the first K*B training images in\n"
          "                       file order (default 4)\n"
          "  --train-rows N       use only the first N training images (default 0 = all 60000)\n"
          "  --threads T          compute threads (default 0 = all cores)\n"
          "  --quick              a small run for tests: h = 2,16,32,48, 1 seed, levels 0,50, the first\n"
          "                       2000 training images, 1 epoch (options given after it still apply)\n"
          "\n"
          "Data:\n"
          "  --data-dir DIR       Fashion-MNIST directory; else $SIGEO_DATA_DIR (or its fashion-mnist/\n"
          "                       subdirectory), else " SIGEO_FASHION_MNIST_DEFAULT_DIR "\n"
          "\n"
          "Output:\n"
          "  --json FILE          config, correlation rows and every raw measurement as JSON\n"
          "  --csv FILE           the correlation rows as CSV\n"
          "  --svg DIR            scatter plots DIR/fig3_<statistic>.svg (created if missing): one panel\n"
          "                       per warm-up level, x = the statistic, y = final test loss, colour = h\n"
          "                       (every file is written atomically: a temporary file renamed into place)\n"
          "  --quiet              no progress and no tables (errors only)\n",
          f);
    program_help_options(f, 0);
    fputs("\n"
          "Examples:\n"
          "  " PROG " --quick --json fig3.json          a small run (a minute or two on 2 cores)\n"
          "  " PROG " --svg plots --csv fig3.csv        the full protocol with plots (hours on 2 cores)\n"
          "  " PROG " --hidden 4,8,16,32 --seeds 5 --levels 0,10 --json r.json\n"
          "\n"
          "Ctrl-C (or SIGTERM) stops after the current SGD step and writes the networks completed so far,\n"
          "marked \"interrupted\": true (the correlations cover the complete seeds only).\n"
          "\n",
          f);
    program_help_exit_status(f, PROGRAM_HELP_INTERRUPT);
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void set_quick(config_t *c)
{
    static const int64_t quick_hidden[] = { 2, 16, 32, 48 };
    c->quick = 1;
    c->n_nets = 4;
    memcpy(c->hidden, quick_hidden, sizeof quick_hidden);
    c->seeds = 1;
    c->n_levels = 2;
    c->levels[0] = 0.0;
    c->levels[1] = 50.0;
    c->train_rows = 2000;
    c->epochs = 1;
}

/* Returns 0 to run, 1 after --help or --version, 2 on bad usage (message printed). */
static int parse_args(config_t *c, int argc, char **argv)
{
    static const double default_levels[] = { 0, 10, 20, 40, 60, 80, 100 };
    memset(c, 0, sizeof *c);
    c->seeds = 3;
    c->epochs = 3;
    c->batch = 128;
    c->measure_batches = 4;
    c->lr = 0.02;
    c->n_levels = sizeof default_levels / sizeof default_levels[0];
    memcpy(c->levels, default_levels, sizeof default_levels);
    c->n_nets = 24;
    for (size_t i = 0; i < c->n_nets; i++)
        c->hidden[i] = 2 * (int64_t)i + 2;

    cli_t a;
    cli_init(&a, PROG, argc, argv);
    int r;
    while (cli_next(&a)) {
        if (cli_flag(&a, "--help") || cli_flag(&a, "-h")) {
            usage(stdout);
            return 1;
        } else if (cli_flag(&a, "--version")) {
            program_print_version(PROG);
            return 1;
        } else if (cli_flag(&a, "--quick")) {
            set_quick(c);
        } else if (cli_flag(&a, "--progress")) {
            /* accepted for old scripts: progress lines are the default now */
        } else if (cli_flag(&a, "--quiet")) {
            c->quiet = 1;
        } else if ((r = cli_option(&a, "--seeds")) != 0) {
            if (r < 0 || cli_int64(&a, &c->seeds, 1, 1000))
                return 2;
        } else if ((r = cli_option(&a, "--first-seed")) != 0) {
            if (r < 0 || cli_int64(&a, &c->first_seed, 0, INT64_C(1) << 40))
                return 2;
        } else if ((r = cli_option(&a, "--epochs")) != 0) {
            if (r < 0 || cli_int64(&a, &c->epochs, 1, 1000))
                return 2;
        } else if ((r = cli_option(&a, "--lr")) != 0) {
            if (r < 0 || cli_double(&a, &c->lr, 1e-12, 100.0))
                return 2;
        } else if ((r = cli_option(&a, "--batch")) != 0) {
            if (r < 0 || cli_int64(&a, &c->batch, 1, 65536))
                return 2;
        } else if ((r = cli_option(&a, "--measure-batches")) != 0) {
            if (r < 0 || cli_int64(&a, &c->measure_batches, 2, MAX_MEASURE_BATCHES))
                return 2;
        } else if ((r = cli_option(&a, "--train-rows")) != 0) {
            if (r < 0 || cli_int64(&a, &c->train_rows, 0, INT64_C(1) << 40))
                return 2;
        } else if ((r = cli_option(&a, "--threads")) != 0) {
            if (r < 0 || cli_int64(&a, &c->threads, 0, 1024))
                return 2;
        } else if ((r = cli_option(&a, "--levels")) != 0) {
            if (r < 0 || cli_double_list(&a, c->levels, MAX_LEVELS, &c->n_levels, 0.0, 100.0))
                return 2;
            qsort(c->levels, c->n_levels, sizeof c->levels[0], compare_double);
            for (size_t i = 1; i < c->n_levels; i++)
                if (c->levels[i] == c->levels[i - 1]) {
                    cli_error(&a, "--levels: %g is given twice", c->levels[i]);
                    return 2;
                }
        } else if ((r = cli_option(&a, "--hidden")) != 0) {
            if (r < 0 || cli_int64_list(&a, c->hidden, MAX_NETS, &c->n_nets, 1, 4096))
                return 2;
            if (c->n_nets < 2) {
                cli_error(&a, "--hidden: rank correlations need at least 2 networks");
                return 2;
            }
        } else if ((r = cli_option(&a, "--data-dir")) != 0) {
            if (r < 0)
                return 2;
            c->data_dir_flag = a.value;
        } else if ((r = cli_option(&a, "--json")) != 0) {
            if (r < 0)
                return 2;
            c->json_path = a.value;
        } else if ((r = cli_option(&a, "--csv")) != 0) {
            if (r < 0)
                return 2;
            c->csv_path = a.value;
        } else if ((r = cli_option(&a, "--svg")) != 0) {
            if (r < 0)
                return 2;
            c->svg_dir = a.value;
        } else {
            cli_unknown(&a);
            return 2;
        }
    }
    if (c->train_rows > 0 && c->train_rows < c->measure_batches * c->batch) {
        cli_error(&a, "--train-rows %lld: the measurement set alone needs %lld images (--measure-batches %lld x "
                      "--batch %lld)",
                  (long long)c->train_rows, (long long)(c->measure_batches * c->batch), (long long)c->measure_batches,
                  (long long)c->batch);
        return 2;
    }
    /* Output paths, before any work: a typo fails now, not after hours. */
    if (output_validate_file(PROG, "--json", c->json_path) || output_validate_file(PROG, "--csv", c->csv_path) ||
        output_validate_dir(PROG, "--svg", c->svg_dir, 1))
        return 2;
    /* An explicit --data-dir that does not hold the files is an error, not
     * a silent fall-back to another copy. */
    if (cli_fashion_mnist_dir_strict(PROG, c->data_dir, sizeof c->data_dir, c->data_dir_flag) != 0)
        return 2;
    return 0;
}

/* ---------------------------------------------------------------- data */

static void data_free(data_t *d)
{
    sigeo_dataset_destroy(d->train);
    sigeo_dataset_destroy(d->test);
    sigeo_dataset_destroy(d->measure);
    d->train = d->test = d->measure = NULL;
}

/* Loads both splits and carves out the measurement batches. Returns 0, -1
 * (runtime failure, message printed) or 2 (no usable data, message printed). */
static int data_load(data_t *d, const config_t *c)
{
    memset(d, 0, sizeof *d);
    snprintf(d->dir, sizeof d->dir, "%s", c->data_dir);
    sigeo_status_t st;
    if ((st = sigeo_fashion_mnist_load(&d->train, d->dir, SIGEO_FASHION_MNIST_TRAIN, c->train_rows)) != SIGEO_OK)
        return lib_fail(st, "loading the Fashion-MNIST training set from '%s'", d->dir);
    if ((st = sigeo_fashion_mnist_load(&d->test, d->dir, SIGEO_FASHION_MNIST_TEST, 0)) != SIGEO_OK)
        return lib_fail(st, "loading the Fashion-MNIST test set from '%s'", d->dir);
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    if ((st = sigeo_dataset_get_info(&info, d->train)) != SIGEO_OK)
        return lib_fail(st, "reading the training set's sizes");
    d->train_rows = info.n_rows;
    if (info.n_dense != 784 || !info.has_labels) {
        fprintf(stderr, PROG ": the training images in '%s' have %lld pixels%s; expected 28 x 28 with labels\n",
                d->dir, (long long)info.n_dense, info.has_labels ? "" : " and no labels");
        return -1;
    }
    sigeo_dataset_info_t tinfo = SIGEO_DATASET_INFO_INIT;
    if ((st = sigeo_dataset_get_info(&tinfo, d->test)) != SIGEO_OK)
        return lib_fail(st, "reading the test set's sizes");
    d->test_rows = tinfo.n_rows;

    const int64_t k = c->measure_batches, B = c->batch;
    if (d->train_rows < k * B) {
        fprintf(stderr, PROG ": the measurement set needs %lld training images (%lld batches of %lld), only %lld "
                        "loaded\n",
                (long long)(k * B), (long long)k, (long long)B, (long long)d->train_rows);
        return 2;
    }
    /* The first k*B images in file order: the training set is still in its
     * storage order here. A dataset of their own keeps their batch views
     * valid while the training set is shuffled and batched. */
    int64_t *rows = malloc(sizeof *rows * (size_t)(k * B));
    if (!rows) {
        fprintf(stderr, PROG ": out of memory\n");
        return -1;
    }
    for (int64_t r = 0; r < k * B; r++)
        rows[r] = r;
    st = sigeo_dataset_subset(&d->measure, d->train, rows, k * B);
    free(rows);
    if (st != SIGEO_OK)
        return lib_fail(st, "taking the first %lld training images as the measurement set", (long long)(k * B));
    sigeo_batch_t all = SIGEO_BATCH_INIT;
    if ((st = sigeo_dataset_view(&all, d->measure, 0, k * B)) != SIGEO_OK)
        return lib_fail(st, "viewing the measurement set");
    for (int64_t b = 0; b < k; b++) {
        sigeo_batch_t mb = all;
        mb.batch_size = B;
        mb.dense = all.dense + b * B * all.n_dense;
        mb.labels = all.labels + b * B;
        d->measure_batches[b] = mb;
    }
    if ((st = sigeo_dataset_batch_count(&d->steps_per_epoch, d->train, B, SIGEO_BATCH_KEEP_LAST)) != SIGEO_OK)
        return lib_fail(st, "counting the batches of an epoch");
    for (size_t l = 0; l < c->n_levels; l++)
        d->level_steps[l] = llround(c->levels[l] / 100.0 * (double)d->steps_per_epoch);
    return 0;
}

/* ------------------------------------------------------------- network */

typedef struct net {
    sigeo_context_t *ctx;
    sigeo_model_t *model;
    sigeo_optimizer_t *opt;
    int32_t n_params;
    int64_t numel[8];
    int64_t total_params;
    float *grad; /* scratch of the largest parameter */
} net_t;

static void net_free(net_t *n)
{
    sigeo_optimizer_destroy(n->opt);
    sigeo_model_destroy(n->model);
    sigeo_context_destroy(n->ctx);
    free(n->grad);
    memset(n, 0, sizeof *n);
}

static int net_build(net_t *n, const config_t *c, int64_t hidden, uint64_t seed)
{
    memset(n, 0, sizeof *n);
    sigeo_status_t st;
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.seed = seed;
    co.threads = (uint32_t)c->threads;
    if ((st = sigeo_context_create(&n->ctx, &co)) != SIGEO_OK)
        return lib_fail(st, "creating a context (seed %llu)", (unsigned long long)seed);
    if ((st = sigeo_model_create(&n->model, n->ctx, "mlp")) != SIGEO_OK)
        return lib_fail(st, "creating the model (h = %lld)", (long long)hidden);
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "x";
    in.features = 784;
    int32_t x, fc1, act, fc2;
    if ((st = sigeo_model_add_input(&x, n->model, &in)) != SIGEO_OK)
        return lib_fail(st, "adding the input (h = %lld)", (long long)hidden);
    sigeo_layer_desc_t l1 = SIGEO_LAYER_DESC_INIT;
    l1.kind = SIGEO_LAYER_LINEAR;
    l1.name = "fc1";
    l1.inputs = &x;
    l1.n_inputs = 1;
    l1.units = hidden;
    if ((st = sigeo_model_add_layer(&fc1, n->model, &l1)) != SIGEO_OK)
        return lib_fail(st, "adding fc1 (h = %lld)", (long long)hidden);
    sigeo_layer_desc_t ar = SIGEO_LAYER_DESC_INIT;
    ar.kind = SIGEO_LAYER_ACTIVATION;
    ar.name = "relu";
    ar.inputs = &fc1;
    ar.n_inputs = 1;
    ar.activation = SIGEO_ACT_RELU;
    if ((st = sigeo_model_add_layer(&act, n->model, &ar)) != SIGEO_OK)
        return lib_fail(st, "adding the ReLU (h = %lld)", (long long)hidden);
    sigeo_layer_desc_t l2 = SIGEO_LAYER_DESC_INIT;
    l2.kind = SIGEO_LAYER_LINEAR;
    l2.name = "fc2";
    l2.inputs = &act;
    l2.n_inputs = 1;
    l2.units = 10;
    if ((st = sigeo_model_add_layer(&fc2, n->model, &l2)) != SIGEO_OK)
        return lib_fail(st, "adding fc2 (h = %lld)", (long long)hidden);
    if ((st = sigeo_model_set_loss(n->model, fc2, SIGEO_LOSS_SOFTMAX_CE)) != SIGEO_OK)
        return lib_fail(st, "setting the loss (h = %lld)", (long long)hidden);
    if ((st = sigeo_model_finalize(n->model)) != SIGEO_OK)
        return lib_fail(st, "finalising the model (h = %lld)", (long long)hidden);

    if ((st = sigeo_model_param_count(&n->n_params, n->model)) != SIGEO_OK)
        return lib_fail(st, "counting parameters (h = %lld)", (long long)hidden);
    if (n->n_params < 1 || n->n_params > 8) {
        fprintf(stderr, PROG ": the MLP reports %d parameter tensors, expected 4\n", (int)n->n_params);
        return -1;
    }
    int64_t biggest = 0;
    for (int32_t p = 0; p < n->n_params; p++) {
        sigeo_param_info_t pi = SIGEO_PARAM_INFO_INIT;
        if ((st = sigeo_model_param_info(&pi, n->model, p)) != SIGEO_OK)
            return lib_fail(st, "reading parameter %d (h = %lld)", (int)p, (long long)hidden);
        n->numel[p] = pi.numel;
        n->total_params += pi.numel;
        if (pi.numel > biggest)
            biggest = pi.numel;
    }
    if (!(n->grad = malloc(sizeof *n->grad * (size_t)biggest))) {
        fprintf(stderr, PROG ": out of memory\n");
        return -1;
    }
    sigeo_optimizer_options_t oo = SIGEO_OPTIMIZER_OPTIONS_INIT;
    oo.kind = SIGEO_OPT_SGD;
    oo.lr = c->lr;
    if ((st = sigeo_optimizer_create(&n->opt, n->model, &oo)) != SIGEO_OK)
        return lib_fail(st, "creating the SGD optimiser (h = %lld)", (long long)hidden);
    return 0;
}

/* The statistics of one warm-up level, weights fixed. */
static int net_measure(net_t *n, const data_t *d, const config_t *c, double level, level_meas_t *out)
{
    sigeo_status_t st;
    const uint32_t k = (uint32_t)c->measure_batches;
    double loss_sum = 0.0, l1_sum = 0.0;
    for (uint32_t b = 0; b < k; b++) {
        double loss;
        if ((st = sigeo_model_forward_backward(&loss, n->model, &d->measure_batches[b])) != SIGEO_OK)
            return lib_fail(st, "forward/backward on measurement batch %u", (unsigned)b);
        loss_sum += loss;
        for (int32_t p = 0; p < n->n_params; p++) {
            if ((st = sigeo_model_get_grad(n->model, p, n->grad, n->numel[p])) != SIGEO_OK)
                return lib_fail(st, "reading the gradient of parameter %d", (int)p);
            double s = 0.0;
            for (int64_t j = 0; j < n->numel[p]; j++)
                s += fabs((double)n->grad[j]);
            l1_sum += s;
        }
    }
    out->stat[ST_TRAIN_LOSS] = loss_sum / k;
    out->stat[ST_MEAN_ABS_GRAD] = l1_sum / k;
    out->stat[ST_MEAN_ABS_GRAD_PP] = l1_sum / k / (double)n->total_params;

    sigeo_proxy_options_t fo = SIGEO_PROXY_OPTIONS_INIT;
    fo.kind = SIGEO_PROXY_FISHER_RAO;
    fo.fr_estimator = SIGEO_FR_EXACT;
    sigeo_proxy_result_t fr = SIGEO_PROXY_RESULT_INIT;
    if ((st = sigeo_proxy_compute(n->model, NULL, 0, d->measure_batches, k, &fo, &fr)) != SIGEO_OK)
        return lib_fail(st, "Fisher-Rao norm at warm-up %g %%", level);
    out->stat[ST_FISHER_RAO] = fr.fr;
    out->log_fr = fr.log_fr;

    sigeo_proxy_options_t so = SIGEO_PROXY_OPTIONS_INIT;
    so.kind = SIGEO_PROXY_SIGEO;
    so.lambda_preset = level == 0.0 ? SIGEO_PRESET_ZERO_SHOT : SIGEO_PRESET_RECSYS;
    sigeo_proxy_result_t sr = SIGEO_PROXY_RESULT_INIT;
    if ((st = sigeo_proxy_compute(n->model, NULL, 0, d->measure_batches, k, &so, &sr)) != SIGEO_OK)
        return lib_fail(st, "SiGeo score at warm-up %g %%", level);
    out->stat[ST_SIGEO] = sr.score;
    out->stat[ST_ZICO] = sr.zico;
    out->lambda[0] = sr.lambda1;
    out->lambda[1] = sr.lambda2;
    out->lambda[2] = sr.lambda3;

    /* The three computations saw the same weights and batches: their
     * shared quantities must agree (a cheap guard against silent changes). */
    if (fabs(sr.loss - out->stat[ST_TRAIN_LOSS]) > 1e-6 * (1.0 + fabs(sr.loss)) ||
        fabs(sr.fr - fr.fr) > 1e-6 * fabs(fr.fr)) {
        fprintf(stderr,
                PROG ": inconsistent measurements at warm-up %g %%: loss %.9g (own) vs %.9g (SiGeo call), FR %.9g "
                     "(FISHER_RAO call) vs %.9g (SiGeo call)\n",
                level, out->stat[ST_TRAIN_LOSS], sr.loss, fr.fr, sr.fr);
        return -1;
    }
    return 0;
}

enum { RUN_INTERRUPTED = 1 }; /* run_network: stopped by a signal (not an error) */

/* Trains network `i` of repeat `seed`, measuring at every warm-up level.
 * Returns 0, -1 (failure, message printed) or RUN_INTERRUPTED (a signal
 * arrived: the network is incomplete and must not be reported). */
static int run_network(net_result_t *res, const config_t *c, data_t *d, int64_t seed, size_t i, int64_t rep,
                       progress_t *pg)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const int64_t h = c->hidden[i];
    res->hidden = h;
    res->init_seed = (uint64_t)seed + i;
    net_t n;
    int rc = net_build(&n, c, h, res->init_seed);
    res->params = n.total_params;
    sigeo_status_t st;
    size_t next_level = 0;
    /* progress counts SGD steps over the whole run */
    const int64_t steps_per_net = c->epochs * d->steps_per_epoch;
    const int64_t step0 = (int64_t)((size_t)rep * c->n_nets + i) * steps_per_net;
    for (int64_t e = 0; rc == 0 && e < c->epochs; e++) {
        uint64_t shuffle_seed = 1000u * (uint64_t)seed + (uint64_t)e;
        if ((st = sigeo_dataset_shuffle(d->train, shuffle_seed)) != SIGEO_OK) {
            rc = lib_fail(st, "shuffling the training set (seed %llu)", (unsigned long long)shuffle_seed);
            break;
        }
        for (int64_t b = 0; b <= d->steps_per_epoch; b++) {
            /* Levels due after b steps of the first epoch (b = steps_per_epoch: 100 %). */
            while (e == 0 && next_level < c->n_levels && d->level_steps[next_level] == b) {
                progress_update(pg, step0 + b, "seed %lld (%lld of %lld), network %zu of %zu (h = %lld), warm-up %g %%",
                                (long long)seed, (long long)rep + 1, (long long)c->seeds, i + 1, c->n_nets,
                                (long long)h, c->levels[next_level]);
                level_meas_t *m = &res->levels[next_level];
                m->steps = b;
                if ((rc = net_measure(&n, d, c, c->levels[next_level], m)) != 0)
                    break;
                next_level++;
            }
            if (rc != 0 || b == d->steps_per_epoch)
                break;
            /* The safe point: between two SGD steps. */
            if (interrupt_requested()) {
                rc = RUN_INTERRUPTED;
                break;
            }
            progress_update(pg, step0 + e * d->steps_per_epoch + b, "seed %lld (%lld of %lld), network %zu of %zu (h = %lld), epoch %lld",
                            (long long)seed, (long long)rep + 1, (long long)c->seeds, i + 1, c->n_nets, (long long)h,
                            (long long)e + 1);
            sigeo_batch_t batch = SIGEO_BATCH_INIT;
            double loss;
            if ((st = sigeo_dataset_batch(&batch, d->train, b, c->batch, SIGEO_BATCH_KEEP_LAST)) != SIGEO_OK) {
                rc = lib_fail(st, "training batch %lld of epoch %lld", (long long)b, (long long)e);
                break;
            }
            if ((st = sigeo_model_forward_backward(&loss, n.model, &batch)) != SIGEO_OK) {
                rc = lib_fail(st, "training step %lld of epoch %lld (h = %lld, seed %lld)", (long long)b,
                              (long long)e, (long long)h, (long long)seed);
                break;
            }
            if ((st = sigeo_optimizer_step(n.opt, c->lr)) != SIGEO_OK) {
                rc = lib_fail(st, "SGD step %lld of epoch %lld (h = %lld, seed %lld; try a smaller --lr)",
                              (long long)b, (long long)e, (long long)h, (long long)seed);
                break;
            }
        }
    }
    if (rc == 0) {
        if ((st = sigeo_evaluate(&res->final_loss[TG_TEST], NULL, &res->final_accuracy[TG_TEST], n.model, d->test,
                                 1000)) != SIGEO_OK)
            rc = lib_fail(st, "evaluating on the test set (h = %lld, seed %lld)", (long long)h, (long long)seed);
        else if ((st = sigeo_evaluate(&res->final_loss[TG_TRAIN], NULL, &res->final_accuracy[TG_TRAIN], n.model,
                                      d->train, 1000)) != SIGEO_OK)
            rc = lib_fail(st, "evaluating on the training set (h = %lld, seed %lld)", (long long)h, (long long)seed);
    }
    net_free(&n);
    res->seconds = seconds_since(&t0);
    if (rc == 0)
        progress_update(pg, step0 + steps_per_net, "seed %lld (%lld of %lld), network %zu of %zu (h = %lld) done: test loss %.4f",
                        (long long)seed, (long long)rep + 1, (long long)c->seeds, i + 1, c->n_nets, (long long)h,
                        res->final_loss[TG_TEST]);
    return rc;
}

/* ------------------------------------------------------------- analysis */

static size_t net_index(const config_t *c, int64_t rep, size_t i)
{
    return (size_t)rep * c->n_nets + i;
}

/* Spearman and Kendall of every (repeat, level, statistic, target), then
 * mean and sample sd over repeats. A correlation that is undefined (a
 * constant input) is left out of the mean, with a note. Only the first
 * n_complete repeats count (after an interrupt, the later ones lack
 * networks); the others' per-repeat values stay NaN. */
static int summarise(summary_row_t *rows, const net_result_t *res, const config_t *c, int64_t n_complete)
{
    const size_t N = c->n_nets;
    double *x = malloc(sizeof *x * N), *y = malloc(sizeof *y * N);
    double *rho = malloc(sizeof *rho * (size_t)c->seeds), *tau = malloc(sizeof *tau * (size_t)c->seeds);
    int rc = 0;
    if (!x || !y || !rho || !tau) {
        fprintf(stderr, PROG ": out of memory\n");
        rc = -1;
    }
    for (size_t l = 0; rc == 0 && l < c->n_levels; l++)
        for (int s = 0; rc == 0 && s < N_STATS; s++)
            for (int t = 0; rc == 0 && t < N_TARGETS; t++) {
                summary_row_t *row = &rows[(l * N_STATS + (size_t)s) * N_TARGETS + (size_t)t];
                int nv = 0;
                for (int64_t r = 0; r < c->seeds; r++)
                    row->seed_rho[r] = row->seed_tau[r] = NAN;
                for (int64_t r = 0; r < n_complete; r++) {
                    for (size_t i = 0; i < N; i++) {
                        const net_result_t *nr = &res[net_index(c, r, i)];
                        x[i] = nr->levels[l].stat[s];
                        y[i] = nr->final_loss[t];
                    }
                    double a, b;
                    sigeo_status_t st = sigeo_stats_spearman(&a, x, y, (int64_t)N);
                    if (st == SIGEO_OK)
                        st = sigeo_stats_kendall_tau(&b, x, y, (int64_t)N);
                    if (st == SIGEO_ERR_INVALID_ARG) {
                        if (!c->quiet)
                            fprintf(stderr, PROG ": note: %s at warm-up %g %% vs final %s, seed %lld: %s; left out\n",
                                    stat_names[s], c->levels[l], target_names[t],
                                    (long long)(c->first_seed + r), sigeo_last_error());
                        continue;
                    }
                    if (st != SIGEO_OK) {
                        rc = lib_fail(st, "rank correlation of %s at warm-up %g %% with the final %s", stat_names[s],
                                      c->levels[l], target_names[t]);
                        break;
                    }
                    row->seed_rho[r] = rho[nv] = a;
                    row->seed_tau[r] = tau[nv] = b;
                    nv++;
                }
                double mr = 0, mt = 0, vr = 0, vt = 0;
                for (int k = 0; k < nv; k++) {
                    mr += rho[k];
                    mt += tau[k];
                }
                mr = nv ? mr / nv : NAN;
                mt = nv ? mt / nv : NAN;
                for (int k = 0; k < nv; k++) {
                    vr += (rho[k] - mr) * (rho[k] - mr);
                    vt += (tau[k] - mt) * (tau[k] - mt);
                }
                row->rho = mr;
                row->tau = mt;
                row->rho_sd = nv > 1 ? sqrt(vr / (nv - 1)) : NAN;
                row->tau_sd = nv > 1 ? sqrt(vt / (nv - 1)) : NAN;
                row->n_valid = nv;
            }
    free(x);
    free(y);
    free(rho);
    free(tau);
    return rc;
}

static const summary_row_t *row_at(const summary_row_t *rows, size_t l, int s, int t)
{
    return &rows[(l * N_STATS + (size_t)s) * N_TARGETS + (size_t)t];
}

/* ---------------------------------------------------------------- output */

static void print_tables(const summary_row_t *rows, const config_t *c, const data_t *d, double seconds)
{
    printf("sigeo-fig3: Section 5.2 / Theorem 1 check (Figure 3) on Fashion-MNIST, libsigeo %s\n", sigeo_version());
    printf("%zu MLPs 784-h-10 (h = %lld..%lld), SGD lr %g, batch %lld, %lld epoch%s over %lld training images;\n",
           c->n_nets, (long long)c->hidden[0], (long long)c->hidden[c->n_nets - 1], c->lr, (long long)c->batch,
           (long long)c->epochs, c->epochs == 1 ? "" : "s", (long long)d->train_rows);
    printf("statistics on %lld fixed batches of %lld after p %% of the first epoch (%lld steps); %lld seed%s;\n",
           (long long)c->measure_batches, (long long)c->batch, (long long)d->steps_per_epoch, (long long)c->seeds,
           c->seeds == 1 ? "" : "s");
    printf("cells: Spearman rho / Kendall tau with the final loss, mean over seeds (sd in --json/--csv).\n");
    for (int t = 0; t < N_TARGETS; t++) {
        printf("\nfinal %s (%s)\n", target_names[t],
               t == TG_TEST ? "mean cross-entropy on the 10,000 test images"
                            : "mean cross-entropy on the whole training set");
        printf("%-8s", "warm-up");
        for (int s = 0; s < N_STATS; s++)
            printf("  %15s", stat_heads[s]);
        printf("\n");
        for (size_t l = 0; l < c->n_levels; l++) {
            printf("%6g %%", c->levels[l]);
            for (int s = 0; s < N_STATS; s++) {
                const summary_row_t *r = row_at(rows, l, s, t);
                char cell[40];
                if (isfinite(r->rho) && isfinite(r->tau))
                    snprintf(cell, sizeof cell, "%+.3f/%+.3f", r->rho, r->tau);
                else
                    snprintf(cell, sizeof cell, "undefined");
                printf("  %15s", cell);
            }
            printf("\n");
        }
    }
    printf("\nruntime %.1f s\n", seconds);
}

/* The JSON of the first n_done networks (all of them unless interrupted). */
static int write_json(const char *path, const summary_row_t *rows, const net_result_t *res, const config_t *c,
                      const data_t *d, double seconds, size_t n_done, int interrupted)
{
    output_file_t o;
    FILE *f = output_open(&o, path);
    if (!f) {
        fprintf(stderr, PROG ": --json: cannot create '%s': %s\n", path, strerror(errno));
        return -1;
    }
    int64_t seeds[1000];
    for (int64_t r = 0; r < c->seeds; r++)
        seeds[r] = c->first_seed + r;
    provenance_t pv = { "sigeo-fig3.result", 1, PROG, c->argc, c->argv, c->threads, seeds, (size_t)c->seeds,
                        interrupted };
    json_out_t j;
    json_out_init(&j, f, 1);
    json_out_begin_object(&j);
    provenance_json(&j, &pv);
    json_out_key(&j, "completed");
    json_out_begin_object(&j);
    json_out_key_int(&j, "networks", (int64_t)n_done);
    json_out_key_int(&j, "of_networks", (int64_t)((size_t)c->seeds * c->n_nets));
    json_out_key_int(&j, "seeds", (int64_t)(n_done / c->n_nets));
    json_out_end_object(&j);
    json_out_key_number(&j, "runtime_seconds", seconds);
    json_out_key(&j, "config");
    json_out_begin_object(&j);
    json_out_key_bool(&j, "quick", c->quick);
    json_out_key_string(&j, "data_dir", d->dir);
    json_out_key_int(&j, "train_rows", d->train_rows);
    json_out_key_int(&j, "test_rows", d->test_rows);
    json_out_key(&j, "hidden");
    json_out_begin_array(&j);
    for (size_t i = 0; i < c->n_nets; i++)
        json_out_int(&j, c->hidden[i]);
    json_out_end_array(&j);
    json_out_key(&j, "seeds");
    json_out_begin_array(&j);
    for (int64_t r = 0; r < c->seeds; r++)
        json_out_int(&j, c->first_seed + r);
    json_out_end_array(&j);
    json_out_key_string(&j, "init_seed", "seed + network index");
    json_out_key_string(&j, "shuffle_seed", "1000 * seed + epoch (sigeo_dataset_shuffle)");
    json_out_key_int(&j, "epochs", c->epochs);
    json_out_key_string(&j, "optimizer", "sgd");
    json_out_key_number(&j, "lr", c->lr);
    json_out_key_int(&j, "batch_size", c->batch);
    json_out_key_int(&j, "steps_per_epoch", d->steps_per_epoch);
    json_out_key(&j, "warmup_levels");
    json_out_begin_array(&j);
    for (size_t l = 0; l < c->n_levels; l++)
        json_out_number(&j, c->levels[l] / 100.0);
    json_out_end_array(&j);
    json_out_key(&j, "warmup_steps");
    json_out_begin_array(&j);
    for (size_t l = 0; l < c->n_levels; l++)
        json_out_int(&j, d->level_steps[l]);
    json_out_end_array(&j);
    json_out_key_int(&j, "measure_batches", c->measure_batches);
    json_out_key_string(&j, "measure_set", "the first measure_batches * batch_size training images in file order");
    json_out_key_string(&j, "fisher_rao", "exact per-sample (1/N) sum_n (theta . grad l_n)^2, sigeo_proxy_compute");
    json_out_key_string(&j, "mean_abs_grad", "sum over parameters of |batch-mean gradient|, mean over the batches");
    json_out_key_string(&j, "sigeo_lambdas", "(1,1,0) zero-shot at warm-up 0, (1,1,1) RecSys otherwise");
    json_out_key_string(&j, "zico", "module-wise, one module per layer (weight and bias), std ddof 0");
    json_out_key_string(&j, "correlation_sd", "sample standard deviation over seeds (null with one seed)");
    json_out_end_object(&j);

    json_out_key(&j, "rows");
    json_out_begin_array(&j);
    for (size_t l = 0; l < c->n_levels; l++)
        for (int s = 0; s < N_STATS; s++)
            for (int t = 0; t < N_TARGETS; t++) {
                const summary_row_t *r = row_at(rows, l, s, t);
                json_out_begin_object(&j);
                json_out_key_number(&j, "warmup", c->levels[l] / 100.0);
                json_out_key_string(&j, "statistic", stat_names[s]);
                json_out_key_string(&j, "target", target_names[t]);
                json_out_key_number(&j, "spearman", r->rho);
                json_out_key_number(&j, "kendall", r->tau);
                json_out_key_number(&j, "spearman_sd", r->rho_sd);
                json_out_key_number(&j, "kendall_sd", r->tau_sd);
                json_out_key_int(&j, "n_seeds", r->n_valid);
                json_out_key_int(&j, "n_networks", (int64_t)c->n_nets);
                json_out_key(&j, "spearman_per_seed");
                json_out_begin_array(&j);
                for (int64_t k = 0; k < c->seeds; k++)
                    json_out_number(&j, r->seed_rho[k]);
                json_out_end_array(&j);
                json_out_key(&j, "kendall_per_seed");
                json_out_begin_array(&j);
                for (int64_t k = 0; k < c->seeds; k++)
                    json_out_number(&j, r->seed_tau[k]);
                json_out_end_array(&j);
                json_out_end_object(&j);
            }
    json_out_end_array(&j);

    json_out_key(&j, "raw");
    json_out_begin_array(&j);
    for (int64_t r = 0; r < c->seeds && net_index(c, r, 0) < n_done; r++) {
        json_out_begin_object(&j);
        json_out_key_int(&j, "seed", c->first_seed + r);
        json_out_key(&j, "networks");
        json_out_begin_array(&j);
        for (size_t i = 0; i < c->n_nets && net_index(c, r, i) < n_done; i++) {
            const net_result_t *nr = &res[net_index(c, r, i)];
            json_out_begin_object(&j);
            json_out_key_int(&j, "index", (int64_t)i);
            json_out_key_int(&j, "hidden", nr->hidden);
            json_out_key_int(&j, "params", nr->params);
            json_out_key_int(&j, "init_seed", (int64_t)nr->init_seed);
            json_out_key_number(&j, "final_test_loss", nr->final_loss[TG_TEST]);
            json_out_key_number(&j, "final_train_loss", nr->final_loss[TG_TRAIN]);
            json_out_key_number(&j, "final_test_accuracy", nr->final_accuracy[TG_TEST]);
            json_out_key_number(&j, "final_train_accuracy", nr->final_accuracy[TG_TRAIN]);
            json_out_key_number(&j, "seconds", nr->seconds);
            json_out_key(&j, "levels");
            json_out_begin_array(&j);
            for (size_t l = 0; l < c->n_levels; l++) {
                const level_meas_t *m = &nr->levels[l];
                json_out_begin_object(&j);
                json_out_key_number(&j, "warmup", c->levels[l] / 100.0);
                json_out_key_int(&j, "steps", m->steps);
                for (int s = 0; s < N_STATS; s++)
                    json_out_key_number(&j, stat_names[s], m->stat[s]);
                json_out_key_number(&j, "log_fisher_rao", m->log_fr);
                json_out_key(&j, "sigeo_lambdas");
                json_out_begin_array(&j);
                for (int k = 0; k < 3; k++)
                    json_out_number(&j, m->lambda[k]);
                json_out_end_array(&j);
                json_out_end_object(&j);
            }
            json_out_end_array(&j);
            json_out_end_object(&j);
        }
        json_out_end_array(&j);
        json_out_end_object(&j);
    }
    json_out_end_array(&j);
    json_out_end_object(&j);
    const char *why;
    if (json_out_finish(&j, &why) != 0) {
        output_abort(&o);
        fprintf(stderr, PROG ": --json: writing '%s' failed: %s\n", path, why);
        return -1;
    }
    if (output_commit(&o) != 0) {
        fprintf(stderr, PROG ": --json: writing '%s' failed: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int write_csv(const char *path, const summary_row_t *rows, const config_t *c)
{
    output_file_t o;
    FILE *f = output_open(&o, path);
    if (!f) {
        fprintf(stderr, PROG ": --csv: cannot create '%s': %s\n", path, strerror(errno));
        return -1;
    }
    csv_out_t w;
    csv_out_init(&w, f);
    static const char *const head[] = { "warmup", "statistic", "target", "spearman", "kendall", "spearman_sd",
                                        "kendall_sd", "n_seeds", "n_networks" };
    for (size_t k = 0; k < sizeof head / sizeof head[0]; k++)
        csv_out_text(&w, head[k]);
    csv_out_end_row(&w);
    for (size_t l = 0; l < c->n_levels; l++)
        for (int s = 0; s < N_STATS; s++)
            for (int t = 0; t < N_TARGETS; t++) {
                const summary_row_t *r = row_at(rows, l, s, t);
                csv_out_number(&w, c->levels[l] / 100.0);
                csv_out_text(&w, stat_names[s]);
                csv_out_text(&w, target_names[t]);
                csv_out_number(&w, r->rho);
                csv_out_number(&w, r->tau);
                csv_out_number(&w, r->rho_sd);
                csv_out_number(&w, r->tau_sd);
                csv_out_int(&w, r->n_valid);
                csv_out_int(&w, (int64_t)c->n_nets);
                csv_out_end_row(&w);
            }
    if (csv_out_status(&w) != 0) {
        output_abort(&o);
        fprintf(stderr, PROG ": --csv: writing '%s' failed: %s\n", path, strerror(EIO));
        return -1;
    }
    if (output_commit(&o) != 0) {
        fprintf(stderr, PROG ": --csv: writing '%s' failed: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* One SVG per statistic: a panel per warm-up level, every completed
 * network of every seed a point (x = statistic, y = final test loss,
 * colour = h). */
static int write_svgs(const char *dir, const summary_row_t *rows, const net_result_t *res, const config_t *c,
                      const data_t *d, size_t n_done)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, PROG ": --svg: cannot create the directory '%s': %s\n", dir, strerror(errno));
        return -1;
    }
    const size_t n_points = n_done;
    if (n_points == 0)
        return 0; /* interrupted before the first network: nothing to plot */
    double *xs = malloc(sizeof *xs * n_points * c->n_levels);
    double *ys = malloc(sizeof *ys * n_points), *hs = malloc(sizeof *hs * n_points);
    svg_panel_t *panels = calloc(c->n_levels, sizeof *panels);
    char(*titles)[64] = calloc(c->n_levels, sizeof *titles);
    char(*subtitles)[96] = calloc(c->n_levels, sizeof *subtitles);
    int rc = 0;
    if (!xs || !ys || !hs || !panels || !titles || !subtitles) {
        fprintf(stderr, PROG ": out of memory\n");
        rc = -1;
    }
    int64_t hmin = c->hidden[0], hmax = c->hidden[0];
    for (size_t i = 0; i < c->n_nets; i++) {
        hmin = c->hidden[i] < hmin ? c->hidden[i] : hmin;
        hmax = c->hidden[i] > hmax ? c->hidden[i] : hmax;
    }
    for (size_t p = 0; rc == 0 && p < n_points; p++) {
        ys[p] = res[p].final_loss[TG_TEST];
        hs[p] = (double)res[p].hidden;
    }
    for (int s = 0; rc == 0 && s < N_STATS; s++) {
        for (size_t l = 0; l < c->n_levels; l++) {
            double *x = xs + l * n_points;
            for (size_t p = 0; p < n_points; p++)
                x[p] = res[p].levels[l].stat[s];
            const summary_row_t *r = row_at(rows, l, s, TG_TEST);
            snprintf(titles[l], sizeof titles[0], "warm-up %g %% (%lld steps)", c->levels[l],
                     (long long)d->level_steps[l]);
            if (!isfinite(r->rho) || !isfinite(r->tau))
                snprintf(subtitles[l], sizeof subtitles[0], "correlations undefined (no complete seed)");
            else if (r->n_valid > 1)
                snprintf(subtitles[l], sizeof subtitles[0], "Spearman %+.2f \xc2\xb1 %.2f, Kendall %+.2f \xc2\xb1 %.2f",
                         r->rho, r->rho_sd, r->tau, r->tau_sd);
            else
                snprintf(subtitles[l], sizeof subtitles[0], "Spearman %+.2f, Kendall %+.2f", r->rho, r->tau);
            svg_panel_t *pn = &panels[l];
            pn->title = titles[l];
            pn->subtitle = subtitles[l];
            pn->x_label = stat_labels[s];
            pn->y_label = "final test loss";
            pn->x = x;
            pn->y = ys;
            pn->color = hs;
            pn->n = n_points;
            pn->x_scale = SVG_SCALE_AUTO;
            pn->y_scale = SVG_SCALE_LINEAR;
        }
        char title[160], note[320], path[4096];
        snprintf(title, sizeof title, "Final test loss vs %s, measured after warm-up", stat_labels[s]);
        const size_t n_all = (size_t)c->seeds * c->n_nets;
        char points[96];
        if (n_points < n_all)
            snprintf(points, sizeof points, "interrupted: %zu of %zu networks", n_points, n_all);
        else
            snprintf(points, sizeof points, "%zu points", n_points);
        snprintf(note, sizeof note,
                 "Fashion-MNIST, 784-h-10 ReLU MLPs, SGD lr %g, batch %lld, %lld epoch%s; %lld seed%s x %zu "
                 "networks, %s; correlations: mean \xc2\xb1 sd over seeds",
                 c->lr, (long long)c->batch, (long long)c->epochs, c->epochs == 1 ? "" : "s", (long long)c->seeds,
                 c->seeds == 1 ? "" : "s", c->n_nets, points);
        snprintf(path, sizeof path, "%s/fig3_%s.svg", dir, stat_names[s]);
        svg_figure_t fig = { 0 };
        fig.title = title;
        fig.note = note;
        fig.columns = c->n_levels > 4 ? 4 : (int)c->n_levels;
        fig.color_label = "hidden width h";
        fig.color_min = (double)hmin;
        fig.color_max = (double)hmax;
        fig.color_integer = 1;
        if (svg_write_scatter_grid(path, &fig, panels, c->n_levels) != 0) {
            fprintf(stderr, PROG ": --svg: writing '%s' failed: %s\n", path, strerror(errno));
            rc = -1;
        }
    }
    free(xs);
    free(ys);
    free(hs);
    free(panels);
    free(titles);
    free(subtitles);
    return rc;
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    config_t c;
    int pr = parse_args(&c, argc, argv);
    if (pr == 1)
        return PROGRAM_EXIT_OK;
    if (pr != 0)
        return PROGRAM_EXIT_USAGE;
    c.argc = argc;
    c.argv = argv;
    interrupt_install(PROG);

    progress_t pg;
    progress_init(&pg, PROG, c.quiet ? PROGRESS_OFF : PROGRESS_AUTO);
    shown_progress = &pg;

    data_t d;
    progress_phase(&pg, "loading Fashion-MNIST", 0);
    int dl = data_load(&d, &c);
    if (dl != 0) {
        data_free(&d);
        return dl == 2 ? PROGRAM_EXIT_USAGE : PROGRAM_EXIT_FAILURE;
    }
    progress_end(&pg, "%lld training and %lld test images from %s", (long long)d.train_rows, (long long)d.test_rows,
                 d.dir);

    const size_t n_runs = (size_t)c.seeds * c.n_nets;
    net_result_t *res = calloc(n_runs, sizeof *res);
    const size_t n_rows = c.n_levels * N_STATS * N_TARGETS;
    summary_row_t *rows = calloc(n_rows, sizeof *rows);
    double *per_seed = malloc(sizeof *per_seed * n_rows * 2 * (size_t)c.seeds);
    for (size_t k = 0; rows && per_seed && k < n_rows; k++) {
        rows[k].seed_rho = per_seed + k * 2 * (size_t)c.seeds;
        rows[k].seed_tau = rows[k].seed_rho + c.seeds;
    }
    int rc = 0;
    if (!res || !rows || !per_seed) {
        fprintf(stderr, PROG ": out of memory\n");
        rc = -1;
    }
    /* Networks complete, in run order (repeat-major): all of them unless a
     * signal stopped the run. */
    size_t n_done = 0;
    progress_phase(&pg, "training", (int64_t)n_runs * c.epochs * d.steps_per_epoch);
    for (int64_t r = 0; rc == 0 && r < c.seeds; r++)
        for (size_t i = 0; rc == 0 && i < c.n_nets; i++) {
            if (interrupt_requested()) {
                rc = RUN_INTERRUPTED;
                break;
            }
            rc = run_network(&res[net_index(&c, r, i)], &c, &d, c.first_seed + r, i, r, &pg);
            if (rc == 0)
                n_done++;
        }
    const int interrupted = rc == RUN_INTERRUPTED;
    if (interrupted) {
        rc = 0;
        progress_note(&pg, "interrupted after %zu of %zu networks; writing what is complete", n_done, n_runs);
    } else if (rc == 0) {
        progress_end(&pg, "%zu networks", n_done);
    }
    if (rc == 0)
        rc = summarise(rows, res, &c, (int64_t)(n_done / c.n_nets));
    double seconds = progress_elapsed(&pg);
    if (rc == 0 && !c.quiet && !interrupted) {
        print_tables(rows, &c, &d, seconds);
        fflush(stdout); /* the table before any message about the output files */
    }
    if (rc == 0 && c.json_path)
        rc = write_json(c.json_path, rows, res, &c, &d, seconds, n_done, interrupted);
    if (rc == 0 && c.csv_path)
        rc = write_csv(c.csv_path, rows, &c);
    if (rc == 0 && c.svg_dir)
        rc = write_svgs(c.svg_dir, rows, res, &c, &d, n_done);
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, PROG ": writing to stdout failed: %s\n", strerror(errno));
        rc = -1;
    }
    free(res);
    free(rows);
    free(per_seed);
    data_free(&d);
    if (rc != 0)
        return PROGRAM_EXIT_FAILURE;
    return interrupted ? PROGRAM_EXIT_INTERRUPTED : PROGRAM_EXIT_OK;
}
