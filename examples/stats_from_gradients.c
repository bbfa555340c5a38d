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
 *   stats_from_gradients [--k K] [--batch B] [--seed S] [--json] [--out FILE]
 *
 * (The command line, --version, the JSON's provenance block and the atomic
 * --out file use the example programs' shared helpers in examples/common;
 * the scoring itself is the handful of sigeo/stats.h calls below.)
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigeo/stats.h"

#include "cli.h"
#include "json_out.h"
#include "output.h"
#include "program.h"
#include "provenance.h"

#define PROG "stats_from_gradients"

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
    fprintf(stderr, PROG ": %s: %s (%s)\n", what, sigeo_last_error(), sigeo_status_string(st));
    return PROGRAM_EXIT_FAILURE;
}

static void usage(void)
{
    printf("Usage: " PROG " [options]\n"
           "\n"
           "Plays a host framework: computes, in plain C, the gradients and per-sample directional derivatives\n"
           "of two small networks (hidden widths 8 and 64) on a synthetic 4-class task and scores them with\n"
           "libsigeo's statistics API (SiGeo = ZiCo + log Fisher-Rao - 0 x loss, the zero-shot lambdas).\n"
           "\n"
           "Options:\n"
           "  --k K                batches per candidate (default 4; ZiCo needs >= 2)\n"
           "  --batch B            samples per batch (default 64)\n"
           "  --seed S             seed of the data and the initialisation (default 1)\n"
           "  --json               print the results as one JSON object instead of text\n"
           "  --out FILE           also write that JSON object to FILE (atomically)\n");
    program_help_options(stdout, 0);
    printf("\n"
           "Examples:\n"
           "  " PROG "                      text, one line per candidate\n"
           "  " PROG " --k 8 --json         JSON on stdout\n"
           "\n");
    program_help_exit_status(stdout, 0);
}

typedef struct candidate {
    int hidden;
    sigeo_stats_result_t r;
} candidate_t;

/* What the JSON reports: the command line and the two candidates. */
typedef struct report {
    int argc;
    char **argv;
    int64_t seed;
    const candidate_t *cands;
    int n;
} report_t;

static void write_json(json_out_t *j, const void *user)
{
    const report_t *r = user;
    provenance_t pv = { PROG ".result", 1, PROG, r->argc, r->argv, -1, &r->seed, 1, 0 };
    json_out_begin_object(j);
    provenance_json(j, &pv);
    json_out_key(j, "candidates");
    json_out_begin_array(j);
    for (int i = 0; i < r->n; i++) {
        json_out_begin_object(j);
        json_out_key_int(j, "hidden", r->cands[i].hidden);
        provenance_json_stats_result(j, &r->cands[i].r);
        json_out_end_object(j);
    }
    json_out_end_array(j);
    json_out_end_object(j);
}

int main(int argc, char **argv)
{
    int64_t k = 4, B = 64, seed = 1;
    int json = 0;
    const char *out_path = NULL;
    cli_t cl;
    cli_init(&cl, PROG, argc, argv);
    int ro;
    while (cli_next(&cl)) {
        if (cli_flag(&cl, "--help") || cli_flag(&cl, "-h")) {
            usage();
            return PROGRAM_EXIT_OK;
        } else if (cli_flag(&cl, "--version")) {
            return program_print_version(PROG);
        } else if (cli_flag(&cl, "--json")) {
            json = 1;
        } else if ((ro = cli_option(&cl, "--k")) != 0) {
            if (ro < 0 || cli_int64(&cl, &k, 2, 4096))
                return PROGRAM_EXIT_USAGE;
        } else if ((ro = cli_option(&cl, "--batch")) != 0) {
            if (ro < 0 || cli_int64(&cl, &B, 1, 1 << 16))
                return PROGRAM_EXIT_USAGE;
        } else if ((ro = cli_option(&cl, "--seed")) != 0) {
            if (ro < 0 || cli_int64(&cl, &seed, 0, INT64_MAX))
                return PROGRAM_EXIT_USAGE;
        } else if ((ro = cli_option(&cl, "--out")) != 0) {
            if (ro < 0)
                return PROGRAM_EXIT_USAGE;
            out_path = cl.value;
        } else {
            cli_unknown(&cl);
            return PROGRAM_EXIT_USAGE;
        }
    }
    if (k * B > (1 << 22)) {
        cli_error(&cl, "--k %lld x --batch %lld = %lld samples; at most %d", (long long)k, (long long)B,
                  (long long)(k * B), 1 << 22);
        return PROGRAM_EXIT_USAGE;
    }
    if (output_validate_file(PROG, "--out", out_path))
        return PROGRAM_EXIT_USAGE;
    rng = (uint64_t)seed * 2654435761ull + 1;
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
    candidate_t cands[2];
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
        cands[w].hidden = H;
        cands[w].r = r;
        if (!json)
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
    free(x);
    free(y);
    int rc = PROGRAM_EXIT_OK;
    const report_t rep = { argc, argv, seed, cands, 2 };
    if (json) {
        json_out_t j;
        const char *why;
        json_out_init(&j, stdout, 0);
        write_json(&j, &rep);
        if (json_out_finish(&j, &why) != 0) {
            fprintf(stderr, PROG ": writing the JSON to stdout failed: %s\n", why);
            rc = PROGRAM_EXIT_FAILURE;
        }
    }
    if (out_path && output_write_json(PROG, "--out", out_path, 1, write_json, &rep) != 0)
        return PROGRAM_EXIT_FAILURE;
    if (fflush(stdout) != 0) {
        fprintf(stderr, PROG ": writing to stdout failed: %s\n", strerror(errno));
        rc = PROGRAM_EXIT_FAILURE;
    }
    return rc;
}
