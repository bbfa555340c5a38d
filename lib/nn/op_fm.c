/* NASRec's factorisation machine over tokens: for (T, E) rows,
 * out[e] = (sum_t x[t, e])^2 - sum_t x[t, e]^2, the pairwise products
 * counted twice (NASRec drops FM's usual 1/2). No parameters. */
#include <string.h>

#include "nn/op_shape.h"

#define FAIL(m, status, ...) SIGEO__MODEL_FAIL(m, status, __VA_ARGS__)

static sigeo_status_t fm_configure(sigeo_model_t *m, sigeo__node_t *n, const sigeo_layer_desc_t *d)
{
    static const char fn[] = "sigeo_model_add_layer";
    if (d->n_inputs != 1)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: fm '%s' takes 1 input, got %u", fn, d->name, (unsigned)d->n_inputs);
    sigeo__node_t *in = &m->nodes[d->inputs[0]];
    sigeo__shape_t s = sigeo__node_shape(m, in);
    if (s.ndim != 2)
        return FAIL(m, SIGEO_ERR_SHAPE, "%s: fm '%s': input '%s' (%lld features) has no (T, E) token shape", fn,
                    d->name, in->name, (long long)in->max_width);
    n->units = n->max_width = s.d[1];
    sigeo__node_set_shape(n, 0, s.d);
    return SIGEO_OK;
}

static sigeo_status_t fm_infer(sigeo_model_t *m, sigeo__node_t *n)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    if (in->width < n->units || in->width % n->units)
        return FAIL(m, SIGEO_ERR_SHAPE, "fm '%s': input '%s' has %lld active features, not tokens of %lld", n->name,
                    in->name, (long long)in->width, (long long)n->units);
    n->width = n->units;
    n->runs[0] = (sigeo__run_t){ 0, 0, n->width };
    n->n_runs = 1;
    return SIGEO_OK;
}

/* Token sums of row r into s[E] (double). */
static void token_sums(double *s, const float *x, int64_t T, int64_t E)
{
    for (int64_t e = 0; e < E; e++)
        s[e] = 0.0;
    for (int64_t t = 0; t < T; t++)
        for (int64_t e = 0; e < E; e++)
            s[e] += x[t * E + e];
}

static sigeo_status_t fm_forward(sigeo_model_t *m, sigeo__node_t *n, const sigeo_batch_t *b)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    const int64_t E = n->width, T = in->width / E;
    sigeo_status_t st = sigeo__node_scratch(m, n, (size_t)E * sizeof(double));
    if (st != SIGEO_OK)
        return st;
    double *s = n->scratch;
    for (int64_t r = 0; r < b->batch_size; r++) {
        const float *x = in->out + r * in->width;
        token_sums(s, x, T, E);
        for (int64_t e = 0; e < E; e++) {
            double sq = 0.0;
            for (int64_t t = 0; t < T; t++)
                sq += (double)x[t * E + e] * x[t * E + e];
            n->out[r * E + e] = (float)(s[e] * s[e] - sq);
        }
    }
    return SIGEO_OK;
}

static sigeo_status_t fm_backward(sigeo_model_t *m, sigeo__node_t *n)
{
    sigeo__node_t *in = sigeo__input(m, n, 0);
    if (!sigeo__wants_grad(m, in))
        return SIGEO_OK;
    const int64_t E = n->width, T = in->width / E;
    double *s = n->scratch; /* sized by the forward */
    bool acc;
    float *dx = sigeo__grad_target(in, &acc);
    for (int64_t r = 0; r < m->batch; r++) {
        const float *x = in->out + r * in->width, *g = n->grad + r * E;
        float *o = dx + r * in->width;
        token_sums(s, x, T, E);
        /* d/dx[t,e] = 2 (sum_t' x[t', e] - x[t, e]) */
        for (int64_t t = 0; t < T; t++)
            for (int64_t e = 0; e < E; e++) {
                const float v = (float)(2.0 * g[e] * (s[e] - x[t * E + e]));
                o[t * E + e] = acc ? o[t * E + e] + v : v;
            }
    }
    return SIGEO_OK;
}

/* Forward-mode pass: out[e] = s_e^2 - sum_t x_te^2 with s_e = sum_t x_te, so
 * outdot[e] = 2 s_e sdot_e - 2 sum_t x_te xdot_te. No parameters. */
static sigeo_status_t fm_jvp(sigeo_model_t *m, sigeo__node_t *n)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    const int64_t E = n->width, T = in->width / E;
    for (int64_t r = 0; r < m->batch; r++) {
        const float *x = in->out + r * in->width, *xd = in->tangent + r * in->width;
        for (int64_t e = 0; e < E; e++) {
            double s = 0.0, sd = 0.0, q = 0.0;
            for (int64_t t = 0; t < T; t++) {
                s += x[t * E + e];
                sd += xd[t * E + e];
                q += (double)x[t * E + e] * xd[t * E + e];
            }
            n->tangent[r * E + e] = (float)(2.0 * (s * sd - q));
        }
    }
    return SIGEO_OK;
}

/* Hessian-vector pass (hvp.c swaps the grads: n->grad = R{g}, n->r_grad =
 * g). FM is quadratic in x, so its second derivative is the constant
 * d2 out[e] / dx[t,e] dx[t',e] = 2 (1 - [t = t']):
 *   R{dx[t,e]} = 2 R{g_e} (s_e - x_te) + 2 g_e (sdot_e - xdot_te),
 * the first term the op's own backward on R{g}. The forward rule is fm_jvp
 * (no parameters). */
sigeo_status_t sigeo__fm_r_backward(sigeo_model_t *m, sigeo__node_t *n)
{
    sigeo__node_t *in = sigeo__input(m, n, 0);
    sigeo_status_t st = fm_backward(m, n);
    if (st != SIGEO_OK || !sigeo__wants_grad(m, in))
        return st;
    const int64_t E = n->width, T = in->width / E;
    double *sd = n->scratch; /* sized by the forward; fm_backward is done with it */
    for (int64_t r = 0; r < m->batch; r++) {
        const float *xd = in->tangent + r * in->width, *g = n->r_grad + r * E;
        float *o = in->grad + r * in->width;
        token_sums(sd, xd, T, E);
        for (int64_t t = 0; t < T; t++)
            for (int64_t e = 0; e < E; e++)
                o[t * E + e] += (float)(2.0 * g[e] * (sd[e] - xd[t * E + e]));
    }
    return SIGEO_OK;
}

static int64_t fm_flops(const sigeo_model_t *m, const sigeo__node_t *n)
{
    return m->nodes[n->inputs[0]].width;
}

const sigeo__op_t sigeo__op_fm = {
    .name = "fm", .configure = fm_configure, .infer = fm_infer, .forward = fm_forward,
    .backward = fm_backward, .flops = fm_flops, .jvp = fm_jvp,
};
