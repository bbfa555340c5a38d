/* The Welford update loop of sigeo__welford_update (welford.c), included
 * once per instruction set: welford.c (the x86-64 baseline), welford_avx2.c
 * and welford_avx512.c (the same source under #pragma GCC target), selected
 * once at run time (welford.c, sigeo__welford_widest). The arithmetic is the same
 * sequence of IEEE single-precision operations in every copy (no FMA: C11
 * mode contracts nothing, and -ffp-contract=off is spelled out below;
 * sqrtf is correctly rounded on every ISA), so every ISA gives bit for bit
 * the baseline's results; only the vector width differs. Float, not double:
 * the state is stored as float anyway, and float arithmetic is 1.7-3x faster
 * (16 lanes per AVX-512 vector instead of 8, a cheaper sqrt); what it costs
 * in accuracy is bounded and measured in tests/stats/test_welford.c and
 * bench/README.md. Define WELFORD_KERNEL, WELFORD_SECOND, WELFORD_ZICO,
 * WELFORD_ZICO_ROW and WELFORD_LAST to the functions' names before including. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#pragma GCC optimize("fp-contract=off")

uint32_t WELFORD_KERNEL(float *restrict mean_abs, float *restrict mean, float *restrict root_m2,
                        const float *restrict g, int64_t count, float inv_n, int team);

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

/* 1 if x is an infinity or a NaN (all exponent bits set): the update
 * loops OR this over the block, so a fused batch needs no separate
 * validation pass over its gradients (stats.c). */
static inline uint32_t welford_nonfinite(float x)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    return (uint32_t)((bits & 0x7f800000u) == 0x7f800000u);
}

/* MA and ROOT: where the old mean |g| and root M2 come from (the stored
 * arrays, or for the second observation the first one's implicit values). */
#define WELFORD_STEP_FROM(j, MA, ROOT)                                                                                 \
    do {                                                                                                               \
        const float x = g[j];                                                                                          \
        bad |= welford_nonfinite(x);                                                                                   \
        const float old_mean = mean[j];                                                                                \
        const float d = x - old_mean;                                                                                  \
        const float new_mean = old_mean + d * inv_n;                                                                   \
        const float ma = (MA);                                                                                         \
        const float r = (ROOT);                                                                                        \
        mean_abs[j] = ma + ((x < 0.0f ? -x : x) - ma) * inv_n;                                                         \
        mean[j] = new_mean;                                                                                            \
        root_m2[j] = welford_scaled_root(r, d, keep);                                                                  \
    } while (0)
#define WELFORD_STEP(j) WELFORD_STEP_FROM(j, mean_abs[j], root_m2[j])

uint32_t WELFORD_KERNEL(float *restrict mean_abs, float *restrict mean, float *restrict root_m2,
                        const float *restrict g, int64_t count, float inv_n, int team)
{
    /* SIMD (no branches, no errno from sqrtf: the library builds with
     * -fno-math-errno). Large blocks are split over the context's threads
     * (team from the thread policy); with no team the loop runs here, with
     * no OpenMP region at all: an `if (team > 1)` clause would still call
     * into libgomp per block, which for an embedding table's 16-float rows
     * (thousands per batch) cost more than the arithmetic (bench/README.md). */
    const float keep = (float)(1.0 - (double)inv_n); /* (n - 1) / n, rounded once */
    uint32_t bad = 0; /* any g[j] non-finite: the return value */
    if (team > 1) {
#pragma omp parallel for simd schedule(static) num_threads(team) reduction(| : bad)
        for (int64_t j = 0; j < count; j++)
            WELFORD_STEP(j);
        return bad;
    }
#pragma omp simd reduction(| : bad)
    for (int64_t j = 0; j < count; j++)
        WELFORD_STEP(j);
    return bad;
}

/* The second observation (inv_n = 1/2) of a block whose first one stored
 * only its mean (welford.c: the first batch writes a third of the state):
 * the old mean |g| is |mean| (fabsf: the sign bit cleared, as the first
 * observation's fabsf) and the old root M2 is 0, so the result is bit for
 * bit WELFORD_KERNEL's on the fully stored state; mean_abs and root_m2 are
 * written without being read. */
uint32_t WELFORD_SECOND(float *restrict mean_abs, float *restrict mean, float *restrict root_m2,
                        const float *restrict g, int64_t count, float inv_n, int team);

uint32_t WELFORD_SECOND(float *restrict mean_abs, float *restrict mean, float *restrict root_m2,
                        const float *restrict g, int64_t count, float inv_n, int team)
{
    const float keep = (float)(1.0 - (double)inv_n); /* as WELFORD_KERNEL */
    uint32_t bad = 0;
    if (team > 1) {
#pragma omp parallel for simd schedule(static) num_threads(team) reduction(| : bad)
        for (int64_t j = 0; j < count; j++)
            WELFORD_STEP_FROM(j, fabsf(old_mean), 0.0f);
        return bad;
    }
#pragma omp simd reduction(| : bad)
    for (int64_t j = 0; j < count; j++)
        WELFORD_STEP_FROM(j, fabsf(old_mean), 0.0f);
    return bad;
}

#undef WELFORD_STEP
#undef WELFORD_STEP_FROM

/* ZiCo's reduction over a block (zico.c, sigeo__zico_block): the sum of
 * mean|g_j| / sigma_j over the elements with sigma_j != 0 (an exact compare,
 * as ZiCo's guard), and their count. Eight partial sums by j mod 8, added
 * in a fixed order at the end: every vector width (2, 4 or 8 doubles) gives
 * the same partial sums, so every ISA copy gives bit for bit the same
 * result, and the division runs on the widest vectors the CPU has. */
void WELFORD_ZICO(double *sum_out, int64_t *nonzero_out, const float *restrict mean_abs, const float *restrict root_m2,
                  int64_t count, double inv_sqrt_dof);

/* Eight lanes as GCC vector types: lowered to 4 SSE2, 2 AVX2 or 1 AVX-512
 * register(s), lane for lane the same IEEE operations. */
typedef float welford_v8f __attribute__((vector_size(32)));
typedef double welford_v8d __attribute__((vector_size(64)));
typedef long long welford_v8l __attribute__((vector_size(64)));

/* The lanes into arrays (the scalar tail adds to them), and their fixed-order
 * total. */
static inline void welford_lanes_out(double part[8], int64_t on_count[8], const welford_v8d *sum8,
                                     const welford_v8l *on8)
{
    /* by pointer: a 64-byte vector passed by value has an ISA-dependent ABI */
    for (int l = 0; l < 8; l++) {
        part[l] = (*sum8)[l];
        on_count[l] = (*on8)[l];
    }
}

static inline void welford_lanes_total(double *sum_out, int64_t *nonzero_out, const double part[8],
                                       const int64_t on_count[8])
{
    *sum_out = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    *nonzero_out = ((on_count[0] + on_count[1]) + (on_count[2] + on_count[3])) +
                   ((on_count[4] + on_count[5]) + (on_count[6] + on_count[7]));
}

/* The full groups of eight of ZiCo's block reduction, from element j0 on
 * (8 | j0), into the lane sums: one copy of the arithmetic for the block
 * reduction and for the last batch's fold (WELFORD_LAST), so both give the
 * same partial sums. Returns the first element not taken (count - count % 8). */
static inline int64_t welford_zico_groups(welford_v8d *sum8, welford_v8l *on8, const float *restrict mean_abs,
                                          const float *restrict root_m2, int64_t j0, int64_t count,
                                          double inv_sqrt_dof)
{
    const welford_v8d one = { 1, 1, 1, 1, 1, 1, 1, 1 };
    for (; j0 + 8 <= count; j0 += 8) {
        welford_v8f rf, mf;
        memcpy(&rf, root_m2 + j0, sizeof rf);
        memcpy(&mf, mean_abs + j0, sizeof mf);
        const welford_v8d r = __builtin_convertvector(rf, welford_v8d);
        const welford_v8d ma = __builtin_convertvector(mf, welford_v8d);
        const welford_v8l on = r != 0.0; /* -1 where sigma != 0 */
        const welford_v8d den = (welford_v8d)(((welford_v8l)(r * inv_sqrt_dof) & on) | ((welford_v8l)one & ~on));
        *sum8 += (welford_v8d)((welford_v8l)(ma / den) & on);
        *on8 -= on;
    }
    return j0;
}

/* The lane sums, the scalar tail [0, tail) of the given pointers (tail < 8,
 * element l into lane l) and their fixed-order total. */
static inline void welford_zico_finish(double *sum_out, int64_t *nonzero_out, const welford_v8d *sum8,
                                       const welford_v8l *on8, const float *restrict mean_abs,
                                       const float *restrict root_m2, int64_t tail, double inv_sqrt_dof)
{
    double part[8];
    int64_t on_count[8];
    welford_lanes_out(part, on_count, sum8, on8);
    for (int l = 0; l < tail; l++) {
        const double r = (double)root_m2[l];
        if (r != 0.0) {
            part[l] += (double)mean_abs[l] / (r * inv_sqrt_dof);
            on_count[l]++;
        }
    }
    welford_lanes_total(sum_out, nonzero_out, part, on_count);
}

void WELFORD_ZICO(double *sum_out, int64_t *nonzero_out, const float *restrict mean_abs, const float *restrict root_m2,
                  int64_t count, double inv_sqrt_dof)
{
    welford_v8d sum8 = { 0, 0, 0, 0, 0, 0, 0, 0 };
    welford_v8l on8 = { 0, 0, 0, 0, 0, 0, 0, 0 };
    const int64_t j0 = welford_zico_groups(&sum8, &on8, mean_abs, root_m2, 0, count, inv_sqrt_dof);
    welford_zico_finish(sum_out, nonzero_out, &sum8, &on8, mean_abs + j0, root_m2 + j0, count - j0, inv_sqrt_dof);
}

/* The last batch (n >= 2) of a block folded straight into ZiCo's reduction:
 * the update of WELFORD_KERNEL, but mean |g| and root M2 go to a chunk on
 * the stack, are reduced there by WELFORD_ZICO's arithmetic (the same lane
 * sums, chunk after chunk in element order: chunks are multiples of 8) and
 * are never stored; only the mean is (theta . mean after the batches needs
 * it). The state is read once and a third of it written, instead of read and
 * written by the update and read again by the reduction. Also gives the
 * first element's ratio with sigma != 0 (0 if none), as zico.c's
 * sigeo__zico_block. One thread: the lane sums run in element order.
 * Returns 1 if some g[j] is not finite (the results are then garbage). */
uint32_t WELFORD_LAST(double *sum_out, int64_t *nonzero_out, double *first_out, const float *restrict mean_abs,
                      float *restrict mean, const float *restrict root_m2, const float *restrict g, int64_t count,
                      float inv_n, double inv_sqrt_dof);

uint32_t WELFORD_LAST(double *sum_out, int64_t *nonzero_out, double *first_out, const float *restrict mean_abs,
                      float *restrict mean, const float *restrict root_m2, const float *restrict g, int64_t count,
                      float inv_n, double inv_sqrt_dof)
{
    enum { CHUNK = 1024 }; /* 8 kB for the two outputs: stays in L1 */
    float out_abs[CHUNK], out_root[CHUNK];
    const float keep = (float)(1.0 - (double)inv_n); /* as WELFORD_KERNEL */
    welford_v8d sum8 = { 0, 0, 0, 0, 0, 0, 0, 0 };
    welford_v8l on8 = { 0, 0, 0, 0, 0, 0, 0, 0 };
    double first = 0.0;
    bool found = false;
    uint32_t bad = 0; /* as WELFORD_KERNEL's return value */
    int64_t c0 = 0, len = 0, done = 0;
    for (; c0 < count; c0 += len) {
        len = count - c0 < CHUNK ? count - c0 : CHUNK;
        const float *restrict gc = g + c0, *restrict ac = mean_abs + c0, *restrict rc = root_m2 + c0;
        float *restrict mc = mean + c0;
#pragma omp simd reduction(| : bad)
        for (int64_t j = 0; j < len; j++) {
            const float x = gc[j];
            bad |= welford_nonfinite(x);
            const float old_mean = mc[j];
            const float d = x - old_mean;
            const float ma = ac[j];
            out_abs[j] = ma + ((x < 0.0f ? -x : x) - ma) * inv_n;
            mc[j] = old_mean + d * inv_n;
            out_root[j] = welford_scaled_root(rc[j], d, keep);
        }
        for (int64_t j = 0; !found && j < len; j++)
            if (out_root[j] != 0.0f) {
                first = (double)out_abs[j] / ((double)out_root[j] * inv_sqrt_dof);
                found = true;
            }
        done = welford_zico_groups(&sum8, &on8, out_abs, out_root, 0, len, inv_sqrt_dof);
    }
    /* only the block's last chunk can leave a partial group: its tail is
     * still in the buffers */
    welford_zico_finish(sum_out, nonzero_out, &sum8, &on8, out_abs + done, out_root + done, len - done,
                        inv_sqrt_dof);
    *first_out = first;
    return bad;
}

/* The same for one row of a table module (zico.c, table_row): the row holds
 * a observations and is extended with zeros to k, keep = a/k, cross =
 * a (k - a)/k: mean|g| keep, M2 root^2 + mean^2 cross. Same eight fixed
 * lanes, so bit for bit the same on every ISA. */
void WELFORD_ZICO_ROW(double *sum_out, int64_t *nonzero_out, const float *restrict mean_abs,
                      const float *restrict mean, const float *restrict root_m2, int64_t count, double keep,
                      double cross, double inv_dof);

void WELFORD_ZICO_ROW(double *sum_out, int64_t *nonzero_out, const float *restrict mean_abs,
                      const float *restrict mean, const float *restrict root_m2, int64_t count, double keep,
                      double cross, double inv_dof)
{
    welford_v8d sum8 = { 0, 0, 0, 0, 0, 0, 0, 0 };
    welford_v8l on8 = { 0, 0, 0, 0, 0, 0, 0, 0 };
    const welford_v8d one = { 1, 1, 1, 1, 1, 1, 1, 1 };
    int64_t j0 = 0;
    for (; j0 + 8 <= count; j0 += 8) {
        welford_v8f af, mf, rf;
        memcpy(&af, mean_abs + j0, sizeof af);
        memcpy(&mf, mean + j0, sizeof mf);
        memcpy(&rf, root_m2 + j0, sizeof rf);
        const welford_v8d ma = __builtin_convertvector(af, welford_v8d);
        const welford_v8d mu = __builtin_convertvector(mf, welford_v8d);
        const welford_v8d rt = __builtin_convertvector(rf, welford_v8d);
        const welford_v8d m2 = rt * rt + mu * mu * cross;
        const welford_v8l on = m2 != 0.0;
        const welford_v8d var = (welford_v8d)(((welford_v8l)(m2 * inv_dof) & on) | ((welford_v8l)one & ~on));
        welford_v8d sd;
        for (int l = 0; l < 8; l++) /* lane by lane: the vectoriser makes it one root per register */
            sd[l] = sqrt(var[l]);
        sum8 += (welford_v8d)((welford_v8l)((ma * keep) / sd) & on);
        on8 -= on;
    }
    double part[8];
    int64_t on_count[8];
    welford_lanes_out(part, on_count, &sum8, &on8);
    for (int l = 0; j0 + l < count; l++) {
        const double mu = (double)mean[j0 + l], rt = (double)root_m2[j0 + l];
        const double m2 = rt * rt + mu * mu * cross;
        if (m2 != 0.0) {
            part[l] += ((double)mean_abs[j0 + l] * keep) / sqrt(m2 * inv_dof);
            on_count[l]++;
        }
    }
    welford_lanes_total(sum_out, nonzero_out, part, on_count);
}
