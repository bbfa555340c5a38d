/* sigeo_model_t: the builder, parameters and modules, choice points and
 * architecture activation. Running the tape is in tape.c; the ops in op_*.c. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "core/rng.h"
#include "nn/graph.h"
#include "nn/probe.h"

#define FAIL(m, status, ...) SIGEO__MODEL_FAIL(m, status, __VA_ARGS__)

SIGEO_API sigeo_status_t sigeo_input_desc_init(sigeo_input_desc_t *desc, uint32_t struct_size)
{
    static const sigeo_input_desc_t defaults = SIGEO_INPUT_DESC_INIT;
    return sigeo__struct_init(desc, struct_size, &defaults, sizeof defaults, "sigeo_input_desc");
}

SIGEO_API sigeo_status_t sigeo_layer_desc_init(sigeo_layer_desc_t *desc, uint32_t struct_size)
{
    static const sigeo_layer_desc_t defaults = SIGEO_LAYER_DESC_INIT;
    return sigeo__struct_init(desc, struct_size, &defaults, sizeof defaults, "sigeo_layer_desc");
}

SIGEO_API sigeo_status_t sigeo_param_info_init(sigeo_param_info_t *info, uint32_t struct_size)
{
    static const sigeo_param_info_t defaults = SIGEO_PARAM_INFO_INIT;
    return sigeo__struct_init(info, struct_size, &defaults, sizeof defaults, "sigeo_param_info");
}

SIGEO_API sigeo_status_t sigeo_model_create(sigeo_model_t **out, sigeo_context_t *ctx, const char *name)
{
    if (!out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_model_create: out is NULL");
    *out = NULL;
    if (!ctx)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_model_create: ctx is NULL");
    sigeo__engine_t *engine;
    sigeo_status_t st = sigeo__engine_open(&engine, ctx);
    if (st != SIGEO_OK)
        return sigeo__context_propagate(ctx, st);
    sigeo_model_t *m = sigeo__calloc(1, sizeof *m);
    if (!m) {
        sigeo__engine_close(engine);
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "sigeo_model_create: out of memory");
    }
    m->ctx = ctx;
    m->engine = engine;
    m->loss_node = -1;
    m->directional_node = -1;
    m->name = sigeo__strdup(name ? name : "model");
    if (!m->name) {
        sigeo__engine_close(engine);
        sigeo__free(m);
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "sigeo_model_create: out of memory");
    }
    *out = m;
    return SIGEO_OK;
}

SIGEO_API void sigeo_model_destroy(sigeo_model_t *m)
{
    if (!m)
        return;
    if (m->attachment && m->attachment_destroy)
        m->attachment_destroy(m->attachment);
    for (int32_t i = 0; i < m->n_nodes; i++) {
        sigeo__node_t *n = &m->nodes[i];
        sigeo__free(n->name);
        sigeo__free(n->inputs);
        sigeo__free(n->input_choices);
        sigeo__free(n->runs);
        sigeo__free(n->out);
        sigeo__free(n->grad);
        sigeo__free(n->scratch);
        sigeo__free(n->tangent);
        sigeo__free(n->jvp_scratch);
        sigeo__free(n->r_grad);
        for (int32_t s = 0; s < n->n_slots; s++)
            sigeo__prim_slot_free(n->slots[s]);
        sigeo__free(n->slots);
    }
    for (int32_t i = 0; i < m->n_params; i++) {
        sigeo__free(m->params[i].name);
        sigeo__free(m->params[i].dirty_rows);
    }
    for (int32_t i = 0; i < m->n_choices; i++) {
        sigeo__free(m->choices[i].name);
        sigeo__free(m->choices[i].values);
    }
    for (int32_t i = 0; i < m->n_groups; i++) {
        sigeo__free(m->groups[i].name);
        sigeo__free(m->groups[i].points);
    }
    sigeo__free(m->groups);
    sigeo__free(m->nodes);
    sigeo__free(m->params);
    sigeo__free(m->choices);
    for (int32_t i = 0; m->modules && i < m->n_modules; i++) {
        sigeo__free(m->modules[i].data);
        sigeo__free(m->modules[i].grad);
    }
    sigeo__free(m->modules);
    sigeo__free(m->arch);
    sigeo__free(m->arch_saved);
    sigeo__free(m->arch_keep);
    sigeo__free(m->blocks);
    sigeo__free(m->sample_loss);
    sigeo__free(m->targets);
    sigeo__free(m->directional);
    sigeo__free(m->name);
    sigeo__engine_close(m->engine);
    sigeo__free(m);
}

/* ------------------------------------------------------------- building */

static sigeo_status_t check_building(sigeo_model_t *m, const char *fn)
{
    if (m->finalized)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: model '%s' is already finalised", fn, m->name);
    return SIGEO_OK;
}

static bool name_taken(const sigeo_model_t *m, const char *name)
{
    for (int32_t i = 0; i < m->n_nodes; i++)
        if (strcmp(m->nodes[i].name, name) == 0)
            return true;
    return false;
}

/* Appends a zeroed node with a copied name; on failure nothing changes. */
static sigeo_status_t new_node(sigeo__node_t **out, sigeo_model_t *m, const char *name, const char *fn)
{
    if (!name || !name[0])
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: node %d needs a non-empty name", fn, (int)m->n_nodes);
    if (name_taken(m, name))
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: a node named '%s' already exists", fn, name);
    if (m->n_nodes == m->cap_nodes) {
        int32_t cap = m->cap_nodes ? m->cap_nodes * 2 : 16;
        sigeo__node_t *grown = sigeo__realloc_array(m->nodes, (size_t)m->n_nodes, (size_t)cap, sizeof *grown);
        if (!grown)
            return FAIL(m, SIGEO_ERR_NO_MEMORY, "%s: out of memory adding node '%s'", fn, name);
        m->nodes = grown;
        m->cap_nodes = cap;
    }
    char *copy = sigeo__strdup(name);
    if (!copy)
        return FAIL(m, SIGEO_ERR_NO_MEMORY, "%s: out of memory adding node '%s'", fn, name);
    sigeo__node_t *n = &m->nodes[m->n_nodes];
    memset(n, 0, sizeof *n);
    n->name = copy;
    n->param[0] = n->param[1] = -1;
    n->module = -1;
    n->width_choice = n->choice = -1;
    *out = n;
    return SIGEO_OK;
}

static void drop_last_node(sigeo_model_t *m)
{
    sigeo__node_t *n = &m->nodes[m->n_nodes];
    sigeo__free(n->name);
    sigeo__free(n->inputs);
    sigeo__free(n->input_choices);
    memset(n, 0, sizeof *n);
}

SIGEO_API sigeo_status_t sigeo_model_add_input(int32_t *node_out, sigeo_model_t *m, const sigeo_input_desc_t *desc)
{
    static const char fn[] = "sigeo_model_add_input";
    if (!m)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: model is NULL", fn);
    if (!desc)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: desc is NULL", fn);
    sigeo_status_t st = check_building(m, fn);
    if (st != SIGEO_OK)
        return st;
    sigeo_input_desc_t d = SIGEO_INPUT_DESC_INIT;
    if ((st = sigeo__struct_in(&d, sizeof d, desc, "sigeo_input_desc", &m->err)) != SIGEO_OK)
        return st;
    const char *name = d.name ? d.name : "";
    if (d.reserved0 != 0)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: input '%s' has reserved0 = %u (must be 0)", fn, name,
                    (unsigned)d.reserved0);
    if (d.kind == SIGEO_INPUT_DENSE) {
        if (d.features < 1)
            return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: dense input '%s' has %lld features (need >= 1)", fn, name,
                        (long long)d.features);
        if (d.features > SIGEO_MAX_ELEMENTS)
            return FAIL(m, SIGEO_ERR_SHAPE, "%s: dense input '%s' has %lld features, over the limit of %lld", fn,
                        name, (long long)d.features, (long long)SIGEO_MAX_ELEMENTS);
        if (d.shape[0] || d.shape[1] || d.shape[2]) {
            int64_t hw = 0, chw = 0;
            if (d.shape[0] < 1 || d.shape[1] < 1 || d.shape[2] < 1 || !sigeo__mul_elems(&hw, d.shape[1], d.shape[2]) ||
                !sigeo__mul_elems(&chw, d.shape[0], hw) || chw != d.features)
                return FAIL(m, SIGEO_ERR_SHAPE, "%s: input '%s' shape %lldx%lldx%lld does not match %lld features", fn,
                            name, (long long)d.shape[0], (long long)d.shape[1], (long long)d.shape[2],
                            (long long)d.features);
        }
    } else if (d.kind == SIGEO_INPUT_SPARSE) {
        if (d.field < 0)
            return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: sparse input '%s' has field %d (need >= 0)", fn, name,
                        (int)d.field);
    } else {
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: input '%s' has unknown kind %d", fn, name, (int)d.kind);
    }
    sigeo__node_t *n;
    if ((st = new_node(&n, m, d.name, fn)) != SIGEO_OK)
        return st;
    n->input_desc = d;
    n->input_desc.name = NULL;
    if (d.kind == SIGEO_INPUT_DENSE) {
        n->kind = SIGEO__NODE_INPUT_DENSE;
        n->op = &sigeo__op_input_dense;
        n->max_width = d.features;
        memcpy(n->shape, d.shape, sizeof n->shape);
    } else {
        n->kind = SIGEO__NODE_INPUT_SPARSE;
        n->op = &sigeo__op_input_sparse;
        n->field = d.field;
        n->max_width = 0;
    }
    n->max_runs = 1;
    if (node_out)
        *node_out = m->n_nodes;
    m->n_nodes++;
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_model_add_choice(int32_t *choice_out, sigeo_model_t *m, const char *name,
                                                int32_t n_options, const int64_t *values)
{
    static const char fn[] = "sigeo_model_add_choice";
    if (!m)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: model is NULL", fn);
    sigeo_status_t st = check_building(m, fn);
    if (st != SIGEO_OK)
        return st;
    if (!name || !name[0])
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: choice %d needs a non-empty name", fn, (int)m->n_choices);
    if (n_options < 1)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: choice '%s' has %d options (need >= 1)", fn, name, (int)n_options);
    for (int32_t i = 0; i < m->n_choices; i++)
        if (strcmp(m->choices[i].name, name) == 0)
            return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: a choice named '%s' already exists", fn, name);
    if (m->n_choices == m->cap_choices) {
        int32_t cap = m->cap_choices ? m->cap_choices * 2 : 16;
        sigeo__choice_t *grown = sigeo__realloc_array(m->choices, (size_t)m->n_choices, (size_t)cap, sizeof *grown);
        if (!grown)
            return FAIL(m, SIGEO_ERR_NO_MEMORY, "%s: out of memory", fn);
        m->choices = grown;
        m->cap_choices = cap;
    }
    sigeo__choice_t c = { sigeo__strdup(name), n_options, NULL };
    if (c.name && values) {
        c.values = sigeo__calloc((size_t)n_options, sizeof *c.values);
        if (c.values)
            memcpy(c.values, values, (size_t)n_options * sizeof *values);
    }
    if (!c.name || (values && !c.values)) {
        sigeo__free(c.name);
        sigeo__free(c.values);
        return FAIL(m, SIGEO_ERR_NO_MEMORY, "%s: out of memory", fn);
    }
    m->choices[m->n_choices] = c;
    if (choice_out)
        *choice_out = m->n_choices;
    m->n_choices++;
    return SIGEO_OK;
}

/* Appends a parameter; the data is allocated at finalize. */
sigeo_status_t sigeo__model_add_param(sigeo_model_t *m, sigeo__node_t *node, int slot, const char *suffix, int32_t kind,
                                      int32_t ndim, const int64_t *dims)
{
    if (m->n_params == m->cap_params) {
        int32_t cap = m->cap_params ? m->cap_params * 2 : 16;
        sigeo__param_t *grown = sigeo__realloc_array(m->params, (size_t)m->n_params, (size_t)cap, sizeof *grown);
        if (!grown)
            return FAIL(m, SIGEO_ERR_NO_MEMORY, "out of memory adding parameters of '%s'", node->name);
        m->params = grown;
        m->cap_params = cap;
    }
    /* A layer's parameters form one module, which the proxy layer sees
     * whole (probe.h): refuse, rather than cut, one that does not fit. */
    int32_t own = 0;
    for (int32_t i = m->n_params - 1; i >= 0 && m->params[i].node == m->n_nodes; i--)
        own++;
    if (own >= SIGEO__MODULE_MAX_PARAMS)
        return FAIL(m, SIGEO_ERR_INTERNAL, "layer '%s': more than %d parameters in one module (probe.h)", node->name,
                    SIGEO__MODULE_MAX_PARAMS);
    size_t len = strlen(node->name) + 1 + strlen(suffix) + 1;
    char *name = sigeo__alloc(len);
    if (!name)
        return FAIL(m, SIGEO_ERR_NO_MEMORY, "out of memory adding parameters of '%s'", node->name);
    memcpy(name, node->name, strlen(node->name));
    name[strlen(node->name)] = '.';
    memcpy(name + strlen(node->name) + 1, suffix, strlen(suffix) + 1);
    sigeo__param_t *p = &m->params[m->n_params];
    memset(p, 0, sizeof *p);
    p->name = name;
    p->kind = kind;
    p->node = m->n_nodes;
    p->ndim = ndim;
    p->numel = 1;
    for (int32_t i = 0; i < ndim; i++) {
        p->dims[i] = dims[i];
        if (!sigeo__mul_elems(&p->numel, p->numel, dims[i])) {
            sigeo__free(name);
            p->name = NULL;
            return FAIL(m, SIGEO_ERR_SHAPE,
                        "sigeo_model_add_layer: layer '%s': parameter '%s' would have more than %lld elements", node->name,
                        suffix, (long long)SIGEO_MAX_ELEMENTS);
        }
    }
    node->param[slot] = m->n_params;
    m->n_params++;
    return SIGEO_OK;
}

static sigeo_status_t check_inputs(sigeo_model_t *m, const sigeo_layer_desc_t *d, const char *fn)
{
    if (d->n_inputs < 1)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: layer '%s' has no inputs", fn, d->name);
    if (!d->inputs)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: layer '%s': inputs is NULL", fn, d->name);
    for (uint32_t i = 0; i < d->n_inputs; i++) {
        int32_t id = d->inputs[i];
        if (id < 0 || id >= m->n_nodes)
            return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: layer '%s' input %u is node %d, which does not exist (%d nodes)",
                        fn, d->name, (unsigned)i, (int)id, (int)m->n_nodes);
        if (m->nodes[id].kind == SIGEO__NODE_INPUT_SPARSE && d->kind != SIGEO_LAYER_EMBEDDING_BAG)
            return FAIL(m, SIGEO_ERR_SHAPE, "%s: layer '%s' input %u is the sparse input '%s'; only an embedding bag "
                        "can read it", fn, d->name, (unsigned)i, m->nodes[id].name);
        /* Routing reads a gate of every layer kind: only SUM and CONCAT
         * have them (their configure checks the choices), others none. */
        const int32_t gate = d->input_choices ? d->input_choices[i] : -1;
        if (gate < -1 || (gate >= 0 && d->kind != SIGEO_LAYER_SUM && d->kind != SIGEO_LAYER_CONCAT))
            return FAIL(m, SIGEO_ERR_INVALID_ARG,
                        "%s: layer '%s' input %u has input choice %d (only SUM and CONCAT inputs are gated; -1 = "
                        "always on)", fn, d->name, (unsigned)i, (int)gate);
    }
    return SIGEO_OK;
}

sigeo_status_t sigeo__model_check_choice(sigeo_model_t *m, int32_t c, int32_t need_options, const char *what,
                                         const char *layer)
{
    if (c < 0 || c >= m->n_choices)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "sigeo_model_add_layer: layer '%s' %s %d does not exist (%d choices)",
                    layer, what, (int)c, (int)m->n_choices);
    if (need_options > 0 && m->choices[c].n_options != need_options)
        return FAIL(m, SIGEO_ERR_INVALID_ARG,
                    "sigeo_model_add_layer: layer '%s' %s '%s' has %d options, needs %d", layer, what,
                    m->choices[c].name, (int)m->choices[c].n_options, (int)need_options);
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_model_add_layer(int32_t *node_out, sigeo_model_t *m, const sigeo_layer_desc_t *desc)
{
    static const char fn[] = "sigeo_model_add_layer";
    if (!m)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: model is NULL", fn);
    if (!desc)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: desc is NULL", fn);
    sigeo_status_t st = check_building(m, fn);
    if (st != SIGEO_OK)
        return st;
    /* Every layer needs its name and inputs: a struct too small to hold them
     * is a caller's mistake, not an older layout (the 1.0 one has them). */
    const size_t need = offsetof(sigeo_layer_desc_t, n_inputs) + sizeof desc->n_inputs;
    if (desc->struct_size >= sizeof(uint32_t) * 2 && desc->struct_size < need)
        return FAIL(m, SIGEO_ERR_INVALID_ARG,
                    "%s: desc->struct_size %u is too small: a sigeo_layer_desc holds at least kind, name, inputs and "
                    "n_inputs (%zu bytes; set it with SIGEO_LAYER_DESC_INIT or sigeo_layer_desc_init)",
                    fn, (unsigned)desc->struct_size, need);
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    if ((st = sigeo__struct_in(&d, sizeof d, desc, "sigeo_layer_desc", &m->err)) != SIGEO_OK)
        return st;
    if (!d.name)
        d.name = "";
    const uint32_t known_flags = SIGEO_LAYER_NO_BIAS | SIGEO_LAYER_RUNNING_STATS | SIGEO_LAYER_POOL_EXCLUDE_PAD;
    if (d.flags & ~known_flags)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: layer '%s' has unknown flag bits 0x%x (known: NO_BIAS 0x1, "
                    "RUNNING_STATS 0x2, POOL_EXCLUDE_PAD 0x4)", fn, d.name, (unsigned)(d.flags & ~known_flags));
    if (d.reserved0 != 0)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: layer '%s' has reserved0 = %u (must be 0)", fn, d.name,
                    (unsigned)d.reserved0);
    if ((st = check_inputs(m, &d, fn)) != SIGEO_OK)
        return st;
    sigeo__node_t *n;
    if ((st = new_node(&n, m, d.name, fn)) != SIGEO_OK)
        return st;
    n->kind = d.kind;
    n->desc = d;
    n->desc.name = NULL;
    n->desc.inputs = NULL;
    n->desc.input_choices = NULL;
    n->flags = d.flags;
    n->n_inputs = (int32_t)d.n_inputs;
    n->inputs = sigeo__calloc(d.n_inputs, sizeof *n->inputs);
    n->input_choices = sigeo__calloc(d.n_inputs, sizeof *n->input_choices);
    if (!n->inputs || !n->input_choices) {
        drop_last_node(m);
        return FAIL(m, SIGEO_ERR_NO_MEMORY, "%s: out of memory adding '%s'", fn, d.name);
    }
    for (uint32_t i = 0; i < d.n_inputs; i++) {
        n->inputs[i] = d.inputs[i];
        n->input_choices[i] = d.input_choices ? d.input_choices[i] : -1;
    }
    int32_t params_before = m->n_params;
    const sigeo__op_t *op = sigeo__layer_op(d.kind);
    if (!op)
        st = FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: layer '%s' has unknown kind %d", fn, d.name, (int)d.kind);
    else {
        n->op = op;
        n->max_runs = 1;
        st = op->configure(m, n, &d);
        /* Every op's features per row within the limit (model.h "Limits"),
         * so batch x width and width x width products are checked once. */
        if (st == SIGEO_OK && (n->max_width < 0 || n->max_width > SIGEO_MAX_ELEMENTS))
            st = FAIL(m, SIGEO_ERR_SHAPE, "%s: %s '%s' would have %lld features per row, over the limit of %lld", fn,
                      op->name, d.name, (long long)n->max_width, (long long)SIGEO_MAX_ELEMENTS);
    }
    if (st != SIGEO_OK) {
        while (m->n_params > params_before)
            sigeo__free(m->params[--m->n_params].name);
        drop_last_node(m);
        return st;
    }
    if (n->module >= 0) {
        for (int32_t p = params_before; p < m->n_params; p++)
            m->params[p].module = n->module;
        m->n_modules++;
    }
    if (node_out)
        *node_out = m->n_nodes;
    m->n_nodes++;
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_model_set_loss(sigeo_model_t *m, int32_t output, sigeo_loss_kind_t kind)
{
    static const char fn[] = "sigeo_model_set_loss";
    if (!m)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: model is NULL", fn);
    sigeo_status_t st = check_building(m, fn);
    if (st != SIGEO_OK)
        return st;
    if (output < 0 || output >= m->n_nodes)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: node %d does not exist (%d nodes)", fn, (int)output, (int)m->n_nodes);
    if (kind != SIGEO_LOSS_BCE_WITH_LOGITS && kind != SIGEO_LOSS_SOFTMAX_CE && kind != SIGEO_LOSS_MSE)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: unknown loss kind %d", fn, (int)kind);
    if (m->nodes[output].kind == SIGEO__NODE_INPUT_SPARSE)
        return FAIL(m, SIGEO_ERR_SHAPE, "%s: the loss cannot read the sparse input '%s'", fn, m->nodes[output].name);
    if (m->loss_node >= 0)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: the loss is already set (on '%s')", fn, m->nodes[m->loss_node].name);
    m->loss_node = output;
    m->loss_kind = kind;
    return SIGEO_OK;
}

/* PyTorch default initialisations, drawn from the model's stream in
 * parameter order (so the same seed gives the same weights). */
static void init_param(sigeo_model_t *m, sigeo__param_t *p)
{
    sigeo__rng_t *rng = sigeo__model_rng(m);
    const sigeo__node_t *node = &m->nodes[p->node];
    if (node->op && node->op->init_param) {
        node->op->init_param(m, node, p);
        return;
    }
    switch (p->kind) {
    case SIGEO_PARAM_WEIGHT:
    case SIGEO_PARAM_BIAS: {
        /* nn.Linear: kaiming_uniform(a=sqrt(5)) on W gives bound 1/sqrt(fan_in); bias uses the same bound. */
        double fan_in = (double)m->params[node->param[0]].dims[1];
        double bound = 1.0 / sqrt(fan_in);
        for (int64_t i = 0; i < p->numel; i++)
            p->data[i] = (float)((2.0 * sigeo__rng_uniform(rng) - 1.0) * bound);
        break;
    }
    case SIGEO_PARAM_EMBEDDING: /* nn.EmbeddingBag: N(0, 1) */
        for (int64_t i = 0; i < p->numel; i++)
            p->data[i] = (float)sigeo__rng_normal(rng);
        break;
    case SIGEO_PARAM_NORM_SCALE:
        for (int64_t i = 0; i < p->numel; i++)
            p->data[i] = 1.0f;
        break;
    case SIGEO_PARAM_NORM_SHIFT:
        memset(p->data, 0, (size_t)p->numel * sizeof(float));
        break;
    }
}


SIGEO_API sigeo_status_t sigeo_model_finalize(sigeo_model_t *m)
{
    static const char fn[] = "sigeo_model_finalize";
    if (!m)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: model is NULL", fn);
    sigeo_status_t st = check_building(m, fn);
    if (st != SIGEO_OK)
        return st;
    if (m->loss_node < 0)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: model '%s' has no loss (sigeo_model_set_loss)", fn, m->name);
    if (!m->modules && m->n_modules > 0) {
        m->modules = sigeo__calloc((size_t)m->n_modules, sizeof *m->modules);
        if (!m->modules)
            return FAIL(m, SIGEO_ERR_NO_MEMORY, "%s: out of memory", fn);
        for (int32_t i = m->n_params - 1; i >= 0; i--) {
            sigeo__module_t *mod = &m->modules[m->params[i].module];
            mod->first_param = i;
            mod->n_params++;
            mod->numel += m->params[i].numel; /* <= 2 params of <= 2^40 each (add_param) */
        }
    }
    for (int32_t k = 0; k < m->n_modules; k++) {
        sigeo__module_t *mod = &m->modules[k];
        if (mod->data)
            continue;
        /* A weight matrix whose rows are whole 4 KiB pages (1024, 2048, ...
         * inputs) starts 16 bytes past a 64-byte boundary: with an aligned
         * base, oneDNN 2.6's AVX2 GEMM (gemm:jit) reads it in place as B,
         * every row of a panel in the same cache sets, and the input-gradient
         * GEMM of a 1024 x 1024 layer ran 1.7x slower than from any other
         * alignment (8.1 against 5.2 ms at one thread on Zen 5; AVX-512's
         * brgemm is indifferent; bench/README.md). */
        const sigeo__param_t *first = &m->params[mod->first_param];
        const bool page_rows = first->ndim == 2 && (first->dims[1] * (int64_t)sizeof(float)) % 4096 == 0;
        mod->data = sigeo__calloc_skewed((size_t)mod->numel, sizeof(float), page_rows ? 16 : 0);
        mod->grad = mod->data ? sigeo__calloc((size_t)mod->numel, sizeof(float)) : NULL;
        if (!mod->grad) {
            sigeo__free(mod->data);
            mod->data = NULL;
            return FAIL(m, SIGEO_ERR_NO_MEMORY, "%s: out of memory for module '%s' (%lld floats)", fn,
                        m->params[mod->first_param].name, (long long)mod->numel);
        }
        int64_t off = 0;
        for (int32_t i = mod->first_param; i < mod->first_param + mod->n_params; i++) {
            m->params[i].data = mod->data + off;
            m->params[i].grad = mod->grad + off;
            off += m->params[i].numel;
        }
    }
    for (int32_t i = 0; i < m->n_nodes; i++) {
        sigeo__node_t *n = &m->nodes[i];
        if (!n->runs) {
            n->runs = sigeo__calloc((size_t)(n->max_runs > 0 ? n->max_runs : 1), sizeof *n->runs);
            if (!n->runs)
                return FAIL(m, SIGEO_ERR_NO_MEMORY, "%s: out of memory", fn);
        }
        if (!n->slots) {
            int32_t in_runs = n->n_inputs > 0 ? m->nodes[n->inputs[0]].max_runs : 1;
            const int32_t count = 3 * in_runs + 2;
            n->slots = sigeo__calloc((size_t)count, sizeof *n->slots);
            if (!n->slots)
                return FAIL(m, SIGEO_ERR_NO_MEMORY, "%s: out of memory", fn);
            n->n_slots = count; /* only once the array exists: destroy walks it */
        }
    }
    if (!m->arch && m->n_choices > 0) {
        m->arch = sigeo__calloc((size_t)m->n_choices, sizeof *m->arch);
        m->arch_saved = m->arch ? sigeo__calloc((size_t)m->n_choices, sizeof *m->arch) : NULL;
        m->arch_keep = m->arch_saved ? sigeo__calloc((size_t)m->n_choices, sizeof *m->arch) : NULL;
        if (!m->arch_keep) {
            sigeo__free(m->arch);
            sigeo__free(m->arch_saved);
            m->arch = m->arch_saved = NULL;
            return FAIL(m, SIGEO_ERR_NO_MEMORY, "%s: out of memory", fn);
        }
    }
    int32_t *last = NULL;
    if (m->n_choices > 0) {
        last = sigeo__calloc((size_t)m->n_choices, sizeof *last);
        if (!last)
            return FAIL(m, SIGEO_ERR_NO_MEMORY, "%s: out of memory", fn);
        for (int32_t c = 0; c < m->n_choices; c++)
            last[c] = m->choices[c].n_options - 1;
    }
    st = sigeo__model_activate(m, last);
    sigeo__free(last);
    if (st != SIGEO_OK)
        return st;
    for (int32_t i = 0; i < m->n_params; i++)
        init_param(m, &m->params[i]);
    m->finalized = true;
    return SIGEO_OK;
}

/* ---------------------------------------------------------- architecture */

bool sigeo__input_on(const sigeo_model_t *m, const sigeo__node_t *node, int32_t i)
{
    int32_t c = node->input_choices ? node->input_choices[i] : -1;
    return c < 0 || m->arch[c] == 1;
}

int64_t sigeo__choice_value(const sigeo_model_t *m, int32_t choice, int64_t fallback)
{
    if (choice < 0)
        return fallback;
    return m->choices[choice].values[m->arch[choice]];
}

/* Marks the nodes the loss depends on under `arch` (already in m->arch) and
 * infers their widths in tape order. */
static sigeo_status_t route(sigeo_model_t *m)
{
    for (int32_t i = 0; i < m->n_nodes; i++)
        m->nodes[i].active = false;
    m->nodes[m->loss_node].active = true;
    for (int32_t i = m->n_nodes - 1; i >= 0; i--) {
        sigeo__node_t *n = &m->nodes[i];
        if (!n->active)
            continue;
        for (int32_t k = 0; k < n->n_inputs; k++) {
            bool used = n->kind == SIGEO_LAYER_SELECT ? k == m->arch[n->choice] : sigeo__input_on(m, n, k);
            if (used)
                m->nodes[n->inputs[k]].active = true;
        }
    }
    for (int32_t i = 0; i < m->n_nodes; i++) {
        sigeo__node_t *n = &m->nodes[i];
        if (!n->active)
            continue;
        sigeo_status_t st = n->op->infer(m, n);
        if (st != SIGEO_OK)
            return st;
    }
    for (int32_t i = 0; i < m->n_params; i++) {
        sigeo__param_t *p = &m->params[i];
        const sigeo__node_t *n = &m->nodes[p->node];
        if (!n->active)
            p->active_numel = 0;
        else if (n->op->active_numel)
            p->active_numel = n->op->active_numel(m, n, p);
        else if (p->kind == SIGEO_PARAM_WEIGHT)
            p->active_numel = n->width * m->nodes[n->inputs[0]].width;
        else if (p->kind == SIGEO_PARAM_EMBEDDING)
            p->active_numel = p->numel;
        else
            p->active_numel = n->width;
    }
    return SIGEO_OK;
}

sigeo_status_t sigeo__model_activate(sigeo_model_t *m, const int32_t *arch)
{
    static const char fn[] = "sigeo_model_activate";
    for (int32_t c = 0; c < m->n_choices; c++)
        if (arch[c] < 0 || arch[c] >= m->choices[c].n_options)
            return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: choice %d ('%s') is %d, outside 0..%d", fn, (int)c,
                        m->choices[c].name, (int)arch[c], (int)m->choices[c].n_options - 1);
    sigeo_status_t st = sigeo__check_groups(m, arch, fn);
    if (st != SIGEO_OK)
        return st;
    if (m->n_choices == 0) {
        m->have_forward = false;
        return route(m);
    }
    /* arch_saved is allocated at finalize: activating allocates nothing,
     * since a search activates thousands of architectures. */
    memcpy(m->arch_saved, m->arch, (size_t)m->n_choices * sizeof *m->arch);
    memcpy(m->arch, arch, (size_t)m->n_choices * sizeof *arch);
    st = route(m);
    if (st != SIGEO_OK && m->finalized) {
        /* Put the previous architecture back: it was valid. */
        memcpy(m->arch, m->arch_saved, (size_t)m->n_choices * sizeof *m->arch);
        route(m);
    }
    m->have_forward = false;
    return st;
}

sigeo_status_t sigeo__model_check_ready(const sigeo_model_t *m, const char *fn)
{
    if (!m->finalized)
        return sigeo__fail_on((sigeo__errbuf_t *)&m->err, SIGEO_ERR_INVALID_ARG,
                              "%s: model '%s' is not finalised (sigeo_model_finalize)", fn, m->name);
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_model_activate(sigeo_model_t *m, const int32_t *arch, int32_t n)
{
    static const char fn[] = "sigeo_model_activate";
    if (!m)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: model is NULL", fn);
    sigeo_status_t st = sigeo__model_check_ready(m, fn);
    if (st != SIGEO_OK)
        return st;
    if (n != m->n_choices)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: architecture has %d entries, model '%s' has %d choice points", fn,
                    (int)n, m->name, (int)m->n_choices);
    if (!arch && n > 0)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: arch is NULL", fn);
    return sigeo__model_activate(m, arch);
}

SIGEO_API sigeo_status_t sigeo_model_active_arch(int32_t *arch, int32_t capacity, const sigeo_model_t *m)
{
    static const char fn[] = "sigeo_model_active_arch";
    if (!m)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: model is NULL", fn);
    if (capacity < m->n_choices || (!arch && m->n_choices > 0))
        return sigeo__fail_on((sigeo__errbuf_t *)&m->err, SIGEO_ERR_INVALID_ARG,
                              "%s: capacity %d < %d choice points", fn, (int)capacity, (int)m->n_choices);
    if (m->n_choices)
        memcpy(arch, m->arch, (size_t)m->n_choices * sizeof *arch);
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_model_choices(int32_t *count_out, int32_t *n_options_out, int32_t capacity,
                                             const sigeo_model_t *m)
{
    if (!m || !count_out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_model_choices: %s is NULL", m ? "count_out" : "model");
    *count_out = m->n_choices;
    if (n_options_out) {
        if (capacity < m->n_choices)
            return sigeo__fail_on((sigeo__errbuf_t *)&m->err, SIGEO_ERR_INVALID_ARG,
                                  "sigeo_model_choices: capacity %d < %d choice points", (int)capacity,
                                  (int)m->n_choices);
        for (int32_t c = 0; c < m->n_choices; c++)
            n_options_out[c] = m->choices[c].n_options;
    }
    return SIGEO_OK;
}

/* ------------------------------------------------------------ parameters */

SIGEO_API sigeo_status_t sigeo_model_param_count(int32_t *count_out, const sigeo_model_t *m)
{
    if (!m || !count_out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_model_param_count: %s is NULL", m ? "count_out" : "model");
    *count_out = m->n_params;
    return SIGEO_OK;
}

static sigeo_status_t check_param(const sigeo_model_t *m, int32_t param, const char *fn)
{
    if (param < 0 || param >= m->n_params)
        return sigeo__fail_on((sigeo__errbuf_t *)&m->err, SIGEO_ERR_INVALID_ARG,
                              "%s: parameter index %d out of range (%d parameters)", fn, (int)param, (int)m->n_params);
    return sigeo__model_check_ready(m, fn);
}

SIGEO_API sigeo_status_t sigeo_model_param_info(sigeo_param_info_t *out, const sigeo_model_t *m, int32_t param)
{
    static const char fn[] = "sigeo_model_param_info";
    if (!m || !out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %s is NULL", fn, m ? "out" : "model");
    sigeo_status_t st = check_param(m, param, fn);
    if (st != SIGEO_OK)
        return st;
    const sigeo__param_t *p = &m->params[param];
    sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
    info.kind = p->kind;
    info.name = p->name;
    info.module = p->module;
    info.ndim = p->ndim;
    memcpy(info.dims, p->dims, sizeof info.dims);
    info.numel = p->numel;
    info.active_numel = p->active_numel;
    return sigeo__struct_out(out, &info, sizeof info, "sigeo_param_info", NULL);
}

SIGEO_API sigeo_status_t sigeo_model_find_param(int32_t *param_out, const sigeo_model_t *m, const char *name)
{
    if (!m || !param_out || !name)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_model_find_param: %s is NULL",
                           !m ? "model" : !param_out ? "param_out" : "name");
    for (int32_t i = 0; i < m->n_params; i++)
        if (strcmp(m->params[i].name, name) == 0) {
            *param_out = i;
            return SIGEO_OK;
        }
    return sigeo__fail_on((sigeo__errbuf_t *)&m->err, SIGEO_ERR_INVALID_ARG,
                          "sigeo_model_find_param: model '%s' has no parameter '%s'", m->name, name);
}

static sigeo_status_t copy_param(const sigeo_model_t *m, int32_t param, float *buf, int64_t count, bool grad,
                                 const char *fn)
{
    if (!m)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: model is NULL", fn);
    sigeo_status_t st = check_param(m, param, fn);
    if (st != SIGEO_OK)
        return st;
    const sigeo__param_t *p = &m->params[param];
    if (!buf || count != p->numel)
        return sigeo__fail_on((sigeo__errbuf_t *)&m->err, buf ? SIGEO_ERR_SHAPE : SIGEO_ERR_INVALID_ARG,
                              "%s: parameter '%s' has %lld elements, buffer %s %lld", fn, p->name,
                              (long long)p->numel, buf ? "holds" : "is NULL, count", (long long)count);
    memcpy(buf, grad ? p->grad : p->data, (size_t)count * sizeof(float));
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_model_get_param(const sigeo_model_t *m, int32_t param, float *buf, int64_t count)
{
    return copy_param(m, param, buf, count, false, "sigeo_model_get_param");
}

SIGEO_API sigeo_status_t sigeo_model_get_grad(const sigeo_model_t *m, int32_t param, float *buf, int64_t count)
{
    return copy_param(m, param, buf, count, true, "sigeo_model_get_grad");
}

SIGEO_API sigeo_status_t sigeo_model_set_param(sigeo_model_t *m, int32_t param, const float *buf, int64_t count)
{
    static const char fn[] = "sigeo_model_set_param";
    if (!m)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: model is NULL", fn);
    sigeo_status_t st = check_param(m, param, fn);
    if (st != SIGEO_OK)
        return st;
    sigeo__param_t *p = &m->params[param];
    if (!buf || count != p->numel)
        return FAIL(m, buf ? SIGEO_ERR_SHAPE : SIGEO_ERR_INVALID_ARG, "%s: parameter '%s' has %lld elements, got %lld",
                    fn, p->name, (long long)p->numel, (long long)count);
    for (int64_t i = 0; i < count; i++)
        if (!isfinite(buf[i]))
            return FAIL(m, SIGEO_ERR_NONFINITE, "%s: parameter '%s' element %lld is %g", fn, p->name, (long long)i,
                        (double)buf[i]);
    memcpy(p->data, buf, (size_t)count * sizeof(float));
    m->have_forward = false;
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_model_module_count(int32_t *count_out, const sigeo_model_t *m)
{
    if (!m || !count_out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_model_module_count: %s is NULL", m ? "count_out" : "model");
    *count_out = m->n_modules;
    return SIGEO_OK;
}

SIGEO_API const char *sigeo_model_module_name(const sigeo_model_t *m, int32_t module)
{
    if (!m || module < 0 || module >= m->n_modules)
        return NULL;
    for (int32_t i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].module == module)
            return m->nodes[i].name;
    return NULL;
}

SIGEO_API const char *sigeo_model_last_error(const sigeo_model_t *m)
{
    return m ? m->err.msg : "";
}

SIGEO_API sigeo_status_t sigeo_model_set_training(sigeo_model_t *m, int training)
{
    if (!m)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_model_set_training: model is NULL");
    for (int32_t i = 0; i < m->n_nodes; i++) {
        sigeo__node_t *n = &m->nodes[i];
        if (n->kind != SIGEO_LAYER_BATCH_NORM)
            continue;
        if (training)
            n->flags &= ~SIGEO_LAYER_RUNNING_STATS;
        else
            n->flags |= SIGEO_LAYER_RUNNING_STATS;
    }
    m->have_forward = false;
    return SIGEO_OK;
}
