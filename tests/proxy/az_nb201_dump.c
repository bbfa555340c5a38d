/* The C half of the AZ-NAS reference on nb201-fmnist
 * (check_az_nb201.py): for one arch, the standalone network's weights
 * (sigeo_model_save), a batch, the Rademacher signs az_trainability draws
 * for its block pairs (the documented stream, in draw order) and the three
 * scores libsigeo gives, so the Python half can rebuild the network in
 * PyTorch from docs/cellspace.md §1 and score it the official way.
 *   az_nb201_dump DIR ARCH SEED    -> DIR/w.safetensors, DIR/x.f32,
 *                                     DIR/labels.i32, DIR/signs.f32, JSON on stdout */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/rng.h"
#include "sigeo/proxy.h"
#include "sigeo/search.h"

enum { B = 8 };

static int die(const char *what)
{
    fprintf(stderr, "az_nb201_dump: %s: %s\n", what, sigeo_last_error());
    return 1;
}

static int write_file(const char *dir, const char *name, const void *data, size_t bytes)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, bytes, f) != bytes || fclose(f) != 0) {
        fprintf(stderr, "az_nb201_dump: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

static void json_num(const char *key, double v, const char *sep)
{
    if (isfinite(v))
        printf("\"%s\": %.17g%s", key, v, sep);
    else
        printf("\"%s\": \"%s\"%s", key, isnan(v) ? "nan" : v > 0 ? "inf" : "-inf", sep);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: az_nb201_dump DIR ARCH SEED\n");
        return 2;
    }
    const char *dir = argv[1];
    const uint64_t seed = strtoull(argv[3], NULL, 10);
    int32_t ops[6];
    if (sigeo_nb201_from_string(ops, argv[2]) != SIGEO_OK)
        return die("arch");
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.seed = 17;
    co.threads = 1;
    sigeo_context_t *ctx;
    sigeo_model_t *m;
    if (sigeo_context_create(&ctx, &co) != SIGEO_OK || sigeo_nb201_build(&m, ctx, ops) != SIGEO_OK)
        return die("build");
    static float x[B * 784];
    int32_t labels[B];
    unsigned s = 29;
    for (int i = 0; i < B * 784; i++) {
        s = s * 1103515245u + 12345u;
        x[i] = (float)((s >> 16) & 255) / 255.0f;
    }
    for (int i = 0; i < B; i++)
        labels[i] = (i * 3) % 10;
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = B;
    b.dense = x;
    b.n_dense = 784;
    b.labels = labels;

    static const sigeo_proxy_kind_t kinds[3] = { SIGEO_PROXY_AZ_EXPRESSIVITY, SIGEO_PROXY_AZ_PROGRESSIVITY,
                                                 SIGEO_PROXY_AZ_TRAINABILITY };
    double v[3];
    for (int k = 0; k < 3; k++) {
        sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
        o.kind = kinds[k];
        o.seed = seed;
        sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
        if (sigeo_proxy_compute(m, NULL, 0, &b, 1, &o, &r) != SIGEO_OK)
            return die(sigeo_proxy_kind_name(kinds[k]));
        v[k] = r.score;
    }

    /* The signs of each pair, the last pair first, one draw per element of
     * the later block's [B, width] (proxy.h; docs/proxies-zoo.md, AZ-NAS). */
    int32_t n_blk = 0, blk[16];
    if (sigeo_model_blocks(&n_blk, blk, 16, m) != SIGEO_OK || sigeo_model_forward(NULL, m, &b) != SIGEO_OK)
        return die("blocks");
    int64_t width[16], total = 0;
    for (int k = 0; k < n_blk; k++) {
        if (sigeo_model_node_output(NULL, &width[k], m, blk[k]) != SIGEO_OK)
            return die("node output");
        width[k] /= B;
        if (k > 0)
            total += B * width[k];
    }
    float *signs = malloc((size_t)total * sizeof *signs);
    sigeo__rng_t rng;
    sigeo__rng_seed(&rng, seed);
    int64_t at = 0;
    for (int p = n_blk - 1; p >= 1; p--)
        for (int64_t e = 0; e < B * width[p]; e++)
            signs[at++] = (sigeo__rng_next(&rng) >> 63) ? 1.0f : -1.0f;

    char path[1024];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    if (sigeo_model_save(m, path) != SIGEO_OK)
        return die("save");
    if (write_file(dir, "x.f32", x, sizeof x) || write_file(dir, "labels.i32", labels, sizeof labels) ||
        write_file(dir, "signs.f32", signs, (size_t)total * sizeof *signs))
        return 1;
    printf("{");
    json_num("az_expressivity", v[0], ", ");
    json_num("az_progressivity", v[1], ", ");
    json_num("az_trainability", v[2], ", ");
    printf("\"blocks\": %d, \"batch\": %d}\n", (int)n_blk, B);
    free(signs);
    sigeo_model_destroy(m);
    sigeo_context_destroy(ctx);
    return 0;
}
