/* The Welford update loop of sigeo__welford_update (welford.c), included
 * once per instruction set: welford.c (the x86-64 baseline), welford_avx2.c
 * and welford_avx512.c (the same source under #pragma GCC target), selected
 * once at run time (welford.c, pick_kernel). The arithmetic is the same
 * sequence of IEEE double operations in every copy (no FMA: C11 mode
 * contracts nothing, and -ffp-contract=off is spelled out below), so every
 * ISA gives bit for bit the baseline's results; only the vector width
 * differs. Define WELFORD_KERNEL to the function's name before including. */
#include <math.h>
#include <stdint.h>

#pragma GCC optimize("fp-contract=off")

void WELFORD_KERNEL(float *restrict mean_abs, float *restrict mean, float *restrict root_m2, const float *restrict g,
                    int64_t count, double inv_n, int team);

void WELFORD_KERNEL(float *restrict mean_abs, float *restrict mean, float *restrict root_m2, const float *restrict g,
                    int64_t count, double inv_n, int team)
{
    /* SIMD (no branches, no errno from sqrt: the library builds with
     * -fno-math-errno), and split over the context's threads for large
     * blocks, where it is bound by memory traffic (team from the thread
     * policy; 1 = no team). */
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
