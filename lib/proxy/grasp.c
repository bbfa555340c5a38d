/* GraSP (Wang et al.; proxies.md §6), sign flipped so higher = better:
 * score = sum over the CL-weights of -W . (H g), g = dL/dW on the batch,
 * H = the Hessian of L in the CL-weights (the other parameters fixed).
 *
 * The engine has no double backward, so H g is a central difference of
 * gradients along g:
 *     H g ~ (g(W + eps g) - g(W - eps g)) / (2 eps),
 *     eps = hvp_epsilon * ||W|| / ||g||   (active CL-weights),
 * i.e. the weights move by a fraction hvp_epsilon (default 1e-3) of their
 * norm. The truncation error is O(eps^2) (zero for a loss quadratic in W);
 * the float32 gradients carry ~1e-7 relative rounding, divided by the
 * relative step that is ~1e-4 of |H g|. ReLU kinks crossed by the step
 * make a difference the reference's double backward (which sees ReLU'' = 0)
 * does not. Cost: 3 fwd + 3 bwd, against the reference's 2 fwd + 1 bwd +
 * 1 HVP. The weights are restored bit for bit, also on failure. */
#include <math.h>
#include <string.h>

#include "proxy/proxy.h"

/* Sets every CL-weight to saved + step * v. */
static void place(sigeo__proxy_weight_t *w, int32_t n, const float *saved, const float *v, double step)
{
    int64_t at = 0;
    for (int32_t l = 0; l < n; l++)
        for (int64_t i = 0; i < w[l].numel; i++, at++)
            w[l].data[i] = (float)((double)saved[at] + step * (double)v[at]);
}

sigeo_status_t sigeo__proxy_grasp(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r)
{
    const double rel = c->o->hvp_epsilon;
    if (!(rel > 0.0 && rel <= 0.1))
        return sigeo__proxy_fail(c, SIGEO_ERR_INVALID_ARG, "hvp_epsilon %g is outside (0, 0.1]", rel);
    sigeo_status_t st = sigeo__proxy_forward_backward(c);
    sigeo__proxy_weight_t *w;
    int32_t n = 0;
    if (st == SIGEO_OK)
        st = sigeo__proxy_cl_weights(&w, &n, c, SIGEO__SCRATCH_A);
    if (st != SIGEO_OK)
        return st;
    int64_t total = 0, largest = 1;
    for (int32_t l = 0; l < n; l++) {
        total += w[l].numel;
        largest = w[l].numel > largest ? w[l].numel : largest;
    }
    float *v, *saved, *g_plus;
    uint8_t *mask;
    if ((st = sigeo__proxy_scratch((void **)&v, c, SIGEO__SCRATCH_B, (size_t)(3 * total) * sizeof(float))) !=
            SIGEO_OK ||
        (st = sigeo__proxy_scratch((void **)&mask, c, SIGEO__SCRATCH_C, (size_t)largest)) != SIGEO_OK)
        return st;
    saved = v + total;
    g_plus = saved + total;
    double v_norm = 0.0, w_norm = 0.0;
    int64_t at = 0;
    for (int32_t l = 0; l < n; l++) {
        if ((st = sigeo__probe_active_mask(mask, c->m, w[l].module, w[l].param)) != SIGEO_OK)
            return sigeo__proxy_failed(c, st, "active slice");
        memcpy(v + at, w[l].grad, (size_t)w[l].numel * sizeof(float));
        memcpy(saved + at, w[l].data, (size_t)w[l].numel * sizeof(float));
        for (int64_t i = 0; i < w[l].numel; i++) {
            v_norm += (double)w[l].grad[i] * (double)w[l].grad[i];
            if (mask[i])
                w_norm += (double)w[l].data[i] * (double)w[l].data[i];
        }
        at += w[l].numel;
    }
    v_norm = sqrt(v_norm);
    w_norm = sqrt(w_norm);
    r->n_modules = (uint32_t)n;
    if (v_norm == 0.0) {
        /* H 0 = 0: nothing to differentiate. */
        sigeo__proxy_set_score(r, 0.0, 0.0);
        return SIGEO_OK;
    }
    const double eps = rel * (w_norm > 0.0 ? w_norm : 1.0) / v_norm;
    place(w, n, saved, v, eps);
    st = sigeo__proxy_forward_backward(c);
    at = 0;
    for (int32_t l = 0; st == SIGEO_OK && l < n; l++) {
        memcpy(g_plus + at, w[l].grad, (size_t)w[l].numel * sizeof(float));
        at += w[l].numel;
    }
    if (st == SIGEO_OK) {
        place(w, n, saved, v, -eps);
        st = sigeo__proxy_forward_backward(c);
    }
    /* Restore first, then read: the saved values are the weights. */
    at = 0;
    for (int32_t l = 0; l < n; l++) {
        memcpy(w[l].data, saved + at, (size_t)w[l].numel * sizeof(float));
        at += w[l].numel;
    }
    if (st != SIGEO_OK)
        return st;
    double score = 0.0;
    at = 0;
    for (int32_t l = 0; l < n; l++)
        for (int64_t i = 0; i < w[l].numel; i++, at++) {
            const double hv = ((double)g_plus[at] - (double)w[l].grad[i]) / (2.0 * eps);
            score -= (double)saved[at] * hv;
        }
    sigeo__proxy_set_score(r, score, score);
    return SIGEO_OK;
}
