/* Exact Hessian-vector products of the batch loss (GraSP, docs/proxies.md §6):
 * Pearlmutter's R-operator, i.e. forward-mode differentiation of the
 * backward pass along a parameter direction v.
 *
 *   R{y}    = J_x R{x} + J_p v_p                    (forward sweep, tangents)
 *   R{dL/dz} = H_loss(z) R{z}                        (the loss node)
 *   R{dL/dx} = J_x^T R{dL/dy} + (d J_x^T/d(x,p) . (R{x}, v_p)) dL/dy
 *   R{dL/dp} = J_p^T R{dL/dy} + (d J_p^T/d(x,p) . (R{x}, v_p)) dL/dy
 *
 * and H v = R{dL/dp}. The second-derivative terms are those autograd's
 * double backward takes: zero for ReLU (whose mask is the forward's: the
 * activation pattern never moves, unlike a finite difference of gradients,
 * which lets the step cross kinks), f''(x) for the smooth activations, the
 * cross terms x.V and g.V of a linear layer.
 *
 * Ops with a rule: the dense and sparse inputs, linear, conv2d (op_conv.c),
 * batch norm in both modes (op_batchnorm.c) and layer norm (op_layernorm.c;
 * v and the product skip their gamma and beta, as GraSP's CL-weights do),
 * the dot interaction (op_interaction.c: bilinear), attention with
 * directions on its projections (op_attention.c), FM (op_fm.c: quadratic,
 * its constant second derivative), sigmoid gating (op_gating.c: the gate's
 * sigmoid'' and the cross terms of its products) and token linear
 * (op_token_linear.c: bilinear), activation, and the
 * ops that are piecewise linear in their input and have no parameters (sum,
 * concat, select, slice, reshape, zero, max/avg pool2d, global avg pool),
 * whose R-backward is their own backward applied to R{dL/dy} (the routing
 * -- max-pool argmax, the selected branch -- is the forward's). An
 * embedding bag is served when v and the product skip its table (the
 * GraSP case: tables are not CL-weights), its output then has no tangent.
 * That is every op of the engine; an op added without a rule (or a
 * direction in a norm's gamma/beta or a table) fails with
 * SIGEO_ERR_UNSUPPORTED naming it.
 *
 * Buffers: the forward sweep writes node->tangent; the reverse sweep swaps
 * every node's grad and r_grad pointers so that the ops' own backward (which
 * reads node->grad and writes its inputs' grad) propagates the R-gradient;
 * during that sweep node->r_grad holds the ordinary gradient. The swap is
 * undone before returning, also on failure. Parameter gradients (p->grad)
 * keep the values of the ordinary backward. */
#include <math.h>
#include <string.h>

#include "nn/graph.h"
#include "nn/probe.h"

#define FAIL(m, status, ...) SIGEO__MODEL_FAIL(m, status, __VA_ARGS__)

static bool piecewise_linear(const sigeo__op_t *op)
{
    return op == &sigeo__op_sum || op == &sigeo__op_concat || op == &sigeo__op_select || op == &sigeo__op_slice ||
           op == &sigeo__op_reshape || op == &sigeo__op_zero || op == &sigeo__op_pool2d ||
           op == &sigeo__op_global_avg_pool;
}

/* Whether `n` has a rule under this v / hv; the message names the op. */
static sigeo_status_t check_supported(sigeo_model_t *m, const sigeo__node_t *n, const float *const *v,
                                      float *const *hv)
{
    const sigeo__op_t *op = n->op;
    if (op == &sigeo__op_input_dense || op == &sigeo__op_input_sparse || op == &sigeo__op_linear ||
        op == &sigeo__op_conv2d ||
        op == &sigeo__op_activation || piecewise_linear(op))
        return SIGEO_OK;
    if (op == &sigeo__op_dot_interaction || op == &sigeo__op_attention || op == &sigeo__op_fm ||
        op == &sigeo__op_sigmoid_gating || op == &sigeo__op_token_linear)
        return SIGEO_OK;
    if (op == &sigeo__op_batch_norm || op == &sigeo__op_layer_norm) {
        bool touched = false;
        for (int k = 0; k < 2; k++)
            touched = touched || (n->param[k] >= 0 && (v[n->param[k]] || hv[n->param[k]]));
        if (!touched)
            return SIGEO_OK;
        return FAIL(m, SIGEO_ERR_UNSUPPORTED,
                    "exact Hessian-vector product: node '%s' (%s): no rule for a direction along or a product "
                    "in its gamma and beta",
                    n->name, op->name);
    }
    if (op == &sigeo__op_embedding_bag) {
        const int32_t t = n->param[0];
        if (!v[t] && !hv[t])
            return SIGEO_OK;
        return FAIL(m, SIGEO_ERR_UNSUPPORTED,
                    "exact Hessian-vector product: node '%s' (embedding bag): no rule for a direction along or a "
                    "product in its table",
                    n->name);
    }
    return FAIL(m, SIGEO_ERR_UNSUPPORTED,
                "exact Hessian-vector product: node '%s' (%s) has no second-order rule (use the finite-difference "
                "mode)",
                n->name, op->name);
}

static sigeo_status_t ensure_r_grads(sigeo_model_t *m, int64_t batch)
{
    for (int32_t i = 0; i < m->n_nodes; i++) {
        sigeo__node_t *n = &m->nodes[i];
        if (!n->active)
            continue;
        const int64_t need = batch * (n->max_width > 0 ? n->max_width : 1);
        if (n->r_grad_cap >= need)
            continue;
        float *t = sigeo__calloc((size_t)need, sizeof(float));
        if (!t)
            return FAIL(m, SIGEO_ERR_NO_MEMORY,
                        "exact Hessian-vector product: node '%s': out of memory for a batch of %lld", n->name,
                        (long long)batch);
        sigeo__free(n->r_grad);
        n->r_grad = t;
        n->r_grad_cap = need;
    }
    return SIGEO_OK;
}

/* ------------------------------------------------------------ linear */

/* R{y} = R{x} W^T + x V^T + v_b over the active slice (the forward's runs). */
static void linear_r_forward(sigeo_model_t *m, sigeo__node_t *n, const float *const *v)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    const sigeo__param_t *w = &m->params[n->param[0]];
    const float *vw = v[n->param[0]], *vb = n->param[1] >= 0 ? v[n->param[1]] : NULL;
    const int64_t B = m->batch, in_w = in->width, ld = w->dims[1], out_w = n->width;
    for (int64_t b = 0; b < B; b++)
        for (int64_t o = 0; o < out_w; o++) {
            double s = vb ? (double)vb[o] : 0.0;
            for (int32_t r = 0; r < in->n_runs; r++) {
                const sigeo__run_t *run = &in->runs[r];
                const float *xr = in->out + b * in_w + run->active_offset;
                const float *tr = in->tangent + b * in_w + run->active_offset;
                const float *wr = w->data + o * ld + run->max_offset;
                for (int64_t t = 0; t < run->len; t++)
                    s += (double)tr[t] * (double)wr[t];
                if (vw) {
                    const float *vr = vw + o * ld + run->max_offset;
                    for (int64_t t = 0; t < run->len; t++)
                        s += (double)xr[t] * (double)vr[t];
                }
            }
            n->tangent[b * out_w + o] = (float)s;
        }
}

/* Reverse sweep (grads swapped: n->grad = R{g}, n->r_grad = g):
 *   R{dx} = R{g} W + g V,   R{dW} = R{g}^T x + g^T R{x},   R{db} = sum_b R{g}. */
static void linear_r_backward(sigeo_model_t *m, sigeo__node_t *n, const float *const *v, float *const *hv)
{
    sigeo__node_t *in = sigeo__input(m, n, 0);
    const sigeo__param_t *w = &m->params[n->param[0]];
    const float *vw = v[n->param[0]];
    float *hw = hv[n->param[0]], *hb = n->param[1] >= 0 ? hv[n->param[1]] : NULL;
    const int64_t B = m->batch, in_w = in->width, ld = w->dims[1], out_w = n->width;
    const float *rg = n->grad, *g = n->r_grad;
    /* Loops ordered so the innermost runs along contiguous columns (the
     * weights' rows, the inputs' rows); float accumulation, like the GEMMs
     * of the ordinary backward. */
    if (in->kind != SIGEO__NODE_INPUT_DENSE) {
        bool acc;
        float *dx = sigeo__grad_target(in, &acc);
        if (!acc)
            memset(dx, 0, (size_t)(B * in_w) * sizeof(float));
        for (int64_t b = 0; b < B; b++)
            for (int64_t o = 0; o < out_w; o++) {
                const float r1 = rg[b * out_w + o], g1 = g[b * out_w + o];
                for (int32_t r = 0; r < in->n_runs; r++) {
                    const sigeo__run_t *run = &in->runs[r];
                    float *d = dx + b * in_w + run->active_offset;
                    const float *wr = w->data + o * ld + run->max_offset;
                    for (int64_t t = 0; t < run->len; t++)
                        d[t] += r1 * wr[t];
                    if (vw) {
                        const float *vr = vw + o * ld + run->max_offset;
                        for (int64_t t = 0; t < run->len; t++)
                            d[t] += g1 * vr[t];
                    }
                }
            }
    }
    if (hw)
        for (int64_t o = 0; o < out_w; o++)
            for (int64_t b = 0; b < B; b++) {
                const float r1 = rg[b * out_w + o], g1 = g[b * out_w + o];
                for (int32_t r = 0; r < in->n_runs; r++) {
                    const sigeo__run_t *run = &in->runs[r];
                    float *h = hw + o * ld + run->max_offset;
                    const float *xr = in->out + b * in_w + run->active_offset;
                    const float *tr = in->tangent + b * in_w + run->active_offset;
                    for (int64_t t = 0; t < run->len; t++)
                        h[t] += r1 * xr[t] + g1 * tr[t];
                }
            }
    if (hb)
        for (int64_t o = 0; o < out_w; o++) {
            double s = 0.0;
            for (int64_t b = 0; b < B; b++)
                s += (double)rg[b * out_w + o];
            hb[o] = (float)s;
        }
}

/* ------------------------------------------------------------ activation */

/* f''(x) as autograd differentiates f' (ReLU: 0 everywhere). */
static double act_second(int32_t act, double x)
{
    switch (act) {
    case SIGEO_ACT_SIGMOID: {
        const double s = 1.0 / (1.0 + exp(-x));
        return s * (1.0 - s) * (1.0 - 2.0 * s);
    }
    case SIGEO_ACT_TANH: {
        const double t = tanh(x);
        return -2.0 * t * (1.0 - t * t);
    }
    case SIGEO_ACT_GELU: {
        const double phi = exp(-0.5 * x * x) / sqrt(2.0 * 3.14159265358979323846);
        return phi * (2.0 - x * x);
    }
    default: return 0.0;
    }
}

/* Reverse sweep: R{dx} = f'(x) R{g} (the op's own backward) + f''(x) R{x} g. */
static sigeo_status_t act_r_backward(sigeo_model_t *m, sigeo__node_t *n)
{
    sigeo_status_t st = n->op->backward(m, n);
    sigeo__node_t *in = sigeo__input(m, n, 0);
    if (st != SIGEO_OK || in->kind == SIGEO__NODE_INPUT_DENSE || n->activation == SIGEO_ACT_IDENTITY ||
        n->activation == SIGEO_ACT_RELU)
        return st;
    const int64_t count = m->batch * n->width;
    for (int64_t i = 0; i < count; i++)
        in->grad[i] += (float)(act_second(n->activation, (double)in->out[i]) * (double)in->tangent[i] *
                               (double)n->r_grad[i]);
    return SIGEO_OK;
}

/* ------------------------------------------------------------ loss */

/* R{dL/dz} = H_l(z) R{z} / B per row, into the loss node's r_grad. */
static void loss_r(sigeo_model_t *m)
{
    sigeo__node_t *out = &m->nodes[m->loss_node];
    const int64_t B = m->batch, W = out->width;
    for (int64_t n = 0; n < B; n++) {
        const float *z = out->out + n * W, *zd = out->tangent + n * W;
        float *rg = out->r_grad + n * W;
        if (m->loss_kind == SIGEO_LOSS_SOFTMAX_CE) {
            double zmax = z[0], se = 0.0, pz = 0.0;
            for (int64_t j = 1; j < W; j++)
                zmax = z[j] > zmax ? z[j] : zmax;
            for (int64_t j = 0; j < W; j++)
                se += exp((double)z[j] - zmax);
            for (int64_t j = 0; j < W; j++)
                pz += exp((double)z[j] - zmax) / se * (double)zd[j];
            for (int64_t j = 0; j < W; j++) {
                const double p = exp((double)z[j] - zmax) / se;
                rg[j] = (float)(p * ((double)zd[j] - pz) / (double)B);
            }
        } else {
            const double scale = 1.0 / ((double)B * (double)W);
            for (int64_t j = 0; j < W; j++) {
                double h = 2.0;
                if (m->loss_kind == SIGEO_LOSS_BCE_WITH_LOGITS) {
                    const double s = 1.0 / (1.0 + exp(-(double)z[j]));
                    h = s * (1.0 - s);
                }
                rg[j] = (float)(h * (double)zd[j] * scale);
            }
        }
    }
}

/* ------------------------------------------------------------ the passes */

static void swap_grads(sigeo_model_t *m)
{
    for (int32_t i = 0; i < m->n_nodes; i++) {
        sigeo__node_t *n = &m->nodes[i];
        if (!n->active)
            continue;
        float *t = n->grad;
        n->grad = n->r_grad;
        n->r_grad = t;
    }
}

static sigeo_status_t forward_sweep(sigeo_model_t *m, const float *const *v)
{
    for (int32_t i = 0; i < m->n_nodes; i++) {
        sigeo__node_t *n = &m->nodes[i];
        if (!n->active)
            continue;
        if (n->op == &sigeo__op_linear) {
            linear_r_forward(m, n, v);
        } else if (n->op == &sigeo__op_conv2d) {
            sigeo_status_t st = sigeo__conv_r_forward(m, n, v[n->param[0]], n->param[1] >= 0 ? v[n->param[1]] : NULL);
            if (st != SIGEO_OK)
                return sigeo__propagate(&m->err, st);
        } else if (n->op == &sigeo__op_batch_norm) {
            sigeo_status_t st = sigeo__batch_norm_r_forward(m, n);
            if (st != SIGEO_OK)
                return sigeo__propagate(&m->err, st);
        } else if (n->op == &sigeo__op_attention) {
            sigeo_status_t st = sigeo__attention_r_forward(m, n, v);
            if (st != SIGEO_OK)
                return sigeo__propagate(&m->err, st);
        } else if (n->op == &sigeo__op_layer_norm) {
            sigeo_status_t st = sigeo__layer_norm_r_forward(m, n);
            if (st != SIGEO_OK)
                return sigeo__propagate(&m->err, st);
        } else if (n->op == &sigeo__op_sigmoid_gating) {
            sigeo_status_t st = sigeo__gating_r_forward(m, n, v);
            if (st != SIGEO_OK)
                return sigeo__propagate(&m->err, st);
        } else if (n->op == &sigeo__op_token_linear) {
            sigeo_status_t st = sigeo__token_linear_r_forward(m, n, v);
            if (st != SIGEO_OK)
                return sigeo__propagate(&m->err, st);
        } else if (n->op == &sigeo__op_embedding_bag) {
            memset(n->tangent, 0, (size_t)(m->batch * n->width) * sizeof(float));
        } else {
            /* Parameterless: the forward-mode rule along theta is J_x xdot. */
            sigeo_status_t st = n->op->jvp(m, n);
            if (st != SIGEO_OK)
                return sigeo__propagate(&m->err, st);
        }
    }
    return SIGEO_OK;
}

static sigeo_status_t reverse_sweep(sigeo_model_t *m, const float *const *v, float *const *hv)
{
    for (int32_t i = 0; i < m->n_nodes; i++)
        m->nodes[i].grad_written = false;
    m->nodes[m->loss_node].grad_written = true;
    for (int32_t i = m->n_nodes - 1; i >= 0; i--) {
        sigeo__node_t *n = &m->nodes[i];
        if (!n->active || !n->op->backward || n->op == &sigeo__op_embedding_bag)
            continue;
        if (!n->grad_written) {
            /* Nothing downstream reads it: both gradients are zero. */
            memset(n->grad, 0, (size_t)(m->batch * n->width) * sizeof(float));
            n->grad_written = true;
        }
        sigeo_status_t st = SIGEO_OK;
        if (n->op == &sigeo__op_linear)
            linear_r_backward(m, n, v, hv);
        else if (n->op == &sigeo__op_conv2d)
            st = sigeo__conv_r_backward(m, n, v[n->param[0]], hv[n->param[0]], n->param[1] >= 0 ? hv[n->param[1]] : NULL);
        else if (n->op == &sigeo__op_activation)
            st = act_r_backward(m, n);
        else if (n->op == &sigeo__op_batch_norm)
            st = sigeo__batch_norm_r_backward(m, n);
        else if (n->op == &sigeo__op_layer_norm)
            st = sigeo__layer_norm_r_backward(m, n);
        else if (n->op == &sigeo__op_dot_interaction)
            st = sigeo__dot_r_backward(m, n);
        else if (n->op == &sigeo__op_attention)
            st = sigeo__attention_r_backward(m, n, v, hv);
        else if (n->op == &sigeo__op_fm)
            st = sigeo__fm_r_backward(m, n);
        else if (n->op == &sigeo__op_sigmoid_gating)
            st = sigeo__gating_r_backward(m, n, v, hv);
        else if (n->op == &sigeo__op_token_linear)
            st = sigeo__token_linear_r_backward(m, n, v, hv);
        else
            st = n->op->backward(m, n);
        if (st != SIGEO_OK)
            return sigeo__propagate(&m->err, st);
    }
    return SIGEO_OK;
}

sigeo_status_t sigeo__tape_hvp(sigeo_model_t *m, const sigeo_batch_t *batch, const float *const *v,
                               float *const *hv)
{
    if (!v || !hv)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "exact Hessian-vector product: %s is NULL", v ? "hv" : "v");
    if (m->loss_node < 0)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "exact Hessian-vector product: model '%s' has no loss", m->name);
    for (int32_t i = 0; i < m->n_nodes; i++) {
        const sigeo__node_t *n = &m->nodes[i];
        sigeo_status_t st = n->active ? check_supported(m, n, v, hv) : SIGEO_OK;
        if (st != SIGEO_OK)
            return st;
    }
    sigeo_status_t st = sigeo_model_forward_backward(NULL, m, batch);
    if (st == SIGEO_OK)
        st = sigeo__ensure_tangents(m, m->batch);
    if (st == SIGEO_OK)
        st = ensure_r_grads(m, m->batch);
    if (st != SIGEO_OK)
        return st;
    for (int32_t p = 0; p < m->n_params; p++)
        if (hv[p])
            memset(hv[p], 0, (size_t)m->params[p].numel * sizeof(float));
    if ((st = forward_sweep(m, v)) != SIGEO_OK)
        return st;
    loss_r(m);
    const bool collect = m->collect_directional;
    m->collect_directional = false;
    swap_grads(m);
    st = reverse_sweep(m, v, hv);
    swap_grads(m);
    m->collect_directional = collect;
    return st;
}
