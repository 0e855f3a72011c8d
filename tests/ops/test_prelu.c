/* PReLU (src/ops/prelu.c): finite-difference checks of dx and da with a
 * shared slope and a per-channel one, for [N, C] and [N, C, H, W] inputs;
 * exact values; the threaded kernels against a double reference at sizes
 * that take the parallel paths, bitwise the same with one thread and two;
 * and slope shapes that do not fit the input refused with a message. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "support/assert_near.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "ops/ops.h"
#include "support/fixtures.h"
#include "support/gradcheck.h"

#ifdef GG_FLOAT64
#define RTOL 1e-13
#else
#define RTOL 1e-6
#endif

/* x [dims] (a parameter) -> PReLU with a [C or 1] -> MSE against a random
 * target; x kept away from the kink at 0. */
static void check_prelu(int ndim, const int *dims, int per_channel, uint64_t seed) {
    int C = per_channel ? dims[1] : 1;
    gg_graph *g = gg_graph_new(dims[0], seed);
    gg_node *x = gg_param(g, "x", ndim, dims, GG_INIT_ZEROS, 0);
    gg_node *a = gg_param(g, "a", 1, &C, GG_INIT_ZEROS, 0);
    gg_node *t = gg_param(g, "const_target", ndim, dims, GG_INIT_ZEROS, 0);
    gg_node *loss = gg_mse_loss(g, gg_prelu(g, x, a), t);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    gg_test_fill(x->out->x, x->out->len, seed, -2, 2);
    for (size_t i = 0; i < x->out->len; i++)
        if (fabs(x->out->x[i]) < 0.05) x->out->x[i] = -0.3;
    gg_test_fill(a->out->x, (size_t)C, seed + 1, 0.05, 0.5);
    gg_test_fill(t->out->x, t->out->len, seed + 2, -1, 1);
    gg_gradcheck_result r;
    gg_gradcheck(g, loss, gg_gradcheck_step(), &r);
    print_message("    prelu %s ndim %d: max relative error %.2e (%s)\n",
                  per_channel ? "per channel" : "shared", ndim, r.max_rel_err, r.worst);
    assert_true(r.grad_norm > 1e-3);
    if (r.max_rel_err > gg_gradcheck_tol())
        fail_msg("relative error %g in %s", r.max_rel_err, r.worst);
    gg_graph_free(g);
}

static void test_prelu_shared_gradients(void **s) {
    (void)s;
    check_prelu(2, (int[]){6, 7}, 0, 1);
    check_prelu(4, (int[]){2, 3, 4, 5}, 0, 2);
}

static void test_prelu_per_channel_gradients(void **s) {
    (void)s;
    check_prelu(2, (int[]){6, 7}, 1, 3);
    check_prelu(4, (int[]){2, 3, 4, 5}, 1, 4);
    check_prelu(3, (int[]){3, 4, 6}, 1, 5);
}

static void test_prelu_values(void **s) {
    (void)s;
    int dims[2] = {2, 3}, one = 1;
    gg_graph *g = gg_graph_new(1, 0);
    gg_node *x = gg_input(g, "x", 2, dims);
    gg_node *a1 = gg_param(g, "a1", 1, &one, GG_INIT_ZEROS, 0);
    gg_node *a2 = gg_param(g, "a2", 1, &dims[0], GG_INIT_ZEROS, 0);
    gg_node *y1 = gg_prelu(g, x, a1), *y2 = gg_prelu(g, x, a2);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    const gg_real in[6] = {2, -2, 0, -1, 3, -4};
    memcpy(x->out->x, in, sizeof in);
    a1->out->x[0] = 0.25;
    a2->out->x[0] = 0.5;
    a2->out->x[1] = -1;
    gg_graph_forward(g);
    const double want1[6] = {2, -0.5, 0, -0.25, 3, -1}, want2[6] = {2, -1, 0, 1, 3, 4};
    for (int i = 0; i < 6; i++) {
        assert_near(y1->out->x[i], want1[i], 0);
        assert_near(y2->out->x[i], want2[i], 0);
    }
    gg_graph_free(g);
}

/* x [N, C, S] with dy by hand: y, dx and da against double sums, at one and
 * two threads, which must agree bit for bit. */
static void prelu_parallel_case(int N, int C, int S, int per_channel) {
    size_t len = (size_t)N * C * S;
    int na = per_channel ? C : 1;
    gg_real *res[2];
    for (int threads = 1; threads <= 2; threads++) {
        gg_graph *g = gg_graph_new(N, 1);
        /* x is a parameter so that it gets a gradient. */
        gg_node *xp = gg_param(g, "xp", S > 1 ? 3 : 2, S > 1 ? (int[]){N, C, S} : (int[]){N, C},
                               GG_INIT_ZEROS, 0);
        gg_node *a = gg_param(g, "a", 1, &na, GG_INIT_ZEROS, 0);
        gg_node *y = gg_prelu(g, xp, a);
        assert_int_equal(gg_graph_build(g, NULL), GG_OK);
        gg_test_fill(xp->out->x, len, 11, -1, 1);
        gg_test_fill(a->out->x, (size_t)na, 12, 0.1, 0.3);
        gg_real *dy = y->out->dx;
        gg_test_fill(dy, len, 13, -1, 1);
        memset(g->grad, 0, g->param_len * sizeof(gg_real));
        int keep = omp_get_max_threads();
        omp_set_num_threads(threads);
        gg_graph_forward(g);
        y->op->backward(y);
        omp_set_num_threads(keep);
        const gg_real *xv = xp->out->x, *av = a->out->x;
        double ey = 0, ny = 0, edx = 0, ndx = 0, *da = calloc((size_t)na, sizeof *da);
        for (size_t i = 0; i < len; i++) {
            size_t c = per_channel ? (i / (size_t)S) % (size_t)C : 0;
            double wy = xv[i] > 0 ? xv[i] : av[c] * xv[i];
            double wdx = xv[i] > 0 ? dy[i] : av[c] * dy[i];
            if (!(xv[i] > 0)) da[c] += (double)xv[i] * dy[i];
            ey += (y->out->x[i] - wy) * (y->out->x[i] - wy);
            ny += wy * wy;
            edx += (xp->out->dx[i] - wdx) * (xp->out->dx[i] - wdx);
            ndx += wdx * wdx;
        }
        double eda = 0, nda = 0;
        for (int c = 0; c < na; c++) {
            eda += (a->out->dx[c] - da[c]) * (a->out->dx[c] - da[c]);
            nda += da[c] * da[c];
        }
        ey = sqrt(ey / ny);
        edx = sqrt(edx / ndx);
        eda = sqrt(eda / nda);
        print_message("    prelu [%d, %d, %d] %s, %d threads: y %.1e dx %.1e da %.1e\n", N, C, S,
                      per_channel ? "per channel" : "shared", threads, ey, edx, eda);
        assert_true(ey <= RTOL && edx <= RTOL && eda <= 10 * RTOL);
        res[threads - 1] = malloc((2 * len + (size_t)na) * sizeof(gg_real));
        memcpy(res[threads - 1], y->out->x, len * sizeof(gg_real));
        memcpy(res[threads - 1] + len, xp->out->dx, len * sizeof(gg_real));
        memcpy(res[threads - 1] + 2 * len, a->out->dx, (size_t)na * sizeof(gg_real));
        free(da);
        gg_graph_free(g);
    }
    assert_memory_equal(res[0], res[1], (2 * len + (size_t)na) * sizeof(gg_real));
    free(res[0]);
    free(res[1]);
}

static void test_prelu_parallel_kernels_match_reference(void **s) {
    (void)s;
    prelu_parallel_case(64, 8, 100, 0);   /* shared, 51200 elements in 7 blocks */
    prelu_parallel_case(64, 8, 100, 1);   /* per channel, planes */
    prelu_parallel_case(300, 130, 1, 1);  /* per channel, [N, C] */
    prelu_parallel_case(5, 3, 7, 1);      /* small */
}

static void test_prelu_slope_shape_errors(void **s) {
    (void)s;
    int C = 4, bad = 3;
    gg_graph *g = gg_graph_new(2, 1);
    gg_node *x = gg_input(g, "x", 3, (int[]){C, 5, 5});
    gg_node *a = gg_param(g, "layers.5.weight", 1, &bad, GG_INIT_ZEROS, 0);
    a->layer = 5;
    assert_null(gg_prelu(g, x, a));
    gg_error err = {0};
    assert_int_equal(gg_graph_build(g, &err), GG_ERR_SHAPE);
    print_message("    %s\n", err.msg);
    const char *needles[] = {"layers.5 (prelu)", "layers.5.weight", "[3]", "[4, 5, 5]"};
    for (int i = 0; i < 4; i++) assert_non_null(strstr(err.msg, needles[i]));
    gg_graph_free(g);
    g = gg_graph_new(2, 1);
    x = gg_input(g, "x", 1, &C);
    a = gg_param(g, "a", 2, (int[]){1, 4}, GG_INIT_ZEROS, 0);
    assert_null(gg_prelu(g, x, a));
    assert_int_equal(gg_graph_build(g, &err), GG_ERR_SHAPE);
    print_message("    %s\n", err.msg);
    assert_non_null(strstr(err.msg, "[1, 4]"));
    gg_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prelu_shared_gradients),
        cmocka_unit_test(test_prelu_per_channel_gradients),
        cmocka_unit_test(test_prelu_values),
        cmocka_unit_test(test_prelu_parallel_kernels_match_reference),
        cmocka_unit_test(test_prelu_slope_shape_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
