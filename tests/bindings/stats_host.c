/* A host that needs only sigeo/stats.h, built by run-bindings.sh with
 * nothing but `pkg-config --cflags --libs sigeo-stats`: it must compile
 * against the installed headers, link without oneDNN or OpenBLAS, and score.
 * Two modules, two batches of hand-made gradients; the ZiCo term is checked
 * against the closed form computed here (mean |g| / std g per parameter,
 * population std, summed per module, log of each module's sum). */
#include <math.h>
#include <stdio.h>

#include "sigeo/stats.h"

int main(void)
{
    const float g1a[2] = { 1.0f, -2.0f }, g1b[2] = { 3.0f, -4.0f };
    const float g2a[3] = { 0.5f, 1.0f, 2.0f }, g2b[3] = { 1.5f, 3.0f, 1.0f };
    sigeo_stats_t *s = NULL;
    sigeo_stats_options_t o;
    sigeo_stats_options_init(&o, sizeof o);
    o.lambda_preset = SIGEO_PRESET_CUSTOM; /* ZiCo and the loss only: no per-sample d_n here */
    o.lambda1 = 1.0;
    o.lambda2 = 0.0;
    o.lambda3 = 1.0;
    if (sigeo_stats_create(&s, NULL, &o) != SIGEO_OK || sigeo_stats_add_module(NULL, s, "a", 2) != SIGEO_OK ||
        sigeo_stats_add_module(NULL, s, "b", 3) != SIGEO_OK) {
        fprintf(stderr, "stats_host: %s\n", sigeo_last_error());
        return 1;
    }
    const float *batches[2][2] = { { g1a, g2a }, { g1b, g2b } };
    const int64_t counts[2] = { 2, 3 };
    for (int k = 0; k < 2; k++) {
        sigeo_stats_batch_t b;
        sigeo_stats_batch_init(&b, sizeof b);
        b.n_modules = 2;
        b.gradients = batches[k];
        b.gradient_counts = counts;
        b.loss = 1.0;
        b.batch_size = 8;
        if (sigeo_stats_add_batch(s, &b) != SIGEO_OK) {
            fprintf(stderr, "stats_host: %s\n", sigeo_last_error());
            return 1;
        }
    }
    sigeo_stats_result_t r;
    sigeo_stats_result_init(&r, sizeof r);
    if (sigeo_stats_compute(&r, s) != SIGEO_OK) {
        fprintf(stderr, "stats_host: %s\n", sigeo_last_error());
        return 1;
    }
    /* Independent closed form: with two samples x, y the population std is
     * |x - y| / 2 and the mean |g| is (|x| + |y|) / 2. */
    const float *first[2] = { g1a, g2a }, *second[2] = { g1b, g2b };
    double want = 0.0;
    for (int m = 0; m < 2; m++) {
        double sum = 0.0;
        for (int64_t j = 0; j < counts[m]; j++) {
            const double x = first[m][j], y = second[m][j];
            sum += ((fabs(x) + fabs(y)) / 2.0) / (fabs(x - y) / 2.0);
        }
        want += log(sum);
    }
    sigeo_stats_destroy(s);
    if (fabs(r.zico - want) > 1e-5 * fabs(want)) {
        fprintf(stderr, "stats_host: zico %.9g, closed form %.9g\n", r.zico, want);
        return 1;
    }
    printf("zico %.6f (closed form %.6f)\n", r.zico, want);
    return 0;
}
