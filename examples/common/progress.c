/* Progress lines (see progress.h). */
#include "progress.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TTY_INTERVAL 0.2
#define LINE_INTERVAL 3.0

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + 1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
}

void progress_init(progress_t *p, const char *prog, progress_mode_t mode)
{
    memset(p, 0, sizeof *p);
    p->prog = prog;
    p->f = stderr;
    if (mode == PROGRESS_AUTO)
        mode = isatty(fileno(stderr)) == 1 ? PROGRESS_TTY : PROGRESS_LINES;
    p->mode = mode;
    p->interval = mode == PROGRESS_TTY ? TTY_INTERVAL : LINE_INTERVAL;
    const char *env = getenv("SIGEO_PROGRESS_INTERVAL");
    if (env && *env && mode == PROGRESS_LINES) {
        char *end;
        double v = strtod(env, &end);
        if (*end == '\0' && v >= 0.0 && v <= 3600.0)
            p->interval = v;
    }
    clock_gettime(CLOCK_MONOTONIC, &p->start);
    p->phase_start = p->start;
    p->last_shown = -1.0;
}

double progress_elapsed(const progress_t *p)
{
    return since(&p->start);
}

void progress_format_seconds(char *out, size_t size, double s)
{
    if (!(s >= 0.0) || !isfinite(s))
        snprintf(out, size, "?");
    else if (s < 10.0)
        snprintf(out, size, "%.1f s", s);
    else if (s < 60.0)
        snprintf(out, size, "%.0f s", floor(s));
    else if (s < 3600.0)
        snprintf(out, size, "%d min %d s", (int)(s / 60), (int)fmod(s, 60.0));
    else
        snprintf(out, size, "%d h %d min", (int)(s / 3600), (int)fmod(s / 60.0, 60.0));
}

void progress_break(progress_t *p)
{
    if (p->mode == PROGRESS_TTY && p->width) {
        fputc('\n', p->f);
        fflush(p->f);
        p->width = 0;
    }
}

/* Writes one complete text: a line in LINES mode, the in-place line on a
 * terminal (final: ended with a newline). */
static void show(progress_t *p, const char *text, int final)
{
    if (p->mode == PROGRESS_TTY) {
        int n = fprintf(p->f, "\r%s", text);
        for (int k = n; k < (int)p->width; k++)
            fputc(' ', p->f);
        p->width = n > 0 ? (size_t)n : 0;
        if (final) {
            fputc('\n', p->f);
            p->width = 0;
        }
    } else {
        fprintf(p->f, "%s\n", text);
    }
    fflush(p->f);
}

void progress_phase(progress_t *p, const char *phase, int64_t total)
{
    snprintf(p->phase, sizeof p->phase, "%s", phase ? phase : "");
    p->total = total > 0 ? total : 0;
    p->step = 0;
    clock_gettime(CLOCK_MONOTONIC, &p->phase_start);
    /* The start line counts as shown: the first update waits an interval. */
    p->last_shown = progress_elapsed(p);
    if (p->mode == PROGRESS_OFF)
        return;
    char text[256], el[32];
    progress_format_seconds(el, sizeof el, progress_elapsed(p));
    if (p->total)
        snprintf(text, sizeof text, "%s: %s 0/%lld, elapsed %s", p->prog, p->phase, (long long)p->total, el);
    else
        snprintf(text, sizeof text, "%s: %s started, elapsed %s", p->prog, p->phase, el);
    show(p, text, p->mode == PROGRESS_LINES);
}

int progress_update(progress_t *p, int64_t step, const char *fmt, ...)
{
    p->step = step;
    if (p->mode == PROGRESS_OFF)
        return 0;
    double now = progress_elapsed(p);
    if (p->last_shown >= 0.0 && now - p->last_shown < p->interval)
        return 0;
    p->last_shown = now;
    char text[512], el[32], eta[32], what[256] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
    }
    progress_format_seconds(el, sizeof el, now);
    int n;
    if (p->total) {
        double done = since(&p->phase_start);
        /* ETA from this phase's own rate: earlier phases run at other speeds. */
        double left = step > 0 && step <= p->total ? done / (double)step * (double)(p->total - step) : NAN;
        progress_format_seconds(eta, sizeof eta, left);
        n = snprintf(text, sizeof text, "%s: %s %lld/%lld (%.1f %%), elapsed %s, ETA %s", p->prog, p->phase,
                     (long long)step, (long long)p->total, 100.0 * (double)step / (double)p->total, el, eta);
    } else {
        n = snprintf(text, sizeof text, "%s: %s %lld, elapsed %s", p->prog, p->phase, (long long)step, el);
    }
    if (what[0] && n > 0 && (size_t)n < sizeof text)
        snprintf(text + n, sizeof text - (size_t)n, ": %s", what);
    show(p, text, 0);
    return 1;
}

void progress_end(progress_t *p, const char *fmt, ...)
{
    if (p->mode == PROGRESS_OFF)
        return;
    char text[512], took[32], what[256] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
    }
    progress_format_seconds(took, sizeof took, since(&p->phase_start));
    int n = snprintf(text, sizeof text, "%s: %s done in %s", p->prog, p->phase, took);
    if (what[0] && n > 0 && (size_t)n < sizeof text)
        snprintf(text + n, sizeof text - (size_t)n, ": %s", what);
    show(p, text, 1);
}

void progress_note(progress_t *p, const char *fmt, ...)
{
    if (p->mode == PROGRESS_OFF)
        return;
    progress_break(p);
    char text[600];
    int n = snprintf(text, sizeof text, "%s: ", p->prog);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text + n, sizeof text - (size_t)n, fmt, ap);
    va_end(ap);
    show(p, text, 1);
}
