/* Percentile-bootstrap intervals of a rank correlation over pairs: the
 * uncertainty a ranking study reports so a reader can tell which proxy
 * differences are real (sigeo-rank, docs/ranking.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/core.h"
#include "core/rng.h"
#include "sigeo/stats.h"

static int compare_double(const void *a, const void *b)
{
    const double p = *(const double *)a, q = *(const double *)b;
    return (p > q) - (p < q);
}

/* numpy's default (linear) quantile of sorted v[0..m). */
static double quantile(const double *v, int64_t m, double q)
{
    const double pos = q * (double)(m - 1);
    const int64_t i = (int64_t)floor(pos);
    if (i >= m - 1)
        return v[m - 1];
    return v[i] + (pos - (double)i) * (v[i + 1] - v[i]);
}

SIGEO_API sigeo_status_t sigeo_stats_rank_bootstrap(double *lo_out, double *hi_out, const double *x, const double *y,
                                                    int64_t n, int32_t kind, uint32_t resamples, double level,
                                                    uint64_t seed)
{
    static const char fn[] = "sigeo_stats_rank_bootstrap";
    if (!lo_out || !hi_out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %s is NULL", fn, lo_out ? "hi_out" : "lo_out");
    *lo_out = *hi_out = NAN;
    if (kind != SIGEO_RANK_SPEARMAN && kind != SIGEO_RANK_KENDALL)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: unknown kind %d (SIGEO_RANK_SPEARMAN 0, SIGEO_RANK_KENDALL 1)",
                           fn, (int)kind);
    if (resamples < 2 || !(level > 0.0 && level < 1.0))
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: resamples %u (need >= 2), level %g (need 0 < level < 1)", fn,
                           (unsigned)resamples, level);
    sigeo_status_t (*corr)(double *, const double *, const double *, int64_t) =
        kind == SIGEO_RANK_SPEARMAN ? sigeo_stats_spearman : sigeo_stats_kendall_tau;
    double point;
    sigeo_status_t st = corr(&point, x, y, n); /* validates x, y, n (NaN, constants, n < 2) */
    if (st != SIGEO_OK) {
        char msg[SIGEO__ERRMSG_MAX]; /* the message buffer is the one sigeo__fail writes */
        snprintf(msg, sizeof msg, "%s", sigeo_last_error());
        return sigeo__fail(st, "%s: %s", fn, msg);
    }
    size_t bytes;
    if (!sigeo__mul_size(&bytes, (size_t)n, 2 * sizeof(double)))
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: n = %lld is too large", fn, (long long)n);
    double *rx = sigeo__alloc(bytes), *vals = sigeo__calloc(resamples, sizeof *vals);
    if (!rx || !vals) {
        sigeo__free(rx);
        sigeo__free(vals);
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "%s: out of memory for %lld pairs", fn, (long long)n);
    }
    double *ry = rx + n;
    sigeo__rng_t rng;
    sigeo__rng_seed(&rng, seed);
    uint32_t kept = 0;
    for (uint32_t b = 0; b < resamples; b++) {
        for (int64_t i = 0; i < n; i++) {
            const int64_t j = (int64_t)sigeo__rng_below(&rng, (uint64_t)n);
            rx[i] = x[j];
            ry[i] = y[j];
        }
        double r;
        /* A resample with a constant side has no correlation: it is left out
         * (its message is not the caller's concern). */
        if (corr(&r, rx, ry, n) == SIGEO_OK)
            vals[kept++] = r;
    }
    sigeo__free(rx);
    if (kept < resamples / 2 + 1) {
        sigeo__free(vals);
        return sigeo__fail(SIGEO_ERR_INVALID_ARG,
                           "%s: only %u of %u resamples of %lld pairs had a defined correlation (too few distinct "
                           "values)",
                           fn, (unsigned)kept, (unsigned)resamples, (long long)n);
    }
    qsort(vals, kept, sizeof *vals, compare_double);
    *lo_out = quantile(vals, kept, (1.0 - level) / 2.0);
    *hi_out = quantile(vals, kept, (1.0 + level) / 2.0);
    sigeo__free(vals);
    return SIGEO_OK;
}
