/* The "nb201-fmnist" cell space (docs/cellspace.md §1):
 * - #params and FLOPs of the standalone network and of the supernet's
 *   arch against counts derived HERE from the per-op formulas of §1 (the
 *   all-nor_conv_3x3 network: 9,599,626 FLOPs, 91,842 params);
 * - the standalone network equals the supernet's extracted arch and the
 *   supernet with the arch active (same outputs given the same weights);
 * - arch strings and ids round-trip for all 15625 archs, with a known
 *   string <-> id pair; malformed strings / ids fail with a clear message;
 * - degenerate archs: 341 of 15625 by a brute-force reachability walk written
 *   here, and the library's flag agrees with it for every arch. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigeo/search.h"

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

static sigeo_context_t *ctx;
static void setup(void)
{
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    o.seed = 21;
    o.threads = 1;
    OK(sigeo_context_create(&ctx, &o));
}
static void teardown(void)
{
    sigeo_context_destroy(ctx);
    ctx = NULL;
}

/* §1's per-op formulas: per cell of width c on HW pixels, per edge:
 * conv1x1 c^2+2c params / c^2 HW FLOPs; conv3x3 9c^2+2c / 9c^2 HW; pool 0 / 9c HW;
 * fixed parts: stem 88 / 56448, head 394 / 330, res 3648 / 708736, 14464 / 705600. */
static void hand_count(int64_t *params, int64_t *flops, const int32_t ops[6])
{
    static const int64_t C[3] = { 8, 16, 32 }, HW[3] = { 784, 196, 49 };
    int64_t p = 88 + 394 + 3648 + 14464, f = 56448 + 330 + 708736 + 705600;
    for (int k = 0; k < 3; k++)
        for (int e = 0; e < 6; e++) {
            const int64_t c = C[k], hw = HW[k];
            if (ops[e] == 2) {
                p += c * c + 2 * c;
                f += c * c * hw;
            } else if (ops[e] == 3) {
                p += 9 * c * c + 2 * c;
                f += 9 * c * c * hw;
            } else if (ops[e] == 4)
                f += 9 * c * hw;
        }
    *params = p;
    *flops = f;
}

START_TEST(counts_match_the_per_op_formulas)
{
    const int32_t conv3[6] = { 3, 3, 3, 3, 3, 3 };
    sigeo_model_t *m;
    OK(sigeo_nb201_build(&m, ctx, conv3));
    int64_t p, f;
    OK(sigeo_model_count(&p, &f, m, NULL, 0));
    ck_assert_int_eq(p, 91842);
    ck_assert_int_eq(f, 9599626);
    sigeo_model_destroy(m);

    sigeo_model_t *super;
    OK(sigeo_space_build(&super, ctx, "nb201-fmnist", NULL));
    int32_t n;
    OK(sigeo_model_choices(&n, NULL, 0, super));
    ck_assert_int_eq(n, 6);
    const int32_t archs[][6] = {
        { 3, 3, 3, 3, 3, 3 }, { 0, 0, 0, 0, 0, 0 }, { 1, 1, 1, 1, 1, 1 }, { 4, 4, 4, 4, 4, 4 },
        { 2, 2, 2, 2, 2, 2 }, { 3, 3, 4, 1, 3, 1 }, { 2, 0, 0, 0, 0, 3 }, /* dead ends: node 1 reaches nothing */
        { 0, 4, 2, 3, 1, 0 }, { 3, 0, 0, 0, 0, 0 },                       /* degenerate, with a conv on 0->1 */
    };
    for (size_t a = 0; a < sizeof archs / sizeof archs[0]; a++) {
        int64_t want_p, want_f;
        hand_count(&want_p, &want_f, archs[a]);
        OK(sigeo_nb201_build(&m, ctx, archs[a]));
        OK(sigeo_model_count(&p, &f, m, NULL, 0));
        ck_assert_msg(p == want_p && f == want_f, "arch %zu standalone: %lld params %lld FLOPs, want %lld %lld", a,
                      (long long)p, (long long)f, (long long)want_p, (long long)want_f);
        sigeo_model_destroy(m);
        OK(sigeo_model_count(&p, &f, super, archs[a], 6));
        ck_assert_msg(p == want_p && f == want_f, "arch %zu supernet: %lld params %lld FLOPs, want %lld %lld", a,
                      (long long)p, (long long)f, (long long)want_p, (long long)want_f);
    }
    sigeo_model_destroy(super);
}
END_TEST

/* Per-sample losses of a forward (a function of every logit): node ids
 * differ between the models, the losses do not. */
static float *logits(sigeo_model_t *m, const sigeo_batch_t *b, int64_t *n)
{
    double mean;
    OK(sigeo_model_forward(&mean, m, b));
    int64_t count = 0;
    OK(sigeo_model_sample_losses(NULL, &count, m));
    float *buf = malloc((size_t)count * sizeof *buf);
    OK(sigeo_model_sample_losses(buf, &count, m));
    *n = count;
    return buf;
}

START_TEST(standalone_equals_the_supernets_extraction)
{
    enum { B = 6 };
    static float x[B * 784];
    int32_t labels[B];
    unsigned s = 7;
    for (int i = 0; i < B * 784; i++) {
        s = s * 1103515245u + 12345u;
        x[i] = (float)((s >> 16) & 255) / 255.0f;
    }
    for (int i = 0; i < B; i++)
        labels[i] = i % 10;
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = B;
    b.dense = x;
    b.n_dense = 784;
    b.labels = labels;
    sigeo_model_t *super;
    OK(sigeo_space_build(&super, ctx, "nb201-fmnist", NULL));
    /* A strong head, so the losses are far from log 10 and tell archs apart. */
    int32_t hw;
    OK(sigeo_model_find_param(&hw, super, "head.fc.weight"));
    float w[320];
    OK(sigeo_model_get_param(super, hw, w, 320));
    for (int i = 0; i < 320; i++)
        w[i] *= 30.0f;
    OK(sigeo_model_set_param(super, hw, w, 320));
    const int32_t archs[][6] = { { 3, 3, 4, 1, 3, 1 }, { 2, 0, 0, 4, 0, 3 }, { 0, 0, 0, 0, 0, 0 }, { 1, 2, 3, 4, 0, 2 } };
    for (size_t a = 0; a < sizeof archs / sizeof archs[0]; a++) {
        sigeo_model_t *alone, *ex;
        OK(sigeo_nb201_build(&alone, ctx, archs[a]));
        OK(sigeo_model_extract(&ex, super, archs[a], 6, 1));
        /* the standalone network takes the supernet's weights by name: every one must exist there */
        int32_t np;
        OK(sigeo_model_param_count(&np, alone));
        int32_t np_ex;
        OK(sigeo_model_param_count(&np_ex, ex));
        ck_assert_int_eq(np, np_ex);
        for (int32_t p = 0; p < np; p++) {
            sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
            OK(sigeo_model_param_info(&info, alone, p));
            int32_t q;
            ck_assert_msg(sigeo_model_find_param(&q, super, info.name) == SIGEO_OK, "arch %zu: '%s' not in the supernet",
                          a, info.name);
            float *v = malloc((size_t)info.numel * sizeof *v);
            OK(sigeo_model_get_param(super, q, v, info.numel));
            OK(sigeo_model_set_param(alone, p, v, info.numel));
            free(v);
        }
        OK(sigeo_model_activate(super, archs[a], 6));
        int64_t n1, n2, n3;
        float *l1 = logits(alone, &b, &n1), *l2 = logits(ex, &b, &n2), *l3 = logits(super, &b, &n3);
        ck_assert_int_eq(n1, B);
        ck_assert_int_eq(n2, B);
        ck_assert_int_eq(n3, B);
        for (int i = 0; i < B; i++) {
            ck_assert_msg(fabsf(l1[i] - l2[i]) <= 1e-4f * (1 + fabsf(l2[i])), "arch %zu sample %d: %g vs extracted %g",
                          a, i, l1[i], l2[i]);
            ck_assert_msg(fabsf(l1[i] - l3[i]) <= 1e-4f * (1 + fabsf(l3[i])), "arch %zu sample %d: %g vs supernet %g", a,
                          i, l1[i], l3[i]);
        }
        /* the stem's gradient flows back through every cell: equal too */
        float g1[72], g3[72];
        int32_t sp;
        OK(sigeo_model_forward_backward(NULL, alone, &b));
        OK(sigeo_model_find_param(&sp, alone, "stem.conv.weight"));
        OK(sigeo_model_get_grad(alone, sp, g1, 72));
        OK(sigeo_model_forward_backward(NULL, super, &b));
        OK(sigeo_model_find_param(&sp, super, "stem.conv.weight"));
        OK(sigeo_model_get_grad(super, sp, g3, 72));
        double gmax = 0;
        for (int i = 0; i < 72; i++) {
            gmax = fmax(gmax, fabs(g3[i]));
            ck_assert_msg(fabsf(g1[i] - g3[i]) <= 1e-3f * (fabsf(g3[i]) + 1e-3f), "arch %zu stem grad %d: %g vs %g", a,
                          i, g1[i], g3[i]);
        }
        ck_assert(a == 2 || gmax > 0); /* the degenerate arch's stem gets none */
        /* a different arch gives different losses: the comparison has teeth */
        if (a == 0) {
            const int32_t other[6] = { 3, 3, 4, 1, 3, 2 };
            OK(sigeo_model_activate(super, other, 6));
            int64_t n4;
            float *l4 = logits(super, &b, &n4);
            double diff = 0;
            for (int i = 0; i < B; i++)
                diff += fabs(l4[i] - l1[i]);
            ck_assert(diff > 1e-3);
            free(l4);
        }
        free(l1);
        free(l2);
        free(l3);
        sigeo_model_destroy(alone);
        sigeo_model_destroy(ex);
    }
    sigeo_model_destroy(super);
}
END_TEST

START_TEST(strings_and_ids_round_trip)
{
    int32_t ops[6];
    OK(sigeo_nb201_from_string(
        ops, "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"));
    const int32_t want[6] = { 3, 3, 4, 1, 3, 1 };
    ck_assert_mem_eq(ops, want, sizeof want);
    int64_t id;
    OK(sigeo_nb201_to_id(&id, ops));
    ck_assert_int_eq(id, 3 + 3 * 5 + 4 * 25 + 1 * 125 + 3 * 625 + 1 * 3125);
    for (int64_t i = 0; i < SIGEO_NB201_ARCHS; i++) {
        char text[160];
        size_t len, need;
        int32_t a[6], back[6];
        OK(sigeo_nb201_from_id(a, i));
        int64_t r = i;
        for (int e = 0; e < 6; e++, r /= 5)
            ck_assert_int_eq(a[e], r % 5);
        OK(sigeo_nb201_to_string(NULL, 0, &need, a));
        OK(sigeo_nb201_to_string(text, sizeof text, &len, a));
        ck_assert_uint_eq(len, need);
        ck_assert_uint_eq(strlen(text), len);
        OK(sigeo_nb201_from_string(back, text));
        ck_assert_mem_eq(a, back, sizeof back);
        int64_t j;
        OK(sigeo_nb201_to_id(&j, back));
        ck_assert_int_eq(i, j);
    }
}
END_TEST

START_TEST(malformed_strings_and_ids_fail_clearly)
{
    int32_t ops[6] = { 9, 9, 9, 9, 9, 9 };
    const struct {
        const char *text, *says;
    } bad[] = {
        { "", "expected '|' at offset 0" },
        { "|nor_conv_3x3~0|", "expected '+' at offset 16" },
        { "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op at offset 1" },
        { "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "must read '~0|'" },
        { "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|x", "trailing characters at offset 47" },
        { "|none~0|+|none~0|none~1|+|none~0|none~1|none~2", "must read '~2|'" },
        { "|none~0|+|none~0|none~1||none~0|none~1|none~2|", "expected '+' at offset 24" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(sigeo_nb201_from_string(ops, bad[i].text), SIGEO_ERR_INVALID_ARG);
        ck_assert_msg(strstr(sigeo_last_error(), bad[i].says) != NULL, "'%s': message '%s' lacks '%s'", bad[i].text,
                      sigeo_last_error(), bad[i].says);
        ck_assert_int_eq(ops[0], 9); /* unchanged */
    }
    ck_assert_int_eq(sigeo_nb201_from_id(ops, -1), SIGEO_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sigeo_last_error(), "id -1 outside 0..15624") != NULL, "%s", sigeo_last_error());
    ck_assert_int_eq(sigeo_nb201_from_id(ops, 15625), SIGEO_ERR_INVALID_ARG);
    const int32_t wrong[6] = { 0, 1, 5, 0, 0, 0 };
    int64_t id;
    ck_assert_int_eq(sigeo_nb201_to_id(&id, wrong), SIGEO_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sigeo_last_error(), "edge 2 (1->2) has op 5") != NULL, "%s", sigeo_last_error());
    sigeo_model_t *m;
    ck_assert_int_eq(sigeo_nb201_build(&m, ctx, wrong), SIGEO_ERR_INVALID_ARG);
    ck_assert_ptr_null(m);
    char small[8];
    const int32_t fine[6] = { 0 };
    ck_assert_int_eq(sigeo_nb201_to_string(small, sizeof small, NULL, fine), SIGEO_ERR_INVALID_ARG);
    sigeo_model_t *s;
    sigeo_space_options_t o = SIGEO_SPACE_OPTIONS_INIT;
    o.n_classes = 3;
    ck_assert_int_eq(sigeo_space_build(&s, ctx, "nb201-fmnist", &o), SIGEO_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sigeo_last_error(), "10 classes") != NULL, "%s", sigeo_last_error());
}
END_TEST

/* Brute force: a depth-first walk over the edges that are not none. */
static int reaches(const int32_t ops[6], int from, int to)
{
    static const int es[6] = { 0, 0, 1, 0, 1, 2 }, ed[6] = { 1, 2, 2, 3, 3, 3 };
    if (from == to)
        return 1;
    for (int e = 0; e < 6; e++)
        if (es[e] == from && ops[e] != 0 && reaches(ops, ed[e], to))
            return 1;
    return 0;
}

START_TEST(degenerate_archs_are_341_of_15625)
{
    int count = 0;
    for (int64_t i = 0; i < SIGEO_NB201_ARCHS; i++) {
        int32_t a[6];
        int64_t r = i;
        for (int e = 0; e < 6; e++, r /= 5)
            a[e] = (int32_t)(r % 5);
        const int brute = !reaches(a, 0, 3);
        int flag = -1;
        OK(sigeo_nb201_is_degenerate(&flag, a));
        ck_assert_msg(flag == brute, "id %lld: library says %d, the walk %d", (long long)i, flag, brute);
        count += brute;
    }
    ck_assert_int_eq(count, 341);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("nb201");
    TCase *tc = tcase_create("nb201");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, counts_match_the_per_op_formulas);
    tcase_add_test(tc, standalone_equals_the_supernets_extraction);
    tcase_add_test(tc, strings_and_ids_round_trip);
    tcase_add_test(tc, malformed_strings_and_ids_fail_clearly);
    tcase_add_test(tc, degenerate_archs_are_341_of_15625);
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
