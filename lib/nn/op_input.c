/* Model inputs: the dense features are copied in (the batch is borrowed
 * for the call only); a sparse field is read by its embedding bags. */
#include <string.h>

#include "nn/graph.h"

static sigeo_status_t dense_infer(sigeo_model_t *m, sigeo__node_t *n)
{
    (void)m;
    n->width = n->max_width;
    n->runs[0] = (sigeo__run_t){ 0, 0, n->width };
    n->n_runs = 1;
    return SIGEO_OK;
}

static sigeo_status_t dense_forward(sigeo_model_t *m, sigeo__node_t *n, const sigeo_batch_t *b)
{
    (void)m;
    memcpy(n->out, b->dense, (size_t)(b->batch_size * n->width) * sizeof(float));
    return SIGEO_OK;
}

static sigeo_status_t sparse_infer(sigeo_model_t *m, sigeo__node_t *n)
{
    (void)m;
    n->width = 0;
    n->n_runs = 0;
    return SIGEO_OK;
}

static sigeo_status_t sparse_forward(sigeo_model_t *m, sigeo__node_t *n, const sigeo_batch_t *b)
{
    (void)m;
    (void)n;
    (void)b;
    return SIGEO_OK;
}

/* Forward-mode pass: the data does not move with theta (tangent 0); a
 * sparse field has no features, its bags' tangents are the embeddings'. */
static sigeo_status_t dense_jvp(sigeo_model_t *m, sigeo__node_t *n)
{
    memset(n->tangent, 0, (size_t)(m->batch * n->width) * sizeof(float));
    return SIGEO_OK;
}

static sigeo_status_t sparse_jvp(sigeo_model_t *m, sigeo__node_t *n)
{
    (void)m;
    (void)n;
    return SIGEO_OK;
}

const sigeo__op_t sigeo__op_input_dense = {
    .name = "input",
    .infer = dense_infer,
    .forward = dense_forward,
    .jvp = dense_jvp,
    .input = true,
};
const sigeo__op_t sigeo__op_input_sparse = {
    .name = "sparse input",
    .infer = sparse_infer,
    .forward = sparse_forward,
    .jvp = sparse_jvp,
    .input = true,
};
