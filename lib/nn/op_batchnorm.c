/* Batch norm (nn.BatchNorm1d / nn.BatchNorm2d) over the first dim of the
 * input's per-row shape. Train mode normalises each channel with the
 * statistics of the batch (biased variance) over rows and positions, and
 * updates the running statistics (momentum 0.1, unbiased variance); eval
 * mode (flag RUNNING_STATS) uses the running statistics. Written out in C
 * with double accumulators, like layer norm: the channel axis may be an
 * elastic slice addressed through the input's runs. The per-channel loops
 * are `omp simd` reductions: still double, only the order of the partial
 * sums changes (a relative change of ~1e-16 on the statistics, far below
 * the float outputs' rounding); scalar, the dependent double adds made batch
 * norm a quarter of a conv-cell step (bench/README.md "conv path").
 *
 * Scratch layout: a persistent head (num_batches_tracked, running mean and
 * var over the max channels, see op_batchnorm.h), then per-batch work kept
 * from forward to backward: channel index map, 1/std, x_hat. */
#include <math.h>
#include <string.h>

#include "nn/op_batchnorm.h"
#include "nn/op_shape.h"

#define FAIL(m, status, ...) SIGEO__MODEL_FAIL(m, status, __VA_ARGS__)

#define BN_EPS 1e-5
#define BN_MOMENTUM 0.1

static size_t head_bytes(int64_t channels)
{
    size_t b = 2 * sizeof(int64_t) + 2 * (size_t)channels * sizeof(float);
    return (b + 63) & ~(size_t)63;
}

bool sigeo__batch_norm_buffers(sigeo__node_t *n, float **running_mean, float **running_var,
                               int64_t **num_batches_tracked)
{
    if (n->kind != SIGEO_LAYER_BATCH_NORM || !n->scratch)
        return false;
    int64_t *head = n->scratch;
    float *f = (float *)(void *)(head + 2);
    if (running_mean)
        *running_mean = f;
    if (running_var)
        *running_var = f + head[1];
    if (num_batches_tracked)
        *num_batches_tracked = head;
    return true;
}

/* Grows the work area after the head, keeping the head. */
static sigeo_status_t work_area(void **out, sigeo_model_t *m, sigeo__node_t *n, size_t bytes)
{
    const size_t head = head_bytes(n->units);
    if (n->scratch_size < head + bytes) {
        void *p = sigeo__alloc(head + bytes);
        if (!p)
            return FAIL(m, SIGEO_ERR_NO_MEMORY, "batch norm '%s': out of memory for %zu bytes of scratch", n->name,
                        head + bytes);
        memcpy(p, n->scratch, head);
        sigeo__free(n->scratch);
        n->scratch = p;
        n->scratch_size = head + bytes;
    }
    *out = (char *)n->scratch + head;
    return SIGEO_OK;
}

/* Positions per channel: the node keeps its input's shape (flat: 1). */
static int64_t positions(const sigeo__node_t *n)
{
    int64_t S = 1;
    for (int32_t i = 1; i < n->shape_ndim; i++)
        S *= n->shape[i];
    return S;
}

static sigeo_status_t bn_configure(sigeo_model_t *m, sigeo__node_t *n, const sigeo_layer_desc_t *d)
{
    static const char fn[] = "sigeo_model_add_layer";
    if (d->n_inputs != 1)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: batch norm '%s' takes 1 input, got %u", fn, d->name,
                    (unsigned)d->n_inputs);
    sigeo__node_t *in = &m->nodes[d->inputs[0]];
    if (in->max_width < 1)
        return FAIL(m, SIGEO_ERR_SHAPE, "%s: batch norm '%s': input '%s' has no features", fn, d->name, in->name);
    sigeo__shape_t s = sigeo__node_shape(m, in);
    const int64_t channels = s.ndim ? s.d[0] : in->max_width;
    if (d->units != 0 && d->units != channels)
        return FAIL(m, SIGEO_ERR_SHAPE, "%s: batch norm '%s' has %lld units, its input '%s' %lld channels", fn,
                    d->name, (long long)d->units, in->name, (long long)channels);
    if (d->flags & ~(SIGEO_LAYER_RUNNING_STATS | SIGEO_LAYER_NO_BIAS))
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: batch norm '%s': unknown flags 0x%x", fn, d->name,
                    (unsigned)d->flags);
    if (d->flags & SIGEO_LAYER_NO_BIAS)
        return FAIL(m, SIGEO_ERR_UNSUPPORTED, "%s: batch norm '%s': NO_BIAS (affine=False) is not supported", fn,
                    d->name);
    n->units = channels;
    n->max_width = in->max_width;
    n->max_runs = in->max_runs;
    sigeo__node_set_shape(n, s.ndim, s.d);
    n->module = m->n_modules;
    sigeo_status_t st = sigeo__model_add_param(m, n, 0, "weight", SIGEO_PARAM_NORM_SCALE, 1, &channels);
    if (st == SIGEO_OK)
        st = sigeo__model_add_param(m, n, 1, "bias", SIGEO_PARAM_NORM_SHIFT, 1, &channels);
    if (st != SIGEO_OK)
        return st;
    /* Last, so a failure above leaves nothing to free: running mean 0, var 1. */
    n->scratch = sigeo__calloc(1, head_bytes(channels));
    if (!n->scratch)
        return FAIL(m, SIGEO_ERR_NO_MEMORY, "%s: out of memory adding '%s'", fn, d->name);
    n->scratch_size = head_bytes(channels);
    float *mean = NULL, *var = NULL;
    int64_t *tracked = NULL;
    ((int64_t *)n->scratch)[1] = channels;
    sigeo__batch_norm_buffers(n, &mean, &var, &tracked);
    for (int64_t c = 0; c < channels; c++)
        var[c] = 1.0f;
    return SIGEO_OK;
}

static sigeo_status_t bn_infer(sigeo_model_t *m, sigeo__node_t *n)
{
    sigeo__node_t *in = sigeo__input(m, n, 0);
    const int64_t S = positions(n);
    for (int32_t r = 0; r < in->n_runs; r++) {
        const sigeo__run_t *ir = &in->runs[r];
        if (ir->max_offset % S || ir->active_offset % S || ir->len % S)
            return FAIL(m, SIGEO_ERR_SHAPE, "batch norm '%s': input '%s' has active features not in whole channels of %lld",
                        n->name, in->name, (long long)S);
    }
    n->width = in->width;
    n->n_runs = in->n_runs;
    memcpy(n->runs, in->runs, (size_t)in->n_runs * sizeof *in->runs);
    return SIGEO_OK;
}

typedef struct bn_work {
    int64_t *idx; /* [C] max-layout channel of each active channel */
    float *rstd;  /* [C] */
    float *xhat;  /* [B, W] */
} bn_work_t;

static sigeo_status_t get_work(bn_work_t *w, sigeo_model_t *m, sigeo__node_t *n, int64_t B, int64_t C)
{
    void *p = NULL;
    sigeo_status_t st = work_area(&p, m, n, (size_t)C * (sizeof(int64_t) + sizeof(float)) +
                                                (size_t)(B * n->width) * sizeof(float));
    if (st != SIGEO_OK)
        return st;
    w->idx = p;
    w->rstd = (float *)(void *)(w->idx + C);
    w->xhat = w->rstd + C;
    return SIGEO_OK;
}

SIGEO__ISA_CLONES static sigeo_status_t bn_forward(sigeo_model_t *m, sigeo__node_t *n, const sigeo_batch_t *b)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    const int64_t B = b->batch_size, W = n->width, S = positions(n), C = W / S;
    const bool train = !(n->flags & SIGEO_LAYER_RUNNING_STATS);
    if (train && B * S < 2)
        return FAIL(m, SIGEO_ERR_SHAPE,
                    "batch norm '%s': train mode needs more than one value per channel (batch %lld x %lld positions)",
                    n->name, (long long)B, (long long)S);
    bn_work_t w;
    sigeo_status_t st = get_work(&w, m, n, B, C);
    if (st != SIGEO_OK)
        return st;
    for (int32_t r = 0; r < n->n_runs; r++)
        for (int64_t k = 0; k < n->runs[r].len; k += S)
            w.idx[(n->runs[r].active_offset + k) / S] = (n->runs[r].max_offset + k) / S;
    float *run_mean = NULL, *run_var = NULL;
    int64_t *tracked = NULL;
    if (!sigeo__batch_norm_buffers(n, &run_mean, &run_var, &tracked))
        return FAIL(m, SIGEO_ERR_INTERNAL, "batch norm '%s' has no running statistics", n->name);
    const float *gamma = m->params[n->param[0]].data, *beta = m->params[n->param[1]].data;
    const double count = (double)(B * S);
    for (int64_t c = 0; c < C; c++) {
        const int64_t ci = w.idx[c];
        double mean, var;
        if (train) {
            double sum = 0.0, ss = 0.0;
            for (int64_t r = 0; r < B; r++) {
                const float *x = in->out + r * W + c * S;
#pragma omp simd reduction(+ : sum)
                for (int64_t s = 0; s < S; s++)
                    sum += x[s];
            }
            mean = sum / count;
            for (int64_t r = 0; r < B; r++) {
                const float *x = in->out + r * W + c * S;
#pragma omp simd reduction(+ : ss)
                for (int64_t s = 0; s < S; s++)
                    ss += ((double)x[s] - mean) * ((double)x[s] - mean);
            }
            var = ss / count;
            run_mean[ci] = (float)((1.0 - BN_MOMENTUM) * run_mean[ci] + BN_MOMENTUM * mean);
            run_var[ci] = (float)((1.0 - BN_MOMENTUM) * run_var[ci] + BN_MOMENTUM * ss / (count - 1.0));
        } else {
            mean = run_mean[ci];
            var = run_var[ci];
        }
        const double rs = 1.0 / sqrt(var + BN_EPS);
        w.rstd[c] = (float)rs;
        const float gc = gamma[ci], bc = beta[ci]; /* locals: the stores below may alias them for the compiler */
        for (int64_t r = 0; r < B; r++) {
            const float *x = in->out + r * W + c * S;
            float *xh = w.xhat + r * W + c * S, *y = n->out + r * W + c * S;
#pragma omp simd
            for (int64_t s = 0; s < S; s++) {
                xh[s] = (float)(((double)x[s] - mean) * rs);
                y[s] = gc * xh[s] + bc;
            }
        }
    }
    if (train)
        (*tracked)++;
    return SIGEO_OK;
}

SIGEO__ISA_CLONES static sigeo_status_t bn_backward(sigeo_model_t *m, sigeo__node_t *n)
{
    sigeo__node_t *in = sigeo__input(m, n, 0);
    const int64_t B = m->batch, W = n->width, S = positions(n), C = W / S;
    const bool train = !(n->flags & SIGEO_LAYER_RUNNING_STATS);
    bn_work_t w;
    sigeo_status_t st = get_work(&w, m, n, B, C); /* same size as the forward's: no move */
    if (st != SIGEO_OK)
        return st;
    sigeo__param_t *gp = &m->params[n->param[0]], *bp = &m->params[n->param[1]];
    const bool want_dx = sigeo__wants_grad(m, in);
    bool acc = false;
    float *dx = want_dx ? sigeo__grad_target(in, &acc) : NULL;
    const double count = (double)(B * S);
    for (int64_t c = 0; c < C; c++) {
        const int64_t ci = w.idx[c];
        double sum_dy = 0.0, sum_dy_xh = 0.0;
        for (int64_t r = 0; r < B; r++) {
            const float *dy = n->grad + r * W + c * S, *xh = w.xhat + r * W + c * S;
#pragma omp simd reduction(+ : sum_dy, sum_dy_xh)
            for (int64_t s = 0; s < S; s++) {
                sum_dy += dy[s];
                sum_dy_xh += (double)dy[s] * xh[s];
            }
        }
        gp->grad[ci] = (float)sum_dy_xh;
        bp->grad[ci] = (float)sum_dy;
        if (!want_dx)
            continue;
        /* Train mode: x_hat depends on every row through the batch mean and
         * variance, so dx carries the two batch terms. */
        const double g = (double)gp->data[ci] * w.rstd[c];
        const double mean_dy = train ? sum_dy / count : 0.0, mean_dy_xh = train ? sum_dy_xh / count : 0.0;
        for (int64_t r = 0; r < B; r++) {
            const float *dy = n->grad + r * W + c * S, *xh = w.xhat + r * W + c * S;
            float *o = dx + r * W + c * S;
            if (acc) {
#pragma omp simd
                for (int64_t s = 0; s < S; s++)
                    o[s] += (float)(g * ((double)dy[s] - mean_dy - xh[s] * mean_dy_xh));
            } else {
#pragma omp simd
                for (int64_t s = 0; s < S; s++)
                    o[s] = (float)(g * ((double)dy[s] - mean_dy - xh[s] * mean_dy_xh));
            }
        }
    }
    gp->grad_dirty = bp->grad_dirty = true;
    /* y = gamma x_hat + beta is degree-1 homogeneous in (gamma, beta) and x_hat
     * does not depend on them, so delta_n . y_n is this layer's own term. It is
     * exact only when nothing downstream mixes samples. In train mode this
     * layer itself mixes them: the deltas that reach the layers upstream hold
     * cross-sample terms (dL/dy_m sums dl_n/dy_m over n), so their per-sample
     * terms are not theta . grad l_n (docs/proxies.md §4.3, §4.3a: a forward-mode
     * pass through the batch statistics gives the exact value, bn_jvp). */
    sigeo__add_directional(m, n->out, n->grad, B, W);
    return SIGEO_OK;
}

/* Forward-mode pass (jvp.c), from the forward's own x_hat and 1/std (the
 * same batch statistics; the running statistics are neither read nor
 * updated). Train mode: with x_hat = (x - mu_c) rstd_c over the channel's
 * rows and positions,
 *   x_hat_dot = rstd_c (xdot - mean_c(xdot) - x_hat mean_c(x_hat xdot)),
 * the tangents of the batch mean and variance: sample n's tangent takes in
 * every other sample's, which is the coupling the one-backward identity
 * misses (docs/proxies.md §4.3a). Eval mode: x_hat_dot = rstd xdot. The affine
 * part is degree 1 in (gamma, beta): ydot = gamma x_hat_dot + y.
 *
 * Input from a conv that left out its own part (tangent_lacks_out, jvp.c):
 * the true xdot is the stored one plus x itself, and the map of x is closed
 * form. Eval mode: gamma rstd x. Train mode: x - mu = x_hat / rstd and
 * mean_c(x_hat x) = mean_c(x_hat^2) / rstd = var rstd (mean_c(x_hat) = 0),
 * so rstd (x - mu - x_hat mean_c(x_hat x)) = x_hat (1 - var rstd^2) =
 * x_hat eps rstd^2: the added term is gamma eps rstd^2 x_hat. */
SIGEO__ISA_CLONES static sigeo_status_t bn_jvp(sigeo_model_t *m, sigeo__node_t *n)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    const int64_t B = m->batch, W = n->width, S = positions(n), C = W / S;
    const bool train = !(n->flags & SIGEO_LAYER_RUNNING_STATS);
    bn_work_t w;
    sigeo_status_t st = get_work(&w, m, n, B, C); /* same size as the forward's: no move */
    if (st != SIGEO_OK)
        return st;
    const float *gamma = m->params[n->param[0]].data;
    const double count = (double)(B * S);
    const bool fold_x = in->tangent_lacks_out;
    for (int64_t c = 0; c < C; c++) {
        double mean_d = 0.0, mean_xd = 0.0;
        if (train) {
            for (int64_t r = 0; r < B; r++) {
                const float *xd = in->tangent + r * W + c * S, *xh = w.xhat + r * W + c * S;
#pragma omp simd reduction(+ : mean_d, mean_xd)
                for (int64_t s = 0; s < S; s++) {
                    mean_d += xd[s];
                    mean_xd += (double)xh[s] * xd[s];
                }
            }
            mean_d /= count;
            mean_xd /= count;
        }
        const double g = (double)gamma[w.idx[c]] * w.rstd[c];
        const double fold = fold_x && train ? (double)gamma[w.idx[c]] * BN_EPS * (double)w.rstd[c] * w.rstd[c] : 0.0;
        for (int64_t r = 0; r < B; r++) {
            const float *xd = in->tangent + r * W + c * S, *xh = w.xhat + r * W + c * S, *y = n->out + r * W + c * S;
            const float *x = in->out + r * W + c * S;
            float *t = n->tangent + r * W + c * S;
            if (fold_x && !train) {
#pragma omp simd
                for (int64_t s = 0; s < S; s++)
                    t[s] = (float)(g * ((double)xd[s] + x[s]) + y[s]);
            } else if (fold_x) {
#pragma omp simd
                for (int64_t s = 0; s < S; s++)
                    t[s] = (float)(g * ((double)xd[s] - mean_d - xh[s] * mean_xd) + fold * xh[s] + y[s]);
            } else { /* no fold: exactly the unfolded rule (hvp.c's pass too) */
#pragma omp simd
                for (int64_t s = 0; s < S; s++)
                    t[s] = (float)(g * ((double)xd[s] - mean_d - xh[s] * mean_xd) + y[s]);
            }
        }
    }
    return SIGEO_OK;
}

/* Hessian-vector pass (hvp.c), with no direction along and no product in
 * gamma and beta (GraSP's case: they are not CL-weights). Forward: R{y} =
 * gamma R{x_hat}, the forward-mode rule above without the parameters' own
 * part. Reverse (hvp.c's swap: n->grad = R{g_y}, n->r_grad = g_y), with a
 * = gamma g_y, A1 = mean_c(a), A2 = mean_c(a x_hat), in train mode
 *   g_x = rstd (a - A1 - x_hat A2), so
 *   R{g_x} = R{rstd} (a - A1 - x_hat A2)
 *          + rstd (Ra - mean(Ra) - R{x_hat} A2 - x_hat (mean(Ra x_hat) + mean(a R{x_hat}))),
 * Ra = gamma R{g_y}, R{rstd} = -rstd^2 mean_c(x_hat R{x}); eval mode is
 * linear: R{g_x} = rstd gamma R{g_y}. Parameter gradients are untouched. */
sigeo_status_t sigeo__batch_norm_r_forward(sigeo_model_t *m, sigeo__node_t *n)
{
    sigeo_status_t st = bn_jvp(m, n);
    if (st != SIGEO_OK)
        return st;
    const int64_t count = m->batch * n->width;
    for (int64_t i = 0; i < count; i++)
        n->tangent[i] -= n->out[i];
    return SIGEO_OK;
}

sigeo_status_t sigeo__batch_norm_r_backward(sigeo_model_t *m, sigeo__node_t *n)
{
    sigeo__node_t *in = sigeo__input(m, n, 0);
    if (in->kind == SIGEO__NODE_INPUT_DENSE)
        return SIGEO_OK;
    const int64_t B = m->batch, W = n->width, S = positions(n), C = W / S;
    const bool train = !(n->flags & SIGEO_LAYER_RUNNING_STATS);
    bn_work_t w;
    sigeo_status_t st = get_work(&w, m, n, B, C);
    if (st != SIGEO_OK)
        return st;
    const float *gamma = m->params[n->param[0]].data;
    const double count = (double)(B * S);
    bool acc;
    float *dx = sigeo__grad_target(in, &acc);
    for (int64_t c = 0; c < C; c++) {
        const double gm = gamma[w.idx[c]], rs = w.rstd[c];
        double A1 = 0, A2 = 0, RA1 = 0, RA2 = 0, ARx = 0, XRx = 0, mean_rx = 0;
        for (int64_t r = 0; train && r < B; r++)
            for (int64_t s = 0; s < S; s++) {
                const int64_t i = r * W + c * S + s;
                const double xh = w.xhat[i], xd = in->tangent[i];
                mean_rx += xd;
                XRx += xh * xd;
            }
        mean_rx /= count;
        XRx /= count;
        /* R{x_hat} = rstd (R{x} - mean(R{x}) - x_hat mean(x_hat R{x})) */
        for (int64_t r = 0; train && r < B; r++)
            for (int64_t s = 0; s < S; s++) {
                const int64_t i = r * W + c * S + s;
                const double xh = w.xhat[i], a = gm * n->r_grad[i], ra = gm * n->grad[i];
                const double rxh = rs * (in->tangent[i] - mean_rx - xh * XRx);
                A1 += a;
                A2 += a * xh;
                RA1 += ra;
                RA2 += ra * xh;
                ARx += a * rxh;
            }
        A1 /= count;
        A2 /= count;
        RA1 /= count;
        RA2 /= count;
        ARx /= count;
        const double r_rstd = -rs * rs * XRx;
        for (int64_t r = 0; r < B; r++)
            for (int64_t s = 0; s < S; s++) {
                const int64_t i = r * W + c * S + s;
                const double ra = gm * n->grad[i];
                double v = rs * ra;
                if (train) {
                    const double xh = w.xhat[i], a = gm * n->r_grad[i];
                    const double rxh = rs * (in->tangent[i] - mean_rx - xh * XRx);
                    v = r_rstd * (a - A1 - xh * A2) + rs * (ra - RA1 - rxh * A2 - xh * (RA2 + ARx));
                }
                dx[i] = acc ? dx[i] + (float)v : (float)v;
            }
    }
    return SIGEO_OK;
}

/* Train mode normalises with the batch's statistics: each sample's output
 * depends on the others'. */
static bool bn_couples_samples(const sigeo_model_t *m, const sigeo__node_t *n)
{
    (void)m;
    return !(n->flags & SIGEO_LAYER_RUNNING_STATS);
}

static int64_t bn_active_numel(const sigeo_model_t *m, const sigeo__node_t *n, const sigeo__param_t *p)
{
    (void)m;
    (void)p;
    return n->width / positions(n);
}

/* gamma and beta (and the running statistics) follow the node's own runs,
 * one entry per channel of `positions` features. */
static void bn_param_slice(const sigeo_model_t *m, const sigeo__node_t *n, const sigeo__param_t *p,
                           sigeo__param_slice_t *out)
{
    (void)m;
    (void)p;
    *out = (sigeo__param_slice_t){ SIGEO__SLICE_OWN_RUNS, 0, positions(n) };
}

const sigeo__op_t sigeo__op_batch_norm = {
    .name = "batch norm", .configure = bn_configure, .infer = bn_infer, .forward = bn_forward,
    .backward = bn_backward, .active_numel = bn_active_numel, .couples_samples = bn_couples_samples,
    .jvp = bn_jvp, .param_slice = bn_param_slice, .standalone_desc = sigeo__standalone_width_of_input,
};
