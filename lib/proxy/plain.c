/* plain (docs/proxies.md §6): sum over the CL-weights of W . dL/dW, signed: the
 * batch-level directional derivative theta_W . g (section 4's sum of s_n,
 * weight parts only). Kept with the reference's sign, which correlates
 * negatively with accuracy. */
#include "proxy/proxy.h"

sigeo_status_t sigeo__proxy_plain(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r)
{
    sigeo_status_t st = sigeo__proxy_forward_backward(c);
    sigeo__proxy_weight_t *w;
    int32_t n = 0;
    if (st == SIGEO_OK)
        st = sigeo__proxy_cl_weights(&w, &n, c, SIGEO__SCRATCH_A);
    if (st != SIGEO_OK)
        return st;
    double score;
    if ((st = sigeo__proxy_product_sum(&score, c, w, n, false)) != SIGEO_OK)
        return st;
    sigeo__proxy_set_score(r, score, score);
    r->n_modules = (uint32_t)n;
    return SIGEO_OK;
}
