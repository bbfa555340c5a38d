/* SiGeo, ZiCo and the Fisher-Rao norm on a model: k forward+backward passes
 * with the weights fixed feed the statistics accumulator (lib/stats); the
 * exact per-sample Fisher-Rao terms come out of the same backward passes,
 * or, where samples are coupled, out of one forward-mode pass per batch. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "proxy/proxy.h"
#include "stats/fisher_rao.h"
#include "stats/stats_internal.h"

/* The statistics options a proxy kind implies. */
static sigeo_stats_options_t stats_options(const sigeo_proxy_options_t *o)
{
    sigeo_stats_options_t s = SIGEO_STATS_OPTIONS_INIT;
    s.zico_variant = o->zico_variant;
    s.fr_estimator = o->fr_estimator;
    s.loss_term = o->loss_term;
    s.std_ddof = o->std_ddof;
    s.lambda_preset = o->lambda_preset;
    s.lambda1 = o->lambda1;
    s.lambda2 = o->lambda2;
    s.lambda3 = o->lambda3;
    if (o->kind != SIGEO_PROXY_SIGEO) {
        s.lambda_preset = SIGEO_PRESET_CUSTOM;
        s.lambda1 = o->kind == SIGEO_PROXY_ZICO ? 1.0 : 0.0;
        s.lambda2 = o->kind == SIGEO_PROXY_FISHER_RAO ? 1.0 : 0.0;
        s.lambda3 = 0.0;
    }
    return s;
}

static bool included(uint32_t kinds, int32_t param_kind)
{
    return (kinds >> param_kind) & 1u;
}

/* (Re)registers the model's modules with a statistics handle for these
 * options; kept on the workspace so the next candidate allocates nothing. */
static sigeo_status_t prepare_stats(sigeo_model_t *m, sigeo__proxy_ws_t *ws, const sigeo_stats_options_t *so,
                                    uint32_t param_kinds, int32_t scope)
{
    if (ws->stats && ws->stats_param_kinds == param_kinds && ws->stats_scope == scope) {
        /* same modules: keep the accumulators, switch only the options */
        if (memcmp(&ws->stats_opts, so, sizeof *so) == 0)
            return sigeo_stats_reset(ws->stats);
        sigeo_status_t st = sigeo__stats_retune(ws->stats, so);
        if (st == SIGEO_OK)
            ws->stats_opts = *so;
        return sigeo__propagate(sigeo__probe_errbuf(m), st);
    }
    const int32_t head = sigeo__probe_head_module(m);
    if (scope == SIGEO_SCOPE_HEAD && head < 0)
        return sigeo__fail_on(sigeo__probe_errbuf(m), SIGEO_ERR_INVALID_ARG,
                              "sigeo_proxy_compute: scope HEAD: the layer producing the loss's input has no parameters");
    sigeo__errbuf_t *err = sigeo__probe_errbuf(m);
    sigeo_stats_destroy(ws->stats);
    ws->stats = NULL;
    int32_t n_mod = sigeo__probe_module_count(m);
    if (!ws->stats_module_of) {
        ws->stats_module_of = sigeo__calloc((size_t)(n_mod > 0 ? n_mod : 1), sizeof *ws->stats_module_of);
        ws->stats_offset = sigeo__calloc((size_t)(n_mod > 0 ? n_mod : 1), sizeof *ws->stats_offset);
        ws->grads = sigeo__calloc((size_t)(n_mod > 0 ? n_mod : 1), sizeof *ws->grads);
        ws->counts = sigeo__calloc((size_t)(n_mod > 0 ? n_mod : 1), sizeof *ws->counts);
        ws->touched = sigeo__calloc((size_t)(n_mod > 0 ? n_mod : 1), sizeof *ws->touched);
        ws->n_touched = sigeo__calloc((size_t)(n_mod > 0 ? n_mod : 1), sizeof *ws->n_touched);
        ws->table_param = sigeo__calloc((size_t)(n_mod > 0 ? n_mod : 1), sizeof *ws->table_param);
        if (!ws->stats_module_of || !ws->stats_offset || !ws->grads || !ws->counts || !ws->touched ||
            !ws->n_touched || !ws->table_param) {
            /* all or nothing: the next call allocates the four again */
            sigeo__free(ws->stats_module_of);
            sigeo__free(ws->stats_offset);
            sigeo__free(ws->grads);
            sigeo__free(ws->counts);
            sigeo__free(ws->touched);
            sigeo__free(ws->n_touched);
            sigeo__free(ws->table_param);
            ws->touched = NULL;
            ws->n_touched = NULL;
            ws->table_param = NULL;
            ws->stats_module_of = NULL;
            ws->stats_offset = NULL;
            ws->grads = NULL;
            ws->counts = NULL;
            return sigeo__fail_on(err, SIGEO_ERR_NO_MEMORY, "sigeo_proxy_compute: out of memory");
        }
    }
    sigeo_status_t st = sigeo_stats_create(&ws->stats, sigeo__probe_context(m), so);
    if (st != SIGEO_OK)
        return sigeo__propagate(err, st);
    ws->n_stats_modules = 0;
    for (int32_t k = 0; k < n_mod; k++) {
        sigeo__probe_module_t mod;
        sigeo__probe_module(&mod, m, k);
        /* The included parameters of a layer (weight and/or bias, scale
         * and/or shift) are one contiguous range of its block. */
        int64_t begin = -1, end = -1;
        for (int32_t i = 0; i < mod.n_params; i++) {
            if (!included(param_kinds, mod.params[i].kind))
                continue;
            if (begin >= 0 && end != mod.params[i].offset)
                return sigeo__fail_on(err, SIGEO_ERR_UNSUPPORTED,
                                      "sigeo_proxy_compute: module '%s': the selected parameter kinds are not "
                                      "contiguous",
                                      mod.name);
            if (begin < 0)
                begin = mod.params[i].offset;
            end = mod.params[i].offset + mod.params[i].numel;
        }
        ws->stats_module_of[k] = -1;
        if (begin < 0 || (scope == SIGEO_SCOPE_HEAD && k != head))
            continue;
        int32_t idx;
        /* An embedding table is a table module: its batch gradients touch a
         * few rows, and only those are updated (bench/README.md finding 2). */
        const bool table = mod.n_params == 1 && mod.params[0].kind == SIGEO_PARAM_EMBEDDING;
        sigeo__probe_tensor_t t;
        if (table)
            sigeo__probe_param(&t, m, mod.first_param);
        st = table ? sigeo_stats_add_table_module(&idx, ws->stats, mod.name, t.rows, t.row_size)
                   : sigeo_stats_add_module(&idx, ws->stats, mod.name, end - begin);
        if (st == SIGEO_OK)
            ws->table_param[idx] = table ? mod.first_param : -1;
        if (st != SIGEO_OK) {
            sigeo_stats_destroy(ws->stats);
            ws->stats = NULL;
            return sigeo__propagate(err, st);
        }
        ws->stats_module_of[k] = idx;
        ws->stats_offset[k] = begin;
        ws->counts[idx] = end - begin;
        ws->n_stats_modules++;
    }
    if (ws->n_stats_modules == 0) {
        sigeo_stats_destroy(ws->stats);
        ws->stats = NULL;
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG,
                              "sigeo_proxy_compute: no parameter of the model matches param_kinds 0x%x", param_kinds);
    }
    ws->stats_opts = *so;
    ws->stats_param_kinds = param_kinds;
    ws->stats_scope = scope;
    return SIGEO_OK;
}

static sigeo_status_t ensure_directional(sigeo_model_t *m, sigeo__proxy_ws_t *ws, int64_t n)
{
    if (ws->directional_cap >= n)
        return SIGEO_OK;
    double *d = sigeo__calloc((size_t)n, sizeof *d);
    if (!d)
        return sigeo__fail_on(sigeo__probe_errbuf(m), SIGEO_ERR_NO_MEMORY, "sigeo_proxy_compute: out of memory");
    sigeo__free(ws->directional);
    ws->directional = d;
    ws->directional_cap = n;
    return SIGEO_OK;
}

/* SGD_STEPS (docs/proxies.md §1.6): every module block is copied before the
 * first step and put back after the statistics are computed, so the model
 * leaves the call as it came. */
static sigeo_status_t save_weights(float **out, sigeo_model_t *m, sigeo__proxy_ws_t *ws, const sigeo_proxy_options_t *o)
{
    const int32_t n_mod = sigeo__probe_module_count(m);
    int64_t total = 0;
    for (int32_t k = 0; k < n_mod; k++) {
        sigeo__probe_module_t mod;
        sigeo__probe_module(&mod, m, k);
        total += mod.numel;
    }
    const sigeo__proxy_call_t call = { m, ws, NULL, o, sigeo_proxy_kind_name((sigeo_proxy_kind_t)o->kind) };
    sigeo_status_t st = sigeo__proxy_scratch((void **)out, &call, SIGEO__SCRATCH_A, (size_t)total * sizeof(float));
    if (st != SIGEO_OK)
        return st;
    int64_t at = 0;
    for (int32_t k = 0; k < n_mod; k++) {
        sigeo__probe_module_t mod;
        sigeo__probe_module(&mod, m, k);
        memcpy(*out + at, mod.data, (size_t)mod.numel * sizeof(float));
        at += mod.numel;
    }
    return SIGEO_OK;
}

static void restore_weights(sigeo_model_t *m, const float *saved)
{
    const int32_t n_mod = sigeo__probe_module_count(m);
    int64_t at = 0;
    for (int32_t k = 0; k < n_mod; k++) {
        sigeo__probe_module_t mod;
        sigeo__probe_module(&mod, m, k);
        memcpy(sigeo__probe_module_data(m, k), saved + at, (size_t)mod.numel * sizeof(float));
        at += mod.numel;
    }
}

/* theta -= lr * g on every active parameter (an embedding table's rows the
 * batch did not touch have zero gradients: the dense pass leaves them). */
static void sgd_step(sigeo_model_t *m, double lr)
{
    const int32_t n_par = sigeo__probe_param_count(m);
    for (int32_t p = 0; p < n_par; p++) {
        sigeo__probe_tensor_t t;
        sigeo__probe_param(&t, m, p);
        if (!t.active)
            continue;
        for (int64_t i = 0; i < t.numel; i++)
            t.data[i] = (float)((double)t.data[i] - lr * (double)t.grad[i]);
    }
}

/* The touched rows of table module idx in the last backward ({0}, 0 when
 * none); NULL for a dense module. */
static const int64_t *touched_rows(int64_t *n_rows, sigeo_model_t *m, const sigeo__proxy_ws_t *ws, int32_t idx)
{
    static const int64_t no_rows[1] = { 0 };
    *n_rows = 0;
    if (ws->table_param[idx] < 0)
        return NULL;
    sigeo__probe_tensor_t t;
    sigeo__probe_param(&t, m, ws->table_param[idx]);
    *n_rows = t.dirty_rows ? t.n_dirty_rows : 0;
    return t.dirty_rows ? t.dirty_rows : no_rows;
}

/* The tape's gradient hook (probe.h): folds model module k into the open
 * fused batch of the statistics right after its layer's backward wrote it,
 * while it is in cache, instead of a second pass over every gradient. */
static sigeo_status_t fold_module(void *user, sigeo_model_t *m, int32_t k)
{
    sigeo__proxy_ws_t *ws = user;
    const int32_t idx = ws->stats_module_of[k];
    if (idx < 0)
        return SIGEO_OK;
    sigeo__probe_module_t mod;
    sigeo__probe_module(&mod, m, k);
    int64_t n_rows;
    const int64_t *rows = touched_rows(&n_rows, m, ws, idx);
    sigeo_status_t st = sigeo__stats_fuse_module(ws->stats, idx, mod.grad + ws->stats_offset[k], rows, n_rows);
    return sigeo__propagate(sigeo__probe_errbuf(m), st);
}

/* After a fused backward: the modules whose layers ran no backward (their
 * gradients are the zeros it started from) are folded in too. */
static sigeo_status_t fold_the_rest(sigeo_model_t *m, sigeo__proxy_ws_t *ws)
{
    const int32_t n_mod = sigeo__probe_module_count(m);
    for (int32_t k = 0; k < n_mod; k++) {
        const int32_t idx = ws->stats_module_of[k];
        if (idx < 0 || sigeo__stats_fuse_fed(ws->stats, idx))
            continue;
        sigeo_status_t st = fold_module(ws, m, k);
        if (st != SIGEO_OK)
            return st;
    }
    return SIGEO_OK;
}

/* Re-reports a callee's failure with the batch it happened in. */
static sigeo_status_t in_batch(sigeo_model_t *m, sigeo_status_t st, uint32_t i)
{
    return sigeo__fail_wrap(sigeo__probe_errbuf(m), st, "sigeo_proxy_compute: batch %u", (unsigned)i);
}

sigeo_status_t sigeo__proxy_sigeo(sigeo_model_t *m, sigeo__proxy_ws_t *ws, const sigeo_batch_t *batches,
                                  uint32_t n_batches, const sigeo_proxy_options_t *o, sigeo_proxy_result_t *r)
{
    sigeo__errbuf_t *err = sigeo__probe_errbuf(m);
    const sigeo_stats_options_t so = stats_options(o);
    double lambdas[3] = { so.lambda1, so.lambda2, so.lambda3 };
    if (so.lambda_preset != SIGEO_PRESET_CUSTOM && sigeo_stats_preset_lambdas(lambdas, so.lambda_preset) != SIGEO_OK)
        return sigeo__propagate(err, SIGEO_ERR_INVALID_ARG);
    /* One batch has no std: enough for Fisher-Rao and for SiGeo with
     * lambda1 = 0, not for ZiCo. */
    if (n_batches < 2 && lambdas[0] != 0.0)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG,
                              "sigeo_proxy_compute: %u batch(es); the gradient std of ZiCo needs at least 2 "
                              "(one is enough for fisher-rao, and for sigeo with lambda1 = 0)",
                              (unsigned)n_batches);
    if (o->scope != SIGEO_SCOPE_ALL && o->scope != SIGEO_SCOPE_HEAD)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "sigeo_proxy_compute: unknown scope %d", (int)o->scope);
    const bool head_only = o->scope == SIGEO_SCOPE_HEAD;
    /* The one-backward identity d_n = B sum delta_n . y_n is collected in
     * every backward (a few dot products per layer): free, so the result
     * always carries it. It is exact unless samples are coupled (train-mode
     * batch norm); head only, l_n depends on the head's parameters only
     * through z_n, so delta_n . z_n is exact whatever couples upstream.
     * Where it is not exact, the EXACT estimator (when it enters the score)
     * takes d_n from one forward-mode pass per batch through the batch
     * statistics (docs/proxies.md §4.3a); IDENTITY keeps the one-backward value,
     * as its name says. */
    const bool sgd = o->procedure == SIGEO_PROCEDURE_SGD_STEPS;
    if (o->procedure != SIGEO_PROCEDURE_FIXED && !sgd)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "sigeo_proxy_compute: unknown procedure %d (0 fixed, 1 sgd)",
                              (int)o->procedure);
    if (sgd && !(o->step_lr > 0.0 && o->step_lr <= 1e6))
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "sigeo_proxy_compute: step_lr %g is outside (0, 1e6]",
                              o->step_lr);
    const bool identity_exact = head_only || !sigeo__probe_couples_samples(m);
    const bool jvp = lambdas[1] != 0.0 && so.fr_estimator == SIGEO_FR_EXACT && !identity_exact;
    const bool have_exact = identity_exact || jvp;
    double sq_identity = 0.0, sq_exact = 0.0;
    uint64_t n_seen = 0;
    sigeo_status_t st = prepare_stats(m, ws, &so, o->param_kinds, o->scope);
    if (st != SIGEO_OK)
        return st;
    /* theta goes to the statistics only for the reference estimators: with
     * lambda1 = 0 otherwise (fisher-rao, SiGeo without ZiCo) they keep no
     * per-parameter state at all, and nothing is folded per layer. */
    const bool reference = so.fr_estimator == SIGEO_FR_REFERENCE_RECSYS || so.fr_estimator == SIGEO_FR_REFERENCE_CV;
    sigeo__stats_promise_no_theta(ws->stats, !reference);
    const bool fused = sigeo__stats_fuse_wanted(ws->stats);
    /* every batch is fused and their number known: the statistics may stage
     * them (store k - 1 gradients, replay them at the last; stats_internal.h) */
    if (fused)
        sigeo__stats_fuse_plan(ws->stats, n_batches);
    float *saved = NULL;
    if (sgd && (st = save_weights(&saved, m, ws, o)) != SIGEO_OK)
        return st;
    sigeo__probe_collect_directional(m, true);
    sigeo__probe_directional_head_only(m, head_only);
    for (uint32_t i = 0; i < n_batches && st == SIGEO_OK; i++) {
        /* Element i by the caller's struct_size, not this library's sizeof. */
        sigeo_batch_t b = SIGEO_BATCH_INIT;
        if ((st = sigeo__struct_array_in(&b, sizeof b, batches, i, "sigeo_batch", err)) != SIGEO_OK)
            break;
        double loss;
        /* Fused: the statistics take each layer's gradients from the
         * backward's hook; the batch's scalars close it below. */
        if (fused && (st = sigeo__stats_fuse_begin(ws->stats, b.batch_size)) != SIGEO_OK) {
            st = in_batch(m, st, i);
            break;
        }
        /* the last batch's ZiCo is reduced as its gradients come (one pass
         * over the statistics instead of an update and a reduction) */
        if (fused && i + 1 == n_batches)
            sigeo__stats_fuse_is_last(ws->stats);
        if (fused)
            sigeo__probe_grad_hook(m, fold_module, ws);
        st = sigeo_model_forward_backward(&loss, m, &b);
        sigeo__probe_grad_hook(m, NULL, NULL);
        if (st == SIGEO_OK && fused)
            st = fold_the_rest(m, ws);
        if (st != SIGEO_OK) {
            st = in_batch(m, st, i);
            break;
        }
        const int32_t n_mod = sigeo__probe_module_count(m);
        for (int32_t k = 0; k < n_mod && !fused; k++) {
            int32_t idx = ws->stats_module_of[k];
            if (idx < 0)
                continue;
            sigeo__probe_module_t mod;
            sigeo__probe_module(&mod, m, k);
            ws->grads[idx] = mod.grad + ws->stats_offset[k];
            ws->touched[idx] = touched_rows(&ws->n_touched[idx], m, ws, idx);
        }
        sigeo_stats_batch_t sb = SIGEO_STATS_BATCH_INIT;
        sb.n_modules = (uint32_t)ws->n_stats_modules;
        sb.gradients = ws->grads;
        sb.gradient_counts = ws->counts;
        sb.touched_rows = ws->touched;
        sb.touched_counts = ws->n_touched;
        sb.loss = loss;
        sb.batch_size = b.batch_size;
        /* ws->directional holds [identity | exact] d_n of this batch. */
        if ((st = ensure_directional(m, ws, 2 * b.batch_size)) != SIGEO_OK)
            break;
        double *ident = ws->directional, *exact = ws->directional + b.batch_size;
        /* The backward of the mean loss hands out s_n; d_n = B s_n (docs/proxies.md §4.2). */
        const double *sn = sigeo__probe_directional(m);
        for (int64_t n = 0; n < b.batch_size; n++) {
            ident[n] = (double)b.batch_size * sn[n];
            sq_identity += ident[n] * ident[n];
        }
        if (jvp) {
            if ((st = sigeo__tape_jvp(exact, m)) != SIGEO_OK) {
                st = in_batch(m, st, i);
                break;
            }
        } else if (have_exact) {
            memcpy(exact, ident, (size_t)b.batch_size * sizeof *exact);
        }
        for (int64_t n = 0; have_exact && n < b.batch_size; n++)
            sq_exact += exact[n] * exact[n];
        n_seen += (uint64_t)b.batch_size;
        sb.directional = so.fr_estimator == SIGEO_FR_IDENTITY ? ident : have_exact ? exact : NULL;
        st = fused ? sigeo__stats_fuse_end(ws->stats, &sb) : sigeo_stats_add_batch(ws->stats, &sb);
        if (st != SIGEO_OK)
            st = in_batch(m, st, i);
        else if (sgd)
            sgd_step(m, o->step_lr);
    }
    sigeo__probe_collect_directional(m, false);
    sigeo__probe_directional_head_only(m, false);
    if (st != SIGEO_OK) {
        if (saved)
            restore_weights(m, saved);
        return st;
    }
    if (so.fr_estimator == SIGEO_FR_REFERENCE_RECSYS || so.fr_estimator == SIGEO_FR_REFERENCE_CV) {
        const int32_t n_mod = sigeo__probe_module_count(m);
        for (int32_t k = 0; k < n_mod; k++) {
            int32_t idx = ws->stats_module_of[k];
            if (idx < 0)
                continue;
            sigeo__probe_module_t mod;
            sigeo__probe_module(&mod, m, k);
            if ((st = sigeo_stats_set_params(ws->stats, idx, mod.data + ws->stats_offset[k], ws->counts[idx])) !=
                SIGEO_OK)
                break;
        }
    }
    /* theta_k is in the statistics now: the weights go back. */
    if (saved)
        restore_weights(m, saved);
    if (st != SIGEO_OK)
        return sigeo__propagate(err, st);
    sigeo_stats_result_t sr = SIGEO_STATS_RESULT_INIT;
    if ((st = sigeo_stats_compute(&sr, ws->stats)) != SIGEO_OK)
        return sigeo__propagate(err, st);
    /* Only modules of the active subnet count; the rest had zero gradients
     * (all sigma 0) and were skipped by the statistics anyway. */
    uint32_t active = 0, skipped = 0;
    const int32_t n_mod = sigeo__probe_module_count(m);
    for (int32_t k = 0; k < n_mod; k++) {
        if (ws->stats_module_of[k] < 0)
            continue;
        sigeo__probe_module_t mod;
        sigeo__probe_module(&mod, m, k);
        if (!mod.active)
            continue;
        active++;
        sigeo_stats_module_info_t info = SIGEO_STATS_MODULE_INFO_INIT;
        sigeo_stats_get_module_info(&info, ws->stats, ws->stats_module_of[k]);
        skipped += info.skipped;
        /* The per-layer record (sigeo_proxy_layers): the module's ZiCo term,
         * and theta_m . G_m where the params were set. */
        const double dot = (sr.flags & SIGEO_STATS_HAS_THETA_DOT) ? info.theta_dot_grad_sum : NAN;
        const double value = o->kind == SIGEO_PROXY_FISHER_RAO ? dot : sr.lambda1 * info.zico_term;
        sigeo__proxy_layer_add(ws, k, value, info.zico_term, dot);
    }
    r->flags = sr.flags;
    r->score = o->kind == SIGEO_PROXY_ZICO ? sr.zico : o->kind == SIGEO_PROXY_FISHER_RAO ? sr.log_fr : sr.score;
    r->zico = sr.zico;
    r->fr = sr.fr;
    r->log_fr = sr.log_fr;
    r->loss = sr.loss;
    r->loss_mean = sr.loss_mean;
    r->loss_last = sr.loss_last;
    const sigeo__fr_value_t fi = sigeo__fr_exact(sq_identity, n_seen);
    const sigeo__fr_value_t fx = have_exact ? sigeo__fr_exact(sq_exact, n_seen) : (sigeo__fr_value_t){ NAN, NAN };
    r->fr_identity = fi.fr;
    r->log_fr_identity = fi.log_fr;
    r->fr_exact = fx.fr;
    r->log_fr_exact = fx.log_fr;
    r->fr_reference_recsys = sr.fr_reference_recsys;
    r->log_fr_reference_recsys = sr.log_fr_reference_recsys;
    r->fr_reference_cv = sr.fr_reference_cv;
    r->log_fr_reference_cv = sr.log_fr_reference_cv;
    r->zico_module_wise = sr.zico_module_wise;
    r->zico_neuron_wise = sr.zico_neuron_wise;
    r->zico_reference_recsys = sr.zico_reference_recsys;
    r->lambda1 = sr.lambda1;
    r->lambda2 = sr.lambda2;
    r->lambda3 = sr.lambda3;
    r->zico_variant = sr.zico_variant;
    r->fr_estimator = sr.fr_estimator;
    r->loss_term = sr.loss_term;
    r->std_ddof = sr.std_ddof;
    r->k = (uint32_t)sr.n_batches;
    r->n_samples = sr.n_samples;
    r->n_modules = active;
    r->n_modules_skipped = skipped;
    return SIGEO_OK;
}
