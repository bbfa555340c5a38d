/* l2_norm (docs/proxies.md §6): sum over the CL-weights of ||W||_F, no data.
 * An elastic layer counts only the slice the active architecture uses (the
 * weights of the standalone subnet). */
#include <math.h>

#include "proxy/proxy.h"

sigeo_status_t sigeo__proxy_l2_norm(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r)
{
    sigeo__proxy_weight_t *w;
    int32_t n = 0;
    sigeo_status_t st = sigeo__proxy_cl_weights(&w, &n, c, SIGEO__SCRATCH_A);
    if (st != SIGEO_OK)
        return st;
    double score = 0.0;
    for (int32_t l = 0; l < n; l++) {
        uint8_t *mask;
        if ((st = sigeo__proxy_scratch((void **)&mask, c, SIGEO__SCRATCH_B, (size_t)w[l].numel)) != SIGEO_OK)
            return st;
        if ((st = sigeo__probe_active_mask(mask, c->m, w[l].module, w[l].param)) != SIGEO_OK)
            return sigeo__proxy_failed(c, st, "active slice");
        double ss = 0.0;
        for (int64_t i = 0; i < w[l].numel; i++)
            if (mask[i])
                ss += (double)w[l].data[i] * (double)w[l].data[i];
        sigeo__proxy_layer_add(c->ws, w[l].module, sqrt(ss), NAN, NAN);
        score += sqrt(ss);
    }
    sigeo__proxy_set_score(r, score, score);
    r->n_modules = (uint32_t)n;
    return SIGEO_OK;
}
