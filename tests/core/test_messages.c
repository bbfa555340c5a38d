/* The failure formatter (lib/core/error.c) when a caller adds context to a
 * callee's failure:
 *
 *  - thread_message_as_an_argument: sigeo__fail(st, "outer: %s",
 *    sigeo_last_error()) gives "outer: <the callee's message>" (the buffer
 *    written is the one read: formatted into scratch first, then copied);
 *  - handle_message_as_an_argument: the same through sigeo__fail_on with
 *    the handle's own buffer as the argument;
 *  - wrap_prefixes_the_callee: sigeo__fail_wrap gives "<prefix>: <callee>"
 *    in the thread's and the handle's buffer, cut at the buffer size with a
 *    NUL, and counts as a failure (sigeo__failure_count).
 * Internal entry points: the static twin. */
#include <check.h>
#include <string.h>

#include "core/core.h"

START_TEST(thread_message_as_an_argument)
{
    ck_assert_int_eq(sigeo__fail(SIGEO_ERR_SHAPE, "inner %d", 7), SIGEO_ERR_SHAPE);
    ck_assert_int_eq(sigeo__fail(SIGEO_ERR_IO, "outer: %s", sigeo_last_error()), SIGEO_ERR_IO);
    ck_assert_str_eq(sigeo_last_error(), "outer: inner 7");
    /* twice more: each level once */
    sigeo__fail(SIGEO_ERR_IO, "a: %s (%s)", sigeo_last_error(), sigeo_last_error());
    ck_assert_str_eq(sigeo_last_error(), "a: outer: inner 7 (outer: inner 7)");
}
END_TEST

START_TEST(handle_message_as_an_argument)
{
    sigeo__errbuf_t h;
    memset(&h, 0, sizeof h);
    sigeo__fail_on(&h, SIGEO_ERR_FORMAT, "line %d", 3);
    ck_assert_str_eq(h.msg, "line 3");
    sigeo__fail_on(&h, SIGEO_ERR_FORMAT, "file x: %s", h.msg);
    ck_assert_str_eq(h.msg, "file x: line 3");
    ck_assert_str_eq(sigeo_last_error(), "file x: line 3");
}
END_TEST

START_TEST(wrap_prefixes_the_callee)
{
    sigeo__errbuf_t h;
    memset(&h, 0, sizeof h);
    sigeo__fail(SIGEO_ERR_NONFINITE, "loss is %s", "nan");
    const uint64_t before = sigeo__failure_count();
    ck_assert_int_eq(sigeo__fail_wrap(&h, SIGEO_ERR_NONFINITE, "train: step %d", 2), SIGEO_ERR_NONFINITE);
    ck_assert_str_eq(sigeo_last_error(), "train: step 2: loss is nan");
    ck_assert_str_eq(h.msg, "train: step 2: loss is nan");
    ck_assert_uint_eq(sigeo__failure_count(), before + 1);
    /* a callee message that fills the buffer: cut, terminated, prefix first */
    char longer[SIGEO__ERRMSG_MAX + 100];
    memset(longer, 'y', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    sigeo__fail(SIGEO_ERR_IO, "%s", longer);
    ck_assert_uint_eq(strlen(sigeo_last_error()), SIGEO__ERRMSG_MAX - 1);
    sigeo__fail_wrap(NULL, SIGEO_ERR_IO, "ctx");
    ck_assert_uint_eq(strlen(sigeo_last_error()), SIGEO__ERRMSG_MAX - 1);
    ck_assert(strncmp(sigeo_last_error(), "ctx: yyy", 8) == 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("messages");
    TCase *tc = tcase_create("messages");
    tcase_add_test(tc, thread_message_as_an_argument);
    tcase_add_test(tc, handle_message_as_an_argument);
    tcase_add_test(tc, wrap_prefixes_the_callee);
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
