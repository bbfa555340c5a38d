/* SVG scatter-plot grids (see svg.h). */
#include "svg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "output.h"

/* Layout of one panel, in px from its top-left corner. */
#define PANEL_W 330.0
#define PANEL_H 270.0
#define MARGIN_L 66.0
#define MARGIN_R 14.0
#define MARGIN_B 44.0
#define TITLE_LINE 16.0
#define MAX_TICKS 40

typedef struct axis {
    int log;              /* values are log10 of the data */
    double lo, hi;        /* drawn range (log10 units when log) */
    int n_ticks;
    double ticks[MAX_TICKS];       /* positions (log10 units when log) */
    char labels[MAX_TICKS][24];    /* "" = no label; "^k" = 10 to the power k */
    int n_minor;
    double minor[MAX_TICKS * 4];
} axis_t;

void svg_xml_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

void svg_color(char out[8], double t)
{
    /* Sequential scale: dark blue, teal, green, yellow (light = large). */
    static const double stops[4][4] = {
        { 0.00, 40, 50, 140 },
        { 0.38, 30, 136, 142 },
        { 0.72, 100, 196, 90 },
        { 1.00, 240, 218, 40 },
    };
    if (!(t >= 0.0))
        t = 0.0;
    if (t > 1.0)
        t = 1.0;
    int k = 0;
    while (k < 2 && t > stops[k + 1][0])
        k++;
    double u = (t - stops[k][0]) / (stops[k + 1][0] - stops[k][0]);
    int rgb[3];
    for (int c = 0; c < 3; c++)
        rgb[c] = (int)lround(stops[k][c + 1] + u * (stops[k + 1][c + 1] - stops[k][c + 1]));
    snprintf(out, 8, "#%02x%02x%02x", rgb[0] & 0xff, rgb[1] & 0xff, rgb[2] & 0xff);
}

/* A 1-2-5 step giving about `want` intervals over `span`. */
static double nice_step(double span, double want)
{
    double raw = span / want;
    double mag = pow(10.0, floor(log10(raw)));
    double m = raw / mag;
    return (m < 1.5 ? 1.0 : m < 3.0 ? 2.0 : m < 7.0 ? 5.0 : 10.0) * mag;
}

static void format_linear(char *out, size_t size, double v, double step)
{
    if (fabs(v) < step * 1e-9)
        v = 0.0;
    double big = fabs(v) > fabs(step) ? fabs(v) : fabs(step);
    if (big >= 1e5 || step < 1e-4) {
        snprintf(out, size, "%.3g", v);
        return;
    }
    int decimals = step >= 1.0 ? 0 : (int)ceil(-log10(step) - 1e-9);
    snprintf(out, size, "%.*f", decimals, v);
}

/* Chooses the scale, range and ticks of one axis from the data. */
static void axis_make(axis_t *a, const double *v, size_t n, int scale)
{
    double mn = INFINITY, mx = -INFINITY, pos_mn = INFINITY;
    int all_pos = 1, any = 0, integral = 1;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i]))
            continue;
        any = 1;
        if (v[i] != floor(v[i]))
            integral = 0;
        if (v[i] < mn)
            mn = v[i];
        if (v[i] > mx)
            mx = v[i];
        if (v[i] > 0 && v[i] < pos_mn)
            pos_mn = v[i];
        if (v[i] <= 0)
            all_pos = 0;
    }
    if (!any) {
        mn = 0.0;
        mx = 1.0;
        pos_mn = 1.0;
    }
    if (scale == SVG_SCALE_AUTO)
        scale = any && all_pos && mx / mn >= 20.0 ? SVG_SCALE_LOG : SVG_SCALE_LINEAR;
    a->log = scale == SVG_SCALE_LOG && isfinite(pos_mn);
    a->n_ticks = 0;
    a->n_minor = 0;
    if (a->log) {
        double lo = log10(pos_mn), hi = log10(mx > 0 ? mx : pos_mn);
        double pad = hi > lo ? 0.05 * (hi - lo) : 0.15;
        a->lo = lo - pad;
        a->hi = hi + pad;
        int d0 = (int)ceil(a->lo - 1e-12), d1 = (int)floor(a->hi + 1e-12);
        int every = d1 - d0 > 8 ? 2 : 1;
        for (int d = d0; d <= d1 && a->n_ticks < MAX_TICKS; d++) {
            a->ticks[a->n_ticks] = d;
            if ((d - d0) % every == 0)
                snprintf(a->labels[a->n_ticks], sizeof a->labels[0], "^%d", d);
            else
                a->labels[a->n_ticks][0] = '\0';
            a->n_ticks++;
        }
        /* Minor ticks at 2..9 x 10^d; labelled at 2 and 5 when fewer than two decades show. */
        int few = a->n_ticks < 2;
        for (int d = (int)floor(a->lo) - 1; d <= (int)ceil(a->hi); d++) {
            for (int m = 2; m <= 9; m++) {
                double p = d + log10((double)m);
                if (p < a->lo || p > a->hi)
                    continue;
                if (few && (m == 2 || m == 5) && a->n_ticks < MAX_TICKS) {
                    a->ticks[a->n_ticks] = p;
                    snprintf(a->labels[a->n_ticks], sizeof a->labels[0], "%g", (double)m * pow(10.0, d));
                    a->n_ticks++;
                } else if (a->n_minor < MAX_TICKS * 4) {
                    a->minor[a->n_minor++] = p;
                }
            }
        }
        return;
    }
    if (!(mx > mn)) {
        double w = mn != 0.0 ? fabs(mn) * 0.1 : 1.0;
        mn -= w;
        mx += w;
    }
    double pad = 0.05 * (mx - mn);
    a->lo = mn - pad;
    a->hi = mx + pad;
    double step = nice_step(a->hi - a->lo, 5.0);
    /* Counts, widths, cycles: an axis of whole numbers gets whole-number ticks. */
    if (any && integral && step < 1.0)
        step = 1.0;
    for (double t = ceil(a->lo / step) * step; t <= a->hi + step * 1e-9 && a->n_ticks < MAX_TICKS; t += step) {
        a->ticks[a->n_ticks] = t;
        format_linear(a->labels[a->n_ticks], sizeof a->labels[0], t, step);
        a->n_ticks++;
    }
}

static double axis_value(const axis_t *a, double v, int *ok)
{
    if (!isfinite(v) || (a->log && v <= 0)) {
        *ok = 0;
        return 0.0;
    }
    *ok = 1;
    return a->log ? log10(v) : v;
}

/* A tick label; "^k" becomes 10 with a superscript k. */
static void tick_label(FILE *f, double x, double y, const char *anchor, const char *label)
{
    fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"%s\" font-size=\"10.5\">", x, y, anchor);
    if (label[0] == '^')
        fprintf(f, "10<tspan dy=\"-4\" font-size=\"8\">%s</tspan>", label + 1);
    else
        svg_xml_text(f, label);
    fputs("</text>\n", f);
}

static void draw_panel(FILE *f, const svg_figure_t *fig, const svg_panel_t *p, double ox, double oy, double pw,
                       double ph)
{
    double c_lo = fig->color_min, c_span = fig->color_max - fig->color_min;
    if (!(c_span > 0))
        c_span = 1.0;
    axis_t ax, ay;
    axis_make(&ax, p->x, p->n, p->x_scale);
    axis_make(&ay, p->y, p->n, p->y_scale);
    double top = 10.0 + TITLE_LINE * ((p->title ? 1 : 0) + (p->subtitle ? 1 : 0)) + 6.0;
    double x0 = ox + MARGIN_L, x1 = ox + pw - MARGIN_R;
    double y0 = oy + top, y1 = oy + ph - MARGIN_B;
#define SX(v) (x0 + ((v) - ax.lo) / (ax.hi - ax.lo) * (x1 - x0))
#define SY(v) (y1 - ((v) - ay.lo) / (ay.hi - ay.lo) * (y1 - y0))
    double line = oy + 10.0 + 12.0;
    if (p->title) {
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">",
                (x0 + x1) / 2, line);
        svg_xml_text(f, p->title);
        fputs("</text>\n", f);
        line += TITLE_LINE;
    }
    if (p->subtitle) {
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"11\" fill=\"#333\">",
                (x0 + x1) / 2, line - 2.0);
        svg_xml_text(f, p->subtitle);
        fputs("</text>\n", f);
    }
    fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#fcfcfc\" stroke=\"none\"/>\n", x0,
            y0, x1 - x0, y1 - y0);
    /* grid, ticks and labels */
    for (int i = 0; i < ax.n_ticks; i++) {
        double X = SX(ax.ticks[i]);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#e2e2e2\"/>\n", X, y0, X, y1);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#333\"/>\n", X, y1, X, y1 + 5);
        if (ax.labels[i][0])
            tick_label(f, X, y1 + 17, "middle", ax.labels[i]);
    }
    for (int i = 0; i < ax.n_minor; i++) {
        double X = SX(ax.minor[i]);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#555\"/>\n", X, y1, X, y1 + 3);
    }
    for (int i = 0; i < ay.n_ticks; i++) {
        double Y = SY(ay.ticks[i]);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#e2e2e2\"/>\n", x0, Y, x1, Y);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#333\"/>\n", x0 - 5, Y, x0, Y);
        if (ay.labels[i][0])
            tick_label(f, x0 - 8, Y + 3.5, "end", ay.labels[i]);
    }
    for (int i = 0; i < ay.n_minor; i++) {
        double Y = SY(ay.minor[i]);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#555\"/>\n", x0 - 3, Y, x0, Y);
    }
    /* points (clipped to the plot area by construction: ranges cover the data) */
    size_t hidden = 0;
    for (size_t i = 0; i < p->n; i++) {
        int okx, oky;
        double vx = axis_value(&ax, p->x[i], &okx), vy = axis_value(&ay, p->y[i], &oky);
        if (!okx || !oky) {
            hidden++;
            continue;
        }
        char col[8] = "#3050a0";
        if (p->color)
            svg_color(col, (p->color[i] - c_lo) / c_span);
        fprintf(f,
                "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3.4\" fill=\"%s\" fill-opacity=\"0.9\" stroke=\"#222\" "
                "stroke-width=\"0.5\"/>\n",
                SX(vx), SY(vy), col);
    }
    fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" stroke=\"#333\"/>\n", x0, y0,
            x1 - x0, y1 - y0);
    if (hidden)
        fprintf(f,
                "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\" font-size=\"9\" fill=\"#a00\">%zu point%s not "
                "shown (non-finite%s)</text>\n",
                x1 - 4, y0 + 11, hidden, hidden == 1 ? "" : "s", ax.log || ay.log ? " or <= 0 on a log axis" : "");
    /* axis labels */
    fprintf(f, "<text class=\"x-label\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"12\">", (x0 + x1) / 2,
            y1 + 34);
    svg_xml_text(f, p->x_label);
    if (ax.log)
        fputs(" (log scale)", f);
    fputs("</text>\n", f);
    double yl = ox + 16, ym = (y0 + y1) / 2;
    fprintf(f,
            "<text class=\"y-label\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"12\" "
            "transform=\"rotate(-90 %.2f %.2f)\">",
            yl, ym, yl, ym);
    svg_xml_text(f, p->y_label);
    if (ay.log)
        fputs(" (log scale)", f);
    fputs("</text>\n", f);
#undef SX
#undef SY
}

static void draw_color_bar(FILE *f, const svg_figure_t *fig, double x, double y, double h)
{
    const double w = 16.0;
    fputs("<g class=\"legend\">\n<defs><linearGradient id=\"cbar\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">\n", f);
    for (int i = 0; i <= 10; i++) {
        char col[8];
        svg_color(col, i / 10.0);
        fprintf(f, "<stop offset=\"%.2f\" stop-color=\"%s\"/>\n", i / 10.0, col);
    }
    fputs("</linearGradient></defs>\n", f);
    fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"url(#cbar)\" stroke=\"#333\"/>\n", x, y,
            w, h);
    double lo = fig->color_min, hi = fig->color_max;
    if (!(hi > lo))
        hi = lo + 1.0;
    double step = nice_step(hi - lo, 5.0);
    if (fig->color_integer && step < 1.0)
        step = 1.0;
    for (double t = ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
        double Y = y + h - (t - lo) / (hi - lo) * h;
        char label[24];
        format_linear(label, sizeof label, t, step);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#333\"/>\n", x + w, Y, x + w + 4, Y);
        tick_label(f, x + w + 7, Y + 3.5, "start", label);
    }
    double lx = x + w + 42, ly = y + h / 2;
    fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 %.2f %.2f)\">",
            lx, ly, lx, ly);
    svg_xml_text(f, fig->color_label);
    fputs("</text>\n</g>\n", f);
}

/* Without a colour bar: one marker and what a point is. */
static void draw_point_legend(FILE *f, const char *label, double x, double y)
{
    fprintf(f, "<g class=\"legend\"><circle cx=\"%.2f\" cy=\"%.2f\" r=\"3.4\" fill=\"#3050a0\" stroke=\"#222\" "
               "stroke-width=\"0.5\"/><text x=\"%.2f\" y=\"%.2f\" font-size=\"11\">",
            x, y, x + 8, y + 4);
    svg_xml_text(f, label);
    fputs("</text></g>\n", f);
}

int svg_write_scatter_grid(const char *path, const svg_figure_t *fig, const svg_panel_t *panels, size_t n_panels)
{
    if (!path || !fig || !panels || n_panels == 0) {
        errno = EINVAL;
        return -1;
    }
    double pw = fig->panel_width > 0 ? fig->panel_width : PANEL_W;
    double ph = fig->panel_height > 0 ? fig->panel_height : PANEL_H;
    size_t cols = fig->columns > 0 ? (size_t)fig->columns : n_panels;
    if (cols > n_panels)
        cols = n_panels;
    size_t rows = (n_panels + cols - 1) / cols;
    double head = 12.0 + (fig->title ? 24.0 : 0.0) + (fig->note ? 18.0 : 0.0);
    double bar = fig->color_label ? 90.0 : 0.0;
    double legend = !fig->color_label && fig->point_label ? 18.0 : 0.0;
    double width = cols * pw + bar + 10.0, height = head + rows * ph + 8.0 + legend;
    /* Titles are one line: widen the figure rather than cut them (average
     * glyph widths of the two fonts, generously rounded). */
    double need_title = fig->title ? 10.5 * (double)strlen(fig->title) + 40.0 : 0.0;
    double need_note = fig->note ? 6.9 * (double)strlen(fig->note) + 40.0 : 0.0;
    if (width < need_title)
        width = need_title;
    if (width < need_note)
        width = need_note;
    output_file_t out;
    FILE *f = output_open(&out, path);
    if (!f)
        return -1;
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" preserveAspectRatio=\"xMidYMid meet\" "
            "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n",
            width, height, width, height);
    /* <title>: the name a browser tab, a screen reader or a file manager shows. */
    fputs("<title>", f);
    svg_xml_text(f, fig->title ? fig->title : path);
    fputs("</title>\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n", f);
    double y = 12.0;
    if (fig->title) {
        y += 18.0;
        fprintf(f,
                "<text class=\"title\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"17\" "
                "font-weight=\"bold\">",
                width / 2, y);
        svg_xml_text(f, fig->title);
        fputs("</text>\n", f);
        y += 6.0;
    }
    if (fig->note) {
        y += 14.0;
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"12\" fill=\"#444\">", width / 2, y);
        svg_xml_text(f, fig->note);
        fputs("</text>\n", f);
    }
    for (size_t i = 0; i < n_panels; i++)
        draw_panel(f, fig, &panels[i], (double)(i % cols) * pw, head + (double)(i / cols) * ph, pw, ph);
    if (fig->color_label) {
        double bh = rows * ph - 80.0;
        if (bh > 260.0)
            bh = 260.0;
        if (bh < 80.0)
            bh = 80.0;
        draw_color_bar(f, fig, cols * pw + 14.0, head + 40.0, bh);
    } else if (fig->point_label) {
        draw_point_legend(f, fig->point_label, 14.0, height - 10.0);
    }
    fputs("</svg>\n", f);
    if (ferror(f)) {
        output_abort(&out);
        errno = EIO;
        return -1;
    }
    return output_commit(&out);
}
