/* sigeo-nas: sub-one-shot neural architecture search end to end
 * (the paper's SiGeo-NAS, DESIGN.md §6, nasrec.md §4-6):
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
 * method of the paper's Table 3 on the same data and budget. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "json_out.h"
#include "sigeo/io.h"
#include "sigeo/proxy.h"
#include "sigeo/search.h"
#include "sigeo/train.h"
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
    int32_t scope;
    int compare;
    int quiet;
    int progress;            /* 1 = progress lines on stderr */
    const char *out, *plot, *save;
    const char *cache;       /* --cache FILE: the data's memory-mapped on-disk copy */
} config_t;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int failed(const char *what, sigeo_status_t st)
{
    fprintf(stderr, PROG ": %s: %s (%s)\n", what, sigeo_last_error(), sigeo_status_string(st));
    return 1;
}

/* In run_method: report, then clean up through `done`. */
#define CHECK(what, call)                 \
    do {                                  \
        sigeo_status_t st_ = (call);      \
        if (st_ != SIGEO_OK) {            \
            rc = failed((what), st_);     \
            goto done;                    \
        }                                 \
    } while (0)

#define TRY(what, call)                   \
    do {                                  \
        sigeo_status_t st_ = (call);      \
        if (st_ != SIGEO_OK)              \
            return failed((what), st_);   \
    } while (0)

static void usage(void)
{
    printf("usage: " PROG " [options]\n"
           "Sub-one-shot NAS with the SiGeo proxy: warm up a supernet on a small slice of the data, search it\n"
           "with regularized evolution scored by SiGeo, retrain the top-k from scratch, report test metrics.\n\n"
           "  --space NAME         nasrec-small (default), nasrec-full, mlp\n"
           "  --data SRC           synthetic (default; Criteo-format, generated from --seed), criteo:FILE,\n"
           "                       fashion-mnist[:DIR] (implies --space mlp)\n"
           "  --rows N             rows of synthetic data / at most N rows read (default 200000)\n"
           "  --cache FILE         read the data memory-mapped from FILE; if FILE does not exist, write it\n"
           "                       first from --data (a Criteo TSV is streamed); --data/--rows then unused\n"
           "  --warmup F           warm-up fraction of one epoch in [0,1] (default 0.01: sub-one-shot)\n"
           "  --proxy NAME         sigeo (default), zico, fisher-rao, random, one-shot, or a baseline kind\n"
           "  --preset P           scaled (default), tiny, full: space sizes (full = the paper's)\n"
           "  --population P --sample S --children C --cycles G   evolution (default 32 16 4 40)\n"
           "  --top-k K            candidates retrained from scratch (default 5; the paper: 15)\n"
           "  --k K                proxy batches (default 4)\n"
           "  --scope all|head     layers the proxy sees: all (the paper, default) or the head only (the\n"
           "                       official RecSys code's frozen-backbone setting)\n"
           "  --batch B            batch size (default 256)\n"
           "  --retrain-epochs E   epochs of each from-scratch training (default 1)\n"
           "  --seed S             seed of data, weights and search (default 1)\n"
           "  --threads N          compute threads (default 0 = all cores)\n"
           "  --compare            run random, zico-0, zico-1, sigeo-0, sigeo-1 and one-shot (100%%) on the\n"
           "                       same data and budget; print a table shaped like the paper's Table 3\n"
           "  --out FILE           write everything as JSON (config, evaluations, top-k, best, phases)\n"
           "  --plot FILE.svg      best and median population score per cycle\n"
           "  --save FILE          save the warmed-up supernet (safetensors)\n"
           "  --progress / --quiet progress lines on stderr (default: when stderr is a terminal)\n");
}

static int parse(config_t *c, int argc, char **argv)
{
    cli_t cl;
    cli_init(&cl, PROG, argc, argv);
    int r;
    int64_t v;
    while (cli_next(&cl)) {
        if (cli_flag(&cl, "--help") || cli_flag(&cl, "-h")) {
            usage();
            exit(0);
        } else if (cli_flag(&cl, "--compare")) {
            c->compare = 1;
        } else if (cli_flag(&cl, "--quiet")) {
            c->quiet = 1;
            c->progress = 0;
        } else if (cli_flag(&cl, "--progress")) {
            c->progress = 1;
        } else if ((r = cli_option(&cl, "--space")) != 0) {
            if (r < 0)
                return -1;
            c->space = cl.value;
        } else if ((r = cli_option(&cl, "--data")) != 0) {
            if (r < 0)
                return -1;
            c->data = cl.value;
        } else if ((r = cli_option(&cl, "--proxy")) != 0) {
            if (r < 0)
                return -1;
            c->proxy = cl.value;
        } else if ((r = cli_option(&cl, "--preset")) != 0) {
            if (r < 0)
                return -1;
            if (!strcmp(cl.value, "scaled"))
                c->preset = SIGEO_SPACE_SCALED;
            else if (!strcmp(cl.value, "full"))
                c->preset = SIGEO_SPACE_FULL;
            else if (!strcmp(cl.value, "tiny"))
                c->preset = SIGEO_SPACE_TINY;
            else {
                cli_error(&cl, "--preset: '%s' is not scaled, tiny or full", cl.value);
                return -1;
            }
        } else if ((r = cli_option(&cl, "--rows")) != 0) {
            if (r < 0 || cli_int64(&cl, &c->rows, 100, INT64_C(1) << 40))
                return -1;
        } else if ((r = cli_option(&cl, "--warmup")) != 0) {
            if (r < 0 || cli_double(&cl, &c->warmup, 0.0, 1.0))
                return -1;
        } else if ((r = cli_option(&cl, "--population")) != 0) {
            if (r < 0 || cli_int64(&cl, &v, 2, 1 << 20))
                return -1;
            c->population = (uint32_t)v;
        } else if ((r = cli_option(&cl, "--sample")) != 0) {
            if (r < 0 || cli_int64(&cl, &v, 1, 1 << 20))
                return -1;
            c->sample = (uint32_t)v;
        } else if ((r = cli_option(&cl, "--children")) != 0) {
            if (r < 0 || cli_int64(&cl, &v, 1, 1 << 20))
                return -1;
            c->children = (uint32_t)v;
        } else if ((r = cli_option(&cl, "--cycles")) != 0) {
            if (r < 0 || cli_int64(&cl, &v, 0, 1 << 24))
                return -1;
            c->cycles = (uint32_t)v;
        } else if ((r = cli_option(&cl, "--top-k")) != 0) {
            if (r < 0 || cli_int64(&cl, &v, 1, 1000))
                return -1;
            c->top_k = (int32_t)v;
        } else if ((r = cli_option(&cl, "--k")) != 0) {
            if (r < 0 || cli_int64(&cl, &v, 1, 1000))
                return -1;
            c->k = (int32_t)v;
        } else if ((r = cli_option(&cl, "--batch")) != 0) {
            if (r < 0 || cli_int64(&cl, &c->batch, 1, 1 << 20))
                return -1;
        } else if ((r = cli_option(&cl, "--retrain-epochs")) != 0) {
            if (r < 0 || cli_double(&cl, &c->retrain_epochs, 0.001, 1000))
                return -1;
        } else if ((r = cli_option(&cl, "--scope")) != 0) {
            if (r < 0)
                return -1;
            if (!strcmp(cl.value, "all"))
                c->scope = SIGEO_SCOPE_ALL;
            else if (!strcmp(cl.value, "head"))
                c->scope = SIGEO_SCOPE_HEAD;
            else {
                cli_error(&cl, "--scope: '%s' is not all or head", cl.value);
                return -1;
            }
        } else if ((r = cli_option(&cl, "--threads")) != 0) {
            if (r < 0 || cli_int64(&cl, &c->threads, 0, 1024))
                return -1;
        } else if ((r = cli_option(&cl, "--cache")) != 0) {
            if (r < 0)
                return -1;
            c->cache = cl.value;
        } else if ((r = cli_option(&cl, "--seed")) != 0) {
            if (r < 0 || cli_int64(&cl, &v, 0, INT64_MAX))
                return -1;
            c->seed = (uint64_t)v;
        } else if ((r = cli_option(&cl, "--out")) != 0) {
            if (r < 0)
                return -1;
            c->out = cl.value;
        } else if ((r = cli_option(&cl, "--plot")) != 0) {
            if (r < 0)
                return -1;
            c->plot = cl.value;
        } else if ((r = cli_option(&cl, "--save")) != 0) {
            if (r < 0)
                return -1;
            c->save = cl.value;
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

/* ------------------------------------------------------------------ data */

typedef struct data {
    sigeo_dataset_t *all, *train, *val, *test;
    int classification; /* 1: labels + softmax (Fashion-MNIST); 0: CTR */
    int64_t n_dense;
    uint32_t n_fields;
    int64_t tables[64];
    char source[300];
} data_t;

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
    } else if (!strncmp(c->data, "fashion-mnist", 13) && (c->data[13] == '\0' || c->data[13] == ':')) {
        char dir[256], why[512];
        if (cli_fashion_mnist_dir(dir, sizeof dir, NULL, c->data[13] == ':' ? c->data + 14 : NULL, why, sizeof why)) {
            fprintf(stderr, PROG ": %s\n", why);
            return 1;
        }
        st = sigeo_fashion_mnist_load(&d->all, dir, SIGEO_FASHION_MNIST_TRAIN, c->rows);
        if (st != SIGEO_OK)
            return failed("loading Fashion-MNIST", st);
        d->classification = 1;
        snprintf(d->source, sizeof d->source, "Fashion-MNIST %s (training images)", dir);
    } else {
        fprintf(stderr, PROG ": --data '%s': expected synthetic, criteo:FILE or fashion-mnist[:DIR]\n", c->data);
        return 2;
    }
    if (c->cache && access(c->cache, F_OK) != 0) {
        int rc = use_cache(d, c);
        if (rc)
            return rc;
    }
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    TRY("dataset info", sigeo_dataset_get_info(&info, d->all));
    d->n_dense = info.n_dense;
    d->n_fields = info.n_sparse_fields;
    size_t nt = 64;
    if (d->n_fields > 0)
        TRY("table sizes", sigeo_dataset_table_sizes(d->tables, &nt, d->all));
    sigeo_split_options_t sp = SIGEO_SPLIT_OPTIONS_INIT;
    TRY("splitting 80/10/10", sigeo_dataset_split(&d->train, &d->val, &d->test, d->all, &sp));
    return 0;
}

static void free_data(data_t *d)
{
    sigeo_dataset_destroy(d->all);
    sigeo_dataset_destroy(d->train);
    sigeo_dataset_destroy(d->val);
    sigeo_dataset_destroy(d->test);
}

static int64_t rows_of(sigeo_dataset_t *ds)
{
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    sigeo_dataset_get_info(&info, ds);
    return info.n_rows;
}

/* --------------------------------------------------------------- phases */

typedef struct progress_ctx {
    const config_t *c;
    const char *phase;
    double t0;
} progress_ctx_t;

static int on_progress(const sigeo_train_progress_t *p, void *user)
{
    progress_ctx_t *pc = user;
    if (pc->c->progress && p->phase == 0)
        fprintf(stderr, "\r  %s: step %lld/%lld  loss %.4f  %.0f samples/s  %.1fs   ", pc->phase, (long long)p->step,
                (long long)p->total_steps, p->loss, p->samples_per_second, now() - pc->t0);
    return 0;
}

static sigeo_status_t build_supernet(sigeo_model_t **out, sigeo_context_t *ctx, const config_t *c, const data_t *d)
{
    sigeo_space_options_t so = SIGEO_SPACE_OPTIONS_INIT;
    so.preset = c->preset;
    so.n_dense = d->n_dense;
    so.n_sparse_fields = d->n_fields;
    so.table_rows = d->tables;
    so.n_classes = d->classification ? 10 : 0;
    return sigeo_space_build(out, ctx, c->space, &so);
}

/* Warm-up: `fraction` of one epoch (nasrec.md §4: Adagrad lr 0.12, eps 1e-2,
 * warm-up cosine schedule with W = T/10, clip 5, binomial any-path). */
static sigeo_status_t warm_up(sigeo_train_result_t *r, sigeo_model_t *m, const config_t *c, const data_t *d,
                              double fraction, int64_t *steps_out)
{
    int64_t samples = (int64_t)llround(fraction * (double)rows_of(d->train));
    *steps_out = samples / c->batch;
    if (*steps_out == 0)
        return SIGEO_OK;
    sigeo_optimizer_options_t oo = SIGEO_OPTIMIZER_OPTIONS_INIT;
    oo.kind = SIGEO_OPT_ADAGRAD;
    oo.lr = 0.12;
    oo.eps = 1e-2;
    oo.clip_norm = 5.0;
    sigeo_optimizer_t *opt;
    sigeo_status_t st = sigeo_optimizer_create(&opt, m, &oo);
    if (st != SIGEO_OK)
        return st;
    sigeo_lr_schedule_t sch = SIGEO_LR_SCHEDULE_INIT;
    sch.kind = SIGEO_LR_WARMUP_COSINE;
    sch.lr = 0.12;
    sch.lr_min = 1e-8;
    sch.total_steps = *steps_out;
    sch.warmup_steps = *steps_out / 10;
    sigeo_train_options_t to = SIGEO_TRAIN_OPTIONS_INIT;
    to.sampling = SIGEO_SAMPLE_ANY_PATH_BINOMIAL;
    /* full path with a probability decaying over Swarm = 21 % of an epoch
     * (nasrec.md §3.4, §8.3: the same ratio as Criteo's 15000 steps) */
    int64_t per_epoch = rows_of(d->train) / c->batch;
    to.full_path_steps = (int64_t)(0.21 * (double)per_epoch);
    to.seed = c->seed;
    to.batch_size = c->batch;
    to.max_samples = *steps_out * c->batch;
    to.drop_last = 1;
    to.report_every = c->progress ? 10 : 0;
    progress_ctx_t pc = { c, "warm-up", now() };
    st = sigeo_train(r, m, opt, d->train, NULL, &sch, &to, on_progress, &pc);
    if (c->progress)
        fprintf(stderr, "\n");
    sigeo_optimizer_destroy(opt);
    return st;
}

/* A deep copy of a batch view. */
typedef struct owned_batch {
    float *dense, *targets;
    int64_t *ids, *offsets;
    int32_t *labels;
} owned_batch_t;

static void *copy_of(const void *p, size_t bytes)
{
    if (!p)
        return NULL;
    void *q = malloc(bytes ? bytes : 1);
    if (q)
        memcpy(q, p, bytes);
    return q;
}

static sigeo_batch_t own_batch(owned_batch_t *o, const sigeo_batch_t *b)
{
    const int64_t B = b->batch_size, F = b->n_sparse_fields, n_ids = b->sparse_offsets ? b->sparse_offsets[B * F] : 0;
    o->dense = copy_of(b->dense, (size_t)(B * b->n_dense) * sizeof(float));
    o->targets = copy_of(b->targets, (size_t)(B * b->n_targets) * sizeof(float));
    o->ids = copy_of(b->sparse_ids, (size_t)n_ids * sizeof(int64_t));
    o->offsets = copy_of(b->sparse_offsets, (size_t)(B * F + 1) * sizeof(int64_t));
    o->labels = copy_of(b->labels, (size_t)B * sizeof(int32_t));
    sigeo_batch_t c = *b;
    c.dense = o->dense;
    c.targets = o->targets;
    c.sparse_ids = o->ids;
    c.sparse_offsets = o->offsets;
    c.labels = o->labels;
    return c;
}

static void free_owned(owned_batch_t *o)
{
    free(o->dense);
    free(o->targets);
    free(o->ids);
    free(o->offsets);
    free(o->labels);
}

/* Scoring a candidate by something other than a proxy of sigeo_proxy_compute. */
typedef struct host_scorer {
    sigeo_model_t *model;
    sigeo_dataset_t *val;
    int64_t batch;
    int32_t n;
    uint64_t rng;
    int one_shot; /* 1: minus the inherited subnet's validation log loss; 0: uniform random */
} host_scorer_t;

static sigeo_status_t score_host(double *score, const int32_t *arch, int32_t n, void *user)
{
    host_scorer_t *h = user;
    if (!h->one_shot) {
        h->rng = h->rng * 6364136223846793005ull + 1442695040888963407ull;
        *score = (double)(h->rng >> 11) * 0x1.0p-53;
        return SIGEO_OK;
    }
    int32_t before[4096];
    sigeo_status_t st = sigeo_model_active_arch(before, 4096, h->model);
    if (st == SIGEO_OK)
        st = sigeo_model_activate(h->model, arch, n);
    double ll = 0.0;
    if (st == SIGEO_OK)
        st = sigeo_evaluate(&ll, NULL, NULL, h->model, h->val, h->batch);
    sigeo_model_activate(h->model, before, n);
    *score = -ll;
    return st;
}

typedef struct search_log {
    const config_t *c;
    json_out_t *json;        /* streaming evaluations, or NULL */
    double *best, *median, *cycle_x;
    size_t n_cycles, cap;
    double t0;
} search_log_t;

static void on_record(const sigeo_evaluation_t *e, void *user)
{
    search_log_t *l = user;
    if (!l->json)
        return;
    json_out_t *j = l->json;
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
    }
    json_out_end_object(j);
}

static void on_cycle(const sigeo_cycle_report_t *r, void *user)
{
    search_log_t *l = user;
    if (l->n_cycles == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        double *b = realloc(l->best, cap * sizeof *b), *md = realloc(l->median, cap * sizeof *md),
               *x = realloc(l->cycle_x, cap * sizeof *x);
        if (b)
            l->best = b;
        if (md)
            l->median = md;
        if (x)
            l->cycle_x = x;
        if (!b || !md || !x)
            return;
        l->cap = cap;
    }
    l->cycle_x[l->n_cycles] = (double)r->cycle + 1;
    l->best[l->n_cycles] = r->best_score;
    l->median[l->n_cycles] = r->median_score;
    l->n_cycles++;
    if (l->c->progress)
        fprintf(stderr, "\r  search: cycle %lld/%u  evaluations %llu  best %.4f  median %.4f  %.1fs   ",
                (long long)r->cycle + 1, l->c->cycles, (unsigned long long)r->evaluations, r->best_score,
                r->median_score, now() - l->t0);
}

typedef struct method {
    const char *name;  /* for reports */
    const char *proxy;
    double warmup;
} method_t;

typedef struct outcome {
    double warmup_seconds, search_seconds, retrain_seconds;
    int64_t warmup_steps;
    uint64_t evaluations, failed;
    int32_t best_arch[4096];
    int32_t n_arch;
    double val_logloss, test_logloss, test_auc, test_accuracy;
    int64_t params, flops;
    char arch_text[16384];
    int32_t top_n;
} outcome_t;

/* Proxy options for a method name (NULL = host scorer). */
static int proxy_for(sigeo_proxy_options_t *po, const char *name, double warmup, int32_t scope)
{
    *po = (sigeo_proxy_options_t)SIGEO_PROXY_OPTIONS_INIT;
    po->scope = scope;
    /* zero-shot lambdas without warm-up, the RecSys ones with (proxies.md §1.3) */
    po->lambda_preset = warmup > 0 ? SIGEO_PRESET_RECSYS : SIGEO_PRESET_ZERO_SHOT;
    for (int k = 0; k < 64; k++) {
        const char *kn = sigeo_proxy_kind_name((sigeo_proxy_kind_t)k);
        if (!kn)
            break;
        if (!strcmp(kn, name)) {
            po->kind = k;
            return 1;
        }
    }
    return 0;
}

static int run_method(outcome_t *o, const config_t *c, const data_t *d, const method_t *me, json_out_t *json,
                      search_log_t *log)
{
    memset(o, 0, sizeof *o);
    int rc = 0;
    sigeo_context_t *ctx = NULL;
    sigeo_model_t *m = NULL, *x = NULL;
    sigeo_search_t *s = NULL;
    sigeo_optimizer_t *opt = NULL;
    int32_t *top = NULL;
    owned_batch_t *ob = NULL;
    sigeo_batch_t *bs = NULL;
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.seed = c->seed;
    co.threads = (uint32_t)c->threads;
    CHECK("creating the context", sigeo_context_create(&ctx, &co));
    CHECK("building the supernet", build_supernet(&m, ctx, c, d));
    int32_t n;
    sigeo_model_choices(&n, NULL, 0, m);
    if (n > 4096) {
        fprintf(stderr, PROG ": the space has %d choice points, more than this program handles\n", (int)n);
        rc = 1;
        goto done;
    }
    o->n_arch = n;
    if (!c->quiet)
        fprintf(stderr, "[%s] warm-up %.1f%% of an epoch (%lld training rows)\n", me->name, 100 * me->warmup,
                (long long)rows_of(d->train));
    double t = now();
    sigeo_train_result_t wr = SIGEO_TRAIN_RESULT_INIT;
    CHECK("warm-up", warm_up(&wr, m, c, d, me->warmup, &o->warmup_steps));
    o->warmup_seconds = now() - t;
    if (c->save && !c->compare)
        CHECK("saving the supernet", sigeo_model_save(m, c->save));

    /* search */
    t = now();
    sigeo_search_options_t so = SIGEO_SEARCH_OPTIONS_INIT;
    so.population = c->population;
    so.sample_size = c->sample;
    so.children = c->children;
    so.cycles = c->cycles;
    so.seed = c->seed;
    so.kind = !strcmp(me->proxy, "random") ? SIGEO_SEARCH_RANDOM : SIGEO_SEARCH_EVOLUTION;
    so.mutation_schedule = SIGEO_MUTATE_NASREC;
    CHECK("creating the search", sigeo_search_create(&s, m, &so));
    sigeo_proxy_options_t po;
    host_scorer_t hs = { m, d->val, 2048, n, c->seed * 7919 + 1, !strcmp(me->proxy, "one-shot") };
    sigeo_search_callbacks_t cb = SIGEO_SEARCH_CALLBACKS_INIT;
    if (proxy_for(&po, me->proxy, me->warmup, c->scope)) {
        CHECK("proxy options", sigeo_search_set_proxy(s, &po));
        /* the first k training batches, the same for every candidate (nasrec.md §1.4);
         * a dataset batch is a view valid until the next call, so each is copied */
        ob = calloc((size_t)c->k, sizeof *ob);
        bs = calloc((size_t)c->k, sizeof *bs);
        for (int i = 0; i < c->k; i++) {
            sigeo_batch_t b = SIGEO_BATCH_INIT;
            CHECK("proxy batches", sigeo_dataset_batch(&b, d->train, i, c->batch, SIGEO_BATCH_DROP_LAST));
            bs[i] = own_batch(&ob[i], &b);
        }
        CHECK("proxy batches", sigeo_search_set_batches(s, bs, (uint32_t)c->k));
    } else if (!strcmp(me->proxy, "random") || !strcmp(me->proxy, "one-shot")) {
        cb.score = score_host;
        cb.score_user = &hs;
    } else {
        fprintf(stderr, PROG ": unknown proxy '%s' (sigeo, zico, fisher-rao, random, one-shot, or a kind:", me->proxy);
        for (int k = 0; sigeo_proxy_kind_name((sigeo_proxy_kind_t)k); k++)
            fprintf(stderr, " %s", sigeo_proxy_kind_name((sigeo_proxy_kind_t)k));
        fprintf(stderr, ")\n");
        rc = 2;
        goto done;
    }
    log->c = c;
    log->json = json;
    log->t0 = t;
    cb.record = on_record;
    cb.record_user = log;
    cb.cycle = on_cycle;
    cb.cycle_user = log;
    CHECK("search callbacks", sigeo_search_set_callbacks(s, &cb));
    if (!c->quiet)
        fprintf(stderr, "[%s] search: %s, P %u S %u C %u G %u\n", me->name, me->proxy, c->population, c->sample,
                c->children, c->cycles);
    sigeo_status_t st = sigeo_search_run(s);
    if (c->progress)
        fprintf(stderr, "\n");
    if (st != SIGEO_OK) {
        rc = failed("search", st);
        goto done;
    }
    sigeo_search_info_t si = SIGEO_SEARCH_INFO_INIT;
    sigeo_search_get_info(&si, s);
    o->evaluations = si.evaluations;
    o->failed = si.failed;
    o->search_seconds = now() - t;
    top = malloc((size_t)c->top_k * (size_t)n * sizeof *top);
    CHECK("top-k", sigeo_search_top(top, NULL, c->top_k, &o->top_n, s));
    sigeo_search_destroy(s);
    s = NULL;

    /* retrain the top-k from scratch; best by validation */
    t = now();
    o->val_logloss = INFINITY;
    for (int32_t i = 0; i < o->top_n; i++) {
        const int32_t *arch = top + (size_t)i * (size_t)n;
        CHECK("extracting a candidate", sigeo_model_extract(&x, m, arch, n, 0));
        sigeo_optimizer_options_t oo = SIGEO_OPTIMIZER_OPTIONS_INIT;
        oo.kind = SIGEO_OPT_ADAGRAD;
        oo.lr = d->classification ? 0.05 : 0.1;
        oo.eps = 1e-2;
        oo.clip_norm = 5.0;
        CHECK("optimizer", sigeo_optimizer_create(&opt, x, &oo));
        int64_t per_epoch;
        sigeo_dataset_batch_count(&per_epoch, d->train, c->batch, SIGEO_BATCH_DROP_LAST);
        sigeo_lr_schedule_t sch = SIGEO_LR_SCHEDULE_INIT;
        sch.kind = SIGEO_LR_WARMUP_COSINE;
        sch.lr = oo.lr;
        sch.lr_min = 1e-8;
        sch.total_steps = (int64_t)ceil(c->retrain_epochs * (double)per_epoch);
        sch.warmup_steps = sch.total_steps / 10;
        sigeo_train_options_t to = SIGEO_TRAIN_OPTIONS_INIT;
        to.batch_size = c->batch;
        to.epochs = c->retrain_epochs;
        to.drop_last = 1;
        to.report_every = c->progress ? 20 : 0;
        char phase[64];
        snprintf(phase, sizeof phase, "retrain %d/%d", (int)i + 1, (int)o->top_n);
        progress_ctx_t pc = { c, phase, now() };
        sigeo_train_result_t tr = SIGEO_TRAIN_RESULT_INIT;
        st = sigeo_train(&tr, x, opt, d->train, d->val, &sch, &to, on_progress, &pc);
        if (c->progress)
            fprintf(stderr, "\n");
        if (st != SIGEO_OK) {
            fprintf(stderr, PROG ": retraining candidate %d failed (%s); skipped\n", (int)i, sigeo_last_error());
        } else if (tr.val_logloss < o->val_logloss) {
            o->val_logloss = tr.val_logloss;
            memcpy(o->best_arch, arch, (size_t)n * sizeof *arch);
            CHECK("test metrics", sigeo_evaluate(&o->test_logloss, d->classification ? NULL : &o->test_auc,
                                               &o->test_accuracy, x, d->test, 2048));
            CHECK("counts", sigeo_model_count(&o->params, &o->flops, x, NULL, 0));
        }
        sigeo_optimizer_destroy(opt);
        sigeo_model_destroy(x);
        opt = NULL;
        x = NULL;
    }
    o->retrain_seconds = now() - t;
    if (isfinite(o->val_logloss))
        sigeo_model_describe_arch(o->arch_text, sizeof o->arch_text, NULL, m, o->best_arch, n);
    if (!isfinite(o->val_logloss)) {
        fprintf(stderr, PROG ": no candidate could be retrained\n");
        rc = 1;
    }
done:
    /* one cleanup for every path: error paths leak nothing either */
    for (int i = 0; ob && i < c->k; i++)
        free_owned(&ob[i]);
    free(ob);
    free(bs);
    free(top);
    sigeo_optimizer_destroy(opt);
    sigeo_model_destroy(x);
    sigeo_search_destroy(s);
    sigeo_model_destroy(m);
    sigeo_context_destroy(ctx);
    return rc;
}

static void arch_string(char *buf, size_t size, const int32_t *arch, int32_t n)
{
    sigeo_arch_format(buf, size, NULL, arch, n);
}

int main(int argc, char **argv)
{
    config_t c = { "nasrec-small", "synthetic", 200000, 0.01, "sigeo", SIGEO_SPACE_SCALED, 32, 16, 4, 40, 5, 4,
                   256, 1.0, 1, 0, SIGEO_SCOPE_ALL, 0, 0, isatty(2), NULL, NULL, NULL, NULL };
    int space_given = 0;
    for (int i = 1; i < argc; i++)
        space_given |= !strncmp(argv[i], "--space", 7);
    if (parse(&c, argc, argv))
        return 2;
    if (!strncmp(c.data, "fashion-mnist", 13) && !space_given)
        c.space = "mlp";
    data_t d;
    double t0 = now();
    int rc = load_data(&d, &c);
    if (rc) {
        free_data(&d);
        return rc;
    }
    if (d.classification != !strcmp(c.space, "mlp")) {
        fprintf(stderr, PROG ": space '%s' does not fit %s data (mlp is for Fashion-MNIST, nasrec-* for CTR)\n",
                c.space, d.classification ? "image" : "CTR");
        free_data(&d);
        return 2;
    }
    if (!c.quiet)
        fprintf(stderr, "data: %s; train/val/test %lld/%lld/%lld rows (%.1fs)\n", d.source, (long long)rows_of(d.train),
                (long long)rows_of(d.val), (long long)rows_of(d.test), now() - t0);

    FILE *out = NULL;
    json_out_t json;
    if (c.out) {
        out = fopen(c.out, "w");
        if (!out) {
            fprintf(stderr, PROG ": --out %s: %s\n", c.out, strerror(errno));
            free_data(&d);
            return 1;
        }
        json_out_init(&json, out, 1);
        json_out_begin_object(&json);
        json_out_key(&json, "config");
        json_out_begin_object(&json);
        json_out_key_string(&json, "space", c.space);
        json_out_key_string(&json, "data", d.source);
        json_out_key_number(&json, "warmup", c.warmup);
        json_out_key_string(&json, "proxy", c.proxy);
        json_out_key_string(&json, "scope", c.scope == SIGEO_SCOPE_HEAD ? "head" : "all");
        json_out_key_int(&json, "population", c.population);
        json_out_key_int(&json, "sample", c.sample);
        json_out_key_int(&json, "children", c.children);
        json_out_key_int(&json, "cycles", c.cycles);
        json_out_key_int(&json, "top_k", c.top_k);
        json_out_key_int(&json, "k", c.k);
        json_out_key_int(&json, "batch", c.batch);
        json_out_key_int(&json, "seed", (int64_t)c.seed);
        json_out_key_string(&json, "libsigeo", sigeo_version());
        json_out_end_object(&json);
    }
    static const method_t compare_methods[] = {
        { "random", "random", 0.01 },    { "zico-0", "zico", 0.0 },  { "zico-1", "zico", 0.01 },
        { "sigeo-0", "sigeo", 0.0 },     { "sigeo-1", "sigeo", 0.01 }, { "one-shot", "one-shot", 1.0 },
    };
    const method_t single = { c.proxy, c.proxy, c.warmup };
    const method_t *methods = c.compare ? compare_methods : &single;
    const size_t n_methods = c.compare ? sizeof compare_methods / sizeof compare_methods[0] : 1;
    outcome_t *res = calloc(n_methods, sizeof *res);
    search_log_t log = { 0 };
    if (out) {
        json_out_key(&json, c.compare ? "runs" : "evaluations");
        json_out_begin_array(&json);
    }
    for (size_t i = 0; i < n_methods; i++) {
        if (out && c.compare) {
            json_out_begin_object(&json);
            json_out_key_string(&json, "method", methods[i].name);
            json_out_key(&json, "evaluations");
            json_out_begin_array(&json);
        }
        log.n_cycles = 0;
        rc = run_method(&res[i], &c, &d, &methods[i], out ? &json : NULL, &log);
        if (out && c.compare) {
            json_out_end_array(&json);
            json_out_end_object(&json);
        }
        if (rc)
            break;
    }
    if (out)
        json_out_end_array(&json);
    if (rc == 0) {
        char arch[16384];
        if (!c.compare) {
            const outcome_t *o = &res[0];
            arch_string(arch, sizeof arch, o->best_arch, o->n_arch);
            printf("\nSiGeo-NAS on %s, space %s, proxy %s, warm-up %.1f%%\n", d.source, c.space, c.proxy,
                   100 * c.warmup);
            printf("best architecture   %s\n", arch);
            printf("  described as      %s\n", o->arch_text);
            if (d.classification)
                printf("test log loss %.4f   test accuracy %.4f", o->test_logloss, o->test_accuracy);
            else
                printf("test log loss %.4f   test AUC %.4f", o->test_logloss, o->test_auc);
            printf("   (validation log loss %.4f)\n", o->val_logloss);
            printf("params %lld   FLOPs %lld per sample\n", (long long)o->params, (long long)o->flops);
            printf("seconds: warm-up %.1f (%lld steps)  search %.1f (%llu evaluations, %llu failed)  retrain %.1f "
                   "(top-%d)\n",
                   o->warmup_seconds, (long long)o->warmup_steps, o->search_seconds,
                   (unsigned long long)o->evaluations, (unsigned long long)o->failed, o->retrain_seconds,
                   (int)o->top_n);
            if (c.plot && log.n_cycles > 0) {
                svg_series_t ser[2] = { { "best", log.cycle_x, log.best, log.n_cycles, "#1f77b4" },
                                        { "median", log.cycle_x, log.median, log.n_cycles, "#ff7f0e" } };
                char title[256];
                snprintf(title, sizeof title, "%s search on %s: population score per cycle", c.proxy, c.space);
                if (svg_write_lines(c.plot, title, "cycle", "proxy score (higher is better)", ser, 2))
                    fprintf(stderr, PROG ": --plot %s: %s\n", c.plot, strerror(errno));
            }
        } else {
            printf("\n%-10s %8s %10s %10s %14s %12s\n", "method", "warm-up", "log loss", "AUC", "search s", "evals");
            for (size_t i = 0; i < n_methods; i++)
                printf("%-10s %7.0f%% %10.4f %10.4f %14.1f %12llu\n", methods[i].name, 100 * methods[i].warmup,
                       res[i].test_logloss, res[i].test_auc, res[i].warmup_seconds + res[i].search_seconds,
                       (unsigned long long)res[i].evaluations);
            printf("(search s = warm-up + search; every method then retrains its top-%d the same way)\n", c.top_k);
        }
        if (out) {
            if (c.compare) {
                json_out_key(&json, "compare");
                json_out_begin_array(&json);
                for (size_t i = 0; i < n_methods; i++) {
                    json_out_begin_object(&json);
                    json_out_key_string(&json, "method", methods[i].name);
                    json_out_key_number(&json, "warmup", methods[i].warmup);
                    json_out_key_number(&json, "test_logloss", res[i].test_logloss);
                    json_out_key_number(&json, "test_auc", res[i].test_auc);
                    json_out_key_number(&json, "search_seconds", res[i].warmup_seconds + res[i].search_seconds);
                    json_out_key_int(&json, "evaluations", (int64_t)res[i].evaluations);
                    arch_string(arch, sizeof arch, res[i].best_arch, res[i].n_arch);
                    json_out_key_string(&json, "arch", arch);
                    json_out_end_object(&json);
                }
                json_out_end_array(&json);
            }
            const outcome_t *o = &res[c.compare ? n_methods - 2 : 0]; /* compare: sigeo-1 is "the" result */
            arch_string(arch, sizeof arch, o->best_arch, o->n_arch);
            json_out_key(&json, "best");
            json_out_begin_object(&json);
            json_out_key_string(&json, "arch", arch);
            json_out_key_string(&json, "description", o->arch_text);
            json_out_key_number(&json, "val_logloss", o->val_logloss);
            json_out_key_number(&json, "test_logloss", o->test_logloss);
            if (d.classification)
                json_out_key_number(&json, "test_accuracy", o->test_accuracy);
            else
                json_out_key_number(&json, "test_auc", o->test_auc);
            json_out_key_int(&json, "params", o->params);
            json_out_key_int(&json, "flops", o->flops);
            json_out_end_object(&json);
            json_out_key(&json, "phases");
            json_out_begin_object(&json);
            json_out_key(&json, "warmup");
            json_out_begin_object(&json);
            json_out_key_number(&json, "seconds", o->warmup_seconds);
            json_out_key_int(&json, "steps", o->warmup_steps);
            json_out_end_object(&json);
            json_out_key(&json, "search");
            json_out_begin_object(&json);
            json_out_key_number(&json, "seconds", o->search_seconds);
            json_out_key_int(&json, "evaluations", (int64_t)o->evaluations);
            json_out_end_object(&json);
            json_out_key(&json, "retrain");
            json_out_begin_object(&json);
            json_out_key_number(&json, "seconds", o->retrain_seconds);
            json_out_key_int(&json, "candidates", o->top_n);
            json_out_end_object(&json);
            json_out_end_object(&json);
            json_out_key(&json, "cycles");
            json_out_begin_array(&json);
            for (size_t i = 0; i < log.n_cycles; i++) {
                json_out_begin_object(&json);
                json_out_key_number(&json, "cycle", log.cycle_x[i]);
                json_out_key_number(&json, "best", log.best[i]);
                json_out_key_number(&json, "median", log.median[i]);
                json_out_end_object(&json);
            }
            json_out_end_array(&json);
        }
    }
    if (out) {
        json_out_end_object(&json);
        const char *why = NULL;
        if (json_out_finish(&json, &why) != 0 || fclose(out) != 0) {
            fprintf(stderr, PROG ": --out %s: %s\n", c.out, why ? why : strerror(errno));
            rc = rc ? rc : 1;
        }
    }
    free(log.best);
    free(log.median);
    free(log.cycle_x);
    free(res);
    free_data(&d);
    return rc;
}
