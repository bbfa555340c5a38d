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
#include <string.h>

#pragma GCC optimize("fp-contract=off")

void WELFORD_KERNEL(float *restrict mean_abs, float *restrict mean, float *restrict root_m2, const float *restrict g,
                    int64_t count, float inv_n, int team);

/* One element: the running means move by d / n, d = x - m_old, and M2 by
 * d^2 (n - 1) / n, kept as its root. That is Welford's d (x - m_new) with
 * x - m_new = d (n - 1) / n taken exactly instead of from the ROUNDED new
 * mean: where |mean| >> sigma, x - fl(m_new) would lose all of its digits
 * (gradients 1 and 1 + 2^-23: M2 off by a factor 2). Float has the gradients' range
 * but not their squares' (|g| below 2^-75 or above 2^64 would underflow or
 * overflow in r^2): the three factors of the root's update are scaled by
 * the power of two that brings the largest of them to [1, 2), and the root
 * scaled back. Powers of two scale exactly, so wherever the unscaled
 * float expression does not under- or overflow the result is bit for bit
 * sqrtf(r^2 + d (d w)); the scale comes from the exponent
 * bits (integer lanes, no division, no branch). */
static inline float welford_scaled_root(float r, float d, float w)
{
    const float ad = d < 0.0f ? -d : d;
    const float t = r > ad ? r : ad; /* |d w| <= |d| */
    uint32_t bits;
    memcpy(&bits, &t, sizeof bits);
    uint32_t ex = bits >> 23; /* t >= 0 and finite: 0 (zero, denormal) .. 254 */
    ex = ex < 1u ? 1u : ex > 253u ? 253u : ex;
    const uint32_t down_bits = (254u - ex) << 23, up_bits = ex << 23; /* 2^(127 - ex), 2^(ex - 127) */
    float down, up;
    memcpy(&down, &down_bits, sizeof down);
    memcpy(&up, &up_bits, sizeof up);
    const float rs = r * down, ds = d * down;
    return sqrtf(rs * rs + ds * (ds * w)) * up;
}

#define WELFORD_STEP(j)                                                                                                \
    do {                                                                                                               \
        const float x = g[j];                                                                                          \
        const float old_mean = mean[j];                                                                                \
        const float d = x - old_mean;                                                                                  \
        const float new_mean = old_mean + d * inv_n;                                                                   \
        const float ma = mean_abs[j];                                                                                  \
        mean_abs[j] = ma + ((x < 0.0f ? -x : x) - ma) * inv_n;                                                         \
        mean[j] = new_mean;                                                                                            \
        root_m2[j] = welford_scaled_root(root_m2[j], d, keep);                                                         \
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
    const float keep = (float)(1.0 - (double)inv_n); /* (n - 1) / n, rounded once */
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
