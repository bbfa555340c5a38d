/* bench-ensemble: what scoring a search with an ensemble of proxies costs
 * beyond its members. The pipeline (sigeo_nas_run_space) on the tiny
 * nasrec-small preset and 4000 synthetic rows, P 128, C 8, 192 cycles (1664
 * evaluations; --cycles changes that), run three ways:
 *   single     --proxy grad_norm
 *   ens1       an ensemble of grad_norm alone: the same member scores, so
 *              the difference is the ensemble machinery (log, aggregations)
 *   ens3       grad_norm + l2_norm + params (log-rank): the case of issue 13
 * Metrics (the median of --reps runs, interleaved so load hits every
 * variant alike): the search phase's wall seconds single_s, ens1_s, ens3_s
 * and its CPU seconds single_cpu_s, ... (process CPU time from the first
 * search report to the first retrain report, one thread: far less
 * disturbed by other load than the wall time), and the ratios
 * ens1_over_single, ens3_over_single of the CPU times. JSON lines on stdout, the table on
 * stderr. Uses only the public API, so the same binary run against an older
 * libsigeo.so (LD_LIBRARY_PATH) measures the "before".
 *
 * --member NAME replaces grad_norm (in all three) by another proxy kind:
 * with a cheap one (params) and many cycles the search's own ensemble
 * work is what the ratios show.
 *
 *   bench-ensemble [--cycles N] [--reps R] [--member NAME]   (defaults 192, 3, grad_norm) */
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "sigeo/io.h"
#include "sigeo/nas.h"
#include "sigeo/proxy.h"

enum { VARIANTS = 3, MAX_REPS = 50 };
static const char *const names[VARIANTS] = { "single", "ens1", "ens3" };
static sigeo_proxy_kind_t member = SIGEO_PROXY_GRAD_NORM;

/* Process CPU time at the search's first and last progress reports. */
typedef struct cpu_watch {
    double first, last;
} cpu_watch_t;

static int on_progress(const sigeo_nas_progress_t *p, void *user)
{
    cpu_watch_t *w = user;
    if (p->phase == SIGEO_NAS_PHASE_SEARCH) {
        w->last = bench_cpu_ms();
        if (w->first < 0)
            w->first = w->last;
    }
    return 0;
}

static int search_seconds(double *out, double *cpu_out, int variant, uint32_t cycles, sigeo_dataset_t *tr, sigeo_dataset_t *va,
                          sigeo_dataset_t *te)
{
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.seed = 8;
    co.threads = 1;
    sigeo_context_t *ctx = NULL;
    if (sigeo_context_create(&ctx, &co) != SIGEO_OK)
        return 1;
    sigeo_space_options_t sp = SIGEO_SPACE_OPTIONS_INIT;
    sp.preset = SIGEO_SPACE_TINY;
    sigeo_search_options_t se = SIGEO_SEARCH_OPTIONS_INIT;
    se.cycles = cycles; /* P 128, S 64, C 8: the defaults */
    se.seed = 5;
    if (variant >= 1) {
        se.n_ensemble = variant == 1 ? 1u : 3u;
        se.ensemble_kinds[0] = member;
        se.ensemble_kinds[1] = SIGEO_PROXY_L2_NORM;
        se.ensemble_kinds[2] = SIGEO_PROXY_PARAMS;
    }
    sigeo_proxy_options_t po = SIGEO_PROXY_OPTIONS_INIT;
    po.kind = member;
    sigeo_nas_options_t o = SIGEO_NAS_OPTIONS_INIT;
    o.batch_size = 64;
    o.warmup_fraction = 0.1;
    o.search = &se;
    o.proxy = &po;
    o.top_k = 1;
    o.retrain_epochs = 0.05;
    cpu_watch_t w = { -1.0, -1.0 };
    o.progress = on_progress;
    o.progress_user = &w;
    sigeo_nas_result_t *r = NULL;
    sigeo_status_t st = sigeo_nas_run_space(&r, ctx, "nasrec-small", &sp, tr, va, te, &o);
    sigeo_nas_summary_t s = SIGEO_NAS_SUMMARY_INIT;
    if (st == SIGEO_OK)
        st = sigeo_nas_result_get_summary(&s, r);
    if (st != SIGEO_OK) {
        fprintf(stderr, "bench-ensemble: %s: %s\n", names[variant], sigeo_last_error());
        sigeo_nas_result_destroy(r);
        sigeo_context_destroy(ctx);
        return 1;
    }
    *out = s.search_seconds;
    *cpu_out = 1e-3 * (w.last - w.first);
    bench_say("  %-7s %llu evaluations  search %.3f s wall, %.3f s CPU\n", names[variant],
              (unsigned long long)s.evaluations, s.search_seconds, *cpu_out);
    sigeo_nas_result_destroy(r);
    sigeo_context_destroy(ctx);
    return 0;
}

int main(int argc, char **argv)
{
    uint32_t cycles = 192;
    int reps = 3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--cycles") == 0 && i + 1 < argc)
            cycles = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--member") == 0 && i + 1 < argc) {
            const char *want = argv[++i];
            int k = 0;
            for (; sigeo_proxy_kind_name((sigeo_proxy_kind_t)k); k++)
                if (strcmp(sigeo_proxy_kind_name((sigeo_proxy_kind_t)k), want) == 0)
                    break;
            if (!sigeo_proxy_kind_name((sigeo_proxy_kind_t)k)) {
                fprintf(stderr, "bench-ensemble: --member %s: not a proxy kind\n", want);
                return 2;
            }
            member = (sigeo_proxy_kind_t)k;
        }
        else {
            fprintf(stderr, "usage: bench-ensemble [--cycles N] [--reps R] [--member NAME]\n");
            return 2;
        }
    }
    if (cycles < 1 || reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "bench-ensemble: --cycles >= 1, --reps 1..%d\n", MAX_REPS);
        return 2;
    }
    sigeo_synth_options_t so = SIGEO_SYNTH_OPTIONS_INIT;
    so.seed = 4;
    so.n_rows = 4000;
    so.max_cardinality = 40;
    sigeo_dataset_t *all = NULL, *tr = NULL, *va = NULL, *te = NULL;
    if (sigeo_synth_generate(&all, NULL, &so, NULL) != SIGEO_OK ||
        sigeo_dataset_split(&tr, &va, &te, all, NULL) != SIGEO_OK) {
        fprintf(stderr, "bench-ensemble: %s\n", sigeo_last_error());
        return 1;
    }
    bench_say("bench-ensemble: nasrec-small tiny, P 128, C 8, %u cycles, member %s, %d reps, load %.2f, libsigeo %s\n",
              (unsigned)cycles, sigeo_proxy_kind_name(member), reps, bench_loadavg(), sigeo_version());
    static double t[VARIANTS][MAX_REPS], c[VARIANTS][MAX_REPS];
    for (int r = 0; r < reps; r++)
        for (int v = 0; v < VARIANTS; v++) {
            const int w = (v + r) % VARIANTS; /* rotate the order from rep to rep */
            if (search_seconds(&t[w][r], &c[w][r], w, cycles, tr, va, te) != 0)
                return 1;
        }
    double med[VARIANTS], cpu[VARIANTS];
    for (int v = 0; v < VARIANTS; v++) {
        med[v] = bench_median(t[v], reps);
        cpu[v] = bench_median(c[v], reps);
        char metric[32];
        snprintf(metric, sizeof metric, "%s_s", names[v]);
        bench_json("ensemble", "nasrec-small-tiny", metric, med[v], "s");
        snprintf(metric, sizeof metric, "%s_cpu_s", names[v]);
        bench_json("ensemble", "nasrec-small-tiny", metric, cpu[v], "s");
    }
    bench_json("ensemble", "nasrec-small-tiny", "ens1_over_single", cpu[1] / cpu[0], "ratio");
    bench_json("ensemble", "nasrec-small-tiny", "ens3_over_single", cpu[2] / cpu[0], "ratio");
    bench_say("median search seconds, wall: single %.3f  ens1 %.3f  ens3 %.3f\n"
              "                        CPU: single %.3f  ens1 %.3f  ens3 %.3f\n"
              "CPU ratios: ens1/single %.3f (the ensemble machinery)  ens3/single %.3f\n",
              med[0], med[1], med[2], cpu[0], cpu[1], cpu[2], cpu[1] / cpu[0], cpu[2] / cpu[0]);
    sigeo_dataset_destroy(all);
    sigeo_dataset_destroy(tr);
    sigeo_dataset_destroy(va);
    sigeo_dataset_destroy(te);
    return 0;
}
