/* Running the tape: batch validation, forward in tape order, backward in
 * reverse, and the read-out of outputs and per-sample losses. */
#include <math.h>
#include <string.h>

#include "nn/graph.h"
#include "nn/op_shape.h"
#include "nn/probe.h"

#define FAIL(m, status, ...) SIGEO__MODEL_FAIL(m, status, __VA_ARGS__)

float *sigeo__grad_target(sigeo__node_t *in, bool *accumulate)
{
    *accumulate = in->grad_written;
    in->grad_written = true;
    return in->grad;
}

sigeo_status_t sigeo__node_scratch(sigeo_model_t *m, sigeo__node_t *node, size_t size)
{
    if (node->scratch_size >= size)
        return SIGEO_OK;
    void *p = sigeo__alloc(size);
    if (!p)
        return FAIL(m, SIGEO_ERR_NO_MEMORY, "node '%s': out of memory for %zu bytes of scratch", node->name, size);
    sigeo__free(node->scratch);
    node->scratch = p;
    node->scratch_size = size;
    return SIGEO_OK;
}

void sigeo__add_directional(sigeo_model_t *m, const float *y, const float *dy, int64_t rows, int64_t width)
{
    if (!m->collect_directional)
        return;
    if (m->directional_node >= 0 && y != m->nodes[m->directional_node].out)
        return;
    for (int64_t n = 0; n < rows; n++) {
        double s = 0.0;
        const float *yr = y + n * width, *dr = dy + n * width;
        for (int64_t j = 0; j < width; j++)
            s += (double)yr[j] * (double)dr[j];
        m->directional[n] += s;
    }
}

void sigeo__param_clear_grad(sigeo__param_t *p)
{
    if (p->kind == SIGEO_PARAM_EMBEDDING) {
        const int64_t dim = p->dims[1];
        for (int64_t i = 0; i < p->n_dirty_rows; i++)
            memset(p->grad + p->dirty_rows[i] * dim, 0, (size_t)dim * sizeof(float));
        p->n_dirty_rows = 0;
        return;
    }
    if (p->grad_dirty)
        memset(p->grad, 0, (size_t)p->numel * sizeof(float));
    p->grad_dirty = false;
}

/* Whether any of x[0..n) is NaN or Inf: a branch-free vector pass (all
 * exponent bits set), so the check costs little on every step; the element
 * is located only when there is one. */
static bool any_nonfinite(const float *x, int64_t n)
{
    uint32_t any = 0;
#pragma omp simd reduction(| : any)
    for (int64_t j = 0; j < n; j++) {
        uint32_t bits;
        memcpy(&bits, &x[j], sizeof bits);
        any |= (uint32_t)((bits & 0x7f800000u) == 0x7f800000u);
    }
    return any != 0;
}

static sigeo_status_t check_batch(sigeo_model_t *m, const sigeo_batch_t *b, bool need_loss, const char *fn)
{
    if (b->batch_size < 1)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: batch_size %lld (need >= 1)", fn, (long long)b->batch_size);
    if (b->batch_size > (int64_t)1 << 31)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: batch_size %lld is too large", fn, (long long)b->batch_size);
    for (int32_t i = 0; i < m->n_nodes; i++) {
        const sigeo__node_t *n = &m->nodes[i];
        if (!n->active)
            continue;
        int64_t elems; /* model.h "Limits": every later batch x width product fits */
        if (!sigeo__mul_elems(&elems, b->batch_size, n->max_width))
            return FAIL(m, SIGEO_ERR_SHAPE, "%s: %lld rows of node '%s' (%lld features) exceed the limit of %lld elements",
                        fn, (long long)b->batch_size, n->name, (long long)n->max_width, (long long)SIGEO_MAX_ELEMENTS);
        if (n->kind == SIGEO__NODE_INPUT_DENSE) {
            if (!b->dense)
                return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: input '%s' needs batch->dense", fn, n->name);
            if (b->n_dense != n->max_width)
                return FAIL(m, SIGEO_ERR_SHAPE, "%s: input '%s' has %lld features, batch->n_dense is %lld", fn, n->name,
                            (long long)n->max_width, (long long)b->n_dense);
            int64_t total = b->batch_size * b->n_dense;
            if (!any_nonfinite(b->dense, total))
                continue;
            for (int64_t k = 0; k < total; k++)
                if (!isfinite(b->dense[k]))
                    return FAIL(m, SIGEO_ERR_NONFINITE, "%s: input '%s' row %lld feature %lld is %g", fn, n->name,
                                (long long)(k / b->n_dense), (long long)(k % b->n_dense), (double)b->dense[k]);
        } else if (n->kind == SIGEO__NODE_INPUT_SPARSE) {
            if (!b->sparse_ids || !b->sparse_offsets)
                return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: input '%s' needs batch->sparse_ids and sparse_offsets", fn,
                            n->name);
            if ((uint32_t)n->field >= b->n_sparse_fields)
                return FAIL(m, SIGEO_ERR_SHAPE, "%s: input '%s' reads field %d, the batch has %u sparse fields", fn,
                            n->name, (int)n->field, (unsigned)b->n_sparse_fields);
            const int64_t bags = b->batch_size * (int64_t)b->n_sparse_fields;
            if (b->sparse_offsets[0] != 0)
                return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: batch->sparse_offsets[0] is %lld, must be 0", fn,
                            (long long)b->sparse_offsets[0]);
            for (int64_t k = 0; k < bags; k++)
                if (b->sparse_offsets[k + 1] < b->sparse_offsets[k])
                    return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: batch->sparse_offsets decreases at bag %lld (row %lld)",
                                fn, (long long)k, (long long)(k / b->n_sparse_fields));
        }
    }
    if (need_loss)
        return sigeo__loss_check(m, b);
    return SIGEO_OK;
}

static sigeo_status_t ensure_buffers(sigeo_model_t *m, int64_t batch)
{
    for (int32_t i = 0; i < m->n_nodes; i++) {
        sigeo__node_t *n = &m->nodes[i];
        if (!n->active)
            continue;
        int64_t need = batch * (n->max_width > 0 ? n->max_width : 1);
        if (n->cap >= need)
            continue;
        float *out = sigeo__calloc((size_t)need, sizeof(float));
        float *grad = out ? sigeo__calloc((size_t)need, sizeof(float)) : NULL;
        if (!grad) {
            sigeo__free(out);
            return FAIL(m, SIGEO_ERR_NO_MEMORY, "node '%s': out of memory for a batch of %lld", n->name,
                        (long long)batch);
        }
        sigeo__free(n->out);
        sigeo__free(n->grad);
        n->out = out;
        n->grad = grad;
        n->cap = need;
    }
    if (m->loss_cap < batch) {
        float *sl = sigeo__calloc((size_t)batch, sizeof(float));
        double *dir = sl ? sigeo__calloc((size_t)batch, sizeof(double)) : NULL;
        if (!dir) {
            sigeo__free(sl);
            return FAIL(m, SIGEO_ERR_NO_MEMORY, "out of memory for a batch of %lld", (long long)batch);
        }
        sigeo__free(m->sample_loss);
        sigeo__free(m->directional);
        m->sample_loss = sl;
        m->directional = dir;
        m->loss_cap = batch;
    }
    return SIGEO_OK;
}

static sigeo_status_t run_forward(sigeo_model_t *m, const sigeo_batch_t *b, bool with_loss)
{
    m->have_forward = false;
    m->batch = b->batch_size;
    for (int32_t i = 0; i < m->n_nodes; i++) {
        sigeo__node_t *n = &m->nodes[i];
        if (!n->active)
            continue;
        sigeo_status_t st = n->op->forward(m, n, b);
        if (st != SIGEO_OK)
            return sigeo__propagate(&m->err, st);
    }
    if (with_loss) {
        sigeo_status_t st = sigeo__loss_forward(m, b);
        if (st != SIGEO_OK)
            return st;
    }
    m->have_forward = true;
    m->have_loss = with_loss;
    return SIGEO_OK;
}

/* Before a backward: parameter gradients a backward would not overwrite
 * are zeroed, and no node's gradient is written yet. */
static void clear_for_backward(sigeo_model_t *m)
{
    for (int32_t i = 0; i < m->n_params; i++) {
        sigeo__param_t *p = &m->params[i];
        /* A parameter the active layer writes in full needs no zeroing. */
        bool overwritten = m->nodes[p->node].active && p->active_numel == p->numel && p->kind != SIGEO_PARAM_EMBEDDING;
        if (!overwritten)
            sigeo__param_clear_grad(p);
    }
    for (int32_t i = 0; i < m->n_nodes; i++)
        m->nodes[i].grad_written = false;
}

/* Runs the backward of every active node from `from` down to, not
 * including, `to` (-1: all of them). */
static sigeo_status_t backward_range(sigeo_model_t *m, int32_t from, int32_t to)
{
    for (int32_t i = from; i > to; i--) {
        sigeo__node_t *n = &m->nodes[i];
        if (!n->active || !n->op->backward)
            continue;
        if (!n->grad_written) {
            /* Nothing downstream used this node's output (e.g. a zeroed
             * branch): its gradient is zero, and so are its parameters'. */
            memset(n->grad, 0, (size_t)(m->batch * n->width) * sizeof(float));
            n->grad_written = true;
        }
        sigeo_status_t st = n->op->backward(m, n);
        if (st != SIGEO_OK)
            return sigeo__propagate(&m->err, st);
    }
    return SIGEO_OK;
}

/* Backward of the loss, or (seed non-NULL, sigeo__tape_backward_from) from
 * a given gradient of the loss node's output. */
static sigeo_status_t run_backward_from(sigeo_model_t *m, const float *seed)
{
    if (m->collect_directional)
        memset(m->directional, 0, (size_t)m->batch * sizeof(double));
    clear_for_backward(m);
    if (seed) {
        sigeo__node_t *out = &m->nodes[m->loss_node];
        memcpy(out->grad, seed, (size_t)(m->batch * out->width) * sizeof(float));
        out->grad_written = true;
    } else {
        sigeo__loss_backward(m);
    }
    return backward_range(m, m->n_nodes - 1, -1);
}

static sigeo_status_t start(sigeo_model_t *m, const sigeo_batch_t *batch, sigeo_batch_t *b, bool need_loss,
                            const char *fn)
{
    if (!m->finalized)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: model '%s' is not finalised (sigeo_model_finalize)", fn, m->name);
    if (!batch)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: batch is NULL", fn);
    sigeo_status_t st = sigeo__struct_in(b, sizeof *b, batch, "sigeo_batch", &m->err);
    if (st != SIGEO_OK)
        return st;
    if ((st = check_batch(m, b, need_loss, fn)) != SIGEO_OK)
        return st;
    return ensure_buffers(m, b->batch_size);
}

SIGEO_API sigeo_status_t sigeo_model_forward(double *loss_out, sigeo_model_t *m, const sigeo_batch_t *batch)
{
    static const char fn[] = "sigeo_model_forward";
    if (!m)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: model is NULL", fn);
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    sigeo_status_t st = start(m, batch, &b, loss_out != NULL, fn);
    if (st == SIGEO_OK)
        st = run_forward(m, &b, loss_out != NULL);
    if (st == SIGEO_OK && loss_out)
        *loss_out = m->loss;
    return st;
}

SIGEO_API sigeo_status_t sigeo_model_forward_backward(double *loss_out, sigeo_model_t *m, const sigeo_batch_t *batch)
{
    static const char fn[] = "sigeo_model_forward_backward";
    if (!m)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: model is NULL", fn);
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    sigeo_status_t st = start(m, batch, &b, true, fn);
    if (st == SIGEO_OK)
        st = run_forward(m, &b, true);
    if (st == SIGEO_OK)
        st = run_backward_from(m, NULL);
    if (st == SIGEO_OK && loss_out)
        *loss_out = m->loss;
    return st;
}

SIGEO_API sigeo_status_t sigeo_model_sample_losses(float *buf, int64_t *count, const sigeo_model_t *m)
{
    static const char fn[] = "sigeo_model_sample_losses";
    if (!m || !count)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %s is NULL", fn, m ? "count" : "model");
    /* A forward without the loss (sigeo_model_forward with loss_out NULL)
     * leaves sample_loss from an older batch: that is not this forward's. */
    if (!m->have_forward || !m->have_loss)
        return sigeo__fail_on((sigeo__errbuf_t *)&m->err, SIGEO_ERR_INVALID_ARG,
                              "%s: no forward with a loss since the last change (%s)", fn,
                              m->have_forward ? "the last forward ran without the loss: pass loss_out"
                                              : "no forward since the model or its architecture changed");
    if (!buf) {
        *count = m->batch;
        return SIGEO_OK;
    }
    if (*count < m->batch)
        return sigeo__fail_on((sigeo__errbuf_t *)&m->err, SIGEO_ERR_SHAPE, "%s: buffer holds %lld, need %lld", fn,
                              (long long)*count, (long long)m->batch);
    memcpy(buf, m->sample_loss, (size_t)m->batch * sizeof(float));
    *count = m->batch;
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_model_node_output(float *buf, int64_t *count, const sigeo_model_t *m, int32_t node)
{
    static const char fn[] = "sigeo_model_node_output";
    if (!m || !count)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %s is NULL", fn, m ? "count" : "model");
    if (node < 0 || node >= m->n_nodes)
        return sigeo__fail_on((sigeo__errbuf_t *)&m->err, SIGEO_ERR_INVALID_ARG, "%s: node %d does not exist", fn,
                              (int)node);
    const sigeo__node_t *n = &m->nodes[node];
    if (!m->have_forward || !n->active || n->kind == SIGEO__NODE_INPUT_SPARSE)
        return sigeo__fail_on((sigeo__errbuf_t *)&m->err, SIGEO_ERR_INVALID_ARG,
                              "%s: node '%s' has no output (no forward since the last change, inactive, or sparse)",
                              fn, n->name);
    int64_t need = m->batch * n->width;
    if (!buf) {
        *count = need;
        return SIGEO_OK;
    }
    if (*count < need)
        return sigeo__fail_on((sigeo__errbuf_t *)&m->err, SIGEO_ERR_SHAPE, "%s: buffer holds %lld, need %lld", fn,
                              (long long)*count, (long long)need);
    memcpy(buf, n->out, (size_t)need * sizeof(float));
    *count = need;
    return SIGEO_OK;
}

/* ------------------------------------------------ seeded / input backward
 * For the baseline proxies (probe.h): synflow and the input Jacobian of
 * jacov / epe_nas backpropagate a given output gradient, the latter down
 * to the dense input.
 *
 * Ops skip the gradient of an input node (nothing upstream needs it) by
 * asking sigeo__wants_grad(); an input-gradient backward sets
 * m->input_grad, so every op then writes their gradient like any other
 * node's. */
sigeo_status_t sigeo__tape_backward_from(sigeo_model_t *m, const float *seed, bool input_grad)
{
    if (!m->have_forward)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "backward: no forward since the last change");
    if (!seed)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "backward: no output gradient given");
    m->input_grad = input_grad;
    sigeo_status_t st = run_backward_from(m, seed);
    m->input_grad = false;
    for (int32_t i = 0; input_grad && i < m->n_nodes; i++) {
        sigeo__node_t *n = &m->nodes[i];
        if (n->active && n->op->input && !n->grad_written)
            memset(n->grad, 0, (size_t)(m->batch * n->width) * sizeof(float));
    }
    return st;
}

/* Vector-Jacobian product between two nodes (AZ-NAS trainability): the
 * gradient `seed` placed on node `at`'s output alone, backpropagated through
 * the nodes `at` .. `to`+1, lands in node `to`'s gradient (the path through
 * `to` only: what reaches `to`'s inputs is not propagated further). Zero if
 * `at` does not depend on `to`. Parameter gradients of the nodes in between
 * are overwritten, no directional sums are collected. */
sigeo_status_t sigeo__tape_vjp_between(sigeo_model_t *m, int32_t at, const float *seed, int32_t to)
{
    if (!m->have_forward)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "vector-Jacobian product: no forward since the last change");
    if (!seed || at < 0 || at >= m->n_nodes || to < 0 || to >= at || !m->nodes[at].active || !m->nodes[to].active)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "vector-Jacobian product: nodes %d -> %d (need active, %s)", (int)at,
                    (int)to, seed ? "the later first" : "and a seed");
    const bool collect = m->collect_directional;
    m->collect_directional = false;
    clear_for_backward(m);
    sigeo__node_t *out = &m->nodes[at];
    memcpy(out->grad, seed, (size_t)(m->batch * out->width) * sizeof(float));
    out->grad_written = true;
    sigeo_status_t st = backward_range(m, at, to);
    m->collect_directional = collect;
    sigeo__node_t *in = &m->nodes[to];
    if (st == SIGEO_OK && !in->grad_written) {
        memset(in->grad, 0, (size_t)(m->batch * in->width) * sizeof(float));
        in->grad_written = true;
    }
    return st;
}
