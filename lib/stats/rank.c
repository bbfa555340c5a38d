/* Rank correlations for proxy ranking studies: Spearman's rho with average
 * ranks for ties, and Kendall's tau-b in O(n log n) (Knight's method: sort
 * by (x, y), then count the swaps a merge sort by y needs). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "sigeo/stats.h"
#include "stats/stats_internal.h"

typedef struct pair {
    double x, y;
} pair_t;

typedef sigeo__keyed_t keyed_t;

static int compare_keyed(const void *a, const void *b)
{
    const keyed_t *p = a, *q = b;
    return (p->value > q->value) - (p->value < q->value);
}

static int compare_pair(const void *a, const void *b)
{
    const pair_t *p = a, *q = b;
    if (p->x != q->x)
        return p->x < q->x ? -1 : 1;
    return (p->y > q->y) - (p->y < q->y);
}

/* Common checks; on failure *out is NaN. */
static sigeo_status_t check_inputs(double *out, const double *x, const double *y, int64_t n, const char *what)
{
    if (!out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: out is NULL", what);
    *out = NAN;
    if (!x || !y)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %s is NULL", what, x ? "y" : "x");
    if (n < 2)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: n = %lld, need at least 2 pairs", what, (long long)n);
    size_t bytes;
    if (!sigeo__mul_size(&bytes, (size_t)n, sizeof(pair_t) * 2))
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: n = %lld is too large", what, (long long)n);
    for (int64_t i = 0; i < n; i++) {
        if (isnan(x[i]))
            return sigeo__fail(SIGEO_ERR_NONFINITE, "%s: x[%lld] is NaN", what, (long long)i);
        if (isnan(y[i]))
            return sigeo__fail(SIGEO_ERR_NONFINITE, "%s: y[%lld] is NaN", what, (long long)i);
    }
    bool x_const = true, y_const = true;
    for (int64_t i = 1; i < n; i++) {
        x_const = x_const && x[i] == x[0];
        y_const = y_const && y[i] == y[0];
    }
    if (x_const || y_const)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %s is constant (all %lld values equal %g): the rank "
                           "correlation is undefined", what, x_const ? "x" : "y", (long long)n,
                           x_const ? x[0] : y[0]);
    return SIGEO_OK;
}

void sigeo__average_ranks(double *rank, const double *v, int64_t n, sigeo__keyed_t *scratch)
{
    for (int64_t i = 0; i < n; i++)
        scratch[i] = (keyed_t){ v[i], i };
    qsort(scratch, (size_t)n, sizeof *scratch, compare_keyed);
    for (int64_t i = 0; i < n;) {
        int64_t j = i + 1;
        while (j < n && scratch[j].value == scratch[i].value)
            j++;
        double r = 0.5 * (double)(i + j - 1) + 1.0; /* mean of ranks i+1 .. j */
        for (int64_t k = i; k < j; k++)
            rank[scratch[k].index] = r;
        i = j;
    }
}

SIGEO_API sigeo_status_t sigeo_stats_spearman(double *out, const double *x, const double *y, int64_t n)
{
    static const char what[] = "sigeo_stats_spearman";
    sigeo_status_t st = check_inputs(out, x, y, n, what);
    if (st != SIGEO_OK)
        return st;
    double *rx = sigeo__calloc((size_t)n * 2, sizeof(double));
    keyed_t *scratch = sigeo__calloc((size_t)n, sizeof(keyed_t));
    if (!rx || !scratch) {
        sigeo__free(rx);
        sigeo__free(scratch);
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "%s: out of memory for %lld ranks", what, (long long)n);
    }
    double *ry = rx + n;
    sigeo__average_ranks(rx, x, n, scratch);
    sigeo__average_ranks(ry, y, n, scratch);
    /* Pearson correlation of the ranks; both have mean (n + 1) / 2. */
    double mean = 0.5 * (double)(n + 1), sxy = 0, sxx = 0, syy = 0;
    for (int64_t i = 0; i < n; i++) {
        double dx = rx[i] - mean, dy = ry[i] - mean;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    sigeo__free(rx);
    sigeo__free(scratch);
    double rho = sxy / sqrt(sxx * syy);
    *out = rho > 1.0 ? 1.0 : rho < -1.0 ? -1.0 : rho;
    return SIGEO_OK;
}

/* Sorts a[0..n) by y (stable merge sort) and returns the number of
 * inversions: pairs i < j with a[i].y > a[j].y. */
static int64_t sort_count_swaps(pair_t *a, pair_t *tmp, int64_t n)
{
    int64_t swaps = 0;
    for (int64_t width = 1; width < n; width *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * width) {
            int64_t mid = lo + width < n ? lo + width : n;
            int64_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            int64_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                if (a[j].y < a[i].y) {
                    swaps += mid - i; /* a[j] jumps over every remaining left element */
                    tmp[k++] = a[j++];
                } else {
                    tmp[k++] = a[i++];
                }
            }
            while (i < mid)
                tmp[k++] = a[i++];
            while (j < hi)
                tmp[k++] = a[j++];
        }
        memcpy(a, tmp, (size_t)n * sizeof *a);
    }
    return swaps;
}

/* Sum over runs of equal keys of t(t-1)/2. */
static int64_t tied_pairs(const pair_t *a, int64_t n, bool by_x, bool by_y)
{
    int64_t total = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i + 1;
        while (j < n && (!by_x || a[j].x == a[i].x) && (!by_y || a[j].y == a[i].y))
            j++;
        total += (j - i) * (j - i - 1) / 2;
        i = j;
    }
    return total;
}

SIGEO_API sigeo_status_t sigeo_stats_kendall_tau(double *out, const double *x, const double *y, int64_t n)
{
    static const char what[] = "sigeo_stats_kendall_tau";
    sigeo_status_t st = check_inputs(out, x, y, n, what);
    if (st != SIGEO_OK)
        return st;
    pair_t *a = sigeo__calloc((size_t)n * 2, sizeof(pair_t));
    if (!a)
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "%s: out of memory for %lld pairs", what, (long long)n);
    for (int64_t i = 0; i < n; i++)
        a[i] = (pair_t){ x[i], y[i] };
    qsort(a, (size_t)n, sizeof *a, compare_pair);
    int64_t ties_x = tied_pairs(a, n, true, false);
    int64_t ties_xy = tied_pairs(a, n, true, true);
    /* After sorting by (x, y), every discordant pair is an inversion in y
     * and vice versa; pairs tied in x are in y order and add none. */
    int64_t swaps = sort_count_swaps(a, a + n, n);
    int64_t ties_y = tied_pairs(a, n, false, true);
    sigeo__free(a);
    int64_t n0 = n * (n - 1) / 2;
    double s = (double)(n0 - ties_x - ties_y + ties_xy) - 2.0 * (double)swaps;
    double tau = s / sqrt((double)(n0 - ties_x) * (double)(n0 - ties_y));
    *out = tau > 1.0 ? 1.0 : tau < -1.0 ? -1.0 : tau;
    return SIGEO_OK;
}
