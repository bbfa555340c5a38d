/* jacov (Mellor et al., NASWOT v1; docs/proxies.md §6): with J the input
 * Jacobian (jacobian.c), C = corrcoef of its rows (B x B, double) and v its
 * eigenvalues (symmetric solver; the reference uses a general one on the
 * same symmetric matrix), score = -sum_i (log(v_i + 1e-5) + 1/(v_i + 1e-5)).
 * A constant Jacobian row makes C NaN: score NaN, flagged NONFINITE (the
 * harness would store -1e8). */
#include <math.h>

#include "proxy/proxy.h"

sigeo_status_t sigeo__proxy_jacov(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r)
{
    sigeo_status_t st = sigeo__proxy_need_batch(c);
    if (st != SIGEO_OK)
        return st;
    const int64_t B = c->batch->batch_size;
    if (B < 2)
        return sigeo__proxy_fail(c, SIGEO_ERR_INVALID_ARG, "batch size %lld: a correlation needs at least 2 samples",
                                 (long long)B);
    float *J;
    int64_t D;
    if ((st = sigeo__proxy_input_jacobian(&J, &D, c, SIGEO__SCRATCH_A, SIGEO__SCRATCH_B)) != SIGEO_OK)
        return st;
    double *corr;
    int *iwork;
    const int64_t ew = sigeo__linalg_eig_work(B);
    if ((st = sigeo__proxy_scratch((void **)&corr, c, SIGEO__SCRATCH_C,
                                   (size_t)(B * B + 3 * B + ew) * sizeof(double))) != SIGEO_OK ||
        (st = sigeo__proxy_scratch((void **)&iwork, c, SIGEO__SCRATCH_D, sizeof(int))) != SIGEO_OK)
        return st;
    double *work = corr + B * B, *v = work + 2 * B, *ework = v + B;
    sigeo__linalg_corrcoef(corr, work, J, B, D, D);
    if ((st = sigeo__linalg_sym_eigvals(v, corr, B, ework, iwork, c)) != SIGEO_OK)
        return st;
    const double k = 1e-5;
    double score = 0.0;
    for (int64_t i = 0; i < B; i++)
        score -= log(v[i] + k) + 1.0 / (v[i] + k);
    sigeo__proxy_set_score(r, score, score);
    r->n_samples = (uint64_t)B;
    return SIGEO_OK;
}
