/* sigeo_proxy_compute: options, the architecture switch and its rollback,
 * timing and provenance; the kinds compute in their own files. */
#include <string.h>
#include <time.h>

#include "proxy/proxy.h"

/* Per kind: its name (NASLib's for the baselines), the function that
 * computes it (NULL = the SiGeo family of sigeo_proxy.c), and whether it
 * reads data (the others accept n_batches = 0). */
typedef struct kind_entry {
    const char *name;
    sigeo__proxy_fn fn;
    bool needs_data;
} kind_entry_t;

/* A switch, not an array indexed by kind: public enums carry no COUNT
 * sentinel (sigeo.h), so an array's size cannot be checked against the
 * enum, while a switch on the enum type with no default is: with -Wswitch
 * an error here, a kind added to sigeo_proxy_kind_t without its line below
 * does not compile (tests/abi/test-enum-tables.sh proves it). */
#define KIND(k, name, fn, data)                            \
    case k: {                                              \
        static const kind_entry_t entry = { name, fn, data }; \
        return &entry;                                     \
    }
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic error "-Wswitch"
#endif
static const kind_entry_t *kind_entry(sigeo_proxy_kind_t kind)
{
    switch (kind) {
        KIND(SIGEO_PROXY_SIGEO, "sigeo", NULL, true)
        KIND(SIGEO_PROXY_ZICO, "zico", NULL, true)
        KIND(SIGEO_PROXY_FISHER_RAO, "fisher-rao", NULL, true)
        KIND(SIGEO_PROXY_GRAD_NORM, "grad_norm", sigeo__proxy_grad_norm, true)
        KIND(SIGEO_PROXY_SNIP, "snip", sigeo__proxy_snip, true)
        KIND(SIGEO_PROXY_GRASP, "grasp", sigeo__proxy_grasp, true)
        KIND(SIGEO_PROXY_FISHER, "fisher", sigeo__proxy_fisher, true)
        KIND(SIGEO_PROXY_JACOV, "jacov", sigeo__proxy_jacov, true)
        KIND(SIGEO_PROXY_EPE_NAS, "epe_nas", sigeo__proxy_epe_nas, true)
        KIND(SIGEO_PROXY_NWOT, "nwot", sigeo__proxy_nwot, true)
        KIND(SIGEO_PROXY_L2_NORM, "l2_norm", sigeo__proxy_l2_norm, false)
        KIND(SIGEO_PROXY_PLAIN, "plain", sigeo__proxy_plain, true)
        KIND(SIGEO_PROXY_SYNFLOW, "synflow", sigeo__proxy_synflow, false)
        KIND(SIGEO_PROXY_ZEN, "zen", sigeo__proxy_zen, true)
        KIND(SIGEO_PROXY_PARAMS, "params", sigeo__proxy_params, false)
        KIND(SIGEO_PROXY_FLOPS, "flops", sigeo__proxy_flops, false)
        KIND(SIGEO_PROXY_MECO, "meco", sigeo__proxy_meco, true)
        KIND(SIGEO_PROXY_SYNFLOW_BN, "synflow_bn", sigeo__proxy_synflow, false)
        KIND(SIGEO_PROXY_MECO_OPT, "meco_opt", sigeo__proxy_meco, true)
        KIND(SIGEO_PROXY_SWAP, "swap", sigeo__proxy_swap, true)
        KIND(SIGEO_PROXY_TENAS_NTK, "tenas_ntk", sigeo__proxy_tenas_ntk, true)
        KIND(SIGEO_PROXY_TENAS_REGIONS, "tenas_regions", sigeo__proxy_tenas_regions, true)
        KIND(SIGEO_PROXY_AZ_EXPRESSIVITY, "az_expressivity", sigeo__proxy_az_nas, true)
        KIND(SIGEO_PROXY_AZ_PROGRESSIVITY, "az_progressivity", sigeo__proxy_az_nas, true)
        KIND(SIGEO_PROXY_AZ_COMPLEXITY, "az_complexity", sigeo__proxy_flops, false)
        KIND(SIGEO_PROXY_AZ_TRAINABILITY, "az_trainability", sigeo__proxy_az_nas, true)
    }
    return NULL; /* a number no enumerator has */
}
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#undef KIND

SIGEO_API const char *sigeo_proxy_kind_name(sigeo_proxy_kind_t kind)
{
    const kind_entry_t *e = kind_entry(kind);
    return e ? e->name : NULL;
}

SIGEO_API sigeo_status_t sigeo_proxy_options_init(sigeo_proxy_options_t *options, uint32_t struct_size)
{
    static const sigeo_proxy_options_t defaults = SIGEO_PROXY_OPTIONS_INIT;
    return sigeo__struct_init(options, struct_size, &defaults, sizeof defaults, "sigeo_proxy_options");
}

SIGEO_API sigeo_status_t sigeo_proxy_result_init(sigeo_proxy_result_t *result, uint32_t struct_size)
{
    static const sigeo_proxy_result_t defaults = SIGEO_PROXY_RESULT_INIT;
    return sigeo__struct_init(result, struct_size, &defaults, sizeof defaults, "sigeo_proxy_result");
}

static void ws_destroy(void *p)
{
    sigeo__proxy_ws_t *ws = p;
    if (!ws)
        return;
    sigeo_stats_destroy(ws->stats);
    sigeo__free(ws->stats_module_of);
    sigeo__free(ws->stats_offset);
    sigeo__free(ws->grads);
    sigeo__free(ws->counts);
    sigeo__free(ws->touched);
    sigeo__free(ws->n_touched);
    sigeo__free(ws->table_param);
    sigeo__free(ws->directional);
    sigeo__free(ws->arch_before);
    for (int i = 0; i < SIGEO__SCRATCH_COUNT; i++)
        sigeo__free(ws->scratch[i]);
    sigeo__proxy_layers_free(ws);
    sigeo__free(ws);
}

sigeo_status_t sigeo__proxy_workspace(sigeo__proxy_ws_t **out, sigeo_model_t *m)
{
    sigeo__proxy_ws_t *ws = sigeo__probe_attachment(m);
    if (ws) {
        *out = ws;
        return SIGEO_OK;
    }
    int32_t n_choices = 0;
    sigeo_model_choices(&n_choices, NULL, 0, m);
    ws = sigeo__calloc(1, sizeof *ws);
    if (ws && n_choices > 0) {
        ws->arch_before = sigeo__calloc((size_t)n_choices, sizeof *ws->arch_before);
        if (!ws->arch_before) {
            sigeo__free(ws);
            ws = NULL;
        }
    }
    if (!ws)
        return sigeo__fail_on(sigeo__probe_errbuf(m), SIGEO_ERR_NO_MEMORY, "sigeo_proxy_compute: out of memory");
    ws->n_choices = n_choices;
    sigeo__probe_attach(m, ws, ws_destroy);
    *out = ws;
    return SIGEO_OK;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

SIGEO_API sigeo_status_t sigeo_proxy_compute(sigeo_model_t *model, const int32_t *arch, int32_t n_arch,
                                             const sigeo_batch_t *batches, uint32_t n_batches,
                                             const sigeo_proxy_options_t *options, sigeo_proxy_result_t *result)
{
    static const char fn[] = "sigeo_proxy_compute";
    if (!model)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: model is NULL", fn);
    sigeo__errbuf_t *err = sigeo__probe_errbuf(model);
    if (!result)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s: result is NULL", fn);
    sigeo_status_t ready = sigeo__model_check_ready(model, fn);
    if (ready != SIGEO_OK)
        return ready;
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    sigeo_status_t st = sigeo__struct_in(&o, sizeof o, options, "sigeo_proxy_options", err);
    if (st != SIGEO_OK)
        return st;
    const kind_entry_t *kind = kind_entry((sigeo_proxy_kind_t)o.kind);
    if (!kind)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s: unknown proxy kind %d", fn, (int)o.kind);
    if (o.keep_saliency > 1)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s: keep_saliency %u is not 0 or 1", fn,
                              (unsigned)o.keep_saliency);
    if ((kind->needs_data && (!batches || n_batches == 0)) || (!batches && n_batches > 0))
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s (%s): no batches (batches %s, n_batches %u)", fn,
                              kind->name, batches ? "set" : "NULL", (unsigned)n_batches);
    /* The first batch, read under its own struct_size (the baselines use
     * its fields directly); the others are read by the caller's stride too. */
    sigeo_batch_t first = SIGEO_BATCH_INIT;
    if (n_batches > 0 && (st = sigeo__struct_array_in(&first, sizeof first, batches, 0, "sigeo_batch", err)) != SIGEO_OK)
        return st;
    sigeo__proxy_ws_t *ws;
    if ((st = sigeo__proxy_workspace(&ws, model)) != SIGEO_OK)
        return st;
    /* Switch to the candidate and back, whatever happens in between. */
    bool switched = false;
    if (arch || n_arch) {
        if (n_arch != ws->n_choices || (!arch && n_arch > 0))
            return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG,
                                  "%s: architecture has %d entries, the model has %d choice points", fn, (int)n_arch,
                                  (int)ws->n_choices);
        if (n_arch > 0) {
            if ((st = sigeo_model_active_arch(ws->arch_before, ws->n_choices, model)) != SIGEO_OK)
                return st;
            if ((st = sigeo_model_activate(model, arch, n_arch)) != SIGEO_OK)
                return st;
            switched = true;
        }
    }
    double t0 = now_seconds();
    sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
    const sigeo__proxy_call_t call = { model, ws, n_batches > 0 ? &first : NULL, &o, kind->name };
    /* Train-mode batch norms update their running statistics in every
     * forward: they are put back, whatever the kind does. */
    st = sigeo__proxy_save_state(&call);
    if (st == SIGEO_OK)
        st = sigeo__proxy_layers_begin(model, ws, o.keep_saliency != 0);
    if (st == SIGEO_OK) {
        if (kind->fn) {
            r.k = n_batches > 0 ? 1u : 0u;
            r.n_samples = n_batches > 0 ? (uint64_t)first.batch_size : 0u;
            st = kind->fn(&call, &r);
        } else {
            st = sigeo__proxy_sigeo(model, ws, batches, n_batches, &o, &r);
            r.raw_score = r.score;
        }
        sigeo__proxy_restore_state(&call);
    }
    if (switched)
        sigeo_model_activate(model, ws->arch_before, ws->n_choices);
    if (st != SIGEO_OK)
        return st;
    sigeo__proxy_layers_end(ws, o.kind);
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    sigeo_context_get_options(&co, sigeo__probe_context(model));
    r.seconds = now_seconds() - t0;
    r.kind = o.kind;
    r.seed = o.seed;
    r.threads = co.threads;
    r.batch_size = first.batch_size;
    r.library_version = SIGEO_VERSION_NUMBER;
    return sigeo__struct_out(result, &r, sizeof r, "sigeo_proxy_result", err);
}
