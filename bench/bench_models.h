/* The models and synthetic batches the benchmarks share, built through the
 * public API only (sigeo/model.h). torch_proxy.py builds the same shapes in
 * PyTorch; keep the two in step. */
#ifndef SIGEO_BENCH_MODELS_H
#define SIGEO_BENCH_MODELS_H

#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "sigeo/model.h"

static inline int32_t bench_layer(sigeo_model_t *m, sigeo_layer_kind_t kind, const char *name, const int32_t *in,
                                  uint32_t n_in, int64_t units)
{
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = kind;
    d.name = name;
    d.inputs = in;
    d.n_inputs = n_in;
    d.units = units;
    d.activation = SIGEO_ACT_RELU;
    int32_t id;
    bench_check(sigeo_model_add_layer(&id, m, &d), name);
    return id;
}

static inline int32_t bench_dense_input(sigeo_model_t *m, const char *name, int64_t features)
{
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = name;
    in.features = features;
    int32_t id;
    bench_check(sigeo_model_add_input(&id, m, &in), name);
    return id;
}

/* Linear layers of the given widths from `x`, with a ReLU after each except
 * (unless relu_last) the last one. Layer names: <prefix>fc<i>, <prefix>relu<i>. */
static inline int32_t bench_mlp_tower(sigeo_model_t *m, int32_t x, const char *prefix, const int64_t *widths, int n,
                                      int relu_last)
{
    int32_t h = x;
    for (int i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "%sfc%d", prefix, i);
        h = bench_layer(m, SIGEO_LAYER_LINEAR, name, &h, 1, widths[i]);
        if (i + 1 < n || relu_last) {
            snprintf(name, sizeof name, "%srelu%d", prefix, i);
            h = bench_layer(m, SIGEO_LAYER_ACTIVATION, name, &h, 1, 0);
        }
    }
    return h;
}

/* MLP in -> widths[0] -> ... -> widths[n-1] (logits), ReLUs between, softmax CE. */
static inline sigeo_model_t *bench_mlp(sigeo_context_t *ctx, int64_t in, const int64_t *widths, int n)
{
    sigeo_model_t *m;
    bench_check(sigeo_model_create(&m, ctx, "mlp"), "sigeo_model_create");
    int32_t x = bench_dense_input(m, "x", in);
    int32_t y = bench_mlp_tower(m, x, "", widths, n, 0);
    bench_check(sigeo_model_set_loss(m, y, SIGEO_LOSS_SOFTMAX_CE), "set_loss");
    bench_check(sigeo_model_finalize(m), "finalize");
    return m;
}

/* n_fields sparse inputs, one embedding bag [rows, dim] each (sum pooling).
 * Node ids go to bags[0..n_fields). */
static inline void bench_embedding_bags(sigeo_model_t *m, int32_t *bags, int n_fields, int64_t rows, int64_t dim)
{
    for (int f = 0; f < n_fields; f++) {
        char in_name[32], bag_name[32];
        snprintf(in_name, sizeof in_name, "c%d", f);
        snprintf(bag_name, sizeof bag_name, "emb%d", f);
        sigeo_input_desc_t s = SIGEO_INPUT_DESC_INIT;
        s.kind = SIGEO_INPUT_SPARSE;
        s.name = in_name;
        s.field = f;
        int32_t si;
        bench_check(sigeo_model_add_input(&si, m, &s), in_name);
        sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
        d.kind = SIGEO_LAYER_EMBEDDING_BAG;
        d.name = bag_name;
        d.inputs = &si;
        d.n_inputs = 1;
        d.units = dim;
        d.rows = rows;
        d.pooling = SIGEO_POOL_SUM;
        bench_check(sigeo_model_add_layer(&bags[f], m, &d), bag_name);
    }
}

/* The embedding throughput model: n_fields sparse inputs -> bags -> concat
 * -> linear 1 -> BCE with logits. */
static inline sigeo_model_t *bench_embedding_model(sigeo_context_t *ctx, int n_fields, int64_t rows, int64_t dim)
{
    sigeo_model_t *m;
    bench_check(sigeo_model_create(&m, ctx, "embedding"), "sigeo_model_create");
    int32_t *bags = malloc((size_t)n_fields * sizeof *bags);
    if (!bags)
        abort();
    bench_embedding_bags(m, bags, n_fields, rows, dim);
    int32_t cat = bench_layer(m, SIGEO_LAYER_CONCAT, "cat", bags, (uint32_t)n_fields, 0);
    int32_t y = bench_layer(m, SIGEO_LAYER_LINEAR, "head", &cat, 1, 1);
    free(bags);
    bench_check(sigeo_model_set_loss(m, y, SIGEO_LOSS_BCE_WITH_LOGITS), "set_loss");
    bench_check(sigeo_model_finalize(m), "finalize");
    return m;
}

/* DLRM (Naumov et al.), the shape of the proxy benchmark:
 *   13 dense -> 512 -> 256 -> 16 (ReLU after each)            bottom
 *   26 sparse -> embedding bags 100k x 16 (sum)                tables
 *   DOT_INTERACTION over the 27 vectors: 351 pairwise dots
 *   concat(bottom 16, dots 351) = 367 -> 512 -> 256 (ReLUs) -> 1, BCE. */
enum { BENCH_DLRM_DENSE = 13, BENCH_DLRM_FIELDS = 26, BENCH_DLRM_DIM = 16 };
#define BENCH_DLRM_ROWS ((int64_t)100000)

static inline sigeo_model_t *bench_dlrm(sigeo_context_t *ctx)
{
    static const int64_t bottom[] = { 512, 256, BENCH_DLRM_DIM };
    static const int64_t top[] = { 512, 256, 1 };
    sigeo_model_t *m;
    bench_check(sigeo_model_create(&m, ctx, "dlrm"), "sigeo_model_create");
    int32_t x = bench_dense_input(m, "dense", BENCH_DLRM_DENSE);
    int32_t v[1 + BENCH_DLRM_FIELDS];
    v[0] = bench_mlp_tower(m, x, "bot_", bottom, 3, 1);
    bench_embedding_bags(m, v + 1, BENCH_DLRM_FIELDS, BENCH_DLRM_ROWS, BENCH_DLRM_DIM);
    int32_t dots = bench_layer(m, SIGEO_LAYER_DOT_INTERACTION, "interaction", v, 1 + BENCH_DLRM_FIELDS, 0);
    int32_t cat = bench_layer(m, SIGEO_LAYER_CONCAT, "cat", (const int32_t[]){ v[0], dots }, 2, 0);
    int32_t y = bench_mlp_tower(m, cat, "top_", top, 3, 0);
    bench_check(sigeo_model_set_loss(m, y, SIGEO_LOSS_BCE_WITH_LOGITS), "set_loss");
    bench_check(sigeo_model_finalize(m), "finalize");
    return m;
}

/* A batch whose arrays the bench owns (sigeo_batch_t only borrows). */
typedef struct bench_batch {
    sigeo_batch_t view;
    float *dense;
    int32_t *labels;
    float *targets;
    int64_t *ids;
    int64_t *offsets;
} bench_batch_t;

/* Random batch: dense U(-1,1) (n_dense may be 0), labels in [0, n_classes)
 * when n_classes > 0, else binary targets; with n_fields > 0 one hashed id
 * per field per row into tables of `rows` rows. */
static inline void bench_batch_random(bench_batch_t *b, uint64_t *rng, int64_t batch, int64_t n_dense,
                                      int32_t n_classes, int n_fields, int64_t rows)
{
    memset(b, 0, sizeof *b);
    sigeo_batch_t v = SIGEO_BATCH_INIT;
    v.batch_size = batch;
    if (n_dense > 0) {
        b->dense = malloc((size_t)(batch * n_dense) * sizeof(float));
        if (!b->dense)
            abort();
        bench_fill_uniform(b->dense, batch * n_dense, rng);
        v.dense = b->dense;
        v.n_dense = n_dense;
    }
    if (n_classes > 0) {
        b->labels = malloc((size_t)batch * sizeof(int32_t));
        if (!b->labels)
            abort();
        for (int64_t r = 0; r < batch; r++)
            b->labels[r] = (int32_t)(bench_rng_next(rng) % (uint64_t)n_classes);
        v.labels = b->labels;
    } else {
        b->targets = malloc((size_t)batch * sizeof(float));
        if (!b->targets)
            abort();
        for (int64_t r = 0; r < batch; r++)
            b->targets[r] = (float)(bench_rng_next(rng) & 1u);
        v.targets = b->targets;
        v.n_targets = 1;
    }
    if (n_fields > 0) {
        int64_t n = batch * n_fields;
        b->ids = malloc((size_t)n * sizeof(int64_t));
        b->offsets = malloc((size_t)(n + 1) * sizeof(int64_t));
        if (!b->ids || !b->offsets)
            abort();
        for (int64_t i = 0; i < n; i++) {
            b->ids[i] = bench_hashed_id(rng, rows);
            b->offsets[i] = i;
        }
        b->offsets[n] = n;
        v.n_sparse_fields = (uint32_t)n_fields;
        v.sparse_ids = b->ids;
        v.sparse_offsets = b->offsets;
    }
    b->view = v;
}

static inline void bench_batch_free(bench_batch_t *b)
{
    free(b->dense);
    free(b->labels);
    free(b->targets);
    free(b->ids);
    free(b->offsets);
    memset(b, 0, sizeof *b);
}

#endif /* SIGEO_BENCH_MODELS_H */
