/* 2-D pooling (nn.MaxPool2d, nn.AvgPool2d with count_include_pad True or
 * False) and the
 * global average pool, through oneDNN's pooling primitives. Channels may be
 * elastic (the active first dim of the input's shape); each channel pools
 * on its own, so the input's runs carry over, scaled to the output plane. */
#include <string.h>

#include "nn/op_shape.h"

#define FAIL(m, status, ...) SIGEO__MODEL_FAIL(m, status, __VA_ARGS__)

enum { SLOT_FWD, SLOT_BWD, SLOT_JVP }; /* finalize gives at least 5 */

static sigeo_status_t pool_common(sigeo_model_t *m, sigeo__node_t *n, const sigeo_layer_desc_t *d, const char *what,
                                  sigeo__shape_t *s)
{
    if (d->n_inputs != 1)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "sigeo_model_add_layer: %s '%s' takes 1 input, got %u", what, d->name,
                    (unsigned)d->n_inputs);
    sigeo__node_t *in = &m->nodes[d->inputs[0]];
    *s = sigeo__node_shape(m, in);
    if (s->ndim != 3)
        return FAIL(m, SIGEO_ERR_SHAPE, "sigeo_model_add_layer: %s '%s': input '%s' (%lld features) has no (C, H, W) shape",
                    what, d->name, in->name, (long long)in->max_width);
    n->max_runs = in->max_runs;
    return SIGEO_OK;
}

static sigeo_status_t pool2d_configure(sigeo_model_t *m, sigeo__node_t *n, const sigeo_layer_desc_t *d)
{
    static const char fn[] = "sigeo_model_add_layer";
    sigeo__shape_t s;
    sigeo_status_t st = pool_common(m, n, d, "pool2d", &s);
    if (st != SIGEO_OK)
        return st;
    if (d->pooling != SIGEO_POOL_MEAN && d->pooling != SIGEO_POOL_MAX)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: pool2d '%s' pooling %d (want SIGEO_POOL_MEAN or SIGEO_POOL_MAX)", fn,
                    d->name, (int)d->pooling);
    int64_t out[2];
    for (int i = 0; i < 2; i++) {
        n->kernel[i] = d->kernel[i];
        n->stride[i] = d->stride[i] ? d->stride[i] : d->kernel[i];
        n->padding[i] = d->padding[i];
        if (n->kernel[i] < 1 || n->stride[i] < 1 || n->padding[i] < 0 || n->padding[i] > n->kernel[i] / 2)
            return FAIL(m, SIGEO_ERR_INVALID_ARG,
                        "%s: pool2d '%s' kernel %lldx%lld stride %lldx%lld padding %lldx%lld (padding at most half "
                        "the kernel)",
                        fn, d->name, (long long)d->kernel[0], (long long)d->kernel[1], (long long)d->stride[0],
                        (long long)d->stride[1], (long long)d->padding[0], (long long)d->padding[1]);
        int64_t span; /* padding <= kernel / 2 */
        if (!sigeo__add_elems(&span, s.d[1 + i], 2 * n->padding[i]))
            return FAIL(m, SIGEO_ERR_SHAPE, "%s: pool2d '%s': padding %lld makes the input %s over the limit of %lld",
                        fn, d->name, (long long)n->padding[i], i ? "width" : "height", (long long)SIGEO_MAX_ELEMENTS);
        if (span < n->kernel[i])
            return FAIL(m, SIGEO_ERR_SHAPE, "%s: pool2d '%s': kernel %lld exceeds the padded input %s %lld", fn,
                        d->name, (long long)n->kernel[i], i ? "width" : "height", (long long)span);
        out[i] = (span - n->kernel[i]) / n->stride[i] + 1;
    }
    if ((d->flags & SIGEO_LAYER_POOL_EXCLUDE_PAD) && d->pooling != SIGEO_POOL_MEAN)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: pool2d '%s': flag SIGEO_LAYER_POOL_EXCLUDE_PAD needs SIGEO_POOL_MEAN",
                    fn, d->name);
    n->pooling = d->pooling;
    int64_t plane;
    if (!sigeo__mul_elems(&plane, out[0], out[1]) || !sigeo__mul_elems(&n->max_width, s.d[0], plane))
        return FAIL(m, SIGEO_ERR_SHAPE, "%s: pool2d '%s': %lld channels of %lldx%lld exceed the limit of %lld features",
                    fn, d->name, (long long)s.d[0], (long long)out[0], (long long)out[1],
                    (long long)SIGEO_MAX_ELEMENTS);
    sigeo__node_set_shape(n, 3, (const int64_t[]){ s.d[0], out[0], out[1] });
    return SIGEO_OK;
}

static sigeo_status_t gap_configure(sigeo_model_t *m, sigeo__node_t *n, const sigeo_layer_desc_t *d)
{
    sigeo__shape_t s;
    sigeo_status_t st = pool_common(m, n, d, "global avg pool", &s);
    if (st != SIGEO_OK)
        return st;
    n->kernel[0] = n->stride[0] = s.d[1];
    n->kernel[1] = n->stride[1] = s.d[2];
    n->pooling = SIGEO_POOL_MEAN;
    n->max_width = s.d[0];
    sigeo__node_set_shape(n, 0, s.d);
    return SIGEO_OK;
}

static sigeo__pool_shape_t pool_shape(sigeo_model_t *m, sigeo__node_t *n, int64_t batch)
{
    const sigeo__shape_t in = sigeo__node_shape(m, sigeo__input(m, n, 0));
    const int64_t plane = n->shape_ndim == 3 ? n->shape[1] * n->shape[2] : 1;
    return (sigeo__pool_shape_t){
        .batch = batch, .channels = n->width / plane, .in_h = in.d[1], .in_w = in.d[2],
        .out_h = n->shape_ndim == 3 ? n->shape[1] : 1, .out_w = n->shape_ndim == 3 ? n->shape[2] : 1,
        .kernel = { n->kernel[0], n->kernel[1] }, .stride = { n->stride[0], n->stride[1] },
        .padding = { n->padding[0], n->padding[1] }, .max = n->pooling == SIGEO_POOL_MAX,
        .exclude_pad = (n->flags & SIGEO_LAYER_POOL_EXCLUDE_PAD) != 0,
    };
}

static sigeo_status_t pool_infer(sigeo_model_t *m, sigeo__node_t *n)
{
    sigeo__node_t *in = sigeo__input(m, n, 0);
    sigeo__shape_t s;
    sigeo_status_t st = sigeo__node_active_shape(&s, m, in, n);
    if (st != SIGEO_OK)
        return st;
    const int64_t in_plane = s.d[1] * s.d[2];
    const int64_t out_plane = n->shape_ndim == 3 ? n->shape[1] * n->shape[2] : 1;
    n->width = s.d[0] * out_plane;
    n->n_runs = in->n_runs;
    for (int32_t r = 0; r < in->n_runs; r++) {
        const sigeo__run_t *ir = &in->runs[r];
        if (ir->max_offset % in_plane || ir->active_offset % in_plane || ir->len % in_plane)
            return FAIL(m, SIGEO_ERR_SHAPE, "%s '%s': input '%s' has active features not in whole channels of %lld",
                        n->op->name, n->name, in->name, (long long)in_plane);
        n->runs[r] = (sigeo__run_t){ ir->max_offset / in_plane * out_plane, ir->active_offset / in_plane * out_plane,
                                     ir->len / in_plane * out_plane };
    }
    return SIGEO_OK;
}

static sigeo_status_t pool_forward(sigeo_model_t *m, sigeo__node_t *n, const sigeo_batch_t *b)
{
    const sigeo__pool_shape_t sh = pool_shape(m, n, b->batch_size);
    return sigeo__pool_forward(&n->slots[SLOT_FWD], m->engine, &sh, sigeo__input(m, n, 0)->out, n->out);
}

static sigeo_status_t pool_backward(sigeo_model_t *m, sigeo__node_t *n)
{
    sigeo__node_t *in = sigeo__input(m, n, 0);
    if (!sigeo__wants_grad(m, in))
        return SIGEO_OK;
    const sigeo__pool_shape_t sh = pool_shape(m, n, m->batch);
    const int64_t count = m->batch * in->width;
    bool acc;
    float *dx = sigeo__grad_target(in, &acc);
    float *target = dx;
    sigeo_status_t st;
    if (acc) {
        if ((st = sigeo__node_scratch(m, n, (size_t)count * sizeof(float))) != SIGEO_OK)
            return st;
        target = n->scratch;
    }
    st = sigeo__pool_backward(&n->slots[SLOT_BWD], m->engine, &sh, n->slots[SLOT_FWD], n->grad, target);
    if (st != SIGEO_OK)
        return st;
    if (acc)
        for (int64_t i = 0; i < count; i++)
            dx[i] += target[i];
    return SIGEO_OK;
}

/* Forward-mode pass. Average pooling is linear: the tangent is the same
 * pooling of the input's tangent (oneDNN, in its own slot so the forward's
 * stays built). Max pooling, in C, passes on the tangent of the window's
 * maximum (the first one in row-major window order, as oneDNN's
 * reference; ties do not occur with continuous data, and where they do,
 * e.g. all-zero ReLU windows, the tied entries' tangents are 0 too). No
 * parameters. */
static sigeo_status_t pool_jvp(sigeo_model_t *m, sigeo__node_t *n)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    const sigeo__pool_shape_t sh = pool_shape(m, n, m->batch);
    if (!sh.max)
        return sigeo__pool_forward(&n->slots[SLOT_JVP], m->engine, &sh, in->tangent, n->tangent);
    const int64_t in_plane = sh.in_h * sh.in_w, out_plane = sh.out_h * sh.out_w;
    for (int64_t p = 0; p < sh.batch * sh.channels; p++) {
        const float *x = in->out + p * in_plane, *xd = in->tangent + p * in_plane;
        float *t = n->tangent + p * out_plane;
        for (int64_t oh = 0; oh < sh.out_h; oh++)
            for (int64_t ow = 0; ow < sh.out_w; ow++) {
                const int64_t h0 = oh * sh.stride[0] - sh.padding[0], w0 = ow * sh.stride[1] - sh.padding[1];
                float best = 0.0f;
                int64_t arg = -1;
                for (int64_t kh = 0; kh < sh.kernel[0]; kh++) {
                    const int64_t h = h0 + kh;
                    if (h < 0 || h >= sh.in_h)
                        continue;
                    for (int64_t kw = 0; kw < sh.kernel[1]; kw++) {
                        const int64_t w = w0 + kw, k = h * sh.in_w + w;
                        if (w >= 0 && w < sh.in_w && (arg < 0 || x[k] > best)) {
                            best = x[k];
                            arg = k;
                        }
                    }
                }
                t[oh * sh.out_w + ow] = arg >= 0 ? xd[arg] : 0.0f;
            }
    }
    return SIGEO_OK;
}

/* tensorwatch: 0; NB201 (xautodl): kh*kw per output element, average and max alike. */
static int64_t pool2d_flops(const sigeo_model_t *m, const sigeo__node_t *n)
{
    return m->flops_convention == SIGEO_FLOPS_NB201 ? n->kernel[0] * n->kernel[1] * n->width : 0;
}

const sigeo__op_t sigeo__op_pool2d = {
    .name = "pool2d", .configure = pool2d_configure, .infer = pool_infer,
    .forward = pool_forward, .backward = pool_backward, .flops = pool2d_flops, .jvp = pool_jvp,
};

const sigeo__op_t sigeo__op_global_avg_pool = {
    .name = "global avg pool", .configure = gap_configure, .infer = pool_infer,
    .forward = pool_forward, .backward = pool_backward, .jvp = pool_jvp,
};
