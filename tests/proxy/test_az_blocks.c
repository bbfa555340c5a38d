/* AZ-NAS on marked blocks (sigeo_model_mark_block), against this file's
 * own computation:
 *  - a flat net whose activations are parallel branches (relu(A) and
 *    tanh(A), summed): unmarked, the default rule takes the two branches
 *    and the trainability term is the -1e6 + 2 of a zero Jacobian; marked
 *    (A, the sum S, the next linear layer), the three measures equal the
 *    entropies of the node outputs (covariance and Jacobi eigenvalues
 *    written here) and the terms of the Jacobians built by hand
 *    (dS/dA = diag(relu'(A) + tanh'(A)), dB/dS = W_b);
 *  - nb201-fmnist marks the official code's six blocks: block 0 is the
 *    stem's BN output (recomputed here from the stem's weights), block 5
 *    is what the head reads (the losses recomputed here from it), the
 *    shapes are the stages'; the arch with a none first edge the study
 *    saw at -inf now has finite measures, equal to the entropies here;
 *  - the supernet's path scores as its extraction, whose marks survive;
 *  - sigeo_model_mark_block and sigeo_model_blocks refuse bad input. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "core/rng.h"
#include "ref_linalg.h"
#include "sigeo/model.h"
#include "sigeo/proxy.h"
#include "sigeo/search.h"

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

static sigeo_context_t *ctx;
static void setup(void)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.seed = 9;
    o.threads = 1;
    OK(sigeo_context_create(&ctx, &o));
}
static void teardown(void)
{
    sigeo_context_destroy(ctx);
}

enum { B = 8, D = 6, C = 3, MAXF = 32 };

static void close_to(double got, double want, double tol, const char *what)
{
    ck_assert_msg(isfinite(got) && fabs(got - want) <= tol * (1.0 + fabs(want)), "%s: %.12g, want %.12g", what, got,
                  want);
}

static double score(sigeo_model_t *m, const int32_t *arch, int32_t n, sigeo_proxy_kind_t kind, const sigeo_batch_t *b,
                    uint64_t seed, uint32_t *blocks)
{
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.kind = kind;
    o.seed = seed;
    sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
    OK(sigeo_proxy_compute(m, arch, n, b, 1, &o, &r));
    if (blocks)
        *blocks = r.n_modules;
    return r.score;
}

static float *node_out(sigeo_model_t *m, int32_t node, int64_t want)
{
    int64_t count = 0;
    OK(sigeo_model_node_output(NULL, &count, m, node));
    ck_assert_int_eq(count, want);
    float *buf = malloc((size_t)count * sizeof *buf);
    OK(sigeo_model_node_output(buf, &count, m, node));
    return buf;
}

/* The entropy of the spectrum of the biased covariance of F features over
 * B * per rows: element (n, q, f) at n * F * per + (chw ? f * per + q : q * F + f). */
static double entropy(const float *out, int64_t F, int64_t per, int chw)
{
    ck_assert_int_le(F, MAXF);
    const int64_t width = F * per;
    double mean[MAXF] = { 0 }, S[MAXF * MAXF] = { 0 }, w[MAXF], x[MAXF];
    for (int64_t n = 0; n < B; n++)
        for (int64_t q = 0; q < per; q++)
            for (int64_t f = 0; f < F; f++)
                mean[f] += out[n * width + (chw ? f * per + q : q * F + f)];
    for (int64_t f = 0; f < F; f++)
        mean[f] /= (double)(B * per);
    for (int64_t n = 0; n < B; n++)
        for (int64_t q = 0; q < per; q++) {
            for (int64_t f = 0; f < F; f++)
                x[f] = out[n * width + (chw ? f * per + q : q * F + f)] - mean[f];
            for (int64_t i = 0; i < F; i++)
                for (int64_t j = 0; j < F; j++)
                    S[i * F + j] += x[i] * x[j];
        }
    for (int64_t k = 0; k < F * F; k++)
        S[k] /= (double)(B * per);
    ref_jacobi_eigvals(w, S, (int)F);
    double total = 0.0, h = 0.0;
    for (int64_t i = 0; i < F; i++)
        total += w[i];
    for (int64_t i = 0; i < F; i++)
        h -= w[i] / total * log(w[i] / total + 1e-8);
    return h;
}

/* One pair's term from g_in [B, Ci] and g_out [B, Co] (flat blocks): M =
 * g_in^T g_out / B, sigma^2 = the top eigenvalue of M^T M. */
static double term(const double *gin, const float *gout, int64_t Ci, int64_t Co)
{
    double M[8 * 8] = { 0 }, G[8 * 8], w[8];
    for (int64_t i = 0; i < Ci; i++)
        for (int64_t o = 0; o < Co; o++) {
            for (int64_t n = 0; n < B; n++)
                M[i * Co + o] += gin[n * Ci + i] * (double)gout[n * Co + o];
            M[i * Co + o] /= (double)B;
        }
    for (int64_t a = 0; a < Co; a++)
        for (int64_t c = 0; c < Co; c++) {
            double s = 0.0;
            for (int64_t i = 0; i < Ci; i++)
                s += M[i * Co + a] * M[i * Co + c];
            G[a * Co + c] = s;
        }
    ref_jacobi_eigvals(w, G, (int)Co);
    double top = 0.0;
    for (int64_t k = 0; k < Co; k++)
        top = fmax(top, w[k]);
    const double sigma = sqrt(top);
    return -sigma - 1.0 / (sigma + 1e-6) + 2.0;
}

static void rademacher(sigeo__rng_t *rng, float *g, int64_t n)
{
    for (int64_t k = 0; k < n; k++)
        g[k] = (sigeo__rng_next(rng) >> 63) ? 1.0f : -1.0f;
}

static float xs[B * 784];
static int32_t labels[B];

static sigeo_batch_t batch(int64_t features)
{
    unsigned s = 11;
    for (int64_t i = 0; i < B * features; i++) {
        s = s * 1103515245u + 12345u;
        xs[i] = (float)((s >> 16) & 255) / 255.0f;
    }
    for (int i = 0; i < B; i++)
        labels[i] = i % C;
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = B;
    b.dense = xs;
    b.n_dense = features;
    b.labels = labels;
    return b;
}

/* x[D] -> a[5] -> {relu, tanh} -> s = sum -> b[4] -> head[C] (CE). */
typedef struct flat {
    sigeo_model_t *m;
    int32_t a, relu, tanh_, s, b;
} flat_t;

static flat_t flat_net(void)
{
    flat_t f;
    OK(sigeo_model_create(&f.m, ctx, "branches"));
    int32_t x = shaped_input(f.m, D, NULL);
    f.a = linear_on(f.m, "a", x, 5, -1);
    f.relu = layer_on(f.m, SIGEO_LAYER_ACTIVATION, "relu", &f.a, 1, 0, -1, SIGEO_ACT_RELU);
    f.tanh_ = layer_on(f.m, SIGEO_LAYER_ACTIVATION, "tanh", &f.a, 1, 0, -1, SIGEO_ACT_TANH);
    const int32_t both[2] = { f.relu, f.tanh_ };
    f.s = layer_on(f.m, SIGEO_LAYER_SUM, "s", both, 2, 0, -1, 0);
    f.b = linear_on(f.m, "b", f.s, 4, -1);
    int32_t y = linear_on(f.m, "head", f.b, C, -1);
    OK(sigeo_model_set_loss(f.m, y, SIGEO_LOSS_SOFTMAX_CE));
    return f;
}

START_TEST(marked_blocks_replace_parallel_activations)
{
    flat_t f = flat_net();
    OK(sigeo_model_finalize(f.m));
    sigeo_batch_t b = batch(D);
    /* Unmarked: the two parallel activations are the blocks, and the VJP
     * from one to the other is zero: sigma 0, term -1e6 + 2. */
    uint32_t n = 0;
    close_to(score(f.m, NULL, 0, SIGEO_PROXY_AZ_TRAINABILITY, &b, 5, &n), -1.0 / 1e-6 + 2.0, 1e-9, "unmarked");
    ck_assert_uint_eq(n, 2);
    /* Marked after finalize, out of order: node order is the chain's. */
    OK(sigeo_model_mark_block(f.m, f.b));
    OK(sigeo_model_mark_block(f.m, f.a));
    OK(sigeo_model_mark_block(f.m, f.s));
    int32_t count = 0, nodes[3];
    OK(sigeo_model_blocks(&count, NULL, 0, f.m));
    ck_assert_int_eq(count, 3);
    OK(sigeo_model_blocks(&count, nodes, 3, f.m));
    ck_assert_int_eq(nodes[0], f.a);
    ck_assert_int_eq(nodes[1], f.s);
    ck_assert_int_eq(nodes[2], f.b);

    const double ex = score(f.m, NULL, 0, SIGEO_PROXY_AZ_EXPRESSIVITY, &b, 0, &n);
    ck_assert_uint_eq(n, 3);
    const double pr = score(f.m, NULL, 0, SIGEO_PROXY_AZ_PROGRESSIVITY, &b, 0, NULL);
    const double tr = score(f.m, NULL, 0, SIGEO_PROXY_AZ_TRAINABILITY, &b, 5, &n);
    ck_assert_uint_eq(n, 3);

    OK(sigeo_model_forward(NULL, f.m, &b));
    float *A = node_out(f.m, f.a, B * 5), *S = node_out(f.m, f.s, B * 5), *Bk = node_out(f.m, f.b, B * 4);
    const double e0 = entropy(A, 5, 1, 0), e1 = entropy(S, 5, 1, 0), e2 = entropy(Bk, 4, 1, 0);
    close_to(ex, e0 + e1 + e2, 1e-6, "expressivity");
    close_to(pr, fmin(e1 - e0, e2 - e1), 1e-6, "progressivity");

    /* Trainability: the last pair's signs are drawn first. */
    sigeo__rng_t rng;
    sigeo__rng_seed(&rng, 5);
    float g2[B * 4], g1[B * 5], W[4 * 5];
    double gin[B * 5];
    rademacher(&rng, g2, B * 4);
    rademacher(&rng, g1, B * 5);
    int32_t wp;
    OK(sigeo_model_find_param(&wp, f.m, "b.weight"));
    OK(sigeo_model_get_param(f.m, wp, W, 4 * 5));
    for (int64_t r = 0; r < B; r++) /* dB/dS = W [4, 5]: g_in = W^T g_out */
        for (int64_t i = 0; i < 5; i++) {
            double s = 0.0;
            for (int64_t o = 0; o < 4; o++)
                s += (double)g2[r * 4 + o] * W[o * 5 + i];
            gin[r * 5 + i] = s;
        }
    const double t_sb = term(gin, g2, 5, 4);
    for (int64_t r = 0; r < B; r++) /* dS/dA = diag(relu'(A) + tanh'(A)) */
        for (int64_t i = 0; i < 5; i++) {
            const double z = A[r * 5 + i], th = tanh(z);
            gin[r * 5 + i] = (double)g1[r * 5 + i] * ((z > 0.0 ? 1.0 : 0.0) + 1.0 - th * th);
        }
    const double t_as = term(gin, g1, 5, 5);
    close_to(tr, (t_sb + t_as) / 2.0, 1e-6, "trainability");
    ck_assert(tr > -10.0); /* far from the unmarked -1e6 */

    /* Extraction keeps the marks: the standalone copy scores the same. */
    sigeo_model_t *x;
    OK(sigeo_model_extract(&x, f.m, NULL, 0, 1));
    OK(sigeo_model_blocks(&count, NULL, 0, x));
    ck_assert_int_eq(count, 3);
    close_to(score(x, NULL, 0, SIGEO_PROXY_AZ_TRAINABILITY, &b, 5, NULL), tr, 1e-6, "extracted trainability");
    close_to(score(x, NULL, 0, SIGEO_PROXY_AZ_EXPRESSIVITY, &b, 0, NULL), ex, 1e-6, "extracted expressivity");
    sigeo_model_destroy(x);
    free(A);
    free(S);
    free(Bk);
    sigeo_model_destroy(f.m);
}
END_TEST

/* The arch of the 100-arch study whose ReLUs after the none edge 0->1
 * read zeros (covariance trace 0: -inf before blocks were marked). */
static const char *const none_first = "|none~0|+|nor_conv_3x3~0|skip_connect~1|+|nor_conv_1x1~0|nor_conv_3x3~1|nor_conv_3x3~2|";

static const int64_t stage_c[6] = { 8, 8, 16, 16, 32, 32 }, stage_hw[6] = { 784, 784, 196, 196, 49, 49 };

START_TEST(nb201_marks_the_stem_the_cells_and_the_reductions)
{
    int32_t ops[6];
    OK(sigeo_nb201_from_string(ops, none_first));
    sigeo_model_t *m;
    OK(sigeo_nb201_build(&m, ctx, ops));
    int32_t count = 0, blk[6];
    OK(sigeo_model_blocks(&count, NULL, 0, m));
    ck_assert_int_eq(count, 6);
    OK(sigeo_model_blocks(&count, blk, 6, m));
    sigeo_batch_t b = batch(784);
    for (int i = 0; i < B; i++)
        labels[i] = i % 10;
    uint32_t n = 0;
    const double ex = score(m, NULL, 0, SIGEO_PROXY_AZ_EXPRESSIVITY, &b, 0, &n);
    ck_assert_uint_eq(n, 6);
    const double pr = score(m, NULL, 0, SIGEO_PROXY_AZ_PROGRESSIVITY, &b, 0, NULL);
    const double tr = score(m, NULL, 0, SIGEO_PROXY_AZ_TRAINABILITY, &b, 2, &n);
    ck_assert_uint_eq(n, 6);
    ck_assert_msg(isfinite(tr) && tr < 0.0 && tr > -1e3, "trainability %g", tr);

    double mean_loss;
    OK(sigeo_model_forward(&mean_loss, m, &b));
    float *f[6];
    double e[6], sum = 0.0, step = INFINITY;
    for (int k = 0; k < 6; k++) {
        f[k] = node_out(m, blk[k], B * stage_c[k] * stage_hw[k]);
        e[k] = entropy(f[k], stage_c[k], stage_hw[k], 1);
        ck_assert_msg(e[k] > 0.0 && e[k] <= log((double)stage_c[k]) + 1e-9, "block %d: entropy %g", k, e[k]);
        sum += e[k];
        if (k > 0)
            step = fmin(step, e[k] - e[k - 1]);
    }
    close_to(ex, sum, 1e-5, "expressivity");
    close_to(pr, step, 1e-5, "progressivity");

    /* Block 0 is the stem: BN (train mode, gamma 1, beta 0) of the 3 x 3
     * convolution (1 -> 8, padding 1, no bias) of the image. */
    float wst[72];
    int32_t p;
    OK(sigeo_model_find_param(&p, m, "stem.conv.weight"));
    OK(sigeo_model_get_param(m, p, wst, 72));
    static double conv[B][8][784];
    for (int c = 0; c < 8; c++) {
        double mu = 0.0, var = 0.0;
        for (int r = 0; r < B; r++)
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++) {
                    double s = 0.0;
                    for (int dy = -1; dy <= 1; dy++)
                        for (int dx = -1; dx <= 1; dx++)
                            if (y + dy >= 0 && y + dy < 28 && x + dx >= 0 && x + dx < 28)
                                s += wst[c * 9 + (dy + 1) * 3 + dx + 1] * xs[r * 784 + (y + dy) * 28 + x + dx];
                    conv[r][c][y * 28 + x] = s;
                    mu += s;
                }
        mu /= B * 784.0;
        for (int r = 0; r < B; r++)
            for (int q = 0; q < 784; q++)
                var += (conv[r][c][q] - mu) * (conv[r][c][q] - mu);
        var /= B * 784.0;
        for (int r = 0; r < B; r++)
            for (int q = 0; q < 784; q++)
                close_to(f[0][r * 8 * 784 + c * 784 + q], (conv[r][c][q] - mu) / sqrt(var + 1e-5), 1e-4, "stem");
    }
    /* Block 5 is what the head reads: BN(32) (train mode), ReLU, global
     * average pool, Linear(32 -> 10), cross-entropy = the sample losses. */
    float wh[320], bh[10], losses[B];
    OK(sigeo_model_find_param(&p, m, "head.fc.weight"));
    OK(sigeo_model_get_param(m, p, wh, 320));
    OK(sigeo_model_find_param(&p, m, "head.fc.bias"));
    OK(sigeo_model_get_param(m, p, bh, 10));
    int64_t nl = B;
    OK(sigeo_model_sample_losses(losses, &nl, m));
    double pooled[B][32];
    for (int c = 0; c < 32; c++) {
        double mu = 0.0, var = 0.0;
        for (int r = 0; r < B; r++)
            for (int q = 0; q < 49; q++)
                mu += f[5][r * 32 * 49 + c * 49 + q];
        mu /= B * 49.0;
        for (int r = 0; r < B; r++)
            for (int q = 0; q < 49; q++) {
                const double d = f[5][r * 32 * 49 + c * 49 + q] - mu;
                var += d * d;
            }
        var /= B * 49.0;
        for (int r = 0; r < B; r++) {
            double s = 0.0;
            for (int q = 0; q < 49; q++)
                s += fmax(0.0, (f[5][r * 32 * 49 + c * 49 + q] - mu) / sqrt(var + 1e-5));
            pooled[r][c] = s / 49.0;
        }
    }
    for (int r = 0; r < B; r++) {
        double z[10], zmax = -INFINITY, lse = 0.0;
        for (int k = 0; k < 10; k++) {
            z[k] = bh[k];
            for (int c = 0; c < 32; c++)
                z[k] += wh[k * 32 + c] * pooled[r][c];
            zmax = fmax(zmax, z[k]);
        }
        for (int k = 0; k < 10; k++)
            lse += exp(z[k] - zmax);
        close_to(losses[r], zmax + log(lse) - z[labels[r]], 1e-4, "head loss");
    }
    for (int k = 0; k < 6; k++)
        free(f[k]);
    sigeo_model_destroy(m);
}
END_TEST

/* The supernet's path reads the same six blocks as its extraction (with
 * the supernet's weights), which carries them; the scores agree. */
START_TEST(the_supernets_path_scores_as_its_extraction)
{
    sigeo_model_t *super, *x;
    OK(sigeo_space_build(&super, ctx, "nb201-fmnist", NULL));
    int32_t count = 0, sb[6], xb[6];
    OK(sigeo_model_blocks(&count, sb, 6, super));
    ck_assert_int_eq(count, 6);
    sigeo_batch_t b = batch(784);
    for (int i = 0; i < B; i++)
        labels[i] = i % 10;
    const int32_t archs[2][6] = { { 0, 3, 1, 2, 3, 3 }, { 3, 4, 2, 0, 1, 3 } };
    static const sigeo_proxy_kind_t kinds[3] = { SIGEO_PROXY_AZ_EXPRESSIVITY, SIGEO_PROXY_AZ_PROGRESSIVITY,
                                                 SIGEO_PROXY_AZ_TRAINABILITY };
    for (int a = 0; a < 2; a++) {
        OK(sigeo_model_extract(&x, super, archs[a], 6, 1));
        OK(sigeo_model_blocks(&count, xb, 6, x));
        ck_assert_int_eq(count, 6);
        OK(sigeo_model_activate(super, archs[a], 6));
        OK(sigeo_model_forward(NULL, super, &b));
        OK(sigeo_model_forward(NULL, x, &b));
        for (int k = 0; k < 6; k++) { /* the same features, block by block */
            const int64_t w = B * stage_c[k] * stage_hw[k];
            float *fs = node_out(super, sb[k], w), *fx = node_out(x, xb[k], w);
            for (int64_t i = 0; i < w; i++)
                ck_assert_msg(fabsf(fs[i] - fx[i]) <= 1e-4f * (1.0f + fabsf(fs[i])), "arch %d block %d: %g vs %g", a,
                              k, fs[i], fx[i]);
            free(fs);
            free(fx);
        }
        for (int p = 0; p < 3; p++) {
            const double on_path = score(super, archs[a], 6, kinds[p], &b, 3, NULL);
            const double alone = score(x, NULL, 0, kinds[p], &b, 3, NULL);
            close_to(on_path, alone, 1e-4, sigeo_proxy_kind_name(kinds[p]));
        }
        sigeo_model_destroy(x);
    }
    sigeo_model_destroy(super);
}
END_TEST

static void refused(sigeo_status_t got, const char *needle)
{
    ck_assert_int_eq(got, SIGEO_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sigeo_last_error(), needle), "'%s' lacks '%s'", sigeo_last_error(), needle);
}

START_TEST(bad_marks_are_refused_with_what_and_where)
{
    refused(sigeo_model_mark_block(NULL, 0), "model is NULL");
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "bad"));
    int32_t x = shaped_input(m, D, NULL);
    int32_t a = linear_on(m, "a", x, 5, -1);
    refused(sigeo_model_mark_block(m, a), "no loss yet");
    int32_t r = layer_on(m, SIGEO_LAYER_ACTIVATION, "r", &a, 1, 0, -1, SIGEO_ACT_RELU);
    int32_t t = layer_on(m, SIGEO_LAYER_ACTIVATION, "t", &a, 1, 0, -1, SIGEO_ACT_TANH);
    int32_t dangling = linear_on(m, "dangling", a, 2, -1);
    const int32_t both[2] = { r, t };
    int32_t s = layer_on(m, SIGEO_LAYER_SUM, "s", both, 2, 0, -1, 0);
    int32_t y = linear_on(m, "y", s, C, -1);
    OK(sigeo_model_set_loss(m, y, SIGEO_LOSS_SOFTMAX_CE));
    refused(sigeo_model_mark_block(m, -1), "node -1 does not exist");
    refused(sigeo_model_mark_block(m, y + 1), "does not exist");
    refused(sigeo_model_mark_block(m, x), "model input");
    refused(sigeo_model_mark_block(m, dangling), "does not depend on node 'dangling'");
    OK(sigeo_model_mark_block(m, r));
    refused(sigeo_model_mark_block(m, r), "'r' is already a block");
    /* t is parallel to r: after it in node order, not depending on it */
    refused(sigeo_model_mark_block(m, t), "node 't' does not depend on block 'r'");
    /* a before r is fine, and so is s after; t between r and s still not */
    OK(sigeo_model_mark_block(m, s));
    OK(sigeo_model_mark_block(m, a));
    refused(sigeo_model_mark_block(m, t), "block 'r'");
    OK(sigeo_model_finalize(m));
    int32_t count = 0, nodes[3];
    refused(sigeo_model_blocks(&count, nodes, 2, m), "capacity 2 < 3 blocks");
    refused(sigeo_model_blocks(NULL, nodes, 3, m), "count_out is NULL");
    refused(sigeo_model_blocks(&count, nodes, 3, NULL), "model is NULL");
    OK(sigeo_model_blocks(&count, nodes, 3, m));
    ck_assert(nodes[0] == a && nodes[1] == r && nodes[2] == s);
    /* a failed mark leaves the list as it was, and the model usable */
    sigeo_batch_t b = batch(D);
    uint32_t n = 0;
    score(m, NULL, 0, SIGEO_PROXY_AZ_EXPRESSIVITY, &b, 0, &n);
    ck_assert_uint_eq(n, 3);
    sigeo_model_destroy(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("az_blocks");
    TCase *tc = tcase_create("az_blocks");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, marked_blocks_replace_parallel_activations);
    tcase_add_test(tc, nb201_marks_the_stem_the_cells_and_the_reductions);
    tcase_add_test(tc, the_supernets_path_scores_as_its_extraction);
    tcase_add_test(tc, bad_marks_are_refused_with_what_and_where);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
