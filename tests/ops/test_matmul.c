/* The linear op (src/ops/matmul.c) and the row-split product under it
 * (src/ops/gemm.c): finite-difference checks of dx, dW and db, and both
 * against naive loops: every transpose combination, split across threads,
 * padded leading dimensions, beta = 1 accumulating. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "ops/ops.h"
#include "support/fixtures.h"
#include "support/gradcheck.h"

#ifdef GG_FLOAT64
#define EPS 1e-14
#else
#define EPS 2e-6
#endif

/* A batched [n, c] node whose values are a parameter P [c, n]: a one-hot
 * input e [n, n] times P^T, so node[i][j] = P[j][i] exactly and a gradient
 * check of P checks the gradient reaching the node. */
static gg_node *batched_param(gg_graph *g, const char *name, int n, int c, gg_node **p,
                              gg_node **e) {
    *e = gg_input(g, "onehot", 1, &n);
    *p = gg_param(g, name, 2, (int[]){c, n}, GG_INIT_ZEROS, 0);
    return gg_linear(g, *e, *p, NULL);
}

static void set_onehot(gg_node *e, int n) {
    gg_real *x = gg_node_data(e);
    for (int i = 0; i < n * n; i++) x[i] = (i / n == i % n) ? 1 : 0;
}

/* ---- gradients ---------------------------------------------------------------- */

static void check_linear_gradients(int with_bias, uint64_t seed) {
    enum { N = 4, D = 6, U = 5 };
    gg_graph *g = gg_graph_new(N, seed);
    gg_node *xp, *e;
    gg_node *x = batched_param(g, "x", N, D, &xp, &e);
    gg_node *w = gg_param(g, "w", 2, (int[]){U, D}, GG_INIT_ZEROS, 0);
    gg_node *b = with_bias ? gg_param(g, "b", 1, (int[]){U}, GG_INIT_ZEROS, 0) : NULL;
    gg_node *t = gg_input(g, "t", 1, (int[]){U});
    gg_node *y = gg_linear(g, x, w, b);
    gg_node *loss = gg_mse_loss(g, y, t);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    set_onehot(e, N);
    gg_test_fill(gg_node_data(xp), gg_node_len(xp), seed, -1, 1);
    gg_test_fill(gg_node_data(w), gg_node_len(w), seed + 1, -1, 1);
    if (b) gg_test_fill(gg_node_data(b), gg_node_len(b), seed + 2, -1, 1);
    gg_test_fill(gg_node_data(t), gg_node_len(t), seed + 3, -2, 2);
    gg_gradcheck_result r;
    gg_gradcheck(g, loss, gg_gradcheck_step(), &r);
    assert_true(r.grad_norm > 1e-3);
    if (r.max_rel_err > gg_gradcheck_tol())
        fail_msg("relative error %g in %s", r.max_rel_err, r.worst);
    /* Every tensor gets a gradient that is not all zeros. */
    gg_node *ps[3] = {xp, w, b};
    for (int k = 0; k < (with_bias ? 3 : 2); k++) {
        double s = 0;
        for (size_t i = 0; i < gg_node_len(ps[k]); i++) s += fabs(gg_node_grad(ps[k])[i]);
        if (s < 1e-4) fail_msg("%s: gradient is all zeros", gg_node_name(ps[k]));
    }
    gg_graph_free(g);
}

static void test_linear_backward_matches_finite_differences_with_bias(void **s) {
    (void)s;
    check_linear_gradients(1, 21);
}

static void test_linear_backward_matches_finite_differences_without_bias(void **s) {
    (void)s;
    check_linear_gradients(0, 22);
}

/* ---- forward --------------------------------------------------------------- */

static void check_linear_forward(int max_batch, int batch, int with_bias) {
    enum { D = 37, U = 19 };
    gg_graph *g = gg_graph_new(max_batch, 3);
    gg_node *x = gg_input(g, "x", 1, (int[]){D});
    gg_node *w = gg_param(g, "w", 2, (int[]){U, D}, GG_INIT_TORCH_DEFAULT, 0);
    gg_node *b = with_bias ? gg_param(g, "b", 1, (int[]){U}, GG_INIT_UNIFORM, 1) : NULL;
    gg_node *y = gg_linear(g, x, w, b);
    assert_int_equal(gg_graph_build(g, NULL), GG_OK);
    assert_int_equal(gg_node_dim(y, 1), U);
    assert_int_equal(gg_graph_set_batch(g, batch, NULL), GG_OK);
    gg_test_fill(gg_node_data(x), gg_node_len(x), 8, -2, 2);
    gg_real *yd = gg_node_data(y);
    for (size_t i = 0; i < (size_t)max_batch * U; i++) yd[i] = 1e6; /* stale arena values */
    gg_graph_forward(g);
    assert_int_equal(gg_node_len(y), (size_t)batch * U);
    const gg_real *xd = gg_node_data(x), *wd = gg_node_data(w);
    for (int i = 0; i < batch; i++)
        for (int u = 0; u < U; u++) {
            double acc = b ? gg_node_data(b)[u] : 0, mag = fabs(acc);
            for (int d = 0; d < D; d++) {
                acc += (double)xd[i * D + d] * wd[u * D + d];
                mag += fabs((double)xd[i * D + d] * wd[u * D + d]);
            }
            double got = yd[i * U + u];
            if (fabs(got - acc) > 8 * EPS * mag + 1e-30)
                fail_msg("y[%d][%d] = %.9g, naive %.9g", i, u, got, acc);
        }
    gg_graph_free(g);
}

static void test_linear_forward_equals_naive_triple_loop(void **s) {
    (void)s;
    check_linear_forward(7, 7, 1);
    check_linear_forward(7, 7, 0);
    check_linear_forward(64, 64, 1); /* large enough to split across threads */
}

static void test_linear_forward_at_smaller_batch_equals_naive_triple_loop(void **s) {
    (void)s;
    check_linear_forward(9, 4, 1);
    check_linear_forward(9, 1, 0);
}

static void test_linear_rejects_mismatched_shapes_naming_the_node(void **s) {
    (void)s;
    gg_error err = {GG_OK, ""};
    /* Bias of the wrong length. */
    gg_graph *g = gg_graph_new(2, 0);
    gg_node *x = gg_input(g, "x", 1, (int[]){4});
    gg_node *w = gg_param(g, "w", 2, (int[]){3, 4}, GG_INIT_ZEROS, 0);
    gg_node *b = gg_param(g, "b", 1, (int[]){5}, GG_INIT_ZEROS, 0);
    assert_null(gg_linear(g, x, w, b));
    assert_int_equal(gg_graph_build(g, &err), GG_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "linear"));
    assert_non_null(strstr(err.msg, "bias has 5 elements, expected 3"));
    gg_graph_free(g);
    /* A non-flat input. */
    g = gg_graph_new(2, 0);
    x = gg_input(g, "x", 2, (int[]){4, 2});
    w = gg_param(g, "w", 2, (int[]){3, 8}, GG_INIT_ZEROS, 0);
    assert_null(gg_linear(g, x, w, NULL));
    assert_int_equal(gg_graph_build(g, &err), GG_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "[4, 2]"));
    gg_graph_free(g);
    /* Features that do not match the weight. */
    g = gg_graph_new(2, 0);
    x = gg_input(g, "x", 1, (int[]){4});
    w = gg_param(g, "w", 2, (int[]){3, 6}, GG_INIT_ZEROS, 0);
    assert_null(gg_linear(g, x, w, NULL));
    assert_int_equal(gg_graph_build(g, &err), GG_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "input has 4 features, weight expects 6"));
    gg_graph_free(g);
}

static int omp_threads_at_start, omp_levels_at_start;

/* Runs after each test, failed or not, so a test's OpenMP settings never leak. */
static int restore_omp(void **s) {
    (void)s;
    omp_set_max_active_levels(omp_levels_at_start);
    omp_set_num_threads(omp_threads_at_start);
    return 0;
}

/* ---- gg_matmul ------------------------------------------------------------- */

/* op(A) [M, K], op(B) [K, N]; leading dimensions padded by 3 to catch
 * code that assumes packed rows. C's padding columns must stay untouched. */
static void check_matmul(bool ta, bool tb, int M, int N, int K, double alpha, double beta,
                         uint64_t seed) {
    int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    int lda = ac + 3, ldb = bc + 3, ldc = N + 3;
    gg_real *A = malloc((size_t)ar * lda * sizeof *A);
    gg_real *B = malloc((size_t)br * ldb * sizeof *B);
    gg_real *C = malloc((size_t)M * ldc * sizeof *C);
    gg_test_fill(A, (size_t)ar * lda, seed, -1, 1);
    gg_test_fill(B, (size_t)br * ldb, seed + 1, -1, 1);
    gg_test_fill(C, (size_t)M * ldc, seed + 2, -1, 1);
    for (int i = 0; i < M; i++)
        for (int j = N; j < ldc; j++) C[(size_t)i * ldc + j] = 777; /* sentinel */
    gg_real *C0 = malloc((size_t)M * ldc * sizeof *C0);
    memcpy(C0, C, (size_t)M * ldc * sizeof *C0);
    gg_matmul(ta, tb, M, N, K, (gg_real)alpha, A, lda, B, ldb, (gg_real)beta, C, ldc);
    char bad[256] = ""; /* the first mismatch, reported after freeing */
    for (int i = 0; i < M && !bad[0]; i++) {
        for (int j = 0; j < N && !bad[0]; j++) {
            double acc = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                acc += a * b;
                mag += fabs(a * b);
            }
            double want = alpha * acc + (beta != 0 ? beta * C0[(size_t)i * ldc + j] : 0);
            mag = fabs(alpha) * mag + fabs(beta * C0[(size_t)i * ldc + j]);
            double got = C[(size_t)i * ldc + j];
            if (!(fabs(got - want) <= 8 * EPS * mag + 1e-30))
                snprintf(bad, sizeof bad,
                         "ta=%d tb=%d M=%d N=%d K=%d beta=%g: C[%d][%d] = %.9g, naive %.9g", ta, tb,
                         M, N, K, beta, i, j, got, want);
        }
        for (int j = N; j < ldc && !bad[0]; j++)
            if (C[(size_t)i * ldc + j] != 777)
                snprintf(bad, sizeof bad, "padding C[%d][%d] was written", i, j);
    }
    free(A);
    free(B);
    free(C);
    free(C0);
    if (bad[0]) fail_msg("%s", bad);
}

static void test_matmul_all_transposes_split_across_threads_equal_naive_product(void **s) {
    (void)s;
    omp_set_num_threads(2);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) check_matmul(ta, tb, 100, 64, 300, 1, 0, 10 + ta * 2 + tb);
}

static void test_matmul_with_beta_1_accumulates_into_c(void **s) {
    (void)s;
    omp_set_num_threads(2);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            check_matmul(ta, tb, 100, 64, 300, 1, 1, 20 + ta * 2 + tb);
            check_matmul(ta, tb, 100, 64, 300, -0.5, 1, 30 + ta * 2 + tb);
        }
}

static void test_matmul_small_and_odd_sizes_equal_naive_product(void **s) {
    (void)s;
    omp_set_num_threads(2);
    /* Below the split threshold, M not a multiple of 8, and M just above the
     * split minimum so the second thread gets a short block. */
    const int shapes[][3] = {{3, 5, 7}, {1, 1, 1}, {17, 33, 401}, {16, 100, 200}, {61, 7, 500}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                check_matmul(ta, tb, shapes[k][0], shapes[k][1], shapes[k][2], 1, 0, 40 + k);
                check_matmul(ta, tb, shapes[k][0], shapes[k][1], shapes[k][2], 2, 1, 50 + k);
            }
}

/* The pool may give a smaller team than omp_get_max_threads() promises
 * (OMP_DYNAMIC, OMP_THREAD_LIMIT, nesting limits): every row must still be
 * computed. max-active-levels 0 makes every region a team of one while
 * omp_get_max_threads() still says 2. */
static void test_matmul_computes_every_row_when_the_team_is_smaller_than_asked(void **s) {
    (void)s;
    omp_set_num_threads(2);
    omp_set_max_active_levels(0);
    int team = 0;
#pragma omp parallel
    {
#pragma omp single
        team = omp_get_num_threads();
    }
    assert_int_equal(team, 1);
    assert_int_equal(omp_get_max_threads(), 2);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) check_matmul(ta, tb, 100, 64, 300, 1, 0, 60 + ta * 2 + tb);
}

static void test_matmul_gives_the_same_result_on_one_and_two_threads(void **s) {
    (void)s;
    enum { M = 100, N = 64, K = 300 };
    gg_real *A = malloc((size_t)M * K * sizeof *A), *B = malloc((size_t)K * N * sizeof *B);
    gg_real *C1 = calloc((size_t)M * N, sizeof *C1), *C2 = calloc((size_t)M * N, sizeof *C2);
    gg_test_fill(A, (size_t)M * K, 1, -1, 1);
    gg_test_fill(B, (size_t)K * N, 2, -1, 1);
    omp_set_num_threads(1);
    gg_matmul(false, false, M, N, K, 1, A, K, B, N, 0, C1, N);
    omp_set_num_threads(2);
    gg_matmul(false, false, M, N, K, 1, A, K, B, N, 0, C2, N);
    int bad = -1;
    for (int i = 0; i < M * N && bad < 0; i++) {
        double mag = 0;
        for (int k = 0; k < K; k++) mag += fabs((double)A[(i / N) * K + k] * B[k * N + i % N]);
        if (!(fabs((double)C1[i] - C2[i]) <= 8 * EPS * mag)) bad = i;
    }
    double one = bad >= 0 ? C1[bad] : 0, two = bad >= 0 ? C2[bad] : 0;
    free(A);
    free(B);
    free(C1);
    free(C2);
    if (bad >= 0) fail_msg("C[%d]: %.9g on one thread, %.9g on two", bad, one, two);
}

int main(void) {
    omp_threads_at_start = omp_get_max_threads();
    omp_levels_at_start = omp_get_max_active_levels();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_backward_matches_finite_differences_with_bias),
        cmocka_unit_test(test_linear_backward_matches_finite_differences_without_bias),
        cmocka_unit_test(test_linear_forward_equals_naive_triple_loop),
        cmocka_unit_test(test_linear_forward_at_smaller_batch_equals_naive_triple_loop),
        cmocka_unit_test(test_linear_rejects_mismatched_shapes_naming_the_node),
        cmocka_unit_test_teardown(
            test_matmul_all_transposes_split_across_threads_equal_naive_product, restore_omp),
        cmocka_unit_test_teardown(test_matmul_with_beta_1_accumulates_into_c, restore_omp),
        cmocka_unit_test_teardown(test_matmul_small_and_odd_sizes_equal_naive_product,
                                  restore_omp),
        cmocka_unit_test_teardown(
            test_matmul_computes_every_row_when_the_team_is_smaller_than_asked, restore_omp),
        cmocka_unit_test_teardown(test_matmul_gives_the_same_result_on_one_and_two_threads,
                                  restore_omp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
