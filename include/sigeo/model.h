/*
 * libsigeo models: a graph builder over oneDNN-backed layers with reverse-mode
 * autodiff, parameter modules, and supernets with choice points.
 *
 * Building:
 *   sigeo_model_create(&m, ctx, "mlp");
 *   sigeo_model_add_input(&x, m, &(sigeo_input_desc_t){...DENSE, 784});
 *   sigeo_model_add_choice(&c, m, "width0", 3, (int64_t[]){16, 32, 48});
 *   sigeo_model_add_layer(&h, m, &(sigeo_layer_desc_t){...LINEAR, "fc0", &x, 1, .units=48, .width_choice=c});
 *   ...
 *   sigeo_model_set_loss(m, logits, SIGEO_LOSS_SOFTMAX_CE);
 *   sigeo_model_finalize(m);
 * Running:
 *   sigeo_model_activate(m, arch, n);          (supernets; finalize activates all-last options)
 *   sigeo_model_forward_backward(&loss, m, &batch);
 *   sigeo_model_get_grad(m, param, buf, count);
 *
 * Tensors are float32, row-major, batch first. Node shapes are fixed at build
 * time except the batch size (any size per call) and elastic widths (set by
 * the active architecture). An elastic width d of a layer with max width D
 * uses the first d outputs of the max-width weights — an exact slice,
 * computed at width d (docs/design.md §4; NASRec instead computes at full width
 * and masks: say so when comparing).
 *
 * Parameters are grouped into modules: one per parameterised layer (its
 * weight and bias), the unit over which ZiCo sums. Initialisation follows
 * PyTorch's defaults (documented per layer kind below), drawn from the
 * model's own stream of the context's seed (sigeo.h, "Threads"): same seed
 * and same order of building models, same weights, bit for bit.
 *
 * Limits: every element count the builder and the runs compute (a
 * parameter's numel, a node's features per row, a per-row shape's product,
 * an embedding table's rows x dim, and batch rows x features of every active
 * node) is at most SIGEO_MAX_ELEMENTS; a descriptor that would exceed it, or
 * whose sizes would overflow 64-bit arithmetic, fails with SIGEO_ERR_SHAPE
 * naming the layer, before anything is allocated.
 *
 * Threads: one model is used by one thread at a time.
 *
 * Non-C callers: fill structs with their _init() functions (the _INIT
 * macros are C only) and check layouts with sigeo_struct_size().
 */
#ifndef SIGEO_MODEL_H
#define SIGEO_MODEL_H

#include "sigeo/data.h"
#include "sigeo/sigeo.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sigeo_model sigeo_model_t;

/* Largest element count of any tensor (2^40: 4 TiB of float32), see "Limits". */
#define SIGEO_MAX_ELEMENTS ((int64_t)1 << 40)

/* Kinds of model input. */
typedef enum sigeo_input_kind {
    SIGEO_INPUT_DENSE = 0,  /* batch->dense, [B, features] (shape may give C,H,W) */
    SIGEO_INPUT_SPARSE = 1  /* one categorical field of batch->sparse_*: consumed by EMBEDDING_BAG */
} sigeo_input_kind_t;

/* One model input (sigeo_model_add_input). */
typedef struct sigeo_input_desc {
    uint32_t struct_size;
    int32_t kind;        /* sigeo_input_kind_t */
    const char *name;    /* unique node name, copied */
    int64_t features;    /* DENSE: features per row (= product of shape) */
    int64_t shape[3];    /* DENSE: optional per-row shape (C,H,W) for conv layers; 0 = flat */
    int32_t field;       /* SPARSE: field index into the batch's sparse fields */
    uint32_t reserved0;
} sigeo_input_desc_t;

#define SIGEO_INPUT_DESC_INIT { (uint32_t)sizeof(sigeo_input_desc_t), SIGEO_INPUT_DENSE, NULL, 0, { 0, 0, 0 }, 0, 0u }
SIGEO_API sigeo_status_t sigeo_input_desc_init(sigeo_input_desc_t *desc, uint32_t struct_size);

/* Layer kinds. Inputs are node ids returned by earlier add_* calls.
 * Per kind: inputs, parameters, initialisation (PyTorch default). */
typedef enum sigeo_layer_kind {
    /* y = x W^T + b; W [units, in], b [units] (flag NO_BIAS drops it).
     * Elastic output width via width_choice (values of the choice = widths).
     * Init: W, b ~ U(-1/sqrt(in), 1/sqrt(in)) (nn.Linear). */
    SIGEO_LAYER_LINEAR = 0,
    /* Elementwise activation `activation` of the single input. */
    SIGEO_LAYER_ACTIVATION = 1,
    /* Pooled lookup of one SPARSE input's bag in a table [rows, units]
     * (pooling SUM or MEAN; ids must be in [0, rows)). Init: N(0, 1) (nn.EmbeddingBag). */
    SIGEO_LAYER_EMBEDDING_BAG = 2,
    /* Elementwise sum of all inputs (equal widths); input_choices may gate each input on/off. */
    SIGEO_LAYER_SUM = 3,
    /* Concatenation along features; input_choices may gate each input on/off. */
    SIGEO_LAYER_CONCAT = 4,
    /* Op choice: output = inputs[arch[choice]]; only the chosen branch runs. */
    SIGEO_LAYER_SELECT = 5,
    /* DLRM dot-product interaction: inputs are n vectors of equal width E;
     * output = the n(n-1)/2 pairwise dots z_i . z_j (i > j), row-major lower triangle. */
    SIGEO_LAYER_DOT_INTERACTION = 6,
    /* Layer norm over the (active) feature axis, eps 1e-5, affine gamma [units], beta [units]
     * (units = max width). Init: gamma 1, beta 0 (nn.LayerNorm). */
    SIGEO_LAYER_LAYER_NORM = 7,
    /*
     * Per-row shapes. A node may carry a per-row shape: (C, H, W) for images
     * (a dense input with `shape` set, CONV2D, POOL2D) or (T, E) for token
     * sequences (RESHAPE, TOKEN_LINEAR, ATTENTION), stored row-major in the
     * [B, features] row (image rows are NCHW, token rows token-major t*E + e).
     * ACTIVATION, SELECT, SUM of equal shapes and LAYER_NORM pass their input's
     * shape on; CONCAT of inputs whose trailing dims agree concatenates along
     * the first dim (channels, tokens). Only the first dim may be elastic: the
     * active first dim is active width / product of the others.
     */
    /* 2-D convolution (nn.Conv2d; dilation 1, groups 1): one input of shape
     * (C, H, W); out_channels = units; kernel, stride (0 = 1), padding (zeros,
     * both sides) per axis. Output (units, Ho, Wo), Ho = (H + 2 ph - kh) / sh + 1
     * rounded down. weight [units, C, kh, kw], bias [units] (NO_BIAS drops it).
     * Init (kaiming_uniform(a=sqrt 5)): weight, bias ~ U(-1/sqrt(C kh kw), +1/sqrt(C kh kw)). */
    SIGEO_LAYER_CONV2D = 8,
    /* Batch norm over the first dim of the input's shape (channels): shape (C, H, W)
     * is nn.BatchNorm2d, (C, L) or flat [B, C] nn.BatchNorm1d; eps 1e-5. Train mode
     * (default) normalises with the batch statistics (biased variance) and updates
     * the running statistics with momentum 0.1 (running var from the unbiased
     * variance); flag RUNNING_STATS is eval mode (running statistics, no update).
     * weight (gamma) [C], bias (beta) [C] (C = max channels); running_mean [C] and
     * running_var [C] are buffers, not parameters. Init: gamma 1, beta 0,
     * running mean 0, running var 1. The batch statistics couple the rows of a
     * batch: a sample's loss depends on every row, so the one-backward
     * per-sample Fisher-Rao terms of the layers upstream are not exact
     * (sigeo_proxy_compute's EXACT estimator then runs a forward-mode pass). */
    SIGEO_LAYER_BATCH_NORM = 9,
    /* 2-D pooling of a (C, H, W) input, pooling MEAN (nn.AvgPool2d, padding counted
     * in the divisor; with flag POOL_EXCLUDE_PAD count_include_pad=False: each
     * window divides by its in-image pixels, NB201's avg_pool_3x3) or MAX
     * (nn.MaxPool2d); kernel, stride (0 = kernel, as PyTorch), padding per axis
     * (at most half the kernel). Output (C, Ho, Wo), sizes as CONV2D. No parameters. */
    SIGEO_LAYER_POOL2D = 10,
    /* Mean over H, W of a (C, H, W) input: output [B, C], flat
     * (nn.AdaptiveAvgPool2d(1) then flatten). No parameters. */
    SIGEO_LAYER_GLOBAL_AVG_POOL = 11,
    /* Token mixing (NASRec linear-3d): input of shape (T, E);
     * y[t', e] = sum_t W[t', t] x[t, e] + b[t'], output shape (units, E).
     * weight [units, T], bias [units] (NO_BIAS drops it). Elastic output tokens
     * via width_choice (values = token counts; the first rows of W, an exact
     * slice); active input tokens use the matching columns of W.
     * Init: W, b ~ U(-1/sqrt(T), 1/sqrt(T)) (nn.Linear(T, units)). */
    SIGEO_LAYER_TOKEN_LINEAR = 12,
    /* Multi-head self-attention over the tokens of a (T, E) input
     * (nn.MultiheadAttention(E, heads, batch_first) with query = key = value,
     * no mask, no dropout): softmax(Q K^T / sqrt(E / heads)) V per head, then the
     * output projection. Output shape (T, E). Parameters "<name>.in_proj_weight"
     * [3E, E] (rows: Q, K, V), "<name>.in_proj_bias" [3E], "<name>.out_proj.weight"
     * [E, E], "<name>.out_proj.bias" [E], as PyTorch names them. heads divides E.
     * Init (PyTorch): in_proj_weight xavier_uniform U(+-sqrt(6 / (E + 3E))),
     * in_proj_bias 0, out_proj.weight U(+-1/sqrt(E)) (nn.Linear), out_proj.bias 0. */
    SIGEO_LAYER_ATTENTION = 13,
    /* Factorisation machine over tokens (NASRec FM): input (T, E);
     * out[e] = (sum_t x[t, e])^2 - sum_t x[t, e]^2 (no 1/2), output [B, E] flat. */
    SIGEO_LAYER_FM = 14,
    /* Sigmoid gating (NASRec): inputs L, R (flat); the narrower is zero-padded
     * to V = the wider active width; out = sigmoid(L W^T + b) * R, width V.
     * weight [Vmax, Vmax], bias [Vmax] (Vmax = wider max width); the active
     * rows are the first V, the columns follow L's active features.
     * Init: W, b ~ U(-1/sqrt(Vmax), 1/sqrt(Vmax)) (nn.Linear(V, V)). */
    SIGEO_LAYER_SIGMOID_GATING = 15,
    /* Features [offset, offset + units) of the input's active features; keeps
     * the input's shape when offset and units are multiples of a first-dim
     * slab (selects channels / tokens). No parameters. */
    SIGEO_LAYER_SLICE = 16,
    /* Sets the per-row shape to `shape` (e.g. [B, P*E] -> tokens (P, E)); all
     * zeros flattens. The values are copied unchanged. No parameters. */
    SIGEO_LAYER_RESHAPE = 17,
    /* Zeros of `units` features (with per-row `shape`, optional), or with
     * units 0 zeros shaped like the input (NASRec zeros-2d/3d, NB201's none
     * = x.mul(0)). The input only anchors the node in the graph: it receives
     * no gradient.
     * Keeping nodes the loss does not depend on: routing runs only the nodes
     * the loss reads, transitively. PyTorch runs every module forward() calls,
     * so a branch whose value is multiplied by zero (NB201's none edges out of
     * a node) still counts in #params, FLOPs and NASWOT's ReLUs there. The
     * rule: read such a branch with a ZERO layer and add that into a node the
     * loss reads; the branch is then active (computed, counted, its ReLU
     * codes seen) and its parameters get a zero gradient, as in PyTorch. */
    SIGEO_LAYER_ZERO = 18
} sigeo_layer_kind_t;

/* Elementwise functions of SIGEO_LAYER_ACTIVATION. */
typedef enum sigeo_activation {
    SIGEO_ACT_IDENTITY = 0,
    SIGEO_ACT_RELU = 1,
    SIGEO_ACT_SIGMOID = 2,
    SIGEO_ACT_TANH = 3,
    SIGEO_ACT_GELU = 4 /* erf form, as nn.GELU() */
} sigeo_activation_t;

/* Pooling of SIGEO_LAYER_EMBEDDING_BAG bags and SIGEO_LAYER_POOL2D windows. */
typedef enum sigeo_pooling {
    SIGEO_POOL_SUM = 0,
    SIGEO_POOL_MEAN = 1,
    SIGEO_POOL_MAX = 2  /* POOL2D only */
} sigeo_pooling_t;

/* Bits of sigeo_layer_desc_t.flags. */
#define SIGEO_LAYER_NO_BIAS 0x1u
/* BATCH_NORM: eval mode, normalise with the running statistics and leave them unchanged. */
#define SIGEO_LAYER_RUNNING_STATS 0x2u
/* POOL2D MEAN: count_include_pad=False (divide by the window's in-image pixels). */
#define SIGEO_LAYER_POOL_EXCLUDE_PAD 0x4u

/* One layer (sigeo_model_add_layer): the fields each kind reads are listed at its
 * sigeo_layer_kind_t value; the others keep their _INIT values. */
typedef struct sigeo_layer_desc {
    uint32_t struct_size;
    int32_t kind;                 /* sigeo_layer_kind_t */
    const char *name;             /* unique, copied; parameters are "<name>.weight", "<name>.bias" (ATTENTION: see there) */
    const int32_t *inputs;        /* [n_inputs] node ids */
    uint32_t n_inputs;
    uint32_t flags;               /* SIGEO_LAYER_* bits */
    int64_t units;                /* LINEAR: max output width; EMBEDDING_BAG: dim; LAYER_NORM: max width (0 = input's);
                                     CONV2D: out channels; TOKEN_LINEAR: max output tokens; SLICE: length;
                                     ZERO: width (0 = input's) */
    int64_t rows;                 /* EMBEDDING_BAG: table rows */
    int32_t activation;           /* ACTIVATION: sigeo_activation_t */
    int32_t pooling;              /* EMBEDDING_BAG (SUM, MEAN), POOL2D (MEAN, MAX): sigeo_pooling_t */
    int32_t width_choice;         /* LINEAR, TOKEN_LINEAR: choice point whose values are widths (tokens); -1 = fixed */
    int32_t choice;               /* SELECT: choice point picking the input; -1 otherwise */
    const int32_t *input_choices; /* SUM/CONCAT: [n_inputs] 2-option choice per input (0 off, 1 on), -1 = always on; may be NULL */
    int64_t kernel[2];            /* CONV2D, POOL2D: kernel height, width */
    int64_t stride[2];            /* CONV2D, POOL2D: stride per axis; 0 = PyTorch's default (conv 1, pool kernel) */
    int64_t padding[2];           /* CONV2D, POOL2D: padding per axis, both sides */
    int64_t shape[3];             /* RESHAPE, ZERO: per-row output shape, (C, H, W) or (T, E, 0); zeros = flat */
    int64_t offset;               /* SLICE: first feature (the slice is `units` features long) */
    int32_t heads;                /* ATTENTION: number of heads */
    uint32_t reserved0;           /* 0 (set by the _INIT macro) */
} sigeo_layer_desc_t;

#define SIGEO_LAYER_DESC_INIT                                                                            \
    { (uint32_t)sizeof(sigeo_layer_desc_t), SIGEO_LAYER_LINEAR, NULL, NULL, 0u, 0u, 0, 0, SIGEO_ACT_IDENTITY, \
      SIGEO_POOL_SUM, -1, -1, NULL, { 0, 0 }, { 0, 0 }, { 0, 0 }, { 0, 0, 0 }, 0, 0, 0u }
SIGEO_API sigeo_status_t sigeo_layer_desc_init(sigeo_layer_desc_t *desc, uint32_t struct_size);

/* Losses of sigeo_model_set_loss. */
typedef enum sigeo_loss_kind {
    SIGEO_LOSS_BCE_WITH_LOGITS = 0, /* logits [B, T] vs targets [B, T] in {0,1} (any value in [0,1]) */
    SIGEO_LOSS_SOFTMAX_CE = 1,      /* logits [B, C] vs labels [B] in [0, C) */
    SIGEO_LOSS_MSE = 2              /* outputs [B, T] vs targets [B, T] */
} sigeo_loss_kind_t;
/* Every loss is the mean over the batch of the per-sample losses (PyTorch's
 * default reduction); BCE and MSE per sample are means over the T targets. */

/* Parameter kinds (for proxies that count only some, e.g. ZiCo's CL-weights). */
typedef enum sigeo_param_kind {
    SIGEO_PARAM_WEIGHT = 0,    /* linear / conv weight */
    SIGEO_PARAM_BIAS = 1,
    SIGEO_PARAM_EMBEDDING = 2,
    SIGEO_PARAM_NORM_SCALE = 3,
    SIGEO_PARAM_NORM_SHIFT = 4
} sigeo_param_kind_t;

/* One parameter tensor (sigeo_model_param_info). */
typedef struct sigeo_param_info {
    uint32_t struct_size;
    int32_t kind;          /* sigeo_param_kind_t */
    const char *name;      /* borrowed, valid until the model is destroyed */
    int32_t module;        /* module index (layer) */
    int32_t ndim;
    int64_t dims[4];       /* full (max-width) shape, PyTorch layout ([out, in] for linear) */
    int64_t numel;         /* product of dims */
    int64_t active_numel;  /* elements used by the active architecture (0 if the layer is inactive) */
} sigeo_param_info_t;

#define SIGEO_PARAM_INFO_INIT { (uint32_t)sizeof(sigeo_param_info_t), 0, NULL, 0, 0, { 0, 0, 0, 0 }, 0, 0 }
SIGEO_API sigeo_status_t sigeo_param_info_init(sigeo_param_info_t *info, uint32_t struct_size);

/* Creates an empty model in build state. `name` may be NULL. */
SIGEO_API sigeo_status_t sigeo_model_create(sigeo_model_t **out, sigeo_context_t *ctx, const char *name);
SIGEO_API void sigeo_model_destroy(sigeo_model_t *model);

/* Builder calls (before finalize). Each returns the new node id in *node_out.
 * Errors: SIGEO_ERR_INVALID_ARG (after finalize, bad ids, duplicate names,
 * unknown kinds), SIGEO_ERR_SHAPE (inputs that do not fit), SIGEO_ERR_NO_MEMORY. */
SIGEO_API sigeo_status_t sigeo_model_add_input(int32_t *node_out, sigeo_model_t *model, const sigeo_input_desc_t *desc);
SIGEO_API sigeo_status_t sigeo_model_add_layer(int32_t *node_out, sigeo_model_t *model, const sigeo_layer_desc_t *desc);

/* Declares a choice point with n_options options; `values` (may be NULL)
 * gives each option a number (the widths of an elastic width). Returns its
 * index, which is also its position in an architecture vector. */
SIGEO_API sigeo_status_t sigeo_model_add_choice(int32_t *choice_out, sigeo_model_t *model, const char *name,
                                                int32_t n_options, const int64_t *values);

/* Sets the loss on node `output`. Exactly once, before finalize. */
SIGEO_API sigeo_status_t sigeo_model_set_loss(sigeo_model_t *model, int32_t output, sigeo_loss_kind_t kind);

/* Ends building: checks the graph, allocates and initialises the parameters
 * from the model's stream (the context's seed), activates the architecture of all-last options
 * (the largest widths, for width choices in increasing order). */
SIGEO_API sigeo_status_t sigeo_model_finalize(sigeo_model_t *model);

/* Number of choice points; with `n_options_out` non-NULL and capacity >= count,
 * also each point's option count (two-call pattern). */
SIGEO_API sigeo_status_t sigeo_model_choices(int32_t *count_out, int32_t *n_options_out, int32_t capacity,
                                             const sigeo_model_t *model);

/* Activates an architecture (one int32 per choice point). Weights are the
 * supernet's own (inherited). Errors: SIGEO_ERR_INVALID_ARG (wrong length,
 * option out of range — naming the point), SIGEO_ERR_SHAPE (an arch that
 * leaves a layer without input); the previous architecture stays active. */
SIGEO_API sigeo_status_t sigeo_model_activate(sigeo_model_t *model, const int32_t *arch, int32_t n);
/* Copies the active architecture into arch (capacity >= choice count). */
SIGEO_API sigeo_status_t sigeo_model_active_arch(int32_t *arch, int32_t capacity, const sigeo_model_t *model);

/* Forward only; *loss_out (may be NULL) is the mean batch loss. Labels or
 * targets may be NULL in the batch for a forward without loss (loss_out then
 * must be NULL). */
SIGEO_API sigeo_status_t sigeo_model_forward(double *loss_out, sigeo_model_t *model, const sigeo_batch_t *batch);
/* Forward and backward of the mean loss: gradients of every active
 * parameter land in the model's gradient buffers (overwritten, not
 * accumulated; inactive parts are zero). */
SIGEO_API sigeo_status_t sigeo_model_forward_backward(double *loss_out, sigeo_model_t *model,
                                                      const sigeo_batch_t *batch);

/* Per-sample losses of the last forward (two-call: buf NULL -> *count = B).
 * SIGEO_ERR_INVALID_ARG if that forward ran without the loss
 * (sigeo_model_forward with loss_out NULL) or the model or its architecture
 * changed since. */
SIGEO_API sigeo_status_t sigeo_model_sample_losses(float *buf, int64_t *count, const sigeo_model_t *model);
/* Output of node `node` from the last forward, [B, active width], row-major
 * (two-call pattern on count, in floats). */
SIGEO_API sigeo_status_t sigeo_model_node_output(float *buf, int64_t *count, const sigeo_model_t *model,
                                                 int32_t node);

/* Parameters: count, info, and copies in/out of values and gradients
 * (count must equal numel). set_param validates finiteness. */
SIGEO_API sigeo_status_t sigeo_model_param_count(int32_t *count_out, const sigeo_model_t *model);
SIGEO_API sigeo_status_t sigeo_model_param_info(sigeo_param_info_t *out, const sigeo_model_t *model, int32_t param);
SIGEO_API sigeo_status_t sigeo_model_find_param(int32_t *param_out, const sigeo_model_t *model, const char *name);
SIGEO_API sigeo_status_t sigeo_model_get_param(const sigeo_model_t *model, int32_t param, float *buf, int64_t count);
SIGEO_API sigeo_status_t sigeo_model_set_param(sigeo_model_t *model, int32_t param, const float *buf, int64_t count);
SIGEO_API sigeo_status_t sigeo_model_get_grad(const sigeo_model_t *model, int32_t param, float *buf, int64_t count);

/* Gradients written by the host (SIGEO_1.1), between a forward_backward and
 * the optimiser step: a data-parallel host replaces every gradient by the
 * average over its processes. The next forward_backward overwrites them.
 *  - sigeo_model_set_grad: a dense parameter's whole gradient (count =
 *    numel). Embedding tables are refused (their gradient is row-sparse).
 *  - sigeo_model_grad_rows: the distinct rows of embedding table `param`
 *    that the last backward touched, ascending (two-call: rows NULL ->
 *    *count = how many; else *count is the capacity of rows and is set to
 *    the number written), and their gradient rows into values
 *    [count * dim] (may be NULL).
 *  - sigeo_model_set_grad_rows: replaces the table's gradient by `values`
 *    [n_rows * dim] on `rows` (strictly ascending) and zero elsewhere; the
 *    optimiser's row-sparse update then visits exactly these rows (pass the
 *    union of every process's rows, so all processes update the same ones).
 * Errors: SIGEO_ERR_INVALID_ARG (NULL, index out of range, the wrong kind of
 * parameter, rows unsorted or out of range), SIGEO_ERR_SHAPE (count),
 * SIGEO_ERR_NO_MEMORY. */
SIGEO_API sigeo_status_t sigeo_model_set_grad(sigeo_model_t *model, int32_t param, const float *buf, int64_t count);
SIGEO_API sigeo_status_t sigeo_model_grad_rows(int64_t *rows, float *values, int64_t *count,
                                               const sigeo_model_t *model, int32_t param);
SIGEO_API sigeo_status_t sigeo_model_set_grad_rows(sigeo_model_t *model, int32_t param, const int64_t *rows,
                                                   int64_t n_rows, const float *values);

/* Number of modules (parameterised layers) and the name of one (borrowed). */
SIGEO_API sigeo_status_t sigeo_model_module_count(int32_t *count_out, const sigeo_model_t *model);
SIGEO_API const char *sigeo_model_module_name(const sigeo_model_t *model, int32_t module);

/* Block outputs (SIGEO_1.1): the nodes whose features AZ-NAS's measures
 * read (az_expressivity, az_progressivity, az_trainability; proxy.h and
 * docs/proxies-zoo.md), the outputs of the model's stages in depth order,
 * as the official code's extract_cell_features returns them (NB201: the
 * stem, every cell and every reduction block). A model without marks keeps
 * the default rule: its active non-identity activation nodes in node order,
 * right for stacks of layer-activation blocks (the mlp space) and wrong
 * where activations sit on parallel branches (NB201's ReLU-Conv-BN edges).
 *
 * sigeo_model_mark_block marks `node` as a block, before or after
 * finalize, once the loss is set. The marks are a chain: each depends on
 * the one before it in node order (a walk over the inputs as built,
 * whatever a choice gates), so node order is their depth order and the
 * order of the calls does not matter. Under an architecture, the measures
 * read the active marked nodes; extraction (sigeo_model_extract) carries
 * the marks of the nodes it keeps (a mark on an op choice lands on the
 * chosen branch), so a standalone model and the supernet's path score
 * alike. Errors: SIGEO_ERR_INVALID_ARG (NULL model, a node out of range,
 * a model input, no loss yet, a node already marked, a node the loss does
 * not depend on, a node on a branch parallel to a marked one — naming
 * both), SIGEO_ERR_NO_MEMORY.
 * sigeo_model_blocks: the marked nodes, ascending (two-call: nodes NULL ->
 * *count_out only; capacity below the count is SIGEO_ERR_INVALID_ARG). */
SIGEO_API sigeo_status_t sigeo_model_mark_block(sigeo_model_t *model, int32_t node);
SIGEO_API sigeo_status_t sigeo_model_blocks(int32_t *count_out, int32_t *nodes, int32_t capacity,
                                            const sigeo_model_t *model);

/* ------------------------------------------------------ architectures */

/* Choice groups tell the path samplers which on/off points belong together
 * (NASRec's input-edge lists and node lists): sampling strategies draw how
 * many points of a group are on, and a group never has all points off. */
typedef enum sigeo_group_kind {
    SIGEO_GROUP_SUBSET = 0, /* any non-empty subset of the 2-option points may be on */
    SIGEO_GROUP_ONE_OF = 1  /* exactly one of the 2-option points is on */
} sigeo_group_kind_t;

/* Declares a group over n 2-option choice points (before finalize). A point
 * belongs to at most one group. */
SIGEO_API sigeo_status_t sigeo_model_add_choice_group(sigeo_model_t *model, const char *name, sigeo_group_kind_t kind,
                                                      const int32_t *points, int32_t n);

/* Path-sampling strategies of sigeo_model_sample_arch. */
typedef enum sigeo_sampling {
    /* Each choice point uniform; subset groups redrawn until non-empty. */
    SIGEO_SAMPLE_UNIFORM = 0,
    /* One point on per group (NASRec single-path); other points uniform. */
    SIGEO_SAMPLE_SINGLE_PATH = 1,
    /* Per subset group, count = 1 + randint(min(n, 4)) points on, drawn
     * without replacement (NASRec any-path, uniform counts). */
    SIGEO_SAMPLE_ANY_PATH = 2,
    /* Per subset group, count = 1 + Binomial(min(n - 1, 3), 0.5) (NASRec
     * any-path with binomial-0.5 counts). */
    SIGEO_SAMPLE_ANY_PATH_BINOMIAL = 3,
    /* Everything on, every other point at its last option (largest width). */
    SIGEO_SAMPLE_FULL_PATH = 4
} sigeo_sampling_t;

/* Draws an architecture from the model's random stream (deterministic for
 * a seed) into arch[0..n_choices). Does not activate it. */
SIGEO_API sigeo_status_t sigeo_model_sample_arch(int32_t *arch, int32_t capacity, sigeo_model_t *model,
                                                 sigeo_sampling_t how);

/* One elementary mutation of `arch` in place, from the model's random
 * stream: a uniformly chosen choice point is redrawn to a different option;
 * a point that belongs to a group redraws its whole group (any-path
 * counts), as NASRec's mutation redraws a whole input list. The result may
 * still be invalid for routing: check it (sigeo_model_check_arch). */
SIGEO_API sigeo_status_t sigeo_model_mutate_arch(int32_t *arch, int32_t n, sigeo_model_t *model);

/* Whether `arch` is valid for the model (ranges, groups, every layer has an
 * input). Returns SIGEO_OK or the error activate would give, without
 * changing the model. */
SIGEO_API sigeo_status_t sigeo_model_check_arch(sigeo_model_t *model, const int32_t *arch, int32_t n);

/* Text form of an architecture: decimal options separated by commas, e.g.
 * "3,0,1" (an empty architecture is ""). sigeo_arch_format writes at most
 * `size` bytes including the NUL; *len_out (may be NULL) gets the length
 * needed without the NUL (two-call: buf NULL, size 0). sigeo_arch_parse reads
 * exactly that form (no spaces, no sign, no leading zeros except "0") into
 * arch (capacity entries), the count into *n_out. */
SIGEO_API sigeo_status_t sigeo_arch_format(char *buf, size_t size, size_t *len_out, const int32_t *arch, int32_t n);
SIGEO_API sigeo_status_t sigeo_arch_parse(int32_t *arch, int32_t capacity, int32_t *n_out, const char *text);

/* Readable description of an architecture: one "choice=value" per choice
 * point (the option's value where the point has values, e.g. a width, else
 * its index), space separated; two-call pattern on len as sigeo_arch_format. */
SIGEO_API sigeo_status_t sigeo_model_describe_arch(char *buf, size_t size, size_t *len_out, const sigeo_model_t *model,
                                                   const int32_t *arch, int32_t n);

/* Parameters and FLOPs of an architecture (the paper's R(a) budgets and the
 * #params / FLOPs proxies): active parameter elements (embedding tables in
 * full), and multiply-accumulates of one sample by the model's FLOPs
 * convention (sigeo_model_set_flops_convention). Either output may be NULL. */
SIGEO_API sigeo_status_t sigeo_model_count(int64_t *params_out, int64_t *flops_out, sigeo_model_t *model,
                                           const int32_t *arch, int32_t n);

/* How sigeo_model_count counts FLOPs (multiply-accumulates of one sample).
 * Both: conv kh*kw*cin*cout*Ho*Wo (bias not counted); batch/layer norm,
 * global average pooling, sums, concat, select, zeros 0. They differ in: */
typedef enum sigeo_flops_convention {
    /* tensorwatch-like (the default): linear in*out (bias not counted), ReLU
     * numel, POOL2D 0, other ops as documented per kind. */
    SIGEO_FLOPS_TENSORWATCH = 0,
    /* NAS-Bench-201 / xautodl (docs/cellspace.md §1): linear in*out + out
     * (with a bias), activations 0, POOL2D kh*kw*C*Ho*Wo (average and max). */
    SIGEO_FLOPS_NB201 = 1
} sigeo_flops_convention_t;

/* Sets the convention of sigeo_model_count (any time; extracted models
 * inherit it). Errors: SIGEO_ERR_INVALID_ARG (unknown convention). */
SIGEO_API sigeo_status_t sigeo_model_set_flops_convention(sigeo_model_t *model, int32_t convention);

/* Builds a standalone model of architecture `arch`: only the nodes it uses,
 * at its widths, with no choice points; same node and parameter names. With
 * inherit_weights the weights are the supernet's slices (so outputs and
 * gradients equal the activated subnet's up to GEMM rounding), otherwise
 * fresh from the new model's own stream of the context's seed (train from
 * scratch). */
SIGEO_API sigeo_status_t sigeo_model_extract(sigeo_model_t **out, sigeo_model_t *model, const int32_t *arch,
                                             int32_t n, int inherit_weights);

/* Training (default) or evaluation mode: in evaluation mode batch norms
 * normalise with their running statistics and do not update them (PyTorch's
 * model.eval()); every other layer behaves the same in both modes. */
SIGEO_API sigeo_status_t sigeo_model_set_training(sigeo_model_t *model, int training);

/* ---------------------------------------------------------- checkpoints */

/* Saves every parameter at its full (supernet) shape to a safetensors file
 * under its name ("fc0.weight", PyTorch layout), atomically (a temporary file
 * in the same directory, then rename: a crash never leaves a half-written
 * `path`). __metadata__ records "format" = "pt" (so PyTorch's loader accepts
 * it), "libsigeo_version", "model" and "arch" (the active architecture's
 * text form). Batch norms add their buffers under PyTorch's names:
 * "<name>.running_mean", "<name>.running_var" (F32) and
 * "<name>.num_batches_tracked" (I64 scalar). `path` must be absent or a
 * regular file: a symbolic link, FIFO, device or directory there is refused
 * (SIGEO_ERR_IO) and left as it is — a link is not followed (save to its
 * target). The temporary is ".<name>.sigeo-tmp.<pid>" beside `path`; a
 * save removes such leftovers of processes that no longer exist (a save
 * killed part way). Errors: SIGEO_ERR_IO (with the system's reason),
 * SIGEO_ERR_INVALID_ARG. */
SIGEO_API sigeo_status_t sigeo_model_save(sigeo_model_t *model, const char *path);

/* Bits of sigeo_model_load's flags. */
#define SIGEO_LOAD_ALLOW_EXTRA 0x1u   /* ignore tensors the model does not have */
#define SIGEO_LOAD_ALLOW_MISSING 0x2u /* keep the current values of parameters the file lacks */
#define SIGEO_LOAD_ALLOW_OTHER_MODEL 0x4u /* load a file whose metadata names another model or architecture space */

/* Loads parameters by name from a safetensors file (F32, or F64 converted
 * to float). Names and shapes are checked first and every value must be
 * finite; only then is anything copied, so on any error the model is
 * unchanged. Errors: SIGEO_ERR_IO, SIGEO_ERR_FORMAT (malformed file, with
 * the byte offset), SIGEO_ERR_SHAPE (a shape mismatch, naming the tensor),
 * SIGEO_ERR_INVALID_ARG (a missing or extra tensor, naming it; an
 * unsupported dtype; metadata "model" naming another model, or "arch" not
 * fitting this model's choice points — unless SIGEO_LOAD_ALLOW_OTHER_MODEL;
 * an "arch" that fits is not activated: weights are full-shape),
 * SIGEO_ERR_NONFINITE. `path` must be a regular file: a FIFO, device or
 * directory is SIGEO_ERR_IO (without blocking). */
SIGEO_API sigeo_status_t sigeo_model_load(sigeo_model_t *model, const char *path, uint32_t flags);

/* Last failure of a call on this model, from any thread; never NULL. */
SIGEO_API const char *sigeo_model_last_error(const sigeo_model_t *model);

#ifdef __cplusplus
}
#endif

#endif /* SIGEO_MODEL_H */
