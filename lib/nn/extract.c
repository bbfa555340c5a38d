/* Standalone models of one architecture (sigeo_model_extract) and the
 * parameter / FLOP counts of an architecture. */
#include <string.h>

#include "nn/graph.h"
#include "nn/op_batchnorm.h"

#define FAIL(m, status, ...) SIGEO__MODEL_FAIL(m, status, __VA_ARGS__)

/* Runs `fn` with `arch` active and restores the previous architecture. */
static sigeo_status_t with_arch(sigeo_model_t *m, const int32_t *arch, int32_t n, const char *fname,
                                sigeo_status_t (*fn)(sigeo_model_t *m, void *user), void *user)
{
    if (!m->finalized)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: model '%s' is not finalised", fname, m->name);
    if (n != m->n_choices || (!arch && n > 0))
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: architecture has %d entries, model '%s' has %d choice points",
                    fname, (int)n, m->name, (int)m->n_choices);
    /* Activation validates (ranges, groups, routing) and rolls back on
     * failure itself; the previous architecture waits in arch_keep (neither
     * fn touches it), so counting the candidates of a budgeted search
     * allocates nothing and routes once each way. */
    if (n)
        memcpy(m->arch_keep, m->arch, (size_t)n * sizeof *m->arch);
    const bool had_forward = m->have_forward;
    const bool same = n == 0 || memcmp(m->arch_keep, arch, (size_t)n * sizeof *arch) == 0;
    sigeo_status_t st = sigeo__model_activate(m, arch);
    if (st != SIGEO_OK)
        return st;
    st = fn(m, user);
    if (n)
        sigeo__model_activate(m, m->arch_keep);
    m->have_forward = had_forward && same;
    return st;
}

typedef struct counts {
    int64_t params, flops;
} counts_t;

static sigeo_status_t count_active(sigeo_model_t *m, void *user)
{
    counts_t *c = user;
    c->params = c->flops = 0;
    for (int32_t i = 0; i < m->n_params; i++)
        c->params = sigeo__sat_add_i64(c->params, m->params[i].active_numel);
    for (int32_t i = 0; i < m->n_nodes; i++) {
        const sigeo__node_t *n = &m->nodes[i];
        if (n->active && n->op->flops)
            c->flops = sigeo__sat_add_i64(c->flops, n->op->flops(m, n));
    }
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_model_set_flops_convention(sigeo_model_t *m, int32_t convention)
{
    if (!m)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_model_set_flops_convention: model is NULL");
    if (convention != SIGEO_FLOPS_TENSORWATCH && convention != SIGEO_FLOPS_NB201)
        return FAIL(m, SIGEO_ERR_INVALID_ARG,
                    "sigeo_model_set_flops_convention: unknown convention %d (SIGEO_FLOPS_TENSORWATCH 0, "
                    "SIGEO_FLOPS_NB201 1)",
                    (int)convention);
    m->flops_convention = convention;
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_model_count(int64_t *params_out, int64_t *flops_out, sigeo_model_t *m,
                                           const int32_t *arch, int32_t n)
{
    if (!m)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_model_count: model is NULL");
    counts_t c;
    sigeo_status_t st = with_arch(m, arch, n, "sigeo_model_count", count_active, &c);
    if (st != SIGEO_OK)
        return st;
    if (params_out)
        *params_out = c.params;
    if (flops_out)
        *flops_out = c.flops;
    return SIGEO_OK;
}

void sigeo__standalone_width_of_input(const sigeo_model_t *m, const sigeo__node_t *node, sigeo_layer_desc_t *d)
{
    (void)m;
    (void)node;
    d->units = 0;
}

typedef struct extract_job {
    sigeo_model_t *out;
    bool inherit;
} extract_job_t;

/* Copies the active slice of supernet parameter `src` into the standalone
 * parameter `dst`, where the op's param_slice says it is (graph.h):
 *  - INPUT_RUNS (2-D weights reading a layer input: linear, token linear,
 *    gating): rows = the first active outputs, columns = the input's runs;
 *  - OWN_RUNS (norm affine entries) through the node's own runs;
 *  - PREFIX: the first entries (biases of elastic layers). */
static void copy_slice(const sigeo_model_t *m, const sigeo__param_t *src, sigeo__param_t *dst)
{
    const sigeo__node_t *n = &m->nodes[src->node];
    if (src->numel == dst->numel) {
        memcpy(dst->data, src->data, (size_t)dst->numel * sizeof(float));
        return;
    }
    const sigeo__param_slice_t sl = sigeo__param_slice(m, src);
    if (sl.kind == SIGEO__SLICE_INPUT_RUNS && src->ndim == 2) {
        const sigeo__node_t *in = &m->nodes[n->inputs[0]];
        const int64_t in_max = src->dims[1], in_w = dst->dims[1];
        for (int64_t r = 0; r < dst->dims[0]; r++)
            for (int32_t k = 0; k < in->n_runs; k++)
                memcpy(dst->data + r * in_w + in->runs[k].active_offset / sl.unit,
                       src->data + r * in_max + in->runs[k].max_offset / sl.unit,
                       (size_t)(in->runs[k].len / sl.unit) * sizeof(float));
        return;
    }
    if (sl.kind == SIGEO__SLICE_OWN_RUNS) {
        for (int32_t k = 0; k < n->n_runs; k++)
            memcpy(dst->data + n->runs[k].active_offset / sl.unit, src->data + n->runs[k].max_offset / sl.unit,
                   (size_t)(n->runs[k].len / sl.unit) * sizeof(float));
        return;
    }
    memcpy(dst->data, src->data, (size_t)dst->numel * sizeof(float));
}

/* The batch-norm running statistics follow their channels like gamma. */
static void copy_buffers(sigeo_model_t *m, sigeo__node_t *n, sigeo__node_t *x)
{
    float *rm, *rv, *xm, *xv;
    int64_t *nb, *xnb;
    if (!sigeo__batch_norm_buffers(n, &rm, &rv, &nb) || !sigeo__batch_norm_buffers(x, &xm, &xv, &xnb))
        return;
    /* the running statistics sit per channel like gamma (slot 0) */
    const int64_t unit = sigeo__param_slice(m, &m->params[n->param[0]]).unit;
    for (int32_t k = 0; k < n->n_runs; k++) {
        memcpy(xm + n->runs[k].active_offset / unit, rm + n->runs[k].max_offset / unit,
               (size_t)(n->runs[k].len / unit) * sizeof(float));
        memcpy(xv + n->runs[k].active_offset / unit, rv + n->runs[k].max_offset / unit,
               (size_t)(n->runs[k].len / unit) * sizeof(float));
    }
    *xnb = *nb;
}

static sigeo_status_t build_standalone(sigeo_model_t *m, void *user)
{
    extract_job_t *job = user;
    sigeo_model_t *x;
    sigeo_status_t st = sigeo_model_create(&x, m->ctx, m->name);
    if (st != SIGEO_OK)
        return sigeo__propagate(&m->err, st);
    int32_t *map = sigeo__calloc((size_t)m->n_nodes, sizeof *map); /* supernet node -> standalone node */
    int32_t *ins = sigeo__calloc((size_t)(m->n_nodes > 0 ? m->n_nodes : 1), sizeof *ins);
    if (!map || !ins) {
        st = FAIL(m, SIGEO_ERR_NO_MEMORY, "sigeo_model_extract: out of memory");
        goto done;
    }
    for (int32_t i = 0; i < m->n_nodes && st == SIGEO_OK; i++) {
        const sigeo__node_t *n = &m->nodes[i];
        map[i] = -1;
        if (!n->active)
            continue;
        if (n->op->input) {
            sigeo_input_desc_t d = n->input_desc;
            d.name = n->name;
            st = sigeo_model_add_input(&map[i], x, &d);
            continue;
        }
        const int32_t alias = n->op->standalone_alias ? n->op->standalone_alias(m, n) : -1;
        if (alias >= 0) { /* e.g. an op choice collapses to the chosen branch */
            map[i] = map[n->inputs[alias]];
            continue;
        }
        sigeo_layer_desc_t d = n->desc;
        d.name = n->name;
        uint32_t k = 0;
        for (int32_t j = 0; j < n->n_inputs; j++)
            if (sigeo__input_on(m, n, j))
                ins[k++] = map[n->inputs[j]];
        d.inputs = ins;
        d.n_inputs = k;
        d.input_choices = NULL;
        d.width_choice = -1;
        d.choice = -1;
        if (n->op->standalone_desc)
            n->op->standalone_desc(m, n, &d);
        st = sigeo_model_add_layer(&map[i], x, &d);
    }
    if (st == SIGEO_OK)
        st = sigeo_model_set_loss(x, map[m->loss_node], (sigeo_loss_kind_t)m->loss_kind);
    if (st == SIGEO_OK)
        st = sigeo__model_carry_blocks(x, m, map);
    if (st == SIGEO_OK)
        st = sigeo_model_finalize(x);
    if (st == SIGEO_OK)
        x->flops_convention = m->flops_convention;
    if (st != SIGEO_OK) {
        sigeo__propagate(&m->err, st);
        goto done;
    }
    if (job->inherit) {
        for (int32_t p = 0; p < x->n_params; p++) {
            int32_t src;
            if (sigeo_model_find_param(&src, m, x->params[p].name) != SIGEO_OK) {
                st = FAIL(m, SIGEO_ERR_INTERNAL, "sigeo_model_extract: parameter '%s' lost", x->params[p].name);
                goto done;
            }
            copy_slice(m, &m->params[src], &x->params[p]);
        }
        for (int32_t i = 0; i < m->n_nodes; i++)
            if (map[i] >= 0) /* a no-op for nodes without batch-norm buffers */
                copy_buffers(m, &m->nodes[i], &x->nodes[map[i]]);
    }
done:
    sigeo__free(map);
    sigeo__free(ins);
    if (st != SIGEO_OK) {
        sigeo_model_destroy(x);
        return st;
    }
    job->out = x;
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_model_extract(sigeo_model_t **out, sigeo_model_t *m, const int32_t *arch, int32_t n,
                                             int inherit_weights)
{
    if (!out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_model_extract: out is NULL");
    *out = NULL;
    if (!m)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_model_extract: model is NULL");
    extract_job_t job = { NULL, inherit_weights != 0 };
    sigeo_status_t st = with_arch(m, arch, n, "sigeo_model_extract", build_standalone, &job);
    if (st == SIGEO_OK)
        *out = job.out;
    return st;
}
