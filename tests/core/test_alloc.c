/* Checked allocation and size arithmetic (src/core/alloc.c): overflow is
 * detected rather than wrapped, aligned blocks are 64-byte aligned and
 * zeroed, and failures report GG_ERR_NOMEM with a message. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"

static void test_size_mul_detects_overflow(void **s) {
    (void)s;
    size_t out = 12345;
    assert_true(gg_size_mul(6, 7, &out));
    assert_true(out == 42);
    assert_true(gg_size_mul(0, SIZE_MAX, &out));
    assert_true(out == 0);
    assert_true(gg_size_mul(SIZE_MAX, 1, &out));
    assert_true(out == SIZE_MAX);
    assert_true(gg_size_mul(SIZE_MAX / 2, 2, &out));
    assert_true(out == SIZE_MAX - 1);
    assert_false(gg_size_mul(SIZE_MAX, 2, &out));
    assert_false(gg_size_mul(SIZE_MAX / 2 + 1, 2, &out));
    assert_false(gg_size_mul((size_t)1 << 32, (size_t)1 << 32, &out));
    /* A "header that lies": 2^40 rows of 2^30 floats. */
    assert_false(gg_size_mul((size_t)1 << 40, (size_t)1 << 30, &out));
}

static void test_size_add_detects_overflow(void **s) {
    (void)s;
    size_t out = 0;
    assert_true(gg_size_add(40, 2, &out));
    assert_true(out == 42);
    assert_true(gg_size_add(SIZE_MAX, 0, &out));
    assert_true(out == SIZE_MAX);
    assert_true(gg_size_add(SIZE_MAX - 5, 5, &out));
    assert_true(out == SIZE_MAX);
    assert_false(gg_size_add(SIZE_MAX, 1, &out));
    assert_false(gg_size_add(SIZE_MAX / 2 + 1, SIZE_MAX / 2 + 1, &out));
}

static void test_alloc_aligned_returns_zeroed_64_byte_aligned_blocks(void **s) {
    (void)s;
    const size_t sizes[] = {0, 1, 3, 63, 64, 65, 127, 128, 1000, 4096 + 7, 1 << 20};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        gg_error err = {GG_OK, ""};
        unsigned char *p = gg_alloc_aligned(sizes[k], &err);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 64, 0);
        assert_int_equal(err.code, GG_OK);
        for (size_t i = 0; i < sizes[k]; i++) assert_int_equal(p[i], 0);
        memset(p, 0xab, sizes[k]); /* the whole size is writable (ASan checks) */
        free(p);
    }
}

static void test_alloc_aligned_reports_overflowing_sizes(void **s) {
    (void)s;
    const size_t sizes[] = {SIZE_MAX, SIZE_MAX - 10, SIZE_MAX - 62};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        gg_error err = {GG_OK, ""};
        void *p = gg_alloc_aligned(sizes[k], &err);
        assert_null(p);
        assert_int_equal(err.code, GG_ERR_NOMEM);
        assert_non_null(strstr(err.msg, "overflow"));
        /* NULL err is allowed. */
        assert_null(gg_alloc_aligned(sizes[k], NULL));
    }
}

static void test_alloc_returns_zeroed_memory_even_for_zero_bytes(void **s) {
    (void)s;
    unsigned char *p = gg_alloc(0, NULL);
    assert_non_null(p);
    free(p);
    p = gg_alloc(333, NULL);
    assert_non_null(p);
    for (int i = 0; i < 333; i++) assert_int_equal(p[i], 0);
    free(p);
}

static void test_strdup_copies_the_string(void **s) {
    (void)s;
    const char *src = "layers.0.weight";
    char *p = gg_strdup(src, NULL);
    assert_non_null(p);
    assert_ptr_not_equal(p, src);
    assert_string_equal(p, src);
    free(p);
    p = gg_strdup("", NULL);
    assert_non_null(p);
    assert_string_equal(p, "");
    free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_mul_detects_overflow),
        cmocka_unit_test(test_size_add_detects_overflow),
        cmocka_unit_test(test_alloc_aligned_returns_zeroed_64_byte_aligned_blocks),
        cmocka_unit_test(test_alloc_aligned_reports_overflowing_sizes),
        cmocka_unit_test(test_alloc_returns_zeroed_memory_even_for_zero_bytes),
        cmocka_unit_test(test_strdup_copies_the_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
