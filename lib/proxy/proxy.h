/* Internal interface of the proxy layer: the dispatcher (proxy.c) prepares
 * the architecture and the per-model workspace; each kind's file computes. */
#ifndef SIGEO_PROXY_PROXY_H
#define SIGEO_PROXY_PROXY_H

#include "core/core.h"
#include "nn/probe.h"
#include "sigeo/proxy.h"

/* Per-model reusable buffers, attached to the model (probe.h). */
typedef struct sigeo__proxy_ws {
    sigeo_stats_t *stats;             /* registered for stats_key below */
    sigeo_stats_options_t stats_opts; /* what `stats` was created with */
    uint32_t stats_param_kinds;
    int32_t stats_scope;
    int32_t n_stats_modules;
    int32_t *stats_module_of;         /* [model modules] stats index or -1 */
    int64_t *stats_offset;            /* [model modules] offset of the included params in the block */
    const float **grads;              /* [n_stats_modules] */
    int64_t *counts;                  /* [n_stats_modules] */
    const int64_t **touched;          /* [n_stats_modules] rows of table modules this batch, else NULL */
    int64_t *n_touched;               /* [n_stats_modules] */
    int32_t *table_param;             /* [n_stats_modules] embedding parameter of a table module, else -1 */
    double *directional;              /* [cap] d_n of one batch */
    int64_t directional_cap;
    int32_t *arch_before;             /* [n_choices] */
    int32_t n_choices;
    /* The baselines' buffers (sigeo__proxy_scratch), kept across calls. */
    void *scratch[8];
    size_t scratch_size[8];
    /* Per-module values and per-parameter saliencies of the last call
     * (layers.c), sized by the model's modules / parameters on first use. */
    int32_t layer_kind;               /* the kind of the last call, -1 = none finished */
    int32_t n_layer_modules, n_saliency_params;
    double *layer_value, *layer_zico, *layer_theta_dot; /* [n_layer_modules] */
    uint8_t *layer_on;                /* [n_layer_modules] the module has a value */
    float **saliency;                 /* [n_saliency_params] numel floats or NULL */
    uint8_t *saliency_on;             /* [n_saliency_params] written by the last call */
    bool keep_saliency;               /* options->keep_saliency of the running call */
} sigeo__proxy_ws_t;

/* Scratch slots: STATE holds the dispatcher's copy of the batch-norm
 * buffers for the whole call; a kind uses A..G as it likes. */
enum {
    SIGEO__SCRATCH_STATE,
    SIGEO__SCRATCH_A,
    SIGEO__SCRATCH_B,
    SIGEO__SCRATCH_C,
    SIGEO__SCRATCH_D,
    SIGEO__SCRATCH_E,
    SIGEO__SCRATCH_F,
    SIGEO__SCRATCH_G,
    SIGEO__SCRATCH_COUNT
};
_Static_assert(SIGEO__SCRATCH_COUNT == sizeof(((sigeo__proxy_ws_t *)0)->scratch) / sizeof(void *),
               "scratch slots");

/* The workspace of `m`, created on first use. */
sigeo_status_t sigeo__proxy_workspace(sigeo__proxy_ws_t **out, sigeo_model_t *m);

/* SiGeo, ZiCo and Fisher-Rao (sigeo_proxy.c). */
sigeo_status_t sigeo__proxy_sigeo(sigeo_model_t *m, sigeo__proxy_ws_t *ws, const sigeo_batch_t *batches,
                                  uint32_t n_batches, const sigeo_proxy_options_t *o, sigeo_proxy_result_t *r);

/* ------------------------------------------------------------ per layer (layers.c) */

/* Clears the last call's per-layer record (allocating it the first time);
 * the dispatcher calls it before a kind runs, and sigeo__proxy_layers_end
 * with the kind after it succeeded. */
sigeo_status_t sigeo__proxy_layers_begin(sigeo_model_t *m, sigeo__proxy_ws_t *ws, bool keep_saliency);
void sigeo__proxy_layers_end(sigeo__proxy_ws_t *ws, int32_t kind);
void sigeo__proxy_layers_free(sigeo__proxy_ws_t *ws);
/* Adds `value` to module `module`'s term (zico / theta_dot: NaN unless the
 * SiGeo family sets them). */
void sigeo__proxy_layer_add(sigeo__proxy_ws_t *ws, int32_t module, double value, double zico, double theta_dot);

/* ------------------------------------------------------------ baselines */

/* What every kind's function receives (proxy.c fills it). */
typedef struct sigeo__proxy_call {
    sigeo_model_t *m;
    sigeo__proxy_ws_t *ws;
    const sigeo_batch_t *batch; /* the first batch, NULL for a data-free call */
    const sigeo_proxy_options_t *o;
    const char *name;           /* the kind's name, for messages */
} sigeo__proxy_call_t;

typedef sigeo_status_t (*sigeo__proxy_fn)(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r);

/* common.c */

/* Slot `slot` of the workspace with at least `bytes` bytes (contents are
 * not kept when it grows). */
sigeo_status_t sigeo__proxy_scratch(void **out, const sigeo__proxy_call_t *c, int slot, size_t bytes);

/* Fails with `st` and "sigeo_proxy_compute (<kind>): <fmt>". */
sigeo_status_t sigeo__proxy_fail(const sigeo__proxy_call_t *c, sigeo_status_t st, const char *fmt, ...)
    SIGEO__PRINTF(3, 4);
/* Re-reports a callee's failure as "sigeo_proxy_compute (<kind>): <what>: <its message>". */
sigeo_status_t sigeo__proxy_failed(const sigeo__proxy_call_t *c, sigeo_status_t st, const char *what);
/* The batch, or INVALID_ARG naming the kind if the call has none. */
sigeo_status_t sigeo__proxy_need_batch(const sigeo__proxy_call_t *c);

/* One CL-weight tensor (SIGEO_PARAM_WEIGHT) of an active layer. */
typedef struct sigeo__proxy_weight {
    int32_t module, param;  /* param: index within the module */
    int32_t node;
    float *data;
    const float *grad;
    int64_t numel;          /* the whole tensor */
} sigeo__proxy_weight_t;

/* Lists the CL-weights of the active layers (in module order) into slot
 * `slot`. */
sigeo_status_t sigeo__proxy_cl_weights(sigeo__proxy_weight_t **out, int32_t *count, const sigeo__proxy_call_t *c,
                                       int slot);

/* Forward and backward of the model's loss on the call's batch. */
sigeo_status_t sigeo__proxy_forward_backward(const sigeo__proxy_call_t *c);

/* The saliency buffer of CL-weight w (its numel floats, zeroed) when the
 * call keeps saliencies, else *out = NULL (layers.c). */
sigeo_status_t sigeo__proxy_saliency_of(float **out, const sigeo__proxy_call_t *c, const sigeo__proxy_weight_t *w);

/* *out = sum over the CL-weights w[0..n) of W . g (absolute: |W . g|),
 * recording each layer's term and, when kept, the per-weight saliencies:
 * snip, plain, synflow. */
sigeo_status_t sigeo__proxy_product_sum(double *out, const sigeo__proxy_call_t *c, const sigeo__proxy_weight_t *w,
                                        int32_t n, bool absolute);

/* Sorts n bit patterns of `words` 64-bit words each (in place) and returns
 * how many distinct ones there are: swap, tenas_regions. */
int64_t sigeo__proxy_distinct_patterns(uint64_t *patterns, int64_t n, int64_t words);

/* A forward of the call's batch, then the on/off codes 1[out > 0] of every
 * active ReLU node packed into slot A: by_neuron, *n_patterns = N neurons
 * of *words words (bits over the B samples: swap); else B samples of bits
 * over the N neurons (tenas_regions). *relus = the ReLU nodes seen. */
sigeo_status_t sigeo__proxy_relu_patterns(uint64_t **out, int64_t *n_patterns, int64_t *words, uint32_t *relus,
                                          const sigeo__proxy_call_t *c, bool by_neuron);

/* Sets result fields every baseline shares: score, raw_score, NONFINITE. */
void sigeo__proxy_set_score(sigeo_proxy_result_t *r, double score, double raw);

/* Copies of the batch-norm buffers (running statistics, batch counter)
 * into / from slot STATE: every train-mode forward updates them, and a
 * proxy leaves the model as it found it. */
sigeo_status_t sigeo__proxy_save_state(const sigeo__proxy_call_t *c);
void sigeo__proxy_restore_state(const sigeo__proxy_call_t *c);

/* linalg.c: double precision, LAPACK through OpenBLAS (single-threaded). */

/* Pearson correlation of the n rows of x [n, p] (row stride ld) into
 * corr [n, n]: numpy.corrcoef, entries clipped to [-1, 1]; a row with zero
 * variance makes its row and column NaN. work holds 2n doubles. */
void sigeo__linalg_corrcoef(double *corr, double *work, const float *x, int64_t n, int64_t p, int64_t ld);
/* Eigenvalues (ascending) of the symmetric n x n matrix a (overwritten)
 * into w; `work` holds sigeo__linalg_eig_work(n) doubles, iwork 1 int. */
int64_t sigeo__linalg_eig_work(int64_t n);
sigeo_status_t sigeo__linalg_sym_eigvals(double *w, double *a, int64_t n, double *work, int *iwork,
                                         const sigeo__proxy_call_t *c);
/* log |det a| of the n x n matrix a (overwritten) by LU with partial
 * pivoting (numpy.linalg.slogdet); -inf and *singular = true for an exact
 * zero pivot. ipiv holds n ints. */
sigeo_status_t sigeo__linalg_logabsdet(double *out, bool *singular, double *a, int64_t n, int *ipiv,
                                       const sigeo__proxy_call_t *c);

/* jacobian.c: J = d(sum of the loss node's outputs)/dx of the dense input,
 * [B, D] in slot `slot` (B = the batch size, D = the dense width); uses
 * slot `seed_slot` too. */
sigeo_status_t sigeo__proxy_input_jacobian(float **J, int64_t *D, const sigeo__proxy_call_t *c, int slot,
                                           int seed_slot);

/* counts.c: parameters and multiply-accumulates of the active architecture
 * (sigeo_model_count); either pointer may be NULL. */
sigeo_status_t sigeo__proxy_count(int64_t *params, int64_t *flops, const sigeo__proxy_call_t *c);

/* One file per kind. */
sigeo_status_t sigeo__proxy_grad_norm(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r);
sigeo_status_t sigeo__proxy_snip(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r);
sigeo_status_t sigeo__proxy_grasp(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r);
sigeo_status_t sigeo__proxy_fisher(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r);
sigeo_status_t sigeo__proxy_jacov(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r);
sigeo_status_t sigeo__proxy_epe_nas(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r);
sigeo_status_t sigeo__proxy_nwot(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r);
sigeo_status_t sigeo__proxy_l2_norm(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r);
sigeo_status_t sigeo__proxy_plain(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r);
sigeo_status_t sigeo__proxy_synflow(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r);
sigeo_status_t sigeo__proxy_zen(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r);
sigeo_status_t sigeo__proxy_params(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r);
sigeo_status_t sigeo__proxy_flops(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r);
sigeo_status_t sigeo__proxy_meco(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r);
sigeo_status_t sigeo__proxy_swap(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r);
sigeo_status_t sigeo__proxy_tenas_ntk(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r);
sigeo_status_t sigeo__proxy_tenas_regions(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r);
sigeo_status_t sigeo__proxy_az_nas(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r);

#endif
