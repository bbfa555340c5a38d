/* What other layers of the library may do to a statistics handle beyond
 * the public API. */
#ifndef SIGEO_STATS_INTERNAL_H
#define SIGEO_STATS_INTERNAL_H

#include "core/core.h"
#include "sigeo/stats.h"

/* Resets the handle and switches it to `options`, keeping its modules and
 * its accumulators: a proxy that alternates SiGeo, ZiCo and Fisher-Rao on
 * the same model re-allocates nothing (for a DLRM-sized model that is half a
 * gigabyte per switch). Errors: those of sigeo_stats_create's option checks;
 * the handle is unchanged on error. */
sigeo_status_t sigeo__stats_retune(sigeo_stats_t *stats, const sigeo_stats_options_t *options);

/* Average ranks (1-based, ascending, ties share the mean of their ranks) of
 * v[0..n) into rank[]; scratch holds n entries (rank.c). */
typedef struct sigeo__keyed {
    double value;
    int64_t index;
} sigeo__keyed_t;
void sigeo__average_ranks(double *rank, const double *v, int64_t n, sigeo__keyed_t *scratch);

/* Fused batches: the statistics of one batch handed in module by module, as
 * a backward pass produces each layer's gradient (while it is in cache),
 * instead of one sigeo_stats_add_batch over all gradients afterwards. The
 * updates are the very ones add_batch makes (bit for bit the same state);
 * what differs is validation: a module's gradient is checked when it comes,
 * so a failure leaves the earlier modules of that batch folded in. The
 * handle is then "broken" (add_batch and compute refuse, naming it) until
 * sigeo_stats_reset. begin: the checks of add_batch before any module, and
 * the accumulators allocated. module: each registered module exactly once
 * per batch (grad is the whole table for a table module, rows/n_rows its
 * touched rows, NULL = every row). end: the batch's scalars (batch_size,
 * loss, directional; the gradient fields of `b` are ignored) and the count.
 * fuse_wanted: false when the handle keeps no per-parameter statistics
 * (then fuse_module only records the module, and add_batch is as cheap). */
sigeo_status_t sigeo__stats_fuse_begin(sigeo_stats_t *stats, int64_t batch_size);
sigeo_status_t sigeo__stats_fuse_module(sigeo_stats_t *stats, int32_t module, const float *grad, const int64_t *rows,
                                        int64_t n_rows);
sigeo_status_t sigeo__stats_fuse_end(sigeo_stats_t *stats, const sigeo_stats_batch_t *b);
bool sigeo__stats_fuse_wanted(const sigeo_stats_t *stats);
/* Declares the open fused batch the last one before sigeo_stats_compute:
 * its plain (non-table) modules are then folded straight into ZiCo's
 * reduction where they run on one thread (update and reduction in one pass
 * over the state, mean |g| and root M2 never stored: bit for bit the same
 * result). Once the batch ends, the handle is sealed: add_batch and
 * fuse_begin refuse until sigeo_stats_reset; compute (any number of times)
 * works. No effect outside a fused batch. */
void sigeo__stats_fuse_is_last(sigeo_stats_t *stats);
/* Declares, before the first fused batch of a fresh (reset) handle, that
 * exactly k fused batches will follow, the last declared with
 * fuse_is_last. With 2 <= k <= 4 (and k > std_ddof) the plain modules are
 * then staged (welford.h): batches 1..k-1 only store their gradients, the
 * last replays them into ZiCo's reduction — bit for bit the same result,
 * a fraction of the memory traffic. A fused batch that comes against the
 * plan (a k+1-th, or the k-th not declared last) fails and breaks the
 * handle. k = 0 cancels (the default after a reset). */
void sigeo__stats_fuse_plan(sigeo_stats_t *stats, uint64_t k);
/* Whether `module` was folded into the open fused batch. */
bool sigeo__stats_fuse_fed(const sigeo_stats_t *stats, int32_t module);

/* The caller will not call sigeo_stats_set_params (it fails if it does,
 * SIGEO_ERR_INTERNAL): then, with lambda1 = 0 and an EXACT or IDENTITY
 * estimator, the handle keeps no per-parameter statistics at all (no
 * accumulators allocated, gradients not read, ZiCo reported as with one
 * batch: 0 and SIGEO_STATS_NO_ZICO) — the Fisher-Rao-only path of the
 * proxy, whose score needs only d_n and the loss. Kept across reset and
 * retune; off by default (the public API's contract: every estimator the
 * data allows). */
void sigeo__stats_promise_no_theta(sigeo_stats_t *stats, bool on);

/* The handle's message buffer, for the public calls of lib/stats that live
 * outside stats.c (flat_batch.c). `stats` must not be NULL. */
sigeo__errbuf_t *sigeo__stats_errbuf(sigeo_stats_t *stats);

#endif
