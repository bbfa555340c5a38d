/* The ZiCo term (docs/proxies.md §1.2, §2) from the Welford accumulators. */
#ifndef SIGEO_STATS_ZICO_H
#define SIGEO_STATS_ZICO_H

#include <stdint.h>

#include "stats/welford.h"
#include "stats/welford_table.h"

typedef struct sigeo__zico_block {
    int64_t n_nonzero_sigma; /* elements with sigma != 0 */
    double ratio_sum;        /* sum of mu_j / sigma_j over them */
    double first_ratio;      /* mu_j0 / sigma_j0 for the first such element (RecSys reference, D4) */
} sigeo__zico_block_t;

/* Reduces one module's block [offset, offset+count) after k observations;
 * sigma uses k - ddof in the denominator (k > ddof). */
void sigeo__zico_block(sigeo__zico_block_t *out, const sigeo__welford_t *w, int64_t offset, int64_t count,
                       uint64_t k, uint32_t ddof);

/* The same block's last observation n = k folded in and reduced in one
 * pass (sigeo__welford_update_last): *out is what sigeo__welford_update
 * followed by sigeo__zico_block would give, bit for bit, but the block's
 * mean |g| and root M2 are left stale (its mean is updated). k > ddof,
 * k >= 2. Returns 1 if some g[j] is not finite (as sigeo__welford_update). */
uint32_t sigeo__zico_fold_last(sigeo__zico_block_t *out, sigeo__welford_t *w, int64_t offset, const float *g,
                               int64_t count, uint64_t k, uint32_t ddof);

/* A staged block's last batch (welford.h, sigeo__welford_replay): *out is
 * what the k updates followed by sigeo__zico_block would give, bit for bit;
 * 2 <= k <= 4, k > ddof; on `team` threads. Returns 1 if some g[j] is not
 * finite. */
uint32_t sigeo__zico_fold_staged(sigeo__zico_block_t *out, sigeo__welford_t *w, int64_t offset, const float *g,
                                 int64_t count, uint64_t k, uint32_t ddof, int team);

/* The same for a table module (welford_table.h): every slot holding seen
 * observations, extended with zeros to k (rows without a slot are all zero
 * and contribute nothing). The sum and count are those of the dense
 * zero-filled block up to the order of the sum (slot order); the first
 * ratio is the dense walk's (the lowest row with sigma != 0). */
void sigeo__zico_table(sigeo__zico_block_t *out, const sigeo__welford_table_t *t, uint64_t k, uint32_t ddof);

#endif
