/* AZ-NAS's feature measures (az_expressivity, az_progressivity) and its
 * complexity against this file's own computation: the block outputs read
 * with sigeo_model_node_output (the engine's forward, not the proxy code),
 * laid out as rows x channels here, their biased covariance in double and
 * its eigenvalues by a cyclic Jacobi solver written below (not LAPACK, which
 * the library uses), then the entropy of the normalised spectrum.
 * Trainability: each block pair's Jacobian built explicitly from the
 * weights and the pre-activations (diag(f'(z)) W, the average pool's 1/HW),
 * the Rademacher seeds drawn as documented, the largest singular value by
 * the same Jacobi solver on M^T M. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "core/rng.h"
#include "gradcheck.h"
#include "ref_linalg.h"
#include "sigeo/model.h"
#include "sigeo/proxy.h"
#include "sigeo/stats.h"

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

static sigeo_context_t *ctx;
static void setup(void)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.seed = 5;
    o.threads = 1;
    OK(sigeo_context_create(&ctx, &o));
}
static void teardown(void)
{
    sigeo_context_destroy(ctx);
}

enum { B = 8, D = 6, C = 3, IMG = 4, PIX = IMG * IMG, MAXF = 16 };

/* A layer on `in`, named l0, l1, ... in creation order. */
static int32_t block_layer(sigeo_model_t *m, sigeo_layer_kind_t kind, int32_t in, int64_t units, int32_t act)
{
    static int serial;
    char name[16];
    snprintf(name, sizeof name, "l%d", serial++);
    return layer_on(m, kind, name, &in, 1, units, -1, act);
}

/* A block: its node and its layout (F channels, `per` rows per sample,
 * channel-major as (C, H, W) or feature-minor as flat). */
typedef struct block {
    int32_t node;
    int64_t F, per;
    int chw;
} block_t;

/* x[D] -> fc[5] -> relu -> fc[4] -> tanh -> fc[7] -> gelu -> fc[C] (CE):
 * three flat blocks of different widths and activations. */
static sigeo_model_t *mlp(block_t *blk, int64_t widths[3])
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "mlp"));
    int32_t h = shaped_input(m, D, NULL);
    const int32_t acts[3] = { SIGEO_ACT_RELU, SIGEO_ACT_TANH, SIGEO_ACT_GELU };
    for (int l = 0; l < 3; l++) {
        h = block_layer(m, SIGEO_LAYER_LINEAR, h, widths[l], 0);
        h = block_layer(m, SIGEO_LAYER_ACTIVATION, h, 0, acts[l]);
        blk[l] = (block_t){ h, widths[l], 1, 0 };
    }
    int32_t y = block_layer(m, SIGEO_LAYER_LINEAR, h, C, 0);
    OK(sigeo_model_set_loss(m, y, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    return m;
}

/* x (2, 4, 4) -> conv[3] -> relu -> gap -> fc[5] -> tanh -> fc[C]: a
 * (C, H, W) block (B H W rows of 3) and a flat one. */
static sigeo_model_t *convnet(block_t *blk)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "conv"));
    int32_t h = shaped_input(m, 2 * PIX, (const int64_t[]){ 2, IMG, IMG });
    h = block_layer(m, SIGEO_LAYER_CONV2D, h, 3, 0);
    h = block_layer(m, SIGEO_LAYER_ACTIVATION, h, 0, SIGEO_ACT_RELU);
    blk[0] = (block_t){ h, 3, PIX, 1 };
    h = block_layer(m, SIGEO_LAYER_GLOBAL_AVG_POOL, h, 0, 0);
    h = block_layer(m, SIGEO_LAYER_LINEAR, h, 5, 0);
    h = block_layer(m, SIGEO_LAYER_ACTIVATION, h, 0, SIGEO_ACT_TANH);
    blk[1] = (block_t){ h, 5, 1, 0 };
    int32_t y = block_layer(m, SIGEO_LAYER_LINEAR, h, C, 0);
    OK(sigeo_model_set_loss(m, y, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    return m;
}

/* x[12] -> fc[12] -> reshape (3, 4) -> tanh -> fc[6] -> relu -> fc[C]:
 * a (T, E) block (B T rows of E) and a flat one. */
static sigeo_model_t *tokens(block_t *blk)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "tok"));
    int32_t h = shaped_input(m, 12, NULL);
    h = block_layer(m, SIGEO_LAYER_LINEAR, h, 12, 0);
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = SIGEO_LAYER_RESHAPE;
    d.name = "reshape";
    d.inputs = &h;
    d.n_inputs = 1;
    d.shape[0] = 3;
    d.shape[1] = 4;
    OK(sigeo_model_add_layer(&h, m, &d));
    h = block_layer(m, SIGEO_LAYER_ACTIVATION, h, 0, SIGEO_ACT_TANH);
    blk[0] = (block_t){ h, 4, 3, 0 };
    h = block_layer(m, SIGEO_LAYER_LINEAR, h, 6, 0);
    h = block_layer(m, SIGEO_LAYER_ACTIVATION, h, 0, SIGEO_ACT_RELU);
    blk[1] = (block_t){ h, 6, 1, 0 };
    int32_t y = block_layer(m, SIGEO_LAYER_LINEAR, h, C, 0);
    OK(sigeo_model_set_loss(m, y, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    return m;
}

static float xs[B * 2 * PIX];
static int32_t labels[B] = { 0, 1, 2, 0, 1, 2, 0, 1 };

static sigeo_batch_t batch(int64_t features)
{
    gc_fill(xs, B * 2 * PIX, 1.0);
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = B;
    b.dense = xs;
    b.n_dense = features;
    b.labels = labels;
    return b;
}

/* The entropy of block bl's covariance spectrum, from its node output. */
static double entropy(sigeo_model_t *m, const block_t *bl)
{
    const int64_t width = bl->F * bl->per;
    float out[B * 3 * PIX];
    int64_t count = B * width;
    ck_assert_int_le(count, (int64_t)(sizeof out / sizeof out[0]));
    OK(sigeo_model_node_output(out, &count, m, bl->node));
    ck_assert_int_eq(count, B * width);
    const int64_t N = B * bl->per, F = bl->F;
    static double rows[B * PIX][MAXF];
    for (int64_t n = 0; n < B; n++)
        for (int64_t q = 0; q < bl->per; q++)
            for (int64_t f = 0; f < F; f++)
                rows[n * bl->per + q][f] = out[n * width + (bl->chw ? f * bl->per + q : q * F + f)];
    double mean[MAXF] = { 0 }, S[MAXF * MAXF] = { 0 }, w[MAXF];
    for (int64_t r = 0; r < N; r++)
        for (int64_t f = 0; f < F; f++)
            mean[f] += rows[r][f] / (double)N;
    for (int64_t r = 0; r < N; r++)
        for (int64_t i = 0; i < F; i++)
            for (int64_t j = 0; j < F; j++)
                S[i * F + j] += (rows[r][i] - mean[i]) * (rows[r][j] - mean[j]) / (double)N;
    ref_jacobi_eigvals(w, S, (int)F);
    double total = 0.0, h = 0.0;
    for (int64_t i = 0; i < F; i++)
        total += w[i];
    for (int64_t i = 0; i < F; i++)
        h -= w[i] / total * log(w[i] / total + 1e-8);
    ck_assert(h > 0.0 && h <= log((double)F) + 1e-9);
    return h;
}

static double score(sigeo_model_t *m, sigeo_proxy_kind_t kind, const sigeo_batch_t *b, uint32_t *blocks)
{
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.kind = kind;
    sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
    OK(sigeo_proxy_compute(m, NULL, 0, b, b ? 1 : 0, &o, &r));
    if (blocks)
        *blocks = r.n_modules;
    return r.score;
}

static void close_to(double got, double want, const char *what)
{
    ck_assert_msg(fabs(got - want) <= 1e-6 * (1.0 + fabs(want)), "%s: %.12g, want %.12g", what, got, want);
}

START_TEST(expressivity_and_progressivity_of_flat_blocks)
{
    block_t blk[3];
    sigeo_model_t *m = mlp(blk, (int64_t[]){ 5, 4, 7 });
    sigeo_batch_t b = batch(D);
    uint32_t n = 0;
    const double ex = score(m, SIGEO_PROXY_AZ_EXPRESSIVITY, &b, &n);
    ck_assert_uint_eq(n, 3);
    const double pr = score(m, SIGEO_PROXY_AZ_PROGRESSIVITY, &b, NULL);
    OK(sigeo_model_forward(NULL, m, &b));
    const double e0 = entropy(m, &blk[0]), e1 = entropy(m, &blk[1]), e2 = entropy(m, &blk[2]);
    close_to(ex, e0 + e1 + e2, "expressivity");
    close_to(pr, fmin(e1 - e0, e2 - e1), "progressivity");
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(a_conv_block_counts_every_position_as_a_row_of_channels)
{
    block_t blk[2];
    sigeo_model_t *m = convnet(blk);
    sigeo_batch_t b = batch(2 * PIX);
    const double ex = score(m, SIGEO_PROXY_AZ_EXPRESSIVITY, &b, NULL);
    const double pr = score(m, SIGEO_PROXY_AZ_PROGRESSIVITY, &b, NULL);
    OK(sigeo_model_forward(NULL, m, &b));
    const double e0 = entropy(m, &blk[0]), e1 = entropy(m, &blk[1]);
    close_to(ex, e0 + e1, "expressivity");
    close_to(pr, e1 - e0, "progressivity");
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(a_token_block_counts_every_token_as_a_row_of_embeddings)
{
    block_t blk[2];
    sigeo_model_t *m = tokens(blk);
    sigeo_batch_t b = batch(12);
    const double ex = score(m, SIGEO_PROXY_AZ_EXPRESSIVITY, &b, NULL);
    OK(sigeo_model_forward(NULL, m, &b));
    close_to(ex, entropy(m, &blk[0]) + entropy(m, &blk[1]), "expressivity");
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(complexity_is_flops_and_one_block_refuses_progressivity)
{
    block_t blk[2];
    sigeo_model_t *m = convnet(blk);
    close_to(score(m, SIGEO_PROXY_AZ_COMPLEXITY, NULL, NULL), score(m, SIGEO_PROXY_FLOPS, NULL, NULL), "complexity");
    ck_assert_str_eq(sigeo_proxy_kind_name(SIGEO_PROXY_AZ_COMPLEXITY), "az_complexity");
    sigeo_model_destroy(m);
    /* x -> fc -> relu -> fc: one block. */
    OK(sigeo_model_create(&m, ctx, "one"));
    int32_t h = shaped_input(m, D, NULL);
    h = block_layer(m, SIGEO_LAYER_LINEAR, h, 4, 0);
    h = block_layer(m, SIGEO_LAYER_ACTIVATION, h, 0, SIGEO_ACT_RELU);
    const block_t one = { h, 4, 1, 0 };
    h = block_layer(m, SIGEO_LAYER_LINEAR, h, C, 0);
    OK(sigeo_model_set_loss(m, h, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    sigeo_batch_t b = batch(D);
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.kind = SIGEO_PROXY_AZ_PROGRESSIVITY;
    sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
    ck_assert_int_eq(sigeo_proxy_compute(m, NULL, 0, &b, 1, &o, &r), SIGEO_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(sigeo_last_error(), "az_progressivity"));
    const double ex = score(m, SIGEO_PROXY_AZ_EXPRESSIVITY, &b, NULL); /* still usable */
    OK(sigeo_model_forward(NULL, m, &b));
    close_to(ex, entropy(m, &one), "one block");
    o.kind = SIGEO_PROXY_AZ_EXPRESSIVITY;
    ck_assert_int_eq(sigeo_proxy_compute(m, NULL, 0, NULL, 0, &o, &r), SIGEO_ERR_INVALID_ARG);
    sigeo_model_destroy(m);
}
END_TEST

/* The documented combination: the four measures of a candidate set through
 * sigeo_stats_aggregate(LOG_RANK) equal sum_p log(rank_p / n) ranked by
 * hand. */
START_TEST(log_rank_aggregation_over_a_candidate_set)
{
    enum { N = 4, P = 4 };
    const int64_t widths[N][3] = { { 5, 4, 7 }, { 3, 6, 2 }, { 8, 8, 8 }, { 6, 3, 5 } };
    const sigeo_proxy_kind_t kinds[P] = { SIGEO_PROXY_AZ_EXPRESSIVITY, SIGEO_PROXY_AZ_PROGRESSIVITY,
                                          SIGEO_PROXY_AZ_TRAINABILITY, SIGEO_PROXY_AZ_COMPLEXITY };
    double s[P * N];
    sigeo_batch_t b = batch(D);
    for (int c = 0; c < N; c++) {
        block_t blk[3];
        sigeo_model_t *m = mlp(blk, (int64_t *)widths[c]);
        for (int p = 0; p < P; p++)
            s[p * N + c] = score(m, kinds[p], kinds[p] == SIGEO_PROXY_AZ_COMPLEXITY ? NULL : &b, NULL);
        sigeo_model_destroy(m);
    }
    double agg[N];
    OK(sigeo_stats_aggregate(agg, s, N, P, NULL, SIGEO_AGG_LOG_RANK));
    for (int c = 0; c < N; c++) {
        double want = 0.0;
        for (int p = 0; p < P; p++) {
            double rank = 1.0; /* 1 + below + ties / 2 */
            for (int k = 0; k < N; k++)
                rank += s[p * N + k] < s[p * N + c] ? 1.0 : (s[p * N + k] == s[p * N + c] && k != c ? 0.5 : 0.0);
            want += log(rank / N);
        }
        close_to(agg[c], want, "log-rank");
    }
}
END_TEST

/* The l-th weight parameter (creation order: the l-th linear layer) into w. */
static void weight(sigeo_model_t *m, int l, float *w, int64_t count)
{
    int32_t n;
    OK(sigeo_model_param_count(&n, m));
    for (int32_t p = 0; p < n; p++) {
        sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
        OK(sigeo_model_param_info(&info, m, p));
        if (info.kind == SIGEO_PARAM_WEIGHT && l-- == 0) {
            ck_assert_int_eq(info.numel, count);
            OK(sigeo_model_get_param(m, p, w, count));
            return;
        }
    }
    ck_abort_msg("no weight %d", l);
}

static void node_out(sigeo_model_t *m, int32_t node, float *buf, int64_t count)
{
    int64_t got = count;
    OK(sigeo_model_node_output(buf, &got, m, node));
    ck_assert_int_eq(got, count);
}

static double act_deriv(int act, double z)
{
    if (act == SIGEO_ACT_TANH)
        return 1.0 - tanh(z) * tanh(z);
    if (act == SIGEO_ACT_GELU)
        return 0.5 * (1.0 + erf(z / sqrt(2.0))) + z * exp(-0.5 * z * z) / sqrt(2.0 * 3.14159265358979323846);
    return z > 0.0 ? 1.0 : 0.0;
}

/* One pair's term: g_in[n][i] = sum_o g_out[n][o] f'(z[n][o]) W[o][i / scale_div] / pool,
 * M = g_in^T g_out / B (Ci x Co), sigma^2 = the top eigenvalue of M^T M. */
static double pair_term(const float *gout, const float *z, int act, const float *W, int64_t Co, int64_t Cin,
                        int64_t per, int64_t rows_B)
{
    const int64_t Ci = Cin * per; /* the unshuffled channels: c * per + position */
    static double gin[B][64], M[64 * 8], G[8 * 8], w[8];
    ck_assert_int_le(Ci, 64);
    ck_assert_int_le(Co, 8);
    for (int64_t n = 0; n < B; n++)
        for (int64_t i = 0; i < Ci; i++) {
            double s = 0.0;
            for (int64_t o = 0; o < Co; o++)
                s += (double)gout[n * Co + o] * act_deriv(act, (double)z[n * Co + o]) * (double)W[o * Cin + i / per] /
                     (double)per;
            gin[n][i] = s;
        }
    for (int64_t i = 0; i < Ci; i++)
        for (int64_t o = 0; o < Co; o++) {
            double s = 0.0;
            for (int64_t n = 0; n < B; n++)
                s += gin[n][i] * (double)gout[n * Co + o];
            M[i * Co + o] = s / (double)rows_B;
        }
    for (int64_t a = 0; a < Co; a++)
        for (int64_t b = 0; b < Co; b++) {
            double s = 0.0;
            for (int64_t i = 0; i < Ci; i++)
                s += M[i * Co + a] * M[i * Co + b];
            G[a * Co + b] = s;
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

static double trainability(sigeo_model_t *m, const sigeo_batch_t *b, uint64_t seed, uint32_t *blocks)
{
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.kind = SIGEO_PROXY_AZ_TRAINABILITY;
    o.seed = seed;
    sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
    OK(sigeo_proxy_compute(m, NULL, 0, b, 1, &o, &r));
    if (blocks)
        *blocks = r.n_modules;
    return r.score;
}

START_TEST(trainability_of_flat_blocks_from_their_jacobians)
{
    block_t blk[3];
    const int64_t wd[3] = { 5, 4, 7 };
    sigeo_model_t *m = mlp(blk, (int64_t *)wd);
    sigeo_batch_t b = batch(D);
    uint32_t n = 0;
    const double got = trainability(m, &b, 11, &n);
    ck_assert_uint_eq(n, 3);
    OK(sigeo_model_forward(NULL, m, &b));
    sigeo__rng_t rng;
    sigeo__rng_seed(&rng, 11);
    const int acts[3] = { SIGEO_ACT_RELU, SIGEO_ACT_TANH, SIGEO_ACT_GELU };
    double want = 0.0;
    for (int p = 2; p >= 1; p--) { /* the last pair first, as the draws go */
        float gout[B * 8], z[B * 8], W[8 * 8];
        rademacher(&rng, gout, B * wd[p]);
        node_out(m, blk[p].node - 1, z, B * wd[p]); /* the linear layer before the activation */
        weight(m, p, W, wd[p] * wd[p - 1]);
        want += pair_term(gout, z, acts[p], W, wd[p], wd[p - 1], 1, B);
    }
    close_to(got, want / 2.0, "trainability");
    /* Another seed draws other signs: another value. */
    ck_assert(fabs(trainability(m, &b, 12, NULL) - got) > 1e-9);
    sigeo_model_destroy(m);
}
END_TEST

/* conv (3, 4, 4) -> relu -> gap -> fc[5] -> tanh: the flat block has one
 * row per sample, so g_in is unshuffled to 3 x 16 channels (channel c, then
 * position), and the average pool's 1/16 is in the Jacobian. */
START_TEST(trainability_unshuffles_a_conv_block_onto_a_flat_one)
{
    block_t blk[2];
    sigeo_model_t *m = convnet(blk);
    sigeo_batch_t b = batch(2 * PIX);
    const double got = trainability(m, &b, 3, NULL);
    OK(sigeo_model_forward(NULL, m, &b));
    sigeo__rng_t rng;
    sigeo__rng_seed(&rng, 3);
    float gout[B * 5], z[B * 5], W[5 * 3];
    rademacher(&rng, gout, B * 5);
    node_out(m, blk[1].node - 1, z, B * 5);
    weight(m, 1, W, 5 * 3);
    close_to(got, pair_term(gout, z, SIGEO_ACT_TANH, W, 5, 3, PIX, B), "trainability");
    sigeo_model_destroy(m);
}
END_TEST

/* x -> fc[6] -> relu -> fc[6] -> reshape (2, 3) -> tanh -> fc[C]: the later
 * block has more rows per sample (2 tokens) than the flat earlier one, so
 * its g_out is unshuffled onto one row per sample (6 channels); the
 * reshape moves no value, so J = diag(tanh'(z)) W as for flat blocks. */
START_TEST(trainability_unshuffles_a_finer_later_block)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "fine"));
    int32_t h = shaped_input(m, D, NULL);
    h = block_layer(m, SIGEO_LAYER_LINEAR, h, 6, 0);
    h = block_layer(m, SIGEO_LAYER_ACTIVATION, h, 0, SIGEO_ACT_RELU);
    const int32_t z = h = block_layer(m, SIGEO_LAYER_LINEAR, h, 6, 0);
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = SIGEO_LAYER_RESHAPE;
    d.name = "tok";
    d.inputs = &h;
    d.n_inputs = 1;
    d.shape[0] = 2;
    d.shape[1] = 3;
    OK(sigeo_model_add_layer(&h, m, &d));
    h = block_layer(m, SIGEO_LAYER_ACTIVATION, h, 0, SIGEO_ACT_TANH);
    h = block_layer(m, SIGEO_LAYER_LINEAR, h, C, 0);
    OK(sigeo_model_set_loss(m, h, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    sigeo_batch_t b = batch(D);
    const double got = trainability(m, &b, 4, NULL);
    OK(sigeo_model_forward(NULL, m, &b));
    sigeo__rng_t rng;
    sigeo__rng_seed(&rng, 4);
    float gout[B * 6], zz[B * 6], W[6 * 6];
    rademacher(&rng, gout, B * 6);
    node_out(m, z, zz, B * 6);
    weight(m, 1, W, 6 * 6);
    close_to(got, pair_term(gout, zz, SIGEO_ACT_TANH, W, 6, 6, 1, B), "trainability");
    sigeo_model_destroy(m);
}
END_TEST

/* x -> fc -> sigmoid -> relu -> fc: the ReLU of a positive input passes
 * the gradient unchanged (g_in == g_out), the official -inf; one block
 * refuses. */
START_TEST(trainability_of_a_pure_pass_is_minus_infinity)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "pass"));
    int32_t h = shaped_input(m, D, NULL);
    h = block_layer(m, SIGEO_LAYER_LINEAR, h, 4, 0);
    h = block_layer(m, SIGEO_LAYER_ACTIVATION, h, 0, SIGEO_ACT_SIGMOID);
    h = block_layer(m, SIGEO_LAYER_ACTIVATION, h, 0, SIGEO_ACT_RELU);
    h = block_layer(m, SIGEO_LAYER_LINEAR, h, C, 0);
    OK(sigeo_model_set_loss(m, h, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    sigeo_batch_t b = batch(D);
    ck_assert(isinf(trainability(m, &b, 1, NULL)) && trainability(m, &b, 1, NULL) < 0);
    sigeo_model_destroy(m);
    OK(sigeo_model_create(&m, ctx, "one"));
    h = shaped_input(m, D, NULL);
    h = block_layer(m, SIGEO_LAYER_LINEAR, h, 4, 0);
    h = block_layer(m, SIGEO_LAYER_ACTIVATION, h, 0, SIGEO_ACT_RELU);
    h = block_layer(m, SIGEO_LAYER_LINEAR, h, C, 0);
    OK(sigeo_model_set_loss(m, h, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    o.kind = SIGEO_PROXY_AZ_TRAINABILITY;
    sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
    ck_assert_int_eq(sigeo_proxy_compute(m, NULL, 0, &b, 1, &o, &r), SIGEO_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(sigeo_last_error(), "az_trainability"));
    sigeo_model_destroy(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("az_nas");
    TCase *tc = tcase_create("az_nas");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, expressivity_and_progressivity_of_flat_blocks);
    tcase_add_test(tc, a_conv_block_counts_every_position_as_a_row_of_channels);
    tcase_add_test(tc, a_token_block_counts_every_token_as_a_row_of_embeddings);
    tcase_add_test(tc, complexity_is_flops_and_one_block_refuses_progressivity);
    tcase_add_test(tc, log_rank_aggregation_over_a_candidate_set);
    tcase_add_test(tc, trainability_of_flat_blocks_from_their_jacobians);
    tcase_add_test(tc, trainability_unshuffles_a_conv_block_onto_a_flat_one);
    tcase_add_test(tc, trainability_of_a_pure_pass_is_minus_infinity);
    tcase_add_test(tc, trainability_unshuffles_a_finer_later_block);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
