/* Pins lib/stats/welford.c: the per-parameter running mean |g|, mean and
 * M2 over k batch gradients, stored and updated in float, against
 * a two-pass double reference on long seeded streams; and the accumulator's
 * life cycle (compute leaves it alone, reset forgets it without allocating). */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigeo/stats.h"
#include "stats/stats_internal.h"
#include "guard_alloc.h"
#include "stats/welford.h"
#include "stats/welford_table.h"
#include "test_util.h"

enum { K = 1000, P = 10000 };

/* Element j draws offset_j + scale_j * U[-1, 1) in every batch. The four
 * classes cover a zero-mean gradient, a mean far from zero relative to its
 * spread (|offset| = 100 scale: the cancellation a naive sum-of-squares
 * suffers from), mixed signs with |g| != g, and tiny magnitudes. */
static void element_law(int64_t j, float *offset, float *scale)
{
    switch (j % 4) {
    case 0: *offset = 0.0f; *scale = 1.0f; break;
    case 1: *offset = 3.0f; *scale = 0.03f; break;
    case 2: *offset = -0.5f; *scale = 2.0f; break;
    default: *offset = 1e-4f; *scale = 3e-4f; break;
    }
}

/* Batch i of the stream: reproducible on its own from (seed, i). */
static void gen_batch(float *g, uint64_t seed, int i)
{
    tu_rng_t r = { seed * 1000003u + (uint64_t)i };
    for (int64_t j = 0; j < P; j++) {
        float off, sc;
        element_law(j, &off, &sc);
        g[j] = off + sc * tu_uniform_f(&r);
    }
}

typedef struct reference {
    double *mean, *mean_abs, *m2, *max_abs;
} reference_t;

/* Two passes in double: sums first, then squared deviations from the exact
 * mean. */
static reference_t two_pass(uint64_t seed, float *buf)
{
    reference_t ref;
    ref.mean = calloc(P, sizeof(double));
    ref.mean_abs = calloc(P, sizeof(double));
    ref.m2 = calloc(P, sizeof(double));
    ref.max_abs = calloc(P, sizeof(double));
    ck_assert(ref.mean && ref.mean_abs && ref.m2 && ref.max_abs);
    for (int i = 0; i < K; i++) {
        gen_batch(buf, seed, i);
        for (int64_t j = 0; j < P; j++) {
            const double x = (double)buf[j];
            ref.mean[j] += x;
            ref.mean_abs[j] += fabs(x);
            if (fabs(x) > ref.max_abs[j])
                ref.max_abs[j] = fabs(x);
        }
    }
    for (int64_t j = 0; j < P; j++) {
        ref.mean[j] /= K;
        ref.mean_abs[j] /= K;
    }
    for (int i = 0; i < K; i++) {
        gen_batch(buf, seed, i);
        for (int64_t j = 0; j < P; j++) {
            const double dv = (double)buf[j] - ref.mean[j];
            ref.m2[j] += dv * dv;
        }
    }
    return ref;
}

static void free_reference(reference_t *r)
{
    free(r->mean);
    free(r->mean_abs);
    free(r->m2);
    free(r->max_abs);
}

/* Tolerances. Every update computes in float (welford_kernel.h), u = 2^-24.
 *  - Running means: m_n = fl(m + fl(fl(x - m) * fl(1/n))). The step s =
 *    (x - m)/n comes out with relative error <= 3u (three roundings), the
 *    sum rounds once more: the error added at step n is |r_n| <= u |m_n| +
 *    3u |s| <= u max|x| (1 + 6/n). The error obeys e_n = (1 - 1/n) e_{n-1} +
 *    r_n, so e_k = sum_n (n/k) r_n and |e_k| <= ((k+1)/2 + 6) u max|x|
 *    (3.0e-5 max|x| for k = 1000): a rigorous first-order bound.
 *  - M2: the increment is d^2 (n - 1)/n, d = x - m'_{n-1} with m' the
 *    rounded running mean, m' = m + E (the kernel takes x - m_n as d (n-1)/n,
 *    so the rounding of m_n itself does not enter). To first order the error is -2 sum_n (1 -
 *    1/n)(x_n - m_{n-1}) E_{n-1}: a martingale (x_n is independent of
 *    E_{n-1}) whose standard deviation relative to M2 = k sigma^2 is about
 *    0.5 u |m| / sigma (E_n is dominated by the final rounding of each
 *    mean, u |m|, as with double arithmetic and float storage). The update
 *    of the root adds about 5 roundings per step ((n-1)/n, d (n-1)/n, the
 *    product, r^2 + it, the root), independent, about 5 sqrt(k/3) u / sqrt 3 in all.
 *    Allowing 8-12 standard deviations of each, per element:
 *        rtol = 6 u |m| / sigma + 24 sqrt(k/3) u
 *    (7e-5 for the |m| = 100 sigma/sqrt(3) class, 2.6e-5 for the others).
 * The test also runs the same stream through double arithmetic with float
 * storage (the kernel before 1.1, written out below) and prints both worst
 * errors: what float arithmetic loses, measured (bench/README.md). */
#define U_FLOAT 0x1.0p-24
#define MEAN_BOUND(max_abs) (((K + 1) / 2.0 + 6.0) * U_FLOAT * (max_abs))
static double m2_rtol(double mean, double m2)
{
    const double sigma = sqrt(m2 / K);
    return 6.0 * U_FLOAT * fabs(mean) / sigma + 24.0 * sqrt(K / 3.0) * U_FLOAT;
}

/* Double arithmetic, float storage: the reference for what float
 * arithmetic loses (not for correctness: the two-pass double is that). */
static void double_welford(float *mean_abs, float *mean, float *root_m2, const float *g, int64_t count, uint64_t n)
{
    const double inv_n = 1.0 / (double)n;
    for (int64_t j = 0; j < count; j++) {
        const double x = (double)g[j], old_mean = (double)mean[j], new_mean = old_mean + (x - old_mean) * inv_n;
        mean_abs[j] = (float)((double)mean_abs[j] + (fabs(x) - (double)mean_abs[j]) * inv_n);
        mean[j] = (float)new_mean;
        const double r = (double)root_m2[j];
        root_m2[j] = (float)sqrt(r * r + (x - old_mean) * (x - new_mean));
    }
}

START_TEST(welford_update_matches_a_two_pass_reference_on_a_long_stream)
{
    float *buf = malloc(P * sizeof(float));
    sigeo__welford_t w, dw;
    w.mean_abs = calloc(P, sizeof(float));
    w.mean = calloc(P, sizeof(float));
    w.root_m2 = calloc(P, sizeof(float));
    dw.mean_abs = calloc(P, sizeof(float));
    dw.mean = calloc(P, sizeof(float));
    dw.root_m2 = calloc(P, sizeof(float));
    ck_assert(buf && w.mean_abs && w.mean && w.root_m2 && dw.mean_abs && dw.mean && dw.root_m2);
    /* Two blocks at different offsets, as modules are laid out. */
    for (int i = 0; i < K; i++) {
        gen_batch(buf, 1, i);
        sigeo__welford_update(&w, 0, buf, 6000, (uint64_t)i + 1, 1);
        sigeo__welford_update(&w, 6000, buf + 6000, P - 6000, (uint64_t)i + 1, 2);
        double_welford(dw.mean_abs, dw.mean, dw.root_m2, buf, P, (uint64_t)i + 1);
    }
    reference_t ref = two_pass(1, buf);
    double worst[2][3] = { { 0 } }; /* [float, double arithmetic][mean, mean|g|, M2] relative to the bound */
    for (int64_t j = 0; j < P; j++) {
        ck_assert_near((double)w.mean[j], ref.mean[j], 0.0, MEAN_BOUND(ref.max_abs[j]));
        ck_assert_near((double)w.mean_abs[j], ref.mean_abs[j], 0.0, MEAN_BOUND(ref.max_abs[j]));
        const double rtol = m2_rtol(ref.mean[j], ref.m2[j]);
        ck_assert_near((double)w.root_m2[j] * (double)w.root_m2[j], ref.m2[j], rtol, 0.0);
        const sigeo__welford_t *v[2] = { &w, &dw };
        for (int a = 0; a < 2; a++) {
            const double e[3] = { fabs(v[a]->mean[j] - ref.mean[j]) / MEAN_BOUND(ref.max_abs[j]),
                                  fabs(v[a]->mean_abs[j] - ref.mean_abs[j]) / MEAN_BOUND(ref.max_abs[j]),
                                  fabs((double)v[a]->root_m2[j] * v[a]->root_m2[j] - ref.m2[j]) / (rtol * ref.m2[j]) };
            for (int q = 0; q < 3; q++)
                worst[a][q] = e[q] > worst[a][q] ? e[q] : worst[a][q];
        }
    }
    fprintf(stderr,
            "welford, k = %d: worst error / bound (mean, mean|g|, M2): float arithmetic %.3f %.3f %.3f, "
            "double arithmetic %.3f %.3f %.3f\n",
            K, worst[0][0], worst[0][1], worst[0][2], worst[1][0], worst[1][1], worst[1][2]);
    free_reference(&ref);
    free(w.mean_abs);
    free(w.mean);
    free(w.root_m2);
    free(dw.mean_abs);
    free(dw.mean);
    free(dw.root_m2);
    free(buf);
}
END_TEST

START_TEST(first_two_observations_are_exact)
{
    const float a[3] = { 0.75f, -2.0f, 5.0f }, b[3] = { -0.25f, -2.0f, 1.0f };
    float ma[3], mn[3], m2[3];
    sigeo__welford_t w = { ma, mn, m2 };
    /* the first observation stores only the mean (welford.h): whatever the
     * other two arrays hold must not leak into the second */
    memset(m2, 0x7f, sizeof m2);
    memset(ma, 0x7f, sizeof ma);
    sigeo__welford_update(&w, 0, a, 3, 1, 1);
    for (int j = 0; j < 3; j++)
        ck_assert_double_eq((double)mn[j], (double)a[j]);
    sigeo__welford_update(&w, 0, b, 3, 2, 1);
    /* mean (a+b)/2, mean|.| (|a|+|b|)/2, M2 (a-b)^2/2 (stored as its float-rounded root) */
    const float want_mean[3] = { 0.25f, -2.0f, 3.0f }, want_abs[3] = { 0.5f, 2.0f, 3.0f }, want_m2[3] = { 0.5f, 0.0f, 8.0f };
    for (int j = 0; j < 3; j++) {
        ck_assert_double_eq((double)mn[j], (double)want_mean[j]);
        ck_assert_double_eq((double)ma[j], (double)want_abs[j]);
        ck_assert_double_eq((double)m2[j], (double)(float)sqrt((double)want_m2[j]));
    }
}
END_TEST

START_TEST(stats_zico_matches_the_reference_on_a_long_stream)
{
    /* The same stream through the public API, three modules, ddof 0:
     * ratio_j = mean|g_j| / sqrt(M2_j / k), so its relative error is that of
     * mean|g| plus half that of M2. By the bounds above that is at most
     * 3e-5 max|x| / mean|g| + m2_rtol / 2, under 1.1e-4 for every class here
     * (max|x| / mean|g| <= 2.4, m2_rtol / 2 <= 3.5e-5), and sums of thousands
     * of ratios average these errors (independent roundings, both signs). Hence 1e-4 relative on each
     * module's sum of ratios and, summed over three logs, 3e-4 on zico. */
    static const char *const names[3] = { "emb", "fc", "bias" };
    static const int64_t counts[3] = { 5000, 4999, 1 };
    sigeo_stats_options_t o = tu_options(SIGEO_ZICO_MODULE_WISE, SIGEO_FR_EXACT, SIGEO_LOSS_MEAN, 0, 1, 0, 0);
    sigeo_stats_t *s = tu_stats_new(&o, 3, names, counts);
    float *buf = malloc(P * sizeof(float));
    ck_assert_ptr_nonnull(buf);
    for (int i = 0; i < K; i++) {
        gen_batch(buf, 2, i);
        const float *gp[3] = { buf, buf + 5000, buf + 9999 };
        ck_assert_int_eq(tu_add(s, 3, gp, counts, 0.0, 1, NULL), SIGEO_OK);
    }
    sigeo_stats_result_t r = tu_compute(s);
    reference_t ref = two_pass(2, buf);
    double want_sum[3] = { 0, 0, 0 };
    for (int64_t j = 0; j < P; j++) {
        const int m = j < 5000 ? 0 : j < 9999 ? 1 : 2;
        want_sum[m] += ref.mean_abs[j] / sqrt(ref.m2[j] / K);
    }
    double want_zico = 0.0;
    for (int m = 0; m < 3; m++) {
        sigeo_stats_module_info_t i = tu_info(s, m);
        ck_assert_int_eq(i.n_nonzero_sigma, counts[m]);
        ck_assert_near(i.ratio_sum, want_sum[m], 1e-4, 0.0);
        want_zico += log(want_sum[m]);
    }
    ck_assert_near(r.zico, want_zico, 0.0, 3e-4);
    ck_assert_uint_eq(r.n_batches, K);
    free_reference(&ref);
    free(buf);
    sigeo_stats_destroy(s);
}
END_TEST

/* ------------------------------------------------------------ life cycle */

static const char *const lc_names[2] = { "w", "b" };
static const int64_t lc_counts[2] = { 64, 8 };

/* Candidate `seed`: 4 batches of 5 samples with d_n, losses, and theta. */
typedef struct candidate {
    float w[4][64], b[4][8], tw[64], tb[8];
    double d[4][5], loss[4];
} candidate_t;

static void make_candidate(candidate_t *c, uint64_t seed)
{
    tu_rng_t r = { seed };
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 64; j++)
            c->w[i][j] = tu_uniform_f(&r);
        for (int j = 0; j < 8; j++)
            c->b[i][j] = tu_uniform_f(&r) * 0.1f;
        for (int n = 0; n < 5; n++)
            c->d[i][n] = tu_uniform01(&r) - 0.25;
        c->loss[i] = tu_uniform01(&r);
    }
    for (int j = 0; j < 64; j++)
        c->tw[j] = tu_uniform_f(&r);
    for (int j = 0; j < 8; j++)
        c->tb[j] = tu_uniform_f(&r);
}

static void feed_candidate(sigeo_stats_t *s, uint64_t seed, int from, int to)
{
    candidate_t c;
    make_candidate(&c, seed);
    for (int i = from; i < to; i++) {
        const float *gp[2] = { c.w[i], c.b[i] };
        ck_assert_int_eq(tu_add(s, 2, gp, lc_counts, c.loss[i], 5, c.d[i]), SIGEO_OK);
    }
    if (to == 4) {
        ck_assert_int_eq(sigeo_stats_set_params(s, 0, c.tw, 64), SIGEO_OK);
        ck_assert_int_eq(sigeo_stats_set_params(s, 1, c.tb, 8), SIGEO_OK);
    }
}

static sigeo_stats_options_t lc_options(void)
{
    sigeo_stats_options_t o = SIGEO_STATS_OPTIONS_INIT;
    o.lambda_preset = SIGEO_PRESET_RECSYS;
    return o;
}

static void assert_same_modules(const sigeo_stats_t *a, const sigeo_stats_t *b)
{
    for (int32_t m = 0; m < 2; m++) {
        sigeo_stats_module_info_t x = tu_info(a, m), y = tu_info(b, m);
        ck_assert_str_eq(x.name, y.name);
        x.name = y.name = NULL;
        ck_assert_msg(memcmp(&x, &y, sizeof x) == 0, "module %d info differs", (int)m);
    }
}

START_TEST(reset_then_reaccumulate_is_bit_identical_and_allocates_nothing)
{
    const sigeo_stats_options_t o = lc_options();
    sigeo_stats_t *s = tu_stats_new(&o, 2, lc_names, lc_counts);
    feed_candidate(s, 100, 0, 4);
    const sigeo_stats_result_t first = tu_compute(s);
    ck_assert_uint_eq(first.flags & SIGEO_STATS_HAS_THETA_DOT, SIGEO_STATS_HAS_THETA_DOT);
    uint64_t bytes0, blocks0;
    sigeo_memory_in_use(&bytes0, &blocks0);

    ck_assert_int_eq(sigeo_stats_reset(s), SIGEO_OK);
    feed_candidate(s, 200, 0, 4);
    const sigeo_stats_result_t second = tu_compute(s);
    ck_assert(memcmp(&first, &second, sizeof first) != 0);

    /* The second candidate on a reset handle equals it on a fresh one. */
    sigeo_stats_t *fresh = tu_stats_new(&o, 2, lc_names, lc_counts);
    feed_candidate(fresh, 200, 0, 4);
    const sigeo_stats_result_t second_fresh = tu_compute(fresh);
    ck_assert_msg(memcmp(&second, &second_fresh, sizeof second) == 0, "reset handle differs from a fresh one");
    assert_same_modules(s, fresh);
    sigeo_stats_destroy(fresh);

    uint64_t bytes1, blocks1;
    sigeo_memory_in_use(&bytes1, &blocks1);
    ck_assert_uint_eq(bytes1, bytes0);
    ck_assert_uint_eq(blocks1, blocks0);

    ck_assert_int_eq(sigeo_stats_reset(s), SIGEO_OK);
    feed_candidate(s, 100, 0, 4);
    const sigeo_stats_result_t again = tu_compute(s);
    ck_assert_msg(memcmp(&first, &again, sizeof first) == 0, "same candidate after reset: score %.17g vs %.17g",
                  first.score, again.score);
    sigeo_memory_in_use(&bytes1, &blocks1);
    ck_assert_uint_eq(bytes1, bytes0);
    ck_assert_uint_eq(blocks1, blocks0);
    sigeo_stats_destroy(s);
}
END_TEST

START_TEST(reset_forgets_params_and_batches)
{
    const sigeo_stats_options_t o = lc_options();
    sigeo_stats_t *s = tu_stats_new(&o, 2, lc_names, lc_counts);
    feed_candidate(s, 100, 0, 4);
    (void)tu_compute(s);
    ck_assert_int_eq(sigeo_stats_reset(s), SIGEO_OK);
    sigeo_stats_result_t r = SIGEO_STATS_RESULT_INIT;
    ck_assert_int_eq(sigeo_stats_compute(&r, s), SIGEO_ERR_INVALID_ARG); /* no batches */
    int32_t n = 0;
    ck_assert_int_eq(sigeo_stats_module_count(&n, s), SIGEO_OK);
    ck_assert_int_eq(n, 2); /* modules are kept */
    feed_candidate(s, 100, 0, 3);                                         /* no set_params this time */
    r = tu_compute(s);
    ck_assert_uint_eq(r.flags & SIGEO_STATS_HAS_THETA_DOT, 0);
    ck_assert_uint_eq(r.n_batches, 3);
    ck_assert_uint_eq(r.n_samples, 15);
    sigeo_stats_destroy(s);
}
END_TEST

START_TEST(compute_leaves_the_accumulator_alone)
{
    const sigeo_stats_options_t o = lc_options();
    sigeo_stats_t *a = tu_stats_new(&o, 2, lc_names, lc_counts);
    sigeo_stats_t *b = tu_stats_new(&o, 2, lc_names, lc_counts);
    feed_candidate(a, 300, 0, 2);
    (void)tu_compute(a);
    (void)tu_compute(a);
    feed_candidate(a, 300, 2, 4);
    feed_candidate(b, 300, 0, 4);
    const sigeo_stats_result_t ra = tu_compute(a), rb = tu_compute(b);
    ck_assert_msg(memcmp(&ra, &rb, sizeof ra) == 0, "an intermediate compute changed the result");
    assert_same_modules(a, b);
    sigeo_stats_destroy(a);
    sigeo_stats_destroy(b);
}
END_TEST

START_TEST(same_input_same_result_bit_for_bit)
{
    const sigeo_stats_options_t o = lc_options();
    sigeo_stats_t *a = tu_stats_new(&o, 2, lc_names, lc_counts);
    sigeo_stats_t *b = tu_stats_new(&o, 2, lc_names, lc_counts);
    feed_candidate(a, 400, 0, 4);
    feed_candidate(b, 400, 0, 4);
    const sigeo_stats_result_t ra = tu_compute(a), rb = tu_compute(b);
    ck_assert(memcmp(&ra, &rb, sizeof ra) == 0);
    sigeo_stats_destroy(a);
    sigeo_stats_destroy(b);
}
END_TEST

/* The build's ceiling (meson option max_isa, SIGEO__MAX_ISA) holds: no
 * kernel copy above it is handed out, whatever the CPU has, and the
 * baseline always is. On a CPU with AVX2 an avx2 build still uses it. It
 * can fail only where the CPU has what the ceiling forbids (an avx2 build
 * on an AVX-512 machine, as tests/run.sh's build-avx2 step on one). */
START_TEST(kernels_above_the_build_ceiling_are_never_chosen)
{
#ifndef SIGEO__MAX_ISA
    ck_abort_msg("SIGEO__MAX_ISA is not defined by the build");
#else
    ck_assert(sigeo__welford_kernel(SIGEO__WELFORD_BASE) != NULL);
    ck_assert(sigeo__zico_kernel(SIGEO__WELFORD_BASE) != NULL);
    if (SIGEO__MAX_ISA < 3) {
        ck_assert(sigeo__welford_kernel(SIGEO__WELFORD_AVX512) == NULL);
        ck_assert(sigeo__welford_second_kernel(SIGEO__WELFORD_AVX512) == NULL);
        ck_assert(sigeo__zico_kernel(SIGEO__WELFORD_AVX512) == NULL);
        ck_assert(sigeo__zico_row_kernel(SIGEO__WELFORD_AVX512) == NULL);
        ck_assert(sigeo__welford_last_kernel(SIGEO__WELFORD_AVX512) == NULL);
        /* the update in use is the AVX2 copy where that runs, else the baseline */
        welford_kernel_t avx2 = sigeo__welford_kernel(SIGEO__WELFORD_AVX2);
        ck_assert(sigeo__welford_widest() == (avx2 ? avx2 : sigeo__welford_kernel(SIGEO__WELFORD_BASE)));
    }
    if (SIGEO__MAX_ISA < 2)
        ck_assert(sigeo__welford_kernel(SIGEO__WELFORD_AVX2) == NULL);
#if defined(__GNUC__) && defined(__x86_64__)
    if (SIGEO__MAX_ISA >= 2 && __builtin_cpu_supports("avx2"))
        ck_assert(sigeo__welford_kernel(SIGEO__WELFORD_AVX2) != NULL);
#endif
#endif
}
END_TEST

/* Every instruction-set copy of the update loop and of ZiCo's block
 * reduction (welford_kernel.h) gives bit for bit the baseline x86-64 copy's
 * results, on one thread and on a
 * team of 2 (each element is updated on its own): values spanning 2^-60 ..
 * 2^60, zeros, denormal floats and both signs, block lengths that leave
 * every kind of vector tail. A kernel the CPU lacks is skipped (said so). */
START_TEST(every_isa_kernel_is_bit_identical_to_the_baseline)
{
    const sigeo__welford_isa_t isas[] = { SIGEO__WELFORD_AVX2, SIGEO__WELFORD_AVX512 };
    welford_kernel_t base = sigeo__welford_kernel(SIGEO__WELFORD_BASE);
    ck_assert(base != NULL);
    enum { N = 4099 };
    float *g = malloc(N * sizeof(float)), *st[2][3];
    ck_assert_ptr_nonnull(g);
    for (int v = 0; v < 2; v++)
        for (int a = 0; a < 3; a++)
            ck_assert_ptr_nonnull(st[v][a] = malloc(N * sizeof(float)));
    tu_rng_t rng = { 99 };
    int tried = 0;
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
        welford_kernel_t k = sigeo__welford_kernel(isas[i]);
        if (!k) {
            fprintf(stderr, "welford: ISA kernel %d not supported by this CPU, skipped\n", (int)isas[i]);
            continue;
        }
        tried++;
        for (int v = 0; v < 2; v++)
            for (int a = 0; a < 3; a++)
                memset(st[v][a], 0, N * sizeof(float));
        for (int n = 1; n <= 6; n++) {
            for (int j = 0; j < N; j++) {
                double e = ldexp(1.0, (int)(tu_next(&rng) % 121) - 60);
                float x = (float)((tu_uniform01(&rng) - 0.5) * e);
                g[j] = j % 97 == 0 ? 0.0f : j % 89 == 0 ? 1e-41f : x;
            }
            const int64_t len = N - n; /* a different tail each time */
            const int team = n % 2 ? 1 : 2;
            ck_assert_uint_eq(base(st[0][0], st[0][1], st[0][2], g, len, (float)(1.0 / n), 1), 0);
            ck_assert_uint_eq(k(st[1][0], st[1][1], st[1][2], g, len, (float)(1.0 / n), team), 0);
            for (int a = 0; a < 3; a++)
                ck_assert_msg(memcmp(st[0][a], st[1][a], N * sizeof(float)) == 0, "isa %d, n %d, array %d differs",
                              (int)isas[i], n, a);
            /* ZiCo's reduction over the same state, every tail length */
            zico_kernel_t zb = sigeo__zico_kernel(SIGEO__WELFORD_BASE), zk = sigeo__zico_kernel(isas[i]);
            ck_assert(zb && zk);
            double sb, sk;
            int64_t cb, ck;
            zb(&sb, &cb, st[0][0], st[0][2], len, 1.0 / sqrt((double)n));
            zk(&sk, &ck, st[1][0], st[1][2], len, 1.0 / sqrt((double)n));
            ck_assert_msg(memcmp(&sb, &sk, sizeof sb) == 0 && cb == ck, "isa %d, n %d: ZiCo reduction %.17g/%lld vs %.17g/%lld",
                          (int)isas[i], n, sk, (long long)ck, sb, (long long)cb);
            /* ... and a table row's, extended with zeros (a = n - 1 of k = n + 1 observations) */
            zico_row_kernel_t rb = sigeo__zico_row_kernel(SIGEO__WELFORD_BASE), rk = sigeo__zico_row_kernel(isas[i]);
            ck_assert(rb && rk);
            const double a = n - 1, kk = n + 1;
            rb(&sb, &cb, st[0][0], st[0][1], st[0][2], len, a / kk, a * (kk - a) / kk, 1.0 / kk);
            rk(&sk, &ck, st[1][0], st[1][1], st[1][2], len, a / kk, a * (kk - a) / kk, 1.0 / kk);
            ck_assert_msg(memcmp(&sb, &sk, sizeof sb) == 0 && cb == ck, "isa %d, n %d: row reduction differs",
                          (int)isas[i], n);
        }
    }
    fprintf(stderr, "welford: %d ISA kernels compared with the baseline\n", tried);
    free(g);
    for (int v = 0; v < 2; v++)
        for (int a = 0; a < 3; a++)
            free(st[v][a]);
}
END_TEST


/* The second observation's kernel (WELFORD_SECOND), on every ISA, the
 * baseline's too, on one thread and a team of 2: fed a block whose first
 * observation stored only its mean (mean |g| and root M2 hold garbage), it
 * gives bit for bit the baseline update on the fully stored first state
 * (|g|, g, 0). Values spanning 2^-60 .. 2^60, zeros of both signs,
 * denormals, every vector tail. And through sigeo__welford_update: k = 1,
 * 2, 3 observations equal the full-state updates bit for bit. */
START_TEST(second_observation_kernel_equals_the_update_on_the_stored_first)
{
    const sigeo__welford_isa_t isas[] = { SIGEO__WELFORD_BASE, SIGEO__WELFORD_AVX2, SIGEO__WELFORD_AVX512 };
    welford_kernel_t base = sigeo__welford_kernel(SIGEO__WELFORD_BASE);
    enum { N = 2063 };
    float *g1 = malloc(N * sizeof(float)), *g2 = malloc(N * sizeof(float)), *ref[3], *st[3];
    ck_assert(g1 && g2);
    for (int a = 0; a < 3; a++) {
        ck_assert_ptr_nonnull(ref[a] = malloc(N * sizeof(float)));
        ck_assert_ptr_nonnull(st[a] = malloc(N * sizeof(float)));
    }
    tu_rng_t rng = { 4242 };
    for (int j = 0; j < N; j++) {
        float *g[2] = { g1, g2 };
        for (int v = 0; v < 2; v++) {
            double e = ldexp(1.0, (int)(tu_next(&rng) % 121) - 60);
            float x = (float)((tu_uniform01(&rng) - 0.5) * e);
            g[v][j] = j % 97 == 0 ? 0.0f : j % 83 == 0 ? -0.0f : j % 89 == 0 ? 1e-41f : v && j % 13 == 0 ? g1[j] : x;
        }
    }
    int tried = 0;
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
        welford_kernel_t k = sigeo__welford_second_kernel(isas[i]);
        if (!k)
            continue;
        for (int team = 1; team <= 2; team++)
            for (int64_t len = N; len > N - 17; len -= 3) {
                for (int64_t j = 0; j < N; j++) {
                    ref[0][j] = fabsf(g1[j]), ref[1][j] = g1[j], ref[2][j] = 0.0f;
                    st[0][j] = NAN, st[1][j] = g1[j], st[2][j] = -1.0f;
                }
                ck_assert_uint_eq(base(ref[0], ref[1], ref[2], g2, len, 0.5f, 1), 0);
                ck_assert_uint_eq(k(st[0], st[1], st[2], g2, len, 0.5f, team), 0);
                for (int a = 0; a < 3; a++)
                    ck_assert_msg(memcmp(st[a], ref[a], (size_t)len * sizeof(float)) == 0,
                                  "isa %d team %d len %lld: array %d differs", (int)isas[i], team, (long long)len, a);
                tried++;
            }
    }
    ck_assert_int_gt(tried, 0);
    /* through the update, three observations */
    sigeo__welford_t w = { st[0], st[1], st[2] };
    for (int64_t j = 0; j < N; j++)
        ref[0][j] = fabsf(g1[j]), ref[1][j] = g1[j], ref[2][j] = 0.0f, st[0][j] = NAN, st[2][j] = NAN;
    ck_assert_uint_eq(sigeo__welford_update(&w, 0, g1, N, 1, 1), 0);
    ck_assert_uint_eq(sigeo__welford_update(&w, 0, g2, N, 2, 2), 0);
    ck_assert_uint_eq(base(ref[0], ref[1], ref[2], g2, N, 0.5f, 1), 0);
    ck_assert_uint_eq(sigeo__welford_update(&w, 0, g1, N, 3, 1), 0);
    ck_assert_uint_eq(base(ref[0], ref[1], ref[2], g1, N, (float)(1.0 / 3.0), 1), 0);
    for (int a = 0; a < 3; a++)
        ck_assert_msg(memcmp(st[a], ref[a], N * sizeof(float)) == 0, "update: array %d differs after 3", a);
    /* one observation, then materialised: exactly the stored first state */
    ck_assert_uint_eq(sigeo__welford_update(&w, 0, g2, N, 1, 1), 0);
    sigeo__welford_materialize_first(&w, 0, N);
    for (int64_t j = 0; j < N; j++) {
        const float want[3] = { fabsf(g2[j]), g2[j], 0.0f };
        for (int a = 0; a < 3; a++)
            ck_assert_msg(memcmp(&st[a][j], &want[a], sizeof(float)) == 0, "materialised array %d element %lld", a,
                          (long long)j);
    }
    free(g1);
    free(g2);
    for (int a = 0; a < 3; a++) {
        free(ref[a]);
        free(st[a]);
    }
}
END_TEST

/* What a fold of the state (mean |g|, root M2) must give: the baseline's
 * ZiCo reduction of it, and the first ratio with sigma != 0 computed here
 * (0 if none). */
static void reference_fold(double *sum, int64_t *count, double *first, const float *mean_abs, const float *root_m2,
                           int64_t len, double inv)
{
    sigeo__zico_kernel(SIGEO__WELFORD_BASE)(sum, count, mean_abs, root_m2, len, inv);
    *first = 0.0;
    for (int64_t j = 0; j < len; j++)
        if (root_m2[j] != 0.0f) {
            *first = (double)mean_abs[j] / ((double)root_m2[j] * inv);
            return;
        }
}

/* The last batch's fold (WELFORD_LAST) on every ISA, the baseline's too:
 * the sum and count of the baseline's update followed by its ZiCo
 * reduction, bit for bit, and the first ratio with sigma != 0 computed here
 * from that updated state; the mean stored as the update stores it, mean |g|
 * and root M2 left as they were. Values spanning 2^-60 .. 2^60, zeros,
 * denormals, lengths across the fold's 1024-element chunks with every tail,
 * and a zero-length block. */
START_TEST(last_batch_fold_is_the_update_then_the_reduction_on_every_isa)
{
    const sigeo__welford_isa_t isas[] = { SIGEO__WELFORD_BASE, SIGEO__WELFORD_AVX2, SIGEO__WELFORD_AVX512 };
    welford_kernel_t update = sigeo__welford_kernel(SIGEO__WELFORD_BASE);
    enum { N = 4107 };
    float *g = malloc(N * sizeof(float)), *st[3], *ref[3], *mean = malloc(N * sizeof(float));
    ck_assert_ptr_nonnull(g);
    ck_assert_ptr_nonnull(mean);
    for (int a = 0; a < 3; a++) {
        ck_assert_ptr_nonnull(st[a] = calloc(N, sizeof(float)));
        ck_assert_ptr_nonnull(ref[a] = malloc(N * sizeof(float)));
    }
    tu_rng_t rng = { 123 };
    int tried = 0;
    for (int n = 1; n <= 5; n++) {
        for (int j = 0; j < N; j++) {
            double e = ldexp(1.0, (int)(tu_next(&rng) % 121) - 60);
            float x = (float)((tu_uniform01(&rng) - 0.5) * e);
            g[j] = j % 97 == 0 ? 0.0f : j % 89 == 0 ? 1e-41f : j < 16 ? 0.5f : x; /* j < 16: sigma 0 */
        }
        if (n >= 2) {
            const int64_t lens[] = { N, N - n, 1024, 1023, 2049, 7, 0 };
            for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
                const int64_t len = lens[li];
                for (int a = 0; a < 3; a++)
                    memcpy(ref[a], st[a], N * sizeof(float));
                update(ref[0], ref[1], ref[2], g, len, (float)(1.0 / n), 1);
                const double inv = 1.0 / sqrt((double)n);
                double want_sum, want_first;
                int64_t want_count;
                reference_fold(&want_sum, &want_count, &want_first, ref[0], ref[2], len, inv);
                for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
                    welford_last_kernel_t k = sigeo__welford_last_kernel(isas[i]);
                    if (!k)
                        continue;
                    tried++;
                    memcpy(mean, st[1], N * sizeof(float));
                    double sum = -1, first = -1;
                    int64_t count = -1;
                    ck_assert_uint_eq(k(&sum, &count, &first, st[0], mean, st[2], g, len, (float)(1.0 / n), inv), 0);
                    ck_assert_msg(memcmp(&sum, &want_sum, sizeof sum) == 0 && count == want_count,
                                  "isa %d, n %d, len %lld: %.17g/%lld vs %.17g/%lld", (int)isas[i], n,
                                  (long long)len, sum, (long long)count, want_sum, (long long)want_count);
                    ck_assert_msg(memcmp(&first, &want_first, sizeof first) == 0, "isa %d: first ratio", (int)isas[i]);
                    ck_assert_msg(memcmp(mean, ref[1], N * sizeof(float)) == 0, "isa %d: mean", (int)isas[i]);
                }
            }
        }
        /* the state for the next n; the first observation fully stored (what WELFORD_SECOND assumes) */
        if (n == 1)
            for (int j = 0; j < N; j++)
                st[0][j] = fabsf(g[j]), st[1][j] = g[j], st[2][j] = 0.0f;
        else
            update(st[0], st[1], st[2], g, N, (float)(1.0 / n), 1);
    }
    ck_assert_int_gt(tried, 0);
    fprintf(stderr, "welford: last-batch fold compared %d times\n", tried);
    free(g);
    free(mean);
    for (int a = 0; a < 3; a++) {
        free(st[a]);
        free(ref[a]);
    }
}
END_TEST

/* The update loops report a non-finite gradient element in their own pass
 * (the fused path's validation): 1 for an infinity or a NaN anywhere in the
 * block (first, last, middle element, both signs; on one thread and a team
 * of 2), 0 for the largest finite floats and denormals, on every ISA, from
 * the first-observation path, the update and the last batch's fold. */
START_TEST(update_loops_report_a_nonfinite_element)
{
    const sigeo__welford_isa_t isas[] = { SIGEO__WELFORD_BASE, SIGEO__WELFORD_AVX2, SIGEO__WELFORD_AVX512 };
    enum { N = 2053 };
    float *g = malloc(N * sizeof(float)), *a = calloc(N, sizeof(float)), *m = calloc(N, sizeof(float)),
          *r = calloc(N, sizeof(float));
    ck_assert(g && a && m && r);
    const int64_t at[] = { 0, N - 1, 1000 };
    const float bad[] = { INFINITY, -INFINITY, NAN };
    for (int v = -1; v < 9; v++) {
        for (int j = 0; j < N; j++)
            g[j] = j % 3 ? 3.4028235e38f : j % 5 ? -1e-45f : 0.5f;
        if (v >= 0)
            g[at[v % 3]] = bad[v / 3];
        const uint32_t want = v >= 0;
        sigeo__welford_t w = { a, m, r };
        ck_assert_uint_eq(sigeo__welford_update(&w, 0, g, N, 1, 1), want);
        for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
            welford_kernel_t k = sigeo__welford_kernel(isas[i]);
            welford_last_kernel_t l = sigeo__welford_last_kernel(isas[i]);
            if (!k || !l)
                continue;
            ck_assert_uint_eq(k(a, m, r, g, N, 0.5f, 1), want);
            ck_assert_uint_eq(k(a, m, r, g, N, 0.5f, 2), want);
            double sum, first;
            int64_t count;
            ck_assert_uint_eq(l(&sum, &count, &first, a, m, r, g, N, 0.5f, 1.0), want);
        }
    }
    free(g);
    free(a);
    free(m);
    free(r);
}
END_TEST

/* ------------------------------------------------------------ fused batches
 * (stats_internal.h): module by module as a backward produces them. */

/* last: the fourth batch is declared the last (sigeo__stats_fuse_is_last). */
static void fuse_candidate(sigeo_stats_t *s, uint64_t seed, bool last)
{
    candidate_t c;
    make_candidate(&c, seed);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(sigeo__stats_fuse_begin(s, 5), SIGEO_OK);
        if (last && i == 3)
            sigeo__stats_fuse_is_last(s);
        /* the backward's order: last layer first */
        ck_assert_int_eq(sigeo__stats_fuse_module(s, 1, c.b[i], NULL, 0), SIGEO_OK);
        ck_assert(sigeo__stats_fuse_fed(s, 1) && !sigeo__stats_fuse_fed(s, 0));
        ck_assert_int_eq(sigeo__stats_fuse_module(s, 0, c.w[i], NULL, 0), SIGEO_OK);
        sigeo_stats_batch_t sb = SIGEO_STATS_BATCH_INIT;
        sb.batch_size = 5;
        sb.loss = c.loss[i];
        sb.directional = c.d[i];
        ck_assert_int_eq(sigeo__stats_fuse_end(s, &sb), SIGEO_OK);
    }
    ck_assert_int_eq(sigeo_stats_set_params(s, 0, c.tw, 64), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_set_params(s, 1, c.tb, 8), SIGEO_OK);
}

START_TEST(fused_batches_equal_add_batch_bit_for_bit_and_fail_cleanly)
{
    const sigeo_stats_options_t o = lc_options();
    sigeo_stats_t *a = tu_stats_new(&o, 2, lc_names, lc_counts);
    sigeo_stats_t *f = tu_stats_new(&o, 2, lc_names, lc_counts);
    ck_assert(sigeo__stats_fuse_wanted(f));
    feed_candidate(a, 500, 0, 4);
    fuse_candidate(f, 500, false);
    const sigeo_stats_result_t ra = tu_compute(a), rf = tu_compute(f);
    ck_assert_msg(memcmp(&ra, &rf, sizeof ra) == 0, "fused %.17g vs add_batch %.17g", rf.score, ra.score);
    assert_same_modules(a, f);

    /* a non-finite gradient: named, and the handle refuses until reset */
    ck_assert_int_eq(sigeo_stats_reset(f), SIGEO_OK);
    float bad[64] = { 0 };
    bad[5] = NAN;
    ck_assert_int_eq(sigeo__stats_fuse_begin(f, 5), SIGEO_OK);
    ck_assert_int_eq(sigeo__stats_fuse_module(f, 0, bad, NULL, 0), SIGEO_ERR_NONFINITE);
    ck_assert_str_contains(sigeo_stats_last_error(f), "module 'w'");
    ck_assert_str_contains(sigeo_stats_last_error(f), "element 5");
    const float *gp[2] = { bad, bad };
    bad[5] = 0.0f;
    ck_assert_int_eq(tu_add(f, 2, gp, lc_counts, 0.5, 5, NULL), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_stats_last_error(f), "failed half-way");
    sigeo_stats_result_t r = SIGEO_STATS_RESULT_INIT;
    ck_assert_int_eq(sigeo_stats_compute(&r, f), SIGEO_ERR_INVALID_ARG);
    /* misuse: out of turn, twice, a module left out, an open batch */
    ck_assert_int_eq(sigeo_stats_reset(f), SIGEO_OK);
    ck_assert_int_eq(sigeo__stats_fuse_module(f, 0, bad, NULL, 0), SIGEO_ERR_INTERNAL);
    ck_assert_int_eq(sigeo__stats_fuse_begin(f, 5), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_compute(&r, f), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_stats_last_error(f), "still open");
    ck_assert_int_eq(sigeo__stats_fuse_module(f, 0, bad, NULL, 0), SIGEO_OK);
    ck_assert_int_eq(sigeo__stats_fuse_module(f, 0, bad, NULL, 0), SIGEO_ERR_INTERNAL);
    ck_assert_int_eq(sigeo__stats_fuse_module(f, 2, bad, NULL, 0), SIGEO_ERR_INTERNAL);
    sigeo_stats_batch_t sb = SIGEO_STATS_BATCH_INIT;
    sb.batch_size = 5;
    ck_assert_int_eq(sigeo__stats_fuse_end(f, &sb), SIGEO_ERR_INTERNAL);
    ck_assert_str_contains(sigeo_stats_last_error(f), "module 'b' was not folded in");
    /* a bad scalar at the end breaks the batch too */
    ck_assert_int_eq(sigeo_stats_reset(f), SIGEO_OK);
    ck_assert_int_eq(sigeo__stats_fuse_begin(f, 5), SIGEO_OK);
    ck_assert_int_eq(sigeo__stats_fuse_module(f, 0, bad, NULL, 0), SIGEO_OK);
    ck_assert_int_eq(sigeo__stats_fuse_module(f, 1, bad, NULL, 0), SIGEO_OK);
    sb.loss = INFINITY;
    ck_assert_int_eq(sigeo__stats_fuse_end(f, &sb), SIGEO_ERR_NONFINITE);
    ck_assert_int_eq(sigeo_stats_compute(&r, f), SIGEO_ERR_INVALID_ARG);
    /* reset: usable, and the same as a fresh handle */
    ck_assert_int_eq(sigeo_stats_reset(f), SIGEO_OK);
    fuse_candidate(f, 500, false);
    const sigeo_stats_result_t again = tu_compute(f);
    ck_assert(memcmp(&ra, &again, sizeof ra) == 0);
    sigeo_stats_destroy(a);
    sigeo_stats_destroy(f);
}
END_TEST

/* The declared last batch goes straight into ZiCo's reduction (stats.c,
 * sigeo__zico_fold_last): the same result and module info bit for bit as
 * add_batch (the RecSys preset's reference FR also reads the means, theta .
 * mean), compute repeatable; then the handle is sealed (add_batch and
 * fuse_begin refuse, naming why) until a reset, after which it is as new. */
START_TEST(declared_last_fused_batch_equals_add_batch_and_seals)
{
    const sigeo_stats_options_t o = lc_options();
    sigeo_stats_t *a = tu_stats_new(&o, 2, lc_names, lc_counts);
    sigeo_stats_t *f = tu_stats_new(&o, 2, lc_names, lc_counts);
    feed_candidate(a, 501, 0, 4);
    fuse_candidate(f, 501, true);
    const sigeo_stats_result_t ra = tu_compute(a), rf = tu_compute(f), rf2 = tu_compute(f);
    ck_assert_msg(memcmp(&ra, &rf, sizeof ra) == 0, "folded %.17g vs add_batch %.17g", rf.score, ra.score);
    ck_assert(memcmp(&rf, &rf2, sizeof rf) == 0);
    assert_same_modules(a, f);
    float g[64] = { 0 };
    const float *gp[2] = { g, g };
    ck_assert_int_eq(tu_add(f, 2, gp, lc_counts, 0.5, 5, NULL), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_stats_last_error(f), "declared the last");
    ck_assert_int_eq(sigeo__stats_fuse_begin(f, 5), SIGEO_ERR_INVALID_ARG);
    const sigeo_stats_result_t rf3 = tu_compute(f); /* the refusals changed nothing */
    ck_assert(memcmp(&rf, &rf3, sizeof rf) == 0);
    /* a NaN in the declared last batch: found by the fold's own pass, named */
    ck_assert_int_eq(sigeo_stats_reset(f), SIGEO_OK);
    feed_candidate(f, 501, 0, 3);
    g[63] = NAN;
    ck_assert_int_eq(sigeo__stats_fuse_begin(f, 5), SIGEO_OK);
    sigeo__stats_fuse_is_last(f);
    ck_assert_int_eq(sigeo__stats_fuse_module(f, 0, g, NULL, 0), SIGEO_ERR_NONFINITE);
    ck_assert_str_contains(sigeo_stats_last_error(f), "module 'w'");
    ck_assert_str_contains(sigeo_stats_last_error(f), "element 63");
    ck_assert_str_contains(sigeo_stats_last_error(f), "batch 3");
    sigeo_stats_result_t r = SIGEO_STATS_RESULT_INIT;
    ck_assert_int_eq(sigeo_stats_compute(&r, f), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_stats_last_error(f), "failed half-way");
    ck_assert_int_eq(sigeo_stats_reset(f), SIGEO_OK);
    feed_candidate(f, 501, 0, 4); /* by add_batch: every state the fold left stale is rewritten */
    const sigeo_stats_result_t again = tu_compute(f);
    ck_assert(memcmp(&ra, &again, sizeof ra) == 0);
    sigeo_stats_destroy(a);
    sigeo_stats_destroy(f);
}
END_TEST

/* Batches i = 0..k-1 of three modules (gradients back to back in buf, a
 * batch every `total` floats) into `a` by add_batch and into `f` as fused
 * batches, the last declared the last, modules in a backward's order. */
static void add_and_fuse(sigeo_stats_t *a, sigeo_stats_t *f, const float *buf, int64_t total, const int64_t counts[3],
                         int k)
{
    for (int i = 0; i < k; i++) {
        const float *b = buf + (int64_t)i * total;
        const float *gp[3] = { b, b + counts[0], b + counts[0] + counts[1] };
        ck_assert_int_eq(tu_add(a, 3, gp, counts, 0.25 * i, 2, NULL), SIGEO_OK);
        ck_assert_int_eq(sigeo__stats_fuse_begin(f, 2), SIGEO_OK);
        if (i + 1 == k)
            sigeo__stats_fuse_is_last(f);
        for (int m = 2; m >= 0; m--)
            ck_assert_int_eq(sigeo__stats_fuse_module(f, m, gp[m], NULL, 0), SIGEO_OK);
        sigeo_stats_batch_t sb = SIGEO_STATS_BATCH_INIT;
        sb.batch_size = 2;
        sb.loss = 0.25 * i;
        ck_assert_int_eq(sigeo__stats_fuse_end(f, &sb), SIGEO_OK);
    }
}

/* The two handles' results and every module's info (but the name pointer)
 * bit for bit equal. */
static void assert_same_stats(sigeo_stats_t *a, sigeo_stats_t *f, const char *what)
{
    const sigeo_stats_result_t ra = tu_compute(a), rf = tu_compute(f);
    ck_assert_msg(memcmp(&ra, &rf, sizeof ra) == 0, "%s: zico %.17g vs add_batch %.17g", what, rf.zico, ra.zico);
    for (int m = 0; m < 3; m++) {
        sigeo_stats_module_info_t ia = tu_info(a, m), i_f = tu_info(f, m);
        ia.name = i_f.name = NULL;
        ck_assert_msg(memcmp(&ia, &i_f, sizeof ia) == 0, "%s: module %d differs", what, m);
    }
}

/* Blocks longer than the fold's chunk (1024) with every tail length, k = 2,
 * 3, 5 and ddof 0 and 1, a module of one element, zero gradients (sigma 0)
 * in places: declared-last fused batches against add_batch, bit for bit. */
START_TEST(declared_last_fold_on_long_blocks_equals_add_batch)
{
    static const char *const names[3] = { "big", "odd", "one" };
    static const int64_t counts[3] = { 3001, 1029, 1 };
    enum { TOTAL = 3001 + 1029 + 1 };
    float *buf = malloc(5 * TOTAL * sizeof(float));
    ck_assert_ptr_nonnull(buf);
    tu_rng_t rng = { 7 };
    for (int64_t j = 0; j < 5 * TOTAL; j++)
        buf[j] = (j % TOTAL) % 13 == 0 ? 0.25f : (j % TOTAL) < 40 ? 0.0f : tu_uniform_f(&rng);
    for (uint32_t ddof = 0; ddof <= 1; ddof++)
        for (int k = 2; k <= 5; k += k == 3 ? 2 : 1) {
            const sigeo_stats_options_t o =
                tu_options(SIGEO_ZICO_MODULE_WISE, SIGEO_FR_EXACT, SIGEO_LOSS_MEAN, ddof, 1, 0, 0);
            if ((uint32_t)k <= ddof)
                continue;
            sigeo_stats_t *a = tu_stats_new(&o, 3, names, counts);
            sigeo_stats_t *f = tu_stats_new(&o, 3, names, counts);
            add_and_fuse(a, f, buf, TOTAL, counts, k);
            char what[64];
            snprintf(what, sizeof what, "k %d ddof %u", k, ddof);
            assert_same_stats(a, f, what);
            sigeo_stats_destroy(a);
            sigeo_stats_destroy(f);
        }
    free(buf);
}
END_TEST

/* Gradients for the staged tests: magnitudes over 2^-60..2^60 (the scaled
 * root's range), exact zeros and a repeated value (sigma 0) in places. */
static void staged_values(float *g, int64_t n, tu_rng_t *rng, int batch)
{
    for (int64_t j = 0; j < n; j++) {
        const double e = ldexp(1.0, (int)(tu_next(rng) % 121) - 60);
        const float x = (float)((tu_uniform01(rng) - 0.5) * e);
        g[j] = j % 101 == 0 ? 0.0f : j % 89 == 0 ? 0.75f : j % 83 == 0 ? (batch ? 1e-41f : -1e-41f) : x;
    }
}

/* The staged replay kernel (welford_kernel.h, WELFORD_REPLAY) of every ISA
 * against the update-by-update path built from the baseline kernels (the
 * first observation stored, WELFORD_SECOND, WELFORD_KERNEL, then the
 * reduction): the same lane sums, count, first ratio and final mean, bit for
 * bit, for k = 2, 3, 4 and lengths around the chunk (1024) and the lanes (8);
 * a non-finite value in the last batch is reported. */
START_TEST(staged_replay_kernel_is_the_updates_then_the_reduction_on_every_isa)
{
    const sigeo__welford_isa_t isas[] = { SIGEO__WELFORD_BASE, SIGEO__WELFORD_AVX2, SIGEO__WELFORD_AVX512 };
    enum { N = 5000 };
    float *g[4], *ref[3], *stage[3];
    for (int b = 0; b < 4; b++)
        ck_assert_ptr_nonnull(g[b] = malloc(N * sizeof(float)));
    for (int a = 0; a < 3; a++) {
        ck_assert_ptr_nonnull(ref[a] = malloc(N * sizeof(float)));
        ck_assert_ptr_nonnull(stage[a] = malloc(N * sizeof(float)));
    }
    tu_rng_t rng = { 99 };
    for (int b = 0; b < 4; b++)
        staged_values(g[b], N, &rng, b);
    welford_kernel_t second = sigeo__welford_second_kernel(SIGEO__WELFORD_BASE);
    welford_kernel_t update = sigeo__welford_kernel(SIGEO__WELFORD_BASE);
    int tried = 0;
    const int64_t lens[] = { N, 1024, 1023, 2049, 7, 1, 0 };
    for (int k = 2; k <= 4; k++)
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            const int64_t len = lens[li];
            /* the reference: k updates (inv_n and keep as welford.c rounds them), then the reduction */
            memcpy(ref[1], g[0], N * sizeof(float));
            for (int b = 2; b <= k; b++)
                (b == 2 ? second : update)(ref[0], ref[1], ref[2], g[b - 1], len, (float)(1.0 / b), 1);
            const double inv = 1.0 / sqrt((double)k);
            double want_sum, want_first;
            int64_t want_count;
            reference_fold(&want_sum, &want_count, &want_first, ref[0], ref[2], len, inv);
            for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
                welford_replay_kernel_t rp = sigeo__welford_replay_kernel(isas[i]);
                if (!rp)
                    continue;
                tried++;
                memcpy(stage[1], g[0], N * sizeof(float)); /* g1 in mean, g2 in mean_abs, g3 in root_m2 */
                memcpy(stage[0], g[1], N * sizeof(float));
                memcpy(stage[2], g[2], N * sizeof(float));
                double sum = -1, first = -1;
                int64_t count = -1;
                ck_assert_uint_eq(rp(&sum, &count, &first, stage[1], stage[0], stage[2], g[k - 1], len, k, inv), 0);
                ck_assert_msg(memcmp(&sum, &want_sum, sizeof sum) == 0 && count == want_count,
                              "isa %d, k %d, len %lld: %.17g/%lld vs %.17g/%lld", (int)isas[i], k, (long long)len,
                              sum, (long long)count, want_sum, (long long)want_count);
                ck_assert_msg(memcmp(&first, &want_first, sizeof first) == 0, "isa %d k %d: first", (int)isas[i], k);
                ck_assert_msg(memcmp(stage[1], ref[1], (size_t)len * sizeof(float)) == 0, "isa %d k %d: mean",
                              (int)isas[i], k);
                /* a NaN in the last batch is reported */
                if (len > 3) {
                    memcpy(stage[1], g[0], N * sizeof(float));
                    const float keep = g[k - 1][3];
                    g[k - 1][3] = NAN;
                    ck_assert_uint_eq(rp(&sum, &count, &first, stage[1], stage[0], stage[2], g[k - 1], len, k, inv),
                                      1);
                    g[k - 1][3] = keep;
                }
            }
        }
    ck_assert_int_gt(tried, 20);
    for (int b = 0; b < 4; b++)
        free(g[b]);
    for (int a = 0; a < 3; a++) {
        free(ref[a]);
        free(stage[a]);
    }
}
END_TEST

/* Staged fused batches (stats_internal.h, sigeo__stats_fuse_plan): modules
 * whose state passes the staging threshold (4 MiB), one of them several
 * spans long with a tail, give the add_batch result and module info bit for
 * bit, for k = 2, 3, 4 (staged) and 5 (not), ddof 0 and 1, on one thread and
 * on a team of 2 (FIXED policy: the replay's spans in parallel). A batch
 * against the plan fails and breaks the handle; add_batch on a planned
 * handle is refused; a reset forgets the plan. */
START_TEST(staged_fused_batches_equal_add_batch_bit_for_bit)
{
    static const char *const names[3] = { "big", "mid", "one" };
    static const int64_t counts[3] = { 3 * 65536 + 4099, 150001, 1 };
    enum { TOTAL = 3 * 65536 + 4099 + 150001 + 1, K_MAX = 5 };
    float *buf = malloc((size_t)K_MAX * TOTAL * sizeof(float));
    ck_assert_ptr_nonnull(buf);
    tu_rng_t rng = { 4242 };
    for (int b = 0; b < K_MAX; b++)
        staged_values(buf + (int64_t)b * TOTAL, TOTAL, &rng, b);
    sigeo_context_t *ctx[2] = { NULL, NULL };
    for (int c = 0; c < 2; c++) {
        sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
        co.threads = c ? 2 : 1;
        co.thread_policy = SIGEO_THREADS_FIXED;
        ck_assert_int_eq(sigeo_context_create(&ctx[c], &co), SIGEO_OK);
    }
    for (int c = 0; c < 2; c++)
        for (uint32_t ddof = 0; ddof <= 1; ddof++)
            for (int k = 2; k <= K_MAX; k++) {
                sigeo_stats_options_t o =
                    tu_options(SIGEO_ZICO_MODULE_WISE, SIGEO_FR_EXACT, SIGEO_LOSS_MEAN, ddof, 1, 0, 0);
                if ((uint32_t)k <= ddof)
                    continue;
                sigeo_stats_t *a = tu_stats_new(&o, 3, names, counts), *f = NULL;
                ck_assert_int_eq(sigeo_stats_create(&f, ctx[c], &o), SIGEO_OK);
                for (int m = 0; m < 3; m++)
                    ck_assert_int_eq(sigeo_stats_add_module(NULL, f, names[m], counts[m]), SIGEO_OK);
                sigeo__stats_fuse_plan(f, (uint64_t)k);
                add_and_fuse(a, f, buf, TOTAL, counts, k);
                char what[64];
                snprintf(what, sizeof what, "team %d k %d ddof %u", c + 1, k, ddof);
                assert_same_stats(a, f, what);
                const sigeo_stats_result_t ra = tu_compute(a);
                /* against the plan: the 2nd of 3 declared the last; add_batch on a planned handle */
                if (k == 3 && c == 0) {
                    ck_assert_int_eq(sigeo_stats_reset(f), SIGEO_OK);
                    sigeo__stats_fuse_plan(f, 3);
                    const float *gp[3] = { buf, buf + counts[0], buf + counts[0] + counts[1] };
                    ck_assert_int_eq(tu_add(f, 3, gp, counts, 0.0, 2, NULL), SIGEO_ERR_INVALID_ARG);
                    ck_assert_str_contains(sigeo_stats_last_error(f), "planned");
                    for (int i = 0; i < 2; i++) {
                        ck_assert_int_eq(sigeo__stats_fuse_begin(f, 2), SIGEO_OK);
                        if (i == 1)
                            sigeo__stats_fuse_is_last(f);
                        const sigeo_status_t want = i == 1 ? SIGEO_ERR_INTERNAL : SIGEO_OK;
                        ck_assert_int_eq(sigeo__stats_fuse_module(f, 2, gp[2], NULL, 0), want);
                        if (i == 1)
                            break;
                        ck_assert_int_eq(sigeo__stats_fuse_module(f, 1, gp[1], NULL, 0), SIGEO_OK);
                        ck_assert_int_eq(sigeo__stats_fuse_module(f, 0, gp[0], NULL, 0), SIGEO_OK);
                        sigeo_stats_batch_t sb = SIGEO_STATS_BATCH_INIT;
                        sb.batch_size = 2;
                        ck_assert_int_eq(sigeo__stats_fuse_end(f, &sb), SIGEO_OK);
                    }
                    ck_assert_str_contains(sigeo_stats_last_error(f), "of 3 planned");
                    sigeo_stats_result_t r = SIGEO_STATS_RESULT_INIT;
                    ck_assert_int_eq(sigeo_stats_compute(&r, f), SIGEO_ERR_INVALID_ARG);
                    /* a reset forgets the plan: add_batch works, and gives a's result */
                    ck_assert_int_eq(sigeo_stats_reset(f), SIGEO_OK);
                    for (int i = 0; i < k; i++) {
                        const float *b = buf + (int64_t)i * TOTAL;
                        const float *gq[3] = { b, b + counts[0], b + counts[0] + counts[1] };
                        ck_assert_int_eq(tu_add(f, 3, gq, counts, 0.25 * i, 2, NULL), SIGEO_OK);
                    }
                    const sigeo_stats_result_t again = tu_compute(f);
                    ck_assert(memcmp(&ra, &again, sizeof ra) == 0);
                }
                sigeo_stats_destroy(a);
                sigeo_stats_destroy(f);
            }
    for (int c = 0; c < 2; c++)
        sigeo_context_destroy(ctx[c]);
    free(buf);
}
END_TEST

/* A non-finite element in a touched row of a fused table module is found by
 * the rows' update pass (no separate scan) and named with its row and
 * element; an untouched row's garbage is never read; the handle is broken
 * until a reset, then usable. */
START_TEST(fused_table_row_nonfinite_is_named)
{
    sigeo_stats_options_t o = tu_options(SIGEO_ZICO_MODULE_WISE, SIGEO_FR_EXACT, SIGEO_LOSS_MEAN, 0, 1, 0, 0);
    sigeo_stats_t *s;
    ck_assert_int_eq(sigeo_stats_create(&s, NULL, &o), SIGEO_OK);
    ck_assert_int_eq(sigeo_stats_add_table_module(NULL, s, "emb", 6, 4), SIGEO_OK);
    float g[24];
    for (int j = 0; j < 24; j++)
        g[j] = 0.25f * (float)(j % 7) - 0.5f;
    g[5 * 4 + 1] = NAN; /* row 5, never touched */
    const int64_t rows[3] = { 0, 3, 2 };
    for (int b = 0; b < 2; b++) {
        ck_assert_int_eq(sigeo__stats_fuse_begin(s, 2), SIGEO_OK);
        if (b == 1)
            g[3 * 4 + 2] = -INFINITY; /* row 3, element 2 */
        const sigeo_status_t st = sigeo__stats_fuse_module(s, 0, g, rows, 3);
        if (b == 0) {
            ck_assert_msg(st == SIGEO_OK, "%s", sigeo_stats_last_error(s));
            sigeo_stats_batch_t sb = SIGEO_STATS_BATCH_INIT;
            sb.batch_size = 2;
            ck_assert_int_eq(sigeo__stats_fuse_end(s, &sb), SIGEO_OK);
        } else {
            ck_assert_int_eq(st, SIGEO_ERR_NONFINITE);
            ck_assert_str_contains(sigeo_stats_last_error(s), "table 'emb' row 3 element 2");
            ck_assert_str_contains(sigeo_stats_last_error(s), "batch 1");
        }
    }
    sigeo_stats_result_t r = SIGEO_STATS_RESULT_INIT;
    ck_assert_int_eq(sigeo_stats_compute(&r, s), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_stats_reset(s), SIGEO_OK);
    g[3 * 4 + 2] = 1.0f;
    for (int b = 0; b < 2; b++) {
        ck_assert_int_eq(sigeo__stats_fuse_begin(s, 2), SIGEO_OK);
        ck_assert_int_eq(sigeo__stats_fuse_module(s, 0, g, rows, 3 - b), SIGEO_OK);
        sigeo_stats_batch_t sb = SIGEO_STATS_BATCH_INIT;
        sb.batch_size = 2;
        ck_assert_int_eq(sigeo__stats_fuse_end(s, &sb), SIGEO_OK);
    }
    ck_assert_int_eq(sigeo_stats_compute(&r, s), SIGEO_OK);
    ck_assert(isfinite(r.zico));
    sigeo_stats_destroy(s);
}
END_TEST

/* The Fisher-Rao-only path: promised no theta, lambda1 = 0 and the exact
 * estimator, the handle allocates no accumulators and reads no gradient
 * (NaN gradients pass); fr = sum d_n^2 / N as computed here. With ZiCo or a
 * reference estimator the accumulators come back. */
START_TEST(fisher_rao_only_keeps_no_statistics)
{
    sigeo_stats_options_t o = tu_options(SIGEO_ZICO_MODULE_WISE, SIGEO_FR_EXACT, SIGEO_LOSS_MEAN, 0, 0, 1, 1);
    sigeo_stats_t *s = tu_stats_new(&o, 2, lc_names, lc_counts);
    sigeo__stats_promise_no_theta(s, true);
    ck_assert(!sigeo__stats_fuse_wanted(s));
    float w[64], b[8];
    for (int j = 0; j < 64; j++)
        w[j] = NAN;
    for (int j = 0; j < 8; j++)
        b[j] = NAN;
    const float *gp[2] = { w, b };
    const double d[2][3] = { { 0.5, -1.0, 2.0 }, { 0.25, 3.0, -0.5 } };
    uint64_t bytes0, bytes1;
    sigeo_memory_in_use(&bytes0, NULL);
    ck_assert_int_eq(tu_add(s, 2, gp, lc_counts, 1.5, 3, d[0]), SIGEO_OK);
    ck_assert_int_eq(tu_add(s, 2, gp, lc_counts, 2.5, 3, d[1]), SIGEO_OK);
    sigeo_memory_in_use(&bytes1, NULL);
    ck_assert_uint_eq(bytes1, bytes0);
    sigeo_stats_result_t r = tu_compute(s);
    double sq = 0.0;
    for (int i = 0; i < 2; i++)
        for (int n = 0; n < 3; n++)
            sq += d[i][n] * d[i][n];
    ck_assert_near(r.fr, sq / 6.0, 1e-15, 0.0);
    ck_assert_near(r.score, log(sq / 6.0) - 2.0, 1e-14, 0.0);
    ck_assert(r.flags & SIGEO_STATS_NO_ZICO);
    ck_assert(r.zico == 0.0 && r.n_modules_skipped == 2);
    float theta[64] = { 0 };
    ck_assert_int_eq(sigeo_stats_set_params(s, 0, theta, 64), SIGEO_ERR_INTERNAL);
    /* a wrong shape is still refused (only the values are not read) */
    const int64_t wrong[2] = { 63, 8 };
    ck_assert_int_eq(tu_add(s, 2, gp, wrong, 1.0, 3, d[0]), SIGEO_ERR_SHAPE);
    /* without the promise the same options keep the statistics */
    sigeo__stats_promise_no_theta(s, false);
    ck_assert(sigeo__stats_fuse_wanted(s));
    ck_assert_int_eq(sigeo_stats_reset(s), SIGEO_OK);
    ck_assert_int_eq(tu_add(s, 2, gp, lc_counts, 1.5, 3, d[0]), SIGEO_ERR_NONFINITE);
    sigeo_stats_destroy(s);
}
END_TEST


/* The table store's growth under failing allocations while slots are
 * live: every allocation of a reserve that has to grow fails in turn, and
 * each failure leaves the slots, their rows, counts and state, and the
 * capacity exactly as they were; the reserve that goes through keeps them
 * too (copied), and a fold after it finds every old row in its slot. */
START_TEST(table_store_growth_failure_keeps_the_live_slots)
{
    enum { ROWS = 5000, D = 3, FIRST = 300, MORE = 700 };
    guard_reset();
    sigeo_allocator_t a = guard_allocator();
    ck_assert_int_eq(sigeo_set_allocator(&a), SIGEO_OK); /* before any block: the library's blocks are its */
    sigeo__welford_table_t t;
    ck_assert(sigeo__welford_table_init(&t, ROWS, D));
    float *g = calloc((size_t)ROWS * D, sizeof(float));
    int64_t rows[FIRST];
    ck_assert_ptr_nonnull(g);
    for (int64_t i = 0; i < FIRST; i++) {
        rows[i] = (i * 37) % ROWS;
        for (int e = 0; e < D; e++)
            g[rows[i] * D + e] = (float)(i + 1) * (e ? -0.25f : 0.5f);
    }
    ck_assert(sigeo__welford_table_reserve(&t, FIRST));
    ck_assert_uint_eq(sigeo__welford_table_fold(&t, g, rows, FIRST, 1), 0);
    const int64_t slots = t.n_slots, cap = t.cap;
    ck_assert_int_eq(slots, FIRST);
    ck_assert_int_lt(cap, FIRST + MORE); /* the reserve below must grow */
    float *state = malloc((size_t)slots * 3 * D * sizeof(float));
    uint32_t *row_of = malloc((size_t)slots * sizeof(uint32_t)), *seen = malloc((size_t)slots * sizeof(uint32_t));
    ck_assert(state && row_of && seen);
    memcpy(state, t.state, (size_t)slots * 3 * D * sizeof(float));
    memcpy(row_of, t.row_of, (size_t)slots * sizeof(uint32_t));
    memcpy(seen, t.seen, (size_t)slots * sizeof(uint32_t));
    int failures = 0;
    for (uint64_t nth = 1;; nth++) {
        guard_fail_at(guard_stats().alloc_calls + nth, false);
        const bool ok = sigeo__welford_table_reserve(&t, MORE);
        guard_fail_at(0, false);
        ck_assert_int_eq(t.n_slots, slots);
        ck_assert(memcmp(t.state, state, (size_t)slots * 3 * D * sizeof(float)) == 0);
        ck_assert(memcmp(t.row_of, row_of, (size_t)slots * sizeof(uint32_t)) == 0);
        ck_assert(memcmp(t.seen, seen, (size_t)slots * sizeof(uint32_t)) == 0);
        if (ok)
            break;
        ck_assert_int_eq(t.cap, cap); /* a failed reserve does not claim room it lacks */
        ck_assert_int_lt(++failures, 10);
    }
    ck_assert_int_gt(failures, 0);
    ck_assert_int_ge(t.cap, FIRST + MORE);
    for (int64_t i = 0; i < FIRST; i++)
        ck_assert_int_eq(sigeo__welford_table_slot(&t, rows[i]), i);
    ck_assert_int_eq(sigeo__welford_table_slot(&t, 1), -1);
    sigeo__welford_table_free(&t);
    ck_assert_uint_eq(guard_stats().live, 0);
    ck_assert_uint_eq(guard_stats().corruptions, 0);
    ck_assert_int_eq(sigeo_set_allocator(NULL), SIGEO_OK);
    free(g);
    free(state);
    free(row_of);
    free(seen);
}
END_TEST

static Suite *welford_suite(void)
{
    Suite *s = suite_create("stats_welford");
    TCase *tc = tcase_create("welford");
    tcase_add_test(tc, welford_update_matches_a_two_pass_reference_on_a_long_stream);
    tcase_add_test(tc, first_two_observations_are_exact);
    tcase_add_test(tc, second_observation_kernel_equals_the_update_on_the_stored_first);
    tcase_add_test(tc, every_isa_kernel_is_bit_identical_to_the_baseline);
    tcase_add_test(tc, kernels_above_the_build_ceiling_are_never_chosen);
    tcase_add_test(tc, last_batch_fold_is_the_update_then_the_reduction_on_every_isa);
    tcase_add_test(tc, update_loops_report_a_nonfinite_element);
    tcase_add_test(tc, staged_replay_kernel_is_the_updates_then_the_reduction_on_every_isa);
    tcase_add_test(tc, table_store_growth_failure_keeps_the_live_slots);
    tcase_add_test(tc, stats_zico_matches_the_reference_on_a_long_stream);
    suite_add_tcase(s, tc);
    TCase *lc = tcase_create("life_cycle");
    tcase_add_test(lc, reset_then_reaccumulate_is_bit_identical_and_allocates_nothing);
    tcase_add_test(lc, reset_forgets_params_and_batches);
    tcase_add_test(lc, compute_leaves_the_accumulator_alone);
    tcase_add_test(lc, same_input_same_result_bit_for_bit);
    tcase_add_test(lc, fused_batches_equal_add_batch_bit_for_bit_and_fail_cleanly);
    tcase_add_test(lc, fisher_rao_only_keeps_no_statistics);
    tcase_add_test(lc, declared_last_fused_batch_equals_add_batch_and_seals);
    tcase_add_test(lc, declared_last_fold_on_long_blocks_equals_add_batch);
    tcase_add_test(lc, staged_fused_batches_equal_add_batch_bit_for_bit);
    tcase_add_test(lc, fused_table_row_nonfinite_is_named);
    suite_add_tcase(s, lc);
    return s;
}

int main(void)
{
    return tu_run(welford_suite());
}
