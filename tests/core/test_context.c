/* Pins lib/core/context.c and lib/core/structs.c: context creation and its
 * options, the struct_size protocol (too small, older, newer with and
 * without unknown fields set), and that every public struct's _INIT macro
 * and _init() function produce the same bytes. */
#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "sigeo/data.h"
#include "sigeo/sigeo.h"
#include "sigeo/stats.h"
#include "test_util.h"

START_TEST(create_with_null_options_uses_the_defaults)
{
    sigeo_context_t *ctx = NULL;
    ck_assert_int_eq(sigeo_context_create(&ctx, NULL), SIGEO_OK);
    ck_assert_ptr_nonnull(ctx);
    sigeo_context_options_t got = SIGEO_CONTEXT_OPTIONS_INIT;
    got.seed = 777;
    ck_assert_int_eq(sigeo_context_get_options(&got, ctx), SIGEO_OK);
    ck_assert_uint_eq(got.struct_size, sizeof got);
    ck_assert_uint_ge(got.threads, 1);
    ck_assert_uint_eq(got.seed, 0);
    sigeo_context_destroy(ctx);
}
END_TEST

START_TEST(zero_threads_resolve_to_the_online_core_count)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.threads = 0;
    sigeo_context_t *ctx = NULL;
    ck_assert_int_eq(sigeo_context_create(&ctx, &o), SIGEO_OK);
    sigeo_context_options_t got = SIGEO_CONTEXT_OPTIONS_INIT;
    ck_assert_int_eq(sigeo_context_get_options(&got, ctx), SIGEO_OK);
    ck_assert_uint_ge(got.threads, 1);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online > 0)
        ck_assert_uint_eq(got.threads, (uint32_t)online);
    sigeo_context_destroy(ctx);
}
END_TEST

START_TEST(get_options_returns_what_create_was_given)
{
    const uint32_t threads[] = { 1, 3, 1024 };
    for (size_t i = 0; i < sizeof threads / sizeof threads[0]; i++) {
        sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
        o.threads = threads[i];
        o.seed = 0xDEADBEEFCAFEF00Dull + i;
        o.thread_policy = (uint32_t)(i % 2); /* AUTO, FIXED */
        o.parallel_min_flops = 1000u + i;    /* 0 would be resolved to the default */
        sigeo_context_t *ctx = NULL;
        ck_assert_int_eq(sigeo_context_create(&ctx, &o), SIGEO_OK);
        sigeo_context_options_t got;
        ck_assert_int_eq(sigeo_context_options_init(&got, sizeof got), SIGEO_OK);
        ck_assert_int_eq(sigeo_context_get_options(&got, ctx), SIGEO_OK);
        ck_assert_mem_eq(&got, &o, sizeof o);
        sigeo_context_destroy(ctx);
    }
}
END_TEST

START_TEST(get_options_into_an_older_struct_writes_only_its_prefix)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.threads = 2;
    o.seed = 99;
    sigeo_context_t *ctx = NULL;
    ck_assert_int_eq(sigeo_context_create(&ctx, &o), SIGEO_OK);
    sigeo_context_options_t got = SIGEO_CONTEXT_OPTIONS_INIT;
    got.struct_size = (uint32_t)offsetof(sigeo_context_options_t, seed);
    got.seed = 0x1234;
    ck_assert_int_eq(sigeo_context_get_options(&got, ctx), SIGEO_OK);
    ck_assert_uint_eq(got.struct_size, offsetof(sigeo_context_options_t, seed));
    ck_assert_uint_eq(got.threads, 2);
    ck_assert_uint_eq(got.seed, 0x1234); /* beyond the caller's struct: untouched */
    sigeo_context_destroy(ctx);
}
END_TEST

START_TEST(get_options_rejects_null_and_tiny_structs)
{
    sigeo_context_t *ctx = NULL;
    ck_assert_int_eq(sigeo_context_create(&ctx, NULL), SIGEO_OK);
    sigeo_context_options_t got = SIGEO_CONTEXT_OPTIONS_INIT;
    ck_assert_int_eq(sigeo_context_get_options(NULL, ctx), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo_context_get_options(&got, NULL), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "ctx");
    got.struct_size = 4;
    ck_assert_int_eq(sigeo_context_get_options(&got, ctx), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "struct_size");
    sigeo_context_destroy(ctx);
}
END_TEST

START_TEST(destroy_null_is_a_no_op)
{
    sigeo_context_destroy(NULL);
    uint64_t blocks = 1;
    sigeo_memory_in_use(NULL, &blocks);
    ck_assert_uint_eq(blocks, 0);
}
END_TEST

START_TEST(create_with_null_out_is_invalid)
{
    ck_assert_int_eq(sigeo_context_create(NULL, NULL), SIGEO_ERR_INVALID_ARG);
    ck_assert_str_contains(sigeo_last_error(), "out");
}
END_TEST

START_TEST(failed_create_leaves_out_null_and_holds_nothing)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.threads = 1025;
    sigeo_context_t *ctx = (sigeo_context_t *)(uintptr_t)0x40; /* garbage the call must clear */
    ck_assert_int_eq(sigeo_context_create(&ctx, &o), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_null(ctx);
    ck_assert_str_contains(sigeo_last_error(), "1025");
    uint64_t bytes = 1, blocks = 1;
    sigeo_memory_in_use(&bytes, &blocks);
    ck_assert_uint_eq(bytes, 0);
    ck_assert_uint_eq(blocks, 0);
}
END_TEST

START_TEST(struct_size_too_small_is_invalid)
{
    const uint32_t sizes[] = { 0, 1, 4, 7 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
        o.struct_size = sizes[i];
        sigeo_context_t *ctx = (sigeo_context_t *)(uintptr_t)0x40;
        ck_assert_int_eq(sigeo_context_create(&ctx, &o), SIGEO_ERR_INVALID_ARG);
        ck_assert_ptr_null(ctx);
        ck_assert_str_contains(sigeo_last_error(), "struct_size");
    }
}
END_TEST

/* Options from a newer libsigeo: the known struct followed by fields this
 * version has never heard of. */
typedef struct newer_context_options {
    sigeo_context_options_t known;
    uint64_t future_a;
    uint32_t future_b;
    uint32_t future_c;
} newer_context_options_t;

START_TEST(newer_struct_with_unknown_fields_set_is_unsupported)
{
    newer_context_options_t n;
    memset(&n, 0, sizeof n);
    n.known = (sigeo_context_options_t)SIGEO_CONTEXT_OPTIONS_INIT;
    n.known.struct_size = (uint32_t)sizeof n;
    n.future_c = 1; /* the very last byte range */
    sigeo_context_t *ctx = (sigeo_context_t *)(uintptr_t)0x40;
    ck_assert_int_eq(sigeo_context_create(&ctx, &n.known), SIGEO_ERR_UNSUPPORTED);
    ck_assert_ptr_null(ctx);
    ck_assert_uint_gt(strlen(sigeo_last_error()), 0);
    n.future_c = 0;
    n.future_a = 1ull << 63;
    ck_assert_int_eq(sigeo_context_create(&ctx, &n.known), SIGEO_ERR_UNSUPPORTED);
    ck_assert_ptr_null(ctx);
}
END_TEST

START_TEST(newer_struct_with_zero_unknown_fields_is_accepted)
{
    newer_context_options_t n;
    memset(&n, 0, sizeof n);
    n.known = (sigeo_context_options_t)SIGEO_CONTEXT_OPTIONS_INIT;
    n.known.struct_size = (uint32_t)sizeof n;
    n.known.threads = 2;
    n.known.seed = 5;
    sigeo_context_t *ctx = NULL;
    ck_assert_int_eq(sigeo_context_create(&ctx, &n.known), SIGEO_OK);
    sigeo_context_options_t got = SIGEO_CONTEXT_OPTIONS_INIT;
    ck_assert_int_eq(sigeo_context_get_options(&got, ctx), SIGEO_OK);
    ck_assert_uint_eq(got.struct_size, sizeof got);
    ck_assert_uint_eq(got.threads, 2);
    ck_assert_uint_eq(got.seed, 5);

    /* And get_options into the newer struct leaves its unknown tail alone. */
    newer_context_options_t out;
    memset(&out, 0xEE, sizeof out);
    out.known.struct_size = (uint32_t)sizeof out;
    ck_assert_int_eq(sigeo_context_get_options(&out.known, ctx), SIGEO_OK);
    ck_assert_uint_eq(out.known.struct_size, sizeof out);
    ck_assert_uint_eq(out.known.threads, 2);
    ck_assert_uint_eq(out.known.seed, 5);
    ck_assert_uint_eq(out.future_a, 0xEEEEEEEEEEEEEEEEull);
    sigeo_context_destroy(ctx);
}
END_TEST

START_TEST(older_struct_gets_defaults_for_fields_it_lacks)
{
    /* A binary built when the options ended before `seed` leaves whatever
     * bytes follow its struct; the library must not read them. */
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.struct_size = (uint32_t)offsetof(sigeo_context_options_t, seed);
    o.threads = 3;
    o.seed = 0xBADBADBADull;
    sigeo_context_t *ctx = NULL;
    ck_assert_int_eq(sigeo_context_create(&ctx, &o), SIGEO_OK);
    sigeo_context_options_t got = SIGEO_CONTEXT_OPTIONS_INIT;
    ck_assert_int_eq(sigeo_context_get_options(&got, ctx), SIGEO_OK);
    ck_assert_uint_eq(got.threads, 3);
    ck_assert_uint_eq(got.seed, 0);
    sigeo_context_destroy(ctx);
}
END_TEST

START_TEST(context_create_and_destroy_return_every_byte)
{
    uint64_t bytes0, blocks0;
    sigeo_memory_in_use(&bytes0, &blocks0);
    sigeo_context_t *ctx[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(sigeo_context_create(&ctx[i], NULL), SIGEO_OK);
    uint64_t bytes1, blocks1;
    sigeo_memory_in_use(&bytes1, &blocks1);
    ck_assert_uint_gt(blocks1, blocks0);
    ck_assert_uint_gt(bytes1, bytes0);
    for (int i = 0; i < 4; i++)
        sigeo_context_destroy(ctx[i]);
    uint64_t bytes2, blocks2;
    sigeo_memory_in_use(&bytes2, &blocks2);
    ck_assert_uint_eq(bytes2, bytes0);
    ck_assert_uint_eq(blocks2, blocks0);
}
END_TEST

/* ------------------------------------------------- _INIT versus _init() */

/* Static storage: the macro's object has its padding (if any) zeroed, so a
 * byte compare is meaningful. _init() is called on 0xA5-filled memory. Also:
 * a bigger struct_size zeroes the tail and records the size; a smaller one
 * writes only that prefix; NULL and struct_size < 8 are refused. */
#define CHECK_INIT_MATCHES_MACRO(T, INIT, init_fn)                                                          \
    do {                                                                                                    \
        static const T from_macro = INIT;                                                                   \
        ck_assert_uint_eq(from_macro.struct_size, sizeof(T));                                               \
        T via_fn;                                                                                           \
        memset(&via_fn, 0xA5, sizeof via_fn);                                                               \
        ck_assert_int_eq(init_fn(&via_fn, (uint32_t)sizeof(T)), SIGEO_OK);                                 \
        ck_assert_msg(memcmp(&via_fn, &from_macro, sizeof(T)) == 0, #INIT " and " #init_fn "() differ");   \
                                                                                                            \
        struct {                                                                                            \
            T t;                                                                                            \
            unsigned char tail[40];                                                                         \
        } big;                                                                                              \
        memset(&big, 0xA5, sizeof big);                                                                     \
        ck_assert_int_eq(init_fn(&big.t, (uint32_t)sizeof big), SIGEO_OK);                                 \
        ck_assert_uint_eq(big.t.struct_size, sizeof big);                                                   \
        ck_assert_msg(memcmp((const char *)&big.t + 4, (const char *)&from_macro + 4, sizeof(T) - 4) == 0,  \
                      #init_fn "() with a bigger struct_size changed the known fields");                    \
        for (size_t i_ = sizeof(T); i_ < sizeof big; i_++)                                                  \
            ck_assert_msg(((const unsigned char *)&big)[i_] == 0, #init_fn "() left tail byte %zu", i_);   \
                                                                                                            \
        T *small_t = &big.t;                                                                                \
        memset(small_t, 0xA5, sizeof(T));                                                                   \
        ck_assert_int_eq(init_fn(small_t, 8u), SIGEO_OK);                                                   \
        ck_assert_uint_eq(small_t->struct_size, 8u);                                                        \
        for (size_t i_ = 8; i_ < sizeof(T); i_++)                                                           \
            ck_assert_msg(((const unsigned char *)small_t)[i_] == 0xA5,                                     \
                          #init_fn "(8) wrote byte %zu beyond its struct", i_);                             \
                                                                                                            \
        ck_assert_int_eq(init_fn(NULL, (uint32_t)sizeof(T)), SIGEO_ERR_INVALID_ARG);                       \
        ck_assert_int_eq(init_fn(&via_fn, 7u), SIGEO_ERR_INVALID_ARG);                                     \
        ck_assert_int_eq(init_fn(&via_fn, 0u), SIGEO_ERR_INVALID_ARG);                                     \
    } while (0)

START_TEST(init_macro_and_function_agree_context_options)
{
    CHECK_INIT_MATCHES_MACRO(sigeo_context_options_t, SIGEO_CONTEXT_OPTIONS_INIT, sigeo_context_options_init);
}
END_TEST

START_TEST(init_macro_and_function_agree_allocator)
{
    CHECK_INIT_MATCHES_MACRO(sigeo_allocator_t, SIGEO_ALLOCATOR_INIT, sigeo_allocator_init);
}
END_TEST

START_TEST(init_macro_and_function_agree_stats_options)
{
    CHECK_INIT_MATCHES_MACRO(sigeo_stats_options_t, SIGEO_STATS_OPTIONS_INIT, sigeo_stats_options_init);
}
END_TEST

START_TEST(init_macro_and_function_agree_stats_batch)
{
    CHECK_INIT_MATCHES_MACRO(sigeo_stats_batch_t, SIGEO_STATS_BATCH_INIT, sigeo_stats_batch_init);
}
END_TEST

START_TEST(init_macro_and_function_agree_stats_result)
{
    CHECK_INIT_MATCHES_MACRO(sigeo_stats_result_t, SIGEO_STATS_RESULT_INIT, sigeo_stats_result_init);
}
END_TEST

START_TEST(init_macro_and_function_agree_stats_module_info)
{
    CHECK_INIT_MATCHES_MACRO(sigeo_stats_module_info_t, SIGEO_STATS_MODULE_INFO_INIT, sigeo_stats_module_info_init);
}
END_TEST

START_TEST(init_macro_and_function_agree_batch)
{
    CHECK_INIT_MATCHES_MACRO(sigeo_batch_t, SIGEO_BATCH_INIT, sigeo_batch_init);
}
END_TEST

START_TEST(stats_options_defaults_are_the_documented_ones)
{
    /* stats.h: module-wise ZiCo, exact FR, mean loss, zero-shot preset (1,1,0), ddof 0. */
    sigeo_stats_options_t o;
    ck_assert_int_eq(sigeo_stats_options_init(&o, sizeof o), SIGEO_OK);
    ck_assert_int_eq(o.zico_variant, SIGEO_ZICO_MODULE_WISE);
    ck_assert_int_eq(o.fr_estimator, SIGEO_FR_EXACT);
    ck_assert_int_eq(o.loss_term, SIGEO_LOSS_MEAN);
    ck_assert_int_eq(o.lambda_preset, SIGEO_PRESET_ZERO_SHOT);
    ck_assert_uint_eq(o.std_ddof, 0);
    ck_assert_double_eq(o.lambda1, 1.0);
    ck_assert_double_eq(o.lambda2, 1.0);
    ck_assert_double_eq(o.lambda3, 0.0);
    sigeo_context_options_t c;
    ck_assert_int_eq(sigeo_context_options_init(&c, sizeof c), SIGEO_OK);
    ck_assert_uint_eq(c.threads, 0);
    ck_assert_uint_eq(c.seed, 0);
}
END_TEST

static Suite *context_suite(void)
{
    Suite *s = suite_create("core_context");
    TCase *tc = tcase_create("context");
    tcase_add_test(tc, create_with_null_options_uses_the_defaults);
    tcase_add_test(tc, zero_threads_resolve_to_the_online_core_count);
    tcase_add_test(tc, get_options_returns_what_create_was_given);
    tcase_add_test(tc, get_options_into_an_older_struct_writes_only_its_prefix);
    tcase_add_test(tc, get_options_rejects_null_and_tiny_structs);
    tcase_add_test(tc, destroy_null_is_a_no_op);
    tcase_add_test(tc, create_with_null_out_is_invalid);
    tcase_add_test(tc, failed_create_leaves_out_null_and_holds_nothing);
    tcase_add_test(tc, struct_size_too_small_is_invalid);
    tcase_add_test(tc, newer_struct_with_unknown_fields_set_is_unsupported);
    tcase_add_test(tc, newer_struct_with_zero_unknown_fields_is_accepted);
    tcase_add_test(tc, older_struct_gets_defaults_for_fields_it_lacks);
    tcase_add_test(tc, context_create_and_destroy_return_every_byte);
    suite_add_tcase(s, tc);
    TCase *ti = tcase_create("init");
    tcase_add_test(ti, init_macro_and_function_agree_context_options);
    tcase_add_test(ti, init_macro_and_function_agree_allocator);
    tcase_add_test(ti, init_macro_and_function_agree_stats_options);
    tcase_add_test(ti, init_macro_and_function_agree_stats_batch);
    tcase_add_test(ti, init_macro_and_function_agree_stats_result);
    tcase_add_test(ti, init_macro_and_function_agree_stats_module_info);
    tcase_add_test(ti, init_macro_and_function_agree_batch);
    tcase_add_test(ti, stats_options_defaults_are_the_documented_ones);
    suite_add_tcase(s, ti);
    return s;
}

int main(void)
{
    return tu_run(context_suite());
}
