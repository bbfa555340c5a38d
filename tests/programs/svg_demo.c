/* Writes the two kinds of plot the programs make, for the browser check
 * (check_svg_render.py): DIR/lines.svg, a line chart of per-cycle scores
 * (sigeo-nas --plot), and DIR/grid.svg, a two-panel scatter grid without a
 * colour bar (point legend).  usage: programs_svg_demo DIR */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "svg.h"
#include "svg_lines.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: programs_svg_demo DIR\n");
        return 2;
    }
    char path[4096];
    double cycle[6], best[6], median[6];
    for (int i = 0; i < 6; i++) {
        cycle[i] = i;
        best[i] = 1.0 + 0.3 * i - 0.02 * i * i;
        median[i] = 0.5 + 0.25 * i;
    }
    svg_series_t s[2] = { { "best in population", cycle, best, 6, "#d62728" },
                          { "median", cycle, median, 6, "#1f77b4" } };
    snprintf(path, sizeof path, "%s/lines.svg", argv[1]);
    if (svg_write_lines(path, "Search progress", "cycle", "proxy score (higher is better)", s, 2) != 0) {
        fprintf(stderr, "programs_svg_demo: %s: %s\n", path, strerror(errno));
        return 1;
    }
    const double x[5] = { 1, 2, 3, 4, 5 }, y[5] = { 0.9, 0.7, 0.65, 0.5, 0.52 };
    svg_panel_t p[2] = { { 0 }, { 0 } };
    for (int i = 0; i < 2; i++) {
        p[i].title = i ? "after warm-up" : "at initialisation";
        p[i].x_label = "candidate rank";
        p[i].y_label = "validation loss";
        p[i].x = x;
        p[i].y = y;
        p[i].n = 5;
    }
    svg_figure_t fig = { 0 };
    fig.title = "Loss by rank";
    fig.point_label = "one candidate";
    snprintf(path, sizeof path, "%s/grid.svg", argv[1]);
    if (svg_write_scatter_grid(path, &fig, p, 2) != 0) {
        fprintf(stderr, "programs_svg_demo: %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}
