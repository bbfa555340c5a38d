/* sigeo_proxy_compute on models against brute force computed in the test:
 * per-sample directional derivatives d_n = theta . grad l_n by running each
 * sample ALONE through forward+backward and dotting every parameter with
 * its gradient; ZiCo by a two-pass double-precision mean/std over the k
 * batch gradients read through the public API. Nothing here calls the
 * statistics code to make an expectation. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "sigeo/model.h"
#include "sigeo/proxy.h"
#include "sigeo/stats.h"

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

static sigeo_context_t *ctx;
static void setup(void)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.seed = 5;
    OK(sigeo_context_create(&ctx, &o));
}
static void teardown(void)
{
    sigeo_context_destroy(ctx);
}

static int32_t layer(sigeo_model_t *m, sigeo_layer_kind_t kind, const char *name, const int32_t *in, uint32_t n,
                     int64_t units, int32_t wc)
{
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = kind;
    d.name = name;
    d.inputs = in;
    d.n_inputs = n;
    d.units = units;
    d.width_choice = wc;
    d.activation = SIGEO_ACT_RELU;
    d.rows = 12;
    int32_t out;
    OK(sigeo_model_add_layer(&out, m, &d));
    return out;
}

enum { K = 4, B = 6, D = 7, F = 2, C = 3 };
static float dense[K][B * D];
static int32_t labels[K][B];
static float targets[K][B];
static int64_t ids[K][B * F * 2], offsets[K][B * F + 1];
static sigeo_batch_t batches[K];

static void make_batches(void)
{
    for (int k = 0; k < K; k++) {
        gc_fill(dense[k], B * D, 1.0);
        int64_t pos = 0;
        offsets[k][0] = 0;
        for (int r = 0; r < B; r++) {
            labels[k][r] = (int32_t)((r + k) % C);
            targets[k][r] = (float)((r + k) % 2);
            for (int f = 0; f < F; f++) {
                int len = 1 + (r + f + k) % 2;
                for (int j = 0; j < len; j++)
                    ids[k][pos++] = (r * 5 + f * 3 + j * 7 + k) % 12;
                offsets[k][r * F + f + 1] = pos;
            }
        }
        sigeo_batch_t b = SIGEO_BATCH_INIT;
        b.batch_size = B;
        b.dense = dense[k];
        b.n_dense = D;
        b.labels = labels[k];
        b.targets = targets[k];
        b.n_targets = 1;
        b.n_sparse_fields = F;
        b.sparse_ids = ids[k];
        b.sparse_offsets = offsets[k];
        batches[k] = b;
    }
}

/* x -> fc0 [4|8] -> relu -> ln -> fc1 -> C classes (softmax CE). */
static sigeo_model_t *mlp_ln(void)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "mlp"));
    int32_t w;
    OK(sigeo_model_add_choice(&w, m, "w", 2, (const int64_t[]){ 4, 8 }));
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "x";
    in.features = D;
    int32_t x;
    OK(sigeo_model_add_input(&x, m, &in));
    int32_t h = layer(m, SIGEO_LAYER_LINEAR, "fc0", &x, 1, 8, w);
    h = layer(m, SIGEO_LAYER_ACTIVATION, "relu", &h, 1, 0, -1);
    h = layer(m, SIGEO_LAYER_LAYER_NORM, "ln", &h, 1, 0, -1);
    int32_t y = layer(m, SIGEO_LAYER_LINEAR, "fc1", &h, 1, C, -1);
    OK(sigeo_model_set_loss(m, y, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    return m;
}

/* dense -> bottom(4); 2 embedding bags of dim 4; dot interaction; concat;
 * head -> 1 logit (BCE). */
static sigeo_model_t *dlrm(void)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "dlrm"));
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "x";
    in.features = D;
    int32_t x;
    OK(sigeo_model_add_input(&x, m, &in));
    int32_t v[3];
    v[0] = layer(m, SIGEO_LAYER_LINEAR, "bottom", &x, 1, 4, -1);
    for (int f = 0; f < F; f++) {
        char nm[8], en[8];
        snprintf(nm, sizeof nm, "c%d", f);
        snprintf(en, sizeof en, "e%d", f);
        sigeo_input_desc_t s = SIGEO_INPUT_DESC_INIT;
        s.kind = SIGEO_INPUT_SPARSE;
        s.name = nm;
        s.field = f;
        int32_t si;
        OK(sigeo_model_add_input(&si, m, &s));
        v[f + 1] = layer(m, SIGEO_LAYER_EMBEDDING_BAG, en, &si, 1, 4, -1);
    }
    int32_t dot = layer(m, SIGEO_LAYER_DOT_INTERACTION, "dot", v, 3, 0, -1);
    int32_t cat = layer(m, SIGEO_LAYER_CONCAT, "cat", (const int32_t[]){ v[0], dot }, 2, 0, -1);
    int32_t y = layer(m, SIGEO_LAYER_LINEAR, "head", &cat, 1, 1, -1);
    OK(sigeo_model_set_loss(m, y, SIGEO_LOSS_BCE_WITH_LOGITS));
    OK(sigeo_model_finalize(m));
    return m;
}

/* theta . grad l of the current model on `b` (parameter space, all params). */
static double theta_dot_grad(sigeo_model_t *m, const sigeo_batch_t *b)
{
    OK(sigeo_model_forward_backward(NULL, m, b));
    int32_t np;
    OK(sigeo_model_param_count(&np, m));
    double dot = 0.0;
    for (int32_t p = 0; p < np; p++) {
        sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
        OK(sigeo_model_param_info(&info, m, p));
        float *t = malloc((size_t)info.numel * sizeof(float)), *g = malloc((size_t)info.numel * sizeof(float));
        OK(sigeo_model_get_param(m, p, t, info.numel));
        OK(sigeo_model_get_grad(m, p, g, info.numel));
        for (int64_t i = 0; i < info.numel; i++)
            dot += (double)t[i] * (double)g[i];
        free(t);
        free(g);
    }
    return dot;
}

/* One row of batch b as a batch of 1. */
static sigeo_batch_t row_batch(const sigeo_batch_t *b, int r, int64_t *offs_buf)
{
    sigeo_batch_t s = *b;
    s.batch_size = 1;
    s.dense = b->dense + r * D;
    s.labels = b->labels + r;
    s.targets = b->targets + r;
    int64_t base = b->sparse_offsets[r * F];
    for (int f = 0; f <= F; f++)
        offs_buf[f] = b->sparse_offsets[r * F + f] - base;
    s.sparse_ids = b->sparse_ids + base;
    s.sparse_offsets = offs_buf;
    return s;
}

/* Brute-force Fisher-Rao: (1/N) sum_n (theta . grad l_n)^2, each sample alone. */
static double brute_force_fr(sigeo_model_t *m)
{
    double sum = 0.0;
    int n = 0;
    for (int k = 0; k < K; k++)
        for (int r = 0; r < B; r++) {
            int64_t offs[F + 1];
            sigeo_batch_t s = row_batch(&batches[k], r, offs);
            double d = theta_dot_grad(m, &s);
            sum += d * d;
            n++;
        }
    return sum / n;
}

/* Two-pass ZiCo over all parameters of each module (ddof 0). */
static double brute_force_zico(sigeo_model_t *m, double *mean_loss)
{
    int32_t np, nm;
    OK(sigeo_model_param_count(&np, m));
    OK(sigeo_model_module_count(&nm, m));
    double *ratio = calloc((size_t)nm, sizeof(double));
    float *g[K];
    *mean_loss = 0.0;
    for (int32_t p = 0; p < np; p++) {
        sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
        OK(sigeo_model_param_info(&info, m, p));
        for (int k = 0; k < K; k++) {
            double l;
            OK(sigeo_model_forward_backward(&l, m, &batches[k]));
            if (p == 0)
                *mean_loss += l / K;
            g[k] = malloc((size_t)info.numel * sizeof(float));
            OK(sigeo_model_get_grad(m, p, g[k], info.numel));
        }
        for (int64_t i = 0; i < info.numel; i++) {
            double mu = 0, mean = 0, var = 0;
            for (int k = 0; k < K; k++) {
                mu += fabs(g[k][i]) / K;
                mean += (double)g[k][i] / K;
            }
            for (int k = 0; k < K; k++)
                var += ((double)g[k][i] - mean) * ((double)g[k][i] - mean) / K;
            if (var > 0)
                ratio[info.module] += mu / sqrt(var);
        }
        for (int k = 0; k < K; k++)
            free(g[k]);
    }
    double z = 0;
    for (int32_t i = 0; i < nm; i++)
        if (ratio[i] > 0)
            z += log(ratio[i]);
    free(ratio);
    return z;
}

static void check_against_brute_force(sigeo_model_t *m, const int32_t *arch, int32_t n_arch)
{
    if (n_arch)
        OK(sigeo_model_activate(m, arch, n_arch));
    double fr = brute_force_fr(m), loss;
    double zico = brute_force_zico(m, &loss);
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.lambda_preset = SIGEO_PRESET_RECSYS;
    sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
    OK(sigeo_proxy_compute(m, arch, n_arch, batches, K, &o, &r));
    ck_assert_msg(fabs(r.fr - fr) <= 1e-5 * fabs(fr), "Fisher-Rao: one-backward identity %.10g vs per-sample brute force %.10g",
                  r.fr, fr);
    ck_assert_msg(fabs(r.zico - zico) <= 1e-4 * fabs(zico) + 1e-5, "ZiCo %.10g vs two-pass %.10g", r.zico, zico);
    ck_assert_msg(fabs(r.loss - loss) <= 1e-9 * fabs(loss), "loss %.10g vs %.10g", r.loss, loss);
    double expect = zico + log(fr) - loss;
    ck_assert_msg(fabs(r.score - expect) <= 1e-4 * fabs(expect) + 1e-4, "score %.10g vs %.10g", r.score, expect);
    ck_assert_uint_eq(r.k, K);
    ck_assert_uint_eq(r.n_samples, K * B);
    ck_assert(r.flags & SIGEO_STATS_HAS_FR);
}

START_TEST(sigeo_on_mlp_with_layer_norm_matches_brute_force_at_two_widths)
{
    make_batches();
    sigeo_model_t *m = mlp_ln();
    check_against_brute_force(m, (const int32_t[]){ 0 }, 1);
    check_against_brute_force(m, (const int32_t[]){ 1 }, 1);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(sigeo_on_embedding_dot_product_model_matches_brute_force)
{
    make_batches();
    sigeo_model_t *m = dlrm();
    check_against_brute_force(m, NULL, 0);
    sigeo_model_destroy(m);
}
END_TEST

/* Test 2 of docs/proxies.md §4.4: a bias-free ReLU MLP with D linear layers has
 * theta . grad l_n = D * (dl/df) . f, so FR = D^2 E[((dl/df).f)^2]. */
START_TEST(bias_free_relu_mlp_fr_equals_depth_squared_times_logit_term)
{
    make_batches();
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "nobias"));
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "x";
    in.features = D;
    int32_t x;
    OK(sigeo_model_add_input(&x, m, &in));
    int32_t h = x;
    const int64_t widths[3] = { 6, 5, C };
    for (int l = 0; l < 3; l++) {
        char nm[8];
        snprintf(nm, sizeof nm, "fc%d", l);
        sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
        d.name = nm;
        d.inputs = &h;
        d.n_inputs = 1;
        d.units = widths[l];
        d.flags = SIGEO_LAYER_NO_BIAS;
        OK(sigeo_model_add_layer(&h, m, &d));
        if (l < 2) {
            snprintf(nm, sizeof nm, "r%d", l);
            h = layer(m, SIGEO_LAYER_ACTIVATION, nm, &h, 1, 0, -1);
        }
    }
    OK(sigeo_model_set_loss(m, h, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    /* (dl/df).f by hand from the logits: softmax(f) - onehot(y), dotted with f. */
    double sum = 0;
    for (int k = 0; k < K; k++) {
        OK(sigeo_model_forward(NULL, m, &batches[k]));
        float f[B * C];
        int64_t cnt = B * C;
        OK(sigeo_model_node_output(f, &cnt, m, h));
        for (int r = 0; r < B; r++) {
            double mx = f[r * C], se = 0, t = 0;
            for (int c = 1; c < C; c++)
                mx = fmax(mx, f[r * C + c]);
            for (int c = 0; c < C; c++)
                se += exp(f[r * C + c] - mx);
            for (int c = 0; c < C; c++)
                t += (exp(f[r * C + c] - mx) / se - (c == labels[k][r])) * f[r * C + c];
            sum += 9.0 * t * t;
        }
    }
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.kind = SIGEO_PROXY_FISHER_RAO;
    sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
    OK(sigeo_proxy_compute(m, NULL, 0, batches, K, &o, &r));
    ck_assert_msg(fabs(r.fr - sum / (K * B)) <= 1e-5 * r.fr, "FR %.10g vs D^2 E[((dl/df).f)^2] %.10g", r.fr,
                  sum / (K * B));
    ck_assert(fabs(r.score - log(r.fr)) < 1e-12);
    sigeo_model_destroy(m);
}
END_TEST

/* Scope HEAD (the official RecSys code's setting): only the head's module,
 * and d_n = theta_head . grad_head l_n, brute-forced per sample here. */
START_TEST(head_scope_matches_brute_force_on_the_head_alone)
{
    make_batches();
    sigeo_model_t *m = dlrm();
    int32_t pw, pb;
    OK(sigeo_model_find_param(&pw, m, "head.weight"));
    OK(sigeo_model_find_param(&pb, m, "head.bias"));
    sigeo_param_info_t wi = SIGEO_PARAM_INFO_INIT;
    OK(sigeo_model_param_info(&wi, m, pw));
    const int64_t nw = wi.numel;
    float *tw = malloc((size_t)nw * sizeof(float)), *gw = malloc((size_t)nw * sizeof(float)), tb, gb;
    OK(sigeo_model_get_param(m, pw, tw, nw));
    OK(sigeo_model_get_param(m, pb, &tb, 1));
    double sum = 0.0;
    for (int k = 0; k < K; k++)
        for (int r = 0; r < B; r++) {
            int64_t offs[F + 1];
            sigeo_batch_t one = row_batch(&batches[k], r, offs);
            OK(sigeo_model_forward_backward(NULL, m, &one));
            OK(sigeo_model_get_grad(m, pw, gw, nw));
            OK(sigeo_model_get_grad(m, pb, &gb, 1));
            double d = (double)tb * gb;
            for (int64_t i = 0; i < nw; i++)
                d += (double)tw[i] * gw[i];
            sum += d * d;
        }
    const double fr = sum / (K * B);
    /* ZiCo over the head module (weight and bias together), two-pass */
    double ratio = 0.0;
    float *g[K], gbk[K];
    for (int k = 0; k < K; k++) {
        g[k] = malloc((size_t)nw * sizeof(float));
        OK(sigeo_model_forward_backward(NULL, m, &batches[k]));
        OK(sigeo_model_get_grad(m, pw, g[k], nw));
        OK(sigeo_model_get_grad(m, pb, &gbk[k], 1));
    }
    for (int64_t i = 0; i <= nw; i++) {
        double mu = 0, mean = 0, var = 0;
        for (int k = 0; k < K; k++) {
            double v = i < nw ? g[k][i] : gbk[k];
            mu += fabs(v) / K;
            mean += v / K;
        }
        for (int k = 0; k < K; k++) {
            double v = i < nw ? g[k][i] : gbk[k];
            var += (v - mean) * (v - mean) / K;
        }
        if (var > 0)
            ratio += mu / sqrt(var);
    }
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.scope = SIGEO_SCOPE_HEAD;
    sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
    OK(sigeo_proxy_compute(m, NULL, 0, batches, K, &o, &r));
    ck_assert_msg(fabs(r.fr - fr) <= 1e-5 * fr, "head FR %.10g vs brute force %.10g", r.fr, fr);
    ck_assert_msg(fabs(r.zico - log(ratio)) <= 1e-4 * fabs(log(ratio)), "head ZiCo %.10g vs %.10g", r.zico,
                  log(ratio));
    ck_assert_uint_eq(r.n_modules, 1);
    /* and it differs from the all-layer scope */
    sigeo_proxy_result_t all = SIGEO_PROXY_RESULT_INIT;
    o.scope = SIGEO_SCOPE_ALL;
    OK(sigeo_proxy_compute(m, NULL, 0, batches, K, &o, &all));
    ck_assert(all.n_modules > 1 && fabs(all.fr - r.fr) > 1e-6 * r.fr);
    o.scope = 7;
    ck_assert_int_eq(sigeo_proxy_compute(m, NULL, 0, batches, K, &o, &r), SIGEO_ERR_INVALID_ARG);
    for (int k = 0; k < K; k++)
        free(g[k]);
    free(tw);
    free(gw);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(fr_is_unchanged_by_permuting_samples_across_batches)
{
    make_batches();
    sigeo_model_t *m = mlp_ln();
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.kind = SIGEO_PROXY_FISHER_RAO;
    sigeo_proxy_result_t r1 = SIGEO_PROXY_RESULT_INIT, r2 = SIGEO_PROXY_RESULT_INIT;
    OK(sigeo_proxy_compute(m, NULL, 0, batches, K, &o, &r1));
    /* swap rows between batches 0 and 3, and reverse batch 1 */
    for (int r = 0; r < B; r += 2) {
        float tmp[D];
        memcpy(tmp, dense[0] + r * D, sizeof tmp);
        memcpy(dense[0] + r * D, dense[3] + r * D, sizeof tmp);
        memcpy(dense[3] + r * D, tmp, sizeof tmp);
        int32_t t = labels[0][r];
        labels[0][r] = labels[3][r];
        labels[3][r] = t;
    }
    OK(sigeo_proxy_compute(m, NULL, 0, batches, K, &o, &r2));
    ck_assert_msg(fabs(r1.fr - r2.fr) <= 1e-6 * r1.fr, "%.10g vs %.10g", r1.fr, r2.fr);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(proxy_leaves_the_model_as_it_was_and_reports_bad_input)
{
    make_batches();
    sigeo_model_t *m = mlp_ln();
    OK(sigeo_model_activate(m, (const int32_t[]){ 1 }, 1));
    float before[8 * D], after[8 * D];
    OK(sigeo_model_get_param(m, 0, before, 8 * D));
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
    OK(sigeo_proxy_compute(m, (const int32_t[]){ 0 }, 1, batches, K, &o, &r));
    double score0 = r.score;
    int32_t arch;
    OK(sigeo_model_active_arch(&arch, 1, m));
    ck_assert_int_eq(arch, 1);
    OK(sigeo_model_get_param(m, 0, after, 8 * D));
    ck_assert(memcmp(before, after, sizeof before) == 0);
    /* errors: bad arch, k < 2, no batches, NaN input in batch 2 */
    ck_assert_int_eq(sigeo_proxy_compute(m, (const int32_t[]){ 2 }, 1, batches, K, &o, &r), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_proxy_compute(m, (const int32_t[]){ 0, 0 }, 2, batches, K, &o, &r), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_proxy_compute(m, NULL, 0, batches, 1, &o, &r), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_proxy_compute(m, NULL, 0, batches, 0, &o, &r), SIGEO_ERR_INVALID_ARG);
    float keep = dense[2][3];
    dense[2][3] = INFINITY;
    ck_assert_int_eq(sigeo_proxy_compute(m, (const int32_t[]){ 0 }, 1, batches, K, &o, &r), SIGEO_ERR_NONFINITE);
    ck_assert_ptr_nonnull(strstr(sigeo_last_error(), "batch 2"));
    dense[2][3] = keep;
    OK(sigeo_model_active_arch(&arch, 1, m));
    ck_assert_int_eq(arch, 1);
    /* usable and reproducible afterwards */
    OK(sigeo_proxy_compute(m, (const int32_t[]){ 0 }, 1, batches, K, &o, &r));
    ck_assert(r.score == score0);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(scoring_again_allocates_nothing)
{
    make_batches();
    sigeo_model_t *m = mlp_ln();
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
    OK(sigeo_proxy_compute(m, (const int32_t[]){ 1 }, 1, batches, K, &o, &r));
    OK(sigeo_proxy_compute(m, (const int32_t[]){ 0 }, 1, batches, K, &o, &r));
    uint64_t blocks0, blocks1;
    sigeo_memory_in_use(NULL, &blocks0);
    OK(sigeo_proxy_compute(m, (const int32_t[]){ 1 }, 1, batches, K, &o, &r));
    OK(sigeo_proxy_compute(m, (const int32_t[]){ 0 }, 1, batches, K, &o, &r));
    sigeo_memory_in_use(NULL, &blocks1);
    ck_assert_uint_eq(blocks0, blocks1);
    /* alternating kinds keeps the accumulators (only the options switch) */
    uint64_t bytes0, bytes1;
    const double sigeo_arch0 = r.score; /* the last call above: SiGeo on arch 0 */
    sigeo_memory_in_use(&bytes0, &blocks0);
    for (int kind = SIGEO_PROXY_SIGEO; kind <= SIGEO_PROXY_FISHER_RAO; kind++) {
        o.kind = kind;
        OK(sigeo_proxy_compute(m, NULL, 0, batches, K, &o, &r));
    }
    o.kind = SIGEO_PROXY_SIGEO;
    sigeo_proxy_result_t again = SIGEO_PROXY_RESULT_INIT;
    OK(sigeo_proxy_compute(m, (const int32_t[]){ 0 }, 1, batches, K, &o, &again));
    sigeo_memory_in_use(&bytes1, &blocks1);
    ck_assert_uint_eq(blocks0, blocks1);
    ck_assert_uint_eq(bytes0, bytes1);
    ck_assert(again.score == sigeo_arch0); /* retuned accumulators give the same score bit for bit */
    sigeo_model_destroy(m);
}
END_TEST


/* The fused statistics (each layer's gradients folded in by the backward's
 * hook) against a separate pass written here: the k batch gradients read
 * through the public API and fed to a public sigeo_stats_t handle, one
 * module per layer as the proxy groups them (all parameter kinds), an
 * embedding table as a table module whose touched rows are the batch's ids
 * of its field. Both run the same update arithmetic, so the ZiCo values
 * must agree bit for bit: only where the gradients come from differs. */
static void zico_by_a_separate_pass(sigeo_model_t *m, sigeo_stats_result_t *out)
{
    int32_t np, nm;
    OK(sigeo_model_param_count(&np, m));
    OK(sigeo_model_module_count(&nm, m));
    int64_t count[16] = { 0 }, rows[16] = { 0 };
    int field[16];
    ck_assert_int_le(nm, 16);
    for (int32_t p = 0; p < np; p++) {
        sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
        OK(sigeo_model_param_info(&info, m, p));
        count[info.module] += info.numel;
        if (info.kind == SIGEO_PARAM_EMBEDDING) {
            rows[info.module] = info.dims[0];
            field[info.module] = info.name[1] - '0'; /* tables e0, e1 read fields 0, 1 */
        }
    }
    sigeo_stats_options_t so = SIGEO_STATS_OPTIONS_INIT; /* the proxy's defaults: module-wise ZiCo */
    so.lambda_preset = SIGEO_PRESET_CUSTOM;
    so.lambda1 = 1.0;
    so.lambda2 = 0.0;
    so.lambda3 = 0.0;
    sigeo_stats_t *st;
    OK(sigeo_stats_create(&st, NULL, &so));
    for (int32_t k = 0; k < nm; k++) {
        const char *name = sigeo_model_module_name(m, k);
        if (rows[k])
            OK(sigeo_stats_add_table_module(NULL, st, name, rows[k], count[k] / rows[k]));
        else
            OK(sigeo_stats_add_module(NULL, st, name, count[k]));
    }
    float *g[16];
    const int64_t *touched[16];
    int64_t n_touched[16];
    for (int32_t k = 0; k < nm; k++)
        ck_assert_ptr_nonnull(g[k] = malloc((size_t)count[k] * sizeof(float)));
    for (int b = 0; b < K; b++) {
        double loss;
        OK(sigeo_model_forward_backward(&loss, m, &batches[b]));
        int64_t at[16] = { 0 };
        for (int32_t p = 0; p < np; p++) {
            sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
            OK(sigeo_model_param_info(&info, m, p));
            OK(sigeo_model_get_grad(m, p, g[info.module] + at[info.module], info.numel));
            at[info.module] += info.numel;
        }
        /* ids of field f: the bags of every row, in order */
        static int64_t field_ids[F][B * F * 2];
        for (int32_t k = 0; k < nm; k++) {
            touched[k] = NULL;
            n_touched[k] = 0;
            if (!rows[k])
                continue;
            int64_t n = 0;
            for (int r = 0; r < B; r++)
                for (int64_t j = offsets[b][r * F + field[k]]; j < offsets[b][r * F + field[k] + 1]; j++)
                    field_ids[field[k]][n++] = ids[b][j];
            touched[k] = field_ids[field[k]];
            n_touched[k] = n;
        }
        sigeo_stats_batch_t sb = SIGEO_STATS_BATCH_INIT;
        sb.n_modules = (uint32_t)nm;
        sb.gradients = (const float *const *)g;
        sb.gradient_counts = count;
        sb.touched_rows = touched;
        sb.touched_counts = n_touched;
        sb.loss = loss;
        sb.batch_size = B;
        OK(sigeo_stats_add_batch(st, &sb));
    }
    OK(sigeo_stats_compute(out, st));
    for (int32_t k = 0; k < nm; k++)
        free(g[k]);
    sigeo_stats_destroy(st);
}

START_TEST(fused_statistics_equal_a_separate_pass_bit_for_bit)
{
    make_batches();
    sigeo_model_t *models[2] = { mlp_ln(), dlrm() };
    for (int i = 0; i < 2; i++) {
        sigeo_model_t *m = models[i];
        sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
        o.kind = SIGEO_PROXY_ZICO;
        sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
        OK(sigeo_proxy_compute(m, NULL, 0, batches, K, &o, &r));
        sigeo_stats_result_t want = SIGEO_STATS_RESULT_INIT;
        zico_by_a_separate_pass(m, &want);
        ck_assert_msg(r.zico_module_wise == want.zico_module_wise && r.zico_neuron_wise == want.zico_neuron_wise &&
                          r.zico_reference_recsys == want.zico_reference_recsys,
                      "model %d: fused ZiCo %.17g / %.17g / %.17g, separate pass %.17g / %.17g / %.17g", i,
                      r.zico_module_wise, r.zico_neuron_wise, r.zico_reference_recsys, want.zico_module_wise,
                      want.zico_neuron_wise, want.zico_reference_recsys);
        ck_assert(isfinite(r.zico) && r.zico != 0.0);
        sigeo_model_destroy(m);
    }
}
END_TEST

/* fisher-rao, and SiGeo with lambda1 = 0, keep no per-parameter statistics
 * (bench/README.md): the values against the per-sample brute force, and
 * the memory: after fisher-rao and SiGeo with lambda1 = 0, the first SiGeo
 * call with ZiCo still allocates the three float accumulators per
 * parameter (12 B each): the first two kept none. */
START_TEST(fisher_rao_only_path_matches_brute_force_and_keeps_no_statistics)
{
    make_batches();
    for (int i = 0; i < 2; i++) {
        sigeo_model_t *m = i ? dlrm() : mlp_ln();
        int32_t np;
        OK(sigeo_model_param_count(&np, m));
        int64_t params = 0;
        for (int32_t p = 0; p < np; p++) {
            sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
            OK(sigeo_model_param_info(&info, m, p));
            params += info.numel;
        }
        const double fr = brute_force_fr(m);
        double loss = 0.0;
        for (int b = 0; b < K; b++) {
            double l;
            OK(sigeo_model_forward(&l, m, &batches[b]));
            loss += l / K;
        }
        uint64_t bytes1, bytes2;
        sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
        o.kind = SIGEO_PROXY_FISHER_RAO;
        sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
        OK(sigeo_proxy_compute(m, NULL, 0, batches, K, &o, &r));
        sigeo_memory_in_use(&bytes1, NULL);
        ck_assert_msg(fabs(r.fr - fr) <= 1e-5 * fr, "model %d: fisher-rao %.10g vs brute force %.10g", i, r.fr, fr);
        ck_assert(r.score == log(r.fr));
        ck_assert(r.flags & SIGEO_STATS_NO_ZICO);
        /* SiGeo with lambda1 = 0: log fr - loss */
        o.kind = SIGEO_PROXY_SIGEO;
        o.lambda_preset = SIGEO_PRESET_CUSTOM;
        o.lambda1 = 0.0;
        o.lambda2 = 1.0;
        o.lambda3 = 1.0;
        OK(sigeo_proxy_compute(m, NULL, 0, batches, K, &o, &r));
        const double want = log(fr) - loss;
        ck_assert_msg(fabs(r.score - want) <= 1e-5 * fabs(want) + 1e-9, "model %d: score %.10g vs %.10g", i, r.score,
                      want);
        sigeo_memory_in_use(&bytes2, NULL);
        ck_assert_uint_eq(bytes2, bytes1);
        /* with ZiCo in the score the accumulators appear */
        o.lambda1 = 1.0;
        OK(sigeo_proxy_compute(m, NULL, 0, batches, K, &o, &r));
        sigeo_memory_in_use(&bytes2, NULL);
        ck_assert_msg(bytes2 - bytes1 >= (uint64_t)(12 * params),
                      "model %d: SiGeo allocated %llu bytes after fisher-rao, want >= 12 x %lld", i,
                      (unsigned long long)(bytes2 - bytes1), (long long)params);
        sigeo_model_destroy(m);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("proxy-sigeo");
    TCase *tc = tcase_create("sigeo");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, sigeo_on_mlp_with_layer_norm_matches_brute_force_at_two_widths);
    tcase_add_test(tc, sigeo_on_embedding_dot_product_model_matches_brute_force);
    tcase_add_test(tc, bias_free_relu_mlp_fr_equals_depth_squared_times_logit_term);
    tcase_add_test(tc, fr_is_unchanged_by_permuting_samples_across_batches);
    tcase_add_test(tc, head_scope_matches_brute_force_on_the_head_alone);
    tcase_add_test(tc, proxy_leaves_the_model_as_it_was_and_reports_bad_input);
    tcase_add_test(tc, scoring_again_allocates_nothing);
    tcase_add_test(tc, fused_statistics_equal_a_separate_pass_bit_for_bit);
    tcase_add_test(tc, fisher_rao_only_path_matches_brute_force_and_keeps_no_statistics);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
