#include <errno.h>
#include <math.h>
#include <stdio.h>

#include "svg_lines.h"

static void xml_text(FILE *f, const char *s)
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

/* A "nice" tick step covering span with about n ticks. */
static double tick_step(double span, int n)
{
    double raw = span / n, p = pow(10.0, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

int svg_write_lines(const char *path, const char *title, const char *x_label, const char *y_label,
                    const svg_series_t *series, size_t n_series)
{
    if (!path || !series || n_series == 0) {
        errno = EINVAL;
        return -1;
    }
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (size_t s = 0; s < n_series; s++)
        for (size_t i = 0; i < series[s].n; i++) {
            if (!isfinite(series[s].x[i]) || !isfinite(series[s].y[i]))
                continue;
            x0 = fmin(x0, series[s].x[i]);
            x1 = fmax(x1, series[s].x[i]);
            y0 = fmin(y0, series[s].y[i]);
            y1 = fmax(y1, series[s].y[i]);
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
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    const double W = 720, H = 440, L = 80, R = 170, T = 50, Bm = 60, pw = W - L - R, ph = H - T - Bm;
#define PX(v) (L + ((v) - x0) / (x1 - x0) * pw)
#define PY(v) (T + ph - ((v) - y0) / (y1 - y0) * ph)
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%.0f\" y=\"28\" font-size=\"15\" text-anchor=\"middle\">", L + pw / 2);
    xml_text(f, title);
    fputs("</text>\n", f);
    double sx = tick_step(x1 - x0, 8), sy = tick_step(y1 - y0, 6);
    for (double v = ceil(x0 / sx) * sx; v <= x1 + 1e-9 * sx; v += sx)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
                PX(v), T, PX(v), T + ph, PX(v), T + ph + 16, v);
    for (double v = ceil(y0 / sy) * sy; v <= y1 + 1e-9 * sy; v += sy)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>\n",
                L, PY(v), L + pw, PY(v), L - 6, PY(v) + 4, v);
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#333\"/>\n", L, T,
            pw, ph);
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">", L + pw / 2, H - 18);
    xml_text(f, x_label);
    fprintf(f, "</text>\n<text transform=\"translate(20,%.0f) rotate(-90)\" text-anchor=\"middle\">", T + ph / 2);
    xml_text(f, y_label);
    fputs("</text>\n", f);
    for (size_t s = 0; s < n_series; s++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", series[s].color);
        for (size_t i = 0; i < series[s].n; i++)
            if (isfinite(series[s].x[i]) && isfinite(series[s].y[i]))
                fprintf(f, "%.1f,%.1f ", PX(series[s].x[i]), PY(series[s].y[i]));
        fputs("\"/>\n", f);
        double ly = T + 20 + 22.0 * (double)s;
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" stroke-width=\"3\"/>"
                   "<text x=\"%.0f\" y=\"%.0f\">", L + pw + 14, ly, L + pw + 40, ly, series[s].color, L + pw + 46, ly + 4);
        xml_text(f, series[s].name);
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
#undef PX
#undef PY
    return fclose(f) == 0 ? 0 : -1;
}
