#include <math.h>

#include "stats/zico.h"

/* The block a reduction's sum, count and first ratio make. */
static void set_block(sigeo__zico_block_t *out, double sum, int64_t nonzero, double first)
{
    out->n_nonzero_sigma = nonzero;
    out->ratio_sum = sum;
    out->first_ratio = first;
}

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
    set_block(out, sum, nonzero, first);
}

uint32_t sigeo__zico_fold_last(sigeo__zico_block_t *out, sigeo__welford_t *w, int64_t offset, const float *g,
                               int64_t count, uint64_t k, uint32_t ddof)
{
    const double inv_sqrt_dof = 1.0 / sqrt((double)(k - ddof)); /* as sigeo__zico_block */
    double sum = 0.0, first = 0.0;
    int64_t nonzero = 0;
    const uint32_t bad = sigeo__welford_update_last(&sum, &nonzero, &first, w, offset, g, count, k, inv_sqrt_dof);
    set_block(out, sum, nonzero, first);
    return bad;
}

uint32_t sigeo__zico_fold_staged(sigeo__zico_block_t *out, sigeo__welford_t *w, int64_t offset, const float *g,
                                 int64_t count, uint64_t k, uint32_t ddof, int team)
{
    const double inv_sqrt_dof = 1.0 / sqrt((double)(k - ddof)); /* as sigeo__zico_block */
    double sum = 0.0, first = 0.0;
    int64_t nonzero = 0;
    const uint32_t bad = sigeo__welford_replay(&sum, &nonzero, &first, w, offset, g, count, k, inv_sqrt_dof, team);
    set_block(out, sum, nonzero, first);
    return bad;
}

/* The ratio of the first element with sigma != 0 of a table slot's row
 * (at: its mean |g|, mean, root M2), the row holding a observations
 * extended with k - a zeros: keep = a/k, cross = a (k - a) / k, so mean|g|
 * is mean_abs keep and M2 root^2 + mean^2 cross (sigeo__welford_virtual
 * with its factors hoisted out of the row); 0 if none. The exact-compare
 * guard as ZiCo's (a row touched in every batch with equal values, or an
 * all-zero row, has m2 == 0). */
static double first_ratio_of(const float *at, int64_t row_size, double keep, double cross, double inv_dof)
{
    const float *mean_abs = at, *mean = at + row_size, *root_m2 = at + 2 * row_size;
    for (int64_t e = 0; e < row_size; e++) {
        const double mu = (double)mean[e], rt = (double)root_m2[e];
        const double m2 = rt * rt + mu * mu * cross;
        if (m2 != 0.0)
            return ((double)mean_abs[e] * keep) / sqrt(m2 * inv_dof);
    }
    return 0.0;
}

void sigeo__zico_table(sigeo__zico_block_t *out, const sigeo__welford_table_t *t, uint64_t k, uint32_t ddof)
{
    const double inv_dof = 1.0 / (double)(k - ddof), n = (double)k;
    const int64_t d = t->row_size;
    double sum = 0.0;
    int64_t nonzero = 0, first_slot = -1;
    /* The slots in order: one sequential pass over the compact state (the
     * hardware prefetches it), each row's reduction the per-ISA kernel
     * (welford_kernel.h, WELFORD_ZICO_ROW: 8 lanes, root and division on
     * vectors). The sum runs in slot order (the rows' order
     * of first touch), a fixed order for given batches. The RecSys
     * reference's element is the first with sigma != 0 in the DENSE order,
     * so the lowest row with one is tracked and its ratio taken after. */
    const zico_row_kernel_t kernel = sigeo__zico_row_pick();
    for (int64_t s = 0; s < t->n_slots; s++) {
        const float *at = sigeo__welford_table_at(t, s);
        const double a = (double)t->seen[s], keep = a / n, cross = a * (n - a) / n;
        double row_sum;
        int64_t row_nonzero;
        kernel(&row_sum, &row_nonzero, at, at + d, at + 2 * d, d, keep, cross, inv_dof);
        sum += row_sum;
        nonzero += row_nonzero;
        if (row_nonzero > 0 && (first_slot < 0 || t->row_of[s] < t->row_of[first_slot]))
            first_slot = s;
    }
    double first = 0.0;
    if (first_slot >= 0) {
        const double a = (double)t->seen[first_slot];
        first = first_ratio_of(sigeo__welford_table_at(t, first_slot), d, a / n, a * (n - a) / n, inv_dof);
    }
    out->n_nonzero_sigma = nonzero;
    out->ratio_sum = sum;
    out->first_ratio = first;
}
