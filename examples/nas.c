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
 * parses flags, loads data, prints and writes JSON / SVG. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nas_mpi.h"
#include "cli.h"
#include "json_out.h"
#include "sigeo/io.h"
#include "sigeo/nas.h"
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
    int64_t finetune;        /* one-shot: head fine-tune steps (0 = none) */
    int compare;
    int quiet;
    int progress;            /* 1 = progress lines on stderr */
    const char *out, *plot, *save;
    const char *resume;      /* --resume DIR: checkpoints there, continued from if present */
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
           "  --finetune T         one-shot: fine-tune the inherited head for T steps before scoring (NASRec:\n"
           "                       500; default 0 = the no-fine-tune ablation)\n"
           "  --compare            run random, zico-0, zico-1, sigeo-0, sigeo-1 and one-shot (100%%) on the\n"
           "                       same data and budget; print a table shaped like the paper's Table 3\n"
           "  --out FILE           write everything as JSON (config, evaluations, top-k, best, phases)\n"
           "  --plot FILE.svg      best and median population score per cycle\n"
           "  --save FILE          save the warmed-up supernet (safetensors)\n"
           "  --resume DIR         checkpoint the run into DIR (created if missing; every 5 cycles) and, when\n"
           "                       DIR holds a checkpoint, continue from it to the uninterrupted result\n"
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
        } else if ((r = cli_option(&cl, "--finetune")) != 0) {
            if (r < 0 || cli_int64(&cl, &c->finetune, 0, INT64_C(1) << 30))
                return -1;
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
        } else if ((r = cli_option(&cl, "--resume")) != 0) {
            if (r < 0)
                return -1;
            c->resume = cl.value;
        } else {
            cli_unknown(&cl);
            return -1;
        }
    }
    if (c->resume && c->compare) {
        fprintf(stderr, PROG ": --resume and --compare do not go together (one run per checkpoint)\n");
        return -1;
    }
    if (c->resume && mkdir(c->resume, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, PROG ": --resume %s: %s\n", c->resume, strerror(errno));
        return -1;
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

static int known_method(const char *proxy)
{
    if (!strcmp(proxy, "random") || !strcmp(proxy, "one-shot") || proxy_kind_of(proxy) >= 0)
        return 1;
    fprintf(stderr, PROG ": unknown proxy '%s' (sigeo, zico, fisher-rao, random, one-shot, or a kind:", proxy);
    for (int k = 0; sigeo_proxy_kind_name((sigeo_proxy_kind_t)k); k++)
        fprintf(stderr, " %s", sigeo_proxy_kind_name((sigeo_proxy_kind_t)k));
    fprintf(stderr, ")\n");
    return 0;
}

/* Progress lines and the per-cycle series (plot, JSON). */
typedef struct watch {
    const config_t *c;
    double *best, *median, *cycle_x;
    size_t n_cycles, cap;
} watch_t;

static int on_progress(const sigeo_nas_progress_t *p, void *user)
{
    const watch_t *w = user;
    static const char *const names[] = { "warm-up", "search", "retrain" };
    if (!w->c->progress)
        return 0;
    if (p->phase == SIGEO_NAS_PHASE_SEARCH)
        fprintf(stderr, "\r  search: evaluation %lld/%lld  best %.4f  %.1fs   ", (long long)p->step,
                (long long)p->total, p->value, p->elapsed);
    else if (p->phase == SIGEO_NAS_PHASE_RETRAIN)
        fprintf(stderr, "\r  retrain %d: step %lld/%lld  loss %.4f  %.1fs   ", (int)p->candidate + 1,
                (long long)p->step, (long long)p->total, p->value, p->elapsed);
    else
        fprintf(stderr, "\r  %s: step %lld/%lld  loss %.4f  %.1fs   ", names[0], (long long)p->step,
                (long long)p->total, p->value, p->elapsed);
    return 0;
}

static void on_cycle(const sigeo_cycle_report_t *r, void *user)
{
    watch_t *w = user;
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

/* One method through sigeo_nas_run_space: a fresh context (same seed, same
 * initial weights for every method), the space built on the data. */
static int run_method(sigeo_nas_result_t **out, sigeo_context_t **ctx_out, const config_t *c, const data_t *d,
                      const method_t *me, watch_t *w)
{
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.seed = c->seed;
    co.threads = (uint32_t)c->threads;
    TRY("creating the context", sigeo_context_create(ctx_out, &co));

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
    o.retrain_epochs = c->retrain_epochs;
    o.progress = on_progress;
    o.progress_user = w;
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
        po.kind = proxy_kind_of(me->proxy);
    }
    if (!c->quiet)
        fprintf(stderr, "[%s] warm-up %.1f%%, search %s (P %u S %u C %u G %u), retrain top-%d\n", me->name,
                100 * me->warmup, me->proxy, c->population, c->sample, c->children, c->cycles, (int)c->top_k);
    sigeo_status_t st = nas_mpi_run_space(out, *ctx_out, c->space, &sp, d->train, d->val, d->test, &o);
    if (c->progress)
        fprintf(stderr, "\n");
    if (st != SIGEO_OK)
        return failed(me->name, st);
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

static void json_evaluations(json_out_t *j, const sigeo_nas_result_t *r)
{
    const uint64_t n = sigeo_nas_result_evaluation_count(r);
    for (uint64_t i = 0; i < n; i++) {
        sigeo_evaluation_t e = SIGEO_EVALUATION_INIT;
        if (sigeo_nas_result_evaluation(&e, r, i) != SIGEO_OK)
            continue;
        json_out_begin_object(j);
        json_out_key_int(j, "index", (int64_t)e.index);
        json_out_key_int(j, "cycle", e.cycle);
        json_out_key_string(j, "arch", e.arch_text);
        json_out_key_string(j, "status", e.status == SIGEO_OK ? "ok" : sigeo_status_string((sigeo_status_t)e.status));
        if (e.status != SIGEO_OK)
            json_out_key_string(j, "message", e.message);
        json_out_key_number(j, "score", e.status == SIGEO_OK ? e.score : NAN);
        json_out_key_number(j, "seconds", e.seconds);
        if (e.proxy) {
            json_out_key_number(j, "zico", e.proxy->zico);
            json_out_key_number(j, "fr", e.proxy->fr);
            json_out_key_number(j, "log_fr", e.proxy->log_fr);
            json_out_key_number(j, "loss", e.proxy->loss);
        }
        json_out_end_object(j);
    }
}

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
        json_out_key_string(j, "arch", text);
        json_out_key_string(j, "status", sigeo_status_string((sigeo_status_t)cd.status));
        json_out_key_number(j, "score", cd.score);
        json_out_key_number(j, "val_logloss", cd.val_logloss);
        json_out_key_number(j, "test_logloss", cd.test_logloss);
        json_out_key_number(j, classification ? "test_accuracy" : "test_auc",
                            classification ? cd.test_accuracy : cd.test_auc);
        json_out_key_int(j, "params", cd.params);
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
    json_out_key(j, "top_k");
    json_top_k(j, r, &s, classification);
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
    json_out_end_object(j);
    json_out_key(j, "retrain");
    json_out_begin_object(j);
    json_out_key_number(j, "seconds", s.retrain_seconds);
    json_out_key_int(j, "candidates", s.top_n);
    json_out_end_object(j);
    json_out_end_object(j);
    best_view_free(&b);
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

static void write_plot(const config_t *c, const watch_t *w)
{
    if (!c->plot || w->n_cycles == 0)
        return;
    svg_series_t ser[2] = { { "best", w->cycle_x, w->best, w->n_cycles, "#1f77b4" },
                            { "median", w->cycle_x, w->median, w->n_cycles, "#ff7f0e" } };
    char title[256];
    snprintf(title, sizeof title, "%s search on %s: population score per cycle", c->proxy, c->space);
    if (svg_write_lines(c->plot, title, "cycle", "proxy score (higher is better)", ser, 2))
        fprintf(stderr, PROG ": --plot %s: %s\n", c->plot, strerror(errno));
}

static void json_config(json_out_t *j, const config_t *c, const data_t *d)
{
    json_out_key(j, "config");
    json_out_begin_object(j);
    json_out_key_string(j, "space", c->space);
    json_out_key_string(j, "data", d->source);
    json_out_key_number(j, "warmup", c->warmup);
    json_out_key_string(j, "proxy", c->proxy);
    json_out_key_string(j, "scope", c->scope == SIGEO_SCOPE_HEAD ? "head" : "all");
    json_out_key_int(j, "population", c->population);
    json_out_key_int(j, "sample", c->sample);
    json_out_key_int(j, "children", c->children);
    json_out_key_int(j, "cycles", c->cycles);
    json_out_key_int(j, "top_k", c->top_k);
    json_out_key_int(j, "k", c->k);
    json_out_key_int(j, "batch", c->batch);
    json_out_key_int(j, "finetune", c->finetune);
    json_out_key_int(j, "seed", (int64_t)c->seed);
    json_out_key_string(j, "libsigeo", sigeo_version());
    json_out_end_object(j);
}

static void json_cycles(json_out_t *j, const watch_t *w)
{
    json_out_key(j, "cycles");
    json_out_begin_array(j);
    for (size_t i = 0; i < w->n_cycles; i++) {
        json_out_begin_object(j);
        json_out_key_number(j, "cycle", w->cycle_x[i]);
        json_out_key_number(j, "best", w->best[i]);
        json_out_key_number(j, "median", w->median[i]);
        json_out_end_object(j);
    }
    json_out_end_array(j);
}

/* The --out file: everything of the run(s), written to a temporary file
 * next to it and renamed over it only when complete. */
static int write_json(const config_t *c, const data_t *d, const method_t *methods, size_t n_methods,
                      sigeo_nas_result_t *const *res, const watch_t *w)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", c->out, (long)getpid()) >= (int)sizeof tmp) {
        fprintf(stderr, PROG ": --out %s: path too long\n", c->out);
        return 1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, PROG ": --out %s: %s\n", c->out, strerror(errno));
        return 1;
    }
    json_out_t j;
    json_out_init(&j, f, 1);
    json_out_begin_object(&j);
    json_config(&j, c, d);
    if (c->compare) {
        json_out_key(&j, "runs");
        json_out_begin_array(&j);
        for (size_t i = 0; i < n_methods; i++) {
            json_out_begin_object(&j);
            json_out_key_string(&j, "method", methods[i].name);
            json_out_key(&j, "evaluations");
            json_out_begin_array(&j);
            json_evaluations(&j, res[i]);
            json_out_end_array(&j);
            json_out_end_object(&j);
        }
        json_out_end_array(&j);
        json_out_key(&j, "compare");
        json_out_begin_array(&j);
        for (size_t i = 0; i < n_methods; i++) {
            best_view_t b;
            best_view(&b, res[i]);
            const sigeo_nas_summary_t s = b.s;
            json_out_begin_object(&j);
            json_out_key_string(&j, "method", methods[i].name);
            json_out_key_number(&j, "warmup", methods[i].warmup);
            json_out_key_number(&j, "test_logloss", s.test_logloss);
            json_out_key_number(&j, "test_auc", s.test_auc);
            json_out_key_number(&j, "search_seconds", s.warmup_seconds + s.search_seconds);
            json_out_key_int(&j, "evaluations", (int64_t)s.evaluations);
            json_out_key_string(&j, "arch", b.text);
            json_out_end_object(&j);
            best_view_free(&b);
        }
        json_out_end_array(&j);
    } else {
        json_out_key(&j, "evaluations");
        json_out_begin_array(&j);
        json_evaluations(&j, res[0]);
        json_out_end_array(&j);
    }
    /* compare: sigeo-1 is "the" result */
    json_best(&j, res[c->compare ? n_methods - 2 : 0], d->classification);
    json_cycles(&j, w);
    json_out_end_object(&j);
    const char *why = NULL;
    int bad = json_out_finish(&j, &why) != 0;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        why = strerror(errno);
    }
    if (!bad && rename(tmp, c->out) != 0) {
        bad = 1;
        why = strerror(errno);
    }
    if (bad) {
        fprintf(stderr, PROG ": --out %s: %s\n", c->out, why ? why : "write failed");
        remove(tmp);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    config_t c = { "nasrec-small", "synthetic", 200000, 0.01, "sigeo", SIGEO_SPACE_SCALED, 32, 16, 4, 40, 5, 4,
                   256, 1.0, 1, 0, SIGEO_SCOPE_ALL, 0, 0, 0, isatty(2), NULL, NULL, NULL, NULL, NULL };
    if (nas_mpi_start(&argc, &argv)) /* under mpirun: every rank, rank 0 speaks */
        return 1;
    int space_given = 0;
    for (int i = 1; i < argc; i++)
        space_given |= !strncmp(argv[i], "--space", 7);
    if (parse(&c, argc, argv))
        return 2;
    if (!strncmp(c.data, "fashion-mnist", 13) && !space_given)
        c.space = "mlp";
    if (!c.compare && !known_method(c.proxy))
        return 2;
    data_t d;
    double t0 = now();
    int rc = nas_mpi_agree(load_data(&d, &c), PROG); /* one rank's bad data stops them all */
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

    static const method_t compare_methods[] = {
        { "random", "random", 0.01 },    { "zico-0", "zico", 0.0 },  { "zico-1", "zico", 0.01 },
        { "sigeo-0", "sigeo", 0.0 },     { "sigeo-1", "sigeo", 0.01 }, { "one-shot", "one-shot", 1.0 },
    };
    const method_t single = { c.proxy, c.proxy, c.warmup };
    const method_t *methods = c.compare ? compare_methods : &single;
    const size_t n_methods = c.compare ? sizeof compare_methods / sizeof compare_methods[0] : 1;
    sigeo_nas_result_t **res = calloc(n_methods, sizeof *res);
    sigeo_context_t **ctxs = calloc(n_methods, sizeof *ctxs); /* each result's supernet lives in its context */
    watch_t w = { &c, NULL, NULL, NULL, 0, 0 };
    if (!res || !ctxs) {
        free(res);
        free(ctxs);
        fprintf(stderr, PROG ": out of memory\n");
        free_data(&d);
        return 1;
    }
    for (size_t i = 0; i < n_methods && rc == 0; i++) {
        w.n_cycles = 0; /* the plot and JSON cycles are the last method's (single: the only one) */
        rc = run_method(&res[i], &ctxs[i], &c, &d, &methods[i], &w);
        if (rc == 0 && c.save && !c.compare && nas_mpi_rank() == 0) {
            sigeo_status_t st = sigeo_model_save(sigeo_nas_result_model(res[i]), c.save);
            if (st != SIGEO_OK)
                rc = failed("saving the supernet", st);
        }
    }
    if (rc == 0) {
        if (!c.compare) {
            print_single(&c, &d, res[0]);
            if (nas_mpi_rank() == 0)
                write_plot(&c, &w);
        } else {
            printf("\n%-10s %8s %10s %10s %14s %12s\n", "method", "warm-up", "log loss", "AUC", "search s", "evals");
            for (size_t i = 0; i < n_methods; i++) {
                sigeo_nas_summary_t s = SIGEO_NAS_SUMMARY_INIT;
                sigeo_nas_result_get_summary(&s, res[i]);
                printf("%-10s %7.0f%% %10.4f %10.4f %14.1f %12llu\n", methods[i].name, 100 * methods[i].warmup,
                       s.test_logloss, s.test_auc, s.warmup_seconds + s.search_seconds,
                       (unsigned long long)s.evaluations);
            }
            printf("(search s = warm-up + search; every method then retrains its top-%d the same way)\n", c.top_k);
        }
        if (c.out && nas_mpi_rank() == 0)
            rc = write_json(&c, &d, methods, n_methods, res, &w);
    }
    for (size_t i = 0; i < n_methods; i++) {
        sigeo_nas_result_destroy(res[i]);
        sigeo_context_destroy(ctxs[i]);
    }
    free(res);
    free(ctxs);
    free(w.best);
    free(w.median);
    free(w.cycle_x);
    free_data(&d);
    return rc;
}
