/* add and identity (src/ops/elementwise.c): finite-difference checks of
 * both backwards (each input of add gets the output gradient), exact
 * forward values, and add's shape error naming the node and both shapes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>
#include "ops/ops.h"
#include "support/fixtures.h"
#include "support/gradcheck.h"

/* A batched [n, c] node whose values are a parameter P [c, n] (one-hot
 * input times P^T), so a gradient check of P checks the node's gradient. */
static gg_node *batched_param(gg_graph *g, const char *name, int n, int c, gg_node **p,
                              gg_node *e) {
    *p = gg_param(g, name, 2, (int[]){c, n}, GG_INIT_ZEROS, 0);
    return gg_linear(g, e, *p, NULL);
}

static void set_onehot(gg_node *e, int n) {
    gg_real *x = gg_node_data(e);
    for (int i = 0; i < n * n; i++) x[i] = (i / n == i % n) ? 1 : 0;
}

static void test_add_backward_matches_finite_differences(void **s) {
    (void)s;
    enum { N = 4, C = 6 };
    gg_graph *g = gg_graph_new(N, 1);
    gg_node *e = gg_input(g, "onehot", 1, (int[]){N});
    gg_node *pa, *pb;
    gg_node *a = batched_param(g, "a", N, C, &pa, e);
    gg_node *b = batched_param(g, "b", N, C, &pb, e);
    gg_node *t = gg_input(g, "t", 1, (int[]){C});
    /* tanh after the sum makes the two gradients differ from plain copies of
     * the target difference, and the sum's value matter. */
    gg_node *loss = gg_mse_loss(g, gg_tanh(g, gg_add(g, a, b)), t);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    set_onehot(e, N);
    gg_test_fill(gg_node_data(pa), gg_node_len(pa), 11, -1, 1);
    gg_test_fill(gg_node_data(pb), gg_node_len(pb), 12, -1, 1);
    gg_test_fill(gg_node_data(t), gg_node_len(t), 13, -1, 1);
    gg_gradcheck_result r;
    gg_gradcheck(g, loss, gg_gradcheck_step(), &r);
    assert_true(r.grad_norm > 1e-3);
    if (r.max_rel_err > gg_gradcheck_tol())
        fail_msg("relative error %g in %s", r.max_rel_err, r.worst);
    /* d(a + b)/da = d(a + b)/db: both inputs get the same gradient. */
    for (int i = 0; i < N * C; i++) assert_true(gg_node_grad(pa)[i] == gg_node_grad(pb)[i]);
    gg_graph_free(g);
}

static void test_add_of_a_node_to_itself_doubles_the_gradient(void **s) {
    (void)s;
    enum { N = 3, C = 2 };
    gg_graph *g = gg_graph_new(N, 1);
    gg_node *e = gg_input(g, "onehot", 1, (int[]){N});
    gg_node *pa;
    gg_node *a = batched_param(g, "a", N, C, &pa, e);
    gg_node *t = gg_input(g, "t", 1, (int[]){C});
    gg_node *loss = gg_mse_loss(g, gg_add(g, a, a), t);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    set_onehot(e, N);
    gg_test_fill(gg_node_data(pa), gg_node_len(pa), 21, -1, 1);
    gg_test_fill(gg_node_data(t), gg_node_len(t), 22, -1, 1);
    gg_gradcheck_result r;
    gg_gradcheck(g, loss, gg_gradcheck_step(), &r);
    assert_true(r.grad_norm > 1e-3);
    if (r.max_rel_err > gg_gradcheck_tol())
        fail_msg("relative error %g in %s", r.max_rel_err, r.worst);
    gg_graph_free(g);
}

static void test_identity_backward_matches_finite_differences(void **s) {
    (void)s;
    enum { N = 5, C = 3 };
    gg_graph *g = gg_graph_new(N, 2);
    gg_node *e = gg_input(g, "onehot", 1, (int[]){N});
    gg_node *pa;
    gg_node *a = batched_param(g, "a", N, C, &pa, e);
    gg_node *t = gg_input(g, "t", 1, (int[]){C});
    gg_node *loss = gg_mse_loss(g, gg_sigmoid(g, gg_identity(g, a)), t);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    set_onehot(e, N);
    gg_test_fill(gg_node_data(pa), gg_node_len(pa), 31, -2, 2);
    gg_test_fill(gg_node_data(t), gg_node_len(t), 32, 0, 1);
    gg_gradcheck_result r;
    gg_gradcheck(g, loss, gg_gradcheck_step(), &r);
    assert_true(r.grad_norm > 1e-3);
    if (r.max_rel_err > gg_gradcheck_tol())
        fail_msg("relative error %g in %s", r.max_rel_err, r.worst);
    gg_graph_free(g);
}

static void test_add_and_identity_forward_are_exact(void **s) {
    (void)s;
    /* Batch 3 of a max of 4; large enough (> GG_PAR_MIN) for the threaded loop. */
    enum { N = 4, C = 9000 };
    gg_graph *g = gg_graph_new(N, 0);
    gg_node *a = gg_input(g, "a", 1, (int[]){C}), *b = gg_input(g, "b", 1, (int[]){C});
    gg_node *y = gg_add(g, a, b), *id = gg_identity(g, a);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    gg_test_fill(gg_node_data(a), (size_t)N * C, 1, -5, 5);
    gg_test_fill(gg_node_data(b), (size_t)N * C, 2, -5, 5);
    for (size_t i = 0; i < (size_t)N * C; i++) gg_node_data(y)[i] = gg_node_data(id)[i] = -77;
    assert_int_equal(gg_graph_set_batch(g, 3, NULL), GG_OK);
    gg_graph_forward(g);
    for (size_t i = 0; i < (size_t)3 * C; i++) {
        gg_real want = gg_node_data(a)[i] + gg_node_data(b)[i];
        if (gg_node_data(y)[i] != want) fail_msg("add[%zu]", i);
        if (gg_node_data(id)[i] != gg_node_data(a)[i]) fail_msg("identity[%zu]", i);
    }
    /* The row past the batch is left alone. */
    assert_true(gg_node_data(y)[(size_t)3 * C] == -77);
    assert_true(gg_node_data(id)[(size_t)3 * C] == -77);
    gg_graph_free(g);
}

static void test_add_of_different_shapes_fails_naming_both_shapes(void **s) {
    (void)s;
    gg_error err = {GG_OK, ""};
    gg_graph *g = gg_graph_new(2, 0);
    gg_node *a = gg_input(g, "a", 2, (int[]){3, 4});
    gg_node *b = gg_input(g, "b", 2, (int[]){4, 3}); /* same count, other shape */
    assert_null(gg_add(g, a, b));
    assert_int_equal(gg_graph_build(g, &err), GG_ERR_SHAPE);
    assert_int_equal(err.code, GG_ERR_SHAPE);
    assert_string_equal(err.msg, "add: cannot add shapes [3, 4] and [4, 3]");
    gg_graph_free(g);
    /* Inside a layer, the label names it. */
    g = gg_graph_new(2, 0);
    a = gg_input(g, "a", 1, (int[]){5});
    b = gg_input(g, "b", 1, (int[]){6});
    a->layer = 4;
    assert_null(gg_add(g, a, b));
    assert_int_equal(gg_graph_build(g, &err), GG_ERR_SHAPE);
    assert_string_equal(err.msg, "layers.4 (add): cannot add shapes [5] and [6]");
    gg_graph_free(g);
    /* A different number of dimensions. */
    g = gg_graph_new(2, 0);
    a = gg_input(g, "a", 1, (int[]){6});
    b = gg_input(g, "b", 2, (int[]){2, 3});
    assert_null(gg_add(g, a, b));
    assert_int_equal(gg_graph_build(g, &err), GG_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "[6] and [2, 3]"));
    gg_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_backward_matches_finite_differences),
        cmocka_unit_test(test_add_of_a_node_to_itself_doubles_the_gradient),
        cmocka_unit_test(test_identity_backward_matches_finite_differences),
        cmocka_unit_test(test_add_and_identity_forward_are_exact),
        cmocka_unit_test(test_add_of_different_shapes_fails_naming_both_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
