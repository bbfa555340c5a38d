/* sigeo_proxy_compute: options, the architecture switch and its rollback,
 * timing and provenance; the kinds compute in their own files. */
#include <string.h>
#include <time.h>

#include "proxy/proxy.h"

static const char *const kind_names[] = {
    [SIGEO_PROXY_SIGEO] = "sigeo",
    [SIGEO_PROXY_ZICO] = "zico",
    [SIGEO_PROXY_FISHER_RAO] = "fisher-rao",
};

SIGEO_API const char *sigeo_proxy_kind_name(sigeo_proxy_kind_t kind)
{
    if ((int)kind < 0 || (size_t)kind >= sizeof kind_names / sizeof kind_names[0])
        return NULL;
    return kind_names[kind];
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
    sigeo__free(ws->directional);
    sigeo__free(ws->arch_before);
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
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    sigeo_status_t st = sigeo__struct_in(&o, sizeof o, options, "sigeo_proxy_options", err);
    if (st != SIGEO_OK)
        return st;
    if (!sigeo_proxy_kind_name((sigeo_proxy_kind_t)o.kind))
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s: unknown proxy kind %d", fn, (int)o.kind);
    if (!batches || n_batches == 0)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s: no batches (batches %s, n_batches %u)", fn,
                              batches ? "set" : "NULL", (unsigned)n_batches);
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
    st = sigeo__proxy_sigeo(model, ws, batches, n_batches, &o, &r);
    if (switched)
        sigeo_model_activate(model, ws->arch_before, ws->n_choices);
    if (st != SIGEO_OK)
        return st;
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    sigeo_context_get_options(&co, sigeo__probe_context(model));
    r.seconds = now_seconds() - t0;
    r.kind = o.kind;
    r.seed = o.seed;
    r.threads = co.threads;
    r.batch_size = batches[0].batch_size;
    r.library_version = SIGEO_VERSION_NUMBER;
    return sigeo__struct_out(result, &r, sizeof r, "sigeo_proxy_result", err);
}
