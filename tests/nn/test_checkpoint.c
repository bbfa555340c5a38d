/* Model checkpoints: bit-exact round trip, a file assembled by hand in the
 * test (an independent writer, PyTorch's layout), and every mismatch
 * reported with the model unchanged. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sigeo/model.h"

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

static sigeo_context_t *ctx;
static char dir[64];
static void setup(void)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.seed = 21;
    OK(sigeo_context_create(&ctx, &o));
    snprintf(dir, sizeof dir, "/tmp/sigeo-ckpt-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}
static void teardown(void)
{
    sigeo_context_destroy(ctx);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* MLP 3 -> 2 -> 2 named like PyTorch nn.Linear layers in order. */
static sigeo_model_t *mlp(void)
{
    sigeo_model_t *m;
    OK(sigeo_model_create(&m, ctx, "mlp"));
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "x";
    in.features = 3;
    int32_t x, h, y;
    OK(sigeo_model_add_input(&x, m, &in));
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.name = "fc0";
    d.inputs = &x;
    d.n_inputs = 1;
    d.units = 2;
    OK(sigeo_model_add_layer(&h, m, &d));
    d.name = "fc1";
    d.inputs = &h;
    OK(sigeo_model_add_layer(&y, m, &d));
    OK(sigeo_model_set_loss(m, y, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(m));
    return m;
}

static void all_params(sigeo_model_t *m, float *buf)
{
    int32_t n;
    OK(sigeo_model_param_count(&n, m));
    for (int32_t p = 0; p < n; p++) {
        sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
        OK(sigeo_model_param_info(&info, m, p));
        OK(sigeo_model_get_param(m, p, buf, info.numel));
        buf += info.numel;
    }
}

START_TEST(save_then_load_is_bit_exact)
{
    sigeo_model_t *a = mlp(), *b = mlp(); /* b draws different weights from the stream */
    float wa[14], wb[14];
    all_params(a, wa);
    all_params(b, wb);
    ck_assert(memcmp(wa, wb, sizeof wa) != 0);
    char path[128];
    snprintf(path, sizeof path, "%s/a.safetensors", dir);
    OK(sigeo_model_save(a, path));
    OK(sigeo_model_load(b, path, 0));
    all_params(b, wb);
    ck_assert(memcmp(wa, wb, sizeof wa) == 0);
    /* no temporary file left behind */
    char cmd[160];
    snprintf(cmd, sizeof cmd, "test $(ls %s | wc -l) -eq 1", dir);
    ck_assert_int_eq(system(cmd), 0);
    sigeo_model_destroy(a);
    sigeo_model_destroy(b);
}
END_TEST

/* Writes a safetensors file by hand: 8-byte little-endian header length,
 * JSON header, raw float32 data. */
static void write_by_hand(const char *path, const char *header, const float *data, size_t n_floats)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    uint64_t len = strlen(header);
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)(len >> (8 * i));
    ck_assert_uint_eq(fwrite(le, 1, 8, f), 8);
    ck_assert_uint_eq(fwrite(header, 1, len, f), len);
    ck_assert_uint_eq(fwrite(data, sizeof(float), n_floats, f), n_floats);
    ck_assert_int_eq(fclose(f), 0);
}

START_TEST(loads_a_file_written_by_an_independent_writer)
{
    sigeo_model_t *m = mlp();
    /* tensors in a different order than the model's, offsets by hand:
     * fc1.bias [2] at 0..8, fc0.weight [2,3] at 8..32, fc0.bias [2] at 32..40, fc1.weight [2,2] at 40..56 */
    const char *header = "{\"__metadata__\":{\"format\":\"pt\"},"
                         "\"fc1.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                         "\"fc0.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]},"
                         "\"fc0.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[32,40]},"
                         "\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[40,56]}}";
    const float data[14] = { 9, 10, 1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14 };
    char path[128];
    snprintf(path, sizeof path, "%s/torch.safetensors", dir);
    write_by_hand(path, header, data, 14);
    OK(sigeo_model_load(m, path, 0));
    float got[14];
    all_params(m, got); /* model order: fc0.weight, fc0.bias, fc1.weight, fc1.bias */
    const float want[14] = { 1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14, 9, 10 };
    ck_assert(memcmp(got, want, sizeof want) == 0);
    /* and the forward uses them: x = (1, 0, 0): h = (1+7, 4+8) = (8, 12);
     * y = (11*8 + 12*12 + 9, 13*8 + 14*12 + 10) = (241, 282) */
    const float x[3] = { 1, 0, 0 };
    const int32_t label = 0;
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = 1;
    b.dense = x;
    b.n_dense = 3;
    b.labels = &label;
    OK(sigeo_model_forward(NULL, m, &b));
    float y[2];
    int64_t cnt = 2;
    OK(sigeo_model_node_output(y, &cnt, m, 2));
    ck_assert_float_eq(y[0], 241.0f);
    ck_assert_float_eq(y[1], 282.0f);
    sigeo_model_destroy(m);
}
END_TEST

START_TEST(mismatches_are_named_and_leave_the_model_unchanged)
{
    sigeo_model_t *m = mlp();
    float before[14], after[14];
    all_params(m, before);
    char path[128];
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    const float data[16] = { 0 };
    /* wrong shape for fc0.weight */
    write_by_hand(path,
                  "{\"fc0.weight\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,24]},"
                  "\"fc0.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]},"
                  "\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[32,48]},"
                  "\"fc1.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[48,56]}}",
                  data, 14);
    ck_assert_int_eq(sigeo_model_load(m, path, 0), SIGEO_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(sigeo_model_last_error(m), "fc0.weight"));
    /* missing fc1.bias */
    write_by_hand(path,
                  "{\"fc0.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                  "\"fc0.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]},"
                  "\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[32,48]}}",
                  data, 12);
    ck_assert_int_eq(sigeo_model_load(m, path, 0), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(sigeo_last_error(), "fc1.bias"));
    all_params(m, after);
    ck_assert(memcmp(before, after, sizeof before) == 0);
    /* ... which ALLOW_MISSING accepts, keeping fc1.bias */
    OK(sigeo_model_load(m, path, SIGEO_LOAD_ALLOW_MISSING));
    all_params(m, after);
    ck_assert(after[0] == 0.0f && after[12] == before[12] && after[13] == before[13]);
    /* an extra tensor */
    write_by_hand(path,
                  "{\"fc0.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                  "\"fc0.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]},"
                  "\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[32,48]},"
                  "\"fc1.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[48,56]},"
                  "\"fc9.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[56,64]}}",
                  data, 16);
    ck_assert_int_eq(sigeo_model_load(m, path, 0), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(sigeo_last_error(), "fc9.bias"));
    OK(sigeo_model_load(m, path, SIGEO_LOAD_ALLOW_EXTRA));
    /* a NaN */
    float nan_data[14] = { 0 };
    nan_data[5] = NAN;
    write_by_hand(path,
                  "{\"fc0.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                  "\"fc0.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]},"
                  "\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[32,48]},"
                  "\"fc1.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[48,56]}}",
                  nan_data, 14);
    all_params(m, before);
    ck_assert_int_eq(sigeo_model_load(m, path, 0), SIGEO_ERR_NONFINITE);
    all_params(m, after);
    ck_assert(memcmp(before, after, sizeof before) == 0);
    /* truncated file and missing file */
    ck_assert_int_eq(truncate(path, 40), 0);
    ck_assert_int_eq(sigeo_model_load(m, path, 0), SIGEO_ERR_FORMAT);
    ck_assert_int_eq(sigeo_model_load(m, "/nonexistent/x.safetensors", 0), SIGEO_ERR_IO);
    /* saving into a missing directory */
    ck_assert_int_eq(sigeo_model_save(m, "/nonexistent/dir/x.safetensors"), SIGEO_ERR_IO);
    sigeo_model_destroy(m);
}
END_TEST

/* conv -> batch norm -> global pool -> linear: the running statistics are
 * saved under PyTorch's buffer names and restored; eval mode uses them. */
START_TEST(batch_norm_buffers_round_trip_and_eval_mode_uses_them)
{
    sigeo_model_t *m[2];
    for (int i = 0; i < 2; i++) {
        OK(sigeo_model_create(&m[i], ctx, "bn"));
        sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
        in.name = "x";
        in.features = 2 * 3 * 3;
        in.shape[0] = 2;
        in.shape[1] = 3;
        in.shape[2] = 3;
        int32_t x, h;
        OK(sigeo_model_add_input(&x, m[i], &in));
        sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
        d.kind = SIGEO_LAYER_BATCH_NORM;
        d.name = "bn";
        d.inputs = &x;
        d.n_inputs = 1;
        OK(sigeo_model_add_layer(&h, m[i], &d));
        d = (sigeo_layer_desc_t)SIGEO_LAYER_DESC_INIT;
        d.kind = SIGEO_LAYER_GLOBAL_AVG_POOL;
        d.name = "gap";
        d.inputs = &h;
        d.n_inputs = 1;
        OK(sigeo_model_add_layer(&h, m[i], &d));
        d = (sigeo_layer_desc_t)SIGEO_LAYER_DESC_INIT;
        d.name = "fc";
        d.inputs = &h;
        d.n_inputs = 1;
        d.units = 2;
        OK(sigeo_model_add_layer(&h, m[i], &d));
        OK(sigeo_model_set_loss(m[i], h, SIGEO_LOSS_SOFTMAX_CE));
        OK(sigeo_model_finalize(m[i]));
    }
    float xs[4 * 18];
    for (int i = 0; i < 4 * 18; i++)
        xs[i] = (float)((i * 7) % 11) - 3.0f;
    const int32_t labels[4] = { 0, 1, 1, 0 };
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = 4;
    b.dense = xs;
    b.n_dense = 18;
    b.labels = labels;
    OK(sigeo_model_forward_backward(NULL, m[0], &b)); /* train mode: updates the running statistics */
    char path[128];
    snprintf(path, sizeof path, "%s/bn.safetensors", dir);
    OK(sigeo_model_save(m[0], path));
    OK(sigeo_model_load(m[1], path, 0));
    /* eval mode on both: identical outputs only if the buffers came across */
    OK(sigeo_model_set_training(m[0], 0));
    OK(sigeo_model_set_training(m[1], 0));
    double l0, l1;
    OK(sigeo_model_forward(&l0, m[0], &b));
    OK(sigeo_model_forward(&l1, m[1], &b));
    ck_assert(l0 == l1);
    /* and eval differs from train mode (batch statistics vs running ones) */
    OK(sigeo_model_set_training(m[1], 1));
    OK(sigeo_model_forward(&l1, m[1], &b));
    ck_assert(l0 != l1);
    sigeo_model_destroy(m[0]);
    sigeo_model_destroy(m[1]);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("checkpoint");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, save_then_load_is_bit_exact);
    tcase_add_test(tc, loads_a_file_written_by_an_independent_writer);
    tcase_add_test(tc, mismatches_are_named_and_leave_the_model_unchanged);
    tcase_add_test(tc, batch_norm_buffers_round_trip_and_eval_mode_uses_them);
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
