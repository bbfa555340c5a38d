/* What the tape reports about its last run, and per-kind knowledge that
 * lives in the op table (graph.h) rather than in switches elsewhere:
 *
 *  - sample_losses_need_a_forward_with_the_loss: after forward with the
 *    loss, the per-sample losses are the batch's (checked against the
 *    cross-entropy computed here from the logits); after a forward WITHOUT
 *    the loss on another batch they are refused (not the older batch's
 *    values with SIGEO_OK);
 *  - elastic_norm_masks_follow_the_op_slice: the proxy layer's active mask
 *    of an elastic layer norm's gamma and beta (fed by a concat of two
 *    elastic linears, so its active features are two runs) marks exactly
 *    the entries of the active features, derived here from the widths; and
 *    the extracted standalone model's gamma holds those entries;
 *  - linear_weight_mask_is_rows_by_input_runs: the mask of a linear weight
 *    reading that concat is the active rows x the columns of the runs;
 *  - attention_module_shows_all_four_parameters: the proxy layer's view of
 *    an attention module holds all four tensors (in_proj weight and bias,
 *    out_proj weight and bias), consecutive, adding up to the module.
 * Internal entry point (sigeo__probe_active_mask): the static twin. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "build.h"
#include "nn/probe.h"
#include "sigeo/model.h"
#include "sigeo/sigeo.h"

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

enum { B = 4, F = 5, C = 3 };

static sigeo_context_t *ctx;

static void setup(void)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.seed = 3;
    o.threads = 1;
    OK(sigeo_context_create(&ctx, &o));
}

static void teardown(void)
{
    sigeo_context_destroy(ctx);
    ctx = NULL;
}

static void fill(float *x, int n, uint64_t seed)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((int)(seed >> 40 & 0xffff) - 32768) / 16384.0f;
    }
}

START_TEST(sample_losses_need_a_forward_with_the_loss)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "plain"));
    int32_t logits = linear_on(m, "fc", flat_input(m, "x", F), C, -1);
    OK(sigeo_model_set_loss(m, logits, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));

    float dense[2][B * F];
    fill(dense[0], B * F, 1);
    fill(dense[1], B * F, 2);
    int32_t labels[2][B] = { { 0, 1, 2, 1 }, { 2, 2, 0, 1 } };
    sigeo_batch_t b[2];
    for (int k = 0; k < 2; k++) {
        b[k] = (sigeo_batch_t)SIGEO_BATCH_INIT;
        b[k].batch_size = B;
        b[k].dense = dense[k];
        b[k].n_dense = F;
        b[k].labels = labels[k];
    }
    double loss;
    OK(sigeo_model_forward(&loss, m, &b[0]));
    float got[B];
    int64_t count = B;
    OK(sigeo_model_sample_losses(got, &count, m));
    ck_assert_int_eq(count, B);
    /* -log softmax(z)[label], from the logits the model reports */
    float z[B * C];
    count = B * C;
    OK(sigeo_model_node_output(z, &count, m, logits));
    for (int n = 0; n < B; n++) {
        double mx = z[n * C];
        for (int c = 1; c < C; c++)
            mx = fmax(mx, z[n * C + c]);
        double se = 0.0;
        for (int c = 0; c < C; c++)
            se += exp(z[n * C + c] - mx);
        const double want = log(se) + mx - z[n * C + labels[0][n]];
        ck_assert_msg(fabs(got[n] - want) <= 1e-5 * (1.0 + fabs(want)), "row %d: %g vs %g", n, got[n], want);
    }

    /* A forward without the loss on another batch: its per-sample losses
     * were never computed, and the first batch's are not this one's. */
    OK(sigeo_model_forward(NULL, m, &b[1]));
    count = B;
    float stale[B];
    memset(stale, 0, sizeof stale);
    ck_assert_int_eq(sigeo_model_sample_losses(stale, &count, m), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(sigeo_model_last_error(m), "without the loss"));
    int64_t need = -1;
    ck_assert_int_eq(sigeo_model_sample_losses(NULL, &need, m), SIGEO_ERR_INVALID_ARG);

    /* With the loss again: available, and the second batch's. */
    OK(sigeo_model_forward(&loss, m, &b[1]));
    count = B;
    OK(sigeo_model_sample_losses(got, &count, m));
    double mean = 0.0;
    for (int n = 0; n < B; n++)
        mean += got[n] / (double)B;
    ck_assert_double_eq_tol(mean, loss, 1e-5 * (1.0 + fabs(loss)));
    sigeo_model_destroy(m);
}
END_TEST

/* x -> fa (max 4, widths {2, 4}) and fb (max 4, widths {1, 4}) -> concat ->
 * layer norm -> fc (3) -> softmax CE. With widths (2, 1) the norm's active
 * features are the runs [0, 2) and [4, 5) of its max layout [0, 8). */
static sigeo_model_t *elastic_norm(int32_t *fc_out)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "elastic-norm"));
    int32_t x = flat_input(m, "x", F);
    int32_t ca, cb;
    OK(sigeo_model_add_choice(&ca, m, "wa", 2, (const int64_t[]){ 2, 4 }));
    OK(sigeo_model_add_choice(&cb, m, "wb", 2, (const int64_t[]){ 1, 4 }));
    const int32_t ins[2] = { linear_on(m, "fa", x, 4, ca), linear_on(m, "fb", x, 4, cb) };
    sigeo_layer_desc_t cat = desc(SIGEO_LAYER_CONCAT, "cat", ins);
    cat.n_inputs = 2;
    int32_t h = add(m, &cat);
    sigeo_layer_desc_t ln = desc(SIGEO_LAYER_LAYER_NORM, "ln", &h);
    int32_t y = add(m, &ln);
    int32_t out = linear_on(m, "fc", y, C, -1);
    OK(sigeo_model_set_loss(m, out, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    if (fc_out)
        *fc_out = out;
    return m;
}

static int32_t module_named(const sigeo_model_t *m, const char *name)
{
    int32_t n;
    OK(sigeo_model_module_count(&n, m));
    for (int32_t k = 0; k < n; k++)
        if (strcmp(sigeo_model_module_name(m, k), name) == 0)
            return k;
    ck_abort_msg("no module '%s'", name);
    return -1;
}

START_TEST(elastic_norm_masks_follow_the_op_slice)
{
    sigeo_model_t *m = elastic_norm(NULL);
    const int32_t arch[2] = { 0, 0 }; /* widths 2 and 1 */
    OK(sigeo_model_activate(m, arch, 2));
    const int32_t ln = module_named(m, "ln");
    sigeo__probe_module_t mod;
    sigeo__probe_module(&mod, m, ln);
    ck_assert_int_eq(mod.n_params, 2); /* gamma and beta, both reported */
    /* The active features of the concat's max layout [fa 0..4 | fb 4..8]. */
    uint8_t want[8] = { 0 };
    for (int j = 0; j < 2; j++)
        want[j] = 1;
    for (int j = 0; j < 1; j++)
        want[4 + j] = 1;
    for (int32_t p = 0; p < 2; p++) {
        ck_assert_int_eq(mod.params[p].numel, 8);
        ck_assert_int_eq(mod.params[p].active_numel, 3);
        uint8_t mask[8];
        memset(mask, 7, sizeof mask);
        OK(sigeo__probe_active_mask(mask, m, ln, p));
        for (int j = 0; j < 8; j++)
            ck_assert_msg(mask[j] == want[j], "ln param %d entry %d: mask %d, want %d", (int)p, j, mask[j], want[j]);
    }

    /* The standalone model's gamma is the supernet's gamma at those entries
     * (set distinct values first: a fresh norm's gamma is all ones). */
    int32_t gp;
    OK(sigeo_model_find_param(&gp, m, "ln.weight"));
    float g[8];
    for (int j = 0; j < 8; j++)
        g[j] = 0.5f + (float)j;
    OK(sigeo_model_set_param(m, gp, g, 8));
    sigeo_model_t *x;
    OK(sigeo_model_extract(&x, m, arch, 2, 1));
    int32_t xp;
    OK(sigeo_model_find_param(&xp, x, "ln.weight"));
    float xg[3];
    OK(sigeo_model_get_param(x, xp, xg, 3));
    int k = 0;
    for (int j = 0; j < 8; j++)
        if (want[j])
            ck_assert_float_eq(xg[k++], g[j]);
    sigeo_model_destroy(x);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(linear_weight_mask_is_rows_by_input_runs)
{
    sigeo_model_t *m = elastic_norm(NULL);
    const int32_t arch[2] = { 1, 0 }; /* widths 4 and 1: runs [0, 4) and [4, 5) */
    OK(sigeo_model_activate(m, arch, 2));
    const int32_t fc = module_named(m, "fc");
    sigeo__probe_module_t mod;
    sigeo__probe_module(&mod, m, fc);
    ck_assert_int_eq(mod.n_params, 2);
    uint8_t mask[C * 8];
    OK(sigeo__probe_active_mask(mask, m, fc, 0)); /* weight [3, 8]: all rows, columns 0..4 */
    for (int r = 0; r < C; r++)
        for (int c = 0; c < 8; c++)
            ck_assert_msg(mask[r * 8 + c] == (c < 5), "fc.weight (%d, %d): mask %d", r, c, mask[r * 8 + c]);
    /* fa's weight [4, 5] at full width: all active */
    const int32_t fb = module_named(m, "fb");
    uint8_t mb[4 * F];
    OK(sigeo__probe_active_mask(mb, m, fb, 0)); /* fb at width 1: row 0 only */
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < F; c++)
            ck_assert_int_eq(mb[r * F + c], r == 0);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(attention_module_shows_all_four_parameters)
{
    enum { T = 3, E = 4 };
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "attn"));
    int32_t x = flat_input(m, "x", T * E);
    sigeo_layer_desc_t r = desc(SIGEO_LAYER_RESHAPE, "tokens", &x);
    r.shape[0] = T;
    r.shape[1] = E;
    int32_t tok = add(m, &r);
    sigeo_layer_desc_t a = desc(SIGEO_LAYER_ATTENTION, "mha", &tok);
    a.heads = 2;
    int32_t y = add(m, &a);
    OK(sigeo_model_set_loss(m, linear_on(m, "fc", y, C, -1), SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    sigeo__probe_module_t mod;
    sigeo__probe_module(&mod, m, module_named(m, "mha"));
    ck_assert_int_eq(mod.n_params, 4);
    const int64_t numel[4] = { 3 * E * E, 3 * E, E * E, E };
    int64_t off = 0;
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(mod.params[i].numel, numel[i]);
        ck_assert_int_eq(mod.params[i].offset, off);
        off += numel[i];
    }
    ck_assert_int_eq(off, mod.numel);
    sigeo_model_destroy(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tape_state");
    TCase *tc = tcase_create("tape_state");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, sample_losses_need_a_forward_with_the_loss);
    tcase_add_test(tc, elastic_norm_masks_follow_the_op_slice);
    tcase_add_test(tc, linear_weight_mask_is_rows_by_input_runs);
    tcase_add_test(tc, attention_module_shows_all_four_parameters);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
