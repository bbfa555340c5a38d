/* bench-threads: where a second OpenMP thread starts to pay, the crossover
 * the AUTO thread policy's threshold (sigeo.h, SIGEO_PARALLEL_MIN_FLOPS_DEFAULT)
 * is chosen from.
 *
 * For a ladder of square MLP steps (batch B, width W: input W -> W -> W ->
 * 10, softmax CE; the biggest GEMM is 2 B W W FLOPs), one forward+backward
 * is timed on three contexts: FIXED 1 thread, FIXED N threads, AUTO N
 * threads (default threshold). Printed per case: medians and the ratios
 * t(FIXED N) / t(1) (below 1: the second thread pays) and t(AUTO) / t(1).
 * The three contexts' repetitions alternate, so all see the same load.
 *
 *   bench-threads [--threads N] [--reps R] [--quick] [--busy]
 *
 * --busy forks one busy-looping process for the duration (killed at exit):
 * the "one competing process" of issue 14, inside one run. */
#include <math.h>
#include <stdbool.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "sigeo/model.h"

typedef struct runner {
    sigeo_context_t *ctx;
    sigeo_model_t *model;
} runner_t;

static int32_t add_linear(sigeo_model_t *m, const char *name, int32_t in, int64_t units, bool relu)
{
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.name = name;
    d.inputs = &in;
    d.n_inputs = 1;
    d.units = units;
    int32_t id;
    bench_check(sigeo_model_add_layer(&id, m, &d), "adding a linear layer");
    if (!relu)
        return id;
    sigeo_layer_desc_t r = SIGEO_LAYER_DESC_INIT;
    r.kind = SIGEO_LAYER_ACTIVATION;
    char rname[32];
    snprintf(rname, sizeof rname, "%s.relu", name);
    r.name = rname;
    r.inputs = &id;
    r.n_inputs = 1;
    r.activation = SIGEO_ACT_RELU;
    bench_check(sigeo_model_add_layer(&id, m, &r), "adding a relu");
    return id;
}

static runner_t make(uint32_t threads, uint32_t policy, int64_t width)
{
    runner_t r;
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.threads = threads;
    o.thread_policy = policy;
    o.seed = 1;
    bench_check(sigeo_context_create(&r.ctx, &o), "creating a context");
    bench_check(sigeo_model_create(&r.model, r.ctx, "mlp"), "creating a model");
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "x";
    in.features = width;
    int32_t x;
    bench_check(sigeo_model_add_input(&x, r.model, &in), "adding the input");
    int32_t h = add_linear(r.model, "fc0", x, width, true);
    h = add_linear(r.model, "fc1", h, width, true);
    int32_t y = add_linear(r.model, "fc2", h, 10, false);
    bench_check(sigeo_model_set_loss(r.model, y, SIGEO_LOSS_SOFTMAX_CE), "setting the loss");
    bench_check(sigeo_model_finalize(r.model), "finalising");
    return r;
}

static double step_ms(runner_t *r, const sigeo_batch_t *b)
{
    double loss, t0 = bench_now_ms();
    bench_check(sigeo_model_forward_backward(&loss, r->model, b), "forward+backward");
    return bench_now_ms() - t0;
}

int main(int argc, char **argv)
{
    uint32_t threads = bench_parse_threads(argc, argv);
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 1 ? (uint32_t)n : 2u;
    }
    int reps = bench_parse_reps(argc, argv, 40);
    pid_t busy = 0;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--busy") == 0 && busy == 0) {
            busy = fork();
            if (busy == 0) {
                /* dies with the bench, whatever way the bench ends */
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() == 1)
                    _exit(0);
                for (volatile unsigned long k = 0;; k++)
                    ;
            }
        }
    const double load0 = bench_loadavg();
    bench_say("bench-threads: 1 vs %u threads, %d reps, load average %.2f at start%s\n", (unsigned)threads, reps,
              load0, busy > 0 ? ", one busy competitor running" : "");
    bench_say("%-14s %12s %9s %9s %9s %10s %10s\n", "case", "max GEMM MF", "1 thr ms", "N thr ms", "AUTO ms",
              "N/1", "AUTO/1");
    static const int64_t cases[][2] = { { 16, 64 },  { 32, 128 }, { 64, 128 },  { 64, 256 },  { 64, 512 },
                                        { 128, 512 }, { 256, 512 }, { 256, 1024 }, { 512, 1024 } };
    const int n_cases = (int)(sizeof cases / sizeof cases[0]);
    for (int c = 0; c < n_cases; c++) {
        const int64_t batch = cases[c][0], width = cases[c][1];
        runner_t r[3] = { make(1, SIGEO_THREADS_FIXED, width), make(threads, SIGEO_THREADS_FIXED, width),
                          make(threads, SIGEO_THREADS_AUTO, width) };
        float *dense = malloc((size_t)(batch * width) * sizeof(float));
        int32_t *labels = malloc((size_t)batch * sizeof(int32_t));
        double *t[3];
        for (int k = 0; k < 3; k++)
            t[k] = malloc((size_t)reps * sizeof(double));
        if (!dense || !labels || !t[0] || !t[1] || !t[2]) {
            fprintf(stderr, "bench-threads: out of memory\n");
            return 1;
        }
        uint64_t seed = 7;
        bench_fill_uniform(dense, batch * width, &seed);
        for (int64_t i = 0; i < batch; i++)
            labels[i] = (int32_t)(i % 10);
        sigeo_batch_t b = SIGEO_BATCH_INIT;
        b.batch_size = batch;
        b.dense = dense;
        b.n_dense = width;
        b.labels = labels;
        for (int k = 0; k < 3; k++) /* warm-up: primitive creation, first touch */
            for (int w = 0; w < 3; w++)
                step_ms(&r[k], &b);
        for (int i = 0; i < reps; i++)
            for (int k = 0; k < 3; k++)
                t[k][i] = step_ms(&r[k], &b);
        double med[3];
        for (int k = 0; k < 3; k++)
            med[k] = bench_median(t[k], reps);
        char name[32];
        snprintf(name, sizeof name, "b%lld-w%lld", (long long)batch, (long long)width);
        const double mflop = 2.0 * (double)batch * (double)width * (double)width / 1e6;
        bench_say("%-14s %12.2f %9.3f %9.3f %9.3f %10.2f %10.2f\n", name, mflop, med[0], med[1], med[2],
                  med[1] / med[0], med[2] / med[0]);
        bench_json("threads", name, "max_gemm_mflop", mflop, "MFLOP");
        bench_json("threads", name, "one_ms", med[0], "ms");
        bench_json("threads", name, "fixed_ms", med[1], "ms");
        bench_json("threads", name, "auto_ms", med[2], "ms");
        bench_json("threads", name, "fixed_over_one", med[1] / med[0], "ratio");
        bench_json("threads", name, "auto_over_one", med[2] / med[0], "ratio");
        for (int k = 0; k < 3; k++) {
            free(t[k]);
            sigeo_model_destroy(r[k].model);
            sigeo_context_destroy(r[k].ctx);
        }
        free(dense);
        free(labels);
    }
    if (busy > 0) {
        kill(busy, SIGKILL);
        waitpid(busy, NULL, 0);
    }
    bench_json("threads", "machine", "threads", threads, "count");
    bench_json("threads", "machine", "loadavg_start", load0, "load");
    bench_json("threads", "machine", "loadavg_end", bench_loadavg(), "load");
    bench_say("load average %.2f at the end\n", bench_loadavg());
    return 0;
}
