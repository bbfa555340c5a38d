/* Embedding bag: each row's bag of ids (one sparse field) pooled by sum or
 * mean from a table [rows, dim]. The backward scatters into the rows the
 * batch used and records them, so the next backward (and a row-sparse
 * optimiser) touches only those rows. */
#include <string.h>

#include "nn/graph.h"

static sigeo_status_t emb_configure(sigeo_model_t *m, sigeo__node_t *n, const sigeo_layer_desc_t *d)
{
    static const char fn[] = "sigeo_model_add_layer";
    const sigeo__node_t *in0 = &m->nodes[d->inputs[0]];
    if (d->n_inputs != 1 || in0->kind != SIGEO__NODE_INPUT_SPARSE)
        return SIGEO__MODEL_FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: embedding bag '%s' takes exactly one sparse input", fn, d->name);
    if (d->units < 1 || d->rows < 1)
        return SIGEO__MODEL_FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: embedding bag '%s' has %lld rows x %lld dims (need >= 1)", fn,
                    d->name, (long long)d->rows, (long long)d->units);
    if (d->pooling != SIGEO_POOL_SUM && d->pooling != SIGEO_POOL_MEAN)
        return SIGEO__MODEL_FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: embedding bag '%s' has unknown pooling %d", fn, d->name,
                    (int)d->pooling);
    n->units = n->max_width = d->units;
    n->rows = d->rows;
    n->pooling = d->pooling;
    n->module = m->n_modules;
    return sigeo__model_add_param(m, n, 0, "weight", SIGEO_PARAM_EMBEDDING, 2, (const int64_t[]){ d->rows, d->units });
}

static sigeo_status_t emb_infer(sigeo_model_t *m, sigeo__node_t *n)
{
    (void)m;
    n->width = n->units;
    n->runs[0] = (sigeo__run_t){ 0, 0, n->width };
    n->n_runs = 1;
    return SIGEO_OK;
}

/* Scratch layout: [B + 1] offsets then the ids of this field, compacted. */
static sigeo_status_t emb_forward(sigeo_model_t *m, sigeo__node_t *n, const sigeo_batch_t *b)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    const sigeo__param_t *t = &m->params[n->param[0]];
    const int64_t B = b->batch_size, F = b->n_sparse_fields, f = in->field, dim = n->width;
    int64_t total = 0;
    for (int64_t r = 0; r < B; r++) {
        int64_t lo = b->sparse_offsets[r * F + f], hi = b->sparse_offsets[r * F + f + 1];
        for (int64_t k = lo; k < hi; k++) {
            int64_t id = b->sparse_ids[k];
            if (id < 0 || id >= n->rows)
                return SIGEO__MODEL_FAIL(m, SIGEO_ERR_INVALID_ARG,
                                         "embedding bag '%s': id %lld in batch row %lld (field %lld) is outside table "
                                         "rows 0..%lld",
                                         n->name, (long long)id, (long long)r, (long long)f, (long long)n->rows - 1);
        }
        total += hi - lo;
    }
    sigeo_status_t st = sigeo__node_scratch(m, n, (size_t)(B + 1 + total) * sizeof(int64_t));
    if (st != SIGEO_OK)
        return st;
    int64_t *offs = n->scratch, *ids = offs + B + 1;
    offs[0] = 0;
    for (int64_t r = 0; r < B; r++) {
        int64_t lo = b->sparse_offsets[r * F + f], hi = b->sparse_offsets[r * F + f + 1];
        memcpy(ids + offs[r], b->sparse_ids + lo, (size_t)(hi - lo) * sizeof(int64_t));
        offs[r + 1] = offs[r] + (hi - lo);
        float *y = n->out + r * dim;
        memset(y, 0, (size_t)dim * sizeof(float));
        for (int64_t k = offs[r]; k < offs[r + 1]; k++) {
            const float *row = t->data + ids[k] * dim;
            for (int64_t j = 0; j < dim; j++)
                y[j] += row[j];
        }
        if (n->pooling == SIGEO_POOL_MEAN && offs[r + 1] > offs[r]) {
            float inv = 1.0f / (float)(offs[r + 1] - offs[r]);
            for (int64_t j = 0; j < dim; j++)
                y[j] *= inv;
        }
    }
    return SIGEO_OK;
}

static sigeo_status_t emb_backward(sigeo_model_t *m, sigeo__node_t *n)
{
    sigeo__param_t *t = &m->params[n->param[0]];
    const int64_t B = m->batch, dim = n->width;
    const int64_t *offs = n->scratch, *ids = offs + B + 1;
    const int64_t total = offs[B];
    if (t->cap_dirty_rows < t->n_dirty_rows + total) {
        int64_t cap = t->n_dirty_rows + total;
        int64_t *grown = sigeo__realloc_array(t->dirty_rows, (size_t)t->n_dirty_rows, (size_t)cap, sizeof(int64_t));
        if (!grown)
            return SIGEO__MODEL_FAIL(m, SIGEO_ERR_NO_MEMORY, "embedding bag '%s': out of memory", n->name);
        t->dirty_rows = grown;
        t->cap_dirty_rows = cap;
    }
    for (int64_t r = 0; r < B; r++) {
        const float *g = n->grad + r * dim;
        float scale = 1.0f;
        if (n->pooling == SIGEO_POOL_MEAN && offs[r + 1] > offs[r])
            scale = 1.0f / (float)(offs[r + 1] - offs[r]);
        for (int64_t k = offs[r]; k < offs[r + 1]; k++) {
            float *row = t->grad + ids[k] * dim;
            for (int64_t j = 0; j < dim; j++)
                row[j] += scale * g[j];
            t->dirty_rows[t->n_dirty_rows++] = ids[k];
        }
    }
    sigeo__add_directional(m, n->out, n->grad, B, dim);
    return SIGEO_OK;
}

/* Forward-mode pass: the pooled rows are linear in the table and the ids
 * carry no tangent, so ydot = y. */
static sigeo_status_t emb_jvp(sigeo_model_t *m, sigeo__node_t *n)
{
    memcpy(n->tangent, n->out, (size_t)(m->batch * n->width) * sizeof(float));
    return SIGEO_OK;
}

const sigeo__op_t sigeo__op_embedding_bag = {
    .name = "embedding bag",
    .configure = emb_configure,
    .infer = emb_infer,
    .forward = emb_forward,
    .backward = emb_backward,
    .jvp = emb_jvp,
};
