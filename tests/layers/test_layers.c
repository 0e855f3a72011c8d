/* The layer dispatcher (src/layers/layers.c): each kind builds its op
 * labelled with the layer index and its attributes (slope, alpha), a
 * dense-relu-dense stack passes a gradient check on its weights, and a
 * shape error inside a stack names the layer. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "support/assert_near.h"
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "layers/layers.h"
#include "support/fixtures.h"
#include "support/gradcheck.h"


static gg_layer_spec spec(gg_layer_kind kind, int units) {
    gg_layer_spec s;
    memset(&s, 0, sizeof s);
    s.kind = kind;
    s.units = units;
    s.bias = 1;
    s.init = GG_INIT_TORCH_DEFAULT;
    s.bias_init = GG_INIT_TORCH_DEFAULT;
    s.scale = 1;
    s.slope = 0.01;
    s.alpha = 1;
    return s;
}

static void test_layers_dense_relu_dense_passes_gradient_check(void **s) {
    (void)s;
    enum { N = 6, D = 4, H = 8, C = 3 };
    gg_graph *g = gg_graph_new(N, 13);
    gg_node *x = gg_input(g, "x", 1, (int[]){D});
    gg_node *t = gg_input(g, "t", 1, (int[]){1});
    gg_layer_spec l0 = spec(GG_LAYER_DENSE, H), l1 = spec(GG_LAYER_RELU, 0),
                  l2 = spec(GG_LAYER_DENSE, C);
    l0.init = GG_INIT_HE_UNIFORM;
    gg_node *h = gg_layer_build(g, x, &l0, 0, "");
    gg_node *a = gg_layer_build(g, h, &l1, 1, "");
    gg_node *z = gg_layer_build(g, a, &l2, 2, "");
    gg_node *loss = gg_cross_entropy_loss(g, z, t);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    assert_int_equal(gg_graph_param_count(g), 4);
    for (int i = 0; i < N; i++) gg_node_data(t)[i] = (gg_real)(i % C);
    /* Keep every pre-activation at least 0.05 from ReLU's kink, more than a
     * finite-difference step can move it: pick the first input seed that does. */
    double margin = 0;
    uint64_t seed = 0;
    for (seed = 1; seed < 200 && margin < 0.05; seed++) {
        gg_test_fill(gg_node_data(x), gg_node_len(x), seed, -1, 1);
        gg_graph_forward(g);
        margin = INFINITY;
        for (size_t i = 0; i < gg_node_len(h); i++)
            margin = fmin(margin, fabs((double)gg_node_data(h)[i]));
    }
    assert_true(margin >= 0.05);
    int active = 0;
    for (size_t i = 0; i < gg_node_len(h); i++) active += gg_node_data(h)[i] > 0;
    assert_true(active > 0 && active < (int)gg_node_len(h)); /* both sides of the kink */
    gg_gradcheck_result r;
    gg_gradcheck(g, loss, gg_gradcheck_step(), &r);
    assert_true(r.grad_norm > 1e-3);
    if (r.max_rel_err > gg_gradcheck_tol())
        fail_msg("relative error %g in %s", r.max_rel_err, r.worst);
    /* Each weight receives a gradient. */
    const char *names[4] = {"layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"};
    for (int k = 0; k < 4; k++) {
        gg_node *p = gg_graph_find_param(g, names[k]);
        assert_non_null(p);
        double sum = 0;
        for (size_t i = 0; i < gg_node_len(p); i++) sum += fabs(gg_node_grad(p)[i]);
        if (sum < 1e-6) fail_msg("%s: gradient is all zeros", names[k]);
    }
    gg_graph_free(g);
}

static void test_layers_each_kind_builds_its_op_labelled_with_the_index(void **s) {
    (void)s;
    const struct {
        gg_layer_kind kind;
        const char *op;
    } kinds[] = {{GG_LAYER_IDENTITY, "identity"}, {GG_LAYER_SIGMOID, "sigmoid"},
                 {GG_LAYER_TANH, "tanh"},         {GG_LAYER_RELU, "relu"},
                 {GG_LAYER_LEAKY_RELU, "leaky_relu"}, {GG_LAYER_ELU, "elu"},
                 {GG_LAYER_SOFTMAX, "softmax"},   {GG_LAYER_DENSE, "linear"}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        gg_graph *g = gg_graph_new(2, 0);
        gg_node *x = gg_input(g, "x", 1, (int[]){3});
        gg_layer_spec sp = spec(kinds[k].kind, 4);
        gg_node *y = gg_layer_build(g, x, &sp, 5, "");
        assert_non_null(y);
        assert_string_equal(gg_node_name(y), kinds[k].op);
        assert_int_equal(y->layer, 5);
        char buf[96], want[96];
        snprintf(want, sizeof want, "layers.5 (%s)", kinds[k].op);
        assert_string_equal(gg_node_label(y, buf, sizeof buf), want);
        assert_int_equal(gg_graph_build(g, NULL), GG_OK);
        gg_graph_free(g);
    }
}

static void test_layers_pass_slope_and_alpha_to_their_ops(void **s) {
    (void)s;
    gg_graph *g = gg_graph_new(1, 0);
    gg_node *x = gg_input(g, "x", 1, (int[]){2});
    gg_layer_spec lr = spec(GG_LAYER_LEAKY_RELU, 0), el = spec(GG_LAYER_ELU, 0);
    lr.slope = 0.2;
    el.alpha = 1.5;
    gg_node *a = gg_layer_build(g, x, &lr, 0, "");
    gg_node *b = gg_layer_build(g, x, &el, 1, "");
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    gg_node_data(x)[0] = -2;
    gg_node_data(x)[1] = 3;
    gg_graph_forward(g);
    assert_near(gg_node_data(a)[0], -0.4, 1e-6);
    assert_near(gg_node_data(a)[1], 3, 0);
    assert_near(gg_node_data(b)[0], 1.5 * expm1(-2.0), 1e-6);
    assert_near(gg_node_data(b)[1], 3, 0);
    gg_graph_free(g);
}

static void test_layers_shape_error_in_a_stack_names_the_layer(void **s) {
    (void)s;
    gg_graph *g = gg_graph_new(2, 0);
    gg_node *x = gg_input(g, "x", 2, (int[]){6, 2});
    gg_layer_spec l0 = spec(GG_LAYER_TANH, 0), l1 = spec(GG_LAYER_DENSE, 4),
                  l2 = spec(GG_LAYER_RELU, 0);
    gg_node *h = gg_layer_build(g, x, &l0, 0, "");
    assert_non_null(h);
    gg_node *y = gg_layer_build(g, h, &l1, 1, "");
    assert_null(y);
    assert_null(gg_layer_build(g, y, &l2, 2, "")); /* later layers are no-ops */
    gg_error err = {GG_OK, ""};
    assert_int_equal(gg_graph_build(g, &err), GG_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "layers.1 (dense)"));
    assert_non_null(strstr(err.msg, "[6, 2]"));
    gg_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layers_dense_relu_dense_passes_gradient_check),
        cmocka_unit_test(test_layers_each_kind_builds_its_op_labelled_with_the_index),
        cmocka_unit_test(test_layers_pass_slope_and_alpha_to_their_ops),
        cmocka_unit_test(test_layers_shape_error_in_a_stack_names_the_layer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
