/* Ensemble scoring in the search (sigeo_search_options_t.n_ensemble;
 * docs/proxies-zoo.md section 5). An aggregate of ranks or z-scores only
 * means something within one candidate set, so the search never keeps one
 * as a candidate's fixed score: it keeps every evaluation's member scores
 * (by evaluation index, the log) and aggregates over
 *   - the current population, before every tournament (the population's
 *     scores: what selection and the cycle report's best and median
 *     compare);
 *   - every candidate scored so far, lazily: an evaluation marks the memo's
 *     scores stale, and they are aggregated again only when read (a cycle
 *     report's best_ever, sigeo_search_top, get_info, save, the end of a
 *     run): once per cycle instead of once per evaluation, which made a
 *     search O(n^2 log n) in its evaluations;
 *   - the new candidate alone among those scored up to it, for its record
 *     (O(n P) by counting, no sort): the value the full aggregation gives
 *     it at that moment, bit for bit (same operations in the same order).
 * Every aggregation runs in evaluation order over the log, with work space
 * the search owns (sigeo_stats_aggregate_with), so nothing is allocated
 * after the log grows and the results do not depend on the memo's layout. */
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
    /* a member not reached (an earlier one failed) reads NaN in the record,
     * as search.h promises, not the 0 of the zeroed result */
    for (uint32_t k = 0; k < s->o.n_ensemble; k++)
        r->ens[k] = NAN;
    for (uint32_t k = 0; k < s->o.n_ensemble; k++) {
        sigeo_proxy_options_t o = s->proxy;
        o.kind = (sigeo_proxy_kind_t)s->o.ensemble_kinds[k];
        const char *name = sigeo_proxy_kind_name(o.kind);
        sigeo_proxy_result_t pr = SIGEO_PROXY_RESULT_INIT;
        sigeo_status_t st = sigeo_proxy_compute(s->model, arch, s->n, s->batches, s->n_batches, &o, &pr);
        if (st != SIGEO_OK)
            return sigeo__fail_wrap(NULL, st, "ensemble member %u (%s)", (unsigned)k, name);
        if (isnan(pr.score))
            return sigeo__fail(SIGEO_ERR_NONFINITE, "ensemble member %u (%s) scored NaN", (unsigned)k, name);
        r->ens[k] = pr.score;
        if (k == 0)
            r->proxy = pr;
    }
    return SIGEO_OK;
}

/* The work space's layout for `cap` candidates: P rows of scores, the
 * result, the evaluation indices, then sigeo_stats_aggregate_with's
 * scratch (a multiple of 8 bytes: it stays aligned for double). */
static bool work_layout(size_t *doubles, size_t *agg_bytes, uint64_t cap, uint32_t P)
{
    size_t head = 0;
    *doubles = 0;
    if (cap > INT64_MAX || sigeo_stats_aggregate_work_size(agg_bytes, (int64_t)cap) != SIGEO_OK ||
        !sigeo__mul_size(&head, (size_t)cap, (size_t)P + 2) || head > SIZE_MAX - *agg_bytes / sizeof(double))
        return false;
    *doubles = head + *agg_bytes / sizeof(double);
    return true;
}

/* Room for `n` candidates' aggregation in s->ens_work. */
static sigeo_status_t work_for(sigeo_search_t *s, uint64_t n)
{
    if (n <= s->ens_work_cap)
        return SIGEO_OK;
    uint64_t cap = s->ens_work_cap ? s->ens_work_cap : 64;
    while (cap < n)
        cap *= 2;
    size_t count, agg;
    if (!work_layout(&count, &agg, cap, s->o.n_ensemble))
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
 * (doubles, exact below 2^53) into out[0..n); `rows` and the scratch after
 * it are the work space's. */
static sigeo_status_t aggregate(sigeo_search_t *s, double *out, const double *orders, uint64_t n, double *rows)
{
    const uint32_t P = s->o.n_ensemble;
    for (uint64_t c = 0; c < n; c++)
        for (uint32_t k = 0; k < P; k++)
            rows[k * n + c] = s->ens_log[(uint64_t)orders[c] * P + k];
    size_t doubles = 0, agg = 0;
    work_layout(&doubles, &agg, s->ens_work_cap, P); /* fitted by work_for */
    double *scratch = s->ens_work + (doubles - agg / sizeof(double));
    sigeo_status_t st = sigeo_stats_aggregate_with(out, rows, (int64_t)n, (int32_t)P, weights_of(s),
                                                   (sigeo_rank_aggregation_t)s->o.ensemble_aggregate, scratch, agg);
    return st == SIGEO_OK ? SIGEO_OK : sigeo__fail_wrap(&s->err, st, "search: the ensemble's aggregate");
}

static bool logged_ok(const sigeo_search_t *s, uint64_t order)
{
    return !isnan(s->ens_log[order * s->o.n_ensemble]); /* a scored member is never NaN */
}

/* The aggregate of evaluation `order` among the successful evaluations
 * 0..order, by counting: its average rank under proxy p is (#lower) +
 * (#equal + 1) / 2, written as sigeo__average_ranks writes it, and the
 * z-score's mean and variance are summed in evaluation order as
 * sigeo_stats_aggregate sums them over the log. *count_out = the set's size. */
static double aggregate_one(const sigeo_search_t *s, uint64_t order, uint64_t *count_out)
{
    const uint32_t P = s->o.n_ensemble;
    const double *w = weights_of(s), *mine = s->ens_log + order * P;
    uint64_t n = 0;
    for (uint64_t e = 0; e <= order; e++)
        n += logged_ok(s, e);
    *count_out = n;
    double weight_sum = 0.0, out = 0.0;
    int inf = 0; /* z-score: +1 some member +inf, -1 some -inf */
    for (uint32_t p = 0; p < P; p++)
        weight_sum += w ? w[p] : 1.0;
    for (uint32_t p = 0; p < P; p++) {
        const double wp = w ? w[p] : 1.0, v = mine[p];
        if (wp == 0.0)
            continue;
        if (s->o.ensemble_aggregate == SIGEO_AGG_ZSCORE) {
            /* as sigeo_stats_aggregate: over the finite scores, an infinite
             * one making the aggregate that infinity (-inf winning) */
            if (!isfinite(v)) {
                inf = v < 0 ? -1 : (inf < 0 ? -1 : 1);
                continue;
            }
            double mean = 0.0, var = 0.0;
            uint64_t finite = 0;
            for (uint64_t e = 0; e <= order; e++)
                finite += logged_ok(s, e) && isfinite(s->ens_log[e * P + p]);
            for (uint64_t e = 0; e <= order; e++)
                if (logged_ok(s, e) && isfinite(s->ens_log[e * P + p]))
                    mean += s->ens_log[e * P + p] / (double)finite;
            for (uint64_t e = 0; e <= order; e++)
                if (logged_ok(s, e) && isfinite(s->ens_log[e * P + p])) {
                    const double d = s->ens_log[e * P + p] - mean;
                    var += d * d / (double)finite;
                }
            if (var > 0.0)
                out += wp * (v - mean) / sqrt(var);
            continue;
        }
        int64_t lower = 0, equal = 0;
        for (uint64_t e = 0; e <= order; e++)
            if (logged_ok(s, e)) {
                const double x = s->ens_log[e * P + p];
                lower += x < v;
                equal += x == v;
            }
        const double rank = 0.5 * (double)(lower + (lower + equal) - 1) + 1.0;
        out += s->o.ensemble_aggregate == SIGEO_AGG_LOG_RANK ? wp * log(rank / (double)n) : wp * rank / weight_sum;
    }
    return inf ? (inf < 0 ? -INFINITY : INFINITY) : out;
}

sigeo_status_t sigeo__search_ensemble_reserve(sigeo_search_t *s, uint64_t order, uint64_t n_memo)
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
    /* the work space grows here, so a later refresh never allocates */
    return work_for(s, n_memo);
}

sigeo_status_t sigeo__search_ensemble_apply(double *aggregate_out, uint64_t *count_out, sigeo_search_t *s,
                                            uint64_t order, const sigeo__scored_t *r)
{
    *aggregate_out = NAN;
    *count_out = 0;
    if (s->o.n_ensemble == 0)
        return SIGEO_OK;
    const uint32_t P = s->o.n_ensemble;
    /* normally a no-op: sigeo__search_apply reserved before the memo insert */
    sigeo_status_t st = sigeo__search_ensemble_reserve(s, order, (uint64_t)s->memo.count);
    if (st != SIGEO_OK)
        return st;
    for (uint32_t k = 0; k < P; k++)
        s->ens_log[order * P + k] = r->status == SIGEO_OK ? r->ens[k] : NAN;
    s->ens_rows = order + 1;
    if (r->status != SIGEO_OK)
        return SIGEO_OK;
    *aggregate_out = aggregate_one(s, order, count_out);
    s->ens_stale = true;
    return SIGEO_OK;
}

sigeo_status_t sigeo__search_ensemble_refresh(sigeo_search_t *s)
{
    if (s->o.n_ensemble == 0 || !s->ens_stale)
        return SIGEO_OK;
    sigeo_status_t st = work_for(s, (uint64_t)s->memo.count);
    if (st != SIGEO_OK)
        return st;
    const uint64_t cap = s->ens_work_cap;
    double *rows = s->ens_work, *out = rows + cap * s->o.n_ensemble, *orders = out + cap;
    uint64_t n = 0;
    for (uint64_t e = 0; e < s->ens_rows; e++)
        if (logged_ok(s, e))
            orders[n++] = (double)e;
    if (n > 0 && (st = aggregate(s, out, orders, n, rows)) != SIGEO_OK)
        return st;
    /* back to the memo: orders[] ascends, so an entry's position is found by bisection */
    s->best_ever = -INFINITY;
    for (int64_t i = 0; i < s->memo.cap; i++) {
        sigeo__memo_entry_t *e = &s->memo.entries[i];
        if (!e->used || e->status != SIGEO_OK)
            continue;
        uint64_t lo = 0, hi = n;
        while (hi - lo > 1) {
            const uint64_t mid = lo + (hi - lo) / 2;
            if (orders[mid] <= (double)e->order)
                lo = mid;
            else
                hi = mid;
        }
        if (n == 0 || orders[lo] != (double)e->order)
            return FAIL(s, SIGEO_ERR_INVALID_ARG, "search: evaluation %lld is missing from the ensemble log",
                        (long long)e->order);
        e->score = out[lo];
        s->best_ever = e->score > s->best_ever ? e->score : s->best_ever;
    }
    s->ens_stale = false;
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
    const uint64_t wcap = s->ens_work_cap;
    double *rows = s->ens_work, *out = rows + wcap * s->o.n_ensemble, *orders = out + wcap;
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
