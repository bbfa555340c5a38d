/* Rank aggregation of several proxies over one candidate set (stats.h,
 * "ensembles"): AZ-NAS's log-rank sum, the mean rank, and the weighted sum
 * of z-scores. Arithmetic in double; ranks by rank.c's average ranks. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"
#include "sigeo/stats.h"
#include "stats/stats_internal.h"

static const char fn[] = "sigeo_stats_aggregate";

static sigeo_status_t check(const double *out, const double *scores, int64_t n, int32_t n_proxies,
                            const double *weights, sigeo_rank_aggregation_t method, double *weight_sum)
{
    if (!out || !scores)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %s is NULL", fn, out ? "scores" : "out");
    if (n < 1 || n_proxies < 1)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %lld candidates, %d proxies (need >= 1 of each)", fn,
                           (long long)n, (int)n_proxies);
    if (method != SIGEO_AGG_LOG_RANK && method != SIGEO_AGG_MEAN_RANK && method != SIGEO_AGG_ZSCORE)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: unknown method %d (0 log-rank, 1 mean rank, 2 z-score)", fn,
                           (int)method);
    size_t bytes;
    if (!sigeo__mul_size(&bytes, (size_t)n, sizeof(sigeo__keyed_t) + sizeof(double)) ||
        (size_t)n_proxies > SIZE_MAX / (size_t)n)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %lld candidates is too many", fn, (long long)n);
    *weight_sum = 0.0;
    for (int32_t p = 0; p < n_proxies; p++) {
        const double w = weights ? weights[p] : 1.0;
        if (!(w >= 0.0) || !isfinite(w))
            return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: weight of proxy %d is %g (need finite, >= 0)", fn, (int)p, w);
        *weight_sum += w;
        for (int64_t c = 0; c < n; c++) {
            const double s = scores[(size_t)p * (size_t)n + (size_t)c];
            if (isnan(s))
                return sigeo__fail(SIGEO_ERR_NONFINITE, "%s: score of proxy %d, candidate %lld is NaN", fn, (int)p,
                                   (long long)c);
        }
    }
    if (*weight_sum == 0.0)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: every weight is 0", fn);
    return SIGEO_OK;
}

/* The work space: the ranks, then the sort's keyed pairs (both 8-byte
 * aligned, so a buffer aligned for double holds them). */
static bool work_bytes_for(size_t *bytes, int64_t n)
{
    return n >= 0 && sigeo__mul_size(bytes, (size_t)n, sizeof(double) + sizeof(sigeo__keyed_t));
}

SIGEO_API sigeo_status_t sigeo_stats_aggregate_work_size(size_t *bytes_out, int64_t n_candidates)
{
    static const char wfn[] = "sigeo_stats_aggregate_work_size";
    if (!bytes_out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: bytes_out is NULL", wfn);
    *bytes_out = 0;
    if (n_candidates < 1)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %lld candidates (need >= 1)", wfn, (long long)n_candidates);
    if (!work_bytes_for(bytes_out, n_candidates))
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %lld candidates is too many", wfn, (long long)n_candidates);
    return SIGEO_OK;
}

/* The aggregation proper, inputs checked, with rank[n] and scratch[n]. */
static void aggregate(double *out, const double *scores, int64_t n, int32_t n_proxies, const double *weights,
                      sigeo_rank_aggregation_t method, double weight_sum, double *rank, sigeo__keyed_t *scratch)
{
    for (int64_t c = 0; c < n; c++)
        out[c] = 0.0;
    if (method == SIGEO_AGG_ZSCORE)
        for (int64_t c = 0; c < n; c++)
            rank[c] = 0.0;
    for (int32_t p = 0; p < n_proxies; p++) {
        const double w = weights ? weights[p] : 1.0, *s = scores + (size_t)p * (size_t)n;
        if (w == 0.0)
            continue;
        if (method == SIGEO_AGG_ZSCORE) {
            /* mean and std over the finite scores; an infinite score marks
             * its candidate (rank[] is free scratch here: 0 none, +1 some
             * +inf, -1 some -inf, which wins) */
            double mean = 0.0, var = 0.0;
            int64_t finite = 0;
            for (int64_t c = 0; c < n; c++)
                finite += isfinite(s[c]) ? 1 : 0;
            for (int64_t c = 0; c < n; c++)
                if (isfinite(s[c]))
                    mean += s[c] / (double)finite;
            for (int64_t c = 0; c < n; c++)
                if (isfinite(s[c]))
                    var += (s[c] - mean) * (s[c] - mean) / (double)finite;
            for (int64_t c = 0; c < n; c++) {
                if (!isfinite(s[c]))
                    rank[c] = s[c] < 0 ? -1.0 : (rank[c] < 0 ? -1.0 : 1.0);
                else if (var > 0.0)
                    out[c] += w * (s[c] - mean) / sqrt(var);
            }
            continue;
        }
        sigeo__average_ranks(rank, s, n, scratch);
        for (int64_t c = 0; c < n; c++)
            out[c] += method == SIGEO_AGG_LOG_RANK ? w * log(rank[c] / (double)n) : w * rank[c] / weight_sum;
    }
    if (method == SIGEO_AGG_ZSCORE)
        for (int64_t c = 0; c < n; c++)
            if (rank[c] != 0.0)
                out[c] = rank[c] < 0 ? -INFINITY : INFINITY;
}

SIGEO_API sigeo_status_t sigeo_stats_aggregate_with(double *out, const double *scores, int64_t n_candidates,
                                                    int32_t n_proxies, const double *weights,
                                                    sigeo_rank_aggregation_t method, void *work, size_t work_bytes)
{
    static const char wfn[] = "sigeo_stats_aggregate_with";
    double weight_sum = 0.0;
    sigeo_status_t st = check(out, scores, n_candidates, n_proxies, weights, method, &weight_sum);
    if (st != SIGEO_OK)
        return st;
    size_t need = 0;
    work_bytes_for(&need, n_candidates); /* cannot overflow: check() bounded n */
    if (!work)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: work is NULL (%zu bytes needed for %lld candidates)", wfn, need,
                           (long long)n_candidates);
    if (work_bytes < need)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: work holds %zu bytes, %lld candidates need %zu", wfn,
                           work_bytes, (long long)n_candidates, need);
    if ((uintptr_t)work % _Alignof(double) != 0)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: work %p is not aligned for double (%zu bytes)", wfn, work,
                           (size_t)_Alignof(double));
    double *rank = work;
    aggregate(out, scores, n_candidates, n_proxies, weights, method, weight_sum, rank,
              (sigeo__keyed_t *)(void *)(rank + n_candidates));
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_stats_aggregate(double *out, const double *scores, int64_t n_candidates,
                                               int32_t n_proxies, const double *weights,
                                               sigeo_rank_aggregation_t method)
{
    double weight_sum = 0.0;
    sigeo_status_t st = check(out, scores, n_candidates, n_proxies, weights, method, &weight_sum);
    if (st != SIGEO_OK)
        return st;
    const int64_t n = n_candidates;
    double *rank = sigeo__calloc((size_t)n, sizeof *rank);
    sigeo__keyed_t *scratch = rank ? sigeo__calloc((size_t)n, sizeof *scratch) : NULL;
    if (!scratch) {
        sigeo__free(rank);
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "%s: out of memory for %lld candidates", fn, (long long)n);
    }
    aggregate(out, scores, n, n_proxies, weights, method, weight_sum, rank, scratch);
    sigeo__free(scratch);
    sigeo__free(rank);
    return SIGEO_OK;
}
