/* What the proxy layer may see of a model beyond the public API: the
 * module blocks, the per-sample directional terms collected in backward,
 * and one opaque attachment for the proxy's reusable buffers. lib/proxy
 * includes this header, never graph.h: the engine does not know proxies. */
#ifndef SIGEO_NN_PROBE_H
#define SIGEO_NN_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"
#include "core/rng.h"
#include "sigeo/model.h"

typedef struct sigeo__probe_param {
    int32_t kind;   /* sigeo_param_kind_t */
    int64_t offset; /* within the module block */
    int64_t numel;
    int64_t active_numel; /* elements the active architecture uses */
} sigeo__probe_param_t;

/* A module is one layer's parameters: at most four (attention: in_proj
 * weight and bias, out_proj weight and bias). sigeo__model_add_param
 * refuses a fifth (SIGEO_ERR_INTERNAL naming the layer), so a module view
 * always holds every parameter: nothing is cut silently. */
#define SIGEO__MODULE_MAX_PARAMS 4

typedef struct sigeo__probe_module {
    const char *name;    /* the layer's node name */
    bool active;         /* the layer runs under the active architecture */
    int64_t numel;
    const float *data;   /* the module's parameters, one block */
    const float *grad;   /* their gradients from the last backward */
    int32_t n_params;
    int32_t first_param;     /* index of its first parameter (sigeo__probe_param) */
    sigeo__probe_param_t params[SIGEO__MODULE_MAX_PARAMS]; /* all n_params of them */
    int32_t node;        /* the layer's node index (sigeo__probe_node) */
} sigeo__probe_module_t;

int32_t sigeo__probe_module_count(const sigeo_model_t *m);
void sigeo__probe_module(sigeo__probe_module_t *out, const sigeo_model_t *m, int32_t module);

/* Collect s_n = sum over homogeneous layers of dL/dy_n . y_n during
 * backward (docs/proxies.md §4.2); d_n = B s_n for a mean loss. */
void sigeo__probe_collect_directional(sigeo_model_t *m, bool on);
const double *sigeo__probe_directional(const sigeo_model_t *m);

/* Calls hook(user, m, module) in every backward, right after the layer
 * owning `module` has written its parameter gradients (a module's
 * gradients are written by its own layer's backward only, so they are final
 * then, and still in cache: the proxy folds them into its statistics there
 * instead of in a separate pass). Modules of layers that do not run
 * backward (inactive, no backward rule) get no call: their gradients stay
 * the zeros the backward starts from. A hook's error stops the backward,
 * which returns it. NULL removes the hook. */
typedef sigeo_status_t (*sigeo__grad_hook_t)(void *user, sigeo_model_t *m, int32_t module);
void sigeo__probe_grad_hook(sigeo_model_t *m, sigeo__grad_hook_t hook, void *user);

/* The module of the layer producing the loss's input (the head), or -1 when
 * that layer has no parameters. */
int32_t sigeo__probe_head_module(const sigeo_model_t *m);
/* Restricts the collected terms to the head (on) or lets every layer add
 * (off). */
void sigeo__probe_directional_head_only(sigeo_model_t *m, bool on);

/* Whether any active layer couples the samples of a batch (train-mode batch
 * norm): then the one-backward identity is not exact. */
bool sigeo__probe_couples_samples(const sigeo_model_t *m);

/* One parameter tensor, for optimisers. dirty_rows lists the embedding rows
 * the last backward touched (with repetitions); NULL/0 for dense tensors. */
typedef struct sigeo__probe_tensor {
    const char *name;
    int32_t kind;
    bool active;
    int64_t numel;
    int64_t rows, row_size; /* embedding tables: [rows, row_size]; dense: [1, numel] */
    float *data;
    const float *grad;
    const int64_t *dirty_rows;
    int64_t n_dirty_rows;
} sigeo__probe_tensor_t;

int32_t sigeo__probe_param_count(const sigeo_model_t *m);
void sigeo__probe_param(sigeo__probe_tensor_t *out, sigeo_model_t *m, int32_t param);

/* The loss node's output of the last forward ([batch, width]) and the
 * per-sample losses; the loss kind. */
void sigeo__probe_loss_output(const float **out, int64_t *batch, int64_t *width, int32_t *loss_kind,
                              const sigeo_model_t *m);

sigeo_context_t *sigeo__probe_context(const sigeo_model_t *m);
/* The model's own random stream (fresh weights, proxies' random data). */
sigeo__rng_t *sigeo__probe_model_rng(sigeo_model_t *m);

/* SIGEO_OK if the model is finalised, else INVALID_ARG "<fn>: model '...'
 * is not finalised" in the model's and the thread's message (model.c). */
sigeo_status_t sigeo__model_check_ready(const sigeo_model_t *m, const char *fn);
sigeo__errbuf_t *sigeo__probe_errbuf(sigeo_model_t *m);

/* sigeo_model_sample_arch / sigeo_model_mutate_arch drawing from `rng`
 * instead of the model's own stream (NULL = the model's): a search's seed
 * drives all of its draws, whatever else uses the model (lib/search). */
sigeo_status_t sigeo__sample_arch_from(int32_t *arch, int32_t capacity, sigeo_model_t *m, sigeo_sampling_t how,
                                       sigeo__rng_t *rng);
sigeo_status_t sigeo__mutate_arch_from(int32_t *arch, int32_t n, sigeo_model_t *m, sigeo__rng_t *rng);

/* One opaque pointer the proxy layer owns on the model, destroyed with it. */
void *sigeo__probe_attachment(const sigeo_model_t *m);
void sigeo__probe_attach(sigeo_model_t *m, void *attachment, void (*destroy)(void *attachment));

/* ------------------------------------------------ for the baseline proxies
 * (lib/proxy/<kind>.c). Pointers into node buffers are valid until the next
 * forward with a larger batch or the next activation. */

/* The module's parameter block, writable: proxies that change weights
 * (synflow's abs, zen's re-initialisation, grasp's perturbation) write here
 * and restore the saved values bit for bit. */
float *sigeo__probe_module_data(sigeo_model_t *m, int32_t module);

/* Marks which elements of parameter `param` (index within the module) the
 * active architecture uses: mask[i] = 1 or 0 for i < that parameter's numel,
 * from the slice the layer's op describes (graph.h, param_slice).
 * SIGEO_ERR_INTERNAL (with a message) if the mask disagrees with the
 * layer's active count. */
sigeo_status_t sigeo__probe_active_mask(uint8_t *mask, sigeo_model_t *m, int32_t module, int32_t param);

#define SIGEO__PROBE_INPUT_DENSE (-1)
#define SIGEO__PROBE_INPUT_SPARSE (-2)

/* One node of the tape (insertion order = topological order). */
typedef struct sigeo__probe_node {
    const char *name;
    int32_t kind;        /* sigeo_layer_kind_t, or SIGEO__PROBE_INPUT_DENSE / _SPARSE */
    int32_t activation;  /* ACTIVATION: sigeo_activation_t */
    int32_t module;      /* -1 = no parameters */
    bool active;
    uint32_t flags;      /* SIGEO_LAYER_* bits it was built with */
    int32_t n_inputs;
    const int32_t *inputs;
    int64_t width;       /* active features per row */
    int32_t shape_ndim;  /* 0 = flat, else 2 (T, E) or 3 (C, H, W) */
    int64_t channels;    /* active first dim of the per-row shape (flat: width) */
    int64_t positions;   /* width / channels (flat: 1) */
    int64_t spatial[2];  /* the rows a sample spans as (H, W): (C, H, W) its H and W, (T, E) T and 1, flat 1 and 1 */
    const float *out;    /* [batch, width] of the last forward (NULL if inactive) */
    const float *grad;   /* [batch, width] of the last backward */
    int32_t field;       /* SPARSE input: its field in the batch */
} sigeo__probe_node_t;

int32_t sigeo__probe_node_count(const sigeo_model_t *m);
/* The model's marked blocks (sigeo_model_mark_block): count and node ids,
 * ascending (a chain in depth order); NULL when there are none. In
 * blocks.c. */
int32_t sigeo__probe_block_count(const sigeo_model_t *m);
const int32_t *sigeo__probe_blocks(const sigeo_model_t *m);
void sigeo__probe_node(sigeo__probe_node_t *out, sigeo_model_t *m, int32_t node);
/* Whether input i of `node` is on under the active architecture. */
bool sigeo__probe_input_on(const sigeo_model_t *m, int32_t node, int32_t i);
/* The node the loss reads and the loss kind (sigeo_loss_kind_t). */
int32_t sigeo__probe_loss_node(const sigeo_model_t *m, int32_t *loss_kind);
/* Rows of the last forward. */
int64_t sigeo__probe_batch(const sigeo_model_t *m);

/* The state of a batch-norm node beyond its parameters. */
typedef struct sigeo__probe_bn {
    int64_t channels;        /* max channels (length of each array) */
    uint32_t *flags;         /* the node's SIGEO_LAYER_* flags: RUNNING_STATS = eval mode */
    float *gamma, *beta;     /* parameters [channels] */
    float *running_mean, *running_var; /* buffers [channels] */
    int64_t *num_batches_tracked;
} sigeo__probe_bn_t;

/* False if `node` is not a batch norm. */
bool sigeo__probe_batch_norm(sigeo__probe_bn_t *out, sigeo_model_t *m, int32_t node);
/* The max-layout index of each active channel of batch norm `node` into
 * idx[0..capacity); returns the number of active channels. */
int64_t sigeo__probe_batch_norm_channels(int64_t *idx, int64_t capacity, const sigeo_model_t *m, int32_t node);

/* Backward after a forward (sigeo_model_forward; no loss needed) from
 * `seed`, the gradient of the loss node's output [batch, its width], instead
 * of the loss gradient. With input_grad the gradient also reaches every
 * active dense input (its node view's grad; zero if nothing reads it).
 * Parameter gradients land as in sigeo_model_forward_backward. In tape.c. */
sigeo_status_t sigeo__tape_backward_from(sigeo_model_t *m, const float *seed, bool input_grad);

/* The gradient `seed` ([batch, width] of node `at`) backpropagated to node
 * `to` < `at` through the nodes between them only, after a forward: then
 * node `to`'s view (sigeo__probe_node) has it in `grad`, J^T seed with J =
 * d out_at / d out_to along the paths through `to`. Zero where `at` does
 * not depend on `to`. Parameter gradients of the nodes between are
 * overwritten. In tape.c. */
sigeo_status_t sigeo__tape_vjp_between(sigeo_model_t *m, int32_t at, const float *seed, int32_t to);

/* The exact per-sample directional derivatives d_n = theta . grad l_n
 * (l_n the per-sample loss, not divided by the batch size) of the last
 * forward's batch, into d_out[0..batch), by one forward-mode pass along
 * theta (docs/proxies.md §4.3a): exact also where samples are coupled (train-mode
 * batch norm differentiates through the same batch statistics the forward
 * used, and its running statistics are not touched). Needs a forward WITH
 * the loss (sigeo_model_forward with loss_out, or forward_backward) since
 * the last change; leaves everything the forward and backward wrote as it
 * was. Allocates its buffers on the first call (and when the batch grows)
 * only. SIGEO_ERR_INVALID_ARG without such a forward, SIGEO_ERR_UNSUPPORTED
 * for an op without a forward-mode rule, SIGEO_ERR_NONFINITE if a d_n
 * overflows, SIGEO_ERR_NO_MEMORY, SIGEO_ERR_INTERNAL (a backend failure).
 * In jvp.c. */
sigeo_status_t sigeo__tape_jvp(double *d_out, sigeo_model_t *m);

/* The exact Hessian-vector product of the batch loss L (the model's mean
 * loss on `batch`) in the parameters: runs a forward and backward on the
 * batch (so parameter gradients hold dL/dp afterwards, as after
 * sigeo_model_forward_backward), then the R-operator passes (hvp.c). v and
 * hv are arrays of sigeo__probe_param_count() pointers: v[p] the direction
 * of parameter p (numel floats, NULL = 0), hv[p] receives (H v)_p (numel
 * floats, zero outside the active slice; NULL = not wanted). ReLU's second
 * derivative is 0 and its mask the forward's, as autograd's double backward
 * takes them. SIGEO_ERR_UNSUPPORTED naming the first active op without a
 * second-order rule (see hvp.c for the list), errors of the forward and
 * backward. */
sigeo_status_t sigeo__tape_hvp(sigeo_model_t *m, const sigeo_batch_t *batch, const float *const *v,
                               float *const *hv);

#endif
