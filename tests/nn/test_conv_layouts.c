/* The conv on oneDNN's direct-kernel layouts (channels-last / blocked, with
 * staging reorders, borrowed copies and accumulation on the reorder) against
 * the plain-layout path it replaced (sigeo__conv_force_plain), on the cell
 * space's all-nor_conv_3x3 network: its cells' input nodes feed several
 * convs (accumulating input gradients), stride-2 and 1x1 convs, train-mode
 * batch norm. Both paths compute the same float sums in other orders:
 * conv outputs carry relative rounding ~K u (K <= 288 terms, u = 6e-8),
 * a few 1e-5 after the ~20 layers; a layout, staging or accumulation bug
 * gives errors of the size of the values. Tolerance: 1e-3 of each
 * tensor's largest entry (plus a floor for gradients that are zero up to
 * rounding). Static twin: the switch is internal. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "nn/backend.h"
#include "sigeo/model.h"
#include "sigeo/proxy.h"
#include "sigeo/search.h"
#include "sigeo/sigeo.h"

enum { B = 8, FEATURES = 784, CLASSES = 10 };

typedef struct run {
    double loss, fr;
    int32_t n_params;
    float **grad;
    int64_t *numel;
} run_t;

static int32_t layer(sigeo_model_t *m, sigeo_layer_kind_t kind, const char *name, const int32_t *in, uint32_t n_in,
                     int64_t units, int64_t k)
{
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = kind;
    d.name = name;
    d.inputs = in;
    d.n_inputs = n_in;
    d.units = units;
    d.kernel[0] = d.kernel[1] = k;
    d.padding[0] = d.padding[1] = k / 2;
    if (kind == SIGEO_LAYER_RESHAPE) {
        d.shape[0] = 8;
        d.shape[1] = 10;
        d.shape[2] = 10;
    }
    int32_t id;
    ck_assert_msg(sigeo_model_add_layer(&id, m, &d) == SIGEO_OK, "%s: %s", name, sigeo_last_error());
    return id;
}

/* The cell network's conv inputs are ReLU outputs (one consumer each), so
 * nothing accumulates there: here an image feeds a 3x3 and a 1x1 conv
 * whose outputs are summed, so its gradient (reaching fc) accumulates. */
static sigeo_model_t *fork_model(sigeo_context_t *ctx)
{
    sigeo_model_t *m;
    ck_assert_int_eq(sigeo_model_create(&m, ctx, "fork"), SIGEO_OK);
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "x";
    in.features = 6;
    int32_t x;
    ck_assert_int_eq(sigeo_model_add_input(&x, m, &in), SIGEO_OK);
    int32_t fc = layer(m, SIGEO_LAYER_LINEAR, "fc", &x, 1, 800, 0);
    int32_t img = layer(m, SIGEO_LAYER_RESHAPE, "img", &fc, 1, 0, 0);
    const int32_t pair[2] = { layer(m, SIGEO_LAYER_CONV2D, "c3", &img, 1, 16, 3),
                              layer(m, SIGEO_LAYER_CONV2D, "c1", &img, 1, 16, 1) };
    int32_t sum = layer(m, SIGEO_LAYER_SUM, "sum", pair, 2, 0, 0);
    int32_t head = layer(m, SIGEO_LAYER_LINEAR, "head", &sum, 1, CLASSES, 0);
    ck_assert_int_eq(sigeo_model_set_loss(m, head, SIGEO_LOSS_SOFTMAX_CE), SIGEO_OK);
    ck_assert_msg(sigeo_model_finalize(m) == SIGEO_OK, "%s", sigeo_last_error());
    return m;
}

/* Plain or staged convs, one forward+backward and one exact-FR SiGeo
 * evaluation of the same weights (context seed 1) and batch. */
static run_t run(bool plain, bool fork, const float *x, const int32_t *y)
{
    sigeo__conv_force_plain(plain);
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.seed = 1;
    co.threads = 1;
    sigeo_context_t *ctx;
    ck_assert_int_eq(sigeo_context_create(&ctx, &co), SIGEO_OK);
    int32_t ops[6];
    ck_assert_int_eq(sigeo_nb201_from_string(ops, "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|"
                                                  "nor_conv_3x3~1|nor_conv_3x3~2|"),
                     SIGEO_OK);
    sigeo_model_t *m = NULL;
    if (fork)
        m = fork_model(ctx);
    else
        ck_assert_msg(sigeo_nb201_build(&m, ctx, ops) == SIGEO_OK, "%s", sigeo_last_error());
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = B;
    b.dense = x;
    b.n_dense = fork ? 6 : FEATURES;
    b.labels = y;
    run_t r = { 0 };
    ck_assert_msg(sigeo_model_forward_backward(&r.loss, m, &b) == SIGEO_OK, "%s", sigeo_last_error());
    ck_assert_int_eq(sigeo_model_param_count(&r.n_params, m), SIGEO_OK);
    r.grad = calloc((size_t)r.n_params, sizeof *r.grad);
    r.numel = calloc((size_t)r.n_params, sizeof *r.numel);
    ck_assert(r.grad && r.numel);
    for (int32_t i = 0; i < r.n_params; i++) {
        sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
        ck_assert_int_eq(sigeo_model_param_info(&info, m, i), SIGEO_OK);
        r.numel[i] = info.numel;
        r.grad[i] = malloc((size_t)info.numel * sizeof(float));
        ck_assert_ptr_nonnull(r.grad[i]);
        ck_assert_int_eq(sigeo_model_get_grad(m, i, r.grad[i], info.numel), SIGEO_OK);
    }
    sigeo_batch_t two[2] = { b, b };
    two[1].dense = x + B * b.n_dense;
    two[1].labels = y + B;
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT; /* SiGeo, exact FR: the forward-mode pass */
    sigeo_proxy_result_t res = SIGEO_PROXY_RESULT_INIT;
    ck_assert_msg(sigeo_proxy_compute(m, NULL, 0, two, 2, &o, &res) == SIGEO_OK, "%s", sigeo_last_error());
    r.fr = res.fr;
    sigeo_model_destroy(m);
    sigeo_context_destroy(ctx);
    sigeo__conv_force_plain(false);
    return r;
}

static void run_free(run_t *r)
{
    for (int32_t i = 0; i < r->n_params; i++)
        free(r->grad[i]);
    free(r->grad);
    free(r->numel);
}

static void compare(bool fork)
{
    float *x = malloc(2 * B * FEATURES * sizeof *x);
    int32_t y[2 * B];
    ck_assert_ptr_nonnull(x);
    uint64_t s = 12345;
    for (int i = 0; i < 2 * B * FEATURES; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((s >> 40) & 0xffff) / 65535.0f; /* pixel-like, in [0, 1] */
    }
    for (int i = 0; i < 2 * B; i++)
        y[i] = i % CLASSES;
    run_t staged = run(false, fork, x, y), plain = run(true, fork, x, y);
    ck_assert_int_eq(staged.n_params, plain.n_params);
    ck_assert_double_eq_tol(staged.loss, plain.loss, 1e-5 * fabs(plain.loss));
    ck_assert_msg(fabs(staged.fr - plain.fr) <= 1e-3 * fabs(plain.fr), "exact FR %.9g (staged) vs %.9g (plain)",
                  staged.fr, plain.fr);
    /* Gradients that are zero up to rounding (some tensors' are ~1e-10 here)
     * get an absolute floor: 1e-5 of the largest gradient entry overall. */
    double all = 0.0;
    for (int32_t i = 0; i < plain.n_params; i++)
        for (int64_t j = 0; j < plain.numel[i]; j++)
            all = fmax(all, fabs(plain.grad[i][j]));
    ck_assert(all > 0.0);
    for (int32_t i = 0; i < plain.n_params; i++) {
        double big = 0.0, diff = 0.0;
        for (int64_t j = 0; j < plain.numel[i]; j++) {
            big = fmax(big, fabs(plain.grad[i][j]));
            diff = fmax(diff, fabs((double)staged.grad[i][j] - plain.grad[i][j]));
        }
        ck_assert_msg(diff <= 1e-3 * big + 1e-5 * all, "parameter %d: max |staged - plain| %.3g, largest |grad| %.3g", (int)i,
                      diff, big);
    }
    run_free(&staged);
    run_free(&plain);
    free(x);
}

START_TEST(staged_conv_layouts_match_the_plain_path_on_the_cell_network)
{
    compare(false);
}
END_TEST

START_TEST(staged_conv_layouts_match_the_plain_path_where_an_input_gradient_accumulates)
{
    compare(true);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conv_layouts");
    TCase *tc = tcase_create("conv_layouts");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, staged_conv_layouts_match_the_plain_path_on_the_cell_network);
    tcase_add_test(tc, staged_conv_layouts_match_the_plain_path_where_an_input_gradient_accumulates);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
