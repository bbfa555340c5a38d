/* sigeo-rank's grouped bar chart: one panel per protocol, a group of bars
 * per proxy (one bar per warm-up level) with 95 % interval whiskers; the
 * ensembles' groups follow the proxies', after a dashed separator. */
#ifndef SIGEO_RANK_PLOT_H
#define SIGEO_RANK_PLOT_H

#include <stddef.h>

typedef struct rank_bars {
    const char *title;          /* panel title */
    size_t n_groups, n_bars;    /* proxies, levels */
    const char *const *groups;  /* [n_groups] proxy names */
    const char *const *bars;    /* [n_bars] legend entries (levels) */
    const double *value;        /* [n_groups * n_bars], NaN = no bar */
    const double *lo, *hi;      /* [n_groups * n_bars] interval, NaN = none */
    size_t first_ensemble;      /* groups from this one on are ensembles (n_groups: none) */
} rank_bars_t;

/* Writes the panels stacked vertically to `path` (atomically: a temporary
 * file, then rename). y axis: -1 .. 1. Returns 0, or -1 with errno set. */
int rank_plot_bars(const char *path, const char *title, const char *y_label, const rank_bars_t *panels,
                   size_t n_panels);

#endif
