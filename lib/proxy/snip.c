/* SNIP (Lee et al.; docs/proxies.md §6): the saliency of a multiplicative mask
 * of ones on each CL-weight, dL/dmask = W . dL/dW; score = sum |W . dL/dW|.
 * Inactive elements of an elastic layer have zero gradients. */
#include <math.h>

#include "proxy/proxy.h"

sigeo_status_t sigeo__proxy_snip(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r)
{
    sigeo_status_t st = sigeo__proxy_forward_backward(c);
    sigeo__proxy_weight_t *w;
    int32_t n = 0;
    if (st == SIGEO_OK)
        st = sigeo__proxy_cl_weights(&w, &n, c, SIGEO__SCRATCH_A);
    if (st != SIGEO_OK)
        return st;
    double score;
    if ((st = sigeo__proxy_product_sum(&score, c, w, n, true)) != SIGEO_OK)
        return st;
    sigeo__proxy_set_score(r, score, score);
    r->n_modules = (uint32_t)n;
    return SIGEO_OK;
}
