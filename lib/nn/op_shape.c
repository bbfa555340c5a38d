/* Per-row shapes, and the ops that only move or make features: reshape,
 * slice, zero. None has parameters. */
#include <string.h>

#include "core/rng.h"
#include "nn/op_shape.h"

#define FAIL(m, status, ...) SIGEO__MODEL_FAIL(m, status, __VA_ARGS__)

void sigeo__node_set_shape(sigeo__node_t *n, int32_t ndim, const int64_t *d)
{
    memset(n->shape, 0, sizeof n->shape);
    n->shape_ndim = ndim >= 2 ? ndim : 0;
    for (int32_t i = 0; i < n->shape_ndim; i++)
        n->shape[i] = d[i];
    n->shape_known = true;
}

static sigeo__shape_t stored(const sigeo__node_t *n)
{
    sigeo__shape_t s = { n->shape_ndim, { 0, 0, 0 } };
    for (int32_t i = 0; i < s.ndim; i++)
        s.d[i] = n->shape[i];
    return s;
}

static bool same_shape(const sigeo__shape_t *a, const sigeo__shape_t *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int32_t i = 0; i < a->ndim; i++)
        if (a->d[i] != b->d[i])
            return false;
    return true;
}

int64_t sigeo__shape_inner(const sigeo__shape_t *s)
{
    int64_t p = 1;
    for (int32_t i = 1; i < s->ndim; i++)
        p *= s->d[i];
    return p;
}

/* Shapes of pass-through nodes owned by other op files, derived from their
 * inputs. Each node is resolved once (remembered), so a deep residual graph
 * costs linear time. */
sigeo__shape_t sigeo__node_shape(sigeo_model_t *m, sigeo__node_t *n)
{
    if (n->shape_known)
        return stored(n);
    sigeo__shape_t s = { 0, { 0, 0, 0 } };
    switch (n->kind) {
    case SIGEO__NODE_INPUT_DENSE:
        if (n->shape[0] > 0)
            s = (sigeo__shape_t){ 3, { n->shape[0], n->shape[1], n->shape[2] } };
        break;
    case SIGEO_LAYER_ACTIVATION:
    case SIGEO_LAYER_LAYER_NORM:
        s = sigeo__node_shape(m, sigeo__input(m, n, 0));
        break;
    case SIGEO_LAYER_SUM:
    case SIGEO_LAYER_SELECT: {
        s = sigeo__node_shape(m, sigeo__input(m, n, 0));
        for (int32_t i = 1; i < n->n_inputs && s.ndim; i++) {
            sigeo__shape_t o = sigeo__node_shape(m, sigeo__input(m, n, i));
            if (!same_shape(&s, &o))
                s.ndim = 0;
        }
        break;
    }
    case SIGEO_LAYER_CONCAT: {
        s = sigeo__node_shape(m, sigeo__input(m, n, 0));
        for (int32_t i = 1; i < n->n_inputs && s.ndim; i++) {
            sigeo__shape_t o = sigeo__node_shape(m, sigeo__input(m, n, i));
            bool fits = o.ndim == s.ndim;
            for (int32_t k = 1; fits && k < s.ndim; k++)
                fits = o.d[k] == s.d[k];
            if (fits)
                s.d[0] += o.d[0];
            else
                s.ndim = 0;
        }
        break;
    }
    default:
        break;
    }
    if (s.ndim == 0)
        memset(s.d, 0, sizeof s.d);
    sigeo__node_set_shape(n, s.ndim, s.d);
    return s;
}

sigeo_status_t sigeo__node_active_shape(sigeo__shape_t *out, sigeo_model_t *m, sigeo__node_t *n,
                                        const sigeo__node_t *who)
{
    sigeo__shape_t s = sigeo__node_shape(m, n);
    if (s.ndim >= 2) {
        const int64_t inner = sigeo__shape_inner(&s);
        if (n->width % inner != 0)
            return FAIL(m, SIGEO_ERR_SHAPE,
                        "%s '%s': '%s' has %lld active features, not a multiple of %lld (its per-row shape)",
                        who->op->name, who->name, n->name, (long long)n->width, (long long)inner);
        s.d[0] = n->width / inner;
    }
    *out = s;
    return SIGEO_OK;
}

sigeo_status_t sigeo__node_own_slots(sigeo_model_t *m, sigeo__node_t *n, int32_t count)
{
    n->slots = sigeo__calloc((size_t)count, sizeof *n->slots);
    if (!n->slots)
        return FAIL(m, SIGEO_ERR_NO_MEMORY, "sigeo_model_add_layer: out of memory adding '%s'", n->name);
    n->n_slots = count;
    return SIGEO_OK;
}

void sigeo__put_rows(float *dst, int64_t ld_dst, const float *src, int64_t ld_src, int64_t rows, int64_t w, bool add)
{
    for (int64_t r = 0; r < rows; r++) {
        float *d = dst + r * ld_dst;
        const float *s = src + r * ld_src;
        if (add)
            for (int64_t j = 0; j < w; j++)
                d[j] += s[j];
        else
            memcpy(d, s, (size_t)w * sizeof(float));
    }
}

void sigeo__init_uniform(sigeo_model_t *m, sigeo__param_t *p, double bound)
{
    sigeo__rng_t *rng = sigeo__model_rng(m);
    for (int64_t i = 0; i < p->numel; i++)
        p->data[i] = (float)((2.0 * sigeo__rng_uniform(rng) - 1.0) * bound);
}

/* Reads desc->shape: leading non-zero dims, the rest zero. */
static sigeo_status_t desc_shape(sigeo__shape_t *out, sigeo_model_t *m, const sigeo_layer_desc_t *d, const char *what)
{
    sigeo__shape_t s = { 0, { 0, 0, 0 } };
    for (int32_t i = 0; i < 3; i++) {
        if (d->shape[i] < 0 || (d->shape[i] > 0 && i > s.ndim))
            return FAIL(m, SIGEO_ERR_INVALID_ARG,
                        "sigeo_model_add_layer: %s '%s' shape (%lld, %lld, %lld): dims must be > 0, then zeros", what,
                        d->name, (long long)d->shape[0], (long long)d->shape[1], (long long)d->shape[2]);
        if (d->shape[i] > 0)
            s.d[s.ndim++] = d->shape[i];
    }
    int64_t numel = 1;
    for (int32_t i = 0; i < s.ndim; i++)
        if (!sigeo__mul_elems(&numel, numel, s.d[i]))
            return FAIL(m, SIGEO_ERR_SHAPE,
                        "sigeo_model_add_layer: %s '%s' shape (%lld, %lld, %lld) holds more than %lld features", what,
                        d->name, (long long)d->shape[0], (long long)d->shape[1], (long long)d->shape[2],
                        (long long)SIGEO_MAX_ELEMENTS);
    if (s.ndim == 1)
        s = (sigeo__shape_t){ 0, { 0, 0, 0 } };
    *out = s;
    return SIGEO_OK;
}

static int64_t shape_numel(const sigeo__shape_t *s)
{
    return s->ndim ? s->d[0] * sigeo__shape_inner(s) : 0;
}

static sigeo_status_t one_input(sigeo_model_t *m, const sigeo_layer_desc_t *d, const char *what)
{
    if (d->n_inputs != 1)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "sigeo_model_add_layer: %s '%s' takes 1 input, got %u", what, d->name,
                    (unsigned)d->n_inputs);
    return SIGEO_OK;
}

/* Hands the node's gradient back to input 0 unchanged (copy or add). */
static sigeo_status_t pass_grad_back(sigeo_model_t *m, sigeo__node_t *n)
{
    sigeo__node_t *in = sigeo__input(m, n, 0);
    if (!sigeo__wants_grad(m, in))
        return SIGEO_OK;
    bool acc;
    float *dx = sigeo__grad_target(in, &acc);
    sigeo__put_rows(dx, n->width, n->grad, n->width, m->batch, n->width, acc);
    return SIGEO_OK;
}

/* ------------------------------------------------------------- reshape */

static sigeo_status_t reshape_configure(sigeo_model_t *m, sigeo__node_t *n, const sigeo_layer_desc_t *d)
{
    sigeo_status_t st = one_input(m, d, "reshape");
    if (st != SIGEO_OK)
        return st;
    sigeo__node_t *in = &m->nodes[d->inputs[0]];
    sigeo__shape_t s;
    if ((st = desc_shape(&s, m, d, "reshape")) != SIGEO_OK)
        return st;
    if (s.ndim && shape_numel(&s) != in->max_width)
        return FAIL(m, SIGEO_ERR_SHAPE, "sigeo_model_add_layer: reshape '%s' to %lld features, input '%s' has %lld",
                    d->name, (long long)shape_numel(&s), in->name, (long long)in->max_width);
    n->max_width = in->max_width;
    n->max_runs = in->max_runs;
    sigeo__node_set_shape(n, s.ndim, s.d);
    return SIGEO_OK;
}

static sigeo_status_t reshape_infer(sigeo_model_t *m, sigeo__node_t *n)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    n->width = in->width;
    n->n_runs = in->n_runs;
    memcpy(n->runs, in->runs, (size_t)in->n_runs * sizeof *in->runs);
    sigeo__shape_t s;
    return sigeo__node_active_shape(&s, m, n, n);
}

static sigeo_status_t reshape_forward(sigeo_model_t *m, sigeo__node_t *n, const sigeo_batch_t *b)
{
    memcpy(n->out, sigeo__input(m, n, 0)->out, (size_t)(b->batch_size * n->width) * sizeof(float));
    return SIGEO_OK;
}

/* Forward-mode pass of reshape, slice and zero: linear maps of the input,
 * so the tangent moves as the value does (zero: 0). */
static sigeo_status_t reshape_jvp(sigeo_model_t *m, sigeo__node_t *n)
{
    memcpy(n->tangent, sigeo__input(m, n, 0)->tangent, (size_t)(m->batch * n->width) * sizeof(float));
    return SIGEO_OK;
}

const sigeo__op_t sigeo__op_reshape = {
    .name = "reshape", .configure = reshape_configure, .infer = reshape_infer,
    .forward = reshape_forward, .backward = pass_grad_back, .jvp = reshape_jvp,
};

/* --------------------------------------------------------------- slice */

static sigeo_status_t slice_configure(sigeo_model_t *m, sigeo__node_t *n, const sigeo_layer_desc_t *d)
{
    sigeo_status_t st = one_input(m, d, "slice");
    if (st != SIGEO_OK)
        return st;
    sigeo__node_t *in = &m->nodes[d->inputs[0]];
    if (d->units < 1 || d->offset < 0 || d->units > in->max_width || d->offset > in->max_width - d->units)
        return FAIL(m, SIGEO_ERR_SHAPE,
                    "sigeo_model_add_layer: slice '%s' takes %lld features from feature %lld of input '%s', which "
                    "has %lld", d->name, (long long)d->units, (long long)d->offset, in->name, (long long)in->max_width);
    n->offset = d->offset;
    n->units = n->max_width = d->units;
    sigeo__shape_t s = sigeo__node_shape(m, in);
    const int64_t inner = sigeo__shape_inner(&s);
    if (s.ndim && d->offset % inner == 0 && d->units % inner == 0) {
        s.d[0] = d->units / inner; /* whole channels / tokens: keep the shape */
        sigeo__node_set_shape(n, s.ndim, s.d);
    } else {
        sigeo__node_set_shape(n, 0, s.d);
    }
    return SIGEO_OK;
}

static sigeo_status_t slice_infer(sigeo_model_t *m, sigeo__node_t *n)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    if (n->offset + n->units > in->width)
        return FAIL(m, SIGEO_ERR_SHAPE, "slice '%s': features [%lld, %lld) but input '%s' has %lld active features",
                    n->name, (long long)n->offset, (long long)(n->offset + n->units), in->name,
                    (long long)in->width);
    n->width = n->units;
    n->runs[0] = (sigeo__run_t){ 0, 0, n->width };
    n->n_runs = 1;
    return SIGEO_OK;
}

static sigeo_status_t slice_forward(sigeo_model_t *m, sigeo__node_t *n, const sigeo_batch_t *b)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    sigeo__put_rows(n->out, n->width, in->out + n->offset, in->width, b->batch_size, n->width, false);
    return SIGEO_OK;
}

static sigeo_status_t slice_backward(sigeo_model_t *m, sigeo__node_t *n)
{
    sigeo__node_t *in = sigeo__input(m, n, 0);
    if (!sigeo__wants_grad(m, in))
        return SIGEO_OK;
    bool acc;
    float *dx = sigeo__grad_target(in, &acc);
    if (!acc)
        memset(dx, 0, (size_t)(m->batch * in->width) * sizeof(float));
    sigeo__put_rows(dx + n->offset, in->width, n->grad, n->width, m->batch, n->width, true);
    return SIGEO_OK;
}

static sigeo_status_t slice_jvp(sigeo_model_t *m, sigeo__node_t *n)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    sigeo__put_rows(n->tangent, n->width, in->tangent + n->offset, in->width, m->batch, n->width, false);
    return SIGEO_OK;
}

const sigeo__op_t sigeo__op_slice = {
    .name = "slice", .configure = slice_configure, .infer = slice_infer,
    .forward = slice_forward, .backward = slice_backward, .jvp = slice_jvp,
};

/* ---------------------------------------------------------------- zero */

static sigeo_status_t zero_configure(sigeo_model_t *m, sigeo__node_t *n, const sigeo_layer_desc_t *d)
{
    sigeo_status_t st = one_input(m, d, "zero");
    if (st != SIGEO_OK)
        return st;
    sigeo__node_t *in = &m->nodes[d->inputs[0]];
    sigeo__shape_t s;
    if ((st = desc_shape(&s, m, d, "zero")) != SIGEO_OK)
        return st;
    if (d->units < 0)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "sigeo_model_add_layer: zero '%s' has units %lld", d->name,
                    (long long)d->units);
    if (d->units == 0) {
        if (s.ndim)
            return FAIL(m, SIGEO_ERR_INVALID_ARG,
                        "sigeo_model_add_layer: zero '%s' with units 0 is shaped like its input; leave shape zero",
                        d->name);
        if (in->max_width < 1)
            return FAIL(m, SIGEO_ERR_SHAPE, "sigeo_model_add_layer: zero '%s': input '%s' has no features", d->name,
                        in->name);
        s = sigeo__node_shape(m, in);
        n->units = 0;
        n->max_width = in->max_width;
        n->max_runs = in->max_runs;
    } else {
        if (s.ndim && shape_numel(&s) != d->units)
            return FAIL(m, SIGEO_ERR_SHAPE, "sigeo_model_add_layer: zero '%s' shape holds %lld features, units %lld",
                        d->name, (long long)shape_numel(&s), (long long)d->units);
        n->units = n->max_width = d->units;
    }
    sigeo__node_set_shape(n, s.ndim, s.d);
    return SIGEO_OK;
}

static sigeo_status_t zero_infer(sigeo_model_t *m, sigeo__node_t *n)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    if (n->units > 0) {
        n->width = n->units;
        n->runs[0] = (sigeo__run_t){ 0, 0, n->width };
        n->n_runs = 1;
    } else {
        n->width = in->width;
        n->n_runs = in->n_runs;
        memcpy(n->runs, in->runs, (size_t)in->n_runs * sizeof *in->runs);
    }
    return SIGEO_OK;
}

static sigeo_status_t zero_forward(sigeo_model_t *m, sigeo__node_t *n, const sigeo_batch_t *b)
{
    (void)m;
    memset(n->out, 0, (size_t)(b->batch_size * n->width) * sizeof(float));
    return SIGEO_OK;
}

/* No backward: the output does not depend on the input. The input's
 * gradient is whatever its other consumers give (zero if none). */
static sigeo_status_t zero_jvp(sigeo_model_t *m, sigeo__node_t *n)
{
    memset(n->tangent, 0, (size_t)(m->batch * n->width) * sizeof(float));
    return SIGEO_OK;
}

const sigeo__op_t sigeo__op_zero = {
    .name = "zero", .configure = zero_configure, .infer = zero_infer, .forward = zero_forward, .jvp = zero_jvp,
};
