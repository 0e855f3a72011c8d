/* Losses (src/ops/loss.c): finite-difference checks of every backward,
 * exact values on hand-computed cases, stability at extreme logits, a bad
 * class index giving NaN rather than a crash, and the mean over the batch
 * at a batch smaller than the graph's maximum. */
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

#ifdef GG_FLOAT64
#define VTOL 1e-12
#else
#define VTOL 1e-6
#endif


typedef gg_node *(*loss_fn)(gg_graph *, gg_node *, gg_node *);

/* A batched [n, c] node whose values are a parameter P [c, n]: a one-hot
 * input e [n, n] times P^T, so node[i][j] = P[j][i] exactly and a gradient
 * check of P checks the gradient the loss sends to its prediction. */
static gg_node *batched_param(gg_graph *g, int n, int c, gg_node **p, gg_node **e) {
    *e = gg_input(g, "onehot", 1, &n);
    *p = gg_param(g, "pred", 2, (int[]){c, n}, GG_INIT_ZEROS, 0);
    return gg_linear(g, *e, *p, NULL);
}

static void set_onehot(gg_node *e, int n) {
    gg_real *x = gg_node_data(e);
    for (int i = 0; i < n * n; i++) x[i] = (i / n == i % n) ? 1 : 0;
}

static void set_pred(gg_node *p, int n, int i, int j, double v) {
    gg_node_data(p)[j * n + i] = (gg_real)v;
}

typedef enum { T_REAL, T_PROB, T_LABEL, T_SOFT, T_SOFT_UNNORMALISED } target_kind;

/* pred [N, C] with values in [lo, hi] -> loss against a target of kind tk. */
static void check_loss(loss_fn fn, target_kind tk, double lo, double hi, uint64_t seed) {
    enum { N = 4, C = 5 };
    gg_graph *g = gg_graph_new(N, seed);
    gg_node *p, *e;
    gg_node *pred = batched_param(g, N, C, &p, &e);
    gg_node *t = gg_input(g, "t", 1, (int[]){tk == T_LABEL ? 1 : C});
    gg_node *loss = fn(g, pred, t);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    set_onehot(e, N);
    gg_test_fill(gg_node_data(p), gg_node_len(p), seed, lo, hi);
    gg_real *td = gg_node_data(t);
    switch (tk) {
    case T_REAL: gg_test_fill(td, gg_node_len(t), seed + 1, -1, 1); break;
    case T_PROB: gg_test_fill(td, gg_node_len(t), seed + 1, 0, 1); break;
    case T_LABEL:
        for (int i = 0; i < N; i++) td[i] = (gg_real)((i * 3 + 1) % C);
        break;
    case T_SOFT:
    case T_SOFT_UNNORMALISED:
        gg_test_fill(td, gg_node_len(t), seed + 1, 0.05, 1);
        if (tk == T_SOFT)
            for (int i = 0; i < N; i++) {
                double sum = 0;
                for (int c = 0; c < C; c++) sum += td[i * C + c];
                for (int c = 0; c < C; c++) td[i * C + c] = (gg_real)(td[i * C + c] / sum);
            }
        break;
    }
    gg_gradcheck_result r;
    gg_gradcheck(g, loss, gg_gradcheck_step(), &r);
    assert_true(isfinite(gg_node_data(loss)[0]));
    assert_true(r.grad_norm > 1e-3);
    if (r.max_rel_err > gg_gradcheck_tol())
        fail_msg("relative error %g in %s", r.max_rel_err, r.worst);
    gg_graph_free(g);
}

static void test_mse_backward_matches_finite_differences(void **s) {
    (void)s;
    check_loss(gg_mse_loss, T_REAL, -2, 2, 1);
}
static void test_bce_backward_matches_finite_differences(void **s) {
    (void)s;
    check_loss(gg_bce_loss, T_PROB, 0.05, 0.95, 2);
}
static void test_bce_logits_backward_matches_finite_differences(void **s) {
    (void)s;
    check_loss(gg_bce_logits_loss, T_PROB, -3, 3, 3);
}
static void test_cross_entropy_backward_matches_finite_differences(void **s) {
    (void)s;
    check_loss(gg_cross_entropy_loss, T_LABEL, -3, 3, 4);
}
static void test_soft_cross_entropy_backward_matches_finite_differences(void **s) {
    (void)s;
    check_loss(gg_soft_cross_entropy_loss, T_SOFT, -3, 3, 5);
}
static void test_soft_cross_entropy_backward_holds_for_unnormalised_targets(void **s) {
    (void)s;
    check_loss(gg_soft_cross_entropy_loss, T_SOFT_UNNORMALISED, -3, 3, 6);
}

/* ---- exact values -------------------------------------------------------------- */

/* Forward only: pred and target are inputs [n, c] (labels [n, 1]). */
static double loss_value(loss_fn fn, int n, int c, const double *pred, const double *target,
                         int labels) {
    gg_graph *g = gg_graph_new(n, 0);
    gg_node *p = gg_input(g, "p", 1, &c);
    gg_node *t = gg_input(g, "t", 1, (int[]){labels ? 1 : c});
    gg_node *loss = fn(g, p, t);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    for (size_t i = 0; i < gg_node_len(p); i++) gg_node_data(p)[i] = (gg_real)pred[i];
    for (size_t i = 0; i < gg_node_len(t); i++) gg_node_data(t)[i] = (gg_real)target[i];
    gg_graph_forward(g);
    double v = gg_node_data(loss)[0];
    gg_graph_free(g);
    return v;
}

static void test_losses_equal_hand_computed_values(void **s) {
    (void)s;
    /* cross-entropy of logits [0, 0] with label 1 = ln 2 */
    assert_near(loss_value(gg_cross_entropy_loss, 1, 2, (double[]){0, 0}, (double[]){1}, 1),
                       log(2.0), VTOL);
    /* logits [1, 2, 3], label 0: lse - 1 = log(e + e^2 + e^3) - 1 */
    double lse = log(exp(1.0) + exp(2.0) + exp(3.0));
    assert_near(
        loss_value(gg_cross_entropy_loss, 1, 3, (double[]){1, 2, 3}, (double[]){0}, 1), lse - 1,
        VTOL);
    /* mse of [1, 2] vs [0, 0] = (1 + 4) / 2 */
    assert_near(loss_value(gg_mse_loss, 1, 2, (double[]){1, 2}, (double[]){0, 0}, 0), 2.5,
                       VTOL);
    /* bce: p = 0.5 -> ln 2 whatever the target; p = 0.8, t = 1 -> -ln 0.8 */
    assert_near(loss_value(gg_bce_loss, 1, 2, (double[]){0.5, 0.5}, (double[]){1, 0}, 0),
                       log(2.0), VTOL);
    assert_near(loss_value(gg_bce_loss, 1, 1, (double[]){0.8}, (double[]){1}, 0),
                       -log(0.8), VTOL);
    /* bce of p = 0 with t = 1 is clamped at 100, as torch's BCELoss */
    assert_near(loss_value(gg_bce_loss, 1, 1, (double[]){0}, (double[]){1}, 0), 100, VTOL);
    /* bce_logits: z = 0 -> ln 2; z = 2, t = 0 -> ln(1 + e^2); z = -1, t = 0.25 */
    assert_near(loss_value(gg_bce_logits_loss, 1, 1, (double[]){0}, (double[]){1}, 0),
                       log(2.0), VTOL);
    assert_near(loss_value(gg_bce_logits_loss, 1, 1, (double[]){2}, (double[]){0}, 0),
                       log1p(exp(2.0)), 4 * VTOL);
    double sg = 1 / (1 + exp(1.0));
    assert_near(loss_value(gg_bce_logits_loss, 1, 1, (double[]){-1}, (double[]){0.25}, 0),
                       -(0.25 * log(sg) + 0.75 * log(1 - sg)), 4 * VTOL);
    /* soft cross-entropy with a one-hot target equals cross-entropy */
    assert_near(loss_value(gg_soft_cross_entropy_loss, 1, 3, (double[]){1, 2, 3},
                                  (double[]){1, 0, 0}, 0),
                       lse - 1, 4 * VTOL);
    /* and with target [0.5, 0.5] on logits [0, 0] it is ln 2 */
    assert_near(loss_value(gg_soft_cross_entropy_loss, 1, 2, (double[]){0, 0},
                                  (double[]){0.5, 0.5}, 0),
                       log(2.0), VTOL);
}

/* ---- stability ---------------------------------------------------------------- */

/* Loss and gradient of pred values v [N, C] against target tv. */
static double loss_and_grad(loss_fn fn, int N, int C, const double *v, const double *tv,
                            int labels, double *grad) {
    gg_graph *g = gg_graph_new(N, 0);
    gg_node *p, *e;
    gg_node *pred = batched_param(g, N, C, &p, &e);
    gg_node *t = gg_input(g, "t", 1, (int[]){labels ? 1 : C});
    gg_node *loss = fn(g, pred, t);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    set_onehot(e, N);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < C; j++) set_pred(p, N, i, j, v[i * C + j]);
    for (size_t i = 0; i < gg_node_len(t); i++) gg_node_data(t)[i] = (gg_real)tv[i];
    gg_graph_forward(g);
    gg_graph_backward(g, loss);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < C; j++) grad[i * C + j] = gg_node_grad(pred)[i * C + j];
    double val = gg_node_data(loss)[0];
    gg_graph_free(g);
    return val;
}

static void test_cross_entropy_is_finite_at_logits_of_1e4(void **s) {
    (void)s;
    double grad[4];
    /* Right class: loss 0, gradient 0. Wrong class: loss 2e4, gradient +-1/N. */
    double v = loss_and_grad(gg_cross_entropy_loss, 2, 2, (double[]){1e4, -1e4, 1e4, -1e4},
                             (double[]){0, 1}, 1, grad);
    assert_true(isfinite(v));
    assert_near(v, (0 + 2e4) / 2, 1e-3);
    for (int i = 0; i < 4; i++) assert_true(isfinite(grad[i]));
    assert_near(grad[0], 0, 1e-7);
    assert_near(grad[1], 0, 1e-7);
    assert_near(grad[2], 0.5, 1e-7);
    assert_near(grad[3], -0.5, 1e-7);
    /* Soft targets too. */
    v = loss_and_grad(gg_soft_cross_entropy_loss, 1, 2, (double[]){-1e4, 1e4}, (double[]){1, 0}, 0,
                      grad);
    assert_near(v, 2e4, 1e-3);
    assert_near(grad[0], -1, 1e-7);
    assert_near(grad[1], 1, 1e-7);
}

static void test_bce_logits_is_finite_at_z_of_100(void **s) {
    (void)s;
    double grad[4];
    double v = loss_and_grad(gg_bce_logits_loss, 1, 4, (double[]){100, 100, -100, -100},
                             (double[]){1, 0, 1, 0}, 0, grad);
    assert_true(isfinite(v));
    assert_near(v, (0 + 100 + 100 + 0) / 4.0, 1e-4);
    for (int i = 0; i < 4; i++) assert_true(isfinite(grad[i]));
    /* (sigmoid(z) - t) / 4 */
    assert_near(grad[0], 0, 1e-7);
    assert_near(grad[1], 0.25, 1e-7);
    assert_near(grad[2], -0.25, 1e-7);
    assert_near(grad[3], 0, 1e-7);
}

static void test_cross_entropy_with_label_out_of_range_gives_nan_not_a_crash(void **s) {
    (void)s;
    /* Past C, negative, fractional, far past int's range, NaN. */
    const double bad[] = {3, -1, 1.5, 100, 1e10, NAN};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        double grad[6];
        double v = loss_and_grad(gg_cross_entropy_loss, 2, 3, (double[]){0.1, 0.2, 0.3, 1, 2, 3},
                                 (double[]){0, bad[k]}, 1, grad);
        if (!isnan(v)) fail_msg("label %g: loss %g, expected NaN", bad[k], v);
    }
    /* The valid labels either side still give a finite loss. */
    double grad[6];
    assert_true(isfinite(loss_and_grad(gg_cross_entropy_loss, 2, 3,
                                       (double[]){0.1, 0.2, 0.3, 1, 2, 3}, (double[]){0, 2}, 1,
                                       grad)));
}

/* ---- reduction ------------------------------------------------------------------ */

/* At batch 2 of a max batch of 4, rows 2..3 hold garbage that must not count,
 * and the loss is the mean of the two rows' losses. */
static void test_loss_is_the_mean_over_the_current_batch(void **s) {
    (void)s;
    gg_graph *g = gg_graph_new(4, 0);
    gg_node *z = gg_input(g, "z", 1, (int[]){3});
    gg_node *y = gg_input(g, "y", 1, (int[]){1});
    gg_node *t = gg_input(g, "t", 1, (int[]){3});
    gg_node *ce = gg_cross_entropy_loss(g, z, y);
    gg_node *mse = gg_mse_loss(g, z, t);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    const gg_real zv[12] = {0, 0, 0, 1, 2, 3, 1e3, -5, 7, 9, 9, 9};
    const gg_real yv[4] = {2, 0, 5, 1}; /* row 2's label is even out of range */
    const gg_real tv[12] = {1, 0, 0, 1, 2, 5, 0, 0, 0, 0, 0, 0};
    memcpy(gg_node_data(z), zv, sizeof zv);
    memcpy(gg_node_data(y), yv, sizeof yv);
    memcpy(gg_node_data(t), tv, sizeof tv);
    assert_int_equal(gg_graph_set_batch(g, 2, NULL), GG_OK);
    gg_graph_forward(g);
    double l0 = log(3.0), l1 = log(exp(1.0) + exp(2.0) + exp(3.0)) - 1;
    assert_near(gg_node_data(ce)[0], (l0 + l1) / 2, VTOL * 4);
    /* mse: mean over every element of the batch, 6 of them */
    assert_near(gg_node_data(mse)[0], (1 + 0 + 0 + 0 + 0 + 4) / 6.0, VTOL);
    assert_int_equal(gg_graph_set_batch(g, 1, NULL), GG_OK);
    gg_graph_forward(g);
    assert_near(gg_node_data(ce)[0], l0, VTOL * 4);
    assert_near(gg_node_data(mse)[0], 1 / 3.0, VTOL);
    gg_graph_free(g);
}

static void test_loss_gradient_is_divided_by_the_batch(void **s) {
    (void)s;
    /* Two identical rows: each row's gradient is half the one-row gradient. */
    double g1[2], g2[4];
    loss_and_grad(gg_cross_entropy_loss, 1, 2, (double[]){0, 0}, (double[]){1}, 1, g1);
    loss_and_grad(gg_cross_entropy_loss, 2, 2, (double[]){0, 0, 0, 0}, (double[]){1, 1}, 1, g2);
    assert_near(g1[0], 0.5, 1e-7);
    assert_near(g1[1], -0.5, 1e-7);
    for (int i = 0; i < 4; i++) assert_near(g2[i], g1[i % 2] / 2, 1e-7);
}

static void test_loss_rejects_mismatched_target_naming_the_node(void **s) {
    (void)s;
    gg_error err = {GG_OK, ""};
    gg_graph *g = gg_graph_new(2, 0);
    gg_node *z = gg_input(g, "z", 1, (int[]){3});
    gg_node *t = gg_input(g, "t", 1, (int[]){4});
    assert_null(gg_mse_loss(g, z, t));
    assert_int_equal(gg_graph_build(g, &err), GG_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "mse_loss"));
    assert_non_null(strstr(err.msg, "[3]"));
    assert_non_null(strstr(err.msg, "[4]"));
    gg_graph_free(g);
    g = gg_graph_new(2, 0);
    z = gg_input(g, "z", 1, (int[]){3});
    t = gg_input(g, "t", 1, (int[]){3});
    assert_null(gg_cross_entropy_loss(g, z, t)); /* labels must be [1] */
    assert_int_equal(gg_graph_build(g, &err), GG_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "cross_entropy_loss"));
    gg_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mse_backward_matches_finite_differences),
        cmocka_unit_test(test_bce_backward_matches_finite_differences),
        cmocka_unit_test(test_bce_logits_backward_matches_finite_differences),
        cmocka_unit_test(test_cross_entropy_backward_matches_finite_differences),
        cmocka_unit_test(test_soft_cross_entropy_backward_matches_finite_differences),
        cmocka_unit_test(test_soft_cross_entropy_backward_holds_for_unnormalised_targets),
        cmocka_unit_test(test_losses_equal_hand_computed_values),
        cmocka_unit_test(test_cross_entropy_is_finite_at_logits_of_1e4),
        cmocka_unit_test(test_bce_logits_is_finite_at_z_of_100),
        cmocka_unit_test(test_cross_entropy_with_label_out_of_range_gives_nan_not_a_crash),
        cmocka_unit_test(test_loss_is_the_mean_over_the_current_batch),
        cmocka_unit_test(test_loss_gradient_is_divided_by_the_batch),
        cmocka_unit_test(test_loss_rejects_mismatched_target_naming_the_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
