/* Per-layer results of the last sigeo_proxy_compute on a model: the value
 * each module (one parameterised layer, stats.h's rule) adds to a proxy
 * that is a sum over layers, and, on request, the per-parameter saliencies
 * of the pruning criteria (snip, grasp, synflow, plain, fisher), each of
 * which sums to the proxy's raw score. Both live on the model's proxy
 * workspace and are read with the two-call accessors below. */
#include <math.h>
#include <string.h>

#include "proxy/proxy.h"

void sigeo__proxy_layers_free(sigeo__proxy_ws_t *ws)
{
    sigeo__free(ws->layer_value);
    sigeo__free(ws->layer_zico);
    sigeo__free(ws->layer_theta_dot);
    sigeo__free(ws->layer_on);
    for (int32_t p = 0; p < ws->n_saliency_params && ws->saliency; p++)
        sigeo__free(ws->saliency[p]);
    sigeo__free(ws->saliency);
    sigeo__free(ws->saliency_on);
}

sigeo_status_t sigeo__proxy_layers_begin(sigeo_model_t *m, sigeo__proxy_ws_t *ws, bool keep_saliency)
{
    ws->layer_kind = -1;
    ws->keep_saliency = keep_saliency;
    if (!ws->layer_on) {
        const int32_t n_mod = sigeo__probe_module_count(m), n_par = sigeo__probe_param_count(m);
        const size_t nm = (size_t)(n_mod > 0 ? n_mod : 1), np = (size_t)(n_par > 0 ? n_par : 1);
        ws->layer_value = sigeo__calloc(nm, sizeof(double));
        ws->layer_zico = sigeo__calloc(nm, sizeof(double));
        ws->layer_theta_dot = sigeo__calloc(nm, sizeof(double));
        ws->layer_on = sigeo__calloc(nm, 1);
        ws->saliency = sigeo__calloc(np, sizeof(float *));
        ws->saliency_on = sigeo__calloc(np, 1);
        ws->n_layer_modules = n_mod;
        ws->n_saliency_params = n_par;
        if (!ws->layer_value || !ws->layer_zico || !ws->layer_theta_dot || !ws->layer_on || !ws->saliency ||
            !ws->saliency_on) {
            ws->n_saliency_params = 0;
            sigeo__proxy_layers_free(ws);
            ws->layer_value = ws->layer_zico = ws->layer_theta_dot = NULL;
            ws->layer_on = ws->saliency_on = NULL;
            ws->saliency = NULL;
            return sigeo__fail_on(sigeo__probe_errbuf(m), SIGEO_ERR_NO_MEMORY,
                                  "sigeo_proxy_compute: out of memory for the per-layer record");
        }
    }
    memset(ws->layer_on, 0, (size_t)(ws->n_layer_modules > 0 ? ws->n_layer_modules : 1));
    memset(ws->saliency_on, 0, (size_t)(ws->n_saliency_params > 0 ? ws->n_saliency_params : 1));
    return SIGEO_OK;
}

void sigeo__proxy_layers_end(sigeo__proxy_ws_t *ws, int32_t kind)
{
    ws->layer_kind = kind;
}

void sigeo__proxy_layer_add(sigeo__proxy_ws_t *ws, int32_t module, double value, double zico, double theta_dot)
{
    if (!ws->layer_on[module]) {
        ws->layer_on[module] = 1;
        ws->layer_value[module] = 0.0;
    }
    ws->layer_value[module] += value;
    ws->layer_zico[module] = zico;
    ws->layer_theta_dot[module] = theta_dot;
}

sigeo_status_t sigeo__proxy_saliency_of(float **out, const sigeo__proxy_call_t *c, const sigeo__proxy_weight_t *w)
{
    sigeo__proxy_ws_t *ws = c->ws;
    *out = NULL;
    if (!ws->keep_saliency)
        return SIGEO_OK;
    sigeo__probe_module_t mod;
    sigeo__probe_module(&mod, c->m, w->module);
    const int32_t p = mod.first_param + w->param;
    if (!ws->saliency[p]) {
        ws->saliency[p] = sigeo__calloc((size_t)w->numel, sizeof(float));
        if (!ws->saliency[p])
            return sigeo__proxy_fail(c, SIGEO_ERR_NO_MEMORY, "out of memory for the saliency of %lld weights",
                                     (long long)w->numel);
    }
    memset(ws->saliency[p], 0, (size_t)w->numel * sizeof(float));
    ws->saliency_on[p] = 1;
    *out = ws->saliency[p];
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_proxy_layer_init(sigeo_proxy_layer_t *layer, uint32_t struct_size)
{
    static const sigeo_proxy_layer_t defaults = SIGEO_PROXY_LAYER_INIT;
    return sigeo__struct_init(layer, struct_size, &defaults, sizeof defaults, "sigeo_proxy_layer");
}

/* The workspace of a model that finished a call, or a failure naming fn. */
static sigeo_status_t last_call(const sigeo__proxy_ws_t **out, const sigeo_model_t *m, const char *fn)
{
    if (!m)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: model is NULL", fn);
    const sigeo__proxy_ws_t *ws = sigeo__probe_attachment(m);
    if (!ws || ws->layer_kind < 0)
        return sigeo__fail_on(sigeo__probe_errbuf((sigeo_model_t *)m), SIGEO_ERR_INVALID_ARG,
                              "%s: no successful sigeo_proxy_compute on this model yet", fn);
    *out = ws;
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_proxy_layers(sigeo_proxy_layer_t *out, int32_t *count, const sigeo_model_t *model)
{
    static const char fn[] = "sigeo_proxy_layers";
    if (!count)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: count is NULL", fn);
    const sigeo__proxy_ws_t *ws;
    sigeo_status_t st = last_call(&ws, model, fn);
    if (st != SIGEO_OK)
        return st;
    sigeo__errbuf_t *err = sigeo__probe_errbuf((sigeo_model_t *)model);
    int32_t n = 0;
    for (int32_t k = 0; k < ws->n_layer_modules; k++)
        n += ws->layer_on[k];
    if (!out) {
        *count = n;
        return SIGEO_OK;
    }
    if (*count < n)
        return sigeo__fail_on(err, SIGEO_ERR_SHAPE, "%s: room for %d layers, the last call has %d", fn, (int)*count,
                              (int)n);
    /* The caller's struct_size is the stride of its array. */
    const uint32_t stride = out->struct_size;
    if (stride < 2 * sizeof(uint32_t))
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s: out[0].struct_size %u (use SIGEO_PROXY_LAYER_INIT)",
                              fn, (unsigned)stride);
    int32_t i = 0;
    for (int32_t k = 0; k < ws->n_layer_modules; k++) {
        if (!ws->layer_on[k])
            continue;
        sigeo__probe_module_t mod;
        sigeo__probe_module(&mod, model, k);
        sigeo_proxy_layer_t v = SIGEO_PROXY_LAYER_INIT;
        v.module = k;
        v.name = mod.name;
        v.value = ws->layer_value[k];
        v.zico_term = ws->layer_zico[k];
        v.theta_dot_grad_sum = ws->layer_theta_dot[k];
        sigeo_proxy_layer_t *dst = (sigeo_proxy_layer_t *)(void *)((char *)out + (size_t)i * stride);
        dst->struct_size = stride;
        if ((st = sigeo__struct_out(dst, &v, sizeof v, "sigeo_proxy_layer", err)) != SIGEO_OK)
            return st;
        i++;
    }
    *count = n;
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_proxy_saliency(float *out, int64_t *count, const sigeo_model_t *model, int32_t param)
{
    static const char fn[] = "sigeo_proxy_saliency";
    if (!count)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: count is NULL", fn);
    const sigeo__proxy_ws_t *ws;
    sigeo_status_t st = last_call(&ws, model, fn);
    if (st != SIGEO_OK)
        return st;
    sigeo__errbuf_t *err = sigeo__probe_errbuf((sigeo_model_t *)model);
    if (param < 0 || param >= ws->n_saliency_params)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s: parameter %d does not exist (%d)", fn, (int)param,
                              (int)ws->n_saliency_params);
    sigeo__probe_tensor_t t;
    sigeo__probe_param(&t, (sigeo_model_t *)model, param);
    if (!ws->saliency_on[param])
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG,
                              "%s: the last call (%s) kept no saliency of '%s' (set options.keep_saliency; only snip, "
                              "grasp, synflow, plain and fisher have one, on the CL-weights of active layers)",
                              fn, sigeo_proxy_kind_name((sigeo_proxy_kind_t)ws->layer_kind), t.name);
    if (!out) {
        *count = t.numel;
        return SIGEO_OK;
    }
    if (*count < t.numel)
        return sigeo__fail_on(err, SIGEO_ERR_SHAPE, "%s: '%s' has %lld elements, the buffer %lld", fn, t.name,
                              (long long)t.numel, (long long)*count);
    memcpy(out, ws->saliency[param], (size_t)t.numel * sizeof(float));
    *count = t.numel;
    return SIGEO_OK;
}
