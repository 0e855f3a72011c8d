/* Data loading: validation split (seeded, disjoint, complete), statistics
 * from the training split only, built-in tasks, CSV targets, and the
 * real Fashion-MNIST files. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "data/dataset.h"
#include "support/fixtures.h"

static gg_config *config(const char *yaml) {
    gg_config *c = gg_config_new_default();
    gg_error err = {0};
    if (gg_config_load_string(c, yaml, &err) != GG_OK) fail_msg("%s", err.msg);
    return c;
}

/* A CSV whose first feature is the row number: rows can be traced. */
static char *row_csv(const char *dir, int rows) {
    size_t cap = (size_t)rows * 40 + 64, k = 0;
    char *text = malloc(cap);
    k += (size_t)snprintf(text, cap, "id,f,label\n");
    for (int i = 0; i < rows; i++) k += (size_t)snprintf(text + k, cap - k, "%d,%d,%d\n", i, i % 7, i % 3);
    char *path = gg_test_write_file(dir, "rows.csv", text, k);
    free(text);
    return path;
}

static void test_validation_split_is_seeded_disjoint_and_complete(void **s) {
    (void)s;
    char *dir = gg_test_tmpdir(), *path = row_csv(dir, 100), yaml[512];
    snprintf(yaml, sizeof yaml, "data: {dataset: 'csv:%s', validation: 30, normalize: none, test_fraction: 0.1}\n", path);
    gg_config *c = config(yaml);
    gg_dataset *tr, *va, *te, *tr2, *va2, *te2;
    gg_error err = {0};
    assert_int_equal(gg_data_load(c, &tr, &va, &te, &err), GG_OK);
    assert_int_equal(tr->n, 60);
    assert_int_equal(va->n, 30);
    assert_int_equal(te->n, 10);
    int seen[100] = {0};
    for (size_t i = 0; i < tr->n; i++) seen[(int)tr->x[i * 2]]++;
    for (size_t i = 0; i < va->n; i++) seen[(int)va->x[i * 2]]++;
    for (size_t i = 0; i < te->n; i++) {
        seen[(int)te->x[i * 2]]++;
        assert_true(te->x[i * 2] >= 90); /* the test rows are the file's last 10% */
    }
    for (int i = 0; i < 100; i++) assert_int_equal(seen[i], 1);
    for (size_t i = 1; i < va->n; i++) assert_true(va->x[i * 2] > va->x[(i - 1) * 2]); /* file order kept */
    assert_int_equal(gg_data_load(c, &tr2, &va2, &te2, &err), GG_OK);
    assert_memory_equal(va->x, va2->x, va->n * 2 * sizeof(gg_real));
    assert_int_equal(tr->classes, 3);
    gg_dataset_free(tr), gg_dataset_free(va), gg_dataset_free(te);
    gg_dataset_free(tr2), gg_dataset_free(va2), gg_dataset_free(te2);
    gg_config_free(c);
    free(path);
    gg_test_rmtree(dir);
    free(dir);
}

static void test_standardize_uses_training_statistics_only(void **s) {
    (void)s;
    char *dir = gg_test_tmpdir(), *path = row_csv(dir, 100), yaml[512];
    snprintf(yaml, sizeof yaml, "data: {dataset: 'csv:%s', validation: 0, normalize: feature, test_fraction: 0.2}\n", path);
    gg_config *c = config(yaml);
    gg_dataset *tr, *va, *te;
    assert_int_equal(gg_data_load(c, &tr, &va, &te, NULL), GG_OK);
    assert_null(va);
    for (int j = 0; j < 2; j++) {
        double m = 0, v = 0;
        for (size_t i = 0; i < tr->n; i++) m += tr->x[i * 2 + j];
        m /= (double)tr->n;
        for (size_t i = 0; i < tr->n; i++) v += pow(tr->x[i * 2 + j] - m, 2);
        assert_float_equal(m, 0, 1e-5);
        assert_float_equal(v / (double)tr->n, 1, 1e-4);
    }
    /* Row 80 (the first test row) scaled by the training mean 39.5 and std of 0..79. */
    double sd = sqrt((80.0 * 80.0 - 1) / 12.0);
    assert_float_equal(te->x[0], (80 - 39.5) / sd, 1e-4);
    gg_dataset_free(tr), gg_dataset_free(te);
    gg_config_free(c);
    free(path);
    gg_test_rmtree(dir);
    free(dir);
}

static void test_builtin_tasks(void **s) {
    (void)s;
    gg_config *c = config("data: {dataset: xor, validation: 0, normalize: none}\n");
    gg_dataset *tr, *va, *te;
    assert_int_equal(gg_data_load(c, &tr, &va, &te, NULL), GG_OK);
    assert_int_equal(tr->n, 4);
    assert_float_equal(tr->y[1], 1, 0);
    assert_float_equal(tr->y[3], 0, 0);
    gg_dataset_free(tr), gg_dataset_free(te);
    gg_config_free(c);
    c = config("data: {dataset: random-binary, validation: 0, samples: 100, features: 10}\n");
    assert_int_equal(gg_data_load(c, &tr, &va, &te, NULL), GG_OK);
    assert_int_equal(tr->n + te->n, 100);
    assert_int_equal(tr->features, 10);
    int ones = 0;
    for (size_t i = 0; i < tr->n; i++) ones += tr->y[i] == 1;
    assert_true(ones > 20 && ones < 60); /* a random rule splits the classes */
    gg_dataset_free(tr), gg_dataset_free(te);
    gg_config_free(c);
}

static void test_validation_larger_than_data_is_a_config_error(void **s) {
    (void)s;
    gg_config *c = config("data: {dataset: xor, validation: 10}\n");
    gg_dataset *tr, *va, *te;
    gg_error err = {0};
    assert_int_equal(gg_data_load(c, &tr, &va, &te, &err), GG_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "data.validation"));
    assert_null(tr);
    gg_config_free(c);
}

static void test_fashion_mnist_loads_with_its_shapes(void **s) {
    (void)s;
    gg_config *c = config("data: {dataset: fashion-mnist, validation: 5000, normalize: scale}\n");
    gg_dataset *tr, *va, *te;
    gg_error err = {0};
    if (gg_data_load(c, &tr, &va, &te, &err) != GG_OK) fail_msg("%s", err.msg);
    assert_int_equal(tr->n, 55000);
    assert_int_equal(va->n, 5000);
    assert_int_equal(te->n, 10000);
    assert_int_equal(tr->features, 784);
    assert_int_equal(tr->classes, 10);
    double mx = 0;
    for (size_t i = 0; i < tr->n * 784; i++) mx = fmax(mx, tr->x[i]);
    assert_float_equal(mx, 1.0, 1e-6);
    gg_dataset_free(tr), gg_dataset_free(va), gg_dataset_free(te);
    gg_config_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validation_split_is_seeded_disjoint_and_complete),
        cmocka_unit_test(test_standardize_uses_training_statistics_only),
        cmocka_unit_test(test_builtin_tasks),
        cmocka_unit_test(test_validation_larger_than_data_is_a_config_error),
        cmocka_unit_test(test_fashion_mnist_loads_with_its_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
