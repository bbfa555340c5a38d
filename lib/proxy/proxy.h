/* Internal interface of the proxy layer: the dispatcher (proxy.c) prepares
 * the architecture and the per-model workspace; each kind's file computes. */
#ifndef SIGEO_PROXY_PROXY_H
#define SIGEO_PROXY_PROXY_H

#include "core/core.h"
#include "nn/probe.h"
#include "sigeo/proxy.h"

/* Per-model reusable buffers, attached to the model (probe.h). */
typedef struct sigeo__proxy_ws {
    sigeo_stats_t *stats;             /* registered for stats_key below */
    sigeo_stats_options_t stats_opts; /* what `stats` was created with */
    uint32_t stats_param_kinds;
    int32_t n_stats_modules;
    int32_t *stats_module_of;         /* [model modules] stats index or -1 */
    int64_t *stats_offset;            /* [model modules] offset of the included params in the block */
    const float **grads;              /* [n_stats_modules] */
    int64_t *counts;                  /* [n_stats_modules] */
    double *directional;              /* [cap] d_n of one batch */
    int64_t directional_cap;
    int32_t *arch_before;             /* [n_choices] */
    int32_t n_choices;
} sigeo__proxy_ws_t;

/* The workspace of `m`, created on first use. */
sigeo_status_t sigeo__proxy_workspace(sigeo__proxy_ws_t **out, sigeo_model_t *m);

/* SiGeo, ZiCo and Fisher-Rao (sigeo_proxy.c). */
sigeo_status_t sigeo__proxy_sigeo(sigeo_model_t *m, sigeo__proxy_ws_t *ws, const sigeo_batch_t *batches,
                                  uint32_t n_batches, const sigeo_proxy_options_t *o, sigeo_proxy_result_t *r);

#endif
