#include <math.h>

#include "stats/zico.h"

void sigeo__zico_block(sigeo__zico_block_t *out, const sigeo__welford_t *w, int64_t offset, int64_t count,
                       uint64_t k, uint32_t ddof)
{
    const float *mean_abs = w->mean_abs + offset;
    const float *root_m2 = w->root_m2 + offset;
    const double inv_sqrt_dof = 1.0 / sqrt((double)(k - ddof));
    /* ZiCo's guard is an exact compare: sigma == 0 means every batch gave
     * the same value, and the element carries no signal-to-noise ratio
     * (the per-ISA reduction, welford_kernel.h). */
    double sum = 0.0;
    int64_t nonzero = 0;
    sigeo__zico_reduce(&sum, &nonzero, mean_abs, root_m2, count, inv_sqrt_dof);
    /* The RecSys reference's element: the first with sigma != 0. */
    double first = 0.0;
    for (int64_t j = 0; j < count; j++)
        if (root_m2[j] != 0.0f) {
            first = (double)mean_abs[j] / ((double)root_m2[j] * inv_sqrt_dof);
            break;
        }
    out->n_nonzero_sigma = nonzero;
    out->ratio_sum = sum;
    out->first_ratio = first;
}

uint32_t sigeo__zico_fold_last(sigeo__zico_block_t *out, sigeo__welford_t *w, int64_t offset, const float *g,
                               int64_t count, uint64_t k, uint32_t ddof)
{
    const double inv_sqrt_dof = 1.0 / sqrt((double)(k - ddof)); /* as sigeo__zico_block */
    double sum = 0.0, first = 0.0;
    int64_t nonzero = 0;
    const uint32_t bad = sigeo__welford_update_last(&sum, &nonzero, &first, w, offset, g, count, k, inv_sqrt_dof);
    out->n_nonzero_sigma = nonzero;
    out->ratio_sum = sum;
    out->first_ratio = first;
    return bad;
}

/* Row r of a table holding a = seen observations, extended with k - a zeros
 * (sigeo__welford_virtual with its factors hoisted out of the row): mean|g|
 * a/k, M2 root^2 + mean^2 a (k - a) / k. Adds the row's ratios and its count
 * of sigma != 0 to *sum and *nonzero, and the first ratio of the table to
 * *first. The row's reduction is the per-ISA kernel (welford_kernel.h,
 * WELFORD_ZICO_ROW: 8 lanes, the root and division on vectors); the
 * exact-compare guard as ZiCo's (a row touched in every batch with equal values, or an all-zero
 * row, has m2 == 0). */
static void table_row(double *sum, int64_t *nonzero, double *first, zico_row_kernel_t kernel,
                      const sigeo__welford_t *w, int64_t at, int64_t row_size, uint32_t seen, uint64_t k,
                      double inv_dof)
{
    const double a = (double)seen, n = (double)k, keep = a / n, cross = a * (n - a) / n;
    const float *mean_abs = w->mean_abs + at, *mean = w->mean + at, *root_m2 = w->root_m2 + at;
    double row_sum;
    int64_t row_nonzero;
    kernel(&row_sum, &row_nonzero, mean_abs, mean, root_m2, row_size, keep, cross, inv_dof);
    if (*nonzero == 0 && row_nonzero > 0)
        for (int64_t e = 0; e < row_size; e++) {
            const double mu = (double)mean[e], rt = (double)root_m2[e];
            const double m2 = rt * rt + mu * mu * cross;
            if (m2 != 0.0) {
                *first = ((double)mean_abs[e] * keep) / sqrt(m2 * inv_dof);
                break;
            }
        }
    *sum += row_sum;
    *nonzero += row_nonzero;
}

void sigeo__zico_table(sigeo__zico_block_t *out, const sigeo__welford_t *w, int64_t offset, int64_t rows,
                       int64_t row_size, int64_t row_stride, const uint32_t *seen, const uint64_t *touched, uint64_t k,
                       uint32_t ddof)
{
    const double inv_dof = 1.0 / (double)(k - ddof);
    double sum = 0.0, first = 0.0;
    int64_t nonzero = 0;
    /* The touched rows are scattered over a state far larger than the
     * caches (DLRM: 2 k of 100 k rows per table, 19 MB each): a row costs
     * three cache misses, and walked one by one they are paid in sequence
     * (most of this loop's time in a profile). So the rows are taken in
     * groups whose lines are all requested (prefetched) before the first is
     * used. */
    const zico_row_kernel_t kernel = sigeo__zico_row_pick();
    enum { GROUP = 32 };
    int64_t group[GROUP];
    int64_t next = sigeo__next_row(touched, rows, 0);
    while (next < rows) {
        int g = 0;
        for (; g < GROUP && next < rows; g++, next = sigeo__next_row(touched, rows, next + 1)) {
            group[g] = next;
            __builtin_prefetch(seen + next); /* 400 kB per DLRM table: a miss too */
            const int64_t at = offset + next * row_stride;
            for (int64_t e = 0; e < row_size; e += 16) {
                __builtin_prefetch(w->mean_abs + at + e);
                __builtin_prefetch(w->mean + at + e);
                __builtin_prefetch(w->root_m2 + at + e);
            }
        }
        for (int i = 0; i < g; i++)
            table_row(&sum, &nonzero, &first, kernel, w, offset + group[i] * row_stride, row_size, seen[group[i]], k,
                      inv_dof);
    }
    out->n_nonzero_sigma = nonzero;
    out->ratio_sum = sum;
    out->first_ratio = first;
}
