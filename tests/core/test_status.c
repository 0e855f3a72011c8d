/* Status codes and gg_fail (src/core/status.c): the word for every code,
 * printf-style messages truncated to the buffer, and a NULL gg_error. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "core/core.h"

static void test_status_name_gives_the_word_for_every_code(void **s) {
    (void)s;
    assert_string_equal(gg_status_name(GG_OK), "ok");
    assert_string_equal(gg_status_name(GG_ERR_ARG), "arg");
    assert_string_equal(gg_status_name(GG_ERR_CONFIG), "config");
    assert_string_equal(gg_status_name(GG_ERR_DATA), "data");
    assert_string_equal(gg_status_name(GG_ERR_SHAPE), "shape");
    assert_string_equal(gg_status_name(GG_ERR_IO), "io");
    assert_string_equal(gg_status_name(GG_ERR_NOMEM), "nomem");
    assert_string_equal(gg_status_name(GG_ERR_NONFINITE), "nonfinite");
    assert_string_equal(gg_status_name(GG_ERR_DIVERGED), "diverged");
}

static void test_status_name_of_an_unknown_code_is_unknown(void **s) {
    (void)s;
    assert_string_equal(gg_status_name((gg_status)(GG_ERR_DIVERGED + 1)), "unknown");
    assert_string_equal(gg_status_name((gg_status)1000), "unknown");
    assert_string_equal(gg_status_name((gg_status)-1), "unknown");
}

static void test_fail_fills_code_and_formatted_message(void **s) {
    (void)s;
    gg_error err = {GG_OK, ""};
    gg_status st = gg_fail(&err, GG_ERR_DATA, "%s: %s has %d columns, layer expects %d",
                           "w.safetensors", "layers.0.weight", 783, 784);
    assert_int_equal(st, GG_ERR_DATA);
    assert_int_equal(err.code, GG_ERR_DATA);
    assert_string_equal(err.msg,
                        "w.safetensors: layers.0.weight has 783 columns, layer expects 784");
    /* A second failure replaces the first. */
    assert_int_equal(gg_fail(&err, GG_ERR_IO, "plain"), GG_ERR_IO);
    assert_int_equal(err.code, GG_ERR_IO);
    assert_string_equal(err.msg, "plain");
}

static void test_fail_accepts_null_error(void **s) {
    (void)s;
    assert_int_equal(gg_fail(NULL, GG_ERR_SHAPE, "x %d", 1), GG_ERR_SHAPE);
    assert_int_equal(gg_fail(NULL, GG_ERR_NOMEM, "out of memory"), GG_ERR_NOMEM);
}

static void test_fail_truncates_long_messages_to_the_buffer(void **s) {
    (void)s;
    char longname[600];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    gg_error err;
    memset(&err, 0x7f, sizeof err);
    assert_int_equal(gg_fail(&err, GG_ERR_CONFIG, "%s", longname), GG_ERR_CONFIG);
    assert_int_equal(strlen(err.msg), sizeof err.msg - 1);
    assert_int_equal(err.msg[sizeof err.msg - 1], '\0');
    assert_int_equal(err.msg[0], 'a');
}

static void test_version_is_major_minor_patch(void **s) {
    (void)s;
    const char *v = gg_version();
    assert_non_null(v);
    int a = -1, b = -1, c = -1, n = 0;
    assert_int_equal(sscanf(v, "%d.%d.%d%n", &a, &b, &c, &n), 3);
    assert_int_equal((size_t)n, strlen(v));
    assert_true(a >= 0 && b >= 0 && c >= 0);
    assert_string_equal(v, GG_VERSION);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_name_gives_the_word_for_every_code),
        cmocka_unit_test(test_status_name_of_an_unknown_code_is_unknown),
        cmocka_unit_test(test_fail_fills_code_and_formatted_message),
        cmocka_unit_test(test_fail_accepts_null_error),
        cmocka_unit_test(test_fail_truncates_long_messages_to_the_buffer),
        cmocka_unit_test(test_version_is_major_minor_patch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
