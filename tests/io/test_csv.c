/* Tests of the CSV reader: header detection, blank lines, CRLF, long lines,
 * and a path:line:column message for each kind of broken file. Fixtures are
 * written into a fresh mkdtemp directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "io/io.h"

typedef struct fixture {
    char dir[64];
    char path[128];
} fixture;

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    strcpy(fx->dir, "/tmp/gg_test_csv_XXXXXX");
    if (!mkdtemp(fx->dir)) {
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    DIR *d = opendir(fx->dir);
    struct dirent *e;
    char p[384];
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", fx->dir, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

/* Writes text (n bytes, or up to its NUL when n is 0) to DIR/name. */
static const char *put(fixture *fx, const char *name, const char *text, size_t n) {
    snprintf(fx->path, sizeof fx->path, "%s/%s", fx->dir, name);
    FILE *f = fopen(fx->path, "wb");
    assert_non_null(f);
    if (!n) n = strlen(text);
    assert_int_equal(fwrite(text, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    return fx->path;
}

/* Reading path must fail with code and a message holding every word given. */
static void expect_failure(const char *path, gg_status code, ...) {
    gg_csv_table t;
    gg_error err = {0};
    assert_int_equal(gg_csv_read(path, &t, &err), code);
    assert_int_equal(err.code, code);
    assert_null(t.values);
    assert_null(t.names);
    assert_non_null(strstr(err.msg, path));
    va_list ap;
    va_start(ap, code);
    for (const char *w; (w = va_arg(ap, const char *));) {
        if (!strstr(err.msg, w)) fail_msg("message '%s' lacks '%s'", err.msg, w);
    }
    va_end(ap);
}

static void test_csv_reads_header_and_rows(void **state) {
    fixture *fx = *state;
    put(fx, "h.csv", "x1,x2,label\n0.5,-1,0\n2e3, 4.25 ,1\n", 0);
    gg_csv_table t;
    gg_error err = {0};
    assert_int_equal(gg_csv_read(fx->path, &t, &err), GG_OK);
    assert_true(t.has_header);
    assert_int_equal(t.cols, 3);
    assert_int_equal(t.rows, 2);
    assert_string_equal(t.names[0], "x1");
    assert_string_equal(t.names[2], "label");
    double want[6] = {0.5, -1, 0, 2000, 4.25, 1};
    for (int i = 0; i < 6; i++) assert_true(t.values[i] == want[i]);
    gg_csv_free(&t);
    assert_null(t.values);
}

static void test_csv_reads_headerless_numbers(void **state) {
    fixture *fx = *state;
    put(fx, "n.csv", "1,2\n3,4\n5,6\n", 0);
    gg_csv_table t;
    assert_int_equal(gg_csv_read(fx->path, &t, NULL), GG_OK);
    assert_false(t.has_header);
    assert_null(t.names);
    assert_int_equal(t.rows, 3);
    assert_int_equal(t.cols, 2);
    for (int i = 0; i < 6; i++) assert_true(t.values[i] == i + 1);
    gg_csv_free(&t);
}

static void test_csv_accepts_crlf_blank_lines_and_missing_final_newline(void **state) {
    fixture *fx = *state;
    put(fx, "crlf.csv", "\n\r\n  \r\n\"a\",\"b\"\r\n1,2\r\n\r\n\t\r\n3,4", 0);
    gg_csv_table t;
    gg_error err = {0};
    assert_int_equal(gg_csv_read(fx->path, &t, &err), GG_OK);
    assert_true(t.has_header);
    assert_string_equal(t.names[0], "a"); /* quotes around a header name are dropped */
    assert_string_equal(t.names[1], "b");
    assert_int_equal(t.rows, 2);
    assert_true(t.values[0] == 1 && t.values[1] == 2 && t.values[2] == 3 && t.values[3] == 4);
    gg_csv_free(&t);
}

static void test_csv_skips_utf8_byte_order_mark(void **state) {
    fixture *fx = *state;
    put(fx, "bom.csv", "\xEF\xBB\xBFx,y\n1,2\n", 0);
    gg_csv_table t;
    assert_int_equal(gg_csv_read(fx->path, &t, NULL), GG_OK);
    assert_string_equal(t.names[0], "x");
    gg_csv_free(&t);
}

static void test_csv_reads_very_long_lines(void **state) {
    fixture *fx = *state;
    enum { C = 20000 }; /* a ~100 KB line: the line buffer must grow */
    char *text = malloc(16 * C + 16); /* 2 rows of up to 6 characters a field */
    assert_non_null(text);
    size_t k = 0;
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < C; c++)
            k += (size_t)sprintf(text + k, "%d%c", c + r, c + 1 < C ? ',' : '\n');
    put(fx, "wide.csv", text, k);
    free(text);
    gg_csv_table t;
    gg_error err = {0};
    assert_int_equal(gg_csv_read(fx->path, &t, &err), GG_OK);
    assert_int_equal(t.cols, C);
    assert_int_equal(t.rows, 2);
    assert_true(t.values[C - 1] == C - 1);
    assert_true(t.values[2 * C - 1] == C);
    gg_csv_free(&t);
}

static void test_csv_reads_many_rows(void **state) {
    fixture *fx = *state;
    enum { R = 5000 };
    static char text[R * 24];
    size_t k = 0;
    for (int r = 0; r < R; r++) k += (size_t)sprintf(text + k, "%d,%g\n", r, r * 0.5);
    put(fx, "long.csv", text, k);
    gg_csv_table t;
    assert_int_equal(gg_csv_read(fx->path, &t, NULL), GG_OK);
    assert_int_equal(t.rows, R);
    for (int r = 0; r < R; r++) assert_true(t.values[2 * r + 1] == r * 0.5);
    for (int r = 0; r < R; r++) assert_int_equal(t.lines[r], r + 1); /* across regrowths */
    gg_csv_free(&t);
}

static void test_csv_rejects_line_longer_than_limit(void **state) {
    fixture *fx = *state;
    size_t n = (size_t)17 << 20; /* over the 16 MiB a line may take */
    char *text = malloc(n + 8);
    assert_non_null(text);
    memcpy(text, "1,2\n", 4);
    memset(text + 4, '7', n);
    put(fx, "huge.csv", text, n + 4);
    free(text);
    expect_failure(fx->path, GG_ERR_DATA, ":2: line longer than 16777216 bytes", NULL);
}

static void test_csv_rejects_ragged_row_naming_line_and_counts(void **state) {
    fixture *fx = *state;
    /* Too few: the column of the line's end; too many: of the first extra field. */
    put(fx, "ragged.csv", "a,b,c\n1,2,3\n\n4,5\n", 0);
    expect_failure(fx->path, GG_ERR_DATA, ":4:4: expected 3 fields, found 2", NULL);
    put(fx, "ragged2.csv", "1,2\n3,4,5\n", 0);
    expect_failure(fx->path, GG_ERR_DATA, ":2:5: expected 2 fields, found 3", NULL);
    put(fx, "ragged3.csv", "1,2\r\n3,4,  5,6\r\n", 0);
    expect_failure(fx->path, GG_ERR_DATA, ":2:7: expected 2 fields, found 4", NULL);
    put(fx, "ragged4.csv", "1,2\n3,4,\n", 0);
    expect_failure(fx->path, GG_ERR_DATA, ":2:5: expected 2 fields, found 3", NULL);
}

/* Each row's file line (blank lines and the header counted) and the column
 * where its last field starts, so a caller checking a column can say where. */
static void test_csv_records_line_and_last_field_column_of_each_row(void **state) {
    fixture *fx = *state;
    put(fx, "where.csv", "\xEF\xBB\xBFx,label\n1,0\n\n  \n22,  1\r\n333,2", 0);
    gg_csv_table t;
    gg_error err = {0};
    assert_int_equal(gg_csv_read(fx->path, &t, &err), GG_OK);
    assert_int_equal(t.rows, 3);
    assert_int_equal(t.lines[0], 2);
    assert_int_equal(t.lines[1], 5);
    assert_int_equal(t.lines[2], 6);
    assert_int_equal(t.last_cols[0], 3);
    assert_int_equal(t.last_cols[1], 6); /* the blanks before a field are not the field */
    assert_int_equal(t.last_cols[2], 5);
    gg_csv_free(&t);
    assert_null(t.lines);
    assert_null(t.last_cols);
}

static void test_csv_rejects_non_numeric_field_naming_line_and_column(void **state) {
    fixture *fx = *state;
    put(fx, "word.csv", "a,b\n1,2\n3, xyz\n", 0);
    expect_failure(fx->path, GG_ERR_DATA, ":3:4: expected a number, found 'xyz'", NULL);
    put(fx, "unit.csv", "a,b\n1.5kg,2\n", 0); /* strtod would stop after 1.5 */
    expect_failure(fx->path, GG_ERR_DATA, ":2:1: expected a number, found '1.5kg'", NULL);
}

static void test_csv_truncates_long_field_in_message(void **state) {
    fixture *fx = *state;
    char text[512] = "1,2\n3,";
    memset(text + 6, 'z', 300);
    strcpy(text + 306, "\n");
    put(fx, "longfield.csv", text, 0);
    gg_csv_table t;
    gg_error err = {0};
    assert_int_equal(gg_csv_read(fx->path, &t, &err), GG_ERR_DATA);
    assert_non_null(strstr(err.msg, ":2:3: expected a number, found 'zzzz"));
    assert_non_null(strstr(err.msg, "...'"));
    assert_true(strlen(err.msg) < 200);
}

static void test_csv_rejects_nan_and_inf_as_not_finite(void **state) {
    fixture *fx = *state;
    put(fx, "nan.csv", "x,y\n1,nan\n", 0);
    expect_failure(fx->path, GG_ERR_DATA, ":2:3: expected a finite number, found 'nan'", NULL);
    put(fx, "inf.csv", "-inf,1\n", 0);
    expect_failure(fx->path, GG_ERR_DATA, ":1:1: expected a finite number, found '-inf'", NULL);
    put(fx, "huge.csv", "1e999,1\n", 0);
    expect_failure(fx->path, GG_ERR_DATA, "expected a finite number, found '1e999'", NULL);
}

static void test_csv_rejects_empty_field(void **state) {
    fixture *fx = *state;
    put(fx, "hole.csv", "1,,3\n", 0); /* not a header: no field is a word */
    expect_failure(fx->path, GG_ERR_DATA, ":1:3: expected a number, found ''", NULL);
}

static void test_csv_rejects_nul_byte(void **state) {
    fixture *fx = *state;
    put(fx, "bin.csv", "1,2\n3,\0\n", 8);
    expect_failure(fx->path, GG_ERR_DATA, ":2:3: expected text, found a NUL byte", NULL);
}

static void test_csv_rejects_file_without_data_rows(void **state) {
    fixture *fx = *state;
    put(fx, "empty.csv", "", 0);
    expect_failure(fx->path, GG_ERR_DATA, "no data rows", NULL);
    put(fx, "header.csv", "a,b\n\n", 0);
    expect_failure(fx->path, GG_ERR_DATA, "no data rows", NULL);
}

static void test_csv_rejects_missing_file_as_bad_input(void **state) {
    fixture *fx = *state;
    snprintf(fx->path, sizeof fx->path, "%s/absent.csv", fx->dir);
    expect_failure(fx->path, GG_ERR_DATA, "No such file", NULL);
    expect_failure(fx->dir, GG_ERR_DATA, "Is a directory", NULL);
}

static void test_csv_free_accepts_null_and_zeroed(void **state) {
    (void)state;
    gg_csv_table t = {0};
    gg_csv_free(NULL);
    gg_csv_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_csv_reads_header_and_rows),
        T(test_csv_reads_headerless_numbers),
        T(test_csv_accepts_crlf_blank_lines_and_missing_final_newline),
        T(test_csv_skips_utf8_byte_order_mark),
        T(test_csv_reads_very_long_lines),
        T(test_csv_reads_many_rows),
        T(test_csv_rejects_line_longer_than_limit),
        T(test_csv_rejects_ragged_row_naming_line_and_counts),
        T(test_csv_records_line_and_last_field_column_of_each_row),
        T(test_csv_rejects_non_numeric_field_naming_line_and_column),
        T(test_csv_truncates_long_field_in_message),
        T(test_csv_rejects_nan_and_inf_as_not_finite),
        T(test_csv_rejects_empty_field),
        T(test_csv_rejects_nul_byte),
        T(test_csv_rejects_file_without_data_rows),
        T(test_csv_rejects_missing_file_as_bad_input),
        T(test_csv_free_accepts_null_and_zeroed),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
