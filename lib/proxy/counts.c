/* #params and FLOPs (docs/proxies.md §6), both / 1e6, from sigeo_model_count on
 * the active architecture: parameters of all trainable tensors the
 * architecture uses (embedding tables in full), multiply-accumulates of one
 * sample by tensorwatch's conventions. No data. */
#include "proxy/proxy.h"

sigeo_status_t sigeo__proxy_count(int64_t *params, int64_t *flops, const sigeo__proxy_call_t *c)
{
    sigeo__proxy_ws_t *ws = c->ws;
    sigeo_status_t st;
    /* Not into ws->arch_before: the dispatcher restores from it afterwards. */
    int32_t *arch;
    if ((st = sigeo__proxy_scratch((void **)&arch, c, SIGEO__SCRATCH_A,
                                   (size_t)(ws->n_choices > 0 ? ws->n_choices : 1) * sizeof *arch)) != SIGEO_OK)
        return st;
    if (ws->n_choices > 0 && (st = sigeo_model_active_arch(arch, ws->n_choices, c->m)) != SIGEO_OK)
        return sigeo__proxy_failed(c, st, "reading the active architecture");
    if ((st = sigeo_model_count(params, flops, c->m, arch, ws->n_choices)) != SIGEO_OK)
        return sigeo__proxy_failed(c, st, "counting");
    return SIGEO_OK;
}

sigeo_status_t sigeo__proxy_params(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r)
{
    int64_t params = 0;
    sigeo_status_t st = sigeo__proxy_count(&params, NULL, c);
    if (st != SIGEO_OK)
        return st;
    sigeo__proxy_set_score(r, (double)params / 1e6, (double)params / 1e6);
    return SIGEO_OK;
}

sigeo_status_t sigeo__proxy_flops(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r)
{
    int64_t flops = 0;
    sigeo_status_t st = sigeo__proxy_count(NULL, &flops, c);
    if (st != SIGEO_OK)
        return st;
    sigeo__proxy_set_score(r, (double)flops / 1e6, (double)flops / 1e6);
    return SIGEO_OK;
}
