/* Forward-mode differentiation along theta (docs/proxies.md §4.3a): the exact
 * per-sample directional derivative d_n = theta . grad l_n when the samples
 * of a batch are coupled (train-mode batch norm), where the one-backward
 * identity of §4.1 is not exact.
 *
 * d_n = d/d(alpha) l_n(alpha theta) at alpha = 1 = (dl_n/dz_n) . zdot_n,
 * with zdot the tangent of the loss node's output when every parameter's
 * tangent is the parameter itself and the inputs' tangents are 0. Each op
 * propagates ydot = J_x xdot + J_p p from its inputs' tangents and the values
 * the forward left behind (graph.h, sigeo__op.jvp); an op that is degree-1
 * homogeneous in its own parameters has J_p p = its output's part that the
 * parameters produce. Batch norm in train mode differentiates through the
 * batch mean and variance: that is where sample n's tangent picks up the
 * other samples', and why one pass per batch gives every d_n at once.
 *
 * The tangents live next to out/grad on each node, allocated on the first
 * pass and grown only (so architectures that never need the pass pay no
 * memory, and the pass allocates nothing after its first call). */
#include <math.h>
#include <string.h>

#include "nn/graph.h"
#include "nn/probe.h"

#define FAIL(m, status, ...) SIGEO__MODEL_FAIL(m, status, __VA_ARGS__)

sigeo_status_t sigeo__node_jvp_scratch(sigeo_model_t *m, sigeo__node_t *node, size_t size)
{
    if (node->jvp_scratch_size >= size)
        return SIGEO_OK;
    void *p = sigeo__alloc(size);
    if (!p)
        return FAIL(m, SIGEO_ERR_NO_MEMORY, "forward-mode pass: node '%s': out of memory for %zu bytes of scratch",
                    node->name, size);
    sigeo__free(node->jvp_scratch);
    node->jvp_scratch = p;
    node->jvp_scratch_size = size;
    return SIGEO_OK;
}

/* Sized by max_width like out/grad (tape.c ensure_buffers), so switching
 * architectures at the same batch size never regrows them. */
sigeo_status_t sigeo__ensure_tangents(sigeo_model_t *m, int64_t batch)
{
    for (int32_t i = 0; i < m->n_nodes; i++) {
        sigeo__node_t *n = &m->nodes[i];
        if (!n->active)
            continue;
        const int64_t need = batch * (n->max_width > 0 ? n->max_width : 1);
        if (n->tangent_cap >= need)
            continue;
        float *t = sigeo__calloc((size_t)need, sizeof(float));
        if (!t)
            return FAIL(m, SIGEO_ERR_NO_MEMORY, "forward-mode pass: node '%s': out of memory for a batch of %lld",
                        n->name, (long long)batch);
        sigeo__free(n->tangent);
        n->tangent = t;
        n->tangent_cap = need;
    }
    return SIGEO_OK;
}

/* The conv -> batch norm fold (graph.h, tangent_lacks_out): on for every
 * active conv that is not the loss node and that only batch norms read,
 * or (on = false) off everywhere. A conv's tangent is conv(xdot; W) + y;
 * batch norm's map of the y part is known in closed form, so leaving it
 * out saves a pass over the conv's output (NB201 puts a BN after every
 * conv but the reduction blocks' 1x1 shortcut: ~10 % of the pass on the
 * cell network). */
static void mark_conv_folds(sigeo_model_t *m, bool on)
{
    for (int32_t i = 0; i < m->n_nodes; i++) {
        sigeo__node_t *n = &m->nodes[i];
        n->tangent_lacks_out = on && n->active && n->kind == SIGEO_LAYER_CONV2D && i != m->loss_node;
    }
    for (int32_t j = 0; on && j < m->n_nodes; j++) {
        const sigeo__node_t *c = &m->nodes[j];
        if (!c->active || c->kind == SIGEO_LAYER_BATCH_NORM)
            continue;
        for (int32_t k = 0; k < c->n_inputs; k++)
            if (sigeo__input_on(m, c, k))
                sigeo__input(m, c, k)->tangent_lacks_out = false;
    }
}

static sigeo_status_t tape_jvp_folded(double *d_out, sigeo_model_t *m)
{
    if (!d_out)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "forward-mode pass: output buffer is NULL");
    if (!m->have_forward || !m->have_loss)
        return FAIL(m, SIGEO_ERR_INVALID_ARG,
                    "forward-mode pass: no forward with a loss since the last change (run one on the batch first)");
    sigeo_status_t st = sigeo__ensure_tangents(m, m->batch);
    if (st != SIGEO_OK)
        return st;
    mark_conv_folds(m, true);
    for (int32_t i = 0; i < m->n_nodes; i++) {
        sigeo__node_t *n = &m->nodes[i];
        if (!n->active)
            continue;
        if (!n->op->jvp)
            return FAIL(m, SIGEO_ERR_UNSUPPORTED, "forward-mode pass: node '%s' (%s) has no forward-mode rule",
                        n->name, n->op->name);
        if ((st = n->op->jvp(m, n)) != SIGEO_OK)
            return sigeo__propagate(&m->err, st);
    }
    const sigeo__node_t *z = &m->nodes[m->loss_node];
    for (int64_t r = 0; r < m->batch; r++) {
        const double d = sigeo__loss_row_directional(m, r, z->tangent + r * z->width);
        if (!isfinite(d))
            return FAIL(m, SIGEO_ERR_NONFINITE,
                        "forward-mode pass: theta . grad l_n of batch row %lld is %g (a tangent overflowed)",
                        (long long)r, d);
        d_out[r] = d;
    }
    return SIGEO_OK;
}

sigeo_status_t sigeo__tape_jvp(double *d_out, sigeo_model_t *m)
{
    sigeo_status_t st = tape_jvp_folded(d_out, m);
    mark_conv_folds(m, false);
    return st;
}
