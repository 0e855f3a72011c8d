/* flatten and last_step (src/ops/reshape.c): finite-difference checks,
 * exact values and shapes, gradients that accumulate, shape errors that
 * name what is needed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "support/assert_near.h"
#include <math.h>
#include <string.h>
#include "ops/ops.h"
#include "support/fixtures.h"
#include "support/gradcheck.h"

/* x (a parameter of dims) -> op -> tanh (so the gradient differs by
 * position) -> MSE against a constant target. */
static void gradcheck_reshape(gg_node *(*op)(gg_graph *, gg_node *), int ndim, const int *dims,
                              uint64_t seed) {
    gg_graph *g = gg_graph_new(1, seed);
    gg_node *x = gg_param(g, "x", ndim, dims, GG_INIT_ZEROS, 0);
    gg_node *y = gg_tanh(g, op(g, x));
    assert_non_null(y);
    int ydims[8], nd = gg_node_ndim(y);
    for (int i = 0; i < nd; i++) ydims[i] = gg_node_dim(y, i);
    gg_node *t = gg_param(g, "const_target", nd, ydims, GG_INIT_ZEROS, 0);
    gg_node *loss = gg_mse_loss(g, y, t);
    gg_error err = {0};
    if (gg_graph_build(g, &err) != GG_OK) fail_msg("%s", err.msg);
    gg_test_fill(gg_node_data(x), gg_node_len(x), seed, -1, 1);
    gg_test_fill(gg_node_data(t), gg_node_len(t), seed + 1, -1, 1);
    gg_gradcheck_result r;
    gg_gradcheck(g, loss, gg_gradcheck_step(), &r);
    assert_true(r.grad_norm > 1e-3);
    print_message("rel err %.3g\n", r.max_rel_err);
    if (r.max_rel_err > gg_gradcheck_tol()) fail_msg("relative error %g in %s", r.max_rel_err, r.worst);
    gg_graph_free(g);
}

static void test_flatten_gradients_match_finite_differences(void **s) {
    (void)s;
    gradcheck_reshape(gg_flatten, 4, (int[]){2, 3, 4, 5}, 1);
    gradcheck_reshape(gg_flatten, 3, (int[]){3, 2, 4}, 2);
    gradcheck_reshape(gg_flatten, 2, (int[]){3, 7}, 3);
}

static void test_last_step_gradients_match_finite_differences(void **s) {
    (void)s;
    gradcheck_reshape(gg_last_step, 3, (int[]){3, 5, 4}, 4);
    gradcheck_reshape(gg_last_step, 3, (int[]){2, 1, 6}, 5);
}

static void test_flatten_and_last_step_give_exact_values(void **s) {
    (void)s;
    gg_graph *g = gg_graph_new(8, 0);
    gg_node *img = gg_input(g, "img", 3, (int[]){2, 3, 4});
    gg_node *seq = gg_input(g, "seq", 2, (int[]){5, 3});
    gg_node *f = gg_flatten(g, img);
    gg_node *l = gg_last_step(g, seq);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    assert_int_equal(gg_node_ndim(f), 2);
    assert_int_equal(gg_node_dim(f, 0), 8);
    assert_int_equal(gg_node_dim(f, 1), 24);
    assert_int_equal(gg_node_ndim(l), 2);
    assert_int_equal(gg_node_dim(l, 1), 3);
    assert_int_equal(gg_graph_set_batch(g, 3, NULL), GG_OK);
    assert_int_equal(gg_node_dim(f, 0), 3);
    assert_int_equal(gg_node_len(f), 72);
    assert_int_equal(gg_node_len(l), 9);
    for (size_t i = 0; i < gg_node_len(img); i++) gg_node_data(img)[i] = (gg_real)i;
    for (size_t i = 0; i < gg_node_len(seq); i++) gg_node_data(seq)[i] = (gg_real)(100 + i);
    gg_graph_forward(g);
    for (size_t i = 0; i < 72; i++) assert_near(gg_node_data(f)[i], i, 0);
    /* sample n's last step is row 4 of its 5: elements 15 n + 12 .. 14 */
    for (int n = 0; n < 3; n++)
        for (int k = 0; k < 3; k++) assert_near(gg_node_data(l)[n * 3 + k], 100 + 15 * n + 12 + k, 0);

    /* backward accumulates, into the last step only */
    gg_real dimg[72], dseq[45], dyf[72], dyl[9];
    for (int i = 0; i < 72; i++) dimg[i] = 1, dyf[i] = (gg_real)i;
    for (int i = 0; i < 45; i++) dseq[i] = 1;
    for (int i = 0; i < 9; i++) dyl[i] = (gg_real)(10 + i);
    f->in[0]->dx = dimg;
    f->out->dx = dyf;
    l->in[0]->dx = dseq;
    l->out->dx = dyl;
    f->op->backward(f);
    l->op->backward(l);
    for (int i = 0; i < 72; i++) assert_near(dimg[i], 1 + i, 0);
    for (int n = 0; n < 3; n++)
        for (int r = 0; r < 5; r++)
            for (int k = 0; k < 3; k++)
                assert_near(dseq[n * 15 + r * 3 + k], r == 4 ? 1 + 10 + n * 3 + k : 1, 0);
    f->in[0]->dx = f->out->dx = l->in[0]->dx = l->out->dx = NULL;
    gg_graph_free(g);
}

static void expect_error(gg_node *(*op)(gg_graph *, gg_node *), int batched, int ndim,
                         const int *dims, const char *const *needles) {
    gg_graph *g = gg_graph_new(4, 0);
    gg_node *x = batched ? gg_input(g, "x", ndim, dims)
                         : gg_param(g, "x", ndim, dims, GG_INIT_ZEROS, 0);
    assert_null(op(g, x));
    gg_error err = {0};
    assert_int_equal(gg_graph_build(g, &err), GG_ERR_SHAPE);
    print_message("%s\n", err.msg);
    for (int i = 0; needles[i]; i++)
        if (!strstr(err.msg, needles[i])) fail_msg("'%s' not in: %s", needles[i], err.msg);
    gg_graph_free(g);
}

static void test_reshape_shape_errors_name_the_needed_shape(void **s) {
    (void)s;
    expect_error(gg_last_step, 1, 1, (int[]){10},
                 (const char *[]){"last_step needs a sequence input [steps, features]",
                                  "got [10]", NULL});
    expect_error(gg_last_step, 1, 3, (int[]){1, 28, 28},
                 (const char *[]){"[steps, features]", "got [1, 28, 28]", NULL});
    expect_error(gg_flatten, 0, 1, (int[]){10},
                 (const char *[]){"flatten needs [N, ...]", "[10]", NULL});
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flatten_gradients_match_finite_differences),
        cmocka_unit_test(test_last_step_gradients_match_finite_differences),
        cmocka_unit_test(test_flatten_and_last_step_give_exact_values),
        cmocka_unit_test(test_reshape_shape_errors_name_the_needed_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
