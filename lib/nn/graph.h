/* Internal layout of a model: nodes on a tape (insertion order is a
 * topological order), parameters grouped into modules, choice points, and
 * the per-op vtable. Only lib/nn sees this. */
#ifndef SIGEO_NN_GRAPH_H
#define SIGEO_NN_GRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "core/context.h"
#include "core/core.h"
#include "core/rng.h"
#include "nn/backend.h"
#include "nn/probe.h"
#include "sigeo/model.h"

/* Node kinds: the public layer kinds, then inputs (internal numbering). */
#define SIGEO__NODE_INPUT_DENSE 1000
#define SIGEO__NODE_INPUT_SPARSE 1001

/* How a node's active features sit inside its max-width feature space: a
 * list of runs. A plain layer has one run (0, width); a concat of elastic
 * inputs has one run per piece, so a consumer's weight columns can be
 * addressed exactly (column max_offset.. of the max-width weights). */
typedef struct sigeo__run {
    int64_t max_offset;    /* first feature in the max-width layout */
    int64_t active_offset; /* first feature in the compact active output */
    int64_t len;
} sigeo__run_t;

typedef struct sigeo__param {
    char *name;
    int32_t kind; /* sigeo_param_kind_t */
    int32_t module;
    int32_t node;
    int32_t ndim;
    int64_t dims[4];
    int64_t numel;
    int64_t active_numel;
    float *data;
    float *grad;
    /* What the last backward wrote, so the next one zeroes only that:
     * dense parameters a flag, embedding tables the rows a batch touched
     * (zeroing a 100k-row table per step would cost more than the step). */
    bool grad_dirty;
    int64_t *dirty_rows;
    int64_t n_dirty_rows, cap_dirty_rows;
} sigeo__param_t;

typedef struct sigeo__module {
    int32_t first_param, n_params;
    int64_t numel;
    float *data; /* owns the block; params point into it */
    float *grad;
} sigeo__module_t;

typedef struct sigeo__choice {
    char *name;
    int32_t n_options;
    int64_t *values; /* [n_options] or NULL */
} sigeo__choice_t;

typedef struct sigeo__node sigeo__node_t;
typedef struct sigeo__op sigeo__op_t;

struct sigeo__node {
    int32_t kind;
    /* The builder's description (pointers cleared): extract() replays it. */
    sigeo_layer_desc_t desc;
    sigeo_input_desc_t input_desc;
    char *name;
    const sigeo__op_t *op;
    int32_t *inputs;
    int32_t *input_choices; /* [n_inputs], -1 = always on */
    int32_t n_inputs;
    /* configuration */
    uint32_t flags;
    int64_t units, rows, max_width;
    int64_t shape[3]; /* dense input per-row shape, if given */
    int32_t activation, pooling, width_choice, choice, field;
    int32_t param[2];  /* parameter indices (weight/table/gamma, bias/beta), -1 = none */
    int32_t module;    /* -1 = no parameters */
    int32_t max_runs;  /* capacity of runs */
    /* per-architecture state (activate) */
    bool active;
    int64_t width;       /* active output features */
    sigeo__run_t *runs;
    int32_t n_runs;
    /* per-batch state */
    float *out;          /* [B, width] */
    float *grad;         /* [B, width] */
    int64_t cap;         /* floats allocated in out and grad */
    bool grad_written;   /* backward: first writer overwrites, later ones accumulate */
    /* op-owned scratch (sizes in bytes) */
    void *scratch;
    size_t scratch_size;
    /* memoised primitives: 3 per input run (linear) plus a few spare */
    sigeo__prim_slot_t **slots;
    int32_t n_slots;
    /* configuration of conv / pool / attention / slice, as in sigeo_layer_desc_t
     * (stride with PyTorch's default applied) */
    int64_t kernel[2], stride[2], padding[2], offset;
    int32_t heads;
    /* per-row shape at max width: shape[0..shape_ndim), 0 = flat (model.h
     * "Per-row shapes"); shape_known once op_shape.c resolved it */
    int32_t shape_ndim;
    bool shape_known;
    /* forward-mode pass (jvp.c): the tangent of `out` along theta, [B, width],
     * and op-owned scratch of that pass, both grown on first use only (the
     * pass runs for sample-coupled architectures, so others never pay). */
    float *tangent;
    int64_t tangent_cap;  /* floats allocated in tangent */
    /* Set by sigeo__tape_jvp for the length of one pass on a conv that is
     * not the loss node and whose every active consumer is a batch norm
     * (jvp.c mark_conv_folds): `tangent` then holds conv(xdot; W)
     * without the parameters' own part y, which each batch norm adds in
     * closed form (op_batchnorm.c bn_jvp); false everywhere else. */
    bool tangent_lacks_out;
    void *jvp_scratch;
    size_t jvp_scratch_size;
    /* Hessian-vector pass (hvp.c): the tangent of `grad`, [B, width], grown
     * on first use only, like `tangent`. */
    float *r_grad;
    int64_t r_grad_cap;
};

typedef struct sigeo__group {
    char *name;
    int32_t kind; /* sigeo_group_kind_t */
    int32_t *points;
    int32_t n;
} sigeo__group_t;

struct sigeo_model {
    sigeo_context_t *ctx;
    sigeo__engine_t *engine;     /* owned: the context's engine and this model's stream */
    /* This model's random stream (initialisation, sampling, mutation):
     * stream k of the context's seed, k taken from the context when the
     * model first draws (its finalisation), so a build that fails and is
     * retried consumes no stream. Use sigeo__model_rng(). */
    sigeo__rng_t rng;
    bool rng_ready;
    char *name;
    sigeo__errbuf_t err;
    bool finalized;
    sigeo__node_t *nodes;
    int32_t n_nodes, cap_nodes;
    sigeo__param_t *params;
    int32_t n_params, cap_params;
    int32_t n_modules;
    /* [n_modules]: a module's parameters are consecutive in params[] and
     * their values (and gradients) one contiguous block, so a module's
     * gradient is one flat vector for the statistics. */
    sigeo__module_t *modules;
    sigeo__choice_t *choices;
    int32_t n_choices, cap_choices;
    int32_t *arch;               /* [n_choices] active architecture */
    int32_t *arch_saved;         /* [n_choices] scratch for activate's rollback */
    int32_t *arch_keep;          /* [n_choices] scratch for check/extract/count */
    sigeo__group_t *groups;
    int32_t n_groups;
    int32_t loss_node;           /* node whose output the loss reads, -1 = unset */
    int32_t loss_kind;
    /* per-batch */
    int64_t batch;               /* rows in the last forward */
    float *sample_loss;          /* [batch] */
    float *targets;              /* copy of targets / labels (as float) for backward */
    int64_t targets_cap;
    int64_t loss_cap;
    double loss;
    bool have_forward;
    /* per-sample Fisher-Rao contributions s_n = sum_layers dL/dy_n . y_n,
     * collected by the homogeneous ops during backward when enabled. */
    bool collect_directional;
    double *directional;         /* [batch] */
    /* sigeo__probe_grad_hook: called as each layer's parameter gradients are
     * complete in a backward (NULL = none). */
    sigeo_status_t (*grad_hook)(void *user, sigeo_model_t *m, int32_t module);
    void *grad_hook_user;
    /* The proxy layer's buffers (probe.h), destroyed with the model. */
    void *attachment;
    void (*attachment_destroy)(void *attachment);
    int64_t directional_cap;
    bool have_loss;              /* the last forward computed the loss (targets kept) */
    bool input_grad;             /* this backward also writes the input nodes' gradients (sigeo__wants_grad) */
    int32_t directional_node;    /* collect only this node's delta . y (-1: every layer) */
    int32_t flops_convention;    /* sigeo_flops_convention_t of sigeo_model_count (0 at creation) */
    /* Block outputs (sigeo_model_mark_block, blocks.c): node ids, ascending,
     * each depending on the one before. */
    int32_t *blocks;
    int32_t n_blocks, cap_blocks;
};

/* Where the active elements of a parameter sit in its max-size tensor:
 * extraction copies them (extract.c) and the proxy layer masks them
 * (sigeo__probe_active_mask) from this one description. */
typedef enum sigeo__slice_kind {
    SIGEO__SLICE_PREFIX,     /* the first active_numel elements (or all) */
    SIGEO__SLICE_INPUT_RUNS, /* 2-D weight [rows, cols]: the first `rows` rows x the columns input 0's runs address,
                              * `unit` input features per column */
    SIGEO__SLICE_OWN_RUNS    /* per-channel vector: the entries the node's own runs address, `unit` features each */
} sigeo__slice_kind_t;

typedef struct sigeo__param_slice {
    sigeo__slice_kind_t kind;
    int64_t rows; /* INPUT_RUNS */
    int64_t unit; /* INPUT_RUNS, OWN_RUNS: >= 1 */
} sigeo__param_slice_t;

/* Per-op behaviour. `infer` sets node->width and runs from the inputs at
 * activation time; forward/backward run on the batch. backward reads
 * node->grad (complete when called), writes parameter gradients and adds
 * into the inputs' grads through sigeo__grad_target(). */
struct sigeo__op {
    const char *name;
    /* Build time: static checks against the max-width inputs, max_width,
     * max_runs and parameters (sigeo__model_add_param). */
    sigeo_status_t (*configure)(sigeo_model_t *m, sigeo__node_t *node, const sigeo_layer_desc_t *desc);
    sigeo_status_t (*infer)(sigeo_model_t *m, sigeo__node_t *node);
    sigeo_status_t (*forward)(sigeo_model_t *m, sigeo__node_t *node, const sigeo_batch_t *batch);
    sigeo_status_t (*backward)(sigeo_model_t *m, sigeo__node_t *node);
    /* Multiply-accumulates of one sample at the active widths (NULL = 0). */
    int64_t (*flops)(const sigeo_model_t *m, const sigeo__node_t *node);
    /* PyTorch-default initialisation of parameter p of this node, drawn from
     * the model's stream (NULL = the nn.Linear / norm / embedding rule). */
    void (*init_param)(sigeo_model_t *m, const sigeo__node_t *node, sigeo__param_t *p);
    /* Elements of p the active architecture uses (NULL = the linear rule:
     * weight width x input width, others width or numel). */
    int64_t (*active_numel)(const sigeo_model_t *m, const sigeo__node_t *node, const sigeo__param_t *p);
    /* True if the op, as configured, mixes samples of a batch (train-mode
     * batch norm): the per-sample identity is then not exact (NULL = no). */
    bool (*couples_samples)(const sigeo_model_t *m, const sigeo__node_t *node);
    /* Forward-mode pass along theta (jvp.c, sigeo__tape_jvp), after a forward
     * on the batch: node->tangent = J_x xdot + J_p p, with xdot the inputs'
     * tangents and p the node's own parameters (their tangent is the
     * parameter itself), from the values the forward left (node->out, the
     * inputs' out, scratch). Changes nothing the forward or backward reads,
     * and no running statistics. NULL = the op cannot: the pass fails with
     * SIGEO_ERR_UNSUPPORTED naming it. */
    sigeo_status_t (*jvp)(sigeo_model_t *m, sigeo__node_t *node);
    /* The active slice of parameter p under the active architecture (NULL =
     * SIGEO__SLICE_PREFIX). An op whose elastic parameters are not a prefix
     * of the max-size tensor must say where they are here. */
    void (*param_slice)(const sigeo_model_t *m, const sigeo__node_t *node, const sigeo__param_t *p,
                        sigeo__param_slice_t *out);
    /* Extraction: rewrites `d`, the builder's description of the node (its
     * inputs already those of the standalone model), into the standalone
     * layer's at the active architecture, e.g. an elastic width's units
     * (NULL = as built). */
    void (*standalone_desc)(const sigeo_model_t *m, const sigeo__node_t *node, sigeo_layer_desc_t *d);
    /* Extraction: the input that replaces the node in a standalone model (an
     * op choice collapses to its chosen branch), or -1 to keep the node
     * (NULL = keep). */
    int32_t (*standalone_alias)(const sigeo_model_t *m, const sigeo__node_t *node);
    /* Whether input i reaches the node under the active architecture (NULL =
     * the gate rule of sigeo__input_on). */
    bool (*input_on)(const sigeo_model_t *m, const sigeo__node_t *node, int32_t i);
    /* An input node (sigeo_model_add_input; a standalone model re-adds it
     * from input_desc): its tangent along theta is zero, and consumers skip
     * its gradient unless a backward asks for it (sigeo__wants_grad). */
    bool input;
};

/* The model's random stream, numbered on first use (see struct sigeo_model). */
static inline sigeo__rng_t *sigeo__model_rng(sigeo_model_t *m)
{
    if (!m->rng_ready) {
        sigeo__rng_derive(&m->rng, m->ctx->options.seed, sigeo__context_next_stream(m->ctx));
        m->rng_ready = true;
    }
    return &m->rng;
}

/* The slice of parameter p (its op's param_slice, or the prefix). */
static inline sigeo__param_slice_t sigeo__param_slice(const sigeo_model_t *m, const sigeo__param_t *p)
{
    const sigeo__node_t *n = &m->nodes[p->node];
    sigeo__param_slice_t s = { SIGEO__SLICE_PREFIX, 0, 1 };
    if (n->op->param_slice)
        n->op->param_slice(m, n, p, &s);
    return s;
}

/* Whether a backward must write `in`'s gradient: every node but the
 * inputs, and the inputs too during an input-gradient backward
 * (sigeo__tape_backward_from). */
static inline bool sigeo__wants_grad(const sigeo_model_t *m, const sigeo__node_t *in)
{
    return !in->op->input || m->input_grad;
}

/* A standalone_desc for layers whose width follows their input (norms):
 * units 0, so the standalone layer takes its input's active width (extract.c). */
void sigeo__standalone_width_of_input(const sigeo_model_t *m, const sigeo__node_t *node, sigeo_layer_desc_t *d);

/* Op tables, one per file. */
extern const sigeo__op_t sigeo__op_input_dense, sigeo__op_input_sparse, sigeo__op_linear, sigeo__op_activation,
    sigeo__op_embedding_bag, sigeo__op_sum, sigeo__op_concat, sigeo__op_select, sigeo__op_dot_interaction,
    sigeo__op_layer_norm;
extern const sigeo__op_t sigeo__op_conv2d, sigeo__op_batch_norm, sigeo__op_pool2d, sigeo__op_global_avg_pool,
    sigeo__op_token_linear, sigeo__op_attention, sigeo__op_fm, sigeo__op_sigmoid_gating, sigeo__op_slice,
    sigeo__op_reshape, sigeo__op_zero;

/* Architecture routing (model.c): sets m->arch to `arch` and re-infers
 * widths; on failure restores the previous architecture if there was one. */
sigeo_status_t sigeo__model_activate(sigeo_model_t *m, const int32_t *arch);

/* Extraction (blocks.c): gives the standalone model x the blocks of m that
 * the active architecture keeps, through map (m's node -> x's node, -1 =
 * not in x). */
sigeo_status_t sigeo__model_carry_blocks(sigeo_model_t *x, const sigeo_model_t *m, const int32_t *map);

/* Checks the choice groups of `arch` (sampling.c). */
sigeo_status_t sigeo__check_groups(sigeo_model_t *m, const int32_t *arch, const char *fn);

/* The op of a public layer kind, NULL for an unknown kind (ops.c). */
const sigeo__op_t *sigeo__layer_op(int32_t kind);

/* Builder helpers for configure(): a parameter of `node` in slot 0/1, and a
 * check that choice `c` exists (with need_options options if > 0). */
sigeo_status_t sigeo__model_add_param(sigeo_model_t *m, sigeo__node_t *node, int slot, const char *suffix,
                                      int32_t kind, int32_t ndim, const int64_t *dims);
sigeo_status_t sigeo__model_check_choice(sigeo_model_t *m, int32_t c, int32_t need_options, const char *what,
                                         const char *layer);

static inline sigeo__node_t *sigeo__input(sigeo_model_t *m, const sigeo__node_t *node, int32_t i)
{
    return &m->nodes[node->inputs[i]];
}

/* Whether input i of a gated node is on under the active architecture. */
bool sigeo__input_on(const sigeo_model_t *m, const sigeo__node_t *node, int32_t i);

/* Gradient buffer of `in` to write into: *accumulate tells whether another
 * consumer already wrote it (then add, else overwrite). Marks it written. */
float *sigeo__grad_target(sigeo__node_t *in, bool *accumulate);

/* Grows node scratch to at least `size` bytes (contents not kept). */
sigeo_status_t sigeo__node_scratch(sigeo_model_t *m, sigeo__node_t *node, size_t size);

/* The active value of an elastic width choice (or the fixed max width). */
int64_t sigeo__choice_value(const sigeo_model_t *m, int32_t choice, int64_t fallback);

/* Zeroes what the previous backward wrote into p->grad. */
void sigeo__param_clear_grad(sigeo__param_t *p);

/* Loss forward (per-sample and mean) and its gradient into the loss node. */
sigeo_status_t sigeo__loss_check(sigeo_model_t *m, const sigeo_batch_t *batch);
sigeo_status_t sigeo__loss_forward(sigeo_model_t *m, const sigeo_batch_t *batch);
void sigeo__loss_backward(sigeo_model_t *m);

/* The Hessian-vector rules of conv2d (op_conv.c; see hvp.c). */
sigeo_status_t sigeo__conv_r_forward(sigeo_model_t *m, sigeo__node_t *n, const float *vw, const float *vb);
sigeo_status_t sigeo__conv_r_backward(sigeo_model_t *m, sigeo__node_t *n, const float *vw, float *hw, float *hb);

/* The Hessian-vector rules of batch norm (op_batchnorm.c; no direction or
 * product in gamma, beta). */
sigeo_status_t sigeo__batch_norm_r_forward(sigeo_model_t *m, sigeo__node_t *n);
sigeo_status_t sigeo__batch_norm_r_backward(sigeo_model_t *m, sigeo__node_t *n);

/* The Hessian-vector rules of layer norm (op_layernorm.c; no direction or
 * product in gamma, beta) and of the dot interaction (op_interaction.c,
 * reverse only: its forward rule is its jvp). */
sigeo_status_t sigeo__layer_norm_r_forward(sigeo_model_t *m, sigeo__node_t *n);
sigeo_status_t sigeo__layer_norm_r_backward(sigeo_model_t *m, sigeo__node_t *n);
sigeo_status_t sigeo__dot_r_backward(sigeo_model_t *m, sigeo__node_t *n);
/* The Hessian-vector rules of attention (op_attention.c), with directions
 * and products on its four parameters (v[p], hv[p] NULL = none). */
sigeo_status_t sigeo__attention_r_forward(sigeo_model_t *m, sigeo__node_t *n, const float *const *v);
sigeo_status_t sigeo__attention_r_backward(sigeo_model_t *m, sigeo__node_t *n, const float *const *v,
                                           float *const *hv);

/* The Hessian-vector rules of FM (op_fm.c, reverse only: no parameters, its
 * forward rule is its jvp), sigmoid gating (op_gating.c) and token linear
 * (op_token_linear.c), the last two with directions and products on their
 * weight and bias (v[p], hv[p] NULL = none). */
sigeo_status_t sigeo__fm_r_backward(sigeo_model_t *m, sigeo__node_t *n);
sigeo_status_t sigeo__gating_r_forward(sigeo_model_t *m, sigeo__node_t *n, const float *const *v);
sigeo_status_t sigeo__gating_r_backward(sigeo_model_t *m, sigeo__node_t *n, const float *const *v, float *const *hv);
sigeo_status_t sigeo__token_linear_r_forward(sigeo_model_t *m, sigeo__node_t *n, const float *const *v);
sigeo_status_t sigeo__token_linear_r_backward(sigeo_model_t *m, sigeo__node_t *n, const float *const *v,
                                              float *const *hv);

/* Grows every active node's tangent to a batch of `batch` rows (jvp.c). */
sigeo_status_t sigeo__ensure_tangents(sigeo_model_t *m, int64_t batch);

/* Grows node->jvp_scratch to at least `size` bytes (contents not kept; jvp.c). */
sigeo_status_t sigeo__node_jvp_scratch(sigeo_model_t *m, sigeo__node_t *node, size_t size);

/* dl_n/dz_n . zdot_n for row n of the last forward: z the loss node's
 * output, l_n the per-sample loss (not divided by the batch size), zdot a
 * row of the loss node's width (loss.c). */
double sigeo__loss_row_directional(const sigeo_model_t *m, int64_t n, const float *zdot);

/* Adds dL/dy_n . y_n for every row n into m->directional (if collecting). */
void sigeo__add_directional(sigeo_model_t *m, const float *y, const float *dy, int64_t rows, int64_t width);

#define SIGEO__MODEL_FAIL(m, status, ...) sigeo__fail_on(&(m)->err, status, __VA_ARGS__)

#endif
