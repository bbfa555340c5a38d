/* GraSP (Wang et al.; docs/proxies.md §6), sign flipped so higher = better:
 * score = sum over the CL-weights of -W . (H g), g = dL/dW on the batch,
 * H = the Hessian of L in the CL-weights (the other parameters fixed).
 *
 * Exact mode (default): H g by the engine's R-operator (lib/nn/hvp.c), the
 * direction v = g on the CL-weights and 0 elsewhere; what autograd's
 * double backward gives, ReLU'' = 0 included. Cost: 2 fwd + 2 bwd.
 *
 * Finite-difference mode (explicit option): a central difference of
 * gradients along g,
 *     H g ~ (g(W + eps g) - g(W - eps g)) / (2 eps),
 *     eps = hvp_epsilon * ||W|| / ||g||   (active CL-weights),
 * i.e. the weights move by a fraction hvp_epsilon (default 1e-3) of their
 * norm. O(eps^2) truncation on smooth losses, but ReLU kinks crossed by the
 * step make it something else (1 % to 100 % off on ReLU MLPs, not
 * monotone in eps); for models with ops the exact pass does not know.
 * Cost 3 fwd + 3 bwd. The weights are restored bit for bit, also on failure.
 */
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

/* score = -sum W . hv over the CL-weights (contiguous in layer order), with
 * hv = (a - b) * scale (b NULL: a * scale) and W the live weights or the
 * contiguous copy `saved`; per-layer terms and saliencies on the way. */
static sigeo_status_t grasp_sum(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r, const sigeo__proxy_weight_t *w,
                                int32_t n, const float *saved, const float *a, const float *b, double scale)
{
    double score = 0.0;
    int64_t at = 0;
    for (int32_t l = 0; l < n; l++) {
        float *sal;
        sigeo_status_t st = sigeo__proxy_saliency_of(&sal, c, &w[l]);
        if (st != SIGEO_OK)
            return st;
        double layer = 0.0;
        for (int64_t i = 0; i < w[l].numel; i++, at++) {
            const double hv = ((double)a[at] - (b ? (double)b[at] : 0.0)) * scale;
            const double v = -(double)(saved ? saved[at] : w[l].data[i]) * hv;
            layer += v;
            if (sal)
                sal[i] = (float)v;
        }
        sigeo__proxy_layer_add(c->ws, w[l].module, layer, NAN, NAN);
        score += layer;
    }
    sigeo__proxy_set_score(r, score, score);
    return SIGEO_OK;
}

/* -sum W . (H g) by the exact pass: v and H v in slot C. */
static sigeo_status_t grasp_exact(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r)
{
    sigeo_status_t st = sigeo__proxy_forward_backward(c);
    sigeo__proxy_weight_t *w;
    int32_t n = 0;
    if (st == SIGEO_OK)
        st = sigeo__proxy_cl_weights(&w, &n, c, SIGEO__SCRATCH_A);
    if (st != SIGEO_OK)
        return st;
    const int32_t n_params = sigeo__probe_param_count(c->m);
    int64_t total = 0;
    for (int32_t l = 0; l < n; l++)
        total += w[l].numel;
    float **ptrs, *store;
    if ((st = sigeo__proxy_scratch((void **)&ptrs, c, SIGEO__SCRATCH_B, (size_t)(2 * n_params) * sizeof *ptrs)) !=
            SIGEO_OK ||
        (st = sigeo__proxy_scratch((void **)&store, c, SIGEO__SCRATCH_C, (size_t)(2 * total) * sizeof(float))) !=
            SIGEO_OK)
        return st;
    float **v = ptrs, **hv = ptrs + n_params;
    for (int32_t p = 0; p < 2 * n_params; p++)
        ptrs[p] = NULL;
    int64_t at = 0;
    for (int32_t l = 0; l < n; l++) {
        sigeo__probe_module_t mod;
        sigeo__probe_module(&mod, c->m, w[l].module);
        const int32_t p = mod.first_param + w[l].param;
        v[p] = store + at;
        hv[p] = store + total + at;
        /* The backward inside the pass rewrites the gradients: v is a copy. */
        memcpy(v[p], w[l].grad, (size_t)w[l].numel * sizeof(float));
        at += w[l].numel;
    }
    r->n_modules = (uint32_t)n;
    st = sigeo__tape_hvp(c->m, c->batch, (const float *const *)v, hv);
    if (st != SIGEO_OK)
        return sigeo__proxy_failed(c, st, "Hessian-vector product");
    return grasp_sum(c, r, w, n, NULL, store + total, NULL, 1.0);
}

sigeo_status_t sigeo__proxy_grasp(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r)
{
    if (c->o->hvp_mode == SIGEO_HVP_EXACT)
        return grasp_exact(c, r);
    if (c->o->hvp_mode != SIGEO_HVP_FINITE_DIFFERENCE)
        return sigeo__proxy_fail(c, SIGEO_ERR_INVALID_ARG, "hvp_mode %u is not EXACT (0) or FINITE_DIFFERENCE (1)",
                                 (unsigned)c->o->hvp_mode);
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
    /* g(W - eps g) into v's place (the direction is no longer needed). */
    at = 0;
    for (int32_t l = 0; l < n; l++) {
        memcpy(v + at, w[l].grad, (size_t)w[l].numel * sizeof(float));
        at += w[l].numel;
    }
    return grasp_sum(c, r, w, n, saved, g_plus, v, 1.0 / (2.0 * eps));
}
