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
 * Criteo features (one output: BCE); without --mlp the MLP then starts at
 * the data's width (13,48,1).
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
           "  --seed S             initialisation seed (default 0)\n"
           "  --threads N          compute threads (default 0 = all cores)\n"
           "  --json               one JSON object with every component\n"
           "  --out FILE           also write that JSON object (with every proxy's provenance) to FILE, atomically\n");
    program_help_options(stdout, 0);
    printf("\n"
           "Examples:\n"
           "  " PROG " --mlp 784,48,10 --weights model.safetensors     SiGeo of a PyTorch-trained MLP\n"
           "  " PROG " --data synthetic --proxy all --json              every proxy on synthetic CTR data\n"
           "\n");
    program_help_exit_status(stdout, 0);
}

/* The proxy kinds --proxy selects (NAME or all) into kinds[64]; 0 if none. */
static int32_t select_kinds(int32_t *kinds, const char *proxy)
{
    int32_t n = 0;
    for (int32_t kind = 0; kind < 64 && sigeo_proxy_kind_name((sigeo_proxy_kind_t)kind); kind++)
        if (!strcmp(proxy, "all") || !strcmp(proxy, sigeo_proxy_kind_name((sigeo_proxy_kind_t)kind)))
            kinds[n++] = kind;
    return n;
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
} score_run_t;

/* The JSON document: the provenance block; the first SiGeo-family result's
 * components at the top level and one key per baseline score (the layout
 * scripts already read); "results" with every proxy's full provenance.
 * (An output_json_fn: `user` is the score_run_t.) */
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
            json_out_key_int(j, "n_samples", (int64_t)res->n_samples);
            json_out_key_int(j, "k", res->k);
            json_out_key_int(j, "n_modules", res->n_modules);
            json_out_key_number(j, "seconds", res->seconds);
        }
        /* the SiGeo family's scores are the components above; one key per baseline */
        if (run->n_kinds > 1 && run->kinds[i] > SIGEO_PROXY_FISHER_RAO)
            json_out_key_number(j, sigeo_proxy_kind_name((sigeo_proxy_kind_t)run->kinds[i]), res->score);
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
    int64_t widths[64] = { 784, 48, 10 }, batch = 128, k = 4, seed = 0, threads = 0;
    size_t n_widths = 3;
    const char *weights = NULL, *data = "fashion-mnist", *proxy = "sigeo", *data_dir = NULL;
    double lambdas[3] = { 1, 1, 0 };
    int custom = 0, json = 0, mlp_given = 0;
    const char *out_path = NULL;
    int32_t preset = SIGEO_PRESET_ZERO_SHOT, fr = SIGEO_FR_EXACT;
    cli_t c;
    cli_init(&c, PROG, argc, argv);
    int r;
    while (cli_next(&c)) {
        if (cli_flag(&c, "--help") || cli_flag(&c, "-h")) {
            usage();
            return PROGRAM_EXIT_OK;
        } else if (cli_flag(&c, "--version")) {
            return program_print_version(PROG);
        } else if (cli_flag(&c, "--json")) {
            json = 1;
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
        } else if ((r = cli_option(&c, "--threads")) != 0) {
            if (r < 0 || cli_int64(&c, &threads, 0, 1024))
                return 2;
        } else if ((r = cli_option(&c, "--proxy")) != 0) {
            if (r < 0)
                return 2;
            proxy = c.value;
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
            if (r < 0)
                return 2;
            if (!strcmp(c.value, "zero-shot"))
                preset = SIGEO_PRESET_ZERO_SHOT;
            else if (!strcmp(c.value, "recsys"))
                preset = SIGEO_PRESET_RECSYS;
            else if (!strcmp(c.value, "vision"))
                preset = SIGEO_PRESET_VISION;
            else {
                cli_error(&c, "--preset: '%s' is not zero-shot, recsys or vision", c.value);
                return 2;
            }
        } else if ((r = cli_option(&c, "--fr")) != 0) {
            if (r < 0)
                return 2;
            const char *names[] = { "exact", "identity", "reference-recsys", "reference-cv" };
            fr = -1;
            for (int i = 0; i < 4; i++)
                if (!strcmp(c.value, names[i]))
                    fr = i;
            if (fr < 0) {
                cli_error(&c, "--fr: '%s' is not exact, identity, reference-recsys or reference-cv", c.value);
                return 2;
            }
        } else {
            cli_unknown(&c);
            return 2;
        }
    }

    /* Usage checks before any data is read. */
    int32_t kinds[64], n_kinds = select_kinds(kinds, proxy);
    if (n_kinds == 0) {
        fprintf(stderr, PROG ": --proxy: unknown proxy '%s'; known: all", proxy);
        for (int32_t kind = 0; sigeo_proxy_kind_name((sigeo_proxy_kind_t)kind); kind++)
            fprintf(stderr, " %s", sigeo_proxy_kind_name((sigeo_proxy_kind_t)kind));
        fprintf(stderr, "\n");
        return PROGRAM_EXIT_USAGE;
    }
    for (int32_t i = 0; i < n_kinds && k < 2; i++)
        if (kinds[i] == SIGEO_PROXY_SIGEO || kinds[i] == SIGEO_PROXY_ZICO) {
            fprintf(stderr, PROG ": --k %lld: %s needs k >= 2 batches (ZiCo's gradient std is taken across them)\n",
                    (long long)k, sigeo_proxy_kind_name((sigeo_proxy_kind_t)kinds[i]));
            return PROGRAM_EXIT_USAGE;
        }
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

    /* data: the first k x batch rows in file order */
    sigeo_dataset_t *ds = NULL;
    sigeo_status_t st;
    const int64_t rows = k * batch;
    int classes = 0;
    if (!strncmp(data, "fashion-mnist", 13) && (data[13] == '\0' || data[13] == ':')) {
        char dir[4096];
        /* an explicit directory that does not hold the files is an error, not a fall-back */
        if (cli_fashion_mnist_dir_strict(PROG, dir, sizeof dir, data[13] == ':' ? data + 14 : data_dir))
            return PROGRAM_EXIT_USAGE;
        if ((st = sigeo_fashion_mnist_load(&ds, dir, SIGEO_FASHION_MNIST_TRAIN, rows)) != SIGEO_OK)
            return fail("loading Fashion-MNIST", st);
        classes = 1;
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
    if (info.n_rows < rows) {
        fprintf(stderr, PROG ": the data has %lld rows, --k %lld x --batch %lld need %lld\n", (long long)info.n_rows,
                (long long)k, (long long)batch, (long long)rows);
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

    /* the batches: copies of the dataset's views (each view lives until the next call) */
    sigeo_batch_t *bs = calloc((size_t)k, sizeof *bs);
    float **dense = calloc((size_t)k, sizeof *dense), **tg = calloc((size_t)k, sizeof *tg);
    int32_t **lab = calloc((size_t)k, sizeof *lab);
    for (int64_t i = 0; i < k; i++) {
        sigeo_batch_t b = SIGEO_BATCH_INIT;
        if ((st = sigeo_dataset_batch(&b, ds, i, batch, SIGEO_BATCH_DROP_LAST)) != SIGEO_OK)
            return fail("batching", st);
        dense[i] = malloc((size_t)(batch * b.n_dense) * sizeof(float));
        memcpy(dense[i], b.dense, (size_t)(batch * b.n_dense) * sizeof(float));
        bs[i] = (sigeo_batch_t)SIGEO_BATCH_INIT;
        bs[i].batch_size = batch;
        bs[i].dense = dense[i];
        bs[i].n_dense = b.n_dense;
        if (classes) {
            lab[i] = malloc((size_t)batch * sizeof(int32_t));
            memcpy(lab[i], b.labels, (size_t)batch * sizeof(int32_t));
            bs[i].labels = lab[i];
        } else {
            tg[i] = malloc((size_t)batch * sizeof(float));
            memcpy(tg[i], b.targets, (size_t)batch * sizeof(float));
            bs[i].targets = tg[i];
            bs[i].n_targets = 1;
        }
    }

    /* the proxies (kinds selected above) */
    sigeo_proxy_result_t results[64];
    int ok[64] = { 0 };
    int rc = 0;
    for (int32_t i = 0; i < n_kinds; i++) {
        sigeo_proxy_options_t po = SIGEO_PROXY_OPTIONS_INIT;
        po.kind = kinds[i];
        po.fr_estimator = fr;
        po.lambda_preset = custom ? SIGEO_PRESET_CUSTOM : preset;
        po.lambda1 = lambdas[0];
        po.lambda2 = lambdas[1];
        po.lambda3 = lambdas[2];
        po.seed = (uint64_t)seed;
        sigeo_proxy_result_t res = SIGEO_PROXY_RESULT_INIT;
        const char *name = sigeo_proxy_kind_name((sigeo_proxy_kind_t)kinds[i]);
        st = sigeo_proxy_compute(m, NULL, 0, bs, (uint32_t)k, &po, &res);
        if (st != SIGEO_OK) {
            fprintf(stderr, PROG ": %s: %s (%s)\n", name, sigeo_last_error(), sigeo_status_string(st));
            rc = 1;
            continue;
        }
        results[i] = res;
        ok[i] = 1;
        if (!json) {
            printf("%-12s %14.6g", name, res.score);
            if (kinds[i] <= SIGEO_PROXY_FISHER_RAO)
                printf("   zico %.6g  FR %.6g (log %.6g)  loss %.6g  [%llu samples, k %u, %u modules, %u skipped]",
                       res.zico, res.fr, res.log_fr, res.loss, (unsigned long long)res.n_samples, res.k,
                       res.n_modules, res.n_modules_skipped);
            printf("   %.1f ms\n", 1e3 * res.seconds);
        }
    }
    const score_run_t run = { argc, argv, threads, seed, kinds, n_kinds, results, ok };
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
    for (int64_t i = 0; i < k; i++) {
        free(dense[i]);
        free(tg[i]);
        free(lab[i]);
    }
    free(dense);
    free(tg);
    free(lab);
    free(bs);
    sigeo_model_destroy(m);
    sigeo_context_destroy(ctx);
    sigeo_dataset_destroy(ds);
    return rc;
}
