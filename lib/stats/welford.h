/* Per-parameter running statistics over k batch gradients: mean |g|, and the
 * Welford mean and M2 of g. Stored as floats (3 per parameter: embedding
 * tables make the parameter count large), updated in double arithmetic. */
#ifndef SIGEO_STATS_WELFORD_H
#define SIGEO_STATS_WELFORD_H

#include <stdint.h>

typedef struct sigeo__welford {
    float *mean_abs; /* running mean of |g_i| */
    float *mean;     /* running mean of g_i */
    float *root_m2;  /* sqrt of M2, the sum of squared deviations from the running mean:
                      * stored as its root so its range is the gradients' own (M2 itself
                      * would underflow below |g| ~ 1e-23 and overflow above ~ 1e19 in float) */
} sigeo__welford_t;

/* Folds batch gradient `g` (count elements) in as the n-th observation
 * (n >= 1) of the block starting at `offset`. */
void sigeo__welford_update(sigeo__welford_t *w, int64_t offset, const float *g, int64_t count, uint64_t n);

#endif
