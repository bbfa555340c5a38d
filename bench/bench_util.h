/* Helpers shared by the benchmark programs: a monotonic clock, medians,
 * a deterministic random stream, peak RSS, and the two output channels.
 *
 * Output convention of every bench program: one JSON object per line per
 * measurement on stdout (so `bench-x | jq` or a script can read it), the
 * human table on stderr (so it shows on the terminal when stdout is
 * redirected). Header-only on purpose: each bench is one translation unit
 * plus this file, nothing to link. */
#ifndef SIGEO_BENCH_UTIL_H
#define SIGEO_BENCH_UTIL_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "sigeo/sigeo.h"

static inline double bench_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

/* CPU time of the whole process (all threads). Meaningful as a measure of
 * work only with one compute thread (--threads 1): with more, idle
 * OpenMP workers spin and their spinning counts too. On a shared machine it
 * is, unlike wall time, mostly insensitive to the load of other processes. */
static inline double bench_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts v in place). */
static inline double bench_median(double *v, int n)
{
    if (n <= 0)
        return 0.0;
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Lower and upper quartile of an already sorted v (for the spread column). */
static inline double bench_quantile_sorted(const double *v, int n, double q)
{
    if (n <= 0)
        return 0.0;
    double pos = q * (double)(n - 1);
    int lo = (int)pos;
    if (lo >= n - 1)
        return v[n - 1];
    double f = pos - (double)lo;
    return v[lo] * (1.0 - f) + v[lo + 1] * f;
}

/* splitmix64: a tiny seeded generator; the benches need reproducible data,
 * not statistical quality. */
static inline uint64_t bench_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static inline float bench_rng_uniform(uint64_t *state)
{
    return (float)((double)(bench_rng_next(state) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

static inline void bench_fill_uniform(float *x, int64_t n, uint64_t *state)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = bench_rng_uniform(state);
}

/* A hashed categorical id in [0, rows): the raw value is a random 64-bit
 * "feature value", reduced modulo the table size as a hashing trick does. */
static inline int64_t bench_hashed_id(uint64_t *state, int64_t rows)
{
    return (int64_t)(bench_rng_next(state) % (uint64_t)rows);
}

/* Peak resident set size of this process so far, in MiB. */
static inline double bench_peak_rss_mib(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0.0;
    return (double)ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}

/* 1-minute load average: printed with the results, since a busy machine
 * makes every number here meaningless (docs/onednn-notes.md, "Threads"). */
static inline double bench_loadavg(void)
{
    double l = -1.0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1.0;
        fclose(f);
    }
    return l;
}

/* One measurement as a JSON line on stdout. `cas` and `metric` are plain
 * identifiers (no quoting needed); a non-finite value is written as null. */
static inline void bench_json(const char *bench, const char *cas, const char *metric, double value, const char *unit)
{
    if (value == value && value - value == 0.0)
        printf("{\"bench\":\"%s\",\"case\":\"%s\",\"metric\":\"%s\",\"value\":%.6g,\"unit\":\"%s\"}\n", bench, cas,
               metric, value, unit);
    else
        printf("{\"bench\":\"%s\",\"case\":\"%s\",\"metric\":\"%s\",\"value\":null,\"unit\":\"%s\"}\n", bench, cas,
               metric, unit);
    fflush(stdout);
}

/* A line of the human table (stderr). */
static inline void bench_say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

/* Aborts the bench with the library's message: a bench that cannot build
 * its model has nothing to report. */
static inline void bench_check(sigeo_status_t st, const char *what)
{
    if (st != SIGEO_OK) {
        fprintf(stderr, "bench: %s failed: %s (%s)\n", what, sigeo_status_string(st), sigeo_last_error());
        exit(1);
    }
}

/* Command-line: `--threads N` (compute threads of the context; 0, the
 * default, = every online core). */
static inline uint32_t bench_parse_threads(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--threads") == 0)
            return (uint32_t)atoi(argv[i + 1]);
    return 0u;
}

/* Command-line: `--reps N` (timed repetitions, default `def`, at least 20
 * unless --quick) and `--quick` (5 reps: a smoke run, not a measurement). */
static inline int bench_parse_reps(int argc, char **argv, int def)
{
    int reps = def;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--quick") == 0)
            reps = 5;
    }
    return reps < 1 ? 1 : reps;
}

#endif /* SIGEO_BENCH_UTIL_H */
