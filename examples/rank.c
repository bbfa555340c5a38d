/*
 * sigeo-rank: ranking studies (the paper's Tables 1-2). How well does each
 * proxy, at each warm-up level, order architectures by the accuracy they
 * reach when trained from scratch? docs/ranking.md has the results and the
 * exact commands; docs/cellspace.md the space and protocol.
 *
 *   sigeo-rank --space nb201-fmnist|nasrec-small|mlp [--archs FILE | --sample N --seed S]
 *              [--levels 0,1,10] [--protocol per-arch|supernet|both] [--proxies all|LIST]
 *              [--ground-truth train|FILE|none] [--cache DIR] [--json F] [--csv F] [--plot F.svg]
 *              [--quiet] [--version]
 *
 * Ground truth ("train"): each arch trained from scratch by the space's
 * protocol (docs/cellspace.md §2 for nb201-fmnist and mlp: SGD momentum 0.9
 * Nesterov, weight decay 5e-4 on every parameter, lr 0.05 (1 + cos(pi t/T))
 * per step, the first 25600 training images, 4 epochs of batch 128, each
 * epoch a fresh seeded permutation shared by every arch; nasrec-small: the
 * sigeo-nas retrain recipe on synthetic Criteo-format data, Adagrad lr 0.1
 * eps 1e-2 clip 5, warm-up cosine), then test accuracy / loss (CTR: test log
 * loss, AUC; the ranking target is -log loss). Each arch's run is cached in
 * --cache DIR as one file written atomically: a killed study loses at most
 * the archs in progress, a rerun with the same settings resumes.
 *
 * Proxies (docs/cellspace.md §3), higher = better, a non-finite value ranks
 * lowest, on 4 fixed batches of 64 (training rows 0-255):
 *  - per-arch protocol: the arch's own ground-truth run after
 *    round(w * steps per epoch) steps (a copy of it: the run is not touched);
 *  - supernet protocol: the weight-sharing supernet warmed up on a fraction
 *    w of the training rows with uniformly sampled paths, each arch scored
 *    with the inherited weights.
 * Every library proxy kind; SiGeo with each FR estimator (exact, identity,
 * reference-recsys, reference-cv) and the lambda presets zero-shot (1,1,0),
 * vision (1,50,1), recsys (1,1,1), computed from one call's components
 * (score = l1 zico + l2 log FR - l3 loss); the components alone (zico,
 * fr-<estimator> = log FR, neg-loss). ZiCo over conv / linear weights only,
 * population std (the official code).
 *
 * Output: Spearman and Kendall-b of every proxy at every level and protocol
 * against the target, over all archs and over the non-degenerate ones, with
 * percentile-bootstrap 95 % intervals over archs (sigeo_stats_rank_bootstrap,
 * 1000 resamples); --json every per-arch value; --csv one row per arch;
 * --plot a grouped bar chart of Spearman and F-scatter.svg (best proxy vs
 * the target).
 *
 * Parallelism: --jobs J worker processes (default 2), each with its own
 * context and model at --threads 1: on a small conv net one arch per core
 * beats intra-op threads (docs/ranking.md has the measurement).
 *
 * Ctrl-C / SIGTERM (examples/common/interrupt.h): the workers finish the
 * arch in progress (its cache file is written) and stop; the parent writes
 * the outputs over the archs that are complete, marked "interrupted": true,
 * and exits 130. A second signal exits at once; the workers die with the
 * parent (PR_SET_PDEATHSIG) and no output file is touched.
 *
 * Exit status: 0 done, 1 a failure while running, 2 bad usage or input,
 * 130 interrupted.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sigeo/io.h"
#include "sigeo/model.h"
#include "sigeo/proxy.h"
#include "sigeo/search.h"
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
#include "rank_plot.h"
#include "svg.h"

#define PROG "sigeo-rank"
#define MAX_LEVELS 8
#define MAX_PROXIES 96
#define MAX_CHOICES 64
#define PROXY_BATCHES 4
#define PROXY_BATCH 64
#define NAME_LEN 40

enum { SPACE_NB201, SPACE_MLP, SPACE_NASREC };
enum { PROTO_PER_ARCH, PROTO_SUPERNET, N_PROTO };
static const char *const proto_names[N_PROTO] = { "per-arch", "supernet" };

typedef struct config {
    const char *space_name;
    int space;
    const char *archs_file;
    int64_t sample;
    uint64_t seed;
    double levels[MAX_LEVELS];
    size_t n_levels;
    bool proto[N_PROTO];
    const char *proxies;
    const char *ground_truth; /* "train", "none" or a file */
    const char *cache;
    const char *json, *csv, *plot;
    const char *data_dir;
    int64_t train_rows, test_rows, batch;
    double epochs;
    int64_t jobs, threads;
    int64_t ctr_rows;
    uint64_t gt_seed; /* added to every arch's seed: a second seed measures the seed noise */
    uint32_t resamples;
    bool quick, quiet;
    int argc;   /* the command line, for the JSON provenance */
    char **argv;
} config_t;

/* ------------------------------------------------------------ helpers */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int fail(const char *what, sigeo_status_t st)
{
    fprintf(stderr, PROG ": %s: %s (%s)\n", what, sigeo_last_error(), sigeo_status_string(st));
    return 1;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ull;
    return h;
}

/* ------------------------------------------------------------ proxies */

typedef enum pkind { P_SIGEO_FAMILY, P_KIND } pkind_t;

typedef struct proxy_def {
    char name[NAME_LEN];
    int kind;        /* sigeo_proxy_kind_t for P_KIND */
    int estimator;   /* SiGeo family: FR estimator */
    int derived;     /* SiGeo family: 0 zico, 1 log fr, 2 -loss, 3 zs, 4 vision, 5 recsys */
    bool family;
} proxy_def_t;

static const char *const est_names[4] = { "exact", "identity", "reference-recsys", "reference-cv" };
static const double presets[3][3] = { { 1, 1, 0 }, { 1, 50, 1 }, { 1, 1, 1 } };
static const char *const preset_names[3] = { "zs", "vision", "recsys" };

static proxy_def_t proxies[MAX_PROXIES];
static int n_proxies;

static void add_proxy(const proxy_def_t *p)
{
    if (n_proxies < MAX_PROXIES)
        proxies[n_proxies++] = *p;
}

/* The full list, then filtered by --proxies. */
static int define_proxies(const char *list)
{
    proxy_def_t all[MAX_PROXIES];
    int n = 0;
    for (int e = 0; e < 4; e++)
        for (int p = 0; p < 3; p++) {
            proxy_def_t d = { "", 0, e, 3 + p, true };
            snprintf(d.name, sizeof d.name, "sigeo-%s-%s", preset_names[p], est_names[e]);
            all[n++] = d;
        }
    all[n++] = (proxy_def_t){ "zico", 0, 0, 0, true };
    for (int e = 0; e < 4; e++) {
        proxy_def_t d = { "", 0, e, 1, true };
        snprintf(d.name, sizeof d.name, "fr-%s", est_names[e]);
        all[n++] = d;
    }
    all[n++] = (proxy_def_t){ "neg-loss", 0, 0, 2, true };
    for (int k = SIGEO_PROXY_GRAD_NORM; k < 64 && n < MAX_PROXIES; k++) {
        const char *name = sigeo_proxy_kind_name((sigeo_proxy_kind_t)k);
        if (!name)
            break;
        proxy_def_t d = { "", k, 0, 0, false };
        snprintf(d.name, sizeof d.name, "%s", name);
        all[n++] = d;
    }
    if (!list || !strcmp(list, "all")) {
        for (int i = 0; i < n; i++)
            add_proxy(&all[i]);
        return 0;
    }
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int found = -1;
        for (int i = 0; i < n; i++)
            if (!strcmp(all[i].name, t))
                found = i;
        if (found < 0) {
            fprintf(stderr, PROG ": --proxies: unknown proxy '%s'; known:", t);
            for (int i = 0; i < n; i++)
                fprintf(stderr, " %s", all[i].name);
            fprintf(stderr, "\n");
            return 2;
        }
        add_proxy(&all[found]);
    }
    return 0;
}

/* Scores every proxy of the list on `m` (arch NULL: the active one) into values[]. */
static sigeo_status_t score_proxies(double *values, sigeo_model_t *m, const int32_t *arch, int32_t n_arch,
                                    const sigeo_batch_t *batches, const config_t *c)
{
    (void)c;
    sigeo_proxy_result_t fam[4];
    bool have[4] = { false, false, false, false };
    for (int i = 0; i < n_proxies; i++) {
        const proxy_def_t *p = &proxies[i];
        sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
        sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
        sigeo_status_t st;
        if (p->family) {
            const int e = p->derived == 0 || p->derived == 2 ? 0 : p->estimator;
            if (!have[e]) {
                o.kind = SIGEO_PROXY_SIGEO;
                o.fr_estimator = e;
                o.std_ddof = 0;
                o.param_kinds = SIGEO_PROXY_PARAMS_WEIGHT; /* ZiCo: conv / linear weights (the official code) */
                fam[e] = (sigeo_proxy_result_t)SIGEO_PROXY_RESULT_INIT;
                st = sigeo_proxy_compute(m, arch, n_arch, batches, PROXY_BATCHES, &o, &fam[e]);
                if (st != SIGEO_OK)
                    return st;
                have[e] = true;
            }
            const sigeo_proxy_result_t *f = &fam[e];
            if (p->derived == 0)
                values[i] = f->zico;
            else if (p->derived == 1)
                values[i] = f->log_fr;
            else if (p->derived == 2)
                values[i] = -f->loss;
            else {
                const double *l = presets[p->derived - 3];
                values[i] = l[0] * f->zico + l[1] * f->log_fr - l[2] * f->loss;
            }
            continue;
        }
        o.kind = p->kind;
        o.seed = 1;
        st = sigeo_proxy_compute(m, arch, n_arch, batches, PROXY_BATCHES, &o, &r);
        if (st != SIGEO_OK)
            return st;
        values[i] = r.score;
    }
    return SIGEO_OK;
}

/* --------------------------------------------------------------- data */

typedef struct data {
    sigeo_dataset_t *train, *test, *val;
    sigeo_dataset_t *pb_ds[PROXY_BATCHES];
    sigeo_batch_t proxy_batches[PROXY_BATCHES];
    int64_t n_dense;
    uint32_t n_fields;
    int64_t tables[64];
    bool ctr;
} data_t;

static void free_data(data_t *d)
{
    sigeo_dataset_destroy(d->train);
    sigeo_dataset_destroy(d->test);
    sigeo_dataset_destroy(d->val);
    for (int i = 0; i < PROXY_BATCHES; i++)
        sigeo_dataset_destroy(d->pb_ds[i]);
}

static int64_t rows_of(const sigeo_dataset_t *ds)
{
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    sigeo_dataset_get_info(&info, ds);
    return info.n_rows;
}

static int load_data(data_t *d, const config_t *c)
{
    memset(d, 0, sizeof *d);
    sigeo_status_t st;
    if (c->space == SPACE_NASREC) {
        d->ctr = true;
        sigeo_synth_options_t so = SIGEO_SYNTH_OPTIONS_INIT;
        so.seed = 1;
        so.n_rows = c->ctr_rows;
        sigeo_synth_result_t sr = SIGEO_SYNTH_RESULT_INIT;
        sigeo_dataset_t *all;
        if ((st = sigeo_synth_generate(&all, &sr, &so, NULL)) != SIGEO_OK)
            return fail("generating synthetic CTR data", st);
        sigeo_split_options_t sp = SIGEO_SPLIT_OPTIONS_INIT;
        st = sigeo_dataset_split(&d->train, &d->val, &d->test, all, &sp);
        if (st == SIGEO_OK) {
            sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
            sigeo_dataset_get_info(&info, all);
            d->n_dense = info.n_dense;
            d->n_fields = info.n_sparse_fields;
            size_t nt = 64;
            st = sigeo_dataset_table_sizes(d->tables, &nt, all);
        }
        sigeo_dataset_destroy(all);
        if (st != SIGEO_OK)
            return fail("splitting the CTR data", st);
    } else {
        char dir[4096];
        if (cli_fashion_mnist_dir_strict(PROG, dir, sizeof dir, c->data_dir) != 0)
            return 2;
        if ((st = sigeo_fashion_mnist_load(&d->train, dir, SIGEO_FASHION_MNIST_TRAIN, c->train_rows)) != SIGEO_OK)
            return fail("loading the Fashion-MNIST training images", st);
        if ((st = sigeo_fashion_mnist_load(&d->test, dir, SIGEO_FASHION_MNIST_TEST, c->test_rows)) != SIGEO_OK)
            return fail("loading the Fashion-MNIST test images", st);
        d->n_dense = 784;
    }
    if (rows_of(d->train) < PROXY_BATCHES * PROXY_BATCH) {
        fprintf(stderr, PROG ": %lld training rows, the proxies need %d\n", (long long)rows_of(d->train),
                PROXY_BATCHES * PROXY_BATCH);
        return 2;
    }
    /* The proxies' fixed batches: training rows 0-255 in storage order, one
     * dataset per batch so the four views stay valid together. */
    for (int i = 0; i < PROXY_BATCHES; i++) {
        int64_t rows[PROXY_BATCH];
        for (int r = 0; r < PROXY_BATCH; r++)
            rows[r] = i * PROXY_BATCH + r;
        d->proxy_batches[i] = (sigeo_batch_t)SIGEO_BATCH_INIT;
        if ((st = sigeo_dataset_subset(&d->pb_ds[i], d->train, rows, PROXY_BATCH)) != SIGEO_OK ||
            (st = sigeo_dataset_view(&d->proxy_batches[i], d->pb_ds[i], 0, PROXY_BATCH)) != SIGEO_OK)
            return fail("the proxy batches", st);
    }
    return 0;
}

/* ------------------------------------------------------------- archs */

typedef struct arch {
    int32_t a[MAX_CHOICES];
    int64_t id; /* nb201 id, else -1 */
    char text[256];   /* canonical "3,0,1" */
    char label[256];  /* NB201 string, else the text */
    int degenerate;
    int64_t params, flops;
    double acc, loss, auc, train_loss, seconds, target;
    bool have_gt;
    bool complete; /* every result asked for (the outputs' "complete") */
    double *pv; /* [N_PROTO][n_levels][n_proxies] */
    bool have_pv[N_PROTO][MAX_LEVELS];
} arch_t;

typedef struct study {
    config_t c;
    data_t d;
    sigeo_model_t *super; /* the space's supernet (parent: for archs and counts) */
    int32_t n_choices;
    int32_t n_options[MAX_CHOICES];
    arch_t *archs;
    int64_t n_archs;
    uint64_t config_hash;
    progress_t pg;
} study_t;

static double *pv(study_t *s, arch_t *a, int proto, size_t level)
{
    return a->pv + ((size_t)proto * s->c.n_levels + level) * (size_t)n_proxies;
}

static int describe_arch(study_t *s, arch_t *a)
{
    sigeo_arch_format(a->text, sizeof a->text, NULL, a->a, s->n_choices);
    if (s->c.space == SPACE_NB201) {
        sigeo_nb201_to_id(&a->id, a->a);
        sigeo_nb201_to_string(a->label, sizeof a->label, NULL, a->a);
        sigeo_nb201_is_degenerate(&a->degenerate, a->a);
    } else {
        a->id = -1;
        snprintf(a->label, sizeof a->label, "%s", a->text);
        a->degenerate = 0;
    }
    sigeo_status_t st = sigeo_model_count(&a->params, &a->flops, s->super, a->a, s->n_choices);
    if (st != SIGEO_OK)
        return fail("counting an arch", st);
    a->pv = calloc((size_t)N_PROTO * s->c.n_levels * (size_t)n_proxies, sizeof(double));
    if (!a->pv)
        return fail("memory", SIGEO_ERR_NO_MEMORY);
    for (size_t i = 0; i < (size_t)N_PROTO * s->c.n_levels * (size_t)n_proxies; i++)
        a->pv[i] = NAN;
    return 0;
}

/* One arch from text: an NB201 id or string (nb201-fmnist), or the
 * canonical "3,0,1" form (every space). */
static int parse_arch(study_t *s, arch_t *a, const char *text, const char *where)
{
    memset(a, 0, sizeof *a);
    sigeo_status_t st;
    if (s->c.space == SPACE_NB201 && text[0] == '|')
        st = sigeo_nb201_from_string(a->a, text);
    else if (s->c.space == SPACE_NB201 && !strchr(text, ',')) {
        char *end;
        errno = 0;
        long long id = strtoll(text, &end, 10);
        if (errno || *end || end == text) {
            fprintf(stderr, PROG ": %s: '%s' is neither an NB201 id (0..15624) nor an NB201 string\n", where, text);
            return 2;
        }
        st = sigeo_nb201_from_id(a->a, id);
    } else {
        int32_t n = 0;
        st = sigeo_arch_parse(a->a, MAX_CHOICES, &n, text);
        if (st == SIGEO_OK && n != s->n_choices) {
            fprintf(stderr, PROG ": %s: arch '%s' has %d entries, space %s has %d choice points\n", where, text,
                    (int)n, s->c.space_name, (int)s->n_choices);
            return 2;
        }
        if (st == SIGEO_OK)
            st = sigeo_model_check_arch(s->super, a->a, s->n_choices);
    }
    if (st != SIGEO_OK) {
        fprintf(stderr, PROG ": %s: bad arch '%s': %s\n", where, text, sigeo_last_error());
        return 2;
    }
    return describe_arch(s, a);
}

static int64_t steps_per_epoch(const study_t *s)
{
    return rows_of(s->d.train) / s->c.batch;
}

static int64_t level_step(const study_t *s, double w)
{
    return (int64_t)llround(w / 100.0 * (double)steps_per_epoch(s));
}

/* --------------------------------------------------------------- cache */

static void cache_path(char *buf, size_t size, const study_t *s, const arch_t *a, const char *what)
{
    char t[256];
    snprintf(t, sizeof t, "%s", a->text);
    for (char *p = t; *p; p++)
        if (*p == ',')
            *p = '_';
    snprintf(buf, size, "%s/%s-%016llx-%s-%s.txt", s->c.cache, s->c.space_name, (unsigned long long)s->config_hash,
             what, t);
}

/* Writes `text` to path atomically (output.h: temporary file, fsync, rename). */
static int write_atomic(const char *path, const char *text)
{
    output_file_t o;
    FILE *f = output_open(&o, path);
    if (!f) {
        fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
        return 1;
    }
    if (fputs(text, f) < 0) {
        output_abort(&o);
        fprintf(stderr, PROG ": writing %s failed\n", path);
        return 1;
    }
    if (output_commit(&o) != 0) {
        fprintf(stderr, PROG ": writing %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

typedef struct strbuf {
    char *p;
    size_t n, cap;
} strbuf_t;

static void sb_printf(strbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0)
            return;
        if (b->p && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)k;
        char *q = realloc(b->p, cap);
        if (!q)
            return;
        b->p = q;
        b->cap = cap;
    }
}

/* One proxy line per (level, proxy): "proxy <level index> <name> <value>". */
static void sb_proxies(strbuf_t *b, study_t *s, arch_t *a, int proto)
{
    for (size_t l = 0; l < s->c.n_levels; l++)
        if (a->have_pv[proto][l])
            for (int i = 0; i < n_proxies; i++)
                sb_printf(b, "proxy %g %s %.17g\n", s->c.levels[l], proxies[i].name, pv(s, a, proto, l)[i]);
}

/* Reads a cache file; returns 1 if it holds what is asked (ground truth
 * and/or every proxy of every level), 0 if absent or incomplete. */
static int read_cache(study_t *s, arch_t *a, int proto, bool want_gt)
{
    char path[4096];
    cache_path(path, sizeof path, s, a, proto == PROTO_PER_ARCH ? "run" : "super");
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[512];
    bool gt = false;
    int counts[MAX_LEVELS] = { 0 };
    while (fgets(line, sizeof line, f)) {
        double lv, v;
        char name[NAME_LEN + 8];
        if (sscanf(line, "proxy %lf %47s %lf", &lv, name, &v) == 3 ||
            (sscanf(line, "proxy %lf %47s", &lv, name) == 2 && (v = NAN, 1))) {
            for (size_t l = 0; l < s->c.n_levels; l++)
                if (s->c.levels[l] == lv)
                    for (int i = 0; i < n_proxies; i++)
                        if (!strcmp(proxies[i].name, name)) {
                            pv(s, a, proto, l)[i] = v;
                            counts[l]++;
                        }
        } else if (sscanf(line, "test_acc %lf", &a->acc) == 1 || sscanf(line, "test_loss %lf", &a->loss) == 1 ||
                   sscanf(line, "test_auc %lf", &a->auc) == 1 || sscanf(line, "seconds %lf", &a->seconds) == 1)
            gt = true;
        else
            sscanf(line, "train_loss %lf", &a->train_loss);
    }
    fclose(f);
    bool complete = !want_gt || gt;
    for (size_t l = 0; l < s->c.n_levels; l++) {
        a->have_pv[proto][l] = counts[l] == n_proxies;
        complete = complete && a->have_pv[proto][l];
    }
    if (want_gt && gt) {
        a->have_gt = true;
        a->target = s->d.ctr ? -a->loss : a->acc;
    }
    return complete;
}

/* ------------------------------------------------------- model building */

static sigeo_status_t make_context(sigeo_context_t **ctx, const study_t *s, uint64_t seed)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.seed = seed;
    o.threads = (uint32_t)s->c.threads;
    return sigeo_context_create(ctx, &o);
}

static sigeo_status_t build_supernet(sigeo_model_t **out, sigeo_context_t *ctx, const study_t *s)
{
    sigeo_space_options_t so = SIGEO_SPACE_OPTIONS_INIT;
    if (s->c.space == SPACE_MLP) {
        so.n_dense = 784;
        so.n_classes = 10;
    } else if (s->c.space == SPACE_NASREC) {
        so.n_dense = s->d.n_dense;
        so.n_sparse_fields = s->d.n_fields;
        so.table_rows = s->d.tables;
    }
    return sigeo_space_build(out, ctx, s->c.space_name, &so);
}

/* The standalone network of an arch, trained from scratch: nb201 builds it
 * directly; the other spaces extract it from a supernet built in the same
 * context (fresh weights from the context's seed). */
static sigeo_status_t build_standalone(sigeo_model_t **out, sigeo_context_t *ctx, const study_t *s, const arch_t *a)
{
    if (s->c.space == SPACE_NB201)
        return sigeo_nb201_build(out, ctx, a->a);
    sigeo_model_t *super;
    sigeo_status_t st = build_supernet(&super, ctx, s);
    if (st == SIGEO_OK)
        st = sigeo_model_extract(out, super, a->a, s->n_choices, 0);
    sigeo_model_destroy(super);
    return st;
}

typedef struct recipe {
    sigeo_optimizer_options_t opt;
    sigeo_lr_schedule_t lr;
    int64_t steps, per_epoch;
} recipe_t;

static void make_recipe(recipe_t *r, const study_t *s)
{
    r->per_epoch = steps_per_epoch(s);
    r->steps = (int64_t)llround(s->c.epochs * (double)r->per_epoch);
    r->opt = (sigeo_optimizer_options_t)SIGEO_OPTIMIZER_OPTIONS_INIT;
    r->lr = (sigeo_lr_schedule_t)SIGEO_LR_SCHEDULE_INIT;
    if (s->d.ctr) { /* sigeo-nas retrain recipe */
        r->opt.kind = SIGEO_OPT_ADAGRAD;
        r->opt.lr = 0.1;
        r->opt.eps = 1e-2;
        r->opt.clip_norm = 5.0;
        r->lr.kind = SIGEO_LR_WARMUP_COSINE;
        r->lr.lr = 0.1;
        r->lr.lr_min = 1e-8;
        r->lr.total_steps = r->steps;
        r->lr.warmup_steps = r->steps / 10;
    } else { /* docs/cellspace.md §2 */
        r->opt.kind = SIGEO_OPT_SGD;
        r->opt.momentum = 0.9;
        r->opt.nesterov = 1;
        r->opt.weight_decay = 5e-4;
        r->lr.kind = SIGEO_LR_COSINE; /* lr_min + (lr - lr_min)(1 + cos)/2 = 0.05 (1 + cos(pi t / T)) */
        r->lr.lr = 0.1;
        r->lr.lr_min = 0.0;
        r->lr.total_steps = r->steps;
    }
}

/* Training batch t: epoch t / per_epoch visits the rows in the order of
 * sigeo_dataset_shuffle(train, 1000 + epoch), the same for every arch. */
static sigeo_status_t train_batch(sigeo_batch_t *b, study_t *s, int64_t t, int64_t per_epoch, int64_t *epoch_now)
{
    const int64_t epoch = t / per_epoch;
    sigeo_status_t st = SIGEO_OK;
    if (epoch != *epoch_now) {
        if ((st = sigeo_dataset_shuffle(s->d.train, 1000 + (uint64_t)epoch)) != SIGEO_OK)
            return st;
        *epoch_now = epoch;
    }
    *b = (sigeo_batch_t)SIGEO_BATCH_INIT;
    return sigeo_dataset_batch(b, s->d.train, t % per_epoch, s->c.batch, SIGEO_BATCH_DROP_LAST);
}

/* Proxies on a copy of the run's model (so the run is untouched: the
 * proxies' train-mode forwards would move its batch-norm statistics). */
static sigeo_status_t per_arch_proxies(double *values, sigeo_model_t *m, study_t *s)
{
    sigeo_model_t *copy;
    sigeo_status_t st = sigeo_model_extract(&copy, m, NULL, 0, 1);
    if (st != SIGEO_OK)
        return st;
    st = score_proxies(values, copy, NULL, 0, s->d.proxy_batches, &s->c);
    sigeo_model_destroy(copy);
    return st;
}

/* Ground-truth run of one arch with the per-arch proxies at the level steps. */
static int run_arch(study_t *s, arch_t *a)
{
    const double t0 = now();
    sigeo_context_t *ctx = NULL;
    sigeo_model_t *m = NULL;
    sigeo_optimizer_t *opt = NULL;
    recipe_t r;
    make_recipe(&r, s);
    /* the arch's own seed: a function of its id (its hash in other spaces) */
    const uint64_t seed =
        (a->id >= 0 ? 100003ull + (uint64_t)a->id : sigeo_arch_hash(a->a, s->n_choices)) + 7919ull * s->c.gt_seed;
    sigeo_status_t st = make_context(&ctx, s, seed);
    if (st == SIGEO_OK)
        st = build_standalone(&m, ctx, s, a);
    if (st == SIGEO_OK)
        st = sigeo_optimizer_create(&opt, m, &r.opt);
    const bool gt = !strcmp(s->c.ground_truth, "train");
    const bool want_proxies = s->c.proto[PROTO_PER_ARCH];
    int64_t last_step = gt ? r.steps : 0;
    for (size_t l = 0; l < s->c.n_levels && want_proxies; l++)
        if (level_step(s, s->c.levels[l]) > last_step)
            last_step = level_step(s, s->c.levels[l]);
    int64_t epoch_now = -1;
    double epoch_loss = 0.0;
    int64_t epoch_n = 0;
    for (int64_t t = 0; t <= last_step && st == SIGEO_OK; t++) {
        for (size_t l = 0; l < s->c.n_levels && want_proxies && st == SIGEO_OK; l++)
            if (level_step(s, s->c.levels[l]) == t) {
                st = per_arch_proxies(pv(s, a, PROTO_PER_ARCH, l), m, s);
                a->have_pv[PROTO_PER_ARCH][l] = st == SIGEO_OK;
            }
        if (t == last_step || st != SIGEO_OK)
            break;
        sigeo_batch_t b;
        double loss, lr;
        if ((st = train_batch(&b, s, t, r.per_epoch, &epoch_now)) != SIGEO_OK)
            break;
        if ((st = sigeo_model_forward_backward(&loss, m, &b)) != SIGEO_OK)
            break;
        if (t % r.per_epoch == 0)
            epoch_loss = 0.0, epoch_n = 0;
        epoch_loss += loss;
        epoch_n++;
        if ((st = sigeo_lr_at(&lr, &r.lr, t)) == SIGEO_OK)
            st = sigeo_optimizer_step(opt, lr);
    }
    if (st == SIGEO_OK && gt) {
        a->train_loss = epoch_n ? epoch_loss / (double)epoch_n : NAN;
        st = sigeo_model_set_training(m, 0);
        a->auc = NAN;
        if (st == SIGEO_OK)
            st = sigeo_evaluate(&a->loss, s->d.ctr ? &a->auc : NULL, &a->acc, m, s->d.test, 500);
        a->acc *= 100.0;
        a->have_gt = st == SIGEO_OK;
        a->target = s->d.ctr ? -a->loss : a->acc;
    }
    a->seconds = now() - t0;
    int rc = 0;
    if (st != SIGEO_OK) {
        char what[300];
        snprintf(what, sizeof what, "arch %s", a->label);
        rc = fail(what, st);
    }
    sigeo_optimizer_destroy(opt);
    sigeo_model_destroy(m);
    sigeo_context_destroy(ctx);
    if (rc)
        return rc;
    strbuf_t b = { NULL, 0, 0 };
    sb_printf(&b, "sigeo-rank-cache 1\nspace %s\narch %s\nlabel %s\n", s->c.space_name, a->text, a->label);
    if (gt)
        sb_printf(&b, "test_acc %.17g\ntest_loss %.17g\ntest_auc %.17g\ntrain_loss %.17g\nseconds %.3f\n", a->acc,
                  a->loss, a->auc, a->train_loss, a->seconds);
    sb_proxies(&b, s, a, PROTO_PER_ARCH);
    char path[4096];
    cache_path(path, sizeof path, s, a, "run");
    rc = b.p ? write_atomic(path, b.p) : fail("memory", SIGEO_ERR_NO_MEMORY);
    free(b.p);
    return rc;
}

/* Supernet protocol of a share of the archs: the supernet (same seed in
 * every worker, so every worker warms the same weights) warmed level by
 * level on uniformly sampled paths, the archs scored at each level. */
static int run_supernet_share(study_t *s, const int64_t *todo, int64_t n_todo)
{
    sigeo_context_t *ctx;
    sigeo_model_t *m = NULL;
    sigeo_optimizer_t *opt = NULL;
    recipe_t r;
    make_recipe(&r, s);
    sigeo_status_t st = make_context(&ctx, s, 7);
    if (st == SIGEO_OK)
        st = build_supernet(&m, ctx, s);
    if (st == SIGEO_OK)
        st = sigeo_optimizer_create(&opt, m, &r.opt);
    int64_t done = 0, epoch_now = -1;
    int32_t arch[MAX_CHOICES];
    for (size_t l = 0; l < s->c.n_levels && st == SIGEO_OK && !interrupt_requested(); l++) {
        const int64_t target = level_step(s, s->c.levels[l]);
        for (; done < target && st == SIGEO_OK && !interrupt_requested(); done++) {
            sigeo_batch_t b;
            double loss, lr;
            if ((st = sigeo_model_sample_arch(arch, MAX_CHOICES, m, SIGEO_SAMPLE_UNIFORM)) != SIGEO_OK ||
                (st = sigeo_model_activate(m, arch, s->n_choices)) != SIGEO_OK ||
                (st = train_batch(&b, s, done, r.per_epoch, &epoch_now)) != SIGEO_OK ||
                (st = sigeo_model_forward_backward(&loss, m, &b)) != SIGEO_OK ||
                (st = sigeo_lr_at(&lr, &r.lr, done)) != SIGEO_OK)
                break;
            st = sigeo_optimizer_step(opt, lr);
        }
        for (int64_t i = 0; i < n_todo && st == SIGEO_OK; i++) {
            arch_t *a = &s->archs[todo[i]];
            st = score_proxies(pv(s, a, PROTO_SUPERNET, l), m, a->a, s->n_choices, s->d.proxy_batches, &s->c);
            a->have_pv[PROTO_SUPERNET][l] = st == SIGEO_OK;
        }
    }
    int rc = st == SIGEO_OK ? 0 : fail("supernet protocol", st);
    /* interrupted: no arch of the share has every level (nothing written) */
    for (int64_t i = 0; i < n_todo && rc == 0 && !interrupt_requested(); i++) {
        arch_t *a = &s->archs[todo[i]];
        strbuf_t b = { NULL, 0, 0 };
        sb_printf(&b, "sigeo-rank-cache 1\nspace %s\narch %s\nlabel %s\n", s->c.space_name, a->text, a->label);
        sb_proxies(&b, s, a, PROTO_SUPERNET);
        char path[4096];
        cache_path(path, sizeof path, s, a, "super");
        rc = b.p ? write_atomic(path, b.p) : fail("memory", SIGEO_ERR_NO_MEMORY);
        free(b.p);
    }
    sigeo_optimizer_destroy(opt);
    sigeo_model_destroy(m);
    sigeo_context_destroy(ctx);
    return rc;
}

/* -------------------------------------------------------------- workers */

/* Runs job(worker, share) in J forked workers (job i goes to worker i mod
 * J) and reports progress with an ETA from the cache files appearing. */
typedef int (*job_fn)(study_t *s, const int64_t *todo, int64_t n);

static int count_done(study_t *s, const int64_t *todo, int64_t n, int proto, bool gt)
{
    int done = 0;
    for (int64_t i = 0; i < n; i++)
        done += read_cache(s, &s->archs[todo[i]], proto, gt);
    return done;
}

static int run_jobs(study_t *s, const int64_t *todo, int64_t n, job_fn fn, int proto, bool gt, const char *what)
{
    if (n == 0)
        return 0;
    const int64_t J = s->c.jobs < n ? s->c.jobs : n;
    const double t0 = now();
    /* Always in forked workers, even one: libgomp is not fork-safe once a
     * process ran a parallel region, so the parent never computes (a second
     * phase forks again from it). */
    fflush(NULL);
    pid_t pids[64];
    int64_t *share = malloc((size_t)n * sizeof *share);
    if (!share)
        return fail("memory", SIGEO_ERR_NO_MEMORY);
    for (int64_t w = 0; w < J; w++) {
        int64_t k = 0;
        for (int64_t i = w; i < n; i += J)
            share[k++] = todo[i];
        pid_t p = fork();
        if (p < 0) {
            fprintf(stderr, PROG ": fork: %s\n", strerror(errno));
            free(share);
            return 1;
        }
        if (p == 0) {
            /* Signals reach a worker through the parent alone: a Ctrl-C (sent
             * to the whole group) is ignored here, the parent passes the
             * first signal on as one SIGTERM (the worker then stops after its
             * arch), and a worker dies with the parent (a second signal
             * _exits the parent). */
            signal(SIGINT, SIG_IGN);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() == 1)
                _exit(1);
            _exit(fn(s, share, k) ? 1 : 0);
        }
        pids[w] = p;
    }
    free(share);
    progress_phase(&s->pg, what, n);
    bool forwarded = false;
    int alive = (int)J, rc = 0, last = -1;
    while (alive > 0) {
        for (int64_t w = 0; w < J; w++) {
            int status;
            if (pids[w] > 0 && waitpid(pids[w], &status, WNOHANG) == pids[w]) {
                pids[w] = 0;
                alive--;
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                    rc = 1;
            }
        }
        /* the first signal, passed on: the workers stop after their arch */
        if (interrupt_requested() && !forwarded) {
            for (int64_t w = 0; w < J; w++)
                if (pids[w] > 0)
                    kill(pids[w], SIGTERM);
            forwarded = true;
        }
        if (s->pg.mode != PROGRESS_OFF) {
            int done = count_done(s, todo, n, proto, gt);
            if (done != last) {
                progress_update(&s->pg, done, "archs done");
                last = done;
            }
        }
        if (alive > 0)
            nanosleep(&(struct timespec){ 0, 500000000L }, NULL);
    }
    progress_end(&s->pg, "%d/%lld archs in %.0f s%s", count_done(s, todo, n, proto, gt), (long long)n, now() - t0,
                 interrupt_requested() ? " (interrupted)" : "");
    return rc;
}

static int job_runs(study_t *s, const int64_t *todo, int64_t n)
{
    for (int64_t i = 0; i < n && !interrupt_requested(); i++) /* the safe point: between archs */
        if (run_arch(s, &s->archs[todo[i]]) != 0)
            return 1;
    return 0;
}

static int job_super(study_t *s, const int64_t *todo, int64_t n)
{
    return run_supernet_share(s, todo, n);
}

/* ------------------------------------------------ ground truth from a file */

static int find_arch(study_t *s, const char *key, const char *where)
{
    arch_t probe;
    if (parse_arch(s, &probe, key, where) != 0)
        return -2;
    free(probe.pv);
    for (int64_t i = 0; i < s->n_archs; i++)
        if (!strcmp(s->archs[i].text, probe.text))
            return (int)i;
    return -1;
}

/* CSV with a header naming test_acc and id / arch / string (any order), or
 * JSON objects with "id" or "arch" and "test_acc" (one per line or not:
 * the scanner reads key-value pairs in order). */
static int read_ground_truth(study_t *s, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, PROG ": --ground-truth %s: %s\n", path, strerror(errno));
        return 2;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (!text || fread(text, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        free(text);
        fprintf(stderr, PROG ": --ground-truth %s: cannot read\n", path);
        return 2;
    }
    text[size] = 0;
    fclose(f);
    int rc = 0;
    const char *p = text;
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    if (*p == '[' || *p == '{') {
        /* JSON: walk "key": value pairs; an object's arch key and test_acc pair up */
        char key[64], val[256], arch_key[256] = "";
        double acc = NAN;
        for (const char *q = p; *q && rc == 0; q++) {
            if (*q == '}') {
                arch_key[0] = 0;
                acc = NAN;
                continue;
            }
            if (*q != '"')
                continue;
            const char *e = strchr(q + 1, '"');
            if (!e)
                break;
            snprintf(key, sizeof key, "%.*s", (int)(e - q - 1), q + 1);
            const char *v = e + 1;
            while (*v == ' ')
                v++;
            if (*v != ':') {
                q = e;
                continue;
            }
            v++;
            while (*v == ' ')
                v++;
            const char *ve;
            if (*v == '"') {
                ve = strchr(v + 1, '"');
                if (!ve)
                    break;
                snprintf(val, sizeof val, "%.*s", (int)(ve - v - 1), v + 1);
            } else {
                ve = v;
                while (*ve && *ve != ',' && *ve != '}' && *ve != ']' && *ve != '\n')
                    ve++;
                snprintf(val, sizeof val, "%.*s", (int)(ve - v), v);
                ve--;
            }
            q = ve;
            if (!strcmp(key, "id") || !strcmp(key, "arch") || !strcmp(key, "string"))
                snprintf(arch_key, sizeof arch_key, "%s", val);
            else if (!strcmp(key, "test_acc"))
                acc = strtod(val, NULL);
            if (arch_key[0] && isfinite(acc)) {
                int i = find_arch(s, arch_key, path);
                if (i == -2)
                    rc = 2;
                else if (i >= 0) {
                    s->archs[i].acc = acc;
                    s->archs[i].target = acc;
                    s->archs[i].have_gt = true;
                }
                arch_key[0] = 0;
                acc = NAN;
            }
        }
    } else {
        /* CSV */
        char *save = NULL, *line = strtok_r(text, "\n", &save);
        int col_arch = -1, col_acc = -1, line_no = 1;
        if (line) {
            char *s2 = NULL;
            int k = 0;
            for (char *t = strtok_r(line, ",\r", &s2); t; t = strtok_r(NULL, ",\r", &s2), k++) {
                if (!strcmp(t, "id") || !strcmp(t, "arch") || !strcmp(t, "string"))
                    col_arch = k;
                else if (!strcmp(t, "test_acc"))
                    col_acc = k;
            }
        }
        if (col_arch < 0 || col_acc < 0) {
            fprintf(stderr, PROG ": --ground-truth %s: the CSV header needs an id (or arch / string) column and a "
                            "test_acc column\n", path);
            rc = 2;
        }
        /* NB201 strings hold no commas, canonical arch texts do: those need the JSON form */
        while (rc == 0 && (line = strtok_r(NULL, "\n", &save)) != NULL) {
            line_no++;
            char *fields[64];
            int k = 0;
            for (char *q = line; k < 64;) {
                fields[k++] = q;
                char *c = strchr(q, ',');
                if (!c)
                    break;
                *c = 0;
                q = c + 1;
            }
            if (k <= col_arch || k <= col_acc)
                continue;
            char *cr = strchr(fields[col_acc], '\r');
            if (cr)
                *cr = 0;
            char where[4200];
            snprintf(where, sizeof where, "%s line %d", path, line_no);
            int i = find_arch(s, fields[col_arch], where);
            if (i == -2)
                rc = 2;
            else if (i >= 0) {
                char *end;
                s->archs[i].acc = strtod(fields[col_acc], &end);
                if (end == fields[col_acc]) {
                    fprintf(stderr, PROG ": %s: test_acc '%s' is not a number\n", where, fields[col_acc]);
                    rc = 2;
                }
                s->archs[i].target = s->archs[i].acc;
                s->archs[i].have_gt = true;
            }
        }
    }
    free(text);
    for (int64_t i = 0; i < s->n_archs && rc == 0; i++)
        if (!s->archs[i].have_gt) {
            fprintf(stderr, PROG ": --ground-truth %s has no test_acc for arch %s (%s)\n", path, s->archs[i].label,
                    s->archs[i].text);
            rc = 2;
        }
    return rc;
}

/* --------------------------------------------------------- correlations */

typedef struct corr {
    int proto;
    size_t level;
    int proxy;
    int subset; /* 0 all, 1 non-degenerate */
    int64_t n;
    double rho, rho_lo, rho_hi, tau, tau_lo, tau_hi;
} corr_t;

static void correlate(corr_t *c, study_t *s)
{
    double *x = malloc((size_t)s->n_archs * sizeof *x), *y = malloc((size_t)s->n_archs * sizeof *y);
    int64_t n = 0;
    for (int64_t i = 0; x && y && i < s->n_archs; i++) {
        arch_t *a = &s->archs[i];
        if (!a->complete || !a->have_gt || !a->have_pv[c->proto][c->level] || (c->subset && a->degenerate))
            continue;
        const double v = pv(s, a, c->proto, c->level)[c->proxy];
        x[n] = isfinite(v) ? v : -INFINITY; /* a non-finite value ranks lowest */
        y[n] = a->target;
        n++;
    }
    c->n = n;
    c->rho = c->rho_lo = c->rho_hi = c->tau = c->tau_lo = c->tau_hi = NAN;
    if (n >= 3 && x && y) {
        if (sigeo_stats_spearman(&c->rho, x, y, n) == SIGEO_OK)
            sigeo_stats_rank_bootstrap(&c->rho_lo, &c->rho_hi, x, y, n, SIGEO_RANK_SPEARMAN, s->c.resamples, 0.95,
                                       11);
        if (sigeo_stats_kendall_tau(&c->tau, x, y, n) == SIGEO_OK)
            sigeo_stats_rank_bootstrap(&c->tau_lo, &c->tau_hi, x, y, n, SIGEO_RANK_KENDALL, s->c.resamples, 0.95,
                                       11);
    }
    free(x);
    free(y);
}

/* --------------------------------------------------------------- output */

typedef struct json_user {
    study_t *s;
    const corr_t *cs;
    size_t n_cs;
    int interrupted;
} json_user_t;

static void json_body(json_out_t *jw, const void *user)
{
    const json_user_t *u = user;
    study_t *s = u->s;
    const corr_t *cs = u->cs;
    const size_t n_cs = u->n_cs;
    json_out_t *j = jw;
    const int64_t seeds[] = { (int64_t)s->c.seed, (int64_t)s->c.gt_seed };
    json_out_begin_object(j);
    provenance_json(j, &(provenance_t){ "sigeo-rank.result", 1, PROG, s->c.argc, s->c.argv, s->c.threads, seeds,
                                         s->c.archs_file ? 0 : 1, u->interrupted });
    int64_t complete = 0;
    for (int64_t i = 0; i < s->n_archs; i++)
        complete += s->archs[i].complete;
    json_out_key(j, "completed");
    json_out_begin_object(j);
    json_out_key_int(j, "archs", complete);
    json_out_key_int(j, "of_archs", s->n_archs);
    json_out_end_object(j);
    json_out_key_int(j, "gt_seed", (int64_t)s->c.gt_seed);
    json_out_key_int(j, "jobs", s->c.jobs);
    json_out_key_string(j, "space", s->c.space_name);
    json_out_key_string(j, "ground_truth", s->c.ground_truth);
    json_out_key_string(j, "target", s->d.ctr ? "-test_logloss" : "test_acc");
    json_out_key_int(j, "train_rows", rows_of(s->d.train));
    json_out_key_int(j, "test_rows", rows_of(s->d.test));
    json_out_key_int(j, "batch", s->c.batch);
    json_out_key_number(j, "epochs", s->c.epochs);
    json_out_key_int(j, "steps_per_epoch", steps_per_epoch(s));
    json_out_key(j, "levels_percent");
    json_out_begin_array(j);
    for (size_t l = 0; l < s->c.n_levels; l++)
        json_out_number(j, s->c.levels[l]);
    json_out_end_array(j);
    json_out_key(j, "proxies");
    json_out_begin_array(j);
    for (int i = 0; i < n_proxies; i++)
        json_out_string(j, proxies[i].name);
    json_out_end_array(j);
    json_out_key(j, "archs");
    json_out_begin_array(j);
    for (int64_t i = 0; i < s->n_archs; i++) {
        arch_t *a = &s->archs[i];
        json_out_begin_object(j);
        if (a->id >= 0)
            json_out_key_int(j, "id", a->id);
        json_out_key_string(j, "arch", a->text);
        json_out_key_string(j, "string", a->label);
        json_out_key_bool(j, "degenerate", a->degenerate);
        json_out_key_bool(j, "complete", a->complete);
        json_out_key_int(j, "params", a->params);
        json_out_key_int(j, "flops", a->flops);
        if (a->have_gt) {
            json_out_key_number(j, "test_acc", a->acc);
            json_out_key_number(j, "test_loss", a->loss);
            json_out_key_number(j, "test_auc", a->auc);
            json_out_key_number(j, "train_loss", a->train_loss);
            json_out_key_number(j, "seconds", a->seconds);
        }
        json_out_key(j, "proxies");
        json_out_begin_object(j);
        for (int p = 0; p < N_PROTO; p++) {
            if (!s->c.proto[p])
                continue;
            json_out_key(j, proto_names[p]);
            json_out_begin_object(j);
            for (size_t l = 0; l < s->c.n_levels; l++) {
                if (!a->have_pv[p][l])
                    continue;
                char lv[32];
                snprintf(lv, sizeof lv, "%g", s->c.levels[l]);
                json_out_key(j, lv);
                json_out_begin_object(j);
                for (int k = 0; k < n_proxies; k++) {
                    const double v = pv(s, a, p, l)[k];
                    if (isfinite(v))
                        json_out_key_number(j, proxies[k].name, v);
                    else /* JSON has no infinities: say which */
                        json_out_key_string(j, proxies[k].name, isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
                }
                json_out_end_object(j);
            }
            json_out_end_object(j);
        }
        json_out_end_object(j);
        json_out_end_object(j);
    }
    json_out_end_array(j);
    json_out_key(j, "correlations");
    json_out_begin_array(j);
    for (size_t i = 0; i < n_cs; i++) {
        const corr_t *c = &cs[i];
        json_out_begin_object(j);
        json_out_key_string(j, "protocol", proto_names[c->proto]);
        json_out_key_number(j, "level", s->c.levels[c->level]);
        json_out_key_string(j, "proxy", proxies[c->proxy].name);
        json_out_key_string(j, "subset", c->subset ? "non-degenerate" : "all");
        json_out_key_int(j, "n", c->n);
        json_out_key_number(j, "spearman", c->rho);
        json_out_key_number(j, "spearman_lo", c->rho_lo);
        json_out_key_number(j, "spearman_hi", c->rho_hi);
        json_out_key_number(j, "kendall", c->tau);
        json_out_key_number(j, "kendall_lo", c->tau_lo);
        json_out_key_number(j, "kendall_hi", c->tau_hi);
        json_out_end_object(j);
    }
    json_out_end_array(j);
    json_out_end_object(j);
}

static int write_json(study_t *s, const corr_t *cs, size_t n_cs, int interrupted)
{
    const json_user_t u = { s, cs, n_cs, interrupted };
    return output_write_json(PROG, "--json", s->c.json, 1, json_body, &u) != 0;
}

static int write_csv(study_t *s)
{
    output_file_t o;
    FILE *f = output_open(&o, s->c.csv);
    if (!f) {
        fprintf(stderr, PROG ": --csv %s: %s\n", s->c.csv, strerror(errno));
        return 1;
    }
    csv_out_t c;
    csv_out_init(&c, f);
    const char *head[] = { "id", "arch", "string", "degenerate", "params", "flops", "test_acc", "test_loss", "test_auc",
                           "train_loss", "seconds" };
    for (size_t i = 0; i < sizeof head / sizeof head[0]; i++)
        csv_out_text(&c, head[i]);
    for (int p = 0; p < N_PROTO; p++)
        for (size_t l = 0; l < s->c.n_levels && s->c.proto[p]; l++)
            for (int k = 0; k < n_proxies; k++) {
                char name[160];
                snprintf(name, sizeof name, "%s@%g:%.40s", proto_names[p], s->c.levels[l], proxies[k].name);
                csv_out_text(&c, name);
            }
    csv_out_end_row(&c);
    for (int64_t i = 0; i < s->n_archs; i++) {
        arch_t *a = &s->archs[i];
        if (a->id >= 0)
            csv_out_int(&c, a->id);
        else
            csv_out_text(&c, NULL);
        csv_out_text(&c, a->text);
        csv_out_text(&c, a->label);
        csv_out_int(&c, a->degenerate);
        csv_out_int(&c, a->params);
        csv_out_int(&c, a->flops);
        const double gt[] = { a->acc, a->loss, a->auc, a->train_loss, a->seconds };
        for (int k = 0; k < 5; k++)
            csv_out_number(&c, a->have_gt ? gt[k] : NAN);
        for (int p = 0; p < N_PROTO; p++)
            for (size_t l = 0; l < s->c.n_levels && s->c.proto[p]; l++)
                for (int k = 0; k < n_proxies; k++)
                    csv_out_number(&c, a->have_pv[p][l] ? pv(s, a, p, l)[k] : NAN);
        csv_out_end_row(&c);
    }
    if (csv_out_status(&c) != 0) {
        output_abort(&o);
        fprintf(stderr, PROG ": --csv %s: writing failed\n", s->c.csv);
        return 1;
    }
    if (output_commit(&o) != 0) {
        fprintf(stderr, PROG ": --csv %s: %s\n", s->c.csv, strerror(errno));
        return 1;
    }
    return 0;
}

static int write_plots(study_t *s, const corr_t *cs, size_t n_cs)
{
    rank_bars_t panels[N_PROTO];
    size_t np = 0;
    const size_t nl = s->c.n_levels, nq = (size_t)n_proxies;
    double *v = calloc(N_PROTO * nl * nq * 3, sizeof *v);
    const char *names[MAX_PROXIES], *bars[MAX_LEVELS];
    char bar_text[MAX_LEVELS][32], titles[N_PROTO][128];
    if (!v)
        return 1;
    for (size_t k = 0; k < nq; k++)
        names[k] = proxies[k].name;
    for (size_t l = 0; l < nl; l++) {
        snprintf(bar_text[l], sizeof bar_text[l], "warm-up %g %%", s->c.levels[l]);
        bars[l] = bar_text[l];
    }
    int best = -1, best_proto = 0;
    size_t best_level = 0;
    double best_rho = -2;
    for (int p = 0; p < N_PROTO; p++) {
        if (!s->c.proto[p])
            continue;
        double *val = v + (size_t)np * nl * nq * 3, *lo = val + nl * nq, *hi = lo + nl * nq;
        for (size_t i = 0; i < nl * nq; i++)
            val[i] = lo[i] = hi[i] = NAN;
        for (size_t i = 0; i < n_cs; i++)
            if (cs[i].proto == p && cs[i].subset == 0) {
                const size_t at = (size_t)cs[i].proxy * nl + cs[i].level;
                val[at] = cs[i].rho;
                lo[at] = cs[i].rho_lo;
                hi[at] = cs[i].rho_hi;
                if (isfinite(cs[i].rho) && cs[i].rho > best_rho) {
                    best_rho = cs[i].rho;
                    best = cs[i].proxy;
                    best_proto = p;
                    best_level = cs[i].level;
                }
            }
        snprintf(titles[np], sizeof titles[np], "%s protocol (%lld archs)", proto_names[p], (long long)s->n_archs);
        panels[np] = (rank_bars_t){ titles[np], nq, nl, names, bars, val, lo, hi };
        np++;
    }
    char title[256];
    snprintf(title, sizeof title, "%s: Spearman of each proxy with %s, 95 %% bootstrap intervals", s->c.space_name,
             s->d.ctr ? "-test log loss" : "test accuracy");
    int rc = 0;
    if (np && rank_plot_bars(s->c.plot, title, "Spearman rho", panels, np) != 0) {
        fprintf(stderr, PROG ": %s: %s\n", s->c.plot, strerror(errno));
        rc = 1;
    }
    free(v);
    if (best < 0 || rc)
        return rc;
    /* the scatter of the best proxy against the target */
    double *x = malloc((size_t)s->n_archs * sizeof *x), *y = malloc((size_t)s->n_archs * sizeof *y),
           *col = malloc((size_t)s->n_archs * sizeof *col);
    size_t n = 0;
    for (int64_t i = 0; x && y && col && i < s->n_archs; i++) {
        arch_t *a = &s->archs[i];
        if (!a->have_gt || !a->have_pv[best_proto][best_level])
            continue;
        x[n] = pv(s, a, best_proto, best_level)[best];
        y[n] = a->target;
        col[n] = a->degenerate;
        n++;
    }
    char path[4096], ptitle[320], sub[160];
    snprintf(path, sizeof path, "%.*s-scatter.svg",
             (int)(strlen(s->c.plot) > 4 && !strcmp(s->c.plot + strlen(s->c.plot) - 4, ".svg") ? strlen(s->c.plot) - 4
                                                                                                 : strlen(s->c.plot)),
             s->c.plot);
    snprintf(ptitle, sizeof ptitle, "%s, %s protocol, warm-up %g %%", proxies[best].name, proto_names[best_proto],
             s->c.levels[best_level]);
    snprintf(sub, sizeof sub, "Spearman %.3f over %zu archs", best_rho, n);
    svg_panel_t panel = { ptitle, sub, proxies[best].name, s->d.ctr ? "-test log loss" : "test accuracy %", x, y,
                          col, n, SVG_SCALE_LINEAR, SVG_SCALE_LINEAR };
    svg_figure_t fig = { "Best proxy against the ground truth", NULL, 1, 520, 420, "degenerate (1)", 0, 1, 0, "architecture" };
    if (svg_write_scatter_grid(path, &fig, &panel, 1) != 0) { /* atomic (svg.h) */
        fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
        rc = 1;
    }
    free(x);
    free(y);
    free(col);
    return rc;
}

static void print_table(study_t *s, const corr_t *cs, size_t n_cs)
{
    const bool deg = s->c.space == SPACE_NB201;
    for (int p = 0; p < N_PROTO; p++)
        for (size_t l = 0; l < s->c.n_levels && s->c.proto[p]; l++) {
            printf("\n%s protocol, warm-up %g %%: rank correlation with %s (95 %% bootstrap intervals)\n",
                   proto_names[p], s->c.levels[l], s->d.ctr ? "-test log loss" : "test accuracy");
            printf("%-26s %5s %24s %24s", "proxy", "n", "Spearman", "Kendall-b");
            if (deg)
                printf(" | %5s %24s %24s", "n", "Spearman (non-degen.)", "Kendall-b (non-degen.)");
            printf("\n");
            for (int k = 0; k < n_proxies; k++) {
                printf("%-26s", proxies[k].name);
                for (size_t i = 0; i < n_cs; i++) {
                    const corr_t *c = &cs[i];
                    if (c->proto != p || c->level != l || c->proxy != k || (c->subset && !deg))
                        continue;
                    if (c->subset)
                        printf(" |");
                    printf(" %5lld %7.3f [%6.3f, %6.3f] %7.3f [%6.3f, %6.3f]", (long long)c->n, c->rho, c->rho_lo,
                           c->rho_hi, c->tau, c->tau_lo, c->tau_hi);
                }
                printf("\n");
            }
        }
}

/* ----------------------------------------------------------------- main */

static void usage(void)
{
    printf("Usage: " PROG " [options]\n"
           "Ranking study: proxies at warm-up levels against from-scratch accuracy (docs/ranking.md).\n\n"
           "Options:\n"
           "  --space S            nb201-fmnist (default), nasrec-small, mlp\n"
           "  --archs FILE         one arch per line: NB201 id or string (nb201-fmnist) or the canonical 3,0,1 form\n"
           "  --sample N           N distinct archs drawn uniformly (default 8), with --seed S (default 1)\n"
           "  --seed S             seed of --sample (default 1)\n"
           "  --levels L           warm-up levels in %% of one epoch (default 0,1,10)\n"
           "  --protocol P         per-arch, supernet or both (default)\n"
           "  --proxies LIST       all (default) or a comma list of names (an unknown one lists them)\n"
           "  --ground-truth G     train (default), none (proxies only), or FILE (CSV/JSON: id or arch or string,\n"
           "                       test_acc)\n"
           "  --cache DIR          per-arch results, resumable (default sigeo-rank-cache)\n"
           "  --json F             every per-arch value and correlation (schema sigeo-rank.result 1)\n"
           "  --csv F              one row per arch\n"
           "  --plot F.svg         bar chart of Spearman (also writes F-scatter.svg: best proxy vs the target)\n"
           "  --jobs J             worker processes, one arch each (default 2)\n"
           "  --threads T          intra-op threads per worker (default 1)\n"
           "  --train-rows N       training rows (default 25600)\n"
           "  --test-rows N        test rows (default 10000)\n"
           "  --batch B            batch size (default 128; nasrec-small 256)\n"
           "  --epochs E           epochs of the ground-truth runs (default 4; nasrec-small 1)\n"
           "  --ctr-rows N         nasrec-small: synthetic CTR rows (default 100000)\n"
           "  --resamples R        bootstrap resamples (default 1000)\n"
           "  --gt-seed K          shifts every arch's training seed by K (default 0): a rerun measures seed noise\n"
           "  --data-dir DIR       Fashion-MNIST (else $SIGEO_DATA_DIR, else /usr/share/datasets/fashion-mnist)\n"
           "  --quick              tiny settings for the test suite (1024 training rows, 1 epoch, levels 0,25,50)\n"
           "  --no-progress        the same as --quiet\n");
    program_help_options(stdout, PROGRAM_HELP_QUIET);
    printf("\nExamples:\n"
           "  " PROG " --sample 16 --json rank.json --plot rank.svg\n"
           "  " PROG " --space mlp --quick --protocol per-arch --proxies sigeo-zs-exact,zico --csv rank.csv\n"
           "  " PROG " --archs archs.txt --ground-truth none --protocol supernet --json proxies.json\n\n");
    program_help_exit_status(stdout, PROGRAM_HELP_INTERRUPT);
}

static int parse_args(config_t *c, int argc, char **argv)
{
    *c = (config_t){ .space_name = "nb201-fmnist", .sample = 8, .seed = 1, .levels = { 0, 1, 10 }, .n_levels = 3,
                     .proto = { true, true }, .proxies = "all", .ground_truth = "train", .cache = "sigeo-rank-cache",
                     .train_rows = 25600, .test_rows = 10000, .batch = 128, .epochs = 4, .jobs = 2, .threads = 1,
                     .ctr_rows = 100000, .resamples = 1000, .argc = argc, .argv = argv };
    bool batch_set = false, epochs_set = false, levels_set = false, rows_set = false;
    cli_t cl;
    cli_init(&cl, PROG, argc, argv);
    int r;
    int64_t v;
    while (cli_next(&cl)) {
        if (cli_flag(&cl, "--help") || cli_flag(&cl, "-h")) {
            usage();
            exit(PROGRAM_EXIT_OK);
        } else if (cli_flag(&cl, "--version")) {
            exit(program_print_version(PROG));
        } else if (cli_flag(&cl, "--quick"))
            c->quick = true;
        else if (cli_flag(&cl, "--quiet") || cli_flag(&cl, "--no-progress"))
            c->quiet = true;
        else if ((r = cli_option(&cl, "--space")) != 0) {
            if (r < 0)
                return 2;
            c->space_name = cl.value;
        } else if ((r = cli_option(&cl, "--archs")) != 0) {
            if (r < 0)
                return 2;
            c->archs_file = cl.value;
        } else if ((r = cli_option(&cl, "--sample")) != 0) {
            if (r < 0 || cli_int64(&cl, &c->sample, 2, 15625))
                return 2;
        } else if ((r = cli_option(&cl, "--seed")) != 0) {
            if (r < 0 || cli_int64(&cl, &v, 0, INT64_MAX))
                return 2;
            c->seed = (uint64_t)v;
        } else if ((r = cli_option(&cl, "--levels")) != 0) {
            if (r < 0 || cli_double_list(&cl, c->levels, MAX_LEVELS, &c->n_levels, 0, 100))
                return 2;
            levels_set = true;
        } else if ((r = cli_option(&cl, "--protocol")) != 0) {
            if (r < 0)
                return 2;
            c->proto[0] = !strcmp(cl.value, "per-arch") || !strcmp(cl.value, "both");
            c->proto[1] = !strcmp(cl.value, "supernet") || !strcmp(cl.value, "both");
            if (!c->proto[0] && !c->proto[1]) {
                cli_error(&cl, "--protocol: '%s' (want per-arch, supernet or both)", cl.value);
                return 2;
            }
        } else if ((r = cli_option(&cl, "--proxies")) != 0) {
            if (r < 0)
                return 2;
            c->proxies = cl.value;
        } else if ((r = cli_option(&cl, "--ground-truth")) != 0) {
            if (r < 0)
                return 2;
            c->ground_truth = cl.value;
        } else if ((r = cli_option(&cl, "--cache")) != 0) {
            if (r < 0)
                return 2;
            c->cache = cl.value;
        } else if ((r = cli_option(&cl, "--json")) != 0) {
            if (r < 0)
                return 2;
            c->json = cl.value;
        } else if ((r = cli_option(&cl, "--csv")) != 0) {
            if (r < 0)
                return 2;
            c->csv = cl.value;
        } else if ((r = cli_option(&cl, "--plot")) != 0) {
            if (r < 0)
                return 2;
            c->plot = cl.value;
        } else if ((r = cli_option(&cl, "--data-dir")) != 0) {
            if (r < 0)
                return 2;
            c->data_dir = cl.value;
        } else if ((r = cli_option(&cl, "--jobs")) != 0) {
            if (r < 0 || cli_int64(&cl, &c->jobs, 1, 64))
                return 2;
        } else if ((r = cli_option(&cl, "--threads")) != 0) {
            if (r < 0 || cli_int64(&cl, &c->threads, 1, 256))
                return 2;
        } else if ((r = cli_option(&cl, "--train-rows")) != 0) {
            if (r < 0 || cli_int64(&cl, &c->train_rows, 256, 60000))
                return 2;
            rows_set = true;
        } else if ((r = cli_option(&cl, "--test-rows")) != 0) {
            if (r < 0 || cli_int64(&cl, &c->test_rows, 1, 10000))
                return 2;
        } else if ((r = cli_option(&cl, "--ctr-rows")) != 0) {
            if (r < 0 || cli_int64(&cl, &c->ctr_rows, 4000, 100000000))
                return 2;
        } else if ((r = cli_option(&cl, "--batch")) != 0) {
            if (r < 0 || cli_int64(&cl, &c->batch, 2, 65536))
                return 2;
            batch_set = true;
        } else if ((r = cli_option(&cl, "--epochs")) != 0) {
            if (r < 0 || cli_double(&cl, &c->epochs, 0.01, 1000))
                return 2;
            epochs_set = true;
        } else if ((r = cli_option(&cl, "--gt-seed")) != 0) {
            if (r < 0 || cli_int64(&cl, &v, 0, INT32_MAX))
                return 2;
            c->gt_seed = (uint64_t)v;
        } else if ((r = cli_option(&cl, "--resamples")) != 0) {
            if (r < 0 || cli_int64(&cl, &v, 2, 1000000))
                return 2;
            c->resamples = (uint32_t)v;
        } else {
            cli_unknown(&cl);
            return 2;
        }
    }
    if (!strcmp(c->space_name, "nb201-fmnist"))
        c->space = SPACE_NB201;
    else if (!strcmp(c->space_name, "mlp"))
        c->space = SPACE_MLP;
    else if (!strcmp(c->space_name, "nasrec-small"))
        c->space = SPACE_NASREC;
    else {
        fprintf(stderr, PROG ": --space: unknown space '%s' (known: nb201-fmnist, nasrec-small, mlp)\n", c->space_name);
        return 2;
    }
    if (c->space == SPACE_NASREC) {
        if (!batch_set)
            c->batch = 256;
        if (!epochs_set)
            c->epochs = 1;
    }
    if (c->quick) {
        if (!rows_set)
            c->train_rows = 1024;
        c->test_rows = c->test_rows < 1000 ? c->test_rows : 1000;
        c->ctr_rows = 8000;
        if (!epochs_set)
            c->epochs = 1;
        if (!levels_set) {
            c->levels[0] = 0, c->levels[1] = 25, c->levels[2] = 50;
            c->n_levels = 3;
        }
        c->resamples = 200;
    }
    /* before any work: every output path, the cache directory, the input files */
    if (output_validate_file(PROG, "--json", c->json) || output_validate_file(PROG, "--csv", c->csv) ||
        output_validate_file(PROG, "--plot", c->plot) || output_validate_dir(PROG, "--cache", c->cache, 1))
        return 2;
    if (c->archs_file && access(c->archs_file, R_OK) != 0) {
        fprintf(stderr, PROG ": --archs %s: %s\n", c->archs_file, strerror(errno));
        return 2;
    }
    if (strcmp(c->ground_truth, "train") && strcmp(c->ground_truth, "none") && access(c->ground_truth, R_OK) != 0) {
        fprintf(stderr, PROG ": --ground-truth %s: %s\n", c->ground_truth, strerror(errno));
        return 2;
    }
    return 0;
}

static int make_archs(study_t *s)
{
    const config_t *c = &s->c;
    if (c->archs_file) {
        FILE *f = fopen(c->archs_file, "r");
        if (!f) {
            fprintf(stderr, PROG ": --archs %s: %s\n", c->archs_file, strerror(errno));
            return 2;
        }
        char line[1024];
        int64_t cap = 0, no = 0;
        while (fgets(line, sizeof line, f)) {
            no++;
            char *t = line;
            while (*t == ' ' || *t == '\t')
                t++;
            t[strcspn(t, " \t\r\n#")] = 0;
            if (!*t)
                continue;
            if (s->n_archs == cap) {
                cap = cap ? 2 * cap : 64;
                arch_t *q = realloc(s->archs, (size_t)cap * sizeof *q);
                if (!q) {
                    fclose(f);
                    return fail("memory", SIGEO_ERR_NO_MEMORY);
                }
                s->archs = q;
            }
            char where[4200];
            snprintf(where, sizeof where, "%s line %lld", c->archs_file, (long long)no);
            int rc = parse_arch(s, &s->archs[s->n_archs], t, where);
            if (rc) {
                fclose(f);
                return rc;
            }
            for (int64_t i = 0; i < s->n_archs; i++)
                if (!strcmp(s->archs[i].text, s->archs[s->n_archs].text)) {
                    fprintf(stderr, PROG ": %s: arch %s listed twice\n", where, t);
                    free(s->archs[s->n_archs].pv);
                    fclose(f);
                    return 2;
                }
            s->n_archs++;
        }
        fclose(f);
        if (s->n_archs < 2) {
            fprintf(stderr, PROG ": --archs %s: %lld archs, a ranking needs at least 2\n", c->archs_file,
                    (long long)s->n_archs);
            return 2;
        }
        return 0;
    }
    /* --sample: distinct archs, each choice uniform (nb201: uniform over the 15625) */
    s->archs = calloc((size_t)c->sample, sizeof *s->archs);
    if (!s->archs)
        return fail("memory", SIGEO_ERR_NO_MEMORY);
    uint64_t rs = c->seed;
    int64_t tries = 0;
    while (s->n_archs < c->sample && tries++ < 1000 * c->sample) {
        arch_t *a = &s->archs[s->n_archs];
        memset(a, 0, sizeof *a);
        for (int32_t k = 0; k < s->n_choices; k++)
            a->a[k] = (int32_t)(splitmix(&rs) % (uint64_t)s->n_options[k]);
        if (sigeo_model_check_arch(s->super, a->a, s->n_choices) != SIGEO_OK)
            continue;
        char text[256];
        sigeo_arch_format(text, sizeof text, NULL, a->a, s->n_choices);
        bool dup = false;
        for (int64_t i = 0; i < s->n_archs && !dup; i++)
            dup = !strcmp(s->archs[i].text, text);
        if (dup)
            continue;
        int rc = describe_arch(s, a);
        if (rc)
            return rc;
        s->n_archs++;
    }
    if (s->n_archs < c->sample) {
        fprintf(stderr, PROG ": could draw only %lld distinct valid archs of %lld\n", (long long)s->n_archs,
                (long long)c->sample);
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    study_t s;
    memset(&s, 0, sizeof s);
    int rc = parse_args(&s.c, argc, argv);
    if (rc)
        return rc;
    if ((rc = define_proxies(s.c.proxies)) != 0)
        return rc;
    const bool gt_train = !strcmp(s.c.ground_truth, "train"), gt_none = !strcmp(s.c.ground_truth, "none");
    /* from here every exit goes through `done` (nothing leaks on an error path) */
    sigeo_context_t *ctx = NULL;
    int64_t *todo = NULL, n_todo = 0;
    corr_t *cs = NULL;
    size_t n_cs = 0;
    int interrupted = 0;
    if ((rc = load_data(&s.d, &s.c)) != 0)
        goto done;
    sigeo_status_t st = make_context(&ctx, &s, 7);
    if (st == SIGEO_OK)
        st = build_supernet(&s.super, ctx, &s);
    if (st == SIGEO_OK)
        st = sigeo_model_choices(&s.n_choices, NULL, 0, s.super);
    if (st == SIGEO_OK && s.n_choices > MAX_CHOICES) {
        fprintf(stderr, PROG ": space %s has %d choice points (at most %d here)\n", s.c.space_name, (int)s.n_choices,
                MAX_CHOICES);
        rc = 2;
        goto done;
    }
    if (st == SIGEO_OK)
        st = sigeo_model_choices(&s.n_choices, s.n_options, MAX_CHOICES, s.super);
    if (st != SIGEO_OK) {
        rc = fail("building the space", st);
        goto done;
    }
    if ((rc = make_archs(&s)) != 0)
        goto done;
    if (!gt_train && !gt_none && (rc = read_ground_truth(&s, s.c.ground_truth)) != 0)
        goto done;
    if (mkdir(s.c.cache, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, PROG ": --cache %s: %s\n", s.c.cache, strerror(errno));
        rc = 2;
        goto done;
    }
    /* what the cached results depend on */
    uint64_t h = 0xcbf29ce484222325ull;
    const int64_t sizes[] = { rows_of(s.d.train), rows_of(s.d.test), s.c.batch, s.c.ctr_rows, 1 /* format */ };
    h = fnv(h, sizes, sizeof sizes);
    h = fnv(h, &s.c.epochs, sizeof s.c.epochs);
    if (s.c.gt_seed) /* (seed 0 keeps the hash of the caches written before the option existed) */
        h = fnv(h, &s.c.gt_seed, sizeof s.c.gt_seed);
    s.config_hash = h;
    if (interrupt_install(PROG) != 0) {
        fprintf(stderr, PROG ": installing the signal handlers: %s\n", strerror(errno));
        rc = 1;
        goto done;
    }
    progress_init(&s.pg, PROG, s.c.quiet ? PROGRESS_OFF : PROGRESS_AUTO);
    char lv[MAX_LEVELS * 16] = "";
    for (size_t l = 0; l < s.c.n_levels; l++)
        snprintf(lv + strlen(lv), sizeof lv - strlen(lv), " %g%%", s.c.levels[l]);
    progress_note(&s.pg, "%s, %lld archs, %lld training rows x %g epochs (%lld steps per epoch), levels%s, %d proxies, "
                  "%lld jobs", s.c.space_name, (long long)s.n_archs, (long long)rows_of(s.d.train), s.c.epochs,
                  (long long)steps_per_epoch(&s), lv, n_proxies, (long long)s.c.jobs);

    todo = malloc((size_t)s.n_archs * sizeof *todo);
    if (!todo) {
        rc = fail("memory", SIGEO_ERR_NO_MEMORY);
        goto done;
    }
    if (gt_train || s.c.proto[PROTO_PER_ARCH]) {
        for (int64_t i = 0; i < s.n_archs; i++)
            if (!read_cache(&s, &s.archs[i], PROTO_PER_ARCH, gt_train))
                todo[n_todo++] = i;
        if (n_todo < s.n_archs)
            progress_note(&s.pg, "%lld archs from the cache", (long long)(s.n_archs - n_todo));
        rc = run_jobs(&s, todo, n_todo, job_runs, PROTO_PER_ARCH, gt_train, "ground truth + per-arch proxies");
        for (int64_t i = 0; i < s.n_archs && rc == 0 && !interrupt_requested(); i++)
            if (!read_cache(&s, &s.archs[i], PROTO_PER_ARCH, gt_train)) {
                fprintf(stderr, PROG ": arch %s has no complete result\n", s.archs[i].label);
                rc = 1;
            }
    }
    if (rc == 0 && s.c.proto[PROTO_SUPERNET] && !interrupt_requested()) {
        n_todo = 0;
        for (int64_t i = 0; i < s.n_archs; i++)
            if (!read_cache(&s, &s.archs[i], PROTO_SUPERNET, false))
                todo[n_todo++] = i;
        rc = run_jobs(&s, todo, n_todo, job_super, PROTO_SUPERNET, false, "supernet protocol");
        for (int64_t i = 0; i < s.n_archs && rc == 0 && !interrupt_requested(); i++)
            if (!read_cache(&s, &s.archs[i], PROTO_SUPERNET, false)) {
                fprintf(stderr, PROG ": arch %s has no supernet result\n", s.archs[i].label);
                rc = 1;
            }
    }
    free(todo);
    todo = NULL;
    /* which archs have every result asked for (all of them, unless interrupted) */
    interrupted = interrupt_requested();
    int64_t n_complete = 0;
    for (int64_t i = 0; i < s.n_archs && rc == 0; i++) {
        arch_t *a = &s.archs[i];
        a->complete = true;
        if (gt_train || s.c.proto[PROTO_PER_ARCH])
            a->complete = read_cache(&s, a, PROTO_PER_ARCH, gt_train);
        if (s.c.proto[PROTO_SUPERNET])
            a->complete = read_cache(&s, a, PROTO_SUPERNET, false) && a->complete;
        n_complete += a->complete;
    }
    if (interrupted && rc == 0)
        progress_note(&s.pg, "interrupted (%s): writing the %lld complete archs of %lld", interrupt_signal_name(),
                      (long long)n_complete, (long long)s.n_archs);
    if (rc == 0 && !gt_none) {
        cs = calloc((size_t)N_PROTO * s.c.n_levels * (size_t)n_proxies * 2, sizeof *cs);
        if (!cs) {
            rc = fail("memory", SIGEO_ERR_NO_MEMORY);
            goto done;
        }
        for (int p = 0; p < N_PROTO; p++)
            for (size_t l = 0; l < s.c.n_levels && s.c.proto[p]; l++)
                for (int k = 0; k < n_proxies; k++)
                    for (int sub = 0; sub < 2; sub++) {
                        cs[n_cs] = (corr_t){ .proto = p, .level = l, .proxy = k, .subset = sub };
                        correlate(&cs[n_cs], &s);
                        n_cs++;
                    }
        print_table(&s, cs, n_cs);
    }
    if (rc == 0 && s.c.json)
        rc = write_json(&s, cs, n_cs, interrupted);
    if (rc == 0 && s.c.csv)
        rc = write_csv(&s);
    if (rc == 0 && s.c.plot && n_cs)
        rc = write_plots(&s, cs, n_cs);
done:
    free(todo);
    free(cs);
    for (int64_t i = 0; i < s.n_archs; i++)
        free(s.archs[i].pv);
    free(s.archs);
    sigeo_model_destroy(s.super);
    sigeo_context_destroy(ctx);
    free_data(&s.d);
    return rc == 2 ? PROGRAM_EXIT_USAGE : rc ? PROGRAM_EXIT_FAILURE : interrupted ? PROGRAM_EXIT_INTERRUPTED
                                                                             : PROGRAM_EXIT_OK;
}
