/* Command-line helpers (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigeo/io.h"

void cli_init(cli_t *c, const char *prog, int argc, char **argv)
{
    c->prog = prog;
    c->argc = argc;
    c->argv = argv;
    c->index = 0;
    c->arg = NULL;
    c->name = NULL;
    c->value = NULL;
}

const char *cli_next(cli_t *c)
{
    c->index++;
    c->arg = c->index < c->argc ? c->argv[c->index] : NULL;
    c->name = NULL;
    c->value = NULL;
    return c->arg;
}

void cli_error(const cli_t *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", c->prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_flag(const cli_t *c, const char *name)
{
    return c->arg && strcmp(c->arg, name) == 0;
}

int cli_option(cli_t *c, const char *name)
{
    if (!c->arg)
        return 0;
    size_t len = strlen(name);
    if (strncmp(c->arg, name, len) != 0)
        return 0;
    if (c->arg[len] == '=') {
        c->name = name;
        c->value = c->arg + len + 1;
        return 1;
    }
    if (c->arg[len] != '\0')
        return 0;
    c->name = name;
    if (c->index + 1 >= c->argc) {
        cli_error(c, "%s needs a value (see --help)", name);
        return -1;
    }
    c->index++;
    c->value = c->argv[c->index];
    return 1;
}

void cli_unknown(const cli_t *c)
{
    cli_error(c, "unknown argument '%s' (see --help)", c->arg ? c->arg : "");
}

/* Whole-text conversions: no trailing junk, no empty text, in range. */
static int parse_int64(int64_t *out, const char *s, const char *end_set)
{
    if (!*s || (end_set && strchr(end_set, *s)))
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || (*end && !(end_set && strchr(end_set, *end))))
        return -1;
    *out = (int64_t)v;
    return (int)(end - s);
}

static int parse_double(double *out, const char *s, const char *end_set)
{
    if (!*s || (end_set && strchr(end_set, *s)))
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || (*end && !(end_set && strchr(end_set, *end))))
        return -1;
    *out = v;
    return (int)(end - s);
}

int cli_int64(const cli_t *c, int64_t *out, int64_t min, int64_t max)
{
    int64_t v;
    if (parse_int64(&v, c->value, NULL) < 0 || v < min || v > max) {
        cli_error(c, "%s: '%s' is not an integer in [%" PRId64 ", %" PRId64 "]", c->name, c->value, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_double(const cli_t *c, double *out, double min, double max)
{
    double v;
    if (parse_double(&v, c->value, NULL) < 0 || v < min || v > max) {
        cli_error(c, "%s: '%s' is not a number in [%g, %g]", c->name, c->value, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_int64_list(const cli_t *c, int64_t *out, size_t cap, size_t *n_out, int64_t min, int64_t max)
{
    size_t n = 0;
    const char *p = c->value;
    for (;;) {
        int64_t v;
        int used = parse_int64(&v, p, ",");
        if (used < 0 || v < min || v > max || n == cap) {
            cli_error(c, "%s: '%s' is not a comma-separated list of 1 to %zu integers in [%" PRId64 ", %" PRId64 "]",
                      c->name, c->value, cap, min, max);
            return -1;
        }
        out[n++] = v;
        p += used;
        if (!*p)
            break;
        p++; /* the comma */
    }
    *n_out = n;
    return 0;
}

int cli_double_list(const cli_t *c, double *out, size_t cap, size_t *n_out, double min, double max)
{
    size_t n = 0;
    const char *p = c->value;
    for (;;) {
        double v;
        int used = parse_double(&v, p, ",");
        if (used < 0 || v < min || v > max || n == cap) {
            cli_error(c, "%s: '%s' is not a comma-separated list of 1 to %zu numbers in [%g, %g]", c->name, c->value,
                      cap, min, max);
            return -1;
        }
        out[n++] = v;
        p += used;
        if (!*p)
            break;
        p++;
    }
    *n_out = n;
    return 0;
}

int cli_fashion_mnist_dir(char *buf, size_t size, int *fell_back, const char *flag_dir, char *why,
                          size_t why_size)
{
    if (fell_back)
        *fell_back = 0;
    size_t need = size;
    sigeo_status_t st = sigeo_fashion_mnist_locate(buf, &need, flag_dir);
    if (st == SIGEO_OK) {
        if (fell_back && flag_dir && strcmp(buf, flag_dir) != 0)
            *fell_back = 1;
        return 0;
    }
    if (st == SIGEO_ERR_SHAPE) {
        snprintf(why, why_size, "the Fashion-MNIST directory path needs %zu bytes, more than %zu", need, size);
        return -1;
    }
    const char *env = getenv("SIGEO_DATA_DIR");
    char env_text[300];
    if (env && *env)
        snprintf(env_text, sizeof env_text, "'%s' (or its fashion-mnist/ subdirectory)", env);
    else
        snprintf(env_text, sizeof env_text, "(not set)");
    char flag_text[300];
    if (flag_dir)
        snprintf(flag_text, sizeof flag_text, "'%s'", flag_dir);
    else
        snprintf(flag_text, sizeof flag_text, "(not given)");
    const char *detail = sigeo_last_error();
    const char *tried = strstr(detail, "tried: ");
    snprintf(why, why_size,
             "Fashion-MNIST not found in --data-dir %s, SIGEO_DATA_DIR %s or %s; install the "
             "dataset-fashion-mnist package or point --data-dir or SIGEO_DATA_DIR at the four "
             "{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] files (libsigeo %s)",
             flag_text, env_text, SIGEO_FASHION_MNIST_DEFAULT_DIR, tried ? tried : detail);
    return -1;
}

int cli_fashion_mnist_dir_strict(const char *prog, char *buf, size_t size, const char *flag_dir)
{
    char why[2048];
    int fell_back = 0;
    int r = cli_fashion_mnist_dir(buf, size, &fell_back, flag_dir, why, sizeof why);
    if (r == 0 && !fell_back)
        return 0;
    if (flag_dir)
        fprintf(stderr,
                "%s: --data-dir %s: not a directory holding the four Fashion-MNIST files "
                "{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]\n",
                prog, flag_dir);
    else
        fprintf(stderr, "%s: %s\n", prog, why);
    return -1;
}

int cli_string(cli_t *c, const char *name, const char **out)
{
    const int r = cli_option(c, name);
    if (r > 0)
        *out = c->value;
    return r;
}

int cli_int64_option(cli_t *c, const char *name, int64_t *out, int64_t min, int64_t max)
{
    const int r = cli_option(c, name);
    return r > 0 && cli_int64(c, out, min, max) != 0 ? -1 : r;
}

int cli_double_option(cli_t *c, const char *name, double *out, double min, double max)
{
    const int r = cli_option(c, name);
    return r > 0 && cli_double(c, out, min, max) != 0 ? -1 : r;
}

int cli_choice(cli_t *c, const char *name, const char *const *names, int n, int *out)
{
    const int r = cli_option(c, name);
    if (r <= 0)
        return r;
    for (int i = 0; i < n; i++)
        if (!strcmp(c->value, names[i])) {
            *out = i;
            return 1;
        }
    char list[256] = "";
    for (int i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? (i == n - 1 ? " or " : ", ") : "",
                 names[i]);
    cli_error(c, "%s: '%s' is not %s", name, c->value, list);
    return -1;
}
