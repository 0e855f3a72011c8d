/* Parameter initialisation (src/layers/init.c) against torch.nn.init's
 * definitions, with PyTorch's fans (fan_in = dims[1] * receptive field,
 * fan_out = dims[0] * receptive field): empirical moments and bounds on a
 * 256 x 512 weight (fan_in 512, fan_out 256), orthogonality, and seeding. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "graph/graph.h"

#define ROWS 256
#define COLS 512
#define FAN_IN 512.0
#define FAN_OUT 256.0

#ifdef GG_FLOAT64
#define ORTHO_TOL 1e-12
#else
#define ORTHO_TOL 1e-5
#endif

/* A weight of the given shape initialised by a fresh graph; caller frees. */
static gg_real *init_weight(gg_init init, double gain, int ndim, const int *dims, uint64_t seed,
                            size_t *len) {
    gg_graph *g = gg_graph_new(1, seed);
    gg_node *w = gg_param(g, "w", ndim, dims, init, gain);
    assert_non_null(w);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    *len = gg_node_len(w);
    gg_real *out = malloc(*len * sizeof *out);
    memcpy(out, gg_node_data(w), *len * sizeof *out);
    gg_graph_free(g);
    return out;
}

typedef struct moments {
    double mean, std, kurtosis, max_abs;
} moments;

static moments moments_of(const gg_real *x, size_t n) {
    moments m = {0, 0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        m.mean += x[i];
        m.max_abs = fabs((double)x[i]) > m.max_abs ? fabs((double)x[i]) : m.max_abs;
    }
    m.mean /= (double)n;
    double m2 = 0, m4 = 0;
    for (size_t i = 0; i < n; i++) {
        double d = x[i] - m.mean;
        m2 += d * d;
        m4 += d * d * d * d;
    }
    m2 /= (double)n;
    m4 /= (double)n;
    m.std = sqrt(m2);
    m.kurtosis = m4 / (m2 * m2);
    return m;
}

/* N(0, std^2): mean within 5 standard errors, std within 1.5 %
 * (its standard error is 0.2 % at 131072 samples), Gaussian kurtosis 3. */
static void check_normal(gg_init init, double gain, double std, const char *what) {
    size_t n;
    gg_real *w = init_weight(init, gain, 2, (int[]){ROWS, COLS}, 1, &n);
    moments m = moments_of(w, n);
    if (fabs(m.mean) > 5 * std / sqrt((double)n)) fail_msg("%s: mean %g", what, m.mean);
    if (fabs(m.std / std - 1) > 0.015) fail_msg("%s: std %g, expected %g", what, m.std, std);
    if (fabs(m.kurtosis - 3) > 0.1) fail_msg("%s: kurtosis %g, expected 3", what, m.kurtosis);
    free(w);
}

/* U(-b, b): every value inside, the extremes reached, std b / sqrt(3). */
static void check_uniform(gg_init init, double gain, double bound, const char *what) {
    size_t n;
    gg_real *w = init_weight(init, gain, 2, (int[]){ROWS, COLS}, 2, &n);
    moments m = moments_of(w, n);
    if (m.max_abs > bound * (1 + 1e-6))
        fail_msg("%s: |w| up to %g > bound %g", what, m.max_abs, bound);
    if (m.max_abs < bound * 0.999)
        fail_msg("%s: |w| only up to %g, bound %g", what, m.max_abs, bound);
    if (fabs(m.mean) > 5 * bound / sqrt(3.0 * (double)n)) fail_msg("%s: mean %g", what, m.mean);
    if (fabs(m.std / (bound / sqrt(3.0)) - 1) > 0.01)
        fail_msg("%s: std %g, expected %g", what, m.std, bound / sqrt(3.0));
    if (fabs(m.kurtosis - 1.8) > 0.05) fail_msg("%s: kurtosis %g, expected 1.8", what, m.kurtosis);
    free(w);
}

static void test_init_he_normal_has_std_sqrt_2_over_fan_in(void **s) {
    (void)s;
    check_normal(GG_INIT_HE_NORMAL, 0, sqrt(2 / FAN_IN), "he_normal");
    check_normal(GG_INIT_HE_NORMAL, 1.0, sqrt(1 / FAN_IN), "he_normal gain 1");
}

static void test_init_he_uniform_has_bound_gain_sqrt_3_over_fan_in(void **s) {
    (void)s;
    check_uniform(GG_INIT_HE_UNIFORM, 0, sqrt(2.0) * sqrt(3 / FAN_IN), "he_uniform");
    check_uniform(GG_INIT_HE_UNIFORM, 0.5, 0.5 * sqrt(3 / FAN_IN), "he_uniform gain 0.5");
}

static void test_init_xavier_uniform_has_bound_sqrt_6_over_fan_sum(void **s) {
    (void)s;
    check_uniform(GG_INIT_XAVIER_UNIFORM, 0, sqrt(6 / (FAN_IN + FAN_OUT)), "xavier_uniform");
    check_uniform(GG_INIT_XAVIER_UNIFORM, 2.0, 2 * sqrt(6 / (FAN_IN + FAN_OUT)),
                  "xavier_uniform gain 2");
}

static void test_init_xavier_normal_has_std_sqrt_2_over_fan_sum(void **s) {
    (void)s;
    check_normal(GG_INIT_XAVIER_NORMAL, 0, sqrt(2 / (FAN_IN + FAN_OUT)), "xavier_normal");
    check_normal(GG_INIT_XAVIER_NORMAL, 3.0, 3 * sqrt(2 / (FAN_IN + FAN_OUT)),
                 "xavier_normal gain 3");
}

static void test_init_torch_default_has_bound_1_over_sqrt_fan_in(void **s) {
    (void)s;
    check_uniform(GG_INIT_TORCH_DEFAULT, 0, 1 / sqrt(FAN_IN), "torch_default");
}

static void test_init_uniform_and_normal_use_scale(void **s) {
    (void)s;
    check_uniform(GG_INIT_UNIFORM, 0.3, 0.3, "uniform(0.3)");
    check_uniform(GG_INIT_UNIFORM, 0, 1.0, "uniform default a = 1");
    check_normal(GG_INIT_NORMAL, 0.05, 0.05, "normal(0.05)");
    check_normal(GG_INIT_NORMAL, 0, 0.01, "normal default std 0.01");
}

static void test_init_zeros_and_ones_are_exact(void **s) {
    (void)s;
    size_t n;
    gg_real *w = init_weight(GG_INIT_ZEROS, 0, 2, (int[]){ROWS, COLS}, 3, &n);
    for (size_t i = 0; i < n; i++)
        if (w[i] != 0) fail_msg("zeros[%zu] = %g", i, (double)w[i]);
    free(w);
    w = init_weight(GG_INIT_ONES, 0, 2, (int[]){ROWS, COLS}, 3, &n);
    for (size_t i = 0; i < n; i++)
        if (w[i] != 1) fail_msg("ones[%zu] = %g", i, (double)w[i]);
    free(w);
}

static void test_init_fans_include_the_receptive_field(void **s) {
    (void)s;
    /* A conv-style [8, 4, 3, 3] weight: fan_in 4 * 9 = 36, fan_out 8 * 9 = 72. */
    const int dims[4] = {8, 4, 3, 3};
    size_t n;
    gg_real *w = init_weight(GG_INIT_TORCH_DEFAULT, 0, 4, dims, 4, &n);
    assert_int_equal(n, 288);
    moments m = moments_of(w, n);
    assert_true(m.max_abs <= (1 / 6.0) * (1 + 1e-6));
    assert_true(m.max_abs > (1 / 6.0) * 0.95);
    free(w);
    w = init_weight(GG_INIT_XAVIER_UNIFORM, 0, 4, dims, 4, &n);
    m = moments_of(w, n);
    double b = sqrt(6 / (36.0 + 72.0));
    assert_true(m.max_abs <= b * (1 + 1e-6));
    assert_true(m.max_abs > b * 0.95);
    free(w);
}

/* ---- orthogonal ---------------------------------------------------------------- */

/* rows <= cols: W W^T = gain^2 I; rows > cols: W^T W = gain^2 I. */
static void check_orthogonal(int rows, int cols, double gain, uint64_t seed) {
    size_t n;
    gg_real *w = init_weight(GG_INIT_ORTHOGONAL, gain, 2, (int[]){rows, cols}, seed, &n);
    double g2 = (gain > 0 ? gain : 1.0) * (gain > 0 ? gain : 1.0);
    int k = rows <= cols ? rows : cols, len = rows <= cols ? cols : rows;
    double offmax = 0;
    for (int a = 0; a < k; a++)
        for (int b = 0; b < k; b++) {
            double dot = 0;
            for (int i = 0; i < len; i++) {
                double x = rows <= cols ? w[(size_t)a * cols + i] : w[(size_t)i * cols + a];
                double y = rows <= cols ? w[(size_t)b * cols + i] : w[(size_t)i * cols + b];
                dot += x * y;
            }
            double want = a == b ? g2 : 0;
            if (fabs(dot - want) > ORTHO_TOL * g2)
                fail_msg("%dx%d gain %g: (%d, %d) product %.9g, expected %g", rows, cols, gain, a,
                         b, dot, want);
        }
    /* Not a trivially orthogonal matrix such as a scaled identity. */
    for (size_t i = 0; i < n; i++) offmax = fmax(offmax, fabs((double)w[i]));
    assert_true(offmax < 0.9 * sqrt(g2));
    free(w);
}

static void test_init_orthogonal_rows_are_orthonormal_when_wide(void **s) {
    (void)s;
    check_orthogonal(32, 48, 0, 5);
    check_orthogonal(32, 48, 2.0, 6);
    check_orthogonal(1, 16, 0, 7);
}

static void test_init_orthogonal_columns_are_orthonormal_when_tall(void **s) {
    (void)s;
    check_orthogonal(48, 32, 0, 8);
    check_orthogonal(48, 32, 0.5, 9);
    check_orthogonal(16, 1, 0, 10);
}

static void test_init_orthogonal_square_is_orthogonal_both_ways(void **s) {
    (void)s;
    check_orthogonal(40, 40, 0, 11);
    /* square: rows <= cols checks W W^T; do the transpose too through a tall view */
    size_t n;
    gg_real *w = init_weight(GG_INIT_ORTHOGONAL, 0, 2, (int[]){40, 40}, 11, &n);
    for (int a = 0; a < 40; a++)
        for (int b = 0; b < 40; b++) {
            double dot = 0;
            for (int i = 0; i < 40; i++) dot += (double)w[i * 40 + a] * w[i * 40 + b];
            if (fabs(dot - (a == b)) > ORTHO_TOL) fail_msg("W^T W (%d, %d) = %.9g", a, b, dot);
        }
    free(w);
}

static void test_init_orthogonal_of_a_conv_weight_flattens_trailing_dims(void **s) {
    (void)s;
    /* [8, 4, 3, 3] -> an 8 x 36 matrix with orthonormal rows. */
    size_t n;
    gg_real *w = init_weight(GG_INIT_ORTHOGONAL, 0, 4, (int[]){8, 4, 3, 3}, 12, &n);
    for (int a = 0; a < 8; a++)
        for (int b = 0; b < 8; b++) {
            double dot = 0;
            for (int i = 0; i < 36; i++) dot += (double)w[a * 36 + i] * w[b * 36 + i];
            if (fabs(dot - (a == b)) > ORTHO_TOL) fail_msg("(%d, %d) = %.9g", a, b, dot);
        }
    free(w);
}

/* ---- seeding ------------------------------------------------------------------ */

static void test_init_same_seed_gives_same_weights(void **s) {
    (void)s;
    const gg_init inits[] = {GG_INIT_UNIFORM,     GG_INIT_NORMAL,        GG_INIT_XAVIER_UNIFORM,
                             GG_INIT_XAVIER_NORMAL, GG_INIT_HE_UNIFORM,  GG_INIT_HE_NORMAL,
                             GG_INIT_TORCH_DEFAULT, GG_INIT_ORTHOGONAL};
    for (size_t k = 0; k < sizeof inits / sizeof inits[0]; k++) {
        size_t n1, n2, n3;
        const int dims[2] = {16, 24};
        gg_real *a = init_weight(inits[k], 0, 2, dims, 42, &n1);
        gg_real *b = init_weight(inits[k], 0, 2, dims, 42, &n2);
        gg_real *c = init_weight(inits[k], 0, 2, dims, 43, &n3);
        assert_memory_equal(a, b, n1 * sizeof *a);
        assert_memory_not_equal(a, c, n1 * sizeof *a);
        free(a);
        free(b);
        free(c);
    }
}

static void test_init_successive_params_draw_different_values(void **s) {
    (void)s;
    gg_graph *g = gg_graph_new(1, 9);
    gg_node *a = gg_param(g, "a", 2, (int[]){8, 8}, GG_INIT_HE_NORMAL, 0);
    gg_node *b = gg_param(g, "b", 2, (int[]){8, 8}, GG_INIT_HE_NORMAL, 0);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    assert_memory_not_equal(gg_node_data(a), gg_node_data(b), 64 * sizeof(gg_real));
    gg_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_he_normal_has_std_sqrt_2_over_fan_in),
        cmocka_unit_test(test_init_he_uniform_has_bound_gain_sqrt_3_over_fan_in),
        cmocka_unit_test(test_init_xavier_uniform_has_bound_sqrt_6_over_fan_sum),
        cmocka_unit_test(test_init_xavier_normal_has_std_sqrt_2_over_fan_sum),
        cmocka_unit_test(test_init_torch_default_has_bound_1_over_sqrt_fan_in),
        cmocka_unit_test(test_init_uniform_and_normal_use_scale),
        cmocka_unit_test(test_init_zeros_and_ones_are_exact),
        cmocka_unit_test(test_init_fans_include_the_receptive_field),
        cmocka_unit_test(test_init_orthogonal_rows_are_orthonormal_when_wide),
        cmocka_unit_test(test_init_orthogonal_columns_are_orthonormal_when_tall),
        cmocka_unit_test(test_init_orthogonal_square_is_orthogonal_both_ways),
        cmocka_unit_test(test_init_orthogonal_of_a_conv_weight_flattens_trailing_dims),
        cmocka_unit_test(test_init_same_seed_gives_same_weights),
        cmocka_unit_test(test_init_successive_params_draw_different_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
