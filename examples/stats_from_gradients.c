/* Scoring with your own framework: this program plays the host. It trains
 * nothing and uses none of libsigeo's model engine; it computes, in plain C,
 * the gradients of a small softmax-regression-plus-hidden-layer network on a
 * synthetic task, as PyTorch or a C++ trainer would, and hands them to the
 * statistics API (sigeo/stats.h):
 *   - each module's flattened batch-mean gradient, per batch;
 *   - the per-sample directional derivatives d_n = theta . grad l_n
 *     (computed here by the one-backward identity: per layer, the output
 *     gradient of sample n dotted with the layer's output);
 *   - the batch loss.
 * It scores two candidate widths and prints every component.
 *
 *   stats_from_gradients [--k K] [--batch B] [--seed S] [--json]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigeo/stats.h"

enum { IN = 20, CLASSES = 4 };

typedef struct net {
    int hidden;
    float *w1, *b1, *w2, *b2; /* [hidden, IN], [hidden], [CLASSES, hidden], [CLASSES] */
} net_t;

static uint64_t rng = 1;
static double uniform(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng >> 11) * 0x1.0p-53;
}
static double normal(void)
{
    return sqrt(-2.0 * log(1.0 - uniform())) * cos(6.283185307179586 * uniform());
}

static void net_init(net_t *n, int hidden)
{
    n->hidden = hidden;
    n->w1 = malloc(sizeof(float) * (size_t)(hidden * IN));
    n->b1 = malloc(sizeof(float) * (size_t)hidden);
    n->w2 = malloc(sizeof(float) * (size_t)(CLASSES * hidden));
    n->b2 = malloc(sizeof(float) * CLASSES);
    for (int i = 0; i < hidden * IN; i++)
        n->w1[i] = (float)((2 * uniform() - 1) / sqrt(IN));
    for (int i = 0; i < hidden; i++)
        n->b1[i] = (float)((2 * uniform() - 1) / sqrt(IN));
    for (int i = 0; i < CLASSES * hidden; i++)
        n->w2[i] = (float)((2 * uniform() - 1) / sqrt(hidden));
    for (int i = 0; i < CLASSES; i++)
        n->b2[i] = (float)((2 * uniform() - 1) / sqrt(hidden));
}

static void net_free(net_t *n)
{
    free(n->w1);
    free(n->b1);
    free(n->w2);
    free(n->b2);
}

/* Mean softmax-CE loss of a batch; gradients (batch means) into g*, and the
 * per-sample directional derivatives into d[]. */
static double net_grad(const net_t *n, const float *x, const int *y, int B, float *gw1, float *gb1, float *gw2,
                       float *gb2, double *d)
{
    int H = n->hidden;
    memset(gw1, 0, sizeof(float) * (size_t)(H * IN));
    memset(gb1, 0, sizeof(float) * (size_t)H);
    memset(gw2, 0, sizeof(float) * (size_t)(CLASSES * H));
    memset(gb2, 0, sizeof(float) * CLASSES);
    double loss = 0;
    float *z = malloc(sizeof(float) * (size_t)H), *h = malloc(sizeof(float) * (size_t)H);
    float *dh = malloc(sizeof(float) * (size_t)H);
    for (int s = 0; s < B; s++) {
        const float *xs = x + s * IN;
        for (int j = 0; j < H; j++) {
            double a = n->b1[j];
            for (int i = 0; i < IN; i++)
                a += n->w1[j * IN + i] * xs[i];
            z[j] = (float)a;
            h[j] = a > 0 ? (float)a : 0.0f;
        }
        double f[CLASSES], mx = -1e300, se = 0;
        for (int c = 0; c < CLASSES; c++) {
            double a = n->b2[c];
            for (int j = 0; j < H; j++)
                a += n->w2[c * H + j] * h[j];
            f[c] = a;
            mx = a > mx ? a : mx;
        }
        for (int c = 0; c < CLASSES; c++)
            se += exp(f[c] - mx);
        loss += mx + log(se) - f[y[s]];
        /* per-sample output gradients (of l_n, not the mean) */
        double df[CLASSES], dir = 0;
        for (int c = 0; c < CLASSES; c++) {
            df[c] = exp(f[c] - mx) / se - (c == y[s]);
            dir += df[c] * f[c]; /* layer 2: delta . y */
            gb2[c] += (float)(df[c] / B);
            for (int j = 0; j < H; j++)
                gw2[c * H + j] += (float)(df[c] * h[j] / B);
        }
        for (int j = 0; j < H; j++) {
            double a = 0;
            for (int c = 0; c < CLASSES; c++)
                a += df[c] * n->w2[c * H + j];
            dh[j] = z[j] > 0 ? (float)a : 0.0f;
            dir += dh[j] * z[j]; /* layer 1: delta . y (pre-activation output) */
            gb1[j] += dh[j] / (float)B;
            for (int i = 0; i < IN; i++)
                gw1[j * IN + i] += dh[j] * xs[i] / (float)B;
        }
        d[s] = dir;
    }
    free(z);
    free(h);
    free(dh);
    return loss / B;
}

static int fail(const char *what, sigeo_status_t st)
{
    fprintf(stderr, "stats_from_gradients: %s: %s (%s)\n", what, sigeo_last_error(), sigeo_status_string(st));
    return 1;
}

int main(int argc, char **argv)
{
    int k = 4, B = 64, json = 0;
    unsigned long long seed = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: %s [--k K] [--batch B] [--seed S] [--json]\n"
                   "Plays a host framework: computes gradients of two small networks in plain C and scores them\n"
                   "with libsigeo's statistics API (SiGeo = ZiCo + log Fisher-Rao - loss).\n",
                   argv[0]);
            return 0;
        } else if (!strcmp(argv[i], "--k") && i + 1 < argc) {
            k = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--batch") && i + 1 < argc) {
            B = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else {
            fprintf(stderr, "stats_from_gradients: unknown argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (k < 1 || B < 1) {
        fprintf(stderr, "stats_from_gradients: --k and --batch must be >= 1\n");
        return 2;
    }
    rng = seed * 2654435761ull + 1;
    /* A teacher labels Gaussian inputs: the task the candidates are scored on. */
    float *x = malloc(sizeof(float) * (size_t)(k * B * IN));
    int *y = malloc(sizeof(int) * (size_t)(k * B));
    for (int s = 0; s < k * B; s++) {
        double best = -1e300;
        for (int i = 0; i < IN; i++)
            x[s * IN + i] = (float)normal();
        for (int c = 0; c < CLASSES; c++) {
            double a = 0;
            for (int i = 0; i < IN; i++)
                a += sin(1.0 + c * 3.1 + i * 0.7) * x[s * IN + i] * x[s * IN + (i + c + 1) % IN];
            if (a > best) {
                best = a;
                y[s] = c;
            }
        }
    }
    const int widths[2] = { 8, 64 };
    if (json)
        printf("[");
    for (int w = 0; w < 2; w++) {
        net_t n;
        net_init(&n, widths[w]);
        int H = n.hidden;
        sigeo_stats_options_t o = SIGEO_STATS_OPTIONS_INIT; /* zero-shot lambdas (1, 1, 0), exact FR */
        sigeo_stats_t *s;
        sigeo_status_t st = sigeo_stats_create(&s, NULL, &o);
        if (st != SIGEO_OK)
            return fail("create", st);
        int32_t m1, m2;
        if ((st = sigeo_stats_add_module(&m1, s, "fc1", (int64_t)H * IN + H)) != SIGEO_OK ||
            (st = sigeo_stats_add_module(&m2, s, "fc2", (int64_t)CLASSES * H + CLASSES)) != SIGEO_OK)
            return fail("add_module", st);
        /* Each module's gradient as one flat vector: weight then bias. */
        float *g1 = malloc(sizeof(float) * (size_t)(H * IN + H)), *g2 = malloc(sizeof(float) * (size_t)(CLASSES * H + CLASSES));
        double *d = malloc(sizeof(double) * (size_t)B);
        for (int b = 0; b < k; b++) {
            double loss = net_grad(&n, x + b * B * IN, y + b * B, B, g1, g1 + H * IN, g2, g2 + CLASSES * H, d);
            const float *grads[2] = { g1, g2 };
            const int64_t counts[2] = { (int64_t)H * IN + H, (int64_t)CLASSES * H + CLASSES };
            sigeo_stats_batch_t batch = SIGEO_STATS_BATCH_INIT;
            batch.n_modules = 2;
            batch.gradients = grads;
            batch.gradient_counts = counts;
            batch.loss = loss;
            batch.batch_size = B;
            batch.directional = d;
            if ((st = sigeo_stats_add_batch(s, &batch)) != SIGEO_OK)
                return fail("add_batch", st);
        }
        sigeo_stats_result_t r = SIGEO_STATS_RESULT_INIT;
        if ((st = sigeo_stats_compute(&r, s)) != SIGEO_OK)
            return fail("compute", st);
        if (json)
            printf("%s{\"hidden\":%d,\"score\":%.10g,\"zico\":%.10g,\"fr\":%.10g,\"log_fr\":%.10g,\"loss\":%.10g,"
                   "\"n_samples\":%llu,\"k\":%llu,\"n_modules\":%u,\"n_modules_skipped\":%u}",
                   w ? "," : "", H, r.score, r.zico, r.fr, r.log_fr, r.loss, (unsigned long long)r.n_samples,
                   (unsigned long long)r.n_batches, r.n_modules, r.n_modules_skipped);
        else
            printf("hidden %3d: SiGeo %9.4f = zico %9.4f + log FR %9.4f (FR %.4g) - 0 x loss %.4f   "
                   "[%llu samples in %llu batches, %u modules, %u skipped]\n",
                   H, r.score, r.zico, r.log_fr, r.fr, r.loss, (unsigned long long)r.n_samples,
                   (unsigned long long)r.n_batches, r.n_modules, r.n_modules_skipped);
        free(g1);
        free(g2);
        free(d);
        sigeo_stats_destroy(s);
        net_free(&n);
    }
    if (json)
        printf("]\n");
    free(x);
    free(y);
    return 0;
}
