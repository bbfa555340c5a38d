#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "core/core.h" /* SIGEO__MAX_ISA, the build's ceiling on the copies (meson option max_isa) */
#include "stats/welford.h"

#define WELFORD_KERNEL sigeo__welford_kernel_base
#define WELFORD_SECOND sigeo__welford_second_base
#define WELFORD_ZICO sigeo__welford_zico_base
#define WELFORD_ZICO_ROW sigeo__welford_zico_row_base
#define WELFORD_LAST sigeo__welford_last_base
#define WELFORD_REPLAY sigeo__welford_replay_base
#include "stats/welford_kernel.h"

#if defined(__GNUC__) && defined(__x86_64__)
uint32_t sigeo__welford_kernel_avx2(float *restrict mean_abs, float *restrict mean, float *restrict root_m2,
                                    const float *restrict g, int64_t count, float inv_n, int team);
uint32_t sigeo__welford_kernel_avx512(float *restrict mean_abs, float *restrict mean, float *restrict root_m2,
                                      const float *restrict g, int64_t count, float inv_n, int team);
uint32_t sigeo__welford_second_avx2(float *restrict mean_abs, float *restrict mean, float *restrict root_m2,
                                    const float *restrict g, int64_t count, float inv_n, int team);
uint32_t sigeo__welford_second_avx512(float *restrict mean_abs, float *restrict mean, float *restrict root_m2,
                                      const float *restrict g, int64_t count, float inv_n, int team);
void sigeo__welford_zico_avx2(double *sum_out, int64_t *nonzero_out, const float *restrict mean_abs,
                              const float *restrict root_m2, int64_t count, double inv_sqrt_dof);
void sigeo__welford_zico_avx512(double *sum_out, int64_t *nonzero_out, const float *restrict mean_abs,
                                const float *restrict root_m2, int64_t count, double inv_sqrt_dof);
void sigeo__welford_zico_row_avx2(double *sum_out, int64_t *nonzero_out, const float *restrict mean_abs,
                                  const float *restrict mean, const float *restrict root_m2, int64_t count,
                                  double keep, double cross, double inv_dof);
void sigeo__welford_zico_row_avx512(double *sum_out, int64_t *nonzero_out, const float *restrict mean_abs,
                                    const float *restrict mean, const float *restrict root_m2, int64_t count,
                                    double keep, double cross, double inv_dof);
uint32_t sigeo__welford_last_avx2(double *sum_out, int64_t *nonzero_out, double *first_out,
                                  const float *restrict mean_abs, float *restrict mean, const float *restrict root_m2,
                                  const float *restrict g, int64_t count, float inv_n, double inv_sqrt_dof);
uint32_t sigeo__welford_last_avx512(double *sum_out, int64_t *nonzero_out, double *first_out,
                                    const float *restrict mean_abs, float *restrict mean, const float *restrict root_m2,
                                    const float *restrict g, int64_t count, float inv_n, double inv_sqrt_dof);
uint32_t sigeo__welford_replay_avx2(double *sum_out, int64_t *nonzero_out, double *first_out, float *restrict mean,
                                    const float *restrict g2, const float *restrict g3, const float *restrict g,
                                    int64_t count, int k, double inv_sqrt_dof);
uint32_t sigeo__welford_replay_avx512(double *sum_out, int64_t *nonzero_out, double *first_out, float *restrict mean,
                                      const float *restrict g2, const float *restrict g3, const float *restrict g,
                                      int64_t count, int k, double inv_sqrt_dof);
#define HAVE_ISA_KERNELS 1
#endif

/* The copies of one kernel by sigeo__welford_isa_t (base, AVX2, AVX-512). */
#ifdef HAVE_ISA_KERNELS
#  define ISA_COPIES(base, avx2, avx512) { base, avx2, avx512 }
#else
#  define ISA_COPIES(base, avx2, avx512) { base, NULL, NULL }
#endif

/* Whether the copy for `isa` runs here: built, allowed by the ceiling, and
 * supported by this CPU. */
static bool isa_runs(sigeo__welford_isa_t isa)
{
    switch (isa) {
    case SIGEO__WELFORD_BASE:
        return true;
#ifdef HAVE_ISA_KERNELS
    case SIGEO__WELFORD_AVX2:
        return SIGEO__MAX_ISA >= 2 && __builtin_cpu_supports("avx2");
    case SIGEO__WELFORD_AVX512:
        return SIGEO__MAX_ISA >= 3 && __builtin_cpu_supports("avx512f");
#endif
    default:
        return false;
    }
}

/* The widest instruction set whose copies run here. */
static sigeo__welford_isa_t widest_isa(void)
{
    return isa_runs(SIGEO__WELFORD_AVX512) ? SIGEO__WELFORD_AVX512
         : isa_runs(SIGEO__WELFORD_AVX2)   ? SIGEO__WELFORD_AVX2
                                           : SIGEO__WELFORD_BASE;
}

welford_kernel_t sigeo__welford_kernel(sigeo__welford_isa_t isa)
{
    static const welford_kernel_t copies[] =
        ISA_COPIES(sigeo__welford_kernel_base, sigeo__welford_kernel_avx2, sigeo__welford_kernel_avx512);
    return isa_runs(isa) ? copies[isa] : NULL;
}

welford_kernel_t sigeo__welford_second_kernel(sigeo__welford_isa_t isa)
{
    static const welford_kernel_t copies[] =
        ISA_COPIES(sigeo__welford_second_base, sigeo__welford_second_avx2, sigeo__welford_second_avx512);
    return isa_runs(isa) ? copies[isa] : NULL;
}

static welford_kernel_t pick_second(void)
{
    static _Atomic(welford_kernel_t) chosen;
    welford_kernel_t k = atomic_load_explicit(&chosen, memory_order_relaxed);
    if (!k) {
        k = sigeo__welford_second_kernel(widest_isa());
        atomic_store_explicit(&chosen, k, memory_order_relaxed);
    }
    return k;
}

zico_kernel_t sigeo__zico_kernel(sigeo__welford_isa_t isa)
{
    static const zico_kernel_t copies[] =
        ISA_COPIES(sigeo__welford_zico_base, sigeo__welford_zico_avx2, sigeo__welford_zico_avx512);
    return isa_runs(isa) ? copies[isa] : NULL;
}

zico_row_kernel_t sigeo__zico_row_kernel(sigeo__welford_isa_t isa)
{
    static const zico_row_kernel_t copies[] =
        ISA_COPIES(sigeo__welford_zico_row_base, sigeo__welford_zico_row_avx2, sigeo__welford_zico_row_avx512);
    return isa_runs(isa) ? copies[isa] : NULL;
}

zico_row_kernel_t sigeo__zico_row_pick(void)
{
    static _Atomic(zico_row_kernel_t) chosen;
    zico_row_kernel_t k = atomic_load_explicit(&chosen, memory_order_relaxed);
    if (!k) {
        k = sigeo__zico_row_kernel(widest_isa());
        atomic_store_explicit(&chosen, k, memory_order_relaxed);
    }
    return k;
}

/* ------------------------------------------------ spans
 * ZiCo's sum over a block longer than one span (SIGEO__ZICO_SPAN elements)
 * is the sum in span order of the spans' own sums (each the eight-lane
 * reduction of welford_kernel.h): fixed by the block's length alone, so the
 * spans may run on any number of threads and every path (the reduction at
 * compute, the last batch's fold, the staged replay) gives the same sum bit
 * for bit. A block of one span is reduced exactly as before spans existed. */
typedef struct span_result {
    double sum, first;
    int64_t nonzero;
    uint32_t bad;
} span_result_t;

typedef void (*span_fn_t)(span_result_t *out, void *ctx, int64_t begin, int64_t count);

/* Runs fn over the spans of [0, count) on `team` threads (a group of at most
 * SPAN_GROUP at a time, so the partial results live on the stack) and
 * combines them in span order: sums added left to right, counts, the first
 * span's first ratio that has one, the OR of the non-finite flags. */
enum { SPAN_GROUP = 64 };
static void over_spans(span_result_t *total, span_fn_t fn, void *ctx, int64_t count, int team)
{
    *total = (span_result_t){ 0.0, 0.0, 0, 0 };
    bool found = false;
    const int64_t n_spans = (count + SIGEO__ZICO_SPAN - 1) / SIGEO__ZICO_SPAN;
    for (int64_t s0 = 0; s0 < n_spans; s0 += SPAN_GROUP) {
        const int n = (int)(n_spans - s0 < SPAN_GROUP ? n_spans - s0 : SPAN_GROUP);
        span_result_t part[SPAN_GROUP];
        if (team > 1 && n > 1) {
#pragma omp parallel for schedule(static) num_threads(team)
            for (int i = 0; i < n; i++) {
                const int64_t b = (s0 + i) * SIGEO__ZICO_SPAN;
                fn(&part[i], ctx, b, count - b < SIGEO__ZICO_SPAN ? count - b : SIGEO__ZICO_SPAN);
            }
        } else {
            for (int i = 0; i < n; i++) {
                const int64_t b = (s0 + i) * SIGEO__ZICO_SPAN;
                fn(&part[i], ctx, b, count - b < SIGEO__ZICO_SPAN ? count - b : SIGEO__ZICO_SPAN);
            }
        }
        for (int i = 0; i < n; i++) {
            total->sum += part[i].sum;
            total->nonzero += part[i].nonzero;
            total->bad |= part[i].bad;
            if (!found && part[i].nonzero > 0) {
                total->first = part[i].first;
                found = true;
            }
        }
    }
}

static zico_kernel_t pick_zico(void)
{
    static _Atomic(zico_kernel_t) chosen;
    zico_kernel_t k = atomic_load_explicit(&chosen, memory_order_relaxed);
    if (!k) {
        k = sigeo__zico_kernel(widest_isa());
        atomic_store_explicit(&chosen, k, memory_order_relaxed);
    }
    return k;
}

typedef struct reduce_ctx {
    zico_kernel_t kernel;
    const float *mean_abs, *root_m2;
    double inv_sqrt_dof;
} reduce_ctx_t;

static void reduce_span(span_result_t *out, void *ctx, int64_t begin, int64_t count)
{
    const reduce_ctx_t *c = ctx;
    out->first = 0.0;
    out->bad = 0;
    c->kernel(&out->sum, &out->nonzero, c->mean_abs + begin, c->root_m2 + begin, count, c->inv_sqrt_dof);
}

void sigeo__zico_reduce(double *sum_out, int64_t *nonzero_out, const float *mean_abs, const float *root_m2,
                        int64_t count, double inv_sqrt_dof)
{
    reduce_ctx_t c = { pick_zico(), mean_abs, root_m2, inv_sqrt_dof };
    span_result_t t;
    over_spans(&t, reduce_span, &c, count, 1);
    *sum_out = t.sum;
    *nonzero_out = t.nonzero;
}

/* The widest kernel this CPU runs, chosen on the first call and kept (a
 * benign race: every thread computes the same pointer). One indirect call
 * per parameter block, no per-call dispatch beyond it. */
welford_kernel_t sigeo__welford_widest(void)
{
    static _Atomic(welford_kernel_t) chosen;
    welford_kernel_t k = atomic_load_explicit(&chosen, memory_order_relaxed);
    if (!k) {
        k = sigeo__welford_kernel(widest_isa());
        atomic_store_explicit(&chosen, k, memory_order_relaxed);
    }
    return k;
}

/* 1/n rounded once to float (the kernels' step factor). */
static float inverse(uint64_t n)
{
    return (float)(1.0 / (double)n);
}

void sigeo__welford_materialize_first(sigeo__welford_t *w, int64_t offset, int64_t count)
{
    float *restrict mean_abs = w->mean_abs + offset;
    const float *restrict mean = w->mean + offset;
    float *restrict root_m2 = w->root_m2 + offset;
#pragma omp simd
    for (int64_t j = 0; j < count; j++) {
        mean_abs[j] = fabsf(mean[j]);
        root_m2[j] = 0.0f;
    }
}

/* Stores a gradient unchanged and says whether it holds a non-finite
 * value: the first observation's pass (into the mean), and a staged
 * block's (welford.h: into any of the three arrays). */
static uint32_t store_checked(float *restrict dst, const float *restrict g, int64_t count)
{
    uint32_t bad = 0;
#pragma omp simd reduction(| : bad)
    for (int64_t j = 0; j < count; j++) {
        float x = g[j];
        uint32_t bits;
        memcpy(&bits, &x, sizeof bits);
        bad |= (uint32_t)((bits & 0x7f800000u) == 0x7f800000u);
        dst[j] = x;
    }
    return bad;
}

static uint32_t update(welford_kernel_t kernel, sigeo__welford_t *w, int64_t offset, const float *g, int64_t count,
                       uint64_t n, int team)
{
    float *restrict mean_abs = w->mean_abs + offset;
    float *restrict mean = w->mean + offset;
    float *restrict root_m2 = w->root_m2 + offset;
    if (n == 1) /* First observation: the mean is the value; mean |g| (= |mean|)
                 * and M2 (= 0) are implicit until the second (WELFORD_SECOND), so
                 * this pass writes a third of the state. */
        return store_checked(mean, g, count);
    if (n == 2)
        return pick_second()(mean_abs, mean, root_m2, g, count, inverse(n), team);
    return kernel(mean_abs, mean, root_m2, g, count, inverse(n), team);
}

welford_last_kernel_t sigeo__welford_last_kernel(sigeo__welford_isa_t isa)
{
    static const welford_last_kernel_t copies[] =
        ISA_COPIES(sigeo__welford_last_base, sigeo__welford_last_avx2, sigeo__welford_last_avx512);
    return isa_runs(isa) ? copies[isa] : NULL;
}

typedef struct last_ctx {
    welford_last_kernel_t kernel;
    sigeo__welford_t *w;
    const float *g;
    float inv_n;
    double inv_sqrt_dof;
} last_ctx_t;

static void last_span(span_result_t *out, void *ctx, int64_t begin, int64_t count)
{
    const last_ctx_t *c = ctx;
    out->bad = c->kernel(&out->sum, &out->nonzero, &out->first, c->w->mean_abs + begin, c->w->mean + begin,
                         c->w->root_m2 + begin, c->g + begin, count, c->inv_n, c->inv_sqrt_dof);
}

uint32_t sigeo__welford_update_last(double *sum_out, int64_t *nonzero_out, double *first_out, sigeo__welford_t *w,
                                    int64_t offset, const float *g, int64_t count, uint64_t n, double inv_sqrt_dof)
{
    static _Atomic(welford_last_kernel_t) chosen;
    welford_last_kernel_t k = atomic_load_explicit(&chosen, memory_order_relaxed);
    if (!k) {
        k = sigeo__welford_last_kernel(widest_isa());
        atomic_store_explicit(&chosen, k, memory_order_relaxed);
    }
    if (n == 2) /* the first observation's implicit values, stored (a k = 2 evaluation only) */
        sigeo__welford_materialize_first(w, offset, count);
    sigeo__welford_t at = { w->mean_abs + offset, w->mean + offset, w->root_m2 + offset };
    last_ctx_t c = { k, &at, g, inverse(n), inv_sqrt_dof };
    span_result_t t;
    over_spans(&t, last_span, &c, count, 1);
    *sum_out = t.sum;
    *nonzero_out = t.nonzero;
    *first_out = t.first;
    return t.bad;
}

welford_replay_kernel_t sigeo__welford_replay_kernel(sigeo__welford_isa_t isa)
{
    static const welford_replay_kernel_t copies[] =
        ISA_COPIES(sigeo__welford_replay_base, sigeo__welford_replay_avx2, sigeo__welford_replay_avx512);
    return isa_runs(isa) ? copies[isa] : NULL;
}

uint32_t sigeo__welford_stage(sigeo__welford_t *w, int64_t offset, const float *g, int64_t count, uint64_t n)
{
    float *dst = n == 1 ? w->mean : n == 2 ? w->mean_abs : w->root_m2;
    return store_checked(dst + offset, g, count);
}

typedef struct replay_ctx {
    welford_replay_kernel_t kernel;
    float *mean;
    const float *g2, *g3, *g;
    int k;
    double inv_sqrt_dof;
} replay_ctx_t;

static void replay_span(span_result_t *out, void *ctx, int64_t begin, int64_t count)
{
    const replay_ctx_t *c = ctx;
    out->bad = c->kernel(&out->sum, &out->nonzero, &out->first, c->mean + begin, c->g2 + begin, c->g3 + begin,
                         c->g + begin, count, c->k, c->inv_sqrt_dof);
}

uint32_t sigeo__welford_replay(double *sum_out, int64_t *nonzero_out, double *first_out, sigeo__welford_t *w,
                               int64_t offset, const float *g, int64_t count, uint64_t k, double inv_sqrt_dof,
                               int team)
{
    static _Atomic(welford_replay_kernel_t) chosen;
    welford_replay_kernel_t kern = atomic_load_explicit(&chosen, memory_order_relaxed);
    if (!kern) {
        kern = sigeo__welford_replay_kernel(widest_isa());
        atomic_store_explicit(&chosen, kern, memory_order_relaxed);
    }
    replay_ctx_t c = { kern, w->mean + offset, w->mean_abs + offset, w->root_m2 + offset, g, (int)k, inv_sqrt_dof };
    span_result_t t;
    over_spans(&t, replay_span, &c, count, team);
    *sum_out = t.sum;
    *nonzero_out = t.nonzero;
    *first_out = t.first;
    return t.bad;
}

uint32_t sigeo__welford_update(sigeo__welford_t *w, int64_t offset, const float *g, int64_t count, uint64_t n,
                               int team)
{
    return update(sigeo__welford_widest(), w, offset, g, count, n, team);
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
