/* The proxy layer's view of a model (probe.h). */
#include "nn/graph.h"
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
    out->n_params = mod->n_params < 4 ? mod->n_params : 4;
    int64_t off = 0;
    for (int32_t i = 0; i < mod->n_params; i++) {
        const sigeo__param_t *p = &m->params[mod->first_param + i];
        if (i < 4)
            out->params[i] = (sigeo__probe_param_t){ p->kind, off, p->numel };
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
