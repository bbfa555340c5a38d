/* 2-D convolution (nn.Conv2d, dilation 1, groups 1) on NCHW rows through
 * oneDNN's convolution forward / backward-data / backward-weights
 * primitives. The input channels are fixed (no elastic slice): a conv reads
 * its input's full (C, H, W). */
#include <math.h>
#include <string.h>

#include "nn/op_shape.h"

#define FAIL(m, status, ...) SIGEO__MODEL_FAIL(m, status, __VA_ARGS__)

enum { SLOT_FWD, SLOT_BWD_DATA, SLOT_BWD_WEIGHTS, SLOT_JVP }; /* finalize gives at least 5 */

static sigeo_status_t conv_configure(sigeo_model_t *m, sigeo__node_t *n, const sigeo_layer_desc_t *d)
{
    static const char fn[] = "sigeo_model_add_layer";
    if (d->n_inputs != 1)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: conv2d '%s' takes 1 input, got %u", fn, d->name,
                    (unsigned)d->n_inputs);
    sigeo__node_t *in = &m->nodes[d->inputs[0]];
    sigeo__shape_t s = sigeo__node_shape(m, in);
    if (s.ndim != 3)
        return FAIL(m, SIGEO_ERR_SHAPE, "%s: conv2d '%s': input '%s' (%lld features) has no (C, H, W) shape", fn,
                    d->name, in->name, (long long)in->max_width);
    if (d->units < 1)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: conv2d '%s' has units (out channels) %lld", fn, d->name,
                    (long long)d->units);
    int64_t out[2];
    for (int i = 0; i < 2; i++) {
        n->kernel[i] = d->kernel[i];
        n->stride[i] = d->stride[i] ? d->stride[i] : 1;
        n->padding[i] = d->padding[i];
        if (n->kernel[i] < 1 || n->stride[i] < 1 || n->padding[i] < 0)
            return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: conv2d '%s' kernel %lldx%lld stride %lldx%lld padding %lldx%lld", fn,
                        d->name, (long long)d->kernel[0], (long long)d->kernel[1], (long long)d->stride[0],
                        (long long)d->stride[1], (long long)d->padding[0], (long long)d->padding[1]);
        int64_t pad2, span;
        if (!sigeo__mul_elems(&pad2, 2, n->padding[i]) || !sigeo__add_elems(&span, s.d[1 + i], pad2))
            return FAIL(m, SIGEO_ERR_SHAPE, "%s: conv2d '%s': padding %lld makes the input %s over the limit of %lld",
                        fn, d->name, (long long)n->padding[i], i ? "width" : "height", (long long)SIGEO_MAX_ELEMENTS);
        if (span < n->kernel[i])
            return FAIL(m, SIGEO_ERR_SHAPE, "%s: conv2d '%s': kernel %lld exceeds the padded input %s %lld of '%s'", fn,
                        d->name, (long long)n->kernel[i], i ? "width" : "height", (long long)span, in->name);
        out[i] = (span - n->kernel[i]) / n->stride[i] + 1;
    }
    int64_t plane, width;
    if (!sigeo__mul_elems(&plane, out[0], out[1]) || !sigeo__mul_elems(&width, d->units, plane))
        return FAIL(m, SIGEO_ERR_SHAPE, "%s: conv2d '%s': %lld channels of %lldx%lld exceed the limit of %lld features",
                    fn, d->name, (long long)d->units, (long long)out[0], (long long)out[1],
                    (long long)SIGEO_MAX_ELEMENTS);
    n->units = d->units;
    n->max_width = width;
    sigeo__node_set_shape(n, 3, (const int64_t[]){ d->units, out[0], out[1] });
    n->module = m->n_modules;
    const int64_t wd[4] = { d->units, s.d[0], n->kernel[0], n->kernel[1] };
    sigeo_status_t st = sigeo__model_add_param(m, n, 0, "weight", SIGEO_PARAM_WEIGHT, 4, wd);
    if (st == SIGEO_OK && !(d->flags & SIGEO_LAYER_NO_BIAS))
        st = sigeo__model_add_param(m, n, 1, "bias", SIGEO_PARAM_BIAS, 1, wd);
    return st;
}

static sigeo__conv_shape_t conv_shape(sigeo_model_t *m, sigeo__node_t *n, int64_t batch)
{
    const sigeo__shape_t in = sigeo__node_shape(m, sigeo__input(m, n, 0));
    return (sigeo__conv_shape_t){
        .batch = batch, .in_c = in.d[0], .in_h = in.d[1], .in_w = in.d[2],
        .out_c = n->shape[0], .out_h = n->shape[1], .out_w = n->shape[2],
        .kernel = { n->kernel[0], n->kernel[1] }, .stride = { n->stride[0], n->stride[1] },
        .padding = { n->padding[0], n->padding[1] }, .bias = n->param[1] >= 0,
    };
}

static sigeo_status_t conv_infer(sigeo_model_t *m, sigeo__node_t *n)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    if (in->width != in->max_width)
        return FAIL(m, SIGEO_ERR_SHAPE,
                    "conv2d '%s': input '%s' has %lld active features, the conv reads all %lld (no elastic input "
                    "channels)",
                    n->name, in->name, (long long)in->width, (long long)in->max_width);
    n->width = n->max_width;
    n->runs[0] = (sigeo__run_t){ 0, 0, n->width };
    n->n_runs = 1;
    return SIGEO_OK;
}

static sigeo_status_t conv_forward(sigeo_model_t *m, sigeo__node_t *n, const sigeo_batch_t *b)
{
    const sigeo__conv_shape_t sh = conv_shape(m, n, b->batch_size);
    const float *bias = n->param[1] >= 0 ? m->params[n->param[1]].data : NULL;
    return sigeo__conv_forward(&n->slots[SLOT_FWD], m->engine, &sh, sigeo__input(m, n, 0)->out,
                               m->params[n->param[0]].data, bias, n->out);
}

static sigeo_status_t conv_backward(sigeo_model_t *m, sigeo__node_t *n)
{
    sigeo__node_t *in = sigeo__input(m, n, 0);
    const sigeo__conv_shape_t sh = conv_shape(m, n, m->batch);
    sigeo__param_t *w = &m->params[n->param[0]];
    sigeo__param_t *bp = n->param[1] >= 0 ? &m->params[n->param[1]] : NULL;
    /* The forward converted in->out for this batch, and the weights pass
     * converts n->grad for the data pass: both unchanged since. */
    sigeo_status_t st = sigeo__conv_backward_weights(&n->slots[SLOT_BWD_WEIGHTS], m->engine, &sh, in->out, n->grad,
                                                     w->grad, bp ? bp->grad : NULL, n->slots[SLOT_FWD]);
    if (st != SIGEO_OK)
        return st;
    w->grad_dirty = true;
    if (bp)
        bp->grad_dirty = true;
    if (sigeo__wants_grad(m, in)) {
        bool acc;
        float *dx = sigeo__grad_target(in, &acc);
        st = sigeo__conv_backward_data(&n->slots[SLOT_BWD_DATA], m->engine, &sh, n->grad, w->data, dx, acc,
                                       n->slots[SLOT_BWD_WEIGHTS]);
        if (st != SIGEO_OK)
            return st;
    }
    /* y = conv(x; W) + b is linear in (W, b): theta_L . grad l_n = delta_n . y_n,
     * the dot running over channels and positions (docs/proxies.md §4.1). */
    sigeo__add_directional(m, n->out, n->grad, m->batch, n->width);
    return SIGEO_OK;
}

/* Forward-mode pass: ydot = conv(xdot; W) + (conv(x; W) + b) = conv(xdot; W)
 * + y, linear in (W, b). The convolution of the tangent runs without bias
 * in its own slot, so the forward's primitive stays as it is. Where only
 * batch norms read the conv (tangent_lacks_out, jvp.c) the y part is left
 * to them. */
static sigeo_status_t conv_jvp(sigeo_model_t *m, sigeo__node_t *n)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    const int64_t count = m->batch * n->width;
    if (in->kind == SIGEO__NODE_INPUT_DENSE) {
        if (n->tangent_lacks_out)
            memset(n->tangent, 0, (size_t)count * sizeof(float));
        else
            memcpy(n->tangent, n->out, (size_t)count * sizeof(float));
        return SIGEO_OK;
    }
    sigeo__conv_shape_t sh = conv_shape(m, n, m->batch);
    sh.bias = false;
    sigeo_status_t st = sigeo__conv_forward(&n->slots[SLOT_JVP], m->engine, &sh, in->tangent,
                                            m->params[n->param[0]].data, NULL, n->tangent);
    if (st != SIGEO_OK || n->tangent_lacks_out)
        return st;
    for (int64_t i = 0; i < count; i++)
        n->tangent[i] += n->out[i];
    return SIGEO_OK;
}

/* Hessian-vector pass (hvp.c), linear in (x, W, b) jointly bilinear:
 *   R{y} = conv(R{x}; W) + conv(x; V) + v_b,
 * with v_w / v_b the direction (NULL = 0). The two convolutions run without
 * bias in the forward-mode slot; jvp_scratch holds the second. */
sigeo_status_t sigeo__conv_r_forward(sigeo_model_t *m, sigeo__node_t *n, const float *vw, const float *vb)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    const int64_t count = m->batch * n->width, per_c = n->width / n->units;
    sigeo__conv_shape_t sh = conv_shape(m, n, m->batch);
    sh.bias = false;
    sigeo_status_t st = sigeo__conv_forward(&n->slots[SLOT_JVP], m->engine, &sh, in->tangent,
                                            m->params[n->param[0]].data, NULL, n->tangent);
    if (st == SIGEO_OK && vw && (st = sigeo__node_jvp_scratch(m, n, (size_t)count * sizeof(float))) == SIGEO_OK)
        st = sigeo__conv_forward(&n->slots[SLOT_JVP], m->engine, &sh, in->out, vw, NULL, n->jvp_scratch);
    if (st != SIGEO_OK)
        return st;
    const float *xv = n->jvp_scratch;
    for (int64_t i = 0; i < count; i++) {
        const int64_t c = (i % n->width) / per_c;
        n->tangent[i] += (vw ? xv[i] : 0.0f) + (vb ? vb[c] : 0.0f);
    }
    return SIGEO_OK;
}

/* Reverse sweep (hvp.c swaps the grads: n->grad = R{g}, n->r_grad = g):
 *   R{dx} = conv^T(R{g}; W) + conv^T(g; V),
 *   R{dW} = corr(x, R{g}) + corr(R{x}, g),   R{db} = sum R{g},
 * into the input's grad (accumulating like the backward) and hw / hb (NULL
 * = not wanted). Scratch: node scratch for the second terms. */
sigeo_status_t sigeo__conv_r_backward(sigeo_model_t *m, sigeo__node_t *n, const float *vw, float *hw, float *hb)
{
    sigeo__node_t *in = sigeo__input(m, n, 0);
    const sigeo__conv_shape_t sh = conv_shape(m, n, m->batch);
    const sigeo__param_t *w = &m->params[n->param[0]];
    const int64_t in_count = m->batch * in->width, wn = w->numel, bn = n->param[1] >= 0 ? n->units : 0;
    const int64_t need = (in_count > wn + bn ? in_count : wn + bn) * 2;
    sigeo_status_t st = sigeo__node_scratch(m, n, (size_t)need * sizeof(float));
    if (st != SIGEO_OK)
        return st;
    float *t1 = n->scratch, *t2 = t1 + need / 2;
    if (hw || hb) {
        float *bias1 = sh.bias ? t1 + wn : NULL, *bias2 = sh.bias ? t2 + wn : NULL;
        if ((st = sigeo__conv_backward_weights(&n->slots[SLOT_BWD_WEIGHTS], m->engine, &sh, in->out, n->grad, t1,
                                               bias1, NULL)) != SIGEO_OK ||
            (st = sigeo__conv_backward_weights(&n->slots[SLOT_BWD_WEIGHTS], m->engine, &sh, in->tangent, n->r_grad,
                                               t2, bias2, NULL)) != SIGEO_OK)
            return st;
        for (int64_t i = 0; hw && i < wn; i++)
            hw[i] = t1[i] + t2[i];
        for (int64_t c = 0; hb && c < bn; c++)
            hb[c] = t1[wn + c];
    }
    if (in->kind == SIGEO__NODE_INPUT_DENSE)
        return SIGEO_OK;
    if ((st = sigeo__conv_backward_data(&n->slots[SLOT_BWD_DATA], m->engine, &sh, n->grad, w->data, t1, false,
                                        NULL)) != SIGEO_OK)
        return st;
    if (vw && (st = sigeo__conv_backward_data(&n->slots[SLOT_BWD_DATA], m->engine, &sh, n->r_grad, vw, t2, false,
                                              NULL)) != SIGEO_OK)
        return st;
    bool acc;
    float *dx = sigeo__grad_target(in, &acc);
    for (int64_t i = 0; i < in_count; i++)
        dx[i] = (acc ? dx[i] : 0.0f) + t1[i] + (vw ? t2[i] : 0.0f);
    return SIGEO_OK;
}

/* nn.Conv2d.reset_parameters: kaiming_uniform(a=sqrt 5) gives the bound
 * 1/sqrt(fan_in), fan_in = C kh kw, and the bias uses the same bound. */
static void conv_init(sigeo_model_t *m, const sigeo__node_t *n, sigeo__param_t *p)
{
    const sigeo__param_t *w = &m->params[n->param[0]];
    sigeo__init_uniform(m, p, 1.0 / sqrt((double)(w->dims[1] * w->dims[2] * w->dims[3])));
}

static int64_t conv_active_numel(const sigeo_model_t *m, const sigeo__node_t *n, const sigeo__param_t *p)
{
    (void)m;
    (void)n;
    return p->numel;
}

static int64_t conv_flops(const sigeo_model_t *m, const sigeo__node_t *n)
{
    return sigeo__sat_mul_i64(n->width, m->params[n->param[0]].numel / n->units);
}

const sigeo__op_t sigeo__op_conv2d = {
    .name = "conv2d", .configure = conv_configure, .infer = conv_infer, .forward = conv_forward,
    .backward = conv_backward, .flops = conv_flops, .init_param = conv_init, .active_numel = conv_active_numel,
    .jvp = conv_jvp,
};
