/* Fisher-Rao norm estimators (docs/proxies.md §1.4-1.6, §4, §5): turn the
 * accumulated quantities into the FR value and the log term of the score. */
#ifndef SIGEO_STATS_FISHER_RAO_H
#define SIGEO_STATS_FISHER_RAO_H

#include <stdint.h>

typedef struct sigeo__fr_value {
    double fr;     /* the estimator's quantity, before epsilon and log */
    double log_fr; /* the term that enters the score */
} sigeo__fr_value_t;

/* Paper: fr = (1/N) sum_n d_n^2; log_fr = log(fr), -inf when fr == 0 (the
 * paper has no epsilon; the caller flags it). */
sigeo__fr_value_t sigeo__fr_exact(double sum_sq_directional, uint64_t n_samples);
/* RecSys code: fr = |theta . G|; log_fr = log(fr + 1e-10). */
sigeo__fr_value_t sigeo__fr_reference_recsys(double theta_dot_grad_sum);
/* CV code: fr = sum over modules of |theta_m . G_m|; log_fr = 2 log(fr + 1e-5). */
sigeo__fr_value_t sigeo__fr_reference_cv(double sum_abs_module_dots);

#endif
