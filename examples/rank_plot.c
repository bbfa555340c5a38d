/* Grouped bar chart in plain SVG 1.1 (see rank_plot.h); colours from the
 * shared scale of examples/common/svg.h. */
#include "rank_plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "output.h"
#include "svg.h"

static void text_escaped(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else
            fputc(*s, f);
    }
}

int rank_plot_bars(const char *path, const char *title, const char *y_label, const rank_bars_t *panels,
                   size_t n_panels)
{
    if (!path || !panels || n_panels == 0) {
        errno = EINVAL;
        return -1;
    }
    size_t groups = 1;
    for (size_t p = 0; p < n_panels; p++)
        if (panels[p].n_groups > groups)
            groups = panels[p].n_groups;
    /* room under a panel for its longest group label, rotated 60 degrees
     * (about 5.5 px a character at 10 px): ensemble names are long */
    size_t longest = 0;
    for (size_t p = 0; p < n_panels; p++)
        for (size_t g = 0; g < panels[p].n_groups; g++)
            if (panels[p].groups[g] && strlen(panels[p].groups[g]) > longest)
                longest = strlen(panels[p].groups[g]);
    const double left = 60, right = 150, top = 50, panel_h = 300, bar_w = 7, gap = 6;
    const double label_h = fmax(110.0, 5.5 * (double)longest * 0.87 + 24.0);
    const size_t bars = panels[0].n_bars ? panels[0].n_bars : 1;
    const double group_w = (double)bars * bar_w + gap;
    const double plot_w = (double)groups * group_w;
    /* wide enough for the title (about 8 px a character at 15 px) */
    const double width = fmax(left + plot_w + right, 8.0 * (double)strlen(title ? title : "") + 20);
    const double height = top + (double)n_panels * (panel_h + label_h) + 10;
    /* atomic (output.h): a reader or a kill sees the old plot or the new one */
    output_file_t out;
    FILE *f = output_open(&out, path);
    if (!f)
        return -1;
    /* a viewBox so the figure scales; the classes name its parts (tests/programs/check_svg_render.py) */
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
            "width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"11\">\n<title>",
            width, height, width, height);
    text_escaped(f, title);
    fputs("</title>\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n", f);
    fprintf(f, "<text class=\"title\" x=\"%.0f\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">", width / 2);
    text_escaped(f, title);
    fputs("</text>\n", f);
    for (size_t p = 0; p < n_panels; p++) {
        const rank_bars_t *P = &panels[p];
        const double y0 = top + (double)p * (panel_h + label_h);
        const double ymid = y0 + panel_h / 2; /* value 0 */
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"13\">", left, y0 - 6);
        text_escaped(f, P->title);
        fputs("</text>\n", f);
        for (int t = -4; t <= 4; t++) {
            const double v = t / 4.0, y = ymid - v * panel_h / 2;
            fprintf(f,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"%s\"/>\n"
                    "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n",
                    left, y, left + plot_w, y, t == 0 ? "#444" : "#ddd", t == 0 ? "1" : "0.7", left - 4, y + 4, v);
        }
        fprintf(f, "<text class=\"y-label\" transform=\"translate(%.0f,%.0f) rotate(-90)\" text-anchor=\"middle\">", left - 42, ymid);
        text_escaped(f, y_label);
        fputs("</text>\n", f);
        if (P->first_ensemble > 0 && P->first_ensemble < P->n_groups) {
            const double sx = left + (double)P->first_ensemble * group_w;
            fprintf(f,
                    "<line class=\"ensemble-separator\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                    "stroke=\"#888\" stroke-width=\"1\" stroke-dasharray=\"4,3\"/>\n"
                    "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#555\">ensembles</text>\n",
                    sx, y0, sx, y0 + panel_h, sx + 3, y0 + 10);
        }
        for (size_t g = 0; g < P->n_groups; g++) {
            const double gx = left + (double)g * group_w + gap / 2;
            for (size_t b = 0; b < P->n_bars; b++) {
                const double v = P->value[g * P->n_bars + b];
                char col[8];
                svg_color(col, P->n_bars > 1 ? (double)b / (double)(P->n_bars - 1) : 0.5);
                const double x = gx + (double)b * bar_w;
                if (isfinite(v)) {
                    const double vy = ymid - fmax(-1.0, fmin(1.0, v)) * panel_h / 2;
                    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n", x,
                            fmin(vy, ymid), bar_w - 1, fabs(vy - ymid), col);
                }
                const double lo = P->lo ? P->lo[g * P->n_bars + b] : NAN, hi = P->hi ? P->hi[g * P->n_bars + b] : NAN;
                if (isfinite(lo) && isfinite(hi))
                    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\" stroke-width=\"1\"/>\n",
                            x + (bar_w - 1) / 2, ymid - hi * panel_h / 2, x + (bar_w - 1) / 2, ymid - lo * panel_h / 2);
            }
            fprintf(f,
                    "<text class=\"%s\" transform=\"translate(%.1f,%.1f) rotate(-60)\" text-anchor=\"end\" "
                    "font-size=\"10\"%s>",
                    g >= P->first_ensemble ? "group ensemble" : "group", gx + group_w / 2, y0 + panel_h + 12,
                    g >= P->first_ensemble ? " font-style=\"italic\"" : "");
            text_escaped(f, P->groups[g]);
            fputs("</text>\n", f);
        }
        fprintf(f, "<text class=\"x-label\" x=\"%.0f\" y=\"%.0f\" text-anchor=\"start\">proxy</text>\n",
                left + plot_w + 14, y0 + panel_h + 14);
        for (size_t b = 0; b < P->n_bars; b++) {
            char col[8];
            svg_color(col, P->n_bars > 1 ? (double)b / (double)(P->n_bars - 1) : 0.5);
            const double ly = y0 + 14 + 16 * (double)b;
            fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"10\" height=\"10\" fill=\"%s\"/><text class=\"legend\" x=\"%.0f\" y=\"%.0f\">",
                    left + plot_w + 14, ly - 9, col, left + plot_w + 28, ly);
            text_escaped(f, P->bars[b]);
            fputs("</text>\n", f);
        }
    }
    fputs("</svg>\n", f);
    return output_commit(&out);
}
