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

/* An IDX file: the header, then n bytes of big-endian data. */
static void write_idx(const char *dir, const char *name, int type, int ndim, const uint32_t *dims,
                      const void *data, size_t n) {
    unsigned char *buf = malloc(4 + 4 * (size_t)ndim + n);
    size_t k = 0;
    assert_non_null(buf);
    buf[k++] = 0, buf[k++] = 0, buf[k++] = (unsigned char)type, buf[k++] = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++)
        for (int sh = 24; sh >= 0; sh -= 8) buf[k++] = (unsigned char)(dims[i] >> sh);
    if (n) memcpy(buf + k, data, n);
    free(gg_test_write_file(dir, name, buf, k + n));
    free(buf);
}

/* idx:DIR with 4 test images of 2 x 2 u8 and labels 0..3; the training
 * files are the caller's. gg_data_load must fail with GG_ERR_DATA and a
 * message naming DIR/file and holding want. */
static void expect_idx_failure(const char *dir, const char *file, const char *want) {
    unsigned char px[16] = {0}, lab[4] = {0, 1, 2, 3};
    uint32_t idims[3] = {4, 2, 2}, ldims[1] = {4};
    write_idx(dir, "t10k-images-idx3-ubyte", 0x08, 3, idims, px, 16);
    write_idx(dir, "t10k-labels-idx1-ubyte", 0x08, 1, ldims, lab, 4);
    char yaml[512], path[512];
    snprintf(yaml, sizeof yaml, "data: {dataset: 'idx:%s', validation: 0}\n", dir);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    gg_config *c = config(yaml);
    gg_dataset *tr, *va, *te;
    gg_error err = {0};
    assert_int_equal(gg_data_load(c, &tr, &va, &te, &err), GG_ERR_DATA);
    if (!strstr(err.msg, path)) fail_msg("message '%s' lacks '%s'", err.msg, path);
    if (!strstr(err.msg, want)) fail_msg("message '%s' lacks '%s'", err.msg, want);
    assert_null(strstr(err.msg, "data.validation"));
    assert_null(tr);
    gg_config_free(c);
}

/* Big-endian f32 or f64 bytes of v[0..n-1]. */
static void be_floats(unsigned char *out, const double *v, size_t n, int bytes) {
    for (size_t i = 0; i < n; i++) {
        uint64_t u = 0;
        if (bytes == 4) {
            float f = (float)v[i];
            uint32_t u32;
            memcpy(&u32, &f, 4);
            u = u32;
        } else {
            memcpy(&u, &v[i], 8);
        }
        for (int b = 0; b < bytes; b++) out[i * (size_t)bytes + (size_t)b] = (unsigned char)(u >> (8 * (bytes - 1 - b)));
    }
}

static void test_idx_non_finite_pixels_are_refused_naming_file_and_index(void **s) {
    (void)s;
    char *dir = gg_test_tmpdir();
    double v[16];
    unsigned char px[16 * 8], lab[4] = {0, 1, 2, 3};
    uint32_t idims[3] = {4, 2, 2}, ldims[1] = {4};
    write_idx(dir, "train-labels-idx1-ubyte", 0x08, 1, ldims, lab, 4);
    for (int i = 0; i < 16; i++) v[i] = 0.5;
    v[9] = NAN;
    be_floats(px, v, 16, 4);
    write_idx(dir, "train-images-idx3-ubyte", 0x0d, 3, idims, px, 16 * 4);
    expect_idx_failure(dir, "train-images-idx3-ubyte", "value 9 (image 2) is not finite");
    v[9] = 0.5, v[15] = -INFINITY;
    be_floats(px, v, 16, 8);
    write_idx(dir, "train-images-idx3-ubyte", 0x0e, 3, idims, px, 16 * 8);
    expect_idx_failure(dir, "train-images-idx3-ubyte", "value 15 (image 3) is not finite (-inf)");
    gg_test_rmtree(dir);
    free(dir);
}

/* No images: the images file is named, not data.validation (0 >= 0 samples). */
static void test_idx_zero_images_are_refused_naming_the_images_file(void **s) {
    (void)s;
    char *dir = gg_test_tmpdir();
    uint32_t idims[3] = {0, 2, 2}, ldims[1] = {0};
    write_idx(dir, "train-images-idx3-ubyte", 0x08, 3, idims, NULL, 0);
    write_idx(dir, "train-labels-idx1-ubyte", 0x08, 1, ldims, NULL, 0);
    expect_idx_failure(dir, "train-images-idx3-ubyte", ": 0 images");
    idims[1] = idims[2] = 0xffffffffu; /* no values, whatever the dims say */
    write_idx(dir, "train-images-idx3-ubyte", 0x08, 3, idims, NULL, 0);
    expect_idx_failure(dir, "train-images-idx3-ubyte", ": 0 images");
    gg_test_rmtree(dir);
    free(dir);
}

/* A dimension of 0, or one an int shape cannot hold, is refused before any cast. */
static void test_idx_empty_or_oversized_images_are_refused(void **s) {
    (void)s;
    char *dir = gg_test_tmpdir();
    static unsigned char px[70000];
    unsigned char lab[4] = {0, 1, 2, 3};
    uint32_t ldims[1] = {4}, zero[3] = {4, 0, 2}, tall[3] = {1, 0x80000000u, 0},
             wide[3] = {1, 1, 70000};
    write_idx(dir, "train-labels-idx1-ubyte", 0x08, 1, ldims, lab, 4);
    write_idx(dir, "train-images-idx3-ubyte", 0x08, 3, zero, NULL, 0);
    expect_idx_failure(dir, "train-images-idx3-ubyte", "images of 4 x 0 x 2: 0 pixels");
    write_idx(dir, "train-labels-idx1-ubyte", 0x08, 1, (uint32_t[]){1}, lab, 1);
    write_idx(dir, "train-images-idx3-ubyte", 0x08, 3, tall, NULL, 0);
    expect_idx_failure(dir, "train-images-idx3-ubyte", "1 x 2147483648 x 0");
    write_idx(dir, "train-images-idx3-ubyte", 0x08, 3, wide, px, sizeof px);
    expect_idx_failure(dir, "train-images-idx3-ubyte", "images of 1 x 1 x 70000: too large");
    gg_test_rmtree(dir);
    free(dir);
}

static void test_idx_label_over_65535_states_the_range(void **s) {
    (void)s;
    char *dir = gg_test_tmpdir();
    unsigned char px[16] = {0}, lab[16] = {0, 0, 0, 0, 0, 1, 0x11, 0x70}; /* 0, 70000, 0, 0 */
    uint32_t idims[3] = {4, 2, 2}, ldims[1] = {4};
    write_idx(dir, "train-images-idx3-ubyte", 0x08, 3, idims, px, 16);
    write_idx(dir, "train-labels-idx1-ubyte", 0x0c, 1, ldims, lab, 16);
    expect_idx_failure(dir, "train-labels-idx1-ubyte",
                       "label 1 is 70000, expected a class index from 0 to 65535");
    gg_test_rmtree(dir);
    free(dir);
}

/* The label's file line (blank lines counted) and the column where it starts. */
static void test_csv_label_error_names_line_and_column(void **s) {
    (void)s;
    char *dir = gg_test_tmpdir(), yaml[512];
    const char text[] = "a,b,label\n1,2,0\n\n3,4,1\n5,6,  0.5\n7,8,2\n";
    char *path = gg_test_write_file(dir, "labels.csv", text, sizeof text - 1), want[600];
    snprintf(yaml, sizeof yaml, "data: {dataset: 'csv:%s', validation: 0}\n", path);
    gg_config *c = config(yaml);
    gg_dataset *tr, *va, *te;
    gg_error err = {0};
    assert_int_equal(gg_data_load(c, &tr, &va, &te, &err), GG_ERR_DATA);
    snprintf(want, sizeof want, "%s:5:7: label 0.5, expected a class index from 0 to 65535", path);
    assert_string_equal(err.msg, want);
    gg_config_free(c);
    const char text2[] = "x,label\n1,-1\n";
    free(gg_test_write_file(dir, "labels.csv", text2, sizeof text2 - 1));
    snprintf(yaml, sizeof yaml, "data: {dataset: 'csv:%s', validation: 0}\n", path);
    c = config(yaml);
    assert_int_equal(gg_data_load(c, &tr, &va, &te, &err), GG_ERR_DATA);
    snprintf(want, sizeof want, "%s:2:3: label -1, expected a class index from 0 to 65535", path);
    assert_string_equal(err.msg, want);
    gg_config_free(c);
    free(path);
    gg_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validation_split_is_seeded_disjoint_and_complete),
        cmocka_unit_test(test_standardize_uses_training_statistics_only),
        cmocka_unit_test(test_builtin_tasks),
        cmocka_unit_test(test_validation_larger_than_data_is_a_config_error),
        cmocka_unit_test(test_fashion_mnist_loads_with_its_shapes),
        cmocka_unit_test(test_idx_non_finite_pixels_are_refused_naming_file_and_index),
        cmocka_unit_test(test_idx_zero_images_are_refused_naming_the_images_file),
        cmocka_unit_test(test_idx_empty_or_oversized_images_are_refused),
        cmocka_unit_test(test_idx_label_over_65535_states_the_range),
        cmocka_unit_test(test_csv_label_error_names_line_and_column),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
