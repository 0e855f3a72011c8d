/* The static graph (src/graph/graph.c, autodiff.c): builders record the
 * first error and gg_graph_build reports it naming the node; parameters
 * live in one flat block; the batch can shrink at run time; backward
 * zeroes gradients and gives none to inputs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>
#include "ops/ops.h"
#include "support/fixtures.h"

#ifdef GG_FLOAT64
#define REL_TOL 1e-12
#else
#define REL_TOL 1e-5
#endif

static void assert_close(double a, double b, double rel, const char *what, int i) {
    if (!(fabs(a - b) <= rel * (fabs(b) + 1e-6)))
        fail_msg("%s[%d]: %.9g, expected %.9g", what, i, a, b);
}

/* ---- errors ---------------------------------------------------------------- */

static void test_graph_build_reports_first_shape_error_naming_the_node(void **s) {
    (void)s;
    int xd[1] = {3}, wd[2] = {4, 5}, od[1] = {7};
    gg_graph *g = gg_graph_new(2, 0);
    gg_node *x = gg_input(g, "x", 1, xd);
    gg_node *w = gg_param(g, "w", 2, wd, GG_INIT_ZEROS, 0);
    assert_non_null(x);
    assert_non_null(w);
    /* x has 3 features, w expects 5: the linear node fails. */
    gg_node *y = gg_linear(g, x, w, NULL);
    assert_null(y);
    /* Later builders are no-ops returning NULL, with or without a bad input. */
    assert_null(gg_relu(g, y));
    assert_null(gg_input(g, "other", 1, od));
    assert_null(gg_add(g, x, x)); /* valid on its own, still refused */
    gg_error err = {GG_OK, ""};
    assert_int_equal(gg_graph_build(g, &err), GG_ERR_SHAPE);
    assert_int_equal(err.code, GG_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "linear"));
    assert_non_null(strstr(err.msg, "3"));
    assert_non_null(strstr(err.msg, "5"));
    /* Building again reports the same error; NULL err is allowed. */
    assert_int_equal(gg_graph_build(g, NULL), GG_ERR_SHAPE);
    gg_graph_free(g);
}

static void test_graph_first_error_wins_over_later_ones(void **s) {
    (void)s;
    int a3[1] = {3}, a4[1] = {4}, bad[1] = {0};
    gg_graph *g = gg_graph_new(2, 0);
    gg_node *a = gg_input(g, "a", 1, a3), *b = gg_input(g, "b", 1, a4);
    assert_null(gg_add(g, a, b)); /* first: add [3] + [4] */
    /* A parameter with a zero dimension would be an error of its own. */
    assert_null(gg_param(g, "z", 1, bad, GG_INIT_ZEROS, 0));
    /* An error recorded directly, as layers do, does not replace it either. */
    gg_graph_set_error(g, GG_ERR_DATA, "second error");
    gg_error err = {GG_OK, ""};
    assert_int_equal(gg_graph_build(g, &err), GG_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "add"));
    assert_null(strstr(err.msg, "z:"));
    assert_null(strstr(err.msg, "second"));
    gg_graph_free(g);
}

static void test_graph_refuses_duplicate_parameter_names(void **s) {
    (void)s;
    int d[1] = {4};
    gg_graph *g = gg_graph_new(1, 0);
    assert_non_null(gg_param(g, "layers.0.weight", 1, d, GG_INIT_ZEROS, 0));
    assert_non_null(gg_param(g, "layers.0.bias", 1, d, GG_INIT_ZEROS, 0));
    assert_null(gg_param(g, "layers.0.weight", 1, d, GG_INIT_ZEROS, 0));
    assert_int_equal(gg_graph_param_count(g), 2);
    gg_error err = {GG_OK, ""};
    assert_int_equal(gg_graph_build(g, &err), GG_ERR_ARG);
    assert_non_null(strstr(err.msg, "layers.0.weight"));
    assert_non_null(strstr(err.msg, "twice"));
    gg_graph_free(g);
}

static void test_graph_refuses_nodes_added_after_build(void **s) {
    (void)s;
    int d[1] = {2};
    gg_graph *g = gg_graph_new(1, 0);
    gg_node *x = gg_input(g, "x", 1, d);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    assert_null(gg_relu(g, x));
    gg_error err = {GG_OK, ""};
    assert_int_equal(gg_graph_build(g, &err), GG_ERR_ARG);
    assert_non_null(strstr(err.msg, "already built"));
    gg_graph_free(g);
    assert_null(gg_graph_new(0, 0));
    gg_graph_free(NULL);
}

/* ---- parameter layout -------------------------------------------------------- */

static void test_graph_params_form_one_flat_block_in_creation_order_64_byte_aligned(void **s) {
    (void)s;
    int xd[1] = {5}, ad[1] = {3}, bd[2] = {7, 5}, cd[1] = {17}, ed[4] = {2, 3, 2, 2};
    gg_graph *g = gg_graph_new(4, 1);
    gg_node *a = gg_param(g, "a", 1, ad, GG_INIT_ONES, 0);
    gg_node *x = gg_input(g, "x", 1, xd); /* inputs and ops interleaved */
    gg_node *b = gg_param(g, "b", 2, bd, GG_INIT_NORMAL, 0.1);
    gg_node *y = gg_linear(g, x, b, NULL);
    gg_node *c = gg_param(g, "c", 1, cd, GG_INIT_UNIFORM, 1);
    gg_node *e = gg_param(g, "e", 4, ed, GG_INIT_ONES, 0);
    assert_non_null(y);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    gg_node *expect[4] = {a, b, c, e};
    const size_t lens[4] = {3, 35, 17, 24};
    assert_int_equal(gg_graph_param_count(g), 4);
    gg_real *base = gg_graph_param_data(g), *gbase = gg_graph_param_grad(g);
    size_t total = gg_graph_param_len(g), end = 0;
    for (int i = 0; i < 4; i++) {
        gg_node *p = gg_graph_param(g, i);
        assert_ptr_equal(p, expect[i]);
        assert_ptr_equal(gg_graph_find_param(g, gg_node_name(p)), p);
        assert_int_equal(gg_node_len(p), lens[i]);
        gg_real *d = gg_node_data(p), *gd = gg_node_grad(p);
        assert_non_null(gd);
        size_t off = (size_t)(d - base);
        assert_true(d >= base && off >= end); /* in order, no overlap */
        assert_ptr_equal(gd, gbase + off);    /* gradients: same layout */
        assert_int_equal((uintptr_t)d % 64, 0);
        assert_int_equal((uintptr_t)gd % 64, 0);
        end = off + lens[i];
    }
    assert_true(end <= total);
    /* Padding is at most one 64-byte line per tensor. */
    assert_true(total * sizeof(gg_real) <= end * sizeof(gg_real) + 4 * 64);
    assert_null(gg_graph_param(g, 4));
    assert_null(gg_graph_param(g, -1));
    assert_null(gg_graph_find_param(g, "x"));
    /* The flat view and the per-tensor views are the same memory. */
    base[(size_t)(gg_node_data(c) - base)] = 42;
    assert_true(gg_node_data(c)[0] == 42);
    assert_true(gg_node_data(a)[2] == 1 && gg_node_data(e)[23] == 1);
    gg_graph_free(g);
}

/* ---- batch size -------------------------------------------------------------- */

static void test_graph_set_batch_changes_batched_lengths_and_rejects_bad_sizes(void **s) {
    (void)s;
    int xd[1] = {3}, wd[2] = {2, 3};
    gg_graph *g = gg_graph_new(8, 0);
    gg_node *x = gg_input(g, "x", 1, xd);
    gg_node *w = gg_param(g, "w", 2, wd, GG_INIT_ONES, 0);
    gg_node *y = gg_linear(g, x, w, NULL);
    gg_node *t = gg_input(g, "t", 1, (int[]){2});
    gg_node *loss = gg_mse_loss(g, y, t);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    assert_int_equal(gg_node_len(x), 24);
    assert_int_equal(gg_node_dim(x, 0), 8);
    assert_int_equal(gg_graph_set_batch(g, 3, NULL), GG_OK);
    assert_int_equal(gg_node_len(x), 9);
    assert_int_equal(gg_node_dim(x, 0), 3);
    assert_int_equal(gg_node_len(y), 6);
    assert_int_equal(gg_node_dim(y, 0), 3);
    assert_int_equal(gg_node_len(t), 6);
    assert_int_equal(gg_node_len(w), 6);    /* parameters have no batch */
    assert_int_equal(gg_node_len(loss), 1); /* nor does the loss */
    gg_error err = {GG_OK, ""};
    assert_int_equal(gg_graph_set_batch(g, 0, &err), GG_ERR_ARG);
    assert_non_null(strstr(err.msg, "0"));
    assert_int_equal(gg_graph_set_batch(g, 9, &err), GG_ERR_ARG);
    assert_non_null(strstr(err.msg, "9"));
    assert_non_null(strstr(err.msg, "8"));
    assert_int_equal(gg_graph_set_batch(g, -1, NULL), GG_ERR_ARG);
    assert_int_equal(gg_node_len(x), 9); /* a refused size changes nothing */
    assert_int_equal(gg_graph_set_batch(g, 8, NULL), GG_OK);
    assert_int_equal(gg_node_len(x), 24);
    gg_graph_free(g);
}

/* x [N, 4] -> linear(W1 [5, 4], b1) -> tanh -> linear(W2 [3, 5], b2) -> cross-entropy. */
typedef struct small_net {
    gg_graph *g;
    gg_node *x, *t, *h, *a, *z, *loss, *w1;
} small_net;

static small_net small_net_new(int max_batch) {
    small_net m;
    m.g = gg_graph_new(max_batch, 99);
    m.x = gg_input(m.g, "x", 1, (int[]){4});
    m.t = gg_input(m.g, "t", 1, (int[]){1});
    m.w1 = gg_param(m.g, "w1", 2, (int[]){5, 4}, GG_INIT_XAVIER_UNIFORM, 0);
    gg_node *b1 = gg_param(m.g, "b1", 1, (int[]){5}, GG_INIT_UNIFORM, 0.5);
    gg_node *w2 = gg_param(m.g, "w2", 2, (int[]){3, 5}, GG_INIT_XAVIER_UNIFORM, 0);
    gg_node *b2 = gg_param(m.g, "b2", 1, (int[]){3}, GG_INIT_UNIFORM, 0.5);
    m.h = gg_linear(m.g, m.x, m.w1, b1);
    m.a = gg_tanh(m.g, m.h);
    m.z = gg_linear(m.g, m.a, w2, b2);
    m.loss = gg_cross_entropy_loss(m.g, m.z, m.t);
    assert_int_equal(gg_graph_build(m.g, NULL), GG_OK);
    return m;
}

static void fill_batch(small_net *m, int rows) {
    gg_test_fill(gg_node_data(m->x), (size_t)rows * 4, 5, -1, 1);
    for (int i = 0; i < rows; i++) gg_node_data(m->t)[i] = (gg_real)(i % 3);
}

static void test_graph_backward_zeroes_gradients_each_time(void **s) {
    (void)s;
    small_net m = small_net_new(6);
    fill_batch(&m, 6);
    gg_graph_forward(m.g);
    gg_graph_backward(m.g, m.loss);
    size_t n = gg_graph_param_len(m.g);
    gg_real first[128];
    assert_true(n <= 128);
    memcpy(first, gg_graph_param_grad(m.g), n * sizeof *first);
    double norm = 0;
    for (size_t i = 0; i < n; i++) norm += (double)first[i] * first[i];
    assert_true(norm > 1e-6); /* the check below could fail */
    gg_graph_forward(m.g);
    gg_graph_backward(m.g, m.loss);
    /* Twice the same, not doubled. */
    assert_memory_equal(first, gg_graph_param_grad(m.g), n * sizeof *first);
    gg_graph_free(m.g);
}

static void test_graph_inputs_get_no_gradient_while_params_do(void **s) {
    (void)s;
    small_net m = small_net_new(2);
    assert_null(gg_node_grad(m.x));
    assert_null(gg_node_grad(m.t));
    for (int i = 0; i < gg_graph_param_count(m.g); i++)
        assert_non_null(gg_node_grad(gg_graph_param(m.g, i)));
    /* Ops downstream of a parameter carry one. */
    assert_non_null(gg_node_grad(m.h));
    assert_non_null(gg_node_grad(m.z));
    assert_non_null(gg_node_grad(m.loss));
    gg_graph_free(m.g);
    /* An op fed only by inputs needs none. */
    gg_graph *g = gg_graph_new(2, 0);
    gg_node *x = gg_input(g, "x", 1, (int[]){3});
    gg_node *r = gg_relu(g, x);
    gg_node *w = gg_param(g, "w", 2, (int[]){2, 3}, GG_INIT_ONES, 0);
    gg_node *y = gg_linear(g, r, w, NULL);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    assert_null(gg_node_grad(r));
    assert_non_null(gg_node_grad(y));
    gg_graph_free(g);
}

static void test_graph_smaller_batch_matches_a_graph_built_for_it(void **s) {
    (void)s;
    small_net big = small_net_new(8), exact = small_net_new(3);
    size_t n = gg_graph_param_len(big.g);
    assert_int_equal(n, gg_graph_param_len(exact.g));
    memcpy(gg_graph_param_data(exact.g), gg_graph_param_data(big.g), n * sizeof(gg_real));
    fill_batch(&big, 8);
    /* Rows 3..7 of the big graph hold other, extreme values that must not count. */
    for (size_t i = 12; i < 32; i++) gg_node_data(big.x)[i] = 50;
    for (int i = 3; i < 8; i++) gg_node_data(big.t)[i] = 2;
    fill_batch(&exact, 3);
    assert_memory_equal(gg_node_data(exact.x), gg_node_data(big.x), 12 * sizeof(gg_real));
    assert_int_equal(gg_graph_set_batch(big.g, 3, NULL), GG_OK);
    for (int rep = 0; rep < 2; rep++) { /* also after a full-batch pass */
        gg_graph_forward(big.g);
        gg_graph_backward(big.g, big.loss);
        gg_graph_forward(exact.g);
        gg_graph_backward(exact.g, exact.loss);
        assert_close(gg_node_data(big.loss)[0], gg_node_data(exact.loss)[0], REL_TOL, "loss", 0);
        for (int i = 0; i < 9; i++)
            assert_close(gg_node_data(big.z)[i], gg_node_data(exact.z)[i], REL_TOL, "z", i);
        const gg_real *ga = gg_graph_param_grad(big.g), *gb = gg_graph_param_grad(exact.g);
        double norm = 0;
        for (size_t i = 0; i < n; i++) {
            assert_close(ga[i], gb[i], REL_TOL, "grad", (int)i);
            norm += (double)gb[i] * gb[i];
        }
        assert_true(norm > 1e-6);
        assert_int_equal(gg_graph_set_batch(big.g, 8, NULL), GG_OK);
        gg_graph_forward(big.g);
        gg_graph_backward(big.g, big.loss);
        assert_int_equal(gg_graph_set_batch(big.g, 3, NULL), GG_OK);
    }
    gg_graph_free(big.g);
    gg_graph_free(exact.g);
}

static void test_graph_same_seed_initialises_params_identically(void **s) {
    (void)s;
    small_net a = small_net_new(2), b = small_net_new(2);
    size_t n = gg_graph_param_len(a.g);
    assert_memory_equal(gg_graph_param_data(a.g), gg_graph_param_data(b.g), n * sizeof(gg_real));
    gg_graph_free(a.g);
    gg_graph_free(b.g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_graph_build_reports_first_shape_error_naming_the_node),
        cmocka_unit_test(test_graph_first_error_wins_over_later_ones),
        cmocka_unit_test(test_graph_refuses_duplicate_parameter_names),
        cmocka_unit_test(test_graph_refuses_nodes_added_after_build),
        cmocka_unit_test(test_graph_params_form_one_flat_block_in_creation_order_64_byte_aligned),
        cmocka_unit_test(test_graph_set_batch_changes_batched_lengths_and_rejects_bad_sizes),
        cmocka_unit_test(test_graph_backward_zeroes_gradients_each_time),
        cmocka_unit_test(test_graph_inputs_get_no_gradient_while_params_do),
        cmocka_unit_test(test_graph_smaller_batch_matches_a_graph_built_for_it),
        cmocka_unit_test(test_graph_same_seed_initialises_params_identically),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
