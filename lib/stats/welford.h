/* Per-parameter running statistics over k batch gradients: mean |g|, and the
 * Welford mean and M2 of g. Stored as floats (3 per parameter: the update
 * is memory-bound, and float halves its bytes), updated in float arithmetic
 * (welford_kernel.h says why; the loss against double is bounded in
 * tests/stats/test_welford.c). Embedding tables keep theirs in a compact
 * store of the touched rows (welford_table.h). */
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
 * (n >= 1) of the block starting at `offset`, on `team` OpenMP threads
 * (sigeo__context_team of sigeo__welford_work(count)). The result does not
 * depend on `team`: every element is updated on its own. Returns 1 if some
 * g[j] is an infinity or a NaN (the block's state is then garbage: the
 * fused path, which validates this way, breaks the handle), else 0.
 * After the FIRST observation only the mean is stored: mean |g| (= |mean|)
 * and root M2 (= 0) are implicit, and the second observation's update
 * (WELFORD_SECOND) writes them without reading them; a reader of a block
 * holding one observation calls sigeo__welford_materialize_first first.
 * The first batch of a candidate thus moves a third of the bytes. */
uint32_t sigeo__welford_update(sigeo__welford_t *w, int64_t offset, const float *g, int64_t count, uint64_t n,
                               int team);

/* The update loop proper, one copy per instruction set (welford_kernel.h);
 * every copy gives bit for bit the same results. */
typedef uint32_t (*welford_kernel_t)(float *restrict mean_abs, float *restrict mean, float *restrict root_m2,
                                     const float *restrict g, int64_t count, float inv_n, int team);
typedef enum sigeo__welford_isa { SIGEO__WELFORD_BASE, SIGEO__WELFORD_AVX2, SIGEO__WELFORD_AVX512 } sigeo__welford_isa_t;

/* The kernel for `isa`, or NULL when this build or CPU lacks it (tests
 * compare them; sigeo__welford_update uses the widest available). */
welford_kernel_t sigeo__welford_kernel(sigeo__welford_isa_t isa);
/* The widest kernel this CPU runs (up to the build's max_isa), chosen on the
 * first call and kept. */
welford_kernel_t sigeo__welford_widest(void);
/* The second observation's kernel (welford_kernel.h, WELFORD_SECOND) per
 * ISA, called with inv_n = 0.5f: bit for bit the kernel's result on the
 * materialised first observation. */
welford_kernel_t sigeo__welford_second_kernel(sigeo__welford_isa_t isa);
/* Stores a one-observation block's implicit mean |g| and root M2. */
void sigeo__welford_materialize_first(sigeo__welford_t *w, int64_t offset, int64_t count);

/* ZiCo's block reduction (welford_kernel.h, WELFORD_ZICO), per ISA as the
 * update; sigeo__zico_reduce runs the widest the CPU has (up to max_isa). Every copy gives
 * bit for bit the same sum and count. A block longer than SIGEO__ZICO_SPAN
 * elements is reduced span by span and the spans' sums added in order
 * (welford.c): the same for every path that reduces a block (the last
 * batch's fold, the staged replay), whatever the thread count. */
#define SIGEO__ZICO_SPAN ((int64_t)1 << 16)
typedef void (*zico_kernel_t)(double *sum_out, int64_t *nonzero_out, const float *restrict mean_abs,
                              const float *restrict root_m2, int64_t count, double inv_sqrt_dof);
zico_kernel_t sigeo__zico_kernel(sigeo__welford_isa_t isa);
void sigeo__zico_reduce(double *sum_out, int64_t *nonzero_out, const float *mean_abs, const float *root_m2,
                        int64_t count, double inv_sqrt_dof);
/* The same for one table row extended with zeros (WELFORD_ZICO_ROW); _pick
 * returns the widest copy the CPU runs (up to max_isa; chosen once). */
typedef void (*zico_row_kernel_t)(double *sum_out, int64_t *nonzero_out, const float *restrict mean_abs,
                                  const float *restrict mean, const float *restrict root_m2, int64_t count,
                                  double keep, double cross, double inv_dof);
zico_row_kernel_t sigeo__zico_row_kernel(sigeo__welford_isa_t isa);
zico_row_kernel_t sigeo__zico_row_pick(void);

/* The last batch n (n >= 2) of a plain block folded into ZiCo's block
 * reduction without storing mean |g| and root M2 (welford_kernel.h,
 * WELFORD_LAST; only the mean is updated): the sum and count of
 * sigeo__zico_reduce over the state the update would have left, bit for bit,
 * and the first ratio. Afterwards the block's mean |g| and root M2 are stale
 * (stats.c seals the handle). One thread; _kernel per ISA as the others.
 * Returns 1 if some g[j] is not finite, as sigeo__welford_update. */
typedef uint32_t (*welford_last_kernel_t)(double *sum_out, int64_t *nonzero_out, double *first_out,
                                          const float *restrict mean_abs, float *restrict mean,
                                          const float *restrict root_m2, const float *restrict g, int64_t count,
                                          float inv_n, double inv_sqrt_dof);
welford_last_kernel_t sigeo__welford_last_kernel(sigeo__welford_isa_t isa);
uint32_t sigeo__welford_update_last(double *sum_out, int64_t *nonzero_out, double *first_out, sigeo__welford_t *w,
                                    int64_t offset, const float *g, int64_t count, uint64_t n, double inv_sqrt_dof);

/* Staged batches (the fused path with k = 2..4 batches declared up front,
 * stats.c): a plain block's first k - 1 gradients are only stored, g1 in
 * mean, g2 in mean_abs, g3 in root_m2 (sigeo__welford_stage, batch n into
 * its array; 1 if a value is not finite), and the last batch replays all k
 * in registers and folds them into ZiCo's reduction (sigeo__welford_replay,
 * WELFORD_REPLAY): the sum, count and first ratio of sigeo__zico_reduce over
 * the state the k updates would have left, bit for bit, and that state's
 * mean stored in mean (mean |g| and root M2 are then g2 and g3: stale, as
 * after sigeo__welford_update_last). Each batch moves 8 bytes per element
 * (read g, write one array) instead of up to 28, and the last 16 to 20
 * instead of 36 (update, then the reduction): the statistics of a block
 * larger than the caches are bound by those bytes (bench/README.md). The
 * replay runs on `team` threads, span by span. */
typedef uint32_t (*welford_replay_kernel_t)(double *sum_out, int64_t *nonzero_out, double *first_out,
                                            float *restrict mean, const float *restrict g2,
                                            const float *restrict g3, const float *restrict g, int64_t count, int k,
                                            double inv_sqrt_dof);
welford_replay_kernel_t sigeo__welford_replay_kernel(sigeo__welford_isa_t isa);
uint32_t sigeo__welford_stage(sigeo__welford_t *w, int64_t offset, const float *g, int64_t count, uint64_t n);
uint32_t sigeo__welford_replay(double *sum_out, int64_t *nonzero_out, double *first_out, sigeo__welford_t *w,
                               int64_t offset, const float *g, int64_t count, uint64_t k, double inv_sqrt_dof,
                               int team);

/* The work of one update of `count` elements for the thread policy: a
 * memory-bound pass, 16 per element (sigeo.h, sigeo_thread_policy_t). */
static inline double sigeo__welford_work(int64_t count)
{
    return 16.0 * (double)count;
}

/* Merges the zero observations a table row missed into its block
 * [offset, offset+count): the block holds `from` observations and will hold
 * `to` (to >= from) — Chan's merge with a block of to - from zeros (mean 0,
 * M2 0). A block with from == 0 is reset to zeros (it may hold a previous
 * candidate's values). */
void sigeo__welford_catch_up(sigeo__welford_t *w, int64_t offset, int64_t count, uint64_t from, uint64_t to);

/* The same merge without storing it: the statistics of element j of a
 * block holding `from` observations, extended with zeros to `to`. */
static inline void sigeo__welford_virtual(double *mean_abs, double *mean, double *m2, const sigeo__welford_t *w,
                                          int64_t j, uint64_t from, uint64_t to)
{
    const double a = (double)from, n = (double)to, mu = (double)w->mean[j], r = (double)w->root_m2[j];
    *mean_abs = (double)w->mean_abs[j] * a / n;
    *mean = mu * a / n;
    *m2 = r * r + mu * mu * a * (n - a) / n;
}

#endif
