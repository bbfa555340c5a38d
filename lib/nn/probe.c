/* The proxy layer's view of a model (probe.h). */
#include <string.h>

#include "nn/graph.h"
#include "nn/op_batchnorm.h"
#include "nn/op_shape.h"
#include "nn/probe.h"

int32_t sigeo__probe_module_count(const sigeo_model_t *m)
{
    return m->n_modules;
}

void sigeo__probe_module(sigeo__probe_module_t *out, const sigeo_model_t *m, int32_t module)
{
    const sigeo__module_t *mod = &m->modules[module];
    const sigeo__param_t *first = &m->params[mod->first_param];
    const sigeo__node_t *node = &m->nodes[first->node];
    out->name = node->name;
    out->active = node->active;
    out->numel = mod->numel;
    out->data = mod->data;
    out->grad = mod->grad;
    /* All of them fit: sigeo__model_add_param refuses more (probe.h). */
    out->n_params = mod->n_params;
    out->first_param = mod->first_param;
    out->node = first->node;
    int64_t off = 0;
    for (int32_t i = 0; i < mod->n_params; i++) {
        const sigeo__param_t *p = &m->params[mod->first_param + i];
        out->params[i] = (sigeo__probe_param_t){ p->kind, off, p->numel, p->active_numel };
        off += p->numel;
    }
}

void sigeo__probe_collect_directional(sigeo_model_t *m, bool on)
{
    m->collect_directional = on;
}

const double *sigeo__probe_directional(const sigeo_model_t *m)
{
    return m->directional;
}

bool sigeo__probe_couples_samples(const sigeo_model_t *m)
{
    for (int32_t i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].active && m->nodes[i].op->couples_samples && m->nodes[i].op->couples_samples(m, &m->nodes[i]))
            return true;
    return false;
}

sigeo_context_t *sigeo__probe_context(const sigeo_model_t *m)
{
    return m->ctx;
}

sigeo__rng_t *sigeo__probe_model_rng(sigeo_model_t *m)
{
    return sigeo__model_rng(m);
}

sigeo__errbuf_t *sigeo__probe_errbuf(sigeo_model_t *m)
{
    return &m->err;
}

void *sigeo__probe_attachment(const sigeo_model_t *m)
{
    return m->attachment;
}

void sigeo__probe_attach(sigeo_model_t *m, void *attachment, void (*destroy)(void *attachment))
{
    if (m->attachment && m->attachment_destroy)
        m->attachment_destroy(m->attachment);
    m->attachment = attachment;
    m->attachment_destroy = destroy;
}

int32_t sigeo__probe_param_count(const sigeo_model_t *m)
{
    return m->n_params;
}

void sigeo__probe_param(sigeo__probe_tensor_t *out, sigeo_model_t *m, int32_t param)
{
    sigeo__param_t *p = &m->params[param];
    out->name = p->name;
    out->kind = p->kind;
    out->active = m->nodes[p->node].active;
    out->numel = p->numel;
    out->data = p->data;
    out->grad = p->grad;
    if (p->kind == SIGEO_PARAM_EMBEDDING) {
        out->rows = p->dims[0];
        out->row_size = p->dims[1];
        out->dirty_rows = p->dirty_rows;
        out->n_dirty_rows = p->n_dirty_rows;
    } else {
        out->rows = 1;
        out->row_size = p->numel;
        out->dirty_rows = NULL;
        out->n_dirty_rows = 0;
    }
}

void sigeo__probe_loss_output(const float **out, int64_t *batch, int64_t *width, int32_t *loss_kind,
                              const sigeo_model_t *m)
{
    const sigeo__node_t *n = &m->nodes[m->loss_node];
    *out = n->out;
    *batch = m->batch;
    *width = n->width;
    *loss_kind = m->loss_kind;
}

/* ------------------------------------------------ for the baseline proxies */

float *sigeo__probe_module_data(sigeo_model_t *m, int32_t module)
{
    return m->modules[module].data;
}

sigeo_status_t sigeo__probe_active_mask(uint8_t *mask, sigeo_model_t *m, int32_t module, int32_t param)
{
    const sigeo__module_t *mod = &m->modules[module];
    const sigeo__param_t *p = &m->params[mod->first_param + param];
    const sigeo__node_t *n = &m->nodes[p->node];
    const bool on = n->active && p->active_numel > 0;
    if (!on || p->active_numel == p->numel) {
        memset(mask, on ? 1 : 0, (size_t)p->numel);
        return SIGEO_OK;
    }
    memset(mask, 0, (size_t)p->numel);
    /* Where the active elements are is the op's knowledge (graph.h, param_slice). */
    const sigeo__param_slice_t sl = sigeo__param_slice(m, p);
    int64_t count = 0;
    if (sl.kind == SIGEO__SLICE_INPUT_RUNS && p->ndim == 2) {
        const sigeo__node_t *in = &m->nodes[n->inputs[0]];
        const int64_t cols = p->dims[1];
        for (int64_t r = 0; r < sl.rows; r++)
            for (int32_t k = 0; k < in->n_runs; k++) {
                const int64_t c0 = in->runs[k].max_offset / sl.unit, len = in->runs[k].len / sl.unit;
                memset(mask + r * cols + c0, 1, (size_t)len);
                count += len;
            }
    } else if (sl.kind == SIGEO__SLICE_OWN_RUNS) {
        for (int32_t k = 0; k < n->n_runs; k++) {
            const int64_t e0 = n->runs[k].max_offset / sl.unit, len = n->runs[k].len / sl.unit;
            memset(mask + e0, 1, (size_t)len);
            count += len;
        }
    } else {
        memset(mask, 1, (size_t)p->active_numel);
        count = p->active_numel;
    }
    if (count != p->active_numel)
        return sigeo__fail_on(&m->err, SIGEO_ERR_INTERNAL,
                              "parameter '%s': the active slice has %lld elements, the layer reports %lld", p->name,
                              (long long)count, (long long)p->active_numel);
    return SIGEO_OK;
}

int32_t sigeo__probe_node_count(const sigeo_model_t *m)
{
    return m->n_nodes;
}

void sigeo__probe_node(sigeo__probe_node_t *out, sigeo_model_t *m, int32_t node)
{
    sigeo__node_t *n = &m->nodes[node];
    out->name = n->name;
    out->kind = n->kind == SIGEO__NODE_INPUT_DENSE    ? SIGEO__PROBE_INPUT_DENSE
                : n->kind == SIGEO__NODE_INPUT_SPARSE ? SIGEO__PROBE_INPUT_SPARSE
                                                      : n->kind;
    out->activation = n->activation;
    out->module = n->module;
    out->active = n->active;
    out->flags = n->flags;
    out->n_inputs = n->n_inputs;
    out->inputs = n->inputs;
    out->width = n->active ? n->width : 0;
    sigeo__shape_t s = n->kind == SIGEO__NODE_INPUT_SPARSE ? (sigeo__shape_t){ 0, { 0, 0, 0 } }
                                                           : sigeo__node_shape(m, n);
    const int64_t inner = sigeo__shape_inner(&s);
    if (s.ndim >= 2 && inner > 0 && out->width % inner == 0) {
        out->shape_ndim = s.ndim;
        out->channels = out->width / inner;
        out->positions = inner;
        out->spatial[0] = s.ndim == 3 ? s.d[1] : out->channels;
        out->spatial[1] = s.ndim == 3 ? s.d[2] : 1;
    } else {
        out->shape_ndim = 0;
        out->channels = out->width;
        out->positions = 1;
        out->spatial[0] = out->spatial[1] = 1;
    }
    out->out = n->active ? n->out : NULL;
    out->grad = n->active ? n->grad : NULL;
    out->field = n->field;
}

bool sigeo__probe_input_on(const sigeo_model_t *m, int32_t node, int32_t i)
{
    const sigeo__node_t *n = &m->nodes[node];
    if (n->op->input_on)
        return n->op->input_on(m, n, i);
    return sigeo__input_on(m, n, i);
}

int32_t sigeo__probe_loss_node(const sigeo_model_t *m, int32_t *loss_kind)
{
    if (loss_kind)
        *loss_kind = m->loss_kind;
    return m->loss_node;
}

int64_t sigeo__probe_batch(const sigeo_model_t *m)
{
    return m->batch;
}

bool sigeo__probe_batch_norm(sigeo__probe_bn_t *out, sigeo_model_t *m, int32_t node)
{
    sigeo__node_t *n = &m->nodes[node];
    if (!sigeo__batch_norm_buffers(n, &out->running_mean, &out->running_var, &out->num_batches_tracked))
        return false;
    out->channels = n->units;
    out->flags = &n->flags;
    out->gamma = m->params[n->param[0]].data;
    out->beta = m->params[n->param[1]].data;
    return true;
}

int64_t sigeo__probe_batch_norm_channels(int64_t *idx, int64_t capacity, const sigeo_model_t *m, int32_t node)
{
    const sigeo__node_t *n = &m->nodes[node];
    if (n->kind != SIGEO_LAYER_BATCH_NORM || !n->active)
        return 0;
    int64_t S = 1;
    for (int32_t i = 1; i < n->shape_ndim; i++)
        S *= n->shape[i];
    int64_t count = 0;
    for (int32_t r = 0; r < n->n_runs; r++)
        for (int64_t k = 0; k < n->runs[r].len; k += S, count++)
            if (count < capacity)
                idx[count] = (n->runs[r].max_offset + k) / S;
    return count;
}

int32_t sigeo__probe_head_module(const sigeo_model_t *m)
{
    return m->loss_node >= 0 ? m->nodes[m->loss_node].module : -1;
}

void sigeo__probe_directional_head_only(sigeo_model_t *m, bool on)
{
    m->directional_node = on ? m->loss_node : -1;
}
