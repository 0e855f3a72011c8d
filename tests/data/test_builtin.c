/* Built-in tasks (src/data/builtin.c): the adding problem. Shapes and
 * splits, exactly two markers per sequence (one in each half), the target
 * is the sum of the marked values, predicting 1 always gives MSE 1/6, and
 * the data is a function of the seed alone. */
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

static gg_config *config(const char *yaml) {
    gg_config *c = gg_config_new_default();
    gg_error err = {0};
    if (gg_config_load_string(c, yaml, &err) != GG_OK) fail_msg("%s", err.msg);
    return c;
}

static void load(const gg_config *c, gg_dataset **tr, gg_dataset **te) {
    gg_error err = {0};
    if (gg_data_builtin(c, tr, te, &err) != GG_OK) fail_msg("adding: %s", err.msg);
}

/* Every sequence of d: values in [0, 1), markers 0 or 1, exactly one
 * marker in [0, T/2) and one in [T/2, T), and y the sum of the two marked
 * values. Counts the marked positions into hits[T] when hits is given. */
static void check_sequences(const gg_dataset *d, int T, int *hits) {
    const size_t half = (size_t)T / 2;
    for (size_t i = 0; i < d->n; i++) {
        const gg_real *x = d->x + i * (size_t)T * 2;
        int first = 0, second = 0;
        double sum = 0;
        for (size_t t = 0; t < (size_t)T; t++) {
            gg_real v = x[2 * t], m = x[2 * t + 1];
            if (!(v >= 0 && v < 1)) fail_msg("sample %zu step %zu: value %g outside [0, 1)", i, t, (double)v);
            if (m != 0 && m != 1) fail_msg("sample %zu step %zu: marker %g", i, t, (double)m);
            if (m == 1) {
                if (t < half) first++;
                else second++;
                sum += v;
                if (hits) hits[t]++;
            }
        }
        if (first != 1 || second != 1)
            fail_msg("sample %zu: %d markers in the first half, %d in the second, expected 1 and 1", i,
                     first, second);
        if (d->y[i] != (gg_real)sum)
            fail_msg("sample %zu: target %.9g, the marked values sum to %.9g", i, (double)d->y[i], sum);
    }
}

static void test_adding_shapes_and_split(void **s) {
    (void)s;
    gg_config *c = config("data: {dataset: adding, samples: 500, length: 30, test_fraction: 0.2}\n");
    gg_dataset *tr, *te;
    load(c, &tr, &te);
    assert_int_equal(tr->n, 400);
    assert_int_equal(te->n, 100);
    for (int k = 0; k < 2; k++) {
        const gg_dataset *d = k ? te : tr;
        assert_int_equal(d->ndim, 2);
        assert_int_equal(d->shape[0], 30);
        assert_int_equal(d->shape[1], 2);
        assert_int_equal(d->features, 60);
        assert_int_equal(d->targets, 1);
        assert_int_equal(d->classes, 0); /* regression */
        check_sequences(d, 30, NULL);
    }
    assert_string_equal(tr->name, "adding");
    gg_dataset_free(tr);
    gg_dataset_free(te);
    gg_config_free(c);

    /* The default length is 100; no test split when test_fraction is 0. */
    c = config("data: {dataset: adding, samples: 20, test_fraction: 0}\n");
    load(c, &tr, &te);
    assert_int_equal(tr->n, 20);
    assert_int_equal(te->n, 0);
    assert_int_equal(tr->shape[0], 100);
    check_sequences(tr, 100, NULL);
    gg_dataset_free(tr);
    gg_dataset_free(te);
    gg_config_free(c);
}

static void test_adding_two_markers_one_in_each_half_for_every_length(void **s) {
    (void)s;
    /* Odd lengths split at T/2 rounded down; T = 2 puts the markers at 0 and 1. */
    const int lengths[] = {2, 3, 7, 20, 101};
    for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
        int T = lengths[k], hits[101] = {0};
        char yaml[128];
        snprintf(yaml, sizeof yaml, "data: {dataset: adding, samples: 4000, length: %d, test_fraction: 0}\n", T);
        gg_config *c = config(yaml);
        gg_dataset *tr, *te;
        load(c, &tr, &te);
        check_sequences(tr, T, hits);
        /* Every position of either half is drawn (uniform placement). */
        for (int t = 0; t < T; t++)
            if (hits[t] == 0) fail_msg("T = %d: position %d is never marked in 4000 sequences", T, t);
        gg_dataset_free(tr);
        gg_dataset_free(te);
        gg_config_free(c);
    }
}

static void test_adding_always_one_gives_mse_one_sixth(void **s) {
    (void)s;
    gg_config *c = config("data: {dataset: adding, samples: 10000, test_fraction: 0}\n");
    gg_dataset *tr, *te;
    load(c, &tr, &te);
    assert_int_equal(tr->n, 10000);
    double mse = 0, mean = 0;
    for (size_t i = 0; i < tr->n; i++) {
        mse += ((double)tr->y[i] - 1) * ((double)tr->y[i] - 1);
        mean += tr->y[i];
    }
    mse /= (double)tr->n;
    mean /= (double)tr->n;
    if (!(fabs(mse - 1.0 / 6) <= 0.01)) fail_msg("MSE of predicting 1: %.4f, expected 0.167 +- 0.01", mse);
    if (!(fabs(mean - 1) <= 0.02)) fail_msg("mean target %.4f, expected 1", mean);
    gg_dataset_free(tr);
    gg_dataset_free(te);
    gg_config_free(c);
}

static void test_adding_is_reproducible_for_a_seed_and_differs_for_another(void **s) {
    (void)s;
    const char *base = "data: {dataset: adding, samples: 300, length: 16, test_fraction: 0.1}\n";
    gg_config *a = config(base), *b = config(base), *o = config(base);
    a->seed = b->seed = 5;
    o->seed = 6;
    gg_dataset *tra, *tea, *trb, *teb, *tro, *teo;
    load(a, &tra, &tea);
    load(b, &trb, &teb);
    load(o, &tro, &teo);
    assert_memory_equal(tra->x, trb->x, tra->n * tra->features * sizeof(gg_real));
    assert_memory_equal(tra->y, trb->y, tra->n * sizeof(gg_real));
    assert_memory_equal(tea->x, teb->x, tea->n * tea->features * sizeof(gg_real));
    assert_memory_equal(tea->y, teb->y, tea->n * sizeof(gg_real));
    assert_int_equal(gg_dataset_checksum(tra), gg_dataset_checksum(trb));
    assert_memory_not_equal(tra->x, tro->x, tra->n * tra->features * sizeof(gg_real));
    assert_memory_not_equal(tra->y, tro->y, tra->n * sizeof(gg_real));
    assert_true(gg_dataset_checksum(tra) != gg_dataset_checksum(tro));
    /* The test split is not a copy of the training split. */
    assert_memory_not_equal(tra->x, tea->x, tea->n * tea->features * sizeof(gg_real));
    gg_dataset *ds[] = {tra, tea, trb, teb, tro, teo};
    for (size_t i = 0; i < 6; i++) gg_dataset_free(ds[i]);
    gg_config_free(a);
    gg_config_free(b);
    gg_config_free(o);
}

static void test_adding_through_gg_data_load_keeps_values_with_normalize_none(void **s) {
    (void)s;
    gg_config *c = config("data: {dataset: adding, samples: 200, length: 10, validation: 50, "
                          "normalize: none, test_fraction: 0.25}\n");
    gg_dataset *tr, *va, *te;
    gg_error err = {0};
    if (gg_data_load(c, &tr, &va, &te, &err) != GG_OK) fail_msg("%s", err.msg);
    assert_int_equal(tr->n, 100);
    assert_int_equal(va->n, 50);
    assert_int_equal(te->n, 50);
    check_sequences(tr, 10, NULL);
    check_sequences(va, 10, NULL);
    check_sequences(te, 10, NULL);
    gg_dataset_free(tr);
    gg_dataset_free(va);
    gg_dataset_free(te);
    gg_config_free(c);
}

static void test_adding_refuses_a_length_below_two(void **s) {
    (void)s;
    gg_config *c = config("data: {dataset: adding, samples: 10}\n");
    c->data.length = 1; /* past the schema's check, as a library caller could */
    gg_dataset *tr = NULL, *te = NULL;
    gg_error err = {0};
    assert_int_equal(gg_data_builtin(c, &tr, &te, &err), GG_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "data.length"));
    assert_null(tr);
    gg_config_free(c);
    /* And the schema refuses it from YAML. */
    c = gg_config_new_default();
    assert_int_not_equal(gg_config_load_string(c, "data: {dataset: adding, length: 1}\n", &err), GG_OK);
    gg_config_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adding_shapes_and_split),
        cmocka_unit_test(test_adding_two_markers_one_in_each_half_for_every_length),
        cmocka_unit_test(test_adding_always_one_gives_mse_one_sixth),
        cmocka_unit_test(test_adding_is_reproducible_for_a_seed_and_differs_for_another),
        cmocka_unit_test(test_adding_through_gg_data_load_keeps_values_with_normalize_none),
        cmocka_unit_test(test_adding_refuses_a_length_below_two),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
