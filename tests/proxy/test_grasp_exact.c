/* GraSP with the exact Hessian-vector product (lib/nn/hvp.c) against an
 * independent reference written here: a double-precision forward and
 * backward of the same chain networks (dense layers with ReLU / sigmoid /
 * tanh / GELU, a conv2d + global-average-pool net), from the parameters
 * read through the public API, and H g as a central difference of those
 * EXACT double gradients with the ReLU masks frozen at the unperturbed
 * forward -- which is the smooth function autograd's double backward
 * differentiates (ReLU'' = 0). With a double step of 1e-6 of |W| the
 * reference is good to ~1e-9; the engine computes in float32.
 * The finite-difference mode of the library, in contrast, lets its step
 * move ReLU signs. */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "grasp_ref.h"
#include "sigeo/model.h"
#include "sigeo/proxy.h"
#include "test_util.h"

enum { MAXL = 4 };

/* ------------------------------------------------------------ the reference */

typedef struct net {
    int L;             /* linear layers */
    int dims[MAXL + 1];
    int act;           /* sigeo_activation_t between layers */
    int loss;          /* sigeo_loss_kind_t */
    double W[MAXL][MAXW * MAXW], b[MAXL][MAXW];
    double dW[MAXL][MAXW * MAXW];
    bool mask[MAXL][NB][MAXW]; /* frozen ReLU codes */
    bool frozen;
} net_t;

static double act_f(int a, double x, bool on)
{
    switch (a) {
    case SIGEO_ACT_RELU: return on ? x : 0.0;
    case SIGEO_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case SIGEO_ACT_TANH: return tanh(x);
    default: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    }
}
static double act_d(int a, double x, bool on)
{
    switch (a) {
    case SIGEO_ACT_RELU: return on ? 1.0 : 0.0;
    case SIGEO_ACT_SIGMOID: {
        double s = 1.0 / (1.0 + exp(-x));
        return s * (1.0 - s);
    }
    case SIGEO_ACT_TANH: return 1.0 - tanh(x) * tanh(x);
    default: return 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2.0 * 3.14159265358979323846);
    }
}

/* Exact weight gradients dW of the batch; masks recorded unless frozen. */
static void net_grad(net_t *n, const float *x, const int32_t *lab, const float *tgt)
{
    memset(n->dW, 0, sizeof n->dW);
    for (int r = 0; r < NB; r++) {
        double pre[MAXL + 1][MAXW], post[MAXL + 1][MAXW];
        for (int i = 0; i < n->dims[0]; i++)
            post[0][i] = x[r * n->dims[0] + i];
        for (int l = 0; l < n->L; l++) {
            for (int o = 0; o < n->dims[l + 1]; o++) {
                double s = n->b[l][o];
                for (int i = 0; i < n->dims[l]; i++)
                    s += n->W[l][o * n->dims[l] + i] * post[l][i];
                pre[l + 1][o] = s;
                if (l + 1 < n->L) {
                    if (!n->frozen)
                        n->mask[l][r][o] = s > 0;
                    post[l + 1][o] = act_f(n->act, s, n->mask[l][r][o]);
                } else {
                    post[l + 1][o] = s;
                }
            }
        }
        double d[MAXW], dprev[MAXW];
        const int W = n->dims[n->L];
        loss_grad(d, post[n->L], W, n->loss, lab ? lab[r] : 0, tgt ? tgt + r * W : NULL);
        for (int l = n->L - 1; l >= 0; l--) {
            for (int o = 0; o < n->dims[l + 1]; o++)
                for (int i = 0; i < n->dims[l]; i++)
                    n->dW[l][o * n->dims[l] + i] += d[o] * post[l][i];
            if (l == 0)
                break;
            for (int i = 0; i < n->dims[l]; i++) {
                double s = 0;
                for (int o = 0; o < n->dims[l + 1]; o++)
                    s += d[o] * n->W[l][o * n->dims[l] + i];
                dprev[i] = s * act_d(n->act, pre[l][i], n->mask[l - 1][r][i]);
            }
            memcpy(d, dprev, sizeof d);
        }
    }
}

/* -sum W . (H g) over the weights, H g by central differences of net_grad. */
static double net_grasp(net_t *n, const float *x, const int32_t *lab, const float *tgt)
{
    n->frozen = false;
    net_grad(n, x, lab, tgt);
    n->frozen = true;
    static double g[MAXL][MAXW * MAXW], W0[MAXL][MAXW * MAXW], gp[MAXL][MAXW * MAXW];
    memcpy(g, n->dW, sizeof g);
    memcpy(W0, n->W, sizeof W0);
    double wn = 0, gn = 0;
    for (int l = 0; l < n->L; l++)
        for (int k = 0; k < n->dims[l] * n->dims[l + 1]; k++) {
            wn += W0[l][k] * W0[l][k];
            gn += g[l][k] * g[l][k];
        }
    const double h = 1e-6 * sqrt(wn) / sqrt(gn);
    for (int sgn = 1; sgn >= -1; sgn -= 2) {
        for (int l = 0; l < n->L; l++)
            for (int k = 0; k < n->dims[l] * n->dims[l + 1]; k++)
                n->W[l][k] = W0[l][k] + sgn * h * g[l][k];
        net_grad(n, x, lab, tgt);
        if (sgn == 1)
            memcpy(gp, n->dW, sizeof gp);
    }
    memcpy(n->W, W0, sizeof W0);
    double s = 0;
    for (int l = 0; l < n->L; l++)
        for (int k = 0; k < n->dims[l] * n->dims[l + 1]; k++)
            s -= W0[l][k] * (gp[l][k] - n->dW[l][k]) / (2 * h);
    return s;
}

/* ------------------------------------------------------------ the engine side */

/* D -> (linear, act) x (L-1) -> linear [out] -> loss; layer 0 elastic when
 * narrow > 0 (choice {narrow, dims[1]}, activated at narrow). */
static sigeo_model_t *chain(net_t *n, int narrow)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "chain"));
    int32_t wc = -1;
    if (narrow > 0)
        OK(sigeo_model_add_choice(&wc, m, "w", 2, (const int64_t[]){ narrow, n->dims[1] }));
    int32_t h = shaped_input(m, n->dims[0], NULL);
    char name[32];
    for (int l = 0; l < n->L; l++) {
        snprintf(name, sizeof name, "fc%d", l);
        h = layer(m, SIGEO_LAYER_LINEAR, name, h, n->dims[l + 1], 0, l == 0 ? wc : -1);
        if (l + 1 < n->L) {
            snprintf(name, sizeof name, "act%d", l);
            h = layer(m, SIGEO_LAYER_ACTIVATION, name, h, 0, n->act, -1);
        }
    }
    OK(sigeo_model_set_loss(m, h, (sigeo_loss_kind_t)n->loss));
    OK(sigeo_model_finalize(m));
    const int full1 = n->dims[1];
    if (narrow > 0) {
        OK(sigeo_model_activate(m, (const int32_t[]){ 0 }, 1));
        n->dims[1] = narrow;
    }
    for (int l = 0; l < n->L; l++) {
        snprintf(name, sizeof name, "fc%d.weight", l);
        read_param(n->W[l], m, name, n->dims[l + 1], n->dims[l], l == 1 ? full1 : n->dims[l]);
        snprintf(name, sizeof name, "fc%d.bias", l);
        read_param(n->b[l], m, name, 1, n->dims[l + 1], n->dims[l + 1]);
    }
    return m;
}

static sigeo_batch_t batch_of(int64_t features, const net_t *n)
{
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = NB;
    b.dense = xs;
    b.n_dense = features;
    if (n && n->loss != SIGEO_LOSS_SOFTMAX_CE) {
        b.targets = targets;
        b.n_targets = n->dims[n->L];
    } else {
        b.labels = labels;
    }
    return b;
}

static void check_chain(int act, int loss, int L, const int *dims, int narrow, double rtol)
{
    static net_t n;
    memset(&n, 0, sizeof n);
    n.L = L;
    memcpy(n.dims, dims, (size_t)(L + 1) * sizeof *dims);
    n.act = act;
    n.loss = loss;
    make_data(dims[L]);
    sigeo_model_t *m = chain(&n, narrow);
    sigeo_batch_t b = batch_of(dims[0], &n);
    const double want = net_grasp(&n, xs, labels, targets);
    const double got = grasp(m, &b, SIGEO_HVP_EXACT);
    ck_assert_msg(fabs(got - want) <= rtol * fabs(want), "act %d loss %d: exact grasp %.10g, reference %.10g (rel %.2g)",
                  act, loss, got, want, fabs(got - want) / fabs(want));
    sigeo_model_destroy(m);
}

START_TEST(relu_mlp_cross_entropy)
{
    check_chain(SIGEO_ACT_RELU, SIGEO_LOSS_SOFTMAX_CE, 3, (const int[]){ 10, 16, 12, 3 }, 0, 1e-5);
}
END_TEST

START_TEST(tanh_mlp_bce)
{
    check_chain(SIGEO_ACT_TANH, SIGEO_LOSS_BCE_WITH_LOGITS, 3, (const int[]){ 10, 16, 12, 2 }, 0, 1e-5);
}
END_TEST

START_TEST(sigmoid_mlp_mse)
{
    check_chain(SIGEO_ACT_SIGMOID, SIGEO_LOSS_MSE, 3, (const int[]){ 10, 16, 12, 4 }, 0, 1e-5);
}
END_TEST

START_TEST(gelu_mlp_cross_entropy)
{
    check_chain(SIGEO_ACT_GELU, SIGEO_LOSS_SOFTMAX_CE, 4, (const int[]){ 10, 16, 12, 8, 5 }, 0, 1e-5);
}
END_TEST

START_TEST(relu_subnet_of_an_elastic_layer)
{
    /* fc0 runs at 6 of its 16 rows; fc1 reads the first 6 columns. */
    check_chain(SIGEO_ACT_RELU, SIGEO_LOSS_SOFTMAX_CE, 3, (const int[]){ 10, 16, 12, 3 }, 6, 1e-5);
}
END_TEST

/* The finite difference at its default step moves ReLU signs on a deep,
 * narrow ReLU net; the exact pass does not. The test only asserts the exact
 * one (the fd error depends on the draw); it prints both. */
START_TEST(finite_difference_is_only_an_option)
{
    static net_t n;
    memset(&n, 0, sizeof n);
    n.L = 4;
    memcpy(n.dims, (const int[]){ 10, 24, 24, 24, 3 }, 5 * sizeof(int));
    n.act = SIGEO_ACT_RELU;
    n.loss = SIGEO_LOSS_SOFTMAX_CE;
    make_data(3);
    sigeo_model_t *m = chain(&n, 0);
    sigeo_batch_t b = batch_of(10, &n);
    const double want = net_grasp(&n, xs, labels, targets);
    const double exact = grasp(m, &b, SIGEO_HVP_EXACT), fd = grasp(m, &b, SIGEO_HVP_FINITE_DIFFERENCE);
    fprintf(stderr, "relu 10-24-24-24-3: reference %.9g exact %.9g fd(1e-3) %.9g\n", want, exact, fd);
    ck_assert_near(exact, want, 1e-5, 0.0);
    sigeo_model_destroy(m);
}
END_TEST

/* x (2, 5, 5) -> conv [3, 3x3, pad 1] -> relu -> gap -> fc [C] (CE). */
enum { CI = 2, IMG = 5, CO = 3, NC = 4 };
typedef struct conv_ref {
    double K[CO * CI * 9], kb[CO], F[NC * CO], fb[NC];
    double dK[CO * CI * 9], dF[NC * CO];
    bool mask[NB][CO * IMG * IMG];
    bool frozen;
} conv_ref_t;

static void conv_grad(conv_ref_t *c, const float *x)
{
    memset(c->dK, 0, sizeof c->dK);
    memset(c->dF, 0, sizeof c->dF);
    const int P = IMG * IMG;
    for (int r = 0; r < NB; r++) {
        const float *xr = x + r * CI * P;
        double a[CO * IMG * IMG], gap[CO], z[NC], dz[NC];
        for (int o = 0; o < CO; o++)
            for (int i = 0; i < IMG; i++)
                for (int j = 0; j < IMG; j++) {
                    double s = c->kb[o];
                    for (int ci = 0; ci < CI; ci++)
                        for (int u = 0; u < 3; u++)
                            for (int v = 0; v < 3; v++) {
                                int ii = i + u - 1, jj = j + v - 1;
                                if (ii >= 0 && ii < IMG && jj >= 0 && jj < IMG)
                                    s += c->K[((o * CI + ci) * 3 + u) * 3 + v] * xr[ci * P + ii * IMG + jj];
                            }
                    const int k = o * P + i * IMG + j;

                    if (!c->frozen)
                        c->mask[r][k] = s > 0;
                    a[k] = c->mask[r][k] ? s : 0.0;
                }
        for (int o = 0; o < CO; o++) {
            gap[o] = 0;
            for (int k = 0; k < P; k++)
                gap[o] += a[o * P + k] / P;
        }
        for (int t = 0; t < NC; t++) {
            z[t] = c->fb[t];
            for (int o = 0; o < CO; o++)
                z[t] += c->F[t * CO + o] * gap[o];
        }
        loss_grad(dz, z, NC, SIGEO_LOSS_SOFTMAX_CE, labels[r], NULL);
        for (int t = 0; t < NC; t++)
            for (int o = 0; o < CO; o++)
                c->dF[t * CO + o] += dz[t] * gap[o];
        for (int o = 0; o < CO; o++) {
            double dg = 0;
            for (int t = 0; t < NC; t++)
                dg += dz[t] * c->F[t * CO + o];
            for (int i = 0; i < IMG; i++)
                for (int j = 0; j < IMG; j++) {
                    const int k = o * P + i * IMG + j;
                    const double dy = c->mask[r][k] ? dg / P : 0.0;
                    for (int ci = 0; ci < CI; ci++)
                        for (int u = 0; u < 3; u++)
                            for (int v = 0; v < 3; v++) {
                                int ii = i + u - 1, jj = j + v - 1;
                                if (ii >= 0 && ii < IMG && jj >= 0 && jj < IMG)
                                    c->dK[((o * CI + ci) * 3 + u) * 3 + v] += dy * xr[ci * P + ii * IMG + jj];
                            }
                }
        }
    }
}

START_TEST(conv_relu_gap_net)
{
    make_data(NC);
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "conv"));
    int32_t h = shaped_input(m, CI * IMG * IMG, (const int64_t[]){ CI, IMG, IMG });
    h = layer(m, SIGEO_LAYER_CONV2D, "conv", h, CO, 0, -1);
    h = layer(m, SIGEO_LAYER_ACTIVATION, "relu", h, 0, SIGEO_ACT_RELU, -1);
    h = layer(m, SIGEO_LAYER_GLOBAL_AVG_POOL, "gap", h, 0, 0, -1);
    h = layer(m, SIGEO_LAYER_LINEAR, "fc", h, NC, 0, -1);
    OK(sigeo_model_set_loss(m, h, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    static conv_ref_t c;
    memset(&c, 0, sizeof c);
    read_param(c.K, m, "conv.weight", 1, CO * CI * 9, CO * CI * 9);
    read_param(c.kb, m, "conv.bias", 1, CO, CO);
    read_param(c.F, m, "fc.weight", NC, CO, CO);
    read_param(c.fb, m, "fc.bias", 1, NC, NC);
    conv_grad(&c, xs);
    c.frozen = true;
    double K0[CO * CI * 9], F0[NC * CO], gK[CO * CI * 9], gF[NC * CO], pK[CO * CI * 9], pF[NC * CO];
    memcpy(K0, c.K, sizeof K0);
    memcpy(F0, c.F, sizeof F0);
    memcpy(gK, c.dK, sizeof gK);
    memcpy(gF, c.dF, sizeof gF);
    const double h_step = 1e-6;
    for (int sgn = 1; sgn >= -1; sgn -= 2) {
        for (int k = 0; k < CO * CI * 9; k++)
            c.K[k] = K0[k] + sgn * h_step * gK[k];
        for (int k = 0; k < NC * CO; k++)
            c.F[k] = F0[k] + sgn * h_step * gF[k];
        conv_grad(&c, xs);
        if (sgn == 1) {
            memcpy(pK, c.dK, sizeof pK);
            memcpy(pF, c.dF, sizeof pF);
        }
    }
    double want = 0;
    for (int k = 0; k < CO * CI * 9; k++)
        want -= K0[k] * (pK[k] - c.dK[k]) / (2 * h_step);
    for (int k = 0; k < NC * CO; k++)
        want -= F0[k] * (pF[k] - c.dF[k]) / (2 * h_step);
    sigeo_batch_t b = batch_of(CI * IMG * IMG, NULL);
    ck_assert_near(grasp(m, &b, SIGEO_HVP_EXACT), want, 1e-5, 0.0);
    sigeo_model_destroy(m);
}
END_TEST

/* x -> fc0 [H2] -> batch norm (train: the batch's statistics, gamma 1.5,
 * beta 0.2) -> relu -> fc1 [3] (CE); the reference differentiates through
 * the batch mean and variance, the ReLU mask frozen. */
enum { H2 = 7, BC = 3 };
typedef struct bn_ref {
    double W0[H2 * 10], b0[H2], W1[BC * H2], b1[BC], dW0[H2 * 10], dW1[BC * H2];
    bool mask[NB][H2], frozen;
} bn_ref_t;

static void bn_grad(bn_ref_t *q, const float *x)
{
    const double gamma = 1.5, beta = 0.2;
    double pre[NB][H2], xh[NB][H2], h[NB][H2], rstd[H2], dxh[NB][H2];
    for (int n = 0; n < NB; n++)
        for (int j = 0; j < H2; j++) {
            pre[n][j] = q->b0[j];
            for (int i = 0; i < 10; i++)
                pre[n][j] += q->W0[j * 10 + i] * x[n * 10 + i];
        }
    for (int j = 0; j < H2; j++) {
        double mu = 0, var = 0;
        for (int n = 0; n < NB; n++)
            mu += pre[n][j] / NB;
        for (int n = 0; n < NB; n++)
            var += (pre[n][j] - mu) * (pre[n][j] - mu) / NB;
        rstd[j] = 1.0 / sqrt(var + 1e-5);
        for (int n = 0; n < NB; n++) {
            xh[n][j] = (pre[n][j] - mu) * rstd[j];
            const double y = gamma * xh[n][j] + beta;
            if (!q->frozen)
                q->mask[n][j] = y > 0;
            h[n][j] = q->mask[n][j] ? y : 0.0;
        }
    }
    memset(q->dW0, 0, sizeof q->dW0);
    memset(q->dW1, 0, sizeof q->dW1);
    for (int n = 0; n < NB; n++) {
        double z[BC], dz[BC];
        for (int k = 0; k < BC; k++) {
            z[k] = q->b1[k];
            for (int j = 0; j < H2; j++)
                z[k] += q->W1[k * H2 + j] * h[n][j];
        }
        loss_grad(dz, z, BC, SIGEO_LOSS_SOFTMAX_CE, labels[n], NULL);
        for (int j = 0; j < H2; j++) {
            double dh = 0;
            for (int k = 0; k < BC; k++) {
                q->dW1[k * H2 + j] += dz[k] * h[n][j];
                dh += dz[k] * q->W1[k * H2 + j];
            }
            dxh[n][j] = q->mask[n][j] ? gamma * dh : 0.0;
        }
    }
    for (int j = 0; j < H2; j++) {
        double m1 = 0, m2 = 0;
        for (int n = 0; n < NB; n++) {
            m1 += dxh[n][j] / NB;
            m2 += dxh[n][j] * xh[n][j] / NB;
        }
        for (int n = 0; n < NB; n++) {
            const double dpre = rstd[j] * (dxh[n][j] - m1 - xh[n][j] * m2);
            for (int i = 0; i < 10; i++)
                q->dW0[j * 10 + i] += dpre * x[n * 10 + i];
        }
    }
}

START_TEST(train_mode_batch_norm)
{
    make_data(BC);
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "bn"));
    int32_t h = shaped_input(m, 10, NULL);
    h = layer(m, SIGEO_LAYER_LINEAR, "fc0", h, H2, 0, -1);
    h = layer(m, SIGEO_LAYER_BATCH_NORM, "bn", h, 0, 0, -1);
    h = layer(m, SIGEO_LAYER_ACTIVATION, "relu", h, 0, SIGEO_ACT_RELU, -1);
    h = layer(m, SIGEO_LAYER_LINEAR, "fc1", h, BC, 0, -1);
    OK(sigeo_model_set_loss(m, h, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    float gb[H2];
    int32_t p;
    for (int j = 0; j < H2; j++)
        gb[j] = 1.5f;
    OK(sigeo_model_find_param(&p, m, "bn.weight"));
    OK(sigeo_model_set_param(m, p, gb, H2));
    for (int j = 0; j < H2; j++)
        gb[j] = 0.2f;
    OK(sigeo_model_find_param(&p, m, "bn.bias"));
    OK(sigeo_model_set_param(m, p, gb, H2));
    static bn_ref_t q;
    memset(&q, 0, sizeof q);
    read_param(q.W0, m, "fc0.weight", H2, 10, 10);
    read_param(q.b0, m, "fc0.bias", 1, H2, H2);
    read_param(q.W1, m, "fc1.weight", BC, H2, H2);
    read_param(q.b1, m, "fc1.bias", 1, BC, BC);
    bn_grad(&q, xs);
    q.frozen = true;
    static double W0[H2 * 10], W1[BC * H2], g0[H2 * 10], g1[BC * H2], p0[H2 * 10], p1[BC * H2];
    memcpy(W0, q.W0, sizeof W0);
    memcpy(W1, q.W1, sizeof W1);
    memcpy(g0, q.dW0, sizeof g0);
    memcpy(g1, q.dW1, sizeof g1);
    const double step = 1e-6;
    for (int sgn = 1; sgn >= -1; sgn -= 2) {
        for (int k = 0; k < H2 * 10; k++)
            q.W0[k] = W0[k] + sgn * step * g0[k];
        for (int k = 0; k < BC * H2; k++)
            q.W1[k] = W1[k] + sgn * step * g1[k];
        bn_grad(&q, xs);
        if (sgn == 1) {
            memcpy(p0, q.dW0, sizeof p0);
            memcpy(p1, q.dW1, sizeof p1);
        }
    }
    double want = 0;
    for (int k = 0; k < H2 * 10; k++)
        want -= W0[k] * (p0[k] - q.dW0[k]) / (2 * step);
    for (int k = 0; k < BC * H2; k++)
        want -= W1[k] * (p1[k] - q.dW1[k]) / (2 * step);
    sigeo_batch_t b = batch_of(10, NULL);
    /* float32 against double: ~1e-7 here; dropping the tangent of 1/std
     * (the variance's dependence on the weights) is off by ~1e-4 */
    ck_assert_near(grasp(m, &b, SIGEO_HVP_EXACT), want, 1e-5, 0.0);
    sigeo_model_destroy(m);
}
END_TEST

/* x[10] -> fc0 [LH] -> layer norm (gamma, beta per feature) -> tanh -> fc1
 * [3] (CE). Weights: fc0 then fc1; biases and the norm's affine fixed. */
enum { LH = 8, LC = 3 };
typedef struct ln_ref {
    double b0[LH], gamma[LH], beta[LH], b1[LC];
} ln_ref_t;

static void ln_net_grad(const void *net, const double *w, double *g)
{
    const ln_ref_t *q = net;
    const double *W0 = w, *W1 = w + LH * 10;
    double *g0 = g, *g1 = g + LH * 10;
    memset(g, 0, (size_t)(LH * 10 + LC * LH) * sizeof *g);
    for (int n = 0; n < NB; n++) {
        const float *x = xs + n * 10;
        double pre[LH], xh[LH], a[LH], mu = 0, var = 0;
        for (int j = 0; j < LH; j++) {
            pre[j] = q->b0[j];
            for (int i = 0; i < 10; i++)
                pre[j] += W0[j * 10 + i] * x[i];
            mu += pre[j] / LH;
        }
        for (int j = 0; j < LH; j++)
            var += (pre[j] - mu) * (pre[j] - mu) / LH;
        const double rs = 1.0 / sqrt(var + 1e-5);
        for (int j = 0; j < LH; j++) {
            xh[j] = (pre[j] - mu) * rs;
            a[j] = tanh(q->gamma[j] * xh[j] + q->beta[j]);
        }
        double z[LC], dz[LC];
        for (int k = 0; k < LC; k++) {
            z[k] = q->b1[k];
            for (int j = 0; j < LH; j++)
                z[k] += W1[k * LH + j] * a[j];
        }
        loss_grad(dz, z, LC, SIGEO_LOSS_SOFTMAX_CE, labels[n], NULL);
        double dxh[LH], m1 = 0, m2 = 0;
        for (int j = 0; j < LH; j++) {
            double da = 0;
            for (int k = 0; k < LC; k++) {
                g1[k * LH + j] += dz[k] * a[j];
                da += dz[k] * W1[k * LH + j];
            }
            dxh[j] = da * (1 - a[j] * a[j]) * q->gamma[j];
            m1 += dxh[j] / LH;
            m2 += dxh[j] * xh[j] / LH;
        }
        for (int j = 0; j < LH; j++) {
            const double dpre = rs * (dxh[j] - m1 - xh[j] * m2);
            for (int i = 0; i < 10; i++)
                g0[j * 10 + i] += dpre * x[i];
        }
    }
}

START_TEST(layer_norm_tanh_net)
{
    make_data(LC);
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "ln"));
    int32_t h = shaped_input(m, 10, NULL);
    h = layer(m, SIGEO_LAYER_LINEAR, "fc0", h, LH, 0, -1);
    h = layer(m, SIGEO_LAYER_LAYER_NORM, "norm", h, 0, 0, -1);
    h = layer(m, SIGEO_LAYER_ACTIVATION, "tanh", h, 0, SIGEO_ACT_TANH, -1);
    h = layer(m, SIGEO_LAYER_LINEAR, "fc1", h, LC, 0, -1);
    OK(sigeo_model_set_loss(m, h, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    static ln_ref_t q;
    for (int j = 0; j < LH; j++) {
        q.gamma[j] = 0.6 + 0.15 * j;
        q.beta[j] = 0.3 - 0.07 * j;
    }
    set_vec(m, "norm.weight", q.gamma, LH);
    set_vec(m, "norm.bias", q.beta, LH);
    static double w[LH * 10 + LC * LH];
    read_param(w, m, "fc0.weight", LH, 10, 10);
    read_param(w + LH * 10, m, "fc1.weight", LC, LH, LH);
    read_param(q.b0, m, "fc0.bias", 1, LH, LH);
    read_param(q.b1, m, "fc1.bias", 1, LC, LC);
    const double want = flat_grasp(ln_net_grad, &q, w, LH * 10 + LC * LH);
    sigeo_batch_t b = batch_of(10, NULL);
    const double got = grasp(m, &b, SIGEO_HVP_EXACT);
    ck_assert_msg(fabs(got - want) <= 1e-4 * fabs(want) + 1e-7, "layer norm: %.10g, want %.10g", got, want);
    sigeo_model_destroy(m);
}
END_TEST

/* x[6] -> three linear towers [DE] -> dot interaction (3 pairs: z1.z0,
 * z2.z0, z2.z1, DLRM's order) -> fc [3] (CE). Weights: the towers, then fc. */
enum { DX = 6, DE = 4, DP = 3 };
typedef struct dot_ref {
    double tb[3][DE], fb[LC];
} dot_ref_t;

static void dot_net_grad(const void *net, const double *w, double *g)
{
    const dot_ref_t *q = net;
    const double *Wt = w + 3 * DE * DX;
    memset(g, 0, (size_t)(3 * DE * DX + LC * DP) * sizeof *g);
    static const int pi[DP] = { 1, 2, 2 }, pj[DP] = { 0, 0, 1 };
    for (int n = 0; n < NB; n++) {
        const float *x = xs + n * DX;
        double zt[3][DE], d[DP], z[LC], dz[LC], dd[DP], dzt[3][DE];
        for (int t = 0; t < 3; t++)
            for (int e = 0; e < DE; e++) {
                zt[t][e] = q->tb[t][e];
                for (int i = 0; i < DX; i++)
                    zt[t][e] += w[(t * DE + e) * DX + i] * x[i];
            }
        for (int p = 0; p < DP; p++) {
            d[p] = 0;
            for (int e = 0; e < DE; e++)
                d[p] += zt[pi[p]][e] * zt[pj[p]][e];
        }
        for (int k = 0; k < LC; k++) {
            z[k] = q->fb[k];
            for (int p = 0; p < DP; p++)
                z[k] += Wt[k * DP + p] * d[p];
        }
        loss_grad(dz, z, LC, SIGEO_LOSS_SOFTMAX_CE, labels[n], NULL);
        for (int p = 0; p < DP; p++) {
            dd[p] = 0;
            for (int k = 0; k < LC; k++) {
                g[3 * DE * DX + k * DP + p] += dz[k] * d[p];
                dd[p] += dz[k] * Wt[k * DP + p];
            }
        }
        memset(dzt, 0, sizeof dzt);
        for (int p = 0; p < DP; p++)
            for (int e = 0; e < DE; e++) {
                dzt[pi[p]][e] += dd[p] * zt[pj[p]][e];
                dzt[pj[p]][e] += dd[p] * zt[pi[p]][e];
            }
        for (int t = 0; t < 3; t++)
            for (int e = 0; e < DE; e++)
                for (int i = 0; i < DX; i++)
                    g[(t * DE + e) * DX + i] += dzt[t][e] * x[i];
    }
}

START_TEST(dot_interaction_net)
{
    make_data(LC);
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "dot"));
    int32_t x = shaped_input(m, DX, NULL), t[3];
    const char *names[3] = { "t0", "t1", "t2" };
    for (int k = 0; k < 3; k++)
        t[k] = layer(m, SIGEO_LAYER_LINEAR, names[k], x, DE, 0, -1);
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = SIGEO_LAYER_DOT_INTERACTION;
    d.name = "interaction";
    d.inputs = t;
    d.n_inputs = 3;
    int32_t h;
    OK(sigeo_model_add_layer(&h, m, &d));
    h = layer(m, SIGEO_LAYER_LINEAR, "fc", h, LC, 0, -1);
    OK(sigeo_model_set_loss(m, h, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    static dot_ref_t q;
    static double w[3 * DE * DX + LC * DP];
    char pn[32];
    for (int k = 0; k < 3; k++) {
        snprintf(pn, sizeof pn, "%s.weight", names[k]);
        read_param(w + k * DE * DX, m, pn, DE, DX, DX);
        snprintf(pn, sizeof pn, "%s.bias", names[k]);
        read_param(q.tb[k], m, pn, 1, DE, DE);
    }
    read_param(w + 3 * DE * DX, m, "fc.weight", LC, DP, DP);
    read_param(q.fb, m, "fc.bias", 1, LC, LC);
    const double want = flat_grasp(dot_net_grad, &q, w, 3 * DE * DX + LC * DP);
    sigeo_batch_t b = batch_of(DX, NULL);
    const double got = grasp(m, &b, SIGEO_HVP_EXACT);
    ck_assert_msg(fabs(got - want) <= 1e-4 * fabs(want) + 1e-7, "dot interaction: %.10g, want %.10g", got, want);
    sigeo_model_destroy(m);
}
END_TEST

/* x[12] -> fc0 [12] -> tokens (3, 4) -> attention (2 heads of 2) -> fc1 [3]
 * (CE). Weights: fc0, in_proj_weight, out_proj.weight, fc1; the biases
 * fixed. The reference differentiates through the softmax in double. */
enum { AT = 3, AE = 4, AH = 2, AD = 2, AF = AT * AE, AW0 = AF * AF, AWI = 3 * AE * AE, AWO = AE * AE, AW1 = LC * AF };
typedef struct attn_ref {
    double b0[AF], bi[3 * AE], bo[AE], b1[LC];
} attn_ref_t;

static void attn_net_grad(const void *net, const double *w, double *g)
{
    const attn_ref_t *q = net;
    const double *W0 = w, *Wi = W0 + AW0, *Wo = Wi + AWI, *W1 = Wo + AWO;
    double *g0 = g, *gi = g0 + AW0, *go = gi + AWI, *g1 = go + AWO;
    memset(g, 0, (size_t)(AW0 + AWI + AWO + AW1) * sizeof *g);
    const double c = 1.0 / sqrt((double)AD);
    for (int n = 0; n < NB; n++) {
        const float *x = xs + n * AF;
        double X[AT][AE], P[AT][3 * AE], A[AH][AT][AT], O[AT][AE], Y[AF], z[LC], dz[LC];
        for (int r = 0; r < AF; r++) {
            X[r / AE][r % AE] = q->b0[r];
            for (int i = 0; i < AF; i++)
                X[r / AE][r % AE] += W0[r * AF + i] * x[i];
        }
        for (int t = 0; t < AT; t++)
            for (int j = 0; j < 3 * AE; j++) {
                P[t][j] = q->bi[j];
                for (int e = 0; e < AE; e++)
                    P[t][j] += Wi[j * AE + e] * X[t][e];
            }
        for (int h = 0; h < AH; h++)
            for (int t = 0; t < AT; t++) {
                double mx = -INFINITY, se = 0, sc[AT];
                for (int u = 0; u < AT; u++) {
                    sc[u] = 0;
                    for (int i = 0; i < AD; i++)
                        sc[u] += c * P[t][h * AD + i] * P[u][AE + h * AD + i];
                    mx = fmax(mx, sc[u]);
                }
                for (int u = 0; u < AT; u++)
                    se += exp(sc[u] - mx);
                for (int u = 0; u < AT; u++)
                    A[h][t][u] = exp(sc[u] - mx) / se;
                for (int i = 0; i < AD; i++) {
                    O[t][h * AD + i] = 0;
                    for (int u = 0; u < AT; u++)
                        O[t][h * AD + i] += A[h][t][u] * P[u][2 * AE + h * AD + i];
                }
            }
        for (int t = 0; t < AT; t++)
            for (int o = 0; o < AE; o++) {
                Y[t * AE + o] = q->bo[o];
                for (int e = 0; e < AE; e++)
                    Y[t * AE + o] += Wo[o * AE + e] * O[t][e];
            }
        for (int k = 0; k < LC; k++) {
            z[k] = q->b1[k];
            for (int j = 0; j < AF; j++)
                z[k] += W1[k * AF + j] * Y[j];
        }
        loss_grad(dz, z, LC, SIGEO_LOSS_SOFTMAX_CE, labels[n], NULL);
        double dY[AF], dO[AT][AE], dP[AT][3 * AE], dX[AF];
        for (int j = 0; j < AF; j++) {
            dY[j] = 0;
            for (int k = 0; k < LC; k++) {
                g1[k * AF + j] += dz[k] * Y[j];
                dY[j] += dz[k] * W1[k * AF + j];
            }
        }
        for (int t = 0; t < AT; t++)
            for (int e = 0; e < AE; e++) {
                dO[t][e] = 0;
                for (int o = 0; o < AE; o++) {
                    dO[t][e] += dY[t * AE + o] * Wo[o * AE + e];
                    if (e == 0)
                        for (int e2 = 0; e2 < AE; e2++)
                            go[o * AE + e2] += dY[t * AE + o] * O[t][e2];
                }
            }
        memset(dP, 0, sizeof dP);
        for (int h = 0; h < AH; h++) {
            double dA[AT][AT], dS[AT][AT];
            for (int t = 0; t < AT; t++) {
                double r = 0;
                for (int u = 0; u < AT; u++) {
                    dA[t][u] = 0;
                    for (int i = 0; i < AD; i++)
                        dA[t][u] += dO[t][h * AD + i] * P[u][2 * AE + h * AD + i];
                    r += dA[t][u] * A[h][t][u];
                }
                for (int u = 0; u < AT; u++)
                    dS[t][u] = A[h][t][u] * (dA[t][u] - r);
            }
            for (int t = 0; t < AT; t++)
                for (int i = 0; i < AD; i++)
                    for (int u = 0; u < AT; u++) {
                        dP[t][h * AD + i] += c * dS[t][u] * P[u][AE + h * AD + i];
                        dP[u][AE + h * AD + i] += c * dS[t][u] * P[t][h * AD + i];
                        dP[u][2 * AE + h * AD + i] += A[h][t][u] * dO[t][h * AD + i];
                    }
        }
        for (int t = 0; t < AT; t++)
            for (int e = 0; e < AE; e++) {
                dX[t * AE + e] = 0;
                for (int j = 0; j < 3 * AE; j++) {
                    dX[t * AE + e] += dP[t][j] * Wi[j * AE + e];
                    gi[j * AE + e] += dP[t][j] * X[t][e];
                }
            }
        for (int r = 0; r < AF; r++)
            for (int i = 0; i < AF; i++)
                g0[r * AF + i] += dX[r] * x[i];
    }
}

START_TEST(attention_net)
{
    make_data(LC);
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "attn"));
    int32_t h = shaped_input(m, AF, NULL);
    h = layer(m, SIGEO_LAYER_LINEAR, "fc0", h, AF, 0, -1);
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = SIGEO_LAYER_RESHAPE;
    d.name = "tokens";
    d.inputs = &h;
    d.n_inputs = 1;
    d.shape[0] = AT;
    d.shape[1] = AE;
    OK(sigeo_model_add_layer(&h, m, &d));
    d = (sigeo_layer_desc_t)SIGEO_LAYER_DESC_INIT;
    d.kind = SIGEO_LAYER_ATTENTION;
    d.name = "attn";
    d.inputs = &h;
    d.n_inputs = 1;
    d.heads = AH;
    OK(sigeo_model_add_layer(&h, m, &d));
    h = layer(m, SIGEO_LAYER_LINEAR, "fc1", h, LC, 0, -1);
    OK(sigeo_model_set_loss(m, h, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    static attn_ref_t q;
    static double w[AW0 + AWI + AWO + AW1];
    /* larger projections than the default init, so the softmax is far from uniform */
    double big[AWI];
    read_param(big, m, "attn.in_proj_weight", 3 * AE, AE, AE);
    for (int k = 0; k < AWI; k++)
        big[k] *= 3.0;
    set_vec(m, "attn.in_proj_weight", big, AWI);
    read_param(w, m, "fc0.weight", AF, AF, AF);
    read_param(w + AW0, m, "attn.in_proj_weight", 3 * AE, AE, AE);
    read_param(w + AW0 + AWI, m, "attn.out_proj.weight", AE, AE, AE);
    read_param(w + AW0 + AWI + AWO, m, "fc1.weight", LC, AF, AF);
    read_param(q.b0, m, "fc0.bias", 1, AF, AF);
    read_param(q.bi, m, "attn.in_proj_bias", 1, 3 * AE, 3 * AE);
    read_param(q.bo, m, "attn.out_proj.bias", 1, AE, AE);
    read_param(q.b1, m, "fc1.bias", 1, LC, LC);
    const double want = flat_grasp(attn_net_grad, &q, w, AW0 + AWI + AWO + AW1);
    sigeo_batch_t b = batch_of(AF, NULL);
    const double got = grasp(m, &b, SIGEO_HVP_EXACT);
    ck_assert_msg(fabs(got - want) <= 1e-4 * fabs(want) + 1e-7, "attention: %.10g, want %.10g", got, want);
    sigeo_model_destroy(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proxy_grasp_exact");
    TCase *tc = tcase_create("grasp_exact");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, relu_mlp_cross_entropy);
    tcase_add_test(tc, tanh_mlp_bce);
    tcase_add_test(tc, sigmoid_mlp_mse);
    tcase_add_test(tc, gelu_mlp_cross_entropy);
    tcase_add_test(tc, relu_subnet_of_an_elastic_layer);
    tcase_add_test(tc, finite_difference_is_only_an_option);
    tcase_add_test(tc, conv_relu_gap_net);
    tcase_add_test(tc, layer_norm_tanh_net);
    tcase_add_test(tc, dot_interaction_net);
    tcase_add_test(tc, attention_net);
    tcase_add_test(tc, train_mode_batch_norm);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
