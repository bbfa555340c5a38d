/* The tournament draws its parent from the live population only, also when
 * every drawn member scores -inf (an ensemble's z-score aggregate keeps an
 * infinite member score). Drives the ring buffer through the internal
 * push / age / tournament hooks of lib/search/evolution.c: after aging,
 * slot 0 of the ring holds a dead member, which the old tournament (best
 * initialised to slot 0, replaced only by a strictly better score) returned
 * whenever no drawn member beat -inf. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include "search_internal.h"
#include "sigeo/model.h"
#include "sigeo/search.h"

#define OK(call) ck_assert_msg((call) == SIGEO_OK, "%s: %s", #call, sigeo_last_error())

enum { POINTS = 3, POP = 4, CHILDREN = 2, CAP = POP + CHILDREN };

static sigeo_context_t *ctx;
static sigeo_model_t *model;

static void setup(void)
{
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.threads = 1;
    OK(sigeo_context_create(&ctx, &co));
    OK(sigeo_model_create(&model, ctx, "ring"));
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "x";
    in.features = 3;
    int32_t h;
    OK(sigeo_model_add_input(&h, model, &in));
    for (int i = 0; i < POINTS; i++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", i);
        int32_t c;
        OK(sigeo_model_add_choice(&c, model, name, 4, (const int64_t[]){ 1, 2, 3, 4 }));
        snprintf(name, sizeof name, "fc%d", i);
        sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
        d.name = name;
        d.inputs = &h;
        d.n_inputs = 1;
        d.units = 4;
        d.width_choice = c;
        OK(sigeo_model_add_layer(&h, model, &d));
    }
    OK(sigeo_model_set_loss(model, h, SIGEO_LOSS_SOFTMAX_CE));
    OK(sigeo_model_finalize(model));
}

static void teardown(void)
{
    sigeo_model_destroy(model);
    sigeo_context_destroy(ctx);
}

static sigeo_search_t *ring_search(uint32_t sample_size)
{
    sigeo_search_options_t o = SIGEO_SEARCH_OPTIONS_INIT;
    o.population = POP;
    o.children = CHILDREN;
    o.sample_size = sample_size;
    o.cycles = 1;
    o.seed = 3;
    sigeo_search_t *s;
    OK(sigeo_search_create(&s, model, &o));
    return s;
}

/* Is `slot` one of the live ring slots pop_head .. pop_head + pop_size - 1? */
static bool live(const sigeo_search_t *s, uint32_t slot)
{
    for (uint32_t i = 0; i < s->pop_size; i++)
        if ((s->pop_head + i) % CAP == slot)
            return true;
    return false;
}

/* Pushes `members` members m = 0, 1, ... (arch {m, m, m} mod 4), aging the
 * ring after each push as the search does. */
static void fill(sigeo_search_t *s, int members, double (*score_of)(int))
{
    for (int m = 0; m < members; m++) {
        const int32_t arch[POINTS] = { m % 4, m % 4, m % 4 };
        sigeo__search_push(s, arch, score_of(m));
        sigeo__search_age(s);
    }
}

static double all_minus_inf(int m)
{
    (void)m;
    return -INFINITY;
}

START_TEST(test_all_minus_inf_picks_a_live_member)
{
    for (uint32_t sample = 1; sample <= POP; sample++) {
        sigeo_search_t *s = ring_search(sample);
        fill(s, POP + 2, all_minus_inf); /* pop_head = 2: live 2, 3, 4, 5; slots 0 and 1 dead */
        ck_assert_uint_eq(s->pop_size, POP);
        ck_assert_uint_eq(s->pop_head, 2);
        for (int draw = 0; draw < 200; draw++) {
            const uint32_t slot = sigeo__search_tournament(s);
            ck_assert_msg(live(s, slot), "sample %u, draw %d: slot %u is not live (head %u, size %u)", sample, draw,
                          slot, s->pop_head, s->pop_size);
        }
        fill(s, 5, all_minus_inf); /* pop_head = 1: live 1, 2, 3, 4; slots 5 and 0 dead */
        ck_assert_uint_eq(s->pop_head, 1);
        for (int draw = 0; draw < 200; draw++)
            ck_assert(live(s, sigeo__search_tournament(s)));
        sigeo_search_destroy(s);
    }
}
END_TEST

/* Members' scores by ring position; the dead slots hold -inf too. */
static double head_is_best(int m)
{
    return m == POP + 5 ? 1.0 : -INFINITY;
}

static double nan_but_last(int m)
{
    return m == POP + 5 ? -INFINITY : NAN;
}

START_TEST(test_slot_zero_dead_and_minus_inf)
{
    /* 12 pushes, each followed by aging: head 2, live 2, 3, 4, 5; slots 0
     * and 1 dead (the case the old tournament got wrong). With sample size 1 and every live score -inf, the winner is whatever
     * member was drawn: it must never be slot 0 or 1. */
    sigeo_search_t *s = ring_search(1);
    fill(s, POP + 8, all_minus_inf);
    ck_assert_uint_eq(s->pop_head, (POP + 8 - POP) % CAP); /* 8 % 6 = 2 */
    uint32_t seen[CAP] = { 0 };
    for (int draw = 0; draw < 600; draw++)
        seen[sigeo__search_tournament(s)]++;
    ck_assert_uint_eq(seen[0], 0);
    ck_assert_uint_eq(seen[1], 0);
    for (uint32_t slot = 2; slot < CAP; slot++) /* uniform over the 4 live members: ~150 each */
        ck_assert_msg(seen[slot] > 80, "slot %u drawn %u times of 600", slot, seen[slot]);
    sigeo_search_destroy(s);

    /* NaN loses to -inf: with every member drawn, the one -inf member wins over the NaN ones */
    s = ring_search(POP);
    fill(s, POP + 6, nan_but_last);
    const uint32_t newest = (s->pop_head + s->pop_size - 1) % CAP;
    for (int draw = 0; draw < 50; draw++)
        ck_assert_uint_eq(sigeo__search_tournament(s), newest);
    sigeo_search_destroy(s);

    /* a finite score still wins over -inf ones whatever the draw order */
    s = ring_search(POP);
    fill(s, POP + 6, head_is_best); /* the last member (m = POP + 5) scores 1, the rest -inf */
    const uint32_t last = (s->pop_head + s->pop_size - 1) % CAP;
    for (int draw = 0; draw < 50; draw++)
        ck_assert_uint_eq(sigeo__search_tournament(s), last);
    sigeo_search_destroy(s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("tournament");
    TCase *tc = tcase_create("ring");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_all_minus_inf_picks_a_live_member);
    tcase_add_test(tc, test_slot_zero_dead_and_minus_inf);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
