/* Elementwise activations through oneDNN eltwise (a plain C loop at -O2 is
 * scalar and far slower, docs/onednn-notes.md), except ReLU's backward and
 * forward-mode rules: a gradient that accumulates (a node feeding several
 * ReLUs, as every cell node does) would take the eltwise into scratch and a
 * second pass to add it, where one vectorised C pass (SIGEO__ISA_CLONES)
 * reads x and the gradient and updates dx in place. */
#include <string.h>

#include "nn/graph.h"

/* out = (acc ? out : 0) + g * [x > 0] over [lo, hi). g * 0 rather than 0
 * keeps a NaN gradient NaN, as oneDNN's alpha * diff_dst does. */
SIGEO__ISA_CLONES static void relu_backward_span(int64_t lo, int64_t hi, const float *restrict x,
                                                 const float *restrict g, float *restrict out, bool acc)
{
    if (acc) {
#pragma omp simd
        for (int64_t i = lo; i < hi; i++)
            out[i] += g[i] * (x[i] > 0.0f ? 1.0f : 0.0f);
    } else {
#pragma omp simd
        for (int64_t i = lo; i < hi; i++)
            out[i] = g[i] * (x[i] > 0.0f ? 1.0f : 0.0f);
    }
}

/* On the call's team: the context's policy for a memory-bound pass over
 * three arrays, counted as backend.c counts an eltwise. Each thread takes
 * one contiguous span (its bounds a multiple of 16 floats). */
static void relu_backward_c(const sigeo_model_t *m, int64_t count, const float *x, const float *g, float *out,
                            bool acc)
{
    const int team = sigeo__context_team(m->ctx, 16.0 * 3.0 * (double)count);
    if (team <= 1) {
        relu_backward_span(0, count, x, g, out, acc);
        return;
    }
    const int64_t per = ((count + team - 1) / team + 15) / 16 * 16;
#pragma omp parallel for schedule(static, 1) num_threads(team)
    for (int t = 0; t < team; t++) {
        const int64_t lo = (int64_t)t * per, hi = lo + per < count ? lo + per : count;
        if (lo < hi)
            relu_backward_span(lo, hi, x, g, out, acc);
    }
}

static sigeo_status_t act_configure(sigeo_model_t *m, sigeo__node_t *n, const sigeo_layer_desc_t *d)
{
    static const char fn[] = "sigeo_model_add_layer";
    const sigeo__node_t *in0 = &m->nodes[d->inputs[0]];
    if (d->n_inputs != 1)
        return SIGEO__MODEL_FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: activation '%s' takes 1 input", fn, d->name);
    if (d->activation < SIGEO_ACT_IDENTITY || d->activation > SIGEO_ACT_GELU)
        return SIGEO__MODEL_FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: activation '%s' has unknown function %d", fn, d->name,
                    (int)d->activation);
    n->activation = d->activation;
    n->max_width = in0->max_width;
    n->max_runs = in0->max_runs;
    return SIGEO_OK;
}

static sigeo__eltwise_alg_t alg_of(int32_t act)
{
    switch (act) {
    case SIGEO_ACT_SIGMOID: return SIGEO__ELT_SIGMOID;
    case SIGEO_ACT_TANH: return SIGEO__ELT_TANH;
    case SIGEO_ACT_GELU: return SIGEO__ELT_GELU_ERF;
    default: return SIGEO__ELT_RELU;
    }
}

static sigeo_status_t act_infer(sigeo_model_t *m, sigeo__node_t *n)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    n->width = in->width;
    n->n_runs = in->n_runs;
    memcpy(n->runs, in->runs, (size_t)in->n_runs * sizeof *in->runs);
    return SIGEO_OK;
}

static sigeo_status_t act_forward(sigeo_model_t *m, sigeo__node_t *n, const sigeo_batch_t *b)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    const int64_t count = b->batch_size * n->width;
    if (n->activation == SIGEO_ACT_IDENTITY) {
        memcpy(n->out, in->out, (size_t)count * sizeof(float));
        return SIGEO_OK;
    }
    return sigeo__eltwise_forward(&n->slots[0], m->engine, alg_of(n->activation), count, in->out, n->out);
}

static sigeo_status_t act_backward(sigeo_model_t *m, sigeo__node_t *n)
{
    sigeo__node_t *in = sigeo__input(m, n, 0);
    if (!sigeo__wants_grad(m, in))
        return SIGEO_OK;
    const int64_t count = m->batch * n->width;
    bool accumulate;
    float *dx = sigeo__grad_target(in, &accumulate);
    if (n->activation == SIGEO_ACT_RELU) {
        relu_backward_c(m, count, in->out, n->grad, dx, accumulate);
        return SIGEO_OK;
    }
    float *target = dx;
    if (accumulate) {
        sigeo_status_t st = sigeo__node_scratch(m, n, (size_t)count * sizeof(float));
        if (st != SIGEO_OK)
            return st;
        target = n->scratch;
    }
    if (n->activation == SIGEO_ACT_IDENTITY) {
        memcpy(target, n->grad, (size_t)count * sizeof(float));
    } else {
        sigeo_status_t st =
            sigeo__eltwise_backward(&n->slots[1], m->engine, alg_of(n->activation), count, in->out, n->grad, target);
        if (st != SIGEO_OK)
            return st;
    }
    if (accumulate) {
        const float *t = target;
        for (int64_t i = 0; i < count; i++)
            dx[i] += t[i];
    }
    return SIGEO_OK;
}

/* Forward-mode pass: ydot = f'(x) xdot, which is the backward with xdot in
 * place of the output gradient (ReLU: the C pass; the others: the eltwise
 * backward in its slot, same shape). */
static sigeo_status_t act_jvp(sigeo_model_t *m, sigeo__node_t *n)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    const int64_t count = m->batch * n->width;
    if (n->activation == SIGEO_ACT_IDENTITY) {
        memcpy(n->tangent, in->tangent, (size_t)count * sizeof(float));
        return SIGEO_OK;
    }
    if (n->activation == SIGEO_ACT_RELU) {
        relu_backward_c(m, count, in->out, in->tangent, n->tangent, false);
        return SIGEO_OK;
    }
    return sigeo__eltwise_backward(&n->slots[1], m->engine, alg_of(n->activation), count, in->out, in->tangent,
                                   n->tangent);
}

/* tensorwatch counts the ReLU family as numel(input); other activations 0;
 * NB201 (xautodl) counts no activation. */
static int64_t act_flops(const sigeo_model_t *m, const sigeo__node_t *n)
{
    return n->activation == SIGEO_ACT_RELU && m->flops_convention != SIGEO_FLOPS_NB201 ? n->width : 0;
}

const sigeo__op_t sigeo__op_activation = {
    .name = "activation",
    .configure = act_configure,
    .infer = act_infer,
    .forward = act_forward,
    .backward = act_backward,
    .flops = act_flops,
    .jvp = act_jvp,
};
