#include <math.h>

#include "stats/zico.h"

void sigeo__zico_block(sigeo__zico_block_t *out, const sigeo__welford_t *w, int64_t offset, int64_t count,
                       uint64_t k, uint32_t ddof)
{
    const float *mean_abs = w->mean_abs + offset;
    const float *root_m2 = w->root_m2 + offset;
    const double inv_sqrt_dof = 1.0 / sqrt((double)(k - ddof));
    /* ZiCo's guard is an exact compare: sigma == 0 means every batch gave
     * the same value, and the element carries no signal-to-noise ratio.
     * Branch-free so the reduction vectorises. */
    double sum = 0.0;
    int64_t nonzero = 0;
#pragma omp simd reduction(+ : sum, nonzero)
    for (int64_t j = 0; j < count; j++) {
        const double r = (double)root_m2[j];
        const int on = r != 0.0;
        sum += on ? (double)mean_abs[j] / ((on ? r : 1.0) * inv_sqrt_dof) : 0.0;
        nonzero += on;
    }
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

void sigeo__zico_table(sigeo__zico_block_t *out, const sigeo__welford_t *w, int64_t offset, int64_t rows,
                       int64_t row_size, const uint32_t *seen, uint64_t k, uint32_t ddof)
{
    const double inv_dof = 1.0 / (double)(k - ddof);
    double sum = 0.0, first = 0.0;
    int64_t nonzero = 0;
    for (int64_t r = 0; r < rows; r++) {
        if (seen[r] == 0)
            continue;
        for (int64_t e = 0; e < row_size; e++) {
            double mean_abs, mean, m2;
            sigeo__welford_virtual(&mean_abs, &mean, &m2, w, offset + r * row_size + e, seen[r], k);
            (void)mean;
            /* exact-compare guard as ZiCo: a row touched in every batch with
             * equal values, or catch-up of an all-zero row, has m2 == 0 */
            if (m2 == 0.0)
                continue;
            const double ratio = mean_abs / sqrt(m2 * inv_dof);
            if (nonzero == 0)
                first = ratio;
            sum += ratio;
            nonzero++;
        }
    }
    out->n_nonzero_sigma = nonzero;
    out->ratio_sum = sum;
    out->first_ratio = first;
}
