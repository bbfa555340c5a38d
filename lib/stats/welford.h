/* Per-parameter running statistics over k batch gradients: mean |g|, and the
 * Welford mean and M2 of g. Stored as floats (3 per parameter: embedding
 * tables make the parameter count large), updated in double arithmetic. */
#ifndef SIGEO_STATS_WELFORD_H
#define SIGEO_STATS_WELFORD_H

#include <stdint.h>

typedef struct sigeo__welford {
    float *mean_abs; /* running mean of |g_i| */
    float *mean;     /* running mean of g_i */
    float *m2;       /* sum of squared deviations from the running mean */
} sigeo__welford_t;

/* Folds batch gradient `g` (count elements) in as the n-th observation
 * (n >= 1) of the block starting at `offset`. */
void sigeo__welford_update(sigeo__welford_t *w, int64_t offset, const float *g, int64_t count, uint64_t n);

#endif
