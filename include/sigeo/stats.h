/*
 * libsigeo statistics: SiGeo, ZiCo and the Fisher-Rao norm from gradients a
 * host computed in its own framework (PyTorch, a C++ trainer, Rust, Go).
 *
 * Workflow:
 *   sigeo_stats_create(&s, ctx, &options);
 *   sigeo_stats_add_module(&m, s, "fc0", 784 * 48 + 48);  ... one per module
 *   for each of k batches (weights fixed, or along SGD iterates):
 *       sigeo_stats_add_batch(s, &batch);     gradients, loss, per-sample d_n
 *   sigeo_stats_set_params(s, module, theta, count)   (reference FR estimators)
 *   sigeo_stats_compute(&result, s);
 *   sigeo_stats_reset(s);                     next candidate, same modules
 *
 * Modules (the one rule of libsigeo, also sigeo_proxy_compute's and the
 * examples'): a module is ONE PARAMETERISED LAYER -- all of its parameter
 * tensors of the kinds selected (sigeo_proxy_options_t.param_kinds: the
 * weight, weight and bias, or all; ZiCo's official code counts Conv/Linear
 * weights only), flattened into one vector. A host registers one module
 * per layer (nn.Module with parameters), not one per tensor: ZiCo's log
 * is taken per module, so the split changes the value.
 *
 * Math (docs/proxies.md §1): for module m and scalar parameter j,
 *   mu_j    = (1/k) sum_i |g_ij|               (g_i = batch-mean gradient)
 *   sigma_j = std_i g_ij                       (ddof 0 by default, the paper's)
 *   zico    = sum_m log( sum_{j in m, sigma_j != 0} mu_j / sigma_j )
 *             (a module whose sum is 0 is skipped: it contributes nothing)
 *   fr      = (1/N) sum_n d_n^2,  d_n = theta . grad l_n  (per-sample loss)
 *   loss    = mean of the k batch losses (default) or the last batch's loss
 *   score   = lambda1 * zico + lambda2 * log(fr) - lambda3 * loss
 * Memory: three floats per registered parameter (running mean |g|, Welford
 * mean and M2 of g; for a table module, per parameter of a touched row),
 * arithmetic in float (error bounded and measured against double in
 * tests/stats/test_welford.c); no k-fold copy of the gradients.
 *
 * Threads: a stats handle is used by one thread at a time.
 *
 * Non-C callers (ctypes, Rust, Go): fill every struct with its _init()
 * function rather than the _INIT macro, check layouts with
 * sigeo_struct_size(), and pass batches as sigeo_stats_flat_batch_t.
 */
#ifndef SIGEO_STATS_H
#define SIGEO_STATS_H

#include "sigeo/sigeo.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sigeo_stats sigeo_stats_t;

/* First term of SiGeo. */
typedef enum sigeo_zico_variant {
    /* Eq. 6: sum over modules of log(sum_j mu_j/sigma_j). */
    SIGEO_ZICO_MODULE_WISE = 0,
    /* Sec. 4.6: one log over the whole parameter vector. */
    SIGEO_ZICO_NEURON_WISE = 1,
    /* REFERENCE: the official RecSys code (docs/proxies.md D4): per module only
     * the FIRST element with sigma != 0 counts, log(mu_j0/sigma_j0), and a
     * module with no such element is skipped (the code raises there). */
    SIGEO_ZICO_REFERENCE_RECSYS = 2
} sigeo_zico_variant_t;

/* How the Fisher-Rao norm theta^T F theta is obtained. */
typedef enum sigeo_fr_estimator {
    /* Paper: (1/N) sum_n d_n^2 from the per-sample directional derivatives
     * d_n the host hands in (exactly computed, e.g. by per-sample backward
     * or forward-mode through coupled layers). log(fr) enters the score.
     * sigeo_proxy_compute takes d_n from the one-backward identity where
     * that is exact, and from one forward-mode (JVP) pass per batch along
     * theta where samples are coupled (train-mode batch norm). */
    SIGEO_FR_EXACT = 0,
    /* Same formula; d_n obtained from the one-backward identity
     * d_n = B * sum_layers delta_n . y_n (exact without sample coupling;
     * with train-mode batch norm only an approximation, which docs/proxies.md
     * §4.3a measured at 70-140x the exact value, ranking differently).
     * Recorded as provenance; the arithmetic is that of EXACT. */
    SIGEO_FR_IDENTITY = 1,
    /* REFERENCE: official RecSys code (docs/proxies.md §1.5):
     * fr = |theta . G|, G = sum_i g_i; the score uses log(fr + 1e-10).
     * Needs sigeo_stats_set_params for every module. */
    SIGEO_FR_REFERENCE_RECSYS = 2,
    /* REFERENCE: official CV code (docs/proxies.md §1.6):
     * fr = sum_{m not skipped by ZiCo} |theta_m . G_m|; the score uses
     * 2 * log(fr + 1e-5). Needs sigeo_stats_set_params for every module. */
    SIGEO_FR_REFERENCE_CV = 3
} sigeo_fr_estimator_t;

/* Which loss enters the third term. */
typedef enum sigeo_loss_term {
    SIGEO_LOSS_MEAN = 0, /* mean of the k batch losses: docs/design.md §5 default (lower variance) */
    SIGEO_LOSS_LAST = 1  /* the last batch's loss: the literal Eq. 6 form and both official codes */
} sigeo_loss_term_t;

/* The paper's (lambda1, lambda2, lambda3) settings (docs/proxies.md §1.3). */
typedef enum sigeo_lambda_preset {
    SIGEO_PRESET_CUSTOM = 0,    /* use the lambda fields of the options */
    SIGEO_PRESET_ZERO_SHOT = 1, /* (1, 1, 0) */
    SIGEO_PRESET_RECSYS = 2,    /* (1, 1, 1): warmed-up NASRec spaces */
    SIGEO_PRESET_VISION = 3     /* (1, 50, 1): warmed-up CV benchmarks */
} sigeo_lambda_preset_t;

/* Options of sigeo_stats_create: which variant of each term, and the lambdas. */
typedef struct sigeo_stats_options {
    uint32_t struct_size;
    int32_t zico_variant;  /* sigeo_zico_variant_t */
    int32_t fr_estimator;  /* sigeo_fr_estimator_t */
    int32_t loss_term;     /* sigeo_loss_term_t */
    int32_t lambda_preset; /* sigeo_lambda_preset_t; CUSTOM uses lambda1..3 */
    uint32_t std_ddof;     /* 0 (paper, ZiCo, CV code) or 1 (RecSys code) */
    double lambda1;        /* weight of the ZiCo term */
    double lambda2;        /* weight of log(fr) */
    double lambda3;        /* weight of the loss (subtracted) */
} sigeo_stats_options_t;

/* Defaults: module-wise ZiCo, exact FR, mean loss, zero-shot preset (1,1,0), ddof 0. */
#define SIGEO_STATS_OPTIONS_INIT                                                                  \
    { (uint32_t)sizeof(sigeo_stats_options_t), SIGEO_ZICO_MODULE_WISE, SIGEO_FR_EXACT,            \
      SIGEO_LOSS_MEAN, SIGEO_PRESET_ZERO_SHOT, 0u, 1.0, 1.0, 0.0 }
SIGEO_API sigeo_status_t sigeo_stats_options_init(sigeo_stats_options_t *options, uint32_t struct_size);

/* The lambdas of a preset. Errors: SIGEO_ERR_INVALID_ARG for CUSTOM or an
 * unknown preset. */
SIGEO_API sigeo_status_t sigeo_stats_preset_lambdas(double lambdas_out[3], sigeo_lambda_preset_t preset);

/* One batch of gradients. All pointers are borrowed for the call. */
typedef struct sigeo_stats_batch {
    uint32_t struct_size;
    uint32_t n_modules;              /* must equal the number of registered modules */
    const float *const *gradients;   /* [n_modules]: module m's flattened batch-mean gradient */
    const int64_t *gradient_counts;  /* [n_modules]: element count of each, checked against registration */
    double loss;                     /* the batch's mean loss */
    int64_t batch_size;              /* samples in the batch (>= 1) */
    const double *directional;       /* [batch_size] per-sample d_n = theta . grad l_n, or NULL */
    /* Table modules (sigeo_stats_add_table_module) only: [n_modules] lists of
     * the rows this batch's gradient touches (repetitions allowed), and their
     * lengths. Rows not listed are taken as zero and not read. NULL (or a
     * NULL entry) = every row (the slow, dense path). Ignored for plain
     * modules. */
    const int64_t *const *touched_rows;
    const int64_t *touched_counts;
} sigeo_stats_batch_t;

#define SIGEO_STATS_BATCH_INIT { (uint32_t)sizeof(sigeo_stats_batch_t), 0u, NULL, NULL, 0.0, 0, NULL, NULL, NULL }
SIGEO_API sigeo_status_t sigeo_stats_batch_init(sigeo_stats_batch_t *batch, uint32_t struct_size);

/* Bits of sigeo_stats_result_t.flags. */
#define SIGEO_STATS_HAS_FR 0x1u          /* fr/log_fr were computed (data for the estimator was given) */
#define SIGEO_STATS_FR_ZERO 0x2u         /* fr == 0 under EXACT/IDENTITY: log_fr is -inf (no epsilon in the paper) */
#define SIGEO_STATS_ALL_SKIPPED 0x4u     /* every module had sigma == 0 everywhere: zico is 0 by convention */
#define SIGEO_STATS_HAS_THETA_DOT 0x8u   /* theta_dot_grad_sum is valid (all params were set) */
#define SIGEO_STATS_NO_ZICO 0x10u        /* k = 1 (allowed with lambda1 = 0): no std, zico terms are 0 */
#define SIGEO_STATS_HAS_DIRECTIONAL 0x20u /* fr_exact / log_fr_exact are valid (every batch carried d_n) */

/* What sigeo_stats_compute returns: the score, every component and the options used. */
typedef struct sigeo_stats_result {
    uint32_t struct_size;
    uint32_t flags;            /* SIGEO_STATS_* bits */
    double score;              /* lambda1*zico + lambda2*log_fr - lambda3*loss (terms with lambda 0 omitted) */
    double zico;               /* first term before lambda1 */
    double fr;                 /* the estimator's quantity (before any epsilon or log) */
    double log_fr;             /* the second term before lambda2, as the estimator defines it */
    double loss;               /* the loss term before lambda3 */
    double theta_dot_grad_sum; /* theta . sum_i g_i over all modules (diagnostic; see flags) */
    double lambda1, lambda2, lambda3; /* the weights applied */
    uint64_t n_batches;        /* k */
    uint64_t n_samples;        /* N = sum of batch sizes */
    uint64_t n_params;         /* registered scalar parameters */
    uint32_t n_modules;        /* registered modules */
    uint32_t n_modules_skipped;/* modules without any sigma != 0 (see sigeo_stats_module_info) */
    int32_t zico_variant;      /* provenance: the options used */
    int32_t fr_estimator;
    int32_t loss_term;
    uint32_t std_ddof;
    uint32_t library_version;  /* sigeo_version_number() of the library that computed it */
    uint32_t reserved0;
    /* Since 1.1: every variant that costs nothing beside the chosen one, so
     * one accumulation gives every lambda preset and every estimator the
     * data allows (score = l1 * zico_* + l2 * log_fr_* - l3 * loss_*).
     * Fields whose data is missing are NaN (see the flags). */
    double loss_mean;          /* mean of the k batch losses */
    double loss_last;          /* the last batch's loss */
    double fr_exact, log_fr_exact;                       /* (1/N) sum d_n^2, log; HAS_DIRECTIONAL */
    double fr_reference_recsys, log_fr_reference_recsys; /* |theta . G|, log(fr + 1e-10); HAS_THETA_DOT */
    double fr_reference_cv, log_fr_reference_cv;         /* sum_m |theta_m . G_m|, 2 log(fr + 1e-5); HAS_THETA_DOT */
    double zico_module_wise, zico_neuron_wise, zico_reference_recsys; /* the three variants (0 with NO_ZICO) */
} sigeo_stats_result_t;

#define SIGEO_STATS_RESULT_INIT                                                                   \
    { (uint32_t)sizeof(sigeo_stats_result_t), 0u, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,    \
      0u, 0u, 0u, 0u, 0u, 0, 0, 0, 0u, 0u, 0u, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0 }
SIGEO_API sigeo_status_t sigeo_stats_result_init(sigeo_stats_result_t *result, uint32_t struct_size);

/* Per-module view of the last sigeo_stats_compute. */
typedef struct sigeo_stats_module_info {
    uint32_t struct_size;
    uint32_t skipped;          /* 1 if no parameter had sigma != 0 (module left out of zico) */
    int64_t n_params;
    int64_t n_nonzero_sigma;   /* parameters with sigma != 0 */
    double ratio_sum;          /* sum_j mu_j/sigma_j over them (RECSYS reference: mu_j0/sigma_j0) */
    double zico_term;          /* log(ratio_sum), 0 when skipped */
    double theta_dot_grad_sum; /* theta_m . sum_i g_i,m (0 when the params were not set) */
    const char *name;          /* borrowed: valid until the stats handle is destroyed */
} sigeo_stats_module_info_t;

#define SIGEO_STATS_MODULE_INFO_INIT \
    { (uint32_t)sizeof(sigeo_stats_module_info_t), 0u, 0, 0, 0.0, 0.0, 0.0, NULL }
SIGEO_API sigeo_status_t sigeo_stats_module_info_init(sigeo_stats_module_info_t *info, uint32_t struct_size);

/* Creates an accumulator. `ctx` may be NULL (the accumulator needs no
 * engine; its thread policy then is the default one, sigeo.h), otherwise
 * it must outlive the accumulator, whose large updates follow the
 * context's thread policy; `options` may be NULL (defaults). Errors: SIGEO_ERR_INVALID_ARG
 * (unknown enum value, ddof not 0/1, non-finite lambda), SIGEO_ERR_UNSUPPORTED
 * (options of a newer libsigeo with new fields set), SIGEO_ERR_NO_MEMORY. */
SIGEO_API sigeo_status_t sigeo_stats_create(sigeo_stats_t **out, sigeo_context_t *ctx,
                                            const sigeo_stats_options_t *options);
SIGEO_API void sigeo_stats_destroy(sigeo_stats_t *stats);

/* Registers a module (one parameterised layer, see the rule above: the unit
 * ZiCo sums over)
 * of `n_params` scalars; its index (0, 1, ...) goes to *index_out (may be
 * NULL). `name` is copied. Only before the first batch. Errors:
 * SIGEO_ERR_INVALID_ARG (NULL/empty name, n_params < 1, after a batch,
 * duplicate name), SIGEO_ERR_NO_MEMORY. */
SIGEO_API sigeo_status_t sigeo_stats_add_module(int32_t *index_out, sigeo_stats_t *stats, const char *name,
                                                int64_t n_params);

/* Registers a table module: n_rows rows of row_size scalars (an embedding
 * table), whose batch gradients are row-sparse. Batches then name the rows
 * they touch (sigeo_stats_batch_t.touched_rows) and only those are updated;
 * a row's missed zero observations are merged in closed form when it is
 * touched again and, virtually, at compute (Welford/Chan merge with a block
 * of zeros). Exactly the statistics of the dense zero-filled gradients, at
 * the cost of the touched rows: memory is 4 bytes per row plus 3 x row_size
 * floats and 8 bytes per slot, a slot per row touched since the last reset;
 * the slots are kept across resets and grow by doubling, so they number up
 * to twice the most rows one candidate touched (all of them, once a batch
 * names every row). Same rules and errors as add_module, and
 * SIGEO_ERR_UNSUPPORTED for more than 2^32 - 2 rows. */
SIGEO_API sigeo_status_t sigeo_stats_add_table_module(int32_t *index_out, sigeo_stats_t *stats, const char *name,
                                                      int64_t n_rows, int64_t row_size);

/* Accumulates one batch. The whole batch is validated before anything is
 * accumulated, so a failure leaves the accumulator exactly as it was.
 * Errors: SIGEO_ERR_INVALID_ARG (NULL pointers, no modules, batch_size < 1),
 * SIGEO_ERR_SHAPE (n_modules or a gradient count not as registered),
 * SIGEO_ERR_NONFINITE (NaN/Inf in a gradient, the loss or d_n, naming the
 * module, element and batch), SIGEO_ERR_NO_MEMORY (the first batch, or a
 * batch touching table rows no earlier batch since the reset touched). */
SIGEO_API sigeo_status_t sigeo_stats_add_batch(sigeo_stats_t *stats, const sigeo_stats_batch_t *batch);

/* One batch in flat buffers, for callers that cannot easily build arrays
 * of pointers (Go's cgo forbids Go pointers to Go pointers; ctypes, Rust
 * and Java are simpler with one buffer). Every module's gradient lives in
 * the single buffer `gradients` at its offset. All pointers are borrowed
 * for the call. Fill it with sigeo_stats_flat_batch_init (non-C callers)
 * or SIGEO_STATS_FLAT_BATCH_INIT. */
typedef struct sigeo_stats_flat_batch {
    uint32_t struct_size;
    uint32_t n_modules;             /* must equal the number of registered modules */
    const float *gradients;         /* [gradients_len]: every module's flattened batch-mean gradient */
    int64_t gradients_len;          /* floats in `gradients` (every module must lie inside) */
    const int64_t *module_offsets;  /* [n_modules]: first float of module m; NULL = packed in
                                       registration order (offset m = sum of the counts before m) */
    const int64_t *module_counts;   /* [n_modules]: element count of each, checked against registration */
    double loss;                    /* the batch's mean loss */
    int64_t batch_size;             /* samples in the batch (>= 1) */
    const double *directional;      /* [batch_size] per-sample d_n = theta . grad l_n, or NULL */
    /* Table modules only (see sigeo_stats_batch_t.touched_rows): one buffer
     * of row ids for all tables, or NULL = every row of every table. */
    const int64_t *touched_rows;    /* [touched_rows_len] */
    int64_t touched_rows_len;
    const int64_t *touched_offsets; /* [n_modules]: first id of module m's rows; -1 = every row */
    const int64_t *touched_counts;  /* [n_modules]: number of ids of module m */
} sigeo_stats_flat_batch_t;

#define SIGEO_STATS_FLAT_BATCH_INIT \
    { (uint32_t)sizeof(sigeo_stats_flat_batch_t), 0u, NULL, 0, NULL, NULL, 0.0, 0, NULL, NULL, 0, NULL, NULL }
SIGEO_API sigeo_status_t sigeo_stats_flat_batch_init(sigeo_stats_flat_batch_t *batch, uint32_t struct_size);

/* sigeo_stats_add_batch for a flat batch: the same accumulation bit for
 * bit, the same validation (nothing is accumulated unless the whole batch
 * is valid) and the same errors, plus SIGEO_ERR_SHAPE for a module or a
 * touched-row range that does not lie inside its buffer (naming the module)
 * and SIGEO_ERR_INVALID_ARG for a negative offset or count. */
SIGEO_API sigeo_status_t sigeo_stats_add_flat_batch(sigeo_stats_t *stats, const sigeo_stats_flat_batch_t *batch);

/* Hands in the parameters theta of module `module` at the point of
 * evaluation (copied). Needed by the REFERENCE FR estimators; optional
 * otherwise (then it fills the theta_dot_grad_sum diagnostic). Errors:
 * SIGEO_ERR_INVALID_ARG, SIGEO_ERR_SHAPE (count mismatch),
 * SIGEO_ERR_NONFINITE, SIGEO_ERR_NO_MEMORY. */
SIGEO_API sigeo_status_t sigeo_stats_set_params(sigeo_stats_t *stats, int32_t module, const float *theta,
                                                int64_t count);

/* Computes the score and every component from what was accumulated; the
 * accumulator is not changed (more batches may follow). Writes
 * min(out->struct_size, sizeof) bytes. One batch is enough when lambda1 = 0
 * (Fisher-Rao and the loss need no std): the ZiCo terms are then 0, every
 * module counts as skipped (sigma = 0 everywhere, so the CV reference FR,
 * which sums over the modules ZiCo keeps, is 0 too) and SIGEO_STATS_NO_ZICO
 * is set. Errors: SIGEO_ERR_INVALID_ARG (no batch; one batch with lambda1
 * != 0: the std is undefined; lambda2 != 0 but the estimator's data
 * missing: d_n for EXACT/IDENTITY, params for the REFERENCE estimators). */
SIGEO_API sigeo_status_t sigeo_stats_compute(sigeo_stats_result_t *out, sigeo_stats_t *stats);

/* Details of module `module` as of the last successful sigeo_stats_compute. */
SIGEO_API sigeo_status_t sigeo_stats_get_module_info(sigeo_stats_module_info_t *out, const sigeo_stats_t *stats,
                                                 int32_t module);

/* Number of registered modules. */
SIGEO_API sigeo_status_t sigeo_stats_module_count(int32_t *out, const sigeo_stats_t *stats);

/* Forgets batches and params, keeps the modules and the memory: the next
 * candidate with the same module layout allocates nothing. */
SIGEO_API sigeo_status_t sigeo_stats_reset(sigeo_stats_t *stats);

/* Last failure of a call on this handle, from any thread. Borrowed, valid
 * until the next failing call on the handle; never NULL. */
SIGEO_API const char *sigeo_stats_last_error(const sigeo_stats_t *stats);

/* ------------------------------------------------------ rank correlation
 * For proxy ranking studies (how well a zero-cost score orders candidates
 * by their trained accuracy). Inputs are n >= 2 pairs (x[i], y[i]),
 * borrowed for the call. NaN is rejected (SIGEO_ERR_NONFINITE naming the
 * element); +-Inf are ordinary extreme values (a proxy's log(0) = -Inf
 * ranks last). If x or y is constant the correlation is undefined: the call
 * returns SIGEO_ERR_INVALID_ARG with a message saying which input is
 * constant, and *out is NaN (so a loop that ignores the status still sees an
 * unusable value). *out is NaN after every failure. Both are thread-safe.
 */

/* Spearman's rho: the Pearson correlation of the ranks of x and of y, ties
 * sharing the average of their ranks. O(n log n) time, O(n) memory.
 * Errors: SIGEO_ERR_INVALID_ARG (NULL, n < 2, constant input),
 * SIGEO_ERR_NONFINITE (NaN), SIGEO_ERR_NO_MEMORY. */
SIGEO_API sigeo_status_t sigeo_stats_spearman(double *out, const double *x, const double *y, int64_t n);

/* Kendall's tau-b: (concordant - discordant) / sqrt((n0 - n1)(n0 - n2)) with
 * n0 = n(n-1)/2 and n1, n2 the pairs tied in x and in y (pairs tied in
 * both count in neither numerator term). O(n log n) time, O(n) memory.
 * Errors: as sigeo_stats_spearman. */
SIGEO_API sigeo_status_t sigeo_stats_kendall_tau(double *out, const double *x, const double *y, int64_t n);

/* ------------------------------------------------------ ensembles (1.1)
 * Several proxies' scores of one candidate set combined into one score per
 * candidate ("SiGeo + MeCo + synflow"). The combination depends on the set:
 * a candidate's aggregate changes when other candidates join. A search uses
 * it on a population: every cycle it scores the candidates it compares (the
 * population plus the new children) with each proxy, aggregates over exactly
 * that set, and ranks by the aggregate; an aggregate is never compared with
 * one from another set. docs/proxies-zoo.md §Ensembles. */
typedef enum sigeo_rank_aggregation {
    /* AZ-NAS (Lee & Ham, CVPR'24): sum_p w_p log(rank_p(c) / n), rank_p the
     * ascending average rank of candidate c under proxy p (1 = lowest score,
     * n = highest): the best candidate of every proxy has 0, and a candidate
     * weak in one proxy is pulled down more than a mean rank would. */
    SIGEO_AGG_LOG_RANK = 0,
    /* sum_p w_p rank_p(c) / sum_p w_p: the mean (ascending) rank. */
    SIGEO_AGG_MEAN_RANK = 1,
    /* sum_p w_p (s_p(c) - mean_p) / std_p (std ddof 0; a constant proxy adds
     * 0): the weighted z-score sum. mean_p and std_p are over proxy p's
     * finite scores; a candidate with an infinite score under a proxy of
     * weight > 0 gets that infinity as its aggregate (-inf if it has both):
     * a proxy that calls a candidate hopeless (NASWOT's log 0, an AZ-NAS
     * NaN mapped to -inf) puts it last, as the ranks do, without turning
     * every other candidate's z-score into NaN. */
    SIGEO_AGG_ZSCORE = 2
} sigeo_rank_aggregation_t;

/* out[c] for c < n_candidates, from scores[p * n_candidates + c] (row p =
 * proxy p, higher = better for every proxy: flip a lower-is-better one
 * first) and weights[p] (NULL = all 1). Higher out = better. Ranks treat
 * -inf/+inf as the extremes; ZSCORE as its comment says. Errors: SIGEO_ERR_INVALID_ARG (NULL, n < 1,
 * n_proxies < 1, unknown method, a weight negative or not finite, all
 * weights 0), SIGEO_ERR_NONFINITE (a NaN score, naming proxy and
 * candidate), SIGEO_ERR_NO_MEMORY. Thread-safe. */
SIGEO_API sigeo_status_t sigeo_stats_aggregate(double *out, const double *scores, int64_t n_candidates,
                                               int32_t n_proxies, const double *weights,
                                               sigeo_rank_aggregation_t method);
/* The same with a work space the caller owns (SIGEO_1.1), for callers that
 * aggregate again and again (a search every cycle): no allocation. *bytes_out
 * = the bytes sigeo_stats_aggregate_with needs for n_candidates (grows
 * linearly: a buffer for n serves every n' <= n). `work` must be aligned
 * for double (malloc's memory is) and hold at least that many bytes; its
 * contents are scratch. Results are bit for bit those of
 * sigeo_stats_aggregate. Errors: as sigeo_stats_aggregate, and
 * SIGEO_ERR_INVALID_ARG for work NULL, too small or misaligned (naming the
 * size needed); never SIGEO_ERR_NO_MEMORY. Thread-safe with distinct work. */
SIGEO_API sigeo_status_t sigeo_stats_aggregate_work_size(size_t *bytes_out, int64_t n_candidates);
SIGEO_API sigeo_status_t sigeo_stats_aggregate_with(double *out, const double *scores, int64_t n_candidates,
                                                    int32_t n_proxies, const double *weights,
                                                    sigeo_rank_aggregation_t method, void *work, size_t work_bytes);
typedef enum sigeo_rank_kind {
    SIGEO_RANK_SPEARMAN = 0,
    SIGEO_RANK_KENDALL = 1 /* tau-b */
} sigeo_rank_kind_t;

/* Percentile-bootstrap interval of a rank correlation over the pairs:
 * `resamples` resamples of n pairs drawn with replacement (resample b,
 * position i takes pair j = the i-th draw of a uniform integer below n from
 * the library's xoshiro256** stream seeded with `seed`, in order), the
 * correlation of each (resamples with a constant side are left out), and
 * the (1 - level)/2 and (1 + level)/2 quantiles of those values (linear
 * interpolation, numpy's default). level 0.95 gives the 95 % interval.
 * Deterministic for a seed. Errors: as sigeo_stats_spearman for x, y, n;
 * SIGEO_ERR_INVALID_ARG (unknown kind, resamples < 2, level outside (0, 1),
 * fewer than half the resamples defined); *lo_out, *hi_out NaN then. */
SIGEO_API sigeo_status_t sigeo_stats_rank_bootstrap(double *lo_out, double *hi_out, const double *x, const double *y,
                                                    int64_t n, int32_t kind, uint32_t resamples, double level,
                                                    uint64_t seed);

#ifdef __cplusplus
}
#endif

#endif /* SIGEO_STATS_H */
