/* SVG line charts (see svg_lines.h). */
#include "svg_lines.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "output.h"
#include "svg.h"

/* A "nice" 1-2-5 tick step covering span with about n ticks; at least 1
 * on an axis of whole numbers. */
static double tick_step(double span, int n, int integral)
{
    double raw = span / n, p = pow(10.0, floor(log10(raw))), m = raw / p;
    double step = (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
    return integral && step < 1.0 ? 1.0 : step;
}

/* Tick text: as many decimals as the step needs, no "-0". */
static void tick_text(char *out, size_t size, double v, double step)
{
    if (fabs(v) < 1e-9 * step)
        v = 0.0;
    if (fabs(v) >= 1e6 || step < 1e-4) {
        snprintf(out, size, "%.4g", v);
        return;
    }
    int decimals = step >= 1.0 ? 0 : (int)ceil(-log10(step) - 1e-9);
    snprintf(out, size, "%.*f", decimals, v);
}

int svg_write_lines(const char *path, const char *title, const char *x_label, const char *y_label,
                    const svg_series_t *series, size_t n_series)
{
    if (!path || !series || n_series == 0) {
        errno = EINVAL;
        return -1;
    }
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    int x_integral = 1, y_integral = 1;
    for (size_t s = 0; s < n_series; s++)
        for (size_t i = 0; i < series[s].n; i++) {
            double x = series[s].x[i], y = series[s].y[i];
            if (!isfinite(x) || !isfinite(y))
                continue;
            x0 = fmin(x0, x);
            x1 = fmax(x1, x);
            y0 = fmin(y0, y);
            y1 = fmax(y1, y);
            x_integral &= x == floor(x);
            y_integral &= y == floor(y);
        }
    if (!(x1 >= x0) || !(y1 >= y0)) {
        errno = EINVAL;
        return -1;
    }
    if (x1 == x0)
        x1 = x0 + 1;
    if (y1 == y0) {
        y0 -= 0.5;
        y1 += 0.5;
    }
    const double pad = 0.05 * (y1 - y0);
    y0 -= pad;
    y1 += pad;
    output_file_t out;
    FILE *f = output_open(&out, path);
    if (!f)
        return -1;
    /* The legend sits right of the plot; its width follows the longest name. */
    size_t longest = 0;
    for (size_t s = 0; s < n_series; s++)
        if (series[s].name && strlen(series[s].name) > longest)
            longest = strlen(series[s].name);
    const double R = 60.0 + 7.0 * (double)(longest < 12 ? 12 : longest > 40 ? 40 : longest);
    const double W = 550 + R, H = 440, L = 80, T = 50, Bm = 60, pw = W - L - R, ph = H - T - Bm;
#define PX(v) (L + ((v) - x0) / (x1 - x0) * pw)
#define PY(v) (T + ph - ((v) - y0) / (y1 - y0) * ph)
    fprintf(f,
            /* no XML declaration: readers test for a leading "<svg" (UTF-8 is XML's default) */
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" preserveAspectRatio=\"xMidYMid meet\" "
            "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n<title>",
            W, H, W, H);
    svg_xml_text(f, title ? title : path);
    fputs("</title>\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n", f);
    fprintf(f, "<text class=\"title\" x=\"%.0f\" y=\"28\" font-size=\"15\" font-weight=\"bold\" text-anchor=\"middle\">",
            L + pw / 2);
    svg_xml_text(f, title);
    fputs("</text>\n", f);
    double sx = tick_step(x1 - x0, 8, x_integral), sy = tick_step(y1 - y0, 6, y_integral);
    char text[32];
    for (double v = ceil(x0 / sx) * sx; v <= x1 + 1e-9 * sx; v += sx) {
        tick_text(text, sizeof text, v, sx);
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>"
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                PX(v), T, PX(v), T + ph, PX(v), T + ph, PX(v), T + ph + 5, PX(v), T + ph + 18, text);
    }
    for (double v = ceil(y0 / sy) * sy; v <= y1 + 1e-9 * sy; v += sy) {
        tick_text(text, sizeof text, v, sy);
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>"
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                L, PY(v), L + pw, PY(v), L - 5, PY(v), L, PY(v), L - 8, PY(v) + 4, text);
    }
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#333\"/>\n", L, T,
            pw, ph);
    fprintf(f, "<text class=\"x-label\" x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">", L + pw / 2, H - 18);
    svg_xml_text(f, x_label);
    fprintf(f,
            "</text>\n<text class=\"y-label\" transform=\"translate(20,%.0f) rotate(-90)\" "
            "text-anchor=\"middle\">",
            T + ph / 2);
    svg_xml_text(f, y_label);
    fputs("</text>\n", f);
    for (size_t s = 0; s < n_series; s++) {
        /* One polyline per run of finite points. */
        int open = 0;
        for (size_t i = 0; i < series[s].n; i++) {
            double x = series[s].x[i], y = series[s].y[i];
            if (!isfinite(x) || !isfinite(y)) {
                if (open)
                    fputs("\"/>\n", f);
                open = 0;
                continue;
            }
            if (!open)
                fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", series[s].color);
            open = 1;
            fprintf(f, "%.1f,%.1f ", PX(x), PY(y));
        }
        if (open)
            fputs("\"/>\n", f);
    }
    /* the legend: a framed box of line samples and names */
    double lx = L + pw + 12, ly = T + 6, lh = 22.0 * (double)n_series + 10;
    fprintf(f,
            "<g class=\"legend\">\n<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"white\" "
            "stroke=\"#999\"/>\n",
            lx, ly, R - 20, lh);
    for (size_t s = 0; s < n_series; s++) {
        double y = ly + 18 + 22.0 * (double)s;
        fprintf(f,
                "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" stroke-width=\"3\"/>"
                "<text x=\"%.0f\" y=\"%.0f\">",
                lx + 8, y, lx + 34, y, series[s].color, lx + 40, y + 4);
        svg_xml_text(f, series[s].name);
        fputs("</text>\n", f);
    }
    fputs("</g>\n</svg>\n", f);
#undef PX
#undef PY
    if (ferror(f)) {
        output_abort(&out);
        errno = EIO;
        return -1;
    }
    return output_commit(&out);
}
