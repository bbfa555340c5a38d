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

/* The handle's message buffer, for the public calls of lib/stats that live
 * outside stats.c (flat_batch.c). `stats` must not be NULL. */
sigeo__errbuf_t *sigeo__stats_errbuf(sigeo_stats_t *stats);

#endif
