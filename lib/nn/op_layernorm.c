/* Layer norm over the active features of each row (eps 1e-5, biased
 * variance, as nn.LayerNorm), with gamma/beta indexed through the input's
 * runs so an elastic slice uses the same affine entries as the supernet. */
#include <math.h>
#include <string.h>

#include "nn/graph.h"

#define LN_EPS 1e-5

static sigeo_status_t ln_configure(sigeo_model_t *m, sigeo__node_t *n, const sigeo_layer_desc_t *d)
{
    static const char fn[] = "sigeo_model_add_layer";
    const sigeo__node_t *in0 = &m->nodes[d->inputs[0]];
    sigeo_status_t st = SIGEO_OK;
    if (d->n_inputs != 1)
        return SIGEO__MODEL_FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: layer norm '%s' takes 1 input", fn, d->name);
    int64_t units = d->units ? d->units : in0->max_width;
    if (units != in0->max_width)
        return SIGEO__MODEL_FAIL(m, SIGEO_ERR_SHAPE, "%s: layer norm '%s' has %lld units, its input %lld", fn, d->name,
                    (long long)units, (long long)in0->max_width);
    n->units = n->max_width = units;
    n->max_runs = in0->max_runs;
    n->module = m->n_modules;
    if ((st = sigeo__model_add_param(m, n, 0, "weight", SIGEO_PARAM_NORM_SCALE, 1, &units)) != SIGEO_OK)
        return st;
    return sigeo__model_add_param(m, n, 1, "bias", SIGEO_PARAM_NORM_SHIFT, 1, &units);
}

static sigeo_status_t ln_infer(sigeo_model_t *m, sigeo__node_t *n)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    n->width = in->width;
    n->n_runs = in->n_runs;
    memcpy(n->runs, in->runs, (size_t)in->n_runs * sizeof *in->runs);
    return SIGEO_OK;
}

/* Scratch: [W] max-layout index per feature (int64 first, for alignment), then [B] rstd, then [B, W] x_hat. */
static sigeo_status_t ln_forward(sigeo_model_t *m, sigeo__node_t *n, const sigeo_batch_t *b)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    const int64_t B = b->batch_size, W = n->width;
    sigeo_status_t st = sigeo__node_scratch(m, n, (size_t)(B + B * W) * sizeof(float) + (size_t)W * sizeof(int64_t));
    if (st != SIGEO_OK)
        return st;
    int64_t *idx = n->scratch;
    float *rstd = (float *)(void *)(idx + W), *xhat = rstd + B;
    for (int32_t r = 0; r < n->n_runs; r++)
        for (int64_t k = 0; k < n->runs[r].len; k++)
            idx[n->runs[r].active_offset + k] = n->runs[r].max_offset + k;
    const float *gamma = m->params[n->param[0]].data, *beta = m->params[n->param[1]].data;
    for (int64_t r = 0; r < B; r++) {
        const float *x = in->out + r * W;
        double mean = 0.0, var = 0.0;
        for (int64_t j = 0; j < W; j++)
            mean += x[j];
        mean /= (double)W;
        for (int64_t j = 0; j < W; j++)
            var += ((double)x[j] - mean) * ((double)x[j] - mean);
        var /= (double)W;
        double rs = 1.0 / sqrt(var + LN_EPS);
        rstd[r] = (float)rs;
        for (int64_t j = 0; j < W; j++) {
            float xh = (float)(((double)x[j] - mean) * rs);
            xhat[r * W + j] = xh;
            n->out[r * W + j] = gamma[idx[j]] * xh + beta[idx[j]];
        }
    }
    return SIGEO_OK;
}

static sigeo_status_t ln_backward(sigeo_model_t *m, sigeo__node_t *n)
{
    sigeo__node_t *in = sigeo__input(m, n, 0);
    const int64_t B = m->batch, W = n->width;
    const int64_t *idx = n->scratch;
    const float *rstd = (const float *)(const void *)(idx + W), *xhat = rstd + B;
    sigeo__param_t *gp = &m->params[n->param[0]], *bp = &m->params[n->param[1]];
    const float *gamma = gp->data;
    for (int64_t j = 0; j < W; j++)
        gp->grad[idx[j]] = bp->grad[idx[j]] = 0.0f;
    const bool want_dx = sigeo__wants_grad(m, in);
    bool acc = false;
    float *dx = want_dx ? sigeo__grad_target(in, &acc) : NULL;
    for (int64_t r = 0; r < B; r++) {
        const float *dy = n->grad + r * W, *xh = xhat + r * W;
        double sum_d = 0.0, sum_dx = 0.0;
        for (int64_t j = 0; j < W; j++) {
            double d = (double)dy[j] * gamma[idx[j]];
            sum_d += d;
            sum_dx += d * xh[j];
            gp->grad[idx[j]] += dy[j] * xh[j];
            bp->grad[idx[j]] += dy[j];
        }
        if (!want_dx)
            continue;
        const double mean_d = sum_d / (double)W, mean_dx = sum_dx / (double)W;
        float *out = dx + r * W;
        for (int64_t j = 0; j < W; j++) {
            double d = (double)dy[j] * gamma[idx[j]];
            float v = (float)(rstd[r] * (d - mean_d - xh[j] * mean_dx));
            out[j] = acc ? out[j] + v : v;
        }
    }
    gp->grad_dirty = bp->grad_dirty = true;
    /* y = gamma x_hat + beta is degree-1 homogeneous in (gamma, beta). */
    sigeo__add_directional(m, n->out, n->grad, B, W);
    return SIGEO_OK;
}

/* Per row of the input's tangent xd: mean(xd) and mean(x_hat xd), the
 * mean's and the variance's tangents (eps included) that
 *   x_hat_dot = rstd (xdot - mean(xdot) - x_hat mean(x_hat xdot))
 * takes. */
static void tangent_means(double *mean_d, double *mean_xd, const float *xd, const float *xh, int64_t W)
{
    double a = 0.0, b = 0.0;
    for (int64_t j = 0; j < W; j++) {
        a += xd[j];
        b += (double)xh[j] * xd[j];
    }
    *mean_d = a / (double)W;
    *mean_xd = b / (double)W;
}

/* ydot = gamma x_hat_dot, plus y when the affine part moves along theta
 * (forward mode along theta: degree 1 in (gamma, beta)). Per row only:
 * layer norm does not couple samples. */
static void tangent_rows(sigeo_model_t *m, sigeo__node_t *n, bool plus_y)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    const int64_t B = m->batch, W = n->width;
    const int64_t *idx = n->scratch;
    const float *rstd = (const float *)(const void *)(idx + W), *xhat = rstd + B;
    const float *gamma = m->params[n->param[0]].data;
    for (int64_t r = 0; r < B; r++) {
        const float *xd = in->tangent + r * W, *xh = xhat + r * W, *y = n->out + r * W;
        float *t = n->tangent + r * W;
        double mean_d, mean_xd;
        tangent_means(&mean_d, &mean_xd, xd, xh, W);
        for (int64_t j = 0; j < W; j++)
            t[j] = (float)((double)gamma[idx[j]] * rstd[r] * ((double)xd[j] - mean_d - xh[j] * mean_xd) +
                           (plus_y ? y[j] : 0.0));
    }
}

static sigeo_status_t ln_jvp(sigeo_model_t *m, sigeo__node_t *n)
{
    tangent_rows(m, n, true);
    return SIGEO_OK;
}

/* Hessian-vector pass (hvp.c), with no direction along and no product in
 * gamma and beta (GraSP's CL-weights exclude them, as for batch norm):
 * the forward rule is R{y} = gamma x_hat_dot. */
sigeo_status_t sigeo__layer_norm_r_forward(sigeo_model_t *m, sigeo__node_t *n)
{
    tangent_rows(m, n, false);
    return SIGEO_OK;
}

/* Reverse (hvp.c's swap: n->grad = R{g}, n->r_grad = g). With h = gamma g,
 * dx = rstd (h - mean(h) - x_hat mean(h x_hat)), and along xdot:
 * rstd_dot = -rstd^2 mean(x_hat xdot), so
 *   R{dx} = (rstd_dot / rstd) dx + rstd (Rh - mean(Rh) - x_hat mean(Rh x_hat))
 *           - rstd (x_hat_dot mean(h x_hat) + x_hat mean(h x_hat_dot)),
 * Rh = gamma R{g}. Parameter gradients are left as the ordinary backward
 * wrote them. */
sigeo_status_t sigeo__layer_norm_r_backward(sigeo_model_t *m, sigeo__node_t *n)
{
    sigeo__node_t *in = sigeo__input(m, n, 0);
    if (!sigeo__wants_grad(m, in))
        return SIGEO_OK;
    const int64_t B = m->batch, W = n->width;
    const int64_t *idx = n->scratch;
    const float *rstd = (const float *)(const void *)(idx + W), *xhat = rstd + B;
    const float *gamma = m->params[n->param[0]].data;
    bool acc;
    float *dx = sigeo__grad_target(in, &acc);
    for (int64_t r = 0; r < B; r++) {
        const float *rg = n->grad + r * W, *g = n->r_grad + r * W, *xh = xhat + r * W, *xd = in->tangent + r * W;
        const double rs = rstd[r];
        double mean_d, mean_xd;
        tangent_means(&mean_d, &mean_xd, xd, xh, W);
        double mh = 0.0, mhx = 0.0, mrh = 0.0, mrhx = 0.0, mhxd = 0.0;
        for (int64_t j = 0; j < W; j++) {
            const double h = (double)gamma[idx[j]] * g[j], rh = (double)gamma[idx[j]] * rg[j];
            const double xhd = rs * ((double)xd[j] - mean_d - xh[j] * mean_xd);
            mh += h;
            mhx += h * xh[j];
            mrh += rh;
            mrhx += rh * xh[j];
            mhxd += h * xhd;
        }
        mh /= (double)W;
        mhx /= (double)W;
        mrh /= (double)W;
        mrhx /= (double)W;
        mhxd /= (double)W;
        const double rdot_over = -rs * mean_xd; /* rstd_dot / rstd */
        float *out = dx + r * W;
        for (int64_t j = 0; j < W; j++) {
            const double h = (double)gamma[idx[j]] * g[j], rh = (double)gamma[idx[j]] * rg[j];
            const double xhd = rs * ((double)xd[j] - mean_d - xh[j] * mean_xd);
            const double d0 = rs * (h - mh - xh[j] * mhx);
            const double v = rdot_over * d0 + rs * (rh - mrh - xh[j] * mrhx) - rs * (xhd * mhx + xh[j] * mhxd);
            out[j] = acc ? out[j] + (float)v : (float)v;
        }
    }
    return SIGEO_OK;
}

/* gamma and beta follow the node's own runs, one entry per feature. */
static void ln_param_slice(const sigeo_model_t *m, const sigeo__node_t *n, const sigeo__param_t *p,
                           sigeo__param_slice_t *out)
{
    (void)m;
    (void)n;
    (void)p;
    *out = (sigeo__param_slice_t){ SIGEO__SLICE_OWN_RUNS, 0, 1 };
}

const sigeo__op_t sigeo__op_layer_norm = {
    .name = "layer norm",
    .configure = ln_configure,
    .infer = ln_infer,
    .forward = ln_forward,
    .backward = ln_backward,
    .jvp = ln_jvp,
    .param_slice = ln_param_slice,
    .standalone_desc = sigeo__standalone_width_of_input,
};
