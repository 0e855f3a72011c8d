/* Activations: finite-difference checks of every backward (inputs kept
 * away from the kinks), exact values at known points, and stability at
 * extreme inputs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "support/assert_near.h"
#include <math.h>
#include "ops/ops.h"
#include "support/fixtures.h"
#include "support/gradcheck.h"

typedef gg_node *(*unary_fn)(gg_graph *, gg_node *);

static gg_node *leaky(gg_graph *g, gg_node *x) { return gg_leaky_relu(g, x, 0.1); }
static gg_node *elu(gg_graph *g, gg_node *x) { return gg_elu(g, x, 1.3); }

/* x (a parameter, so it gets a gradient) -> op -> MSE against a random
 * target, which makes dy non-uniform. */
static void check_op(unary_fn op, uint64_t seed, int away_from_zero) {
    int dims[2] = {5, 7};
    gg_graph *g = gg_graph_new(5, seed);
    gg_node *x = gg_param(g, "x", 2, dims, GG_INIT_ZEROS, 0);
    gg_node *t = gg_param(g, "const_target", 2, dims, GG_INIT_ZEROS, 0);
    gg_node *loss = gg_mse_loss(g, op(g, x), t);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    gg_test_fill(x->out->x, x->out->len, seed, -2, 2);
    if (away_from_zero)
        for (size_t i = 0; i < x->out->len; i++)
            if (fabs(x->out->x[i]) < 0.05) x->out->x[i] = 0.3;
    gg_test_fill(t->out->x, t->out->len, seed + 1, -1, 1);
    gg_gradcheck_result r;
    gg_gradcheck(g, loss, gg_gradcheck_step(), &r);
    assert_true(r.grad_norm > 1e-3);
    if (r.max_rel_err > gg_gradcheck_tol()) fail_msg("relative error %g in %s", r.max_rel_err, r.worst);
    gg_graph_free(g);
}

static void test_sigmoid_backward_matches_finite_differences(void **s) { (void)s; check_op(gg_sigmoid, 1, 0); }
static void test_tanh_backward_matches_finite_differences(void **s) { (void)s; check_op(gg_tanh, 2, 0); }
static void test_relu_backward_matches_finite_differences(void **s) { (void)s; check_op(gg_relu, 3, 1); }
static void test_leaky_relu_backward_matches_finite_differences(void **s) { (void)s; check_op(leaky, 4, 1); }
static void test_elu_backward_matches_finite_differences(void **s) { (void)s; check_op(elu, 5, 1); }
static void test_softmax_backward_matches_finite_differences(void **s) { (void)s; check_op(gg_softmax, 6, 0); }
static void test_identity_backward_matches_finite_differences(void **s) { (void)s; check_op(gg_identity, 7, 0); }

static void test_activations_are_exact_at_known_points_and_finite_at_extremes(void **s) {
    (void)s;
    int dims[1] = {6};
    gg_graph *g = gg_graph_new(1, 0);
    gg_node *x = gg_input(g, "x", 1, dims);
    gg_node *sg = gg_sigmoid(g, x), *th = gg_tanh(g, x), *re = gg_relu(g, x);
    gg_node *lr = gg_leaky_relu(g, x, 0.01), *el = gg_elu(g, x, 1.0), *sm = gg_softmax(g, x);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    const gg_real in[6] = {0, 1, -1, 1000, -1000, 88};
    for (int i = 0; i < 6; i++) x->out->x[i] = in[i];
    gg_graph_forward(g);
    assert_near(sg->out->x[0], 0.5, 1e-7);
    assert_near(sg->out->x[1], 1 / (1 + exp(-1.0)), 1e-6);
    assert_near(sg->out->x[3], 1.0, 1e-7);
    assert_near(sg->out->x[4], 0.0, 1e-7);
    assert_near(th->out->x[2], tanh(-1.0), 1e-6);
    assert_near(re->out->x[2], 0, 0);
    assert_near(re->out->x[1], 1, 0);
    assert_near(lr->out->x[2], -0.01, 1e-7);
    assert_near(el->out->x[2], exp(-1.0) - 1, 1e-6);
    assert_near(el->out->x[4], -1.0, 1e-7);
    double sum = 0;
    for (int i = 0; i < 6; i++) {
        assert_true(isfinite(sm->out->x[i]));
        sum += sm->out->x[i];
    }
    assert_near(sum, 1.0, 1e-6);
    assert_near(sm->out->x[3], 1.0, 1e-6); /* the 1000 wins without overflow */
    gg_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigmoid_backward_matches_finite_differences),
        cmocka_unit_test(test_tanh_backward_matches_finite_differences),
        cmocka_unit_test(test_relu_backward_matches_finite_differences),
        cmocka_unit_test(test_leaky_relu_backward_matches_finite_differences),
        cmocka_unit_test(test_elu_backward_matches_finite_differences),
        cmocka_unit_test(test_softmax_backward_matches_finite_differences),
        cmocka_unit_test(test_identity_backward_matches_finite_differences),
        cmocka_unit_test(test_activations_are_exact_at_known_points_and_finite_at_extremes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
