/* The per-layer API (sigeo_proxy_layers, sigeo_proxy_saliency): snip's and
 * plain's saliencies against W . g read through the public model API after
 * a forward+backward of the same batch; every saliency kind's saliencies
 * summing to its raw score and per layer to the layer values; ZiCo's terms
 * summing to the score; MeCo's output terms per layer against the
 * correlation spectra of the node outputs; the two-call protocol and its
 * errors. */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigeo/model.h"
#include "sigeo/proxy.h"
#include "ref_linalg.h"
#include "test_util.h"

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

enum { NB = 8, D = 6, H = 10, C = 3 };

static sigeo_context_t *ctx;
static float xs[2][NB * D];
static int32_t labels[NB];

static void setup(void)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.seed = 21;
    o.threads = 1;
    OK(sigeo_context_create(&ctx, &o));
    tu_rng_t r = { 5 };
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < NB * D; i++)
            xs[k][i] = tu_uniform_f(&r);
    for (int n = 0; n < NB; n++)
        labels[n] = (int32_t)(tu_next(&r) % C);
}
static void teardown(void)
{
    sigeo_context_destroy(ctx);
}

/* x -> fc0 [H, elastic {4, H}] -> relu -> fc1 [C] (CE). */
static sigeo_model_t *mlp(void)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "mlp"));
    int32_t wc;
    OK(sigeo_model_add_choice(&wc, m, "w", 2, (const int64_t[]){ 4, H }));
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "x";
    in.features = D;
    int32_t h;
    OK(sigeo_model_add_input(&h, m, &in));
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.name = "fc0";
    d.inputs = &h;
    d.n_inputs = 1;
    d.units = H;
    d.width_choice = wc;
    OK(sigeo_model_add_layer(&h, m, &d));
    d = (sigeo_layer_desc_t)SIGEO_LAYER_DESC_INIT;
    d.kind = SIGEO_LAYER_ACTIVATION;
    d.activation = SIGEO_ACT_RELU;
    d.name = "relu";
    d.inputs = &h;
    d.n_inputs = 1;
    OK(sigeo_model_add_layer(&h, m, &d));
    d = (sigeo_layer_desc_t)SIGEO_LAYER_DESC_INIT;
    d.name = "fc1";
    d.inputs = &h;
    d.n_inputs = 1;
    d.units = C;
    OK(sigeo_model_add_layer(&h, m, &d));
    OK(sigeo_model_set_loss(m, h, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    return m;
}

static sigeo_batch_t batch(int k)
{
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = NB;
    b.dense = xs[k];
    b.n_dense = D;
    b.labels = labels;
    return b;
}

static sigeo_proxy_result_t compute(sigeo_model_t *m, sigeo_proxy_kind_t kind, const int32_t *arch)
{
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.kind = kind;
    o.keep_saliency = 1;
    sigeo_batch_t bs[2] = { batch(0), batch(1) };
    sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
    OK(sigeo_proxy_compute(m, arch, arch ? 1 : 0, bs, 2, &o, &r));
    return r;
}

static float *saliency(sigeo_model_t *m, const char *name, int64_t *numel)
{
    int32_t p;
    OK(sigeo_model_find_param(&p, m, name));
    OK(sigeo_proxy_saliency(NULL, numel, m, p));
    float *s = malloc((size_t)*numel * sizeof *s);
    OK(sigeo_proxy_saliency(s, numel, m, p));
    return s;
}

static sigeo_proxy_layer_t *layers(sigeo_model_t *m, int32_t *n)
{
    OK(sigeo_proxy_layers(NULL, n, m));
    sigeo_proxy_layer_t *l = malloc((size_t)(*n > 0 ? *n : 1) * sizeof *l);
    for (int32_t i = 0; i < *n; i++)
        l[i] = (sigeo_proxy_layer_t)SIGEO_PROXY_LAYER_INIT;
    OK(sigeo_proxy_layers(l, n, m));
    return l;
}

/* W . g of parameter `name` after a forward+backward of batch 0 (the
 * baselines read the first batch). */
static double *w_dot_g(sigeo_model_t *m, const char *name, int64_t *numel, const int32_t *arch)
{
    if (arch)
        OK(sigeo_model_activate(m, arch, 1));
    sigeo_batch_t b = batch(0);
    OK(sigeo_model_forward_backward(NULL, m, &b));
    int32_t p;
    OK(sigeo_model_find_param(&p, m, name));
    sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
    OK(sigeo_model_param_info(&info, m, p));
    float *w = malloc((size_t)info.numel * sizeof *w), *g = malloc((size_t)info.numel * sizeof *g);
    OK(sigeo_model_get_param(m, p, w, info.numel));
    OK(sigeo_model_get_grad(m, p, g, info.numel));
    double *out = malloc((size_t)info.numel * sizeof *out);
    for (int64_t i = 0; i < info.numel; i++)
        out[i] = (double)w[i] * (double)g[i];
    free(w);
    free(g);
    *numel = info.numel;
    if (arch)
        OK(sigeo_model_activate(m, (const int32_t[]){ 1 }, 1));
    return out;
}

START_TEST(snip_and_plain_saliencies_are_w_times_g)
{
    sigeo_model_t *m = mlp();
    const int32_t narrow[1] = { 0 };
    for (int kind = 0; kind < 2; kind++) {
        const bool snip = kind == 0;
        sigeo_proxy_result_t r = compute(m, snip ? SIGEO_PROXY_SNIP : SIGEO_PROXY_PLAIN, narrow);
        double total = 0;
        const char *names[2] = { "fc0.weight", "fc1.weight" };
        for (int t = 0; t < 2; t++) {
            int64_t n, nw;
            float *s = saliency(m, names[t], &n);
            double *wg = w_dot_g(m, names[t], &nw, narrow);
            ck_assert_int_eq(n, nw);
            for (int64_t i = 0; i < n; i++) {
                const double want = snip ? fabs(wg[i]) : wg[i];
                ck_assert_msg(fabs(s[i] - want) <= 1e-6 * fabs(want) + 1e-12, "%s[%lld]: %g, want %g", names[t],
                              (long long)i, (double)s[i], want);
                total += s[i];
            }
            /* fc0 runs at 4 of 10 rows: the inactive rows have no saliency;
             * fc1 reads only the first 4 of its 10 input columns. */
            for (int64_t i = 0; i < n; i++) {
                const bool active = t == 0 ? i < 4 * D : (i % H) < 4;
                if (!active)
                    ck_assert_float_eq(s[i], 0.0f);
            }
            free(s);
            free(wg);
        }
        ck_assert_near(total, r.raw_score, 1e-5, 1e-9);
    }
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(saliencies_sum_to_the_score_and_per_layer_to_the_layer_values)
{
    sigeo_model_t *m = mlp();
    const sigeo_proxy_kind_t kinds[] = { SIGEO_PROXY_SNIP, SIGEO_PROXY_GRASP, SIGEO_PROXY_SYNFLOW, SIGEO_PROXY_PLAIN,
                                         SIGEO_PROXY_FISHER };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        sigeo_proxy_result_t r = compute(m, kinds[k], NULL);
        int32_t n;
        sigeo_proxy_layer_t *l = layers(m, &n);
        ck_assert_int_eq(n, 2);
        double total = 0;
        for (int32_t i = 0; i < n; i++) {
            int64_t numel;
            char name[64];
            snprintf(name, sizeof name, "%s.weight", l[i].name);
            float *s = saliency(m, name, &numel);
            double sum = 0;
            for (int64_t j = 0; j < numel; j++)
                sum += s[j];
            ck_assert_msg(fabs(sum - l[i].value) <= 1e-5 * fabs(l[i].value) + 1e-9, "%s %s: saliencies %g, layer %g",
                          sigeo_proxy_kind_name(kinds[k]), l[i].name, sum, l[i].value);
            ck_assert(isnan(l[i].zico_term));
            total += l[i].value;
            free(s);
        }
        ck_assert_msg(fabs(total - r.raw_score) <= 1e-9 * fabs(r.raw_score) + 1e-12, "%s: layers %g, raw %g",
                      sigeo_proxy_kind_name(kinds[k]), total, r.raw_score);
        free(l);
    }
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(zico_layers_are_the_module_terms)
{
    sigeo_model_t *m = mlp();
    sigeo_proxy_result_t r = compute(m, SIGEO_PROXY_ZICO, NULL);
    int32_t n;
    sigeo_proxy_layer_t *l = layers(m, &n);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(l[0].name, "fc0");
    ck_assert_str_eq(l[1].name, "fc1");
    ck_assert_near(l[0].zico_term + l[1].zico_term, r.zico, 1e-12, 1e-12);
    ck_assert_near(l[0].value, l[0].zico_term, 1e-15, 0);
    free(l);
    /* A kind that is not a sum over layers has none; nor any saliency. */
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.kind = SIGEO_PROXY_NWOT;
    o.keep_saliency = 1;
    sigeo_batch_t b = batch(0);
    sigeo_proxy_result_t rn = SIGEO_PROXY_RESULT_INIT;
    OK(sigeo_proxy_compute(m, NULL, 0, &b, 1, &o, &rn));
    OK(sigeo_proxy_layers(NULL, &n, m));
    ck_assert_int_eq(n, 0);
    int64_t cnt = 0;
    ck_assert_int_eq(sigeo_proxy_saliency(NULL, &cnt, m, 0), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "nwot");
    sigeo_model_destroy(m);
}
END_TEST

/* lambda_min of the corrcoef of sample 0's [C, P] rows of `node`'s output. */
static double meco_term(sigeo_model_t *m, int32_t node, int ch, int p)
{
    float out[NB * 48];
    int64_t count = NB * ch * p;
    OK(sigeo_model_node_output(out, &count, m, node));
    double F[48], R[9], w[3];
    for (int k = 0; k < ch * p; k++)
        F[k] = out[k];
    ref_corrcoef(R, F, ch, p);
    ref_jacobi_eigvals(w, R, ch);
    return fmin(fmin(w[0], w[1]), w[2]);
}

/* x (2, 4, 4) -> conv [3] -> relu -> gap -> fc [C]: conv's and relu's
 * outputs are 3 x 16 (their terms go to the conv layer: relu has no
 * module), gap's and fc's are flat (term 0; gap's also to conv). */
START_TEST(meco_terms_go_to_the_layer_whose_output_they_read)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "conv"));
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "x";
    in.features = 32;
    in.shape[0] = 2;
    in.shape[1] = in.shape[2] = 4;
    int32_t h, conv = -1, relu = -1;
    OK(sigeo_model_add_input(&h, m, &in));
    const sigeo_layer_kind_t kinds[4] = { SIGEO_LAYER_CONV2D, SIGEO_LAYER_ACTIVATION, SIGEO_LAYER_GLOBAL_AVG_POOL,
                                          SIGEO_LAYER_LINEAR };
    const char *names[4] = { "conv", "relu", "gap", "fc" };
    for (int k = 0; k < 4; k++) {
        sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
        d.kind = kinds[k];
        d.name = names[k];
        d.inputs = &h;
        d.n_inputs = 1;
        d.units = k == 0 ? 3 : C;
        d.activation = SIGEO_ACT_RELU;
        d.kernel[0] = d.kernel[1] = 3;
        d.padding[0] = d.padding[1] = 1;
        OK(sigeo_model_add_layer(&h, m, &d));
        if (k == 0)
            conv = h;
        if (k == 1)
            relu = h;
    }
    OK(sigeo_model_set_loss(m, h, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    static float x[NB * 32];
    tu_rng_t r = { 9 };
    for (int i = 0; i < NB * 32; i++)
        x[i] = tu_uniform_f(&r);
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = NB;
    b.dense = x;
    b.n_dense = 32;
    b.labels = labels;
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.kind = SIGEO_PROXY_MECO;
    sigeo_proxy_result_t res = SIGEO_PROXY_RESULT_INIT;
    OK(sigeo_proxy_compute(m, NULL, 0, &b, 1, &o, &res));
    int32_t n;
    sigeo_proxy_layer_t *l = layers(m, &n);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(l[0].name, "conv");
    ck_assert_str_eq(l[1].name, "fc");
    OK(sigeo_model_forward(NULL, m, &b));
    const double want = meco_term(m, conv, 3, 16) + meco_term(m, relu, 3, 16);
    ck_assert_double_eq_tol(l[0].value, want, 1e-9 * (1.0 + fabs(want)));
    ck_assert_double_eq_tol(l[1].value, 0.0, 1e-300);
    ck_assert_double_eq_tol(l[0].value + l[1].value, res.score, 1e-12 * (1.0 + fabs(res.score)));
    ck_assert(isnan(l[0].zico_term));
    free(l);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(two_call_protocol_errors)
{
    sigeo_model_t *m = mlp();
    int32_t n = 0;
    int64_t cnt = 0;
    ck_assert_int_eq(sigeo_proxy_layers(NULL, &n, m), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "no successful");
    ck_assert_int_eq(sigeo_proxy_layers(NULL, NULL, m), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_proxy_layers(NULL, &n, NULL), SIGEO_ERR_INVALID_ARG);
    /* Saliency not kept. */
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.kind = SIGEO_PROXY_SNIP;
    sigeo_batch_t b = batch(0);
    sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
    OK(sigeo_proxy_compute(m, NULL, 0, &b, 1, &o, &r));
    ck_assert_int_eq(sigeo_proxy_saliency(NULL, &cnt, m, 0), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "keep_saliency");
    o.keep_saliency = 2;
    ck_assert_int_eq(sigeo_proxy_compute(m, NULL, 0, &b, 1, &o, &r), SIGEO_ERR_INVALID_ARG);
    o.keep_saliency = 1;
    OK(sigeo_proxy_compute(m, NULL, 0, &b, 1, &o, &r));
    /* A bias is not a CL-weight; a parameter out of range; a short buffer. */
    int32_t bias;
    OK(sigeo_model_find_param(&bias, m, "fc0.bias"));
    ck_assert_int_eq(sigeo_proxy_saliency(NULL, &cnt, m, bias), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "fc0.bias");
    ck_assert_int_eq(sigeo_proxy_saliency(NULL, &cnt, m, 99), SIGEO_ERR_INVALID_ARG);
    float small[3];
    cnt = 3;
    ck_assert_int_eq(sigeo_proxy_saliency(small, &cnt, m, 0), SIGEO_ERR_SHAPE);
    sigeo_proxy_layer_t one[1] = { SIGEO_PROXY_LAYER_INIT };
    n = 1;
    ck_assert_int_eq(sigeo_proxy_layers(one, &n, m), SIGEO_ERR_SHAPE);
    /* A failed call leaves no stale record behind it. */
    o.kind = SIGEO_PROXY_ZICO;
    ck_assert_int_eq(sigeo_proxy_compute(m, NULL, 0, &b, 1, &o, &r), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_proxy_layers(NULL, &n, m), SIGEO_ERR_INVALID_ARG);
    sigeo_model_destroy(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proxy_layers");
    TCase *tc = tcase_create("layers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, snip_and_plain_saliencies_are_w_times_g);
    tcase_add_test(tc, saliencies_sum_to_the_score_and_per_layer_to_the_layer_values);
    tcase_add_test(tc, zico_layers_are_the_module_terms);
    tcase_add_test(tc, meco_terms_go_to_the_layer_whose_output_they_read);
    tcase_add_test(tc, two_call_protocol_errors);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
