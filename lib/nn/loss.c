/* Losses: softmax cross-entropy, BCE with logits, MSE. Per-sample values
 * are kept; the batch loss is their mean (PyTorch's default reduction), so
 * the gradient seeded into the loss node carries the 1/B. */
#include <math.h>
#include <string.h>

#include "nn/graph.h"

#define FAIL(m, status, ...) SIGEO__MODEL_FAIL(m, status, __VA_ARGS__)

sigeo_status_t sigeo__loss_check(sigeo_model_t *m, const sigeo_batch_t *b)
{
    const sigeo__node_t *out = &m->nodes[m->loss_node];
    if (m->loss_kind == SIGEO_LOSS_SOFTMAX_CE) {
        if (!b->labels)
            return FAIL(m, SIGEO_ERR_INVALID_ARG, "softmax cross-entropy needs batch->labels");
        for (int64_t n = 0; n < b->batch_size; n++)
            if (b->labels[n] < 0 || b->labels[n] >= out->width)
                return FAIL(m, SIGEO_ERR_INVALID_ARG, "label %d in batch row %lld is outside 0..%lld (classes of '%s')",
                            (int)b->labels[n], (long long)n, (long long)out->width - 1, out->name);
        return SIGEO_OK;
    }
    if (!b->targets)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s needs batch->targets",
                    m->loss_kind == SIGEO_LOSS_MSE ? "MSE" : "BCE with logits");
    if (b->n_targets != out->width)
        return FAIL(m, SIGEO_ERR_SHAPE, "batch->n_targets is %lld, the loss node '%s' has width %lld",
                    (long long)b->n_targets, out->name, (long long)out->width);
    for (int64_t k = 0; k < b->batch_size * b->n_targets; k++) {
        float t = b->targets[k];
        if (!isfinite(t))
            return FAIL(m, SIGEO_ERR_NONFINITE, "target %lld of batch row %lld is %g", (long long)(k % b->n_targets),
                        (long long)(k / b->n_targets), (double)t);
        if (m->loss_kind == SIGEO_LOSS_BCE_WITH_LOGITS && (t < 0.0f || t > 1.0f))
            return FAIL(m, SIGEO_ERR_INVALID_ARG, "BCE target %g in batch row %lld is outside [0, 1]", (double)t,
                        (long long)(k / b->n_targets));
    }
    return SIGEO_OK;
}

static sigeo_status_t ensure_targets(sigeo_model_t *m, int64_t count)
{
    size_t bytes = (size_t)count * sizeof(float);
    float *t = sigeo__alloc(bytes);
    if (!t)
        return FAIL(m, SIGEO_ERR_NO_MEMORY, "out of memory for %lld targets", (long long)count);
    sigeo__free(m->targets);
    m->targets = t;
    return SIGEO_OK;
}

sigeo_status_t sigeo__loss_forward(sigeo_model_t *m, const sigeo_batch_t *b)
{
    const sigeo__node_t *out = &m->nodes[m->loss_node];
    const int64_t B = b->batch_size, W = out->width;
    const int64_t n_targets = m->loss_kind == SIGEO_LOSS_SOFTMAX_CE ? B : B * W;
    /* Targets are kept for the backward; reallocated only when they grow. */
    if (!m->targets || m->targets_cap < n_targets) {
        sigeo_status_t st = ensure_targets(m, n_targets);
        if (st != SIGEO_OK)
            return st;
        m->targets_cap = n_targets;
    }
    double total = 0.0;
    for (int64_t n = 0; n < B; n++) {
        const float *z = out->out + n * W;
        double l = 0.0;
        if (m->loss_kind == SIGEO_LOSS_SOFTMAX_CE) {
            double zmax = z[0];
            for (int64_t j = 1; j < W; j++)
                zmax = z[j] > zmax ? z[j] : zmax;
            double se = 0.0;
            for (int64_t j = 0; j < W; j++)
                se += exp((double)z[j] - zmax);
            l = zmax + log(se) - (double)z[b->labels[n]];
            m->targets[n] = (float)b->labels[n];
        } else {
            for (int64_t j = 0; j < W; j++) {
                double x = z[j], t = b->targets[n * W + j];
                if (m->loss_kind == SIGEO_LOSS_BCE_WITH_LOGITS)
                    l += (x > 0 ? x : 0.0) - x * t + log1p(exp(-fabs(x)));
                else
                    l += (x - t) * (x - t);
                m->targets[n * W + j] = (float)t;
            }
            l /= (double)W;
        }
        if (!isfinite(l))
            return FAIL(m, SIGEO_ERR_NONFINITE, "loss of batch row %lld is %g (output '%s' diverged)", (long long)n, l,
                        out->name);
        m->sample_loss[n] = (float)l;
        total += l;
    }
    m->loss = total / (double)B;
    return SIGEO_OK;
}

void sigeo__loss_backward(sigeo_model_t *m)
{
    sigeo__node_t *out = &m->nodes[m->loss_node];
    const int64_t B = m->batch, W = out->width;
    const double inv_b = 1.0 / (double)B;
    float *g = out->grad;
    for (int64_t n = 0; n < B; n++) {
        const float *z = out->out + n * W;
        float *gr = g + n * W;
        if (m->loss_kind == SIGEO_LOSS_SOFTMAX_CE) {
            double zmax = z[0];
            for (int64_t j = 1; j < W; j++)
                zmax = z[j] > zmax ? z[j] : zmax;
            double se = 0.0;
            for (int64_t j = 0; j < W; j++)
                se += exp((double)z[j] - zmax);
            int64_t y = (int64_t)m->targets[n];
            for (int64_t j = 0; j < W; j++)
                gr[j] = (float)((exp((double)z[j] - zmax) / se - (j == y ? 1.0 : 0.0)) * inv_b);
        } else {
            const double scale = inv_b / (double)W;
            for (int64_t j = 0; j < W; j++) {
                double x = z[j], t = m->targets[n * W + j];
                double d = m->loss_kind == SIGEO_LOSS_BCE_WITH_LOGITS ? 1.0 / (1.0 + exp(-x)) - t : 2.0 * (x - t);
                gr[j] = (float)(d * scale);
            }
        }
    }
    out->grad_written = true;
}

/* The per-sample gradient of sigeo__loss_backward without its 1/B: the
 * forward-mode pass (jvp.c) needs dl_n/dz_n . zdot_n of one sample. */
double sigeo__loss_row_directional(const sigeo_model_t *m, int64_t n, const float *zdot)
{
    const sigeo__node_t *out = &m->nodes[m->loss_node];
    const int64_t W = out->width;
    const float *z = out->out + n * W;
    double s = 0.0;
    if (m->loss_kind == SIGEO_LOSS_SOFTMAX_CE) {
        double zmax = z[0];
        for (int64_t j = 1; j < W; j++)
            zmax = z[j] > zmax ? z[j] : zmax;
        double se = 0.0;
        for (int64_t j = 0; j < W; j++)
            se += exp((double)z[j] - zmax);
        const int64_t y = (int64_t)m->targets[n];
        for (int64_t j = 0; j < W; j++)
            s += (exp((double)z[j] - zmax) / se - (j == y ? 1.0 : 0.0)) * (double)zdot[j];
        return s;
    }
    for (int64_t j = 0; j < W; j++) {
        const double x = z[j], t = m->targets[n * W + j];
        const double d = m->loss_kind == SIGEO_LOSS_BCE_WITH_LOGITS ? 1.0 / (1.0 + exp(-x)) - t : 2.0 * (x - t);
        s += d * (double)zdot[j];
    }
    return s / (double)W;
}
