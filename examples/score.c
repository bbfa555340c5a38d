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
 * Criteo features (one output: BCE). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json_out.h"
#include "sigeo/io.h"
#include "sigeo/proxy.h"

#define PROG "sigeo-score"

static int fail(const char *what, sigeo_status_t st)
{
    fprintf(stderr, PROG ": %s: %s (%s)\n", what, sigeo_last_error(), sigeo_status_string(st));
    return 1;
}

static void usage(void)
{
    printf("usage: " PROG " [options]\n"
           "Scores a ReLU MLP (layers named fc0, fc1, ... like PyTorch nn.Linear) with SiGeo or a baseline.\n\n"
           "  --mlp D0,D1,...,DL   layer widths (default 784,48,10)\n"
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
           "  --json               one JSON object with every component\n");
}

int main(int argc, char **argv)
{
    int64_t widths[64] = { 784, 48, 10 }, batch = 128, k = 4, seed = 0, threads = 0;
    size_t n_widths = 3;
    const char *weights = NULL, *data = "fashion-mnist", *proxy = "sigeo", *data_dir = NULL;
    double lambdas[3] = { 1, 1, 0 };
    int custom = 0, json = 0;
    int32_t preset = SIGEO_PRESET_ZERO_SHOT, fr = SIGEO_FR_EXACT;
    cli_t c;
    cli_init(&c, PROG, argc, argv);
    int r;
    while (cli_next(&c)) {
        if (cli_flag(&c, "--help") || cli_flag(&c, "-h")) {
            usage();
            return 0;
        } else if (cli_flag(&c, "--json")) {
            json = 1;
        } else if ((r = cli_option(&c, "--mlp")) != 0) {
            if (r < 0 || cli_int64_list(&c, widths, 64, &n_widths, 1, 1 << 20))
                return 2;
            if (n_widths < 2) {
                cli_error(&c, "--mlp needs at least two widths (input and output)");
                return 2;
            }
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

    /* data: the first k x batch rows in file order */
    sigeo_dataset_t *ds = NULL;
    sigeo_status_t st;
    const int64_t rows = k * batch;
    int classes = 0;
    if (!strncmp(data, "fashion-mnist", 13) && (data[13] == '\0' || data[13] == ':')) {
        char dir[256], why[512];
        if (cli_fashion_mnist_dir(dir, sizeof dir, NULL, data[13] == ':' ? data + 14 : data_dir, why, sizeof why)) {
            fprintf(stderr, PROG ": %s\n", why);
            return 2;
        }
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

    /* the proxies */
    int32_t kinds[64], n_kinds = 0;
    for (int32_t kind = 0; kind < 64 && sigeo_proxy_kind_name((sigeo_proxy_kind_t)kind); kind++)
        if (!strcmp(proxy, "all") || !strcmp(proxy, sigeo_proxy_kind_name((sigeo_proxy_kind_t)kind)))
            kinds[n_kinds++] = kind;
    if (n_kinds == 0) {
        fprintf(stderr, PROG ": unknown proxy '%s'; known: all", proxy);
        for (int32_t kind = 0; sigeo_proxy_kind_name((sigeo_proxy_kind_t)kind); kind++)
            fprintf(stderr, " %s", sigeo_proxy_kind_name((sigeo_proxy_kind_t)kind));
        fprintf(stderr, "\n");
        return 2;
    }
    json_out_t j;
    if (json) {
        json_out_init(&j, stdout, 0);
        json_out_begin_object(&j);
    }
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
        if (json) {
            if (kinds[i] == SIGEO_PROXY_SIGEO || n_kinds == 1) {
                json_out_key_number(&j, "score", res.score);
                json_out_key_number(&j, "zico", res.zico);
                json_out_key_number(&j, "fr", res.fr);
                json_out_key_number(&j, "log_fr", res.log_fr);
                json_out_key_number(&j, "loss", res.loss);
                json_out_key_int(&j, "n_samples", (int64_t)res.n_samples);
                json_out_key_int(&j, "k", res.k);
                json_out_key_int(&j, "n_modules", res.n_modules);
                json_out_key_number(&j, "seconds", res.seconds);
            }
            /* the SiGeo family's scores are the components above; one key per baseline */
            if (n_kinds > 1 && kinds[i] > SIGEO_PROXY_FISHER_RAO)
                json_out_key_number(&j, name, res.score);
        } else {
            printf("%-12s %14.6g", name, res.score);
            if (kinds[i] <= SIGEO_PROXY_FISHER_RAO)
                printf("   zico %.6g  FR %.6g (log %.6g)  loss %.6g  [%llu samples, k %u, %u modules, %u skipped]",
                       res.zico, res.fr, res.log_fr, res.loss, (unsigned long long)res.n_samples, res.k,
                       res.n_modules, res.n_modules_skipped);
            printf("   %.1f ms\n", 1e3 * res.seconds);
        }
    }
    if (json) {
        json_out_end_object(&j);
        const char *why;
        if (json_out_finish(&j, &why) != 0)
            rc = 1;
        printf("\n");
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
