/* sigeo-rank's parallelism choice: training NB201-cell networks (the
 * all-nor_conv_3x3 arch, batch 128, SGD Nesterov) as
 *   (a) one process, one thread;
 *   (b) one process, --threads T intra-op threads;
 *   (c) T processes of one thread each (one arch per core, as sigeo-rank --jobs).
 * Prints steps per second of the whole machine for each and the ratios
 * (c)/(b) and (b)/(a). Wall time of whole processes (model building and
 * two untimed warm-up steps included, the same in every setting), so run
 * it on an idle machine with enough steps (default 20) to dominate.
 *
 *   bench-rank-parallel [--steps N] [--threads T]      (defaults 20, 2) */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "sigeo/search.h"
#include "sigeo/train.h"

static int train_steps(int threads, int steps, double *ms_out)
{
    sigeo_context_t *ctx;
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.seed = 1;
    o.threads = (uint32_t)threads;
    const int32_t ops[6] = { 3, 3, 3, 3, 3, 3 };
    sigeo_model_t *m = NULL;
    sigeo_optimizer_t *opt = NULL;
    sigeo_optimizer_options_t oo = SIGEO_OPTIMIZER_OPTIONS_INIT;
    oo.momentum = 0.9;
    oo.nesterov = 1;
    oo.weight_decay = 5e-4;
    if (sigeo_context_create(&ctx, &o) != SIGEO_OK || sigeo_nb201_build(&m, ctx, ops) != SIGEO_OK ||
        sigeo_optimizer_create(&opt, m, &oo) != SIGEO_OK) {
        fprintf(stderr, "bench-rank-parallel: %s\n", sigeo_last_error());
        return 1;
    }
    float *x = malloc(128 * 784 * sizeof *x);
    int32_t labels[128];
    for (int i = 0; i < 128 * 784; i++)
        x[i] = (float)((i * 37) % 256) / 255.0f;
    for (int i = 0; i < 128; i++)
        labels[i] = i % 10;
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = 128;
    b.dense = x;
    b.n_dense = 784;
    b.labels = labels;
    double loss;
    int rc = 0;
    for (int s = -2; s < steps && rc == 0; s++) { /* two warm-up steps build the primitives */
        if (s == 0)
            *ms_out = bench_now_ms();
        rc = sigeo_model_forward_backward(&loss, m, &b) != SIGEO_OK || sigeo_optimizer_step(opt, 0.05) != SIGEO_OK;
    }
    *ms_out = bench_now_ms() - *ms_out;
    free(x);
    sigeo_optimizer_destroy(opt);
    sigeo_model_destroy(m);
    sigeo_context_destroy(ctx);
    return rc;
}

/* Wall time of `procs` forked processes, each training `steps` steps at
 * `threads` threads, from the first fork to the last exit (-1 on failure). */
static double timed(int procs, int threads, int steps)
{
    const double t0 = bench_now_ms();
    for (int p = 0; p < procs; p++) {
        pid_t pid = fork();
        if (pid == 0) {
            double ms;
            _exit(train_steps(threads, steps, &ms));
        }
        if (pid < 0)
            return -1;
    }
    int status, failed = 0;
    while (wait(&status) > 0)
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    return failed ? -1 : bench_now_ms() - t0;
}

int main(int argc, char **argv)
{
    int steps = 20, threads = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--steps"))
            steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
    }
    if (steps < 1 || threads < 1 || threads > 64) {
        fprintf(stderr, "usage: bench-rank-parallel [--steps N >= 1] [--threads 1..64]\n");
        return 2;
    }
    /* Every measurement runs in fresh forked processes: libgomp is not
     * fork-safe once the parent ran a parallel region (a child would hang). */
    const double a = timed(1, 1, steps), b = timed(1, threads, steps), c = timed(threads, 1, steps);
    if (a < 0 || b < 0 || c < 0)
        return 1;
    const double sa = 1e3 * steps / a, sb = 1e3 * steps / b, sc = 1e3 * steps * threads / c;
    printf("{\"bench\":\"rank_parallel\",\"steps\":%d,\"threads\":%d,\"one_thread_steps_per_s\":%.4f,"
           "\"intra_op_steps_per_s\":%.4f,\"processes_steps_per_s\":%.4f}\n",
           steps, threads, sa, sb, sc);
    fprintf(stderr,
            "NB201 all-conv3x3, batch 128: steps/s  1 thread %.3f   %d threads %.3f   %d processes x 1 thread %.3f\n"
            "ratios: processes / intra-op threads %.2f   intra-op threads / 1 thread %.2f\n",
            sa, threads, sb, threads, sc, sc / sb, sb / sa);
    return 0;
}
