/*
 * SVG scatter plots for the example programs, written without any plotting
 * library: a figure is a grid of panels, each a scatter of (x, y) points
 * with a framed plot area, grid lines, ticks and tick labels on both axes
 * (linear "nice" 1-2-5 steps, or decades on a log axis), axis labels and a
 * panel title; points may be coloured by a value through a sequential
 * colour scale (dark blue -> green -> yellow), explained by a colour bar at
 * the right of the figure. The output is plain SVG 1.1 that browsers,
 * rsvg-convert and Inkscape render alike.
 *
 *   svg_panel_t p = { .title = "10 % warm-up", .x_label = "FR", .y_label = "test loss",
 *                     .x = xs, .y = ys, .color = hs, .n = 72, .x_scale = SVG_SCALE_AUTO };
 *   svg_figure_t fig = { .title = "...", .columns = 4, .color_label = "hidden width h",
 *                        .color_min = 2, .color_max = 48 };
 *   if (svg_write_scatter_grid("plot.svg", &fig, &p, 1) != 0) perror("plot.svg");
 *
 * The file is written atomically (output.h) and carries a viewBox (it
 * scales), a <title>, and class names a test can look for: "title",
 * "x-label", "y-label", "legend". An axis whose values are all whole
 * numbers gets whole-number ticks.
 *
 * Points with a non-finite coordinate (or a non-positive one on a log axis)
 * are left out; the panel then says how many in its corner.
 */
#ifndef SIGEO_EXAMPLES_SVG_H
#define SIGEO_EXAMPLES_SVG_H

#include <stddef.h>
#include <stdio.h>

typedef enum svg_scale {
    SVG_SCALE_AUTO = 0,   /* log if every value is > 0 and max/min >= 20, else linear */
    SVG_SCALE_LINEAR = 1,
    SVG_SCALE_LOG = 2
} svg_scale_t;

typedef struct svg_panel {
    const char *title;     /* may be NULL */
    const char *subtitle;  /* second title line in a smaller font, may be NULL */
    const char *x_label;
    const char *y_label;
    const double *x, *y;   /* n points, borrowed for the call */
    const double *color;   /* n colour values (mapped by the figure's scale), or NULL: one colour */
    size_t n;
    int x_scale, y_scale;  /* svg_scale_t */
} svg_panel_t;

typedef struct svg_figure {
    const char *title;        /* may be NULL */
    const char *note;         /* a line under the title, may be NULL */
    int columns;              /* panels per row (<= 0: all in one row) */
    double panel_width;       /* outer size of a panel in px (<= 0: 330 x 270) */
    double panel_height;
    const char *color_label;  /* label of the colour bar; NULL = no colour bar */
    double color_min, color_max;
    /* Added after the first release of this header (zero-initialised
     * figures keep their meaning): */
    int color_integer;        /* 1: the colour values are whole numbers (integer colour-bar ticks) */
    const char *point_label;  /* without a colour bar: legend text for a point, NULL = no legend */
} svg_figure_t;

/* Writes the figure to `path` (replaced atomically). Returns 0, or -1 with errno set
 * (errno EINVAL for a NULL argument or an empty grid). */
int svg_write_scatter_grid(const char *path, const svg_figure_t *fig, const svg_panel_t *panels, size_t n_panels);

/* Writes s with XML's special characters escaped (for SVG text and
 * attributes); NULL writes nothing. Shared by the plot writers. */
void svg_xml_text(FILE *f, const char *s);

/* The figure's colour for value t in [0, 1] (clamped) as "#rrggbb" in out[8]. */
void svg_color(char out[8], double t);

#endif
