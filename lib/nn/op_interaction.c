/* DLRM dot-product interaction: for inputs z_0..z_{n-1} of equal width,
 * out = [z_i . z_j for i = 1..n-1, j = 0..i-1] (row-major lower triangle). */
#include <string.h>

#include "nn/graph.h"

static sigeo_status_t dot_configure(sigeo_model_t *m, sigeo__node_t *n, const sigeo_layer_desc_t *d)
{
    static const char fn[] = "sigeo_model_add_layer";
    const sigeo__node_t *in0 = &m->nodes[d->inputs[0]];
    sigeo_status_t st = SIGEO_OK;
    if (d->n_inputs < 2)
        return SIGEO__MODEL_FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: dot interaction '%s' needs at least 2 inputs", fn, d->name);
    for (uint32_t i = 0; i < d->n_inputs; i++)
        if (m->nodes[d->inputs[i]].max_width != in0->max_width)
            return SIGEO__MODEL_FAIL(m, SIGEO_ERR_SHAPE, "%s: dot interaction '%s': input %u has width %lld, input 0 has %lld",
                        fn, d->name, (unsigned)i, (long long)m->nodes[d->inputs[i]].max_width,
                        (long long)in0->max_width);
    n->max_width = (int64_t)d->n_inputs * ((int64_t)d->n_inputs - 1) / 2;
    return SIGEO_OK;
}

static sigeo_status_t dot_infer(sigeo_model_t *m, sigeo__node_t *n)
{
    const int64_t e = sigeo__input(m, n, 0)->width;
    for (int32_t i = 1; i < n->n_inputs; i++)
        if (sigeo__input(m, n, i)->width != e)
            return SIGEO__MODEL_FAIL(m, SIGEO_ERR_SHAPE,
                                     "dot interaction '%s': input %d is %lld wide under this architecture, input 0 %lld",
                                     n->name, (int)i, (long long)sigeo__input(m, n, i)->width, (long long)e);
    n->width = n->max_width;
    n->runs[0] = (sigeo__run_t){ 0, 0, n->width };
    n->n_runs = 1;
    return SIGEO_OK;
}

static sigeo_status_t dot_forward(sigeo_model_t *m, sigeo__node_t *n, const sigeo_batch_t *b)
{
    const int64_t B = b->batch_size, E = sigeo__input(m, n, 0)->width, W = n->width;
    for (int64_t r = 0; r < B; r++) {
        int64_t p = 0;
        for (int32_t i = 1; i < n->n_inputs; i++) {
            const float *zi = sigeo__input(m, n, i)->out + r * E;
            for (int32_t j = 0; j < i; j++) {
                const float *zj = sigeo__input(m, n, j)->out + r * E;
                double s = 0.0;
                for (int64_t k = 0; k < E; k++)
                    s += (double)zi[k] * (double)zj[k];
                n->out[r * W + p++] = (float)s;
            }
        }
    }
    return SIGEO_OK;
}

static sigeo_status_t dot_backward(sigeo_model_t *m, sigeo__node_t *n)
{
    const int64_t B = m->batch, E = sigeo__input(m, n, 0)->width, W = n->width;
    const int32_t N = n->n_inputs;
    /* Per-input gradients in scratch first: an input may appear twice. */
    sigeo_status_t st = sigeo__node_scratch(m, n, (size_t)(N * B * E) * sizeof(float));
    if (st != SIGEO_OK)
        return st;
    float *dz = n->scratch;
    memset(dz, 0, (size_t)(N * B * E) * sizeof(float));
    for (int64_t r = 0; r < B; r++) {
        int64_t p = 0;
        for (int32_t i = 1; i < N; i++) {
            const float *zi = sigeo__input(m, n, i)->out + r * E;
            for (int32_t j = 0; j < i; j++) {
                const float *zj = sigeo__input(m, n, j)->out + r * E;
                const float g = n->grad[r * W + p++];
                float *dzi = dz + ((int64_t)i * B + r) * E, *dzj = dz + ((int64_t)j * B + r) * E;
                for (int64_t k = 0; k < E; k++) {
                    dzi[k] += g * zj[k];
                    dzj[k] += g * zi[k];
                }
            }
        }
    }
    for (int32_t i = 0; i < N; i++) {
        sigeo__node_t *in = sigeo__input(m, n, i);
        if (in->kind == SIGEO__NODE_INPUT_DENSE)
            continue;
        bool acc;
        float *dx = sigeo__grad_target(in, &acc);
        const float *src = dz + (int64_t)i * B * E;
        if (acc)
            for (int64_t k = 0; k < B * E; k++)
                dx[k] += src[k];
        else
            memcpy(dx, src, (size_t)(B * E) * sizeof(float));
    }
    return SIGEO_OK;
}

const sigeo__op_t sigeo__op_dot_interaction = { "dot interaction", dot_configure, dot_infer, dot_forward, dot_backward };
