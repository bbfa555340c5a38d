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
 * WELFORD_ZICO_ROW, WELFORD_LAST and WELFORD_REPLAY to the functions' names
 * before including. */
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

/* The eight lanes (element j into lane j mod 8) as 8 / WELFORD_W GCC
 * vectors of the width this ISA compares natively: 2 doubles (SSE2), 4
 * (AVX2), 8 (AVX-512). One 8-double vector under AVX2 is split in two for
 * arithmetic, but GCC 12 lowers its compares, and the masks built on them,
 * element by element through scalar code: that made the AVX2 copy slower
 * than the baseline (3.7 against 3.1 ns per element, bench/README.md). Lane
 * for lane the operations are the same IEEE ones at every width, so every
 * copy still gives bit for bit the same lane sums. */
#if defined(__AVX512F__)
#  define WELFORD_W 8
#elif defined(__AVX2__)
#  define WELFORD_W 4
#else
#  define WELFORD_W 2
#endif
#define WELFORD_PARTS (8 / WELFORD_W)
typedef float welford_vf __attribute__((vector_size(4 * WELFORD_W)));
typedef double welford_vd __attribute__((vector_size(8 * WELFORD_W)));
typedef long long welford_vl __attribute__((vector_size(8 * WELFORD_W)));

/* The eight lane sums and nonzero counts, part p holding lanes
 * [p W, (p + 1) W). Passed by pointer: a vector passed by value has an
 * ISA-dependent ABI. */
typedef struct welford_lanes {
    welford_vd sum[WELFORD_PARTS];
    welford_vl on[WELFORD_PARTS];
} welford_lanes_t;

static inline void welford_lanes_zero(welford_lanes_t *lanes)
{
    for (int p = 0; p < WELFORD_PARTS; p++) {
        lanes->sum[p] = (welford_vd){ 0 };
        lanes->on[p] = (welford_vl){ 0 };
    }
}

/* The lanes into arrays (the scalar tail adds to them), and their fixed-order
 * total. */
static inline void welford_lanes_out(double part[8], int64_t on_count[8], const welford_lanes_t *lanes)
{
    for (int p = 0; p < WELFORD_PARTS; p++)
        for (int l = 0; l < WELFORD_W; l++) {
            part[p * WELFORD_W + l] = lanes->sum[p][l];
            on_count[p * WELFORD_W + l] = lanes->on[p][l];
        }
}

static inline void welford_lanes_total(double *sum_out, int64_t *nonzero_out, const double part[8],
                                       const int64_t on_count[8])
{
    *sum_out = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    *nonzero_out = ((on_count[0] + on_count[1]) + (on_count[2] + on_count[3])) +
                   ((on_count[4] + on_count[5]) + (on_count[6] + on_count[7]));
}

/* One part of a group: `ratio` (mean |g| / (sigma ...)) added to its lanes
 * where `on` (-1 where sigma != 0), and the count of those lanes. */
static inline void welford_lanes_add(welford_lanes_t *lanes, int p, welford_vd ratio, welford_vl on)
{
    lanes->sum[p] += (welford_vd)((welford_vl)ratio & on);
    lanes->on[p] -= on;
}

/* `den` where `on`, else 1: the divisor of lanes that are masked out anyway,
 * so that no lane divides by zero. */
static inline welford_vd welford_guard(welford_vd den, welford_vl on)
{
    const welford_vd one = (welford_vd){ 0 } + 1.0;
    return (welford_vd)(((welford_vl)den & on) | ((welford_vl)one & ~on));
}

/* W floats from p into doubles. */
static inline welford_vd welford_load(const float *restrict p)
{
    welford_vf f;
    memcpy(&f, p, sizeof f);
    return __builtin_convertvector(f, welford_vd);
}

/* The full groups of eight of ZiCo's block reduction, from element j0 on
 * (8 | j0), into the lane sums: one copy of the arithmetic for the block
 * reduction and for the last batch's fold (WELFORD_LAST), so both give the
 * same partial sums. Returns the first element not taken (count - count % 8). */
static inline int64_t welford_zico_groups(welford_lanes_t *lanes, const float *restrict mean_abs,
                                          const float *restrict root_m2, int64_t j0, int64_t count,
                                          double inv_sqrt_dof)
{
    for (; j0 + 8 <= count; j0 += 8)
        for (int p = 0; p < WELFORD_PARTS; p++) {
            const welford_vd r = welford_load(root_m2 + j0 + p * WELFORD_W);
            const welford_vd ma = welford_load(mean_abs + j0 + p * WELFORD_W);
            const welford_vl on = r != 0.0;
            welford_lanes_add(lanes, p, ma / welford_guard(r * inv_sqrt_dof, on), on);
        }
    return j0;
}

/* The lane sums, the scalar tail [0, tail) of the given pointers (tail < 8,
 * element l into lane l) and their fixed-order total. */
static inline void welford_zico_finish(double *sum_out, int64_t *nonzero_out, const welford_lanes_t *lanes,
                                       const float *restrict mean_abs, const float *restrict root_m2, int64_t tail,
                                       double inv_sqrt_dof)
{
    double part[8];
    int64_t on_count[8];
    welford_lanes_out(part, on_count, lanes);
    for (int l = 0; l < tail; l++) {
        const double r = (double)root_m2[l];
        if (r != 0.0) {
            part[l] += (double)mean_abs[l] / (r * inv_sqrt_dof);
            on_count[l]++;
        }
    }
    welford_lanes_total(sum_out, nonzero_out, part, on_count);
}

/* The end of one chunk of WELFORD_LAST and WELFORD_REPLAY: its mean |g| and
 * root M2 (on the stack) into the lane sums, and the first ratio if this
 * chunk holds the block's first element with sigma != 0. Returns the first
 * element not taken (a partial group is left for welford_zico_finish). */
static inline int64_t welford_fold_chunk(welford_lanes_t *lanes, double *first, bool *found,
                                         const float *restrict out_abs, const float *restrict out_root, int64_t len,
                                         double inv_sqrt_dof)
{
    for (int64_t j = 0; !*found && j < len; j++)
        if (out_root[j] != 0.0f) {
            *first = (double)out_abs[j] / ((double)out_root[j] * inv_sqrt_dof);
            *found = true;
        }
    return welford_zico_groups(lanes, out_abs, out_root, 0, len, inv_sqrt_dof);
}

void WELFORD_ZICO(double *sum_out, int64_t *nonzero_out, const float *restrict mean_abs, const float *restrict root_m2,
                  int64_t count, double inv_sqrt_dof)
{
    welford_lanes_t lanes;
    welford_lanes_zero(&lanes);
    const int64_t j0 = welford_zico_groups(&lanes, mean_abs, root_m2, 0, count, inv_sqrt_dof);
    welford_zico_finish(sum_out, nonzero_out, &lanes, mean_abs + j0, root_m2 + j0, count - j0, inv_sqrt_dof);
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
    welford_lanes_t lanes;
    welford_lanes_zero(&lanes);
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
        done = welford_fold_chunk(&lanes, &first, &found, out_abs, out_root, len, inv_sqrt_dof);
    }
    /* only the block's last chunk can leave a partial group: its tail is
     * still in the buffers */
    welford_zico_finish(sum_out, nonzero_out, &lanes, out_abs + done, out_root + done, len - done, inv_sqrt_dof);
    *first_out = first;
    return bad;
}

/* A staged block's k batches (k = 2, 3 or 4) replayed in registers and
 * folded into ZiCo's reduction (welford.c, sigeo__welford_replay): the
 * first k - 1 gradients were only stored (g1 in mean, g2 in mean_abs, g3 in
 * root_m2: a copy each, where the updates read and wrote the whole state),
 * and each element now runs the very float operations of the first,
 * WELFORD_SECOND, WELFORD_KERNEL and WELFORD_LAST in that order, so the
 * lane sums, the first ratio and the final mean (stored in mean) are bit
 * for bit those of the update-by-update path. Only g is checked for
 * non-finite values (g1..g(k-1) were when stored). One thread; welford.c
 * splits large blocks into spans. */
/* One observation x folded into an element's (mean |g|, mean, root M2) in
 * registers: the operations of WELFORD_STEP_FROM, in its order. */
static inline void welford_replay_step(float *ma, float *m, float *r, float x, float inv_n, float keep)
{
    const float d = x - *m;
    *ma = *ma + ((x < 0.0f ? -x : x) - *ma) * inv_n;
    *m = *m + d * inv_n;
    *r = welford_scaled_root(*r, d, keep);
}

uint32_t WELFORD_REPLAY(double *sum_out, int64_t *nonzero_out, double *first_out, float *restrict mean,
                        const float *restrict g2, const float *restrict g3, const float *restrict g, int64_t count,
                        int k, double inv_sqrt_dof);

uint32_t WELFORD_REPLAY(double *sum_out, int64_t *nonzero_out, double *first_out, float *restrict mean,
                        const float *restrict g2, const float *restrict g3, const float *restrict g, int64_t count,
                        int k, double inv_sqrt_dof)
{
    enum { CHUNK = 1024 }; /* as WELFORD_LAST */
    float out_abs[CHUNK], out_root[CHUNK];
    /* 1/n and (n - 1)/n rounded as welford.c's inverse() and the kernels' keep */
    const float inv2 = (float)(1.0 / 2.0), inv3 = (float)(1.0 / 3.0), invk = (float)(1.0 / (double)k);
    const float keep2 = (float)(1.0 - (double)inv2), keep3 = (float)(1.0 - (double)inv3);
    const float keepk = (float)(1.0 - (double)invk);
    welford_lanes_t lanes;
    welford_lanes_zero(&lanes);
    double first = 0.0;
    bool found = false;
    uint32_t bad = 0;
    int64_t c0 = 0, len = 0, done = 0;
    for (; c0 < count; c0 += len) {
        len = count - c0 < CHUNK ? count - c0 : CHUNK;
        const float *restrict gc = g + c0;
        float *restrict mc = mean + c0;
        /* element j's state after the first observation: the mean is g1,
         * mean |g| its magnitude, root M2 zero (as WELFORD_SECOND takes them) */
#define REPLAY_LOOP(STEPS)                                                                                             \
    _Pragma("omp simd reduction(| : bad)") for (int64_t j = 0; j < len; j++)                                           \
    {                                                                                                                  \
        float m = mc[j], ma = fabsf(m), r = 0.0f;                                                                      \
        STEPS;                                                                                                         \
        const float x = gc[j];                                                                                         \
        bad |= welford_nonfinite(x);                                                                                   \
        welford_replay_step(&ma, &m, &r, x, invk, keepk);                                                              \
        out_abs[j] = ma;                                                                                               \
        mc[j] = m;                                                                                                     \
        out_root[j] = r;                                                                                               \
    }
        if (k == 2) {
            REPLAY_LOOP((void)0)
        } else if (k == 3) {
            const float *restrict g2c = g2 + c0;
            REPLAY_LOOP(welford_replay_step(&ma, &m, &r, g2c[j], inv2, keep2))
        } else {
            const float *restrict g2c = g2 + c0, *restrict g3c = g3 + c0;
            REPLAY_LOOP(welford_replay_step(&ma, &m, &r, g2c[j], inv2, keep2);
                        welford_replay_step(&ma, &m, &r, g3c[j], inv3, keep3))
        }
#undef REPLAY_LOOP
        done = welford_fold_chunk(&lanes, &first, &found, out_abs, out_root, len, inv_sqrt_dof);
    }
    welford_zico_finish(sum_out, nonzero_out, &lanes, out_abs + done, out_root + done, len - done, inv_sqrt_dof);
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
    welford_lanes_t lanes;
    welford_lanes_zero(&lanes);
    int64_t j0 = 0;
    for (; j0 + 8 <= count; j0 += 8)
        for (int p = 0; p < WELFORD_PARTS; p++) {
            const welford_vd ma = welford_load(mean_abs + j0 + p * WELFORD_W);
            const welford_vd mu = welford_load(mean + j0 + p * WELFORD_W);
            const welford_vd rt = welford_load(root_m2 + j0 + p * WELFORD_W);
            const welford_vd m2 = rt * rt + mu * mu * cross;
            const welford_vl on = m2 != 0.0;
            const welford_vd var = welford_guard(m2 * inv_dof, on);
            welford_vd sd;
            for (int l = 0; l < WELFORD_W; l++) /* lane by lane: the vectoriser makes it one root per register */
                sd[l] = sqrt(var[l]);
            welford_lanes_add(&lanes, p, (ma * keep) / sd, on);
        }
    double part[8];
    int64_t on_count[8];
    welford_lanes_out(part, on_count, &lanes);
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
