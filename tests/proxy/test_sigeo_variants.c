/* sigeo_proxy_compute's SiGeo family beyond the chosen options: Fisher-Rao
 * on one batch, both losses and the free FR estimators in one result.
 * Expectations come from the public model API, not the proxy: d_n =
 * theta . grad l_n by a forward+backward of each sample ALONE (its loss is
 * l_n, its gradient grad l_n), the losses by sigeo_model_forward on each
 * batch. */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sigeo/model.h"
#include "sigeo/proxy.h"
#include "test_util.h"

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

enum { NB = 6, D = 7, H = 9, C = 3, K = 3 };

static sigeo_context_t *ctx;
static float xs[K][NB * D];
static int32_t labels[K][NB];

static void setup(void)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.seed = 3;
    o.threads = 1;
    OK(sigeo_context_create(&ctx, &o));
    tu_rng_t r = { 17 };
    for (int k = 0; k < K; k++) {
        for (int i = 0; i < NB * D; i++)
            xs[k][i] = tu_uniform_f(&r);
        for (int n = 0; n < NB; n++)
            labels[k][n] = (int32_t)(tu_next(&r) % C);
    }
}
static void teardown(void)
{
    sigeo_context_destroy(ctx);
}

static int32_t layer(sigeo_model_t *m, sigeo_layer_kind_t kind, const char *name, int32_t in, int64_t units,
                     int32_t act)
{
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = kind;
    d.name = name;
    d.inputs = &in;
    d.n_inputs = 1;
    d.units = units;
    d.activation = act;
    int32_t out;
    OK(sigeo_model_add_layer(&out, m, &d));
    return out;
}

/* x -> fc0 -> [batch norm] -> relu -> fc1 (CE). */
static sigeo_model_t *mlp(bool bn)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "mlp"));
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "x";
    in.features = D;
    int32_t h;
    OK(sigeo_model_add_input(&h, m, &in));
    h = layer(m, SIGEO_LAYER_LINEAR, "fc0", h, H, 0);
    if (bn)
        h = layer(m, SIGEO_LAYER_BATCH_NORM, "bn", h, 0, 0);
    h = layer(m, SIGEO_LAYER_ACTIVATION, "relu", h, 0, SIGEO_ACT_RELU);
    h = layer(m, SIGEO_LAYER_LINEAR, "fc1", h, C, 0);
    OK(sigeo_model_set_loss(m, h, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    return m;
}

static sigeo_batch_t batch(int k, int64_t first, int64_t rows)
{
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = rows;
    b.dense = xs[k] + first * D;
    b.n_dense = D;
    b.labels = labels[k] + first;
    return b;
}

/* (1/N) sum_n (theta . grad l_n)^2 over batches 0..k-1, one sample at a time. */
static double fr_brute(sigeo_model_t *m, int k)
{
    int32_t np;
    OK(sigeo_model_param_count(&np, m));
    double sum = 0;
    for (int i = 0; i < k; i++)
        for (int64_t n = 0; n < NB; n++) {
            sigeo_batch_t one = batch(i, n, 1);
            OK(sigeo_model_forward_backward(NULL, m, &one));
            double dn = 0;
            for (int32_t p = 0; p < np; p++) {
                sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
                OK(sigeo_model_param_info(&info, m, p));
                float *w = malloc((size_t)info.numel * sizeof *w), *g = malloc((size_t)info.numel * sizeof *g);
                OK(sigeo_model_get_param(m, p, w, info.numel));
                OK(sigeo_model_get_grad(m, p, g, info.numel));
                for (int64_t j = 0; j < info.numel; j++)
                    dn += (double)w[j] * (double)g[j];
                free(w);
                free(g);
            }
            sum += dn * dn;
        }
    return sum / (k * NB);
}

static sigeo_status_t run(sigeo_proxy_result_t *r, sigeo_model_t *m, sigeo_proxy_options_t *o, int k)
{
    sigeo_batch_t bs[K];
    for (int i = 0; i < K; i++)
        bs[i] = batch(i, 0, NB);
    *r = (sigeo_proxy_result_t)SIGEO_PROXY_RESULT_INIT;
    return sigeo_proxy_compute(m, NULL, 0, bs, (uint32_t)k, o, r);
}

START_TEST(fisher_rao_on_one_batch)
{
    sigeo_model_t *m = mlp(false);
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.kind = SIGEO_PROXY_FISHER_RAO;
    sigeo_proxy_result_t r;
    OK(run(&r, m, &o, 1));
    const double want = fr_brute(m, 1);
    ck_assert_near(r.fr, want, 1e-4, 0);
    ck_assert_near(r.score, log(want), 1e-4, 0);
    ck_assert_uint_eq(r.k, 1);
    ck_assert(r.flags & SIGEO_STATS_NO_ZICO);
    /* SiGeo with lambda1 = 0 takes one batch too; with ZiCo it cannot. */
    o.kind = SIGEO_PROXY_SIGEO;
    o.lambda_preset = SIGEO_PRESET_CUSTOM;
    o.lambda1 = 0.0;
    o.lambda2 = 1.0;
    o.lambda3 = 1.0;
    OK(run(&r, m, &o, 1));
    ck_assert_near(r.score, log(want) - r.loss, 1e-4, 0);
    o.lambda1 = 1.0;
    ck_assert_int_eq(run(&r, m, &o, 1), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "at least 2");
    o.kind = SIGEO_PROXY_ZICO;
    ck_assert_int_eq(run(&r, m, &o, 1), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "at least 2");
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(one_call_carries_both_losses_and_the_free_estimators)
{
    sigeo_model_t *m = mlp(false);
    double losses[K];
    for (int i = 0; i < K; i++) {
        sigeo_batch_t b = batch(i, 0, NB);
        OK(sigeo_model_forward(&losses[i], m, &b));
    }
    const double fr = fr_brute(m, K);
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.lambda_preset = SIGEO_PRESET_RECSYS;
    sigeo_proxy_result_t r;
    OK(run(&r, m, &o, K));
    ck_assert_near(r.loss_mean, (losses[0] + losses[1] + losses[2]) / 3, 1e-6, 0);
    ck_assert_near(r.loss_last, losses[2], 1e-6, 0);
    ck_assert_near(r.loss, r.loss_mean, 1e-15, 0);
    /* No coupled samples: the identity is exact, both are the brute force. */
    ck_assert_near(r.fr_exact, fr, 1e-4, 0);
    ck_assert_near(r.fr_identity, fr, 1e-4, 0);
    ck_assert(isnan(r.fr_reference_recsys) && isnan(r.fr_reference_cv));
    /* Every preset and loss term from this one result equals its own call. */
    const sigeo_lambda_preset_t presets[3] = { SIGEO_PRESET_ZERO_SHOT, SIGEO_PRESET_RECSYS, SIGEO_PRESET_VISION };
    for (int p = 0; p < 3; p++)
        for (int lt = 0; lt < 2; lt++) {
            double l[3];
            OK(sigeo_stats_preset_lambdas(l, presets[p]));
            sigeo_proxy_options_t po = SIGEO_PROXY_OPTIONS_INIT;
            po.lambda_preset = presets[p];
            po.loss_term = lt;
            sigeo_proxy_result_t rp;
            OK(run(&rp, m, &po, K));
            const double assembled =
                l[0] * r.zico_module_wise + l[1] * r.log_fr_exact - l[2] * (lt ? r.loss_last : r.loss_mean);
            ck_assert_near(rp.score, assembled, 1e-12, 1e-12);
        }
    /* The reference estimators, when chosen, are there with the others. */
    o.fr_estimator = SIGEO_FR_REFERENCE_RECSYS;
    sigeo_proxy_result_t rr;
    OK(run(&rr, m, &o, K));
    ck_assert_near(rr.fr, rr.fr_reference_recsys, 1e-15, 0);
    ck_assert(isfinite(rr.fr_reference_cv));
    ck_assert_near(rr.fr_exact, fr, 1e-4, 0);
    /* The ZiCo variants are the values of their own calls. */
    const int32_t variants[3] = { SIGEO_ZICO_MODULE_WISE, SIGEO_ZICO_NEURON_WISE, SIGEO_ZICO_REFERENCE_RECSYS };
    const double got[3] = { r.zico_module_wise, r.zico_neuron_wise, r.zico_reference_recsys };
    for (int v = 0; v < 3; v++) {
        sigeo_proxy_options_t zo = SIGEO_PROXY_OPTIONS_INIT;
        zo.kind = SIGEO_PROXY_ZICO;
        zo.zico_variant = variants[v];
        sigeo_proxy_result_t rz;
        OK(run(&rz, m, &zo, K));
        ck_assert_near(rz.score, got[v], 1e-12, 1e-12);
    }
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(coupled_samples_give_identity_beside_exact)
{
    sigeo_model_t *m = mlp(true);
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.kind = SIGEO_PROXY_FISHER_RAO;
    sigeo_proxy_result_t ex, id;
    OK(run(&ex, m, &o, K));
    ck_assert_near(ex.fr, ex.fr_exact, 1e-15, 0);
    ck_assert(isfinite(ex.fr_identity));
    ck_assert_msg(fabs(ex.fr_identity - ex.fr_exact) > 1e-3 * ex.fr_exact,
                  "batch norm couples samples: identity %g should differ from exact %g", ex.fr_identity, ex.fr_exact);
    o.fr_estimator = SIGEO_FR_IDENTITY;
    OK(run(&id, m, &o, K));
    ck_assert_near(id.fr, ex.fr_identity, 1e-12, 0);
    /* No forward-mode pass ran: the exact value is not there. */
    ck_assert(isnan(id.fr_exact));
    sigeo_model_destroy(m);
}
END_TEST

/* NASLib-SiGeo's procedure by hand: fwd, bwd, record the CL-weight
 * gradients and the loss, SGD step lr 1 on every parameter; then ZiCo (ddof
 * 0) over the CL-weights, FR = 2 log(sum_m |theta_4,m . G_m| + 1e-5) with
 * theta_4 the weights after the 4th step, score = Z + 50 FR - loss_3. */
START_TEST(sgd_steps_reproduce_the_official_cv_procedure)
{
    sigeo_model_t *m = mlp(false);
    int32_t np;
    OK(sigeo_model_param_count(&np, m));
    float *before[8];
    int64_t numel[8];
    for (int32_t p = 0; p < np; p++) {
        sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
        OK(sigeo_model_param_info(&info, m, p));
        numel[p] = info.numel;
        before[p] = malloc((size_t)info.numel * sizeof(float));
        OK(sigeo_model_get_param(m, p, before[p], info.numel));
    }
    const char *cl[2] = { "fc0.weight", "fc1.weight" };
    int32_t clp[2];
    for (int l = 0; l < 2; l++)
        OK(sigeo_model_find_param(&clp[l], m, cl[l]));
    static double g[4][2][H * D > C * H ? H * D : C * H];
    double loss3 = 0;
    float *buf = malloc(64 * 64 * sizeof(float)), *gb = malloc(64 * 64 * sizeof(float));
    for (int i = 0; i < 4; i++) {
        sigeo_batch_t b = batch(i % K, 0, NB);
        OK(sigeo_model_forward_backward(&loss3, m, &b));
        for (int l = 0; l < 2; l++) {
            OK(sigeo_model_get_grad(m, clp[l], gb, numel[clp[l]]));
            for (int64_t j = 0; j < numel[clp[l]]; j++)
                g[i][l][j] = gb[j];
        }
        for (int32_t p = 0; p < np; p++) {
            OK(sigeo_model_get_param(m, p, buf, numel[p]));
            OK(sigeo_model_get_grad(m, p, gb, numel[p]));
            for (int64_t j = 0; j < numel[p]; j++)
                buf[j] = (float)((double)buf[j] - (double)gb[j]);
            OK(sigeo_model_set_param(m, p, buf, numel[p]));
        }
    }
    double Z = 0, fr_sum = 0;
    for (int l = 0; l < 2; l++) {
        OK(sigeo_model_get_param(m, clp[l], buf, numel[clp[l]]));
        double ratio = 0, dot = 0;
        for (int64_t j = 0; j < numel[clp[l]]; j++) {
            double mu = 0, mean = 0, var = 0, G = 0;
            for (int i = 0; i < 4; i++) {
                mu += fabs(g[i][l][j]) / 4;
                mean += g[i][l][j] / 4;
                G += g[i][l][j];
            }
            for (int i = 0; i < 4; i++)
                var += (g[i][l][j] - mean) * (g[i][l][j] - mean) / 4;
            if (var > 0)
                ratio += mu / sqrt(var);
            dot += (double)buf[j] * G;
        }
        Z += log(ratio);
        fr_sum += fabs(dot);
    }
    const double want = Z + 50 * 2 * log(fr_sum + 1e-5) - loss3;
    for (int32_t p = 0; p < np; p++)
        OK(sigeo_model_set_param(m, p, before[p], numel[p]));
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.procedure = SIGEO_PROCEDURE_SGD_STEPS;
    o.fr_estimator = SIGEO_FR_REFERENCE_CV;
    o.param_kinds = SIGEO_PROXY_PARAMS_WEIGHT;
    o.loss_term = SIGEO_LOSS_LAST;
    o.lambda_preset = SIGEO_PRESET_VISION;
    sigeo_batch_t bs[4] = { batch(0, 0, NB), batch(1, 0, NB), batch(2, 0, NB), batch(0, 0, NB) };
    sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
    OK(sigeo_proxy_compute(m, NULL, 0, bs, 4, &o, &r));
    ck_assert_near(r.score, want, 1e-4, 1e-6);
    ck_assert_near(r.loss, loss3, 1e-6, 0);
    /* The weights are back, bit for bit. */
    for (int32_t p = 0; p < np; p++) {
        OK(sigeo_model_get_param(m, p, buf, numel[p]));
        ck_assert_msg(memcmp(buf, before[p], (size_t)numel[p] * sizeof(float)) == 0, "parameter %d changed", (int)p);
        free(before[p]);
    }
    /* The fixed-weight default gives another score on the same batches. */
    o.procedure = SIGEO_PROCEDURE_FIXED;
    sigeo_proxy_result_t rf = SIGEO_PROXY_RESULT_INIT;
    OK(sigeo_proxy_compute(m, NULL, 0, bs, 4, &o, &rf));
    ck_assert(fabs(rf.score - r.score) > 1e-3);
    o.procedure = 2;
    ck_assert_int_eq(sigeo_proxy_compute(m, NULL, 0, bs, 4, &o, &rf), SIGEO_ERR_INVALID_ARG);
    o.procedure = SIGEO_PROCEDURE_SGD_STEPS;
    o.step_lr = 0;
    ck_assert_int_eq(sigeo_proxy_compute(m, NULL, 0, bs, 4, &o, &rf), SIGEO_ERR_INVALID_ARG);
    free(buf);
    free(gb);
    sigeo_model_destroy(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proxy_sigeo_variants");
    TCase *tc = tcase_create("variants");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, fisher_rao_on_one_batch);
    tcase_add_test(tc, one_call_carries_both_losses_and_the_free_estimators);
    tcase_add_test(tc, coupled_samples_give_identity_beside_exact);
    tcase_add_test(tc, sgd_steps_reproduce_the_official_cv_procedure);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
