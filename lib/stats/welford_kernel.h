/* The Welford update loop of sigeo__welford_update (welford.c), included
 * once per instruction set: welford.c (the x86-64 baseline), welford_avx2.c
 * and welford_avx512.c (the same source under #pragma GCC target), selected
 * once at run time (welford.c, pick_kernel). The arithmetic is the same
 * sequence of IEEE single-precision operations in every copy (no FMA: C11
 * mode contracts nothing, and -ffp-contract=off is spelled out below;
 * sqrtf is correctly rounded on every ISA), so every ISA gives bit for bit
 * the baseline's results; only the vector width differs. Float, not double:
 * the state is stored as float anyway, and float arithmetic is 1.7-3x faster
 * (16 lanes per AVX-512 vector instead of 8, a cheaper sqrt); what it costs
 * in accuracy is bounded and measured in tests/stats/test_welford.c and
 * bench/README.md. Define WELFORD_KERNEL to the function's name before
 * including. */
#include <math.h>
#include <stdint.h>

#pragma GCC optimize("fp-contract=off")

void WELFORD_KERNEL(float *restrict mean_abs, float *restrict mean, float *restrict root_m2, const float *restrict g,
                    int64_t count, float inv_n, int team);

/* One element: the running means move by (x - m) / n, M2 by
 * (x - m_old)(x - m_new), kept as its root. */
#define WELFORD_STEP(j)                                                                                                \
    do {                                                                                                               \
        const float x = g[j];                                                                                          \
        const float old_mean = mean[j];                                                                                \
        const float d = x - old_mean;                                                                                  \
        const float new_mean = old_mean + d * inv_n;                                                                   \
        const float ma = mean_abs[j];                                                                                  \
        mean_abs[j] = ma + (fabsf(x) - ma) * inv_n;                                                                    \
        mean[j] = new_mean;                                                                                            \
        const float r = root_m2[j];                                                                                    \
        root_m2[j] = sqrtf(r * r + d * (x - new_mean));                                                                \
    } while (0)

void WELFORD_KERNEL(float *restrict mean_abs, float *restrict mean, float *restrict root_m2, const float *restrict g,
                    int64_t count, float inv_n, int team)
{
    /* SIMD (no branches, no errno from sqrtf: the library builds with
     * -fno-math-errno). Large blocks are split over the context's threads
     * (team from the thread policy); with no team the loop runs here, with
     * no OpenMP region at all: an `if (team > 1)` clause would still call
     * into libgomp per block, which for an embedding table's 16-float rows
     * (thousands per batch) cost more than the arithmetic (bench/README.md). */
    if (team > 1) {
#pragma omp parallel for simd schedule(static) num_threads(team)
        for (int64_t j = 0; j < count; j++)
            WELFORD_STEP(j);
        return;
    }
#pragma omp simd
    for (int64_t j = 0; j < count; j++)
        WELFORD_STEP(j);
}

#undef WELFORD_STEP
