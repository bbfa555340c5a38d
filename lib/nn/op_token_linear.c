/* Token mixing (NASRec linear-3d / ElasticLinear3D): input rows are (T, E)
 * token-major, y[t', e] = sum_t W[t', t] x[t, e] + b[t']. W is [units, T]
 * (nn.Linear(T, units) layout); the active output tokens are its first
 * rows, the active input tokens the columns their runs address, so a subnet
 * computes exactly at its own width on a view of the shared weights.
 *
 * Per sample, Y_b = W X_b is a [tout, tin] x [tin, E] product. Run as a
 * batched matmul (W broadcast over B samples), oneDNN 2.6 loops over the
 * samples around tiny GEMMs (16x1 by 1x8 in nasrec-small): ~1 us each, 44 %
 * of the main job's time (bench/README.md). So every product here is ONE
 * GEMM over all samples: X, dY and the tangent are transposed into
 * token-major [tokens, B*E] scratch (O(B (tin + tout) E) copies, against
 * O(B tin tout E) flops), Y^T = W X^T and dX^T = W^T dY^T have N = B*E, dW
 * = dY^T X has K = B*E, and the results are transposed back (the bias added
 * on the way: a per-row bias also sends oneDNN's matmul to its reference
 * code). */
#include <string.h>

#include "nn/op_shape.h"

#define FAIL(m, status, ...) SIGEO__MODEL_FAIL(m, status, __VA_ARGS__)

static sigeo_status_t tl_configure(sigeo_model_t *m, sigeo__node_t *n, const sigeo_layer_desc_t *d)
{
    static const char fn[] = "sigeo_model_add_layer";
    if (d->n_inputs != 1)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: token linear '%s' takes 1 input, got %u", fn, d->name,
                    (unsigned)d->n_inputs);
    sigeo__node_t *in = &m->nodes[d->inputs[0]];
    sigeo__shape_t s = sigeo__node_shape(m, in);
    if (s.ndim != 2)
        return FAIL(m, SIGEO_ERR_SHAPE, "%s: token linear '%s': input '%s' (%lld features) has no (T, E) token shape",
                    fn, d->name, in->name, (long long)in->max_width);
    if (d->units < 1)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: token linear '%s' has units (tokens) %lld", fn, d->name,
                    (long long)d->units);
    sigeo_status_t st;
    if (d->width_choice >= 0) {
        if ((st = sigeo__model_check_choice(m, d->width_choice, 0, "width_choice", d->name)) != SIGEO_OK)
            return st;
        const sigeo__choice_t *c = &m->choices[d->width_choice];
        if (!c->values)
            return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: token linear '%s' width choice '%s' has no values (tokens)", fn,
                        d->name, c->name);
        for (int32_t o = 0; o < c->n_options; o++)
            if (c->values[o] < 1 || c->values[o] > d->units)
                return FAIL(m, SIGEO_ERR_SHAPE, "%s: token linear '%s' width option %d is %lld, outside 1..%lld", fn,
                            d->name, (int)o, (long long)c->values[o], (long long)d->units);
    }
    int64_t width;
    if (!sigeo__mul_elems(&width, d->units, s.d[1]))
        return FAIL(m, SIGEO_ERR_SHAPE, "%s: token linear '%s': %lld tokens of %lld exceed the limit of %lld features",
                    fn, d->name, (long long)d->units, (long long)s.d[1], (long long)SIGEO_MAX_ELEMENTS);
    n->units = d->units;
    n->width_choice = d->width_choice;
    n->max_width = width;
    sigeo__node_set_shape(n, 2, (const int64_t[]){ d->units, s.d[1] });
    n->module = m->n_modules;
    const int64_t wd[2] = { d->units, s.d[0] };
    if ((st = sigeo__model_add_param(m, n, 0, "weight", SIGEO_PARAM_WEIGHT, 2, wd)) != SIGEO_OK)
        return st;
    if (!(d->flags & SIGEO_LAYER_NO_BIAS))
        st = sigeo__model_add_param(m, n, 1, "bias", SIGEO_PARAM_BIAS, 1, wd);
    return st;
}

static sigeo_status_t tl_infer(sigeo_model_t *m, sigeo__node_t *n)
{
    sigeo__node_t *in = sigeo__input(m, n, 0);
    const int64_t E = n->shape[1];
    if (in->width < E || in->width % E)
        return FAIL(m, SIGEO_ERR_SHAPE, "token linear '%s': input '%s' has %lld active features, not tokens of %lld",
                    n->name, in->name, (long long)in->width, (long long)E);
    for (int32_t r = 0; r < in->n_runs; r++) {
        const sigeo__run_t *ir = &in->runs[r];
        if (ir->max_offset % E || ir->active_offset % E || ir->len % E)
            return FAIL(m, SIGEO_ERR_SHAPE, "token linear '%s': input '%s' has active features not in whole tokens of %lld",
                        n->name, in->name, (long long)E);
    }
    n->width = sigeo__choice_value(m, n->width_choice, n->units) * E;
    n->runs[0] = (sigeo__run_t){ 0, 0, n->width };
    n->n_runs = 1;
    return SIGEO_OK;
}

/* dst[t, b*ld_b + e] = src[b*ld_src + t*E + e] for t < tokens (ld_b = E per
 * batch row inside a row of length ld). */
static void to_token_major(float *dst, int64_t ld, const float *src, int64_t ld_src, int64_t B, int64_t tokens,
                           int64_t E)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < tokens; t++)
            memcpy(dst + t * ld + b * E, src + b * ld_src + t * E, (size_t)E * sizeof(float));
}

/* The row stride of the token-major copies: B*E, padded off multiples of
 * 4 KiB (those double gemm:jit time, docs/onednn-notes.md). */
static int64_t token_ld(int64_t B, int64_t E)
{
    const int64_t ld = B * E;
    return ld % 1024 == 0 ? ld + 16 : ld;
}

/* dst[b*ld_dst + t*E + e] (+)= src[t, b*E + e] (+ bias[t]) for t < tokens:
 * a token-major result back into sample-major rows; add: accumulate onto
 * dst (else overwrite), base: added too (NULL = none; same layout as dst). */
static void from_token_major(float *dst, int64_t ld_dst, const float *src, int64_t ld, int64_t B, int64_t tokens,
                             int64_t E, const float *bias, const float *base, bool add)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < tokens; t++) {
            float *y = dst + b * ld_dst + t * E;
            const float *v = src + t * ld + b * E;
            const float *z = base ? base + b * ld_dst + t * E : NULL;
            const float c = bias ? bias[t] : 0.0f;
            for (int64_t e = 0; e < E; e++)
                y[e] = (add ? y[e] : 0.0f) + (z ? z[e] : 0.0f) + v[e] + c;
        }
}

/* yt[tout, B*E] = sum over the input's runs of W[:, run] x^T[run]: the
 * forward's (and the tangent's) one GEMM per run, on the forward's slots. */
static sigeo_status_t mix_tokens(sigeo_model_t *m, sigeo__node_t *n, const float *xt, float *yt, int64_t ld,
                                 int64_t B)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    const sigeo__param_t *w = &m->params[n->param[0]];
    const int64_t E = n->shape[1], Tmax = w->dims[1], tout = n->width / E;
    for (int32_t r = 0; r < in->n_runs; r++) {
        const sigeo__run_t *run = &in->runs[r];
        sigeo__matmul_shape_t sh = {
            .m = tout, .n = B * E, .k = run->len / E,
            .a_stride = { Tmax, 1 }, .b_stride = { ld, 1 }, .c_stride = { ld, 1 },
            .accumulate = r > 0,
        };
        sigeo_status_t st = sigeo__matmul(&n->slots[3 * r], m->engine, &sh, w->data + run->max_offset / E,
                                          xt + run->active_offset / E * ld, NULL, yt);
        if (st != SIGEO_OK)
            return st;
    }
    return SIGEO_OK;
}

/* dst = W src (per sample, token-major round trip) + bias + base: the
 * forward (src = x, the bias) and the tangent (src = xdot, base = y). */
static sigeo_status_t mix_rows(sigeo_model_t *m, sigeo__node_t *n, const float *src, float *dst, int64_t B,
                               const float *bias, const float *base)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    const int64_t E = n->shape[1], in_w = in->width, out_w = n->width;
    const int64_t tout = out_w / E, tin = in_w / E, ld = token_ld(B, E);
    sigeo_status_t st = sigeo__node_scratch(m, n, (size_t)((tin + tout) * ld) * sizeof(float));
    if (st != SIGEO_OK)
        return st;
    float *xt = n->scratch, *yt = xt + tin * ld;
    to_token_major(xt, ld, src, in_w, B, tin, E);
    if ((st = mix_tokens(m, n, xt, yt, ld, B)) != SIGEO_OK)
        return st;
    from_token_major(dst, out_w, yt, ld, B, tout, E, bias, base, false);
    return SIGEO_OK;
}

static sigeo_status_t tl_forward(sigeo_model_t *m, sigeo__node_t *n, const sigeo_batch_t *b)
{
    return mix_rows(m, n, sigeo__input(m, n, 0)->out, n->out, b->batch_size,
                    n->param[1] >= 0 ? m->params[n->param[1]].data : NULL, NULL);
}

static sigeo_status_t tl_backward(sigeo_model_t *m, sigeo__node_t *n)
{
    sigeo__node_t *in = sigeo__input(m, n, 0);
    sigeo__param_t *w = &m->params[n->param[0]];
    const int64_t B = m->batch, E = n->shape[1], Tmax = w->dims[1], in_w = in->width, out_w = n->width;
    const int64_t tout = out_w / E, tin = in_w / E;
    const int64_t ld = token_ld(B, E);
    sigeo_status_t st = sigeo__node_scratch(m, n, (size_t)((2 * tin + tout) * ld) * sizeof(float));
    if (st != SIGEO_OK)
        return st;
    float *xt = n->scratch, *dyt = xt + tin * ld, *dxt = dyt + tout * ld;
    to_token_major(xt, ld, in->out, in_w, B, tin, E);
    to_token_major(dyt, ld, n->grad, out_w, B, tout, E);
    const bool want_dx = sigeo__wants_grad(m, in);
    bool acc = false;
    float *dx = want_dx ? sigeo__grad_target(in, &acc) : NULL;
    for (int32_t r = 0; r < in->n_runs; r++) {
        const sigeo__run_t *run = &in->runs[r];
        const int64_t nt = run->len / E, col = run->max_offset / E;
        if (want_dx) {
            /* dX^T[run] = W[:, run]^T dY^T, then back into the run's tokens */
            sigeo__matmul_shape_t sh = {
                .m = nt, .n = B * E, .k = tout,
                .a_stride = { 1, Tmax }, .b_stride = { ld, 1 }, .c_stride = { ld, 1 },
            };
            st = sigeo__matmul(&n->slots[3 * r + 1], m->engine, &sh, w->data + col, dyt, NULL, dxt);
            if (st != SIGEO_OK)
                return st;
            from_token_major(dx + run->active_offset, in_w, dxt, ld, B, nt, E, NULL, NULL, acc);
        }
        sigeo__matmul_shape_t dw = {
            .m = tout, .n = nt, .k = B * E,
            .a_stride = { ld, 1 }, .b_stride = { 1, ld }, .c_stride = { Tmax, 1 },
        };
        st = sigeo__matmul(&n->slots[3 * r + 2], m->engine, &dw, dyt, xt + run->active_offset / E * ld, NULL,
                           w->grad + col);
        if (st != SIGEO_OK)
            return st;
    }
    w->grad_dirty = true;
    if (n->param[1] >= 0) {
        sigeo__param_t *bp = &m->params[n->param[1]];
        for (int64_t t = 0; t < tout; t++) {
            double s = 0.0;
            const float *g = dyt + t * ld;
            for (int64_t k = 0; k < B * E; k++)
                s += g[k];
            bp->grad[t] = (float)s;
        }
        bp->grad_dirty = true;
    }
    /* y = W x + b per sample, linear in (W, b): exact per-sample term. */
    sigeo__add_directional(m, n->out, n->grad, B, out_w);
    return SIGEO_OK;
}

/* Forward-mode pass: per sample Ydot = W Xdot + (W X + b) = W Xdot + Y:
 * the forward's GEMMs (and slots) on the transposed tangent, Y added on the
 * way back. */
static sigeo_status_t tl_jvp(sigeo_model_t *m, sigeo__node_t *n)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    if (in->kind == SIGEO__NODE_INPUT_DENSE) {
        memcpy(n->tangent, n->out, (size_t)(m->batch * n->width) * sizeof(float));
        return SIGEO_OK;
    }
    return mix_rows(m, n, in->tangent, n->tangent, m->batch, NULL, n->out);
}

/* ------------------------------------------------ Hessian-vector rules
 * (hvp.c; directions v and products hv on W and b, each possibly NULL).
 * Per sample Y = W X + b is bilinear in (W, X), so
 *   Ydot = W Xdot + V X + v_b
 * and, on the reverse sweep (grads swapped: n->grad = R{dY}, n->r_grad = dY),
 *   R{dX} = W^T R{dY} + V^T dY,
 *   R{dW} = sum_b R{dY} X^T + dY Xdot^T,   R{db} = sum_{b,e} R{dY},
 * the cross terms being the whole second derivative. Plain loops over the
 * active tokens (token counts are small; a GraSP pass, not a training
 * step), double accumulation, e innermost. */
sigeo_status_t sigeo__token_linear_r_forward(sigeo_model_t *m, sigeo__node_t *n, const float *const *v)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    const sigeo__param_t *w = &m->params[n->param[0]];
    const float *vw = v[n->param[0]], *vb = n->param[1] >= 0 ? v[n->param[1]] : NULL;
    const int64_t B = m->batch, E = n->shape[1], Tmax = w->dims[1], in_w = in->width, out_w = n->width;
    const int64_t tout = out_w / E;
    for (int64_t b = 0; b < B; b++)
        for (int64_t o = 0; o < tout; o++) {
            float *y = n->tangent + b * out_w + o * E;
            for (int64_t e = 0; e < E; e++)
                y[e] = vb ? vb[o] : 0.0f;
            for (int32_t r = 0; r < in->n_runs; r++) {
                const sigeo__run_t *run = &in->runs[r];
                const int64_t nt = run->len / E, col = run->max_offset / E;
                const float *x = in->out + b * in_w + run->active_offset;
                const float *xd = in->tangent + b * in_w + run->active_offset;
                for (int64_t t = 0; t < nt; t++) {
                    const float a = w->data[o * Tmax + col + t], c = vw ? vw[o * Tmax + col + t] : 0.0f;
                    for (int64_t e = 0; e < E; e++)
                        y[e] += a * xd[t * E + e] + c * x[t * E + e];
                }
            }
        }
    return SIGEO_OK;
}

sigeo_status_t sigeo__token_linear_r_backward(sigeo_model_t *m, sigeo__node_t *n, const float *const *v,
                                              float *const *hv)
{
    sigeo__node_t *in = sigeo__input(m, n, 0);
    const sigeo__param_t *w = &m->params[n->param[0]];
    const float *vw = v[n->param[0]];
    float *hw = hv[n->param[0]], *hb = n->param[1] >= 0 ? hv[n->param[1]] : NULL;
    const int64_t B = m->batch, E = n->shape[1], Tmax = w->dims[1], in_w = in->width, out_w = n->width;
    const int64_t tout = out_w / E;
    const float *rg = n->grad, *g = n->r_grad;
    if (sigeo__wants_grad(m, in)) {
        bool acc;
        float *dx = sigeo__grad_target(in, &acc);
        if (!acc)
            memset(dx, 0, (size_t)(B * in_w) * sizeof(float));
        for (int64_t b = 0; b < B; b++)
            for (int64_t o = 0; o < tout; o++) {
                const float *r1 = rg + b * out_w + o * E, *g1 = g + b * out_w + o * E;
                for (int32_t r = 0; r < in->n_runs; r++) {
                    const sigeo__run_t *run = &in->runs[r];
                    const int64_t nt = run->len / E, col = run->max_offset / E;
                    float *d = dx + b * in_w + run->active_offset;
                    for (int64_t t = 0; t < nt; t++) {
                        const float a = w->data[o * Tmax + col + t], c = vw ? vw[o * Tmax + col + t] : 0.0f;
                        for (int64_t e = 0; e < E; e++)
                            d[t * E + e] += a * r1[e] + c * g1[e];
                    }
                }
            }
    }
    if (hw)
        for (int64_t o = 0; o < tout; o++)
            for (int32_t r = 0; r < in->n_runs; r++) {
                const sigeo__run_t *run = &in->runs[r];
                const int64_t nt = run->len / E, col = run->max_offset / E;
                for (int64_t t = 0; t < nt; t++) {
                    double sum = 0.0;
                    for (int64_t b = 0; b < B; b++) {
                        const float *r1 = rg + b * out_w + o * E, *g1 = g + b * out_w + o * E;
                        const float *x = in->out + b * in_w + run->active_offset + t * E;
                        const float *xd = in->tangent + b * in_w + run->active_offset + t * E;
                        for (int64_t e = 0; e < E; e++)
                            sum += (double)r1[e] * x[e] + (double)g1[e] * xd[e];
                    }
                    hw[o * Tmax + col + t] += (float)sum;
                }
            }
    if (hb)
        for (int64_t o = 0; o < tout; o++) {
            double sum = 0.0;
            for (int64_t b = 0; b < B; b++)
                for (int64_t e = 0; e < E; e++)
                    sum += (double)rg[b * out_w + o * E + e];
            hb[o] += (float)sum;
        }
    return SIGEO_OK;
}

static int64_t tl_active_numel(const sigeo_model_t *m, const sigeo__node_t *n, const sigeo__param_t *p)
{
    const int64_t E = n->shape[1], tout = n->width / E;
    if (p->kind == SIGEO_PARAM_BIAS)
        return tout;
    return tout * (m->nodes[n->inputs[0]].width / E);
}

static int64_t tl_flops(const sigeo_model_t *m, const sigeo__node_t *n)
{
    const int64_t E = n->shape[1];
    return sigeo__sat_mul_i64(n->width / E, m->nodes[n->inputs[0]].width);
}

/* The weight [units, T] mixes whole tokens of E features: its active slice
 * is the first active output tokens x the input's runs, E features per
 * column. */
static void tl_param_slice(const sigeo_model_t *m, const sigeo__node_t *n, const sigeo__param_t *p,
                           sigeo__param_slice_t *out)
{
    (void)m;
    const int64_t E = n->shape[1];
    if (p->kind == SIGEO_PARAM_WEIGHT)
        *out = (sigeo__param_slice_t){ SIGEO__SLICE_INPUT_RUNS, n->width / E, E };
}

/* A standalone token linear has the active output tokens as its units. */
static void tl_standalone_desc(const sigeo_model_t *m, const sigeo__node_t *n, sigeo_layer_desc_t *d)
{
    (void)m;
    d->units = n->width / n->shape[1];
}

const sigeo__op_t sigeo__op_token_linear = {
    .name = "token linear", .configure = tl_configure, .infer = tl_infer, .forward = tl_forward,
    .backward = tl_backward, .flops = tl_flops, .active_numel = tl_active_numel, .jvp = tl_jvp,
    .param_slice = tl_param_slice, .standalone_desc = tl_standalone_desc,
};
