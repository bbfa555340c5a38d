/* A line chart in SVG for the example programs (e.g. search progress:
 * best and median population score per cycle).
 *
 * The file is written atomically (output.h); it has a viewBox (it scales),
 * a <title>, axis labels, a legend naming every series, and class names a
 * test can look for ("title", "x-label", "y-label", "legend"). An axis whose
 * values are all whole numbers (cycles, steps) gets whole-number ticks.
 * Non-finite points are left out (a series' line is broken there). */
#ifndef SIGEO_EXAMPLES_SVG_LINES_H
#define SIGEO_EXAMPLES_SVG_LINES_H

#include <stddef.h>

typedef struct svg_series {
    const char *name;   /* legend text */
    const double *x, *y;
    size_t n;
    const char *color;  /* "#rrggbb" */
} svg_series_t;

/* Writes the chart to `path` (replaced atomically). Returns 0, or -1 with
 * errno set (EINVAL: no series, or no finite point at all). */
int svg_write_lines(const char *path, const char *title, const char *x_label, const char *y_label,
                    const svg_series_t *series, size_t n_series);

#endif
