/* The dense layer (src/layers/dense.c): PyTorch names and shapes
 * (layers.{i}.weight [units, in], layers.{i}.bias [units]), bias: false,
 * the bias's fan-in, the forward product, its gradients, and the build
 * error for a non-flat input naming the layer and the shape. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>
#include "layers/layers.h"
#include "support/fixtures.h"
#include "support/gradcheck.h"

#ifdef GG_FLOAT64
#define EPS 1e-14
#else
#define EPS 2e-6
#endif

static gg_layer_spec dense_spec(int units, int bias) {
    gg_layer_spec s;
    memset(&s, 0, sizeof s);
    s.kind = GG_LAYER_DENSE;
    s.units = units;
    s.bias = bias;
    s.init = GG_INIT_TORCH_DEFAULT;
    s.bias_init = GG_INIT_TORCH_DEFAULT;
    s.gain = 0;
    s.scale = 1;
    s.slope = 0.01;
    s.alpha = 1;
    return s;
}

static void test_dense_creates_weight_and_bias_with_pytorch_names_and_shapes(void **s) {
    (void)s;
    gg_graph *g = gg_graph_new(3, 0);
    gg_node *x = gg_input(g, "x", 1, (int[]){7});
    gg_layer_spec sp = dense_spec(5, 1);
    gg_node *y = gg_layer_dense(g, x, &sp, 2, "");
    assert_non_null(y);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    assert_int_equal(gg_graph_param_count(g), 2);
    gg_node *w = gg_graph_param(g, 0), *b = gg_graph_param(g, 1);
    assert_string_equal(gg_node_name(w), "layers.2.weight");
    assert_string_equal(gg_node_name(b), "layers.2.bias");
    assert_int_equal(gg_node_ndim(w), 2);
    assert_int_equal(gg_node_dim(w, 0), 5);
    assert_int_equal(gg_node_dim(w, 1), 7);
    assert_int_equal(gg_node_ndim(b), 1);
    assert_int_equal(gg_node_dim(b, 0), 5);
    assert_ptr_equal(gg_graph_find_param(g, "layers.2.weight"), w);
    assert_int_equal(gg_node_ndim(y), 2);
    assert_int_equal(gg_node_dim(y, 0), 3);
    assert_int_equal(gg_node_dim(y, 1), 5);
    gg_graph_free(g);
}

static void test_dense_names_take_the_prefix(void **s) {
    (void)s;
    gg_graph *g = gg_graph_new(1, 0);
    gg_node *x = gg_input(g, "x", 1, (int[]){3});
    gg_layer_spec sp = dense_spec(2, 1);
    assert_non_null(gg_layer_dense(g, x, &sp, 0, "encoder."));
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    assert_non_null(gg_graph_find_param(g, "encoder.layers.0.weight"));
    assert_non_null(gg_graph_find_param(g, "encoder.layers.0.bias"));
    gg_graph_free(g);
}

static void test_dense_without_bias_creates_only_the_weight(void **s) {
    (void)s;
    gg_graph *g = gg_graph_new(2, 0);
    gg_node *x = gg_input(g, "x", 1, (int[]){4});
    gg_layer_spec sp = dense_spec(3, 0);
    gg_node *y = gg_layer_dense(g, x, &sp, 1, "");
    assert_non_null(y);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    assert_int_equal(gg_graph_param_count(g), 1);
    assert_string_equal(gg_node_name(gg_graph_param(g, 0)), "layers.1.weight");
    assert_null(gg_graph_find_param(g, "layers.1.bias"));
    gg_graph_free(g);
}

/* y = x W^T (+ b) against a naive loop. */
static void check_forward(int bias) {
    enum { N = 5, D = 9, U = 6 };
    gg_graph *g = gg_graph_new(N, 3);
    gg_node *x = gg_input(g, "x", 1, (int[]){D});
    gg_layer_spec sp = dense_spec(U, bias);
    gg_node *y = gg_layer_dense(g, x, &sp, 0, "");
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    gg_test_fill(gg_node_data(x), gg_node_len(x), 4, -1, 1);
    gg_graph_forward(g);
    const gg_real *w = gg_node_data(gg_graph_find_param(g, "layers.0.weight"));
    gg_node *bn = gg_graph_find_param(g, "layers.0.bias");
    for (int i = 0; i < N; i++)
        for (int u = 0; u < U; u++) {
            double acc = bias ? gg_node_data(bn)[u] : 0, mag = fabs(acc);
            for (int d = 0; d < D; d++) {
                acc += (double)gg_node_data(x)[i * D + d] * w[u * D + d];
                mag += fabs((double)gg_node_data(x)[i * D + d] * w[u * D + d]);
            }
            double got = gg_node_data(y)[i * U + u];
            if (fabs(got - acc) > 8 * EPS * mag) fail_msg("y[%d][%d] %.9g vs %.9g", i, u, got, acc);
        }
    gg_graph_free(g);
}

static void test_dense_forward_is_x_times_w_transposed_plus_b(void **s) {
    (void)s;
    check_forward(1);
    check_forward(0);
}

static void test_dense_bias_takes_the_weight_fan_in(void **s) {
    (void)s;
    /* nn.Linear(16, 300): weight and bias both U(-1/4, 1/4). A bias using its
     * own length (300) as fan-in would stay within 0.058. */
    gg_graph *g = gg_graph_new(1, 5);
    gg_node *x = gg_input(g, "x", 1, (int[]){16});
    gg_layer_spec sp = dense_spec(300, 1);
    assert_non_null(gg_layer_dense(g, x, &sp, 0, ""));
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    gg_node *b = gg_graph_find_param(g, "layers.0.bias");
    gg_node *w = gg_graph_find_param(g, "layers.0.weight");
    double bmax = 0, wmax = 0;
    for (int i = 0; i < 300; i++) bmax = fmax(bmax, fabs((double)gg_node_data(b)[i]));
    for (size_t i = 0; i < gg_node_len(w); i++) wmax = fmax(wmax, fabs((double)gg_node_data(w)[i]));
    assert_true(bmax <= 0.25 * (1 + 1e-6) && bmax > 0.2);
    assert_true(wmax <= 0.25 * (1 + 1e-6) && wmax > 0.24);
    gg_graph_free(g);
}

static void test_dense_weight_init_follows_the_spec(void **s) {
    (void)s;
    /* uniform takes scale as its bound; zeros/ones are exact. */
    gg_graph *g = gg_graph_new(1, 6);
    gg_node *x = gg_input(g, "x", 1, (int[]){50});
    gg_layer_spec sp = dense_spec(40, 1);
    sp.init = GG_INIT_UNIFORM;
    sp.scale = 0.7;
    sp.bias_init = GG_INIT_ZEROS;
    gg_node *h = gg_layer_dense(g, x, &sp, 0, "");
    gg_layer_spec sp2 = dense_spec(3, 1);
    sp2.init = GG_INIT_ONES;
    sp2.bias_init = GG_INIT_ONES;
    assert_non_null(gg_layer_dense(g, h, &sp2, 1, ""));
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    gg_node *w = gg_graph_find_param(g, "layers.0.weight");
    gg_node *b = gg_graph_find_param(g, "layers.0.bias");
    double wmax = 0;
    for (size_t i = 0; i < gg_node_len(w); i++) wmax = fmax(wmax, fabs((double)gg_node_data(w)[i]));
    assert_true(wmax <= 0.7 * (1 + 1e-6) && wmax > 0.69);
    for (int i = 0; i < 40; i++) assert_true(gg_node_data(b)[i] == 0);
    gg_node *w1 = gg_graph_find_param(g, "layers.1.weight");
    gg_node *b1 = gg_graph_find_param(g, "layers.1.bias");
    for (size_t i = 0; i < gg_node_len(w1); i++) assert_true(gg_node_data(w1)[i] == 1);
    for (int i = 0; i < 3; i++) assert_true(gg_node_data(b1)[i] == 1);
    gg_graph_free(g);
}

static void test_dense_on_a_non_flat_input_fails_naming_layer_and_shape(void **s) {
    (void)s;
    gg_graph *g = gg_graph_new(2, 0);
    gg_node *x = gg_input(g, "x", 2, (int[]){4, 5});
    gg_layer_spec sp = dense_spec(3, 1);
    assert_null(gg_layer_dense(g, x, &sp, 3, ""));
    gg_error err = {GG_OK, ""};
    assert_int_equal(gg_graph_build(g, &err), GG_ERR_SHAPE);
    assert_int_equal(err.code, GG_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "layers.3 (dense)"));
    assert_non_null(strstr(err.msg, "[4, 5]"));
    assert_int_equal(gg_graph_param_count(g), 0);
    gg_graph_free(g);
}

static void test_dense_backward_matches_finite_differences(void **s) {
    (void)s;
    enum { N = 4, D = 5, U = 3 };
    gg_graph *g = gg_graph_new(N, 7);
    gg_node *x = gg_input(g, "x", 1, (int[]){D});
    gg_node *t = gg_input(g, "t", 1, (int[]){U});
    gg_layer_spec sp = dense_spec(U, 1);
    gg_node *y = gg_layer_dense(g, x, &sp, 0, "");
    gg_node *loss = gg_mse_loss(g, gg_tanh(g, y), t);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    gg_test_fill(gg_node_data(x), gg_node_len(x), 8, -1, 1);
    gg_test_fill(gg_node_data(t), gg_node_len(t), 9, -1, 1);
    gg_gradcheck_result r;
    gg_gradcheck(g, loss, gg_gradcheck_step(), &r);
    assert_true(r.grad_norm > 1e-3);
    if (r.max_rel_err > gg_gradcheck_tol())
        fail_msg("relative error %g in %s", r.max_rel_err, r.worst);
    gg_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_creates_weight_and_bias_with_pytorch_names_and_shapes),
        cmocka_unit_test(test_dense_names_take_the_prefix),
        cmocka_unit_test(test_dense_without_bias_creates_only_the_weight),
        cmocka_unit_test(test_dense_forward_is_x_times_w_transposed_plus_b),
        cmocka_unit_test(test_dense_bias_takes_the_weight_fan_in),
        cmocka_unit_test(test_dense_weight_init_follows_the_spec),
        cmocka_unit_test(test_dense_on_a_non_flat_input_fails_naming_layer_and_shape),
        cmocka_unit_test(test_dense_backward_matches_finite_differences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
