/* The reference side shared by the exact-GraSP tests (test_grasp_exact*.c):
 * a context, the batch data, the loss gradient in double, the flat-weights
 * driver (GraSP from an exact double gradient function by a central
 * difference in double) and parameter access through the public API.
 * No expectations live here. */
#ifndef SIGEO_TEST_GRASP_REF_H
#define SIGEO_TEST_GRASP_REF_H

#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "sigeo/model.h"
#include "sigeo/proxy.h"
#include "test_util.h"

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

enum { NB = 8, MAXW = 24 };

static sigeo_context_t *ctx;
static inline void setup(void)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.seed = 5;
    o.threads = 1;
    OK(sigeo_context_create(&ctx, &o));
}
static inline void teardown(void)
{
    sigeo_context_destroy(ctx);
}

/* dL/dz of the mean loss for one row of logits z (width W). */
static inline void loss_grad(double *dz, const double *z, int W, int loss, int label, const float *t)
{
    if (loss == SIGEO_LOSS_SOFTMAX_CE) {
        double zmax = z[0], se = 0;
        for (int j = 1; j < W; j++)
            zmax = z[j] > zmax ? z[j] : zmax;
        for (int j = 0; j < W; j++)
            se += exp(z[j] - zmax);
        for (int j = 0; j < W; j++)
            dz[j] = (exp(z[j] - zmax) / se - (j == label)) / NB;
        return;
    }
    for (int j = 0; j < W; j++)
        dz[j] = (loss == SIGEO_LOSS_MSE ? 2.0 * (z[j] - t[j]) : 1.0 / (1.0 + exp(-z[j])) - t[j]) / (NB * W);
}

static float xs[NB * 64], targets[NB * MAXW];
static int32_t labels[NB];

static inline void make_data(int classes)
{
    tu_rng_t r = { 99 };
    for (int i = 0; i < NB * 64; i++)
        xs[i] = tu_uniform_f(&r);
    for (int i = 0; i < NB * MAXW; i++)
        targets[i] = 0.5f * (tu_uniform_f(&r) + 1.0f);
    for (int i = 0; i < NB; i++)
        labels[i] = (int32_t)(tu_next(&r) % (uint64_t)classes);
}

static inline int32_t layer(sigeo_model_t *m, sigeo_layer_kind_t kind, const char *name, int32_t in, int64_t units,
                     int32_t act, int32_t wc)
{
    return layer_on(m, kind, name, &in, 1, units, wc, act);
}

static inline void read_param(double *dst, sigeo_model_t *m, const char *name, int rows, int cols, int ld)
{
    int32_t p;
    OK(sigeo_model_find_param(&p, m, name));
    sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
    OK(sigeo_model_param_info(&info, m, p));
    float *f = malloc((size_t)info.numel * sizeof *f);
    OK(sigeo_model_get_param(m, p, f, info.numel));
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            dst[r * cols + c] = f[r * ld + c];
    free(f);
}

static inline double grasp(sigeo_model_t *m, const sigeo_batch_t *b, uint32_t mode)
{
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.kind = SIGEO_PROXY_GRASP;
    o.hvp_mode = mode;
    sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
    OK(sigeo_proxy_compute(m, NULL, 0, b, 1, &o, &r));
    return r.score;
}

/* ---------------------------------------- a flat-weights reference driver
 * For the nets below: grad(ctx, w, g) writes the exact double gradient g of
 * the batch loss in the CL-weights w (all of them, one flat vector); GraSP
 * = -w . (H g) with H g = (g(w + h g) - g(w - h g)) / 2h. */
typedef void (*flat_grad_fn)(const void *net, const double *w, double *g);

static inline double flat_grasp(flat_grad_fn grad, const void *net, const double *w0, int n)
{
    double *g0 = malloc((size_t)n * sizeof *g0), *w = malloc((size_t)n * sizeof *w);
    double *gp = malloc((size_t)n * sizeof *gp), *gm = malloc((size_t)n * sizeof *gm);
    grad(net, w0, g0);
    const double h = 1e-6;
    for (int k = 0; k < n; k++)
        w[k] = w0[k] + h * g0[k];
    grad(net, w, gp);
    for (int k = 0; k < n; k++)
        w[k] = w0[k] - h * g0[k];
    grad(net, w, gm);
    double s = 0.0;
    for (int k = 0; k < n; k++)
        s -= w0[k] * (gp[k] - gm[k]) / (2 * h);
    free(g0);
    free(w);
    free(gp);
    free(gm);
    return s;
}

static inline void set_vec(sigeo_model_t *m, const char *name, const double *v, int n)
{
    float f[256];
    ck_assert_int_le(n, 256);
    for (int k = 0; k < n && k < 256; k++)
        f[k] = (float)v[k];
    int32_t p;
    OK(sigeo_model_find_param(&p, m, name));
    OK(sigeo_model_set_param(m, p, f, n));
}

#endif
