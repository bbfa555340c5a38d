/* Linear layer y = x W^T + b with elastic widths. W is stored [units, in_max]
 * (PyTorch layout); the active layer uses rows 0..w-1 and, for each run of
 * its input's active features, the matching column block — so a subnet
 * computes exactly at its own width on a view of the shared weights. */
#include <string.h>

#include "nn/graph.h"

static sigeo_status_t linear_configure(sigeo_model_t *m, sigeo__node_t *n, const sigeo_layer_desc_t *d)
{
    static const char fn[] = "sigeo_model_add_layer";
    const sigeo__node_t *in0 = &m->nodes[d->inputs[0]];
    sigeo_status_t st = SIGEO_OK;
    if (d->n_inputs != 1)
        return SIGEO__MODEL_FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: linear '%s' takes 1 input, got %u", fn, d->name, (unsigned)d->n_inputs);
    if (d->units < 1)
        return SIGEO__MODEL_FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: linear '%s' has units %lld (need >= 1)", fn, d->name,
                    (long long)d->units);
    if (d->width_choice >= 0) {
        if ((st = sigeo__model_check_choice(m, d->width_choice, 0, "width_choice", d->name)) != SIGEO_OK)
            return st;
        const sigeo__choice_t *c = &m->choices[d->width_choice];
        if (!c->values)
            return SIGEO__MODEL_FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: linear '%s' width choice '%s' has no values (widths)", fn,
                        d->name, c->name);
        for (int32_t o = 0; o < c->n_options; o++)
            if (c->values[o] < 1 || c->values[o] > d->units)
                return SIGEO__MODEL_FAIL(m, SIGEO_ERR_SHAPE, "%s: linear '%s' width option %d is %lld, outside 1..%lld", fn,
                            d->name, (int)o, (long long)c->values[o], (long long)d->units);
    }
    n->units = n->max_width = d->units;
    n->width_choice = d->width_choice;
    n->module = m->n_modules;
    const int64_t wd[2] = { d->units, in0->max_width };
    if ((st = sigeo__model_add_param(m, n, 0, "weight", SIGEO_PARAM_WEIGHT, 2, wd)) != SIGEO_OK)
        return st;
    if (!(d->flags & SIGEO_LAYER_NO_BIAS))
        st = sigeo__model_add_param(m, n, 1, "bias", SIGEO_PARAM_BIAS, 1, wd);
    return st;
}

static sigeo_status_t linear_infer(sigeo_model_t *m, sigeo__node_t *n)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    if (in->width < 1)
        return SIGEO__MODEL_FAIL(m, SIGEO_ERR_SHAPE, "linear '%s': its input '%s' has no active features", n->name,
                                 in->name);
    n->width = sigeo__choice_value(m, n->width_choice, n->units);
    n->runs[0] = (sigeo__run_t){ 0, 0, n->width };
    n->n_runs = 1;
    return SIGEO_OK;
}

static sigeo_status_t linear_forward(sigeo_model_t *m, sigeo__node_t *n, const sigeo_batch_t *b)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    const sigeo__param_t *w = &m->params[n->param[0]];
    const float *bias = n->param[1] >= 0 ? m->params[n->param[1]].data : NULL;
    const int64_t B = b->batch_size, in_w = in->width, in_max = w->dims[1], out_w = n->width;
    for (int32_t r = 0; r < in->n_runs; r++) {
        const sigeo__run_t *run = &in->runs[r];
        sigeo__matmul_shape_t sh = {
            .m = B, .n = out_w, .k = run->len,
            .a_stride = { in_w, 1 }, .b_stride = { 1, in_max }, .c_stride = { out_w, 1 },
            .bias = r == 0 && bias != NULL, .accumulate = r > 0,
        };
        sigeo_status_t st = sigeo__matmul(&n->slots[3 * r], m->engine, &sh, in->out + run->active_offset,
                                          w->data + run->max_offset, bias, n->out);
        if (st != SIGEO_OK)
            return st;
    }
    return SIGEO_OK;
}

static sigeo_status_t linear_backward(sigeo_model_t *m, sigeo__node_t *n)
{
    sigeo__node_t *in = sigeo__input(m, n, 0);
    sigeo__param_t *w = &m->params[n->param[0]];
    const int64_t B = m->batch, in_w = in->width, in_max = w->dims[1], out_w = n->width;
    const bool want_dx = sigeo__wants_grad(m, in);
    bool accumulate = false;
    float *dx = want_dx ? sigeo__grad_target(in, &accumulate) : NULL;
    for (int32_t r = 0; r < in->n_runs; r++) {
        const sigeo__run_t *run = &in->runs[r];
        sigeo_status_t st;
        if (want_dx) {
            sigeo__matmul_shape_t dx_sh = {
                .m = B, .n = run->len, .k = out_w,
                .a_stride = { out_w, 1 }, .b_stride = { in_max, 1 }, .c_stride = { in_w, 1 },
                .accumulate = accumulate,
            };
            st = sigeo__matmul(&n->slots[3 * r + 1], m->engine, &dx_sh, n->grad, w->data + run->max_offset, NULL,
                               dx + run->active_offset);
            if (st != SIGEO_OK)
                return st;
        }
        sigeo__matmul_shape_t dw_sh = {
            .m = out_w, .n = run->len, .k = B,
            .a_stride = { 1, out_w }, .b_stride = { in_w, 1 }, .c_stride = { in_max, 1 },
        };
        st = sigeo__matmul(&n->slots[3 * r + 2], m->engine, &dw_sh, n->grad, in->out + run->active_offset, NULL,
                           w->grad + run->max_offset);
        if (st != SIGEO_OK)
            return st;
    }
    w->grad_dirty = true;
    if (n->param[1] >= 0) {
        sigeo__param_t *bp = &m->params[n->param[1]];
        float *db = bp->grad;
        for (int64_t j = 0; j < out_w; j++)
            db[j] = 0.0f;
        for (int64_t r = 0; r < B; r++) {
            const float *g = n->grad + r * out_w;
            for (int64_t j = 0; j < out_w; j++)
                db[j] += g[j];
        }
        bp->grad_dirty = true;
    }
    /* theta_L . grad l_n = delta_n . y_n: y includes the bias, so weight
     * and bias together are covered (docs/proxies.md §4.1). */
    sigeo__add_directional(m, n->out, n->grad, B, out_w);
    return SIGEO_OK;
}

/* Forward-mode pass: ydot = xdot W^T + (x W^T + b) = xdot W^T + y, the
 * parameters' own tangent (theta) reproducing the output. The first run
 * uses the spare slot past the 3 per run (accumulate onto y, no bias); the
 * others have exactly the forward's shape and reuse its slots. */
static sigeo_status_t linear_jvp(sigeo_model_t *m, sigeo__node_t *n)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    const sigeo__param_t *w = &m->params[n->param[0]];
    const int64_t B = m->batch, in_w = in->width, in_max = w->dims[1], out_w = n->width;
    memcpy(n->tangent, n->out, (size_t)(B * out_w) * sizeof(float));
    if (in->kind == SIGEO__NODE_INPUT_DENSE)
        return SIGEO_OK;
    for (int32_t r = 0; r < in->n_runs; r++) {
        const sigeo__run_t *run = &in->runs[r];
        sigeo__matmul_shape_t sh = {
            .m = B, .n = out_w, .k = run->len,
            .a_stride = { in_w, 1 }, .b_stride = { 1, in_max }, .c_stride = { out_w, 1 },
            .accumulate = true,
        };
        sigeo__prim_slot_t **slot = r == 0 ? &n->slots[n->n_slots - 1] : &n->slots[3 * r];
        sigeo_status_t st = sigeo__matmul(slot, m->engine, &sh, in->tangent + run->active_offset,
                                          w->data + run->max_offset, NULL, n->tangent);
        if (st != SIGEO_OK)
            return st;
    }
    return SIGEO_OK;
}

/* tensorwatch convention: in * out multiply-accumulates, bias not counted;
 * NB201 (xautodl) adds one per output for the bias. */
static int64_t linear_flops(const sigeo_model_t *m, const sigeo__node_t *n)
{
    const int64_t bias = m->flops_convention == SIGEO_FLOPS_NB201 && n->param[1] >= 0 ? n->width : 0;
    return m->nodes[n->inputs[0]].width * n->width + bias;
}

/* The weight's active slice: the first `width` rows x the input's runs. */
static void linear_param_slice(const sigeo_model_t *m, const sigeo__node_t *n, const sigeo__param_t *p,
                               sigeo__param_slice_t *out)
{
    (void)m;
    if (p->kind == SIGEO_PARAM_WEIGHT)
        *out = (sigeo__param_slice_t){ SIGEO__SLICE_INPUT_RUNS, n->width, 1 };
}

/* A standalone linear has the active width as its units. */
static void linear_standalone_desc(const sigeo_model_t *m, const sigeo__node_t *n, sigeo_layer_desc_t *d)
{
    (void)m;
    d->units = n->width;
}

const sigeo__op_t sigeo__op_linear = {
    .name = "linear",
    .configure = linear_configure,
    .infer = linear_infer,
    .forward = linear_forward,
    .backward = linear_backward,
    .flops = linear_flops,
    .jvp = linear_jvp,
    .param_slice = linear_param_slice,
    .standalone_desc = linear_standalone_desc,
};
