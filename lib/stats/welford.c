#include <math.h>

#include "stats/welford.h"

void sigeo__welford_update(sigeo__welford_t *w, int64_t offset, const float *g, int64_t count, uint64_t n, int team)
{
    float *restrict mean_abs = w->mean_abs + offset;
    float *restrict mean = w->mean + offset;
    float *restrict root_m2 = w->root_m2 + offset;
    const double inv_n = 1.0 / (double)n;
    if (n == 1) {
        /* First observation: the means are the value, M2 is zero. */
#pragma omp simd
        for (int64_t j = 0; j < count; j++) {
            float x = g[j];
            mean_abs[j] = fabsf(x);
            mean[j] = x;
            root_m2[j] = 0.0f;
        }
        return;
    }
    /* The hot loop of every SiGeo evaluation: SIMD (no branches, no errno
     * from sqrt: the library builds with -fno-math-errno), and split over
     * the context's threads for large blocks, where it is bound by memory
     * traffic (the caller's team, from the thread policy; 1 = no team). */
#pragma omp parallel for simd schedule(static) if (team > 1) num_threads(team > 1 ? team : 1)
    for (int64_t j = 0; j < count; j++) {
        double x = (double)g[j];
        double ax = fabs(x);
        double old_mean = (double)mean[j];
        double new_mean = old_mean + (x - old_mean) * inv_n;
        mean_abs[j] = (float)((double)mean_abs[j] + (ax - (double)mean_abs[j]) * inv_n);
        mean[j] = (float)new_mean;
        double r = (double)root_m2[j];
        root_m2[j] = (float)sqrt(r * r + (x - old_mean) * (x - new_mean));
    }
}

void sigeo__welford_catch_up(sigeo__welford_t *w, int64_t offset, int64_t count, uint64_t from, uint64_t to)
{
    float *restrict mean_abs = w->mean_abs + offset;
    float *restrict mean = w->mean + offset;
    float *restrict root_m2 = w->root_m2 + offset;
    if (from == 0) {
        for (int64_t j = 0; j < count; j++)
            mean_abs[j] = mean[j] = root_m2[j] = 0.0f;
        return;
    }
    if (to <= from)
        return;
    const double a = (double)from, n = (double)to, keep = a / n, cross = a * (n - a) / n;
    for (int64_t j = 0; j < count; j++) {
        const double mu = (double)mean[j], r = (double)root_m2[j];
        mean_abs[j] = (float)((double)mean_abs[j] * keep);
        mean[j] = (float)(mu * keep);
        root_m2[j] = (float)sqrt(r * r + mu * mu * cross);
    }
}
