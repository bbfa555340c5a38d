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
 * same weights, same active architecture; only its gradient and activation
 * buffers (scratch) are overwritten. Higher score = predicted better, for
 * every kind (the sign convention of each is documented at its enum value).
 *
 * Threads: one model is used by one thread at a time; a proxy call counts as
 * a use of the model.
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

typedef enum sigeo_proxy_kind {
    /* lambda1 * zico + lambda2 * log(FR) - lambda3 * loss over k batches (proxies.md §1). */
    SIGEO_PROXY_SIGEO = 0,
    /* ZiCo alone: the first term (proxies.md §2); k >= 2 batches. */
    SIGEO_PROXY_ZICO = 1,
    /* log of the Fisher-Rao norm alone (proxies.md §5). */
    SIGEO_PROXY_FISHER_RAO = 2
} sigeo_proxy_kind_t;

/* Bits of sigeo_proxy_options_t.param_kinds: which parameters form the
 * ZiCo modules and the reference FR dot products. */
#define SIGEO_PROXY_PARAMS_WEIGHT (1u << SIGEO_PARAM_WEIGHT)
#define SIGEO_PROXY_PARAMS_BIAS (1u << SIGEO_PARAM_BIAS)
#define SIGEO_PROXY_PARAMS_EMBEDDING (1u << SIGEO_PARAM_EMBEDDING)
#define SIGEO_PROXY_PARAMS_NORM (1u << SIGEO_PARAM_NORM_SCALE | 1u << SIGEO_PARAM_NORM_SHIFT)
#define SIGEO_PROXY_PARAMS_ALL 0xffffffffu

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
} sigeo_proxy_options_t;

#define SIGEO_PROXY_OPTIONS_INIT                                                                              \
    { (uint32_t)sizeof(sigeo_proxy_options_t), SIGEO_PROXY_SIGEO, SIGEO_ZICO_MODULE_WISE, SIGEO_FR_EXACT,       \
      SIGEO_LOSS_MEAN, SIGEO_PRESET_ZERO_SHOT, 0u, SIGEO_PROXY_PARAMS_ALL, 1.0, 1.0, 0.0, 0u }
SIGEO_API sigeo_status_t sigeo_proxy_options_init(sigeo_proxy_options_t *options, uint32_t struct_size);

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
} sigeo_proxy_result_t;

#define SIGEO_PROXY_RESULT_INIT                                                                         \
    { (uint32_t)sizeof(sigeo_proxy_result_t), 0u, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0, \
      0, 0u, 0u, 0u, 0, 0u, 0u, 0u, 0u, 0u }
SIGEO_API sigeo_status_t sigeo_proxy_result_init(sigeo_proxy_result_t *result, uint32_t struct_size);

/* Computes proxy `options->kind` of architecture `arch` (n_arch entries; NULL
 * and 0 = the active architecture) of `model` on batches[0..n_batches).
 * SiGeo/ZiCo/Fisher-Rao run forward+backward on each batch with the weights
 * fixed; the exact Fisher-Rao norm comes from the same backward pass
 * (per-sample delta . y of every homogeneous layer, proxies.md §4).
 * Buffers are reused across calls: after the first call for a model, a
 * call allocates nothing new unless the batch grows.
 * Errors: SIGEO_ERR_INVALID_ARG (arch not valid for the model, k < 2 where
 * a std is needed, empty batches, options out of range), SIGEO_ERR_NONFINITE
 * (a non-finite loss or gradient, naming the batch index), errors of the
 * model's forward/backward; the model is unchanged on every error. */
SIGEO_API sigeo_status_t sigeo_proxy_compute(sigeo_model_t *model, const int32_t *arch, int32_t n_arch,
                                             const sigeo_batch_t *batches, uint32_t n_batches,
                                             const sigeo_proxy_options_t *options, sigeo_proxy_result_t *result);

/* Static English name of a proxy kind ("sigeo", "zico", ...); NULL if unknown. */
SIGEO_API const char *sigeo_proxy_kind_name(sigeo_proxy_kind_t kind);

#ifdef __cplusplus
}
#endif

#endif /* SIGEO_PROXY_H */
