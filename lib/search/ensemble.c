/* Ensemble scoring in the search (sigeo_search_options_t.n_ensemble;
 * docs/proxies-zoo.md section 5). An aggregate of ranks or z-scores only
 * means something within one candidate set, so the search never keeps one
 * as a candidate's fixed score: it keeps every evaluation's member scores
 * (by evaluation index) and aggregates again over
 *   - the current population, before every tournament (the population's
 *     scores: what selection and the cycle report compare), and
 *   - every candidate scored so far, after every evaluation (the memo's
 *     scores: what sigeo_search_top and the best score compare; an
 *     evaluation's recorded score is this aggregate at its own time). */
#include <math.h>
#include <string.h>

#include "search/search_internal.h"
#include "sigeo/stats.h"

#define FAIL(s, status, ...) sigeo__fail_on(&(s)->err, status, __VA_ARGS__)

sigeo_status_t sigeo__search_ensemble_check(const sigeo_search_options_t *o)
{
    static const char fn[] = "sigeo_search_create";
    if (o->n_ensemble == 0)
        return SIGEO_OK;
    if (o->n_ensemble > SIGEO_SEARCH_ENSEMBLE_MAX)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: n_ensemble %u (at most %d proxies)", fn,
                           (unsigned)o->n_ensemble, SIGEO_SEARCH_ENSEMBLE_MAX);
    if (o->ensemble_aggregate < SIGEO_AGG_LOG_RANK || o->ensemble_aggregate > SIGEO_AGG_ZSCORE)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: unknown ensemble_aggregate %d", fn, (int)o->ensemble_aggregate);
    for (uint32_t k = 0; k < o->n_ensemble; k++) {
        if (!sigeo_proxy_kind_name((sigeo_proxy_kind_t)o->ensemble_kinds[k]))
            return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: ensemble_kinds[%u] is %d, not a proxy kind", fn,
                               (unsigned)k, (int)o->ensemble_kinds[k]);
        const double w = o->ensemble_weights[k];
        if (!isfinite(w) || w < 0)
            return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: ensemble_weights[%u] is %g (need finite, >= 0)", fn,
                               (unsigned)k, w);
    }
    return SIGEO_OK;
}

sigeo_status_t sigeo__search_ensemble_score(sigeo__scored_t *r, sigeo_search_t *s, const int32_t *arch)
{
    for (uint32_t k = 0; k < s->o.n_ensemble; k++) {
        sigeo_proxy_options_t o = s->proxy;
        o.kind = (sigeo_proxy_kind_t)s->o.ensemble_kinds[k];
        const char *name = sigeo_proxy_kind_name(o.kind);
        sigeo_proxy_result_t pr = SIGEO_PROXY_RESULT_INIT;
        sigeo_status_t st = sigeo_proxy_compute(s->model, arch, s->n, s->batches, s->n_batches, &o, &pr);
        if (st != SIGEO_OK)
            return sigeo__fail_wrap(NULL, st, "ensemble member %u (%s)", (unsigned)k, name);
        if (isnan(pr.score) || (s->o.ensemble_aggregate == SIGEO_AGG_ZSCORE && !isfinite(pr.score)))
            return sigeo__fail(SIGEO_ERR_NONFINITE, "ensemble member %u (%s) scored %g%s", (unsigned)k, name,
                               pr.score, isnan(pr.score) ? "" : " (the z-score needs finite scores)");
        r->ens[k] = pr.score;
        if (k == 0)
            r->proxy = pr;
    }
    return SIGEO_OK;
}

/* Room for `n` candidates' aggregation: P rows of scores, the result and
 * an index per candidate, in s->ens_work. */
static sigeo_status_t work_for(sigeo_search_t *s, uint64_t n)
{
    if (n <= s->ens_work_cap)
        return SIGEO_OK;
    uint64_t cap = s->ens_work_cap ? s->ens_work_cap : 64;
    while (cap < n)
        cap *= 2;
    size_t count;
    if (!sigeo__mul_size(&count, (size_t)cap, (size_t)s->o.n_ensemble + 2))
        return FAIL(s, SIGEO_ERR_NO_MEMORY, "search: an ensemble over %llu candidates does not fit in memory",
                    (unsigned long long)n);
    double *w = sigeo__calloc(count, sizeof *w);
    if (!w)
        return FAIL(s, SIGEO_ERR_NO_MEMORY, "search: out of memory for an ensemble over %llu candidates",
                    (unsigned long long)n);
    sigeo__free(s->ens_work);
    s->ens_work = w;
    s->ens_work_cap = cap;
    return SIGEO_OK;
}

static const double *weights_of(const sigeo_search_t *s)
{
    for (uint32_t k = 0; k < s->o.n_ensemble; k++)
        if (s->o.ensemble_weights[k] != 0.0)
            return s->o.ensemble_weights;
    return NULL; /* all 0: unit weights */
}

/* Aggregates the n candidates whose evaluation indices are orders[0..n)
 * (doubles, exact below 2^53) into out[0..n). */
static sigeo_status_t aggregate(sigeo_search_t *s, double *out, const double *orders, uint64_t n, double *rows)
{
    const uint32_t P = s->o.n_ensemble;
    for (uint64_t c = 0; c < n; c++)
        for (uint32_t k = 0; k < P; k++)
            rows[k * n + c] = s->ens_log[(uint64_t)orders[c] * P + k];
    sigeo_status_t st = sigeo_stats_aggregate(out, rows, (int64_t)n, (int32_t)P, weights_of(s),
                                              (sigeo_rank_aggregation_t)s->o.ensemble_aggregate);
    return st == SIGEO_OK ? SIGEO_OK : sigeo__fail_wrap(&s->err, st, "search: the ensemble's aggregate");
}

sigeo_status_t sigeo__search_ensemble_apply(sigeo_search_t *s, uint64_t order, const sigeo__scored_t *r)
{
    if (s->o.n_ensemble == 0)
        return SIGEO_OK;
    const uint32_t P = s->o.n_ensemble;
    if (order >= s->ens_log_cap) {
        uint64_t cap = s->ens_log_cap ? 2 * s->ens_log_cap : 64;
        while (cap <= order)
            cap *= 2;
        size_t old_n, new_n;
        if (!sigeo__mul_size(&old_n, (size_t)s->ens_log_cap, P) || !sigeo__mul_size(&new_n, (size_t)cap, P))
            return FAIL(s, SIGEO_ERR_NO_MEMORY, "search: the ensemble log does not fit in memory");
        double *log = sigeo__realloc_array(s->ens_log, old_n, new_n, sizeof *log);
        if (!log)
            return FAIL(s, SIGEO_ERR_NO_MEMORY, "search: out of memory for the ensemble log of %llu evaluations",
                        (unsigned long long)cap);
        s->ens_log = log;
        s->ens_log_cap = cap;
    }
    for (uint32_t k = 0; k < P; k++)
        s->ens_log[order * P + k] = r->status == SIGEO_OK ? r->ens[k] : NAN;
    const uint64_t n = (uint64_t)s->memo.count;
    sigeo_status_t st = work_for(s, n);
    if (st != SIGEO_OK)
        return st;
    double *orders = s->ens_work, *out = orders + n, *rows = out + n;
    uint64_t k = 0;
    for (int64_t i = 0; i < s->memo.cap; i++) {
        const sigeo__memo_entry_t *e = &s->memo.entries[i];
        if (e->used && e->status == SIGEO_OK)
            orders[k++] = (double)e->order;
    }
    if (k == 0)
        return SIGEO_OK;
    if ((st = aggregate(s, out, orders, k, rows)) != SIGEO_OK)
        return st;
    s->best_ever = -INFINITY;
    uint64_t j = 0;
    for (int64_t i = 0; i < s->memo.cap; i++) {
        sigeo__memo_entry_t *e = &s->memo.entries[i];
        if (!e->used || e->status != SIGEO_OK)
            continue;
        e->score = out[j++];
        s->best_ever = e->score > s->best_ever ? e->score : s->best_ever;
    }
    return SIGEO_OK;
}

sigeo_status_t sigeo__search_ensemble_population(sigeo_search_t *s)
{
    if (s->o.n_ensemble == 0 || s->pop_size == 0)
        return SIGEO_OK;
    const uint32_t cap = s->o.population + s->o.children;
    const uint64_t n = s->pop_size;
    sigeo_status_t st = work_for(s, n);
    if (st != SIGEO_OK)
        return st;
    double *orders = s->ens_work, *out = orders + n, *rows = out + n;
    for (uint32_t i = 0; i < s->pop_size; i++) {
        const int32_t *arch = s->pop_arch + (size_t)((s->pop_head + i) % cap) * (size_t)s->n;
        const int64_t e = sigeo__memo_find(&s->memo, arch, sigeo_arch_hash(arch, s->n));
        if (e < 0)
            return FAIL(s, SIGEO_ERR_INVALID_ARG, "search: a population member is not among the evaluations");
        orders[i] = (double)s->memo.entries[e].order;
    }
    if ((st = aggregate(s, out, orders, n, rows)) != SIGEO_OK)
        return st;
    for (uint32_t i = 0; i < s->pop_size; i++)
        s->pop_score[(s->pop_head + i) % cap] = out[i];
    return SIGEO_OK;
}
