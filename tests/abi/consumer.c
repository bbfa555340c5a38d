/* A host program as a user would write it against an installed libsigeo:
 * only <sigeo/...> headers, built with `pkg-config --cflags --libs sigeo`
 * (test-pkgconfig-consumer.sh). Context, stats handle, two batches, score.
 *
 * One module of three parameters; batch-mean gradients g1 = (1, 2, -1) and
 * g2 = (3, 4, 1) give mu = (2, 3, 1) and sigma = (1, 1, 1), so
 * zico = log 6; d_n = (1, 2) and (2, 1) give fr = 10 / 4 = 2.5. Under the
 * default zero-shot preset score = log 6 + log 2.5 = log 15. */
#include <stdio.h>

#include <sigeo/sigeo.h>
#include <sigeo/stats.h>

#define CHECK(call)                                                                                \
    do {                                                                                           \
        sigeo_status_t st_ = (call);                                                               \
        if (st_ != SIGEO_OK) {                                                                     \
            printf("consumer: %s failed: %s: %s\n", #call, sigeo_status_string(st_), sigeo_last_error()); \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

int main(void)
{
    if (sigeo_version_number() != SIGEO_VERSION_NUMBER) {
        printf("consumer: headers %s but library %s\n", SIGEO_VERSION_STRING, sigeo_version());
        return 1;
    }

    sigeo_context_options_t copt = SIGEO_CONTEXT_OPTIONS_INIT;
    copt.threads = 1;
    copt.seed = 7;
    sigeo_context_t *ctx = NULL;
    CHECK(sigeo_context_create(&ctx, &copt));

    sigeo_stats_options_t sopt = SIGEO_STATS_OPTIONS_INIT;
    sigeo_stats_t *stats = NULL;
    CHECK(sigeo_stats_create(&stats, ctx, &sopt));
    int32_t module = -1;
    CHECK(sigeo_stats_add_module(&module, stats, "fc0.weight", 3));

    static const float g[2][3] = { { 1.0f, 2.0f, -1.0f }, { 3.0f, 4.0f, 1.0f } };
    static const double d[2][2] = { { 1.0, 2.0 }, { 2.0, 1.0 } };
    const int64_t count = 3;
    for (int i = 0; i < 2; i++) {
        const float *grads[1] = { g[i] };
        sigeo_stats_batch_t b = SIGEO_STATS_BATCH_INIT;
        b.n_modules = 1;
        b.gradients = grads;
        b.gradient_counts = &count;
        b.loss = 0.5;
        b.batch_size = 2;
        b.directional = d[i];
        CHECK(sigeo_stats_add_batch(stats, &b));
    }

    sigeo_stats_result_t r = SIGEO_STATS_RESULT_INIT;
    CHECK(sigeo_stats_compute(&r, stats));
    const double want = 2.70805020110221006599600; /* log 15 */
    double err = r.score - want;
    if (err < 0)
        err = -err;
    if (r.n_batches != 2 || r.n_samples != 4 || r.n_modules != 1 || !(err < 1e-6 * want)) /* sigma is stored as a float root: ~1e-7 relative */ {
        printf("consumer: unexpected result: score %.17g (want %.17g), %llu batches, %llu samples\n", r.score,
               want, (unsigned long long)r.n_batches, (unsigned long long)r.n_samples);
        return 1;
    }

    sigeo_stats_destroy(stats);
    sigeo_context_destroy(ctx);
    uint64_t bytes = 1, blocks = 1;
    sigeo_memory_in_use(&bytes, &blocks);
    if (bytes != 0 || blocks != 0) {
        printf("consumer: %llu bytes in %llu blocks still held\n", (unsigned long long)bytes,
               (unsigned long long)blocks);
        return 1;
    }
    printf("consumer: libsigeo %s, score %.15g = log 15\n", sigeo_version(), r.score);
    return 0;
}
