/* grad_norm (Abdelfattah et al.; docs/proxies.md §6): the sum over the
 * CL-weights of the Frobenius norm of the batch-mean gradient -- per layer,
 * not squared, not one global norm. */
#include <math.h>

#include "proxy/proxy.h"

sigeo_status_t sigeo__proxy_grad_norm(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r)
{
    sigeo_status_t st = sigeo__proxy_forward_backward(c);
    sigeo__proxy_weight_t *w;
    int32_t n = 0;
    if (st == SIGEO_OK)
        st = sigeo__proxy_cl_weights(&w, &n, c, SIGEO__SCRATCH_A);
    if (st != SIGEO_OK)
        return st;
    double score = 0.0;
    for (int32_t l = 0; l < n; l++) {
        double ss = 0.0;
        for (int64_t i = 0; i < w[l].numel; i++)
            ss += (double)w[l].grad[i] * (double)w[l].grad[i];
        sigeo__proxy_layer_add(c->ws, w[l].module, sqrt(ss), NAN, NAN);
        score += sqrt(ss);
    }
    sigeo__proxy_set_score(r, score, score);
    r->n_modules = (uint32_t)n;
    return SIGEO_OK;
}
