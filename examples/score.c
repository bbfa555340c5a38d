/* sigeo-score: score one ReLU MLP with SiGeo or any baseline proxy.
 *
 * The MLP's parameters are named like PyTorch's nn.Linear layers in order
 * (fc0.weight [out,in], fc0.bias [out], fc1.weight, ...), so a model trained
 * in PyTorch and saved with safetensors scores as is:
 *
 *   torch: nn.Sequential -> state dict renamed fc0.*, fc1.* -> safetensors.torch.save_file
 *   sigeo-score --mlp 784,48,10 --weights model.safetensors
 *
 * Data: by default the first k x batch Fashion-MNIST training images in file
 * order (softmax cross-entropy); criteo:FILE / synthetic use the 13 dense
 * Criteo features (one output: BCE). --select picks the rows otherwise
 * (shuffled, class-balanced as NASLib's grasp data mode, random inputs or
 * random labels), --batches gives each proxy its own K x B (every proxy
 * reads the first K*B selected rows), and every option of
 * sigeo_proxy_options_t has a flag. Without --mlp on CTR data the MLP
 * starts at the data's width (13,48,1).
 *
 * Conventions of every example program (examples/common): --version, exit
 * statuses 0/1/2 (program.h), usage checked before any data is read, an
 * explicit --data-dir that does not work is an error, --out written
 * atomically with a schema/provenance block. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "json_out.h"
#include "output.h"
#include "program.h"
#include "provenance.h"
#include "sigeo/io.h"
#include "sigeo/proxy.h"

#define PROG "sigeo-score"

static int fail(const char *what, sigeo_status_t st)
{
    fprintf(stderr, PROG ": %s: %s (%s)\n", what, sigeo_last_error(), sigeo_status_string(st));
    return PROGRAM_EXIT_FAILURE;
}

static void usage(void)
{
    printf("Usage: " PROG " [options]\n"
           "\n"
           "Scores a ReLU MLP (layers named fc0, fc1, ... like PyTorch nn.Linear) with SiGeo or a baseline.\n\n"
           "Options:\n"
           "  --mlp D0,D1,...,DL   layer widths (default 784,48,10 on Fashion-MNIST, 13,48,1 on CTR data)\n"
           "  --weights FILE       safetensors weights (default: initialised from --seed)\n"
           "  --data SRC           fashion-mnist[:DIR] (default), criteo:FILE, synthetic\n"
           "  --data-dir DIR       Fashion-MNIST directory (else $SIGEO_DATA_DIR, else /usr/share/datasets/fashion-mnist)\n"
           "  --batch B            batch size (default 128)\n"
           "  --k K                batches (default 4)\n"
           "  --proxy NAME|all     sigeo (default), zico, fisher-rao, or any baseline; all = every kind\n"
           "  --lambdas L1,L2,L3   custom SiGeo weights\n"
           "  --preset P           zero-shot (1,1,0; default), recsys (1,1,1), vision (1,50,1)\n"
           "  --fr F               exact (default), identity, reference-recsys, reference-cv\n"
           "  --zico V             module (default), neuron, reference-recsys\n"
           "  --loss L             mean (default: of the k batch losses), last (Eq. 6, both official codes)\n"
           "  --std-ddof D         0 (default, paper) or 1 (RecSys code)\n"
           "  --param-kinds P      weight, weight,bias or all (default): the parameters of a module\n"
           "                       (a module = one layer; ZiCo's official code: weight)\n"
           "  --scope S            all (default) or head (the RecSys code's frozen supernet)\n"
           "  --hvp H              grasp's Hessian-vector product: exact (default) or fd:EPS\n"
"  --procedure P        fixed (default: weights fixed, the paper) or sgd[:LR] (NASLib-SiGeo's CV\n"
           "                       code: an SGD step, lr 1, after each batch; its numbers with --fr reference-cv\n"
           "                       --param-kinds weight --loss last --preset vision --batches sigeo=4x64)\n"
           "  --zen-mixup G        zen's mixup gamma (default 0.01); --zen-repeat R: repeats averaged (default 1)\n"
           "  --swap-reg MU,SIGMA  swap's regularisation exp(-(params/1e3 - MU)^2 / SIGMA) (default off)\n"
           "  --batches LIST       per-proxy K x B, e.g. baselines=1x32,zico=2x128,sigeo=4x64\n"
           "                       (NAME = a proxy or 'baselines'; others use --k x --batch)\n"
           "  --select M           file (default: file order), shuffle, balanced (classes in\n"
           "                       turn), random-inputs (N(0,1) inputs), random-labels\n"
           "  --data-seed S        seed of --select (default 0)\n"
           "  --pool N             rows read for shuffle/balanced (default 10000, at least what is needed)\n"
           "  --seed S             initialisation seed (default 0)\n"
           "  --threads N          compute threads (default 0 = all cores)\n"
           "  --json               one JSON object with every component\n"
           "  --per-layer          with --json / --out: each proxy's per-layer values (\"per_layer\")\n"
           "  --out FILE           also write that JSON object (with every proxy's provenance) to FILE, atomically\n"
           "With --k 1, proxies that need two batches (zico; sigeo with lambda1 != 0) are skipped with a note.\n");
    program_help_options(stdout, 0);
    printf("\n"
           "Examples:\n"
           "  " PROG " --mlp 784,48,10 --weights model.safetensors     SiGeo of a PyTorch-trained MLP\n"
           "  " PROG " --data synthetic --proxy all --json              every proxy on synthetic CTR data\n"
           "  " PROG " --proxy all --batches baselines=1x32,zico=2x128,sigeo=4x64   the usual mix\n"
           "\n");
    program_help_exit_status(stdout, 0);
}

/* One proxy's K x B from --batches. */
typedef struct plan {
    char name[32];
    int64_t k, batch;
} plan_t;

/* Index of `word` in names[0..n), or -1. */
static int pick(const char *word, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(word, names[i]))
            return i;
    return -1;
}

/* "--opt: 'x' is not a, b or c" for a failed pick. */
static int bad_word(const cli_t *c, const char *const *names, int n)
{
    char list[256] = "";
    for (int i = 0; i < n; i++) {
        strncat(list, names[i], sizeof list - strlen(list) - 1);
        if (i + 1 < n)
            strncat(list, i + 2 == n ? " or " : ", ", sizeof list - strlen(list) - 1);
    }
    cli_error(c, "%s: '%s' is not %s", c->name, c->value, list);
    return 2;
}

/* Parses NAME=KxB[,NAME=KxB...]. */
static int parse_plans(const cli_t *c, plan_t *plans, int cap, int *n_out)
{
    const char *p = c->value;
    int n = 0;
    while (*p) {
        const char *eq = strchr(p, '='), *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        long long k, b;
        int used = 0;
        if (!eq || eq > end || eq - p < 1 || (size_t)(eq - p) >= sizeof plans->name || n == cap ||
            sscanf(eq + 1, "%lldx%lld%n", &k, &b, &used) != 2 || eq + 1 + used != end || k < 1 || k > 1024 ||
            b < 1 || b > (1 << 20)) {
            cli_error(c, "--batches: '%.*s' is not NAME=KxB (K 1..1024, B 1..%d; at most %d entries)", (int)(end - p),
                      p, 1 << 20, cap);
            return 2;
        }
        memcpy(plans[n].name, p, (size_t)(eq - p));
        plans[n].name[eq - p] = '\0';
        plans[n].k = k;
        plans[n].batch = b;
        n++;
        p = *end ? end + 1 : end;
    }
    *n_out = n;
    return 0;
}

/* splitmix64 and a Box-Muller normal: the program's own stream for --select. */
static uint64_t mix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double uniform01(uint64_t *x)
{
    return (double)(mix(x) >> 11) * 0x1.0p-53;
}
static float normal(uint64_t *x)
{
    const double u = 1.0 - uniform01(x), v = uniform01(x);
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

enum { SEL_FILE, SEL_SHUFFLE, SEL_BALANCED, SEL_RANDOM_INPUTS, SEL_RANDOM_LABELS };

/* The `needed` rows of the pool the selection mode takes, in batch order:
 * file order, a seeded shuffle, or the shuffled pool dealt class by class
 * (label for softmax data, the 0/1 target for CTR data) so each batch holds
 * the classes in turn. */
static int select_rows(int64_t *rows, int64_t needed, sigeo_dataset_t *ds, int64_t pool, int mode, uint64_t seed,
                       int n_classes)
{
    sigeo_status_t st;
    if (mode == SEL_SHUFFLE || mode == SEL_BALANCED) {
        if ((st = sigeo_dataset_shuffle(ds, seed)) != SIGEO_OK)
            return fail("shuffling", st);
    }
    if (mode != SEL_BALANCED) {
        for (int64_t i = 0; i < needed; i++)
            rows[i] = i;
        return 0;
    }
    sigeo_batch_t v = SIGEO_BATCH_INIT;
    if ((st = sigeo_dataset_view(&v, ds, 0, pool)) != SIGEO_OK)
        return fail("reading the pool", st);
    const int classes = n_classes > 0 ? n_classes : 2;
    int64_t *next = calloc((size_t)classes, sizeof *next);
    int64_t taken = 0;
    for (int c = 0; taken < needed; c = (c + 1) % classes) {
        int64_t i = next[c];
        for (; i < pool; i++) {
            const int cls = v.labels ? (int)v.labels[i] : v.targets[i] >= 0.5f;
            if (cls == c)
                break;
        }
        next[c] = i + 1;
        if (i < pool) {
            rows[taken++] = i;
            continue;
        }
        /* this class is used up: the others go on; none left at all = too small a pool */
        int any = 0;
        for (int k = 0; k < classes; k++)
            any |= next[k] <= pool;
        if (!any) {
            free(next);
            fprintf(stderr, PROG ": --select balanced: the pool of %lld rows holds only %lld of the %lld needed\n",
                    (long long)pool, (long long)taken, (long long)needed);
            return 2;
        }
    }
    free(next);
    return 0;
}

/* Owned copies of K batches of B rows (dataset views live only until the next call). */
typedef struct batches {
    sigeo_batch_t *b;
    float **dense, **targets;
    int32_t **labels;
    int64_t k;
} batches_t;

static void batches_free(batches_t *bs)
{
    for (int64_t i = 0; i < bs->k; i++) {
        free(bs->dense[i]);
        free(bs->targets[i]);
        free(bs->labels[i]);
    }
    free(bs->dense);
    free(bs->targets);
    free(bs->labels);
    free(bs->b);
    memset(bs, 0, sizeof *bs);
}

static int batches_make(batches_t *bs, sigeo_dataset_t *sel, int64_t k, int64_t batch, int mode, uint64_t seed,
                        int classes)
{
    bs->k = k;
    bs->b = calloc((size_t)k, sizeof *bs->b);
    bs->dense = calloc((size_t)k, sizeof *bs->dense);
    bs->targets = calloc((size_t)k, sizeof *bs->targets);
    bs->labels = calloc((size_t)k, sizeof *bs->labels);
    uint64_t rng = seed ^ 0x5151u;
    for (int64_t i = 0; i < k; i++) {
        sigeo_batch_t b = SIGEO_BATCH_INIT;
        sigeo_status_t st = sigeo_dataset_batch(&b, sel, i, batch, SIGEO_BATCH_DROP_LAST);
        if (st != SIGEO_OK)
            return fail("batching", st);
        const int64_t nd = batch * b.n_dense;
        bs->dense[i] = malloc((size_t)nd * sizeof(float));
        memcpy(bs->dense[i], b.dense, (size_t)nd * sizeof(float));
        if (mode == SEL_RANDOM_INPUTS)
            for (int64_t j = 0; j < nd; j++)
                bs->dense[i][j] = normal(&rng);
        bs->b[i] = (sigeo_batch_t)SIGEO_BATCH_INIT;
        bs->b[i].batch_size = batch;
        bs->b[i].dense = bs->dense[i];
        bs->b[i].n_dense = b.n_dense;
        if (classes) {
            bs->labels[i] = malloc((size_t)batch * sizeof(int32_t));
            memcpy(bs->labels[i], b.labels, (size_t)batch * sizeof(int32_t));
            if (mode == SEL_RANDOM_LABELS)
                for (int64_t j = 0; j < batch; j++)
                    bs->labels[i][j] = (int32_t)(mix(&rng) % (uint64_t)classes);
            bs->b[i].labels = bs->labels[i];
        } else {
            bs->targets[i] = malloc((size_t)batch * sizeof(float));
            memcpy(bs->targets[i], b.targets, (size_t)batch * sizeof(float));
            if (mode == SEL_RANDOM_LABELS)
                for (int64_t j = 0; j < batch; j++)
                    bs->targets[i][j] = (float)(mix(&rng) & 1u);
            bs->b[i].targets = bs->targets[i];
            bs->b[i].n_targets = 1;
        }
    }
    return 0;
}

/* Per-layer values of each proxy's call, kept for the "per_layer" object. */
typedef struct layer_rows {
    const char *proxy;
    sigeo_proxy_layer_t *l;
    int32_t n;
} layer_rows_t;

static void keep_layers(layer_rows_t *out, const char *proxy, const sigeo_model_t *m)
{
    out->proxy = proxy;
    out->n = 0;
    out->l = NULL;
    if (sigeo_proxy_layers(NULL, &out->n, m) != SIGEO_OK || out->n == 0)
        return;
    out->l = malloc((size_t)out->n * sizeof *out->l);
    for (int32_t i = 0; i < out->n; i++)
        out->l[i] = (sigeo_proxy_layer_t)SIGEO_PROXY_LAYER_INIT;
    if (sigeo_proxy_layers(out->l, &out->n, m) != SIGEO_OK)
        out->n = 0;
}

/* "NAME": [{"name", "value", "zico_term"}] */
static void json_layers(json_out_t *j, const layer_rows_t *rows)
{
    const sigeo_proxy_layer_t *l = rows->l;
    const int32_t n = rows->n;
    {
        json_out_key(j, rows->proxy);
        json_out_begin_array(j);
        for (int32_t i = 0; i < n; i++) {
            json_out_begin_object(j);
            json_out_key_string(j, "name", l[i].name);
            json_out_key_number(j, "value", l[i].value);
            if (!isnan(l[i].zico_term))
                json_out_key_number(j, "zico_term", l[i].zico_term);
            json_out_end_object(j);
        }
        json_out_end_array(j);
    }
}

/* What one run computed, for its JSON. */
typedef struct score_run {
    int argc;
    char **argv;
    int64_t threads, seed;
    const int32_t *kinds;
    int32_t n_kinds;
    const sigeo_proxy_result_t *results; /* [n_kinds], valid where ok[i] */
    const int *ok;
    const layer_rows_t *per; /* --per-layer: [n_per] */
    int n_per;
    const char *const *skipped; /* [n_skipped] proxies --k 1 skipped */
    int n_skipped;
} score_run_t;

/* The JSON document: the provenance block; the first SiGeo-family result's
 * components (both losses and the free FR estimators included) at the top
 * level and one key per baseline score (the layout scripts already read);
 * "per_layer" with --per-layer; "skipped"; "results" with every proxy's full
 * provenance. (An output_json_fn: `user` is the score_run_t.) */
static void write_json(json_out_t *j, const void *user)
{
    const score_run_t *run = user;
    int64_t seed = run->seed;
    provenance_t pv = { PROG ".result", 1, PROG, run->argc, run->argv, run->threads, &seed, 1, 0 };
    json_out_begin_object(j);
    provenance_json(j, &pv);
    for (int32_t i = 0; i < run->n_kinds; i++) {
        if (!run->ok[i])
            continue;
        const sigeo_proxy_result_t *res = &run->results[i];
        if (run->kinds[i] == SIGEO_PROXY_SIGEO || run->n_kinds == 1) {
            json_out_key_number(j, "score", res->score);
            json_out_key_number(j, "zico", res->zico);
            json_out_key_number(j, "fr", res->fr);
            json_out_key_number(j, "log_fr", res->log_fr);
            json_out_key_number(j, "loss", res->loss);
            if (run->kinds[i] <= SIGEO_PROXY_FISHER_RAO) {
                json_out_key_number(j, "loss_mean", res->loss_mean);
                json_out_key_number(j, "loss_last", res->loss_last);
                json_out_key_number(j, "log_fr_exact", res->log_fr_exact);
                json_out_key_number(j, "log_fr_identity", res->log_fr_identity);
            }
            json_out_key_int(j, "n_samples", (int64_t)res->n_samples);
            json_out_key_int(j, "k", res->k);
            json_out_key_int(j, "n_modules", res->n_modules);
            json_out_key_number(j, "seconds", res->seconds);
        }
        /* the SiGeo family's scores are the components above; one key per baseline */
        if (run->n_kinds > 1 && run->kinds[i] > SIGEO_PROXY_FISHER_RAO)
            json_out_key_number(j, sigeo_proxy_kind_name((sigeo_proxy_kind_t)run->kinds[i]), res->score);
    }
    if (run->per) {
        json_out_key(j, "per_layer");
        json_out_begin_object(j);
        for (int i = 0; i < run->n_per; i++)
            json_layers(j, &run->per[i]);
        json_out_end_object(j);
    }
    if (run->n_skipped) {
        json_out_key(j, "skipped");
        json_out_begin_array(j);
        for (int i = 0; i < run->n_skipped; i++)
            json_out_string(j, run->skipped[i]);
        json_out_end_array(j);
    }
    json_out_key(j, "results");
    json_out_begin_array(j);
    for (int32_t i = 0; i < run->n_kinds; i++) {
        if (!run->ok[i])
            continue;
        json_out_begin_object(j);
        provenance_json_proxy_result(j, &run->results[i]);
        json_out_end_object(j);
    }
    json_out_end_array(j);
    json_out_end_object(j);
}

int main(int argc, char **argv)
{
    int64_t widths[64] = { 784, 48, 10 }, batch = 128, k = 4, seed = 0, threads = 0, data_seed = 0, pool = 10000;
    size_t n_widths = 3;
    const char *weights = NULL, *data = "fashion-mnist", *proxy = "sigeo", *data_dir = NULL;
    double lambdas[3] = { 1, 1, 0 }, hvp_eps = 1e-3, step_lr = 1.0, zen_gamma = 0.0, swap_reg[2] = { 0, 0 };
    int64_t zen_repeat = 0;
    int32_t procedure = SIGEO_PROCEDURE_FIXED;
    int custom = 0, json = 0, per_layer = 0, select = SEL_FILE, n_plans = 0, mlp_given = 0;
    const char *out_path = NULL;
    int32_t preset = SIGEO_PRESET_ZERO_SHOT, fr = SIGEO_FR_EXACT, zico = SIGEO_ZICO_MODULE_WISE,
            loss_term = SIGEO_LOSS_MEAN, scope = SIGEO_SCOPE_ALL, ddof = 0;
    uint32_t param_kinds = SIGEO_PROXY_PARAMS_ALL, hvp = SIGEO_HVP_EXACT;
    plan_t plans[32];
    static const char *const fr_names[] = { "exact", "identity", "reference-recsys", "reference-cv" };
    static const char *const zico_names[] = { "module", "neuron", "reference-recsys" };
    static const char *const loss_names[] = { "mean", "last" };
    static const char *const scope_names[] = { "all", "head" };
    static const char *const kinds_names[] = { "weight", "weight,bias", "all" };
    static const uint32_t kinds_bits[] = { SIGEO_PROXY_PARAMS_WEIGHT, SIGEO_PROXY_PARAMS_WEIGHT | SIGEO_PROXY_PARAMS_BIAS,
                                           SIGEO_PROXY_PARAMS_ALL };
    static const char *const select_names[] = { "file", "shuffle", "balanced", "random-inputs", "random-labels" };
    static const char *const preset_names[] = { "zero-shot", "recsys", "vision" };
    cli_t c;
    cli_init(&c, PROG, argc, argv);
    int r, w;
    while (cli_next(&c)) {
        if (cli_flag(&c, "--help") || cli_flag(&c, "-h")) {
            usage();
            return PROGRAM_EXIT_OK;
        } else if (cli_flag(&c, "--version")) {
            return program_print_version(PROG);
        } else if (cli_flag(&c, "--json")) {
            json = 1;
        } else if (cli_flag(&c, "--per-layer")) {
            per_layer = 1;
        } else if ((r = cli_option(&c, "--mlp")) != 0) {
            if (r < 0 || cli_int64_list(&c, widths, 64, &n_widths, 1, 1 << 20))
                return 2;
            if (n_widths < 2) {
                cli_error(&c, "--mlp needs at least two widths (input and output)");
                return 2;
            }
            mlp_given = 1;
        } else if ((r = cli_option(&c, "--out")) != 0) {
            if (r < 0)
                return 2;
            out_path = c.value;
        } else if ((r = cli_option(&c, "--weights")) != 0) {
            if (r < 0)
                return 2;
            weights = c.value;
        } else if ((r = cli_option(&c, "--data")) != 0) {
            if (r < 0)
                return 2;
            data = c.value;
        } else if ((r = cli_option(&c, "--data-dir")) != 0) {
            if (r < 0)
                return 2;
            data_dir = c.value;
        } else if ((r = cli_option(&c, "--batch")) != 0) {
            if (r < 0 || cli_int64(&c, &batch, 1, 1 << 20))
                return 2;
        } else if ((r = cli_option(&c, "--k")) != 0) {
            if (r < 0 || cli_int64(&c, &k, 1, 1024))
                return 2;
        } else if ((r = cli_option(&c, "--seed")) != 0) {
            if (r < 0 || cli_int64(&c, &seed, 0, INT64_MAX))
                return 2;
        } else if ((r = cli_option(&c, "--data-seed")) != 0) {
            if (r < 0 || cli_int64(&c, &data_seed, 0, INT64_MAX))
                return 2;
        } else if ((r = cli_option(&c, "--pool")) != 0) {
            if (r < 0 || cli_int64(&c, &pool, 1, INT64_MAX / 4))
                return 2;
        } else if ((r = cli_option(&c, "--threads")) != 0) {
            if (r < 0 || cli_int64(&c, &threads, 0, 1024))
                return 2;
        } else if ((r = cli_option(&c, "--proxy")) != 0) {
            if (r < 0)
                return 2;
            proxy = c.value;
        } else if ((r = cli_option(&c, "--batches")) != 0) {
            if (r < 0 || parse_plans(&c, plans, 32, &n_plans))
                return 2;
        } else if ((r = cli_option(&c, "--lambdas")) != 0) {
            size_t n;
            if (r < 0 || cli_double_list(&c, lambdas, 3, &n, -1e6, 1e6))
                return 2;
            if (n != 3) {
                cli_error(&c, "--lambdas needs three values, got %zu", n);
                return 2;
            }
            custom = 1;
        } else if ((r = cli_option(&c, "--preset")) != 0) {
            if (r < 0 || (w = pick(c.value, preset_names, 3)) < 0)
                return r < 0 ? 2 : bad_word(&c, preset_names, 3);
            preset = SIGEO_PRESET_ZERO_SHOT + w;
        } else if ((r = cli_option(&c, "--fr")) != 0) {
            if (r < 0 || (fr = pick(c.value, fr_names, 4)) < 0)
                return r < 0 ? 2 : bad_word(&c, fr_names, 4);
        } else if ((r = cli_option(&c, "--zico")) != 0) {
            if (r < 0 || (zico = pick(c.value, zico_names, 3)) < 0)
                return r < 0 ? 2 : bad_word(&c, zico_names, 3);
        } else if ((r = cli_option(&c, "--loss")) != 0) {
            if (r < 0 || (loss_term = pick(c.value, loss_names, 2)) < 0)
                return r < 0 ? 2 : bad_word(&c, loss_names, 2);
        } else if ((r = cli_option(&c, "--scope")) != 0) {
            if (r < 0 || (scope = pick(c.value, scope_names, 2)) < 0)
                return r < 0 ? 2 : bad_word(&c, scope_names, 2);
        } else if ((r = cli_option(&c, "--std-ddof")) != 0) {
            int64_t d;
            if (r < 0 || cli_int64(&c, &d, 0, 1))
                return 2;
            ddof = (int32_t)d;
        } else if ((r = cli_option(&c, "--param-kinds")) != 0) {
            if (r < 0 || (w = pick(c.value, kinds_names, 3)) < 0)
                return r < 0 ? 2 : bad_word(&c, kinds_names, 3);
            param_kinds = kinds_bits[w];
        } else if ((r = cli_option(&c, "--select")) != 0) {
            if (r < 0 || (select = pick(c.value, select_names, 5)) < 0)
                return r < 0 ? 2 : bad_word(&c, select_names, 5);
        } else if ((r = cli_option(&c, "--zen-mixup")) != 0) {
            if (r < 0 || cli_double(&c, &zen_gamma, 1e-9, 10.0))
                return 2;
        } else if ((r = cli_option(&c, "--zen-repeat")) != 0) {
            if (r < 0 || cli_int64(&c, &zen_repeat, 1, 1000))
                return 2;
        } else if ((r = cli_option(&c, "--swap-reg")) != 0) {
            size_t n;
            if (r < 0 || cli_double_list(&c, swap_reg, 2, &n, 0.0, 1e12))
                return 2;
            if (n != 2 || swap_reg[1] <= 0.0) {
                cli_error(&c, "--swap-reg needs MU,SIGMA with SIGMA > 0");
                return 2;
            }
        } else if ((r = cli_option(&c, "--procedure")) != 0) {
            if (r < 0)
                return 2;
            char *end = NULL;
            if (!strcmp(c.value, "fixed")) {
                procedure = SIGEO_PROCEDURE_FIXED;
            } else if (!strcmp(c.value, "sgd")) {
                procedure = SIGEO_PROCEDURE_SGD_STEPS;
            } else if (!strncmp(c.value, "sgd:", 4) && (step_lr = strtod(c.value + 4, &end), end != c.value + 4) &&
                       *end == '\0' && step_lr > 0.0 && step_lr <= 1e6) {
                procedure = SIGEO_PROCEDURE_SGD_STEPS;
            } else {
                cli_error(&c, "--procedure: '%s' is not fixed, sgd or sgd:LR with LR in (0, 1e6]", c.value);
                return 2;
            }
        } else if ((r = cli_option(&c, "--hvp")) != 0) {
            if (r < 0)
                return 2;
            char *end = NULL;
            if (!strcmp(c.value, "exact")) {
                hvp = SIGEO_HVP_EXACT;
            } else if (!strncmp(c.value, "fd:", 3) && (hvp_eps = strtod(c.value + 3, &end), end != c.value + 3) &&
                       *end == '\0' && hvp_eps > 0.0 && hvp_eps <= 0.1) {
                hvp = SIGEO_HVP_FINITE_DIFFERENCE;
            } else {
                cli_error(&c, "--hvp: '%s' is not exact or fd:EPS with EPS in (0, 0.1]", c.value);
                return 2;
            }
        } else {
            cli_unknown(&c);
            return 2;
        }
    }
    if (per_layer && !json && !out_path) {
        fprintf(stderr, PROG ": --per-layer goes with --json or --out\n");
        return PROGRAM_EXIT_USAGE;
    }

    /* the proxies and their K x B */
    int32_t kinds[64], n_kinds = 0;
    for (int32_t kind = 0; kind < 64 && sigeo_proxy_kind_name((sigeo_proxy_kind_t)kind); kind++)
        if (!strcmp(proxy, "all") || !strcmp(proxy, sigeo_proxy_kind_name((sigeo_proxy_kind_t)kind)))
            kinds[n_kinds++] = kind;
    if (n_kinds == 0 && strchr(proxy, '+')) {
        /* an ensemble's rank aggregate needs a candidate set; this program scores one model */
        fprintf(stderr,
                PROG ": --proxy %s: an ensemble aggregates ranks over a set of candidates and this program scores one "
                "model; score the members one by one (or --proxy all), or use sigeo-nas --proxy %s\n",
                proxy, proxy);
        return 2;
    }
    if (n_kinds == 0) {
        fprintf(stderr, PROG ": unknown proxy '%s'; known: all", proxy);
        for (int32_t kind = 0; sigeo_proxy_kind_name((sigeo_proxy_kind_t)kind); kind++)
            fprintf(stderr, " %s", sigeo_proxy_kind_name((sigeo_proxy_kind_t)kind));
        fprintf(stderr, "\n");
        return 2;
    }
    for (int p = 0; p < n_plans; p++) {
        int known = !strcmp(plans[p].name, "baselines");
        for (int32_t kind = 0; !known && sigeo_proxy_kind_name((sigeo_proxy_kind_t)kind); kind++)
            known = !strcmp(plans[p].name, sigeo_proxy_kind_name((sigeo_proxy_kind_t)kind));
        if (!known) {
            fprintf(stderr, PROG ": --batches: '%s' is neither a proxy nor 'baselines'\n", plans[p].name);
            return 2;
        }
    }
    int64_t kk[64], bb[64], needed = 0;
    for (int32_t i = 0; i < n_kinds; i++) {
        const char *name = sigeo_proxy_kind_name((sigeo_proxy_kind_t)kinds[i]);
        kk[i] = k;
        bb[i] = batch;
        /* 'baselines' first, then the proxy's own entry wins */
        for (int pass = 0; pass < 2; pass++)
            for (int p = 0; p < n_plans; p++)
                if (pass ? !strcmp(plans[p].name, name)
                         : !strcmp(plans[p].name, "baselines") && kinds[i] > SIGEO_PROXY_FISHER_RAO) {
                    kk[i] = plans[p].k;
                    bb[i] = plans[p].batch;
                }
        if (kk[i] * bb[i] > needed)
            needed = kk[i] * bb[i];
        /* a proxy named alone that cannot run on one batch is a usage error;
         * --proxy all skips it later with a note */
        double l1 = lambdas[0];
        if (!custom) {
            double pl[3];
            sigeo_stats_preset_lambdas(pl, (sigeo_lambda_preset_t)preset);
            l1 = pl[0];
        }
        if (n_kinds == 1 && kk[i] < 2 &&
            (kinds[i] == SIGEO_PROXY_ZICO || (kinds[i] == SIGEO_PROXY_SIGEO && l1 != 0.0))) {
            fprintf(stderr, PROG ": --k %lld: %s needs k >= 2 batches (ZiCo's gradient std is taken across them)\n",
                    (long long)kk[i], name);
            return PROGRAM_EXIT_USAGE;
        }
    }

    /* Usage checks before any data is read. */
    const int is_fmnist = !strncmp(data, "fashion-mnist", 13) && (data[13] == '\0' || data[13] == ':');
    if (!is_fmnist && strncmp(data, "criteo:", 7) != 0 && strcmp(data, "synthetic") != 0) {
        fprintf(stderr, PROG ": --data '%s': expected fashion-mnist[:DIR], criteo:FILE or synthetic\n", data);
        return PROGRAM_EXIT_USAGE;
    }
    if (!strncmp(data, "criteo:", 7) && access(data + 7, R_OK) != 0) {
        fprintf(stderr, PROG ": --data %s: cannot read '%s': %s\n", data, data + 7, strerror(errno));
        return PROGRAM_EXIT_USAGE;
    }
    if (weights && access(weights, R_OK) != 0) {
        fprintf(stderr, PROG ": --weights %s: %s\n", weights, strerror(errno));
        return PROGRAM_EXIT_USAGE;
    }
    if (output_validate_file(PROG, "--out", out_path))
        return PROGRAM_EXIT_USAGE;

    /* data: the pool, then the selected rows in batch order */
    sigeo_dataset_t *ds = NULL;
    sigeo_status_t st;
    const int64_t rows = select == SEL_SHUFFLE || select == SEL_BALANCED ? (pool > needed ? pool : needed) : needed;
    int classes = 0;
    if (is_fmnist) {
        char dir[4096];
        /* an explicit directory that does not hold the files is an error, not a fall-back */
        if (cli_fashion_mnist_dir_strict(PROG, dir, sizeof dir, data[13] == ':' ? data + 14 : data_dir))
            return PROGRAM_EXIT_USAGE;
        if ((st = sigeo_fashion_mnist_load(&ds, dir, SIGEO_FASHION_MNIST_TRAIN, rows)) != SIGEO_OK)
            return fail("loading Fashion-MNIST", st);
        classes = 10;
    } else if (!strncmp(data, "criteo:", 7)) {
        if ((st = sigeo_criteo_load(&ds, NULL, data + 7, NULL, rows)) != SIGEO_OK)
            return fail("reading the Criteo file", st);
    } else if (!strcmp(data, "synthetic")) {
        sigeo_synth_options_t so = SIGEO_SYNTH_OPTIONS_INIT;
        so.n_rows = rows;
        so.seed = (uint64_t)seed;
        if ((st = sigeo_synth_generate(&ds, NULL, &so, NULL)) != SIGEO_OK)
            return fail("generating synthetic data", st);
    } else {
        fprintf(stderr, PROG ": --data '%s': expected fashion-mnist[:DIR], criteo:FILE or synthetic\n", data);
        return 2;
    }
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    sigeo_dataset_get_info(&info, ds);
    if (!mlp_given && !classes) {
        /* CTR data: the default MLP reads its dense features, one logit out */
        widths[0] = info.n_dense;
        widths[1] = 48;
        widths[2] = 1;
        n_widths = 3;
    }
    if (info.n_rows < needed) {
        fprintf(stderr, PROG ": the data has %lld rows, the largest K x B (--k, --batch, --batches) needs %lld\n",
                (long long)info.n_rows, (long long)needed);
        return 2;
    }
    if (info.n_dense != widths[0]) {
        fprintf(stderr, PROG ": --mlp starts at %lld inputs, the data has %lld dense features per row\n",
                (long long)widths[0], (long long)info.n_dense);
        return 2;
    }
    if (!classes && widths[n_widths - 1] != 1) {
        fprintf(stderr, PROG ": CTR data has one binary target: the last --mlp width must be 1 (got %lld)\n",
                (long long)widths[n_widths - 1]);
        return 2;
    }
    if (classes) /* random labels draw from the model's outputs */
        classes = (int)widths[n_widths - 1];
    int64_t *sel_rows = malloc((size_t)needed * sizeof *sel_rows);
    sigeo_dataset_t *sel = NULL;
    if ((r = select_rows(sel_rows, needed, ds, info.n_rows, select, (uint64_t)data_seed, classes ? info.n_classes : 0)) != 0)
        return r;
    if ((st = sigeo_dataset_subset(&sel, ds, sel_rows, needed)) != SIGEO_OK)
        return fail("selecting rows", st);
    free(sel_rows);

    /* the model */
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.seed = (uint64_t)seed;
    co.threads = (uint32_t)threads;
    sigeo_context_t *ctx;
    if ((st = sigeo_context_create(&ctx, &co)) != SIGEO_OK)
        return fail("context", st);
    sigeo_model_t *m;
    if ((st = sigeo_model_create(&m, ctx, "mlp")) != SIGEO_OK)
        return fail("model", st);
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "x";
    in.features = widths[0];
    int32_t h;
    if ((st = sigeo_model_add_input(&h, m, &in)) != SIGEO_OK)
        return fail("model input", st);
    for (size_t l = 1; l < n_widths; l++) {
        char name[32];
        snprintf(name, sizeof name, "fc%zu", l - 1);
        sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
        d.name = name;
        d.inputs = &h;
        d.n_inputs = 1;
        d.units = widths[l];
        if ((st = sigeo_model_add_layer(&h, m, &d)) != SIGEO_OK)
            return fail("model layer", st);
        if (l + 1 < n_widths) {
            snprintf(name, sizeof name, "relu%zu", l - 1);
            d = (sigeo_layer_desc_t)SIGEO_LAYER_DESC_INIT;
            d.kind = SIGEO_LAYER_ACTIVATION;
            d.activation = SIGEO_ACT_RELU;
            d.name = name;
            d.inputs = &h;
            d.n_inputs = 1;
            if ((st = sigeo_model_add_layer(&h, m, &d)) != SIGEO_OK)
                return fail("model layer", st);
        }
    }
    if ((st = sigeo_model_set_loss(m, h, classes ? SIGEO_LOSS_SOFTMAX_CE : SIGEO_LOSS_BCE_WITH_LOGITS)) != SIGEO_OK ||
        (st = sigeo_model_finalize(m)) != SIGEO_OK)
        return fail("model", st);
    if (weights && (st = sigeo_model_load(m, weights, 0)) != SIGEO_OK)
        return fail("loading the weights", st);

    sigeo_proxy_result_t results[64];
    int ok[64] = { 0 };
    int rc = 0, n_skipped = 0;
    const char *skipped[64];
    layer_rows_t per[64];
    int n_per = 0;
    for (int32_t i = 0; i < n_kinds; i++) {
        sigeo_proxy_options_t po = SIGEO_PROXY_OPTIONS_INIT;
        po.kind = kinds[i];
        po.fr_estimator = fr;
        po.zico_variant = zico;
        po.loss_term = loss_term;
        po.std_ddof = (uint32_t)ddof;
        po.param_kinds = param_kinds;
        po.scope = scope;
        po.hvp_mode = hvp;
        po.hvp_epsilon = hvp_eps;
        po.procedure = procedure;
        po.zen_mixup_gamma = zen_gamma;
        po.zen_repeat = (uint32_t)zen_repeat;
        po.swap_mu = swap_reg[0];
        po.swap_sigma = swap_reg[1];
        po.step_lr = step_lr;
        po.lambda_preset = custom ? SIGEO_PRESET_CUSTOM : preset;
        po.lambda1 = lambdas[0];
        po.lambda2 = lambdas[1];
        po.lambda3 = lambdas[2];
        po.seed = (uint64_t)seed;
        const char *name = sigeo_proxy_kind_name((sigeo_proxy_kind_t)kinds[i]);
        /* One batch has no std: skip what needs one, with a note. */
        double l1 = lambdas[0];
        if (!custom && kinds[i] == SIGEO_PROXY_SIGEO) {
            double pl[3];
            sigeo_stats_preset_lambdas(pl, (sigeo_lambda_preset_t)preset);
            l1 = pl[0];
        }
        if (kk[i] < 2 && (kinds[i] == SIGEO_PROXY_ZICO || (kinds[i] == SIGEO_PROXY_SIGEO && l1 != 0.0))) {
            fprintf(stderr, PROG ": note: %s skipped: its gradient std needs K >= 2 batches (K is 1)\n", name);
            skipped[n_skipped++] = name;
            continue;
        }
        batches_t bs;
        memset(&bs, 0, sizeof bs);
        if ((r = batches_make(&bs, sel, kk[i], bb[i], select, (uint64_t)data_seed, classes)) != 0)
            return r;
        sigeo_proxy_result_t res = SIGEO_PROXY_RESULT_INIT;
        st = sigeo_proxy_compute(m, NULL, 0, bs.b, (uint32_t)kk[i], &po, &res);
        batches_free(&bs);
        if (st == SIGEO_ERR_UNSUPPORTED && n_kinds > 1 && n_skipped < 64) {
            /* Of several proxies, one that does not apply to this model
             * (AZ-NAS progressivity on a one-block net) is skipped with a
             * note, as --k 1 does. */
            fprintf(stderr, PROG ": note: %s skipped: %s\n", name, sigeo_last_error());
            skipped[n_skipped++] = name;
            continue;
        }
        if (st != SIGEO_OK) {
            fprintf(stderr, PROG ": %s: %s (%s)\n", name, sigeo_last_error(), sigeo_status_string(st));
            rc = 1;
            continue;
        }
        results[i] = res;
        ok[i] = 1;
        if (per_layer)
            keep_layers(&per[n_per++], name, m);
        if (!json) {
            printf("%-12s %14.6g", name, res.score);
            if (kinds[i] <= SIGEO_PROXY_FISHER_RAO)
                printf("   zico %.6g  FR %.6g (log %.6g)  loss %.6g  [%llu samples, k %u, %u modules, %u skipped]",
                       res.zico, res.fr, res.log_fr, res.loss, (unsigned long long)res.n_samples, res.k,
                       res.n_modules, res.n_modules_skipped);
            printf("   %.1f ms\n", 1e3 * res.seconds);
        }
    }
    const score_run_t run = { argc, argv, threads, seed, kinds, n_kinds, results, ok,
                              per_layer ? per : NULL, n_per, skipped, n_skipped };
    if (json) {
        json_out_t j;
        const char *why;
        json_out_init(&j, stdout, 0);
        write_json(&j, &run);
        if (json_out_finish(&j, &why) != 0) {
            fprintf(stderr, PROG ": writing the JSON to stdout failed: %s\n", why);
            rc = PROGRAM_EXIT_FAILURE;
        }
    }
    if (out_path && output_write_json(PROG, "--out", out_path, 1, write_json, &run) != 0)
        rc = PROGRAM_EXIT_FAILURE;
    if (fflush(stdout) != 0) {
        fprintf(stderr, PROG ": writing to stdout failed: %s\n", strerror(errno));
        rc = PROGRAM_EXIT_FAILURE;
    }
    for (int i = 0; i < n_per; i++)
        free(per[i].l);
    sigeo_model_destroy(m);
    sigeo_context_destroy(ctx);
    sigeo_dataset_destroy(sel);
    sigeo_dataset_destroy(ds);
    return rc;
}
