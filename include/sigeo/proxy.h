/*
 * libsigeo proxies: SiGeo and the zero-cost proxies it is compared with,
 * computed on a sigeo_model_t for one architecture.
 *
 *   sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;      SiGeo, k = 4, zero-shot lambdas
 *   o.lambda_preset = SIGEO_PRESET_RECSYS;                    warmed-up supernet
 *   sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
 *   sigeo_proxy_compute(model, arch, n_arch, batches, 4, &o, &r);
 *
 * The weights stay fixed (no optimiser step). The model is left as it was:
 * same weights, same active architecture, same batch-norm running
 * statistics (kinds that change weights -- synflow, zen, grasp -- restore
 * them bit for bit); only its gradient and activation buffers (scratch) are
 * overwritten. Higher score = predicted better, for
 * every kind (the sign convention of each is documented at its enum value).
 *
 * Threads: one model is used by one thread at a time; a proxy call counts as
 * a use of the model.
 *
 * Non-C callers: fill structs with their _init() functions (the _INIT
 * macros are C only) and check layouts with sigeo_struct_size().
 */
#ifndef SIGEO_PROXY_H
#define SIGEO_PROXY_H

#include "sigeo/data.h"
#include "sigeo/model.h"
#include "sigeo/sigeo.h"
#include "sigeo/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The proxies sigeo_proxy_compute computes (numbers are forever). */
typedef enum sigeo_proxy_kind {
    /* lambda1 * zico + lambda2 * log(FR) - lambda3 * loss over k batches (docs/proxies.md §1). */
    SIGEO_PROXY_SIGEO = 0,
    /* ZiCo alone: the first term (docs/proxies.md §2); k >= 2 batches. */
    SIGEO_PROXY_ZICO = 1,
    /* log of the Fisher-Rao norm alone (docs/proxies.md §5); k >= 1 batches
     * (SIGEO_PROXY_SIGEO too when lambda1 = 0). With an EXACT or IDENTITY
     * estimator no gradient statistics are kept (it costs the plain steps
     * plus O(batch)): the result's ZiCo fields are 0 with
     * SIGEO_STATS_NO_ZICO set, as for k = 1. */
    SIGEO_PROXY_FISHER_RAO = 2,
    /*
     * The NAS-Bench-Suite-Zero baselines (docs/proxies.md §6, §8). Common rules:
     * - Data: the FIRST batch only (batches[1..] are ignored; result.k = 1),
     *   as the harness's one mini-batch; kinds marked "no data" accept
     *   n_batches = 0. Labels/targets are needed only where a loss is.
     * - "CL-weights": every parameter of kind SIGEO_PARAM_WEIGHT of an active
     *   layer (linear, conv2d, token linear, sigmoid gating, attention
     *   projections), i.e. no biases, norm affines or embeddings: the
     *   modules (the rule at SIGEO_PROXY_PARAMS_*) with param_kinds WEIGHT;
     *   a sum "per layer" runs over their weight tensors, which is one per
     *   module except attention (its four projections, each a term, as
     *   NASLib's loop over nn.Linear counts them). Elastic layers
     *   count their active slice (inactive elements have zero gradients).
     * - The model runs as built (train-mode batch norm normalises with the
     *   batch); the loss is the model's own (mean over the batch).
     * - Non-finite values are reported, not replaced: where the harness
     *   stores -1e8 for NaN/+-Inf, score holds the NaN/-inf and
     *   SIGEO_PROXY_NONFINITE is set in result.flags.
     * - result.n_modules = the layers (or outputs) that entered the sum.
     */
    /* sum over CL-weights of ||dL/dW||_F (not squared). 1 fwd + 1 bwd, labels. */
    SIGEO_PROXY_GRAD_NORM = 3,
    /* sum over CL-weights of sum |W . dL/dW|. 1 fwd + 1 bwd, labels. */
    SIGEO_PROXY_SNIP = 4,
    /* GraSP, sign flipped so higher = better: sum over CL-weights of
     * -W . (H g) with g = dL/dW and H the Hessian of L in the CL-weights
     * (the other parameters fixed). options->hvp_mode selects how H g is
     * computed: SIGEO_HVP_EXACT (default) by Pearlmutter's R-operator
     * (forward-mode over the backward pass; ReLU'' = 0 and its mask fixed,
     * as autograd's double backward), with a rule for every layer kind
     * (sigeo_hvp_mode_t); SIGEO_HVP_FINITE_DIFFERENCE by the central difference
     * (g(W + eps g) - g(W - eps g)) / (2 eps), eps = options->hvp_epsilon *
     * ||W|| / ||g|| over the active CL-weights, any model, but a step that
     * crosses ReLU kinks is not the derivative (1 % to 100 % off on ReLU
     * MLPs). Cost: exact 2 fwd + 2 bwd (one of each in double-precision C
     * loops), fd 3 fwd + 3 bwd; labels. */
    SIGEO_PROXY_GRASP = 5,
    /* Channel-wise Fisher (BlockSwap): per layer with output z and
     * dz = dL/dz (linear, conv2d, token linear: the layers whose node output
     * is the product with their weight; attention and sigmoid gating keep it
     * inside and are skipped), a_nc = sum over the positions of channel c
     * of z dz, F_c = 0.5 mean_n a_nc^2, layer score = sum_c F_c times the
     * active weight elements per channel (in features; C kh kw; input
     * tokens). 1 fwd + 1 bwd, labels. */
    SIGEO_PROXY_FISHER = 6,
    /* Jacobian covariance: J = d(sum of the loss node's outputs)/dx for the
     * dense input x, one row per sample; C = corrcoef(J) (B x B, double);
     * score = -sum_i (log(v_i + 1e-5) + 1/(v_i + 1e-5)) over C's
     * eigenvalues (symmetric solver). A constant row (e.g. a zero Jacobian) makes C NaN:
     * score NaN, NONFINITE. 1 fwd + 1 bwd to the input, no labels. Needs a
     * dense input (SIGEO_ERR_UNSUPPORTED otherwise) and batch size >= 2. */
    SIGEO_PROXY_JACOV = 7,
    /* EPE-NAS on the same J: rows grouped by class, s_c = sum over
     * corrcoef(J_c) of log(|P| + 1e-5) (a one-sample class: P = 1); with
     * <= 100 outputs score = sum_c |s_c|, else s_c /= n_c, one-sample
     * classes dropped and score = sum_{c,c'} |s_c - s_c'| / (classes kept).
     * Classes: softmax CE labels; BCE with one target: target >= 0.5; several
     * targets: their argmax (one-hot). MSE with one target has no classes:
     * SIGEO_ERR_UNSUPPORTED. 1 fwd + 1 bwd to the input. */
    SIGEO_PROXY_EPE_NAS = 8,
    /* NASWOT: for every active ReLU activation node, codes c = 1[input > 0]
     * per sample; K = sum over them of c c^T + (1-c)(1-c)^T (exact integer
     * counts); score = log|det K| (LU in double). A singular K (no ReLU,
     * duplicate samples, ...) gives -inf with SIGEO_PROXY_SINGULAR and
     * NONFINITE. 1 fwd, no labels. */
    SIGEO_PROXY_NWOT = 9,
    /* sum over CL-weights of ||W||_F (active slices). No data. */
    SIGEO_PROXY_L2_NORM = 10,
    /* sum over CL-weights of sum W . dL/dW (signed). Higher = "better" by
     * convention; it correlates negatively with accuracy (docs/proxies.md §6).
     * 1 fwd + 1 bwd, labels. */
    SIGEO_PROXY_PLAIN = 11,
    /* SynFlow (NASLib `synflow`, bn=False): every parameter the pass reads
     * replaced by its absolute value, every batch norm made the identity
     * (eval mode on mean 0, var 1 - eps, gamma 1, beta 0: NASLib builds the
     * network without them), input = all ones, one sample; R = sum of the
     * loss node's outputs; 1 fwd + 1 bwd of R; raw = sum over CL-weights of
     * |W . dR/dW|; score = log(raw) (the harness transform; raw 0 -> 0),
     * raw in result.raw_score. No labels, no data for a dense-only model.
     * Deviations: float32, not float64 -- a deep net can overflow R to inf
     * (score inf, NONFINITE); sparse fields have no "ones": they take the
     * bags of sample 0 of the first batch (a model with sparse inputs needs
     * a batch), and only the table rows those bags look up are made
     * positive (no other row enters the pass). */
    SIGEO_PROXY_SYNFLOW = 12,
    /* Zen-NAS: weights re-initialised from options->seed (the active
     * elements of the CL-weights N(0, 1), biases 0, batch-norm gamma 1,
     * beta 0 and running mean 0, var 1; embeddings and layer norms keep
     * theirs; all restored afterwards), e1, e2 ~ N(0, 1) of
     * the first batch's dense shape, x2 = e1 + gamma e2 (zen_mixup_gamma,
     * default 0.01); two forward passes;
     * f = the feature map entering the last global average pooling, or,
     * without one (MLP and CTR models), the input(s) of the loss node, i.e.
     * the features entering the final layer; Delta = mean_n sum |f(e1) -
     * f(x2)|; score = log(Delta) + sum over active (C, H, W) batch norms
     * (BatchNorm2d) of log sqrt(mean over active channels of running_var)
     * after both passes. Random draws (sigeo's stream): the weights in
     * parameter order, each row-major over its active elements (a subnet
     * draws what its standalone extract draws), then e1, then e2. Sparse bags come from the first
     * batch unchanged; a model without a dense input is
     * SIGEO_ERR_UNSUPPORTED. With zen_repeat R > 1 the whole draw (weights,
     * e1, e2, continuing the stream) and score repeat R times and the mean
     * is returned; the running statistics carry over between repeats as in
     * Zen-NAS's loop. 2R fwd, no labels. */
    SIGEO_PROXY_ZEN = 13,
    /* #params: active parameter elements / 1e6 (sigeo_model_count, embedding
     * tables in full). No data. */
    SIGEO_PROXY_PARAMS = 14,
    /* FLOPs: multiply-accumulates of one sample / 1e6 (sigeo_model_count:
     * tensorwatch conventions). No data. */
    SIGEO_PROXY_FLOPS = 15,
    /* MeCo: for each counted output O, F = O of sample 0 reshaped
     * [C, P] (per-row shape (C, H, W): C x HW; (T, E): T x E; flat [K]:
     * K x 1, which has no correlation and gives 0); rho = corrcoef(F) with
     * NaN/Inf entries set to 0; term = smallest eigenvalue of rho (symmetric
     * solver, double); score = sum of the finite terms. Counted outputs:
     * each distinct tensor once (the clean port of docs/proxies.md §8) -- the
     * nodes that are PyTorch leaf modules: linear, non-identity activation,
     * embedding bag, dot interaction, layer and batch norm, conv2d, pooling,
     * token linear, FM, sigmoid gating, attention (which returns a tuple in
     * PyTorch, so F is its whole batch [B, T E]); not the functional ones
     * (sum, concat, select, slice, reshape, zero). 1 fwd, no labels. */
    SIGEO_PROXY_MECO = 16,
    /* Since 1.1. SynFlow with the batch norms kept (NASLib `synflow_bn`,
     * bn=True): the SYNFLOW pass, but every batch norm runs as built -- in
     * train mode it normalises with the statistics of the one all-ones
     * sample (per channel over the positions; a flat feature of one sample
     * is refused with SIGEO_ERR_SHAPE, as PyTorch refuses it), in eval mode
     * with its running statistics; |gamma|, |beta| like every parameter.
     * Deviation: NASLib takes abs() of the whole state dict, running mean
     * included, which only an eval-mode norm would read. */
    SIGEO_PROXY_SYNFLOW_BN = 17,
    /* Since 1.1. MeCo opt (MeCo paper Table 1): MECO's outputs, but per
     * output m = min(8, C) distinct rows of F drawn at random (options->seed;
     * the draws are documented in lib/proxy/meco.c), term = (C / 8) *
     * lambda_min(corrcoef of those m rows). 1 fwd, no labels. */
    SIGEO_PROXY_MECO_OPT = 18,
    /* Since 1.1. SWAP-score (Peng et al., ICLR'24): the outputs of every
     * active ReLU activation node on the first batch, concatenated per
     * sample ([B, N] over the N neurons), binarised (sign of a ReLU output:
     * 1[x > 0]); SWAP = the number of DISTINCT neuron patterns (columns,
     * each a B-bit vector over the samples); score = SWAP * f, f = 1, or
     * with options->swap_sigma > 0 the official regularisation f =
     * exp(-(P - swap_mu)^2 / swap_sigma), P = parameters / 1e3 (thousands:
     * count_parameters_in_MB * 1e3; sigeo_model_count, tables in full).
     * raw_score = SWAP. 1 fwd, no labels. Higher better. */
    SIGEO_PROXY_SWAP = 19,
    /* Since 1.1. TE-NAS (Chen et al., ICLR'21), NTK part: per sample n of
     * the first batch a backward of the sum of its logits; J_n = the
     * gradients of the parameters PyTorch names "*.weight" (weights, norm
     * scales, embedding tables); NTK = J J^T (B x B); cond = lambda_max /
     * lambda_min (NaN -> 0); score = -cond, raw_score = cond. 1 fwd + B bwd,
     * B x (weights) floats; batch size >= 2, no labels. */
    SIGEO_PROXY_TENAS_NTK = 20,
    /* Since 1.1. TE-NAS, linear-region part: the number of distinct
     * per-sample on/off patterns of all ReLU neurons over the first batch
     * (the regions its samples fall in; TE-NAS uses 1000 3 x 3 crops on a
     * narrowed copy, here the batch as given). 1 fwd, no labels. */
    SIGEO_PROXY_TENAS_REGIONS = 21,
    /* Since 1.1. AZ-NAS (Lee & Ham, CVPR'24), expressivity: one forward of
     * the first batch; per block (the model's active marked blocks,
     * sigeo_model_mark_block in model.h; without marks each active
     * non-identity activation node; in node order) its output as rows x
     * channels ((C, H, W): B H W x C; (T, E): B T x E; flat [K]: B x K), Sigma = the biased covariance of
     * the rows, s = eigenvalues, p = s / sum s, e = sum -p log(p + 1e-8)
     * (the entropy of the principal components: isotropy); score = sum of
     * e over the blocks (NaN -> -inf). Higher better. No labels. */
    SIGEO_PROXY_AZ_EXPRESSIVITY = 22,
    /* Since 1.1. AZ-NAS progressivity: the per-block e above, score = min
     * over consecutive blocks of e[l+1] - e[l] (NaN -> -inf); at least 2
     * blocks (else SIGEO_ERR_UNSUPPORTED). Higher better. No labels. */
    SIGEO_PROXY_AZ_PROGRESSIVITY = 23,
    /* Since 1.1. AZ-NAS complexity: FLOPS's value (multiply-accumulates of
     * one sample / 1e6), under AZ-NAS's name for its rank aggregation
     * (higher ranks higher). No data. */
    SIGEO_PROXY_AZ_COMPLEXITY = 24,
    /* Since 1.1. AZ-NAS trainability: per pair of consecutive blocks (as
     * above), g_in = J^T g_out with g_out Rademacher signs (options.seed)
     * and J the Jacobian of the later block's output in the earlier's (one
     * backward between them), M = g_in^T g_out / rows (g_in pixel-unshuffled
     * to the later block's rows), sigma = the largest singular value of M,
     * term = -sigma - 1 / (sigma + 1e-6) + 2 (0 for an isometric block, -inf
     * for a pure skip); score = mean over the pairs (NaN -> -inf). At least 2
     * blocks. Higher better. No labels. 1 fwd + (blocks - 1) partial bwd. */
    SIGEO_PROXY_AZ_TRAINABILITY = 25
} sigeo_proxy_kind_t;

/* Bits of sigeo_proxy_result_t.flags set by the baseline kinds (the low
 * 16 bits are the SIGEO_STATS_* of the SiGeo family). */
#define SIGEO_PROXY_NONFINITE 0x10000u /* score is NaN or +-Inf (the harness would store -1e8) */
#define SIGEO_PROXY_SINGULAR 0x20000u  /* nwot: K is singular, score = -inf */

/* Bits of sigeo_proxy_options_t.param_kinds: which parameters form the
 * ZiCo modules and the reference FR dot products. The module rule (one for
 * the library, stats.h): a module is one parameterised layer, holding all
 * of its parameter tensors of the selected kinds as one vector -- WEIGHT
 * alone is ZiCo's official code (Conv/Linear weights), WEIGHT | BIAS the
 * paper's layers, ALL (default) also norm affines and embedding tables. */
#define SIGEO_PROXY_PARAMS_WEIGHT (1u << SIGEO_PARAM_WEIGHT)
#define SIGEO_PROXY_PARAMS_BIAS (1u << SIGEO_PARAM_BIAS)
#define SIGEO_PROXY_PARAMS_EMBEDDING (1u << SIGEO_PARAM_EMBEDDING)
#define SIGEO_PROXY_PARAMS_NORM (1u << SIGEO_PARAM_NORM_SCALE | 1u << SIGEO_PARAM_NORM_SHIFT)
#define SIGEO_PROXY_PARAMS_ALL 0xffffffffu

/* Which layers the SiGeo family (SiGeo, ZiCo, Fisher-Rao) looks at. */
typedef enum sigeo_proxy_scope {
    /* Every parameterised layer of the active subnet (the paper). */
    SIGEO_SCOPE_ALL = 0,
    /* Only the layer that produces the loss's input (the head), as the
     * official RecSys code does by freezing everything else
     * (--finetune_whole_supernet 0, docs/proxies.md D7): ZiCo over the head's
     * weight and bias, and d_n = theta_head . grad l_n = delta_n . z_n, which
     * is exact whatever couples samples upstream. The architecture then
     * reaches the score only through the features entering the head. */
    SIGEO_SCOPE_HEAD = 1
} sigeo_proxy_scope_t;

/* What happens to the weights between the k batches of the SiGeo family. */
typedef enum sigeo_proxy_procedure {
    /* The paper: weights fixed, k forward+backward passes at theta. */
    SIGEO_PROCEDURE_FIXED = 0,
    /* The official CV code (NASLib-SiGeo, docs/proxies.md §1.6): after each
     * batch's forward+backward, a plain SGD step theta -= step_lr * g on
     * every active parameter (lr 1, no momentum). The statistics take the
     * gradient and loss at the pre-step weights, the reference FR
     * estimators theta after the k-th step (its theta_4), the exact FR its
     * d_n at each batch's pre-step weights. The weights are restored
     * afterwards, bit for bit (the model is left as it was). Its numbers:
     * this with fr_estimator REFERENCE_CV, param_kinds WEIGHT, loss_term
     * LAST, std_ddof 0, lambda_preset VISION (1, 50, 1) after the user's
     * warm-up (or ZERO_SHOT-like (1, 1, 0) without one), k = 4 batches of 64,
     * train-mode batch norm. */
    SIGEO_PROCEDURE_SGD_STEPS = 1
} sigeo_proxy_procedure_t;

/* How GraSP computes the Hessian-vector product H g. */
typedef enum sigeo_hvp_mode {
    /* Exact, by the R-operator. Every layer kind has a second-order rule:
     * dense and sparse inputs, linear, conv2d, batch norm (train and eval
     * mode) and layer norm (their gamma and beta are not CL-weights),
     * activation (ReLU, sigmoid, tanh, GELU), sum, concat, select, slice,
     * reshape, zero, pool2d (max, avg), global avg pool, embedding bags
     * (their tables are not CL-weights), dot interaction, attention, FM,
     * sigmoid gating and token linear -- so every built-in space. */
    SIGEO_HVP_EXACT = 0,
    /* Central difference of gradients with the relative step hvp_epsilon. */
    SIGEO_HVP_FINITE_DIFFERENCE = 1
} sigeo_hvp_mode_t;

/* Options of sigeo_proxy_compute: the kind and, for the SiGeo family, the
 * statistics options of sigeo/stats.h. */
typedef struct sigeo_proxy_options {
    uint32_t struct_size;
    int32_t kind;          /* sigeo_proxy_kind_t */
    int32_t zico_variant;  /* sigeo_zico_variant_t */
    int32_t fr_estimator;  /* sigeo_fr_estimator_t */
    int32_t loss_term;     /* sigeo_loss_term_t */
    int32_t lambda_preset; /* sigeo_lambda_preset_t; CUSTOM uses lambda1..3 */
    uint32_t std_ddof;     /* 0 (paper) or 1 (RecSys reference) */
    uint32_t param_kinds;  /* SIGEO_PROXY_PARAMS_* bits; ALL by default (ZiCo's original: WEIGHT) */
    double lambda1, lambda2, lambda3;
    uint64_t seed;         /* for proxies that draw random data or weights */
    double hvp_epsilon;    /* GRASP, hvp_mode FINITE_DIFFERENCE: relative step, in (0, 0.1]; default 1e-3 */
    int32_t scope;         /* sigeo_proxy_scope_t: which layers the SiGeo family sees */
    uint32_t hvp_mode;     /* sigeo_hvp_mode_t (GRASP); 0 = EXACT */
    /* Since 1.1 */
    uint32_t keep_saliency; /* 1: keep the per-parameter saliencies (sigeo_proxy_saliency); 0 default */
    int32_t procedure;      /* sigeo_proxy_procedure_t (SiGeo family); FIXED default */
    double step_lr;         /* SGD_STEPS: the step size; default 1 (NASLib-SiGeo) */
    double swap_mu, swap_sigma; /* SWAP regularisation (sigma > 0 turns it on); default 0, 0 */
    double zen_mixup_gamma;     /* ZEN: x2 = e1 + gamma e2; 0 = the official 1e-2 */
    uint32_t zen_repeat;        /* ZEN: repeats averaged (weights, e1, e2 re-drawn); 0 = 1; <= 1000 */
    uint32_t reserved2;
} sigeo_proxy_options_t;

#define SIGEO_PROXY_OPTIONS_INIT                                                                              \
    { (uint32_t)sizeof(sigeo_proxy_options_t), SIGEO_PROXY_SIGEO, SIGEO_ZICO_MODULE_WISE, SIGEO_FR_EXACT,       \
      SIGEO_LOSS_MEAN, SIGEO_PRESET_ZERO_SHOT, 0u, SIGEO_PROXY_PARAMS_ALL, 1.0, 1.0, 0.0, 0u, 1e-3,          \
      SIGEO_SCOPE_ALL, 0u, 0u, SIGEO_PROCEDURE_FIXED, 1.0, 0.0, 0.0, 0.0, 0u, 0u }
SIGEO_API sigeo_status_t sigeo_proxy_options_init(sigeo_proxy_options_t *options, uint32_t struct_size);

/* What sigeo_proxy_compute returns: the score, its components and provenance. */
typedef struct sigeo_proxy_result {
    uint32_t struct_size;
    uint32_t flags;            /* SIGEO_STATS_* bits of the statistics (HAS_FR, FR_ZERO, ALL_SKIPPED, ...) */
    double score;              /* the proxy's value, higher = better */
    double seconds;            /* wall time of the call */
    /* components (SiGeo family) */
    double zico, fr, log_fr, loss;
    double lambda1, lambda2, lambda3;
    /* provenance */
    int32_t kind, zico_variant, fr_estimator, loss_term;
    uint32_t std_ddof;
    uint32_t k;                /* batches used */
    uint64_t n_samples;
    int64_t batch_size;        /* of the first batch */
    uint32_t n_modules;        /* active modules counted */
    uint32_t n_modules_skipped;/* active modules with no sigma != 0 */
    uint64_t seed;
    uint32_t threads;
    uint32_t library_version;
    double raw_score;          /* the value before the harness transform (synflow: before the log); else = score */
    /* Since 1.1, the SiGeo family (0 for the baselines): what the same
     * passes give for free beside the options chosen, so one call gives
     * every lambda preset (score = l1 * zico_* + l2 * log_fr_* - l3 *
     * loss_*); NaN where the data for it was not there. */
    double loss_mean, loss_last;       /* mean of the k batch losses; the last batch's */
    double fr_exact, log_fr_exact;     /* (1/N) sum d_n^2 with exact d_n: the one-backward identity where it
                                        * is exact (no coupled samples, or scope HEAD), the forward-mode pass
                                        * where that ran (fr_estimator EXACT, lambda2 != 0); else NaN */
    double fr_identity, log_fr_identity; /* the same with the one-backward d_n, always */
    double fr_reference_recsys, log_fr_reference_recsys; /* the RecSys code's |theta . G| (reference estimators only) */
    double fr_reference_cv, log_fr_reference_cv;         /* the CV code's sum_m |theta_m . G_m| (likewise) */
    double zico_module_wise, zico_neuron_wise, zico_reference_recsys; /* the three ZiCo variants */
} sigeo_proxy_result_t;

#define SIGEO_PROXY_RESULT_INIT                                                                         \
    { (uint32_t)sizeof(sigeo_proxy_result_t), 0u, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0, \
      0, 0u, 0u, 0u, 0, 0u, 0u, 0u, 0u, 0u, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,  \
      0.0, 0.0 }
SIGEO_API sigeo_status_t sigeo_proxy_result_init(sigeo_proxy_result_t *result, uint32_t struct_size);

/* Computes proxy `options->kind` of architecture `arch` (n_arch entries; NULL
 * and 0 = the active architecture) of `model` on batches[0..n_batches).
 * SiGeo/ZiCo/Fisher-Rao run forward+backward on each batch with the weights
 * fixed; the exact Fisher-Rao norm comes from the same backward pass
 * (per-sample delta . y of every homogeneous layer, docs/proxies.md §4), or,
 * where the active architecture couples samples (train-mode batch norm),
 * from one extra forward-mode pass per batch (docs/proxies.md §4.3a). The
 * baselines (GRAD_NORM .. MECO) use the first batch only; L2_NORM, PARAMS,
 * FLOPS and (dense-only models) SYNFLOW accept batches NULL, n_batches 0.
 * Buffers are reused across calls: after the first call for a model, a
 * call allocates nothing new unless the batch or the model's sizes grow.
 * Errors: SIGEO_ERR_INVALID_ARG (arch not valid for the model, k < 2 where
 * a std is needed, no batches for a kind that reads data, labels/targets
 * missing where a loss or classes are needed, batch size 1 for jacov,
 * options out of range), SIGEO_ERR_UNSUPPORTED (a kind the model cannot
 * serve: jacov/epe_nas/zen without a dense input, epe_nas without classes),
 * SIGEO_ERR_NONFINITE (a non-finite loss or gradient, naming the batch
 * index), errors of the model's forward/backward; the message names the
 * kind. The model is unchanged on every error. A NaN or infinite score is
 * not an error: it is returned with SIGEO_PROXY_NONFINITE in result.flags. */
SIGEO_API sigeo_status_t sigeo_proxy_compute(sigeo_model_t *model, const int32_t *arch, int32_t n_arch,
                                             const sigeo_batch_t *batches, uint32_t n_batches,
                                             const sigeo_proxy_options_t *options, sigeo_proxy_result_t *result);

/* ------------------------------------------------------ per-layer results
 * Of the last successful sigeo_proxy_compute on a model (valid until the
 * next call on it). Two calls: NULL buffer -> *count = how many; then a
 * buffer of that many.
 *
 * Layers: one entry per module (one parameterised layer, stats.h's rule)
 * that has a term in the last call's sum, in module order. Kinds that are
 * sums over layers: grad_norm, snip, grasp, fisher, l2_norm, plain, synflow
 * (value = the layer's term of the raw score; their terms sum to
 * raw_score), zico and sigeo (value = lambda1 * the module's ZiCo term,
 * lambda1 = 1 for zico; zico_term = log sum mu/sigma, 0 when skipped) and
 * fisher-rao (value = theta_m . G_m when a reference estimator ran, else
 * NaN; the exact FR is not a sum over layers), meco and meco_opt (value =
 * the terms of the outputs of the module's layer and of the parameterless
 * nodes after it up to the next layer, docs/proxies-zoo.md section 6). Other
 * kinds: 0 layers. */
typedef struct sigeo_proxy_layer {
    uint32_t struct_size;
    int32_t module;            /* the model's module index */
    const char *name;          /* borrowed: the layer's name, valid while the model lives */
    double value;              /* the layer's term */
    double zico_term;          /* SiGeo family; NaN for the baselines */
    double theta_dot_grad_sum; /* SiGeo family with params set (reference FR): theta_m . G_m; else NaN */
} sigeo_proxy_layer_t;

#define SIGEO_PROXY_LAYER_INIT { (uint32_t)sizeof(sigeo_proxy_layer_t), -1, NULL, 0.0, 0.0, 0.0 }
SIGEO_API sigeo_status_t sigeo_proxy_layer_init(sigeo_proxy_layer_t *layer, uint32_t struct_size);

/* Fills out[0..n) (stride out[0].struct_size, each entry initialised by the
 * caller with SIGEO_PROXY_LAYER_INIT) and *count = n; out NULL: *count = n
 * only. Errors: SIGEO_ERR_INVALID_ARG (NULL, no successful call yet),
 * SIGEO_ERR_SHAPE (*count < n). */
SIGEO_API sigeo_status_t sigeo_proxy_layers(sigeo_proxy_layer_t *out, int32_t *count, const sigeo_model_t *model);

/* The per-parameter saliency of model parameter `param` (sigeo_model_param_count
 * indexing) from the last call with options.keep_saliency = 1: its numel
 * floats, 0 outside the active slice. snip |W . g|, grasp -W . (H g), synflow
 * |W . dR/dW|, plain W . g, fisher F_c on every weight of output channel c;
 * the saliencies of all CL-weights sum to raw_score. out NULL: *count = numel.
 * Errors: SIGEO_ERR_INVALID_ARG (no such parameter, no saliency kept for it:
 * another kind, keep_saliency 0, not a CL-weight of an active layer),
 * SIGEO_ERR_SHAPE (*count < numel). */
SIGEO_API sigeo_status_t sigeo_proxy_saliency(float *out, int64_t *count, const sigeo_model_t *model, int32_t param);
/* sigeo_proxy_compute on every batch of `batches` (a batch set, data.h:
 * owned copies the host need not keep valid). Same rules and errors. */
SIGEO_API sigeo_status_t sigeo_proxy_compute_set(sigeo_model_t *model, const int32_t *arch, int32_t n_arch,
                                                 const sigeo_batch_set_t *batches,
                                                 const sigeo_proxy_options_t *options, sigeo_proxy_result_t *result);

/* Static English name of a proxy kind ("sigeo", "zico", ...); NULL if unknown. */
SIGEO_API const char *sigeo_proxy_kind_name(sigeo_proxy_kind_t kind);

#ifdef __cplusplus
}
#endif

#endif /* SIGEO_PROXY_H */
