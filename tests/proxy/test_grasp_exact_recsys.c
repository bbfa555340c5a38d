/* The exact Hessian-vector product (lib/nn/hvp.c) of the NASRec ops FM,
 * sigmoid gating and token linear, against references written here: a
 * double-precision forward and backward of the same small nets from the
 * parameters read through the public API, and H v as a central difference
 * in double of those EXACT double gradients (ReLU masks frozen at the
 * unperturbed forward: the function autograd's double backward
 * differentiates). Checked both as GraSP (public API, v = g on the
 * CL-weights) and, through the internal sigeo__tape_hvp, as the whole
 * product H v for a random direction on every parameter, biases included.
 * The engine computes in float32; the references are good to ~1e-9. */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "grasp_ref.h"
#include "nn/probe.h"
#include "sigeo/model.h"
#include "sigeo/proxy.h"
#include "test_util.h"

/* ------------------------------------------------ a flat parameter vector
 * The reference nets read every parameter in full (max-size tensors, the
 * engine's layouts) from one flat double vector, in the order of `names`;
 * entries outside the active slice are never read, so their gradient is 0. */
enum { MAXP = 16, MAXN = 512 };

typedef struct flat {
    int n;                 /* tensors */
    const char *names[MAXP];
    int32_t id[MAXP];      /* the model's parameter index */
    int off[MAXP + 1];     /* offsets into the flat vector */
    bool weight[MAXP];     /* a CL-weight (GraSP's v and sum) */
} flat_t;

static void flat_of(flat_t *f, sigeo_model_t *m, const char *const *names, int n)
{
    f->n = n;
    f->off[0] = 0;
    for (int k = 0; k < n; k++) {
        f->names[k] = names[k];
        OK(sigeo_model_find_param(&f->id[k], m, names[k]));
        sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
        OK(sigeo_model_param_info(&info, m, f->id[k]));
        f->off[k + 1] = f->off[k] + (int)info.numel;
        f->weight[k] = strstr(names[k], ".weight") != NULL;
    }
    ck_assert_int_le(f->off[n], MAXN);
}

static void flat_read(double *w, const flat_t *f, sigeo_model_t *m)
{
    for (int k = 0; k < f->n; k++)
        read_param(w + f->off[k], m, f->names[k], 1, f->off[k + 1] - f->off[k], f->off[k + 1] - f->off[k]);
}

/* out = (grad(w0 + h v) - grad(w0 - h v)) / 2h: H v of the reference. */
static void ref_hv(double *out, flat_grad_fn grad, const void *net, const double *w0, const double *v, int n)
{
    double w[MAXN] = { 0 }, gp[MAXN], gm[MAXN];
    const double h = 1e-6;
    for (int k = 0; k < n; k++)
        w[k] = w0[k] + h * v[k];
    grad(net, w, gp);
    for (int k = 0; k < n; k++)
        w[k] = w0[k] - h * v[k];
    grad(net, w, gm);
    for (int k = 0; k < n; k++)
        out[k] = (gp[k] - gm[k]) / (2 * h);
}

/* GraSP of the reference: -sum_weights w . (H g), g the gradient on the
 * CL-weights only (the biases fixed, as the engine's GraSP). The first
 * grad() call is at w0 (it records the ReLU masks). */
static double ref_grasp(flat_grad_fn grad, const void *net, const flat_t *f, const double *w0)
{
    const int n = f->off[f->n];
    double g[MAXN], hv[MAXN];
    grad(net, w0, g);
    for (int k = 0; k < f->n; k++)
        if (!f->weight[k])
            for (int i = f->off[k]; i < f->off[k + 1]; i++)
                g[i] = 0.0;
    ref_hv(hv, grad, net, w0, g, n);
    double s = 0.0;
    for (int k = 0; k < f->n; k++)
        if (f->weight[k])
            for (int i = f->off[k]; i < f->off[k + 1]; i++)
                s -= w0[i] * hv[i];
    return s;
}

/* H v by the engine for the direction v (flat, every parameter), compared
 * entry by entry with the reference's. */
static void check_full_hv(sigeo_model_t *m, const sigeo_batch_t *b, flat_grad_fn grad, const void *net,
                          const flat_t *f, const double *w0, const char *what)
{
    const int n = f->off[f->n];
    double v[MAXN], want[MAXN];
    tu_rng_t r = { 7 };
    for (int i = 0; i < n; i++)
        v[i] = tu_uniform_f(&r);
    double g0[MAXN];
    grad(net, w0, g0); /* at w0 first: the masks */
    ref_hv(want, grad, net, w0, v, n);
    const int32_t np = sigeo__probe_param_count(m);
    float **vp = calloc((size_t)np, sizeof *vp), **hp = calloc((size_t)np, sizeof *hp);
    float *store = calloc((size_t)(2 * n), sizeof *store);
    for (int k = 0; k < f->n; k++) {
        vp[f->id[k]] = store + f->off[k];
        hp[f->id[k]] = store + n + f->off[k];
    }
    for (int i = 0; i < n; i++)
        store[i] = (float)v[i];
    OK(sigeo__tape_hvp(m, b, (const float *const *)vp, hp));
    double scale = 0.0;
    for (int i = 0; i < n; i++)
        scale = fmax(scale, fabs(want[i]));
    ck_assert_msg(scale > 1e-3, "%s: the reference H v is ~0 (%g): no test", what, scale);
    for (int k = 0; k < f->n; k++)
        for (int i = f->off[k]; i < f->off[k + 1]; i++)
            ck_assert_msg(fabs(store[n + i] - want[i]) <= 1e-4 * scale,
                          "%s: (H v)[%s][%d] = %.9g, reference %.9g (max |Hv| %.3g)", what, f->names[k],
                          i - f->off[k], (double)store[n + i], want[i], scale);
    free(vp);
    free(hp);
    free(store);
}

static sigeo_batch_t labelled(int64_t features)
{
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = NB;
    b.dense = xs;
    b.n_dense = features;
    b.labels = labels;
    return b;
}

static int32_t reshape_to(sigeo_model_t *m, const char *name, int32_t in, int64_t t, int64_t e)
{
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_RESHAPE, name, &in);
    d.shape[0] = t;
    d.shape[1] = e;
    return add(m, &d);
}

/* ------------------------------------------------ FM
 * x[12] -> fc0 [12] -> tokens (3, 4) -> FM [4] -> fc1 [3] (CE). FM is
 * quadratic in its input: the loss is quartic in fc0. */
enum { FT = 3, FE = 4, FX = FT * FE, FC = 3 };
typedef struct fm_ref {
    const flat_t *f;
} fm_ref_t;

static void fm_net_grad(const void *net, const double *w, double *g)
{
    const flat_t *f = ((const fm_ref_t *)net)->f;
    const double *W0 = w + f->off[0], *b0 = w + f->off[1], *W1 = w + f->off[2], *b1 = w + f->off[3];
    double *gW0 = g + f->off[0], *gb0 = g + f->off[1], *gW1 = g + f->off[2], *gb1 = g + f->off[3];
    memset(g, 0, (size_t)f->off[f->n] * sizeof *g);
    for (int n = 0; n < NB; n++) {
        const float *x = xs + n * FX;
        double X[FX], s[FE], y[FE], z[FC], dz[FC], dy[FE], dX[FX];
        for (int i = 0; i < FX; i++) {
            X[i] = b0[i];
            for (int k = 0; k < FX; k++)
                X[i] += W0[i * FX + k] * x[k];
        }
        for (int e = 0; e < FE; e++) {
            double q = 0;
            s[e] = 0;
            for (int t = 0; t < FT; t++) {
                s[e] += X[t * FE + e];
                q += X[t * FE + e] * X[t * FE + e];
            }
            y[e] = s[e] * s[e] - q;
        }
        for (int c = 0; c < FC; c++) {
            z[c] = b1[c];
            for (int e = 0; e < FE; e++)
                z[c] += W1[c * FE + e] * y[e];
        }
        loss_grad(dz, z, FC, SIGEO_LOSS_SOFTMAX_CE, labels[n], NULL);
        for (int e = 0; e < FE; e++) {
            dy[e] = 0;
            for (int c = 0; c < FC; c++) {
                gW1[c * FE + e] += dz[c] * y[e];
                dy[e] += dz[c] * W1[c * FE + e];
            }
        }
        for (int c = 0; c < FC; c++)
            gb1[c] += dz[c];
        for (int t = 0; t < FT; t++)
            for (int e = 0; e < FE; e++)
                dX[t * FE + e] = 2.0 * dy[e] * (s[e] - X[t * FE + e]);
        for (int i = 0; i < FX; i++) {
            gb0[i] += dX[i];
            for (int k = 0; k < FX; k++)
                gW0[i * FX + k] += dX[i] * x[k];
        }
    }
}

START_TEST(fm_net)
{
    make_data(FC);
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "fm"));
    int32_t h = shaped_input(m, FX, NULL);
    h = layer(m, SIGEO_LAYER_LINEAR, "fc0", h, FX, 0, -1);
    h = reshape_to(m, "tokens", h, FT, FE);
    h = layer(m, SIGEO_LAYER_FM, "fm", h, 0, 0, -1);
    h = layer(m, SIGEO_LAYER_LINEAR, "fc1", h, FC, 0, -1);
    OK(sigeo_model_set_loss(m, h, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    static const char *const names[] = { "fc0.weight", "fc0.bias", "fc1.weight", "fc1.bias" };
    static flat_t f;
    flat_of(&f, m, names, 4);
    double w[MAXN];
    flat_read(w, &f, m);
    const fm_ref_t q = { &f };
    sigeo_batch_t b = labelled(FX);
    const double want = ref_grasp(fm_net_grad, &q, &f, w);
    const double got = grasp(m, &b, SIGEO_HVP_EXACT);
    ck_assert_msg(fabs(got - want) <= 1e-4 * fabs(want) + 1e-7, "fm: exact grasp %.10g, want %.10g", got, want);
    check_full_hv(m, &b, fm_net_grad, &q, &f, w, "fm");
    sigeo_model_destroy(m);
}
END_TEST

/* ------------------------------------------------ sigmoid gating
 * x[6] -> fcl [GL] (left), fcr [GR] (right) -> gating (V = max) -> fc [3]
 * (CE), in both width orders: left narrower (its padding is never
 * materialised: the gate reads GL columns) and right narrower (the gate's
 * outputs past GR are 0). */
enum { GX = 6, GC = 3 };
typedef struct gate_ref {
    const flat_t *f;
    int GL, GR, V, Vmax;
} gate_ref_t;

static void gate_net_grad(const void *net, const double *w, double *g)
{
    const gate_ref_t *q = net;
    const flat_t *f = q->f;
    const int GL = q->GL, GR = q->GR, V = q->V, VM = q->Vmax;
    const double *Wl = w + f->off[0], *bl = w + f->off[1], *Wr = w + f->off[2], *br = w + f->off[3];
    const double *Wg = w + f->off[4], *bg = w + f->off[5], *Wf = w + f->off[6], *bf = w + f->off[7];
    double *gWl = g + f->off[0], *gbl = g + f->off[1], *gWr = g + f->off[2], *gbr = g + f->off[3];
    double *gWg = g + f->off[4], *gbg = g + f->off[5], *gWf = g + f->off[6], *gbf = g + f->off[7];
    memset(g, 0, (size_t)f->off[f->n] * sizeof *g);
    for (int n = 0; n < NB; n++) {
        const float *x = xs + n * GX;
        double L[16], R[16], s[16], o[16], z[GC], dz[GC], dL[16] = { 0 }, dR[16];
        for (int i = 0; i < GL; i++) {
            L[i] = bl[i];
            for (int k = 0; k < GX; k++)
                L[i] += Wl[i * GX + k] * x[k];
        }
        for (int i = 0; i < GR; i++) {
            R[i] = br[i];
            for (int k = 0; k < GX; k++)
                R[i] += Wr[i * GX + k] * x[k];
        }
        for (int j = 0; j < V; j++) {
            double a = bg[j];
            for (int i = 0; i < GL; i++)
                a += Wg[j * VM + i] * L[i];
            s[j] = 1.0 / (1.0 + exp(-a));
            o[j] = j < GR ? s[j] * R[j] : 0.0;
        }
        for (int c = 0; c < GC; c++) {
            z[c] = bf[c];
            for (int j = 0; j < V; j++)
                z[c] += Wf[c * V + j] * o[j];
        }
        loss_grad(dz, z, GC, SIGEO_LOSS_SOFTMAX_CE, labels[n], NULL);
        for (int c = 0; c < GC; c++)
            gbf[c] += dz[c];
        for (int j = 0; j < V; j++) {
            double d_o = 0;
            for (int c = 0; c < GC; c++) {
                gWf[c * V + j] += dz[c] * o[j];
                d_o += dz[c] * Wf[c * V + j];
            }
            if (j >= GR)
                continue; /* o_j = 0 whatever the gate */
            dR[j] = d_o * s[j];
            const double da = d_o * R[j] * s[j] * (1 - s[j]);
            gbg[j] += da;
            for (int i = 0; i < GL; i++) {
                gWg[j * VM + i] += da * L[i];
                dL[i] += da * Wg[j * VM + i];
            }
        }
        for (int i = 0; i < GL; i++) {
            gbl[i] += dL[i];
            for (int k = 0; k < GX; k++)
                gWl[i * GX + k] += dL[i] * x[k];
        }
        for (int i = 0; i < GR; i++) {
            gbr[i] += dR[i];
            for (int k = 0; k < GX; k++)
                gWr[i * GX + k] += dR[i] * x[k];
        }
    }
}

static void check_gating(int GL, int GR)
{
    make_data(GC);
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "gating"));
    int32_t x = shaped_input(m, GX, NULL), lr[2];
    lr[0] = layer(m, SIGEO_LAYER_LINEAR, "fcl", x, GL, 0, -1);
    lr[1] = layer(m, SIGEO_LAYER_LINEAR, "fcr", x, GR, 0, -1);
    int32_t h = layer_on(m, SIGEO_LAYER_SIGMOID_GATING, "gate", lr, 2, 0, -1, 0);
    const int V = GL > GR ? GL : GR;
    h = layer(m, SIGEO_LAYER_LINEAR, "fc", h, GC, 0, -1);
    OK(sigeo_model_set_loss(m, h, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    /* a gate far from 0.5, so its sigmoid'' matters */
    double big[16 * 16];
    read_param(big, m, "gate.weight", V, V, V);
    for (int k = 0; k < V * V; k++)
        big[k] *= 4.0;
    set_vec(m, "gate.weight", big, V * V);
    static const char *const names[] = { "fcl.weight", "fcl.bias", "fcr.weight", "fcr.bias",
                                         "gate.weight", "gate.bias", "fc.weight", "fc.bias" };
    static flat_t f;
    flat_of(&f, m, names, 8);
    double w[MAXN];
    flat_read(w, &f, m);
    const gate_ref_t q = { &f, GL, GR, V, V };
    sigeo_batch_t b = labelled(GX);
    const double want = ref_grasp(gate_net_grad, &q, &f, w);
    const double got = grasp(m, &b, SIGEO_HVP_EXACT);
    ck_assert_msg(fabs(got - want) <= 1e-4 * fabs(want) + 1e-7, "gating %d/%d: exact grasp %.10g, want %.10g", GL,
                  GR, got, want);
    check_full_hv(m, &b, gate_net_grad, &q, &f, w, "gating");
    sigeo_model_destroy(m);
}

START_TEST(gating_left_narrower)
{
    check_gating(5, 7);
}
END_TEST

START_TEST(gating_right_narrower)
{
    check_gating(7, 4);
}
END_TEST

/* ------------------------------------------------ a NASRec-style block
 * Dense x[8]; E = 3.
 *   tok0 = tokens(fct(x) [12]) (4, 3)
 *   ra   = relu(token linear tla(tok0), 2 of its 3 output tokens: elastic)
 *   rb   = relu(token linear tlb(concat(ra, tok0)), 3 tokens, no bias) -- its
 *          input has two runs, the second at column 3 of the 7-token weight
 *   p    = fmp(FM(rb)) [5]
 *   d0   = relu(fcd(x)), 4 of its 6 units (elastic)
 *   gate = sigmoid gating(L = concat(d0, p) [9 of 11; two runs], R = fcr(x) [7])
 *          (V = 9, outputs 7, 8 zero)
 *   logit = head(concat(gate [9 of 11], flatten(rb) [9])) -> BCE
 * The linear-3d / dot-product / gating / deep-FM pieces of a NASRec block,
 * at sub-widths of their supernet weights. */
enum { NX = 8, NE = 3, NTOK = 4, NSRC = 7 };
typedef struct block_ref {
    const flat_t *f;
    bool *frozen;
    bool (*mask_a)[6], (*mask_b)[9], (*mask_d)[4];
} block_ref_t;

static double relu_at(bool *mask, bool frozen, double v)
{
    if (!frozen)
        *mask = v > 0;
    return *mask ? v : 0.0;
}

static void block_net_grad(const void *net, const double *w, double *g)
{
    const block_ref_t *q = net;
    const flat_t *f = q->f;
    const bool frozen = *q->frozen;
    const double *Wt = w + f->off[0], *bt = w + f->off[1], *Wa = w + f->off[2], *ba = w + f->off[3];
    const double *Wb = w + f->off[4], *Wp = w + f->off[5], *bp = w + f->off[6], *Wd = w + f->off[7];
    const double *bd = w + f->off[8], *Wr = w + f->off[9], *br = w + f->off[10], *Wg = w + f->off[11];
    const double *bg = w + f->off[12], *Wh = w + f->off[13], *bh = w + f->off[14];
    double *gWt = g + f->off[0], *gbt = g + f->off[1], *gWa = g + f->off[2], *gba = g + f->off[3];
    double *gWb = g + f->off[4], *gWp = g + f->off[5], *gbp = g + f->off[6], *gWd = g + f->off[7];
    double *gbd = g + f->off[8], *gWr = g + f->off[9], *gbr = g + f->off[10], *gWg = g + f->off[11];
    double *gbg = g + f->off[12], *gWh = g + f->off[13], *gbh = g + f->off[14];
    memset(g, 0, (size_t)f->off[f->n] * sizeof *g);
    /* column of the active input index i in the max-width weights */
    static const int scol[6] = { 0, 1, 3, 4, 5, 6 };               /* tlb: ra tokens 0-1, tok0 at 3.. */
    static const int lcol[9] = { 0, 1, 2, 3, 6, 7, 8, 9, 10 };    /* gate: d0 0-3, p at 6.. */
    static const int hcol[18] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14, 15, 16, 17, 18, 19 };
    for (int n = 0; n < NB; n++) {
        const float *x = xs + n * NX;
        double tok[NTOK][NE], ra[2][NE], S[6][NE], rb[3][NE], fm[NE], sum[NE], p[5], d0[4], L[9], R[7], s[9], G[9];
        double F[18];
        for (int i = 0; i < NTOK * NE; i++) {
            double a = bt[i];
            for (int k = 0; k < NX; k++)
                a += Wt[i * NX + k] * x[k];
            tok[i / NE][i % NE] = a;
        }
        for (int o = 0; o < 2; o++)
            for (int e = 0; e < NE; e++) {
                double a = ba[o];
                for (int t = 0; t < NTOK; t++)
                    a += Wa[o * NTOK + t] * tok[t][e];
                ra[o][e] = relu_at(&q->mask_a[n][o * NE + e], frozen, a);
            }
        for (int e = 0; e < NE; e++) {
            S[0][e] = ra[0][e];
            S[1][e] = ra[1][e];
            for (int t = 0; t < NTOK; t++)
                S[2 + t][e] = tok[t][e];
        }
        for (int o = 0; o < 3; o++)
            for (int e = 0; e < NE; e++) {
                double a = 0;
                for (int t = 0; t < 6; t++)
                    a += Wb[o * NSRC + scol[t]] * S[t][e];
                rb[o][e] = relu_at(&q->mask_b[n][o * NE + e], frozen, a);
            }
        for (int e = 0; e < NE; e++) {
            double sq = 0;
            sum[e] = 0;
            for (int o = 0; o < 3; o++) {
                sum[e] += rb[o][e];
                sq += rb[o][e] * rb[o][e];
            }
            fm[e] = sum[e] * sum[e] - sq;
        }
        for (int i = 0; i < 5; i++) {
            p[i] = bp[i];
            for (int e = 0; e < NE; e++)
                p[i] += Wp[i * NE + e] * fm[e];
        }
        for (int i = 0; i < 4; i++) {
            double a = bd[i];
            for (int k = 0; k < NX; k++)
                a += Wd[i * NX + k] * x[k];
            d0[i] = relu_at(&q->mask_d[n][i], frozen, a);
        }
        for (int i = 0; i < 9; i++)
            L[i] = i < 4 ? d0[i] : p[i - 4];
        for (int i = 0; i < 7; i++) {
            R[i] = br[i];
            for (int k = 0; k < NX; k++)
                R[i] += Wr[i * NX + k] * x[k];
        }
        for (int j = 0; j < 9; j++) {
            double a = bg[j];
            for (int i = 0; i < 9; i++)
                a += Wg[j * 11 + lcol[i]] * L[i];
            s[j] = 1.0 / (1.0 + exp(-a));
            G[j] = j < 7 ? s[j] * R[j] : 0.0;
        }
        for (int i = 0; i < 18; i++)
            F[i] = i < 9 ? G[i] : rb[(i - 9) / NE][(i - 9) % NE];
        double logit = bh[0];
        for (int i = 0; i < 18; i++)
            logit += Wh[hcol[i]] * F[i];
        double dl;
        loss_grad(&dl, &logit, 1, SIGEO_LOSS_BCE_WITH_LOGITS, 0, targets + n);
        /* backward */
        double dF[18], dL[9] = { 0 }, dR[7] = { 0 }, drb[3][NE], dfm[NE], dS[6][NE], dtok[NTOK][NE];
        gbh[0] += dl;
        for (int i = 0; i < 18; i++) {
            gWh[hcol[i]] += dl * F[i];
            dF[i] = dl * Wh[hcol[i]];
        }
        for (int j = 0; j < 7; j++) {
            dR[j] = dF[j] * s[j];
            const double da = dF[j] * R[j] * s[j] * (1 - s[j]);
            gbg[j] += da;
            for (int i = 0; i < 9; i++) {
                gWg[j * 11 + lcol[i]] += da * L[i];
                dL[i] += da * Wg[j * 11 + lcol[i]];
            }
        }
        for (int i = 0; i < 7; i++) {
            gbr[i] += dR[i];
            for (int k = 0; k < NX; k++)
                gWr[i * NX + k] += dR[i] * x[k];
        }
        for (int i = 0; i < 4; i++) {
            const double da = q->mask_d[n][i] ? dL[i] : 0.0;
            gbd[i] += da;
            for (int k = 0; k < NX; k++)
                gWd[i * NX + k] += da * x[k];
        }
        for (int e = 0; e < NE; e++)
            dfm[e] = 0;
        for (int i = 0; i < 5; i++) {
            const double dp = dL[4 + i];
            gbp[i] += dp;
            for (int e = 0; e < NE; e++) {
                gWp[i * NE + e] += dp * fm[e];
                dfm[e] += dp * Wp[i * NE + e];
            }
        }
        for (int o = 0; o < 3; o++)
            for (int e = 0; e < NE; e++) {
                const double d = dF[9 + o * NE + e] + 2.0 * dfm[e] * (sum[e] - rb[o][e]);
                drb[o][e] = q->mask_b[n][o * NE + e] ? d : 0.0;
            }
        for (int t = 0; t < 6; t++)
            for (int e = 0; e < NE; e++) {
                dS[t][e] = 0;
                for (int o = 0; o < 3; o++) {
                    dS[t][e] += Wb[o * NSRC + scol[t]] * drb[o][e];
                    gWb[o * NSRC + scol[t]] += drb[o][e] * S[t][e];
                }
            }
        for (int t = 0; t < NTOK; t++)
            for (int e = 0; e < NE; e++)
                dtok[t][e] = dS[2 + t][e];
        for (int o = 0; o < 2; o++)
            for (int e = 0; e < NE; e++) {
                const double da = q->mask_a[n][o * NE + e] ? dS[o][e] : 0.0;
                gba[o] += da;
                for (int t = 0; t < NTOK; t++) {
                    gWa[o * NTOK + t] += da * tok[t][e];
                    dtok[t][e] += Wa[o * NTOK + t] * da;
                }
            }
        for (int i = 0; i < NTOK * NE; i++) {
            const double d = dtok[i / NE][i % NE];
            gbt[i] += d;
            for (int k = 0; k < NX; k++)
                gWt[i * NX + k] += d * x[k];
        }
    }
    *q->frozen = true; /* the first call (at the unperturbed weights) set the masks */
}

START_TEST(nasrec_style_block)
{
    make_data(2);
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "block"));
    int32_t ta, wd;
    OK(sigeo_model_add_choice(&ta, m, "tla.tokens", 2, (const int64_t[]){ 2, 3 }));
    OK(sigeo_model_add_choice(&wd, m, "fcd.units", 2, (const int64_t[]){ 4, 6 }));
    int32_t x = shaped_input(m, NX, NULL);
    int32_t tok = reshape_to(m, "tok0", layer(m, SIGEO_LAYER_LINEAR, "fct", x, NTOK * NE, 0, -1), NTOK, NE);
    int32_t ra = layer(m, SIGEO_LAYER_TOKEN_LINEAR, "tla", tok, 3, 0, ta);
    ra = layer(m, SIGEO_LAYER_ACTIVATION, "ra", ra, 0, SIGEO_ACT_RELU, -1);
    const int32_t src[2] = { ra, tok };
    int32_t rb = layer_on(m, SIGEO_LAYER_CONCAT, "sparse_in", src, 2, 0, -1, 0);
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_TOKEN_LINEAR, "tlb", &rb);
    d.units = 3;
    d.flags = SIGEO_LAYER_NO_BIAS;
    rb = add(m, &d);
    rb = layer(m, SIGEO_LAYER_ACTIVATION, "rb", rb, 0, SIGEO_ACT_RELU, -1);
    int32_t p = layer(m, SIGEO_LAYER_FM, "fm", rb, 0, 0, -1);
    p = layer(m, SIGEO_LAYER_LINEAR, "fmp", p, 5, 0, -1);
    int32_t d0 = layer(m, SIGEO_LAYER_LINEAR, "fcd", x, 6, 0, wd);
    d0 = layer(m, SIGEO_LAYER_ACTIVATION, "d0", d0, 0, SIGEO_ACT_RELU, -1);
    const int32_t lp[2] = { d0, p };
    const int32_t lr[2] = { layer_on(m, SIGEO_LAYER_CONCAT, "dense_in", lp, 2, 0, -1, 0),
                            layer(m, SIGEO_LAYER_LINEAR, "fcr", x, 7, 0, -1) };
    int32_t gate = layer_on(m, SIGEO_LAYER_SIGMOID_GATING, "gate", lr, 2, 0, -1, 0);
    d = desc(SIGEO_LAYER_RESHAPE, "flatten", &rb);
    const int32_t feats[2] = { gate, add(m, &d) };
    int32_t h = layer_on(m, SIGEO_LAYER_CONCAT, "features", feats, 2, 0, -1, 0);
    h = layer(m, SIGEO_LAYER_LINEAR, "head", h, 1, 0, -1);
    OK(sigeo_model_set_loss(m, h, SIGEO_LOSS_BCE_WITH_LOGITS));
    OK(sigeo_model_finalize(m));
    OK(sigeo_model_activate(m, (const int32_t[]){ 0, 0 }, 2));
    static const char *const names[] = { "fct.weight", "fct.bias",  "tla.weight", "tla.bias",  "tlb.weight",
                                         "fmp.weight", "fmp.bias",  "fcd.weight", "fcd.bias",  "fcr.weight",
                                         "fcr.bias",   "gate.weight", "gate.bias", "head.weight", "head.bias" };
    static flat_t f;
    flat_of(&f, m, names, 15);
    ck_assert_int_eq(f.off[5] - f.off[4], 3 * NSRC); /* the layouts the reference assumes */
    ck_assert_int_eq(f.off[12] - f.off[11], 11 * 11);
    ck_assert_int_eq(f.off[14] - f.off[13], 20);
    /* a sharper gate, so its sigmoid'' matters */
    double gw[121];
    read_param(gw, m, "gate.weight", 11, 11, 11);
    for (int k = 0; k < 121; k++)
        gw[k] *= 3.0;
    set_vec(m, "gate.weight", gw, 121);
    double w[MAXN];
    flat_read(w, &f, m);
    static bool frozen, ma[NB][6], mb[NB][9], md[NB][4];
    const block_ref_t q = { &f, &frozen, ma, mb, md };
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = NB;
    b.dense = xs;
    b.n_dense = NX;
    b.targets = targets;
    b.n_targets = 1;
    frozen = false;
    const double want = ref_grasp(block_net_grad, &q, &f, w);
    int live = 0;
    for (int n = 0; n < NB; n++)
        for (int k = 0; k < 9; k++)
            live += mb[n][k];
    ck_assert_msg(live > 0 && live < NB * 9, "rb's ReLU is all %s: a degenerate draw", live ? "on" : "off");
    const double got = grasp(m, &b, SIGEO_HVP_EXACT);
    fprintf(stderr, "nasrec-style block: exact grasp %.10g, reference %.10g\n", got, want);
    ck_assert_msg(fabs(got - want) <= 1e-4 * fabs(want) + 1e-7, "block: exact grasp %.10g, want %.10g", got, want);
    frozen = false;
    check_full_hv(m, &b, block_net_grad, &q, &f, w, "block");
    sigeo_model_destroy(m);
}
END_TEST

/* The rule list is complete for GraSP (every op has one), so what is left
 * to refuse is a direction in a norm's gamma (no rule: GraSP never asks);
 * the message names the node and the handle stays usable. */
START_TEST(a_direction_without_a_rule_is_named)
{
    make_data(3);
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "ln"));
    int32_t h = shaped_input(m, 6, NULL);
    h = layer(m, SIGEO_LAYER_LINEAR, "fc0", h, 5, 0, -1);
    h = layer(m, SIGEO_LAYER_LAYER_NORM, "norm", h, 0, 0, -1);
    h = layer(m, SIGEO_LAYER_LINEAR, "fc1", h, 3, 0, -1);
    OK(sigeo_model_set_loss(m, h, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    int32_t gamma;
    OK(sigeo_model_find_param(&gamma, m, "norm.weight"));
    const int32_t np = sigeo__probe_param_count(m);
    const float **v = calloc((size_t)np, sizeof *v);
    float **hv = calloc((size_t)np, sizeof *hv);
    float dir[5] = { 1, 1, 1, 1, 1 }, out[5];
    v[gamma] = dir;
    hv[gamma] = out;
    sigeo_batch_t b = labelled(6);
    ck_assert_int_eq(sigeo__tape_hvp(m, &b, v, hv), SIGEO_ERR_UNSUPPORTED);
    ck_assert_str_contains(sigeo_model_last_error(m), "'norm' (layer norm)");
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.kind = SIGEO_PROXY_GRASP;
    sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
    OK(sigeo_proxy_compute(m, NULL, 0, &b, 1, &o, &r));
    ck_assert(isfinite(r.score));
    free(v);
    free(hv);
    sigeo_model_destroy(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proxy_grasp_exact_recsys");
    TCase *tc = tcase_create("grasp_exact_recsys");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, fm_net);
    tcase_add_test(tc, gating_left_narrower);
    tcase_add_test(tc, gating_right_narrower);
    tcase_add_test(tc, nasrec_style_block);
    tcase_add_test(tc, a_direction_without_a_rule_is_named);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
