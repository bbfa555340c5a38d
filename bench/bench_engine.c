/* bench-engine: how close the engine's forward+backward comes to the GEMMs
 * it is made of, embedding-bag throughput, and peak memory.
 *
 *   1. MLP 784-1024-1024-10, batch 256, softmax CE, built with sigeo_model_*:
 *      median forward+backward time.
 *   2. The same GEMMs run bare through oneDNN matmul on the same PyTorch-layout
 *      [out, in] weights (transposed strided descriptors, no copies). A step
 *      has 8 of them, not 9: 3 forward, 3 dW, and dX only for layers 2 and 3
 *      (the input is data; neither libsigeo nor PyTorch computes its gradient).
 *      Reported: the ratio model/bare (target <= 1.15) and GFLOP/s of both,
 *      plus, for the main engineer, each GEMM's own time and a variant with
 *      leading dimensions padded off 4 KiB multiples (docs/onednn-notes.md).
 *   3. 26 embedding bags of 100k x 16 at batch 512 (one hashed id per field
 *      per row) -> concat -> linear 1 -> BCE: forward+backward rows/s.
 *   4. Peak RSS.
 *
 * Model and bare repetitions are interleaved (A B A B ...), so both see the
 * same machine load; the medians are what to read. JSON lines on stdout, the
 * table on stderr (bench_util.h). Options: --reps N (default 30), --quick,
 * --threads N (the context's compute threads; default all cores). The bare
 * GEMMs run on as many OpenMP threads (oneDNN takes omp_get_max_threads()
 * at execution; the library sets it only around its own calls, so without
 * this the bare side ran on every core while the model ran on N: at
 * --threads 1 that made model/bare read 1.6-2.1 instead of the model's own
 * cost).
 *
 * This file may call oneDNN directly: it is the reference the engine is
 * measured against, not part of the library. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "bench_models.h"
#include "bench_util.h"
#include "sigeo/model.h"
#include "sigeo/sigeo.h"

#define WARMUP 5

static void dnnl_ok(dnnl_status_t st, const char *what)
{
    if (st != dnnl_success) {
        fprintf(stderr, "bench-engine: oneDNN status %d while %s\n", (int)st, what);
        exit(1);
    }
}

/* ------------------------------------------------------------ bare GEMMs */

/* C[M,N] = A[M,K] B[K,N] with arbitrary 2-D strides, as one matmul primitive
 * bound to fixed buffers. */
typedef struct gemm {
    const char *name;
    int64_t m, n, k;
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c;
} gemm_t;

static void gemm_init(gemm_t *g, dnnl_engine_t eng, const char *name, int64_t m, int64_t n, int64_t k,
                      const int64_t as[2], const int64_t bs[2], const int64_t cs[2], float *a, float *b, float *c)
{
    dnnl_memory_desc_t a_md, b_md, c_md;
    dnnl_dims_t ad = { m, k }, bd = { k, n }, cd = { m, n };
    dnnl_dims_t a_st = { as[0], as[1] }, b_st = { bs[0], bs[1] }, c_st = { cs[0], cs[1] };
    dnnl_ok(dnnl_memory_desc_init_by_strides(&a_md, 2, ad, dnnl_f32, a_st), "describing A");
    dnnl_ok(dnnl_memory_desc_init_by_strides(&b_md, 2, bd, dnnl_f32, b_st), "describing B");
    dnnl_ok(dnnl_memory_desc_init_by_strides(&c_md, 2, cd, dnnl_f32, c_st), "describing C");
    dnnl_matmul_desc_t desc;
    dnnl_ok(dnnl_matmul_desc_init(&desc, &a_md, &b_md, NULL, &c_md), "matmul desc");
    dnnl_primitive_desc_t pd;
    dnnl_ok(dnnl_primitive_desc_create(&pd, &desc, NULL, eng, NULL), "matmul pd");
    dnnl_ok(dnnl_primitive_create(&g->prim, pd), "matmul primitive");
    dnnl_primitive_desc_destroy(pd);
    dnnl_ok(dnnl_memory_create(&g->a, &a_md, eng, a), "memory A");
    dnnl_ok(dnnl_memory_create(&g->b, &b_md, eng, b), "memory B");
    dnnl_ok(dnnl_memory_create(&g->c, &c_md, eng, c), "memory C");
    g->name = name;
    g->m = m;
    g->n = n;
    g->k = k;
}

static void gemm_run(gemm_t *g, dnnl_stream_t s)
{
    dnnl_exec_arg_t args[3] = { { DNNL_ARG_SRC, g->a }, { DNNL_ARG_WEIGHTS, g->b }, { DNNL_ARG_DST, g->c } };
    dnnl_ok(dnnl_primitive_execute(g->prim, s, 3, args), "matmul execute");
    dnnl_ok(dnnl_stream_wait(s), "stream wait");
}

static void gemm_fini(gemm_t *g)
{
    dnnl_primitive_destroy(g->prim);
    dnnl_memory_destroy(g->a);
    dnnl_memory_destroy(g->b);
    dnnl_memory_destroy(g->c);
}

static double gemm_flop(const gemm_t *g)
{
    return 2.0 * (double)g->m * (double)g->n * (double)g->k;
}

enum { N_LAYERS = 3, N_GEMMS = 8, MAX_REPS = 1000 };
static const int64_t mlp_in = 784;
static const int64_t mlp_widths[N_LAYERS] = { 1024, 1024, 10 };
static const int64_t mlp_batch = 256;

/* A leading dimension: unpadded, or (pad) moved off a multiple of 4 KiB. */
static int64_t ld_of(int64_t width, int pad)
{
    return pad && (width * 4) % 4096 == 0 ? width + 16 : width;
}

/* The 8 GEMMs of one MLP step, on buffers owned here. */
typedef struct bare_mlp {
    gemm_t g[N_GEMMS];
    float *buf[4 * N_LAYERS + 2];
    int n_buf;
} bare_mlp_t;

static float *bare_alloc(bare_mlp_t *b, int64_t n, uint64_t *rng)
{
    float *p = malloc((size_t)n * sizeof(float));
    if (!p)
        abort();
    bench_fill_uniform(p, n, rng);
    b->buf[b->n_buf++] = p;
    return p;
}

/* Layouts as lib/nn/op_linear.c uses them: W [out, in] row-major (ld = in);
 * forward  Y[B,out]  = X[B,in] * W^T   (W^T: dims {in,out} strides {1,ld_w})
 * dX       dX[B,in]  = dY[B,out] * W   (W: dims {out,in} strides {ld_w,1})
 * dW       dW[out,in] = dY^T * X       (dY^T: dims {out,B} strides {1,ld_y}). */
static void bare_init(bare_mlp_t *b, dnnl_engine_t eng, int pad, uint64_t *rng)
{
    memset(b, 0, sizeof *b);
    const int64_t B = mlp_batch;
    int64_t in[N_LAYERS], out[N_LAYERS];
    float *x[N_LAYERS + 1], *dy[N_LAYERS + 1], *w[N_LAYERS], *dw[N_LAYERS];
    for (int l = 0; l < N_LAYERS; l++) {
        in[l] = l ? mlp_widths[l - 1] : mlp_in;
        out[l] = mlp_widths[l];
    }
    /* activations x[l] (input of layer l) and their gradients dy[l] */
    x[0] = bare_alloc(b, B * ld_of(mlp_in, pad), rng);
    dy[0] = NULL;
    for (int l = 0; l < N_LAYERS; l++) {
        x[l + 1] = bare_alloc(b, B * ld_of(out[l], pad), rng);
        dy[l + 1] = bare_alloc(b, B * ld_of(out[l], pad), rng);
        w[l] = bare_alloc(b, out[l] * ld_of(in[l], pad), rng);
        dw[l] = bare_alloc(b, out[l] * ld_of(in[l], pad), rng);
    }
    static const char *const fwd_names[] = { "fwd.fc0", "fwd.fc1", "fwd.fc2" };
    static const char *const dx_names[] = { "dx.fc0", "dx.fc1", "dx.fc2" };
    static const char *const dw_names[] = { "dw.fc0", "dw.fc1", "dw.fc2" };
    int gi = 0;
    for (int l = 0; l < N_LAYERS; l++) {
        const int64_t lx = ld_of(in[l], pad), ly = ld_of(out[l], pad), lw = ld_of(in[l], pad);
        gemm_init(&b->g[gi++], eng, fwd_names[l], B, out[l], in[l], (int64_t[]){ lx, 1 }, (int64_t[]){ 1, lw },
                  (int64_t[]){ ly, 1 }, x[l], w[l], x[l + 1]);
    }
    for (int l = N_LAYERS - 1; l >= 0; l--) {
        const int64_t lx = ld_of(in[l], pad), ly = ld_of(out[l], pad), lw = ld_of(in[l], pad);
        if (l > 0) {
            /* dX of layer l lands in dy[l], the output gradient of layer l-1
             * (as the engine writes it, before the ReLU backward). */
            gemm_init(&b->g[gi++], eng, dx_names[l], B, in[l], out[l], (int64_t[]){ ly, 1 }, (int64_t[]){ lw, 1 },
                      (int64_t[]){ lx, 1 }, dy[l + 1], w[l], dy[l]);
        }
        gemm_init(&b->g[gi++], eng, dw_names[l], out[l], in[l], B, (int64_t[]){ 1, ly }, (int64_t[]){ lx, 1 },
                  (int64_t[]){ lw, 1 }, dy[l + 1], x[l], dw[l]);
    }
    if (gi != N_GEMMS)
        abort();
}

static void bare_fini(bare_mlp_t *b)
{
    for (int i = 0; i < N_GEMMS; i++)
        gemm_fini(&b->g[i]);
    for (int i = 0; i < b->n_buf; i++)
        free(b->buf[i]);
}

/* Runs the 8 GEMMs in step order; per-GEMM times into t[i] (ms), returns the total. */
static double bare_step(bare_mlp_t *b, dnnl_stream_t s, double *t)
{
    double t0 = bench_now_ms(), start = t0;
    for (int i = 0; i < N_GEMMS; i++) {
        gemm_run(&b->g[i], s);
        double t1 = bench_now_ms();
        if (t)
            t[i] = t1 - t0;
        t0 = t1;
    }
    return t0 - start;
}

/* ------------------------------------------------------------- sections */

static double mlp_flop(void)
{
    double f = 0.0;
    int64_t in = mlp_in;
    for (int l = 0; l < N_LAYERS; l++) {
        double mnk = 2.0 * (double)mlp_batch * (double)in * (double)mlp_widths[l];
        f += 2.0 * mnk;   /* forward + dW */
        if (l > 0)
            f += mnk;     /* dX */
        in = mlp_widths[l];
    }
    return f;
}

/* bare_threads: the context's compute threads, 0 = every core (the OpenMP
 * default, left alone). */
static void section_mlp(sigeo_context_t *ctx, int reps, int bare_threads)
{
    uint64_t rng = 0x5eed0001u;
    sigeo_model_t *m = bench_mlp(ctx, mlp_in, mlp_widths, N_LAYERS);
    bench_batch_t batch;
    bench_batch_random(&batch, &rng, mlp_batch, mlp_in, 10, 0, 0);

    dnnl_engine_t eng;
    dnnl_stream_t s;
#ifdef _OPENMP
    if (bare_threads > 0)
        omp_set_num_threads(bare_threads);
#else
    (void)bare_threads;
#endif
    dnnl_ok(dnnl_engine_create(&eng, dnnl_cpu, 0), "engine");
    dnnl_ok(dnnl_stream_create(&s, eng, dnnl_stream_default_flags), "stream");
    bare_mlp_t bare, padded;
    bare_init(&bare, eng, 0, &rng);
    bare_init(&padded, eng, 1, &rng);

    double loss;
    for (int i = 0; i < WARMUP; i++) {
        bench_check(sigeo_model_forward_backward(&loss, m, &batch.view), "forward_backward");
        bench_check(sigeo_model_forward(&loss, m, &batch.view), "forward");
        bare_step(&bare, s, NULL);
        bare_step(&padded, s, NULL);
    }
    static double t_model[MAX_REPS], t_fwd[MAX_REPS], t_bare[MAX_REPS], t_pad[MAX_REPS];
    static double t_gemm[N_GEMMS][MAX_REPS];
    double tg[N_GEMMS];
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now_ms();
        bench_check(sigeo_model_forward_backward(&loss, m, &batch.view), "forward_backward");
        t_model[r] = bench_now_ms() - t0;
        t_bare[r] = bare_step(&bare, s, tg);
        for (int i = 0; i < N_GEMMS; i++)
            t_gemm[i][r] = tg[i];
        t_pad[r] = bare_step(&padded, s, NULL);
        t0 = bench_now_ms();
        bench_check(sigeo_model_forward(&loss, m, &batch.view), "forward");
        t_fwd[r] = bench_now_ms() - t0;
    }
    const double flop = mlp_flop();
    double med_model = bench_median(t_model, reps);
    double q1 = bench_quantile_sorted(t_model, reps, 0.25), q3 = bench_quantile_sorted(t_model, reps, 0.75);
    double med_bare = bench_median(t_bare, reps);
    double b1 = bench_quantile_sorted(t_bare, reps, 0.25), b3 = bench_quantile_sorted(t_bare, reps, 0.75);
    double med_pad = bench_median(t_pad, reps);
    double med_fwd = bench_median(t_fwd, reps);
    double ratio = med_model / med_bare;
    const char *cas = "mlp-784-1024-1024-10-b256";

    bench_say("\nMLP 784-1024-1024-10, batch 256, softmax CE: forward+backward (%d reps, medians)\n", reps);
    bench_say("  %-34s %9s %9s %9s %9s\n", "", "median ms", "q1 ms", "q3 ms", "GFLOP/s");
    bench_say("  %-34s %9.3f %9.3f %9.3f %9.1f\n", "libsigeo model (fwd+bwd)", med_model, q1, q3,
              flop / med_model * 1e-6);
    bench_say("  %-34s %9.3f %9s %9s %9s\n", "libsigeo model (forward only)", med_fwd, "", "", "");
    bench_say("  %-34s %9.3f %9.3f %9.3f %9.1f\n", "bare oneDNN matmul, 8 GEMMs", med_bare, b1, b3,
              flop / med_bare * 1e-6);
    bench_say("  %-34s %9.3f %9s %9s %9.1f\n", "  same, ld padded off 4 KiB", med_pad, "", "",
              flop / med_pad * 1e-6);
    bench_say("  ratio model/bare = %.3f  (target <= 1.15: %s)\n", ratio, ratio <= 1.15 ? "met" : "MISSED");
    bench_say("  %.3f GFLOP per step\n", flop * 1e-9);
    bench_say("  bare GEMMs one by one (median ms, GFLOP/s):\n");
    for (int i = 0; i < N_GEMMS; i++) {
        const gemm_t *g = &bare.g[i];
        double med = bench_median(t_gemm[i], reps);
        bench_say("    %-8s M=%-5lld N=%-5lld K=%-5lld %8.3f ms %7.1f\n", g->name, (long long)g->m,
                  (long long)g->n, (long long)g->k, med, gemm_flop(g) / med * 1e-6);
        char metric[64];
        snprintf(metric, sizeof metric, "bare_%s_ms", g->name);
        bench_json("engine", cas, metric, med, "ms");
    }
    bench_json("engine", cas, "model_ms", med_model, "ms");
    bench_json("engine", cas, "model_forward_ms", med_fwd, "ms");
    bench_json("engine", cas, "bare_ms", med_bare, "ms");
    bench_json("engine", cas, "bare_padded_ms", med_pad, "ms");
    bench_json("engine", cas, "model_gflops", flop / med_model * 1e-6, "GFLOP/s");
    bench_json("engine", cas, "bare_gflops", flop / med_bare * 1e-6, "GFLOP/s");
    bench_json("engine", cas, "model_over_bare", ratio, "ratio");

    bare_fini(&bare);
    bare_fini(&padded);
    dnnl_stream_destroy(s);
    dnnl_engine_destroy(eng);
    bench_batch_free(&batch);
    sigeo_model_destroy(m);
}

enum { EMB_FIELDS = 26, EMB_DIM = 16, EMB_BATCH = 512, EMB_BATCHES = 8 };
#define EMB_ROWS ((int64_t)100000)

static void section_embedding(sigeo_context_t *ctx, int reps)
{
    uint64_t rng = 0x5eed0002u;
    sigeo_model_t *m = bench_embedding_model(ctx, EMB_FIELDS, EMB_ROWS, EMB_DIM);
    /* Several batches, cycled, so the same rows are not hot in cache every rep. */
    bench_batch_t b[EMB_BATCHES];
    for (int i = 0; i < EMB_BATCHES; i++)
        bench_batch_random(&b[i], &rng, EMB_BATCH, 0, 0, EMB_FIELDS, EMB_ROWS);
    double loss;
    for (int i = 0; i < WARMUP; i++)
        bench_check(sigeo_model_forward_backward(&loss, m, &b[i % EMB_BATCHES].view), "forward_backward");
    static double t[MAX_REPS], tf[MAX_REPS];
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now_ms();
        bench_check(sigeo_model_forward_backward(&loss, m, &b[r % EMB_BATCHES].view), "forward_backward");
        t[r] = bench_now_ms() - t0;
        t0 = bench_now_ms();
        bench_check(sigeo_model_forward(&loss, m, &b[(r + 3) % EMB_BATCHES].view), "forward");
        tf[r] = bench_now_ms() - t0;
    }
    double med = bench_median(t, reps), medf = bench_median(tf, reps);
    double rows_s = (double)EMB_BATCH / (med * 1e-3);
    const char *cas = "embedding-26x100k-d16-b512";
    bench_say("\nEmbedding bags: 26 tables 100k x 16, batch 512, 1 hashed id/field/row -> concat -> linear 1 -> BCE\n");
    bench_say("  forward+backward %.3f ms (median of %d; q1 %.3f, q3 %.3f)  = %.0f rows/s, %.2f M lookups/s\n", med,
              reps, bench_quantile_sorted(t, reps, 0.25), bench_quantile_sorted(t, reps, 0.75), rows_s,
              rows_s * EMB_FIELDS * 1e-6);
    bench_say("  forward only     %.3f ms\n", medf);
    bench_json("engine", cas, "fwd_bwd_ms", med, "ms");
    bench_json("engine", cas, "forward_ms", medf, "ms");
    bench_json("engine", cas, "rows_per_s", rows_s, "rows/s");
    for (int i = 0; i < EMB_BATCHES; i++)
        bench_batch_free(&b[i]);
    sigeo_model_destroy(m);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: bench-engine [--reps N] [--quick] [--threads N]\n"
                   "JSON lines on stdout, a table on stderr; see bench/README.md.\n");
            return 0;
        }
    int reps = bench_parse_reps(argc, argv, 30);
    if (reps > MAX_REPS)
        reps = MAX_REPS;
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.seed = 1;
    co.threads = bench_parse_threads(argc, argv);
    sigeo_context_t *ctx;
    bench_check(sigeo_context_create(&ctx, &co), "sigeo_context_create");
    bench_check(sigeo_context_get_options(&co, ctx), "sigeo_context_get_options");
    double load = bench_loadavg();
    bench_say("bench-engine: libsigeo %s, %u threads, load average %.2f at start%s\n", sigeo_version(),
              (unsigned)co.threads, load,
              load > 1.0 ? " (> 1: other processes are running, numbers will be noisy)" : "");
    bench_json("engine", "machine", "threads", (double)co.threads, "count");
    bench_json("engine", "machine", "loadavg_start", load, "load");

    section_mlp(ctx, reps, (int)co.threads);
    section_embedding(ctx, reps);

    double rss = bench_peak_rss_mib();
    bench_say("\nPeak RSS %.1f MiB; load average %.2f at the end\n", rss, bench_loadavg());
    bench_json("engine", "process", "peak_rss", rss, "MiB");
    bench_json("engine", "machine", "loadavg_end", bench_loadavg(), "load");
    sigeo_context_destroy(ctx);
    return 0;
}
