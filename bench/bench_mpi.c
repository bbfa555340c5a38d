/* bench-mpi: what scale-out with libsigeo-mpi costs and gains, under
 * `mpirun -np N bench-mpi [--space nasrec-small|nasrec-full] [--rows R]`:
 *   - warm-up step: wall ms per data-parallel step (batch 256, NASRec's
 *     Adagrad, any-path sampling), the part of it inside MPI, and the
 *     payload bytes each rank hands to collectives per step;
 *   - candidate scoring: wall ms per candidate of SiGeo (k = 4 batches of
 *     256) one by one on one rank, and through sigeo_mpi_map over the N
 *     ranks (the search's distributed scoring), with the result bytes.
 * One JSON line per measurement on stdout (rank 0), a table on stderr.
 * Timings on a shared machine: run it on an idle one (bench/README.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "sigeo/io.h"
#include "sigeo/mpi.h"
#include "sigeo/proxy.h"

#define CHECK(call)                                                                                  \
    do {                                                                                             \
        sigeo_status_t st_ = (call);                                                                 \
        if (st_ != SIGEO_OK) {                                                                       \
            fprintf(stderr, "bench-mpi: %s: %s\n", #call, sigeo_last_error());                      \
            MPI_Abort(MPI_COMM_WORLD, 1);                                                            \
        }                                                                                            \
    } while (0)

typedef struct scorer {
    sigeo_model_t *m;
    const int32_t *archs;
    int32_t n;
    sigeo_batch_t batches[4];
    sigeo_proxy_options_t po;
} scorer_t;

static sigeo_status_t score_task(void *result, int64_t i, void *user)
{
    scorer_t *s = user;
    sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
    sigeo_status_t st = sigeo_proxy_compute(s->m, s->archs + i * s->n, s->n, s->batches, 4, &s->po, &r);
    memcpy(result, &r, sizeof r);
    return st;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    const char *space_name = "nasrec-small";
    int64_t rows = 40000;
    int steps = 16, cands = 16;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--space"))
            space_name = argv[i + 1];
        else if (!strcmp(argv[i], "--rows"))
            rows = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--steps"))
            steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--candidates"))
            cands = atoi(argv[i + 1]);
    }
    sigeo_mpi_t *mpi;
    CHECK(sigeo_mpi_create(&mpi, MPI_COMM_WORLD));
    const int rank = sigeo_mpi_rank(mpi), np = sigeo_mpi_size(mpi);
    sigeo_synth_options_t so = SIGEO_SYNTH_OPTIONS_INIT;
    so.seed = 1;
    so.n_rows = rows;
    sigeo_dataset_t *data;
    CHECK(sigeo_synth_generate(&data, NULL, &so, NULL));
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.seed = 1;
    co.threads = 1; /* one compute thread per rank: ranks are the parallelism */
    sigeo_context_t *ctx;
    CHECK(sigeo_context_create(&ctx, &co));
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    CHECK(sigeo_dataset_get_info(&info, data));
    int64_t tables[26];
    size_t nt = 26;
    CHECK(sigeo_dataset_table_sizes(tables, &nt, data));
    sigeo_space_options_t sp = SIGEO_SPACE_OPTIONS_INIT;
    sp.n_dense = info.n_dense;
    sp.n_sparse_fields = info.n_sparse_fields;
    sp.table_rows = tables;
    sigeo_model_t *m;
    CHECK(sigeo_space_build(&m, ctx, space_name, &sp));
    int32_t n;
    CHECK(sigeo_model_choices(&n, NULL, 0, m));

    /* ---- warm-up steps */
    sigeo_optimizer_options_t oo = SIGEO_OPTIMIZER_OPTIONS_INIT;
    oo.kind = SIGEO_OPT_ADAGRAD;
    oo.lr = 0.12;
    oo.eps = 1e-2;
    oo.clip_norm = 5.0;
    sigeo_optimizer_t *opt;
    CHECK(sigeo_optimizer_create(&opt, m, &oo));
    sigeo_train_options_t to = SIGEO_TRAIN_OPTIONS_INIT;
    to.sampling = SIGEO_SAMPLE_ANY_PATH_BINOMIAL;
    to.batch_size = 256;
    to.max_samples = (int64_t)steps * 256;
    to.drop_last = 1;
    CHECK(sigeo_mpi_train_options(&to, mpi));
    sigeo_mpi_stats_t s0 = SIGEO_MPI_STATS_INIT, s1 = SIGEO_MPI_STATS_INIT;
    CHECK(sigeo_mpi_get_stats(&s0, mpi));
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = bench_now_ms();
    CHECK(sigeo_train(NULL, m, opt, data, NULL, NULL, &to, NULL, NULL));
    double step_ms = (bench_now_ms() - t0) / steps;
    CHECK(sigeo_mpi_get_stats(&s1, mpi));
    const double bytes_step = (double)(s1.bytes_sent - s0.bytes_sent) / steps;
    const double comm_ms = 1e3 * (s1.seconds_comm - s0.seconds_comm) / steps;
    double worst_step = 0.0;
    MPI_Reduce(&step_ms, &worst_step, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    sigeo_optimizer_destroy(opt);

    /* ---- candidate scoring: the same candidates, one rank alone vs the map */
    scorer_t sc = { m, NULL, n, { SIGEO_BATCH_INIT }, SIGEO_PROXY_OPTIONS_INIT };
    sc.po.lambda_preset = SIGEO_PRESET_RECSYS;
    sigeo_batch_set_t *set;
    CHECK(sigeo_batch_set_create(&set, data, 0, 4, 256, SIGEO_BATCH_DROP_LAST));
    for (uint32_t i = 0; i < 4; i++) {
        sc.batches[i] = (sigeo_batch_t)SIGEO_BATCH_INIT;
        CHECK(sigeo_batch_set_get(&sc.batches[i], set, i));
    }
    int32_t *archs = malloc((size_t)cands * (size_t)n * sizeof *archs);
    for (int i = 0; i < cands; i++)
        CHECK(sigeo_model_sample_arch(archs + (size_t)i * n, n, m, SIGEO_SAMPLE_ANY_PATH));
    sc.archs = archs;
    sigeo_proxy_result_t *res = malloc((size_t)cands * sizeof *res);
    double one_ms = 0.0;
    if (rank == 0) { /* one by one, rank 0 alone (the others wait at the barrier) */
        t0 = bench_now_ms();
        for (int i = 0; i < cands; i++)
            CHECK(score_task(&res[i], i, &sc));
        one_ms = (bench_now_ms() - t0) / cands;
    }
    MPI_Barrier(MPI_COMM_WORLD);
    CHECK(sigeo_mpi_get_stats(&s0, mpi));
    t0 = bench_now_ms();
    CHECK(sigeo_mpi_map(res, sizeof *res, cands, score_task, &sc, mpi));
    const double map_ms = (bench_now_ms() - t0) / cands;
    CHECK(sigeo_mpi_get_stats(&s1, mpi));
    const double map_bytes = (double)(s1.bytes_sent - s0.bytes_sent);

    if (rank == 0) {
        double load = bench_loadavg();
        printf("{\"bench\":\"mpi\",\"space\":\"%s\",\"np\":%d,\"choices\":%d,\"warmup_step_ms\":%.3f,"
               "\"warmup_step_ms_slowest_rank\":%.3f,\"warmup_comm_ms\":%.3f,\"warmup_bytes_per_step_per_rank\":%.0f,"
               "\"score_ms_one_rank\":%.3f,\"score_ms_mapped\":%.3f,\"map_bytes_rank0\":%.0f,\"candidates\":%d,"
               "\"loadavg\":%.2f}\n",
               space_name, np, (int)n, step_ms, worst_step, comm_ms, bytes_step, one_ms, map_ms, map_bytes, cands,
               load);
        fprintf(stderr,
                "%s, np %d (%d choice points; load average %.2f: the machine is shared)\n"
                "  warm-up step     %8.2f ms (slowest rank %.2f), in MPI %.2f ms, %.0f bytes/step/rank\n"
                "  score candidate  %8.2f ms one rank alone, %.2f ms per candidate through the map (x%.2f)\n",
                space_name, np, (int)n, load, step_ms, worst_step, comm_ms, bytes_step, one_ms, map_ms,
                one_ms / map_ms);
    }
    free(res);
    free(archs);
    sigeo_batch_set_destroy(set);
    sigeo_model_destroy(m);
    sigeo_context_destroy(ctx);
    sigeo_dataset_destroy(data);
    sigeo_mpi_destroy(mpi);
    MPI_Finalize();
    return 0;
}
