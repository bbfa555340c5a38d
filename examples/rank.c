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
 * Ensembles: rows computed from several proxies' per-arch values over the
 * study's archs with sigeo_stats_aggregate (log-rank, mean rank, z-score);
 * the list (ensemble_defs) is data, a new proxy name slots in.
 *
 * Parallelism: --jobs J worker processes (default 2), each with its own
 * context and model at --threads 1: on a small conv net one arch per core
 * beats intra-op threads (docs/ranking.md has the measurement). Their
 * per-step progress reaches the parent through a pipe. Under mpirun
 * (examples/prog_mpi.h) the ranks share the archs instead (sigeo_mpi_map,
 * one plain-bytes row per arch, no fork); rank 0 prints and writes.
 *
 * Incremental cache: a cached arch lacking some requested per-arch
 * proxies repeats its run only up to the last missing level (a run's first
 * steps are the same bits whatever its length) and adds just those.
 *
 * Ctrl-C / SIGTERM (examples/common/interrupt.h): the workers finish the
 * arch in progress (its cache file is written) and stop; the parent writes
 * the outputs over the archs that are complete, marked "interrupted": true,
 * and exits 130. A second signal exits at once; the workers die with the
 * parent (PR_SET_PDEATHSIG) and no output file is touched. Under mpirun
 * the safe point is the next step (mpirun SIGKILLs a second after its
 * SIGTERM); SIGUSR1 to mpirun is the graceful stop (docs/man/sigeo-rank.1).
 *
 * Exit status: 0 done, 1 a failure while running, 2 bad usage or input,
 * 130 interrupted.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
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
#include "prog_mpi.h"
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

/* Scores the proxies of the list on `m` (arch NULL: the active one) into
 * values[]: every one, or (known not NULL) those whose known[i] is 0, each
 * of those then marked known. */
static sigeo_status_t score_proxies(double *values, unsigned char *known, sigeo_model_t *m, const int32_t *arch,
                                    int32_t n_arch, const sigeo_batch_t *batches)
{
    sigeo_proxy_result_t fam[4];
    bool have[4] = { false, false, false, false };
    for (int i = 0; i < n_proxies; i++) {
        const proxy_def_t *p = &proxies[i];
        if (known && known[i])
            continue;
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
            if (known)
                known[i] = 1;
            continue;
        }
        o.kind = p->kind;
        o.seed = 1;
        st = sigeo_proxy_compute(m, arch, n_arch, batches, PROXY_BATCHES, &o, &r);
        if (st != SIGEO_OK)
            return st;
        values[i] = r.score;
        if (known)
            known[i] = 1;
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
    unsigned char *pk; /* the same shape: 1 where pv holds a value (computed or cached) */
    bool have_pv[N_PROTO][MAX_LEVELS]; /* every proxy of the level known */
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
    int n_ens;   /* ensemble rows (compute_ensembles) */
    double *ens; /* [N_PROTO][n_levels][n_ens][n_archs], NaN outside the arch set */
} study_t;

static double *pv(study_t *s, arch_t *a, int proto, size_t level)
{
    return a->pv + ((size_t)proto * s->c.n_levels + level) * (size_t)n_proxies;
}

static unsigned char *pk(study_t *s, arch_t *a, int proto, size_t level)
{
    return a->pk + ((size_t)proto * s->c.n_levels + level) * (size_t)n_proxies;
}

/* have_pv from pk: a level is there when every proxy of it is. */
static void update_have(study_t *s, arch_t *a, int proto)
{
    for (size_t l = 0; l < s->c.n_levels; l++) {
        int k = 0;
        while (k < n_proxies && pk(s, a, proto, l)[k])
            k++;
        a->have_pv[proto][l] = k == n_proxies;
    }
}

static void free_arch(arch_t *a)
{
    free(a->pv);
    free(a->pk);
    a->pv = NULL;
    a->pk = NULL;
}

/* #params and FLOPs, by the supernet built on the data (table sizes count). */
static int count_arch(study_t *s, arch_t *a)
{
    sigeo_status_t st = sigeo_model_count(&a->params, &a->flops, s->super, a->a, s->n_choices);
    return st == SIGEO_OK ? 0 : fail("counting an arch", st);
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
    a->pv = calloc((size_t)N_PROTO * s->c.n_levels * (size_t)n_proxies, sizeof(double));
    a->pk = calloc((size_t)N_PROTO * s->c.n_levels * (size_t)n_proxies, 1);
    if (!a->pv || !a->pk) {
        free_arch(a);
        return fail("memory", SIGEO_ERR_NO_MEMORY);
    }
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

/* One proxy line per known (level, proxy): "proxy <level> <name> <value>". */
static void sb_proxies(strbuf_t *b, study_t *s, arch_t *a, int proto)
{
    for (size_t l = 0; l < s->c.n_levels; l++)
        for (int i = 0; i < n_proxies; i++)
            if (pk(s, a, proto, l)[i])
                sb_printf(b, "proxy %g %s %.17g\n", s->c.levels[l], proxies[i].name, pv(s, a, proto, l)[i]);
}

/* Cache format 1 (one file per arch and protocol, written atomically):
 *   sigeo-rank-cache 1 / space / arch / label lines, then the ground truth
 *   (test_acc, test_loss, test_auc, train_loss, seconds) of a "run" file
 *   when it was trained, then "proxy <level> <name> <value>" lines.
 * Lines of other levels or proxies are kept when the file is rewritten
 * (an incremental run adds proxies, it never drops any). */
static int write_cache(study_t *s, arch_t *a, int proto)
{
    char path[4096];
    cache_path(path, sizeof path, s, a, proto == PROTO_PER_ARCH ? "run" : "super");
    strbuf_t b = { NULL, 0, 0 };
    sb_printf(&b, "sigeo-rank-cache 1\nspace %s\narch %s\nlabel %s\n", s->c.space_name, a->text, a->label);
    if (proto == PROTO_PER_ARCH && a->have_gt && !strcmp(s->c.ground_truth, "train"))
        sb_printf(&b, "test_acc %.17g\ntest_loss %.17g\ntest_auc %.17g\ntrain_loss %.17g\nseconds %.3f\n", a->acc,
                  a->loss, a->auc, a->train_loss, a->seconds);
    /* the lines of this study's levels and proxies, then the others the file held */
    sb_proxies(&b, s, a, proto);
    FILE *f = fopen(path, "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        double lv;
        char name[NAME_LEN + 8];
        if (sscanf(line, "proxy %lf %47s", &lv, name) != 2)
            continue;
        bool ours = false;
        for (size_t l = 0; l < s->c.n_levels && !ours; l++)
            for (int i = 0; i < n_proxies && !ours; i++)
                ours = s->c.levels[l] == lv && !strcmp(proxies[i].name, name);
        if (!ours)
            sb_printf(&b, "%s", line);
    }
    if (f)
        fclose(f);
    int rc = b.p ? write_atomic(path, b.p) : fail("memory", SIGEO_ERR_NO_MEMORY);
    free(b.p);
    return rc;
}

/* Reads a cache file into the arch (the ground truth only when want_gt);
 * returns 1 if it holds what is asked (ground truth and/or every proxy of
 * every level), 0 if absent or incomplete (what it holds is kept: pk). */
static int read_cache(study_t *s, arch_t *a, int proto, bool want_gt)
{
    char path[4096];
    cache_path(path, sizeof path, s, a, proto == PROTO_PER_ARCH ? "run" : "super");
    FILE *f = fopen(path, "r");
    if (!f) {
        update_have(s, a, proto);
        return 0;
    }
    char line[512];
    bool gt = false;
    double acc = NAN, loss = NAN, auc = NAN, train_loss = NAN, seconds = NAN;
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
                            pk(s, a, proto, l)[i] = 1;
                        }
        } else if (sscanf(line, "test_acc %lf", &acc) == 1 || sscanf(line, "test_loss %lf", &loss) == 1 ||
                   sscanf(line, "test_auc %lf", &auc) == 1 || sscanf(line, "seconds %lf", &seconds) == 1)
            gt = true;
        else
            sscanf(line, "train_loss %lf", &train_loss);
    }
    fclose(f);
    update_have(s, a, proto);
    bool complete = !want_gt || gt;
    for (size_t l = 0; l < s->c.n_levels && s->c.proto[proto]; l++)
        complete = complete && a->have_pv[proto][l];
    if (want_gt && gt) {
        a->acc = acc;
        a->loss = loss;
        a->auc = auc;
        a->train_loss = train_loss;
        a->seconds = seconds;
        a->have_gt = true;
        a->target = s->d.ctr ? -a->loss : a->acc;
    }
    return complete;
}

/* What the arch has in memory: the ground truth (when want_gt) and every
 * proxy of every level of the protocol. */
static bool arch_has(study_t *s, arch_t *a, int proto, bool want_gt)
{
    bool ok = !want_gt || a->have_gt;
    for (size_t l = 0; l < s->c.n_levels && ok && s->c.proto[proto]; l++)
        ok = a->have_pv[proto][l];
    return ok;
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
static sigeo_status_t per_arch_proxies(double *values, unsigned char *known, sigeo_model_t *m, study_t *s)
{
    sigeo_model_t *copy;
    sigeo_status_t st = sigeo_model_extract(&copy, m, NULL, 0, 1);
    if (st != SIGEO_OK)
        return st;
    st = score_proxies(values, known, copy, NULL, 0, s->d.proxy_batches);
    sigeo_model_destroy(copy);
    return st;
}

/* The training steps run_arch takes for the arch as it stands: the whole
 * recipe when the ground truth is to be trained and not cached; else up to
 * the last level some per-arch proxy of which is still missing (an
 * incremental run: the first steps of a run are the same bits whatever its
 * length, so the network there is the one the full run had). -1: nothing
 * to do. */
static int64_t arch_steps(study_t *s, arch_t *a)
{
    recipe_t r;
    make_recipe(&r, s);
    const bool train_gt = !strcmp(s->c.ground_truth, "train") && !a->have_gt;
    int64_t last = train_gt ? r.steps : -1;
    for (size_t l = 0; l < s->c.n_levels && s->c.proto[PROTO_PER_ARCH]; l++)
        if (!a->have_pv[PROTO_PER_ARCH][l] && level_step(s, s->c.levels[l]) > last)
            last = level_step(s, s->c.levels[l]);
    return last;
}

/* ---------------------------------------------------- step progress
 * A worker process tells the parent, through a pipe, where it is: one
 * fixed-size record per report (atomic: below PIPE_BUF), at most twice a
 * second and at the end of every arch. The parent shows the sum of the
 * workers' units over the phase's (progress.h: ETA) and the latest arch.
 * Under MPI every rank computes in-process; in the per-arch phase the
 * ranks' reports reach rank 0 (prog_mpi_map_reported), whose line covers
 * every rank's archs; in the supernet phase rank 0 reports directly. */
typedef struct step_msg {
    int32_t worker;
    int32_t arch;     /* index into s->archs, -1 none */
    int64_t units;    /* the worker's units done in this phase */
    int64_t step, steps; /* within the current arch (or warm-up) */
} step_msg_t;

static int report_fd = -1;       /* a worker's end of the pipe */
static int32_t report_worker;
static int64_t report_units;     /* units done before the current arch */
static double report_last;
static progress_t *report_pg;    /* in-process reporting (MPI rank 0) */
static int64_t report_done_archs, report_n_archs;
static bool report_mpi;          /* the per-arch phase under MPI: reports to rank 0 */

static void report(study_t *s, const arch_t *a, int64_t step, int64_t steps, bool force)
{
    const double t = now();
    if (!force && t - report_last < 0.5)
        return;
    report_last = t;
    if (report_fd >= 0) {
        step_msg_t m = { report_worker, a ? (int32_t)(a - s->archs) : -1, report_units + step, step, steps };
        ssize_t w = write(report_fd, &m, sizeof m);
        (void)w; /* progress only: a full or closed pipe loses a line, nothing else */
    } else if (report_mpi) {
        prog_mpi_report(&(prog_mpi_report_t){ report_units + step, report_done_archs, a ? a - s->archs : -1, step,
                                              steps });
    } else if (report_pg && report_n_archs) {
        progress_update(report_pg, report_units + step, "%lld/%lld archs done; arch %s step %lld/%lld",
                        (long long)report_done_archs, (long long)report_n_archs, a ? a->text : "-",
                        (long long)step, (long long)steps);
    } else if (report_pg) { /* the supernet protocol: warm-up steps, then archs scored */
        progress_update(report_pg, report_units + step, a ? "arch %s scored (%lld/%lld)" : "warm-up%s step %lld/%lld",
                        a ? a->text : "", (long long)step, (long long)steps);
    }
}

/* Ground-truth run of one arch (unless cached) with the per-arch proxies
 * still missing at the level steps. Returns 0, 1 (failed, printed) or 3
 * (abandoned for an interrupt under MPI: nothing written). */
enum { RUN_ABANDONED = 3 };
static int run_arch(study_t *s, arch_t *a)
{
    const double t0 = now();
    const int64_t last_step = arch_steps(s, a);
    if (last_step < 0)
        return 0;
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
    const bool gt = !strcmp(s->c.ground_truth, "train") && !a->have_gt;
    const bool want_proxies = s->c.proto[PROTO_PER_ARCH];
    /* the safe point under MPI is a step: mpirun kills the job a second after its SIGTERM */
    const bool abandon = prog_mpi_on();
    int64_t epoch_now = -1;
    double epoch_loss = 0.0;
    int64_t epoch_n = 0;
    bool abandoned = false;
    for (int64_t t = 0; t <= last_step && st == SIGEO_OK; t++) {
        for (size_t l = 0; l < s->c.n_levels && want_proxies && st == SIGEO_OK; l++)
            if (level_step(s, s->c.levels[l]) == t && !a->have_pv[PROTO_PER_ARCH][l]) {
                st = per_arch_proxies(pv(s, a, PROTO_PER_ARCH, l), pk(s, a, PROTO_PER_ARCH, l), m, s);
                a->have_pv[PROTO_PER_ARCH][l] = st == SIGEO_OK;
            }
        if (t == last_step || st != SIGEO_OK)
            break;
        if (abandon && interrupt_requested()) {
            abandoned = true;
            break;
        }
        report(s, a, t, last_step, false);
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
    if (st == SIGEO_OK && gt && !abandoned) {
        a->train_loss = epoch_n ? epoch_loss / (double)epoch_n : NAN;
        st = sigeo_model_set_training(m, 0);
        a->auc = NAN;
        if (st == SIGEO_OK)
            st = sigeo_evaluate(&a->loss, s->d.ctr ? &a->auc : NULL, &a->acc, m, s->d.test, 500);
        a->acc *= 100.0;
        a->have_gt = st == SIGEO_OK;
        a->target = s->d.ctr ? -a->loss : a->acc;
        a->seconds = now() - t0;
    }
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
    if (abandoned)
        return RUN_ABANDONED;
    report(s, a, last_step + 1, last_step + 1, true);
    report_units += last_step + 1;
    return write_cache(s, a, PROTO_PER_ARCH);
}

/* The supernet protocol's model: the supernet (seed 7, the same in every
 * worker and rank, so each warms the same weights) and its optimiser. */
typedef struct warm {
    sigeo_context_t *ctx;
    sigeo_model_t *m;
    sigeo_optimizer_t *opt;
    recipe_t r;
    int64_t done, epoch_now;
} warm_t;

static sigeo_status_t warm_open(warm_t *w, study_t *s)
{
    memset(w, 0, sizeof *w);
    w->epoch_now = -1;
    make_recipe(&w->r, s);
    sigeo_status_t st = make_context(&w->ctx, s, 7);
    if (st == SIGEO_OK)
        st = build_supernet(&w->m, w->ctx, s);
    if (st == SIGEO_OK)
        st = sigeo_optimizer_create(&w->opt, w->m, &w->r.opt);
    return st;
}

static void warm_close(warm_t *w)
{
    sigeo_optimizer_destroy(w->opt);
    sigeo_model_destroy(w->m);
    sigeo_context_destroy(w->ctx);
}

/* Warm-up on uniformly sampled paths up to step `target` (stops early, st
 * OK, on an interrupt: the caller checks). */
static sigeo_status_t warm_to(warm_t *w, study_t *s, int64_t target)
{
    int32_t arch[MAX_CHOICES];
    sigeo_status_t st = SIGEO_OK;
    for (; w->done < target && st == SIGEO_OK && !interrupt_requested(); w->done++) {
        report(s, NULL, w->done, target, false);
        sigeo_batch_t b;
        double loss, lr;
        if ((st = sigeo_model_sample_arch(arch, MAX_CHOICES, w->m, SIGEO_SAMPLE_UNIFORM)) != SIGEO_OK ||
            (st = sigeo_model_activate(w->m, arch, s->n_choices)) != SIGEO_OK ||
            (st = train_batch(&b, s, w->done, w->r.per_epoch, &w->epoch_now)) != SIGEO_OK ||
            (st = sigeo_model_forward_backward(&loss, w->m, &b)) != SIGEO_OK ||
            (st = sigeo_lr_at(&lr, &w->r.lr, w->done)) != SIGEO_OK)
            break;
        st = sigeo_optimizer_step(w->opt, lr);
    }
    return st;
}

/* Units of a supernet share of k archs: the warm-up steps, then one per
 * arch scored at each level. */
static int64_t supernet_units(study_t *s, int64_t k)
{
    return level_step(s, s->c.levels[s->c.n_levels - 1]) + (int64_t)s->c.n_levels * k;
}

/* Supernet protocol of a share of the archs (one forked worker): warmed
 * level by level, the archs scored at each level, then their cache files
 * (an interrupt before the end writes none: no arch has every level). */
static int run_supernet_share(study_t *s, const int64_t *todo, int64_t n_todo)
{
    warm_t w;
    sigeo_status_t st = warm_open(&w, s);
    for (size_t l = 0; l < s->c.n_levels && st == SIGEO_OK && !interrupt_requested(); l++) {
        const int64_t target = level_step(s, s->c.levels[l]);
        report_units = (int64_t)l * n_todo; /* units: warm-up steps + archs scored */
        if ((st = warm_to(&w, s, target)) != SIGEO_OK || interrupt_requested())
            break;
        report_units = target + (int64_t)l * n_todo;
        for (int64_t i = 0; i < n_todo && st == SIGEO_OK; i++) {
            arch_t *a = &s->archs[todo[i]];
            st = score_proxies(pv(s, a, PROTO_SUPERNET, l), pk(s, a, PROTO_SUPERNET, l), w.m, a->a, s->n_choices,
                               s->d.proxy_batches);
            a->have_pv[PROTO_SUPERNET][l] = st == SIGEO_OK;
            report(s, a, i + 1, n_todo, i + 1 == n_todo);
        }
    }
    int rc = st == SIGEO_OK ? 0 : fail("supernet protocol", st);
    for (int64_t i = 0; i < n_todo && rc == 0 && !interrupt_requested(); i++)
        rc = write_cache(s, &s->archs[todo[i]], PROTO_SUPERNET);
    warm_close(&w);
    return rc;
}

/* -------------------------------------------------------------- workers */

/* Runs job(worker, share) in J forked workers (job i goes to worker i mod
 * J) and shows their step reports (a pipe) with an ETA over `units` (the
 * sum of what the workers will report when done). */
typedef int (*job_fn)(study_t *s, const int64_t *todo, int64_t n);

static int count_done(study_t *s, const int64_t *todo, int64_t n, int proto, bool gt)
{
    int done = 0;
    for (int64_t i = 0; i < n; i++)
        done += read_cache(s, &s->archs[todo[i]], proto, gt);
    return done;
}

static int run_jobs(study_t *s, const int64_t *todo, int64_t n, job_fn fn, int proto, bool gt, const char *what,
                    int64_t units)
{
    if (n == 0)
        return 0;
    const int64_t J = s->c.jobs < n ? s->c.jobs : n;
    const double t0 = now();
    /* Always in forked workers, even one: libgomp is not fork-safe once a
     * process ran a parallel region, so the parent never computes (a second
     * phase forks again from it). */
    fflush(NULL);
    int fds[2];
    if (pipe(fds) != 0) {
        fprintf(stderr, PROG ": pipe: %s\n", strerror(errno));
        return 1;
    }
    pid_t pids[64];
    int64_t *share = malloc((size_t)n * sizeof *share);
    if (!share) {
        close(fds[0]);
        close(fds[1]);
        return fail("memory", SIGEO_ERR_NO_MEMORY);
    }
    int rc = 0;
    int64_t started = 0;
    for (int64_t w = 0; w < J; w++) {
        int64_t k = 0;
        for (int64_t i = w; i < n; i += J)
            share[k++] = todo[i];
        pid_t p = fork();
        if (p < 0) {
            fprintf(stderr, PROG ": fork: %s\n", strerror(errno));
            rc = 1;
            break;
        }
        if (p == 0) {
            /* Signals reach a worker through the parent alone: SIGINT and
             * SIGTERM (a Ctrl-C, `kill -TERM -PGID`, `timeout`, a batch
             * system: all sent to the whole group) are ignored here, the
             * parent passes the first signal on as one SIGUSR1 (the worker
             * then stops after its arch, silently: the parent said it), and
             * a worker dies with the parent (a second signal _exits the
             * parent). Were SIGTERM handled here too, a group SIGTERM plus
             * the parent's would count as two, the worker would quit at
             * once with status 130, and the parent would write nothing. */
            signal(SIGINT, SIG_IGN);
            signal(SIGTERM, SIG_IGN);
            if (interrupt_also(SIGUSR1) != 0)
                _exit(1);
            interrupt_set_quiet(1);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() == 1)
                _exit(1);
            close(fds[0]);
            report_fd = fds[1];
            report_worker = (int32_t)w;
            report_units = 0;
            _exit(fn(s, share, k) ? 1 : 0);
        }
        pids[w] = p;
        started++;
    }
    free(share);
    close(fds[1]);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    progress_phase(&s->pg, what, units);
    step_msg_t latest[64];
    for (int w = 0; w < 64; w++)
        latest[w] = (step_msg_t){ w, -1, 0, 0, 0 };
    bool forwarded = false;
    int64_t alive = started;
    while (alive > 0) {
        for (int64_t w = 0; w < started; w++) {
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
            for (int64_t w = 0; w < started; w++)
                if (pids[w] > 0)
                    kill(pids[w], SIGUSR1);
            forwarded = true;
        }
        step_msg_t m;
        int got = 0;
        while (read(fds[0], &m, sizeof m) == (ssize_t)sizeof m)
            if (m.worker >= 0 && m.worker < 64) {
                latest[m.worker] = m;
                got = 1;
            }
        if (got && s->pg.mode != PROGRESS_OFF) {
            int64_t sum = 0;
            const step_msg_t *cur = &m;
            for (int64_t w = 0; w < started; w++)
                sum += latest[w].units;
            int done = count_done(s, todo, n, proto, gt);
            char where[300] = "warm-up";
            if (cur->arch >= 0)
                snprintf(where, sizeof where, "arch %s", s->archs[cur->arch].text);
            progress_update(&s->pg, sum, "%d/%lld archs done; worker %d: %s step %lld/%lld", done, (long long)n,
                            (int)cur->worker, where, (long long)cur->step, (long long)cur->steps);
        }
        if (alive > 0) {
            struct pollfd pfd = { fds[0], POLLIN, 0 };
            poll(&pfd, 1, 500);
        }
    }
    close(fds[0]);
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

/* -------------------------------------------------------------- MPI
 * Under mpirun the ranks share the archs (sigeo_mpi_map, contiguous
 * blocks): each rank runs its archs in-process (no fork: one arch per rank,
 * -np is the parallelism), writes their cache files (the cache directory
 * should be shared by the ranks, as a cluster's home is, for a resume to
 * see them all), and returns one plain-bytes row per arch; every rank gets
 * the rows in arch order. */

/* Row of the per-arch phase: done, have_gt, acc, loss, auc, train_loss,
 * seconds, then the levels' values and their known flags. */
enum { ROW_HEAD = 7 };

static size_t run_row_doubles(const study_t *s)
{
    return ROW_HEAD + 2 * s->c.n_levels * (size_t)n_proxies;
}

typedef struct map_user {
    study_t *s;
    const int64_t *todo;
    size_t level;
    warm_t *warm;
    int64_t n;
} map_user_t;

static sigeo_status_t task_run(void *result, int64_t index, void *user)
{
    map_user_t *u = user;
    study_t *s = u->s;
    arch_t *a = &s->archs[u->todo[index]];
    double *row = result;
    memset(row, 0, run_row_doubles(s) * sizeof *row);
    if (interrupt_requested())
        return SIGEO_OK; /* not done */
    const int rc = run_arch(s, a);
    if (rc == RUN_ABANDONED)
        return SIGEO_OK;
    if (rc != 0)
        return SIGEO_ERR_INTERNAL; /* its message is this rank's last stderr line */
    report_done_archs++;
    if (report_mpi) /* the arch counted as done on rank 0's line */
        prog_mpi_report(&(prog_mpi_report_t){ report_units, report_done_archs, a - s->archs, 1, 1 });
    const double head[ROW_HEAD] = { 1, a->have_gt, a->acc, a->loss, a->auc, a->train_loss, a->seconds };
    memcpy(row, head, sizeof head);
    const size_t nv = s->c.n_levels * (size_t)n_proxies;
    for (size_t i = 0; i < nv; i++) {
        row[ROW_HEAD + i] = a->pv[PROTO_PER_ARCH * nv + i];
        row[ROW_HEAD + nv + i] = a->pk[PROTO_PER_ARCH * nv + i];
    }
    return SIGEO_OK;
}

static void unpack_run(study_t *s, arch_t *a, const double *row)
{
    if (row[0] != 1)
        return;
    a->have_gt = row[1] != 0;
    a->acc = row[2], a->loss = row[3], a->auc = row[4], a->train_loss = row[5], a->seconds = row[6];
    if (!strcmp(s->c.ground_truth, "train"))
        a->target = s->d.ctr ? -a->loss : a->acc;
    const size_t nv = s->c.n_levels * (size_t)n_proxies;
    for (size_t i = 0; i < nv; i++) {
        a->pv[PROTO_PER_ARCH * nv + i] = row[ROW_HEAD + i];
        a->pk[PROTO_PER_ARCH * nv + i] = row[ROW_HEAD + nv + i] != 0;
    }
    update_have(s, a, PROTO_PER_ARCH);
}

/* The map failed: every rank has the failing rank's message. */
static int mpi_map_failed(const char *what)
{
    if (prog_mpi_rank() == 0)
        fprintf(stderr, PROG ": %s: %s\n", what, prog_mpi_last_error());
    return 1;
}

/* Rank 0's line in the per-arch phase: the archs done and the units over
 * every rank (a prog_mpi_report_fn), the latest report's arch. */
static void show_ranks(int from, const prog_mpi_report_t *r, void *user)
{
    study_t *s = user;
    int64_t units, items;
    prog_mpi_report_totals(&units, &items);
    if (r->item < 0)
        progress_update(&s->pg, units, "%lld/%lld archs done; rank %d starting", (long long)items,
                        (long long)report_n_archs, from);
    else if (r->step == r->steps)
        progress_update(&s->pg, units, "%lld/%lld archs done; rank %d: arch %s done", (long long)items,
                        (long long)report_n_archs, from, s->archs[r->item].text);
    else
        progress_update(&s->pg, units, "%lld/%lld archs done; rank %d: arch %s step %lld/%lld", (long long)items,
                        (long long)report_n_archs, from, s->archs[r->item].text, (long long)r->step,
                        (long long)r->steps);
}

static int mpi_runs(study_t *s, const int64_t *todo, int64_t n, const char *what)
{
    double *rows = calloc((size_t)n, run_row_doubles(s) * sizeof(double));
    if (!rows)
        return fail("memory", SIGEO_ERR_NO_MEMORY); /* (every rank alike: the same size) */
    const double t0 = now();
    if (prog_mpi_rank() == 0) { /* every rank's archs: rank 0 takes the others' reports */
        report_n_archs = n;
        int64_t units = 0;
        for (int64_t i = 0; i < n; i++)
            units += arch_steps(s, &s->archs[todo[i]]) + 1;
        progress_phase(&s->pg, what, units);
    }
    report_done_archs = 0;
    report_units = 0;
    report_mpi = true;
    map_user_t u = { s, todo, 0, NULL, n };
    sigeo_status_t st = prog_mpi_map_reported(rows, run_row_doubles(s) * sizeof(double), n, task_run, &u,
                                              prog_mpi_rank() == 0 ? show_ranks : NULL, s);
    report_mpi = false;
    int rc = 0;
    if (st != SIGEO_OK)
        rc = mpi_map_failed(what);
    int64_t done = 0;
    for (int64_t i = 0; i < n && rc == 0; i++) {
        unpack_run(s, &s->archs[todo[i]], rows + (size_t)i * run_row_doubles(s));
        done += rows[(size_t)i * run_row_doubles(s)] == 1;
    }
    free(rows);
    if (rc == 0)
        progress_end(&s->pg, "%lld/%lld archs in %.0f s over %d ranks%s", (long long)done, (long long)n, now() - t0,
                     prog_mpi_size(), interrupt_requested() ? " (interrupted)" : "");
    return rc;
}

static sigeo_status_t task_super(void *result, int64_t index, void *user)
{
    map_user_t *u = user;
    study_t *s = u->s;
    arch_t *a = &s->archs[u->todo[index]];
    double *row = result;
    sigeo_status_t st = score_proxies(row, NULL, u->warm->m, a->a, s->n_choices, s->d.proxy_batches);
    report(s, a, index + 1, u->n, false);
    return st;
}

/* Every rank warms the same supernet (replicated: the same bits as one
 * process, and no step waits for the network), then the ranks share the
 * scoring of the archs at each level; rank 0 writes the cache files. */
static int mpi_super(study_t *s, const int64_t *todo, int64_t n, const char *what)
{
    double *rows = calloc((size_t)n, (size_t)n_proxies * sizeof(double));
    warm_t w;
    sigeo_status_t st = rows ? warm_open(&w, s) : SIGEO_ERR_NO_MEMORY;
    int rc = prog_mpi_agree(st == SIGEO_OK ? 0 : fail("supernet protocol", st), PROG);
    const double t0 = now();
    if (prog_mpi_rank() == 0) {
        progress_phase(&s->pg, what, supernet_units(s, n));
        report_pg = &s->pg;
        report_n_archs = 0;
    }
    bool stopped = false;
    for (size_t l = 0; l < s->c.n_levels && rc == 0; l++) {
        report_units = (int64_t)l * n;
        st = warm_to(&w, s, level_step(s, s->c.levels[l]));
        rc = prog_mpi_agree(st == SIGEO_OK ? 0 : fail("supernet protocol", st), PROG);
        /* every rank decides together: a level scored by some ranks only would leave the others waiting */
        if (rc || (stopped = prog_mpi_any(interrupt_requested())))
            break;
        report_units = level_step(s, s->c.levels[l]) + (int64_t)l * n;
        map_user_t u = { s, todo, l, &w, n };
        st = prog_mpi_map()(rows, (size_t)n_proxies * sizeof(double), n, task_super, &u, prog_mpi_map_user());
        if (st != SIGEO_OK) {
            rc = mpi_map_failed(what);
            break;
        }
        for (int64_t i = 0; i < n; i++) {
            arch_t *a = &s->archs[todo[i]];
            memcpy(pv(s, a, PROTO_SUPERNET, l), rows + (size_t)i * (size_t)n_proxies, (size_t)n_proxies * sizeof(double));
            memset(pk(s, a, PROTO_SUPERNET, l), 1, (size_t)n_proxies);
            a->have_pv[PROTO_SUPERNET][l] = true;
        }
    }
    report_pg = NULL;
    for (int64_t i = 0; i < n && rc == 0 && !stopped && prog_mpi_rank() == 0; i++)
        rc = write_cache(s, &s->archs[todo[i]], PROTO_SUPERNET);
    rc = prog_mpi_agree(rc, PROG);
    if (rows)
        warm_close(&w);
    free(rows);
    if (rc == 0)
        progress_end(&s->pg, "%lld archs in %.0f s over %d ranks%s", (long long)n, now() - t0, prog_mpi_size(),
                     stopped ? " (interrupted)" : "");
    return rc;
}

/* ------------------------------------------------ ground truth from a file */

static int find_arch(study_t *s, const char *key, const char *where)
{
    arch_t probe;
    if (parse_arch(s, &probe, key, where) != 0)
        return -2;
    free_arch(&probe);
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

/* ------------------------------------------------------------ ensembles
 * Rows of the table computed from the per-arch values of several proxies
 * over the study's arch set (the complete archs of the protocol and level)
 * with sigeo_stats_aggregate, by each of its three methods. The list is
 * data: a member marked '?' joins when the study has that proxy (a proxy a
 * later library adds slots in by name), the others must all be there or
 * the ensemble is left out. "sigeo" is the space's SiGeo preset with the
 * exact FR estimator (recsys on nasrec-small, vision elsewhere). */
static const struct {
    const char *name;
    const char *members[8];
} ensemble_defs[] = {
    { "sigeo+meco+synflow", { "sigeo", "meco", "synflow" } },
    { "zico+nwot+synflow", { "zico", "nwot", "synflow" } },
    { "az-nas", { "az_expressivity", "az_progressivity", "az_complexity", "az_trainability?" } }, /* AZ-NAS */
};
static const char *const agg_names[3] = { "log-rank", "mean-rank", "z-score" };

#define MAX_ENS 32
typedef struct ens_row {
    char name[NAME_LEN * 2];
    int def;
    int method;
    int members[8];
    int n_members;
} ens_row_t;
static ens_row_t ens_rows[MAX_ENS];

static int proxy_index(const char *name)
{
    for (int i = 0; i < n_proxies; i++)
        if (!strcmp(proxies[i].name, name))
            return i;
    return -1;
}

static void define_ensembles(study_t *s)
{
    s->n_ens = 0;
    for (size_t d = 0; d < sizeof ensemble_defs / sizeof ensemble_defs[0]; d++) {
        int members[8], n = 0;
        bool ok = true;
        for (int k = 0; k < 8 && ensemble_defs[d].members[k] && ok; k++) {
            char name[NAME_LEN];
            snprintf(name, sizeof name, "%s", ensemble_defs[d].members[k]);
            const size_t len = strlen(name);
            const bool optional = len && name[len - 1] == '?';
            if (optional)
                name[len - 1] = 0;
            if (!strcmp(name, "sigeo"))
                snprintf(name, sizeof name, "%s", s->c.space == SPACE_NASREC ? "sigeo-recsys-exact" : "sigeo-vision-exact");
            const int i = proxy_index(name);
            if (i >= 0)
                members[n++] = i;
            else
                ok = optional;
        }
        for (int m = 0; m < 3 && ok && n >= 2 && s->n_ens < MAX_ENS; m++) {
            ens_row_t *e = &ens_rows[s->n_ens++];
            snprintf(e->name, sizeof e->name, "%s/%s", ensemble_defs[d].name, agg_names[m]);
            e->def = (int)d;
            e->method = m;
            memcpy(e->members, members, sizeof members);
            e->n_members = n;
        }
    }
}

static const char *row_name(int k)
{
    return k < n_proxies ? proxies[k].name : ens_rows[k - n_proxies].name;
}

static double *ens_values(study_t *s, int proto, size_t level, int e)
{
    return s->ens + (((size_t)proto * s->c.n_levels + level) * (size_t)s->n_ens + (size_t)e) * (size_t)s->n_archs;
}

/* Row k's value for arch i (a proxy or an ensemble). */
static double row_value(study_t *s, int64_t i, int proto, size_t level, int k)
{
    if (k < n_proxies)
        return pv(s, &s->archs[i], proto, level)[k];
    return ens_values(s, proto, level, k - n_proxies)[i];
}

static int compute_ensembles(study_t *s)
{
    define_ensembles(s);
    if (!s->n_ens)
        return 0;
    const size_t n_all = (size_t)N_PROTO * s->c.n_levels * (size_t)s->n_ens * (size_t)s->n_archs;
    s->ens = malloc(n_all * sizeof *s->ens);
    int64_t *set = malloc((size_t)s->n_archs * sizeof *set);
    double *scores = malloc((size_t)s->n_archs * 8 * sizeof *scores), *out = malloc((size_t)s->n_archs * sizeof *out);
    int rc = 0;
    if (!s->ens || !set || !scores || !out)
        rc = fail("memory", SIGEO_ERR_NO_MEMORY);
    for (size_t i = 0; i < n_all && rc == 0; i++)
        s->ens[i] = NAN;
    for (int p = 0; p < N_PROTO && rc == 0; p++)
        for (size_t l = 0; l < s->c.n_levels && s->c.proto[p]; l++) {
            int64_t n = 0;
            for (int64_t i = 0; i < s->n_archs; i++)
                if (s->archs[i].complete && s->archs[i].have_pv[p][l])
                    set[n++] = i;
            for (int e = 0; e < s->n_ens && n >= 2; e++) {
                const ens_row_t *r = &ens_rows[e];
                for (int m = 0; m < r->n_members; m++)
                    for (int64_t j = 0; j < n; j++) {
                        double v = pv(s, &s->archs[set[j]], p, l)[r->members[m]];
                        /* a non-finite value ranks lowest, as in the correlations
                         * (the z-score then gives the arch -inf, stats.h) */
                        scores[(size_t)m * (size_t)n + (size_t)j] = isfinite(v) || v == INFINITY ? v : -INFINITY;
                    }
                if (sigeo_stats_aggregate(out, scores, n, r->n_members, NULL, (sigeo_rank_aggregation_t)r->method) !=
                    SIGEO_OK)
                    continue;
                double *dst = ens_values(s, p, l, e);
                for (int64_t j = 0; j < n; j++)
                    dst[set[j]] = out[j];
            }
        }
    free(set);
    free(scores);
    free(out);
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
        const double v = row_value(s, i, c->proto, c->level, c->proxy);
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
    provenance_json_completed(j, "archs", complete, s->n_archs);
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
    json_out_key(j, "ensembles");
    json_out_begin_array(j);
    for (int e = 0; e < s->n_ens; e++) {
        json_out_begin_object(j);
        json_out_key_string(j, "name", ens_rows[e].name);
        json_out_key_string(j, "method", agg_names[ens_rows[e].method]);
        json_out_key(j, "members");
        json_out_begin_array(j);
        for (int m = 0; m < ens_rows[e].n_members; m++)
            json_out_string(j, proxies[ens_rows[e].members[m]].name);
        json_out_end_array(j);
        json_out_end_object(j);
    }
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
        /* the ensembles' values over the study's arch set (NaN: not in it) */
        json_out_key(j, "ensembles");
        json_out_begin_object(j);
        for (int p = 0; p < N_PROTO && s->n_ens; p++) {
            if (!s->c.proto[p])
                continue;
            json_out_key(j, proto_names[p]);
            json_out_begin_object(j);
            for (size_t l = 0; l < s->c.n_levels; l++) {
                char lv[32];
                snprintf(lv, sizeof lv, "%g", s->c.levels[l]);
                json_out_key(j, lv);
                json_out_begin_object(j);
                for (int e = 0; e < s->n_ens; e++) {
                    const double v = ens_values(s, p, l, e)[i];
                    if (isfinite(v))
                        json_out_key_number(j, ens_rows[e].name, v);
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
        json_out_key_string(j, "proxy", row_name(c->proxy));
        if (c->proxy >= n_proxies)
            json_out_key_bool(j, "ensemble", 1);
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
            for (int k = 0; k < n_proxies + s->n_ens; k++) { /* the proxies, then the ensembles */
                char name[200];
                snprintf(name, sizeof name, "%s@%g:%.80s", proto_names[p], s->c.levels[l], row_name(k));
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
                for (int k = 0; k < n_proxies + s->n_ens; k++) /* an ensemble: NaN outside its arch set */
                    csv_out_number(&c, a->have_pv[p][l] ? row_value(s, i, p, l, k) : NAN);
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
    /* one group of bars per row of the table: the proxies, then the ensembles */
    const size_t nl = s->c.n_levels, nq = (size_t)n_proxies + (size_t)s->n_ens;
    double *v = calloc(N_PROTO * nl * nq * 3, sizeof *v);
    const char *names[MAX_PROXIES + MAX_ENS], *bars[MAX_LEVELS];
    char bar_text[MAX_LEVELS][32], titles[N_PROTO][128];
    if (!v)
        return 1;
    for (size_t k = 0; k < nq; k++)
        names[k] = row_name((int)k);
    for (size_t l = 0; l < nl; l++) {
        snprintf(bar_text[l], sizeof bar_text[l], "warm-up %g %%", s->c.levels[l]);
        bars[l] = bar_text[l];
    }
    int best = -1, best_proto = 0;
    size_t best_level = 0;
    double best_rho = -2;
    /* Where some archs are degenerate (no path to the output: chance
     * accuracy), they sit below every other arch for almost every proxy and
     * lift every correlation alike; the plots show the non-degenerate archs,
     * as docs/ranking.md's main tables do. */
    int64_t n_degenerate = 0, n_shown = 0;
    for (int64_t i = 0; i < s->n_archs; i++)
        n_degenerate += s->archs[i].degenerate;
    const int subset = s->c.space == SPACE_NB201 && n_degenerate > 0 ? 1 : 0;
    n_shown = s->n_archs - (subset ? n_degenerate : 0);
    for (int p = 0; p < N_PROTO; p++) {
        if (!s->c.proto[p])
            continue;
        double *val = v + (size_t)np * nl * nq * 3, *lo = val + nl * nq, *hi = lo + nl * nq;
        for (size_t i = 0; i < nl * nq; i++)
            val[i] = lo[i] = hi[i] = NAN;
        for (size_t i = 0; i < n_cs; i++)
            if (cs[i].proto == p && cs[i].subset == subset) {
                const size_t at = (size_t)cs[i].proxy * nl + cs[i].level;
                val[at] = cs[i].rho;
                lo[at] = cs[i].rho_lo;
                hi[at] = cs[i].rho_hi;
                /* the scatter shows one proxy's own values: ensembles are not candidates */
                if (cs[i].proxy < n_proxies && isfinite(cs[i].rho) && cs[i].rho > best_rho) {
                    best_rho = cs[i].rho;
                    best = cs[i].proxy;
                    best_proto = p;
                    best_level = cs[i].level;
                }
            }
        snprintf(titles[np], sizeof titles[np], "%s protocol (%lld%s archs)", proto_names[p], (long long)n_shown,
                 subset ? " non-degenerate" : "");
        panels[np] = (rank_bars_t){ titles[np], nq, nl, names, bars, val, lo, hi, (size_t)n_proxies };
        np++;
    }
    char title[256];
    snprintf(title, sizeof title, "%s: Spearman of each proxy and ensemble with %s, 95 %% bootstrap intervals", s->c.space_name,
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
        if (!a->have_gt || !a->have_pv[best_proto][best_level] || (subset && a->degenerate))
            continue;
        x[n] = pv(s, a, best_proto, best_level)[best];
        y[n] = a->target;
        col[n] = a->degenerate;
        n++;
    }
    char path[4096], ptitle[320], sub[200];
    snprintf(path, sizeof path, "%.*s-scatter.svg",
             (int)(strlen(s->c.plot) > 4 && !strcmp(s->c.plot + strlen(s->c.plot) - 4, ".svg") ? strlen(s->c.plot) - 4
                                                                                                 : strlen(s->c.plot)),
             s->c.plot);
    snprintf(ptitle, sizeof ptitle, "%s, %s protocol, warm-up %g %%", proxies[best].name, proto_names[best_proto],
             s->c.levels[best_level]);
    if (subset)
        snprintf(sub, sizeof sub, "Spearman %.3f over %zu non-degenerate archs (%lld degenerate not shown)", best_rho, n,
                 (long long)n_degenerate);
    else
        snprintf(sub, sizeof sub, "Spearman %.3f over %zu archs", best_rho, n);
    svg_panel_t panel = { ptitle, sub, proxies[best].name, s->d.ctr ? "-test log loss" : "test accuracy %", x, y,
                          col, n, SVG_SCALE_LINEAR, SVG_SCALE_LINEAR };
    /* The colour bar tells degenerate archs apart; with none among the points
     * (a CTR space, or the non-degenerate subset) it would only be noise. */
    bool any_degenerate = false;
    for (size_t i = 0; i < n; i++)
        any_degenerate = any_degenerate || col[i] != 0.0;
    svg_figure_t fig = { "Best proxy against the ground truth", NULL, 1, 520, 420,
                         any_degenerate ? "degenerate (1)" : NULL, 0, 1, 0, "architecture" };
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
            printf("%-32s %5s %24s %24s", "proxy", "n", "Spearman", "Kendall-b");
            if (deg)
                printf(" | %5s %24s %24s", "n", "Spearman (non-degen.)", "Kendall-b (non-degen.)");
            printf("\n");
            for (int k = 0; k < n_proxies + s->n_ens; k++) {
                printf("%-32s", row_name(k));
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
           "  --csv F              one row per arch (every proxy's and ensemble's value)\n"
           "  --plot F.svg         bar chart of Spearman, proxies and ensembles (also writes F-scatter.svg: best\n"
           "                       proxy vs the target)\n"
           "  --jobs J             worker processes, one arch each (default 2; under mpirun: one arch per rank)\n"
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
           "  " PROG " --archs archs.txt --ground-truth none --protocol supernet --json proxies.json\n"
           "  mpirun -np 4 " PROG " --sample 100 --json rank.json   (the archs spread over the ranks)\n\n");
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
    int r, protocol;
    int64_t v;
    static const char *const protocol_names[3] = { "per-arch", "supernet", "both" };
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
        else if ((r = cli_string(&cl, "--space", &c->space_name)) || (r = cli_string(&cl, "--archs", &c->archs_file)) ||
                 (r = cli_string(&cl, "--proxies", &c->proxies)) ||
                 (r = cli_string(&cl, "--ground-truth", &c->ground_truth)) ||
                 (r = cli_string(&cl, "--cache", &c->cache)) || (r = cli_string(&cl, "--json", &c->json)) ||
                 (r = cli_string(&cl, "--csv", &c->csv)) || (r = cli_string(&cl, "--plot", &c->plot)) ||
                 (r = cli_string(&cl, "--data-dir", &c->data_dir)) ||
                 (r = cli_int64_option(&cl, "--sample", &c->sample, 2, 15625)) ||
                 (r = cli_int64_option(&cl, "--jobs", &c->jobs, 1, 64)) ||
                 (r = cli_int64_option(&cl, "--threads", &c->threads, 1, 256)) ||
                 (r = cli_int64_option(&cl, "--test-rows", &c->test_rows, 1, 10000)) ||
                 (r = cli_int64_option(&cl, "--ctr-rows", &c->ctr_rows, 4000, 100000000))) {
            if (r < 0)
                return 2;
        } else if ((r = cli_int64_option(&cl, "--train-rows", &c->train_rows, 256, 60000)) != 0) {
            if (r < 0)
                return 2;
            rows_set = true;
        } else if ((r = cli_int64_option(&cl, "--batch", &c->batch, 2, 65536)) != 0) {
            if (r < 0)
                return 2;
            batch_set = true;
        } else if ((r = cli_double_option(&cl, "--epochs", &c->epochs, 0.01, 1000)) != 0) {
            if (r < 0)
                return 2;
            epochs_set = true;
        } else if ((r = cli_option(&cl, "--levels")) != 0) {
            if (r < 0 || cli_double_list(&cl, c->levels, MAX_LEVELS, &c->n_levels, 0, 100))
                return 2;
            levels_set = true;
        } else if ((r = cli_choice(&cl, "--protocol", protocol_names, 3, &protocol)) != 0) {
            if (r < 0)
                return 2;
            c->proto[PROTO_PER_ARCH] = protocol != 1;
            c->proto[PROTO_SUPERNET] = protocol != 0;
        } else if ((r = cli_int64_option(&cl, "--seed", &v, 0, INT64_MAX)) != 0) {
            if (r < 0)
                return 2;
            c->seed = (uint64_t)v;
        } else if ((r = cli_int64_option(&cl, "--gt-seed", &v, 0, INT32_MAX)) != 0) {
            if (r < 0)
                return 2;
            c->gt_seed = (uint64_t)v;
        } else if ((r = cli_int64_option(&cl, "--resamples", &v, 2, 1000000)) != 0) {
            if (r < 0)
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
                    free_arch(&s->archs[s->n_archs]);
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

/* The supernet in ctx (seed 7). Before the data is loaded (probe: checking
 * the --archs and --ground-truth files first), nasrec-small gets the
 * synthetic data's shape with placeholder table sizes: which archs are
 * valid does not depend on them (their #params do: counted later). */
static int build_space(study_t *s, sigeo_context_t **ctx, bool probe)
{
    sigeo_model_destroy(s->super);
    s->super = NULL;
    sigeo_context_destroy(*ctx);
    *ctx = NULL;
    int64_t tables[64];
    if (probe && s->c.space == SPACE_NASREC) {
        s->d.n_dense = 13;
        s->d.n_fields = 26;
        for (int i = 0; i < 26; i++)
            tables[i] = 2;
        memcpy(s->d.tables, tables, sizeof(int64_t) * 26);
    }
    sigeo_status_t st = make_context(ctx, s, 7);
    if (st == SIGEO_OK)
        st = build_supernet(&s->super, *ctx, s);
    if (st == SIGEO_OK)
        st = sigeo_model_choices(&s->n_choices, NULL, 0, s->super);
    if (st == SIGEO_OK && s->n_choices > MAX_CHOICES) {
        fprintf(stderr, PROG ": space %s has %d choice points (at most %d here)\n", s->c.space_name, (int)s->n_choices,
                MAX_CHOICES);
        return 2;
    }
    if (st == SIGEO_OK)
        st = sigeo_model_choices(&s->n_choices, s->n_options, MAX_CHOICES, s->super);
    return st == SIGEO_OK ? 0 : fail("building the space", st);
}

int main(int argc, char **argv)
{
    if (prog_mpi_start(&argc, &argv, PROG)) /* under mpirun: every rank, rank 0 speaks */
        return PROGRAM_EXIT_FAILURE;
    study_t s;
    memset(&s, 0, sizeof s);
    /* Under MPI every stage ends with prog_mpi_agree, on every path: one
     * rank's failure stops them all, with its message on rank 0. */
    int rc = parse_args(&s.c, argc, argv);
    if (rc == 0)
        rc = define_proxies(s.c.proxies);
    rc = prog_mpi_agree(rc, PROG);
    if (rc)
        return rc == 2 ? PROGRAM_EXIT_USAGE : PROGRAM_EXIT_FAILURE;
    const bool gt_train = !strcmp(s.c.ground_truth, "train"), gt_none = !strcmp(s.c.ground_truth, "none");
    const bool rank0 = prog_mpi_rank() == 0;
    /* from here every exit goes through `done` (nothing leaks on an error path) */
    sigeo_context_t *ctx = NULL;
    int64_t *todo = NULL, n_todo = 0;
    corr_t *cs = NULL;
    size_t n_cs = 0;
    int interrupted = 0;
    /* the inputs first, before any data is loaded: a malformed --archs
     * line or an incomplete --ground-truth file is a usage error (2) */
    rc = build_space(&s, &ctx, true);
    if (rc == 0)
        rc = make_archs(&s);
    if (rc == 0 && !gt_train && !gt_none)
        rc = read_ground_truth(&s, s.c.ground_truth);
    if ((rc = prog_mpi_agree(rc, PROG)) != 0)
        goto done;
    if ((rc = prog_mpi_agree(load_data(&s.d, &s.c), PROG)) != 0) /* one rank's bad data stops them all */
        goto done;
    if (mkdir(s.c.cache, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, PROG ": --cache %s: %s\n", s.c.cache, strerror(errno));
        rc = 2;
    }
    if (rc == 0 && s.c.space == SPACE_NASREC)
        rc = build_space(&s, &ctx, false);
    for (int64_t i = 0; i < s.n_archs && rc == 0; i++)
        rc = count_arch(&s, &s.archs[i]);
    if ((rc = prog_mpi_agree(rc, PROG)) != 0)
        goto done;
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
    }
    if ((rc = prog_mpi_agree(rc, PROG)) != 0)
        goto done;
    progress_init(&s.pg, PROG, s.c.quiet || !rank0 ? PROGRESS_OFF : PROGRESS_AUTO);
    char lv[MAX_LEVELS * 16] = "";
    for (size_t l = 0; l < s.c.n_levels; l++)
        snprintf(lv + strlen(lv), sizeof lv - strlen(lv), " %g%%", s.c.levels[l]);
    if (prog_mpi_on())
        progress_note(&s.pg, "%s, %lld archs, %lld training rows x %g epochs (%lld steps per epoch), levels%s, "
                      "%d proxies, %d MPI ranks", s.c.space_name, (long long)s.n_archs, (long long)rows_of(s.d.train),
                      s.c.epochs, (long long)steps_per_epoch(&s), lv, n_proxies, prog_mpi_size());
    else
        progress_note(&s.pg, "%s, %lld archs, %lld training rows x %g epochs (%lld steps per epoch), levels%s, "
                      "%d proxies, %lld jobs", s.c.space_name, (long long)s.n_archs, (long long)rows_of(s.d.train),
                      s.c.epochs, (long long)steps_per_epoch(&s), lv, n_proxies, (long long)s.c.jobs);

    todo = malloc((size_t)s.n_archs * sizeof *todo + 1);
    if (!todo) {
        rc = fail("memory", SIGEO_ERR_NO_MEMORY);
        goto done;
    }
    if (gt_train || s.c.proto[PROTO_PER_ARCH]) {
        int64_t partial = 0, units = 0;
        for (int64_t i = 0; i < s.n_archs; i++)
            if (!read_cache(&s, &s.archs[i], PROTO_PER_ARCH, gt_train)) {
                todo[n_todo++] = i;
                partial += gt_train && s.archs[i].have_gt; /* cached training, proxies missing */
                units += arch_steps(&s, &s.archs[i]) + 1;
            }
        /* rank 0's view of the cache decides (the same on a shared directory) */
        prog_mpi_bcast(&n_todo, sizeof n_todo);
        prog_mpi_bcast(todo, (size_t)n_todo * sizeof *todo);
        if (n_todo < s.n_archs)
            progress_note(&s.pg, "%lld archs from the cache", (long long)(s.n_archs - n_todo));
        if (partial)
            progress_note(&s.pg, "%lld cached archs lack some proxies: their runs repeat only up to the missing "
                          "levels", (long long)partial);
        if (prog_mpi_on())
            rc = mpi_runs(&s, todo, n_todo, "ground truth + per-arch proxies");
        else
            rc = run_jobs(&s, todo, n_todo, job_runs, PROTO_PER_ARCH, gt_train, "ground truth + per-arch proxies",
                          units);
        for (int64_t i = 0; i < n_todo && rc == 0 && !prog_mpi_on(); i++) /* the workers' results */
            read_cache(&s, &s.archs[todo[i]], PROTO_PER_ARCH, gt_train);
        interrupted = prog_mpi_any(interrupt_requested());
        for (int64_t i = 0; i < s.n_archs && rc == 0 && !interrupted; i++)
            if (!arch_has(&s, &s.archs[i], PROTO_PER_ARCH, gt_train)) {
                fprintf(stderr, PROG ": arch %s has no complete result\n", s.archs[i].label);
                rc = 1;
            }
    }
    if (rc == 0 && s.c.proto[PROTO_SUPERNET] && !interrupted) {
        n_todo = 0;
        for (int64_t i = 0; i < s.n_archs; i++)
            if (!read_cache(&s, &s.archs[i], PROTO_SUPERNET, false))
                todo[n_todo++] = i;
        prog_mpi_bcast(&n_todo, sizeof n_todo);
        prog_mpi_bcast(todo, (size_t)n_todo * sizeof *todo);
        if (prog_mpi_on())
            rc = mpi_super(&s, todo, n_todo, "supernet protocol");
        else {
            int64_t units = 0;
            const int64_t J = s.c.jobs < n_todo ? s.c.jobs : n_todo;
            for (int64_t w = 0; w < J; w++)
                units += supernet_units(&s, (n_todo - w + J - 1) / J);
            rc = run_jobs(&s, todo, n_todo, job_super, PROTO_SUPERNET, false, "supernet protocol", units);
            for (int64_t i = 0; i < n_todo && rc == 0; i++)
                read_cache(&s, &s.archs[todo[i]], PROTO_SUPERNET, false);
        }
        interrupted = prog_mpi_any(interrupt_requested());
        for (int64_t i = 0; i < s.n_archs && rc == 0 && !interrupted; i++)
            if (!arch_has(&s, &s.archs[i], PROTO_SUPERNET, false)) {
                fprintf(stderr, PROG ": arch %s has no supernet result\n", s.archs[i].label);
                rc = 1;
            }
    }
    free(todo);
    todo = NULL;
    if ((rc = prog_mpi_agree(rc, PROG)) != 0)
        goto done;
    /* which archs have every result asked for (all of them, unless interrupted) */
    int64_t n_complete = 0;
    for (int64_t i = 0; i < s.n_archs; i++) {
        arch_t *a = &s.archs[i];
        a->complete = true;
        if (gt_train || s.c.proto[PROTO_PER_ARCH])
            a->complete = arch_has(&s, a, PROTO_PER_ARCH, gt_train);
        if (s.c.proto[PROTO_SUPERNET])
            a->complete = arch_has(&s, a, PROTO_SUPERNET, false) && a->complete;
        n_complete += a->complete;
    }
    if (interrupted)
        progress_note(&s.pg, "interrupted (%s): writing the %lld complete archs of %lld",
                      interrupt_signal_name() ? interrupt_signal_name() : "another rank", (long long)n_complete,
                      (long long)s.n_archs);
    if ((rc = compute_ensembles(&s)) == 0 && !gt_none) {
        const int n_rows = n_proxies + s.n_ens;
        cs = calloc((size_t)N_PROTO * s.c.n_levels * (size_t)n_rows * 2, sizeof *cs);
        if (!cs) {
            rc = fail("memory", SIGEO_ERR_NO_MEMORY);
            goto done;
        }
        for (int p = 0; p < N_PROTO; p++)
            for (size_t l = 0; l < s.c.n_levels && s.c.proto[p]; l++)
                for (int k = 0; k < n_rows; k++)
                    for (int sub = 0; sub < 2; sub++) {
                        cs[n_cs] = (corr_t){ .proto = p, .level = l, .proxy = k, .subset = sub };
                        correlate(&cs[n_cs], &s);
                        n_cs++;
                    }
        if (rank0)
            print_table(&s, cs, n_cs);
    }
    /* rank 0 writes for the job; the others wait for it (a rank that exits
     * non-zero first makes mpirun kill the job, rank 0 with it) */
    if (rc == 0 && rank0 && s.c.json)
        rc = write_json(&s, cs, n_cs, interrupted);
    if (rc == 0 && rank0 && s.c.csv)
        rc = write_csv(&s);
    if (rc == 0 && rank0 && s.c.plot && n_cs)
        rc = write_plots(&s, cs, n_cs);
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, PROG ": writing to stdout failed: %s\n", strerror(errno));
        rc = 1;
    }
    rc = prog_mpi_agree(rc, PROG);
done:
    free(todo);
    free(cs);
    for (int64_t i = 0; i < s.n_archs; i++)
        free_arch(&s.archs[i]);
    free(s.archs);
    free(s.ens);
    sigeo_model_destroy(s.super);
    sigeo_context_destroy(ctx);
    free_data(&s.d);
    return rc == 2 ? PROGRAM_EXIT_USAGE : rc ? PROGRAM_EXIT_FAILURE : interrupted ? PROGRAM_EXIT_INTERRUPTED
                                                                             : PROGRAM_EXIT_OK;
}
