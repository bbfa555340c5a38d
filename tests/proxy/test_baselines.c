/* The NAS-Bench-Suite-Zero baselines of sigeo_proxy_compute (docs/proxies.md §6,
 * §8) against expectations the test derives itself: a double-precision
 * forward/backward of small MLP, linear and conv models written out here
 * from the parameters read through the public API, closed forms (exact
 * Hessians of linear models, synflow's all-ones pass), and this file's own
 * linear algebra (Pearson correlation, cyclic Jacobi eigenvalues, LU
 * log-determinant). Nothing here calls the proxy code for an expectation.
 * Node outputs read with sigeo_model_node_output (the engine's forward, not
 * the proxy) fix the exact ReLU codes of NASWOT and the maps of MeCo.
 *
 * Linked against the internal library for two things the public API does
 * not show: the batch-norm running statistics (to check the model is left
 * bit-identical) and the library's random stream (zen documents its draws
 * from it, so the test can redo them). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "build.h"
#include "gradcheck.h"
#include "nn/probe.h"
#include "ref_linalg.h"
#include "sigeo/model.h"
#include "sigeo/proxy.h"

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

static sigeo_context_t *ctx;
static void setup(void)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.seed = 11;
    o.threads = 1;
    OK(sigeo_context_create(&ctx, &o));
}
static void teardown(void)
{
    sigeo_context_destroy(ctx);
}

/* ------------------------------------------------------------ model building */

enum { B = 8, D = 10, H = 16, C = 3 };

/* x[D] -> fc0 [H, elastic {H/2, H}] -> relu -> fc1 [classes] (loss).
 * elastic: fc0 has a width choice (activated at its max, H). */
static sigeo_model_t *mlp(int classes, bool elastic, sigeo_loss_kind_t loss)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "mlp"));
    int32_t w = -1;
    if (elastic)
        OK(sigeo_model_add_choice(&w, m, "w", 2, (const int64_t[]){ H / 2, H }));
    int32_t x = shaped_input(m, D, NULL);
    int32_t h = layer_on(m, SIGEO_LAYER_LINEAR, "fc0", &x, 1, H, w, 0);
    h = layer_on(m, SIGEO_LAYER_ACTIVATION, "relu", &h, 1, 0, -1, SIGEO_ACT_RELU);
    int32_t y = layer_on(m, SIGEO_LAYER_LINEAR, "fc1", &h, 1, classes, -1, 0);
    OK(sigeo_model_set_loss(m, y, loss));
    OK(sigeo_model_finalize(m));
    return m;
}

/* x[D] -> fc [outputs] (loss): a linear model. */
static sigeo_model_t *linear(int outputs, sigeo_loss_kind_t loss)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "linear"));
    int32_t x = shaped_input(m, D, NULL);
    int32_t y = layer_on(m, SIGEO_LAYER_LINEAR, "fc", &x, 1, outputs, -1, 0);
    OK(sigeo_model_set_loss(m, y, loss));
    OK(sigeo_model_finalize(m));
    return m;
}

/* x (1, 4, 4) -> conv [ch, 3x3, pad 1] -> relu -> global avg pool -> fc [C] (CE). */
enum { IMG = 4, PIX = IMG * IMG };
static sigeo_model_t *convnet(int channels)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "conv"));
    int32_t x = shaped_input(m, PIX, (const int64_t[]){ 1, IMG, IMG });
    int32_t h = layer_on(m, SIGEO_LAYER_CONV2D, "conv", &x, 1, channels, -1, 0);
    h = layer_on(m, SIGEO_LAYER_ACTIVATION, "relu", &h, 1, 0, -1, SIGEO_ACT_RELU);
    h = layer_on(m, SIGEO_LAYER_GLOBAL_AVG_POOL, "gap", &h, 1, 0, -1, 0);
    int32_t y = layer_on(m, SIGEO_LAYER_LINEAR, "fc", &h, 1, C, -1, 0);
    OK(sigeo_model_set_loss(m, y, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    return m;
}

/* -------------------------------------------------------------------- data */

static float xs[2][B * 64];
static int32_t labels[B] = { 0, 0, 0, 1, 1, 1, 1, 2 }; /* class 2 has one sample */
static float targets[B * C];

static sigeo_batch_t batch(int which, int64_t features, bool with_labels)
{
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = B;
    b.dense = xs[which];
    b.n_dense = features;
    b.labels = with_labels ? labels : NULL;
    return b;
}

static void make_data(void)
{
    gc_fill(xs[0], B * 64, 1.0);
    gc_fill(xs[1], B * 64, 1.0);
    gc_fill(targets, B * C, 1.0);
}

/* ------------------------------------------------------------------ helpers */

static sigeo_status_t run(sigeo_proxy_result_t *r, sigeo_model_t *m, sigeo_proxy_kind_t kind,
                          const sigeo_batch_t *b, uint32_t nb, const int32_t *arch, int32_t n_arch)
{
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.kind = kind;
    o.seed = 1234;
    *r = (sigeo_proxy_result_t)SIGEO_PROXY_RESULT_INIT;
    return sigeo_proxy_compute(m, arch, n_arch, b, nb, &o, r);
}

static double score_of(sigeo_model_t *m, sigeo_proxy_kind_t kind, const sigeo_batch_t *b, uint32_t nb)
{
    sigeo_proxy_result_t r;
    sigeo_status_t st = run(&r, m, kind, b, nb, NULL, 0);
    ck_assert_msg(st == SIGEO_OK, "%s: %s", sigeo_proxy_kind_name(kind), sigeo_last_error());
    ck_assert_int_eq(r.kind, kind);
    return r.score;
}

static double *param(sigeo_model_t *m, const char *name, int64_t *numel)
{
    int32_t p;
    OK(sigeo_model_find_param(&p, m, name));
    sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
    OK(sigeo_model_param_info(&info, m, p));
    float *f = malloc((size_t)info.numel * sizeof *f);
    double *d = malloc((size_t)info.numel * sizeof *d);
    OK(sigeo_model_get_param(m, p, f, info.numel));
    for (int64_t i = 0; i < info.numel; i++)
        d[i] = f[i];
    free(f);
    if (numel)
        *numel = info.numel;
    return d;
}

static void close_rel(double got, double want, double rel, const char *what)
{
    ck_assert_msg(fabs(got - want) <= rel * fabs(want) + 1e-12, "%s: got %.10g, want %.10g (rel %.2g)", what, got,
                  want, fabs(got - want) / fabs(want));
}

/* ------------------------------------------------------- linear algebra */

static double min_eig(double *a, int n)
{
    double w[64];
    ref_jacobi_eigvals(w, a, n);
    double lo = w[0];
    for (int i = 1; i < n; i++)
        lo = w[i] < lo ? w[i] : lo;
    return lo;
}

/* log|det a| by Gaussian elimination with partial pivoting; -inf if singular. */
static double logabsdet(double *a, int n)
{
    double s = 0;
    for (int k = 0; k < n; k++) {
        int piv = k;
        for (int i = k + 1; i < n; i++)
            if (fabs(a[i * n + k]) > fabs(a[piv * n + k]))
                piv = i;
        if (a[piv * n + k] == 0)
            return -INFINITY;
        for (int j = 0; j < n; j++) {
            double t = a[k * n + j];
            a[k * n + j] = a[piv * n + j];
            a[piv * n + j] = t;
        }
        s += log(fabs(a[k * n + k]));
        for (int i = k + 1; i < n; i++) {
            double f = a[i * n + k] / a[k * n + k];
            for (int j = k; j < n; j++)
                a[i * n + j] -= f * a[k * n + j];
        }
    }
    return s;
}

/* --------------------------------------------- double reference of the MLP */

/* Forward and backward of mlp() at active width w on x [B, D] with the
 * softmax CE of `labels`, in double, from the model's parameters. */
typedef struct ref {
    int w, classes;
    double *W0, *b0, *W1, *b1;            /* as stored: W0 [H, D], W1 [classes, H] */
    double h[B][H], a[B][H], z[B][128], dz[B][128], dh[B][H];
    double dW0[H][D], dW1[128][H];
    double J[B][D];                        /* d(sum of logits)/dx */
} ref_t;

static void ref_load(ref_t *r, sigeo_model_t *m, int w, int classes)
{
    r->w = w;
    r->classes = classes;
    r->W0 = param(m, "fc0.weight", NULL);
    r->b0 = param(m, "fc0.bias", NULL);
    r->W1 = param(m, "fc1.weight", NULL);
    r->b1 = param(m, "fc1.bias", NULL);
}

static void ref_free(ref_t *r)
{
    free(r->W0);
    free(r->b0);
    free(r->W1);
    free(r->b1);
}

static void ref_run(ref_t *r, const float *x)
{
    const int w = r->w, K = r->classes;
    memset(r->dW0, 0, sizeof r->dW0);
    memset(r->dW1, 0, sizeof r->dW1);
    for (int n = 0; n < B; n++) {
        for (int j = 0; j < w; j++) {
            double s = r->b0[j];
            for (int i = 0; i < D; i++)
                s += r->W0[j * D + i] * x[n * D + i];
            r->h[n][j] = s;
            r->a[n][j] = s > 0 ? s : 0;
        }
        double zmax = -1e300, se = 0;
        for (int c = 0; c < K; c++) {
            double s = r->b1[c];
            for (int j = 0; j < w; j++)
                s += r->W1[c * H + j] * r->a[n][j];
            r->z[n][c] = s;
            zmax = s > zmax ? s : zmax;
        }
        for (int c = 0; c < K; c++)
            se += exp(r->z[n][c] - zmax);
        for (int c = 0; c < K; c++)
            r->dz[n][c] = (exp(r->z[n][c] - zmax) / se - (c == labels[n])) / B;
        for (int j = 0; j < w; j++) {
            double da = 0, ones = 0;
            for (int c = 0; c < K; c++) {
                da += r->W1[c * H + j] * r->dz[n][c];
                ones += r->W1[c * H + j];
                r->dW1[c][j] += r->dz[n][c] * r->a[n][j];
            }
            r->dh[n][j] = r->h[n][j] > 0 ? da : 0;
            for (int i = 0; i < D; i++)
                r->dW0[j][i] += r->dh[n][j] * x[n * D + i];
            (void)ones;
        }
        for (int i = 0; i < D; i++) {
            double s = 0;
            for (int j = 0; j < w; j++) {
                double ones = 0;
                for (int c = 0; c < K; c++)
                    ones += r->W1[c * H + j];
                if (r->h[n][j] > 0)
                    s += r->W0[j * D + i] * ones;
            }
            r->J[n][i] = s;
        }
    }
}

/* ------------------------------------------------ first-order saliencies */

START_TEST(grad_norm_snip_plain_match_a_double_backprop_of_the_active_subnet)
{
    make_data();
    sigeo_model_t *m = mlp(C, true, SIGEO_LOSS_SOFTMAX_CE);
    const int32_t narrow[1] = { 0 }; /* fc0 at width H/2, while H is active */
    sigeo_batch_t b = batch(0, D, true);
    ref_t r;
    ref_load(&r, m, H / 2, C);
    ref_run(&r, xs[0]);
    double n0 = 0, n1 = 0, snip = 0, plain = 0;
    for (int j = 0; j < H / 2; j++)
        for (int i = 0; i < D; i++) {
            n0 += r.dW0[j][i] * r.dW0[j][i];
            snip += fabs(r.W0[j * D + i] * r.dW0[j][i]);
            plain += r.W0[j * D + i] * r.dW0[j][i];
        }
    for (int c = 0; c < C; c++)
        for (int j = 0; j < H / 2; j++) {
            n1 += r.dW1[c][j] * r.dW1[c][j];
            snip += fabs(r.W1[c * H + j] * r.dW1[c][j]);
            plain += r.W1[c * H + j] * r.dW1[c][j];
        }
    sigeo_proxy_result_t res;
    OK(run(&res, m, SIGEO_PROXY_GRAD_NORM, &b, 1, narrow, 1));
    close_rel(res.score, sqrt(n0) + sqrt(n1), 1e-5, "grad_norm");
    ck_assert_uint_eq(res.n_modules, 2);
    ck_assert_uint_eq(res.k, 1);
    ck_assert_double_eq(res.raw_score, res.score);
    OK(run(&res, m, SIGEO_PROXY_SNIP, &b, 1, narrow, 1));
    close_rel(res.score, snip, 1e-5, "snip");
    OK(run(&res, m, SIGEO_PROXY_PLAIN, &b, 1, narrow, 1));
    close_rel(res.score, plain, 1e-4, "plain");
    /* Only the first batch counts. */
    sigeo_batch_t two[2] = { b, batch(1, D, true) };
    OK(run(&res, m, SIGEO_PROXY_SNIP, two, 2, narrow, 1));
    close_rel(res.score, snip, 1e-5, "snip, first of two batches");
    ref_free(&r);
    sigeo_model_destroy(m);
}
END_TEST

/* ------------------------------------------------------------------ GraSP */

/* -sum W . (H g) over the weight of a linear model, H = the exact Hessian in
 * W: for MSE (1/(B T)) sum_n |W x + b - y|^2 it is (2/(B T)) sum_n x x^T per
 * output row; for softmax CE, (1/B) sum_n (diag p - p p^T) (x) x x^T. */
static double grasp_linear_exact(sigeo_model_t *m, int T, bool mse, const float *tg)
{
    double *W = param(m, "fc.weight", NULL), *bias = param(m, "fc.bias", NULL);
    double g[128 * D] = { 0 }, hv[128 * D] = { 0 };
    double z[B][128], p[B][128];
    for (int n = 0; n < B; n++) {
        const float *x = xs[0] + n * D;
        double zmax = -1e300, se = 0;
        for (int t = 0; t < T; t++) {
            double s = bias[t];
            for (int i = 0; i < D; i++)
                s += W[t * D + i] * x[i];
            z[n][t] = s;
            zmax = s > zmax ? s : zmax;
        }
        for (int t = 0; t < T; t++)
            se += exp(z[n][t] - zmax);
        for (int t = 0; t < T; t++) {
            p[n][t] = exp(z[n][t] - zmax) / se;
            double dz = mse ? 2.0 * (z[n][t] - tg[n * T + t]) / (B * T) : (p[n][t] - (t == labels[n])) / B;
            for (int i = 0; i < D; i++)
                g[t * D + i] += dz * x[i];
        }
    }
    for (int n = 0; n < B; n++) {
        const float *x = xs[0] + n * D;
        double u[128]; /* V x */
        for (int t = 0; t < T; t++) {
            u[t] = 0;
            for (int i = 0; i < D; i++)
                u[t] += g[t * D + i] * x[i];
        }
        double pu = 0;
        for (int t = 0; t < T; t++)
            pu += p[n][t] * u[t];
        for (int t = 0; t < T; t++) {
            double q = mse ? 2.0 * u[t] / (B * T) : (p[n][t] * u[t] - p[n][t] * pu) / B;
            for (int i = 0; i < D; i++)
                hv[t * D + i] += q * x[i];
        }
    }
    double s = 0;
    for (int k = 0; k < T * D; k++)
        s -= W[k] * hv[k];
    free(W);
    free(bias);
    return s;
}

START_TEST(grasp_equals_the_exact_hessian_product_on_a_linear_mse_model)
{
    make_data();
    sigeo_model_t *m = linear(C, SIGEO_LOSS_MSE);
    sigeo_batch_t b = batch(0, D, false);
    b.targets = targets;
    b.n_targets = C;
    const double want = grasp_linear_exact(m, C, true, targets);
    /* The loss is quadratic in W: the central difference is exact up to rounding. */
    close_rel(score_of(m, SIGEO_PROXY_GRASP, &b, 1), want, 2e-4, "grasp, linear MSE");
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(grasp_is_close_to_the_exact_hessian_product_on_softmax_regression)
{
    make_data();
    sigeo_model_t *m = linear(C, SIGEO_LOSS_SOFTMAX_CE);
    sigeo_batch_t b = batch(0, D, true);
    const double want = grasp_linear_exact(m, C, false, NULL);
    close_rel(score_of(m, SIGEO_PROXY_GRASP, &b, 1), want, 1e-3, "grasp, softmax regression (default step)");
    /* A ten times larger step: truncation O(eps^2) still small; a step of
     * 0.1 of |W| is visibly worse but still the right quantity. */
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.kind = SIGEO_PROXY_GRASP;
    o.hvp_mode = SIGEO_HVP_FINITE_DIFFERENCE;
    o.hvp_epsilon = 1e-2;
    sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
    OK(sigeo_proxy_compute(m, NULL, 0, &b, 1, &o, &r));
    close_rel(r.score, want, 1e-3, "grasp, step 1e-2");
    o.hvp_epsilon = 0.1;
    OK(sigeo_proxy_compute(m, NULL, 0, &b, 1, &o, &r));
    close_rel(r.score, want, 5e-2, "grasp, step 0.1");
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(grasp_on_a_relu_mlp_matches_a_double_precision_hessian_product)
{
    make_data();
    sigeo_model_t *m = mlp(C, false, SIGEO_LOSS_SOFTMAX_CE);
    sigeo_batch_t b = batch(0, D, true);
    ref_t r;
    ref_load(&r, m, H, C);
    ref_run(&r, xs[0]);
    /* v = g; H v by a double-precision central difference with a tiny step
     * (no ReLU kink is crossed at 1e-7; the double rounding is ~1e-9). */
    double v0[H][D], v1[128][H];
    memcpy(v0, r.dW0, sizeof v0);
    memcpy(v1, r.dW1, sizeof v1);
    double *W0 = malloc(H * D * sizeof *W0), *W1 = malloc(C * H * sizeof *W1);
    memcpy(W0, r.W0, H * D * sizeof *W0);
    memcpy(W1, r.W1, C * H * sizeof *W1);
    const double eps = 1e-7;
    double gp0[H][D], gp1[C][H];
    for (int sgn = 1; sgn >= -1; sgn -= 2) {
        for (int j = 0; j < H; j++)
            for (int i = 0; i < D; i++)
                r.W0[j * D + i] = W0[j * D + i] + sgn * eps * v0[j][i];
        for (int c = 0; c < C; c++)
            for (int j = 0; j < H; j++)
                r.W1[c * H + j] = W1[c * H + j] + sgn * eps * v1[c][j];
        ref_run(&r, xs[0]);
        if (sgn == 1) {
            memcpy(gp0, r.dW0, sizeof gp0);
            for (int c = 0; c < C; c++)
                memcpy(gp1[c], r.dW1[c], sizeof gp1[c]);
        }
    }
    double want = 0;
    for (int j = 0; j < H; j++)
        for (int i = 0; i < D; i++)
            want -= W0[j * D + i] * (gp0[j][i] - r.dW0[j][i]) / (2 * eps);
    for (int c = 0; c < C; c++)
        for (int j = 0; j < H; j++)
            want -= W1[c * H + j] * (gp1[c][j] - r.dW1[c][j]) / (2 * eps);
    close_rel(score_of(m, SIGEO_PROXY_GRASP, &b, 1), want, 1e-2, "grasp, relu MLP");
    free(W0);
    free(W1);
    ref_free(&r);
    sigeo_model_destroy(m);
}
END_TEST

/* ----------------------------------------------------------------- fisher */

START_TEST(fisher_matches_a_double_backprop_channel_by_channel)
{
    make_data();
    sigeo_model_t *m = mlp(C, false, SIGEO_LOSS_SOFTMAX_CE);
    sigeo_batch_t b = batch(0, D, true);
    ref_t r;
    ref_load(&r, m, H, C);
    ref_run(&r, xs[0]);
    double want = 0;
    for (int j = 0; j < H; j++) {
        double f = 0;
        for (int n = 0; n < B; n++)
            f += pow(r.h[n][j] * r.dh[n][j], 2);
        want += 0.5 * f / B * D;
    }
    for (int c = 0; c < C; c++) {
        double f = 0;
        for (int n = 0; n < B; n++)
            f += pow(r.z[n][c] * r.dz[n][c], 2);
        want += 0.5 * f / B * H;
    }
    close_rel(score_of(m, SIGEO_PROXY_FISHER, &b, 1), want, 1e-4, "fisher, MLP");
    ref_free(&r);
    sigeo_model_destroy(m);
}
END_TEST

/* conv (1 -> ch, 3x3, pad 1) on 4x4, relu, global average pool, fc: in double. */
typedef struct conv_ref {
    int ch;
    double y[B][8][PIX], dy[B][8][PIX], z[B][C], dz[B][C];
} conv_ref_t;

static void conv_run(conv_ref_t *r, sigeo_model_t *m, int ch)
{
    double *W = param(m, "conv.weight", NULL), *cb = param(m, "conv.bias", NULL);
    double *F = param(m, "fc.weight", NULL), *fb = param(m, "fc.bias", NULL);
    r->ch = ch;
    for (int n = 0; n < B; n++) {
        const float *x = xs[0] + n * PIX;
        double g[8];
        for (int o = 0; o < ch; o++) {
            g[o] = 0;
            for (int i = 0; i < IMG; i++)
                for (int j = 0; j < IMG; j++) {
                    double s = cb[o];
                    for (int ki = 0; ki < 3; ki++)
                        for (int kj = 0; kj < 3; kj++) {
                            int ii = i + ki - 1, jj = j + kj - 1;
                            if (ii >= 0 && ii < IMG && jj >= 0 && jj < IMG)
                                s += W[o * 9 + ki * 3 + kj] * x[ii * IMG + jj];
                        }
                    r->y[n][o][i * IMG + j] = s;
                    g[o] += (s > 0 ? s : 0) / PIX;
                }
        }
        double zmax = -1e300, se = 0;
        for (int c = 0; c < C; c++) {
            double s = fb[c];
            for (int o = 0; o < ch; o++)
                s += F[c * ch + o] * g[o];
            r->z[n][c] = s;
            zmax = s > zmax ? s : zmax;
        }
        for (int c = 0; c < C; c++)
            se += exp(r->z[n][c] - zmax);
        for (int c = 0; c < C; c++)
            r->dz[n][c] = (exp(r->z[n][c] - zmax) / se - (c == labels[n])) / B;
        for (int o = 0; o < ch; o++) {
            double dg = 0;
            for (int c = 0; c < C; c++)
                dg += F[c * ch + o] * r->dz[n][c];
            for (int k = 0; k < PIX; k++)
                r->dy[n][o][k] = r->y[n][o][k] > 0 ? dg / PIX : 0;
        }
    }
    free(W);
    free(cb);
    free(F);
    free(fb);
}

START_TEST(fisher_sums_conv_channels_over_positions_and_scales_by_c_kh_kw)
{
    make_data();
    sigeo_model_t *m = convnet(2);
    sigeo_batch_t b = batch(0, PIX, true);
    conv_ref_t r;
    conv_run(&r, m, 2);
    double want = 0;
    for (int o = 0; o < 2; o++) {
        double f = 0;
        for (int n = 0; n < B; n++) {
            double a = 0;
            for (int k = 0; k < PIX; k++)
                a += r.y[n][o][k] * r.dy[n][o][k];
            f += a * a;
        }
        want += 0.5 * f / B * 9; /* C_in kh kw = 1 * 3 * 3 */
    }
    for (int c = 0; c < C; c++) {
        double f = 0;
        for (int n = 0; n < B; n++)
            f += pow(r.z[n][c] * r.dz[n][c], 2);
        want += 0.5 * f / B * 2; /* in features */
    }
    close_rel(score_of(m, SIGEO_PROXY_FISHER, &b, 1), want, 1e-4, "fisher, conv");
    sigeo_model_destroy(m);
}
END_TEST

/* ------------------------------------------------------- jacov, epe_nas */

static double jacov_of(const double *J, int d)
{
    double Cm[B * B], w[B];
    ref_corrcoef(Cm, J, B, d);
    ref_jacobi_eigvals(w, Cm, B);
    double s = 0;
    for (int i = 0; i < B; i++)
        s -= log(w[i] + 1e-5) + 1.0 / (w[i] + 1e-5);
    return s;
}

START_TEST(jacov_matches_the_correlation_spectrum_of_a_double_input_jacobian)
{
    make_data();
    sigeo_model_t *m = mlp(C, false, SIGEO_LOSS_SOFTMAX_CE);
    sigeo_batch_t b = batch(0, D, false); /* no labels needed */
    ref_t r;
    ref_load(&r, m, H, C);
    ref_run(&r, xs[0]);
    close_rel(score_of(m, SIGEO_PROXY_JACOV, &b, 1), jacov_of(&r.J[0][0], D), 1e-5, "jacov");
    ref_free(&r);
    sigeo_model_destroy(m);

    /* Through a convolution: dx = conv^T(1[y > 0] sum_c fc[c][o] / 16). */
    m = convnet(2);
    b = batch(0, PIX, false);
    conv_ref_t cr;
    conv_run(&cr, m, 2);
    double *W = param(m, "conv.weight", NULL), *F = param(m, "fc.weight", NULL);
    double J[B * PIX] = { 0 };
    for (int n = 0; n < B; n++)
        for (int o = 0; o < 2; o++) {
            const double up = (F[0 * 2 + o] + F[1 * 2 + o] + F[2 * 2 + o]) / PIX;
            for (int i = 0; i < IMG; i++)
                for (int j = 0; j < IMG; j++) {
                    if (cr.y[n][o][i * IMG + j] <= 0)
                        continue;
                    for (int ki = 0; ki < 3; ki++)
                        for (int kj = 0; kj < 3; kj++) {
                            const int ii = i + ki - 1, jj = j + kj - 1;
                            if (ii >= 0 && ii < IMG && jj >= 0 && jj < IMG)
                                J[n * PIX + ii * IMG + jj] += W[o * 9 + ki * 3 + kj] * up;
                        }
                }
        }
    close_rel(score_of(m, SIGEO_PROXY_JACOV, &b, 1), jacov_of(J, PIX), 1e-5, "jacov through a conv");
    free(W);
    free(F);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(jacov_of_a_linear_model_is_nan_and_flagged)
{
    /* J = W^T 1 for every row: the rows are identical, each with its own
     * variance, so C is all ones (eigenvalues 0 and B): finite. With a zero
     * weight the rows are constant: C is NaN. */
    make_data();
    sigeo_model_t *m = linear(C, SIGEO_LOSS_SOFTMAX_CE);
    sigeo_batch_t b = batch(0, D, false);
    sigeo_proxy_result_t r;
    OK(run(&r, m, SIGEO_PROXY_JACOV, &b, 1, NULL, 0));
    const double want = -((B - 1) * (log(1e-5) + 1e5) + log(B + 1e-5) + 1 / (B + 1e-5));
    close_rel(r.score, want, 1e-3, "jacov, identical rows");
    int32_t p;
    OK(sigeo_model_find_param(&p, m, "fc.weight"));
    float zeros[C * D] = { 0 };
    OK(sigeo_model_set_param(m, p, zeros, C * D));
    OK(run(&r, m, SIGEO_PROXY_JACOV, &b, 1, NULL, 0));
    ck_assert(isnan(r.score));
    ck_assert(r.flags & SIGEO_PROXY_NONFINITE);
    sigeo_model_destroy(m);
}
END_TEST

static double epe_of(const double (*J)[D], int n_out)
{
    double s[128];
    bool has[128] = { false };
    int kept = 0;
    for (int c = 0; c < 128; c++) {
        double rows[B * D];
        int nc = 0;
        for (int n = 0; n < B; n++)
            if (labels[n] == c)
                memcpy(rows + (nc++) * D, J[n], sizeof(double) * D);
        if (nc == 0 || (n_out > 100 && nc == 1))
            continue;
        double v = 0;
        if (nc == 1) {
            v = log(1 + 1e-5);
        } else {
            double P[B * B];
            ref_corrcoef(P, rows, nc, D);
            for (int k = 0; k < nc * nc; k++)
                v += log(fabs(P[k]) + 1e-5);
            if (n_out > 100)
                v /= nc;
        }
        s[c] = v;
        has[c] = true;
        kept++;
    }
    double score = 0;
    for (int a = 0; a < 128; a++) {
        if (!has[a])
            continue;
        if (n_out <= 100)
            score += fabs(s[a]);
        else
            for (int c = 0; c < 128; c++)
                if (has[c])
                    score += fabs(s[a] - s[c]);
    }
    return n_out > 100 ? score / kept : score;
}

START_TEST(epe_nas_groups_jacobian_rows_by_label_in_both_branches)
{
    make_data();
    for (int outs = C; outs <= 101; outs += 101 - C) {
        sigeo_model_t *m = mlp(outs, false, SIGEO_LOSS_SOFTMAX_CE);
        sigeo_batch_t b = batch(0, D, true);
        ref_t r;
        ref_load(&r, m, H, outs);
        ref_run(&r, xs[0]);
        sigeo_proxy_result_t res;
        OK(run(&res, m, SIGEO_PROXY_EPE_NAS, &b, 1, NULL, 0));
        close_rel(res.score, epe_of((const double(*)[D])r.J, outs), 1e-5, outs > 100 ? "epe_nas, > 100 outputs" : "epe_nas");
        ck_assert_uint_eq(res.n_modules, outs > 100 ? 2 : 3); /* the one-sample class dropped above 100 */
        ref_free(&r);
        sigeo_model_destroy(m);
    }
    /* Every sample its own class: each s_c = log(1 + 1e-5) (P = 1). */
    const int32_t keep[B] = { 0, 0, 0, 1, 1, 1, 1, 2 };
    sigeo_model_t *m = mlp(B, false, SIGEO_LOSS_SOFTMAX_CE);
    for (int n = 0; n < B; n++)
        labels[n] = n;
    sigeo_batch_t b = batch(0, D, true);
    sigeo_proxy_result_t res;
    OK(run(&res, m, SIGEO_PROXY_EPE_NAS, &b, 1, NULL, 0));
    memcpy(labels, keep, sizeof keep);
    close_rel(res.score, B * log(1 + 1e-5), 1e-9, "epe_nas, one sample per class");
    sigeo_model_destroy(m);
}
END_TEST

/* ------------------------------------------------------------------ nwot */

/* log|det K| from the codes of the ReLU inputs (fc0's outputs as the engine
 * computed them). */
static double nwot_expected(sigeo_model_t *m, const sigeo_batch_t *b, int width)
{
    OK(sigeo_model_forward(NULL, m, b));
    float h[B * H];
    int64_t count = B * H;
    OK(sigeo_model_node_output(h, &count, m, 1));
    ck_assert_int_eq(count, B * width);
    double K[B * B];
    for (int a = 0; a < B; a++)
        for (int c = 0; c < B; c++) {
            int same = 0;
            for (int j = 0; j < width; j++)
                same += (h[a * width + j] > 0) == (h[c * width + j] > 0);
            K[a * B + c] = same;
        }
    return logabsdet(K, B);
}

START_TEST(nwot_is_the_log_determinant_of_the_relu_code_kernel)
{
    make_data();
    sigeo_model_t *m = mlp(C, true, SIGEO_LOSS_SOFTMAX_CE);
    sigeo_batch_t b = batch(0, D, false);
    sigeo_proxy_result_t r;
    OK(run(&r, m, SIGEO_PROXY_NWOT, &b, 1, NULL, 0));
    const double want = nwot_expected(m, &b, H);
    ck_assert_msg(isfinite(want), "test data gives a singular K");
    close_rel(r.score, want, 1e-9, "nwot");
    ck_assert_uint_eq(r.n_modules, 1);
    ck_assert_uint_eq(r.flags & (SIGEO_PROXY_SINGULAR | SIGEO_PROXY_NONFINITE), 0);
    /* Two identical samples: K has two equal rows. */
    memcpy(xs[0] + D, xs[0], D * sizeof(float));
    OK(run(&r, m, SIGEO_PROXY_NWOT, &b, 1, NULL, 0));
    ck_assert(isinf(r.score) && r.score < 0);
    ck_assert(r.flags & SIGEO_PROXY_SINGULAR);
    ck_assert(r.flags & SIGEO_PROXY_NONFINITE);
    sigeo_model_destroy(m);
    /* No ReLU at all: K = 0. */
    m = linear(C, SIGEO_LOSS_SOFTMAX_CE);
    OK(run(&r, m, SIGEO_PROXY_NWOT, &b, 1, NULL, 0));
    ck_assert(isinf(r.score) && r.score < 0 && (r.flags & SIGEO_PROXY_SINGULAR));
    ck_assert_uint_eq(r.n_modules, 0);
    sigeo_model_destroy(m);
}
END_TEST

/* --------------------------------------------------------- data-free kinds */

START_TEST(l2_norm_params_and_flops_count_the_active_subnet)
{
    sigeo_model_t *m = mlp(C, true, SIGEO_LOSS_SOFTMAX_CE);
    double *W0 = param(m, "fc0.weight", NULL), *W1 = param(m, "fc1.weight", NULL);
    for (int w = H / 2; w <= H; w += H / 2) {
        const int32_t arch[1] = { w == H ? 1 : 0 };
        double n0 = 0, n1 = 0;
        for (int j = 0; j < w; j++)
            for (int i = 0; i < D; i++)
                n0 += W0[j * D + i] * W0[j * D + i];
        for (int c = 0; c < C; c++)
            for (int j = 0; j < w; j++)
                n1 += W1[c * H + j] * W1[c * H + j];
        sigeo_proxy_result_t r;
        OK(run(&r, m, SIGEO_PROXY_L2_NORM, NULL, 0, arch, 1)); /* no data needed */
        close_rel(r.score, sqrt(n0) + sqrt(n1), 1e-12, "l2_norm");
        ck_assert_uint_eq(r.k, 0);
        OK(run(&r, m, SIGEO_PROXY_PARAMS, NULL, 0, arch, 1));
        ck_assert_double_eq_tol(r.score, (double)(D * w + w + w * C + C) / 1e6, 1e-15);
        OK(run(&r, m, SIGEO_PROXY_FLOPS, NULL, 0, arch, 1));
        ck_assert_double_eq_tol(r.score, (double)(D * w + w + w * C) / 1e6, 1e-15); /* relu counts numel */
    }
    free(W0);
    free(W1);
    sigeo_model_destroy(m);
}
END_TEST

static double synflow_expected(sigeo_model_t *m)
{
    double *W0 = param(m, "fc0.weight", NULL), *b0 = param(m, "fc0.bias", NULL), *W1 = param(m, "fc1.weight", NULL);
    double raw = 0;
    for (int j = 0; j < H; j++) {
        double h = fabs(b0[j]), s = 0;
        for (int i = 0; i < D; i++)
            h += fabs(W0[j * D + i]);
        for (int c = 0; c < C; c++) {
            s += fabs(W1[c * H + j]);
            raw += fabs(W1[c * H + j]) * h; /* dR/dW1[c][j] = h_j */
        }
        for (int i = 0; i < D; i++)
            raw += fabs(W0[j * D + i]) * s; /* dR/dW0[j][i] = sum_c |W1[c][j]| */
    }
    free(W0);
    free(b0);
    free(W1);
    return raw;
}

START_TEST(synflow_is_the_closed_form_of_the_all_ones_pass_and_ignores_the_data)
{
    make_data();
    sigeo_model_t *m = mlp(C, false, SIGEO_LOSS_SOFTMAX_CE);
    const double raw = synflow_expected(m);
    sigeo_proxy_result_t r0, r1, r2;
    OK(run(&r0, m, SIGEO_PROXY_SYNFLOW, NULL, 0, NULL, 0));
    close_rel(r0.raw_score, raw, 1e-6, "synflow raw");
    close_rel(r0.score, log(raw), 1e-7, "synflow (log)");
    ck_assert_uint_eq(r0.n_modules, 2);
    sigeo_batch_t b0 = batch(0, D, true), b1 = batch(1, D, false);
    OK(run(&r1, m, SIGEO_PROXY_SYNFLOW, &b0, 1, NULL, 0));
    OK(run(&r2, m, SIGEO_PROXY_SYNFLOW, &b1, 1, NULL, 0));
    ck_assert(memcmp(&r0.score, &r1.score, sizeof(double)) == 0);
    ck_assert(memcmp(&r0.score, &r2.score, sizeof(double)) == 0);

    /* The same weights with a batch norm (trained statistics, gamma 2,
     * beta -0.5) between fc0 and the ReLU: synflow removes it (bn=False). */
    sigeo_model_t *n;
    OK(sigeo_model_create(&n, ctx, "mlp_bn"));
    int32_t x = shaped_input(n, D, NULL);
    int32_t h = layer_on(n, SIGEO_LAYER_LINEAR, "fc0", &x, 1, H, -1, 0);
    h = layer_on(n, SIGEO_LAYER_BATCH_NORM, "bn", &h, 1, 0, -1, 0);
    h = layer_on(n, SIGEO_LAYER_ACTIVATION, "relu", &h, 1, 0, -1, SIGEO_ACT_RELU);
    int32_t y = layer_on(n, SIGEO_LAYER_LINEAR, "fc1", &h, 1, C, -1, 0);
    OK(sigeo_model_set_loss(n, y, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(n));
    const char *names[] = { "fc0.weight", "fc0.bias", "fc1.weight", "fc1.bias" };
    for (int i = 0; i < 4; i++) {
        int64_t numel;
        double *v = param(m, names[i], &numel);
        float f[H * D];
        for (int64_t k = 0; k < numel; k++)
            f[k] = (float)v[k];
        int32_t p;
        OK(sigeo_model_find_param(&p, n, names[i]));
        OK(sigeo_model_set_param(n, p, f, numel));
        free(v);
    }
    float gamma[H], beta[H];
    for (int j = 0; j < H; j++) {
        gamma[j] = 2.0f;
        beta[j] = -0.5f;
    }
    int32_t p;
    OK(sigeo_model_find_param(&p, n, "bn.weight"));
    OK(sigeo_model_set_param(n, p, gamma, H));
    OK(sigeo_model_find_param(&p, n, "bn.bias"));
    OK(sigeo_model_set_param(n, p, beta, H));
    OK(sigeo_model_forward_backward(NULL, n, &b0));
    OK(run(&r1, n, SIGEO_PROXY_SYNFLOW, NULL, 0, NULL, 0));
    close_rel(r1.raw_score, raw, 1e-6, "synflow with batch norm removed");
    /* synflow_bn keeps it. In train mode a flat feature of one sample has
     * no variance: refused, as PyTorch refuses it. In eval mode (running
     * statistics mu, v from the forward above) the norm is the affine
     * |gamma| (a - mu) / sqrt(v + eps) + |beta| of a_j = sum_i |W0_ji| +
     * |b0_j|, then h = relu(.), R = sum_c (sum_j |W1_cj| h_j + |b1_c|). */
    ck_assert_int_eq(run(&r2, n, SIGEO_PROXY_SYNFLOW_BN, NULL, 0, NULL, 0), SIGEO_ERR_SHAPE);
    OK(sigeo_model_set_training(n, 0));
    sigeo__probe_bn_t bn;
    ck_assert(sigeo__probe_batch_norm(&bn, n, 2));
    double *W0 = param(n, "fc0.weight", NULL), *b0p = param(n, "fc0.bias", NULL), *W1 = param(n, "fc1.weight", NULL);
    double want_bn = 0;
    for (int j = 0; j < H; j++) {
        double a = fabs(b0p[j]), s1 = 0;
        for (int i = 0; i < D; i++)
            a += fabs(W0[j * D + i]);
        const double scale = 2.0 / sqrt((double)bn.running_var[j] + 1e-5);
        const double pre = scale * (a - (double)bn.running_mean[j]) + 0.5;
        const double hj = pre > 0 ? pre : 0;
        for (int c = 0; c < C; c++) {
            want_bn += fabs(W1[c * H + j]) * hj;
            s1 += fabs(W1[c * H + j]);
        }
        if (pre > 0)
            for (int i = 0; i < D; i++)
                want_bn += fabs(W0[j * D + i]) * s1 * scale;
    }
    free(W0);
    free(b0p);
    free(W1);
    OK(run(&r2, n, SIGEO_PROXY_SYNFLOW_BN, NULL, 0, NULL, 0));
    close_rel(r2.raw_score, want_bn, 1e-5, "synflow_bn keeps the (eval-mode) batch norm");
    ck_assert_str_eq(sigeo_proxy_kind_name(SIGEO_PROXY_SYNFLOW_BN), "synflow_bn");
    sigeo_model_destroy(n);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(synflow_on_an_embedding_bag_uses_sample_0_and_restores_the_table)
{
    /* sparse field -> embedding bag (sum, 4 dims, 10 rows) -> head [1]. */
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "emb"));
    sigeo_input_desc_t s = SIGEO_INPUT_DESC_INIT;
    s.kind = SIGEO_INPUT_SPARSE;
    s.name = "c0";
    int32_t si;
    OK(sigeo_model_add_input(&si, m, &s));
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = SIGEO_LAYER_EMBEDDING_BAG;
    d.name = "emb";
    d.inputs = &si;
    d.n_inputs = 1;
    d.units = 4;
    d.rows = 10;
    int32_t e;
    OK(sigeo_model_add_layer(&e, m, &d));
    int32_t y = layer_on(m, SIGEO_LAYER_LINEAR, "head", &e, 1, 1, -1, 0);
    OK(sigeo_model_set_loss(m, y, SIGEO_LOSS_BCE_WITH_LOGITS));
    OK(sigeo_model_finalize(m));
    /* Sample 0's bag repeats row 3; sample 1 looks up row 5 only. */
    const int64_t ids[4] = { 3, 7, 3, 5 }, offs[3] = { 0, 3, 4 };
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = 2;
    b.n_sparse_fields = 1;
    b.sparse_ids = ids;
    b.sparse_offsets = offs;
    int64_t n;
    double *E = param(m, "emb.weight", &n), *w = param(m, "head.weight", NULL);
    double raw = 0;
    for (int j = 0; j < 4; j++)
        raw += fabs(w[j]) * (2 * fabs(E[3 * 4 + j]) + fabs(E[7 * 4 + j]));
    float *table = malloc((size_t)n * sizeof(float));
    int32_t p;
    OK(sigeo_model_find_param(&p, m, "emb.weight"));
    OK(sigeo_model_get_param(m, p, table, n));
    sigeo_proxy_result_t r;
    OK(run(&r, m, SIGEO_PROXY_SYNFLOW, &b, 1, NULL, 0));
    close_rel(r.raw_score, raw, 1e-6, "synflow, embedding bag");
    float *again = malloc((size_t)n * sizeof(float));
    OK(sigeo_model_get_param(m, p, again, n));
    ck_assert(memcmp(table, again, (size_t)n * sizeof(float)) == 0);
    free(table);
    free(again);
    free(E);
    free(w);
    sigeo_model_destroy(m);
}
END_TEST

/* ------------------------------------------------------------------- zen */

/* One Zen repeat on the ReLU MLP from the documented stream: fc0.weight,
 * fc1.weight, e1, e2; x2 = e1 + gamma e2; log(mean_n sum |f1 - f2|). */
static double zen_one(sigeo__rng_t *rng, double gamma)
{
    static double W0[H * D];
    for (int k = 0; k < H * D; k++)
        W0[k] = (float)sigeo__rng_normal(rng);
    for (int k = 0; k < C * H; k++)
        sigeo__rng_normal(rng);
    float e1[B * D], x2[B * D];
    for (int k = 0; k < B * D; k++)
        e1[k] = (float)sigeo__rng_normal(rng);
    for (int k = 0; k < B * D; k++)
        x2[k] = (float)((double)e1[k] + gamma * sigeo__rng_normal(rng));
    double delta = 0;
    for (int n = 0; n < B; n++)
        for (int j = 0; j < H; j++) {
            double h1 = 0, h2 = 0;
            for (int i = 0; i < D; i++) {
                h1 += W0[j * D + i] * e1[n * D + i];
                h2 += W0[j * D + i] * x2[n * D + i];
            }
            delta += fabs((h1 > 0 ? h1 : 0) - (h2 > 0 ? h2 : 0));
        }
    return log(delta / B);
}

START_TEST(zen_repeat_and_mixup_gamma)
{
    make_data();
    sigeo_model_t *m = mlp(C, false, SIGEO_LOSS_SOFTMAX_CE);
    sigeo_batch_t b = batch(0, D, false);
    sigeo__rng_t rng;
    sigeo__rng_seed(&rng, 77);
    const double a = zen_one(&rng, 0.1), c2 = zen_one(&rng, 0.1), d = zen_one(&rng, 0.1);
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.kind = SIGEO_PROXY_ZEN;
    o.seed = 77;
    o.zen_mixup_gamma = 0.1;
    o.zen_repeat = 3;
    sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
    OK(sigeo_proxy_compute(m, NULL, 0, &b, 1, &o, &r));
    ck_assert_msg(fabs(r.score - (a + c2 + d) / 3) < 1e-4, "zen x3 %.8g, want %.8g", r.score, (a + c2 + d) / 3);
    o.zen_repeat = 1001;
    ck_assert_int_eq(sigeo_proxy_compute(m, NULL, 0, &b, 1, &o, &r), SIGEO_ERR_INVALID_ARG);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(zen_redoes_its_documented_draws_and_does_not_depend_on_the_weights)
{
    make_data();
    sigeo_model_t *m = mlp(C, false, SIGEO_LOSS_SOFTMAX_CE);
    sigeo_batch_t b = batch(0, D, false);
    /* The documented stream: fc0.weight, fc1.weight (row-major, N(0, 1)),
     * then e1, then e2; biases 0. f = the input of fc1 = relu(fc0). */
    sigeo__rng_t rng;
    sigeo__rng_seed(&rng, 1234);
    static double W0[H * D];
    for (int k = 0; k < H * D; k++)
        W0[k] = (float)sigeo__rng_normal(&rng);
    for (int k = 0; k < C * H; k++) /* fc1.weight: does not enter f */
        sigeo__rng_normal(&rng);
    float e1[B * D], x2[B * D];
    for (int k = 0; k < B * D; k++)
        e1[k] = (float)sigeo__rng_normal(&rng);
    for (int k = 0; k < B * D; k++)
        x2[k] = (float)((double)e1[k] + 0.01 * sigeo__rng_normal(&rng));
    double delta = 0;
    for (int n = 0; n < B; n++)
        for (int j = 0; j < H; j++) {
            double h1 = 0, h2 = 0;
            for (int i = 0; i < D; i++) {
                h1 += W0[j * D + i] * e1[n * D + i];
                h2 += W0[j * D + i] * x2[n * D + i];
            }
            delta += fabs((h1 > 0 ? h1 : 0) - (h2 > 0 ? h2 : 0));
        }
    const double want = log(delta / B);
    const double got = score_of(m, SIGEO_PROXY_ZEN, &b, 1);
    ck_assert_msg(fabs(got - want) < 1e-4, "zen %.8g, want %.8g", got, want);
    sigeo_model_destroy(m);

    /* Another context seed = other weights: the same score, bit for bit. */
    sigeo_context_t *other;
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.seed = 99;
    OK(sigeo_context_create(&other, &co));
    sigeo_context_t *keep = ctx;
    ctx = other;
    m = mlp(C, false, SIGEO_LOSS_SOFTMAX_CE);
    ctx = keep;
    const double again = score_of(m, SIGEO_PROXY_ZEN, &b, 1);
    ck_assert(memcmp(&again, &got, sizeof got) == 0);
    sigeo_model_destroy(m);
    sigeo_context_destroy(other);

    /* A subnet draws what its standalone extract draws; l2_norm of the
     * subnet is that of the extract with inherited weights. */
    m = mlp(C, true, SIGEO_LOSS_SOFTMAX_CE);
    const int32_t narrow[1] = { 0 };
    sigeo_model_t *ex;
    OK(sigeo_model_extract(&ex, m, narrow, 1, 1));
    sigeo_proxy_result_t a, e;
    OK(run(&a, m, SIGEO_PROXY_ZEN, &b, 1, narrow, 1));
    OK(run(&e, ex, SIGEO_PROXY_ZEN, &b, 1, NULL, 0));
    ck_assert_msg(fabs(a.score - e.score) < 1e-6, "zen subnet %.10g, extract %.10g", a.score, e.score);
    OK(run(&a, m, SIGEO_PROXY_L2_NORM, NULL, 0, narrow, 1));
    OK(run(&e, ex, SIGEO_PROXY_L2_NORM, NULL, 0, NULL, 0));
    ck_assert_double_eq(a.score, e.score);
    sigeo_model_destroy(ex);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(zen_adds_the_batchnorm2d_running_variance_term)
{
    /* x (2, 3, 3) -> bn -> global average pool -> fc [C]: f = the bn output. */
    enum { CH = 2, S = 9, F = CH * S };
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "bn2d"));
    int32_t x = shaped_input(m, F, (const int64_t[]){ CH, 3, 3 });
    int32_t h = layer_on(m, SIGEO_LAYER_BATCH_NORM, "bn", &x, 1, 0, -1, 0);
    h = layer_on(m, SIGEO_LAYER_GLOBAL_AVG_POOL, "gap", &h, 1, 0, -1, 0);
    int32_t y = layer_on(m, SIGEO_LAYER_LINEAR, "fc", &h, 1, C, -1, 0);
    OK(sigeo_model_set_loss(m, y, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    make_data();
    sigeo_batch_t b = batch(0, F, false);
    sigeo__rng_t rng;
    sigeo__rng_seed(&rng, 1234);
    for (int k = 0; k < C * CH; k++) /* fc.weight: the only draws before the inputs */
        sigeo__rng_normal(&rng);
    float e[2][B * F];
    for (int k = 0; k < B * F; k++)
        e[0][k] = (float)sigeo__rng_normal(&rng);
    for (int k = 0; k < B * F; k++)
        e[1][k] = (float)((double)e[0][k] + 0.01 * sigeo__rng_normal(&rng));
    double out[2][B * F], rv[CH];
    for (int c = 0; c < CH; c++)
        rv[c] = 1.0;
    for (int pass = 0; pass < 2; pass++)
        for (int c = 0; c < CH; c++) {
            double mean = 0, ss = 0;
            for (int n = 0; n < B; n++)
                for (int s = 0; s < S; s++)
                    mean += e[pass][n * F + c * S + s];
            mean /= B * S;
            for (int n = 0; n < B; n++)
                for (int s = 0; s < S; s++)
                    ss += pow(e[pass][n * F + c * S + s] - mean, 2);
            for (int n = 0; n < B; n++)
                for (int s = 0; s < S; s++)
                    out[pass][n * F + c * S + s] = (e[pass][n * F + c * S + s] - mean) / sqrt(ss / (B * S) + 1e-5);
            rv[c] = 0.9 * rv[c] + 0.1 * ss / (B * S - 1);
        }
    double delta = 0;
    for (int k = 0; k < B * F; k++)
        delta += fabs(out[0][k] - out[1][k]);
    const double want = log(delta / B) + log(sqrt((rv[0] + rv[1]) / 2));
    sigeo_proxy_result_t r;
    OK(run(&r, m, SIGEO_PROXY_ZEN, &b, 1, NULL, 0));
    ck_assert_msg(fabs(r.score - want) < 1e-4, "zen %.8g, want %.8g", r.score, want);
    ck_assert_uint_eq(r.n_modules, 1);
    sigeo_model_destroy(m);
}
END_TEST

/* ------------------------------------------------------------------ MeCo */

/* lambda_min of corrcoef of sample 0 of node `node` as [ch, p], NaN -> 0. */
static double meco_term(sigeo_model_t *m, int32_t node, int ch, int p)
{
    float buf[B * 64];
    int64_t count = B * 64;
    OK(sigeo_model_node_output(buf, &count, m, node));
    ck_assert_int_ge(count, ch * p);
    double F[128], R[64];
    for (int k = 0; k < ch * p; k++)
        F[k] = buf[k];
    ref_corrcoef(R, F, ch, p);
    for (int k = 0; k < ch * ch; k++)
        if (!isfinite(R[k]))
            R[k] = 0;
    return min_eig(R, ch);
}

/* meco_opt's draws redone with the library's documented stream: per counted
 * output (node order) a partial Fisher-Yates of min(8, C) of C rows. */
static void draw_rows(int64_t *idx, int64_t channels, sigeo__rng_t *rng)
{
    for (int64_t t = 0; t < channels; t++)
        idx[t] = t;
    for (int64_t t = 0; t < (channels < 8 ? channels : 8); t++) {
        const int64_t j = t + (int64_t)sigeo__rng_below(rng, (uint64_t)(channels - t));
        const int64_t tmp = idx[t];
        idx[t] = idx[j];
        idx[j] = tmp;
    }
}

static double meco_rows_term(sigeo_model_t *m, int32_t node, const int64_t *idx, int rows, int p)
{
    float buf[B * 256];
    int64_t count = B * 256;
    OK(sigeo_model_node_output(buf, &count, m, node));
    double F[8 * 16], R[64];
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < p; k++)
            F[r * p + k] = buf[idx[r] * p + k];
    ref_corrcoef(R, F, rows, p);
    for (int k = 0; k < rows * rows; k++)
        if (!isfinite(R[k]))
            R[k] = 0;
    return min_eig(R, rows);
}

START_TEST(meco_opt_correlates_eight_random_channels_scaled_by_c_over_8)
{
    make_data();
    sigeo_model_t *m = convnet(10);
    sigeo_batch_t b = batch(0, PIX, false);
    sigeo_proxy_result_t r;
    OK(run(&r, m, SIGEO_PROXY_MECO_OPT, &b, 1, NULL, 0));
    sigeo__rng_t rng;
    sigeo__rng_seed(&rng, 1234);
    int64_t conv_idx[10], relu_idx[10], skip[10];
    draw_rows(conv_idx, 10, &rng);
    draw_rows(relu_idx, 10, &rng);
    draw_rows(skip, 10, &rng); /* gap: flat, P = 1 */
    draw_rows(skip, C, &rng);  /* fc */
    const double want = 10.0 / 8.0 * (meco_rows_term(m, 1, conv_idx, 8, PIX) + meco_rows_term(m, 2, relu_idx, 8, PIX));
    ck_assert_msg(fabs(r.score - want) < 1e-6, "meco_opt %.10g, want %.10g", r.score, want);
    /* another seed, other channels, another value; fewer than 8 channels:
     * all of them, scaled by C / 8 (eigenvalues ignore the row order) */
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.kind = SIGEO_PROXY_MECO_OPT;
    o.seed = 99;
    sigeo_proxy_result_t r2 = SIGEO_PROXY_RESULT_INIT;
    OK(sigeo_proxy_compute(m, NULL, 0, &b, 1, &o, &r2));
    ck_assert(r2.score != r.score);
    sigeo_model_destroy(m);
    m = convnet(3);
    OK(run(&r, m, SIGEO_PROXY_MECO_OPT, &b, 1, NULL, 0));
    const double w3 = 3.0 / 8.0 * (meco_term(m, 1, 3, PIX) + meco_term(m, 2, 3, PIX));
    ck_assert_msg(fabs(r.score - w3) < 1e-6, "meco_opt, 3 channels %.10g, want %.10g", r.score, w3);
    sigeo_model_destroy(m);
}
END_TEST

/* SWAP: distinct columns of the [B, H] ReLU on/off matrix, counted pairwise
 * here; regularised by exp(-(P/1e3 - mu)^2 / sigma). */
START_TEST(swap_counts_distinct_neuron_patterns_over_the_batch)
{
    make_data();
    sigeo_model_t *m = mlp(C, false, SIGEO_LOSS_SOFTMAX_CE);
    sigeo_batch_t b = batch(0, D, true);
    sigeo_proxy_result_t r;
    OK(run(&r, m, SIGEO_PROXY_SWAP, &b, 1, NULL, 0));
    float out[B * H];
    int64_t count = B * H;
    OK(sigeo_model_node_output(out, &count, m, 2)); /* x, fc0, relu */
    int distinct = 0;
    for (int j = 0; j < H; j++) {
        bool seen = false;
        for (int k = 0; k < j && !seen; k++) {
            bool same_pattern = true;
            for (int n = 0; n < B; n++)
                same_pattern = same_pattern && ((out[n * H + j] > 0) == (out[n * H + k] > 0));
            seen = same_pattern;
        }
        distinct += !seen;
    }
    ck_assert_int_gt(distinct, 1);
    ck_assert_double_eq(r.score, (double)distinct);
    ck_assert_double_eq(r.raw_score, (double)distinct);
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.kind = SIGEO_PROXY_SWAP;
    o.swap_mu = 0.1;
    o.swap_sigma = 0.5;
    sigeo_proxy_result_t rr = SIGEO_PROXY_RESULT_INIT;
    OK(sigeo_proxy_compute(m, NULL, 0, &b, 1, &o, &rr));
    const double P = (double)(H * D + H + C * H + C) / 1e3;
    close_rel(rr.score, distinct * exp(-(P - 0.1) * (P - 0.1) / 0.5), 1e-12, "swap regularised");
    o.swap_sigma = -1;
    ck_assert_int_eq(sigeo_proxy_compute(m, NULL, 0, &b, 1, &o, &rr), SIGEO_ERR_INVALID_ARG);
    sigeo_model_destroy(m);
}
END_TEST

/* TE-NAS on the ReLU MLP: J_n by hand (d sum_k z_nk / dW1[k][j] = h_nj,
 * / dW0[j][i] = (sum_k W1[k][j]) 1[pre_nj > 0] x_ni), NTK, Jacobi
 * eigenvalues; regions = distinct rows of the [B, H] ReLU pattern. */
START_TEST(tenas_ntk_condition_number_and_linear_regions)
{
    make_data();
    sigeo_model_t *m = mlp(C, false, SIGEO_LOSS_SOFTMAX_CE);
    sigeo_batch_t b = batch(0, D, false);
    sigeo_proxy_result_t r;
    OK(run(&r, m, SIGEO_PROXY_TENAS_NTK, &b, 1, NULL, 0));
    double *W0 = param(m, "fc0.weight", NULL), *b0 = param(m, "fc0.bias", NULL), *W1 = param(m, "fc1.weight", NULL);
    static double J[B][H * D + C * H];
    for (int n = 0; n < B; n++) {
        const float *x = xs[0] + n * D;
        for (int j = 0; j < H; j++) {
            double pre = b0[j], col = 0;
            for (int i = 0; i < D; i++)
                pre += W0[j * D + i] * x[i];
            for (int k = 0; k < C; k++)
                col += W1[k * H + j];
            for (int i = 0; i < D; i++)
                J[n][j * D + i] = pre > 0 ? col * x[i] : 0.0;
            for (int k = 0; k < C; k++)
                J[n][H * D + k * H + j] = pre > 0 ? pre : 0.0;
        }
    }
    double K[B * B], w[64];
    for (int a = 0; a < B; a++)
        for (int c2 = 0; c2 < B; c2++) {
            double s = 0;
            for (int j = 0; j < H * D + C * H; j++)
                s += J[a][j] * J[c2][j];
            K[a * B + c2] = s;
        }
    ref_jacobi_eigvals(w, K, B);
    double lo = w[0], hi = w[0];
    for (int i = 1; i < B; i++) {
        lo = w[i] < lo ? w[i] : lo;
        hi = w[i] > hi ? w[i] : hi;
    }
    close_rel(r.raw_score, hi / lo, 1e-3, "tenas_ntk condition number");
    ck_assert_double_eq(r.score, -r.raw_score);
    free(W0);
    free(b0);
    free(W1);
    OK(run(&r, m, SIGEO_PROXY_TENAS_REGIONS, &b, 1, NULL, 0));
    float out[B * H];
    int64_t count = B * H;
    OK(sigeo_model_node_output(out, &count, m, 2));
    int regions = 0;
    for (int n = 0; n < B; n++) {
        bool seen = false;
        for (int k = 0; k < n && !seen; k++) {
            bool same_pattern = true;
            for (int j = 0; j < H; j++)
                same_pattern = same_pattern && ((out[n * H + j] > 0) == (out[k * H + j] > 0));
            seen = same_pattern;
        }
        regions += !seen;
    }
    ck_assert_double_eq(r.score, (double)regions);
    sigeo_batch_t one = b;
    one.batch_size = 1;
    ck_assert_int_eq(run(&r, m, SIGEO_PROXY_TENAS_NTK, &one, 1, NULL, 0), SIGEO_ERR_INVALID_ARG);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(meco_sums_the_smallest_channel_correlation_eigenvalues_of_sample_0)
{
    make_data();
    sigeo_model_t *m = convnet(3);
    sigeo_batch_t b = batch(0, PIX, false);
    sigeo_proxy_result_t r;
    OK(run(&r, m, SIGEO_PROXY_MECO, &b, 1, NULL, 0));
    /* conv and relu give 3 x 16 maps; gap and fc are flat: 0. */
    OK(sigeo_model_forward(NULL, m, &b));
    const double want = meco_term(m, 1, 3, PIX) + meco_term(m, 2, 3, PIX);
    ck_assert_msg(fabs(r.score - want) < 1e-6, "meco %.10g, want %.10g", r.score, want);
    ck_assert_uint_eq(r.n_modules, 4);
    sigeo_model_destroy(m);

    /* An MLP's outputs are all flat: [K, 1] has no correlation. */
    m = mlp(C, false, SIGEO_LOSS_SOFTMAX_CE);
    b = batch(0, D, false);
    OK(run(&r, m, SIGEO_PROXY_MECO, &b, 1, NULL, 0));
    ck_assert_double_eq(r.score, 0.0);
    ck_assert_uint_eq(r.n_modules, 3); /* fc0, relu, fc1 */
    sigeo_model_destroy(m);

    /* Tokens: x [12] -> reshape (3, 4) -> token linear [3 tokens] -> fc:
     * the token linear's sample 0 is 3 x 4 (tokens x embedding). */
    OK(sigeo_model_create(&m, ctx, "tokens"));
    int32_t x = shaped_input(m, 12, NULL);
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = SIGEO_LAYER_RESHAPE;
    d.name = "tok";
    d.inputs = &x;
    d.n_inputs = 1;
    d.shape[0] = 3;
    d.shape[1] = 4;
    int32_t t;
    OK(sigeo_model_add_layer(&t, m, &d));
    int32_t u = layer_on(m, SIGEO_LAYER_TOKEN_LINEAR, "mix", &t, 1, 3, -1, 0);
    int32_t y = layer_on(m, SIGEO_LAYER_LINEAR, "fc", &u, 1, C, -1, 0);
    OK(sigeo_model_set_loss(m, y, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    b = batch(0, 12, false);
    OK(run(&r, m, SIGEO_PROXY_MECO, &b, 1, NULL, 0));
    OK(sigeo_model_forward(NULL, m, &b));
    const double tw = meco_term(m, u, 3, 4);
    ck_assert_msg(fabs(r.score - tw) < 1e-6, "meco tokens %.10g, want %.10g", r.score, tw);
    ck_assert_uint_eq(r.n_modules, 2); /* token linear, fc; not the reshape */
    sigeo_model_destroy(m);

    /* Attention returns a tuple in PyTorch: F is its whole batch [B, T E]. */
    OK(sigeo_model_create(&m, ctx, "attention"));
    x = shaped_input(m, 12, NULL);
    d.inputs = &x;
    OK(sigeo_model_add_layer(&t, m, &d));
    sigeo_layer_desc_t a = SIGEO_LAYER_DESC_INIT;
    a.kind = SIGEO_LAYER_ATTENTION;
    a.name = "att";
    a.inputs = &t;
    a.n_inputs = 1;
    a.heads = 2;
    OK(sigeo_model_add_layer(&u, m, &a));
    y = layer_on(m, SIGEO_LAYER_LINEAR, "fc", &u, 1, C, -1, 0);
    OK(sigeo_model_set_loss(m, y, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    OK(run(&r, m, SIGEO_PROXY_MECO, &b, 1, NULL, 0));
    OK(sigeo_model_forward(NULL, m, &b));
    const double aw = meco_term(m, u, B, 12);
    ck_assert_msg(fabs(r.score - aw) < 1e-6, "meco attention %.10g, want %.10g", r.score, aw);
    sigeo_model_destroy(m);
}
END_TEST

/* --------------------------------------------- invariance and bad input */

/* x (2, 4, 4) -> conv [3] -> batch norm (train mode) -> relu -> gap ->
 * fc0 [elastic 4 | 8] -> relu -> fc1 [C]: every kind runs on it. */
static sigeo_model_t *everything(void)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "all"));
    int32_t w;
    OK(sigeo_model_add_choice(&w, m, "w", 2, (const int64_t[]){ 4, 8 }));
    int32_t x = shaped_input(m, 2 * PIX, (const int64_t[]){ 2, IMG, IMG });
    int32_t h = layer_on(m, SIGEO_LAYER_CONV2D, "conv", &x, 1, 3, -1, 0);
    h = layer_on(m, SIGEO_LAYER_BATCH_NORM, "bn", &h, 1, 0, -1, 0); /* node 2 */
    h = layer_on(m, SIGEO_LAYER_ACTIVATION, "relu0", &h, 1, 0, -1, SIGEO_ACT_RELU);
    h = layer_on(m, SIGEO_LAYER_GLOBAL_AVG_POOL, "gap", &h, 1, 0, -1, 0);
    h = layer_on(m, SIGEO_LAYER_LINEAR, "fc0", &h, 1, 8, w, 0);
    h = layer_on(m, SIGEO_LAYER_ACTIVATION, "relu1", &h, 1, 0, -1, SIGEO_ACT_RELU);
    int32_t y = layer_on(m, SIGEO_LAYER_LINEAR, "fc1", &h, 1, C, -1, 0);
    OK(sigeo_model_set_loss(m, y, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    return m;
}

typedef struct snapshot {
    float *params[16];
    int64_t numel[16];
    int32_t n, arch;
    float bn[2][3];
    int64_t tracked;
} snapshot_t;

static void snap(snapshot_t *s, sigeo_model_t *m)
{
    OK(sigeo_model_param_count(&s->n, m));
    for (int32_t p = 0; p < s->n; p++) {
        sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
        OK(sigeo_model_param_info(&info, m, p));
        s->numel[p] = info.numel;
        s->params[p] = malloc((size_t)info.numel * sizeof(float));
        OK(sigeo_model_get_param(m, p, s->params[p], info.numel));
    }
    OK(sigeo_model_active_arch(&s->arch, 1, m));
    sigeo__probe_bn_t bn;
    ck_assert(sigeo__probe_batch_norm(&bn, m, 2));
    memcpy(s->bn[0], bn.running_mean, sizeof s->bn[0]);
    memcpy(s->bn[1], bn.running_var, sizeof s->bn[1]);
    s->tracked = *bn.num_batches_tracked;
}

static bool same(const snapshot_t *a, const snapshot_t *b)
{
    bool eq = a->n == b->n && a->arch == b->arch && a->tracked == b->tracked &&
              memcmp(a->bn, b->bn, sizeof a->bn) == 0;
    for (int32_t p = 0; eq && p < a->n; p++)
        eq = memcmp(a->params[p], b->params[p], (size_t)a->numel[p] * sizeof(float)) == 0;
    return eq;
}

static void unsnap(snapshot_t *s)
{
    for (int32_t p = 0; p < s->n; p++)
        free(s->params[p]);
}

START_TEST(every_kind_leaves_weights_architecture_and_bn_statistics_bit_identical)
{
    make_data();
    sigeo_model_t *m = everything();
    sigeo_batch_t bs[2] = { batch(0, 2 * PIX, true), batch(1, 2 * PIX, true) };
    OK(sigeo_model_forward_backward(NULL, m, &bs[1])); /* running statistics away from 0 / 1 */
    snapshot_t before;
    snap(&before, m);
    const int32_t narrow[1] = { 0 };
    for (int k = SIGEO_PROXY_SIGEO; k <= SIGEO_PROXY_AZ_TRAINABILITY; k++) {
        for (int rep = 0; rep < 2; rep++) {
            sigeo_proxy_result_t r1, r2;
            const bool with_arch = rep == 1;
            sigeo_status_t s1 = run(&r1, m, (sigeo_proxy_kind_t)k, bs, 2, with_arch ? narrow : NULL, with_arch);
            const char *msg1 = s1 == SIGEO_OK ? "" : sigeo_last_error();
            /* SiGeo's exact Fisher-Rao refuses train-mode batch norm: that is its business. */
            ck_assert_msg(s1 == SIGEO_OK || k == SIGEO_PROXY_SIGEO || k == SIGEO_PROXY_FISHER_RAO, "%s: %s",
                          sigeo_proxy_kind_name((sigeo_proxy_kind_t)k), msg1);
            snapshot_t after;
            snap(&after, m);
            ck_assert_msg(same(&before, &after), "%s changed the model", sigeo_proxy_kind_name((sigeo_proxy_kind_t)k));
            unsnap(&after);
            if (s1 != SIGEO_OK)
                continue;
            /* Same call, same score, bit for bit. */
            OK(run(&r2, m, (sigeo_proxy_kind_t)k, bs, 2, with_arch ? narrow : NULL, with_arch));
            ck_assert_msg(memcmp(&r1.score, &r2.score, sizeof r1.score) == 0 || (isnan(r1.score) && isnan(r2.score)),
                          "%s: %.17g then %.17g", sigeo_proxy_kind_name((sigeo_proxy_kind_t)k), r1.score, r2.score);
            ck_assert_msg(isfinite(r1.score) || (r1.flags & SIGEO_PROXY_NONFINITE), "%s: unflagged %g",
                          sigeo_proxy_kind_name((sigeo_proxy_kind_t)k), r1.score);
        }
    }
    /* GraSP by finite differences moves the weights and puts them back. */
    sigeo_proxy_options_t fd = SIGEO_PROXY_OPTIONS_INIT;
    fd.kind = SIGEO_PROXY_GRASP;
    fd.hvp_mode = SIGEO_HVP_FINITE_DIFFERENCE;
    sigeo_proxy_result_t rf = SIGEO_PROXY_RESULT_INIT;
    OK(sigeo_proxy_compute(m, narrow, 1, bs, 2, &fd, &rf));
    snapshot_t after_fd;
    snap(&after_fd, m);
    ck_assert_msg(same(&before, &after_fd), "grasp (finite differences) changed the model");
    unsnap(&after_fd);
    /* Failing calls change nothing either. */
    sigeo_batch_t nolabels[2] = { batch(0, 2 * PIX, false), batch(1, 2 * PIX, false) };
    for (int k = SIGEO_PROXY_GRAD_NORM; k <= SIGEO_PROXY_AZ_TRAINABILITY; k++) {
        sigeo_proxy_result_t r;
        run(&r, m, (sigeo_proxy_kind_t)k, nolabels, 2, narrow, 1);
        snapshot_t after;
        snap(&after, m);
        ck_assert_msg(same(&before, &after), "%s (failing) changed the model",
                      sigeo_proxy_kind_name((sigeo_proxy_kind_t)k));
        unsnap(&after);
    }
    unsnap(&before);
    sigeo_model_destroy(m);
}
END_TEST

static void expect_fail(sigeo_status_t got, sigeo_status_t want, const char *needle)
{
    ck_assert_msg(got == want, "status %d, want %d (%s)", (int)got, (int)want, sigeo_last_error());
    ck_assert_msg(strstr(sigeo_last_error(), needle), "message '%s' lacks '%s'", sigeo_last_error(), needle);
}

START_TEST(bad_input_gets_a_clear_status_and_message)
{
    make_data();
    sigeo_model_t *m = mlp(C, false, SIGEO_LOSS_SOFTMAX_CE);
    sigeo_batch_t b = batch(0, D, false);
    sigeo_proxy_result_t r;
    /* No batches for kinds that read data. */
    const sigeo_proxy_kind_t data_kinds[] = { SIGEO_PROXY_GRAD_NORM, SIGEO_PROXY_SNIP, SIGEO_PROXY_GRASP,
                                              SIGEO_PROXY_FISHER, SIGEO_PROXY_JACOV, SIGEO_PROXY_EPE_NAS,
                                              SIGEO_PROXY_NWOT, SIGEO_PROXY_PLAIN, SIGEO_PROXY_ZEN, SIGEO_PROXY_MECO };
    for (size_t i = 0; i < sizeof data_kinds / sizeof data_kinds[0]; i++) {
        expect_fail(run(&r, m, data_kinds[i], NULL, 0, NULL, 0), SIGEO_ERR_INVALID_ARG, "no batches");
        expect_fail(run(&r, m, data_kinds[i], NULL, 0, NULL, 0), SIGEO_ERR_INVALID_ARG,
                    sigeo_proxy_kind_name(data_kinds[i]));
    }
    /* Missing labels where a loss or classes are needed. */
    const sigeo_proxy_kind_t label_kinds[] = { SIGEO_PROXY_GRAD_NORM, SIGEO_PROXY_SNIP, SIGEO_PROXY_GRASP,
                                               SIGEO_PROXY_FISHER, SIGEO_PROXY_PLAIN, SIGEO_PROXY_EPE_NAS };
    for (size_t i = 0; i < sizeof label_kinds / sizeof label_kinds[0]; i++)
        expect_fail(run(&r, m, label_kinds[i], &b, 1, NULL, 0), SIGEO_ERR_INVALID_ARG, "labels");
    /* Label-free kinds run without them. */
    OK(run(&r, m, SIGEO_PROXY_JACOV, &b, 1, NULL, 0));
    OK(run(&r, m, SIGEO_PROXY_NWOT, &b, 1, NULL, 0));
    OK(run(&r, m, SIGEO_PROXY_ZEN, &b, 1, NULL, 0));
    OK(run(&r, m, SIGEO_PROXY_MECO, &b, 1, NULL, 0));
    /* One sample has no correlation. */
    sigeo_batch_t one = b;
    one.batch_size = 1;
    expect_fail(run(&r, m, SIGEO_PROXY_JACOV, &one, 1, NULL, 0), SIGEO_ERR_INVALID_ARG, "at least 2");
    /* ZiCo's std needs k >= 2. */
    sigeo_batch_t lb = batch(0, D, true);
    expect_fail(run(&r, m, SIGEO_PROXY_ZICO, &lb, 1, NULL, 0), SIGEO_ERR_INVALID_ARG, "at least 2");
    /* GraSP's step. */
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.kind = SIGEO_PROXY_GRASP;
    o.hvp_mode = SIGEO_HVP_FINITE_DIFFERENCE;
    o.hvp_epsilon = 0.0;
    expect_fail(sigeo_proxy_compute(m, NULL, 0, &lb, 1, &o, &r), SIGEO_ERR_INVALID_ARG, "hvp_epsilon");
    o.hvp_mode = 2;
    expect_fail(sigeo_proxy_compute(m, NULL, 0, &lb, 1, &o, &r), SIGEO_ERR_INVALID_ARG, "hvp_mode 2");
    o.hvp_mode = SIGEO_HVP_EXACT;
    o.kind = SIGEO_PROXY_AZ_TRAINABILITY + 1;
    expect_fail(sigeo_proxy_compute(m, NULL, 0, &lb, 1, &o, &r), SIGEO_ERR_INVALID_ARG, "unknown proxy kind");
    sigeo_model_destroy(m);

    /* epe_nas on a regression model has no classes. */
    m = linear(1, SIGEO_LOSS_MSE);
    b.targets = targets;
    b.n_targets = 1;
    expect_fail(run(&r, m, SIGEO_PROXY_EPE_NAS, &b, 1, NULL, 0), SIGEO_ERR_UNSUPPORTED, "no classes");
    sigeo_model_destroy(m);

    /* A sparse-only model: no input to differentiate, no Gaussian input,
     * and synflow needs a batch for its ids. */
    OK(sigeo_model_create(&m, ctx, "sparse"));
    sigeo_input_desc_t s = SIGEO_INPUT_DESC_INIT;
    s.kind = SIGEO_INPUT_SPARSE;
    s.name = "c0";
    int32_t si;
    OK(sigeo_model_add_input(&si, m, &s));
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = SIGEO_LAYER_EMBEDDING_BAG;
    d.name = "emb";
    d.inputs = &si;
    d.n_inputs = 1;
    d.units = 4;
    d.rows = 10;
    int32_t e;
    OK(sigeo_model_add_layer(&e, m, &d));
    int32_t y = layer_on(m, SIGEO_LAYER_LINEAR, "head", &e, 1, 1, -1, 0);
    OK(sigeo_model_set_loss(m, y, SIGEO_LOSS_BCE_WITH_LOGITS));
    OK(sigeo_model_finalize(m));
    int64_t ids[B], offs[B + 1];
    float t1[B];
    for (int n = 0; n < B; n++) {
        ids[n] = n % 10;
        offs[n] = n;
        t1[n] = (float)(n % 2);
    }
    offs[B] = B;
    sigeo_batch_t sb = SIGEO_BATCH_INIT;
    sb.batch_size = B;
    sb.n_sparse_fields = 1;
    sb.sparse_ids = ids;
    sb.sparse_offsets = offs;
    sb.targets = t1;
    sb.n_targets = 1;
    expect_fail(run(&r, m, SIGEO_PROXY_JACOV, &sb, 1, NULL, 0), SIGEO_ERR_UNSUPPORTED, "dense input");
    expect_fail(run(&r, m, SIGEO_PROXY_ZEN, &sb, 1, NULL, 0), SIGEO_ERR_UNSUPPORTED, "dense input");
    expect_fail(run(&r, m, SIGEO_PROXY_SYNFLOW, NULL, 0, NULL, 0), SIGEO_ERR_INVALID_ARG, "sparse");
    OK(run(&r, m, SIGEO_PROXY_SYNFLOW, &sb, 1, NULL, 0));
    OK(run(&r, m, SIGEO_PROXY_SNIP, &sb, 1, NULL, 0));
    OK(run(&r, m, SIGEO_PROXY_NWOT, &sb, 1, NULL, 0)); /* no ReLU: -inf, flagged */
    ck_assert(r.flags & SIGEO_PROXY_SINGULAR);
    sigeo_model_destroy(m);

    for (int k = 0; k <= SIGEO_PROXY_AZ_TRAINABILITY; k++)
        ck_assert_ptr_nonnull(sigeo_proxy_kind_name((sigeo_proxy_kind_t)k));
    ck_assert_ptr_null(sigeo_proxy_kind_name((sigeo_proxy_kind_t)(SIGEO_PROXY_AZ_TRAINABILITY + 1)));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proxy_baselines");
    TCase *tc = tcase_create("baselines");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, grad_norm_snip_plain_match_a_double_backprop_of_the_active_subnet);
    tcase_add_test(tc, grasp_equals_the_exact_hessian_product_on_a_linear_mse_model);
    tcase_add_test(tc, grasp_is_close_to_the_exact_hessian_product_on_softmax_regression);
    tcase_add_test(tc, grasp_on_a_relu_mlp_matches_a_double_precision_hessian_product);
    tcase_add_test(tc, fisher_matches_a_double_backprop_channel_by_channel);
    tcase_add_test(tc, fisher_sums_conv_channels_over_positions_and_scales_by_c_kh_kw);
    tcase_add_test(tc, jacov_matches_the_correlation_spectrum_of_a_double_input_jacobian);
    tcase_add_test(tc, jacov_of_a_linear_model_is_nan_and_flagged);
    tcase_add_test(tc, epe_nas_groups_jacobian_rows_by_label_in_both_branches);
    tcase_add_test(tc, nwot_is_the_log_determinant_of_the_relu_code_kernel);
    tcase_add_test(tc, l2_norm_params_and_flops_count_the_active_subnet);
    tcase_add_test(tc, synflow_is_the_closed_form_of_the_all_ones_pass_and_ignores_the_data);
    tcase_add_test(tc, synflow_on_an_embedding_bag_uses_sample_0_and_restores_the_table);
    tcase_add_test(tc, zen_redoes_its_documented_draws_and_does_not_depend_on_the_weights);
    tcase_add_test(tc, zen_adds_the_batchnorm2d_running_variance_term);
    tcase_add_test(tc, zen_repeat_and_mixup_gamma);
    tcase_add_test(tc, meco_sums_the_smallest_channel_correlation_eigenvalues_of_sample_0);
    tcase_add_test(tc, meco_opt_correlates_eight_random_channels_scaled_by_c_over_8);
    tcase_add_test(tc, swap_counts_distinct_neuron_patterns_over_the_batch);
    tcase_add_test(tc, tenas_ntk_condition_number_and_linear_regions);
    tcase_add_test(tc, every_kind_leaves_weights_architecture_and_bn_statistics_bit_identical);
    tcase_add_test(tc, bad_input_gets_a_clear_status_and_message);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
