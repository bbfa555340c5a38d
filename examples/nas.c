/* sigeo-nas: sub-one-shot neural architecture search end to end
 * (the paper's SiGeo-NAS, docs/design.md §6, docs/nasrec.md §4-6):
 *
 *   1. data       synthetic Criteo-format CTR data (default), a Criteo TSV
 *                 file, or Fashion-MNIST; split 80/10/10
 *   2. warm-up    the supernet trained on a fraction of the training data
 *                 (1 % = sub-one-shot, 0 % = zero-shot, 100 % = one-shot)
 *                 with any-path/binomial path sampling, Adagrad, clip 5
 *   3. search     regularized evolution scored by the proxy on the warmed-up
 *                 supernet (inherited weights)
 *   4. retrain    the top-k from scratch, best by validation, test metrics
 *
 * Runs with no arguments; --help lists the options. --compare runs every
 * method of the paper's Table 3 on the same data and budget. The pipeline
 * itself is the library's (sigeo/nas.h, sigeo_nas_run_space): this program
 * parses flags, loads data, prints and writes JSON / SVG.
 *
 * Conventions of every example program (examples/common/README.md): usage
 * errors exit 2 before any data is read; progress lines on stderr (whole
 * lines in a log, one line in place on a terminal, none with --quiet);
 * Ctrl-C stops at the pipeline's next safe point (its progress callback)
 * and writes what is complete, marked "interrupted", exit 130; --out,
 * --plot and --save are written only at the end, atomically. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nas_mpi.h"
#include "cli.h"
#include "interrupt.h"
#include "json_out.h"
#include "output.h"
#include "program.h"
#include "progress.h"
#include "provenance.h"
#include "sigeo/io.h"
#include "sigeo/nas.h"
#include "sigeo/stats.h"
#include "svg_lines.h"

#define PROG "sigeo-nas"

typedef struct config {
    const char *space;
    const char *data;        /* "synthetic", "criteo:FILE", "fashion-mnist[:DIR]" */
    int64_t rows;            /* synthetic rows / max rows read */
    double warmup;           /* fraction of one epoch of the training split */
    const char *proxy;       /* sigeo, zico, fisher-rao, random, one-shot, or a proxy kind name */
    int32_t preset;
    uint32_t population, sample, children, cycles;
    int32_t top_k;
    int32_t k;               /* proxy batches */
    int64_t batch;
    double retrain_epochs;
    uint64_t seed;
    int64_t threads;
    int64_t workers;         /* top-k retrains at once (0 = auto) */
    int32_t scope;
    int64_t finetune;        /* one-shot: head fine-tune steps (0 = none) */
    int compare;
    int quiet;
    const char *out, *plot, *save;
    const char *resume;      /* --resume DIR: checkpoints there, continued from if present */
    const char *cache;       /* --cache FILE: the data's memory-mapped on-disk copy */
    int argc;                /* the command line, for the JSON's provenance */
    char **argv;
    char fmnist_dir[4096];   /* fashion-mnist: the directory found before any work */
    int32_t aggregate;       /* --aggregate: sigeo_rank_aggregation_t of an ensemble --proxy a+b+... */
    int aggregate_given;
} config_t;

/* The progress reporter, so an error message starts on a line of its own
 * after a terminal progress line (NULL before progress_init). */
static progress_t *shown_progress;

static int failed(const char *what, sigeo_status_t st)
{
    char detail[1024];
    snprintf(detail, sizeof detail, "%s", sigeo_last_error());
    if (shown_progress)
        progress_break(shown_progress);
    fprintf(stderr, PROG ": %s: %s (%s)\n", what, detail, sigeo_status_string(st));
    return PROGRAM_EXIT_FAILURE;
}

#define TRY(what, call)                   \
    do {                                  \
        sigeo_status_t st_ = (call);      \
        if (st_ != SIGEO_OK)              \
            return failed((what), st_);   \
    } while (0)

static void usage(void)
{
    printf("Usage: " PROG " [options]\n"
           "\n"
           "Sub-one-shot NAS with the SiGeo proxy: warm up a supernet on a small slice of the data, search it\n"
           "with regularized evolution scored by SiGeo, retrain the top-k from scratch, report test metrics.\n"
           "\n"
           "Options:\n"
           "  --space NAME         nasrec-small (default), nasrec-full, mlp\n"
           "  --data SRC           synthetic (default; Criteo-format, generated from --seed), criteo:FILE,\n"
           "                       fashion-mnist[:DIR] (implies --space mlp)\n"
           "  --rows N             rows of synthetic data / at most N rows read (default 200000)\n"
           "  --cache FILE         read the data memory-mapped from FILE; if FILE does not exist, write it\n"
           "                       first from --data (a Criteo TSV is streamed); --data/--rows then unused\n"
           "  --warmup F           warm-up fraction of one epoch in [0,1] (default 0.01: sub-one-shot)\n"
           "  --proxy NAME         sigeo (default), zico, fisher-rao, random, one-shot, or a baseline kind;\n"
           "                       A+B+... (e.g. sigeo+meco+synflow, at most 8 kinds) scores with the ensemble\n"
           "  --aggregate M        an ensemble's aggregation within each candidate set: log-rank (default,\n"
           "                       AZ-NAS), mean-rank, z-score\n"
           "  --preset P           scaled (default), tiny, full: space sizes (full = the paper's)\n"
           "  --population P --sample S --children C --cycles G   evolution (default 32 16 4 40)\n"
           "  --top-k K            candidates retrained from scratch (default 5; the paper: 15)\n"
           "  --k K                proxy batches (default 4; sigeo and zico need >= 2: ZiCo's std is across them)\n"
           "  --scope all|head     layers the proxy sees: all (the paper, default) or the head only (the\n"
           "                       official RecSys code's frozen-backbone setting)\n"
           "  --batch B            batch size (default 256)\n"
           "  --retrain-epochs E   epochs of each from-scratch training (default 1)\n"
           "  --seed S             seed of data, weights and search (default 1)\n"
           "  --threads N          compute threads (default 0 = all cores)\n"
           "  --workers W          candidates retrained at once, one thread each (default 0 = --threads)\n"
           "  --finetune T         one-shot: fine-tune the inherited head for T steps before scoring (NASRec:\n"
           "                       500; default 0 = the no-fine-tune ablation)\n"
           "  --compare            run random, zico-0, zico-1, sigeo-0, sigeo-1 and one-shot (100%%) on the\n"
           "                       same data and budget; print a table shaped like the paper's Table 3\n"
           "  --out FILE           write everything as JSON at the end (provenance, config, every evaluation,\n"
           "                       the top-k with their retrain results, best, phases, cycles), atomically\n"
           "  --plot FILE.svg      best and median population score per cycle\n"
           "  --save FILE          save the warmed-up supernet (safetensors; not with --compare)\n"
           "  --resume DIR         checkpoint the run into DIR (created if missing; every 5 cycles) and, when\n"
           "                       DIR holds a checkpoint, continue from it to the uninterrupted result\n"
           "  --progress           progress on stderr (the default; undoes an earlier --quiet)\n");
    program_help_options(stdout, PROGRAM_HELP_QUIET);
    printf("\n"
           "Examples:\n"
           "  " PROG "                                        the main job (synthetic CTR data, SiGeo, 1 %% warm-up)\n"
           "  " PROG " --preset tiny --rows 4000 --cycles 3   a run of a minute\n"
           "  " PROG " --compare --out table3.json             the paper's Table 3 methods on the same budget\n"
           "  " PROG " --data fashion-mnist --proxy zico        the mlp space on Fashion-MNIST\n"
           "\n");
    program_help_exit_status(stdout, PROGRAM_HELP_INTERRUPT);
}

/* 0: run; 1: done (--help, --version); -1: a usage error (message printed). */
static int parse(config_t *c, int argc, char **argv)
{
    cli_t cl;
    cli_init(&cl, PROG, argc, argv);
    int r, choice;
    int64_t v;
    static const char *const preset_names[3] = { "scaled", "tiny", "full" };
    static const char *const scope_names[2] = { "all", "head" };
    static const char *const aggregate_names[3] = { "log-rank", "mean-rank", "z-score" };
    while (cli_next(&cl)) {
        if (cli_flag(&cl, "--help") || cli_flag(&cl, "-h")) {
            usage();
            return 1;
        } else if (cli_flag(&cl, "--version")) {
            program_print_version(PROG);
            return 1;
        } else if (cli_flag(&cl, "--compare")) {
            c->compare = 1;
        } else if (cli_flag(&cl, "--quiet")) {
            c->quiet = 1;
        } else if (cli_flag(&cl, "--progress")) {
            c->quiet = 0;
        } else if ((r = cli_string(&cl, "--space", &c->space)) || (r = cli_string(&cl, "--data", &c->data)) ||
                   (r = cli_string(&cl, "--proxy", &c->proxy)) || (r = cli_string(&cl, "--cache", &c->cache)) ||
                   (r = cli_string(&cl, "--out", &c->out)) || (r = cli_string(&cl, "--plot", &c->plot)) ||
                   (r = cli_string(&cl, "--save", &c->save)) || (r = cli_string(&cl, "--resume", &c->resume)) ||
                   (r = cli_int64_option(&cl, "--rows", &c->rows, 100, INT64_C(1) << 40)) ||
                   (r = cli_double_option(&cl, "--warmup", &c->warmup, 0.0, 1.0)) ||
                   (r = cli_int64_option(&cl, "--batch", &c->batch, 1, 1 << 20)) ||
                   (r = cli_double_option(&cl, "--retrain-epochs", &c->retrain_epochs, 0.001, 1000)) ||
                   (r = cli_int64_option(&cl, "--finetune", &c->finetune, 0, INT64_C(1) << 30)) ||
                   (r = cli_int64_option(&cl, "--threads", &c->threads, 0, 1024)) ||
                   (r = cli_int64_option(&cl, "--workers", &c->workers, 0, 1024))) {
            if (r < 0)
                return -1;
        } else if ((r = cli_choice(&cl, "--preset", preset_names, 3, &choice)) != 0) {
            if (r < 0)
                return -1;
            c->preset = choice == 0 ? SIGEO_SPACE_SCALED : choice == 1 ? SIGEO_SPACE_TINY : SIGEO_SPACE_FULL;
        } else if ((r = cli_choice(&cl, "--scope", scope_names, 2, &choice)) != 0) {
            if (r < 0)
                return -1;
            c->scope = choice == 0 ? SIGEO_SCOPE_ALL : SIGEO_SCOPE_HEAD;
        } else if ((r = cli_choice(&cl, "--aggregate", aggregate_names, 3, &choice)) != 0) {
            if (r < 0)
                return -1;
            c->aggregate = choice == 0 ? SIGEO_AGG_LOG_RANK : choice == 1 ? SIGEO_AGG_MEAN_RANK : SIGEO_AGG_ZSCORE;
            c->aggregate_given = 1;
        } else if ((r = cli_int64_option(&cl, "--population", &v, 2, 1 << 20)) ||
                   (r = cli_int64_option(&cl, "--sample", &v, 1, 1 << 20)) ||
                   (r = cli_int64_option(&cl, "--children", &v, 1, 1 << 20)) ||
                   (r = cli_int64_option(&cl, "--cycles", &v, 0, 1 << 24)) ||
                   (r = cli_int64_option(&cl, "--top-k", &v, 1, 1000)) ||
                   (r = cli_int64_option(&cl, "--k", &v, 1, 1000)) ||
                   (r = cli_int64_option(&cl, "--seed", &v, 0, INT64_MAX))) {
            if (r < 0)
                return -1;
            const char *n = cl.name;
            if (!strcmp(n, "--population"))
                c->population = (uint32_t)v;
            else if (!strcmp(n, "--sample"))
                c->sample = (uint32_t)v;
            else if (!strcmp(n, "--children"))
                c->children = (uint32_t)v;
            else if (!strcmp(n, "--cycles"))
                c->cycles = (uint32_t)v;
            else if (!strcmp(n, "--top-k"))
                c->top_k = (int32_t)v;
            else if (!strcmp(n, "--k"))
                c->k = (int32_t)v;
            else
                c->seed = (uint64_t)v;
        } else {
            cli_unknown(&cl);
            return -1;
        }
    }
    if (c->sample > c->population) {
        fprintf(stderr, PROG ": --sample %u is larger than --population %u\n", c->sample, c->population);
        return -1;
    }
    return 0;
}

/* --------------------------------------------------------------- methods */

typedef struct method {
    const char *name;  /* for reports */
    const char *proxy; /* a proxy kind name, "random" or "one-shot" */
    double warmup;
} method_t;

/* The proxy kind named `name`, or -1. */
static int proxy_kind_of(const char *name)
{
    for (int k = 0; sigeo_proxy_kind_name((sigeo_proxy_kind_t)k); k++)
        if (!strcmp(sigeo_proxy_kind_name((sigeo_proxy_kind_t)k), name))
            return k;
    return -1;
}

/* The kinds of an ensemble --proxy A+B+... into kinds[]: their number (0
 * when `proxy` names no ensemble), or -1 with the offending member in
 * `bad` (a kind name that is not one, an empty one, more than the maximum). */
static int ensemble_of(const char *proxy, int32_t *kinds, char *bad, size_t bad_size)
{
    if (!strchr(proxy, '+'))
        return 0;
    int n = 0;
    for (const char *p = proxy;;) {
        const char *end = strchr(p, '+');
        const size_t len = end ? (size_t)(end - p) : strlen(p);
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name - 1 ? len : sizeof name - 1), p);
        const int k = len < sizeof name ? proxy_kind_of(name) : -1;
        if (k < 0 || n == SIGEO_SEARCH_ENSEMBLE_MAX) {
            snprintf(bad, bad_size, "%s", k < 0 ? name : "(more than 8 members)");
            return -1;
        }
        kinds[n++] = k;
        if (!end)
            return n;
        p = end + 1;
    }
}

static int known_method(const char *proxy)
{
    int32_t kinds[SIGEO_SEARCH_ENSEMBLE_MAX];
    char bad[64];
    const int n = ensemble_of(proxy, kinds, bad, sizeof bad);
    if (n > 0)
        return 1;
    if (n < 0) {
        fprintf(stderr, PROG ": --proxy %s: ensemble member '%s' is not a proxy kind (try --help)\n", proxy, bad);
        return 0;
    }
    if (!strcmp(proxy, "random") || !strcmp(proxy, "one-shot") || proxy_kind_of(proxy) >= 0)
        return 1;
    fprintf(stderr, PROG ": --proxy: unknown proxy '%s' (sigeo, zico, fisher-rao, random, one-shot, or a kind:", proxy);
    for (int k = 0; sigeo_proxy_kind_name((sigeo_proxy_kind_t)k); k++)
        fprintf(stderr, " %s", sigeo_proxy_kind_name((sigeo_proxy_kind_t)k));
    fprintf(stderr, ")\n");
    return 0;
}

/* Proxies whose ZiCo term takes a gradient std across the k batches
 * (sigeo_proxy_compute refuses k < 2 for them); Fisher-Rao and the
 * baselines accept k = 1. */
static int needs_two_batches(const char *proxy)
{
    int32_t kinds[SIGEO_SEARCH_ENSEMBLE_MAX];
    char bad[64];
    int n = ensemble_of(proxy, kinds, bad, sizeof bad);
    if (n <= 0) {
        kinds[0] = proxy_kind_of(proxy);
        n = 1;
    }
    for (int i = 0; i < n; i++)
        if (kinds[i] == SIGEO_PROXY_SIGEO || kinds[i] == SIGEO_PROXY_ZICO)
            return 1;
    return 0;
}

/* ------------------------------------------------------------ usage checks */

/* Training batches the run reads before anything else: the proxy's k, else
 * the retraining's first one (all drop an incomplete last batch). */
static int64_t batches_needed(const config_t *c)
{
    if (!c->compare && (!strcmp(c->proxy, "random") || !strcmp(c->proxy, "one-shot")))
        return 1;
    return c->k;
}

static int is_fashion_mnist(const char *data)
{
    return !strncmp(data, "fashion-mnist", 13) && (data[13] == '\0' || data[13] == ':');
}

/* Everything that can be checked without data, before any work: names,
 * sizes, the output paths and the input. 0, or -1 with ONE line printed. */
static int check_usage(config_t *c, int space_given)
{
    const int fmnist = is_fashion_mnist(c->data);
    if (!fmnist && strcmp(c->data, "synthetic") != 0 && strncmp(c->data, "criteo:", 7) != 0) {
        fprintf(stderr, PROG ": --data '%s': expected synthetic, criteo:FILE or fashion-mnist[:DIR]\n", c->data);
        return -1;
    }
    if (fmnist && !space_given)
        c->space = "mlp";
    /* an existing --cache is the data (--data and --rows unused): its kind and size are checked once read */
    const int cached = c->cache && access(c->cache, F_OK) == 0;
    if (strcmp(c->space, "nasrec-small") != 0 && strcmp(c->space, "nasrec-full") != 0 && strcmp(c->space, "mlp") != 0) {
        fprintf(stderr, PROG ": --space '%s': expected nasrec-small, nasrec-full or mlp\n", c->space);
        return -1;
    }
    if (!cached && fmnist != !strcmp(c->space, "mlp")) {
        fprintf(stderr, PROG ": --space %s does not fit %s data (mlp is for Fashion-MNIST, nasrec-* for CTR)\n",
                c->space, fmnist ? "image" : "CTR");
        return -1;
    }
    if (!c->compare && !known_method(c->proxy))
        return -1;
    if (c->k < 2 && (c->compare || needs_two_batches(c->proxy))) {
        fprintf(stderr, PROG ": --k %d: %s needs k >= 2 proxy batches (ZiCo's gradient std is taken across them)\n",
                (int)c->k, c->compare ? "--compare (zico, sigeo)" : c->proxy);
        return -1;
    }
    if (c->batch < 2 && !c->compare && !strcmp(c->proxy, "jacov")) {
        fprintf(stderr, PROG ": --batch %lld: jacov needs batches of at least 2 rows\n", (long long)c->batch);
        return -1;
    }
    if (c->finetune > 0 && !c->compare && strcmp(c->proxy, "one-shot") != 0) {
        fprintf(stderr, PROG ": --finetune %lld applies to --proxy one-shot (and --compare), not to --proxy %s\n",
                (long long)c->finetune, c->proxy);
        return -1;
    }
    if (c->save && c->compare) {
        fprintf(stderr, PROG ": --save: --compare runs six supernets; save one with a single run instead\n");
        return -1;
    }
    /* The training split: round(0.8 n) rows of each label value (stratified,
     * data.h), so at least 0.8 rows minus half a row per label value
     * (2 for CTR, 10 for Fashion-MNIST). */
    const int slack = fmnist ? 5 : 1;
    const int64_t batches = batches_needed(c), need = batches * c->batch, train = c->rows * 8 / 10 - slack;
    if (!cached && train < need) {
        const int64_t min_rows = ((need + slack) * 10 + 7) / 8;
        if (batches == 1)
            fprintf(stderr,
                    PROG ": --rows %lld: the 80 %% training split (about %lld rows) is smaller than one batch of "
                    "--batch %lld; use --rows %lld or more, or a smaller --batch\n",
                    (long long)c->rows, (long long)(train > 0 ? train : 0), (long long)c->batch, (long long)min_rows);
        else
            fprintf(stderr,
                    PROG ": --rows %lld: the 80 %% training split (about %lld rows) is smaller than --k %lld batches "
                    "of --batch %lld (%lld rows); use --rows %lld or more, or a smaller --batch or --k\n",
                    (long long)c->rows, (long long)(train > 0 ? train : 0), (long long)batches, (long long)c->batch,
                    (long long)need, (long long)min_rows);
        return -1;
    }
    if (c->aggregate_given && (c->compare || !strchr(c->proxy, '+'))) {
        fprintf(stderr, PROG ": --aggregate applies to an ensemble --proxy A+B+..., not to %s\n",
                c->compare ? "--compare" : c->proxy);
        return -1;
    }
    if (c->resume && c->compare) {
        fprintf(stderr, PROG ": --resume and --compare do not go together (one run per checkpoint)\n");
        return -1;
    }
    if (output_validate_file(PROG, "--out", c->out) || output_validate_file(PROG, "--plot", c->plot) ||
        output_validate_file(PROG, "--save", c->save) || output_validate_dir(PROG, "--resume", c->resume, 1))
        return -1;
    if (cached && access(c->cache, R_OK) != 0) {
        fprintf(stderr, PROG ": --cache %s: %s\n", c->cache, strerror(errno));
        return -1;
    }
    if (c->cache && !cached && output_validate_file(PROG, "--cache", c->cache))
        return -1;
    if (!cached && !strncmp(c->data, "criteo:", 7) && access(c->data + 7, R_OK) != 0) {
        fprintf(stderr, PROG ": --data %s: cannot read '%s': %s\n", c->data, c->data + 7, strerror(errno));
        return -1;
    }
    /* an explicit directory that does not hold the files is an error, not a
     * fall-back (cli_fashion_mnist_dir_strict's rule, said of --data) */
    if (cached) {
        /* the data is the cache's */
    } else if (fmnist && c->data[13] == ':') {
        char why[2048];
        int fell_back = 0;
        if (cli_fashion_mnist_dir(c->fmnist_dir, sizeof c->fmnist_dir, &fell_back, c->data + 14, why, sizeof why) ||
            fell_back) {
            fprintf(stderr, PROG ": --data %s: '%s' is not a directory holding the four Fashion-MNIST files "
                    "{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]\n", c->data, c->data + 14);
            return -1;
        }
    } else if (fmnist && cli_fashion_mnist_dir_strict(PROG, c->fmnist_dir, sizeof c->fmnist_dir, NULL)) {
        return -1;
    }
    /* the last check passed: the checkpoint directory may now be made */
    if (c->resume && mkdir(c->resume, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, PROG ": --resume %s: %s\n", c->resume, strerror(errno));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ data */

typedef struct data {
    sigeo_dataset_t *all, *train, *val, *test;
    int classification; /* 1: labels + softmax (Fashion-MNIST); 0: CTR */
    char source[4400]; /* holds a directory or file path of up to 4095 bytes */
} data_t;

static int64_t rows_of(sigeo_dataset_t *ds)
{
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    sigeo_dataset_get_info(&info, ds);
    return info.n_rows;
}


/* --cache: d->all (just loaded, or NULL for a Criteo file, streamed) is
 * written to the cache file, then the data is the file's mapping. */
static int use_cache(data_t *d, const config_t *c)
{
    sigeo_status_t st = SIGEO_OK;
    if (access(c->cache, F_OK) != 0) {
        st = d->all ? sigeo_dataset_cache_write(d->all, c->cache)
                    : sigeo_criteo_write_cache(NULL, c->data + 7, c->cache, NULL, c->rows, NULL, NULL);
        if (st != SIGEO_OK)
            return failed("writing the cache", st);
        sigeo_dataset_destroy(d->all);
        d->all = NULL;
    }
    if ((st = sigeo_dataset_cache_open(&d->all, c->cache, 0)) != SIGEO_OK)
        return failed("opening the cache", st);
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    sigeo_dataset_get_info(&info, d->all);
    d->classification = info.n_targets == 0;
    size_t n = strlen(d->source);
    snprintf(d->source + n, sizeof d->source - n, "%scache %s (%lld rows, memory-mapped)", n ? " via " : "",
             c->cache, (long long)info.n_rows);
    return 0;
}

/* Reads or generates the data and splits it; an exit status. */
static int load_data(data_t *d, const config_t *c)
{
    memset(d, 0, sizeof *d);
    sigeo_status_t st;
    if (c->cache && (access(c->cache, F_OK) == 0 || !strncmp(c->data, "criteo:", 7))) {
        int rc = use_cache(d, c);
        if (rc)
            return rc;
    } else if (!strcmp(c->data, "synthetic")) {
        sigeo_synth_options_t so = SIGEO_SYNTH_OPTIONS_INIT;
        so.seed = c->seed;
        so.n_rows = c->rows;
        sigeo_synth_result_t sr = SIGEO_SYNTH_RESULT_INIT;
        st = sigeo_synth_generate(&d->all, &sr, &so, NULL);
        if (st != SIGEO_OK)
            return failed("generating synthetic data", st);
        snprintf(d->source, sizeof d->source,
                 "synthetic Criteo-format, %lld rows, seed %llu (click rate %.3f, Bayes log loss %.4f)",
                 (long long)c->rows, (unsigned long long)c->seed, (double)sr.n_positives / (double)sr.n_rows,
                 sr.bayes_log_loss);
    } else if (!strncmp(c->data, "criteo:", 7)) {
        sigeo_criteo_stats_t cs = SIGEO_CRITEO_STATS_INIT;
        st = sigeo_criteo_load(&d->all, &cs, c->data + 7, NULL, c->rows);
        if (st != SIGEO_OK)
            return failed("reading the Criteo file", st);
        snprintf(d->source, sizeof d->source, "Criteo TSV %s, %lld rows", c->data + 7, (long long)cs.rows);
    } else {
        st = sigeo_fashion_mnist_load(&d->all, c->fmnist_dir, SIGEO_FASHION_MNIST_TRAIN, c->rows);
        if (st != SIGEO_OK)
            return failed("loading Fashion-MNIST", st);
        d->classification = 1;
        snprintf(d->source, sizeof d->source, "Fashion-MNIST %s (training images)", c->fmnist_dir);
    }
    if (c->cache && access(c->cache, F_OK) != 0) {
        int rc = use_cache(d, c);
        if (rc)
            return rc;
    }
    if (d->classification != !strcmp(c->space, "mlp")) { /* a --cache of the other kind */
        if (shown_progress)
            progress_break(shown_progress);
        fprintf(stderr, PROG ": --space %s does not fit %s data (mlp is for Fashion-MNIST, nasrec-* for CTR)\n",
                c->space, d->classification ? "image" : "CTR");
        return PROGRAM_EXIT_USAGE;
    }
    sigeo_split_options_t sp = SIGEO_SPLIT_OPTIONS_INIT;
    TRY("splitting 80/10/10", sigeo_dataset_split(&d->train, &d->val, &d->test, d->all, &sp));
    /* a file shorter than --rows: the rule of check_usage on the real split */
    const int64_t batches = batches_needed(c);
    if (rows_of(d->train) < batches * c->batch) {
        if (shown_progress)
            progress_break(shown_progress);
        fprintf(stderr, PROG ": --data %s: %lld rows, a training split of %lld, fewer than %lld batch%s of %lld\n",
                c->data, (long long)rows_of(d->all), (long long)rows_of(d->train), (long long)batches,
                batches == 1 ? "" : "es", (long long)c->batch);
        return PROGRAM_EXIT_USAGE;
    }
    return 0;
}

static void free_data(data_t *d)
{
    sigeo_dataset_destroy(d->all);
    sigeo_dataset_destroy(d->train);
    sigeo_dataset_destroy(d->val);
    sigeo_dataset_destroy(d->test);
}

/* ------------------------------------------------------------ one run's log */

/* One search evaluation, copied from the record callback (whose pointers
 * are borrowed for the call): what an interrupted run still reports. */
typedef struct eval_rec {
    int64_t index, cycle;
    int32_t status;
    int has_proxy;
    double score, seconds;
    char *arch, *message;
    sigeo_proxy_result_t proxy;
    uint32_t n_members;      /* an ensemble's member scores and the set its score is over */
    double members[SIGEO_SEARCH_ENSEMBLE_MAX];
    uint64_t aggregate_over;
} eval_rec_t;

/* What one method's run produced as it happened, and its result when it
 * completed. */
typedef struct run_log {
    const method_t *method;
    eval_rec_t *evals;
    size_t n_evals, cap_evals;
    double *best, *median, *cycle_x; /* per cycle: the plot and the JSON */
    size_t n_cycles, cap;
    int lost;                  /* a record could not be kept (out of memory) */
    int phase;                 /* the phase being reported, -1 before the first */
    int64_t step;              /* its last step */
    double value;              /* its last value (training loss) */
    int64_t search_total;      /* planned evaluations (the search's reports) */
    double best_score;         /* of the evaluations so far */
    sigeo_nas_result_t *res;   /* NULL unless the run completed */
    sigeo_context_t *ctx;      /* the result's supernet lives in it */
} run_log_t;

/* The progress callback's and the record callbacks' state. */
typedef struct watch {
    const config_t *c;
    progress_t *pg;
    run_log_t *log; /* the run in progress */
} watch_t;

static const char *phase_name(int phase)
{
    static const char *const names[] = { "warm-up", "search", "retrain" };
    return phase >= 0 && phase <= 2 ? names[phase] : "start";
}

/* The progress phase's label: "search", or "sigeo-1 search" with --compare. */
static void phase_label(char *buf, size_t size, const watch_t *w, int phase)
{
    if (w->c->compare)
        snprintf(buf, size, "%s %s", w->log->method->name, phase_name(phase));
    else
        snprintf(buf, size, "%s", phase_name(phase));
}

/* Starts reporting a phase (total 0: not known yet, set by its first report). */
static void start_phase(watch_t *w, int phase, int64_t total)
{
    char label[48];
    phase_label(label, sizeof label, w, phase);
    progress_phase(w->pg, label, total);
    w->log->phase = phase;
    w->log->step = 0;
    w->log->value = NAN;
}

/* Ends the phase being reported with its last figures. */
static void end_phase(watch_t *w)
{
    run_log_t *L = w->log;
    if (L->phase == SIGEO_NAS_PHASE_WARMUP && L->step == 0)
        progress_end(w->pg, "no training steps");
    else if (L->phase == SIGEO_NAS_PHASE_WARMUP)
        progress_end(w->pg, "%lld steps, training loss %.4f", (long long)L->step, L->value);
    else if (L->phase == SIGEO_NAS_PHASE_SEARCH)
        progress_end(w->pg, "%zu evaluations, best score %.6g", L->n_evals, L->best_score);
    else if (L->phase == SIGEO_NAS_PHASE_RETRAIN)
        progress_end(w->pg, "training loss %.4f", L->value);
    L->phase = -1;
}

/* The pipeline's progress: one progress phase per pipeline phase, started
 * as soon as the previous one is known to be over (the warm-up before the
 * run, the retraining after the last planned evaluation); the return value
 * cancels the run at this safe point after a signal. */
static int on_progress(const sigeo_nas_progress_t *p, void *user)
{
    watch_t *w = user;
    run_log_t *L = w->log;
    if (p->phase != L->phase) {
        if (L->phase >= 0)
            end_phase(w);
        start_phase(w, p->phase, p->total);
    } else if (w->pg->total == 0 && p->total > 0) {
        w->pg->total = p->total; /* a phase started before its size was known */
    }
    if (p->phase == SIGEO_NAS_PHASE_SEARCH)
        L->search_total = p->total;
    L->step = p->step;
    L->value = p->value;
    if (p->phase == SIGEO_NAS_PHASE_SEARCH && !isfinite(p->value))
        progress_update(w->pg, p->step, "no candidate scored yet");
    else if (p->phase == SIGEO_NAS_PHASE_SEARCH)
        progress_update(w->pg, p->step, "best score %.6g", p->value);
    else if (p->phase == SIGEO_NAS_PHASE_RETRAIN)
        progress_update(w->pg, p->step, "candidate %d, loss %.4f", (int)p->candidate + 1, p->value);
    else
        progress_update(w->pg, p->step, "loss %.4f", p->value);
    return interrupt_requested();
}

static char *copy_string(const char *s)
{
    if (!s)
        s = "";
    const size_t n = strlen(s) + 1;
    char *t = malloc(n);
    if (t)
        memcpy(t, s, n);
    return t;
}

static void on_record(const sigeo_evaluation_t *e, void *user)
{
    run_log_t *L = ((watch_t *)user)->log;
    if (L->n_evals == L->cap_evals) {
        size_t cap = L->cap_evals ? 2 * L->cap_evals : 64;
        eval_rec_t *ev = realloc(L->evals, cap * sizeof *ev);
        if (!ev) {
            L->lost = 1;
            return;
        }
        L->evals = ev;
        L->cap_evals = cap;
    }
    eval_rec_t *r = &L->evals[L->n_evals];
    memset(r, 0, sizeof *r);
    r->index = (int64_t)e->index;
    r->cycle = e->cycle;
    r->status = e->status;
    r->score = e->score;
    r->seconds = e->seconds;
    r->arch = copy_string(e->arch_text);
    r->message = copy_string(e->status == SIGEO_OK ? "" : e->message);
    if (e->proxy) {
        r->has_proxy = 1;
        r->proxy = *e->proxy;
    }
    /* the SIGEO_1.1 fields exist only when the record's struct_size covers them */
    const bool has_members = e->struct_size >= offsetof(sigeo_evaluation_t, aggregate_over) + sizeof e->aggregate_over;
    if (has_members && e->n_members > 0 && e->n_members <= SIGEO_SEARCH_ENSEMBLE_MAX && e->member_scores) {
        r->n_members = e->n_members;
        memcpy(r->members, e->member_scores, e->n_members * sizeof *r->members);
        r->aggregate_over = e->aggregate_over;
    }
    if (!r->arch || !r->message) {
        free(r->arch);
        free(r->message);
        L->lost = 1;
        return;
    }
    L->n_evals++;
    if (e->status == SIGEO_OK && !(e->score <= L->best_score))
        L->best_score = e->score;
    /* the last planned evaluation: the retraining starts now */
    if (L->phase == SIGEO_NAS_PHASE_SEARCH && L->search_total > 0 && r->index + 1 >= L->search_total) {
        watch_t *w = user;
        end_phase(w);
        start_phase(w, SIGEO_NAS_PHASE_RETRAIN, 0);
    }
}

static void on_cycle(const sigeo_cycle_report_t *r, void *user)
{
    run_log_t *w = ((watch_t *)user)->log;
    if (w->n_cycles == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        double *b = realloc(w->best, cap * sizeof *b), *md = realloc(w->median, cap * sizeof *md),
               *x = realloc(w->cycle_x, cap * sizeof *x);
        if (b)
            w->best = b;
        if (md)
            w->median = md;
        if (x)
            w->cycle_x = x;
        if (!b || !md || !x)
            return;
        w->cap = cap;
    }
    w->cycle_x[w->n_cycles] = (double)r->cycle + 1;
    w->best[w->n_cycles] = r->best_score;
    w->median[w->n_cycles] = r->median_score;
    w->n_cycles++;
}

static void run_log_free(run_log_t *L)
{
    for (size_t i = 0; i < L->n_evals; i++) {
        free(L->evals[i].arch);
        free(L->evals[i].message);
    }
    free(L->evals);
    free(L->best);
    free(L->median);
    free(L->cycle_x);
    sigeo_nas_result_destroy(L->res);
    sigeo_context_destroy(L->ctx);
}

/* The message of the last failed evaluation, or NULL. */
static const char *last_failure(const run_log_t *L)
{
    for (size_t i = L->n_evals; i-- > 0;)
        if (L->evals[i].status != SIGEO_OK)
            return L->evals[i].message;
    return NULL;
}

/* One method through sigeo_nas_run_space: a fresh context (same seed, same
 * initial weights for every method), the space built on the data. Returns
 * 0 (L->res set), RUN_INTERRUPTED, or an exit status. */
#define RUN_INTERRUPTED (-1)
static int run_method(run_log_t *L, const config_t *c, const data_t *d, watch_t *w)
{
    const method_t *me = L->method;
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.seed = c->seed;
    co.threads = (uint32_t)c->threads;
    TRY("creating the context", sigeo_context_create(&L->ctx, &co));

    sigeo_space_options_t sp = SIGEO_SPACE_OPTIONS_INIT;
    sp.preset = c->preset;
    sigeo_search_options_t so = SIGEO_SEARCH_OPTIONS_INIT;
    so.population = c->population;
    so.sample_size = c->sample;
    so.children = c->children;
    so.cycles = c->cycles;
    so.seed = c->seed;
    so.mutation_schedule = SIGEO_MUTATE_NASREC;
    sigeo_proxy_options_t po = SIGEO_PROXY_OPTIONS_INIT;
    po.scope = c->scope;
    sigeo_one_shot_options_t os = SIGEO_ONE_SHOT_OPTIONS_INIT;
    os.finetune_steps = c->finetune;
    sigeo_nas_options_t o = SIGEO_NAS_OPTIONS_INIT;
    o.seed = c->seed;
    o.batch_size = c->batch;
    o.warmup_fraction = me->warmup;
    o.search = &so;
    o.proxy = &po;
    o.one_shot = &os;
    o.k = (uint32_t)c->k;
    o.top_k = c->top_k;
    o.workers = (int32_t)c->workers;
    o.retrain_epochs = c->retrain_epochs;
    o.progress = on_progress; /* also the way to stop: it returns interrupt_requested() */
    o.progress_user = w;
    o.record = on_record;
    o.record_user = w;
    o.cycle = on_cycle;
    o.cycle_user = w;
    o.checkpoint_dir = c->resume; /* NULL: no checkpoints */
    o.checkpoint_every = 5;
    o.resume = c->resume != NULL;
    if (!strcmp(me->proxy, "random")) {
        o.scorer = SIGEO_NAS_SCORE_RANDOM;
        so.kind = SIGEO_SEARCH_RANDOM;
    } else if (!strcmp(me->proxy, "one-shot")) {
        o.scorer = SIGEO_NAS_SCORE_ONE_SHOT;
    } else {
        o.scorer = SIGEO_NAS_SCORE_PROXY;
        char bad[64];
        const int n = ensemble_of(me->proxy, so.ensemble_kinds, bad, sizeof bad);
        if (n > 0) { /* checked by check_usage */
            so.n_ensemble = (uint32_t)n;
            so.ensemble_aggregate = c->aggregate;
            po.kind = so.ensemble_kinds[0];
        } else {
            po.kind = proxy_kind_of(me->proxy);
        }
    }
    progress_note(w->pg, "[%s] warm-up %.1f%%, search %s (P %u S %u C %u G %u), retrain top-%d", me->name,
                  100 * me->warmup, me->proxy, c->population, c->sample, c->children, c->cycles, (int)c->top_k);
    w->log = L;
    L->phase = -1;
    L->best_score = NAN;
    if (me->warmup > 0)
        start_phase(w, SIGEO_NAS_PHASE_WARMUP, 0);
    sigeo_status_t st = nas_mpi_run_space(&L->res, L->ctx, c->space, &sp, d->train, d->val, d->test, &o);
    if (st == SIGEO_ERR_CANCELLED && interrupt_requested()) {
        progress_break(w->pg);
        progress_note(w->pg, "[%s] interrupted in the %s after %zu evaluations; writing what is complete", me->name,
                      phase_name(L->phase), L->n_evals);
        return RUN_INTERRUPTED;
    }
    if (st != SIGEO_OK) {
        char what[512];
        const char *why = last_failure(L);
        /* "no architecture could be scored": say why the evaluations failed */
        if (why && L->n_evals > 0)
            snprintf(what, sizeof what, "%s (the last of %zu evaluations failed with: %s)", me->name, L->n_evals, why);
        else
            snprintf(what, sizeof what, "%s", me->name);
        return failed(what, st);
    }
    sigeo_nas_summary_t s = SIGEO_NAS_SUMMARY_INIT;
    sigeo_nas_result_get_summary(&s, L->res);
    if (L->phase >= 0) {
        L->value = s.val_logloss;
        L->phase = -1;
        progress_end(w->pg, "top-%d retrained, best validation log loss %.4f", (int)s.top_n, s.val_logloss);
    }
    return 0;
}
/* -------------------------------------------------------------- reporting */

/* Text of an architecture in a buffer the caller frees (NULL when out of memory). */
static char *arch_string(const int32_t *arch, int32_t n)
{
    size_t len = 0;
    sigeo_arch_format(NULL, 0, &len, arch, n);
    char *buf = malloc(len + 1);
    if (buf)
        sigeo_arch_format(buf, len + 1, NULL, arch, n);
    return buf;
}

static char *arch_description(const sigeo_model_t *m, const int32_t *arch, int32_t n)
{
    size_t len = 0;
    sigeo_model_describe_arch(NULL, 0, &len, m, arch, n);
    char *buf = malloc(len + 1);
    if (buf)
        sigeo_model_describe_arch(buf, len + 1, NULL, m, arch, n);
    return buf;
}

/* A result's summary with its selected architecture as text and described. */
typedef struct best_view {
    sigeo_nas_summary_t s;
    char *text, *desc; /* NULL when out of memory */
} best_view_t;

static void best_view(best_view_t *b, const sigeo_nas_result_t *r)
{
    b->s = (sigeo_nas_summary_t)SIGEO_NAS_SUMMARY_INIT;
    b->text = b->desc = NULL;
    sigeo_nas_result_get_summary(&b->s, r);
    int32_t *arch = malloc((size_t)b->s.n_arch * sizeof *arch);
    if (arch && sigeo_nas_result_best_arch(arch, b->s.n_arch, r) == SIGEO_OK) {
        b->text = arch_string(arch, b->s.n_arch);
        b->desc = arch_description(sigeo_nas_result_model(r), arch, b->s.n_arch);
    }
    free(arch);
}

static void best_view_free(best_view_t *b)
{
    free(b->text);
    free(b->desc);
}


/* One evaluation as an object. */
static void json_evaluation(json_out_t *j, const sigeo_evaluation_t *e)
{
    json_out_begin_object(j);
    json_out_key_int(j, "index", (int64_t)e->index);
    json_out_key_int(j, "cycle", e->cycle);
    json_out_key_string(j, "arch", e->arch_text);
    json_out_key_string(j, "status", e->status == SIGEO_OK ? "ok" : sigeo_status_string((sigeo_status_t)e->status));
    if (e->status != SIGEO_OK)
        json_out_key_string(j, "message", e->message);
    json_out_key_number(j, "score", e->status == SIGEO_OK ? e->score : NAN);
    json_out_key_number(j, "seconds", e->seconds);
    if (e->proxy) {
        json_out_key_number(j, "zico", e->proxy->zico);
        json_out_key_number(j, "fr", e->proxy->fr);
        json_out_key_number(j, "log_fr", e->proxy->log_fr);
        json_out_key_number(j, "loss", e->proxy->loss);
        json_out_key_int(j, "flags", e->proxy->flags);
    }
    if (e->n_members > 0 && e->member_scores) {
        /* an ensemble: each member's raw score (--proxy order), and the size
         * of the set "score" was aggregated over (provisional: the
         * evaluations up to this one; top_k holds the final aggregates) */
        json_out_key(j, "members");
        json_out_begin_array(j);
        for (uint32_t k = 0; k < e->n_members; k++)
            json_out_number(j, e->member_scores[k]);
        json_out_end_array(j);
        json_out_key_int(j, "aggregate_over", (int64_t)e->aggregate_over);
    }
    json_out_end_object(j);
}

/* A completed run's evaluations are the result's (a --resume run's include
 * those of the runs before it); an interrupted run's, those recorded here. */
static void json_evaluations(json_out_t *j, const run_log_t *L)
{
    json_out_begin_array(j);
    const uint64_t n = L->res ? sigeo_nas_result_evaluation_count(L->res) : L->n_evals;
    for (uint64_t i = 0; i < n; i++) {
        sigeo_evaluation_t e = SIGEO_EVALUATION_INIT;
        if (L->res) {
            if (sigeo_nas_result_evaluation(&e, L->res, i) != SIGEO_OK)
                continue;
        } else {
            const eval_rec_t *r = &L->evals[i];
            e.index = (uint64_t)r->index;
            e.cycle = r->cycle;
            e.status = r->status;
            e.score = r->score;
            e.seconds = r->seconds;
            e.arch_text = r->arch;
            e.message = r->message;
            e.proxy = r->has_proxy ? &r->proxy : NULL;
            e.n_members = r->n_members;
            e.member_scores = r->n_members ? r->members : NULL;
            e.aggregate_over = r->aggregate_over;
        }
        json_evaluation(j, &e);
    }
    json_out_end_array(j);
}

/* Best score first; the earlier evaluation first among equal scores. */
static int by_score(const void *a, const void *b)
{
    const eval_rec_t *x = *(const eval_rec_t *const *)a, *y = *(const eval_rec_t *const *)b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* An interrupted run's top-k so far: its best distinct successfully scored
 * architectures (what sigeo_search_top would return), not retrained. */
static void json_top_k_so_far(json_out_t *j, const run_log_t *L, int32_t top_k)
{
    const eval_rec_t **ok = malloc((L->n_evals ? L->n_evals : 1) * sizeof *ok);
    size_t n = 0;
    for (size_t i = 0; ok && i < L->n_evals; i++)
        if (L->evals[i].status == SIGEO_OK)
            ok[n++] = &L->evals[i];
    if (n)
        qsort(ok, n, sizeof *ok, by_score);
    json_out_begin_array(j);
    int32_t written = 0;
    for (size_t i = 0; i < n && written < top_k; i++) {
        int seen = 0;
        for (size_t p = 0; p < i && !seen; p++)
            seen = !strcmp(ok[p]->arch, ok[i]->arch);
        if (seen)
            continue;
        json_out_begin_object(j);
        json_out_key_int(j, "rank", written++);
        json_out_key_string(j, "arch", ok[i]->arch);
        json_out_key_number(j, "score", ok[i]->score);
        json_out_key_bool(j, "retrained", 0);
        json_out_end_object(j);
    }
    json_out_end_array(j);
    free(ok);
}

/* A completed run's top-k with their retrain results. */
static void json_top_k(json_out_t *j, const sigeo_nas_result_t *r, const sigeo_nas_summary_t *s, int classification)
{
    int32_t *arch = malloc((size_t)s->n_arch * sizeof *arch);
    json_out_begin_array(j);
    for (int32_t i = 0; arch && i < s->top_n; i++) {
        sigeo_nas_candidate_t cd = SIGEO_NAS_CANDIDATE_INIT;
        if (sigeo_nas_result_candidate(&cd, arch, s->n_arch, r, i) != SIGEO_OK)
            continue;
        char *text = arch_string(arch, s->n_arch);
        json_out_begin_object(j);
        json_out_key_int(j, "rank", cd.rank);
        json_out_key_string(j, "arch", text);
        json_out_key_number(j, "score", cd.score);
        json_out_key_bool(j, "retrained", 1);
        json_out_key_bool(j, "selected", i == s->best);
        json_out_key_string(j, "status", sigeo_status_string((sigeo_status_t)cd.status));
        json_out_key_number(j, "val_logloss", cd.val_logloss);
        json_out_key_number(j, classification ? "val_accuracy" : "val_auc",
                            classification ? cd.val_accuracy : cd.val_auc);
        json_out_key_number(j, "test_logloss", cd.test_logloss);
        json_out_key_number(j, classification ? "test_accuracy" : "test_auc",
                            classification ? cd.test_accuracy : cd.test_auc);
        json_out_key_int(j, "params", cd.params);
        json_out_key_int(j, "flops", cd.flops);
        json_out_key_number(j, "seconds", cd.seconds);
        json_out_end_object(j);
        free(text);
    }
    json_out_end_array(j);
    free(arch);
}

static void json_best(json_out_t *j, const sigeo_nas_result_t *r, int classification)
{
    best_view_t b;
    best_view(&b, r);
    const sigeo_nas_summary_t s = b.s;
    json_out_key(j, "best");
    json_out_begin_object(j);
    json_out_key_string(j, "arch", b.text);
    json_out_key_string(j, "description", b.desc);
    json_out_key_number(j, "val_logloss", s.val_logloss);
    json_out_key_number(j, "test_logloss", s.test_logloss);
    json_out_key_number(j, classification ? "test_accuracy" : "test_auc",
                        classification ? s.test_accuracy : s.test_auc);
    json_out_key_int(j, "params", s.params);
    json_out_key_int(j, "flops", s.flops);
    json_out_end_object(j);
    json_out_key(j, "phases");
    json_out_begin_object(j);
    json_out_key(j, "warmup");
    json_out_begin_object(j);
    json_out_key_number(j, "seconds", s.warmup_seconds);
    json_out_key_int(j, "steps", s.warmup_steps);
    json_out_end_object(j);
    json_out_key(j, "search");
    json_out_begin_object(j);
    json_out_key_number(j, "seconds", s.search_seconds);
    json_out_key_int(j, "evaluations", (int64_t)s.evaluations);
    json_out_key_int(j, "failed", (int64_t)s.failed);
    json_out_end_object(j);
    json_out_key(j, "retrain");
    json_out_begin_object(j);
    json_out_key_number(j, "seconds", s.retrain_seconds);
    json_out_key_int(j, "candidates", s.top_n);
    json_out_end_object(j);
    json_out_end_object(j);
    best_view_free(&b);
}

static const char *lambda_preset_name(int32_t p)
{
    static const char *const names[] = { "custom", "zero-shot", "recsys", "vision" };
    return p >= 0 && p <= 3 ? names[p] : NULL;
}

/* How a run scored and searched: the pipeline's provenance (the summary's,
 * when the run completed) and the proxy's full provenance (lambdas,
 * estimator, variant, flags, seed, threads) from its first scored
 * candidate, the same settings every candidate was scored with. */
static void json_pipeline(json_out_t *j, const config_t *c, const run_log_t *L)
{
    const method_t *me = L->method;
    json_out_key(j, "pipeline");
    json_out_begin_object(j);
    json_out_key_string(j, "scorer", !strcmp(me->proxy, "random")     ? "random"
                                     : !strcmp(me->proxy, "one-shot") ? "one-shot"
                                                                      : "proxy");
    json_out_key_string(j, "search", !strcmp(me->proxy, "random") ? "random" : "evolution");
    json_out_key_string(j, "scope", c->scope == SIGEO_SCOPE_HEAD ? "head" : "all");
    if (L->res) {
        sigeo_nas_summary_t s = SIGEO_NAS_SUMMARY_INIT;
        sigeo_nas_result_get_summary(&s, L->res);
        json_out_key_string(j, "lambda_preset", s.lambda_preset >= 0 ? lambda_preset_name(s.lambda_preset) : NULL);
        json_out_key_int(j, "k", s.k);
        json_out_key_int(j, "seed", (int64_t)s.seed);
        json_out_key_number(j, "warmup_fraction", s.warmup_fraction);
        json_out_key_int(j, "batch_size", s.batch_size);
        json_out_key_int(j, "finetune_steps", s.finetune_steps);
        json_out_key_int(j, "libsigeo_version_number", s.library_version);
    } else {
        json_out_key_int(j, "k", c->k);
        json_out_key_int(j, "seed", (int64_t)c->seed);
        json_out_key_number(j, "warmup_fraction", me->warmup);
        json_out_key_int(j, "batch_size", c->batch);
        json_out_key_int(j, "finetune_steps", !strcmp(me->proxy, "one-shot") ? c->finetune : 0);
        json_out_key_int(j, "libsigeo_version_number", sigeo_version_number());
    }
    json_out_key_int(j, "threads", c->threads);
    for (size_t i = 0; i < L->n_evals; i++)
        if (L->evals[i].has_proxy && L->evals[i].status == SIGEO_OK) {
            json_out_key(j, "proxy");
            json_out_begin_object(j);
            provenance_json_proxy_result(j, &L->evals[i].proxy);
            json_out_end_object(j);
            break;
        }
    json_out_end_object(j);
}

static void json_cycles(json_out_t *j, const run_log_t *w)
{
    json_out_key(j, "cycles");
    json_out_begin_array(j);
    for (size_t i = 0; i < w->n_cycles; i++) {
        json_out_begin_object(j);
        json_out_key_int(j, "cycle", (int64_t)w->cycle_x[i]);
        json_out_key_number(j, "best", w->best[i]);
        json_out_key_number(j, "median", w->median[i]);
        json_out_end_object(j);
    }
    json_out_end_array(j);
}

/* One method's run as members of the current object. */
static void json_run(json_out_t *j, const config_t *c, const data_t *d, const run_log_t *L)
{
    json_out_key_string(j, "method", L->method->name);
    json_out_key_string(j, "proxy", L->method->proxy);
    json_out_key_number(j, "warmup", L->method->warmup);
    json_out_key_bool(j, "complete", L->res != NULL);
    if (!L->res)
        json_out_key_string(j, "stopped_in", phase_name(L->phase));
    if (L->lost)
        json_out_key_bool(j, "evaluations_incomplete", 1); /* out of memory while recording */
    json_pipeline(j, c, L);
    json_out_key(j, "evaluations");
    json_evaluations(j, L);
    json_cycles(j, L);
    json_out_key(j, "top_k");
    if (L->res) {
        sigeo_nas_summary_t s = SIGEO_NAS_SUMMARY_INIT;
        sigeo_nas_result_get_summary(&s, L->res);
        json_top_k(j, L->res, &s, d->classification);
        json_best(j, L->res, d->classification);
    } else {
        json_top_k_so_far(j, L, c->top_k);
    }
}

static void json_config(json_out_t *j, const config_t *c, const data_t *d)
{
    json_out_key(j, "config");
    json_out_begin_object(j);
    json_out_key_string(j, "space", c->space);
    json_out_key_string(j, "preset", c->preset == SIGEO_SPACE_FULL ? "full" : c->preset == SIGEO_SPACE_TINY ? "tiny"
                                                                                                         : "scaled");
    json_out_key_string(j, "data", d->source);
    json_out_key_int(j, "rows", c->rows);
    json_out_key_int(j, "train_rows", rows_of(d->train));
    json_out_key_int(j, "val_rows", rows_of(d->val));
    json_out_key_int(j, "test_rows", rows_of(d->test));
    json_out_key_number(j, "warmup", c->warmup);
    json_out_key_string(j, "proxy", c->compare ? "compare" : c->proxy);
    json_out_key_string(j, "scope", c->scope == SIGEO_SCOPE_HEAD ? "head" : "all");
    json_out_key_int(j, "population", c->population);
    json_out_key_int(j, "sample", c->sample);
    json_out_key_int(j, "children", c->children);
    json_out_key_int(j, "cycles", c->cycles);
    json_out_key_int(j, "top_k", c->top_k);
    json_out_key_int(j, "k", c->k);
    json_out_key_int(j, "batch", c->batch);
    json_out_key_number(j, "retrain_epochs", c->retrain_epochs);
    json_out_key_int(j, "finetune", c->finetune);
    json_out_key_int(j, "seed", (int64_t)c->seed);
    json_out_key_int(j, "threads", c->threads);
    json_out_key_int(j, "workers", c->workers);
    json_out_end_object(j);
}

/* What the --out document holds (an output_json_fn's `user`). */
typedef struct report {
    const config_t *c;
    const data_t *d;
    const run_log_t *logs;
    size_t n_started, n_methods;
    int interrupted;
} report_t;

/* The run that is "the" result: the only one, or sigeo-1 of --compare once complete. */
static const run_log_t *main_run(const report_t *r)
{
    if (!r->c->compare)
        return r->n_started ? &r->logs[0] : NULL;
    const size_t sigeo1 = r->n_methods - 2;
    return sigeo1 < r->n_started && r->logs[sigeo1].res ? &r->logs[sigeo1] : NULL;
}

/* The --out document: the provenance block, the config, the run(s). */
static void write_json(json_out_t *j, const void *user)
{
    const report_t *r = user;
    const config_t *c = r->c;
    const int64_t seed = (int64_t)c->seed;
    size_t n_complete = 0;
    for (size_t i = 0; i < r->n_started; i++)
        n_complete += r->logs[i].res != NULL;
    const provenance_t pv = { PROG ".result", 1, PROG, c->argc, c->argv, c->threads, &seed, 1, r->interrupted };
    json_out_begin_object(j);
    provenance_json(j, &pv);
    json_config(j, c, r->d);
    provenance_json_completed(j, "methods", (int64_t)n_complete, (int64_t)r->n_methods);
    if (c->compare) {
        json_out_key(j, "runs");
        json_out_begin_array(j);
        for (size_t i = 0; i < r->n_started; i++) {
            json_out_begin_object(j);
            json_run(j, c, r->d, &r->logs[i]);
            json_out_end_object(j);
        }
        json_out_end_array(j);
        json_out_key(j, "compare");
        json_out_begin_array(j);
        for (size_t i = 0; i < r->n_started; i++) {
            if (!r->logs[i].res)
                continue;
            best_view_t b;
            best_view(&b, r->logs[i].res);
            const sigeo_nas_summary_t s = b.s;
            json_out_begin_object(j);
            json_out_key_string(j, "method", r->logs[i].method->name);
            json_out_key_number(j, "warmup", r->logs[i].method->warmup);
            json_out_key_number(j, "test_logloss", s.test_logloss);
            json_out_key_number(j, "test_auc", s.test_auc);
            json_out_key_number(j, "search_seconds", s.warmup_seconds + s.search_seconds);
            json_out_key_int(j, "evaluations", (int64_t)s.evaluations);
            json_out_key_string(j, "arch", b.text);
            json_out_end_object(j);
            best_view_free(&b);
        }
        json_out_end_array(j);
    }
    /* the main result's keys at the top level (single: the run itself) */
    const run_log_t *m = main_run(r);
    if (m)
        json_run(j, c, r->d, m);
    json_out_end_object(j);
}

static void print_single(const config_t *c, const data_t *d, const sigeo_nas_result_t *r)
{
    best_view_t b;
    best_view(&b, r);
    const sigeo_nas_summary_t s = b.s;
    printf("\nSiGeo-NAS on %s, space %s, proxy %s, warm-up %.1f%%\n", d->source, c->space, c->proxy,
           100 * c->warmup);
    printf("best architecture   %s\n", b.text ? b.text : "?");
    printf("  described as      %s\n", b.desc ? b.desc : "?");
    if (d->classification)
        printf("test log loss %.4f   test accuracy %.4f", s.test_logloss, s.test_accuracy);
    else
        printf("test log loss %.4f   test AUC %.4f", s.test_logloss, s.test_auc);
    printf("   (validation log loss %.4f)\n", s.val_logloss);
    printf("params %lld   FLOPs %lld per sample\n", (long long)s.params, (long long)s.flops);
    printf("seconds: warm-up %.1f (%lld steps)  search %.1f (%llu evaluations, %llu failed)  retrain %.1f "
           "(top-%d)\n",
           s.warmup_seconds, (long long)s.warmup_steps, s.search_seconds, (unsigned long long)s.evaluations,
           (unsigned long long)s.failed, s.retrain_seconds, (int)s.top_n);
    best_view_free(&b);
}

/* The search plot: best and median population score per cycle (whole-number
 * cycle ticks), written atomically. 0, or an exit status. */
static int write_plot(const config_t *c, const run_log_t *w, int interrupted)
{
    if (!c->plot || w->n_cycles == 0)
        return 0;
    svg_series_t ser[2] = { { "best", w->cycle_x, w->best, w->n_cycles, "#1f77b4" },
                            { "median", w->cycle_x, w->median, w->n_cycles, "#ff7f0e" } };
    char title[256];
    snprintf(title, sizeof title, "%s search on %s: population score per cycle%s", c->proxy, c->space,
             interrupted ? " (interrupted)" : "");
    if (svg_write_lines(c->plot, title, "cycle", "proxy score (higher is better)", ser, 2)) {
        fprintf(stderr, PROG ": --plot %s: %s\n", c->plot, strerror(errno));
        return PROGRAM_EXIT_FAILURE;
    }
    return 0;
}

static void print_compare(const config_t *c, const run_log_t *logs, size_t n)
{
    printf("\n%-10s %8s %10s %10s %14s %12s\n", "method", "warm-up", "log loss", "AUC", "search s", "evals");
    for (size_t i = 0; i < n; i++) {
        sigeo_nas_summary_t s = SIGEO_NAS_SUMMARY_INIT;
        sigeo_nas_result_get_summary(&s, logs[i].res);
        printf("%-10s %7.0f%% %10.4f %10.4f %14.1f %12llu\n", logs[i].method->name, 100 * logs[i].method->warmup,
               s.test_logloss, s.test_auc, s.warmup_seconds + s.search_seconds, (unsigned long long)s.evaluations);
    }
    printf("(search s = warm-up + search; every method then retrains its top-%d the same way)\n", c->top_k);
}

int main(int argc, char **argv)
{
    /* designated: three branches appended fields here at once; a positional
     * list silently shifted every value after a new one */
    config_t c = { .space = "nasrec-small", .data = "synthetic", .rows = 200000, .warmup = 0.01, .proxy = "sigeo",
                   .preset = SIGEO_SPACE_SCALED, .population = 32, .sample = 16, .children = 4, .cycles = 40,
                   .top_k = 5, .k = 4, .batch = 256, .retrain_epochs = 1.0, .seed = 1, .threads = 0, .workers = 0,
                   .scope = SIGEO_SCOPE_ALL, .aggregate = SIGEO_AGG_LOG_RANK };
    if (prog_mpi_start(&argc, &argv, PROG)) /* under mpirun: every rank, rank 0 speaks */
        return PROGRAM_EXIT_FAILURE;
    c.argc = argc;
    c.argv = argv;
    int space_given = 0;
    for (int i = 1; i < argc; i++)
        space_given |= !strncmp(argv[i], "--space", 7);
    const int pr = parse(&c, argc, argv);
    if (pr != 0)
        return pr > 0 ? PROGRAM_EXIT_OK : PROGRAM_EXIT_USAGE;
    if (check_usage(&c, space_given))
        return PROGRAM_EXIT_USAGE;

    interrupt_install(PROG);
    progress_t pg;
    progress_init(&pg, PROG, c.quiet ? PROGRESS_OFF : PROGRESS_AUTO);
    shown_progress = &pg;

    data_t d;
    progress_phase(&pg, "data", 0);
    int rc = prog_mpi_agree(load_data(&d, &c), PROG); /* one rank's bad data stops them all */
    if (rc) {
        free_data(&d);
        return rc;
    }
    progress_end(&pg, "%s; train/val/test %lld/%lld/%lld rows", d.source, (long long)rows_of(d.train),
                 (long long)rows_of(d.val), (long long)rows_of(d.test));

    static const method_t compare_methods[] = {
        { "random", "random", 0.01 },    { "zico-0", "zico", 0.0 },  { "zico-1", "zico", 0.01 },
        { "sigeo-0", "sigeo", 0.0 },     { "sigeo-1", "sigeo", 0.01 }, { "one-shot", "one-shot", 1.0 },
    };
    const method_t single = { c.proxy, c.proxy, c.warmup };
    const method_t *methods = c.compare ? compare_methods : &single;
    const size_t n_methods = c.compare ? sizeof compare_methods / sizeof compare_methods[0] : 1;
    run_log_t *logs = calloc(n_methods, sizeof *logs);
    if (!logs) {
        fprintf(stderr, PROG ": out of memory\n");
        free_data(&d);
        return PROGRAM_EXIT_FAILURE;
    }
    watch_t w = { &c, &pg, NULL };
    size_t n_started = 0;
    int interrupted = 0;
    for (size_t i = 0; i < n_methods && rc == 0; i++) {
        if (prog_mpi_any(interrupt_requested())) { /* every rank decides together (MPI) */
            interrupted = 1;
            break;
        }
        logs[i].method = &methods[i];
        n_started = i + 1;
        rc = run_method(&logs[i], &c, &d, &w);
        if (rc == RUN_INTERRUPTED) {
            interrupted = 1;
            rc = 0;
            break;
        }
        if (rc == 0 && c.save && prog_mpi_rank() == 0) {
            sigeo_status_t st = sigeo_model_save(sigeo_nas_result_model(logs[i].res), c.save);
            if (st != SIGEO_OK)
                rc = failed("--save: saving the supernet", st);
        }
    }
    if (rc == 0 && !interrupted) {
        if (c.compare)
            print_compare(&c, logs, n_methods);
        else
            print_single(&c, &d, logs[0].res);
    }
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, PROG ": writing to stdout failed: %s\n", strerror(errno));
        rc = PROGRAM_EXIT_FAILURE;
    }
    /* outputs: at the end only, and after a signal what is complete */
    const report_t rep = { &c, &d, logs, n_started, n_methods, interrupted };
    /* under mpirun rank 0 writes for the job */
    if (rc == 0 && c.out && prog_mpi_rank() == 0 && output_write_json(PROG, "--out", c.out, 1, write_json, &rep) != 0)
        rc = PROGRAM_EXIT_FAILURE;
    if (rc == 0 && !c.compare && n_started && prog_mpi_rank() == 0)
        rc = write_plot(&c, &logs[0], interrupted);
    for (size_t i = 0; i < n_methods; i++)
        run_log_free(&logs[i]);
    free(logs);
    free_data(&d);
    if (rc != 0)
        return rc;
    return interrupted ? PROGRAM_EXIT_INTERRUPTED : PROGRAM_EXIT_OK;
}
