/* fisher (Turner et al., BlockSwap; docs/proxies.md §6), channel-wise: for each
 * layer whose node output z is the product with its CL-weight (linear,
 * conv2d, token linear) and dz = dL/dz of the mean loss (so it carries the
 * 1/B), a_nc = sum over the positions p of channel c of z dz,
 * F_c = 0.5 (1/B) sum_n a_nc^2, and the layer contributes sum_c |F_c| times
 * the number of weight elements per channel (prod(weight.shape[1:]) of the
 * active slice: in features, C kh kw, input tokens). Attention and sigmoid
 * gating keep their linear outputs inside the node and are not counted.
 * Channels: the first dim of the node's per-row shape (flat: each feature). */
#include <math.h>

#include "proxy/proxy.h"

/* With saliencies kept: F_c on every active element of row c of the
 * layer's weight (PyTorch layout: the rows are the output channels), so
 * the saliencies of a layer sum to its term F_c x (weights per channel).
 * The buffer is zeroed at channel 0. */
static sigeo_status_t channel_saliency(const sigeo__proxy_call_t *c, const sigeo__probe_module_t *mod, int32_t module,
                                       int64_t ch, double fc)
{
    if (!c->ws->keep_saliency)
        return SIGEO_OK;
    int32_t wi = -1;
    for (int32_t i = 0; i < mod->n_params; i++)
        if (mod->params[i].kind == SIGEO_PARAM_WEIGHT)
            wi = i;
    sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
    sigeo_status_t st = sigeo_model_param_info(&info, c->m, mod->first_param + wi);
    if (st != SIGEO_OK)
        return sigeo__proxy_failed(c, st, "weight shape");
    const int64_t row = info.numel / info.dims[0];
    float *sal = c->ws->saliency[mod->first_param + wi];
    uint8_t *mask;
    /* Same size every channel: the scratch keeps the mask made at channel 0. */
    if ((st = sigeo__proxy_scratch((void **)&mask, c, SIGEO__SCRATCH_A, (size_t)info.numel)) != SIGEO_OK)
        return st;
    if (ch == 0) {
        const sigeo__proxy_weight_t wt = { module, wi, mod->node, NULL, NULL, info.numel };
        if ((st = sigeo__proxy_saliency_of(&sal, c, &wt)) != SIGEO_OK)
            return st;
        if ((st = sigeo__probe_active_mask(mask, c->m, module, wi)) != SIGEO_OK)
            return sigeo__proxy_failed(c, st, "active slice");
    }
    for (int64_t j = 0; j < row; j++)
        if (mask[ch * row + j])
            sal[ch * row + j] = (float)fc;
    return SIGEO_OK;
}

sigeo_status_t sigeo__proxy_fisher(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r)
{
    sigeo_status_t st = sigeo__proxy_forward_backward(c);
    if (st != SIGEO_OK)
        return st;
    const int64_t B = sigeo__probe_batch(c->m);
    const int32_t n_mod = sigeo__probe_module_count(c->m);
    double score = 0.0;
    uint32_t layers = 0;
    for (int32_t k = 0; k < n_mod; k++) {
        sigeo__probe_module_t mod;
        sigeo__probe_module(&mod, c->m, k);
        if (!mod.active)
            continue;
        sigeo__probe_node_t nd;
        sigeo__probe_node(&nd, c->m, mod.node);
        if (nd.kind != SIGEO_LAYER_LINEAR && nd.kind != SIGEO_LAYER_CONV2D && nd.kind != SIGEO_LAYER_TOKEN_LINEAR)
            continue;
        int64_t weight_active = 0;
        for (int32_t i = 0; i < mod.n_params; i++)
            if (mod.params[i].kind == SIGEO_PARAM_WEIGHT)
                weight_active = mod.params[i].active_numel;
        if (nd.channels < 1 || weight_active == 0)
            continue;
        const double per_channel = (double)(weight_active / nd.channels);
        double layer = 0.0;
        for (int64_t ch = 0; ch < nd.channels; ch++) {
            double f = 0.0;
            for (int64_t n = 0; n < B; n++) {
                const float *z = nd.out + n * nd.width + ch * nd.positions;
                const float *dz = nd.grad + n * nd.width + ch * nd.positions;
                double a = 0.0;
                for (int64_t p = 0; p < nd.positions; p++)
                    a += (double)z[p] * (double)dz[p];
                f += a * a;
            }
            const double fc = fabs(0.5 * f / (double)B);
            layer += fc;
            if ((st = channel_saliency(c, &mod, k, ch, fc)) != SIGEO_OK)
                return st;
        }
        sigeo__proxy_layer_add(c->ws, k, layer * per_channel, NAN, NAN);
        score += layer * per_channel;
        layers++;
    }
    sigeo__proxy_set_score(r, score, score);
    r->n_modules = layers;
    return SIGEO_OK;
}
